//! TUI benchmark (`cargo bench --bench tui`): frame time of every screen and
//! bytes the real run loop writes to the terminal.
//!
//! One run measures:
//!
//! (a) render time: `terminal.draw(|f| render(&app, &theme, f))` on a
//!     200×60 `TestBackend`, for each of the seven screens, with a generated
//!     state of 50 SLO series, 200 open incidents and 100 pending approvals
//!     (plus 10 agents, 12 controls, 200 audit entries, 4 operators present,
//!     a runbook per incident category and a handoff summary of that state),
//!     then the same with 5,000 open incidents and 10,000 pending approvals.
//!     The state is written as the JSON of a stream `snapshot` event and
//!     decoded by the feed's own parser, as the TUI receives it. Between
//!     frames the app's clock alternates by one second, as the run loop's
//!     tick does, so every frame has a real diff (clock, countdowns, ages).
//!     Mean and p99 per frame, wall clock and the thread's CPU time (which
//!     leaves out waiting for a core on a busy machine); target < 2 ms.
//!     Then, on each list screen (Overview, Incidents, Approvals, Controls,
//!     Agents): frames while paging down through the whole list (page down
//!     before every frame, back to the top at the bottom; the key's
//!     handling timed apart), and frames each drawn after one delta of the
//!     kind the screen lists (so the list is sorted again in the frame, the
//!     worst a flood of deltas can do). The parts of a frame that `src/tui`
//!     exposes (row sorting, `App::selected`, the per-agent counts) are
//!     timed on their own.
//! (b) bytes per second written by the real loop (`tui::run::event_loop`)
//!     through a `CrosstermBackend` over a counting writer (counts and
//!     discards, and follows the cursor moves to say which cells the bytes
//!     land on), with an input stream that never yields, on a fixed 200×60
//!     viewport, the app fed by the real `client::feed::run` over SSE from
//!     an in-process hub on loopback:
//!     1. idle: the hub holds a static state (runs stamped hours ago, a few
//!        approvals and incidents) and no fleet runs; target: only the
//!        clock changes (at most one frame with a visible change a second,
//!        no byte outside the clock's cells but each draw's fixed trailer);
//!     2. busy: `sim::runner::run` drives the `mixed` scenario at 2,000
//!        runs/s (12 agents, 48 SLO series) against a fresh hub; target
//!        < 20 KB/s. Measured on Overview (the screen the TUI opens on),
//!        then Incidents and Approvals.
//!     Each loop run warms up (connect, snapshot, the first full paint)
//!     before its window opens; the first paint is reported on its own. A
//!     frame is a flush that carried bytes (ratatui flushes twice a draw).
//!
//! Hub, fleet and TUI share one process and one tokio runtime. Bells (one
//! BEL byte per new SEV1 or approval near its deadline, written to stdout by
//! the loop, not through the backend) are switched off and not counted.
//!
//! Environment: `AGENTDECK_BENCH_TUI_SECS` (default 15) sets the busy
//! window on Overview; the other windows scale from it.
//! `AGENTDECK_BENCH_TUI_ONLY` = `render`, `render-small`, `render-large` or
//! `loop` runs one part; `AGENTDECK_BENCH_TUI_SCREENS` (e.g.
//! `Approvals,Incidents`) limits (a) to some screens (for profiling).

mod common;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use agentdeck::client::actions;
use agentdeck::client::feed::{self, FeedMsg};
use agentdeck::engine::spec::default_specs;
use agentdeck::hub::auth::TokenStore;
use agentdeck::hub::core::StreamLimits;
use agentdeck::hub::policy::Policy;
use agentdeck::hub::{HubConfig, RunningHub};
use agentdeck::model::role::Role;
use agentdeck::model::runbook::Runbook;
use agentdeck::model::stream::Delta;
use agentdeck::sim::runner::{SimConfig, SimStats};
use agentdeck::sim::scenario::Scenario;
use agentdeck::tui::action::Action;
use agentdeck::tui::app::{App, Operator};
use agentdeck::tui::keymap::Keymap;
use agentdeck::tui::run::Fetched;
use agentdeck::tui::screen::{self, Screen};
use agentdeck::tui::theme::Theme;
use agentdeck::tui::view::render;
use chrono::{DateTime, SecondsFormat, Utc};
use common::{AGENTS, MODELS, Rng, TOOLS, WORKFLOWS, env_u64, verdict};
use ratatui::backend::{CrosstermBackend, TestBackend};
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::{Terminal, TerminalOptions, Viewport};
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};

const WIDTH: u16 = 200;
const HEIGHT: u16 = 60;
/// Target frame time.
const TARGET_FRAME_MS: f64 = 2.0;
/// Target bytes per second under the busy fleet.
const TARGET_BUSY_BPS: f64 = 20_000.0;
/// Idle: what one clock redraw a second may cost, generously (a cursor
/// move, colours, two or three digits and the closing attribute reset).
const IDLE_CLOCK_BPS: f64 = 100.0;
/// Runs per second of the busy fleet.
const FLEET_RATE: f64 = 2_000.0;
/// Agents of the busy fleet (4 SLO series each with the default specs).
const FLEET_AGENTS: usize = 12;

const AGENT_TOKEN: &str = "adk_bench_agent";
const LEAD_TOKEN: &str = "adk_bench_lead";
const LEAD_NAME: &str = "lead";

const OPERATORS: [&str; 5] = ["dana", "lee", "kim", "sam", "priya"];
const ACTIONS: [&str; 6] = [
    "issue_refund",
    "send_email",
    "delete_record",
    "scale_deployment",
    "apply_credit",
    "close_account",
];

fn secs(n: i64) -> chrono::Duration {
    chrono::Duration::seconds(n)
}

// ---- (a) the state -----------------------------------------------------------
//
// Built as JSON and decoded into the model types, so fields the model gains
// later (with defaults) do not break the benchmark.

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn agents(now: DateTime<Utc>, rng: &mut Rng) -> Vec<Value> {
    AGENTS
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let tools: Vec<&str> = (0..3 + i % 3)
                .map(|k| TOOLS[(i + k * 3) % TOOLS.len()])
                .collect();
            json!({
                "id": id,
                "registered": i.is_multiple_of(2),
                "first_seen": rfc3339(now - secs(86_400 * (30 + i as i64))),
                "last_seen": rfc3339(now - secs(rng.below(5) as i64)),
                "last_heartbeat": rfc3339(now - secs(rng.below(10) as i64)),
                "health": if i == 0 { "degraded" } else { "ok" },
                "versions": {
                    "model": MODELS[i % MODELS.len()],
                    "prompt": format!("v{}", 7 + i),
                    "tool": "tools-2026.11.3",
                    "policy": format!("{}-p12", id.trim_end_matches("-bot")),
                },
                "workflows": [WORKFLOWS[i % WORKFLOWS.len()]],
                "tools": tools,
                "runs_last_minute": 20 + rng.below(400),
            })
        })
        .collect()
}

fn slos(now: DateTime<Utc>, n: usize, rng: &mut Rng) -> Vec<Value> {
    const NAMES: [(&str, &str, f64, bool); 5] = [
        ("completion", "completion", 0.99, false),
        ("latency", "latency", 0.95, false),
        ("cost", "cost", 0.98, false),
        ("policy", "policy", 0.999, false),
        ("completion-critical", "completion", 0.995, true),
    ];
    (0..n)
        .map(|i| {
            let agent = AGENTS[i % AGENTS.len()];
            let (slo, sli, objective, critical) = NAMES[(i / AGENTS.len()) % NAMES.len()];
            let workflow = WORKFLOWS[(i / 50 + i % AGENTS.len()) % WORKFLOWS.len()];
            let alert = if i % 17 == 0 {
                "page"
            } else if i % 7 == 3 {
                "ticket"
            } else {
                "none"
            };
            let budget_remaining = match alert {
                "page" => rng.range(-0.15, 0.2),
                "ticket" => rng.range(0.2, 0.5),
                _ => rng.range(0.5, 1.0),
            };
            let ratio = 1.0 - (1.0 - objective) * (1.0 - budget_remaining);
            let total = 50_000 + rng.below(2_000_000);
            let (lo, hi) = match alert {
                "page" => (6.0, 20.0),
                "ticket" => (1.0, 3.0),
                _ => (0.0, 1.0),
            };
            let mut burn = || rng.range(lo, hi);
            let burn = json!({
                "m5": burn(), "m30": burn(), "h1": burn(), "h2": burn(),
                "h6": burn(), "d1": burn() / 4.0, "d3": burn() / 8.0,
            });
            let total_per_min: Vec<u64> = (0..60).map(|_| 200 + rng.below(1_300)).collect();
            let bad_per_min: Vec<u64> = (0..60)
                .map(|m| {
                    if alert == "page" && m >= 45 {
                        20 + rng.below(60)
                    } else {
                        rng.below(6)
                    }
                })
                .collect();
            let p95 = rng.range(800.0, 9_000.0);
            let markers = if i % 9 == 0 {
                json!([{
                    "at": rfc3339(now - secs(60 * (5 + rng.below(50) as i64))),
                    "component": "prompt",
                    "from": format!("v{}", 6 + i % 10),
                    "to": format!("v{}", 7 + i % 10),
                    "deployed_by": "ci",
                    "approved_by": "dana",
                }])
            } else {
                json!([])
            };
            json!({
                "series": format!("{slo}/{agent}/{workflow}"),
                "slo": slo,
                "agent": agent,
                "workflow": workflow,
                "sli": sli,
                "objective": objective,
                "window_days": 30,
                "critical": critical,
                "total": total,
                "good": (total as f64 * ratio) as u64,
                "ratio": ratio,
                "ratio_1h": ratio - rng.range(0.0, 0.01),
                "budget_remaining": budget_remaining,
                "exhaustion_s": rng.below(3_000_000),
                "burn": burn,
                "alert": alert,
                "latency_p50_ms": p95 / 3.0,
                "latency_p95_ms": p95,
                "latency_p99_ms": p95 * 1.6,
                "cost_per_success_usd": rng.range(0.002, 0.4),
                "violation_rate": rng.range(0.0, 0.002),
                "escalation_rate": rng.range(0.0, 0.05),
                "escalation_baseline": 0.02,
                "runs_1h": total_per_min.iter().sum::<u64>(),
                "bad_per_min": bad_per_min,
                "total_per_min": total_per_min,
                "markers": markers,
            })
        })
        .collect()
}

const CATEGORIES: [&str; 8] = [
    "slo_burn",
    "tool_failure",
    "drift",
    "hallucination_low_impact",
    "hallucination_customer_impact",
    "unsafe_action",
    "data_corruption",
    "other",
];

fn incidents(now: DateTime<Utc>, n: usize, controls: usize, rng: &mut Rng) -> Vec<Value> {
    const NOTES: [&str; 4] = [
        "checked the last 50 runs: failures all on lookups of orders older than 90 days",
        "vendor status page says degraded; pinged their on-call",
        "rolling back prompt to the previous version did not change the error rate",
        "customer impact confirmed for 3 tickets; support has a macro ready",
    ];
    (0..n)
        .map(|k| {
            let agent = AGENTS[k % AGENTS.len()];
            let severity = match k % 20 {
                0 => "SEV1",
                1..=3 => "SEV2",
                4..=12 => "SEV3",
                _ => "SEV4",
            };
            let category = CATEGORIES[k % CATEGORIES.len()];
            let state = ["triggered", "acknowledged", "contained"][k % 3];
            let opened_at = now - secs(60 + rng.below(259_200) as i64);
            let workflow = WORKFLOWS[k % WORKFLOWS.len()];
            let title = match category {
                "slo_burn" => format!(
                    "{agent}/{workflow} completion SLO burning {:.1}x over 1 h",
                    rng.range(2.0, 20.0)
                ),
                "tool_failure" => {
                    format!(
                        "{agent}: orders.get answers 503 on {}% of calls",
                        5 + k % 60
                    )
                }
                "drift" => format!("{agent} escalations doubled since prompt v{}", 7 + k % 9),
                _ => format!("{agent} told a customer a refund was issued when it had failed"),
            };
            let entries = 3 + rng.below(10) as usize;
            let mut at = opened_at;
            let timeline: Vec<Value> = (0..entries)
                .map(|e| {
                    at += secs(30 + rng.below(600) as i64);
                    let (actor, kind, text) = match e {
                        0 => ("hub", "opened", format!("opened as {severity}: {title}")),
                        1 => {
                            let who = OPERATORS[(k + 1) % OPERATORS.len()];
                            (who, "acknowledged", format!("acknowledged by {who}"))
                        }
                        _ => {
                            let who = OPERATORS[(k + e) % OPERATORS.len()];
                            (who, "note", NOTES[(k + e) % NOTES.len()].to_string())
                        }
                    };
                    json!({"at": rfc3339(at), "actor": actor, "kind": kind, "text": text})
                })
                .collect();
            let mut i = json!({
                "id": format!("INC-{}", 1000 + k),
                "title": title,
                "severity": severity,
                "category": category,
                "state": state,
                "source": if category == "slo_burn" { "alert" } else { "agent" },
                "agent": agent,
                "opened_at": rfc3339(opened_at),
                "updated_at": rfc3339(at.min(now)),
                "runbook": category,
                "controls": [],
                "timeline": timeline,
            });
            if category == "slo_burn" {
                i["slo"] = json!(format!("completion/{agent}/{workflow}"));
            }
            if state != "triggered" {
                i["owner"] = json!(OPERATORS[k % OPERATORS.len()]);
                i["acknowledged_at"] = json!(rfc3339(opened_at + secs(90)));
            }
            if state == "contained" && controls > 0 {
                i["contained_at"] = json!(rfc3339(opened_at + secs(600)));
                i["controls"] = json!([format!("CTL-{}", 1 + k % controls)]);
            }
            i
        })
        .collect()
}

fn approvals(now: DateTime<Utc>, n: usize, rng: &mut Rng) -> Vec<Value> {
    (0..n)
        .map(|k| {
            let agent = AGENTS[k % AGENTS.len()];
            let action = ACTIONS[k % ACTIONS.len()];
            let risk = match k % 10 {
                0 => "critical",
                1..=4 => "high",
                5..=7 => "medium",
                _ => "low",
            };
            let deadline = now + secs(20 + rng.below(1_800) as i64);
            let required = if k % 8 == 0 { 2 } else { 1 };
            let decisions = if required == 2 && k % 16 == 0 {
                json!([{
                    "by": "kim", "role": "approver", "verdict": "approve",
                    "at": rfc3339(now - secs(30)),
                }])
            } else {
                json!([])
            };
            json!({
                "id": format!("APR-{}", 1 + k),
                "agent": agent,
                "request_id": format!("rq-{:08x}", rng.next() as u32),
                "run_id": format!("run-{:012x}", rng.next() & 0xffff_ffff_ffff),
                "workflow": WORKFLOWS[k % WORKFLOWS.len()],
                "action": action,
                "tool": action,
                "args": {
                    "order_id": format!("A-{}", 10_000 + rng.below(90_000)),
                    "amount_usd": (rng.range(5.0, 2_500.0) * 100.0).round() / 100.0,
                    "currency": "USD",
                    "customer": format!("c-{}", 10_000 + rng.below(90_000)),
                    "note": "customer reports the parcel arrived damaged",
                },
                "risk": risk,
                "reason": format!(
                    "{action} above the auto-approve limit for {agent}; policy asks a human"
                ),
                "context": "Customer since 2023, 14 orders, no earlier refunds. Two photos attached.",
                "reject_options": ["amount exceeds policy", "needs photo evidence", "suspected fraud"],
                "requested_at": rfc3339(now - secs(rng.below(600) as i64)),
                "deadline": rfc3339(deadline),
                "escalate_at": rfc3339(deadline - secs(300)),
                "state": if k % 10 == 9 { "escalated" } else { "pending" },
                "approvals_required": required,
                "decisions": decisions,
            })
        })
        .collect()
}

fn controls(now: DateTime<Utc>, n: usize) -> Vec<Value> {
    const KINDS: [&str; 5] = [
        "disable_tool",
        "force_fallback",
        "route_to_humans",
        "require_approval",
        "pin_version",
    ];
    (0..n)
        .map(|k| {
            let kind = KINDS[k % KINDS.len()];
            let mut c = json!({
                "id": format!("CTL-{}", 1 + k),
                "agent": AGENTS[k % AGENTS.len()],
                "kind": kind,
                "reason": "issue_refund answers 422 since prompt v8; refunds go to humans until fixed",
                "set_by": OPERATORS[k % OPERATORS.len()],
                "set_at": rfc3339(now - secs(300 * (1 + k as i64))),
                "incident": format!("INC-{}", 1000 + 3 * k + 2),
                "state": "active",
            });
            if kind == "disable_tool" {
                c["tool"] = json!(TOOLS[k % TOOLS.len()]);
            }
            if kind == "pin_version" {
                c["version"] = json!(format!("v{}", 6 + k));
            }
            if k.is_multiple_of(2) {
                c["expires_at"] = json!(rfc3339(now + secs(3_600 - 200 * k as i64)));
            }
            c
        })
        .collect()
}

fn audit(now: DateTime<Utc>, n: usize, rng: &mut Rng) -> Vec<Value> {
    (0..n)
        .map(|k| {
            json!({
                "seq": 10_000 + k,
                "ts": rfc3339(now - secs((n - k) as i64 * 20)),
                "actor": OPERATORS[k % OPERATORS.len()],
                "role": "responder",
                "action": "incident.acknowledged",
                "subject": format!("INC-{}", 1000 + k),
                "details": {"severity": "SEV3"},
                "prev_hash": format!("{:016x}{:016x}", rng.next(), rng.next()),
                "hash": format!("{:016x}{:016x}", rng.next(), rng.next()),
            })
        })
        .collect()
}

/// A hub's state of the given size, as the `data:` of the stream's
/// `snapshot` event.
fn state(now: DateTime<Utc>, slo_series: usize, open_incidents: usize, pending: usize) -> String {
    let mut rng = Rng(0x5EED);
    let n_controls = 12;
    let v = json!({
        "seq": 100_000,
        "at": rfc3339(now),
        "agents": agents(now, &mut rng),
        "specs": serde_json::to_value(default_specs()).expect("specs"),
        "slos": slos(now, slo_series, &mut rng),
        "incidents": incidents(now, open_incidents, n_controls, &mut rng),
        "approvals": approvals(now, pending, &mut rng),
        "controls": controls(now, n_controls),
        "audit": audit(now, 200, &mut rng),
        "presence": [
            {"operator": LEAD_NAME, "role": "lead", "since": rfc3339(now - secs(3_600))},
            {"operator": "dana", "role": "lead", "viewing": "INC-1000", "since": rfc3339(now - secs(7_200))},
            {"operator": "lee", "role": "responder", "viewing": "APR-1", "since": rfc3339(now - secs(1_800))},
            {"operator": "kim", "role": "approver", "since": rfc3339(now - secs(600))},
        ],
    });
    v.to_string()
}

/// One runbook per incident category, each with a Markdown body and ten
/// checklist steps, some carrying a pre-approved action.
fn runbooks() -> Vec<Runbook> {
    let actions = [
        json!({"kind": "disable_tool", "tool": "orders.get"}),
        json!({"kind": "route_to_humans"}),
        json!({"kind": "escalate", "severity": "SEV2"}),
        json!({"kind": "page", "role": "lead"}),
    ];
    CATEGORIES
        .iter()
        .map(|c| {
            let steps: Vec<Value> = (1..=10u32)
                .map(|n| {
                    let mut s = json!({
                        "index": n,
                        "line": 10 + 2 * n,
                        "text": format!(
                            "Step {n}: check the agent's gauge and the version markers; note what you saw and since when, then move on"
                        ),
                    });
                    if n % 3 == 0 {
                        s["action"] = actions[(n as usize / 3) % actions.len()].clone();
                    }
                    s
                })
                .collect();
            let mut body = format!(
                "# {c}\n\n**Purpose.** Contain first: stop the agent doing harm and keep customers served by humans, then find out what broke.\n\n**Signals.** Drift on the agent's gauge, an SLO burn on completion or latency, an `incident.reported` from the agent.\n\n## Triage\n\n"
            );
            for n in 1..=10 {
                let _ = writeln!(
                    body,
                    "- [ ] Step {n}: check the agent's gauge and the version markers; note what you saw and since when, then move on"
                );
                if n == 5 {
                    body.push_str("\n## Verification\n\n");
                }
            }
            body.push_str("\n## Exit criteria\n\n- [ ] Lift the controls and watch 20 clean runs before resolving.\n");
            serde_json::from_value(json!({
                "name": c,
                "title": c.replace('_', " "),
                "categories": [c],
                "owner": "agent-platform-oncall",
                "version": "1",
                "body": body,
                "steps": steps,
            }))
            .expect("the generated runbook decodes")
        })
        .collect()
}

/// A handoff summary shaped like the hub's `GET /v1/handoff?format=markdown`
/// over `data`: every still-open incident and pending approval in a table,
/// every SLO series and control.
fn handoff_markdown(app: &App) -> String {
    let d = &app.data;
    let mut md = String::from("# Shift handoff\n\n");
    let _ = writeln!(
        md,
        "Shift: {} → {} (8 h). Generated {}.\n",
        rfc3339(app.now - secs(8 * 3_600)),
        rfc3339(app.now),
        rfc3339(app.now)
    );
    md.push_str("## Notes from the outgoing lead\n\n**dana** at 02:58Z:\n\n> refund-bot is contained (CTL-7); the vendor promised a fix by 06:00.\n> Watch billing-bot's latency SLO: it ticketed twice tonight.\n\n");
    let _ = writeln!(
        md,
        "## Incidents\n\n- Opened: 14\n- Resolved: 9\n- Still open: {}\n- MTTA: 3m12s (over 12 acknowledged)\n- MTTR: 1h05m (over 9 resolved)\n",
        d.incidents.len()
    );
    md.push_str("### Still open\n\n| Incident | Severity | Title | Agent | State | Opened | Acknowledged |\n|---|---|---|---|---|---|---|\n");
    for i in d.incidents.values() {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} | {} |",
            i.id,
            i.severity.as_str(),
            i.title,
            i.agent.as_deref().unwrap_or("—"),
            i.state.as_str(),
            rfc3339(i.opened_at),
            i.acknowledged_at.map(rfc3339).unwrap_or_else(|| "—".into())
        );
    }
    let _ = writeln!(
        md,
        "\n## Approvals\n\n- Decided: 41 (37 approved, 4 rejected)\n- Expired: 2\n- Pending: {}\n- Decision latency p50: 48s, p95: 4m10s (nearest rank over 41 decided)\n",
        d.approvals.len()
    );
    md.push_str("### Pending\n\n| Approval | Agent | Action | Risk | Requested | Deadline |\n|---|---|---|---|---|---|\n");
    for a in d.approvals.values() {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} |",
            a.id,
            a.agent,
            a.action,
            serde_json::to_value(a.risk)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
            rfc3339(a.requested_at),
            rfc3339(a.deadline)
        );
    }
    md.push_str("\n## SLOs\n\n| Series | Objective | Ratio now | Budget left | Burned this shift | Alert |\n|---|---|---|---|---|---|\n");
    for s in d.slos.values() {
        let _ = writeln!(
            md,
            "| {} | {:.2}% | {:.2}% | {:.1}% | {:.1}% | {} |",
            s.series,
            s.objective * 100.0,
            s.ratio.unwrap_or(0.0) * 100.0,
            s.budget_remaining * 100.0,
            5.0,
            s.alert.as_str()
        );
    }
    md.push_str("\n## Controls in force\n\n| Control | Agent | Kind | Set by | Reason |\n|---|---|---|---|---|\n");
    for c in d.controls.values() {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} |",
            c.id,
            c.agent,
            c.kind.as_str(),
            c.set_by,
            c.reason
        );
    }
    md
}

fn operator() -> Operator {
    Operator {
        name: LEAD_NAME.into(),
        role: Role::Lead,
    }
}

/// An app holding `snapshot` (the JSON of a `snapshot` event), decoded by
/// the feed's own parser as if it had come over the stream.
fn app_with(now: DateTime<Utc>, snapshot: String) -> App {
    let msg = feed::parse_event("snapshot", "100000", &snapshot)
        .expect("the generated state decodes as a snapshot event");
    drop(snapshot);
    let mut app = App::new(Keymap::default_keymap(), Some(operator()), false);
    app.bell = false;
    app.apply_feed(FeedMsg::Connected);
    app.apply_feed(msg);
    app.now = now;
    // What `tui::run` fetches once from the hub: its runbooks, and the
    // handoff summary when the Handoff screen opens.
    app.panes.runbook.runbooks = runbooks()
        .into_iter()
        .map(|r| (r.name.clone(), r))
        .collect();
    app.panes.handoff.summary = Some(Ok(handoff_markdown(&app)));
    app
}

// ---- (a) timing ----------------------------------------------------------------

#[derive(Debug, Clone, Copy)]
struct Timing {
    n: usize,
    mean_ms: f64,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
}

fn timing(mut samples: Vec<Duration>) -> Timing {
    samples.sort_unstable();
    let n = samples.len().max(1);
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let pick = |q: f64| ms(samples[((n as f64 * q).ceil() as usize).clamp(1, n) - 1]);
    Timing {
        n: samples.len(),
        mean_ms: samples.iter().map(|d| ms(*d)).sum::<f64>() / n as f64,
        p50_ms: pick(0.50),
        p99_ms: pick(0.99),
        max_ms: samples.last().map_or(0.0, |d| ms(*d)),
    }
}

/// CPU time of the calling thread: unlike the wall clock it does not count
/// time the thread waited for a core, so it shows what a frame costs on a
/// machine busy with other work.
#[cfg(target_os = "linux")]
fn thread_cpu() -> Option<Duration> {
    #[repr(C)]
    struct Timespec {
        tv_sec: i64,
        tv_nsec: i64,
    }
    const CLOCK_THREAD_CPUTIME_ID: i32 = 3;
    unsafe extern "C" {
        fn clock_gettime(clock: i32, tp: *mut Timespec) -> i32;
    }
    let mut t = Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `t` is a valid, writable timespec (two 64-bit fields on the
    // 64-bit Linux targets this benchmark runs on) for the whole call.
    let rc = unsafe { clock_gettime(CLOCK_THREAD_CPUTIME_ID, &mut t) };
    (rc == 0 && std::mem::size_of::<usize>() == 8)
        .then(|| Duration::new(t.tv_sec as u64, t.tv_nsec as u32))
}

#[cfg(not(target_os = "linux"))]
fn thread_cpu() -> Option<Duration> {
    None
}

fn buffer_text(buffer: &Buffer) -> Vec<String> {
    let area = buffer.area;
    (area.top()..area.bottom())
        .map(|y| {
            (area.left()..area.right())
                .map(|x| buffer[(x, y)].symbol())
                .collect()
        })
        .collect()
}

/// Frames of one screen: a few unmeasured, then at least `min` and at most
/// `max` measured, for about `budget`.
fn time_screen(
    app: &mut App,
    theme: &Theme,
    s: Screen,
    min: usize,
    max: usize,
    budget: Duration,
) -> (Timing, Option<Timing>, Vec<String>) {
    let mut terminal = Terminal::new(TestBackend::new(WIDTH, HEIGHT)).expect("test terminal");
    app.screen = s;
    let t0 = app.now;
    let t1 = t0 + secs(1);
    for i in 0..5usize {
        app.now = if i.is_multiple_of(2) { t1 } else { t0 };
        terminal.draw(|f| render(app, theme, f)).expect("draw");
    }
    let mut samples = Vec::with_capacity(max);
    let mut cpu = Vec::with_capacity(max);
    let start = Instant::now();
    let mut i = 0usize;
    while samples.len() < min || (samples.len() < max && start.elapsed() < budget) {
        app.now = if i.is_multiple_of(2) { t1 } else { t0 };
        i += 1;
        let c = thread_cpu();
        let t = Instant::now();
        terminal.draw(|f| render(app, theme, f)).expect("draw");
        samples.push(t.elapsed());
        if let (Some(a), Some(b)) = (c, thread_cpu()) {
            cpu.push(b.saturating_sub(a));
        }
    }
    app.now = t0;
    let text = buffer_text(terminal.backend().buffer());
    let cpu = (cpu.len() == samples.len()).then(|| timing(cpu));
    (timing(samples), cpu, text)
}

/// Checks a rendered screen shows the data (so the timing is of a full
/// screen, not of an empty one).
fn check_screen(s: Screen, text: &[String], incidents: usize, approvals: usize) {
    let all = text.join("\n");
    let want: Vec<String> = match s {
        Screen::Overview => vec!["SLOs, worst first".into(), "refund-bot/refund".into()],
        Screen::Incidents => vec!["INC-1000".into(), "timeline".into()],
        Screen::Approvals => vec!["APR-".into(), "arguments".into()],
        Screen::Controls => vec!["CTL-1".into()],
        Screen::Agents => vec!["refund-bot".into()],
        Screen::Runbook => vec!["owner agent-platform-oncall".into(), "Step 1".into()],
        Screen::Handoff => vec!["Shift handoff".into(), "Still open".into()],
        Screen::History | Screen::Audit => Vec::new(),
    };
    for w in want.iter().chain([
        &format!("Incidents·{incidents}"),
        &format!("Approvals·{approvals}"),
    ]) {
        assert!(
            all.contains(w.as_str()),
            "{s:?} does not show {w:?}:\n{all}"
        );
    }
}

struct RenderRun {
    label: String,
    /// Wall-clock and thread CPU time per screen.
    rows: Vec<(Screen, Timing, Option<Timing>)>,
    /// The same while paging down through each list: page down before
    /// every frame; the key's own handling is the last column.
    scroll: Vec<(Screen, Timing, Option<Timing>, Timing)>,
    /// The same with one delta of the listed kind before every frame, so
    /// every frame sorts its list again.
    churn: Vec<(Screen, Timing, Option<Timing>)>,
    parts: Vec<(String, Timing)>,
}

/// The list screens, whose frames scroll and re-sort.
const LIST_SCREENS: [Screen; 5] = [
    Screen::Overview,
    Screen::Incidents,
    Screen::Approvals,
    Screen::Controls,
    Screen::Agents,
];

/// Frames while paging down through a list: `PageDown` (10 rows) before
/// every frame, `Top` once the bottom is reached, so 10,000 approvals take
/// 1,000 frames to go through. Returns the frame times (wall, CPU), the
/// key handling times, and how many different rows were selected (so a
/// list that did not move is never what gets timed).
fn scroll_screen(
    app: &mut App,
    theme: &Theme,
    s: Screen,
    frames: usize,
) -> (Timing, Option<Timing>, Timing, usize) {
    let mut terminal = Terminal::new(TestBackend::new(WIDTH, HEIGHT)).expect("test terminal");
    app.screen = s;
    app.act(Action::Top);
    terminal.draw(|f| render(app, theme, f)).expect("draw");
    let mut samples = Vec::with_capacity(frames);
    let mut cpu = Vec::with_capacity(frames);
    let mut keys = Vec::with_capacity(frames);
    let mut seen = std::collections::HashSet::new();
    for _ in 0..frames {
        let before = app.selected(s);
        let t = Instant::now();
        app.act(Action::PageDown);
        if app.selected(s) == before {
            app.act(Action::Top);
        }
        keys.push(t.elapsed());
        seen.insert(app.selected(s));
        let c = thread_cpu();
        let t = Instant::now();
        terminal.draw(|f| render(app, theme, f)).expect("draw");
        samples.push(t.elapsed());
        if let (Some(a), Some(b)) = (c, thread_cpu()) {
            cpu.push(b.saturating_sub(a));
        }
        // The selected row is on screen, marked (an SLO row shows its
        // agent/workflow, not the series id).
        if let Some(id) = app.selected(s) {
            let text = buffer_text(terminal.backend().buffer());
            let shown = match app.data.slos.get(&id) {
                Some(slo) if s == Screen::Overview => format!("{}/{}", slo.agent, slo.workflow),
                _ => id.clone(),
            };
            let short: String = shown.chars().take(7).collect();
            assert!(
                text.iter().any(|l| l.contains('▶') && l.contains(&short)),
                "{s:?}: the selected {id} is not on screen:\n{}",
                text.join("\n")
            );
        }
    }
    app.act(Action::Top);
    let cpu = (cpu.len() == samples.len()).then(|| timing(cpu));
    (timing(samples), cpu, timing(keys), seen.len())
}

/// One delta of the kind `s` lists, as the feed delivers it: an existing
/// row (the `k`-th, cycling) sent again with a field changed.
fn churn_delta(app: &App, s: Screen, k: usize) -> Option<Delta> {
    let d = &app.data;
    let nth = |n: usize| k % n.max(1);
    Some(match s {
        Screen::Overview => {
            let mut x = d.slos.values().nth(nth(d.slos.len()))?.clone();
            x.budget_remaining = (x.budget_remaining + 0.013).fract();
            Delta::Slo(Box::new(x))
        }
        // An incident changes the per-agent counts as well as the list.
        Screen::Incidents | Screen::Agents => {
            let mut x = d.incidents.values().nth(nth(d.incidents.len()))?.clone();
            x.updated_at += secs(1);
            Delta::Incident(Box::new(x))
        }
        Screen::Approvals => {
            let mut x = d.approvals.values().nth(nth(d.approvals.len()))?.clone();
            x.deadline += secs(1);
            Delta::Approval(Box::new(x))
        }
        Screen::Controls => {
            let mut x = d.controls.values().nth(nth(d.controls.len()))?.clone();
            x.set_at += secs(1);
            Delta::Control(Box::new(x))
        }
        Screen::Runbook | Screen::Handoff | Screen::History | Screen::Audit => return None,
    })
}

/// Frames each drawn after one delta of the kind the screen lists: the
/// worst a flood can do to a frame, since the loop draws at most 20 frames
/// a second and each sorts at most once whatever arrived before it.
fn churn_screen(
    app: &mut App,
    theme: &Theme,
    s: Screen,
    frames: usize,
) -> (Timing, Option<Timing>) {
    let mut terminal = Terminal::new(TestBackend::new(WIDTH, HEIGHT)).expect("test terminal");
    app.screen = s;
    terminal.draw(|f| render(app, theme, f)).expect("draw");
    let mut samples = Vec::with_capacity(frames);
    let mut cpu = Vec::with_capacity(frames);
    for k in 0..frames {
        // A stride through the rows, so the delta is not always the first.
        if let Some(delta) = churn_delta(app, s, k * 7919) {
            let seq = app.data.seq + 1;
            app.apply_feed(FeedMsg::Delta(seq, delta));
        }
        let c = thread_cpu();
        let t = Instant::now();
        terminal.draw(|f| render(app, theme, f)).expect("draw");
        samples.push(t.elapsed());
        if let (Some(a), Some(b)) = (c, thread_cpu()) {
            cpu.push(b.saturating_sub(a));
        }
    }
    let cpu = (cpu.len() == samples.len()).then(|| timing(cpu));
    (timing(samples), cpu)
}

fn render_bench(
    label: &str,
    open_incidents: usize,
    pending: usize,
    min: usize,
    max: usize,
    budget: Duration,
) -> RenderRun {
    let now = Utc::now();
    let build = Instant::now();
    let mut app = app_with(now, state(now, 50, open_incidents, pending));
    eprintln!(
        "  {label}: state built in {:.0} ms",
        build.elapsed().as_secs_f64() * 1e3
    );
    let theme = Theme::dark();
    let mut rows = Vec::new();
    let wanted = std::env::var("AGENTDECK_BENCH_TUI_SCREENS").unwrap_or_default();
    // History and Audit list what the hub pages in (at most 2,000 rows),
    // not the feed's state: nothing of this state to draw there.
    let screens = Screen::ALL
        .into_iter()
        .filter(|s| !matches!(s, Screen::History | Screen::Audit));
    for s in screens {
        if !wanted.is_empty()
            && !wanted
                .split(',')
                .any(|w| w.trim().eq_ignore_ascii_case(s.title()))
        {
            continue;
        }
        let (t, cpu, text) = time_screen(&mut app, &theme, s, min, max, budget);
        check_screen(s, &text, open_incidents, pending);
        eprintln!(
            "  {label}: {:<9} mean {:>8.3} ms  p99 {:>8.3} ms  ({} frames)",
            s.title(),
            t.mean_ms,
            t.p99_ms,
            t.n
        );
        rows.push((s, t, cpu));
    }
    // Paging down through each list, then one delta before each frame.
    let mut scroll = Vec::new();
    let mut churn = Vec::new();
    for s in LIST_SCREENS {
        if !wanted.is_empty()
            && !wanted
                .split(',')
                .any(|w| w.trim().eq_ignore_ascii_case(s.title()))
        {
            continue;
        }
        // Enough pages to go through the longest list once.
        let frames = (app.rows(s).len() / 10 + 1).clamp(min.min(200), max.min(1_200));
        let (t, cpu, keys, rows) = scroll_screen(&mut app, &theme, s, frames);
        eprintln!(
            "  {label}: {:<9} paging: mean {:>8.3} ms  p99 {:>8.3} ms  ({} frames, {rows} rows selected)",
            s.title(),
            t.mean_ms,
            t.p99_ms,
            t.n
        );
        scroll.push((s, t, cpu, keys));
        let (t, cpu) = churn_screen(&mut app, &theme, s, min.min(300));
        eprintln!(
            "  {label}: {:<9} delta before each frame: mean {:>8.3} ms  p99 {:>8.3} ms  ({} frames)",
            s.title(),
            t.mean_ms,
            t.p99_ms,
            t.n
        );
        churn.push((s, t, cpu));
    }
    // Parts of a frame that src/tui exposes, timed on their own.
    let mut parts = Vec::new();
    let n = (min / 2).max(20);
    let mut part = |name: &str, f: &mut dyn FnMut()| {
        let samples: Vec<Duration> = (0..n)
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed()
            })
            .collect();
        parts.push((name.to_string(), timing(samples)));
    };
    part("screen::approval_rows (filter + sort)", &mut || {
        std::hint::black_box(screen::approval_rows(&app.data, "", screen::Sort::Urgency).len());
    });
    part(
        "App::selected(Approvals) (cached rows, binary search, one id cloned)",
        &mut || {
            std::hint::black_box(app.selected(Screen::Approvals));
        },
    );
    part("screen::incident_rows (filter + sort)", &mut || {
        std::hint::black_box(screen::incident_rows(&app.data, "", screen::Sort::Urgency).len());
    });
    part(
        "App::selected(Incidents) (cached rows, binary search, one id cloned)",
        &mut || {
            std::hint::black_box(app.selected(Screen::Incidents));
        },
    );
    part("serde_json::to_value(risk) × every approval", &mut || {
        for a in app.data.approvals.values() {
            std::hint::black_box(serde_json::to_value(a.risk).ok());
        }
    });
    part(
        "AgentLoads::count (incidents, approvals, controls per agent)",
        &mut || {
            std::hint::black_box(screen::AgentLoads::count(&app.data));
        },
    );
    if let Some(Ok(md)) = &app.panes.handoff.summary {
        let lines = agentdeck::tui::markdown::lines(md, &theme).len();
        part(
            &format!(
                "tui::markdown::lines of the handoff summary ({} KB, {lines} lines)",
                md.len() / 1024
            ),
            &mut || {
                std::hint::black_box(agentdeck::tui::markdown::lines(md, &theme).len());
            },
        );
    }
    RenderRun {
        label: label.to_string(),
        rows,
        scroll,
        churn,
        parts,
    }
}

// ---- (b) the counting writer -------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Esc {
    Ground,
    Escape,
    Csi,
}

/// What the writer saw. Bytes are attributed to the screen cell the cursor
/// is at, by following the `CSI row;col H` moves the crossterm backend
/// emits. Escape sequences after a frame's last printed character (the
/// attribute reset ratatui's crossterm backend ends every draw with, and
/// the cursor hide) are counted apart, as per-frame overhead.
struct Tally {
    total: u64,
    /// Bytes inside escape sequences.
    control: u64,
    /// Bytes of per-frame trailers.
    overhead: u64,
    since_flush: u64,
    content_since_flush: u64,
    /// (when, bytes, printable bytes) per frame.
    flushes: Vec<(Instant, u64, u64)>,
    /// Bytes per cell, row-major.
    cells: Vec<u64>,
    /// Escape sequences since the last printed byte: (cell, bytes).
    trailer: Vec<(usize, u64)>,
    row: usize,
    col: usize,
    /// The last character printed occupies `col`; the next one moves on.
    advance: bool,
    state: Esc,
    seq: Vec<u8>,
}

impl Tally {
    fn new() -> Self {
        Self {
            total: 0,
            control: 0,
            overhead: 0,
            since_flush: 0,
            content_since_flush: 0,
            flushes: Vec::new(),
            cells: vec![0; WIDTH as usize * HEIGHT as usize],
            trailer: Vec::new(),
            row: 0,
            col: 0,
            advance: false,
            state: Esc::Ground,
            seq: Vec::new(),
        }
    }

    fn cell(&self) -> usize {
        self.row.min(HEIGHT as usize - 1) * WIDTH as usize + self.col.min(WIDTH as usize - 1)
    }

    fn feed(&mut self, buf: &[u8]) {
        self.total += buf.len() as u64;
        self.since_flush += buf.len() as u64;
        for &b in buf {
            match self.state {
                Esc::Ground => {
                    if b == 0x1b {
                        self.state = Esc::Escape;
                        self.seq.clear();
                        self.seq.push(b);
                    } else {
                        // A character's first byte (not a UTF-8
                        // continuation byte) moves past the one before.
                        if b & 0xC0 != 0x80 && std::mem::replace(&mut self.advance, true) {
                            self.col += 1;
                        }
                        self.content_since_flush += 1;
                        self.trailer.clear();
                        let i = self.cell();
                        self.cells[i] += 1;
                    }
                }
                Esc::Escape => {
                    self.seq.push(b);
                    if b == b'[' {
                        self.state = Esc::Csi;
                    } else {
                        self.end_seq();
                    }
                }
                Esc::Csi => {
                    self.seq.push(b);
                    if (0x40..=0x7e).contains(&b) {
                        if b == b'H' {
                            let params = String::from_utf8_lossy(&self.seq[2..self.seq.len() - 1])
                                .into_owned();
                            let mut it = params.split(';').map(|p| p.parse::<usize>().unwrap_or(1));
                            self.row = it.next().unwrap_or(1).saturating_sub(1);
                            self.col = it.next().unwrap_or(1).saturating_sub(1);
                            self.advance = false;
                        }
                        self.end_seq();
                    }
                }
            }
        }
    }

    fn end_seq(&mut self) {
        let n = self.seq.len() as u64;
        self.control += n;
        let i = self.cell();
        self.cells[i] += n;
        self.trailer.push((i, n));
        self.state = Esc::Ground;
    }

    /// A draw flushes twice (crossterm's `execute!` of the cursor hide,
    /// then ratatui's own flush, which has nothing left to send): only
    /// flushes that carry bytes count as frames.
    fn flushed(&mut self) {
        if self.since_flush == 0 {
            return;
        }
        for (i, n) in std::mem::take(&mut self.trailer) {
            self.cells[i] -= n;
            self.overhead += n;
        }
        self.flushes
            .push((Instant::now(), self.since_flush, self.content_since_flush));
        self.since_flush = 0;
        self.content_since_flush = 0;
    }
}

#[derive(Clone)]
struct Meter(Arc<Mutex<Tally>>);

impl Meter {
    fn new() -> Self {
        Self(Arc::new(Mutex::new(Tally::new())))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Tally> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn mark(&self) -> Mark {
        let t = self.lock();
        Mark {
            at: Instant::now(),
            total: t.total,
            control: t.control,
            overhead: t.overhead,
            cells: t.cells.clone(),
        }
    }
}

struct Mark {
    at: Instant,
    total: u64,
    control: u64,
    overhead: u64,
    cells: Vec<u64>,
}

/// Counts and discards.
struct CountingWriter(Meter);

impl io::Write for CountingWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().feed(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.lock().flushed();
        Ok(())
    }
}

fn feed_kind(m: &FeedMsg) -> &'static str {
    match m {
        FeedMsg::Connecting { .. } => "connecting",
        FeedMsg::Connected => "connected",
        FeedMsg::Reconnecting { .. } => "reconnecting",
        FeedMsg::Refused(_) => "refused",
        FeedMsg::Snapshot(_) => "snapshot",
        FeedMsg::Alive => "alive",
        FeedMsg::ReplayClock(_) => "replay clock",
        FeedMsg::Delta(_, d) => match d {
            Delta::Slo(_) => "slo",
            Delta::Incident(_) => "incident",
            Delta::Approval(_) => "approval",
            Delta::Control(_) => "control",
            Delta::Agent(_) => "agent",
            Delta::Audit(_) => "audit",
            Delta::Presence(_) => "presence",
        },
    }
}

/// What one loop run measured, over its window.
struct LoopRun {
    label: String,
    window_s: f64,
    bytes: u64,
    control: u64,
    /// Bytes of the per-frame trailer (attribute reset, cursor hide).
    overhead: u64,
    /// Bytes that drew the header's clock (`HH:MM:SSZ`, right-aligned).
    clock: u64,
    frames: usize,
    content_frames: usize,
    frame_bytes: Vec<u64>,
    per_second: Vec<u64>,
    first_paint: u64,
    feed: BTreeMap<&'static str, u64>,
    /// Bytes per row over the window.
    rows: Vec<u64>,
    /// Bytes per column over the window, for the given rows.
    cols: Vec<u64>,
    text: Vec<String>,
}

impl LoopRun {
    fn bps(&self) -> f64 {
        self.bytes as f64 / self.window_s
    }

    fn fps(&self) -> f64 {
        self.frames as f64 / self.window_s
    }
}

/// Runs the real loop against `hub` for `warmup + window` with the app on
/// `s`, and measures the window.
async fn run_loop(
    label: &str,
    hub: &str,
    s: Screen,
    warmup: Duration,
    window: Duration,
    body_rows: std::ops::RangeInclusive<usize>,
) -> LoopRun {
    let meter = Meter::new();
    let backend = CrosstermBackend::new(CountingWriter(meter.clone()));
    let mut terminal = Terminal::with_options(
        backend,
        TerminalOptions {
            viewport: Viewport::Fixed(Rect::new(0, 0, WIDTH, HEIGHT)),
        },
    )
    .expect("terminal");

    // Channels as `tui::run::run` builds them, with a counting relay
    // between the feed and the loop.
    let (relay_tx, mut relay_rx) = mpsc::channel::<FeedMsg>(1024);
    let (feed_tx, feed_rx) = mpsc::channel::<FeedMsg>(1024);
    let (req_tx, _req_rx) = mpsc::channel::<actions::Request>(256);
    let (_out_tx, out_rx) = mpsc::channel::<(u64, actions::Outcome)>(256);
    let (_who_tx, who_rx) = mpsc::channel::<Operator>(1);
    let (fetch_tx, fetch_rx) = mpsc::channel::<Fetched>(8);
    let cancelled: actions::Cancelled = Arc::new(Mutex::new(Default::default()));
    let client = agentdeck::client::http_client().expect("http client");
    let hub_client = agentdeck::client::hub::Hub::new(client, hub, LEAD_TOKEN);
    let feed_log: Arc<Mutex<Vec<(Instant, &'static str)>>> = Arc::default();
    // `feed::run` notices the loop has gone only when it next has an event
    // to hand over (heartbeats go through `try_send`), so it is aborted
    // below: its SSE connection would otherwise hold up the hub's graceful
    // shutdown.
    let feed_task = tokio::spawn(feed::run(hub.to_string(), LEAD_TOKEN.to_string(), relay_tx));
    let relay_task = {
        let log = feed_log.clone();
        tokio::spawn(async move {
            while let Some(m) = relay_rx.recv().await {
                log.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push((Instant::now(), feed_kind(&m)));
                if feed_tx.send(m).await.is_err() {
                    return;
                }
            }
        })
    };

    let mut app = App::new(Keymap::default_keymap(), Some(operator()), false);
    app.bell = false;
    app.screen = s;
    let theme = Theme::dark();

    let start = Instant::now();
    let (mark_tx, mark_rx) = oneshot::channel::<Mark>();
    {
        let meter = meter.clone();
        tokio::spawn(async move {
            tokio::time::sleep(warmup).await;
            let _ = mark_tx.send(meter.mark());
        });
    }
    let mut wiring = agentdeck::tui::run::Wiring {
        feed_rx,
        out_rx,
        who_rx,
        fetch_rx,
        fetch_tx,
        req_tx,
        cancelled,
        hub: Some(hub_client),
    };
    agentdeck::tui::run::event_loop(
        &mut terminal,
        futures_util::stream::pending::<io::Result<crossterm::event::Event>>(),
        tokio::time::sleep(warmup + window),
        &mut app,
        &theme,
        &mut wiring,
    )
    .await
    .expect("event loop");
    let end = meter.mark();
    feed_task.abort();
    relay_task.abort();
    let begin = mark_rx.await.expect("window start");
    let window_s = end.at.duration_since(begin.at).as_secs_f64();

    let tally = meter.lock();
    let first_paint = tally
        .flushes
        .iter()
        .filter(|f| f.0 <= begin.at)
        .map(|f| f.1)
        .max()
        .unwrap_or(0);
    let in_window: Vec<(Instant, u64, u64)> = tally
        .flushes
        .iter()
        .copied()
        .filter(|f| f.0 > begin.at && f.0 <= end.at)
        .collect();
    let mut per_second = vec![0u64; window_s.ceil().max(1.0) as usize];
    for f in &in_window {
        let i = (f.0.duration_since(begin.at).as_secs_f64() as usize).min(per_second.len() - 1);
        per_second[i] += f.1;
    }
    let cells: Vec<u64> = end
        .cells
        .iter()
        .zip(&begin.cells)
        .map(|(a, b)| a.saturating_sub(*b))
        .collect();
    let rows: Vec<u64> = cells
        .chunks(WIDTH as usize)
        .map(|r| r.iter().sum())
        .collect();
    let mut cols = vec![0u64; WIDTH as usize];
    for r in body_rows {
        for (c, v) in cells[r * WIDTH as usize..(r + 1) * WIDTH as usize]
            .iter()
            .enumerate()
        {
            cols[c] += v;
        }
    }
    let mut feed = BTreeMap::new();
    for (at, kind) in feed_log
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
    {
        if *at > begin.at && *at <= end.at {
            *feed.entry(*kind).or_insert(0) += 1;
        }
    }
    // What the screen showed, for reading the heat map.
    let mut shot = Terminal::new(TestBackend::new(WIDTH, HEIGHT)).expect("test terminal");
    shot.draw(|f| render(&app, &theme, f)).expect("draw");
    let text = buffer_text(shot.backend().buffer());
    eprintln!(
        "  {label}: {:.0} B/s, {} frames in {window_s:.1} s (window opened {:.1} s after start)",
        (end.total - begin.total) as f64 / window_s,
        in_window.len(),
        begin.at.duration_since(start).as_secs_f64()
    );
    LoopRun {
        label: label.to_string(),
        window_s,
        bytes: end.total - begin.total,
        control: end.control - begin.control,
        overhead: end.overhead - begin.overhead,
        clock: cells[WIDTH as usize - 10..WIDTH as usize].iter().sum(),
        frames: in_window.len(),
        content_frames: in_window.iter().filter(|f| f.2 > 0).count(),
        frame_bytes: in_window.iter().map(|f| f.1).collect(),
        per_second,
        first_paint,
        feed,
        rows,
        cols,
        text,
    }
}

// ---- (b) the hub ------------------------------------------------------------------

struct Hub {
    hub: RunningHub,
    _dir: tempfile::TempDir,
    http: reqwest::Client,
}

impl Hub {
    async fn start() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut tokens = TokenStore::default();
        tokens
            .add_token(AGENT_TOKEN, "fleet", Role::Agent)
            .expect("agent token");
        tokens
            .add_token(LEAD_TOKEN, LEAD_NAME, Role::Lead)
            .expect("lead token");
        let hub = agentdeck::hub::start(HubConfig {
            listen: "127.0.0.1:0".parse().expect("address"),
            db: dir.path().join("hub.db"),
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
            .timeout(Duration::from_secs(60))
            .build()
            .expect("http client");
        Self {
            hub,
            _dir: dir,
            http,
        }
    }

    fn url(&self) -> String {
        self.hub.url()
    }

    async fn post_events(&self, body: String) {
        let r = self
            .http
            .post(format!("{}/v1/events", self.url()))
            .bearer_auth(AGENT_TOKEN)
            .header("content-type", "application/x-ndjson")
            .body(body)
            .send()
            .await
            .expect("POST /v1/events");
        let status = r.status().as_u16();
        let answer: serde_json::Value = r.json().await.unwrap_or_default();
        assert!(
            status == 200 && answer["rejected"].as_array().is_none_or(|a| a.is_empty()),
            "seeding refused ({status}): {answer}"
        );
    }

    /// A static state: runs stamped two to three hours ago (so no window
    /// shorter than 6 h moves while we watch), approvals due in two hours,
    /// three incidents reported by agents.
    async fn seed_static(&self) {
        let now = Utc::now();
        let ts = |t: DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Millis, true);
        let mut rng = Rng(42);
        let mut body = String::new();
        for n in 0..3_000 {
            let a = n % AGENTS.len();
            let at = now - secs(7_200 + rng.below(3_600) as i64);
            let outcome = match rng.below(100) {
                0..=95 => "success",
                96..=97 => "escalated",
                _ => "failed",
            };
            let _ = writeln!(
                body,
                r#"{{"v":1,"type":"run.finished","ts":"{}","agent":"{}","id":"seed-{n}","run_id":"run-seed-{n}","workflow":"{}","outcome":"{outcome}","latency_ms":{},"cost_usd":{:.4},"tool_calls":[{{"tool":"{}","status":"ok","latency_ms":{}}}],"versions":{{"model":"{}","prompt":"v{}"}}}}"#,
                ts(at),
                AGENTS[a],
                WORKFLOWS[a % WORKFLOWS.len()],
                400 + rng.below(4_000),
                rng.range(0.002, 0.05),
                TOOLS[a % TOOLS.len()],
                20 + rng.below(500),
                MODELS[a % MODELS.len()],
                7 + a,
            );
        }
        for n in 0..5 {
            let _ = writeln!(
                body,
                r#"{{"v":1,"type":"approval.requested","ts":"{}","agent":"{}","request_id":"rq-seed-{n}","workflow":"{}","action":"issue_refund","tool":"issue_refund","risk":"high","deadline":"{}","args":{{"order_id":"A-{}","amount_usd":420,"currency":"USD"}}}}"#,
                ts(now),
                AGENTS[n],
                WORKFLOWS[n % WORKFLOWS.len()],
                ts(now + secs(7_200)),
                1_000 + n,
            );
        }
        for agent in &AGENTS[..3] {
            let _ = writeln!(
                body,
                r#"{{"v":1,"type":"incident.reported","ts":"{}","agent":"{agent}","title":"Told a customer a refund was issued when issue_refund had failed","severity":"SEV3","category":"hallucination_customer_impact"}}"#,
                ts(now),
            );
        }
        self.post_events(body).await;
        // Let a few hub ticks publish the statuses.
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

async fn stop_hub(hub: Hub) {
    if tokio::time::timeout(Duration::from_secs(10), hub.hub.stop())
        .await
        .is_err()
    {
        eprintln!("  (the hub did not stop within 10 s; left behind)");
    }
}

// ---- main -----------------------------------------------------------------------

fn quantile(v: &[u64], q: f64) -> u64 {
    let mut v = v.to_vec();
    v.sort_unstable();
    if v.is_empty() {
        return 0;
    }
    v[((v.len() as f64 * q).ceil() as usize).clamp(1, v.len()) - 1]
}

/// A line of digits under `header`: where the bytes of the table body land,
/// 0 (none) to 9 (the hottest column).
fn heat_line(cols: &[u64]) -> String {
    let max = cols.iter().copied().max().unwrap_or(0).max(1);
    cols.iter()
        .map(|&c| {
            if c == 0 {
                ' '
            } else {
                char::from(b'0' + ((c * 9).div_ceil(max)).min(9) as u8)
            }
        })
        .collect()
}

/// The wall clock decides. When only its p99 is over and the thread's CPU
/// time per frame is under, the slow frames waited for a core (other
/// processes on the machine), which is marked `met*`.
fn frame_verdict(wall: &Timing, cpu: Option<&Timing>) -> &'static str {
    if wall.p99_ms < TARGET_FRAME_MS {
        "met"
    } else if wall.mean_ms < TARGET_FRAME_MS && cpu.is_some_and(|c| c.p99_ms < TARGET_FRAME_MS) {
        "met*"
    } else {
        "MISSED"
    }
}

fn print_render(r: &RenderRun) {
    println!("\n(a) frame time, {} (200×60, TestBackend)", r.label);
    println!(
        "  {:<10} {:>8} {:>8} {:>8} {:>8} {:>9} {:>9} {:>7} {:>7}  target < {TARGET_FRAME_MS} ms",
        "screen",
        "mean ms",
        "p50 ms",
        "p99 ms",
        "max ms",
        "cpu mean",
        "cpu p99",
        "on-CPU",
        "frames"
    );
    for (s, t, cpu) in &r.rows {
        let (cm, cp, share) = match cpu {
            Some(c) => (
                format!("{:.3}", c.mean_ms),
                format!("{:.3}", c.p99_ms),
                format!("{:.0} %", 100.0 * c.mean_ms / t.mean_ms.max(1e-9)),
            ),
            None => ("-".into(), "-".into(), "-".into()),
        };
        println!(
            "  {:<10} {:>8.3} {:>8.3} {:>8.3} {:>8.3} {cm:>9} {cp:>9} {share:>7} {:>7}  {}",
            s.title(),
            t.mean_ms,
            t.p50_ms,
            t.p99_ms,
            t.max_ms,
            t.n,
            frame_verdict(t, cpu.as_ref())
        );
    }
    let line = |name: &str, t: &Timing, cpu: Option<&Timing>, extra: String| {
        let (cm, cp) = match cpu {
            Some(c) => (format!("{:.3}", c.mean_ms), format!("{:.3}", c.p99_ms)),
            None => ("-".into(), "-".into()),
        };
        println!(
            "  {name:<10} {:>8.3} {:>8.3} {:>8.3} {:>8.3} {cm:>9} {cp:>9} {:>7} {extra:>9}  {}",
            t.mean_ms,
            t.p50_ms,
            t.p99_ms,
            t.max_ms,
            t.n,
            frame_verdict(t, cpu)
        );
    };
    if !r.scroll.is_empty() {
        println!(
            "  paging down through each list (page down before every frame; key = its handling, mean ms):"
        );
        for (s, t, cpu, keys) in &r.scroll {
            line(
                s.title(),
                t,
                cpu.as_ref(),
                format!("key {:.3}", keys.mean_ms),
            );
        }
    }
    if !r.churn.is_empty() {
        println!(
            "  one delta of the listed kind before every frame (the list sorted again in the frame):"
        );
        for (s, t, cpu) in &r.churn {
            line(s.title(), t, cpu.as_ref(), String::new());
        }
    }
    let starred = r
        .rows
        .iter()
        .map(|(_, t, c)| (t, c))
        .chain(r.scroll.iter().map(|(_, t, c, _)| (t, c)))
        .chain(r.churn.iter().map(|(_, t, c)| (t, c)));
    if starred
        .into_iter()
        .any(|(t, c)| frame_verdict(t, c.as_ref()) == "met*")
    {
        println!(
            "  met*: wall-clock p99 over {TARGET_FRAME_MS} ms but CPU-time p99 under: those frames waited for a core"
        );
    }
    println!("  parts (median ms per call):");
    for (name, t) in &r.parts {
        println!("    {:>9.3}  {name}", t.p50_ms);
    }
}

fn print_loop(r: &LoopRun, target: &str, ok: bool, top_rows: usize) {
    println!("\n(b) {}", r.label);
    println!(
        "  {:.0} B/s over {:.1} s: {} bytes ({:.0} % escape sequences), {} frames ({:.1}/s), {} with printable changes",
        r.bps(),
        r.window_s,
        r.bytes,
        100.0 * r.control as f64 / r.bytes.max(1) as f64,
        r.frames,
        r.fps(),
        r.content_frames,
    );
    println!(
        "  bytes per frame: p50 {} · p99 {} · max {}; per second: min {} · max {}",
        quantile(&r.frame_bytes, 0.5),
        quantile(&r.frame_bytes, 0.99),
        r.frame_bytes.iter().max().copied().unwrap_or(0),
        r.per_second.iter().min().copied().unwrap_or(0),
        r.per_second.iter().max().copied().unwrap_or(0),
    );
    println!(
        "  per-frame trailer (attribute reset + cursor hide, written by every draw): {:.0} B/s ({:.0} %); frames without a printable change: {}",
        r.overhead as f64 / r.window_s,
        100.0 * r.overhead as f64 / r.bytes.max(1) as f64,
        r.frames - r.content_frames
    );
    println!(
        "  the header clock: {:.0} B/s; everything else: {:.0} B/s",
        r.clock as f64 / r.window_s,
        (r.bytes - r.overhead - r.clock) as f64 / r.window_s
    );
    println!(
        "  first full paint (before the window): {} bytes",
        r.first_paint
    );
    let feed: Vec<String> = r.feed.iter().map(|(k, v)| format!("{k} {v}")).collect();
    println!("  feed messages in the window: {}", feed.join(", "));
    println!("  target {target}: {}", verdict(ok));
    if top_rows > 0 && r.bytes > 0 {
        let mut rows: Vec<(usize, u64)> = r.rows.iter().copied().enumerate().collect();
        rows.sort_by_key(|r| std::cmp::Reverse(r.1));
        println!("  where the other bytes land (row: B/s, share of all, what the row shows):");
        for (y, b) in rows.iter().take(top_rows).filter(|r| r.1 > 0) {
            println!(
                "    row {y:>2}: {:>7.0} B/s {:>5.1} %  {}",
                *b as f64 / r.window_s,
                100.0 * *b as f64 / r.bytes as f64,
                r.text
                    .get(*y)
                    .map(|l| l.trim_end().chars().take(110).collect::<String>())
                    .unwrap_or_default()
            );
        }
        if r.cols.iter().any(|&c| c > 0) {
            println!("  columns of the table body, hottest 9 (header row, then heat):");
            println!("    {}", r.text.get(3).map(|s| s.as_str()).unwrap_or(""));
            println!("    {}", heat_line(&r.cols));
        }
    }
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".into())
}

async fn idle_run() -> LoopRun {
    let quiet = Hub::start().await;
    quiet.seed_static().await;
    let idle = run_loop(
        "idle, Overview: static hub state, no fleet",
        &quiet.url(),
        Screen::Overview,
        Duration::from_secs(3),
        Duration::from_secs(10),
        4..=56,
    )
    .await;
    stop_hub(quiet).await;
    idle
}

async fn busy_runs(busy_s: u64) -> (Vec<LoopRun>, String) {
    let hub = Hub::start().await;
    let stats = Arc::new(SimStats::default());
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let fleet = tokio::spawn(agentdeck::sim::runner::run(
        SimConfig {
            hub: hub.url(),
            token: AGENT_TOKEN.to_string(),
            scenario: Scenario::Mixed,
            agents: FLEET_AGENTS,
            rate: FLEET_RATE,
            seed: 1,
            duration: None,
            poll: Duration::from_secs(1),
            batch: 1000,
        },
        stats.clone(),
        async {
            let _ = stop_rx.await;
        },
    ));
    // A state to look at before the TUI connects.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let runs_before = stats.runs.load(std::sync::atomic::Ordering::Relaxed);
    let t = Instant::now();
    let mut busy = Vec::new();
    for (s, window) in [
        (Screen::Overview, busy_s),
        (Screen::Incidents, busy_s * 2 / 3),
        (Screen::Approvals, busy_s * 2 / 3),
    ] {
        busy.push(
            run_loop(
                &format!(
                    "busy, {}: mixed fleet at {FLEET_RATE:.0} runs/s, {FLEET_AGENTS} agents",
                    s.title()
                ),
                &hub.url(),
                s,
                Duration::from_secs(3),
                Duration::from_secs(window),
                4..=56,
            )
            .await,
        );
    }
    let runs = stats.runs.load(std::sync::atomic::Ordering::Relaxed) - runs_before;
    let achieved = runs as f64 / t.elapsed().as_secs_f64();
    let _ = stop_tx.send(());
    let report = fleet.await.expect("fleet task").expect("fleet");
    stop_hub(hub).await;
    let line = format!(
        "fleet: {achieved:.0} runs/s while measured (asked {FLEET_RATE:.0}); whole run: {} runs, {} events accepted, {} rejected, {} failed posts",
        report.runs, report.accepted, report.rejected, report.failed_posts
    );
    (busy, line)
}

fn main() {
    let busy_s = env_u64("AGENTDECK_BENCH_TUI_SECS", 15).max(3);
    let only = std::env::var("AGENTDECK_BENCH_TUI_ONLY").unwrap_or_default();
    let (do_small, do_large, do_loop) = match only.as_str() {
        "render" => (true, true, false),
        "render-small" => (true, false, false),
        "render-large" => (false, true, false),
        "loop" => (false, false, true),
        _ => (true, true, true),
    };
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let load_before = load_average();
    eprintln!("tui bench: 200×60, {cores} cores, load {load_before}, busy window {busy_s} s");

    // (a) on this thread, before any runtime exists.
    let mut renders = Vec::new();
    if do_small {
        eprintln!("(a) frame time");
        renders.push(render_bench(
            "50 SLO series, 200 open incidents, 100 pending approvals",
            200,
            100,
            2_000,
            20_000,
            Duration::from_secs(2),
        ));
    }
    if do_large {
        renders.push(render_bench(
            "50 SLO series, 5,000 open incidents, 10,000 pending approvals",
            5_000,
            10_000,
            60,
            2_000,
            Duration::from_secs(3),
        ));
    }

    // (b) the real loop.
    let loops = do_loop.then(|| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("tokio runtime");
        runtime.block_on(async move {
            eprintln!("(b) idle: static hub, no fleet");
            let idle = idle_run().await;
            eprintln!("(b) busy: mixed fleet at {FLEET_RATE} runs/s");
            let (busy, line) = busy_runs(busy_s).await;
            (idle, busy, line)
        })
    });

    println!(
        "\n==== TUI benchmark ({cores} cores, load average {load_before} before / {} after; hub, fleet and TUI in one process) ====",
        load_average()
    );
    for r in &renders {
        print_render(r);
    }
    // Only the clock: at most one frame with a visible change a second,
    // every byte but the per-frame trailer spent on the clock's cells, and
    // a small total.
    let idle_ok = |idle: &LoopRun| {
        idle.bps() <= IDLE_CLOCK_BPS
            && idle.content_frames <= idle.window_s.ceil() as usize + 1
            && idle.bytes == idle.overhead + idle.clock
    };
    if let Some((idle, busy, line)) = &loops {
        print_loop(
            idle,
            &format!(
                "only the clock (≤ 1 frame with changes a second, no byte outside the clock but the per-frame trailer, ≤ {IDLE_CLOCK_BPS:.0} B/s)"
            ),
            idle_ok(idle),
            4,
        );
        println!("\n  {line}");
        for b in busy {
            print_loop(b, "< 20 KB/s", b.bps() < TARGET_BUSY_BPS, 8);
        }
    }

    println!("\n==== summary ====");
    for r in &renders {
        let worst = |f: fn(&Timing) -> f64| {
            r.rows
                .iter()
                .max_by(|a, b| f(&a.1).total_cmp(&f(&b.1)))
                .map(|(s, t, _)| (s.title(), f(t)))
                .unwrap_or(("-", 0.0))
        };
        let (mean_s, mean) = worst(|t| t.mean_ms);
        let (p99_s, p99) = worst(|t| t.p99_ms);
        let by = |v: &str| -> Vec<String> {
            r.rows
                .iter()
                .filter(|(_, t, c)| frame_verdict(t, c.as_ref()) == v)
                .map(|(s, _, _)| s.title().to_string())
                .collect()
        };
        let (mut missed, mut starred) = (by("MISSED"), by("met*"));
        for (kind, t, c, s) in r
            .scroll
            .iter()
            .map(|(s, t, c, _)| ("paging", t, c, s))
            .chain(r.churn.iter().map(|(s, t, c)| ("after a delta", t, c, s)))
        {
            match frame_verdict(t, c.as_ref()) {
                "MISSED" => missed.push(format!("{} {kind}", s.title())),
                "met*" => starred.push(format!("{} {kind}", s.title())),
                _ => {}
            }
        }
        let mut verdict = if missed.is_empty() {
            "met".to_string()
        } else {
            format!("MISSED on {}", missed.join(", "))
        };
        if !starred.is_empty() {
            let _ = write!(
                verdict,
                " (met* on {}: CPU time under, wall p99 over)",
                starred.join(", ")
            );
        }
        println!(
            "frame < {TARGET_FRAME_MS} ms, {}: worst mean {mean:.3} ms ({mean_s}), worst p99 {p99:.3} ms ({p99_s}) — {verdict}",
            r.label,
        );
    }
    if let Some((idle, busy, _)) = &loops {
        println!(
            "idle: {:.0} B/s, {:.1} frames/s, {} frames with printable changes in {:.0} s — {}",
            idle.bps(),
            idle.fps(),
            idle.content_frames,
            idle.window_s,
            verdict(idle_ok(idle))
        );
        for b in busy {
            println!(
                "{}: {:.0} B/s, {:.1} frames/s — {}",
                b.label,
                b.bps(),
                b.fps(),
                verdict(b.bps() < TARGET_BUSY_BPS)
            );
        }
    }
}
