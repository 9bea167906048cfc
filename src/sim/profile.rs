//! The simulated fleet: agents drawn from real operations, each with its
//! workflow, tools, model and prices.

/// One tool an agent calls.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolSpec {
    /// The tool's name.
    pub name: &'static str,
    /// Share of runs that call it.
    pub used_by: f64,
    /// Base error rate.
    pub error_rate: f64,
    /// Median latency, ms.
    pub latency_ms: f64,
}

/// A risky action the agent asks a human about first.
#[derive(Debug, Clone, PartialEq)]
pub struct ApprovalSpec {
    /// What it wants to do.
    pub action: &'static str,
    /// The tool it would call.
    pub tool: &'static str,
    /// Risk level name.
    pub risk: crate::model::envelope::Risk,
    /// Share of runs that need it.
    pub share: f64,
    /// Seconds the agent waits before the request expires.
    pub deadline_s: i64,
    /// Why it asks, shown to the approver.
    pub reason: &'static str,
}

/// One simulated agent.
#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    /// Agent id.
    pub id: &'static str,
    /// Workflow.
    pub workflow: &'static str,
    /// Tools, in call order.
    pub tools: Vec<ToolSpec>,
    /// Model.
    pub model: &'static str,
    /// Dollars per 1,000 input tokens.
    pub price_in: f64,
    /// Dollars per 1,000 output tokens.
    pub price_out: f64,
    /// Median input tokens per run.
    pub tokens_in: f64,
    /// Median output tokens per run.
    pub tokens_out: f64,
    /// Prompt version deployed at start.
    pub prompt: &'static str,
    /// Median run latency, ms.
    pub latency_ms: f64,
    /// Log-normal shape of the latency.
    pub latency_sigma: f64,
    /// Base share of runs escalated to a human.
    pub escalation_rate: f64,
    /// Base share of runs that fail on their own.
    pub failure_rate: f64,
    /// Base share of runs with a policy violation.
    pub violation_rate: f64,
    /// The policy a violation breaks.
    pub policy: &'static str,
    /// Risky action needing approval.
    pub approval: Option<ApprovalSpec>,
}

fn tool(name: &'static str, used_by: f64, error_rate: f64, latency_ms: f64) -> ToolSpec {
    ToolSpec {
        name,
        used_by,
        error_rate,
        latency_ms,
    }
}

/// The built-in fleet, in order; `--agents N` takes the first N (cycling
/// with numbered copies beyond five).
pub fn fleet() -> Vec<Profile> {
    use crate::model::envelope::Risk;
    vec![
        Profile {
            id: "refund-bot",
            workflow: "refund",
            tools: vec![
                tool("lookup_order", 1.0, 0.002, 120.0),
                tool("issue_refund", 0.6, 0.003, 400.0),
            ],
            model: "gpt-4o-2024-08-06",
            price_in: 0.0025,
            price_out: 0.01,
            tokens_in: 1800.0,
            tokens_out: 250.0,
            prompt: "refund-v7",
            latency_ms: 1800.0,
            latency_sigma: 0.45,
            escalation_rate: 0.04,
            failure_rate: 0.008,
            violation_rate: 0.0003,
            policy: "refund-limit",
            approval: Some(ApprovalSpec {
                action: "issue_refund",
                tool: "issue_refund",
                risk: Risk::High,
                share: 0.03,
                deadline_s: 300,
                reason: "refund above the $200 autonomous limit",
            }),
        },
        Profile {
            id: "triage-bot",
            workflow: "support-triage",
            tools: vec![
                tool("search_kb", 0.9, 0.002, 200.0),
                tool("classify_ticket", 1.0, 0.001, 80.0),
                tool("reply_customer", 0.7, 0.002, 150.0),
            ],
            model: "claude-3-5-sonnet-20241022",
            price_in: 0.003,
            price_out: 0.015,
            tokens_in: 2400.0,
            tokens_out: 400.0,
            prompt: "triage-v12",
            latency_ms: 2600.0,
            latency_sigma: 0.5,
            escalation_rate: 0.05,
            failure_rate: 0.005,
            violation_rate: 0.0002,
            policy: "pii-in-reply",
            approval: None,
        },
        Profile {
            id: "invoice-matcher",
            workflow: "invoice-match",
            tools: vec![
                tool("fetch_invoice", 1.0, 0.002, 150.0),
                tool("match_po", 1.0, 0.001, 90.0),
                tool("post_ledger", 0.8, 0.002, 300.0),
            ],
            model: "gpt-4o-mini-2024-07-18",
            price_in: 0.00015,
            price_out: 0.0006,
            tokens_in: 3200.0,
            tokens_out: 300.0,
            prompt: "invoice-v3",
            latency_ms: 1200.0,
            latency_sigma: 0.4,
            escalation_rate: 0.03,
            failure_rate: 0.006,
            violation_rate: 0.0001,
            policy: "ledger-double-post",
            approval: None,
        },
        Profile {
            id: "remediation-bot",
            workflow: "auto-remediate",
            tools: vec![
                tool("query_metrics", 1.0, 0.002, 250.0),
                tool("restart_service", 0.3, 0.01, 2500.0),
                tool("rollback_deploy", 0.15, 0.01, 6000.0),
            ],
            model: "gpt-4o-2024-08-06",
            price_in: 0.0025,
            price_out: 0.01,
            tokens_in: 2000.0,
            tokens_out: 350.0,
            prompt: "remediate-v5",
            latency_ms: 3200.0,
            latency_sigma: 0.45,
            escalation_rate: 0.06,
            failure_rate: 0.008,
            violation_rate: 0.0002,
            policy: "prod-change-window",
            approval: Some(ApprovalSpec {
                action: "rollback_deploy",
                tool: "rollback_deploy",
                risk: Risk::Critical,
                share: 0.2,
                deadline_s: 240,
                reason: "production rollback outside the change window",
            }),
        },
        Profile {
            id: "campaign-bot",
            workflow: "campaign",
            tools: vec![
                tool("segment_audience", 1.0, 0.001, 400.0),
                tool("draft_email", 1.0, 0.001, 200.0),
                tool("send_email", 0.5, 0.002, 900.0),
            ],
            model: "gpt-4o-mini-2024-07-18",
            price_in: 0.00015,
            price_out: 0.0006,
            tokens_in: 1500.0,
            tokens_out: 900.0,
            prompt: "campaign-v2",
            latency_ms: 2200.0,
            latency_sigma: 0.4,
            escalation_rate: 0.02,
            failure_rate: 0.004,
            violation_rate: 0.0002,
            policy: "consent-required",
            approval: Some(ApprovalSpec {
                action: "send_mass_email",
                tool: "send_email",
                risk: Risk::Medium,
                share: 0.01,
                deadline_s: 600,
                reason: "mass email to more than 10,000 recipients",
            }),
        },
    ]
}
