//! Bodies of operator actions and of the hub's answers to them.
//!
//! Each request type rejects unknown fields and has a `validate` that names
//! the field at fault, so the hub can answer 400 with a useful message.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::approval::Verdict;
use super::control::ControlKind;
use super::error::DecodeError;
use super::incident::{Category, Severity};
use super::limits::MAX_ARGS_BYTES;
use super::role::Role;
use super::validate;

/// `POST /v1/approvals/{id}/decision`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecisionRequest {
    /// `approve` or `reject`.
    pub decision: Verdict,
    /// Why; required to reject.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Arguments the agent receives instead of its own (approve only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modified_args: Option<serde_json::Value>,
}

impl DecisionRequest {
    /// Checks sizes and shapes.
    pub fn validate(&self) -> Result<(), DecodeError> {
        if let Some(reason) = &self.reason {
            validate::text("reason", reason)?;
        }
        if self.decision == Verdict::Reject
            && self.reason.as_deref().is_none_or(|r| r.trim().is_empty())
        {
            return Err(DecodeError::invalid("reason", "is required to reject"));
        }
        if let Some(args) = &self.modified_args {
            if !args.is_object() {
                return Err(DecodeError::invalid(
                    "modified_args",
                    "must be a JSON object",
                ));
            }
            if self.decision == Verdict::Reject {
                return Err(DecodeError::invalid(
                    "modified_args",
                    "only applies to an approval",
                ));
            }
            let len = serde_json::to_string(args).map(|s| s.len()).unwrap_or(0);
            if len > MAX_ARGS_BYTES {
                return Err(DecodeError::TooLong {
                    field: "modified_args".into(),
                    len,
                    limit: MAX_ARGS_BYTES,
                });
            }
        }
        Ok(())
    }
}

/// `POST /v1/incidents`: open an incident by hand.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenIncidentRequest {
    /// One-line title.
    pub title: String,
    /// Severity.
    pub severity: Severity,
    /// Category.
    pub category: Category,
    /// The agent involved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    /// What is known so far.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl OpenIncidentRequest {
    /// Checks sizes and shapes.
    pub fn validate(&self) -> Result<(), DecodeError> {
        validate::title("title", &self.title)?;
        if let Some(agent) = &self.agent {
            validate::id("agent", agent)?;
        }
        if let Some(detail) = &self.detail {
            validate::text("detail", detail)?;
        }
        Ok(())
    }
}

/// `POST /v1/incidents/{id}/assign`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssignRequest {
    /// The new owner (an operator name).
    pub owner: String,
}

impl AssignRequest {
    /// Checks sizes and shapes.
    pub fn validate(&self) -> Result<(), DecodeError> {
        validate::name("owner", &self.owner)
    }
}

/// `POST /v1/incidents/{id}/escalate`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EscalateRequest {
    /// The new, higher severity.
    pub severity: Severity,
}

/// `POST /v1/incidents/{id}/note`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoteRequest {
    /// The note.
    pub text: String,
}

impl NoteRequest {
    /// Checks sizes and shapes.
    pub fn validate(&self) -> Result<(), DecodeError> {
        if self.text.trim().is_empty() {
            return Err(DecodeError::invalid("text", "must not be empty"));
        }
        validate::text("text", &self.text)
    }
}

/// `POST /v1/incidents/{id}/resolve`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResolveRequest {
    /// What happened and what fixed it.
    pub summary: String,
    /// For an SLO incident whose SLO still burns: seconds during which the
    /// burn opens no new incident (otherwise it reopens at the next tick).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suppress_reopen_s: Option<u64>,
}

/// The longest an SLO burn may be kept from opening a new incident: a day.
pub const MAX_SUPPRESS_REOPEN_S: u64 = 86_400;

impl ResolveRequest {
    /// Checks sizes and shapes.
    pub fn validate(&self) -> Result<(), DecodeError> {
        if self.summary.trim().is_empty() {
            return Err(DecodeError::invalid("summary", "must not be empty"));
        }
        if let Some(s) = self.suppress_reopen_s
            && !(60..=MAX_SUPPRESS_REOPEN_S).contains(&s)
        {
            return Err(DecodeError::invalid(
                "suppress_reopen_s",
                format!("must be 60 to {MAX_SUPPRESS_REOPEN_S} seconds, not {s}"),
            ));
        }
        validate::text("summary", &self.summary)
    }
}

/// `POST /v1/incidents/{id}/snooze`: nobody is paged about it (no
/// escalation level, no reminder) for a while; `0` ends a snooze.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnoozeRequest {
    /// For how long, seconds: 60 to a day, or 0 to end the snooze.
    pub for_s: u64,
    /// Why, for the timeline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The longest snooze: a day.
pub const MAX_SNOOZE_S: u64 = 86_400;

impl SnoozeRequest {
    /// Checks sizes and shapes.
    pub fn validate(&self) -> Result<(), DecodeError> {
        if self.for_s != 0 && !(60..=MAX_SNOOZE_S).contains(&self.for_s) {
            return Err(DecodeError::invalid(
                "for_s",
                format!(
                    "must be 60 to {MAX_SNOOZE_S} seconds (or 0 to end the snooze), not {}",
                    self.for_s
                ),
            ));
        }
        match &self.reason {
            Some(r) => validate::text("reason", r),
            None => Ok(()),
        }
    }
}

/// `POST /v1/controls`: apply containment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ControlRequest {
    /// The agent, or `*` (with `pause_agent` only) for the whole fleet.
    pub agent: String,
    /// What to do.
    pub kind: ControlKind,
    /// The tool, required for `disable_tool`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool: Option<String>,
    /// `component:version`, required for `pin_version` (e.g. `prompt:v7`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Why.
    pub reason: String,
    /// Seconds until it lifts itself; none keeps it until lifted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl_s: Option<u64>,
    /// The incident it is applied for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incident: Option<String>,
}

/// Longest control TTL: 30 days.
pub const MAX_CONTROL_TTL_S: u64 = 30 * 86_400;

impl ControlRequest {
    /// Checks sizes, shapes and which fields each kind needs.
    pub fn validate(&self) -> Result<(), DecodeError> {
        if self.agent == "*" {
            if self.kind != ControlKind::PauseAgent {
                return Err(DecodeError::invalid(
                    "agent",
                    "\"*\" (the whole fleet) is allowed only with kind pause_agent",
                ));
            }
        } else {
            validate::id("agent", &self.agent)?;
        }
        if self.reason.trim().is_empty() {
            return Err(DecodeError::invalid("reason", "must not be empty"));
        }
        validate::text("reason", &self.reason)?;
        match (self.kind, &self.tool) {
            (ControlKind::DisableTool, None) => {
                return Err(DecodeError::invalid("tool", "is required for disable_tool"));
            }
            (ControlKind::DisableTool, Some(tool)) => validate::name("tool", tool)?,
            (_, Some(_)) => {
                return Err(DecodeError::invalid("tool", "applies only to disable_tool"));
            }
            (_, None) => {}
        }
        match (self.kind, &self.version) {
            (ControlKind::PinVersion, None) => {
                return Err(DecodeError::invalid(
                    "version",
                    "is required for pin_version, as component:version (e.g. prompt:v7)",
                ));
            }
            (ControlKind::PinVersion, Some(v)) => {
                validate::name("version", v)?;
                let ok = v.split_once(':').is_some_and(|(c, ver)| {
                    super::envelope::Component::parse(c).is_some() && !ver.is_empty()
                });
                if !ok {
                    return Err(DecodeError::invalid(
                        "version",
                        "must be component:version with component model, prompt, tool or policy",
                    ));
                }
            }
            (_, Some(_)) => {
                return Err(DecodeError::invalid(
                    "version",
                    "applies only to pin_version",
                ));
            }
            (_, None) => {}
        }
        if let Some(ttl) = self.ttl_s
            && (ttl == 0 || ttl > MAX_CONTROL_TTL_S)
        {
            return Err(DecodeError::invalid(
                "ttl_s",
                format!("must be 1 to {MAX_CONTROL_TTL_S} seconds"),
            ));
        }
        if let Some(incident) = &self.incident {
            validate::id("incident", incident)?;
        }
        Ok(())
    }
}

/// `POST /v1/presence`: what the operator is looking at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PresenceRequest {
    /// An incident or approval id, or none.
    #[serde(default)]
    pub viewing: Option<String>,
}

/// One connected operator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Presence {
    /// The operator's name.
    pub operator: String,
    /// Their role.
    pub role: Role,
    /// What they are looking at.
    #[serde(default)]
    pub viewing: Option<String>,
    /// When they connected.
    pub since: DateTime<Utc>,
}

/// Answer to `POST /v1/events`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IngestResponse {
    /// Lines accepted (repeats of a recent event id included).
    pub accepted: u64,
    /// Of those, repeats of a recent `(agent, id)`, acknowledged but not
    /// counted again.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub duplicates: u64,
    /// Lines refused, each with its 1-based line number and reason.
    pub rejected: Vec<LineError>,
}

/// One refused line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LineError {
    /// 1-based line number in the request body.
    pub line: u64,
    /// Why it was refused.
    pub error: String,
}

/// Body of every 4xx and 5xx answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorBody {
    /// What went wrong, for a person.
    pub error: String,
    /// For 403: the roles that may do this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub needs: Option<Vec<Role>>,
    /// For 409: the object as it is now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current: Option<serde_json::Value>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Answer to `GET /v1/me`: who the hub takes the caller to be.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Me {
    /// Operator name, or agent id.
    pub name: String,
    /// Role.
    pub role: Role,
}
