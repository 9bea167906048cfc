//! The hub over real loopback HTTP with a real SQLite file: ingest, actions,
//! the live stream, idempotency, controls for agents, alerts and callbacks.

mod support;

use std::time::Duration;

use chrono::{Duration as Span, Utc};
use serde_json::json;
use support::{StreamClient, approval_line, run_line, start, start_with};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_accepts_good_lines_and_names_each_bad_one() {
    let h = start().await;
    let now = Utc::now();
    let body = [
        run_line("refund-bot", "r1", "success", now),
        "{not json".to_string(),
        run_line("refund-bot", "r2", "failed", now),
        r#"{"v":1,"type":"run.finished","ts":"2026-11-21T03:12:00Z","agent":"refund-bot","run_id":"r3","outcome":"success"}"#.to_string(),
        String::new(),
        r#"{"v":1,"type":"telepathy","ts":"2026-11-21T03:12:00Z","agent":"a"}"#.to_string(),
        run_line("triage-bot", "r4", "escalated", now),
    ]
    .join("\n");
    let (status, body) = h.post_events("agent", body).await;
    assert_eq!(status, 200);
    assert_eq!(body["accepted"], 3);
    let rejected = body["rejected"].as_array().unwrap();
    let lines: Vec<u64> = rejected
        .iter()
        .map(|r| r["line"].as_u64().unwrap())
        .collect();
    assert_eq!(lines, vec![2, 4, 6]);
    assert!(
        rejected[0]["error"]
            .as_str()
            .unwrap()
            .starts_with("invalid JSON")
    );
    assert!(
        rejected[1]["error"]
            .as_str()
            .unwrap()
            .contains("\"latency_ms\"")
    );
    assert!(rejected[2]["error"].as_str().unwrap().contains("telepathy"));
    // Events for unknown agents register them.
    let state = h
        .wait_state("agents", |s| {
            s["agents"].as_array().is_some_and(|a| a.len() == 2)
        })
        .await;
    assert_eq!(state["agents"][1]["id"], "triage-bot");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_token_sends_only_for_its_own_agent() {
    let h = start().await;
    let now = Utc::now();
    let body = format!(
        "{}\n{}",
        run_line("refund-bot", "r1", "success", now),
        run_line("triage-bot", "r2", "success", now)
    );
    let (status, body) = h.post_events("bot", body).await;
    assert_eq!(status, 200);
    assert_eq!(body["accepted"], 1);
    assert_eq!(body["rejected"][0]["line"], 2);
    assert!(
        body["rejected"][0]["error"]
            .as_str()
            .unwrap()
            .contains("may not send events")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversize_bodies_get_413() {
    let h = start_with(support::Options {
        max_body_bytes: 1024,
        ..Default::default()
    })
    .await;
    let big = run_line("refund-bot", "r", "success", Utc::now()).repeat(20);
    let r = h
        .http
        .post(h.url("/v1/events"))
        .bearer_auth(h.token("agent"))
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 413);
    let body: serde_json::Value = r.json().await.unwrap();
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("limit of 1024 bytes"),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_event_id_is_acknowledged_once() {
    let h = start().await;
    let now = Utc::now();
    let with_id = |i: u32| {
        run_line("refund-bot", &format!("r{i}"), "success", now).replacen(
            "{",
            &format!("{{\"id\":\"evt-{i}\","),
            1,
        )
    };
    let batch: Vec<String> = (0..10).map(with_id).collect();
    let (_, body) = h.post_events("agent", batch.join("\n")).await;
    assert_eq!(body["accepted"], 10);
    assert!(body.get("duplicates").is_none());
    // The sender retries after a timeout: the same ten, and five new ones.
    let retry: Vec<String> = (0..15).map(with_id).collect();
    let (_, body) = h.post_events("agent", retry.join("\n")).await;
    assert_eq!(body["accepted"], 15);
    assert_eq!(body["duplicates"], 10);
    let state = h
        .wait_state("runs counted", |s| {
            s["slos"].as_array().is_some_and(|l| {
                l.iter()
                    .any(|x| x["series"] == "completion/refund-bot/refund" && x["total"] == 15)
            })
        })
        .await;
    assert!(state["slos"].is_array());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extractor_errors_are_json_too() {
    let h = start().await;
    let (s, body) = h.get("viewer", "/v1/audit?after=minus-one").await;
    assert_eq!(s, 400);
    assert!(body["error"].as_str().unwrap().contains("after"), "{body}");
    let r = h
        .http
        .put(h.url("/v1/events"))
        .bearer_auth(h.token("agent"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 405);
    let body: serde_json::Value = r.json().await.unwrap();
    assert!(body["error"].is_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approval_requests_become_approvals_once_and_the_first_decision_wins() {
    let h = start().await;
    let now = Utc::now();
    let line = approval_line("refund-bot", "q-1", now, now + Span::minutes(10));
    // Sent twice (an agent retrying): one approval.
    h.post_events("agent", line.clone()).await;
    h.post_events("agent", line).await;
    let state = h.state().await;
    assert_eq!(state["approvals"].as_array().unwrap().len(), 1);
    let id = state["approvals"][0]["id"].as_str().unwrap().to_string();
    assert_eq!(id, "APR-1");
    let path = format!("/v1/approvals/{id}/decision");

    let (s, _) = h
        .post("approver", &path, json!({"decision": "reject"}), None)
        .await;
    assert_eq!(s, 400, "rejecting needs a reason");
    let (s, body) = h
        .post(
            "approver",
            &path,
            json!({"decision": "approve", "modified_args": {"order": "A-1", "amount_usd": 200}}),
            Some("k-1"),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["state"], "approved");
    // The same key again: the first answer, nothing changes.
    let (s2, body2) = h
        .post(
            "approver",
            &path,
            json!({"decision": "approve", "modified_args": {"order": "A-1", "amount_usd": 200}}),
            Some("k-1"),
        )
        .await;
    assert_eq!((s2, &body2), (200, &body));
    // The same key for another request: 422.
    let (s, _) = h
        .post(
            "approver",
            &path,
            json!({"decision": "reject", "reason": "x"}),
            Some("k-1"),
        )
        .await;
    assert_eq!(s, 422);
    // A late decision by someone else: 409 naming who and when.
    let (s, body) = h
        .post(
            "lead",
            &path,
            json!({"decision": "reject", "reason": "too much"}),
            None,
        )
        .await;
    assert_eq!(s, 409);
    let error = body["error"].as_str().unwrap();
    assert!(error.contains("already approved by approver at"), "{error}");
    assert_eq!(body["current"]["state"], "approved");
    let (s, _) = h
        .post(
            "lead",
            "/v1/approvals/APR-99/decision",
            json!({"decision": "approve"}),
            None,
        )
        .await;
    assert_eq!(s, 404);
    let (s, body) = h
        .post("lead", &path, json!({"decision": "maybe"}), None)
        .await;
    assert_eq!(s, 400);
    assert!(body["error"].as_str().unwrap().contains("maybe"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_approvers_at_the_same_instant_one_wins_every_time() {
    let h = start().await;
    let now = Utc::now();
    let lines: Vec<String> = (0..200)
        .map(|i| {
            approval_line(
                "refund-bot",
                &format!("q-{i}"),
                now,
                now + Span::minutes(30),
            )
        })
        .collect();
    let (_, body) = h.post_events("agent", lines.join("\n")).await;
    assert_eq!(body["accepted"], 200);
    for i in 1..=200 {
        let path = format!("/v1/approvals/APR-{i}/decision");
        let (ka, kb) = (format!("a-{i}"), format!("b-{i}"));
        let a = h.post("approver", &path, json!({"decision": "approve"}), Some(&ka));
        let b = h.post(
            "approver2",
            &path,
            json!({"decision": "reject", "reason": "no"}),
            Some(&kb),
        );
        let ((sa, _), (sb, _)) = tokio::join!(a, b);
        let mut statuses = [sa, sb];
        statuses.sort();
        assert_eq!(statuses, [200, 409], "approval {i}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incidents_move_through_their_states_and_refuse_illegal_moves() {
    let h = start().await;
    let (s, inc) = h
        .post(
            "responder",
            "/v1/incidents",
            json!({"title": "refunds posting twice", "severity": "SEV3", "category": "data_corruption", "agent": "refund-bot"}),
            Some("open-1"),
        )
        .await;
    assert_eq!(s, 201, "{inc}");
    let id = inc["id"].as_str().unwrap();
    let p = |a: &str| format!("/v1/incidents/{id}/{a}");
    assert_eq!(h.post("responder", &p("ack"), json!({}), None).await.0, 200);
    let (s, body) = h.post("responder", &p("ack"), json!({}), None).await;
    assert_eq!(s, 409);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .ends_with("it is acknowledged")
    );
    assert_eq!(
        h.post("responder", &p("assign"), json!({"owner": "kim"}), None)
            .await
            .0,
        200
    );
    assert_eq!(
        h.post(
            "responder",
            &p("escalate"),
            json!({"severity": "SEV1"}),
            None
        )
        .await
        .0,
        200
    );
    let (s, _) = h
        .post(
            "responder",
            &p("escalate"),
            json!({"severity": "SEV2"}),
            None,
        )
        .await;
    assert_eq!(s, 409, "severity only rises");
    assert_eq!(
        h.post(
            "responder",
            &p("note"),
            json!({"text": "rolled back v8"}),
            None
        )
        .await
        .0,
        200
    );
    let (s, body) = h
        .post("responder", &p("note"), json!({"txt": "typo"}), None)
        .await;
    assert_eq!(s, 400);
    assert!(body["error"].as_str().unwrap().contains("txt"), "{body}");
    let (s, body) = h
        .post(
            "responder",
            &p("resolve"),
            json!({"summary": "fixed"}),
            None,
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(body["state"], "resolved");
    assert_eq!(body["owner"], "kim");
    assert_eq!(body["severity"], "SEV1");
    // opened, acknowledged, assigned, escalated, note, resolved.
    assert_eq!(body["timeline"].as_array().unwrap().len(), 6);
    assert_eq!(
        h.post(
            "responder",
            &p("resolve"),
            json!({"summary": "again"}),
            None
        )
        .await
        .0,
        409
    );
    assert_eq!(
        h.post("responder", "/v1/incidents/INC-404/ack", json!({}), None)
            .await
            .0,
        404
    );
    assert_eq!(
        h.post("responder", &p("reopen"), json!({}), None).await.0,
        404
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn controls_reach_agents_by_poll_with_etags() {
    let h = start().await;
    let (s, ctl) = h
        .post(
            "responder",
            "/v1/controls",
            json!({"agent": "refund-bot", "kind": "disable_tool", "tool": "issue_refund", "reason": "double refunds", "ttl_s": 600}),
            Some("c-1"),
        )
        .await;
    assert_eq!(s, 201, "{ctl}");
    let r = h
        .http
        .get(h.url("/v1/agents/refund-bot/controls"))
        .bearer_auth(h.token("bot"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let etag = r.headers()["etag"].to_str().unwrap().to_string();
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["controls"][0]["tool"], "issue_refund");
    let r = h
        .http
        .get(h.url("/v1/agents/refund-bot/controls"))
        .bearer_auth(h.token("bot"))
        .header("If-None-Match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 304);
    // Another agent's controls: 403 for this agent's token.
    let (s, _) = h.get("bot", "/v1/agents/triage-bot/controls").await;
    assert_eq!(s, 403);
    // Bad requests name the field.
    let (s, body) = h
        .post(
            "responder",
            "/v1/controls",
            json!({"agent": "refund-bot", "kind": "disable_tool", "reason": "x"}),
            None,
        )
        .await;
    assert_eq!(s, 400);
    assert!(body["error"].as_str().unwrap().contains("\"tool\""));
    // Fleet-wide pause: lead only.
    let stop = json!({"agent": "*", "kind": "pause_agent", "reason": "runaway refunds"});
    assert_eq!(
        h.post("responder", "/v1/controls", stop.clone(), None)
            .await
            .0,
        403
    );
    let (s, pause) = h.post("lead", "/v1/controls", stop, None).await;
    assert_eq!(s, 201);
    let r = h
        .http
        .get(h.url("/v1/agents/refund-bot/controls"))
        .bearer_auth(h.token("bot"))
        .header("If-None-Match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status().as_u16(),
        200,
        "the fleet pause changes the agent's view"
    );
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["controls"].as_array().unwrap().len(), 2);
    // Lifting someone else's control takes a lead; lifting twice is a conflict.
    let lift = |id: &str| format!("/v1/controls/{id}");
    let id = ctl["id"].as_str().unwrap();
    let r = h
        .http
        .delete(h.url(&lift(id)))
        .bearer_auth(h.token("lead"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let r = h
        .http
        .delete(h.url(&lift(id)))
        .bearer_auth(h.token("lead"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 409);
    let pid = pause["id"].as_str().unwrap();
    let r = h
        .http
        .delete(h.url(&lift(pid)))
        .bearer_auth(h.token("responder"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_control_for_an_incident_contains_it() {
    let h = start().await;
    let (_, inc) = h
        .post(
            "responder",
            "/v1/incidents",
            json!({"title": "bad refunds", "severity": "SEV2", "category": "unsafe_action"}),
            None,
        )
        .await;
    let (s, _) = h
        .post(
            "responder",
            "/v1/controls",
            json!({"agent": "refund-bot", "kind": "route_to_humans", "reason": "contain", "incident": inc["id"]}),
            None,
        )
        .await;
    assert_eq!(s, 201);
    let state = h.state().await;
    assert_eq!(state["incidents"][0]["state"], "contained");
    assert_eq!(state["incidents"][0]["controls"][0], "CTL-1");
}

/// A minute of refund-bot runs, four in five failed: its completion SLO
/// pages.
fn burning_runs(now: chrono::DateTime<Utc>) -> Vec<String> {
    (0..60)
        .map(|i| {
            run_line(
                "refund-bot",
                &format!("r{i}"),
                if i % 5 == 0 { "success" } else { "failed" },
                now - Span::seconds(60 - i),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fast_burn_opens_one_incident() {
    let h = start().await;
    let now = Utc::now();
    let lines = burning_runs(now);
    let (_, body) = h.post_events("agent", lines.join("\n")).await;
    assert_eq!(body["accepted"], 60);
    let state = h
        .wait_state("an incident", |s| {
            !s["incidents"].as_array().unwrap().is_empty()
        })
        .await;
    let incidents = state["incidents"].as_array().unwrap();
    let inc = incidents
        .iter()
        .find(|i| i["slo"] == "completion/refund-bot/refund")
        .expect("completion incident");
    assert_eq!(inc["severity"], "SEV2");
    assert_eq!(inc["category"], "slo_burn");
    assert_eq!(inc["source"], "alert");
    assert_eq!(inc["runbook"], "slo_burn");
    // More of the same does not open another.
    h.post_events("agent", lines.join("\n").replace("\"r", "\"s"))
        .await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let state = h.state().await;
    let count = state["incidents"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["slo"] == "completion/refund-bot/refund")
        .count();
    assert_eq!(count, 1);
    let slo = state["slos"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["series"] == "completion/refund-bot/refund")
        .unwrap()
        .clone();
    assert_eq!(slo["alert"], "page");
}

/// Resolving an incident whose SLO still burns reopens it at the next
/// tick, unless the operator suppresses new incidents for a while: then
/// none opens, and the audit log says for how long.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resolving_while_burning_reopens_unless_suppressed() {
    let h = start().await;
    let now = Utc::now();
    let lines = burning_runs(now);
    h.post_events("agent", lines.join("\n")).await;
    let series = "completion/refund-bot/refund";
    let open_for = |s: &serde_json::Value| -> Vec<String> {
        s["incidents"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|i| i["slo"] == series && i["state"] != "resolved")
            .map(|i| i["id"].as_str().unwrap().to_string())
            .collect()
    };
    let state = h
        .wait_state("an incident", |s| !open_for(s).is_empty())
        .await;
    let first = open_for(&state)[0].clone();

    // Out of range: refused, naming the field.
    let (s, body) = h
        .post(
            "responder",
            &format!("/v1/incidents/{first}/resolve"),
            json!({"summary": "x", "suppress_reopen_s": 5}),
            None,
        )
        .await;
    assert_eq!(s, 400, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("suppress_reopen_s"),
        "{body}"
    );

    // Resolved plainly: the burn opens a new one at the next tick.
    let (s, _) = h
        .post(
            "responder",
            &format!("/v1/incidents/{first}/resolve"),
            json!({"summary": "looked fine"}),
            None,
        )
        .await;
    assert_eq!(s, 200);
    let state = h
        .wait_state("a new incident", |s| {
            open_for(s).iter().any(|i| *i != first)
        })
        .await;
    let second = open_for(&state)[0].clone();

    // Resolved with new incidents suppressed for an hour: none opens.
    let (s, resolved) = h
        .post(
            "responder",
            &format!("/v1/incidents/{second}/resolve"),
            json!({"summary": "fixed upstream; burn draining", "suppress_reopen_s": 3600}),
            None,
        )
        .await;
    assert_eq!(s, 200, "{resolved}");
    assert!(
        resolved["reopen_suppressed_until"].is_string(),
        "{resolved}"
    );
    tokio::time::sleep(Duration::from_millis(1500)).await; // three ticks
    let state = h.state().await;
    assert!(open_for(&state).is_empty(), "{:?}", open_for(&state));
    let slo = state["slos"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["series"] == series)
        .unwrap()
        .clone();
    assert_eq!(slo["alert"], "page", "still burning");
    let (_, page) = h.get("lead", "/v1/audit?after=0&limit=1000").await;
    let audited = page["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "incident.resolved" && e["subject"] == second.as_str())
        .expect("the resolution is audited")
        .clone();
    assert_eq!(audited["details"]["suppress_reopen_s"], 3600, "{audited}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_snapshot_then_deltas_and_resume_without_gap_or_duplicate() {
    let h = start().await;
    let now = Utc::now();
    let mut s = StreamClient::open(&h, "viewer", None).await;
    let snap = s.next(Duration::from_secs(5)).await.unwrap();
    assert_eq!(snap.event, "snapshot");
    assert_eq!(snap.data["seq"].as_u64().unwrap(), snap.id);

    // Deltas: ids strictly increase.
    h.post_events(
        "agent",
        approval_line("refund-bot", "q-1", now, now + Span::minutes(5)),
    )
    .await;
    let approval = s.until("approval", |_| true).await;
    assert_eq!(approval.data["id"], "APR-1");
    let mut last = approval.id;
    let audit = s
        .until("audit", |d| d["action"] == "approval.requested")
        .await;
    assert!(audit.id > last);
    last = audit.id;
    drop(s);

    // While disconnected: three approvals (six deltas with their audit entries).
    let lines: Vec<String> = (2..=4)
        .map(|i| approval_line("refund-bot", &format!("q-{i}"), now, now + Span::minutes(5)))
        .collect();
    h.post_events("agent", lines.join("\n")).await;

    let mut s = StreamClient::open(&h, "viewer", Some(last)).await;
    let mut seen = Vec::new();
    while let Some(e) = s.next(Duration::from_millis(1500)).await {
        assert_ne!(e.event, "snapshot", "resume must replay, not resnapshot");
        seen.push(e);
    }
    let ids: Vec<u64> = seen.iter().map(|e| e.id).collect();
    assert_eq!(ids[0], last + 1, "no gap: {ids:?}");
    assert!(
        ids.windows(2).all(|w| w[1] == w[0] + 1),
        "consecutive, no duplicate: {ids:?}"
    );
    let approvals: Vec<&str> = seen
        .iter()
        .filter(|e| e.event == "approval")
        .map(|e| e.data["id"].as_str().unwrap())
        .collect();
    assert_eq!(approvals, vec!["APR-2", "APR-3", "APR-4"]);

    // An id the hub no longer has (or never had) gets a snapshot.
    let mut s = StreamClient::open(&h, "viewer", Some(10_000_000)).await;
    assert_eq!(
        s.next(Duration::from_secs(5)).await.unwrap().event,
        "snapshot"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_client_is_resynchronised_while_another_keeps_up() {
    let h = start_with(support::Options {
        stream: agentdeck::hub::core::StreamLimits {
            client_queue: 256,
            replay: 64,
        },
        ..Default::default()
    })
    .await;
    let now = Utc::now();
    // The stalled client reads its snapshot and then nothing.
    let mut stalled = StreamClient::open(&h, "viewer", None).await;
    assert_eq!(
        stalled.next(Duration::from_secs(5)).await.unwrap().event,
        "snapshot"
    );
    let mut live = StreamClient::open(&h, "lead", None).await;
    assert_eq!(
        live.next(Duration::from_secs(5)).await.unwrap().event,
        "snapshot"
    );
    // Enough deltas, each large, to overflow socket buffers and the queue.
    let pad = "x".repeat(3000);
    let total = 1600;
    let mut expected = 0;
    for batch in 0..(total / 50) {
        let lines: Vec<String> = (0..50)
            .map(|i| {
                approval_line(
                    "refund-bot",
                    &format!("q-{batch}-{i}"),
                    now,
                    now + Span::minutes(20),
                )
                .replace("\"risk\"", &format!("\"context\":\"{pad}\",\"risk\""))
            })
            .collect();
        let (_, body) = h.post_events("agent", lines.join("\n")).await;
        assert_eq!(body["accepted"], 50);
        // The live client keeps up.
        loop {
            let e = live
                .next(Duration::from_secs(10))
                .await
                .expect("live client starved");
            assert_ne!(
                e.event, "snapshot",
                "the live client must not be resynchronised"
            );
            if e.event == "approval" {
                expected += 1;
                if expected == (batch + 1) * 50 {
                    break;
                }
            }
        }
    }
    // The stalled client, read at last, is told to resynchronise with a
    // snapshot that holds every approval.
    let mut snapshot = None;
    while let Some(e) = stalled.next(Duration::from_secs(2)).await {
        if e.event == "snapshot" {
            snapshot = Some(e);
            break;
        }
    }
    let snapshot = snapshot.expect("a lagging client gets a fresh snapshot");
    assert_eq!(snapshot.data["approvals"].as_array().unwrap().len(), total);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_is_shared() {
    let h = start().await;
    let (s, _) = h
        .post(
            "responder",
            "/v1/presence",
            json!({"viewing": "INC-1"}),
            None,
        )
        .await;
    assert_eq!(s, 409, "not connected yet");
    let mut watcher = StreamClient::open(&h, "lead", None).await;
    let _responder_stream = StreamClient::open(&h, "responder", None).await;
    let r = h
        .http
        .post(h.url("/v1/presence"))
        .bearer_auth(h.token("responder"))
        .json(&json!({"viewing": "INC-1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 204);
    let e = watcher
        .until("presence", |d| {
            d.as_array().is_some_and(|l| {
                l.iter()
                    .any(|p| p["operator"] == "responder" && p["viewing"] == "INC-1")
            })
        })
        .await;
    assert!(e.id > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callbacks_are_signed_and_verifiable_by_the_agent() {
    use axum::routing::post;
    use std::sync::{Arc, Mutex};
    let received: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let sink = received.clone();
    let app = axum::Router::new().route(
        "/hook",
        post(move |headers: axum::http::HeaderMap, body: String| {
            let sink = sink.clone();
            async move {
                let sig = headers["agentdeck-signature"].to_str().unwrap().to_string();
                sink.lock().unwrap().push((sig, body));
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let h = start().await;
    let r = h
        .http
        .put(h.url("/v1/agents/refund-bot/callback"))
        .bearer_auth(h.token("bot"))
        .json(&json!({"url": format!("http://{addr}/hook")}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let reg: serde_json::Value = r.json().await.unwrap();
    let secret = reg["secret"].as_str().unwrap().to_string();
    let (s, _) = h
        .post(
            "responder",
            "/v1/controls",
            json!({"agent": "refund-bot", "kind": "force_fallback", "reason": "model flaky"}),
            None,
        )
        .await;
    assert_eq!(s, 201);
    for _ in 0..100 {
        if !received.lock().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (sig, body) = received.lock().unwrap()[0].clone();
    let now = Utc::now().timestamp();
    assert_eq!(
        agentdeck::hub::callbacks::verify(&sig, &secret, &body, now),
        Ok(())
    );
    assert!(
        agentdeck::hub::callbacks::verify(&sig, &secret, &body, now + 301).is_err(),
        "replays are refused"
    );
    assert!(agentdeck::hub::callbacks::verify(&sig, "wrong", &body, now).is_err());
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["type"], "control.changed");
    assert_eq!(body["control"]["kind"], "force_fallback");
    // Lifting it reaches the agent too, signed the same way.
    let id = body["control"]["id"].as_str().unwrap().to_string();
    let r = h
        .http
        .delete(h.url(&format!("/v1/controls/{id}")))
        .bearer_auth(h.token("responder"))
        .header("Idempotency-Key", "lift-1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    for _ in 0..100 {
        if received.lock().unwrap().len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (sig, lifted) = received.lock().unwrap()[1].clone();
    assert_eq!(
        agentdeck::hub::callbacks::verify(&sig, &secret, &lifted, Utc::now().timestamp()),
        Ok(())
    );
    let lifted: serde_json::Value = serde_json::from_str(&lifted).unwrap();
    assert_eq!(lifted["type"], "control.changed");
    assert_eq!(lifted["control"]["id"], id.as_str());
    assert_eq!(lifted["control"]["state"], "lifted");
    assert_eq!(lifted["control"]["lifted_by"], "responder");
    // The delivery is in the audit log.
    let state = h
        .wait_state("delivery audited", |s| {
            s["audit"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["action"] == "callback.delivered")
        })
        .await;
    assert!(state["audit"].as_array().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_log_pages_and_chains() {
    let h = start().await;
    for i in 0..5 {
        h.post(
            "responder",
            "/v1/incidents",
            json!({"title": format!("t{i}"), "severity": "SEV4", "category": "other"}),
            None,
        )
        .await;
    }
    let (s, page) = h.get("viewer", "/v1/audit?after=2&limit=2").await;
    assert_eq!(s, 200);
    let entries = page["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0]["seq"], 3);
    assert_eq!(page["next_after"], 4);
    assert_eq!(entries[1]["prev_hash"], entries[0]["hash"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policy_needs_two_approvers_for_high_risk_and_restricts_who() {
    let policy = agentdeck::hub::policy::Policy::parse(
        "policy.toml",
        "two_person_risk = [\"high\"]\n[[approvers]]\nagent = \"refund-bot\"\nnames = [\"approver\", \"approver2\"]\n",
    )
    .unwrap();
    let h = start_with(support::Options {
        policy,
        ..Default::default()
    })
    .await;
    let now = Utc::now();
    h.post_events(
        "agent",
        approval_line("refund-bot", "q-1", now, now + Span::minutes(10)),
    )
    .await;
    let path = "/v1/approvals/APR-1/decision";
    // A lead not on the list is refused by policy.
    let (s, body) = h
        .post("lead", path, json!({"decision": "approve"}), None)
        .await;
    assert_eq!(s, 403, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("not among the approvers")
    );
    let (s, body) = h
        .post("approver", path, json!({"decision": "approve"}), None)
        .await;
    assert_eq!(s, 200);
    assert_eq!(body["state"], "pending", "one approval of two");
    let (s, _) = h
        .post("approver", path, json!({"decision": "approve"}), None)
        .await;
    assert_eq!(s, 409, "the same approver twice");
    let (s, body) = h
        .post("approver2", path, json!({"decision": "approve"}), None)
        .await;
    assert_eq!(s, 200);
    assert_eq!(body["state"], "approved");
    assert_eq!(body["decisions"].as_array().unwrap().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undecided_approvals_expire_as_rejected_and_controls_lift_on_ttl() {
    let h = start().await;
    let now = Utc::now();
    h.post_events(
        "agent",
        approval_line("refund-bot", "q-1", now, now + Span::seconds(1)),
    )
    .await;
    let (s, _) = h
        .post(
            "responder",
            "/v1/controls",
            json!({"agent": "refund-bot", "kind": "force_fallback", "reason": "try it", "ttl_s": 1}),
            None,
        )
        .await;
    assert_eq!(s, 201);
    let state = h
        .wait_state("expiry", |s| {
            s["approvals"].as_array().unwrap().is_empty()
                && s["controls"].as_array().unwrap().is_empty()
        })
        .await;
    assert!(
        state["audit"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "approval.expired")
    );
    assert!(
        state["audit"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "control.expired")
    );
    // The agent learns its request was refused.
    let (s, a) = h.get("bot", "/v1/agents/refund-bot/approvals/q-1").await;
    assert_eq!(s, 200);
    assert_eq!(a["state"], "expired");
    let r = h
        .http
        .get(h.url("/v1/agents/refund-bot/controls"))
        .bearer_auth(h.token("bot"))
        .send()
        .await
        .unwrap();
    let body: serde_json::Value = r.json().await.unwrap();
    assert!(body["controls"].as_array().unwrap().is_empty());
    // A late decision is told it expired.
    let (s, body) = h
        .post(
            "approver",
            "/v1/approvals/APR-1/decision",
            json!({"decision": "approve"}),
            None,
        )
        .await;
    assert_eq!(s, 409);
    assert!(
        body["error"].as_str().unwrap().contains("already expired"),
        "{body}"
    );
}

/// A control that runs out leaves the state in the commit that records
/// its expiry: `/v1/state` never lists it gone without `control.expired`,
/// and on the stream the expired control and its audit entry come in one
/// block of consecutive ids, with no SLO, agent or presence frame between.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expiry_and_its_audit_entry_become_visible_together() {
    let h = start().await;
    let mut stream = support::StreamClient::open(&h, "viewer", None).await;
    let snapshot = stream.until("snapshot", |_| true).await;
    let (s, control) = h
        .post(
            "responder",
            "/v1/controls",
            json!({"agent": "refund-bot", "kind": "route_to_humans", "reason": "try it", "ttl_s": 1}),
            None,
        )
        .await;
    assert_eq!(s, 201, "{control}");
    let id = control["id"].as_str().unwrap().to_string();
    // Poll the state while the TTL runs out: whenever the control is gone,
    // its expiry is in the audit list of the same answer.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let state = h.state().await;
        let listed = state["controls"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["id"] == id.as_str());
        let audited = state["audit"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "control.expired" && e["subject"] == id.as_str());
        assert!(
            listed || audited,
            "{id} gone from the state without its audit entry: {state}"
        );
        if !listed {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{id} never expired");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // On the stream.
    let expired = stream
        .until("control", |c| {
            c["id"] == id.as_str() && c["state"] == "expired"
        })
        .await;
    assert!(expired.id > snapshot.id);
    let mut last = expired.id;
    loop {
        let e = stream
            .next(Duration::from_secs(5))
            .await
            .expect("the audit entry of the expiry");
        assert_eq!(e.id, last + 1, "ids of one commit are consecutive: {e:?}");
        assert!(
            ["control", "approval", "incident", "audit"].contains(&e.event.as_str()),
            "a {} frame between the expiry and its audit entry",
            e.event
        );
        if e.event == "audit" && e.data["action"] == "control.expired" {
            assert_eq!(e.data["subject"], id.as_str());
            break;
        }
        last = e.id;
    }
}
