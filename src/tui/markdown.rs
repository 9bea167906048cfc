//! Markdown (runbooks, handoff summaries) as styled terminal lines, with
//! pulldown-cmark doing the parsing. Every piece of text is cleaned of
//! control sequences first: runbook files are trusted, but not blindly.
//!
//! Tables are drawn as aligned columns, not as the pipes they are written
//! with: each column as wide as its widest cell when the table fits, the
//! widest columns narrowed (cells cut with `…`) when it does not.

use pulldown_cmark::{Alignment, CodeBlockKind, Event, HeadingLevel, Options, Parser, Tag, TagEnd};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use unicode_width::UnicodeWidthChar;

use super::sanitize::clean;
use super::theme::Theme;

/// Columns between two table columns.
const GAP: usize = 2;

/// Renders Markdown to lines, tables at their natural width (for a view
/// that does not know its width, or wraps).
pub fn lines(markdown: &str, theme: &Theme) -> Vec<Line<'static>> {
    lines_fit(markdown, theme, u16::MAX)
}

/// Renders Markdown to lines for a view `width` columns wide. Headings,
/// lists (with task boxes), emphasis, strong, inline code, code blocks,
/// block quotes, rules and tables are drawn; links show their text; HTML is
/// shown as text. Only tables are fitted to `width`; other text is left for
/// the view to wrap.
pub fn lines_fit(markdown: &str, theme: &Theme, width: u16) -> Vec<Line<'static>> {
    let mut r = Renderer {
        theme,
        out: Vec::new(),
        spans: Vec::new(),
        styles: vec![theme.text()],
        lists: Vec::new(),
        in_code: false,
        quote: 0,
        table: None,
        width: usize::from(width),
    };
    let parser = Parser::new_ext(
        markdown,
        Options::ENABLE_TASKLISTS | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TABLES,
    );
    for event in parser {
        match event {
            Event::Start(tag) => r.start(tag),
            Event::End(tag) => r.end(tag),
            leaf => r.leaf(leaf),
        }
    }
    r.flush();
    let mut out = r.out;
    while out.last().is_some_and(|l| l.width() == 0) {
        out.pop();
    }
    out
}

/// The lines drawn so far and where the parser is.
struct Renderer<'t> {
    theme: &'t Theme,
    out: Vec<Line<'static>>,
    /// The line being built.
    spans: Vec<Span<'static>>,
    /// Inline styles, innermost last.
    styles: Vec<Style>,
    /// Open lists: the next number of an ordered one, None for bullets.
    lists: Vec<Option<u64>>,
    in_code: bool,
    /// Block quote depth.
    quote: usize,
    /// The table being read.
    table: Option<TableBuf>,
    /// Columns a table may take.
    width: usize,
}

/// A table's cells as they are read; drawn when it ends, once every
/// column's width is known.
struct TableBuf {
    align: Vec<Alignment>,
    /// Rows of cells, the header first; a cell is its styled spans.
    rows: Vec<Vec<Vec<Span<'static>>>>,
    /// The row being read.
    row: Vec<Vec<Span<'static>>>,
}

impl Renderer<'_> {
    /// The style text takes here.
    fn style(&self) -> Style {
        *self.styles.last().unwrap_or(&Style::default())
    }

    /// Ends the line being built, if it has anything.
    fn flush(&mut self) {
        if !self.spans.is_empty() {
            self.out.push(Line::from(std::mem::take(&mut self.spans)));
        }
    }

    fn start(&mut self, tag: Tag<'_>) {
        let (theme, style) = (self.theme, self.style());
        match tag {
            Tag::Heading { level, .. } => {
                self.flush();
                // One blank line before a heading: the block above may
                // have ended with one already.
                if self.out.last().is_some_and(|l| l.width() > 0) {
                    self.out.push(Line::from(""));
                }
                let mark = match level {
                    HeadingLevel::H1 => "",
                    HeadingLevel::H2 => "▌ ",
                    _ => "· ",
                };
                self.spans.push(Span::styled(mark, theme.accent()));
                self.styles.push(theme.title());
            }
            Tag::Paragraph if self.quote > 0 => {
                self.spans
                    .push(Span::styled("│ ".repeat(self.quote), theme.muted()));
            }
            Tag::List(start) => {
                self.flush();
                self.lists.push(start);
            }
            Tag::Item => self.item(),
            Tag::Emphasis => self.styles.push(style.add_modifier(Modifier::ITALIC)),
            Tag::Strong => self.styles.push(style.add_modifier(Modifier::BOLD)),
            Tag::Strikethrough => self.styles.push(style.add_modifier(Modifier::CROSSED_OUT)),
            Tag::Link { .. } => self.styles.push(style.add_modifier(Modifier::UNDERLINED)),
            Tag::BlockQuote(_) => self.quote += 1,
            Tag::CodeBlock(kind) => {
                self.flush();
                self.in_code = true;
                if let CodeBlockKind::Fenced(lang) = kind
                    && !lang.is_empty()
                {
                    self.out.push(Line::from(Span::styled(
                        format!("  [{}]", clean(&lang)),
                        theme.muted(),
                    )));
                }
            }
            Tag::Table(align) => {
                self.flush();
                self.table = Some(TableBuf {
                    align,
                    rows: Vec::new(),
                    row: Vec::new(),
                });
            }
            Tag::TableHead => self.styles.push(theme.title()),
            _ => {}
        }
    }

    /// A list item: its indent and its bullet or number.
    fn item(&mut self) {
        self.flush();
        let depth = self.lists.len().saturating_sub(1);
        let bullet = match self.lists.last_mut() {
            Some(Some(n)) => {
                let b = format!("{n}. ");
                *n += 1;
                b
            }
            _ => "• ".to_string(),
        };
        self.spans.push(Span::raw("  ".repeat(depth)));
        self.spans.push(Span::styled(bullet, self.theme.accent()));
    }

    fn end(&mut self, tag: TagEnd) {
        match tag {
            TagEnd::Heading(_) => {
                self.styles.pop();
                self.flush();
            }
            TagEnd::TableCell => {
                let cell = std::mem::take(&mut self.spans);
                if let Some(t) = &mut self.table {
                    t.row.push(cell);
                }
            }
            TagEnd::TableHead | TagEnd::TableRow => {
                if tag == TagEnd::TableHead {
                    self.styles.pop();
                }
                if let Some(t) = &mut self.table {
                    t.rows.push(std::mem::take(&mut t.row));
                }
            }
            TagEnd::Table => {
                if let Some(t) = self.table.take() {
                    self.out.extend(table_lines(t, self.width));
                }
                self.out.push(Line::from(""));
            }
            TagEnd::Paragraph => {
                self.flush();
                if self.lists.is_empty() {
                    self.out.push(Line::from(""));
                }
            }
            TagEnd::List(_) => {
                self.lists.pop();
                if self.lists.is_empty() {
                    self.out.push(Line::from(""));
                }
            }
            TagEnd::Item => self.flush(),
            TagEnd::Emphasis | TagEnd::Strong | TagEnd::Strikethrough | TagEnd::Link => {
                self.styles.pop();
            }
            TagEnd::BlockQuote(_) => self.quote = self.quote.saturating_sub(1),
            TagEnd::CodeBlock => {
                self.in_code = false;
                self.out.push(Line::from(""));
            }
            _ => {}
        }
    }

    /// Text, code, HTML, breaks, task boxes and rules.
    fn leaf(&mut self, event: Event<'_>) {
        let (theme, style) = (self.theme, self.style());
        match event {
            Event::TaskListMarker(done) => {
                // Replace the bullet just pushed with a box.
                if let Some(last) = self.spans.last_mut() {
                    *last = Span::styled(if done { "☑ " } else { "☐ " }, theme.accent());
                }
            }
            Event::Text(t) if self.in_code => {
                for l in t.lines() {
                    self.out.push(Line::from(Span::styled(
                        format!("  {}", clean(l)),
                        theme.accent(),
                    )));
                }
            }
            Event::Text(t) => self.spans.push(Span::styled(clean(&t), style)),
            Event::Code(t) => self.spans.push(Span::styled(clean(&t), theme.accent())),
            Event::Html(t) | Event::InlineHtml(t) => {
                self.spans.push(Span::styled(clean(&t), theme.muted()))
            }
            Event::SoftBreak => self.spans.push(Span::raw(" ")),
            Event::HardBreak => self.flush(),
            Event::Rule => {
                self.flush();
                self.out
                    .push(Line::from(Span::styled("────────", theme.muted())));
            }
            _ => {}
        }
    }
}

fn cell_width(spans: &[Span<'_>]) -> usize {
    spans.iter().map(|s| s.width()).sum()
}

/// Column widths within `room`: the natural ones when they fit. When they
/// do not, the columns narrower than an even share keep their width and the
/// wider ones share the rest evenly, so one long title narrows itself
/// rather than every column. At least one column each, even past `room`.
fn fit(natural: &[usize], room: usize) -> Vec<usize> {
    if natural.iter().sum::<usize>() <= room {
        return natural.to_vec();
    }
    let mut widths = natural.to_vec();
    let mut open: Vec<usize> = (0..natural.len()).collect();
    let mut left = room;
    while !open.is_empty() {
        let share = left / open.len();
        let (narrow, wide): (Vec<usize>, Vec<usize>) =
            open.iter().partition(|&&c| natural[c] <= share);
        if narrow.is_empty() {
            let extra = left % open.len();
            for (i, &c) in open.iter().enumerate() {
                widths[c] = share + usize::from(i < extra);
            }
            break;
        }
        left -= narrow.iter().map(|&c| natural[c]).sum::<usize>();
        open = wide;
    }
    widths.iter().map(|&w| w.max(1)).collect()
}

/// A cell `full` columns wide cut to `width` columns, ending in `…` when
/// anything was cut, and the columns it takes.
fn cut(cell: Vec<Span<'static>>, full: usize, width: usize) -> (Vec<Span<'static>>, usize) {
    if full <= width {
        return (cell, full);
    }
    let room = width.saturating_sub(1);
    let mut out = Vec::new();
    let mut used = 0;
    for span in cell {
        let mut kept = String::new();
        for c in span.content.chars() {
            let w = c.width().unwrap_or(0);
            if used + w > room {
                if !kept.is_empty() {
                    out.push(Span::styled(kept, span.style));
                }
                out.push(Span::styled("…", span.style));
                return (out, used + 1);
            }
            used += w;
            kept.push(c);
        }
        out.push(Span::styled(kept, span.style));
    }
    (out, used)
}

/// A table as aligned lines, fitted to `width` columns: cells padded to
/// their column (as the header row asks: left, right or centred), two
/// spaces between columns, the last column not padded on the right.
fn table_lines(t: TableBuf, width: usize) -> Vec<Line<'static>> {
    let n = t.rows.iter().map(Vec::len).max().unwrap_or(0);
    if n == 0 {
        return Vec::new();
    }
    // Each cell measured once: a day's summary has some 100,000 cells.
    let measured: Vec<Vec<usize>> = t
        .rows
        .iter()
        .map(|r| r.iter().map(|cell| cell_width(cell)).collect())
        .collect();
    let natural: Vec<usize> = (0..n)
        .map(|c| {
            measured
                .iter()
                .filter_map(|r| r.get(c).copied())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let widths = fit(&natural, width.saturating_sub(GAP * (n - 1)));
    let mut lines = Vec::with_capacity(t.rows.len());
    for (row, sizes) in t.rows.into_iter().zip(measured) {
        let mut spans: Vec<Span<'static>> = Vec::new();
        let mut cells = row.into_iter();
        // Spaces owed before the next cell (padding, then the gap): one
        // span, not three.
        let mut owed = 0;
        for (c, &w) in widths.iter().enumerate() {
            let full = sizes.get(c).copied().unwrap_or(0);
            let (cell, used) = cut(cells.next().unwrap_or_default(), full, w);
            let pad = w - used.min(w);
            let before = match t.align.get(c) {
                Some(Alignment::Right) => pad,
                Some(Alignment::Center) => pad / 2,
                _ => 0,
            };
            owed += before + if c > 0 { GAP } else { 0 };
            if owed > 0 && !cell.is_empty() {
                spans.push(Span::raw(" ".repeat(owed)));
                owed = 0;
            }
            spans.extend(cell);
            owed += pad - before;
        }
        // A row of empty trailing cells ends where its text does.
        while spans.last().is_some_and(|s| s.content.trim().is_empty()) {
            spans.pop();
        }
        lines.push(Line::from(spans));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(lines: &[Line]) -> Vec<String> {
        lines
            .iter()
            .map(|l| {
                l.spans
                    .iter()
                    .map(|s| s.content.as_ref())
                    .collect::<String>()
            })
            .collect()
    }

    #[test]
    fn headings_lists_tasks_and_code() {
        let md = "# Tool failure\n\nCheck **first**.\n\n## Steps\n\n- [ ] disable `lookup_order`\n- [x] page the lead\n\n1. one\n2. two\n\n```sh\ncurl x\n```\n";
        let got = text(&lines(md, &Theme::monochrome()));
        assert_eq!(got[0], "Tool failure");
        assert!(got.contains(&"Check first.".to_string()), "{got:?}");
        assert!(got.contains(&"▌ Steps".to_string()), "{got:?}");
        assert!(
            got.contains(&"☐ disable lookup_order".to_string()),
            "{got:?}"
        );
        assert!(got.contains(&"☑ page the lead".to_string()), "{got:?}");
        assert!(got.contains(&"2. two".to_string()), "{got:?}");
        assert!(got.contains(&"  curl x".to_string()), "{got:?}");
    }

    #[test]
    fn tables_are_aligned_columns_not_pipes() {
        let md = "| id | state | note |\n|---|---|---|\n| INC-1 | open | a \\| b |\n| INC-12 | resolved | |\n\nafter\n";
        let got = text(&lines(md, &Theme::monochrome()));
        assert_eq!(
            got,
            vec![
                "id      state     note",
                "INC-1   open      a | b",
                "INC-12  resolved",
                "",
                "after",
            ]
        );
    }

    #[test]
    fn the_header_row_is_styled_as_a_title() {
        let theme = Theme::dark();
        let got = lines("| id | state |\n|---|---|\n| INC-1 | open |\n", &theme);
        let styled = |line: &Line, word: &str| {
            line.spans
                .iter()
                .find(|s| s.content.contains(word))
                .map(|s| s.style)
        };
        assert_eq!(styled(&got[0], "state"), Some(theme.title()));
        assert_eq!(styled(&got[1], "open"), Some(theme.text()));
    }

    #[test]
    fn a_table_fits_its_width_by_narrowing_the_widest_columns() {
        let md = "| id | title | sev |\n|---|---|--:|\n| INC-1 | checkout answers 502 since the deploy | SEV1 |\n| INC-22 | slow | SEV3 |\n";
        let theme = Theme::monochrome();
        let wide = text(&lines_fit(md, &theme, 80));
        assert_eq!(
            wide[1],
            "INC-1   checkout answers 502 since the deploy  SEV1"
        );
        // 30 columns: id (6) and sev (4) keep theirs; the title takes the
        // 16 left after the gaps, cut with an ellipsis.
        let narrow = text(&lines_fit(md, &theme, 30));
        assert_eq!(
            narrow,
            vec![
                "id      title              sev",
                "INC-1   checkout answer…  SEV1",
                "INC-22  slow              SEV3",
            ]
        );
        for line in lines_fit(md, &theme, 30) {
            assert!(line.width() <= 30, "{line:?}");
        }
        // Cut by display width: a wide character is never split.
        let cjk = text(&lines_fit(
            "| a | b |\n|---|---|\n| 数据库故障 | x |\n",
            &theme,
            9,
        ));
        assert_eq!(cjk[1], "数据…   x");
    }

    #[test]
    fn fitting_shares_the_room_fairly() {
        assert_eq!(fit(&[3, 40, 5], 60), vec![3, 40, 5]);
        assert_eq!(fit(&[3, 40, 5], 20), vec![3, 12, 5]);
        assert_eq!(fit(&[30, 40, 5], 20), vec![8, 7, 5]);
        assert_eq!(fit(&[30, 40], 0), vec![1, 1]);
    }

    #[test]
    fn hostile_text_is_inert() {
        let md = "# t\u{1b}]0;x\u{7}\n\ntext \u{1b}[2J here\n";
        for l in text(&lines(md, &Theme::monochrome())) {
            assert!(!l.contains('\u{1b}'), "{l:?}");
        }
    }
}
