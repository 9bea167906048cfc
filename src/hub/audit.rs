//! The audit log's hash chain: how an entry's hash is computed, how a
//! whole log is checked, and the hub's running check of its own log.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::model::audit::{AuditChain, AuditEntry};
use crate::model::role::Role;

use super::store::{Backend, StoreError};

/// `prev_hash` of the first entry.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The fields an entry's hash covers, in a fixed order. Timestamps are
/// written with microseconds and `Z`; `details` keys are sorted (serde_json
/// maps are ordered), so the same entry always serializes the same way.
#[derive(Serialize)]
struct Canonical<'a> {
    seq: u64,
    ts: String,
    actor: &'a str,
    role: Option<Role>,
    action: &'a str,
    subject: &'a str,
    details: &'a serde_json::Value,
}

/// Truncates a time to the microsecond precision the log stores.
pub fn audit_time(t: DateTime<Utc>) -> DateTime<Utc> {
    let micros = t.timestamp_micros();
    DateTime::from_timestamp_micros(micros).unwrap_or(t)
}

/// Hex SHA-256 over `prev_hash`, a newline, and the entry's canonical JSON.
pub fn entry_hash(entry: &AuditEntry, prev_hash: &str) -> String {
    let canonical = Canonical {
        seq: entry.seq,
        ts: entry.ts.to_rfc3339_opts(SecondsFormat::Micros, true),
        actor: &entry.actor,
        role: entry.role,
        action: &entry.action,
        subject: &entry.subject,
        details: &entry.details,
    };
    let json = serde_json::to_string(&canonical).unwrap_or_default();
    let mut h = Sha256::new();
    h.update(prev_hash.as_bytes());
    h.update(b"\n");
    h.update(json.as_bytes());
    hex::encode(h.finalize())
}

/// Builds the next entry of a chain whose head is `(seq, hash)`.
#[allow(clippy::too_many_arguments)]
pub fn next_entry(
    head: &(u64, String),
    ts: DateTime<Utc>,
    actor: &str,
    role: Option<Role>,
    action: &str,
    subject: &str,
    details: serde_json::Value,
) -> AuditEntry {
    let mut entry = AuditEntry {
        seq: head.0 + 1,
        ts: audit_time(ts),
        actor: actor.to_string(),
        role,
        action: action.to_string(),
        subject: subject.to_string(),
        details,
        prev_hash: head.1.clone(),
        hash: String::new(),
    };
    entry.hash = entry_hash(&entry, &head.1);
    entry
}

/// The first problem in a chain, if any.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    /// An entry's sequence number is not the one after its predecessor.
    #[error(
        "audit entry {found} follows entry {previous}: entries in between are missing or reordered"
    )]
    Gap {
        /// The predecessor's seq.
        previous: u64,
        /// The seq found.
        found: u64,
    },
    /// An entry's prev_hash is not its predecessor's hash.
    #[error("audit entry {0} does not link to the entry before it (removed, reordered or edited)")]
    Link(u64),
    /// An entry's hash does not match its content.
    #[error("audit entry {0} was altered: its hash does not match its content")]
    Altered(u64),
}

/// Checks that `entry` correctly follows the chain head `(seq, hash)`.
pub fn verify_chain_from(head: &(u64, String), entry: &AuditEntry) -> Result<(), ChainError> {
    if entry.seq != head.0 + 1 {
        return Err(ChainError::Gap {
            previous: head.0,
            found: entry.seq,
        });
    }
    if entry.prev_hash != head.1 {
        return Err(ChainError::Link(entry.seq));
    }
    if entry_hash(entry, &entry.prev_hash) != entry.hash {
        return Err(ChainError::Altered(entry.seq));
    }
    Ok(())
}

/// Checks a whole log in sequence order, from entry 1. Returns the number of
/// entries checked.
pub fn verify_chain<'a>(
    entries: impl IntoIterator<Item = &'a AuditEntry>,
) -> Result<u64, ChainError> {
    let mut head = (0u64, GENESIS_HASH.to_string());
    for entry in entries {
        verify_chain_from(&head, entry)?;
        head = (entry.seq, entry.hash.clone());
    }
    Ok(head.0)
}

impl ChainError {
    /// The first entry that does not verify: the missing one of a gap.
    pub fn at(&self) -> u64 {
        match self {
            Self::Gap { previous, .. } => previous + 1,
            Self::Link(seq) | Self::Altered(seq) => *seq,
        }
    }
}

/// The hub's check of its own chain (`GET /v1/audit/verify`), on a
/// connection of its own. It keeps the verified prefix (the last entry
/// checked and its hash), so a check reads only the entries written since
/// the one before. The whole log is walked from entry 1 on the first check
/// (the hub starts one as it starts), on demand (`full`), and whenever the
/// stored hash of the last entry checked is no longer the one verified: an
/// edit further back is found by the next whole walk. A break, once found,
/// is the answer until a whole walk finds the chain intact again.
pub struct ChainCheck {
    store: Backend,
    head: (u64, String),
    broken: Option<(u64, String)>,
    full_check_at: Option<DateTime<Utc>>,
}

impl ChainCheck {
    /// A check reading through `store` (the hub's database, opened
    /// read-only); nothing is verified yet.
    pub fn new(store: impl Into<Backend>) -> Self {
        Self {
            store: store.into(),
            head: (0, GENESIS_HASH.to_string()),
            broken: None,
            full_check_at: None,
        }
    }

    /// Verifies what was written since the last check, or the whole log
    /// when `full` (or when it must, see [`ChainCheck`]).
    pub fn check(&mut self, full: bool, now: DateTime<Utc>) -> Result<AuditChain, StoreError> {
        let moved = self.head.0 > 0
            && self.store.audit_hash(self.head.0)?.as_deref() != Some(self.head.1.as_str());
        let whole = full || self.full_check_at.is_none() || (moved && self.broken.is_none());
        if whole {
            self.head = (0, GENESIS_HASH.to_string());
            self.broken = None;
            self.full_check_at = Some(now);
        }
        if self.broken.is_none() {
            self.walk()?;
        }
        let full_check_at = self.full_check_at.unwrap_or(now);
        Ok(match &self.broken {
            None => AuditChain::Intact {
                entries: self.head.0,
                head: self.head.1.clone(),
                full_check_at,
            },
            Some((at, reason)) => AuditChain::Broken {
                at: *at,
                reason: reason.clone(),
                full_check_at,
            },
        })
    }

    /// Extends the verified prefix over the entries after it, up to the
    /// first that does not verify.
    fn walk(&mut self) -> Result<(), StoreError> {
        let (head, broken) = (&mut self.head, &mut self.broken);
        self.store.for_each_audit_after(head.0, |seq, entry| {
            let result = match entry {
                Err(e) => Err((seq, format!("audit entry {seq} cannot be read: {e}"))),
                Ok(entry) => verify_chain_from(head, &entry)
                    .map(|()| entry.hash)
                    .map_err(|e| (e.at(), e.to_string())),
            };
            match result {
                Ok(hash) => {
                    *head = (seq, hash);
                    true
                }
                Err(found) => {
                    *broken = Some(found);
                    false
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;

    fn chain(n: u64) -> Vec<AuditEntry> {
        let mut head = (0, GENESIS_HASH.to_string());
        let mut out = Vec::new();
        for i in 0..n {
            let e = next_entry(
                &head,
                Utc.timestamp_opt(1_800_000_000 + i as i64, 123_456_789)
                    .unwrap(),
                "dana",
                Some(Role::Lead),
                "incident.acknowledged",
                &format!("INC-{i}"),
                json!({"b": 1, "a": [i]}),
            );
            head = (e.seq, e.hash.clone());
            out.push(e);
        }
        out
    }

    #[test]
    fn an_intact_chain_verifies() {
        let c = chain(5);
        assert_eq!(verify_chain(&c), Ok(5));
        assert_eq!(c[0].prev_hash, GENESIS_HASH);
        assert_eq!(c[0].ts.timestamp_subsec_nanos(), 123_456_000);
    }

    #[test]
    fn edits_deletions_and_reorders_are_named() {
        let mut c = chain(5);
        c[2].details = json!({"b": 2});
        assert_eq!(verify_chain(&c), Err(ChainError::Altered(3)));

        let mut c = chain(5);
        c.remove(2);
        assert_eq!(
            verify_chain(&c),
            Err(ChainError::Gap {
                previous: 2,
                found: 4
            })
        );

        let mut c = chain(5);
        c.swap(1, 2);
        assert!(verify_chain(&c).is_err());

        // Renumbering after a deletion still breaks the link.
        let mut c = chain(5);
        c.remove(2);
        for (i, e) in c.iter_mut().enumerate() {
            e.seq = i as u64 + 1;
        }
        assert_eq!(verify_chain(&c), Err(ChainError::Link(3)));

        // Re-hashing an edited entry breaks the next link.
        let mut c = chain(5);
        c[1].actor = "mallory".into();
        c[1].hash = entry_hash(&c[1], &c[1].prev_hash);
        assert_eq!(verify_chain(&c), Err(ChainError::Link(3)));
    }
}
