//! Operator actions on the hub's state. Each checks the request against the
//! current objects and returns the answer and the [`Change`] to commit;
//! nothing here writes or publishes.

use axum::http::StatusCode;
use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};

use crate::engine::approval::DecisionError;
use crate::engine::incident::NewIncident;
use crate::model::action::{
    AssignRequest, ControlRequest, DecisionRequest, EscalateRequest, NoteRequest,
    OpenIncidentRequest, ResolveRequest,
};
use crate::model::approval::{ApprovalState, Decision};
use crate::model::control::{Control, ControlKind, ControlState};
use crate::model::incident::{Incident, IncidentSource};
use crate::model::role::Permission;

use super::auth::Principal;
use super::core::{Change, Core, approval_callback};
use super::error::ApiError;
use super::store::CallbackRow;

/// A successful answer and what to commit for it.
pub type Outcome = Result<(StatusCode, Value, Change), ApiError>;

fn to_value<T: serde::Serialize>(x: &T) -> Value {
    serde_json::to_value(x).unwrap_or(Value::Null)
}

fn bad(e: crate::model::error::DecodeError) -> ApiError {
    ApiError::BadRequest(e.to_string())
}

/// `POST /v1/approvals/{id}/decision`.
pub fn decide(
    core: &mut Core,
    who: &Principal,
    id: &str,
    req: DecisionRequest,
    now: DateTime<Utc>,
) -> Outcome {
    req.validate().map_err(bad)?;
    // An approval decided long ago is read from the store, so a late
    // second decision still hears who decided.
    let mut approval = core
        .approval(id)?
        .ok_or_else(|| ApiError::NotFound(format!("no approval {id}")))?;
    core.policy
        .may_decide(&approval.agent, &who.name, who.role)
        .map_err(|message| ApiError::Forbidden {
            message,
            needs: Permission::Decide.roles().to_vec(),
        })?;
    let decision = Decision {
        by: who.name.clone(),
        role: who.role,
        verdict: req.decision,
        reason: req.reason.clone(),
        modified_args: req.modified_args.clone(),
        at: now,
    };
    let state = approval.decide(decision).map_err(|e| match e {
        DecisionError::Closed(t) => ApiError::Conflict {
            message: t.to_string(),
            current: to_value(&approval),
        },
        DecisionError::SameApprover { .. } => ApiError::Conflict {
            message: e.to_string(),
            current: to_value(&approval),
        },
        DecisionError::ReasonRequired(_) | DecisionError::ArgsNotObject => {
            ApiError::BadRequest(e.to_string())
        }
    })?;
    let mut change = core.change();
    change.audit(
        now,
        &who.name,
        Some(who.role),
        "approval.decided",
        id,
        json!({
            "decision": req.decision,
            "reason": req.reason,
            "modified_args": req.modified_args,
            "state": state,
        }),
    );
    if !state.is_open() {
        let body = approval_callback(&approval);
        core.queue_callback(&mut change, &approval.agent, "approval.decided", id, &body);
    }
    let answer = to_value(&approval);
    change.approval(approval);
    Ok((StatusCode::OK, answer, change))
}

/// Whether a decision closed the approval (for callers that care).
pub fn is_final(state: ApprovalState) -> bool {
    !state.is_open()
}

/// `POST /v1/incidents`.
pub fn open_incident(
    core: &mut Core,
    who: &Principal,
    req: OpenIncidentRequest,
    now: DateTime<Utc>,
) -> Outcome {
    req.validate().map_err(bad)?;
    let mut change = core.change();
    let id = core.next_incident_id(&mut change);
    let mut incident = Incident::open(
        NewIncident {
            id: id.clone(),
            title: req.title.clone(),
            severity: req.severity,
            category: req.category,
            source: IncidentSource::Operator,
            agent: req.agent.clone(),
            slo: None,
        },
        &who.name,
        now,
    );
    core.runbooks().link(&mut incident);
    if let Some(detail) = &req.detail {
        incident.note(&who.name, detail, now);
    }
    change.audit(
        now,
        &who.name,
        Some(who.role),
        "incident.opened",
        &id,
        json!({"severity": req.severity, "category": req.category, "title": req.title, "agent": req.agent}),
    );
    let answer = to_value(&incident);
    change.incident(incident);
    Ok((StatusCode::CREATED, answer, change))
}

/// What an incident action does.
#[derive(Debug, Clone)]
pub enum IncidentAction {
    /// `/ack`.
    Ack,
    /// `/assign`.
    Assign(AssignRequest),
    /// `/escalate`.
    Escalate(EscalateRequest),
    /// `/note`.
    Note(NoteRequest),
    /// `/resolve`.
    Resolve(ResolveRequest),
    /// `/snooze`.
    Snooze(crate::model::action::SnoozeRequest),
}

/// `POST /v1/incidents/{id}/{ack,assign,escalate,note,resolve}`.
pub fn incident_action(
    core: &mut Core,
    who: &Principal,
    id: &str,
    action: IncidentAction,
    now: DateTime<Utc>,
) -> Outcome {
    let mut incident = core
        .desk
        .incidents
        .get(id)
        .cloned()
        .ok_or_else(|| ApiError::NotFound(format!("no incident {id}")))?;
    let conflict = |e: crate::engine::TransitionError, i: &Incident| ApiError::Conflict {
        message: e.to_string(),
        current: to_value(i),
    };
    let (name, details) = match &action {
        IncidentAction::Ack => {
            let before = incident.clone();
            incident
                .acknowledge(&who.name, now)
                .map_err(|e| conflict(e, &before))?;
            ("incident.acknowledged", json!({}))
        }
        IncidentAction::Assign(req) => {
            req.validate().map_err(bad)?;
            let before = incident.clone();
            incident
                .assign(&who.name, &req.owner, now)
                .map_err(|e| conflict(e, &before))?;
            ("incident.assigned", json!({"owner": req.owner}))
        }
        IncidentAction::Escalate(req) => {
            let before = incident.clone();
            let from = incident.severity;
            incident
                .escalate(&who.name, req.severity, now)
                .map_err(|e| conflict(e, &before))?;
            (
                "incident.escalated",
                json!({"from": from, "severity": req.severity}),
            )
        }
        IncidentAction::Note(req) => {
            req.validate().map_err(bad)?;
            incident.note(&who.name, &req.text, now);
            ("incident.noted", json!({"text": req.text}))
        }
        IncidentAction::Resolve(req) => {
            req.validate().map_err(bad)?;
            let before = incident.clone();
            incident
                .resolve(&who.name, &req.summary, now)
                .map_err(|e| conflict(e, &before))?;
            match req.suppress_reopen_s.filter(|_| incident.slo.is_some()) {
                Some(s) => {
                    let until = now + chrono::Duration::seconds(s as i64);
                    incident.reopen_suppressed_until = Some(until);
                    incident.note(
                        &who.name,
                        &format!(
                            "new incidents for this SLO suppressed until {}",
                            until.format("%H:%M:%SZ")
                        ),
                        now,
                    );
                    (
                        "incident.resolved",
                        json!({"summary": req.summary, "suppress_reopen_s": s, "reopen_suppressed_until": until}),
                    )
                }
                None => ("incident.resolved", json!({"summary": req.summary})),
            }
        }
        IncidentAction::Snooze(req) => {
            req.validate().map_err(bad)?;
            let before = incident.clone();
            let until = (req.for_s > 0).then(|| now + Duration::seconds(req.for_s as i64));
            incident
                .snooze(&who.name, until, req.reason.as_deref(), now)
                .map_err(|e| conflict(e, &before))?;
            (
                "incident.snoozed",
                json!({"until": until, "reason": req.reason}),
            )
        }
    };
    let mut change = core.change();
    change.audit(now, &who.name, Some(who.role), name, id, details);
    let answer = to_value(&incident);
    change.incident(incident);
    Ok((StatusCode::OK, answer, change))
}

/// `POST /v1/controls`.
pub fn create_control(
    core: &mut Core,
    who: &Principal,
    req: ControlRequest,
    now: DateTime<Utc>,
) -> Outcome {
    req.validate().map_err(bad)?;
    if req.agent == "*" && !Permission::ContainFleet.allows(who.role) {
        return Err(ApiError::forbidden(
            "pausing the whole fleet (agent \"*\")",
            Permission::ContainFleet.roles(),
        ));
    }
    let incident = match &req.incident {
        Some(id) => Some(
            core.desk
                .incidents
                .get(id)
                .cloned()
                .ok_or_else(|| ApiError::NotFound(format!("no incident {id}")))?,
        ),
        None => None,
    };
    let mut change = core.change();
    let id = core.next_control_id(&mut change);
    let control = Control {
        id: id.clone(),
        agent: req.agent.clone(),
        kind: req.kind,
        tool: req.tool.clone(),
        version: req.version.clone(),
        reason: req.reason.clone(),
        set_by: who.name.clone(),
        set_at: now,
        expires_at: req
            .ttl_s
            .map(|ttl| now + Duration::seconds(i64::try_from(ttl).unwrap_or(i64::MAX / 2))),
        incident: req.incident.clone(),
        state: ControlState::Active,
        lifted_by: None,
        ended_at: None,
    };
    change.audit(
        now,
        &who.name,
        Some(who.role),
        if req.agent == "*" && req.kind == ControlKind::PauseAgent {
            "fleet.paused"
        } else {
            "control.applied"
        },
        &id,
        json!({
            "agent": req.agent,
            "kind": req.kind,
            "tool": req.tool,
            "version": req.version,
            "reason": req.reason,
            "ttl_s": req.ttl_s,
            "incident": req.incident,
        }),
    );
    if let Some(mut incident) = incident
        && incident.contain(&who.name, &id, now).is_ok()
    {
        change.audit(
            now,
            &who.name,
            Some(who.role),
            "incident.contained",
            &incident.id.clone(),
            json!({"control": id}),
        );
        change.incident(incident);
    }
    core.queue_control_callbacks(&mut change, &control);
    let answer = to_value(&control);
    change.control(control);
    Ok((StatusCode::CREATED, answer, change))
}

/// `DELETE /v1/controls/{id}`.
pub fn lift_control(core: &mut Core, who: &Principal, id: &str, now: DateTime<Utc>) -> Outcome {
    let mut control = core
        .desk
        .controls
        .get(id)
        .cloned()
        .ok_or_else(|| ApiError::NotFound(format!("no control {id}")))?;
    if control.set_by != who.name && !Permission::ContainFleet.allows(who.role) {
        return Err(ApiError::forbidden(
            &format!("lifting a control set by {}", control.set_by),
            Permission::ContainFleet.roles(),
        ));
    }
    let before = control.clone();
    control
        .lift(&who.name, now)
        .map_err(|e| ApiError::Conflict {
            message: e.to_string(),
            current: to_value(&before),
        })?;
    let mut change = core.change();
    change.audit(
        now,
        &who.name,
        Some(who.role),
        if control.agent == "*" {
            "fleet.resumed"
        } else {
            "control.lifted"
        },
        id,
        json!({"agent": control.agent, "kind": control.kind}),
    );
    core.queue_control_callbacks(&mut change, &control);
    let answer = to_value(&control);
    change.control(control);
    Ok((StatusCode::OK, answer, change))
}

/// `PUT /v1/agents/{agent}/callback`: registers where decisions and
/// control changes are POSTed, and returns a fresh signing secret.
pub fn register_callback(
    core: &mut Core,
    who: &Principal,
    agent: &str,
    url: &str,
    now: DateTime<Utc>,
) -> Outcome {
    let parsed = reqwest::Url::parse(url)
        .map_err(|e| ApiError::BadRequest(format!("field \"url\": {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(ApiError::BadRequest(
            "field \"url\": must be an http or https URL with a host".into(),
        ));
    }
    crate::model::validate::bounded("url", url, 2048).map_err(bad)?;
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret)
        .map_err(|e| ApiError::Internal(format!("no randomness for a secret: {e}")))?;
    let secret = hex::encode(secret);
    let mut change = core.change();
    change.batch.callbacks.push(CallbackRow {
        agent: agent.to_string(),
        url: url.to_string(),
        secret: secret.clone(),
    });
    change.audit(
        now,
        &who.name,
        Some(who.role),
        "callback.registered",
        agent,
        json!({"url": url}),
    );
    Ok((
        StatusCode::OK,
        json!({"agent": agent, "url": url, "secret": secret}),
        change,
    ))
}

/// `POST /v1/handoff/notes`.
pub fn handoff_note(
    core: &mut Core,
    who: &Principal,
    req: crate::handoff::NoteRequest,
    now: DateTime<Utc>,
) -> Outcome {
    req.validate().map_err(ApiError::BadRequest)?;
    let note = crate::model::runbook::HandoffNote {
        by: who.name.clone(),
        at: now,
        text: req.text,
    };
    let mut change = core.change();
    change.audit(
        now,
        &who.name,
        Some(who.role),
        "handoff.noted",
        "handoff",
        json!({"text": note.text}),
    );
    let answer = to_value(&note);
    change.batch.handoff_notes.push(note);
    Ok((StatusCode::CREATED, answer, change))
}
