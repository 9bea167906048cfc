//! The History and Audit screens' reads against a real hub over loopback
//! HTTP, through the typed client: history pages that neither repeat nor
//! skip while decisions keep arriving, searches, refused queries, the audit
//! log newest first with its filters, and the chain check before and after
//! the database is edited by hand.

mod support;

use std::collections::BTreeSet;
use std::path::Path;

use agentdeck::client::hub::{Hub, HubError};
use agentdeck::model::approval::ApprovalState;
use agentdeck::model::audit::{AuditChain, AuditOrder, AuditQuery};
use agentdeck::model::control::ControlState;
use agentdeck::model::history::{HistoryPage, HistoryQuery};
use chrono::{Duration as Span, Utc};
use serde_json::{Value, json};
use support::{TestHub, approval_line};

fn client(h: &TestHub, token: &str) -> Hub {
    Hub::new(support::client(), &h.hub.url(), h.token(token))
}

/// A pending approval of `agent` with request id `rq`: its `APR-n`.
async fn ask(h: &TestHub, agent: &str, rq: &str) -> String {
    let now = Utc::now();
    let (status, answer) = h
        .post_events(
            "agent",
            approval_line(agent, rq, now, now + Span::minutes(30)),
        )
        .await;
    assert!(
        status == 200 && answer["accepted"] == 1,
        "{status} {answer}"
    );
    let find = |s: &Value| {
        s["approvals"].as_array().and_then(|list| {
            list.iter()
                .find(|a| a["request_id"] == rq && a["agent"] == agent)
                .and_then(|a| a["id"].as_str())
                .map(str::to_string)
        })
    };
    let state = h
        .wait_state(&format!("approval {rq}"), |s| find(s).is_some())
        .await;
    find(&state).unwrap()
}

/// Asks for an approval and decides it: even `n` approved, odd rejected.
async fn decided(h: &TestHub, agent: &str, n: u32) -> String {
    let id = ask(h, agent, &format!("rq-{agent}-{n}")).await;
    let body = if n.is_multiple_of(2) {
        json!({"decision": "approve", "reason": format!("Checked order {n}")})
    } else {
        json!({"decision": "reject", "reason": format!("Duplicate of order {n}")})
    };
    let (status, answer) = h
        .post(
            "approver",
            &format!("/v1/approvals/{id}/decision"),
            body,
            None,
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    id
}

fn refused(r: Result<impl std::fmt::Debug, HubError>, status: u16, words: &[&str]) {
    match r {
        Err(HubError::Refused { status: s, body }) => {
            assert_eq!(s, status, "{}", body.error);
            for w in words {
                assert!(body.error.contains(w), "{w:?} not in {:?}", body.error);
            }
        }
        other => panic!("expected a {status}, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approval_history_pages_never_repeat_or_skip_while_decisions_arrive() {
    let h = support::start().await;
    let viewer = client(&h, "viewer");
    let mut want = Vec::new();
    for n in 0..12 {
        want.push(decided(&h, "refund-bot", n).await);
    }
    ask(&h, "refund-bot", "rq-still-open").await;
    want.reverse(); // newest first
    let mut seen: Vec<String> = Vec::new();
    let mut q = HistoryQuery {
        limit: Some(5),
        ..HistoryQuery::default()
    };
    let mut pages = 0;
    loop {
        let page = viewer.approval_history(&q).await.expect("a page");
        pages += 1;
        seen.extend(page.items.iter().map(|r| r.id.clone()));
        let Some(next) = page.next else { break };
        // Decided while the operator pages: newer than every page.
        decided(&h, "triage-bot", 100 + pages).await;
        q.before = Some(next);
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, want, "every decision once, newest first");
    let newest = viewer
        .approval_history(&HistoryQuery::default())
        .await
        .unwrap();
    assert_eq!(newest.items.len(), 12 + 2);
    assert_eq!(newest.items[0].agent, "triage-bot");
    assert!(newest.next.is_none());

    let r = newest.items.iter().find(|r| r.id == want[0]).unwrap();
    assert_eq!(r.decision, ApprovalState::Rejected); // n = 11
    assert_eq!(r.decided_by.as_deref(), Some("approver"));
    assert_eq!(r.reason.as_deref(), Some("Duplicate of order 11"));
    assert!(r.decided_at >= r.requested_at && r.waited_s < 60, "{r:?}");
    assert_eq!(r.decisions.len(), 1);
    h.hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_searches_and_refuses_bad_queries() {
    let h = support::start().await;
    let viewer = client(&h, "viewer");
    for n in 0..4 {
        decided(&h, "refund-bot", n).await;
        decided(&h, "triage-bot", n + 10).await;
    }
    let search = |q: &str| HistoryQuery {
        q: Some(q.into()),
        ..HistoryQuery::default()
    };
    let ids = |p: HistoryPage<agentdeck::model::history::ApprovalRecord>| {
        p.items
            .into_iter()
            .map(|r| (r.agent, r.reason.unwrap_or_default()))
            .collect::<Vec<_>>()
    };
    let hits = ids(viewer.approval_history(&search("DUPLICATE")).await.unwrap());
    assert_eq!(hits.len(), 4, "{hits:?}");
    assert!(hits.iter().all(|(_, r)| r.starts_with("Duplicate")));
    let hits = ids(viewer.approval_history(&search("triage")).await.unwrap());
    assert_eq!(hits.len(), 4);
    let hits = ids(viewer.approval_history(&search("order 12")).await.unwrap());
    assert_eq!(hits, [("triage-bot".into(), "Checked order 12".into())]);
    assert!(
        viewer
            .approval_history(&search("nothing like it"))
            .await
            .unwrap()
            .items
            .is_empty()
    );
    // An empty search is a cleared filter.
    assert_eq!(
        viewer
            .approval_history(&search(""))
            .await
            .unwrap()
            .items
            .len(),
        8
    );

    let query = |limit: Option<usize>, before: Option<&str>, q: Option<&str>| HistoryQuery {
        limit,
        before: before.map(str::to_string),
        q: q.map(str::to_string),
    };
    refused(
        viewer.approval_history(&query(Some(0), None, None)).await,
        400,
        &["\"limit\"", "1 to 500"],
    );
    refused(
        viewer.incident_history(&query(Some(501), None, None)).await,
        400,
        &["\"limit\""],
    );
    assert_eq!(
        viewer
            .approval_history(&query(Some(500), None, None))
            .await
            .unwrap()
            .items
            .len(),
        8
    );
    refused(
        viewer
            .control_history(&query(None, Some("not-a-cursor"), None))
            .await,
        400,
        &["\"before\""],
    );
    let long = "x".repeat(129);
    refused(
        viewer
            .approval_history(&query(None, None, Some(&long)))
            .await,
        400,
        &["\"q\"", "128"],
    );
    refused(
        viewer
            .approval_history(&query(None, None, Some("a\u{1b}[2J")))
            .await,
        400,
        &["\"q\"", "control"],
    );
    // A cursor of one list is refused by another.
    let page = viewer
        .approval_history(&query(Some(1), None, None))
        .await
        .unwrap();
    let cursor = page.next.expect("more than one approval");
    refused(
        viewer
            .incident_history(&query(None, Some(&cursor), None))
            .await,
        400,
        &["\"before\"", "approvals history"],
    );
    // Raw query strings: a limit that is not a number, an unknown parameter.
    for path in [
        "/v1/history/approvals?limit=ten",
        "/v1/history/approvals?befor=x",
    ] {
        let (status, body) = h.get("viewer", path).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert!(
            body["error"]
                .as_str()
                .is_some_and(|e| e.contains("limit") || e.contains("befor")),
            "{body}"
        );
    }
    h.hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incidents_and_controls_show_their_times_and_people() {
    let h = support::start().await;
    let viewer = client(&h, "viewer");
    let open = |title: &str| json!({"title": title, "severity": "SEV2", "category": "tool_failure", "agent": "refund-bot"});
    let (_, worked) = h
        .post("responder", "/v1/incidents", open("refunds failing"), None)
        .await;
    let worked = worked["id"].as_str().unwrap().to_string();
    let (_, quiet) = h
        .post("lead", "/v1/incidents", open("quiet one"), None)
        .await;
    let quiet = quiet["id"].as_str().unwrap().to_string();
    let act = |id: &str, verb: &str| format!("/v1/incidents/{id}/{verb}");
    assert_eq!(
        h.post("responder", &act(&worked, "ack"), json!({}), None)
            .await
            .0,
        200
    );
    let resolve = json!({"summary": "tool restored"});
    assert_eq!(
        h.post("lead", &act(&worked, "resolve"), resolve.clone(), None)
            .await
            .0,
        200
    );
    assert_eq!(
        h.post("lead", &act(&quiet, "resolve"), resolve, None)
            .await
            .0,
        200
    );
    let page = viewer
        .incident_history(&HistoryQuery::default())
        .await
        .unwrap();
    assert_eq!(
        page.items.iter().map(|i| i.id.as_str()).collect::<Vec<_>>(),
        [quiet.as_str(), worked.as_str()]
    );
    let w = &page.items[1];
    assert_eq!(w.owner.as_deref(), Some("responder"));
    assert_eq!(w.resolved_by.as_deref(), Some("lead"));
    assert!(w.mtta_s.is_some_and(|s| s <= w.mttr_s), "{w:?}");
    assert_eq!(
        page.items[0].mtta_s, None,
        "resolved without an acknowledgement"
    );
    let hits = viewer
        .incident_history(&HistoryQuery {
            q: Some("Refunds Fail".into()),
            ..HistoryQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(hits.items.len(), 1);

    let control = |ttl_s: u64| json!({"agent": "refund-bot", "kind": "force_fallback", "reason": "contain", "ttl_s": ttl_s});
    let (_, lifted) = h
        .post("responder", "/v1/controls", control(600), None)
        .await;
    let lifted = lifted["id"].as_str().unwrap().to_string();
    let r = h
        .http
        .delete(h.url(&format!("/v1/controls/{lifted}")))
        .bearer_auth(h.token("responder"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (_, expired) = h.post("responder", "/v1/controls", control(1), None).await;
    let expired = expired["id"].as_str().unwrap().to_string();
    h.post("responder", "/v1/controls", control(600), None)
        .await; // still active
    let mut page = viewer
        .control_history(&HistoryQuery::default())
        .await
        .unwrap();
    for _ in 0..100 {
        if page.items.len() == 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        page = viewer
            .control_history(&HistoryQuery::default())
            .await
            .unwrap();
    }
    let states: Vec<_> = page
        .items
        .iter()
        .map(|c| (c.id.clone(), c.state, c.lifted_by.clone()))
        .collect();
    assert_eq!(
        states,
        [
            (expired, ControlState::Expired, None),
            (lifted, ControlState::Lifted, Some("responder".into()))
        ]
    );
    h.hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_view_pages_newest_first_with_filters() {
    let h = support::start().await;
    let viewer = client(&h, "viewer");
    let mut refund = BTreeSet::new();
    for n in 0..6 {
        refund.insert(decided(&h, "refund-bot", n).await);
        decided(&h, "triage-bot", n).await;
    }
    let (_, c) = h
        .post(
            "lead",
            "/v1/controls",
            json!({"agent": "refund-bot", "kind": "route_to_humans", "reason": "r"}),
            None,
        )
        .await;
    refund.insert(c["id"].as_str().unwrap().to_string());

    // The whole log, oldest first, as followers read it.
    let all = viewer
        .audit(&AuditQuery {
            limit: Some(1000),
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(all.next_before, None);
    let head = all.entries.last().unwrap().seq;
    assert_eq!(all.next_after, head);
    assert_eq!(all.entries.len() as u64, head);

    // Newest first, 5 at a time, while entries keep arriving.
    let mut q = AuditQuery {
        order: Some(AuditOrder::Newest),
        limit: Some(5),
        ..AuditQuery::default()
    };
    let mut seqs = Vec::new();
    let mut pages = 0;
    loop {
        let page = viewer.audit(&q).await.unwrap();
        pages += 1;
        if pages == 1 {
            assert_eq!(page.next_after, head);
        }
        seqs.extend(page.entries.iter().map(|e| e.seq));
        decided(&h, "triage-bot", 50 + pages).await;
        match page.next_before {
            Some(b) => q.before = Some(b),
            None => break,
        }
    }
    assert!(pages > 2);
    assert_eq!(seqs, (1..=head).rev().collect::<Vec<_>>());

    let newest = |f: &dyn Fn(&mut AuditQuery)| {
        let mut q = AuditQuery {
            before: Some(head + 1),
            limit: Some(1000),
            ..AuditQuery::default()
        };
        f(&mut q);
        q
    };
    let page = viewer
        .audit(&newest(&|q| q.actor = Some("approver".into())))
        .await
        .unwrap();
    assert_eq!(page.entries.len(), 12);
    assert!(
        page.entries
            .iter()
            .all(|e| e.actor == "approver" && e.action == "approval.decided")
    );
    assert!(page.entries.windows(2).all(|w| w[0].seq > w[1].seq));
    for kind in ["approval", "approval."] {
        let page = viewer
            .audit(&newest(&|q| q.kind = Some(kind.into())))
            .await
            .unwrap();
        assert_eq!(page.entries.len(), 24, "{kind}: requested and decided");
    }
    let page = viewer
        .audit(&newest(&|q| q.kind = Some("approval.decided".into())))
        .await
        .unwrap();
    assert_eq!(page.entries.len(), 12);
    assert!(
        viewer
            .audit(&newest(&|q| q.kind = Some("approval.dec".into())))
            .await
            .unwrap()
            .entries
            .is_empty()
    );
    let page = viewer
        .audit(&newest(&|q| q.agent = Some("refund-bot".into())))
        .await
        .unwrap();
    let subjects: BTreeSet<String> = page.entries.iter().map(|e| e.subject.clone()).collect();
    assert_eq!(
        subjects, refund,
        "decisions by subject, the control by its details"
    );
    assert_eq!(page.entries.len(), 13);
    let both = viewer
        .audit(&newest(&|q| {
            q.agent = Some("refund-bot".into());
            q.kind = Some("control".into());
        }))
        .await
        .unwrap();
    assert_eq!(both.entries.len(), 1);
    refused(
        viewer
            .audit(&newest(&|q| q.agent = Some("no such agent".into())))
            .await,
        400,
        &["\"agent\""],
    );
    refused(
        viewer
            .audit(&newest(&|q| q.actor = Some("a\nb".into())))
            .await,
        400,
        &["\"actor\""],
    );
    h.hub.stop().await;
}

/// Opens the hub's database and runs `sql`, as someone editing it by hand.
fn tamper(db: &Path, sql: &str) {
    let conn = rusqlite::Connection::open(db).expect("open the database");
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .unwrap();
    conn.execute_batch(sql).expect("tamper");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chain_check_finds_an_edited_entry() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("hub.db");
    let options = || support::Options {
        db: Some(db.clone()),
        ..support::Options::default()
    };
    let h = support::start_with(options()).await;
    let (viewer, lead) = (client(&h, "viewer"), client(&h, "lead"));
    for n in 0..3 {
        decided(&h, "refund-bot", n).await;
    }
    let AuditChain::Intact { entries, head, .. } = viewer.audit_verify(false).await.unwrap() else {
        panic!("an untouched log verifies");
    };
    assert_eq!(entries, 6);
    let last = viewer
        .audit(&AuditQuery {
            order: Some(AuditOrder::Newest),
            limit: Some(1),
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(last.entries[0].hash, head);
    // Entries written since are checked by the next call.
    decided(&h, "refund-bot", 3).await;
    assert!(matches!(
        viewer.audit_verify(false).await.unwrap(),
        AuditChain::Intact { entries: 8, .. }
    ));
    refused(viewer.audit_verify(true).await, 403, &["lead"]);

    // An entry behind the verified head, edited under the running hub:
    // the next check of new entries cannot see it, a whole walk does.
    tamper(&db, "UPDATE audit SET actor = 'mallory' WHERE seq = 2;");
    assert!(matches!(
        viewer.audit_verify(false).await.unwrap(),
        AuditChain::Intact { .. }
    ));
    match lead.audit_verify(true).await.unwrap() {
        AuditChain::Broken { at, reason, .. } => {
            assert_eq!(at, 2);
            assert!(reason.contains("altered"), "{reason}");
        }
        other => panic!("expected broken at 2, got {other:?}"),
    }
    // A break stays the answer until a whole walk finds the log intact.
    assert!(matches!(
        viewer.audit_verify(false).await.unwrap(),
        AuditChain::Broken { at: 2, .. }
    ));
    tamper(&db, "UPDATE audit SET actor = 'approver' WHERE seq = 2;");
    assert!(matches!(
        viewer.audit_verify(false).await.unwrap(),
        AuditChain::Broken { at: 2, .. }
    ));
    assert!(matches!(
        lead.audit_verify(true).await.unwrap(),
        AuditChain::Intact { entries: 8, .. }
    ));
    h.hub.stop().await;

    // Edited while the hub was down: the walk at start finds it.
    tamper(
        &db,
        "UPDATE audit SET details = '{\"state\":\"rejected\"}' WHERE seq = 5;",
    );
    let h = support::start_with(options()).await;
    match client(&h, "viewer").audit_verify(false).await.unwrap() {
        AuditChain::Broken { at, .. } => assert_eq!(at, 5),
        other => panic!("expected broken at 5, got {other:?}"),
    }
    h.hub.stop().await;
}
