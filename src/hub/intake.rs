//! What an ingest request means: decoded (outside the core's lock), kept
//! to the agents the token speaks for, then journaled and applied by
//! [`Core::ingest`], with every refusal reported against its line or span.

use chrono::{DateTime, Utc};

use crate::model::action::{IngestResponse, LineError};
use crate::model::envelope::Envelope;

use super::auth::Principal;
use super::core::Core;
use super::store::{Block, StoreError};

/// A `POST /v1/events` body, decoded and checked, ready for the core.
pub struct EventBatch {
    /// Accepted envelopes and their journal lines.
    events: Vec<(Envelope, String)>,
    /// The body line number of each accepted envelope.
    lines: Vec<u64>,
    /// Lines refused so far, with why.
    rejected: Vec<LineError>,
    /// The journal block of every accepted envelope, packed before the
    /// core's lock is taken.
    packed: Option<Block>,
}

impl EventBatch {
    /// Decodes an NDJSON body and keeps the events `who` may send.
    pub fn decode(who: &Principal, body: &[u8], now: DateTime<Utc>) -> Self {
        let (good, bad) = crate::ingest::ndjson::decode_body(body, now);
        let mut rejected: Vec<LineError> = bad
            .into_iter()
            .map(|(line, error)| LineError { line, error })
            .collect();
        // Line numbers of the good lines, to report engine refusals by line.
        let numbers: Vec<u64> = crate::ingest::ndjson::lines(body)
            .map(|(n, _)| n)
            .filter(|n| !rejected.iter().any(|r| r.line == *n))
            .collect();
        let mut events = Vec::with_capacity(good.len());
        let mut lines = Vec::with_capacity(good.len());
        for (i, item) in good.into_iter().enumerate() {
            let line = numbers.get(i).copied().unwrap_or(0);
            if who.speaks_for(&item.0.agent) {
                lines.push(line);
                events.push(item);
            } else {
                rejected.push(LineError {
                    line,
                    error: format!(
                        "this token ({}) may not send events for agent {:?}",
                        who.name, item.0.agent
                    ),
                });
            }
        }
        // A failure here is met again, and reported, under the lock.
        let packed = Block::pack(
            events
                .iter()
                .map(|(env, line): &(Envelope, String)| (env.ts.timestamp(), line.as_str())),
        )
        .ok()
        .flatten();
        Self {
            events,
            lines,
            rejected,
            packed,
        }
    }

    /// Journals and applies the batch; the answer names every refused line.
    pub fn ingest(self, core: &mut Core, now: DateTime<Utc>) -> Result<IngestResponse, StoreError> {
        let Self {
            events,
            lines,
            mut rejected,
            packed,
        } = self;
        core.metrics.rejected("invalid", rejected.len() as u64);
        let change = core.change();
        let outcome = core.ingest_packed(events, packed, change, now)?;
        for (i, reason) in outcome.refused {
            rejected.push(LineError {
                line: lines.get(i).copied().unwrap_or(0),
                error: reason,
            });
        }
        rejected.sort_by_key(|r| r.line);
        Ok(IngestResponse {
            accepted: outcome.accepted,
            duplicates: outcome.duplicates,
            rejected,
        })
    }
}

/// What an OTLP export answer reports when not everything was used: the
/// count refused and why (a message alone is a warning).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PartialSuccess {
    /// Spans (or log records, data points) refused.
    pub rejected: u64,
    /// Why, for the exporter's log; empty when all was used.
    pub message: String,
}

/// A `POST /v1/traces` body, mapped to envelopes, ready for the core.
pub struct TraceBatch {
    events: Vec<(Envelope, String)>,
    /// The spans behind each envelope, to count refusals in spans.
    spans_of: Vec<u64>,
    rejected_spans: u64,
    errors: Vec<String>,
    ignored_spans: u64,
    late_spans: u64,
}

impl TraceBatch {
    /// Keeps the runs of a mapped export that `who` may send.
    pub fn from_mapped(
        who: &Principal,
        mapped: crate::ingest::otlp::Mapped,
        now: DateTime<Utc>,
    ) -> Self {
        let mut batch = Self {
            events: Vec::new(),
            spans_of: Vec::new(),
            rejected_spans: mapped.rejected_spans,
            errors: mapped.errors,
            ignored_spans: mapped.ignored_spans,
            late_spans: mapped.late_spans,
        };
        for (env, spans) in mapped.envelopes.into_iter().zip(mapped.envelope_spans) {
            if !who.speaks_for(&env.agent) {
                batch.rejected_spans += spans;
                batch.errors.push(format!(
                    "this token may not send traces for agent {:?}",
                    env.agent
                ));
                continue;
            }
            if let Err(e) = crate::ingest::ndjson::check_time(&env, now) {
                batch.rejected_spans += spans;
                batch.errors.push(e.to_string());
                continue;
            }
            let line = env.to_line();
            batch.events.push((env, line));
            batch.spans_of.push(spans);
        }
        batch
    }

    /// The first reason a span was refused, if one was.
    pub fn first_error(&self) -> Option<&str> {
        self.errors.first().map(String::as_str)
    }

    /// Takes on the runs of `other` (traces of another export that expired
    /// on the way), not its counts: this batch's answer is about its own
    /// export.
    pub fn absorb_runs(&mut self, other: TraceBatch) {
        self.events.extend(other.events);
        self.spans_of.extend(other.spans_of.iter().map(|_| 0));
    }

    /// Journals and applies the runs in `change` (which may carry other
    /// writes, such as the trace buffer's); the answer counts the spans
    /// refused and says why, and mentions those ignored.
    pub fn ingest_in(
        self,
        core: &mut Core,
        change: super::core::Change,
        now: DateTime<Utc>,
    ) -> Result<PartialSuccess, StoreError> {
        let Self {
            events,
            spans_of,
            mut rejected_spans,
            mut errors,
            ignored_spans,
            late_spans,
        } = self;
        core.metrics.rejected("invalid", rejected_spans);
        let outcome = core.ingest_in(events, change, now)?;
        for (i, e) in outcome.refused {
            // Runs of other exports' expired traces count no spans here.
            match spans_of.get(i) {
                Some(0) => {}
                spans => {
                    rejected_spans += spans.copied().unwrap_or(1);
                    errors.push(e);
                }
            }
        }
        let mut notes: Vec<String> = errors.into_iter().take(3).collect();
        if ignored_spans > 0 {
            notes.push(format!(
                "{ignored_spans} spans carried no agent run or model call to map and were ignored"
            ));
        }
        if late_spans > 0 {
            notes.push(format!(
                "{late_spans} spans arrived after their trace was mapped and were not counted again"
            ));
        }
        let message = notes.join("; ");
        Ok(PartialSuccess {
            rejected: rejected_spans,
            message,
        })
    }
}

/// Checks an OTLP logs or metrics export (`signal` names it) and says it
/// is not used: a warning, not a refusal, so that an SDK sending every
/// signal to the hub keeps working and its log says why nothing shows.
///
/// Only the outer message is decoded (its items are skipped on the wire),
/// so a large export costs no memory beyond its body.
pub fn unused_signal(body: &[u8], protobuf: bool, signal: &str) -> Result<String, String> {
    /// Any message, its fields skipped: checks the wire format only.
    #[derive(Clone, PartialEq, prost::Message)]
    struct Skipped {}
    if protobuf {
        <Skipped as prost::Message>::decode(body)
            .map_err(|e| format!("not an OTLP/protobuf {signal} export: {e}"))?;
    } else {
        crate::ingest::json::from_slice::<serde::de::IgnoredAny>(body)
            .map_err(|e| format!("not an OTLP/JSON {signal} export: {e}"))?;
    }
    Ok(unused_message(signal))
}

/// What an export of `signal` (logs, metrics) is answered with.
pub fn unused_message(signal: &str) -> String {
    format!(
        "agentdeck reads traces only; these {signal} were accepted and dropped (point the {signal} exporter elsewhere or turn it off)"
    )
}
