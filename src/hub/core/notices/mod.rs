//! Notifications in the core. A change's audit entries are read for
//! events worth a page ([`notify::notices_of`]); each receiver a route or
//! escalation level names gets an outbox row, written in the change's own
//! transaction. The delivery loop takes due groups ([`Core::due_notices`])
//! and hands back what happened ([`Core::notice_results`]), recorded on the
//! rows, the incident's page list and the audit log in one more change.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::hub::notify::payload::PdAction;
use crate::hub::notify::{self, Kind, Notice, NotifyConfig};
use crate::model::incident::{Page, PageState};

mod deliveries;
mod schedule;

use super::super::store::{NoticeRow, NoticeState, StoreError};
use super::{Change, Core};

/// The group of PagerDuty acknowledge and resolve events: sent at once.
pub const FOLLOW_UP: &str = "follow-up";
/// A notification is retried for a day, then given up (and audited).
pub const GIVE_UP_MS: i64 = 24 * 3600 * 1000;
/// The longest wait between two attempts.
pub const MAX_BACKOFF_MS: i64 = 5 * 60 * 1000;
/// Finished rows read back at start: pages PagerDuty may still hold open.
const LOOK_BACK_MS: i64 = 7 * 24 * 3600 * 1000;

/// What was last sent about a subject to a receiver.
#[derive(Debug, Clone)]
struct Sent {
    /// The route or level it went out under.
    grp: String,
    /// The PagerDuty dedup key.
    page_key: Option<String>,
    last_ms: i64,
    acked: bool,
}

/// The core's notification state: the rows not yet finished, the open
/// group windows, and what each receiver was last sent.
pub struct Notifier {
    config: Arc<NotifyConfig>,
    hub_url: String,
    pending: BTreeMap<u64, NoticeRow>,
    in_flight: HashSet<u64>,
    windows: HashMap<(String, String), i64>,
    sent: HashMap<(String, String), Sent>,
    waiting_sent: HashSet<(String, String)>,
    next_id: u64,
    wake: Arc<tokio::sync::Notify>,
}

/// One request to a receiver, or rows to close with nothing sent.
#[derive(Debug)]
pub struct Outgoing {
    /// The rows it carries.
    pub ids: Vec<u64>,
    /// The receiver's name.
    pub receiver: String,
    /// Where to post.
    pub url: String,
    /// The JSON body; `None` when nothing needs sending (a PagerDuty page
    /// that still covers other open incidents).
    pub body: Option<String>,
    /// The webhook's HMAC key.
    pub secret: Option<String>,
    /// The PagerDuty dedup key.
    pub page_key: Option<String>,
    /// PagerDuty's action, if PagerDuty.
    pub pd_action: Option<PdAction>,
}

impl Notifier {
    /// Notifications as configured; `hub_url` is the fallback link.
    pub fn new(config: Arc<NotifyConfig>, hub_url: String) -> Self {
        Self {
            config,
            hub_url,
            pending: BTreeMap::new(),
            in_flight: HashSet::new(),
            windows: HashMap::new(),
            sent: HashMap::new(),
            waiting_sent: HashSet::new(),
            next_id: 1,
            wake: Arc::new(tokio::sync::Notify::new()),
        }
    }

    /// Rings when new rows are stored.
    pub fn wake(&self) -> Arc<tokio::sync::Notify> {
        self.wake.clone()
    }

    /// Replaces the configuration (rows already queued keep their
    /// receivers; one no longer declared fails visibly).
    pub fn set_config(&mut self, config: Arc<NotifyConfig>) {
        self.config = config;
    }

    fn take_row(&mut self, row: &NoticeRow) {
        match row.state {
            NoticeState::Pending => {
                let w = self
                    .windows
                    .entry((row.receiver.clone(), row.grp.clone()))
                    .or_insert(row.due_ms);
                *w = (*w).max(row.due_ms);
                if row.event == "approval.waiting" {
                    self.waiting_sent
                        .insert((row.grp.clone(), row.subject.clone()));
                }
                self.pending.insert(row.id, row.clone());
            }
            NoticeState::Delivered | NoticeState::Merged => {
                self.pending.remove(&row.id);
                self.finished(row);
            }
            NoticeState::Failed => {
                self.pending.remove(&row.id);
            }
        }
        self.next_id = self.next_id.max(row.id + 1);
    }

    /// Updates what each receiver holds after `row` was handled.
    fn finished(&mut self, row: &NoticeRow) {
        let key = (row.receiver.clone(), row.subject.clone());
        if row.grp != FOLLOW_UP {
            if row.event == "approval.waiting" {
                self.waiting_sent
                    .insert((row.grp.clone(), row.subject.clone()));
            }
            if notify::closes(&row.event) {
                self.sent.remove(&key);
            } else if row.state == NoticeState::Delivered {
                self.sent.insert(
                    key,
                    Sent {
                        grp: row.grp.clone(),
                        page_key: row.page_key.clone(),
                        last_ms: row.done_ms.unwrap_or(row.created_ms),
                        acked: false,
                    },
                );
            }
            return;
        }
        if row.event == notify::ACKNOWLEDGING {
            for s in self.sent.values_mut() {
                if s.page_key.is_some() && s.page_key == row.page_key {
                    s.acked = true;
                }
            }
        } else {
            self.sent.remove(&key);
        }
    }
}

impl Core {
    /// Turns notifications on (at start): loads the outbox and returns the
    /// bell the delivery loop waits on.
    pub fn set_notify(
        &mut self,
        config: Arc<NotifyConfig>,
        hub_url: String,
        now: DateTime<Utc>,
    ) -> Result<Arc<tokio::sync::Notify>, StoreError> {
        let mut n = Notifier::new(config, hub_url);
        let rows = self
            .store
            .notices_since(now.timestamp_millis() - LOOK_BACK_MS)?;
        n.next_id = self.store.max_notice_id()? + 1;
        for row in &rows {
            n.take_row(row);
        }
        let wake = n.wake();
        for r in &n.config.receivers {
            self.metrics.receiver(&r.name);
        }
        self.notifier = Some(n);
        Ok(wake)
    }

    /// Notifications not yet finished, by receiver (sorted).
    pub fn notices_pending(&self) -> Vec<(String, usize)> {
        let mut by: std::collections::BTreeMap<String, usize> = Default::default();
        if let Some(n) = &self.notifier {
            for r in &n.config.receivers {
                by.insert(r.name.clone(), 0);
            }
            for row in n.pending.values() {
                *by.entry(row.receiver.clone()).or_default() += 1;
            }
        }
        by.into_iter().collect()
    }

    /// The notification settings in force, if any.
    pub fn notify_config(&self) -> Option<Arc<NotifyConfig>> {
        self.notifier.as_ref().map(|n| n.config.clone())
    }

    /// Replaces the notification settings (live reload).
    pub fn reload_notify(&mut self, config: Arc<NotifyConfig>) {
        if let Some(n) = &mut self.notifier {
            n.set_config(config);
        }
    }

    /// Queues the notifications a change's audit entries amount to, as
    /// rows of the same change (called by [`Core::commit`]).
    pub(super) fn queue_notices(&mut self, change: &mut Change, now: DateTime<Utc>) {
        if self.notifier.is_none() || change.batch.audit.is_empty() {
            return;
        }
        let notices = {
            let batch = &change.batch;
            let desk = &self.desk;
            let incidents = |id: &str| {
                batch
                    .incidents
                    .iter()
                    .find(|i| i.id == id)
                    .cloned()
                    .or_else(|| desk.incidents.get(id).cloned())
            };
            let approvals = |id: &str| {
                batch
                    .approvals
                    .iter()
                    .find(|a| a.id == id)
                    .cloned()
                    .or_else(|| desk.approvals.get(id).cloned())
            };
            let controls = |id: &str| {
                batch
                    .controls
                    .iter()
                    .find(|c| c.id == id)
                    .cloned()
                    .or_else(|| desk.controls.get(id).cloned())
            };
            notify::notices_of(
                &batch.audit,
                &notify::Objects {
                    incidents: &incidents,
                    approvals: &approvals,
                    controls: &controls,
                },
            )
        };
        for notice in notices {
            let targets = self.targets(&notice);
            self.queue(change, &notice, targets, now);
        }
    }

    /// Who hears of `notice`: `(receiver, group, group wait)` once per
    /// receiver, the first route naming it deciding the group.
    fn targets(&self, notice: &Notice) -> Vec<(String, String, i64)> {
        let Some(n) = &self.notifier else {
            return Vec::new();
        };
        let mut out: Vec<(String, String, i64)> = Vec::new();
        fn add(out: &mut Vec<(String, String, i64)>, receiver: &str, grp: &str, wait_ms: i64) {
            if !out.iter().any(|(r, ..)| r == receiver) {
                out.push((receiver.to_string(), grp.to_string(), wait_ms));
            }
        }
        if let (Some(level), "incident.escalated") = (notice.level, notice.event.as_str())
            && let Some(l) = n.config.escalation.get(level as usize - 1)
        {
            for r in &l.receivers {
                add(&mut out, r, &format!("escalation {level}"), 0);
            }
        }
        for route in n
            .config
            .routes
            .iter()
            .filter(|r| notify::route_takes(r, notice))
        {
            let wait = route.group_wait.as_millis() as i64;
            for r in &route.receivers {
                add(&mut out, r, &route.name, wait);
            }
            if route.incident_owner
                && let Some(r) = self.owner_receiver(notice)
            {
                add(&mut out, &r, &route.name, wait);
            }
        }
        // PagerDuty follows what it was paged about, routed or not.
        if notice.event == notify::ACKNOWLEDGING || notify::closes(&notice.event) {
            out.retain(|(r, ..)| {
                n.config
                    .receiver(r)
                    .is_none_or(|r| r.kind != Kind::Pagerduty)
            });
            for r in n
                .config
                .receivers
                .iter()
                .filter(|r| r.kind == Kind::Pagerduty)
            {
                let key = (r.name.clone(), notice.subject.clone());
                let paged = n.sent.contains_key(&key)
                    || n.pending.values().any(|row| {
                        row.receiver == r.name
                            && row.subject == notice.subject
                            && row.grp != FOLLOW_UP
                    });
                if paged {
                    add(&mut out, &r.name, FOLLOW_UP, 0);
                }
            }
        }
        out
    }

    /// The receiver the inventory names as the agent's incident owner.
    fn owner_receiver(&self, notice: &Notice) -> Option<String> {
        let n = self.notifier.as_ref()?;
        let profile = self.profiles.get(notice.agent.as_deref()?)?;
        let contact = profile.incident_owner.as_ref()?.contact.as_deref()?;
        n.config.contact(contact).map(|r| r.name.clone())
    }

    fn queue(
        &mut self,
        change: &mut Change,
        notice: &Notice,
        targets: Vec<(String, String, i64)>,
        now: DateTime<Utc>,
    ) {
        let Some(n) = &mut self.notifier else {
            return;
        };
        let now_ms = now.timestamp_millis();
        let body = serde_json::to_string(notice).unwrap_or_default();
        let mut pages = Vec::new();
        for (receiver, grp, wait_ms) in targets {
            let window = n.windows.get(&(receiver.clone(), grp.clone()));
            let due_ms = match window {
                Some(&due) if due > now_ms => due,
                _ => now_ms + wait_ms,
            };
            // A failed write skips the id: rows need order, not density.
            let id = n.next_id;
            n.next_id += 1;
            change.batch.notices.push(NoticeRow {
                id,
                receiver: receiver.clone(),
                grp,
                event: notice.event.clone(),
                subject: notice.subject.clone(),
                page_key: None,
                body: body.clone(),
                created_ms: now_ms,
                due_ms,
                attempts: 0,
                next_ms: now_ms,
                state: NoticeState::Pending,
                last_error: None,
                done_ms: None,
            });
            if notice.subject.starts_with("INC-") {
                let page = Page {
                    receiver,
                    event: notice.event.clone(),
                    queued_at: now,
                    state: PageState::Queued,
                    at: now,
                    error: None,
                };
                pages.push(page);
            }
        }
        for page in pages {
            self.page_incident(change, &notice.subject, page);
        }
    }

    /// Records a page on an incident within `change`.
    fn page_incident(&self, change: &mut Change, id: &str, page: Page) {
        let incident = change
            .batch
            .incidents
            .iter()
            .find(|i| i.id == id)
            .cloned()
            .or_else(|| self.desk.incidents.get(id).cloned());
        if let Some(mut i) = incident {
            i.set_page(page);
            change.incident(i);
        }
    }

    /// Takes in rows a change stored (called by [`Core::commit`] once it
    /// is written).
    pub(super) fn notices_stored(&mut self, rows: &[NoticeRow]) {
        let Some(n) = &mut self.notifier else {
            return;
        };
        let mut new = false;
        for row in rows {
            new |= row.state == NoticeState::Pending && row.attempts == 0;
            n.in_flight.remove(&row.id);
            n.take_row(row);
        }
        if new {
            n.wake.notify_one();
        }
    }
}

/// Delay before the next attempt after `failures`, with ±20 % jitter so
/// that receivers coming back are not hit by every hub at once.
fn backoff_ms(failures: u32) -> i64 {
    let base = (1000i64 << failures.min(16)).min(MAX_BACKOFF_MS);
    let mut r = [0u8; 2];
    let jitter = if getrandom::fill(&mut r).is_ok() {
        f64::from(u16::from_le_bytes(r)) / f64::from(u16::MAX) * 0.4 - 0.2
    } else {
        0.0
    };
    base + (base as f64 * jitter) as i64
}
