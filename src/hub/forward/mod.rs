//! The front door of a replica on PostgreSQL: while another replica holds
//! the `hub` lease, this one still listens and forwards every request to
//! the replica that serves (its `--advertise` address, stored with the
//! lease), so operators, agents and a load balancer may use any replica's
//! address. Once this replica takes the lease and has loaded, the same
//! listener serves the hub's own router.
//!
//! Forwarding is plain HTTP proxying: the method, the path and query, the
//! body (bounded like any request's) and the end-to-end headers
//! (`Authorization`, `Idempotency-Key`, `Last-Event-ID`, content type and
//! encoding…) go to the serving replica; its status, headers and body come
//! back as they are streamed, so a live stream forwarded through a standby
//! is the serving replica's stream, with its ids. A request that finds no
//! replica serving (the lease lapsed, a takeover under way) gets `503` and
//! `Retry-After`, which every client of the hub retries. OTLP/gRPC is
//! relayed over HTTP/2 (prior knowledge on plain TCP, ALPN over TLS), with
//! its trailers (`grpc-status`), so an exporter may point at any replica;
//! with none serving it is answered `UNAVAILABLE`, which exporters retry.
//!
//! Two requests a standby answers itself: live streams, from the shared
//! log (`stream`), and scrapes, with its own figures (`metrics`).

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tower::ServiceExt;

use super::pg::PgTarget;
use super::pg::active::HUB_LEASE;
use super::pg::follow::Follower;

mod metrics;
mod stream;

/// How long the serving replica's address is trusted before it is read
/// again from the lease.
const ADDRESS_FRESH_FOR: Duration = Duration::from_secs(1);

/// How long a lookup of the serving replica's address may take.
const LOOKUP_WITHIN: Duration = Duration::from_secs(2);

/// What the front door does with a request.
#[derive(Clone)]
pub struct Front {
    /// The hub's own router, once this replica serves.
    serving: Arc<RwLock<Option<axum::Router>>>,
    leader: Arc<Leader>,
    http: reqwest::Client,
    /// HTTP/2 only, for gRPC.
    grpc: reqwest::Client,
    /// For the streams held at the serving replica for operators (see
    /// `stream`): a read waits at most a few heartbeats, so a serving
    /// replica gone silent (a split, no reset) is noticed.
    held: reqwest::Client,
    max_body_bytes: usize,
    /// The shared log as it grows, for the streams this replica serves
    /// itself; `None`: streams are forwarded like any request.
    follower: Option<Arc<Follower>>,
    /// Turns true when this replica stops: its streams end.
    stopping: tokio::sync::watch::Receiver<bool>,
}

/// Where the serving replica is, read from the lease row.
struct Leader {
    target: PgTarget,
    /// This replica's own address: a lease naming it means this replica
    /// is taking over and not serving yet.
    own: String,
    known: tokio::sync::Mutex<Known>,
}

#[derive(Default)]
struct Known {
    client: Option<tokio_postgres::Client>,
    address: Option<String>,
    read_at: Option<Instant>,
}

impl Front {
    /// A front door forwarding to whichever replica holds the lease on
    /// `target`, until [`Front::serve`] hands it this replica's router.
    pub fn new(
        target: PgTarget,
        own: String,
        max_body_bytes: usize,
        stopping: tokio::sync::watch::Receiver<bool>,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            follower: Some(Follower::start(target.clone())),
            stopping,
            serving: Arc::new(RwLock::new(None)),
            leader: Arc::new(Leader {
                target,
                own,
                known: tokio::sync::Mutex::new(Known::default()),
            }),
            // No overall timeout: a forwarded stream lasts as long as the
            // operator watches.
            http: crate::client::builder().build()?,
            grpc: crate::client::builder().http2_prior_knowledge().build()?,
            held: crate::client::builder()
                .read_timeout(5 * crate::hub::http::stream::HEARTBEAT)
                .build()?,
            max_body_bytes,
        })
    }

    /// From now on requests are served here, by `app`.
    pub fn serve(&self, app: axum::Router) {
        *self
            .serving
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(app);
    }

    /// The router of the listener: every request goes through
    /// [`dispatch`].
    pub fn router(self) -> axum::Router {
        axum::Router::new().fallback(dispatch).with_state(self)
    }

    fn own_router(&self) -> Option<axum::Router> {
        self.serving
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

async fn dispatch(State(front): State<Front>, request: Request) -> Response {
    match (front.own_router(), &front.follower) {
        (Some(app), _) => match app.oneshot(request).await {
            Ok(response) => response,
            Err(never) => match never {},
        },
        // A live stream opened on a standby is served here from the
        // shared log and stays here whoever serves (see `stream`).
        (None, Some(follower)) if stream::is_live(&request) => {
            stream::serve(&front, follower, request).await
        }
        (None, Some(follower)) if metrics::is_scrape(&request) => {
            metrics::serve(&front, follower, request).await
        }
        (None, _) => forward(&front, request).await,
    }
}

/// A `503` with `Retry-After`, saying why; to a gRPC call, `UNAVAILABLE`
/// (status 14), which exporters retry.
fn unavailable(grpc: bool, why: String) -> Response {
    if grpc {
        return (
            StatusCode::OK,
            [
                (header::CONTENT_TYPE, "application/grpc".to_string()),
                (HeaderName::from_static("grpc-status"), "14".to_string()),
                (HeaderName::from_static("grpc-message"), why),
            ],
        )
            .into_response();
    }
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(header::RETRY_AFTER, "2")],
        axum::Json(serde_json::json!({ "error": why })),
    )
        .into_response()
}

/// The serving replica's address, or the answer saying why there is none
/// to forward to.
async fn serving_address(front: &Front, grpc: bool) -> Result<String, Response> {
    match front.leader.address().await {
        Ok(Some(address)) if address == front.leader.own => Err(unavailable(
            grpc,
            "this replica is taking over; retry in a moment".into(),
        )),
        Ok(Some(address)) => Ok(address),
        Ok(None) => Err(unavailable(
            grpc,
            "no replica serves this database right now (a takeover is under way); retry in a few seconds".into(),
        )),
        Err(e) => Err(unavailable(
            grpc,
            format!("this replica cannot reach the database: {e}"),
        )),
    }
}

async fn forward(front: &Front, request: Request) -> Response {
    let grpc = is_grpc(request.headers());
    let leader = match serving_address(front, grpc).await {
        Ok(address) => address,
        Err(answer) => return answer,
    };
    let (parts, body) = request.into_parts();
    let path = parts
        .uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_string();
    let body = match axum::body::to_bytes(body, front.max_body_bytes).await {
        Ok(b) => b,
        Err(_) => {
            return (
                StatusCode::PAYLOAD_TOO_LARGE,
                axum::Json(serde_json::json!({
                    "error": format!("request body over {} bytes", front.max_body_bytes)
                })),
            )
                .into_response();
        }
    };
    let mut headers = end_to_end(&parts.headers);
    let client = if grpc {
        // gRPC asks for trailers (hop-by-hop, so dropped above).
        headers.insert(header::TE, axum::http::HeaderValue::from_static("trailers"));
        &front.grpc
    } else {
        &front.http
    };
    let sent = client
        .request(parts.method, format!("{leader}{path}"))
        .headers(headers)
        .body(body)
        .send()
        .await;
    match sent {
        Ok(answer) => relay(answer),
        Err(e) => no_answer(front, grpc, &leader, &e).await,
    }
}

/// The serving replica's answer as it sends it, frame by frame: data as
/// it streams, and gRPC's trailers.
fn relay(answer: reqwest::Response) -> Response {
    let (mut parts, body) = axum::http::Response::from(answer).into_parts();
    parts.headers = end_to_end(&parts.headers);
    Response::from_parts(parts, Body::new(body))
}

/// The serving replica at `leader` did not answer: its address is read
/// again next time, and this request gets a 503 saying so.
async fn no_answer(front: &Front, grpc: bool, leader: &str, e: &reqwest::Error) -> Response {
    front.leader.forget().await;
    unavailable(
        grpc,
        format!("the serving replica ({leader}) did not answer: {e}"),
    )
}

fn is_grpc(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/grpc"))
}

/// The headers meant for the far end: all but the connection's own
/// (RFC 9110 §7.6.1) and `Host`, which is the next hop's.
fn end_to_end(headers: &HeaderMap) -> HeaderMap {
    const HOP_BY_HOP: [HeaderName; 8] = [
        header::CONNECTION,
        header::HOST,
        header::PROXY_AUTHENTICATE,
        header::PROXY_AUTHORIZATION,
        header::TE,
        header::TRAILER,
        header::TRANSFER_ENCODING,
        header::UPGRADE,
    ];
    let mut out = headers.clone();
    for name in &HOP_BY_HOP {
        out.remove(name);
    }
    out.remove("keep-alive");
    out
}

impl Leader {
    /// The serving replica's address, read from the lease at most once a
    /// second; `None` while no replica holds an unexpired lease.
    async fn address(&self) -> Result<Option<String>, String> {
        let mut known = self.known.lock().await;
        if known
            .read_at
            .is_some_and(|t| t.elapsed() < ADDRESS_FRESH_FOR)
        {
            return Ok(known.address.clone());
        }
        // Bounded: requests queue behind this lookup, and a database cut
        // off without a reset would otherwise hold them for the keepalives.
        let looked_up = tokio::time::timeout(LOOKUP_WITHIN, self.look_up(&mut known)).await;
        match looked_up {
            Ok(Ok(address)) => {
                known.address = address;
                known.read_at = Some(Instant::now());
                Ok(known.address.clone())
            }
            Ok(Err(e)) => Err(e),
            Err(_) => {
                known.client = None;
                Err(format!(
                    "PostgreSQL did not answer within {LOOKUP_WITHIN:?}"
                ))
            }
        }
    }

    /// Reads the lease row, connecting first when needed.
    async fn look_up(&self, known: &mut Known) -> Result<Option<String>, String> {
        if known.client.as_ref().is_none_or(|c| c.is_closed()) {
            known.client = Some(self.target.connect().await.map_err(|e| e.0)?);
        }
        let Some(client) = &known.client else {
            return Err("not connected".into());
        };
        let row = client
            .query_opt(
                "SELECT address FROM leases WHERE name = $1
                 AND expires_us > (extract(epoch FROM clock_timestamp()) * 1000000)::bigint",
                &[&HUB_LEASE],
            )
            .await
            .map_err(|e| super::pg::schema::pg_error(e).0)?;
        Ok(row.and_then(|r| r.get::<_, Option<String>>(0)))
    }

    /// Reads the address again on the next request (the one known did not
    /// answer).
    async fn forget(&self) {
        self.known.lock().await.read_at = None;
    }
}
