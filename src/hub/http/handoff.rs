//! The shift handoff: `GET /v1/handoff`, `POST /v1/handoff/notes`.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::handoff::{NoteRequest, Window};

use super::super::error::ApiError;
use super::super::ops;
use super::AppState;
use super::extract::{Allowed, Command, ReadingHandoff, WritingHandoffNotes};

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
fn window(q: &HandoffQuery, now: DateTime<Utc>) -> Result<Window, ApiError> {
    let to = query_time("to", &q.to)?.unwrap_or(now);
    let from = query_time("from", &q.from)?
        .unwrap_or(to - chrono::Duration::seconds(crate::handoff::DEFAULT_SHIFT_S));
    if from >= to {
        return Err(ApiError::BadRequest(format!(
            "parameter \"from\" ({from}) must be before \"to\" ({to})"
        )));
    }
    Ok(Window { from, to })
}

/// Markdown when `format=markdown` (or `md`), or when no format is given
/// and the client accepts `text/markdown`; JSON otherwise.
fn wants_markdown(q: &HandoffQuery, headers: &HeaderMap) -> Result<bool, ApiError> {
    match q.format.as_deref() {
        Some("markdown" | "md") => Ok(true),
        Some("json") => Ok(false),
        Some(other) => Err(ApiError::BadRequest(format!(
            "parameter \"format\": {other:?} is not markdown or json"
        ))),
        None => Ok(headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("text/markdown"))),
    }
}

/// `GET /v1/handoff`: the summary of a shift.
pub async fn summary(
    State(hub): State<AppState>,
    Allowed(_, _): Allowed<ReadingHandoff>,
    Query(q): Query<HandoffQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let markdown = wants_markdown(&q, &headers)?;
    let now = Utc::now();
    let window = window(&q, now)?;
    let summary = hub.with_core(move |core| core.handoff(window, now)).await?;
    Ok(if markdown {
        (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/markdown; charset=utf-8")],
            crate::handoff::to_markdown(&summary),
        )
            .into_response()
    } else {
        axum::Json(summary).into_response()
    })
}

/// `POST /v1/handoff/notes`: a note for the next shift.
pub async fn note(
    State(hub): State<AppState>,
    Allowed(who, _): Allowed<WritingHandoffNotes>,
    request: Command<NoteRequest>,
) -> Response {
    let Command { body, idempotent } = request;
    hub.act(who, idempotent, move |core, who| {
        ops::handoff_note(core, who, body, Utc::now())
    })
    .await
}
