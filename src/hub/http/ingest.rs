//! Ingest: `POST /v1/events` (NDJSON envelopes) and `POST /v1/traces`
//! (OTLP/JSON). Bodies are decoded before the core's lock is taken.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use chrono::Utc;

use crate::model::action::IngestResponse;

use super::super::error::ApiError;
use super::super::intake::{EventBatch, TraceBatch};
use super::AppState;
use super::extract::{Allowed, SendingEvents, SendingTraces};

/// `POST /v1/events`.
pub async fn events(
    State(hub): State<AppState>,
    Allowed(who, _): Allowed<SendingEvents>,
    body: Bytes,
) -> Result<Json<IngestResponse>, ApiError> {
    let now = Utc::now();
    let batch = EventBatch::decode(&who, &body, now);
    let answer = hub.with_core(move |core| batch.ingest(core, now)).await??;
    Ok(Json(answer))
}

/// `POST /v1/traces`.
pub async fn traces(
    State(hub): State<AppState>,
    Allowed(who, _): Allowed<SendingTraces>,
    body: Bytes,
) -> Result<Json<serde_json::Value>, ApiError> {
    let now = Utc::now();
    let batch = TraceBatch::decode(&who, &body, now).map_err(ApiError::BadRequest)?;
    let answer = hub.with_core(move |core| batch.ingest(core, now)).await??;
    Ok(Json(answer))
}
