//! The live stream as a standby serves it: from the one ordered log,
//! which every replica reads (`pg::follow`), rather than relayed from the
//! serving replica. An approval requested on the serving replica reaches
//! an operator streaming from a standby as soon as its transaction
//! commits (the log's `NOTIFY`), with the same id it has everywhere; and
//! when the serving replica dies the stream stays open: the deltas of the
//! one that takes over follow on it with the next ids.
//!
//! The serving replica still owns what only it can do, through one
//! lightweight stream the standby holds for the operator there
//! (`GET /v1/stream?deltas=none`): it authenticates the token, sends the
//! snapshot a new stream starts with, shows the operator present, and
//! ends when a reload revokes the token. When that stream ends because the
//! serving replica went away, the standby opens it again at whichever
//! replica serves next; if that one refuses the token, the operator's
//! stream ends.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::{Stream, StreamExt};
use tokio::sync::watch;

use super::{Front, end_to_end, no_answer, relay, serving_address, unavailable};
use crate::hub::core::Frame;
use crate::hub::http::stream::{HEARTBEAT, last_event_id};
use crate::hub::pg::follow::Follower;
use crate::model::api;

/// Frames handed to a client per read of the log.
const READ_AT_MOST: usize = 256;
/// Pause before asking the serving replica again for the operator's
/// stream, or reading the log again after a failed read.
const AGAIN_AFTER: Duration = Duration::from_secs(1);

type Upstream = Pin<Box<dyn Stream<Item = Result<eventsource_stream::Event, String>> + Send>>;

/// Whether `request` opens a live stream with deltas, which a standby
/// serves from the log; any other (`?deltas=none` among them) is
/// forwarded.
pub(super) fn is_live(request: &Request) -> bool {
    request.method() == Method::GET
        && request.uri().path() == api::STREAM.template()
        && request.uri().query().is_none_or(|q| {
            q.split('&')
                .all(|p| !p.starts_with("deltas=") || p == "deltas=all")
        })
}

/// `GET /v1/stream` on a standby.
pub(super) async fn serve(front: &Front, follower: &Arc<Follower>, request: Request) -> Response {
    // Resume from the log when it still holds what the client missed;
    // otherwise start from the serving replica's snapshot.
    let resume = match last_event_id(request.headers()) {
        Some(id) => match follower.resumable(id).await {
            Ok(true) => Some(id),
            Ok(false) => None,
            Err(e) => {
                return unavailable(
                    false,
                    format!("this replica cannot read the stream log: {e}"),
                );
            }
        },
        None => None,
    };
    let headers = end_to_end(request.headers());
    let leader = match serving_address(front, false).await {
        Ok(address) => address,
        Err(answer) => return answer,
    };
    let answer = match open_upstream(front, &leader, &headers, resume).await {
        Ok(answer) => answer,
        Err(e) => return no_answer(front, false, &leader, &e).await,
    };
    if answer.status() != StatusCode::OK {
        // Refused (a bad token, a role that may not read) or unavailable:
        // the client sees the serving replica's answer.
        return relay(answer);
    }
    let mut upstream: Upstream = Box::pin(crate::client::feed::sse_events(answer.bytes_stream()));
    let (first, after) = match resume {
        Some(id) => (None, id),
        None => match snapshot(&mut upstream).await {
            Ok((event, id)) => (Some(event), id),
            Err(why) => {
                return unavailable(
                    false,
                    format!("the serving replica sent no snapshot: {why}"),
                );
            }
        },
    };
    let (refused_tx, refused) = watch::channel(false);
    let holding = tokio::spawn(hold(front.clone(), headers, upstream, refused_tx));
    let relay = Relay {
        first,
        pending: VecDeque::new(),
        read_to: after,
        follower: follower.clone(),
        heads: follower.heads(),
        _holding: Holding(holding),
    };
    let ends = ends(front.stopping.clone(), refused);
    Sse::new(frames(relay).take_until(ends))
        .keep_alive(KeepAlive::new().interval(HEARTBEAT).text("heartbeat"))
        .into_response()
}

/// Opens the operator's stream at the serving replica: no deltas, and a
/// snapshot unless resuming.
async fn open_upstream(
    front: &Front,
    leader: &str,
    headers: &HeaderMap,
    resume: Option<u64>,
) -> Result<reqwest::Response, reqwest::Error> {
    let mut headers = headers.clone();
    headers.remove("last-event-id");
    if let Some(id) = resume {
        headers.insert("last-event-id", HeaderValue::from(id));
    }
    front
        .held
        .get(format!("{leader}{}?deltas=none", api::STREAM.template()))
        .headers(headers)
        .send()
        .await
}

/// The snapshot a stream opens with, as an event for the client, and the
/// id it is current to.
async fn snapshot(upstream: &mut Upstream) -> Result<(Event, u64), String> {
    let event = upstream.next().await.ok_or("the stream ended first")??;
    if event.event != "snapshot" {
        return Err(format!("it sent {:?} first", event.event));
    }
    let id: u64 = event
        .id
        .parse()
        .map_err(|_| format!("its id {:?} is not a number", event.id))?;
    Ok((
        Event::default()
            .id(event.id)
            .event("snapshot")
            .data(event.data),
        id,
    ))
}

/// Keeps the operator's stream at the serving replica open while the
/// client's lasts: reads it to its end, then opens it again wherever a
/// replica serves. Says `refused` when a replica refuses the token.
async fn hold(
    front: Front,
    headers: HeaderMap,
    mut upstream: Upstream,
    refused: watch::Sender<bool>,
) {
    loop {
        while let Some(Ok(_)) = upstream.next().await {}
        upstream = loop {
            tokio::time::sleep(AGAIN_AFTER).await;
            let Ok(Some(leader)) = front.leader.address().await else {
                continue;
            };
            // Any id will do: with it the serving replica sends nothing
            // but heartbeats.
            match open_upstream(&front, &leader, &headers, Some(0)).await {
                Ok(answer) if answer.status() == StatusCode::OK => {
                    break Box::pin(crate::client::feed::sse_events(answer.bytes_stream()));
                }
                Ok(answer)
                    if matches!(
                        answer.status(),
                        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN
                    ) =>
                {
                    refused.send_replace(true);
                    return;
                }
                Ok(_) | Err(_) => front.leader.forget().await,
            }
        };
    }
}

/// Resolves when the client's stream must end: this replica stops, or the
/// serving replica refused the operator's token.
async fn ends(mut stopping: watch::Receiver<bool>, mut refused: watch::Receiver<bool>) {
    tokio::select! {
        _ = stopping.wait_for(|stopping| *stopping) => {}
        _ = refused.wait_for(|refused| *refused) => {}
    }
}

/// Aborts the task holding the operator's stream with the client's.
struct Holding(tokio::task::JoinHandle<()>);

impl Drop for Holding {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A client's stream: the snapshot, then the log after its id.
struct Relay {
    first: Option<Event>,
    pending: VecDeque<Arc<Frame>>,
    /// The last id read from the log for this client.
    read_to: u64,
    follower: Arc<Follower>,
    heads: watch::Receiver<u64>,
    _holding: Holding,
}

fn frames(relay: Relay) -> impl Stream<Item = Result<Event, Infallible>> {
    futures_util::stream::unfold(relay, |mut r| async move {
        if let Some(event) = r.first.take() {
            return Some((Ok(event), r));
        }
        loop {
            if let Some(frame) = r.pending.pop_front() {
                let event = Event::default()
                    .id(frame.id.to_string())
                    .event(frame.event)
                    .data(&*frame.data);
                return Some((Ok(event), r));
            }
            let read_to = r.read_to;
            if r.heads.wait_for(|head| *head > read_to).await.is_err() {
                return None;
            }
            match r.follower.after(read_to, READ_AT_MOST).await {
                Ok(Some(read)) if read.through > read_to => {
                    r.pending.extend(read.frames);
                    r.read_to = read.through;
                }
                // Not committed where this read looked yet, or the
                // database away: the next try.
                Ok(Some(_)) | Err(_) => tokio::time::sleep(AGAIN_AFTER / 10).await,
                // The log no longer holds what this client needs next (it
                // fell 20,000 deltas behind): end the stream; it comes
                // back and starts over from a snapshot.
                Ok(None) => return None,
            }
        }
    })
}
