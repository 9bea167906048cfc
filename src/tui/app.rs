//! The app: screens, selection, dialogs, pending actions and messages, and
//! how keys and feed messages change them. No terminal and no network here:
//! `handle_key` and friends return [`Effect`]s for the run loop to carry out.

use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::text::Line;

use crate::client::actions::{Outcome, Request};
use crate::client::feed::FeedMsg;
use crate::model::action::ControlRequest;
use crate::model::control::ControlKind;
use crate::model::envelope::Component;
use crate::model::incident::Severity;
use crate::model::role::Role;
use crate::model::stream::Delta;

use super::action::{Action, Context};
use super::data::{Change, FeedData};
use super::dialog::{Dialog, FormField, MenuItem, Op, TextPurpose, line_input, text_of};
use super::keymap::{Key, Keymap, Resolution};
use super::screen::{self, AgentLoads, Screen};
use super::theme::Theme;

/// How long a message stays in the status bar.
pub const MESSAGE_TTL: Duration = Duration::from_secs(10);
/// A feed silent this long is shown as stale.
pub const STALE_AFTER: Duration = Duration::from_secs(30);
/// How often an open agent detail is fetched again.
pub const AGENT_DETAIL_REFRESH: Duration = Duration::from_secs(15);
/// The typed confirmation of the emergency stop.
pub const STOP_PHRASE: &str = "PAUSE FLEET";

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
    /// Ring the terminal bell.
    Bell,
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
}

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
    /// Selection and filter per screen.
    pub lists: BTreeMap<&'static str, ListState>,
    /// The open dialog.
    pub dialog: Option<Dialog>,
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
    rung: std::collections::HashSet<String>,
    next_request: u64,
    /// The wall clock for countdowns (fixed in tests).
    pub now: DateTime<Utc>,
    /// Redraw needed.
    pub dirty: bool,
    /// What the hub was last told the operator looks at.
    viewing: Option<String>,
    /// Runbooks the hub serves, by name.
    pub runbooks: BTreeMap<String, crate::model::runbook::Runbook>,
    /// The focused step on the Runbook screen (0-based).
    pub step_focus: usize,
    /// The last handoff summary: Markdown, or why it could not be fetched.
    pub handoff: Option<Result<String, String>>,
    /// The agent detail screen, open over the current screen.
    pub agent_detail: Option<super::agent_view::DetailState>,
    /// Bumped when the feed changes a kind of row; the sorted lists below
    /// remember the generation they were built from.
    generations: Generations,
    /// Sorted lists and counts, built on first use after a change, so a
    /// frame never sorts: the view borrows the app immutably, hence the
    /// cell.
    cache: RefCell<RowCache>,
}

/// Change counters, one per kind of row the feed delivers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Generations {
    slos: u64,
    agents: u64,
    incidents: u64,
    approvals: u64,
    controls: u64,
}

impl Generations {
    /// The counter of the rows a screen lists.
    fn of(&self, s: Screen) -> u64 {
        match s {
            Screen::Overview => self.slos,
            Screen::Incidents | Screen::Runbook => self.incidents,
            Screen::Approvals => self.approvals,
            Screen::Controls => self.controls,
            Screen::Agents => self.agents,
            Screen::Handoff => 0,
        }
    }

    /// What the per-agent counts depend on.
    fn loads(&self) -> [u64; 3] {
        [self.incidents, self.approvals, self.controls]
    }

    /// Notes what a delta is about to change.
    fn touch(&mut self, delta: &Delta) {
        let counter = match delta {
            Delta::Slo(_) => &mut self.slos,
            Delta::Agent(_) => &mut self.agents,
            Delta::Incident(_) => &mut self.incidents,
            Delta::Approval(_) => &mut self.approvals,
            Delta::Control(_) => &mut self.controls,
            // Neither is listed or sorted.
            Delta::Audit(_) | Delta::Presence(_) => return,
        };
        *counter += 1;
    }

    /// Notes that everything changed (a snapshot).
    fn touch_all(&mut self) {
        for counter in [
            &mut self.slos,
            &mut self.agents,
            &mut self.incidents,
            &mut self.approvals,
            &mut self.controls,
        ] {
            *counter += 1;
        }
    }
}

/// A screen's row ids in display order, and what they were built from.
#[derive(Debug)]
struct Sorted {
    generation: u64,
    filter: String,
    ids: Arc<Vec<String>>,
}

/// Which cached lists and counts a delta's row was taken out of.
#[derive(Debug, Default)]
struct Patched {
    lists: Vec<Screen>,
    /// The kind of row taken out of the per-agent counts.
    loads: Option<Screen>,
}

/// What the app keeps between frames so that drawing a list costs the rows
/// in view, not the rows in the list.
#[derive(Debug, Default)]
struct RowCache {
    /// By `Screen::index`.
    lists: [Option<Sorted>; Screen::ALL.len()],
    /// Per-agent counts and the generations they were counted at.
    loads: Option<([u64; 3], Arc<AgentLoads>)>,
    /// The handoff summary as lines, and the Markdown and theme they were
    /// rendered from.
    handoff: Option<(String, Theme, Arc<Vec<Line<'static>>>)>,
}

fn list_key(s: Screen) -> &'static str {
    s.command()
}

impl App {
    /// A fresh app.
    pub fn new(keymap: Keymap, operator: Option<Operator>, read_only: bool) -> Self {
        Self {
            data: FeedData::default(),
            screen: Screen::Overview,
            lists: Screen::ALL
                .iter()
                .map(|s| (list_key(*s), ListState::default()))
                .collect(),
            dialog: None,
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
            runbooks: BTreeMap::new(),
            step_focus: 0,
            handoff: None,
            agent_detail: None,
            generations: Generations::default(),
            cache: RefCell::default(),
        }
    }

    /// The list state of a screen.
    pub fn list(&self, s: Screen) -> &ListState {
        // Every screen has an entry from `new`.
        &self.lists[list_key(s)]
    }

    fn list_mut(&mut self, s: Screen) -> &mut ListState {
        self.lists.entry(list_key(s)).or_default()
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

    /// Seconds since the feed last spoke, when stale.
    pub fn stale_for(&self) -> Option<Duration> {
        let quiet = self.last_alive.elapsed();
        (matches!(self.connection, Connection::Connected) && quiet >= STALE_AFTER).then_some(quiet)
    }

    // ---- feed -------------------------------------------------------------

    /// Applies a feed message; returns effects (the bell).
    pub fn apply_feed(&mut self, msg: FeedMsg) -> Vec<Effect> {
        self.dirty = true;
        let mut effects = Vec::new();
        match msg {
            FeedMsg::Connecting { attempt } => {
                if !matches!(self.connection, Connection::Replay { .. }) {
                    self.connection = Connection::Connecting { attempt };
                }
            }
            FeedMsg::Connected => {
                self.connection = Connection::Connected;
                self.last_alive = Instant::now();
            }
            FeedMsg::Reconnecting {
                attempt,
                retry_in,
                error,
            } => {
                self.connection = Connection::Reconnecting {
                    attempt,
                    next_at: Instant::now() + retry_in,
                    error,
                };
            }
            FeedMsg::Refused(why) => self.connection = Connection::Refused(why),
            FeedMsg::Alive => self.last_alive = Instant::now(),
            FeedMsg::ReplayClock(t) => {
                self.now = t;
                self.connection = Connection::Replay {
                    clock: Some(t),
                    done: false,
                };
            }
            FeedMsg::Snapshot(s) => {
                self.last_alive = Instant::now();
                let first = !self.data.loaded;
                let before = self.sev1_ids();
                self.generations.touch_all();
                self.data.load(*s);
                // What is already open when we first arrive is not news; a
                // resync after a reconnect rings for SEV1s opened meanwhile.
                if !first {
                    effects.extend(self.ring_for_sev1(&before));
                }
            }
            FeedMsg::Delta(id, delta) => {
                self.last_alive = Instant::now();
                // The changed row leaves the sorted lists and the counts
                // now, as they were built, and comes back in where it
                // belongs once applied: a delta costs a binary search, not
                // a sort of 10,000 rows in the next frame.
                let row = screen::delta_row(&delta).map(|(screens, id)| (screens, id.to_string()));
                let patched = match &row {
                    Some((screens, id)) => self.take_row(screens, id),
                    None => Patched::default(),
                };
                self.generations.touch(&delta);
                // Only an incident delta can make an incident SEV1, and only
                // that incident: no need to gather every SEV1 (thousands in
                // a flood) around each delta.
                let fresh_sev1 = match &delta {
                    Delta::Incident(i) if i.severity == Severity::Sev1 => self
                        .data
                        .incidents
                        .get(&i.id)
                        .is_none_or(|was| was.severity != Severity::Sev1)
                        .then(|| i.id.clone()),
                    _ => None,
                };
                let change = self.data.apply(id, delta);
                if let Some((_, id)) = &row {
                    self.put_row(patched, id);
                }
                // New SEV1s and incidents escalated to SEV1 ring once.
                if let Some(fresh) = fresh_sev1
                    && self.data.incidents.contains_key(&fresh)
                {
                    effects.extend(self.ring_once_for_sev1(vec![fresh]));
                }
                match change {
                    Change::NewIncident(_) => {}
                    Change::ApprovalClosed(a) => {
                        // The row it was on is gone, so compare with the row
                        // the operator saw selected: the remembered one, or
                        // the first when they never moved.
                        let selected =
                            self.list(Screen::Approvals).selected.clone().or_else(|| {
                                self.data
                                    .approvals
                                    .values()
                                    .chain([a.as_ref()])
                                    .min_by(|x, y| screen::approval_order(x, y))
                                    .map(|x| x.id.clone())
                            });
                        let me = self.operator.as_ref().map(|o| o.name.clone());
                        let expired = a.state == crate::model::approval::ApprovalState::Expired;
                        let last = a.decisions.last().map(|d| d.by.clone());
                        let mine = !expired && last.is_some() && last == me;
                        let dialog_open = matches!(self.dialog, Some(Dialog::Confirm { op: Op::Approve(ref x), .. }) if *x == a.id)
                            || matches!(self.dialog, Some(Dialog::Text { purpose: TextPurpose::Reject(ref x), .. }) if *x == a.id);
                        if (selected.as_deref() == Some(a.id.as_str()) || dialog_open) && !mine {
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
                                self.dialog = None;
                                self.say(
                                    Level::Error,
                                    format!("{what}; your decision was not sent"),
                                );
                            } else {
                                self.say(Level::Info, what);
                            }
                        }
                    }
                    Change::NewApproval(_) | Change::Quiet => {}
                }
            }
        }
        effects
    }

    fn sev1_ids(&self) -> std::collections::HashSet<String> {
        self.data
            .incidents
            .values()
            .filter(|i| i.severity == Severity::Sev1)
            .map(|i| i.id.clone())
            .collect()
    }

    /// Rings once for incidents that became SEV1 since `before` (new ones,
    /// and ones escalated to SEV1).
    fn ring_for_sev1(&mut self, before: &std::collections::HashSet<String>) -> Vec<Effect> {
        let fresh: Vec<String> = self
            .sev1_ids()
            .into_iter()
            .filter(|id| !before.contains(id))
            .collect();
        self.ring_once_for_sev1(fresh)
    }

    /// Rings for SEV1 incidents not rung for before.
    fn ring_once_for_sev1(&mut self, fresh: Vec<String>) -> Vec<Effect> {
        let fresh: Vec<String> = fresh
            .into_iter()
            .filter(|id| !self.rung.contains(&format!("sev1:{id}")))
            .collect();
        if fresh.is_empty() {
            return Vec::new();
        }
        self.rung
            .extend(fresh.into_iter().map(|id| format!("sev1:{id}")));
        if self.bell {
            vec![Effect::Bell]
        } else {
            Vec::new()
        }
    }

    /// Applies an action's outcome.
    pub fn apply_outcome(&mut self, id: u64, outcome: Outcome) {
        self.dirty = true;
        match outcome {
            Outcome::Retrying { attempt, error } => {
                if let Some(p) = self.pending.get_mut(&id) {
                    p.retrying = Some((attempt, error));
                }
            }
            Outcome::Done(_) => {
                if let Some(p) = self.pending.remove(&id) {
                    self.say(Level::Info, format!("✓ {} done", p.label));
                }
            }
            Outcome::Refused(status, why) => {
                if let Some(p) = self.pending.remove(&id) {
                    self.say(
                        Level::Error,
                        format!("✗ {} refused ({status}): {why}", p.label),
                    );
                }
            }
            Outcome::Cancelled => {
                if let Some(p) = self.pending.remove(&id) {
                    self.say(Level::Info, format!("{} cancelled", p.label));
                }
            }
        }
    }

    /// Once a second: countdowns, staleness and the deadline bell.
    pub fn tick(&mut self, now: DateTime<Utc>) -> Vec<Effect> {
        if !matches!(self.connection, Connection::Replay { .. }) {
            self.now = now;
        }
        self.dirty = true;
        let mut effects = Vec::new();
        // The open agent detail is fetched again every 15 s: it is a
        // drill-down, not a live feed, but it should not go stale on a
        // screen left open during an incident.
        if let Some(d) = &mut self.agent_detail
            && d.requested
                .is_none_or(|t| t.elapsed() >= AGENT_DETAIL_REFRESH)
        {
            d.requested = Some(Instant::now());
            effects.push(Effect::FetchAgent(d.agent.clone()));
        }
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

    // ---- roles --------------------------------------------------------------

    /// Why the operator may not take `action`, or None when they may.
    pub fn unavailable(&self, action: Action) -> Option<String> {
        let needs = action.permission()?;
        if self.read_only {
            return Some("read-only session".into());
        }
        match &self.operator {
            Some(op) if needs.allows(op.role) => None,
            Some(op) => Some(format!(
                "needs the role {} (you are {})",
                needs.roles_text(),
                op.role.as_str()
            )),
            None => Some("not connected to a hub".into()),
        }
    }

    // ---- selection ------------------------------------------------------------

    /// Row ids of a screen, in display order, after its filter (a copy;
    /// [`App::rows`] shares them).
    pub fn row_ids(&self, s: Screen) -> Vec<String> {
        self.rows(s).to_vec()
    }

    /// Row ids of a screen, in display order, after its filter. Sorted once
    /// after the rows or the filter change and shared until the next change,
    /// so frames and key presses in between cost no sort and no copy.
    pub fn rows(&self, s: Screen) -> Arc<Vec<String>> {
        let filter = &self.list(s).filter;
        let generation = self.generations.of(s);
        // The view only reads, and nothing here calls back into the cache,
        // so the borrow cannot be taken twice; if it ever were, sorting
        // without caching is still right.
        let Ok(mut cache) = self.cache.try_borrow_mut() else {
            return Arc::new(screen::row_ids(&self.data, s, filter));
        };
        let slot = &mut cache.lists[s.index()];
        if let Some(sorted) = slot
            && sorted.generation == generation
            && sorted.filter == *filter
        {
            return sorted.ids.clone();
        }
        let ids = Arc::new(screen::row_ids(&self.data, s, filter));
        *slot = Some(Sorted {
            generation,
            filter: filter.clone(),
            ids: ids.clone(),
        });
        ids
    }

    /// A screen's rows and the position of the selected one among them:
    /// the remembered row if it is still listed, else the first. The
    /// Runbook screen follows the selection of Incidents.
    pub fn selection(&self, s: Screen) -> (Arc<Vec<String>>, Option<usize>) {
        let ids = self.rows(s);
        let key = if s == Screen::Runbook {
            Screen::Incidents
        } else {
            s
        };
        let at = match &self.list(key).selected {
            Some(id) => screen::position(&self.data, s, &ids, id),
            None => None,
        };
        let at = at.or((!ids.is_empty()).then_some(0));
        (ids, at)
    }

    /// The selected row's id on a screen: the remembered one if it is still
    /// listed, else the first row.
    pub fn selected(&self, s: Screen) -> Option<String> {
        let (ids, at) = self.selection(s);
        at.and_then(|i| ids.get(i).cloned())
    }

    /// The handoff summary's Markdown rendered as lines: parsed once per
    /// summary (a day of 10,000 approvals is 1.7 MB and 15,000 lines, some
    /// 50 ms to parse), not once per frame. None until a summary arrived.
    pub fn handoff_lines(&self, theme: &Theme) -> Option<Arc<Vec<Line<'static>>>> {
        let Some(Ok(md)) = &self.handoff else {
            return None;
        };
        let Ok(mut cache) = self.cache.try_borrow_mut() else {
            return Some(Arc::new(super::markdown::lines(md, theme)));
        };
        // The summary is a public field, replaced by whoever fetches it:
        // compare the text itself (a memcmp, well under a millisecond).
        if let Some((source, drawn_with, lines)) = &cache.handoff
            && source == md
            && drawn_with == theme
        {
            return Some(lines.clone());
        }
        let lines = Arc::new(super::markdown::lines(md, theme));
        cache.handoff = Some((md.clone(), *theme, lines.clone()));
        Some(lines)
    }

    /// Takes the row `id` out of the sorted lists of `screens` and out of
    /// the per-agent counts, where they are current; says which were.
    fn take_row(&mut self, screens: &[Screen], id: &str) -> Patched {
        let mut patched = Patched::default();
        // `&mut self`: no borrow of the cell can be live.
        let cache = self.cache.get_mut();
        for &s in screens {
            let filter = self
                .lists
                .get(list_key(s))
                .map_or("", |l| l.filter.as_str());
            if let Some(sorted) = &mut cache.lists[s.index()]
                && sorted.generation == self.generations.of(s)
                && sorted.filter == filter
            {
                // A row the filter hid is not in the list to look for.
                if screen::row_matches(&self.data, s, id, filter)
                    && let Some(at) = screen::position(&self.data, s, &sorted.ids, id)
                {
                    Arc::make_mut(&mut sorted.ids).remove(at);
                }
                patched.lists.push(s);
            }
        }
        let kind = screens.first().copied();
        if let (Some(kind), Some((at, loads))) = (kind, &mut cache.loads)
            && *at == self.generations.loads()
            && matches!(
                kind,
                Screen::Incidents | Screen::Approvals | Screen::Controls
            )
        {
            Arc::make_mut(loads).count_row(&self.data, kind, id, false);
            patched.loads = Some(kind);
        }
        patched
    }

    /// Puts the row `id` back, as now applied, into what `take_row` took
    /// it out of, and marks those current again.
    fn put_row(&mut self, patched: Patched, id: &str) {
        let cache = self.cache.get_mut();
        for s in patched.lists {
            if let Some(sorted) = &mut cache.lists[s.index()] {
                if screen::row_matches(&self.data, s, id, &sorted.filter) {
                    let at = screen::insertion_point(&self.data, s, &sorted.ids, id);
                    Arc::make_mut(&mut sorted.ids).insert(at, id.to_string());
                }
                sorted.generation = self.generations.of(s);
            }
        }
        if let (Some(kind), Some((at, loads))) = (patched.loads, &mut cache.loads) {
            Arc::make_mut(loads).count_row(&self.data, kind, id, true);
            *at = self.generations.loads();
        }
    }

    /// Incidents, approvals and controls per agent, counted once after any
    /// of them changes.
    pub fn agent_loads(&self) -> Arc<AgentLoads> {
        let generation = self.generations.loads();
        let Ok(mut cache) = self.cache.try_borrow_mut() else {
            return Arc::new(AgentLoads::count(&self.data));
        };
        if let Some((at, loads)) = &cache.loads
            && *at == generation
        {
            return loads.clone();
        }
        let loads = Arc::new(AgentLoads::count(&self.data));
        cache.loads = Some((generation, loads.clone()));
        loads
    }

    /// The runbook linked to the selected incident, if the hub serves it.
    pub fn selected_runbook(&self) -> Option<&crate::model::runbook::Runbook> {
        let id = self.selected(Screen::Incidents)?;
        let name = self.data.incidents.get(&id)?.runbook.clone()?;
        self.runbooks.get(&name).or_else(|| {
            let category = self.data.incidents.get(&id)?.category.as_str();
            self.runbooks
                .values()
                .find(|r| r.categories.iter().any(|c| c == category))
        })
    }

    fn move_selection(&mut self, delta: isize) {
        if self.screen == Screen::Runbook {
            let steps = self.selected_runbook().map_or(0, |r| r.steps.len());
            if steps > 0 {
                let next = (self.step_focus as isize + delta).clamp(0, steps as isize - 1);
                self.step_focus = next as usize;
            }
            return;
        }
        let s = if self.screen == Screen::Runbook {
            Screen::Incidents
        } else {
            self.screen
        };
        let (ids, current) = self.selection(s);
        let Some(current) = current else {
            return;
        };
        let next = (current as isize)
            .saturating_add(delta)
            .clamp(0, ids.len() as isize - 1) as usize;
        if let Some(id) = ids.get(next) {
            self.list_mut(s).selected = Some(id.clone());
        }
    }

    fn presence_effect(&mut self) -> Vec<Effect> {
        let viewing = match self.screen {
            Screen::Incidents | Screen::Runbook => self.selected(Screen::Incidents),
            Screen::Approvals => self.selected(Screen::Approvals),
            _ => None,
        };
        if viewing == self.viewing || matches!(self.connection, Connection::Replay { .. }) {
            return Vec::new();
        }
        self.viewing.clone_from(&viewing);
        vec![Effect::Presence(viewing)]
    }

    /// The agent the selected row concerns, and the incident if one.
    pub fn selected_agent(&self) -> Option<(String, Option<String>)> {
        if let Some(d) = &self.agent_detail {
            return Some((d.agent.clone(), None));
        }
        match self.screen {
            Screen::Overview => {
                let id = self.selected(Screen::Overview)?;
                self.data.slos.get(&id).map(|s| (s.agent.clone(), None))
            }
            Screen::Incidents | Screen::Runbook => {
                let id = self.selected(Screen::Incidents)?;
                let i = self.data.incidents.get(&id)?;
                i.agent.clone().map(|a| (a, Some(id)))
            }
            Screen::Approvals => {
                let id = self.selected(Screen::Approvals)?;
                self.data
                    .approvals
                    .get(&id)
                    .map(|a| (a.agent.clone(), None))
            }
            Screen::Agents => self.selected(Screen::Agents).map(|a| (a, None)),
            Screen::Controls => {
                let id = self.selected(Screen::Controls)?;
                self.data
                    .controls
                    .get(&id)
                    .filter(|c| c.agent != "*")
                    .map(|c| (c.agent.clone(), None))
            }
            Screen::Handoff => None,
        }
    }

    // ---- keys -------------------------------------------------------------------

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

    /// The keymap context keys are looked up in: the agent detail when it
    /// is open, else the screen's.
    pub fn context(&self) -> Context {
        if self.agent_detail.is_some() {
            Context::Agent
        } else {
            self.screen.context()
        }
    }

    /// Opens the agent detail screen for `agent` and asks for its data.
    pub fn inspect(&mut self, agent: &str) -> Vec<Effect> {
        self.agent_detail = Some(super::agent_view::DetailState {
            agent: agent.to_string(),
            detail: None,
            scroll: 0,
            requested: Some(Instant::now()),
        });
        vec![Effect::FetchAgent(agent.to_string())]
    }

    /// What the agent detail screen does with an action; none when the
    /// action is not its own (or the screen is closed).
    fn detail_act(&mut self, action: Action) -> Option<Vec<Effect>> {
        let d = self.agent_detail.as_mut()?;
        let scroll = |d: &mut super::agent_view::DetailState, by: i32| {
            d.scroll = (i32::from(d.scroll) + by).clamp(0, i32::from(u16::MAX)) as u16;
        };
        match action {
            Action::Up => scroll(d, -1),
            Action::Down => scroll(d, 1),
            Action::PageUp => scroll(d, -10),
            Action::PageDown => scroll(d, 10),
            Action::Top => d.scroll = 0,
            Action::Refresh => {
                d.requested = Some(Instant::now());
                return Some(vec![Effect::FetchAgent(d.agent.clone())]);
            }
            Action::Close => self.agent_detail = None,
            Action::Inspect | Action::Open => {}
            Action::ShowOverview
            | Action::ShowIncidents
            | Action::ShowApprovals
            | Action::ShowControls
            | Action::ShowAgents
            | Action::ShowRunbook
            | Action::ShowHandoff
            | Action::NextScreen
            | Action::PrevScreen => {
                self.agent_detail = None;
                return None;
            }
            _ => return None,
        }
        Some(Vec::new())
    }

    /// Carries out an action (also used by tests and the command line).
    pub fn act(&mut self, action: Action) -> Vec<Effect> {
        if let Some(why) = self.unavailable(action) {
            self.say(Level::Error, format!("{}: {why}", action.help()));
            return Vec::new();
        }
        if let Some(effects) = self.detail_act(action) {
            return effects;
        }
        let page = 10;
        match action {
            Action::Quit => return vec![Effect::Quit],
            Action::Help => self.dialog = Some(Dialog::Help { scroll: 0 }),
            Action::CommandLine => {
                self.dialog = Some(Dialog::Text {
                    title: "command".into(),
                    hint: vec![],
                    input: line_input(""),
                    purpose: TextPurpose::Command,
                    error: None,
                });
            }
            Action::Filter => {
                let current = self.list(self.screen).filter.clone();
                self.dialog = Some(Dialog::Text {
                    title: "filter".into(),
                    hint: vec![],
                    input: line_input(&current),
                    purpose: TextPurpose::Filter,
                    error: None,
                });
            }
            Action::Copy => {
                let id = match self.screen {
                    Screen::Runbook => self.selected(Screen::Incidents),
                    s => self.selected(s),
                };
                match id {
                    Some(id) => {
                        self.say(Level::Info, format!("copied {id}"));
                        return vec![Effect::Copy(id)];
                    }
                    None => self.say(Level::Error, "nothing selected to copy"),
                }
            }
            Action::ShowOverview
            | Action::ShowIncidents
            | Action::ShowApprovals
            | Action::ShowControls
            | Action::ShowAgents
            | Action::ShowRunbook
            | Action::ShowHandoff => {
                if let Some(s) = Screen::ALL.iter().find(|s| s.action() == action) {
                    self.screen = *s;
                    if *s == Screen::Handoff {
                        return vec![Effect::FetchHandoff];
                    }
                }
            }
            Action::NextScreen => {
                self.screen = Screen::ALL[(self.screen.index() + 1) % Screen::ALL.len()]
            }
            Action::PrevScreen => {
                self.screen =
                    Screen::ALL[(self.screen.index() + Screen::ALL.len() - 1) % Screen::ALL.len()]
            }
            Action::Up => self.move_selection(-1),
            Action::Down => self.move_selection(1),
            Action::PageUp => self.move_selection(-page),
            Action::PageDown => self.move_selection(page),
            Action::Top => self.move_selection(-(isize::MAX / 2)),
            Action::Bottom => self.move_selection(isize::MAX / 2),
            Action::Open => {
                let s = self.screen;
                let l = self.list_mut(s);
                l.detail = !l.detail;
            }
            Action::Close => {
                let s = self.screen;
                let l = self.list_mut(s);
                if !l.filter.is_empty() {
                    l.filter.clear();
                } else {
                    l.detail = false;
                }
            }
            Action::Approve => {
                if let Some(a) = self
                    .selected(Screen::Approvals)
                    .and_then(|id| self.data.approvals.get(&id).cloned())
                {
                    let mut lines = vec![
                        format!("{} wants to {} ({} risk)", a.agent, a.action, a.risk_str()),
                        format!("arguments: {}", a.args),
                    ];
                    if a.approvals_required > 1 {
                        lines.push(format!(
                            "needs {} different approvers; {} so far",
                            a.approvals_required,
                            a.decisions.len()
                        ));
                    }
                    self.dialog = Some(Dialog::Confirm {
                        title: format!("Approve {}?", a.id),
                        lines,
                        op: Op::Approve(a.id.clone()),
                    });
                } else {
                    self.say(Level::Error, "no approval selected");
                }
            }
            Action::Reject => {
                if let Some(a) = self
                    .selected(Screen::Approvals)
                    .and_then(|id| self.data.approvals.get(&id).cloned())
                {
                    let mut hint = vec![format!(
                        "Why reject {} ({} by {})? A reason is required.",
                        a.id, a.action, a.agent
                    )];
                    if !a.reject_options.is_empty() {
                        hint.push(format!(
                            "the agent offers: {}",
                            a.reject_options.join(" · ")
                        ));
                    }
                    self.dialog = Some(Dialog::Text {
                        title: format!("Reject {}", a.id),
                        hint,
                        input: line_input(""),
                        purpose: TextPurpose::Reject(a.id.clone()),
                        error: None,
                    });
                } else {
                    self.say(Level::Error, "no approval selected");
                }
            }
            Action::Acknowledge
            | Action::Take
            | Action::Escalate
            | Action::Note
            | Action::Resolve => {
                return self.incident_action(action);
            }
            Action::Lift => {
                if let Some(c) = self
                    .selected(Screen::Controls)
                    .and_then(|id| self.data.controls.get(&id).cloned())
                {
                    self.dialog = Some(Dialog::Confirm {
                        title: format!("Lift {}?", c.id),
                        lines: vec![
                            format!("{} on {} set by {}", c.kind.as_str(), c.agent, c.set_by),
                            format!("reason: {}", c.reason),
                        ],
                        op: Op::Lift(c.id.clone()),
                    });
                } else {
                    self.say(Level::Error, "no control selected");
                }
            }
            Action::Contain => self.open_containment(),
            Action::EmergencyStop => {
                self.dialog = Some(Dialog::Text {
                    title: "EMERGENCY STOP: pause every agent".into(),
                    hint: vec![
                        "Every agent in the fleet stops taking work on its next poll or callback."
                            .into(),
                        format!("Type {STOP_PHRASE} and press enter to confirm; esc cancels."),
                    ],
                    input: line_input(""),
                    purpose: TextPurpose::EmergencyStop,
                    error: None,
                });
            }
            Action::CancelPending => {
                let effects = self.cancel_oldest();
                if effects.is_empty() {
                    self.say(Level::Info, "nothing is waiting for the hub");
                }
                return effects;
            }
            Action::Refresh => return vec![Effect::FetchHandoff],
            Action::Inspect => match self.selected_agent() {
                Some((agent, _)) => return self.inspect(&agent),
                None => self.say(Level::Error, "no agent on the selected row"),
            },
            Action::AgentFilter => {
                let l = self.list_mut(Screen::Agents);
                let filters: Vec<String> = std::iter::once(String::new())
                    .chain(
                        screen::AGENT_FINDING_FILTERS
                            .iter()
                            .map(|f| format!("is:{}", f.as_str())),
                    )
                    .collect();
                let at = filters.iter().position(|f| *f == l.filter);
                l.filter = filters[at.map_or(0, |i| (i + 1) % filters.len())].clone();
                let shown = if l.filter.is_empty() {
                    "all agents".to_string()
                } else {
                    format!("agents with {}", l.filter)
                };
                self.say(Level::Info, format!("showing {shown}"));
            }
            Action::RunStep => return self.run_step(),
            Action::Confirm | Action::Cancel => {}
        }
        Vec::new()
    }

    fn run_step(&mut self) -> Vec<Effect> {
        let Some(incident) = self
            .selected(Screen::Incidents)
            .and_then(|id| self.data.incidents.get(&id).cloned())
        else {
            self.say(
                Level::Error,
                "no incident selected (choose one on screen 2)",
            );
            return Vec::new();
        };
        let Some(rb) = self.selected_runbook().cloned() else {
            self.say(
                Level::Error,
                format!("{} has no runbook on this hub", incident.id),
            );
            return Vec::new();
        };
        let Some(step) = rb.steps.get(self.step_focus).cloned() else {
            self.say(Level::Error, "this runbook has no steps");
            return Vec::new();
        };
        if let Some(done) = incident
            .steps
            .iter()
            .find(|s| s.runbook == rb.name && s.step == step.index)
        {
            self.say(
                Level::Error,
                format!(
                    "step {} was done by {} at {}",
                    step.index,
                    done.by,
                    done.at.format("%H:%M:%S")
                ),
            );
            return Vec::new();
        }
        let what = match &step.action {
            Some(a) => format!("runs: {}", serde_json::to_string(a).unwrap_or_default()),
            None => "no action: ticks the step as done by hand".to_string(),
        };
        self.dialog = Some(Dialog::Confirm {
            title: format!("Step {} of {} on {}?", step.index, rb.name, incident.id),
            lines: vec![crate::tui::sanitize::fit(&step.text, 70), what],
            op: Op::RunStep(incident.id.clone(), step.index),
        });
        Vec::new()
    }

    fn incident_action(&mut self, action: Action) -> Vec<Effect> {
        let Some(i) = self
            .selected(Screen::Incidents)
            .and_then(|id| self.data.incidents.get(&id).cloned())
        else {
            self.say(Level::Error, "no incident selected");
            return Vec::new();
        };
        let me = self
            .operator
            .as_ref()
            .map(|o| o.name.clone())
            .unwrap_or_default();
        match action {
            Action::Acknowledge => return self.send(Op::Ack(i.id)),
            Action::Take => return self.send(Op::Assign(i.id, me)),
            Action::Escalate => {
                let higher: Vec<(MenuItem, String, Option<String>)> =
                    [Severity::Sev1, Severity::Sev2, Severity::Sev3]
                        .into_iter()
                        .filter(|s| *s < i.severity)
                        .map(|s| (MenuItem::Severity(s), s.as_str().to_string(), None))
                        .collect();
                if higher.is_empty() {
                    self.say(Level::Error, format!("{} is already SEV1", i.id));
                } else {
                    self.dialog = Some(Dialog::Menu {
                        title: format!("Escalate {} (now {})", i.id, i.severity.as_str()),
                        items: higher,
                        selected: 0,
                        agent: i.agent.clone().unwrap_or_default(),
                        incident: Some(i.id),
                    });
                }
            }
            Action::Note => {
                self.dialog = Some(Dialog::Text {
                    title: format!("Note on {}", i.id),
                    hint: vec![crate::tui::sanitize::fit(&i.title, 70)],
                    input: line_input(""),
                    purpose: TextPurpose::Note(i.id),
                    error: None,
                });
            }
            Action::Resolve => {
                self.dialog = Some(Dialog::Text {
                    title: format!("Resolve {}", i.id),
                    hint: vec!["What happened and what fixed it? A summary is required.".into()],
                    input: line_input(""),
                    purpose: TextPurpose::Resolve(i.id),
                    error: None,
                });
            }
            _ => {}
        }
        Vec::new()
    }

    fn open_containment(&mut self) {
        let Some((agent, incident)) = self.selected_agent() else {
            self.say(
                Level::Error,
                "select an SLO, incident, approval or agent first",
            );
            return;
        };
        let has_tools = self
            .data
            .agents
            .get(&agent)
            .is_some_and(|a| !a.tools.is_empty());
        let has_versions = !self.versions_of(&agent).is_empty();
        let items = vec![
            (
                MenuItem::Contain(ControlKind::DisableTool),
                "disable a tool…".to_string(),
                (!has_tools).then(|| "no tools seen for this agent".to_string()),
            ),
            (
                MenuItem::Contain(ControlKind::ForceFallback),
                "force fallback".into(),
                None,
            ),
            (
                MenuItem::Contain(ControlKind::RouteToHumans),
                "route to humans".into(),
                None,
            ),
            (
                MenuItem::Contain(ControlKind::RequireApproval),
                "require approval for every action".into(),
                None,
            ),
            (
                MenuItem::Contain(ControlKind::PinVersion),
                "pin a known-good version…".into(),
                (!has_versions).then(|| "no versions seen for this agent".to_string()),
            ),
            (
                MenuItem::Contain(ControlKind::PauseAgent),
                "pause agent".into(),
                None,
            ),
        ];
        self.dialog = Some(Dialog::Menu {
            title: format!("Contain {agent}"),
            items,
            selected: 0,
            agent,
            incident,
        });
    }

    /// Versions an agent has run, as `component:version`: the current ones
    /// and every one seen in its version markers.
    pub fn versions_of(&self, agent: &str) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let mut push = |c: Component, v: &str| {
            let s = format!("{}:{v}", c.as_str());
            if !out.contains(&s) {
                out.push(s);
            }
        };
        if let Some(a) = self.data.agents.get(agent) {
            for c in Component::ALL {
                if let Some(v) = a.versions.get(c) {
                    push(c, v);
                }
            }
        }
        for s in self.data.slos.values().filter(|s| s.agent == agent) {
            for m in &s.markers {
                if let Some(from) = &m.from {
                    push(m.component, from);
                }
                push(m.component, &m.to);
            }
        }
        out
    }

    fn runs_per_minute(&self, agent: &str) -> u64 {
        self.data
            .agents
            .get(agent)
            .map(|a| a.runs_last_minute)
            .unwrap_or(0)
    }

    fn contain_form(&mut self, request: ControlRequest) {
        let target = request
            .tool
            .as_deref()
            .map(|t| format!(" tool {t}"))
            .or_else(|| request.version.as_deref().map(|v| format!(" to {v}")))
            .unwrap_or_default();
        let mut lines = vec![
            format!("{}{target} on {}", request.kind.as_str(), request.agent),
            format!(
                "affects about {} runs/min",
                self.runs_per_minute(&request.agent)
            ),
        ];
        if let Some(i) = &request.incident {
            lines.push(format!("linked to {i}"));
        }
        self.dialog = Some(Dialog::ContainForm {
            request,
            lines,
            ttl: line_input(""),
            reason: line_input(""),
            field: FormField::Reason,
            error: None,
        });
    }

    fn dialog_key(&mut self, event: KeyEvent) -> Vec<Effect> {
        let key = Key::from_event(&event);
        let action = key.and_then(|k| match self.keymap.resolve(&[Context::Dialog], &[k]) {
            Resolution::Action(a) => Some(a),
            _ => None,
        });
        let Some(dialog) = self.dialog.take() else {
            return Vec::new();
        };
        match dialog {
            Dialog::Help { scroll } => {
                let scroll = match action {
                    Some(Action::Down) => scroll.saturating_add(1),
                    Some(Action::Up) => scroll.saturating_sub(1),
                    _ if matches!(event.code, KeyCode::Char('j')) => scroll.saturating_add(1),
                    _ if matches!(event.code, KeyCode::Char('k')) => scroll.saturating_sub(1),
                    _ => return Vec::new(), // any other key closes help
                };
                self.dialog = Some(Dialog::Help { scroll });
                Vec::new()
            }
            Dialog::Confirm { title, lines, op } => match action {
                Some(Action::Confirm) => self.send(op),
                Some(Action::Cancel) => Vec::new(),
                _ => {
                    self.dialog = Some(Dialog::Confirm { title, lines, op });
                    Vec::new()
                }
            },
            Dialog::Menu {
                title,
                items,
                mut selected,
                agent,
                incident,
            } => {
                match action {
                    Some(Action::Cancel) => return Vec::new(),
                    Some(Action::Up) => selected = selected.saturating_sub(1),
                    Some(Action::Down) => {
                        selected = (selected + 1).min(items.len().saturating_sub(1))
                    }
                    Some(Action::Confirm) => {
                        let Some((item, _, why)) = items.get(selected).cloned() else {
                            return Vec::new();
                        };
                        if let Some(why) = why {
                            self.say(Level::Error, why);
                            self.dialog = Some(Dialog::Menu {
                                title,
                                items,
                                selected,
                                agent,
                                incident,
                            });
                            return Vec::new();
                        }
                        return self.menu_choice(item, agent, incident);
                    }
                    _ => match event.code {
                        KeyCode::Char('j') => {
                            selected = (selected + 1).min(items.len().saturating_sub(1))
                        }
                        KeyCode::Char('k') => selected = selected.saturating_sub(1),
                        KeyCode::Char(c) if c.is_ascii_digit() => {
                            let n = c.to_digit(10).unwrap_or(0) as usize;
                            if n >= 1 && n <= items.len() {
                                selected = n - 1;
                            }
                        }
                        _ => {}
                    },
                }
                self.dialog = Some(Dialog::Menu {
                    title,
                    items,
                    selected,
                    agent,
                    incident,
                });
                Vec::new()
            }
            Dialog::Text {
                title,
                hint,
                mut input,
                purpose,
                error,
            } => {
                match action {
                    Some(Action::Cancel) => {
                        if purpose == TextPurpose::Filter {
                            let s = self.screen;
                            self.list_mut(s).filter.clear();
                        }
                        return Vec::new();
                    }
                    Some(Action::Confirm) => {
                        let text = text_of(&input);
                        return match self.submit_text(&purpose, &text) {
                            Ok(effects) => effects,
                            Err(e) => {
                                self.dialog = Some(Dialog::Text {
                                    title,
                                    hint,
                                    input,
                                    purpose,
                                    error: Some(e),
                                });
                                Vec::new()
                            }
                        };
                    }
                    _ => {}
                }
                if purpose == TextPurpose::Command && event.code == KeyCode::Tab {
                    let text = text_of(&input);
                    if let Some(done) = self.complete(&text) {
                        input = line_input(&done);
                    }
                } else if !(event.code == KeyCode::Enter) {
                    input.input(event);
                }
                if purpose == TextPurpose::Filter {
                    let text = text_of(&input);
                    let s = self.screen;
                    self.list_mut(s).filter = text;
                }
                self.dialog = Some(Dialog::Text {
                    title,
                    hint,
                    input,
                    purpose,
                    error,
                });
                Vec::new()
            }
            Dialog::ContainForm {
                mut request,
                lines,
                mut ttl,
                mut reason,
                mut field,
                error,
            } => {
                match action {
                    Some(Action::Cancel) => return Vec::new(),
                    Some(Action::Confirm) => {
                        let ttl_text = text_of(&ttl);
                        let parsed = if ttl_text.is_empty() {
                            Ok(None)
                        } else {
                            crate::config::parse_duration(&ttl_text).and_then(|d| {
                                let secs = d.as_secs();
                                if secs == 0 {
                                    Err("must be at least 1s (empty keeps it until lifted)"
                                        .to_string())
                                } else if secs > crate::model::action::MAX_CONTROL_TTL_S {
                                    Err("at most 30 days".to_string())
                                } else {
                                    Ok(Some(secs))
                                }
                            })
                        };
                        match parsed {
                            Ok(ttl_s) => {
                                request.ttl_s = ttl_s;
                                let why = text_of(&reason);
                                request.reason = if why.is_empty() {
                                    let me = self
                                        .operator
                                        .as_ref()
                                        .map(|o| o.name.as_str())
                                        .unwrap_or("operator");
                                    format!("contained from agentdeck by {me}")
                                } else {
                                    why
                                };
                                return self.send(Op::Control(request));
                            }
                            Err(e) => {
                                self.dialog = Some(Dialog::ContainForm {
                                    request,
                                    lines,
                                    ttl,
                                    reason,
                                    field: FormField::Ttl,
                                    error: Some(format!("TTL: {e}")),
                                });
                                return Vec::new();
                            }
                        }
                    }
                    _ => {}
                }
                if matches!(event.code, KeyCode::Tab | KeyCode::BackTab)
                    || (event.code == KeyCode::Up || event.code == KeyCode::Down)
                {
                    field = if field == FormField::Ttl {
                        FormField::Reason
                    } else {
                        FormField::Ttl
                    };
                } else if field == FormField::Ttl {
                    ttl.input(event);
                } else {
                    reason.input(event);
                }
                self.dialog = Some(Dialog::ContainForm {
                    request,
                    lines,
                    ttl,
                    reason,
                    field,
                    error,
                });
                Vec::new()
            }
        }
    }

    fn menu_choice(
        &mut self,
        item: MenuItem,
        agent: String,
        incident: Option<String>,
    ) -> Vec<Effect> {
        let base = |kind: ControlKind| ControlRequest {
            agent: agent.clone(),
            kind,
            tool: None,
            version: None,
            reason: String::new(),
            ttl_s: None,
            incident: incident.clone(),
        };
        match item {
            MenuItem::Severity(s) => {
                if let Some(id) = incident {
                    return self.send(Op::Escalate(id, s));
                }
            }
            MenuItem::Contain(ControlKind::DisableTool) => {
                let tools = self
                    .data
                    .agents
                    .get(&agent)
                    .map(|a| a.tools.clone())
                    .unwrap_or_default();
                self.dialog = Some(Dialog::Menu {
                    title: format!("Disable which tool of {agent}?"),
                    items: tools
                        .into_iter()
                        .map(|t| (MenuItem::Tool(t.clone()), t, None))
                        .collect(),
                    selected: 0,
                    agent,
                    incident,
                });
            }
            MenuItem::Contain(ControlKind::PinVersion) => {
                let versions = self.versions_of(&agent);
                self.dialog = Some(Dialog::Menu {
                    title: format!("Pin {agent} to which version?"),
                    items: versions
                        .into_iter()
                        .map(|v| (MenuItem::Version(v.clone()), v, None))
                        .collect(),
                    selected: 0,
                    agent,
                    incident,
                });
            }
            MenuItem::Contain(kind) => self.contain_form(base(kind)),
            MenuItem::Tool(t) => {
                let mut r = base(ControlKind::DisableTool);
                r.tool = Some(t);
                self.contain_form(r);
            }
            MenuItem::Version(v) => {
                let mut r = base(ControlKind::PinVersion);
                r.version = Some(v);
                self.contain_form(r);
            }
        }
        Vec::new()
    }

    fn submit_text(&mut self, purpose: &TextPurpose, text: &str) -> Result<Vec<Effect>, String> {
        match purpose {
            TextPurpose::Reject(id) => {
                if text.is_empty() {
                    return Err("a reason is required to reject".into());
                }
                Ok(self.send(Op::Reject(id.clone(), text.to_string())))
            }
            TextPurpose::Note(id) => {
                if text.is_empty() {
                    return Err("the note is empty".into());
                }
                Ok(self.send(Op::Note(id.clone(), text.to_string())))
            }
            TextPurpose::HandoffNote => {
                if text.is_empty() {
                    return Err("the note is empty".into());
                }
                Ok(self.send(Op::HandoffNote(text.to_string())))
            }
            TextPurpose::Resolve(id) => {
                if text.is_empty() {
                    return Err("a summary is required to resolve".into());
                }
                Ok(self.send(Op::Resolve(id.clone(), text.to_string())))
            }
            TextPurpose::EmergencyStop => {
                if text != STOP_PHRASE {
                    return Err(format!("type {STOP_PHRASE} exactly to pause the fleet"));
                }
                let me = self
                    .operator
                    .as_ref()
                    .map(|o| o.name.as_str())
                    .unwrap_or("operator");
                Ok(self.send(Op::Control(ControlRequest {
                    agent: "*".into(),
                    kind: ControlKind::PauseAgent,
                    tool: None,
                    version: None,
                    reason: format!("emergency stop from agentdeck by {me}"),
                    ttl_s: None,
                    incident: None,
                })))
            }
            TextPurpose::Filter => {
                let s = self.screen;
                self.list_mut(s).filter = text.to_string();
                Ok(Vec::new())
            }
            TextPurpose::Command => self.command(text),
        }
    }

    /// Command names for completion.
    fn commands(&self) -> Vec<String> {
        let mut c: Vec<String> = Screen::ALL
            .iter()
            .map(|s| s.command().to_string())
            .collect();
        c.extend(["help", "quit", "q"].map(String::from));
        c.extend(self.data.agents.keys().map(|a| format!("agent {a}")));
        c
    }

    /// Completes a partial command to the longest common prefix of its
    /// matches.
    pub fn complete(&self, partial: &str) -> Option<String> {
        let matches: Vec<String> = self
            .commands()
            .into_iter()
            .filter(|c| c.starts_with(partial))
            .collect();
        let first = matches.first()?;
        let mut prefix = first.clone();
        for m in &matches[1..] {
            while !m.starts_with(&prefix) {
                prefix.pop();
            }
        }
        (prefix.len() > partial.len()).then_some(prefix)
    }

    fn command(&mut self, text: &str) -> Result<Vec<Effect>, String> {
        let mut words = text.split_whitespace();
        let Some(verb) = words.next() else {
            return Ok(Vec::new());
        };
        if verb == "agent" {
            let name = words.next().ok_or("usage: agent NAME")?;
            if !self.data.agents.contains_key(name) {
                return Err(format!("no agent {name:?}"));
            }
            self.screen = Screen::Agents;
            self.list_mut(Screen::Agents).selected = Some(name.to_string());
            return Ok(Vec::new());
        }
        if let Some(s) = Screen::ALL
            .iter()
            .find(|s| s.command() == verb || s.command().starts_with(verb) && verb.len() >= 3)
        {
            self.screen = *s;
            return Ok(Vec::new());
        }
        if let Ok(n) = verb.parse::<usize>()
            && (1..=7).contains(&n)
        {
            self.screen = Screen::ALL[n - 1];
            return Ok(Vec::new());
        }
        match verb {
            "q" | "quit" => Ok(vec![Effect::Quit]),
            "help" => {
                self.dialog = Some(Dialog::Help { scroll: 0 });
                Ok(Vec::new())
            }
            "agent" => {
                let name = words.next().ok_or("usage: agent NAME")?;
                if !self.data.agents.contains_key(name) {
                    return Err(format!("no agent {name:?}"));
                }
                self.screen = Screen::Agents;
                self.list_mut(Screen::Agents).selected = Some(name.to_string());
                Ok(Vec::new())
            }
            other => Err(format!(
                "unknown command {other:?} (overview, incidents, approvals, controls, agents, runbook, handoff, agent NAME, help, q)"
            )),
        }
    }

    /// Turns an operation into a request, shown as pending until answered.
    pub fn send(&mut self, op: Op) -> Vec<Effect> {
        let id = self.next_request;
        self.next_request += 1;
        self.pending.insert(
            id,
            Pending {
                label: op.label(),
                retrying: None,
                since: Instant::now(),
            },
        );
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

/// A keypress, for tests and the end-to-end harness.
pub fn key(code: KeyCode) -> KeyEvent {
    KeyEvent::new(code, KeyModifiers::NONE)
}

trait RiskStr {
    fn risk_str(&self) -> &'static str;
}

impl RiskStr for crate::model::approval::Approval {
    fn risk_str(&self) -> &'static str {
        match self.risk {
            crate::model::envelope::Risk::Low => "low",
            crate::model::envelope::Risk::Medium => "medium",
            crate::model::envelope::Risk::High => "high",
            crate::model::envelope::Risk::Critical => "critical",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::approval::Approval;
    use crate::model::control::Control;
    use crate::model::incident::Incident;
    use crate::model::stream::Snapshot;
    use chrono::TimeZone;

    /// The TUI tests' fixture, grown to `n` incidents, approvals and
    /// controls with many equal sort keys (severity and opening time,
    /// deadline, fleet-wide and set time), so the tie-breaks matter.
    fn big_snapshot(n: usize) -> Snapshot {
        let mut s: Snapshot =
            serde_json::from_str(include_str!("../../tests/fixtures/tui_state.json"))
                .expect("the TUI fixture decodes");
        let t0 = Utc
            .with_ymd_and_hms(2026, 11, 21, 3, 0, 0)
            .single()
            .expect("a time");
        let sevs = [
            Severity::Sev1,
            Severity::Sev2,
            Severity::Sev3,
            Severity::Sev4,
        ];
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move |m: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % m
        };
        let base_i: Incident = s.incidents[0].clone();
        let base_a: Approval = s.approvals[0].clone();
        let base_c: Control = s.controls[0].clone();
        for k in 0..n {
            let mut i = base_i.clone();
            i.id = format!("INC-{}", 1000 + next(100_000));
            i.severity = sevs[next(4) as usize];
            i.opened_at = t0 + chrono::Duration::seconds(next(20) as i64);
            i.agent = Some(format!("agent-{}", next(7)));
            s.incidents.push(i);
            let mut a = base_a.clone();
            a.id = format!("APR-{k}");
            a.deadline = t0 + chrono::Duration::seconds(next(30) as i64);
            a.agent = format!("agent-{}", next(7));
            s.approvals.push(a);
            let mut c = base_c.clone();
            c.id = format!("CTL-{}", 100 + k);
            c.agent = if next(5) == 0 {
                "*".into()
            } else {
                format!("agent-{}", next(7))
            };
            c.set_at = t0 + chrono::Duration::seconds(next(10) as i64);
            s.controls.push(c);
        }
        s
    }

    fn app_with(s: Snapshot) -> App {
        let mut app = App::new(Keymap::default_keymap(), None, false);
        app.apply_feed(FeedMsg::Snapshot(Box::new(s)));
        app
    }

    /// The ids as the lists were ordered before they were cached: a stable
    /// sort of the id-ordered maps on the screen's own keys.
    fn stable_ids(data: &FeedData, s: Screen, filter: &str) -> Vec<String> {
        let f = filter.to_lowercase();
        let hit =
            |fields: &[&str]| f.is_empty() || fields.iter().any(|x| x.to_lowercase().contains(&f));
        match s {
            Screen::Incidents | Screen::Runbook => {
                let mut rows: Vec<&Incident> = data
                    .incidents
                    .values()
                    .filter(|i| {
                        hit(&[
                            &i.id,
                            &i.title,
                            i.agent.as_deref().unwrap_or(""),
                            i.owner.as_deref().unwrap_or(""),
                            i.severity.as_str(),
                            i.state.as_str(),
                        ])
                    })
                    .collect();
                rows.sort_by(|a, b| {
                    a.severity
                        .cmp(&b.severity)
                        .then(a.opened_at.cmp(&b.opened_at))
                });
                rows.iter().map(|x| x.id.clone()).collect()
            }
            Screen::Approvals => {
                let mut rows: Vec<&Approval> = data
                    .approvals
                    .values()
                    .filter(|a| hit(&[&a.id, &a.agent, &a.action, a.tool.as_deref().unwrap_or("")]))
                    .collect();
                rows.sort_by(|a, b| a.deadline.cmp(&b.deadline).then(a.id.cmp(&b.id)));
                rows.iter().map(|x| x.id.clone()).collect()
            }
            Screen::Controls => {
                let mut rows: Vec<&Control> = data
                    .controls
                    .values()
                    .filter(|c| hit(&[&c.id, &c.agent, c.kind.as_str(), &c.set_by, &c.reason]))
                    .collect();
                rows.sort_by(|a, b| {
                    (b.agent == "*")
                        .cmp(&(a.agent == "*"))
                        .then(b.set_at.cmp(&a.set_at))
                });
                rows.iter().map(|x| x.id.clone()).collect()
            }
            _ => unreachable!("not compared here"),
        }
    }

    #[test]
    fn cached_rows_keep_the_order_and_filter_of_the_stable_sort() {
        let mut app = app_with(big_snapshot(600));
        for s in [Screen::Incidents, Screen::Approvals, Screen::Controls] {
            for filter in ["", "agent-3", "SEV1", "ReFuNd", "İ", "é", "zzz"] {
                app.list_mut(s).filter = filter.to_string();
                let want = stable_ids(&app.data, s, filter);
                assert_eq!(*app.rows(s), *want, "{s:?} filtered by {filter:?}");
                // Every listed row is found where it is, by binary search.
                for (at, id) in want.iter().enumerate() {
                    assert_eq!(
                        screen::position(&app.data, s, &app.rows(s), id),
                        Some(at),
                        "{s:?} {id}"
                    );
                }
            }
            app.list_mut(s).filter.clear();
        }
    }

    #[test]
    fn rows_are_sorted_again_after_a_delta_and_the_selection_follows_its_id() {
        let mut app = app_with(big_snapshot(300));
        app.screen = Screen::Approvals;
        app.act(Action::PageDown);
        app.act(Action::PageDown);
        app.act(Action::Down);
        let (ids, at) = app.selection(Screen::Approvals);
        assert_eq!(at, Some(21));
        let chosen = ids[21].clone();
        // The chosen approval's deadline moves to the front: the list is
        // sorted again and the selection goes with it.
        let mut moved = app.data.approvals[&chosen].clone();
        moved.deadline = Utc
            .with_ymd_and_hms(2026, 11, 21, 2, 0, 0)
            .single()
            .expect("a time");
        app.apply_feed(FeedMsg::Delta(
            app.data.seq + 1,
            Delta::Approval(Box::new(moved)),
        ));
        assert_eq!(app.selection(Screen::Approvals).1, Some(0));
        assert_eq!(app.selected(Screen::Approvals), Some(chosen.clone()));
        assert_eq!(
            *app.rows(Screen::Approvals),
            *stable_ids(&app.data, Screen::Approvals, "")
        );
        // A filter that hides it: the first row is selected, the remembered
        // one comes back with the filter cleared.
        app.list_mut(Screen::Approvals).filter = "no such row".into();
        assert_eq!(app.selected(Screen::Approvals), None);
        app.list_mut(Screen::Approvals).filter.clear();
        assert_eq!(app.selected(Screen::Approvals), Some(chosen));
        // Bottom and top.
        app.act(Action::Bottom);
        assert_eq!(
            app.selection(Screen::Approvals).1,
            Some(app.data.approvals.len() - 1)
        );
        app.act(Action::PageUp);
        assert_eq!(
            app.selection(Screen::Approvals).1,
            Some(app.data.approvals.len() - 11)
        );
        app.act(Action::Top);
        assert_eq!(app.selection(Screen::Approvals).1, Some(0));
    }

    #[test]
    fn a_delta_of_another_kind_keeps_the_sorted_rows() {
        let mut app = app_with(big_snapshot(50));
        let before = app.rows(Screen::Incidents);
        let slo = app.data.slos.values().next().cloned().expect("an SLO");
        app.apply_feed(FeedMsg::Delta(app.data.seq + 1, Delta::Slo(Box::new(slo))));
        assert!(
            Arc::ptr_eq(&before, &app.rows(Screen::Incidents)),
            "not sorted again"
        );
    }

    /// Deltas patch the cached lists and counts in place; after each, they
    /// are what sorting and counting from scratch gives, filters and all.
    #[test]
    fn patched_rows_and_counts_equal_a_fresh_sort_and_count() {
        let mut app = app_with(big_snapshot(400));
        app.list_mut(Screen::Controls).filter = "agent-2".into();
        app.list_mut(Screen::Runbook).filter = "SEV2".into();
        let lists = [
            Screen::Incidents,
            Screen::Runbook,
            Screen::Approvals,
            Screen::Controls,
        ];
        let t0 = Utc
            .with_ymd_and_hms(2026, 11, 21, 3, 0, 0)
            .single()
            .expect("a time");
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut next = move |m: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % m
        };
        for step in 0..600u64 {
            // Current caches, so the delta patches them.
            for s in lists {
                app.rows(s);
            }
            app.agent_loads();
            let delta = match step % 3 {
                0 => {
                    let ids: Vec<&String> = app.data.incidents.keys().collect();
                    let mut i = app.data.incidents[ids[next(ids.len() as u64) as usize]].clone();
                    match next(4) {
                        0 => i.id = format!("INC-N{step}"),
                        1 => i.state = crate::model::incident::IncidentState::Resolved,
                        _ => {}
                    }
                    i.severity = [Severity::Sev2, Severity::Sev3][next(2) as usize];
                    i.opened_at = t0 + chrono::Duration::seconds(next(20) as i64);
                    i.agent = Some(format!("agent-{}", next(7)));
                    Delta::Incident(Box::new(i))
                }
                1 => {
                    let ids: Vec<&String> = app.data.approvals.keys().collect();
                    let mut a = app.data.approvals[ids[next(ids.len() as u64) as usize]].clone();
                    match next(4) {
                        0 => a.id = format!("APR-N{step}"),
                        1 => a.state = crate::model::approval::ApprovalState::Approved,
                        _ => {}
                    }
                    a.deadline = t0 + chrono::Duration::seconds(next(30) as i64);
                    a.agent = format!("agent-{}", next(7));
                    Delta::Approval(Box::new(a))
                }
                _ => {
                    let ids: Vec<&String> = app.data.controls.keys().collect();
                    let mut c = app.data.controls[ids[next(ids.len() as u64) as usize]].clone();
                    match next(4) {
                        0 => c.id = format!("CTL-N{step}"),
                        1 => c.state = crate::model::control::ControlState::Lifted,
                        _ => {}
                    }
                    c.agent = if next(4) == 0 {
                        "*".into()
                    } else {
                        format!("agent-{}", next(7))
                    };
                    c.set_at = t0 + chrono::Duration::seconds(next(10) as i64);
                    Delta::Control(Box::new(c))
                }
            };
            app.apply_feed(FeedMsg::Delta(app.data.seq + 1, delta));
            for s in lists {
                let filter = app.list(s).filter.clone();
                assert_eq!(
                    *app.rows(s),
                    stable_ids(&app.data, s, &filter),
                    "{s:?} after step {step}"
                );
            }
            assert_eq!(
                *app.agent_loads(),
                AgentLoads::count(&app.data),
                "counts after step {step}"
            );
        }
    }

    #[test]
    fn agent_loads_count_what_a_scan_per_agent_counted() {
        let app = app_with(big_snapshot(200));
        let loads = app.agent_loads();
        for agent in (0..8)
            .map(|n| format!("agent-{n}"))
            .chain(["refund-bot".to_string()])
        {
            let d = &app.data;
            let load = loads.of(&agent);
            assert_eq!(
                load.incidents,
                d.incidents
                    .values()
                    .filter(|i| i.agent.as_deref() == Some(&agent))
                    .count()
            );
            assert_eq!(
                load.approvals,
                d.approvals.values().filter(|a| a.agent == agent).count()
            );
            assert_eq!(
                load.controls,
                d.controls
                    .values()
                    .filter(|c| c.agent == agent || c.agent == "*")
                    .count()
            );
        }
    }

    #[test]
    fn the_handoff_summary_is_parsed_again_only_when_it_changes() {
        let mut app = App::new(Keymap::default_keymap(), None, false);
        let theme = Theme::dark();
        assert!(app.handoff_lines(&theme).is_none());
        app.handoff = Some(Ok("# Shift\n\n| a | b |\n|---|---|\n| 1 | 2 |\n".into()));
        let first = app.handoff_lines(&theme).expect("lines");
        let again = app.handoff_lines(&theme).expect("lines");
        assert!(Arc::ptr_eq(&first, &again), "parsed once");
        app.handoff = Some(Ok("# Next shift\n".into()));
        let next = app.handoff_lines(&theme).expect("lines");
        assert_eq!(
            *next,
            super::super::markdown::lines("# Next shift\n", &theme)
        );
        let other = Theme::monochrome();
        assert_eq!(
            *app.handoff_lines(&other).expect("lines"),
            super::super::markdown::lines("# Next shift\n", &other),
            "another theme draws it again"
        );
        app.handoff = Some(Err("hub down".into()));
        assert!(app.handoff_lines(&theme).is_none());
    }

    #[test]
    fn a_new_or_escalated_sev1_rings_once() {
        let mut app = app_with(big_snapshot(0));
        let mut i = app
            .data
            .incidents
            .values()
            .find(|i| i.severity != Severity::Sev1)
            .cloned()
            .expect("a non-SEV1 incident");
        // Updated but not SEV1: nothing.
        assert!(
            app.apply_feed(FeedMsg::Delta(1, Delta::Incident(Box::new(i.clone()))))
                .is_empty()
        );
        i.severity = Severity::Sev1;
        assert_eq!(
            app.apply_feed(FeedMsg::Delta(2, Delta::Incident(Box::new(i.clone())))),
            vec![Effect::Bell]
        );
        // Updated again as SEV1: rung already.
        assert!(
            app.apply_feed(FeedMsg::Delta(3, Delta::Incident(Box::new(i.clone()))))
                .is_empty()
        );
        // A new SEV1 that arrives resolved never rings.
        let mut gone = i.clone();
        gone.id = "INC-9999".into();
        gone.state = crate::model::incident::IncidentState::Resolved;
        assert!(
            app.apply_feed(FeedMsg::Delta(4, Delta::Incident(Box::new(gone))))
                .is_empty()
        );
    }
}
