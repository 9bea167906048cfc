//! The hub's HTTP layer: shared state, extractors, the router and one file
//! of thin handlers per resource. A handler translates HTTP into one call
//! of the core and its answer back; what the call means lives in the core
//! (`ops`, `intake`, `inventory`, `handoff`).

pub mod agents;
pub mod alerts;
pub mod approvals;
pub mod controls;
pub mod extract;
pub mod grpc;
pub mod handoff;
pub mod history;
pub mod incidents;
pub mod ingest;
pub mod otlp;
pub mod reads;
pub mod stream;

use std::sync::{Arc, Mutex, PoisonError};

use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRequestParts, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use tokio::sync::mpsc;

use crate::model::api;

use super::archive::Archive;
use super::auth::Principal;
use super::core::{CallbackJob, Core};
use super::error::ApiError;
use super::ops;
use super::store::IdempotencyRecord;
use extract::{Caller, Idempotent};

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    /// The state, behind its one lock.
    pub core: Arc<Mutex<Core>>,
    /// History, audit pages and the chain check, read beside the core.
    pub archive: Arc<Archive>,
    /// Who may call (replaced by a reload).
    pub tokens: Arc<crate::hub::reload::LiveTokens>,
    /// The files a reload reads again (none for a hub built in code).
    pub config: Option<Arc<crate::hub::reload::ConfigSources>>,
    /// Callbacks to deliver.
    pub callbacks: mpsc::Sender<CallbackJob>,
    /// Turns `true` when the hub starts shutting down: open streams end
    /// then, so that the server's graceful shutdown does not wait for
    /// operators to disconnect.
    pub stopping: tokio::sync::watch::Receiver<bool>,
    /// Request body limit, which also bounds an inflated gzip body.
    pub max_body_bytes: usize,
    /// Trace exports being decoded or waiting for the core: each holds a
    /// decoded export in memory, so their number is bounded.
    pub ingest_slots: Arc<tokio::sync::Semaphore>,
}

/// Trace exports handled at once; more wait up to [`INGEST_WAIT`].
pub const INGEST_SLOTS: usize = 32;
/// How long a trace export waits for a slot before it gets `429`.
pub const INGEST_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

impl AppState {
    /// Runs `f` with the core locked, on the blocking pool (it may write
    /// to SQLite), then hands committed callbacks to the delivery task.
    pub async fn with_core<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Core) -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        let core = self.core.clone();
        let (value, jobs) = tokio::task::spawn_blocking(move || {
            let mut core = core.lock().unwrap_or_else(PoisonError::into_inner);
            let value = f(&mut core);
            (value, core.take_outbox())
        })
        .await
        .map_err(|e| ApiError::Internal(format!("request handler failed: {e}")))?;
        for job in jobs {
            if self.callbacks.try_send(job).is_err() {
                tracing::warn!("callback queue full; a callback was not queued");
            }
        }
        Ok(value)
    }

    /// Runs `f` on the archive's read-only connections, on the blocking
    /// pool, without the core's lock.
    pub async fn with_archive<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Archive) -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        let archive = self.archive.clone();
        tokio::task::spawn_blocking(move || f(&archive))
            .await
            .map_err(|e| ApiError::Internal(format!("request handler failed: {e}")))
    }

    /// A slot to decode and ingest one trace export in, or `429` when the
    /// hub has been busy with others for [`INGEST_WAIT`].
    pub async fn ingest_slot(&self) -> Result<tokio::sync::OwnedSemaphorePermit, ApiError> {
        let slots = self.ingest_slots.clone();
        match tokio::time::timeout(INGEST_WAIT, slots.acquire_owned()).await {
            Ok(Ok(permit)) => Ok(permit),
            _ => Err(ApiError::TooManyRequests(format!(
                "the hub is busy with {INGEST_SLOTS} exports; retry after the time Retry-After gives"
            ))),
        }
    }

    /// Runs an operator action exactly once per `Idempotency-Key`: a
    /// repeat gets the first answer; the same key on a different request
    /// gets 422. The answer is stored in the same transaction as the
    /// change.
    pub async fn act(
        &self,
        who: Principal,
        request: Idempotent,
        op: impl FnOnce(&mut Core, &Principal) -> ops::Outcome + Send + 'static,
    ) -> Response {
        let key = match request.key() {
            Ok(k) => k.map(str::to_string),
            Err(e) => return e.into_response(),
        };
        let fingerprint = request.fingerprint().to_string();
        let result = self
            .with_core(move |core| -> Result<(StatusCode, String), ApiError> {
                if let Some(k) = &key
                    && let Some(record) = core.store().idempotency(&who.name, k)?
                {
                    if record.fingerprint != fingerprint {
                        return Err(ApiError::Unprocessable(format!(
                            "Idempotency-Key {k:?} was already used for a different request"
                        )));
                    }
                    let status = StatusCode::from_u16(record.status).unwrap_or(StatusCode::OK);
                    return Ok((status, record.body));
                }
                let (status, answer, mut change) = op(core, &who)?;
                let body = answer.to_string();
                if let Some(k) = key {
                    change.batch.idempotency = Some(IdempotencyRecord {
                        principal: who.name.clone(),
                        key: k,
                        fingerprint,
                        status: status.as_u16(),
                        body: body.clone(),
                    });
                }
                core.commit(change)?;
                Ok((status, body))
            })
            .await;
        match result.and_then(|r| r) {
            Ok((status, body)) => json_response(status, body),
            Err(e) => e.into_response(),
        }
    }
}

/// A JSON answer from an already serialized body.
pub fn json_response(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// Builds the router: every path from [`crate::model::api`].
pub fn router(state: AppState, max_body_bytes: usize) -> Router {
    use agents as a;
    Router::new()
        .route(api::HEALTHZ.template(), get(reads::healthz))
        .route(api::METRICS.template(), get(reads::metrics))
        .route(api::RELOAD.template(), post(reads::reload))
        .route(api::EVENTS.template(), post(ingest::events))
        .route(api::TRACES.template(), post(ingest::traces))
        .route(api::LOGS.template(), post(ingest::logs))
        .route(api::METRICS_OTLP.template(), post(ingest::metrics))
        .route(api::STREAM.template(), get(stream::stream))
        .route(api::STATE.template(), get(reads::state))
        .route(api::ME.template(), get(reads::me))
        .route(api::AUDIT.template(), get(reads::audit))
        .route(api::AUDIT_VERIFY.template(), get(reads::audit_verify))
        .route(api::HISTORY_APPROVALS.template(), get(history::approvals))
        .route(api::HISTORY_INCIDENTS.template(), get(history::incidents))
        .route(api::HISTORY_CONTROLS.template(), get(history::controls))
        .route(api::RUNBOOKS.template(), get(reads::runbooks))
        .route(api::PRESENCE.template(), post(reads::presence))
        .route(api::APPROVAL_DECISION.template(), post(approvals::decide))
        .route(api::INCIDENTS.template(), post(incidents::open))
        .route(api::INCIDENT_STEPS.template(), post(incidents::run_step))
        .route(api::INCIDENT_ACTION.template(), post(incidents::work))
        .route(api::CONTROLS.template(), post(controls::apply))
        .route(api::CONTROL.template(), delete(controls::lift))
        .route(api::HANDOFF.template(), get(handoff::summary))
        .route(api::HANDOFF_NOTES.template(), post(handoff::note))
        .route(api::ALERTMANAGER.template(), post(alerts::alertmanager))
        .route(api::AGENTS.template(), get(a::list))
        .route(api::AGENT.template(), get(a::one).put(a::register))
        .route(api::AGENT_DETAIL.template(), get(a::detail))
        .route(api::AGENT_PERFORMANCE.template(), get(a::performance))
        .route(api::AGENT_RUNS.template(), get(a::runs))
        .route(api::AGENT_TOOLS.template(), get(a::tools))
        .route(api::AGENT_APPROVALS.template(), get(a::approval_metrics))
        .route(api::AGENT_CHANGES.template(), get(a::changes))
        .route(api::AGENT_CONTROLS.template(), get(a::controls))
        .route(api::AGENT_CALLBACK.template(), put(a::register_callback))
        .route(api::AGENT_APPROVAL.template(), get(a::approval))
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            move |State(state): State<AppState>, request: Request, next: Next| {
                read_bodies_of_callers(state, request, next, max_body_bytes)
            },
        ))
        .layer(axum::middleware::map_response(move |r: Response| {
            json_errors(r, max_body_bytes)
        }))
        .with_state(state.clone())
        // After the layers: gRPC carries its own limits and error codes.
        .merge(grpc::router(state))
}

/// Reads the body of a request with a valid token within the body limit
/// (see [`super::body`]); others go on unread, so that the route answers
/// `401` before looking at the body, as protocol.md §7.0 orders the checks.
async fn read_bodies_of_callers(
    state: AppState,
    request: Request,
    next: Next,
    max_body_bytes: usize,
) -> Response {
    let (mut parts, body) = request.into_parts();
    let known = Caller::from_request_parts(&mut parts, &state).await.is_ok();
    let request = Request::from_parts(parts, body);
    if known {
        super::body::read_within_limit(request, next, max_body_bytes).await
    } else {
        next.run(request).await
    }
}

/// Gives every error answer the JSON body clients expect, including the
/// plain-text ones axum's extractors produce (413 over the body limit, 400
/// for a bad query string, 405).
async fn json_errors(response: Response, max_body_bytes: usize) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            // Protobuf errors are OTLP's `google.rpc.Status`, already in
            // the encoding the exporter reads.
            [
                "application/json",
                "text/event-stream",
                "application/x-protobuf",
                "application/grpc",
            ]
            .iter()
            .any(|t| v.starts_with(t))
        });
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        return super::body::too_large(max_body_bytes).into_response();
    }
    let text = axum::body::to_bytes(response.into_body(), 4096)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .unwrap_or_default();
    let message = if text.is_empty() {
        status
            .canonical_reason()
            .unwrap_or("request refused")
            .to_string()
    } else {
        text
    };
    let body = crate::model::action::ErrorBody {
        error: message,
        needs: None,
        current: None,
    };
    (status, axum::Json(body)).into_response()
}
