//! The History screen (`8`, `:history`): decided approvals (who, when,
//! the decision, the reason, how long the agent waited), resolved
//! incidents (MTTA, MTTR, owner) and ended controls, newest first, read
//! from the hub a page at a time. `f` switches between the three, `/`
//! filters (the hub searches), `ret` opens one, `r` reads again.

use std::sync::Arc;

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph};

use crate::model::approval::Verdict;
use crate::model::history::{ApprovalRecord, ControlRecord, HistoryKind, IncidentRecord};

use super::super::action::Action;
use super::super::app::Effect;
use super::super::ctx::{Ctx, Do, ListState};
use super::super::sanitize::{clean, fit, width};
use super::super::screen::{Screen, short_duration};
use super::super::scroll::WHOLE;
use super::super::table::{Columns, list_and_detail, severity_style, table};
use super::super::theme::Theme;
use super::paged::{Keyed, Paged};
use super::{Pane, list_title, movement, navigate};

/// One row of history.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    /// A decided approval.
    Approval(Box<ApprovalRecord>),
    /// A resolved incident.
    Incident(Box<IncidentRecord>),
    /// An ended control.
    Control(Box<ControlRecord>),
}

impl Keyed for Record {
    fn key(&self) -> String {
        match self {
            Self::Approval(a) => a.id.clone(),
            Self::Incident(i) => i.id.clone(),
            Self::Control(c) => c.id.clone(),
        }
    }
}

/// A page of history to fetch: which list, from where, with what filter,
/// and the fetch it answers.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryFetch {
    /// Which history.
    pub kind: HistoryKind,
    /// The cursor of the page; none for the newest.
    pub before: Option<String>,
    /// The filter, searched by the hub.
    pub q: String,
    /// The fetch it is.
    pub generation: u64,
}

/// The History screen's state.
#[derive(Debug)]
pub struct History {
    /// Selection, filter and detail.
    pub list: ListState,
    /// Which history is listed.
    pub kind: HistoryKind,
    /// The rows loaded.
    pub rows: Paged<Record>,
}

impl Default for History {
    fn default() -> Self {
        Self {
            list: ListState::default(),
            kind: HistoryKind::Approvals,
            rows: Paged::default(),
        }
    }
}

impl History {
    /// The first page again, for the kind and filter shown.
    fn restart(&mut self) -> Effect {
        self.list.selected = None;
        self.list.scroll.reset();
        let generation = self.rows.restart(&self.list.filter);
        Effect::FetchHistory(HistoryFetch {
            kind: self.kind,
            before: None,
            q: self.list.filter.clone(),
            generation,
        })
    }

    /// The fetch due on a tick while the screen is shown: the first page
    /// when the filter changed (once typing has paused a moment).
    pub fn due(&mut self, shown: bool, now: chrono::DateTime<chrono::Utc>) -> Option<Effect> {
        self.rows
            .filter_settled(&self.list.filter, shown, now)
            .then(|| self.restart())
    }

    /// The answer to fetch `generation`.
    pub fn answer(&mut self, generation: u64, got: Result<(Vec<Record>, Option<String>), String>) {
        self.rows.answer(generation, got);
    }

    /// Moves the selection, and asks for the next page near the end.
    fn move_by(&mut self, delta: isize) -> Vec<Do> {
        let Some((id, more)) = self.rows.step(self.list.selected.as_deref(), delta) else {
            return Vec::new();
        };
        self.list.selected = Some(id);
        more.map(|(generation, cursor)| {
            Do::Effect(Effect::FetchHistory(HistoryFetch {
                kind: self.kind,
                before: Some(cursor),
                q: self.rows.asked_with.clone().unwrap_or_default(),
                generation,
            }))
        })
        .into_iter()
        .collect()
    }

    /// Where the selection is.
    fn at(&self) -> Option<usize> {
        self.rows.at(self.list.selected.as_deref())
    }
}

impl Pane for History {
    list_pane!(Screen::History);

    fn owns(&self) -> &'static [Action] {
        &[Action::HistoryKind]
    }

    fn handle(&mut self, action: Action, ctx: &Ctx) -> Vec<Do> {
        match action {
            Action::Refresh => return vec![Do::Effect(self.restart())],
            Action::HistoryKind => {
                self.kind = match self.kind {
                    HistoryKind::Approvals => HistoryKind::Incidents,
                    HistoryKind::Incidents => HistoryKind::Controls,
                    HistoryKind::Controls => HistoryKind::Approvals,
                };
                return vec![Do::Effect(self.restart())];
            }
            _ => {}
        }
        if !self.list.detail
            && let Some(delta) = movement(action)
        {
            return self.move_by(delta);
        }
        navigate(Screen::History, &mut self.list, action, ctx);
        Vec::new()
    }

    fn hints(&self) -> &'static [Action] {
        &[Action::HistoryKind, Action::Refresh, Action::Open]
    }

    /// Read again each time the screen is shown: history grows.
    fn shown(&mut self) -> Vec<Effect> {
        vec![self.restart()]
    }

    fn selection(&self, _ctx: &Ctx) -> (Arc<Vec<String>>, Option<usize>) {
        (self.rows.ids(), self.at())
    }

    fn selected_agent(&self, ctx: &Ctx) -> Option<(String, Option<String>)> {
        let id = self.selected(ctx)?;
        match self.rows.get(&id)? {
            Record::Approval(a) => Some((a.agent.clone(), None)),
            Record::Incident(i) => i.agent.clone().map(|a| (a, None)),
            Record::Control(c) => (c.agent != "*").then(|| (c.agent.clone(), None)),
        }
    }

    fn draw(&self, ctx: &Ctx, theme: &Theme, frame: &mut Frame, area: Rect) {
        let (list_area, detail_area) = list_and_detail(area, self.list.detail);
        let (ids, at) = self.selection(ctx);
        if let Some(list_area) = list_area {
            let what = match self.kind {
                HistoryKind::Approvals => "Decided approvals",
                HistoryKind::Incidents => "Resolved incidents",
                HistoryKind::Controls => "Ended controls",
            };
            let title = list_title(
                what,
                &format!("newest first ({})", self.rows.extent()),
                &self.list,
                0,
            );
            table(
                frame,
                list_area,
                theme,
                title,
                true,
                &columns(ctx, theme, self.kind),
                flex(self.kind),
                &ids,
                at,
                |id| self.rows.get(id),
            );
        }
        let record = at.and_then(|i| ids.get(i)).and_then(|id| self.rows.get(id));
        let block = theme.block(" Detail ", false);
        let lines = match (&self.rows.error, record) {
            (Some(e), _) => vec![Line::from(Span::styled(
                format!("could not read the history: {}", clean(e)),
                theme.critical(),
            ))],
            (None, Some(r)) => detail(r, theme),
            (None, None) if self.rows.loading => {
                vec![Line::from(Span::styled(
                    "reading the history…",
                    theme.muted(),
                ))]
            }
            (None, None) => vec![Line::from(Span::styled(
                "Nothing here yet: f shows another history, / searches it.",
                theme.muted(),
            ))],
        };
        if self.list.detail {
            self.list
                .scroll
                .draw(frame, detail_area, block, &lines, theme);
        } else {
            frame.render_widget(Paragraph::new(lines).block(block), detail_area);
        }
    }
}

/// The column that takes the width left: the title or the reason.
fn flex(kind: HistoryKind) -> usize {
    match kind {
        HistoryKind::Approvals => 6,
        HistoryKind::Incidents => 3,
        HistoryKind::Controls => 6,
    }
}

/// `03:12` today's times, `11-20 03:12` older ones.
fn when(ctx: &Ctx, t: chrono::DateTime<chrono::Utc>) -> String {
    if t.date_naive() == ctx.now.date_naive() {
        t.format("%H:%M").to_string()
    } else {
        t.format("%m-%d %H:%M").to_string()
    }
}

/// A duration in seconds as the lists say it.
fn took(s: u64) -> String {
    short_duration(i64::try_from(s).unwrap_or(i64::MAX))
}

/// The columns of the history listed.
fn columns<'a>(ctx: &'a Ctx, theme: &'a Theme, kind: HistoryKind) -> Columns<'a, Record> {
    let when_col = move |r: &Record| {
        let t = match r {
            Record::Approval(a) => a.decided_at,
            Record::Incident(i) => i.resolved_at,
            Record::Control(c) => c.ended_at,
        };
        Cell::from(when(ctx, t)).style(theme.muted())
    };
    let id_col = move |r: &Record| Cell::from(r.key()).style(theme.accent());
    let base = Columns::<Record>::new()
        .add("when", 11, 0, when_col)
        .add("id", 7, 1, id_col)
        .fit(|r| width(&r.key()));
    match kind {
        HistoryKind::Approvals => approval_columns(base, theme),
        HistoryKind::Incidents => incident_columns(base, theme),
        HistoryKind::Controls => control_columns(base),
    }
}

/// A decided approval's columns after the time and id.
fn approval_columns<'a>(base: Columns<'a, Record>, theme: &'a Theme) -> Columns<'a, Record> {
    base.add("agent", 16, 6, |r| match r {
        Record::Approval(a) => Cell::from(fit(&a.agent, 16)),
        _ => Cell::default(),
    })
    .add("decision", 9, 2, move |r| match r {
        Record::Approval(a) => {
            Cell::from(a.decision.as_str()).style(if a.decision.as_str() == "approved" {
                theme.ok()
            } else {
                theme.warning()
            })
        }
        _ => Cell::default(),
    })
    .add("by", 10, 4, |r| match r {
        Record::Approval(a) => Cell::from(fit(a.decided_by.as_deref().unwrap_or("—"), 10)),
        _ => Cell::default(),
    })
    .add("waited", 7, 5, |r| match r {
        Record::Approval(a) => Cell::from(took(a.waited_s)),
        _ => Cell::default(),
    })
    .add("action · reason", 20, 3, |r| match r {
        Record::Approval(a) => Cell::from(fit(
            &format!("{} · {}", a.action, a.reason.as_deref().unwrap_or("—")),
            120,
        )),
        _ => Cell::default(),
    })
}

/// A resolved incident's columns after the time and id.
fn incident_columns<'a>(base: Columns<'a, Record>, theme: &'a Theme) -> Columns<'a, Record> {
    base.add("SEV", 4, 2, move |r| match r {
        Record::Incident(i) => {
            Cell::from(i.severity.as_str()).style(severity_style(theme, i.severity))
        }
        _ => Cell::default(),
    })
    .add("title", 24, 3, |r| match r {
        Record::Incident(i) => Cell::from(fit(&i.title, 120)),
        _ => Cell::default(),
    })
    .add("owner", 10, 4, |r| match r {
        Record::Incident(i) => Cell::from(fit(i.owner.as_deref().unwrap_or("—"), 10)),
        _ => Cell::default(),
    })
    .add("MTTA", 6, 5, |r| match r {
        Record::Incident(i) => Cell::from(i.mtta_s.map_or("—".into(), took)),
        _ => Cell::default(),
    })
    .add("MTTR", 6, 6, |r| match r {
        Record::Incident(i) => Cell::from(took(i.mttr_s)),
        _ => Cell::default(),
    })
}

/// An ended control's columns after the time and id.
fn control_columns(base: Columns<'_, Record>) -> Columns<'_, Record> {
    base.add("agent", 16, 2, |r| match r {
        Record::Control(c) => Cell::from(fit(&c.agent, 16)),
        _ => Cell::default(),
    })
    .add("kind", 16, 3, |r| match r {
        Record::Control(c) => Cell::from(c.kind.as_str()),
        _ => Cell::default(),
    })
    .add("ended", 8, 4, |r| match r {
        Record::Control(c) => Cell::from(c.state.as_str()),
        _ => Cell::default(),
    })
    .add("lasted", 7, 5, |r| match r {
        Record::Control(c) => Cell::from(took(c.active_s)),
        _ => Cell::default(),
    })
    .add("by · reason", 20, 6, |r| match r {
        Record::Control(c) => Cell::from(fit(
            &format!("{} · {}", c.lifted_by.as_deref().unwrap_or("TTL"), c.reason),
            120,
        )),
        _ => Cell::default(),
    })
}

/// A record in full, each field on its line (long text wraps).
fn detail(r: &Record, theme: &Theme) -> Vec<Line<'static>> {
    let field = |name: &str, value: String| {
        Line::from(vec![
            Span::styled(format!("{name:<13}"), theme.muted()),
            Span::raw(fit(&value, WHOLE)),
        ])
    };
    match r {
        Record::Approval(a) => approval_detail(a, field),
        Record::Incident(i) => incident_detail(i, field),
        Record::Control(c) => control_detail(c, field),
    }
}

/// A time in full.
fn at(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%SZ").to_string()
}

/// A value or a dash.
fn or_dash(v: Option<&str>) -> String {
    v.unwrap_or("—").to_string()
}

/// A decided approval's fields.
fn approval_detail(
    a: &ApprovalRecord,
    field: impl Fn(&str, String) -> Line<'static>,
) -> Vec<Line<'static>> {
    let mut lines = vec![
        field("approval", format!("{} · {}", a.id, a.decision.as_str())),
        field("agent", format!("{} ({})", a.agent, a.workflow)),
        field(
            "action",
            format!("{} via {}", a.action, or_dash(a.tool.as_deref())),
        ),
        field(
            "asked",
            format!(
                "{} · {}",
                at(a.requested_at),
                or_dash(a.request_reason.as_deref())
            ),
        ),
        field(
            "decided",
            format!(
                "{} by {} after {}",
                at(a.decided_at),
                or_dash(a.decided_by.as_deref()),
                took(a.waited_s)
            ),
        ),
        field("reason", or_dash(a.reason.as_deref())),
    ];
    for d in &a.decisions {
        let verdict = match d.verdict {
            Verdict::Approve => "approve",
            Verdict::Reject => "reject",
        };
        let why = d
            .reason
            .as_deref()
            .map(|r| format!(": {r}"))
            .unwrap_or_default();
        lines.push(field(
            "decision",
            format!("{verdict} by {} at {}{why}", d.by, at(d.at)),
        ));
    }
    lines.push(field("arguments", a.args.to_string()));
    lines
}

/// A resolved incident's fields.
fn incident_detail(
    i: &IncidentRecord,
    field: impl Fn(&str, String) -> Line<'static>,
) -> Vec<Line<'static>> {
    vec![
        field(
            "incident",
            format!("{} {} · {}", i.id, i.severity.as_str(), i.category.as_str()),
        ),
        field("title", i.title.clone()),
        field("agent", or_dash(i.agent.as_deref())),
        field("owner", or_dash(i.owner.as_deref())),
        field("opened", at(i.opened_at)),
        field("acknowledged", i.acknowledged_at.map_or("—".into(), at)),
        field(
            "resolved",
            format!(
                "{} by {}",
                at(i.resolved_at),
                or_dash(i.resolved_by.as_deref())
            ),
        ),
        field(
            "MTTA · MTTR",
            format!("{} · {}", i.mtta_s.map_or("—".into(), took), took(i.mttr_s)),
        ),
        field(
            "controls",
            if i.controls.is_empty() {
                "—".into()
            } else {
                i.controls.join(", ")
            },
        ),
        field("summary", or_dash(i.summary.as_deref())),
    ]
}

/// An ended control's fields.
fn control_detail(
    c: &ControlRecord,
    field: impl Fn(&str, String) -> Line<'static>,
) -> Vec<Line<'static>> {
    vec![
        field(
            "control",
            format!("{} {} · {}", c.id, c.kind.as_str(), c.state.as_str()),
        ),
        field("agent", c.agent.clone()),
        field(
            "target",
            or_dash(c.tool.as_deref().or(c.version.as_deref())),
        ),
        field("set", format!("{} by {}", at(c.set_at), c.set_by)),
        field(
            "ended",
            format!(
                "{} by {} after {}",
                at(c.ended_at),
                or_dash(c.lifted_by.as_deref()),
                took(c.active_s)
            ),
        ),
        field("incident", or_dash(c.incident.as_deref())),
        field("reason", c.reason.clone()),
    ]
}
