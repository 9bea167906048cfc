//! Drives the simulated fleet against a hub over HTTP: posts runs at a
//! steady rate in batches, polls controls (with ETags) and pending approvals,
//! and sends heartbeats.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use chrono::Utc;
use tokio::sync::{Semaphore, mpsc};

use crate::client::hubs::HubList;
use crate::model::approval::{Approval, ApprovalState};
use crate::model::control::Control;
use crate::model::envelope::{Envelope, Event};

use super::agent::{Obeyed, PendingRun, SimAgent, Step};
use super::profile::fleet;
use super::scenario::Scenario;

/// How the fleet runs.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Hub base URL.
    pub hub: String,
    /// Agent token that speaks for every simulated agent.
    pub token: String,
    /// What goes wrong.
    pub scenario: Scenario,
    /// Number of agents.
    pub agents: usize,
    /// Runs per second across the fleet.
    pub rate: f64,
    /// Random seed.
    pub seed: u64,
    /// How long to run; forever without one.
    pub duration: Option<Duration>,
    /// How often controls and approvals are polled.
    pub poll: Duration,
    /// Most events per POST.
    pub batch: usize,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            hub: "http://127.0.0.1:7400".into(),
            token: String::new(),
            scenario: Scenario::Mixed,
            agents: 5,
            rate: 10.0,
            seed: 1,
            duration: None,
            poll: Duration::from_secs(1),
            batch: 1000,
        }
    }
}

/// Counters of a run, shared while it goes.
#[derive(Debug, Default)]
pub struct SimStats {
    /// Runs finished (posted as `run.finished`).
    pub runs: AtomicU64,
    /// Events posted.
    pub posted: AtomicU64,
    /// Events the hub accepted.
    pub accepted: AtomicU64,
    /// Events the hub refused.
    pub rejected: AtomicU64,
    /// Batches given up: refused with a 4xx, or failing (network, 5xx)
    /// every attempt.
    pub failed_posts: AtomicU64,
    /// Batches sent again after a failed attempt.
    pub resent_posts: AtomicU64,
    /// Approvals asked for.
    pub approvals_asked: AtomicU64,
    /// Approvals decided (any outcome) and seen by the agent.
    pub approvals_closed: AtomicU64,
    /// Control sets read from the hub that changed an agent's behaviour.
    pub control_changes: AtomicU64,
    /// Calls per `agent/tool`.
    pub tool_calls: Mutex<HashMap<String, u64>>,
    /// Runs per `agent/outcome`.
    pub outcomes: Mutex<HashMap<String, u64>>,
    /// The controls each agent currently obeys.
    pub obeyed: Mutex<HashMap<String, Obeyed>>,
}

impl SimStats {
    /// Calls of one agent's tool so far.
    pub fn calls(&self, agent: &str, tool: &str) -> u64 {
        self.tool_calls
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&format!("{agent}/{tool}"))
            .copied()
            .unwrap_or(0)
    }

    /// Runs of one agent with one outcome so far (`success`, `escalated`, …).
    pub fn outcome(&self, agent: &str, outcome: &str) -> u64 {
        self.outcomes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&format!("{agent}/{outcome}"))
            .copied()
            .unwrap_or(0)
    }

    /// What an agent obeys now.
    pub fn obeyed(&self, agent: &str) -> Obeyed {
        self.obeyed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(agent)
            .cloned()
            .unwrap_or_default()
    }

    fn count_run(&self, env: &Envelope) {
        let Event::RunFinished(run) = &env.event else {
            return;
        };
        self.runs.fetch_add(1, Ordering::Relaxed);
        let outcome = serde_json::to_value(run.outcome)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        *self
            .outcomes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(format!("{}/{outcome}", env.agent))
            .or_default() += 1;
        let mut calls = self
            .tool_calls
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        for c in &run.tool_calls {
            *calls
                .entry(format!("{}/{}", env.agent, c.tool))
                .or_default() += 1;
        }
    }
}

/// The summary printed at the end.
#[derive(Debug, Clone, PartialEq)]
pub struct SimReport {
    /// Seconds run.
    pub elapsed_s: f64,
    /// Runs finished.
    pub runs: u64,
    /// Events posted.
    pub posted: u64,
    /// Events accepted.
    pub accepted: u64,
    /// Events refused.
    pub rejected: u64,
    /// Batches given up.
    pub failed_posts: u64,
    /// Batches sent again after a failed attempt.
    pub resent_posts: u64,
    /// Accepted events per second.
    pub achieved_rate: f64,
    /// Approvals asked for.
    pub approvals_asked: u64,
    /// Approvals seen closed.
    pub approvals_closed: u64,
}

impl std::fmt::Display for SimReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "ran {:.1} s: {} runs", self.elapsed_s, self.runs)?;
        writeln!(
            f,
            "events posted {}, accepted {}, rejected {}, failed posts {}, resent {}",
            self.posted, self.accepted, self.rejected, self.failed_posts, self.resent_posts
        )?;
        writeln!(
            f,
            "achieved rate: {:.0} accepted events/s",
            self.achieved_rate
        )?;
        write!(
            f,
            "approvals asked {}, decided or expired {}",
            self.approvals_asked, self.approvals_closed
        )
    }
}

enum Note {
    Controls(String, Vec<Control>, Option<String>),
    Decided(String, ApprovalState),
}

struct Shared {
    http: reqwest::Client,
    /// The hub's address, or several (`--hub URL1,URL2`): a request that
    /// gets no answer moves the fleet on to the next.
    hubs: HubList,
    token: String,
    stats: Arc<SimStats>,
    posts: Arc<Semaphore>,
    /// Start of every event id of this run (its start time), so that ids
    /// do not repeat across runs of the fleet.
    id_prefix: String,
    /// The next event id's number.
    next_id: AtomicU64,
}

/// How many times a batch is sent before it is given up: with the pauses
/// below, about 30 s of trying, longer than a standby replica takes to
/// serve after the serving one died (under 10 s) or a hub restart.
const POST_ATTEMPTS: u32 = 10;
/// The pause before the first resend; doubled for each one after, up to
/// [`LONGEST_RESEND_PAUSE`].
const FIRST_RESEND_PAUSE: Duration = Duration::from_millis(500);
const LONGEST_RESEND_PAUSE: Duration = Duration::from_secs(4);

impl Shared {
    /// Posts a batch in the background. Every event gets an id first, so
    /// that a batch sent again after a failure the hub may have applied
    /// (a lost answer) is counted once (protocol.md §2.10: the hub
    /// acknowledges repeats without counting them again). A batch the hub
    /// could not take (a network failure or a 5xx) is sent again after
    /// 0.5, 1, 2 and 4 s; one it refused (a 4xx) is not.
    fn post(self: &Arc<Self>, mut events: Vec<Envelope>) {
        if events.is_empty() {
            return;
        }
        for e in &mut events {
            if e.id.is_none() {
                let n = self.next_id.fetch_add(1, Ordering::Relaxed);
                e.id = Some(format!("sim-{}-{n}", self.id_prefix));
            }
        }
        let me = self.clone();
        tokio::spawn(async move {
            let Ok(_permit) = me.posts.clone().acquire_owned().await else {
                return;
            };
            let mut body = String::with_capacity(events.len() * 300);
            for e in &events {
                body.push_str(&e.to_line());
                body.push('\n');
            }
            me.stats
                .posted
                .fetch_add(events.len() as u64, Ordering::Relaxed);
            let mut pause = FIRST_RESEND_PAUSE;
            for attempt in 1..=POST_ATTEMPTS {
                let (at, url) = me.hubs.at(&crate::model::api::EVENTS.path(&[]));
                let sent = me
                    .http
                    .post(url)
                    .bearer_auth(&me.token)
                    .header("content-type", "application/x-ndjson")
                    .body(body.clone())
                    .send()
                    .await;
                let failure = match sent {
                    Ok(r) if r.status().is_success() => {
                        let answer: serde_json::Value = r.json().await.unwrap_or_default();
                        me.count_answer(&answer);
                        return;
                    }
                    Ok(r) if !resendable(r.status()) => {
                        let status = r.status().as_u16();
                        let text = r.text().await.unwrap_or_default();
                        tracing::warn!(status, answer = %text, "hub refused a batch");
                        me.stats.failed_posts.fetch_add(1, Ordering::Relaxed);
                        return;
                    }
                    Ok(r) => format!("hub answered {}", r.status()),
                    Err(e) => {
                        let next = me.hubs.failed(at);
                        format!("could not post: {e}; next {next}")
                    }
                };
                if attempt == POST_ATTEMPTS {
                    tracing::warn!(%failure, attempts = attempt, "gave up on a batch");
                    me.stats.failed_posts.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                tracing::info!(%failure, attempt, "sending a batch again");
                me.stats.resent_posts.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(LONGEST_RESEND_PAUSE);
            }
        });
    }

    /// Counts what the hub said of a batch it took.
    fn count_answer(&self, answer: &serde_json::Value) {
        // Repeats of events an earlier attempt delivered (its answer lost)
        // are in `accepted` too, and counted once by the hub.
        let accepted = answer["accepted"].as_u64().unwrap_or(0);
        let rejected = answer["rejected"].as_array().map_or(0, |a| a.len() as u64);
        self.stats.accepted.fetch_add(accepted, Ordering::Relaxed);
        self.stats.rejected.fetch_add(rejected, Ordering::Relaxed);
        if rejected > 0 {
            tracing::warn!(first = %answer["rejected"][0], "hub refused simulated events");
        }
    }
}

/// Whether a batch answered with `status` is worth sending again: the hub
/// could not take it now (a 5xx: storage unavailable, a fault), as opposed
/// to refusing it (a 4xx fails the same way again).
fn resendable(status: reqwest::StatusCode) -> bool {
    status.is_server_error()
}

/// Runs the fleet until `duration` passes or `stop` resolves; returns the
/// report. `stats` can be watched while it runs.
pub async fn run(
    config: SimConfig,
    stats: Arc<SimStats>,
    stop: impl std::future::Future<Output = ()>,
) -> anyhow::Result<SimReport> {
    // The same client set-up as the TUI's, so --ca-cert applies here too.
    let http = crate::client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let shared = Arc::new(Shared {
        http,
        hubs: HubList::parse(&config.hub).map_err(anyhow::Error::msg)?,
        token: config.token.clone(),
        stats: stats.clone(),
        posts: Arc::new(Semaphore::new(4)),
        id_prefix: format!("{:x}", Utc::now().timestamp_millis()),
        next_id: AtomicU64::new(0),
    });
    let profiles = fleet();
    let agents: Vec<SimAgent> = (0..config.agents.max(1))
        .map(|i| SimAgent::new(profiles[i % profiles.len()].clone(), i, config.seed))
        .collect();
    let known: Vec<(super::profile::Profile, String)> = agents
        .iter()
        .map(|a| (a.profile.clone(), a.id.clone()))
        .collect();
    super::registry::register(&shared.http, &shared.hubs, &shared.token, &known).await;
    let (notes_tx, mut notes) = mpsc::channel::<Note>(1024);
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut poll = tokio::time::interval(config.poll);
    let mut heartbeat = tokio::time::interval(Duration::from_secs(10));
    let mut fleet = Fleet {
        agents,
        obeyed: HashMap::new(),
        etags: HashMap::new(),
        pending: HashMap::new(),
        outbox: Vec::new(),
        due: 0.0,
        last: Instant::now(),
        next_agent: 0,
        shared: shared.clone(),
        stats: stats.clone(),
    };
    let start = Instant::now();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            () = &mut stop => break,
            _ = tick.tick() => {
                if config.duration.is_some_and(|d| start.elapsed() >= d) {
                    break;
                }
                fleet.runs(&config, start.elapsed().as_secs_f64());
            }
            _ = poll.tick() => fleet.poll(&notes_tx),
            _ = heartbeat.tick() => fleet.heartbeats(),
            Some(note) = notes.recv() => fleet.note(note),
        }
    }
    shared.post(std::mem::take(&mut fleet.outbox));
    // Let in-flight posts finish.
    let _ = shared.posts.acquire_many(4).await;
    Ok(report(&stats, start.elapsed().as_secs_f64()))
}

/// The simulated agents and what they know of the hub.
struct Fleet {
    agents: Vec<SimAgent>,
    /// The controls each agent obeys, by agent id.
    obeyed: HashMap<String, Obeyed>,
    /// The `ETag` of each agent's last controls answer.
    etags: HashMap<String, String>,
    /// Runs waiting for an approval: request id → (agent index, run).
    pending: HashMap<String, (usize, PendingRun)>,
    /// Events not yet posted.
    outbox: Vec<Envelope>,
    /// Runs owed by the rate and not yet made.
    due: f64,
    last: Instant,
    /// The agent whose turn is next.
    next_agent: usize,
    shared: Arc<Shared>,
    stats: Arc<SimStats>,
}

impl Fleet {
    /// Makes the runs the rate owes since the last tick, round robin over
    /// the agents, and posts them in batches.
    fn runs(&mut self, config: &SimConfig, t_s: f64) {
        let now = Utc::now();
        let effects = config.scenario.effects(t_s);
        for a in &mut self.agents {
            self.outbox.extend(a.deployments(now, &effects));
        }
        self.due += config.rate * self.last.elapsed().as_secs_f64();
        self.last = Instant::now();
        let mut idle = 0;
        while self.due >= 1.0 && idle < self.agents.len() {
            let i = self.next_agent % self.agents.len();
            self.next_agent += 1;
            let o = self
                .obeyed
                .get(&self.agents[i].id)
                .cloned()
                .unwrap_or_default();
            match self.agents[i].step(now, &effects, &o) {
                Step::Idle => {
                    idle += 1;
                    continue;
                }
                Step::Done(env) => {
                    self.stats.count_run(&env);
                    self.outbox.push(env);
                }
                Step::Ask(ask, run) => {
                    self.stats.approvals_asked.fetch_add(1, Ordering::Relaxed);
                    self.pending.insert(run.request_id.clone(), (i, *run));
                    self.outbox.push(ask);
                }
            }
            idle = 0;
            self.due -= 1.0;
            if self.outbox.len() >= config.batch {
                self.shared.post(std::mem::take(&mut self.outbox));
            }
        }
        if idle >= self.agents.len() {
            self.due = 0.0; // everyone is paused: do not build a backlog
        }
        self.shared.post(std::mem::take(&mut self.outbox));
    }

    /// Asks the hub for every agent's controls and every pending decision.
    fn poll(&self, notes: &mpsc::Sender<Note>) {
        for a in &self.agents {
            spawn_control_poll(
                &self.shared,
                &a.id,
                self.etags.get(&a.id).cloned(),
                notes.clone(),
            );
        }
        for (request_id, (i, _)) in &self.pending {
            spawn_approval_poll(&self.shared, &self.agents[*i].id, request_id, notes.clone());
        }
    }

    /// One heartbeat per agent.
    fn heartbeats(&self) {
        let now = Utc::now();
        let beats: Vec<Envelope> = self
            .agents
            .iter()
            .map(|a| a.heartbeat(now, self.obeyed.get(&a.id).unwrap_or(&Obeyed::default())))
            .collect();
        self.shared.post(beats);
    }

    /// Takes an answer of the hub: controls to obey, or a decision that
    /// finishes a waiting run.
    fn note(&mut self, note: Note) {
        match note {
            Note::Controls(agent, controls, etag) => {
                if let Some(tag) = etag {
                    self.etags.insert(agent.clone(), tag);
                }
                let o = Obeyed::from_controls(&controls);
                if self.obeyed.get(&agent) != Some(&o) {
                    self.stats.control_changes.fetch_add(1, Ordering::Relaxed);
                    self.stats
                        .obeyed
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .insert(agent.clone(), o.clone());
                    self.obeyed.insert(agent, o);
                }
            }
            Note::Decided(request_id, state) => {
                if let Some((i, run)) = self.pending.remove(&request_id) {
                    self.stats.approvals_closed.fetch_add(1, Ordering::Relaxed);
                    let env = self.agents[i].resolve(run, state, Utc::now());
                    self.stats.count_run(&env);
                    self.shared.post(vec![env]);
                }
            }
        }
    }
}

/// The report of a run that lasted `elapsed_s`.
fn report(stats: &SimStats, elapsed_s: f64) -> SimReport {
    let accepted = stats.accepted.load(Ordering::Relaxed);
    SimReport {
        elapsed_s,
        runs: stats.runs.load(Ordering::Relaxed),
        posted: stats.posted.load(Ordering::Relaxed),
        accepted,
        rejected: stats.rejected.load(Ordering::Relaxed),
        failed_posts: stats.failed_posts.load(Ordering::Relaxed),
        resent_posts: stats.resent_posts.load(Ordering::Relaxed),
        achieved_rate: if elapsed_s > 0.0 {
            accepted as f64 / elapsed_s
        } else {
            0.0
        },
        approvals_asked: stats.approvals_asked.load(Ordering::Relaxed),
        approvals_closed: stats.approvals_closed.load(Ordering::Relaxed),
    }
}

fn spawn_control_poll(
    shared: &Arc<Shared>,
    agent: &str,
    etag: Option<String>,
    notes: mpsc::Sender<Note>,
) {
    let me = shared.clone();
    let agent = agent.to_string();
    tokio::spawn(async move {
        let (at, url) = me
            .hubs
            .at(&crate::model::api::AGENT_CONTROLS.path(&[&agent]));
        let mut req = me.http.get(url).bearer_auth(&me.token);
        if let Some(tag) = &etag {
            req = req.header("If-None-Match", tag);
        }
        let Ok(r) = req.send().await else {
            me.hubs.failed(at);
            return;
        };
        if r.status().as_u16() == 304 || !r.status().is_success() {
            return;
        }
        let etag = r
            .headers()
            .get("etag")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let Ok(body) = r.json::<serde_json::Value>().await else {
            return;
        };
        let controls: Vec<Control> =
            serde_json::from_value(body["controls"].clone()).unwrap_or_default();
        let _ = notes.send(Note::Controls(agent, controls, etag)).await;
    });
}

fn spawn_approval_poll(
    shared: &Arc<Shared>,
    agent: &str,
    request_id: &str,
    notes: mpsc::Sender<Note>,
) {
    let me = shared.clone();
    let agent = agent.to_string();
    let request_id = request_id.to_string();
    tokio::spawn(async move {
        let (at, url) = me
            .hubs
            .at(&crate::model::api::AGENT_APPROVAL.path(&[&agent, &request_id]));
        let Ok(r) = me.http.get(url).bearer_auth(&me.token).send().await else {
            me.hubs.failed(at);
            return;
        };
        if !r.status().is_success() {
            return;
        }
        let Ok(a) = r.json::<Approval>().await else {
            return;
        };
        if !a.state.is_open() {
            let _ = notes.send(Note::Decided(request_id, a.state)).await;
        }
    });
}
