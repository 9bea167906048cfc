//! The live feed: `GET /v1/stream` read with `eventsource-stream`,
//! reconnected with capped exponential backoff and jitter, resumed with
//! `Last-Event-ID`, and given up on only when the token is refused.

use std::sync::Arc;
use std::time::Duration;

use eventsource_stream::{EventStreamError, Eventsource};
use futures_util::{Stream, StreamExt};
use tokio::sync::mpsc;

use super::hubs::HubList;
use crate::model::stream::{Delta, Snapshot};

/// A stream silent for this long (no event, no heartbeat) is dropped and
/// reconnected; the hub sends a heartbeat every second, so this is four
/// lost heartbeats, and an operator learns of a lost hub within 5 s.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest wait between reconnection attempts: a hub back from a restart
/// is found within 5 s.
pub const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// How the feed judges a connection; the defaults are the production values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeedConfig {
    /// Silence after which a stream is dropped and reconnected, and the
    /// longest wait for the hub to start answering a (re)connection. Keep it
    /// a few heartbeats long, so one late heartbeat does not drop a healthy
    /// stream.
    pub idle_timeout: Duration,
}

impl Default for FeedConfig {
    fn default() -> Self {
        Self {
            idle_timeout: IDLE_TIMEOUT,
        }
    }
}

/// What the feed tells the TUI.
#[derive(Debug, Clone, PartialEq)]
pub enum FeedMsg {
    /// Connecting (attempt n, from 1).
    Connecting {
        /// Attempt number.
        attempt: u32,
    },
    /// The stream is open.
    Connected,
    /// The stream failed; the next attempt comes after `retry_in`.
    Reconnecting {
        /// Attempts so far.
        attempt: u32,
        /// Wait before the next.
        retry_in: Duration,
        /// Why the last one failed.
        error: String,
    },
    /// The hub refused the token; the feed stops.
    Refused(String),
    /// The whole state.
    Snapshot(Box<Snapshot>),
    /// One change.
    Delta(u64, Delta),
    /// Bytes arrived (an event or a heartbeat), at most once a second.
    Alive,
    /// The time in the replayed file (replay only).
    ReplayClock(chrono::DateTime<chrono::Utc>),
}

/// Backoff before attempt `n` (1-based): 0.5 s doubling to 5 s, with up
/// to half of it random so many TUIs do not reconnect in lockstep.
pub fn backoff(attempt: u32, jitter: f64) -> Duration {
    let base = 0.5 * 2f64.powi(attempt.saturating_sub(1).min(10) as i32);
    let capped = base.min(MAX_BACKOFF.as_secs_f64());
    Duration::from_secs_f64(capped * (1.0 - 0.5 * jitter.clamp(0.0, 1.0)))
}

/// Parses one server-sent event into a feed message.
pub fn parse_event(event: &str, id: &str, data: &str) -> Result<FeedMsg, String> {
    let id: u64 = id.parse().map_err(|_| format!("bad event id {id:?}"))?;
    let bad = |e: serde_json::Error| format!("bad {event} event {id}: {e}");
    Ok(match event {
        "snapshot" => FeedMsg::Snapshot(Box::new(serde_json::from_str(data).map_err(bad)?)),
        "slo" => FeedMsg::Delta(id, Delta::Slo(serde_json::from_str(data).map_err(bad)?)),
        "incident" => FeedMsg::Delta(
            id,
            Delta::Incident(serde_json::from_str(data).map_err(bad)?),
        ),
        "approval" => FeedMsg::Delta(
            id,
            Delta::Approval(serde_json::from_str(data).map_err(bad)?),
        ),
        "control" => FeedMsg::Delta(id, Delta::Control(serde_json::from_str(data).map_err(bad)?)),
        "agent" => FeedMsg::Delta(id, Delta::Agent(serde_json::from_str(data).map_err(bad)?)),
        "audit" => FeedMsg::Delta(id, Delta::Audit(serde_json::from_str(data).map_err(bad)?)),
        "presence" => FeedMsg::Delta(
            id,
            Delta::Presence(serde_json::from_str(data).map_err(bad)?),
        ),
        other => return Err(format!("unknown event {other:?}")),
    })
}

/// One item of the hub's stream, decoded.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamItem {
    /// A snapshot or a delta for the TUI.
    Msg(FeedMsg),
    /// An event that did not decode (an unknown name, a bad id or body);
    /// the stream goes on without it.
    Skipped(String),
    /// The stream cannot go on (the connection failed, or the bytes are not
    /// UTF-8 text): reconnect.
    Broken(String),
}

/// Longest line of a stream accepted: far above any snapshot a hub sends
/// (a fleet of 10,000 agents makes a few tens of MiB), it only bounds the
/// memory a broken or hostile peer can make the TUI hold.
pub const MAX_STREAM_LINE_BYTES: usize = 256 * 1024 * 1024;

/// Decodes a response body of `GET /v1/stream`: SSE framing by
/// eventsource-stream (comments such as heartbeats, `retry:` and blank
/// events produce nothing), then each event by [`parse_event`]. The feed
/// reads every connection through this, and so does the fuzz target that
/// feeds it arbitrary bytes.
///
/// The bytes reach the SSE parser as whole lines of checked UTF-8 (see
/// [`whole_lines`]), which keeps it from three faults the fuzz target found
/// in eventsource-stream 0.2: a leading byte order mark made it panic,
/// bytes that are not UTF-8 stalled it silently while its buffer grew, and
/// a long line arriving in many pieces was scanned again for every piece.
pub fn decode_stream<S, B, E>(bytes: S) -> impl Stream<Item = StreamItem>
where
    S: Stream<Item = Result<B, E>>,
    B: AsRef<[u8]>,
    E: std::fmt::Display,
{
    sse_events(bytes).map(|item| match item {
        Ok(e) => match parse_event(&e.event, &e.id, &e.data) {
            Ok(msg) => StreamItem::Msg(msg),
            Err(why) => StreamItem::Skipped(why),
        },
        Err(why) => StreamItem::Broken(why),
    })
}

/// The SSE events of a response body as they came (event, id, data),
/// framed as [`decode_stream`] frames them; an error ends the stream. A
/// standby relaying the serving replica's snapshot reads it with this.
pub fn sse_events<S, B, E>(
    bytes: S,
) -> impl Stream<Item = Result<eventsource_stream::Event, String>>
where
    S: Stream<Item = Result<B, E>>,
    B: AsRef<[u8]>,
    E: std::fmt::Display,
{
    whole_lines(bytes).eventsource().map(|item| match item {
        Ok(e) => Ok(e),
        Err(EventStreamError::Transport(why)) => Err(why),
        Err(e) => Err(e.to_string()),
    })
}

/// Regroups a byte stream into pieces that end at a line end (`\n` or
/// `\r`), each checked to be UTF-8, holding back an unfinished line until
/// its end arrives. The first piece is an empty line and a leading byte
/// order mark is dropped (SSE skips one), so the parser never sees one: it
/// would slice into it. The stream ends with an error on bytes that are not
/// UTF-8, on a line longer than [`MAX_STREAM_LINE_BYTES`], or on the
/// source's own error.
fn whole_lines<S, B, E>(bytes: S) -> impl Stream<Item = Result<String, String>>
where
    S: Stream<Item = Result<B, E>>,
    B: AsRef<[u8]>,
    E: std::fmt::Display,
{
    let state = Lines {
        bytes: Box::pin(bytes),
        pending: Vec::new(),
        started: false,
        at_start: true,
        failure: None,
        done: false,
    };
    futures_util::stream::unfold(state, |mut s| async move {
        if s.done {
            return None;
        }
        if let Some(why) = s.failure.take() {
            s.done = true;
            return Some((Err(why), s));
        }
        if !s.started {
            s.started = true;
            // A blank line before anything else is a no-op in SSE.
            return Some((Ok("\n".to_string()), s));
        }
        loop {
            let piece = match s.bytes.next().await {
                Some(Ok(chunk)) => s.take(chunk.as_ref()),
                Some(Err(e)) => {
                    s.done = true;
                    Some(Err(e.to_string()))
                }
                None => Some(s.finish()),
            };
            if let Some(piece) = piece {
                return Some((piece, s));
            }
        }
    })
}

/// The state of [`whole_lines`].
struct Lines<S> {
    bytes: std::pin::Pin<Box<S>>,
    /// An unfinished line (or, before the first line end, the start of the
    /// stream, where a byte order mark may be).
    pending: Vec<u8>,
    /// The empty first line has been sent.
    started: bool,
    /// No line has been sent yet: `pending` holds the stream's start.
    at_start: bool,
    /// Why the stream ends, after the piece being sent.
    failure: Option<String>,
    done: bool,
}

/// A UTF-8 byte order mark.
const BOM: &[u8] = b"\xEF\xBB\xBF";

impl<S> Lines<S> {
    /// Takes one chunk: the whole lines it completes, an error, or None
    /// when it ends no line (it is held back).
    fn take(&mut self, chunk: &[u8]) -> Option<Result<String, String>> {
        let Some(end) = chunk.iter().rposition(|&b| b == b'\n' || b == b'\r') else {
            self.pending.extend_from_slice(chunk);
            if self.pending.len() > MAX_STREAM_LINE_BYTES {
                self.done = true;
                return Some(Err(format!(
                    "a line of the stream is longer than {MAX_STREAM_LINE_BYTES} bytes"
                )));
            }
            return None;
        };
        let (lines, rest) = chunk.split_at(end + 1);
        let mut ready = std::mem::replace(&mut self.pending, rest.to_vec());
        ready.extend_from_slice(lines);
        if self.at_start && ready.starts_with(BOM) {
            ready.drain(..BOM.len());
        }
        self.at_start = false;
        Some(match String::from_utf8(ready) {
            Ok(text) => Ok(text),
            Err(e) => self.not_utf8(e),
        })
    }

    /// The whole lines before a bad byte still go through, as they would
    /// had the bytes come in other pieces; the error comes next.
    fn not_utf8(&mut self, e: std::string::FromUtf8Error) -> Result<String, String> {
        let valid = e.utf8_error().valid_up_to();
        let why = format!("the stream is not UTF-8 text ({e})");
        let bytes = e.into_bytes();
        match bytes[..valid]
            .iter()
            .rposition(|&b| b == b'\n' || b == b'\r')
        {
            Some(end) => {
                self.failure = Some(why);
                // Cut after ASCII, within the valid prefix.
                Ok(String::from_utf8(bytes[..=end].to_vec()).unwrap_or_default())
            }
            None => {
                self.done = true;
                Err(why)
            }
        }
    }

    /// The end of the source: the rest, an unfinished line the parser
    /// will drop.
    fn finish(&mut self) -> Result<String, String> {
        self.done = true;
        let mut rest = std::mem::take(&mut self.pending);
        if self.at_start && rest.starts_with(BOM) {
            rest.drain(..BOM.len());
        }
        checked(rest)
    }
}

/// The bytes as text, or why they are not.
fn checked(bytes: Vec<u8>) -> Result<String, String> {
    String::from_utf8(bytes).map_err(|e| format!("the stream is not UTF-8 text ({e})"))
}

/// Wraps a byte stream so that silence longer than `idle` ends it with an
/// error, and every chunk is reported through `alive`.
fn watched<S, B, E>(
    bytes: S,
    idle: Duration,
    alive: mpsc::Sender<FeedMsg>,
) -> impl Stream<Item = Result<B, String>>
where
    S: Stream<Item = Result<B, E>> + Unpin,
    E: std::fmt::Display,
{
    futures_util::stream::unfold(
        (
            bytes,
            alive,
            tokio::time::Instant::now() - Duration::from_secs(2),
        ),
        move |(mut bytes, alive, mut last_alive)| async move {
            match tokio::time::timeout(idle, bytes.next()).await {
                Ok(Some(Ok(chunk))) => {
                    if last_alive.elapsed() >= Duration::from_secs(1) {
                        last_alive = tokio::time::Instant::now();
                        let _ = alive.try_send(FeedMsg::Alive);
                    }
                    Some((Ok(chunk), (bytes, alive, last_alive)))
                }
                Ok(Some(Err(e))) => Some((Err(e.to_string()), (bytes, alive, last_alive))),
                Ok(None) => None,
                Err(_) => Some((
                    Err(format!("no event or heartbeat for {} s", idle.as_secs())),
                    (bytes, alive, last_alive),
                )),
            }
        },
    )
}

/// Reads the hub's stream until `tx` closes, reconnecting as needed.
pub async fn run(hub: String, token: String, tx: mpsc::Sender<FeedMsg>) {
    run_with(hub, token, tx, FeedConfig::default()).await;
}

/// [`run`] with a chosen configuration (tests shorten the idle timeout).
pub async fn run_with(hub: String, token: String, tx: mpsc::Sender<FeedMsg>, config: FeedConfig) {
    run_hubs(Arc::new(HubList::one(&hub)), token, tx, config).await;
}

/// [`run_with`] over several addresses of the hub: a failed attempt moves
/// to the next address at once (and moves the process's other requests
/// with it), resuming from the last id; the backoff grows with each round
/// in which every address failed.
pub async fn run_hubs(
    hubs: Arc<HubList>,
    token: String,
    tx: mpsc::Sender<FeedMsg>,
    config: FeedConfig,
) {
    let client = match super::http_client() {
        Ok(c) => c,
        Err(e) => {
            let _ = tx
                .send(FeedMsg::Refused(format!("no HTTP client: {e}")))
                .await;
            return;
        }
    };
    let path = crate::model::api::STREAM.path(&[]);
    let mut last_id: Option<u64> = None;
    let mut attempt = 0u32;
    let mut seed = std::process::id() as u64 ^ 0x9E37_79B9_7F4A_7C15;
    loop {
        attempt += 1;
        if tx.send(FeedMsg::Connecting { attempt }).await.is_err() {
            return;
        }
        let (at, base) = hubs.current();
        let mut req = client.get(format!("{base}{path}")).bearer_auth(&token);
        if let Some(id) = last_id {
            req = req.header("Last-Event-ID", id.to_string());
        }
        // A hub (or a network) that accepts the connection and then says
        // nothing would otherwise hold this attempt forever.
        let sent = tokio::time::timeout(config.idle_timeout, req.send()).await;
        let error = match sent {
            Ok(Ok(r)) if r.status().is_success() => {
                attempt = 0;
                if tx.send(FeedMsg::Connected).await.is_err() {
                    return;
                }
                match follow(r, &tx, &mut last_id, config.idle_timeout).await {
                    Some(error) => error,
                    None => return, // the TUI has gone
                }
            }
            Ok(Ok(r)) if matches!(r.status().as_u16(), 401 | 403) => {
                let _ = tx.send(FeedMsg::Refused(refusal(r).await)).await;
                return;
            }
            Ok(Ok(r)) => format!("the hub answered {}", r.status().as_u16()),
            Ok(Err(e)) => describe(&e),
            Err(_) => format!(
                "the hub did not answer within {} s",
                config.idle_timeout.as_secs()
            ),
        };
        // xorshift: jitter needs no quality, only spread.
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let jitter = (seed % 1000) as f64 / 1000.0;
        // Another address is tried at once; the backoff grows with each
        // round in which every address failed. A stream that broke after
        // working counts as the first attempt of a round (`attempt` was
        // reset on success).
        let tried = attempt.max(1);
        let next = hubs.failed(at);
        let retry_in = if (tried as usize).is_multiple_of(hubs.len()) {
            backoff(tried.div_ceil(hubs.len() as u32), jitter)
        } else {
            Duration::ZERO
        };
        let error = if hubs.len() > 1 {
            format!("{base}: {error}; next {next}")
        } else {
            error
        };
        if tx
            .send(FeedMsg::Reconnecting {
                attempt: tried,
                retry_in,
                error,
            })
            .await
            .is_err()
        {
            return;
        }
        tokio::time::sleep(retry_in).await;
    }
}

/// Hands the events of an open stream to `tx`, remembering the last id
/// for a resume, until the stream breaks: why it ended, or None when the
/// receiver has gone.
async fn follow(
    r: reqwest::Response,
    tx: &mpsc::Sender<FeedMsg>,
    last_id: &mut Option<u64>,
    idle_timeout: Duration,
) -> Option<String> {
    let mut events = Box::pin(decode_stream(watched(
        Box::pin(r.bytes_stream()),
        idle_timeout,
        tx.clone(),
    )));
    while let Some(item) = events.next().await {
        match item {
            StreamItem::Msg(msg) => {
                if let FeedMsg::Snapshot(s) = &msg {
                    *last_id = Some(s.seq);
                } else if let FeedMsg::Delta(id, _) = &msg {
                    *last_id = Some(*id);
                }
                tx.send(msg).await.ok()?;
            }
            StreamItem::Skipped(e) => tracing::warn!(error = %e, "skipped a stream event"),
            StreamItem::Broken(e) => return Some(e),
        }
    }
    Some("the hub closed the stream".to_string())
}

/// What the operator reads when the hub refuses the token.
async fn refusal(r: reqwest::Response) -> String {
    let status = r.status().as_u16();
    let body = super::hub::error_body(&r.bytes().await.unwrap_or_default());
    let why = if body.error.is_empty() {
        "refused".to_string()
    } else {
        body.error
    };
    format!("the hub refused the token ({status}): {why}")
}

/// A network error in a few words.
pub fn describe(e: &reqwest::Error) -> String {
    if let Some(refused) = certificate_problem(e) {
        // Otherwise shown as "cannot connect", which sends an operator
        // looking at the network instead of at the CA.
        return format!(
            "the hub's TLS certificate was refused ({refused}); if a private CA issued it, give --ca-cert PATH or AGENTDECK_CA_CERT"
        );
    }
    if e.is_connect() {
        "cannot connect to the hub".into()
    } else if e.is_timeout() {
        "the hub did not answer in time".into()
    } else {
        // reqwest's own message names only the URL ("error sending request
        // for url …"); the innermost cause says what broke.
        let mut cause: &dyn std::error::Error = e;
        while let Some(next) = cause.source() {
            cause = next;
        }
        if std::ptr::addr_eq(cause, e) {
            e.to_string()
        } else {
            format!("the connection to the hub failed: {cause}")
        }
    }
}

/// The TLS layer's reason when it refused the hub's certificate.
fn certificate_problem(e: &reqwest::Error) -> Option<String> {
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        let text = c.to_string();
        if text.contains("certificate") {
            return Some(text);
        }
        cause = c.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_a_cap_with_jitter() {
        assert_eq!(backoff(1, 0.0), Duration::from_millis(500));
        assert_eq!(backoff(2, 0.0), Duration::from_secs(1));
        assert_eq!(backoff(4, 0.0), Duration::from_secs(4));
        assert_eq!(backoff(20, 0.0), MAX_BACKOFF);
        assert_eq!(backoff(20, 1.0), MAX_BACKOFF / 2);
    }

    #[test]
    fn events_parse_or_say_why() {
        assert!(matches!(
            parse_event("presence", "7", "[]"),
            Ok(FeedMsg::Delta(7, Delta::Presence(_)))
        ));
        assert!(parse_event("presence", "x", "[]").is_err());
        assert!(
            parse_event("weather", "1", "{}")
                .unwrap_err()
                .contains("weather")
        );
        assert!(
            parse_event("incident", "1", "{}")
                .unwrap_err()
                .contains("incident")
        );
    }
}
