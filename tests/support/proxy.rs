//! A TCP proxy on loopback that injects network faults between a client and
//! a hub, to test what clients do when the network misbehaves under them:
//!
//! - [`Proxy::cut`] closes every open connection (a reset, a crash);
//! - [`Proxy::hang`] stops forwarding on every open connection, both ways,
//!   with the sockets left open: a half-dead connection (a NAT or firewall
//!   that forgot it, a peer that froze) that only a heartbeat can reveal;
//! - [`Proxy::blackhole`] hangs open connections and every new one until
//!   [`Proxy::heal`]: a partition, where even reconnecting hangs;
//! - [`Proxy::cut_inside_next_event`] forwards part of the next server-sent
//!   event and then closes the connection, so the client holds half an event;
//! - [`Proxy::fail_next_response`] cuts or hangs the connection that carries
//!   the next HTTP response, after the hub has acted on the request;
//! - [`Proxy::slow`] forwards in small pieces with a pause between them (a
//!   bandwidth cap), in both directions.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, watch};

/// What one connection through the proxy is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow {
    Forward,
    Stalled,
    Closed,
}

/// Where [`Proxy::cut_inside_next_event`] cuts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CutAt {
    /// A few bytes into the event's `data:` line: the JSON is truncated.
    InsideData,
    /// After the whole `data:` line but before the blank line that ends the
    /// event: everything but the terminator.
    BeforeBlankLine,
}

/// What a connection does to the next HTTP response it carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Close the connection without forwarding any of the response.
    Cut,
    /// Stop forwarding both ways, sockets open, until [`Proxy::heal`].
    Hang,
}

/// The part of an event forwarded before a cut.
#[derive(Debug, Clone)]
pub struct Partial {
    /// The event's `id`, when its `id:` line got through.
    pub id: Option<u64>,
    /// The bytes of the event that were forwarded.
    pub bytes: Vec<u8>,
}

/// What the downstream pump does with the chunk it just read.
enum Act {
    Pass,
    CutEvent(usize, Partial, oneshot::Sender<Partial>),
    Response(Fault, oneshot::Sender<()>),
}

enum Trigger {
    Event(CutAt, oneshot::Sender<Partial>),
    Response(Fault, oneshot::Sender<()>),
}

#[derive(Default)]
struct Shared {
    conns: Mutex<Vec<Arc<watch::Sender<Flow>>>>,
    /// New connections start stalled (a partition).
    blackhole: Mutex<bool>,
    trigger: Mutex<Option<Trigger>>,
    /// Bytes per piece and the pause after each piece.
    slow: Mutex<Option<(usize, Duration)>>,
    accepted: AtomicU64,
}

impl Shared {
    fn set_all(&self, flow: Flow) {
        let mut conns = self.conns.lock().unwrap();
        conns.retain(|c| *c.borrow() != Flow::Closed);
        for c in conns.iter() {
            c.send_replace(flow);
        }
    }
}

/// A running proxy.
pub struct Proxy {
    /// Where clients connect.
    pub addr: SocketAddr,
    shared: Arc<Shared>,
}

impl Proxy {
    /// Proxies a free loopback port to `target`.
    pub async fn start(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared::default());
        let accepting = shared.clone();
        tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                accepting.accepted.fetch_add(1, Ordering::SeqCst);
                let _ = inbound.set_nodelay(true);
                let initial = if *accepting.blackhole.lock().unwrap() {
                    Flow::Stalled
                } else {
                    Flow::Forward
                };
                let flow = Arc::new(watch::channel(initial).0);
                accepting.conns.lock().unwrap().push(flow.clone());
                let shared = accepting.clone();
                tokio::spawn(async move {
                    let Ok(outbound) = TcpStream::connect(target).await else {
                        flow.send_replace(Flow::Closed);
                        return;
                    };
                    let _ = outbound.set_nodelay(true);
                    let (in_read, in_write) = inbound.into_split();
                    let (out_read, out_write) = outbound.into_split();
                    let up = pump(in_read, out_write, false, flow.clone(), shared.clone());
                    let down = pump(out_read, in_write, true, flow.clone(), shared);
                    tokio::join!(up, down);
                    flow.send_replace(Flow::Closed);
                });
            }
        });
        Self { addr, shared }
    }

    /// The base URL through the proxy.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> u64 {
        self.shared.accepted.load(Ordering::SeqCst)
    }

    /// Drops every connection open now; new ones are accepted.
    pub fn cut(&self) {
        self.shared.set_all(Flow::Closed);
    }

    /// Stops forwarding on every connection open now, in both directions,
    /// leaving the sockets open; new connections work.
    pub fn hang(&self) {
        self.shared.set_all(Flow::Stalled);
    }

    /// Hangs every open connection and every new one until [`Self::heal`].
    pub fn blackhole(&self) {
        *self.shared.blackhole.lock().unwrap() = true;
        self.shared.set_all(Flow::Stalled);
    }

    /// Ends a hang or a blackhole: held connections forward again (what
    /// they held is delivered late) and new ones forward at once.
    pub fn heal(&self) {
        *self.shared.blackhole.lock().unwrap() = false;
        let conns = self.shared.conns.lock().unwrap();
        for c in conns.iter() {
            c.send_if_modified(|f| {
                if *f == Flow::Stalled {
                    *f = Flow::Forward;
                    true
                } else {
                    false
                }
            });
        }
    }

    /// Arms a cut inside the next server-sent event the hub sends through
    /// the proxy (heartbeats are let through): part of it is forwarded, then
    /// the connection closes. The receiver gets what was forwarded.
    pub fn cut_inside_next_event(&self, at: CutAt) -> oneshot::Receiver<Partial> {
        let (tx, rx) = oneshot::channel();
        *self.shared.trigger.lock().unwrap() = Some(Trigger::Event(at, tx));
        rx
    }

    /// Arms a fault on the connection that carries the next HTTP response:
    /// the hub has received and answered the request, the client never
    /// sees the answer. The receiver fires when the fault is applied.
    pub fn fail_next_response(&self, fault: Fault) -> oneshot::Receiver<()> {
        let (tx, rx) = oneshot::channel();
        *self.shared.trigger.lock().unwrap() = Some(Trigger::Response(fault, tx));
        rx
    }

    /// Forwards at most `piece` bytes at a time with `pause` after each, in
    /// both directions; `None` forwards at full speed again.
    pub fn slow(&self, limit: Option<(usize, Duration)>) {
        *self.shared.slow.lock().unwrap() = limit.map(|(n, d)| (n.max(1), d));
    }
}

/// Waits until the connection may forward; false when it was closed.
async fn may_forward(flow: &mut watch::Receiver<Flow>) -> bool {
    loop {
        let now = *flow.borrow_and_update();
        match now {
            Flow::Forward => return true,
            Flow::Closed => return false,
            Flow::Stalled => {
                if flow.changed().await.is_err() {
                    return false;
                }
            }
        }
    }
}

/// Returns once the connection is closed.
async fn until_closed(flow: &mut watch::Receiver<Flow>) {
    loop {
        if *flow.borrow_and_update() == Flow::Closed || flow.changed().await.is_err() {
            return;
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Where to cut a chunk that holds a server-sent event, and the event's id.
fn event_cut(chunk: &[u8], at: CutAt) -> Option<(usize, Partial)> {
    let data = find(chunk, b"data:")?;
    // The event starts at its `id:` line (axum writes id, event, data).
    let start = chunk[..data]
        .windows(4)
        .rposition(|w| w == b"id: ")
        .unwrap_or(data);
    let end = match at {
        CutAt::InsideData => (data + "data: ".len() + 4).min(chunk.len() - 1),
        CutAt::BeforeBlankLine => data + find(&chunk[data..], b"\n\n")? + 1,
    };
    let bytes = chunk[start..end].to_vec();
    let id = std::str::from_utf8(&bytes)
        .ok()
        .and_then(|s| s.strip_prefix("id: "))
        .and_then(|s| s.split('\n').next())
        .and_then(|s| s.trim().parse().ok());
    Some((end, Partial { id, bytes }))
}

/// Copies one direction of a connection, applying the proxy's faults.
async fn pump(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    downstream: bool,
    flow: Arc<watch::Sender<Flow>>,
    shared: Arc<Shared>,
) {
    let mut state = flow.subscribe();
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        if !may_forward(&mut state).await {
            return;
        }
        let n = tokio::select! {
            r = from.read(&mut buf) => match r {
                Ok(0) | Err(_) => {
                    let _ = to.shutdown().await;
                    return;
                }
                Ok(n) => n,
            },
            () = until_closed(&mut state) => return,
        };
        // Read while forwarding was allowed; hold it if a hang began since.
        if !may_forward(&mut state).await {
            return;
        }
        let mut chunk = &buf[..n];
        let act = if downstream {
            let mut trigger = shared.trigger.lock().unwrap();
            match trigger.take() {
                Some(Trigger::Event(at, tx)) => match event_cut(chunk, at) {
                    Some((end, partial)) => Act::CutEvent(end, partial, tx),
                    None => {
                        *trigger = Some(Trigger::Event(at, tx));
                        Act::Pass
                    }
                },
                Some(Trigger::Response(fault, tx)) if chunk.starts_with(b"HTTP/1.") => {
                    Act::Response(fault, tx)
                }
                other => {
                    *trigger = other;
                    Act::Pass
                }
            }
        } else {
            Act::Pass
        };
        match act {
            Act::Pass => {}
            Act::CutEvent(end, partial, tx) => {
                let _ = to.write_all(&chunk[..end]).await;
                let _ = to.flush().await;
                // Let the client read the partial bytes before the close, as
                // a network that dies mid-event would.
                tokio::time::sleep(Duration::from_millis(50)).await;
                let _ = tx.send(partial);
                flow.send_replace(Flow::Closed);
                return;
            }
            Act::Response(Fault::Cut, tx) => {
                let _ = tx.send(());
                flow.send_replace(Flow::Closed);
                return;
            }
            Act::Response(Fault::Hang, tx) => {
                let _ = tx.send(());
                flow.send_replace(Flow::Stalled);
                if !may_forward(&mut state).await {
                    return;
                }
            }
        }
        let slow = *shared.slow.lock().unwrap();
        let piece = slow.map_or(chunk.len(), |(p, _)| p);
        while !chunk.is_empty() {
            let (now, rest) = chunk.split_at(piece.min(chunk.len()));
            let written = tokio::select! {
                r = to.write_all(now) => r.is_ok(),
                () = until_closed(&mut state) => false,
            };
            if !written {
                return;
            }
            chunk = rest;
            if let Some((_, pause)) = slow {
                tokio::time::sleep(pause).await;
            }
        }
    }
}
