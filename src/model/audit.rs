//! Audit log entries: an append-only, hash-chained record of every change.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::error::DecodeError;
use super::role::Role;
use super::validate;

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

/// Entries in a page of `GET /v1/audit` when the query gives no `limit`.
pub const DEFAULT_AUDIT_LIMIT: usize = 100;
/// Most entries in one page (a larger `limit` is cut to this).
pub const MAX_AUDIT_LIMIT: usize = 1000;

/// The order of a page of the audit log.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditOrder {
    /// Oldest first, from `after` (the default; what a follower of the log
    /// reads).
    #[default]
    Oldest,
    /// Newest first, down from `before` (what an operator reads).
    Newest,
}

/// What a page of the audit log holds: the query of `GET /v1/audit`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AuditQuery {
    /// Entries with a larger `seq` only.
    pub after: Option<u64>,
    /// Entries with a smaller `seq` only; the page is newest first.
    pub before: Option<u64>,
    /// `newest` for newest first from the head of the log, without
    /// `before`.
    pub order: Option<AuditOrder>,
    /// At most this many (default [`DEFAULT_AUDIT_LIMIT`], at most
    /// [`MAX_AUDIT_LIMIT`]).
    pub limit: Option<usize>,
    /// Only entries by this actor.
    pub actor: Option<String>,
    /// Only entries whose action is this, or starts with it and a dot
    /// (`approval` and `approval.` match `approval.decided`).
    pub kind: Option<String>,
    /// Only entries that concern this agent (see protocol.md §7.6).
    pub agent: Option<String>,
}

impl AuditQuery {
    /// The order the page comes in: newest first with `before` or
    /// `order=newest`.
    pub fn order(&self) -> AuditOrder {
        match (self.order, self.before) {
            (Some(o), _) => o,
            (None, Some(_)) => AuditOrder::Newest,
            (None, None) => AuditOrder::Oldest,
        }
    }

    /// The page size: the default when none is given, cut to the bounds.
    pub fn limit(&self) -> usize {
        self.limit
            .unwrap_or(DEFAULT_AUDIT_LIMIT)
            .clamp(1, MAX_AUDIT_LIMIT)
    }

    /// Checks the filters: the parameter at fault and why. An actor is a
    /// name, a kind an identifier (`approval.decided`, `approval`), an
    /// agent an agent id or `*` (the fleet).
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        let reason = |e: DecodeError| match e {
            DecodeError::Invalid { reason, .. } => reason,
            DecodeError::TooLong { len, limit, .. } => {
                format!("is {len} bytes long (limit {limit})")
            }
            other => other.to_string(),
        };
        if let Some(actor) = &self.actor {
            validate::name("actor", actor).map_err(|e| ("actor", reason(e)))?;
        }
        if let Some(kind) = &self.kind {
            validate::id("kind", kind).map_err(|e| ("kind", reason(e)))?;
        }
        if let Some(agent) = self.agent.as_deref().filter(|a| *a != "*") {
            validate::id("agent", agent).map_err(|e| ("agent", reason(e)))?;
        }
        Ok(())
    }

    /// The query string's pairs, for a client to encode.
    pub fn pairs(&self) -> Vec<(&'static str, String)> {
        let numbers = [
            ("after", self.after),
            ("before", self.before),
            ("limit", self.limit.map(|n| n as u64)),
        ];
        let texts = [
            ("actor", &self.actor),
            ("kind", &self.kind),
            ("agent", &self.agent),
        ];
        let mut out: Vec<(&'static str, String)> = numbers
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k, v.to_string())))
            .collect();
        if self.order == Some(AuditOrder::Newest) {
            out.push(("order", "newest".into()));
        } else if self.order == Some(AuditOrder::Oldest) {
            out.push(("order", "oldest".into()));
        }
        out.extend(
            texts
                .into_iter()
                .filter_map(|(k, v)| v.as_ref().map(|v| (k, v.clone()))),
        );
        out
    }
}

/// Answer of `GET /v1/audit`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditPage {
    /// The entries, in the order asked for.
    pub entries: Vec<AuditEntry>,
    /// The largest `seq` returned (or `after`, 0 by default, when none):
    /// pass it as the next `after` to read on, oldest first.
    pub next_after: u64,
    /// Newest first only: the smallest `seq` returned, to pass as the next
    /// `before`; absent when no older entry matches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_before: Option<u64>,
}

/// Answer of `GET /v1/audit/verify`: the hash chain's state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case", deny_unknown_fields)]
pub enum AuditChain {
    /// Every entry links to the one before it and matches its hash.
    Intact {
        /// Entries verified: the log's length.
        entries: u64,
        /// The last entry's hash (64 zeros for an empty log).
        head: String,
        /// When the whole log was last walked from entry 1 (later entries
        /// are checked as they are asked about).
        full_check_at: DateTime<Utc>,
    },
    /// The chain breaks at entry `at`: entries before it verify.
    Broken {
        /// The first entry that does not verify (or is missing).
        at: u64,
        /// What is wrong with it.
        reason: String,
        /// When the whole log was last walked from entry 1.
        full_check_at: DateTime<Utc>,
    },
}
