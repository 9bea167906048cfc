//! Reading one runbook file: the `+++` TOML front matter, the title, and
//! the task-list steps with their actions, every problem reported with its
//! line.

use std::ops::Range;

use pulldown_cmark::{CodeBlockKind, Event, Options, Parser, Tag, TagEnd};
use serde::Deserialize;

use crate::model::incident::Category;
use crate::model::runbook::{Runbook, RunbookStep, StepAction};

use super::{RunbookError, parse_action};

/// The front matter, as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FrontMatter {
    categories: Option<Vec<toml::Spanned<String>>>,
    #[serde(default)]
    agents: Vec<toml::Spanned<String>>,
    owner: Option<toml::Spanned<String>>,
    version: Option<toml::Spanned<String>>,
}

/// Turns byte offsets of a file into 1-based line numbers.
struct Lines {
    starts: Vec<usize>,
}

impl Lines {
    fn new(text: &str) -> Self {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Self { starts }
    }

    fn line(&self, offset: usize) -> u32 {
        let i = self.starts.partition_point(|&s| s <= offset);
        u32::try_from(i.max(1)).unwrap_or(u32::MAX)
    }
}

struct Errors<'a> {
    file: &'a str,
    list: Vec<RunbookError>,
}

impl Errors<'_> {
    fn push(&mut self, line: u32, problem: impl Into<String>) {
        self.list.push(RunbookError {
            file: self.file.to_string(),
            line,
            problem: problem.into(),
        });
    }
}

/// A task-list item being read.
struct Item {
    /// Where the item starts (its line is the step's line).
    start: usize,
    /// Where the item ends.
    end: usize,
    /// After the `[ ]` marker, when it is a task.
    marker_end: Option<usize>,
    /// Source ranges left out of the step's text.
    cut: Vec<Range<usize>>,
    /// The action and the line it is written on.
    action: Option<(StepAction, u32)>,
}

/// Parses one runbook. `file` names it in errors; `name` is its name (the
/// file name without `.md`).
pub fn parse(file: &str, name: &str, text: &str) -> Result<Runbook, Vec<RunbookError>> {
    let mut errors = Errors {
        file,
        list: Vec::new(),
    };
    let lines = Lines::new(text);
    if let Err(e) = crate::model::validate::id("name", name) {
        errors.push(
            1,
            format!(
                "the file name {name:?} cannot name a runbook ({e}); use letters, digits, `_`, `-`"
            ),
        );
    }
    let Some((toml_start, toml_end, body_start)) = front_matter_bounds(text, &mut errors) else {
        return Err(errors.list);
    };
    let close_line = lines.line(toml_end);
    let front = read_front_matter(
        &text[toml_start..toml_end],
        toml_start,
        close_line,
        &lines,
        &mut errors,
    );
    let body = &text[body_start..];
    let (title, steps) = read_body(text, body_start, &lines, &mut errors);
    let title = match title {
        Some(t) if !t.trim().is_empty() => t.trim().to_string(),
        _ => {
            errors.push(
                lines.line(body_start),
                "no title: the first heading (`# …`) after the front matter names the runbook",
            );
            String::new()
        }
    };
    if steps.is_empty() {
        errors.push(
            lines.line(body_start),
            "no checklist steps: write each step as a task-list item, `- [ ] …`",
        );
    }
    if !errors.list.is_empty() {
        errors.list.sort_by_key(|e| e.line);
        return Err(errors.list);
    }
    Ok(Runbook {
        name: name.to_string(),
        title,
        categories: front.categories,
        agents: front.agents,
        owner: front.owner,
        version: front.version,
        body: body.to_string(),
        steps,
    })
}

/// Where the front matter's TOML starts and ends and where the body
/// starts; None (with the error pushed) when the `+++` lines are missing.
fn front_matter_bounds(text: &str, errors: &mut Errors<'_>) -> Option<(usize, usize, usize)> {
    // Front matter: `+++` on the first line, TOML, `+++`.
    let mut raw_lines = text.split_inclusive('\n');
    let first = raw_lines.next().unwrap_or("");
    if first.trim_end() != "+++" {
        errors.push(
            1,
            "no front matter: a runbook starts with a `+++` line, then TOML (categories, owner, version), then `+++`",
        );
        return None;
    }
    let toml_start = first.len();
    let mut offset = toml_start;
    let mut close = None;
    for l in raw_lines {
        if l.trim_end() == "+++" {
            close = Some((offset, offset + l.len()));
            break;
        }
        offset += l.len();
    }
    let Some((toml_end, body_start)) = close else {
        errors.push(
            1,
            "the front matter opened on line 1 is never closed with a `+++` line",
        );
        return None;
    };
    Some((toml_start, toml_end, body_start))
}

/// The fields of the front matter, as far as they are valid.
#[derive(Debug, Default)]
struct Front {
    categories: Vec<String>,
    agents: Vec<String>,
    owner: String,
    version: String,
}

/// Reads the front matter's TOML (`front`, at byte `toml_start` of the
/// file), pushing an error, with its line, for each field at fault.
fn read_front_matter(
    front: &str,
    toml_start: usize,
    close_line: u32,
    lines: &Lines,
    errors: &mut Errors<'_>,
) -> Front {
    let mut categories = Vec::new();
    let mut agents = Vec::new();
    let mut owner = String::new();
    let mut version = String::new();
    match toml::from_str::<FrontMatter>(front) {
        Err(e) => {
            let line = e
                .span()
                .map_or(1, |s| lines.line(toml_start + s.start.min(front.len())));
            errors.push(line, format!("front matter: {}", e.message().trim()));
        }
        Ok(fm) => {
            let at = |s: &toml::Spanned<String>| lines.line(toml_start + s.span().start);
            match fm.categories {
                None => errors.push(
                    close_line,
                    format!("missing front matter field `categories` (a list of: {})", Category::NAMES),
                ),
                Some(list) if list.is_empty() => errors.push(
                    close_line,
                    "front matter field `categories` is empty: name the incident categories this runbook is for",
                ),
                Some(list) => {
                    for c in list {
                        match Category::parse(c.get_ref()) {
                            Some(_) => categories.push(c.get_ref().clone()),
                            None => errors.push(
                                at(&c),
                                format!(
                                    "unknown category {:?} (known: {})",
                                    c.get_ref(),
                                    Category::NAMES
                                ),
                            ),
                        }
                    }
                }
            }
            for a in fm.agents {
                match crate::model::validate::id("agents", a.get_ref()) {
                    Ok(()) => agents.push(a.get_ref().clone()),
                    Err(e) => errors.push(at(&a), format!("agent {:?}: {e}", a.get_ref())),
                }
            }
            for (field, value, out) in [
                ("owner", fm.owner, &mut owner),
                ("version", fm.version, &mut version),
            ] {
                match value {
                    None => {
                        errors.push(close_line, format!("missing front matter field `{field}`"))
                    }
                    Some(v) if v.get_ref().trim().is_empty() => {
                        errors.push(at(&v), format!("front matter field `{field}` is empty"));
                    }
                    Some(v) => {
                        if let Err(e) = crate::model::validate::name(field, v.get_ref()) {
                            errors.push(at(&v), format!("front matter: {e}"));
                        }
                        *out = v.into_inner();
                    }
                }
            }
        }
    }
    Front {
        categories,
        agents,
        owner,
        version,
    }
}

/// Reads the title and the steps out of the Markdown after the front matter.
fn read_body(
    text: &str,
    body_start: usize,
    lines: &Lines,
    errors: &mut Errors<'_>,
) -> (Option<String>, Vec<RunbookStep>) {
    let body = &text[body_start..];
    let mut options = Options::empty();
    options.insert(Options::ENABLE_TASKLISTS);
    let mut reader = Body::default();
    for (event, range) in Parser::new_ext(body, options).into_offset_iter() {
        let range = (range.start + body_start)..(range.end + body_start);
        reader.take(event, range, text, lines, errors);
    }
    let Body {
        title, mut done, ..
    } = reader;
    done.sort_by_key(|d| d.0);
    let steps = done
        .into_iter()
        .enumerate()
        .map(|(i, (_, line, text, action))| RunbookStep {
            index: u32::try_from(i + 1).unwrap_or(u32::MAX),
            line,
            text,
            action,
        })
        .collect();
    (title, steps)
}

/// What [`read_body`] has read so far.
#[derive(Default)]
struct Body {
    /// The first heading's text.
    title: Option<String>,
    in_title: bool,
    /// List items still open, innermost last.
    items: Vec<Item>,
    /// Steps read: (byte offset, line, text, action).
    done: Vec<(usize, u32, String, Option<StepAction>)>,
    /// A ```run block being read: where, and its text so far.
    run_block: Option<(Range<usize>, String)>,
}

impl Body {
    /// Takes one Markdown event at `range` (byte offsets in `text`).
    fn take(
        &mut self,
        event: Event<'_>,
        range: Range<usize>,
        text: &str,
        lines: &Lines,
        errors: &mut Errors<'_>,
    ) {
        if let Some((_, content)) = &mut self.run_block {
            match event {
                Event::Text(t) => return content.push_str(&t),
                Event::End(TagEnd::CodeBlock) => {}
                _ => return,
            }
        }
        match event {
            Event::Start(Tag::Heading { .. }) if self.title.is_none() => {
                self.in_title = true;
                self.title = Some(String::new());
            }
            Event::End(TagEnd::Heading(_)) => self.in_title = false,
            Event::Text(t) if self.in_title => {
                if let Some(s) = &mut self.title {
                    s.push_str(&t);
                }
            }
            Event::Start(Tag::Item) => self.items.push(Item {
                start: range.start,
                end: range.end,
                marker_end: None,
                cut: Vec::new(),
                action: None,
            }),
            Event::TaskListMarker(_) => {
                if let Some(item) = self.items.last_mut() {
                    item.marker_end = Some(range.end);
                }
            }
            Event::Start(Tag::List(_)) => {
                // A nested list belongs to its own items, not to this step.
                if let Some(item) = self.items.last_mut() {
                    item.cut.push(range.clone());
                }
            }
            Event::End(TagEnd::Item) => self.end_item(text, lines, errors),
            Event::Code(code) => {
                if self.in_title {
                    if let Some(s) = &mut self.title {
                        s.push_str(&code);
                    }
                    return;
                }
                if let Some(rest) = code.trim_start().strip_prefix("run:") {
                    let line = lines.line(range.start);
                    attach(&mut self.items, range, line, rest, errors);
                }
            }
            Event::Start(Tag::CodeBlock(CodeBlockKind::Fenced(info)))
                if info.split_whitespace().next() == Some("run") =>
            {
                self.run_block = Some((range, String::new()));
            }
            Event::End(TagEnd::CodeBlock) => self.end_run_block(lines, errors),
            _ => {}
        }
    }

    /// A list item ends: a task-list item is a step.
    fn end_item(&mut self, text: &str, lines: &Lines, errors: &mut Errors<'_>) {
        if let Some(item) = self.items.pop()
            && let Some(marker_end) = item.marker_end
        {
            let step_line = lines.line(item.start);
            let text = step_text(text, marker_end, item.end, &item.cut);
            if text.is_empty() {
                errors.push(step_line, "a checklist step with no text: say what to do");
            }
            self.done
                .push((item.start, step_line, text, item.action.map(|(a, _)| a)));
        }
    }

    /// A ```run block ends: its one action line goes to the open step.
    fn end_run_block(&mut self, lines: &Lines, errors: &mut Errors<'_>) {
        let Some((block, content)) = self.run_block.take() else {
            return;
        };
        let block_line = lines.line(block.start);
        let action_lines: Vec<&str> = content.lines().filter(|l| !l.trim().is_empty()).collect();
        match action_lines.as_slice() {
            [one] => {
                let one = one.trim().to_string();
                attach(&mut self.items, block, block_line + 1, &one, errors);
            }
            [] => errors.push(
                block_line,
                "an empty ```run block: put one action line in it",
            ),
            _ => errors.push(
                block_line,
                format!(
                    "a ```run block holds one action line, this one has {}",
                    action_lines.len()
                ),
            ),
        }
    }
}

/// Attaches an action written at `range` to the innermost open item, or
/// reports why it cannot be.
fn attach(
    items: &mut [Item],
    range: Range<usize>,
    line: u32,
    action: &str,
    errors: &mut Errors<'_>,
) {
    let parsed = match parse_action(action) {
        Ok(a) => a,
        Err(e) => {
            errors.push(line, e);
            return;
        }
    };
    match items.last_mut() {
        Some(item) if item.marker_end.is_some() => {
            if let Some((_, first)) = &item.action {
                errors.push(
                    line,
                    format!(
                        "a step carries one action; this one already has one (line {first}): split it into two steps"
                    ),
                );
                return;
            }
            item.cut.push(range);
            item.action = Some((parsed, line));
        }
        _ => errors.push(
            line,
            "an action outside a checklist step: put it in a task-list item, `- [ ] …`",
        ),
    }
}

/// The step's text: its source after the `[ ]` marker, with actions and
/// nested lists cut out, each line trimmed, joined by spaces.
fn step_text(text: &str, from: usize, to: usize, cut: &[Range<usize>]) -> String {
    let mut kept = String::new();
    let mut at = from;
    let mut cut: Vec<&Range<usize>> = cut.iter().filter(|r| r.start >= from).collect();
    cut.sort_by_key(|r| r.start);
    for r in cut {
        if r.start > at {
            kept.push_str(text.get(at..r.start.min(to)).unwrap_or(""));
        }
        at = at.max(r.end);
    }
    if at < to {
        kept.push_str(text.get(at..to).unwrap_or(""));
    }
    let joined = kept
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    // Cutting a code span out of a sentence leaves doubled spaces.
    let mut out = String::with_capacity(joined.len());
    for word in joined.split(' ').filter(|w| !w.is_empty()) {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    // An action at the end of a sentence can leave ` .` or a dangling `:`.
    for (from, to) in [(" .", "."), (" ,", ","), (" ;", ";")] {
        out = out.replace(from, to);
    }
    out.trim_end_matches([':', ' ']).to_string()
}
