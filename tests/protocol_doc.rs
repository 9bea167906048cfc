//! Every example in `docs/protocol.md`, decoded with the crate's real types,
//! so the protocol document cannot drift from the code.
//!
//! Convention: a JSON example sits in a fenced block whose info string is
//! `json <kind>` (`json envelope`, `json incident`, …). A ```json block with
//! no kind or an unknown kind is an error, as is a block that does not parse.
//! Besides parsing, the examples are checked against the engine and the hub:
//! incidents and approvals are replayed through their state machines, SLO
//! statuses are recomputed from their own counts, audit hashes are
//! recomputed, refused lines must give the exact message printed after them,
//! an NDJSON batch and an OTLP request must give the answer and the events
//! shown after them, the SSE transcript must match the delta examples, and
//! callback bodies and their signature must be what the hub sends.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;

use agentdeck::engine::burn::{self, Counts};
use agentdeck::engine::incident::NewIncident;
use agentdeck::engine::spec::parse_specs;
use agentdeck::hub::audit::entry_hash;
use agentdeck::hub::auth::TokenStore;
use agentdeck::hub::callbacks;
use agentdeck::hub::core::approval_callback;
use agentdeck::hub::policy::Policy;
use agentdeck::ingest::otlp::map_export;
use agentdeck::model::action::{
    AssignRequest, ControlRequest, DecisionRequest, ErrorBody, EscalateRequest, IngestResponse,
    LineError, NoteRequest, OpenIncidentRequest, Presence, PresenceRequest, ResolveRequest,
};
use agentdeck::model::agent::Agent;
use agentdeck::model::approval::{Approval, ApprovalState};
use agentdeck::model::audit::{AuditEntry, AuditPage};
use agentdeck::model::control::{Control, ControlKind, ControlState};
use agentdeck::model::drill;
use agentdeck::model::envelope::{ApprovalRequest, Envelope, Event, Outcome};
use agentdeck::model::error::DecodeError;
use agentdeck::model::incident::{Incident, IncidentState, Severity};
use agentdeck::model::slo::{AlertLevel, BurnRates, DEFAULT_MIN_EVENTS, SloSpec, SloStatus};
use agentdeck::model::stream::{Delta, Snapshot};
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

const DOC: &str = include_str!("../docs/protocol.md");

#[path = "protocol_doc/history.rs"]
mod history;

/// Every kind a ```json block may carry.
const JSON_KINDS: &[&str] = &[
    "me",
    "envelope",
    "ndjson",
    "ndjson-batch",
    "invalid-envelope",
    "agent",
    "slo-spec",
    "slo-status",
    "incident",
    "approval",
    "control",
    "agent-controls",
    "audit",
    "audit-page",
    "audit-page-newest",
    "audit-chain",
    "history-approvals",
    "history-incidents",
    "history-controls",
    "presence",
    "snapshot",
    "delta",
    "decision-request",
    "open-incident-request",
    "assign-request",
    "escalate-request",
    "note-request",
    "resolve-request",
    "control-request",
    "presence-request",
    "ingest-response",
    "error",
    "otlp-request",
    "otlp-response",
    "callback",
    "callback-registration-request",
    "callback-registration",
    "handoff",
    "handoff-note-request",
    "handoff-note",
    "runbooks",
    "agent-registration-request",
    "agents",
    "agent-performance",
    "agent-runs",
    "agent-failed-runs",
    "agent-tools",
    "agent-approvals",
    "agent-changes",
    "step-request",
    "alertmanager-payload",
    "snooze-request",
];

/// Kinds checked in blocks of other languages.
const OTHER_KINDS: &[(&str, &str)] = &[
    ("toml", "slo-spec"),
    ("toml", "policy"),
    ("toml", "tokens"),
    ("text", "sse"),
    ("text", "signature"),
    ("text", "canonical"),
    ("text", "handoff-text"),
    ("http", "controls-poll"),
];

const EVENT_TYPES: &[&str] = &[
    "run.finished",
    "tool.called",
    "escalation",
    "approval.requested",
    "incident.reported",
    "change",
    "heartbeat",
];

const DELTA_EVENTS: &[&str] = &[
    "slo", "incident", "approval", "control", "agent", "audit", "presence",
];

/// Every class of refusal the document must show an example of.
const DECODE_ERRORS: &[&str] = &[
    "Json",
    "Type",
    "Version",
    "UnknownType",
    "UnknownField",
    "DuplicateField",
    "MissingField",
    "ForeignField",
    "TooLong",
    "TooMany",
    "Invalid",
];

/// Fewest ```json examples the document may hold.
const MIN_JSON_EXAMPLES: usize = 75;

/// Answer of `GET /v1/agents/{agent}/controls`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AgentControls {
    agent: String,
    controls: Vec<Control>,
}

/// Body of `PUT /v1/agents/{agent}/callback`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CallbackRequest {
    url: String,
}

/// Answer of `PUT /v1/agents/{agent}/callback`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CallbackRegistration {
    agent: String,
    url: String,
    secret: String,
}

/// One fenced code block.
#[derive(Debug)]
struct Block {
    /// 1-based line of the opening fence.
    line: usize,
    /// First word of the info string (`json`, `text`, …).
    lang: String,
    /// Second word of the info string, if any.
    kind: Option<String>,
    /// The lines between the fences.
    body: String,
    /// Text of a `> error: ` line following the block.
    error: Option<String>,
}

/// Splits a Markdown document into its fenced code blocks.
fn blocks(doc: &str) -> Result<Vec<Block>, String> {
    let lines: Vec<&str> = doc.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let Some(info) = lines[i].strip_prefix("```") else {
            i += 1;
            continue;
        };
        let open = i;
        let mut words = info.split_whitespace();
        let lang = words.next().unwrap_or("").to_string();
        let kind = words.next().map(str::to_string);
        if let Some(extra) = words.next() {
            return Err(format!(
                "line {}: unexpected {extra:?} in the info string",
                open + 1
            ));
        }
        let mut body = Vec::new();
        i += 1;
        loop {
            match lines.get(i) {
                None => return Err(format!("line {}: code block never closed", open + 1)),
                Some(l) if l.trim_end() == "```" => break,
                Some(l) => body.push(*l),
            }
            i += 1;
        }
        i += 1;
        let mut next = i;
        while lines.get(next).is_some_and(|l| l.trim().is_empty()) {
            next += 1;
        }
        let error = lines
            .get(next)
            .and_then(|l| l.strip_prefix("> error: "))
            .map(str::to_string);
        out.push(Block {
            line: open + 1,
            lang,
            kind,
            body: body.join("\n"),
            error,
        });
    }
    Ok(out)
}

/// What the next JSON block must show.
#[derive(Debug)]
enum Pending {
    /// The answer to an `ndjson-batch`.
    Answer(usize, IngestResponse),
    /// The events an `otlp-request` maps to.
    Events(usize, Vec<Envelope>),
}

/// What a pass over the document found.
#[derive(Debug, Default)]
struct Report {
    errors: Vec<String>,
    json_examples: usize,
    kinds: BTreeMap<String, usize>,
    event_types: BTreeSet<&'static str>,
    delta_events: BTreeSet<&'static str>,
    decode_errors: BTreeSet<&'static str>,
    checked_messages: usize,
    errors_with_needs: usize,
    errors_with_current: usize,
    /// Every delta example, as JSON.
    deltas: Vec<Value>,
    /// Every callback body example, as JSON.
    callbacks: Vec<Value>,
    /// Every approval shown anywhere.
    approvals: Vec<Approval>,
    /// Every audit hash shown anywhere, with its `prev_hash`.
    audit_hashes: BTreeSet<(String, String)>,
    /// `seq` of every snapshot example.
    snapshot_seqs: BTreeSet<u64>,
    /// JSON SLO specs by name.
    specs: BTreeMap<String, SloSpec>,
    /// The ETag of every `agent-controls` example, as the hub computes it.
    etags: BTreeSet<String>,
    /// Blocks checked after the whole document was read.
    later: Vec<Later>,
    /// The last handoff summary example, which a `handoff-text` example
    /// below it is written from.
    handoff: Option<agentdeck::handoff::Handoff>,
}

/// A check that needs the whole document.
#[derive(Debug)]
enum Later {
    Toml(usize, SloSpec),
    Sse(usize, SseFrame),
    CallbackBody(usize, Value),
    Approval(usize, Value),
    Canonical(usize, String),
    Etag(usize, String),
}

/// One event of an SSE transcript.
#[derive(Debug, Clone)]
struct SseFrame {
    event: String,
    id: u64,
    data: String,
}

fn parse<T: DeserializeOwned>(body: &str) -> Result<T, String> {
    serde_json::from_str(body).map_err(|e| format!("does not parse: {e}"))
}

fn checked<T: DeserializeOwned>(
    body: &str,
    validate: fn(&T) -> Result<(), DecodeError>,
) -> Result<T, String> {
    let value: T = parse(body)?;
    validate(&value).map_err(|e| format!("parses, but validate() refuses it: {e}"))?;
    Ok(value)
}

fn variant(e: &DecodeError) -> &'static str {
    match e {
        DecodeError::Json(_) => "Json",
        DecodeError::Type(_) => "Type",
        DecodeError::Version(_) => "Version",
        DecodeError::UnknownType { .. } => "UnknownType",
        DecodeError::UnknownField(_) => "UnknownField",
        DecodeError::DuplicateField(_) => "DuplicateField",
        DecodeError::MissingField { .. } => "MissingField",
        DecodeError::ForeignField { .. } => "ForeignField",
        DecodeError::TooLong { .. } => "TooLong",
        DecodeError::TooMany { .. } => "TooMany",
        DecodeError::Invalid { .. } => "Invalid",
        DecodeError::LineTooLong { .. } => "LineTooLong",
    }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

fn ensure(ok: bool, what: impl FnOnce() -> String) -> Result<(), String> {
    if ok { Ok(()) } else { Err(what()) }
}

fn same<T: PartialEq + Debug>(what: &str, documented: &T, expected: &T) -> Result<(), String> {
    ensure(documented == expected, || {
        format!("{what}: the document says {documented:?}, the code gives {expected:?}")
    })
}

/// Like [`same`] for objects, naming only the fields that differ.
fn same_fields<T: PartialEq + Serialize>(
    what: &str,
    documented: &T,
    expected: &T,
) -> Result<(), String> {
    if documented == expected {
        return Ok(());
    }
    let (doc, code) = (
        serde_json::to_value(documented).unwrap_or_default(),
        serde_json::to_value(expected).unwrap_or_default(),
    );
    let empty = serde_json::Map::new();
    let (d, c) = (
        doc.as_object().unwrap_or(&empty),
        code.as_object().unwrap_or(&empty),
    );
    let keys: BTreeSet<&String> = d.keys().chain(c.keys()).collect();
    let show = |v: Option<&Value>| v.map_or("(absent)".to_string(), Value::to_string);
    let diff: Vec<String> = keys
        .into_iter()
        .filter(|k| d.get(*k) != c.get(*k))
        .map(|k| {
            format!(
                "{k}: the document says {}, the code gives {}",
                show(d.get(k)),
                show(c.get(k))
            )
        })
        .collect();
    Err(format!("{what} differs: {}", diff.join("; ")))
}

fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

impl Report {
    fn check(&mut self, doc: &str) {
        let blocks = match blocks(doc) {
            Ok(b) => b,
            Err(e) => {
                self.errors.push(e);
                return;
            }
        };
        let mut pending: Option<Pending> = None;
        for block in &blocks {
            if block.lang == "json" {
                self.json_examples += 1;
                let result = self.json(block, &mut pending);
                let kind = block.kind.clone().unwrap_or_default();
                match result {
                    Ok(()) => *self.kinds.entry(kind).or_default() += 1,
                    Err(e) => self
                        .errors
                        .push(format!("line {} (```json {kind}): {e}", block.line)),
                }
                continue;
            }
            let Some(kind) = block.kind.as_deref() else {
                if block.lang == "toml" {
                    self.errors.push(format!(
                        "line {}: a ```toml block needs a kind (```toml slo-spec)",
                        block.line
                    ));
                }
                continue;
            };
            if !OTHER_KINDS.contains(&(block.lang.as_str(), kind)) {
                self.errors.push(format!(
                    "line {}: unknown kind ```{} {kind}",
                    block.line, block.lang
                ));
                continue;
            }
            let result = match kind {
                "slo-spec" => parse_specs("docs/protocol.md", &block.body)
                    .map_err(|e| e.to_string())
                    .and_then(|specs| {
                        ensure(!specs.is_empty(), || "no [[slo]] table".into())?;
                        for spec in specs {
                            self.later.push(Later::Toml(block.line, spec));
                        }
                        Ok(())
                    }),
                "policy" => Policy::parse("docs/protocol.md", &block.body).map(drop),
                "tokens" => TokenStore::parse("docs/protocol.md", &block.body)
                    .and_then(|t| ensure(!t.is_empty(), || "no [[token]] table".into())),
                "controls-poll" => block
                    .body
                    .lines()
                    .find_map(|l| l.strip_prefix("If-None-Match: "))
                    .map(|etag| self.later.push(Later::Etag(block.line, etag.to_string())))
                    .ok_or_else(|| "no If-None-Match header".to_string()),
                "sse" => self.sse(block),
                "handoff-text" => self.handoff_text(block),
                "canonical" => {
                    self.later
                        .push(Later::Canonical(block.line, block.body.clone()));
                    parse::<Value>(&block.body).map(drop)
                }
                _ => self.signature(block),
            };
            match result {
                Ok(()) => {
                    *self
                        .kinds
                        .entry(format!("{} {kind}", block.lang))
                        .or_default() += 1
                }
                Err(e) => self.errors.push(format!(
                    "line {} (```{} {kind}): {e}",
                    block.line, block.lang
                )),
            }
        }
        match pending {
            Some(Pending::Answer(line, _)) => self.errors.push(format!(
                "line {line}: an ndjson-batch must be followed by its ingest-response"
            )),
            Some(Pending::Events(line, _)) => self.errors.push(format!(
                "line {line}: an otlp-request must be followed by the events it maps to"
            )),
            None => {}
        }
        self.cross_check();
    }

    /// One ```json block, with what the block before it expects of it.
    fn json(&mut self, block: &Block, pending: &mut Option<Pending>) -> Result<(), String> {
        let kind = match block.kind.as_deref() {
            None => return Err("a ```json block needs a kind (```json envelope, …)".into()),
            Some(k) if !JSON_KINDS.contains(&k) => {
                return Err(format!(
                    "unknown kind {k:?} (known: {})",
                    JSON_KINDS.join(", ")
                ));
            }
            Some(k) => k,
        };
        let body = block.body.as_str();
        match (pending.take(), kind) {
            (Some(Pending::Answer(_, expected)), "ingest-response") => {
                let got: IngestResponse = parse(body)?;
                return same("the answer to the batch above", &got, &expected);
            }
            (Some(Pending::Answer(line, expected)), _) => {
                return Err(format!(
                    "the ndjson-batch at line {line} must be followed by its ingest-response, \
                     which is {}",
                    serde_json::to_string(&expected).unwrap_or_default()
                ));
            }
            (Some(Pending::Events(_, expected)), "envelope" | "ndjson") => {
                let got = self.envelopes(kind, body)?;
                return same("the events the OTLP request above maps to", &got, &expected);
            }
            (Some(Pending::Events(line, expected)), _) => {
                let lines: Vec<String> = expected.iter().map(Envelope::to_line).collect();
                return Err(format!(
                    "the otlp-request at line {line} must be followed by the events it maps \
                     to:\n{}",
                    lines.join("\n")
                ));
            }
            (None, _) => {}
        }
        match kind {
            "envelope" | "ndjson" => self.envelopes(kind, body).map(drop),
            "ndjson-batch" => {
                *pending = Some(Pending::Answer(block.line, self.ndjson_batch(body)?));
                Ok(())
            }
            "ingest-response" => parse::<IngestResponse>(body).map(drop),
            "me" => parse::<agentdeck::model::action::Me>(body).map(drop),
            "invalid-envelope" => self.invalid_envelope(block),
            "agent" => check_agent(&parse::<Agent>(body)?),
            "slo-spec" => {
                let spec: SloSpec = parse(body)?;
                check_spec(&spec)?;
                self.specs.insert(spec.name.clone(), spec);
                Ok(())
            }
            "slo-status" => check_status(&parse(body)?),
            "incident" => check_incident(&parse(body)?),
            "snooze-request" => parse::<agentdeck::model::action::SnoozeRequest>(body)?
                .validate()
                .map_err(|e| e.to_string()),
            "alertmanager-payload" => {
                let alerts = agentdeck::ingest::alertmanager::check(parse(body)?)?;
                ensure(
                    alerts.iter().any(|a| a.firing) && alerts.iter().any(|a| !a.firing),
                    || "the example should show a firing and a resolved alert".into(),
                )
            }
            "approval" => self.approval(parse(body)?),
            "control" => check_control(&parse(body)?),
            "agent-controls" => {
                let answer: AgentControls = parse(body)?;
                // The hub's ETag: the first 32 hex digits of the SHA-256 of
                // the body it sends.
                let sent = serde_json::json!({"agent": answer.agent, "controls": answer.controls});
                self.etags.insert(format!(
                    "\"{}\"",
                    &sha256_hex(sent.to_string().as_bytes())[..32]
                ));
                for c in &answer.controls {
                    check_control(c)?;
                    ensure(
                        c.binds(&answer.agent) && c.state == ControlState::Active,
                        || format!("{} is not an active control of {}", c.id, answer.agent),
                    )?;
                }
                Ok(())
            }
            "audit" => self.audit(&[parse(body)?]),
            "audit-page" => {
                let page: AuditPage = parse(body)?;
                ensure(!page.entries.is_empty(), || "no entries".into())?;
                self.audit(&page.entries)?;
                same(
                    "next_after (the last seq)",
                    &Some(page.next_after),
                    &page.entries.last().map(|e| e.seq),
                )?;
                same(
                    "next_before of an oldest-first page",
                    &page.next_before,
                    &None,
                )
            }
            "audit-page-newest" => self.audit(&history::audit_newest(body)?),
            "audit-chain" => history::chain(body),
            "history-approvals" => history::approvals(body),
            "history-incidents" => history::incidents(body),
            "history-controls" => history::controls(body),
            "presence" => {
                if body.trim_start().starts_with('[') {
                    parse::<Vec<Presence>>(body).map(drop)
                } else {
                    parse::<Presence>(body).map(drop)
                }
            }
            "snapshot" => {
                let snapshot: Snapshot = parse(body)?;
                check_snapshot(&snapshot)?;
                self.audit(&snapshot.audit)?;
                self.approvals.extend(snapshot.approvals.iter().cloned());
                self.snapshot_seqs.insert(snapshot.seq);
                Ok(())
            }
            "delta" => {
                let delta: Delta = parse(body)?;
                self.delta(&delta)?;
                self.delta_events.insert(delta.event_name());
                self.deltas.push(parse::<Value>(body)?);
                Ok(())
            }
            "decision-request" => checked(body, DecisionRequest::validate).map(drop),
            "open-incident-request" => checked(body, OpenIncidentRequest::validate).map(drop),
            "assign-request" => checked(body, AssignRequest::validate).map(drop),
            "escalate-request" => parse::<EscalateRequest>(body).map(drop),
            "note-request" => checked(body, NoteRequest::validate).map(drop),
            "resolve-request" => checked(body, ResolveRequest::validate).map(drop),
            "control-request" => checked(body, ControlRequest::validate).map(drop),
            "presence-request" => parse::<PresenceRequest>(body).map(drop),
            "handoff" => {
                let summary = parse(body)?;
                check_handoff(&summary)?;
                self.handoff = Some(summary);
                Ok(())
            }
            "runbooks" => check_runbooks(&parse(body)?),
            "step-request" => {
                let request: agentdeck::runbook::StepRequest = parse(body)?;
                ensure(request.step >= 1, || "steps are numbered from 1".into())
            }
            "handoff-note-request" => {
                let request: agentdeck::handoff::NoteRequest = parse(body)?;
                request.validate()
            }
            "handoff-note" => {
                let note: agentdeck::model::runbook::HandoffNote = parse(body)?;
                agentdeck::handoff::NoteRequest { text: note.text }.validate()
            }
            "error" => self.error(body),
            "otlp-request" => {
                let mapped = map_export(body.as_bytes())?;
                ensure(
                    mapped.rejected_spans == 0 && mapped.ignored_spans == 0,
                    || format!("spans refused or ignored: {:?}", mapped.errors),
                )?;
                *pending = Some(Pending::Events(block.line, mapped.envelopes));
                Ok(())
            }
            "otlp-response" => check_otlp_response(&parse(body)?),
            "callback" => {
                let value: Value = parse(body)?;
                self.callback(block.line, &value)?;
                self.callbacks.push(value);
                Ok(())
            }
            "callback-registration-request" => {
                let request: CallbackRequest = parse(body)?;
                check_url(&request.url)
            }
            "callback-registration" => {
                let answer: CallbackRegistration = parse(body)?;
                agentdeck::model::validate::id("agent", &answer.agent)
                    .map_err(|e| e.to_string())?;
                check_url(&answer.url)?;
                ensure(
                    answer.secret.len() == 64 && hex::decode(&answer.secret).is_ok(),
                    || "the secret is 64 hex digits".into(),
                )
            }
            "agent-registration-request" => {
                checked(body, agentdeck::model::profile::AgentProfile::validate).map(drop)
            }
            "agents" => {
                let list: AgentList = parse(body)?;
                list.agents.iter().try_for_each(check_agent)
            }
            "agent-performance" => check_performance(&parse(body)?),
            "agent-runs" => check_top_runs(&parse(body)?),
            "agent-failed-runs" => {
                let runs: drill::FailedRuns = parse(body)?;
                ensure(
                    runs.runs.iter().all(|r| r.outcome != Outcome::Success),
                    || "a failed run ended in success".into(),
                )
            }
            "agent-tools" => check_tools(&parse(body)?),
            "agent-approvals" => check_approval_metrics(&parse(body)?),
            "agent-changes" => check_changes(&parse(body)?),
            other => Err(format!("no check for kind {other:?}")),
        }
    }

    /// The envelopes of an `envelope` or `ndjson` block, each decoded
    /// strictly, round-tripped, and checked for what the decoder leaves to
    /// the sender.
    fn envelopes(&mut self, kind: &str, body: &str) -> Result<Vec<Envelope>, String> {
        let texts: Vec<&str> = if kind == "ndjson" {
            body.lines().filter(|l| !l.trim().is_empty()).collect()
        } else {
            vec![body]
        };
        ensure(!texts.is_empty(), || "no lines".into())?;
        let mut out = Vec::new();
        for (i, text) in texts.into_iter().enumerate() {
            let env = self
                .envelope(text)
                .map_err(|e| format!("envelope {}: {e}", i + 1))?;
            out.push(env);
        }
        Ok(out)
    }

    fn envelope(&mut self, text: &str) -> Result<Envelope, String> {
        let env = Envelope::decode(text).map_err(|e| format!("refused by the decoder: {e}"))?;
        let line = env.to_line();
        let again = Envelope::decode(&line)
            .map_err(|e| format!("its own to_line() is refused: {e} ({line})"))?;
        same("the envelope decoded again from to_line()", &again, &env)?;
        if let Event::ApprovalRequested(request) = &env.event {
            ensure(request.deadline > env.ts, || {
                "deadline is not after ts".into()
            })?;
            if let Some(at) = request.escalate_at {
                ensure(env.ts < at && at < request.deadline, || {
                    "escalate_at is not between ts and deadline".into()
                })?;
            }
        }
        self.event_types.insert(env.event.type_name());
        Ok(env)
    }

    fn invalid_envelope(&mut self, block: &Block) -> Result<(), String> {
        ensure(!block.body.contains('\n'), || {
            "a refused line must be one line".into()
        })?;
        let error = match Envelope::decode(&block.body) {
            Ok(env) => return Err(format!("decodes, but should be refused: {env:?}")),
            Err(e) => e,
        };
        self.decode_errors.insert(variant(&error));
        if let Some(expected) = &block.error {
            same(
                "the error message",
                &expected.as_str(),
                &error.to_string().as_str(),
            )?;
            self.checked_messages += 1;
        }
        Ok(())
    }

    /// Decodes a batch line by line, as the hub does, and gives its answer.
    fn ndjson_batch(&mut self, body: &str) -> Result<IngestResponse, String> {
        let mut answer = IngestResponse {
            accepted: 0,
            duplicates: 0,
            rejected: Vec::new(),
        };
        for (i, line) in body.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            match Envelope::decode(line) {
                Ok(env) => {
                    self.event_types.insert(env.event.type_name());
                    answer.accepted += 1;
                }
                Err(e) => answer.rejected.push(LineError {
                    line: i as u64 + 1,
                    error: e.to_string(),
                }),
            }
        }
        ensure(answer.accepted > 0 && !answer.rejected.is_empty(), || {
            "a batch example should mix accepted and refused lines".into()
        })?;
        Ok(answer)
    }

    fn approval(&mut self, a: Approval) -> Result<(), String> {
        check_approval(&a)?;
        self.approvals.push(a);
        Ok(())
    }

    /// Audit entries: real hashes, and a chain when there are several.
    fn audit(&mut self, entries: &[AuditEntry]) -> Result<(), String> {
        check_audit(entries)?;
        for e in entries {
            self.audit_hashes
                .insert((e.prev_hash.clone(), e.hash.clone()));
        }
        Ok(())
    }

    fn delta(&mut self, d: &Delta) -> Result<(), String> {
        match d {
            Delta::Slo(s) => check_status(s),
            Delta::Incident(i) => check_incident(i),
            Delta::Approval(a) => self.approval((**a).clone()),
            Delta::Control(c) => check_control(c),
            Delta::Agent(_) | Delta::Presence(_) => Ok(()),
            Delta::Audit(e) => self.audit(std::slice::from_ref(e)),
        }
    }

    fn error(&mut self, body: &str) -> Result<(), String> {
        let error: ErrorBody = parse(body)?;
        ensure(!error.error.trim().is_empty(), || "empty error".into())?;
        if let Some(needs) = &error.needs {
            ensure(!needs.is_empty(), || "empty needs".into())?;
            let names: Vec<&str> = needs.iter().map(|r| r.as_str()).collect();
            let suffix = format!("needs the role {}", names.join(" or "));
            ensure(error.error.ends_with(&suffix), || {
                format!("a 403 for a role reads \"… {suffix}\"")
            })?;
            self.errors_with_needs += 1;
        }
        if let Some(current) = &error.current {
            if let Ok(a) = serde_json::from_value::<Approval>(current.clone()) {
                self.approval(a.clone())?;
                if error.error.starts_with("cannot decide") {
                    let expected =
                        format!("cannot decide {}: it is {}", a.id, a.closed_description());
                    same("the message of a late decision", &error.error, &expected)?;
                }
            } else if let Ok(i) = serde_json::from_value::<Incident>(current.clone()) {
                check_incident(&i)?;
            } else if let Ok(c) = serde_json::from_value::<Control>(current.clone()) {
                check_control(&c)?;
            } else {
                return Err("`current` is neither an approval, an incident nor a control".into());
            }
            self.errors_with_current += 1;
        }
        Ok(())
    }

    /// A callback body, as the hub builds it.
    fn callback(&mut self, line: usize, value: &Value) -> Result<(), String> {
        match value["type"].as_str() {
            Some("approval.decided") => {
                self.later.push(Later::Approval(line, value.clone()));
                Ok(())
            }
            Some("control.changed") => {
                let control: Control = serde_json::from_value(value["control"].clone())
                    .map_err(|e| format!("control does not parse: {e}"))?;
                check_control(&control)?;
                let expected = serde_json::json!({"type": "control.changed", "control": control});
                same("the control callback", value, &expected)
            }
            other => Err(format!("unknown callback type {other:?}")),
        }
    }

    fn sse(&mut self, block: &Block) -> Result<(), String> {
        let mut frames = Vec::new();
        for chunk in block.body.split("\n\n") {
            let mut event = None;
            let mut id = None;
            let mut data: Vec<&str> = Vec::new();
            for line in chunk.lines() {
                if line.is_empty() || line.starts_with(':') {
                    continue;
                }
                let (field, value) = line.split_once(':').unwrap_or((line, ""));
                let value = value.strip_prefix(' ').unwrap_or(value);
                match field {
                    "event" => event = Some(value.to_string()),
                    "id" => {
                        id = Some(
                            value
                                .parse::<u64>()
                                .map_err(|_| format!("id {value:?} is not a number"))?,
                        )
                    }
                    "data" => data.push(value),
                    other => return Err(format!("unexpected SSE field {other:?}")),
                }
            }
            if event.is_none() && id.is_none() && data.is_empty() {
                continue;
            }
            let (Some(event), Some(id)) = (event, id) else {
                return Err(format!("a frame lacks event: or id: ({chunk:?})"));
            };
            ensure(!data.is_empty(), || format!("frame {id} has no data"))?;
            frames.push(SseFrame {
                event,
                id,
                data: data.join("\n"),
            });
        }
        ensure(
            frames.first().is_some_and(|f| f.event == "snapshot"),
            || "the first event of a stream is a snapshot".into(),
        )?;
        for pair in frames.windows(2) {
            ensure(pair[0].id < pair[1].id, || {
                format!(
                    "ids must strictly increase: {} then {}",
                    pair[0].id, pair[1].id
                )
            })?;
        }
        for frame in frames {
            self.later.push(Later::Sse(block.line, frame));
        }
        Ok(())
    }

    /// A `text handoff-text` block: a run of whole lines of the last
    /// handoff example written as plain text.
    fn handoff_text(&self, block: &Block) -> Result<(), String> {
        let summary = self
            .handoff
            .as_ref()
            .ok_or("no ```json handoff example above it")?;
        let text = agentdeck::handoff::to_text(summary);
        ensure(
            format!("\n{text}").contains(&format!("\n{}\n", block.body)),
            || format!("not a run of lines of the example above as text, which is:\n{text}"),
        )
    }

    fn signature(&mut self, block: &Block) -> Result<(), String> {
        let mut fields = BTreeMap::new();
        for line in block.body.lines() {
            let (key, value) = line
                .split_once(':')
                .ok_or_else(|| format!("line {line:?} is not key: value"))?;
            fields.insert(key.trim(), value.trim());
        }
        let get = |k: &str| {
            fields
                .get(k)
                .copied()
                .ok_or_else(|| format!("no {k:?} line"))
        };
        let (secret, t, body) = (get("secret")?, get("t")?, get("body")?);
        let header = get("Agentdeck-Signature")?;
        let t_s: i64 = t.parse().map_err(|_| format!("t {t:?} is not a number"))?;
        // What the hub sends …
        same(
            "the header, as the hub signs it",
            &header.to_string(),
            &callbacks::sign(secret, t_s, body),
        )?;
        callbacks::verify(header, secret, body, t_s).map_err(|e| e.to_string())?;
        // … is what the recipe in the document computes.
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
            .map_err(|e| format!("bad key: {e}"))?;
        mac.update(format!("{t}.{body}").as_bytes());
        let v1 = hex::encode(mac.finalize().into_bytes());
        same(
            "the header, by the recipe",
            &header.to_string(),
            &format!("t={t},v1={v1}"),
        )?;
        let value: Value = parse(body)?;
        same(
            "the body, as the hub writes it",
            &body.to_string(),
            &value.to_string(),
        )?;
        self.later.push(Later::CallbackBody(block.line, value));
        Ok(())
    }

    /// Checks that refer to several blocks.
    fn cross_check(&mut self) {
        for later in std::mem::take(&mut self.later) {
            let (line, result) = match later {
                Later::Toml(line, spec) => (
                    line,
                    match self.specs.get(&spec.name) {
                        Some(json) => same("the TOML spec, against the JSON one", &spec, json),
                        None => Err(format!("no ```json slo-spec example named {:?}", spec.name)),
                    },
                ),
                Later::Sse(line, frame) => (
                    line,
                    self.sse_frame(&frame)
                        .map_err(|e| format!("id {}: {e}", frame.id)),
                ),
                Later::CallbackBody(line, body) => (
                    line,
                    ensure(self.callbacks.contains(&body), || {
                        "the signed body is none of the ```json callback examples".into()
                    }),
                ),
                Later::Approval(line, body) => (line, self.approval_callback(&body)),
                Later::Etag(line, etag) => (
                    line,
                    ensure(self.etags.contains(&etag), || {
                        format!(
                            "{etag} is not the ETag of any agent-controls example ({:?})",
                            self.etags
                        )
                    }),
                ),
                Later::Canonical(line, text) => (
                    line,
                    ensure(
                        self.audit_hashes.contains(&(
                            "0".repeat(64),
                            sha256_hex(format!("{}\n{text}", "0".repeat(64)).as_bytes()),
                        )),
                        || {
                            "its hash (after 64 zeros and a newline) is no first entry's hash"
                                .into()
                        },
                    ),
                ),
            };
            if let Err(e) = result {
                self.errors.push(format!("line {line}: {e}"));
            }
        }
    }

    fn approval_callback(&self, body: &Value) -> Result<(), String> {
        let id = body["approval"].as_str().unwrap_or_default();
        let closed: Vec<&Approval> = self
            .approvals
            .iter()
            .filter(|a| a.id == id && !a.state.is_open())
            .collect();
        ensure(!closed.is_empty(), || {
            format!("no closed approval {id} among the examples")
        })?;
        ensure(closed.iter().any(|a| approval_callback(a) == *body), || {
            format!(
                "the approval callback is not what the hub sends for {id}: {}",
                approval_callback(closed[0])
            )
        })
    }

    fn sse_frame(&self, frame: &SseFrame) -> Result<(), String> {
        if frame.event == "snapshot" {
            if frame.data.contains('…') {
                return ensure(self.snapshot_seqs.contains(&frame.id), || {
                    "an abridged snapshot needs a ```json snapshot example with that seq".into()
                });
            }
            let snapshot: Snapshot = parse(&frame.data)?;
            check_snapshot(&snapshot)?;
            return same("the snapshot's seq", &snapshot.seq, &frame.id);
        }
        ensure(DELTA_EVENTS.contains(&frame.event.as_str()), || {
            format!("unknown event {:?}", frame.event)
        })?;
        let data: Value = parse(&frame.data)?;
        let value = serde_json::json!({ "event": frame.event, "data": data });
        serde_json::from_value::<Delta>(value.clone())
            .map_err(|e| format!("data does not parse as a {} delta: {e}", frame.event))?;
        ensure(self.deltas.contains(&value), || {
            "its data is none of the ```json delta examples".into()
        })
    }

    /// What the document lacks, if anything.
    fn coverage_problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        for kind in JSON_KINDS {
            if !self.kinds.contains_key(*kind) {
                problems.push(format!("no ```json {kind} example"));
            }
        }
        for (lang, kind) in OTHER_KINDS {
            if !self.kinds.contains_key(&format!("{lang} {kind}")) {
                problems.push(format!("no ```{lang} {kind} example"));
            }
        }
        for t in EVENT_TYPES {
            if !self.event_types.contains(t) {
                problems.push(format!("no envelope example of type {t}"));
            }
        }
        for e in DELTA_EVENTS {
            if !self.delta_events.contains(e) {
                problems.push(format!("no delta example of event {e}"));
            }
        }
        for v in DECODE_ERRORS {
            if !self.decode_errors.contains(v) {
                problems.push(format!("no invalid-envelope example refused with {v}"));
            }
        }
        if self.checked_messages < 10 {
            problems.push(format!(
                "only {} refused lines are followed by `> error: <message>`",
                self.checked_messages
            ));
        }
        if self.errors_with_needs == 0 {
            problems.push("no error example with `needs` (403)".into());
        }
        if self.errors_with_current == 0 {
            problems.push("no error example with `current` (409)".into());
        }
        if self.json_examples < MIN_JSON_EXAMPLES {
            problems.push(format!(
                "only {} ```json examples (at least {MIN_JSON_EXAMPLES} expected)",
                self.json_examples
            ));
        }
        problems
    }
}

fn check_url(url: &str) -> Result<(), String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("url: {e}"))?;
    ensure(
        matches!(parsed.scheme(), "http" | "https") && parsed.host_str().is_some(),
        || "the url is http or https with a host".into(),
    )
}

fn check_audit(entries: &[AuditEntry]) -> Result<(), String> {
    for e in entries {
        ensure(e.seq >= 1, || "seq counts from 1".into())?;
        if e.seq == 1 {
            same(
                "prev_hash of the first entry",
                &e.prev_hash,
                &"0".repeat(64),
            )?;
        }
        same(
            &format!("hash of audit entry {}", e.seq),
            &e.hash,
            &entry_hash(e, &e.prev_hash),
        )?;
        ensure(e.details.is_object(), || "details is an object".into())?;
    }
    for pair in entries.windows(2) {
        same("seq after seq", &pair[1].seq, &(pair[0].seq + 1))?;
        same(
            "prev_hash (the hash before it)",
            &pair[1].prev_hash,
            &pair[0].hash,
        )?;
        ensure(pair[0].ts <= pair[1].ts, || {
            "entries are in time order".into()
        })?;
    }
    Ok(())
}

fn check_spec(spec: &SloSpec) -> Result<(), String> {
    // The hub's own checks live in the TOML loader: feed the spec through it.
    #[derive(Serialize)]
    struct File<'a> {
        slo: [&'a SloSpec; 1],
    }
    let toml = toml::to_string(&File { slo: [spec] }).map_err(|e| e.to_string())?;
    let specs = parse_specs("docs/protocol.md", &toml).map_err(|e| e.to_string())?;
    same(
        "the spec after the TOML loader",
        &specs.first(),
        &Some(spec),
    )
}

fn level(b: &BurnRates) -> AlertLevel {
    let rule = |long: f64, short: f64, threshold: f64| long > threshold && short > threshold;
    if rule(b.h1, b.m5, burn::PAGE_FAST) || rule(b.h6, b.m30, burn::PAGE_SLOW) {
        AlertLevel::Page
    } else if rule(b.d1, b.h2, burn::TICKET_FAST) || rule(b.d3, b.h6, burn::TICKET_SLOW) {
        AlertLevel::Ticket
    } else {
        AlertLevel::None
    }
}

/// Recomputes what an SLO status can be recomputed from: its per-minute
/// counts and its window totals.
fn check_status(s: &SloStatus) -> Result<(), String> {
    same("bad_per_min.len()", &s.bad_per_min.len(), &60)?;
    same("total_per_min.len()", &s.total_per_min.len(), &60)?;
    let last = |n: usize| {
        let bad: u64 = s.bad_per_min[60 - n..].iter().map(|&b| u64::from(b)).sum();
        let total: u64 = s.total_per_min[60 - n..]
            .iter()
            .map(|&t| u64::from(t))
            .sum();
        Counts {
            good: total.saturating_sub(bad),
            total,
        }
    };
    for (b, t) in s.bad_per_min.iter().zip(&s.total_per_min) {
        ensure(b <= t, || format!("a minute with {b} bad of {t}"))?;
    }
    for (name, got, n) in [
        ("m5", s.burn.m5, 5),
        ("m30", s.burn.m30, 30),
        ("h1", s.burn.h1, 60),
    ] {
        let want = burn::burn_rate(last(n), s.objective);
        ensure(close(got, want), || {
            format!("burn.{name} is {got}, the last {n} minutes give {want}")
        })?;
    }
    let h1 = last(60);
    same("runs_1h", &s.runs_1h, &h1.total)?;
    match (s.ratio_1h, h1.ratio()) {
        (Some(a), Some(b)) if close(a, b) => {}
        (None, None) => {}
        (a, b) => {
            return Err(format!(
                "ratio_1h is {a:?}, the per-minute counts give {b:?}"
            ));
        }
    }
    let window = Counts {
        good: s.good,
        total: s.total,
    };
    match (s.ratio, window.ratio()) {
        (Some(a), Some(b)) if close(a, b) => {}
        (None, None) => {}
        (a, b) => return Err(format!("ratio is {a:?}, good / total gives {b:?}")),
    }
    let remaining = burn::budget_remaining(window, s.objective);
    ensure(close(s.budget_remaining, remaining), || {
        format!(
            "budget_remaining is {}, good and total give {remaining}",
            s.budget_remaining
        )
    })?;
    let exhaustion = burn::exhaustion_s(
        s.budget_remaining,
        s.burn.h1,
        u64::from(s.window_days) * 86_400,
    );
    same("exhaustion_s", &s.exhaustion_s, &exhaustion)?;
    if s.runs_1h >= DEFAULT_MIN_EVENTS {
        same("alert, from the burn rates", &s.alert, &level(&s.burn))?;
    }
    same(
        "series",
        &s.series,
        &format!("{}/{}/{}", s.slo, s.agent, s.workflow),
    )
}

fn timeline_arg<'a>(text: &'a str, prefix: &str, kind: &str) -> Result<&'a str, String> {
    text.strip_prefix(prefix)
        .ok_or_else(|| format!("a {kind} timeline entry reads {text:?}, not {prefix}…"))
}

/// Replays an incident's timeline through the incident state machine and
/// compares the result with the incident as documented.
fn check_incident(doc: &Incident) -> Result<(), String> {
    let (first, rest) = doc
        .timeline
        .split_first()
        .ok_or("an incident has at least its opening in the timeline")?;
    same("the first timeline entry", &first.kind.as_str(), &"opened")?;
    let opened = timeline_arg(&first.text, "opened as ", "opened")?;
    let (severity, title) = opened
        .split_once(": ")
        .ok_or("the opening entry reads `opened as SEVn: title`")?;
    let severity = Severity::parse(severity).ok_or("bad severity in the opening entry")?;
    let mut replay = Incident::open(
        NewIncident {
            id: doc.id.clone(),
            title: title.to_string(),
            severity,
            category: doc.category,
            source: doc.source,
            agent: doc.agent.clone(),
            slo: doc.slo.clone(),
        },
        &first.actor,
        first.at,
    );
    for entry in rest {
        let (actor, at, text) = (entry.actor.as_str(), entry.at, entry.text.as_str());
        let step = match entry.kind.as_str() {
            "acknowledged" => replay.acknowledge(actor, at),
            "assigned" => {
                let owner = timeline_arg(text, "assigned to ", "assigned")?;
                replay.assign(actor, owner, at)
            }
            "severity" => {
                let to = text.rsplit(' ').next().and_then(Severity::parse);
                let to = to.ok_or_else(|| format!("cannot read the new severity in {text:?}"))?;
                replay.escalate(actor, to, at)
            }
            "note" => {
                replay.note(actor, text, at);
                Ok(())
            }
            "contained" => {
                let control = timeline_arg(text, "control ", "contained")?;
                let control = control.strip_suffix(" applied").unwrap_or(control);
                replay.contain(actor, control, at)
            }
            "resolved" => {
                let summary = timeline_arg(text, "resolved: ", "resolved")?;
                replay.resolve(actor, summary, at)
            }
            other => return Err(format!("unknown timeline kind {other:?}")),
        };
        step.map_err(|e| format!("the timeline replays to an error: {e}"))?;
    }
    // The owner may have been set by an acknowledgement or an assignment,
    // both replayed; everything else follows from the timeline.
    // Runbook steps are not replayed: each must have left its note.
    for step in &doc.steps {
        let prefix = format!("runbook {} step {} (", step.runbook, step.step);
        let suffix = format!("): {}", step.result);
        ensure(
            doc.timeline.iter().any(|e| {
                e.kind == "note"
                    && e.actor == step.by
                    && e.at == step.at
                    && e.text.starts_with(&prefix)
                    && e.text.ends_with(&suffix)
            }),
            || {
                format!(
                    "no timeline note `{prefix}…{suffix}` by {} at {}",
                    step.by, step.at
                )
            },
        )?;
        if let Some(c) = &step.control {
            ensure(doc.controls.contains(c), || {
                format!("step control {c} is not in controls")
            })?;
        }
    }
    replay.steps = doc.steps.clone();
    // The runbook's name depends on the runbooks the hub loaded.
    replay.runbook = doc.runbook.clone();
    same_fields("the incident, replayed from its timeline,", doc, &replay)
}

/// Replays an approval's decisions through the approval state machine and
/// compares the result with the approval as documented.
fn check_approval(doc: &Approval) -> Result<(), String> {
    let request = ApprovalRequest {
        request_id: doc.request_id.clone(),
        run_id: doc.run_id.clone(),
        workflow: doc.workflow.clone(),
        action: doc.action.clone(),
        tool: doc.tool.clone(),
        args: doc.args.clone(),
        risk: doc.risk,
        deadline: doc.deadline,
        escalate_at: doc.escalate_at,
        reason: doc.reason.clone(),
        context: doc.context.clone(),
        reject_options: doc.reject_options.clone(),
    };
    ensure(doc.requested_at < doc.deadline, || {
        "deadline is not after requested_at".into()
    })?;
    let mut replay = Approval::from_request(
        doc.id.clone(),
        &doc.agent,
        &request,
        doc.requested_at,
        doc.approvals_required,
    );
    for decision in &doc.decisions {
        replay.escalate_if_due(decision.at);
        ensure(!replay.expire_if_due(decision.at), || {
            format!("a decision at {} comes after the deadline", decision.at)
        })?;
        replay
            .decide(decision.clone())
            .map_err(|e| format!("a decision replays to an error: {e}"))?;
    }
    match doc.state {
        ApprovalState::Escalated => {
            replay.escalate_if_due(doc.escalate_at.unwrap_or(doc.deadline));
        }
        ApprovalState::Expired => {
            replay.expire_if_due(doc.deadline);
        }
        _ => {}
    }
    same_fields("the approval, replayed from its decisions,", doc, &replay)
}

fn check_control(c: &Control) -> Result<(), String> {
    // A control must be something a valid request could have set.
    let ttl_s = match c.expires_at {
        Some(at) => Some(
            u64::try_from((at - c.set_at).num_seconds())
                .map_err(|_| "expires_at is before set_at".to_string())?,
        ),
        None => None,
    };
    let request = ControlRequest {
        agent: c.agent.clone(),
        kind: c.kind,
        tool: c.tool.clone(),
        version: c.version.clone(),
        reason: c.reason.clone(),
        ttl_s,
        incident: c.incident.clone(),
    };
    request
        .validate()
        .map_err(|e| format!("no valid control request sets this control: {e}"))?;
    match c.state {
        ControlState::Active => ensure(c.lifted_by.is_none() && c.ended_at.is_none(), || {
            "an active control has no lifted_by or ended_at".into()
        }),
        ControlState::Lifted => ensure(c.lifted_by.is_some() && c.ended_at.is_some(), || {
            "a lifted control has lifted_by and ended_at".into()
        }),
        ControlState::Expired => same("ended_at of an expired control", &c.ended_at, &c.expires_at),
    }?;
    if c.kind == ControlKind::PauseAgent || c.agent != "*" {
        Ok(())
    } else {
        Err("only pause_agent binds the whole fleet".into())
    }
}

fn check_snapshot(s: &Snapshot) -> Result<(), String> {
    s.slos.iter().try_for_each(check_status)?;
    for i in &s.incidents {
        check_incident(i)?;
        ensure(i.state != IncidentState::Resolved, || {
            format!("{} is resolved, and a snapshot holds open incidents", i.id)
        })?;
    }
    for a in &s.approvals {
        check_approval(a)?;
        ensure(a.state.is_open(), || {
            format!("{} is closed, and a snapshot holds open approvals", a.id)
        })?;
    }
    for c in &s.controls {
        check_control(c)?;
        same(
            "state of a control in a snapshot",
            &c.state,
            &ControlState::Active,
        )?;
    }
    for spec in &s.specs {
        check_spec(spec)?;
    }
    for status in &s.slos {
        ensure(s.specs.iter().any(|spec| spec.name == status.slo), || {
            format!("status of {} without its spec", status.series)
        })?;
    }
    check_audit(&s.audit)?;
    let latest = |t: Option<DateTime<Utc>>| t.is_none_or(|t| t <= s.at);
    ensure(
        s.audit.iter().all(|e| latest(Some(e.ts))) && s.agents.iter().all(|a| latest(a.last_seen)),
        || "the snapshot holds something from after its `at`".into(),
    )
}

/// The shape of an OTLP/JSON ExportTraceServiceResponse.
fn check_otlp_response(v: &Value) -> Result<(), String> {
    let obj = v.as_object().ok_or("the answer is an object")?;
    ensure(obj.keys().all(|k| k == "partialSuccess"), || {
        "the answer holds partialSuccess only".into()
    })?;
    if let Some(partial) = obj.get("partialSuccess") {
        partial["rejectedSpans"]
            .as_str()
            .filter(|s| s.parse::<u64>().is_ok())
            .ok_or("rejectedSpans is an int64 as a decimal string")?;
        partial["errorMessage"]
            .as_str()
            .ok_or("errorMessage is a string")?;
    }
    Ok(())
}
fn report(doc: &str) -> Report {
    let mut report = Report::default();
    report.check(doc);
    report
}

#[test]
fn every_example_in_the_protocol_document_decodes() {
    let report = report(DOC);
    assert!(
        report.errors.is_empty(),
        "docs/protocol.md has examples that do not match the code:\n  {}",
        report.errors.join("\n  ")
    );
    let problems = report.coverage_problems();
    assert!(
        problems.is_empty(),
        "docs/protocol.md lacks examples:\n  {}",
        problems.join("\n  ")
    );
}

#[test]
fn a_json_block_without_a_kind_fails() {
    let r = report("```json\n{\"accepted\":0,\"rejected\":[]}\n```\n");
    assert!(r.errors[0].contains("needs a kind"), "{:?}", r.errors);
}

#[test]
fn a_block_of_an_unknown_kind_fails() {
    let r = report("```json envelop\n{}\n```\n");
    assert!(
        r.errors[0].contains("unknown kind \"envelop\""),
        "{:?}",
        r.errors
    );
    let r = report("```text sse-ish\nevent: x\n```\n");
    assert!(r.errors[0].contains("unknown kind"), "{:?}", r.errors);
    let r = report("```toml\nx = 1\n```\n");
    assert!(r.errors[0].contains("needs a kind"), "{:?}", r.errors);
}

#[test]
fn an_example_that_does_not_parse_fails() {
    let r = report("```json incident\n{\"id\":\"INC-1\",\n```\n");
    assert!(r.errors[0].contains("does not parse"), "{:?}", r.errors);
    let r = report("```json envelope\n{\"v\":1,\"type\":\"heartbeat\",\"agent\":\"a\"}\n```\n");
    assert!(
        r.errors[0].contains("missing field \"ts\""),
        "{:?}",
        r.errors
    );
    let r = report("```json assign-request\n{\"owner\":\" \"}\n```\n");
    assert!(r.errors[0].contains("validate() refuses"), "{:?}", r.errors);
    let r = report("```json incident\n{}\n```\n\n```json\n");
    assert!(r.errors[0].contains("never closed"), "{:?}", r.errors);
}

#[test]
fn a_refused_line_must_be_refused_with_the_documented_message() {
    let line = r#"{"v":1,"type":"heartbeat","ts":"2026-11-21T03:12:00Z","agent":"refund-bot"}"#;
    let r = report(&format!("```json invalid-envelope\n{line}\n```\n"));
    assert!(r.errors[0].contains("should be refused"), "{:?}", r.errors);
    let bad = line.replace("heartbeat", "heartbeet");
    let r = report(&format!(
        "```json invalid-envelope\n{bad}\n```\n> error: unknown field \"heartbeet\"\n"
    ));
    assert!(r.errors[0].contains("the error message"), "{:?}", r.errors);
}

#[test]
fn a_batch_must_be_followed_by_its_exact_answer() {
    let good = r#"{"v":1,"type":"heartbeat","ts":"2026-11-21T03:12:00Z","agent":"refund-bot"}"#;
    let batch = format!("```json ndjson-batch\n{good}\n{{}}\n```\n");
    let r = report(&format!(
        "{batch}\n```json ingest-response\n{{\"accepted\":2,\"rejected\":[]}}\n```\n"
    ));
    assert!(
        r.errors[0].contains("the answer to the batch"),
        "{:?}",
        r.errors
    );
    let r = report(&batch);
    assert!(
        r.errors[0].contains("followed by its ingest-response"),
        "{:?}",
        r.errors
    );
}

#[test]
fn a_document_with_too_few_examples_fails() {
    let line = r#"{"v":1,"type":"heartbeat","ts":"2026-11-21T03:12:00Z","agent":"refund-bot"}"#;
    let r = report(&format!("```json envelope\n{line}\n```\n"));
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    let problems = r.coverage_problems();
    assert!(
        problems.iter().any(|p| p.contains("type run.finished")),
        "{problems:?}"
    );
    assert!(problems.iter().any(|p| p.contains("```json snapshot")));
    assert!(problems.iter().any(|p| p.contains("refused with TooMany")));
}

/// A handoff example must be consistent with its own definitions (§7.14).
fn check_handoff(h: &agentdeck::handoff::Handoff) -> Result<(), String> {
    ensure(h.from < h.to, || "from is not before to".into())?;
    let i = &h.incidents;
    for line in &i.opened {
        ensure(h.from <= line.opened_at && line.opened_at < h.to, || {
            format!(
                "{} is listed as opened but opened outside the window",
                line.id
            )
        })?;
    }
    for line in &i.resolved {
        ensure(
            line.resolved_at.is_some_and(|t| h.from <= t && t < h.to),
            || {
                format!(
                    "{} is listed as resolved but not resolved in the window",
                    line.id
                )
            },
        )?;
    }
    let resolve: Vec<f64> = i
        .resolved
        .iter()
        .filter_map(|l| {
            l.resolved_at
                .map(|r| (r - l.opened_at).num_seconds() as f64)
        })
        .collect();
    if !resolve.is_empty() {
        same(
            "mttr_s",
            &i.mttr_s,
            &Some(resolve.iter().sum::<f64>() / resolve.len() as f64),
        )?;
    }
    for note in &i.notes {
        ensure(h.from <= note.at && note.at < h.to, || {
            format!(
                "the note on {} was written outside the window",
                note.incident
            )
        })?;
    }
    let a = &h.approvals;
    same(
        "approved + rejected",
        &(a.approved + a.rejected),
        &a.decided.len(),
    )?;
    same("rejections", &a.rejections.len(), &a.rejected)?;
    for r in &a.rejections {
        let decided = a.decided.iter().find(|d| d.id == r.approval);
        ensure(
            decided.is_some_and(|d| {
                d.state == ApprovalState::Rejected
                    && d.closed_at == Some(r.at)
                    && d.decided_by.last() == Some(&r.by)
            }),
            || {
                format!(
                    "{} is no rejected approval of decided closed by its rejection",
                    r.approval
                )
            },
        )?;
        ensure(
            r.reason.as_deref().is_some_and(|x| !x.trim().is_empty()),
            || format!("the rejection of {} gives no reason", r.approval),
        )?;
    }
    let mut latencies: Vec<f64> = a.decided.iter().filter_map(|l| l.latency_s).collect();
    latencies.sort_by(f64::total_cmp);
    same(
        "latency_p50_s",
        &a.latency_p50_s,
        &agentdeck::handoff::nearest_rank(&latencies, 50.0),
    )?;
    same(
        "latency_p95_s",
        &a.latency_p95_s,
        &agentdeck::handoff::nearest_rank(&latencies, 95.0),
    )
}

/// A `GET /v1/runbooks` answer: each runbook's body, parsed again behind
/// its own front matter, gives its title and steps (lines aside, which
/// depend on the front matter's length in the file).
fn check_runbooks(list: &agentdeck::runbook::RunbookList) -> Result<(), String> {
    ensure(!list.runbooks.is_empty(), || "no runbooks".into())?;
    for r in &list.runbooks {
        let file = format!(
            "+++\ncategories = {:?}\nagents = {:?}\nowner = {:?}\nversion = {:?}\n+++\n{}",
            r.categories, r.agents, r.owner, r.version, r.body
        );
        let parsed = agentdeck::runbook::parse("doc", &r.name, &file).map_err(|e| {
            e.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")
        })?;
        same("the title", &parsed.title, &r.title)?;
        let strip = |steps: &[agentdeck::model::runbook::RunbookStep]| {
            steps
                .iter()
                .map(|s| (s.index, s.text.clone(), s.action.clone()))
                .collect::<Vec<_>>()
        };
        same("the steps", &strip(&parsed.steps), &strip(&r.steps))?;
    }
    Ok(())
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct AgentList {
    agents: Vec<Agent>,
}

fn ratio_is(what: &str, got: Option<f64>, num: u64, den: u64) -> Result<(), String> {
    let want = (den > 0).then(|| num as f64 / den as f64);
    match (got, want) {
        (None, None) => Ok(()),
        (Some(g), Some(w)) if (g - w).abs() < 1e-9 => Ok(()),
        _ => Err(format!("{what} is {got:?}, but {num}/{den} gives {want:?}")),
    }
}

/// An agent's findings are what its registration, tools and sightings say.
fn check_agent(a: &Agent) -> Result<(), String> {
    let want =
        agentdeck::model::profile::findings(a.profile.as_ref(), &a.tools, a.last_seen.is_some());
    same_debug("findings", &a.findings, &want)?;
    ensure(a.registered == a.profile.is_some(), || {
        "`registered` is true exactly when there is a profile".into()
    })
}

fn same_debug<T: std::fmt::Debug + PartialEq>(what: &str, got: &T, want: &T) -> Result<(), String> {
    ensure(got == want, || {
        format!("{what}: {got:?}, expected {want:?}")
    })
}

fn check_performance(p: &drill::Performance) -> Result<(), String> {
    let names: Vec<&str> = p.windows.iter().map(|w| w.window.as_str()).collect();
    same_debug("windows", &names, &vec!["hour", "day", "week"])?;
    for w in &p.windows {
        ratio_is("success_ratio", w.success_ratio, w.success, w.runs)?;
        ensure(w.success + w.escalated + w.failed == w.runs, || {
            format!("{}: outcomes do not add up to runs", w.window)
        })?;
        ensure(w.since <= p.at, || "`since` after `at`".into())?;
        ensure(w.p50_ms <= w.p95_ms && w.p95_ms <= w.p99_ms, || {
            "percentiles out of order".into()
        })?;
    }
    let c = &p.cost;
    let per = |cost: f64, runs: u64| (runs > 0).then(|| cost / runs as f64);
    let near = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => (a - b).abs() < 1e-9,
        _ => false,
    };
    ensure(
        near(c.today_per_run_usd, per(c.today_cost_usd, c.today_runs))
            && near(
                c.last_week_per_run_usd,
                per(c.last_week_cost_usd, c.last_week_runs),
            )
            && near(
                c.ratio,
                c.today_per_run_usd
                    .zip(c.last_week_per_run_usd)
                    .map(|(t, w)| t / w),
            ),
        || "cost per run and ratio do not follow from the totals".into(),
    )
}

fn check_top_runs(t: &drill::TopRuns) -> Result<(), String> {
    ensure(t.runs.len() <= 20, || "more than 20 runs".into())?;
    let key = |r: &drill::RunSample| {
        if t.by == "cost" {
            r.cost_usd
        } else {
            r.latency_ms as f64
        }
    };
    ensure(matches!(t.by.as_str(), "latency" | "cost"), || {
        "`by` is latency or cost".into()
    })?;
    ensure(t.runs.windows(2).all(|w| key(&w[0]) >= key(&w[1])), || {
        "runs are not largest first".into()
    })?;
    for r in &t.runs {
        if let Some(d) = &r.dominant {
            let share = d.latency_ms as f64 / r.latency_ms as f64;
            ensure((d.share - share.min(1.0)).abs() < 1e-9, || {
                format!("{}: dominant share {} is not {share}", r.run_id, d.share)
            })?;
        }
    }
    Ok(())
}

fn check_tools(t: &drill::ToolRates) -> Result<(), String> {
    for tool in &t.tools {
        ratio_is(
            "hour.error_rate",
            tool.hour.error_rate,
            tool.hour.errors,
            tool.hour.calls,
        )?;
        ratio_is(
            "day.error_rate",
            tool.day.error_rate,
            tool.day.errors,
            tool.day.calls,
        )?;
    }
    ensure(
        t.tools
            .windows(2)
            .all(|w| w[0].day.error_rate.unwrap_or(0.0) >= w[1].day.error_rate.unwrap_or(0.0)),
        || "tools are not worst first".into(),
    )
}

fn check_approval_metrics(m: &drill::ApprovalMetrics) -> Result<(), String> {
    for c in &m.classes {
        ensure(
            c.open + c.approved + c.rejected + c.expired == c.requests,
            || format!("{}: outcomes do not add up to requests", c.action),
        )?;
        ratio_is(
            "timeout_rate",
            c.timeout_rate,
            c.expired,
            c.approved + c.rejected + c.expired,
        )?;
        ratio_is(
            "rejection_rate",
            c.rejection_rate,
            c.rejected,
            c.approved + c.rejected,
        )?;
        ratio_is(
            "callback_success_rate",
            c.callback_success_rate,
            c.callbacks_delivered,
            c.callbacks_delivered + c.callbacks_failed,
        )?;
    }
    Ok(())
}

fn check_changes(c: &drill::Changes) -> Result<(), String> {
    ensure(c.changes.windows(2).all(|w| w[0].at >= w[1].at), || {
        "changes are not newest first".into()
    })?;
    for ch in &c.changes {
        for side in [ch.before, ch.after].into_iter().flatten() {
            ratio_is("success_ratio", side.success_ratio, side.success, side.runs)?;
        }
    }
    Ok(())
}
