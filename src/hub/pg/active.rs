//! One active hub per PostgreSQL database, the others standing by.
//!
//! Every `serve` on a PostgreSQL database first takes the `hub` lease (see
//! [`super::lease`]); the one holding it serves, the others stand by and
//! forward every request to it (`hub::forward`), so any replica's address
//! reaches the hub. The holder renews every
//! [`RENEW_EVERY`]; a standby asks every [`POLL_EVERY`] and takes the lease
//! once it has expired, [`TTL`] after the holder's last renewal: within
//! ten seconds of the holder's death. A hub that stops cleanly releases
//! the lease, and a standby takes over within a second.
//!
//! Every write transaction checks the lease first, under a row lock (see
//! `write`): a holder that was cut off from the database, or
//! paused, past its lease finds its epoch gone and writes nothing, so two
//! hubs never write over each other. A holder that loses the lease, taken
//! or not renewed for [`TTL`], stops serving and stands by again
//! (`cmd::serve`).

use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio_postgres::GenericClient;

use super::lease::{self, Held};
use super::{PgTarget, schema::pg_error};
use crate::hub::store::StoreError;

/// The lease the serving hub holds.
pub const HUB_LEASE: &str = "hub";
/// How long a lease lasts without renewal.
pub const TTL: Duration = Duration::from_secs(8);
/// How often the holder renews it.
pub const RENEW_EVERY: Duration = Duration::from_secs(2);
/// How often a standby asks for it.
pub const POLL_EVERY: Duration = Duration::from_secs(1);

/// What standing by does when the database cannot be reached at first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DatabaseAway {
    /// Fail: a replica starting says at once that its URL, password or
    /// server is wrong.
    Fail,
    /// Wait for it, its address answering `503` meanwhile: a replica
    /// standing by again after an outage, which served before.
    Wait,
}

/// How often a replica waiting for the database says so again.
const WAITING_TOLD_EVERY: Duration = Duration::from_secs(30);

/// Connects and brings the schema to this binary's version, waiting for
/// the database when `away` says so; the replica at `address` says it is
/// waiting, once on standard output (where it says it serves or stands
/// by) and in the log every [`WAITING_TOLD_EVERY`].
async fn open(
    target: &PgTarget,
    away: DatabaseAway,
    address: &str,
) -> Result<tokio_postgres::Client, StoreError> {
    let since = Instant::now();
    let mut told: Option<Instant> = None;
    loop {
        match target.open().await {
            Ok((client, _)) => {
                if told.is_some() {
                    tracing::info!(
                        waited_s = since.elapsed().as_secs(),
                        "standby: PostgreSQL answers again"
                    );
                }
                return Ok(client);
            }
            Err(e) if away == DatabaseAway::Fail => return Err(e),
            Err(e) => {
                if told.is_none() {
                    crate::hub::say(&format!(
                        "agentdeck hub standing by on {address}: waiting for the database ({e})"
                    ));
                }
                if told.is_none_or(|t| t.elapsed() >= WAITING_TOLD_EVERY) {
                    told = Some(Instant::now());
                    tracing::warn!(
                        error = %e,
                        waited_s = since.elapsed().as_secs(),
                        "standby: cannot reach PostgreSQL; waiting for it, answering 503 meanwhile"
                    );
                }
                tokio::time::sleep(POLL_EVERY).await;
            }
        }
    }
}

/// The lease this hub serves under, kept renewed by a task.
pub struct Active {
    /// The lease and its epoch, which every write checks.
    pub held: Held,
    /// Turns to the reason once the lease is lost.
    lost: watch::Receiver<Option<String>>,
    renewing: tokio::task::JoinHandle<()>,
    /// The holder's upkeep of the stream log (see `log::keep_trimmed`).
    trimming: tokio::task::JoinHandle<()>,
    target: PgTarget,
}

/// This hub as a lease holder: host, process id and the address it
/// serves, so an operator reading `leases` knows which machine serves, and
/// a random tag, so that no two hubs ever share a name (a lease is
/// re-taken at once by its own holder).
pub fn holder_name(listen: std::net::SocketAddr) -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into());
    let mut tag = [0u8; 4];
    if getrandom::fill(&mut tag).is_err() {
        // Without randomness, the time stands in: still distinct enough
        // for hubs that start apart.
        tag = (std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos()))
        .to_le_bytes();
    }
    format!(
        "{host}:{}@{listen}#{}",
        std::process::id(),
        hex::encode(tag)
    )
}

/// Brings the schema to this binary's version (replicas starting together
/// migrate once), waits until this process holds the `hub` lease, then
/// keeps it renewed.
pub async fn take_lease(
    target: &PgTarget,
    holder: &str,
    address: &str,
    away: DatabaseAway,
) -> Result<Active, StoreError> {
    let mut client = open(target, away, address).await?;
    let mut told = false;
    loop {
        if client.is_closed() {
            match target.connect().await {
                Ok(c) => client = c,
                Err(e) => {
                    tracing::warn!(error = %e, "standby: cannot reach PostgreSQL; retrying");
                    tokio::time::sleep(POLL_EVERY).await;
                    continue;
                }
            }
        }
        // Bounded: the row may be locked by a serving hub's write that
        // the server has not yet given up on.
        let asked =
            tokio::time::timeout(POLL_EVERY, lease::acquire(&client, HUB_LEASE, holder, TTL))
                .await
                .unwrap_or_else(|_| Err(StoreError("PostgreSQL did not answer in time".into())));
        match asked {
            Ok(Some(held)) => {
                // Where standbys forward to (see `hub::forward`).
                client
                    .execute(
                        "UPDATE leases SET address = $3 WHERE name = $1 AND epoch = $2",
                        &[&held.name, &held.epoch, &address],
                    )
                    .await
                    .map_err(pg_error)?;
                tracing::info!(
                    epoch = held.epoch,
                    "holding the hub lease: this replica serves"
                );
                let (tx, lost) = watch::channel(None);
                let renewing = tokio::spawn(renew(target.clone(), client, held.clone(), tx));
                let trimming = tokio::spawn(super::log::keep_trimmed(target.clone()));
                return Ok(Active {
                    held,
                    lost,
                    renewing,
                    trimming,
                    target: target.clone(),
                });
            }
            Ok(None) if !told => {
                told = true;
                let by = current_holder(&client).await.unwrap_or_default();
                tracing::info!(serving = %by, "standby: another replica serves; forwarding to it, taking over when its lease lapses");
                crate::hub::say(&format!(
                    "agentdeck hub standing by on {address}: forwarding to {by}, which serves this database"
                ));
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "standby: cannot ask for the hub lease; retrying"),
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
}

/// Who holds the `hub` lease now.
async fn current_holder(client: &impl GenericClient) -> Result<String, StoreError> {
    Ok(client
        .query_opt("SELECT holder FROM leases WHERE name = $1", &[&HUB_LEASE])
        .await
        .map_err(pg_error)?
        .map(|r| r.get(0))
        .unwrap_or_default())
}

/// Renews `held` until it is lost: taken by another replica, or not
/// renewed for a whole [`TTL`] (the database unreachable).
async fn renew(
    target: PgTarget,
    mut client: tokio_postgres::Client,
    held: Held,
    lost: watch::Sender<Option<String>>,
) {
    let mut renewed = Instant::now();
    loop {
        tokio::time::sleep(RENEW_EVERY).await;
        if client.is_closed() {
            // The database restarted or failed over: renew on a new
            // connection while the lease still holds.
            match target.connect().await {
                Ok(c) => client = c,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot reach PostgreSQL to renew the hub lease")
                }
            }
        }
        let outcome =
            match tokio::time::timeout(RENEW_EVERY, lease::renew(&client, &held, TTL)).await {
                Ok(outcome) => outcome,
                Err(_) => Err(StoreError(format!(
                    "PostgreSQL did not answer within {RENEW_EVERY:?}"
                ))),
            };
        let why = match outcome {
            Ok(true) => {
                renewed = Instant::now();
                continue;
            }
            Ok(false) => "another replica took the hub lease".to_string(),
            Err(e) if renewed.elapsed() >= TTL => {
                format!("the hub lease could not be renewed for {TTL:?}: {e}")
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not renew the hub lease; retrying");
                continue;
            }
        };
        let _ = lost.send(Some(why));
        return;
    }
}

impl Active {
    /// Resolves with the reason once the lease is lost.
    pub async fn lost(&self) -> String {
        let mut lost = self.lost.clone();
        match lost.wait_for(Option::is_some).await {
            Ok(why) => why.clone().unwrap_or_default(),
            Err(_) => "the lease's renewal stopped".into(),
        }
    }

    /// Stops renewing and releases the lease, so a standby takes over at
    /// once (a clean stop).
    pub async fn release(self) {
        self.renewing.abort();
        self.trimming.abort();
        // Bounded: a hub cut off from the database must still stop.
        let released = tokio::time::timeout(RENEW_EVERY, async {
            let client = self.target.connect().await?;
            lease::release(&client, &self.held).await
        })
        .await
        .unwrap_or_else(|_| Err(StoreError("PostgreSQL did not answer in time".into())));
        if let Err(e) = released {
            tracing::warn!(error = %e, "the hub lease was not released; a standby takes over when it lapses");
        }
    }
}
