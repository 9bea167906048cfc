//! Extractors that keep handlers thin: who calls ([`Caller`]), whether
//! their role may ([`Allowed`]), the JSON body with errors that name the
//! field at fault ([`Command`]) and the idempotency key with the request's
//! fingerprint ([`Idempotent`]). Axum runs them in argument order, which is
//! the order protocol.md §7.0 gives the checks: token (401), role (403),
//! body (400), idempotency key (400, 422).

use std::marker::PhantomData;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use crate::model::role::Permission;

use super::super::auth::Principal;
use super::super::error::ApiError;
use super::AppState;

/// The caller, from `Authorization: Bearer <token>`.
pub struct Caller(pub Principal);

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let header = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        bearer_caller(state, header).map(Caller)
    }
}

/// Who an `Authorization` value (HTTP header or gRPC metadata) names.
pub fn bearer_caller(state: &AppState, header: Option<&str>) -> Result<Principal, ApiError> {
    let header = header.ok_or_else(|| {
        ApiError::Unauthorized("missing Authorization: Bearer <token> header".into())
    })?;
    let token = header
        .strip_prefix("Bearer ")
        .ok_or_else(|| ApiError::Unauthorized("Authorization must be Bearer <token>".into()))?;
    state
        .tokens
        .authenticate(token.trim())
        .ok_or_else(|| ApiError::Unauthorized("unknown token".into()))
}

/// What an endpoint needs: a permission from the role table, and how the
/// refusal names what was refused.
pub trait Needs {
    /// The permission.
    const PERMISSION: Permission;
    /// What was refused, e.g. "deciding approvals".
    const WHAT: &'static str;
}

/// A caller whose role holds `N::PERMISSION`; others get `403` with the
/// roles that would.
pub struct Allowed<N>(pub Principal, pub PhantomData<N>);

impl<N: Needs> FromRequestParts<AppState> for Allowed<N> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Caller(who) = Caller::from_request_parts(parts, state).await?;
        require(&who, N::PERMISSION, N::WHAT)?;
        Ok(Self(who, PhantomData))
    }
}

/// `403` unless `who`'s role holds `permission`.
pub fn require(who: &Principal, permission: Permission, what: &str) -> Result<(), ApiError> {
    if permission.allows(who.role) {
        Ok(())
    } else {
        Err(ApiError::forbidden(what, permission.roles()))
    }
}

/// `403` unless `who` may act for `agent` (the agent itself, or a lead).
pub fn require_speaks_for(who: &Principal, agent: &str, what: &str) -> Result<(), ApiError> {
    if who.speaks_for(agent) {
        Ok(())
    } else {
        Err(ApiError::forbidden(what, Permission::ActForAgent.roles()))
    }
}

macro_rules! needs {
    ($($(#[$doc:meta])* $name:ident => $permission:ident, $what:literal;)*) => {
        $(
            $(#[$doc])*
            pub struct $name;

            impl Needs for $name {
                const PERMISSION: Permission = Permission::$permission;
                const WHAT: &'static str = $what;
            }
        )*
    };
}

needs! {
    /// Agents sending events.
    SendingEvents => Ingest, "sending events";
    /// Agents sending traces.
    SendingTraces => Ingest, "sending traces";
    /// Agents sending OTLP logs or metrics (accepted, not used).
    SendingTelemetry => Ingest, "sending telemetry";
    /// Reading the shared state.
    ReadingState => Read, "reading the state";
    /// Reading the live stream.
    ReadingStream => Read, "reading the stream";
    /// Reading the audit log.
    ReadingAudit => Read, "reading the audit log";
    /// Checking the audit log's chain.
    CheckingAudit => Read, "checking the audit log";
    /// Reading the history of approvals, incidents and controls.
    ReadingHistory => Read, "reading the history";
    /// Scraping metrics (Prometheus sends a viewer's bearer token).
    ReadingMetrics => Read, "reading metrics";
    /// Reading runbooks.
    ReadingRunbooks => Read, "reading runbooks";
    /// Sharing what an operator looks at.
    SharingPresence => Read, "sharing presence";
    /// Listing agents.
    ListingAgents => Read, "listing agents";
    /// Reading one agent's drill-down.
    ReadingAgent => Read, "reading an agent's drill-down";
    /// Reading the handoff summary.
    ReadingHandoff => Read, "reading the handoff summary";
    /// Deciding approvals.
    Deciding => Decide, "deciding approvals";
    /// Opening incidents by hand.
    OpeningIncidents => Respond, "opening incidents";
    /// Acknowledging, assigning, escalating, noting, resolving.
    WorkingIncidents => Respond, "working incidents";
    /// Running runbook steps.
    RunningSteps => RunStep, "running runbook steps";
    /// Applying containment.
    ApplyingControls => Contain, "applying controls";
    /// Lifting containment.
    LiftingControls => Contain, "lifting controls";
    /// Writing shift-handoff notes.
    WritingHandoffNotes => HandoffNote, "writing handoff notes";
    /// A lead reloading the configuration.
    Reloading => Reload, "reloading the hub's configuration";
    /// A monitoring system posting alerts.
    PostingAlerts => PostAlerts, "posting alerts";
}

/// The longest `Idempotency-Key` accepted.
pub const MAX_IDEMPOTENCY_KEY: usize = 200;

/// An action's idempotency: the `Idempotency-Key`, if sent, and the
/// request's fingerprint (method, path as sent, body digest), so that a
/// repeat gets the first answer and the same key on another request is
/// refused. The key is checked when the action runs, after the body.
pub struct Idempotent {
    key: Option<String>,
    fingerprint: String,
    body: Bytes,
}

impl Idempotent {
    /// The key, checked: `400` when empty or too long.
    pub fn key(&self) -> Result<Option<&str>, ApiError> {
        match &self.key {
            Some(k) if k.is_empty() || k.len() > MAX_IDEMPOTENCY_KEY => Err(ApiError::BadRequest(
                format!("Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} characters"),
            )),
            Some(k) => Ok(Some(k)),
            None => Ok(None),
        }
    }

    /// Method, path and body digest of the request.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// Parses the body as `T`, naming the field at fault.
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        parse(&self.body)
    }
}

impl<S: Send + Sync> FromRequest<S> for Idempotent {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let key = request
            .headers()
            .get("idempotency-key")
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        let fingerprint_head = format!("{} {}", request.method(), request.uri().path());
        let body = Bytes::from_request(request, state)
            .await
            .map_err(|e| ApiError::BadRequest(format!("cannot read the body: {e}")))?;
        let fingerprint = format!(
            "{fingerprint_head} {}",
            hex::encode(Sha256::digest(body.as_ref()))
        );
        Ok(Self {
            key,
            fingerprint,
            body,
        })
    }
}

/// An action with a JSON body of type `T`: `400` naming the field at fault
/// when the body does not parse.
pub struct Command<T> {
    /// The parsed body.
    pub body: T,
    /// The key and fingerprint.
    pub idempotent: Idempotent,
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Command<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let idempotent = Idempotent::from_request(request, state).await?;
        let body = idempotent.parse()?;
        Ok(Self { body, idempotent })
    }
}

/// A JSON body, naming the field at fault when it does not parse.
pub fn parse<T: DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    crate::ingest::json::from_slice(body)
        .map_err(|e| ApiError::BadRequest(format!("invalid body: {e}")))
}
