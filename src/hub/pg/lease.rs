//! Leases: which replica holds a role that must run once across replicas
//! (the derived state, SLOs and incidents, and the timers: expiry,
//! escalation, notifications, retention).
//!
//! A lease is a row with its holder, an epoch and an expiry on the
//! database's clock (replicas' clocks may disagree; the database's is the
//! one they share). The holder renews well within the expiry; another
//! replica takes a lease only once it has expired, and taking it raises
//! the epoch, which the holder's writes carry (fencing): a replica that
//! was paused past its expiry finds its epoch gone and stops.

use std::time::Duration;

use tokio_postgres::GenericClient;

use super::schema::pg_error;
use crate::hub::store::StoreError;

/// A lease held: renew it with the same epoch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    /// The role it is for.
    pub name: String,
    /// Raised by every new holder.
    pub epoch: i64,
}

/// Takes the lease `name` for `holder` for `ttl` if it is free, expired or
/// already `holder`'s; `None` while another replica holds it.
pub async fn acquire(
    client: &impl GenericClient,
    name: &str,
    holder: &str,
    ttl: Duration,
) -> Result<Option<Held>, StoreError> {
    let ttl_us = i64::try_from(ttl.as_micros()).unwrap_or(i64::MAX);
    let row = client
        .query_opt(
            "INSERT INTO leases (name, holder, epoch, expires_us) \
             VALUES ($1, $2, 1, (extract(epoch FROM clock_timestamp()) * 1000000)::bigint + $3) \
             ON CONFLICT (name) DO UPDATE SET \
               holder = excluded.holder, \
               epoch = leases.epoch + 1, \
               expires_us = excluded.expires_us \
             WHERE leases.expires_us < (extract(epoch FROM clock_timestamp()) * 1000000)::bigint \
                OR leases.holder = excluded.holder \
             RETURNING epoch",
            &[&name, &holder, &ttl_us],
        )
        .await
        .map_err(pg_error)?;
    Ok(row.map(|r| Held {
        name: name.to_string(),
        epoch: r.get(0),
    }))
}

/// Extends `held` by `ttl` from now; false when it was lost (expired and
/// taken, so its epoch moved on).
pub async fn renew(
    client: &impl GenericClient,
    held: &Held,
    ttl: Duration,
) -> Result<bool, StoreError> {
    let ttl_us = i64::try_from(ttl.as_micros()).unwrap_or(i64::MAX);
    let updated = client
        .execute(
            "UPDATE leases SET expires_us = (extract(epoch FROM clock_timestamp()) * 1000000)::bigint + $3 \
             WHERE name = $1 AND epoch = $2",
            &[&held.name, &held.epoch, &ttl_us],
        )
        .await
        .map_err(pg_error)?;
    Ok(updated == 1)
}

/// Gives `held` up at once, so another replica need not wait for it to
/// expire (a clean stop).
pub async fn release(client: &impl GenericClient, held: &Held) -> Result<(), StoreError> {
    client
        .execute(
            "UPDATE leases SET expires_us = 0 WHERE name = $1 AND epoch = $2",
            &[&held.name, &held.epoch],
        )
        .await
        .map_err(pg_error)?;
    Ok(())
}
