//! History pages: decided approvals, resolved incidents and ended
//! controls, newest first, one indexed range of a table per page.
//!
//! Each of the three tables keeps, beside the object's JSON, the columns a
//! page needs: `closed_us` (when it closed, Unix microseconds; `NULL` while
//! open) under a partial index on `(closed_us, id)`, and `search` (the
//! lowercased text `q` is matched against, see `model::history`). Both
//! are written with the object in every batch; the object stays the one
//! source of what a record says.

use rusqlite::{Transaction, params};
use serde::de::DeserializeOwned;

use crate::model::approval::Approval;
use crate::model::control::Control;
use crate::model::history::{
    ApprovalRecord, ControlRecord, Cursor, HistoryKind, HistoryPage, IncidentRecord,
};
use crate::model::incident::Incident;

use super::{Store, StoreError};

/// Schema of the history columns and their indexes (migration 7), and of
/// what the audit view's filters use: incidents' agent as a column (for
/// the audit entries' agent, see `audit_reads`), the audit entries' agent
/// and the indexes. Columns of rows written before it are filled in by
/// [`backfill`] in the same transaction.
pub(super) const MIGRATION: &str = r#"
ALTER TABLE approvals ADD COLUMN closed_us INTEGER;
ALTER TABLE approvals ADD COLUMN search TEXT;
ALTER TABLE incidents ADD COLUMN closed_us INTEGER;
ALTER TABLE incidents ADD COLUMN search TEXT;
ALTER TABLE incidents ADD COLUMN agent TEXT;
UPDATE incidents SET agent = json_extract(body, '$.agent');
ALTER TABLE controls ADD COLUMN closed_us INTEGER;
ALTER TABLE controls ADD COLUMN search TEXT;
CREATE INDEX approvals_history ON approvals (closed_us, id) WHERE closed_us IS NOT NULL;
CREATE INDEX incidents_history ON incidents (closed_us, id) WHERE closed_us IS NOT NULL;
CREATE INDEX controls_history ON controls (closed_us, id) WHERE closed_us IS NOT NULL;
ALTER TABLE audit ADD COLUMN agent TEXT;
CREATE INDEX audit_actor ON audit (actor, seq);
CREATE INDEX audit_agent ON audit (agent, seq) WHERE agent IS NOT NULL;
"#;

/// `closed_us` and `search` of an object: both `NULL` while it is open.
pub(super) type HistoryColumns = (Option<i64>, Option<String>);

/// The history columns of an approval.
pub(crate) fn approval_columns(a: &Approval) -> HistoryColumns {
    ApprovalRecord::of(a).map_or((None, None), |r| {
        (Some(r.decided_at.timestamp_micros()), Some(r.search_text()))
    })
}

/// The history columns of an incident.
pub(crate) fn incident_columns(i: &Incident) -> HistoryColumns {
    IncidentRecord::of(i).map_or((None, None), |r| {
        (
            Some(r.resolved_at.timestamp_micros()),
            Some(r.search_text()),
        )
    })
}

/// The history columns of a control.
pub(crate) fn control_columns(c: &Control) -> HistoryColumns {
    ControlRecord::of(c).map_or((None, None), |r| {
        (Some(r.ended_at.timestamp_micros()), Some(r.search_text()))
    })
}

/// Fills the history columns of rows written before [`MIGRATION`] (in
/// code: the search text is the model's), and the agent of audit entries.
pub(super) fn backfill(tx: &Transaction<'_>) -> Result<(), StoreError> {
    fill::<Approval>(tx, "approvals", approval_columns)?;
    fill::<Incident>(tx, "incidents", incident_columns)?;
    fill::<Control>(tx, "controls", control_columns)?;
    super::audit_reads::backfill(tx)
}

fn fill<T: DeserializeOwned>(
    tx: &Transaction<'_>,
    table: &str,
    columns: fn(&T) -> HistoryColumns,
) -> Result<(), StoreError> {
    let mut read = tx.prepare(&format!("SELECT id, body FROM {table}"))?;
    let rows = read
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?
        .collect::<Result<Vec<_>, _>>()?;
    let mut write = tx.prepare(&format!(
        "UPDATE {table} SET closed_us = ?2, search = ?3 WHERE id = ?1"
    ))?;
    for (id, body) in rows {
        let (closed_us, search) = columns(&serde_json::from_str(&body)?);
        write.execute(params![id, closed_us, search])?;
    }
    Ok(())
}

impl Store {
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

    /// One page: the rows closed before the cursor, newest first, read
    /// down the `(closed_us, id)` index; one row more than asked tells
    /// whether an older page exists. `q` is already lowercased. The next
    /// cursor is made of the last row's columns, the very key the rows are
    /// ordered by.
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
            "SELECT closed_us, id, body FROM {} WHERE closed_us IS NOT NULL
             AND (closed_us, id) < (?1, ?2) AND (?3 IS NULL OR instr(search, ?3) > 0)
             ORDER BY closed_us DESC, id DESC LIMIT ?4",
            kind.as_str()
        );
        let (closed_us, id) = before.map_or((i64::MAX, ""), |c| (c.closed_us, c.id.as_str()));
        let mut st = self.conn.prepare_cached(&sql)?;
        let rows = st
            .query_map(params![closed_us, id, q, limit as i64 + 1], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                ))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        let more = rows.len() > limit;
        let mut items = Vec::with_capacity(limit.min(rows.len()));
        let mut last = None;
        for (closed_us, id, body) in rows.into_iter().take(limit) {
            let object: O = serde_json::from_str(&body)?;
            // Columns saying closed over an open object would be a bug in
            // the write path: such a row is passed over, not shown.
            items.extend(record(&object));
            last = Some(Cursor {
                kind,
                closed_us,
                id,
            });
        }
        let next = last.filter(|_| more).map(|c| c.encode());
        Ok(HistoryPage { items, next })
    }
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Duration, TimeZone, Utc};
    use serde_json::json;

    use super::super::{Batch, MIGRATIONS, Store};
    use crate::model::approval::{Approval, ApprovalState, Decision, Verdict};
    use crate::model::envelope::Risk;
    use crate::model::history::{Cursor, HistoryKind};
    use crate::model::role::Role;

    fn t(s: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_800_000_000 + s, 250_000).unwrap()
    }

    /// `APR-n`, decided (approved by lee) at `t(closed)` when given.
    fn approval(n: u64, closed: Option<i64>) -> Approval {
        let requested = t(closed.unwrap_or(0) - 90);
        let mut a = Approval {
            id: format!("APR-{n}"),
            agent: if n.is_multiple_of(2) {
                "refund-bot"
            } else {
                "triage-bot"
            }
            .into(),
            request_id: format!("rq-{n}"),
            run_id: None,
            workflow: "refund".into(),
            action: "issue_refund".into(),
            tool: Some("issue_refund".into()),
            args: json!({"order": n}),
            risk: Risk::High,
            reason: None,
            context: None,
            reject_options: vec![],
            requested_at: requested,
            deadline: requested + Duration::minutes(30),
            escalate_at: None,
            state: ApprovalState::Pending,
            approvals_required: 1,
            decisions: vec![],
            closed_at: None,
        };
        if let Some(c) = closed {
            a.state = ApprovalState::Approved;
            a.closed_at = Some(t(c));
            a.decisions.push(Decision {
                by: "lee".into(),
                role: Role::Approver,
                verdict: Verdict::Approve,
                reason: Some(format!("Order {n} checked")),
                modified_args: None,
                at: t(c),
            });
        }
        a
    }

    fn write(store: &mut Store, approvals: Vec<Approval>) {
        let batch = Batch {
            approvals,
            ..Batch::default()
        };
        store.write(&batch).unwrap();
    }

    fn ids(
        store: &Store,
        before: Option<&Cursor>,
        q: Option<&str>,
        limit: usize,
    ) -> (Vec<String>, Option<Cursor>) {
        let page = store.approval_history(before, q, limit).unwrap();
        let next = page
            .next
            .map(|c| Cursor::parse(HistoryKind::Approvals, &c).unwrap());
        (page.items.into_iter().map(|r| r.id).collect(), next)
    }

    #[test]
    fn pages_run_newest_first_and_ignore_what_closes_meanwhile() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("h.db")).unwrap();
        // 25 decided, two of them at the same instant (ordered by id), and
        // 3 still open.
        let mut all: Vec<Approval> = (1..=25).map(|n| approval(n, Some(n as i64 * 10))).collect();
        all[24].closed_at = all[23].closed_at;
        all.extend((26..=28).map(|n| approval(n, None)));
        write(&mut store, all);
        let (first, next) = ids(&store, None, None, 10);
        assert_eq!(first[..3], ["APR-25", "APR-24", "APR-23"]);
        let mut seen = first;
        let mut cursor = next;
        let mut more = 100;
        while let Some(c) = cursor {
            // Decisions that arrive while paging close later: newer than
            // every page, so never inside one.
            more += 1;
            write(&mut store, vec![approval(more, Some(1_000 + more as i64))]);
            let (page, next) = ids(&store, Some(&c), None, 10);
            seen.extend(page);
            cursor = next;
        }
        let want: Vec<String> = (1..=25).rev().map(|n| format!("APR-{n}")).collect();
        assert_eq!(seen, want);
        // The newest page now starts with the late arrivals.
        assert_eq!(ids(&store, None, None, 1).0, [format!("APR-{more}")]);
    }

    #[test]
    fn searches_ignore_case_and_reach_deciders_and_reasons() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("h.db")).unwrap();
        write(
            &mut store,
            (1..=30).map(|n| approval(n, Some(n as i64))).collect(),
        );
        assert_eq!(ids(&store, None, Some("order 17 "), 50).0, ["APR-17"]);
        assert_eq!(ids(&store, None, Some("lee"), 50).0.len(), 30);
        let (page, next) = ids(&store, None, Some("refund-bot"), 5);
        assert_eq!(page, ["APR-30", "APR-28", "APR-26", "APR-24", "APR-22"]);
        let (rest, _) = ids(&store, next.as_ref(), Some("refund-bot"), 50);
        assert_eq!(rest.len(), 10);
        assert!(ids(&store, None, Some("nobody"), 50).0.is_empty());
    }

    #[test]
    fn a_page_is_one_range_of_the_history_index() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("h.db")).unwrap();
        for table in ["approvals", "incidents", "controls"] {
            let plan: Vec<String> = store
                .conn
                .prepare(&format!(
                    "EXPLAIN QUERY PLAN SELECT closed_us, id, body FROM {table}
                     WHERE closed_us IS NOT NULL AND (closed_us, id) < (?1, ?2)
                     AND (?3 IS NULL OR instr(search, ?3) > 0)
                     ORDER BY closed_us DESC, id DESC LIMIT ?4"
                ))
                .unwrap()
                .query_map(rusqlite::params![i64::MAX, "", None::<String>, 10], |r| {
                    r.get::<_, String>(3)
                })
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            let plan = plan.join("; ");
            assert!(
                plan.contains(&format!("USING INDEX {table}_history")),
                "{plan}"
            );
            assert!(!plan.contains("TEMP B-TREE"), "{plan}");
        }
    }

    #[test]
    fn rows_written_before_the_history_columns_are_filled_in() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.db");
        {
            // A database as the previous version left it: schema 6.
            let conn = rusqlite::Connection::open(&path).unwrap();
            for sql in &MIGRATIONS[..6] {
                conn.execute_batch(sql).unwrap();
            }
            conn.pragma_update(None, "user_version", 6).unwrap();
            for a in [
                approval(1, Some(5)),
                approval(2, None),
                approval(3, Some(9)),
            ] {
                conn.execute(
                    "INSERT INTO approvals (id, agent, request_id, state, body) VALUES (?1, ?2, ?3, ?4, ?5)",
                    rusqlite::params![a.id, a.agent, a.request_id, a.state.as_str(), serde_json::to_string(&a).unwrap()],
                )
                .unwrap();
            }
            conn.execute(
                "INSERT INTO audit (seq, ts, actor, action, subject, details, prev_hash, hash)
                 VALUES (1, '2027-01-15T08:00:00Z', 'lee', 'approval.decided', 'APR-1', '{}', '', '')",
                [],
            )
            .unwrap();
        }
        let store = Store::open(&path).unwrap();
        assert_eq!(ids(&store, None, None, 10).0, ["APR-3", "APR-1"]);
        let about = |agent: &str| crate::model::audit::AuditQuery {
            agent: Some(agent.into()),
            ..Default::default()
        };
        assert_eq!(store.audit_page(&about("triage-bot"), 5).unwrap().len(), 1);
        assert!(
            store
                .audit_page(&about("refund-bot"), 5)
                .unwrap()
                .is_empty()
        );
        assert_eq!(ids(&store, None, Some("order 1 checked"), 10).0, ["APR-1"]);
    }
}
