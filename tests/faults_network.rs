//! Network faults between the TUI's client and a real hub, injected by a
//! loopback proxy (tests/support/proxy.rs): a connection that hangs, a
//! partition that hangs reconnections too, a cut inside an event's bytes, a
//! slow link; and actions whose answer is lost to a hang or a cut.
//!
//! The feed must notice a silent connection by the missing heartbeat,
//! reconnect and resume with every delta exactly once and in order; an
//! action must be applied exactly once however often it is retried.
//! Deadlines are generous: these run on busy shared machines.

mod support;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use agentdeck::client::actions::{self, ActionConfig, Method, Outcome, Request};
use agentdeck::client::feed::{self, FeedConfig, FeedMsg};
use agentdeck::model::stream::Delta;
use chrono::{Duration as Span, Utc};
use serde_json::json;
use support::proxy::{CutAt, Fault, Proxy};
use support::{TestHub, approval_line, start};
use tokio::sync::mpsc;

/// Longest wait for anything the tests expect; only reached on failure.
const DEADLINE: Duration = Duration::from_secs(90);
/// The idle timeout the tests give the feed: half the production value, and
/// still one and a half heartbeats, so a healthy idle stream is never dropped.
const TEST_IDLE: Duration = Duration::from_secs(15);

/// Everything a feed said, in order, with when it said it.
struct Feed {
    rx: mpsc::Receiver<FeedMsg>,
    seen: Vec<(Instant, FeedMsg)>,
}

impl Feed {
    /// Starts the real feed client on `url` as the viewer.
    fn start(h: &TestHub, url: String, config: FeedConfig) -> Self {
        let (tx, rx) = mpsc::channel(65_536);
        tokio::spawn(feed::run_with(
            url,
            h.token("viewer").to_string(),
            tx,
            config,
        ));
        Self {
            rx,
            seen: Vec::new(),
        }
    }

    /// Reads messages until one satisfies `f`, and returns it.
    async fn until(&mut self, what: &str, f: impl Fn(&FeedMsg) -> bool) -> FeedMsg {
        let end = tokio::time::Instant::now() + DEADLINE;
        loop {
            let msg = tokio::time::timeout_at(end, self.rx.recv())
                .await
                .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
                .unwrap_or_else(|| panic!("feed ended waiting for {what}"));
            self.seen.push((Instant::now(), msg.clone()));
            if f(&msg) {
                return msg;
            }
        }
    }

    /// Reads until the approvals named have all arrived as deltas.
    async fn until_approvals(&mut self, ids: &[&str]) {
        for id in ids {
            self.until(
                &format!("approval {id}"),
                |m| matches!(m, FeedMsg::Delta(_, Delta::Approval(a)) if a.id == *id),
            )
            .await;
        }
    }

    /// The snapshot's seq and every delta id after it, in arrival order.
    fn ids(&self) -> (u64, Vec<u64>) {
        let mut snap = None;
        let mut ids = Vec::new();
        for (_, m) in &self.seen {
            match m {
                FeedMsg::Snapshot(s) if snap.is_none() => snap = Some(s.seq),
                FeedMsg::Snapshot(_) => panic!("a resume inside the replay window resnapshotted"),
                FeedMsg::Delta(id, _) => ids.push(*id),
                _ => {}
            }
        }
        (snap.expect("no snapshot"), ids)
    }

    /// Asserts every delta after the snapshot arrived once, in order.
    fn assert_exactly_once_in_order(&self) -> usize {
        let (seq, ids) = self.ids();
        assert_eq!(ids.first(), Some(&(seq + 1)), "first delta: {ids:?}");
        for w in ids.windows(2) {
            assert_eq!(w[1], w[0] + 1, "a gap or a duplicate: {ids:?}");
        }
        ids.len()
    }

    fn count(&self, f: impl Fn(&FeedMsg) -> bool) -> usize {
        self.seen.iter().filter(|(_, m)| f(m)).count()
    }

    /// Approval ids in the order their deltas arrived (repeats kept).
    fn approvals(&self) -> Vec<String> {
        self.seen
            .iter()
            .filter_map(|(_, m)| match m {
                FeedMsg::Delta(_, Delta::Approval(a)) => Some(a.id.clone()),
                _ => None,
            })
            .collect()
    }
}

async fn request_approvals(h: &TestHub, from: u32, to: u32) {
    let now = Utc::now();
    let lines: Vec<String> = (from..=to)
        .map(|i| {
            approval_line(
                "refund-bot",
                &format!("q-{i}"),
                now,
                now + Span::minutes(30),
            )
        })
        .collect();
    let (status, body) = h.post_events("agent", lines.join("\n")).await;
    assert_eq!(status, 200, "{body}");
}

fn is_reconnecting(m: &FeedMsg) -> bool {
    matches!(m, FeedMsg::Reconnecting { .. })
}

#[test]
fn the_idle_timeout_is_at_most_5_s_and_outlasts_heartbeats() {
    let heartbeat = agentdeck::hub::stream::HEARTBEAT;
    // A lost hub is noticed, and a restarted one found, within 5 s.
    assert!(feed::IDLE_TIMEOUT <= Duration::from_secs(5));
    assert!(feed::MAX_BACKOFF <= Duration::from_secs(5));
    // Two heartbeats may be late or lost before a healthy stream is dropped.
    assert!(feed::IDLE_TIMEOUT >= 2 * heartbeat);
    assert!(TEST_IDLE > heartbeat);
    assert_eq!(FeedConfig::default().idle_timeout, feed::IDLE_TIMEOUT);
    assert!(actions::ATTEMPT_TIMEOUT <= Duration::from_secs(30));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_connection_is_noticed_by_its_silence_and_resumed_exactly_once() {
    let h = start().await;
    let proxy = Proxy::start(h.hub.addr).await;
    let mut feed = Feed::start(
        &h,
        proxy.url(),
        FeedConfig {
            idle_timeout: TEST_IDLE,
        },
    );
    feed.until("snapshot", |m| matches!(m, FeedMsg::Snapshot(_)))
        .await;
    request_approvals(&h, 1, 2).await;
    feed.until_approvals(&["APR-1", "APR-2"]).await;

    // The network goes silent under the stream; the hub goes on.
    proxy.hang();
    let hung_at = Instant::now();
    request_approvals(&h, 3, 5).await;
    let FeedMsg::Reconnecting { error, .. } = feed.until("reconnecting", is_reconnecting).await
    else {
        unreachable!()
    };
    let detected = hung_at.elapsed();
    assert!(error.contains("no event or heartbeat"), "{error}");
    // Never before the timeout (the last byte came before the hang), and
    // well within a generous bound.
    assert!(detected + Duration::from_secs(1) >= TEST_IDLE - agentdeck::hub::stream::HEARTBEAT);
    assert!(
        detected < TEST_IDLE + Duration::from_secs(30),
        "{detected:?}"
    );
    request_approvals(&h, 6, 6).await;
    feed.until_approvals(&["APR-3", "APR-4", "APR-5", "APR-6"])
        .await;
    assert_eq!(
        feed.approvals(),
        ["APR-1", "APR-2", "APR-3", "APR-4", "APR-5", "APR-6"]
    );
    let deltas = feed.assert_exactly_once_in_order();
    eprintln!(
        "hang: detected after {:.1} s (idle timeout {} s), {deltas} deltas once each, {} connections",
        detected.as_secs_f64(),
        TEST_IDLE.as_secs(),
        proxy.accepted()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partition_that_hangs_reconnections_too_is_survived() {
    let h = start().await;
    let proxy = Proxy::start(h.hub.addr).await;
    let mut feed = Feed::start(
        &h,
        proxy.url(),
        FeedConfig {
            idle_timeout: TEST_IDLE,
        },
    );
    feed.until("snapshot", |m| matches!(m, FeedMsg::Snapshot(_)))
        .await;
    request_approvals(&h, 1, 1).await;
    feed.until_approvals(&["APR-1"]).await;

    proxy.blackhole();
    let cut_off = Instant::now();
    request_approvals(&h, 2, 3).await;
    feed.until("the silence noticed", is_reconnecting).await;
    // The reconnection is accepted and then hangs: it is given up too.
    let FeedMsg::Reconnecting { error, .. } = feed.until("reconnecting", is_reconnecting).await
    else {
        unreachable!()
    };
    assert!(error.contains("did not answer within"), "{error}");
    let partitioned = cut_off.elapsed();
    proxy.heal();
    request_approvals(&h, 4, 4).await;
    feed.until_approvals(&["APR-2", "APR-3", "APR-4"]).await;
    assert_eq!(feed.approvals(), ["APR-1", "APR-2", "APR-3", "APR-4"]);
    let deltas = feed.assert_exactly_once_in_order();
    let attempts = feed.count(is_reconnecting);
    eprintln!(
        "partition: {:.1} s, {attempts} failed attempts, {deltas} deltas once each",
        partitioned.as_secs_f64()
    );
}

async fn cut_inside_an_event(at: CutAt) {
    let h = start().await;
    let proxy = Proxy::start(h.hub.addr).await;
    let mut feed = Feed::start(&h, proxy.url(), FeedConfig::default());
    feed.until("snapshot", |m| matches!(m, FeedMsg::Snapshot(_)))
        .await;
    request_approvals(&h, 1, 1).await;
    feed.until_approvals(&["APR-1"]).await;

    let partial = proxy.cut_inside_next_event(at);
    request_approvals(&h, 2, 3).await;
    let partial = tokio::time::timeout(DEADLINE, partial)
        .await
        .expect("no event to cut")
        .expect("proxy gone");
    let cut_id = partial.id.expect("the cut kept the id line");
    assert!(
        !partial.bytes.ends_with(b"\n\n"),
        "the cut must fall inside the event: {:?}",
        String::from_utf8_lossy(&partial.bytes)
    );
    feed.until("reconnecting", is_reconnecting).await;
    let reconnected = feed.seen.len();
    feed.until_approvals(&["APR-2", "APR-3"]).await;
    // The cut event was not delivered from its partial bytes: it arrives
    // once, whole, after the resume.
    let at_cut: Vec<usize> = feed
        .seen
        .iter()
        .enumerate()
        .filter(|(_, (_, m))| matches!(m, FeedMsg::Delta(id, _) if *id == cut_id))
        .map(|(i, _)| i)
        .collect();
    assert_eq!(at_cut.len(), 1, "event {cut_id} delivered {at_cut:?}");
    assert!(
        at_cut[0] > reconnected,
        "event {cut_id} came before the resume"
    );
    assert_eq!(feed.approvals(), ["APR-1", "APR-2", "APR-3"]);
    let deltas = feed.assert_exactly_once_in_order();
    eprintln!(
        "cut {at:?}: event {cut_id} cut after {} bytes, {deltas} deltas once each",
        partial.bytes.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_inside_an_events_data_never_delivers_half_of_it() {
    cut_inside_an_event(CutAt::InsideData).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_before_an_events_blank_line_never_delivers_it_early() {
    cut_inside_an_event(CutAt::BeforeBlankLine).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_link_still_converges() {
    let h = start().await;
    let proxy = Proxy::start(h.hub.addr).await;
    // About 25 KB/s, both ways, from the first byte of the snapshot.
    proxy.slow(Some((512, Duration::from_millis(20))));
    let started = Instant::now();
    let mut feed = Feed::start(&h, proxy.url(), FeedConfig::default());
    feed.until("snapshot", |m| matches!(m, FeedMsg::Snapshot(_)))
        .await;
    let mut want = Vec::new();
    for batch in 0..6 {
        request_approvals(&h, batch * 5 + 1, batch * 5 + 5).await;
        want.extend((batch * 5 + 1..=batch * 5 + 5).map(|i| format!("APR-{i}")));
    }
    let ids: Vec<&str> = want.iter().map(String::as_str).collect();
    feed.until_approvals(&ids).await;
    let converged = started.elapsed();
    // Everything the hub holds is what the client holds.
    let state = h.state().await;
    let hub: BTreeMap<String, serde_json::Value> = state["approvals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["id"].as_str().unwrap().to_string(), a.clone()))
        .collect();
    let mut client = BTreeMap::new();
    for (_, m) in &feed.seen {
        if let FeedMsg::Delta(_, Delta::Approval(a)) = m {
            client.insert(a.id.clone(), serde_json::to_value(a).unwrap());
        }
    }
    assert_eq!(client, hub);
    assert_eq!(feed.approvals(), want);
    assert_eq!(
        feed.count(is_reconnecting),
        0,
        "a slow link is not a dead one"
    );
    let deltas = feed.assert_exactly_once_in_order();
    eprintln!(
        "slow link: converged in {:.1} s, {deltas} deltas",
        converged.as_secs_f64()
    );
}

/// The real action sender through `proxy`, with a short attempt timeout.
fn action_sender(
    h: &TestHub,
    proxy: &Proxy,
    token: &str,
) -> (mpsc::Sender<Request>, mpsc::Receiver<(u64, Outcome)>) {
    let (req_tx, req_rx) = mpsc::channel(16);
    let (out_tx, out_rx) = mpsc::channel(256);
    let cancelled: actions::Cancelled = Arc::new(Mutex::new(Default::default()));
    tokio::spawn(actions::run_with(
        proxy.url(),
        h.token(token).to_string(),
        req_rx,
        out_tx,
        cancelled,
        ActionConfig {
            attempt_timeout: Duration::from_secs(5),
        },
    ));
    (req_tx, out_rx)
}

/// Waits for the final outcome of action `id`, counting the retries.
async fn outcome(rx: &mut mpsc::Receiver<(u64, Outcome)>, id: u64) -> (Outcome, Vec<String>) {
    let mut retries = Vec::new();
    let end = tokio::time::Instant::now() + DEADLINE;
    loop {
        let (got, o) = tokio::time::timeout_at(end, rx.recv())
            .await
            .expect("timed out waiting for the action")
            .expect("action sender gone");
        assert_eq!(got, id);
        match o {
            Outcome::Retrying { error, .. } => retries.push(error),
            other => return (other, retries),
        }
    }
}

async fn audit_count(h: &TestHub, action: &str, subject: &str) -> usize {
    let (s, body) = h.get("lead", "/v1/audit?after=0&limit=1000").await;
    assert_eq!(s, 200);
    body["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == action && e["subject"] == subject)
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_decision_whose_answer_hangs_is_applied_once() {
    let h = start().await;
    request_approvals(&h, 1, 1).await;
    let proxy = Proxy::start(h.hub.addr).await;
    let (tx, mut rx) = action_sender(&h, &proxy, "approver");
    let applied = proxy.fail_next_response(Fault::Hang);
    tx.send(Request {
        id: 1,
        method: Method::Post,
        path: "/v1/approvals/APR-1/decision".into(),
        body: Some(json!({"decision": "approve"})),
        key: actions::new_key(),
    })
    .await
    .unwrap();
    let (done, retries) = outcome(&mut rx, 1).await;
    assert!(applied.await.is_ok(), "the hang was never applied");
    let Outcome::Done(answer) = done else {
        panic!("{done:?}")
    };
    assert_eq!(answer["state"], "approved");
    assert!(!retries.is_empty(), "the hung answer was retried");
    assert!(retries[0].contains("did not answer in time"), "{retries:?}");
    let state = h.state().await;
    assert!(state["approvals"].as_array().unwrap().is_empty());
    assert_eq!(audit_count(&h, "approval.decided", "APR-1").await, 1);
    eprintln!(
        "decision across a hang: {} retries, {} connections",
        retries.len(),
        proxy.accepted()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_control_whose_answer_is_cut_is_applied_once() {
    let h = start().await;
    let proxy = Proxy::start(h.hub.addr).await;
    let (tx, mut rx) = action_sender(&h, &proxy, "responder");
    let applied = proxy.fail_next_response(Fault::Cut);
    tx.send(Request {
        id: 7,
        method: Method::Post,
        path: "/v1/controls".into(),
        body: Some(json!({"agent": "refund-bot", "kind": "disable_tool", "tool": "issue_refund", "reason": "double refunds"})),
        key: actions::new_key(),
    })
    .await
    .unwrap();
    let (done, retries) = outcome(&mut rx, 7).await;
    assert!(applied.await.is_ok(), "the cut was never applied");
    let Outcome::Done(answer) = done else {
        panic!("{done:?}")
    };
    assert_eq!(answer["id"], "CTL-1");
    assert!(!retries.is_empty(), "the lost answer was retried");
    assert!(
        retries[0].starts_with("the connection to the hub failed: "),
        "{retries:?}"
    );
    let state = h.state().await;
    assert_eq!(state["controls"].as_array().unwrap().len(), 1);
    assert_eq!(audit_count(&h, "control.applied", "CTL-1").await, 1);
    eprintln!(
        "control across a cut: {} retries ({})",
        retries.len(),
        retries[0]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_action_held_by_a_partition_is_applied_once_after_it_heals() {
    let h = start().await;
    request_approvals(&h, 1, 1).await;
    let proxy = Proxy::start(h.hub.addr).await;
    let (tx, mut rx) = action_sender(&h, &proxy, "approver");
    proxy.blackhole();
    tx.send(Request {
        id: 3,
        method: Method::Post,
        path: "/v1/approvals/APR-1/decision".into(),
        body: Some(json!({"decision": "reject", "reason": "amount exceeds policy"})),
        key: actions::new_key(),
    })
    .await
    .unwrap();
    // Two attempts hang and are given up; each is held by the network and
    // delivered late when it heals, beside the next retry.
    let mut retries = 0;
    while retries < 2 {
        let (got, o) = tokio::time::timeout(DEADLINE, rx.recv())
            .await
            .expect("no retry")
            .unwrap();
        assert_eq!(got, 3);
        assert!(matches!(o, Outcome::Retrying { .. }), "{o:?}");
        retries += 1;
    }
    proxy.heal();
    let (done, more) = outcome(&mut rx, 3).await;
    let Outcome::Done(answer) = done else {
        panic!("{done:?}")
    };
    assert_eq!(answer["state"], "rejected");
    // Late copies of the same request change nothing.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(audit_count(&h, "approval.decided", "APR-1").await, 1);
    let (s, body) = h.get("bot", "/v1/agents/refund-bot/approvals/q-1").await;
    assert_eq!(s, 200);
    assert_eq!(body["decisions"].as_array().unwrap().len(), 1);
    eprintln!(
        "decision across a partition: {} retries, {} connections",
        retries + more.len(),
        proxy.accepted()
    );
}
