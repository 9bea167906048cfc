//! The control state machine: active → lifted / expired.

use chrono::{DateTime, Utc};

use crate::model::control::{Control, ControlState};

use super::TransitionError;

impl Control {
    /// True while the control binds its agent at `now`.
    pub fn in_force(&self, now: DateTime<Utc>) -> bool {
        self.state == ControlState::Active && self.expires_at.is_none_or(|t| now < t)
    }

    /// True when the control binds `agent` (directly or fleet-wide).
    pub fn binds(&self, agent: &str) -> bool {
        self.agent == "*" || self.agent == agent
    }

    /// active → lifted.
    pub fn lift(&mut self, actor: &str, at: DateTime<Utc>) -> Result<(), TransitionError> {
        if self.state != ControlState::Active {
            return Err(TransitionError {
                action: "lift",
                subject: self.id.clone(),
                state: self.state_description(),
            });
        }
        self.state = ControlState::Lifted;
        self.lifted_by = Some(actor.to_string());
        self.ended_at = Some(at);
        Ok(())
    }

    /// active → expired, once its TTL has run out. Returns true when it changed.
    pub fn expire_if_due(&mut self, now: DateTime<Utc>) -> bool {
        match self.expires_at {
            Some(at) if self.state == ControlState::Active && now >= at => {
                self.state = ControlState::Expired;
                self.ended_at = Some(at);
                true
            }
            _ => false,
        }
    }

    fn state_description(&self) -> String {
        let when = self
            .ended_at
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
            .unwrap_or_default();
        match (self.state, &self.lifted_by) {
            (ControlState::Lifted, Some(by)) => format!("already lifted by {by} at {when}"),
            (ControlState::Expired, _) => format!("already expired at {when}"),
            (state, _) => format!("{state:?}").to_lowercase(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::control::ControlKind;
    use chrono::TimeZone;

    fn t(s: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_800_000_000 + s, 0).unwrap()
    }

    fn control(ttl: Option<i64>) -> Control {
        Control {
            id: "CTL-1".into(),
            agent: "refund-bot".into(),
            kind: ControlKind::DisableTool,
            tool: Some("issue_refund".into()),
            version: None,
            reason: "refunds double-posting".into(),
            set_by: "dana".into(),
            set_at: t(0),
            expires_at: ttl.map(t),
            incident: Some("INC-1".into()),
            state: ControlState::Active,
            lifted_by: None,
            ended_at: None,
        }
    }

    #[test]
    fn lift_once() {
        let mut c = control(None);
        assert!(c.in_force(t(10)));
        c.lift("lee", t(20)).unwrap();
        assert!(!c.in_force(t(21)));
        let e = c.lift("kim", t(30)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "cannot lift CTL-1: it is already lifted by lee at 2027-01-15T08:00:20Z"
        );
    }

    #[test]
    fn ttl_expiry() {
        let mut c = control(Some(600));
        assert!(c.in_force(t(599)));
        assert!(!c.in_force(t(600)));
        assert!(!c.expire_if_due(t(599)));
        assert!(c.expire_if_due(t(700)));
        assert_eq!(c.ended_at, Some(t(600)));
        assert!(
            c.lift("lee", t(701))
                .unwrap_err()
                .to_string()
                .contains("expired")
        );
        assert!(!c.expire_if_due(t(800)), "only once");
    }

    #[test]
    fn fleet_wide_binds_everyone() {
        let mut c = control(None);
        assert!(c.binds("refund-bot"));
        assert!(!c.binds("triage-bot"));
        c.agent = "*".into();
        assert!(c.binds("triage-bot"));
    }
}
