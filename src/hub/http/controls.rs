//! Containment: `POST /v1/controls`, `DELETE /v1/controls/{id}`.

use axum::extract::{Path, State};
use axum::response::Response;
use chrono::Utc;

use crate::model::action::ControlRequest;

use super::super::ops;
use super::AppState;
use super::extract::{Allowed, ApplyingControls, Command, Idempotent, LiftingControls};

/// Applies a control to one agent, or to every agent (leads only).
pub async fn apply(
    State(hub): State<AppState>,
    Allowed(who, _): Allowed<ApplyingControls>,
    request: Command<ControlRequest>,
) -> Response {
    let Command { body, idempotent } = request;
    hub.act(who, idempotent, move |core, who| {
        ops::create_control(core, who, body, Utc::now())
    })
    .await
}

/// Lifts a control (one's own, or anyone's for a lead).
pub async fn lift(
    State(hub): State<AppState>,
    Allowed(who, _): Allowed<LiftingControls>,
    Path(id): Path<String>,
    request: Idempotent,
) -> Response {
    hub.act(who, request, move |core, who| {
        ops::lift_control(core, who, &id, Utc::now())
    })
    .await
}
