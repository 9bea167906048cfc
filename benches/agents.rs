//! Memory of the per-agent state with 1,000 agents
//! (`cargo bench --bench agents`).
//!
//! Folds eight days of event time from 1,000 agents (5 workflows and 6
//! tools each, 24 runs per agent per hour, every run with two tool calls,
//! one run in ten failed) into the SLO engine and the drill-down samples,
//! the two places the hub keeps per-agent state, and reads `VmRSS` /
//! `VmHWM` from `/proc/self/status` at the end of each day. Every ring
//! and list is full after eight days (the longest ring, hour buckets for
//! cost against last week, holds 192 hours), so the figures must stop
//! growing: the last days are the proof that memory is bounded by agents,
//! not by traffic. Then it times the drill-down answers for one agent.
//!
//! Environment: `AGENTDECK_BENCH_AGENTS` (default 1000),
//! `AGENTDECK_BENCH_DAYS` (default 8) and `AGENTDECK_BENCH_PART` (`both`,
//! the default; `engine` or `drill` to measure one of the two alone).

use std::hint::black_box;
use std::time::Instant;

use agentdeck::engine::Engine;
use agentdeck::engine::drill::Drill;
use agentdeck::engine::spec::default_specs;
use agentdeck::model::envelope::{
    Envelope, Event, Outcome, RunFinished, ToolCall, ToolStatus, Versions,
};
use chrono::{DateTime, Utc};

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `VmRSS` and `VmHWM` in KiB.
fn memory() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// A small deterministic generator (xorshift), so runs are repeatable.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn main() {
    let agents = env_or("AGENTDECK_BENCH_AGENTS", 1000);
    let days = env_or("AGENTDECK_BENCH_DAYS", 8);
    let part = std::env::var("AGENTDECK_BENCH_PART").unwrap_or_else(|_| "both".into());
    let (fold_engine, fold_drill) = (part != "drill", part != "engine");
    let names: Vec<String> = (0..agents).map(|i| format!("agent-{i:04}")).collect();
    let workflows = ["refund", "triage", "lookup", "notify", "close"];
    let tools = [
        "lookup_order",
        "issue_refund",
        "send_email",
        "crm_search",
        "kb_search",
        "ticket_update",
    ];
    let start: DateTime<Utc> = "2026-11-01T00:00:00Z".parse().expect("a valid time");
    let mut engine = Engine::new(default_specs());
    let mut drill = Drill::new(256);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let (rss0, _) = memory();
    println!(
        "agents bench: {agents} agents × 5 workflows × 6 tools, 24 runs per agent per hour, {days} days, folded into: {part}"
    );
    println!("  before: VmRSS {:.1} MiB", rss0 as f64 / 1024.0);
    println!("  day  events      VmRSS MiB  VmHWM MiB  fold s");
    let mut events = 0u64;
    let per_hour = 24u64;
    for day in 0..days {
        let t0 = Instant::now();
        for hour in 0..24 {
            for slot in 0..per_hour {
                let t_s = start.timestamp()
                    + (day as i64 * 24 + hour) * 3600
                    + (slot as i64 * 3600 / per_hour as i64);
                let ts = DateTime::from_timestamp(t_s, 0).expect("a valid time");
                for (i, name) in names.iter().enumerate() {
                    let r = rng.next();
                    let latency_ms = 200 + r % 8000;
                    let failed = r.is_multiple_of(10);
                    let run = RunFinished {
                        run_id: format!("r-{day}-{hour}-{slot}-{i}"),
                        workflow: workflows[(r >> 8) as usize % workflows.len()].to_string(),
                        outcome: if failed {
                            Outcome::Failed
                        } else {
                            Outcome::Success
                        },
                        latency_ms,
                        cost_usd: ((r >> 16) % 1000) as f64 / 10_000.0,
                        tokens: None,
                        tool_calls: vec![
                            ToolCall {
                                tool: tools[(r >> 24) as usize % tools.len()].to_string(),
                                status: ToolStatus::Ok,
                                latency_ms: Some(latency_ms / 3),
                                error: None,
                            },
                            ToolCall {
                                tool: tools[(r >> 32) as usize % tools.len()].to_string(),
                                status: if failed {
                                    ToolStatus::Error
                                } else {
                                    ToolStatus::Ok
                                },
                                latency_ms: Some(latency_ms / 2),
                                error: failed.then(|| "upstream answered 503".to_string()),
                            },
                        ],
                        policy_violations: Vec::new(),
                        versions: Versions {
                            prompt: Some(format!("v{}", 1 + day / 3)),
                            ..Versions::default()
                        },
                        error: failed.then(|| "tool failed".to_string()),
                        unpriced_model: None,
                    };
                    let env = Envelope::new(ts, name.clone(), Event::RunFinished(run));
                    let counted = !fold_engine || engine.apply(&env).is_ok();
                    if counted && fold_drill {
                        drill.record(&env);
                    }
                    events += 1;
                }
            }
            engine.tick(
                DateTime::from_timestamp(
                    start.timestamp() + (day as i64 * 24 + hour + 1) * 3600,
                    0,
                )
                .expect("a valid time"),
            );
            engine.drain_signals();
        }
        let (rss, hwm) = memory();
        println!(
            "  {:>3}  {:>10}  {:>9.1}  {:>9.1}  {:>6.1}",
            day + 1,
            events,
            rss as f64 / 1024.0,
            hwm as f64 / 1024.0,
            t0.elapsed().as_secs_f64()
        );
    }
    let (rss, _) = memory();
    println!(
        "  per agent: {:.1} KiB (VmRSS growth over the run / agents)",
        (rss.saturating_sub(rss0)) as f64 / agents as f64
    );
    let now = DateTime::from_timestamp(start.timestamp() + days as i64 * 86_400 - 1, 0)
        .expect("a valid time");
    let reps = 200u32;
    let t0 = Instant::now();
    for i in 0..reps {
        let name = &names[i as usize % names.len()];
        black_box(drill.performance(name, now));
        black_box(drill.top_runs(name, false, now));
        black_box(drill.top_runs(name, true, now));
        black_box(drill.failed_runs(name));
        black_box(drill.tool_rates(name, now));
        black_box(engine.agent(name, now));
    }
    println!(
        "  drill-down answers for one agent: {:.0} µs",
        t0.elapsed().as_secs_f64() * 1e6 / f64::from(reps)
    );
}
