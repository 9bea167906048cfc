//! A replica's reading of the one ordered log: every delta any replica
//! publishes, in id order, as soon as it is committed, for the streams a
//! standby serves itself (`hub::forward::stream`).
//!
//! One task per replica listens on the log's channel (`LISTEN`, with a
//! poll every second as a backstop for a lost notification) and reads the
//! ids above the last it has into a ring of the newest frames. A stream
//! reads from the ring while its next id is there, and from the log table
//! otherwise (a client resuming from further back, or one that fell
//! behind): the table is the source of truth, the ring spares the database
//! a query per client per delta. So a slow client costs its own queries,
//! never memory, and never holds up another.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::watch;
use tokio_postgres::Client;

use super::PgTarget;
use super::log::{self, LogEntry};
use crate::hub::core::Frame;
use crate::hub::store::StoreError;
use crate::model::stream::Delta;

/// Frames kept in memory, newest last: a few seconds of a busy fleet's
/// SLO deltas (a few MiB), as many as a client of the serving replica may
/// fall behind; a client further back reads the table.
pub const RING: usize = 4_096;
/// Entries read from the log table in one query.
const BATCH: i64 = 1_000;
/// How often the log is read without a notification.
const POLL_EVERY: Duration = Duration::from_secs(1);
/// Pause before connecting again after the database went away.
const RETRY_EVERY: Duration = Duration::from_secs(1);
/// How long one read of the log may take.
const READ_WITHIN: Duration = Duration::from_secs(5);

/// Frames read after an id.
#[derive(Debug)]
pub struct Read {
    /// In id order; those of events this binary does not know are left
    /// out.
    pub frames: Vec<Arc<Frame>>,
    /// The last id read: the next read starts after it.
    pub through: u64,
}

/// The newest deltas of the log, kept current by a task.
pub struct Follower {
    ring: Mutex<Ring>,
    /// The last id read; 0 until the first read.
    head: watch::Sender<u64>,
    /// The connection reads go through, while there is one.
    client: Mutex<Option<Arc<Client>>>,
    target: PgTarget,
}

#[derive(Default)]
struct Ring {
    frames: VecDeque<Arc<Frame>>,
}

impl Ring {
    /// Frames after `after`, at most `max`; `None` when the ring does not
    /// hold `after + 1` (too old, or not read yet).
    fn after(&self, after: u64, max: usize) -> Option<Vec<Arc<Frame>>> {
        let first = self.frames.front()?.id;
        if after + 1 < first {
            return None;
        }
        let skip = usize::try_from(after + 1 - first).ok()?;
        if skip > self.frames.len() {
            return None;
        }
        Some(self.frames.iter().skip(skip).take(max).cloned().collect())
    }

    fn push(&mut self, frame: Arc<Frame>) {
        // Contiguous ids only: a ring with a hole would hand a client a
        // gap, so it starts over from the frame that does not follow.
        if self
            .frames
            .back()
            .is_some_and(|last| last.id + 1 != frame.id)
        {
            self.frames.clear();
        }
        if self.frames.len() == RING {
            self.frames.pop_front();
        }
        self.frames.push_back(frame);
    }
}

/// A log entry as a stream frame; `None` for an event this binary does not
/// know (written by a newer replica), which a client of this one skips.
fn frame(entry: LogEntry) -> Option<Arc<Frame>> {
    Some(Arc::new(Frame {
        id: u64::try_from(entry.id).ok()?,
        event: Delta::known_event(&entry.event)?,
        data: entry.body.into(),
    }))
}

impl Follower {
    /// Starts following the log of `target`'s database from its head now;
    /// the task ends when the follower is dropped.
    pub fn start(target: PgTarget) -> Arc<Self> {
        let follower = Arc::new(Self {
            ring: Mutex::new(Ring::default()),
            head: watch::channel(0).0,
            client: Mutex::new(None),
            target,
        });
        tokio::spawn(follow(Arc::downgrade(&follower)));
        follower
    }

    /// The last id read from the log.
    pub fn head(&self) -> u64 {
        *self.head.borrow()
    }

    /// The last id read from the log, and changes to it.
    pub fn heads(&self) -> watch::Receiver<u64> {
        self.head.subscribe()
    }

    /// Up to `max` frames after `after`, in id order, from the ring or the
    /// log table (empty when there are none yet); `None` when the log no
    /// longer holds the id after `after` (trimmed): the reader starts over
    /// from a snapshot.
    pub async fn after(&self, after: u64, max: usize) -> Result<Option<Read>, StoreError> {
        let held = self
            .ring
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .after(after, max);
        if let Some(frames) = held {
            let through = frames.last().map_or(after, |f| f.id);
            return Ok(Some(Read { frames, through }));
        }
        let client = self.client()?;
        let from = i64::try_from(after).unwrap_or(i64::MAX);
        let limit = i64::try_from(max).unwrap_or(BATCH);
        let entries = tokio::time::timeout(READ_WITHIN, log::read_after(&*client, from, limit))
            .await
            .map_err(|_| StoreError("PostgreSQL did not answer in time".into()))??;
        if entries.first().is_some_and(|e| e.id != from + 1) {
            return Ok(None);
        }
        let through = entries
            .last()
            .and_then(|e| u64::try_from(e.id).ok())
            .unwrap_or(after);
        let frames = entries.into_iter().filter_map(frame).collect();
        Ok(Some(Read { frames, through }))
    }

    fn client(&self) -> Result<Arc<Client>, StoreError> {
        self.client
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .ok_or_else(|| StoreError("not connected to PostgreSQL".into()))
    }

    /// Whether `id` may be resumed after: the log still holds the id after
    /// it, or it is the head.
    pub async fn resumable(&self, id: u64) -> Result<bool, StoreError> {
        let client = self.client()?;
        let (oldest, head) = tokio::time::timeout(READ_WITHIN, log::bounds(&*client))
            .await
            .map_err(|_| StoreError("PostgreSQL did not answer in time".into()))??;
        let id = i64::try_from(id).unwrap_or(i64::MAX);
        Ok(id <= head && id + 1 >= oldest)
    }

    fn set_client(&self, client: Option<Arc<Client>>) {
        *self.client.lock().unwrap_or_else(PoisonError::into_inner) = client;
    }

    /// Reads every entry above the last one read, into the ring.
    async fn catch_up(&self, client: &Client) -> Result<(), StoreError> {
        loop {
            let last = *self.head.borrow();
            let from = i64::try_from(last).unwrap_or(i64::MAX);
            let entries = tokio::time::timeout(READ_WITHIN, log::read_after(client, from, BATCH))
                .await
                .map_err(|_| StoreError("PostgreSQL did not answer in time".into()))??;
            let Some(newest) = entries.last().map(|e| e.id) else {
                return Ok(());
            };
            let full = entries.len() == usize::try_from(BATCH).unwrap_or(usize::MAX);
            {
                let mut ring = self.ring.lock().unwrap_or_else(PoisonError::into_inner);
                for frame in entries.into_iter().filter_map(frame) {
                    ring.push(frame);
                }
            }
            self.head
                .send_replace(u64::try_from(newest).unwrap_or(last));
            if !full {
                return Ok(());
            }
        }
    }
}

/// The follower's task: connect and listen, start at the head, then read
/// on every notification and every [`POLL_EVERY`]; on a broken connection,
/// connect again. Ends once the follower is gone.
async fn follow(follower: std::sync::Weak<Follower>) {
    let mut started = false;
    loop {
        let Some(target) = follower.upgrade().map(|f| f.target.clone()) else {
            return;
        };
        let (client, mut heads) = match log::listen(&target).await {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!(error = %e, "cannot follow the stream log; retrying");
                tokio::time::sleep(RETRY_EVERY).await;
                continue;
            }
        };
        let client = Arc::new(client);
        if !started {
            // Streams begin at the newest delta; older ones are read from
            // the table when a client asks for them.
            match log::head(&*client).await {
                Ok(head) => {
                    let Some(f) = follower.upgrade() else { return };
                    f.head.send_replace(u64::try_from(head).unwrap_or(0));
                    started = true;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read the stream log's head; retrying");
                    tokio::time::sleep(RETRY_EVERY).await;
                    continue;
                }
            }
        }
        match follower.upgrade() {
            Some(f) => f.set_client(Some(client.clone())),
            None => return,
        }
        loop {
            let Some(f) = follower.upgrade() else { return };
            if let Err(e) = f.catch_up(&client).await {
                tracing::warn!(error = %e, "stream log not read; connecting again");
                f.set_client(None);
                break;
            }
            drop(f);
            match tokio::time::timeout(POLL_EVERY, heads.recv()).await {
                Ok(Some(_)) | Err(_) => {}
                // The listening connection ended.
                Ok(None) => break,
            }
            while heads.try_recv().is_ok() {}
        }
        tokio::time::sleep(RETRY_EVERY).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(id: u64) -> Arc<Frame> {
        Arc::new(Frame {
            id,
            event: "slo",
            data: format!("{{\"n\":{id}}}").into(),
        })
    }

    #[test]
    fn the_ring_hands_out_contiguous_runs_or_nothing() {
        let mut ring = Ring::default();
        assert_eq!(ring.after(0, 10), None, "empty");
        for id in 5..=9 {
            ring.push(f(id));
        }
        let ids =
            |v: Option<Vec<Arc<Frame>>>| v.map(|v| v.iter().map(|f| f.id).collect::<Vec<_>>());
        assert_eq!(ids(ring.after(4, 10)), Some(vec![5, 6, 7, 8, 9]));
        assert_eq!(ids(ring.after(6, 2)), Some(vec![7, 8]));
        assert_eq!(ids(ring.after(9, 10)), Some(vec![]), "caught up");
        assert_eq!(ids(ring.after(3, 10)), None, "4 is not held");
        assert_eq!(ids(ring.after(11, 10)), None, "ahead of the ring");
        ring.push(f(12));
        assert_eq!(
            ids(ring.after(11, 10)),
            Some(vec![12]),
            "a hole starts over"
        );
        assert_eq!(ids(ring.after(8, 10)), None);
    }

    #[test]
    fn the_ring_keeps_the_newest() {
        let mut ring = Ring::default();
        for id in 1..=(RING as u64 + 5) {
            ring.push(f(id));
        }
        assert_eq!(ring.frames.len(), RING);
        assert_eq!(ring.frames.front().map(|f| f.id), Some(6));
        assert!(ring.after(4, 1).is_none());
        assert_eq!(ring.after(5, 1).map(|v| v[0].id), Some(6));
    }
}
