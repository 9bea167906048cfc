//! The Controls screen: controls in force, fleet-wide first, and lifting
//! them.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::widgets::Cell;

use crate::model::control::Control;

use super::super::action::Action;
use super::super::ctx::{Ctx, Do, ListState};
use super::super::dialogs::{Dialog, Op};
use super::super::sanitize::{fit, width};
use super::super::screen::{Screen, short_duration};
use super::super::table::{Columns, table};
use super::super::theme::Theme;
use super::{Pane, list_title, navigate};

/// The Controls screen's state: its list.
#[derive(Debug, Default)]
pub struct Controls {
    /// Selection and filter.
    pub list: ListState,
}

impl Pane for Controls {
    list_pane!(Screen::Controls);

    fn owns(&self) -> &'static [Action] {
        &[Action::Lift]
    }

    fn handle(&mut self, action: Action, ctx: &Ctx) -> Vec<Do> {
        if navigate(Screen::Controls, &mut self.list, action, ctx) || action != Action::Lift {
            return Vec::new();
        }
        let Some(c) = self.selected(ctx).and_then(|id| ctx.data.controls.get(&id)) else {
            return vec![Do::error("no control selected")];
        };
        vec![Do::Open(Dialog::Confirm {
            title: format!("Lift {}?", c.id),
            lines: vec![
                format!("{} on {} set by {}", c.kind.as_str(), c.agent, c.set_by),
                format!("reason: {}", c.reason),
            ],
            ops: vec![Op::Lift(c.id.clone())],
        })]
    }

    fn hints(&self) -> &'static [Action] {
        &[Action::Lift, Action::Inspect]
    }

    /// A fleet-wide control names no agent.
    fn selected_agent(&self, ctx: &Ctx) -> Option<(String, Option<String>)> {
        let id = self.selected(ctx)?;
        ctx.data
            .controls
            .get(&id)
            .filter(|c| c.agent != "*")
            .map(|c| (c.agent.clone(), None))
    }

    fn draw(&self, ctx: &Ctx, theme: &Theme, frame: &mut Frame, area: Rect) {
        let (ids, selected) = self.selection(ctx);
        table(
            frame,
            area,
            theme,
            list_title(
                "Controls in force",
                "fleet-wide, then newest first",
                &self.list,
                0,
            ),
            true,
            &columns(ctx, theme),
            6,
            &ids,
            selected,
            |id| ctx.data.controls.get(id),
        );
    }
}

/// The control list's columns.
fn columns<'a>(ctx: &'a Ctx, theme: &'a Theme) -> Columns<'a, Control> {
    Columns::<Control>::new()
        .add("id", 7, 0, move |c| {
            Cell::from(c.id.clone()).style(theme.accent())
        })
        .fit(|c| width(&c.id))
        .add("agent", 16, 1, move |c| {
            if c.agent == "*" {
                Cell::from("* (fleet)").style(theme.critical())
            } else {
                Cell::from(fit(&c.agent, 16)).style(theme.text())
            }
        })
        .add("kind", 16, 2, move |c| {
            Cell::from(c.kind.as_str()).style(theme.warning())
        })
        .add("target", 18, 4, move |c| {
            Cell::from(fit(
                c.tool.as_deref().or(c.version.as_deref()).unwrap_or("—"),
                18,
            ))
        })
        .add("set by", 10, 5, move |c| Cell::from(fit(&c.set_by, 10)))
        .add("time left", 12, 3, move |c| {
            Cell::from(
                c.expires_at
                    .map(|t| short_duration((t - ctx.now).num_seconds()))
                    .unwrap_or_else(|| "until lifted".into()),
            )
        })
        .add("reason", 24, 6, move |c| Cell::from(fit(&c.reason, 60)))
}
