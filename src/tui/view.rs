//! Drawing: a pure function of the app's state onto a frame. The chrome
//! draws the bars, the pane of the screen shown (or the agent detail over
//! it) the middle, and the open dialog goes on top.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::app::App;
use super::theme::Theme;

/// Draws the whole screen.
pub fn render(app: &App, theme: &Theme, frame: &mut Frame) {
    let area = frame.area();
    if area.width < 20 || area.height < 6 {
        frame.render_widget(Paragraph::new("agentdeck: window too small"), area);
        return;
    }
    if let super::app::Connection::Refused(why) = &app.connection {
        refused(app, theme, frame, why);
        return;
    }
    let outage = app.outage();
    let rows = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(u16::from(outage.is_some())),
        Constraint::Min(3),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .split(area);
    let ctx = app.ctx();
    super::chrome::draw(app, theme, frame, rows[0], rows[3], rows[4]);
    if let Some(d) = &app.panes.agent.open {
        super::panes::agent::render(d, theme, frame, rows[2], app.now);
    } else {
        app.panes.get(app.screen).draw(&ctx, theme, frame, rows[2]);
    }
    if let Some((since, as_of)) = outage {
        // Old numbers must not look live: everything under the banner is
        // dimmed, and the banner says since when and as of when.
        frame
            .buffer_mut()
            .set_style(rows[2], Style::default().add_modifier(Modifier::DIM));
        banner(theme, frame, rows[1], since, as_of);
    }
    if let Some(d) = &app.dialog {
        super::dialogs::draw(d, &ctx, theme, frame, area);
    }
}

/// The line across the top while the hub is out of reach.
fn banner(
    theme: &Theme,
    frame: &mut Frame,
    area: Rect,
    since: chrono::DateTime<chrono::Utc>,
    as_of: chrono::DateTime<chrono::Utc>,
) {
    let text = format!(
        " ⚠ hub unreachable since {}, data as of {} · actions are queued ",
        since.format("%H:%M:%SZ"),
        as_of.format("%H:%M:%SZ"),
    );
    let style = theme.critical().add_modifier(Modifier::REVERSED);
    frame.render_widget(Paragraph::new(Line::from(Span::styled(text, style))), area);
}

/// The whole screen when the hub refuses the token: an empty board would
/// look like a quiet night.
fn refused(app: &App, theme: &Theme, frame: &mut Frame, why: &str) {
    let hub = app.hub_url.as_deref().unwrap_or("the hub");
    let forbidden = why.contains("(403)");
    let fix: &[&str] = if forbidden {
        &[
            "The hub knows this token, but its role may not read the live stream.",
            "Ask whoever runs the hub for a token with an operator role (viewer,",
            "responder, approver or lead), then give it with AGENTDECK_TOKEN or",
            "--token-file PATH.",
        ]
    } else {
        &[
            "The hub does not know this token (mistyped, revoked, or for another hub).",
            "Check AGENTDECK_TOKEN or --token-file PATH. A new token is made on the",
            "hub's machine: agentdeck token new --name NAME --role ROLE, its line",
            "added to the hub's tokens file.",
        ]
    };
    let mut lines = vec![
        Line::from(Span::styled(
            " agentdeck cannot connect with this token ",
            theme.critical().add_modifier(Modifier::REVERSED),
        )),
        Line::from(""),
        Line::from(vec![
            Span::styled("hub     ", theme.muted()),
            Span::raw(super::sanitize::clean(hub)),
        ]),
        Line::from(vec![
            Span::styled("answer  ", theme.muted()),
            Span::styled(super::sanitize::clean(why), theme.critical()),
        ]),
        Line::from(""),
    ];
    lines.extend(fix.iter().map(|l| Line::from(*l)));
    lines.push(Line::from(""));
    lines.push(Line::from(Span::styled("q quits", theme.muted())));
    frame.render_widget(
        Paragraph::new(lines).wrap(ratatui::widgets::Wrap { trim: false }),
        frame.area(),
    );
}
