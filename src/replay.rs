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

/// What was read from a file.
#[derive(Debug, Default)]
pub struct Recording {
    /// Events, in file order.
    pub events: Vec<Envelope>,
    /// Lines read.
    pub lines: u64,
    /// Spans read from trace lines.
    pub spans: u64,
    /// Metrics and logs lines skipped.
    pub skipped: u64,
    /// Lines or spans that could not be used.
    pub rejected: u64,
    /// The first few reasons.
    pub errors: Vec<String>,
}

/// Reads a recording, line by line.
pub fn read(path: &Path) -> Result<Recording, String> {
    let text = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut rec = Recording::default();
    // A pretty-printed export request is one JSON value over many lines.
    let whole = serde_json::from_slice::<serde::de::IgnoredAny>(&text).is_ok();
    let lines: Vec<(u64, &[u8])> = if whole {
        vec![(1, text.as_slice())]
    } else {
        crate::ingest::ndjson::lines(&text).collect()
    };
    for (n, line) in lines {
        rec.lines += 1;
        let head = if whole {
            line
        } else {
            &line[..line.len().min(4096)]
        };
        let has = |key: &str| head.windows(key.len()).any(|w| w == key.as_bytes());
        let note = |rec: &mut Recording, e: String| {
            rec.rejected += 1;
            if rec.errors.len() < 5 {
                rec.errors.push(format!("line {n}: {e}"));
            }
        };
        if has("\"resourceSpans\"") {
            match crate::ingest::otlp::map_export(line) {
                Ok(m) => {
                    rec.spans += m.spans;
                    rec.rejected += m.rejected_spans;
                    rec.events.extend(m.envelopes);
                }
                Err(e) => note(&mut rec, e),
            }
        } else if has("\"resourceMetrics\"") || has("\"resourceLogs\"") {
            rec.skipped += 1;
        } else {
            match Envelope::decode_bytes(line) {
                Ok(env) => rec.events.push(env),
                Err(e) => note(&mut rec, e.to_string()),
            }
        }
    }
    Ok(rec)
}

/// The end state of a replay.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// Events folded.
    pub events: u64,
    /// Seconds it took.
    pub seconds: f64,
    /// Events per second achieved.
    pub events_per_s: f64,
    /// The recording's clock at the end.
    pub clock: Option<DateTime<Utc>>,
    /// SLO status at the end, worst first.
    pub slos: Vec<SloStatus>,
}

/// Folds every event through a fresh engine, ticking on event time, as
/// fast as it can.
pub fn summarize(events: &[Envelope], specs: Vec<SloSpec>) -> Summary {
    let started = Instant::now();
    let mut engine = Engine::new(specs);
    let mut clock: Option<DateTime<Utc>> = None;
    let mut last_tick: Option<i64> = None;
    let mut applied = 0u64;
    for env in events {
        let t = env.ts;
        if clock.is_none_or(|c| t > c) {
            clock = Some(t);
        }
        let now = clock.unwrap_or(t);
        if last_tick.is_none_or(|l| now.timestamp() - l >= 60) {
            engine.tick(now);
            last_tick = Some(now.timestamp());
        }
        if engine.apply(env).is_ok() {
            applied += 1;
        }
    }
    let mut slos = Vec::new();
    if let Some(now) = clock {
        engine.tick(now);
        slos = engine.statuses(now);
        slos.sort_by(|a, b| {
            b.alert
                .cmp(&a.alert)
                .then(a.budget_remaining.total_cmp(&b.budget_remaining))
        });
    }
    let seconds = started.elapsed().as_secs_f64();
    Summary {
        events: applied,
        seconds,
        events_per_s: if seconds > 0.0 {
            applied as f64 / seconds
        } else {
            0.0
        },
        clock,
        slos,
    }
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
