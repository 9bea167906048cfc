//! The app: the shared state (the hub's data, the connection, the
//! operator, pending actions and messages), which screen is shown, the
//! panes and the open dialog; it routes keys, actions and feed messages to
//! them and carries out what they ask. No terminal and no network here:
//! `handle_key` and friends return [`Effect`]s for the run loop to carry out.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use crate::client::actions::Request;
use crate::model::role::Role;
use crate::model::runbook::Runbook;

mod batch;
mod feed;

pub use batch::bulk_label;

use super::action::{Action, Context};
use super::ctx::{Ctx, Do};
use super::data::FeedData;
use super::dialogs::text::{entry, entry_with};
use super::dialogs::{self, Dialog, Op, TextPurpose, menu};
use super::keymap::{Key, Keymap, Resolution};
use super::panes::Panes;
use super::rows::Rows;
use super::screen::{AgentLoads, Screen};

pub use super::ctx::ListState;
pub use super::dialogs::text::STOP_PHRASE;

/// How long a message stays in the status bar.
pub const MESSAGE_TTL: Duration = Duration::from_secs(10);
/// A feed silent this long is shown as stale: three lost heartbeats (the
/// hub sends one a second), before the feed gives the stream up.
pub const STALE_AFTER: Duration = Duration::from_secs(3);
/// How often an open agent detail is fetched again.
pub const AGENT_DETAIL_REFRESH: Duration = Duration::from_secs(15);

/// Something for the run loop to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Send an action to the hub.
    Send(Request),
    /// Cancel a pending action.
    Cancel(u64),
    /// Copy text to the operator's clipboard (OSC 52).
    Copy(String),
    /// Tell the hub what the operator looks at.
    Presence(Option<String>),
    /// Fetch the handoff summary.
    FetchHandoff,
    /// Fetch one agent's drill-down.
    FetchAgent(String),
    /// Fetch a page of history.
    FetchHistory(crate::tui::panes::history::HistoryFetch),
    /// Fetch a page of the audit log.
    FetchAudit(crate::tui::panes::audit::AuditFetch),
    /// Ask the hub for the state of the audit chain.
    VerifyAudit,
    /// Ring the terminal bell.
    Bell,
    /// Write the `:` line's history to its file.
    SaveHistory,
    /// Leave.
    Quit,
}

/// The connection as the status bar shows it.
#[derive(Debug, Clone, PartialEq)]
pub enum Connection {
    /// Not yet connected.
    Connecting {
        /// Attempt number.
        attempt: u32,
    },
    /// Live.
    Connected,
    /// Waiting to retry.
    Reconnecting {
        /// Attempts so far.
        attempt: u32,
        /// When the next one starts.
        next_at: Instant,
        /// Why the last failed.
        error: String,
    },
    /// The hub refused the token.
    Refused(String),
    /// Reading a recorded file.
    Replay {
        /// The file's clock.
        clock: Option<DateTime<Utc>>,
        /// True when the whole file has been read.
        done: bool,
    },
}

/// How serious a message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Done.
    Info,
    /// Refused or failed.
    Error,
}

/// An action sent and not yet answered.
#[derive(Debug, Clone, PartialEq)]
pub struct Pending {
    /// What it is.
    pub label: String,
    /// Retry state, when the hub has not answered.
    pub retrying: Option<(u32, String)>,
    /// When it was sent.
    pub since: Instant,
    /// Effects once it is done (see [`Op::after`]).
    pub then: Vec<Effect>,
    /// The bulk action it is part of.
    pub batch: Option<u64>,
}

/// Who the operator is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operator {
    /// Name.
    pub name: String,
    /// Role.
    pub role: Role,
}

/// The whole TUI state.
pub struct App {
    /// The hub's state.
    pub data: FeedData,
    /// The screen shown.
    pub screen: Screen,
    /// Every screen's own state, and the agent detail.
    pub panes: Panes,
    /// The open dialog.
    pub dialog: Option<Dialog>,
    /// The `:` command line's history.
    pub history: crate::tui::history::CommandHistory,
    /// Actions in flight, by local id.
    pub pending: BTreeMap<u64, Pending>,
    /// Recent messages, newest last.
    pub messages: VecDeque<(Instant, Level, String)>,
    /// Connection state.
    pub connection: Connection,
    /// Last bytes from the feed.
    pub last_alive: Instant,
    /// Who is operating.
    pub operator: Option<Operator>,
    /// No actions at all.
    pub read_only: bool,
    /// Key bindings.
    pub keymap: Keymap,
    /// Keys pressed so far of a sequence.
    pub pressed: Vec<Key>,
    /// Ring the bell on new SEV1 incidents and approvals near their deadline.
    pub bell: bool,
    /// Approvals already rung for.
    rung: HashSet<String>,
    next_request: u64,
    /// The wall clock for countdowns (fixed in tests).
    pub now: DateTime<Utc>,
    /// Redraw needed.
    pub dirty: bool,
    /// What the hub was last told the operator looks at.
    viewing: Option<String>,
    /// When the stream was lost (wall clock), while it is.
    lost_at: Option<DateTime<Utc>>,
    /// When the feed last spoke (wall clock): what the data is as of.
    heard_at: Option<DateTime<Utc>>,
    /// The hub's address, for messages that must name it.
    pub hub_url: Option<String>,
    /// With several addresses of the hub (`--hub A,B`), the one the stream
    /// is connected to, for the status line.
    pub hub_in_use: Option<String>,
    /// Sorted lists and counts, so a frame never sorts.
    rows: Rows,
    /// Bulk actions waiting for answers.
    batches: batch::Batches,
}

/// The context a pane or dialog gets while the app changes: the shared
/// fields, borrowed one by one so that a pane can be borrowed mutably
/// beside them, with `$incidents` for the Incidents list.
macro_rules! ctx {
    ($app:expr, $context:expr, $incidents:expr) => {
        Ctx {
            data: &$app.data,
            rows: &$app.rows,
            now: $app.now,
            operator: $app.operator.as_ref(),
            read_only: $app.read_only,
            keymap: &$app.keymap,
            screen: $app.screen,
            context: $context,
            incidents: $incidents,
            history: &$app.history,
        }
    };
}

impl App {
    /// A fresh app.
    pub fn new(keymap: Keymap, operator: Option<Operator>, read_only: bool) -> Self {
        Self {
            data: FeedData::default(),
            screen: Screen::Overview,
            panes: Panes::default(),
            dialog: None,
            history: Default::default(),
            pending: BTreeMap::new(),
            messages: VecDeque::new(),
            connection: Connection::Connecting { attempt: 1 },
            last_alive: Instant::now(),
            operator,
            read_only,
            keymap,
            pressed: Vec::new(),
            bell: true,
            rung: Default::default(),
            next_request: 1,
            now: Utc::now(),
            dirty: true,
            viewing: None,
            rows: Rows::default(),
            lost_at: None,
            heard_at: None,
            hub_url: None,
            hub_in_use: None,
            batches: Default::default(),
        }
    }

    /// What panes and dialogs see of the app.
    pub fn ctx(&self) -> Ctx<'_> {
        ctx!(self, self.context(), &self.panes.incidents.list)
    }

    /// The list state of a screen.
    pub fn list(&self, s: Screen) -> &ListState {
        self.panes.get(s).list()
    }

    pub(crate) fn list_mut(&mut self, s: Screen) -> &mut ListState {
        self.panes.get_mut(s).list_mut()
    }

    /// Says something in the status bar.
    pub fn say(&mut self, level: Level, text: impl Into<String>) {
        if self.messages.len() >= 50 {
            self.messages.pop_front();
        }
        self.messages
            .push_back((Instant::now(), level, text.into()));
        self.dirty = true;
    }

    /// The message to show now, if any is recent.
    pub fn message(&self) -> Option<(Level, &str)> {
        self.messages
            .back()
            .filter(|(at, _, _)| at.elapsed() < MESSAGE_TTL)
            .map(|(_, l, t)| (*l, t.as_str()))
    }

    /// Once a second: countdowns, staleness, the agent detail's refresh and
    /// the deadline bell.
    pub fn tick(&mut self, now: DateTime<Utc>) -> Vec<Effect> {
        if !matches!(self.connection, Connection::Replay { .. }) {
            self.now = now;
        }
        if let Some(quiet) = self.stale_for()
            && self.lost_at.is_none()
        {
            // Silent past three heartbeats: lost since it last spoke.
            self.lost_at = Some(Utc::now() - chrono::Duration::from_std(quiet).unwrap_or_default());
        }
        self.dirty = true;
        let mut effects: Vec<Effect> = self.panes.agent.due().into_iter().collect();
        // The tick's own clock, not the app's (frozen in a replay).
        effects.extend(self.panes.history.due(self.screen == Screen::History, now));
        let asked = self.panes.audit.due(self.screen == Screen::Audit, now);
        effects.extend(self.carry_out(asked));
        if self.bell {
            let soon: Vec<String> = self
                .data
                .approvals
                .values()
                .filter(|a| {
                    (a.deadline - self.now).num_seconds() <= 60 && !self.rung.contains(&a.id)
                })
                .map(|a| a.id.clone())
                .collect();
            if !soon.is_empty() {
                self.rung.extend(soon);
                effects.push(Effect::Bell);
            }
        }
        effects
    }

    /// Why the operator may not take `action`, or None when they may.
    pub fn unavailable(&self, action: Action) -> Option<String> {
        self.ctx().unavailable(action)
    }

    // ---- selection --------------------------------------------------------

    /// Row ids of a screen, in display order, after its filter (a copy;
    /// [`App::rows`] shares them).
    pub fn row_ids(&self, s: Screen) -> Vec<String> {
        self.rows(s).to_vec()
    }

    /// Row ids of a screen, in display order, after its filter. Sorted once
    /// after the rows or the filter change and shared until the next change,
    /// so frames and key presses in between cost no sort and no copy.
    pub fn rows(&self, s: Screen) -> Arc<Vec<String>> {
        let list = self.list(s);
        self.rows.rows(&self.data, s, &list.filter, list.sort)
    }

    /// A screen's rows and the position of the selected one among them:
    /// the remembered row if it is still listed, else the first. The
    /// Runbook screen follows the selection of Incidents.
    pub fn selection(&self, s: Screen) -> (Arc<Vec<String>>, Option<usize>) {
        self.panes.get(s).selection(&self.ctx())
    }

    /// The selected row's id on a screen: the remembered one if it is still
    /// listed, else the first row.
    pub fn selected(&self, s: Screen) -> Option<String> {
        let (ids, at) = self.selection(s);
        at.and_then(|i| ids.get(i).cloned())
    }

    /// Incidents, approvals and controls per agent, counted once after any
    /// of them changes.
    pub fn agent_loads(&self) -> Arc<AgentLoads> {
        self.rows.agent_loads(&self.data)
    }

    /// The runbook linked to the selected incident, if the hub serves it.
    pub fn selected_runbook(&self) -> Option<&Runbook> {
        self.panes.runbook.selected_runbook(&self.ctx())
    }

    /// Versions an agent has run, as `component:version`.
    pub fn versions_of(&self, agent: &str) -> Vec<String> {
        menu::versions_of(&self.data, agent)
    }

    /// The agent the selected row concerns, and the incident if one: the
    /// open detail's agent, else the shown screen's row's.
    pub fn selected_agent(&self) -> Option<(String, Option<String>)> {
        if let Some(d) = &self.panes.agent.open {
            return Some((d.agent.clone(), None));
        }
        self.panes.get(self.screen).selected_agent(&self.ctx())
    }

    /// Tells the hub what the operator looks at, when that changed.
    fn presence_effect(&mut self) -> Vec<Effect> {
        let viewing = self.panes.get(self.screen).viewing(&self.ctx());
        if viewing == self.viewing || matches!(self.connection, Connection::Replay { .. }) {
            return Vec::new();
        }
        self.viewing.clone_from(&viewing);
        vec![Effect::Presence(viewing)]
    }

    // ---- keys ---------------------------------------------------------------

    /// Handles one key press.
    pub fn handle_key(&mut self, event: KeyEvent) -> Vec<Effect> {
        self.dirty = true;
        if self.dialog.is_some() {
            return self.dialog_key(event);
        }
        let Some(key) = Key::from_event(&event) else {
            return Vec::new();
        };
        self.pressed.push(key);
        let contexts = [self.context(), Context::Global];
        match self.keymap.resolve(&contexts, &self.pressed) {
            Resolution::Pending => Vec::new(),
            Resolution::None => {
                self.pressed.clear();
                Vec::new()
            }
            Resolution::Action(action) => {
                self.pressed.clear();
                let mut effects = self.act(action);
                effects.extend(self.presence_effect());
                effects
            }
        }
    }

    /// A key for the open dialog, as the dialog keymap reads it.
    fn dialog_key(&mut self, event: KeyEvent) -> Vec<Effect> {
        let action = Key::from_event(&event).and_then(|k| {
            match self.keymap.resolve(&[Context::Dialog], &[k]) {
                Resolution::Action(a) => Some(a),
                _ => None,
            }
        });
        let Some(dialog) = self.dialog.take() else {
            return Vec::new();
        };
        let asked = dialogs::key(dialog, event, action, &self.ctx());
        self.carry_out(asked)
    }

    /// The keymap context keys are looked up in: the agent detail when it
    /// is open, else the screen's.
    pub fn context(&self) -> Context {
        if self.panes.agent.open.is_some() {
            Context::Agent
        } else {
            self.screen.context()
        }
    }

    /// Opens the agent detail screen for `agent` and asks for its data.
    pub fn inspect(&mut self, agent: &str) -> Vec<Effect> {
        self.panes.agent.inspect(agent)
    }

    /// Carries out an action (also used by tests and the command line):
    /// the open agent detail's first, then the app's own (screens, dialogs,
    /// copying), then the pane's that owns it or the shown one's.
    pub fn act(&mut self, action: Action) -> Vec<Effect> {
        if let Some(why) = self.unavailable(action) {
            self.say(Level::Error, format!("{}: {why}", action.help()));
            return Vec::new();
        }
        if let Some(effects) = self.panes.agent.act(action) {
            return effects;
        }
        let n = Screen::ALL.len();
        match action {
            Action::Quit => return vec![Effect::Quit],
            Action::Help => {
                self.dialog = Some(Dialog::Help {
                    scroll: Default::default(),
                })
            }
            Action::CommandLine => {
                let hint = dialogs::command_candidates(&self.ctx(), "");
                self.dialog = Some(entry("command", hint, TextPurpose::Command));
            }
            Action::Filter => {
                let current = &self.list(self.screen).filter;
                self.dialog = Some(entry_with("filter", vec![], TextPurpose::Filter, current));
            }
            Action::Copy => return self.copy(),
            Action::NextScreen => self.screen = Screen::ALL[(self.screen.index() + 1) % n],
            Action::PrevScreen => self.screen = Screen::ALL[(self.screen.index() + n - 1) % n],
            Action::Contain => self.open_containment(),
            Action::EmergencyStop => self.dialog = Some(emergency_stop()),
            Action::CancelPending => {
                let effects = self.cancel_oldest();
                if effects.is_empty() {
                    self.say(Level::Info, "nothing is waiting for the hub");
                }
                return effects;
            }
            Action::Inspect => match self.selected_agent() {
                Some((agent, _)) => return self.inspect(&agent),
                None => self.say(Level::Error, "no agent on the selected row"),
            },
            Action::Confirm | Action::Cancel => {}
            _ => match Screen::ALL.into_iter().find(|s| s.action() == action) {
                Some(s) => {
                    self.screen = s;
                    return self.panes.get_mut(s).shown();
                }
                None => return self.route(action),
            },
        }
        Vec::new()
    }

    /// Hands an action to the pane that owns it, else to the one shown.
    fn route(&mut self, action: Action) -> Vec<Effect> {
        let s = self.panes.owner(action).unwrap_or(self.screen);
        // The Runbook pane reads the Incidents list while another pane is
        // borrowed to change: it gets a copy of the list.
        let incidents = self.panes.incidents.list.clone();
        let ctx = ctx!(self, self.context(), &incidents);
        let asked = self.panes.get_mut(s).handle(action, &ctx);
        self.carry_out(asked)
    }

    /// Copies the selected row's id.
    fn copy(&mut self) -> Vec<Effect> {
        match self.panes.get(self.screen).copied(&self.ctx()) {
            Some(id) => {
                self.say(Level::Info, format!("copied {id}"));
                vec![Effect::Copy(id)]
            }
            None => {
                self.say(Level::Error, "nothing selected to copy");
                Vec::new()
            }
        }
    }

    /// The containment menu for the selected row's agent.
    fn open_containment(&mut self) {
        match self.selected_agent() {
            Some((agent, incident)) => {
                self.dialog = Some(menu::containment(&self.data, agent, incident));
            }
            None => self.say(
                Level::Error,
                "select an SLO, incident, approval or agent first",
            ),
        }
    }

    /// Carries out what a pane or dialog asked, in order.
    fn carry_out(&mut self, asked: Vec<Do>) -> Vec<Effect> {
        let mut effects = Vec::new();
        for d in asked {
            match d {
                Do::Effect(e) => effects.push(e),
                Do::Open(dialog) => self.dialog = Some(dialog),
                Do::Close => self.dialog = None,
                Do::Say(level, text) => self.say(level, text),
                Do::Send(op) => effects.extend(self.send(op)),
                Do::SendAll(ops) => effects.extend(self.send_all(ops)),
                Do::Show(s) => self.screen = s,
                Do::Select(s, id) => self.list_mut(s).selected = Some(id),
                Do::Filter(text) => {
                    let s = self.screen;
                    self.list_mut(s).filter = text;
                }
                Do::Remember(command) => {
                    self.history.push(&command);
                    // Written off the loop, whatever the disk does.
                    if self.history.path().is_some() {
                        effects.push(Effect::SaveHistory);
                    }
                }
            }
        }
        effects
    }

    /// Completes a partial command to the longest common prefix of its
    /// matches.
    pub fn complete(&self, partial: &str) -> Option<String> {
        dialogs::complete(&self.ctx(), partial)
    }

    /// Turns an operation into a request, shown as pending until answered.
    pub fn send(&mut self, op: Op) -> Vec<Effect> {
        self.send_in(op, None)
    }

    /// Sends `op`, as part of bulk action `batch` if one.
    fn send_in(&mut self, op: Op, batch: Option<u64>) -> Vec<Effect> {
        let id = self.next_request;
        self.next_request += 1;
        self.pending.insert(
            id,
            Pending {
                label: op.label(),
                retrying: None,
                since: Instant::now(),
                then: op.after(),
                batch,
            },
        );
        if self.outage().is_some() {
            self.say(
                Level::Info,
                format!(
                    "queued: {} — the hub is unreachable; it is sent when the hub is back",
                    op.label()
                ),
            );
        }
        vec![Effect::Send(op.call().request(id))]
    }

    /// Cancels the oldest pending action (the status bar offers it).
    pub fn cancel_oldest(&mut self) -> Vec<Effect> {
        match self.pending.keys().next().copied() {
            Some(id) => vec![Effect::Cancel(id)],
            None => Vec::new(),
        }
    }
}

/// The typed confirmation of the fleet-wide pause.
fn emergency_stop() -> Dialog {
    entry(
        "EMERGENCY STOP: pause every agent",
        vec![
            "Every agent in the fleet stops taking work on its next poll or callback.".into(),
            format!("Type {STOP_PHRASE} and press enter to confirm; esc cancels."),
        ],
        TextPurpose::EmergencyStop,
    )
}

/// A keypress, for tests and the end-to-end harness.
pub fn key(code: KeyCode) -> KeyEvent {
    KeyEvent::new(code, KeyModifiers::NONE)
}
