//! Operations the operator confirms in a dialog, and the typed hub call
//! each one becomes.

use crate::client::hub::Call;
use crate::model::action::{
    AssignRequest, ControlRequest, DecisionRequest, EscalateRequest, NoteRequest, ResolveRequest,
};
use crate::model::approval::Verdict;
use crate::model::incident::Severity;
use crate::runbook::StepRequest;

/// An operator action waiting to be sent.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// Approve an approval.
    Approve(String),
    /// Reject with a reason.
    Reject(String, String),
    /// Acknowledge an incident.
    Ack(String),
    /// Assign an incident to someone.
    Assign(String, String),
    /// Raise an incident's severity.
    Escalate(String, Severity),
    /// Note on an incident.
    Note(String, String),
    /// Resolve with a summary, suppressing a reopen for so many seconds.
    Resolve(String, String, Option<u64>),
    /// Snooze for so many seconds (0 ends the snooze).
    Snooze(String, u64),
    /// Apply a control.
    Control(ControlRequest),
    /// Lift a control.
    Lift(String),
    /// Run (or tick) a runbook step on an incident.
    RunStep(String, u32),
    /// Leave a handoff note.
    HandoffNote(String),
    /// Open an incident by hand.
    OpenIncident(crate::model::action::OpenIncidentRequest),
}

impl Op {
    /// The typed request that carries it to the hub.
    pub fn call(&self) -> Call {
        match self {
            Self::Approve(id) => Call::Decide(
                id.clone(),
                DecisionRequest {
                    decision: Verdict::Approve,
                    reason: None,
                    modified_args: None,
                },
            ),
            Self::Reject(id, why) => Call::Decide(
                id.clone(),
                DecisionRequest {
                    decision: Verdict::Reject,
                    reason: Some(why.clone()),
                    modified_args: None,
                },
            ),
            Self::Ack(id) => Call::Ack(id.clone()),
            Self::Assign(id, owner) => Call::Assign(
                id.clone(),
                AssignRequest {
                    owner: owner.clone(),
                },
            ),
            Self::Escalate(id, severity) => Call::Escalate(
                id.clone(),
                EscalateRequest {
                    severity: *severity,
                },
            ),
            Self::Note(id, text) => Call::Note(id.clone(), NoteRequest { text: text.clone() }),
            Self::Resolve(id, summary, suppress_reopen_s) => Call::Resolve(
                id.clone(),
                ResolveRequest {
                    summary: summary.clone(),
                    suppress_reopen_s: *suppress_reopen_s,
                },
            ),
            Self::Snooze(id, for_s) => Call::Snooze(
                id.clone(),
                crate::model::action::SnoozeRequest {
                    for_s: *for_s,
                    reason: None,
                },
            ),
            Self::Control(request) => Call::Control(request.clone()),
            Self::Lift(id) => Call::Lift(id.clone()),
            Self::RunStep(id, step) => Call::RunStep(id.clone(), StepRequest { step: *step }),
            Self::HandoffNote(text) => {
                Call::HandoffNote(crate::handoff::NoteRequest { text: text.clone() })
            }
            Self::OpenIncident(request) => Call::OpenIncident(request.clone()),
        }
    }

    /// What to do once the hub has done it: the handoff summary is fetched
    /// again after a note, so the note shows in it at once.
    pub fn after(&self) -> Vec<crate::tui::app::Effect> {
        match self {
            Self::HandoffNote(_) => vec![crate::tui::app::Effect::FetchHandoff],
            _ => Vec::new(),
        }
    }

    /// A short description for the pending list and messages.
    pub fn label(&self) -> String {
        match self {
            Self::Approve(id) => format!("approve {id}"),
            Self::Reject(id, _) => format!("reject {id}"),
            Self::Ack(id) => format!("acknowledge {id}"),
            Self::Assign(id, who) => format!("assign {id} to {who}"),
            Self::Escalate(id, s) => format!("escalate {id} to {}", s.as_str()),
            Self::Note(id, _) => format!("note on {id}"),
            Self::Resolve(id, _, None) => format!("resolve {id}"),
            Self::Resolve(id, _, Some(s)) => {
                format!("resolve {id} (no new incident for {})", span(*s))
            }
            Self::Snooze(id, 0) => format!("end the snooze of {id}"),
            Self::Snooze(id, s) => format!("snooze {id} for {}", span(*s)),
            Self::Control(c) => {
                let target = c
                    .tool
                    .as_deref()
                    .or(c.version.as_deref())
                    .map(|t| format!(" {t}"))
                    .unwrap_or_default();
                format!("{}{target} on {}", c.kind.as_str(), c.agent)
            }
            Self::Lift(id) => format!("lift {id}"),
            Self::RunStep(id, n) => format!("step {n} on {id}"),
            Self::HandoffNote(_) => "handoff note".to_string(),
            Self::OpenIncident(r) => format!(
                "open a {} incident{}",
                r.severity.as_str(),
                r.agent
                    .as_deref()
                    .map(|a| format!(" on {a}"))
                    .unwrap_or_default()
            ),
        }
    }
}

/// Seconds as an operator says them: `1h`, `4h`, `90m`.
pub fn span(secs: u64) -> String {
    match secs {
        s if s % 3_600 == 0 => format!("{}h", s / 3_600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}
