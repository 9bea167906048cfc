//! Engine snapshots: the folded state of the engine and the drill-down at
//! one point of the journal, so a restart folds only the blocks after it.
//!
//! A snapshot names the last journal block it includes, and a restart
//! folds the blocks with a greater id. That holds because block ids only
//! grow: compaction merges a run of blocks under the last one's id (so
//! the newest id is never deleted), and retention always keeps the newest
//! block, so SQLite's next rowid (the greatest plus one) is never an id
//! handed out before.
//!
//! A merge across a snapshot's block would fold some of its events twice.
//! Two checks, each inside a write transaction, keep the two apart
//! whichever commits first: compaction never merges across a stored
//! snapshot's block ([`crosses`]), and a snapshot is not stored at a block
//! that a merge has already crossed (`first_id`, recorded by compaction:
//! the first block a merged block holds).

use std::io::Read;

use rusqlite::{Connection, OptionalExtension, params};

use super::StoreError;
use super::journal::MAX_BLOCK_BYTES;

pub(super) const MIGRATION: &str = r#"
ALTER TABLE journal ADD COLUMN first_id INTEGER;
CREATE TABLE engine_snapshots (id INTEGER PRIMARY KEY, journal_id INTEGER NOT NULL, taken_at INTEGER NOT NULL, bytes INTEGER NOT NULL, body BLOB NOT NULL);
"#;

/// Snapshots kept: the newest, and the one before in case the newest
/// cannot be read.
pub(crate) const KEEP: i64 = 2;
/// zstd level: the state is mostly small integers, and this runs off the
/// request path.
pub(crate) const LEVEL: i32 = 3;

/// A stored snapshot, inflated.
pub struct SnapshotRow {
    /// The last journal block it includes.
    pub journal_id: i64,
    /// When it was taken, Unix seconds.
    pub taken_at_s: i64,
    /// The state.
    pub state: Vec<u8>,
}

/// The last journal block written: what a snapshot taken now includes.
pub(super) fn position(conn: &Connection) -> Result<i64, StoreError> {
    Ok(conn.query_row("SELECT coalesce(max(id), 0) FROM journal", [], |r| r.get(0))?)
}

/// Stores `state` as the snapshot at journal block `journal_id`, unless
/// compaction merged blocks across it meanwhile; returns the compressed
/// size, or `None` when it was not stored for that reason.
pub(super) fn save(
    conn: &mut Connection,
    journal_id: i64,
    taken_at_s: i64,
    state: &[u8],
) -> Result<Option<usize>, StoreError> {
    let body = zstd::bulk::compress(state, LEVEL)
        .map_err(|e| StoreError(format!("cannot compress a snapshot: {e}")))?;
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let merged_across: bool = tx.query_row(
        "SELECT EXISTS (SELECT 1 FROM journal WHERE id > ?1 AND first_id <= ?1)",
        params![journal_id],
        |r| r.get(0),
    )?;
    if merged_across {
        return Ok(None);
    }
    tx.execute(
        "INSERT INTO engine_snapshots (journal_id, taken_at, bytes, body) VALUES (?1, ?2, ?3, ?4)",
        params![journal_id, taken_at_s, state.len() as i64, body],
    )?;
    tx.execute(
        "DELETE FROM engine_snapshots WHERE id NOT IN (SELECT id FROM engine_snapshots ORDER BY id DESC LIMIT ?1)",
        params![KEEP],
    )?;
    tx.commit()?;
    Ok(Some(body.len()))
}

/// The stored snapshots, newest first, inflated; one that does not inflate
/// to its recorded size is skipped with a warning.
pub(super) fn load(conn: &Connection) -> Result<Vec<SnapshotRow>, StoreError> {
    let mut st = conn.prepare(
        "SELECT id, journal_id, taken_at, bytes, body FROM engine_snapshots ORDER BY id DESC",
    )?;
    let mut rows = st.query([])?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        let id: i64 = row.get(0)?;
        let bytes = u64::try_from(row.get::<_, i64>(3)?).unwrap_or(0);
        match inflate(row.get_ref(4)?.as_blob()?, bytes) {
            Ok(state) => out.push(SnapshotRow {
                journal_id: row.get(1)?,
                taken_at_s: row.get(2)?,
                state,
            }),
            Err(why) => tracing::warn!(id, %why, "an engine snapshot was skipped"),
        }
    }
    Ok(out)
}

pub(crate) fn inflate(body: &[u8], bytes: u64) -> Result<Vec<u8>, String> {
    let limit = bytes.min(MAX_BLOCK_BYTES);
    let mut out = Vec::new();
    zstd::stream::read::Decoder::with_buffer(body)
        .map_err(|e| e.to_string())?
        .take(limit + 1)
        .read_to_end(&mut out)
        .map_err(|e| e.to_string())?;
    if out.len() as u64 != bytes {
        return Err(format!(
            "it inflates to {} bytes, not the {bytes} recorded",
            out.len()
        ));
    }
    Ok(out)
}

/// The journal blocks snapshots end at, ascending: compaction does not
/// merge across them.
pub(super) fn boundaries(conn: &Connection) -> Result<Vec<i64>, StoreError> {
    let mut st =
        conn.prepare_cached("SELECT journal_id FROM engine_snapshots ORDER BY journal_id")?;
    let ids = st
        .query_map([], |r| r.get(0))?
        .collect::<Result<Vec<i64>, _>>()?;
    Ok(ids)
}

/// Whether merging blocks `first..=last` would cross a snapshot's block.
pub(super) fn crosses(conn: &Connection, first: i64, last: i64) -> Result<bool, StoreError> {
    Ok(conn
        .query_row(
            "SELECT 1 FROM engine_snapshots WHERE journal_id >= ?1 AND journal_id < ?2 LIMIT 1",
            params![first, last],
            |_| Ok(()),
        )
        .optional()?
        .is_some())
}
