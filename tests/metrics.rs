//! `GET /metrics` over real HTTP: readable by the viewer role, in the
//! Prometheus text format, with the values the hub holds, and accepted by
//! `promtool check metrics` (Prometheus' own linter; installed by
//! tests/promtool/setup.sh, which `.ci/run` runs; with
//! AGENTDECK_REQUIRE_PROMTOOL set a missing promtool fails the test).

mod support;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use chrono::{Duration as Span, Utc};
use serde_json::json;
use support::{TestHub, approval_line, run_line, start};

async fn scrape(h: &TestHub, token: &str) -> (u16, String, String) {
    let r = h
        .http
        .get(h.url("/metrics"))
        .bearer_auth(h.token(token))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let ctype = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, ctype, r.text().await.unwrap())
}

/// The value of the sample written exactly as `series` (name and labels).
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

fn promtool() -> Option<&'static str> {
    let found = Command::new("promtool")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var_os("AGENTDECK_REQUIRE_PROMTOOL").is_none(),
            "AGENTDECK_REQUIRE_PROMTOOL is set but promtool is not on PATH (bash tests/promtool/setup.sh)"
        );
        eprintln!(
            "promtool not found: `promtool check metrics` skipped (bash tests/promtool/setup.sh installs it)"
        );
        return None;
    }
    Some("promtool")
}

#[tokio::test]
async fn metrics_carry_the_hubs_figures_and_pass_promtool() {
    let h = start().await;
    let now = Utc::now();
    let mut lines = Vec::new();
    for i in 0..40 {
        let outcome = if i % 4 == 0 { "failed" } else { "success" };
        lines.push(run_line(
            "refund-bot",
            &format!("r{i}"),
            outcome,
            now - Span::seconds(60 - i),
        ));
    }
    lines.push(approval_line(
        "refund-bot",
        "q1",
        now,
        now + Span::minutes(10),
    ));
    lines.push(format!(
        r#"{{"v":1,"type":"incident.reported","ts":"{}","agent":"refund-bot","title":"t","severity":"SEV1","category":"drift"}}"#,
        support::ts(now)
    ));
    lines.push("not json".to_string());
    let (s, _) = h.post_events("agent", lines.join("\n")).await;
    assert_eq!(s, 200);
    let (s, _) = h
        .post(
            "approver",
            "/v1/approvals/APR-1/decision",
            json!({"decision": "approve"}),
            None,
        )
        .await;
    assert_eq!(s, 200);

    // SLO gauges appear once the tick has published statuses.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let text = loop {
        let (status, ctype, text) = scrape(&h, "viewer").await;
        assert_eq!(status, 200);
        assert_eq!(ctype, "text/plain; version=0.0.4; charset=utf-8");
        if text.contains("agentdeck_slo_burn_rate_ratio{") {
            break text;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no SLO series:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        value(
            &text,
            r#"agentdeck_runs_total{agent="refund-bot",outcome="success"}"#
        ),
        Some(30.0),
        "{text}"
    );
    assert_eq!(
        value(
            &text,
            r#"agentdeck_runs_total{agent="refund-bot",outcome="failed"}"#
        ),
        Some(10.0)
    );
    assert_eq!(
        value(
            &text,
            r#"agentdeck_run_duration_seconds_count{agent="refund-bot"}"#
        ),
        Some(40.0)
    );
    assert_eq!(
        value(
            &text,
            r#"agentdeck_run_duration_seconds_bucket{agent="refund-bot",le="1"}"#
        ),
        Some(0.0),
        "{text}"
    );
    assert_eq!(
        value(
            &text,
            r#"agentdeck_run_duration_seconds_bucket{agent="refund-bot",le="2.5"}"#
        ),
        Some(40.0)
    );
    let cost = value(&text, r#"agentdeck_run_cost_usd_total{agent="refund-bot"}"#).unwrap();
    assert!((cost - 0.8).abs() < 1e-9, "{cost}");
    assert_eq!(value(&text, r#"agentdeck_ingest_events_total"#), Some(42.0));
    assert_eq!(
        value(
            &text,
            r#"agentdeck_ingest_rejected_total{reason="invalid"}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        value(&text, r#"agentdeck_incidents_open{severity="SEV1"}"#),
        Some(1.0)
    );
    assert_eq!(
        value(&text, r#"agentdeck_incidents_open{severity="SEV4"}"#),
        Some(0.0)
    );
    assert_eq!(value(&text, "agentdeck_approvals_pending"), Some(0.0));
    assert_eq!(
        value(&text, "agentdeck_approval_decision_seconds_count"),
        Some(1.0)
    );
    assert_eq!(value(&text, "agentdeck_store_writable"), Some(1.0));
    assert_eq!(value(&text, "agentdeck_hub_serving"), Some(1.0));
    assert!(value(&text, "agentdeck_stream_last_id").unwrap() > 0.0);
    assert!(value(&text, "agentdeck_store_database_bytes").unwrap() > 0.0);
    // Sloth's labels and a window per burn-rate window.
    let burn = text
        .lines()
        .find(|l| {
            l.starts_with("agentdeck_slo_burn_rate_ratio{") && l.contains(r#"sloth_window="1h""#)
        })
        .unwrap();
    assert!(
        burn.contains(r#"sloth_service="refund-bot""#)
            && burn.contains("sloth_slo=")
            && burn.contains("sloth_id="),
        "{burn}"
    );
    assert!(text.contains("agentdeck_slo_error_budget_remaining_ratio{"));
    assert!(text.contains("agentdeck_slo_objective_ratio{"));

    // Viewer and up may scrape; an agent may not; no token is 401.
    assert_eq!(scrape(&h, "lead").await.0, 200);
    assert_eq!(scrape(&h, "agent").await.0, 403);
    let r = h.http.get(h.url("/metrics")).send().await.unwrap();
    assert_eq!(r.status(), 401);

    if let Some(promtool) = promtool() {
        let mut child = Command::new(promtool)
            .args(["check", "metrics"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "promtool check metrics refused the exposition:\n{}{}\n{text}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    h.hub.stop().await;
}

/// Every `agentdeck_…` metric name an expression uses (histogram and
/// counter suffixes kept, as PromQL writes them).
fn names_in(expr: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = expr;
    while let Some(i) = rest.find("agentdeck_") {
        let tail = &rest[i..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        out.push(tail[..end].to_string());
        rest = &tail[end..];
    }
    out
}

#[tokio::test]
async fn the_dashboard_and_the_rules_use_only_metrics_the_hub_exposes() {
    // A receiver declared, so the notification series exist.
    let notify = agentdeck::hub::notify::NotifyConfig::parse(
        "notify.toml",
        "[[receiver]]\nname = \"ops-slack\"\nkind = \"slack\"\nurl = \"http://127.0.0.1:9/slack\"\n",
        &|_| None,
    )
    .unwrap();
    let h = support::start_with(support::Options {
        notify: Some(notify),
        ..support::Options::default()
    })
    .await;
    let now = Utc::now();
    let (s, _) = h
        .post_events("agent", run_line("refund-bot", "r1", "success", now))
        .await;
    assert_eq!(s, 200);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let text = loop {
        let (_, _, text) = scrape(&h, "viewer").await;
        if text.contains("agentdeck_slo_burn_rate_ratio{") {
            break text;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no SLO series:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let exposed: std::collections::BTreeSet<String> = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split(['{', ' ']).next())
        .map(str::to_string)
        .collect();
    let dashboard: serde_json::Value =
        serde_json::from_str(include_str!("../docs/grafana/agentdeck.json")).unwrap();
    let rules = include_str!("../docs/grafana/agentdeck-rules.yml");
    let mut exprs: Vec<String> = dashboard["panels"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["targets"].as_array().cloned().unwrap_or_default())
        .map(|t| t["expr"].as_str().unwrap().to_string())
        .collect();
    assert!(exprs.len() >= 15, "{exprs:?}");
    exprs.push(rules.to_string());
    for expr in &exprs {
        for name in names_in(expr) {
            // A family with no sample yet (no receiver, no refusal) is
            // still declared.
            let family = ["_bucket", "_count", "_sum"]
                .iter()
                .find_map(|s| name.strip_suffix(s))
                .unwrap_or(&name);
            let known = exposed.contains(&name)
                || text.contains(&format!("# TYPE {name} "))
                || text.contains(&format!("# TYPE {family} histogram"));
            assert!(known, "{name} (in {expr}) is not exposed:\n{text}");
        }
    }
    if let Some(promtool) = promtool() {
        let out = Command::new(promtool)
            .args(["check", "rules", "docs/grafana/agentdeck-rules.yml"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "promtool check rules:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    h.hub.stop().await;
}
