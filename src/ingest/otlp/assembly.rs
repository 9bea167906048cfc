//! Whole traces across exports.
//!
//! A batching exporter sends what ended in the last few seconds, so the
//! model and tool spans of a long run arrive in earlier exports than their
//! agent span (and with one span per export, each on its own). Spans whose
//! trace is not whole yet wait here, by sender and trace id, until:
//!
//! - an agent span arrives: its run is mapped with the spans under it;
//! - the trace's local root arrives ([`Trace::has_local_root`]): the rest
//!   is mapped as a whole trace;
//! - they have waited [`TraceLimits::wait`], or the buffer passes
//!   [`TraceLimits::max_bytes`] (oldest first): they are mapped as well as
//!   they can be, and counted as expired.
//!
//! Keys include the sender, so one token's spans never join another's.
//! Nothing here changes until the hub has stored what a step produced:
//! [`Assembler::assemble`] takes the waiting spans it touches out, and the
//! caller either [`settles`](Assembler::settle) the outcome once stored or
//! [`restores`](Assembler::restore) what was taken when the write failed.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::prices::PriceTable;
use super::trace::Trace;
use super::wire::Span;
use super::{Export, FlatSpan, Mapped};

/// How long and how much the buffer holds.
#[derive(Debug, Clone, Copy)]
pub struct TraceLimits {
    /// Longest a span waits for the rest of its trace.
    pub wait: Duration,
    /// Most bytes (estimated) waiting across all traces.
    pub max_bytes: usize,
}

impl Default for TraceLimits {
    fn default() -> Self {
        Self {
            wait: Duration::minutes(5),
            max_bytes: 64 * 1024 * 1024,
        }
    }
}

/// Who sent a trace, and its id.
pub type TraceKey = (String, String);

/// Spans of one trace waiting for the rest.
#[derive(Debug, Clone)]
pub struct Waiting {
    /// When the first of them arrived.
    pub first_seen: DateTime<Utc>,
    spans: Vec<FlatSpan>,
    bytes: usize,
    /// Runs of this trace were already mapped from earlier exports.
    had_runs: bool,
}

/// A waiting trace as stored, to survive a restart.
#[derive(Debug, Serialize, Deserialize)]
struct StoredTrace {
    had_runs: bool,
    spans: Vec<StoredSpan>,
}

#[derive(Debug, Serialize, Deserialize)]
struct StoredSpan {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    service: Option<String>,
    span: Span,
}

impl Waiting {
    /// The spans as one JSON document, for the store.
    pub fn to_json(&self) -> String {
        let stored = StoredTrace {
            had_runs: self.had_runs,
            spans: self
                .spans
                .iter()
                .map(|s| StoredSpan {
                    service: s.service.clone(),
                    span: s.span.clone(),
                })
                .collect(),
        };
        serde_json::to_string(&stored).unwrap_or_default()
    }

    /// Reads what [`Waiting::to_json`] wrote.
    pub fn from_json(first_seen: DateTime<Utc>, json: &str) -> Result<Self, String> {
        let stored: StoredTrace = serde_json::from_str(json).map_err(|e| e.to_string())?;
        let spans: Vec<FlatSpan> = stored
            .spans
            .into_iter()
            .map(|s| FlatSpan::new(s.span, s.service))
            .collect();
        Ok(Self {
            first_seen,
            bytes: spans.iter().map(FlatSpan::weight).sum(),
            spans,
            had_runs: stored.had_runs,
        })
    }
}

/// What one step produced: runs to ingest, and the buffer's new state
/// for the traces it touched.
#[derive(Debug, Default)]
pub struct Assembly {
    /// Runs and tool calls to ingest, with the export's counts.
    pub mapped: Mapped,
    /// Traces that now wait (stored whole, replacing what was stored).
    pub waiting: Vec<(TraceKey, Waiting)>,
    /// Traces that no longer wait (their stored spans are deleted).
    pub released: Vec<TraceKey>,
    /// Traces mapped because they waited too long or the buffer was full,
    /// by sender (whose rights their runs are checked against).
    pub expired: Vec<(String, Mapped)>,
    /// Spans in `expired`.
    pub expired_spans: u64,
    /// Traces remembered as mapped by this step, with what was remembered
    /// of them before.
    remembered: Vec<(TraceKey, Option<bool>)>,
    taken: Vec<(TraceKey, Waiting)>,
}

/// Traces remembered after they were mapped, at most: enough for the
/// stragglers and retries of a busy fleet's last minutes (about 100 bytes
/// each).
pub const DONE_TRACES: usize = 100_000;

/// The buffer of spans waiting for their trace.
#[derive(Debug)]
pub struct Assembler {
    waiting: HashMap<TraceKey, Waiting>,
    /// Traces mapped in the last [`TraceLimits::wait`]: whether they made
    /// runs. Spans of theirs arriving later (a retried export, a child
    /// that ended after its root) are stragglers of a whole trace, not the
    /// start of a new one: they are mapped at once, and model spans without
    /// their agent span do not become a run of the service.
    done: HashMap<TraceKey, bool>,
    done_order: std::collections::VecDeque<(DateTime<Utc>, TraceKey)>,
    bytes: usize,
    limits: TraceLimits,
    prices: Arc<PriceTable>,
    /// Spans mapped on expiry since start.
    pub expired_total: u64,
}

impl Default for Assembler {
    fn default() -> Self {
        Self::new(TraceLimits::default(), super::builtin_prices())
    }
}

impl Assembler {
    /// An empty buffer with these limits, pricing model calls with
    /// `prices`.
    pub fn new(limits: TraceLimits, prices: Arc<PriceTable>) -> Self {
        Self {
            waiting: HashMap::new(),
            done: HashMap::new(),
            done_order: std::collections::VecDeque::new(),
            bytes: 0,
            limits,
            prices,
            expired_total: 0,
        }
    }

    /// Puts back traces read from the store at start.
    pub fn load(&mut self, traces: Vec<(TraceKey, Waiting)>) {
        for (key, w) in traces {
            self.bytes += w.bytes;
            self.waiting.insert(key, w);
        }
    }

    /// Traces and spans waiting now.
    pub fn waiting(&self) -> (usize, usize) {
        let spans = self.waiting.values().map(|w| w.spans.len()).sum();
        (self.waiting.len(), spans)
    }

    /// Joins an export from `sender` with what waits for it.
    pub fn assemble(&mut self, sender: &str, export: Export, now: DateTime<Utc>) -> Assembly {
        let Export { traces, counts } = export;
        let mut out = Assembly {
            mapped: counts,
            ..Assembly::default()
        };
        for (trace_id, spans) in traces {
            let key = (sender.to_string(), trace_id);
            let before = self.take(&key, &mut out);
            self.step(key, before, spans, now, &mut out);
        }
        self.evict_over_limit(&mut out);
        out
    }

    /// Maps the traces that waited past the limit, and forgets traces
    /// mapped longer ago than that.
    pub fn expire(&mut self, now: DateTime<Utc>) -> Assembly {
        while let Some((at, _)) = self.done_order.front() {
            if now - *at < self.limits.wait && self.done_order.len() <= DONE_TRACES {
                break;
            }
            if let Some((_, key)) = self.done_order.pop_front() {
                self.done.remove(&key);
            }
        }
        let mut out = Assembly::default();
        let old: Vec<TraceKey> = self
            .waiting
            .iter()
            .filter(|(_, w)| now - w.first_seen >= self.limits.wait)
            .map(|(k, _)| k.clone())
            .collect();
        for key in old {
            self.expire_one(key, &mut out);
        }
        out
    }

    /// Keeps a step's outcome once it is stored.
    pub fn settle(&mut self, assembly: &mut Assembly) {
        self.expired_total += assembly.expired_spans;
        assembly.taken.clear();
        assembly.remembered.clear();
    }

    /// Undoes a step whose outcome could not be stored: the buffer is as
    /// it was before.
    pub fn restore(&mut self, assembly: &mut Assembly) {
        for (key, before) in assembly.remembered.drain(..).rev() {
            match before {
                Some(had_runs) => self.done.insert(key, had_runs),
                None => self.done.remove(&key),
            };
        }
        for (key, _) in assembly.waiting.drain(..) {
            if let Some(w) = self.waiting.remove(&key) {
                self.bytes -= w.bytes;
            }
        }
        for (key, w) in assembly.taken.drain(..) {
            self.bytes += w.bytes;
            self.waiting.insert(key, w);
        }
    }

    /// Takes a trace out of the buffer, remembering it as it was before
    /// this step (once: a trace this step added had no earlier state).
    fn take(&mut self, key: &TraceKey, out: &mut Assembly) -> Option<Waiting> {
        let w = self.waiting.remove(key)?;
        self.bytes -= w.bytes;
        let added_here = out.waiting.iter().any(|(k, _)| k == key);
        if added_here {
            out.waiting.retain(|(k, _)| k != key);
        } else {
            out.taken.push((key.clone(), w.clone()));
        }
        Some(w)
    }

    /// One trace of an export, joined with what waited for it.
    fn step(
        &mut self,
        key: TraceKey,
        before: Option<Waiting>,
        new: Vec<FlatSpan>,
        now: DateTime<Utc>,
        out: &mut Assembly,
    ) {
        let straggler = before.is_none() && self.done.contains_key(&key);
        let (first_seen, mut spans, had_runs) = match before {
            Some(w) => (w.first_seen, w.spans, w.had_runs),
            None => (
                now,
                Vec::new(),
                self.done.get(&key).copied().unwrap_or(false),
            ),
        };
        let known: HashSet<String> = spans.iter().map(|s| s.span.span_id.clone()).collect();
        for s in new {
            if known.contains(&s.span.span_id) {
                out.mapped.duplicate_spans += 1;
            } else {
                spans.push(s);
            }
        }
        let trace = Trace::new(&key.1, &spans, &self.prices);
        if straggler || trace.has_local_root() {
            let runs_before = out.mapped.envelopes.len();
            trace.map_into(had_runs, &mut out.mapped);
            let made_runs = had_runs || out.mapped.envelopes.len() > runs_before;
            self.remember(key.clone(), made_runs, now, out);
            out.released.push(key);
            return;
        }
        let runs_before = out.mapped.envelopes.len();
        let rest = trace.map_agents_into(&mut out.mapped);
        let had_runs = had_runs || out.mapped.envelopes.len() > runs_before;
        if rest.is_empty() {
            self.remember(key.clone(), had_runs, now, out);
            out.released.push(key);
            return;
        }
        let spans: Vec<FlatSpan> = if rest.len() == spans.len() {
            spans
        } else {
            rest.into_iter().map(|i| spans[i].clone()).collect()
        };
        let waiting = Waiting {
            first_seen,
            bytes: spans.iter().map(FlatSpan::weight).sum(),
            spans,
            had_runs,
        };
        // Waits in the buffer at once, so that the size limit sees it; a
        // failed write puts the buffer back as it was.
        self.bytes += waiting.bytes;
        self.waiting.insert(key.clone(), waiting.clone());
        out.waiting.push((key, waiting));
    }

    /// Remembers a trace just mapped, for its stragglers (undone with the
    /// step if its outcome cannot be stored).
    fn remember(&mut self, key: TraceKey, had_runs: bool, now: DateTime<Utc>, out: &mut Assembly) {
        let before = self.done.insert(key.clone(), had_runs);
        out.remembered.push((key.clone(), before));
        if before.is_none() {
            self.done_order.push_back((now, key));
        }
        while self.done_order.len() > DONE_TRACES {
            if let Some((_, old)) = self.done_order.pop_front() {
                self.done.remove(&old);
            }
        }
    }

    /// Expires the oldest traces while the buffer is over its size limit.
    fn evict_over_limit(&mut self, out: &mut Assembly) {
        while self.bytes > self.limits.max_bytes {
            let Some(oldest) = self
                .waiting
                .iter()
                .min_by_key(|(_, w)| w.first_seen)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            self.expire_one(oldest, out);
        }
    }

    /// Maps a trace as it stands and drops it from the buffer.
    fn expire_one(&mut self, key: TraceKey, out: &mut Assembly) {
        let Some(w) = self.take(&key, out) else {
            return;
        };
        out.expired_spans += w.spans.len() as u64;
        let mut mapped = Mapped::default();
        Trace::new(&key.1, &w.spans, &self.prices).map_into(w.had_runs, &mut mapped);
        let had_runs = w.had_runs || !mapped.envelopes.is_empty();
        out.expired.push((key.0.clone(), mapped));
        // Stragglers after expiry are late parts of what was just mapped.
        let now = w.first_seen + self.limits.wait;
        self.remember(key.clone(), had_runs, now, out);
        out.released.push(key);
    }
}
