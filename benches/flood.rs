//! Flood benchmark (`cargo bench --bench flood`): a hub under a steady
//! flood of events with many operators watching, for minutes, stopping by
//! itself.
//!
//! ```sh
//! cargo bench --bench flood                                        # 10 min, 50 clients, 20,000 events/s
//! cargo bench --bench flood -- --minutes 10 --clients 50 --rate 20000
//! cargo bench --bench flood -- --short                             # 45 s smoke run, reports every 15 s
//! ```
//!
//! In one process, on one tokio runtime (so everything shares the
//! machine's cores, as `benches/hub.rs` does):
//!
//! - **the hub**, started with `agentdeck::hub::start` on loopback, with a
//!   SQLite file in a temporary directory and the default SLO specs;
//! - **the fleet**: the simulated agents of `agentdeck simulate`
//!   (`agentdeck::sim`: their profiles, runs with tool calls, tokens, cost
//!   and versions, the `mixed` scenario's outages, drift, cost and
//!   latency episodes, prompt roll-outs, heartbeats every 10 s, controls
//!   polled every second with ETags), paced here at the asked rate and
//!   posted over HTTP as NDJSON bodies of up to 1,000 events, at most four
//!   at a time. Events the fleet cannot post because all four POSTs are
//!   still waiting for the hub are owed, and dropped after two seconds
//!   (counted as a shortfall), so a slow hub shows as a lower rate, not as
//!   the generator's memory. Approval requests are capped at
//!   `--approvals` a second (default 2); runs beyond the cap that would
//!   have asked are posted as finished runs, approved by policy. (The
//!   simulator's own runner asks on 1–20 % of runs and polls each pending
//!   approval every second: at 20,000 runs a second that is some 800 new
//!   approvals and, within minutes, 100,000 polls a second — a storm no
//!   fleet makes, which takes the sockets of the machine.)
//! - **the clients**: each one the TUI's own feed task
//!   (`agentdeck::client::feed::run`: `GET /v1/stream` over real HTTP,
//!   SSE parsing, every event decoded into the model types, resume and
//!   backoff) feeding a TUI `App` (`App::apply_feed`, as the TUI's loop
//!   does, without drawing), each with its own viewer token.
//!
//! - **the approver**: one more of the same feed-and-`App` pairs, with an
//!   approver token, deciding each approval 20 s after it was asked (four
//!   in five approved), as the person on call would. Without it approvals
//!   wait for their deadlines (4 to 10 minutes), so the state, and the
//!   memory of every client holding it, grows for the first 10 minutes.
//!
//! Lag: a subscriber to the hub's broadcast (the stream's own source), on
//! its own OS thread so a busy runtime does not delay it, notes when each
//! delta id is published. A client's lag for a delta is the time from its
//! publication to the client's loop receiving it. Once a second the
//! clients are also sampled: a client whose last delta is older than the
//! hub's latest is behind by the age of the oldest delta it has not
//! received, which catches a stalled client that receives nothing.
//!
//! Reported every `--report-every` seconds (default 30) and at the end:
//! events accepted per second, POST latency, what the fleet owes and has in
//! flight, deltas published, client lag (p50/p99/max on receipt, the
//! sampled maximum), resynchronisations and reconnects, the process's RSS
//! (`VmRSS`; peak `VmHWM`), the journal's size on disk (database and WAL)
//! and CPU use (this process and every other process on the machine).
//!
//! Verdicts: ingest keeps up (accepted events/s over the run ≥ 98 % of the
//! asked rate, no shortfall, no failed POST); every client within 2 s of live (maximum lag on receipt and
//! sampled < 2 s, no resynchronisation); memory flat (RSS at the end within
//! 5 % + 16 MiB of RSS at a quarter of the run; the first minutes fill
//! fixed-size buffers: recent event ids, the replay buffer, SLO rings).
//! The RSS is the whole process's: hub, fleet and clients (each holds the
//! TUI's copy of the state), so flat RSS means flat hub memory.
//!
//! A watchdog ends the process (removing the temporary database) if a run
//! overshoots its length by two minutes.
//!
//! Options: `--minutes M` or `--seconds S` (default 10 minutes),
//! `--clients N` (50), `--rate R` events/s (20000), `--agents N` (12),
//! `--approvals A` approval requests/s (2), `--report-every S` (30),
//! `--short` (45 s, reports every 15 s).

mod common;

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use agentdeck::client::feed::{self, FeedMsg};
use agentdeck::engine::spec::default_specs;
use agentdeck::hub::auth::TokenStore;
use agentdeck::hub::core::StreamLimits;
use agentdeck::hub::policy::Policy;
use agentdeck::hub::{HubConfig, RunningHub};
use agentdeck::model::approval::ApprovalState;
use agentdeck::model::control::Control;
use agentdeck::model::role::Role;
use agentdeck::sim::agent::{Obeyed, SimAgent, Step};
use agentdeck::sim::scenario::Scenario;
use agentdeck::tui::app::App;
use agentdeck::tui::keymap::Keymap;
use common::{cpu_time, machine_cpu_time, ms};
use tokio::sync::{Semaphore, mpsc};

const AGENT_TOKEN: &str = "adk_flood_agent";
const APPROVER_TOKEN: &str = "adk_flood_approver";
/// How long the on-call approver takes to decide an approval.
const THINK: Duration = Duration::from_secs(20);
/// Lag a client may have.
const TARGET_LAG: Duration = Duration::from_secs(2);
/// Share of the asked rate ingest must reach.
const KEEP_UP: f64 = 0.98;
/// Events per POST.
const BATCH: usize = 1_000;
/// POSTs in flight at once.
const POSTS: usize = 4;
/// Events owed longer than this are dropped as a shortfall.
const OWED_LIMIT_S: f64 = 2.0;
/// Publication times kept (a power of two): at a few hundred deltas a
/// second, minutes of them.
const LOG_SLOTS: usize = 1 << 17;

// ---- options -----------------------------------------------------------------

#[derive(Debug, Clone)]
struct Options {
    length: Duration,
    clients: usize,
    rate: f64,
    agents: usize,
    approvals: f64,
    report_every: Duration,
}

fn parse_options() -> Result<Options, String> {
    let mut o = Options {
        length: Duration::from_secs(600),
        clients: 50,
        rate: 20_000.0,
        agents: 12,
        approvals: 2.0,
        report_every: Duration::from_secs(30),
    };
    let mut args = std::env::args().skip(1);
    let number = |name: &str, v: Option<String>| -> Result<f64, String> {
        let v = v.ok_or_else(|| format!("{name} needs a value"))?;
        v.parse::<f64>()
            .ok()
            .filter(|x| x.is_finite() && *x > 0.0)
            .ok_or_else(|| format!("{name}: {v:?} is not a positive number"))
    };
    while let Some(a) = args.next() {
        match a.as_str() {
            "--minutes" => o.length = Duration::from_secs_f64(60.0 * number(&a, args.next())?),
            "--seconds" => o.length = Duration::from_secs_f64(number(&a, args.next())?),
            "--clients" => o.clients = number(&a, args.next())? as usize,
            "--rate" => o.rate = number(&a, args.next())?,
            "--agents" => o.agents = number(&a, args.next())? as usize,
            "--approvals" => o.approvals = number(&a, args.next())?,
            "--report-every" => {
                o.report_every = Duration::from_secs_f64(number(&a, args.next())?);
            }
            "--short" => {
                o.length = Duration::from_secs(45);
                o.report_every = Duration::from_secs(15);
            }
            // `cargo bench` passes `--bench` to every bench binary.
            "--bench" => {}
            "--help" | "-h" => {
                return Err("usage: cargo bench --bench flood -- [--minutes M | --seconds S | --short] [--clients N] [--rate EVENTS_PER_S] [--agents N] [--approvals PER_S] [--report-every S]".into());
            }
            other => return Err(format!("unknown option {other:?} (try --help)")),
        }
    }
    Ok(o)
}

// ---- measurements --------------------------------------------------------------

/// When each delta id was published, in a ring of fixed size (so the
/// benchmark's own memory stays flat).
struct PublishLog {
    slots: Vec<(u64, Option<Instant>)>,
    latest: u64,
    /// Deltas the recording thread missed (it fell behind the broadcast).
    missed: u64,
}

impl PublishLog {
    fn new() -> Self {
        Self {
            slots: vec![(0, None); LOG_SLOTS],
            latest: 0,
            missed: 0,
        }
    }

    fn record(&mut self, id: u64, at: Instant) {
        self.slots[id as usize % LOG_SLOTS] = (id, Some(at));
        self.latest = self.latest.max(id);
    }

    fn at(&self, id: u64) -> Option<Instant> {
        match self.slots[id as usize % LOG_SLOTS] {
            (i, at) if i == id => at,
            _ => None,
        }
    }

    /// The oldest delta published after `id`, if the ring still holds it
    /// (ids are consecutive; a few gaps are skipped).
    fn first_after(&self, id: u64) -> Option<Instant> {
        (id + 1..=self.latest.min(id + 64)).find_map(|i| self.at(i))
    }
}

/// Lags in 0.1 ms steps up to 10 s, and the exact maximum.
#[derive(Clone)]
struct Histogram {
    counts: Vec<u32>,
    over: u64,
    n: u64,
    max: Duration,
}

impl Histogram {
    const STEP_US: u64 = 100;
    const BUCKETS: usize = 100_000;

    fn new() -> Self {
        Self {
            counts: vec![0; Self::BUCKETS],
            over: 0,
            n: 0,
            max: Duration::ZERO,
        }
    }

    fn add(&mut self, d: Duration) {
        let b = (d.as_micros() as u64 / Self::STEP_US) as usize;
        match self.counts.get_mut(b) {
            Some(c) => *c = c.saturating_add(1),
            None => self.over += 1,
        }
        self.n += 1;
        self.max = self.max.max(d);
    }

    fn clear(&mut self) {
        self.counts.fill(0);
        self.over = 0;
        self.n = 0;
        self.max = Duration::ZERO;
    }

    /// The `q` quantile in ms (the upper edge of its bucket), or the
    /// maximum when it falls beyond the buckets.
    fn quantile_ms(&self, q: f64) -> f64 {
        if self.n == 0 {
            return 0.0;
        }
        let rank = ((self.n as f64 * q).ceil() as u64).clamp(1, self.n);
        let mut seen = 0u64;
        for (b, &c) in self.counts.iter().enumerate() {
            seen += u64::from(c);
            if seen >= rank {
                return ((b as u64 + 1) * Self::STEP_US) as f64 / 1e3;
            }
        }
        ms(self.max)
    }
}

/// Lags on receipt, for the current report interval and the whole run.
struct Lags {
    interval: Histogram,
    total: Histogram,
    /// Deltas received before the recording thread noted their
    /// publication (counted with a lag of zero).
    early: u64,
    /// Deltas whose publication time was no longer known (older than the
    /// ring): a client that far behind has failed.
    unknown: u64,
}

/// One client's counters.
#[derive(Default)]
struct ClientStats {
    /// Id of the last snapshot or delta received.
    last_id: AtomicU64,
    connected: AtomicBool,
    deltas: AtomicU64,
    snapshots: AtomicU64,
    reconnects: AtomicU64,
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// A field of `/proc/self/status` in bytes (`VmRSS`, `VmHWM`).
fn proc_status_bytes(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

/// Bytes of the database and its WAL.
fn journal_bytes(db: &Path) -> (u64, u64) {
    let size = |p: PathBuf| std::fs::metadata(p).map_or(0, |m| m.len());
    let mut wal = db.as_os_str().to_owned();
    wal.push("-wal");
    (size(db.to_path_buf()), size(PathBuf::from(wal)))
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".into())
}

// ---- the parts -----------------------------------------------------------------

fn viewer_token(i: usize) -> String {
    format!("adk_flood_viewer_{i:03}")
}

async fn start_hub(db: PathBuf, clients: usize) -> RunningHub {
    let mut tokens = TokenStore::default();
    tokens
        .add_token(AGENT_TOKEN, "fleet", Role::Agent)
        .expect("agent token");
    tokens
        .add_token(APPROVER_TOKEN, "on-call", Role::Approver)
        .expect("approver token");
    for i in 0..clients {
        tokens
            .add_token(&viewer_token(i), &format!("viewer-{i:03}"), Role::Viewer)
            .expect("viewer token");
    }
    agentdeck::hub::start(HubConfig {
        listen: "127.0.0.1:0".parse().expect("address"),
        db,
        tokens,
        specs: default_specs(),
        policy: Policy::default(),
        max_body_bytes: agentdeck::hub::DEFAULT_MAX_BODY_BYTES,
        stream: StreamLimits::default(),
        runbooks: Vec::new(),
        otlp: Default::default(),
        retain_events: agentdeck::hub::DEFAULT_RETAIN_EVENTS,
        notify: None,
        sources: None,
        advertise: None,
    })
    .await
    .expect("hub starts")
}

/// Notes the publication time of every delta, on its own thread.
fn tap(hub: &RunningHub, log: Arc<Mutex<PublishLog>>) {
    use tokio::sync::broadcast::error::RecvError;
    let mut rx = agentdeck::hub::lock(&hub.core).subscribe();
    std::thread::spawn(move || {
        loop {
            match rx.blocking_recv() {
                Ok(frame) => {
                    let now = Instant::now();
                    log.lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .record(frame.id, now);
                }
                Err(RecvError::Lagged(n)) => {
                    log.lock().unwrap_or_else(PoisonError::into_inner).missed += n;
                }
                Err(RecvError::Closed) => return,
            }
        }
    });
}

/// One operator's TUI, minus the drawing: the feed task and a loop that
/// applies what it delivers to an `App`, timing each delta.
fn spawn_client(
    url: String,
    token: String,
    log: Arc<Mutex<PublishLog>>,
    lags: Arc<Mutex<Lags>>,
    stats: Arc<ClientStats>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let (tx, mut rx) = mpsc::channel::<FeedMsg>(1024);
    let feed = tokio::spawn(feed::run(url, token, tx));
    let app_loop = tokio::spawn(async move {
        let mut app = App::new(Keymap::default_keymap(), None, true);
        app.bell = false;
        while let Some(msg) = rx.recv().await {
            let now = Instant::now();
            match &msg {
                FeedMsg::Delta(id, _) => {
                    let (published, latest) = {
                        let log = log.lock().unwrap_or_else(PoisonError::into_inner);
                        (log.at(*id), log.latest)
                    };
                    let mut lags = lags.lock().unwrap_or_else(PoisonError::into_inner);
                    let lag = match published {
                        Some(t) => Some(now.saturating_duration_since(t)),
                        // The client got it before the recording thread
                        // noted it: published just now.
                        None if *id > latest => {
                            lags.early += 1;
                            Some(Duration::ZERO)
                        }
                        // Overwritten in the ring: minutes old.
                        None => None,
                    };
                    match lag {
                        Some(lag) => {
                            lags.interval.add(lag);
                            lags.total.add(lag);
                        }
                        None => lags.unknown += 1,
                    }
                    drop(lags);
                    stats.last_id.fetch_max(*id, Ordering::Relaxed);
                    stats.deltas.fetch_add(1, Ordering::Relaxed);
                }
                FeedMsg::Snapshot(s) => {
                    stats.last_id.fetch_max(s.seq, Ordering::Relaxed);
                    stats.snapshots.fetch_add(1, Ordering::Relaxed);
                    stats.connected.store(true, Ordering::Relaxed);
                }
                FeedMsg::Reconnecting { .. } => {
                    stats.reconnects.fetch_add(1, Ordering::Relaxed);
                }
                _ => {}
            }
            app.apply_feed(msg);
        }
    });
    vec![feed, app_loop]
}

/// What the on-call approver saw and did.
#[derive(Default)]
struct OperatorStats {
    decided: AtomicU64,
    failed: AtomicU64,
    /// Pending approvals and open incidents in its copy of the state.
    pending: AtomicU64,
    incidents: AtomicU64,
}

/// The on-call approver: a TUI's feed and `App` like the clients', which
/// decides each approval `THINK` after it was asked (four in five
/// approved, the rest rejected with a reason), as a person working the
/// queue would. Without it every approval waits for its deadline (4 to
/// 10 minutes) and the state grows for the first 10 minutes of a run,
/// which would hide a leak or fake one.
fn spawn_operator(url: String, stats: Arc<OperatorStats>) -> Vec<tokio::task::JoinHandle<()>> {
    let (tx, mut rx) = mpsc::channel::<FeedMsg>(1024);
    let feed = tokio::spawn(feed::run(url.clone(), APPROVER_TOKEN.to_string(), tx));
    let desk = tokio::spawn(async move {
        let http = match reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(30))
            .build()
        {
            Ok(h) => h,
            Err(e) => {
                eprintln!("flood: no HTTP client for the approver: {e}");
                return;
            }
        };
        let mut app = App::new(Keymap::default_keymap(), None, false);
        app.bell = false;
        let mut sent: std::collections::HashSet<String> = Default::default();
        let mut every = tokio::time::interval(Duration::from_secs(1));
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut n = 0u64;
        loop {
            tokio::select! {
                msg = rx.recv() => match msg {
                    Some(m) => { app.apply_feed(m); }
                    None => return,
                },
                _ = every.tick() => {
                    let due = chrono::Utc::now() - chrono::Duration::from_std(THINK).unwrap_or_default();
                    sent.retain(|id| app.data.approvals.contains_key(id));
                    stats.pending.store(app.data.approvals.len() as u64, Ordering::Relaxed);
                    stats.incidents.store(app.data.incidents.len() as u64, Ordering::Relaxed);
                    let ripe: Vec<String> = app
                        .data
                        .approvals
                        .values()
                        .filter(|a| a.requested_at <= due && !sent.contains(&a.id))
                        .map(|a| a.id.clone())
                        .take(50)
                        .collect();
                    for id in ripe {
                        n += 1;
                        let body = if n.is_multiple_of(5) {
                            serde_json::json!({"decision": "reject", "reason": "not during the incident"})
                        } else {
                            serde_json::json!({"decision": "approve"})
                        };
                        sent.insert(id.clone());
                        let (http, url, stats) = (http.clone(), url.clone(), stats.clone());
                        tokio::spawn(async move {
                            let r = http
                                .post(format!("{url}/v1/approvals/{id}/decision"))
                                .bearer_auth(APPROVER_TOKEN)
                                .header("Idempotency-Key", format!("flood-{id}"))
                                .json(&body)
                                .send()
                                .await;
                            // 409: the deadline passed first; it is closed either way.
                            match r {
                                Ok(r) if r.status().is_success() || r.status().as_u16() == 409 => {
                                    stats.decided.fetch_add(1, Ordering::Relaxed);
                                }
                                _ => {
                                    stats.failed.fetch_add(1, Ordering::Relaxed);
                                }
                            }
                        });
                    }
                }
            }
        }
    });
    vec![feed, desk]
}

// ---- the fleet ------------------------------------------------------------------

/// What the fleet counted.
struct FleetStats {
    /// Events built and handed to a POST.
    sent: AtomicU64,
    accepted: AtomicU64,
    rejected: AtomicU64,
    duplicates: AtomicU64,
    failed_posts: AtomicU64,
    /// Events due now but not built yet: every POST slot was busy.
    owed: AtomicU64,
    /// Events dropped after being owed too long: the hub did not keep up.
    shortfall: AtomicU64,
    approvals_asked: AtomicU64,
    /// The first refusal or failure, to print.
    first_error: Mutex<Option<String>>,
    /// POST latency (sent to answer read), this interval and in all.
    latency: Mutex<(Histogram, Histogram)>,
}

impl FleetStats {
    fn new() -> Self {
        Self {
            sent: AtomicU64::new(0),
            accepted: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            duplicates: AtomicU64::new(0),
            failed_posts: AtomicU64::new(0),
            owed: AtomicU64::new(0),
            shortfall: AtomicU64::new(0),
            approvals_asked: AtomicU64::new(0),
            first_error: Mutex::new(None),
            latency: Mutex::new((Histogram::new(), Histogram::new())),
        }
    }

    fn error(&self, e: String) {
        self.first_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get_or_insert(e);
    }
}

/// Posts one NDJSON body and counts the answer; the slot is freed when it
/// returns.
async fn post(
    http: reqwest::Client,
    url: String,
    body: String,
    stats: Arc<FleetStats>,
    _slot: tokio::sync::OwnedSemaphorePermit,
) {
    let t = Instant::now();
    let sent = http
        .post(url)
        .bearer_auth(AGENT_TOKEN)
        .header("content-type", "application/x-ndjson")
        .body(body)
        .send()
        .await;
    let answer = match sent {
        Ok(r) if r.status().is_success() => r.json::<serde_json::Value>().await.ok(),
        Ok(r) => {
            stats.error(format!("POST /v1/events answered {}", r.status()));
            None
        }
        Err(e) => {
            stats.error(format!("POST /v1/events failed: {e}"));
            None
        }
    };
    let took = t.elapsed();
    {
        let mut l = stats.latency.lock().unwrap_or_else(PoisonError::into_inner);
        l.0.add(took);
        l.1.add(took);
    }
    let Some(v) = answer else {
        stats.failed_posts.fetch_add(1, Ordering::Relaxed);
        return;
    };
    let count = |k: &str| v[k].as_u64().unwrap_or(0);
    stats
        .accepted
        .fetch_add(count("accepted"), Ordering::Relaxed);
    stats
        .duplicates
        .fetch_add(count("duplicates"), Ordering::Relaxed);
    let rejected = v["rejected"].as_array().map_or(0, Vec::len) as u64;
    if rejected > 0 {
        stats.error(format!("refused: {}", v["rejected"][0]));
    }
    stats.rejected.fetch_add(rejected, Ordering::Relaxed);
}

/// Polls each agent's controls every second, with its ETag, as the
/// simulated agents do, and keeps what each must obey.
fn poll_controls(
    http: reqwest::Client,
    hub: String,
    agents: Vec<String>,
    obeyed: Arc<Mutex<HashMap<String, Obeyed>>>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut etags: HashMap<String, String> = HashMap::new();
        let mut every = tokio::time::interval(Duration::from_secs(1));
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            every.tick().await;
            for agent in &agents {
                let mut req = http
                    .get(format!("{hub}/v1/agents/{agent}/controls"))
                    .bearer_auth(AGENT_TOKEN);
                if let Some(tag) = etags.get(agent) {
                    req = req.header("If-None-Match", tag.as_str());
                }
                let Ok(r) = req.send().await else { continue };
                if !r.status().is_success() || r.status().as_u16() == 304 {
                    continue;
                }
                if let Some(tag) = r.headers().get("etag").and_then(|v| v.to_str().ok()) {
                    etags.insert(agent.clone(), tag.to_string());
                }
                let Ok(body) = r.json::<serde_json::Value>().await else {
                    continue;
                };
                let controls: Vec<Control> =
                    serde_json::from_value(body["controls"].clone()).unwrap_or_default();
                obeyed
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .insert(agent.clone(), Obeyed::from_controls(&controls));
            }
        }
    })
}

/// The fleet: runs of the simulated agents at `rate` events a second
/// until `stop` is set, in bodies of up to `BATCH` events, at most `POSTS`
/// in flight.
async fn fleet(
    hub: String,
    o: Options,
    stats: Arc<FleetStats>,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<()> {
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(60))
        .build()?;
    let profiles = agentdeck::sim::profile::fleet();
    let mut agents: Vec<SimAgent> = (0..o.agents.max(1))
        .map(|i| SimAgent::new(profiles[i % profiles.len()].clone(), i, 7))
        .collect();
    let obeyed: Arc<Mutex<HashMap<String, Obeyed>>> = Arc::default();
    let poller = poll_controls(
        http.clone(),
        hub.clone(),
        agents.iter().map(|a| a.id.clone()).collect(),
        obeyed.clone(),
    );
    let url = format!("{hub}/v1/events");
    let slots = Arc::new(Semaphore::new(POSTS));
    let start = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut last = Instant::now();
    let mut last_beat: Option<Instant> = None;
    let mut due = 0.0f64;
    let mut approvals = 0.0f64;
    let mut next = 0usize;
    let mut extra: Vec<String> = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        tick.tick().await;
        let now = chrono::Utc::now();
        let effects = Scenario::Mixed.effects(start.elapsed().as_secs_f64());
        let dt = last.elapsed().as_secs_f64();
        last = Instant::now();
        let obeyed_now = obeyed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        for a in &mut agents {
            extra.extend(a.deployments(now, &effects).iter().map(|e| e.to_line()));
        }
        if last_beat.is_none_or(|t| t.elapsed() >= Duration::from_secs(10)) {
            last_beat = Some(Instant::now());
            for a in &agents {
                let o = obeyed_now.get(&a.id).cloned().unwrap_or_default();
                extra.push(a.heartbeat(now, &o).to_line());
            }
        }
        due += o.rate * dt;
        let owed_limit = o.rate * OWED_LIMIT_S;
        if due > owed_limit {
            stats
                .shortfall
                .fetch_add((due - owed_limit) as u64, Ordering::Relaxed);
            due = owed_limit;
        }
        approvals = (approvals + o.approvals * dt).min(o.approvals.max(1.0));
        while due >= 1.0 || !extra.is_empty() {
            let Ok(slot) = slots.clone().try_acquire_owned() else {
                break;
            };
            let n = (due.floor() as usize).min(BATCH);
            let mut body = String::with_capacity((n + extra.len()) * 600);
            let mut events = 0u64;
            for line in extra.drain(..) {
                body.push_str(&line);
                body.push('\n');
                events += 1;
            }
            let mut idle = 0;
            let mut runs = 0usize;
            while runs < n && idle < agents.len() {
                let i = next % agents.len();
                next += 1;
                let ob = obeyed_now.get(&agents[i].id).cloned().unwrap_or_default();
                let env = match agents[i].step(now, &effects, &ob) {
                    Step::Idle => {
                        idle += 1;
                        continue;
                    }
                    Step::Done(env) => env,
                    Step::Ask(ask, run) => {
                        if approvals >= 1.0 {
                            approvals -= 1.0;
                            stats.approvals_asked.fetch_add(1, Ordering::Relaxed);
                            ask
                        } else {
                            agents[i].resolve(*run, ApprovalState::Approved, now)
                        }
                    }
                };
                idle = 0;
                body.push_str(&env.to_line());
                body.push('\n');
                events += 1;
                runs += 1;
            }
            // Paused agents owe nothing.
            due = if idle >= agents.len() {
                0.0
            } else {
                (due - runs as f64).max(0.0)
            };
            if events == 0 {
                break;
            }
            stats.sent.fetch_add(events, Ordering::Relaxed);
            tokio::spawn(post(http.clone(), url.clone(), body, stats.clone(), slot));
        }
        stats.owed.store(due as u64, Ordering::Relaxed);
    }
    poller.abort();
    // Let the POSTs in flight land.
    let _ = tokio::time::timeout(Duration::from_secs(60), slots.acquire_many(POSTS as u32)).await;
    Ok(())
}

// ---- the run -------------------------------------------------------------------

/// Counters read at a report.
#[derive(Debug, Clone, Copy, Default)]
struct Mark {
    at_s: f64,
    sent: u64,
    accepted: u64,
    answered: u64,
    failed_posts: u64,
    owed: u64,
    shortfall: u64,
    approvals: u64,
    decided: u64,
    pending: u64,
    incidents: u64,
    published: u64,
    deltas: u64,
    snapshots: u64,
    reconnects: u64,
    cpu: Duration,
    machine_cpu: Duration,
}

/// One line of the report.
#[derive(Debug, Clone)]
struct Row {
    at_s: f64,
    accepted_per_s: f64,
    post_p50_ms: f64,
    post_p99_ms: f64,
    owed: u64,
    shortfall: u64,
    published_per_s: f64,
    deltas_per_client_s: f64,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    sampled_max_ms: f64,
    resyncs: u64,
    reconnects: u64,
    pending: u64,
    incidents: u64,
    rss: u64,
    hwm: u64,
    db: u64,
    wal: u64,
    cpu_pct: f64,
    other_pct: f64,
}

fn print_header() {
    println!(
        "{:>5} {:>8} {:>7} {:>7} {:>6} {:>6} {:>6} {:>6} {:>7} {:>7} {:>7} {:>7} {:>6} {:>6} {:>5} {:>5} {:>7} {:>7} {:>7} {:>6} {:>5} {:>5}",
        "t s",
        "accept/s",
        "post50",
        "post99",
        "owed",
        "short",
        "delt/s",
        "/client",
        "lag50",
        "lag99",
        "lagmax",
        "behind",
        "resync",
        "reconn",
        "appr",
        "inc",
        "RSS MiB",
        "peak",
        "db MiB",
        "WAL",
        "cpu%",
        "oth%"
    );
}

fn print_row(r: &Row) {
    println!(
        "{:>5.0} {:>8.0} {:>7.1} {:>7.1} {:>6} {:>6} {:>6.0} {:>6.0} {:>7.1} {:>7.1} {:>7.1} {:>7.1} {:>6} {:>6} {:>5} {:>5} {:>7.1} {:>7.1} {:>7.0} {:>6.1} {:>5.0} {:>5.0}",
        r.at_s,
        r.accepted_per_s,
        r.post_p50_ms,
        r.post_p99_ms,
        r.owed,
        r.shortfall,
        r.published_per_s,
        r.deltas_per_client_s,
        r.p50_ms,
        r.p99_ms,
        r.max_ms,
        r.sampled_max_ms,
        r.resyncs,
        r.reconnects,
        r.pending,
        r.incidents,
        mib(r.rss),
        mib(r.hwm),
        mib(r.db),
        mib(r.wal),
        r.cpu_pct,
        r.other_pct
    );
}

fn main() {
    // As `agentdeck serve` does.
    agentdeck::hub::arenas::limit_malloc_arenas();
    let options = match parse_options() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("hub.db");

    // The run must end by itself: past its length plus two minutes, the
    // watchdog removes the database (gigabytes after a long run) and exits.
    let deadline = options.length + Duration::from_secs(120);
    let doomed = dir.path().to_path_buf();
    std::thread::spawn(move || {
        std::thread::sleep(deadline);
        eprintln!(
            "flood: still running {} s after the end; giving up",
            deadline.as_secs()
        );
        let _ = std::fs::remove_dir_all(&doomed);
        std::process::exit(3);
    });

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let ok = runtime.block_on(run(options, cores, db));
    drop(runtime);
    drop(dir);
    if !ok {
        std::process::exit(1);
    }
}

async fn run(o: Options, cores: usize, db: PathBuf) -> bool {
    let rss_before = proc_status_bytes("VmRSS:");
    let load_before = load_average();
    println!(
        "==== flood: {} s, {} stream clients, {:.0} events/s asked, {} agents ({} cores, load average {load_before}; hub, fleet and clients in one process) ====",
        o.length.as_secs(),
        o.clients,
        o.rate,
        o.agents,
        cores
    );
    let hub = start_hub(db.clone(), o.clients).await;
    let url = hub.url();
    let log = Arc::new(Mutex::new(PublishLog::new()));
    tap(&hub, log.clone());

    // Clients first, so they watch the fleet from its first event.
    let lags = Arc::new(Mutex::new(Lags {
        interval: Histogram::new(),
        total: Histogram::new(),
        early: 0,
        unknown: 0,
    }));
    let clients: Vec<Arc<ClientStats>> = (0..o.clients)
        .map(|_| Arc::new(ClientStats::default()))
        .collect();
    let mut tasks = Vec::new();
    for (i, stats) in clients.iter().enumerate() {
        tasks.extend(spawn_client(
            url.clone(),
            viewer_token(i),
            log.clone(),
            lags.clone(),
            stats.clone(),
        ));
    }
    let operator = Arc::new(OperatorStats::default());
    tasks.extend(spawn_operator(url.clone(), operator.clone()));
    let connect_start = Instant::now();
    while clients.iter().any(|c| !c.connected.load(Ordering::Relaxed)) {
        if connect_start.elapsed() > Duration::from_secs(60) {
            eprintln!("flood: not every client connected within 60 s");
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let connected = clients
        .iter()
        .filter(|c| c.connected.load(Ordering::Relaxed))
        .count();
    let rss_start = proc_status_bytes("VmRSS:");
    println!(
        "{connected} of {} clients connected in {:.1} s; RSS {:.1} MiB before the hub, {:.1} MiB at the start",
        o.clients,
        connect_start.elapsed().as_secs_f64(),
        mib(rss_before),
        mib(rss_start)
    );

    let stats = Arc::new(FleetStats::new());
    let stop = Arc::new(AtomicBool::new(false));
    let fleet_task = tokio::spawn(fleet(url.clone(), o.clone(), stats.clone(), stop.clone()));

    let start = Instant::now();
    let read = |at_s: f64| -> Mark {
        let f = &stats;
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        Mark {
            at_s,
            sent: load(&f.sent),
            accepted: load(&f.accepted),
            answered: load(&f.accepted) + load(&f.rejected) + load(&f.duplicates),
            failed_posts: load(&f.failed_posts),
            owed: load(&f.owed),
            shortfall: load(&f.shortfall),
            approvals: load(&f.approvals_asked),
            decided: load(&operator.decided),
            pending: load(&operator.pending),
            incidents: load(&operator.incidents),
            published: log.lock().unwrap_or_else(PoisonError::into_inner).latest,
            deltas: clients.iter().map(|c| load(&c.deltas)).sum(),
            snapshots: clients.iter().map(|c| load(&c.snapshots)).sum(),
            reconnects: clients.iter().map(|c| load(&c.reconnects)).sum(),
            cpu: cpu_time(),
            machine_cpu: machine_cpu_time(),
        }
    };
    let first = read(0.0);
    let mut last = first;
    let mut rows: Vec<Row> = Vec::new();
    let mut sampled_interval = Duration::ZERO;
    let mut sampled_total = Duration::ZERO;
    let mut rss_max = rss_start;
    let mut sample = tokio::time::interval(Duration::from_secs(1));
    sample.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut next_report = o.report_every;
    print_header();
    while start.elapsed() < o.length {
        sample.tick().await;
        // How far behind each client is: the age of the oldest delta the
        // hub published that it has not received.
        let now = Instant::now();
        {
            let log = log.lock().unwrap_or_else(PoisonError::into_inner);
            for c in &clients {
                let seen = c.last_id.load(Ordering::Relaxed);
                if c.connected.load(Ordering::Relaxed) && log.latest > seen {
                    // Older than the ring: at least as old as its oldest.
                    let since = log
                        .first_after(seen)
                        .or_else(|| log.at(log.latest.saturating_sub(LOG_SLOTS as u64 - 1)));
                    if let Some(t) = since {
                        sampled_interval = sampled_interval.max(now.saturating_duration_since(t));
                    }
                }
            }
        }
        rss_max = rss_max.max(proc_status_bytes("VmRSS:"));
        let elapsed = start.elapsed();
        if elapsed >= next_report || elapsed >= o.length {
            next_report += o.report_every;
            let m = read(elapsed.as_secs_f64());
            let row = make_row(&last, &m, &lags, &stats, sampled_interval, o.clients, &db);
            sampled_total = sampled_total.max(sampled_interval);
            sampled_interval = Duration::ZERO;
            print_row(&row);
            rows.push(row);
            last = m;
        }
    }

    // Stop the fleet, let the last posts land, then read the end state.
    stop.store(true, Ordering::Relaxed);
    match tokio::time::timeout(Duration::from_secs(90), fleet_task).await {
        Ok(Ok(Ok(()))) => {}
        Ok(Ok(Err(e))) => eprintln!("flood: the fleet failed: {e}"),
        Ok(Err(e)) => eprintln!("flood: the fleet task failed: {e}"),
        Err(_) => eprintln!("flood: the fleet did not stop within 90 s"),
    }
    let end = read(start.elapsed().as_secs_f64());
    let rss_end = proc_status_bytes("VmRSS:");
    let hwm = proc_status_bytes("VmHWM:");
    let (db_bytes, wal_bytes) = journal_bytes(&db);
    let total = lags
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .total
        .clone();
    let (early, unknown) = {
        let lags = lags.lock().unwrap_or_else(PoisonError::into_inner);
        (lags.early, lags.unknown)
    };
    let missed = log.lock().unwrap_or_else(PoisonError::into_inner).missed;
    // The clients' feeds hold their streams open; the hub's graceful stop
    // would wait for them.
    for t in &tasks {
        t.abort();
    }
    if tokio::time::timeout(Duration::from_secs(20), hub.stop())
        .await
        .is_err()
    {
        eprintln!("flood: the hub did not stop within 20 s");
    }

    // ---- verdicts --------------------------------------------------------------
    let measured_s = rows.last().map_or(0.0, |r| r.at_s).max(1e-9);
    // `last` is the mark of the last report, taken before the fleet stopped.
    let accepted_rate = (last.accepted - first.accepted) as f64 / measured_s;
    let post_latency = stats
        .latency
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .1
        .clone();
    let first_error = stats
        .first_error
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    let keeps_up = accepted_rate >= KEEP_UP * o.rate && end.shortfall == 0 && end.failed_posts == 0;
    let resyncs = end.snapshots.saturating_sub(o.clients as u64);
    let live = total.max < TARGET_LAG && sampled_total < TARGET_LAG && resyncs == 0 && unknown == 0;
    let reference = rows
        .iter()
        .find(|r| r.at_s >= measured_s / 4.0)
        .or(rows.first())
        .map_or(rss_start, |r| r.rss);
    let flat = (rss_end as f64) <= reference as f64 * 1.05 + 16.0 * 1024.0 * 1024.0;
    let half = rows.iter().find(|r| r.at_s >= measured_s / 2.0);
    let slope = match (half, rows.last()) {
        (Some(h), Some(l)) if l.at_s > h.at_s => {
            (mib(l.rss) - mib(h.rss)) / ((l.at_s - h.at_s) / 60.0)
        }
        _ => 0.0,
    };

    let verdict = |ok: bool| if ok { "met" } else { "MISSED" };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\n==== flood summary ({} s measured, {} clients, {:.0} events/s asked, {} agents, {cores} cores, load average {load_before} before / {} after) ====",
        measured_s.round(),
        o.clients,
        o.rate,
        o.agents,
        load_average()
    );
    let _ = writeln!(
        out,
        "ingest: {accepted_rate:.0} events/s accepted over the run ({:.1} % of asked), {} accepted in all, {} answered of {} sent; POST p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; shortfall {} events, {} failed posts; {} approval requests, {} decided by the approver ({} pending, {} open incidents at the end){} — {}",
        100.0 * accepted_rate / o.rate,
        end.accepted,
        end.answered,
        end.sent,
        post_latency.quantile_ms(0.50),
        post_latency.quantile_ms(0.99),
        ms(post_latency.max),
        end.shortfall,
        end.failed_posts,
        end.approvals,
        end.decided,
        end.pending,
        end.incidents,
        first_error
            .map(|e| format!("; first error: {e}"))
            .unwrap_or_default(),
        verdict(keeps_up)
    );
    let _ = writeln!(
        out,
        "clients: lag on receipt p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms over {} deltas ({early} received before their publication was noted, {unknown} older than the publication log); sampled behind max {:.1} ms; {resyncs} resynchronisations, {} reconnects — within {} s: {}",
        total.quantile_ms(0.50),
        total.quantile_ms(0.99),
        ms(total.max),
        total.n,
        ms(sampled_total),
        end.reconnects,
        TARGET_LAG.as_secs(),
        verdict(live)
    );
    let _ = writeln!(
        out,
        "deltas: {} published ({:.0}/s), {:.0} received per client per second; the publication log missed {missed}",
        end.published,
        (end.published - first.published) as f64 / measured_s,
        (end.deltas - first.deltas) as f64 / measured_s / o.clients.max(1) as f64
    );
    let _ = writeln!(
        out,
        "memory: RSS {:.1} MiB before the hub, {:.1} MiB at the start, {:.1} MiB at a quarter of the run, {:.1} MiB at the end; peak {:.1} MiB (VmHWM; sampled max {:.1} MiB); second half {slope:+.2} MiB/min — flat: {}",
        mib(rss_before),
        mib(rss_start),
        mib(reference),
        mib(rss_end),
        mib(hwm),
        mib(rss_max),
        verdict(flat)
    );
    let _ = writeln!(
        out,
        "journal: {:.1} MiB database + {:.1} MiB WAL after {} events ({:.0} bytes an event)",
        mib(db_bytes),
        mib(wal_bytes),
        end.accepted,
        (db_bytes + wal_bytes) as f64 / end.accepted.max(1) as f64
    );
    let _ = writeln!(
        out,
        "cpu: this process {:.0} % of one core on average, other processes {:.0} %",
        100.0 * end.cpu.saturating_sub(first.cpu).as_secs_f64() / measured_s,
        100.0
            * (end.machine_cpu.saturating_sub(first.machine_cpu))
                .saturating_sub(end.cpu.saturating_sub(first.cpu))
                .as_secs_f64()
            / measured_s
    );
    print!("{out}");
    keeps_up && live && flat
}

/// The report line for the interval from `last` to `m`; clears the
/// interval's histograms.
fn make_row(
    last: &Mark,
    m: &Mark,
    lags: &Mutex<Lags>,
    fleet: &FleetStats,
    sampled: Duration,
    clients: usize,
    db: &Path,
) -> Row {
    let dt = (m.at_s - last.at_s).max(1e-9);
    let mut lags = lags.lock().unwrap_or_else(PoisonError::into_inner);
    let (p50_ms, p99_ms, max_ms) = (
        lags.interval.quantile_ms(0.50),
        lags.interval.quantile_ms(0.99),
        ms(lags.interval.max),
    );
    lags.interval.clear();
    drop(lags);
    let mut latency = fleet.latency.lock().unwrap_or_else(PoisonError::into_inner);
    let (post_p50_ms, post_p99_ms) = (latency.0.quantile_ms(0.50), latency.0.quantile_ms(0.99));
    latency.0.clear();
    drop(latency);
    let (db_bytes, wal_bytes) = journal_bytes(db);
    let cpu = m.cpu.saturating_sub(last.cpu).as_secs_f64();
    let machine = m.machine_cpu.saturating_sub(last.machine_cpu).as_secs_f64();
    Row {
        at_s: m.at_s,
        accepted_per_s: m.accepted.saturating_sub(last.accepted) as f64 / dt,
        post_p50_ms,
        post_p99_ms,
        owed: m.owed,
        shortfall: m.shortfall.saturating_sub(last.shortfall),
        published_per_s: m.published.saturating_sub(last.published) as f64 / dt,
        deltas_per_client_s: m.deltas.saturating_sub(last.deltas) as f64
            / dt
            / clients.max(1) as f64,
        p50_ms,
        p99_ms,
        max_ms,
        sampled_max_ms: ms(sampled),
        resyncs: m.snapshots.saturating_sub(last.snapshots),
        reconnects: m.reconnects.saturating_sub(last.reconnects),
        pending: m.pending,
        incidents: m.incidents,
        rss: proc_status_bytes("VmRSS:"),
        hwm: proc_status_bytes("VmHWM:"),
        db: db_bytes,
        wal: wal_bytes,
        cpu_pct: 100.0 * cpu / dt,
        other_pct: 100.0 * (machine - cpu).max(0.0) / dt,
    }
}
