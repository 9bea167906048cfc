//! Ingest: `POST /v1/events` (NDJSON envelopes) and the OTLP/HTTP exports
//! `POST /v1/traces`, `/v1/logs` and `/v1/metrics`. Bodies are decoded
//! before the core's lock is taken.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use chrono::Utc;

use crate::model::action::IngestResponse;

use super::super::error::ApiError;
use crate::ingest::otlp::Export;

use super::super::intake::{EventBatch, PartialSuccess, unused_signal};
use super::AppState;
use super::extract::{Allowed, SendingEvents, SendingTelemetry, SendingTraces};
use super::otlp::{Encoding, OtlpAnswer, OtlpBody, OtlpCaller, OtlpError, Signal};

/// `POST /v1/events`.
pub async fn events(
    State(hub): State<AppState>,
    Allowed(who, _): Allowed<SendingEvents>,
    body: Bytes,
) -> Result<Json<IngestResponse>, ApiError> {
    let now = Utc::now();
    // Decoding and packing a large body takes milliseconds: off the async
    // workers, which also serve the streams.
    let batch = tokio::task::spawn_blocking(move || EventBatch::decode(&who, &body, now))
        .await
        .map_err(|e| ApiError::Internal(format!("event decoder failed: {e}")))?;
    let answer = hub.with_core(move |core| batch.ingest(core, now)).await??;
    Ok(Json(answer))
}

/// `POST /v1/traces`: OTLP/HTTP, protobuf or JSON, gzip or not.
pub async fn traces(
    State(hub): State<AppState>,
    OtlpCaller(who, _): OtlpCaller<SendingTraces>,
    body: OtlpBody,
) -> Result<OtlpAnswer, OtlpError> {
    let encoding = body.encoding;
    let fail = |error| OtlpError { encoding, error };
    let _slot = hub.ingest_slot().await.map_err(fail)?;
    let now = Utc::now();
    let export = tokio::task::spawn_blocking(move || match encoding {
        Encoding::Protobuf => Export::from_protobuf(&body.bytes),
        Encoding::Json => Export::from_json(&body.bytes),
    })
    .await
    .map_err(|e| fail(ApiError::Internal(format!("trace decoder failed: {e}"))))?
    .map_err(|e| fail(ApiError::BadRequest(e)))?;
    let partial = hub
        .with_core(move |core| core.ingest_traces(&who, export, now))
        .await
        .and_then(|r| r.map_err(ApiError::from))
        .map_err(fail)?;
    Ok(OtlpAnswer {
        encoding,
        signal: Signal::Traces,
        partial,
    })
}

/// `POST /v1/logs`: read and acknowledged, not used.
pub async fn logs(
    OtlpCaller(_, _): OtlpCaller<SendingTelemetry>,
    body: OtlpBody,
) -> Result<OtlpAnswer, OtlpError> {
    unused(body, Signal::Logs)
}

/// `POST /v1/metrics`: read and acknowledged, not used.
pub async fn metrics(
    OtlpCaller(_, _): OtlpCaller<SendingTelemetry>,
    body: OtlpBody,
) -> Result<OtlpAnswer, OtlpError> {
    unused(body, Signal::Metrics)
}

fn unused(body: OtlpBody, signal: Signal) -> Result<OtlpAnswer, OtlpError> {
    let encoding = body.encoding;
    let name = match signal {
        Signal::Logs => "logs",
        _ => "metrics",
    };
    let message =
        unused_signal(&body.bytes, encoding == Encoding::Protobuf, name).map_err(|e| {
            OtlpError {
                encoding,
                error: ApiError::BadRequest(e),
            }
        })?;
    Ok(OtlpAnswer {
        encoding,
        signal,
        partial: PartialSuccess {
            rejected: 0,
            message,
        },
    })
}
