//! The help dialog: the keys of the focused screen, from the active keymap.

use crossterm::event::{KeyCode, KeyEvent};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Clear;

use super::super::action::{Action, Context};
use super::super::ctx::{Ctx, Do};
use super::super::keymap::{Key, Resolution};
use super::super::panes::movement;
use super::super::scroll::Scroll;
use super::super::theme::Theme;
use super::{Dialog, centered};

/// Scrolls with the movement keys; any other key closes it.
pub fn key(dialog: Dialog, event: KeyEvent, action: Option<Action>, ctx: &Ctx) -> Vec<Do> {
    let Dialog::Help { mut scroll } = dialog else {
        return vec![Do::Open(dialog)];
    };
    if !scrolled(&mut scroll, event, action, ctx) {
        return Vec::new();
    }
    vec![Do::Open(Dialog::Help { scroll })]
}

/// Moves `scroll` for a movement key of the dialog or global keymap (up,
/// down, page keys, top, bottom; `g` alone goes to the top, as `g g` would
/// elsewhere); says whether the key was one. Shared by the read-only
/// dialogs that any other key closes.
pub fn scrolled(scroll: &mut Scroll, event: KeyEvent, action: Option<Action>, ctx: &Ctx) -> bool {
    let global =
        || match Key::from_event(&event).map(|k| ctx.keymap.resolve(&[Context::Global], &[k])) {
            Some(Resolution::Action(a)) => Some(a),
            Some(Resolution::Pending) if event.code == KeyCode::Char('g') => Some(Action::Top),
            _ => None,
        };
    action
        .filter(|a| movement(*a).is_some())
        .or_else(global)
        .is_some_and(|a| scroll.apply(a))
}

/// Lists the bindings of the focused context, then the global and dialog
/// ones, each action once, with why it is unavailable when it is.
pub fn draw(dialog: &Dialog, ctx: &Ctx, theme: &Theme, frame: &mut Frame, area: Rect) {
    let Dialog::Help { scroll } = dialog else {
        return;
    };
    let scroll: &Scroll = scroll;
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
    scroll.draw(
        frame,
        r,
        theme.block(" Help — j/k scroll · any other key closes ", true),
        &lines,
        theme,
    );
}
