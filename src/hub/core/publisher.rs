//! The stream's ordered log: stream ids, the replay buffer for
//! `Last-Event-ID` resumes, and the broadcast every client reads from.
//!
//! Ids are reserved in the store ahead of use ([`SEQ_RESERVATION`] at a
//! time), so they keep rising across a restart without a write per delta.
//! A reservation is written before any id it covers is published, and a
//! delta is published only after its change is stored, so an id seen by a
//! client is never reused.

use std::collections::VecDeque;
use std::sync::Arc;

use tokio::sync::broadcast;

use crate::model::stream::Delta;

use super::super::store::Batch;

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

/// Stream ids, the replay buffer and the broadcast.
pub struct Publisher {
    seq: u64,
    seq_reserved: u64,
    tx: broadcast::Sender<Arc<Frame>>,
    replay: VecDeque<Arc<Frame>>,
    replay_capacity: usize,
}

impl Publisher {
    /// Streams attached now.
    pub fn subscribers(&self) -> usize {
        self.tx.receiver_count()
    }

    /// A publisher whose next id follows `reserved`, everything reserved
    /// before a restart (those ids may have been seen by clients).
    pub fn new(reserved: u64, limits: StreamLimits) -> Self {
        let (tx, _) = broadcast::channel(limits.client_queue.max(1));
        Self {
            seq: reserved,
            seq_reserved: reserved,
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

    /// Makes sure `n` more ids are reserved: when the reservation must
    /// grow, adds it to `batch` and returns it, to be confirmed with
    /// [`Publisher::reserved`] once `batch` is stored.
    pub fn reserve(&self, batch: &mut Batch, n: u64) -> Option<u64> {
        if self.seq + n > self.seq_reserved {
            let reserved = self.seq + n + SEQ_RESERVATION;
            batch.meta.push(("seq_reserved", reserved.to_string()));
            return Some(reserved);
        }
        None
    }

    /// Confirms a reservation once it is stored.
    pub fn reserved(&mut self, reserved: u64) {
        self.seq_reserved = reserved;
    }

    /// Gives `delta` the next id and sends it to every client. The caller
    /// has stored both the change behind it and the id's reservation.
    pub fn publish(&mut self, delta: &Delta) {
        self.seq += 1;
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
        let frame = Arc::new(Frame {
            id: self.seq,
            event: delta.event_name(),
            data: data.into(),
        });
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
