//! The containment form: what a control affects, a reason and a time to
//! live, confirmed before it is applied.
//!
//! The fields are focused in the order they are shown (reason, then TTL).
//! The TTL starts at [`DEFAULT_TTL`]: a control that stays until someone
//! lifts it is one an operator chose by typing `until lifted`, never what
//! an enter pressed too early gives. The last line says what enter will do,
//! scope, action and TTL, as it will be applied.

use crossterm::event::{KeyCode, KeyEvent};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::widgets::{Clear, Paragraph};

use crate::model::action::ControlRequest;

use super::super::action::Action;
use super::super::ctx::{Ctx, Do};
use super::super::data::FeedData;
use super::super::sanitize::fit;
use super::super::theme::Theme;
use super::{Dialog, FormField, Op, centered, error_and_keys, line_at, line_input, text_of};

/// The TTL a new control starts with.
pub const DEFAULT_TTL: &str = "1h";
/// What to type for a control that stays until lifted.
pub const UNTIL_LIFTED: &str = "until lifted";

/// The form for `request`, saying what it affects.
pub fn form(request: ControlRequest, data: &FeedData) -> Dialog {
    let target = request
        .tool
        .as_deref()
        .map(|t| format!(" tool {t}"))
        .or_else(|| request.version.as_deref().map(|v| format!(" to {v}")))
        .unwrap_or_default();
    let runs = data
        .agents
        .get(&request.agent)
        .map(|a| a.runs_last_minute)
        .unwrap_or(0);
    let mut lines = vec![
        format!("{}{target} on {}", request.kind.as_str(), request.agent),
        format!("affects about {runs} runs/min"),
    ];
    if let Some(i) = &request.incident {
        lines.push(format!("linked to {i}"));
    }
    Dialog::ContainForm {
        request,
        lines,
        ttl: line_input(DEFAULT_TTL),
        reason: line_input(""),
        field: FormField::Reason,
        error: None,
    }
}

/// The TTL typed, in seconds: none for `until lifted`.
fn parse_ttl(text: &str) -> Result<Option<u64>, String> {
    let text = text.trim();
    if text.eq_ignore_ascii_case(UNTIL_LIFTED) {
        return Ok(None);
    }
    if text.is_empty() {
        return Err(format!(
            "give one, e.g. {DEFAULT_TTL}, or type {UNTIL_LIFTED}"
        ));
    }
    crate::config::parse_duration(text).and_then(|d| {
        let secs = d.as_secs();
        if secs == 0 {
            Err(format!("must be at least 1s (or type {UNTIL_LIFTED})"))
        } else if secs > crate::model::action::MAX_CONTROL_TTL_S {
            Err("at most 30 days".to_string())
        } else {
            Ok(Some(secs))
        }
    })
}

/// Confirm applies the control (a bad TTL keeps the form open on that
/// field); tab and the arrows switch fields; other keys type.
pub fn key(dialog: Dialog, event: KeyEvent, action: Option<Action>, ctx: &Ctx) -> Vec<Do> {
    let Dialog::ContainForm {
        mut request,
        lines,
        mut ttl,
        mut reason,
        mut field,
        error,
    } = dialog
    else {
        return vec![Do::Open(dialog)];
    };
    match action {
        Some(Action::Cancel) => return Vec::new(),
        Some(Action::Confirm) => match parse_ttl(&text_of(&ttl)) {
            Ok(ttl_s) => {
                request.ttl_s = ttl_s;
                let why = text_of(&reason);
                request.reason = if why.is_empty() {
                    let me = ctx.operator.map_or("operator", |o| o.name.as_str());
                    format!("contained from agentdeck by {me}")
                } else {
                    why
                };
                return vec![Do::Send(Op::Control(request))];
            }
            Err(e) => {
                return vec![Do::Open(Dialog::ContainForm {
                    request,
                    lines,
                    ttl,
                    reason,
                    field: FormField::Ttl,
                    error: Some(format!("TTL: {e}")),
                })];
            }
        },
        _ => {}
    }
    if matches!(
        event.code,
        KeyCode::Tab | KeyCode::BackTab | KeyCode::Up | KeyCode::Down
    ) {
        field = if field == FormField::Ttl {
            FormField::Reason
        } else {
            FormField::Ttl
        };
    } else if field == FormField::Ttl {
        // Typing over the untouched default replaces it.
        if matches!(event.code, KeyCode::Char(_)) && text_of(&ttl) == DEFAULT_TTL {
            ttl = line_input("");
        }
        ttl.input(event);
    } else {
        reason.input(event);
    }
    vec![Do::Open(Dialog::ContainForm {
        request,
        lines,
        ttl,
        reason,
        field,
        error,
    })]
}

/// What it affects, the two fields (the focused one highlighted), the last
/// error and the keys.
pub fn draw(dialog: &Dialog, theme: &Theme, frame: &mut Frame, area: Rect) {
    let Dialog::ContainForm {
        lines,
        ttl,
        reason,
        field,
        error,
        ..
    } = dialog
    else {
        return;
    };
    let r = centered(area, 76, lines.len() as u16 + 9);
    frame.render_widget(Clear, r);
    let block = theme.block(" Apply containment? ", true);
    let inner = block.inner(r);
    frame.render_widget(block, r);
    let mut y = inner.y;
    for l in lines {
        frame.render_widget(
            Paragraph::new(fit(l, inner.width as usize)),
            line_at(inner, y),
        );
        y += 1;
    }
    y += 1;
    for (label, t, f) in [
        ("reason: ", reason, FormField::Reason),
        ("TTL (e.g. 30m, or until lifted): ", ttl, FormField::Ttl),
    ] {
        let style = if *field == f {
            theme.accent()
        } else {
            theme.muted()
        };
        let lw = (label.len() as u16).min(inner.width / 2);
        frame.render_widget(
            Paragraph::new(label).style(style),
            Rect {
                y,
                height: 1,
                width: lw,
                ..inner
            },
        );
        frame.render_widget(
            &**t,
            Rect {
                x: inner.x + lw,
                y,
                height: 1,
                width: inner.width.saturating_sub(lw),
            },
        );
        y += 1;
    }
    // What enter will do, as it will be applied.
    let scope = lines.first().map(String::as_str).unwrap_or_default();
    let (applies, style) = match parse_ttl(&text_of(ttl)) {
        Ok(Some(s)) => (
            format!("enter applies: {scope} for {}", ttl_text(s)),
            theme.text(),
        ),
        Ok(None) => (
            format!("enter applies: {scope} until lifted"),
            theme.warning(),
        ),
        Err(e) => (format!("TTL: {e}"), theme.critical()),
    };
    frame.render_widget(
        Paragraph::new(fit(&applies, inner.width as usize)).style(style),
        line_at(inner, y),
    );
    y += 1;
    error_and_keys(
        frame,
        theme,
        inner,
        y,
        error.as_deref(),
        "tab switch field · enter apply · esc cancel",
    );
}

/// A TTL in seconds as an operator would say it.
fn ttl_text(secs: u64) -> String {
    match secs {
        s if s % 86_400 == 0 => format!("{}d", s / 86_400),
        s if s % 3_600 == 0 => format!("{}h", s / 3_600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}
