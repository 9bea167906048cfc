//! Replaying a recorded file through the engine, with no hub: NDJSON
//! envelopes, or OpenTelemetry Collector file-exporter lines (one export
//! request per line, traces mapped, metrics and logs skipped).

use std::path::Path;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::mpsc;

use crate::client::feed::{FeedMsg, parse_event};
use crate::engine::Engine;
use crate::hub::core::{Core, StreamLimits};
use crate::hub::policy::Policy;
use crate::hub::store::Store;
use crate::model::envelope::Envelope;
use crate::model::slo::{SloSpec, SloStatus};

pub mod input;

pub use input::Counts;

/// What was read from a file, whole (for playing it in the TUI).
#[derive(Debug, Default)]
pub struct Recording {
    /// Events, in file order.
    pub events: Vec<Envelope>,
    /// What reading counted.
    pub counts: Counts,
}

/// Reads a recording into memory, every event owned.
pub fn read(path: &Path) -> Result<Recording, String> {
    let mut events = Vec::new();
    let counts = input::for_each(path, |item| match item {
        input::Item::Event(env) => events.push(env.into_owned()),
        input::Item::Traces(m) => events.extend(m.envelopes),
    })?;
    Ok(Recording { events, counts })
}

/// The end state of a replay.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// Events folded.
    pub events: u64,
    /// Seconds it took, reading included.
    pub seconds: f64,
    /// Events per second achieved.
    pub events_per_s: f64,
    /// The recording's clock at the end.
    pub clock: Option<DateTime<Utc>>,
    /// SLO status at the end, worst first.
    pub slos: Vec<SloStatus>,
    /// The process's peak resident memory, KiB (Linux).
    pub peak_rss_kib: Option<u64>,
}

/// An engine fed in file order, ticking on event time every minute of it.
struct Fold {
    engine: Engine,
    clock: Option<DateTime<Utc>>,
    last_tick: Option<i64>,
    applied: u64,
}

impl Fold {
    fn new(specs: Vec<SloSpec>) -> Self {
        Self {
            engine: Engine::new(specs),
            clock: None,
            last_tick: None,
            applied: 0,
        }
    }

    /// Moves the clock to an event's time and ticks when a minute passed.
    fn at(&mut self, t: DateTime<Utc>) {
        if self.clock.is_none_or(|c| t > c) {
            self.clock = Some(t);
        }
        let now = self.clock.unwrap_or(t);
        if self.last_tick.is_none_or(|l| now.timestamp() - l >= 60) {
            self.engine.tick(now);
            self.last_tick = Some(now.timestamp());
        }
        // The engine queues a signal for every change marker and alert; a
        // summary reads none of them, and kept they would grow with the
        // file.
        if self.applied.is_multiple_of(4096) {
            drop(self.engine.drain_signals());
        }
    }

    fn item(&mut self, item: input::Item<'_>) {
        match item {
            input::Item::Event(env) => {
                self.at(env.ts);
                if self.engine.apply_ref(&env).is_ok() {
                    self.applied += 1;
                }
            }
            input::Item::Traces(m) => {
                for env in &m.envelopes {
                    self.at(env.ts);
                    if self.engine.apply(env).is_ok() {
                        self.applied += 1;
                    }
                }
            }
        }
    }

    fn finish(mut self, started: Instant) -> Summary {
        let mut slos = Vec::new();
        if let Some(now) = self.clock {
            self.engine.tick(now);
            slos = self.engine.statuses(now);
            slos.sort_by(|a, b| {
                b.alert
                    .cmp(&a.alert)
                    .then(a.budget_remaining.total_cmp(&b.budget_remaining))
            });
        }
        let seconds = started.elapsed().as_secs_f64();
        Summary {
            events: self.applied,
            seconds,
            events_per_s: if seconds > 0.0 {
                self.applied as f64 / seconds
            } else {
                0.0
            },
            clock: self.clock,
            slos,
            peak_rss_kib: peak_rss_kib(),
        }
    }
}

/// Reads a recording as a stream and folds every event through a fresh
/// engine as it comes, ticking on event time: memory holds one line and
/// the engine, whatever the file's size.
pub fn summarize_file(path: &Path, specs: Vec<SloSpec>) -> Result<(Counts, Summary), String> {
    let started = Instant::now();
    let mut fold = Fold::new(specs);
    let counts = input::for_each(path, |item| fold.item(item))?;
    Ok((counts, fold.finish(started)))
}

/// The process's peak resident set size (`VmHWM`), where the system says.
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// The summary as a text table.
pub fn table(s: &Summary) -> String {
    let mut out = format!(
        "{:<44} {:>8} {:>8} {:>8} {:>8} {:>7} {:>9}\n",
        "series", "ratio", "budget", "burn 1h", "burn 6h", "alert", "p95"
    );
    for x in &s.slos {
        out.push_str(&format!(
            "{:<44} {:>8} {:>8} {:>8.2} {:>8.2} {:>7} {:>9}\n",
            crate::tui::sanitize::fit(&x.series, 44),
            x.ratio
                .map(|r| format!("{:.2}%", r * 100.0))
                .unwrap_or_else(|| "—".into()),
            format!("{:.0}%", x.budget_remaining * 100.0),
            x.burn.h1,
            x.burn.h6,
            x.alert.as_str(),
            x.latency_p95_ms
                .map(|v| format!("{v:.0}ms"))
                .unwrap_or_else(|| "—".into()),
        ));
    }
    out
}

/// How fast to replay.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Pace {
    /// Event time runs this many times faster than wall time.
    Speed(f64),
    /// No waiting.
    AsFastAsPossible,
}

/// Plays a recording through a local core (in a temporary database) and
/// sends the same snapshot and deltas a hub would, with the replay clock.
pub async fn play(
    events: Vec<Envelope>,
    specs: Vec<SloSpec>,
    pace: Pace,
    tx: mpsc::Sender<FeedMsg>,
) -> anyhow::Result<()> {
    let dir = tempfile_dir()?;
    let db = dir.path.join("replay.db");
    let mut core = Core::open(
        Store::open(&db)?,
        Engine::new(specs),
        Policy::default(),
        StreamLimits::default(),
        Utc::now(),
    )?;
    let mut rx = core.subscribe();
    let Some(first) = events.first().map(|e| e.ts) else {
        return Ok(());
    };
    core.tick(first)?;
    let snap = core.snapshot_frame(first);
    if let Ok(msg) = parse_event(snap.event, &snap.id.to_string(), &snap.data) {
        tx.send(msg).await?;
    }
    let started = Instant::now();
    let mut clock = first;
    let mut last_tick = first;
    let mut batch = Vec::new();
    for env in events {
        if env.ts > clock {
            clock = env.ts;
        }
        if let Pace::Speed(speed) = pace {
            let due = Duration::from_secs_f64(
                ((clock - first).num_milliseconds().max(0) as f64 / 1000.0) / speed.max(0.001),
            );
            if let Some(wait) = due.checked_sub(started.elapsed())
                && !wait.is_zero()
            {
                flush(&mut core, &mut batch, clock)?;
                tokio::time::sleep(wait.min(Duration::from_secs(1))).await;
            }
        }
        let line = env.to_line();
        batch.push((env, line));
        if (clock - last_tick).num_seconds() >= 1 {
            flush(&mut core, &mut batch, clock)?;
            core.tick(clock)?;
            last_tick = clock;
            tx.send(FeedMsg::ReplayClock(clock)).await?;
            forward(&mut rx, &tx).await?;
        }
    }
    flush(&mut core, &mut batch, clock)?;
    core.tick(clock)?;
    tx.send(FeedMsg::ReplayClock(clock)).await?;
    forward(&mut rx, &tx).await?;
    drop(core);
    drop(dir);
    Ok(())
}

fn flush(
    core: &mut Core,
    batch: &mut Vec<(Envelope, String)>,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    if !batch.is_empty() {
        core.ingest(std::mem::take(batch), now)?;
    }
    Ok(())
}

async fn forward(
    rx: &mut tokio::sync::broadcast::Receiver<std::sync::Arc<crate::hub::core::Frame>>,
    tx: &mpsc::Sender<FeedMsg>,
) -> anyhow::Result<()> {
    loop {
        match rx.try_recv() {
            Ok(frame) => {
                if let Ok(msg) = parse_event(frame.event, &frame.id.to_string(), &frame.data) {
                    tx.send(msg).await?;
                }
            }
            Err(tokio::sync::broadcast::error::TryRecvError::Lagged(_)) => continue,
            Err(_) => return Ok(()),
        }
    }
}

/// A directory removed when dropped.
struct TempDir {
    path: std::path::PathBuf,
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

fn tempfile_dir() -> std::io::Result<TempDir> {
    let path = std::env::temp_dir().join(format!(
        "agentdeck-replay-{}-{}",
        std::process::id(),
        Utc::now().timestamp_nanos_opt().unwrap_or_default()
    ));
    std::fs::create_dir_all(&path)?;
    Ok(TempDir { path })
}
