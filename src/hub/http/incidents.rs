//! Incidents: open one by hand, work it, run its runbook steps.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use chrono::Utc;

use crate::model::action::OpenIncidentRequest;
use crate::model::api::IncidentVerb;
use crate::runbook::StepRequest;

use super::super::error::ApiError;
use super::super::ops::{self, IncidentAction};
use super::super::steps;
use super::AppState;
use super::extract::{
    Allowed, Command, Idempotent, OpeningIncidents, RunningSteps, WorkingIncidents,
};

/// `POST /v1/incidents`.
pub async fn open(
    State(hub): State<AppState>,
    Allowed(who, _): Allowed<OpeningIncidents>,
    request: Command<OpenIncidentRequest>,
) -> Response {
    let Command { body, idempotent } = request;
    hub.act(who, idempotent, move |core, who| {
        ops::open_incident(core, who, body, Utc::now())
    })
    .await
}

/// `POST /v1/incidents/{id}/{ack|assign|escalate|note|resolve|snooze}`.
pub async fn work(
    State(hub): State<AppState>,
    Allowed(who, _): Allowed<WorkingIncidents>,
    Path((id, verb)): Path<(String, String)>,
    request: Idempotent,
) -> Response {
    let action = match IncidentVerb::parse(&verb) {
        Some(IncidentVerb::Ack) => Ok(IncidentAction::Ack),
        Some(IncidentVerb::Assign) => request.parse().map(IncidentAction::Assign),
        Some(IncidentVerb::Escalate) => request.parse().map(IncidentAction::Escalate),
        Some(IncidentVerb::Note) => request.parse().map(IncidentAction::Note),
        Some(IncidentVerb::Resolve) => request.parse().map(IncidentAction::Resolve),
        Some(IncidentVerb::Snooze) => request.parse().map(IncidentAction::Snooze),
        None => Err(ApiError::NotFound(format!(
            "no incident action {verb:?} (ack, assign, escalate, note, resolve, snooze)"
        ))),
    };
    let action = match action {
        Ok(a) => a,
        Err(e) => return e.into_response(),
    };
    hub.act(who, request, move |core, who| {
        ops::incident_action(core, who, &id, action, Utc::now())
    })
    .await
}

/// `POST /v1/incidents/{id}/steps`.
pub async fn run_step(
    State(hub): State<AppState>,
    Allowed(who, _): Allowed<RunningSteps>,
    Path(id): Path<String>,
    request: Command<StepRequest>,
) -> Response {
    let Command { body, idempotent } = request;
    hub.act(who, idempotent, move |core, who| {
        steps::run_step(core, who, &id, body, Utc::now())
    })
    .await
}
