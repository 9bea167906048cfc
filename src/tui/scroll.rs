//! Text longer than its pane scrolls: the help overlay, the Handoff
//! screen, runbook text, the agent drill-down and every detail view.
//!
//! Lines wrap at the pane's edge rather than being cut, and the position is
//! kept in whole lines (the first line shown): a wrapped line scrolls as
//! one. Only the lines on screen and the last screenful are measured, so a
//! 15,000-line handoff costs no more per frame than a short one. Drawing
//! borrows the pane immutably, so what the last frame could show (the
//! furthest position and a page's length) is kept in cells for the next
//! key to clamp against.

use std::cell::Cell;

use ratatui::Frame;
use ratatui::layout::{Margin, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Scrollbar, ScrollbarOrientation, ScrollbarState, Wrap};

use super::action::Action;
use super::theme::Theme;

/// A width to lay text out at that cuts nothing: a scrolled view wraps
/// instead.
pub const WHOLE: usize = usize::MAX / 4;

/// Where a scrolled text is, and what its last drawing could show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scroll {
    /// The first line shown, as asked (clamped when drawn).
    top: usize,
    /// The furthest first line at the last drawing: the one that puts the
    /// last line at the bottom. None before the first drawing, when a key
    /// moves freely and the drawing clamps.
    furthest: Cell<Option<usize>>,
    /// Lines that fitted at the last drawing: what a page moves (ten before
    /// the first).
    page: Cell<usize>,
}

impl Default for Scroll {
    fn default() -> Self {
        Self {
            top: 0,
            furthest: Cell::new(None),
            page: Cell::new(10),
        }
    }
}

/// What one drawing of a scrolled text showed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// The first line shown.
    pub top: usize,
    /// Lines shown whole.
    pub shown: usize,
    /// The furthest first line.
    pub furthest: usize,
    /// Lines below the last one shown.
    pub below: usize,
}

impl Scroll {
    /// The first line asked for.
    pub fn top(&self) -> usize {
        self.top
    }

    /// Back to the first line.
    pub fn reset(&mut self) {
        self.top = 0;
    }

    /// Moves for a movement action (up, down, page keys, top, bottom);
    /// says whether `action` was one.
    pub fn apply(&mut self, action: Action) -> bool {
        let furthest = self.furthest.get().unwrap_or(usize::MAX);
        let page = self.page.get().max(1);
        let top = self.top.min(furthest);
        self.top = match action {
            Action::Up => top.saturating_sub(1),
            Action::Down => (top + 1).min(furthest),
            Action::PageUp => top.saturating_sub(page),
            Action::PageDown => (top + page).min(furthest),
            Action::Top => 0,
            // Past any end: each drawing clamps it to the last line, so
            // the view follows the end as lines are added.
            Action::Bottom => usize::MAX,
            _ => return false,
        };
        true
    }

    /// Draws `lines` in `block`, wrapped, from the scroll position, with a
    /// scrollbar on the right border and `↓ N more` on the bottom one when
    /// not everything fits.
    pub fn draw(
        &self,
        frame: &mut Frame,
        area: Rect,
        block: Block<'_>,
        lines: &[Line<'_>],
        theme: &Theme,
    ) -> Window {
        let inner = block.inner(area);
        let window = self.window(lines, inner.width, inner.height);
        frame.render_widget(
            Self::body(lines, window, inner.height).block(Self::marked(block, window, theme)),
            area,
        );
        Self::scrollbar(frame, area, window);
        window
    }

    /// Works out which lines a pane `width` × `height` shows, and keeps
    /// the furthest position and the page length for the next key.
    pub fn window(&self, lines: &[Line<'_>], width: u16, height: u16) -> Window {
        self.columns(&[(lines, width)], height)
    }

    /// The same for columns side by side that scroll together: the
    /// longest decides how far they go, the fullest how far a page moves.
    pub fn columns(&self, columns: &[(&[Line<'_>], u16)], height: u16) -> Window {
        let height = height as usize;
        let furthest = columns
            .iter()
            .map(|(lines, width)| furthest_top(lines, *width, height))
            .max()
            .unwrap_or(0);
        let top = self.top.min(furthest);
        let mut shown = usize::MAX;
        let mut below = 0;
        for (lines, width) in columns {
            let fit = fitting(lines.iter().skip(top), *width, height);
            shown = shown.min(fit);
            below = below.max(lines.len().saturating_sub(top + fit));
        }
        let shown = if shown == usize::MAX { 0 } else { shown };
        self.furthest.set(Some(furthest));
        self.page.set(shown.max(1));
        Window {
            top,
            shown,
            furthest,
            below,
        }
    }

    /// The lines of `window` as a wrapped paragraph `height` rows high,
    /// borrowing their text.
    pub fn body<'a>(lines: &'a [Line<'_>], window: Window, height: u16) -> Paragraph<'a> {
        let end = (window.top + height as usize).min(lines.len());
        let shown: Vec<Line<'a>> = lines
            .get(window.top..end)
            .unwrap_or_default()
            .iter()
            .map(borrowed)
            .collect();
        Paragraph::new(shown).wrap(Wrap { trim: false })
    }

    /// `block` with `↓ N more` on its bottom border when lines are below.
    pub fn marked<'a>(block: Block<'a>, window: Window, theme: &Theme) -> Block<'a> {
        match window.below {
            0 => block,
            n => block.title_bottom(
                Line::styled(format!(" ↓ {n} more "), theme.accent()).right_aligned(),
            ),
        }
    }

    /// Draws the scrollbar over the right border of `area` when there is
    /// more than one position.
    pub fn scrollbar(frame: &mut Frame, area: Rect, window: Window) {
        if window.furthest == 0 {
            return;
        }
        let mut state = ScrollbarState::new(window.furthest + 1)
            .position(window.top)
            .viewport_content_length(window.shown);
        frame.render_stateful_widget(
            // No track: the border shows through, the thumb says where.
            Scrollbar::new(ScrollbarOrientation::VerticalRight)
                .begin_symbol(None)
                .end_symbol(None)
                .track_symbol(None),
            area.inner(Margin {
                vertical: 1,
                horizontal: 0,
            }),
            &mut state,
        );
    }
}

/// Rows `line` takes when wrapped at `width`. Most lines fit: their width
/// is summed without copying them; only a longer one is wrapped to count.
fn rows(line: &Line<'_>, width: u16) -> usize {
    if line.width() <= usize::from(width) {
        return 1;
    }
    Paragraph::new(borrowed(line))
        .wrap(Wrap { trim: false })
        .line_count(width)
        .max(1)
}

/// `line` borrowing its text: drawing a window of a long text copies no
/// string.
fn borrowed<'a>(line: &'a Line<'_>) -> Line<'a> {
    Line {
        spans: line
            .spans
            .iter()
            .map(|s| Span::styled(s.content.as_ref(), s.style))
            .collect(),
        style: line.style,
        alignment: line.alignment,
    }
}

/// How many of `lines`, from the first, fit whole in `height` rows (at
/// least one when there is a line: a line taller than the pane shows its
/// top).
fn fitting<'a, 'b: 'a>(
    lines: impl Iterator<Item = &'a Line<'b>>,
    width: u16,
    height: usize,
) -> usize {
    let mut used = 0;
    let mut count = 0;
    for line in lines {
        used += rows(line, width);
        if used > height && count > 0 {
            break;
        }
        count += 1;
        if used >= height {
            break;
        }
    }
    count
}

/// The first line that puts the last one at the bottom of `height` rows:
/// measured from the end, so only the last screenful is wrapped.
fn furthest_top(lines: &[Line<'_>], width: u16, height: usize) -> usize {
    let from_end = fitting(lines.iter().rev(), width, height);
    lines.len().saturating_sub(from_end.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;

    fn numbered(n: usize) -> Vec<Line<'static>> {
        (1..=n).map(|i| Line::raw(format!("line {i}"))).collect()
    }

    fn screen(scroll: &Scroll, lines: &[Line<'_>], w: u16, h: u16) -> String {
        let mut terminal = Terminal::new(TestBackend::new(w, h)).expect("terminal");
        terminal
            .draw(|f| {
                scroll.draw(f, f.area(), Block::bordered(), lines, &Theme::dark());
            })
            .expect("draw");
        let buffer = terminal.backend().buffer().clone();
        (0..h)
            .map(|y| {
                (0..w)
                    .map(|x| buffer[(x, y)].symbol().to_string())
                    .collect::<String>()
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn text_that_fits_has_no_scrollbar_and_does_not_move() {
        let mut s = Scroll::default();
        let lines = numbered(3);
        let out = screen(&s, &lines, 20, 6);
        assert_eq!(s.window(&lines, 18, 4).furthest, 0);
        assert!(!out.contains("more"), "{out}");
        assert!(s.apply(Action::Down));
        assert_eq!(s.top(), 0, "nothing to scroll");
        assert!(!s.apply(Action::Open), "not a movement");
    }

    #[test]
    fn long_text_says_how_much_is_below_and_stops_at_the_last_line() {
        let mut s = Scroll::default();
        let lines = numbered(50);
        let out = screen(&s, &lines, 20, 12);
        assert!(out.contains("line 10"), "{out}");
        assert!(out.contains("↓ 40 more"), "{out}");
        s.apply(Action::Bottom);
        let out = screen(&s, &lines, 20, 12);
        assert!(out.contains("line 50"), "{out}");
        assert!(out.contains("line 41") && !out.contains("line 40"), "{out}");
        assert!(!out.contains("more"), "{out}");
        s.apply(Action::Down);
        assert_eq!(s.top(), 40, "no further than the last line");
        s.apply(Action::Bottom);
        s.apply(Action::PageUp);
        assert_eq!(s.top(), 30, "a page is what fitted");
        s.apply(Action::Top);
        assert_eq!(s.top(), 0);
    }

    #[test]
    fn long_lines_wrap_instead_of_being_cut() {
        let s = Scroll::default();
        let long = Line::raw("alpha beta gamma delta epsilon zeta eta theta");
        let mut lines = vec![long];
        lines.extend(numbered(20));
        let out = screen(&s, &lines, 20, 8);
        for word in ["alpha", "delta", "theta"] {
            assert!(out.contains(word), "{word} shown: {out}");
        }
        // The wrapped line takes three of the six rows.
        let w = s.window(&lines, 18, 6);
        assert_eq!((w.top, w.shown, w.below), (0, 4, 17));
    }

    #[test]
    fn the_furthest_position_counts_wrapped_rows_at_the_end() {
        let s = Scroll::default();
        let mut lines = numbered(10);
        lines.push(Line::raw("x ".repeat(30)));
        // The last line wraps to four rows of 16: with 6 rows, the furthest
        // position shows line 9, line 10 and the wrapped line.
        let w = s.window(&lines, 16, 6);
        assert_eq!(w.furthest, 8);
    }

    #[test]
    fn a_line_taller_than_the_pane_still_scrolls_to_it() {
        let mut s = Scroll::default();
        let lines = vec![Line::raw("a"), Line::raw("word ".repeat(100))];
        let w = s.window(&lines, 10, 4);
        assert_eq!(w.furthest, 1);
        s.apply(Action::Bottom);
        assert_eq!(s.window(&lines, 10, 4).top, 1);
    }

    #[test]
    fn at_the_bottom_the_view_follows_lines_added_at_the_end() {
        let mut s = Scroll::default();
        let mut lines = numbered(30);
        s.apply(Action::Bottom);
        assert_eq!(s.window(&lines, 20, 10).top, 20);
        lines.extend(numbered(5));
        assert_eq!(s.window(&lines, 20, 10).top, 25);
        s.apply(Action::Up);
        assert_eq!(s.top(), 24, "up moves from where the end was drawn");
    }
}
