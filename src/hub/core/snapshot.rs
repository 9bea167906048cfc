//! Engine snapshots: the engine, the drill-down and the recent event ids
//! written to the store every so often, so that a restart folds only the
//! journal blocks after the newest snapshot instead of all of history.
//!
//! Taking one costs the lock the time to serialize the state (a few
//! milliseconds for tens of agents; `cargo bench --bench hub`, part (d),
//! prints it); compressing and writing it happen on the store's
//! maintenance thread. One is due after [`EVERY_EVENTS`] events or
//! [`EVERY`] with any, never twice within [`MIN_GAP`], so what a restart
//! folds stays bounded at any ingest rate.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::Core;
use super::recent::{RecentIds, StoredIds};
use crate::engine::drill::Drill;
use crate::hub::store::StoreError;

/// Events after which a snapshot is due: about two seconds of folding
/// at restart.
pub const EVERY_EVENTS: u64 = 500_000;
/// Time after which a snapshot is due when any event arrived.
pub const EVERY: Duration = Duration::from_secs(300);
/// The shortest time between two snapshots.
pub const MIN_GAP: Duration = Duration::from_secs(30);

/// When the last snapshot was taken and what arrived since.
#[derive(Debug, Default)]
pub(super) struct Schedule {
    last: Option<DateTime<Utc>>,
    events: u64,
    /// The engine changed other than by events (a reload of the SLOs):
    /// stored snapshots no longer match it.
    stale: bool,
}

impl Schedule {
    /// Counts events journalled.
    pub(super) fn journalled(&mut self, events: u64) {
        self.events += events;
    }

    /// Stored snapshots no longer describe the engine.
    pub(super) fn invalidate(&mut self) {
        self.stale = true;
    }

    fn due(&self, now: DateTime<Utc>) -> bool {
        let Some(last) = self.last else {
            // The first tick after start: the state was just rebuilt, and
            // is worth keeping only if it came from a long fold.
            return self.events > 0 || self.stale;
        };
        let since = (now - last).to_std().unwrap_or_default();
        since >= MIN_GAP
            && (self.stale || self.events >= EVERY_EVENTS || (since >= EVERY && self.events > 0))
    }
}

/// What comes before the state: it is read only when the fingerprint is
/// the engine's own.
#[derive(Serialize, Deserialize)]
struct Header {
    fingerprint: String,
}

/// A snapshot taken.
#[derive(Debug, Clone, Copy)]
pub struct Taken {
    /// The state's size before compression.
    pub state_bytes: usize,
    /// The time the lock was held to serialize it.
    pub serialize: std::time::Duration,
}

/// Why a snapshot was not used.
pub(super) type Unused = String;

impl Core {
    /// Takes a snapshot if one is due (called by the tick).
    pub(super) fn snapshot_if_due(&mut self, now: DateTime<Utc>) {
        if !self.schedule.due(now) {
            return;
        }
        if let Err(e) = self.take_snapshot(now) {
            tracing::warn!(error = %e, "engine snapshot not taken");
        }
    }

    /// Takes a snapshot now: the state is serialized here, under the lock,
    /// and stored by the store's maintenance thread when it runs.
    pub fn take_snapshot(&mut self, now: DateTime<Utc>) -> Result<Taken, StoreError> {
        // Reset first: a failure is retried at the next due time, not at
        // every tick.
        self.schedule = Schedule {
            last: Some(now),
            ..Schedule::default()
        };
        let journal_id = self.store.journal_position()?;
        let started = std::time::Instant::now();
        let state = self
            .state_bytes()
            .map_err(|e| StoreError(format!("cannot write a snapshot: {e}")))?;
        let taken = Taken {
            state_bytes: state.len(),
            serialize: started.elapsed(),
        };
        self.store
            .save_snapshot(journal_id, now.timestamp(), state)?;
        Ok(taken)
    }

    /// The header, the drill-down, the recent ids and the engine, in the
    /// order [`Core::restore_one`] reads them.
    fn state_bytes(&self) -> Result<Vec<u8>, String> {
        let header = Header {
            fingerprint: self.engine.fingerprint(),
        };
        let mut state = Vec::new();
        let text = |e: postcard::Error| e.to_string();
        postcard::to_io(&header, &mut state).map_err(text)?;
        postcard::to_io(&self.drill, &mut state).map_err(text)?;
        postcard::to_io(&self.recent_ids.stored(), &mut state).map_err(text)?;
        self.engine.write_state(&mut state)?;
        Ok(state)
    }

    /// Restores the newest stored snapshot that matches the engine,
    /// returning the journal block it ends at; `Err` says why none was
    /// used. Nothing changes unless one is restored whole.
    pub(super) fn restore_snapshot(&mut self) -> Result<(i64, DateTime<Utc>), Unused> {
        let rows = self.store.snapshots().map_err(|e| e.to_string())?;
        let fingerprint = self.engine.fingerprint();
        let mut why = String::from("none stored");
        for row in rows {
            match self.restore_one(&row.state, &fingerprint) {
                Ok(()) => {
                    let at = DateTime::from_timestamp(row.taken_at_s, 0).unwrap_or_default();
                    return Ok((row.journal_id, at));
                }
                Err(e) => why = e,
            }
        }
        Err(why)
    }

    fn restore_one(&mut self, bytes: &[u8], fingerprint: &str) -> Result<(), Unused> {
        let (header, rest) =
            postcard::take_from_bytes::<Header>(bytes).map_err(|e| e.to_string())?;
        if header.fingerprint != fingerprint {
            return Err("taken by another version or with other SLOs".into());
        }
        let (drill, rest) =
            postcard::take_from_bytes::<Drill>(rest).map_err(|e| format!("drill-down: {e}"))?;
        let (ids, rest) =
            postcard::take_from_bytes::<StoredIds>(rest).map_err(|e| format!("recent ids: {e}"))?;
        // The engine last: it changes only when all of it reads back, and
        // then nothing else can fail.
        let rest = self.engine.read_state(rest)?;
        if !rest.is_empty() {
            return Err(format!("{} bytes past the end", rest.len()));
        }
        self.drill = drill;
        self.recent_ids = RecentIds::from(ids);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Engine;
    use crate::engine::spec::default_specs;
    use crate::hub::core::StreamLimits;
    use crate::hub::policy::Policy;
    use crate::hub::store::Store;
    use crate::model::envelope::Envelope;

    fn at(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_764_000_000 + s, 0).unwrap()
    }

    #[test]
    fn a_snapshot_is_due_by_events_or_by_age_and_never_twice_in_the_gap() {
        let mut s = Schedule::default();
        assert!(!s.due(at(0)), "nothing folded since start");
        s.journalled(1);
        assert!(s.due(at(0)), "the first after start, once events arrived");
        s = Schedule {
            last: Some(at(0)),
            ..Schedule::default()
        };
        s.journalled(EVERY_EVENTS);
        assert!(!s.due(at(10)), "within the gap");
        assert!(s.due(at(30)));
        s.events = 1;
        assert!(!s.due(at(299)));
        assert!(s.due(at(300)));
        s.events = 0;
        assert!(!s.due(at(3_000)), "no event, no snapshot");
        s.invalidate();
        assert!(s.due(at(3_000)), "a reload makes one due");
    }

    fn event(i: u64) -> (Envelope, String) {
        let agent = ["refund-bot", "triage", "billing"][(i % 3) as usize];
        let outcome = if i.is_multiple_of(13) {
            "failed"
        } else {
            "success"
        };
        let line = format!(
            r#"{{"v":1,"id":"e{i}","type":"run.finished","ts":"{}","agent":"{agent}","run_id":"r{i}","workflow":"w{}","outcome":"{outcome}","latency_ms":{},"cost_usd":0.0{}}}"#,
            at(i as i64 * 3).to_rfc3339(),
            i % 4,
            50 + i % 700,
            1 + i % 9
        );
        (Envelope::decode(&line).unwrap(), line)
    }

    fn open(path: &std::path::Path, specs: Vec<crate::model::slo::SloSpec>) -> Core {
        let now = at(100_000);
        Core::open(
            Store::open(path).unwrap(),
            Engine::new(specs),
            Policy::default(),
            StreamLimits::default(),
            now,
        )
        .unwrap()
    }

    fn ingest(core: &mut Core, range: std::ops::Range<u64>) {
        for chunk in range.collect::<Vec<_>>().chunks(100) {
            let events = chunk.iter().map(|&i| event(i)).collect();
            core.ingest(events, at(chunk[0] as i64 * 3)).unwrap();
        }
    }

    type Seen = (
        Vec<crate::model::slo::SloStatus>,
        Vec<crate::model::agent::Agent>,
        Vec<crate::model::drill::Performance>,
    );

    fn seen(core: &Core) -> Seen {
        let now = at(100_000);
        let agents = ["refund-bot", "triage", "billing"];
        (
            core.engine.statuses(now),
            core.engine.agents(now),
            agents
                .iter()
                .map(|a| core.drill.performance(a, now))
                .collect(),
        )
    }

    /// A hub restarted from a snapshot and the blocks after it sees what
    /// one that folded everything sees, and still knows the event ids
    /// from before the snapshot.
    #[test]
    fn a_restart_from_a_snapshot_folds_only_the_tail_and_sees_the_same() {
        let dir = tempfile::tempdir().unwrap();
        let (with, without) = (dir.path().join("with.db"), dir.path().join("without.db"));
        let mut core = open(&with, default_specs());
        ingest(&mut core, 0..3_000);
        let taken = core.take_snapshot(at(9_000)).unwrap();
        assert!(taken.state_bytes > 0);
        ingest(&mut core, 3_000..4_000);
        drop(core);
        let mut plain = open(&without, default_specs());
        ingest(&mut plain, 0..4_000);
        let expected = seen(&plain);
        drop(plain);

        // The blocks the snapshot holds are dropped: what the restarted
        // hub knows of them can only come from the snapshot.
        let conn = rusqlite::Connection::open(&with).unwrap();
        let dropped = conn
            .execute(
                "DELETE FROM journal WHERE id <= (SELECT journal_id FROM engine_snapshots)",
                [],
            )
            .unwrap();
        assert_eq!(dropped, 30);
        drop(conn);
        let mut restored = open(&with, default_specs());
        assert_eq!(seen(&restored), expected);
        // The snapshot's own events and the tail's are both still known.
        let again = restored
            .ingest(vec![event(10), event(3_500)], at(12_000))
            .unwrap();
        assert_eq!(again.duplicates, 2);
    }

    #[test]
    fn a_snapshot_of_other_slos_is_not_used_and_the_journal_is_folded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hub.db");
        let mut core = open(&path, default_specs());
        ingest(&mut core, 0..1_000);
        core.take_snapshot(at(3_000)).unwrap();
        drop(core);
        let mut fewer = default_specs();
        fewer.truncate(1);
        let mut restored = open(&path, fewer.clone());
        assert!(restored.restore_snapshot().is_err());
        let mut plain = Engine::new(fewer);
        for i in 0..1_000 {
            plain.apply(&event(i).0).unwrap();
        }
        assert_eq!(
            restored.engine.statuses(at(100_000)),
            plain.statuses(at(100_000))
        );
    }
}
