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
    /// A monitoring system (Prometheus Alertmanager): posts alerts, nothing
    /// else.
    Alerts,
}

impl Role {
    /// Every role.
    pub const ALL: [Role; 6] = [
        Self::Agent,
        Self::Viewer,
        Self::Responder,
        Self::Approver,
        Self::Lead,
        Self::Alerts,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Agent => "agent",
            Self::Viewer => "viewer",
            Self::Responder => "responder",
            Self::Approver => "approver",
            Self::Lead => "lead",
            Self::Alerts => "alerts",
        }
    }

    /// Parses the wire name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// True for the roles of people (every role but `agent` and
    /// `alerts`).
    pub fn is_operator(self) -> bool {
        !matches!(self, Self::Agent | Self::Alerts)
    }
}

/// Something a caller may be allowed to do: the one table of who may do
/// what. The hub refuses with `403` and the roles it needs; the TUI greys
/// out keys and says the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Permission {
    /// Send events and traces.
    Ingest,
    /// Read the shared state, the stream, the audit log and its check,
    /// the history, runbooks, agents and the handoff summary; share
    /// presence.
    Read,
    /// Decide approvals.
    Decide,
    /// Acknowledge, assign, escalate, note and resolve incidents, and open
    /// one by hand.
    Respond,
    /// Run (or tick) a pre-approved runbook step.
    RunStep,
    /// Apply containment to one agent, or lift a control.
    Contain,
    /// Apply containment to every agent at once (the emergency stop), or
    /// lift a control someone else set.
    ContainFleet,
    /// Write a shift-handoff note.
    HandoffNote,
    /// Register an agent, its callback and read its controls (an agent for
    /// itself, a lead for any).
    ActForAgent,
    /// Post alerts from a monitoring system (Alertmanager's webhook).
    PostAlerts,
    /// Reload the hub's configuration files.
    Reload,
    /// Walk the whole audit log again to check its chain (`GET
    /// /v1/audit/verify?full=1`): work in proportion to the log, on demand.
    ReverifyAudit,
}

impl Permission {
    /// Every permission.
    pub const ALL: [Permission; 12] = [
        Self::Ingest,
        Self::Read,
        Self::Decide,
        Self::Respond,
        Self::RunStep,
        Self::Contain,
        Self::ContainFleet,
        Self::HandoffNote,
        Self::ActForAgent,
        Self::PostAlerts,
        Self::Reload,
        Self::ReverifyAudit,
    ];

    /// The roles that hold it.
    pub fn roles(self) -> &'static [Role] {
        use Role::*;
        match self {
            Self::Ingest => &[Agent],
            Self::Read => &[Viewer, Responder, Approver, Lead],
            Self::Decide => &[Approver, Lead],
            Self::Respond | Self::RunStep | Self::Contain => &[Responder, Lead],
            Self::ContainFleet | Self::HandoffNote | Self::Reload | Self::ReverifyAudit => &[Lead],
            Self::ActForAgent => &[Agent, Lead],
            Self::PostAlerts => &[Alerts, Lead],
        }
    }

    /// True when `role` holds it.
    pub fn allows(self, role: Role) -> bool {
        self.roles().contains(&role)
    }

    /// What it is, as an operator reads it in a refusal ("… needs the role").
    pub fn describe(self) -> &'static str {
        match self {
            Self::Ingest => "sending events",
            Self::Read => "reading the hub's state",
            Self::Decide => "deciding approvals",
            Self::Respond => "working incidents",
            Self::RunStep => "running runbook steps",
            Self::Contain => "applying controls",
            Self::ContainFleet => "containing the whole fleet",
            Self::HandoffNote => "writing handoff notes",
            Self::ActForAgent => "acting for an agent",
            Self::PostAlerts => "posting alerts",
            Self::Reload => "reloading the hub's configuration",
            Self::ReverifyAudit => "walking the whole audit log again",
        }
    }

    /// `"responder or lead"`: the roles, for messages.
    pub fn roles_text(self) -> String {
        self.roles()
            .iter()
            .map(|r| r.as_str())
            .collect::<Vec<_>>()
            .join(" or ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agents_only_ingest_and_act_for_themselves() {
        for p in Permission::ALL {
            let agent_may = matches!(p, Permission::Ingest | Permission::ActForAgent);
            assert_eq!(p.allows(Role::Agent), agent_may, "{p:?}");
        }
    }

    #[test]
    fn a_lead_may_do_everything_but_ingest_and_a_viewer_only_read() {
        for p in Permission::ALL {
            assert_eq!(p.allows(Role::Lead), p != Permission::Ingest, "{p:?}");
            assert_eq!(p.allows(Role::Viewer), p == Permission::Read, "{p:?}");
        }
        assert_eq!(Permission::Decide.roles_text(), "approver or lead");
    }
}
