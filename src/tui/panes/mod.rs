//! The screens, one pane each. A pane owns its state (list selection and
//! filter, detail flag, step focus, fetched data), carries out the actions
//! that are its own and draws itself; shared state comes in through
//! [`Ctx`]. Adding a screen is a file here, a variant of
//! [`Screen`](super::screen::Screen) and a line in each match of
//! [`Panes`].

/// The part of [`Pane`] every screen with a `list: ListState` field writes
/// the same way: which screen it is and its list.
macro_rules! list_pane {
    ($screen:expr) => {
        fn screen(&self) -> Screen {
            $screen
        }

        fn list(&self) -> &ListState {
            &self.list
        }

        fn list_mut(&mut self) -> &mut ListState {
            &mut self.list
        }
    };
}

pub mod agent;
pub mod agents;
pub mod approvals;
pub mod audit;
pub mod controls;
pub mod handoff;
pub mod history;
pub mod incidents;
pub mod overview;
pub mod paged;
pub mod runbook;

use std::sync::Arc;

use ratatui::Frame;
use ratatui::layout::Rect;

use super::action::Action;
use super::app::Effect;
use super::ctx::{Ctx, Do, ListState};
use super::screen::{Screen, Sort};
use super::theme::Theme;

/// Rows moved by page up and page down.
const PAGE: isize = 10;

/// One screen.
pub trait Pane {
    /// The screen it is.
    fn screen(&self) -> Screen;

    /// Its list's selection and filter.
    fn list(&self) -> &ListState;

    /// Its list's selection and filter, to change.
    fn list_mut(&mut self) -> &mut ListState;

    /// Actions it carries out whichever screen is shown (approve is the
    /// Approvals pane's wherever it is pressed); others go to the pane
    /// shown.
    fn owns(&self) -> &'static [Action] {
        &[]
    }

    /// Carries out an action: its own, or moving and opening on its list.
    fn handle(&mut self, action: Action, ctx: &Ctx) -> Vec<Do> {
        let s = self.screen();
        navigate(s, self.list_mut(), action, ctx);
        Vec::new()
    }

    /// Draws it into `area`.
    fn draw(&self, ctx: &Ctx, theme: &Theme, frame: &mut Frame, area: Rect);

    /// The actions its hint line offers first.
    fn hints(&self) -> &'static [Action] {
        &[]
    }

    /// Its rows and the position of the selected one.
    fn selection(&self, ctx: &Ctx) -> (Arc<Vec<String>>, Option<usize>) {
        ctx.selection(self.screen(), self.list())
    }

    /// The selected row's id: the remembered one if it is still listed,
    /// else the first row.
    fn selected(&self, ctx: &Ctx) -> Option<String> {
        let (ids, at) = self.selection(ctx);
        at.and_then(|i| ids.get(i).cloned())
    }

    /// The id copy copies.
    fn copied(&self, ctx: &Ctx) -> Option<String> {
        self.selected(ctx)
    }

    /// The agent the selected row concerns, and the incident if one.
    fn selected_agent(&self, _ctx: &Ctx) -> Option<(String, Option<String>)> {
        None
    }

    /// What the hub is told the operator looks at while it is shown.
    fn viewing(&self, _ctx: &Ctx) -> Option<String> {
        None
    }

    /// What to do when the operator switches to it.
    fn shown(&mut self) -> Vec<Effect> {
        Vec::new()
    }
}

/// Moves the selection of a list by `delta` rows, clamped to the list.
fn move_by(s: Screen, list: &mut ListState, delta: isize, ctx: &Ctx) {
    let (ids, current) = ctx.selection(s, list);
    let Some(current) = current else {
        return;
    };
    let next = (current as isize)
        .saturating_add(delta)
        .clamp(0, ids.len() as isize - 1) as usize;
    if let Some(id) = ids.get(next) {
        list.selected = Some(id.clone());
    }
}

/// How far a movement action moves, if it is one.
pub fn movement(action: Action) -> Option<isize> {
    Some(match action {
        Action::Up => -1,
        Action::Down => 1,
        Action::PageUp => -PAGE,
        Action::PageDown => PAGE,
        Action::Top => -(isize::MAX / 2),
        Action::Bottom => isize::MAX / 2,
        _ => return None,
    })
}

/// What every list does: move the selection (or scroll the open detail),
/// open and close the detail, clear the filter. Says whether the action
/// was one of those.
pub fn navigate(s: Screen, list: &mut ListState, action: Action, ctx: &Ctx) -> bool {
    if list.detail && list.scroll.apply(action) {
        return true;
    }
    if let Some(delta) = movement(action) {
        move_by(s, list, delta, ctx);
        return true;
    }
    match action {
        Action::Open => {
            list.detail = !list.detail;
            list.scroll.reset();
        }
        Action::Close if !list.filter.is_empty() => list.filter.clear(),
        Action::Close if !list.marked.is_empty() => list.marked.clear(),
        Action::Sort => list.sort = list.sort.next(),
        Action::Close => list.detail = false,
        _ => return false,
    }
    true
}

/// Marks the selected row for a bulk action, or unmarks it, and moves to
/// the next row so that `space` held down marks a run of rows.
pub fn toggle_mark(s: Screen, list: &mut ListState, ctx: &Ctx) {
    let Some(id) = ctx.selected(s, list) else {
        return;
    };
    if !list.marked.remove(&id) {
        list.marked.insert(id);
    }
    move_by(s, list, 1, ctx);
}

/// The marked rows still listed, in list order (a row decided or resolved
/// meanwhile has left the list and is not acted on).
pub fn marked_rows(s: Screen, list: &ListState, ctx: &Ctx) -> Vec<String> {
    if list.marked.is_empty() {
        return Vec::new();
    }
    let (ids, _) = ctx.selection(s, list);
    ids.iter()
        .filter(|id| list.marked.contains(*id))
        .cloned()
        .collect()
}

/// A list's title: what it lists and in which order (`order` is the
/// screen's own), its filter and how many rows are marked.
pub fn list_title(what: &str, order: &str, list: &ListState, marked: usize) -> String {
    let order = match list.sort {
        Sort::Urgency => order,
        other => other.describe(),
    };
    let title = super::table::filtered_title(&format!("{what}, {order}"), &list.filter);
    match marked {
        0 => title,
        n => format!("{title}· {n} marked "),
    }
}

/// Every pane: the registry of screens, and the agent detail that opens
/// over them.
#[derive(Default)]
pub struct Panes {
    /// SLO gauges.
    pub overview: overview::Overview,
    /// The incident queue.
    pub incidents: incidents::Incidents,
    /// Pending approvals.
    pub approvals: approvals::Approvals,
    /// Controls in force.
    pub controls: controls::Controls,
    /// The agent inventory.
    pub agents: agents::Agents,
    /// The runbook of the selected incident.
    pub runbook: runbook::Runbook,
    /// The shift handoff.
    pub handoff: handoff::Handoff,
    /// Decided approvals, resolved incidents, ended controls.
    pub history: history::History,
    /// The audit log.
    pub audit: audit::Audit,
    /// One agent's detail, open over the current screen.
    pub agent: agent::AgentPane,
}

impl Panes {
    /// The pane of a screen.
    pub fn get(&self, s: Screen) -> &dyn Pane {
        match s {
            Screen::Overview => &self.overview,
            Screen::Incidents => &self.incidents,
            Screen::Approvals => &self.approvals,
            Screen::Controls => &self.controls,
            Screen::Agents => &self.agents,
            Screen::Runbook => &self.runbook,
            Screen::Handoff => &self.handoff,
            Screen::History => &self.history,
            Screen::Audit => &self.audit,
        }
    }

    /// The pane of a screen, to change.
    pub fn get_mut(&mut self, s: Screen) -> &mut dyn Pane {
        match s {
            Screen::Overview => &mut self.overview,
            Screen::Incidents => &mut self.incidents,
            Screen::Approvals => &mut self.approvals,
            Screen::Controls => &mut self.controls,
            Screen::Agents => &mut self.agents,
            Screen::Runbook => &mut self.runbook,
            Screen::Handoff => &mut self.handoff,
            Screen::History => &mut self.history,
            Screen::Audit => &mut self.audit,
        }
    }

    /// The screen whose pane owns `action` wherever it is pressed.
    pub fn owner(&self, action: Action) -> Option<Screen> {
        Screen::ALL
            .into_iter()
            .find(|s| self.get(*s).owns().contains(&action))
    }
}
