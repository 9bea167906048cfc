//! Three replicas under a fleet's load, two of them killed in turn,
//! while approvals are raced across them.

use super::*;

/// Sends a request to whichever of `urls` serves: on no answer (a replica
/// killed, or standing by and not listening) or a 503, the next, round and
/// round for up to a minute, with the same idempotency key; as the TUI and
/// the fleet do.
async fn any(
    http: &reqwest::Client,
    urls: &[String],
    path: &str,
    token: &str,
    body: Option<(String, Option<String>)>,
) -> (u16, Value) {
    let until = Instant::now() + Duration::from_secs(60);
    loop {
        for url in urls {
            let mut req = match &body {
                Some(_) => http.post(format!("{url}{path}")),
                None => http.get(format!("{url}{path}")),
            }
            .bearer_auth(token);
            if let Some((text, key)) = &body {
                req = req
                    .body(text.clone())
                    .header("content-type", "application/json");
                if let Some(k) = key {
                    req = req.header("Idempotency-Key", k.as_str());
                }
            }
            if let Ok(r) = req.send().await
                && r.status().as_u16() != 503
            {
                let status = r.status().as_u16();
                return (status, r.json().await.unwrap_or(Value::Null));
            }
        }
        assert!(Instant::now() < until, "no replica answered {path}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// An operator's stream that follows the hub as the TUI does with
/// `--hub`: it starts at `urls[start]` and, when the stream ends, resumes
/// with the last id it saw at the next address that answers, until
/// `stop`, saying on `attached` when it has the state. Returns the deltas
/// after the first snapshot, with a `resumed` marker at each resume;
/// asserts that each delta's id follows the last and that no resume
/// starts with a snapshot.
async fn follow(
    urls: Vec<String>,
    start: usize,
    mut stop: tokio::sync::watch::Receiver<bool>,
    attached: tokio::sync::mpsc::Sender<()>,
) -> Vec<Sse> {
    let mut seen = Vec::new();
    let mut last: Option<u64> = None;
    let mut at = start;
    let began = Instant::now();
    while !*stop.borrow_and_update() {
        // As the TUI does: an answer must come within seconds, and a stream
        // silent for 5 s (the hub sends SLO statuses twice a second under
        // the fleet's load) is treated as dead.
        let opened = tokio::time::timeout(
            Duration::from_secs(5),
            StreamClient::open_url(&urls[at], LEAD, last),
        );
        let mut stream = match opened.await {
            Ok(Ok(stream)) => stream,
            Ok(Err(_)) | Err(_) => {
                at = (at + 1) % urls.len();
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        if last.is_some() {
            seen.push(Sse {
                id: last.unwrap_or(0),
                event: "resumed".into(),
                data: Value::from(format!("{} at {:.1?}", urls[at], began.elapsed())),
            });
        }
        let mut quiet_since = Instant::now();
        while !*stop.borrow() {
            let e = match stream.wait(Duration::from_millis(500)).await {
                Next::Event(e) => e,
                Next::Quiet if quiet_since.elapsed() < Duration::from_secs(5) => continue,
                Next::Quiet => {
                    eprintln!("{}: silent for 5 s; reconnecting", urls[at]);
                    break;
                }
                Next::Ended => break,
            };
            quiet_since = Instant::now();
            match last {
                None => {
                    assert_eq!(e.event, "snapshot", "a stream starts with the state");
                    attached.send(()).await.unwrap();
                }
                Some(last) => assert_eq!(
                    (e.id, e.event.as_str() == "snapshot"),
                    (last + 1, false),
                    "{}: after {last}: {} {}",
                    urls[at],
                    e.id,
                    e.event
                ),
            }
            last = Some(e.id);
            if e.event != "snapshot" {
                seen.push(e);
            }
        }
    }
    seen
}

/// Exports one agent run over OTLP/gRPC to `url`, then the same with a
/// token that is not one: the first is taken, the second refused with
/// `Unauthenticated` (a status carried in the trailers).
async fn grpc_through(url: &str) {
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
    use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};

    let text = |key: &str, value: &str| KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.into())),
        }),
        ..Default::default()
    };
    let end = u64::try_from(Utc::now().timestamp_nanos_opt().unwrap()).unwrap();
    let span = Span {
        trace_id: vec![7; 16],
        span_id: vec![7; 8],
        name: "invoke_agent grpc-bot".into(),
        start_time_unix_nano: end - 1_500_000_000,
        end_time_unix_nano: end,
        attributes: vec![
            text("gen_ai.operation.name", "invoke_agent"),
            text("gen_ai.agent.name", "grpc-bot"),
        ],
        ..Default::default()
    };
    let export = |token: &str| {
        let mut request = tonic::Request::new(ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                scope_spans: vec![ScopeSpans {
                    spans: vec![span.clone()],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        });
        let bearer = format!("Bearer {token}").parse().unwrap();
        request.metadata_mut().insert("authorization", bearer);
        request
    };
    let mut client = TraceServiceClient::connect(url.to_string()).await.unwrap();
    let taken = client.export(export(AGENT)).await;
    assert!(taken.is_ok(), "{taken:?}");
    let refused = client.export(export("adk_not_a_token")).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unauthenticated, "{refused:?}");
}

/// Waits for the first of `standbys` to serve and returns it.
async fn next_serving(standbys: &mut Vec<Standby>) -> ServeProcess {
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(i) = standbys.iter().position(Standby::is_serving) {
            return standbys.remove(i).join();
        }
        assert!(Instant::now() < until, "no standby took over");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Three replicas on one database under a fleet's load; the serving one
/// is killed (`kill -9`), then, once the killed one is back as a standby,
/// the next serving one too. Meanwhile 200 approvals are raced by two
/// approvers who reach the replicas in opposite orders, retrying with
/// their idempotency keys: each is decided exactly once. Approvals with a
/// short deadline expire once, by the hub serving when they lapse. An
/// operator streaming from each replica resumes after each kill with the
/// next id (no gap, no duplicate, no new snapshot), and an id is the same
/// delta in every stream. The fleet loses no post, and the audit chain
/// verifies across the replicas.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_lose_two_and_decide_every_race_once() {
    let Some(pg) = PgServer::start() else { return };
    let db = OsString::from(pg.create_database("three"));
    let dir = tempfile::tempdir().unwrap();
    tokens(dir.path());
    let addrs: Vec<String> = (0..3)
        .map(|_| format!("127.0.0.1:{}", free_port()))
        .collect();
    let urls: Vec<String> = addrs.iter().map(|a| format!("http://{a}")).collect();
    let reversed: Vec<String> = urls.iter().rev().cloned().collect();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(15))
        .build()
        .unwrap();

    let mut standbys = vec![Standby::start_at(dir.path(), &addrs[0], &db)];
    let mut serving = next_serving(&mut standbys).await;
    standbys.push(Standby::start_at(dir.path(), &addrs[1], &db));
    standbys.push(Standby::start_at(dir.path(), &addrs[2], &db));

    // An operator streams from each replica, following the hub across
    // the kills as the TUI does with `--hub`.
    let (stop_following, following) = tokio::sync::watch::channel(false);
    let (attached, mut attaching) = tokio::sync::mpsc::channel(urls.len());
    let followers: Vec<_> = (0..urls.len())
        .map(|start| {
            let (urls, following, attached) = (urls.clone(), following.clone(), attached.clone());
            tokio::spawn(follow(urls, start, following, attached))
        })
        .collect();
    for _ in 0..urls.len() {
        attaching.recv().await.expect("every stream opens");
    }
    // The approvals to race, asked before the fleet's own (APR-1 to 203).
    let now = Utc::now();
    let mut lines: Vec<String> = (1..=200)
        .map(|i| {
            approval_line(
                "race-bot",
                &format!("race-{i}"),
                now,
                now + Span::minutes(30),
            )
        })
        .collect();
    // Three that lapse during the test: their expiry fires once.
    lines.extend((1..=3).map(|i| {
        approval_line(
            "race-bot",
            &format!("lapse-{i}"),
            now,
            now + Span::seconds(12),
        )
    }));
    let (s, body) = any(
        &http,
        &urls,
        "/v1/events",
        AGENT,
        Some((lines.join("\n"), None)),
    )
    .await;
    assert_eq!((s, &body["accepted"]), (200, &json!(203)), "{body}");

    // The fleet, posting across the three addresses for the whole test.
    let fleet = Command::new(env!("CARGO_BIN_EXE_agentdeck"))
        .args([
            "simulate",
            "--hub",
            &urls.join(","),
            "--scenario",
            "tool-outage",
        ])
        .args(["--agents", "10", "--rate", "5000", "--duration", "45s"])
        .env("AGENTDECK_AGENT_TOKEN", AGENT)
        .env("AGENTDECK_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();

    // OTLP/gRPC through a standby: relayed with its trailers, so the
    // serving replica's answers (and refusals) come back as they are.
    grpc_through(&urls[2]).await;
    let agents = any(&http, &urls, "/v1/state", LEAD, None).await.1;
    assert!(
        agents["agents"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["id"] == "grpc-bot"),
        "the run exported through the standby reached the serving replica"
    );

    // A standby answers too: it forwards to the replica that serves.
    let (s, state) = any(&http, &urls[2..], "/v1/state", LEAD, None).await;
    assert_eq!(s, 200, "{state}");
    assert!(state["approvals"].is_array(), "{state}");

    let mut outcomes = Vec::new();
    for i in 1..=200u32 {
        if i == 60 || i == 130 {
            // kill -9 the serving replica; bring it back as a standby.
            let killed_at = serving.url.trim_start_matches("http://").to_string();
            serving.kill();
            standbys.push(Standby::start_at(dir.path(), &killed_at, &db));
        }
        let path = format!("/v1/approvals/APR-{i}/decision");
        let approve = json!({"decision": "approve", "reason": "checked"}).to_string();
        let reject = json!({"decision": "reject", "reason": "not this one"}).to_string();
        let (a, b) = tokio::join!(
            any(
                &http,
                &urls,
                &path,
                APPROVER,
                Some((approve, Some(format!("a-{i}"))))
            ),
            any(
                &http,
                &reversed,
                &path,
                APPROVER2,
                Some((reject, Some(format!("b-{i}"))))
            ),
        );
        outcomes.push((i, a.0, b.0));
        if i == 60 || i == 130 {
            serving = next_serving(&mut standbys).await;
            eprintln!("race {i}: {} serves after the kill", serving.url);
        }
    }
    for (i, a, b) in &outcomes {
        let mut got = [*a, *b];
        got.sort();
        assert_eq!(got, [200, 409], "APR-{i}: {a} and {b}");
    }

    // The short approvals lapse (12 s after they were asked) and expire.
    let until = Instant::now() + Duration::from_secs(40);
    let audit = loop {
        let (_, page) = any(
            &http,
            &urls,
            "/v1/audit?limit=1000&agent=race-bot",
            LEAD,
            None,
        )
        .await;
        let expired = page["entries"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["action"] == "approval.expired")
            .count();
        if expired >= 3 || Instant::now() > until {
            break page;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let mut per_approval: std::collections::HashMap<(String, String), usize> = Default::default();
    for e in audit["entries"].as_array().unwrap() {
        let key = (
            e["subject"].as_str().unwrap().to_string(),
            e["action"].as_str().unwrap().to_string(),
        );
        *per_approval.entry(key).or_default() += 1;
    }
    for i in 1..=203 {
        let id = format!("APR-{i}");
        let closed = ["approval.decided", "approval.expired"]
            .iter()
            .map(|a| {
                per_approval
                    .get(&(id.clone(), (*a).to_string()))
                    .copied()
                    .unwrap_or(0)
            })
            .sum::<usize>();
        assert_eq!(closed, 1, "{id} closed {closed} times");
    }
    for i in 201..=203 {
        let key = (format!("APR-{i}"), "approval.expired".to_string());
        assert_eq!(per_approval.get(&key), Some(&1), "APR-{i} expired once");
    }

    // Every operator's stream resumed with no gap, no duplicate and no
    // new snapshot, and an id means the same delta on every replica.
    stop_following.send(true).unwrap();
    let mut by_id: std::collections::HashMap<u64, (String, Value)> = Default::default();
    for (start, follower) in followers.into_iter().enumerate() {
        let followed = follower.await.unwrap();
        eprintln!(
            "stream from {}: ids {}..={}, resumed {} times",
            urls[start],
            followed.first().map_or(0, |e| e.id),
            followed.last().map_or(0, |e| e.id),
            followed.iter().filter(|e| e.event == "resumed").count()
        );
        for e in followed.iter().filter(|e| e.event == "resumed") {
            eprintln!("  resumed after id {} on {}", e.id, e.data);
        }
        let deltas: Vec<&Sse> = followed.iter().filter(|e| e.event != "resumed").collect();
        let resumes = followed.len() - deltas.len();
        assert!(resumes >= 1, "{}: resumed {resumes} times", urls[start]);
        assert!(
            deltas
                .iter()
                .any(|e| e.event == "approval" && e.data["request_id"] == "race-1"),
            "{}: the stream carried the new approvals",
            urls[start]
        );
        for e in deltas {
            let known = by_id
                .entry(e.id)
                .or_insert_with(|| (e.event.clone(), e.data.clone()));
            assert_eq!(known, &(e.event.clone(), e.data.clone()), "id {}", e.id);
        }
    }

    // The tool outage burns refund-bot's completion SLO: its incident was
    // opened once, by whichever hub served, and never again by the hubs
    // that took over.
    let (_, page) = any(
        &http,
        &urls,
        "/v1/audit?limit=1000&kind=incident",
        LEAD,
        None,
    )
    .await;
    let mut opened: std::collections::HashMap<String, usize> = Default::default();
    for e in page["entries"].as_array().unwrap() {
        if e["action"] == "incident.opened" {
            let series = e["details"]["series"].as_str().unwrap_or_default();
            *opened.entry(series.to_string()).or_default() += 1;
        }
    }
    eprintln!("incidents opened per series: {opened:?}");
    assert!(!opened.is_empty(), "the outage opened incidents");
    assert!(opened.values().all(|n| *n == 1), "{opened:?}");

    // The fleet lost no post across the two takeovers.
    let out = tokio::task::spawn_blocking(move || fleet.wait_with_output().unwrap())
        .await
        .unwrap();
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{summary}");
    assert!(summary.contains("failed posts 0"), "{summary}");
    eprintln!("{summary}");

    drop(serving);
    drop(standbys);
    chain_verifies(&db);
}
