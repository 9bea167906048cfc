//! Approvals: agents waiting for a human decision.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::envelope::Risk;
use super::role::Role;

/// Where an approval's life is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalState {
    /// Waiting for a decision.
    Pending,
    /// Undecided past its escalation time; flagged for leads, still decidable.
    Escalated,
    /// Approved: the agent may act.
    Approved,
    /// Rejected: the agent must not act.
    Rejected,
    /// Undecided past its deadline: treated as rejected (fail closed).
    Expired,
}

impl ApprovalState {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Escalated => "escalated",
            Self::Approved => "approved",
            Self::Rejected => "rejected",
            Self::Expired => "expired",
        }
    }

    /// True while a decision can still be made.
    pub fn is_open(self) -> bool {
        matches!(self, Self::Pending | Self::Escalated)
    }
}

/// What an approver decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Go ahead.
    Approve,
    /// Do not.
    Reject,
}

/// One approver's decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Decision {
    /// The operator's name.
    pub by: String,
    /// Their role.
    pub role: Role,
    /// What they decided.
    pub verdict: Verdict,
    /// Why (required to reject).
    #[serde(default)]
    pub reason: Option<String>,
    /// Arguments the agent receives instead of its own.
    #[serde(default)]
    pub modified_args: Option<serde_json::Value>,
    /// When.
    pub at: DateTime<Utc>,
}

/// An approval request as every operator sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Approval {
    /// `APR-<n>`.
    pub id: String,
    /// The agent asking.
    pub agent: String,
    /// The agent's own request id.
    pub request_id: String,
    /// The run waiting.
    #[serde(default)]
    pub run_id: Option<String>,
    /// The workflow.
    pub workflow: String,
    /// What the agent wants to do.
    pub action: String,
    /// The tool it would call.
    #[serde(default)]
    pub tool: Option<String>,
    /// The tool arguments.
    pub args: serde_json::Value,
    /// How risky.
    pub risk: Risk,
    /// The agent's stated reason.
    #[serde(default)]
    pub reason: Option<String>,
    /// Context for the approver.
    #[serde(default)]
    pub context: Option<String>,
    /// Structured reasons offered for rejecting.
    #[serde(default)]
    pub reject_options: Vec<String>,
    /// When it was asked.
    pub requested_at: DateTime<Utc>,
    /// When it expires as rejected.
    pub deadline: DateTime<Utc>,
    /// When it is escalated if still undecided.
    #[serde(default)]
    pub escalate_at: Option<DateTime<Utc>>,
    /// Current state.
    pub state: ApprovalState,
    /// Distinct approvals needed (2 for high and critical risk under a
    /// two-person policy).
    pub approvals_required: u8,
    /// Decisions so far, oldest first.
    #[serde(default)]
    pub decisions: Vec<Decision>,
    /// When it reached a final state.
    #[serde(default)]
    pub closed_at: Option<DateTime<Utc>>,
}
