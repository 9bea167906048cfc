//! Shared fixture for the TUI tests: a fixed, realistic hub state
//! (`tests/fixtures/tui_state.json`), an app loaded with it at a fixed
//! clock, key helpers and buffer helpers.
#![allow(dead_code)]

use std::time::Instant;

use agentdeck::client::feed::FeedMsg;
use agentdeck::model::role::Role;
use agentdeck::model::stream::Snapshot;
use agentdeck::tui::app::{App, Connection, Effect, Operator};
use agentdeck::tui::keymap::Keymap;
use agentdeck::tui::theme::Theme;
use agentdeck::tui::view;
use chrono::{DateTime, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;

/// The hub's state as JSON, decoded with the crate's own (strict) types.
pub const STATE_JSON: &str = include_str!("../fixtures/tui_state.json");

/// The wall clock of every test: 10 s after the fleet was paused.
pub const NOW: &str = "2026-11-21T03:12:30Z";

/// The clean part of the hostile incident title (INC-14).
pub const HOSTILE_CLEAN: &str = "ops-runner restarted payments-db in prod twice (see txt.exe)";

/// A timestamp.
pub fn at(s: &str) -> DateTime<Utc> {
    s.parse().expect("RFC 3339 timestamp")
}

/// The fixed clock.
pub fn now() -> DateTime<Utc> {
    at(NOW)
}

/// The fixed snapshot.
pub fn snapshot() -> Snapshot {
    serde_json::from_str(STATE_JSON).expect("tests/fixtures/tui_state.json decodes as a Snapshot")
}

/// An operator.
pub fn operator(name: &str, role: Role) -> Operator {
    Operator {
        name: name.into(),
        role,
    }
}

/// The operator of most tests: dana, a lead.
pub fn dana() -> Operator {
    operator("dana", Role::Lead)
}

/// An app for `operator`, connected, with the fixed snapshot and clock.
pub fn app_as(operator: Option<Operator>, read_only: bool) -> App {
    let mut app = App::new(Keymap::default_keymap(), operator, read_only);
    let effects = app.apply_feed(FeedMsg::Connected);
    assert!(effects.is_empty());
    let effects = app.apply_feed(FeedMsg::Snapshot(Box::new(snapshot())));
    assert!(effects.is_empty(), "a first snapshot rings nothing");
    app.connection = Connection::Connected;
    app.last_alive = Instant::now();
    app.now = now();
    app
}

/// dana's app.
pub fn app() -> App {
    app_as(Some(dana()), false)
}

// ---- keys -------------------------------------------------------------------

/// A key press without modifiers.
pub fn key(code: KeyCode) -> KeyEvent {
    KeyEvent::new_with_kind(code, KeyModifiers::NONE, KeyEventKind::Press)
}

/// A character as a terminal reports it (capitals and symbols with shift).
pub fn ch(c: char) -> KeyEvent {
    let shifted = c.is_ascii_uppercase() || "!?:@#$%^&*()_+{}|\"<>~".contains(c);
    let modifiers = if shifted {
        KeyModifiers::SHIFT
    } else {
        KeyModifiers::NONE
    };
    KeyEvent::new_with_kind(KeyCode::Char(c), modifiers, KeyEventKind::Press)
}

/// Control and a character.
pub fn ctrl(c: char) -> KeyEvent {
    KeyEvent::new_with_kind(KeyCode::Char(c), KeyModifiers::CONTROL, KeyEventKind::Press)
}

/// Presses one key.
pub fn press(app: &mut App, event: KeyEvent) -> Vec<Effect> {
    app.handle_key(event)
}

/// Presses a character key.
pub fn press_ch(app: &mut App, c: char) -> Vec<Effect> {
    app.handle_key(ch(c))
}

/// Types text, one key per character; returns every effect.
pub fn type_text(app: &mut App, text: &str) -> Vec<Effect> {
    text.chars().flat_map(|c| app.handle_key(ch(c))).collect()
}

/// Presses enter.
pub fn enter(app: &mut App) -> Vec<Effect> {
    app.handle_key(key(KeyCode::Enter))
}

/// Presses escape.
pub fn esc(app: &mut App) -> Vec<Effect> {
    app.handle_key(key(KeyCode::Esc))
}

// ---- rendering --------------------------------------------------------------

/// Renders the app at `width`×`height` and returns the buffer.
pub fn render(app: &App, theme: &Theme, width: u16, height: u16) -> Buffer {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("test terminal");
    terminal
        .draw(|frame| view::render(app, theme, frame))
        .expect("draw");
    terminal.backend().buffer().clone()
}

/// The buffer as text: one line per row, trailing spaces trimmed. Cells
/// hidden under a wide character are skipped, as a terminal shows them.
pub fn buffer_text(buffer: &Buffer) -> String {
    let width = buffer.area.width as usize;
    let mut out = String::new();
    for row in buffer.content.chunks(width) {
        let mut line = String::new();
        let mut skip = 0usize;
        for cell in row {
            if skip == 0 {
                line.push_str(cell.symbol());
            }
            skip = skip.max(unicode_width(cell.symbol())).saturating_sub(1);
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn unicode_width(s: &str) -> usize {
    use unicode_width::UnicodeWidthStr;
    s.width()
}

/// Every position where `needle` starts, one cell per character, row by
/// row.
pub fn find_all(buffer: &Buffer, needle: &str) -> Vec<(u16, u16)> {
    let chars: Vec<String> = needle.chars().map(String::from).collect();
    let area = buffer.area;
    let mut found = Vec::new();
    for y in area.top()..area.bottom() {
        for x in area.left()..area.right() {
            if x as usize + chars.len() > area.right() as usize {
                break;
            }
            if chars
                .iter()
                .enumerate()
                .all(|(i, c)| buffer[(x + i as u16, y)].symbol() == c)
            {
                found.push((x, y));
            }
        }
    }
    found
}

/// The first position of `needle`, or a panic showing the screen.
pub fn find(buffer: &Buffer, needle: &str) -> (u16, u16) {
    *find_all(buffer, needle)
        .first()
        .unwrap_or_else(|| panic!("{needle:?} not on screen:\n{}", buffer_text(buffer)))
}

/// The text of `len` cells from (x, y).
pub fn cells_text(buffer: &Buffer, x: u16, y: u16, len: u16) -> String {
    (x..(x + len).min(buffer.area.right()))
        .map(|x| buffer[(x, y)].symbol())
        .collect()
}

/// The text of row `y`.
pub fn row_text(buffer: &Buffer, y: u16) -> String {
    cells_text(buffer, 0, y, buffer.area.width)
}

// ---- the real binary in a pseudo-terminal -----------------------------------

/// The real `agentdeck` TUI in a pseudo-terminal, connected to a hub. A
/// reader thread feeds everything the TUI writes into a vt100 parser, so
/// tests read the screen as an operator sees it.
pub struct PtyTui {
    screen: std::sync::Arc<std::sync::Mutex<vt100::Parser>>,
    writer: Box<dyn std::io::Write + Send>,
    /// The TUI process.
    pub child: Box<dyn portable_pty::Child + Send + Sync>,
}

impl PtyTui {
    /// Starts `agentdeck --hub HUB` with `token` on a `rows`×`cols`
    /// terminal, with its state and config directories in a temporary
    /// directory (so no user file changes what the test sees).
    pub fn spawn(hub: &str, token: &str, rows: u16, cols: u16) -> Self {
        use std::io::Read;
        let pair = portable_pty::native_pty_system()
            .openpty(portable_pty::PtySize {
                rows,
                cols,
                pixel_width: 0,
                pixel_height: 0,
            })
            .expect("a pseudo-terminal");
        let mut cmd = portable_pty::CommandBuilder::new(env!("CARGO_BIN_EXE_agentdeck"));
        cmd.args(["--hub", hub, "--no-bell"]);
        cmd.env("AGENTDECK_TOKEN", token);
        cmd.env("TERM", "xterm-256color");
        let dir = tempfile::tempdir().expect("a temporary directory");
        cmd.env("XDG_STATE_HOME", dir.path());
        cmd.env("XDG_CONFIG_HOME", dir.path());
        let child = pair.slave.spawn_command(cmd).expect("start agentdeck");
        drop(pair.slave);
        let mut reader = pair.master.try_clone_reader().expect("pty reader");
        let writer = pair.master.take_writer().expect("pty writer");
        let screen = std::sync::Arc::new(std::sync::Mutex::new(vt100::Parser::new(rows, cols, 0)));
        let sink = screen.clone();
        std::thread::spawn(move || {
            // The master and the directories live as long as the reader.
            let _keep = (pair.master, dir);
            let mut buf = [0u8; 8192];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .process(&buf[..n]);
            }
        });
        Self {
            screen,
            writer,
            child,
        }
    }

    /// The screen as text.
    pub fn text(&self) -> String {
        self.screen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .screen()
            .contents()
    }

    /// Whether the terminal is still on the alternate screen.
    pub fn alternate_screen(&self) -> bool {
        self.screen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .screen()
            .alternate_screen()
    }

    /// Waits until the screen satisfies `f`; panics after `within`,
    /// showing the screen and naming `what` was awaited.
    pub async fn wait_until(
        &self,
        what: &str,
        within: std::time::Duration,
        f: impl Fn(&str) -> bool,
    ) -> String {
        let deadline = Instant::now() + within;
        loop {
            let text = self.text();
            if f(&text) {
                return text;
            }
            if Instant::now() > deadline {
                panic!("timed out waiting for {what}; the screen:\n{text}");
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// Waits until `needle` is on screen (20 s at most).
    pub async fn wait_for(&self, needle: &str) -> String {
        self.wait_until(
            &format!("{needle:?}"),
            std::time::Duration::from_secs(20),
            |t| t.contains(needle),
        )
        .await
    }

    /// Types `keys` (raw bytes: "\r" is enter, "\x1b" escape).
    pub fn keys(&mut self, keys: &str) {
        use std::io::Write;
        self.writer
            .write_all(keys.as_bytes())
            .expect("write to the pty");
        self.writer.flush().expect("flush the pty");
    }

    /// Presses q and waits for the process to end; returns whether it
    /// exited successfully.
    pub async fn quit(&mut self, within: std::time::Duration) -> bool {
        self.keys("q");
        let deadline = Instant::now() + within;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.success();
            }
            if Instant::now() > deadline {
                return false;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
}

impl Drop for PtyTui {
    fn drop(&mut self) {
        // A failed test must not leave a TUI running behind it.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
    }
}
