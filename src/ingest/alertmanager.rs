//! Prometheus Alertmanager's webhook payload (version 4) into checked
//! alerts. Everything in it is outside text: labels and annotations are
//! bounded in count and size and cleaned of control characters, the
//! agent label must be an identifier, and the fingerprint a short hex
//! string (made from the labels when Alertmanager sends none).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::model::incident::{Category, Severity};
use crate::model::limits::{MAX_NAME_BYTES, MAX_TITLE_BYTES};

/// Alerts accepted in one payload (Alertmanager's own `max_alerts` is
/// unlimited by default; past this, split the route).
pub const MAX_ALERTS: usize = 1000;
/// Labels or annotations per alert.
pub const MAX_PAIRS: usize = 64;
/// Longest label or annotation value kept.
pub const MAX_VALUE_BYTES: usize = 1024;

/// The webhook body, as Alertmanager sends it.
#[derive(Debug, Deserialize)]
pub struct Payload {
    /// `"4"`.
    pub version: String,
    /// The receiver name in Alertmanager's configuration.
    #[serde(default)]
    pub receiver: Option<String>,
    /// Alerts Alertmanager left out (`max_alerts`).
    #[serde(default, rename = "truncatedAlerts")]
    pub truncated_alerts: u64,
    /// The alerts of the group.
    pub alerts: Vec<AlertIn>,
}

/// One alert of the payload.
#[derive(Debug, Deserialize)]
pub struct AlertIn {
    /// `firing` or `resolved`.
    pub status: String,
    /// Identifying labels.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Descriptive annotations (`summary`, `description`, `runbook_url`).
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// When it started firing.
    #[serde(default, rename = "startsAt")]
    pub starts_at: Option<DateTime<Utc>>,
    /// When it stopped (resolved alerts).
    #[serde(default, rename = "endsAt")]
    pub ends_at: Option<DateTime<Utc>>,
    /// The Prometheus expression browser link.
    #[serde(default, rename = "generatorURL")]
    pub generator_url: Option<String>,
    /// Alertmanager's identity of the alert (hex).
    #[serde(default)]
    pub fingerprint: Option<String>,
}

/// One checked alert.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    /// Still firing (else resolved).
    pub firing: bool,
    /// The key repeats are recognised by.
    pub fingerprint: String,
    /// `alertname: summary`, one line.
    pub title: String,
    /// From the `severity` label (SEV1…SEV4, or critical, error, warning,
    /// info and their usual synonyms); SEV3 when absent.
    pub severity: Severity,
    /// From the `agent` label.
    pub agent: Option<String>,
    /// From the `category` label; `other` when absent or unknown.
    pub category: Category,
    /// Every label, cleaned.
    pub labels: BTreeMap<String, String>,
    /// Every annotation, cleaned.
    pub annotations: BTreeMap<String, String>,
    /// When it stopped, for resolved alerts.
    pub ends_at: Option<DateTime<Utc>>,
    /// The link back to Prometheus.
    pub generator_url: Option<String>,
}

/// Checks a payload; the error names the field at fault.
pub fn check(p: Payload) -> Result<Vec<Alert>, String> {
    if p.version != "4" {
        return Err(format!(
            "version {:?}: only Alertmanager's webhook payload version \"4\" is read",
            p.version
        ));
    }
    if p.alerts.len() > MAX_ALERTS {
        return Err(format!(
            "alerts: {} alerts in one payload (at most {MAX_ALERTS}; set max_alerts in Alertmanager's webhook_config)",
            p.alerts.len()
        ));
    }
    p.alerts
        .into_iter()
        .enumerate()
        .map(|(i, a)| alert(a).map_err(|e| format!("alerts[{i}].{e}")))
        .collect()
}

fn clean(text: &str, max: usize) -> String {
    crate::model::validate::clean_line(text.trim(), max)
}

fn pairs(field: &str, map: BTreeMap<String, String>) -> Result<BTreeMap<String, String>, String> {
    if map.len() > MAX_PAIRS {
        return Err(format!(
            "{field}: {} entries (at most {MAX_PAIRS})",
            map.len()
        ));
    }
    Ok(map
        .into_iter()
        .map(|(k, v)| (clean(&k, MAX_NAME_BYTES), clean(&v, MAX_VALUE_BYTES)))
        .collect())
}

fn alert(a: AlertIn) -> Result<Alert, String> {
    let firing = match a.status.as_str() {
        "firing" => true,
        "resolved" => false,
        other => return Err(format!("status: {other:?} (firing or resolved)")),
    };
    // The title takes the summary's first line, before line breaks are
    // cleaned away.
    let summary = a
        .annotations
        .get("summary")
        .or_else(|| a.annotations.get("description"))
        .map(|s| s.trim().lines().next().unwrap_or_default().to_string());
    let labels = pairs("labels", a.labels)?;
    let annotations = pairs("annotations", a.annotations)?;
    let fingerprint = match a.fingerprint.filter(|f| !f.is_empty()) {
        Some(f) if f.len() <= 64 && f.bytes().all(|b| b.is_ascii_hexdigit()) => {
            f.to_ascii_lowercase()
        }
        Some(f) => {
            return Err(format!(
                "fingerprint: {:?} is not a hex string of at most 64 digits",
                clean(&f, 80)
            ));
        }
        None => label_fingerprint(&labels),
    };
    let agent = match labels.get("agent") {
        Some(agent) => {
            if crate::model::validate::id("agent", agent).is_err() {
                return Err(format!(
                    "labels.agent: {agent:?} is not an agent id (1 to 128 letters, digits and . _ - : / @)"
                ));
            }
            Some(agent.clone())
        }
        None => None,
    };
    let severity = labels
        .get("severity")
        .map_or(Some(Severity::Sev3), |s| severity(s));
    let Some(severity) = severity else {
        return Err(format!(
            "labels.severity: {:?} (SEV1…SEV4, critical, error, warning or info)",
            labels
                .get("severity")
                .map(String::as_str)
                .unwrap_or_default()
        ));
    };
    let name = labels.get("alertname").map_or("alert", String::as_str);
    let title = match summary {
        Some(s) if !s.is_empty() => format!("{name}: {s}"),
        _ => name.to_string(),
    };
    Ok(Alert {
        firing,
        fingerprint,
        title: clean(&title, MAX_TITLE_BYTES),
        severity,
        agent,
        category: labels
            .get("category")
            .and_then(|c| Category::parse(c))
            .unwrap_or(Category::Other),
        labels,
        annotations,
        ends_at: a.ends_at,
        generator_url: a.generator_url.map(|u| clean(&u, MAX_VALUE_BYTES)),
    })
}

/// The `severity` label's usual values.
fn severity(s: &str) -> Option<Severity> {
    Severity::parse(&s.to_ascii_uppercase()).or(match s.to_ascii_lowercase().as_str() {
        "critical" | "page" | "emergency" | "fatal" => Some(Severity::Sev1),
        "error" | "high" | "major" => Some(Severity::Sev2),
        "warning" | "warn" | "ticket" | "medium" | "minor" => Some(Severity::Sev3),
        "info" | "low" | "none" => Some(Severity::Sev4),
        _ => None,
    })
}

/// A fingerprint from the labels, for senders that give none: the first
/// 16 hex digits of SHA-256 over the sorted `name=value` lines.
fn label_fingerprint(labels: &BTreeMap<String, String>) -> String {
    let mut h = Sha256::new();
    for (k, v) in labels {
        h.update(k.as_bytes());
        h.update(b"=");
        h.update(v.as_bytes());
        h.update(b"\n");
    }
    hex::encode(&h.finalize()[..8])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(alerts: serde_json::Value) -> Payload {
        serde_json::from_value(
            serde_json::json!({"version": "4", "status": "firing", "alerts": alerts}),
        )
        .unwrap()
    }

    #[test]
    fn a_firing_alert_maps_labels_and_annotations() {
        let got = check(payload(serde_json::json!([{
            "status": "firing",
            "labels": {"alertname": "ToolErrors", "agent": "refund-bot", "severity": "critical", "instance": "pod-1"},
            "annotations": {"summary": "payments API 5xx above 5%\nsecond line"},
            "startsAt": "2026-12-04T03:12:00Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus:9090/graph?g0.expr=x",
            "fingerprint": "1A2B3C4D5E6F7081"
        }])))
        .unwrap();
        let a = &got[0];
        assert!(a.firing);
        assert_eq!(a.fingerprint, "1a2b3c4d5e6f7081");
        assert_eq!(a.title, "ToolErrors: payments API 5xx above 5%");
        assert_eq!(a.severity, Severity::Sev1);
        assert_eq!(a.agent.as_deref(), Some("refund-bot"));
        assert_eq!(a.category, Category::Other);
        assert_eq!(a.labels["instance"], "pod-1");
    }

    #[test]
    fn bad_input_is_refused_naming_the_field() {
        let cases = [
            (
                serde_json::json!([{"status": "pending"}]),
                "alerts[0].status",
            ),
            (
                serde_json::json!([{"status": "firing", "labels": {"agent": "bad agent"}}]),
                "alerts[0].labels.agent",
            ),
            (
                serde_json::json!([{"status": "firing", "labels": {"severity": "apocalyptic"}}]),
                "alerts[0].labels.severity",
            ),
            (
                serde_json::json!([{"status": "firing", "fingerprint": "zz"}]),
                "alerts[0].fingerprint",
            ),
        ];
        for (alerts, needle) in cases {
            let e = check(payload(alerts)).unwrap_err();
            assert!(e.starts_with(needle), "{needle}: {e}");
        }
        let mut p = payload(serde_json::json!([]));
        p.version = "3".into();
        assert!(check(p).unwrap_err().contains("version \"3\""));
    }

    #[test]
    fn hostile_text_is_cleaned_and_bounded() {
        let long = "x".repeat(10_000);
        let got = check(payload(serde_json::json!([{
            "status": "firing",
            "labels": {"alertname": "A\u{1b}[31m", "note": long},
        }])))
        .unwrap();
        assert!(!got[0].title.contains('\u{1b}'));
        assert!(got[0].labels["note"].len() <= MAX_VALUE_BYTES);
        // No fingerprint given: one made from the labels, stable.
        assert_eq!(got[0].fingerprint.len(), 16);
    }
}
