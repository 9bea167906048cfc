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
    let mut out: Vec<Line<'static>> = Vec::new();
    let mut spans: Vec<Span<'static>> = Vec::new();
    let mut styles: Vec<Style> = vec![theme.text()];
    let mut lists: Vec<Option<u64>> = Vec::new();
    let mut in_code = false;
    let mut quote = 0usize;
    let flush = |spans: &mut Vec<Span<'static>>, out: &mut Vec<Line<'static>>| {
        if !spans.is_empty() {
            out.push(Line::from(std::mem::take(spans)));
        }
    };
    let parser = Parser::new_ext(
        markdown,
        Options::ENABLE_TASKLISTS | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TABLES,
    );
    for event in parser {
        let style = *styles.last().unwrap_or(&Style::default());
        match event {
            Event::Start(Tag::Heading { level, .. }) => {
                flush(&mut spans, &mut out);
                if !out.is_empty() {
                    out.push(Line::from(""));
                }
                let mark = match level {
                    HeadingLevel::H1 => "",
                    HeadingLevel::H2 => "▌ ",
                    _ => "· ",
                };
                spans.push(Span::styled(mark, theme.accent()));
                styles.push(theme.title());
            }
            Event::End(TagEnd::Heading(_)) => {
                styles.pop();
                flush(&mut spans, &mut out);
            }
            Event::Start(Tag::Paragraph) if quote > 0 => {
                spans.push(Span::styled("│ ".repeat(quote), theme.muted()));
            }
            Event::End(TagEnd::Paragraph) => {
                flush(&mut spans, &mut out);
                if lists.is_empty() {
                    out.push(Line::from(""));
                }
            }
            Event::Start(Tag::List(start)) => {
                flush(&mut spans, &mut out);
                lists.push(start);
            }
            Event::End(TagEnd::List(_)) => {
                lists.pop();
                if lists.is_empty() {
                    out.push(Line::from(""));
                }
            }
            Event::Start(Tag::Item) => {
                flush(&mut spans, &mut out);
                let depth = lists.len().saturating_sub(1);
                let bullet = match lists.last_mut() {
                    Some(Some(n)) => {
                        let b = format!("{n}. ");
                        *n += 1;
                        b
                    }
                    _ => "• ".to_string(),
                };
                spans.push(Span::raw("  ".repeat(depth)));
                spans.push(Span::styled(bullet, theme.accent()));
            }
            Event::End(TagEnd::Item) => flush(&mut spans, &mut out),
            Event::TaskListMarker(done) => {
                // Replace the bullet just pushed with a box.
                if let Some(last) = spans.last_mut() {
                    *last = Span::styled(if done { "☑ " } else { "☐ " }, theme.accent());
                }
            }
            Event::Start(Tag::Emphasis) => styles.push(style.add_modifier(Modifier::ITALIC)),
            Event::Start(Tag::Strong) => styles.push(style.add_modifier(Modifier::BOLD)),
            Event::Start(Tag::Strikethrough) => {
                styles.push(style.add_modifier(Modifier::CROSSED_OUT))
            }
            Event::Start(Tag::Link { .. }) => styles.push(style.add_modifier(Modifier::UNDERLINED)),
            Event::End(
                TagEnd::Emphasis | TagEnd::Strong | TagEnd::Strikethrough | TagEnd::Link,
            ) => {
                styles.pop();
            }
            Event::Start(Tag::BlockQuote(_)) => quote += 1,
            Event::End(TagEnd::BlockQuote(_)) => quote = quote.saturating_sub(1),
            Event::Start(Tag::CodeBlock(kind)) => {
                flush(&mut spans, &mut out);
                in_code = true;
                if let CodeBlockKind::Fenced(lang) = kind
                    && !lang.is_empty()
                {
                    out.push(Line::from(Span::styled(
                        format!("  [{}]", clean(&lang)),
                        theme.muted(),
                    )));
                }
            }
            Event::End(TagEnd::CodeBlock) => {
                in_code = false;
                out.push(Line::from(""));
            }
            Event::Text(t) => {
                if in_code {
                    for l in t.lines() {
                        out.push(Line::from(Span::styled(
                            format!("  {}", clean(l)),
                            theme.accent(),
                        )));
                    }
                } else {
                    spans.push(Span::styled(clean(&t), style));
                }
            }
            Event::Code(t) => spans.push(Span::styled(clean(&t), theme.accent())),
            Event::Html(t) | Event::InlineHtml(t) => {
                spans.push(Span::styled(clean(&t), theme.muted()))
            }
            Event::SoftBreak => spans.push(Span::raw(" ")),
            Event::HardBreak => flush(&mut spans, &mut out),
            // Tables: one line per row, cells separated by a bar.
            Event::Start(Tag::Table(_)) => flush(&mut spans, &mut out),
            Event::End(TagEnd::Table) => {
                flush(&mut spans, &mut out);
                out.push(Line::from(""));
            }
            Event::Start(Tag::TableHead) => styles.push(theme.title()),
            Event::End(TagEnd::TableHead) => {
                styles.pop();
                flush(&mut spans, &mut out);
            }
            Event::Start(Tag::TableRow) => flush(&mut spans, &mut out),
            Event::End(TagEnd::TableRow) => flush(&mut spans, &mut out),
            Event::Start(Tag::TableCell) if !spans.is_empty() => {
                spans.push(Span::styled(" │ ", theme.muted()));
            }
            Event::Rule => {
                flush(&mut spans, &mut out);
                out.push(Line::from(Span::styled("────────", theme.muted())));
            }
            _ => {}
        }
    }
    flush(&mut spans, &mut out);
    while out.last().is_some_and(|l| l.width() == 0) {
        out.pop();
    }
    out
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
