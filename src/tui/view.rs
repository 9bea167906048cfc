//! Drawing: a pure function of the app's state onto a frame. The chrome
//! draws the bars, the pane of the screen shown (or the agent detail over
//! it) the middle, and the open dialog goes on top.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout};
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
    let rows = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(3),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .split(area);
    let ctx = app.ctx();
    super::chrome::draw(app, theme, frame, rows[0], rows[2], rows[3]);
    if let Some(d) = &app.panes.agent.open {
        super::panes::agent::render(d, theme, frame, rows[1], app.now);
    } else {
        app.panes.get(app.screen).draw(&ctx, theme, frame, rows[1]);
    }
    if let Some(d) = &app.dialog {
        super::dialogs::draw(d, &ctx, theme, frame, area);
    }
}
