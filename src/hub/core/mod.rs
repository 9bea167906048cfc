//! The hub's shared state, behind one lock, split by job: the engine, the
//! [`Desk`] of incidents, approvals and controls, the store, the audit
//! chain head and the stream's [`Publisher`]; presence, timers, agent
//! callbacks and read views live in their own files.
//!
//! Every change follows one path: build a [`Change`] from copies of the
//! objects, [`Core::commit`] it to the store in one transaction, and only
//! then apply it in memory and publish its deltas (the objects first, then
//! their audit entries, with consecutive ids and no other delta between
//! them). A failed write changes nothing, so what operators see is always
//! what is stored, and a change is never visible without its audit entry.

mod change;
mod config;
mod desk;
mod notices;
mod outbox;
mod presence;
mod publisher;
mod recent;
mod requests;
mod snapshot;
mod timers;
mod traces;
mod views;

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::sync::broadcast;

use crate::engine::Engine;
use crate::model::action::Presence;
use crate::model::audit::AuditEntry;
use crate::model::envelope::Envelope;
use crate::model::profile::AgentProfile;
use crate::model::slo::SloStatus;
use crate::model::stream::Delta;

use super::policy::Policy;
use super::store::{Backend, Batch, Block, CallbackRow, StoreError};

pub use change::{CallbackJob, Change, approval_callback};
pub use desk::{Desk, by_id_number};
pub use notices::{FOLLOW_UP, Notifier, Outgoing};
pub use publisher::{Frame, Publisher, SEQ_RESERVATION, StreamLimits};
pub use recent::RECENT_EVENT_IDS;
pub use snapshot::{EVERY_EVENTS as SNAPSHOT_EVERY_EVENTS, Taken};

use recent::RecentIds;

use desk::{allocate, id_number};

/// Audit entries kept in memory for snapshots.
pub const AUDIT_TAIL: usize = 50;

/// Counts of one ingest batch.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct IngestOutcome {
    /// Accepted events (repeats of recent event ids included).
    pub accepted: u64,
    /// Repeats of a recent `(agent, id)`: acknowledged, not counted again.
    pub duplicates: u64,
    /// Refused by the engine's limits: (index in the batch, reason).
    pub refused: Vec<(usize, String)>,
}

/// The hub's state.
pub struct Core {
    /// The SLO engine.
    pub(crate) engine: Engine,
    /// Incidents, approvals, controls.
    pub(crate) desk: Desk,
    /// Approval policy.
    pub(crate) policy: Policy,
    store: Backend,
    audit_head: (u64, String),
    audit_tail: VecDeque<AuditEntry>,
    publisher: Publisher,
    /// Connected operators: what each looks at, and how many streams.
    presence: HashMap<String, (Presence, usize)>,
    /// The SLO statuses and agents last published, to publish only changes.
    sent_slo: HashMap<String, SloStatus>,
    sent_agents: HashMap<String, crate::model::agent::Agent>,
    /// Callback registrations by agent.
    callbacks: HashMap<String, CallbackRow>,
    /// Callbacks of committed changes, not yet handed to delivery.
    outbox: Vec<CallbackJob>,
    recent_ids: RecentIds,
    runbooks: crate::runbook::Library,
    /// Per-agent samples for the drill-down endpoints.
    pub(crate) drill: crate::engine::drill::Drill,
    /// Agent registrations by agent.
    pub(crate) profiles: HashMap<String, AgentProfile>,
    /// Decision callbacks delivered and failed, by (agent, action).
    pub(crate) callback_tally: HashMap<(String, String), (u64, u64)>,
    /// OTLP spans waiting for the rest of their trace.
    traces: traces::Traces,
    /// Notifications, when `serve --notify` configured them.
    notifier: Option<Notifier>,
    /// What `/metrics` counts as it happens.
    pub(crate) metrics: std::sync::Arc<super::metrics::HubMetrics>,
    /// Why the last configuration reload was refused, and since when.
    config_error: Option<(DateTime<Utc>, String)>,
    /// When the next engine snapshot is due.
    schedule: snapshot::Schedule,
}

fn meta_u64(meta: &HashMap<String, String>, key: &str) -> u64 {
    meta.get(key).and_then(|v| v.parse().ok()).unwrap_or(0)
}

impl Core {
    /// Builds the state from the store, replaying the event journal into a
    /// fresh engine.
    pub fn open(
        store: impl Into<Backend>,
        engine: Engine,
        policy: Policy,
        limits: StreamLimits,
        now: DateTime<Utc>,
    ) -> Result<Self, StoreError> {
        let store = store.into();
        let loaded = store.load(AUDIT_TAIL, now - desk::DECIDED_KEPT_FOR)?;
        let mut desk = Desk::default();
        for i in loaded.incidents {
            desk.next_incident = desk.next_incident.max(id_number(&i.id));
            desk.incidents.insert(i.id.clone(), i);
        }
        let mut approvals = loaded.approvals;
        approvals.sort_by_key(|a| a.closed_at);
        for a in approvals {
            desk.next_approval = desk.next_approval.max(id_number(&a.id));
            desk.hold_approval(a);
        }
        for c in loaded.controls {
            desk.next_control = desk.next_control.max(id_number(&c.id));
            desk.controls.insert(c.id.clone(), c);
        }
        desk.handoff_notes = loaded.handoff_notes;
        let counter = |key| meta_u64(&loaded.meta, key);
        desk.next_incident = desk.next_incident.max(counter("next_incident"));
        desk.next_approval = desk.next_approval.max(counter("next_approval"));
        desk.next_control = desk.next_control.max(counter("next_control"));
        // Ids handed out before a restart may have been seen by clients:
        // start past everything reserved, or after the shared log's last.
        let publisher = match store.stream_tail(limits.replay)? {
            Some(tail) => {
                let frames = tail.frames.into_iter().map(|(id, f)| Frame {
                    id,
                    event: f.event,
                    data: f.data,
                });
                Publisher::logged(tail.head, frames.collect(), limits)
            }
            None => Publisher::new(counter("seq_reserved"), limits),
        };
        let mut core = Self {
            engine,
            desk,
            policy,
            store,
            audit_head: loaded.audit_head,
            audit_tail: loaded.audit_tail.into(),
            publisher,
            presence: HashMap::new(),
            sent_slo: HashMap::new(),
            callbacks: loaded
                .callbacks
                .into_iter()
                .map(|c| (c.agent.clone(), c))
                .collect(),
            outbox: Vec::new(),
            recent_ids: RecentIds::default(),
            sent_agents: HashMap::new(),
            runbooks: crate::runbook::Library::default(),
            drill: crate::engine::drill::Drill::new(256),
            profiles: loaded.profiles.into_iter().collect(),
            callback_tally: HashMap::new(),
            traces: traces::Traces::default(),
            notifier: None,
            metrics: Default::default(),
            config_error: None,
            schedule: snapshot::Schedule::default(),
        };
        core.set_otlp(
            crate::ingest::otlp::TraceLimits::default(),
            crate::ingest::otlp::builtin_prices(),
        );
        core.tally_callbacks_since(now - chrono::Duration::days(7))?;
        core.replay_journal(now)?;
        Ok(core)
    }

    fn replay_journal(&mut self, now: DateTime<Utc>) -> Result<(), StoreError> {
        let since = self.journal_horizon(now);
        // From the newest snapshot that matches, when there is one: only
        // the blocks after it are folded.
        let after = match self.restore_snapshot() {
            Ok((journal_id, taken)) => {
                tracing::info!(journal_id, %taken, "engine state restored from a snapshot");
                Some(journal_id)
            }
            Err(why) => {
                tracing::info!(%why, "no engine snapshot used; folding the whole journal");
                None
            }
        };
        let engine = &mut self.engine;
        let drill = &mut self.drill;
        // Ids of journalled events are remembered again, so a batch whose
        // answer was lost in the crash is a repeat when it is re-sent.
        let recent_ids = &mut self.recent_ids;
        let mut bad = 0u64;
        let fold = |line: &str| match Envelope::decode(line) {
            // A block is read whole when its newest event is in the
            // window; its older events are not.
            Ok(env) if env.ts.timestamp() < since => {}
            Ok(env) => {
                if let Some(id) = &env.id {
                    let fp = recent_ids.fingerprint(&env.agent, id);
                    recent_ids.insert(fp);
                }
                if engine.apply(&env).is_ok() {
                    drill.record(&env);
                }
            }
            Err(_) => bad += 1,
        };
        let folded = match after {
            Some(block) => self.store.for_each_event_after(block, since, fold)?,
            None => self.store.for_each_event(since, fold)?,
        };
        tracing::info!(folded, "journal folded");
        // A long fold is worth a snapshot at the first tick; one that
        // came after a snapshot, when it was long.
        self.schedule.journalled(folded);
        if after.is_none() && folded > 0 {
            self.schedule.invalidate();
        }
        if bad > 0 {
            tracing::warn!(bad, "journal lines that no longer decode were skipped");
        }
        // Signals from replayed history (alerts, agents seen) describe the
        // past; the first tick re-evaluates the present.
        self.engine.drain_signals();
        self.engine.tick(now);
        for s in self.engine.drain_signals() {
            if let crate::engine::Signal::Alert { series, level, .. } = s {
                tracing::info!(%series, level = level.as_str(), "alert state after replay");
            }
        }
        Ok(())
    }

    /// The oldest event time (Unix seconds) the journal keeps: the longest
    /// SLO window, at least a week, before `now`.
    fn journal_horizon(&self, now: DateTime<Utc>) -> i64 {
        let days = self
            .engine
            .specs()
            .iter()
            .map(|s| s.window_days)
            .max()
            .unwrap_or(30)
            .max(7);
        now.timestamp() - i64::from(days) * 86_400
    }

    /// Sets the runbooks incidents are linked to (at start).
    pub fn set_runbooks(&mut self, runbooks: crate::runbook::Library) {
        self.runbooks = runbooks;
    }

    /// The runbooks incidents are linked to.
    pub fn runbooks(&self) -> &crate::runbook::Library {
        &self.runbooks
    }

    /// A new stream subscription.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Frame>> {
        self.publisher.subscribe()
    }

    /// The id of the last delta.
    pub fn seq(&self) -> u64 {
        self.publisher.seq()
    }

    /// Deltas after `id`, if the replay buffer still holds all of them.
    pub fn replay_after(&self, id: u64) -> Option<Vec<Arc<Frame>>> {
        self.publisher.replay_after(id)
    }

    /// A new change whose audit entries chain from the current head.
    pub fn change(&self) -> Change {
        Change {
            batch: Batch::default(),
            head: self.audit_head.clone(),
            callbacks: Vec::new(),
        }
    }

    /// Read access to the store (audit paging, idempotency look-ups).
    pub fn store(&self) -> &Backend {
        &self.store
    }

    /// Allocates the next incident id.
    pub fn next_incident_id(&self, change: &mut Change) -> String {
        allocate(self.desk.next_incident, "next_incident", "INC", change)
    }

    /// Allocates the next approval id.
    pub fn next_approval_id(&self, change: &mut Change) -> String {
        allocate(self.desk.next_approval, "next_approval", "APR", change)
    }

    /// Allocates the next control id.
    pub fn next_control_id(&self, change: &mut Change) -> String {
        allocate(self.desk.next_control, "next_control", "CTL", change)
    }

    /// Writes a change and, once stored, applies and publishes it.
    pub fn commit(&mut self, mut change: Change) -> Result<(), StoreError> {
        if change.is_empty() {
            return Ok(());
        }
        let now = change.batch.audit.last().map_or_else(Utc::now, |e| e.ts);
        self.queue_notices(&mut change, now);
        let frames = staged_deltas(&change.batch);
        let reserved = self.publisher.stage_in(&mut change.batch, &frames);
        let first_logged = self.store.write(&change.batch)?;
        if let Some(block) = &change.batch.journal {
            self.schedule.journalled(u64::from(block.events));
        }
        self.audit_head = change.head;
        let batch = change.batch;
        self.desk.advance_counters(&batch.meta);
        self.notices_stored(&batch.notices);
        for c in &batch.callbacks {
            self.callbacks.insert(c.agent.clone(), c.clone());
        }
        for i in batch.incidents {
            self.desk.incidents.insert(i.id.clone(), i);
        }
        for a in batch.approvals {
            let was_pending = self
                .desk
                .approvals
                .get(&a.id)
                .is_some_and(|old| old.state == crate::model::approval::ApprovalState::Pending);
            if was_pending && a.state != crate::model::approval::ApprovalState::Pending {
                let at = a.closed_at.unwrap_or_else(Utc::now);
                self.metrics
                    .decided_after((at - a.requested_at).num_milliseconds() as f64 / 1000.0);
            }
            self.desk.hold_approval(a);
        }
        for c in batch.controls {
            self.desk.controls.insert(c.id.clone(), c);
        }
        self.desk.handoff_notes.extend(batch.handoff_notes);
        self.profiles.extend(batch.profiles);
        for e in batch.audit {
            if self.audit_tail.len() >= AUDIT_TAIL {
                self.audit_tail.pop_front();
            }
            self.audit_tail.push_back(e);
        }
        self.publisher.publish(reserved, first_logged, frames);
        self.outbox.extend(change.callbacks);
        Ok(())
    }

    /// Publishes deltas that need no storage of their own (SLO status,
    /// agents, presence): stored only as stream deltas, in the shared log
    /// or as a reservation of ids, when the publisher needs it.
    pub fn publish_volatile(&mut self, deltas: &[Delta]) -> Result<(), StoreError> {
        if deltas.is_empty() {
            return Ok(());
        }
        let frames: Vec<_> = deltas.iter().map(publisher::stage).collect();
        let mut batch = Batch::default();
        let reserved = self.publisher.stage_in(&mut batch, &frames);
        let first_logged = self.store.write(&batch)?;
        self.publisher.publish(reserved, first_logged, frames);
        Ok(())
    }

    /// Journals and applies accepted events; approval requests and reported
    /// incidents become desk objects in the same transaction.
    pub fn ingest(
        &mut self,
        events: Vec<(Envelope, String)>,
        now: DateTime<Utc>,
    ) -> Result<IngestOutcome, StoreError> {
        let change = self.change();
        self.ingest_in(events, change, now)
    }

    /// Like [`Core::ingest`], with the events' writes added to `change`
    /// (which may carry other writes of the same request).
    pub fn ingest_in(
        &mut self,
        events: Vec<(Envelope, String)>,
        change: Change,
        now: DateTime<Utc>,
    ) -> Result<IngestOutcome, StoreError> {
        self.ingest_packed(events, None, change, now)
    }

    /// Like [`Core::ingest_in`], given `packed`, the journal block of all
    /// of `events` made before the lock was taken: it is stored as is when
    /// every event is accepted (the usual case), so the compressing is off
    /// the lock.
    pub fn ingest_packed(
        &mut self,
        events: Vec<(Envelope, String)>,
        packed: Option<Block>,
        mut change: Change,
        now: DateTime<Utc>,
    ) -> Result<IngestOutcome, StoreError> {
        let mut outcome = IngestOutcome::default();
        let received = events.len();
        let mut accepted = Vec::with_capacity(received);
        let mut lines = Vec::with_capacity(received);
        let mut new_ids = std::collections::HashSet::new();
        for (i, (env, line)) in events.into_iter().enumerate() {
            if let Some(id) = &env.id {
                let fp = self.recent_ids.fingerprint(&env.agent, id);
                if self.recent_ids.contains(fp) || !new_ids.insert(fp) {
                    outcome.duplicates += 1;
                    continue;
                }
            }
            if let Err(e) = self.engine.check(&env) {
                outcome.refused.push((i, e.to_string()));
                continue;
            }
            lines.push(line);
            accepted.push(env);
        }
        change.batch.journal = match packed {
            Some(block) if accepted.len() == received => Some(block),
            _ => Block::pack(
                accepted
                    .iter()
                    .zip(&lines)
                    .map(|(env, line)| (env.ts.timestamp(), line.as_str())),
            )?,
        };
        drop(lines);
        self.record_requests(&accepted, now, &mut change);
        self.commit(change)?;
        // Remembered only once stored: a failed write must not turn the
        // sender's retry into a "duplicate".
        for fp in new_ids {
            self.recent_ids.insert(fp);
        }
        self.metrics.record_events(&accepted);
        self.metrics.rejected("duplicate", outcome.duplicates);
        self.metrics.rejected("limit", outcome.refused.len() as u64);
        for env in &accepted {
            // Checked above; a refusal here would only mean a limit was
            // reached by an earlier event of the same batch.
            match self.engine.apply(env) {
                Ok(()) => self.drill.record(env),
                Err(e) => tracing::debug!(error = %e, "event refused by engine limits"),
            }
        }
        outcome.accepted = accepted.len() as u64 + outcome.duplicates;
        Ok(outcome)
    }

    /// Drops idempotency records older than a day, finished notifications
    /// older than a month and, on PostgreSQL, journal events past their
    /// retention (SQLite's maintenance thread drops those).
    pub fn prune(&mut self, now: DateTime<Utc>) {
        if let Err(e) = self.store.prune_idempotency(now.timestamp() - 86_400) {
            tracing::warn!(error = %e, "could not prune idempotency records");
        }
        if let Err(e) = self.store.upkeep(now) {
            tracing::warn!(error = %e, "could not drop journal events past retention");
        }
        let month_ms = 30 * 86_400 * 1000;
        if let Err(e) = self.store.prune_notices(now.timestamp_millis() - month_ms) {
            tracing::warn!(error = %e, "could not prune finished notifications");
        }
    }
}

/// The stream deltas a batch's objects make, in the order they are
/// published: incidents, approvals, controls, then audit entries.
fn staged_deltas(batch: &Batch) -> Vec<super::store::LogFrame> {
    let incidents = batch
        .incidents
        .iter()
        .map(|i| Delta::Incident(Box::new(i.clone())));
    let approvals = batch
        .approvals
        .iter()
        .map(|a| Delta::Approval(Box::new(a.clone())));
    let controls = batch
        .controls
        .iter()
        .map(|c| Delta::Control(Box::new(c.clone())));
    let audit = batch
        .audit
        .iter()
        .map(|e| Delta::Audit(Box::new(e.clone())));
    incidents
        .chain(approvals)
        .chain(controls)
        .chain(audit)
        .map(|d| publisher::stage(&d))
        .collect()
}
