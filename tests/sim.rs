//! The simulated fleet against a real hub on loopback: each scenario gives
//! its signal, and each control measurably changes what the agents do.

mod support;

use std::sync::Arc;
use std::time::Duration;

use agentdeck::sim::runner::{SimConfig, SimStats};
use agentdeck::sim::scenario::Scenario;
use serde_json::{Value, json};
use tokio::sync::oneshot;

struct Fleet {
    stats: Arc<SimStats>,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<anyhow::Result<agentdeck::sim::runner::SimReport>>,
}

impl Fleet {
    fn start(h: &support::TestHub, scenario: Scenario, rate: f64) -> Self {
        Self::start_at(h.hub.url(), h, scenario, rate)
    }

    /// A fleet posting to `hub` (one address or several) with `h`'s
    /// agent token.
    fn start_at(hub: String, h: &support::TestHub, scenario: Scenario, rate: f64) -> Self {
        let stats = Arc::new(SimStats::default());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(agentdeck::sim::runner::run(
            SimConfig {
                hub,
                token: h.token("agent").to_string(),
                scenario,
                rate,
                seed: 7,
                poll: Duration::from_millis(200),
                ..SimConfig::default()
            },
            stats.clone(),
            async {
                let _ = stopped.await;
            },
        ));
        Self {
            stats,
            stop: Some(stop),
            task,
        }
    }

    async fn stop(mut self) -> agentdeck::sim::runner::SimReport {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        self.task.await.unwrap().unwrap()
    }
}

fn slo<'a>(state: &'a Value, series: &str) -> Option<&'a Value> {
    state["slos"]
        .as_array()?
        .iter()
        .find(|s| s["series"] == series)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tool_outage_pages_on_the_right_agent() {
    let h = support::start().await;
    let fleet = Fleet::start(&h, Scenario::ToolOutage, 100.0);
    let state = h
        .wait_state("a page-level incident", |s| {
            s["incidents"]
                .as_array()
                .unwrap()
                .iter()
                .any(|i| i["slo"] == "completion/refund-bot/refund" && i["severity"] == "SEV2")
        })
        .await;
    let report = fleet.stop().await;
    assert_eq!(report.rejected, 0, "{report}");
    assert_eq!(report.failed_posts, 0, "{report}");
    // Only the refund bot pages.
    for i in state["incidents"].as_array().unwrap() {
        if i["severity"] == "SEV2" || i["severity"] == "SEV1" {
            assert_eq!(i["agent"], "refund-bot", "{i}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_raises_escalations_and_marks_the_version() {
    let h = support::start().await;
    let fleet = Fleet::start(&h, Scenario::Drift, 100.0);
    let state = h
        .wait_state("escalation drift with a marker", |s| {
            slo(s, "completion/triage-bot/support-triage").is_some_and(|x| {
                x["escalation_rate"].as_f64().unwrap_or(0.0) > 0.15
                    && x["markers"].as_array().is_some_and(|m| !m.is_empty())
            })
        })
        .await;
    fleet.stop().await;
    let s = slo(&state, "completion/triage-bot/support-triage").unwrap();
    assert_eq!(s["markers"][0]["component"], "prompt");
    assert_eq!(s["markers"][0]["to"], "triage-v13");
    assert_eq!(s["markers"][0]["deployed_by"], "ci-pipeline");
    // The other agents did not drift.
    let refund = slo(&state, "completion/refund-bot/refund").unwrap();
    assert!(refund["escalation_rate"].as_f64().unwrap() < 0.15);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approval_storm_fills_the_queue() {
    let h = support::start().await;
    let fleet = Fleet::start(&h, Scenario::ApprovalStorm, 100.0);
    let state = h
        .wait_state("a full approval queue", |s| {
            s["approvals"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|a| a["agent"] == "campaign-bot")
                .count()
                >= 30
        })
        .await;
    fleet.stop().await;
    assert!(state["approvals"][0]["deadline"].is_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cost_spike_and_latency_tail_burn_their_slos() {
    let h = support::start().await;
    let fleet = Fleet::start(&h, Scenario::CostSpike, 100.0);
    h.wait_state("cost burn on invoice-matcher", |s| {
        slo(s, "cost/invoice-matcher/invoice-match").is_some_and(|x| x["alert"] == "page")
    })
    .await;
    fleet.stop().await;

    let h = support::start().await;
    let fleet = Fleet::start(&h, Scenario::LatencyTail, 100.0);
    h.wait_state("latency tail on remediation-bot", |s| {
        slo(s, "latency/remediation-bot/auto-remediate").is_some_and(|x| {
            x["latency_p99_ms"].as_f64().unwrap_or(0.0) > 8000.0
                && x["burn"]["m5"].as_f64().unwrap_or(0.0) > 1.0
        })
    })
    .await;
    fleet.stop().await;
}

async fn control(h: &support::TestHub, body: Value) -> Value {
    let (s, c) = h.post("lead", "/v1/controls", body, None).await;
    assert_eq!(s, 201, "{c}");
    c
}

async fn until(what: &str, f: impl Fn() -> bool) {
    for _ in 0..200 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_control_changes_what_agents_do() {
    let h = support::start().await;
    let fleet = Fleet::start(&h, Scenario::Steady, 200.0);
    let s = fleet.stats.clone();

    // disable_tool: zero further calls to it.
    control(&h, json!({"agent": "refund-bot", "kind": "disable_tool", "tool": "lookup_order", "reason": "test"})).await;
    until("disable_tool obeyed", || {
        s.obeyed("refund-bot").disabled_tools == ["lookup_order"]
    })
    .await;
    let calls = s.calls("refund-bot", "lookup_order");
    let escalated = s.outcome("refund-bot", "escalated");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        s.calls("refund-bot", "lookup_order"),
        calls,
        "a disabled tool was called"
    );
    assert!(
        s.outcome("refund-bot", "escalated") > escalated + 20,
        "runs fail over to escalation"
    );

    // route_to_humans: every run escalated.
    control(
        &h,
        json!({"agent": "triage-bot", "kind": "route_to_humans", "reason": "test"}),
    )
    .await;
    until("route_to_humans obeyed", || {
        s.obeyed("triage-bot").route_to_humans
    })
    .await;
    let ok = s.outcome("triage-bot", "success");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(s.outcome("triage-bot", "success"), ok);

    // pause_agent: no runs at all.
    control(
        &h,
        json!({"agent": "invoice-matcher", "kind": "pause_agent", "reason": "test"}),
    )
    .await;
    until("pause obeyed", || s.obeyed("invoice-matcher").paused).await;
    let total = |s: &SimStats| {
        ["success", "escalated", "failed", "timed_out"]
            .iter()
            .map(|o| s.outcome("invoice-matcher", o))
            .sum::<u64>()
    };
    let before = total(&s);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(total(&s), before, "a paused agent ran");

    // require_approval: tool actions wait for approvals.
    let asked = s.approvals_asked.load(std::sync::atomic::Ordering::Relaxed);
    control(
        &h,
        json!({"agent": "campaign-bot", "kind": "require_approval", "reason": "test"}),
    )
    .await;
    until("require_approval obeyed", || {
        s.obeyed("campaign-bot").require_approval
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(s.approvals_asked.load(std::sync::atomic::Ordering::Relaxed) > asked + 20);

    // force_fallback: the deterministic path, no violations, and a new model version.
    control(
        &h,
        json!({"agent": "remediation-bot", "kind": "force_fallback", "reason": "test"}),
    )
    .await;
    until("fallback obeyed", || s.obeyed("remediation-bot").fallback).await;
    h.wait_state("fallback visible on the agent", |st| {
        st["agents"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["id"] == "remediation-bot" && a["versions"]["model"] == "rules-engine-1")
    })
    .await;

    // pin_version: runs report the pinned prompt.
    control(&h, json!({"agent": "refund-bot", "kind": "pin_version", "version": "prompt:refund-v6", "reason": "test"})).await;
    h.wait_state("pinned prompt in use", |st| {
        st["agents"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["id"] == "refund-bot" && a["versions"]["prompt"] == "refund-v6")
    })
    .await;
    let report = fleet.stop().await;
    assert_eq!(report.rejected, 0, "{report}");
}

/// Batches the hub cannot store (its database turned read-only for a few
/// seconds: every write answered 503) are sent again by the fleet, with
/// their event ids, and every run ends up counted exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_refused_with_503_are_sent_again_and_counted_once() {
    use std::sync::atomic::Ordering;

    let h = support::start().await;
    let fleet = Fleet::start(&h, Scenario::Steady, 40.0);
    let stats = fleet.stats.clone();
    for _ in 0..200 {
        if stats.accepted.load(Ordering::Relaxed) > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        stats.accepted.load(Ordering::Relaxed) > 0,
        "no batch got through"
    );

    agentdeck::hub::lock(&h.hub.core)
        .store()
        .sqlite()
        .expect("a SQLite hub")
        .set_read_only(true)
        .unwrap();
    let refused = h
        .post_events(
            "agent",
            support::run_line("refund-bot", "probe", "success", chrono::Utc::now()),
        )
        .await;
    assert_eq!(refused.0, 503, "the fault is in place: {}", refused.1);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    agentdeck::hub::lock(&h.hub.core)
        .store()
        .sqlite()
        .expect("a SQLite hub")
        .set_read_only(false)
        .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;

    let report = fleet.stop().await;
    eprintln!("{report}");
    assert!(report.resent_posts > 0, "nothing was sent again: {report}");
    assert_eq!(report.failed_posts, 0, "{report}");
    assert_eq!(report.rejected, 0, "{report}");
    assert_eq!(report.accepted, report.posted, "{report}");

    // The hub counted each run once: its hour window per agent equals what
    // the fleet ran.
    let mut hub_runs = 0;
    let (status, agents) = h.get("lead", "/v1/agents").await;
    assert_eq!(status, 200, "{agents}");
    for agent in agents["agents"].as_array().expect("agents") {
        let id = agent["id"].as_str().expect("agent id");
        let (status, perf) = h.get("lead", &format!("/v1/agents/{id}/performance")).await;
        if status == 404 {
            continue;
        }
        assert_eq!(status, 200, "{perf}");
        let hour = perf["windows"]
            .as_array()
            .and_then(|w| w.iter().find(|w| w["window"] == "hour"))
            .unwrap_or_else(|| panic!("no hour window: {perf}"));
        hub_runs += hour["runs"].as_u64().unwrap_or(0);
    }
    assert_eq!(
        hub_runs, report.runs,
        "runs counted by the hub vs run by the fleet: {report}"
    );
}

/// `simulate --hub DEAD,LIVE`: the fleet finds the first address dead,
/// moves on, and every batch lands on the live one, counted once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fleet_given_several_addresses_posts_to_one_that_answers() {
    let h = support::start().await;
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_url = format!("http://{}", dead.local_addr().unwrap());
    drop(dead);
    let fleet = Fleet::start_at(
        format!("{dead_url},{}", h.hub.url()),
        &h,
        Scenario::Steady,
        50.0,
    );
    let state = h
        .wait_state("runs from the fleet and its registrations", |s| {
            let agents = s["agents"].as_array().map_or(0, Vec::len);
            let runs: u64 = s["slos"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|slo| slo["good"].as_u64())
                .sum();
            agents > 0 && runs > 0
        })
        .await;
    let report = fleet.stop().await;
    assert_eq!(report.failed_posts, 0, "{report}");
    assert_eq!(report.rejected, 0, "{report}");
    assert!(report.accepted > 0, "{report}");
    assert!(!state["agents"].as_array().unwrap().is_empty());
}
