//! OpenTelemetry traces (OTLP `ExportTraceServiceRequest`, as JSON or
//! protobuf) mapped to events, following the GenAI semantic conventions and
//! the dialects real instrumentations write (OpenInference, OpenLLMetry /
//! Traceloop, the OpenAI Agents SDK's OpenInference bridge, Pydantic AI).
//!
//! - Agent spans (`gen_ai.operation.name` `invoke_agent`, a span name
//!   `invoke_agent` or `invoke_agent {agent}`, OpenInference `AGENT`,
//!   `traceloop.span.kind` `agent`) become runs (`run.finished`) of the
//!   agent named by `gen_ai.agent.name`, else `gen_ai.agent.id`,
//!   `agent.name`, `traceloop.entity.name` or `agent_name`, else the span
//!   name after `invoke_agent` (or the whole name of an OpenInference
//!   span), else the resource's `service.name`, made an id by
//!   [`to_agent_id`]. An agent span that names no agent and holds another
//!   agent span (the Agents SDK's `Agent workflow`) wraps runs and is not
//!   one. `ts` is the span's end, `latency_ms` its duration, `run_id` its
//!   span id, and the outcome is `failed` when its status is ERROR or it
//!   carries `error.type` (`error` = the status message, else
//!   `error.type`), else `success`;
//! - tool spans (`execute_tool` by operation or span name, OpenInference
//!   `TOOL`, `traceloop.span.kind` `tool`) become tool calls of the run
//!   they sit under, in start order, named by `gen_ai.tool.name`,
//!   `tool.name` or `traceloop.entity.name`; one under no run becomes a
//!   `tool.called` event of its resource's `service.name`;
//! - model spans (`chat` and friends, any span with a model name or token
//!   usage, OpenInference `LLM`) add their tokens (`gen_ai.usage.*`, the
//!   deprecated `prompt_tokens`/`completion_tokens`, or OpenInference
//!   `llm.token_count.*`) and the model version to their run. A model span
//!   under another model span that counted tokens is not counted again (two
//!   instrumentations of one call); a run whose model spans carry no tokens
//!   takes the usage on its agent span;
//! - cost: a cost the instrumentation reports (`agentdeck.cost_usd`,
//!   `gen_ai.usage.cost`, `llm.cost.total`, Pydantic AI's `operation.cost`)
//!   on the agent span is the run's; else each model call's own cost, or
//!   its tokens at the [`PriceTable`]'s price for its model (response
//!   model first), cached input (`gen_ai.usage.cache_read.input_tokens` and
//!   its dialects) at the cached price. A model without a price is named
//!   in the run's `unpriced_model`, never silently free;
//! - a span belongs to the run of its nearest agent ancestor (an agent span
//!   to its own run), else to the only agent span of its trace;
//! - a trace with model spans but no agent span is one run of the service
//!   holding all its spans (its tool spans are that run's tool calls), from
//!   its first start to its last end, `run_id` its trace id, `failed` when
//!   a model span failed;
//! - a trace with neither is ignored (apart from its tool spans, above),
//!   and so are model spans outside every agent span of a trace with
//!   several;
//! - attributes in the `agentdeck.` namespace on the agent span fill what the
//!   conventions do not carry: `agentdeck.workflow`, `agentdeck.run_id`,
//!   `agentdeck.outcome`, `agentdeck.cost_usd`, `agentdeck.version.prompt`,
//!   `agentdeck.version.tool` and `agentdeck.version.policy`;
//! - a run whose agent span (or, for a service run, whose trace) lacks a
//!   valid start or end time, or ends before it starts, is rejected with
//!   the reason, and so are spans with no trace or span id; a tool call
//!   without valid times just has no latency; a span sent twice is read
//!   once;
//! - every event gets the id `otlp:{run_id}` (or `otlp:{span id}` for a
//!   `tool.called`), so a retried export can be recognised.
//!
//! [`Export::map_alone`] maps each export on its own (files, where every
//! line is one export); the hub joins the spans of a trace across exports
//! with an [`Assembler`].
//!
//! Real exporters bend the spec, so the JSON reader accepts enum names as
//! well as numbers, hex ids in either case (and base64 ids, as generic
//! protobuf JSON converters write them), 64-bit numbers as strings or
//! numbers, and `null` for empty fields. Protobuf is decoded with the
//! generated types ([`proto`]) into the same span model.

mod assembly;
mod convention;
pub mod prices;
pub mod proto;
mod trace;
mod wire;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, OnceLock};

use crate::model::envelope::Envelope;

use convention::*;
use trace::*;
use wire::*;

pub use assembly::{Assembler, Assembly, TraceKey, TraceLimits, Waiting};
pub use convention::to_agent_id;
pub use prices::{Price, PriceTable};
pub use wire::{EnumValue, Num};

/// The result of mapping one export request.
#[derive(Debug, Default)]
pub struct Mapped {
    /// One `run.finished` per run found, and one `tool.called` per tool
    /// span outside every run.
    pub envelopes: Vec<Envelope>,
    /// How many spans each envelope stands for, in the same order, so a
    /// receiver that refuses an envelope can count the spans refused.
    pub envelope_spans: Vec<u64>,
    /// Spans read, duplicates included.
    pub spans: u64,
    /// Spans in traces with no agent or model span, and model spans outside
    /// every agent span of a trace with several.
    pub ignored_spans: u64,
    /// Spans that could not be used (bad times, no ids, unnamed agents);
    /// the spans of a rejected run are all counted.
    pub rejected_spans: u64,
    /// Spans sent a second time in the request (same trace and span id),
    /// read once.
    pub duplicate_spans: u64,
    /// Plain spans around several runs (a workflow span above agent spans):
    /// context, neither mapped nor lost.
    pub context_spans: u64,
    /// Spans of a trace already mapped to runs, without an agent span of
    /// their own: a retried export, or a span that ended after its root.
    /// Not counted again.
    pub late_spans: u64,
    /// The first reasons for rejection.
    pub errors: Vec<String>,
}

/// How many rejection reasons [`Mapped::errors`] keeps.
const MAX_ERRORS: usize = 5;

impl Mapped {
    /// Spans accounted for: in an envelope, ignored, rejected, repeated,
    /// context or late. Equal to [`Mapped::spans`] for an export mapped
    /// on its own; the fuzz targets hold the mapping to it.
    pub fn accounted(&self) -> u64 {
        self.envelope_spans.iter().sum::<u64>()
            + self.ignored_spans
            + self.rejected_spans
            + self.duplicate_spans
            + self.context_spans
            + self.late_spans
    }

    fn reject(&mut self, spans: u64, reason: String) {
        self.rejected_spans += spans;
        if self.errors.len() < MAX_ERRORS {
            self.errors.push(reason);
        }
    }
}

/// A span with what the mapping needs beside it.
#[derive(Debug, Clone)]
pub(crate) struct FlatSpan {
    span: Span,
    service: Option<String>,
    role: Role,
}

impl FlatSpan {
    fn new(span: Span, service: Option<String>) -> Self {
        let role = role_of(&span);
        Self {
            span,
            service,
            role,
        }
    }

    /// How the span is named in a rejection reason.
    fn label(&self) -> String {
        format!("span {} ({})", self.span.span_id, clip(&self.span.name, 64))
    }

    /// Roughly what the span holds in memory, to bound what waits.
    fn weight(&self) -> usize {
        fn value(v: &AnyValue) -> usize {
            32 + v.string_value.as_ref().map_or(0, String::len)
                + v.array_value
                    .as_ref()
                    .map_or(0, |a| a.values.iter().map(value).sum())
        }
        let s = &self.span;
        256 + s.trace_id.len()
            + s.span_id.len()
            + s.parent_span_id.len()
            + s.name.len()
            + self.service.as_ref().map_or(0, String::len)
            + s.attributes
                .iter()
                .map(|kv| 32 + kv.key.len() + value(&kv.value))
                .sum::<usize>()
    }
}

/// One export's spans grouped by trace, in the order traces first appear,
/// with what was refused or repeated while reading them.
#[derive(Debug, Default)]
pub struct Export {
    traces: Vec<(String, Vec<FlatSpan>)>,
    /// Counts and reasons so far (spans read, rejected, duplicates).
    counts: Mapped,
}

impl Export {
    /// Reads an OTLP/JSON trace export.
    pub fn from_json(body: &[u8]) -> Result<Self, String> {
        let request: ExportRequest = super::json::from_slice(body)
            .map_err(|e| format!("not an OTLP/JSON ExportTraceServiceRequest: {e}"))?;
        Ok(flatten(request))
    }

    /// Reads an OTLP/protobuf trace export (an HTTP body, or the payload
    /// of a gRPC `Export`).
    pub fn from_protobuf(body: &[u8]) -> Result<Self, String> {
        Ok(Self::from_decoded(proto::decode(body)?))
    }

    /// An export already decoded from protobuf (by tonic, for gRPC).
    pub fn from_decoded(
        request: opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest,
    ) -> Self {
        flatten(proto::to_wire(request))
    }

    /// Maps every trace as it stands, joining nothing across exports (for
    /// files, where each line is one export, and for tests), pricing model
    /// calls with `prices`.
    pub fn map_alone(self, prices: &PriceTable) -> Mapped {
        let mut out = self.counts;
        for (id, spans) in &self.traces {
            Trace::new(id, spans, prices).map_into(false, &mut out);
        }
        out
    }
}

/// The built-in price table, parsed once.
pub fn builtin_prices() -> Arc<PriceTable> {
    static BUILTIN: OnceLock<Arc<PriceTable>> = OnceLock::new();
    BUILTIN
        .get_or_init(|| Arc::new(PriceTable::builtin()))
        .clone()
}

/// Parses and maps an OTLP/JSON trace export on its own, with the built-in
/// prices.
pub fn map_export(body: &[u8]) -> Result<Mapped, String> {
    Export::from_json(body).map(|e| e.map_alone(&builtin_prices()))
}

/// Parses and maps an OTLP/protobuf trace export on its own, with the
/// built-in prices.
pub fn map_protobuf(body: &[u8]) -> Result<Mapped, String> {
    Export::from_protobuf(body).map(|e| e.map_alone(&builtin_prices()))
}

fn flatten(request: ExportRequest) -> Export {
    let mut out = Export::default();
    let mut seen = HashSet::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for rs in request.resource_spans {
        let service = attr_str(&rs.resource.attributes, &["service.name"]).map(str::to_string);
        for ss in rs.scope_spans {
            for mut span in ss.spans {
                out.counts.spans += 1;
                span.trace_id = normalize_id(&span.trace_id);
                span.span_id = normalize_id(&span.span_id);
                span.parent_span_id = normalize_id(&span.parent_span_id);
                if span.trace_id.is_empty() || span.span_id.is_empty() {
                    // Without ids a span cannot be joined to its trace.
                    let reason = format!("span ({}): no traceId or spanId", clip(&span.name, 64));
                    out.counts.reject(1, reason);
                    continue;
                }
                if !seen.insert((span.trace_id.clone(), span.span_id.clone())) {
                    out.counts.duplicate_spans += 1;
                    continue;
                }
                let at = *index.entry(span.trace_id.clone()).or_insert_with(|| {
                    out.traces.push((span.trace_id.clone(), Vec::new()));
                    out.traces.len() - 1
                });
                out.traces[at].1.push(FlatSpan::new(span, service.clone()));
            }
        }
    }
    out
}
