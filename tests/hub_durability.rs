//! Durability of the real `agentdeck serve` process: everything acknowledged
//! survives `kill -9`, stream ids keep rising, and the audit chain verifies.

mod support;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::json;

fn write_tokens(dir: &Path) {
    let (_, tokens) = support::token_store();
    let mut text = String::new();
    for (name, role) in [("lead", "lead"), ("agent", "agent")] {
        text.push_str(&format!(
            "[[token]]\nname = \"{name}\"\nrole = \"{role}\"\nsha256 = \"{}\"\n{}",
            agentdeck::hub::auth::hash_token(&tokens[name]),
            if role == "agent" {
                "agents = [\"*\"]\n"
            } else {
                ""
            }
        ));
    }
    std::fs::write(dir.join("tokens.toml"), text).unwrap();
}

/// Starts the hub binary and returns it with its base URL.
fn spawn_hub(dir: &Path) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_agentdeck"))
        .args(["serve", "--listen", "127.0.0.1:0", "--db"])
        .arg(dir.join("hub.db"))
        .arg("--tokens")
        .arg(dir.join("tokens.toml"))
        .env("AGENTDECK_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start agentdeck serve");
    let stdout = child.stdout.take().unwrap();
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no URL in {line:?}"))
        .to_string();
    (child, url)
}

async fn post(
    http: &reqwest::Client,
    url: &str,
    body: serde_json::Value,
    key: &str,
) -> Option<serde_json::Value> {
    let (_, tokens) = support::token_store();
    let r = http
        .post(url)
        .bearer_auth(&tokens["lead"])
        .header("Idempotency-Key", key)
        .json(&body)
        .send()
        .await
        .ok()?;
    if !r.status().is_success() {
        return None;
    }
    r.json().await.ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_actions_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    write_tokens(dir.path());
    let (_, tokens) = support::token_store();
    let http = support::client();
    let (mut child, url) = spawn_hub(dir.path());

    // A stream watcher notes the highest id it saw before the kill.
    let watch_url = format!("{url}/v1/stream");
    let lead = tokens["lead"].clone();
    let watcher = tokio::spawn(async move {
        use eventsource_stream::Eventsource;
        use futures_util::StreamExt;
        let r = support::client()
            .get(watch_url)
            .bearer_auth(lead)
            .send()
            .await
            .unwrap();
        let mut events = r.bytes_stream().eventsource();
        let mut max_id = 0u64;
        while let Some(Ok(e)) = events.next().await {
            max_id = max_id.max(e.id.parse().unwrap_or(0));
        }
        max_id
    });

    // Actions flow in; some are acknowledged before the kill, some are cut off.
    let mut acked = Vec::new();
    let sender_url = url.clone();
    let sender_http = http.clone();
    let sender = tokio::spawn(async move {
        let mut acked = Vec::new();
        for i in 0.. {
            let body =
                json!({"title": format!("incident {i}"), "severity": "SEV3", "category": "other"});
            match post(
                &sender_http,
                &format!("{sender_url}/v1/incidents"),
                body,
                &format!("open-{i}"),
            )
            .await
            {
                Some(inc) => acked.push((i, inc["id"].as_str().unwrap().to_string())),
                None => break,
            }
        }
        acked
    });
    tokio::time::sleep(Duration::from_millis(1500)).await;
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    acked.extend(sender.await.unwrap());
    let max_seen = watcher.await.unwrap();
    assert!(
        acked.len() > 10,
        "only {} actions acknowledged",
        acked.len()
    );

    // Restart on the same database.
    let (mut child, url) = spawn_hub(dir.path());
    let r = http
        .get(format!("{url}/v1/state"))
        .bearer_auth(&tokens["lead"])
        .send()
        .await
        .unwrap();
    let state: serde_json::Value = r.json().await.unwrap();
    let ids: Vec<&str> = state["incidents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    for (_, id) in &acked {
        assert!(
            ids.contains(&id.as_str()),
            "acknowledged {id} lost after kill -9"
        );
    }
    // Stream ids continue above anything a client saw.
    assert!(
        state["seq"].as_u64().unwrap() >= max_seen,
        "seq {} went back below {max_seen}",
        state["seq"]
    );
    // A retried action (same key) is answered, not applied again.
    let (i, id) = acked.last().unwrap().clone();
    let again = post(
        &http,
        &format!("{url}/v1/incidents"),
        json!({"title": format!("incident {i}"), "severity": "SEV3", "category": "other"}),
        &format!("open-{i}"),
    )
    .await
    .unwrap();
    assert_eq!(again["id"], id.as_str());
    let state: serde_json::Value = http
        .get(format!("{url}/v1/state"))
        .bearer_auth(&tokens["lead"])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let count = state["incidents"].as_array().unwrap().len();
    assert_eq!(count, ids.len(), "a retry must not open a second incident");
    // New ids do not collide with old ones.
    let fresh = post(
        &http,
        &format!("{url}/v1/incidents"),
        json!({"title": "after restart", "severity": "SEV4", "category": "other"}),
        "after-restart",
    )
    .await
    .unwrap();
    assert!(!ids.contains(&fresh["id"].as_str().unwrap()));
    child.kill().unwrap();
    child.wait().unwrap();

    // The audit chain verifies, and names an edit when there is one.
    let verify = || {
        Command::new(env!("CARGO_BIN_EXE_agentdeck"))
            .args(["audit", "verify", "--db"])
            .arg(dir.path().join("hub.db"))
            .output()
            .unwrap()
    };
    let out = verify();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.starts_with("audit log intact"), "{text}");
    let conn = rusqlite::Connection::open(dir.path().join("hub.db")).unwrap();
    conn.execute("UPDATE audit SET actor = 'mallory' WHERE seq = 3", [])
        .unwrap();
    drop(conn);
    let out = verify();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("audit entry 3 was altered"), "{text}");
}

#[test]
fn an_in_memory_database_is_refused_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    write_tokens(dir.path());
    let out = Command::new(env!("CARGO_BIN_EXE_agentdeck"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--db",
            ":memory:",
            "--tokens",
        ])
        .arg(dir.path().join("tokens.toml"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(":memory: is refused"), "{err}");
}

#[test]
fn a_missing_tokens_file_says_how_to_make_one() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_agentdeck"))
        .args(["serve", "--listen", "127.0.0.1:0", "--db"])
        .arg(dir.path().join("hub.db"))
        .arg("--tokens")
        .arg(dir.path().join("nope.toml"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("agentdeck token new"), "{err}");
}

#[test]
fn token_new_prints_a_token_and_its_entry() {
    let out = Command::new(env!("CARGO_BIN_EXE_agentdeck"))
        .args([
            "token", "new", "--name", "dana", "--role", "approver", "--json",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let token = v["token"].as_str().unwrap();
    let store = agentdeck::hub::auth::TokenStore::parse("t", v["toml"].as_str().unwrap()).unwrap();
    let who = store.authenticate(token).unwrap();
    assert_eq!(who.name, "dana");
    let out = Command::new(env!("CARGO_BIN_EXE_agentdeck"))
        .args(["token", "new", "--name", "dana", "--role", "boss"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("boss"));
}

/// SIGTERM stops the hub at once although operators are watching its
/// stream: the open streams end (a TUI then reconnects, to the next hub)
/// instead of holding the graceful shutdown open until every operator
/// disconnects.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_ends_open_streams_and_stops_promptly() {
    use futures_util::StreamExt;

    let dir = tempfile::tempdir().unwrap();
    write_tokens(dir.path());
    let (mut child, url) = spawn_hub(dir.path());
    let (_, tokens) = support::token_store();
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let mut streams = Vec::new();
    for _ in 0..3 {
        let r = http
            .get(format!("{url}/v1/stream"))
            .bearer_auth(&tokens["lead"])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
        let mut body = r.bytes_stream();
        let snapshot = tokio::time::timeout(Duration::from_secs(10), body.next())
            .await
            .expect("the snapshot arrives");
        assert!(snapshot.is_some_and(|c| c.is_ok()), "the stream opened");
        streams.push(body);
    }

    let asked = std::time::Instant::now();
    let sent = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(sent.success());
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if asked.elapsed() > Duration::from_secs(10) {
            child.kill().unwrap();
            panic!("the hub still runs 10 s after SIGTERM, with 3 streams open");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "{status}");
    eprintln!("stopped {:?} after SIGTERM", asked.elapsed());

    // Each stream ends, rather than hanging.
    for mut body in streams {
        let ended = tokio::time::timeout(Duration::from_secs(5), async {
            while let Some(chunk) = body.next().await {
                if chunk.is_err() {
                    break;
                }
            }
        })
        .await;
        assert!(
            ended.is_ok(),
            "a stream was still open after the hub stopped"
        );
    }
}
