//! The notification outbox: one row per event and receiver, written in the
//! transaction of the change that caused it, so a page is never lost
//! between a change and its delivery; a row is marked delivered (with the
//! PagerDuty dedup key it went out under) or given up, never deleted
//! before a month has passed.

use rusqlite::params;

use super::{Store, StoreError};

/// Schema of the outbox (migration 6).
pub(super) const MIGRATION: &str = r#"
CREATE TABLE notices (id INTEGER PRIMARY KEY, receiver TEXT NOT NULL, grp TEXT NOT NULL, event TEXT NOT NULL, subject TEXT NOT NULL, page_key TEXT, body TEXT NOT NULL, created_ms INTEGER NOT NULL, due_ms INTEGER NOT NULL, attempts INTEGER NOT NULL, next_ms INTEGER NOT NULL, state TEXT NOT NULL, last_error TEXT, done_ms INTEGER);
CREATE INDEX notices_state ON notices (state, created_ms);
"#;

/// Where a notification is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoticeState {
    /// Waiting for its group window, or for a retry.
    Pending,
    /// Accepted by the receiver.
    Delivered,
    /// Covered by another notification (a PagerDuty page still holding
    /// an open incident), nothing sent.
    Merged,
    /// Given up after the longest retry time.
    Failed,
}

impl NoticeState {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Merged => "merged",
            Self::Failed => "failed",
        }
    }

    pub(crate) fn parse(s: &str) -> Self {
        match s {
            "delivered" => Self::Delivered,
            "merged" => Self::Merged,
            "failed" => Self::Failed,
            _ => Self::Pending,
        }
    }
}

/// One notification to one receiver.
#[derive(Debug, Clone, PartialEq)]
pub struct NoticeRow {
    /// Order of creation.
    pub id: u64,
    /// The receiver's name.
    pub receiver: String,
    /// The group it is sent with: its route's name, an escalation level,
    /// or `follow-up` (PagerDuty acknowledge and resolve).
    pub grp: String,
    /// `incident.opened`, …
    pub event: String,
    /// `INC-3`, `APR-7`, `CTL-2`.
    pub subject: String,
    /// The PagerDuty dedup key it was (or is to be) sent under.
    pub page_key: Option<String>,
    /// The event as JSON ([`crate::hub::notify::Notice`]).
    pub body: String,
    /// When it was queued, Unix ms.
    pub created_ms: i64,
    /// When its group window closes, Unix ms.
    pub due_ms: i64,
    /// Failed attempts so far.
    pub attempts: u32,
    /// Not before, Unix ms (the retry backoff).
    pub next_ms: i64,
    /// Where it is.
    pub state: NoticeState,
    /// The last failure, e.g. `503 Service Unavailable`.
    pub last_error: Option<String>,
    /// When it was delivered or given up, Unix ms.
    pub done_ms: Option<i64>,
}

impl Store {
    /// Pending notifications, and those finished since `since_ms` (the
    /// pages PagerDuty may still hold open), oldest first.
    pub fn notices_since(&self, since_ms: i64) -> Result<Vec<NoticeRow>, StoreError> {
        let mut st = self.conn.prepare(
            "SELECT id, receiver, grp, event, subject, page_key, body, created_ms, due_ms, attempts, next_ms, state, last_error, done_ms
             FROM notices WHERE state = 'pending' OR created_ms >= ?1 ORDER BY id",
        )?;
        let rows = st.query_map([since_ms], |r| {
            Ok(NoticeRow {
                id: r.get::<_, i64>(0)? as u64,
                receiver: r.get(1)?,
                grp: r.get(2)?,
                event: r.get(3)?,
                subject: r.get(4)?,
                page_key: r.get(5)?,
                body: r.get(6)?,
                created_ms: r.get(7)?,
                due_ms: r.get(8)?,
                attempts: r.get(9)?,
                next_ms: r.get(10)?,
                state: NoticeState::parse(&r.get::<_, String>(11)?),
                last_error: r.get(12)?,
                done_ms: r.get(13)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The highest row id ever used (0 for none).
    pub fn max_notice_id(&self) -> Result<u64, StoreError> {
        let id: Option<i64> = self
            .conn
            .query_row("SELECT MAX(id) FROM notices", [], |r| r.get(0))?;
        Ok(id.unwrap_or(0) as u64)
    }

    /// Drops finished notifications created before `before_ms`.
    pub fn prune_notices(&mut self, before_ms: i64) -> Result<usize, StoreError> {
        Ok(self.conn.execute(
            "DELETE FROM notices WHERE state != 'pending' AND created_ms < ?1",
            [before_ms],
        )?)
    }
}

/// Writes the batch's notifications, whole (insert or update by id).
pub(super) fn write(tx: &rusqlite::Transaction<'_>, rows: &[NoticeRow]) -> Result<(), StoreError> {
    for n in rows {
        tx.prepare_cached(
            "INSERT INTO notices (id, receiver, grp, event, subject, page_key, body, created_ms, due_ms, attempts, next_ms, state, last_error, done_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)
             ON CONFLICT (id) DO UPDATE SET page_key = excluded.page_key, attempts = excluded.attempts,
               next_ms = excluded.next_ms, state = excluded.state, last_error = excluded.last_error, done_ms = excluded.done_ms",
        )?
        .execute(params![
            n.id as i64,
            n.receiver,
            n.grp,
            n.event,
            n.subject,
            n.page_key,
            n.body,
            n.created_ms,
            n.due_ms,
            n.attempts,
            n.next_ms,
            n.state.as_str(),
            n.last_error,
            n.done_ms,
        ])?;
    }
    Ok(())
}
