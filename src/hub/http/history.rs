//! The history operators page through: `GET /v1/history/approvals`,
//! `/incidents` and `/controls`, read from the archive (never under the
//! core's lock).

use axum::Json;
use axum::extract::{Query, State};

use crate::model::history::{
    ApprovalRecord, ControlRecord, Cursor, HistoryKind, HistoryPage, HistoryQuery, IncidentRecord,
    page_limit, search_key,
};

use super::super::error::ApiError;
use super::super::store::{Backend, StoreError};
use super::AppState;
use super::extract::{Allowed, ReadingHistory};

/// `400` naming the query parameter at fault.
pub fn bad_parameter(name: &str, reason: impl std::fmt::Display) -> ApiError {
    ApiError::BadRequest(format!("parameter {name:?}: {reason}"))
}

/// A history query, checked.
struct Page {
    limit: usize,
    before: Option<Cursor>,
    q: Option<String>,
}

impl Page {
    fn checked(kind: HistoryKind, q: HistoryQuery) -> Result<Self, ApiError> {
        Ok(Self {
            limit: page_limit(q.limit).map_err(|e| bad_parameter("limit", e))?,
            before: q
                .before
                .as_deref()
                .map(|c| Cursor::parse(kind, c))
                .transpose()
                .map_err(|e| bad_parameter("before", e))?,
            q: search_key(q.q.as_deref()).map_err(|e| bad_parameter("q", e))?,
        })
    }
}

/// How one history is read from the store.
type Read<T> =
    fn(&Backend, Option<&Cursor>, Option<&str>, usize) -> Result<HistoryPage<T>, StoreError>;

async fn page<T: Send + 'static>(
    hub: AppState,
    kind: HistoryKind,
    q: HistoryQuery,
    read: Read<T>,
) -> Result<Json<HistoryPage<T>>, ApiError> {
    let page = Page::checked(kind, q)?;
    let answer = hub
        .with_archive(move |archive| {
            archive.read(|store| read(store, page.before.as_ref(), page.q.as_deref(), page.limit))
        })
        .await??;
    Ok(Json(answer))
}

/// `GET /v1/history/approvals?limit=&before=&q=`: decided approvals.
pub async fn approvals(
    State(hub): State<AppState>,
    Allowed(_, _): Allowed<ReadingHistory>,
    Query(q): Query<HistoryQuery>,
) -> Result<Json<HistoryPage<ApprovalRecord>>, ApiError> {
    page(hub, HistoryKind::Approvals, q, Backend::approval_history).await
}

/// `GET /v1/history/incidents?limit=&before=&q=`: resolved incidents.
pub async fn incidents(
    State(hub): State<AppState>,
    Allowed(_, _): Allowed<ReadingHistory>,
    Query(q): Query<HistoryQuery>,
) -> Result<Json<HistoryPage<IncidentRecord>>, ApiError> {
    page(hub, HistoryKind::Incidents, q, Backend::incident_history).await
}

/// `GET /v1/history/controls?limit=&before=&q=`: lifted and expired
/// controls.
pub async fn controls(
    State(hub): State<AppState>,
    Allowed(_, _): Allowed<ReadingHistory>,
    Query(q): Query<HistoryQuery>,
) -> Result<Json<HistoryPage<ControlRecord>>, ApiError> {
    page(hub, HistoryKind::Controls, q, Backend::control_history).await
}
