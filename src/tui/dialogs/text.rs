//! Text entry: reasons, notes, summaries, the typed emergency-stop
//! confirmation, the `:` command line and the `/` filter.

use crossterm::event::{KeyCode, KeyEvent};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::widgets::{Clear, Paragraph};

use crate::model::action::{ControlRequest, OpenIncidentRequest};
use crate::model::control::ControlKind;
use crate::model::incident::{Category, Severity};
use crate::tui::panes::approvals::common_reject_options;

use super::super::action::Action;
use super::super::ctx::{Ctx, Do};
use super::super::sanitize::{clean, fit};
use super::super::theme::Theme;
use super::{
    Dialog, Op, TextPurpose, centered, command, error_and_keys, line_at, line_input, text_of,
};

/// The typed confirmation of the emergency stop.
pub const STOP_PHRASE: &str = "PAUSE FLEET";

/// A text entry with a title and hint lines above it.
pub fn entry(title: impl Into<String>, hint: Vec<String>, purpose: TextPurpose) -> Dialog {
    entry_with(title, hint, purpose, "")
}

/// A text entry that starts with `initial` typed.
pub fn entry_with(
    title: impl Into<String>,
    hint: Vec<String>,
    purpose: TextPurpose,
    initial: &str,
) -> Dialog {
    Dialog::Text {
        title: title.into(),
        hint,
        input: line_input(initial),
        purpose,
        error: None,
    }
}

/// Confirm submits (an error keeps it open, saying why); cancel closes it,
/// clearing a filter; tab completes a command; other keys type, and a
/// filter applies as it is typed.
pub fn key(dialog: Dialog, event: KeyEvent, action: Option<Action>, ctx: &Ctx) -> Vec<Do> {
    let Dialog::Text {
        title,
        hint,
        mut input,
        purpose,
        error,
    } = dialog
    else {
        return vec![Do::Open(dialog)];
    };
    match action {
        Some(Action::Cancel) if purpose == TextPurpose::Filter => {
            return vec![Do::Filter(String::new())];
        }
        Some(Action::Cancel) => return Vec::new(),
        Some(Action::Confirm) => {
            return match submit(&purpose, &text_of(&input), ctx) {
                Ok(done) => done,
                Err(e) => vec![Do::Open(Dialog::Text {
                    title,
                    hint,
                    input,
                    purpose,
                    error: Some(e),
                })],
            };
        }
        _ => {}
    }
    let mut hint = hint;
    let ctrl_u = event.code == KeyCode::Char('u')
        && event
            .modifiers
            .contains(crossterm::event::KeyModifiers::CONTROL);
    if ctrl_u {
        // C-u clears the entry, as in a shell.
        input = line_input("");
    } else if let (TextPurpose::Command, Some(Action::Up | Action::Down)) = (&purpose, action) {
        let now = text_of(&input);
        let recalled = match action {
            Some(Action::Up) => ctx.history.older(&now).unwrap_or(&now).to_string(),
            _ => ctx.history.newer(&now).unwrap_or_default().to_string(),
        };
        input = line_input(&recalled);
    } else if let Some(reason) = offered_reason(&purpose, &input, event, ctx) {
        // A number on an empty entry picks the agent's offered reason;
        // it can still be edited before enter.
        input = line_input(&reason);
    } else if purpose == TextPurpose::Command && event.code == KeyCode::Tab {
        if let Some(done) = command::complete(ctx, &text_of(&input)) {
            input = line_input(&done);
        }
    } else if event.code != KeyCode::Enter {
        input.input(event);
    }
    let mut done = Vec::new();
    if purpose == TextPurpose::Filter {
        done.push(Do::Filter(text_of(&input)));
    }
    if purpose == TextPurpose::Command {
        hint = command::candidates(ctx, &text_of(&input));
    }
    done.push(Do::Open(Dialog::Text {
        title,
        hint,
        input,
        purpose,
        error,
    }));
    done
}

/// A new incident from what was typed: `agent: title` names the agent
/// when the part before the colon is one the hub knows (a title may have
/// a colon of its own); otherwise the whole text is the title, about
/// `agent` if one was selected.
fn new_incident(
    ctx: &Ctx,
    severity: Severity,
    agent: Option<&str>,
    text: &str,
) -> Result<OpenIncidentRequest, String> {
    let named = text
        .split_once(':')
        .map(|(head, title)| (head.trim(), title.trim()))
        .filter(|(head, _)| ctx.data.agents.contains_key(*head));
    let (agent, title) = match named {
        Some((head, title)) => (Some(head), title),
        None => (agent, text),
    };
    let request = OpenIncidentRequest {
        title: title.to_string(),
        severity,
        category: Category::Other,
        agent: agent.map(str::to_string),
        detail: None,
    };
    request.validate().map_err(|e| e.to_string())?;
    Ok(request)
}

/// The reason numbered `n` that the agent offers for rejecting, when `n`
/// is typed on the empty entry of a rejection.
fn offered_reason(
    purpose: &TextPurpose,
    input: &ratatui_textarea::TextArea<'static>,
    event: KeyEvent,
    ctx: &Ctx,
) -> Option<String> {
    let offered = match purpose {
        TextPurpose::Reject(id) => ctx.data.approvals.get(id)?.reject_options.clone(),
        TextPurpose::RejectAll(ids) => common_reject_options(ctx.data, ids),
        _ => return None,
    };
    let KeyCode::Char(c) = event.code else {
        return None;
    };
    let n = c.to_digit(10)? as usize;
    if n == 0 || !text_of(input).is_empty() {
        return None;
    }
    offered.get(n - 1).cloned()
}

/// What the entered text does, or why it cannot be taken.
fn submit(purpose: &TextPurpose, text: &str, ctx: &Ctx) -> Result<Vec<Do>, String> {
    let required = |why: &str| {
        if text.is_empty() {
            Err(why.to_string())
        } else {
            Ok(text.to_string())
        }
    };
    let op = match purpose {
        TextPurpose::Reject(id) => {
            Op::Reject(id.clone(), required("a reason is required to reject")?)
        }
        TextPurpose::RejectAll(ids) => {
            let why = required("a reason is required to reject")?;
            let ops = ids.iter().map(|id| Op::Reject(id.clone(), why.clone()));
            return Ok(vec![Do::SendAll(ops.collect())]);
        }
        TextPurpose::Note(id) => Op::Note(id.clone(), required("the note is empty")?),
        TextPurpose::NewIncident(severity, agent) => Op::OpenIncident(new_incident(
            ctx,
            *severity,
            agent.as_deref(),
            &required("a title is required")?,
        )?),
        TextPurpose::Assign(id) => Op::Assign(id.clone(), required("a name is required")?),
        TextPurpose::HandoffNote => Op::HandoffNote(required("the note is empty")?),
        TextPurpose::Resolve(id, suppress) => Op::Resolve(
            id.clone(),
            required("a summary is required to resolve")?,
            *suppress,
        ),
        TextPurpose::EmergencyStop => {
            if text != STOP_PHRASE {
                return Err(format!("type {STOP_PHRASE} exactly to pause the fleet"));
            }
            let me = ctx.operator.map_or("operator", |o| o.name.as_str());
            Op::Control(ControlRequest {
                agent: "*".into(),
                kind: ControlKind::PauseAgent,
                tool: None,
                version: None,
                reason: format!("emergency stop from agentdeck by {me}"),
                ttl_s: None,
                incident: None,
            })
        }
        TextPurpose::Filter => return Ok(vec![Do::Filter(text.to_string())]),
        TextPurpose::Command => {
            let mut done = command::run(ctx, text)?;
            if !text.trim().is_empty() {
                done.insert(0, Do::Remember(text.to_string()));
            }
            return Ok(done);
        }
    };
    Ok(vec![Do::Send(op)])
}

/// The hint lines, the entry, the last error and the keys.
pub fn draw(dialog: &Dialog, theme: &Theme, frame: &mut Frame, area: Rect) {
    let Dialog::Text {
        title,
        hint,
        input,
        error,
        ..
    } = dialog
    else {
        return;
    };
    let r = centered(area, 76, hint.len() as u16 + 6);
    frame.render_widget(Clear, r);
    let block = theme.block(format!(" {} ", clean(title)), true);
    let inner = block.inner(r);
    frame.render_widget(block, r);
    let mut y = inner.y;
    for h in hint {
        frame.render_widget(
            Paragraph::new(fit(h, inner.width as usize)).style(theme.muted()),
            line_at(inner, y),
        );
        y += 1;
    }
    frame.render_widget(&**input, line_at(inner, y));
    y += 1;
    error_and_keys(
        frame,
        theme,
        inner,
        y,
        error.as_deref(),
        "enter submit · esc cancel",
    );
}
