//! Controls: containment the hub tells agents to obey.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What a control makes an agent do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ControlKind {
    /// Never call the named tool; fail over to escalation.
    DisableTool,
    /// Use the slower deterministic fallback path.
    ForceFallback,
    /// Escalate every run to a human.
    RouteToHumans,
    /// Every tool action waits for an approval.
    RequireApproval,
    /// Return to a named known-good version.
    PinVersion,
    /// Stop taking work. With agent `*`: the fleet-wide emergency stop.
    PauseAgent,
}

impl ControlKind {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::DisableTool => "disable_tool",
            Self::ForceFallback => "force_fallback",
            Self::RouteToHumans => "route_to_humans",
            Self::RequireApproval => "require_approval",
            Self::PinVersion => "pin_version",
            Self::PauseAgent => "pause_agent",
        }
    }
}

/// Where a control's life is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ControlState {
    /// In force.
    Active,
    /// Lifted by an operator.
    Lifted,
    /// Ran out its TTL.
    Expired,
}

impl ControlState {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Lifted => "lifted",
            Self::Expired => "expired",
        }
    }
}

/// A control as every operator (and the agent it binds) sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Control {
    /// `CTL-<n>`.
    pub id: String,
    /// The agent it binds, or `*` for every agent.
    pub agent: String,
    /// What it does.
    pub kind: ControlKind,
    /// The tool, for `disable_tool`.
    #[serde(default)]
    pub tool: Option<String>,
    /// The version, for `pin_version`, as `component:version` (e.g. `prompt:v7`).
    #[serde(default)]
    pub version: Option<String>,
    /// Why it was set.
    pub reason: String,
    /// Who set it.
    pub set_by: String,
    /// When it was set.
    pub set_at: DateTime<Utc>,
    /// When it expires on its own, if it has a TTL.
    #[serde(default)]
    pub expires_at: Option<DateTime<Utc>>,
    /// The incident it was set for.
    #[serde(default)]
    pub incident: Option<String>,
    /// Current state.
    pub state: ControlState,
    /// Who lifted it.
    #[serde(default)]
    pub lifted_by: Option<String>,
    /// When it stopped being in force (lifted or expired).
    #[serde(default)]
    pub ended_at: Option<DateTime<Utc>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_names_are_the_wire_names() {
        for s in [
            ControlState::Active,
            ControlState::Lifted,
            ControlState::Expired,
        ] {
            assert_eq!(serde_json::to_value(s).expect("serializes"), s.as_str());
        }
    }
}
