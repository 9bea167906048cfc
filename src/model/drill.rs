//! Answers of the agent drill-down endpoints (`GET /v1/agents/{agent}/…`):
//! the operational questions of a page, computed by the hub from bounded
//! per-agent samples.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::agent::Agent;
use super::envelope::{Component, Outcome, Risk, Versions};

/// Runs, outcomes and latency percentiles over one window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowStats {
    /// `hour`, `day` or `week`.
    pub window: String,
    /// Start of the oldest bucket counted.
    pub since: DateTime<Utc>,
    /// Finished runs.
    pub runs: u64,
    /// Runs that ended `success`.
    pub success: u64,
    /// Runs that ended `escalated`.
    pub escalated: u64,
    /// Runs that ended `failed` or `timed_out`.
    pub failed: u64,
    /// `success / runs`; none without runs.
    pub success_ratio: Option<f64>,
    /// Median latency, ms (±1 %).
    pub p50_ms: Option<f64>,
    /// 95th percentile latency, ms (±1 %).
    pub p95_ms: Option<f64>,
    /// 99th percentile latency, ms (±1 %).
    pub p99_ms: Option<f64>,
}

/// Cost per run today (UTC, up to the current hour) against the same
/// hours of the same weekday a week ago.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CostComparison {
    /// Runs today.
    pub today_runs: u64,
    /// Cost of today's runs, USD.
    pub today_cost_usd: f64,
    /// `today_cost_usd / today_runs`.
    pub today_per_run_usd: Option<f64>,
    /// Runs in the same hours a week ago.
    pub last_week_runs: u64,
    /// Their cost, USD.
    pub last_week_cost_usd: f64,
    /// `last_week_cost_usd / last_week_runs`.
    pub last_week_per_run_usd: Option<f64>,
    /// `today_per_run_usd / last_week_per_run_usd`; none when either is.
    pub ratio: Option<f64>,
}

/// `GET /v1/agents/{agent}/performance`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Performance {
    /// The agent.
    pub agent: String,
    /// When computed.
    pub at: DateTime<Utc>,
    /// The last hour, day and week, in that order.
    pub windows: Vec<WindowStats>,
    /// Cost per run today against a week ago.
    pub cost: CostComparison,
}

/// The tool call that took the largest share of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dominant {
    /// The tool.
    pub tool: String,
    /// Its latency, ms.
    pub latency_ms: u64,
    /// Its share of the run's latency, 0 to 1.
    pub share: f64,
}

/// One run kept as a sample.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunSample {
    /// The run.
    pub run_id: String,
    /// Its workflow.
    pub workflow: String,
    /// When it finished.
    pub ts: DateTime<Utc>,
    /// How it ended.
    pub outcome: Outcome,
    /// Latency, ms.
    pub latency_ms: u64,
    /// Cost, USD.
    pub cost_usd: f64,
    /// The slowest tool call, when the run reported tool latencies.
    pub dominant: Option<Dominant>,
}

/// `GET /v1/agents/{agent}/runs/slowest` and `/runs/costliest`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TopRuns {
    /// The agent.
    pub agent: String,
    /// `latency` or `cost`.
    pub by: String,
    /// Start of the oldest hour bucket searched.
    pub since: DateTime<Utc>,
    /// At most 20 runs, largest first.
    pub runs: Vec<RunSample>,
}

/// A failed, timed-out or escalated run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FailedRun {
    /// The run.
    pub run_id: String,
    /// Its workflow.
    pub workflow: String,
    /// When it finished.
    pub ts: DateTime<Utc>,
    /// `failed`, `timed_out` or `escalated`.
    pub outcome: Outcome,
    /// Latency, ms.
    pub latency_ms: u64,
    /// The run's error (at most 512 bytes).
    pub error: Option<String>,
    /// The first failing tool call, else the slowest.
    pub tool: Option<String>,
    /// Versions the run used.
    pub versions: Versions,
}

/// `GET /v1/agents/{agent}/runs/failed`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FailedRuns {
    /// The agent.
    pub agent: String,
    /// The last 50, newest first.
    pub runs: Vec<FailedRun>,
}

/// Calls and errors of one tool over a window.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallRate {
    /// Calls.
    pub calls: u64,
    /// Calls that failed.
    pub errors: u64,
    /// `errors / calls`; none without calls.
    pub error_rate: Option<f64>,
}

/// One tool of an agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolRate {
    /// The tool.
    pub tool: String,
    /// The last hour.
    pub hour: CallRate,
    /// The last day.
    pub day: CallRate,
    /// The latest error message (at most 512 bytes).
    pub last_error: Option<String>,
}

/// `GET /v1/agents/{agent}/tools`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolRates {
    /// The agent.
    pub agent: String,
    /// Every tool, worst error rate over the day first.
    pub tools: Vec<ToolRate>,
}

/// Approval figures for one action class (the request's `action`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovalClass {
    /// The action, e.g. `issue_refund`.
    pub action: String,
    /// Highest risk requested for it.
    pub risk: Risk,
    /// Requests in the last 7 days.
    pub requests: u64,
    /// Still pending or escalated.
    pub open: u64,
    /// Approved.
    pub approved: u64,
    /// Rejected.
    pub rejected: u64,
    /// Expired undecided (fail closed).
    pub expired: u64,
    /// Median time from request to final decision, seconds.
    pub latency_p50_s: Option<f64>,
    /// 95th percentile of the same, seconds.
    pub latency_p95_s: Option<f64>,
    /// `expired / (approved + rejected + expired)`.
    pub timeout_rate: Option<f64>,
    /// `rejected / (approved + rejected)`.
    pub rejection_rate: Option<f64>,
    /// Decision callbacks delivered.
    pub callbacks_delivered: u64,
    /// Decision callbacks that failed after every retry.
    pub callbacks_failed: u64,
    /// `delivered / (delivered + failed)`.
    pub callback_success_rate: Option<f64>,
}

/// `GET /v1/agents/{agent}/approvals`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovalMetrics {
    /// The agent.
    pub agent: String,
    /// Start of the period: 7 days before `at`.
    pub since: DateTime<Utc>,
    /// One entry per action, most requested first.
    pub classes: Vec<ApprovalClass>,
}

/// Runs and successes on one side of a change.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RatioWindow {
    /// Runs.
    pub runs: u64,
    /// Runs that ended `success`.
    pub success: u64,
    /// `success / runs`.
    pub success_ratio: Option<f64>,
}

/// A deployed change and the agent's success ratio around it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangeImpact {
    /// When the new version was first seen.
    pub at: DateTime<Utc>,
    /// What changed.
    pub component: Component,
    /// The version before, if known.
    pub from: Option<String>,
    /// The version after.
    pub to: String,
    /// Who deployed it.
    pub deployed_by: Option<String>,
    /// Who approved it.
    pub approved_by: Option<String>,
    /// The hour before the change (none once older than 8 days).
    pub before: Option<RatioWindow>,
    /// The hour after it, up to now.
    pub after: Option<RatioWindow>,
}

/// `GET /v1/agents/{agent}/changes`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Changes {
    /// The agent.
    pub agent: String,
    /// Newest first.
    pub changes: Vec<ChangeImpact>,
}

/// `GET /v1/agents/{agent}/detail`: the agent and every drill-down answer
/// in one response, for the TUI's agent screen.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentDetail {
    /// The agent with its registration and findings.
    pub agent: Agent,
    /// Latency, success and cost.
    pub performance: Performance,
    /// Slowest runs of the last 24 h.
    pub slowest: TopRuns,
    /// Costliest runs of the last 24 h.
    pub costliest: TopRuns,
    /// Last failed and escalated runs.
    pub failed: FailedRuns,
    /// Tool error rates.
    pub tools: ToolRates,
    /// Approval metrics per action.
    pub approvals: ApprovalMetrics,
    /// Recent changes and their effect.
    pub changes: Changes,
}
