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

    /// Seen for the first time less than a minute before `now`: its
    /// `runs_last_minute` does not cover a whole minute yet.
    pub fn warming_up(&self, now: DateTime<Utc>) -> bool {
        self.first_seen
            .is_some_and(|t| now - t < chrono::Duration::minutes(1))
    }

    /// `runs_last_minute` as shown: `warming up` while it covers less
    /// than a minute, so a new agent does not read as idle.
    pub fn runs_per_minute(&self, now: DateTime<Utc>) -> String {
        if self.warming_up(now) {
            "warming up".to_string()
        } else {
            format!("{} runs/min", self.runs_last_minute)
        }
    }

    /// Attaches a registration (or none) and recomputes the findings.
    pub fn set_profile(&mut self, profile: Option<AgentProfile>) {
        self.registered = profile.is_some();
        self.findings =
            super::profile::findings(profile.as_ref(), &self.tools, self.last_seen.is_some());
        self.profile = profile;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_agent_is_warming_up_for_its_first_minute() {
        let seen: DateTime<Utc> = "2026-12-04T03:12:00Z".parse().unwrap();
        let mut a: Agent = serde_json::from_value(serde_json::json!({
            "id": "refund-bot", "registered": false, "first_seen": seen, "last_seen": seen,
            "last_heartbeat": null, "health": null, "versions": {}, "workflows": [], "tools": [],
            "runs_last_minute": 0, "profile": null, "findings": [], "unpriced": null
        }))
        .unwrap();
        let at = |s: i64| seen + chrono::Duration::seconds(s);
        assert_eq!(a.runs_per_minute(at(59)), "warming up");
        a.runs_last_minute = 0;
        assert_eq!(a.runs_per_minute(at(60)), "0 runs/min");
        a.first_seen = None;
        assert_eq!(a.runs_per_minute(at(0)), "0 runs/min");
    }
}
