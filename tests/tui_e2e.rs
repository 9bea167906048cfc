//! The real `agentdeck` binary in a pseudo-terminal against a hub on
//! loopback: an operator approves a pending approval and disables a tool
//! with the default keys, and the hub records both.

mod support;

use std::io::{Read, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{Duration as Span, Utc};
use portable_pty::{CommandBuilder, PtySize, native_pty_system};
use support::{approval_line, start};

struct Tui {
    screen: Arc<Mutex<vt100::Parser>>,
    writer: Box<dyn Write + Send>,
    child: Box<dyn portable_pty::Child + Send + Sync>,
}

impl Tui {
    fn spawn(hub: &str, token: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let tui = Self::spawn_in(hub, token, dir.path());
        // The directory lives as long as the process may use it.
        std::mem::forget(dir);
        tui
    }

    /// Runs the TUI with `state` as its state and config directory.
    fn spawn_in(hub: &str, token: &str, state: &std::path::Path) -> Self {
        let pair = native_pty_system()
            .openpty(PtySize {
                rows: 40,
                cols: 140,
                pixel_width: 0,
                pixel_height: 0,
            })
            .expect("a pseudo-terminal");
        let mut cmd = CommandBuilder::new(env!("CARGO_BIN_EXE_agentdeck"));
        cmd.args(["--hub", hub, "--no-bell"]);
        cmd.env("AGENTDECK_TOKEN", token);
        cmd.env("TERM", "xterm-256color");
        cmd.env("XDG_STATE_HOME", state);
        cmd.env("XDG_CONFIG_HOME", state);
        let child = pair.slave.spawn_command(cmd).expect("start agentdeck");
        drop(pair.slave);
        let mut reader = pair.master.try_clone_reader().unwrap();
        let writer = pair.master.take_writer().unwrap();
        let screen = Arc::new(Mutex::new(vt100::Parser::new(40, 140, 0)));
        let sink = screen.clone();
        std::thread::spawn(move || {
            let _keep = pair.master;
            let mut buf = [0u8; 8192];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().process(&buf[..n]);
            }
        });
        Self {
            screen,
            writer,
            child,
        }
    }

    fn text(&self) -> String {
        self.screen.lock().unwrap().screen().contents()
    }

    async fn wait_for(&self, what: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let text = self.text();
            if text.contains(what) {
                return text;
            }
            if Instant::now() > deadline {
                panic!("timed out waiting for {what:?}; the screen:\n{text}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn keys(&mut self, keys: &str) {
        self.writer.write_all(keys.as_bytes()).unwrap();
        self.writer.flush().unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_approves_and_disables_a_tool_from_the_keyboard() {
    let h = start().await;
    let now = Utc::now();
    // An agent run with tools, and an approval waiting.
    let run = r#"{"v":1,"type":"run.finished","ts":"TS","agent":"refund-bot","run_id":"r1","workflow":"refund","outcome":"success","latency_ms":900,"tool_calls":[{"tool":"lookup_order","status":"ok"},{"tool":"issue_refund","status":"ok"}]}"#
        .replace("TS", &support::ts(now));
    let (_, body) = h
        .post_events(
            "agent",
            format!(
                "{run}\n{}",
                approval_line("refund-bot", "q-1", now, now + Span::minutes(10))
            ),
        )
        .await;
    assert_eq!(body["accepted"], 2);

    let mut tui = Tui::spawn(&h.hub.url(), h.token("lead"));
    tui.wait_for("connected").await;
    tui.wait_for("lead (lead)").await;

    // Approve: 3 → Approvals, a → confirm, enter.
    tui.keys("3");
    tui.wait_for("APR-1").await;
    tui.keys("a");
    tui.wait_for("Approve APR-1?").await;
    tui.keys("\r");
    tui.wait_for("approve APR-1 done").await;
    let (_, page) = h.get("lead", "/v1/audit?after=0&limit=100").await;
    let decided = page["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "approval.decided")
        .expect("the decision is in the audit log")
        .clone();
    assert_eq!(decided["actor"], "lead");
    assert_eq!(decided["subject"], "APR-1");
    assert_eq!(decided["details"]["state"], "approved");

    // Disable a tool: 5 → Agents, c → containment menu, enter (disable a
    // tool…), 2 (lookup_order) enter, then enter on the form.
    tui.keys("5");
    tui.wait_for("refund-bot").await;
    tui.keys("c");
    tui.wait_for("Contain refund-bot").await;
    tui.keys("\r");
    tui.wait_for("Disable which tool").await;
    tui.keys("2");
    tui.wait_for("Apply containment?").await;
    tui.keys("payments API double-posting\r");
    tui.wait_for("disable_tool lookup_order on refund-bot done")
        .await;
    let r = h
        .http
        .get(h.url("/v1/agents/refund-bot/controls"))
        .bearer_auth(h.token("bot"))
        .send()
        .await
        .unwrap();
    let controls: serde_json::Value = r.json().await.unwrap();
    let c = &controls["controls"][0];
    assert_eq!(c["kind"], "disable_tool");
    assert_eq!(c["tool"], "lookup_order");
    assert_eq!(c["set_by"], "lead");
    assert_eq!(c["reason"], "payments API double-posting");

    // The agent's drill-down, from the hub: i on the Agents screen, then
    // esc back to the list.
    tui.keys("i");
    tui.wait_for("Agent refund-bot").await;
    tui.wait_for("Latency and success").await;
    let text = tui.wait_for("Slowest runs (24 h)").await;
    assert!(text.contains("unregistered"), "{text}");
    tui.keys("\x1b");
    tui.wait_for("i detail").await;

    // The token never appears on screen.
    assert!(!tui.text().contains(h.token("lead")));

    // q quits and restores the terminal.
    tui.keys("q");
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(s) = tui.child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "agentdeck did not quit");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "{status:?}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let screen = tui.screen.lock().unwrap();
    assert!(
        !screen.screen().alternate_screen(),
        "the alternate screen was left"
    );
}

/// A token the hub refuses fills the screen with what is wrong and how to
/// fix it, instead of an empty green board, and quitting exits non-zero.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_token_fills_the_screen_and_quitting_fails() {
    let h = start().await;
    let mut tui = Tui::spawn(&h.hub.url(), "adk_not_a_token");
    let screen = tui.wait_for("cannot connect with this token").await;
    assert!(screen.contains(&h.hub.url()), "{screen}");
    assert!(
        screen.contains("the hub refused the token (401)"),
        "{screen}"
    );
    assert!(screen.contains("agentdeck token new"), "{screen}");
    assert!(!screen.contains("Overview"), "no board behind it: {screen}");
    tui.keys("q");
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Ok(Some(status)) = tui.child.try_wait() {
            break status;
        }
        assert!(Instant::now() < deadline, "agentdeck did not quit");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(!status.success(), "{status:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_lines_history_is_kept_across_runs() {
    let h = start().await;
    let state = tempfile::tempdir().unwrap();
    let mut tui = Tui::spawn_in(&h.hub.url(), h.token("viewer"), state.path());
    tui.wait_for("connected").await;
    tui.keys(":approvals\r");
    tui.wait_for("Pending approvals, nearest deadline first")
        .await;
    tui.keys("q");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !matches!(tui.child.try_wait(), Ok(Some(_))) {
        assert!(Instant::now() < deadline, "agentdeck did not quit");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let kept = std::fs::read_to_string(state.path().join("agentdeck").join("command_history"))
        .unwrap_or_else(|e| panic!("no history file: {e}"));
    assert_eq!(kept, "approvals\n");

    // The next run recalls it with up.
    let mut tui = Tui::spawn_in(&h.hub.url(), h.token("viewer"), state.path());
    tui.wait_for("connected").await;
    tui.keys(":");
    tui.wait_for("up and down recall").await;
    tui.keys("\x1b[A");
    tui.wait_for(" approvals").await;
    tui.keys("\r");
    tui.wait_for("Pending approvals, nearest deadline first")
        .await;
    let _ = tui.child.kill();
}
