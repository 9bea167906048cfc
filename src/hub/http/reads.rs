//! Reads for operators: health, the state, who am I, the audit log and
//! its check, runbooks; and presence, what an operator is looking at.

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde::Deserialize;

use crate::model::action::{Me, PresenceRequest};
use crate::model::audit::{AuditChain, AuditOrder, AuditPage, AuditQuery};
use crate::model::role::Permission;
use crate::model::stream::Snapshot;
use crate::runbook::RunbookList;

use super::super::error::ApiError;
use super::AppState;
use super::extract::{
    Allowed, Caller, CheckingAudit, Command, ReadingAudit, ReadingRunbooks, ReadingState,
    SharingPresence, require,
};
use super::history::bad_parameter;

/// `GET /metrics`: the Prometheus text exposition format.
pub async fn metrics(
    State(hub): State<AppState>,
    Allowed(_, _): Allowed<super::extract::ReadingMetrics>,
) -> Result<Response, ApiError> {
    let text = hub
        .with_core(|core| core.prometheus_text(chrono::Utc::now()))
        .await?;
    Ok((
        StatusCode::OK,
        [(
            axum::http::header::CONTENT_TYPE,
            crate::hub::metrics::scrape::CONTENT_TYPE,
        )],
        text,
    )
        .into_response())
}

/// `POST /v1/reload`: reads the configuration files again; `200` with
/// what is in force, or `422` naming the file and line that kept the
/// previous configuration.
pub async fn reload(
    State(hub): State<AppState>,
    Allowed(who, _): Allowed<super::extract::Reloading>,
) -> Response {
    match crate::hub::reload::reload(&hub, &who.name).await {
        Ok(answer) => (StatusCode::OK, axum::Json(answer)).into_response(),
        Err(e) => ApiError::Unprocessable(format!(
            "configuration not reloaded, the previous one stays in force: {e}"
        ))
        .into_response(),
    }
}

/// `GET /healthz`: `200 ok`; `200 degraded: …` while storage refuses
/// writes (reads are still served, so a load balancer should keep sending
/// them) or a reload was refused (`degraded: config: …`); `503` when the
/// database is gone.
pub async fn healthz(State(hub): State<AppState>) -> Response {
    let health = hub
        .with_core(|core| {
            let store = core.store();
            (
                store.present(),
                store.write_failure().cloned(),
                core.config_error().cloned(),
            )
        })
        .await;
    let at =
        |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    match health {
        Ok((true, None, None)) => (StatusCode::OK, "ok\n").into_response(),
        Ok((true, Some((since, why)), _)) => (
            StatusCode::OK,
            format!(
                "degraded: {why} (since {}); reads are served, writes get 503\n",
                at(since)
            ),
        )
            .into_response(),
        Ok((true, None, Some((since, why)))) => (
            StatusCode::OK,
            format!(
                "degraded: config: {} (since {}); the previous configuration stays in force\n",
                why.replace('\n', " "),
                at(since)
            ),
        )
            .into_response(),
        _ => ApiError::Unavailable("database not open".into()).into_response(),
    }
}

/// `GET /v1/state`: the whole shared state.
pub async fn state(
    State(hub): State<AppState>,
    Allowed(_, _): Allowed<ReadingState>,
) -> Result<Json<Snapshot>, ApiError> {
    Ok(Json(hub.with_core(|core| core.snapshot(Utc::now())).await?))
}

/// `GET /v1/me`.
pub async fn me(Caller(who): Caller) -> Json<Me> {
    Json(Me {
        name: who.name,
        role: who.role,
    })
}

/// `GET /v1/audit?after=&before=&order=&limit=&actor=&kind=&agent=`:
/// oldest first from `after` (what followers of the log have always
/// read), or newest first down from `before` (what operators read).
pub async fn audit(
    State(hub): State<AppState>,
    Allowed(_, _): Allowed<ReadingAudit>,
    Query(q): Query<AuditQuery>,
) -> Result<Json<AuditPage>, ApiError> {
    q.check()
        .map_err(|(name, reason)| bad_parameter(name, reason))?;
    let newest = q.order() == AuditOrder::Newest;
    let limit = q.limit();
    // Newest first reads one entry more, to say whether an older page
    // exists.
    let read = q.clone();
    let mut entries = hub
        .with_archive(move |archive| {
            archive.read(|store| store.audit_page(&read, limit + usize::from(newest)))
        })
        .await??;
    let more = entries.len() > limit;
    entries.truncate(limit);
    let next_after = entries
        .iter()
        .map(|e| e.seq)
        .max()
        .unwrap_or(q.after.unwrap_or(0));
    let next_before = entries.last().map(|e| e.seq).filter(|_| newest && more);
    Ok(Json(AuditPage {
        entries,
        next_after,
        next_before,
    }))
}

/// Query of `GET /v1/audit/verify`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifyQuery {
    /// `1` (or `true`) walks the whole log again.
    #[serde(default)]
    pub full: Option<String>,
}

/// `GET /v1/audit/verify[?full=1]`: the chain's state, checked over the
/// entries written since the last check, or over the whole log for a lead
/// who asks (`403` for others).
pub async fn audit_verify(
    State(hub): State<AppState>,
    Allowed(who, _): Allowed<CheckingAudit>,
    Query(q): Query<VerifyQuery>,
) -> Result<Json<AuditChain>, ApiError> {
    let full = match q.full.as_deref() {
        None | Some("0" | "false") => false,
        Some("1" | "true") => true,
        Some(other) => return Err(bad_parameter("full", format!("{other:?} is not 1 or 0"))),
    };
    if full {
        require(
            &who,
            Permission::ReverifyAudit,
            "walking the whole audit log again (full=1)",
        )?;
    }
    let chain = hub
        .with_archive(move |archive| archive.check_chain(full, Utc::now()))
        .await??;
    Ok(Json(chain))
}

/// `GET /v1/runbooks`.
pub async fn runbooks(
    State(hub): State<AppState>,
    Allowed(_, _): Allowed<ReadingRunbooks>,
) -> Result<Json<RunbookList>, ApiError> {
    let list = hub
        .with_core(|core| RunbookList {
            runbooks: core.runbooks().all().to_vec(),
        })
        .await?;
    Ok(Json(list))
}

/// `POST /v1/presence`: `204`, or `409` when the operator has no live
/// stream to show presence on.
pub async fn presence(
    State(hub): State<AppState>,
    Allowed(who, _): Allowed<SharingPresence>,
    request: Command<PresenceRequest>,
) -> Result<StatusCode, ApiError> {
    let viewing = request.body.viewing;
    if let Some(v) = &viewing {
        crate::model::validate::id("viewing", v)
            .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    }
    let name = who.name.clone();
    if hub
        .with_core(move |core| core.set_viewing(&name, viewing))
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::Conflict {
            message: format!(
                "{} has no live stream: presence is shown for operators connected to /v1/stream",
                who.name
            ),
            current: serde_json::Value::Null,
        })
    }
}
