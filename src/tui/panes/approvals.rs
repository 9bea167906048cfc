//! The Approvals screen: pending approvals, nearest deadline first, beside
//! the selected one's detail; approving and rejecting, and telling the
//! operator when an approval they were looking at closes.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph};

use std::collections::BTreeSet;

use crate::model::approval::{Approval, ApprovalState};
use crate::model::envelope::Risk;

use super::super::action::Action;
use super::super::ctx::{Ctx, Do, ListState};
use super::super::data::FeedData;
use super::super::dialogs::text::entry;
use super::super::dialogs::{Dialog, Op, TextPurpose};
use super::super::sanitize::{fit, width};
use super::super::screen::{self, Screen, short_duration};
use super::super::scroll::{Scroll, WHOLE};
use super::super::table::{Columns, list_and_detail, table};
use super::super::theme::Theme;
use super::{Pane, list_title, marked_rows, navigate, toggle_mark};

/// The Approvals screen's state: its list and whether the detail is open
/// on its own.
#[derive(Debug, Default)]
pub struct Approvals {
    /// Selection, filter and detail.
    pub list: ListState,
}

impl Pane for Approvals {
    list_pane!(Screen::Approvals);

    fn owns(&self) -> &'static [Action] {
        &[Action::Approve, Action::Reject]
    }

    fn handle(&mut self, action: Action, ctx: &Ctx) -> Vec<Do> {
        if navigate(Screen::Approvals, &mut self.list, action, ctx) {
            return Vec::new();
        }
        let marked = marked_rows(Screen::Approvals, &self.list, ctx);
        match action {
            Action::Mark => {
                toggle_mark(Screen::Approvals, &mut self.list, ctx);
                return Vec::new();
            }
            Action::Reject if !marked.is_empty() => {
                self.list.marked.clear();
                return vec![Do::Open(reject_all(ctx, marked))];
            }
            Action::Approve if !marked.is_empty() => {
                return vec![Do::error(
                    "approvals are approved one at a time: esc clears the marks",
                )];
            }
            _ => {}
        }
        let Some(a) = self
            .selected(ctx)
            .and_then(|id| ctx.data.approvals.get(&id))
        else {
            return vec![Do::error("no approval selected")];
        };
        match action {
            Action::Approve => vec![Do::Open(approve(a))],
            Action::Reject => vec![Do::Open(reject(a))],
            _ => Vec::new(),
        }
    }

    fn hints(&self) -> &'static [Action] {
        &[
            Action::Approve,
            Action::Reject,
            Action::Contain,
            Action::Inspect,
            Action::Mark,
        ]
    }

    fn selected_agent(&self, ctx: &Ctx) -> Option<(String, Option<String>)> {
        let id = self.selected(ctx)?;
        ctx.data.approvals.get(&id).map(|a| (a.agent.clone(), None))
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
                    "Pending approvals",
                    "nearest deadline first",
                    &self.list,
                    marked_rows(Screen::Approvals, &self.list, ctx).len(),
                ),
                true,
                &columns(ctx, theme, &self.list.marked),
                5,
                &ids,
                selected,
                |id| ctx.data.approvals.get(id),
            );
        }
        let detail = selected
            .and_then(|at| ids.get(at))
            .and_then(|id| ctx.data.approvals.get(id));
        let scroll = self.list.detail.then_some(&self.list.scroll);
        detail_pane(ctx, theme, frame, detail_area, detail, scroll);
    }
}

impl Approvals {
    /// What to tell the operator when the approval `a` closed (decided
    /// elsewhere, or expired): it was the row they had selected, or their
    /// decision on it is open in `dialog` (which then closes unsent). Their
    /// own decision coming back is not news.
    pub fn closed(&self, a: &Approval, ctx: &Ctx, dialog: Option<&Dialog>) -> Vec<Do> {
        // The row it was on is gone, so compare with the row the operator
        // saw selected: the remembered one, or the first when they never
        // moved.
        let selected = self.list.selected.clone().or_else(|| {
            ctx.data
                .approvals
                .values()
                .chain([a])
                .min_by(|x, y| screen::approval_order(x, y))
                .map(|x| x.id.clone())
        });
        let expired = a.state == ApprovalState::Expired;
        let last = a.decisions.last().map(|d| d.by.clone());
        let mine = !expired && last.is_some() && ctx.operator.map(|o| &o.name) == last.as_ref();
        let dialog_open = matches!(dialog, Some(Dialog::Confirm { ops, .. }) if ops.contains(&Op::Approve(a.id.clone())))
            || matches!(dialog, Some(Dialog::Text { purpose: TextPurpose::Reject(x), .. }) if *x == a.id);
        if (selected.as_deref() != Some(a.id.as_str()) && !dialog_open) || mine {
            return Vec::new();
        }
        let already = if dialog_open { "already " } else { "" };
        let what = if expired {
            format!("{} {already}expired (treated as rejected)", a.id)
        } else {
            format!(
                "{} was {already}{} by {}",
                a.id,
                a.state.as_str(),
                last.unwrap_or_else(|| "the hub".into())
            )
        };
        if dialog_open {
            vec![
                Do::Close,
                Do::error(format!("{what}; your decision was not sent")),
            ]
        } else {
            vec![Do::info(what)]
        }
    }
}

/// The confirmation of an approval: what the agent wants, and how many
/// approvers it needs.
fn approve(a: &Approval) -> Dialog {
    let mut lines = vec![
        format!(
            "{} wants to {} ({} risk)",
            a.agent,
            a.action,
            risk_name(a.risk)
        ),
        format!("arguments: {}", a.args),
    ];
    if a.approvals_required > 1 {
        lines.push(format!(
            "needs {} different approvers; {} so far",
            a.approvals_required,
            a.decisions.len()
        ));
    }
    Dialog::Confirm {
        title: format!("Approve {}?", a.id),
        lines,
        ops: vec![Op::Approve(a.id.clone())],
    }
}

/// The entry for a rejection's reason, with the agent's own options.
fn reject(a: &Approval) -> Dialog {
    let mut hint = vec![format!(
        "Why reject {} ({} by {})? A reason is required.",
        a.id, a.action, a.agent
    )];
    if !a.reject_options.is_empty() {
        // One line each, so none is cut at the dialog's edge.
        hint.push("the agent offers (a number picks one):".into());
        hint.extend(
            a.reject_options
                .iter()
                .take(9)
                .enumerate()
                .map(|(i, o)| format!("  {} {o}", i + 1)),
        );
    }
    entry(
        format!("Reject {}", a.id),
        hint,
        TextPurpose::Reject(a.id.clone()),
    )
}

/// One reason for every marked approval: the reasons all of them offer
/// can be picked by number.
fn reject_all(ctx: &Ctx, ids: Vec<String>) -> Dialog {
    let mut hint = vec![format!(
        "One reason for all {}: {}. Each is decided on its own.",
        ids.len(),
        fit(&ids.join(", "), 60)
    )];
    let offered = common_reject_options(ctx.data, &ids);
    if !offered.is_empty() {
        hint.push("all of them offer (a number picks one):".into());
        hint.extend(
            offered
                .iter()
                .take(9)
                .enumerate()
                .map(|(i, o)| format!("  {} {o}", i + 1)),
        );
    }
    entry(
        format!("Reject {} approvals", ids.len()),
        hint,
        TextPurpose::RejectAll(ids),
    )
}

/// The rejection reasons every one of `ids` offers, in the first one's
/// order.
pub fn common_reject_options(data: &FeedData, ids: &[String]) -> Vec<String> {
    let mut approvals = ids.iter().filter_map(|id| data.approvals.get(id));
    let Some(first) = approvals.next() else {
        return Vec::new();
    };
    let rest: Vec<&Approval> = approvals.collect();
    first
        .reject_options
        .iter()
        .filter(|o| rest.iter().all(|a| a.reject_options.contains(o)))
        .cloned()
        .collect()
}

/// The approval list's columns: a mark column first while rows are
/// marked.
fn columns<'a>(
    ctx: &'a Ctx,
    theme: &'a Theme,
    marked: &'a BTreeSet<String>,
) -> Columns<'a, Approval> {
    let me = ctx.me();
    Columns::<Approval>::new()
        .marks(marked, |a| a.id.as_str(), theme.accent())
        .add("due in", 7, 0, move |a| {
            let left = (a.deadline - ctx.now).num_seconds();
            let due_style = if left <= 60 {
                theme.critical()
            } else if left <= 180 {
                theme.warning()
            } else {
                theme.text()
            };
            Cell::from(countdown(ctx, a)).style(due_style)
        })
        .add("id", 7, 1, move |a| {
            Cell::from(a.id.clone()).style(theme.accent())
        })
        .fit(|a| width(&a.id))
        .add("agent", 16, 2, move |a| Cell::from(fit(&a.agent, 16)))
        .add("action", 16, 3, move |a| Cell::from(fit(&a.action, 16)))
        .add("risk", 8, 4, move |a| {
            Cell::from(risk_name(a.risk)).style(match a.risk {
                Risk::Critical => theme.critical(),
                Risk::High => theme.warning(),
                Risk::Low | Risk::Medium => theme.text(),
            })
        })
        .add("arguments", 24, 6, move |a| {
            Cell::from(fit(&args_summary(a), 40))
        })
        .add("state", 9, 5, move |a| {
            Cell::from(a.state.as_str()).style(if a.state == ApprovalState::Escalated {
                theme.warning()
            } else {
                theme.text()
            })
        })
        .add("viewing", 10, 7, move |a| {
            Cell::from(fit(&ctx.data.viewers(&a.id, me).join(","), 10)).style(theme.accent())
        })
}

/// Time left to decide, "due" once it has run out.
fn countdown(ctx: &Ctx, a: &Approval) -> String {
    let left = (a.deadline - ctx.now).num_seconds();
    if left <= 0 {
        "due".into()
    } else {
        short_duration(left)
    }
}

/// The first three arguments as `key=value`.
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

/// The wire name of a risk level, as the hub and the agents write it.
fn risk_name(r: Risk) -> &'static str {
    match r {
        Risk::Low => "low",
        Risk::Medium => "medium",
        Risk::High => "high",
        Risk::Critical => "critical",
    }
}

/// The selected approval: what it wants, why, by when, who decided so
/// far, and its arguments in full. Opened (`scroll` given), lines wrap and
/// scroll; beside the list, they are cut.
fn detail_pane(
    ctx: &Ctx,
    theme: &Theme,
    frame: &mut Frame,
    area: Rect,
    a: Option<&Approval>,
    scroll: Option<&Scroll>,
) {
    let Some(a) = a else {
        frame.render_widget(
            Paragraph::new("Nothing waiting for a decision.")
                .style(theme.muted())
                .block(theme.block(" Detail ", false)),
            area,
        );
        return;
    };
    let w = match scroll {
        Some(_) => WHOLE,
        None => area.width.saturating_sub(4) as usize,
    };
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
                countdown(ctx, a)
            ),
        ),
        field("reason", a.reason.clone().unwrap_or_else(|| "—".into())),
    ];
    if let Some(c) = &a.context {
        lines.push(field("context", c.clone()));
    }
    let viewers = ctx.data.viewers(&a.id, ctx.me());
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
    let block = theme.block(format!(" {} ", a.id), false);
    match scroll {
        Some(scroll) => {
            scroll.draw(frame, area, block, &lines, theme);
        }
        None => frame.render_widget(Paragraph::new(lines).block(block), area),
    }
}
