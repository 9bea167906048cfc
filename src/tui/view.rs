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
