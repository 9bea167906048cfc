//! The hub's store on PostgreSQL: the operations of the SQLite
//! [`Store`](crate::hub::store::Store), with the same meaning, one
//! transaction per [`Batch`].
//!
//! The core is synchronous and calls its store off the async runtime (on
//! the blocking pool), as it does SQLite. So this store drives its
//! connection on a runtime of its own, one thread, only while a call waits
//! for it: the way the synchronous `postgres` crate wraps `tokio-postgres`.
//! A connection that broke (the server restarted, the network dropped it)
//! is opened again by the next call; the call that met the break fails and
//! is reported as a storage failure, like a SQLite write that fails.
//!
//! Reads of history and the audit log are in `reads`; the journal and
//! snapshots in `journal`.

use std::cell::RefCell;

use chrono::{DateTime, Utc};
use tokio_postgres::Client;

use crate::hub::audit::GENESIS_HASH;
use crate::hub::store::shared::FailingWrites;
use crate::hub::store::{
    Batch, CallbackRow, IdempotencyRecord, Loaded, LogFrame, NoticeRow, StoreError, StreamTail,
    WaitingTraceRow,
};
use crate::model::runbook::HandoffNote;
use crate::model::stream::Delta;

use super::PgTarget;

/// The longest one store call may wait for the database.
pub const CALL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// An open PostgreSQL database.
pub struct PgStore {
    target: PgTarget,
    /// Drives the connection while a call waits (see the module's note);
    /// taken by `drop`, which may run on an async thread.
    rt: Option<tokio::runtime::Runtime>,
    /// The connection, opened again after it broke.
    client: RefCell<Option<Client>>,
    failing: FailingWrites,
    /// Journal blocks whose newest event is older than this many seconds
    /// are dropped by [`PgStore::upkeep`]; none without it.
    retain_s: Option<i64>,
    /// The hub lease every write checks first (see `active`).
    fence: Option<super::lease::Held>,
    /// Statements prepared on the connection (see `write`).
    statements: super::write::Statements,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PgStore({})", self.target.shown())
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, StoreError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| StoreError(format!("cannot start the PostgreSQL driver: {e}")))
}

/// Runs `work` to completion on `rt`. On a thread of a multi-threaded
/// runtime (the hub's, where a few core calls happen outside the blocking
/// pool) the thread is first handed back to that runtime's other tasks,
/// which also makes starting `rt` there allowed; on the blocking pool and
/// plain threads it simply waits.
fn wait<F: Future>(rt: &tokio::runtime::Runtime, work: F) -> F::Output {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current() {
        Ok(h) if h.runtime_flavor() == RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(|| rt.block_on(work))
        }
        _ => rt.block_on(work),
    }
}

impl Drop for PgStore {
    fn drop(&mut self) {
        // Dropping a runtime blocks, which an async thread must not do.
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

impl PgStore {
    /// Connects to `target` and brings its schema to this binary's
    /// version (refusing a newer one). Blocking: call it off the runtime.
    pub fn open(target: &PgTarget) -> Result<Self, StoreError> {
        let rt = runtime()?;
        let (client, _) = wait(&rt, target.open())?;
        Ok(Self {
            target: target.clone(),
            rt: Some(rt),
            client: RefCell::new(Some(client)),
            failing: FailingWrites::default(),
            retain_s: None,
            fence: None,
            statements: Default::default(),
        })
    }

    /// Connects to a database the hub has already migrated, for reads
    /// beside the core ([`crate::hub::archive`]).
    pub fn open_reader(target: &PgTarget) -> Result<Self, StoreError> {
        let rt = runtime()?;
        let client = wait(&rt, async {
            let client = target.connect().await?;
            client
                .batch_execute("SET default_transaction_read_only = on")
                .await?;
            Ok::<_, StoreError>(client)
        })?;
        Ok(Self {
            target: target.clone(),
            rt: Some(rt),
            client: RefCell::new(Some(client)),
            failing: FailingWrites::default(),
            retain_s: None,
            fence: None,
            statements: Default::default(),
        })
    }

    /// Keeps the journal's events for `retain_s` seconds (see
    /// [`PgStore::upkeep`]).
    pub fn set_retention(&mut self, retain_s: Option<i64>) {
        self.retain_s = retain_s;
    }

    /// Makes every write check that `held` is still this hub's lease.
    pub fn set_fence(&mut self, held: super::lease::Held) {
        self.fence = Some(held);
    }

    /// How long journal events are kept, in seconds.
    pub fn retention(&self) -> Option<i64> {
        self.retain_s
    }

    /// `user@host:port/database`.
    pub fn shown(&self) -> &str {
        self.target.shown()
    }

    /// Runs `f` on the connection, opening it again first if it broke, and
    /// gives up after [`CALL_TIMEOUT`]: the core's lock is held meanwhile,
    /// and a database that stopped answering must fail requests, not
    /// freeze the hub. A connection given up on is opened afresh next time
    /// (what it was doing is unknown; the server rolls it back).
    pub(super) fn run<T>(
        &self,
        f: impl AsyncFnOnce(&mut Client) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let shown = self.shown();
        let bounded =
            self.run_unbounded(
                async |c| match tokio::time::timeout(CALL_TIMEOUT, f(c)).await {
                    Ok(result) => result,
                    Err(_) => Err(StoreError(format!(
                        "{shown}: PostgreSQL did not answer within {CALL_TIMEOUT:?}"
                    ))),
                },
            );
        if bounded
            .as_ref()
            .is_err_and(|e| e.0.contains("did not answer within"))
        {
            *self.client.borrow_mut() = None;
        }
        bounded
    }

    /// Like [`PgStore::run`] without the time limit, for walks of the whole
    /// journal or audit log (TCP keepalives still end a dead connection).
    pub(super) fn run_unbounded<T>(
        &self,
        f: impl AsyncFnOnce(&mut Client) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let Some(rt) = &self.rt else {
            return Err(StoreError(format!("{}: closed", self.shown())));
        };
        let mut slot = self.client.borrow_mut();
        if slot.as_ref().is_none_or(Client::is_closed) {
            *slot = None;
            self.statements.clear();
            *slot = Some(wait(rt, self.target.connect())?);
        }
        match slot.as_mut() {
            Some(client) => wait(rt, f(client)),
            None => Err(StoreError(format!("{}: not connected", self.shown()))),
        }
    }

    /// Whether the connection is up (a broken one is opened again by the
    /// next call).
    pub fn connected(&self) -> bool {
        self.client
            .borrow()
            .as_ref()
            .is_some_and(|c| !c.is_closed())
    }

    /// Writes a batch in one transaction; returns the stream id the log
    /// gave the first of `batch.log`'s deltas, when it has any.
    pub fn write(&mut self, batch: &Batch) -> Result<Option<u64>, StoreError> {
        if batch.is_empty() {
            return Ok(None);
        }
        let (fence, statements) = (self.fence.as_ref(), &self.statements);
        let written =
            self.run(async |client| super::write::write(client, statements, fence, batch).await);
        self.failing.note(&written);
        written
    }

    /// The stream log's last id and up to `limit` of its newest deltas,
    /// oldest first. The tail starts after any delta whose event this
    /// binary does not know (a resume before that one gets a snapshot).
    pub fn stream_tail(&self, limit: usize) -> Result<StreamTail, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let (head, entries) = self.run(async |c| {
            let head = super::log::head(c).await?;
            Ok((head, super::log::tail(c, limit).await?))
        })?;
        let mut frames = Vec::with_capacity(entries.len());
        for entry in entries {
            let Some(event) = Delta::known_event(&entry.event) else {
                frames.clear();
                continue;
            };
            let id = u64::try_from(entry.id).unwrap_or(0);
            let data = entry.body.into();
            frames.push((id, LogFrame { event, data }));
        }
        Ok(StreamTail {
            head: u64::try_from(head).unwrap_or(0),
            frames,
        })
    }

    /// Since when writes fail and why, or none while they succeed.
    pub fn write_failure(&self) -> Option<&(DateTime<Utc>, String)> {
        self.failing.since()
    }

    /// The database's size in bytes.
    pub fn database_bytes(&self) -> Result<u64, StoreError> {
        self.run(async |c| {
            let row = c
                .query_one("SELECT pg_database_size(current_database())", &[])
                .await?;
            Ok(u64::try_from(row.get::<_, i64>(0)).unwrap_or(0))
        })
    }

    /// Everything the hub keeps in memory: of the approvals, the open ones
    /// and those decided at or after `decided_since`.
    pub fn load(
        &self,
        audit_tail: usize,
        decided_since: DateTime<Utc>,
    ) -> Result<Loaded, StoreError> {
        let mut loaded = self.run(async |c| load(c, decided_since).await)?;
        let head = self.run(async |c| {
            Ok(
                c.query_opt("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1", &[])
                    .await?
                    .map(|r| (r.get::<_, i64>(0), r.get::<_, String>(1))),
            )
        })?;
        if let Some((seq, hash)) = head {
            loaded.audit_head = (seq as u64, hash);
            let from = (seq as u64).saturating_sub(audit_tail as u64);
            loaded.audit_tail = self.audit_after(from, audit_tail)?;
        }
        Ok(loaded)
    }

    /// Every trace waiting for more spans.
    pub fn waiting_traces(&self) -> Result<Vec<WaitingTraceRow>, StoreError> {
        self.run(async |c| {
            let rows = c
                .query(
                    "SELECT sender, trace_id, first_seen_ms, principal, spans FROM otlp_waiting",
                    &[],
                )
                .await?;
            Ok(rows
                .iter()
                .map(|r| WaitingTraceRow {
                    sender: r.get(0),
                    trace_id: r.get(1),
                    first_seen_ms: r.get(2),
                    principal: r.get(3),
                    spans: r.get(4),
                })
                .collect())
        })
    }

    /// The stored answer to an idempotent request.
    pub fn idempotency(
        &self,
        principal: &str,
        key: &str,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        self.run(async |c| {
            let row = c
                .query_opt(
                    "SELECT fingerprint, status, body FROM idempotency WHERE principal = $1 AND key = $2",
                    &[&principal, &key],
                )
                .await?;
            Ok(row.map(|r| IdempotencyRecord {
                principal: principal.to_string(),
                key: key.to_string(),
                fingerprint: r.get(0),
                status: u16::try_from(r.get::<_, i32>(1)).unwrap_or(500),
                body: r.get(2),
            }))
        })
    }

    /// Deletes idempotency records older than `before_s`.
    pub fn prune_idempotency(&mut self, before_s: i64) -> Result<usize, StoreError> {
        self.run(async |c| {
            let n = c
                .execute(
                    "DELETE FROM idempotency WHERE created_at < $1",
                    &[&before_s],
                )
                .await?;
            Ok(n as usize)
        })
    }

    /// Pending notifications, and those finished since `since_ms`, oldest
    /// first.
    pub fn notices_since(&self, since_ms: i64) -> Result<Vec<NoticeRow>, StoreError> {
        self.run(async |c| {
            let rows = c
                .query(
                    "SELECT id, receiver, grp, event, subject, page_key, body, created_ms, due_ms, attempts, next_ms, state, last_error, done_ms
                     FROM notices WHERE state = 'pending' OR created_ms >= $1 ORDER BY id",
                    &[&since_ms],
                )
                .await?;
            Ok(rows
                .iter()
                .map(|r| NoticeRow {
                    id: r.get::<_, i64>(0) as u64,
                    receiver: r.get(1),
                    grp: r.get(2),
                    event: r.get(3),
                    subject: r.get(4),
                    page_key: r.get(5),
                    body: r.get(6),
                    created_ms: r.get(7),
                    due_ms: r.get(8),
                    attempts: u32::try_from(r.get::<_, i32>(9)).unwrap_or(0),
                    next_ms: r.get(10),
                    state: crate::hub::store::NoticeState::parse(r.get(11)),
                    last_error: r.get(12),
                    done_ms: r.get(13),
                })
                .collect())
        })
    }

    /// The highest notification id ever used (0 for none).
    pub fn max_notice_id(&self) -> Result<u64, StoreError> {
        self.run(async |c| {
            let row = c
                .query_one("SELECT coalesce(max(id), 0) FROM notices", &[])
                .await?;
            Ok(row.get::<_, i64>(0) as u64)
        })
    }

    /// Drops finished notifications created before `before_ms`.
    pub fn prune_notices(&mut self, before_ms: i64) -> Result<usize, StoreError> {
        self.run(async |c| {
            let n = c
                .execute(
                    "DELETE FROM notices WHERE state != 'pending' AND created_ms < $1",
                    &[&before_ms],
                )
                .await?;
            Ok(n as usize)
        })
    }
}

async fn load(c: &Client, decided_since: DateTime<Utc>) -> Result<Loaded, StoreError> {
    let mut loaded = Loaded {
        audit_head: (0, GENESIS_HASH.to_string()),
        ..Loaded::default()
    };
    for r in c.query("SELECT body FROM incidents", &[]).await? {
        loaded.incidents.push(serde_json::from_str(r.get(0))?);
    }
    let since = decided_since.timestamp_micros();
    for r in c
        .query(
            "SELECT body FROM approvals WHERE closed_us IS NULL OR closed_us >= $1",
            &[&since],
        )
        .await?
    {
        loaded.approvals.push(serde_json::from_str(r.get(0))?);
    }
    for r in c.query("SELECT body FROM controls", &[]).await? {
        loaded.controls.push(serde_json::from_str(r.get(0))?);
    }
    for r in c.query("SELECT key, value FROM meta", &[]).await? {
        loaded.meta.insert(r.get(0), r.get(1));
    }
    for r in c
        .query("SELECT agent, url, secret FROM callbacks", &[])
        .await?
    {
        loaded.callbacks.push(CallbackRow {
            agent: r.get(0),
            url: r.get(1),
            secret: r.get(2),
        });
    }
    for r in c
        .query(
            r#"SELECT at, "by", text FROM handoff_notes ORDER BY id"#,
            &[],
        )
        .await?
    {
        let at: &str = r.get(0);
        let at = DateTime::parse_from_rfc3339(at)
            .map_err(|e| StoreError(format!("handoff note: bad time {at:?}: {e}")))?
            .with_timezone(&Utc);
        loaded.handoff_notes.push(HandoffNote {
            by: r.get(1),
            at,
            text: r.get(2),
        });
    }
    for r in c
        .query("SELECT agent, body FROM agent_profiles ORDER BY agent", &[])
        .await?
    {
        loaded
            .profiles
            .push((r.get(0), serde_json::from_str(r.get(1))?));
    }
    Ok(loaded)
}
