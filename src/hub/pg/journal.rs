//! The event journal and engine snapshots on PostgreSQL, in the SQLite
//! store's format (see `hub::store::journal` and `hub::store::snapshots`):
//! one zstd block per request, snapshots naming the last block they hold.
//!
//! Block ids come from a sequence. Blocks are not compacted here: a
//! request's block is already compressed whole, and PostgreSQL's own TOAST
//! storage keeps small rows cheap; retention drops whole blocks past the
//! window, never the newest, so ids keep growing.

use futures_util::{TryStreamExt, pin_mut};

use crate::hub::store::shared::{SNAPSHOT_LEVEL, SNAPSHOTS_KEPT, inflate, unpack};
use crate::hub::store::{SnapshotRow, StoreError};

use super::store::PgStore;

/// Blocks deleted per retention statement, so a write never waits long
/// behind one.
const DROP_CHUNK: i64 = 256;

impl PgStore {
    /// Calls `f` with every journalled line of the blocks whose newest
    /// event is at or after `since_s`, in the order they were accepted.
    pub fn for_each_event(&self, since_s: i64, f: impl FnMut(&str)) -> Result<u64, StoreError> {
        self.for_each_line(since_s, i64::MIN, f)
    }

    /// Like [`PgStore::for_each_event`], for the blocks after `after`.
    pub fn for_each_event_after(
        &self,
        after: i64,
        since_s: i64,
        f: impl FnMut(&str),
    ) -> Result<u64, StoreError> {
        self.for_each_line(since_s, after, f)
    }

    fn for_each_line(
        &self,
        since_s: i64,
        after: i64,
        mut f: impl FnMut(&str),
    ) -> Result<u64, StoreError> {
        self.run_unbounded(async |c| {
            // Streamed, not collected: a week of blocks is read one row at
            // a time.
            let rows = c
                .query_raw(
                    "SELECT id, bytes, body FROM journal WHERE newest_ts >= $1 AND id > $2 ORDER BY id",
                    [&since_s, &after],
                )
                .await?;
            pin_mut!(rows);
            let (mut n, mut text) = (0, Vec::new());
            while let Some(row) = rows.try_next().await? {
                let id: i64 = row.get(0);
                let bytes = u64::try_from(row.get::<_, i64>(1)).unwrap_or(0);
                unpack(id, row.get(2), bytes, &mut text)?;
                let text = std::str::from_utf8(&text)
                    .map_err(|e| StoreError(format!("journal block {id} is corrupt: {e}")))?;
                for line in text.split('\n') {
                    f(line);
                    n += 1;
                }
            }
            Ok(n)
        })
    }

    /// The last journal block written: what a snapshot taken now includes.
    pub fn journal_position(&self) -> Result<i64, StoreError> {
        self.run(async |c| {
            Ok(c.query_one("SELECT coalesce(max(id), 0) FROM journal", &[])
                .await?
                .get(0))
        })
    }

    /// Stores an engine snapshot at journal block `journal_id`, keeping
    /// the newest two. Returns whether it was stored.
    pub fn save_snapshot(
        &mut self,
        journal_id: i64,
        taken_at_s: i64,
        state: Vec<u8>,
    ) -> Result<bool, StoreError> {
        let body = zstd::bulk::compress(&state, SNAPSHOT_LEVEL)
            .map_err(|e| StoreError(format!("cannot compress a snapshot: {e}")))?;
        self.run(async |c| {
            let tx = c.transaction().await?;
            tx.execute(
                "INSERT INTO engine_snapshots (journal_id, taken_at, bytes, body) VALUES ($1, $2, $3, $4)",
                &[&journal_id, &taken_at_s, &(state.len() as i64), &body],
            )
            .await?;
            tx.execute(
                "DELETE FROM engine_snapshots WHERE id NOT IN (SELECT id FROM engine_snapshots ORDER BY id DESC LIMIT $1)",
                &[&SNAPSHOTS_KEPT],
            )
            .await?;
            tx.commit().await?;
            Ok(true)
        })
    }

    /// The stored snapshots, newest first, inflated; one that does not
    /// inflate to its recorded size is skipped with a warning.
    pub fn snapshots(&self) -> Result<Vec<SnapshotRow>, StoreError> {
        let rows = self.run(async |c| {
            Ok(c.query(
                "SELECT id, journal_id, taken_at, bytes, body FROM engine_snapshots ORDER BY id DESC",
                &[],
            )
            .await?)
        })?;
        let mut out = Vec::new();
        for row in rows {
            let id: i64 = row.get(0);
            let bytes = u64::try_from(row.get::<_, i64>(3)).unwrap_or(0);
            match inflate(row.get(4), bytes) {
                Ok(state) => out.push(SnapshotRow {
                    journal_id: row.get(1),
                    taken_at_s: row.get(2),
                    state,
                }),
                Err(why) => tracing::warn!(id, %why, "an engine snapshot was skipped"),
            }
        }
        Ok(out)
    }

    /// Drops journal blocks whose newest event is before `before_s`, a
    /// chunk at a time, never the newest block (its id bounds the next).
    pub fn drop_events_before(&mut self, before_s: i64) -> Result<u64, StoreError> {
        let mut dropped = 0;
        loop {
            let n = self.run(async |c| {
                Ok(c.execute(
                    "DELETE FROM journal WHERE id IN (
                       SELECT id FROM journal WHERE newest_ts < $1
                       AND id < (SELECT max(id) FROM journal) ORDER BY id LIMIT $2)",
                    &[&before_s, &DROP_CHUNK],
                )
                .await?)
            })?;
            if n == 0 {
                return Ok(dropped);
            }
            dropped += n;
        }
    }
}
