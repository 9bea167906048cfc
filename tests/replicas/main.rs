//! Hub replicas on one PostgreSQL, through the real binary: one serves,
//! the others stand by and forward to it; `kill -9` of the one serving
//! hands over within the lease's expiry, a clean stop at once, and nothing
//! acknowledged is lost on the way: decisions, their idempotency keys,
//! the journal, the audit chain (checked by `agentdeck audit verify` on
//! the database every replica writes). A hub that lost its lease writes
//! nothing more (fencing).

#[path = "../support/mod.rs"]
mod support;

mod database;
mod metrics;
mod races;
mod streams;
mod takeover;

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

/// Posts `ndjson` from the fleet to the replica at `url`: the answer's
/// body, once it is `200`.
async fn post_events(http: &reqwest::Client, url: &str, ndjson: String) -> Value {
    let url = format!("{url}/v1/events");
    let (s, body) = call(
        http,
        reqwest::Method::POST,
        url,
        AGENT,
        Some((ndjson, None)),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    body
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

/// A loopback port free now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}
