//! The approval state machine: pending → approved / rejected / expired /
//! escalated (and escalated → approved / rejected / expired). Approvals fail
//! closed: one undecided past its deadline expires as rejected.

use chrono::{DateTime, Utc};

use crate::model::approval::{Approval, ApprovalState, Decision, Verdict};
use crate::model::envelope::ApprovalRequest;

use super::TransitionError;

/// Why a decision was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecisionError {
    /// The approval is no longer open; says who decided and when.
    #[error(transparent)]
    Closed(#[from] TransitionError),
    /// A rejection needs a reason.
    #[error("a reason is required to reject {0}")]
    ReasonRequired(String),
    /// Under a two-person rule the same approver cannot approve twice.
    #[error("{by} has already approved {id}; a second, different approver is needed")]
    SameApprover {
        /// The approval.
        id: String,
        /// The approver.
        by: String,
    },
    /// Modified arguments must be a JSON object, like the original ones.
    #[error("modified_args must be a JSON object")]
    ArgsNotObject,
}

impl Approval {
    /// A new pending approval from an agent's request.
    pub fn from_request(
        id: String,
        agent: &str,
        request: &ApprovalRequest,
        requested_at: DateTime<Utc>,
        approvals_required: u8,
    ) -> Self {
        Self {
            id,
            agent: agent.to_string(),
            request_id: request.request_id.clone(),
            run_id: request.run_id.clone(),
            workflow: request.workflow.clone(),
            action: request.action.clone(),
            tool: request.tool.clone(),
            args: request.args.clone(),
            risk: request.risk,
            reason: request.reason.clone(),
            context: request.context.clone(),
            reject_options: request.reject_options.clone(),
            requested_at,
            deadline: request.deadline,
            escalate_at: request.escalate_at,
            state: ApprovalState::Pending,
            approvals_required: approvals_required.max(1),
            decisions: Vec::new(),
            closed_at: None,
        }
    }

    /// Describes a closed approval for a late decider: "approved by dana at …".
    pub fn closed_description(&self) -> String {
        let when = self
            .closed_at
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
            .unwrap_or_default();
        match self.state {
            ApprovalState::Approved | ApprovalState::Rejected => {
                let by = self
                    .decisions
                    .last()
                    .map(|d| d.by.as_str())
                    .unwrap_or("unknown");
                format!("already {} by {by} at {when}", self.state.as_str())
            }
            ApprovalState::Expired => format!("already expired at {when}"),
            ApprovalState::Pending | ApprovalState::Escalated => self.state.as_str().to_string(),
        }
    }

    /// Applies one approver's decision. A rejection closes the approval at
    /// once; approvals close it when `approvals_required` distinct approvers
    /// have approved. Returns the state after the decision.
    pub fn decide(&mut self, decision: Decision) -> Result<ApprovalState, DecisionError> {
        if !self.state.is_open() {
            return Err(TransitionError {
                action: "decide",
                subject: self.id.clone(),
                state: self.closed_description(),
            }
            .into());
        }
        if let Some(args) = &decision.modified_args
            && !args.is_object()
        {
            return Err(DecisionError::ArgsNotObject);
        }
        match decision.verdict {
            Verdict::Reject => {
                if decision
                    .reason
                    .as_deref()
                    .is_none_or(|r| r.trim().is_empty())
                {
                    return Err(DecisionError::ReasonRequired(self.id.clone()));
                }
                self.state = ApprovalState::Rejected;
                self.closed_at = Some(decision.at);
            }
            Verdict::Approve => {
                if self
                    .decisions
                    .iter()
                    .any(|d| d.verdict == Verdict::Approve && d.by == decision.by)
                {
                    return Err(DecisionError::SameApprover {
                        id: self.id.clone(),
                        by: decision.by,
                    });
                }
                let approvals = 1 + self
                    .decisions
                    .iter()
                    .filter(|d| d.verdict == Verdict::Approve)
                    .count();
                if approvals >= usize::from(self.approvals_required) {
                    self.state = ApprovalState::Approved;
                    self.closed_at = Some(decision.at);
                }
            }
        }
        self.decisions.push(decision);
        Ok(self.state)
    }

    /// The arguments the agent should act with: the latest approver's
    /// modification, or its own.
    pub fn effective_args(&self) -> &serde_json::Value {
        self.decisions
            .iter()
            .rev()
            .find_map(|d| d.modified_args.as_ref())
            .unwrap_or(&self.args)
    }

    /// Expires an open approval whose deadline has passed (fail closed).
    /// Returns true when it changed.
    pub fn expire_if_due(&mut self, now: DateTime<Utc>) -> bool {
        if self.state.is_open() && now >= self.deadline {
            self.state = ApprovalState::Expired;
            self.closed_at = Some(self.deadline);
            return true;
        }
        false
    }

    /// Escalates a pending approval whose escalation time has passed.
    /// Returns true when it changed.
    pub fn escalate_if_due(&mut self, now: DateTime<Utc>) -> bool {
        match self.escalate_at {
            Some(at)
                if self.state == ApprovalState::Pending && now >= at && now < self.deadline =>
            {
                self.state = ApprovalState::Escalated;
                true
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::envelope::Risk;
    use crate::model::role::Role;
    use chrono::TimeZone;
    use serde_json::json;

    fn t(s: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_800_000_000 + s, 0).unwrap()
    }

    fn approval(required: u8) -> Approval {
        let request = ApprovalRequest {
            request_id: "req-1".into(),
            run_id: Some("run-9".into()),
            workflow: "refund".into(),
            action: "issue_refund".into(),
            tool: Some("issue_refund".into()),
            args: json!({"order": "A-1", "amount_usd": 420}),
            risk: Risk::High,
            deadline: t(300),
            escalate_at: Some(t(120)),
            reason: Some("customer eligible".into()),
            context: None,
            reject_options: vec![],
        };
        Approval::from_request("APR-1".into(), "refund-bot", &request, t(0), required)
    }

    fn decision(by: &str, verdict: Verdict, reason: Option<&str>, at: i64) -> Decision {
        Decision {
            by: by.into(),
            role: Role::Approver,
            verdict,
            reason: reason.map(str::to_string),
            modified_args: None,
            at: t(at),
        }
    }

    #[test]
    fn first_decision_wins_and_the_late_one_hears_who() {
        let mut a = approval(1);
        assert_eq!(
            a.decide(decision("dana", Verdict::Approve, None, 10))
                .unwrap(),
            ApprovalState::Approved
        );
        let e = a
            .decide(decision("lee", Verdict::Reject, Some("no"), 11))
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "cannot decide APR-1: it is already approved by dana at 2027-01-15T08:00:10Z"
        );
    }

    #[test]
    fn rejecting_needs_a_reason() {
        let mut a = approval(1);
        assert_eq!(
            a.decide(decision("dana", Verdict::Reject, Some("  "), 10)),
            Err(DecisionError::ReasonRequired("APR-1".into()))
        );
        assert_eq!(a.state, ApprovalState::Pending);
        a.decide(decision("dana", Verdict::Reject, Some("over limit"), 10))
            .unwrap();
        assert_eq!(a.state, ApprovalState::Rejected);
    }

    #[test]
    fn two_person_rule_needs_two_different_approvers() {
        let mut a = approval(2);
        assert_eq!(
            a.decide(decision("dana", Verdict::Approve, None, 10))
                .unwrap(),
            ApprovalState::Pending
        );
        assert!(matches!(
            a.decide(decision("dana", Verdict::Approve, None, 11)),
            Err(DecisionError::SameApprover { .. })
        ));
        assert_eq!(
            a.decide(decision("lee", Verdict::Approve, None, 12))
                .unwrap(),
            ApprovalState::Approved
        );
    }

    #[test]
    fn modified_args_replace_the_agents_own() {
        let mut a = approval(1);
        let mut d = decision("dana", Verdict::Approve, None, 10);
        d.modified_args = Some(json!({"order": "A-1", "amount_usd": 200}));
        a.decide(d).unwrap();
        assert_eq!(a.effective_args()["amount_usd"], 200);
        let mut b = approval(1);
        let mut d = decision("dana", Verdict::Approve, None, 10);
        d.modified_args = Some(json!(5));
        assert_eq!(b.decide(d), Err(DecisionError::ArgsNotObject));
    }

    #[test]
    fn escalation_then_expiry_fail_closed() {
        let mut a = approval(1);
        assert!(!a.escalate_if_due(t(119)));
        assert!(a.escalate_if_due(t(120)));
        assert_eq!(a.state, ApprovalState::Escalated);
        assert!(!a.escalate_if_due(t(121)), "only once");
        assert!(!a.expire_if_due(t(299)));
        assert!(a.expire_if_due(t(300)));
        assert_eq!(a.state, ApprovalState::Expired);
        assert_eq!(a.closed_at, Some(t(300)));
        let e = a
            .decide(decision("dana", Verdict::Approve, None, 301))
            .unwrap_err();
        assert!(e.to_string().contains("already expired"), "{e}");
    }

    #[test]
    fn an_escalated_approval_can_still_be_decided() {
        let mut a = approval(1);
        a.escalate_if_due(t(130));
        a.decide(decision("lead-kim", Verdict::Approve, None, 140))
            .unwrap();
        assert_eq!(a.state, ApprovalState::Approved);
    }
}
