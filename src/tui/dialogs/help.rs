//! The help dialog: the keys of the focused screen, from the active keymap.

use crossterm::event::{KeyCode, KeyEvent};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph};

use super::super::action::{Action, Context};
use super::super::ctx::{Ctx, Do};
use super::super::theme::Theme;
use super::{Dialog, centered};

/// Scrolls with up and down (and j and k, whatever the keymap says); any
/// other key closes it.
pub fn key(dialog: Dialog, event: KeyEvent, action: Option<Action>) -> Vec<Do> {
    let Dialog::Help { scroll } = dialog else {
        return vec![Do::Open(dialog)];
    };
    let scroll = match action {
        Some(Action::Down) => scroll.saturating_add(1),
        Some(Action::Up) => scroll.saturating_sub(1),
        _ if matches!(event.code, KeyCode::Char('j')) => scroll.saturating_add(1),
        _ if matches!(event.code, KeyCode::Char('k')) => scroll.saturating_sub(1),
        _ => return Vec::new(),
    };
    vec![Do::Open(Dialog::Help { scroll })]
}

/// Lists the bindings of the focused context, then the global and dialog
/// ones, each action once, with why it is unavailable when it is.
pub fn draw(dialog: &Dialog, ctx: &Ctx, theme: &Theme, frame: &mut Frame, area: Rect) {
    let Dialog::Help { scroll } = dialog else {
        return;
    };
    let mut lines = vec![Line::from(Span::styled(
        format!("Keys on {} (from the active keymap)", ctx.screen.title()),
        theme.title(),
    ))];
    for c in [ctx.context, Context::Global, Context::Dialog] {
        let b = ctx.keymap.bindings(c);
        if b.is_empty() {
            continue;
        }
        lines.push(Line::from(Span::styled(
            format!("[{}]", c.name()),
            theme.muted(),
        )));
        let mut seen: Vec<Action> = Vec::new();
        for (_, a) in b {
            if seen.contains(a) {
                continue;
            }
            seen.push(*a);
            let keys = ctx.keymap.keys_for(c, *a).join(", ");
            let why = ctx
                .unavailable(*a)
                .map(|w| format!(" ({w})"))
                .unwrap_or_default();
            lines.push(Line::from(vec![
                Span::styled(format!("  {keys:<16} "), theme.accent()),
                Span::raw(format!("{}{why}", a.help())),
            ]));
        }
    }
    let r = centered(area, 84, area.height.saturating_sub(2));
    frame.render_widget(Clear, r);
    frame.render_widget(
        Paragraph::new(lines)
            .scroll((*scroll, 0))
            .block(theme.block(" Help — any other key closes ", true)),
        r,
    );
}
