//! Hub benchmark (`cargo bench --bench hub`): ingest throughput and
//! approval-to-stream delay of a real hub over loopback HTTP.
//!
//! One run measures:
//!
//! (a) ingest throughput: `POST /v1/events` with NDJSON bodies of 1,000
//!     realistic `run.finished` envelopes (tool calls, tokens, versions, a
//!     unique `id` and `run_id` per event, timestamps within the last two
//!     minutes; 10 agents × 5 workflows) from several concurrent client
//!     tasks, each reusing one keep-alive connection, against a fresh hub
//!     whose SQLite file lives in a temp dir. Bodies are generated before
//!     the clock starts, so the figure is the hub's (plus HTTP client
//!     work), not the generator's. Afterwards, once a tick has published
//!     them, the sum of `total` over the `completion` SLO series of
//!     `GET /v1/state` must equal the accepted count.
//! (b) approval delay: with background ingest at a steady 10,000 events/s,
//!     300 `approval.requested` events are POSTed ~20 ms apart; the delay
//!     of each runs from just before its POST is sent to the moment a
//!     stream client (`GET /v1/stream` with a viewer token, parsed with
//!     `eventsource-stream`) receives the `approval` delta with its
//!     request id. Two shapes of background load: 1,000-event bodies
//!     every 100 ms (the batch size of (a)), and 100-event bodies every
//!     10 ms; plus a run without background load (the floor). Each delay
//!     is split where the hub publishes the delta (seen by an in-process
//!     subscriber to the core's broadcast, the stream's own source): POST
//!     → published is the hub's request path and lock, published → client
//!     is the stream's transport. Runs on the hub of the last (a) run, so
//!     on a hub with history.
//! (c) where the time goes: the ingest path of one 1,000-event body taken
//!     apart in-process on one thread: decode, `Core::ingest` (under the
//!     lock) and `Core::tick` on the live hub, then the parts of
//!     `Core::ingest` replayed alone with the same events — engine, the
//!     recent-id memory (and a fingerprint alternative), the journal write
//!     as the store does it and in alternative shapes, and the WAL
//!     checkpoint on its own.
//!
//! Hub and load generator run in one process on one tokio multi-thread
//! runtime, so they share the machine's cores: an honest worst case for the
//! hub, printed with the results.
//!
//! (d) restart from the journal and from a snapshot, and (e) the same
//!     ingest and delay runs on each store backend, SQLite and PostgreSQL
//!     with one and three replicas (`hub/backends.rs`).
//!
//! Environment: `AGENTDECK_BENCH_EVENTS` (default 500000) sets the events
//! of each throughput run; `AGENTDECK_BENCH_CLIENTS` (default `2,4`) the
//! concurrent client counts to try; `AGENTDECK_BENCH_APPROVALS` (default
//! 300) the approvals of each delay run.

#[path = "hub/backends.rs"]
mod backends;
#[path = "hub/breakdown.rs"]
mod breakdown;
mod common;
#[path = "hub/delay.rs"]
mod delay;
#[path = "hub/report.rs"]
mod report;
#[path = "hub/restart.rs"]
mod restart;
#[path = "hub/throughput.rs"]
mod throughput;

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use agentdeck::engine::spec::default_specs;
use agentdeck::hub::auth::TokenStore;
use agentdeck::hub::core::StreamLimits;
use agentdeck::hub::policy::Policy;
use agentdeck::hub::store::{Batch, Block, Store};
use agentdeck::hub::{HubConfig, RunningHub};
use agentdeck::model::role::Role;
use chrono::{DateTime, SecondsFormat, Utc};
use common::{
    AGENTS, MODELS, Rng, TOOLS, WORKFLOWS, cpu_time, env_u64, machine_cpu_time, ms, verdict,
};
use futures_util::StreamExt;
use tokio::sync::mpsc;

use breakdown::{Breakdown, breakdown};
use delay::{Delay, approval_delay};
use report::report;
use restart::{DEFAULT_RESTART_EVENTS, report_restart, restart};
use throughput::{Throughput, throughput, throughput_on};

/// Events per throughput run.
const DEFAULT_EVENTS: u64 = 500_000;
/// Envelopes per NDJSON body in (a).
const BATCH: usize = 1_000;
/// Client counts tried in (a).
const DEFAULT_CLIENTS: &[usize] = &[2, 4];
/// Approvals per delay run.
const DEFAULT_APPROVALS: usize = 300;
/// Spacing of the approvals.
const APPROVAL_SPACING: Duration = Duration::from_millis(20);
/// Background ingest rate during (b).
const BACKGROUND_EPS: u64 = 10_000;
/// The loaded (b) run ingests at this share of the best (a) rate.
const LOADED_SHARE: f64 = 0.8;
/// Targets.
const TARGET_EPS: f64 = 300_000.0;
const TARGET_P99_MS: f64 = 10.0;

const AGENT_TOKEN: &str = "adk_bench_agent";
const VIEWER_TOKEN: &str = "adk_bench_viewer";
const LEAD_TOKEN: &str = "adk_bench_lead";

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Appends one `run.finished` line (no newline). Versions are fixed per
/// agent (one deployment, so no version-change audit entries); 98 % of runs
/// are good for the completion SLO, latencies stay under the latency SLO's
/// threshold, so no alert fires and the load is steady.
fn push_run(out: &mut String, rng: &mut Rng, id: &str, now: DateTime<Utc>) {
    let a = rng.below(AGENTS.len() as u64) as usize;
    let w = rng.below(WORKFLOWS.len() as u64) as usize;
    let at = now - chrono::Duration::milliseconds(rng.below(120_000) as i64);
    let roll = rng.below(1000);
    let outcome = match roll {
        0..=954 => "success",
        955..=979 => "escalated",
        980..=994 => "failed",
        _ => "timed_out",
    };
    let latency = if outcome == "timed_out" {
        30_000
    } else {
        300 + rng.below(4_500)
    };
    let input = 200 + rng.below(3_000);
    let output = 20 + rng.below(600);
    let cost = (input as f64 * 2.5 + output as f64 * 10.0) / 1_000_000.0;
    let _ = write!(
        out,
        r#"{{"v":1,"type":"run.finished","ts":"{}","agent":"{}","id":"{id}","run_id":"run-{:016x}","workflow":"{}","outcome":"{outcome}","latency_ms":{latency},"cost_usd":{cost:.6},"tokens":{{"input":{input},"output":{output}}},"tool_calls":["#,
        ts(at),
        AGENTS[a],
        rng.next(),
        WORKFLOWS[w],
    );
    let calls = 1 + rng.below(4);
    for c in 0..calls {
        if c > 0 {
            out.push(',');
        }
        let tool = TOOLS[rng.below(TOOLS.len() as u64) as usize];
        let tool_latency = 20 + rng.below(800);
        if rng.below(100) == 0 {
            let _ = write!(
                out,
                r#"{{"tool":"{tool}","status":"error","latency_ms":{tool_latency},"error":"503: upstream unavailable"}}"#
            );
        } else {
            let _ = write!(
                out,
                r#"{{"tool":"{tool}","status":"ok","latency_ms":{tool_latency}}}"#
            );
        }
    }
    let _ = write!(
        out,
        r#"],"versions":{{"model":"{}","prompt":"v{}","tool":"tools-2026.11.3","policy":"{}-p12"}}"#,
        MODELS[a % MODELS.len()],
        8 + a,
        AGENTS[a],
    );
    if outcome == "failed" {
        out.push_str(r#","error":"issue_refund failed: 422: amount_usd must be a number""#);
    }
    out.push('}');
}

/// `events` run lines in bodies of `batch`, ids `evt-<tag>-<n>`.
fn bodies(tag: &str, events: u64, batch: usize, seed: u64) -> Vec<String> {
    let mut rng = Rng(seed);
    let now = Utc::now();
    let mut out = Vec::with_capacity(events.div_ceil(batch as u64) as usize);
    let mut n = 0u64;
    let mut id = String::new();
    while n < events {
        let len = (events - n).min(batch as u64);
        let mut body = String::with_capacity(len as usize * 560);
        for _ in 0..len {
            id.clear();
            let _ = write!(id, "evt-{tag}-{n}");
            push_run(&mut body, &mut rng, &id, now);
            body.push('\n');
            n += 1;
        }
        out.push(body);
    }
    out
}

fn approval_line(request_id: &str, now: DateTime<Utc>) -> String {
    format!(
        r#"{{"v":1,"type":"approval.requested","ts":"{}","agent":"refund-bot","id":"evt-{request_id}","request_id":"{request_id}","run_id":"run-{request_id}","workflow":"refund","action":"issue_refund","tool":"payments.refund","risk":"high","reason":"refund above the auto-approve limit","deadline":"{}","args":{{"order":"A-1042","amount_usd":420}}}}"#,
        ts(now),
        ts(now + chrono::Duration::hours(1)),
    )
}

struct Hub {
    hub: RunningHub,
    _dir: tempfile::TempDir,
    http: reqwest::Client,
    /// Other replicas' addresses to post to and to stream from, instead
    /// of this hub's own (approvals asked on one replica, watched on
    /// another).
    via: Option<Via>,
}

/// Where (b) posts and streams when not at the hub itself.
struct Via {
    posts: String,
    streams: String,
}

impl Hub {
    async fn start() -> Self {
        Self::start_on(None).await
    }

    /// A hub on `db` (a `postgres://` URL), or on a SQLite file in a
    /// temporary directory.
    async fn start_on(db: Option<std::path::PathBuf>) -> Self {
        Self::start_at(db, "127.0.0.1:0").await
    }

    /// Like [`Hub::start_on`], listening on `listen` (a replica that stands
    /// by listens there, forwarding, and never returns from this).
    async fn start_at(db: Option<std::path::PathBuf>, listen: &str) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut tokens = TokenStore::default();
        for (token, name, role) in [
            (AGENT_TOKEN, "fleet", Role::Agent),
            (VIEWER_TOKEN, "bench-viewer", Role::Viewer),
            (LEAD_TOKEN, "bench-lead", Role::Lead),
        ] {
            tokens.add_token(token, name, role).expect("token");
        }
        let hub = agentdeck::hub::start(HubConfig {
            listen: listen.parse().expect("address"),
            db: db.unwrap_or_else(|| dir.path().join("hub.db")),
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
        .expect("hub starts");
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(120))
            .build()
            .expect("http client");
        Self {
            hub,
            _dir: dir,
            http,
            via: None,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.hub.url())
    }

    /// Where (b) posts: this hub, or the replica of [`Hub::via`].
    fn post_url(&self, path: &str) -> String {
        match &self.via {
            Some(via) => format!("{}{path}", via.posts),
            None => self.url(path),
        }
    }

    /// Where (b) streams from: this hub, or the replica of [`Hub::via`].
    fn stream_url(&self, path: &str) -> String {
        match &self.via {
            Some(via) => format!("{}{path}", via.streams),
            None => self.url(path),
        }
    }

    async fn state(&self) -> serde_json::Value {
        self.http
            .get(self.url("/v1/state"))
            .bearer_auth(LEAD_TOKEN)
            .send()
            .await
            .expect("GET /v1/state")
            .json()
            .await
            .expect("state JSON")
    }

    /// Sum of `total` over the `completion` series.
    async fn completion_total(&self) -> u64 {
        let state = self.state().await;
        state["slos"]
            .as_array()
            .map(|slos| {
                slos.iter()
                    .filter(|s| s["slo"] == "completion")
                    .filter_map(|s| s["total"].as_u64())
                    .sum()
            })
            .unwrap_or(0)
    }
}

/// What the hub answered to a set of POSTs.
#[derive(Debug, Default, Clone)]
struct Counts {
    accepted: u64,
    duplicates: u64,
    rejected: u64,
    failed_requests: u64,
    first_error: Option<String>,
}

impl Counts {
    fn add(&mut self, other: &Counts) {
        self.accepted += other.accepted;
        self.duplicates += other.duplicates;
        self.rejected += other.rejected;
        self.failed_requests += other.failed_requests;
        if self.first_error.is_none() {
            self.first_error.clone_from(&other.first_error);
        }
    }
}

async fn post_events(http: &reqwest::Client, url: &str, body: String) -> Counts {
    let mut c = Counts::default();
    match http
        .post(url)
        .bearer_auth(AGENT_TOKEN)
        .body(body)
        .send()
        .await
    {
        Ok(r) => {
            let status = r.status();
            let v: serde_json::Value = r.json().await.unwrap_or_default();
            if status.is_success() {
                c.accepted = v["accepted"].as_u64().unwrap_or(0);
                c.duplicates = v["duplicates"].as_u64().unwrap_or(0);
                let rejected = v["rejected"].as_array().map_or(0, Vec::len) as u64;
                c.rejected = rejected;
                if rejected > 0 {
                    c.first_error = Some(v["rejected"][0].to_string());
                }
            } else {
                c.failed_requests = 1;
                c.first_error = Some(format!("{status}: {v}"));
            }
        }
        Err(e) => {
            c.failed_requests = 1;
            c.first_error = Some(e.to_string());
        }
    }
    c
}

/// Own and other processes' CPU time over a phase.
struct CpuWatch {
    own: Duration,
    machine: Duration,
    start: Instant,
}

impl CpuWatch {
    fn start() -> Self {
        Self {
            own: cpu_time(),
            machine: machine_cpu_time(),
            start: Instant::now(),
        }
    }

    /// (own %, others %) of one core over the phase.
    fn stop(&self) -> (f64, f64) {
        let wall = self.start.elapsed().as_secs_f64();
        let own = cpu_time().saturating_sub(self.own).as_secs_f64();
        let machine = machine_cpu_time()
            .saturating_sub(self.machine)
            .as_secs_f64();
        (100.0 * own / wall, 100.0 * (machine - own).max(0.0) / wall)
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

// ---------------------------------------------------------------- main

fn main() {
    if std::env::var("AGENTDECK_BENCH_HUB_ONLY").as_deref() == Ok("backends") {
        backends::run();
        return;
    }
    if std::env::var("AGENTDECK_BENCH_HUB_ONLY").as_deref() == Ok("restart") {
        let events = env_u64("AGENTDECK_BENCH_RESTART_EVENTS", DEFAULT_RESTART_EVENTS);
        report_restart(&restart(events));
        return;
    }
    let events = env_u64("AGENTDECK_BENCH_EVENTS", DEFAULT_EVENTS);
    let approvals = env_u64("AGENTDECK_BENCH_APPROVALS", DEFAULT_APPROVALS as u64) as usize;
    let clients: Vec<usize> = std::env::var("AGENTDECK_BENCH_CLIENTS")
        .ok()
        .map(|v| {
            v.split(',')
                .filter_map(|c| c.trim().parse().ok())
                .filter(|&c| c > 0)
                .collect()
        })
        .filter(|v: &Vec<usize>| !v.is_empty())
        .unwrap_or_else(|| DEFAULT_CLIENTS.to_vec());
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(async move {
        eprintln!("hub bench: {events} events per throughput run, clients {clients:?}, {approvals} approvals per delay run");
        let mut runs = Vec::new();
        let mut last_hub = None;
        for &c in &clients {
            let (t, hub) = throughput(c, events).await;
            runs.push(t);
            if let Some(old) = last_hub.replace(hub) {
                old.hub.stop().await;
            }
        }
        // (b) on the hub of the last throughput run: a hub with history.
        let hub = last_hub.expect("at least one throughput run");
        let best = runs
            .iter()
            .map(|r: &Throughput| r.events as f64 / r.elapsed.as_secs_f64())
            .fold(0.0f64, f64::max);
        let loaded = ((LOADED_SHARE * best.min(TARGET_EPS)) / 1000.0).round() as u64 * 1000;
        eprintln!("  (b) approval delay, no background ingest…");
        let d0 = approval_delay(&hub, "none (the floor)", "b0", 0, 0, approvals).await;
        eprintln!("  (b) approval delay, background {loaded} events/s in 1,000-event bodies…");
        let label = format!("{loaded} ev/s, 1,000-event bodies");
        let d1 = approval_delay(&hub, &label, "b1", 1_000, loaded, approvals).await;
        eprintln!("  (b) approval delay, background {BACKGROUND_EPS} events/s in 100-event bodies…");
        let label = format!("{BACKGROUND_EPS} ev/s, 100-event bodies");
        let d2 = approval_delay(&hub, &label, "b2", 100, BACKGROUND_EPS, approvals).await;
        eprintln!("  (c) breakdown…");
        let core = hub.hub.core.clone();
        let b = tokio::task::spawn_blocking(move || breakdown(&core, 100))
            .await
            .expect("breakdown");
        hub.hub.stop().await;
        let restart_events = env_u64("AGENTDECK_BENCH_RESTART_EVENTS", DEFAULT_RESTART_EVENTS);
        eprintln!("  (d) restart over {restart_events} journaled events…");
        let r = tokio::task::spawn_blocking(move || restart(restart_events))
            .await
            .expect("restart");
        report(cores, &runs, &[d0, d1, d2], &b);
        report_restart(&r);
    });
    backends::run();
}
