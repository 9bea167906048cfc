//! Audit log entries: an append-only, hash-chained record of every change.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::role::Role;

/// One entry of the audit log. `hash` is the SHA-256 (hex) of the previous
/// entry's hash and this entry's canonical content, so an edited, removed or
/// reordered entry breaks the chain from that point on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditEntry {
    /// Position in the log, from 1, without gaps.
    pub seq: u64,
    /// When it was recorded.
    pub ts: DateTime<Utc>,
    /// Who acted: an operator, an agent, or `hub`.
    pub actor: String,
    /// The actor's role, when a token acted.
    #[serde(default)]
    pub role: Option<Role>,
    /// What was done, e.g. `approval.decided`.
    pub action: String,
    /// What it was done to, e.g. `APR-7`.
    pub subject: String,
    /// Details of the change.
    pub details: serde_json::Value,
    /// Hash of the previous entry (64 zeros for the first).
    pub prev_hash: String,
    /// Hash of this entry.
    pub hash: String,
}
