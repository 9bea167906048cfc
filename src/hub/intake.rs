//! What an ingest request means: decoded (outside the core's lock), kept
//! to the agents the token speaks for, then journaled and applied by
//! [`Core::ingest`], with every refusal reported against its line or span.

use chrono::{DateTime, Utc};

use crate::model::action::{IngestResponse, LineError};
use crate::model::envelope::Envelope;

use super::auth::Principal;
use super::core::Core;
use super::store::StoreError;

/// A `POST /v1/events` body, decoded and checked, ready for the core.
pub struct EventBatch {
    /// Accepted envelopes and their journal lines.
    events: Vec<(Envelope, String)>,
    /// The body line number of each accepted envelope.
    lines: Vec<u64>,
    /// Lines refused so far, with why.
    rejected: Vec<LineError>,
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
        Self {
            events,
            lines,
            rejected,
        }
    }

    /// Journals and applies the batch; the answer names every refused line.
    pub fn ingest(self, core: &mut Core, now: DateTime<Utc>) -> Result<IngestResponse, StoreError> {
        let Self {
            events,
            lines,
            mut rejected,
        } = self;
        let outcome = core.ingest(events, now)?;
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

/// A `POST /v1/traces` body, mapped to envelopes, ready for the core.
pub struct TraceBatch {
    events: Vec<(Envelope, String)>,
    /// The spans behind each envelope, to count refusals in spans.
    spans_of: Vec<u64>,
    rejected_spans: u64,
    errors: Vec<String>,
    ignored_spans: u64,
}

impl TraceBatch {
    /// Maps an OTLP/JSON export and keeps the runs `who` may send; `Err`
    /// says why the body is not an export at all.
    pub fn decode(who: &Principal, body: &[u8], now: DateTime<Utc>) -> Result<Self, String> {
        let mapped = crate::ingest::otlp::map_export(body)?;
        let mut batch = Self {
            events: Vec::new(),
            spans_of: Vec::new(),
            rejected_spans: mapped.rejected_spans,
            errors: mapped.errors,
            ignored_spans: mapped.ignored_spans,
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
        Ok(batch)
    }

    /// Journals and applies the runs; the answer is an OTLP
    /// `ExportTraceServiceResponse` (JSON), with `partialSuccess` when
    /// spans were refused or ignored.
    pub fn ingest(
        self,
        core: &mut Core,
        now: DateTime<Utc>,
    ) -> Result<serde_json::Value, StoreError> {
        let Self {
            events,
            spans_of,
            mut rejected_spans,
            mut errors,
            ignored_spans,
        } = self;
        let outcome = core.ingest(events, now)?;
        for (i, e) in outcome.refused {
            rejected_spans += spans_of.get(i).copied().unwrap_or(1);
            errors.push(e);
        }
        let mut message = errors.into_iter().take(3).collect::<Vec<_>>().join("; ");
        if ignored_spans > 0 {
            if !message.is_empty() {
                message.push_str("; ");
            }
            message.push_str(&format!(
                "{ignored_spans} spans carried no agent run or model call to map and were ignored"
            ));
        }
        Ok(if rejected_spans == 0 && message.is_empty() {
            serde_json::json!({})
        } else {
            serde_json::json!({"partialSuccess": {
                "rejectedSpans": rejected_spans.to_string(),
                "errorMessage": message,
            }})
        })
    }
}
