//! Runbooks: Markdown playbooks linked to incidents by category, whose
//! checklist steps may carry a pre-approved action.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::incident::Severity;
use super::role::Role;

/// What a runbook step does when it is run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum StepAction {
    /// Disable a named tool of the incident's agent.
    DisableTool {
        /// The tool.
        tool: String,
    },
    /// Force the agent's fallback path.
    ForceFallback,
    /// Route every run of the agent to humans.
    RouteToHumans,
    /// Require approval for every tool action of the agent.
    RequireApproval,
    /// Pin a version, `component:version`.
    PinVersion {
        /// The version.
        version: String,
    },
    /// Pause the agent.
    PauseAgent,
    /// Raise the incident's severity.
    Escalate {
        /// The new severity.
        severity: Severity,
    },
    /// Page the people holding a role (recorded on the timeline).
    Page {
        /// The role.
        role: Role,
    },
}

/// One checklist step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunbookStep {
    /// 1-based position in the runbook.
    pub index: u32,
    /// Line in the file.
    pub line: u32,
    /// The step's text (Markdown, action markup removed).
    pub text: String,
    /// The pre-approved action, if the step has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<StepAction>,
}

/// A runbook as the hub serves it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Runbook {
    /// Name (the file name without `.md`).
    pub name: String,
    /// Title (the first heading).
    pub title: String,
    /// Incident categories it applies to.
    pub categories: Vec<String>,
    /// Agents it is limited to (empty: every agent).
    #[serde(default)]
    pub agents: Vec<String>,
    /// Who maintains it.
    pub owner: String,
    /// Its version.
    pub version: String,
    /// The Markdown body (front matter removed).
    pub body: String,
    /// The checklist steps, in order.
    pub steps: Vec<RunbookStep>,
}

/// A runbook step someone completed on an incident.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepRecord {
    /// The runbook.
    pub runbook: String,
    /// The step's index.
    pub step: u32,
    /// Who ran or ticked it.
    pub by: String,
    /// When.
    pub at: DateTime<Utc>,
    /// What happened, e.g. `control CTL-4 applied` or `done by hand`.
    pub result: String,
    /// The control it applied, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control: Option<String>,
}

/// A note the outgoing lead leaves for the next shift.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HandoffNote {
    /// Who wrote it.
    pub by: String,
    /// When.
    pub at: DateTime<Utc>,
    /// The note (Markdown).
    pub text: String,
}
