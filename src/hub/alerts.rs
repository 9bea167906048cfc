//! What an Alertmanager payload means: a firing alert opens an incident
//! (or updates the open one with its fingerprint: repeats never
//! duplicate), a resolved alert resolves it. The agent's infrastructure
//! alerts land in the same queue as its SLO burns.

use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde_json::json;

use crate::engine::incident::NewIncident;
use crate::ingest::alertmanager::Alert;
use crate::model::incident::{ExternalAlert, Incident, IncidentSource, IncidentState};

use super::auth::Principal;
use super::core::{Change, Core};
use super::ops::Outcome;

/// Labels shown in the opening note, in this order when present.
const NOTED_LABELS: &[&str] = &[
    "alertname",
    "instance",
    "job",
    "service",
    "namespace",
    "pod",
];

/// `POST /v1/alerts/alertmanager`.
pub fn apply(core: &mut Core, who: &Principal, alerts: Vec<Alert>, now: DateTime<Utc>) -> Outcome {
    let mut change = core.change();
    let (mut opened, mut updated, mut resolved) = (Vec::new(), Vec::new(), Vec::new());
    let (mut repeated, mut unknown) = (0u64, 0u64);
    for alert in alerts {
        let open = open_for(core, &change.batch.incidents, &alert.fingerprint);
        match (alert.firing, open) {
            (true, Some(mut i)) => {
                if alert.severity < i.severity && i.escalate(&who.name, alert.severity, now).is_ok()
                {
                    change.audit(
                        now,
                        &who.name,
                        Some(who.role),
                        "incident.escalated",
                        &i.id,
                        json!({"severity": alert.severity, "alertmanager": alert.fingerprint}),
                    );
                    updated.push(i.id.clone());
                    change.incident(i);
                } else {
                    repeated += 1;
                }
            }
            (true, None) => opened.push(open_incident(core, &mut change, who, alert, now)),
            (false, Some(mut i)) => {
                let at = alert.ends_at.filter(|t| *t <= now).unwrap_or(now);
                let summary = format!(
                    "resolved in Alertmanager at {}",
                    at.format("%Y-%m-%d %H:%M:%SZ")
                );
                if i.resolve(&who.name, &summary, now).is_ok() {
                    change.audit(
                        now,
                        &who.name,
                        Some(who.role),
                        "incident.resolved",
                        &i.id,
                        json!({"summary": summary, "alertmanager": alert.fingerprint}),
                    );
                    resolved.push(i.id.clone());
                    change.incident(i);
                }
            }
            // Resolved before it ever reached us, or resolved already.
            (false, None) => unknown += 1,
        }
    }
    let answer = json!({
        "opened": opened,
        "updated": updated,
        "resolved": resolved,
        "repeated": repeated,
        "resolved_unknown": unknown,
    });
    Ok((StatusCode::OK, answer, change))
}

/// Opens the incident a firing alert stands for; its id.
fn open_incident(
    core: &Core,
    change: &mut Change,
    who: &Principal,
    alert: Alert,
    now: DateTime<Utc>,
) -> String {
    let id = core.next_incident_id(change);
    let mut i = Incident::open(
        NewIncident {
            id: id.clone(),
            title: alert.title.clone(),
            severity: alert.severity,
            category: alert.category,
            source: IncidentSource::Alertmanager,
            agent: alert.agent.clone(),
            slo: None,
        },
        &who.name,
        now,
    );
    core.runbooks().link(&mut i);
    i.note(&who.name, &note(&alert), now);
    change.audit(
        now,
        &who.name,
        Some(who.role),
        "incident.opened",
        &id,
        json!({
            "severity": alert.severity,
            "category": alert.category,
            "title": alert.title,
            "alertmanager": {"fingerprint": alert.fingerprint, "labels": alert.labels},
        }),
    );
    i.external = Some(ExternalAlert {
        fingerprint: alert.fingerprint,
        labels: alert.labels,
        annotations: alert.annotations,
        generator_url: alert.generator_url,
    });
    change.incident(i);
    id
}

/// The open incident standing for `fingerprint`: the change's own copy
/// first (an alert repeated within one payload), then the desk's.
fn open_for(core: &Core, pending: &[Incident], fingerprint: &str) -> Option<Incident> {
    let matches = |i: &&Incident| {
        i.state != IncidentState::Resolved
            && i.external
                .as_ref()
                .is_some_and(|e| e.fingerprint == fingerprint)
    };
    let same = |i: &&Incident| {
        i.external
            .as_ref()
            .is_some_and(|e| e.fingerprint == fingerprint)
    };
    if let Some(i) = pending.iter().rev().find(same) {
        return matches(&i).then(|| i.clone());
    }
    core.desk.incidents.values().find(matches).cloned()
}

/// The opening note: the identifying labels, the description, the links.
fn note(alert: &Alert) -> String {
    let labels: Vec<String> = NOTED_LABELS
        .iter()
        .filter_map(|k| alert.labels.get(*k).map(|v| format!("{k}={v}")))
        .collect();
    let mut parts = vec![format!("alertmanager {}", labels.join(" "))];
    if let Some(d) = alert.annotations.get("description") {
        parts.push(d.clone());
    }
    if let Some(u) = alert.annotations.get("runbook_url") {
        parts.push(format!("runbook {u}"));
    }
    if let Some(u) = &alert.generator_url {
        parts.push(format!("source {u}"));
    }
    crate::model::validate::clean_line(&parts.join(" · "), crate::model::limits::MAX_TEXT_BYTES)
}
