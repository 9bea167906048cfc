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
use support::serve::ServeProcess;
use support::{approval_line, run_line};

const AGENT: &str = "adk_replica_agent";
const APPROVER: &str = "adk_replica_approver";
const LEAD: &str = "adk_replica_lead";

fn tokens(dir: &Path) {
    let mut text = String::new();
    for (name, role, token) in [
        ("fleet", "agent", AGENT),
        ("ann", "approver", APPROVER),
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
    let tokens = dir.join("tokens.toml");
    let args = [
        OsString::from("--otlp-grpc-listen"),
        "off".into(),
        "--tokens".into(),
        tokens.into(),
    ];
    ServeProcess::start_on(dir, db, &args, &[])
}

/// Starts a replica on a thread of its own: it stands by until it serves.
fn standby(dir: &Path, db: &OsString) -> std::thread::JoinHandle<ServeProcess> {
    let (dir, db) = (dir.to_path_buf(), db.clone());
    std::thread::spawn(move || replica(&dir, &db))
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

fn waits(handle: &std::thread::JoinHandle<ServeProcess>, for_: Duration) -> bool {
    let until = Instant::now() + for_;
    while Instant::now() < until {
        if handle.is_finished() {
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
    let decided = decide(&http, &first, "APR-1", "d-1").await;
    assert_eq!(decided.0, 200, "{}", decided.1);

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
    let mut second = second.join().expect("the standby serves");
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

    // A clean stop releases the lease: a standby serves within moments.
    let third = standby(dir.path(), &db);
    assert!(waits(&third, Duration::from_secs(2)));
    let stopped = Instant::now();
    assert!(second.stop().success());
    let third = third.join().expect("the standby serves");
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
    assert_eq!(s["approvals"].as_array().map(Vec::len), Some(1), "{s}");
    drop(third);

    // One chain across the three replicas.
    let verify = Command::new(env!("CARGO_BIN_EXE_agentdeck"))
        .args(["audit", "verify", "--db"])
        .arg(&db)
        .env("AGENTDECK_LOG", "warn")
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&verify.stdout);
    assert!(verify.status.success(), "{out}");
    assert!(out.contains("audit log intact"), "{out}");
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
