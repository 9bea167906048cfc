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
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::model::envelope::Component;
use crate::model::incident::{Category, Incident, Severity};
use crate::model::role::Role;
use crate::model::runbook::{Runbook, StepAction};

mod parse;

pub use parse::parse;

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
