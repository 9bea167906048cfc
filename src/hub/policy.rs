//! Approval policy: two-person rules and who may approve which agent.

use std::path::Path;

use serde::Deserialize;

use crate::model::envelope::Risk;
use crate::model::role::Role;

/// Who may approve one agent's actions.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApproverRule {
    /// The agent (or `*`).
    pub agent: String,
    /// Roles that may approve it (empty: any role that can approve).
    #[serde(default)]
    pub roles: Vec<Role>,
    /// Operator names that may approve it (empty: anyone with a role above).
    #[serde(default)]
    pub names: Vec<String>,
}

/// The approval policy.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Risk levels that need two different approvers.
    #[serde(default)]
    pub two_person_risk: Vec<Risk>,
    /// Restrictions on who may approve an agent's actions; the first rule
    /// whose agent matches applies.
    #[serde(default)]
    pub approvers: Vec<ApproverRule>,
}

impl Policy {
    /// Parses a policy file; `file` names it in errors.
    pub fn parse(file: &str, text: &str) -> Result<Self, String> {
        toml::from_str(text).map_err(|e| format!("{file}: {e}"))
    }

    /// Reads and parses a policy file.
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read policy file {}: {e}", path.display()))?;
        Self::parse(&path.display().to_string(), &text)
    }

    /// Approvals an action of this risk needs.
    pub fn approvals_required(&self, risk: Risk) -> u8 {
        if self.two_person_risk.contains(&risk) {
            2
        } else {
            1
        }
    }

    /// Whether `name` with `role` may decide `agent`'s approvals; the reason
    /// when not.
    pub fn may_decide(&self, agent: &str, name: &str, role: Role) -> Result<(), String> {
        let Some(rule) = self
            .approvers
            .iter()
            .find(|r| r.agent == "*" || r.agent == agent)
        else {
            return Ok(());
        };
        if !rule.roles.is_empty() && !rule.roles.contains(&role) {
            let roles: Vec<&str> = rule.roles.iter().map(|r| r.as_str()).collect();
            return Err(format!(
                "policy: {agent}'s approvals need the role {}",
                roles.join(" or ")
            ));
        }
        if !rule.names.is_empty() && !rule.names.iter().any(|n| n == name) {
            return Err(format!(
                "policy: {name} is not among the approvers of {agent} ({})",
                rule.names.join(", ")
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_person_and_restrictions() {
        let p = Policy::parse(
            "policy.toml",
            r#"
two_person_risk = ["high", "critical"]
[[approvers]]
agent = "refund-bot"
roles = ["lead"]
[[approvers]]
agent = "*"
names = ["dana", "kim"]
"#,
        )
        .unwrap();
        assert_eq!(p.approvals_required(Risk::High), 2);
        assert_eq!(p.approvals_required(Risk::Low), 1);
        assert!(p.may_decide("refund-bot", "dana", Role::Approver).is_err());
        assert!(p.may_decide("refund-bot", "lee", Role::Lead).is_ok());
        assert!(p.may_decide("triage-bot", "lee", Role::Approver).is_err());
        assert!(p.may_decide("triage-bot", "kim", Role::Approver).is_ok());
        assert!(
            Policy::parse("p", "twoperson = 1")
                .unwrap_err()
                .contains("twoperson")
        );
    }
}
