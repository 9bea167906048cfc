//! The agent detail screen, open over any screen: whose agent it is, what it may touch, what
//! changed, and which runs went wrong — one agent's drill-down from
//! `GET /v1/agents/{agent}/detail`, laid out in one column on narrow
//! terminals and two on wide ones.
//!
//! Every string here came from an agent or a registration: each goes
//! through [`clean`] before it is drawn.

use std::time::Instant;

use chrono::{DateTime, Utc};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

use crate::model::agent::Agent;
use crate::model::drill::{AgentDetail, RunSample};
use crate::model::profile::{Contact, Finding};

use super::super::action::Action;
use super::super::app::{AGENT_DETAIL_REFRESH, Effect};
use super::super::sanitize::{clean, fit};
use super::super::scroll::Scroll;
use super::super::theme::Theme;

/// Width from which the screen uses two columns.
const TWO_COLUMNS_FROM: u16 = 120;

/// The agent detail, open over the current screen or closed.
#[derive(Debug, Default)]
pub struct AgentPane {
    /// The open detail, if any.
    pub open: Option<DetailState>,
}

impl AgentPane {
    /// Opens the detail of `agent` and asks for its data.
    pub fn inspect(&mut self, agent: &str) -> Vec<Effect> {
        self.open = Some(DetailState {
            agent: agent.to_string(),
            detail: None,
            scroll: Scroll::default(),
            requested: Some(Instant::now()),
        });
        vec![Effect::FetchAgent(agent.to_string())]
    }

    /// The fetch due on a tick: the open detail is fetched again every
    /// 15 s; it is a drill-down, not a live feed, but it should not go
    /// stale on a screen left open during an incident.
    pub fn due(&mut self) -> Option<Effect> {
        let d = self.open.as_mut()?;
        if d.requested
            .is_some_and(|t| t.elapsed() < AGENT_DETAIL_REFRESH)
        {
            return None;
        }
        d.requested = Some(Instant::now());
        Some(Effect::FetchAgent(d.agent.clone()))
    }

    /// What the open detail does with an action: none when the action is
    /// not its own (or the detail is closed), for the screen behind.
    /// Switching screens closes it and still switches.
    pub fn act(&mut self, action: Action) -> Option<Vec<Effect>> {
        let d = self.open.as_mut()?;
        if d.scroll.apply(action) {
            return Some(Vec::new());
        }
        match action {
            Action::Refresh => {
                d.requested = Some(Instant::now());
                return Some(vec![Effect::FetchAgent(d.agent.clone())]);
            }
            Action::Close => self.open = None,
            Action::Inspect | Action::Open => {}
            Action::ShowOverview
            | Action::ShowIncidents
            | Action::ShowApprovals
            | Action::ShowControls
            | Action::ShowAgents
            | Action::ShowRunbook
            | Action::ShowHandoff
            | Action::ShowHistory
            | Action::ShowAudit
            | Action::NextScreen
            | Action::PrevScreen => {
                self.open = None;
                return None;
            }
            _ => return None,
        }
        Some(Vec::new())
    }

    /// The actions its hint line offers first.
    pub fn hints(&self) -> &'static [Action] {
        &[Action::Refresh, Action::Contain, Action::Close]
    }
}

/// How the detail screen stands: which agent, its answer, and how far it
/// is scrolled.
#[derive(Debug, Clone, Default)]
pub struct DetailState {
    /// The agent shown.
    pub agent: String,
    /// The hub's answer, or why there is none; none while fetching.
    pub detail: Option<Result<Box<AgentDetail>, String>>,
    /// Where it is scrolled to.
    pub scroll: Scroll,
    /// When it was last asked for (none: ask on the next tick).
    pub requested: Option<Instant>,
}

fn ago(now: DateTime<Utc>, t: DateTime<Utc>) -> String {
    let s = (now - t).num_seconds().max(0);
    match s {
        0..=119 => format!("{s}s ago"),
        120..=7199 => format!("{}m ago", s / 60),
        7200..=172_799 => format!("{}h ago", s / 3600),
        _ => format!("{}d ago", s / 86_400),
    }
}

fn pct(x: Option<f64>) -> String {
    x.map_or_else(|| "—".into(), |v| format!("{:.1}%", v * 100.0))
}

fn ms(x: Option<f64>) -> String {
    match x {
        Some(v) if v >= 10_000.0 => format!("{:.0}s", v / 1000.0),
        Some(v) if v >= 1000.0 => format!("{:.1}s", v / 1000.0),
        Some(v) => format!("{v:.0}ms"),
        None => "—".into(),
    }
}

fn usd(x: Option<f64>) -> String {
    x.map_or_else(|| "—".into(), |v| format!("${v:.3}"))
}

fn contact(c: &Option<Contact>) -> String {
    match c {
        Some(c) => match &c.contact {
            Some(how) => format!("{} ({})", clean(&c.name), clean(how)),
            None => clean(&c.name),
        },
        None => "—".into(),
    }
}

/// A finding as an on-call engineer reads it.
pub fn finding_text(f: Finding) -> &'static str {
    match f {
        Finding::Unregistered => "unregistered",
        Finding::NoOwner => "no owner",
        Finding::AutonomousOnMoney => "acts autonomously on money",
        Finding::NoCriticality => "no criticality",
        Finding::UnlistedTools => "uses unlisted tools",
        Finding::NeverSeen => "never seen",
    }
}

fn heading<'a>(theme: &Theme, text: &'a str) -> Line<'a> {
    Line::from(Span::styled(text, theme.title()))
}

fn identity(a: &Agent, theme: &Theme, now: DateTime<Utc>) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    let mut first = vec![Span::styled(clean(&a.id), theme.accent())];
    match &a.profile {
        Some(p) => {
            let mut facts = Vec::new();
            if let Some(c) = p.criticality {
                facts.push(format!("criticality {}", c.as_str()));
            }
            if let Some(x) = p.autonomy {
                facts.push(x.as_str().replace('_', " "));
            }
            if let Some(e) = &p.environment {
                facts.push(clean(e));
            }
            if let Some(f) = &p.framework {
                facts.push(clean(f));
            }
            first.push(Span::styled(
                format!("  registered · {}", facts.join(" · ")),
                theme.text(),
            ));
        }
        None => first.push(Span::styled("  unregistered", theme.warning())),
    }
    lines.push(Line::from(first));
    if let Some(p) = &a.profile {
        lines.push(Line::from(vec![
            Span::styled("owners  ", theme.muted()),
            Span::raw(format!(
                "business {} · technical {} · incident {}",
                contact(&p.business_owner),
                contact(&p.technical_owner),
                contact(&p.incident_owner)
            )),
        ]));
        if !p.tools.is_empty() {
            let tools: Vec<String> = p
                .tools
                .iter()
                .map(|t| {
                    let access: Vec<&str> = t.access.iter().map(|x| x.as_str()).collect();
                    format!("{} [{}]", clean(&t.name), access.join(" "))
                })
                .collect();
            lines.push(Line::from(vec![
                Span::styled("tools   ", theme.muted()),
                Span::raw(tools.join(" · ")),
            ]));
        }
    }
    if !a.findings.is_empty() {
        let text: Vec<&str> = a.findings.iter().map(|f| finding_text(*f)).collect();
        lines.push(Line::from(vec![
            Span::styled("findings ", theme.muted()),
            Span::styled(format!("⚠ {}", text.join(" · ")), theme.warning()),
        ]));
    }
    if let Some(u) = &a.unpriced {
        // Cost is an SLO: say plainly when it is not the whole cost, on
        // two short lines so the fix still shows at 80 columns.
        lines.push(Line::from(vec![
            Span::styled("cost    ", theme.muted()),
            Span::styled(
                format!(
                    "⚠ no price for {} ({} run{}): not in the cost SLO",
                    clean(&u.model),
                    u.runs,
                    if u.runs == 1 { "" } else { "s" }
                ),
                theme.warning(),
            ),
        ]));
        lines.push(Line::from(vec![
            Span::raw("        "),
            Span::styled("add the model's price with serve --prices", theme.muted()),
        ]));
    }
    lines.push(health(a, theme, now));
    lines
}

/// How the agent is doing: when it was last seen and heard from, its own
/// health report, its traffic and its versions.
fn health(a: &Agent, theme: &Theme, now: DateTime<Utc>) -> Line<'static> {
    let mut health = vec![Span::styled("health  ", theme.muted())];
    health.push(Span::raw(match a.last_seen {
        Some(t) => format!("last seen {}", ago(now, t)),
        None => "never seen".into(),
    }));
    if let Some(h) = a.last_heartbeat {
        health.push(Span::raw(format!(" · heartbeat {}", ago(now, h))));
    }
    if let Some(h) = a.health {
        let (text, style) = match h {
            crate::model::envelope::HealthStatus::Ok => ("ok", theme.ok()),
            crate::model::envelope::HealthStatus::Degraded => ("degraded", theme.warning()),
        };
        health.push(Span::raw(" ("));
        health.push(Span::styled(text, style));
        health.push(Span::raw(")"));
    }
    health.push(Span::raw(format!(" · {}", a.runs_per_minute(now))));
    let versions: Vec<String> = crate::model::envelope::Component::ALL
        .iter()
        .filter_map(|c| {
            a.versions
                .get(*c)
                .map(|v| format!("{} {}", c.as_str(), clean(v)))
        })
        .collect();
    if !versions.is_empty() {
        health.push(Span::raw(format!(" · {}", versions.join(" "))));
    }
    Line::from(health)
}

fn performance(d: &AgentDetail, theme: &Theme) -> Vec<Line<'static>> {
    let mut lines = vec![heading(theme, "Latency and success")];
    lines.push(Line::from(Span::styled(
        format!(
            "{:<6}{:>8}{:>9}{:>8}{:>8}{:>8}",
            "", "runs", "success", "p50", "p95", "p99"
        ),
        theme.muted(),
    )));
    for w in &d.performance.windows {
        let style = match w.success_ratio {
            Some(r) if r < 0.9 => theme.critical(),
            Some(r) if r < 0.99 => theme.warning(),
            _ => theme.text(),
        };
        lines.push(Line::from(vec![
            Span::raw(format!("{:<6}{:>8}", w.window, w.runs)),
            Span::styled(format!("{:>9}", pct(w.success_ratio)), style),
            Span::raw(format!(
                "{:>8}{:>8}{:>8}",
                ms(w.p50_ms),
                ms(w.p95_ms),
                ms(w.p99_ms)
            )),
        ]));
    }
    let c = &d.performance.cost;
    let ratio = c.ratio.map_or_else(String::new, |r| format!(" (×{r:.2})"));
    let style = match c.ratio {
        Some(r) if r >= 1.5 => theme.warning(),
        _ => theme.text(),
    };
    lines.push(Line::from(vec![
        Span::raw(format!(
            "cost/run today {} vs {} a week ago",
            usd(c.today_per_run_usd),
            usd(c.last_week_per_run_usd)
        )),
        Span::styled(ratio, style),
    ]));
    lines
}

fn changes(d: &AgentDetail, theme: &Theme) -> Vec<Line<'static>> {
    let mut lines = vec![heading(theme, "Changes (success ratio 1 h before → after)")];
    if d.changes.changes.is_empty() {
        lines.push(Line::from(Span::styled(
            "no version changes seen",
            theme.muted(),
        )));
    }
    for c in &d.changes.changes {
        let from = c
            .from
            .as_deref()
            .map_or_else(String::new, |f| format!("{} → ", clean(f)));
        let by = match (&c.deployed_by, &c.approved_by) {
            (Some(d), Some(a)) => format!(" by {} ({})", clean(d), clean(a)),
            (Some(d), None) => format!(" by {}", clean(d)),
            _ => String::new(),
        };
        let side = |w: Option<crate::model::drill::RatioWindow>| {
            w.map_or_else(
                || "—".to_string(),
                |w| format!("{} ({})", pct(w.success_ratio), w.runs),
            )
        };
        let worse = matches!(
            (c.before.and_then(|b| b.success_ratio), c.after.and_then(|a| a.success_ratio)),
            (Some(b), Some(a)) if a + 0.01 < b
        );
        lines.push(Line::from(vec![
            Span::styled(c.at.format("%m-%d %H:%M ").to_string(), theme.muted()),
            Span::raw(format!(
                "{} {from}{}{by}  ",
                c.component.as_str(),
                clean(&c.to)
            )),
            Span::styled(
                format!("{} → {}", side(c.before), side(c.after)),
                if worse {
                    theme.critical()
                } else {
                    theme.text()
                },
            ),
        ]));
    }
    lines
}

fn tools(d: &AgentDetail, theme: &Theme) -> Vec<Line<'static>> {
    let mut lines = vec![heading(theme, "Tool error rates (hour · day)")];
    if d.tools.tools.is_empty() {
        lines.push(Line::from(Span::styled("no tool calls", theme.muted())));
    }
    for t in &d.tools.tools {
        let style = match t.hour.error_rate.or(t.day.error_rate) {
            Some(r) if r >= 0.1 => theme.critical(),
            Some(r) if r > 0.0 => theme.warning(),
            _ => theme.text(),
        };
        let mut spans = vec![
            Span::raw(format!("{:<18}", fit(&clean(&t.tool), 17))),
            Span::styled(
                format!(
                    "{:>7} of {:<5} · {:>7} of {:<6}",
                    pct(t.hour.error_rate),
                    t.hour.calls,
                    pct(t.day.error_rate),
                    t.day.calls
                ),
                style,
            ),
        ];
        if let Some(e) = &t.last_error {
            spans.push(Span::styled(
                format!(" {}", fit(&clean(e), 40)),
                theme.muted(),
            ));
        }
        lines.push(Line::from(spans));
    }
    lines
}

fn approvals(d: &AgentDetail, theme: &Theme) -> Vec<Line<'static>> {
    let mut lines = vec![heading(theme, "Approvals per action (7 days)")];
    if d.approvals.classes.is_empty() {
        lines.push(Line::from(Span::styled(
            "no approval requests",
            theme.muted(),
        )));
        return lines;
    }
    lines.push(Line::from(Span::styled(
        format!(
            "{:<18}{:>5}{:>8}{:>8}{:>9}{:>8}{:>10}",
            "action", "req", "p50", "p95", "timeout", "reject", "callbacks"
        ),
        theme.muted(),
    )));
    let secs = |x: Option<f64>| x.map_or_else(|| "—".into(), |v| format!("{v:.0}s"));
    for c in &d.approvals.classes {
        lines.push(Line::from(format!(
            "{:<18}{:>5}{:>8}{:>8}{:>9}{:>8}{:>10}",
            fit(&clean(&c.action), 17),
            c.requests,
            secs(c.latency_p50_s),
            secs(c.latency_p95_s),
            pct(c.timeout_rate),
            pct(c.rejection_rate),
            pct(c.callback_success_rate)
        )));
    }
    lines
}

fn run_lines(
    title: &str,
    runs: &[RunSample],
    theme: &Theme,
    id_width: usize,
) -> Vec<Line<'static>> {
    let mut lines = vec![Line::from(Span::styled(title.to_string(), theme.title()))];
    if runs.is_empty() {
        lines.push(Line::from(Span::styled(
            "no runs in the last 24 h",
            theme.muted(),
        )));
    }
    for r in runs.iter().take(10) {
        let dominant = r.dominant.as_ref().map_or_else(String::new, |d| {
            format!(" {} {:.0}%", fit(&clean(&d.tool), 16), d.share * 100.0)
        });
        lines.push(Line::from(vec![
            Span::styled(r.ts.format("%H:%M ").to_string(), theme.muted()),
            Span::raw(format!(
                "{:<w$}{:>7} {:>7}",
                fit(&clean(&r.run_id), id_width - 1),
                ms(Some(r.latency_ms as f64)),
                format!("${:.3}", r.cost_usd),
                w = id_width,
            )),
            Span::styled(dominant, theme.muted()),
        ]));
    }
    lines
}

fn failed(d: &AgentDetail, theme: &Theme, id_width: usize) -> Vec<Line<'static>> {
    let mut lines = vec![heading(theme, "Last failed and escalated runs")];
    if d.failed.runs.is_empty() {
        lines.push(Line::from(Span::styled("none", theme.muted())));
    }
    for r in d.failed.runs.iter().take(15) {
        let outcome = match r.outcome {
            crate::model::envelope::Outcome::Escalated => ("escalated", theme.warning()),
            crate::model::envelope::Outcome::TimedOut => ("timed out", theme.critical()),
            _ => ("failed", theme.critical()),
        };
        let versions: Vec<String> = crate::model::envelope::Component::ALL
            .iter()
            .filter_map(|c| r.versions.get(*c).map(clean))
            .collect();
        lines.push(Line::from(vec![
            Span::styled(r.ts.format("%H:%M ").to_string(), theme.muted()),
            Span::raw(format!(
                "{:<w$}",
                fit(&clean(&r.run_id), id_width - 1),
                w = id_width
            )),
            Span::styled(format!("{:<10}", outcome.0), outcome.1),
            Span::raw(format!(
                "{} {}",
                r.tool
                    .as_deref()
                    .map_or_else(|| "—".into(), |t| fit(&clean(t), 16)),
                r.error
                    .as_deref()
                    .map_or_else(String::new, |e| fit(&clean(e), 48))
            )),
            Span::styled(
                if versions.is_empty() {
                    String::new()
                } else {
                    format!(" [{}]", versions.join(" "))
                },
                theme.muted(),
            ),
        ]));
    }
    lines
}

/// Draws the screen.
pub fn render(
    state: &DetailState,
    theme: &Theme,
    frame: &mut Frame,
    area: Rect,
    now: DateTime<Utc>,
) {
    let title = format!(
        " Agent {} — r refresh · j/k scroll · esc back ",
        fit(&clean(&state.agent), 40)
    );
    let block = theme.block(title, true);
    let inner = block.inner(area);
    let d = match &state.detail {
        None => {
            frame.render_widget(
                Paragraph::new(Span::styled(
                    "fetching the agent's drill-down…",
                    theme.muted(),
                ))
                .block(block),
                area,
            );
            return;
        }
        Some(Err(e)) => {
            frame.render_widget(
                Paragraph::new(Span::styled(
                    format!("could not fetch the drill-down: {}", clean(e)),
                    theme.critical(),
                ))
                .wrap(Wrap { trim: false })
                .block(block),
                area,
            );
            return;
        }
        Some(Ok(d)) => d,
    };
    // The identity stays on top, wrapped rather than cut, in at most a
    // third of the pane; the rest scrolls under it.
    let head = Paragraph::new(identity(&d.agent, theme, now)).wrap(Wrap { trim: false });
    let head_rows = (head.line_count(inner.width) as u16).min(inner.height / 3);
    let [top, rest] =
        Layout::vertical([Constraint::Length(head_rows + 1), Constraint::Min(0)]).areas(inner);
    frame.render_widget(head, top);
    let mut left = performance(d, theme);
    left.push(Line::default());
    left.extend(changes(d, theme));
    left.push(Line::default());
    left.extend(tools(d, theme));
    left.push(Line::default());
    left.extend(approvals(d, theme));
    let wide = rest.width >= TWO_COLUMNS_FROM;
    let id_width = if wide { 24 } else { 14 };
    let mut right = run_lines("Slowest runs (24 h)", &d.slowest.runs, theme, id_width);
    right.push(Line::default());
    right.extend(run_lines(
        "Costliest runs (24 h)",
        &d.costliest.runs,
        theme,
        id_width,
    ));
    right.push(Line::default());
    right.extend(failed(d, theme, id_width));
    let height = rest.height;
    let window = if wide {
        let [l, r] = Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)])
            .spacing(2)
            .areas(rest);
        let window = state
            .scroll
            .columns(&[(&left, l.width), (&right, r.width)], height);
        frame.render_widget(Scroll::body(&left, window, height), l);
        frame.render_widget(Scroll::body(&right, window, height), r);
        window
    } else {
        left.push(Line::default());
        left.extend(right);
        let window = state.scroll.window(&left, rest.width, height);
        frame.render_widget(Scroll::body(&left, window, height), rest);
        window
    };
    frame.render_widget(Scroll::marked(block, window, theme), area);
    Scroll::scrollbar(frame, area, window);
}
