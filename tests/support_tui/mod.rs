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
