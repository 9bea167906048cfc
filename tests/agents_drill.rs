//! The agent inventory and drill-down endpoints against a real hub on
//! loopback: a seeded stream with explicit times, and every answer checked
//! against a count made here from the same list of events.

mod support;

use std::time::Duration;

use chrono::{DateTime, Duration as Span, DurationRound, Utc};
use serde_json::{Value, json};

use support::{TestHub, ts};

/// One seeded run, as the test remembers it.
#[derive(Debug, Clone)]
struct Run {
    id: String,
    t: DateTime<Utc>,
    outcome: &'static str,
    latency_ms: u64,
    cost: f64,
    /// (tool, status, latency) of each tool call.
    tools: Vec<(&'static str, &'static str, u64)>,
    error: Option<&'static str>,
    /// The prompt version the run reports.
    prompt: &'static str,
}

impl Run {
    fn line(&self, agent: &str) -> String {
        let calls: Vec<Value> = self
            .tools
            .iter()
            .map(|(tool, status, latency)| {
                let mut c = json!({"tool": tool, "status": status, "latency_ms": latency});
                if *status == "error" {
                    c["error"] = json!(format!("{tool} answered 503"));
                }
                c
            })
            .collect();
        let mut v = json!({
            "v": 1, "type": "run.finished", "ts": ts(self.t), "agent": agent,
            "run_id": self.id, "workflow": "refund", "outcome": self.outcome,
            "latency_ms": self.latency_ms, "cost_usd": self.cost,
            "versions": {"model": "m-1", "prompt": self.prompt},
        });
        if !calls.is_empty() {
            v["tool_calls"] = Value::Array(calls);
        }
        if let Some(e) = self.error {
            v["error"] = json!(e);
        }
        v.to_string()
    }
}

fn run(id: String, t: DateTime<Utc>, outcome: &'static str, latency_ms: u64, cost: f64) -> Run {
    Run {
        id,
        t,
        outcome,
        latency_ms,
        cost,
        tools: Vec::new(),
        error: None,
        prompt: "v7",
    }
}

async fn post_all(hub: &TestHub, token: &str, lines: Vec<String>) {
    for chunk in lines.chunks(200) {
        let (status, answer) = hub.post_events(token, chunk.join("\n")).await;
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["accepted"], chunk.len() as u64, "{answer}");
        assert_eq!(answer["rejected"], json!([]), "{answer}");
    }
}

fn floor(t: DateTime<Utc>, secs: i64) -> DateTime<Utc> {
    t.duration_trunc(Span::seconds(secs)).unwrap()
}

fn close(got: &Value, want: f64, rel: f64) -> bool {
    got.as_f64()
        .is_some_and(|g| (g - want).abs() <= want.abs() * rel + 1e-9)
}

/// The `q` quantile of `values` as a rank between the neighbouring order
/// statistics: the latency sketch answers one of them within its 1 % error.
fn quantile_ok(got: &Value, values: &[u64], q: f64) -> bool {
    let mut v = values.to_vec();
    v.sort_unstable();
    let rank = q * (v.len() - 1) as f64;
    let lo = v[rank.floor() as usize] as f64 * 0.99;
    let hi = v[rank.ceil() as usize] as f64 * 1.01;
    got.as_f64().is_some_and(|g| g >= lo && g <= hi)
}

#[tokio::test]
async fn registration_lists_owners_and_findings_and_refuses_bad_fields() {
    let hub = support::start().await;
    let now = Utc::now();
    // Seen through events only: listed as unregistered.
    post_all(
        &hub,
        "agent",
        vec![support::run_line("triage-bot", "t-1", "success", now)],
    )
    .await;
    let profile = json!({
        "business_owner": {"name": "Payments", "contact": "#payments"},
        "incident_owner": {"name": "payments-oncall", "contact": "pagerduty:payments"},
        "criticality": "high",
        "autonomy": "act_autonomously",
        "environment": "production",
        "tools": [{"name": "issue_refund", "access": ["write", "money"]}],
        "data_sensitivity": "restricted",
    });
    // The agent registers itself (the `bot` token speaks for refund-bot).
    let (status, answer) = hub.put_json("bot", "/v1/agents/refund-bot", &profile).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["registered"], true);
    assert_eq!(answer["first_seen"], Value::Null);
    assert_eq!(
        answer["findings"],
        json!(["autonomous_on_money", "never_seen"])
    );
    // Not for another agent, not for a viewer.
    let (status, answer) = hub.put_json("bot", "/v1/agents/triage-bot", &profile).await;
    assert_eq!(status, 403, "{answer}");
    let (status, _) = hub
        .put_json("viewer", "/v1/agents/refund-bot", &profile)
        .await;
    assert_eq!(status, 403);
    // Bad fields are named.
    let (status, answer) = hub
        .put_json(
            "lead",
            "/v1/agents/refund-bot",
            &json!({"tools": [{"name": "x", "access": ["read", "read"]}]}),
        )
        .await;
    assert_eq!(status, 400);
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .contains("tools[0].access"),
        "{answer}"
    );
    let (status, answer) = hub
        .put_json("lead", "/v1/agents/refund-bot", &json!({"owner": "x"}))
        .await;
    assert_eq!(status, 400);
    assert!(
        answer["error"].as_str().unwrap().contains("owner"),
        "{answer}"
    );
    let (status, answer) = hub
        .put_json(
            "lead",
            "/v1/agents/refund-bot",
            &json!({"criticality": "apocalyptic"}),
        )
        .await;
    assert_eq!(status, 400, "{answer}");

    // Once it runs, a tool it did not list is a finding too.
    let mut r = run("r-1".into(), now, "success", 800, 0.01);
    r.tools = vec![("lookup_order", "ok", 100)];
    post_all(&hub, "agent", vec![r.line("refund-bot")]).await;
    let (status, list) = hub.get("viewer", "/v1/agents").await;
    assert_eq!(status, 200);
    let agents = list["agents"].as_array().unwrap();
    let ids: Vec<&str> = agents.iter().map(|a| a["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["refund-bot", "triage-bot"]);
    assert_eq!(
        agents[0]["findings"],
        json!(["autonomous_on_money", "unlisted_tools"])
    );
    assert_eq!(agents[0]["profile"]["business_owner"]["name"], "Payments");
    assert_eq!(agents[1]["registered"], false);
    assert_eq!(agents[1]["findings"], json!(["unregistered", "no_owner"]));

    // The registration is audited and reaches the stream's agent objects.
    let (_, audit) = hub.get("viewer", "/v1/audit?after=0").await;
    let registered: Vec<&Value> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "agent.registered")
        .collect();
    assert_eq!(registered.len(), 1, "{audit}");
    assert_eq!(registered[0]["actor"], "refund-bot");
    hub.wait_state("the registration on the agent object", |s| {
        s["agents"].as_array().is_some_and(|list| {
            list.iter()
                .any(|a| a["id"] == "refund-bot" && a["profile"]["criticality"] == "high")
        })
    })
    .await;

    // Unknown agents are 404 naming the agent.
    let (status, answer) = hub.get("viewer", "/v1/agents/nobody/detail").await;
    assert_eq!(status, 404);
    assert!(answer["error"].as_str().unwrap().contains("nobody"));
}

#[tokio::test]
async fn registration_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("hub.db");
    let profile = json!({"technical_owner": {"name": "Dana"}, "criticality": "low"});
    {
        let hub = support::start_with(support::Options {
            db: Some(db.clone()),
            ..support::Options::default()
        })
        .await;
        let (status, _) = hub.put_json("lead", "/v1/agents/quiet-bot", &profile).await;
        assert_eq!(status, 200);
        hub.hub.stop().await;
    }
    let hub = support::start_with(support::Options {
        db: Some(db),
        ..support::Options::default()
    })
    .await;
    let (status, agent) = hub.get("viewer", "/v1/agents/quiet-bot").await;
    assert_eq!(status, 200, "{agent}");
    assert_eq!(agent["profile"]["technical_owner"]["name"], "Dana");
    assert_eq!(agent["findings"], json!(["never_seen"]));
}

#[tokio::test]
async fn drill_down_answers_match_a_hand_count() {
    let hub = support::start().await;
    let now = Utc::now();
    let mut runs: Vec<Run> = Vec::new();
    // The last hour: ten runs 5 to 14 minutes ago, 100..1000 ms.
    for i in 0..10u64 {
        let outcome = match i {
            3 => "failed",
            7 => "escalated",
            _ => "success",
        };
        let mut r = run(
            format!("h-{i}"),
            now - Span::minutes(5 + i as i64),
            outcome,
            (i + 1) * 100,
            0.01,
        );
        r.tools = vec![
            ("lookup_order", "ok", (i + 1) * 20),
            (
                "issue_refund",
                if outcome == "failed" { "error" } else { "ok" },
                (i + 1) * 60,
            ),
        ];
        if outcome == "failed" {
            r.error = Some("refund service said no");
        }
        runs.push(r);
    }
    // Earlier today-ish: twenty runs 3 to 22 hours ago, 2 s, costlier.
    for i in 0..20i64 {
        let mut r = run(
            format!("d-{i}"),
            now - Span::hours(3) - Span::minutes(i * 57),
            "success",
            2000 + i as u64,
            0.05 + i as f64 * 0.001,
        );
        r.tools = vec![("lookup_order", "ok", 1500)];
        runs.push(r);
    }
    // Three days ago: thirty runs, half failed, 3 s.
    for i in 0..30i64 {
        runs.push(run(
            format!("w-{i}"),
            now - Span::days(3) - Span::minutes(i),
            if i % 2 == 0 { "failed" } else { "success" },
            3000,
            0.02,
        ));
    }
    // A week ago, around this time of day: four runs at 0.10.
    for i in 0..4i64 {
        runs.push(run(
            format!("lw-{i}"),
            now - Span::days(7) - Span::minutes(20 + i),
            "success",
            900,
            0.10,
        ));
    }
    let lines: Vec<String> = runs.iter().map(|r| r.line("refund-bot")).collect();
    post_all(&hub, "agent", lines).await;
    // Stand-alone tool calls count for the tool rates too.
    let tool_event = json!({
        "v": 1, "type": "tool.called", "ts": ts(now - Span::minutes(2)), "agent": "refund-bot",
        "workflow": "refund", "tool": "issue_refund", "status": "error", "error": "timeout at the bank"
    });
    post_all(&hub, "agent", vec![tool_event.to_string()]).await;

    let (status, detail) = hub.get("viewer", "/v1/agents/refund-bot/detail").await;
    assert_eq!(status, 200, "{detail}");
    let at = DateTime::parse_from_rfc3339(detail["performance"]["at"].as_str().unwrap())
        .unwrap()
        .with_timezone(&Utc);

    // Windows, counted here from the bucket edges documented in §7.16.
    let starts = [
        ("hour", floor(at, 600) - Span::minutes(50)),
        ("day", floor(at, 3600) - Span::hours(23)),
        ("week", floor(at, 86_400) - Span::days(6)),
    ];
    let windows = detail["performance"]["windows"].as_array().unwrap();
    for ((name, since), w) in starts.iter().zip(windows) {
        let inside: Vec<&Run> = runs.iter().filter(|r| r.t >= *since && r.t <= at).collect();
        let count = |o: &str| inside.iter().filter(|r| r.outcome == o).count() as u64;
        assert_eq!(w["window"], *name);
        assert_eq!(w["since"], ts(*since).replace(".000Z", "Z"), "{name}");
        assert_eq!(w["runs"], inside.len() as u64, "{name}");
        assert_eq!(w["success"], count("success"), "{name}");
        assert_eq!(w["escalated"], count("escalated"), "{name}");
        assert_eq!(w["failed"], count("failed"), "{name}");
        assert!(
            close(
                &w["success_ratio"],
                count("success") as f64 / inside.len() as f64,
                1e-12
            ),
            "{name}: {w}"
        );
        let latencies: Vec<u64> = inside.iter().map(|r| r.latency_ms).collect();
        for (field, q) in [("p50_ms", 0.5), ("p95_ms", 0.95), ("p99_ms", 0.99)] {
            assert!(quantile_ok(&w[field], &latencies, q), "{name} {field}: {w}");
        }
    }
    // Sanity of the seed: each window holds what it was meant to.
    assert_eq!(windows[0]["runs"], 10);
    assert_eq!(windows[1]["runs"], 30);
    assert_eq!(windows[2]["runs"], 60);

    // Cost per run today against the same hours a week ago.
    let midnight = floor(at, 86_400);
    let today: Vec<&Run> = runs
        .iter()
        .filter(|r| r.t >= midnight && r.t <= at)
        .collect();
    let week_from = midnight - Span::days(7);
    let week_to = floor(at - Span::days(7), 3600) + Span::hours(1);
    let last_week: Vec<&Run> = runs
        .iter()
        .filter(|r| r.t >= week_from && r.t < week_to)
        .collect();
    let cost = &detail["performance"]["cost"];
    assert_eq!(cost["today_runs"], today.len() as u64);
    assert_eq!(cost["last_week_runs"], last_week.len() as u64);
    let sum = |rs: &[&Run]| rs.iter().map(|r| r.cost).sum::<f64>();
    assert!(close(&cost["today_cost_usd"], sum(&today), 1e-9), "{cost}");
    assert!(
        close(&cost["last_week_cost_usd"], sum(&last_week), 1e-9),
        "{cost}"
    );
    if !today.is_empty() && !last_week.is_empty() {
        let want = (sum(&today) / today.len() as f64) / (sum(&last_week) / last_week.len() as f64);
        assert!(close(&cost["ratio"], want, 1e-9), "{cost}");
    }

    // Slowest and costliest of the last day: the current 3-hour bucket and
    // the 7 before it, 10 of each.
    let day_since = floor(at, 3 * 3600) - Span::hours(21);
    let mut recent: Vec<&Run> = runs.iter().filter(|r| r.t >= day_since).collect();
    recent.sort_by_key(|r| std::cmp::Reverse(r.latency_ms));
    let slowest: Vec<&str> = detail["slowest"]["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["run_id"].as_str().unwrap())
        .collect();
    let want: Vec<&str> = recent.iter().take(10).map(|r| r.id.as_str()).collect();
    assert_eq!(slowest, want);
    let top = &detail["slowest"]["runs"][0];
    assert_eq!(top["dominant"]["tool"], "lookup_order");
    assert!(
        // The slowest inside the window: which run that is depends on the
        // time of day the test runs at (the window starts at a bucket edge).
        close(
            &top["dominant"]["share"],
            1500.0 / recent[0].latency_ms as f64,
            1e-9
        ),
        "{top}"
    );
    recent.sort_by(|a, b| b.cost.total_cmp(&a.cost));
    let costliest: Vec<&str> = detail["costliest"]["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["run_id"].as_str().unwrap())
        .collect();
    let want: Vec<&str> = recent.iter().take(10).map(|r| r.id.as_str()).collect();
    assert_eq!(costliest, want);

    // The last failed and escalated runs, newest posted first.
    let failed: Vec<&Run> = runs.iter().filter(|r| r.outcome != "success").collect();
    let listed = detail["failed"]["runs"].as_array().unwrap();
    assert_eq!(listed.len(), failed.len());
    let ids: Vec<&str> = listed
        .iter()
        .map(|r| r["run_id"].as_str().unwrap())
        .collect();
    let want: Vec<&str> = failed.iter().rev().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, want);
    let h3 = listed.iter().find(|r| r["run_id"] == "h-3").unwrap();
    assert_eq!(h3["error"], "refund service said no");
    assert_eq!(h3["tool"], "issue_refund");
    assert_eq!(h3["versions"]["prompt"], "v7");
    let h7 = listed.iter().find(|r| r["run_id"] == "h-7").unwrap();
    assert_eq!(h7["outcome"], "escalated");
    assert_eq!(h7["tool"], "issue_refund"); // the slowest call of that run

    // Tool error rates: 10 + 1 calls of issue_refund in the hour, 2 errors.
    let tools = detail["tools"]["tools"].as_array().unwrap();
    assert_eq!(tools[0]["tool"], "issue_refund");
    assert_eq!(tools[0]["hour"]["calls"], 11);
    assert_eq!(tools[0]["hour"]["errors"], 2);
    assert!(close(&tools[0]["hour"]["error_rate"], 2.0 / 11.0, 1e-12));
    assert_eq!(tools[0]["day"]["calls"], 11);
    assert_eq!(tools[0]["last_error"], "timeout at the bank");
    assert_eq!(tools[1]["tool"], "lookup_order");
    assert_eq!(
        tools[1]["day"],
        json!({"calls": 30, "errors": 0, "error_rate": 0.0})
    );

    // Each endpoint answers what the detail holds.
    for (path, key) in [
        ("performance", "performance"),
        ("runs/slowest", "slowest"),
        ("runs/costliest", "costliest"),
        ("runs/failed", "failed"),
        ("tools", "tools"),
        ("changes", "changes"),
    ] {
        let (status, answer) = hub
            .get("viewer", &format!("/v1/agents/refund-bot/{path}"))
            .await;
        assert_eq!(status, 200, "{path}: {answer}");
        if key != "performance" {
            assert_eq!(answer, detail[key], "{path}");
        } else {
            assert_eq!(answer["windows"], detail[key]["windows"], "{path}");
        }
    }
    let (status, _) = hub.get("viewer", "/v1/agents/refund-bot/runs/median").await;
    assert_eq!(status, 404);
    let (status, _) = hub.get("agent", "/v1/agents/refund-bot/detail").await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn changes_show_the_success_ratio_around_them_and_reach_the_incident() {
    let hub = support::start().await;
    let now = Utc::now();
    let change_at = now - Span::minutes(40);
    let change = json!({
        "v": 1, "type": "change", "ts": ts(change_at), "agent": "pay-bot",
        "component": "prompt", "version": "v8", "previous": "v7",
        "deployed_by": "dana", "approved_by": "lee"
    });
    let mut lines = Vec::new();
    let mut runs = Vec::new();
    // Before: 10 runs 20–29 minutes before the change, one failed.
    for i in 0..10 {
        runs.push(run(
            format!("b-{i}"),
            change_at - Span::minutes(20 + i),
            if i == 0 { "failed" } else { "success" },
            500,
            0.01,
        ));
    }
    // After: 40 runs from 10 minutes after the change to now, mostly failed:
    // the completion SLO pages.
    for i in 0..40 {
        let mut r = run(
            format!("a-{i}"),
            now - Span::seconds(i * 20),
            if i % 4 == 0 { "success" } else { "failed" },
            500,
            0.01,
        );
        r.prompt = "v8";
        runs.push(r);
    }
    // In time order, as an agent sends them.
    lines.extend(runs[..10].iter().map(|r| r.line("pay-bot")));
    lines.push(change.to_string());
    lines.extend(runs[10..].iter().rev().map(|r| r.line("pay-bot")));
    post_all(&hub, "agent", lines).await;

    let (status, changes) = hub.get("viewer", "/v1/agents/pay-bot/changes").await;
    assert_eq!(status, 200, "{changes}");
    let c = &changes["changes"][0];
    assert_eq!(c["component"], "prompt");
    assert_eq!(c["to"], "v8");
    assert_eq!(c["from"], "v7");
    assert_eq!(c["deployed_by"], "dana");
    assert_eq!(c["approved_by"], "lee");
    // Hand count over 5-minute buckets: the hour before and after, the
    // change's own bucket in neither.
    let bucket = floor(change_at, 300);
    let count = |from: DateTime<Utc>, to: DateTime<Utc>| {
        let inside: Vec<&Run> = runs.iter().filter(|r| r.t >= from && r.t < to).collect();
        let ok = inside.iter().filter(|r| r.outcome == "success").count() as u64;
        (inside.len() as u64, ok)
    };
    let (runs_before, ok_before) = count(bucket - Span::hours(1), bucket);
    let (runs_after, ok_after) = count(
        bucket + Span::minutes(5),
        bucket + Span::minutes(5) + Span::hours(1),
    );
    assert_eq!(c["before"]["runs"], runs_before);
    assert_eq!(c["before"]["success"], ok_before);
    assert_eq!(c["after"]["runs"], runs_after);
    assert_eq!(c["after"]["success"], ok_after);
    assert_eq!((runs_before, ok_before), (10, 9));

    // The page's incident names the change on its timeline.
    let state = hub
        .wait_state("an incident for pay-bot", |s| {
            s["incidents"]
                .as_array()
                .is_some_and(|list| list.iter().any(|i| i["agent"] == "pay-bot"))
        })
        .await;
    let incident = state["incidents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["agent"] == "pay-bot")
        .unwrap()
        .clone();
    let notes: Vec<&str> = incident["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "note")
        .map(|e| e["text"].as_str().unwrap())
        .collect();
    let note = notes
        .iter()
        .find(|n| n.starts_with("Changes before the burn:"))
        .unwrap_or_else(|| panic!("no change note in {incident}"));
    assert!(
        note.contains("prompt v8 (was v7) deployed by dana, approved by lee,"),
        "{note}"
    );
    // The burn started with the first failing runs' 5-minute bucket, 13 to
    // 18 minutes ago: 22 to 27 minutes after the change.
    let minutes: i64 = note
        .split(", ")
        .find_map(|part| part.strip_suffix(" before the burn started").or(None))
        .or_else(|| {
            note.split(", ")
                .find(|p| p.contains(" before the burn started"))
                .and_then(|p| p.split(" min before").next())
        })
        .and_then(|n| n.trim_end_matches(" min").parse().ok())
        .unwrap_or_else(|| panic!("no minutes in {note}"));
    assert!((21..=27).contains(&minutes), "{note}");
}

#[tokio::test]
async fn approval_metrics_per_action_match_the_decisions() {
    let hub = support::start().await;
    let now = Utc::now();
    let request = |id: &str, action: &str, asked: DateTime<Utc>, deadline: DateTime<Utc>| {
        json!({
            "v": 1, "type": "approval.requested", "ts": ts(asked), "agent": "refund-bot",
            "request_id": id, "workflow": "refund", "action": action, "risk": "low",
            "deadline": ts(deadline), "args": {"order": id}
        })
        .to_string()
    };
    let far = now + Span::hours(1);
    post_all(
        &hub,
        "agent",
        vec![
            request("q-1", "issue_refund", now - Span::seconds(100), far),
            request("q-2", "issue_refund", now - Span::seconds(200), far),
            request("q-3", "issue_refund", now - Span::seconds(300), far),
            request("q-4", "issue_refund", now - Span::seconds(10), far),
            // Expires at once: fail closed.
            request(
                "q-5",
                "issue_refund",
                now - Span::seconds(120),
                now - Span::seconds(60),
            ),
            request("q-6", "close_account", now - Span::seconds(50), far),
        ],
    )
    .await;
    let state = hub
        .wait_state("the approvals", |s| {
            s["approvals"].as_array().is_some_and(|a| a.len() >= 5)
        })
        .await;
    let id_of = |rq: &str| {
        state["approvals"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["request_id"] == rq)
            .map(|a| a["id"].as_str().unwrap().to_string())
            .unwrap_or_else(|| panic!("no approval for {rq} in {state}"))
    };
    for (rq, verdict) in [("q-1", "approve"), ("q-2", "approve"), ("q-3", "reject")] {
        let mut body = json!({"decision": verdict});
        if verdict == "reject" {
            body["reason"] = json!("wrong customer");
        }
        let (status, answer) = hub
            .post(
                "approver",
                &format!("/v1/approvals/{}/decision", id_of(rq)),
                body,
                None,
            )
            .await;
        assert_eq!(status, 200, "{answer}");
    }
    // q-5 expires on the hub's next tick.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let metrics = loop {
        let (status, m) = hub.get("viewer", "/v1/agents/refund-bot/approvals").await;
        assert_eq!(status, 200, "{m}");
        if m["classes"][0]["expired"] == 1 {
            break m;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "q-5 never expired: {m}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let refund = &metrics["classes"][0];
    assert_eq!(refund["action"], "issue_refund");
    assert_eq!(refund["requests"], 5);
    assert_eq!(refund["open"], 1);
    assert_eq!(refund["approved"], 2);
    assert_eq!(refund["rejected"], 1);
    assert_eq!(refund["expired"], 1);
    assert!(close(&refund["timeout_rate"], 0.25, 1e-12), "{refund}");
    assert!(
        close(&refund["rejection_rate"], 1.0 / 3.0, 1e-12),
        "{refund}"
    );
    // Decision latencies were 100, 200 and 300 s plus the test's own time:
    // nearest rank p50 is the 200 s one, p95 the 300 s one.
    let p50 = refund["latency_p50_s"].as_f64().unwrap();
    let p95 = refund["latency_p95_s"].as_f64().unwrap();
    assert!((200.0..215.0).contains(&p50), "{refund}");
    assert!((300.0..315.0).contains(&p95), "{refund}");
    let other = &metrics["classes"][1];
    assert_eq!(other["action"], "close_account");
    assert_eq!(other["requests"], 1);
    assert_eq!(other["latency_p50_s"], Value::Null);
    assert_eq!(other["timeout_rate"], Value::Null);
}
