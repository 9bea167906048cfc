//! Agents: the inventory and drill-downs operators read, and what an agent
//! does for itself (register, its callback, its controls, its approvals).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::model::agent::Agent;
use crate::model::approval::Approval;
use crate::model::control::Control;
use crate::model::profile::AgentProfile;
use crate::model::role::{Permission, Role};

use super::super::core::Core;
use super::super::error::ApiError;
use super::super::{inventory, ops};
use super::AppState;
use super::extract::{
    Allowed, Caller, Idempotent, ListingAgents, ReadingAgent, require_speaks_for,
};

/// Answer of `GET /v1/agents`.
#[derive(Debug, Serialize)]
pub struct AgentList {
    /// Every agent, seen or registered, by id.
    pub agents: Vec<Agent>,
}

/// `GET /v1/agents`.
pub async fn list(
    State(hub): State<AppState>,
    Allowed(_, _): Allowed<ListingAgents>,
) -> Result<Json<AgentList>, ApiError> {
    let agents = hub.with_core(|core| core.agents(Utc::now())).await?;
    Ok(Json(AgentList { agents }))
}

/// Runs a drill-down read of a known agent: `404` naming the agent when
/// the hub has never heard of it.
async fn read<T: Serialize + Send + 'static>(
    hub: &AppState,
    agent: String,
    f: impl FnOnce(&Core, &str, DateTime<Utc>) -> T + Send + 'static,
) -> Result<Json<T>, ApiError> {
    let answer = hub
        .with_core(move |core| {
            let now = Utc::now();
            if core.agent(&agent, now).is_none() {
                return Err(ApiError::NotFound(format!("no agent {agent:?}")));
            }
            Ok(f(core, &agent, now))
        })
        .await??;
    Ok(Json(answer))
}

/// One drill-down endpoint: `GET /v1/agents/{agent}/…` answered by `$f`.
macro_rules! drill_down {
    ($($(#[$doc:meta])* $name:ident => $f:expr;)*) => {
        $(
            $(#[$doc])*
            pub async fn $name(
                State(hub): State<AppState>,
                Allowed(_, _): Allowed<ReadingAgent>,
                Path(agent): Path<String>,
            ) -> Response {
                read(&hub, agent, $f).await.into_response()
            }
        )*
    };
}

drill_down! {
    /// `GET /v1/agents/{agent}`.
    one => |core: &Core, agent: &str, now| core.agent(agent, now);
    /// `GET /v1/agents/{agent}/detail`.
    detail => inventory::detail;
    /// `GET /v1/agents/{agent}/performance`.
    performance => inventory::performance;
    /// `GET /v1/agents/{agent}/tools`.
    tools => inventory::tool_rates;
    /// `GET /v1/agents/{agent}/approvals`.
    approval_metrics => inventory::approval_metrics;
    /// `GET /v1/agents/{agent}/changes`.
    changes => inventory::changes;
}

/// `GET /v1/agents/{agent}/runs/{slowest|costliest|failed}`.
pub async fn runs(
    State(hub): State<AppState>,
    Allowed(_, _): Allowed<ReadingAgent>,
    Path((agent, which)): Path<(String, String)>,
) -> Response {
    match which.as_str() {
        "slowest" | "costliest" => {
            let by_cost = which == "costliest";
            read(&hub, agent, move |core, agent, now| {
                inventory::top_runs(core, agent, by_cost, now)
            })
            .await
            .into_response()
        }
        "failed" => read(&hub, agent, |core, agent, _| {
            inventory::failed_runs(core, agent)
        })
        .await
        .into_response(),
        other => ApiError::NotFound(format!(
            "no run list {other:?} (slowest, costliest or failed)"
        ))
        .into_response(),
    }
}

/// `PUT /v1/agents/{agent}`: registers an agent's owners and profile.
pub async fn register(
    State(hub): State<AppState>,
    Caller(who): Caller,
    Path(agent): Path<String>,
    request: Idempotent,
) -> Response {
    if let Err(e) =
        require_speaks_for(&who, &agent, "registering an agent").and_then(|()| valid_agent(&agent))
    {
        return e.into_response();
    }
    let profile: AgentProfile = match request.parse() {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    hub.act(who, request, move |core, who| {
        inventory::register(core, who, &agent, profile, Utc::now())
    })
    .await
}

/// Body of `PUT /v1/agents/{agent}/callback`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallbackRequest {
    url: String,
}

/// `PUT /v1/agents/{agent}/callback`: where decisions and controls are
/// pushed, signed.
pub async fn register_callback(
    State(hub): State<AppState>,
    Caller(who): Caller,
    Path(agent): Path<String>,
    request: Idempotent,
) -> Response {
    if let Err(e) = require_speaks_for(&who, &agent, "registering an agent's callback")
        .and_then(|()| valid_agent(&agent))
    {
        return e.into_response();
    }
    let callback: CallbackRequest = match request.parse() {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    hub.act(who, request, move |core, who| {
        ops::register_callback(core, who, &agent, &callback.url, Utc::now())
    })
    .await
}

fn valid_agent(agent: &str) -> Result<(), ApiError> {
    crate::model::validate::id("agent", agent).map_err(|e| ApiError::BadRequest(e.to_string()))
}

/// Answer of `GET /v1/agents/{agent}/controls`.
#[derive(Debug, Serialize)]
struct AgentControls<'a> {
    agent: &'a str,
    controls: Vec<Control>,
}

/// `GET /v1/agents/{agent}/controls`: what binds the agent now, with an
/// `ETag` so that polling agents get `304` while nothing changed.
pub async fn controls(
    State(hub): State<AppState>,
    Caller(who): Caller,
    Path(agent): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if !who.speaks_for(&agent) {
        return Err(match who.role {
            Role::Agent => ApiError::Forbidden {
                message: format!(
                    "this token ({}) may read only its own agent's controls",
                    who.name
                ),
                needs: Permission::ActForAgent.roles().to_vec(),
            },
            _ => ApiError::forbidden(
                "reading an agent's controls",
                Permission::ActForAgent.roles(),
            ),
        });
    }
    let a = agent.clone();
    let controls = hub
        .with_core(move |core| core.controls_for(&a, Utc::now()))
        .await?;
    let body = serde_json::to_string(&AgentControls {
        agent: &agent,
        controls,
    })
    .map_err(|e| ApiError::Internal(format!("controls do not serialize: {e}")))?;
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
        return Ok((StatusCode::NOT_MODIFIED, [(header::ETAG, etag_value)]).into_response());
    }
    Ok((
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
        .into_response())
}

/// `GET /v1/agents/{agent}/approvals/{request_id}`: an agent asks how its
/// request was decided.
pub async fn approval(
    State(hub): State<AppState>,
    Caller(who): Caller,
    Path((agent, request_id)): Path<(String, String)>,
) -> Result<Json<Approval>, ApiError> {
    require_speaks_for(&who, &agent, "reading an agent's approvals")?;
    let key = (agent.clone(), request_id.clone());
    hub.with_core(move |core| core.approval_by_request(&key))
        .await??
        .map(Json)
        .ok_or_else(|| {
            ApiError::NotFound(format!("no approval request {request_id:?} from {agent}"))
        })
}
