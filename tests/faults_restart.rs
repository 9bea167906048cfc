//! Hub restart under load. The real `agentdeck serve` is killed with
//! SIGKILL while a fleet posts about 5,000 events/s, the real TUI runs in a
//! pseudo-terminal and the TUI's own feed client records every stream id;
//! then the hub is started again on the same port and database.
//!
//! What must hold: the TUI shows it is reconnecting, keeps the actions
//! pressed during the outage pending and retries them with their
//! idempotency key, then shows connected again; every action acknowledged
//! before the kill is still there and every action pressed during the
//! outage is applied exactly once; stream ids never repeat or go back and
//! every gap is covered by a snapshot (a restarted hub has no replay
//! buffer, so a resuming client gets a fresh snapshot above every id it
//! saw); every event acknowledged before the kill is counted after it, and
//! a batch re-sent after the restart is recognised as a repeat.

mod support_tui;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use agentdeck::client::feed::{self, FeedMsg};
use chrono::{Duration as Span, Utc};
use serde_json::{Value, json};
use support_tui::PtyTui;

/// Agents of the simulated fleet, one load worker each.
const WORKERS: u64 = 4;
/// Events per NDJSON batch.
const BATCH: u64 = 250;
/// The rate the fleet aims for; only correctness is asserted.
const TARGET_EVENTS_PER_S: u64 = 5_000;
/// The longest any one wait may take on a loaded machine.
const DEADLINE: Duration = Duration::from_secs(60);
/// The hub stays down at least this long: long enough for the fleet to
/// pile up a backlog and for actions to be retried more than once.
const MIN_OUTAGE: Duration = Duration::from_secs(2);
/// Terminal size: wide enough for the status bar to show the connection,
/// the pending actions and their last error side by side.
const ROWS: u16 = 40;
const COLS: u16 = 220;

// ---- the hub as a process ---------------------------------------------------

/// Writes a tokens file for `lead`, `viewer` and `agent` (which speaks for
/// every agent) and returns the tokens by name.
fn write_tokens(dir: &Path) -> HashMap<&'static str, String> {
    let mut tokens = HashMap::new();
    let mut text = String::new();
    for (name, role) in [("lead", "lead"), ("viewer", "viewer"), ("agent", "agent")] {
        let token = format!("adk_restart_{name}");
        text.push_str(&format!(
            "[[token]]\nname = \"{name}\"\nrole = \"{role}\"\nsha256 = \"{}\"\n{}",
            agentdeck::hub::auth::hash_token(&token),
            if role == "agent" {
                "agents = [\"*\"]\n"
            } else {
                ""
            }
        ));
        tokens.insert(name, token);
    }
    std::fs::write(dir.join("tokens.toml"), text).expect("write tokens.toml");
    tokens
}

/// A running `agentdeck serve`.
struct HubProcess {
    child: Child,
    url: String,
}

impl HubProcess {
    /// Starts the hub on `listen` with the database and tokens in `dir`
    /// and waits for the line that names its URL. Its log goes to
    /// `dir/hub.log`, so a failure can show it.
    fn spawn(dir: &Path, listen: &str) -> Result<Self, String> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("hub.log"))
            .map_err(|e| e.to_string())?;
        let mut child = Command::new(env!("CARGO_BIN_EXE_agentdeck"))
            .args(["serve", "--listen", listen, "--db"])
            .arg(dir.join("hub.db"))
            .arg("--tokens")
            .arg(dir.join("tokens.toml"))
            // No runbooks/ directory here: the hub loads none.
            .current_dir(dir)
            .env("AGENTDECK_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("start agentdeck serve: {e}"))?;
        let Some(stdout) = child.stdout.take() else {
            return Err("no stdout".into());
        };
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        let _ = reader.read_line(&mut line);
        let Some(url) = line.split_whitespace().find(|w| w.starts_with("http://")) else {
            let _ = child.kill();
            let _ = child.wait();
            let log = std::fs::read_to_string(dir.join("hub.log")).unwrap_or_default();
            return Err(format!("the hub printed {line:?}; its log:\n{log}"));
        };
        let url = url.to_string();
        // Keep reading, so the hub never writes into a closed pipe.
        std::thread::spawn(move || {
            let mut sink = Vec::new();
            let _ = reader.read_to_end(&mut sink);
        });
        Ok(Self { child, url })
    }

    /// SIGKILL, as `kill -9` does, and reaps the process.
    fn kill(&mut self) {
        self.child.kill().expect("kill the hub");
        self.child.wait().expect("reap the hub");
    }
}

impl Drop for HubProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Starts the hub on `listen`, retrying for a few seconds while the port
/// is still being released by the process just killed.
async fn start_hub(dir: PathBuf, listen: String) -> HubProcess {
    tokio::task::spawn_blocking(move || {
        let mut last = String::new();
        for _ in 0..40 {
            match HubProcess::spawn(&dir, &listen) {
                Ok(hub) => return hub,
                Err(e) => last = e,
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        panic!("the hub did not start on {listen}: {last}");
    })
    .await
    .expect("start the hub")
}

// ---- HTTP helpers -----------------------------------------------------------

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("an HTTP client")
}

async fn get(http: &reqwest::Client, url: &str, token: &str, path: &str) -> Value {
    let r = http
        .get(format!("{url}{path}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {path}: {e}"));
    assert!(r.status().is_success(), "GET {path}: {}", r.status());
    r.json().await.expect("a JSON answer")
}

async fn post_events(http: &reqwest::Client, url: &str, token: &str, body: String) -> Value {
    let r = http
        .post(format!("{url}/v1/events"))
        .bearer_auth(token)
        .body(body)
        .send()
        .await
        .expect("POST /v1/events");
    assert_eq!(r.status().as_u16(), 200);
    r.json().await.expect("a JSON answer")
}

/// Every audit entry, paged.
async fn audit(http: &reqwest::Client, url: &str, token: &str) -> Vec<Value> {
    let mut entries = Vec::new();
    let mut after = 0u64;
    loop {
        let page = get(
            http,
            url,
            token,
            &format!("/v1/audit?after={after}&limit=1000"),
        )
        .await;
        let got = page["entries"].as_array().cloned().unwrap_or_default();
        if got.is_empty() {
            return entries;
        }
        after = page["next_after"].as_u64().expect("next_after");
        entries.extend(got);
    }
}

/// How many audit entries record `action` on `subject`.
fn count(entries: &[Value], action: &str, subject: &str) -> usize {
    entries
        .iter()
        .filter(|e| e["action"] == action && e["subject"] == subject)
        .count()
}

/// Runs the fleet's agents counted by the hub's SLO engine: the sum of
/// the completion series' window totals (one series per fleet agent).
fn fleet_runs(state: &Value) -> u64 {
    state["slos"]
        .as_array()
        .map(|slos| {
            slos.iter()
                .filter(|s| {
                    s["slo"] == "completion"
                        && s["agent"].as_str().is_some_and(|a| a.starts_with("swarm-"))
                })
                .filter_map(|s| s["total"].as_u64())
                .sum()
        })
        .unwrap_or(0)
}

/// Polls `GET /v1/state` until `f` holds.
async fn wait_state(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    what: &str,
    f: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let state = get(http, url, token, "/v1/state").await;
        if f(&state) {
            return state;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn ts(t: chrono::DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// An approval request from `agent`, open for 30 minutes.
fn approval_line(agent: &str, request_id: &str, t: chrono::DateTime<Utc>) -> String {
    format!(
        r#"{{"v":1,"type":"approval.requested","ts":"{}","agent":"{agent}","request_id":"{request_id}","action":"issue_refund","tool":"issue_refund","risk":"high","deadline":"{}","args":{{"order":"A-1","amount_usd":420}}}}"#,
        ts(t),
        ts(t + Span::minutes(30))
    )
}

// ---- the fleet --------------------------------------------------------------

/// One batch of run events from agent `swarm-{worker}`. Event ids are fixed
/// by worker and batch, so a re-sent batch is recognised as a repeat.
fn batch_body(worker: u64, batch: u64) -> String {
    let ts = ts(Utc::now());
    let mut body = String::with_capacity(BATCH as usize * 200);
    for i in 0..BATCH {
        body.push_str(&format!(
            r#"{{"v":1,"type":"run.finished","ts":"{ts}","agent":"swarm-{worker}","id":"w{worker}-b{batch}-e{i}","run_id":"r{worker}-{batch}-{i}","workflow":"load","outcome":"success","latency_ms":120,"cost_usd":0.001}}"#
        ));
        body.push('\n');
    }
    body
}

/// What the fleet did.
#[derive(Default)]
struct Fleet {
    stop: AtomicBool,
    /// Events in batches the hub answered 200 (each batch counted once).
    acked: AtomicU64,
    /// Repeats the hub reported.
    duplicates: AtomicU64,
    /// Attempts that failed (network error or non-2xx) and were retried.
    failed_attempts: AtomicU64,
    /// Anything that is not a retryable failure.
    errors: Mutex<Vec<String>>,
}

/// One agent posting a batch every `period`, catching up when behind, and
/// retrying each batch until the hub acknowledges it: across the outage
/// the fleet keeps going, as real agents do.
async fn worker(worker: u64, url: String, token: String, period: Duration, fleet: Arc<Fleet>) {
    let http = http();
    let start = tokio::time::Instant::now();
    for batch in 0u64.. {
        if fleet.stop.load(Ordering::SeqCst) {
            return;
        }
        tokio::time::sleep_until(start + period * batch as u32).await;
        let body = batch_body(worker, batch);
        let given_up = Instant::now() + DEADLINE;
        loop {
            let answer = http
                .post(format!("{url}/v1/events"))
                .bearer_auth(&token)
                .body(body.clone())
                .send()
                .await;
            let failure = match answer {
                Ok(r) if r.status().is_success() => match r.json::<Value>().await {
                    Ok(v) if v["accepted"] == BATCH => {
                        if v["rejected"].as_array().is_some_and(|r| !r.is_empty()) {
                            fleet
                                .errors
                                .lock()
                                .unwrap()
                                .push(format!("batch {worker}/{batch}: {v}"));
                        }
                        fleet.acked.fetch_add(BATCH, Ordering::SeqCst);
                        fleet
                            .duplicates
                            .fetch_add(v["duplicates"].as_u64().unwrap_or(0), Ordering::SeqCst);
                        break;
                    }
                    Ok(v) => {
                        fleet
                            .errors
                            .lock()
                            .unwrap()
                            .push(format!("batch {worker}/{batch} answered {v}"));
                        return;
                    }
                    // The answer was cut off: whether the batch was stored
                    // is unknown, so it is sent again.
                    Err(e) => e.to_string(),
                },
                Ok(r) if r.status().is_client_error() => {
                    fleet
                        .errors
                        .lock()
                        .unwrap()
                        .push(format!("batch {worker}/{batch} refused {}", r.status()));
                    return;
                }
                Ok(r) => r.status().to_string(),
                Err(e) => e.to_string(),
            };
            fleet.failed_attempts.fetch_add(1, Ordering::SeqCst);
            if Instant::now() > given_up {
                fleet.errors.lock().unwrap().push(format!(
                    "batch {worker}/{batch} never acknowledged: {failure}"
                ));
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

// ---- the stream, as the TUI reads it ----------------------------------------

/// What the TUI's feed client reported.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Seen {
    Connected,
    Reconnecting,
    Snapshot(u64),
    Delta(u64),
}

/// What the ids of a stream show.
#[derive(Debug, Default)]
struct IdReport {
    deltas: usize,
    snapshots: usize,
    highest: u64,
}

/// Checks that ids only go up, never repeat, and that each delta follows
/// the one before (or the snapshot before) with no id missing: a gap is
/// allowed only where a snapshot resynchronised the client.
fn check_ids(seen: &[Seen]) -> IdReport {
    let mut report = IdReport::default();
    let mut last: Option<u64> = None;
    for (i, s) in seen.iter().enumerate() {
        match *s {
            Seen::Snapshot(seq) => {
                if let Some(l) = last {
                    assert!(seq > l, "event {i}: snapshot {seq} is not above id {l}");
                }
                last = Some(seq);
                report.snapshots += 1;
            }
            Seen::Delta(id) => {
                let l = last.unwrap_or_else(|| panic!("event {i}: delta {id} before a snapshot"));
                assert!(
                    id > l,
                    "event {i}: delta {id} repeats or goes back (last {l})"
                );
                assert_eq!(id, l + 1, "event {i}: ids {} to {} missing", l + 1, id - 1);
                last = Some(id);
                report.deltas += 1;
            }
            Seen::Connected | Seen::Reconnecting => {}
        }
    }
    report.highest = last.unwrap_or(0);
    report
}

fn highest_id(seen: &[Seen]) -> u64 {
    seen.iter()
        .filter_map(|s| match s {
            Seen::Snapshot(x) | Seen::Delta(x) => Some(*x),
            _ => None,
        })
        .max()
        .unwrap_or(0)
}

// ---- the test ---------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hub_killed_under_load_comes_back_with_nothing_lost_or_doubled() {
    let test_start = Instant::now();
    let dir = tempfile::tempdir().expect("a temporary directory");
    let tokens = write_tokens(dir.path());
    let (lead, viewer, agent) = (
        tokens["lead"].clone(),
        tokens["viewer"].clone(),
        tokens["agent"].clone(),
    );
    let http = http();
    let mut hub = start_hub(dir.path().to_path_buf(), "127.0.0.1:0".into()).await;
    let url = hub.url.clone();
    let listen = url.trim_start_matches("http://").to_string();

    // Something to act on: a run with tools, two approvals, an incident.
    let now = Utc::now();
    let run = r#"{"v":1,"type":"run.finished","ts":"TS","agent":"refund-bot","run_id":"r1","workflow":"refund","outcome":"success","latency_ms":900,"tool_calls":[{"tool":"lookup_order","status":"ok"},{"tool":"issue_refund","status":"ok"}]}"#
        .replace("TS", &ts(now));
    let seeded = post_events(
        &http,
        &url,
        &agent,
        format!(
            "{run}\n{}\n{}",
            approval_line("refund-bot", "q-1", now),
            approval_line("refund-bot", "q-2", now),
        ),
    )
    .await;
    assert_eq!(seeded["accepted"], 3, "{seeded}");
    let opened = http
        .post(format!("{url}/v1/incidents"))
        .bearer_auth(&lead)
        .header("Idempotency-Key", "drill-incident")
        .json(&json!({"title": "restart drill", "severity": "SEV3", "category": "other"}))
        .send()
        .await
        .expect("open an incident");
    assert!(opened.status().is_success());

    // The TUI's own feed client, recording every id it is given.
    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let (feed_tx, mut feed_rx) = tokio::sync::mpsc::channel(1024);
    let feed_task = tokio::spawn(feed::run(url.clone(), viewer.clone(), feed_tx));
    let recorder = {
        let seen = seen.clone();
        tokio::spawn(async move {
            while let Some(msg) = feed_rx.recv().await {
                let s = match msg {
                    FeedMsg::Connected => Seen::Connected,
                    FeedMsg::Reconnecting { .. } => Seen::Reconnecting,
                    FeedMsg::Snapshot(s) => Seen::Snapshot(s.seq),
                    FeedMsg::Delta(id, _) => Seen::Delta(id),
                    _ => continue,
                };
                seen.lock().unwrap().push(s);
            }
        })
    };

    // The real TUI.
    let mut tui = PtyTui::spawn(&url, &lead, ROWS, COLS);
    tui.wait_for("● connected").await;
    tui.wait_for("lead (lead)").await;

    // The fleet: WORKERS agents sharing the target rate.
    let fleet = Arc::new(Fleet::default());
    let period = Duration::from_secs_f64((BATCH * WORKERS) as f64 / TARGET_EVENTS_PER_S as f64);
    let load_start = Instant::now();
    let workers: Vec<_> = (0..WORKERS)
        .map(|w| tokio::spawn(worker(w, url.clone(), agent.clone(), period, fleet.clone())))
        .collect();
    let deadline = Instant::now() + DEADLINE;
    while fleet.acked.load(Ordering::SeqCst) < TARGET_EVENTS_PER_S {
        assert!(
            Instant::now() < deadline,
            "the fleet is not getting through"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Under load, before the kill: approve APR-1 and disable a tool, with
    // the default keys, and wait until the hub acknowledged both.
    tui.keys("3");
    tui.wait_for("APR-1").await;
    tui.keys("a");
    tui.wait_for("Approve APR-1?").await;
    tui.keys("\r");
    tui.wait_for("approve APR-1 done").await;
    tui.keys("5");
    tui.wait_for("refund-bot").await;
    tui.keys("c");
    tui.wait_for("Contain refund-bot").await;
    tui.keys("\r");
    tui.wait_for("Disable which tool").await;
    tui.keys("2");
    tui.wait_for("Apply containment?").await;
    tui.keys("restart drill\r");
    tui.wait_for("disable_tool lookup_order on refund-bot done")
        .await;
    let before = audit(&http, &url, &lead).await;
    assert_eq!(count(&before, "approval.decided", "APR-1"), 1);
    let control_id = before
        .iter()
        .find(|e| e["action"] == "control.applied")
        .and_then(|e| e["subject"].as_str())
        .expect("the containment is in the audit log")
        .to_string();

    // Let the load run on a little, then kill -9.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let acked_before_kill = fleet.acked.load(Ordering::SeqCst);
    let pre_kill_s = load_start.elapsed().as_secs_f64();
    hub.kill();
    let killed_at = Instant::now();

    // Within 5 s the TUI says across the top that the hub is unreachable,
    // since when and as of when its data is; the operator keeps working:
    // acknowledge INC-1 and approve APR-2.
    tui.wait_until("the unreachable banner", Duration::from_secs(5), |t| {
        t.contains("hub unreachable since ")
            && t.contains("data as of ")
            && t.contains("reconnecting")
    })
    .await;
    let banner_after = killed_at.elapsed();
    tui.keys("2");
    tui.wait_for("INC-1").await;
    tui.keys("a");
    tui.wait_for("pending: acknowledge INC-1").await;
    tui.keys("3");
    tui.wait_for("APR-2").await;
    tui.keys("a");
    tui.wait_for("Approve APR-2?").await;
    tui.keys("\r");
    let outage_screen = tui
        .wait_until("both actions pending and retried", DEADLINE, |t| {
            t.contains("2 pending") && t.contains("retry") && t.contains("reconnecting")
        })
        .await;
    assert!(
        outage_screen.contains("cannot connect to the hub"),
        "{outage_screen}"
    );

    // Start it again on the same port and database.
    tokio::time::sleep(MIN_OUTAGE.saturating_sub(killed_at.elapsed())).await;
    let highest_seen = highest_id(&seen.lock().unwrap());
    hub = start_hub(dir.path().to_path_buf(), listen.clone()).await;
    let outage = killed_at.elapsed();
    assert_eq!(hub.url, url);

    // Stream ids continue above anything the feed saw before the kill.
    let state = get(&http, &url, &lead, "/v1/state").await;
    let seq_after_restart = state["seq"].as_u64().expect("seq");
    assert!(
        seq_after_restart > highest_seen,
        "seq {seq_after_restart} after the restart is not above {highest_seen}"
    );
    // Every event acknowledged before the kill is counted after it.
    let state = wait_state(&http, &url, &lead, "the fleet's runs replayed", |s| {
        fleet_runs(s) >= acked_before_kill
    })
    .await;
    let counted_after_restart = fleet_runs(&state);
    // A batch acknowledged before the kill and sent again is a repeat.
    let again = post_events(&http, &url, &agent, batch_body(0, 0)).await;
    assert_eq!(again["accepted"], BATCH, "{again}");
    assert_eq!(
        again["duplicates"], BATCH,
        "a batch acknowledged before the restart was counted again: {again}"
    );

    // The TUI is back, its pending actions went through; the banner is gone.
    tui.wait_until("connected again", DEADLINE, |t| {
        t.contains("● connected") && !t.contains("hub unreachable")
    })
    .await;
    tui.wait_until("no action pending", DEADLINE, |t| !t.contains("pending: "))
        .await;
    tui.keys("2");
    tui.wait_until("INC-1 shown acknowledged", DEADLINE, |t| {
        t.lines()
            .any(|l| l.contains("INC-1") && l.contains("acknowledged"))
    })
    .await;

    // Load on after the restart, then stop the fleet.
    tokio::time::sleep(Duration::from_secs(2)).await;
    fleet.stop.store(true, Ordering::SeqCst);
    for w in workers {
        w.await.expect("a load worker");
    }
    let load_s = load_start.elapsed().as_secs_f64();
    let errors = fleet.errors.lock().unwrap().clone();
    assert!(errors.is_empty(), "the fleet saw errors: {errors:#?}");
    let acked = fleet.acked.load(Ordering::SeqCst);

    // Actions: those acknowledged before the kill are there, once; those
    // pressed during the outage were applied once.
    let entries = audit(&http, &url, &lead).await;
    assert_eq!(count(&entries, "approval.decided", "APR-1"), 1);
    assert_eq!(count(&entries, "control.applied", &control_id), 1);
    assert_eq!(count(&entries, "incident.acknowledged", "INC-1"), 1);
    assert_eq!(count(&entries, "approval.decided", "APR-2"), 1);
    let decided: Vec<&Value> = entries
        .iter()
        .filter(|e| e["action"] == "approval.decided")
        .collect();
    assert!(
        decided
            .iter()
            .all(|e| e["actor"] == "lead" && e["details"]["state"] == "approved")
    );
    let state = get(&http, &url, &lead, "/v1/state").await;
    let incident = state["incidents"]
        .as_array()
        .and_then(|l| l.iter().find(|i| i["id"] == "INC-1"))
        .expect("INC-1 in the state");
    assert_eq!(incident["state"], "acknowledged", "{incident}");
    let open: Vec<&str> = state["approvals"]
        .as_array()
        .map(|l| l.iter().filter_map(|a| a["id"].as_str()).collect())
        .unwrap_or_default();
    assert!(
        !open.contains(&"APR-1") && !open.contains(&"APR-2"),
        "{open:?}"
    );
    let control = state["controls"]
        .as_array()
        .and_then(|l| l.iter().find(|c| c["id"] == control_id.as_str()))
        .expect("the containment is still in force");
    assert_eq!(control["kind"], "disable_tool");
    assert_eq!(control["tool"], "lookup_order");

    // Events: the engine counts each acknowledged event once.
    let state = wait_state(&http, &url, &lead, "the fleet's runs counted", |s| {
        fleet_runs(s) >= acked
    })
    .await;
    assert_eq!(
        fleet_runs(&state),
        acked,
        "runs counted by the hub vs events acknowledged"
    );

    // The stream: let the recorder catch up with the hub, then check ids.
    let head = get(&http, &url, &lead, "/v1/state").await["seq"]
        .as_u64()
        .expect("seq");
    let deadline = Instant::now() + DEADLINE;
    while highest_id(&seen.lock().unwrap()) < head {
        assert!(
            Instant::now() < deadline,
            "the feed never reached id {head}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let seen = seen.lock().unwrap().clone();
    let ids = check_ids(&seen);
    // The feed reconnects only because of the kill: the first
    // reconnection marks it.
    let cut = seen
        .iter()
        .position(|s| *s == Seen::Reconnecting)
        .expect("the feed never noticed the hub was gone");
    let highest_before_kill = highest_id(&seen[..cut]);
    let resumed_with = seen[cut..]
        .iter()
        .find_map(|s| match s {
            Seen::Snapshot(x) => Some(*x),
            Seen::Delta(x) => panic!("delta {x} after the restart without a snapshot"),
            _ => None,
        })
        .expect("a snapshot after the restart");
    assert!(resumed_with > highest_before_kill);
    let snapshots_before = seen[..cut]
        .iter()
        .filter(|s| matches!(s, Seen::Snapshot(_)))
        .count();

    // The TUI quits cleanly.
    assert!(
        tui.quit(Duration::from_secs(10)).await,
        "agentdeck did not quit"
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!tui.alternate_screen(), "the alternate screen was left");
    feed_task.abort();
    recorder.abort();

    // The journal holds each acknowledged event exactly once.
    hub.kill();
    let (mut rows, mut journal_ids) = (0u64, std::collections::HashSet::new());
    agentdeck::hub::store::Store::open_read_only(&dir.path().join("hub.db"))
        .expect("open hub.db")
        .for_each_event(0, |line| {
            let env = agentdeck::model::envelope::Envelope::decode(line).expect("an envelope");
            if env.agent.starts_with("swarm-") {
                rows += 1;
                journal_ids.insert(env.id);
            }
        })
        .expect("read the journal");
    let distinct = journal_ids.len() as u64;
    assert_eq!(rows, distinct, "the journal holds a repeated event");
    assert_eq!(rows, acked, "journal rows vs events acknowledged");
    let verify = Command::new(env!("CARGO_BIN_EXE_agentdeck"))
        .args(["audit", "verify", "--db"])
        .arg(dir.path().join("hub.db"))
        .output()
        .expect("agentdeck audit verify");
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stdout)
    );

    eprintln!(
        "hub restart under load: {acked} events acknowledged in {load_s:.1} s \
         ({:.0} events/s overall, {:.0} events/s before the kill; target {TARGET_EVENTS_PER_S}), \
         {acked_before_kill} acknowledged before the kill and {counted_after_restart} counted \
         right after the restart, {} repeats reported, {} failed attempts retried; \
         outage {:.1} s, banner after {:.1} s; stream: {} deltas and {} snapshots checked ({} before the kill), \
         highest id before the kill {highest_before_kill}, resumed with a snapshot at \
         {resumed_with}, last id {}; 4 actions each applied once; test took {:.1} s",
        acked as f64 / load_s,
        acked_before_kill as f64 / pre_kill_s,
        fleet.duplicates.load(Ordering::SeqCst),
        fleet.failed_attempts.load(Ordering::SeqCst),
        outage.as_secs_f64(),
        banner_after.as_secs_f64(),
        ids.deltas,
        ids.snapshots,
        snapshots_before,
        ids.highest,
        test_start.elapsed().as_secs_f64(),
    );
}
