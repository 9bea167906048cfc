//! Time passing: engine alerts and drift become incidents and audit
//! entries, approvals escalate and expire, controls expire, and SLO and
//! agent deltas go out for what changed.

use chrono::{DateTime, Utc};

use crate::engine::incident::NewIncident;
use crate::model::control::Control;
use crate::model::incident::{Category, Incident, IncidentSource, IncidentState, Severity};
use crate::model::slo::AlertLevel;
use crate::model::stream::Delta;

use super::super::store::StoreError;
use super::{Change, Core, approval_callback, by_id_number};

impl Core {
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
        let approvals = self.desk.open_approvals();
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
        self.notify_tick(now, &mut change);
        // SLO statuses are published even when the tick's writes are
        // refused (retried on the next tick): on SQLite they need no write,
        // so operators keep seeing them move; on PostgreSQL they go to the
        // shared log, so they wait for the database with the rest.
        let stored = self.commit(change);
        self.publish_slo(now)?;
        stored
    }

    fn publish_slo(&mut self, now: DateTime<Utc>) -> Result<(), StoreError> {
        let statuses: Vec<_> = self
            .engine
            .statuses(now)
            .into_iter()
            .filter(|s| self.sent_slo.get(&s.series) != Some(s))
            .collect();
        let agents: Vec<_> = self
            .agents(now)
            .into_iter()
            .filter(|a| self.sent_agents.get(&a.id) != Some(a))
            .collect();
        let deltas: Vec<Delta> = statuses
            .iter()
            .map(|s| Delta::Slo(Box::new(s.clone())))
            .chain(agents.iter().map(|a| Delta::Agent(Box::new(a.clone()))))
            .collect();
        // One write for the tick's deltas; refused, they are sent again
        // on the next tick.
        self.publish_volatile(&deltas)?;
        for status in statuses {
            self.sent_slo.insert(status.series.clone(), status);
        }
        for agent in agents {
            self.sent_agents.insert(agent.id.clone(), agent);
        }
        self.desk.retire_decided(now);
        self.snapshot_if_due(now);
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

    /// Whether an operator resolved this series' incident with new ones
    /// suppressed until a time still ahead.
    fn reopen_suppressed(&self, series: &str, now: DateTime<Utc>) -> bool {
        self.desk.incidents.values().any(|i| {
            i.slo.as_deref() == Some(series)
                && i.reopen_suppressed_until.is_some_and(|until| until > now)
        })
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
            if self.reopen_suppressed(&alert.series, now) {
                continue;
            }
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
                        super::super::inventory::change_note(self, &alert.agent, burn_start)
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
}
