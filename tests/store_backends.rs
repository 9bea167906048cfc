//! Every store operation, on both backends, through the hub that uses
//! them: the same scenario runs on a hub over SQLite and on a hub over
//! PostgreSQL (a throwaway server, see `support::postgres`), and what each
//! answers must be the same. The scenario writes every kind of record a
//! `Batch` holds (journal, incidents, approvals, controls, audit,
//! idempotency, counters, callbacks, notes, profiles), reads them back
//! through every read the hub makes (history pages and searches, audit
//! pages by each filter and order, the chain check, decided approvals,
//! idempotent repeats), then restarts the hub on the same database and
//! reads them again (the load and the journal fold).

mod support;

use std::path::PathBuf;

use chrono::{Duration as Span, Utc};
use serde_json::{Value, json};
use support::postgres::PgServer;
use support::{Options, TestHub, approval_line, run_line, start_with};

/// The ids (or actions) of a list in a response, in order.
fn ids(list: &Value, field: &str) -> Vec<String> {
    list.as_array()
        .unwrap_or_else(|| panic!("a list: {list}"))
        .iter()
        .map(|v| v[field].as_str().unwrap_or_default().to_string())
        .collect()
}

/// Writes every kind of record and reads each back; returns what was
/// answered, without times (which differ between runs).
async fn write_and_read(h: &TestHub) -> Value {
    let now = Utc::now();
    let mut lines: Vec<String> = (0..30)
        .map(|i| {
            let agent = if i % 2 == 0 {
                "refund-bot"
            } else {
                "triage-bot"
            };
            let outcome = if i % 5 == 0 { "failed" } else { "success" };
            run_line(agent, &format!("r-{i}"), outcome, now)
        })
        .collect();
    for i in 1..=4 {
        lines.push(approval_line(
            "refund-bot",
            &format!("q-{i}"),
            now,
            now + Span::minutes(30),
        ));
    }
    let (s, ingest) = h.post_events("agent", lines.join("\n")).await;
    assert_eq!(s, 200, "{ingest}");

    // Decisions: an idempotent repeat gets the first answer, the same key
    // on another request 422, a second decision 409.
    let decide = |id: &str| format!("/v1/approvals/{id}/decision");
    let approve = json!({"decision": "approve", "reason": "order checked"});
    let first = h
        .post("approver", &decide("APR-1"), approve.clone(), Some("k-1"))
        .await;
    let repeat = h
        .post("approver", &decide("APR-1"), approve.clone(), Some("k-1"))
        .await;
    assert_eq!(first, repeat, "an idempotent repeat gets the first answer");
    let reused = h
        .post("approver", &decide("APR-2"), approve.clone(), Some("k-1"))
        .await;
    let reject = json!({"decision": "reject", "reason": "order 2 looks wrong"});
    let rejected = h.post("approver", &decide("APR-2"), reject, None).await;
    let again = h.post("lead", &decide("APR-1"), approve, None).await;

    // An incident opened, acknowledged and resolved; a control set and
    // lifted; a callback registered; a handoff note.
    let (s, inc) = h
        .post(
            "responder",
            "/v1/incidents",
            json!({"title": "refunds posting twice", "severity": "SEV3", "category": "data_corruption", "agent": "refund-bot"}),
            Some("open-1"),
        )
        .await;
    assert_eq!(s, 201, "{inc}");
    let inc_id = inc["id"].as_str().unwrap().to_string();
    let ack = h
        .post(
            "responder",
            &format!("/v1/incidents/{inc_id}/ack"),
            json!({}),
            None,
        )
        .await;
    let resolved = h
        .post(
            "responder",
            &format!("/v1/incidents/{inc_id}/resolve"),
            json!({"summary": "duplicate webhook"}),
            None,
        )
        .await;
    let (s, ctl) = h
        .post(
            "lead",
            "/v1/controls",
            json!({"agent": "refund-bot", "kind": "disable_tool", "tool": "issue_refund", "reason": "double refunds", "ttl_s": 600}),
            Some("c-1"),
        )
        .await;
    assert_eq!(s, 201, "{ctl}");
    let ctl_id = ctl["id"].as_str().unwrap().to_string();
    let lifted = h
        .http
        .delete(h.url(&format!("/v1/controls/{ctl_id}")))
        .bearer_auth(h.token("lead"))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16();
    let callback = h
        .put_json(
            "bot",
            "/v1/agents/refund-bot/callback",
            &json!({"url": "http://127.0.0.1:9/cb"}),
        )
        .await
        .0;
    let note = h
        .post(
            "lead",
            "/v1/handoff/notes",
            json!({"text": "watch refund-bot"}),
            None,
        )
        .await
        .0;

    let reads = read_back(h).await;
    json!({
        "ingest": ingest,
        "decided": [first.0, reused.0, rejected.0, again.0],
        // Who decided, without when.
        "conflict": again.1["error"].as_str().and_then(|e| e.split(" at ").next()),
        "incident": [ack.0, resolved.0],
        "control": lifted,
        "callback": callback,
        "note": note,
        "reads": reads,
    })
}

/// Everything the hub reads from its store, as the answers show it.
async fn read_back(h: &TestHub) -> Value {
    let (_, page1) = h.get("viewer", "/v1/history/approvals?limit=1").await;
    let next = page1["next"].as_str().unwrap_or_default().to_string();
    let (_, page2) = h
        .get(
            "viewer",
            &format!("/v1/history/approvals?limit=5&before={next}"),
        )
        .await;
    let (_, found) = h
        .get("viewer", "/v1/history/approvals?q=LOOKS%20WRONG")
        .await;
    let (_, incidents) = h.get("viewer", "/v1/history/incidents").await;
    let (_, controls) = h.get("viewer", "/v1/history/controls").await;
    let mut audit = serde_json::Map::new();
    for q in [
        "limit=100",
        "order=newest&limit=3",
        "kind=approval&limit=100",
        "actor=lead&limit=100",
        "agent=refund-bot&limit=100",
        "after=3&before=8&limit=100",
    ] {
        let (s, page) = h.get("viewer", &format!("/v1/audit?{q}")).await;
        assert_eq!(s, 200, "{q}: {page}");
        audit.insert(q.into(), json!(ids(&page["entries"], "action")));
    }
    let (_, verify) = h.get("lead", "/v1/audit/verify?full=1").await;
    let state = h.state().await;
    json!({
        "history": [ids(&page1["items"], "id"), ids(&page2["items"], "id"), ids(&found["items"], "id")],
        "incidents": ids(&incidents["items"], "id"),
        "controls": ids(&controls["items"], "id"),
        "audit": audit,
        "verify": [verify["state"], verify["entries"]],
        "approvals": ids(&state["approvals"], "state"),
        "runs": h.journaled_runs().len(),
    })
}

/// The scenario on a hub over `db`, then the reads again after a restart
/// on the same database.
async fn run(db: PathBuf) -> (Value, Value) {
    let options = || Options {
        db: Some(db.clone()),
        ..Options::default()
    };
    let h = start_with(options()).await;
    let written = write_and_read(&h).await;
    let before = written["reads"].clone();
    h.hub.stop().await;
    let h = start_with(options()).await;
    let after = read_back(&h).await;
    assert_eq!(
        before, after,
        "{db:?}: a restart reads back what was written"
    );
    // An idempotent repeat after the restart still gets the first answer.
    let repeat = h
        .post(
            "approver",
            "/v1/approvals/APR-1/decision",
            json!({"decision": "approve", "reason": "order checked"}),
            Some("k-1"),
        )
        .await;
    h.hub.stop().await;
    (written, json!(repeat.0))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_backends_store_and_read_back_the_same() {
    let Some(pg) = PgServer::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (sqlite, sqlite_repeat) = run(dir.path().join("hub.db")).await;
    let url = pg.create_database("conformance");
    let (postgres, postgres_repeat) = run(PathBuf::from(url)).await;
    assert_eq!(sqlite, postgres, "SQLite and PostgreSQL answer alike");
    assert_eq!(sqlite_repeat, json!(200));
    assert_eq!(postgres_repeat, json!(200));
    // What the scenario must have shown, whichever backend.
    assert_eq!(sqlite["decided"], json!([200, 422, 200, 409]));
    assert_eq!(sqlite["reads"]["verify"][0], "intact");
    assert_eq!(sqlite["reads"]["runs"], 30);
    let reads = &sqlite["reads"];
    assert_eq!(reads["history"][0], json!(["APR-2"]));
    assert_eq!(reads["history"][1], json!(["APR-1"]));
    assert_eq!(reads["history"][2], json!(["APR-2"]));
    assert_eq!(reads["incidents"].as_array().map(Vec::len), Some(1));
    assert_eq!(reads["controls"].as_array().map(Vec::len), Some(1));
    for (q, actions) in reads["audit"].as_object().unwrap() {
        assert!(
            !actions.as_array().unwrap().is_empty(),
            "audit page {q} is empty"
        );
    }
}
