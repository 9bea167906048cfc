//! Reads of what is stored rather than held: history pages, the audit log
//! and the check of its chain. They run on connections of their own, opened
//! read-only on the hub's database, so that a long read (a search through
//! a year of history, a walk of the whole chain) never holds the core's
//! lock: ingest and actions go on meanwhile, and SQLite's WAL shows each
//! read the last committed state. Nothing here writes.

use std::path::Path;
use std::sync::{Mutex, PoisonError};

use chrono::{DateTime, Utc};

use crate::model::audit::AuditChain;

use super::audit::ChainCheck;
use super::pg::{PgStore, PgTarget};
use super::store::{Backend, Store, StoreError};

/// The read-only side of the hub's store.
pub struct Archive {
    /// History pages and audit pages.
    reader: Mutex<Backend>,
    /// The chain check, on its own connection: a whole walk takes a while
    /// and must not hold up pages.
    chain: Mutex<ChainCheck>,
}

impl Archive {
    /// Opens two reading connections on the database at `path`, which the
    /// hub has already created and migrated.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Ok(Self {
            reader: Mutex::new(Store::open_reader(path)?.into()),
            chain: Mutex::new(ChainCheck::new(Store::open_reader(path)?)),
        })
    }

    /// Opens two reading connections on the PostgreSQL database the hub
    /// has already migrated.
    pub fn postgres(target: &PgTarget) -> Result<Self, StoreError> {
        Ok(Self {
            reader: Mutex::new(PgStore::open_reader(target)?.into()),
            chain: Mutex::new(ChainCheck::new(PgStore::open_reader(target)?)),
        })
    }

    /// Runs `f` on the reading connection (blocking: call it off the async
    /// runtime).
    pub fn read<T>(&self, f: impl FnOnce(&Backend) -> T) -> T {
        let store = self.reader.lock().unwrap_or_else(PoisonError::into_inner);
        f(&store)
    }

    /// Checks the chain (see [`ChainCheck`]); blocking.
    pub fn check_chain(&self, full: bool, now: DateTime<Utc>) -> Result<AuditChain, StoreError> {
        self.chain
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .check(full, now)
    }

    /// The first check, walking the whole log, as the hub starts; a break
    /// is logged for whoever runs the hub.
    pub fn check_at_start(&self) {
        match self.check_chain(true, Utc::now()) {
            Ok(AuditChain::Intact { entries, .. }) => {
                tracing::info!(entries, "audit log verified");
            }
            Ok(AuditChain::Broken { at, reason, .. }) => {
                tracing::error!(at, %reason, "audit log BROKEN: entries before it verify; see `agentdeck audit verify`");
            }
            Err(e) => tracing::warn!(error = %e, "audit log not verified at start"),
        }
    }
}
