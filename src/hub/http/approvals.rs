//! `POST /v1/approvals/{id}/decision`.

use axum::extract::{Path, State};
use axum::response::Response;
use chrono::Utc;

use crate::model::action::DecisionRequest;

use super::super::ops;
use super::AppState;
use super::extract::{Allowed, Command, Deciding};

/// Decides an approval; the first decision wins, a late one gets `409`.
pub async fn decide(
    State(hub): State<AppState>,
    Allowed(who, _): Allowed<Deciding>,
    Path(id): Path<String>,
    request: Command<DecisionRequest>,
) -> Response {
    let Command { body, idempotent } = request;
    hub.act(who, idempotent, move |core, who| {
        ops::decide(core, who, &id, body, Utc::now())
    })
    .await
}
