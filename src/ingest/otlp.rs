//! OpenTelemetry traces (OTLP/JSON `ExportTraceServiceRequest`) mapped to
//! runs, following the GenAI semantic conventions.
//!
//! - `invoke_agent` spans (by `gen_ai.operation.name`, a span name
//!   `invoke_agent {agent}`, or OpenInference `AGENT`) become runs of the
//!   agent named by `gen_ai.agent.name` / `gen_ai.agent.id`, else the span
//!   name, else the resource's `service.name`;
//! - `execute_tool` spans (or OpenInference `TOOL`) become tool calls of the
//!   run they sit under;
//! - model spans (`chat` and friends, any span with a request model or
//!   token usage, OpenInference `LLM`) add tokens and the model version;
//! - a trace with model spans but no agent span is one run of the
//!   service; a trace with neither is ignored.
//!
//! Real exporters bend the spec, so the reader accepts enum names as well as
//! numbers, ids in either case, 64-bit numbers as strings or numbers, and
//! the deprecated and OpenInference attribute names.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Deserializer};

use crate::model::envelope::{
    DEFAULT_WORKFLOW, Envelope, Event, Outcome, RunFinished, Tokens, ToolCall, ToolStatus, Versions,
};
use crate::model::limits::{MAX_ID_BYTES, MAX_TOOL_CALLS};
use crate::model::validate;

/// A 64-bit number sent as a JSON number or a decimal string.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Num(pub f64);

impl<'de> Deserialize<'de> for Num {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Either {
            N(f64),
            S(String),
        }
        Ok(match Either::deserialize(d)? {
            Either::N(n) => Num(n),
            Either::S(s) => Num(s.trim().parse().unwrap_or(0.0)),
        })
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
        }
        Ok(match Either::deserialize(d)? {
            Either::N(n) => EnumValue {
                number: Some(n),
                name: None,
            },
            Either::S(s) => EnumValue {
                number: None,
                name: Some(s),
            },
        })
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ExportRequest {
    #[serde(default)]
    resource_spans: Vec<ResourceSpans>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ResourceSpans {
    #[serde(default)]
    resource: Resource,
    #[serde(default, alias = "instrumentationLibrarySpans")]
    scope_spans: Vec<ScopeSpans>,
}

#[derive(Debug, Default, Deserialize)]
struct Resource {
    #[serde(default)]
    attributes: Vec<KeyValue>,
}

#[derive(Debug, Default, Deserialize)]
struct ScopeSpans {
    #[serde(default)]
    spans: Vec<Span>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Span {
    #[serde(default)]
    trace_id: String,
    #[serde(default)]
    span_id: String,
    #[serde(default)]
    parent_span_id: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    start_time_unix_nano: Num,
    #[serde(default)]
    end_time_unix_nano: Num,
    #[serde(default)]
    attributes: Vec<KeyValue>,
    #[serde(default)]
    status: Option<Status>,
}

#[derive(Debug, Default, Deserialize)]
struct Status {
    #[serde(default)]
    code: Option<EnumValue>,
}

#[derive(Debug, Default, Deserialize)]
struct KeyValue {
    #[serde(default)]
    key: String,
    #[serde(default)]
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
    #[serde(default)]
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
            .or_else(|| self.string_value.as_deref().and_then(|s| s.parse().ok()))
    }
}

fn attr<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a AnyValue> {
    attrs.iter().find(|kv| kv.key == key).map(|kv| &kv.value)
}

fn attr_str<'a>(attrs: &'a [KeyValue], keys: &[&str]) -> Option<&'a str> {
    keys.iter()
        .find_map(|k| attr(attrs, k).and_then(AnyValue::as_str))
        .filter(|s| !s.is_empty())
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

const MODEL_OPERATIONS: &[&str] = &[
    "chat",
    "text_completion",
    "generate_content",
    "embeddings",
    "create_agent",
    "call_llm",
];

fn role_of(span: &Span) -> Role {
    let op = attr_str(&span.attributes, &["gen_ai.operation.name"]);
    let oi = attr_str(&span.attributes, &["openinference.span.kind"]).map(str::to_ascii_uppercase);
    if op == Some("invoke_agent")
        || span.name.starts_with("invoke_agent")
        || oi.as_deref() == Some("AGENT")
    {
        return Role::Agent;
    }
    if op == Some("execute_tool") || oi.as_deref() == Some("TOOL") {
        return Role::Tool;
    }
    if op.is_some_and(|o| MODEL_OPERATIONS.contains(&o))
        || oi.as_deref() == Some("LLM")
        || attr_str(
            &span.attributes,
            &[
                "gen_ai.request.model",
                "gen_ai.response.model",
                "llm.model_name",
            ],
        )
        .is_some()
        || attr_num(&span.attributes, TOKEN_INPUT).is_some()
    {
        return Role::Model;
    }
    Role::Other
}

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

fn is_error(span: &Span) -> bool {
    let status_error = span
        .status
        .as_ref()
        .and_then(|s| s.code.as_ref())
        .is_some_and(|c| {
            c.number == Some(2)
                || c.name.as_deref().is_some_and(|n| {
                    n.eq_ignore_ascii_case("STATUS_CODE_ERROR") || n.eq_ignore_ascii_case("ERROR")
                })
        });
    status_error || attr_str(&span.attributes, &["error.type"]).is_some()
}

fn span_time(nanos: Num) -> Option<DateTime<Utc>> {
    let n = nanos.0;
    if !n.is_finite() || n <= 0.0 {
        return None;
    }
    let secs = (n / 1e9).floor();
    let sub = (n - secs * 1e9).clamp(0.0, 999_999_999.0);
    Utc.timestamp_opt(secs as i64, sub as u32).single()
}

/// Makes a name from a span into a valid agent id: characters outside the
/// id alphabet become `-`, and it is cut to the id limit.
pub fn to_agent_id(name: &str) -> Option<String> {
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
    id.truncate(MAX_ID_BYTES);
    validate::id("agent", &id).ok().map(|()| id)
}

/// The result of mapping one export request.
#[derive(Debug, Default)]
pub struct Mapped {
    /// One `run.finished` envelope per run found.
    pub envelopes: Vec<Envelope>,
    /// Spans read.
    pub spans: u64,
    /// Spans in traces with no agent or model span.
    pub ignored_spans: u64,
    /// Spans that could not be used, with why (bad times, unnamed agents).
    pub rejected_spans: u64,
    /// The first reasons for rejection.
    pub errors: Vec<String>,
}

struct FlatSpan {
    span: Span,
    service: Option<String>,
    role: Role,
}

/// Parses and maps an OTLP/JSON trace export.
pub fn map_export(body: &[u8]) -> Result<Mapped, String> {
    let request: ExportRequest = serde_json::from_slice(body)
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
                span.trace_id.make_ascii_lowercase();
                span.span_id.make_ascii_lowercase();
                span.parent_span_id.make_ascii_lowercase();
                if !seen.insert((span.trace_id.clone(), span.span_id.clone())) {
                    continue; // the same span sent twice
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
        map_trace(&trace_id, spans, &mut out);
    }
    out
}

fn map_trace(trace_id: &str, spans: Vec<FlatSpan>, out: &mut Mapped) {
    let agents: Vec<usize> = (0..spans.len())
        .filter(|&i| spans[i].role == Role::Agent)
        .collect();
    let has_model = spans.iter().any(|s| s.role == Role::Model);
    if agents.is_empty() && !has_model {
        out.ignored_spans += spans.len() as u64;
        return;
    }
    let index: HashMap<&str, usize> = spans
        .iter()
        .enumerate()
        .map(|(i, s)| (s.span.span_id.as_str(), i))
        .collect();
    // The run a span belongs to: its nearest agent ancestor, else the only
    // agent span of the trace, else the trace-level run.
    let owner = |mut i: usize| -> Option<usize> {
        for _ in 0..spans.len() {
            if spans[i].role == Role::Agent {
                return Some(i);
            }
            match index.get(spans[i].span.parent_span_id.as_str()) {
                Some(&p) if p != i => i = p,
                _ => break,
            }
        }
        (agents.len() == 1).then(|| agents[0])
    };
    let runs: Vec<Option<usize>> = if agents.is_empty() {
        vec![None]
    } else {
        agents.iter().map(|&a| Some(a)).collect()
    };
    for run in runs {
        let members: Vec<&FlatSpan> = spans
            .iter()
            .enumerate()
            .filter(|(i, _)| agents.is_empty() || owner(*i) == run)
            .map(|(_, s)| s)
            .collect();
        match build_run(trace_id, run.map(|i| &spans[i]), &members) {
            Ok(env) => out.envelopes.push(env),
            Err(e) => {
                out.rejected_spans += members.len() as u64;
                if out.errors.len() < 5 {
                    out.errors.push(e);
                }
            }
        }
    }
}

fn build_run(
    trace_id: &str,
    root: Option<&FlatSpan>,
    members: &[&FlatSpan],
) -> Result<Envelope, String> {
    // Without an agent span the run spans all of the trace's spans.
    let start = root
        .map(|r| r.span.start_time_unix_nano.0)
        .unwrap_or_else(|| {
            members
                .iter()
                .map(|s| s.span.start_time_unix_nano.0)
                .fold(f64::INFINITY, f64::min)
        });
    let end = root
        .map(|r| r.span.end_time_unix_nano.0)
        .unwrap_or_else(|| {
            members
                .iter()
                .map(|s| s.span.end_time_unix_nano.0)
                .fold(0.0, f64::max)
        });
    let ts = span_time(Num(end))
        .or_else(|| span_time(Num(start)))
        .ok_or_else(|| format!("trace {trace_id}: span has no usable start or end time"))?;
    let latency_ms = if end > start {
        ((end - start) / 1e6).round() as u64
    } else {
        0
    };
    let name_from_span = root
        .and_then(|r| r.span.name.strip_prefix("invoke_agent").map(str::trim))
        .filter(|s| !s.is_empty());
    let agent_name = root
        .and_then(|r| {
            attr_str(
                &r.span.attributes,
                &["gen_ai.agent.name", "gen_ai.agent.id", "agent.name"],
            )
        })
        .or(name_from_span)
        .or_else(|| members.iter().find_map(|s| s.service.as_deref()))
        .ok_or_else(|| {
            format!(
                "trace {trace_id}: no agent name (gen_ai.agent.name, span name or service.name)"
            )
        })?;
    let agent = to_agent_id(agent_name)
        .ok_or_else(|| format!("trace {trace_id}: agent name {agent_name:?} cannot be an id"))?;
    let mut tokens = Tokens::default();
    let mut has_tokens = false;
    let mut model = None;
    let mut tool_calls = Vec::new();
    let mut failed = root.is_some_and(|r| is_error(&r.span));
    for s in members {
        match s.role {
            Role::Model => {
                if let Some(n) = attr_num(&s.span.attributes, TOKEN_INPUT) {
                    tokens.input += n.max(0.0) as u64;
                    has_tokens = true;
                }
                if let Some(n) = attr_num(&s.span.attributes, TOKEN_OUTPUT) {
                    tokens.output += n.max(0.0) as u64;
                    has_tokens = true;
                }
                if let Some(m) = attr_str(
                    &s.span.attributes,
                    &[
                        "gen_ai.response.model",
                        "gen_ai.request.model",
                        "llm.model_name",
                    ],
                ) {
                    model = Some(m.to_string());
                }
                if root.is_none() && is_error(&s.span) {
                    failed = true;
                }
            }
            Role::Tool if tool_calls.len() < MAX_TOOL_CALLS => {
                let tool = attr_str(&s.span.attributes, &["gen_ai.tool.name", "tool.name"])
                    .map(str::to_string)
                    .or_else(|| {
                        s.span
                            .name
                            .strip_prefix("execute_tool")
                            .map(|n| n.trim().to_string())
                    })
                    .filter(|t| validate::name("tool", t).is_ok())
                    .unwrap_or_else(|| "unknown".to_string());
                let error = is_error(&s.span);
                let (a, b) = (s.span.start_time_unix_nano.0, s.span.end_time_unix_nano.0);
                tool_calls.push(ToolCall {
                    tool,
                    status: if error {
                        ToolStatus::Error
                    } else {
                        ToolStatus::Ok
                    },
                    latency_ms: (b > a).then(|| ((b - a) / 1e6).round() as u64),
                    error: error
                        .then(|| attr_str(&s.span.attributes, &["error.type"]).map(str::to_string))
                        .flatten(),
                });
            }
            _ => {}
        }
    }
    let model = model.filter(|m| validate::name("versions.model", m).is_ok());
    let run_id = format!(
        "{}:{}",
        &trace_id[..trace_id.len().min(32)],
        root.map(|r| r.span.span_id.as_str()).unwrap_or("trace")
    );
    let run_id = if validate::id("run_id", &run_id).is_ok() {
        run_id
    } else {
        "otlp".to_string()
    };
    Ok(Envelope::new(
        ts,
        agent,
        Event::RunFinished(RunFinished {
            run_id,
            workflow: DEFAULT_WORKFLOW.to_string(),
            outcome: if failed {
                Outcome::Failed
            } else {
                Outcome::Success
            },
            latency_ms,
            cost_usd: 0.0,
            tokens: has_tokens.then_some(tokens),
            tool_calls,
            policy_violations: Vec::new(),
            versions: Versions {
                model,
                ..Versions::default()
            },
            error: None,
        }),
    ))
}
