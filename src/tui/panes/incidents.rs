//! The Incidents screen: the queue by severity, then age, beside the
//! selected incident's detail and timeline; acknowledging, taking,
//! escalating, noting and resolving incidents.

use std::collections::BTreeSet;

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph};

use crate::model::incident::{Incident, IncidentState, Severity, TimelineEntry};

use super::super::action::Action;
use super::super::ctx::{Ctx, Do, ListState};
use super::super::dialogs::text::entry;
use super::super::dialogs::{Dialog, MenuItem, Op, TextPurpose};
use super::super::sanitize::{clean, fit, width, wrap};
use super::super::screen::{Screen, age, short_duration};
use super::super::scroll::{Scroll, WHOLE};
use super::super::table::{Columns, list_and_detail, severity_style, table};
use super::super::theme::Theme;
use super::{Pane, list_title, marked_rows, navigate, toggle_mark};

/// The Incidents screen's state: its list and whether the detail is open
/// on its own.
#[derive(Debug, Default)]
pub struct Incidents {
    /// Selection, filter and detail.
    pub list: ListState,
}

impl Pane for Incidents {
    list_pane!(Screen::Incidents);

    fn owns(&self) -> &'static [Action] {
        &[
            Action::Acknowledge,
            Action::Take,
            Action::Assign,
            Action::Escalate,
            Action::Note,
            Action::Resolve,
            Action::Snooze,
            Action::NewIncident,
        ]
    }

    fn handle(&mut self, action: Action, ctx: &Ctx) -> Vec<Do> {
        if navigate(Screen::Incidents, &mut self.list, action, ctx) {
            return Vec::new();
        }
        let marked = marked_rows(Screen::Incidents, &self.list, ctx);
        match action {
            Action::Mark => {
                toggle_mark(Screen::Incidents, &mut self.list, ctx);
                return Vec::new();
            }
            Action::Acknowledge if !marked.is_empty() => {
                self.list.marked.clear();
                return vec![Do::Open(acknowledge_all(marked))];
            }
            Action::NewIncident => return new_incident(self.selected_agent(ctx)),
            _ => {}
        }
        let Some(i) = self
            .selected(ctx)
            .and_then(|id| ctx.data.incidents.get(&id).cloned())
        else {
            return vec![Do::error("no incident selected")];
        };
        match action {
            Action::Acknowledge => vec![Do::Send(Op::Ack(i.id))],
            Action::Take => vec![Do::Send(Op::Assign(i.id, ctx.me().to_string()))],
            Action::Escalate => escalate(&i),
            Action::Note => vec![Do::Open(entry(
                format!("Note on {}", i.id),
                vec![fit(&i.title, 70)],
                TextPurpose::Note(i.id),
            ))],
            Action::Resolve => resolve(&i, ctx),
            Action::Snooze => snooze(&i, ctx),
            Action::Assign => assign(&i, ctx),
            _ => Vec::new(),
        }
    }

    fn hints(&self) -> &'static [Action] {
        &[
            Action::Acknowledge,
            Action::Take,
            Action::Escalate,
            Action::Note,
            Action::Resolve,
            Action::Contain,
            Action::Inspect,
            // Less urgent than containing: the first to drop at 80 columns.
            Action::Snooze,
        ]
    }

    /// The id and the whole title (the list cuts it), ready to paste.
    fn copied(&self, ctx: &Ctx) -> Option<String> {
        let id = self.selected(ctx)?;
        let i = ctx.data.incidents.get(&id)?;
        Some(format!("{id} {}", clean(&i.title)))
    }

    fn selected_agent(&self, ctx: &Ctx) -> Option<(String, Option<String>)> {
        let id = self.selected(ctx)?;
        let i = ctx.data.incidents.get(&id)?;
        i.agent.clone().map(|a| (a, Some(id)))
    }

    fn viewing(&self, ctx: &Ctx) -> Option<String> {
        self.selected(ctx)
    }

    fn draw(&self, ctx: &Ctx, theme: &Theme, frame: &mut Frame, area: Rect) {
        let (list_area, detail_area) = list_and_detail(area, self.list.detail);
        let (ids, selected) = self.selection(ctx);
        if let Some(list_area) = list_area {
            table(
                frame,
                list_area,
                theme,
                list_title(
                    "Incidents",
                    "most severe, then oldest first",
                    &self.list,
                    marked_rows(Screen::Incidents, &self.list, ctx).len(),
                ),
                true,
                &columns(ctx, theme, &self.list.marked),
                2,
                &ids,
                selected,
                |id| ctx.data.incidents.get(id),
            );
        }
        let detail = selected
            .and_then(|at| ids.get(at))
            .and_then(|id| ctx.data.incidents.get(id));
        let scroll = self.list.detail.then_some(&self.list.scroll);
        detail_pane(ctx, theme, frame, detail_area, detail, scroll);
    }
}

/// The menu of severities above the incident's, or why there is none.
/// Resolving: the summary entry, or first, when the incident's SLO still
/// burns (it would reopen at the next tick), the choice of keeping the
/// burn from opening a new incident for a while.
fn resolve(i: &Incident, ctx: &Ctx) -> Vec<Do> {
    let burning = i
        .slo
        .as_deref()
        .and_then(|s| ctx.data.slos.get(s))
        .filter(|s| s.alert != crate::model::slo::AlertLevel::None);
    match burning {
        Some(s) => vec![Do::Open(Dialog::Menu {
            title: format!(
                "Resolve {}? Its SLO still burns ({})",
                i.id,
                s.alert.as_str().to_uppercase()
            ),
            items: vec![
                (
                    MenuItem::Resolve(Some(3_600)),
                    "resolve; no new incident for 1h".into(),
                    None,
                ),
                (
                    MenuItem::Resolve(Some(4 * 3_600)),
                    "resolve; no new incident for 4h".into(),
                    None,
                ),
                (
                    MenuItem::Resolve(None),
                    "resolve anyway (it reopens at once)".into(),
                    None,
                ),
            ],
            selected: 0,
            agent: i.agent.clone().unwrap_or_default(),
            incident: Some(i.id.clone()),
        })],
        None => vec![Do::Open(resolve_entry(&i.id, None))],
    }
}

/// One confirmation for every marked incident.
fn acknowledge_all(ids: Vec<String>) -> Dialog {
    Dialog::Confirm {
        title: format!("Acknowledge {} incidents?", ids.len()),
        lines: vec![
            fit(&ids.join(", "), 70),
            "Each is acknowledged on its own; the results are listed after.".into(),
        ],
        ops: ids.into_iter().map(Op::Ack).collect(),
    }
}

/// How severe a hand-opened incident is, first; its title is typed next.
/// It is about the selected incident's agent unless another is named.
fn new_incident(selected: Option<(String, Option<String>)>) -> Vec<Do> {
    let items = [
        Severity::Sev1,
        Severity::Sev2,
        Severity::Sev3,
        Severity::Sev4,
    ]
    .into_iter()
    .map(|s| (MenuItem::NewIncident(s), s.as_str().to_string(), None))
    .collect();
    vec![Do::Open(Dialog::Menu {
        title: "New incident: how severe?".into(),
        items,
        selected: 1,
        agent: selected.map(|(agent, _)| agent).unwrap_or_default(),
        incident: None,
    })]
}

/// Whom to give it to: the operators connected now first, then those the
/// board has seen (owners, deciders), then a name typed.
fn assign(i: &Incident, ctx: &Ctx) -> Vec<Do> {
    let me = ctx.me();
    let mut names: Vec<(String, bool)> = Vec::new();
    let mut add = |name: &str, present: bool| {
        if !name.is_empty() && name != me && !names.iter().any(|(n, _)| n == name) {
            names.push((name.to_string(), present));
        }
    };
    for p in &ctx.data.presence {
        add(&p.operator, true);
    }
    let mut seen: Vec<&str> = ctx
        .data
        .incidents
        .values()
        .filter_map(|i| i.owner.as_deref())
        .chain(
            ctx.data
                .approvals
                .values()
                .flat_map(|a| a.decisions.iter().map(|d| d.by.as_str())),
        )
        .collect();
    seen.sort_unstable();
    for name in seen {
        add(name, false);
    }
    let mut items: Vec<(MenuItem, String, Option<String>)> = names
        .into_iter()
        .take(8)
        .map(|(name, present)| {
            let label = if present {
                format!("{name} (here now)")
            } else {
                name.clone()
            };
            (MenuItem::Assign(Some(name)), label, None)
        })
        .collect();
    items.push((
        MenuItem::Assign(None),
        "someone else (type a name)".into(),
        None,
    ));
    vec![Do::Open(Dialog::Menu {
        title: format!("Assign {} to", i.id),
        items,
        selected: 0,
        agent: i.agent.clone().unwrap_or_default(),
        incident: Some(i.id.clone()),
    })]
}

/// How long to page nobody about it; ending the snooze when it is snoozed.
fn snooze(i: &Incident, ctx: &Ctx) -> Vec<Do> {
    let mut items: Vec<(MenuItem, String, Option<String>)> =
        [(1_800, "30m"), (3_600, "1h"), (4 * 3_600, "4h")]
            .into_iter()
            .map(|(s, label)| (MenuItem::Snooze(s), format!("snooze for {label}"), None))
            .collect();
    if i.snoozed(ctx.now) {
        items.push((MenuItem::Snooze(0), "end the snooze".into(), None));
    }
    vec![Do::Open(Dialog::Menu {
        title: format!("Snooze {}: no escalation, no reminder", i.id),
        items,
        selected: 0,
        agent: i.agent.clone().unwrap_or_default(),
        incident: Some(i.id.clone()),
    })]
}

/// The summary entry for resolving `id`, saying what is suppressed.
pub fn resolve_entry(id: &str, suppress: Option<u64>) -> Dialog {
    let mut hint = vec!["What happened and what fixed it? A summary is required.".to_string()];
    if let Some(s) = suppress {
        hint.push(format!(
            "Its SLO opens no new incident for {} (in the audit log).",
            crate::tui::dialogs::op::span(s)
        ));
    }
    entry(
        format!("Resolve {id}"),
        hint,
        TextPurpose::Resolve(id.to_string(), suppress),
    )
}

fn escalate(i: &Incident) -> Vec<Do> {
    let higher: Vec<(MenuItem, String, Option<String>)> =
        [Severity::Sev1, Severity::Sev2, Severity::Sev3]
            .into_iter()
            .filter(|s| *s < i.severity)
            .map(|s| (MenuItem::Severity(s), s.as_str().to_string(), None))
            .collect();
    if higher.is_empty() {
        return vec![Do::error(format!("{} is already SEV1", i.id))];
    }
    vec![Do::Open(Dialog::Menu {
        title: format!("Escalate {} (now {})", i.id, i.severity.as_str()),
        items: higher,
        selected: 0,
        agent: i.agent.clone().unwrap_or_default(),
        incident: Some(i.id.clone()),
    })]
}

/// The incident list's columns.
fn columns<'a>(
    ctx: &'a Ctx,
    theme: &'a Theme,
    marked: &'a BTreeSet<String>,
) -> Columns<'a, Incident> {
    let me = ctx.me();
    Columns::<Incident>::new()
        .urgent(|i| i.severity == Severity::Sev1)
        .marks(marked, |i| i.id.as_str(), theme.accent())
        .add("SEV", 4, 0, move |i| {
            Cell::from(i.severity.as_str()).style(severity_style(theme, i.severity))
        })
        .add("id", 7, 1, move |i| {
            Cell::from(i.id.clone()).style(theme.accent())
        })
        .fit(|i| width(&i.id))
        .add("title", 28, 2, move |i| Cell::from(fit(&i.title, 60)))
        .add("agent", 16, 4, move |i| {
            Cell::from(fit(i.agent.as_deref().unwrap_or("—"), 16))
        })
        .add("state", 12, 3, move |i| {
            Cell::from(i.state.as_str()).style(match i.state {
                IncidentState::Triggered => theme.critical(),
                IncidentState::Acknowledged => theme.warning(),
                _ => theme.ok(),
            })
        })
        .add("owner", 10, 5, move |i| {
            Cell::from(fit(i.owner.as_deref().unwrap_or("—"), 10))
        })
        .add("age", 6, 6, move |i| {
            Cell::from(short_duration(age(ctx.now, i.opened_at)))
        })
        .add("updated", 7, 7, move |i| {
            Cell::from(short_duration(age(ctx.now, i.updated_at)))
        })
        .add("viewing", 10, 8, move |i| {
            Cell::from(fit(&ctx.data.viewers(&i.id, me).join(","), 10)).style(theme.accent())
        })
}

/// The selected incident: its fields, then its timeline, newest last.
/// Opened (`scroll` given), all of it wrapped and scrolled; beside the
/// list, as much of the timeline's end as fits, lines cut.
fn detail_pane(
    ctx: &Ctx,
    theme: &Theme,
    frame: &mut Frame,
    area: Rect,
    i: Option<&Incident>,
    scroll: Option<&Scroll>,
) {
    let Some(i) = i else {
        frame.render_widget(
            Paragraph::new("No open incident.")
                .style(theme.muted())
                .block(theme.block(" Detail ", false)),
            area,
        );
        return;
    };
    let block = theme.block(format!(" {} ", i.id), false);
    if let Some(scroll) = scroll {
        let mut lines = summary(ctx, theme, i, WHOLE);
        lines.extend(i.timeline.iter().map(|e| timeline_line(theme, e, WHOLE)));
        scroll.draw(frame, area, block, &lines, theme);
        return;
    }
    let w = area.width.saturating_sub(4) as usize;
    let mut lines = summary(ctx, theme, i, w);
    let room = (area.height as usize).saturating_sub(lines.len() + 2);
    let skip = i.timeline.len().saturating_sub(room);
    lines.extend(
        i.timeline
            .iter()
            .skip(skip)
            .map(|e| timeline_line(theme, e, w)),
    );
    frame.render_widget(Paragraph::new(lines).block(block), area);
}

/// One timeline entry, its text cut to fit `w` columns.
fn timeline_line(theme: &Theme, e: &TimelineEntry, w: usize) -> Line<'static> {
    Line::from(vec![
        Span::styled(format!("{} ", e.at.format("%H:%M:%S")), theme.muted()),
        Span::styled(format!("{} ", fit(&e.actor, 14)), theme.accent()),
        Span::raw(fit(&e.text, w.saturating_sub(24))),
    ])
}

/// Who was paged and whether it reached them: the latest notification per
/// receiver, `paged payments-pd 03:12, delivered` or `failing: HTTP 503
/// since 03:12`.
fn pages(theme: &Theme, i: &Incident, w: usize) -> Vec<Line<'static>> {
    use crate::model::incident::PageState;
    let mut latest: Vec<&crate::model::incident::Page> = Vec::new();
    for p in &i.pages {
        match latest.iter_mut().find(|l| l.receiver == p.receiver) {
            Some(l) => *l = p,
            None => latest.push(p),
        }
    }
    let mut lines = Vec::new();
    for p in latest {
        let (text, style) = match p.state {
            PageState::Queued => ("queued".to_string(), theme.muted()),
            PageState::Delivered => (format!("delivered {}", p.at.format("%H:%M")), theme.ok()),
            PageState::Failing => (
                format!(
                    "failing: {} since {}",
                    p.error.as_deref().unwrap_or("no answer"),
                    p.at.format("%H:%M")
                ),
                theme.critical(),
            ),
            PageState::Failed => (
                format!("gave up: {}", p.error.as_deref().unwrap_or("no answer")),
                theme.critical(),
            ),
        };
        let head = format!("{} {}, ", fit(&p.receiver, 24), p.queued_at.format("%H:%M"));
        let indent = "paged ".len() + head.chars().count();
        // The reason a page fails matters most: wrapped, never cut.
        let text = wrap(&text, w.saturating_sub(indent).max(16), 3);
        for (n, part) in text.into_iter().enumerate() {
            let lead = if n == 0 {
                vec![
                    Span::styled("paged ", theme.muted()),
                    Span::styled(head.clone(), theme.accent()),
                ]
            } else {
                vec![Span::raw(" ".repeat(indent))]
            };
            let mut spans = lead;
            spans.push(Span::styled(part, style));
            lines.push(Line::from(spans));
        }
    }
    lines
}

/// The incident's fields, links and viewers, down to the timeline heading.
fn summary(ctx: &Ctx, theme: &Theme, i: &Incident, w: usize) -> Vec<Line<'static>> {
    // The whole title (the list cuts it), over up to four lines.
    let title = wrap(&i.title, w.saturating_sub(5), 4);
    let mut lines = vec![Line::from(vec![
        Span::styled(
            format!("{} ", i.severity.as_str()),
            severity_style(theme, i.severity),
        ),
        Span::styled(title[0].clone(), theme.title()),
    ])];
    lines.extend(
        title[1..]
            .iter()
            .map(|l| Line::from(Span::styled(format!("     {l}"), theme.title()))),
    );
    lines.extend([
        Line::from(vec![
            Span::styled("state ", theme.muted()),
            Span::raw(format!("{}  ", i.state.as_str())),
            Span::styled("owner ", theme.muted()),
            Span::raw(format!(
                "{}  ",
                fit(i.owner.as_deref().unwrap_or("nobody"), 16)
            )),
            Span::styled("agent ", theme.muted()),
            Span::raw(fit(i.agent.as_deref().unwrap_or("—"), 20)),
        ]),
        Line::from(vec![
            Span::styled("category ", theme.muted()),
            Span::raw(format!("{}  ", i.category.as_str())),
            Span::styled("runbook ", theme.muted()),
            Span::styled(
                i.runbook.clone().unwrap_or_else(|| "—".into()),
                theme.accent(),
            ),
        ]),
    ]);
    if let Some(slo) = &i.slo {
        lines.push(Line::from(vec![
            Span::styled("SLO ", theme.muted()),
            Span::raw(fit(slo, w)),
        ]));
    }
    if !i.controls.is_empty() {
        let linked: Vec<String> = i
            .controls
            .iter()
            .map(|c| match ctx.data.controls.get(c) {
                Some(ctl) => format!("{c} {} (in force)", ctl.kind.as_str()),
                None => format!("{c} (lifted)"),
            })
            .collect();
        lines.push(Line::from(vec![
            Span::styled("controls ", theme.muted()),
            Span::raw(fit(&linked.join(", "), w)),
        ]));
    }
    if let Some(until) = i.snoozed_until.filter(|t| *t > ctx.now) {
        lines.push(Line::from(Span::styled(
            format!(
                "snoozed until {} ({} left): no escalation, no reminder",
                until.format("%H:%M"),
                crate::tui::screen::short_duration((until - ctx.now).num_seconds())
            ),
            theme.warning(),
        )));
    }
    lines.extend(pages(theme, i, w));
    let viewers = ctx.data.viewers(&i.id, ctx.me());
    if !viewers.is_empty() {
        lines.push(Line::from(Span::styled(
            format!("also looking: {}", viewers.join(", ")),
            theme.warning(),
        )));
    }
    lines.push(Line::from(Span::styled("timeline", theme.muted())));
    lines
}
