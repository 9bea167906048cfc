//! The incident state machine: triggered → acknowledged → contained →
//! resolved. Severity only rises; nothing leaves `resolved`.

use chrono::{DateTime, Utc};

use crate::model::incident::{
    Category, Incident, IncidentSource, IncidentState, Severity, TimelineEntry,
};

use super::TransitionError;

/// What an incident is opened with.
#[derive(Debug, Clone, PartialEq)]
pub struct NewIncident {
    /// `INC-<n>`.
    pub id: String,
    /// One-line title.
    pub title: String,
    /// Severity.
    pub severity: Severity,
    /// Category.
    pub category: Category,
    /// Who opened it.
    pub source: IncidentSource,
    /// The agent involved.
    pub agent: Option<String>,
    /// The SLO series involved.
    pub slo: Option<String>,
}

impl Incident {
    /// Opens an incident at `at`, by `actor`. The runbook is linked by
    /// category name.
    pub fn open(new: NewIncident, actor: &str, at: DateTime<Utc>) -> Self {
        let text = format!("opened as {}: {}", new.severity.as_str(), new.title);
        Self {
            id: new.id,
            title: new.title,
            severity: new.severity,
            category: new.category,
            state: IncidentState::Triggered,
            source: new.source,
            agent: new.agent,
            slo: new.slo,
            owner: None,
            opened_at: at,
            updated_at: at,
            acknowledged_at: None,
            contained_at: None,
            resolved_at: None,
            summary: None,
            runbook: Some(new.category.as_str().to_string()),
            controls: Vec::new(),
            steps: Vec::new(),
            reopen_suppressed_until: None,
            escalation_level: 0,
            pages: Vec::new(),
            external: None,
            snoozed_until: None,
            timeline: vec![TimelineEntry {
                at,
                actor: actor.to_string(),
                kind: "opened".into(),
                text,
            }],
        }
    }

    fn refuse(&self, action: &'static str) -> TransitionError {
        TransitionError {
            action,
            subject: self.id.clone(),
            state: self.state.as_str().to_string(),
        }
    }

    fn log(&mut self, actor: &str, at: DateTime<Utc>, kind: &str, text: String) {
        self.updated_at = self.updated_at.max(at);
        self.timeline.push(TimelineEntry {
            at,
            actor: actor.to_string(),
            kind: kind.to_string(),
            text,
        });
    }

    fn open_or(&self, action: &'static str) -> Result<(), TransitionError> {
        if self.state == IncidentState::Resolved {
            return Err(self.refuse(action));
        }
        Ok(())
    }

    /// triggered → acknowledged. The acknowledger becomes owner if there is none.
    pub fn acknowledge(&mut self, actor: &str, at: DateTime<Utc>) -> Result<(), TransitionError> {
        if self.state != IncidentState::Triggered {
            return Err(self.refuse("acknowledge"));
        }
        self.state = IncidentState::Acknowledged;
        self.acknowledged_at = Some(at);
        if self.owner.is_none() {
            self.owner = Some(actor.to_string());
        }
        self.log(actor, at, "acknowledged", "acknowledged".to_string());
        Ok(())
    }

    /// Sets the owner of an unresolved incident.
    pub fn assign(
        &mut self,
        actor: &str,
        owner: &str,
        at: DateTime<Utc>,
    ) -> Result<(), TransitionError> {
        self.open_or("assign")?;
        self.owner = Some(owner.to_string());
        self.log(actor, at, "assigned", format!("assigned to {owner}"));
        Ok(())
    }

    /// Raises the severity of an unresolved incident; lowering it, or
    /// "raising" it to the same level, is refused.
    pub fn escalate(
        &mut self,
        actor: &str,
        severity: Severity,
        at: DateTime<Utc>,
    ) -> Result<(), TransitionError> {
        self.open_or("escalate")?;
        if severity >= self.severity {
            return Err(TransitionError {
                action: "escalate",
                subject: self.id.clone(),
                state: format!(
                    "{} already ({} would not raise it)",
                    self.severity.as_str(),
                    severity.as_str()
                ),
            });
        }
        let from = self.severity;
        self.severity = severity;
        self.log(
            actor,
            at,
            "severity",
            format!("escalated {} → {}", from.as_str(), severity.as_str()),
        );
        Ok(())
    }

    /// Snoozes it until `until` (pages nobody meanwhile), or ends the
    /// snooze; only while it is open.
    pub fn snooze(
        &mut self,
        actor: &str,
        until: Option<DateTime<Utc>>,
        reason: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<(), TransitionError> {
        self.open_or("snooze")?;
        self.snoozed_until = until;
        let why = reason.map(|r| format!(": {r}")).unwrap_or_default();
        let text = match until {
            Some(t) => format!("snoozed until {}{why}", t.format("%H:%M UTC")),
            None => format!("snooze ended{why}"),
        };
        self.log(actor, at, "snoozed", text);
        Ok(())
    }

    /// Adds a note; allowed in every state, resolved included (postmortems).
    pub fn note(&mut self, actor: &str, text: &str, at: DateTime<Utc>) {
        self.log(actor, at, "note", text.to_string());
    }

    /// Records a control applied for this incident; triggered or
    /// acknowledged → contained. Further controls on a contained incident
    /// are linked without a state change.
    pub fn contain(
        &mut self,
        actor: &str,
        control_id: &str,
        at: DateTime<Utc>,
    ) -> Result<(), TransitionError> {
        self.open_or("contain")?;
        if self.state != IncidentState::Contained {
            self.state = IncidentState::Contained;
            self.contained_at = Some(at);
            // Containing is acting on it: the same as acknowledging.
            self.acknowledged_at.get_or_insert(at);
            if self.owner.is_none() {
                self.owner = Some(actor.to_string());
            }
        }
        if !self.controls.iter().any(|c| c == control_id) {
            self.controls.push(control_id.to_string());
        }
        self.log(
            actor,
            at,
            "contained",
            format!("control {control_id} applied"),
        );
        Ok(())
    }

    /// Any unresolved state → resolved, with a summary.
    pub fn resolve(
        &mut self,
        actor: &str,
        summary: &str,
        at: DateTime<Utc>,
    ) -> Result<(), TransitionError> {
        self.open_or("resolve")?;
        self.state = IncidentState::Resolved;
        self.resolved_at = Some(at);
        self.summary = Some(summary.to_string());
        self.log(actor, at, "resolved", format!("resolved: {summary}"));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(s: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_800_000_000 + s, 0).unwrap()
    }

    fn incident() -> Incident {
        Incident::open(
            NewIncident {
                id: "INC-1".into(),
                title: "refund-bot completion burning".into(),
                severity: Severity::Sev2,
                category: Category::SloBurn,
                source: IncidentSource::Alert,
                agent: Some("refund-bot".into()),
                slo: Some("completion/refund-bot/refund".into()),
            },
            "hub",
            t(0),
        )
    }

    #[test]
    fn the_happy_path() {
        let mut i = incident();
        assert_eq!(i.runbook.as_deref(), Some("slo_burn"));
        i.acknowledge("dana", t(60)).unwrap();
        assert_eq!(i.owner.as_deref(), Some("dana"));
        i.contain("dana", "CTL-1", t(120)).unwrap();
        i.contain("dana", "CTL-2", t(130)).unwrap();
        assert_eq!(i.state, IncidentState::Contained);
        assert_eq!(i.contained_at, Some(t(120)));
        assert_eq!(i.controls, vec!["CTL-1", "CTL-2"]);
        i.resolve("dana", "tool restored", t(600)).unwrap();
        assert_eq!(i.state, IncidentState::Resolved);
        assert_eq!(i.timeline.len(), 5);
        assert_eq!(i.updated_at, t(600));
    }

    #[test]
    fn illegal_transitions_are_errors_naming_the_state() {
        let mut i = incident();
        i.acknowledge("dana", t(1)).unwrap();
        let e = i.acknowledge("lee", t(2)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "cannot acknowledge INC-1: it is acknowledged"
        );
        i.resolve("dana", "done", t(3)).unwrap();
        for e in [
            i.resolve("dana", "again", t(4)).unwrap_err(),
            i.assign("dana", "lee", t(4)).unwrap_err(),
            i.contain("dana", "CTL-9", t(4)).unwrap_err(),
            i.escalate("dana", Severity::Sev1, t(4)).unwrap_err(),
        ] {
            assert!(e.to_string().ends_with("it is resolved"), "{e}");
        }
        // Notes stay possible for the postmortem.
        i.note("dana", "root cause: expired API key", t(5));
        assert_eq!(i.timeline.last().unwrap().kind, "note");
    }

    #[test]
    fn severity_only_rises() {
        let mut i = incident();
        let e = i.escalate("dana", Severity::Sev3, t(1)).unwrap_err();
        assert!(e.to_string().contains("SEV2 already"), "{e}");
        assert!(i.escalate("dana", Severity::Sev2, t(1)).is_err());
        i.escalate("dana", Severity::Sev1, t(1)).unwrap();
        assert_eq!(i.severity, Severity::Sev1);
    }

    #[test]
    fn containing_a_triggered_incident_counts_as_acknowledged() {
        let mut i = incident();
        i.contain("lee", "CTL-3", t(30)).unwrap();
        assert_eq!(i.acknowledged_at, Some(t(30)));
        assert_eq!(i.owner.as_deref(), Some("lee"));
        assert!(i.acknowledge("lee", t(31)).is_err());
    }
}
