//! The Handoff screen: the shift summary the hub writes, fetched when the
//! screen opens and on refresh, drawn from Markdown.

use std::cell::RefCell;
use std::sync::Arc;

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

use super::super::action::Action;
use super::super::app::Effect;
use super::super::ctx::{Ctx, Do, ListState};
use super::super::dialogs::TextPurpose;
use super::super::dialogs::text::entry;
use super::super::markdown;
use super::super::sanitize::clean;
use super::super::screen::Screen;
use super::super::scroll::Scroll;
use super::super::theme::Theme;
use super::{Pane, navigate};

/// The summary as lines, and the Markdown, theme and width they were
/// rendered for.
type Drawn = (String, Theme, u16, Arc<Vec<Line<'static>>>);

/// The Handoff screen's state: the last summary and its rendering.
#[derive(Debug, Default)]
pub struct Handoff {
    /// Filter and detail (it lists nothing; the keys still apply).
    pub list: ListState,
    /// The last handoff summary: Markdown, or why it could not be fetched.
    pub summary: Option<Result<String, String>>,
    /// Where the summary is scrolled to.
    pub scroll: Scroll,
    /// The summary parsed into lines; drawing borrows the pane immutably,
    /// hence the cell.
    drawn: RefCell<Option<Drawn>>,
}

impl Handoff {
    /// The summary's Markdown rendered as lines, tables fitted to `width`:
    /// parsed once per summary and width (a day of 10,000 approvals is
    /// 1.7 MB and 15,000 lines, some 50 ms to parse), not once per frame.
    /// None until a summary arrived.
    pub fn lines(&self, theme: &Theme, width: u16) -> Option<Arc<Vec<Line<'static>>>> {
        let Some(Ok(md)) = &self.summary else {
            return None;
        };
        let Ok(mut drawn) = self.drawn.try_borrow_mut() else {
            return Some(Arc::new(markdown::lines_fit(md, theme, width)));
        };
        // The summary is a public field, replaced by whoever fetches it:
        // compare the text itself (a memcmp, well under a millisecond).
        if let Some((source, drawn_with, drawn_at, lines)) = &*drawn
            && source == md
            && drawn_with == theme
            && *drawn_at == width
        {
            return Some(lines.clone());
        }
        let lines = Arc::new(markdown::lines_fit(md, theme, width));
        *drawn = Some((md.clone(), *theme, width, lines.clone()));
        Some(lines)
    }
}

impl Pane for Handoff {
    list_pane!(Screen::Handoff);

    fn owns(&self) -> &'static [Action] {
        &[Action::Refresh, Action::HandoffNote]
    }

    fn handle(&mut self, action: Action, ctx: &Ctx) -> Vec<Do> {
        match action {
            Action::Refresh => return vec![Do::Effect(Effect::FetchHandoff)],
            Action::HandoffNote => {
                return vec![Do::Open(entry(
                    "Note for the next shift",
                    vec!["Shown in the handoff summary, with your name and the time.".into()],
                    TextPurpose::HandoffNote,
                ))];
            }
            _ => {}
        }
        if !self.scroll.apply(action) {
            navigate(Screen::Handoff, &mut self.list, action, ctx);
        }
        Vec::new()
    }

    /// The summary is fetched each time the screen is shown.
    fn shown(&mut self) -> Vec<Effect> {
        vec![Effect::FetchHandoff]
    }

    fn draw(&self, _ctx: &Ctx, theme: &Theme, frame: &mut Frame, area: Rect) {
        let block = theme.block(
            " Shift handoff (last 8 h) — r refresh · n note for the next shift · j/k ",
            true,
        );
        let message = match &self.summary {
            Some(Ok(_)) => {
                let width = block.inner(area).width;
                let lines = self.lines(theme, width).unwrap_or_default();
                self.scroll.draw(frame, area, block, &lines, theme);
                return;
            }
            Some(Err(e)) => Line::from(Span::styled(
                format!("could not fetch the summary: {}", clean(e)),
                theme.critical(),
            )),
            None => Line::from(Span::styled("fetching the shift summary…", theme.muted())),
        };
        frame.render_widget(
            Paragraph::new(message)
                .wrap(Wrap { trim: false })
                .block(block),
            area,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_handoff_summary_is_parsed_again_only_when_it_changes() {
        let mut pane = Handoff::default();
        let theme = Theme::dark();
        assert!(pane.lines(&theme, 78).is_none());
        pane.summary = Some(Ok("# Shift\n\n| a | b |\n|---|---|\n| 1 | 2 |\n".into()));
        let first = pane.lines(&theme, 78).expect("lines");
        let again = pane.lines(&theme, 78).expect("lines");
        assert!(Arc::ptr_eq(&first, &again), "parsed once");
        let wider = pane.lines(&theme, 158).expect("lines");
        assert!(!Arc::ptr_eq(&first, &wider), "another width fits it again");
        pane.summary = Some(Ok("# Next shift\n".into()));
        let next = pane.lines(&theme, 78).expect("lines");
        assert_eq!(*next, markdown::lines_fit("# Next shift\n", &theme, 78));
        let other = Theme::monochrome();
        assert_eq!(
            *pane.lines(&other, 78).expect("lines"),
            markdown::lines_fit("# Next shift\n", &other, 78),
            "another theme draws it again"
        );
        pane.summary = Some(Err("hub down".into()));
        assert!(pane.lines(&theme, 78).is_none());
    }
}
