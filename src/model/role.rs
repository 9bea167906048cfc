//! Roles, enforced by the hub.

use serde::{Deserialize, Serialize};

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// An agent: ingests events and reads its own controls, nothing else.
    Agent,
    /// Sees everything, changes nothing.
    Viewer,
    /// Acknowledges, notes, runs pre-approved runbook steps, applies containment.
    Responder,
    /// Decides approvals.
    Approver,
    /// Everything, plus handoff notes and lifting others' controls.
    Lead,
}

impl Role {
    /// Every role.
    pub const ALL: [Role; 5] = [
        Self::Agent,
        Self::Viewer,
        Self::Responder,
        Self::Approver,
        Self::Lead,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Agent => "agent",
            Self::Viewer => "viewer",
            Self::Responder => "responder",
            Self::Approver => "approver",
            Self::Lead => "lead",
        }
    }

    /// Parses the wire name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// True for the roles of people (every role but `agent`).
    pub fn is_operator(self) -> bool {
        self != Self::Agent
    }

    /// May acknowledge, note and contain incidents and run runbook steps.
    pub fn can_respond(self) -> bool {
        matches!(self, Self::Responder | Self::Lead)
    }

    /// May decide approvals.
    pub fn can_approve(self) -> bool {
        matches!(self, Self::Approver | Self::Lead)
    }
}
