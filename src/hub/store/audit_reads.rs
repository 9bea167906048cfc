//! Reads of the audit log: the tail the hub loads, the walks of
//! `audit verify` and of the hub's chain check, notices' lookups, and
//! operators' filtered pages in either order.

use chrono::{DateTime, Utc};
use std::sync::LazyLock;

use rusqlite::types::Value;
use rusqlite::{ToSql, params};

use crate::model::audit::{AuditEntry, AuditOrder, AuditQuery};
use crate::model::role::Role;

use super::{Store, StoreError};

/// The columns of an audit row, as `row_to_raw` reads them.
const COLUMNS: &str = "seq, ts, actor, role, action, subject, details, prev_hash, hash";

/// The agent an entry concerns, as SQL over its `action`, `subject` and
/// `details`: the one its details name as `agent` (controls, callback
/// deliveries, incidents opened by hand), else the agent of the approval,
/// control or incident that is its subject (requests, decisions,
/// acknowledgements, lifts…), else the subject itself for the actions
/// whose subject is an agent. Entries about operators and the hub
/// (`handoff.noted`, `config.*`, `notify.*`) concern none. Worked out once,
/// as the entry is written (its object is written first, in the same
/// transaction), into the `agent` column under the `(agent, seq)` index, so
/// that a filtered page is one range of that index however rare or common
/// the agent is. Objects never change agent, so the answer never goes
/// stale. The column is outside the hash: it serves filters, never the
/// chain.
const AGENT_OF: &str = "COALESCE(
    CASE WHEN json_valid(details) THEN json_extract(details, '$.agent') END,
    (SELECT agent FROM approvals WHERE id = subject),
    (SELECT agent FROM controls WHERE id = subject),
    (SELECT agent FROM incidents WHERE id = subject),
    CASE WHEN action IN ('agent.registered', 'callback.registered', 'drift.started',
                         'drift.cleared', 'version.changed') THEN subject END)";

/// Inserts one entry (parameters 1 to 9 in column order) with the agent
/// it concerns.
pub(super) static INSERT_AUDIT: LazyLock<String> = LazyLock::new(|| {
    format!(
        "INSERT INTO audit (seq, ts, actor, role, action, subject, details, prev_hash, hash, agent)
         SELECT seq, ts, actor, role, action, subject, details, prev_hash, hash, {AGENT_OF}
         FROM (SELECT ?1 AS seq, ?2 AS ts, ?3 AS actor, ?4 AS role, ?5 AS action,
                      ?6 AS subject, ?7 AS details, ?8 AS prev_hash, ?9 AS hash)"
    )
});

/// Fills the `agent` of entries written before the column existed.
pub(super) fn backfill(tx: &rusqlite::Transaction<'_>) -> Result<(), StoreError> {
    tx.execute(&format!("UPDATE audit SET agent = {AGENT_OF}"), [])?;
    Ok(())
}

/// The bounds a `kind` filter matches: the action itself, and the range of
/// actions that start with it and a dot (`approval` and `approval.` both
/// give `approval.` up to, not including, `approval/`).
pub(crate) fn kind_range(kind: &str) -> (String, String) {
    let prefix = if kind.ends_with('.') {
        kind.to_string()
    } else {
        format!("{kind}.")
    };
    // '/' is the character after '.', so the range holds exactly the
    // actions with that prefix.
    let end = format!("{}/", &prefix[..prefix.len() - 1]);
    (prefix, end)
}

/// The statement of a page of the audit log and its named parameters:
/// only the filters asked for, so that SQLite can use their indexes.
fn audit_query(q: &AuditQuery, limit: usize) -> (String, Vec<(&'static str, Value)>) {
    let seq = |n: u64| Value::Integer(n.min(i64::MAX as u64) as i64);
    let mut sql = format!("SELECT {COLUMNS} FROM audit WHERE seq > :after AND seq < :before");
    let mut args = vec![
        (":after", seq(q.after.unwrap_or(0))),
        (":before", seq(q.before.unwrap_or(u64::MAX))),
        (":limit", seq(limit as u64)),
    ];
    if let Some(actor) = &q.actor {
        sql.push_str(" AND actor = :actor");
        args.push((":actor", Value::Text(actor.clone())));
    }
    if let Some(kind) = &q.kind {
        let (from, to) = kind_range(kind);
        sql.push_str(" AND (action = :kind OR (action >= :from AND action < :to))");
        args.extend([
            (":kind", Value::Text(kind.clone())),
            (":from", Value::Text(from)),
            (":to", Value::Text(to)),
        ]);
    }
    if let Some(agent) = &q.agent {
        sql.push_str(" AND agent = :agent");
        args.push((":agent", Value::Text(agent.clone())));
    }
    sql.push_str(match q.order() {
        AuditOrder::Oldest => " ORDER BY seq LIMIT :limit",
        AuditOrder::Newest => " ORDER BY seq DESC LIMIT :limit",
    });
    (sql, args)
}

impl Store {
    /// Up to `limit` audit entries after `seq`, oldest first.
    pub fn audit_after(&self, seq: u64, limit: usize) -> Result<Vec<AuditEntry>, StoreError> {
        let mut st = self.conn.prepare_cached(
            "SELECT seq, ts, actor, role, action, subject, details, prev_hash, hash
             FROM audit WHERE seq > ?1 ORDER BY seq LIMIT ?2",
        )?;
        let rows = st.query_map(params![seq as i64, limit as i64], row_to_raw)?;
        let mut out = Vec::new();
        for row in rows {
            out.push(row?.into_entry()?);
        }
        Ok(out)
    }

    /// Calls `f` with every audit entry in sequence order.
    pub fn for_each_audit(&self, mut f: impl FnMut(AuditEntry) -> bool) -> Result<(), StoreError> {
        let mut st = self.conn.prepare(
            "SELECT seq, ts, actor, role, action, subject, details, prev_hash, hash FROM audit ORDER BY seq",
        )?;
        let rows = st.query_map([], row_to_raw)?;
        for row in rows {
            if !f(row?.into_entry()?) {
                break;
            }
        }
        Ok(())
    }

    /// Calls `f` with every audit entry whose action is one of `actions`
    /// and whose time is at or after `since`, in sequence order.
    pub fn for_each_audit_action(
        &self,
        actions: &[&str],
        since: DateTime<Utc>,
        mut f: impl FnMut(AuditEntry),
    ) -> Result<(), StoreError> {
        let mut st = self.conn.prepare(
            "SELECT seq, ts, actor, role, action, subject, details, prev_hash, hash FROM audit
             WHERE action IN (SELECT value FROM json_each(?1)) ORDER BY seq",
        )?;
        let wanted = serde_json::to_string(actions)?;
        for row in st.query_map([wanted], row_to_raw)? {
            let entry = row?.into_entry()?;
            if entry.ts >= since {
                f(entry);
            }
        }
        Ok(())
    }

    /// Up to `limit` entries of the audit log as `q` asks (filters
    /// already checked): between `after` and `before`, oldest or newest
    /// first.
    pub fn audit_page(&self, q: &AuditQuery, limit: usize) -> Result<Vec<AuditEntry>, StoreError> {
        let (sql, args) = audit_query(q, limit);
        let args: Vec<(&str, &dyn ToSql)> =
            args.iter().map(|(k, v)| (*k, v as &dyn ToSql)).collect();
        let mut st = self.conn.prepare_cached(&sql)?;
        let rows = st.query_map(args.as_slice(), row_to_raw)?;
        let mut out = Vec::new();
        for row in rows {
            out.push(row?.into_entry()?);
        }
        Ok(out)
    }

    /// The stored hash of entry `seq`, if it exists.
    pub fn audit_hash(&self, seq: u64) -> Result<Option<String>, StoreError> {
        use rusqlite::OptionalExtension;
        Ok(self
            .conn
            .prepare_cached("SELECT hash FROM audit WHERE seq = ?1")?
            .query_row([seq as i64], |r| r.get(0))
            .optional()?)
    }

    /// Calls `f` with every entry after `seq`, in sequence order, until it
    /// returns false. An entry that cannot be read is handed over as its
    /// `seq` and the error, so a checker can name it.
    pub fn for_each_audit_after(
        &self,
        seq: u64,
        mut f: impl FnMut(u64, Result<AuditEntry, StoreError>) -> bool,
    ) -> Result<(), StoreError> {
        let mut st = self.conn.prepare(&format!(
            "SELECT {COLUMNS} FROM audit WHERE seq > ?1 ORDER BY seq"
        ))?;
        // The seq first, so that a row whose other columns do not read
        // is still named.
        let rows = st.query_map([seq as i64], |r| Ok((r.get::<_, i64>(0)?, row_to_raw(r))))?;
        for row in rows {
            let (seq, raw) = row?;
            let entry = raw
                .map_err(StoreError::from)
                .and_then(|raw| raw.into_entry());
            if !f(seq as u64, entry) {
                break;
            }
        }
        Ok(())
    }
}

pub(crate) struct RawAudit {
    pub(crate) seq: i64,
    pub(crate) ts: String,
    pub(crate) actor: String,
    pub(crate) role: Option<String>,
    pub(crate) action: String,
    pub(crate) subject: String,
    pub(crate) details: String,
    pub(crate) prev_hash: String,
    pub(crate) hash: String,
}

pub(super) fn row_to_raw(r: &rusqlite::Row<'_>) -> rusqlite::Result<RawAudit> {
    Ok(RawAudit {
        seq: r.get(0)?,
        ts: r.get(1)?,
        actor: r.get(2)?,
        role: r.get(3)?,
        action: r.get(4)?,
        subject: r.get(5)?,
        details: r.get(6)?,
        prev_hash: r.get(7)?,
        hash: r.get(8)?,
    })
}

impl RawAudit {
    pub(crate) fn into_entry(self) -> Result<AuditEntry, StoreError> {
        let ts = DateTime::parse_from_rfc3339(&self.ts)
            .map_err(|e| {
                StoreError(format!(
                    "audit entry {}: bad time {:?}: {e}",
                    self.seq, self.ts
                ))
            })?
            .with_timezone(&Utc);
        let role = match self.role {
            Some(r) => Some(Role::parse(&r).ok_or_else(|| {
                StoreError(format!("audit entry {}: unknown role {r:?}", self.seq))
            })?),
            None => None,
        };
        Ok(AuditEntry {
            seq: self.seq as u64,
            ts,
            actor: self.actor,
            role,
            action: self.action,
            subject: self.subject,
            details: serde_json::from_str(&self.details)?,
            prev_hash: self.prev_hash,
            hash: self.hash,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::{audit_query, kind_range};
    use crate::hub::store::Store;
    use crate::model::audit::{AuditOrder, AuditQuery};
    use rusqlite::ToSql;

    /// How SQLite runs the page `q` asks for.
    fn plan(store: &Store, q: &AuditQuery) -> String {
        let (sql, args) = audit_query(q, 50);
        let args: Vec<(&str, &dyn ToSql)> =
            args.iter().map(|(k, v)| (*k, v as &dyn ToSql)).collect();
        let mut st = store
            .conn
            .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .unwrap();
        let rows = st
            .query_map(args.as_slice(), |r| r.get::<_, String>(3))
            .unwrap();
        rows.collect::<Result<Vec<_>, _>>().unwrap().join("; ")
    }

    #[test]
    fn entries_are_filed_under_the_agent_they_concern() {
        use crate::hub::audit::{GENESIS_HASH, next_entry};
        use crate::hub::store::Batch;
        use crate::model::approval::Approval;
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("a.db")).unwrap();
        let approval: Approval = serde_json::from_value(serde_json::json!({
            "id": "APR-1", "agent": "refund-bot", "request_id": "rq-1", "workflow": "refund",
            "action": "issue_refund", "args": {}, "risk": "high",
            "requested_at": "2026-11-21T03:00:00Z", "deadline": "2026-11-21T03:30:00Z",
            "state": "pending", "approvals_required": 1
        }))
        .unwrap();
        let mut head = (0, GENESIS_HASH.to_string());
        let mut batch = Batch {
            approvals: vec![approval],
            ..Batch::default()
        };
        for (action, subject, details) in [
            ("approval.requested", "APR-1", serde_json::json!({})),
            (
                "control.applied",
                "CTL-1",
                serde_json::json!({"agent": "refund-bot"}),
            ),
            ("drift.started", "refund-bot", serde_json::json!({})),
            ("handoff.noted", "refund-bot", serde_json::json!({})),
            (
                "control.applied",
                "CTL-2",
                serde_json::json!({"agent": "triage-bot"}),
            ),
            ("approval.decided", "APR-9", serde_json::json!({})),
        ] {
            let e = next_entry(
                &head,
                chrono::Utc::now(),
                "dana",
                None,
                action,
                subject,
                details,
            );
            head = (e.seq, e.hash.clone());
            batch.audit.push(e);
        }
        store.write(&batch).unwrap();
        let q = AuditQuery {
            agent: Some("refund-bot".into()),
            order: Some(AuditOrder::Newest),
            ..AuditQuery::default()
        };
        let seqs: Vec<u64> = store
            .audit_page(&q, 10)
            .unwrap()
            .iter()
            .map(|e| e.seq)
            .collect();
        assert_eq!(seqs, [3, 2, 1]);
    }

    #[test]
    fn filters_read_their_indexes_newest_first() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("a.db")).unwrap();
        let newest = AuditQuery {
            order: Some(AuditOrder::Newest),
            ..AuditQuery::default()
        };
        let actor = AuditQuery {
            actor: Some("dana".into()),
            ..newest.clone()
        };
        let p = plan(&store, &actor);
        assert!(
            p.contains("USING INDEX audit_actor") && !p.contains("TEMP B-TREE"),
            "{p}"
        );
        let p = plan(&store, &newest);
        assert!(
            p.contains("USING INTEGER PRIMARY KEY") && !p.contains("TEMP B-TREE"),
            "{p}"
        );
        let agent = AuditQuery {
            agent: Some("refund-bot".into()),
            ..newest.clone()
        };
        let p = plan(&store, &agent);
        assert!(
            p.contains("USING INDEX audit_agent") && !p.contains("TEMP B-TREE"),
            "{p}"
        );
    }

    #[test]
    fn a_kind_covers_its_dotted_family_only() {
        let (from, to) = kind_range("approval");
        assert_eq!((from.as_str(), to.as_str()), ("approval.", "approval/"));
        assert_eq!(kind_range("approval."), (from.clone(), to.clone()));
        for inside in ["approval.decided", "approval.requested", "approval.x.y"] {
            assert!(inside >= from.as_str() && inside < to.as_str(), "{inside}");
        }
        for outside in ["approvals.x", "approval", "approval-x", "incident.opened"] {
            assert!(
                !(outside >= from.as_str() && outside < to.as_str()),
                "{outside}"
            );
        }
    }
}
