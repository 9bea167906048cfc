//! Drawing: a pure function of the app's state onto a frame.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Clear, Paragraph, Row, Table, TableState, Wrap};

use crate::model::agent::Agent;
use crate::model::approval::{Approval, ApprovalState};
use crate::model::control::Control;
use crate::model::envelope::Risk;
use crate::model::incident::{Incident, IncidentState, Severity};
use crate::model::profile::Criticality;
use crate::model::slo::{AlertLevel, SloStatus};

use super::action::{Action, Context};
use super::app::{App, Connection, Level};
use super::dialog::{Dialog, FormField};
use super::sanitize::{clean, fit};
use super::screen::{Screen, age, short_duration};
use super::theme::Theme;

/// Draws the whole screen.
pub fn render(app: &App, theme: &Theme, frame: &mut Frame) {
    let area = frame.area();
    if area.width < 20 || area.height < 6 {
        frame.render_widget(Paragraph::new("agentdeck: window too small"), area);
        return;
    }
    let rows = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(3),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .split(area);
    header(app, theme, frame, rows[0]);
    if let Some(d) = &app.agent_detail {
        super::agent_view::render(d, theme, frame, rows[1], app.now);
    } else {
        screen(app, theme, frame, rows[1]);
    }
    hints(app, theme, frame, rows[2]);
    status(app, theme, frame, rows[3]);
    if let Some(d) = &app.dialog {
        dialog(app, theme, frame, area, d);
    }
}

fn screen(app: &App, theme: &Theme, frame: &mut Frame, area: Rect) {
    match app.screen {
        Screen::Overview => overview(app, theme, frame, area),
        Screen::Incidents => incidents(app, theme, frame, area),
        Screen::Approvals => approvals(app, theme, frame, area),
        Screen::Controls => controls(app, theme, frame, area),
        Screen::Agents => agents(app, theme, frame, area),
        Screen::Runbook => runbook(app, theme, frame, area),
        Screen::Handoff => handoff(app, theme, frame, area),
    }
}

fn header(app: &App, theme: &Theme, frame: &mut Frame, area: Rect) {
    let narrow = area.width < 110;
    let mut spans = if narrow {
        Vec::new()
    } else {
        vec![Span::styled(" agentdeck ", theme.title())]
    };
    for s in Screen::ALL {
        let name = if narrow {
            match s {
                Screen::Overview => "Over",
                Screen::Incidents => "Inc",
                Screen::Approvals => "Appr",
                Screen::Controls => "Ctrl",
                Screen::Agents => "Agnt",
                Screen::Runbook => "Run",
                Screen::Handoff => "Hand",
            }
        } else {
            s.title()
        };
        let count = match s {
            Screen::Incidents => Some(app.data.incidents.len()),
            Screen::Approvals => Some(app.data.approvals.len()),
            Screen::Controls => Some(app.data.controls.len()),
            _ => None,
        };
        let label = match count {
            Some(n) if n > 0 => format!(" {} {name}·{n} ", s.index() + 1),
            _ => format!(" {} {name} ", s.index() + 1),
        };
        let style = if s == app.screen {
            theme.selection()
        } else if s == Screen::Approvals && !app.data.approvals.is_empty()
            || s == Screen::Incidents
                && app
                    .data
                    .incidents
                    .values()
                    .any(|i| i.severity <= Severity::Sev2)
        {
            theme.warning()
        } else {
            theme.text()
        };
        spans.push(Span::styled(label, style));
    }
    let clock = app.now.format("%H:%M:%SZ").to_string();
    let used: usize = spans.iter().map(|s| s.width()).sum();
    if used + clock.len() < area.width as usize {
        let room = (area.width as usize).saturating_sub(used + clock.len());
        spans.push(Span::raw(" ".repeat(room)));
        spans.push(Span::styled(clock, theme.muted()));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// Keeps columns by priority (0 first) until the width is used up.
fn keep_columns(widths: &[(u16, u8)], available: u16) -> Vec<usize> {
    let mut order: Vec<usize> = (0..widths.len()).collect();
    order.sort_by_key(|&i| widths[i].1);
    let mut used = 0u16;
    let mut keep = Vec::new();
    for i in order {
        let w = widths[i].0 + 1;
        if used + w <= available {
            used += w;
            keep.push(i);
        }
    }
    keep.sort_unstable();
    keep
}

/// One column of a list: its header, its width, its priority (on a narrow
/// screen columns go from the highest number down; 0 stays longest) and
/// how to draw it for one row.
struct Column<'a, T> {
    title: &'static str,
    width: u16,
    priority: u8,
    cell: Box<dyn Fn(&T) -> Cell<'static> + 'a>,
}

/// The columns of a list, in screen order. Adding a column is one `add`.
struct Columns<'a, T>(Vec<Column<'a, T>>);

impl<'a, T> Columns<'a, T> {
    fn new() -> Self {
        Self(Vec::new())
    }

    fn add(
        mut self,
        title: &'static str,
        width: u16,
        priority: u8,
        cell: impl Fn(&T) -> Cell<'static> + 'a,
    ) -> Self {
        self.0.push(Column {
            title,
            width,
            priority,
            cell: Box::new(cell),
        });
        self
    }
}

/// The rows in view: what ratatui's `TableState` shows when it starts from
/// offset 0, as every frame here does: the first screenful, then the
/// selection on the bottom line. `body` is the number of lines for rows;
/// with none, the selected row alone, so the table still reserves the
/// selection mark's column.
fn window(len: usize, selected: Option<usize>, body: usize) -> std::ops::Range<usize> {
    let start = selected.map_or(0, |s| s.saturating_sub(body.saturating_sub(1)));
    let end = start.saturating_add(body.max(1)).min(len);
    start.min(end)..end
}

/// Renders a list as a table whose columns drop by priority on narrow
/// screens; the `flex` column takes the width left over. `ids` are the
/// rows in display order and `get` finds one; cells are built only for the
/// rows in view and the columns that fit, so a frame costs the same with
/// 10,000 rows as with 50.
#[allow(clippy::too_many_arguments)]
fn table<'d, T: 'd>(
    frame: &mut Frame,
    area: Rect,
    theme: &Theme,
    title: String,
    focused: bool,
    columns: &Columns<'_, T>,
    flex: usize,
    ids: &[String],
    selected: Option<usize>,
    get: impl Fn(&str) -> Option<&'d T>,
) {
    let columns = &columns.0;
    let inner_width = area.width.saturating_sub(2);
    let spec: Vec<(u16, u8)> = columns.iter().map(|c| (c.width, c.priority)).collect();
    let keep = keep_columns(&spec, inner_width);
    let header =
        Row::new(keep.iter().map(|&i| {
            Cell::from(columns[i].title).style(theme.muted().add_modifier(Modifier::BOLD))
        }));
    let flex = if keep.contains(&flex) {
        flex
    } else {
        keep.last().copied().unwrap_or(0)
    };
    let widths: Vec<Constraint> = keep
        .iter()
        .map(|&i| {
            if i == flex {
                Constraint::Min(columns[i].width)
            } else {
                Constraint::Length(columns[i].width)
            }
        })
        .collect();
    // Inside the borders, below the header.
    let body_height = area.height.saturating_sub(3) as usize;
    let shown = window(ids.len(), selected, body_height);
    let first = shown.start;
    let body: Vec<Row> = ids[shown]
        .iter()
        .map(|id| match get(id) {
            Some(row) => Row::new(keep.iter().map(|&i| (columns[i].cell)(row))),
            // The ids come from the same data; an empty line keeps the
            // selection where it belongs if one ever did not.
            None => Row::default(),
        })
        .collect();
    let mut state = TableState::default().with_selected(selected.map(|s| s.saturating_sub(first)));
    let t = Table::new(body, widths)
        .header(header)
        .block(theme.block(title, focused))
        .row_highlight_style(theme.selection())
        .highlight_symbol("▶");
    frame.render_stateful_widget(t, area, &mut state);
    if ids.is_empty() {
        let inner = Rect {
            x: area.x + 2,
            y: area.y + 2,
            width: area.width.saturating_sub(4),
            height: 1.min(area.height.saturating_sub(3)),
        };
        frame.render_widget(Paragraph::new("nothing here").style(theme.muted()), inner);
    }
}

fn alert_cell(theme: &Theme, a: AlertLevel) -> Cell<'static> {
    match a {
        AlertLevel::Page => Cell::from("PAGE").style(theme.critical()),
        AlertLevel::Ticket => Cell::from("TICKET").style(theme.warning()),
        AlertLevel::None => Cell::from("ok").style(theme.ok()),
    }
}

fn pct(x: Option<f64>) -> String {
    x.map(|v| format!("{:.1}%", v * 100.0))
        .unwrap_or_else(|| "—".into())
}

fn ms(x: Option<f64>) -> String {
    match x {
        Some(v) if v >= 10_000.0 => format!("{:.0}s", v / 1000.0),
        Some(v) if v >= 1000.0 => format!("{:.1}s", v / 1000.0),
        Some(v) => format!("{v:.0}ms"),
        None => "—".into(),
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

fn overview(app: &App, theme: &Theme, frame: &mut Frame, area: Rect) {
    let parts = Layout::vertical([Constraint::Length(1), Constraint::Min(3)]).split(area);
    let d = &app.data;
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
    let narrow = area.width < 110;
    let mut spans = vec![
        Span::styled(" fleet ", theme.title()),
        Span::styled(
            format!("{} agents · {runs} runs/min · ", d.agents.len()),
            theme.text(),
        ),
        Span::styled(
            if narrow {
                format!("{} SLOs: ", d.slos.len())
            } else {
                format!("{} SLO series: ", d.slos.len())
            },
            theme.text(),
        ),
    ];
    if paging > 0 {
        spans.push(Span::styled(format!("{paging} PAGE "), theme.critical()));
    }
    if ticketing > 0 {
        spans.push(Span::styled(
            format!("{ticketing} TICKET "),
            theme.warning(),
        ));
    }
    spans.push(Span::styled(
        format!("{} ok", d.slos.len() - paging - ticketing),
        theme.ok(),
    ));
    spans.push(Span::styled(
        if narrow {
            format!(
                " · inc {} · appr {} · ctl {}",
                d.incidents.len(),
                d.approvals.len(),
                d.controls.len()
            )
        } else {
            format!(
                " · incidents {} · approvals {} · controls {}",
                d.incidents.len(),
                d.approvals.len(),
                d.controls.len()
            )
        },
        theme.text(),
    ));
    frame.render_widget(Paragraph::new(Line::from(spans)), parts[0]);

    let list = app.list(Screen::Overview);
    let (ids, selected) = app.selection(Screen::Overview);
    let spark_cells = if area.width >= 150 { 30 } else { 15 };
    let series_w: u16 = if area.width >= 150 { 32 } else { 26 };
    let columns = Columns::<SloStatus>::new()
        .add("agent/workflow", series_w, 0, |s| {
            Cell::from(fit(
                &format!("{}/{}", s.agent, s.workflow),
                series_w as usize,
            ))
        })
        .add("SLO", 12, 1, |s| Cell::from(fit(&s.slo, 12)))
        .add("budget", 12, 2, |s| {
            Cell::from(gauge(s, 8)).style(match s.alert {
                AlertLevel::Page => theme.critical(),
                AlertLevel::Ticket => theme.warning(),
                AlertLevel::None => theme.ok(),
            })
        })
        .add("ratio", 7, 3, |s| {
            let ok = s.ratio.is_none_or(|r| r >= s.objective);
            Cell::from(pct(s.ratio)).style(if ok { theme.text() } else { theme.critical() })
        })
        .add("alert", 6, 4, |s| alert_cell(theme, s.alert))
        .add("burn 1h", 7, 5, |s| Cell::from(format!("{:.1}", s.burn.h1)))
        .add("burn 5m", 7, 8, |s| Cell::from(format!("{:.1}", s.burn.m5)))
        .add("burn 6h", 7, 9, |s| Cell::from(format!("{:.1}", s.burn.h6)))
        .add("p95", 7, 6, |s| Cell::from(ms(s.latency_p95_ms)))
        .add("p99", 7, 10, |s| Cell::from(ms(s.latency_p99_ms)))
        .add("$/ok run", 8, 11, |s| {
            Cell::from(
                s.cost_per_success_usd
                    .map(|c| format!("${c:.3}"))
                    .unwrap_or_else(|| "—".into()),
            )
        })
        .add("last hour (bad %)", spark_cells as u16, 7, |s| {
            Cell::from(sparkline(s, spark_cells, app.now)).style(theme.accent())
        })
        .add("objective", 9, 12, |s| {
            Cell::from(format!("{:.2}%", s.objective * 100.0)).style(theme.muted())
        });
    let title = filtered_title("SLOs, worst first", &list.filter);
    table(
        frame,
        parts[1],
        theme,
        title,
        true,
        &columns,
        0,
        &ids,
        selected,
        |id| d.slos.get(id),
    );
}

fn filtered_title(title: &str, filter: &str) -> String {
    if filter.is_empty() {
        format!(" {title} ")
    } else {
        format!(" {title} — filter: {} ", fit(filter, 30))
    }
}

fn severity_style(theme: &Theme, s: Severity) -> Style {
    match s {
        Severity::Sev1 => theme.critical(),
        Severity::Sev2 => theme.warning(),
        Severity::Sev3 | Severity::Sev4 => theme.text(),
    }
}

fn split_list_detail(area: Rect) -> (Rect, Rect) {
    let parts = if area.width >= 140 {
        Layout::horizontal([Constraint::Percentage(58), Constraint::Percentage(42)]).split(area)
    } else {
        Layout::vertical([Constraint::Percentage(45), Constraint::Percentage(55)]).split(area)
    };
    (parts[0], parts[1])
}

fn incidents(app: &App, theme: &Theme, frame: &mut Frame, area: Rect) {
    if app.list(Screen::Incidents).detail {
        let detail = app
            .selected(Screen::Incidents)
            .and_then(|id| app.data.incidents.get(&id));
        return incident_detail(app, theme, frame, area, detail);
    }
    let (list_area, detail_area) = split_list_detail(area);
    let list = app.list(Screen::Incidents);
    let me = app.operator.as_ref().map(|o| o.name.as_str()).unwrap_or("");
    let (ids, selected) = app.selection(Screen::Incidents);
    let columns = Columns::<Incident>::new()
        .add("SEV", 4, 0, |i| {
            Cell::from(i.severity.as_str()).style(severity_style(theme, i.severity))
        })
        .add("id", 7, 1, |i| {
            Cell::from(i.id.clone()).style(theme.accent())
        })
        .add("title", 28, 2, |i| Cell::from(fit(&i.title, 60)))
        .add("agent", 16, 4, |i| {
            Cell::from(fit(i.agent.as_deref().unwrap_or("—"), 16))
        })
        .add("state", 12, 3, |i| {
            Cell::from(i.state.as_str()).style(match i.state {
                IncidentState::Triggered => theme.critical(),
                IncidentState::Acknowledged => theme.warning(),
                _ => theme.ok(),
            })
        })
        .add("owner", 10, 5, |i| {
            Cell::from(fit(i.owner.as_deref().unwrap_or("—"), 10))
        })
        .add("age", 6, 6, |i| {
            Cell::from(short_duration(age(app.now, i.opened_at)))
        })
        .add("updated", 7, 7, |i| {
            Cell::from(short_duration(age(app.now, i.updated_at)))
        })
        .add("viewing", 10, 8, |i| {
            Cell::from(fit(&app.data.viewers(&i.id, me).join(","), 10)).style(theme.accent())
        });
    table(
        frame,
        list_area,
        theme,
        filtered_title("Incidents by severity, then age", &list.filter),
        true,
        &columns,
        2,
        &ids,
        selected,
        |id| app.data.incidents.get(id),
    );
    let detail = selected
        .and_then(|at| ids.get(at))
        .and_then(|id| app.data.incidents.get(id));
    incident_detail(app, theme, frame, detail_area, detail);
}

fn incident_detail(app: &App, theme: &Theme, frame: &mut Frame, area: Rect, i: Option<&Incident>) {
    let Some(i) = i else {
        frame.render_widget(
            Paragraph::new("No open incident.")
                .style(theme.muted())
                .block(theme.block(" Detail ", false)),
            area,
        );
        return;
    };
    let w = area.width.saturating_sub(4) as usize;
    let me = app.operator.as_ref().map(|o| o.name.as_str()).unwrap_or("");
    let mut lines = vec![
        Line::from(vec![
            Span::styled(
                format!("{} ", i.severity.as_str()),
                severity_style(theme, i.severity),
            ),
            Span::styled(fit(&i.title, w.saturating_sub(5)), theme.title()),
        ]),
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
    ];
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
            .map(|c| match app.data.controls.get(c) {
                Some(ctl) => format!("{c} {} (in force)", ctl.kind.as_str()),
                None => format!("{c} (lifted)"),
            })
            .collect();
        lines.push(Line::from(vec![
            Span::styled("controls ", theme.muted()),
            Span::raw(fit(&linked.join(", "), w)),
        ]));
    }
    let viewers = app.data.viewers(&i.id, me);
    if !viewers.is_empty() {
        lines.push(Line::from(Span::styled(
            format!("also looking: {}", viewers.join(", ")),
            theme.warning(),
        )));
    }
    lines.push(Line::from(Span::styled("timeline", theme.muted())));
    let room = (area.height as usize).saturating_sub(lines.len() + 2);
    let skip = i.timeline.len().saturating_sub(room);
    for e in i.timeline.iter().skip(skip) {
        lines.push(Line::from(vec![
            Span::styled(format!("{} ", e.at.format("%H:%M:%S")), theme.muted()),
            Span::styled(format!("{} ", fit(&e.actor, 14)), theme.accent()),
            Span::raw(fit(&e.text, w.saturating_sub(24))),
        ]));
    }
    frame.render_widget(
        Paragraph::new(lines).block(theme.block(format!(" {} ", i.id), false)),
        area,
    );
}

fn countdown(app: &App, a: &Approval) -> String {
    let left = (a.deadline - app.now).num_seconds();
    if left <= 0 {
        "due".into()
    } else {
        short_duration(left)
    }
}

fn args_summary(a: &Approval) -> String {
    match a.args.as_object() {
        Some(m) => m
            .iter()
            .take(3)
            .map(|(k, v)| {
                format!(
                    "{k}={}",
                    v.as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| v.to_string())
                )
            })
            .collect::<Vec<_>>()
            .join(" "),
        None => a.args.to_string(),
    }
}

fn approvals(app: &App, theme: &Theme, frame: &mut Frame, area: Rect) {
    if app.list(Screen::Approvals).detail {
        let detail = app
            .selected(Screen::Approvals)
            .and_then(|id| app.data.approvals.get(&id));
        return approval_detail(app, theme, frame, area, detail);
    }
    let (list_area, detail_area) = split_list_detail(area);
    let list = app.list(Screen::Approvals);
    let me = app.operator.as_ref().map(|o| o.name.as_str()).unwrap_or("");
    let (ids, selected) = app.selection(Screen::Approvals);
    let columns = Columns::<Approval>::new()
        .add("due in", 7, 0, |a| {
            let left = (a.deadline - app.now).num_seconds();
            let due_style = if left <= 60 {
                theme.critical()
            } else if left <= 180 {
                theme.warning()
            } else {
                theme.text()
            };
            Cell::from(countdown(app, a)).style(due_style)
        })
        .add("id", 7, 1, |a| {
            Cell::from(a.id.clone()).style(theme.accent())
        })
        .add("agent", 16, 2, |a| Cell::from(fit(&a.agent, 16)))
        .add("action", 16, 3, |a| Cell::from(fit(&a.action, 16)))
        .add("risk", 8, 4, |a| {
            Cell::from(risk_name(a.risk)).style(match a.risk {
                Risk::Critical => theme.critical(),
                Risk::High => theme.warning(),
                Risk::Low | Risk::Medium => theme.text(),
            })
        })
        .add("arguments", 24, 6, |a| {
            Cell::from(fit(&args_summary(a), 40))
        })
        .add("state", 9, 5, |a| {
            Cell::from(a.state.as_str()).style(if a.state == ApprovalState::Escalated {
                theme.warning()
            } else {
                theme.text()
            })
        })
        .add("viewing", 10, 7, |a| {
            Cell::from(fit(&app.data.viewers(&a.id, me).join(","), 10)).style(theme.accent())
        });
    table(
        frame,
        list_area,
        theme,
        filtered_title("Pending approvals, nearest deadline first", &list.filter),
        true,
        &columns,
        5,
        &ids,
        selected,
        |id| app.data.approvals.get(id),
    );
    let detail = selected
        .and_then(|at| ids.get(at))
        .and_then(|id| app.data.approvals.get(id));
    approval_detail(app, theme, frame, detail_area, detail);
}

/// The wire name of a risk level, as the hub and the agents write it.
fn risk_name(r: Risk) -> &'static str {
    match r {
        Risk::Low => "low",
        Risk::Medium => "medium",
        Risk::High => "high",
        Risk::Critical => "critical",
    }
}

fn approval_detail(app: &App, theme: &Theme, frame: &mut Frame, area: Rect, a: Option<&Approval>) {
    let Some(a) = a else {
        frame.render_widget(
            Paragraph::new("Nothing waiting for a decision.")
                .style(theme.muted())
                .block(theme.block(" Detail ", false)),
            area,
        );
        return;
    };
    let w = area.width.saturating_sub(4) as usize;
    let field = |name: &str, value: String| {
        Line::from(vec![
            Span::styled(format!("{name:<9}"), theme.muted()),
            Span::raw(fit(&value, w.saturating_sub(9))),
        ])
    };
    let mut lines = vec![
        field("agent", format!("{} ({})", a.agent, a.workflow)),
        field("run", a.run_id.clone().unwrap_or_else(|| "—".into())),
        field(
            "action",
            format!("{} via {}", a.action, a.tool.as_deref().unwrap_or("—")),
        ),
        field(
            "risk",
            format!(
                "{}{}",
                risk_name(a.risk),
                if a.approvals_required > 1 {
                    format!(" · needs {} approvers", a.approvals_required)
                } else {
                    String::new()
                }
            ),
        ),
        field(
            "deadline",
            format!(
                "{} (in {})",
                a.deadline.format("%H:%M:%S"),
                countdown(app, a)
            ),
        ),
        field("reason", a.reason.clone().unwrap_or_else(|| "—".into())),
    ];
    if let Some(c) = &a.context {
        lines.push(field("context", c.clone()));
    }
    let me = app.operator.as_ref().map(|o| o.name.as_str()).unwrap_or("");
    let viewers = app.data.viewers(&a.id, me);
    if !viewers.is_empty() {
        lines.push(Line::from(Span::styled(
            format!("also looking: {}", viewers.join(", ")),
            theme.warning(),
        )));
    }
    for d in &a.decisions {
        lines.push(field(
            "decided",
            format!(
                "{} by {} at {}",
                serde_json::to_value(d.verdict)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default(),
                d.by,
                d.at.format("%H:%M:%S")
            ),
        ));
    }
    lines.push(Line::from(Span::styled("arguments", theme.muted())));
    let pretty = serde_json::to_string_pretty(&a.args).unwrap_or_default();
    for l in pretty.lines() {
        lines.push(Line::from(Span::styled(fit(l, w), theme.accent())));
    }
    frame.render_widget(
        Paragraph::new(lines).block(theme.block(format!(" {} ", a.id), false)),
        area,
    );
}

fn controls(app: &App, theme: &Theme, frame: &mut Frame, area: Rect) {
    let list = app.list(Screen::Controls);
    let (ids, selected) = app.selection(Screen::Controls);
    let columns = Columns::<Control>::new()
        .add("id", 7, 0, |c| {
            Cell::from(c.id.clone()).style(theme.accent())
        })
        .add("agent", 16, 1, |c| {
            if c.agent == "*" {
                Cell::from("* (fleet)").style(theme.critical())
            } else {
                Cell::from(fit(&c.agent, 16)).style(theme.text())
            }
        })
        .add("kind", 16, 2, |c| {
            Cell::from(c.kind.as_str()).style(theme.warning())
        })
        .add("target", 18, 4, |c| {
            Cell::from(fit(
                c.tool.as_deref().or(c.version.as_deref()).unwrap_or("—"),
                18,
            ))
        })
        .add("set by", 10, 5, |c| Cell::from(fit(&c.set_by, 10)))
        .add("time left", 12, 3, |c| {
            Cell::from(
                c.expires_at
                    .map(|t| short_duration((t - app.now).num_seconds()))
                    .unwrap_or_else(|| "until lifted".into()),
            )
        })
        .add("reason", 24, 6, |c| Cell::from(fit(&c.reason, 60)));
    table(
        frame,
        area,
        theme,
        filtered_title("Controls in force", &list.filter),
        true,
        &columns,
        6,
        &ids,
        selected,
        |id| app.data.controls.get(id),
    );
}

fn agents(app: &App, theme: &Theme, frame: &mut Frame, area: Rect) {
    let list = app.list(Screen::Agents);
    let (ids, selected) = app.selection(Screen::Agents);
    // Counted once per change of incidents, approvals or controls, not per
    // row.
    let loads = app.agent_loads();
    let warn_if = |n: usize| if n > 0 { theme.warning() } else { theme.text() };
    // The worst alert of an agent's series; only visible rows ask.
    let alert_of = |id: &str| {
        let mut worst: Option<AlertLevel> = None;
        for s in app.data.slos.values().filter(|s| s.agent == id) {
            worst = Some(match (worst, s.alert) {
                (Some(AlertLevel::Page), _) | (_, AlertLevel::Page) => AlertLevel::Page,
                (Some(AlertLevel::Ticket), _) | (_, AlertLevel::Ticket) => AlertLevel::Ticket,
                _ => AlertLevel::None,
            });
        }
        worst
    };
    let owner = |a: &Agent| {
        a.profile.as_ref().and_then(|p| {
            p.incident_owner
                .as_ref()
                .or(p.technical_owner.as_ref())
                .or(p.business_owner.as_ref())
                .map(|c| c.name.clone())
        })
    };
    let columns = Columns::<Agent>::new()
        .add("agent", 18, 0, |a| {
            Cell::from(fit(&a.id, 18)).style(theme.accent())
        })
        .add("SLO", 6, 1, |a| match alert_of(&a.id) {
            Some(level) => alert_cell(theme, level),
            None => Cell::from("—").style(theme.muted()),
        })
        .add("crit", 8, 3, |a| {
            match a.profile.as_ref().and_then(|p| p.criticality) {
                Some(c) => Cell::from(c.as_str()).style(match c {
                    Criticality::Critical | Criticality::High => theme.warning(),
                    _ => theme.text(),
                }),
                None => Cell::from("—").style(theme.muted()),
            }
        })
        .add("owner", 16, 5, |a| match owner(a) {
            Some(name) => Cell::from(fit(&name, 16)),
            None => Cell::from("none").style(theme.warning()),
        })
        .add("last seen", 9, 4, |a| {
            Cell::from(
                a.last_seen
                    .map_or_else(|| "never".to_string(), |t| short_duration(age(app.now, t))),
            )
        })
        .add("runs/min", 8, 6, |a| {
            Cell::from(a.runs_last_minute.to_string())
        })
        .add("inc", 4, 7, |a| {
            let n = loads.of(&a.id).incidents;
            Cell::from(n.to_string()).style(warn_if(n))
        })
        .add("appr", 4, 8, |a| {
            Cell::from(loads.of(&a.id).approvals.to_string())
        })
        .add("ctl", 4, 9, |a| {
            let n = loads.of(&a.id).controls;
            Cell::from(n.to_string()).style(warn_if(n))
        })
        .add("autonomy", 17, 10, |a| {
            Cell::from(
                a.profile
                    .as_ref()
                    .and_then(|p| p.autonomy)
                    .map_or("—", |x| x.as_str()),
            )
        })
        .add("heartbeat", 9, 11, |a| {
            Cell::from(
                a.last_heartbeat
                    .map_or_else(|| "—".to_string(), |t| short_duration(age(app.now, t))),
            )
        })
        .add("findings", 24, 2, |a| {
            let text: Vec<&str> = a
                .findings
                .iter()
                .map(|f| super::agent_view::finding_text(*f))
                .collect();
            Cell::from(fit(&text.join(", "), 40)).style(if a.findings.is_empty() {
                theme.text()
            } else {
                theme.warning()
            })
        })
        .add("model", 22, 12, |a| {
            Cell::from(fit(a.versions.model.as_deref().unwrap_or("—"), 22))
        })
        .add("prompt", 10, 13, |a| {
            Cell::from(fit(a.versions.prompt.as_deref().unwrap_or("—"), 10))
        });
    table(
        frame,
        area,
        theme,
        filtered_title("Agents — i detail · f filter", &list.filter),
        true,
        &columns,
        8,
        &ids,
        selected,
        |id| app.data.agents.get(id),
    );
}

fn runbook(app: &App, theme: &Theme, frame: &mut Frame, area: Rect) {
    let incident = app
        .selected(Screen::Incidents)
        .and_then(|id| app.data.incidents.get(&id));
    let Some(incident) = incident else {
        frame.render_widget(
            Paragraph::new("No incident selected: choose one on screen 2; its runbook shows here.")
                .style(theme.muted())
                .block(theme.block(" Runbook ", true)),
            area,
        );
        return;
    };
    let Some(rb) = app.selected_runbook() else {
        let lines = vec![
            Line::from(vec![
                Span::styled(format!("{} ", incident.id), theme.accent()),
                Span::styled(
                    fit(&incident.title, area.width.saturating_sub(12) as usize),
                    theme.title(),
                ),
            ]),
            Line::from(""),
            Line::from(format!(
                "linked runbook: {} — this hub serves no runbook of that name",
                incident.runbook.as_deref().unwrap_or("none")
            )),
        ];
        frame.render_widget(
            Paragraph::new(lines)
                .wrap(Wrap { trim: true })
                .block(theme.block(" Runbook ", true)),
            area,
        );
        return;
    };
    let (steps_area, body_area) = if area.width >= 140 {
        let p = Layout::horizontal([Constraint::Percentage(45), Constraint::Percentage(55)])
            .split(area);
        (p[0], p[1])
    } else {
        let p =
            Layout::vertical([Constraint::Percentage(50), Constraint::Percentage(50)]).split(area);
        (p[0], p[1])
    };
    let w = steps_area.width.saturating_sub(4) as usize;
    let mut lines = vec![Line::from(vec![
        Span::styled(format!("{} ", incident.id), theme.accent()),
        Span::styled(fit(&incident.title, w.saturating_sub(8)), theme.title()),
    ])];
    lines.push(Line::from(Span::styled(
        format!("{} v{} · owner {}", rb.name, rb.version, rb.owner),
        theme.muted(),
    )));
    let off = app.unavailable(super::action::Action::RunStep);
    for (n, step) in rb.steps.iter().enumerate() {
        let done = incident
            .steps
            .iter()
            .find(|s| s.runbook == rb.name && s.step == step.index);
        let mark = if done.is_some() { "☑" } else { "☐" };
        let action = match &step.action {
            Some(a) => {
                let v = serde_json::to_value(a).unwrap_or_default();
                format!(" [{}]", v["kind"].as_str().unwrap_or("action"))
            }
            None => String::new(),
        };
        let style = if n == app.step_focus {
            theme.selection()
        } else if done.is_some() {
            theme.muted()
        } else {
            theme.text()
        };
        lines.push(Line::from(vec![
            Span::styled(format!("{mark} {}. ", step.index), style),
            Span::styled(fit(&step.text, w.saturating_sub(8 + action.len())), style),
            Span::styled(
                action,
                if off.is_some() {
                    theme.muted()
                } else {
                    theme.warning()
                },
            ),
        ]));
        if let Some(d) = done {
            lines.push(Line::from(Span::styled(
                format!(
                    "    {} by {} at {}",
                    fit(&d.result, w.saturating_sub(30)),
                    d.by,
                    d.at.format("%H:%M:%S")
                ),
                theme.ok(),
            )));
        }
    }
    if let Some(why) = off {
        lines.push(Line::from(Span::styled(
            format!("steps: {why}"),
            theme.muted(),
        )));
    }
    frame.render_widget(
        Paragraph::new(lines).block(theme.block(" Steps (x runs the focused one) ", true)),
        steps_area,
    );
    frame.render_widget(
        Paragraph::new(super::markdown::lines(&rb.body, theme))
            .wrap(Wrap { trim: false })
            .block(theme.block(format!(" {} ", fit(&rb.title, 60)), false)),
        body_area,
    );
}

fn handoff(app: &App, theme: &Theme, frame: &mut Frame, area: Rect) {
    let body = match &app.handoff {
        Some(Ok(_)) => {
            // Parsed once per summary; the screen does not scroll, so only
            // the first lines can show (each takes at least one row).
            let rows = area.height.saturating_sub(2) as usize;
            let lines = app.handoff_lines(theme).unwrap_or_default();
            lines.iter().take(rows).cloned().collect()
        }
        Some(Err(e)) => vec![Line::from(Span::styled(
            format!("could not fetch the summary: {}", clean(e)),
            theme.critical(),
        ))],
        None => vec![Line::from(Span::styled(
            "fetching the shift summary…",
            theme.muted(),
        ))],
    };
    frame.render_widget(
        Paragraph::new(body)
            .wrap(Wrap { trim: false })
            .block(theme.block(
                " Shift handoff (last 8 h) — r refresh · n note for the next shift ",
                true,
            )),
        area,
    );
}

fn hints(app: &App, theme: &Theme, frame: &mut Frame, area: Rect) {
    let ctx = app.context();
    let mut actions: Vec<Action> = match app.screen {
        _ if app.agent_detail.is_some() => {
            vec![Action::Refresh, Action::Contain, Action::Close]
        }
        Screen::Approvals => vec![
            Action::Approve,
            Action::Reject,
            Action::Contain,
            Action::Inspect,
        ],
        Screen::Incidents => vec![
            Action::Acknowledge,
            Action::Take,
            Action::Escalate,
            Action::Note,
            Action::Resolve,
            Action::Contain,
            Action::Inspect,
        ],
        Screen::Controls => vec![Action::Lift, Action::Inspect],
        Screen::Overview => vec![Action::Contain, Action::Inspect],
        Screen::Agents => vec![Action::Contain, Action::Inspect, Action::AgentFilter],
        _ => vec![],
    };
    if app.agent_detail.is_some() {
        actions.extend([Action::Help, Action::Quit]);
    } else {
        actions.extend([Action::Filter, Action::Copy, Action::Help, Action::Quit]);
    }
    let mut spans = Vec::new();
    for a in actions {
        let keys = app.keymap.keys_for(ctx, a);
        let Some(k) = keys.first() else { continue };
        let off = app.unavailable(a).is_some();
        let label = a.name().replace('_', " ");
        spans.push(Span::styled(
            format!(" {k} "),
            if off { theme.muted() } else { theme.accent() },
        ));
        spans.push(Span::styled(
            format!("{label} "),
            if off {
                theme.muted().add_modifier(Modifier::CROSSED_OUT)
            } else {
                theme.text()
            },
        ));
    }
    if let Some(op) = &app.operator
        && app.context() != Context::Global
        && let Some(why) = [Action::Approve, Action::Acknowledge, Action::Contain]
            .iter()
            .filter(|a| a.contexts().contains(&ctx) || **a == Action::Contain)
            .find_map(|a| app.unavailable(*a))
    {
        spans.push(Span::styled(
            format!(" ({} {}: {why})", op.name, op.role.as_str()),
            theme.muted(),
        ));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn status(app: &App, theme: &Theme, frame: &mut Frame, area: Rect) {
    let mut spans = Vec::new();
    let conn = match &app.connection {
        Connection::Connected => match app.stale_for() {
            Some(q) => Span::styled(format!(" ⚠ stale {}s ", q.as_secs()), theme.critical()),
            None => Span::styled(" ● connected ", theme.ok()),
        },
        Connection::Connecting { attempt } => Span::styled(
            format!(" ◌ connecting (attempt {attempt}) "),
            theme.warning(),
        ),
        Connection::Reconnecting {
            attempt,
            next_at,
            error,
        } => {
            let secs = next_at
                .saturating_duration_since(std::time::Instant::now())
                .as_secs();
            Span::styled(
                format!(
                    " ◌ reconnecting (attempt {attempt}, next try in {secs}s: {}) ",
                    fit(error, 30)
                ),
                theme.warning(),
            )
        }
        Connection::Refused(why) => Span::styled(format!(" ✗ {} ", fit(why, 50)), theme.critical()),
        Connection::Replay { clock, done } => Span::styled(
            format!(
                " ▶ REPLAY {}{} ",
                clock
                    .map(|c| c.format("%Y-%m-%d %H:%M:%S").to_string())
                    .unwrap_or_default(),
                if *done { " (end)" } else { "" }
            ),
            theme.accent(),
        ),
    };
    spans.push(conn);
    if app.data.fleet_paused() {
        spans.push(Span::styled(
            " FLEET PAUSED ",
            theme.critical().add_modifier(Modifier::REVERSED),
        ));
    }
    if let Some(p) = app.pending.values().next() {
        let n = app.pending.len();
        let text = match &p.retrying {
            Some((attempt, error)) => format!(
                " ⧗ {n} pending: {} (retry {attempt}: {}; X cancels) ",
                p.label,
                fit(error, 30)
            ),
            None => format!(" ⧗ {n} pending: {} ", p.label),
        };
        spans.push(Span::styled(text, theme.warning()));
    }
    if let Some((level, text)) = app.message() {
        spans.push(Span::styled(
            format!(" {} ", clean(text)),
            match level {
                Level::Info => theme.ok(),
                Level::Error => theme.critical(),
            },
        ));
    }
    if let Some(op) = &app.operator {
        spans.push(Span::styled(
            format!(
                " {} ({}){} ",
                op.name,
                op.role.as_str(),
                if app.read_only { ", read-only" } else { "" }
            ),
            theme.text(),
        ));
    } else if app.read_only {
        spans.push(Span::styled(" read-only ", theme.muted()));
    }
    let me = app.operator.as_ref().map(|o| o.name.as_str()).unwrap_or("");
    let others: Vec<String> = app
        .data
        .presence
        .iter()
        .filter(|p| p.operator != me)
        .map(|p| match &p.viewing {
            Some(v) => format!("{}→{v}", p.operator),
            None => p.operator.clone(),
        })
        .collect();
    if !others.is_empty() {
        spans.push(Span::styled(
            format!(" also here: {} ", fit(&others.join(", "), 40)),
            theme.accent(),
        ));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let w = width.min(area.width.saturating_sub(2));
    let h = height.min(area.height.saturating_sub(2));
    Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    }
}

fn dialog(app: &App, theme: &Theme, frame: &mut Frame, area: Rect, d: &Dialog) {
    match d {
        Dialog::Help { scroll } => {
            let ctx = app.context();
            let mut lines = vec![Line::from(Span::styled(
                format!("Keys on {} (from the active keymap)", app.screen.title()),
                theme.title(),
            ))];
            for c in [ctx, Context::Global, Context::Dialog] {
                let b = app.keymap.bindings(c);
                if b.is_empty() {
                    continue;
                }
                lines.push(Line::from(Span::styled(
                    format!("[{}]", c.name()),
                    theme.muted(),
                )));
                let mut seen: Vec<Action> = Vec::new();
                for (_, a) in b {
                    if seen.contains(a) {
                        continue;
                    }
                    seen.push(*a);
                    let keys = app.keymap.keys_for(c, *a).join(", ");
                    let why = app
                        .unavailable(*a)
                        .map(|w| format!(" ({w})"))
                        .unwrap_or_default();
                    lines.push(Line::from(vec![
                        Span::styled(format!("  {keys:<16} "), theme.accent()),
                        Span::raw(format!("{}{why}", a.help())),
                    ]));
                }
            }
            let r = centered(area, 84, area.height.saturating_sub(2));
            frame.render_widget(Clear, r);
            frame.render_widget(
                Paragraph::new(lines)
                    .scroll((*scroll, 0))
                    .block(theme.block(" Help — any other key closes ", true)),
                r,
            );
        }
        Dialog::Confirm { title, lines, .. } => {
            let mut text: Vec<Line> = lines.iter().map(|l| Line::from(fit(l, 70))).collect();
            text.push(Line::from(""));
            text.push(Line::from(vec![
                Span::styled("enter", theme.accent()),
                Span::raw(" confirm   "),
                Span::styled("esc", theme.accent()),
                Span::raw(" cancel"),
            ]));
            let r = centered(area, 76, text.len() as u16 + 2);
            frame.render_widget(Clear, r);
            frame.render_widget(
                Paragraph::new(text).block(theme.block(format!(" {} ", clean(title)), true)),
                r,
            );
        }
        Dialog::Menu {
            title,
            items,
            selected,
            ..
        } => {
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
        Dialog::Text {
            title,
            hint,
            input,
            error,
            ..
        } => {
            let r = centered(area, 76, hint.len() as u16 + 6);
            frame.render_widget(Clear, r);
            let block = theme.block(format!(" {} ", clean(title)), true);
            let inner = block.inner(r);
            frame.render_widget(block, r);
            let mut y = inner.y;
            for h in hint {
                frame.render_widget(
                    Paragraph::new(fit(h, inner.width as usize)).style(theme.muted()),
                    Rect {
                        y,
                        height: 1,
                        ..inner
                    },
                );
                y += 1;
            }
            frame.render_widget(
                &**input,
                Rect {
                    y,
                    height: 1,
                    ..inner
                },
            );
            y += 1;
            if let Some(e) = error {
                frame.render_widget(
                    Paragraph::new(fit(e, inner.width as usize)).style(theme.critical()),
                    Rect {
                        y,
                        height: 1,
                        ..inner
                    },
                );
            }
            let help = Rect {
                y: inner.y + inner.height.saturating_sub(1),
                height: 1,
                ..inner
            };
            frame.render_widget(
                Paragraph::new("enter submit · esc cancel").style(theme.muted()),
                help,
            );
        }
        Dialog::ContainForm {
            lines,
            ttl,
            reason,
            field,
            error,
            ..
        } => {
            let r = centered(area, 76, lines.len() as u16 + 8);
            frame.render_widget(Clear, r);
            let block = theme.block(" Apply containment? ", true);
            let inner = block.inner(r);
            frame.render_widget(block, r);
            let mut y = inner.y;
            for l in lines {
                frame.render_widget(
                    Paragraph::new(fit(l, inner.width as usize)),
                    Rect {
                        y,
                        height: 1,
                        ..inner
                    },
                );
                y += 1;
            }
            y += 1;
            for (label, t, f) in [
                ("TTL (e.g. 30m, empty: until lifted): ", ttl, FormField::Ttl),
                ("reason: ", reason, FormField::Reason),
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
            if let Some(e) = error {
                frame.render_widget(
                    Paragraph::new(fit(e, inner.width as usize)).style(theme.critical()),
                    Rect {
                        y,
                        height: 1,
                        ..inner
                    },
                );
            }
            let help = Rect {
                y: inner.y + inner.height.saturating_sub(1),
                height: 1,
                ..inner
            };
            frame.render_widget(
                Paragraph::new("tab switch field · enter apply · esc cancel").style(theme.muted()),
                help,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The window drawn is what ratatui showed when it was given every row
    /// and a fresh `TableState` (offset 0) each frame, as the lists were
    /// drawn before: same lines, same selection, at every position.
    #[test]
    fn the_window_is_what_a_full_table_from_offset_zero_shows() {
        use ratatui::Terminal;
        use ratatui::backend::TestBackend;

        let draw = |rows: &[String], selected: Option<usize>, height: u16| {
            let mut terminal = Terminal::new(TestBackend::new(30, height)).expect("terminal");
            terminal
                .draw(|f| {
                    let body = rows.iter().map(|r| Row::new([Cell::from(r.clone())]));
                    let t = Table::new(body, [Constraint::Min(5)])
                        .header(Row::new(["head"]))
                        .block(ratatui::widgets::Block::bordered())
                        .highlight_symbol("▶");
                    let mut state = TableState::default().with_selected(selected);
                    f.render_stateful_widget(t, f.area(), &mut state);
                })
                .expect("draw");
            terminal.backend().buffer().clone()
        };
        for len in [0usize, 1, 2, 5, 17, 60] {
            let rows: Vec<String> = (0..len).map(|i| format!("row {i}")).collect();
            for height in [1u16, 2, 3, 4, 5, 10, 24] {
                let body = height.saturating_sub(3) as usize;
                let selections: Vec<Option<usize>> = if len == 0 {
                    vec![None]
                } else {
                    (0..len).map(Some).collect()
                };
                for selected in selections {
                    let full = draw(&rows, selected, height);
                    let shown = window(len, selected, body);
                    let first = shown.start;
                    let windowed = draw(&rows[shown], selected.map(|s| s - first), height);
                    assert_eq!(
                        full, windowed,
                        "{len} rows, height {height}, selected {selected:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn columns_drop_by_priority() {
        let cols = [(10, 0), (10, 2), (10, 1)];
        assert_eq!(keep_columns(&cols, 100), vec![0, 1, 2]);
        assert_eq!(keep_columns(&cols, 23), vec![0, 2]);
        assert_eq!(keep_columns(&cols, 5), Vec::<usize>::new());
    }
}
