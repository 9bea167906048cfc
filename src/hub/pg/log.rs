//! The one ordered log that replicas share: every delta any replica
//! publishes, under an id the database hands out, so that an id means the
//! same delta on every replica and `Last-Event-ID` from one resumes on
//! another.
//!
//! **Commit order is id order.** Ids come from `log_head`'s one row,
//! updated in the writing transaction: its row lock is held until commit,
//! so the next writer waits for the previous one's commit (or rollback)
//! before it reads the counter. A reader therefore never sees id n
//! committed before ids below n: whatever holds them committed earlier. A
//! rolled-back write rolls the counter back with it, so ids stay
//! contiguous. The cost is that appends to the log are serialised for the
//! length of one writing transaction; with one transaction per request
//! (1,000 events, or one operator action) that is one short wait per
//! request. (Reading only below the oldest transaction in flight, the
//! other known answer, lets writers overlap but makes every reader
//! track in-flight transactions, and still leaves gaps on rollback.)
//!
//! Each append notifies `agentdeck_log` with the new head, in the same
//! transaction (delivered at commit); replicas listen, and poll as a
//! backstop, then read the ids above the last one they applied.

use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::mpsc;
use tokio_postgres::{AsyncMessage, Client, GenericClient, ToStatement, Transaction};

use super::PgTarget;
use super::schema::pg_error;
use crate::hub::store::{LogFrame, StoreError};

/// The channel appends notify, with the new head id as payload.
pub const CHANNEL: &str = "agentdeck_log";

/// Deltas the log keeps: twice what a hub that takes over reads into its
/// replay buffer.
pub const KEPT: i64 = 20_000;

/// How often the serving hub trims the log. Under a busy fleet a tick logs
/// a delta for every SLO series whose status moved (up to a few hundred,
/// twice a second), so the log is trimmed often, never under the core's
/// lock.
pub const TRIM_EVERY: Duration = Duration::from_secs(10);

/// One delta of the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    /// Its id, the same on every replica.
    pub id: i64,
    /// When it was appended, Unix microseconds.
    pub at_us: i64,
    /// The SSE event.
    pub event: String,
    /// The delta as JSON.
    pub body: String,
}

/// Takes the ids, inserts the entries and notifies the new head
/// (delivered at commit), in one statement so in one round trip.
pub const APPEND: &str =
    "WITH head AS (UPDATE log_head SET next_id = next_id + $1 RETURNING next_id - $1 AS first),
 added AS (INSERT INTO log (id, at_us, event, body)
   SELECT head.first + t.n - 1, $2, t.event, t.body
   FROM head, UNNEST($3::text[], $4::text[]) WITH ORDINALITY AS t(event, body, n))
 SELECT head.first FROM head, LATERAL pg_notify($5, (head.first + $1 - 1)::text) AS notified";

/// Appends `frames` in order inside `tx` and returns their ids' range
/// (first, last); nothing is visible, and no id is used, until `tx`
/// commits. An empty slice takes no id and no lock.
pub async fn append(
    tx: &Transaction<'_>,
    at_us: i64,
    frames: &[LogFrame],
) -> Result<Option<(i64, i64)>, StoreError> {
    append_as(tx, APPEND, at_us, frames).await
}

/// [`append`] with [`APPEND`] as given, prepared or not.
pub async fn append_as<T: ?Sized + ToStatement + Sync>(
    tx: &Transaction<'_>,
    append: &T,
    at_us: i64,
    frames: &[LogFrame],
) -> Result<Option<(i64, i64)>, StoreError> {
    if frames.is_empty() {
        return Ok(None);
    }
    let events: Vec<&str> = frames.iter().map(|f| f.event).collect();
    let bodies: Vec<&str> = frames.iter().map(|f| &*f.data).collect();
    let count = i64::try_from(frames.len()).unwrap_or(i64::MAX);
    let first: i64 = tx
        .query_one(append, &[&count, &at_us, &events, &bodies, &CHANNEL])
        .await
        .map_err(pg_error)?
        .get(0);
    let last = first + count - 1;
    Ok(Some((first, last)))
}

/// Up to `limit` entries with ids above `after`, in id order: always a
/// contiguous run starting at `after + 1` (see the module's note).
pub async fn read_after(
    client: &impl GenericClient,
    after: i64,
    limit: i64,
) -> Result<Vec<LogEntry>, StoreError> {
    let rows = client
        .query(
            "SELECT id, at_us, event, body FROM log WHERE id > $1 ORDER BY id LIMIT $2",
            &[&after, &limit],
        )
        .await
        .map_err(pg_error)?;
    Ok(rows
        .iter()
        .map(|row| LogEntry {
            id: row.get(0),
            at_us: row.get(1),
            event: row.get(2),
            body: row.get(3),
        })
        .collect())
}

/// Up to `limit` of the newest entries, oldest first.
pub async fn tail(client: &impl GenericClient, limit: i64) -> Result<Vec<LogEntry>, StoreError> {
    let after = head(client).await?.saturating_sub(limit);
    read_after(client, after, limit).await
}

/// Drops every entry but the newest `kept`; returns how many went.
pub async fn trim(client: &impl GenericClient, kept: i64) -> Result<u64, StoreError> {
    let below = head(client).await?.saturating_sub(kept);
    client
        .execute("DELETE FROM log WHERE id <= $1", &[&below])
        .await
        .map_err(pg_error)
}

/// Trims the log to [`KEPT`] every [`TRIM_EVERY`], on a connection of its
/// own, until dropped (the serving hub runs it while it holds the lease).
pub async fn keep_trimmed(target: PgTarget) {
    let mut client: Option<Client> = None;
    loop {
        tokio::time::sleep(TRIM_EVERY).await;
        if client.as_ref().is_none_or(Client::is_closed) {
            client = match target.connect().await {
                Ok(c) => Some(c),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot reach PostgreSQL to trim the stream log");
                    continue;
                }
            };
        }
        let Some(c) = &client else { continue };
        match tokio::time::timeout(TRIM_EVERY, trim(c, KEPT)).await {
            Ok(Ok(dropped)) => tracing::debug!(dropped, "stream log trimmed"),
            Ok(Err(e)) => tracing::warn!(error = %e, "could not trim the stream log"),
            Err(_) => tracing::warn!("PostgreSQL did not trim the stream log in time"),
        }
    }
}

/// The last id committed (0 for an empty log).
pub async fn head(client: &impl GenericClient) -> Result<i64, StoreError> {
    let next: i64 = client
        .query_one("SELECT next_id FROM log_head", &[])
        .await
        .map_err(pg_error)?
        .get(0);
    Ok(next - 1)
}

/// The oldest id the log still holds and the last committed, as
/// `(oldest, head)`; an empty log gives `(head + 1, head)`.
pub async fn bounds(client: &impl GenericClient) -> Result<(i64, i64), StoreError> {
    let row = client
        .query_one(
            "SELECT (SELECT min(id) FROM log), next_id - 1 FROM log_head",
            &[],
        )
        .await
        .map_err(pg_error)?;
    let head: i64 = row.get(1);
    let oldest: Option<i64> = row.get(0);
    Ok((oldest.unwrap_or(head + 1), head))
}

/// Opens a connection that listens on [`CHANNEL`] and returns it with the
/// heads it hears of. The receiver ends when the connection does; a
/// listener that falls behind loses only wake-ups (the channel holds 64),
/// never entries, since a reader reads every id above its last.
pub async fn listen(target: &PgTarget) -> Result<(Client, mpsc::Receiver<i64>), StoreError> {
    let (client, mut connection) = target.connect_raw().await?;
    let (heads, rx) = mpsc::channel(64);
    let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
    tokio::spawn(async move {
        while let Some(message) = messages.next().await {
            match message {
                Ok(AsyncMessage::Notification(n)) if n.channel() == CHANNEL => {
                    let Ok(head) = n.payload().parse::<i64>() else {
                        continue;
                    };
                    if heads.try_send(head).is_err() && heads.is_closed() {
                        break;
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!("PostgreSQL listener ended: {e}");
                    break;
                }
            }
        }
    });
    client
        .batch_execute(&format!("LISTEN {CHANNEL}"))
        .await
        .map_err(pg_error)?;
    Ok((client, rx))
}
