//! The event envelope: every line an agent sends to `POST /v1/events`.
//!
//! ```json
//! {"v":1,"type":"heartbeat","ts":"2026-11-21T14:00:00Z","agent":"refund-bot"}
//! ```
//!
//! Decoding goes through [`super::raw`], which checks every field, into the
//! borrowed [`EnvelopeRef`] and from there, when an owned copy is wanted,
//! into [`Envelope`]; encoding writes the same flat shape.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::incident::{Category, Severity};

/// The protocol version this crate speaks.
pub const PROTOCOL_VERSION: u64 = 1;

/// Workflow name used when an event names none.
pub const DEFAULT_WORKFLOW: &str = "default";

/// One event from one agent, with the fields every event shares.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Envelope {
    /// Protocol version; always [`PROTOCOL_VERSION`].
    pub v: u64,
    /// When the event happened, as the agent saw it.
    pub ts: DateTime<Utc>,
    /// The agent that sent it.
    pub agent: String,
    /// Optional sender-chosen event id: the hub drops a repeat of a recent
    /// `(agent, id)`, so a retried batch is counted once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// What happened.
    #[serde(flatten)]
    pub event: Event,
}

impl Envelope {
    /// Builds a v1 envelope.
    pub fn new(ts: DateTime<Utc>, agent: impl Into<String>, event: Event) -> Self {
        Self {
            v: PROTOCOL_VERSION,
            ts,
            agent: agent.into(),
            id: None,
            event,
        }
    }

    /// Encodes the envelope as one JSON line (without the newline).
    pub fn to_line(&self) -> String {
        // Serializing plain data with string keys cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// The event types of protocol v1, tagged by the envelope's `type` field.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type")]
pub enum Event {
    /// `run.finished`: one agent run ended.
    #[serde(rename = "run.finished")]
    RunFinished(RunFinished),
    /// `tool.called`: one tool call, reported on its own.
    #[serde(rename = "tool.called")]
    ToolCalled(ToolCallEvent),
    /// `escalation`: a run handed over to a human.
    #[serde(rename = "escalation")]
    Escalation(Escalation),
    /// `approval.requested`: the agent waits for a human decision.
    #[serde(rename = "approval.requested")]
    ApprovalRequested(ApprovalRequest),
    /// `incident.reported`: the agent reports an incident itself.
    #[serde(rename = "incident.reported")]
    IncidentReported(IncidentReport),
    /// `change`: a model, prompt, tool or policy version was deployed.
    #[serde(rename = "change")]
    Change(Change),
    /// `heartbeat`: the agent is alive.
    #[serde(rename = "heartbeat")]
    Heartbeat(Heartbeat),
}

impl Event {
    /// The wire name of the event type.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::RunFinished(_) => "run.finished",
            Self::ToolCalled(_) => "tool.called",
            Self::Escalation(_) => "escalation",
            Self::ApprovalRequested(_) => "approval.requested",
            Self::IncidentReported(_) => "incident.reported",
            Self::Change(_) => "change",
            Self::Heartbeat(_) => "heartbeat",
        }
    }
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Done, as intended.
    Success,
    /// Handed to a human: a safe outcome for completion SLOs.
    Escalated,
    /// Ended in error.
    Failed,
    /// Gave up after its time limit.
    TimedOut,
}

impl Outcome {
    /// Parses the wire name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "success" => Self::Success,
            "escalated" => Self::Escalated,
            "failed" => Self::Failed,
            "timed_out" => Self::TimedOut,
            _ => return None,
        })
    }

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Escalated => "escalated",
            Self::Failed => "failed",
            Self::TimedOut => "timed_out",
        }
    }
}

/// A finished run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunFinished {
    /// The run's id, unique per agent.
    pub run_id: String,
    /// The workflow the run belongs to.
    pub workflow: String,
    /// How it ended.
    pub outcome: Outcome,
    /// Wall time from start to end, in milliseconds.
    pub latency_ms: u64,
    /// What the run cost, in US dollars.
    pub cost_usd: f64,
    /// Tokens used, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tokens: Option<Tokens>,
    /// Tool calls made during the run, in order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    /// Policy violations detected during the run.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub policy_violations: Vec<PolicyViolation>,
    /// Versions the run used.
    #[serde(skip_serializing_if = "Versions::is_empty")]
    pub versions: Versions,
    /// Error message of a failed run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// A model the run called whose price is not known (set by the hub's
    /// OpenTelemetry mapping): `cost_usd` leaves its calls out, so the
    /// cost SLO does not judge the run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unpriced_model: Option<String>,
}

/// Token counts of a run or model call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tokens {
    /// Prompt (input) tokens.
    pub input: u64,
    /// Completion (output) tokens.
    pub output: u64,
}

/// Whether a tool call worked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ToolStatus {
    /// The tool answered.
    Ok,
    /// The tool failed.
    Error,
}

/// One tool call within a run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ToolCall {
    /// The tool's name.
    pub tool: String,
    /// Whether it worked.
    pub status: ToolStatus,
    /// How long it took, in milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<u64>,
    /// The error, when it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One policy violation within a run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PolicyViolation {
    /// The policy that was violated.
    pub policy: String,
    /// What happened.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// Versions of what a run used. Every field is optional.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Versions {
    /// Model, e.g. `gpt-4o-2024-08-06`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Prompt version, e.g. `v7`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    /// Tool-set version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool: Option<String>,
    /// Policy version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
}

impl Versions {
    /// True when no version is set.
    pub fn is_empty(&self) -> bool {
        self.model.is_none()
            && self.prompt.is_none()
            && self.tool.is_none()
            && self.policy.is_none()
    }

    /// The version of one component.
    pub fn get(&self, component: Component) -> Option<&str> {
        match component {
            Component::Model => self.model.as_deref(),
            Component::Prompt => self.prompt.as_deref(),
            Component::Tool => self.tool.as_deref(),
            Component::Policy => self.policy.as_deref(),
        }
    }
}

/// A tool call reported as its own event (for tools used outside runs, or
/// by agents that stream calls as they happen).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ToolCallEvent {
    /// The run it belongs to, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    /// The workflow.
    pub workflow: String,
    /// The tool's name.
    pub tool: String,
    /// Whether it worked.
    pub status: ToolStatus,
    /// How long it took, in milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<u64>,
    /// The error, when it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A run handed over to a human.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Escalation {
    /// The run, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    /// The workflow.
    pub workflow: String,
    /// Why the agent escalated.
    pub reason: String,
    /// The queue or team it went to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
}

/// Risk level of an action awaiting approval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Risk {
    /// Easily undone, small blast radius.
    Low,
    /// Undoable with effort.
    Medium,
    /// Money, customer data or production affected.
    High,
    /// Irreversible or fleet-wide.
    Critical,
}

impl Risk {
    /// Parses the wire name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "low" => Self::Low,
            "medium" => Self::Medium,
            "high" => Self::High,
            "critical" => Self::Critical,
            _ => return None,
        })
    }
}

/// An agent asks a human to decide before it acts.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ApprovalRequest {
    /// The agent's own id for the request, unique per agent.
    pub request_id: String,
    /// The run waiting on the decision.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    /// The workflow.
    pub workflow: String,
    /// What the agent wants to do, e.g. `issue_refund`.
    pub action: String,
    /// The tool it would call.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool: Option<String>,
    /// The tool arguments, a JSON object.
    pub args: serde_json::Value,
    /// How risky the action is.
    pub risk: Risk,
    /// When the request expires (fail closed: rejected).
    pub deadline: DateTime<Utc>,
    /// When an undecided request is escalated to leads.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub escalate_at: Option<DateTime<Utc>>,
    /// The agent's stated reason.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Context for the approver (customer, order, conversation excerpt).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    /// Structured reasons the approver may pick when rejecting.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub reject_options: Vec<String>,
}

/// An incident the agent reports about itself.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IncidentReport {
    /// One-line title.
    pub title: String,
    /// Severity the agent assigns.
    pub severity: Severity,
    /// Category.
    pub category: Category,
    /// What happened.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The run involved, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
}

/// A deployable component of an agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Component {
    /// The model.
    Model,
    /// The prompt.
    Prompt,
    /// The tool set.
    Tool,
    /// The policy.
    Policy,
}

impl Component {
    /// Every component, in display order.
    pub const ALL: [Component; 4] = [Self::Model, Self::Prompt, Self::Tool, Self::Policy];

    /// Parses the wire name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "model" => Self::Model,
            "prompt" => Self::Prompt,
            "tool" => Self::Tool,
            "policy" => Self::Policy,
            _ => return None,
        })
    }

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Model => "model",
            Self::Prompt => "prompt",
            Self::Tool => "tool",
            Self::Policy => "policy",
        }
    }
}

/// A new version of a component was deployed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    /// What changed.
    pub component: Component,
    /// The version now deployed.
    pub version: String,
    /// The version it replaced.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous: Option<String>,
    /// Who deployed it.
    pub deployed_by: String,
    /// Who approved the deployment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approved_by: Option<String>,
    /// Free-text note, e.g. a change ticket.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Self-reported health in a heartbeat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HealthStatus {
    /// Working normally.
    Ok,
    /// Working, with trouble.
    Degraded,
}

/// The agent is alive.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Heartbeat {
    /// Self-reported health.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<HealthStatus>,
    /// Seconds until the next heartbeat; silence past twice this is stale.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interval_s: Option<u32>,
}
