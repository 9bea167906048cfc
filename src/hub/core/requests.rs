//! Desk objects that agents' events create in the same transaction as the
//! events themselves: approval requests and reported incidents.

use std::collections::HashSet;

use chrono::{DateTime, Utc};

use crate::engine::incident::NewIncident;
use crate::model::approval::Approval;
use crate::model::envelope::{ApprovalRequest, Envelope, Event, IncidentReport};
use crate::model::incident::{Incident, IncidentSource};
use crate::model::role::Role;

use super::{Change, Core};

impl Core {
    /// Records the approval requests and incident reports among `accepted`
    /// in `change`; a re-sent request (same agent and request id) is
    /// recorded once.
    pub(super) fn record_requests(
        &mut self,
        accepted: &[Envelope],
        now: DateTime<Utc>,
        change: &mut Change,
    ) {
        let mut new_keys = HashSet::new();
        for env in accepted {
            match &env.event {
                Event::ApprovalRequested(request) => {
                    let key = (env.agent.clone(), request.request_id.clone());
                    if self.approval_requested(&key) || !new_keys.insert(key) {
                        continue; // a re-sent request: already recorded
                    }
                    self.request_approval(env, request, now, change);
                }
                Event::IncidentReported(report) => self.report_incident(env, report, now, change),
                _ => {}
            }
        }
    }

    /// Whether `(agent, request_id)` was asked for before. A store that
    /// cannot answer counts as no: the new approval's write then fails on
    /// the key's uniqueness, and the request is refused, not doubled.
    fn approval_requested(&self, key: &(String, String)) -> bool {
        self.desk.approval_keys.contains_key(key)
            || self
                .store
                .approval_by_request(&key.0, &key.1)
                .is_ok_and(|a| a.is_some())
    }

    fn request_approval(
        &mut self,
        env: &Envelope,
        request: &ApprovalRequest,
        now: DateTime<Utc>,
        change: &mut Change,
    ) {
        let id = self.next_approval_id(change);
        let required = self.policy.approvals_required(request.risk);
        let approval =
            Approval::from_request(id.clone(), &env.agent, request, env.ts.min(now), required);
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

    fn report_incident(
        &mut self,
        env: &Envelope,
        report: &IncidentReport,
        now: DateTime<Utc>,
        change: &mut Change,
    ) {
        let id = self.next_incident_id(change);
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
        let note = match (&report.detail, &report.run_id) {
            (Some(d), Some(r)) => Some(format!("{d} (run {r})")),
            (Some(d), None) => Some(d.clone()),
            (None, Some(r)) => Some(format!("reported for run {r}")),
            (None, None) => None,
        };
        if let Some(text) = note {
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
}
