//! Alerts from the monitoring stack: `POST /v1/alerts/alertmanager`.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use chrono::Utc;

use crate::ingest::alertmanager::{self, Payload};

use super::super::alerts;
use super::super::error::ApiError;
use super::AppState;
use super::extract::{Allowed, Command, PostingAlerts};

/// `POST /v1/alerts/alertmanager`: Alertmanager's webhook payload
/// (version 4); firing alerts open or update incidents, resolved ones
/// resolve them.
pub async fn alertmanager(
    State(hub): State<AppState>,
    Allowed(who, _): Allowed<PostingAlerts>,
    request: Command<Payload>,
) -> Response {
    let Command { body, idempotent } = request;
    let checked = match alertmanager::check(body) {
        Ok(a) => a,
        Err(e) => return ApiError::BadRequest(e).into_response(),
    };
    hub.act(who, idempotent, move |core, who| {
        alerts::apply(core, who, checked, Utc::now())
    })
    .await
}
