//! A [`Batch`] as one PostgreSQL transaction, in as few round trips as the
//! protocol allows. The core waits for the write under its lock, so on
//! PostgreSQL the round trips are the cost (see docs/performance.md, "The
//! hub on SQLite and on PostgreSQL"): every statement is prepared once per
//! connection ([`Statements`]), and the transaction's statements are sent
//! back to back, in order, before the first answer is awaited (the
//! protocol's pipelining; the server runs them in the order sent, so an
//! audit entry still finds the approval written just before it).
//!
//! What each statement writes is what the SQLite store writes (see
//! `hub::store`): the same columns derived from the objects, the same
//! audit agent.

use std::cell::RefCell;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::task::Poll;

use chrono::Utc;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, GenericClient, Statement};

use super::lease::Held;
use crate::hub::store::shared::{approval_columns, control_columns, incident_columns, rfc3339};
use crate::hub::store::{Batch, StoreError};
use crate::model::role::Role;

type Param = Box<dyn ToSql + Sync + Send>;

/// One statement of the transaction and its parameters.
struct Step {
    sql: &'static str,
    params: Vec<Param>,
}

fn step(sql: &'static str, params: Vec<Param>) -> Step {
    Step { sql, params }
}

/// Prepared statements of one connection, by their text.
#[derive(Default)]
pub(super) struct Statements(RefCell<HashMap<&'static str, Statement>>);

impl Statements {
    /// The statement `sql`, prepared on `client`'s connection the first
    /// time.
    async fn get(
        &self,
        client: &impl GenericClient,
        sql: &'static str,
    ) -> Result<Statement, StoreError> {
        let known = self.0.borrow().get(sql).cloned();
        if let Some(statement) = known {
            return Ok(statement);
        }
        let statement = client.prepare(sql).await?;
        self.0.borrow_mut().insert(sql, statement.clone());
        Ok(statement)
    }

    /// Forgets every statement (the connection they were prepared on is
    /// gone).
    pub(super) fn clear(&self) {
        self.0.borrow_mut().clear();
    }
}

/// Checks the hub lease under its row's lock (see `active::fence_check`);
/// its row count says whether the lease holds.
const FENCE: &str = "SELECT 1 FROM leases WHERE name = $1 AND epoch = $2
 AND expires_us > (extract(epoch FROM clock_timestamp()) * 1000000)::bigint FOR SHARE";

const JOURNAL: &str = "INSERT INTO journal (id, oldest_ts, newest_ts, events, bytes, body)
 VALUES (nextval('journal_ids'), $1, $2, $3, $4, $5)";

const INCIDENT: &str = "INSERT INTO incidents (id, state, updated_at, body, closed_us, search, agent) VALUES ($1, $2, $3, $4, $5, $6, $7)
 ON CONFLICT (id) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at, body = excluded.body,
 closed_us = excluded.closed_us, search = excluded.search, agent = excluded.agent";

const APPROVAL: &str = "INSERT INTO approvals (id, agent, request_id, state, body, closed_us, search) VALUES ($1, $2, $3, $4, $5, $6, $7)
 ON CONFLICT (id) DO UPDATE SET state = excluded.state, body = excluded.body,
 closed_us = excluded.closed_us, search = excluded.search";

const CONTROL: &str = "INSERT INTO controls (id, agent, state, body, closed_us, search) VALUES ($1, $2, $3, $4, $5, $6)
 ON CONFLICT (id) DO UPDATE SET state = excluded.state, body = excluded.body,
 closed_us = excluded.closed_us, search = excluded.search";

/// An audit entry with the agent it concerns, worked out as the SQLite
/// store does (`hub::store::audit_reads`): the details' agent, else the
/// agent of the approval, control or incident it is about, else the
/// subject of the actions whose subject is an agent.
const AUDIT: &str =
    "INSERT INTO audit (seq, ts, actor, role, action, subject, details, prev_hash, hash, agent)
 VALUES ($1, $2, $3, $4, $5::text, $6::text, $7::text, $8, $9, COALESCE(
    CAST($7::text AS jsonb) ->> 'agent',
    (SELECT agent FROM approvals WHERE id = $6::text),
    (SELECT agent FROM controls WHERE id = $6::text),
    (SELECT agent FROM incidents WHERE id = $6::text),
    CASE WHEN $5::text IN ('agent.registered', 'callback.registered', 'drift.started',
                           'drift.cleared', 'version.changed') THEN $6::text END))";

const IDEMPOTENCY: &str =
    "INSERT INTO idempotency (principal, key, fingerprint, status, body, created_at)
 VALUES ($1, $2, $3, $4, $5, $6)";

const META: &str = "INSERT INTO meta (key, value) VALUES ($1, $2)
 ON CONFLICT (key) DO UPDATE SET value = excluded.value";

const CALLBACK: &str = "INSERT INTO callbacks (agent, url, secret, updated_at) VALUES ($1, $2, $3, $4)
 ON CONFLICT (agent) DO UPDATE SET url = excluded.url, secret = excluded.secret, updated_at = excluded.updated_at";

const PROFILE: &str = "INSERT INTO agent_profiles (agent, body, updated_at) VALUES ($1, $2, $3)
 ON CONFLICT (agent) DO UPDATE SET body = excluded.body, updated_at = excluded.updated_at";

const NOTE: &str = r#"INSERT INTO handoff_notes (at, "by", text) VALUES ($1, $2, $3)"#;

const TRACE_WAITING: &str = "INSERT INTO otlp_waiting (sender, trace_id, first_seen_ms, principal, spans) VALUES ($1, $2, $3, $4, $5)
 ON CONFLICT (sender, trace_id) DO UPDATE SET principal = excluded.principal, spans = excluded.spans";

const TRACE_RELEASED: &str = "DELETE FROM otlp_waiting WHERE sender = $1 AND trace_id = $2";

const NOTICE: &str = "INSERT INTO notices (id, receiver, grp, event, subject, page_key, body, created_ms, due_ms, attempts, next_ms, state, last_error, done_ms)
 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
 ON CONFLICT (id) DO UPDATE SET page_key = excluded.page_key, attempts = excluded.attempts,
   next_ms = excluded.next_ms, state = excluded.state, last_error = excluded.last_error, done_ms = excluded.done_ms";

/// Writes `batch` in one transaction, first checking `fence` (the hub
/// lease) when given, and returns the stream id the log gave the first of
/// `batch.log`'s deltas (appended last, so the log's row lock is held
/// only for the commit).
pub(super) async fn write(
    client: &mut Client,
    statements: &Statements,
    fence: Option<&Held>,
    batch: &Batch,
) -> Result<Option<u64>, StoreError> {
    let mut steps = Vec::new();
    if let Some(held) = fence {
        steps.push(step(
            FENCE,
            vec![Box::new(held.name.clone()), Box::new(held.epoch)],
        ));
    }
    objects(batch, &mut steps)?;
    audit(batch, &mut steps)?;
    records(batch, &mut steps)?;
    let tx = client.transaction().await?;
    let mut prepared = Vec::with_capacity(steps.len());
    for s in &steps {
        prepared.push(statements.get(&tx, s.sql).await?);
    }
    let runs = steps.iter().zip(&prepared).map(|(s, statement)| {
        tx.execute_raw(
            statement,
            s.params.iter().map(|p| p.as_ref() as &(dyn ToSql + Sync)),
        )
    });
    let counts = in_order(runs.collect()).await?;
    if let Some(held) = fence
        && counts.first() != Some(&1)
    {
        return Err(StoreError(format!(
            "this hub no longer holds the PostgreSQL lease {:?} (epoch {}): another replica serves",
            held.name, held.epoch
        )));
    }
    let logged = if batch.log.is_empty() {
        None
    } else {
        let append = statements.get(&tx, super::log::APPEND).await?;
        let at_us = Utc::now().timestamp_micros();
        super::log::append_as(&tx, &append, at_us, &batch.log).await?
    };
    tx.commit().await?;
    Ok(logged.map(|(first, _)| u64::try_from(first).unwrap_or(0)))
}

/// Runs `futures`, each polled first in order (so each statement is sent
/// in order, before any answer is awaited), and returns their results in
/// order, or the first error.
async fn in_order<F>(futures: Vec<F>) -> Result<Vec<u64>, StoreError>
where
    F: Future<Output = Result<u64, tokio_postgres::Error>>,
{
    let mut futures: Vec<Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut done: Vec<Option<Result<u64, tokio_postgres::Error>>> =
        futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut waiting = false;
        for (future, result) in futures.iter_mut().zip(done.iter_mut()) {
            if result.is_none() {
                match future.as_mut().poll(cx) {
                    Poll::Ready(r) => *result = Some(r),
                    Poll::Pending => waiting = true,
                }
            }
        }
        if waiting {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await;
    done.into_iter()
        .map(|r| r.unwrap_or(Ok(0)).map_err(StoreError::from))
        .collect()
}

/// The journal block, incidents, approvals and controls of a batch.
fn objects(batch: &Batch, steps: &mut Vec<Step>) -> Result<(), StoreError> {
    if let Some(block) = &batch.journal {
        steps.push(step(
            JOURNAL,
            vec![
                Box::new(block.oldest_ts),
                Box::new(block.newest_ts),
                Box::new(i64::from(block.events)),
                Box::new(block.bytes as i64),
                Box::new(block.body.clone()),
            ],
        ));
    }
    for i in &batch.incidents {
        let (closed_us, search) = incident_columns(i);
        steps.push(step(
            INCIDENT,
            vec![
                Box::new(i.id.clone()),
                Box::new(i.state.as_str()),
                Box::new(rfc3339(i.updated_at)),
                Box::new(serde_json::to_string(i)?),
                Box::new(closed_us),
                Box::new(search),
                Box::new(i.agent.clone()),
            ],
        ));
    }
    for a in &batch.approvals {
        let (closed_us, search) = approval_columns(a);
        steps.push(step(
            APPROVAL,
            vec![
                Box::new(a.id.clone()),
                Box::new(a.agent.clone()),
                Box::new(a.request_id.clone()),
                Box::new(a.state.as_str()),
                Box::new(serde_json::to_string(a)?),
                Box::new(closed_us),
                Box::new(search),
            ],
        ));
    }
    for c in &batch.controls {
        let (closed_us, search) = control_columns(c);
        let state = serde_json::to_value(c.state)?;
        steps.push(step(
            CONTROL,
            vec![
                Box::new(c.id.clone()),
                Box::new(c.agent.clone()),
                Box::new(state.as_str().unwrap_or_default().to_string()),
                Box::new(serde_json::to_string(c)?),
                Box::new(closed_us),
                Box::new(search),
            ],
        ));
    }
    Ok(())
}

/// The audit entries of a batch, after the objects they are about.
fn audit(batch: &Batch, steps: &mut Vec<Step>) -> Result<(), StoreError> {
    for e in &batch.audit {
        steps.push(step(
            AUDIT,
            vec![
                Box::new(e.seq as i64),
                Box::new(rfc3339(e.ts)),
                Box::new(e.actor.clone()),
                Box::new(e.role.map(Role::as_str)),
                Box::new(e.action.clone()),
                Box::new(e.subject.clone()),
                Box::new(serde_json::to_string(&e.details)?),
                Box::new(e.prev_hash.clone()),
                Box::new(e.hash.clone()),
            ],
        ));
    }
    Ok(())
}

/// The idempotency record, counters, callbacks, profiles, handoff notes,
/// waiting traces and notifications of a batch.
fn records(batch: &Batch, steps: &mut Vec<Step>) -> Result<(), StoreError> {
    let now = rfc3339(Utc::now());
    if let Some(r) = &batch.idempotency {
        steps.push(step(
            IDEMPOTENCY,
            vec![
                Box::new(r.principal.clone()),
                Box::new(r.key.clone()),
                Box::new(r.fingerprint.clone()),
                Box::new(i32::from(r.status)),
                Box::new(r.body.clone()),
                Box::new(Utc::now().timestamp()),
            ],
        ));
    }
    for (key, value) in &batch.meta {
        steps.push(step(META, vec![Box::new(*key), Box::new(value.clone())]));
    }
    for c in &batch.callbacks {
        steps.push(step(
            CALLBACK,
            vec![
                Box::new(c.agent.clone()),
                Box::new(c.url.clone()),
                Box::new(c.secret.clone()),
                Box::new(now.clone()),
            ],
        ));
    }
    for (agent, profile) in &batch.profiles {
        steps.push(step(
            PROFILE,
            vec![
                Box::new(agent.clone()),
                Box::new(serde_json::to_string(profile)?),
                Box::new(now.clone()),
            ],
        ));
    }
    for n in &batch.handoff_notes {
        steps.push(step(
            NOTE,
            vec![
                Box::new(rfc3339(n.at)),
                Box::new(n.by.clone()),
                Box::new(n.text.clone()),
            ],
        ));
    }
    for w in &batch.traces_waiting {
        steps.push(step(
            TRACE_WAITING,
            vec![
                Box::new(w.sender.clone()),
                Box::new(w.trace_id.clone()),
                Box::new(w.first_seen_ms),
                Box::new(w.principal.clone()),
                Box::new(w.spans.clone()),
            ],
        ));
    }
    for (sender, trace_id) in &batch.traces_released {
        steps.push(step(
            TRACE_RELEASED,
            vec![Box::new(sender.clone()), Box::new(trace_id.clone())],
        ));
    }
    for n in &batch.notices {
        steps.push(step(
            NOTICE,
            vec![
                Box::new(n.id as i64),
                Box::new(n.receiver.clone()),
                Box::new(n.grp.clone()),
                Box::new(n.event.clone()),
                Box::new(n.subject.clone()),
                Box::new(n.page_key.clone()),
                Box::new(n.body.clone()),
                Box::new(n.created_ms),
                Box::new(n.due_ms),
                Box::new(i32::try_from(n.attempts).unwrap_or(i32::MAX)),
                Box::new(n.next_ms),
                Box::new(n.state.as_str()),
                Box::new(n.last_error.clone()),
                Box::new(n.done_ms),
            ],
        ));
    }
    Ok(())
}
