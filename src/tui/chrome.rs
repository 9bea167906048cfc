//! The chrome around every screen: the tab bar, the key hints and the
//! status bar.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::model::incident::Severity;

use super::action::{Action, Context};
use super::app::{App, Connection, Level};
use super::sanitize::{clean, fit};
use super::screen::Screen;
use super::theme::Theme;

/// Draws the tab bar, the hints and the status bar into their lines.
pub fn draw(
    app: &App,
    theme: &Theme,
    frame: &mut Frame,
    top: Rect,
    hint_line: Rect,
    status_line: Rect,
) {
    header(app, theme, frame, top);
    hints(app, theme, frame, hint_line);
    status(app, theme, frame, status_line);
}

/// The tabs, marked where something waits, and the clock.
fn header(app: &App, theme: &Theme, frame: &mut Frame, area: Rect) {
    let narrow = area.width < 110;
    let mut spans = if narrow {
        Vec::new()
    } else {
        vec![Span::styled(" agentdeck ", theme.title())]
    };
    let count = |s: Screen| match s {
        Screen::Incidents => Some(app.data.incidents.len()).filter(|n| *n > 0),
        Screen::Approvals => Some(app.data.approvals.len()).filter(|n| *n > 0),
        Screen::Controls => Some(app.data.controls.len()).filter(|n| *n > 0),
        _ => None,
    };
    let label = |s: Screen, named: bool| {
        let name = if narrow { s.short() } else { s.title() };
        match (count(s), named) {
            (Some(n), _) => format!(" {} {name}·{n} ", s.index() + 1),
            (None, true) => format!(" {} {name} ", s.index() + 1),
            (None, false) => format!(" {} ", s.index() + 1),
        }
    };
    // Too wide (nine tabs, five-digit counts): the clock goes first (see
    // below), then the tabs that count nothing and are not shown keep
    // their number only; a count is never cut.
    let full: usize = spans.iter().map(|s| s.width()).sum::<usize>()
        + Screen::ALL
            .iter()
            .map(|s| label(*s, true).chars().count())
            .sum::<usize>();
    let named = |s: Screen| full <= area.width as usize || s == app.screen || count(s).is_some();
    for s in Screen::ALL {
        let label = label(s, named(s));
        let style = if s == app.screen {
            theme.selection()
        } else if s == Screen::Approvals && !app.data.approvals.is_empty()
            || s == Screen::Incidents
                && app
                    .data
                    .incidents
                    .values()
                    .any(|i| i.severity <= Severity::Sev2)
        {
            theme.warning()
        } else {
            theme.text()
        };
        spans.push(Span::styled(label, style));
    }
    let clock = app.now.format("%H:%M:%SZ").to_string();
    let used: usize = spans.iter().map(|s| s.width()).sum();
    if used + clock.len() < area.width as usize {
        let room = (area.width as usize).saturating_sub(used + clock.len());
        spans.push(Span::raw(" ".repeat(room)));
        spans.push(Span::styled(clock, theme.muted()));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// The keys of what the screen offers, crossed out where the role does
/// not allow them, and why.
fn hints(app: &App, theme: &Theme, frame: &mut Frame, area: Rect) {
    let ctx = app.context();
    let open = app.panes.agent.open.is_some();
    let mut actions: Vec<Action> = if open {
        app.panes.agent.hints().to_vec()
    } else {
        app.panes.get(app.screen).hints().to_vec()
    };
    if open {
        actions.extend([Action::Help, Action::Quit]);
    } else {
        actions.extend([Action::Filter, Action::Copy, Action::Help, Action::Quit]);
    }
    let mut spans = Vec::new();
    for a in actions {
        let keys = app.keymap.keys_for(ctx, a);
        let Some(k) = keys.first() else { continue };
        let off = app.unavailable(a).is_some();
        let label = a.name().replace('_', " ");
        spans.push(Span::styled(
            format!(" {k} "),
            if off { theme.muted() } else { theme.accent() },
        ));
        spans.push(Span::styled(
            format!("{label} "),
            if off {
                theme.muted().add_modifier(Modifier::CROSSED_OUT)
            } else {
                theme.text()
            },
        ));
    }
    if let Some(op) = &app.operator
        && app.context() != Context::Global
        && let Some(why) = [Action::Approve, Action::Acknowledge, Action::Contain]
            .iter()
            .filter(|a| a.contexts().contains(&ctx) || **a == Action::Contain)
            .find_map(|a| app.unavailable(*a))
    {
        spans.push(Span::styled(
            format!(" ({} {}: {why})", op.name, op.role.as_str()),
            theme.muted(),
        ));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// The connection, a fleet-wide pause, pending actions, the last message,
/// the operator and who else is looking.
fn status(app: &App, theme: &Theme, frame: &mut Frame, area: Rect) {
    let mut spans = Vec::new();
    spans.push(connection(app, theme));
    if app.data.fleet_paused() {
        spans.push(Span::styled(
            " FLEET PAUSED ",
            theme.critical().add_modifier(Modifier::REVERSED),
        ));
    }
    if let Some(p) = app.pending.values().next() {
        let n = app.pending.len();
        let text = match &p.retrying {
            Some((attempt, error)) => format!(
                " ⧗ {n} pending: {} (retry {attempt}: {}; X cancels) ",
                p.label,
                fit(error, 30)
            ),
            None => format!(" ⧗ {n} pending: {} ", p.label),
        };
        spans.push(Span::styled(text, theme.warning()));
    }
    if let Some((level, text)) = app.message() {
        spans.push(Span::styled(
            format!(" {} ", clean(text)),
            match level {
                Level::Info => theme.ok(),
                Level::Error => theme.critical(),
            },
        ));
    }
    if let Some(op) = &app.operator {
        spans.push(Span::styled(
            format!(
                " {} ({}){} ",
                op.name,
                op.role.as_str(),
                if app.read_only { ", read-only" } else { "" }
            ),
            theme.text(),
        ));
    } else if app.read_only {
        spans.push(Span::styled(" read-only ", theme.muted()));
    }
    let me = app.operator.as_ref().map(|o| o.name.as_str()).unwrap_or("");
    let others: Vec<String> = app
        .data
        .presence
        .iter()
        .filter(|p| p.operator != me)
        .map(|p| match &p.viewing {
            Some(v) => format!("{}→{v}", p.operator),
            None => p.operator.clone(),
        })
        .collect();
    if !others.is_empty() {
        spans.push(Span::styled(
            format!(" also here: {} ", fit(&others.join(", "), 40)),
            theme.accent(),
        ));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// The connection as one span.
fn connection(app: &App, theme: &Theme) -> Span<'static> {
    match &app.connection {
        Connection::Connected => match app.stale_for() {
            Some(q) => Span::styled(format!(" ⚠ stale {}s ", q.as_secs()), theme.critical()),
            None => match &app.hub_in_use {
                Some(hub) => {
                    let host = hub.split_once("://").map_or(hub.as_str(), |(_, h)| h);
                    Span::styled(format!(" ● connected to {} ", fit(host, 40)), theme.ok())
                }
                None => Span::styled(" ● connected ", theme.ok()),
            },
        },
        Connection::Connecting { attempt } => Span::styled(
            format!(" ◌ connecting (attempt {attempt}) "),
            theme.warning(),
        ),
        Connection::Reconnecting {
            attempt,
            next_at,
            error,
        } => {
            let secs = next_at
                .saturating_duration_since(std::time::Instant::now())
                .as_secs();
            Span::styled(
                format!(
                    " ◌ reconnecting (attempt {attempt}, next try in {secs}s: {}) ",
                    fit(error, 30)
                ),
                theme.warning(),
            )
        }
        Connection::Refused(why) => Span::styled(format!(" ✗ {} ", fit(why, 50)), theme.critical()),
        Connection::Replay { clock, done } => Span::styled(
            format!(
                " ▶ REPLAY {}{} ",
                clock
                    .map(|c| c.format("%Y-%m-%d %H:%M:%S").to_string())
                    .unwrap_or_default(),
                if *done { " (end)" } else { "" }
            ),
            theme.accent(),
        ),
    }
}
