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
use super::journal;

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

/// The running maintenance thread; stopped and joined when dropped.
pub struct Maintenance {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Maintenance {
    fn drop(&mut self) {
        drop(self.stop.take());
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
    let (stop, stopped) = mpsc::channel();
    let wal = wal_path(path);
    let thread = std::thread::Builder::new()
        .name("agentdeck-store".into())
        .spawn(move || run(conn, &wal, upkeep, &stopped))
        .map_err(|e| StoreError(format!("cannot start storage upkeep: {e}")))?;
    Ok(Maintenance {
        stop: Some(stop),
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

fn run(mut conn: Connection, wal: &Path, upkeep: Upkeep, stopped: &mpsc::Receiver<()>) {
    let (mut last_compact, mut last_retain) = (Instant::now(), None::<Instant>);
    let (mut checkpoint_fails, mut compact_fails, mut retain_fails) =
        (Failing::default(), Failing::default(), Failing::default());
    loop {
        match stopped.recv_timeout(CHECKPOINT_EVERY) {
            Err(RecvTimeoutError::Timeout) => {}
            _ => return,
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
                let paused = stopped.recv_timeout(RETAIN_PAUSE);
                if n == 0 || !matches!(paused, Err(RecvTimeoutError::Timeout)) {
                    break;
                }
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
