//! A read-only report over the screen: what each item of a bulk action
//! came to. It scrolls like the help; any other key closes it.

use crossterm::event::KeyEvent;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Clear;

use super::super::action::Action;
use super::super::ctx::{Ctx, Do};
use super::super::sanitize::clean;
use super::super::theme::Theme;
use super::{Dialog, centered, help};

/// Scrolls with the movement keys; any other key closes it.
pub fn key(dialog: Dialog, event: KeyEvent, action: Option<Action>, ctx: &Ctx) -> Vec<Do> {
    let Dialog::Report {
        title,
        lines,
        mut scroll,
    } = dialog
    else {
        return vec![Do::Open(dialog)];
    };
    if !help::scrolled(&mut scroll, event, action, ctx) {
        return Vec::new();
    }
    vec![Do::Open(Dialog::Report {
        title,
        lines,
        scroll,
    })]
}

/// The lines, failures in red, wrapped and scrolled.
pub fn draw(dialog: &Dialog, theme: &Theme, frame: &mut Frame, area: Rect) {
    let Dialog::Report {
        title,
        lines,
        scroll,
    } = dialog
    else {
        return;
    };
    let text: Vec<Line> = lines
        .iter()
        .map(|l| {
            let style = if l.starts_with('✗') {
                theme.critical()
            } else {
                theme.text()
            };
            Line::from(Span::styled(clean(l), style))
        })
        .collect();
    let height = (text.len() as u16 + 2).min(area.height.saturating_sub(2));
    let r = centered(area, 76, height);
    frame.render_widget(Clear, r);
    scroll.draw(
        frame,
        r,
        theme.block(format!(" {} — any key closes ", clean(title)), true),
        &text,
        theme,
    );
}
