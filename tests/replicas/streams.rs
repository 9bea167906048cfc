//! Streams a standby serves itself, from the one ordered log: the same
//! ids as on the serving replica, presence shown there, no break when the
//! serving replica dies, and an end when the token is revoked.

use super::*;

/// Reads `stream` until an event satisfies `until`, asserting that every
/// event's id follows the last one (`last`, updated): no gap, no
/// duplicate, no snapshot in between.
async fn read_on(stream: &mut StreamClient, last: &mut u64, until: impl Fn(&Sse) -> bool) -> Sse {
    loop {
        let e = stream
            .next(Duration::from_secs(20))
            .await
            .unwrap_or_else(|| panic!("the stream ended or went quiet after id {last}"));
        assert_eq!(
            (e.id, e.event.as_str() == "snapshot"),
            (*last + 1, false),
            "after {last}: {} {}",
            e.id,
            e.event
        );
        *last = e.id;
        if until(&e) {
            return e;
        }
    }
}

fn is_approval(e: &Sse, id: &str, state: &str) -> bool {
    e.event == "approval" && e.data["id"] == id && e.data["state"] == state
}

/// A standby serves a live stream from the shared log: an approval
/// requested on the serving replica reaches it with the id it has there;
/// the operator streaming from the standby shows as present on the serving
/// replica. When the serving replica is killed the stream stays open, and
/// the deltas of the standby that took over follow with the next ids. A
/// reload that revokes the operator's token ends the stream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standby_serves_streams_from_the_log() {
    let Some(pg) = PgServer::start() else { return };
    let db = OsString::from(pg.create_database("streams"));
    let dir = tempfile::tempdir().unwrap();
    tokens(dir.path());
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(15))
        .build()
        .unwrap();
    let mut first = replica(dir.path(), &db);
    // A standby at an address known before it serves.
    let other_url = format!("http://127.0.0.1:{}", free_port());
    let other = Standby::start_at(dir.path(), other_url.trim_start_matches("http://"), &db);
    let now = Utc::now();
    let events = |q: &str| approval_line("refund-bot", q, now, now + Span::minutes(30));
    post_events(&http, &first.url, events("q-1")).await;

    let mut on_serving = StreamClient::open_url(&first.url, LEAD, None)
        .await
        .unwrap();
    let until = Instant::now() + Duration::from_secs(20);
    let mut on_standby = loop {
        // The standby listens once it has started.
        match StreamClient::open_url(&other_url, APPROVER, None).await {
            Ok(stream) => break stream,
            Err(e) => assert!(Instant::now() < until, "the standby answers: {e:?}"),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let snapshot = on_standby.next(Duration::from_secs(10)).await.unwrap();
    assert_eq!(snapshot.event, "snapshot");
    assert_eq!(
        snapshot.data["approvals"][0]["id"], "APR-1",
        "{}",
        snapshot.data
    );
    let mut last = snapshot.id;
    assert_eq!(
        on_serving
            .next(Duration::from_secs(10))
            .await
            .unwrap()
            .event,
        "snapshot"
    );

    // Present on the serving replica, through the standby's stream.
    let (s, body) = call(
        &http,
        reqwest::Method::POST,
        format!("{other_url}/v1/presence"),
        APPROVER,
        Some((json!({"viewing": "APR-1"}).to_string(), None)),
    )
    .await;
    assert_eq!(s, 204, "{body}");
    let present = state(&http, &first).await["presence"].clone();
    assert!(
        present
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["operator"] == "ann" && p["viewing"] == "APR-1"),
        "{present}"
    );

    // Requested on the serving replica: the same delta, the same id, on
    // both streams.
    let asked = Instant::now();
    post_events(&http, &first.url, events("q-2")).await;
    let there = on_serving.until("approval", |a| a["id"] == "APR-2").await;
    let here = read_on(&mut on_standby, &mut last, |e| {
        is_approval(e, "APR-2", "pending")
    })
    .await;
    eprintln!(
        "APR-2 requested on the serving replica, on the standby's stream after {:?}",
        asked.elapsed()
    );
    assert_eq!((here.id, &here.data), (there.id, &there.data));

    first.kill();
    let killed = Instant::now();
    let second = other.join();
    eprintln!("killed to the standby serving: {:?}", killed.elapsed());
    let (s, body) = decide(&http, &second, "APR-2", "k-2").await;
    assert_eq!(s, 200, "{body}");
    read_on(&mut on_standby, &mut last, |e| {
        is_approval(e, "APR-2", "approved")
    })
    .await;
    eprintln!("the stream on the standby went on through the takeover, up to id {last}");

    // Revoked: ann's token leaves the tokens file, and a reload ends her
    // stream.
    let text = std::fs::read_to_string(dir.path().join("tokens.toml")).unwrap();
    let kept: Vec<&str> = text
        .split("\n\n")
        .filter(|t| !t.contains("\"ann\""))
        .collect();
    std::fs::write(dir.path().join("tokens.toml"), kept.join("\n\n")).unwrap();
    let (s, body) = call(
        &http,
        reqwest::Method::POST,
        format!("{}/v1/reload", second.url),
        LEAD,
        Some(("{}".into(), None)),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    let revoked = Instant::now();
    loop {
        match on_standby.wait(Duration::from_secs(10)).await {
            Next::Ended => break,
            Next::Event(_) => {}
            Next::Quiet => panic!("the revoked operator's stream goes on"),
        }
        assert!(
            revoked.elapsed() < Duration::from_secs(15),
            "the revoked operator's stream goes on"
        );
    }
    eprintln!("revoked to the stream ending: {:?}", revoked.elapsed());
}

/// `GET /v1/stream?deltas=none` (what a standby holds at the serving
/// replica for each stream it serves; on any hub): the snapshot, or
/// nothing when resuming, then heartbeats only, with the operator shown
/// present while it is open; another value of `deltas` is refused naming
/// it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_without_deltas_holds_presence_only() {
    let h = support::start().await;
    let base = h.hub.url();
    let refused =
        StreamClient::open_path(&base, "/v1/stream?deltas=some", h.token("lead"), None).await;
    let Err((status, body)) = refused else {
        panic!("deltas=some accepted")
    };
    assert_eq!(status, 400);
    let error: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        error["error"], "parameter \"deltas\": \"some\" is not all or none",
        "{body}"
    );

    let mut watcher = StreamClient::open(&h, "lead", None).await;
    let mut holding =
        StreamClient::open_path(&base, "/v1/stream?deltas=none", h.token("responder"), None)
            .await
            .unwrap();
    let snapshot = holding.next(Duration::from_secs(5)).await.unwrap();
    assert_eq!(snapshot.event, "snapshot");
    let (s, _) = h
        .post(
            "responder",
            "/v1/presence",
            json!({"viewing": "INC-1"}),
            None,
        )
        .await;
    assert_eq!(s, 204, "present through the stream without deltas");
    watcher
        .until("presence", |d| {
            d.as_array().is_some_and(|l| {
                l.iter()
                    .any(|p| p["operator"] == "responder" && p["viewing"] == "INC-1")
            })
        })
        .await;
    // Deltas flow on the watcher's stream, none on this one.
    let now = Utc::now();
    let (s, _) = h
        .post_events(
            "agent",
            approval_line("refund-bot", "q-1", now, now + Span::minutes(30)),
        )
        .await;
    assert_eq!(s, 200);
    watcher.until("approval", |a| a["id"] == "APR-1").await;
    assert!(matches!(
        holding.wait(Duration::from_secs(2)).await,
        Next::Quiet
    ));

    // Resuming: not even a snapshot.
    let mut resumed = StreamClient::open_path(
        &base,
        "/v1/stream?deltas=none",
        h.token("viewer"),
        Some(snapshot.id),
    )
    .await
    .unwrap();
    assert!(matches!(
        resumed.wait(Duration::from_secs(2)).await,
        Next::Quiet
    ));

    // Counted among the streams attached, as a standby's held one is.
    let metrics = h
        .http
        .get(h.url("/metrics"))
        .bearer_auth(h.token("lead"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.lines().any(|l| l == "agentdeck_stream_clients 3"),
        "{}",
        metrics
            .lines()
            .filter(|l| l.contains("stream_clients"))
            .collect::<Vec<_>>()
            .join("\n")
    );

    drop(holding);
    watcher
        .until("presence", |d| {
            d.as_array()
                .is_some_and(|l| l.iter().all(|p| p["operator"] != "responder"))
        })
        .await;
}
