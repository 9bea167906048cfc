//! The TUI's feed client against a real hub: it reconnects after the
//! network drops and resumes from `Last-Event-ID` with no gap and no
//! duplicate, and it stops when the token is refused.

mod support;

use std::time::Duration;

use agentdeck::client::feed::{self, FeedMsg};
use chrono::{Duration as Span, Utc};
use support::{approval_line, proxy::Proxy, start};
use tokio::sync::mpsc;

async fn next(
    rx: &mut mpsc::Receiver<FeedMsg>,
    what: &str,
    f: impl Fn(&FeedMsg) -> bool,
) -> FeedMsg {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(15), rx.recv())
            .await
            .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
            .unwrap_or_else(|| panic!("feed ended waiting for {what}"));
        if f(&msg) {
            return msg;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_connection_resumes_without_gap_or_duplicate() {
    let h = start().await;
    let proxy = Proxy::start(h.hub.addr).await;
    let (tx, mut rx) = mpsc::channel(4096);
    tokio::spawn(feed::run(proxy.url(), h.token("viewer").to_string(), tx));
    let FeedMsg::Snapshot(snap) =
        next(&mut rx, "snapshot", |m| matches!(m, FeedMsg::Snapshot(_))).await
    else {
        unreachable!()
    };
    let mut ids = vec![snap.seq];
    let now = Utc::now();
    h.post_events(
        "agent",
        approval_line("refund-bot", "q-1", now, now + Span::minutes(5)),
    )
    .await;
    // Read up to the approval's audit entry, then cut the network.
    loop {
        let msg = next(&mut rx, "deltas", |m| matches!(m, FeedMsg::Delta(..))).await;
        if let FeedMsg::Delta(id, d) = msg {
            ids.push(id);
            if matches!(d, agentdeck::model::stream::Delta::Audit(_)) {
                break;
            }
        }
    }
    proxy.cut();
    next(&mut rx, "reconnecting", |m| {
        matches!(m, FeedMsg::Reconnecting { .. })
    })
    .await;
    // While it is away, more happens.
    let lines: Vec<String> = (2..=4)
        .map(|i| approval_line("refund-bot", &format!("q-{i}"), now, now + Span::minutes(5)))
        .collect();
    h.post_events("agent", lines.join("\n")).await;
    next(&mut rx, "connected again", |m| {
        matches!(m, FeedMsg::Connected)
    })
    .await;
    let mut approvals = Vec::new();
    while approvals.len() < 3 {
        match next(&mut rx, "missed deltas", |m| {
            matches!(m, FeedMsg::Delta(..) | FeedMsg::Snapshot(_))
        })
        .await
        {
            FeedMsg::Snapshot(_) => panic!("a resume inside the replay window must not resnapshot"),
            FeedMsg::Delta(id, d) => {
                ids.push(id);
                if let agentdeck::model::stream::Delta::Approval(a) = d {
                    approvals.push(a.id.clone());
                }
            }
            _ => {}
        }
    }
    assert_eq!(approvals, ["APR-2", "APR-3", "APR-4"]);
    let stream_ids: Vec<u64> = ids.iter().copied().filter(|&i| i > snap.seq).collect();
    let mut sorted = stream_ids.clone();
    sorted.dedup();
    assert_eq!(sorted.len(), stream_ids.len(), "a duplicate id: {ids:?}");
    // Every delta after the snapshot arrived once, in order, across the cut.
    assert_eq!(stream_ids.first(), Some(&(snap.seq + 1)), "{ids:?}");
    assert!(
        stream_ids.windows(2).all(|w| w[1] == w[0] + 1),
        "a gap or a duplicate: {ids:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_token_stops_the_feed_with_the_reason() {
    let h = start().await;
    let (tx, mut rx) = mpsc::channel(16);
    tokio::spawn(feed::run(h.hub.url(), "adk_not_a_token".into(), tx));
    let msg = next(&mut rx, "refusal", |m| matches!(m, FeedMsg::Refused(_))).await;
    let FeedMsg::Refused(why) = msg else {
        unreachable!()
    };
    assert!(why.contains("401"), "{why}");
    // An agent token is refused too (403), naming the roles.
    let (tx, mut rx) = mpsc::channel(16);
    tokio::spawn(feed::run(h.hub.url(), h.token("agent").to_string(), tx));
    let FeedMsg::Refused(why) =
        next(&mut rx, "refusal", |m| matches!(m, FeedMsg::Refused(_))).await
    else {
        unreachable!()
    };
    assert!(why.contains("403"), "{why}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hub_that_is_down_is_retried_with_backoff() {
    // A port nobody listens on.
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    drop(l);
    let (tx, mut rx) = mpsc::channel(16);
    tokio::spawn(feed::run(url, "adk_x".into(), tx));
    let mut waits = Vec::new();
    while waits.len() < 3 {
        if let FeedMsg::Reconnecting {
            attempt,
            retry_in,
            error,
        } = next(&mut rx, "reconnecting", |m| {
            matches!(m, FeedMsg::Reconnecting { .. })
        })
        .await
        {
            assert_eq!(attempt as usize, waits.len() + 1);
            assert!(error.contains("connect"), "{error}");
            waits.push(retry_in);
        }
    }
    assert!(waits[2] > waits[0], "backoff grows: {waits:?}");
}

/// `--hub A,B`: when A stops answering, the feed moves to B at once (no
/// backoff while another address is left) and follows B's live changes,
/// and every other request of the process goes to B with it; a request
/// that finds its address dead moves the list on, so its retry reaches
/// the next.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_hub_addresses_fail_over_to_the_next() {
    use agentdeck::client::hub::{Hub, HubError};
    use agentdeck::client::hubs::HubList;
    use agentdeck::model::stream::Delta;
    use std::sync::Arc;

    let a = start().await;
    let b = start().await;
    let (a_url, b_url) = (a.hub.url(), b.hub.url());
    let hubs = Arc::new(HubList::parse(&format!("{a_url}, {b_url}/")).unwrap());
    let (tx, mut rx) = mpsc::channel(4096);
    tokio::spawn(feed::run_hubs(
        hubs.clone(),
        a.token("approver").to_string(),
        tx,
        feed::FeedConfig {
            idle_timeout: Duration::from_secs(2),
        },
    ));
    next(&mut rx, "a snapshot from A", |m| {
        matches!(m, FeedMsg::Snapshot(_))
    })
    .await;
    assert_eq!(hubs.current().1, a_url);

    a.hub.stop().await;
    let FeedMsg::Reconnecting {
        error, retry_in, ..
    } = next(&mut rx, "reconnecting", |m| {
        matches!(m, FeedMsg::Reconnecting { .. })
    })
    .await
    else {
        unreachable!()
    };
    assert!(error.contains(&format!("next {b_url}")), "{error}");
    assert_eq!(retry_in, Duration::ZERO, "another address is tried at once");
    next(&mut rx, "connected to B", |m| {
        matches!(m, FeedMsg::Connected)
    })
    .await;
    assert_eq!(hubs.current().1, b_url);

    // What happens on B reaches the feed.
    let now = Utc::now();
    b.post_events(
        "agent",
        approval_line("refund-bot", "after-failover", now, now + Span::minutes(5)),
    )
    .await;
    next(
        &mut rx,
        "B's approval",
        |m| matches!(m, FeedMsg::Delta(_, Delta::Approval(a)) if a.request_id == "after-failover"),
    )
    .await;

    // The process's other requests follow the same list: they go to B now.
    let http = agentdeck::client::http_client().unwrap();
    let client = Hub::over(http.clone(), hubs.clone(), b.token("approver"));
    assert_eq!(client.me().await.unwrap().name, "approver");

    // A request that finds its address dead moves the list on; the retry
    // is answered by the next.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_url = format!("http://{}", dead.local_addr().unwrap());
    drop(dead);
    let list = Arc::new(HubList::parse(&format!("{dead_url},{b_url}")).unwrap());
    let client = Hub::over(http, list.clone(), b.token("approver"));
    assert!(matches!(client.me().await, Err(HubError::Unreachable(_))));
    assert_eq!(list.current().1, b_url);
    assert_eq!(client.me().await.unwrap().name, "approver");
}
