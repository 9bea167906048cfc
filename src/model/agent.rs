//! Agents as the hub knows them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::envelope::{HealthStatus, Versions};

/// An agent seen through its events (and, later, registered with owners).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Agent {
    /// The agent's id.
    pub id: String,
    /// False for agents only seen through events.
    pub registered: bool,
    /// First event.
    pub first_seen: DateTime<Utc>,
    /// Latest event.
    pub last_seen: DateTime<Utc>,
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
}
