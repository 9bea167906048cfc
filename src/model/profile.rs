//! Agent registration: who owns an agent, how critical it is, how much it
//! may do on its own and what its tools can touch (`PUT /v1/agents/{agent}`).
//!
//! A registration is what an on-call engineer needs in the first minute of
//! a page: whom to call and what the agent could have damaged. Agents the
//! hub only knows through their events have none, which is itself a
//! [`Finding`].

use serde::{Deserialize, Serialize};

use super::error::DecodeError;
use super::validate;

/// A person or team and how to reach them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Contact {
    /// Name of the person or team.
    pub name: String,
    /// How to reach them: a pager handle, a channel, an address.
    #[serde(default)]
    pub contact: Option<String>,
}

/// How much harm the agent can do when it misbehaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Criticality {
    /// Internal convenience.
    Low,
    /// Degrades a service when down.
    Medium,
    /// Customer-facing or money-moving.
    High,
    /// A failure is a company-level incident.
    Critical,
}

impl Criticality {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
            Self::Critical => "critical",
        }
    }
}

/// How far the agent may act without a human.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Autonomy {
    /// Only summarizes; takes no action.
    SummarizeOnly,
    /// Recommends actions a human takes.
    Recommend,
    /// Acts after a human approves.
    ActWithApproval,
    /// Acts on its own.
    ActAutonomously,
}

impl Autonomy {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SummarizeOnly => "summarize_only",
            Self::Recommend => "recommend",
            Self::ActWithApproval => "act_with_approval",
            Self::ActAutonomously => "act_autonomously",
        }
    }
}

/// What a tool can touch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Access {
    /// Reads data.
    Read,
    /// Writes data.
    Write,
    /// Moves money.
    Money,
    /// Reads or writes customer data.
    CustomerData,
    /// Changes production systems.
    Production,
}

impl Access {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Write => "write",
            Self::Money => "money",
            Self::CustomerData => "customer_data",
            Self::Production => "production",
        }
    }
}

/// How sensitive the data the agent handles is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sensitivity {
    /// Public data.
    Public,
    /// Internal data.
    Internal,
    /// Confidential business data.
    Confidential,
    /// Personal or regulated data (PII, PCI, PHI).
    Restricted,
}

/// One tool and what it can touch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolAccess {
    /// The tool's name, as in `tool_calls`.
    pub name: String,
    /// What it can touch.
    pub access: Vec<Access>,
}

/// An agent's registration, as sent to `PUT /v1/agents/{agent}` and kept
/// by the hub. Every field is optional so that a partial registration is
/// still recorded; what is missing shows up as findings.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentProfile {
    /// Who answers for what the agent does to the business.
    #[serde(default)]
    pub business_owner: Option<Contact>,
    /// Who maintains it.
    #[serde(default)]
    pub technical_owner: Option<Contact>,
    /// Who is paged when it misbehaves.
    #[serde(default)]
    pub incident_owner: Option<Contact>,
    /// How much harm it can do.
    #[serde(default)]
    pub criticality: Option<Criticality>,
    /// How far it may act on its own.
    #[serde(default)]
    pub autonomy: Option<Autonomy>,
    /// `production`, `staging`, …
    #[serde(default)]
    pub environment: Option<String>,
    /// The agent framework, e.g. `langgraph`.
    #[serde(default)]
    pub framework: Option<String>,
    /// Its tools and what each can touch.
    #[serde(default)]
    pub tools: Vec<ToolAccess>,
    /// How sensitive the data it handles is.
    #[serde(default)]
    pub data_sensitivity: Option<Sensitivity>,
    /// Where the hub sends signed callbacks. The signing secret comes from
    /// `PUT /v1/agents/{agent}/callback`, which also sets this URL.
    #[serde(default)]
    pub callback_url: Option<String>,
}

/// Most tools one registration may list.
pub const MAX_PROFILE_TOOLS: usize = 64;

impl AgentProfile {
    /// Checks every field, naming the first bad one.
    pub fn validate(&self) -> Result<(), DecodeError> {
        for (field, c) in [
            ("business_owner", &self.business_owner),
            ("technical_owner", &self.technical_owner),
            ("incident_owner", &self.incident_owner),
        ] {
            if let Some(c) = c {
                validate::name(&format!("{field}.name"), &c.name)?;
                if let Some(how) = &c.contact {
                    validate::name(&format!("{field}.contact"), how)?;
                }
            }
        }
        if let Some(env) = &self.environment {
            validate::name("environment", env)?;
        }
        if let Some(fw) = &self.framework {
            validate::name("framework", fw)?;
        }
        if self.tools.len() > MAX_PROFILE_TOOLS {
            return Err(DecodeError::invalid(
                "tools",
                format!(
                    "{} tools, at most {MAX_PROFILE_TOOLS} allowed",
                    self.tools.len()
                ),
            ));
        }
        for (i, t) in self.tools.iter().enumerate() {
            validate::name(&format!("tools[{i}].name"), &t.name)?;
            let mut access = t.access.clone();
            access.sort();
            access.dedup();
            if access.len() != t.access.len() {
                return Err(DecodeError::invalid(
                    format!("tools[{i}].access"),
                    "lists an access more than once",
                ));
            }
        }
        if let Some(url) = &self.callback_url {
            validate::bounded("callback_url", url, 2048)?;
            let parsed = url::Url::parse(url)
                .map_err(|e| DecodeError::invalid("callback_url", e.to_string()))?;
            if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
                return Err(DecodeError::invalid(
                    "callback_url",
                    "must be an http or https URL with a host",
                ));
            }
        }
        Ok(())
    }

    /// True when at least one owner is named.
    pub fn has_owner(&self) -> bool {
        self.business_owner.is_some()
            || self.technical_owner.is_some()
            || self.incident_owner.is_some()
    }

    /// True when the agent acts on its own and a tool can move money.
    pub fn autonomous_on_money(&self) -> bool {
        self.autonomy == Some(Autonomy::ActAutonomously)
            && self.tools.iter().any(|t| t.access.contains(&Access::Money))
    }
}

/// Something about an agent's registration an on-call engineer should
/// know before it pages them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Finding {
    /// Seen through events, never registered: no owners, no tool list.
    Unregistered,
    /// Registered without any owner.
    NoOwner,
    /// Acts autonomously with a tool that moves money.
    AutonomousOnMoney,
    /// Registered without a criticality.
    NoCriticality,
    /// Uses tools its registration does not list.
    UnlistedTools,
    /// Registered, but no event has ever arrived from it.
    NeverSeen,
}

impl Finding {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unregistered => "unregistered",
            Self::NoOwner => "no_owner",
            Self::AutonomousOnMoney => "autonomous_on_money",
            Self::NoCriticality => "no_criticality",
            Self::UnlistedTools => "unlisted_tools",
            Self::NeverSeen => "never_seen",
        }
    }
}

/// The findings for an agent with registration `profile` (none when
/// unregistered), the tools seen in its events, and whether any event was
/// seen at all.
pub fn findings(profile: Option<&AgentProfile>, tools_seen: &[String], seen: bool) -> Vec<Finding> {
    let Some(p) = profile else {
        return vec![Finding::Unregistered, Finding::NoOwner];
    };
    let mut out = Vec::new();
    if !p.has_owner() {
        out.push(Finding::NoOwner);
    }
    if p.autonomous_on_money() {
        out.push(Finding::AutonomousOnMoney);
    }
    if p.criticality.is_none() {
        out.push(Finding::NoCriticality);
    }
    if tools_seen
        .iter()
        .any(|t| !p.tools.iter().any(|listed| &listed.name == t))
    {
        out.push(Finding::UnlistedTools);
    }
    if !seen {
        out.push(Finding::NeverSeen);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn money_bot() -> AgentProfile {
        AgentProfile {
            business_owner: Some(Contact {
                name: "Payments".into(),
                contact: Some("#payments".into()),
            }),
            criticality: Some(Criticality::High),
            autonomy: Some(Autonomy::ActAutonomously),
            tools: vec![ToolAccess {
                name: "issue_refund".into(),
                access: vec![Access::Money, Access::CustomerData],
            }],
            ..AgentProfile::default()
        }
    }

    #[test]
    fn findings_name_what_is_missing_or_dangerous() {
        assert_eq!(
            findings(None, &[], true),
            vec![Finding::Unregistered, Finding::NoOwner]
        );
        let p = money_bot();
        assert_eq!(
            findings(Some(&p), &["issue_refund".into()], true),
            vec![Finding::AutonomousOnMoney]
        );
        assert_eq!(
            findings(Some(&p), &["lookup_order".into()], false),
            vec![
                Finding::AutonomousOnMoney,
                Finding::UnlistedTools,
                Finding::NeverSeen
            ]
        );
        let bare = AgentProfile::default();
        assert_eq!(
            findings(Some(&bare), &[], true),
            vec![Finding::NoOwner, Finding::NoCriticality]
        );
    }

    #[test]
    fn validation_names_the_field() {
        let mut p = money_bot();
        p.callback_url = Some("ftp://x".into());
        let e = p.validate().unwrap_err().to_string();
        assert!(e.contains("callback_url"), "{e}");
        let mut p = money_bot();
        p.technical_owner = Some(Contact {
            name: "bad\u{1b}[2J".into(),
            contact: None,
        });
        let e = p.validate().unwrap_err().to_string();
        assert!(e.contains("technical_owner.name"), "{e}");
        assert!(money_bot().validate().is_ok());
    }
}
