//! The store the hub runs on: SQLite (one file, the default, what `demo`
//! uses) or PostgreSQL (`--db postgres://…`, for several replicas). Both
//! answer the same operations with the same meaning; this enum hands each
//! call to the one in use, so the core, the archive and the chain check
//! never ask which it is. `tests/store_conformance.rs` runs every
//! operation against both.

use chrono::{DateTime, Utc};

use crate::hub::pg::PgStore;
use crate::model::approval::Approval;
use crate::model::audit::{AuditEntry, AuditQuery};
use crate::model::history::{ApprovalRecord, ControlRecord, Cursor, HistoryPage, IncidentRecord};

use super::{
    Batch, CallbackTally, IdempotencyRecord, Loaded, NoticeRow, SnapshotRow, Store, StoreError,
    StreamTail, WaitingTraceRow,
};

/// An open store of either kind. A hub holds one (and its archive two),
/// so the variants' sizes do not matter.
#[allow(clippy::large_enum_variant)]
pub enum Backend {
    /// A SQLite file.
    Sqlite(Store),
    /// A PostgreSQL database.
    Postgres(PgStore),
}

impl From<Store> for Backend {
    fn from(store: Store) -> Self {
        Self::Sqlite(store)
    }
}

impl From<PgStore> for Backend {
    fn from(store: PgStore) -> Self {
        Self::Postgres(store)
    }
}

/// Calls the same method on whichever store is in use.
macro_rules! either {
    ($self:expr, $s:ident => $call:expr) => {
        match $self {
            Backend::Sqlite($s) => $call,
            Backend::Postgres($s) => $call,
        }
    };
}

impl Backend {
    /// Opens an existing database for reading only: a SQLite file, or a
    /// PostgreSQL database (`postgres://…`) already migrated.
    pub fn open_read_only(db: &std::path::Path) -> Result<Self, StoreError> {
        match db.to_str().filter(|_| crate::hub::pg::is_url(db)) {
            Some(url) => Ok(PgStore::open_reader(&crate::hub::pg::PgTarget::parse(url)?)?.into()),
            None => Ok(Store::open_read_only(db)?.into()),
        }
    }

    /// The SQLite store, when that is the one in use (the fault tests cap
    /// or freeze its file).
    pub fn sqlite(&self) -> Option<&Store> {
        match self {
            Self::Sqlite(s) => Some(s),
            Self::Postgres(_) => None,
        }
    }

    /// Whether the database is there: the file exists, the connection is
    /// up (a broken one is opened again by the next call).
    pub fn present(&self) -> bool {
        match self {
            Self::Sqlite(s) => s.path().exists(),
            Self::Postgres(p) => p.connected(),
        }
    }

    /// Writes a batch in one transaction.
    /// Returns the stream id the database gave the first of
    /// `batch.log`'s deltas (PostgreSQL, when there are any).
    pub fn write(&mut self, batch: &Batch) -> Result<Option<u64>, StoreError> {
        match self {
            Self::Sqlite(s) => s.write(batch).map(|()| None),
            Self::Postgres(p) => p.write(batch),
        }
    }

    /// The shared stream log's last id and up to `limit` of its newest
    /// deltas, oldest first, when the database hands out stream ids
    /// (PostgreSQL); none when the hub numbers them itself (SQLite).
    pub fn stream_tail(&self, limit: usize) -> Result<Option<StreamTail>, StoreError> {
        match self {
            Self::Sqlite(_) => Ok(None),
            Self::Postgres(p) => p.stream_tail(limit).map(Some),
        }
    }

    /// Since when writes fail and why, or none while they succeed.
    pub fn write_failure(&self) -> Option<&(DateTime<Utc>, String)> {
        either!(self, s => s.write_failure())
    }

    /// The database's size in bytes.
    pub fn database_bytes(&self) -> Result<u64, StoreError> {
        either!(self, s => s.database_bytes())
    }

    /// Everything the hub keeps in memory (see [`Store::load`]).
    pub fn load(
        &self,
        audit_tail: usize,
        decided_since: DateTime<Utc>,
    ) -> Result<Loaded, StoreError> {
        either!(self, s => s.load(audit_tail, decided_since))
    }

    /// Every trace waiting for more spans.
    pub fn waiting_traces(&self) -> Result<Vec<WaitingTraceRow>, StoreError> {
        either!(self, s => s.waiting_traces())
    }

    /// The stored answer to an idempotent request.
    pub fn idempotency(
        &self,
        principal: &str,
        key: &str,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        either!(self, s => s.idempotency(principal, key))
    }

    /// Deletes idempotency records older than `before_s`.
    pub fn prune_idempotency(&mut self, before_s: i64) -> Result<usize, StoreError> {
        either!(self, s => s.prune_idempotency(before_s))
    }

    /// Pending notifications and those finished since `since_ms`.
    pub fn notices_since(&self, since_ms: i64) -> Result<Vec<NoticeRow>, StoreError> {
        either!(self, s => s.notices_since(since_ms))
    }

    /// The highest notification id ever used.
    pub fn max_notice_id(&self) -> Result<u64, StoreError> {
        either!(self, s => s.max_notice_id())
    }

    /// Drops finished notifications created before `before_ms`.
    pub fn prune_notices(&mut self, before_ms: i64) -> Result<usize, StoreError> {
        either!(self, s => s.prune_notices(before_ms))
    }

    /// The upkeep the hub's hourly prune does: on PostgreSQL, dropping
    /// journal blocks past the retention window (SQLite's maintenance
    /// thread does that by itself). Returns the blocks dropped.
    pub fn upkeep(&mut self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        match self {
            Self::Sqlite(_) => Ok(0),
            Self::Postgres(p) => match p.retention() {
                Some(window) => p.drop_events_before(now.timestamp().saturating_sub(window)),
                None => Ok(0),
            },
        }
    }

    /// Every journalled line from the blocks at or after `since_s`.
    pub fn for_each_event(&self, since_s: i64, f: impl FnMut(&str)) -> Result<u64, StoreError> {
        either!(self, s => s.for_each_event(since_s, f))
    }

    /// Like [`Backend::for_each_event`], after journal block `after`.
    pub fn for_each_event_after(
        &self,
        after: i64,
        since_s: i64,
        f: impl FnMut(&str),
    ) -> Result<u64, StoreError> {
        either!(self, s => s.for_each_event_after(after, since_s, f))
    }

    /// The last journal block written.
    pub fn journal_position(&self) -> Result<i64, StoreError> {
        either!(self, s => s.journal_position())
    }

    /// Stores an engine snapshot at journal block `journal_id`.
    pub fn save_snapshot(
        &mut self,
        journal_id: i64,
        taken_at_s: i64,
        state: Vec<u8>,
    ) -> Result<bool, StoreError> {
        either!(self, s => s.save_snapshot(journal_id, taken_at_s, state))
    }

    /// The stored engine snapshots, newest first.
    pub fn snapshots(&self) -> Result<Vec<SnapshotRow>, StoreError> {
        either!(self, s => s.snapshots())
    }

    /// The approval with this id.
    pub fn approval(&self, id: &str) -> Result<Option<Approval>, StoreError> {
        either!(self, s => s.approval(id))
    }

    /// The approval `agent` asked for as `request_id`.
    pub fn approval_by_request(
        &self,
        agent: &str,
        request_id: &str,
    ) -> Result<Option<Approval>, StoreError> {
        either!(self, s => s.approval_by_request(agent, request_id))
    }

    /// Approvals closed at or after `since`, newest first.
    pub fn approvals_closed_since(
        &self,
        since: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Approval>, StoreError> {
        either!(self, s => s.approvals_closed_since(since, limit))
    }

    /// Decision callbacks delivered and failed since `since`.
    pub fn callback_tally_since(&self, since: DateTime<Utc>) -> Result<CallbackTally, StoreError> {
        either!(self, s => s.callback_tally_since(since))
    }

    /// A page of decided approvals, newest first.
    pub fn approval_history(
        &self,
        before: Option<&Cursor>,
        q: Option<&str>,
        limit: usize,
    ) -> Result<HistoryPage<ApprovalRecord>, StoreError> {
        either!(self, s => s.approval_history(before, q, limit))
    }

    /// A page of resolved incidents, newest first.
    pub fn incident_history(
        &self,
        before: Option<&Cursor>,
        q: Option<&str>,
        limit: usize,
    ) -> Result<HistoryPage<IncidentRecord>, StoreError> {
        either!(self, s => s.incident_history(before, q, limit))
    }

    /// A page of lifted and expired controls, newest first.
    pub fn control_history(
        &self,
        before: Option<&Cursor>,
        q: Option<&str>,
        limit: usize,
    ) -> Result<HistoryPage<ControlRecord>, StoreError> {
        either!(self, s => s.control_history(before, q, limit))
    }

    /// Up to `limit` audit entries after `seq`, oldest first.
    pub fn audit_after(&self, seq: u64, limit: usize) -> Result<Vec<AuditEntry>, StoreError> {
        either!(self, s => s.audit_after(seq, limit))
    }

    /// A page of the audit log as `q` asks.
    pub fn audit_page(&self, q: &AuditQuery, limit: usize) -> Result<Vec<AuditEntry>, StoreError> {
        either!(self, s => s.audit_page(q, limit))
    }

    /// The stored hash of entry `seq`.
    pub fn audit_hash(&self, seq: u64) -> Result<Option<String>, StoreError> {
        either!(self, s => s.audit_hash(seq))
    }

    /// Every audit entry after `seq`, in order, until `f` returns false.
    pub fn for_each_audit_after(
        &self,
        seq: u64,
        f: impl FnMut(u64, Result<AuditEntry, StoreError>) -> bool,
    ) -> Result<(), StoreError> {
        either!(self, s => s.for_each_audit_after(seq, f))
    }

    /// Every audit entry in order, until `f` returns false.
    pub fn for_each_audit(&self, f: impl FnMut(AuditEntry) -> bool) -> Result<(), StoreError> {
        either!(self, s => s.for_each_audit(f))
    }
}
