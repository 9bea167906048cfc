//! (c) Where the time of one 1,000-event body goes, taken apart
//! in-process on one thread.

use super::*;

/// One step of the ingest path, timed per body.
#[derive(Default)]
pub(super) struct Step {
    /// Wall time per body, ms, sorted.
    pub(super) wall_ms: Vec<f64>,
    /// CPU time of the timing thread over all bodies.
    pub(super) cpu: Duration,
}

impl Step {
    fn time<T>(&mut self, f: impl FnOnce() -> T) -> T {
        let cpu0 = thread_cpu_time();
        let t = Instant::now();
        let value = f();
        self.wall_ms.push(ms(t.elapsed()));
        self.cpu += thread_cpu_time().saturating_sub(cpu0);
        value
    }

    pub(super) fn mean(&self) -> f64 {
        self.wall_ms.iter().sum::<f64>() / self.wall_ms.len().max(1) as f64
    }

    /// Share of the wall time spent on the CPU (the rest is waiting: disk
    /// flushes, page faults, preemption).
    pub(super) fn on_cpu(&self) -> f64 {
        ms(self.cpu) / self.wall_ms.iter().sum::<f64>().max(f64::MIN_POSITIVE)
    }
}

/// Time this thread has run on a CPU (`/proc/thread-self/schedstat`, ns).
pub(super) fn thread_cpu_time() -> Duration {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .map_or(Duration::ZERO, Duration::from_nanos)
}

/// The journal's size for the simulated fleet's mix: runs of every
/// profile (with tool calls, approvals asked, failures), journalled in
/// 1,000-event requests, and in 10-event requests then compacted as the
/// maintenance thread does. (events, line bytes, on-disk bytes of the
/// large requests, of the compacted small ones).
pub(super) fn fleet_journal(events: usize) -> (usize, u64, u64, u64) {
    use agentdeck::sim::agent::{Obeyed, SimAgent, Step};
    let profiles = agentdeck::sim::profile::fleet();
    let mut agents: Vec<SimAgent> = (0..50)
        .map(|i| SimAgent::new(profiles[i % profiles.len()].clone(), i, 7))
        .collect();
    let effects = agentdeck::sim::scenario::Effects::default();
    let mut lines: Vec<(i64, String)> = Vec::with_capacity(events);
    let mut t = Utc::now() - chrono::Duration::hours(2);
    while lines.len() < events {
        t += chrono::Duration::milliseconds(20);
        let i = lines.len() % agents.len();
        match agents[i].step(t, &effects, &Obeyed::default()) {
            Step::Done(env) | Step::Ask(env, _) => lines.push((env.ts.timestamp(), env.to_line())),
            Step::Idle => {}
        }
    }
    let line_bytes: u64 = lines.iter().map(|(_, l)| l.len() as u64 + 1).sum();
    let dir = tempfile::tempdir().expect("temp dir");
    let mut on_disk = [0u64; 2];
    for (k, per_request) in [1_000usize, 10].into_iter().enumerate() {
        let mut store = Store::open(&dir.path().join(format!("fleet-{k}.db"))).expect("store");
        for chunk in lines.chunks(per_request) {
            let journal = Block::pack(chunk.iter().map(|(t, l)| (*t, l.as_str()))).expect("pack");
            store
                .write(&Batch {
                    journal,
                    ..Batch::default()
                })
                .expect("write");
        }
        while store
            .compact_journal(Utc::now().timestamp())
            .expect("compact")
            .blocks
            > 0
        {}
        on_disk[k] = store.journal_size().expect("size").2;
    }
    (lines.len(), line_bytes, on_disk[0], on_disk[1])
}

pub(super) struct Breakdown {
    /// See [`fleet_journal`].
    pub(super) fleet: (usize, u64, u64, u64),
    pub(super) rounds: usize,
    pub(super) rows: Vec<(&'static str, Step)>,
    /// Bytes of the lines and of their packed blocks, over every body.
    pub(super) line_bytes: u64,
    pub(super) block_bytes: u64,
}

/// The old journal, the anchor for the block write: one row per event in
/// an `events` table, the automatic WAL checkpoint on (as it was).
pub(super) fn per_event_db(path: &std::path::Path) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(path).expect("side db");
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = NORMAL;
         CREATE TABLE events (id INTEGER PRIMARY KEY, ts INTEGER NOT NULL, agent TEXT NOT NULL, line TEXT NOT NULL);
         CREATE INDEX events_ts ON events (ts);",
    )
    .expect("schema");
    conn
}

pub(super) fn insert_per_event(
    conn: &mut rusqlite::Connection,
    good: &[(agentdeck::model::envelope::Envelope, String)],
) {
    let tx = conn.transaction().expect("begin");
    {
        let mut st = tx
            .prepare_cached("INSERT INTO events (ts, agent, line) VALUES (?1, ?2, ?3)")
            .expect("prepare");
        for (env, line) in good {
            st.execute(rusqlite::params![env.ts.timestamp(), env.agent, line])
                .expect("insert");
        }
    }
    tx.commit().expect("commit");
}

/// The ingest path of one body, timed in pieces on this thread over
/// `rounds` bodies. On the live hub: decode and pack (what the handler
/// does before taking the lock), `Core::ingest_packed` (what runs under
/// the lock) and `Core::tick` (also under the lock, every 500 ms). Then
/// parts of the ingest alone with the same events: the engine's `check` +
/// `apply` on a separate engine, and the journal write on a side store as
/// the hub does it (its checkpoints on the maintenance thread), next to
/// the old journal's row per event with SQLite's own checkpoints.
pub(super) fn breakdown(
    core: &std::sync::Mutex<agentdeck::hub::core::Core>,
    rounds: usize,
) -> Breakdown {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut store = Store::open(&dir.path().join("store.db")).expect("side store");
    store
        .start_maintenance(agentdeck::hub::store::Upkeep {
            retain: agentdeck::hub::DEFAULT_RETAIN_EVENTS,
        })
        .expect("side store upkeep");
    let mut per_event = per_event_db(&dir.path().join("per-event.db"));
    let mut engine = agentdeck::engine::Engine::new(default_specs());
    let names = [
        "decode_body (handler, before the lock)",
        "Block::pack, zstd (handler, before the lock)",
        "Core::ingest_packed (under the core lock)",
        "  Engine::check + apply, same events",
        "  the block written as the store does it",
        "  anchor: a row per event (the old journal)",
        "Core::tick (under the core lock)",
    ];
    let mut steps: Vec<Step> = names.iter().map(|_| Step::default()).collect();
    let (mut line_bytes, mut block_bytes) = (0u64, 0u64);
    let all = bodies("c", (rounds * BATCH) as u64, BATCH, 99);
    for (r, body) in all.into_iter().enumerate() {
        let now = Utc::now();
        let (good, bad) =
            steps[0].time(|| agentdeck::ingest::ndjson::decode_body(body.as_bytes(), now));
        assert!(bad.is_empty(), "bench lines must decode: {bad:?}");
        let packed = steps[1].time(|| {
            Block::pack(
                good.iter()
                    .map(|(env, line)| (env.ts.timestamp(), line.as_str())),
            )
            .expect("pack")
        });
        let block = packed.clone().expect("a block");
        line_bytes += block.bytes;
        block_bytes += block.body.len() as u64;
        let envs: Vec<_> = good.iter().map(|(env, _)| env.clone()).collect();
        steps[5].time(|| insert_per_event(&mut per_event, &good));
        let out = steps[2].time(|| {
            let mut core = core
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let change = core.change();
            core.ingest_packed(good, packed, change, now)
                .expect("ingest")
        });
        assert_eq!(out.accepted as usize, BATCH);
        steps[3].time(|| {
            for e in &envs {
                let _ = engine.check(e);
            }
            for e in &envs {
                let _ = engine.apply(e);
            }
            engine.drain_signals()
        });
        let batch = Batch {
            journal: Some(block),
            ..Batch::default()
        };
        steps[4].time(|| store.write(&batch).expect("side write"));
        if r % 5 == 4 {
            steps[6].time(|| {
                let mut core = core
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                core.tick(Utc::now()).expect("tick")
            });
        }
    }
    for step in &mut steps {
        step.wall_ms.sort_by(f64::total_cmp);
    }
    Breakdown {
        fleet: fleet_journal(100_000),
        rounds,
        rows: names.into_iter().zip(steps).collect(),
        line_bytes,
        block_bytes,
    }
}
