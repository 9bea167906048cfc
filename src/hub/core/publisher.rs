//! The stream's ordered log: stream ids, the replay buffer for
//! `Last-Event-ID` resumes, and the broadcast every client reads from.
//!
//! Who numbers the deltas depends on the store:
//!
//! - **SQLite** (one hub per database): this process does. Ids are
//!   reserved in the store ahead of use ([`SEQ_RESERVATION`] at a time), so
//!   they keep rising across a restart without a write per delta. A
//!   reservation is written before any id it covers is published.
//! - **PostgreSQL** (replicas on one database): the database does, as it
//!   appends each delta to the shared log in the transaction that stores
//!   the change behind it (`hub::pg::log`). An id then names the same
//!   delta on every replica, and the hub that takes over starts with the
//!   log's tail in its replay buffer, so a client resumes there with
//!   `Last-Event-ID` as if nothing had happened.
//!
//! Either way a delta is published only after its change is stored, so an
//! id seen by a client is never reused.

use std::collections::VecDeque;
use std::sync::Arc;

use tokio::sync::broadcast;

use crate::model::stream::Delta;

use super::super::store::{Batch, LogFrame};

/// Stream ids reserved in the database ahead of use, so ids keep rising
/// across a restart without a write per delta.
pub const SEQ_RESERVATION: u64 = 10_000;

/// One server-sent event, serialized once for every client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The SSE `id`.
    pub id: u64,
    /// The SSE `event`.
    pub event: &'static str,
    /// The SSE `data`: one line of JSON.
    pub data: Arc<str>,
}

/// Sizes of the stream's buffers.
#[derive(Debug, Clone, Copy)]
pub struct StreamLimits {
    /// Deltas a client may fall behind before it is resynchronised.
    pub client_queue: usize,
    /// Deltas kept for `Last-Event-ID` resumes.
    pub replay: usize,
}

impl Default for StreamLimits {
    fn default() -> Self {
        Self {
            client_queue: 4096,
            replay: 10_000,
        }
    }
}

/// Who hands out stream ids (see the module's note).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ids {
    /// This process, up to the reservation stored.
    Reserved(u64),
    /// The database, as it appends to the shared log.
    Logged,
}

/// A delta serialized for the stream, before it has an id.
pub fn stage(delta: &Delta) -> LogFrame {
    let data = match delta {
        Delta::Slo(x) => serde_json::to_string(x),
        Delta::Incident(x) => serde_json::to_string(x),
        Delta::Approval(x) => serde_json::to_string(x),
        Delta::Control(x) => serde_json::to_string(x),
        Delta::Agent(x) => serde_json::to_string(x),
        Delta::Audit(x) => serde_json::to_string(x),
        Delta::Presence(x) => serde_json::to_string(x),
    }
    .unwrap_or_default();
    LogFrame {
        event: delta.event_name(),
        data: data.into(),
    }
}

/// Stream ids, the replay buffer and the broadcast.
pub struct Publisher {
    seq: u64,
    ids: Ids,
    tx: broadcast::Sender<Arc<Frame>>,
    replay: VecDeque<Arc<Frame>>,
    replay_capacity: usize,
}

impl Publisher {
    /// A publisher numbering deltas itself, whose next id follows
    /// `reserved`, everything reserved before a restart (those ids may
    /// have been seen by clients).
    pub fn new(reserved: u64, limits: StreamLimits) -> Self {
        Self::with(reserved, Ids::Reserved(reserved), limits)
    }

    /// A publisher whose ids the database hands out, after `head`, the
    /// last id in the shared log; `tail`, the log's newest entries in id
    /// order, fills the replay buffer so clients of a hub that stopped
    /// resume here.
    pub fn logged(head: u64, tail: Vec<Frame>, limits: StreamLimits) -> Self {
        let mut publisher = Self::with(head, Ids::Logged, limits);
        let contiguous = tail.last().is_none_or(|f| f.id == head)
            && tail.windows(2).all(|w| w[1].id == w[0].id + 1);
        if contiguous {
            let skip = tail.len().saturating_sub(publisher.replay_capacity);
            publisher
                .replay
                .extend(tail.into_iter().skip(skip).map(Arc::new));
        }
        publisher
    }

    fn with(seq: u64, ids: Ids, limits: StreamLimits) -> Self {
        let (tx, _) = broadcast::channel(limits.client_queue.max(1));
        Self {
            seq,
            ids,
            tx,
            replay: VecDeque::new(),
            replay_capacity: limits.replay,
        }
    }

    /// A new stream subscription.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Frame>> {
        self.tx.subscribe()
    }

    /// The id of the last delta.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// Deltas after `id`, if the replay buffer still holds all of them.
    pub fn replay_after(&self, id: u64) -> Option<Vec<Arc<Frame>>> {
        if id > self.seq {
            return None;
        }
        if id == self.seq {
            return Some(Vec::new());
        }
        let oldest = self.replay.front()?.id;
        if id + 1 < oldest {
            return None;
        }
        Some(self.replay.iter().filter(|f| f.id > id).cloned().collect())
    }

    /// Adds to `batch` what storing `frames` needs: their place in the
    /// shared log, or a larger reservation of ids. A reservation is
    /// returned, to be handed to [`Publisher::publish`] once `batch` is
    /// stored.
    pub fn stage_in(&self, batch: &mut Batch, frames: &[LogFrame]) -> Option<u64> {
        let n = frames.len() as u64;
        match self.ids {
            Ids::Logged => {
                batch.log.extend_from_slice(frames);
                None
            }
            Ids::Reserved(reserved) if self.seq + n > reserved => {
                let reserved = self.seq + n + SEQ_RESERVATION;
                batch.meta.push(("seq_reserved", reserved.to_string()));
                Some(reserved)
            }
            Ids::Reserved(_) => None,
        }
    }

    /// Gives `frames` their ids and sends them to every client, once the
    /// batch [`Publisher::stage_in`] prepared is stored: `reserved` is what
    /// it returned, `first_logged` the id the store gave the first frame.
    pub fn publish(
        &mut self,
        reserved: Option<u64>,
        first_logged: Option<u64>,
        frames: Vec<LogFrame>,
    ) {
        if let Some(r) = reserved {
            self.ids = Ids::Reserved(r);
        }
        if let (Ids::Logged, Some(first)) = (self.ids, first_logged)
            && first != self.seq + 1
        {
            // Ids this hub never saw (another writer's): a resume across
            // them gets a snapshot instead.
            self.replay.clear();
            self.seq = first - 1;
        }
        for frame in frames {
            self.seq += 1;
            self.send(Arc::new(Frame {
                id: self.seq,
                event: frame.event,
                data: frame.data,
            }));
        }
    }

    fn send(&mut self, frame: Arc<Frame>) {
        if self.replay.len() >= self.replay_capacity {
            self.replay.pop_front();
        }
        if self.replay_capacity > 0 {
            self.replay.push_back(frame.clone());
        }
        // No receivers is not an error: nobody is watching.
        let _ = self.tx.send(frame);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(n: usize) -> Vec<LogFrame> {
        (0..n)
            .map(|i| LogFrame {
                event: "audit",
                data: format!("{{\"n\":{i}}}").into(),
            })
            .collect()
    }

    fn logged(ids: std::ops::RangeInclusive<u64>) -> Vec<Frame> {
        ids.map(|id| Frame {
            id,
            event: "audit",
            data: "{}".into(),
        })
        .collect()
    }

    fn ids(found: Option<Vec<Arc<Frame>>>) -> Option<Vec<u64>> {
        found.map(|f| f.iter().map(|f| f.id).collect())
    }

    #[test]
    fn reserving_writes_a_reservation_only_when_ids_run_out() {
        let mut p = Publisher::new(7, StreamLimits::default());
        let mut batch = Batch::default();
        let reserved = p.stage_in(&mut batch, &frames(3));
        assert_eq!(reserved, Some(10 + SEQ_RESERVATION));
        assert_eq!(
            batch.meta,
            [("seq_reserved", (10 + SEQ_RESERVATION).to_string())]
        );
        assert!(batch.log.is_empty(), "SQLite keeps no log");
        p.publish(reserved, None, frames(3));
        assert_eq!(ids(p.replay_after(7)), Some(vec![8, 9, 10]));
        let mut batch = Batch::default();
        assert_eq!(p.stage_in(&mut batch, &frames(5)), None);
        assert!(batch.is_empty());
    }

    #[test]
    fn a_logged_publisher_resumes_clients_of_the_hub_before_it() {
        let mut p = Publisher::logged(40, logged(31..=40), StreamLimits::default());
        assert_eq!(p.seq(), 40);
        assert_eq!(ids(p.replay_after(37)), Some(vec![38, 39, 40]));
        assert_eq!(
            ids(p.replay_after(29)),
            None,
            "older than the tail: a snapshot"
        );
        let mut batch = Batch::default();
        assert_eq!(p.stage_in(&mut batch, &frames(2)), None);
        assert_eq!(batch.log.len(), 2, "the deltas go to the shared log");
        assert!(batch.meta.is_empty());
        p.publish(None, Some(41), frames(2));
        assert_eq!(ids(p.replay_after(39)), Some(vec![40, 41, 42]));
    }

    #[test]
    fn ids_this_hub_never_saw_end_the_replay_before_them() {
        let mut p = Publisher::logged(40, logged(31..=40), StreamLimits::default());
        p.publish(None, Some(45), frames(1));
        assert_eq!(p.seq(), 45);
        assert_eq!(ids(p.replay_after(44)), Some(vec![45]));
        assert_eq!(ids(p.replay_after(40)), None, "41 to 44 are unknown here");
    }

    #[test]
    fn a_tail_with_a_hole_or_short_of_the_head_is_not_replayed() {
        let mut tail = logged(31..=40);
        tail.remove(4);
        let p = Publisher::logged(40, tail, StreamLimits::default());
        assert_eq!(ids(p.replay_after(38)), None);
        let p = Publisher::logged(42, logged(31..=40), StreamLimits::default());
        assert_eq!(ids(p.replay_after(38)), None);
        assert_eq!(ids(p.replay_after(42)), Some(vec![]));
    }

    #[test]
    fn the_tail_fills_the_replay_buffer_up_to_its_size() {
        let limits = StreamLimits {
            client_queue: 16,
            replay: 4,
        };
        let p = Publisher::logged(40, logged(31..=40), limits);
        assert_eq!(ids(p.replay_after(36)), Some(vec![37, 38, 39, 40]));
        assert_eq!(ids(p.replay_after(35)), None);
    }
}
