//! Storage upkeep off the request path, on a thread with its own
//! connection: WAL checkpoints, journal compaction and retention.
//!
//! SQLite's automatic checkpoint runs inside whichever commit crosses the
//! threshold, so a request held the core's lock for 16–26 ms every eighth
//! batch or so, half of it waiting for `fsync`. With maintenance running,
//! the hub's connection never checkpoints: this thread runs a `PASSIVE`
//! checkpoint every [`CHECKPOINT_EVERY`] (which never blocks the writer)
//! and a `RESTART` once the WAL passes [`WAL_RESTART_BYTES`], so the file
//! starts over instead of growing under sustained writes.
//!
//! Compaction and retention write in short transactions of their own (the
//! compressing happens before the transaction), so ingest waits for them
//! at most a few milliseconds.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::Connection;

use super::StoreError;
use super::{journal, snapshots};

/// How often the WAL is checkpointed.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(200);
/// WAL size past which the checkpoint restarts the log.
pub const WAL_RESTART_BYTES: u64 = 64 << 20;
/// How often small journal blocks are looked for.
const COMPACT_EVERY: Duration = Duration::from_secs(2);
/// How often old journal blocks are looked for.
const RETAIN_EVERY: Duration = Duration::from_secs(60);
/// Pause between retention chunks, so a large backlog is dropped without
/// holding the write lock for long.
const RETAIN_PAUSE: Duration = Duration::from_millis(20);

/// What maintenance keeps and how often it works.
#[derive(Debug, Clone, Copy)]
pub struct Upkeep {
    /// Events older than this are dropped from the journal.
    pub retain: Duration,
}

/// Work handed to the maintenance thread.
pub(super) enum Job {
    /// Store an engine snapshot (compressing it here, off the request path).
    Snapshot {
        journal_id: i64,
        taken_at_s: i64,
        state: Vec<u8>,
    },
}

/// The running maintenance thread; stopped and joined when dropped, after
/// the jobs already handed to it.
pub struct Maintenance {
    jobs: Option<mpsc::Sender<Job>>,
    thread: Option<JoinHandle<()>>,
}

impl Maintenance {
    /// Hands `job` to the thread; false when it has stopped.
    pub(super) fn send(&self, job: Job) -> bool {
        self.jobs.as_ref().is_some_and(|j| j.send(job).is_ok())
    }
}

impl Drop for Maintenance {
    fn drop(&mut self) {
        drop(self.jobs.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Starts maintenance of the database at `path`.
pub fn start(path: &Path, upkeep: Upkeep) -> Result<Maintenance, StoreError> {
    let conn = Connection::open(path)
        .map_err(|e| StoreError(format!("cannot open {} for upkeep: {e}", path.display())))?;
    conn.busy_timeout(Duration::from_secs(5))?;
    let (jobs, received) = mpsc::channel();
    let wal = wal_path(path);
    let thread = std::thread::Builder::new()
        .name("agentdeck-store".into())
        .spawn(move || run(conn, &wal, upkeep, &received))
        .map_err(|e| StoreError(format!("cannot start storage upkeep: {e}")))?;
    Ok(Maintenance {
        jobs: Some(jobs),
        thread: Some(thread),
    })
}

fn wal_path(db: &Path) -> PathBuf {
    let mut s = db.as_os_str().to_owned();
    s.push("-wal");
    PathBuf::from(s)
}

/// Logs a failure once until the same job succeeds again.
#[derive(Default)]
struct Failing(Option<String>);

impl Failing {
    fn note<T>(&mut self, job: &str, result: Result<T, StoreError>) -> Option<T> {
        match result {
            Ok(v) => {
                if self.0.take().is_some() {
                    tracing::info!(job, "storage upkeep works again");
                }
                Some(v)
            }
            Err(e) => {
                if self.0.is_none() {
                    tracing::warn!(job, error = %e, "storage upkeep failed; retrying");
                }
                self.0 = Some(e.0);
                None
            }
        }
    }
}

fn run(mut conn: Connection, wal: &Path, upkeep: Upkeep, received: &mpsc::Receiver<Job>) {
    let (mut last_compact, mut last_retain) = (Instant::now(), None::<Instant>);
    let (mut checkpoint_fails, mut compact_fails, mut retain_fails) =
        (Failing::default(), Failing::default(), Failing::default());
    loop {
        match received.recv_timeout(CHECKPOINT_EVERY) {
            Ok(job) => do_job(&mut conn, job),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
        checkpoint_fails.note("checkpoint", checkpoint(&conn, wal));
        if last_compact.elapsed() >= COMPACT_EVERY {
            last_compact = Instant::now();
            // Several runs may be waiting after a restart: work through
            // them, one short transaction each.
            for _ in 0..64 {
                let now = chrono::Utc::now().timestamp();
                match compact_fails.note("compaction", journal::compact(&mut conn, now)) {
                    Some(c) if c.blocks > 0 => {}
                    _ => break,
                }
            }
        }
        if last_retain.is_none_or(|t| t.elapsed() >= RETAIN_EVERY) {
            last_retain = Some(Instant::now());
            let window = i64::try_from(upkeep.retain.as_secs()).unwrap_or(i64::MAX);
            let before = chrono::Utc::now().timestamp().saturating_sub(window);
            while let Some(n) = retain_fails.note("retention", journal::drop_before(&conn, before))
            {
                if n == 0 {
                    break;
                }
                match received.recv_timeout(RETAIN_PAUSE) {
                    Ok(job) => do_job(&mut conn, job),
                    Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => break,
                }
            }
        }
    }
}

fn do_job(conn: &mut Connection, job: Job) {
    match job {
        Job::Snapshot {
            journal_id,
            taken_at_s,
            state,
        } => {
            let started = Instant::now();
            match snapshots::save(conn, journal_id, taken_at_s, &state) {
                Ok(Some(stored)) => tracing::info!(
                    journal_id,
                    state_bytes = state.len(),
                    stored_bytes = stored,
                    ms = started.elapsed().as_millis() as u64,
                    "engine snapshot stored"
                ),
                Ok(None) => tracing::info!(
                    journal_id,
                    "engine snapshot not stored: the journal was compacted across it; the next one will be"
                ),
                Err(e) => tracing::warn!(error = %e, "engine snapshot not stored"),
            }
        }
    }
}

/// A passive checkpoint, and a restarting one once the WAL is large.
fn checkpoint(conn: &Connection, wal: &Path) -> Result<(), StoreError> {
    let size = std::fs::metadata(wal).map(|m| m.len()).unwrap_or(0);
    let mode = if size > WAL_RESTART_BYTES {
        "RESTART"
    } else {
        "PASSIVE"
    };
    conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |_| Ok(()))?;
    Ok(())
}
