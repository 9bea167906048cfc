//! What each service is sent, built from one group of notices: PagerDuty
//! Events API v2 (trigger, acknowledge, resolve), a Slack incoming-webhook
//! message, or agentdeck's own JSON for any webhook. Pure functions; every
//! text that came from an agent is cleaned and bounded here.

use serde_json::{Value, json};

use crate::model::incident::Severity;

use super::Notice;

/// PagerDuty's longest summary.
pub const PD_SUMMARY_MAX: usize = 1024;
/// Incidents listed one by one in a grouped message; the rest are counted.
pub const LISTED: usize = 20;

/// What a PagerDuty event does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PdAction {
    /// Opens (or updates) the alert under the dedup key.
    Trigger,
    /// Someone is on it.
    Acknowledge,
    /// Over.
    Resolve,
}

impl PdAction {
    /// The `event_action` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Trigger => "trigger",
            Self::Acknowledge => "acknowledge",
            Self::Resolve => "resolve",
        }
    }
}

/// PagerDuty's severity for a notice: SEV1 critical, SEV2 error, SEV3
/// warning, SEV4 info; a stopped fleet is critical, other approvals and
/// controls a warning.
pub fn pd_severity(n: &Notice) -> &'static str {
    match n.severity {
        Some(Severity::Sev1) => "critical",
        Some(Severity::Sev2) => "error",
        Some(Severity::Sev3) => "warning",
        Some(Severity::Sev4) => "info",
        None if n.event == "fleet.stopped" => "critical",
        None if n.event == "approval.escalated" => "error",
        None => "warning",
    }
}

/// One line of text from an agent or an operator, safe for any receiver.
pub fn clean(text: &str, max: usize) -> String {
    crate::model::validate::clean_line(text, max)
}

/// The one-line summary of a group: the first notice's, and how many more.
pub fn summary(group: &[Notice]) -> String {
    let Some(first) = group.first() else {
        return String::new();
    };
    let sev = first
        .severity
        .map(|s| format!("[{}] ", s.as_str()))
        .unwrap_or_default();
    let line = format!(
        "{sev}{} {}: {}",
        first.subject,
        verb(&first.event),
        first.title
    );
    let line = match group.len() {
        1 => line,
        n => format!("{line} (and {} more)", n - 1),
    };
    clean(&line, PD_SUMMARY_MAX)
}

fn verb(event: &str) -> &str {
    match event {
        "incident.opened" => "opened",
        "incident.acknowledged" => "acknowledged",
        "incident.escalated" => "escalated",
        "incident.resolved" => "resolved",
        "approval.waiting" => "waiting for a decision",
        "approval.escalated" => "escalated",
        "approval.expired" => "expired undecided",
        "approval.decided" => "decided",
        "control.applied" => "applied",
        "control.lifted" => "lifted",
        "fleet.stopped" => "fleet stopped",
        other => other,
    }
}

/// The details PagerDuty shows under the summary.
fn details(n: &Notice, hub_url: &str) -> Value {
    let mut d = json!({
        "event": n.event,
        "subject": n.subject,
        "state": n.state,
        "actor": clean(&n.actor, 128),
        "at": n.at,
        "agent": n.agent.as_deref().map(|a| clean(a, 128)),
        "slo": n.slo,
        "burn": n.details.get("burn"),
        "owner": n.owner.as_deref().map(|o| clean(o, 128)),
        "runbook": n.runbook,
        "open_in_agentdeck": format!("agentdeck --hub {hub_url}  then :incident {}", n.subject),
    });
    if let Some(level) = n.level {
        d["escalation_level"] = json!(level);
    }
    if let Some(obj) = d.as_object_mut() {
        obj.retain(|_, v| !v.is_null());
    }
    d
}

/// A PagerDuty Events API v2 body. A trigger carries the payload; an
/// acknowledge or resolve only the key.
pub fn pagerduty(
    routing_key: &str,
    action: PdAction,
    dedup_key: &str,
    group: &[Notice],
    hub_url: &str,
) -> Value {
    let mut body = json!({
        "routing_key": routing_key,
        "event_action": action.as_str(),
        "dedup_key": dedup_key,
    });
    if action != PdAction::Trigger {
        return body;
    }
    let Some(first) = group.first() else {
        return body;
    };
    let mut custom = details(first, hub_url);
    if group.len() > 1 {
        custom["grouped"] = json!(group.len());
        custom["notifications"] = group
            .iter()
            .take(LISTED)
            .map(|n| json!({"subject": n.subject, "event": n.event, "title": clean(&n.title, 200)}))
            .collect();
    }
    body["payload"] = json!({
        "summary": summary(group),
        "source": first.agent.as_deref().map_or_else(|| "agentdeck".to_string(), |a| clean(a, 128)),
        "severity": group.iter().map(pd_severity).min_by_key(|s| pd_rank(s)).unwrap_or("warning"),
        "timestamp": first.at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "component": first.agent.as_deref().map(|a| clean(a, 128)),
        "group": first.slo,
        "class": first.event,
        "custom_details": custom,
    });
    if let Some(p) = body["payload"].as_object_mut() {
        p.retain(|_, v| !v.is_null());
    }
    body["client"] = json!("agentdeck");
    body
}

fn pd_rank(s: &str) -> u8 {
    match s {
        "critical" => 0,
        "error" => 1,
        "warning" => 2,
        _ => 3,
    }
}

/// Slack's mrkdwn escapes `&`, `<` and `>`; anything else an agent wrote
/// is shown as text.
fn slack_text(text: &str, max: usize) -> String {
    clean(text, max)
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A Slack incoming-webhook message: one line per notice (title,
/// severity, agent, what is burning, owner), the rest counted.
pub fn slack(group: &[Notice]) -> Value {
    let mut lines = Vec::new();
    for n in group.iter().take(LISTED) {
        let sev = n
            .severity
            .map(|s| format!("[{}] ", s.as_str()))
            .unwrap_or_default();
        let mut line = format!(
            "*{sev}{} {}*: {}",
            n.subject,
            verb(&n.event),
            slack_text(&n.title, 300)
        );
        let mut facts = Vec::new();
        if let Some(a) = &n.agent {
            facts.push(format!("agent `{}`", slack_text(a, 128)));
        }
        if let Some(slo) = &n.slo {
            facts.push(format!("burning `{}`", slack_text(slo, 200)));
        }
        facts.push(format!(
            "owner {}",
            n.owner
                .as_deref()
                .map_or_else(|| "nobody yet".to_string(), |o| slack_text(o, 128))
        ));
        if let Some(level) = n.level {
            facts.push(format!("escalation level {level}"));
        }
        if let Some(r) = &n.runbook {
            facts.push(format!("runbook `{}`", slack_text(r, 128)));
        }
        line.push_str(&format!("\n{}", facts.join(" · ")));
        lines.push(line);
    }
    if group.len() > LISTED {
        lines.push(format!("… and {} more", group.len() - LISTED));
    }
    let text = lines.join("\n");
    json!({
        "text": text,
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}],
    })
}

/// agentdeck's own webhook body: every notice of the group, as JSON.
pub fn webhook(receiver: &str, group_name: &str, group: &[Notice]) -> Value {
    json!({
        "version": 1,
        "receiver": receiver,
        "group": group_name,
        "notifications": group,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn notice(subject: &str, sev: Severity) -> Notice {
        Notice {
            event: "incident.opened".into(),
            subject: subject.into(),
            at: chrono::Utc.with_ymd_and_hms(2026, 12, 4, 3, 12, 0).unwrap(),
            actor: "hub".into(),
            title: "completion SLO burning on refund-bot <b>&\u{1b}[31m".into(),
            severity: Some(sev),
            agent: Some("refund-bot".into()),
            state: "triggered".into(),
            owner: None,
            slo: Some("completion/refund-bot/refund".into()),
            runbook: Some("slo-burn".into()),
            level: None,
            details: json!({"burn": {"h1": 14.4, "h6": 6.1}}),
        }
    }

    #[test]
    fn severities_map_to_pagerduty_levels() {
        let sevs = [
            Severity::Sev1,
            Severity::Sev2,
            Severity::Sev3,
            Severity::Sev4,
        ];
        let got: Vec<_> = sevs
            .iter()
            .map(|s| pd_severity(&notice("INC-1", *s)))
            .collect();
        assert_eq!(got, ["critical", "error", "warning", "info"]);
    }

    #[test]
    fn a_trigger_carries_what_the_responder_needs_and_no_escape_codes() {
        let body = pagerduty(
            "KEY",
            PdAction::Trigger,
            "INC-1",
            &[notice("INC-1", Severity::Sev1)],
            "http://hub",
        );
        assert_eq!(body["event_action"], "trigger");
        assert_eq!(body["dedup_key"], "INC-1");
        let p = &body["payload"];
        assert_eq!(p["severity"], "critical");
        assert_eq!(p["source"], "refund-bot");
        assert!(!p["summary"].as_str().unwrap().contains('\u{1b}'));
        assert_eq!(p["custom_details"]["runbook"], "slo-burn");
        assert_eq!(p["custom_details"]["burn"]["h1"], 14.4);
        let ack = pagerduty("KEY", PdAction::Acknowledge, "INC-1", &[], "http://hub");
        assert_eq!(ack.as_object().unwrap().len(), 3, "{ack}");
    }

    #[test]
    fn slack_escapes_markup_and_counts_what_it_does_not_list() {
        let group: Vec<_> = (1..=25)
            .map(|i| notice(&format!("INC-{i}"), Severity::Sev2))
            .collect();
        let body = slack(&group);
        let text = body["text"].as_str().unwrap();
        assert!(text.contains("&lt;b&gt;&amp;"), "{text}");
        assert!(text.contains("… and 5 more"));
        assert!(text.contains("owner nobody yet"));
    }

    #[test]
    fn summaries_are_bounded_on_a_character_boundary() {
        let mut n = notice("INC-1", Severity::Sev1);
        n.title = "é".repeat(2000);
        let s = summary(&[n]);
        assert!(s.len() <= PD_SUMMARY_MAX, "{}", s.len());
    }
}
