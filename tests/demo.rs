//! `agentdeck demo --hub-only`, as a user (or a script) would run it.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_hub_only_shows_the_loop_and_leaves_nothing_behind() {
    let tmp = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_agentdeck"))
        .args(["demo", "--hub-only", "--json"])
        .env("TMPDIR", tmp.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let info: serde_json::Value = serde_json::from_str(&line).unwrap();
    let hub = info["hub"].as_str().unwrap().to_string();
    let token = info["token"].as_str().unwrap().to_string();
    assert!(hub.starts_with("http://127.0.0.1:"), "{hub}");
    assert_eq!(
        std::fs::read_dir(tmp.path()).unwrap().count(),
        1,
        "one work directory"
    );

    let http = support::client();
    let health = http.get(format!("{hub}/healthz")).send().await.unwrap();
    assert_eq!(health.status().as_u16(), 200);

    let started = Instant::now();
    let (mut incident, mut approval) = (false, false);
    while started.elapsed() < Duration::from_secs(60) && !(incident && approval) {
        let state: serde_json::Value = http
            .get(format!("{hub}/v1/state"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        incident = !state["incidents"].as_array().unwrap().is_empty();
        approval = !state["approvals"].as_array().unwrap().is_empty();
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(incident, "no incident within 60 s");
    assert!(approval, "no pending approval within 60 s");

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = child.wait().unwrap();
    assert!(status.success(), "demo exited with {status}");
    assert_eq!(
        std::fs::read_dir(tmp.path()).unwrap().count(),
        0,
        "the demo left files behind"
    );
    assert!(
        http.get(format!("{hub}/healthz")).send().await.is_err(),
        "the hub still answers"
    );
}
