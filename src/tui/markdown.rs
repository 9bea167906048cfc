//! Markdown (runbooks, handoff summaries) as styled terminal lines, with
//! pulldown-cmark doing the parsing. Every piece of text is cleaned of
//! control sequences first: runbook files are trusted, but not blindly.

use pulldown_cmark::{CodeBlockKind, Event, HeadingLevel, Options, Parser, Tag, TagEnd};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};

use super::sanitize::clean;
use super::theme::Theme;

/// Renders Markdown to lines. Headings, lists (with task boxes), emphasis,
/// strong, inline code, code blocks, block quotes and rules are drawn;
/// links show their text; HTML is shown as text.
pub fn lines(markdown: &str, theme: &Theme) -> Vec<Line<'static>> {
    let mut r = Renderer {
        theme,
        out: Vec::new(),
        spans: Vec::new(),
        styles: vec![theme.text()],
        lists: Vec::new(),
        in_code: false,
        quote: 0,
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
                if !self.out.is_empty() {
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
            // Tables: one line per row, cells separated by a bar.
            Tag::Table(_) | Tag::TableRow => self.flush(),
            Tag::TableHead => self.styles.push(theme.title()),
            Tag::TableCell if !self.spans.is_empty() => {
                self.spans.push(Span::styled(" │ ", theme.muted()));
            }
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
            TagEnd::Heading(_) | TagEnd::TableHead => {
                self.styles.pop();
                self.flush();
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
            TagEnd::Item | TagEnd::TableRow => self.flush(),
            TagEnd::Emphasis | TagEnd::Strong | TagEnd::Strikethrough | TagEnd::Link => {
                self.styles.pop();
            }
            TagEnd::BlockQuote(_) => self.quote = self.quote.saturating_sub(1),
            TagEnd::CodeBlock => {
                self.in_code = false;
                self.out.push(Line::from(""));
            }
            TagEnd::Table => {
                self.flush();
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
    fn tables_are_one_line_per_row() {
        let md = "| id | state |\n|---|---|\n| INC-1 | open |\n| INC-2 | resolved |\n";
        let got = text(&lines(md, &Theme::monochrome()));
        assert_eq!(got, vec!["id │ state", "INC-1 │ open", "INC-2 │ resolved"]);
    }

    #[test]
    fn hostile_text_is_inert() {
        let md = "# t\u{1b}]0;x\u{7}\n\ntext \u{1b}[2J here\n";
        for l in text(&lines(md, &Theme::monochrome())) {
            assert!(!l.contains('\u{1b}'), "{l:?}");
        }
    }
}
