//! Paging people: what happened ([`Notice`], read off a change's audit
//! entries), who should hear of it (the routes and escalation levels of
//! [`NotifyConfig`]), what each service is sent ([`payload`]) and the
//! delivery loop ([`dispatch`]). The rows themselves live in the store's
//! outbox, written in the change's own transaction.

pub mod config;
pub mod dispatch;
pub mod payload;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::model::approval::Approval;
use crate::model::audit::AuditEntry;
use crate::model::control::Control;
use crate::model::incident::{Incident, Severity};

pub use config::{Kind, NotifyConfig, Receiver, Route};

/// Events PagerDuty is told about whenever it holds a page for the
/// subject, routed or not: the page must follow the incident.
pub const ACKNOWLEDGING: &str = "incident.acknowledged";

/// Whether `event` ends its subject's life (a PagerDuty page is resolved).
pub fn closes(event: &str) -> bool {
    matches!(
        event,
        "incident.resolved" | "approval.decided" | "approval.expired" | "control.lifted"
    )
}

/// One thing worth telling people, with what they need to act on it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notice {
    /// `incident.opened`, `approval.escalated`, …
    pub event: String,
    /// `INC-3`, `APR-7`, `CTL-2`.
    pub subject: String,
    /// When it happened.
    pub at: DateTime<Utc>,
    /// Who did it: an operator, an agent, or `hub`.
    pub actor: String,
    /// One line.
    pub title: String,
    /// The incident's severity (approvals and controls have none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<Severity>,
    /// The agent concerned (`*` for the whole fleet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    /// The subject's state after the event.
    pub state: String,
    /// Who owns it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// The SLO series burning, for an SLO incident.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slo: Option<String>,
    /// The linked runbook.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runbook: Option<String>,
    /// The escalation level paged, for `incident.escalated` by policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<u32>,
    /// The audit entry's details (burn rates, reasons, …).
    #[serde(default)]
    pub details: serde_json::Value,
}

impl Notice {
    fn of_incident(e: &AuditEntry, event: &str, i: &Incident) -> Self {
        Self {
            at: e.ts,
            actor: e.actor.clone(),
            level: e
                .details
                .get("level")
                .and_then(|l| l.as_u64())
                .map(|l| l as u32),
            details: e.details.clone(),
            ..Self::reminder(i, e.ts)
        }
        .with_event(event)
    }

    fn with_event(mut self, event: &str) -> Self {
        self.event = event.to_string();
        self
    }

    /// An incident's page sent again because nobody answered it: its
    /// opening, as it stands at `at`.
    pub fn reminder(i: &Incident, at: DateTime<Utc>) -> Self {
        Self {
            event: "incident.opened".to_string(),
            subject: i.id.clone(),
            at,
            actor: "hub".to_string(),
            title: i.title.clone(),
            severity: Some(i.severity),
            agent: i.agent.clone(),
            state: i.state.as_str().to_string(),
            owner: i.owner.clone(),
            slo: i.slo.clone(),
            runbook: i.runbook.clone(),
            level: None,
            details: serde_json::Value::Null,
        }
    }

    /// An approval's notice (also made by the tick for `approval.waiting`).
    pub fn of_approval(event: &str, at: DateTime<Utc>, actor: &str, a: &Approval) -> Self {
        Self {
            event: event.to_string(),
            subject: a.id.clone(),
            at,
            actor: actor.to_string(),
            title: format!("{} wants to {}", a.agent, a.action),
            severity: None,
            agent: Some(a.agent.clone()),
            state: a.state.as_str().to_string(),
            owner: None,
            slo: None,
            runbook: None,
            level: None,
            details: serde_json::json!({
                "action": a.action,
                "requested_at": a.requested_at,
                "deadline": a.deadline,
                "risk": a.risk,
                "workflow": a.workflow,
            }),
        }
    }

    fn of_control(e: &AuditEntry, event: &str, c: &Control) -> Self {
        let kind = c.kind.as_str();
        let target = match &c.tool {
            Some(tool) => format!("{}/{tool}", c.agent),
            None => c.agent.clone(),
        };
        Self {
            event: event.to_string(),
            subject: c.id.clone(),
            at: e.ts,
            actor: e.actor.clone(),
            title: format!("{kind} on {target}: {}", c.reason),
            severity: None,
            agent: Some(c.agent.clone()),
            state: c.state.as_str().to_string(),
            owner: None,
            slo: None,
            runbook: None,
            level: None,
            details: e.details.clone(),
        }
    }
}

/// Where [`notices_of`] finds the objects an audit entry names: the
/// change's own copies first, then the hub's.
pub struct Objects<'a> {
    /// Incidents written by the change, then all.
    pub incidents: &'a dyn Fn(&str) -> Option<Incident>,
    /// Approvals likewise.
    pub approvals: &'a dyn Fn(&str) -> Option<Approval>,
    /// Controls likewise.
    pub controls: &'a dyn Fn(&str) -> Option<Control>,
}

/// The notices a change's audit entries amount to, in order.
pub fn notices_of(audit: &[AuditEntry], objects: &Objects<'_>) -> Vec<Notice> {
    let mut out = Vec::new();
    for e in audit {
        let notice =
            match e.action.as_str() {
                event @ ("incident.opened"
                | "incident.acknowledged"
                | "incident.escalated"
                | "incident.resolved") => {
                    (objects.incidents)(&e.subject).map(|i| Notice::of_incident(e, event, &i))
                }
                event @ ("approval.escalated" | "approval.expired" | "approval.decided") => {
                    (objects.approvals)(&e.subject)
                        .map(|a| Notice::of_approval(event, e.ts, &e.actor, &a))
                }
                "control.applied" => (objects.controls)(&e.subject)
                    .map(|c| Notice::of_control(e, "control.applied", &c)),
                "control.lifted" | "control.expired" => (objects.controls)(&e.subject)
                    .map(|c| Notice::of_control(e, "control.lifted", &c)),
                "fleet.paused" => (objects.controls)(&e.subject)
                    .map(|c| Notice::of_control(e, "fleet.stopped", &c)),
                _ => None,
            };
        out.extend(notice);
    }
    out
}

/// Whether `route` takes `notice`.
pub fn route_takes(route: &Route, notice: &Notice) -> bool {
    if !route.events.contains(&notice.event) {
        return false;
    }
    if let Some(sev) = notice.severity
        && !route.severity.is_empty()
        && !route.severity.contains(&sev)
    {
        return false;
    }
    match notice.agent.as_deref() {
        // The whole fleet concerns every route.
        None | Some("*") => true,
        Some(agent) => {
            route.agents.is_empty() || route.agents.iter().any(|p| config::glob(p, agent))
        }
    }
}
