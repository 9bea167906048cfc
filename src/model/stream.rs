//! Messages of the live stream (`GET /v1/stream`) and of `GET /v1/state`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::action::Presence;
use super::agent::Agent;
use super::approval::Approval;
use super::audit::AuditEntry;
use super::control::Control;
use super::incident::Incident;
use super::slo::{SloSpec, SloStatus};

/// The whole shared state: the first event of every stream, and the body of
/// `GET /v1/state`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Snapshot {
    /// Id of the last delta this snapshot includes; resume after it.
    pub seq: u64,
    /// When the hub built it.
    pub at: DateTime<Utc>,
    /// Every agent.
    pub agents: Vec<Agent>,
    /// The SLO specs.
    pub specs: Vec<SloSpec>,
    /// Status of every SLO series.
    pub slos: Vec<SloStatus>,
    /// Open incidents.
    pub incidents: Vec<Incident>,
    /// Open approvals (pending or escalated).
    pub approvals: Vec<Approval>,
    /// Controls in force.
    pub controls: Vec<Control>,
    /// The latest audit entries, oldest first.
    pub audit: Vec<AuditEntry>,
    /// Operators connected now.
    pub presence: Vec<Presence>,
}

/// One change after the snapshot. The SSE `event:` field carries the tag,
/// `data:` the object, `id:` the sequence number.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", content = "data", rename_all = "snake_case")]
pub enum Delta {
    /// An SLO series' status.
    Slo(Box<SloStatus>),
    /// An incident, whole, after any change.
    Incident(Box<Incident>),
    /// An approval, whole, after any change.
    Approval(Box<Approval>),
    /// A control, whole, after any change.
    Control(Box<Control>),
    /// An agent, whole, after any change.
    Agent(Box<Agent>),
    /// A new audit entry.
    Audit(Box<AuditEntry>),
    /// Everyone connected, after anyone connects, leaves or looks elsewhere.
    Presence(Vec<Presence>),
}

impl Delta {
    /// The SSE event name.
    pub fn event_name(&self) -> &'static str {
        match self {
            Self::Slo(_) => Self::EVENTS[0],
            Self::Incident(_) => Self::EVENTS[1],
            Self::Approval(_) => Self::EVENTS[2],
            Self::Control(_) => Self::EVENTS[3],
            Self::Agent(_) => Self::EVENTS[4],
            Self::Audit(_) => Self::EVENTS[5],
            Self::Presence(_) => Self::EVENTS[6],
        }
    }

    /// Every delta's SSE event name (the serde tags).
    pub const EVENTS: [&'static str; 7] = [
        "slo", "incident", "approval", "control", "agent", "audit", "presence",
    ];

    /// The event name `name` as this binary spells it, when it is one.
    pub fn known_event(name: &str) -> Option<&'static str> {
        Self::EVENTS.iter().find(|e| **e == name).copied()
    }
}
