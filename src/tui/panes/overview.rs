//! The Overview: the fleet in one line, then every SLO series, worst first,
//! with its error budget and the last hour of bad events.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph};

use crate::model::slo::{AlertLevel, SloStatus};

use super::super::action::Action;
use super::super::ctx::{Ctx, ListState};
use super::super::sanitize::fit;
use super::super::screen::Screen;
use super::super::table::{Columns, alert_cell, ms, pct, table};
use super::super::theme::Theme;
use super::{Pane, list_title};

/// The Overview's state: its list.
#[derive(Debug, Default)]
pub struct Overview {
    /// Selection and filter.
    pub list: ListState,
}

impl Pane for Overview {
    list_pane!(Screen::Overview);

    fn hints(&self) -> &'static [Action] {
        &[Action::Contain, Action::Inspect]
    }

    fn selected_agent(&self, ctx: &Ctx) -> Option<(String, Option<String>)> {
        let id = self.selected(ctx)?;
        ctx.data.slos.get(&id).map(|s| (s.agent.clone(), None))
    }

    fn draw(&self, ctx: &Ctx, theme: &Theme, frame: &mut Frame, area: Rect) {
        let parts = Layout::vertical([Constraint::Length(1), Constraint::Min(3)]).split(area);
        frame.render_widget(Paragraph::new(fleet_line(ctx, theme, area.width)), parts[0]);
        let (ids, selected) = self.selection(ctx);
        table(
            frame,
            parts[1],
            theme,
            list_title("SLOs", "worst first", &self.list, 0),
            true,
            &columns(ctx, theme, area.width),
            0,
            &ids,
            selected,
            |id| ctx.data.slos.get(id),
        );
    }
}

/// The error budget as a bar of `cells` cells, with the ratio against the
/// objective after it.
fn gauge(s: &SloStatus, cells: usize) -> String {
    const EIGHTHS: [&str; 9] = ["", "▏", "▎", "▍", "▌", "▋", "▊", "▉", "█"];
    let fill = (s.budget_remaining.clamp(0.0, 1.0) * (cells * 8) as f64).round() as usize;
    let mut bar = "█".repeat(fill / 8);
    bar.push_str(EIGHTHS[fill % 8]);
    let used = bar.chars().count();
    bar.push_str(&" ".repeat(cells.saturating_sub(used)));
    let mark = match s.ratio {
        Some(r) if r >= s.objective => "✓",
        Some(_) => "✗",
        None => "·",
    };
    format!("▕{bar}▏{mark}")
}

/// The last hour as block characters, `cells` wide: each cell's height is
/// the share of bad events in its minutes (`·` no traffic, `▁` none bad,
/// `█` all bad), with `◆` where a version changed.
fn sparkline(s: &SloStatus, cells: usize, now: chrono::DateTime<chrono::Utc>) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    if cells == 0 || s.bad_per_min.is_empty() {
        return String::new();
    }
    let n = s.bad_per_min.len();
    let per = n.div_ceil(cells).max(1);
    let mut out: Vec<char> = s
        .bad_per_min
        .chunks(per)
        .zip(s.total_per_min.chunks(per))
        .map(|(bad, total)| {
            let bad: u32 = bad.iter().sum();
            let total: u32 = total.iter().sum();
            if total == 0 {
                '·'
            } else if bad == 0 {
                BARS[0]
            } else {
                let share = f64::from(bad) / f64::from(total);
                BARS[1 + ((share * 6.999) as usize).min(6)]
            }
        })
        .collect();
    for m in &s.markers {
        let minutes_ago = (now - m.at).num_minutes();
        if (0..n as i64).contains(&minutes_ago) {
            let idx = (n - 1 - minutes_ago as usize) / per;
            if let Some(c) = out.get_mut(idx) {
                *c = '◆';
            }
        }
    }
    out.into_iter().collect()
}
/// Open incidents by severity, `(1 SEV1, 3 SEV2)` (the worst alone when
/// `narrow`), red while a SEV1 is open; nothing when none is.
fn incidents_by_severity(ctx: &Ctx, theme: &Theme, narrow: bool) -> Option<(u8, Span<'static>)> {
    use crate::model::incident::{IncidentState, Severity};
    let open: Vec<Severity> = ctx
        .data
        .incidents
        .values()
        .filter(|i| i.state != IncidentState::Resolved)
        .map(|i| i.severity)
        .collect();
    let counts: Vec<String> = [
        Severity::Sev1,
        Severity::Sev2,
        Severity::Sev3,
        Severity::Sev4,
    ]
    .into_iter()
    .filter_map(|s| {
        let n = open.iter().filter(|o| **o == s).count();
        (n > 0).then(|| format!("{n} {}", s.as_str()))
    })
    .collect();
    if counts.is_empty() {
        return None;
    }
    // Narrow: the worst severity alone, `(1 SEV1)`, what needs me now.
    let counts = if narrow { counts[..1].to_vec() } else { counts };
    let style = if open.contains(&Severity::Sev1) {
        theme.critical()
    } else {
        theme.text()
    };
    Some((2, Span::styled(format!(" ({})", counts.join(", ")), style)))
}

/// The nearest approval deadline as a countdown, `, next in 4m12s`, amber
/// under five minutes.
fn next_deadline(ctx: &Ctx, theme: &Theme) -> Option<(u8, Span<'static>)> {
    let nearest = ctx
        .data
        .approvals
        .values()
        .filter(|a| a.state == crate::model::approval::ApprovalState::Pending)
        .map(|a| a.deadline)
        .min()?;
    let left = (nearest - ctx.now).num_seconds();
    let style = if left < 300 {
        theme.warning()
    } else {
        theme.text()
    };
    Some((
        2,
        Span::styled(
            format!(", next in {}", super::super::screen::short_duration(left)),
            style,
        ),
    ))
}

/// The fleet in one line: agents, runs, SLO series by alert, open work:
/// incidents by severity and the nearest approval deadline, so the first
/// screen answers "what needs me now".
///
/// A number is never cut: when the line is too wide, whole parts drop, the
/// least urgent first: the runs rate and agent count, then the healthy
/// SLO count, then controls, then the nearest deadline, the incidents'
/// severities and tickets; pages, incidents and approvals stay to the
/// last.
fn fleet_line(ctx: &Ctx, theme: &Theme, width: u16) -> Line<'static> {
    let d = ctx.data;
    let paging = d
        .slos
        .values()
        .filter(|s| s.alert == AlertLevel::Page)
        .count();
    let ticketing = d
        .slos
        .values()
        .filter(|s| s.alert == AlertLevel::Ticket)
        .count();
    let runs: u64 = d.agents.values().map(|a| a.runs_last_minute).sum();
    // Every agent new this minute: a rate would read as an idle fleet.
    let warming = !d.agents.is_empty() && d.agents.values().all(|a| a.warming_up(ctx.now));
    let runs = if warming {
        "warming up".to_string()
    } else {
        format!("{runs} runs/min")
    };
    let narrow = width < 110;
    let (inc, appr, ctl) = if narrow {
        ("inc", "appr", "ctl")
    } else {
        ("incidents", "approvals", "controls")
    };
    // (drop order: higher goes first, display order as listed)
    let mut parts: Vec<(u8, Span<'static>)> = vec![
        (0, Span::styled(" fleet ", theme.title())),
        (
            5,
            Span::styled(format!("{} agents · ", d.agents.len()), theme.text()),
        ),
        (5, Span::styled(format!("{runs} · "), theme.text())),
        (
            4,
            Span::styled(
                if narrow {
                    format!("{} SLOs: ", d.slos.len())
                } else {
                    format!("{} SLO series: ", d.slos.len())
                },
                theme.text(),
            ),
        ),
    ];
    if paging > 0 {
        parts.push((0, Span::styled(format!("{paging} PAGE "), theme.critical())));
    }
    if ticketing > 0 {
        parts.push((
            2,
            Span::styled(format!("{ticketing} TICKET "), theme.warning()),
        ));
    }
    parts.push((
        4,
        Span::styled(
            format!("{} ok", d.slos.len() - paging - ticketing),
            theme.ok(),
        ),
    ));
    parts.push((
        1,
        Span::styled(format!(" · {inc} {}", d.incidents.len()), theme.text()),
    ));
    parts.extend(incidents_by_severity(ctx, theme, narrow));
    parts.push((
        1,
        Span::styled(format!(" · {appr} {}", d.approvals.len()), theme.text()),
    ));
    parts.extend(next_deadline(ctx, theme));
    parts.push((
        3,
        Span::styled(format!(" · {ctl} {}", d.controls.len()), theme.text()),
    ));
    let room = usize::from(width);
    let used = |parts: &[(u8, Span)]| parts.iter().map(|(_, s)| s.width()).sum::<usize>();
    while used(&parts) > room {
        let Some(worst) = parts.iter().map(|(p, _)| *p).max().filter(|p| *p > 0) else {
            break;
        };
        // The last part of the least urgent rank goes first.
        if let Some(i) = parts.iter().rposition(|(p, _)| *p == worst) {
            parts.remove(i);
        }
    }
    let mut spans: Vec<Span<'static>> = parts.into_iter().map(|(_, s)| s).collect();
    // A dropped part can leave two spaces where it was.
    for i in 1..spans.len() {
        if spans[i].content.starts_with(' ') && spans[i - 1].content.ends_with(' ') {
            let trimmed = spans[i - 1].content.trim_end().to_string();
            spans[i - 1].content = trimmed.into();
        }
    }
    Line::from(spans)
}

/// The Overview's columns; wider screens get a longer series name and a
/// finer sparkline.
fn columns<'a>(ctx: &'a Ctx, theme: &'a Theme, width: u16) -> Columns<'a, SloStatus> {
    let spark_cells = if width >= 150 { 30 } else { 15 };
    let series_w: u16 = if width >= 150 { 32 } else { 26 };
    Columns::<SloStatus>::new()
        .add("agent/workflow", series_w, 0, move |s| {
            Cell::from(fit(
                &format!("{}/{}", s.agent, s.workflow),
                series_w as usize,
            ))
        })
        .add("SLO", 12, 1, move |s| Cell::from(fit(&s.slo, 12)))
        .add("budget", 12, 2, move |s| {
            Cell::from(gauge(s, 8)).style(match s.alert {
                AlertLevel::Page => theme.critical(),
                AlertLevel::Ticket => theme.warning(),
                AlertLevel::None => theme.ok(),
            })
        })
        .add("ratio", 7, 3, move |s| {
            let ok = s.ratio.is_none_or(|r| r >= s.objective);
            Cell::from(pct(s.ratio)).style(if ok { theme.text() } else { theme.critical() })
        })
        .add("alert", 6, 4, move |s| alert_cell(theme, s.alert))
        .add("burn 1h", 7, 5, move |s| {
            Cell::from(format!("{:.1}", s.burn.h1))
        })
        .add("burn 5m", 7, 8, move |s| {
            Cell::from(format!("{:.1}", s.burn.m5))
        })
        .add("burn 6h", 7, 9, move |s| {
            Cell::from(format!("{:.1}", s.burn.h6))
        })
        .add("p95", 7, 6, move |s| Cell::from(ms(s.latency_p95_ms)))
        .add("p99", 7, 10, move |s| Cell::from(ms(s.latency_p99_ms)))
        .add("$/ok run", 8, 11, move |s| {
            Cell::from(
                s.cost_per_success_usd
                    .map(|c| format!("${c:.3}"))
                    .unwrap_or_else(|| "—".into()),
            )
        })
        .add("last hour (bad %)", spark_cells as u16, 7, move |s| {
            Cell::from(sparkline(s, spark_cells, ctx.now)).style(theme.accent())
        })
        .add("objective", 9, 12, move |s| {
            Cell::from(format!("{:.2}%", s.objective * 100.0)).style(theme.muted())
        })
}
