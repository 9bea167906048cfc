//! Live reload of a real `agentdeck serve`: `SIGHUP` and `agentdeck reload`
//! put new tokens, SLOs and notify settings in force without a restart;
//! a revoked token's stream ends while the others stay; a broken file
//! keeps the whole previous configuration, says so in `/healthz` and the
//! audit log, and `agentdeck reload` names the file and line.

mod support;

use support::serve::ServeProcess;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use futures_util::StreamExt;

const LEAD: &str = "adk_reload_lead";
const VIEWER: &str = "adk_reload_viewer";
const LEAVER: &str = "adk_reload_leaver";

fn tokens(dir: &Path, with_leaver: bool) {
    let mut text = String::new();
    let mut add = |name: &str, role: &str, token: &str| {
        text.push_str(&format!(
            "[[token]]\nname = \"{name}\"\nrole = \"{role}\"\nsha256 = \"{}\"\n\n",
            agentdeck::hub::auth::hash_token(token)
        ));
    };
    add("lead", "lead", LEAD);
    add("viewer", "viewer", VIEWER);
    if with_leaver {
        add("leaver", "viewer", LEAVER);
    }
    std::fs::write(dir.join("tokens.toml"), text).unwrap();
}

fn slos(dir: &Path, with_latency: bool) {
    let mut text = String::from(
        "[[slo]]\nname = \"completion\"\nagent = \"*\"\nworkflow = \"*\"\nsli = \"completion\"\nobjective = 0.95\n",
    );
    if with_latency {
        text.push_str("\n[[slo]]\nname = \"latency\"\nagent = \"*\"\nworkflow = \"*\"\nsli = \"latency\"\nobjective = 0.9\nthreshold_ms = 5000\n");
    }
    std::fs::write(dir.join("slos.toml"), text).unwrap();
}

fn notify(dir: &Path, receiver: &str) {
    let text = format!(
        "[[receiver]]\nname = \"ops-slack\"\nkind = \"slack\"\nurl = \"http://127.0.0.1:9/slack\"\n\n[[route]]\nevents = [\"incident.opened\"]\nreceivers = [\"{receiver}\"]\n"
    );
    std::fs::write(dir.join("notify.toml"), text).unwrap();
}

/// The hub with the test's tokens, SLOs and paging files.
fn start_hub(dir: &Path) -> ServeProcess {
    ServeProcess::start(
        dir,
        &[
            "--otlp-grpc-listen",
            "off",
            "--tokens",
            "tokens.toml",
            "--slos",
            "slos.toml",
            "--notify",
            "notify.toml",
        ],
        &[],
    )
}

fn reload_cli(hub: &ServeProcess, token: &str) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_agentdeck"))
        .args(["reload", "--hub", &hub.url, "--token", token])
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

async fn status(http: &reqwest::Client, hub: &ServeProcess, token: &str, path: &str) -> u16 {
    http.get(format!("{}{path}", hub.url))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn healthz(http: &reqwest::Client, hub: &ServeProcess) -> String {
    http.get(format!("{}/healthz", hub.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

async fn audit(http: &reqwest::Client, hub: &ServeProcess) -> Vec<serde_json::Value> {
    let r = http
        .get(format!("{}/v1/audit?limit=500", hub.url))
        .bearer_auth(LEAD)
        .send()
        .await
        .unwrap();
    let body: serde_json::Value = r.json().await.unwrap();
    body["entries"].as_array().unwrap().clone()
}

/// Opens a stream and reads it on a task; the handle ends with the
/// stream, returning how many bytes came.
async fn stream(
    http: &reqwest::Client,
    hub: &ServeProcess,
    token: &str,
) -> tokio::task::JoinHandle<usize> {
    let r = http
        .get(format!("{}/v1/stream", hub.url))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    tokio::spawn(async move {
        let mut body = r.bytes_stream();
        let mut n = 0;
        while let Some(Ok(chunk)) = body.next().await {
            n += chunk.len();
        }
        n
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reloads_put_new_files_in_force_and_a_broken_file_keeps_the_old_ones() {
    let dir = tempfile::tempdir().unwrap();
    tokens(dir.path(), true);
    slos(dir.path(), false);
    notify(dir.path(), "ops-slack");
    let hub = start_hub(dir.path());
    let http = support::client();

    let leaver = stream(&http, &hub, LEAVER).await;
    let viewer = stream(&http, &hub, VIEWER).await;

    // SIGHUP with the leaver's token revoked: its stream ends, the
    // viewer's stays open, the token is refused from now on.
    tokens(dir.path(), false);
    hub.hup();
    let n = tokio::time::timeout(Duration::from_secs(10), leaver)
        .await
        .expect("the revoked token's stream ends")
        .unwrap();
    assert!(n > 0, "it had its snapshot first");
    assert!(!viewer.is_finished(), "the other stream stays");
    assert_eq!(status(&http, &hub, LEAVER, "/v1/state").await, 401);
    assert_eq!(status(&http, &hub, VIEWER, "/v1/state").await, 200);
    let entries = audit(&http, &hub).await;
    let reloaded = entries
        .iter()
        .find(|e| e["action"] == "config.reloaded")
        .unwrap();
    assert_eq!(reloaded["actor"], "SIGHUP");
    assert_eq!(reloaded["details"]["tokens"], 2);

    // A route naming a receiver that does not exist: refused whole.
    notify(dir.path(), "ops-slak");
    tokens(dir.path(), true);
    let (ok, text) = reload_cli(&hub, LEAD);
    assert!(!ok, "{text}");
    assert!(
        text.contains("notify.toml: route 1 names receiver \"ops-slak\", which is not declared"),
        "{text}"
    );
    assert!(text.contains("previous one stays in force"), "{text}");
    assert_eq!(
        status(&http, &hub, LEAVER, "/v1/state").await,
        401,
        "tokens of a refused reload are not in force"
    );
    let health = healthz(&http, &hub).await;
    assert!(
        health.starts_with("degraded: config: notify.toml: route 1"),
        "{health}"
    );
    let entries = audit(&http, &hub).await;
    let refused = entries
        .iter()
        .find(|e| e["action"] == "config.refused")
        .unwrap();
    assert_eq!(refused["actor"], "lead");
    assert!(
        refused["details"]["error"]
            .as_str()
            .unwrap()
            .contains("ops-slak")
    );

    // Fixed, with one more SLO: in force, SLOs computed again.
    notify(dir.path(), "ops-slack");
    slos(dir.path(), true);
    let (ok, text) = reload_cli(&hub, LEAD);
    assert!(ok, "{text}");
    assert!(
        text.starts_with("reloaded: 3 tokens, 2 SLOs, 0 runbooks, 1 receivers; changed: slos"),
        "{text}"
    );
    assert_eq!(healthz(&http, &hub).await, "ok\n");
    assert_eq!(status(&http, &hub, LEAVER, "/v1/state").await, 200);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !viewer.is_finished(),
        "reloads never drop a stream whose token stays"
    );

    // Only a lead may reload.
    let (ok, text) = reload_cli(&hub, VIEWER);
    assert!(
        !ok && text.contains("only a lead may reload (403)"),
        "{text}"
    );
}
