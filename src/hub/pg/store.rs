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
use tokio_postgres::{Client, Transaction};

use crate::hub::audit::GENESIS_HASH;
use crate::hub::store::shared::{
    FailingWrites, approval_columns, control_columns, incident_columns, rfc3339,
};
use crate::hub::store::{
    Batch, CallbackRow, IdempotencyRecord, Loaded, NoticeRow, StoreError, WaitingTraceRow,
};
use crate::model::role::Role;
use crate::model::runbook::HandoffNote;

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

    /// Writes a batch in one transaction.
    pub fn write(&mut self, batch: &Batch) -> Result<(), StoreError> {
        if batch.is_empty() {
            return Ok(());
        }
        let fence = self.fence.as_ref();
        let written = self.run(async |client| {
            let tx = client.transaction().await?;
            if let Some(held) = fence {
                super::active::fence_check(&tx, held).await?;
            }
            write_objects(&tx, batch).await?;
            write_audit(&tx, batch).await?;
            write_records(&tx, batch).await?;
            write_notices(&tx, &batch.notices).await?;
            tx.commit().await?;
            Ok(())
        });
        self.failing.note(&written);
        written
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

/// The events, incidents, approvals and controls of a batch.
async fn write_objects(tx: &Transaction<'_>, batch: &Batch) -> Result<(), StoreError> {
    if let Some(block) = &batch.journal {
        super::journal::insert(tx, block).await?;
    }
    for i in &batch.incidents {
        let (closed_us, search) = incident_columns(i);
        tx.execute(
            "INSERT INTO incidents (id, state, updated_at, body, closed_us, search, agent) VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (id) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at, body = excluded.body,
             closed_us = excluded.closed_us, search = excluded.search, agent = excluded.agent",
            &[
                &i.id,
                &i.state.as_str(),
                &rfc3339(i.updated_at),
                &serde_json::to_string(i)?,
                &closed_us,
                &search,
                &i.agent,
            ],
        )
        .await?;
    }
    for a in &batch.approvals {
        let (closed_us, search) = approval_columns(a);
        tx.execute(
            "INSERT INTO approvals (id, agent, request_id, state, body, closed_us, search) VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (id) DO UPDATE SET state = excluded.state, body = excluded.body,
             closed_us = excluded.closed_us, search = excluded.search",
            &[
                &a.id,
                &a.agent,
                &a.request_id,
                &a.state.as_str(),
                &serde_json::to_string(a)?,
                &closed_us,
                &search,
            ],
        )
        .await?;
    }
    for c in &batch.controls {
        let (closed_us, search) = control_columns(c);
        let state = serde_json::to_value(c.state)?;
        tx.execute(
            "INSERT INTO controls (id, agent, state, body, closed_us, search) VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (id) DO UPDATE SET state = excluded.state, body = excluded.body,
             closed_us = excluded.closed_us, search = excluded.search",
            &[
                &c.id,
                &c.agent,
                &state.as_str().unwrap_or_default(),
                &serde_json::to_string(c)?,
                &closed_us,
                &search,
            ],
        )
        .await?;
    }
    Ok(())
}

/// Inserts one audit entry with the agent it concerns, worked out as the
/// SQLite store does (see `hub::store::audit_reads`): the details' agent,
/// else the agent of the approval, control or incident it is about, else
/// the subject of the actions whose subject is an agent.
const INSERT_AUDIT: &str =
    "INSERT INTO audit (seq, ts, actor, role, action, subject, details, prev_hash, hash, agent)
 VALUES ($1, $2, $3, $4, $5::text, $6::text, $7::text, $8, $9, COALESCE(
    CAST($7::text AS jsonb) ->> 'agent',
    (SELECT agent FROM approvals WHERE id = $6::text),
    (SELECT agent FROM controls WHERE id = $6::text),
    (SELECT agent FROM incidents WHERE id = $6::text),
    CASE WHEN $5::text IN ('agent.registered', 'callback.registered', 'drift.started',
                           'drift.cleared', 'version.changed') THEN $6::text END))";

/// The audit entries of a batch.
async fn write_audit(tx: &Transaction<'_>, batch: &Batch) -> Result<(), StoreError> {
    for e in &batch.audit {
        tx.execute(
            INSERT_AUDIT,
            &[
                &(e.seq as i64),
                &rfc3339(e.ts),
                &e.actor,
                &e.role.map(Role::as_str),
                &e.action,
                &e.subject,
                &serde_json::to_string(&e.details)?,
                &e.prev_hash,
                &e.hash,
            ],
        )
        .await?;
    }
    Ok(())
}

/// The idempotency record, counters, callbacks, profiles, handoff notes
/// and waiting traces of a batch.
async fn write_records(tx: &Transaction<'_>, batch: &Batch) -> Result<(), StoreError> {
    let now = rfc3339(Utc::now());
    if let Some(r) = &batch.idempotency {
        tx.execute(
            "INSERT INTO idempotency (principal, key, fingerprint, status, body, created_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
            &[
                &r.principal,
                &r.key,
                &r.fingerprint,
                &i32::from(r.status),
                &r.body,
                &Utc::now().timestamp(),
            ],
        )
        .await?;
    }
    for (key, value) in &batch.meta {
        tx.execute(
            "INSERT INTO meta (key, value) VALUES ($1, $2)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            &[key, value],
        )
        .await?;
    }
    for c in &batch.callbacks {
        tx.execute(
            "INSERT INTO callbacks (agent, url, secret, updated_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (agent) DO UPDATE SET url = excluded.url, secret = excluded.secret, updated_at = excluded.updated_at",
            &[&c.agent, &c.url, &c.secret, &now],
        )
        .await?;
    }
    for (agent, profile) in &batch.profiles {
        tx.execute(
            "INSERT INTO agent_profiles (agent, body, updated_at) VALUES ($1, $2, $3)
             ON CONFLICT (agent) DO UPDATE SET body = excluded.body, updated_at = excluded.updated_at",
            &[agent, &serde_json::to_string(profile)?, &now],
        )
        .await?;
    }
    for n in &batch.handoff_notes {
        tx.execute(
            r#"INSERT INTO handoff_notes (at, "by", text) VALUES ($1, $2, $3)"#,
            &[&rfc3339(n.at), &n.by, &n.text],
        )
        .await?;
    }
    for w in &batch.traces_waiting {
        tx.execute(
            "INSERT INTO otlp_waiting (sender, trace_id, first_seen_ms, principal, spans) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (sender, trace_id) DO UPDATE SET principal = excluded.principal, spans = excluded.spans",
            &[&w.sender, &w.trace_id, &w.first_seen_ms, &w.principal, &w.spans],
        )
        .await?;
    }
    for (sender, trace_id) in &batch.traces_released {
        tx.execute(
            "DELETE FROM otlp_waiting WHERE sender = $1 AND trace_id = $2",
            &[sender, trace_id],
        )
        .await?;
    }
    Ok(())
}

/// The batch's notifications, whole (insert or update by id).
async fn write_notices(tx: &Transaction<'_>, rows: &[NoticeRow]) -> Result<(), StoreError> {
    for n in rows {
        tx.execute(
            "INSERT INTO notices (id, receiver, grp, event, subject, page_key, body, created_ms, due_ms, attempts, next_ms, state, last_error, done_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
             ON CONFLICT (id) DO UPDATE SET page_key = excluded.page_key, attempts = excluded.attempts,
               next_ms = excluded.next_ms, state = excluded.state, last_error = excluded.last_error, done_ms = excluded.done_ms",
            &[
                &(n.id as i64),
                &n.receiver,
                &n.grp,
                &n.event,
                &n.subject,
                &n.page_key,
                &n.body,
                &n.created_ms,
                &n.due_ms,
                &i32::try_from(n.attempts).unwrap_or(i32::MAX),
                &n.next_ms,
                &n.state.as_str(),
                &n.last_error,
                &n.done_ms,
            ],
        )
        .await?;
    }
    Ok(())
}
