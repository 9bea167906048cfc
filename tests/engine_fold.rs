//! The engine's fold over hand-built streams, checked against values
//! computed by hand.

use agentdeck::engine::spec::parse_specs;
use agentdeck::engine::{DriftSubject, Engine, Limits, Rejected, Signal};
use agentdeck::model::envelope::{
    Change, Component, Envelope, Event, Outcome, PolicyViolation, RunFinished, ToolCall,
    ToolStatus, Versions,
};
use agentdeck::model::slo::AlertLevel;
use chrono::{DateTime, Duration, TimeZone, Utc};

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 21, 0, 0, 0).unwrap()
}

fn at(seconds: i64) -> DateTime<Utc> {
    t0() + Duration::seconds(seconds)
}

fn run(outcome: Outcome) -> RunFinished {
    RunFinished {
        run_id: "r".into(),
        workflow: "refund".into(),
        outcome,
        latency_ms: 1000,
        cost_usd: 0.0,
        tokens: None,
        tool_calls: vec![],
        policy_violations: vec![],
        versions: Versions::default(),
        error: None,
        unpriced_model: None,
    }
}

fn env(ts: DateTime<Utc>, run: RunFinished) -> Envelope {
    Envelope::new(ts, "refund-bot", Event::RunFinished(run))
}

fn engine(toml: &str) -> Engine {
    Engine::new(parse_specs("test.toml", toml).unwrap())
}

const COMPLETION_99: &str = r#"
[[slo]]
name = "completion"
agent = "refund-bot"
workflow = "refund"
sli = "completion"
objective = 0.99
min_events = 20
"#;

/// Ten runs in each minute `from..to`, `bad` of them failed; the clock
/// ticks at the start of each minute, as the hub's does.
fn minutes(e: &mut Engine, from: i64, to: i64, bad: usize) {
    for m in from..to {
        e.tick(at(m * 60));
        for i in 0..10 {
            let outcome = if i < bad {
                Outcome::Failed
            } else {
                Outcome::Success
            };
            e.apply(&env(at(m * 60 + i as i64), run(outcome))).unwrap();
        }
    }
}

fn alerts(e: &mut Engine) -> Vec<(AlertLevel, AlertLevel)> {
    e.drain_signals()
        .into_iter()
        .filter_map(|s| match s {
            Signal::Alert {
                level, previous, ..
            } => Some((previous, level)),
            _ => None,
        })
        .collect()
}

#[test]
fn a_fast_burn_pages_then_steps_down_to_a_ticket() {
    let mut e = engine(COMPLETION_99);
    // Minutes 0–9: 2 of 10 fail, a bad ratio of 0.2 and a burn rate of 20.
    minutes(&mut e, 0, 10, 2);
    e.tick(at(9 * 60 + 30));
    assert_eq!(alerts(&mut e), vec![(AlertLevel::None, AlertLevel::Page)]);
    let s = e
        .status_of("completion/refund-bot/refund", at(9 * 60 + 30))
        .unwrap();
    assert_eq!((s.good, s.total), (80, 100));
    assert_eq!(s.ratio, Some(0.8));
    assert!((s.burn.h1 - 20.0).abs() < 1e-9, "{:?}", s.burn);
    assert!((s.burn.m5 - 20.0).abs() < 1e-9);
    // 20 bad where 1 was allowed: 1 − 20/1 = −19.
    assert!((s.budget_remaining + 19.0).abs() < 1e-9);
    assert_eq!(s.exhaustion_s, Some(0));
    assert_eq!(s.alert, AlertLevel::Page);

    // Minutes 10–19 clean. The 5 m window recovers, but 30 m and 6 h still
    // burn at 20 bad / 200 = 0.1 → 10 > 6: the slow page rule holds it.
    minutes(&mut e, 10, 20, 0);
    e.tick(at(19 * 60 + 30));
    assert_eq!(alerts(&mut e), vec![]);
    let s = e
        .status_of("completion/refund-bot/refund", at(19 * 60 + 30))
        .unwrap();
    assert_eq!(s.burn.m5, 0.0);
    assert!((s.burn.m30 - 10.0).abs() < 1e-9);

    // Minutes 20–40 clean: 30 m is clean, so no page; 1 d and 2 h burn at
    // 20 / 410 / 0.01 = 4.88 > 3: a ticket.
    minutes(&mut e, 20, 41, 0);
    e.tick(at(40 * 60 + 30));
    assert_eq!(alerts(&mut e), vec![(AlertLevel::Page, AlertLevel::Ticket)]);
    let s = e
        .status_of("completion/refund-bot/refund", at(40 * 60 + 30))
        .unwrap();
    assert!((s.burn.d1 - 20.0 / 410.0 / 0.01).abs() < 1e-9);
}

#[test]
fn escalations_are_good_for_completion_and_timeouts_bad_for_latency() {
    let mut e = engine(
        r#"
[[slo]]
name = "completion"
sli = "completion"
objective = 0.9
[[slo]]
name = "latency"
sli = "latency"
threshold_ms = 2000
objective = 0.9
"#,
    );
    let cases = [
        (Outcome::Success, 500),
        (Outcome::Escalated, 500),
        (Outcome::Failed, 500),
        (Outcome::TimedOut, 500),
        (Outcome::Success, 2000),
        (Outcome::Success, 2001),
    ];
    for (i, (outcome, latency_ms)) in cases.into_iter().enumerate() {
        let mut r = run(outcome);
        r.latency_ms = latency_ms;
        e.apply(&env(at(i as i64), r)).unwrap();
    }
    let c = e.status_of("completion/refund-bot/refund", at(60)).unwrap();
    assert_eq!((c.good, c.total), (4, 6)); // success ×3, escalated
    let l = e.status_of("latency/refund-bot/refund", at(60)).unwrap();
    assert_eq!((l.good, l.total), (4, 6)); // all but timed_out and 2001 ms
    assert_eq!(e.series_count(), 2);
}

#[test]
fn cost_and_policy_slis_and_run_statistics() {
    let mut e = engine(
        r#"
[[slo]]
name = "cost"
sli = "cost"
threshold_usd = 0.10
objective = 0.9
[[slo]]
name = "policy"
sli = "policy"
objective = 0.9
"#,
    );
    // 10 runs at $0.05, $0.10, … $0.50; 8 succeed, 1 escalated, 1 failed;
    // run 3 violates a policy; latencies 100 ms … 1000 ms.
    for i in 0..10i64 {
        let outcome = match i {
            8 => Outcome::Escalated,
            9 => Outcome::Failed,
            _ => Outcome::Success,
        };
        let mut r = run(outcome);
        r.cost_usd = 0.05 * (i + 1) as f64;
        r.latency_ms = 100 * (i as u64 + 1);
        if i == 3 {
            r.policy_violations = vec![PolicyViolation {
                policy: "pii".into(),
                detail: None,
            }];
        }
        e.apply(&env(at(i), r)).unwrap();
    }
    let now = at(120);
    let cost = e.status_of("cost/refund-bot/refund", now).unwrap();
    assert_eq!((cost.good, cost.total), (2, 10)); // $0.05 and $0.10
    let policy = e.status_of("policy/refund-bot/refund", now).unwrap();
    assert_eq!((policy.good, policy.total), (9, 10));
    // Total $2.75 over 8 successes.
    let cps = cost.cost_per_success_usd.unwrap();
    assert!((cps - 2.75 / 8.0).abs() < 1e-9, "{cps}");
    assert_eq!(cost.violation_rate, Some(0.1));
    assert_eq!(cost.escalation_rate, Some(0.1));
    assert_eq!(cost.runs_1h, 10);
    // Rank floor(q·(n−1)): p50 → 500 ms, p99 → 900 ms, within 1 %.
    let p50 = cost.latency_p50_ms.unwrap();
    let p99 = cost.latency_p99_ms.unwrap();
    assert!((p50 - 500.0).abs() <= 5.0, "{p50}");
    assert!((p99 - 900.0).abs() <= 9.0, "{p99}");
    // Per-minute sparkline: everything in the first minute of the last 60.
    assert_eq!(cost.total_per_min.len(), 60);
    assert_eq!(cost.total_per_min.iter().sum::<u32>(), 10);
    assert_eq!(cost.bad_per_min.iter().sum::<u32>(), 8);
}

#[test]
fn budget_and_exhaustion_over_the_window() {
    let mut e = engine("[[slo]]\nname = \"c\"\nsli = \"completion\"\nobjective = 0.9\n");
    // 1,000 runs in the last hour, 50 failed: budget allows 100 → 50 % left;
    // 1 h burn 0.05 / 0.1 = 0.5 → 0.5 × 30 d / 0.5 = 30 days.
    for i in 0..1000i64 {
        let outcome = if i % 20 == 0 {
            Outcome::Failed
        } else {
            Outcome::Success
        };
        e.apply(&env(at(i * 3), run(outcome))).unwrap();
    }
    let s = e.status_of("c/refund-bot/refund", at(3000)).unwrap();
    assert!((s.budget_remaining - 0.5).abs() < 1e-9);
    assert!((s.burn.h1 - 0.5).abs() < 1e-9);
    assert_eq!(s.exhaustion_s, Some(30 * 86_400));
}

#[test]
fn the_traffic_floor_keeps_a_quiet_night_quiet() {
    let mut e = engine(COMPLETION_99);
    e.apply(&env(at(0), run(Outcome::Failed))).unwrap();
    e.apply(&env(at(10), run(Outcome::Failed))).unwrap();
    e.apply(&env(at(20), run(Outcome::Success))).unwrap();
    e.tick(at(30));
    assert_eq!(alerts(&mut e), vec![]);
    let s = e.status_of("completion/refund-bot/refund", at(30)).unwrap();
    assert!(s.burn.m5 > 60.0);
    assert_eq!(s.alert, AlertLevel::None);
}

#[test]
fn escalation_drift_against_the_day_before() {
    let mut e = engine("[[slo]]\nname = \"c\"\nsli = \"completion\"\nobjective = 0.9\n");
    // Yesterday (hours −24 … −2): 1,000 runs, 5 % escalated.
    for i in 0..1000i64 {
        let outcome = if i % 20 == 0 {
            Outcome::Escalated
        } else {
            Outcome::Success
        };
        e.apply(&env(at(-24 * 3600 + i * 79), run(outcome)))
            .unwrap();
    }
    // The last half hour: 100 runs, 15 % escalated.
    for i in 0..100i64 {
        let outcome = if i % 20 < 3 {
            Outcome::Escalated
        } else {
            Outcome::Success
        };
        e.apply(&env(at(i * 18), run(outcome))).unwrap();
    }
    e.drain_signals();
    e.tick(at(1800));
    let drift: Vec<_> = e
        .drain_signals()
        .into_iter()
        .filter_map(|s| match s {
            Signal::Drift {
                subject,
                active,
                rate,
                baseline,
                ..
            } => Some((subject, active, rate, baseline)),
            _ => None,
        })
        .collect();
    assert_eq!(drift.len(), 1, "{drift:?}");
    let (subject, active, rate, baseline) = &drift[0];
    assert_eq!(
        subject,
        &DriftSubject::Escalation {
            workflow: "refund".into()
        }
    );
    assert!(active);
    assert!((rate - 0.15).abs() < 1e-9);
    assert!((baseline - 0.05).abs() < 1e-9);
    let s = e.status_of("c/refund-bot/refund", at(1800)).unwrap();
    assert_eq!(s.escalation_baseline, Some(0.05));
}

#[test]
fn tool_error_spike_fires_and_clears() {
    let mut e = engine("[[slo]]\nname = \"c\"\nsli = \"completion\"\nobjective = 0.9\n");
    let with_call = |status| {
        let mut r = run(Outcome::Success);
        r.tool_calls = vec![ToolCall {
            tool: "issue_refund".into(),
            status,
            latency_ms: None,
            error: None,
        }];
        r
    };
    for i in 0..40i64 {
        let status = if i % 2 == 0 {
            ToolStatus::Error
        } else {
            ToolStatus::Ok
        };
        e.apply(&env(at(i * 10), with_call(status))).unwrap();
    }
    e.drain_signals();
    e.tick(at(400));
    let spikes = |e: &mut Engine| -> Vec<bool> {
        e.drain_signals()
            .into_iter()
            .filter_map(|s| match s {
                Signal::Drift {
                    subject: DriftSubject::ToolErrors { tool },
                    active,
                    ..
                } if tool == "issue_refund" => Some(active),
                _ => None,
            })
            .collect()
    };
    assert_eq!(spikes(&mut e), vec![true]);
    // 15 minutes later the window holds only healthy calls.
    e.tick(at(1000));
    for i in 0..40i64 {
        e.apply(&env(at(1000 + i * 5), with_call(ToolStatus::Ok)))
            .unwrap();
    }
    e.tick(at(1300));
    assert_eq!(spikes(&mut e), vec![false]);
}

#[test]
fn version_markers_from_runs_and_change_events() {
    let mut e = engine("[[slo]]\nname = \"c\"\nsli = \"completion\"\nobjective = 0.9\n");
    let versioned = |prompt: &str| {
        let mut r = run(Outcome::Success);
        r.versions.prompt = Some(prompt.into());
        r
    };
    e.apply(&env(at(0), versioned("v7"))).unwrap();
    e.apply(&env(at(10), versioned("v7"))).unwrap();
    e.apply(&env(at(20), versioned("v8"))).unwrap();
    e.apply(&Envelope::new(
        at(30),
        "refund-bot",
        Event::Change(Change {
            component: Component::Model,
            version: "gpt-4o-2024-11-20".into(),
            previous: Some("gpt-4o-2024-08-06".into()),
            deployed_by: "ci-pipeline".into(),
            approved_by: Some("dana".into()),
            note: None,
        }),
    ))
    .unwrap();
    let markers = e.markers("refund-bot");
    assert_eq!(markers.len(), 2, "the first version seen is no change");
    assert_eq!(markers[0].from.as_deref(), Some("v7"));
    assert_eq!(markers[0].to, "v8");
    assert_eq!(markers[0].at, at(20));
    assert_eq!(markers[1].approved_by.as_deref(), Some("dana"));
    let s = e.status_of("c/refund-bot/refund", at(60)).unwrap();
    assert_eq!(s.markers.len(), 2);
    // A day later the markers are off the gauge but kept on the agent.
    let s = e.status_of("c/refund-bot/refund", at(2 * 86_400)).unwrap();
    assert!(s.markers.is_empty());
}

#[test]
fn memory_is_bounded_by_limits_not_by_senders() {
    let mut e = Engine::with_limits(
        parse_specs(
            "t",
            "[[slo]]\nname = \"c\"\nsli = \"completion\"\nobjective = 0.9\n",
        )
        .unwrap(),
        Limits {
            agents: 2,
            workflows_per_agent: 2,
            tools_per_agent: 2,
            markers_per_agent: 2,
        },
    );
    for wf in ["a", "b"] {
        let mut r = run(Outcome::Success);
        r.workflow = wf.into();
        e.apply(&env(at(0), r)).unwrap();
    }
    let mut r = run(Outcome::Success);
    r.workflow = "c".into();
    assert_eq!(
        e.apply(&env(at(0), r)),
        Err(Rejected::TooManyWorkflows {
            agent: "refund-bot".into(),
            limit: 2
        })
    );
    e.apply(&Envelope::new(
        at(0),
        "other",
        Event::RunFinished(run(Outcome::Success)),
    ))
    .unwrap();
    assert_eq!(
        e.apply(&Envelope::new(
            at(0),
            "third",
            Event::RunFinished(run(Outcome::Success))
        )),
        Err(Rejected::TooManyAgents(2))
    );
    assert_eq!(e.agent_count(), 2);
    assert_eq!(e.series_count(), 3);
}

#[test]
fn agents_are_listed_with_what_was_seen() {
    let mut e = engine("[[slo]]\nname = \"c\"\nsli = \"completion\"\nobjective = 0.9\n");
    let mut r = run(Outcome::Success);
    r.tool_calls = vec![ToolCall {
        tool: "lookup_order".into(),
        status: ToolStatus::Ok,
        latency_ms: Some(12),
        error: None,
    }];
    r.versions.model = Some("m1".into());
    e.apply(&env(at(5), r)).unwrap();
    e.apply(&env(at(65), run(Outcome::Success))).unwrap();
    let agents = e.agents(at(70));
    assert_eq!(agents.len(), 1);
    let a = &agents[0];
    assert_eq!(a.id, "refund-bot");
    assert_eq!(a.first_seen, Some(at(5)));
    assert_eq!(a.last_seen, Some(at(65)));
    assert_eq!(a.tools, vec!["lookup_order"]);
    assert_eq!(a.workflows, vec!["refund"]);
    assert_eq!(a.versions.model.as_deref(), Some("m1"));
    assert_eq!(a.runs_last_minute, 1);
    assert!(!a.registered);
    let seen: Vec<_> = e
        .drain_signals()
        .into_iter()
        .filter(|s| matches!(s, Signal::AgentSeen { .. }))
        .collect();
    assert_eq!(seen.len(), 1);
}

#[test]
fn the_same_input_gives_the_same_output() {
    let build = || {
        let mut e = engine(agentdeck::engine::spec::DEFAULT_SPECS);
        minutes(&mut e, 0, 30, 3);
        e.tick(at(30 * 60));
        (e.drain_signals(), e.statuses(at(30 * 60)))
    };
    assert_eq!(build(), build());
}
