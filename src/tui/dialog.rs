//! Dialogs: confirmations, menus, text entry, help and the command line.
//! While one is open, keys go to it first.

use ratatui_textarea::TextArea;

use crate::client::hub::Call;
use crate::model::action::{
    AssignRequest, ControlRequest, DecisionRequest, EscalateRequest, NoteRequest, ResolveRequest,
};
use crate::model::approval::Verdict;
use crate::model::control::ControlKind;
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
    /// Resolve with a summary.
    Resolve(String, String),
    /// Apply a control.
    Control(ControlRequest),
    /// Lift a control.
    Lift(String),
    /// Run (or tick) a runbook step on an incident.
    RunStep(String, u32),
    /// Leave a handoff note.
    HandoffNote(String),
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
            Self::Resolve(id, summary) => Call::Resolve(
                id.clone(),
                ResolveRequest {
                    summary: summary.clone(),
                },
            ),
            Self::Control(request) => Call::Control(request.clone()),
            Self::Lift(id) => Call::Lift(id.clone()),
            Self::RunStep(id, step) => Call::RunStep(id.clone(), StepRequest { step: *step }),
            Self::HandoffNote(text) => {
                Call::HandoffNote(crate::handoff::NoteRequest { text: text.clone() })
            }
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
            Self::Resolve(id, _) => format!("resolve {id}"),
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
        }
    }
}

/// What a menu choice leads to.
#[derive(Debug, Clone, PartialEq)]
pub enum MenuItem {
    /// A containment kind for an agent (tool/version chosen next when needed).
    Contain(ControlKind),
    /// A tool to disable.
    Tool(String),
    /// A version to pin, `component:version`.
    Version(String),
    /// A severity to escalate to.
    Severity(Severity),
}

/// What a text entry is for.
#[derive(Debug, Clone, PartialEq)]
pub enum TextPurpose {
    /// Reason to reject an approval.
    Reject(String),
    /// A note on an incident.
    Note(String),
    /// A note for the next shift.
    HandoffNote,
    /// Summary to resolve an incident.
    Resolve(String),
    /// The typed confirmation of the fleet-wide pause.
    EmergencyStop,
    /// The `:` command line.
    Command,
    /// The `/` filter of the focused list.
    Filter,
}

/// The containment form's fields.
#[derive(Debug, Clone, PartialEq, Eq, Copy)]
pub enum FormField {
    /// Time to live, e.g. 30m.
    Ttl,
    /// Why.
    Reason,
}

/// An open dialog.
pub enum Dialog {
    /// Yes or no on an operation.
    Confirm {
        /// Title.
        title: String,
        /// What will happen, one line each.
        lines: Vec<String>,
        /// What enter sends.
        op: Op,
    },
    /// Choose one.
    Menu {
        /// Title.
        title: String,
        /// The choices, with a label and, when unavailable, why.
        items: Vec<(MenuItem, String, Option<String>)>,
        /// Highlighted choice.
        selected: usize,
        /// The agent (for containment menus).
        agent: String,
        /// The incident the choice is for, if any.
        incident: Option<String>,
    },
    /// Free text.
    Text {
        /// Title.
        title: String,
        /// Shown above the entry.
        hint: Vec<String>,
        /// The entry.
        input: Box<TextArea<'static>>,
        /// What it is for.
        purpose: TextPurpose,
        /// An error from the last enter.
        error: Option<String>,
    },
    /// The containment confirmation: what it affects, optional TTL and reason.
    ContainForm {
        /// The request, filled in.
        request: ControlRequest,
        /// What it affects.
        lines: Vec<String>,
        /// TTL entry.
        ttl: Box<TextArea<'static>>,
        /// Reason entry.
        reason: Box<TextArea<'static>>,
        /// Focused field.
        field: FormField,
        /// An error from the last enter.
        error: Option<String>,
    },
    /// Keys of the focused screen.
    Help {
        /// First line shown.
        scroll: u16,
    },
}

impl std::fmt::Debug for Dialog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Confirm { title, .. } => write!(f, "Confirm({title})"),
            Self::Menu { title, .. } => write!(f, "Menu({title})"),
            Self::Text { title, .. } => write!(f, "Text({title})"),
            Self::ContainForm { request, .. } => {
                write!(f, "ContainForm({})", request.kind.as_str())
            }
            Self::Help { .. } => write!(f, "Help"),
        }
    }
}

/// A single-line text entry.
pub fn line_input(initial: &str) -> Box<TextArea<'static>> {
    let mut t = TextArea::new(vec![initial.to_string()]);
    t.set_cursor_line_style(ratatui::style::Style::default());
    t.move_cursor(ratatui_textarea::CursorMove::End);
    Box::new(t)
}

/// The text of an entry, lines joined with spaces, trimmed.
pub fn text_of(t: &TextArea<'_>) -> String {
    t.lines().join(" ").trim().to_string()
}
