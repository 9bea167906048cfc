//! Decided approvals the hub no longer holds in memory: the desk keeps
//! the open ones and the newest decided ones (see
//! `hub::core::desk::DECIDED_KEPT`), and reads the rest here when an agent
//! re-sends an old request, a late decision names an old approval, a
//! handoff covers a past shift or a restart counts callbacks.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};

use crate::model::approval::Approval;

use super::{Store, StoreError};

/// The most decided approvals one handoff reads from the store: a shift
/// far past it is summarized from its newest ones.
pub const HANDOFF_DECIDED_MAX: usize = 50_000;

/// Callbacks delivered and failed, by the approval's agent and action.
pub type CallbackTally = Vec<((String, String), (u64, u64))>;

fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

impl Store {
    /// The approval with this id.
    pub fn approval(&self, id: &str) -> Result<Option<Approval>, StoreError> {
        let body: Option<String> = self
            .conn
            .prepare_cached("SELECT body FROM approvals WHERE id = ?1")?
            .query_row(params![id], |r| r.get(0))
            .optional()?;
        Ok(body.map(|b| serde_json::from_str(&b)).transpose()?)
    }

    /// The approval `agent` asked for as `request_id`.
    pub fn approval_by_request(
        &self,
        agent: &str,
        request_id: &str,
    ) -> Result<Option<Approval>, StoreError> {
        let body: Option<String> = self
            .conn
            .prepare_cached("SELECT body FROM approvals WHERE agent = ?1 AND request_id = ?2")?
            .query_row(params![agent, request_id], |r| r.get(0))
            .optional()?;
        Ok(body.map(|b| serde_json::from_str(&b)).transpose()?)
    }

    /// Approvals decided (or expired) at or after `since`, newest first,
    /// at most `limit`.
    pub fn approvals_closed_since(
        &self,
        since: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Approval>, StoreError> {
        let mut st = self.conn.prepare_cached(
            "SELECT body FROM approvals WHERE closed_us >= ?1 ORDER BY closed_us DESC, id DESC LIMIT ?2",
        )?;
        let rows = st.query_map(params![micros(since), limit as i64], |r| {
            r.get::<_, String>(0)
        })?;
        let mut out = Vec::new();
        for body in rows {
            out.push(serde_json::from_str(&body?)?);
        }
        Ok(out)
    }

    /// Decision callbacks delivered and failed since `since`, counted by
    /// the approval's agent and action, in one pass of the audit log.
    pub fn callback_tally_since(&self, since: DateTime<Utc>) -> Result<CallbackTally, StoreError> {
        let since = since.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        let mut st = self.conn.prepare(
            "SELECT a.agent, json_extract(a.body, '$.action'),
                    sum(audit.action = 'callback.delivered'), sum(audit.action = 'callback.failed')
             FROM audit JOIN approvals a ON a.id = audit.subject
             WHERE audit.action IN ('callback.delivered', 'callback.failed') AND audit.ts >= ?1
             GROUP BY 1, 2",
        )?;
        let rows = st.query_map(params![since], |r| {
            Ok((
                (r.get::<_, String>(0)?, r.get::<_, String>(1)?),
                (r.get::<_, i64>(2)? as u64, r.get::<_, i64>(3)? as u64),
            ))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}
