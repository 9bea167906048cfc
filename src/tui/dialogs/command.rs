//! The `:` command line: screen names (or their first three letters, or
//! their number), `agent NAME`, `incident ID`, `approval ID` (the links
//! pages carry), `help` and `q`, with completion.

use super::super::app::Effect;
use super::super::ctx::{Ctx, Do};
use super::super::screen::Screen;
use super::Dialog;

/// Command names for completion.
fn commands(ctx: &Ctx) -> Vec<String> {
    let mut c: Vec<String> = Screen::ALL
        .iter()
        .map(|s| s.command().to_string())
        .collect();
    c.extend(["help", "quit", "q"].map(String::from));
    c.extend(ctx.data.agents.keys().map(|a| format!("agent {a}")));
    c.extend(ctx.data.incidents.keys().map(|i| format!("incident {i}")));
    c.extend(ctx.data.approvals.keys().map(|a| format!("approval {a}")));
    c
}

/// Candidates shown as the command is typed: up to five matches, and how
/// many more.
pub fn candidates(ctx: &Ctx, partial: &str) -> Vec<String> {
    if partial.trim().is_empty() {
        return vec!["tab completes; up and down recall earlier commands; C-u clears".into()];
    }
    let matches: Vec<String> = commands(ctx)
        .into_iter()
        .filter(|c| c.starts_with(partial) && c != partial)
        .collect();
    let mut shown: Vec<String> = matches.iter().take(5).cloned().collect();
    if matches.len() > 5 {
        shown.push(format!("… and {} more (tab completes)", matches.len() - 5));
    }
    shown
}

/// Completes a partial command to the longest common prefix of its
/// matches.
pub fn complete(ctx: &Ctx, partial: &str) -> Option<String> {
    let matches: Vec<String> = commands(ctx)
        .into_iter()
        .filter(|c| c.starts_with(partial))
        .collect();
    let first = matches.first()?;
    let mut prefix = first.clone();
    for m in &matches[1..] {
        while !m.starts_with(&prefix) {
            prefix.pop();
        }
    }
    (prefix.len() > partial.len()).then_some(prefix)
}

/// What a command does, or why it is not one.
pub fn run(ctx: &Ctx, text: &str) -> Result<Vec<Do>, String> {
    let mut words = text.split_whitespace();
    let Some(verb) = words.next() else {
        return Ok(Vec::new());
    };
    if verb == "agent" {
        let name = words.next().ok_or("usage: agent NAME")?;
        if !ctx.data.agents.contains_key(name) {
            return Err(format!("no agent {name:?}"));
        }
        return Ok(vec![
            Do::Show(Screen::Agents),
            Do::Select(Screen::Agents, name.to_string()),
        ]);
    }
    if let Some(screen) = match verb {
        "incident" => Some(Screen::Incidents),
        "approval" => Some(Screen::Approvals),
        _ => None,
    } {
        // Without an id it names the screen, as `incidents` does.
        let Some(id) = words.next() else {
            return Ok(vec![Do::Show(screen)]);
        };
        let id = id.to_ascii_uppercase();
        let known = match screen {
            Screen::Incidents => ctx.data.incidents.contains_key(&id),
            _ => ctx.data.approvals.contains_key(&id),
        };
        if !known {
            return Err(format!("no {verb} {id:?} on this hub"));
        }
        return Ok(vec![Do::Show(screen), Do::Select(screen, id)]);
    }
    if let Some(s) = Screen::ALL
        .iter()
        .find(|s| s.command() == verb || s.command().starts_with(verb) && verb.len() >= 3)
    {
        return Ok(vec![Do::Show(*s)]);
    }
    if let Ok(n) = verb.parse::<usize>()
        && (1..=Screen::ALL.len()).contains(&n)
    {
        return Ok(vec![Do::Show(Screen::ALL[n - 1])]);
    }
    match verb {
        "q" | "quit" => Ok(vec![Do::Effect(Effect::Quit)]),
        "help" => Ok(vec![Do::Open(Dialog::Help {
            scroll: Default::default(),
        })]),
        other => Err(format!(
            "unknown command {other:?} (overview, incidents, approvals, controls, agents, runbook, handoff, agent NAME, incident ID, approval ID, help, q)"
        )),
    }
}
