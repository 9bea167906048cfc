//! The hub's SQLite store: incidents, approvals, controls, the audit log,
//! idempotency records, callback registrations and the event journal.
//!
//! WAL mode with `synchronous = NORMAL`: a committed transaction survives the
//! hub being killed at any moment. Every change of one request is one
//! transaction, so a request is either wholly stored or not at all.

mod audit_reads;
mod backend;
mod backup;
mod decided;
mod history;
mod journal;
mod maintenance;
mod notices;
mod snapshots;
mod write;

pub use backend::Backend;
pub use backup::{BackedUp, backup};
pub use decided::{CallbackTally, HANDOFF_DECIDED_MAX};
pub use journal::{Block, Compacted, MAX_BLOCK_BYTES, SMALL_BLOCK_EVENTS};
pub use maintenance::{Maintenance, Upkeep, WAL_RESTART_BYTES};
pub use notices::{NoticeRow, NoticeState};
pub use snapshots::SnapshotRow;

/// What the PostgreSQL backend (`hub::pg::store`) shares with this one, so
/// each rule has one home: the columns derived from an object, how an
/// audit row reads, how blocks and snapshots are packed.
pub(crate) mod shared {
    pub(crate) use super::audit_reads::{RawAudit, kind_range};
    pub(crate) use super::history::{approval_columns, control_columns, incident_columns};
    pub(crate) use super::journal::unpack;
    pub(crate) use super::rfc3339;
    pub(crate) use super::snapshots::{KEEP as SNAPSHOTS_KEPT, LEVEL as SNAPSHOT_LEVEL, inflate};
    pub(crate) use super::write::FailingWrites;
}

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, SecondsFormat, Utc};

use rusqlite::{Connection, OptionalExtension, params};
use write::{FailingWrites, write_audit, write_objects, write_records};

use crate::model::approval::Approval;
use crate::model::audit::AuditEntry;
use crate::model::control::Control;
use crate::model::incident::Incident;
use crate::model::profile::AgentProfile;
use crate::model::runbook::HandoffNote;

use super::audit::GENESIS_HASH;

/// A storage failure, phrased for the operator who sees it in a 503.
#[derive(Debug, thiserror::Error)]
#[error("storage unavailable: {0}")]
pub struct StoreError(pub String);

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode;
        // SQLite's own words, with what they mean for whoever runs the hub
        // where they are terse.
        let hint = match e.sqlite_error_code() {
            Some(ErrorCode::ReadOnly) => "the database file or its filesystem is read-only: ",
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => {
                "another process holds the database: "
            }
            _ => "",
        };
        Self(format!("{hint}{e}"))
    }
}

impl From<rusqlite::types::FromSqlError> for StoreError {
    fn from(e: rusqlite::types::FromSqlError) -> Self {
        Self(format!("corrupt record: {e}"))
    }
}

impl From<serde_json::Error> for StoreError {
    fn from(e: serde_json::Error) -> Self {
        Self(format!("corrupt record: {e}"))
    }
}

/// Schema migrations, applied in order; `PRAGMA user_version` records how
/// many have run.
pub(crate) const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE events (id INTEGER PRIMARY KEY, ts INTEGER NOT NULL, agent TEXT NOT NULL, line TEXT NOT NULL);
CREATE INDEX events_ts ON events (ts);
CREATE TABLE incidents (id TEXT PRIMARY KEY, state TEXT NOT NULL, updated_at TEXT NOT NULL, body TEXT NOT NULL);
CREATE TABLE approvals (id TEXT PRIMARY KEY, agent TEXT NOT NULL, request_id TEXT NOT NULL, state TEXT NOT NULL, body TEXT NOT NULL, UNIQUE (agent, request_id));
CREATE TABLE controls (id TEXT PRIMARY KEY, agent TEXT NOT NULL, state TEXT NOT NULL, body TEXT NOT NULL);
CREATE TABLE audit (seq INTEGER PRIMARY KEY, ts TEXT NOT NULL, actor TEXT NOT NULL, role TEXT, action TEXT NOT NULL, subject TEXT NOT NULL, details TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL);
CREATE TABLE idempotency (principal TEXT NOT NULL, key TEXT NOT NULL, fingerprint TEXT NOT NULL, status INTEGER NOT NULL, body TEXT NOT NULL, created_at INTEGER NOT NULL, PRIMARY KEY (principal, key));
CREATE TABLE callbacks (agent TEXT PRIMARY KEY, url TEXT NOT NULL, secret TEXT NOT NULL, updated_at TEXT NOT NULL);
"#,
    r#"
CREATE TABLE handoff_notes (id INTEGER PRIMARY KEY, at TEXT NOT NULL, by TEXT NOT NULL, text TEXT NOT NULL);
"#,
    r#"
CREATE TABLE agent_profiles (agent TEXT PRIMARY KEY, body TEXT NOT NULL, updated_at TEXT NOT NULL);
"#,
    r#"
CREATE TABLE otlp_waiting (sender TEXT NOT NULL, trace_id TEXT NOT NULL, first_seen_ms INTEGER NOT NULL, principal TEXT NOT NULL, spans TEXT NOT NULL, PRIMARY KEY (sender, trace_id));
"#,
    // The journal in blocks (see `journal`); `events` stays for the rows
    // written before, read first and dropped by retention.
    r#"
CREATE TABLE journal (id INTEGER PRIMARY KEY, oldest_ts INTEGER NOT NULL, newest_ts INTEGER NOT NULL, events INTEGER NOT NULL, bytes INTEGER NOT NULL, body BLOB NOT NULL);
CREATE INDEX journal_newest_ts ON journal (newest_ts);
"#,
    notices::MIGRATION,
    history::MIGRATION,
    snapshots::MIGRATION,
];

/// Spans of one trace waiting for the rest of it (see
/// [`crate::ingest::otlp::Assembler`]), stored so that a restart loses
/// none that were acknowledged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaitingTraceRow {
    /// The sending token's name.
    pub sender: String,
    /// The trace id.
    pub trace_id: String,
    /// When its first span arrived, Unix milliseconds.
    pub first_seen_ms: i64,
    /// The sender as JSON (name, role, agents), to check the runs it maps
    /// to when they expire.
    pub principal: String,
    /// The spans, as JSON.
    pub spans: String,
}

/// A stored answer to an idempotent request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyRecord {
    /// Who sent it.
    pub principal: String,
    /// The `Idempotency-Key`.
    pub key: String,
    /// Method, path and body hash of the first request.
    pub fingerprint: String,
    /// The status answered.
    pub status: u16,
    /// The body answered.
    pub body: String,
}

/// A callback registration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallbackRow {
    /// The agent.
    pub agent: String,
    /// Where to POST.
    pub url: String,
    /// HMAC key, hex.
    pub secret: String,
}

/// Everything one request changes, written in one transaction.
#[derive(Debug, Default)]
pub struct Batch {
    /// Accepted events, packed.
    pub journal: Option<Block>,
    /// Incidents, whole, after the change.
    pub incidents: Vec<Incident>,
    /// Approvals, whole, after the change.
    pub approvals: Vec<Approval>,
    /// Controls, whole, after the change.
    pub controls: Vec<Control>,
    /// New audit entries, in order.
    pub audit: Vec<AuditEntry>,
    /// The answer to remember for an `Idempotency-Key`.
    pub idempotency: Option<IdempotencyRecord>,
    /// Counters and other settings.
    pub meta: Vec<(&'static str, String)>,
    /// Callback registrations.
    pub callbacks: Vec<CallbackRow>,
    /// New handoff notes.
    pub handoff_notes: Vec<HandoffNote>,
    /// Agent registrations, whole, after the change.
    pub profiles: Vec<(String, AgentProfile)>,
    /// Traces waiting for more spans, whole, after the change.
    pub traces_waiting: Vec<WaitingTraceRow>,
    /// Traces no longer waiting: (sender, trace id).
    pub traces_released: Vec<(String, String)>,
    /// Notifications, new or updated.
    pub notices: Vec<NoticeRow>,
    /// Stream deltas to append to the shared log, in order (PostgreSQL
    /// only: see `hub::core::publisher`).
    pub log: Vec<LogFrame>,
}

/// The newest deltas of the shared stream log (PostgreSQL).
#[derive(Debug, Clone, Default)]
pub struct StreamTail {
    /// The last id handed out (0 for an empty log).
    pub head: u64,
    /// Up to the asked number of the newest deltas, with their ids,
    /// oldest first.
    pub frames: Vec<(u64, LogFrame)>,
}

/// A stream delta as the shared log keeps it: the SSE event and data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogFrame {
    /// The SSE `event`.
    pub event: &'static str,
    /// The SSE `data`: one line of JSON.
    pub data: std::sync::Arc<str>,
}

impl Batch {
    /// True when the batch writes nothing.
    pub fn is_empty(&self) -> bool {
        self.journal.is_none()
            && self.incidents.is_empty()
            && self.approvals.is_empty()
            && self.controls.is_empty()
            && self.audit.is_empty()
            && self.idempotency.is_none()
            && self.meta.is_empty()
            && self.callbacks.is_empty()
            && self.handoff_notes.is_empty()
            && self.profiles.is_empty()
            && self.traces_waiting.is_empty()
            && self.traces_released.is_empty()
            && self.notices.is_empty()
            && self.log.is_empty()
    }
}

/// What the hub needs at start.
#[derive(Debug, Default)]
pub struct Loaded {
    /// Every incident.
    pub incidents: Vec<Incident>,
    /// Every approval.
    pub approvals: Vec<Approval>,
    /// Every control.
    pub controls: Vec<Control>,
    /// `(seq, hash)` of the last audit entry.
    pub audit_head: (u64, String),
    /// The last audit entries, oldest first.
    pub audit_tail: Vec<AuditEntry>,
    /// Counters and settings.
    pub meta: HashMap<String, String>,
    /// Callback registrations.
    pub callbacks: Vec<CallbackRow>,
    /// Every handoff note, oldest first.
    pub handoff_notes: Vec<HandoffNote>,
    /// Every agent registration.
    pub profiles: Vec<(String, AgentProfile)>,
}

/// An open database.
pub struct Store {
    conn: Connection,
    path: PathBuf,
    /// Since when writes fail and why; cleared by the next write that
    /// succeeds, so the hub recovers by itself when the disk does.
    failing: FailingWrites,
    /// Checkpoints, compaction and retention, once started.
    maintenance: Option<Maintenance>,
}

/// Creates a new database file readable by its owner only (0600): it holds
/// the audit log, agents' arguments and operators' notes. SQLite gives its
/// `-wal` and `-shm` files the database's permissions. An existing file
/// keeps the permissions its owner chose.
pub(super) fn create_private(path: &Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// `max_page_count` without a cap: SQLite's own limit.
const NO_PAGE_CAP: u64 = 0xffff_fffe;

pub(crate) fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

impl Store {
    /// Opens (creating if needed) the database at `path` and migrates it.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let as_text = path.to_string_lossy();
        if as_text == ":memory:" || as_text.is_empty() {
            return Err(StoreError(
                "an in-memory database would lose every incident, approval and audit entry on restart; give --db a file path".into(),
            ));
        }
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                StoreError(format!("cannot create directory {}: {e}", dir.display()))
            })?;
        }
        create_private(path)
            .map_err(|e| StoreError(format!("cannot create {}: {e}", path.display())))?;
        let conn = Connection::open(path)
            .map_err(|e| StoreError(format!("cannot open {}: {e}", path.display())))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        let mut store = Self {
            conn,
            path: path.to_path_buf(),
            failing: FailingWrites::default(),
            maintenance: None,
        };
        store.migrate()?;
        Ok(store)
    }

    /// Opens an existing database read-only (for `audit verify`).
    pub fn open_read_only(path: &Path) -> Result<Self, StoreError> {
        if !path.exists() {
            return Err(StoreError(format!("no database at {}", path.display())));
        }
        let conn = Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(|e| StoreError(format!("cannot open {}: {e}", path.display())))?;
        Ok(Self {
            conn,
            path: path.to_path_buf(),
            failing: FailingWrites::default(),
            maintenance: None,
        })
    }

    /// Opens the hub's own database, already migrated, for reads beside
    /// the core ([`crate::hub::archive`]). The connection refuses writes
    /// (`query_only`) yet is opened read-write: a read-only one that
    /// happened to close last would leave the WAL unmerged into the file.
    pub fn open_reader(path: &Path) -> Result<Self, StoreError> {
        let conn = Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE)
            .map_err(|e| StoreError(format!("cannot open {}: {e}", path.display())))?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.pragma_update(None, "query_only", true)?;
        Ok(Self {
            conn,
            path: path.to_path_buf(),
            failing: FailingWrites::default(),
            maintenance: None,
        })
    }

    /// The schema version recorded in the existing database at `path`
    /// (0 for a new file), read without changing it.
    pub fn schema_version(path: &Path) -> Result<usize, StoreError> {
        let store = Self::open_read_only(path)?;
        let version: i64 = store
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))?;
        Ok(usize::try_from(version).unwrap_or(0))
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn migrate(&mut self) -> Result<(), StoreError> {
        let version: i64 = self
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))?;
        let version = usize::try_from(version).unwrap_or(0);
        if version > MIGRATIONS.len() {
            return Err(StoreError(format!(
                "{} has schema version {version}, newer than this agentdeck knows ({}); upgrade agentdeck",
                self.path.display(),
                MIGRATIONS.len()
            )));
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(version) {
            let tx = self.conn.transaction()?;
            tx.execute_batch(sql)?;
            if *sql == history::MIGRATION {
                history::backfill(&tx)?;
            }
            tx.pragma_update(None, "user_version", (i + 1) as i64)?;
            tx.commit()?;
        }
        Ok(())
    }

    /// Moves checkpoints off this connection onto a maintenance thread,
    /// which also compacts the journal and drops events older than
    /// `upkeep.retain` (see [`maintenance`]). A hub calls this once at
    /// start; without it, SQLite checkpoints inside commits as usual.
    pub fn start_maintenance(&mut self, upkeep: Upkeep) -> Result<(), StoreError> {
        self.conn
            .pragma_update(None, "journal_size_limit", WAL_RESTART_BYTES as i64)?;
        self.maintenance = Some(maintenance::start(&self.path, upkeep)?);
        self.conn.pragma_update(None, "wal_autocheckpoint", 0)?;
        Ok(())
    }

    /// The database's size in bytes (pages in use times the page size).
    pub fn database_bytes(&self) -> Result<u64, StoreError> {
        let pages: i64 = self.conn.query_row("PRAGMA page_count", [], |r| r.get(0))?;
        let size: i64 = self.conn.query_row("PRAGMA page_size", [], |r| r.get(0))?;
        Ok((pages.max(0) as u64) * (size.max(0) as u64))
    }

    /// Since when writes fail and why (the message a refused request gets),
    /// or none while they succeed.
    pub fn write_failure(&self) -> Option<&(DateTime<Utc>, String)> {
        self.failing.since()
    }

    /// Caps the database at `pages` pages (SQLite's `max_page_count`, never
    /// below the pages in use), or lifts the cap. A write that needs more
    /// room fails as on a full disk (`SQLITE_FULL`, "database or disk is
    /// full") and is rolled back whole. The fault tests fill the disk this
    /// way without root; it can also keep the hub from filling a disk it
    /// shares. Not persisted: a reopened database has no cap. Returns the cap
    /// now in force.
    pub fn set_max_pages(&self, pages: Option<u64>) -> Result<u64, StoreError> {
        let pages = pages.unwrap_or(NO_PAGE_CAP).clamp(1, NO_PAGE_CAP) as i64;
        let now: i64 =
            self.conn
                .query_row(&format!("PRAGMA max_page_count = {pages}"), [], |r| {
                    r.get(0)
                })?;
        Ok(u64::try_from(now).unwrap_or(0))
    }

    /// Refuses every write on this connection (SQLite's `query_only`), or
    /// allows them again. Writes then fail with `SQLITE_READONLY`, as when
    /// the file or its filesystem turns read-only under a running hub; the
    /// fault tests use it where permissions cannot (root ignores them).
    pub fn set_read_only(&self, read_only: bool) -> Result<(), StoreError> {
        Ok(self.conn.pragma_update(None, "query_only", read_only)?)
    }

    /// Writes a batch in one transaction.
    pub fn write(&mut self, batch: &Batch) -> Result<(), StoreError> {
        if batch.is_empty() {
            return Ok(());
        }
        let written = self.write_batch(batch);
        self.failing.note(&written);
        written
    }

    fn write_batch(&mut self, batch: &Batch) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        write_objects(&tx, batch)?;
        write_audit(&tx, batch)?;
        write_records(&tx, batch)?;
        notices::write(&tx, &batch.notices)?;
        tx.commit()?;
        Ok(())
    }

    /// Every trace waiting for more spans.
    pub fn waiting_traces(&self) -> Result<Vec<WaitingTraceRow>, StoreError> {
        let mut st = self.conn.prepare(
            "SELECT sender, trace_id, first_seen_ms, principal, spans FROM otlp_waiting",
        )?;
        let rows = st.query_map([], |r| {
            Ok(WaitingTraceRow {
                sender: r.get(0)?,
                trace_id: r.get(1)?,
                first_seen_ms: r.get(2)?,
                principal: r.get(3)?,
                spans: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Everything the hub keeps in memory: of the approvals, the open ones
    /// and those decided at or after `decided_since`.
    pub fn load(
        &self,
        audit_tail: usize,
        decided_since: DateTime<Utc>,
    ) -> Result<Loaded, StoreError> {
        let mut loaded = Loaded {
            audit_head: (0, GENESIS_HASH.to_string()),
            ..Loaded::default()
        };
        let mut st = self.conn.prepare("SELECT body FROM incidents")?;
        for body in st.query_map([], |r| r.get::<_, String>(0))? {
            loaded.incidents.push(serde_json::from_str(&body?)?);
        }
        let mut st = self
            .conn
            .prepare("SELECT body FROM approvals WHERE closed_us IS NULL OR closed_us >= ?1")?;
        let since = decided_since.timestamp_micros();
        for body in st.query_map([since], |r| r.get::<_, String>(0))? {
            loaded.approvals.push(serde_json::from_str(&body?)?);
        }
        let mut st = self.conn.prepare("SELECT body FROM controls")?;
        for body in st.query_map([], |r| r.get::<_, String>(0))? {
            loaded.controls.push(serde_json::from_str(&body?)?);
        }
        let mut st = self.conn.prepare("SELECT key, value FROM meta")?;
        for row in st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))? {
            let (k, v) = row?;
            loaded.meta.insert(k, v);
        }
        let mut st = self
            .conn
            .prepare("SELECT agent, url, secret FROM callbacks")?;
        for row in st.query_map([], |r| {
            Ok(CallbackRow {
                agent: r.get(0)?,
                url: r.get(1)?,
                secret: r.get(2)?,
            })
        })? {
            loaded.callbacks.push(row?);
        }
        let mut st = self
            .conn
            .prepare("SELECT at, by, text FROM handoff_notes ORDER BY id")?;
        for row in st.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
            ))
        })? {
            let (at, by, text) = row?;
            let at = DateTime::parse_from_rfc3339(&at)
                .map_err(|e| StoreError(format!("handoff note: bad time {at:?}: {e}")))?
                .with_timezone(&Utc);
            loaded.handoff_notes.push(HandoffNote { by, at, text });
        }
        let mut st = self
            .conn
            .prepare("SELECT agent, body FROM agent_profiles ORDER BY agent")?;
        for row in st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))? {
            let (agent, body) = row?;
            loaded.profiles.push((agent, serde_json::from_str(&body)?));
        }
        let head: Option<(i64, String)> = self
            .conn
            .query_row(
                "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        if let Some((seq, hash)) = head {
            loaded.audit_head = (seq as u64, hash);
            let from = (seq as u64).saturating_sub(audit_tail as u64);
            loaded.audit_tail = self.audit_after(from, audit_tail)?;
        }
        Ok(loaded)
    }

    /// Calls `f` with every journalled event line, in the order they were
    /// accepted, from each request whose newest event is at or after
    /// `since_s` (so a few older events of the same requests come too).
    pub fn for_each_event(&self, since_s: i64, f: impl FnMut(&str)) -> Result<u64, StoreError> {
        journal::for_each_line(&self.conn, since_s, None, f)
    }

    /// Like [`Store::for_each_event`], for the blocks after journal block
    /// `after` only (the events a snapshot at `after` does not hold).
    pub fn for_each_event_after(
        &self,
        after: i64,
        since_s: i64,
        f: impl FnMut(&str),
    ) -> Result<u64, StoreError> {
        journal::for_each_line(&self.conn, since_s, Some(after), f)
    }

    /// The last journal block written: the point a snapshot taken now
    /// includes everything up to.
    pub fn journal_position(&self) -> Result<i64, StoreError> {
        snapshots::position(&self.conn)
    }

    /// Stores an engine snapshot at journal block `journal_id`: on the
    /// maintenance thread once it runs (compressed there, off the lock),
    /// else here. Returns whether it was handed on or stored.
    pub fn save_snapshot(
        &mut self,
        journal_id: i64,
        taken_at_s: i64,
        state: Vec<u8>,
    ) -> Result<bool, StoreError> {
        if let Some(m) = &self.maintenance {
            let job = maintenance::Job::Snapshot {
                journal_id,
                taken_at_s,
                state,
            };
            if m.send(job) {
                return Ok(true);
            }
            return Err(StoreError("storage upkeep has stopped".into()));
        }
        Ok(snapshots::save(&mut self.conn, journal_id, taken_at_s, &state)?.is_some())
    }

    /// The stored engine snapshots, newest first.
    pub fn snapshots(&self) -> Result<Vec<SnapshotRow>, StoreError> {
        snapshots::load(&self.conn)
    }

    /// Journal size: (events, blocks, bytes on disk, bytes of lines).
    pub fn journal_size(&self) -> Result<(u64, u64, u64, u64), StoreError> {
        journal::size(&self.conn)
    }

    /// One compaction pass on this connection (maintenance does this by
    /// itself; tests and benchmarks call it to see its effect now).
    pub fn compact_journal(&mut self, now_s: i64) -> Result<Compacted, StoreError> {
        journal::compact(&mut self.conn, now_s)
    }

    /// Drops journal blocks whose newest event is before `before_s`, all
    /// of them, a chunk at a time (maintenance does this by itself).
    pub fn drop_events_before(&mut self, before_s: i64) -> Result<u64, StoreError> {
        let mut n = 0;
        loop {
            match journal::drop_before(&self.conn, before_s)? {
                0 => return Ok(n),
                k => n += k as u64,
            }
        }
    }

    /// The stored answer to an idempotent request.
    pub fn idempotency(
        &self,
        principal: &str,
        key: &str,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT fingerprint, status, body FROM idempotency WHERE principal = ?1 AND key = ?2",
            )?
            .query_row(params![principal, key], |r| {
                Ok(IdempotencyRecord {
                    principal: principal.to_string(),
                    key: key.to_string(),
                    fingerprint: r.get(0)?,
                    status: r.get(1)?,
                    body: r.get(2)?,
                })
            })
            .optional()?)
    }

    /// Deletes idempotency records older than `before_s`.
    pub fn prune_idempotency(&mut self, before_s: i64) -> Result<usize, StoreError> {
        Ok(self.conn.execute(
            "DELETE FROM idempotency WHERE created_at < ?1",
            params![before_s],
        )?)
    }
}
