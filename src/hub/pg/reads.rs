//! Reads of what is stored rather than held, on PostgreSQL: history pages,
//! the audit log, decided approvals the hub no longer holds. Each has the
//! meaning of its SQLite twin in `hub::store` (`history`, `audit_reads`,
//! `decided`); only the SQL differs.

use chrono::{DateTime, Utc};
use futures_util::{TryStreamExt, pin_mut};
use serde::de::DeserializeOwned;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use crate::hub::store::shared::{RawAudit, kind_range, rfc3339};
use crate::hub::store::{CallbackTally, StoreError};
use crate::model::approval::Approval;
use crate::model::audit::{AuditEntry, AuditOrder, AuditQuery};
use crate::model::history::{
    ApprovalRecord, ControlRecord, Cursor, HistoryKind, HistoryPage, IncidentRecord,
};

use super::store::PgStore;

/// The columns of an audit row, as [`raw`] reads them.
const COLUMNS: &str = "seq, ts, actor, role, action, subject, details, prev_hash, hash";

fn raw(r: &Row) -> RawAudit {
    RawAudit {
        seq: r.get(0),
        ts: r.get(1),
        actor: r.get(2),
        role: r.get(3),
        action: r.get(4),
        subject: r.get(5),
        details: r.get(6),
        prev_hash: r.get(7),
        hash: r.get(8),
    }
}

fn seq(n: u64) -> i64 {
    n.min(i64::MAX as u64) as i64
}

impl PgStore {
    /// A page of decided approvals, newest first.
    pub fn approval_history(
        &self,
        before: Option<&Cursor>,
        q: Option<&str>,
        limit: usize,
    ) -> Result<HistoryPage<ApprovalRecord>, StoreError> {
        self.history_page(HistoryKind::Approvals, before, q, limit, ApprovalRecord::of)
    }

    /// A page of resolved incidents, newest first.
    pub fn incident_history(
        &self,
        before: Option<&Cursor>,
        q: Option<&str>,
        limit: usize,
    ) -> Result<HistoryPage<IncidentRecord>, StoreError> {
        self.history_page(HistoryKind::Incidents, before, q, limit, IncidentRecord::of)
    }

    /// A page of lifted and expired controls, newest first.
    pub fn control_history(
        &self,
        before: Option<&Cursor>,
        q: Option<&str>,
        limit: usize,
    ) -> Result<HistoryPage<ControlRecord>, StoreError> {
        self.history_page(HistoryKind::Controls, before, q, limit, ControlRecord::of)
    }

    /// One page down the `(closed_us, id)` index, one row more than asked
    /// telling whether an older page exists. Ids compare byte-wise
    /// (`COLLATE "C"`), as SQLite compares them, so a cursor means the
    /// same on both backends whatever the database's collation.
    fn history_page<O: DeserializeOwned, T>(
        &self,
        kind: HistoryKind,
        before: Option<&Cursor>,
        q: Option<&str>,
        limit: usize,
        record: impl Fn(&O) -> Option<T>,
    ) -> Result<HistoryPage<T>, StoreError> {
        // The table is one of three fixed names, never caller text.
        let sql = format!(
            r#"SELECT closed_us, id, body FROM {} WHERE closed_us IS NOT NULL
             AND (closed_us, id COLLATE "C") < ($1, $2::text COLLATE "C")
             AND ($3::text IS NULL OR strpos(search, $3::text) > 0)
             ORDER BY closed_us DESC, id COLLATE "C" DESC LIMIT $4"#,
            kind.as_str()
        );
        let (closed_us, id) = before.map_or((i64::MAX, ""), |c| (c.closed_us, c.id.as_str()));
        let rows = self.run(async |c| {
            Ok(c.query(&sql, &[&closed_us, &id, &q, &(limit as i64 + 1)])
                .await?)
        })?;
        let more = rows.len() > limit;
        let mut items = Vec::with_capacity(limit.min(rows.len()));
        let mut last = None;
        for row in rows.iter().take(limit) {
            let object: O = serde_json::from_str(row.get(2))?;
            items.extend(record(&object));
            last = Some(Cursor {
                kind,
                closed_us: row.get(0),
                id: row.get(1),
            });
        }
        let next = last.filter(|_| more).map(|c| c.encode());
        Ok(HistoryPage { items, next })
    }

    /// Up to `limit` audit entries after `seq`, oldest first.
    pub fn audit_after(&self, after: u64, limit: usize) -> Result<Vec<AuditEntry>, StoreError> {
        let rows = self.run(async |c| {
            Ok(c.query(
                &format!("SELECT {COLUMNS} FROM audit WHERE seq > $1 ORDER BY seq LIMIT $2"),
                &[&seq(after), &(limit as i64)],
            )
            .await?)
        })?;
        rows.iter().map(|r| raw(r).into_entry()).collect()
    }

    /// Up to `limit` entries of the audit log as `q` asks (filters already
    /// checked): between `after` and `before`, oldest or newest first.
    pub fn audit_page(&self, q: &AuditQuery, limit: usize) -> Result<Vec<AuditEntry>, StoreError> {
        let mut sql = format!("SELECT {COLUMNS} FROM audit WHERE seq > $1 AND seq < $2");
        let mut args: Vec<Box<dyn ToSql + Sync + Send>> = vec![
            Box::new(seq(q.after.unwrap_or(0))),
            Box::new(seq(q.before.unwrap_or(u64::MAX))),
        ];
        let mut arg = |sql: &mut String, text: &str, value: String| {
            args.push(Box::new(value));
            sql.push_str(&text.replace('?', &format!("${}", args.len())));
        };
        if let Some(actor) = &q.actor {
            arg(&mut sql, " AND actor = ?", actor.clone());
        }
        if let Some(kind) = &q.kind {
            let (from, to) = kind_range(kind);
            arg(&mut sql, " AND (action = ?", kind.clone());
            arg(&mut sql, " OR (action >= ? COLLATE \"C\"", from);
            arg(&mut sql, " AND action < ? COLLATE \"C\"))", to);
        }
        if let Some(agent) = &q.agent {
            arg(&mut sql, " AND agent = ?", agent.clone());
        }
        args.push(Box::new(limit as i64));
        sql.push_str(&match q.order() {
            AuditOrder::Oldest => format!(" ORDER BY seq LIMIT ${}", args.len()),
            AuditOrder::Newest => format!(" ORDER BY seq DESC LIMIT ${}", args.len()),
        });
        let params: Vec<&(dyn ToSql + Sync)> = args
            .iter()
            .map(|a| a.as_ref() as &(dyn ToSql + Sync))
            .collect();
        let rows = self.run(async |c| Ok(c.query(&sql, &params).await?))?;
        rows.iter().map(|r| raw(r).into_entry()).collect()
    }

    /// The stored hash of entry `seq`, if it exists.
    pub fn audit_hash(&self, at: u64) -> Result<Option<String>, StoreError> {
        self.run(async |c| {
            Ok(
                c.query_opt("SELECT hash FROM audit WHERE seq = $1", &[&seq(at)])
                    .await?
                    .map(|r| r.get(0)),
            )
        })
    }

    /// Calls `f` with every entry after `seq`, in sequence order, until it
    /// returns false; an entry that cannot be read comes as its `seq` and
    /// the error, so a checker can name it.
    pub fn for_each_audit_after(
        &self,
        after: u64,
        mut f: impl FnMut(u64, Result<AuditEntry, StoreError>) -> bool,
    ) -> Result<(), StoreError> {
        self.run_unbounded(async |c| {
            let rows = c
                .query_raw(
                    &format!("SELECT {COLUMNS} FROM audit WHERE seq > $1 ORDER BY seq"),
                    [&seq(after)],
                )
                .await?;
            pin_mut!(rows);
            while let Some(row) = rows.try_next().await? {
                let raw = raw(&row);
                let at = raw.seq as u64;
                if !f(at, raw.into_entry()) {
                    break;
                }
            }
            Ok(())
        })
    }

    /// Calls `f` with every audit entry in sequence order, until it
    /// returns false.
    pub fn for_each_audit(&self, mut f: impl FnMut(AuditEntry) -> bool) -> Result<(), StoreError> {
        let mut failed = None;
        self.for_each_audit_after(0, |_, entry| match entry {
            Ok(e) => f(e),
            Err(e) => {
                failed = Some(e);
                false
            }
        })?;
        failed.map_or(Ok(()), Err)
    }

    /// The approval with this id.
    pub fn approval(&self, id: &str) -> Result<Option<Approval>, StoreError> {
        let body: Option<String> = self.run(async |c| {
            Ok(
                c.query_opt("SELECT body FROM approvals WHERE id = $1", &[&id])
                    .await?
                    .map(|r| r.get(0)),
            )
        })?;
        Ok(body.map(|b| serde_json::from_str(&b)).transpose()?)
    }

    /// The approval `agent` asked for as `request_id`.
    pub fn approval_by_request(
        &self,
        agent: &str,
        request_id: &str,
    ) -> Result<Option<Approval>, StoreError> {
        let body: Option<String> = self.run(async |c| {
            Ok(c.query_opt(
                "SELECT body FROM approvals WHERE agent = $1 AND request_id = $2",
                &[&agent, &request_id],
            )
            .await?
            .map(|r| r.get(0)))
        })?;
        Ok(body.map(|b| serde_json::from_str(&b)).transpose()?)
    }

    /// Approvals decided (or expired) at or after `since`, newest first,
    /// at most `limit`.
    pub fn approvals_closed_since(
        &self,
        since: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Approval>, StoreError> {
        let rows = self.run(async |c| {
            Ok(c.query(
                r#"SELECT body FROM approvals WHERE closed_us >= $1
                   ORDER BY closed_us DESC, id COLLATE "C" DESC LIMIT $2"#,
                &[&since.timestamp_micros(), &(limit as i64)],
            )
            .await?)
        })?;
        rows.iter()
            .map(|r| Ok(serde_json::from_str(r.get(0))?))
            .collect()
    }

    /// Decision callbacks delivered and failed since `since`, by the
    /// approval's agent and action, in one pass of the audit log.
    pub fn callback_tally_since(&self, since: DateTime<Utc>) -> Result<CallbackTally, StoreError> {
        let since = rfc3339(since);
        let rows = self.run(async |c| {
            Ok(c.query(
                r#"SELECT a.agent, CAST(a.body AS jsonb) ->> 'action',
                        count(*) FILTER (WHERE audit.action = 'callback.delivered'),
                        count(*) FILTER (WHERE audit.action = 'callback.failed')
                 FROM audit JOIN approvals a ON a.id = audit.subject
                 WHERE audit.action IN ('callback.delivered', 'callback.failed') AND audit.ts COLLATE "C" >= $1
                 GROUP BY 1, 2"#,
                &[&since],
            )
            .await?)
        })?;
        Ok(rows
            .iter()
            .map(|r| {
                let action: Option<String> = r.get(1);
                (
                    (r.get(0), action.unwrap_or_default()),
                    (r.get::<_, i64>(2) as u64, r.get::<_, i64>(3) as u64),
                )
            })
            .collect())
    }
}
