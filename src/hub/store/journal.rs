//! The event journal: every accepted event line, kept so that a restarted
//! hub rebuilds its SLO windows and `replay` can read a hub's history.
//!
//! Events are stored a request at a time: one row (a *block*) holds the
//! request's lines joined by `\n`, compressed as one zstd frame. One row
//! per request instead of one per event makes the write one statement and
//! keeps the index small; compressing a block of similar JSON lines takes
//! them from about 500 bytes to well under 100. zstd is the field's choice
//! for this: it decompresses at memory speed (so replaying a week is bound
//! by decoding JSON, not by inflating) and its fast levels compress a
//! 1,000-event block in about a millisecond.
//!
//! Small requests compress poorly on their own, so a background pass
//! ([`compact`]) merges runs of consecutive small blocks into one, keeping
//! their order. Retention ([`drop_before`]) deletes whole blocks whose
//! newest event is past the window, a few at a time.
//!
//! Databases written before blocks existed keep their `events` table (one
//! plain row per event); it is read before the blocks, which are all newer,
//! and dropped by retention like them.

use std::io::Read;

use rusqlite::{Connection, params};

use super::StoreError;
use super::snapshots;

/// zstd level for blocks written on the request path: fast, and within a
/// few percent of level 3's size on JSON lines.
const REQUEST_LEVEL: i32 = 1;
/// zstd level for compacted blocks, written off the request path.
const COMPACT_LEVEL: i32 = 6;
/// Blocks with fewer events are merged with their neighbours.
pub const SMALL_BLOCK_EVENTS: u32 = 512;
/// A compacted block holds at most this many events…
const COMPACT_MAX_EVENTS: u32 = 8192;
/// …and this many bytes of lines.
const COMPACT_MAX_BYTES: u64 = 4 << 20;
/// A run of small blocks is merged once it holds this many events, or once
/// its newest block is [`COMPACT_AFTER_S`] old, so a slow trickle is
/// compacted too.
const COMPACT_MIN_EVENTS: u32 = 1024;
/// See [`COMPACT_MIN_EVENTS`].
const COMPACT_AFTER_S: i64 = 300;
/// The most a block may inflate to when read back: a corrupt or hostile
/// file cannot make a read allocate more than its recorded size, and never
/// more than this.
pub const MAX_BLOCK_BYTES: u64 = 1 << 30;
/// Rows deleted per retention transaction, so ingest never waits long.
const DROP_CHUNK: usize = 256;

/// One request's accepted events, packed for the journal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    /// The oldest event time in the block, Unix seconds.
    pub oldest_ts: i64,
    /// The newest event time, Unix seconds: retention drops the block once
    /// this is past the window.
    pub newest_ts: i64,
    /// Events in the block.
    pub events: u32,
    /// Bytes of the lines joined by `\n`, before compression.
    pub bytes: u64,
    /// The lines, one zstd frame.
    pub body: Vec<u8>,
}

impl Block {
    /// Packs `(event time, line)` pairs, in order; `None` when there are
    /// none. Lines hold no `\n` (they are NDJSON lines or compact JSON).
    pub fn pack<'a>(
        lines: impl IntoIterator<Item = (i64, &'a str)>,
    ) -> Result<Option<Self>, StoreError> {
        let level = REQUEST_LEVEL;
        let mut text = Vec::new();
        let (mut oldest_ts, mut newest_ts, mut events) = (i64::MAX, i64::MIN, 0u32);
        for (ts, line) in lines {
            if events > 0 {
                text.push(b'\n');
            }
            text.extend_from_slice(line.as_bytes());
            oldest_ts = oldest_ts.min(ts);
            newest_ts = newest_ts.max(ts);
            events += 1;
        }
        if events == 0 {
            return Ok(None);
        }
        Ok(Some(Self {
            oldest_ts,
            newest_ts,
            events,
            bytes: text.len() as u64,
            body: compress(&text, level)?,
        }))
    }

    /// Writes the block as a new row, after every row written before.
    pub(super) fn insert(&self, conn: &Connection) -> Result<(), StoreError> {
        conn.prepare_cached(
            "INSERT INTO journal (oldest_ts, newest_ts, events, bytes, body) VALUES (?1, ?2, ?3, ?4, ?5)",
        )?
        .execute(params![
            self.oldest_ts,
            self.newest_ts,
            self.events,
            self.bytes as i64,
            self.body
        ])?;
        Ok(())
    }
}

fn compress(text: &[u8], level: i32) -> Result<Vec<u8>, StoreError> {
    zstd::bulk::compress(text, level)
        .map_err(|e| StoreError(format!("cannot compress a journal block: {e}")))
}

/// Inflates a block's body into `out` (cleared first), refusing one that
/// inflates past its recorded size.
pub(crate) fn unpack(
    id: i64,
    body: &[u8],
    bytes: u64,
    out: &mut Vec<u8>,
) -> Result<(), StoreError> {
    out.clear();
    let limit = bytes.min(MAX_BLOCK_BYTES);
    let corrupt = |why: String| StoreError(format!("journal block {id} is corrupt: {why}"));
    let decoder =
        zstd::stream::read::Decoder::with_buffer(body).map_err(|e| corrupt(e.to_string()))?;
    decoder
        .take(limit + 1)
        .read_to_end(out)
        .map_err(|e| corrupt(e.to_string()))?;
    if out.len() as u64 != bytes {
        return Err(corrupt(format!(
            "it inflates to {} bytes, not the {bytes} recorded",
            out.len()
        )));
    }
    Ok(())
}

/// Calls `f` with every journalled line in a block whose newest event is
/// at or after `since_s` (and every legacy row at or after it), in the
/// order they were accepted. With `after`, only blocks after that one are
/// read, and no legacy row (they all precede the first block). Returns the
/// lines read.
pub(super) fn for_each_line(
    conn: &Connection,
    since_s: i64,
    after: Option<i64>,
    mut f: impl FnMut(&str),
) -> Result<u64, StoreError> {
    let mut n = 0;
    if after.is_none() {
        let mut st = conn.prepare("SELECT line FROM events WHERE ts >= ?1 ORDER BY id")?;
        let mut rows = st.query(params![since_s])?;
        while let Some(row) = rows.next()? {
            f(row.get_ref(0)?.as_str()?);
            n += 1;
        }
    }
    let mut st = conn.prepare(
        "SELECT id, bytes, body FROM journal WHERE newest_ts >= ?1 AND id > ?2 ORDER BY id",
    )?;
    let mut rows = st.query(params![since_s, after.unwrap_or(i64::MIN)])?;
    let mut text = Vec::new();
    while let Some(row) = rows.next()? {
        let id: i64 = row.get(0)?;
        let bytes = u64::try_from(row.get::<_, i64>(1)?).unwrap_or(0);
        unpack(id, row.get_ref(2)?.as_blob()?, bytes, &mut text)?;
        let text = std::str::from_utf8(&text)
            .map_err(|e| StoreError(format!("journal block {id} is corrupt: {e}")))?;
        for line in text.split('\n') {
            f(line);
            n += 1;
        }
    }
    Ok(n)
}

/// What one compaction pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Compacted {
    /// Blocks merged away.
    pub blocks: u64,
    /// Events in them.
    pub events: u64,
}

/// A run of consecutive small blocks worth merging, found by [`small_run`].
struct Run {
    ids: Vec<i64>,
    events: u32,
}

/// The oldest run of at least two consecutive small blocks that is big or
/// old enough to merge, within the compaction bounds.
fn small_run(conn: &Connection, now_s: i64) -> Result<Option<Run>, StoreError> {
    let boundaries = snapshots::boundaries(conn)?;
    // A snapshot ends at block `b`: blocks up to it and after it never
    // share a run (see `snapshots`).
    let split = |before: Option<&i64>, id: i64| {
        before.is_some_and(|&prev| boundaries.iter().any(|&b| prev <= b && b < id))
    };
    let mut st = conn.prepare_cached(
        "SELECT id, events, bytes, newest_ts FROM journal WHERE id > ?1 ORDER BY id LIMIT 4096",
    )?;
    let mut after = 0i64;
    loop {
        let rows: Vec<(i64, u32, u64, i64)> = st
            .query_map(params![after], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get::<_, i64>(2)? as u64, r.get(3)?))
            })?
            .collect::<Result<_, _>>()?;
        let Some(last) = rows.last() else {
            return Ok(None);
        };
        after = last.0;
        let mut run = Run {
            ids: Vec::new(),
            events: 0,
        };
        let (mut bytes, mut newest) = (0u64, i64::MIN);
        for &(id, events, size, newest_ts) in &rows {
            let fits =
                run.events + events <= COMPACT_MAX_EVENTS && bytes + size <= COMPACT_MAX_BYTES;
            if events >= SMALL_BLOCK_EVENTS || !fits || split(run.ids.last(), id) {
                if ready(&run, newest, now_s) {
                    return Ok(Some(run));
                }
                run.ids.clear();
                (run.events, bytes, newest) = (0, 0, i64::MIN);
                if events >= SMALL_BLOCK_EVENTS {
                    continue;
                }
            }
            run.ids.push(id);
            run.events += events;
            bytes += size;
            newest = newest.max(newest_ts);
        }
        if ready(&run, newest, now_s) {
            return Ok(Some(run));
        }
        if rows.len() < 4096 {
            return Ok(None);
        }
    }
}

fn ready(run: &Run, newest: i64, now_s: i64) -> bool {
    run.ids.len() >= 2 && (run.events >= COMPACT_MIN_EVENTS || now_s - newest >= COMPACT_AFTER_S)
}

/// Merges the oldest run of small blocks into one (see the module's
/// comment). The merged block takes the last block's id, so order is
/// kept and the newest id is never deleted (snapshots rely on ids only
/// growing, see `snapshots`); the lines are read and compressed before the write transaction,
/// which only swaps the rows and checks none changed meanwhile.
pub fn compact(conn: &mut Connection, now_s: i64) -> Result<Compacted, StoreError> {
    let Some(run) = small_run(conn, now_s)? else {
        return Ok(Compacted::default());
    };
    let (first, last) = (run.ids[0], run.ids[run.ids.len() - 1]);
    // The blocks' texts joined by `\n` are the merged block's text.
    let mut merged = Vec::new();
    let (mut oldest_ts, mut newest_ts, mut events) = (i64::MAX, i64::MIN, 0u32);
    // The first block merged in, counting those an earlier merge holds.
    let mut first_id = first;
    {
        let mut st = conn.prepare(
            "SELECT id, oldest_ts, newest_ts, events, bytes, body, first_id FROM journal WHERE id BETWEEN ?1 AND ?2 ORDER BY id",
        )?;
        let mut rows = st.query(params![first, last])?;
        let mut text = Vec::new();
        while let Some(row) = rows.next()? {
            let id: i64 = row.get(0)?;
            oldest_ts = oldest_ts.min(row.get(1)?);
            newest_ts = newest_ts.max(row.get(2)?);
            events += row.get::<_, u32>(3)?;
            first_id = first_id.min(row.get::<_, Option<i64>>(6)?.unwrap_or(id));
            let bytes = u64::try_from(row.get::<_, i64>(4)?).unwrap_or(0);
            unpack(id, row.get_ref(5)?.as_blob()?, bytes, &mut text)?;
            if !merged.is_empty() {
                merged.push(b'\n');
            }
            merged.extend_from_slice(&text);
        }
    }
    let block = Block {
        oldest_ts,
        newest_ts,
        events,
        bytes: merged.len() as u64,
        body: compress(&merged, COMPACT_LEVEL)?,
    };
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    if snapshots::crosses(&tx, first_id, last)? {
        // A snapshot was stored at a block inside the run meanwhile.
        return Ok(Compacted::default());
    }
    let deleted = tx.execute(
        "DELETE FROM journal WHERE id BETWEEN ?1 AND ?2",
        params![first, last],
    )?;
    if deleted != run.ids.len() {
        // Retention ran in between (another process on the same file):
        // leave the rows as they were and try again later.
        return Ok(Compacted::default());
    }
    tx.prepare_cached(
        "INSERT INTO journal (id, oldest_ts, newest_ts, events, bytes, body, first_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        last,
        block.oldest_ts,
        block.newest_ts,
        block.events,
        block.bytes as i64,
        block.body,
        first_id
    ])?;
    tx.commit()?;
    Ok(Compacted {
        blocks: deleted as u64,
        events: u64::from(block.events),
    })
}

/// Deletes up to [`DROP_CHUNK`] blocks (and legacy rows) whose newest
/// event is before `before_s`; returns the rows deleted, 0 when none are
/// left. Call it until it returns 0.
pub fn drop_before(conn: &Connection, before_s: i64) -> Result<usize, StoreError> {
    let blocks = conn.execute(
        // The newest block stays, so the next block's id is past every id
        // handed out (see `snapshots`).
        "DELETE FROM journal WHERE id IN (SELECT id FROM journal WHERE newest_ts < ?1 AND id < (SELECT max(id) FROM journal) ORDER BY id LIMIT ?2)",
        params![before_s, DROP_CHUNK as i64],
    )?;
    let legacy = conn.execute(
        "DELETE FROM events WHERE id IN (SELECT id FROM events WHERE ts < ?1 ORDER BY id LIMIT ?2)",
        params![before_s, (DROP_CHUNK * 16) as i64],
    )?;
    Ok(blocks + legacy)
}

/// Journal size: (events, blocks, compressed bytes, line bytes), legacy
/// rows counted as blocks of one.
pub fn size(conn: &Connection) -> Result<(u64, u64, u64, u64), StoreError> {
    let (events, blocks, stored, bytes): (i64, i64, i64, i64) = conn.query_row(
        "SELECT coalesce(sum(events), 0), count(*), coalesce(sum(length(body)), 0), coalesce(sum(bytes), 0) FROM journal",
        [],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
    )?;
    let (legacy, legacy_bytes): (i64, i64) = conn.query_row(
        "SELECT count(*), coalesce(sum(length(line)), 0) FROM events",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let u = |x: i64| u64::try_from(x).unwrap_or(0);
    Ok((
        u(events + legacy),
        u(blocks + legacy),
        u(stored + legacy_bytes),
        u(bytes + legacy_bytes),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::store::{Batch, Store};

    fn line(n: u64) -> String {
        format!(
            r#"{{"v":1,"type":"heartbeat","agent":"a-{}","ts":"2026-12-04T09:00:00Z","id":"e-{n}"}}"#,
            n % 7
        )
    }

    /// Journals `count` events in requests of `per_request`, the event
    /// times starting at `ts`.
    fn journal(store: &mut Store, first: u64, count: u64, per_request: u64, ts: i64) {
        let mut n = first;
        while n < first + count {
            let end = (n + per_request).min(first + count);
            let lines: Vec<String> = (n..end).map(line).collect();
            let block = Block::pack(lines.iter().map(|l| (ts, l.as_str()))).unwrap();
            store
                .write(&Batch {
                    journal: block,
                    ..Batch::default()
                })
                .unwrap();
            n = end;
        }
    }

    fn lines(store: &Store, since: i64) -> Vec<String> {
        let mut out = Vec::new();
        store
            .for_each_event(since, |l| out.push(l.to_string()))
            .unwrap();
        out
    }

    fn blocks(store: &Store) -> u64 {
        store.journal_size().unwrap().1
    }

    #[test]
    fn a_block_reads_back_its_lines_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("j.db")).unwrap();
        journal(&mut store, 0, 2500, 1000, 1_000);
        assert_eq!(lines(&store, 0), (0..2500).map(line).collect::<Vec<_>>());
        let (events, blocks, stored, bytes) = store.journal_size().unwrap();
        assert_eq!((events, blocks), (2500, 3));
        assert!(
            stored * 4 < bytes,
            "{stored} bytes stored for {bytes} of lines"
        );
    }

    #[test]
    fn nothing_packs_to_no_block() {
        assert_eq!(Block::pack(std::iter::empty()).unwrap(), None);
    }

    #[test]
    fn compaction_merges_small_blocks_keeping_order() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("j.db")).unwrap();
        // Small requests, then a large one, then small ones again.
        journal(&mut store, 0, 1200, 3, 1_000);
        journal(&mut store, 1200, 600, 600, 1_000);
        journal(&mut store, 1800, 1100, 5, 1_000);
        let before = store.journal_size().unwrap();
        let mut passes = 0;
        while store.compact_journal(1_000).unwrap().blocks > 0 {
            passes += 1;
        }
        assert_eq!(passes, 2, "one run before the large block, one after");
        assert_eq!(blocks(&store), 3);
        assert_eq!(lines(&store, 0), (0..2900).map(line).collect::<Vec<_>>());
        let after = store.journal_size().unwrap();
        assert_eq!(after.0, 2900);
        assert!(after.2 * 3 < before.2, "{before:?} → {after:?}");
        // New requests go after the merged blocks.
        journal(&mut store, 2900, 2, 1, 1_000);
        assert_eq!(lines(&store, 0), (0..2902).map(line).collect::<Vec<_>>());
    }

    fn after(store: &Store, block: i64) -> Vec<String> {
        let mut out = Vec::new();
        store
            .for_each_event_after(block, 0, |l| out.push(l.to_string()))
            .unwrap();
        out
    }

    /// Compacts until nothing is left to merge.
    fn compact_all(store: &mut Store) {
        while store
            .compact_journal(1_000 + COMPACT_AFTER_S)
            .unwrap()
            .blocks
            > 0
        {}
    }

    /// A snapshot ends at a block: compaction never merges across it, and
    /// a snapshot is not stored at a block a merge has already crossed,
    /// so the blocks after a stored snapshot are exactly its events after.
    #[test]
    fn compaction_and_snapshots_never_cross() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("j.db")).unwrap();
        journal(&mut store, 0, 600, 3, 1_000);
        let at = store.journal_position().unwrap();
        assert_eq!(at, 200);
        assert!(store.save_snapshot(at, 1_000, b"state".to_vec()).unwrap());
        journal(&mut store, 600, 600, 3, 1_000);
        compact_all(&mut store);
        assert_eq!(after(&store, at), (600..1200).map(line).collect::<Vec<_>>());
        assert_eq!(lines(&store, 0), (0..1200).map(line).collect::<Vec<_>>());

        // A merge first: blocks 401..=500 become one block 500, so a
        // snapshot at 450 would fold 401..=450 twice.
        journal(&mut store, 1200, 300, 3, 1_000);
        compact_all(&mut store);
        assert!(!store.save_snapshot(450, 1_000, b"late".to_vec()).unwrap());
        assert_eq!(store.snapshots().unwrap().len(), 1);
        let end = store.journal_position().unwrap();
        assert!(store.save_snapshot(end, 1_000, b"now".to_vec()).unwrap());
        assert_eq!(after(&store, end), Vec::<String>::new());
        // Ids only grow: a block written now comes after every snapshot.
        journal(&mut store, 1500, 1, 1, 1_000);
        assert_eq!(after(&store, end), vec![line(1500)]);
        let kept: Vec<_> = store
            .snapshots()
            .unwrap()
            .into_iter()
            .map(|s| s.state)
            .collect();
        assert_eq!(kept, vec![b"now".to_vec(), b"state".to_vec()]);
    }

    #[test]
    fn a_short_run_waits_until_it_is_old_enough() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("j.db")).unwrap();
        journal(&mut store, 0, 20, 2, 1_000);
        assert_eq!(store.compact_journal(1_000 + 10).unwrap().blocks, 0);
        let c = store.compact_journal(1_000 + COMPACT_AFTER_S).unwrap();
        assert_eq!(
            c,
            Compacted {
                blocks: 10,
                events: 20
            }
        );
        assert_eq!(blocks(&store), 1);
    }

    #[test]
    fn retention_drops_whole_blocks_past_the_window() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("j.db")).unwrap();
        journal(&mut store, 0, 700, 100, 1_000);
        journal(&mut store, 700, 300, 100, 5_000);
        assert_eq!(store.drop_events_before(5_000).unwrap(), 7);
        assert_eq!(lines(&store, 0), (700..1000).map(line).collect::<Vec<_>>());
        assert_eq!(store.drop_events_before(5_000).unwrap(), 0);
    }

    #[test]
    fn a_block_that_inflates_past_its_size_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.db");
        let mut store = Store::open(&path).unwrap();
        journal(&mut store, 0, 10, 10, 1_000);
        drop(store);
        let conn = Connection::open(&path).unwrap();
        conn.execute("UPDATE journal SET bytes = 10", []).unwrap();
        drop(conn);
        let store = Store::open(&path).unwrap();
        let err = store.for_each_event(0, |_| {}).unwrap_err();
        assert!(err.0.contains("journal block 1 is corrupt"), "{err}");
        assert!(err.0.contains("not the 10 recorded"), "{err}");
    }

    #[test]
    fn a_journal_of_the_previous_format_is_still_read_first() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.db");
        {
            // A database as the previous version left it: schema 4, one
            // `events` row per event.
            let conn = Connection::open(&path).unwrap();
            for sql in &crate::hub::store::MIGRATIONS[..4] {
                conn.execute_batch(sql).unwrap();
            }
            conn.pragma_update(None, "user_version", 4).unwrap();
            for n in 0..5u64 {
                conn.execute(
                    "INSERT INTO events (ts, agent, line) VALUES (?1, 'a', ?2)",
                    params![900 + n as i64, line(n)],
                )
                .unwrap();
            }
        }
        let mut store = Store::open(&path).unwrap();
        journal(&mut store, 5, 5, 5, 1_000);
        assert_eq!(lines(&store, 0), (0..10).map(line).collect::<Vec<_>>());
        assert_eq!(lines(&store, 903), (3..10).map(line).collect::<Vec<_>>());
        assert_eq!(store.journal_size().unwrap().0, 10);
        assert_eq!(store.drop_events_before(1_000).unwrap(), 5);
        assert_eq!(lines(&store, 0), (5..10).map(line).collect::<Vec<_>>());
    }
}
