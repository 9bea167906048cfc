//! Callback targets that misbehave: one that answers 500, one that refuses
//! connections, one that accepts and never answers. Each is a real HTTP
//! target on loopback and the hub is a real one; the hub must retry a
//! bounded number of times with growing pauses, never block on a target
//! (ingest, reads and actions answer promptly, other agents' callbacks still
//! go out), and leave every failure in the audit log.

mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use agentdeck::hub::callbacks::{ATTEMPT_TIMEOUT, MAX_ATTEMPTS, backoff};
use chrono::Utc;
use serde_json::{Value, json};
use support::{TestHub, run_line, start};
use tokio::io::AsyncReadExt;

/// Longest wait for anything the tests expect; only reached on failure.
const DEADLINE: Duration = Duration::from_secs(120);
/// What "answers promptly" means on a busy shared machine; an answer held
/// behind a hanging callback would take at least [`ATTEMPT_TIMEOUT`].
const PROMPT: Duration = Duration::from_secs(3);

/// When each request reached a target.
type Hits = Arc<Mutex<Vec<Instant>>>;

/// An HTTP target that answers every POST with `status`.
async fn answering(status: u16) -> (String, Hits) {
    use axum::http::StatusCode;
    let hits: Hits = Arc::default();
    let sink = hits.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move || {
            let sink = sink.clone();
            async move {
                sink.lock().unwrap().push(Instant::now());
                StatusCode::from_u16(status).unwrap()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, hits)
}

/// A target that accepts connections, reads the request and never answers.
async fn hanging() -> (String, Hits) {
    let hits: Hits = Arc::default();
    let sink = hits.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            sink.lock().unwrap().push(Instant::now());
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                // Read and hold until the hub gives up and closes.
                while matches!(socket.read(&mut buf).await, Ok(n) if n > 0) {}
            });
        }
    });
    (url, hits)
}

/// A URL on which nothing listens: every connection is refused.
fn refusing() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", l.local_addr().unwrap());
    drop(l);
    url
}

async fn register(h: &TestHub, agent: &str, url: &str) {
    let r = h
        .http
        .put(h.url(&format!("/v1/agents/{agent}/callback")))
        .bearer_auth(h.token("agent"))
        .json(&json!({ "url": url }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
}

/// Applies a control on `agent` (which queues its callback); its id.
async fn control(h: &TestHub, agent: &str) -> String {
    let (s, body) = h
        .post(
            "responder",
            "/v1/controls",
            json!({"agent": agent, "kind": "force_fallback", "reason": "model flaky"}),
            None,
        )
        .await;
    assert_eq!(s, 201, "{body}");
    body["id"].as_str().unwrap().to_string()
}

/// Every audit entry about callbacks.
async fn callback_audit(h: &TestHub) -> Vec<Value> {
    let mut out = Vec::new();
    let mut after = 0;
    loop {
        let (s, body) = h
            .get("lead", &format!("/v1/audit?after={after}&limit=1000"))
            .await;
        assert_eq!(s, 200);
        let entries = body["entries"].as_array().unwrap();
        if entries.is_empty() {
            return out;
        }
        after = body["next_after"].as_u64().unwrap();
        out.extend(
            entries
                .iter()
                .filter(|e| e["action"] == "callback.delivered" || e["action"] == "callback.failed")
                .cloned(),
        );
    }
}

/// Waits for the delivery outcome of `subject` in the audit log.
async fn delivery_of(h: &TestHub, subject: &str) -> Value {
    let end = Instant::now() + DEADLINE;
    while Instant::now() < end {
        if let Some(e) = callback_audit(h)
            .await
            .into_iter()
            .find(|e| e["subject"] == subject)
        {
            return e;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("no delivery outcome for {subject}");
}

/// The pauses between consecutive hits.
fn gaps(hits: &Hits) -> Vec<Duration> {
    let hits = hits.lock().unwrap();
    hits.windows(2).map(|w| w[1] - w[0]).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_answering_500_is_tried_a_bounded_number_of_times_with_backoff() {
    let h = start().await;
    let (url, hits) = answering(500).await;
    register(&h, "refund-bot", &url).await;
    let started = Instant::now();
    let id = control(&h, "refund-bot").await;
    let failed = delivery_of(&h, &id).await;
    let took = started.elapsed();
    assert_eq!(failed["action"], "callback.failed", "{failed}");
    assert_eq!(failed["details"]["attempts"], MAX_ATTEMPTS);
    assert_eq!(failed["details"]["url"], url.as_str());
    let error = failed["details"]["error"].as_str().unwrap();
    assert!(error.contains("500"), "{error}");
    // Exactly the bound, and nothing after it.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(hits.lock().unwrap().len(), MAX_ATTEMPTS as usize);
    // Each pause at least the backoff before that attempt: growing.
    let gaps = gaps(&hits);
    for (i, gap) in gaps.iter().enumerate() {
        let want = backoff(i as u32 + 2);
        assert!(
            *gap >= want,
            "pause {} was {gap:?}, backoff {want:?}",
            i + 1
        );
    }
    eprintln!(
        "500 target: {} attempts, pauses {:?}, failure audited after {:.1} s",
        MAX_ATTEMPTS,
        gaps,
        took.as_secs_f64()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_refusing_connections_is_retried_with_backoff_and_audited() {
    let h = start().await;
    let url = refusing();
    register(&h, "refund-bot", &url).await;
    let started = Instant::now();
    let id = control(&h, "refund-bot").await;
    let failed = delivery_of(&h, &id).await;
    let took = started.elapsed();
    assert_eq!(failed["action"], "callback.failed", "{failed}");
    assert_eq!(failed["details"]["attempts"], MAX_ATTEMPTS);
    let error = failed["details"]["error"].as_str().unwrap();
    assert!(error.contains("refused"), "{error}");
    // Refusals are instant: the time taken is the backoff, all of it.
    let pauses: Duration = (2..=MAX_ATTEMPTS).map(backoff).sum();
    assert!(took >= pauses, "{took:?} < {pauses:?}");
    eprintln!(
        "refusing target: {MAX_ATTEMPTS} attempts, failure audited after {:.1} s (backoff {:.1} s)",
        took.as_secs_f64(),
        pauses.as_secs_f64()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_target_is_given_up_per_attempt_and_in_the_end() {
    let h = start().await;
    let (url, hits) = hanging().await;
    register(&h, "refund-bot", &url).await;
    let started = Instant::now();
    let id = control(&h, "refund-bot").await;
    let failed = delivery_of(&h, &id).await;
    let took = started.elapsed();
    assert_eq!(failed["action"], "callback.failed", "{failed}");
    assert_eq!(failed["details"]["attempts"], MAX_ATTEMPTS);
    let error = failed["details"]["error"].as_str().unwrap();
    assert!(error.contains("no answer within"), "{error}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(hits.lock().unwrap().len(), MAX_ATTEMPTS as usize);
    // Every attempt waited out its timeout before the next began. The gap
    // is seen at the target, so the client's timer may have started a few
    // milliseconds before the request arrived: allow 250 ms of slack.
    for (i, gap) in gaps(&hits).iter().enumerate() {
        let least =
            (ATTEMPT_TIMEOUT + backoff(i as u32 + 2)).saturating_sub(Duration::from_millis(250));
        assert!(*gap >= least, "{gap:?}");
    }
    eprintln!(
        "hanging target: {MAX_ATTEMPTS} attempts of {} s, failure audited after {:.1} s",
        ATTEMPT_TIMEOUT.as_secs(),
        took.as_secs_f64()
    );
}

/// Times one request.
async fn timed<T>(f: impl std::future::Future<Output = T>) -> (T, Duration) {
    let t = Instant::now();
    let out = f.await;
    (out, t.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_target_never_blocks_the_hub_or_other_agents() {
    let h = start().await;
    let (stuck, stuck_hits) = hanging().await;
    let (healthy, healthy_hits) = answering(200).await;
    register(&h, "refund-bot", &stuck).await;
    register(&h, "triage-bot", &healthy).await;
    // More hanging deliveries than the hub runs at once.
    let mut slowest = Duration::ZERO;
    for _ in 0..40 {
        let (_, took) = timed(control(&h, "refund-bot")).await;
        slowest = slowest.max(took);
    }
    // Wait until the hub is stuck in them.
    let end = Instant::now() + DEADLINE;
    while stuck_hits.lock().unwrap().is_empty() {
        assert!(
            Instant::now() < end,
            "no delivery reached the hanging target"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Ingest, reads, health and actions answer promptly meanwhile.
    let now = Utc::now();
    let ((s, _), took) =
        timed(h.post_events("agent", run_line("refund-bot", "r-1", "success", now))).await;
    assert_eq!(s, 200);
    slowest = slowest.max(took);
    let ((s, _), took) = timed(h.get("lead", "/v1/state")).await;
    assert_eq!(s, 200);
    slowest = slowest.max(took);
    let (r, took) = timed(h.http.get(h.url("/healthz")).send()).await;
    assert_eq!(r.unwrap().status().as_u16(), 200);
    slowest = slowest.max(took);
    // Another agent's callback goes out while refund-bot's hang.
    let started = Instant::now();
    let (other, took) = timed(control(&h, "triage-bot")).await;
    slowest = slowest.max(took);
    let delivered = delivery_of(&h, &other).await;
    let other_after = started.elapsed();
    assert_eq!(delivered["action"], "callback.delivered", "{delivered}");
    assert_eq!(healthy_hits.lock().unwrap().len(), 1);
    assert!(
        other_after < ATTEMPT_TIMEOUT,
        "triage-bot's callback waited {other_after:?} behind refund-bot's"
    );
    assert!(slowest < PROMPT, "a request took {slowest:?}");
    eprintln!(
        "hanging target: slowest hub answer {:.0} ms with 40 deliveries hanging; another agent's callback delivered in {:.0} ms",
        slowest.as_secs_f64() * 1000.0,
        other_after.as_secs_f64() * 1000.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_failures_are_counted_per_agent_and_a_recovery_is_noted() {
    let h = start().await;
    let (url, _) = answering(500).await;
    register(&h, "refund-bot", &url).await;
    let first = control(&h, "refund-bot").await;
    let a = delivery_of(&h, &first).await;
    let second = control(&h, "refund-bot").await;
    let b = delivery_of(&h, &second).await;
    assert_eq!(a["details"]["failures_in_a_row"], 1, "{a}");
    assert_eq!(b["details"]["failures_in_a_row"], 2, "{b}");
    // The agent fixes its endpoint: the next delivery says what it ended.
    let (url, _) = answering(204).await;
    register(&h, "refund-bot", &url).await;
    let third = control(&h, "refund-bot").await;
    let c = delivery_of(&h, &third).await;
    assert_eq!(c["action"], "callback.delivered", "{c}");
    assert_eq!(c["details"]["after_failures"], 2, "{c}");
}
