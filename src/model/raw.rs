//! Field-by-field decoding of an envelope line.
//!
//! A hand-written visitor reads the flat JSON object once, borrowing strings
//! from the input where it can, and rejects unknown and duplicate fields by
//! name. [`RawEnvelope::into_envelope`] then checks the fields the event type
//! requires and refuses fields that belong to other types.

use std::borrow::Cow;
use std::cell::Cell;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde::de::{self, MapAccess, Visitor};

use super::envelope::{
    ApprovalRequest, Change, Component, DEFAULT_WORKFLOW, Envelope, Escalation, Event,
    HealthStatus, Heartbeat, IncidentReport, Outcome, PROTOCOL_VERSION, PolicyViolation, Risk,
    RunFinished, Tokens, ToolCall, ToolCallEvent, ToolStatus, Versions,
};
use super::error::DecodeError;
use super::incident::{Category, Severity};
use super::limits::{MAX_ARGS_BYTES, MAX_REJECT_OPTIONS, MAX_TOOL_CALLS, MAX_VIOLATIONS};
use super::validate;

/// Every event type name, for error messages.
pub const EVENT_TYPES: &str = "run.finished, tool.called, escalation, approval.requested, incident.reported, change, heartbeat";

/// A string borrowed from the input when it has no escapes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Text<'a>(pub Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TextVisitor<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for TextVisitor<'a> {
            type Value = Text<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(TextVisitor(std::marker::PhantomData))
    }
}

impl Text<'_> {
    fn into_string(self) -> String {
        self.0.into_owned()
    }
}

/// One tool call as sent.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawToolCall<'a> {
    #[serde(borrow)]
    tool: Option<Text<'a>>,
    #[serde(borrow)]
    status: Option<Text<'a>>,
    latency_ms: Option<u64>,
    #[serde(borrow)]
    error: Option<Text<'a>>,
}

/// One policy violation as sent.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawViolation<'a> {
    #[serde(borrow)]
    policy: Option<Text<'a>>,
    #[serde(borrow)]
    detail: Option<Text<'a>>,
}

/// Versions as sent.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVersions<'a> {
    #[serde(borrow)]
    model: Option<Text<'a>>,
    #[serde(borrow)]
    prompt: Option<Text<'a>>,
    #[serde(borrow)]
    tool: Option<Text<'a>>,
    #[serde(borrow)]
    policy: Option<Text<'a>>,
}

macro_rules! raw_envelope {
    ($( $field:ident : $ty:ty ),* $(,)?) => {
        /// Every field of protocol v1, each optional, as read from one line.
        #[derive(Debug, Default)]
        pub struct RawEnvelope<'a> {
            /// The first unknown or duplicate field, reported after the
            /// whole object is read so the error keeps its structure.
            problem: Option<DecodeError>,
            kind: Option<Text<'a>>,
            $( $field: Option<$ty>, )*
        }

        impl<'a> RawEnvelope<'a> {
            /// The first field still present, after a converter has taken
            /// the ones its type uses.
            fn leftover(&self) -> Option<&'static str> {
                $( if self.$field.is_some() { return Some(stringify!($field)); } )*
                None
            }
        }

        impl<'de> Visitor<'de> for RawEnvelopeVisitor<'_> {
            type Value = RawEnvelope<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an event envelope object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut raw = RawEnvelope::default();
                while let Some(key) = map.next_key::<Text<'de>>()? {
                    match key.0.as_ref() {
                        "type" => {
                            if raw.kind.is_some() {
                                raw.problem.get_or_insert(DecodeError::DuplicateField("type".into()));
                            }
                            self.field.set(Some("type"));
                            raw.kind = Some(map.next_value()?);
                        }
                        $( stringify!($field) => {
                            if raw.$field.is_some() {
                                raw.problem.get_or_insert(DecodeError::DuplicateField(stringify!($field).into()));
                            }
                            self.field.set(Some(stringify!($field)));
                            raw.$field = Some(map.next_value()?);
                        } )*
                        other => {
                            raw.problem.get_or_insert(DecodeError::UnknownField(truncate(other).to_string()));
                            self.field.set(None);
                            map.next_value::<de::IgnoredAny>()?;
                        }
                    }
                    self.field.set(None);
                }
                Ok(raw)
            }
        }
    };
}

/// Reads the envelope object, noting which field it is reading so that a
/// value of the wrong type can be reported by name.
pub struct RawEnvelopeVisitor<'c> {
    field: &'c Cell<Option<&'static str>>,
}

/// A seed that decodes a [`RawEnvelope`] and leaves the name of the field
/// being read in `field` if decoding fails inside a value.
pub struct RawEnvelopeSeed<'c> {
    /// The field being read.
    pub field: &'c Cell<Option<&'static str>>,
}

impl<'de> de::DeserializeSeed<'de> for RawEnvelopeSeed<'_> {
    type Value = RawEnvelope<'de>;

    fn deserialize<D: de::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(RawEnvelopeVisitor { field: self.field })
    }
}

raw_envelope! {
    v: u64,
    ts: Text<'a>,
    agent: Text<'a>,
    id: Text<'a>,
    workflow: Text<'a>,
    run_id: Text<'a>,
    outcome: Text<'a>,
    latency_ms: u64,
    cost_usd: f64,
    tokens: Tokens,
    tool_calls: Vec<RawToolCall<'a>>,
    policy_violations: Vec<RawViolation<'a>>,
    versions: RawVersions<'a>,
    error: Text<'a>,
    tool: Text<'a>,
    status: Text<'a>,
    reason: Text<'a>,
    to: Text<'a>,
    request_id: Text<'a>,
    action: Text<'a>,
    args: serde_json::Value,
    risk: Text<'a>,
    deadline: Text<'a>,
    escalate_at: Text<'a>,
    context: Text<'a>,
    reject_options: Vec<Text<'a>>,
    title: Text<'a>,
    severity: Text<'a>,
    category: Text<'a>,
    detail: Text<'a>,
    component: Text<'a>,
    version: Text<'a>,
    previous: Text<'a>,
    deployed_by: Text<'a>,
    approved_by: Text<'a>,
    note: Text<'a>,
    interval_s: u32,
}

impl<'de> Deserialize<'de> for RawEnvelope<'de> {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let field = Cell::new(None);
        deserializer.deserialize_map(RawEnvelopeVisitor { field: &field })
    }
}

/// Decodes one line into a [`RawEnvelope`], naming the field whose value
/// has the wrong type.
pub fn parse_line(line: &str) -> Result<RawEnvelope<'_>, DecodeError> {
    use serde::de::DeserializeSeed;
    let field = Cell::new(None);
    let mut de = serde_json::Deserializer::from_str(line);
    let result = RawEnvelopeSeed { field: &field }
        .deserialize(&mut de)
        .and_then(|raw| de.end().map(|()| raw));
    result.map_err(|e| match (e.classify(), field.get()) {
        (serde_json::error::Category::Data, Some(name)) => {
            DecodeError::Type(format!("field \"{name}\": {e}"))
        }
        (serde_json::error::Category::Data, None) => DecodeError::Type(e.to_string()),
        // A number out of range, nesting past the limit, a bad escape:
        // still say in which field, so the sender knows where to look.
        (_, Some(name)) => DecodeError::Json(format!("field \"{name}\": {e}")),
        _ => DecodeError::Json(e.to_string()),
    })
}

/// Takes a required field out of the raw envelope or names it as missing.
fn required<T>(value: Option<T>, kind: &'static str, field: &str) -> Result<T, DecodeError> {
    value.ok_or_else(|| DecodeError::MissingField {
        kind,
        field: field.to_string(),
    })
}

/// Parses an RFC 3339 timestamp, naming the field when it is not one.
pub fn timestamp(field: &str, value: &str) -> Result<DateTime<Utc>, DecodeError> {
    DateTime::parse_from_rfc3339(value)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            DecodeError::invalid(
                field,
                format!(
                    "{:?} is not an RFC 3339 timestamp (e.g. 2026-11-21T14:00:00Z)",
                    truncate(value)
                ),
            )
        })
}

fn truncate(value: &str) -> &str {
    let mut end = value.len().min(64);
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    &value[..end]
}

fn id_field(field: &str, value: Text<'_>) -> Result<String, DecodeError> {
    validate::id(field, &value.0)?;
    Ok(value.into_string())
}

fn name_field(field: &str, value: Text<'_>) -> Result<String, DecodeError> {
    validate::name(field, &value.0)?;
    Ok(value.into_string())
}

fn text_field(field: &str, value: Text<'_>) -> Result<String, DecodeError> {
    validate::text(field, &value.0)?;
    Ok(value.into_string())
}

fn opt<T>(
    value: Option<Text<'_>>,
    field: &str,
    check: fn(&str, Text<'_>) -> Result<T, DecodeError>,
) -> Result<Option<T>, DecodeError> {
    value.map(|v| check(field, v)).transpose()
}

fn enum_field<T>(
    field: &str,
    value: Text<'_>,
    parse: fn(&str) -> Option<T>,
    allowed: &str,
) -> Result<T, DecodeError> {
    parse(&value.0).ok_or_else(|| {
        DecodeError::invalid(
            field,
            format!("{:?} is not one of {allowed}", truncate(&value.0)),
        )
    })
}

impl<'a> RawEnvelope<'a> {
    /// Checks every field and builds the typed envelope.
    pub fn into_envelope(mut self) -> Result<Envelope, DecodeError> {
        if let Some(problem) = self.problem.take() {
            return Err(problem);
        }
        let v = self.v.take().ok_or_else(|| DecodeError::MissingField {
            kind: "envelope",
            field: "v".into(),
        })?;
        if v != PROTOCOL_VERSION {
            return Err(DecodeError::Version(v));
        }
        let kind = self.kind.take().ok_or_else(|| DecodeError::MissingField {
            kind: "envelope",
            field: "type".into(),
        })?;
        let kind: &'static str = match kind.0.as_ref() {
            "run.finished" => "run.finished",
            "tool.called" => "tool.called",
            "escalation" => "escalation",
            "approval.requested" => "approval.requested",
            "incident.reported" => "incident.reported",
            "change" => "change",
            "heartbeat" => "heartbeat",
            other => {
                return Err(DecodeError::UnknownType {
                    got: truncate(other).to_string(),
                    expected: EVENT_TYPES,
                });
            }
        };
        let ts = required(self.ts.take(), kind, "ts")?;
        let ts = timestamp("ts", &ts.0)?;
        let agent = id_field("agent", required(self.agent.take(), kind, "agent")?)?;
        let id = opt(self.id.take(), "id", id_field)?;
        let event = match kind {
            "run.finished" => Event::RunFinished(self.run_finished(kind)?),
            "tool.called" => Event::ToolCalled(self.tool_called(kind)?),
            "escalation" => Event::Escalation(self.escalation(kind)?),
            "approval.requested" => Event::ApprovalRequested(self.approval(kind, ts)?),
            "incident.reported" => Event::IncidentReported(self.incident(kind)?),
            "change" => Event::Change(self.change(kind)?),
            _ => Event::Heartbeat(self.heartbeat()?),
        };
        if let Some(field) = self.leftover() {
            return Err(DecodeError::ForeignField { kind, field });
        }
        Ok(Envelope {
            v,
            ts,
            agent,
            id,
            event,
        })
    }

    fn workflow(&mut self) -> Result<String, DecodeError> {
        Ok(opt(self.workflow.take(), "workflow", id_field)?
            .unwrap_or_else(|| DEFAULT_WORKFLOW.to_string()))
    }

    fn run_finished(&mut self, kind: &'static str) -> Result<RunFinished, DecodeError> {
        let run_id = id_field("run_id", required(self.run_id.take(), kind, "run_id")?)?;
        let workflow = self.workflow()?;
        let outcome = enum_field(
            "outcome",
            required(self.outcome.take(), kind, "outcome")?,
            Outcome::parse,
            "success, escalated, failed, timed_out",
        )?;
        let latency_ms = required(self.latency_ms.take(), kind, "latency_ms")?;
        let cost_usd = self.cost_usd.take().unwrap_or(0.0);
        if !cost_usd.is_finite() || cost_usd < 0.0 {
            return Err(DecodeError::invalid(
                "cost_usd",
                "must be a finite number ≥ 0",
            ));
        }
        let tokens = self.tokens.take();
        let raw_calls = self.tool_calls.take().unwrap_or_default();
        validate::count("tool_calls", raw_calls.len(), MAX_TOOL_CALLS)?;
        let mut tool_calls = Vec::with_capacity(raw_calls.len());
        for (i, call) in raw_calls.into_iter().enumerate() {
            tool_calls.push(tool_call(i, call)?);
        }
        let raw_violations = self.policy_violations.take().unwrap_or_default();
        validate::count("policy_violations", raw_violations.len(), MAX_VIOLATIONS)?;
        let mut policy_violations = Vec::with_capacity(raw_violations.len());
        for (i, v) in raw_violations.into_iter().enumerate() {
            let policy = v.policy.ok_or_else(|| DecodeError::MissingField {
                kind,
                field: format!("policy_violations[{i}].policy"),
            })?;
            policy_violations.push(PolicyViolation {
                policy: name_field(&format!("policy_violations[{i}].policy"), policy)?,
                detail: opt(
                    v.detail,
                    &format!("policy_violations[{i}].detail"),
                    text_field,
                )?,
            });
        }
        let versions = match self.versions.take() {
            Some(v) => Versions {
                model: opt(v.model, "versions.model", name_field)?,
                prompt: opt(v.prompt, "versions.prompt", name_field)?,
                tool: opt(v.tool, "versions.tool", name_field)?,
                policy: opt(v.policy, "versions.policy", name_field)?,
            },
            None => Versions::default(),
        };
        let error = opt(self.error.take(), "error", text_field)?;
        Ok(RunFinished {
            run_id,
            workflow,
            outcome,
            latency_ms,
            cost_usd,
            tokens,
            tool_calls,
            policy_violations,
            versions,
            error,
        })
    }

    fn tool_called(&mut self, kind: &'static str) -> Result<ToolCallEvent, DecodeError> {
        Ok(ToolCallEvent {
            run_id: opt(self.run_id.take(), "run_id", id_field)?,
            workflow: self.workflow()?,
            tool: name_field("tool", required(self.tool.take(), kind, "tool")?)?,
            status: enum_field(
                "status",
                required(self.status.take(), kind, "status")?,
                tool_status,
                "ok, error",
            )?,
            latency_ms: self.latency_ms.take(),
            error: opt(self.error.take(), "error", text_field)?,
        })
    }

    fn escalation(&mut self, kind: &'static str) -> Result<Escalation, DecodeError> {
        Ok(Escalation {
            run_id: opt(self.run_id.take(), "run_id", id_field)?,
            workflow: self.workflow()?,
            reason: {
                let reason = required(self.reason.take(), kind, "reason")?;
                if reason.0.trim().is_empty() {
                    return Err(DecodeError::invalid("reason", "must not be empty"));
                }
                text_field("reason", reason)?
            },
            to: opt(self.to.take(), "to", name_field)?,
        })
    }

    fn approval(
        &mut self,
        kind: &'static str,
        ts: DateTime<Utc>,
    ) -> Result<ApprovalRequest, DecodeError> {
        let request_id = id_field(
            "request_id",
            required(self.request_id.take(), kind, "request_id")?,
        )?;
        let args = self
            .args
            .take()
            .unwrap_or_else(|| serde_json::Value::Object(Default::default()));
        if !args.is_object() {
            return Err(DecodeError::invalid("args", "must be a JSON object"));
        }
        let args_len = serde_json::to_string(&args).map(|s| s.len()).unwrap_or(0);
        if args_len > MAX_ARGS_BYTES {
            return Err(DecodeError::TooLong {
                field: "args".into(),
                len: args_len,
                limit: MAX_ARGS_BYTES,
            });
        }
        let deadline = required(self.deadline.take(), kind, "deadline")?;
        let deadline = timestamp("deadline", &deadline.0)?;
        if deadline <= ts {
            return Err(DecodeError::invalid(
                "deadline",
                "must be after ts: an approval needs time to be decided",
            ));
        }
        let escalate_at = match self.escalate_at.take() {
            Some(t) => {
                let at = timestamp("escalate_at", &t.0)?;
                if at <= ts || at >= deadline {
                    return Err(DecodeError::invalid(
                        "escalate_at",
                        "must be after ts and before deadline",
                    ));
                }
                Some(at)
            }
            None => None,
        };
        let raw_options = self.reject_options.take().unwrap_or_default();
        validate::count("reject_options", raw_options.len(), MAX_REJECT_OPTIONS)?;
        let reject_options = raw_options
            .into_iter()
            .enumerate()
            .map(|(i, o)| {
                validate::title(&format!("reject_options[{i}]"), &o.0)?;
                Ok(o.into_string())
            })
            .collect::<Result<Vec<_>, DecodeError>>()?;
        Ok(ApprovalRequest {
            request_id,
            run_id: opt(self.run_id.take(), "run_id", id_field)?,
            workflow: self.workflow()?,
            action: name_field("action", required(self.action.take(), kind, "action")?)?,
            tool: opt(self.tool.take(), "tool", name_field)?,
            args,
            risk: enum_field(
                "risk",
                required(self.risk.take(), kind, "risk")?,
                Risk::parse,
                "low, medium, high, critical",
            )?,
            deadline,
            escalate_at,
            reason: opt(self.reason.take(), "reason", text_field)?,
            context: opt(self.context.take(), "context", text_field)?,
            reject_options,
        })
    }

    fn incident(&mut self, kind: &'static str) -> Result<IncidentReport, DecodeError> {
        let title = required(self.title.take(), kind, "title")?;
        validate::title("title", &title.0)?;
        Ok(IncidentReport {
            title: title.into_string(),
            severity: enum_field(
                "severity",
                required(self.severity.take(), kind, "severity")?,
                Severity::parse,
                "SEV1, SEV2, SEV3, SEV4",
            )?,
            category: enum_field(
                "category",
                required(self.category.take(), kind, "category")?,
                Category::parse,
                Category::NAMES,
            )?,
            detail: opt(self.detail.take(), "detail", text_field)?,
            run_id: opt(self.run_id.take(), "run_id", id_field)?,
        })
    }

    fn change(&mut self, kind: &'static str) -> Result<Change, DecodeError> {
        Ok(Change {
            component: enum_field(
                "component",
                required(self.component.take(), kind, "component")?,
                Component::parse,
                "model, prompt, tool, policy",
            )?,
            version: name_field("version", required(self.version.take(), kind, "version")?)?,
            previous: opt(self.previous.take(), "previous", name_field)?,
            deployed_by: name_field(
                "deployed_by",
                required(self.deployed_by.take(), kind, "deployed_by")?,
            )?,
            approved_by: opt(self.approved_by.take(), "approved_by", name_field)?,
            note: opt(self.note.take(), "note", text_field)?,
        })
    }

    fn heartbeat(&mut self) -> Result<Heartbeat, DecodeError> {
        Ok(Heartbeat {
            status: match self.status.take() {
                Some(s) => Some(enum_field("status", s, health_status, "ok, degraded")?),
                None => None,
            },
            interval_s: self.interval_s.take(),
        })
    }
}

fn tool_call(i: usize, call: RawToolCall<'_>) -> Result<ToolCall, DecodeError> {
    // Field names carry the index; they are only built when something is
    // wrong, since this runs for every call of every run.
    let field = |name: &str| format!("tool_calls[{i}].{name}");
    let missing = |name: &str| DecodeError::MissingField {
        kind: "run.finished",
        field: field(name),
    };
    let tool = call.tool.ok_or_else(|| missing("tool"))?;
    let status = call.status.ok_or_else(|| missing("status"))?;
    let rename = |e: DecodeError, name: &str| match e {
        DecodeError::TooLong { len, limit, .. } => DecodeError::TooLong {
            field: field(name),
            len,
            limit,
        },
        DecodeError::Invalid { reason, .. } => DecodeError::Invalid {
            field: field(name),
            reason,
        },
        other => other,
    };
    Ok(ToolCall {
        tool: name_field("tool", tool).map_err(|e| rename(e, "tool"))?,
        status: enum_field("status", status, tool_status, "ok, error")
            .map_err(|e| rename(e, "status"))?,
        latency_ms: call.latency_ms,
        error: opt(call.error, "error", text_field).map_err(|e| rename(e, "error"))?,
    })
}

fn tool_status(s: &str) -> Option<ToolStatus> {
    match s {
        "ok" => Some(ToolStatus::Ok),
        "error" => Some(ToolStatus::Error),
        _ => None,
    }
}

fn health_status(s: &str) -> Option<HealthStatus> {
    match s {
        "ok" => Some(HealthStatus::Ok),
        "degraded" => Some(HealthStatus::Degraded),
        _ => None,
    }
}
