//! The Audit screen (`9`, `:audit`): the audit log newest first, read from
//! the hub a page at a time, under the state of its hash chain (intact, or
//! broken at entry N). `/` filters by `actor:NAME`, `kind:PREFIX` and
//! `agent:ID` (the hub filters); `ret` opens an entry; `r` reads again and
//! checks the chain.

use std::sync::Arc;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph};

use crate::model::audit::{AuditChain, AuditEntry, AuditOrder, AuditQuery};

use super::super::action::Action;
use super::super::app::Effect;
use super::super::ctx::{Ctx, Do, ListState};
use super::super::sanitize::{clean, fit, width};
use super::super::screen::Screen;
use super::super::scroll::WHOLE;
use super::super::table::{Columns, list_and_detail, table};
use super::super::theme::Theme;
use super::paged::{Keyed, PAGE_ROWS, Paged};
use super::{Pane, list_title, movement, navigate};

impl Keyed for AuditEntry {
    fn key(&self) -> String {
        self.seq.to_string()
    }
}

/// A page of the audit log to fetch, and the fetch it answers.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditFetch {
    /// The query: newest first, filtered, from a cursor.
    pub query: AuditQuery,
    /// The fetch it is.
    pub generation: u64,
}

/// The Audit screen's state.
#[derive(Debug, Default)]
pub struct Audit {
    /// Selection, filter and detail.
    pub list: ListState,
    /// The entries loaded.
    pub entries: Paged<AuditEntry>,
    /// The chain's state as the hub last checked it, or why it could not.
    pub chain: Option<Result<AuditChain, String>>,
}

/// The hub's query for a filter typed as `actor:dana kind:approval
/// agent:refund-bot`, or what in it is not understood.
pub fn query(filter: &str) -> Result<AuditQuery, String> {
    let mut q = AuditQuery {
        order: Some(AuditOrder::Newest),
        limit: Some(PAGE_ROWS),
        ..AuditQuery::default()
    };
    for word in filter.split_whitespace() {
        let (key, value) = word
            .split_once(':')
            .filter(|(_, v)| !v.is_empty())
            .ok_or_else(|| {
                format!("filter by actor:NAME, kind:PREFIX or agent:ID, not {word:?}")
            })?;
        let slot = match key {
            "actor" => &mut q.actor,
            "kind" => &mut q.kind,
            "agent" => &mut q.agent,
            _ => return Err(format!("filter by actor:, kind: or agent:, not {key}:")),
        };
        *slot = Some(value.trim_end_matches('.').to_string());
    }
    q.check()
        .map_err(|(param, why)| format!("{param}: {why}"))?;
    Ok(q)
}

impl Audit {
    /// The newest page again for the filter shown, and a check of the
    /// chain; a filter the hub would not understand is said instead.
    fn restart(&mut self) -> Vec<Do> {
        self.list.selected = None;
        self.list.scroll.reset();
        let generation = self.entries.restart(&self.list.filter);
        match query(&self.list.filter) {
            Ok(query) => vec![
                Do::Effect(Effect::FetchAudit(AuditFetch { query, generation })),
                Do::Effect(Effect::VerifyAudit),
            ],
            Err(e) => {
                self.entries.answer(generation, Err(e.clone()));
                vec![Do::error(e)]
            }
        }
    }

    /// The fetch due on a tick while the screen is shown: the newest page
    /// when the filter changed (once typing has paused a moment).
    pub fn due(&mut self, shown: bool, now: chrono::DateTime<chrono::Utc>) -> Vec<Do> {
        if self.entries.filter_settled(&self.list.filter, shown, now) {
            self.restart()
        } else {
            Vec::new()
        }
    }

    /// Moves the selection, and asks for the next page near the end.
    fn move_by(&mut self, delta: isize) -> Vec<Do> {
        let Some((id, more)) = self.entries.step(self.list.selected.as_deref(), delta) else {
            return Vec::new();
        };
        self.list.selected = Some(id);
        let Some((generation, cursor)) = more else {
            return Vec::new();
        };
        let Ok(mut query) = query(self.entries.asked_with.as_deref().unwrap_or("")) else {
            return Vec::new();
        };
        query.before = cursor.parse().ok();
        vec![Do::Effect(Effect::FetchAudit(AuditFetch {
            query,
            generation,
        }))]
    }

    /// Where the selection is.
    fn at(&self) -> Option<usize> {
        self.entries.at(self.list.selected.as_deref())
    }
}

impl Pane for Audit {
    list_pane!(Screen::Audit);

    fn handle(&mut self, action: Action, ctx: &Ctx) -> Vec<Do> {
        if action == Action::Refresh {
            return self.restart();
        }
        if !self.list.detail
            && let Some(delta) = movement(action)
        {
            return self.move_by(delta);
        }
        navigate(Screen::Audit, &mut self.list, action, ctx);
        Vec::new()
    }

    fn hints(&self) -> &'static [Action] {
        &[Action::Refresh, Action::Open]
    }

    /// Read again and checked each time the screen is shown.
    fn shown(&mut self) -> Vec<Effect> {
        self.restart()
            .into_iter()
            .filter_map(|d| match d {
                Do::Effect(e) => Some(e),
                _ => None,
            })
            .collect()
    }

    fn selection(&self, _ctx: &Ctx) -> (Arc<Vec<String>>, Option<usize>) {
        (self.entries.ids(), self.at())
    }

    fn draw(&self, ctx: &Ctx, theme: &Theme, frame: &mut Frame, area: Rect) {
        let [chain_area, rest] =
            Layout::vertical([Constraint::Length(1), Constraint::Min(0)]).areas(area);
        frame.render_widget(
            Paragraph::new(chain_line(self.chain.as_ref(), theme)),
            chain_area,
        );
        let (list_area, detail_area) = list_and_detail(rest, self.list.detail);
        let (ids, at) = self.selection(ctx);
        if let Some(list_area) = list_area {
            let order = format!("newest first ({})", self.entries.extent());
            table(
                frame,
                list_area,
                theme,
                list_title("Audit log", &order, &self.list, 0),
                true,
                &columns(theme),
                4,
                &ids,
                at,
                |id| self.entries.get(id),
            );
        }
        let entry = at
            .and_then(|i| ids.get(i))
            .and_then(|id| self.entries.get(id));
        let lines = match (&self.entries.error, entry) {
            (Some(e), _) => vec![Line::from(Span::styled(
                format!("could not read the audit log: {}", clean(e)),
                theme.critical(),
            ))],
            (None, Some(e)) => detail(e, theme),
            (None, None) => vec![Line::from(Span::styled(
                if self.entries.loading {
                    "reading the audit log…"
                } else {
                    "No entry matches. / filters by actor:NAME, kind:PREFIX (approval, control.applied), agent:ID."
                },
                theme.muted(),
            ))],
        };
        let block = theme.block(" Entry ", false);
        if self.list.detail {
            self.list
                .scroll
                .draw(frame, detail_area, block, &lines, theme);
        } else {
            frame.render_widget(Paragraph::new(lines).block(block), detail_area);
        }
    }
}

/// What the hub says of the chain, on one line.
fn chain_line(chain: Option<&Result<AuditChain, String>>, theme: &Theme) -> Line<'static> {
    match chain {
        None => Line::from(Span::styled(" chain: checking…", theme.muted())),
        Some(Err(e)) => Line::from(Span::styled(
            format!(" chain: not checked: {}", clean(e)),
            theme.warning(),
        )),
        Some(Ok(AuditChain::Intact { entries, .. })) => Line::from(vec![
            Span::styled(" chain intact", theme.ok()),
            Span::styled(
                format!(": {entries} entries, each hash links to the one before"),
                theme.muted(),
            ),
        ]),
        Some(Ok(AuditChain::Broken { at, reason, .. })) => Line::from(Span::styled(
            format!(" CHAIN BROKEN at entry {at}: {}", clean(reason)),
            theme.critical(),
        )),
    }
}

/// The audit log's columns.
fn columns(theme: &Theme) -> Columns<'_, AuditEntry> {
    Columns::<AuditEntry>::new()
        .add("seq", 6, 0, move |e| {
            Cell::from(e.seq.to_string()).style(theme.muted())
        })
        .fit(|e| e.seq.to_string().len())
        .add("time", 8, 1, move |e| {
            Cell::from(e.ts.format("%H:%M:%S").to_string())
        })
        .add("actor", 12, 2, move |e| {
            Cell::from(fit(&e.actor, 12)).style(theme.accent())
        })
        .add("action", 20, 3, |e| Cell::from(fit(&e.action, 24)))
        .fit(|e| width(&e.action).min(24))
        .add("subject", 14, 4, |e| Cell::from(fit(&e.subject, 60)))
        .add("details", 20, 5, |e| {
            Cell::from(fit(&e.details.to_string(), 200))
        })
}

/// An entry in full.
fn detail(e: &AuditEntry, theme: &Theme) -> Vec<Line<'static>> {
    let field = |name: &str, value: String| {
        Line::from(vec![
            Span::styled(format!("{name:<9}"), theme.muted()),
            Span::raw(fit(&value, WHOLE)),
        ])
    };
    let mut lines = vec![
        field(
            "entry",
            format!("{} at {}", e.seq, e.ts.format("%Y-%m-%d %H:%M:%S%.3fZ")),
        ),
        field(
            "actor",
            match e.role {
                Some(role) => format!("{} ({})", e.actor, role.as_str()),
                None => e.actor.clone(),
            },
        ),
        field("action", e.action.clone()),
        field("subject", e.subject.clone()),
        field("hash", e.hash.clone()),
        field("previous", e.prev_hash.clone()),
        Line::from(Span::styled("details", theme.muted())),
    ];
    let pretty = serde_json::to_string_pretty(&e.details).unwrap_or_default();
    lines.extend(
        pretty
            .lines()
            .map(|l| Line::from(Span::styled(fit(l, WHOLE), theme.accent()))),
    );
    lines
}
