//! HTTP routes: authentication, role checks, body parsing, idempotency, and
//! hand-off to the core on the blocking pool.

use std::sync::{Arc, Mutex, PoisonError};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequestParts, Path, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

use crate::model::action::{
    ControlRequest, DecisionRequest, IngestResponse, LineError, OpenIncidentRequest,
    PresenceRequest,
};
use crate::model::role::Role;

use super::auth::{Principal, TokenStore};
use super::core::{CallbackJob, Core};
use super::error::ApiError;
use super::ops::{self, IncidentAction};
use super::store::IdempotencyRecord;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    /// The state, behind its one lock.
    pub core: Arc<Mutex<Core>>,
    /// Who may call.
    pub tokens: Arc<TokenStore>,
    /// Callbacks to deliver.
    pub callbacks: mpsc::Sender<CallbackJob>,
    /// Turns `true` when the hub starts shutting down: open streams end
    /// then, so that the server's graceful shutdown does not wait for
    /// operators to disconnect.
    pub stopping: tokio::sync::watch::Receiver<bool>,
}

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
}

/// The caller, from `Authorization: Bearer <token>`.
pub struct Caller(pub Principal);

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let header = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| {
                ApiError::Unauthorized("missing Authorization: Bearer <token> header".into())
            })?;
        let token = header
            .strip_prefix("Bearer ")
            .ok_or_else(|| ApiError::Unauthorized("Authorization must be Bearer <token>".into()))?;
        state
            .tokens
            .authenticate(token.trim())
            .map(Caller)
            .ok_or_else(|| ApiError::Unauthorized("unknown token".into()))
    }
}

fn require(who: &Principal, what: &str, allowed: &[Role]) -> Result<(), ApiError> {
    if allowed.contains(&who.role) {
        Ok(())
    } else {
        Err(ApiError::forbidden(what, allowed))
    }
}

/// Roles of people.
pub const OPERATORS: &[Role] = &[Role::Viewer, Role::Responder, Role::Approver, Role::Lead];
/// Roles that work incidents and apply containment.
pub const RESPONDERS: &[Role] = &[Role::Responder, Role::Lead];
/// Roles that decide approvals.
pub const APPROVERS: &[Role] = &[Role::Approver, Role::Lead];

fn parse<T: DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    // Names the field at fault, not just a line and column.
    crate::ingest::json::from_slice(body)
        .map_err(|e| ApiError::BadRequest(format!("invalid body: {e}")))
}

fn json_response(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// Runs an operator action exactly once per `Idempotency-Key`: a repeat
/// gets the first answer; the same key on a different request gets 422.
async fn action(
    state: &AppState,
    who: Principal,
    headers: &HeaderMap,
    method: &Method,
    path: &str,
    body: &Bytes,
    op: impl FnOnce(&mut Core, &Principal) -> ops::Outcome + Send + 'static,
) -> Response {
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    if let Some(k) = &key
        && (k.is_empty() || k.len() > 200)
    {
        return ApiError::BadRequest("Idempotency-Key must be 1 to 200 characters".into())
            .into_response();
    }
    let fingerprint = format!(
        "{method} {path} {}",
        hex::encode(Sha256::digest(body.as_ref()))
    );
    let result = state
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

/// Builds the router.
pub fn router(state: AppState, max_body_bytes: usize) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/v1/events", post(ingest_events))
        .route("/v1/traces", post(ingest_traces))
        .route("/v1/stream", get(super::stream::stream))
        .route("/v1/state", get(get_state))
        .route("/v1/me", get(whoami))
        .route("/v1/audit", get(get_audit))
        .route("/v1/approvals/{id}/decision", post(decide))
        .route("/v1/incidents", post(open_incident))
        .route("/v1/incidents/{id}/steps", post(run_step))
        .route("/v1/incidents/{id}/{action}", post(incident_action))
        .route("/v1/runbooks", get(get_runbooks))
        .route("/v1/controls", post(create_control))
        .route("/v1/controls/{id}", delete(lift_control))
        .route("/v1/presence", post(presence))
        .route("/v1/agents", get(list_agents))
        .route("/v1/agents/{agent}", get(get_agent).put(register_agent))
        .route("/v1/agents/{agent}/detail", get(agent_detail))
        .route("/v1/agents/{agent}/performance", get(agent_performance))
        .route("/v1/agents/{agent}/runs/{which}", get(agent_runs))
        .route("/v1/agents/{agent}/tools", get(agent_tools))
        .route("/v1/agents/{agent}/approvals", get(agent_approval_metrics))
        .route("/v1/agents/{agent}/changes", get(agent_changes))
        .route("/v1/agents/{agent}/controls", get(agent_controls))
        .route("/v1/agents/{agent}/callback", put(register_callback))
        .route(
            "/v1/agents/{agent}/approvals/{request_id}",
            get(agent_approval),
        )
        .route("/v1/handoff", get(get_handoff))
        .route("/v1/handoff/notes", post(post_handoff_note))
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
        .with_state(state)
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
        .is_some_and(|v| v.starts_with("application/json") || v.starts_with("text/event-stream"));
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

/// `200 ok`; `200 degraded: …` while storage refuses writes (reads are still
/// served, so a load balancer should keep sending them); `503` when the
/// database is gone.
async fn healthz(State(state): State<AppState>) -> Response {
    let health = state
        .with_core(|core| {
            let store = core.store();
            (store.path().exists(), store.write_failure().cloned())
        })
        .await;
    match health {
        Ok((true, None)) => (StatusCode::OK, "ok\n").into_response(),
        Ok((true, Some((since, why)))) => (
            StatusCode::OK,
            format!(
                "degraded: {why} (since {}); reads are served, writes get 503\n",
                since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            ),
        )
            .into_response(),
        _ => ApiError::Unavailable("database not open".into()).into_response(),
    }
}

async fn ingest_events(
    State(state): State<AppState>,
    Caller(who): Caller,
    body: Bytes,
) -> Response {
    if let Err(e) = require(&who, "sending events", &[Role::Agent]) {
        return e.into_response();
    }
    let now = Utc::now();
    let (good, bad) = crate::ingest::ndjson::decode_body(&body, now);
    let mut rejected: Vec<LineError> = bad
        .into_iter()
        .map(|(line, error)| LineError { line, error })
        .collect();
    // Line numbers of the good lines, to report engine refusals by line.
    let numbers: Vec<u64> = crate::ingest::ndjson::lines(&body)
        .map(|(n, _)| n)
        .filter(|n| !rejected.iter().any(|r| r.line == *n))
        .collect();
    let mut allowed = Vec::with_capacity(good.len());
    for (i, item) in good.into_iter().enumerate() {
        if who.speaks_for(&item.0.agent) {
            allowed.push((numbers.get(i).copied().unwrap_or(0), item));
        } else {
            rejected.push(LineError {
                line: numbers.get(i).copied().unwrap_or(0),
                error: format!(
                    "this token ({}) may not send events for agent {:?}",
                    who.name, item.0.agent
                ),
            });
        }
    }
    let lines: Vec<u64> = allowed.iter().map(|(n, _)| *n).collect();
    let events: Vec<_> = allowed.into_iter().map(|(_, e)| e).collect();
    let result = state.with_core(move |core| core.ingest(events, now)).await;
    match result {
        Ok(Ok(outcome)) => {
            for (i, reason) in outcome.refused {
                rejected.push(LineError {
                    line: lines.get(i).copied().unwrap_or(0),
                    error: reason,
                });
            }
            rejected.sort_by_key(|r| r.line);
            let status = StatusCode::OK;
            (
                status,
                axum::Json(IngestResponse {
                    accepted: outcome.accepted,
                    duplicates: outcome.duplicates,
                    rejected,
                }),
            )
                .into_response()
        }
        Ok(Err(e)) => ApiError::from(e).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn ingest_traces(
    State(state): State<AppState>,
    Caller(who): Caller,
    body: Bytes,
) -> Response {
    if let Err(e) = require(&who, "sending traces", &[Role::Agent]) {
        return e.into_response();
    }
    let mapped = match crate::ingest::otlp::map_export(&body) {
        Ok(m) => m,
        Err(e) => return ApiError::BadRequest(e).into_response(),
    };
    let now = Utc::now();
    let mut rejected = mapped.rejected_spans;
    let mut errors = mapped.errors;
    let mut events = Vec::new();
    let mut spans_of = Vec::new();
    for (env, spans) in mapped.envelopes.into_iter().zip(mapped.envelope_spans) {
        if !who.speaks_for(&env.agent) {
            rejected += spans;
            errors.push(format!(
                "this token may not send traces for agent {:?}",
                env.agent
            ));
            continue;
        }
        if let Err(e) = crate::ingest::ndjson::check_time(&env, now) {
            rejected += spans;
            errors.push(e.to_string());
            continue;
        }
        let line = env.to_line();
        events.push((env, line));
        spans_of.push(spans);
    }
    let result = state.with_core(move |core| core.ingest(events, now)).await;
    match result {
        Ok(Ok(outcome)) => {
            for (i, e) in outcome.refused {
                rejected += spans_of.get(i).copied().unwrap_or(1);
                errors.push(e);
            }
            let mut message = errors.into_iter().take(3).collect::<Vec<_>>().join("; ");
            if mapped.ignored_spans > 0 {
                if !message.is_empty() {
                    message.push_str("; ");
                }
                message.push_str(&format!(
                    "{} spans carried no agent run or model call to map and were ignored",
                    mapped.ignored_spans
                ));
            }
            let body = if rejected == 0 && message.is_empty() {
                serde_json::json!({})
            } else {
                serde_json::json!({"partialSuccess": {
                    "rejectedSpans": rejected.to_string(),
                    "errorMessage": message,
                }})
            };
            (StatusCode::OK, axum::Json(body)).into_response()
        }
        Ok(Err(e)) => ApiError::from(e).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn get_state(State(state): State<AppState>, Caller(who): Caller) -> Response {
    if let Err(e) = require(&who, "reading the state", OPERATORS) {
        return e.into_response();
    }
    match state.with_core(|core| core.snapshot(Utc::now())).await {
        Ok(s) => axum::Json(s).into_response(),
        Err(e) => e.into_response(),
    }
}

/// Query of `GET /v1/audit`.
#[derive(Debug, Deserialize)]
pub struct AuditQuery {
    /// Entries after this sequence number.
    #[serde(default)]
    pub after: u64,
    /// At most this many (default 100, at most 1,000).
    #[serde(default)]
    pub limit: Option<usize>,
}

async fn get_audit(
    State(state): State<AppState>,
    Caller(who): Caller,
    Query(q): Query<AuditQuery>,
) -> Response {
    if let Err(e) = require(&who, "reading the audit log", OPERATORS) {
        return e.into_response();
    }
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let result = state
        .with_core(move |core| core.store().audit_after(q.after, limit))
        .await;
    match result {
        Ok(Ok(entries)) => {
            let next = entries.last().map(|e| e.seq).unwrap_or(q.after);
            axum::Json(serde_json::json!({"entries": entries, "next_after": next})).into_response()
        }
        Ok(Err(e)) => ApiError::from(e).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn decide(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<String>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(e) = require(&who, "deciding approvals", APPROVERS) {
        return e.into_response();
    }
    let req: DecisionRequest = match parse(&body) {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    let path = format!("/v1/approvals/{id}/decision");
    action(
        &state,
        who,
        &headers,
        &method,
        &path,
        &body,
        move |core, who| ops::decide(core, who, &id, req, Utc::now()),
    )
    .await
}

async fn open_incident(
    State(state): State<AppState>,
    Caller(who): Caller,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(e) = require(&who, "opening incidents", RESPONDERS) {
        return e.into_response();
    }
    let req: OpenIncidentRequest = match parse(&body) {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    action(
        &state,
        who,
        &headers,
        &method,
        "/v1/incidents",
        &body,
        move |core, who| ops::open_incident(core, who, req, Utc::now()),
    )
    .await
}

async fn incident_action(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path((id, name)): Path<(String, String)>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(e) = require(&who, "working incidents", RESPONDERS) {
        return e.into_response();
    }
    let parsed = match name.as_str() {
        "ack" => Ok(IncidentAction::Ack),
        "assign" => parse(&body).map(IncidentAction::Assign),
        "escalate" => parse(&body).map(IncidentAction::Escalate),
        "note" => parse(&body).map(IncidentAction::Note),
        "resolve" => parse(&body).map(IncidentAction::Resolve),
        other => {
            return ApiError::NotFound(format!(
                "no incident action {other:?} (ack, assign, escalate, note, resolve)"
            ))
            .into_response();
        }
    };
    let act = match parsed {
        Ok(a) => a,
        Err(e) => return e.into_response(),
    };
    let path = format!("/v1/incidents/{id}/{name}");
    action(
        &state,
        who,
        &headers,
        &method,
        &path,
        &body,
        move |core, who| ops::incident_action(core, who, &id, act, Utc::now()),
    )
    .await
}

async fn run_step(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<String>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(e) = require(&who, "running runbook steps", RESPONDERS) {
        return e.into_response();
    }
    let req: crate::runbook::StepRequest = match parse(&body) {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    let path = format!("/v1/incidents/{id}/steps");
    action(
        &state,
        who,
        &headers,
        &method,
        &path,
        &body,
        move |core, who| ops::run_step(core, who, &id, req, Utc::now()),
    )
    .await
}

async fn get_runbooks(State(state): State<AppState>, Caller(who): Caller) -> Response {
    if let Err(e) = require(&who, "reading runbooks", OPERATORS) {
        return e.into_response();
    }
    match state
        .with_core(|core| crate::runbook::RunbookList {
            runbooks: core.runbooks().all().to_vec(),
        })
        .await
    {
        Ok(list) => axum::Json(list).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn create_control(
    State(state): State<AppState>,
    Caller(who): Caller,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(e) = require(&who, "applying controls", RESPONDERS) {
        return e.into_response();
    }
    let req: ControlRequest = match parse(&body) {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    action(
        &state,
        who,
        &headers,
        &method,
        "/v1/controls",
        &body,
        move |core, who| ops::create_control(core, who, req, Utc::now()),
    )
    .await
}

async fn lift_control(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<String>,
    method: Method,
    headers: HeaderMap,
) -> Response {
    if let Err(e) = require(&who, "lifting controls", RESPONDERS) {
        return e.into_response();
    }
    let path = format!("/v1/controls/{id}");
    action(
        &state,
        who,
        &headers,
        &method,
        &path,
        &Bytes::new(),
        move |core, who| ops::lift_control(core, who, &id, Utc::now()),
    )
    .await
}

async fn presence(State(state): State<AppState>, Caller(who): Caller, body: Bytes) -> Response {
    if let Err(e) = require(&who, "sharing presence", OPERATORS) {
        return e.into_response();
    }
    let req: PresenceRequest = match parse(&body) {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    if let Some(v) = &req.viewing
        && let Err(e) = crate::model::validate::id("viewing", v)
    {
        return ApiError::BadRequest(e.to_string()).into_response();
    }
    let name = who.name.clone();
    match state
        .with_core(move |core| core.set_viewing(&name, req.viewing))
        .await
    {
        Ok(true) => StatusCode::NO_CONTENT.into_response(),
        Ok(false) => ApiError::Conflict {
            message: format!(
                "{} has no live stream: presence is shown for operators connected to /v1/stream",
                who.name
            ),
            current: serde_json::Value::Null,
        }
        .into_response(),
        Err(e) => e.into_response(),
    }
}

async fn list_agents(State(state): State<AppState>, Caller(who): Caller) -> Response {
    if let Err(e) = require(&who, "listing agents", OPERATORS) {
        return e.into_response();
    }
    match state
        .with_core(|core| serde_json::json!({"agents": core.agents(Utc::now())}))
        .await
    {
        Ok(body) => axum::Json(body).into_response(),
        Err(e) => e.into_response(),
    }
}

/// Runs a drill-down read for a known agent: operators only, 404 naming
/// the agent when the hub has never heard of it.
async fn agent_read<T: serde::Serialize + Send + 'static>(
    state: &AppState,
    who: &Principal,
    agent: String,
    f: impl FnOnce(&Core, &str, DateTime<Utc>) -> T + Send + 'static,
) -> Response {
    if let Err(e) = require(who, "reading an agent's drill-down", OPERATORS) {
        return e.into_response();
    }
    let answer = state
        .with_core(move |core| {
            let now = Utc::now();
            if core.agent(&agent, now).is_none() {
                return Err(ApiError::NotFound(format!("no agent {agent:?}")));
            }
            Ok(f(core, &agent, now))
        })
        .await;
    match answer.and_then(|r| r) {
        Ok(body) => axum::Json(body).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn get_agent(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(agent): Path<String>,
) -> Response {
    agent_read(&state, &who, agent, |core, agent, now| {
        core.agent(agent, now)
    })
    .await
}

async fn agent_detail(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(agent): Path<String>,
) -> Response {
    agent_read(&state, &who, agent, super::inventory::detail).await
}

async fn agent_performance(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(agent): Path<String>,
) -> Response {
    agent_read(&state, &who, agent, super::inventory::performance).await
}

async fn agent_runs(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path((agent, which)): Path<(String, String)>,
) -> Response {
    match which.as_str() {
        "slowest" | "costliest" => {
            let by_cost = which == "costliest";
            agent_read(&state, &who, agent, move |core, agent, now| {
                super::inventory::top_runs(core, agent, by_cost, now)
            })
            .await
        }
        "failed" => {
            agent_read(&state, &who, agent, |core, agent, _| {
                super::inventory::failed_runs(core, agent)
            })
            .await
        }
        other => ApiError::NotFound(format!(
            "no run list {other:?} (slowest, costliest or failed)"
        ))
        .into_response(),
    }
}

async fn agent_tools(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(agent): Path<String>,
) -> Response {
    agent_read(&state, &who, agent, super::inventory::tool_rates).await
}

async fn agent_approval_metrics(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(agent): Path<String>,
) -> Response {
    agent_read(&state, &who, agent, super::inventory::approval_metrics).await
}

async fn agent_changes(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(agent): Path<String>,
) -> Response {
    agent_read(&state, &who, agent, super::inventory::changes).await
}

async fn register_agent(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(agent): Path<String>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !who.speaks_for(&agent) {
        return ApiError::forbidden("registering an agent", &[Role::Agent, Role::Lead])
            .into_response();
    }
    if let Err(e) = crate::model::validate::id("agent", &agent) {
        return ApiError::BadRequest(e.to_string()).into_response();
    }
    let profile: crate::model::profile::AgentProfile = match parse(&body) {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    let path = format!("/v1/agents/{agent}");
    action(
        &state,
        who,
        &headers,
        &method,
        &path,
        &body,
        move |core, who| super::inventory::register(core, who, &agent, profile, Utc::now()),
    )
    .await
}

async fn agent_controls(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(agent): Path<String>,
    headers: HeaderMap,
) -> Response {
    if !who.speaks_for(&agent) {
        return match who.role {
            Role::Agent => ApiError::Forbidden {
                message: format!(
                    "this token ({}) may read only its own agent's controls",
                    who.name
                ),
                needs: vec![Role::Agent, Role::Lead],
            },
            _ => ApiError::forbidden("reading an agent's controls", &[Role::Agent, Role::Lead]),
        }
        .into_response();
    }
    let a = agent.clone();
    let controls = match state
        .with_core(move |core| core.controls_for(&a, Utc::now()))
        .await
    {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    let body = serde_json::json!({"agent": agent, "controls": controls}).to_string();
    let etag = format!(
        "\"{}\"",
        &hex::encode(Sha256::digest(body.as_bytes()))[..32]
    );
    let matches = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let etag_value = HeaderValue::from_str(&etag).unwrap_or(HeaderValue::from_static("\"\""));
    if matches {
        return (StatusCode::NOT_MODIFIED, [(header::ETAG, etag_value)]).into_response();
    }
    (
        StatusCode::OK,
        [
            (header::ETAG, etag_value),
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
        ],
        body,
    )
        .into_response()
}

/// Body of `PUT /v1/agents/{agent}/callback`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CallbackRequest {
    url: String,
}

async fn register_callback(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(agent): Path<String>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !who.speaks_for(&agent) {
        return ApiError::forbidden(
            "registering an agent's callback",
            &[Role::Agent, Role::Lead],
        )
        .into_response();
    }
    if let Err(e) = crate::model::validate::id("agent", &agent) {
        return ApiError::BadRequest(e.to_string()).into_response();
    }
    let req: CallbackRequest = match parse(&body) {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    let path = format!("/v1/agents/{agent}/callback");
    action(
        &state,
        who,
        &headers,
        &method,
        &path,
        &body,
        move |core, who| ops::register_callback(core, who, &agent, &req.url, Utc::now()),
    )
    .await
}

async fn agent_approval(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path((agent, request_id)): Path<(String, String)>,
) -> Response {
    if !who.speaks_for(&agent) {
        return ApiError::forbidden("reading an agent's approvals", &[Role::Agent, Role::Lead])
            .into_response();
    }
    let key = (agent.clone(), request_id.clone());
    let found = state
        .with_core(move |core| {
            core.desk
                .approval_keys
                .get(&key)
                .and_then(|id| core.desk.approvals.get(id))
                .cloned()
        })
        .await;
    match found {
        Ok(Some(a)) => axum::Json(a).into_response(),
        Ok(None) => ApiError::NotFound(format!("no approval request {request_id:?} from {agent}"))
            .into_response(),
        Err(e) => e.into_response(),
    }
}

async fn whoami(Caller(who): Caller) -> Response {
    axum::Json(crate::model::action::Me {
        name: who.name,
        role: who.role,
    })
    .into_response()
}

/// Query of `GET /v1/handoff`.
#[derive(Debug, Deserialize)]
pub struct HandoffQuery {
    /// Start of the shift, RFC 3339 (default: `to` − 8 h).
    #[serde(default)]
    pub from: Option<String>,
    /// End of the shift, RFC 3339 (default: now).
    #[serde(default)]
    pub to: Option<String>,
    /// `markdown` for the Markdown summary, `json` (the default) for JSON.
    #[serde(default)]
    pub format: Option<String>,
}

fn query_time(name: &str, value: &Option<String>) -> Result<Option<DateTime<Utc>>, ApiError> {
    match value {
        None => Ok(None),
        Some(v) => chrono::DateTime::parse_from_rfc3339(v)
            .map(|t| Some(t.with_timezone(&Utc)))
            .map_err(|e| {
                ApiError::BadRequest(format!(
                    "parameter {name:?}: {v:?} is not an RFC 3339 time ({e}), e.g. 2026-11-21T08:00:00Z"
                ))
            }),
    }
}

/// Reads the shift window of a handoff request: `to` defaults to now and
/// `from` to `to` − 8 h; `from` must come before `to`.
fn handoff_window(
    q: &HandoffQuery,
    now: DateTime<Utc>,
) -> Result<crate::handoff::Window, ApiError> {
    let to = query_time("to", &q.to)?.unwrap_or(now);
    let from = query_time("from", &q.from)?
        .unwrap_or(to - chrono::Duration::seconds(crate::handoff::DEFAULT_SHIFT_S));
    if from >= to {
        return Err(ApiError::BadRequest(format!(
            "parameter \"from\" ({from}) must be before \"to\" ({to})"
        )));
    }
    Ok(crate::handoff::Window { from, to })
}

async fn get_handoff(
    State(state): State<AppState>,
    Caller(who): Caller,
    Query(q): Query<HandoffQuery>,
    headers: HeaderMap,
) -> Response {
    if let Err(e) = require(&who, "reading the handoff summary", OPERATORS) {
        return e.into_response();
    }
    let markdown = match q.format.as_deref() {
        Some("markdown" | "md") => true,
        Some("json") => false,
        Some(other) => {
            return ApiError::BadRequest(format!(
                "parameter \"format\": {other:?} is not markdown or json"
            ))
            .into_response();
        }
        None => headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("text/markdown")),
    };
    let now = Utc::now();
    let window = match handoff_window(&q, now) {
        Ok(w) => w,
        Err(e) => return e.into_response(),
    };
    let result = state
        .with_core(move |core| {
            let incidents: Vec<_> = core.desk.incidents.values().cloned().collect();
            let approvals: Vec<_> = core.desk.approvals.values().cloned().collect();
            let controls: Vec<_> = core.desk.controls.values().cloned().collect();
            let slos: Vec<_> = core
                .engine
                .statuses(now)
                .into_iter()
                .map(|status| crate::handoff::SloNow {
                    budget_burned: core.engine.budget_burned(
                        &status.series,
                        window.from,
                        window.to,
                        now,
                    ),
                    status,
                })
                .collect();
            crate::handoff::summarize(
                window,
                &incidents,
                &approvals,
                &controls,
                &slos,
                &core.desk.handoff_notes,
                now,
            )
        })
        .await;
    match result {
        Ok(h) if markdown => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/markdown; charset=utf-8")],
            crate::handoff::to_markdown(&h),
        )
            .into_response(),
        Ok(h) => axum::Json(h).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn post_handoff_note(
    State(state): State<AppState>,
    Caller(who): Caller,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(e) = require(&who, "writing handoff notes", &[Role::Lead]) {
        return e.into_response();
    }
    let req: crate::handoff::NoteRequest = match parse(&body) {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    action(
        &state,
        who,
        &headers,
        &method,
        "/v1/handoff/notes",
        &body,
        move |core, who| {
            req.validate().map_err(ApiError::BadRequest)?;
            let now = Utc::now();
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
                serde_json::json!({"text": note.text}),
            );
            let answer = serde_json::to_value(&note).unwrap_or_default();
            change.batch.handoff_notes.push(note);
            Ok((StatusCode::CREATED, answer, change))
        },
    )
    .await
}
