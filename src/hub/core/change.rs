//! What one request or tick changes, before it is committed: the rows to
//! write, the audit entries chained from the current head, and the
//! callbacks to send once stored.

use chrono::{DateTime, Utc};

use crate::model::approval::{Approval, ApprovalState};
use crate::model::control::Control;
use crate::model::incident::Incident;
use crate::model::role::Role;

use super::super::audit::next_entry;
use super::super::store::Batch;

/// A callback to deliver to an agent once its change is committed.
#[derive(Debug, Clone, PartialEq)]
pub struct CallbackJob {
    /// The agent.
    pub agent: String,
    /// Where.
    pub url: String,
    /// HMAC key, hex.
    pub secret: String,
    /// What happened, e.g. `approval.decided`.
    pub kind: &'static str,
    /// The subject id.
    pub subject: String,
    /// The JSON body.
    pub body: String,
}

/// What one request or tick changes, before it is committed.
#[derive(Debug)]
pub struct Change {
    /// The rows to write.
    pub batch: Batch,
    pub(super) head: (u64, String),
    pub(super) callbacks: Vec<CallbackJob>,
}

impl Change {
    /// Appends an audit entry to the pending chain.
    #[allow(clippy::too_many_arguments)]
    pub fn audit(
        &mut self,
        at: DateTime<Utc>,
        actor: &str,
        role: Option<Role>,
        action: &str,
        subject: &str,
        details: serde_json::Value,
    ) {
        let entry = next_entry(&self.head, at, actor, role, action, subject, details);
        self.head = (entry.seq, entry.hash.clone());
        self.batch.audit.push(entry);
    }

    /// Records an incident's new state.
    pub fn incident(&mut self, incident: Incident) {
        self.batch.incidents.retain(|i| i.id != incident.id);
        self.batch.incidents.push(incident);
    }

    /// Records an approval's new state.
    pub fn approval(&mut self, approval: Approval) {
        self.batch.approvals.retain(|a| a.id != approval.id);
        self.batch.approvals.push(approval);
    }

    /// Records a control's new state.
    pub fn control(&mut self, control: Control) {
        self.batch.controls.retain(|c| c.id != control.id);
        self.batch.controls.push(control);
    }

    /// Queues a callback, sent only if the change commits.
    pub fn callback(&mut self, job: CallbackJob) {
        self.callbacks.push(job);
    }

    /// True when nothing would be written.
    pub fn is_empty(&self) -> bool {
        self.batch.is_empty()
    }
}

/// The body of an approval callback.
pub fn approval_callback(a: &Approval) -> serde_json::Value {
    serde_json::json!({
        "type": "approval.decided",
        "approval": a.id,
        "request_id": a.request_id,
        "state": a.state,
        "approved": a.state == ApprovalState::Approved,
        "args": a.effective_args(),
        "reason": a.decisions.last().and_then(|d| d.reason.clone()),
    })
}
