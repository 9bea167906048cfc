//! Agents as the hub knows them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::envelope::{HealthStatus, Versions};
use super::profile::{AgentProfile, Finding};

/// An agent: seen through its events, registered with owners, or both.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Agent {
    /// The agent's id.
    pub id: String,
    /// False for agents only seen through events.
    pub registered: bool,
    /// First event; none for a registered agent never heard from.
    #[serde(default)]
    pub first_seen: Option<DateTime<Utc>>,
    /// Latest event; none for a registered agent never heard from.
    #[serde(default)]
    pub last_seen: Option<DateTime<Utc>>,
    /// Latest heartbeat.
    #[serde(default)]
    pub last_heartbeat: Option<DateTime<Utc>>,
    /// Self-reported health from the latest heartbeat.
    #[serde(default)]
    pub health: Option<HealthStatus>,
    /// Versions of the latest run or change.
    #[serde(default)]
    pub versions: Versions,
    /// Workflows seen.
    #[serde(default)]
    pub workflows: Vec<String>,
    /// Tools seen.
    #[serde(default)]
    pub tools: Vec<String>,
    /// Runs finished in the last minute.
    #[serde(default)]
    pub runs_last_minute: u64,
    /// The registration, when there is one.
    #[serde(default)]
    pub profile: Option<AgentProfile>,
    /// What an on-call engineer should know about the registration.
    #[serde(default)]
    pub findings: Vec<Finding>,
    /// Runs whose cost leaves out a model the hub has no price for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unpriced: Option<Unpriced>,
}

/// Runs whose cost is not known in full: a model they called has no price
/// (`serve --prices` adds it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Unpriced {
    /// The last model seen without a price.
    pub model: String,
    /// Runs with a model without a price, since the journal's horizon.
    pub runs: u64,
}

impl Agent {
    /// An agent known only from its registration.
    pub fn registered_only(id: &str, profile: AgentProfile) -> Self {
        let mut agent = Self {
            id: id.to_string(),
            registered: true,
            first_seen: None,
            last_seen: None,
            last_heartbeat: None,
            health: None,
            versions: Versions::default(),
            workflows: Vec::new(),
            tools: Vec::new(),
            runs_last_minute: 0,
            profile: None,
            findings: Vec::new(),
            unpriced: None,
        };
        agent.set_profile(Some(profile));
        agent
    }

    /// Attaches a registration (or none) and recomputes the findings.
    pub fn set_profile(&mut self, profile: Option<AgentProfile>) {
        self.registered = profile.is_some();
        self.findings =
            super::profile::findings(profile.as_ref(), &self.tools, self.last_seen.is_some());
        self.profile = profile;
    }
}
