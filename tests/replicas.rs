//! Hub replicas on one PostgreSQL, through the real binary: one serves,
//! the others stand by without listening; `kill -9` of the one serving
//! hands over within the lease's expiry, a clean stop at once, and nothing
//! acknowledged is lost on the way: decisions, their idempotency keys,
//! the journal, the audit chain (checked by `agentdeck audit verify` on
//! the database every replica writes). A hub that lost its lease writes
//! nothing more (fencing).

mod support;

use std::ffi::OsString;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use agentdeck::hub::pg::{PgStore, PgTarget, lease};
use chrono::{Duration as Span, Utc};
use serde_json::{Value, json};
use support::postgres::PgServer;
use support::serve::{ServeProcess, Starting};
use support::{Next, Sse, StreamClient, approval_line, run_line};

const AGENT: &str = "adk_replica_agent";
const APPROVER: &str = "adk_replica_approver";
const LEAD: &str = "adk_replica_lead";
const APPROVER2: &str = "adk_replica_approver2";

fn tokens(dir: &Path) {
    let mut text = String::new();
    for (name, role, token) in [
        ("fleet", "agent", AGENT),
        ("ann", "approver", APPROVER),
        ("bo", "approver", APPROVER2),
        ("lee", "lead", LEAD),
    ] {
        text.push_str(&format!(
            "[[token]]\nname = \"{name}\"\nrole = \"{role}\"\nsha256 = \"{}\"\n",
            agentdeck::hub::auth::hash_token(token)
        ));
        if role == "agent" {
            text.push_str("agents = [\"*\"]\n");
        }
        text.push('\n');
    }
    std::fs::write(dir.join("tokens.toml"), text).unwrap();
}

fn replica(dir: &Path, db: &OsString) -> ServeProcess {
    Standby::start_at(dir, "127.0.0.1:0", db).join()
}

/// A replica started and standing by; killed when dropped unless it was
/// joined once serving.
struct Standby {
    pid: u32,
    handle: Option<std::thread::JoinHandle<Option<ServeProcess>>>,
}

impl Standby {
    /// Starts a replica at `listen` whose serving is awaited on a thread.
    fn start_at(dir: &Path, listen: &str, db: &OsString) -> Self {
        let tokens = dir.join("tokens.toml");
        let args = [
            OsString::from("--otlp-grpc-listen"),
            "off".into(),
            "--tokens".into(),
            tokens.into(),
        ];
        let starting = Starting::spawn(dir, listen, db, &args, &[]);
        let pid = starting.pid();
        Self {
            pid,
            handle: Some(std::thread::spawn(move || starting.try_serving())),
        }
    }

    fn is_serving(&self) -> bool {
        self.handle.as_ref().is_some_and(|h| h.is_finished())
    }

    fn join(mut self) -> ServeProcess {
        let handle = self.handle.take().expect("not joined yet");
        handle.join().ok().flatten().expect("the standby serves")
    }
}

impl Drop for Standby {
    fn drop(&mut self) {
        if let Some(handle) = self.handle.take() {
            let _ = Command::new("kill")
                .args(["-KILL", &self.pid.to_string()])
                .status();
            if let Ok(Some(hub)) = handle.join() {
                drop(hub);
            }
        }
    }
}

/// A replica on any free port, standing by until it serves.
fn standby(dir: &Path, db: &OsString) -> Standby {
    Standby::start_at(dir, "127.0.0.1:0", db)
}

async fn call(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    token: &str,
    body: Option<(String, Option<&str>)>,
) -> (u16, Value) {
    let mut req = http.request(method, url).bearer_auth(token);
    if let Some((body, key)) = body {
        req = req.body(body).header("content-type", "application/json");
        if let Some(k) = key {
            req = req.header("Idempotency-Key", k);
        }
    }
    let r = req.send().await.expect("the replica answers");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn decide(http: &reqwest::Client, hub: &ServeProcess, id: &str, key: &str) -> (u16, Value) {
    let body = json!({"decision": "approve", "reason": "checked"}).to_string();
    call(
        http,
        reqwest::Method::POST,
        format!("{}/v1/approvals/{id}/decision", hub.url),
        APPROVER,
        Some((body, Some(key))),
    )
    .await
}

async fn state(http: &reqwest::Client, hub: &ServeProcess) -> Value {
    let url = format!("{}/v1/state", hub.url);
    call(http, reqwest::Method::GET, url, LEAD, None).await.1
}

fn waits(standby: &Standby, for_: Duration) -> bool {
    let until = Instant::now() + for_;
    while Instant::now() < until {
        if standby.is_serving() {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    true
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standby_takes_over_with_everything_acknowledged() {
    let Some(pg) = PgServer::start() else { return };
    let db = OsString::from(pg.create_database("replicas"));
    let dir = tempfile::tempdir().unwrap();
    tokens(dir.path());
    let http = reqwest::Client::new();

    let mut first = replica(dir.path(), &db);
    let now = Utc::now();
    let mut lines: Vec<String> = (0..40)
        .map(|i| run_line("refund-bot", &format!("r-{i}"), "success", now))
        .collect();
    lines.extend((1..=3).map(|i| {
        approval_line(
            "refund-bot",
            &format!("q-{i}"),
            now,
            now + Span::minutes(30),
        )
    }));
    let (s, body) = call(
        &http,
        reqwest::Method::POST,
        format!("{}/v1/events", first.url),
        AGENT,
        Some((lines.join("\n"), None)),
    )
    .await;
    assert_eq!((s, &body["accepted"]), (200, &json!(43)), "{body}");
    // An operator watches the decision, then leaves; the first publishes
    // more (a new approval) before it dies.
    let mut watching = StreamClient::open_url(&first.url, LEAD, None)
        .await
        .unwrap();
    let snapshot = watching.next(Duration::from_secs(10)).await.unwrap();
    assert_eq!(snapshot.event, "snapshot");
    let decided = decide(&http, &first, "APR-1", "d-1").await;
    assert_eq!(decided.0, 200, "{}", decided.1);
    let seen = watching
        .until("audit", |e| e["action"] == "approval.decided")
        .await
        .id;
    drop(watching);
    let later = approval_line("refund-bot", "q-4", now, now + Span::minutes(30));
    let url = format!("{}/v1/events", first.url);
    let (s, _) = call(
        &http,
        reqwest::Method::POST,
        url,
        AGENT,
        Some((later, None)),
    )
    .await;
    assert_eq!(s, 200);

    // A second replica stands by: it does not listen while the first
    // holds the lease.
    let second = standby(dir.path(), &db);
    assert!(
        waits(&second, Duration::from_secs(3)),
        "a standby serves only once the lease is free"
    );

    // kill -9: no clean release; the standby takes over once the lease
    // expires.
    let killed = Instant::now();
    first.kill();
    let mut second = second.join();
    let took = killed.elapsed();
    eprintln!("kill -9 to the standby serving: {took:?}");
    assert!(
        took < Duration::from_secs(20),
        "took over in {took:?}, beyond the lease's expiry and a start"
    );

    // Everything acknowledged by the first is there.
    let s = state(&http, &second).await;
    let approvals: Vec<(String, String)> = s["approvals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["id"].as_str().unwrap().into(),
                a["state"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert!(
        approvals.contains(&("APR-2".into(), "pending".into()))
            && approvals.contains(&("APR-3".into(), "pending".into())),
        "{approvals:?}"
    );
    // The decision made on the first: its idempotent repeat gets the same
    // answer, another decision 409 naming who decided.
    let repeat = decide(&http, &second, "APR-1", "d-1").await;
    assert_eq!(repeat, decided, "the idempotency key is in the database");
    let late = decide(&http, &second, "APR-1", "d-1b").await;
    assert_eq!(late.0, 409, "{}", late.1);
    assert!(
        late.1["error"].as_str().unwrap().contains("by ann"),
        "{}",
        late.1
    );
    let next = decide(&http, &second, "APR-2", "d-2").await;
    assert_eq!(next.0, 200, "{}", next.1);
    resumes_where_it_left(&second, seen).await;

    // A clean stop releases the lease: a standby serves within moments.
    let third = standby(dir.path(), &db);
    assert!(waits(&third, Duration::from_secs(2)));
    let stopped = Instant::now();
    assert!(second.stop().success());
    let third = third.join();
    eprintln!("clean stop to the standby serving: {:?}", stopped.elapsed());
    let s = state(&http, &third).await;
    let decided: Vec<&str> = s["audit"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "approval.decided")
        .map(|e| e["subject"].as_str().unwrap())
        .collect();
    assert_eq!(decided, ["APR-1", "APR-2"], "{s}");
    assert_eq!(s["approvals"].as_array().map(Vec::len), Some(2), "{s}");
    drop(third);

    // One chain across the three replicas.
    chain_verifies(&db);
}

/// `agentdeck audit verify` on `db` finds one intact chain, whichever
/// replicas wrote it.
fn chain_verifies(db: &std::ffi::OsStr) {
    let verify = Command::new(env!("CARGO_BIN_EXE_agentdeck"))
        .args(["audit", "verify", "--db"])
        .arg(db)
        .env("AGENTDECK_LOG", "warn")
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&verify.stdout);
    assert!(
        verify.status.success() && out.contains("audit log intact"),
        "{out}"
    );
}

/// A stream resumed on `hub` after `seen`, the last id the operator saw
/// from the replica that died, carries every delta after it in id order,
/// with no snapshot: the dead one's last (APR-4 requested) from the
/// shared log, then this one's (APR-2 approved).
async fn resumes_where_it_left(hub: &ServeProcess, seen: u64) {
    let mut resumed = StreamClient::open_url(&hub.url, LEAD, Some(seen))
        .await
        .unwrap();
    let (mut last, mut requested) = (seen, false);
    loop {
        let e = resumed
            .next(Duration::from_secs(10))
            .await
            .expect("the resumed stream goes on");
        assert_eq!(
            (e.id, e.event.as_str() == "snapshot"),
            (last + 1, false),
            "after {last}: {} {}",
            e.id,
            e.event
        );
        last = e.id;
        if e.event == "approval" {
            requested |= e.data["id"] == "APR-4" && e.data["state"] == "pending";
            if e.data["id"] == "APR-2" && e.data["state"] == "approved" {
                break;
            }
        }
    }
    assert!(
        requested,
        "the dead replica's last deltas came from the log"
    );
    eprintln!("resumed after id {seen} on the replica that took over, up to {last}");
}

/// A hub whose lease was taken over writes nothing: its transaction finds
/// its epoch gone and rolls back, naming why.
#[test]
fn a_hub_that_lost_its_lease_writes_nothing() {
    let Some(pg) = PgServer::start() else { return };
    let url = pg.create_database("fenced");
    let target = PgTarget::parse(&url).unwrap();
    let mut store = PgStore::open(&target).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let client = rt.block_on(target.connect()).unwrap();
    let ttl = Duration::from_millis(300);
    let held = rt
        .block_on(lease::acquire(&client, "hub", "old", ttl))
        .unwrap()
        .unwrap();
    store.set_fence(held);
    let batch = |key: &'static str| agentdeck::hub::store::Batch {
        meta: vec![(key, "1".to_string())],
        ..Default::default()
    };
    store.write(&batch("while_held")).unwrap();
    // The lease lapses and another replica takes it.
    let taken = loop {
        std::thread::sleep(Duration::from_millis(100));
        if let Some(h) = rt
            .block_on(lease::acquire(
                &client,
                "hub",
                "new",
                Duration::from_secs(30),
            ))
            .unwrap()
        {
            break h;
        }
    };
    assert_eq!(taken.epoch, 2);
    let refused = store.write(&batch("after_losing")).unwrap_err();
    assert!(refused.0.contains("no longer holds"), "{refused}");
    assert!(store.write_failure().is_some(), "the failure is reported");
    let loaded = store.load(10, Utc::now()).unwrap();
    assert!(loaded.meta.contains_key("while_held"));
    assert!(!loaded.meta.contains_key("after_losing"), "nothing written");
}

/// A serving hub whose lease is taken from it (a pause past its expiry, a
/// network split healed after another replica took over) stops with exit
/// status 75, for its supervisor to start it again as a standby.
#[test]
fn a_hub_whose_lease_is_taken_stops() {
    let Some(pg) = PgServer::start() else { return };
    let url = pg.create_database("taken");
    let dir = tempfile::tempdir().unwrap();
    tokens(dir.path());
    let mut hub = replica(dir.path(), &OsString::from(&url));
    let target = PgTarget::parse(&url).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let client = target.connect().await.unwrap();
        client
            .execute(
                "UPDATE leases SET holder = 'elsewhere', epoch = epoch + 1 WHERE name = 'hub'",
                &[],
            )
            .await
            .unwrap();
    });
    let until = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(status) = hub.child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < until, "the hub went on serving");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(status.code(), Some(75));
}

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

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
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

/// A network split between the serving replica and the database (a proxy
/// between them stops forwarding, sockets left open): its writes fail with
/// 503 instead of hanging the hub; a standby that still reaches the
/// database takes over once the lease lapses; the cut-off hub stops with
/// exit status 75; nothing it acknowledged is lost and nothing is written
/// twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_cut_off_from_the_database_yields_to_a_standby() {
    let Some(pg) = PgServer::start() else { return };
    let direct = pg.create_database("split");
    let proxy =
        support::proxy::Proxy::start(format!("127.0.0.1:{}", pg.port()).parse().unwrap()).await;
    let through_proxy = direct.replace(
        &format!("127.0.0.1:{}/", pg.port()),
        &format!("{}/", proxy.addr),
    );
    let dir = tempfile::tempdir().unwrap();
    tokens(dir.path());
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();

    let cut_off = Standby::start_at(dir.path(), "127.0.0.1:0", &OsString::from(&through_proxy));
    let until = Instant::now() + Duration::from_secs(30);
    while !cut_off.is_serving() {
        assert!(Instant::now() < until, "the first replica serves");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let first = cut_off.join();
    let other = Standby::start_at(dir.path(), "127.0.0.1:0", &OsString::from(&direct));
    let now = Utc::now();
    let (s, body) = call(
        &http,
        reqwest::Method::POST,
        format!("{}/v1/events", first.url),
        AGENT,
        Some((
            approval_line("refund-bot", "q-1", now, now + Span::minutes(30)),
            None,
        )),
    )
    .await;
    assert_eq!(s, 200, "{body}");

    proxy.blackhole();
    let split = Instant::now();
    // A decision on the cut-off hub: refused (503), never taken.
    let (s, body) = decide(&http, &first, "APR-1", "k-split").await;
    eprintln!(
        "decision on the cut-off hub: {s} after {:?}",
        split.elapsed()
    );
    assert_eq!(s, 503, "{body}");
    let until = Instant::now() + Duration::from_secs(40);
    while !other.is_serving() {
        assert!(Instant::now() < until, "the standby took over");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!("split to the standby serving: {:?}", split.elapsed());
    let second = other.join();
    let mut first = first;
    let status = loop {
        if let Some(status) = first.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            split.elapsed() < Duration::from_secs(60),
            "the cut-off hub went on"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    eprintln!("split to the cut-off hub stopping: {:?}", split.elapsed());
    assert_eq!(status.code(), Some(75));
    proxy.heal();

    // The decision refused on the cut-off hub is taken by the new one with
    // the same key, once.
    let (s, body) = decide(&http, &second, "APR-1", "k-split").await;
    assert_eq!(s, 200, "{body}");
    let (_, audit) = call(
        &http,
        reqwest::Method::GET,
        format!("{}/v1/audit?limit=100", second.url),
        LEAD,
        None,
    )
    .await;
    let actions: Vec<&str> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["approval.requested", "approval.decided"]);
}

/// PostgreSQL fails over to its standby: synchronous replication, the
/// primary stopped at once as in a crash, the standby promoted. The hub,
/// given both servers with `target_session_attrs=read-write`, reconnects
/// to the new primary within its lease and goes on serving: requests in
/// between are refused (503) and retried, nothing it acknowledged is
/// lost, its stream goes on, and the audit chain verifies on the new
/// primary.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_failover_keeps_the_hub_serving() {
    let Some(primary) = PgServer::start() else {
        return;
    };
    primary.create_database("failover");
    let standby = primary.synchronous_standby();
    let db = OsString::from(format!(
        "postgres://agentdeck:{}@127.0.0.1:{},127.0.0.1:{}/failover?target_session_attrs=read-write",
        support::postgres::PASSWORD,
        primary.port(),
        standby.port()
    ));
    let dir = tempfile::tempdir().unwrap();
    tokens(dir.path());
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(15))
        .build()
        .unwrap();
    let mut hub = replica(dir.path(), &db);
    let now = Utc::now();
    let lines: Vec<String> = (1..=3)
        .map(|i| {
            approval_line(
                "refund-bot",
                &format!("q-{i}"),
                now,
                now + Span::minutes(30),
            )
        })
        .collect();
    let url = format!("{}/v1/events", hub.url);
    let (s, _) = call(
        &http,
        reqwest::Method::POST,
        url,
        AGENT,
        Some((lines.join("\n"), None)),
    )
    .await;
    assert_eq!(s, 200);
    let decided = decide(&http, &hub, "APR-1", "d-1").await;
    assert_eq!(decided.0, 200, "{}", decided.1);
    let mut watching = StreamClient::open_url(&hub.url, LEAD, None).await.unwrap();
    assert_eq!(
        watching.next(Duration::from_secs(10)).await.unwrap().event,
        "snapshot"
    );

    let failed_over = Instant::now();
    primary.crash();
    standby.promote();
    eprintln!(
        "primary stopped and standby promoted in {:?}",
        failed_over.elapsed()
    );
    // A decision while the hub finds the new primary: refused with 503
    // until then, retried with its key, taken once.
    let mut refused = 0;
    let next = loop {
        let answer = decide(&http, &hub, "APR-2", "d-2").await;
        if answer.0 != 503 {
            break answer;
        }
        refused += 1;
        assert!(
            failed_over.elapsed() < Duration::from_secs(30),
            "still refused: {}",
            answer.1
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    eprintln!(
        "decision taken {:?} after the failover, {refused} refused before",
        failed_over.elapsed()
    );
    assert_eq!(next.0, 200, "{}", next.1);
    assert!(
        hub.child.try_wait().unwrap().is_none(),
        "the hub kept its lease and serves on"
    );
    let repeat = decide(&http, &hub, "APR-1", "d-1").await;
    assert_eq!(repeat, decided, "the idempotency key was replicated");
    let s = state(&http, &hub).await;
    let pending: Vec<&str> = s["approvals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap())
        .collect();
    assert_eq!(pending, ["APR-3"], "{s}");
    let approved = watching
        .until("approval", |a| {
            a["id"] == "APR-2" && a["state"] == "approved"
        })
        .await;
    eprintln!("the stream went on to id {}", approved.id);

    drop(hub);
    chain_verifies(std::ffi::OsStr::new(&standby.url_for("failover")));
}
