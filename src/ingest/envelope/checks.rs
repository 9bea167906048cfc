//! The second pass over a read envelope: the fields each event type
//! requires, refused when they belong to another type, each checked
//! against its class (id, name, title, text) and limit.

// The field helpers and raw types of the first pass, shared by both.
use super::*;

impl<'a> RawEnvelope<'a> {
    /// Checks every field and builds the typed envelope.
    pub fn into_envelope(self) -> Result<Envelope, DecodeError> {
        self.into_envelope_ref().map(EnvelopeRef::into_owned)
    }

    /// Checks every field and builds the typed envelope, borrowing the
    /// strings that the line holds without escapes.
    pub fn into_envelope_ref(mut self) -> Result<EnvelopeRef<'a>, DecodeError> {
        self.check()
    }

    /// [`RawEnvelope::into_envelope_ref`] in place: takes the fields out.
    pub(super) fn check(&mut self) -> Result<EnvelopeRef<'a>, DecodeError> {
        if let Some(problem) = self.problem.take() {
            return Err(problem);
        }
        let v = required(self.v.take(), "envelope", "v")?;
        if v != PROTOCOL_VERSION {
            return Err(DecodeError::Version(v));
        }
        let kind = required(self.kind.take(), "envelope", "type")?;
        let kind: &'static str = match kind.0.as_ref() {
            "run.finished" => "run.finished",
            "tool.called" => "tool.called",
            "escalation" => "escalation",
            "approval.requested" => "approval.requested",
            "incident.reported" => "incident.reported",
            "change" => "change",
            "heartbeat" => "heartbeat",
            other => return Err(unknown_type(other)),
        };
        let ts = required(self.ts.take(), kind, "ts")?;
        let ts = timestamp("ts", &ts.0)?;
        let agent = id_field("agent", required(self.agent.take(), kind, "agent")?)?;
        let id = opt(self.id.take(), "id", id_field)?;
        let event = match kind {
            "run.finished" => EventRef::RunFinished(self.run_finished(kind)?),
            "tool.called" => EventRef::ToolCalled(self.tool_called(kind)?),
            "escalation" => EventRef::Escalation(self.escalation(kind)?),
            "approval.requested" => EventRef::ApprovalRequested(self.approval(kind, ts)?),
            "incident.reported" => EventRef::IncidentReported(self.incident(kind)?),
            "change" => EventRef::Change(self.change(kind)?),
            _ => EventRef::Heartbeat(self.heartbeat()?),
        };
        if let Some(field) = self.leftover() {
            return Err(DecodeError::ForeignField { kind, field });
        }
        Ok(EnvelopeRef {
            v,
            ts,
            agent,
            id,
            event,
        })
    }

    fn workflow(&mut self) -> Result<Cow<'a, str>, DecodeError> {
        Ok(opt(self.workflow.take(), "workflow", id_field)?
            .unwrap_or(Cow::Borrowed(DEFAULT_WORKFLOW)))
    }

    fn run_finished(&mut self, kind: &'static str) -> Result<RunFinishedRef<'a>, DecodeError> {
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
            return Err(invalid("cost_usd", "must be a finite number ≥ 0"));
        }
        let tokens = self.tokens.take();
        let calls = self.tool_calls.take().unwrap_or_default();
        validate::count("tool_calls", calls.len, MAX_TOOL_CALLS)?;
        if let Some(problem) = calls.problem {
            return Err(problem);
        }
        let tool_calls = calls.calls;
        let policy_violations = match self.policy_violations.take() {
            Some(raw) => violations(kind, raw)?,
            None => Vec::new(),
        };
        let versions = match self.versions.take() {
            Some(v) => VersionsRef {
                model: opt(v.model, "versions.model", name_field)?,
                prompt: opt(v.prompt, "versions.prompt", name_field)?,
                tool: opt(v.tool, "versions.tool", name_field)?,
                policy: opt(v.policy, "versions.policy", name_field)?,
            },
            None => VersionsRef::default(),
        };
        let error = opt(self.error.take(), "error", text_field)?;
        let unpriced_model = opt(self.unpriced_model.take(), "unpriced_model", name_field)?;
        Ok(RunFinishedRef {
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
            unpriced_model,
        })
    }

    fn tool_called(&mut self, kind: &'static str) -> Result<ToolCallEventRef<'a>, DecodeError> {
        Ok(ToolCallEventRef {
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

    fn escalation(&mut self, kind: &'static str) -> Result<EscalationRef<'a>, DecodeError> {
        Ok(EscalationRef {
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
        )?
        .into_owned();
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
            run_id: opt_owned(self.run_id.take(), "run_id", id_field)?,
            workflow: self.workflow()?.into_owned(),
            action: name_field("action", required(self.action.take(), kind, "action")?)?
                .into_owned(),
            tool: opt_owned(self.tool.take(), "tool", name_field)?,
            args,
            risk: enum_field(
                "risk",
                required(self.risk.take(), kind, "risk")?,
                Risk::parse,
                "low, medium, high, critical",
            )?,
            deadline,
            escalate_at,
            reason: opt_owned(self.reason.take(), "reason", text_field)?,
            context: opt_owned(self.context.take(), "context", text_field)?,
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
            detail: opt_owned(self.detail.take(), "detail", text_field)?,
            run_id: opt_owned(self.run_id.take(), "run_id", id_field)?,
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
            version: name_field("version", required(self.version.take(), kind, "version")?)?
                .into_owned(),
            previous: opt_owned(self.previous.take(), "previous", name_field)?,
            deployed_by: name_field(
                "deployed_by",
                required(self.deployed_by.take(), kind, "deployed_by")?,
            )?
            .into_owned(),
            approved_by: opt_owned(self.approved_by.take(), "approved_by", name_field)?,
            note: opt_owned(self.note.take(), "note", text_field)?,
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

pub(super) fn tool_call<'a>(
    i: usize,
    call: RawToolCall<'a>,
) -> Result<ToolCallRef<'a>, DecodeError> {
    // Field names carry the index; they are only built when something is
    // wrong, since this runs for every call of every run.
    let Some(tool) = call.tool else {
        return Err(missing("run.finished", &call_field(i, "tool")));
    };
    let Some(status) = call.status else {
        return Err(missing("run.finished", &call_field(i, "status")));
    };
    let rename = |e: DecodeError, name: &str| rename_call_error(e, i, name);
    Ok(ToolCallRef {
        tool: name_field("tool", tool).map_err(|e| rename(e, "tool"))?,
        status: enum_field("status", status, tool_status, "ok, error")
            .map_err(|e| rename(e, "status"))?,
        latency_ms: call.latency_ms,
        error: opt(call.error, "error", text_field).map_err(|e| rename(e, "error"))?,
    })
}

/// The policy violations of a run: few runs have any.
#[cold]
#[inline(never)]
fn violations<'a>(
    kind: &'static str,
    raw: Vec<RawViolation<'a>>,
) -> Result<Vec<PolicyViolationRef<'a>>, DecodeError> {
    validate::count("policy_violations", raw.len(), MAX_VIOLATIONS)?;
    let mut violations = Vec::with_capacity(raw.len());
    for (i, v) in raw.into_iter().enumerate() {
        let policy = v.policy.ok_or_else(|| DecodeError::MissingField {
            kind,
            field: format!("policy_violations[{i}].policy"),
        })?;
        violations.push(PolicyViolationRef {
            policy: name_field(&format!("policy_violations[{i}].policy"), policy)?,
            detail: opt(
                v.detail,
                &format!("policy_violations[{i}].detail"),
                text_field,
            )?,
        });
    }
    Ok(violations)
}

#[cold]
#[inline(never)]
fn unknown_type(got: &str) -> DecodeError {
    DecodeError::UnknownType {
        got: truncate(got).to_string(),
        expected: EVENT_TYPES,
    }
}

#[cold]
#[inline(never)]
fn call_field(i: usize, name: &str) -> String {
    format!("tool_calls[{i}].{name}")
}

/// Names the call in a field's error: `tool_calls[2].status`.
#[cold]
#[inline(never)]
fn rename_call_error(e: DecodeError, i: usize, name: &str) -> DecodeError {
    match e {
        DecodeError::TooLong { len, limit, .. } => DecodeError::TooLong {
            field: call_field(i, name),
            len,
            limit,
        },
        DecodeError::Invalid { reason, .. } => DecodeError::Invalid {
            field: call_field(i, name),
            reason,
        },
        other => other,
    }
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
