//! `POST /v1/incidents/{id}/steps`: runs step `req.step` of the incident's
//! runbook. A step with an action does what the matching operator action
//! does (a control linked to the incident, an escalation, a page recorded
//! on the timeline); a step without one is ticked by hand. Either way a
//! [`StepRecord`] is added to the incident, a timeline note says what was
//! done, and `runbook.step` is audited.

use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde_json::json;

use crate::model::action::ControlRequest;
use crate::model::control::ControlKind;
use crate::model::incident::{Incident, IncidentState, Severity};
use crate::model::runbook::{Runbook, RunbookStep, StepAction, StepRecord};
use crate::runbook::StepRequest;

use super::auth::Principal;
use super::core::{Change, Core};
use super::error::ApiError;
use super::ops::{Outcome, create_control};

/// The longest control reason a step writes (its text is cut to fit).
const MAX_STEP_REASON_BYTES: usize = 1000;

/// What a step did: the change so far, the incident as it now is, the
/// result for the timeline, and the control it applied, if any.
struct Done {
    change: Change,
    incident: Incident,
    result: String,
    control: Option<String>,
}

fn to_value<T: serde::Serialize>(x: &T) -> serde_json::Value {
    serde_json::to_value(x).unwrap_or(serde_json::Value::Null)
}

/// Runs (or ticks) one runbook step on an incident.
pub fn run_step(
    core: &mut Core,
    who: &Principal,
    id: &str,
    req: StepRequest,
    now: DateTime<Utc>,
) -> Outcome {
    let (incident, runbook, step) = find_step(core, id, req.step)?;
    check_step(who, id, &incident, &runbook, &step)?;
    let label = format!("runbook {} step {}", runbook.name, step.index);
    let done = match &step.action {
        None => Done {
            change: core.change(),
            incident,
            result: "done by hand".to_string(),
            control: None,
        },
        Some(StepAction::Escalate { severity }) => {
            escalate(core, who, incident, *severity, &runbook, &step, now)?
        }
        Some(StepAction::Page { role }) => {
            let mut change = core.change();
            change.audit(
                now,
                &who.name,
                Some(who.role),
                "incident.paged",
                id,
                json!({"role": role, "runbook": runbook.name, "step": step.index}),
            );
            Done {
                change,
                incident,
                result: format!("paged {}", role.as_str()),
                control: None,
            }
        }
        Some(action) => contain(core, who, incident, action, &label, &step, now)?,
    };
    Ok(record(who, done, &runbook, &step, &label, now))
}

/// The incident, its runbook and the step asked for, or `404` naming
/// what is missing.
fn find_step(
    core: &Core,
    id: &str,
    index: u32,
) -> Result<(Incident, Runbook, RunbookStep), ApiError> {
    let incident = core
        .desk
        .incidents
        .get(id)
        .cloned()
        .ok_or_else(|| ApiError::NotFound(format!("no incident {id}")))?;
    let runbook = core
        .runbooks()
        .for_incident(&incident)
        .cloned()
        .ok_or_else(|| {
            ApiError::NotFound(format!(
                "{id} has no runbook: no loaded runbook claims category {}{}",
                incident.category.as_str(),
                incident
                    .agent
                    .as_deref()
                    .map(|a| format!(" for agent {a}"))
                    .unwrap_or_default()
            ))
        })?;
    let step = runbook
        .steps
        .iter()
        .find(|s| s.index == index)
        .cloned()
        .ok_or_else(|| {
            ApiError::NotFound(format!(
                "runbook {} has no step {} (it has steps 1 to {})",
                runbook.name,
                index,
                runbook.steps.len()
            ))
        })?;
    Ok((incident, runbook, step))
}

/// `409` when the incident is resolved or the step was already done,
/// `403` when the caller's role may not run it.
fn check_step(
    who: &Principal,
    id: &str,
    incident: &Incident,
    runbook: &Runbook,
    step: &RunbookStep,
) -> Result<(), ApiError> {
    if incident.state == IncidentState::Resolved {
        return Err(ApiError::Conflict {
            message: format!("cannot run a runbook step on {id}: it is resolved"),
            current: to_value(incident),
        });
    }
    if let Some(done) = incident
        .steps
        .iter()
        .find(|s| s.runbook == runbook.name && s.step == step.index)
    {
        return Err(ApiError::Conflict {
            message: format!(
                "step {} of runbook {} was already done on {id} by {} at {}: {}",
                step.index,
                runbook.name,
                done.by,
                done.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                done.result
            ),
            current: to_value(incident),
        });
    }
    let roles = crate::runbook::roles_for(step.action.as_ref());
    if !roles.contains(&who.role) {
        return Err(ApiError::forbidden(
            &format!("running step {} of runbook {}", step.index, runbook.name),
            roles,
        ));
    }
    Ok(())
}

/// The control a containment action applies; None for the others.
fn control_kind(action: &StepAction) -> Option<ControlKind> {
    match action {
        StepAction::DisableTool { .. } => Some(ControlKind::DisableTool),
        StepAction::ForceFallback => Some(ControlKind::ForceFallback),
        StepAction::RouteToHumans => Some(ControlKind::RouteToHumans),
        StepAction::RequireApproval => Some(ControlKind::RequireApproval),
        StepAction::PinVersion { .. } => Some(ControlKind::PinVersion),
        StepAction::PauseAgent => Some(ControlKind::PauseAgent),
        StepAction::Escalate { .. } | StepAction::Page { .. } => None,
    }
}

/// A containment step: the control an operator would apply, linked to the
/// incident, on the incident's agent.
fn contain(
    core: &mut Core,
    who: &Principal,
    incident: Incident,
    action: &StepAction,
    label: &str,
    step: &RunbookStep,
    now: DateTime<Utc>,
) -> Result<Done, ApiError> {
    let id = incident.id.clone();
    let Some(kind) = control_kind(action) else {
        return Err(ApiError::Internal(format!(
            "{label}: an action with no handler"
        )));
    };
    let Some(agent) = incident.agent.clone() else {
        return Err(ApiError::Conflict {
            message: format!(
                "{id} names no agent, so {label} ({}) has nothing to apply to: apply a control with POST /v1/controls, then tick the step",
                crate::runbook::action_text(action)
            ),
            current: to_value(&incident),
        });
    };
    let mut reason = format!("{label}: {}", step.text);
    if reason.len() > MAX_STEP_REASON_BYTES {
        let mut cut = MAX_STEP_REASON_BYTES;
        while !reason.is_char_boundary(cut) {
            cut -= 1;
        }
        reason.truncate(cut);
        reason.push('…');
    }
    let request = ControlRequest {
        agent,
        kind,
        tool: match action {
            StepAction::DisableTool { tool } => Some(tool.clone()),
            _ => None,
        },
        version: match action {
            StepAction::PinVersion { version } => Some(version.clone()),
            _ => None,
        },
        reason,
        ttl_s: None,
        incident: Some(id.clone()),
    };
    let (_, control, change) = create_control(core, who, request, now)?;
    let control_id = control["id"].as_str().unwrap_or_default().to_string();
    // create_control contained the incident: continue from its copy.
    let incident = change
        .batch
        .incidents
        .iter()
        .find(|i| i.id == id)
        .cloned()
        .unwrap_or(incident);
    Ok(Done {
        change,
        incident,
        result: format!("control {control_id} applied"),
        control: Some(control_id),
    })
}

/// An escalation step: raises the severity, or says it is already higher.
fn escalate(
    core: &Core,
    who: &Principal,
    incident: Incident,
    severity: Severity,
    runbook: &Runbook,
    step: &RunbookStep,
    now: DateTime<Utc>,
) -> Result<Done, ApiError> {
    let mut change = core.change();
    let from = incident.severity;
    let mut after = incident.clone();
    let result = if severity < from {
        after
            .escalate(&who.name, severity, now)
            .map_err(|e| ApiError::Conflict {
                message: e.to_string(),
                current: to_value(&incident),
            })?;
        change.audit(
            now,
            &who.name,
            Some(who.role),
            "incident.escalated",
            &incident.id,
            json!({"from": from, "severity": severity, "runbook": runbook.name, "step": step.index}),
        );
        format!("escalated {} → {}", from.as_str(), severity.as_str())
    } else {
        format!(
            "already {} (escalate {} would not raise it)",
            from.as_str(),
            severity.as_str()
        )
    };
    Ok(Done {
        change,
        incident: after,
        result,
        control: None,
    })
}

/// Notes the step on the incident's timeline, records it, and audits it.
fn record(
    who: &Principal,
    done: Done,
    runbook: &Runbook,
    step: &RunbookStep,
    label: &str,
    now: DateTime<Utc>,
) -> (StatusCode, serde_json::Value, Change) {
    let Done {
        mut change,
        mut incident,
        result,
        control,
    } = done;
    incident.note(
        &who.name,
        &format!("{label} ({}): {result}", step.text),
        now,
    );
    change.audit(
        now,
        &who.name,
        Some(who.role),
        "runbook.step",
        &incident.id.clone(),
        json!({
            "runbook": runbook.name,
            "version": runbook.version,
            "step": step.index,
            "text": step.text,
            "action": step.action.as_ref().map(crate::runbook::action_text),
            "result": result,
            "control": control,
        }),
    );
    incident.steps.push(StepRecord {
        runbook: runbook.name.clone(),
        step: step.index,
        by: who.name.clone(),
        at: now,
        result,
        control,
    });
    let answer = to_value(&incident);
    change.incident(incident);
    (StatusCode::OK, answer, change)
}
