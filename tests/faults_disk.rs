//! Disk faults under a real hub and a real SQLite file: the disk fills up,
//! or the database turns read-only, while the hub runs.
//!
//! How the faults are made: as root (which these machines run tests as)
//! file permissions do not stop writes, and a small tmpfs needs a mount, so
//! the faults are imposed on the hub's own SQLite connection instead:
//! `PRAGMA max_page_count` at the pages in use makes every write that needs
//! room fail with `SQLITE_FULL` ("database or disk is full") exactly as a
//! full disk does, through the same rollback; `PRAGMA query_only` makes
//! every write fail with `SQLITE_READONLY`, as a file or filesystem gone
//! read-only does. Lifting them is the disk coming back.
//!
//! The hub must refuse writes with 503 naming storage, keep serving reads
//! (state, stream, health saying degraded), recover by itself, and lose
//! nothing it acknowledged: everything that got a 2xx is there after
//! recovery and after a restart, and nothing refused was half-applied.

mod support;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agentdeck::client::actions::{self, ActionConfig, Method, Outcome, Request};
use agentdeck::hub::lock;
use chrono::{Duration as Span, Utc};
use serde_json::{Value, json};
use support::{Options, StreamClient, TestHub, approval_line, run_line, start_with};
use tokio::sync::mpsc;

/// Batches posted at most while waiting for the disk to be full.
const MAX_BATCHES: u32 = 500;

/// What the hub acknowledged.
#[derive(Debug, Default)]
struct Acked {
    /// Event lines accepted with a 2xx.
    lines: u64,
    /// Approval `request_id`s accepted with a 2xx.
    requests: Vec<String>,
}

/// One batch: 20 runs and an approval request, every event with an id.
fn batch(n: u32) -> (String, String) {
    let now = Utc::now();
    let mut lines: Vec<String> = (0..20)
        .map(|i| {
            run_line("refund-bot", &format!("r-{n}-{i}"), "success", now).replacen(
                "{",
                &format!("{{\"id\":\"e-{n}-{i}\","),
                1,
            )
        })
        .collect();
    let request = format!("q-{n}");
    lines.push(
        approval_line("refund-bot", &request, now, now + Span::minutes(30)).replacen(
            "{",
            &format!("{{\"id\":\"a-{n}\","),
            1,
        ),
    );
    (lines.join("\n"), request)
}

/// Posts batch `n`; the status, and what it acknowledged.
async fn post_batch(h: &TestHub, n: u32, acked: &mut Acked) -> (u16, Value) {
    let (body, request) = batch(n);
    let (status, answer) = h.post_events("agent", body).await;
    if (200..300).contains(&status) {
        assert!(
            answer["rejected"].as_array().unwrap().is_empty(),
            "{answer}"
        );
        acked.lines += answer["accepted"].as_u64().unwrap();
        acked.requests.push(request);
    }
    (status, answer)
}

async fn health(h: &TestHub) -> (u16, String) {
    let r = h.http.get(h.url("/healthz")).send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// Journalled events, read from the file itself.
fn journal_rows(db: &Path) -> u64 {
    agentdeck::hub::store::Store::open_read_only(db)
        .unwrap()
        .for_each_event(0, |_| {})
        .unwrap()
}

/// Checks that every acknowledged approval request is on the hub, and the
/// audit chain is whole.
async fn assert_all_acknowledged_present(h: &TestHub, acked: &Acked) {
    for request in &acked.requests {
        let (s, body) = h
            .get("bot", &format!("/v1/agents/refund-bot/approvals/{request}"))
            .await;
        assert_eq!(s, 200, "acknowledged {request} lost: {body}");
    }
    let mut entries = Vec::new();
    let mut after = 0;
    loop {
        let (s, body) = h
            .get("lead", &format!("/v1/audit?after={after}&limit=1000"))
            .await;
        assert_eq!(s, 200);
        let page: Vec<agentdeck::model::audit::AuditEntry> =
            serde_json::from_value(body["entries"].clone()).unwrap();
        if page.is_empty() {
            break;
        }
        after = page.last().unwrap().seq;
        entries.extend(page);
    }
    agentdeck::hub::audit::verify_chain(&entries).expect("audit chain intact");
}

/// The real action sender, straight to the hub.
fn action_sender(
    h: &TestHub,
    token: &str,
) -> (mpsc::Sender<Request>, mpsc::Receiver<(u64, Outcome)>) {
    let (req_tx, req_rx) = mpsc::channel(16);
    let (out_tx, out_rx) = mpsc::channel(256);
    let cancelled: actions::Cancelled = Arc::new(Mutex::new(Default::default()));
    tokio::spawn(actions::run_with(
        h.hub.url(),
        h.token(token).to_string(),
        req_rx,
        out_tx,
        cancelled,
        ActionConfig::default(),
    ));
    (req_tx, out_rx)
}

async fn next_outcome(rx: &mut mpsc::Receiver<(u64, Outcome)>) -> Outcome {
    tokio::time::timeout(Duration::from_secs(90), rx.recv())
        .await
        .expect("no outcome")
        .expect("action sender gone")
        .1
}

/// Everything but the fault: fill, refuse, read, recover, restart.
async fn storage_fault(
    impose: impl Fn(&TestHub),
    lift: impl Fn(&TestHub),
    expect: &str,
    first_write_fails: bool,
) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("hub.db");
    let options = || Options {
        db: Some(db.clone()),
        ..Options::default()
    };
    let h = start_with(options()).await;
    let mut acked = Acked::default();
    let mut n = 0;
    for _ in 0..3 {
        n += 1;
        assert_eq!(post_batch(&h, n, &mut acked).await.0, 200);
    }
    let mut stream = StreamClient::open(&h, "viewer", None).await;
    let first = stream.next(Duration::from_secs(30)).await.unwrap();
    assert_eq!(first.event, "snapshot");

    impose(&h);
    // Write until the disk refuses: at once when read-only; a full disk may
    // still take a few writes into free pages.
    let (status, refusal) = loop {
        n += 1;
        let (status, answer) = post_batch(&h, n, &mut acked).await;
        if status != 200 || n > MAX_BATCHES {
            break (status, answer);
        }
        assert!(!first_write_fails, "a write got through: {answer}");
    };
    let writes_taken = n - 4;
    assert_eq!(status, 503, "{refusal}");
    let message = refusal["error"].as_str().unwrap().to_string();
    assert!(message.starts_with("storage unavailable: "), "{message}");
    assert!(message.contains(expect), "{message}");
    assert!(message.contains("nothing was applied"), "{message}");
    assert_eq!(
        journal_rows(&db),
        acked.lines,
        "a refused batch was journalled"
    );
    // Health says why, right after a refused write.
    let (s, text) = health(&h).await;
    assert_eq!(s, 200, "{text}");
    assert!(
        text.starts_with("degraded: storage unavailable: "),
        "{text}"
    );
    assert!(text.contains(expect), "{text}");

    // A full disk still takes what fits in free pages, as a real one takes
    // what fits in the WAL it already has: fill it with single events.
    let mut small = 0;
    while !first_write_fails && small < MAX_BATCHES {
        small += 1;
        let line = run_line("refund-bot", &format!("s-{small}"), "success", Utc::now()).replacen(
            "{",
            &format!("{{\"id\":\"s-{small}\","),
            1,
        );
        let (status, answer) = h.post_events("agent", line).await;
        match status {
            200 => acked.lines += answer["accepted"].as_u64().unwrap(),
            503 => break,
            other => panic!("{other}: {answer}"),
        }
    }
    // Every kind of write is either stored and answered 2xx, or refused with
    // 503 naming storage and not applied at all.
    let mut controls = Vec::new();
    let mut refused = 0;
    let mut i = 0;
    while refused < 3 && i < MAX_BATCHES {
        i += 1;
        let (s, body) = h
            .post(
                "responder",
                "/v1/controls",
                json!({"agent": "refund-bot", "kind": "force_fallback", "reason": format!("model flaky {i}")}),
                Some(&format!("ctl-during-fault-{i}")),
            )
            .await;
        match s {
            201 if !first_write_fails => controls.push(body["id"].as_str().unwrap().to_string()),
            503 => {
                refused += 1;
                assert!(body["error"].as_str().unwrap().contains(expect), "{body}");
            }
            _ => panic!("{s}: {body}"),
        }
    }
    assert_eq!(refused, 3, "controls were never refused");
    // Reads are served: the state and a new stream hold exactly what was
    // acknowledged.
    let state = h.state().await;
    let held: Vec<&str> = state["controls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(held, controls);
    assert_eq!(
        state["approvals"].as_array().unwrap().len(),
        acked.requests.len()
    );
    let mut late = StreamClient::open(&h, "lead", None).await;
    let snap = late.next(Duration::from_secs(30)).await.unwrap();
    assert_eq!(snap.event, "snapshot");
    assert_eq!(
        snap.data["approvals"].as_array().unwrap().len(),
        acked.requests.len()
    );

    // An operator's decision is retried by the client through the outage...
    let (tx, mut rx) = action_sender(&h, "approver");
    tx.send(Request {
        id: 1,
        method: Method::Post,
        path: "/v1/approvals/APR-1/decision".into(),
        body: Some(json!({"decision": "approve"})),
        key: actions::new_key(),
    })
    .await
    .unwrap();
    let mut outcome = next_outcome(&mut rx).await;
    if let Outcome::Retrying { error, .. } = &outcome {
        assert!(error.contains("503") && error.contains(expect), "{error}");
    } else {
        // Only a full disk may still have had room for it.
        assert!(
            !first_write_fails,
            "the decision was not refused: {outcome:?}"
        );
    }

    // ...and applied once when the disk comes back, with no restart.
    lift(&h);
    let mut retries = 0;
    let done = loop {
        match outcome {
            Outcome::Retrying { .. } => {
                retries += 1;
                outcome = next_outcome(&mut rx).await;
            }
            other => break other,
        }
    };
    let Outcome::Done(answer) = done else {
        panic!("{done:?}")
    };
    assert_eq!(answer["state"], "approved");
    assert_eq!(health(&h).await, (200, "ok\n".to_string()));
    n += 1;
    assert_eq!(post_batch(&h, n, &mut acked).await.0, 200);
    assert_eq!(journal_rows(&db), acked.lines);
    assert_all_acknowledged_present(&h, &acked).await;
    assert_eq!(
        h.state().await["controls"].as_array().unwrap().len(),
        controls.len()
    );
    // A refused write consumed no id: approvals are APR-1, APR-2, … with
    // no gap, however many requests were refused in between.
    let mut numbers: Vec<u64> = Vec::new();
    for request in &acked.requests {
        let (_, body) = h
            .get("bot", &format!("/v1/agents/refund-bot/approvals/{request}"))
            .await;
        let id = body["id"].as_str().unwrap();
        numbers.push(id.trim_start_matches("APR-").parse().unwrap());
    }
    numbers.sort_unstable();
    assert_eq!(
        numbers,
        (1..=acked.requests.len() as u64).collect::<Vec<_>>(),
        "approval ids skip a number"
    );

    // The stream open through it all saw every delta once, in order.
    let mut ids = vec![first.id];
    let last_request = acked.requests.last().unwrap().clone();
    loop {
        let e = stream
            .next(Duration::from_secs(30))
            .await
            .expect("the stream open through the fault stopped");
        ids.push(e.id);
        if e.event == "approval" && e.data["request_id"] == last_request.as_str() {
            break;
        }
    }
    assert!(ids.windows(2).all(|w| w[1] == w[0] + 1), "{ids:?}");

    // After a restart, everything acknowledged is still there. (A graceful
    // stop waits for open streams to end.)
    drop((stream, late, tx));
    let TestHub {
        hub, dir: _hub_dir, ..
    } = h;
    hub.stop().await;
    let h = start_with(options()).await;
    assert_all_acknowledged_present(&h, &acked).await;
    assert_eq!(journal_rows(&db), acked.lines);
    let (s, body) = h.get("bot", "/v1/agents/refund-bot/approvals/q-1").await;
    assert_eq!(s, 200);
    assert_eq!(body["state"], "approved");
    assert_eq!(body["decisions"].as_array().unwrap().len(), 1);
    let state = h.state().await;
    let held: Vec<&str> = state["controls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(held, controls);
    eprintln!(
        "{expect}: {writes_taken} batches and {small} single events taken after the fault, then 503; controls until {refused} refused; decision retried {retries} times; {} lines, {} approvals, {} controls acknowledged, all present after recovery and restart; {} stream deltas once each",
        acked.lines,
        acked.requests.len(),
        controls.len(),
        ids.len() - 1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_writes_with_503_serves_reads_and_recovers() {
    storage_fault(
        |h| {
            // The cap cannot go below the pages in use: this is "full now".
            lock(&h.hub.core)
                .store()
                .sqlite()
                .expect("a SQLite hub")
                .set_max_pages(Some(1))
                .unwrap();
        },
        |h| {
            lock(&h.hub.core)
                .store()
                .sqlite()
                .expect("a SQLite hub")
                .set_max_pages(None)
                .unwrap();
        },
        "database or disk is full",
        false,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_database_refuses_writes_with_503_serves_reads_and_recovers() {
    storage_fault(
        |h| {
            lock(&h.hub.core)
                .store()
                .sqlite()
                .expect("a SQLite hub")
                .set_read_only(true)
                .unwrap()
        },
        |h| {
            lock(&h.hub.core)
                .store()
                .sqlite()
                .expect("a SQLite hub")
                .set_read_only(false)
                .unwrap()
        },
        "read-only",
        true,
    )
    .await;
}

/// Retention drops journalled events past the window in the background,
/// and nothing else: incidents, approvals and the audit log stay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_drops_old_events_and_keeps_decisions_and_audit() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("hub.db");
    let h = start_with(Options {
        db: Some(db.clone()),
        ..Options::default()
    })
    .await;
    let now = Utc::now();
    let old: Vec<String> = (0..5)
        .map(|i| {
            run_line(
                "refund-bot",
                &format!("old-{i}"),
                "success",
                now - Span::hours(3),
            )
        })
        .collect();
    assert_eq!(h.post_events("agent", old.join("\n")).await.0, 200);
    let mut fresh: Vec<String> = (0..5)
        .map(|i| run_line("refund-bot", &format!("new-{i}"), "success", now))
        .collect();
    fresh.push(approval_line(
        "refund-bot",
        "q-kept",
        now,
        now + Span::minutes(30),
    ));
    assert_eq!(h.post_events("agent", fresh.join("\n")).await.0, 200);
    assert_eq!(h.journaled_runs().len(), 10);
    let audit_before = h.get("lead", "/v1/audit?limit=1000").await.1;
    h.hub.stop().await;

    // The same database under a one-hour window: the old request goes at
    // the first pass, without a request to trigger it.
    let h = start_with(Options {
        db: Some(db.clone()),
        retain_events: Duration::from_secs(3600),
        ..Options::default()
    })
    .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while h.journaled_runs().len() > 5 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "old events still journalled: {:?}",
            h.journaled_runs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let kept: Vec<String> = h
        .journaled_runs()
        .into_iter()
        .map(|(_, r)| r.run_id)
        .collect();
    assert_eq!(kept, (0..5).map(|i| format!("new-{i}")).collect::<Vec<_>>());
    let (s, approval) = h.get("bot", "/v1/agents/refund-bot/approvals/q-kept").await;
    assert_eq!((s, approval["state"].as_str()), (200, Some("pending")));
    assert_eq!(h.get("lead", "/v1/audit?limit=1000").await.1, audit_before);
}
