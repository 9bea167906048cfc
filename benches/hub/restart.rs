//! (d) What a restart costs, from the journal and from an engine snapshot.

use super::*;

/// Journaled events of the (d) restart run.
pub(super) const DEFAULT_RESTART_EVENTS: u64 = 2_000_000;
/// The restart goal: serving within 5 s of start with 10 M events.
pub(super) const TARGET_RESTART_S: f64 = 5.0;
pub(super) const GOAL_EVENTS: f64 = 10_000_000.0;

/// (d) what a restart costs: a database holding `events` journaled runs
/// (1,000-event blocks written through the store, as ingest writes them),
/// then `Core::open` timed, which loads the desk and folds the journal
/// into a fresh engine before the hub can serve: once with no snapshot
/// (every block folded), then after a snapshot and the most events the
/// schedule lets arrive before the next one (only those folded).
pub(super) struct Restart {
    pub(super) events: u64,
    pub(super) db_bytes: u64,
    pub(super) write_s: f64,
    /// `Core::open` folding the whole journal.
    pub(super) full_s: f64,
    /// Taking a snapshot: serializing under the lock, then compressing and
    /// storing (here on the caller's thread; a hub does it on the store's).
    pub(super) serialize_s: f64,
    pub(super) store_s: f64,
    pub(super) snapshot_bytes: u64,
    pub(super) tail: u64,
    /// `Core::open` from the snapshot, folding the tail.
    pub(super) snapshot_open_s: f64,
}

pub(super) fn write_runs(store: &mut Store, tag: &str, events: u64) {
    let mut n = 0;
    while n < events {
        let count = (events - n).min(100_000);
        for body in bodies(&format!("{tag}{n}"), count, BATCH, 5 + n) {
            let now = Utc::now();
            let journal = Block::pack(body.lines().map(|l| (now.timestamp(), l))).expect("pack");
            store
                .write(&Batch {
                    journal,
                    ..Batch::default()
                })
                .expect("write");
        }
        n += count;
    }
}

pub(super) fn open_core(path: &std::path::Path) -> (agentdeck::hub::core::Core, f64) {
    let opened = Instant::now();
    let core = agentdeck::hub::core::Core::open(
        Store::open(path).expect("store"),
        agentdeck::engine::Engine::new(default_specs()),
        Policy::default(),
        StreamLimits::default(),
        Utc::now(),
    )
    .expect("open");
    (core, opened.elapsed().as_secs_f64())
}

pub(super) fn restart(events: u64) -> Restart {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("restart.db");
    let written = Instant::now();
    write_runs(&mut Store::open(&path).expect("store"), "d", events);
    let write_s = written.elapsed().as_secs_f64();
    let db_bytes = std::fs::metadata(&path).map_or(0, |m| m.len());
    let (mut core, full_s) = open_core(&path);
    let took = Instant::now();
    let taken = core.take_snapshot(Utc::now()).expect("snapshot");
    let serialize_s = taken.serialize.as_secs_f64();
    let store_s = took.elapsed().as_secs_f64() - serialize_s;
    drop(core);
    let snapshot_bytes = snapshot_size(&path);
    let tail = agentdeck::hub::core::SNAPSHOT_EVERY_EVENTS;
    write_runs(&mut Store::open(&path).expect("store"), "t", tail);
    let (core, snapshot_open_s) = open_core(&path);
    drop(core);
    Restart {
        events,
        db_bytes,
        write_s,
        full_s,
        serialize_s,
        store_s,
        snapshot_bytes,
        tail,
        snapshot_open_s,
    }
}

pub(super) fn snapshot_size(path: &std::path::Path) -> u64 {
    let conn = rusqlite::Connection::open(path).expect("open");
    conn.query_row(
        "SELECT length(body) FROM engine_snapshots ORDER BY id DESC LIMIT 1",
        [],
        |r| r.get::<_, i64>(0),
    )
    .map_or(0, |n| n as u64)
}

pub(super) fn report_restart(r: &Restart) {
    let rate = r.events as f64 / r.full_s;
    let at_goal = GOAL_EVENTS / rate;
    println!();
    println!(
        "(d) restart — Core::open (load the desk, fold the journal) over {} journaled runs ({:.0} MiB database, written in {:.1} s)",
        r.events,
        r.db_bytes as f64 / 1_048_576.0,
        r.write_s
    );
    println!(
        "    no snapshot (the anchor): {:.2} s, {rate:.0} events/s folded; 10 M events would take {at_goal:.1} s",
        r.full_s,
    );
    println!(
        "    snapshot: {:.1} ms serialized under the lock, {:.1} ms compressed and stored off it, {:.2} MiB stored",
        r.serialize_s * 1e3,
        r.store_s * 1e3,
        r.snapshot_bytes as f64 / 1_048_576.0
    );
    println!(
        "    from the snapshot plus {} events after it (the most before the next is due): {:.2} s, whatever the history (target < {TARGET_RESTART_S:.0} s): {}",
        r.tail,
        r.snapshot_open_s,
        verdict(r.snapshot_open_s < TARGET_RESTART_S)
    );
}
