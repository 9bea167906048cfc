//! Engine throughput and memory benchmark (`cargo bench --bench engine`).
//!
//! One run measures, on a synthetic but realistic stream of `run.finished`
//! envelopes (default 1,000,000 over three days of event time, 10 agents ×
//! 5 workflows, one SLO → 50 series):
//!
//! 1. memory: lines generated on the fly, decoded and folded into a fresh
//!    engine, with `VmRSS` / `VmHWM` read from `/proc/self/status` at 10 %,
//!    25 %, 50 %, 75 % and 100 % of the stream. Runs first, before any
//!    large buffer exists, so the high-water mark belongs to the engine.
//! 2. (c) a bare borrowed `serde_json::from_str` of every line, the floor
//!    any decoder pays;
//! 3. (b) `EnvelopeRef::decode` + `Engine::apply_ref` per line: the strict
//!    decoder into a borrowed envelope and the fold from it, allocating
//!    only for what the engine keeps (plus strict decode alone, to split
//!    (b), and the owned path `Envelope::decode` + `Engine::apply` that the
//!    hub's batch ingest still takes);
//! 4. (a) `Engine::apply` alone over pre-decoded envelopes.
//!
//! `tick` runs every 1,000 events (the live hub ticks every 500 ms of wall
//! time, so at 1 M events/s that is 500 times more often than it does);
//! signals are drained after every tick, as the hub does. Extra rows show
//! ticking every second of event time (as a replay through the hub does)
//! and the shipped default specs (4 SLOs, 200 series). Everything is
//! single-threaded. The `on-CPU` column is the share of wall time the
//! thread had a core: well under 100 % means other processes interfered.
//!
//! Each timed section is a function kept out of line, so that a profiler
//! can take one alone (e.g. `valgrind --tool=callgrind
//! --toggle-collect=engine::decode_and_fold` counts the instructions of (b)).
//!
//! Environment: `AGENTDECK_BENCH_EVENTS` (default 1000000) scales the
//! stream down for a quick run; `AGENTDECK_BENCH_REPS` (default 3) sets how
//! many times each timed section runs (best and median are reported).

mod common;

use std::hint::black_box;
use std::time::{Duration, Instant};

use agentdeck::engine::spec::{default_specs, parse_specs};
use agentdeck::engine::{Engine, Signal};
use agentdeck::model::envelope::{
    Envelope, Event, Outcome, PolicyViolation, RunFinished, Tokens, ToolCall, ToolStatus, Versions,
};
use agentdeck::model::envelope_ref::EnvelopeRef;
use agentdeck::model::slo::SloSpec;
use chrono::{DateTime, TimeZone, Utc};
use common::{AGENTS, Rng, WORKFLOWS, env_u64, verdict};
use serde::Deserialize;

/// Events in the full run.
const DEFAULT_EVENTS: u64 = 1_000_000;
/// Event-time spacing: 259.2 ms, so 1,000,000 events span exactly 3 days.
const STEP_TENTHS_MS: u64 = 2_592;
/// `tick` cadence for the headline figures, in events.
const TICK_EVERY_EVENTS: u64 = 1_000;
/// Targets from the issue.
const TARGET_FOLD_EPS: f64 = 1_000_000.0;
const TARGET_DECODE_RATIO: f64 = 0.50;
/// "Flat" memory: the high-water mark grows by at most this much between
/// the first (10 %) and last checkpoint.
const FLAT_HWM_KIB: u64 = 1_024;

/// The spec list of the headline run: one SLO over every agent and
/// workflow, so 10 agents × 5 workflows give exactly 50 series.
const BENCH_SPECS: &str = r#"
[[slo]]
name = "completion"
agent = "*"
workflow = "*"
sli = "completion"
objective = 0.95
"#;

const TOOLS: [&str; 8] = [
    "crm.lookup",
    "orders.get",
    "payments.refund",
    "kb.search",
    "email.send",
    "tickets.create",
    "llm.classify",
    "fraud.score",
];

// ---------------------------------------------------------------------------
// Deterministic generator
// ---------------------------------------------------------------------------

/// Produces the stream, one envelope at a time, identically on every run.
struct Generator {
    rng: Rng,
    next: u64,
    start: DateTime<Utc>,
}

impl Generator {
    fn new() -> Self {
        Self {
            rng: Rng(0x5EED_A6E7_DEC4_2026),
            next: 0,
            start: Utc
                .with_ymd_and_hms(2026, 11, 18, 0, 0, 0)
                .single()
                .expect("valid start time"),
        }
    }

    fn ts_of(&self, i: u64) -> DateTime<Utc> {
        let offset_ms = i * STEP_TENTHS_MS / 10;
        self.start + chrono::Duration::milliseconds(offset_ms as i64)
    }

    fn envelope(&mut self) -> Envelope {
        let i = self.next;
        self.next += 1;
        let ts = self.ts_of(i);
        let hour = (ts - self.start).num_hours();
        let rng = &mut self.rng;
        let a = rng.below_fair(AGENTS.len() as u64) as usize;
        let w = rng.below_fair(WORKFLOWS.len() as u64) as usize;

        // Two episodes so alerts and drift actually fire: billing-bot fails
        // a third of its runs for two hours on day 2, and refund-bot's
        // payments tool errors heavily for an hour on day 3.
        let billing_outage = a == 2 && (30..32).contains(&hour);
        let refund_tool_spike = a == 0 && (50..51).contains(&hour);
        let prompt = if a.is_multiple_of(2) && hour >= 36 {
            "v8"
        } else {
            "v7"
        };
        // refund-bot escalates more on the new prompt.
        let escalate_p = if a == 0 && prompt == "v8" { 0.15 } else { 0.05 };
        let (fail_p, timeout_p) = if billing_outage {
            (0.30, 0.03)
        } else {
            (0.015, 0.005)
        };

        let roll = rng.unit();
        let outcome = if roll < fail_p {
            Outcome::Failed
        } else if roll < fail_p + timeout_p {
            Outcome::TimedOut
        } else if roll < fail_p + timeout_p + escalate_p {
            Outcome::Escalated
        } else {
            Outcome::Success
        };
        let latency_ms = match outcome {
            Outcome::TimedOut => 30_000 + rng.below_fair(2_000),
            _ => rng.log_normal(2_400.0, 0.6).clamp(40.0, 29_000.0) as u64,
        };
        let cost_usd = (rng.log_normal(0.04, 0.8).min(5.0) * 1e6).round() / 1e6;
        let tokens = Tokens {
            input: 600 + rng.below_fair(3_000),
            output: 80 + rng.below_fair(900),
        };
        let calls = 1 + rng.below_fair(3) as usize;
        let mut tool_calls = Vec::with_capacity(calls);
        for _ in 0..calls {
            // Each agent uses four of the eight tools.
            let tool = TOOLS[(a + 2 * rng.below_fair(4) as usize) % TOOLS.len()];
            let error_p = if refund_tool_spike && tool == "payments.refund" {
                0.45
            } else {
                0.02
            };
            let failed = rng.unit() < error_p;
            tool_calls.push(ToolCall {
                tool: tool.to_string(),
                status: if failed {
                    ToolStatus::Error
                } else {
                    ToolStatus::Ok
                },
                latency_ms: Some(rng.log_normal(250.0, 0.7).clamp(5.0, 20_000.0) as u64),
                error: failed.then(|| "upstream returned 503".to_string()),
            });
        }
        let policy_violations = if rng.unit() < 0.003 {
            vec![PolicyViolation {
                policy: "pii-redaction".to_string(),
                detail: Some("email address in reply".to_string()),
            }]
        } else {
            Vec::new()
        };
        let error = match outcome {
            Outcome::Failed => Some("tool call failed: payments.refund returned 502".to_string()),
            Outcome::TimedOut => Some("run exceeded its 30 s limit".to_string()),
            _ => None,
        };
        Envelope::new(
            ts,
            AGENTS[a],
            Event::RunFinished(RunFinished {
                run_id: format!("run-{a:02}{w}-{i:08}"),
                workflow: WORKFLOWS[w].to_string(),
                outcome,
                latency_ms,
                cost_usd,
                tokens: Some(tokens),
                tool_calls,
                policy_violations,
                versions: Versions {
                    model: Some("gpt-4o-2024-08-06".to_string()),
                    prompt: Some(prompt.to_string()),
                    tool: None,
                    policy: None,
                },
                error,
                unpriced_model: None,
            }),
        )
    }
}

// ---------------------------------------------------------------------------
// The bare decode of (c): same fields, borrowed, no checks
// ---------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Bare<'a> {
    v: u64,
    #[serde(rename = "type")]
    kind: &'a str,
    ts: &'a str,
    agent: &'a str,
    run_id: &'a str,
    workflow: &'a str,
    outcome: &'a str,
    latency_ms: u64,
    cost_usd: f64,
    tokens: Option<BareTokens>,
    #[serde(default, borrow)]
    tool_calls: Vec<BareToolCall<'a>>,
    #[serde(default, borrow)]
    policy_violations: Vec<BareViolation<'a>>,
    #[serde(default, borrow)]
    versions: Option<BareVersions<'a>>,
    #[serde(default, borrow)]
    error: Option<&'a str>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BareTokens {
    input: u64,
    output: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BareToolCall<'a> {
    tool: &'a str,
    status: &'a str,
    #[serde(default)]
    latency_ms: Option<u64>,
    #[serde(default, borrow)]
    error: Option<&'a str>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BareViolation<'a> {
    policy: &'a str,
    #[serde(default, borrow)]
    detail: Option<&'a str>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BareVersions<'a> {
    #[serde(default, borrow)]
    model: Option<&'a str>,
    #[serde(default, borrow)]
    prompt: Option<&'a str>,
}

impl Bare<'_> {
    /// Touches every field, so nothing is optimised away.
    fn checksum(&self) -> u64 {
        let len = |s: Option<&str>| s.map_or(0, str::len) as u64;
        let mut sum = self.v
            + (self.kind.len() + self.ts.len() + self.agent.len()) as u64
            + (self.run_id.len() + self.workflow.len() + self.outcome.len()) as u64
            + self.latency_ms
            + self.cost_usd.to_bits()
            + self.tokens.as_ref().map_or(0, |t| t.input + t.output)
            + len(self.error);
        for c in &self.tool_calls {
            sum +=
                (c.tool.len() + c.status.len()) as u64 + c.latency_ms.unwrap_or(0) + len(c.error);
        }
        for p in &self.policy_violations {
            sum += p.policy.len() as u64 + len(p.detail);
        }
        if let Some(v) = &self.versions {
            sum += len(v.model) + len(v.prompt);
        }
        sum
    }
}

// ---------------------------------------------------------------------------
// Ticking and signals, as the hub does
// ---------------------------------------------------------------------------

#[derive(Clone, Copy)]
enum TickEvery {
    /// After every `n` events.
    Events(u64),
    /// Whenever event time enters a new second.
    EventSecond,
}

#[derive(Default, Clone, Copy)]
struct SignalCounts {
    alerts: u64,
    drift: u64,
    versions: u64,
    agents: u64,
    other: u64,
}

struct Ticker {
    every: TickEvery,
    since: u64,
    last_s: i64,
    ticks: u64,
    signals: SignalCounts,
}

impl Ticker {
    fn new(every: TickEvery) -> Self {
        Self {
            every,
            since: 0,
            last_s: i64::MIN,
            ticks: 0,
            signals: SignalCounts::default(),
        }
    }

    /// Called after each applied event with its timestamp.
    fn after(&mut self, engine: &mut Engine, ts: DateTime<Utc>) {
        let due = match self.every {
            TickEvery::Events(n) => {
                self.since += 1;
                self.since >= n
            }
            TickEvery::EventSecond => ts.timestamp() > self.last_s,
        };
        if due {
            self.tick(engine, ts);
        }
    }

    fn tick(&mut self, engine: &mut Engine, now: DateTime<Utc>) {
        self.since = 0;
        self.last_s = now.timestamp();
        self.ticks += 1;
        engine.tick(now);
        for signal in engine.drain_signals() {
            let slot = match signal {
                Signal::Alert { .. } => &mut self.signals.alerts,
                Signal::Drift { .. } => &mut self.signals.drift,
                Signal::VersionChanged { .. } => &mut self.signals.versions,
                Signal::AgentSeen { .. } => &mut self.signals.agents,
                _ => &mut self.signals.other,
            };
            *slot += 1;
        }
    }
}

// ---------------------------------------------------------------------------
// Measurement helpers
// ---------------------------------------------------------------------------

/// `VmRSS` and `VmHWM` of this process, KiB (zero where unavailable).
fn memory_kib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// `1234567` → `1,234,567`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

/// CPU time (user + system) of the calling thread, from
/// `/proc/thread-self/stat` in clock ticks of 10 ms; zero where unavailable.
fn thread_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap_or_default();
    // Fields after the command name, which ends at the last ')': utime and
    // stime are the 14th and 15th fields of the line, so 12th and 13th here.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let ticks: u64 = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|f| f.parse::<u64>().ok())
        .sum();
    Duration::from_millis(ticks * 10)
}

/// Timings of one section over several repetitions.
struct Timed {
    events: u64,
    runs: Vec<Duration>,
    wall: Duration,
    cpu: Duration,
}

impl Timed {
    fn new(events: u64) -> Self {
        Self {
            events,
            runs: Vec::new(),
            wall: Duration::ZERO,
            cpu: Duration::ZERO,
        }
    }

    /// Runs one repetition: `f` returns the timed duration of its work and
    /// a value passed through; thread CPU time is taken around the call.
    fn run<R>(&mut self, f: impl FnOnce() -> (Duration, R)) -> R {
        let cpu = thread_cpu();
        let wall = Instant::now();
        let (d, r) = f();
        self.wall += wall.elapsed();
        self.cpu += thread_cpu().saturating_sub(cpu);
        self.runs.push(d);
        r
    }

    /// Share of wall time this thread was on a CPU: well under 100 % means
    /// other processes took the core and the figures are pessimistic.
    fn on_cpu(&self) -> f64 {
        self.cpu.as_secs_f64() / self.wall.as_secs_f64().max(1e-9)
    }

    fn sorted(&self) -> Vec<Duration> {
        let mut r = self.runs.clone();
        r.sort();
        r
    }

    fn best(&self) -> Duration {
        self.sorted().first().copied().unwrap_or_default()
    }

    fn median(&self) -> Duration {
        let r = self.sorted();
        r.get(r.len() / 2).copied().unwrap_or_default()
    }

    fn eps(&self, d: Duration) -> f64 {
        self.events as f64 / d.as_secs_f64().max(1e-9)
    }

    fn best_eps(&self) -> f64 {
        self.eps(self.best())
    }

    fn median_eps(&self) -> f64 {
        self.eps(self.median())
    }

    fn ns_per_event(&self) -> f64 {
        self.best().as_nanos() as f64 / self.events.max(1) as f64
    }
}

// ---------------------------------------------------------------------------
// Sections
// ---------------------------------------------------------------------------

fn bench_specs() -> Vec<SloSpec> {
    parse_specs("benches/engine.rs", BENCH_SPECS).expect("bench specs parse")
}

struct MemoryRun {
    checkpoints: Vec<(u64, u64, u64, Duration)>,
    baseline: (u64, u64),
    elapsed: Duration,
    series: usize,
    ticker: Ticker,
}

/// Streams generated lines through decode + fold, holding none of them.
fn memory_run(events: u64) -> MemoryRun {
    let baseline = memory_kib();
    let marks: Vec<u64> = [10, 25, 50, 75, 100]
        .iter()
        .map(|pct| (events * pct / 100).max(1))
        .collect();
    let mut engine = Engine::new(bench_specs());
    let mut ticker = Ticker::new(TickEvery::Events(TICK_EVERY_EVENTS));
    let mut generator = Generator::new();
    let mut checkpoints = Vec::new();
    let mut last_ts = generator.start;
    let started = Instant::now();
    for n in 1..=events {
        let line = generator.envelope().to_line();
        let env = Envelope::decode(&line).expect("generated line decodes");
        engine.apply(&env).expect("engine accepts the event");
        last_ts = env.ts;
        ticker.after(&mut engine, env.ts);
        if marks.contains(&n) {
            let (rss, hwm) = memory_kib();
            checkpoints.push((n, rss, hwm, started.elapsed()));
        }
    }
    ticker.tick(&mut engine, last_ts);
    MemoryRun {
        checkpoints,
        baseline,
        elapsed: started.elapsed(),
        series: engine.series_count(),
        ticker,
    }
}

/// Folds pre-decoded envelopes into a fresh engine; returns the time and
/// the engine (dropped by the caller, outside the timing).
#[inline(never)]
fn fold(specs: &[SloSpec], envelopes: &[Envelope], every: TickEvery) -> (Duration, Engine, Ticker) {
    let mut engine = Engine::new(specs.to_vec());
    let mut ticker = Ticker::new(every);
    let started = Instant::now();
    for env in envelopes {
        engine.apply(env).expect("engine accepts the event");
        ticker.after(&mut engine, env.ts);
    }
    if let Some(last) = envelopes.last() {
        ticker.tick(&mut engine, last.ts);
    }
    (started.elapsed(), engine, ticker)
}

/// (b): the strict decoder into a borrowed envelope, folded from there.
#[inline(never)]
fn decode_and_fold(specs: &[SloSpec], lines: &[String]) -> (Duration, Engine) {
    fold_lines(specs, lines, |engine, line| {
        let env = EnvelopeRef::decode(line).expect("generated line decodes");
        engine.apply_ref(&env).expect("engine accepts the event");
        env.ts
    })
}

/// The owned path: `Envelope::decode` then `Engine::apply`.
#[inline(never)]
fn decode_and_fold_owned(specs: &[SloSpec], lines: &[String]) -> (Duration, Engine) {
    fold_lines(specs, lines, |engine, line| {
        let env = Envelope::decode(line).expect("generated line decodes");
        engine.apply(&env).expect("engine accepts the event");
        env.ts
    })
}

/// Times `fold_line` (decode one line, apply it, return its time) over
/// every line into a fresh engine, ticking as (a) does.
#[inline(always)]
fn fold_lines(
    specs: &[SloSpec],
    lines: &[String],
    mut fold_line: impl FnMut(&mut Engine, &str) -> DateTime<Utc>,
) -> (Duration, Engine) {
    let mut engine = Engine::new(specs.to_vec());
    let mut ticker = Ticker::new(TickEvery::Events(TICK_EVERY_EVENTS));
    let mut last = None;
    let started = Instant::now();
    for line in lines {
        let ts = fold_line(&mut engine, line);
        ticker.after(&mut engine, ts);
        last = Some(ts);
    }
    if let Some(last) = last {
        ticker.tick(&mut engine, last);
    }
    (started.elapsed(), engine)
}

/// The strict decode of (b) alone.
#[inline(never)]
fn decode_only(lines: &[String]) -> Duration {
    let started = Instant::now();
    for line in lines {
        black_box(EnvelopeRef::decode(black_box(line)).expect("generated line decodes"));
    }
    started.elapsed()
}

#[inline(never)]
fn bare_decode(lines: &[String]) -> (Duration, u64) {
    let mut sum = 0u64;
    let started = Instant::now();
    for line in lines {
        let bare: Bare<'_> = serde_json::from_str(black_box(line)).expect("bare decode");
        sum = sum.wrapping_add(bare.checksum());
    }
    (started.elapsed(), black_box(sum))
}

fn main() {
    let events = env_u64("AGENTDECK_BENCH_EVENTS", DEFAULT_EVENTS).max(1_000);
    let reps = env_u64("AGENTDECK_BENCH_REPS", 3).max(1);
    let specs = bench_specs();

    println!("agentdeck engine benchmark");
    println!(
        "stream: {} run.finished events, {} agents × {} workflows, {} SLO spec(s), \
         event time {} + {:.2} days, tick every {} events, {} repetition(s)",
        thousands(events),
        AGENTS.len(),
        WORKFLOWS.len(),
        specs.len(),
        Generator::new().start.format("%Y-%m-%dT%H:%M:%SZ"),
        (events * STEP_TENTHS_MS / 10) as f64 / 86_400_000.0,
        TICK_EVERY_EVENTS,
        reps,
    );
    println!();

    // 1. Memory, first, before any large allocation.
    let mem = memory_run(events);
    println!(
        "== memory: generate → Envelope::decode → Engine::apply, streamed ({} series)",
        mem.series
    );
    println!(
        "   before the stream: VmRSS {}, VmHWM {}",
        mib(mem.baseline.0),
        mib(mem.baseline.1)
    );
    println!(
        "   {:>10} | {:>10} | {:>10} | {:>8}",
        "events", "VmRSS", "VmHWM", "elapsed"
    );
    for &(n, rss, hwm, at) in &mem.checkpoints {
        println!(
            "   {:>10} | {:>10} | {:>10} | {:>7.2}s",
            thousands(n),
            mib(rss),
            mib(hwm),
            at.as_secs_f64()
        );
    }
    let (first, last) = (
        mem.checkpoints.first().copied().unwrap_or_default(),
        mem.checkpoints.last().copied().unwrap_or_default(),
    );
    let rss_growth = last.1 as i64 - first.1 as i64;
    let hwm_growth = last.2.saturating_sub(first.2);
    println!(
        "   growth {} → {} events: VmRSS {:+} KiB, VmHWM {:+} KiB",
        thousands(first.0),
        thousands(last.0),
        rss_growth,
        hwm_growth
    );
    println!(
        "   streamed end to end (incl. generation + encoding): {:.0} events/s; \
         {} ticks; signals: {} alert, {} drift, {} version, {} agent-seen",
        events as f64 / mem.elapsed.as_secs_f64(),
        thousands(mem.ticker.ticks),
        mem.ticker.signals.alerts,
        mem.ticker.signals.drift,
        mem.ticker.signals.versions,
        mem.ticker.signals.agents,
    );
    assert_eq!(
        mem.series, 50,
        "the bench stream must give exactly 50 series"
    );
    println!();

    // 2. Pre-generate the lines, checking a sample round-trips.
    let started = Instant::now();
    let mut generator = Generator::new();
    let mut lines = Vec::with_capacity(events as usize);
    let mut checked = 0u64;
    for i in 0..events {
        let env = generator.envelope();
        let line = env.to_line();
        if i % 997 == 0 {
            let decoded = Envelope::decode(&line).expect("sample decodes");
            assert_eq!(decoded, env, "line {i} does not round-trip: {line}");
            let borrowed = EnvelopeRef::decode(&line).expect("sample decodes borrowed");
            assert_eq!(
                borrowed.into_owned(),
                env,
                "line {i}: borrowed decode differs"
            );
            let bare: Bare<'_> = serde_json::from_str(&line).expect("sample bare-decodes");
            assert_eq!(bare.agent, env.agent);
            checked += 1;
        }
        lines.push(line);
    }
    let bytes: usize = lines.iter().map(String::len).sum();
    println!(
        "== generated {} lines in {:.2}s: {} bytes, mean {} bytes/line; {} sampled lines round-trip",
        thousands(events),
        started.elapsed().as_secs_f64(),
        thousands(bytes as u64),
        bytes as u64 / events,
        thousands(checked),
    );
    println!("   e.g. {}", lines[lines.len() / 2]);
    println!();

    // 3. (c), strict decode, (b), the owned path, interleaved so noise
    //    hits them alike.
    let mut bare = Timed::new(events);
    let mut strict = Timed::new(events);
    let mut decode_fold = Timed::new(events);
    let mut decode_fold_owned = Timed::new(events);
    let mut series_b = 0;
    for rep in 0..reps {
        bare.run(|| bare_decode(&lines));
        strict.run(|| (decode_only(&lines), ()));
        let engine = decode_fold.run(|| decode_and_fold(&specs, &lines));
        series_b = engine.series_count();
        drop(engine);
        let engine = decode_fold_owned.run(|| decode_and_fold_owned(&specs, &lines));
        assert_eq!(engine.series_count(), series_b);
        drop(engine);
        println!(
            "   rep {}: bare {:.3}s, strict decode {:.3}s, decode+fold {:.3}s, owned decode+fold {:.3}s",
            rep + 1,
            bare.runs[rep as usize].as_secs_f64(),
            strict.runs[rep as usize].as_secs_f64(),
            decode_fold.runs[rep as usize].as_secs_f64(),
            decode_fold_owned.runs[rep as usize].as_secs_f64(),
        );
    }
    assert_eq!(series_b, 50);

    // 4. Decode everything once (consuming the lines), then fold alone.
    let envelopes: Vec<Envelope> = lines
        .into_iter()
        .map(|l| Envelope::decode(&l).expect("generated line decodes"))
        .collect();
    let mut fold_a = Timed::new(events);
    let mut fold_ticks = 0;
    let mut signals = SignalCounts::default();
    let mut last_engine = None;
    for rep in 0..reps {
        let (engine, ticker) = fold_a.run(|| {
            let (d, engine, ticker) =
                fold(&specs, &envelopes, TickEvery::Events(TICK_EVERY_EVENTS));
            (d, (engine, ticker))
        });
        fold_ticks = ticker.ticks;
        signals = ticker.signals;
        assert_eq!(engine.series_count(), 50);
        println!(
            "   rep {}: fold {:.3}s",
            rep + 1,
            fold_a.runs[rep as usize].as_secs_f64()
        );
        last_engine = Some(engine);
    }
    // Informational: apply alone, one tick at the end.
    let mut fold_no_tick = Timed::new(events);
    for _ in 0..reps {
        fold_no_tick.run(|| {
            let (d, _, _) = fold(&specs, &envelopes, TickEvery::Events(u64::MAX));
            (d, ())
        });
    }
    // Informational: a tick every second of event time.
    let mut fold_sec = Timed::new(events);
    let sec_ticks = fold_sec.run(|| {
        let (d, _, ticker) = fold(&specs, &envelopes, TickEvery::EventSecond);
        (d, ticker.ticks)
    });
    // Informational: the shipped default specs (4 SLOs → 200 series).
    let defaults = default_specs();
    let mut fold_default = Timed::new(events);
    let mut default_series = 0;
    for _ in 0..reps {
        default_series = fold_default.run(|| {
            let (d, engine, _) = fold(&defaults, &envelopes, TickEvery::Events(TICK_EVERY_EVENTS));
            (d, engine.series_count())
        });
    }

    // 5. Costs of one tick and one statuses() call on the filled engine
    //    (means over 2,000 ticks and 20 calls).
    let mut engine = last_engine.expect("at least one repetition");
    let end = envelopes.last().map_or(Generator::new().start, |e| e.ts);
    let tick_n = 2_000u32;
    let started = Instant::now();
    for s in 0..tick_n {
        engine.tick(end + chrono::Duration::milliseconds(i64::from(s) * 50));
        black_box(engine.drain_signals());
    }
    let tick_us = started.elapsed().as_secs_f64() * 1e6 / f64::from(tick_n);
    let statuses_n = 20u32;
    let started = Instant::now();
    for _ in 1..statuses_n {
        black_box(engine.statuses(end));
    }
    let statuses = engine.statuses(end);
    let statuses_us = started.elapsed().as_secs_f64() * 1e6 / f64::from(statuses_n);
    let total_runs: u64 = statuses.iter().map(|s| s.runs_1h).sum();
    let paging = statuses
        .iter()
        .filter(|s| s.alert != agentdeck::model::slo::AlertLevel::None)
        .count();

    // 6. The table.
    let ratio_best = decode_fold.best_eps() / bare.best_eps();
    let ratio_median = decode_fold.median_eps() / bare.median_eps();
    println!();
    println!(
        "== results ({} events, 50 series, best / median of {} repetition(s), single thread; \
         verdicts use the median)",
        thousands(events),
        reps
    );
    println!(
        "   {:<56} | {:>12} | {:>12} | {:>9} | {:>6} | {:<16}",
        "measurement", "best ev/s", "median ev/s", "ns/ev best", "on-CPU", "target"
    );
    println!("   {}", "-".repeat(56 + 12 + 12 + 10 + 6 + 16 + 15));
    let row = |name: &str, t: &Timed, target: &str| {
        println!(
            "   {:<56} | {:>12} | {:>12} | {:>10.0} | {:>5.0}% | {:<16}",
            name,
            thousands(t.best_eps() as u64),
            thousands(t.median_eps() as u64),
            t.ns_per_event(),
            t.on_cpu() * 100.0,
            target
        );
    };
    let fold_met = fold_a.median_eps() >= TARGET_FOLD_EPS;
    row(
        "(a) Engine::apply over pre-decoded envelopes",
        &fold_a,
        &format!("≥ 1 M: {}", verdict(fold_met)),
    );
    row(
        "(b) EnvelopeRef::decode + Engine::apply_ref per line",
        &decode_fold,
        "see ratio",
    );
    row(
        "(c) bare serde_json::from_str into borrowed Bare",
        &bare,
        "see ratio",
    );
    row(
        "    strict EnvelopeRef::decode alone (part of b)",
        &strict,
        "info",
    );
    row(
        "    owned Envelope::decode + Engine::apply (hub ingest)",
        &decode_fold_owned,
        "info",
    );
    row(
        "    (a) without periodic ticks (one at the end)",
        &fold_no_tick,
        "info",
    );
    row(
        &format!("    (a) ticking every event-time second ({sec_ticks} ticks)"),
        &fold_sec,
        "info, 1 rep",
    );
    row(
        &format!("    (a) with default_specs ({default_series} series)"),
        &fold_default,
        "info",
    );
    let ratio_met = ratio_median >= TARGET_DECODE_RATIO;
    println!(
        "   (b)/(c) throughput ratio: {:.1} % median ({:.1} % best) — target ≥ 50 %: {}",
        ratio_median * 100.0,
        ratio_best * 100.0,
        verdict(ratio_met)
    );
    println!(
        "   strict decode alone / (c): {:.1} % median; owned decode + apply / (c): {:.1} % median",
        strict.median_eps() / bare.median_eps() * 100.0,
        decode_fold_owned.median_eps() / bare.median_eps() * 100.0
    );
    let flat_met = hwm_growth <= FLAT_HWM_KIB;
    println!(
        "   peak memory (VmHWM) {} at {} events, {} at {} events: {:+} KiB — \
         target flat (≤ {} KiB growth): {}",
        mib(first.2),
        thousands(first.0),
        mib(last.2),
        thousands(last.0),
        hwm_growth,
        FLAT_HWM_KIB,
        verdict(flat_met)
    );
    println!(
        "   tick(): {:.1} µs each on 50 series ({} ticks per fold run); statuses(): {:.0} µs \
         ({} series, {} runs in the last hour, {} alerting)",
        tick_us,
        fold_ticks,
        statuses_us,
        statuses.len(),
        thousands(total_runs),
        paging
    );
    println!(
        "   signals per fold run: {} alert, {} drift, {} version, {} agent-seen",
        signals.alerts, signals.drift, signals.versions, signals.agents
    );
}
