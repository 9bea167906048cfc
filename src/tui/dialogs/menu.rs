//! Menus: escalation severities and containment, with the tool or version
//! to contain chosen next when the kind needs one.

use crossterm::event::{KeyCode, KeyEvent};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph};

use crate::model::action::ControlRequest;
use crate::model::control::ControlKind;
use crate::model::envelope::Component;

use super::super::action::Action;
use super::super::ctx::{Ctx, Do};
use super::super::data::FeedData;
use super::super::sanitize::{clean, fit};
use super::super::theme::Theme;
use super::{Dialog, MenuItem, Op, TextPurpose, centered, contain};

/// Moves the highlight (arrows, j and k, or the choice's number), chooses
/// with confirm unless the choice says why not, closes with cancel.
pub fn key(dialog: Dialog, event: KeyEvent, action: Option<Action>, ctx: &Ctx) -> Vec<Do> {
    let Dialog::Menu {
        title,
        items,
        mut selected,
        agent,
        incident,
    } = dialog
    else {
        return vec![Do::Open(dialog)];
    };
    let last = items.len().saturating_sub(1);
    let confirm = match action {
        Some(Action::Cancel) => return Vec::new(),
        Some(Action::Up) => {
            selected = selected.saturating_sub(1);
            false
        }
        Some(Action::Down) => {
            selected = (selected + 1).min(last);
            false
        }
        Some(Action::Confirm) => true,
        _ => match event.code {
            KeyCode::Char('j') => {
                selected = (selected + 1).min(last);
                false
            }
            KeyCode::Char('k') => {
                selected = selected.saturating_sub(1);
                false
            }
            // A number picks its item at once: no enter after it.
            KeyCode::Char(c) if c.is_ascii_digit() => {
                let n = c.to_digit(10).unwrap_or(0) as usize;
                if n >= 1 && n <= items.len() {
                    selected = n - 1;
                    true
                } else {
                    false
                }
            }
            _ => false,
        },
    };
    if confirm {
        let Some((item, _, why)) = items.get(selected).cloned() else {
            return Vec::new();
        };
        if let Some(why) = why {
            let menu = Dialog::Menu {
                title,
                items,
                selected,
                agent,
                incident,
            };
            return vec![Do::error(why), Do::Open(menu)];
        }
        return choose(item, agent, incident, ctx);
    }
    vec![Do::Open(Dialog::Menu {
        title,
        items,
        selected,
        agent,
        incident,
    })]
}

/// What a choice leads to: the escalation sent, the next menu, or the
/// containment form.
fn choose(item: MenuItem, agent: String, incident: Option<String>, ctx: &Ctx) -> Vec<Do> {
    let base = |kind: ControlKind| ControlRequest {
        agent: agent.clone(),
        kind,
        tool: None,
        version: None,
        reason: String::new(),
        ttl_s: None,
        incident: incident.clone(),
    };
    let form = |request: ControlRequest| vec![Do::Open(contain::form(request, ctx.data))];
    match item {
        MenuItem::Resolve(suppress) => match incident {
            Some(id) => vec![Do::Open(crate::tui::panes::incidents::resolve_entry(
                &id, suppress,
            ))],
            None => Vec::new(),
        },
        MenuItem::Assign(name) => match (incident, name) {
            (Some(id), Some(name)) => vec![Do::Send(Op::Assign(id, name))],
            (Some(id), None) => vec![Do::Open(super::text::entry(
                format!("Assign {id} to"),
                vec!["The operator's name, as their token names them.".into()],
                TextPurpose::Assign(id),
            ))],
            (None, _) => Vec::new(),
        },
        MenuItem::NewIncident(severity) => {
            let about = match agent.is_empty() {
                true => "no agent is selected".to_string(),
                false => format!("it is about {agent} unless you name another"),
            };
            vec![Do::Open(super::text::entry(
                format!("New {} incident", severity.as_str()),
                vec![
                    "A one-line title. Start with an agent's id and a colon to name the agent,"
                        .into(),
                    format!("e.g. `refund-bot: refunds posted twice`; {about}."),
                ],
                TextPurpose::NewIncident(severity, (!agent.is_empty()).then_some(agent)),
            ))]
        }
        MenuItem::Snooze(secs) => match incident {
            Some(id) => vec![Do::Send(Op::Snooze(id, secs))],
            None => Vec::new(),
        },
        MenuItem::Severity(s) => match incident {
            Some(id) => vec![Do::Send(Op::Escalate(id, s))],
            None => Vec::new(),
        },
        MenuItem::Contain(ControlKind::DisableTool) => {
            let tools = ctx
                .data
                .agents
                .get(&agent)
                .map(|a| a.tools.clone())
                .unwrap_or_default();
            vec![Do::Open(Dialog::Menu {
                title: format!("Disable which tool of {agent}?"),
                items: tools
                    .into_iter()
                    .map(|t| (MenuItem::Tool(t.clone()), t, None))
                    .collect(),
                selected: 0,
                agent,
                incident,
            })]
        }
        MenuItem::Contain(ControlKind::PinVersion) => {
            let versions = versions_of(ctx.data, &agent);
            vec![Do::Open(Dialog::Menu {
                title: format!("Pin {agent} to which version?"),
                items: versions
                    .into_iter()
                    .map(|v| (MenuItem::Version(v.clone()), v, None))
                    .collect(),
                selected: 0,
                agent,
                incident,
            })]
        }
        MenuItem::Contain(kind) => form(base(kind)),
        MenuItem::Tool(t) => {
            let mut r = base(ControlKind::DisableTool);
            r.tool = Some(t);
            form(r)
        }
        MenuItem::Version(v) => {
            let mut r = base(ControlKind::PinVersion);
            r.version = Some(v);
            form(r)
        }
    }
}

/// The containment menu for `agent`, from the incident `incident` if any;
/// kinds that need a tool or a version say so when the agent has none.
pub fn containment(data: &FeedData, agent: String, incident: Option<String>) -> Dialog {
    let has_tools = data.agents.get(&agent).is_some_and(|a| !a.tools.is_empty());
    let has_versions = !versions_of(data, &agent).is_empty();
    let item = |kind: ControlKind, label: &str, why: Option<&str>| {
        (
            MenuItem::Contain(kind),
            label.to_string(),
            why.map(String::from),
        )
    };
    let items = vec![
        item(
            ControlKind::DisableTool,
            "disable a tool…",
            (!has_tools).then_some("no tools seen for this agent"),
        ),
        item(ControlKind::ForceFallback, "force fallback", None),
        item(ControlKind::RouteToHumans, "route to humans", None),
        item(
            ControlKind::RequireApproval,
            "require approval for every action",
            None,
        ),
        item(
            ControlKind::PinVersion,
            "pin a known-good version…",
            (!has_versions).then_some("no versions seen for this agent"),
        ),
        item(ControlKind::PauseAgent, "pause agent", None),
    ];
    Dialog::Menu {
        title: format!("Contain {agent}"),
        items,
        selected: 0,
        agent,
        incident,
    }
}

/// Versions an agent has run, as `component:version`: the current ones
/// and every one seen in its version markers.
pub fn versions_of(data: &FeedData, agent: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut push = |c: Component, v: &str| {
        let s = format!("{}:{v}", c.as_str());
        if !out.contains(&s) {
            out.push(s);
        }
    };
    if let Some(a) = data.agents.get(agent) {
        for c in Component::ALL {
            if let Some(v) = a.versions.get(c) {
                push(c, v);
            }
        }
    }
    for s in data.slos.values().filter(|s| s.agent == agent) {
        for m in &s.markers {
            if let Some(from) = &m.from {
                push(m.component, from);
            }
            push(m.component, &m.to);
        }
    }
    out
}

/// The choices, numbered, unavailable ones muted with why.
pub fn draw(dialog: &Dialog, theme: &Theme, frame: &mut Frame, area: Rect) {
    let Dialog::Menu {
        title,
        items,
        selected,
        ..
    } = dialog
    else {
        return;
    };
    let mut text = Vec::new();
    for (n, (_, label, why)) in items.iter().enumerate() {
        let style = if n == *selected {
            theme.selection()
        } else if why.is_some() {
            theme.muted()
        } else {
            theme.text()
        };
        let suffix = why.as_ref().map(|w| format!(" — {w}")).unwrap_or_default();
        text.push(Line::from(Span::styled(
            format!(" {} {}{suffix} ", n + 1, fit(label, 50)),
            style,
        )));
    }
    text.push(Line::from(""));
    text.push(Line::from(Span::styled(
        " ↑/↓ or number, enter choose, esc cancel",
        theme.muted(),
    )));
    let r = centered(area, 70, text.len() as u16 + 2);
    frame.render_widget(Clear, r);
    frame.render_widget(
        Paragraph::new(text).block(theme.block(format!(" {} ", clean(title)), true)),
        r,
    );
}
