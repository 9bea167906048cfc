//! Dialogs: confirmations, menus, text entry (the command line and the
//! filter among them), the containment form and help. While one is open,
//! keys go to it first. Each kind lives in its own file with its keys and
//! its drawing; this file holds the open dialog and routes to them.

mod command;
mod confirm;
mod contain;
mod help;
pub mod menu;
pub mod op;
mod report;
pub mod text;

use crossterm::event::KeyEvent;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::widgets::Paragraph;
use ratatui_textarea::TextArea;

use crate::model::action::ControlRequest;
use crate::model::control::ControlKind;
use crate::model::incident::Severity;

use super::action::Action;
use super::ctx::{Ctx, Do};
use super::scroll::Scroll;
use super::theme::Theme;

pub use command::{candidates as command_candidates, complete};
pub use op::Op;

/// What a menu choice leads to.
#[derive(Debug, Clone, PartialEq)]
pub enum MenuItem {
    /// A containment kind for an agent (tool/version chosen next when needed).
    Contain(ControlKind),
    /// A tool to disable.
    Tool(String),
    /// A version to pin, `component:version`.
    Version(String),
    /// A severity to escalate to.
    Severity(Severity),
    /// Resolve an incident whose SLO still burns, keeping the burn from
    /// opening a new incident for so many seconds (none: it may reopen).
    Resolve(Option<u64>),
    /// Snooze an incident for so many seconds (0 ends the snooze).
    Snooze(u64),
    /// Assign an incident to this operator (none: type a name).
    Assign(Option<String>),
    /// Open a new incident of this severity (its title typed next).
    NewIncident(Severity),
}

/// What a text entry is for.
#[derive(Debug, Clone, PartialEq)]
pub enum TextPurpose {
    /// Reason to reject an approval.
    Reject(String),
    /// One reason to reject each of these approvals.
    RejectAll(Vec<String>),
    /// The title of a new incident of this severity, `agent: title` or
    /// just the title (then about the agent given, if any).
    NewIncident(Severity, Option<String>),
    /// A note on an incident.
    Note(String),
    /// The operator to assign an incident to.
    Assign(String),
    /// A note for the next shift.
    HandoffNote,
    /// Summary to resolve an incident, and how long its SLO's burn may not
    /// open a new one.
    Resolve(String, Option<u64>),
    /// The typed confirmation of the fleet-wide pause.
    EmergencyStop,
    /// The `:` command line.
    Command,
    /// The `/` filter of the focused list.
    Filter,
}

/// The containment form's fields.
#[derive(Debug, Clone, PartialEq, Eq, Copy)]
pub enum FormField {
    /// Time to live, e.g. 30m.
    Ttl,
    /// Why.
    Reason,
}

/// An open dialog.
pub enum Dialog {
    /// Yes or no on an operation.
    Confirm {
        /// Title.
        title: String,
        /// What will happen, one line each.
        lines: Vec<String>,
        /// What enter sends: one operation, or several (a bulk action),
        /// each decided by the hub on its own.
        ops: Vec<Op>,
    },
    /// Choose one.
    Menu {
        /// Title.
        title: String,
        /// The choices, with a label and, when unavailable, why.
        items: Vec<(MenuItem, String, Option<String>)>,
        /// Highlighted choice.
        selected: usize,
        /// The agent (for containment menus).
        agent: String,
        /// The incident the choice is for, if any.
        incident: Option<String>,
    },
    /// Free text.
    Text {
        /// Title.
        title: String,
        /// Shown above the entry.
        hint: Vec<String>,
        /// The entry.
        input: Box<TextArea<'static>>,
        /// What it is for.
        purpose: TextPurpose,
        /// An error from the last enter.
        error: Option<String>,
    },
    /// The containment confirmation: what it affects, optional TTL and reason.
    ContainForm {
        /// The request, filled in.
        request: ControlRequest,
        /// What it affects.
        lines: Vec<String>,
        /// TTL entry.
        ttl: Box<TextArea<'static>>,
        /// Reason entry.
        reason: Box<TextArea<'static>>,
        /// Focused field.
        field: FormField,
        /// An error from the last enter.
        error: Option<String>,
    },
    /// What each item of a bulk action came to.
    Report {
        /// Title.
        title: String,
        /// One line per item.
        lines: Vec<String>,
        /// Where it is scrolled to.
        scroll: Scroll,
    },
    /// Keys of the focused screen.
    Help {
        /// Where the list of keys is scrolled to.
        scroll: Scroll,
    },
}

impl std::fmt::Debug for Dialog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Confirm { title, .. } => write!(f, "Confirm({title})"),
            Self::Menu { title, .. } => write!(f, "Menu({title})"),
            Self::Text { title, .. } => write!(f, "Text({title})"),
            Self::ContainForm { request, .. } => {
                write!(f, "ContainForm({})", request.kind.as_str())
            }
            Self::Help { .. } => write!(f, "Help"),
            Self::Report { title, .. } => write!(f, "Report({title})"),
        }
    }
}

/// A single-line text entry.
pub fn line_input(initial: &str) -> Box<TextArea<'static>> {
    let mut t = TextArea::new(vec![initial.to_string()]);
    t.set_cursor_line_style(ratatui::style::Style::default());
    t.move_cursor(ratatui_textarea::CursorMove::End);
    Box::new(t)
}

/// The text of an entry, lines joined with spaces, trimmed.
pub fn text_of(t: &TextArea<'_>) -> String {
    t.lines().join(" ").trim().to_string()
}

/// Handles a key while `dialog` is open: what the app is to do, the dialog
/// itself ([`Do::Open`]) when it stays open. `action` is what the key means
/// in the dialog keymap, if anything.
pub fn key(dialog: Dialog, event: KeyEvent, action: Option<Action>, ctx: &Ctx) -> Vec<Do> {
    match dialog {
        Dialog::Help { .. } => help::key(dialog, event, action, ctx),
        Dialog::Report { .. } => report::key(dialog, event, action, ctx),
        Dialog::Confirm { .. } => confirm::key(dialog, action),
        Dialog::Menu { .. } => menu::key(dialog, event, action, ctx),
        Dialog::Text { .. } => text::key(dialog, event, action, ctx),
        Dialog::ContainForm { .. } => contain::key(dialog, event, action, ctx),
    }
}

/// Draws the open dialog over `area`.
pub fn draw(dialog: &Dialog, ctx: &Ctx, theme: &Theme, frame: &mut Frame, area: Rect) {
    match dialog {
        Dialog::Help { .. } => help::draw(dialog, ctx, theme, frame, area),
        Dialog::Report { .. } => report::draw(dialog, theme, frame, area),
        Dialog::Confirm { .. } => confirm::draw(dialog, theme, frame, area),
        Dialog::Menu { .. } => menu::draw(dialog, theme, frame, area),
        Dialog::Text { .. } => text::draw(dialog, theme, frame, area),
        Dialog::ContainForm { .. } => contain::draw(dialog, theme, frame, area),
    }
}

/// A box of at most `width` by `height` in the middle of `area`.
fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let w = width.min(area.width.saturating_sub(2));
    let h = height.min(area.height.saturating_sub(2));
    Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    }
}

/// The line of `area` at row `y`.
fn line_at(area: Rect, y: u16) -> Rect {
    Rect {
        y,
        height: 1,
        ..area
    }
}

/// The last line of `area`, where a dialog says which keys it takes.
fn footer(area: Rect) -> Rect {
    line_at(area, area.y + area.height.saturating_sub(1))
}

/// A form's last lines: the error of the last try, if any, at row `y`, and
/// the keys it takes on the last line of `inner`.
fn error_and_keys(
    frame: &mut Frame,
    theme: &Theme,
    inner: Rect,
    y: u16,
    error: Option<&str>,
    keys: &str,
) {
    if let Some(e) = error {
        frame.render_widget(
            Paragraph::new(super::sanitize::fit(e, inner.width as usize)).style(theme.critical()),
            line_at(inner, y),
        );
    }
    frame.render_widget(Paragraph::new(keys).style(theme.muted()), footer(inner));
}
