//! Runbooks: Markdown files with TOML front matter whose task-list items
//! are checklist steps, some carrying a pre-approved action.
//!
//! The format is documented in `docs/runbooks.md`. In short:
//!
//! ````text
//! +++
//! categories = ["tool_failure"]
//! agents = ["refund-bot"]        # optional; none: every agent
//! owner = "agent-platform-oncall"
//! version = "3"
//! +++
//!
//! # Tool failure
//!
//! - [ ] Disable the failing tool `run: disable_tool lookup_order`
//! - [ ] Send runs to humans
//!   ```run
//!   route_to_humans
//!   ```
//! - [ ] Tell #support (ticked by hand)
//! ````
//!
//! [`load_dir`] reads every `*.md` file of a directory but `README.md`, and
//! reports every problem of every file as `file:line: problem`.

use std::fmt;
use std::ops::Range;
use std::path::Path;

use pulldown_cmark::{CodeBlockKind, Event, Options, Parser, Tag, TagEnd};
use serde::{Deserialize, Serialize};

use crate::model::envelope::Component;
use crate::model::incident::{Category, Incident, Severity};
use crate::model::role::Role;
use crate::model::runbook::{Runbook, RunbookStep, StepAction};

/// The runbooks shipped in the repository's `runbooks/` directory, compiled
/// in: (file name, text). `agentdeck demo` falls back to these.
pub const SHIPPED: &[(&str, &str)] = &[
    (
        "data_corruption.md",
        include_str!("../../runbooks/data_corruption.md"),
    ),
    ("drift.md", include_str!("../../runbooks/drift.md")),
    (
        "hallucination_customer_impact.md",
        include_str!("../../runbooks/hallucination_customer_impact.md"),
    ),
    (
        "hallucination_low_impact.md",
        include_str!("../../runbooks/hallucination_low_impact.md"),
    ),
    ("slo_burn.md", include_str!("../../runbooks/slo_burn.md")),
    (
        "tool_failure.md",
        include_str!("../../runbooks/tool_failure.md"),
    ),
    (
        "unsafe_action.md",
        include_str!("../../runbooks/unsafe_action.md"),
    ),
];

/// One problem in one runbook file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunbookError {
    /// The file, as given (a path, or a bare file name).
    pub file: String,
    /// The 1-based line; 0 when the problem is the file as a whole (it
    /// cannot be read).
    pub line: u32,
    /// What is wrong, for an operator to fix.
    pub problem: String,
}

impl fmt::Display for RunbookError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file, self.problem)
        } else {
            write!(f, "{}:{}: {}", self.file, self.line, self.problem)
        }
    }
}

impl std::error::Error for RunbookError {}

/// Body of `POST /v1/incidents/{id}/steps`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepRequest {
    /// The 1-based index of the step in the incident's runbook.
    pub step: u32,
}

/// Answer of `GET /v1/runbooks`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunbookList {
    /// Every loaded runbook, by name.
    pub runbooks: Vec<Runbook>,
}

/// Every action of the grammar, for error messages.
pub const ACTIONS: &str = "disable_tool TOOL, force_fallback, route_to_humans, require_approval, \
     pin_version COMPONENT:VERSION, pause_agent, escalate SEV1..SEV4, page ROLE";

/// Parses one action line, e.g. `disable_tool lookup_order` or
/// `escalate SEV1` (the `run:` prefix of the inline form removed).
pub fn parse_action(line: &str) -> Result<StepAction, String> {
    let mut words = line.split_whitespace();
    let Some(verb) = words.next() else {
        return Err(format!(
            "empty action: write `run: ACTION` with one of {ACTIONS}"
        ));
    };
    let arg = words.next();
    if let Some(extra) = words.next() {
        return Err(format!(
            "action {verb:?} has an extra word {extra:?}: an action is `VERB [ARGUMENT]`"
        ));
    }
    let no_arg = |action: StepAction| match arg {
        None => Ok(action),
        Some(a) => Err(format!("action {verb} takes no argument, got {a:?}")),
    };
    match verb {
        "disable_tool" => {
            let Some(tool) = arg else {
                return Err("action disable_tool needs the tool: `disable_tool TOOL`".into());
            };
            crate::model::validate::id("tool", tool)
                .map_err(|e| format!("tool name {tool:?} is invalid: {e}"))?;
            Ok(StepAction::DisableTool {
                tool: tool.to_string(),
            })
        }
        "force_fallback" => no_arg(StepAction::ForceFallback),
        "route_to_humans" => no_arg(StepAction::RouteToHumans),
        "require_approval" => no_arg(StepAction::RequireApproval),
        "pause_agent" => no_arg(StepAction::PauseAgent),
        "pin_version" => {
            let Some(version) = arg else {
                return Err(
                    "action pin_version needs COMPONENT:VERSION, e.g. `pin_version prompt:v7`"
                        .into(),
                );
            };
            let ok = version.split_once(':').is_some_and(|(c, v)| {
                Component::parse(c).is_some() && !v.is_empty() && v.len() <= 100
            });
            if !ok || crate::model::validate::name("version", version).is_err() {
                return Err(format!(
                    "version {version:?} is invalid: write COMPONENT:VERSION with component model, prompt, tool or policy (e.g. prompt:v7)"
                ));
            }
            Ok(StepAction::PinVersion {
                version: version.to_string(),
            })
        }
        "escalate" => {
            let severity = arg.and_then(Severity::parse).ok_or_else(|| {
                format!(
                    "action escalate needs a severity SEV1, SEV2, SEV3 or SEV4, got {:?}",
                    arg.unwrap_or("")
                )
            })?;
            Ok(StepAction::Escalate { severity })
        }
        "page" => {
            let role = arg
                .and_then(Role::parse)
                .filter(|r| r.is_operator())
                .ok_or_else(|| {
                    format!(
                        "action page needs a role of people: viewer, responder, approver or lead, got {:?}",
                        arg.unwrap_or("")
                    )
                })?;
            Ok(StepAction::Page { role })
        }
        other => Err(format!("unknown action {other:?} (known: {ACTIONS})")),
    }
}

/// The action as written in a runbook, e.g. `disable_tool lookup_order`.
pub fn action_text(action: &StepAction) -> String {
    match action {
        StepAction::DisableTool { tool } => format!("disable_tool {tool}"),
        StepAction::ForceFallback => "force_fallback".into(),
        StepAction::RouteToHumans => "route_to_humans".into(),
        StepAction::RequireApproval => "require_approval".into(),
        StepAction::PinVersion { version } => format!("pin_version {version}"),
        StepAction::PauseAgent => "pause_agent".into(),
        StepAction::Escalate { severity } => format!("escalate {}", severity.as_str()),
        StepAction::Page { role } => format!("page {}", role.as_str()),
    }
}

/// The roles that may run a step with this action (or tick a step without
/// one): those of [`Permission::RunStep`] for every step today; a client
/// greys out a step whose roles do not include the operator's and says
/// which are needed.
pub fn roles_for(_action: Option<&StepAction>) -> &'static [Role] {
    crate::model::role::Permission::RunStep.roles()
}

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
    let mut title: Option<String> = None;
    let mut in_title = false;
    let mut items: Vec<Item> = Vec::new();
    let mut done: Vec<(usize, u32, String, Option<StepAction>)> = Vec::new();
    let mut run_block: Option<(Range<usize>, String)> = None;
    for (event, range) in Parser::new_ext(body, options).into_offset_iter() {
        let range = (range.start + body_start)..(range.end + body_start);
        let line = lines.line(range.start);
        if let Some((_, content)) = &mut run_block {
            match event {
                Event::Text(t) => {
                    content.push_str(&t);
                    continue;
                }
                Event::End(TagEnd::CodeBlock) => {}
                _ => continue,
            }
        }
        match event {
            Event::Start(Tag::Heading { .. }) if title.is_none() => {
                in_title = true;
                title = Some(String::new());
            }
            Event::End(TagEnd::Heading(_)) => in_title = false,
            Event::Text(t) if in_title => {
                if let Some(s) = &mut title {
                    s.push_str(&t);
                }
            }
            Event::Start(Tag::Item) => items.push(Item {
                start: range.start,
                end: range.end,
                marker_end: None,
                cut: Vec::new(),
                action: None,
            }),
            Event::TaskListMarker(_) => {
                if let Some(item) = items.last_mut() {
                    item.marker_end = Some(range.end);
                }
            }
            Event::Start(Tag::List(_)) => {
                // A nested list belongs to its own items, not to this step.
                if let Some(item) = items.last_mut() {
                    item.cut.push(range.clone());
                }
            }
            Event::End(TagEnd::Item) => {
                if let Some(item) = items.pop()
                    && let Some(marker_end) = item.marker_end
                {
                    let step_line = lines.line(item.start);
                    let text = step_text(text, marker_end, item.end, &item.cut);
                    if text.is_empty() {
                        errors.push(step_line, "a checklist step with no text: say what to do");
                    }
                    done.push((item.start, step_line, text, item.action.map(|(a, _)| a)));
                }
            }
            Event::Code(code) => {
                if in_title {
                    if let Some(s) = &mut title {
                        s.push_str(&code);
                    }
                    continue;
                }
                let Some(rest) = code.trim_start().strip_prefix("run:") else {
                    continue;
                };
                let rest = rest.to_string();
                attach(&mut items, range, line, &rest, errors);
            }
            Event::Start(Tag::CodeBlock(CodeBlockKind::Fenced(info)))
                if info.split_whitespace().next() == Some("run") =>
            {
                run_block = Some((range, String::new()));
            }
            Event::End(TagEnd::CodeBlock) => {
                if let Some((block, content)) = run_block.take() {
                    let block_line = lines.line(block.start);
                    let action_lines: Vec<&str> =
                        content.lines().filter(|l| !l.trim().is_empty()).collect();
                    match action_lines.as_slice() {
                        [one] => {
                            let one = one.trim().to_string();
                            attach(&mut items, block, block_line + 1, &one, errors);
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
            _ => {}
        }
    }
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

/// True for a file `load_dir` reads: `*.md`, but not `README.md`.
fn is_runbook_file(name: &str) -> bool {
    name.ends_with(".md") && !name.eq_ignore_ascii_case("README.md")
}

/// Parses named texts (file name, text), as [`load_dir`] does with files.
pub fn parse_all<'a>(
    files: impl IntoIterator<Item = (String, &'a str)>,
) -> Result<Vec<Runbook>, Vec<RunbookError>> {
    let mut runbooks = Vec::new();
    let mut errors = Vec::new();
    for (file, text) in files {
        let base = Path::new(&file)
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or(&file)
            .to_string();
        if !is_runbook_file(&base) {
            continue;
        }
        let name = base.trim_end_matches(".md");
        match parse(&file, name, text) {
            Ok(r) => runbooks.push(r),
            Err(e) => errors.extend(e),
        }
    }
    if errors.is_empty() {
        runbooks.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(runbooks)
    } else {
        Err(errors)
    }
}

/// The compiled-in copies of the shipped runbooks (see [`SHIPPED`]).
pub fn shipped() -> Result<Vec<Runbook>, Vec<RunbookError>> {
    parse_all(SHIPPED.iter().map(|(f, t)| (format!("runbooks/{f}"), *t)))
}

/// Loads every runbook of a directory: each `*.md` file but `README.md`,
/// in file-name order. Every problem of every file is reported.
pub fn load_dir(dir: &Path) -> Result<Vec<Runbook>, Vec<RunbookError>> {
    let fail = |problem: String| {
        vec![RunbookError {
            file: dir.display().to_string(),
            line: 0,
            problem,
        }]
    };
    let entries = std::fs::read_dir(dir).map_err(|e| fail(format!("cannot read: {e}")))?;
    let mut paths = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| fail(format!("cannot read: {e}")))?;
        let path = entry.path();
        let is_file = entry.file_type().map(|t| t.is_file()).unwrap_or(false)
            || path.metadata().map(|m| m.is_file()).unwrap_or(false);
        if is_file
            && path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(is_runbook_file)
        {
            paths.push(path);
        }
    }
    paths.sort();
    let mut texts = Vec::new();
    let mut errors = Vec::new();
    for path in paths {
        match std::fs::read(&path) {
            Ok(bytes) => match String::from_utf8(bytes) {
                Ok(t) => texts.push((path.display().to_string(), t)),
                Err(_) => errors.push(RunbookError {
                    file: path.display().to_string(),
                    line: 1,
                    problem: "not UTF-8 text".into(),
                }),
            },
            Err(e) => errors.push(RunbookError {
                file: path.display().to_string(),
                line: 0,
                problem: format!("cannot read: {e}"),
            }),
        }
    }
    let parsed = parse_all(texts.iter().map(|(f, t)| (f.clone(), t.as_str())));
    match parsed {
        Ok(r) if errors.is_empty() => Ok(r),
        Ok(_) => Err(errors),
        Err(e) => {
            errors.extend(e);
            Err(errors)
        }
    }
}

/// The runbooks a hub serves, and how incidents find theirs.
#[derive(Debug, Clone, Default)]
pub struct Library {
    runbooks: Vec<Runbook>,
}

impl Library {
    /// A library of these runbooks (kept in name order).
    pub fn new(mut runbooks: Vec<Runbook>) -> Self {
        runbooks.sort_by(|a, b| a.name.cmp(&b.name));
        Self { runbooks }
    }

    /// Every runbook, by name.
    pub fn all(&self) -> &[Runbook] {
        &self.runbooks
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.runbooks.is_empty()
    }

    /// The runbook of this name.
    pub fn get(&self, name: &str) -> Option<&Runbook> {
        self.runbooks.iter().find(|r| r.name == name)
    }

    /// The runbook for an incident of `category` involving `agent`: among
    /// those listing the category, one that names the agent beats one for
    /// every agent (no `agents`); a runbook naming other agents only does
    /// not apply. Ties go to the first name in alphabetical order.
    pub fn find(&self, category: Category, agent: Option<&str>) -> Option<&Runbook> {
        let claims = |r: &&Runbook| r.categories.iter().any(|c| c == category.as_str());
        let specific = agent.and_then(|a| {
            self.runbooks
                .iter()
                .filter(claims)
                .find(|r| r.agents.iter().any(|x| x == a))
        });
        specific.or_else(|| {
            self.runbooks
                .iter()
                .filter(claims)
                .find(|r| r.agents.is_empty())
        })
    }

    /// Links an incident to its runbook: `runbook` becomes the runbook's
    /// name when one matches, else stays the category name.
    pub fn link(&self, incident: &mut Incident) {
        incident.runbook = Some(
            self.find(incident.category, incident.agent.as_deref())
                .map_or_else(
                    || incident.category.as_str().to_string(),
                    |r| r.name.clone(),
                ),
        );
    }

    /// The runbook an incident is linked to: by the name it holds, else
    /// (an incident opened before its runbook existed) by category and
    /// agent.
    pub fn for_incident(&self, incident: &Incident) -> Option<&Runbook> {
        incident
            .runbook
            .as_deref()
            .and_then(|n| self.get(n))
            .or_else(|| self.find(incident.category, incident.agent.as_deref()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "+++\ncategories = [\"tool_failure\"]\nowner = \"sre\"\nversion = \"1\"\n+++\n\n# Tool down\n\nIntro.\n\n- [ ] Disable it `run: disable_tool lookup_order`.\n- [ ] Look at the dashboard\n- [ ] Route to humans\n  ```run\n  route_to_humans\n  ```\n";

    #[test]
    fn parses_front_matter_title_and_steps() {
        let r = parse("t.md", "t", GOOD).unwrap();
        assert_eq!(r.title, "Tool down");
        assert_eq!(r.categories, ["tool_failure"]);
        assert_eq!(r.steps.len(), 3);
        assert_eq!(r.steps[0].line, 11);
        assert_eq!(r.steps[0].text, "Disable it.");
        assert_eq!(
            r.steps[0].action,
            Some(StepAction::DisableTool {
                tool: "lookup_order".into()
            })
        );
        assert_eq!(r.steps[1].action, None);
        assert_eq!(r.steps[2].text, "Route to humans");
        assert_eq!(r.steps[2].action, Some(StepAction::RouteToHumans));
        assert_eq!(r.steps[2].index, 3);
    }

    #[test]
    fn action_grammar() {
        assert_eq!(
            parse_action("escalate SEV1"),
            Ok(StepAction::Escalate {
                severity: Severity::Sev1
            })
        );
        assert!(parse_action("page agent").is_err());
        assert!(parse_action("pin_version v7").is_err());
        assert!(parse_action("force_fallback now").is_err());
        assert!(
            parse_action("reboot")
                .unwrap_err()
                .contains("unknown action")
        );
        assert!(
            parse_action("disable_tool a!b")
                .unwrap_err()
                .contains("tool name")
        );
        for a in [
            "disable_tool x",
            "force_fallback",
            "route_to_humans",
            "require_approval",
            "pin_version prompt:v7",
            "pause_agent",
            "escalate SEV2",
            "page lead",
        ] {
            assert_eq!(action_text(&parse_action(a).unwrap()), a);
        }
    }

    #[test]
    fn shipped_runbooks_load() {
        let all = shipped().unwrap_or_else(|e| {
            panic!(
                "{}",
                e.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("\n")
            )
        });
        assert_eq!(all.len(), SHIPPED.len());
    }
}
