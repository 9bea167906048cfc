//! OTLP trace exports in the core: spans joined into whole traces across
//! exports ([`Assembler`]), the runs they make journaled and applied, and
//! the spans still waiting stored in the same transaction, so that a
//! restart loses no acknowledged span.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};

use crate::ingest::otlp::{Assembler, Assembly, Export, PriceTable, TraceLimits, Waiting};

use super::super::auth::Principal;
use super::super::intake::{PartialSuccess, TraceBatch};
use super::super::store::{StoreError, WaitingTraceRow};
use super::Core;

/// The trace buffer and the senders of what waits in it.
#[derive(Debug, Default)]
pub struct Traces {
    pub(super) assembler: Assembler,
    /// The last principal seen for each sender name, to check the runs of
    /// its traces when they expire.
    senders: HashMap<String, Principal>,
}

impl Traces {
    /// The buffer as stored: rows that no longer read are skipped with a
    /// warning rather than blocking the start.
    pub fn load(limits: TraceLimits, prices: Arc<PriceTable>, rows: Vec<WaitingTraceRow>) -> Self {
        let mut traces = Self {
            assembler: Assembler::new(limits, prices),
            senders: HashMap::new(),
        };
        let mut waiting = Vec::with_capacity(rows.len());
        for row in rows {
            let first_seen = Utc
                .timestamp_millis_opt(row.first_seen_ms)
                .single()
                .unwrap_or_else(Utc::now);
            let principal = serde_json::from_str::<Principal>(&row.principal);
            match (Waiting::from_json(first_seen, &row.spans), principal) {
                (Ok(w), Ok(p)) => {
                    traces.senders.insert(row.sender.clone(), p);
                    waiting.push(((row.sender, row.trace_id), w));
                }
                _ => {
                    tracing::warn!(trace = %row.trace_id, "a stored waiting trace no longer reads; skipped")
                }
            }
        }
        traces.assembler.load(waiting);
        traces
    }
}

impl Core {
    /// Sets how long and how much the trace buffer holds, and the prices
    /// of model calls (at start), and loads the traces stored waiting.
    pub fn set_otlp(&mut self, limits: TraceLimits, prices: Arc<PriceTable>) {
        let rows = match self.store.waiting_traces() {
            Ok(rows) => rows,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the waiting traces; starting without them");
                Vec::new()
            }
        };
        self.traces = Traces::load(limits, prices, rows);
    }

    /// Spans and traces waiting for the rest of their trace, and spans
    /// mapped on expiry since start.
    pub fn trace_buffer(&self) -> (usize, usize, u64) {
        let (traces, spans) = self.traces.assembler.waiting();
        (traces, spans, self.traces.assembler.expired_total)
    }

    /// Ingests an export from `who`: its traces joined with the spans that
    /// waited for them, the runs made journaled and applied, what still
    /// waits stored, all in one transaction.
    pub fn ingest_traces(
        &mut self,
        who: &Principal,
        export: Export,
        now: DateTime<Utc>,
    ) -> Result<PartialSuccess, StoreError> {
        self.traces.senders.insert(who.name.clone(), who.clone());
        let assembly = self.traces.assembler.assemble(&who.name, export, now);
        self.apply_assembly(Some(who), assembly, now)
    }

    /// Maps the traces that waited past the limit (on the tick).
    pub fn expire_traces(&mut self, now: DateTime<Utc>) -> Result<(), StoreError> {
        let assembly = self.traces.assembler.expire(now);
        if assembly.released.is_empty() {
            return Ok(());
        }
        self.apply_assembly(None, assembly, now)?;
        Ok(())
    }

    /// Stores and applies what a step of the buffer produced: the runs of
    /// `who`'s export and of any trace expired on the way (each checked
    /// against the token that sent its spans), and the buffer's changes.
    fn apply_assembly(
        &mut self,
        who: Option<&Principal>,
        mut assembly: Assembly,
        now: DateTime<Utc>,
    ) -> Result<PartialSuccess, StoreError> {
        let mapped = std::mem::take(&mut assembly.mapped);
        let mut batch = TraceBatch::from_mapped(who.unwrap_or(&nobody()), mapped, now);
        for (sender, mapped) in std::mem::take(&mut assembly.expired) {
            let owner = self
                .traces
                .senders
                .get(&sender)
                .cloned()
                .unwrap_or_else(nobody);
            let expired = TraceBatch::from_mapped(&owner, mapped, now);
            if let Some(reason) = expired.first_error() {
                tracing::info!(%sender, %reason, "spans of an expired trace were refused");
            }
            batch.absorb_runs(expired);
        }
        if assembly.expired_spans > 0 {
            tracing::info!(
                spans = assembly.expired_spans,
                "trace spans waited past --trace-wait (or the buffer filled) without their agent span and were mapped as they stood"
            );
        }
        let mut change = self.change();
        for (key, w) in &assembly.waiting {
            change.batch.traces_waiting.push(WaitingTraceRow {
                sender: key.0.clone(),
                trace_id: key.1.clone(),
                first_seen_ms: w.first_seen.timestamp_millis(),
                principal: self
                    .traces
                    .senders
                    .get(&key.0)
                    .and_then(|p| serde_json::to_string(p).ok())
                    .unwrap_or_default(),
                spans: w.to_json(),
            });
        }
        change.batch.traces_released = assembly.released.clone();
        match batch.ingest_in(self, change, now) {
            Ok(answer) => {
                self.traces.assembler.settle(&mut assembly);
                Ok(answer)
            }
            Err(e) => {
                self.traces.assembler.restore(&mut assembly);
                Err(e)
            }
        }
    }
}

/// A principal that speaks for no agent.
fn nobody() -> Principal {
    Principal {
        name: String::new(),
        role: crate::model::role::Role::Viewer,
        agents: Vec::new(),
    }
}
