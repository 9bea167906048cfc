//! Replay benchmark (`cargo bench --bench replay`): `agentdeck replay
//! --summary` over a generated recording, next to the practical limit of
//! the format (serde_json's borrowed decode and a count by agent ×
//! outcome, streamed the same way) and jq, in one run on one file.
//!
//! The file is made by the bench in a temporary directory and deleted
//! after: `AGENTDECK_BENCH_EVENTS` (default 1,000,000) `run.finished`
//! envelopes of 50 agents, with tool calls, tokens and versions, about
//! 560 bytes a line. Each reader runs three times and the best is kept
//! (jq once: it is slow). agentdeck runs as its release binary, and its
//! peak memory is what it reports of itself (`VmHWM`).

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use common::{AGENTS, MODELS, Rng, TOOLS, WORKFLOWS, env_u64, verdict};

/// Writes `events` run lines over the last day to `path`.
fn generate(path: &Path, events: u64) -> u64 {
    let mut out = BufWriter::with_capacity(1 << 20, std::fs::File::create(path).expect("file"));
    let mut rng = Rng(0x5eed);
    let start = Utc.with_ymd_and_hms(2026, 12, 3, 0, 0, 0).unwrap();
    let mut bytes = 0u64;
    for i in 0..events {
        let ts = start + chrono::Duration::milliseconds((i * 86_400_000 / events) as i64);
        let agent = format!("{}-{}", AGENTS[(i % 10) as usize], i % 5);
        let outcome = match rng.below(100) {
            0..=2 => "failed",
            3 => "escalated",
            4 => "timed_out",
            _ => "success",
        };
        let tool = TOOLS[rng.below(8) as usize];
        let status = if rng.below(100) < 5 { "error" } else { "ok" };
        let line = format!(
            r#"{{"v":1,"type":"run.finished","ts":"{}","agent":"{agent}","id":"evt-{i:012}","run_id":"run-{i:012}","workflow":"{}","outcome":"{outcome}","latency_ms":{},"cost_usd":{:.5},"tokens":{{"input":{},"output":{}}},"tool_calls":[{{"tool":"{tool}","status":"{status}","latency_ms":{}}},{{"tool":"crm.lookup","status":"ok","latency_ms":{}}}],"versions":{{"model":"{}","prompt":"p-{}","tool":"t-3","policy":"pol-7"}}}}"#,
            ts.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            WORKFLOWS[(i % 5) as usize],
            rng.log_normal(1200.0, 0.6) as u64,
            rng.range(0.001, 0.05),
            400 + rng.below(2000),
            50 + rng.below(500),
            rng.below(400),
            rng.below(90),
            MODELS[(i % 3) as usize],
            i % 4,
        );
        bytes += line.len() as u64 + 1;
        writeln!(out, "{line}").expect("write");
    }
    out.flush().expect("flush");
    bytes
}

/// serde_json's borrowed decode and a count by agent × outcome, streaming
/// the file line by line: the practical limit for this format.
fn serde_count(path: &Path) -> (Duration, u64) {
    #[derive(serde::Deserialize)]
    struct Row<'a> {
        #[serde(borrow)]
        agent: &'a str,
        #[serde(borrow)]
        outcome: &'a str,
    }
    let t = Instant::now();
    let mut input = BufReader::with_capacity(256 * 1024, std::fs::File::open(path).expect("open"));
    let mut line = Vec::with_capacity(4096);
    let mut counts: HashMap<(String, String), u64> = HashMap::new();
    let mut n = 0;
    loop {
        line.clear();
        if input.read_until(b'\n', &mut line).expect("read") == 0 {
            break;
        }
        let row: Row<'_> = serde_json::from_slice(&line).expect("decodes");
        n += 1;
        match counts.get_mut(&(row.agent.to_string(), row.outcome.to_string())) {
            Some(c) => *c += 1,
            None => {
                counts.insert((row.agent.to_string(), row.outcome.to_string()), 1);
            }
        }
    }
    (t.elapsed(), n)
}

/// `agentdeck replay --summary --json`: wall time, events, peak KiB.
fn agentdeck(path: &Path) -> (Duration, u64, u64) {
    let t = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_agentdeck"))
        .args(["replay", "--summary", "--json"])
        .arg(path)
        .output()
        .expect("run agentdeck");
    let took = t.elapsed();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let s = &v["summary"];
    (
        took,
        s["events"].as_u64().unwrap_or(0),
        s["peak_rss_kib"].as_u64().unwrap_or(0),
    )
}

fn jq(path: &Path) -> Option<Duration> {
    let t = Instant::now();
    let out = Command::new("jq")
        .args([
            "-n",
            "-c",
            "reduce inputs as $e ({}; .[$e.agent + \"/\" + $e.outcome] += 1) | length",
        ])
        .arg(path)
        .output()
        .ok()?;
    out.status.success().then(|| t.elapsed())
}

fn main() {
    let events = env_u64("AGENTDECK_BENCH_EVENTS", 1_000_000);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("recording.ndjson");
    let bytes = generate(&path, events);
    println!(
        "replay: {events} run.finished events, 50 agents, {:.0} MB ({:.0} bytes a line)",
        bytes as f64 / 1e6,
        bytes as f64 / events as f64
    );
    let best = |f: &dyn Fn() -> Duration| (0..3).map(|_| f()).min().unwrap_or_default();
    let serde = best(&|| {
        let (d, n) = serde_count(&path);
        assert_eq!(n, events);
        d
    });
    let mut peak = 0;
    let ours = best(&|| {
        let (d, n, _) = agentdeck(&path);
        assert_eq!(n, events, "events folded");
        d
    });
    // Peak memory of one more run (the best-of closure cannot keep it).
    let (_, _, rss) = agentdeck(&path);
    peak = peak.max(rss);
    let rate = |d: Duration| events as f64 / d.as_secs_f64();
    println!("| reader | time | events/s | peak RSS |");
    println!("|---|---|---|---|");
    println!(
        "| serde_json borrowed decode + count by agent × outcome (the limit) | {:.2} s | {:.0} | — |",
        serde.as_secs_f64(),
        rate(serde)
    );
    println!(
        "| agentdeck replay --summary | {:.2} s | {:.0} | {:.1} MiB |",
        ours.as_secs_f64(),
        rate(ours),
        peak as f64 / 1024.0
    );
    let jq_time = if env_u64("AGENTDECK_BENCH_JQ", 1) == 1 {
        jq(&path)
    } else {
        None
    };
    match jq_time {
        Some(d) => println!(
            "| jq reduce count | {:.2} s | {:.0} | — |",
            d.as_secs_f64(),
            rate(d)
        ),
        None => println!("| jq | not installed (or AGENTDECK_BENCH_JQ=0) | | |"),
    }
    let share = rate(ours) / rate(serde);
    println!(
        "goal ≥ 50 % of serde_json: {:.0} % {}",
        share * 100.0,
        verdict(share >= 0.5)
    );
    if let Some(d) = jq_time {
        let x = d.as_secs_f64() / ours.as_secs_f64();
        println!("goal ≥ 10× jq: {x:.1}× {}", verdict(x >= 10.0));
    }
    println!(
        "goal peak RSS < 64 MiB: {:.1} MiB {}",
        peak as f64 / 1024.0,
        verdict(peak < 64 * 1024)
    );
}
