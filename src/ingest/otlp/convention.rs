//! The semantic conventions: what a span is (agent, tool, model), its
//! tokens, its error, and names and ids made from attributes.

use chrono::{DateTime, Utc};

use crate::model::envelope::Tokens;
use crate::model::limits::{MAX_ID_BYTES, MAX_NAME_BYTES, MAX_TEXT_BYTES};
use crate::model::validate;

use super::wire::*;

/// What a span is, for the mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Role {
    Agent,
    Tool,
    Model,
    Other,
}

/// Operations that are one call to a model. (`create_agent` is not: it
/// registers an agent and would count as a run.)
pub(super) const MODEL_OPERATIONS: &[&str] = &[
    "chat",
    "text_completion",
    "generate_content",
    "embeddings",
    "call_llm",
];

pub(super) const TOKEN_INPUT: &[&str] = &[
    "gen_ai.usage.input_tokens",
    "gen_ai.usage.prompt_tokens",
    "llm.token_count.prompt",
];
pub(super) const TOKEN_OUTPUT: &[&str] = &[
    "gen_ai.usage.output_tokens",
    "gen_ai.usage.completion_tokens",
    "llm.token_count.completion",
];
/// Input tokens read from a cache: part of the input tokens, at the
/// cached price.
pub(super) const TOKEN_CACHED_INPUT: &[&str] = &[
    "gen_ai.usage.cache_read.input_tokens",
    "gen_ai.usage.cache_read_input_tokens",
    "llm.token_count.prompt_details.cache_read",
];
/// A cost in USD the instrumentation computed itself (on a model span for
/// that call, on the agent span for the run).
pub(super) const COST_USD: &[&str] = &[
    "agentdeck.cost_usd",
    "gen_ai.usage.cost",
    // OpenInference.
    "llm.cost.total",
    // Pydantic AI, on each model call.
    "operation.cost",
];
pub(super) const MODEL_NAME: &[&str] = &[
    "gen_ai.response.model",
    "gen_ai.request.model",
    "llm.model_name",
];

/// Attributes that name the agent of an agent span: the GenAI conventions,
/// OpenInference, OpenLLMetry (`traceloop.entity.name`) and Pydantic AI
/// before its GenAI names (`agent_name`).
pub(super) const AGENT_NAME: &[&str] = &[
    "gen_ai.agent.name",
    "gen_ai.agent.id",
    "agent.name",
    "traceloop.entity.name",
    "agent_name",
];

/// Attributes that name the tool of a tool span.
pub(super) const TOOL_NAME: &[&str] = &["gen_ai.tool.name", "tool.name", "traceloop.entity.name"];

/// Whether an agent span names its agent (an attribute, or a span name
/// `invoke_agent {name}`); OpenInference's AGENT spans may not.
pub(super) fn names_an_agent(span: &Span) -> bool {
    attr_str(&span.attributes, AGENT_NAME).is_some()
        || after_operation(&span.name, "invoke_agent").is_some_and(|n| !n.is_empty())
}

/// The part of a span name after `operation` when the name is `operation`
/// or `operation {rest}`; `None` for any other name (`invoke_agents`).
pub(super) fn after_operation<'a>(name: &'a str, operation: &str) -> Option<&'a str> {
    let rest = name.strip_prefix(operation)?;
    (rest.is_empty() || rest.starts_with(' ')).then(|| rest.trim())
}

/// What a span is: by the GenAI operation name or span name, by
/// OpenInference's span kind, by OpenLLMetry's `traceloop.span.kind`, or
/// for a model call by a model name or token usage.
pub(super) fn role_of(span: &Span) -> Role {
    let kind = |key| {
        attr_str(&span.attributes, &[key])
            .map(|k| k.trim().to_ascii_uppercase())
            .unwrap_or_default()
    };
    let op = attr_str(&span.attributes, &["gen_ai.operation.name"]).map(str::trim);
    let (oi, traceloop) = (kind("openinference.span.kind"), kind("traceloop.span.kind"));
    if op == Some("invoke_agent")
        || after_operation(&span.name, "invoke_agent").is_some()
        || oi == "AGENT"
        || traceloop == "AGENT"
    {
        return Role::Agent;
    }
    if op == Some("execute_tool")
        || after_operation(&span.name, "execute_tool").is_some()
        || oi == "TOOL"
        || traceloop == "TOOL"
    {
        return Role::Tool;
    }
    if op.is_some_and(|o| MODEL_OPERATIONS.contains(&o))
        || oi == "LLM"
        || attr_str(&span.attributes, MODEL_NAME).is_some()
        || has_tokens(span)
    {
        return Role::Model;
    }
    Role::Other
}

pub(super) fn has_tokens(span: &Span) -> bool {
    attr_num(&span.attributes, TOKEN_INPUT).is_some()
        || attr_num(&span.attributes, TOKEN_OUTPUT).is_some()
}

/// The span's token usage, when it reports any.
pub(super) fn tokens_of(span: &Span) -> Option<Tokens> {
    // Counts are read as f64 (they arrive as strings or numbers); the cast
    // saturates, and negative or absent counts are zero.
    let count = |keys| attr_num(&span.attributes, keys).map(|n| n.max(0.0) as u64);
    let (input, output) = (count(TOKEN_INPUT), count(TOKEN_OUTPUT));
    (input.is_some() || output.is_some()).then(|| Tokens {
        input: input.unwrap_or(0),
        output: output.unwrap_or(0),
    })
}

/// Input tokens of the span read from a cache.
pub(super) fn cached_of(span: &Span) -> u64 {
    attr_num(&span.attributes, TOKEN_CACHED_INPUT).map_or(0, |n| n.max(0.0) as u64)
}

pub(super) fn is_error(span: &Span) -> bool {
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
pub(super) fn error_of(span: &Span) -> Option<String> {
    span.status
        .as_ref()
        .and_then(|s| s.message.as_deref())
        .filter(|m| !m.trim().is_empty())
        .or_else(|| attr_str(&span.attributes, &["error.type"]))
        .map(|m| clip(m, MAX_TEXT_BYTES).to_string())
}

/// `s` cut to at most `limit` bytes, on a character boundary.
pub(super) fn clip(s: &str, limit: usize) -> &str {
    let mut end = s.len().min(limit);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// A short name (tool, version) as the protocol accepts it: trimmed, cut to
/// the name limit, no control characters.
pub(super) fn to_name(s: &str) -> Option<String> {
    let s = clip(s.trim(), MAX_NAME_BYTES);
    validate::name("name", s).ok().map(|()| s.to_string())
}

pub(super) fn time(nanos: u64) -> Option<DateTime<Utc>> {
    // Past i64 nanoseconds (the year 2262) is no real span time.
    i64::try_from(nanos)
        .ok()
        .map(DateTime::<Utc>::from_timestamp_nanos)
}

/// Milliseconds from `start` to `end`, rounded; `None` when `end` is
/// before `start`.
pub(super) fn duration_ms(start: u64, end: u64) -> Option<u64> {
    end.checked_sub(start).map(|ns| (ns + 500_000) / 1_000_000)
}

/// Makes a name from a span into a valid id: characters outside the id
/// alphabet become `-`, and it is cut to the id limit.
pub(super) fn to_id(name: &str) -> Option<String> {
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
pub(super) fn normalize_id(raw: &str) -> String {
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
pub(super) fn base64_bytes(s: &str) -> Option<Vec<u8>> {
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
