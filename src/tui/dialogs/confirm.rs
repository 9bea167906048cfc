//! The yes-or-no dialog in front of an operation.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph};

use super::super::action::Action;
use super::super::ctx::Do;
use super::super::sanitize::{clean, fit};
use super::super::theme::Theme;
use super::{Dialog, Op, centered};

/// Confirm sends the operation, cancel drops it; other keys leave it open.
pub fn key(dialog: Dialog, action: Option<Action>) -> Vec<Do> {
    match (dialog, action) {
        (Dialog::Confirm { ops, .. }, Some(Action::Confirm)) => send(ops),
        (Dialog::Confirm { .. }, Some(Action::Cancel)) => Vec::new(),
        (dialog, _) => vec![Do::Open(dialog)],
    }
}

/// One operation is sent as such; several as one bulk action.
pub fn send(mut ops: Vec<Op>) -> Vec<Do> {
    match ops.len() {
        0 => Vec::new(),
        1 => ops.pop().map(Do::Send).into_iter().collect(),
        _ => vec![Do::SendAll(ops)],
    }
}

/// What will happen, then the keys.
pub fn draw(dialog: &Dialog, theme: &Theme, frame: &mut Frame, area: Rect) {
    let Dialog::Confirm { title, lines, .. } = dialog else {
        return;
    };
    let mut text: Vec<Line> = lines.iter().map(|l| Line::from(fit(l, 70))).collect();
    text.push(Line::from(""));
    text.push(Line::from(vec![
        Span::styled("enter", theme.accent()),
        Span::raw(" confirm   "),
        Span::styled("esc", theme.accent()),
        Span::raw(" cancel"),
    ]));
    let r = centered(area, 76, text.len() as u16 + 2);
    frame.render_widget(Clear, r);
    frame.render_widget(
        Paragraph::new(text).block(theme.block(format!(" {} ", clean(title)), true)),
        r,
    );
}
