//! The hub's shared state, behind one lock: the engine, the desk of
//! incidents, approvals and controls, the store, the audit chain head and
//! the stream sequencer.
//!
//! Every change follows one path: build a [`Change`] from copies of the
//! objects, [`Core::commit`] it to SQLite in one transaction, and only then
//! apply it in memory and publish its deltas. A failed write changes
//! nothing, so what operators see is always what is stored.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::broadcast;

use crate::engine::Engine;
use crate::engine::incident::NewIncident;
use crate::model::action::Presence;
use crate::model::agent::Agent;
use crate::model::approval::{Approval, ApprovalState};
use crate::model::audit::AuditEntry;
use crate::model::control::Control;
use crate::model::envelope::{Envelope, Event};
use crate::model::incident::{Category, Incident, IncidentSource, IncidentState, Severity};
use crate::model::profile::AgentProfile;
use crate::model::role::Role;
use crate::model::slo::{AlertLevel, SloStatus};
use crate::model::stream::{Delta, Snapshot};

use super::audit::next_entry;
use super::policy::Policy;
use super::store::{Batch, CallbackRow, JournalRow, Store, StoreError};

/// Audit entries kept in memory for snapshots.
pub const AUDIT_TAIL: usize = 50;
/// Stream ids reserved in the database ahead of use, so ids keep rising
/// across a restart without a write per delta.
pub const SEQ_RESERVATION: u64 = 10_000;

/// One server-sent event, serialized once for every client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The SSE `id`.
    pub id: u64,
    /// The SSE `event`.
    pub event: &'static str,
    /// The SSE `data`: one line of JSON.
    pub data: Arc<str>,
}

/// A callback to deliver to an agent once its change is committed.
#[derive(Debug, Clone, PartialEq)]
pub struct CallbackJob {
    /// The agent.
    pub agent: String,
    /// Where.
    pub url: String,
    /// HMAC key, hex.
    pub secret: String,
    /// What happened, e.g. `approval.decided`.
    pub kind: &'static str,
    /// The subject id.
    pub subject: String,
    /// The JSON body.
    pub body: String,
}

/// Incidents, approvals and controls, keyed by id.
#[derive(Debug, Default)]
pub struct Desk {
    /// Every incident in memory.
    pub incidents: HashMap<String, Incident>,
    /// Every approval in memory.
    pub approvals: HashMap<String, Approval>,
    /// `(agent, request_id)` → approval id, to make re-sent requests idempotent.
    pub approval_keys: HashMap<(String, String), String>,
    /// Every control in memory.
    pub controls: HashMap<String, Control>,
    /// Every handoff note, oldest first. Like incidents, all are kept in
    /// memory, so a handoff over any past window can be computed.
    pub handoff_notes: Vec<crate::model::runbook::HandoffNote>,
    next_incident: u64,
    next_approval: u64,
    next_control: u64,
}

fn id_number(id: &str) -> u64 {
    id.rsplit('-')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// Sorts objects by the number in their id (INC-2 before INC-10).
pub fn by_id_number<T>(items: &mut [T], id: impl Fn(&T) -> &str) {
    items.sort_by_key(|x| id_number(id(x)));
}

/// What one request or tick changes, before it is committed.
#[derive(Debug)]
pub struct Change {
    /// The rows to write.
    pub batch: Batch,
    head: (u64, String),
    callbacks: Vec<CallbackJob>,
}

impl Change {
    /// Appends an audit entry to the pending chain.
    #[allow(clippy::too_many_arguments)]
    pub fn audit(
        &mut self,
        at: DateTime<Utc>,
        actor: &str,
        role: Option<Role>,
        action: &str,
        subject: &str,
        details: serde_json::Value,
    ) {
        let entry = next_entry(&self.head, at, actor, role, action, subject, details);
        self.head = (entry.seq, entry.hash.clone());
        self.batch.audit.push(entry);
    }

    /// Records an incident's new state.
    pub fn incident(&mut self, incident: Incident) {
        self.batch.incidents.retain(|i| i.id != incident.id);
        self.batch.incidents.push(incident);
    }

    /// Records an approval's new state.
    pub fn approval(&mut self, approval: Approval) {
        self.batch.approvals.retain(|a| a.id != approval.id);
        self.batch.approvals.push(approval);
    }

    /// Records a control's new state.
    pub fn control(&mut self, control: Control) {
        self.batch.controls.retain(|c| c.id != control.id);
        self.batch.controls.push(control);
    }

    /// Queues a callback, sent only if the change commits.
    pub fn callback(&mut self, job: CallbackJob) {
        self.callbacks.push(job);
    }

    /// True when nothing would be written.
    pub fn is_empty(&self) -> bool {
        self.batch.is_empty()
    }
}

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
    pub engine: Engine,
    /// Incidents, approvals, controls.
    pub desk: Desk,
    /// Approval policy.
    pub policy: Policy,
    store: Store,
    audit_head: (u64, String),
    audit_tail: VecDeque<AuditEntry>,
    seq: u64,
    seq_reserved: u64,
    tx: broadcast::Sender<Arc<Frame>>,
    replay: VecDeque<Arc<Frame>>,
    replay_capacity: usize,
    presence: HashMap<String, (Presence, usize)>,
    sent_slo: HashMap<String, SloStatus>,
    callbacks: HashMap<String, CallbackRow>,
    outbox: Vec<CallbackJob>,
    recent_ids: RecentIds,
    sent_agents: HashMap<String, crate::model::agent::Agent>,
    runbooks: crate::runbook::Library,
    /// Per-agent samples for the drill-down endpoints.
    pub drill: crate::engine::drill::Drill,
    /// Agent registrations by agent.
    pub profiles: HashMap<String, AgentProfile>,
    /// Decision callbacks delivered and failed, by (agent, action).
    pub callback_tally: HashMap<(String, String), (u64, u64)>,
}

/// Event ids remembered to drop repeats: `(agent, id)` pairs, oldest
/// forgotten first.
#[derive(Debug, Default)]
struct RecentIds {
    set: std::collections::HashSet<(String, String)>,
    order: VecDeque<(String, String)>,
}

/// Event ids remembered for de-duplication.
pub const RECENT_EVENT_IDS: usize = 200_000;

impl RecentIds {
    fn contains(&self, key: &(String, String)) -> bool {
        self.set.contains(key)
    }

    fn insert(&mut self, key: (String, String)) {
        if self.set.insert(key.clone()) {
            self.order.push_back(key);
            if self.order.len() > RECENT_EVENT_IDS
                && let Some(old) = self.order.pop_front()
            {
                self.set.remove(&old);
            }
        }
    }
}

/// Sizes of the stream's buffers.
#[derive(Debug, Clone, Copy)]
pub struct StreamLimits {
    /// Deltas a client may fall behind before it is resynchronised.
    pub client_queue: usize,
    /// Deltas kept for `Last-Event-ID` resumes.
    pub replay: usize,
}

impl Default for StreamLimits {
    fn default() -> Self {
        Self {
            client_queue: 4096,
            replay: 10_000,
        }
    }
}

fn meta_u64(meta: &HashMap<String, String>, key: &str) -> u64 {
    meta.get(key).and_then(|v| v.parse().ok()).unwrap_or(0)
}

impl Core {
    /// Builds the state from the store, replaying the event journal into a
    /// fresh engine.
    pub fn open(
        store: Store,
        engine: Engine,
        policy: Policy,
        limits: StreamLimits,
        now: DateTime<Utc>,
    ) -> Result<Self, StoreError> {
        let loaded = store.load(AUDIT_TAIL)?;
        let mut desk = Desk::default();
        for i in loaded.incidents {
            desk.next_incident = desk.next_incident.max(id_number(&i.id));
            desk.incidents.insert(i.id.clone(), i);
        }
        for a in loaded.approvals {
            desk.next_approval = desk.next_approval.max(id_number(&a.id));
            desk.approval_keys
                .insert((a.agent.clone(), a.request_id.clone()), a.id.clone());
            desk.approvals.insert(a.id.clone(), a);
        }
        for c in loaded.controls {
            desk.next_control = desk.next_control.max(id_number(&c.id));
            desk.controls.insert(c.id.clone(), c);
        }
        desk.handoff_notes = loaded.handoff_notes;
        desk.next_incident = desk
            .next_incident
            .max(meta_u64(&loaded.meta, "next_incident"));
        desk.next_approval = desk
            .next_approval
            .max(meta_u64(&loaded.meta, "next_approval"));
        desk.next_control = desk
            .next_control
            .max(meta_u64(&loaded.meta, "next_control"));
        // Ids handed out before a restart may have been seen by clients: start
        // past everything reserved.
        let seq = meta_u64(&loaded.meta, "seq_reserved");
        let (tx, _) = broadcast::channel(limits.client_queue.max(1));
        let mut core = Self {
            engine,
            desk,
            policy,
            store,
            audit_head: loaded.audit_head,
            audit_tail: loaded.audit_tail.into(),
            seq,
            seq_reserved: seq,
            tx,
            replay: VecDeque::new(),
            replay_capacity: limits.replay,
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
        };
        core.tally_callbacks_since(now - chrono::Duration::days(7))?;
        core.replay_journal(now)?;
        Ok(core)
    }

    fn replay_journal(&mut self, now: DateTime<Utc>) -> Result<(), StoreError> {
        let horizon_days = self
            .engine
            .specs()
            .iter()
            .map(|s| s.window_days)
            .max()
            .unwrap_or(30)
            .max(7);
        let since = now.timestamp() - i64::from(horizon_days) * 86_400;
        let engine = &mut self.engine;
        let drill = &mut self.drill;
        // Ids of journalled events are remembered again, so a batch whose
        // answer was lost in the crash is a repeat when it is re-sent.
        let recent_ids = &mut self.recent_ids;
        let mut bad = 0u64;
        self.store
            .for_each_event(since, |line| match Envelope::decode(line) {
                Ok(env) => {
                    if let Some(id) = &env.id {
                        recent_ids.insert((env.agent.clone(), id.clone()));
                    }
                    if engine.apply(&env).is_ok() {
                        drill.record(&env);
                    }
                }
                Err(_) => bad += 1,
            })?;
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
        self.tx.subscribe()
    }

    /// The id of the last delta.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// Deltas after `id`, if the replay buffer still holds all of them.
    pub fn replay_after(&self, id: u64) -> Option<Vec<Arc<Frame>>> {
        if id > self.seq {
            return None;
        }
        if id == self.seq {
            return Some(Vec::new());
        }
        let oldest = self.replay.front()?.id;
        if id + 1 < oldest {
            return None;
        }
        Some(self.replay.iter().filter(|f| f.id > id).cloned().collect())
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
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Allocates the next incident id.
    pub fn next_incident_id(&mut self, change: &mut Change) -> String {
        allocate(&mut self.desk.next_incident, "next_incident", "INC", change)
    }

    /// Allocates the next approval id.
    pub fn next_approval_id(&mut self, change: &mut Change) -> String {
        allocate(&mut self.desk.next_approval, "next_approval", "APR", change)
    }

    /// Allocates the next control id.
    pub fn next_control_id(&mut self, change: &mut Change) -> String {
        allocate(&mut self.desk.next_control, "next_control", "CTL", change)
    }

    /// Makes sure `n` more stream ids are reserved, adding the reservation
    /// to `batch` when it must grow.
    fn reserve(&mut self, batch: &mut Batch, n: u64) -> Option<u64> {
        if self.seq + n > self.seq_reserved {
            let reserved = self.seq + n + SEQ_RESERVATION;
            batch.meta.push(("seq_reserved", reserved.to_string()));
            return Some(reserved);
        }
        None
    }

    /// Writes a change and, once stored, applies and publishes it.
    pub fn commit(&mut self, mut change: Change) -> Result<(), StoreError> {
        if change.is_empty() {
            return Ok(());
        }
        let deltas = (change.batch.incidents.len()
            + change.batch.approvals.len()
            + change.batch.controls.len()
            + change.batch.audit.len()) as u64;
        let reserved = self.reserve(&mut change.batch, deltas);
        self.store.write(&change.batch)?;
        if let Some(r) = reserved {
            self.seq_reserved = r;
        }
        self.audit_head = change.head;
        let batch = change.batch;
        for c in &batch.callbacks {
            self.callbacks.insert(c.agent.clone(), c.clone());
        }
        for i in batch.incidents {
            self.publish(&Delta::Incident(Box::new(i.clone())));
            self.desk.incidents.insert(i.id.clone(), i);
        }
        for a in batch.approvals {
            self.publish(&Delta::Approval(Box::new(a.clone())));
            self.desk
                .approval_keys
                .insert((a.agent.clone(), a.request_id.clone()), a.id.clone());
            self.desk.approvals.insert(a.id.clone(), a);
        }
        for c in batch.controls {
            self.publish(&Delta::Control(Box::new(c.clone())));
            self.desk.controls.insert(c.id.clone(), c);
        }
        self.desk.handoff_notes.extend(batch.handoff_notes);
        self.profiles.extend(batch.profiles);
        for e in batch.audit {
            self.publish(&Delta::Audit(Box::new(e.clone())));
            if self.audit_tail.len() >= AUDIT_TAIL {
                self.audit_tail.pop_front();
            }
            self.audit_tail.push_back(e);
        }
        self.outbox.extend(change.callbacks);
        Ok(())
    }

    /// Publishes a delta that needs no storage (SLO status, agents,
    /// presence), reserving ids first if needed.
    pub fn publish_volatile(&mut self, delta: &Delta) -> Result<(), StoreError> {
        let mut batch = Batch::default();
        if let Some(r) = self.reserve(&mut batch, 1) {
            self.store.write(&batch)?;
            self.seq_reserved = r;
        }
        self.publish(delta);
        Ok(())
    }

    fn publish(&mut self, delta: &Delta) {
        self.seq += 1;
        let data = match delta {
            Delta::Slo(x) => serde_json::to_string(x),
            Delta::Incident(x) => serde_json::to_string(x),
            Delta::Approval(x) => serde_json::to_string(x),
            Delta::Control(x) => serde_json::to_string(x),
            Delta::Agent(x) => serde_json::to_string(x),
            Delta::Audit(x) => serde_json::to_string(x),
            Delta::Presence(x) => serde_json::to_string(x),
        }
        .unwrap_or_default();
        let frame = Arc::new(Frame {
            id: self.seq,
            event: delta.event_name(),
            data: data.into(),
        });
        if self.replay.len() >= self.replay_capacity {
            self.replay.pop_front();
        }
        if self.replay_capacity > 0 {
            self.replay.push_back(frame.clone());
        }
        // No receivers is not an error: nobody is watching.
        let _ = self.tx.send(frame);
    }

    /// Takes the callbacks of committed changes.
    pub fn take_outbox(&mut self) -> Vec<CallbackJob> {
        std::mem::take(&mut self.outbox)
    }

    /// The callback registration of an agent.
    pub fn callback_of(&self, agent: &str) -> Option<&CallbackRow> {
        self.callbacks.get(agent)
    }

    /// The whole shared state as one snapshot.
    pub fn snapshot(&self, now: DateTime<Utc>) -> Snapshot {
        let mut incidents: Vec<Incident> = self
            .desk
            .incidents
            .values()
            .filter(|i| i.state != IncidentState::Resolved)
            .cloned()
            .collect();
        by_id_number(&mut incidents, |i| &i.id);
        let mut approvals: Vec<Approval> = self
            .desk
            .approvals
            .values()
            .filter(|a| a.state.is_open())
            .cloned()
            .collect();
        by_id_number(&mut approvals, |a| &a.id);
        let mut controls: Vec<Control> = self
            .desk
            .controls
            .values()
            .filter(|c| c.in_force(now))
            .cloned()
            .collect();
        by_id_number(&mut controls, |c| &c.id);
        let mut slos: Vec<SloStatus> = self.sent_slo.values().cloned().collect();
        slos.sort_by(|a, b| a.series.cmp(&b.series));
        Snapshot {
            seq: self.seq,
            at: now,
            agents: self.agents(now),
            specs: self.engine.specs().to_vec(),
            slos,
            incidents,
            approvals,
            controls,
            audit: self.audit_tail.iter().cloned().collect(),
            presence: self.presence_list(),
        }
    }

    /// A snapshot as a stream frame (its id is the last delta it includes).
    pub fn snapshot_frame(&self, now: DateTime<Utc>) -> Frame {
        let snapshot = self.snapshot(now);
        Frame {
            id: snapshot.seq,
            event: "snapshot",
            data: serde_json::to_string(&snapshot).unwrap_or_default().into(),
        }
    }

    fn presence_list(&self) -> Vec<Presence> {
        let mut list: Vec<Presence> = self.presence.values().map(|(p, _)| p.clone()).collect();
        list.sort_by(|a, b| a.operator.cmp(&b.operator));
        list
    }

    /// An operator's stream connected.
    pub fn connect(&mut self, operator: &str, role: Role, now: DateTime<Utc>) {
        let entry = self.presence.entry(operator.to_string()).or_insert((
            Presence {
                operator: operator.to_string(),
                role,
                viewing: None,
                since: now,
            },
            0,
        ));
        entry.1 += 1;
        let list = self.presence_list();
        let _ = self.publish_volatile(&Delta::Presence(list));
    }

    /// An operator's stream went away.
    pub fn disconnect(&mut self, operator: &str) {
        if let Some(entry) = self.presence.get_mut(operator) {
            entry.1 = entry.1.saturating_sub(1);
            if entry.1 == 0 {
                self.presence.remove(operator);
            }
        }
        let list = self.presence_list();
        let _ = self.publish_volatile(&Delta::Presence(list));
    }

    /// What a connected operator is looking at. False when not connected.
    pub fn set_viewing(&mut self, operator: &str, viewing: Option<String>) -> bool {
        let Some(entry) = self.presence.get_mut(operator) else {
            return false;
        };
        if entry.0.viewing == viewing {
            return true;
        }
        entry.0.viewing = viewing;
        let list = self.presence_list();
        let _ = self.publish_volatile(&Delta::Presence(list));
        true
    }

    /// Journals and applies accepted events; approval requests and reported
    /// incidents become desk objects in the same transaction.
    pub fn ingest(
        &mut self,
        events: Vec<(Envelope, String)>,
        now: DateTime<Utc>,
    ) -> Result<IngestOutcome, StoreError> {
        let mut outcome = IngestOutcome::default();
        let mut change = self.change();
        let mut accepted = Vec::with_capacity(events.len());
        let mut new_ids = std::collections::HashSet::new();
        for (i, (env, line)) in events.into_iter().enumerate() {
            if let Some(id) = &env.id {
                let key = (env.agent.clone(), id.clone());
                if self.recent_ids.contains(&key) || new_ids.contains(&key) {
                    outcome.duplicates += 1;
                    continue;
                }
                new_ids.insert(key);
            }
            if let Err(e) = self.engine.check(&env) {
                outcome.refused.push((i, e.to_string()));
                continue;
            }
            change.batch.events.push(JournalRow {
                ts: env.ts.timestamp(),
                agent: env.agent.clone(),
                line,
            });
            accepted.push(env);
        }
        let mut new_keys = std::collections::HashSet::new();
        for env in &accepted {
            match &env.event {
                Event::ApprovalRequested(request) => {
                    let key = (env.agent.clone(), request.request_id.clone());
                    if self.desk.approval_keys.contains_key(&key) || !new_keys.insert(key) {
                        continue; // a re-sent request: already recorded
                    }
                    let id = self.next_approval_id(&mut change);
                    let required = self.policy.approvals_required(request.risk);
                    let approval = Approval::from_request(
                        id.clone(),
                        &env.agent,
                        request,
                        env.ts.min(now),
                        required,
                    );
                    change.audit(
                        now,
                        &env.agent,
                        Some(Role::Agent),
                        "approval.requested",
                        &id,
                        serde_json::json!({
                            "action": request.action,
                            "risk": request.risk,
                            "request_id": request.request_id,
                            "deadline": request.deadline,
                        }),
                    );
                    change.approval(approval);
                }
                Event::IncidentReported(report) => {
                    let id = self.next_incident_id(&mut change);
                    let mut incident = Incident::open(
                        NewIncident {
                            id: id.clone(),
                            title: report.title.clone(),
                            severity: report.severity,
                            category: report.category,
                            source: IncidentSource::Agent,
                            agent: Some(env.agent.clone()),
                            slo: None,
                        },
                        &env.agent,
                        env.ts.min(now),
                    );
                    self.runbooks.link(&mut incident);
                    if report.detail.is_some() || report.run_id.is_some() {
                        let text = match (&report.detail, &report.run_id) {
                            (Some(d), Some(r)) => format!("{d} (run {r})"),
                            (Some(d), None) => d.clone(),
                            (None, Some(r)) => format!("reported for run {r}"),
                            (None, None) => String::new(),
                        };
                        incident.note(&env.agent, &text, env.ts.min(now));
                    }
                    change.audit(
                        now,
                        &env.agent,
                        Some(Role::Agent),
                        "incident.opened",
                        &id,
                        serde_json::json!({
                            "severity": report.severity,
                            "category": report.category,
                            "title": report.title,
                        }),
                    );
                    change.incident(incident);
                }
                _ => {}
            }
        }
        self.commit(change)?;
        // Remembered only once stored: a failed write must not turn the
        // sender's retry into a "duplicate".
        for key in new_ids {
            self.recent_ids.insert(key);
        }
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

    /// Advances time: engine alerts and drift, incident opening, approval
    /// escalation and expiry, control expiry, and SLO deltas for series
    /// that changed.
    pub fn tick(&mut self, now: DateTime<Utc>) -> Result<(), StoreError> {
        self.engine.tick(now);
        let signals = self.engine.drain_signals();
        let mut change = self.change();
        for signal in signals {
            self.signal(signal, now, &mut change);
        }
        self.open_alert_incidents(now, &mut change);
        let mut approvals: Vec<Approval> = self
            .desk
            .approvals
            .values()
            .filter(|a| a.state.is_open())
            .cloned()
            .collect();
        by_id_number(&mut approvals, |a| &a.id);
        for mut a in approvals {
            if a.expire_if_due(now) {
                change.audit(
                    now,
                    "hub",
                    None,
                    "approval.expired",
                    &a.id,
                    serde_json::json!({"deadline": a.deadline, "treated_as": "rejected"}),
                );
                self.queue_callback(
                    &mut change,
                    &a.agent.clone(),
                    "approval.decided",
                    &a.id.clone(),
                    &approval_callback(&a),
                );
                change.approval(a);
            } else if a.escalate_if_due(now) {
                change.audit(
                    now,
                    "hub",
                    None,
                    "approval.escalated",
                    &a.id,
                    serde_json::json!({"escalate_at": a.escalate_at, "deadline": a.deadline}),
                );
                change.approval(a);
            }
        }
        let mut controls: Vec<Control> = self
            .desk
            .controls
            .values()
            .filter(|c| c.state == crate::model::control::ControlState::Active)
            .cloned()
            .collect();
        by_id_number(&mut controls, |c| &c.id);
        for mut c in controls {
            if c.expire_if_due(now) {
                change.audit(
                    now,
                    "hub",
                    None,
                    "control.expired",
                    &c.id,
                    serde_json::json!({"agent": c.agent, "kind": c.kind}),
                );
                self.queue_control_callbacks(&mut change, &c);
                change.control(c);
            }
        }
        // SLO statuses are reads: operators keep seeing them move while
        // storage refuses the tick's writes (retried on the next tick).
        let stored = self.commit(change);
        self.publish_slo(now)?;
        stored
    }

    fn publish_slo(&mut self, now: DateTime<Utc>) -> Result<(), StoreError> {
        for status in self.engine.statuses(now) {
            if self.sent_slo.get(&status.series) == Some(&status) {
                continue;
            }
            self.publish_volatile(&Delta::Slo(Box::new(status.clone())))?;
            self.sent_slo.insert(status.series.clone(), status);
        }
        for agent in self.agents(now) {
            if self.sent_agents.get(&agent.id) == Some(&agent) {
                continue;
            }
            self.publish_volatile(&Delta::Agent(Box::new(agent.clone())))?;
            self.sent_agents.insert(agent.id.clone(), agent);
        }
        Ok(())
    }

    fn signal(&mut self, signal: crate::engine::Signal, now: DateTime<Utc>, change: &mut Change) {
        use crate::engine::{DriftSubject, Signal};
        match signal {
            Signal::Alert {
                series,
                level: AlertLevel::None,
                previous,
                ..
            } => {
                if let Some(mut i) = self.open_incident_for_series(&series, change) {
                    i.note("hub", &format!("{} alert cleared", previous.as_str()), now);
                    change.incident(i);
                }
            }
            Signal::Alert { .. } => {} // opened level-triggered below
            Signal::Drift {
                agent,
                subject,
                active,
                rate,
                baseline,
                ..
            } => {
                let (what, name) = match &subject {
                    DriftSubject::Escalation { workflow } => ("escalation_rate", workflow.clone()),
                    DriftSubject::ToolErrors { tool } => ("tool_error_rate", tool.clone()),
                };
                change.audit(
                    now,
                    "hub",
                    None,
                    if active { "drift.started" } else { "drift.cleared" },
                    &agent,
                    serde_json::json!({"signal": what, "of": name, "rate": rate, "baseline": baseline}),
                );
            }
            Signal::VersionChanged { agent, marker } => {
                change.audit(
                    now,
                    marker.deployed_by.as_deref().unwrap_or(&agent),
                    None,
                    "version.changed",
                    &agent,
                    serde_json::to_value(&marker).unwrap_or_default(),
                );
            }
            Signal::AgentSeen { .. } => {
                // Agents are published with the SLO deltas, when they change.
            }
            Signal::ApprovalRequested { .. } | Signal::IncidentReported { .. } => {
                // Recorded at ingest, in the same transaction as the event.
            }
        }
    }

    /// The open incident of an SLO series, taking a pending copy from
    /// `change` if it has one.
    fn open_incident_for_series(&self, series: &str, change: &Change) -> Option<Incident> {
        change
            .batch
            .incidents
            .iter()
            .find(|i| i.slo.as_deref() == Some(series) && i.state != IncidentState::Resolved)
            .or_else(|| {
                self.desk.incidents.values().find(|i| {
                    i.slo.as_deref() == Some(series) && i.state != IncidentState::Resolved
                })
            })
            .cloned()
    }

    /// Opens an incident for every alerting series without an open one,
    /// and raises a ticket-level incident to page severity when the series
    /// starts paging. Level-triggered, so a failed write is retried on the
    /// next tick.
    fn open_alert_incidents(&mut self, now: DateTime<Utc>, change: &mut Change) {
        for alert in self.engine.alerting() {
            let page_severity = if alert.critical {
                Severity::Sev1
            } else {
                Severity::Sev2
            };
            let severity = match alert.level {
                AlertLevel::Page => page_severity,
                AlertLevel::Ticket => Severity::Sev3,
                AlertLevel::None => continue,
            };
            match self.open_incident_for_series(&alert.series, change) {
                Some(mut i) => {
                    if severity < i.severity && i.escalate("hub", severity, now).is_ok() {
                        change.audit(
                            now,
                            "hub",
                            None,
                            "incident.escalated",
                            &i.id,
                            serde_json::json!({"severity": severity, "alert": alert.level}),
                        );
                        change.incident(i);
                    }
                }
                None => {
                    let id = self.next_incident_id(change);
                    let title = format!(
                        "{} SLO burning on {}/{} ({}: burn {:.1}× over 1 h, {:.1}× over 6 h)",
                        alert.slo,
                        alert.agent,
                        alert.workflow,
                        alert.level.as_str(),
                        alert.burn.h1,
                        alert.burn.h6,
                    );
                    let mut incident = Incident::open(
                        NewIncident {
                            id: id.clone(),
                            title,
                            severity,
                            category: Category::SloBurn,
                            source: IncidentSource::Alert,
                            agent: Some(alert.agent.clone()),
                            slo: Some(alert.series.clone()),
                        },
                        "hub",
                        now,
                    );
                    self.runbooks.link(&mut incident);
                    let burn_start = self.burn_start(&alert, now);
                    if let Some(note) =
                        super::inventory::change_note(self, &alert.agent, burn_start)
                    {
                        incident.note("hub", &note, now);
                    }
                    change.audit(
                        now,
                        "hub",
                        None,
                        "incident.opened",
                        &id,
                        serde_json::json!({
                            "severity": severity,
                            "category": Category::SloBurn,
                            "series": alert.series,
                            "alert": alert.level,
                            "burn": alert.burn,
                        }),
                    );
                    change.incident(incident);
                }
            }
        }
    }

    /// When the burn behind `alert` started: for a completion SLO, from
    /// the agent's 5-minute outcome buckets; otherwise the alert time.
    fn burn_start(&self, alert: &crate::engine::Alerting, now: DateTime<Utc>) -> DateTime<Utc> {
        if alert.sli != crate::model::slo::SliKind::Completion {
            return now;
        }
        let Some(spec) = self.engine.specs().iter().find(|s| s.name == alert.slo) else {
            return now;
        };
        self.drill
            .burn_start(&alert.agent, now, 1.0 - spec.objective)
            .unwrap_or(now)
    }

    /// Queues the callback for an agent if it registered one.
    pub fn queue_callback<T: Serialize>(
        &self,
        change: &mut Change,
        agent: &str,
        kind: &'static str,
        subject: &str,
        body: &T,
    ) {
        if let Some(cb) = self.callbacks.get(agent) {
            change.callback(CallbackJob {
                agent: agent.to_string(),
                url: cb.url.clone(),
                secret: cb.secret.clone(),
                kind,
                subject: subject.to_string(),
                body: serde_json::to_string(body).unwrap_or_default(),
            });
        }
    }

    /// Queues control callbacks to every agent the control binds.
    pub fn queue_control_callbacks(&self, change: &mut Change, control: &Control) {
        let body = serde_json::json!({"type": "control.changed", "control": control});
        if control.agent == "*" {
            let mut agents: Vec<&String> = self.callbacks.keys().collect();
            agents.sort();
            for agent in agents {
                self.queue_callback(change, agent, "control.changed", &control.id, &body);
            }
        } else {
            self.queue_callback(
                change,
                &control.agent,
                "control.changed",
                &control.id,
                &body,
            );
        }
    }

    /// Controls in force for one agent, fleet-wide ones included.
    pub fn controls_for(&self, agent: &str, now: DateTime<Utc>) -> Vec<Control> {
        let mut out: Vec<Control> = self
            .desk
            .controls
            .values()
            .filter(|c| c.binds(agent) && c.in_force(now))
            .cloned()
            .collect();
        by_id_number(&mut out, |c| &c.id);
        out
    }

    /// Drops journal events older than every window and idempotency
    /// records older than a day.
    pub fn prune(&mut self, now: DateTime<Utc>) {
        let horizon_days = self
            .engine
            .specs()
            .iter()
            .map(|s| s.window_days)
            .max()
            .unwrap_or(30)
            .max(7);
        let before = now.timestamp() - i64::from(horizon_days) * 86_400;
        if let Err(e) = self.store.prune_events(before) {
            tracing::warn!(error = %e, "could not prune the event journal");
        }
        if let Err(e) = self.store.prune_idempotency(now.timestamp() - 86_400) {
            tracing::warn!(error = %e, "could not prune idempotency records");
        }
    }

    /// Records an event that changes no object (callback delivery, for
    /// instance) in the audit log.
    pub fn record(
        &mut self,
        now: DateTime<Utc>,
        actor: &str,
        action: &str,
        subject: &str,
        details: serde_json::Value,
    ) -> Result<(), StoreError> {
        if let Some(ok) = match action {
            "callback.delivered" => Some(true),
            "callback.failed" => Some(false),
            _ => None,
        } {
            self.tally_callback(subject, ok);
        }
        let mut change = self.change();
        change.audit(now, actor, None, action, subject, details);
        self.commit(change)
    }

    /// Counts one decision callback's outcome under its approval's agent
    /// and action.
    fn tally_callback(&mut self, approval_id: &str, delivered: bool) {
        let Some(a) = self.desk.approvals.get(approval_id) else {
            return; // a control callback: not an approval metric
        };
        let entry = self
            .callback_tally
            .entry((a.agent.clone(), a.action.clone()))
            .or_default();
        if delivered {
            entry.0 += 1;
        } else {
            entry.1 += 1;
        }
    }

    /// Rebuilds the callback tally from the audit log at start.
    fn tally_callbacks_since(&mut self, since: DateTime<Utc>) -> Result<(), StoreError> {
        let mut seen = Vec::new();
        self.store.for_each_audit_action(
            &["callback.delivered", "callback.failed"],
            since,
            |e| {
                seen.push((e.subject, e.action == "callback.delivered"));
            },
        )?;
        for (subject, ok) in seen {
            self.tally_callback(&subject, ok);
        }
        Ok(())
    }

    /// Every agent, seen or registered, with its registration and
    /// findings, sorted by id.
    pub fn agents(&self, now: DateTime<Utc>) -> Vec<Agent> {
        let mut out = self.engine.agents(now);
        let mut unseen: std::collections::HashSet<&String> = self.profiles.keys().collect();
        for a in &mut out {
            if let Some(p) = self.profiles.get(&a.id) {
                unseen.remove(&a.id);
                a.set_profile(Some(p.clone()));
            }
        }
        for id in unseen {
            out.push(Agent::registered_only(id, self.profiles[id].clone()));
        }
        out.sort_by(|a, b| a.id.cmp(&b.id));
        out
    }

    /// One agent, seen or registered.
    pub fn agent(&self, id: &str, now: DateTime<Utc>) -> Option<Agent> {
        match (self.engine.agent(id, now), self.profiles.get(id)) {
            (Some(mut a), p) => {
                if let Some(p) = p {
                    a.set_profile(Some(p.clone()));
                }
                Some(a)
            }
            (None, Some(p)) => Some(Agent::registered_only(id, p.clone())),
            (None, None) => None,
        }
    }
}

/// Bumps an id counter, records it in the change so it survives a
/// restart, and returns `PREFIX-n`.
fn allocate(counter: &mut u64, key: &'static str, prefix: &str, change: &mut Change) -> String {
    *counter += 1;
    change.batch.meta.push((key, counter.to_string()));
    format!("{prefix}-{counter}")
}

/// The body of an approval callback.
pub fn approval_callback(a: &Approval) -> serde_json::Value {
    serde_json::json!({
        "type": "approval.decided",
        "approval": a.id,
        "request_id": a.request_id,
        "state": a.state,
        "approved": a.state == ApprovalState::Approved,
        "args": a.effective_args(),
        "reason": a.decisions.last().and_then(|d| d.reason.clone()),
    })
}
