//! What panes and dialogs see of the app ([`Ctx`]: the hub's state, the
//! clock, the operator, the keymap and the row caches) and what they ask of
//! it in return ([`Do`]). Panes own their own state; everything shared is
//! borrowed through `Ctx` and changed only by the app.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::action::{Action, Context};
use super::app::{Effect, Level, Operator};
use super::data::FeedData;
use super::dialogs::{Dialog, Op};
use super::keymap::Keymap;
use super::rows::Rows;
use super::screen::{self, Screen};

/// One list's selection and filter. Selection is by id, so it survives
/// updates, re-sorting and reconnects.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListState {
    /// The selected row's id.
    pub selected: Option<String>,
    /// The filter text.
    pub filter: String,
    /// Detail pane open.
    pub detail: bool,
    /// Where the open detail is scrolled to.
    pub scroll: crate::tui::scroll::Scroll,
    /// Rows marked for a bulk action, by id.
    pub marked: std::collections::BTreeSet<String>,
    /// The order of its rows.
    pub sort: screen::Sort,
}

/// The shared state a pane or dialog reads while it handles an action or
/// draws.
#[derive(Clone, Copy)]
pub struct Ctx<'a> {
    /// The hub's state.
    pub data: &'a FeedData,
    /// Sorted rows and per-agent counts.
    pub rows: &'a Rows,
    /// The wall clock for countdowns.
    pub now: DateTime<Utc>,
    /// Who is operating, once the hub said.
    pub operator: Option<&'a Operator>,
    /// No actions at all.
    pub read_only: bool,
    /// Key bindings.
    pub keymap: &'a Keymap,
    /// The screen shown.
    pub screen: Screen,
    /// The keymap context keys are looked up in.
    pub context: Context,
    /// The Incidents list: the Runbook screen follows its selection.
    pub incidents: &'a ListState,
    /// The `:` command line's history.
    pub history: &'a crate::tui::history::CommandHistory,
}

impl Ctx<'_> {
    /// The operator's name, empty when unknown.
    pub fn me(&self) -> &str {
        self.operator.map(|o| o.name.as_str()).unwrap_or("")
    }

    /// Why the operator may not take `action`, or None when they may.
    pub fn unavailable(&self, action: Action) -> Option<String> {
        let needs = action.permission()?;
        if self.read_only {
            return Some("read-only session".into());
        }
        match self.operator {
            Some(op) if needs.allows(op.role) => None,
            Some(op) => Some(format!(
                "needs the role {} (you are {})",
                needs.roles_text(),
                op.role.as_str()
            )),
            None => Some("not connected to a hub".into()),
        }
    }

    /// A screen's rows after the filter of `list`, in its order, and the
    /// position of `selected` among them: the remembered row if it is
    /// still listed, else the first.
    pub fn select(
        &self,
        s: Screen,
        list: &ListState,
        selected: Option<&str>,
    ) -> (Arc<Vec<String>>, Option<usize>) {
        let ids = self.rows.rows(self.data, s, &list.filter, list.sort);
        let at = selected.and_then(|id| screen::position(self.data, s, list.sort, &ids, id));
        let at = at.or((!ids.is_empty()).then_some(0));
        (ids, at)
    }

    /// A screen's rows and the position of its list's selected row.
    pub fn selection(&self, s: Screen, list: &ListState) -> (Arc<Vec<String>>, Option<usize>) {
        self.select(s, list, list.selected.as_deref())
    }

    /// The selected row's id of a screen's list: the remembered one if it
    /// is still listed, else the first row.
    pub fn selected(&self, s: Screen, list: &ListState) -> Option<String> {
        let (ids, at) = self.selection(s, list);
        at.and_then(|i| ids.get(i).cloned())
    }

    /// The incident selected on the Incidents screen.
    pub fn incident(&self) -> Option<String> {
        self.selected(Screen::Incidents, self.incidents)
    }
}

/// What a pane or a dialog asks of the app, carried out in order.
#[derive(Debug)]
pub enum Do {
    /// Hand an effect to the run loop.
    Effect(Effect),
    /// Open a dialog (or keep one open, changed).
    Open(Dialog),
    /// Close the open dialog.
    Close,
    /// Say something in the status bar.
    Say(Level, String),
    /// Send an operation to the hub, pending until answered.
    Send(Op),
    /// Send several operations as one bulk action: each pending and
    /// decided on its own, their results reported together.
    SendAll(Vec<Op>),
    /// Show a screen.
    Show(Screen),
    /// Select a row of a screen's list.
    Select(Screen, String),
    /// Set the filter of the list shown.
    Filter(String),
    /// Remember a command run on the `:` line.
    Remember(String),
}

impl Do {
    /// An error for the status bar.
    pub fn error(text: impl Into<String>) -> Self {
        Self::Say(Level::Error, text.into())
    }

    /// A notice for the status bar.
    pub fn info(text: impl Into<String>) -> Self {
        Self::Say(Level::Info, text.into())
    }
}
