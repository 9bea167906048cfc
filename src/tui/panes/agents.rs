//! The Agents screen: the inventory with each agent's alerts, owners,
//! open work and findings, filtered by finding with one key.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::widgets::Cell;

use crate::model::agent::Agent;
use crate::model::profile::Criticality;
use crate::model::slo::AlertLevel;

use super::super::action::Action;
use super::super::ctx::{Ctx, Do, ListState};
use super::super::sanitize::fit;
use super::super::screen::{AGENT_FINDING_FILTERS, AgentLoads, Screen, age, short_duration};
use super::super::table::{Columns, alert_cell, table};
use super::super::theme::Theme;
use super::agent::finding_text;
use super::{Pane, list_title, navigate};

/// The Agents screen's state: its list.
#[derive(Debug, Default)]
pub struct Agents {
    /// Selection and filter (`is:<finding>` keeps agents with a finding).
    pub list: ListState,
}

impl Pane for Agents {
    list_pane!(Screen::Agents);

    fn owns(&self) -> &'static [Action] {
        &[Action::AgentFilter]
    }

    /// Besides moving, cycles the filter: all agents, then each finding.
    fn handle(&mut self, action: Action, ctx: &Ctx) -> Vec<Do> {
        if navigate(Screen::Agents, &mut self.list, action, ctx) || action != Action::AgentFilter {
            return Vec::new();
        }
        let filters: Vec<String> = std::iter::once(String::new())
            .chain(
                AGENT_FINDING_FILTERS
                    .iter()
                    .map(|f| format!("is:{}", f.as_str())),
            )
            .collect();
        let l = &mut self.list;
        let at = filters.iter().position(|f| *f == l.filter);
        l.filter = filters[at.map_or(0, |i| (i + 1) % filters.len())].clone();
        let shown = if l.filter.is_empty() {
            "all agents".to_string()
        } else {
            format!("agents with {}", l.filter)
        };
        vec![Do::info(format!("showing {shown}"))]
    }

    fn hints(&self) -> &'static [Action] {
        &[Action::Contain, Action::Inspect, Action::AgentFilter]
    }

    fn selected_agent(&self, ctx: &Ctx) -> Option<(String, Option<String>)> {
        self.selected(ctx).map(|a| (a, None))
    }

    fn draw(&self, ctx: &Ctx, theme: &Theme, frame: &mut Frame, area: Rect) {
        let (ids, selected) = self.selection(ctx);
        // Counted once per change of incidents, approvals or controls, not
        // per row.
        let loads = ctx.rows.agent_loads(ctx.data);
        table(
            frame,
            area,
            theme,
            list_title("Agents", "by id — i detail · f filter", &self.list, 0),
            true,
            &load_columns(columns(ctx, theme), ctx, theme, &loads),
            8,
            &ids,
            selected,
            |id| ctx.data.agents.get(id),
        );
    }
}

/// Columns a count takes.
fn digits(n: usize) -> usize {
    n.checked_ilog10().map_or(1, |d| d as usize + 1)
}

/// A count's style: a warning when there is anything.
fn warn_if(theme: &Theme, n: usize) -> Style {
    if n > 0 { theme.warning() } else { theme.text() }
}

/// The worst alert of an agent's series; only visible rows ask.
fn worst_alert(ctx: &Ctx, id: &str) -> Option<AlertLevel> {
    let mut worst: Option<AlertLevel> = None;
    for s in ctx.data.slos.values().filter(|s| s.agent == id) {
        worst = Some(match (worst, s.alert) {
            (Some(AlertLevel::Page), _) | (_, AlertLevel::Page) => AlertLevel::Page,
            (Some(AlertLevel::Ticket), _) | (_, AlertLevel::Ticket) => AlertLevel::Ticket,
            _ => AlertLevel::None,
        });
    }
    worst
}

/// Whom to call about an agent: its incident owner, else its technical,
/// else its business owner.
fn owner(a: &Agent) -> Option<String> {
    a.profile.as_ref().and_then(|p| {
        p.incident_owner
            .as_ref()
            .or(p.technical_owner.as_ref())
            .or(p.business_owner.as_ref())
            .map(|c| c.name.clone())
    })
}

/// The agent list's first columns: who it is and who owns it.
fn columns<'a>(ctx: &'a Ctx, theme: &'a Theme) -> Columns<'a, Agent> {
    Columns::<Agent>::new()
        .add("agent", 18, 0, move |a| {
            Cell::from(fit(&a.id, 18)).style(theme.accent())
        })
        .add("SLO", 6, 1, move |a| match worst_alert(ctx, &a.id) {
            Some(level) => alert_cell(theme, level),
            None => Cell::from("—").style(theme.muted()),
        })
        .add("crit", 8, 3, move |a| {
            match a.profile.as_ref().and_then(|p| p.criticality) {
                Some(c) => Cell::from(c.as_str()).style(match c {
                    Criticality::Critical | Criticality::High => theme.warning(),
                    _ => theme.text(),
                }),
                None => Cell::from("—").style(theme.muted()),
            }
        })
        .add("owner", 16, 5, move |a| match owner(a) {
            Some(name) => Cell::from(fit(&name, 16)),
            None => Cell::from("none").style(theme.warning()),
        })
        .add("last seen", 9, 4, move |a| {
            Cell::from(
                a.last_seen
                    .map_or_else(|| "never".to_string(), |t| short_duration(age(ctx.now, t))),
            )
        })
        .add("runs/min", 8, 6, move |a| {
            Cell::from(if a.warming_up(ctx.now) {
                "warming".to_string()
            } else {
                a.runs_last_minute.to_string()
            })
        })
        .fit(|a| digits(a.runs_last_minute as usize))
}

/// The agent list's other columns: open work, autonomy, findings and
/// versions.
fn load_columns<'a>(
    columns: Columns<'a, Agent>,
    ctx: &'a Ctx,
    theme: &'a Theme,
    loads: &'a AgentLoads,
) -> Columns<'a, Agent> {
    columns
        .add("inc", 4, 7, move |a| {
            let n = loads.of(&a.id).incidents;
            Cell::from(n.to_string()).style(warn_if(theme, n))
        })
        .fit(move |a| digits(loads.of(&a.id).incidents))
        .add("appr", 4, 8, move |a| {
            Cell::from(loads.of(&a.id).approvals.to_string())
        })
        .fit(move |a| digits(loads.of(&a.id).approvals))
        .add("ctl", 4, 9, move |a| {
            let n = loads.of(&a.id).controls;
            Cell::from(n.to_string()).style(warn_if(theme, n))
        })
        .fit(move |a| digits(loads.of(&a.id).controls))
        .add("autonomy", 17, 10, move |a| {
            Cell::from(
                a.profile
                    .as_ref()
                    .and_then(|p| p.autonomy)
                    .map_or("—", |x| x.as_str()),
            )
        })
        .add("heartbeat", 9, 11, move |a| {
            Cell::from(
                a.last_heartbeat
                    .map_or_else(|| "—".to_string(), |t| short_duration(age(ctx.now, t))),
            )
        })
        .add("findings", 24, 2, move |a| {
            // A cost the SLO cannot judge comes first: it hides a burn.
            let unpriced = a.unpriced.is_some().then_some("model without price");
            let text: Vec<&str> = unpriced
                .into_iter()
                .chain(a.findings.iter().map(|f| finding_text(*f)))
                .collect();
            Cell::from(fit(&text.join(", "), 40)).style(if text.is_empty() {
                theme.text()
            } else {
                theme.warning()
            })
        })
        .add("model", 22, 12, move |a| {
            Cell::from(fit(a.versions.model.as_deref().unwrap_or("—"), 22))
        })
        .add("prompt", 10, 13, move |a| {
            Cell::from(fit(a.versions.prompt.as_deref().unwrap_or("—"), 10))
        })
}
