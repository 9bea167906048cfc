//! OpenTelemetry traces (OTLP/JSON `ExportTraceServiceRequest`) mapped to
//! events, following the GenAI semantic conventions.
//!
//! - `invoke_agent` spans (by `gen_ai.operation.name`, a span name
//!   `invoke_agent` or `invoke_agent {agent}`, or OpenInference `AGENT`)
//!   become runs (`run.finished`) of the agent named by `gen_ai.agent.name`,
//!   else `gen_ai.agent.id` or `agent.name`, else the span name after
//!   `invoke_agent`, else the resource's `service.name`, made an id by
//!   [`to_agent_id`]. `ts` is the span's end, `latency_ms` its duration,
//!   `run_id` its span id, and the outcome is `failed` when its status is
//!   ERROR or it carries `error.type` (`error` = the status message, else
//!   `error.type`), else `success`;
//! - `execute_tool` spans (by `gen_ai.operation.name`, a span name
//!   `execute_tool {tool}`, or OpenInference `TOOL`) become tool calls of the
//!   run they sit under, in start order; one under no run becomes a
//!   `tool.called` event of its resource's `service.name`;
//! - model spans (`chat` and friends, any span with a model name or token
//!   usage, OpenInference `LLM`) add their tokens (`gen_ai.usage.*`, the
//!   deprecated `prompt_tokens`/`completion_tokens`, or OpenInference
//!   `llm.token_count.*`) and the model version to their run. A model span
//!   under another model span that counted tokens is not counted again (two
//!   instrumentations of one call); a run whose model spans carry no tokens
//!   takes the usage on its agent span;
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
//!   without valid times just has no latency; a span sent twice in one
//!   request is read once;
//! - every event gets the id `otlp:{run_id}` (or `otlp:{span id}` for a
//!   `tool.called`), so a retried export can be recognised.
//!
//! Spans are joined within one request only: a batching exporter sends a
//! short trace together.
//!
//! Real exporters bend the spec, so the reader accepts enum names as well as
//! numbers, hex ids in either case (and base64 ids, as generic protobuf JSON
//! converters write them), 64-bit numbers as strings or numbers, `null` for
//! empty fields, and the deprecated and OpenInference attribute names.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use serde::de::IgnoredAny;
use serde::{Deserialize, Deserializer};

use crate::model::envelope::{
    DEFAULT_WORKFLOW, Envelope, Event, Outcome, RunFinished, Tokens, ToolCall, ToolCallEvent,
    ToolStatus, Versions,
};
use crate::model::limits::{MAX_ID_BYTES, MAX_NAME_BYTES, MAX_TEXT_BYTES, MAX_TOOL_CALLS};
use crate::model::validate;

/// A 64-bit number sent as a JSON number or a decimal string. Anything else
/// (a string that is not a number, an object) reads as NaN, which every use
/// treats as absent.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Num(pub f64);

impl<'de> Deserialize<'de> for Num {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Either {
            N(f64),
            S(String),
            Other(IgnoredAny),
        }
        Ok(match Either::deserialize(d)? {
            Either::N(n) => Num(n),
            Either::S(s) => Num(s.trim().parse().unwrap_or(f64::NAN)),
            Either::Other(_) => Num(f64::NAN),
        })
    }
}

/// A time in nanoseconds since the Unix epoch, read exactly (an `f64` would
/// lose the last digits) from a decimal string or a JSON number. Zero,
/// negative, fractional-overflow and unreadable values read as absent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Nanos(Option<u64>);

impl<'de> Deserialize<'de> for Nanos {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Either {
            U(u64),
            F(f64),
            S(String),
            Other(IgnoredAny),
        }
        fn from_f64(f: f64) -> Option<u64> {
            // `u64::MAX as f64` rounds up to 2^64, so `<` keeps the cast exact.
            (f.is_finite() && f >= 1.0 && f < u64::MAX as f64).then_some(f as u64)
        }
        let n = match Either::deserialize(d)? {
            Either::U(n) => Some(n),
            Either::F(f) => from_f64(f),
            Either::S(s) => {
                let s = s.trim();
                s.parse::<u64>()
                    .ok()
                    .or_else(|| s.parse::<f64>().ok().and_then(from_f64))
            }
            Either::Other(_) => None,
        };
        Ok(Nanos(n.filter(|&n| n > 0)))
    }
}

/// An enum sent as its number or its name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EnumValue {
    number: Option<i64>,
    name: Option<String>,
}

impl<'de> Deserialize<'de> for EnumValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Either {
            N(i64),
            S(String),
            Other(IgnoredAny),
        }
        Ok(match Either::deserialize(d)? {
            Either::N(n) => EnumValue {
                number: Some(n),
                name: None,
            },
            // Some writers quote the number ("2").
            Either::S(s) => EnumValue {
                number: s.trim().parse().ok(),
                name: Some(s),
            },
            Either::Other(_) => EnumValue::default(),
        })
    }
}

/// Reads `null` as the default: hand-written exporters send it for empty
/// fields (`"parentSpanId": null` on a root span).
fn nullable<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ExportRequest {
    #[serde(default, deserialize_with = "nullable")]
    resource_spans: Vec<ResourceSpans>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ResourceSpans {
    #[serde(default, deserialize_with = "nullable")]
    resource: Resource,
    #[serde(
        default,
        deserialize_with = "nullable",
        alias = "instrumentationLibrarySpans"
    )]
    scope_spans: Vec<ScopeSpans>,
}

#[derive(Debug, Default, Deserialize)]
struct Resource {
    #[serde(default, deserialize_with = "nullable")]
    attributes: Vec<KeyValue>,
}

#[derive(Debug, Default, Deserialize)]
struct ScopeSpans {
    #[serde(default, deserialize_with = "nullable")]
    spans: Vec<Span>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Span {
    #[serde(default, deserialize_with = "nullable")]
    trace_id: String,
    #[serde(default, deserialize_with = "nullable")]
    span_id: String,
    #[serde(default, deserialize_with = "nullable")]
    parent_span_id: String,
    #[serde(default, deserialize_with = "nullable")]
    name: String,
    #[serde(default)]
    start_time_unix_nano: Nanos,
    #[serde(default)]
    end_time_unix_nano: Nanos,
    #[serde(default, deserialize_with = "nullable")]
    attributes: Vec<KeyValue>,
    #[serde(default)]
    status: Option<Status>,
}

#[derive(Debug, Default, Deserialize)]
struct Status {
    #[serde(default)]
    code: Option<EnumValue>,
    #[serde(default)]
    message: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct KeyValue {
    #[serde(default, deserialize_with = "nullable")]
    key: String,
    #[serde(default, deserialize_with = "nullable")]
    value: AnyValue,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AnyValue {
    string_value: Option<String>,
    int_value: Option<Num>,
    double_value: Option<Num>,
    array_value: Option<ArrayValue>,
}

#[derive(Debug, Default, Deserialize)]
struct ArrayValue {
    #[serde(default, deserialize_with = "nullable")]
    values: Vec<AnyValue>,
}

impl AnyValue {
    fn as_str(&self) -> Option<&str> {
        self.string_value.as_deref().or_else(|| {
            self.array_value
                .as_ref()
                .and_then(|a| a.values.first())
                .and_then(|v| v.string_value.as_deref())
        })
    }

    fn as_f64(&self) -> Option<f64> {
        self.int_value
            .or(self.double_value)
            .map(|n| n.0)
            .or_else(|| {
                self.string_value
                    .as_deref()
                    .and_then(|s| s.trim().parse().ok())
            })
            .filter(|n| n.is_finite())
    }
}

fn attr<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a AnyValue> {
    attrs.iter().find(|kv| kv.key == key).map(|kv| &kv.value)
}

/// The first of `keys` with a non-blank string value: a blank one falls
/// through to the next key rather than hiding it.
fn attr_str<'a>(attrs: &'a [KeyValue], keys: &[&str]) -> Option<&'a str> {
    keys.iter().find_map(|k| {
        attr(attrs, k)
            .and_then(AnyValue::as_str)
            .filter(|s| !s.trim().is_empty())
    })
}

fn attr_num(attrs: &[KeyValue], keys: &[&str]) -> Option<f64> {
    keys.iter()
        .find_map(|k| attr(attrs, k).and_then(AnyValue::as_f64))
}

/// What a span is, for the mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Agent,
    Tool,
    Model,
    Other,
}

/// Operations that are one call to a model. (`create_agent` is not: it
/// registers an agent and would count as a run.)
const MODEL_OPERATIONS: &[&str] = &[
    "chat",
    "text_completion",
    "generate_content",
    "embeddings",
    "call_llm",
];

const TOKEN_INPUT: &[&str] = &[
    "gen_ai.usage.input_tokens",
    "gen_ai.usage.prompt_tokens",
    "llm.token_count.prompt",
];
const TOKEN_OUTPUT: &[&str] = &[
    "gen_ai.usage.output_tokens",
    "gen_ai.usage.completion_tokens",
    "llm.token_count.completion",
];
const MODEL_NAME: &[&str] = &[
    "gen_ai.response.model",
    "gen_ai.request.model",
    "llm.model_name",
];

/// The part of a span name after `operation` when the name is `operation`
/// or `operation {rest}`; `None` for any other name (`invoke_agents`).
fn after_operation<'a>(name: &'a str, operation: &str) -> Option<&'a str> {
    let rest = name.strip_prefix(operation)?;
    (rest.is_empty() || rest.starts_with(' ')).then(|| rest.trim())
}

fn role_of(span: &Span) -> Role {
    let op = attr_str(&span.attributes, &["gen_ai.operation.name"]).map(str::trim);
    let oi = attr_str(&span.attributes, &["openinference.span.kind"])
        .map(|k| k.trim().to_ascii_uppercase());
    if op == Some("invoke_agent")
        || after_operation(&span.name, "invoke_agent").is_some()
        || oi.as_deref() == Some("AGENT")
    {
        return Role::Agent;
    }
    if op == Some("execute_tool")
        || after_operation(&span.name, "execute_tool").is_some()
        || oi.as_deref() == Some("TOOL")
    {
        return Role::Tool;
    }
    if op.is_some_and(|o| MODEL_OPERATIONS.contains(&o))
        || oi.as_deref() == Some("LLM")
        || attr_str(&span.attributes, MODEL_NAME).is_some()
        || has_tokens(span)
    {
        return Role::Model;
    }
    Role::Other
}

fn has_tokens(span: &Span) -> bool {
    attr_num(&span.attributes, TOKEN_INPUT).is_some()
        || attr_num(&span.attributes, TOKEN_OUTPUT).is_some()
}

/// The span's token usage, when it reports any.
fn tokens_of(span: &Span) -> Option<Tokens> {
    // Counts are read as f64 (they arrive as strings or numbers); the cast
    // saturates, and negative or absent counts are zero.
    let count = |keys| attr_num(&span.attributes, keys).map(|n| n.max(0.0) as u64);
    let (input, output) = (count(TOKEN_INPUT), count(TOKEN_OUTPUT));
    (input.is_some() || output.is_some()).then(|| Tokens {
        input: input.unwrap_or(0),
        output: output.unwrap_or(0),
    })
}

fn is_error(span: &Span) -> bool {
    let status_error = span
        .status
        .as_ref()
        .and_then(|s| s.code.as_ref())
        .is_some_and(|c| {
            c.number == Some(2)
                || c.name.as_deref().is_some_and(|n| {
                    let n = n.trim();
                    n.eq_ignore_ascii_case("STATUS_CODE_ERROR") || n.eq_ignore_ascii_case("ERROR")
                })
        });
    status_error || attr_str(&span.attributes, &["error.type"]).is_some()
}

/// Why a failed span failed: its status message, else `error.type`.
fn error_of(span: &Span) -> Option<String> {
    span.status
        .as_ref()
        .and_then(|s| s.message.as_deref())
        .filter(|m| !m.trim().is_empty())
        .or_else(|| attr_str(&span.attributes, &["error.type"]))
        .map(|m| clip(m, MAX_TEXT_BYTES).to_string())
}

/// `s` cut to at most `limit` bytes, on a character boundary.
fn clip(s: &str, limit: usize) -> &str {
    let mut end = s.len().min(limit);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// A short name (tool, version) as the protocol accepts it: trimmed, cut to
/// the name limit, no control characters.
fn to_name(s: &str) -> Option<String> {
    let s = clip(s.trim(), MAX_NAME_BYTES);
    validate::name("name", s).ok().map(|()| s.to_string())
}

fn time(nanos: u64) -> Option<DateTime<Utc>> {
    // Past i64 nanoseconds (the year 2262) is no real span time.
    i64::try_from(nanos)
        .ok()
        .map(DateTime::<Utc>::from_timestamp_nanos)
}

/// Milliseconds from `start` to `end`, rounded; `None` when `end` is
/// before `start`.
fn duration_ms(start: u64, end: u64) -> Option<u64> {
    end.checked_sub(start).map(|ns| (ns + 500_000) / 1_000_000)
}

/// Makes a name from a span into a valid id: characters outside the id
/// alphabet become `-`, and it is cut to the id limit.
fn to_id(name: &str) -> Option<String> {
    let mut id: String = name
        .trim()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ':' | '/' | '@') {
                c
            } else {
                '-'
            }
        })
        .collect();
    // Every character is ASCII now, so any byte length is a boundary.
    id.truncate(MAX_ID_BYTES);
    validate::id("id", &id).ok().map(|()| id)
}

/// Makes a name from a span into a valid agent id: characters outside the
/// id alphabet become `-`, and it is cut to the id limit.
pub fn to_agent_id(name: &str) -> Option<String> {
    to_id(name)
}

/// A trace or span id as read: hex in any case becomes lower-case hex
/// (the spec says hex, case-insensitive); base64 of 8 or 16 bytes (what
/// generic protobuf JSON converters write for bytes) becomes hex too;
/// anything else is kept, trimmed, and only has to be consistent within
/// the request.
fn normalize_id(raw: &str) -> String {
    let s = raw.trim();
    if s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return s.to_ascii_lowercase();
    }
    match base64_bytes(s) {
        Some(bytes) if bytes.len() == 8 || bytes.len() == 16 => hex::encode(bytes),
        _ => s.to_string(),
    }
}

/// Decodes standard or URL-safe base64, padded or not.
fn base64_bytes(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for b in s.trim_end_matches('=').bytes() {
        let v = match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

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
    /// The first reasons for rejection.
    pub errors: Vec<String>,
}

/// How many rejection reasons [`Mapped::errors`] keeps.
const MAX_ERRORS: usize = 5;

impl Mapped {
    fn reject(&mut self, spans: u64, reason: String) {
        self.rejected_spans += spans;
        if self.errors.len() < MAX_ERRORS {
            self.errors.push(reason);
        }
    }
}

struct FlatSpan {
    span: Span,
    service: Option<String>,
    role: Role,
}

impl FlatSpan {
    /// How the span is named in a rejection reason.
    fn label(&self) -> String {
        format!("span {} ({})", self.span.span_id, clip(&self.span.name, 64))
    }
}

/// Parses and maps an OTLP/JSON trace export.
pub fn map_export(body: &[u8]) -> Result<Mapped, String> {
    let request: ExportRequest = super::json::from_slice(body)
        .map_err(|e| format!("not an OTLP/JSON ExportTraceServiceRequest: {e}"))?;
    Ok(map_request(request))
}

fn map_request(request: ExportRequest) -> Mapped {
    let mut out = Mapped::default();
    let mut seen = HashSet::new();
    let mut traces: HashMap<String, Vec<FlatSpan>> = HashMap::new();
    let mut order: Vec<String> = Vec::new();
    for rs in request.resource_spans {
        let service = attr_str(&rs.resource.attributes, &["service.name"]).map(str::to_string);
        for ss in rs.scope_spans {
            for mut span in ss.spans {
                out.spans += 1;
                span.trace_id = normalize_id(&span.trace_id);
                span.span_id = normalize_id(&span.span_id);
                span.parent_span_id = normalize_id(&span.parent_span_id);
                if span.trace_id.is_empty() || span.span_id.is_empty() {
                    // Without ids a span cannot be joined to its trace.
                    let reason = format!("span ({}): no traceId or spanId", clip(&span.name, 64));
                    out.reject(1, reason);
                    continue;
                }
                if !seen.insert((span.trace_id.clone(), span.span_id.clone())) {
                    out.duplicate_spans += 1;
                    continue;
                }
                let role = role_of(&span);
                if !traces.contains_key(&span.trace_id) {
                    order.push(span.trace_id.clone());
                }
                traces
                    .entry(span.trace_id.clone())
                    .or_default()
                    .push(FlatSpan {
                        span,
                        service: service.clone(),
                        role,
                    });
            }
        }
    }
    for trace_id in order {
        let Some(spans) = traces.remove(&trace_id) else {
            continue;
        };
        Trace::new(&trace_id, &spans).map_into(&mut out);
    }
    out
}

/// The spans of one trace, with their parent links.
struct Trace<'a> {
    id: &'a str,
    spans: &'a [FlatSpan],
    index: HashMap<&'a str, usize>,
    /// Per span: whether it or an ancestor below the nearest agent span is
    /// a model span that reports tokens.
    counted_above: Vec<Option<bool>>,
}

impl<'a> Trace<'a> {
    fn new(id: &'a str, spans: &'a [FlatSpan]) -> Self {
        let index = spans
            .iter()
            .enumerate()
            .map(|(i, s)| (s.span.span_id.as_str(), i))
            .collect();
        let mut trace = Self {
            id,
            spans,
            index,
            counted_above: Vec::new(),
        };
        trace.counted_above = trace.nearest(|i| match spans[i].role {
            Role::Agent => Some(false),
            Role::Model if has_tokens(&spans[i].span) => Some(true),
            _ => None,
        });
        trace
    }

    fn parent(&self, i: usize) -> Option<usize> {
        self.index
            .get(self.spans[i].span.parent_span_id.as_str())
            .copied()
            .filter(|&p| p != i)
    }

    /// For every span, what `here` says of its nearest ancestor-or-self for
    /// which it says anything. Memoised, so a deep trace costs linear time
    /// rather than depth × spans; a parent cycle ends the walk.
    fn nearest<T: Copy>(&self, here: impl Fn(usize) -> Option<T>) -> Vec<Option<T>> {
        let n = self.spans.len();
        let mut memo: Vec<Option<Option<T>>> = vec![None; n];
        for start in 0..n {
            let mut path = Vec::new();
            let mut i = start;
            let found = loop {
                if let Some(known) = memo[i] {
                    break known;
                }
                path.push(i);
                if let Some(v) = here(i) {
                    break Some(v);
                }
                match self.parent(i) {
                    Some(p) if path.len() <= n => i = p,
                    _ => break None,
                }
            };
            for j in path {
                memo[j] = Some(found);
            }
        }
        memo.into_iter().map(Option::flatten).collect()
    }

    fn map_into(&self, out: &mut Mapped) {
        let spans = self.spans;
        let agents: Vec<usize> = (0..spans.len())
            .filter(|&i| spans[i].role == Role::Agent)
            .collect();
        if agents.is_empty() && spans.iter().any(|s| s.role == Role::Model) {
            let members: Vec<usize> = (0..spans.len()).collect();
            self.push_run(None, &members, out);
            return;
        }
        let nearest_agent = self.nearest(|i| (spans[i].role == Role::Agent).then_some(i));
        let only_agent = (agents.len() == 1).then(|| agents[0]);
        let mut members: HashMap<usize, Vec<usize>> = HashMap::new();
        for i in 0..spans.len() {
            if let Some(a) = nearest_agent[i].or(only_agent) {
                members.entry(a).or_default().push(i);
                continue;
            }
            match spans[i].role {
                Role::Tool => match self.tool_event(i) {
                    Ok(env) => {
                        out.envelopes.push(env);
                        out.envelope_spans.push(1);
                    }
                    Err(e) => out.reject(1, e),
                },
                Role::Model => out.ignored_spans += 1,
                // Plain spans around several agent spans (a workflow span
                // above them) are context, not data lost.
                Role::Agent | Role::Other if !agents.is_empty() => {}
                Role::Agent | Role::Other => out.ignored_spans += 1,
            }
        }
        for a in agents {
            let members = members.remove(&a).unwrap_or_default();
            self.push_run(Some(a), &members, out);
        }
    }

    fn push_run(&self, root: Option<usize>, members: &[usize], out: &mut Mapped) {
        match self.build_run(root, members) {
            Ok(env) => {
                out.envelopes.push(env);
                out.envelope_spans.push((members.len() as u64).max(1));
            }
            Err(e) => out.reject(members.len() as u64, e),
        }
    }

    /// A tool span under no run, as a `tool.called` of its service.
    fn tool_event(&self, i: usize) -> Result<Envelope, String> {
        let s = &self.spans[i];
        let end = s
            .span
            .end_time_unix_nano
            .0
            .or(s.span.start_time_unix_nano.0);
        let ts = end
            .and_then(time)
            .ok_or_else(|| format!("{}: no valid endTimeUnixNano", s.label()))?;
        let agent = s.service.as_deref().and_then(to_agent_id).ok_or_else(|| {
            format!(
                "{}: a tool span under no agent span needs the resource's service.name",
                s.label()
            )
        })?;
        let call = tool_call(s);
        let mut env = Envelope::new(
            ts,
            agent,
            Event::ToolCalled(ToolCallEvent {
                run_id: None,
                workflow: DEFAULT_WORKFLOW.to_string(),
                tool: call.tool,
                status: call.status,
                latency_ms: call.latency_ms,
                error: call.error,
            }),
        );
        env.id = to_id(&format!("otlp:{}", s.span.span_id));
        Ok(env)
    }

    /// One run: of the agent span `root` with its `members` (the root
    /// included), or of the whole trace when `root` is `None`.
    fn build_run(&self, root: Option<usize>, members: &[usize]) -> Result<Envelope, String> {
        let spans = self.spans;
        let root = root.map(|r| &spans[r]);
        let label = root
            .map(FlatSpan::label)
            .unwrap_or_else(|| format!("trace {}", self.id));
        // Without an agent span the run spans all of the trace's spans.
        let (start, end) = match root {
            Some(r) => (r.span.start_time_unix_nano.0, r.span.end_time_unix_nano.0),
            None => (
                members
                    .iter()
                    .filter_map(|&i| spans[i].span.start_time_unix_nano.0)
                    .min(),
                members
                    .iter()
                    .filter_map(|&i| spans[i].span.end_time_unix_nano.0)
                    .max(),
            ),
        };
        let (Some(start), Some(end)) = (start, end) else {
            return Err(format!(
                "{label}: no valid startTimeUnixNano and endTimeUnixNano (nanoseconds since the epoch)"
            ));
        };
        let ts = time(end).ok_or_else(|| format!("{label}: endTimeUnixNano is out of range"))?;
        // A run that ends before it starts has no latency to report, and a
        // made-up zero would flatter the latency SLO.
        let latency_ms = duration_ms(start, end)
            .ok_or_else(|| format!("{label}: endTimeUnixNano is before startTimeUnixNano"))?;
        let root_attrs = root.map(|r| r.span.attributes.as_slice()).unwrap_or(&[]);

        let agent = root
            .into_iter()
            .flat_map(|r| {
                [
                    attr_str(root_attrs, &["gen_ai.agent.name"]),
                    attr_str(root_attrs, &["gen_ai.agent.id"]),
                    attr_str(root_attrs, &["agent.name"]),
                    after_operation(&r.span.name, "invoke_agent"),
                    r.service.as_deref(),
                ]
            })
            .chain(members.iter().map(|&i| spans[i].service.as_deref()))
            .flatten()
            .find_map(to_agent_id)
            .ok_or_else(|| {
                format!("{label}: no agent name (gen_ai.agent.name, span name or service.name)")
            })?;

        // Tool calls are reported in the order they started.
        let mut ordered = members.to_vec();
        ordered.sort_by_key(|&i| (spans[i].span.start_time_unix_nano.0.unwrap_or(u64::MAX), i));

        let mut tokens: Option<Tokens> = None;
        let mut model = None;
        let mut tool_calls = Vec::new();
        let mut model_error = None;
        for &i in &ordered {
            let s = &spans[i];
            match s.role {
                Role::Model => {
                    // A model span under a model span that counted tokens is
                    // the same call seen by a second instrumentation.
                    let nested = self
                        .parent(i)
                        .is_some_and(|p| self.counted_above[p] == Some(true));
                    if let Some(t) = tokens_of(&s.span).filter(|_| !nested) {
                        let sum = tokens.get_or_insert_default();
                        sum.input = sum.input.saturating_add(t.input);
                        sum.output = sum.output.saturating_add(t.output);
                    }
                    if let Some(m) = attr_str(&s.span.attributes, MODEL_NAME) {
                        model = Some(m);
                    }
                    if model_error.is_none() && is_error(&s.span) {
                        model_error = Some(error_of(&s.span));
                    }
                }
                Role::Tool if tool_calls.len() < MAX_TOOL_CALLS => tool_calls.push(tool_call(s)),
                _ => {}
            }
        }
        // The conventions also put usage and the model on the agent span.
        if tokens.is_none() {
            tokens = root.and_then(|r| tokens_of(&r.span));
        }
        let model = model
            .or_else(|| attr_str(root_attrs, MODEL_NAME))
            .and_then(to_name);

        let (failed, error) = match root {
            Some(r) => (is_error(&r.span), error_of(&r.span)),
            // A service run fails with its first failed model call.
            None => (model_error.is_some(), model_error.flatten()),
        };
        let outcome = attr_str(root_attrs, &["agentdeck.outcome"])
            .and_then(|o| Outcome::parse(o.trim()))
            .unwrap_or(if failed {
                Outcome::Failed
            } else {
                Outcome::Success
            });
        let run_id = attr_str(root_attrs, &["agentdeck.run_id"])
            .and_then(to_id)
            .or_else(|| to_id(root.map(|r| r.span.span_id.as_str()).unwrap_or(self.id)))
            .ok_or_else(|| format!("{label}: no usable run id"))?;
        let workflow = attr_str(root_attrs, &["agentdeck.workflow"])
            .and_then(to_id)
            .unwrap_or_else(|| DEFAULT_WORKFLOW.to_string());
        let cost_usd = attr_num(root_attrs, &["agentdeck.cost_usd"])
            .filter(|c| *c >= 0.0)
            .unwrap_or(0.0);
        let version = |key| attr_str(root_attrs, &[key]).and_then(to_name);
        let id = to_id(&format!("otlp:{run_id}"));
        let mut env = Envelope::new(
            ts,
            agent,
            Event::RunFinished(RunFinished {
                run_id,
                workflow,
                outcome,
                latency_ms,
                cost_usd,
                tokens,
                tool_calls,
                policy_violations: Vec::new(),
                versions: Versions {
                    model,
                    prompt: version("agentdeck.version.prompt"),
                    tool: version("agentdeck.version.tool"),
                    policy: version("agentdeck.version.policy"),
                },
                error: error.filter(|_| outcome == Outcome::Failed),
            }),
        );
        env.id = id;
        Ok(env)
    }
}

/// A tool span as a tool call.
fn tool_call(s: &FlatSpan) -> ToolCall {
    let name = s.span.name.as_str();
    let attrs = &s.span.attributes;
    // The first name that makes a valid tool name: a garbled attribute
    // falls through to the span name.
    let tool = [
        attr_str(attrs, &["gen_ai.tool.name"]),
        attr_str(attrs, &["tool.name"]),
        after_operation(name, "execute_tool"),
        // OpenInference names a tool span after the tool.
        (!name.starts_with("execute_tool")).then_some(name),
    ]
    .into_iter()
    .flatten()
    .find_map(to_name)
    .unwrap_or_else(|| "unknown".to_string());
    let error = is_error(&s.span);
    let latency_ms = match (s.span.start_time_unix_nano.0, s.span.end_time_unix_nano.0) {
        (Some(a), Some(b)) => duration_ms(a, b),
        _ => None,
    };
    ToolCall {
        tool,
        status: if error {
            ToolStatus::Error
        } else {
            ToolStatus::Ok
        },
        latency_ms,
        error: if error { error_of(&s.span) } else { None },
    }
}
