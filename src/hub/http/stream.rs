//! The live stream: `GET /v1/stream` as Server-Sent Events.
//!
//! A client gets a snapshot (or, resuming with `Last-Event-ID`, exactly the
//! deltas it missed while they are retained), then every delta in id order.
//! Each client reads from a bounded broadcast queue: one that falls behind
//! is resynchronised with a fresh snapshot and never slows ingest or other
//! clients.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use futures_util::{Stream, StreamExt};
use serde::Deserialize;
use tokio::sync::broadcast::{self, error::RecvError};

use super::super::core::{Core, Frame};
use super::super::error::ApiError;
use super::AppState;
use super::extract::{Allowed, ReadingStream};

/// Interval of the heartbeat comment: short, so that a client tells a lost
/// hub from a quiet one within seconds (a few bytes a second per client).
pub const HEARTBEAT: Duration = Duration::from_secs(1);

/// Removes the operator's presence when the stream ends.
struct PresenceGuard {
    core: Arc<Mutex<Core>>,
    operator: String,
}

impl Drop for PresenceGuard {
    fn drop(&mut self) {
        let mut core = self.core.lock().unwrap_or_else(PoisonError::into_inner);
        core.disconnect(&self.operator);
    }
}

struct Reader {
    pending: VecDeque<Arc<Frame>>,
    rx: broadcast::Receiver<Arc<Frame>>,
    last: u64,
    core: Arc<Mutex<Core>>,
    _presence: PresenceGuard,
}

fn to_event(frame: &Frame) -> Event {
    Event::default()
        .id(frame.id.to_string())
        .event(frame.event)
        .data(&*frame.data)
}

/// Query of `GET /v1/stream`.
#[derive(Debug, Default, Deserialize)]
pub struct StreamQuery {
    /// `all` (the default) or `none`: the snapshot (none when resuming)
    /// and heartbeats only, no deltas. A standby serving a stream from the
    /// shared log holds such a stream to the serving replica for the
    /// operator: it authenticates them, shows them present, and ends when
    /// their token is revoked (see `hub::forward::stream`).
    #[serde(default)]
    pub deltas: Option<String>,
}

/// The `Last-Event-ID` a client resumes after, if it sent one that parses.
pub fn last_event_id(headers: &HeaderMap) -> Option<u64> {
    headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
}

/// `GET /v1/stream`.
pub async fn stream(
    State(state): State<AppState>,
    Allowed(who, _): Allowed<ReadingStream>,
    Query(query): Query<StreamQuery>,
    headers: HeaderMap,
) -> Response {
    let with_deltas = match query.deltas.as_deref() {
        None | Some("all") => true,
        Some("none") => false,
        Some(other) => {
            return ApiError::BadRequest(format!(
                "parameter \"deltas\": {other:?} is not all or none"
            ))
            .into_response();
        }
    };
    let last_id = last_event_id(&headers);
    let (name, role) = (who.name.clone(), who.role);
    let opened = state
        .with_core(move |core| {
            let now = Utc::now();
            // Subscribe before reading the state, under the same lock, so no
            // delta falls between the two.
            let rx = with_deltas.then(|| core.subscribe());
            let first: Vec<Arc<Frame>> = match (with_deltas, last_id) {
                (false, Some(_)) => Vec::new(),
                _ => match last_id.and_then(|id| core.replay_after(id)) {
                    Some(missed) => missed,
                    None => vec![Arc::new(core.snapshot_frame(now))],
                },
            };
            core.connect(&name, role, now);
            (rx, first)
        })
        .await;
    let (rx, first) = match opened {
        Ok(x) => x,
        Err(e) => return e.into_response(),
    };
    let presence = PresenceGuard {
        core: state.core.clone(),
        operator: who.name.clone(),
    };
    let ends = stream_ends(&state, &headers, who);
    let keep_alive = KeepAlive::new().interval(HEARTBEAT).text("heartbeat");
    let Some(rx) = rx else {
        let first: Vec<Result<Event, Infallible>> = first.iter().map(|f| Ok(to_event(f))).collect();
        // Nothing more but heartbeats; the guard stays with the stream for
        // the presence it holds.
        let held = futures_util::stream::unfold(presence, |presence| async move {
            let _held = presence;
            std::future::pending().await
        });
        return Sse::new(
            futures_util::stream::iter(first)
                .chain(held)
                .take_until(ends),
        )
        .keep_alive(keep_alive)
        .into_response();
    };
    let reader = Reader {
        last: first.last().map(|f| f.id).or(last_id).unwrap_or(0),
        pending: first.into(),
        rx,
        core: state.core.clone(),
        _presence: presence,
    };
    Sse::new(events(reader).take_until(ends))
        .keep_alive(keep_alive)
        .into_response()
}

/// Resolves when the stream of `who` must end: the hub stops, or a reload
/// revokes the token the stream was opened with.
fn stream_ends(
    state: &AppState,
    headers: &HeaderMap,
    who: crate::hub::auth::Principal,
) -> impl std::future::Future<Output = ()> + use<> {
    let mut stopping = state.stopping.clone();
    let token = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| t.trim().to_string())
        .unwrap_or_default();
    let revoked = state.tokens.clone().revoked(token, who);
    async move {
        tokio::select! {
            _ = stopping.wait_for(|stopping| *stopping) => {}
            () = revoked => {}
        }
    }
}

fn events(reader: Reader) -> impl Stream<Item = Result<Event, Infallible>> {
    futures_util::stream::unfold(reader, |mut r| async move {
        loop {
            if let Some(frame) = r.pending.pop_front() {
                r.last = r.last.max(frame.id);
                return Some((Ok(to_event(&frame)), r));
            }
            match r.rx.recv().await {
                Ok(frame) => {
                    if frame.id > r.last {
                        r.pending.push_back(frame);
                    }
                }
                Err(RecvError::Lagged(_)) => {
                    let core = r.core.clone();
                    let snapshot = tokio::task::spawn_blocking(move || {
                        let core = core.lock().unwrap_or_else(PoisonError::into_inner);
                        core.snapshot_frame(Utc::now())
                    })
                    .await;
                    match snapshot {
                        Ok(frame) => {
                            // Deltas still queued up to the snapshot's id are
                            // in it and skipped; later ones follow as usual.
                            r.pending.push_back(Arc::new(frame));
                        }
                        Err(_) => return None,
                    }
                }
                Err(RecvError::Closed) => return None,
            }
        }
    })
}
