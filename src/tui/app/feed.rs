//! What the hub tells the app: the stream's messages and the answers to
//! the operator's actions, and whether the hub is in reach at all.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use crate::client::actions::Outcome;
use crate::client::feed::FeedMsg;
use crate::model::incident::Severity;
use crate::model::stream::Delta;

use super::super::data::Change;
use super::super::rows::Patched;
use super::super::screen;
use super::{App, Connection, Effect, Level, STALE_AFTER};

impl App {
    /// While the hub is out of reach (the stream lost, or silent past
    /// [`STALE_AFTER`]) after data arrived: since when, and when the feed
    /// last spoke (what the data shown is as of).
    /// Silence is judged by [`App::tick`], so a frame drawn between ticks
    /// shows what the last tick found.
    pub fn outage(&self) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        self.lost_at.zip(self.heard_at)
    }

    /// Notes that the feed spoke: a live stream is no longer lost.
    fn heard(&mut self) {
        self.last_alive = Instant::now();
        self.heard_at = Some(Utc::now());
        if matches!(self.connection, Connection::Connected) {
            self.lost_at = None;
        }
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
        match msg {
            FeedMsg::Connecting { attempt } => {
                if !matches!(self.connection, Connection::Replay { .. }) {
                    self.connection = Connection::Connecting { attempt };
                }
            }
            FeedMsg::Connected => {
                self.connection = Connection::Connected;
                self.lost_at = None;
                self.heard();
            }
            FeedMsg::Reconnecting {
                attempt,
                retry_in,
                error,
            } => {
                if self.lost_at.is_none() {
                    // Lost when it last spoke, if it went silent first.
                    let silent =
                        chrono::Duration::from_std(self.last_alive.elapsed()).unwrap_or_default();
                    self.lost_at = Some(Utc::now() - silent.min(chrono::Duration::seconds(5)));
                }
                self.connection = Connection::Reconnecting {
                    attempt,
                    next_at: Instant::now() + retry_in,
                    error,
                };
            }
            FeedMsg::Refused(why) => self.connection = Connection::Refused(why),
            FeedMsg::Alive => self.heard(),
            FeedMsg::ReplayClock(t) => {
                self.now = t;
                self.connection = Connection::Replay {
                    clock: Some(t),
                    done: false,
                };
            }
            FeedMsg::Snapshot(s) => {
                self.heard();
                let first = !self.data.loaded;
                let before = self.sev1_ids();
                self.rows.touch_all();
                self.data.load(*s);
                // What is already open when we first arrive is not news; a
                // resync after a reconnect rings for SEV1s opened meanwhile.
                if !first {
                    return self.ring_for_sev1(&before);
                }
            }
            FeedMsg::Delta(id, delta) => return self.apply_delta(id, delta),
        }
        Vec::new()
    }

    /// Applies one delta: patches the sorted lists, rings for a fresh SEV1
    /// and tells the operator when an approval they looked at closed.
    fn apply_delta(&mut self, id: u64, delta: Delta) -> Vec<Effect> {
        // A delta is the stream speaking: a banner raised by a stall (a
        // loaded machine, a slow loop) goes, and the data is as of now.
        self.heard();
        // The changed row leaves the sorted lists and the counts now, as
        // they were built, and comes back in where it belongs once applied:
        // a delta costs a binary search, not a sort of 10,000 rows in the
        // next frame.
        let row = screen::delta_row(&delta).map(|(screens, id)| (screens, id.to_string()));
        let patched = match &row {
            Some((screens, id)) => {
                let panes = &self.panes;
                self.rows.take_row(&self.data, screens, id, |s| {
                    let list = panes.get(s).list();
                    (list.filter.as_str(), list.sort)
                })
            }
            None => Patched::default(),
        };
        self.rows.touch(&delta);
        // Only an incident delta can make an incident SEV1, and only that
        // incident: no need to gather every SEV1 (thousands in a flood)
        // around each delta.
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
            self.rows.put_row(&self.data, patched, id);
        }
        let mut effects = Vec::new();
        // New SEV1s and incidents escalated to SEV1 ring once.
        if let Some(fresh) = fresh_sev1
            && self.data.incidents.contains_key(&fresh)
        {
            effects.extend(self.ring_once_for_sev1(vec![fresh]));
        }
        match change {
            Change::ApprovalClosed(a) => {
                let told = self
                    .panes
                    .approvals
                    .closed(&a, &self.ctx(), self.dialog.as_ref());
                effects.extend(self.carry_out(told));
            }
            Change::ControlEnded(c) => self.say_control_ended(&c),
            _ => {}
        }
        effects
    }

    /// Tells every operator that a control stopped binding its agent:
    /// lifting one is news for everyone watching the agent (the operator
    /// who lifted it is told by their own action's answer).
    fn say_control_ended(&mut self, c: &crate::model::control::Control) {
        let what = match (&c.tool, &c.version) {
            (Some(t), _) => format!("{} {t}", c.kind.as_str()),
            (None, Some(v)) => format!("{} {v}", c.kind.as_str()),
            (None, None) => c.kind.as_str().to_string(),
        };
        let text = match c.lifted_by.as_deref() {
            Some(me) if me == self.ctx().me() => return,
            Some(by) => format!("{} lifted by {by}: {what} on {}", c.id, c.agent),
            None => format!("{} expired: {what} on {}", c.id, c.agent),
        };
        self.say(Level::Info, crate::tui::sanitize::clean(&text));
    }

    fn sev1_ids(&self) -> HashSet<String> {
        self.data
            .incidents
            .values()
            .filter(|i| i.severity == Severity::Sev1)
            .map(|i| i.id.clone())
            .collect()
    }

    /// Rings once for incidents that became SEV1 since `before` (new ones,
    /// and ones escalated to SEV1).
    fn ring_for_sev1(&mut self, before: &HashSet<String>) -> Vec<Effect> {
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
    pub fn apply_outcome(&mut self, id: u64, outcome: Outcome) -> Vec<Effect> {
        self.dirty = true;
        match outcome {
            Outcome::Retrying { attempt, error } => {
                if let Some(p) = self.pending.get_mut(&id) {
                    p.retrying = Some((attempt, error));
                }
            }
            Outcome::Done(_) => {
                if let Some(p) = self.pending.remove(&id) {
                    match p.batch {
                        Some(b) => self.answered(b, p.label, Ok(())),
                        None => self.say(Level::Info, format!("✓ {} done", p.label)),
                    }
                    return p.then;
                }
            }
            Outcome::Refused(status, why) => {
                if let Some(p) = self.pending.remove(&id) {
                    let why = format!("refused ({status}): {why}");
                    match p.batch {
                        Some(b) => self.answered(b, p.label, Err(why)),
                        None => self.say(Level::Error, format!("✗ {} {why}", p.label)),
                    }
                }
            }
            Outcome::Cancelled => {
                if let Some(p) = self.pending.remove(&id) {
                    match p.batch {
                        Some(b) => self.answered(b, p.label, Err("cancelled".into())),
                        None => self.say(Level::Info, format!("{} cancelled", p.label)),
                    }
                }
            }
        }
        Vec::new()
    }
}
