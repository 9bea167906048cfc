//! How a [`Batch`] is written to SQLite, statement by statement inside
//! the store's transaction, and how write failures are remembered.

use chrono::{DateTime, Utc};
use rusqlite::params;

use crate::model::role::Role;

use super::{Batch, StoreError, audit_reads, history, rfc3339};

/// Since when writes fail and why; cleared by the next write that
/// succeeds, so the hub recovers by itself when the database does. The
/// first failure and the recovery are logged once each.
#[derive(Debug, Default)]
pub(crate) struct FailingWrites(Option<(DateTime<Utc>, String)>);

impl FailingWrites {
    /// Records how a write went.
    pub(crate) fn note<T>(&mut self, written: &Result<T, StoreError>) {
        match written {
            Ok(_) => {
                if let Some((since, _)) = self.0.take() {
                    tracing::info!(%since, "storage writes work again");
                }
            }
            Err(e) => {
                if self.0.is_none() {
                    tracing::error!(error = %e, "storage refuses writes; requests that change state get 503 until it recovers");
                }
                let since = self.0.as_ref().map_or_else(Utc::now, |f| f.0);
                self.0 = Some((since, e.to_string()));
            }
        }
    }

    /// Since when writes fail and why, or none while they succeed.
    pub(crate) fn since(&self) -> Option<&(DateTime<Utc>, String)> {
        self.0.as_ref()
    }
}

/// The events, incidents, approvals and controls of a batch.
pub(super) fn write_objects(
    tx: &rusqlite::Transaction<'_>,
    batch: &Batch,
) -> Result<(), StoreError> {
    if let Some(block) = &batch.journal {
        block.insert(tx)?;
    }
    for i in &batch.incidents {
        let (closed_us, search) = history::incident_columns(i);
        tx.prepare_cached(
                "INSERT INTO incidents (id, state, updated_at, body, closed_us, search, agent) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT (id) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at, body = excluded.body,
                 closed_us = excluded.closed_us, search = excluded.search, agent = excluded.agent",
            )?
            .execute(params![
                i.id,
                i.state.as_str(),
                rfc3339(i.updated_at),
                serde_json::to_string(i)?,
                closed_us,
                search,
                i.agent
            ])?;
    }
    for a in &batch.approvals {
        let (closed_us, search) = history::approval_columns(a);
        tx.prepare_cached(
            "INSERT INTO approvals (id, agent, request_id, state, body, closed_us, search) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT (id) DO UPDATE SET state = excluded.state, body = excluded.body,
                 closed_us = excluded.closed_us, search = excluded.search",
        )?
        .execute(params![
            a.id,
            a.agent,
            a.request_id,
            a.state.as_str(),
            serde_json::to_string(a)?,
            closed_us,
            search
        ])?;
    }
    for c in &batch.controls {
        let (closed_us, search) = history::control_columns(c);
        tx.prepare_cached(
            "INSERT INTO controls (id, agent, state, body, closed_us, search) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (id) DO UPDATE SET state = excluded.state, body = excluded.body,
                 closed_us = excluded.closed_us, search = excluded.search",
        )?
        .execute(params![
            c.id,
            c.agent,
            serde_json::to_value(c.state)?.as_str().unwrap_or_default(),
            serde_json::to_string(c)?,
            closed_us,
            search
        ])?;
    }
    Ok(())
}

/// The audit entries of a batch.
pub(super) fn write_audit(tx: &rusqlite::Transaction<'_>, batch: &Batch) -> Result<(), StoreError> {
    for e in &batch.audit {
        tx.prepare_cached(&audit_reads::INSERT_AUDIT)?
            .execute(params![
                e.seq as i64,
                rfc3339(e.ts),
                e.actor,
                e.role.map(Role::as_str),
                e.action,
                e.subject,
                serde_json::to_string(&e.details)?,
                e.prev_hash,
                e.hash
            ])?;
    }
    Ok(())
}

/// The idempotency record, counters, callbacks, profiles and handoff notes
/// of a batch.
pub(super) fn write_records(
    tx: &rusqlite::Transaction<'_>,
    batch: &Batch,
) -> Result<(), StoreError> {
    if let Some(r) = &batch.idempotency {
        tx.prepare_cached(
            "INSERT INTO idempotency (principal, key, fingerprint, status, body, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?
        .execute(params![
            r.principal,
            r.key,
            r.fingerprint,
            r.status,
            r.body,
            Utc::now().timestamp()
        ])?;
    }
    for (key, value) in &batch.meta {
        tx.prepare_cached(
            "INSERT INTO meta (key, value) VALUES (?1, ?2)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )?
        .execute(params![key, value])?;
    }
    for c in &batch.callbacks {
        tx.prepare_cached(
                "INSERT INTO callbacks (agent, url, secret, updated_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (agent) DO UPDATE SET url = excluded.url, secret = excluded.secret, updated_at = excluded.updated_at",
            )?
            .execute(params![c.agent, c.url, c.secret, rfc3339(Utc::now())])?;
    }
    for (agent, profile) in &batch.profiles {
        tx.prepare_cached(
                "INSERT INTO agent_profiles (agent, body, updated_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (agent) DO UPDATE SET body = excluded.body, updated_at = excluded.updated_at",
            )?
            .execute(params![agent, serde_json::to_string(profile)?, rfc3339(Utc::now())])?;
    }
    for n in &batch.handoff_notes {
        tx.prepare_cached("INSERT INTO handoff_notes (at, by, text) VALUES (?1, ?2, ?3)")?
            .execute(params![rfc3339(n.at), n.by, n.text])?;
    }
    for w in &batch.traces_waiting {
        tx.prepare_cached(
            "INSERT INTO otlp_waiting (sender, trace_id, first_seen_ms, principal, spans) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (sender, trace_id) DO UPDATE SET principal = excluded.principal, spans = excluded.spans",
        )?
        .execute(params![w.sender, w.trace_id, w.first_seen_ms, w.principal, w.spans])?;
    }
    for (sender, trace_id) in &batch.traces_released {
        tx.prepare_cached("DELETE FROM otlp_waiting WHERE sender = ?1 AND trace_id = ?2")?
            .execute(params![sender, trace_id])?;
    }
    Ok(())
}
