//! The shift handoff: `GET /v1/handoff`, `POST /v1/handoff/notes`.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::handoff::{Format, NoteRequest, Window};

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
    /// `markdown` (or `md`), `text` or `json`; without it, JSON unless the
    /// client accepts `text/markdown`.
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

/// The format asked for: the `format` parameter; without one, Markdown
/// when the client accepts `text/markdown` and JSON otherwise.
fn format(q: &HandoffQuery, headers: &HeaderMap) -> Result<Format, ApiError> {
    match q.format.as_deref() {
        Some(value) => Format::parse(value).ok_or_else(|| {
            ApiError::BadRequest(format!(
                "parameter \"format\": {value:?} is not markdown, text or json"
            ))
        }),
        None => Ok(
            if headers
                .get(header::ACCEPT)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.contains("text/markdown"))
            {
                Format::Markdown
            } else {
                Format::Json
            },
        ),
    }
}

/// `GET /v1/handoff`: the summary of a shift.
pub async fn summary(
    State(hub): State<AppState>,
    Allowed(_, _): Allowed<ReadingHandoff>,
    Query(q): Query<HandoffQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let format = format(&q, &headers)?;
    let now = Utc::now();
    let window = window(&q, now)?;
    let summary = hub
        .with_core(move |core| core.handoff(window, now))
        .await??;
    let text = |content_type: &'static str, body: String| {
        (StatusCode::OK, [(header::CONTENT_TYPE, content_type)], body).into_response()
    };
    Ok(match format {
        Format::Markdown => text(
            "text/markdown; charset=utf-8",
            crate::handoff::to_markdown(&summary),
        ),
        Format::Text => text(
            "text/plain; charset=utf-8",
            crate::handoff::to_text(&summary),
        ),
        Format::Json => axum::Json(summary).into_response(),
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
