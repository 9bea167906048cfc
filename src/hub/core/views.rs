//! Read views of the state: the snapshot streams start from, agents, the
//! controls that bind an agent, the handoff summary.

use chrono::{DateTime, Utc};

use crate::model::agent::Agent;
use crate::model::approval::Approval;
use crate::model::control::{Control, ControlState};
use crate::model::incident::{Incident, IncidentState};
use crate::model::slo::SloStatus;
use crate::model::stream::Snapshot;

use super::{Core, Frame, by_id_number};
use crate::hub::store::{HANDOFF_DECIDED_MAX, StoreError};

impl Core {
    /// The SLO statuses last published.
    pub fn published_slos(&self) -> impl Iterator<Item = &SloStatus> {
        self.sent_slo.values()
    }

    /// Controls in force, as a snapshot lists them.
    pub fn snapshot_controls(&self, _now: DateTime<Utc>) -> usize {
        self.desk
            .controls
            .values()
            .filter(|c| c.state == ControlState::Active)
            .count()
    }

    /// Operators' live streams open here, those standbys serve included:
    /// a standby holds one here for each (see `hub::forward::stream`).
    pub fn stream_clients(&self) -> usize {
        self.presence.values().map(|(_, streams)| streams).sum()
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
        let approvals = self.desk.open_approvals();
        let mut controls: Vec<Control> = self
            .desk
            .controls
            .values()
            // The stored state, not the clock: a control past its TTL
            // leaves the snapshot in the commit that records its expiry,
            // together with the `control.expired` audit entry.
            .filter(|c| c.state == ControlState::Active)
            .cloned()
            .collect();
        by_id_number(&mut controls, |c| &c.id);
        let mut slos: Vec<SloStatus> = self.sent_slo.values().cloned().collect();
        slos.sort_by(|a, b| a.series.cmp(&b.series));
        Snapshot {
            seq: self.seq(),
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

    /// The approval an agent asked for with `(agent, request_id)`: from
    /// memory, or from the store once decided long enough ago.
    pub fn approval_by_request(
        &self,
        key: &(String, String),
    ) -> Result<Option<Approval>, StoreError> {
        let held = self
            .desk
            .approval_keys
            .get(key)
            .and_then(|id| self.desk.approvals.get(id));
        match held {
            Some(a) => Ok(Some(a.clone())),
            None => self.store.approval_by_request(&key.0, &key.1),
        }
    }

    /// The approval with this id: from memory, or from the store once
    /// decided long enough ago.
    pub fn approval(&self, id: &str) -> Result<Option<Approval>, StoreError> {
        match self.desk.approvals.get(id) {
            Some(a) => Ok(Some(a.clone())),
            None => self.store.approval(id),
        }
    }

    /// The approvals a shift's summary reads: those in memory, and those
    /// decided since the shift began that the desk no longer holds.
    fn approvals_of(&self, window: crate::handoff::Window) -> Result<Vec<Approval>, StoreError> {
        let mut approvals: Vec<Approval> = self.desk.approvals.values().cloned().collect();
        let stored = self
            .store
            .approvals_closed_since(window.from, HANDOFF_DECIDED_MAX)?;
        approvals.extend(
            stored
                .into_iter()
                .filter(|a| !self.desk.approvals.contains_key(&a.id)),
        );
        Ok(approvals)
    }

    /// The handoff summary of a shift.
    pub fn handoff(
        &self,
        window: crate::handoff::Window,
        now: DateTime<Utc>,
    ) -> Result<crate::handoff::Handoff, StoreError> {
        let incidents: Vec<_> = self.desk.incidents.values().cloned().collect();
        let approvals = self.approvals_of(window)?;
        let controls: Vec<_> = self.desk.controls.values().cloned().collect();
        let slos: Vec<_> = self
            .engine
            .statuses(now)
            .into_iter()
            .map(|status| crate::handoff::SloNow {
                budget_burned: self.engine.budget_burned(
                    &status.series,
                    window.from,
                    window.to,
                    now,
                ),
                status,
            })
            .collect();
        Ok(crate::handoff::summarize(
            window,
            &incidents,
            &approvals,
            &controls,
            &slos,
            &self.desk.handoff_notes,
            now,
        ))
    }
}
