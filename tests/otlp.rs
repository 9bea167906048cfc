//! OTLP/JSON trace ingest (`agentdeck::ingest::otlp`), checked against real
//! exporter output in `tests/fixtures/otlp` (sources and licences in its
//! README), against synthetic GenAI traces written here as JSON text, and
//! over HTTP on a real hub.
//!
//! The sample files' times are years old, beyond what the hub accepts, so
//! they go through `map_export` directly; the HTTP tests build traces
//! stamped near now.

mod support;

use std::path::PathBuf;

use agentdeck::ingest::otlp::{Mapped, map_export, to_agent_id};
use agentdeck::model::envelope::{
    DEFAULT_WORKFLOW, Envelope, Event, Outcome, RunFinished, Tokens, ToolCall, ToolCallEvent,
    ToolStatus, Versions,
};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

// ---------------------------------------------------------------- helpers

const MS: u64 = 1_000_000;

fn fixture_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/otlp")
        .join(name)
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(fixture_path(name)).unwrap_or_else(|e| panic!("reading fixture {name}: {e}"))
}

fn at(nanos: u64) -> DateTime<Utc> {
    DateTime::from_timestamp_nanos(i64::try_from(nanos).unwrap())
}

fn map(body: &str) -> Mapped {
    map_export(body.as_bytes()).unwrap_or_else(|e| panic!("{e}\nbody: {body}"))
}

/// Maps, and checks every envelope survives the hub's journal: encoded as
/// a line and decoded again with every check of the protocol.
fn map_checked(body: &[u8]) -> Mapped {
    let m = map_export(body).unwrap();
    for env in &m.envelopes {
        let line = env.to_line();
        let back = Envelope::decode(&line)
            .unwrap_or_else(|e| panic!("mapped envelope does not decode: {e}\n{line}"));
        assert_eq!(&back, env, "envelope changed through its line");
    }
    m
}

fn run(env: &Envelope) -> &RunFinished {
    match &env.event {
        Event::RunFinished(r) => r,
        other => panic!("expected run.finished, got {other:?}"),
    }
}

fn runs(m: &Mapped) -> Vec<&RunFinished> {
    m.envelopes.iter().map(run).collect()
}

fn tool(name: &str, status: ToolStatus, latency_ms: u64, error: Option<&str>) -> ToolCall {
    ToolCall {
        tool: name.into(),
        status,
        latency_ms: Some(latency_ms),
        error: error.map(str::to_string),
    }
}

/// A string attribute.
fn s(key: &str, value: &str) -> String {
    json!({"key": key, "value": {"stringValue": value}}).to_string()
}

/// An int attribute as the OTLP JSON mapping writes it: a decimal string.
fn i(key: &str, value: u64) -> String {
    format!(r#"{{"key":"{key}","value":{{"intValue":"{value}"}}}}"#)
}

/// An int attribute as a JSON number, as some writers send it.
fn n(key: &str, value: u64) -> String {
    format!(r#"{{"key":"{key}","value":{{"intValue":{value}}}}}"#)
}

/// A double attribute.
fn d(key: &str, value: f64) -> String {
    format!(r#"{{"key":"{key}","value":{{"doubleValue":{value}}}}}"#)
}

/// One span, written out as JSON text with fields no reader here knows.
#[derive(Clone)]
struct Sp {
    trace: String,
    id: String,
    parent: String,
    name: String,
    start: String,
    end: String,
    attrs: Vec<String>,
    status: String,
}

impl Sp {
    /// A span with its times as decimal strings (the OTLP JSON mapping).
    fn new(id: &str, parent: &str, name: &str, start: u64, end: u64) -> Self {
        Self {
            trace: TRACE.into(),
            id: id.into(),
            parent: format!("{parent:?}"),
            name: name.into(),
            start: format!("\"{start}\""),
            end: format!("\"{end}\""),
            attrs: Vec::new(),
            status: "{}".into(),
        }
    }

    fn attr(mut self, a: String) -> Self {
        self.attrs.push(a);
        self
    }

    fn status(mut self, status: &str) -> Self {
        self.status = status.into();
        self
    }

    fn trace(mut self, trace: &str) -> Self {
        self.trace = trace.into();
        self
    }

    /// Times as JSON numbers rather than strings.
    fn numeric_times(mut self) -> Self {
        self.start = self.start.trim_matches('"').into();
        self.end = self.end.trim_matches('"').into();
        self
    }

    /// Raw JSON for the start and end fields (`None`: field left out).
    fn times(mut self, start: Option<&str>, end: Option<&str>) -> Self {
        self.start = start.unwrap_or("").into();
        self.end = end.unwrap_or("").into();
        self
    }

    fn text(&self) -> String {
        let time = |key: &str, v: &str| {
            if v.is_empty() {
                String::new()
            } else {
                format!(r#""{key}":{v},"#)
            }
        };
        format!(
            r#"{{"traceId":"{}","spanId":"{}","parentSpanId":{},"name":{:?},"kind":"SPAN_KIND_INTERNAL",{}{}"attributes":[{}],"droppedAttributesCount":0,"events":[{{"name":"e","timeUnixNano":"1"}}],"links":[],"flags":256,"traceState":"","status":{},"x-vendor":{{"nested":[1,{{"a":null}}]}}}}"#,
            self.trace,
            self.id,
            self.parent,
            self.name,
            time("startTimeUnixNano", &self.start),
            time("endTimeUnixNano", &self.end),
            self.attrs.join(","),
            self.status,
        )
    }
}

/// One resource of `service` with `spans`, with unknown fields around.
fn resource(service: &str, spans: &[Sp]) -> String {
    let spans: Vec<String> = spans.iter().map(Sp::text).collect();
    format!(
        r#"{{"resource":{{"attributes":[{},{}],"droppedAttributesCount":0}},"scopeSpans":[{{"scope":{{"name":"test.agent","version":"1.0.0","attributes":[]}},"spans":[{}],"schemaUrl":"https://opentelemetry.io/schemas/1.37.0"}}],"schemaUrl":""}}"#,
        s("service.name", service),
        s("telemetry.sdk.language", "python"),
        spans.join(",")
    )
}

fn request(service: &str, spans: &[Sp]) -> String {
    requests(&[resource(service, spans)])
}

fn requests(resources: &[String]) -> String {
    format!(
        r#"{{"resourceSpans":[{}],"x-unknown-top":{{"a":[1,2,3]}}}}"#,
        resources.join(",")
    )
}

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const AGENT: &str = "00f067aa0ba902b7";
const CHAT: &str = "3c1e2f9a7b5d4e60";
const TOOL1: &str = "8a4d0c6e2f1b3957";
const TOOL2: &str = "b7e3f10d5c2a9864";
/// A start time with nanoseconds that an f64 would lose.
const T0: u64 = 1_795_230_718_160_000_123;

/// A refund run: `invoke_agent` root (`"parentSpanId": ""`), a chat call
/// (times and one token count as JSON numbers), two tool calls, the second
/// failing. Sent children first, as a batching exporter does, and the
/// tools out of order.
fn agent_trace(t0: u64) -> Vec<Sp> {
    vec![
        Sp::new(
            TOOL2,
            AGENT,
            "execute_tool issue_refund",
            t0 + 1140 * MS,
            t0 + 1480 * MS,
        )
        .attr(s("gen_ai.operation.name", "execute_tool"))
        .attr(s("gen_ai.tool.name", "issue_refund"))
        .status(r#"{"code":2,"message":"422: amount_usd must be a number"}"#),
        Sp::new(CHAT, AGENT, "chat gpt-4o", t0 + 50 * MS, t0 + 890 * MS)
            .numeric_times()
            .attr(s("gen_ai.operation.name", "chat"))
            .attr(s("gen_ai.request.model", "gpt-4o"))
            .attr(s("gen_ai.response.model", "gpt-4o-2024-08-06"))
            .attr(d("gen_ai.request.temperature", 0.2))
            .attr(i("gen_ai.usage.input_tokens", 412))
            .attr(n("gen_ai.usage.output_tokens", 27)),
        Sp::new(
            TOOL1,
            AGENT,
            "execute_tool lookup_order",
            t0 + 920 * MS,
            t0 + 1040 * MS,
        )
        .attr(s("gen_ai.operation.name", "execute_tool"))
        .attr(s("gen_ai.tool.name", "lookup_order")),
        Sp::new(AGENT, "", "invoke_agent refund-bot", t0, t0 + 1840 * MS)
            .attr(s("gen_ai.operation.name", "invoke_agent"))
            .attr(s("gen_ai.agent.name", "refund-bot")),
    ]
}

/// What [`agent_trace`] maps to.
fn expected_run(t0: u64) -> Envelope {
    let mut env = Envelope::new(
        at(t0 + 1840 * MS),
        "refund-bot",
        Event::RunFinished(RunFinished {
            run_id: AGENT.into(),
            workflow: DEFAULT_WORKFLOW.into(),
            outcome: Outcome::Success,
            latency_ms: 1840,
            // gpt-4o-2024-08-06 is priced as gpt-4o: 2.50 and 10 USD per
            // million input and output tokens.
            cost_usd: (412.0 * 2.50 + 27.0 * 10.0) / 1e6,
            tokens: Some(Tokens {
                input: 412,
                output: 27,
            }),
            tool_calls: vec![
                tool("lookup_order", ToolStatus::Ok, 120, None),
                tool(
                    "issue_refund",
                    ToolStatus::Error,
                    340,
                    Some("422: amount_usd must be a number"),
                ),
            ],
            policy_violations: vec![],
            versions: Versions {
                model: Some("gpt-4o-2024-08-06".into()),
                ..Versions::default()
            },
            error: None,
            unpriced_model: None,
        }),
    );
    env.id = Some(format!("otlp:{AGENT}"));
    env
}

fn replace_attr(spans: &mut [Sp], id: &str, from: &str, to: &str) {
    let span = spans.iter_mut().find(|s| s.id == id).unwrap();
    for a in &mut span.attrs {
        *a = a.replace(from, to);
    }
}

// ------------------------------------------------------------ sample files

/// The fixtures are the byte-exact copies their README attributes.
#[test]
fn fixtures_match_the_sha256_in_their_readme() {
    let readme = String::from_utf8(fixture("README.md")).unwrap();
    let listed: Vec<(&str, &str)> = readme
        .lines()
        .filter_map(|l| l.split_once("  "))
        .filter(|(hash, _)| hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()))
        .collect();
    let mut files: Vec<String> = std::fs::read_dir(fixture_path(""))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|f| f.ends_with(".json") || f.ends_with(".jsonl"))
        .collect();
    files.sort();
    let mut named: Vec<String> = listed.iter().map(|(_, f)| f.to_string()).collect();
    named.sort();
    assert_eq!(files, named, "every sample file is listed in the README");
    for (hash, file) in listed {
        let got = hex::encode(Sha256::digest(fixture(file)));
        assert_eq!(got, hash, "{file} is not the attributed copy");
    }
}

/// The canonical example: parses (upper-case hex ids, integer `kind`, no
/// status) and, having no GenAI span, is ignored.
#[test]
fn proto_example_is_read_and_ignored() {
    let m = map_checked(&fixture("opentelemetry-proto_examples_trace.json"));
    assert_eq!(m.spans, 1);
    assert_eq!(m.ignored_spans, 1);
    assert_eq!(m.rejected_spans, 0);
    assert_eq!(m.duplicate_spans, 0);
    assert!(m.envelopes.is_empty());
    assert!(m.errors.is_empty(), "{:?}", m.errors);
}

/// Upper-case hex ids are the same ids as lower-case ones: the example's
/// span made an agent span joins a child that names it in lower case.
#[test]
fn proto_example_upper_case_ids_join_lower_case_parents() {
    let mut v: Value =
        serde_json::from_slice(&fixture("opentelemetry-proto_examples_trace.json")).unwrap();
    let spans = v["resourceSpans"][0]["scopeSpans"][0]["spans"]
        .as_array_mut()
        .unwrap();
    assert_eq!(spans[0]["spanId"], "EEE19B7EC3C1B174");
    spans[0]["attributes"]
        .as_array_mut()
        .unwrap()
        .push(json!({"key": "gen_ai.operation.name", "value": {"stringValue": "invoke_agent"}}));
    spans.push(json!({
        "traceId": "5b8efff798038103d269b633813fc60c",
        "spanId": "0000000000000001",
        "parentSpanId": "eee19b7ec3c1b174",
        "name": "chat",
        "startTimeUnixNano": "1544712660100000000",
        "endTimeUnixNano": "1544712660600000000",
        "attributes": [
            {"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}},
            {"key": "gen_ai.usage.input_tokens", "value": {"intValue": "10"}},
            {"key": "gen_ai.usage.output_tokens", "value": {"intValue": "5"}}
        ]
    }));
    let m = map_checked(&serde_json::to_vec(&v).unwrap());
    assert_eq!((m.spans, m.ignored_spans, m.rejected_spans), (2, 0, 0));
    assert_eq!(
        m.envelopes.len(),
        1,
        "one trace, one run: {:?}",
        m.envelopes
    );
    let env = &m.envelopes[0];
    assert_eq!(env.agent, "my.service", "no agent name: the service's");
    assert_eq!(
        env.ts,
        "2018-12-13T14:51:01Z".parse::<DateTime<Utc>>().unwrap()
    );
    assert_eq!(env.id.as_deref(), Some("otlp:eee19b7ec3c1b174"));
    let r = run(env);
    assert_eq!(r.run_id, "eee19b7ec3c1b174");
    assert_eq!(r.latency_ms, 1000);
    assert_eq!(
        r.tokens,
        Some(Tokens {
            input: 10,
            output: 5
        })
    );
}

/// First-party OpenTelemetry OpenAI instrumentation: one `chat` span, no
/// agent span, so one run of the service `capture`.
#[test]
fn openai_v2_sample_is_one_run_of_its_service() {
    let m = map_checked(&fixture("genai-interlingua_raw_openai-v2_in.json"));
    assert_eq!((m.spans, m.ignored_spans, m.rejected_spans), (1, 0, 0));
    assert!(m.errors.is_empty(), "{:?}", m.errors);
    let mut expected = Envelope::new(
        at(1_788_792_074_047_335_000),
        "capture",
        Event::RunFinished(RunFinished {
            // No agent span: the trace is the run.
            run_id: "053074667b1113278073667614bb3e19".into(),
            workflow: DEFAULT_WORKFLOW.into(),
            outcome: Outcome::Success,
            // 1788792074047335000 − 1788792074027616000 ns = 19.719 ms
            latency_ms: 20,
            // gpt-4o-mini-2024-07-18 as gpt-4o-mini: 0.15 and 0.60 USD.
            cost_usd: (412.0 * 0.15 + 27.0 * 0.60) / 1e6,
            tokens: Some(Tokens {
                input: 412,
                output: 27,
            }),
            tool_calls: vec![],
            policy_violations: vec![],
            versions: Versions {
                // gen_ai.response.model, over gen_ai.request.model "gpt-4o-mini"
                model: Some("gpt-4o-mini-2024-07-18".into()),
                ..Versions::default()
            },
            error: None,
            unpriced_model: None,
        }),
    );
    expected.id = Some("otlp:053074667b1113278073667614bb3e19".into());
    assert_eq!(m.envelopes, vec![expected]);
    assert_eq!(
        m.envelopes[0].ts.to_rfc3339(),
        "2026-09-07T14:41:14.047335+00:00"
    );
}

/// OpenInference vocabulary, enums as names, status OK: the same exchange
/// gives the same numbers.
#[test]
fn openinference_sample_gives_the_same_numbers() {
    let oi = map_checked(&fixture("genai-interlingua_openinference_in.json"));
    assert_eq!((oi.spans, oi.ignored_spans, oi.rejected_spans), (1, 0, 0));
    assert_eq!(oi.envelopes.len(), 1);
    let env = &oi.envelopes[0];
    assert_eq!(env.agent, "capture");
    assert_eq!(env.ts, at(1_788_787_518_993_675_000));
    let r = run(env);
    assert_eq!(r.run_id, "9ed94f9bdc36b397e11c51f77d49e01a");
    assert_eq!(r.outcome, Outcome::Success, "STATUS_CODE_OK is no error");
    // 1788787518993675000 − 1788787518970589000 ns = 23.086 ms
    assert_eq!(r.latency_ms, 23);
    assert_eq!(
        r.tokens,
        Some(Tokens {
            input: 412,
            output: 27
        })
    );
    assert_eq!(r.versions.model.as_deref(), Some("gpt-4o-mini-2024-07-18"));
    assert!(r.tool_calls.is_empty(), "a tool call requested is not made");

    let v2 = map_checked(&fixture("genai-interlingua_raw_openai-v2_in.json"));
    let v2 = run(&v2.envelopes[0]);
    assert_eq!(r.tokens, v2.tokens);
    assert_eq!(r.versions, v2.versions);
}

/// The export requests of a Collector file-exporter file, one per line,
/// fed in turn; only `resourceSpans` lines are traces.
fn tui_trace_lines() -> Vec<Vec<u8>> {
    let file = fixture("otel-tui_test_data.jsonl");
    let mut lines = 0;
    let mut kinds = std::collections::BTreeMap::new();
    let mut out = Vec::new();
    for line in file.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        lines += 1;
        let v: Value = serde_json::from_slice(line).unwrap();
        let obj = v.as_object().unwrap();
        for k in obj.keys() {
            *kinds.entry(k.clone()).or_insert(0) += 1;
        }
        if obj.contains_key("resourceSpans") {
            out.push(line.to_vec());
        }
    }
    assert_eq!(lines, 97);
    assert_eq!(
        kinds.into_iter().collect::<Vec<_>>(),
        vec![
            ("resourceLogs".to_string(), 16),
            ("resourceMetrics".to_string(), 40),
            ("resourceSpans".to_string(), 41)
        ]
    );
    out
}

/// Real OpenTelemetry Demo traffic: 547 spans in 141 traces, no GenAI
/// span, so everything is ignored and nothing rejected.
#[test]
fn collector_file_export_has_no_genai_and_is_ignored() {
    let lines = tui_trace_lines();
    assert_eq!(lines.len(), 41);
    let (mut spans, mut ignored) = (0, 0);
    let mut traces = std::collections::HashSet::new();
    for line in &lines {
        let m = map_checked(line);
        assert_eq!(m.rejected_spans, 0, "{:?}", m.errors);
        assert_eq!(m.duplicate_spans, 0);
        assert!(m.envelopes.is_empty());
        spans += m.spans;
        ignored += m.ignored_spans;
        let v: Value = serde_json::from_slice(line).unwrap();
        for rs in v["resourceSpans"].as_array().unwrap() {
            for ss in rs["scopeSpans"].as_array().unwrap() {
                for span in ss["spans"].as_array().unwrap() {
                    traces.insert(span["traceId"].as_str().unwrap().to_string());
                }
            }
        }
    }
    assert_eq!(spans, 547);
    assert_eq!(ignored, 547);
    assert_eq!(traces.len(), 141);
}

/// Metrics and logs requests sent to the trace reader hold no spans: read,
/// not refused, the longest (a metrics line of 858 KB) included.
#[test]
fn collector_metrics_and_logs_lines_hold_no_spans() {
    let file = fixture("otel-tui_test_data.jsonl");
    let mut longest = 0;
    for line in file.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let v: Value = serde_json::from_slice(line).unwrap();
        if v.get("resourceSpans").is_none() {
            let m = map_export(line).unwrap();
            assert_eq!((m.spans, m.envelopes.len()), (0, 0));
            longest = longest.max(line.len());
        }
    }
    assert_eq!(longest, 858_432, "the longest line, without its newline");
}

/// The same real traffic with every root span made an agent span: real
/// tree shapes, ERROR statuses with long messages, traces cut across
/// export requests. Expected numbers counted from the file: 140 roots;
/// 59 with status code 2; durations summing to 105 510 ms once each is
/// rounded; 332 spans in (request, trace) groups whose root is in another
/// request.
#[test]
fn collector_file_export_with_roots_as_agents() {
    let mut runs_by_agent = std::collections::BTreeMap::new();
    let (mut spans, mut ignored, mut failed, mut with_error, mut latency) = (0, 0, 0, 0, 0);
    for line in tui_trace_lines() {
        let mut v: Value = serde_json::from_slice(&line).unwrap();
        for rs in v["resourceSpans"].as_array_mut().unwrap() {
            for ss in rs["scopeSpans"].as_array_mut().unwrap() {
                for span in ss["spans"].as_array_mut().unwrap() {
                    if span["parentSpanId"] == "" {
                        span["attributes"].as_array_mut().unwrap().push(json!(
                            {"key": "gen_ai.operation.name", "value": {"stringValue": "invoke_agent"}}
                        ));
                    }
                }
            }
        }
        let m = map_checked(&serde_json::to_vec(&v).unwrap());
        assert_eq!(m.rejected_spans, 0, "{:?}", m.errors);
        spans += m.spans;
        ignored += m.ignored_spans;
        for env in &m.envelopes {
            let r = run(env);
            *runs_by_agent.entry(env.agent.clone()).or_insert(0) += 1;
            latency += r.latency_ms;
            if r.outcome == Outcome::Failed {
                failed += 1;
            }
            if r.error.is_some() {
                with_error += 1;
            }
            assert!(r.tool_calls.is_empty() && r.tokens.is_none());
        }
    }
    assert_eq!(spans, 547);
    assert_eq!(ignored, 332);
    assert_eq!(
        runs_by_agent.into_iter().collect::<Vec<_>>(),
        vec![
            ("flagd".to_string(), 4),
            ("frontend".to_string(), 53),
            ("loadgenerator".to_string(), 83)
        ]
    );
    assert_eq!(failed, 59);
    assert_eq!(with_error, 19, "failed roots with a status message");
    assert_eq!(latency, 105_510);
}

// ------------------------------------------------------- synthetic traces

#[test]
fn agent_trace_maps_to_one_run() {
    let m = map_checked(request("refund-svc", &agent_trace(T0)).as_bytes());
    assert_eq!((m.spans, m.ignored_spans, m.rejected_spans), (4, 0, 0));
    assert!(m.errors.is_empty(), "{:?}", m.errors);
    assert_eq!(m.envelopes, vec![expected_run(T0)]);
    assert_eq!(
        m.envelopes[0].ts.timestamp_subsec_nanos(),
        123,
        "nanoseconds kept exactly"
    );
}

/// Status as an enum name, times as numbers everywhere, the deprecated
/// token names, token counts as strings and numbers: the same run.
#[test]
fn enum_names_numbers_and_deprecated_names_give_the_same_run() {
    let mut spans: Vec<Sp> = agent_trace(T0).into_iter().map(Sp::numeric_times).collect();
    spans[0].status =
        r#"{"code":"STATUS_CODE_ERROR","message":"422: amount_usd must be a number"}"#.into();
    replace_attr(
        &mut spans,
        CHAT,
        "gen_ai.usage.input_tokens",
        "gen_ai.usage.prompt_tokens",
    );
    replace_attr(
        &mut spans,
        CHAT,
        "gen_ai.usage.output_tokens",
        "gen_ai.usage.completion_tokens",
    );
    let m = map_checked(request("refund-svc", &spans).as_bytes());
    assert_eq!(m.envelopes, vec![expected_run(T0)]);

    // And the status code as a quoted number.
    spans[0].status = r#"{"code":"2","message":"422: amount_usd must be a number"}"#.into();
    let m = map_checked(request("refund-svc", &spans).as_bytes());
    assert_eq!(m.envelopes, vec![expected_run(T0)]);
}

#[test]
fn agent_named_by_span_name_or_service() {
    let mut spans = agent_trace(T0);
    let root = spans.last_mut().unwrap();
    root.name = "invoke_agent Travel Planner".into();
    root.attrs.retain(|a| !a.contains("gen_ai.agent.name"));
    let m = map_checked(request("travel-svc", &spans).as_bytes());
    assert_eq!(m.envelopes.len(), 1);
    assert_eq!(m.envelopes[0].agent, "Travel-Planner");
    assert_eq!(
        to_agent_id("Travel Planner").as_deref(),
        Some("Travel-Planner")
    );

    // gen_ai.agent.id when the name is blank.
    let mut spans = agent_trace(T0);
    replace_attr(&mut spans, AGENT, "refund-bot", " ");
    spans
        .last_mut()
        .unwrap()
        .attrs
        .push(s("gen_ai.agent.id", "asst_5j66UpCpwteGg4YSxUnt7lPY"));
    let m = map_checked(request("refund-svc", &spans).as_bytes());
    assert_eq!(m.envelopes[0].agent, "asst_5j66UpCpwteGg4YSxUnt7lPY");

    // Neither, and a bare `invoke_agent` name: the service.
    let mut spans = agent_trace(T0);
    let root = spans.last_mut().unwrap();
    root.name = "invoke_agent".into();
    root.attrs.retain(|a| !a.contains("gen_ai.agent.name"));
    let m = map_checked(request("refund-svc", &spans).as_bytes());
    assert_eq!(m.envelopes[0].agent, "refund-svc");
}

#[test]
fn error_type_or_error_status_fails_the_run() {
    let mut spans = agent_trace(T0);
    spans
        .last_mut()
        .unwrap()
        .attrs
        .push(s("error.type", "timeout"));
    let m = map_checked(request("refund-svc", &spans).as_bytes());
    let r = run(&m.envelopes[0]);
    assert_eq!(r.outcome, Outcome::Failed);
    assert_eq!(r.error.as_deref(), Some("timeout"));

    let mut spans = agent_trace(T0);
    spans.last_mut().unwrap().status = r#"{"code":2,"message":"issue_refund failed: 422"}"#.into();
    let m = map_checked(request("refund-svc", &spans).as_bytes());
    let r = run(&m.envelopes[0]);
    assert_eq!(r.outcome, Outcome::Failed);
    assert_eq!(r.error.as_deref(), Some("issue_refund failed: 422"));

    // A failed tool alone does not fail the run: the agent may recover.
    let m = map_checked(request("refund-svc", &agent_trace(T0)).as_bytes());
    assert_eq!(run(&m.envelopes[0]).outcome, Outcome::Success);
}

/// Two agent spans under one workflow span: two runs, each with its own
/// tool calls and tokens. A model span under the workflow span but outside
/// both agents is counted as ignored; the workflow span itself is context.
#[test]
fn two_agent_spans_are_two_runs() {
    let t0 = T0;
    let spans = vec![
        Sp::new("00000000000000a0", "", "workflow", t0, t0 + 5000 * MS),
        Sp::new(
            "00000000000000a1",
            "00000000000000a0",
            "invoke_agent triage",
            t0 + 10 * MS,
            t0 + 1010 * MS,
        )
        .attr(s("gen_ai.operation.name", "invoke_agent")),
        Sp::new(
            "00000000000000a2",
            "00000000000000a1",
            "execute_tool classify",
            t0 + 20 * MS,
            t0 + 70 * MS,
        )
        .attr(s("gen_ai.operation.name", "execute_tool")),
        Sp::new(
            "00000000000000b1",
            "00000000000000a0",
            "invoke_agent refunds",
            t0 + 2000 * MS,
            t0 + 4000 * MS,
        )
        .attr(s("gen_ai.operation.name", "invoke_agent"))
        .status(r#"{"code":"STATUS_CODE_ERROR"}"#),
        // Under an HTTP span under the agent: still the agent's.
        Sp::new(
            "00000000000000b2",
            "00000000000000b1",
            "POST /refunds",
            t0 + 2100 * MS,
            t0 + 2900 * MS,
        ),
        Sp::new(
            "00000000000000b3",
            "00000000000000b2",
            "execute_tool issue_refund",
            t0 + 2200 * MS,
            t0 + 2500 * MS,
        )
        .attr(s("gen_ai.operation.name", "execute_tool")),
        Sp::new(
            "00000000000000b4",
            "00000000000000b1",
            "chat",
            t0 + 3000 * MS,
            t0 + 3500 * MS,
        )
        .attr(s("gen_ai.operation.name", "chat"))
        .attr(i("gen_ai.usage.input_tokens", 100))
        .attr(i("gen_ai.usage.output_tokens", 7)),
        Sp::new(
            "00000000000000c1",
            "00000000000000a0",
            "chat",
            t0 + 1100 * MS,
            t0 + 1900 * MS,
        )
        .attr(s("gen_ai.operation.name", "chat"))
        .attr(i("gen_ai.usage.input_tokens", 50)),
    ];
    let m = map_checked(request("support", &spans).as_bytes());
    assert_eq!((m.spans, m.ignored_spans, m.rejected_spans), (8, 1, 0));
    let r = runs(&m);
    assert_eq!(r.len(), 2);
    assert_eq!(m.envelopes[0].agent, "triage");
    assert_eq!(r[0].run_id, "00000000000000a1");
    assert_eq!(r[0].outcome, Outcome::Success);
    assert_eq!(r[0].latency_ms, 1000);
    assert_eq!(
        r[0].tool_calls,
        vec![tool("classify", ToolStatus::Ok, 50, None)]
    );
    assert_eq!(r[0].tokens, None);
    assert_eq!(m.envelopes[1].agent, "refunds");
    assert_eq!(r[1].run_id, "00000000000000b1");
    assert_eq!(r[1].outcome, Outcome::Failed);
    assert_eq!(r[1].error, None, "no message, no error.type");
    assert_eq!(
        r[1].tool_calls,
        vec![tool("issue_refund", ToolStatus::Ok, 300, None)]
    );
    assert_eq!(
        r[1].tokens,
        Some(Tokens {
            input: 100,
            output: 7
        })
    );
}

/// An agent invoked inside another agent's run is a run of its own; the
/// outer run keeps the tool that called it.
#[test]
fn nested_agent_is_its_own_run() {
    let t0 = T0;
    let spans = vec![
        Sp::new(
            "0000000000000001",
            "",
            "invoke_agent planner",
            t0,
            t0 + 900 * MS,
        ),
        Sp::new(
            "0000000000000002",
            "0000000000000001",
            "execute_tool ask_researcher",
            t0 + 100 * MS,
            t0 + 800 * MS,
        ),
        Sp::new(
            "0000000000000003",
            "0000000000000002",
            "invoke_agent researcher",
            t0 + 110 * MS,
            t0 + 790 * MS,
        ),
        Sp::new(
            "0000000000000004",
            "0000000000000003",
            "execute_tool web_search",
            t0 + 200 * MS,
            t0 + 400 * MS,
        ),
    ];
    let m = map_checked(request("svc", &spans).as_bytes());
    assert_eq!((m.spans, m.ignored_spans, m.rejected_spans), (4, 0, 0));
    let agents: Vec<&str> = m.envelopes.iter().map(|e| e.agent.as_str()).collect();
    assert_eq!(agents, ["planner", "researcher"]);
    let r = runs(&m);
    assert_eq!(
        r[0].tool_calls,
        vec![tool("ask_researcher", ToolStatus::Ok, 700, None)]
    );
    assert_eq!(
        r[1].tool_calls,
        vec![tool("web_search", ToolStatus::Ok, 200, None)]
    );
}

/// A trace of plain HTTP spans is ignored and counted; the GenAI trace
/// beside it in the same request is mapped.
#[test]
fn plain_http_trace_is_ignored() {
    let other = "11111111111111111111111111111111";
    let http = vec![
        Sp::new("1000000000000001", "", "GET /cart", T0, T0 + 30 * MS).trace(other),
        Sp::new(
            "1000000000000002",
            "1000000000000001",
            "SELECT cart",
            T0 + MS,
            T0 + 20 * MS,
        )
        .trace(other)
        .attr(s("db.system", "postgresql")),
        Sp::new(
            "1000000000000003",
            "1000000000000001",
            "GET",
            T0 + 21 * MS,
            T0 + 29 * MS,
        )
        .trace(other)
        .attr(i("http.response.status_code", 500))
        .status(r#"{"code":2}"#),
    ];
    let only_http = map_checked(request("cart", &http).as_bytes());
    assert_eq!(
        (
            only_http.spans,
            only_http.ignored_spans,
            only_http.rejected_spans
        ),
        (3, 3, 0)
    );
    assert!(only_http.envelopes.is_empty());

    let body = requests(&[
        resource("cart", &http),
        resource("refund-svc", &agent_trace(T0)),
    ]);
    let m = map_checked(body.as_bytes());
    assert_eq!((m.spans, m.ignored_spans, m.rejected_spans), (7, 3, 0));
    assert_eq!(m.envelopes, vec![expected_run(T0)]);
}

/// A run needs its agent span's start and end: without them it is
/// rejected, every span of it counted, with the reason; a run beside it is
/// unaffected.
#[test]
fn invalid_or_missing_time_rejects_the_run_with_a_reason() {
    let other = "22222222222222222222222222222222";
    for (start, end, why) in [
        (
            Some(r#""soon""#),
            Some(r#""1795230720000000000""#),
            "startTimeUnixNano",
        ),
        (Some(r#""1795230718160000000""#), None, "endTimeUnixNano"),
        (Some("0"), Some("0"), "startTimeUnixNano"),
        (
            Some("-5"),
            Some(r#""1795230720000000000""#),
            "startTimeUnixNano",
        ),
        (Some("null"), Some("{}"), "startTimeUnixNano"),
        (
            Some(r#""1795230720000000000""#),
            Some(r#""1795230718160000000""#),
            "before startTimeUnixNano",
        ),
    ] {
        let mut spans = agent_trace(T0);
        let root = spans.last_mut().unwrap();
        *root = root.clone().times(start, end);
        let mut good = agent_trace(T0);
        for s in &mut good {
            s.trace = other.into();
        }
        let body = requests(&[resource("svc", &spans), resource("svc", &good)]);
        let m = map_checked(body.as_bytes());
        assert_eq!(m.spans, 8);
        assert_eq!(m.rejected_spans, 4, "{start:?} {end:?}: {:?}", m.errors);
        assert_eq!(m.errors.len(), 1);
        let e = &m.errors[0];
        assert!(
            e.contains(AGENT) && e.contains("invoke_agent refund-bot") && e.contains(why),
            "{e}"
        );
        assert_eq!(m.envelopes.len(), 1, "the other trace's run");
        assert_eq!(run(&m.envelopes[0]).run_id, AGENT);
    }

    // A service run with no usable time at all.
    let chat = Sp::new(CHAT, "", "chat", 0, 0)
        .times(Some(r#""x""#), None)
        .attr(s("gen_ai.operation.name", "chat"));
    let m = map_checked(request("svc", &[chat]).as_bytes());
    assert_eq!((m.spans, m.rejected_spans), (1, 1));
    assert!(
        m.errors[0].contains(&format!("trace {TRACE}")),
        "{:?}",
        m.errors
    );

    // A tool span with a bad start keeps its call, without a latency.
    let mut spans = agent_trace(T0);
    spans[2] = spans[2].clone().times(Some(r#""?""#), Some(r#""1""#));
    let m = map_checked(request("svc", &spans).as_bytes());
    assert_eq!(m.rejected_spans, 0);
    let calls = &run(&m.envelopes[0]).tool_calls;
    let lookup = calls.iter().find(|c| c.tool == "lookup_order").unwrap();
    assert_eq!(lookup.latency_ms, None);
}

/// The same span twice (a retried batch merged, or two resources) is
/// read once: tokens and tool calls are not doubled.
#[test]
fn the_same_span_twice_is_counted_once() {
    let spans = agent_trace(T0);
    let mut twice = spans.clone();
    twice.push(spans[1].clone()); // the chat span
    twice.push(spans[2].clone()); // a tool span
    let body = requests(&[
        resource("refund-svc", &twice),
        resource("refund-svc", &spans[1..2]),
    ]);
    let m = map_checked(body.as_bytes());
    assert_eq!(m.spans, 7);
    assert_eq!(m.duplicate_spans, 3);
    assert_eq!((m.ignored_spans, m.rejected_spans), (0, 0));
    assert_eq!(m.envelopes, vec![expected_run(T0)]);

    // Ids differing only in case are the same span.
    let mut upper = spans[1].clone();
    upper.id = upper.id.to_uppercase();
    upper.trace = upper.trace.to_uppercase();
    let mut with_upper = spans.clone();
    with_upper.push(upper);
    let m = map_checked(request("refund-svc", &with_upper).as_bytes());
    assert_eq!(m.duplicate_spans, 1);
    assert_eq!(m.envelopes, vec![expected_run(T0)]);
}

/// The `/v1/traces` example of docs/protocol.md §7.3, with its
/// `agentdeck.*` attributes, mapped to the envelope shown there (plus the
/// event id).
#[test]
fn protocol_doc_example_with_agentdeck_attributes() {
    let mut spans = agent_trace(1_795_230_718_160_000_000);
    let root = spans.last_mut().unwrap();
    root.attrs.push(s("agentdeck.workflow", "refund"));
    root.attrs.push(d("agentdeck.cost_usd", 0.0123));
    root.attrs.push(s("agentdeck.version.prompt", "v8"));
    root.status =
        r#"{"code": 2, "message": "issue_refund failed: 422: amount_usd must be a number"}"#.into();
    let m = map_checked(request("refund-bot", &spans).as_bytes());
    let line = m.envelopes[0].to_line();
    let got: Value = serde_json::from_str(&line).unwrap();
    let want = json!({
        "v": 1,
        "type": "run.finished",
        "ts": "2026-11-21T03:12:00Z",
        "agent": "refund-bot",
        "id": "otlp:00f067aa0ba902b7",
        "run_id": "00f067aa0ba902b7",
        "workflow": "refund",
        "outcome": "failed",
        "latency_ms": 1840,
        "cost_usd": 0.0123,
        "tokens": {"input": 412, "output": 27},
        "tool_calls": [
            {"tool": "lookup_order", "status": "ok", "latency_ms": 120},
            {"tool": "issue_refund", "status": "error", "latency_ms": 340, "error": "422: amount_usd must be a number"}
        ],
        "versions": {"model": "gpt-4o-2024-08-06", "prompt": "v8"},
        "error": "issue_refund failed: 422: amount_usd must be a number"
    });
    assert_eq!(got, want);

    // agentdeck.run_id and agentdeck.outcome override the span's.
    let root = spans.last_mut().unwrap();
    root.attrs.push(s("agentdeck.run_id", "run-8f3a29"));
    root.attrs.push(s("agentdeck.outcome", "escalated"));
    let m = map_checked(request("refund-bot", &spans).as_bytes());
    let r = run(&m.envelopes[0]);
    assert_eq!(r.run_id, "run-8f3a29");
    assert_eq!(m.envelopes[0].id.as_deref(), Some("otlp:run-8f3a29"));
    assert_eq!(r.outcome, Outcome::Escalated);
    assert_eq!(r.error, None, "an error belongs to a failed run");
}

/// What real exporters send besides the spec: nulls, base64 ids, OpenInference
/// agent and tool spans, usage on the agent span only.
#[test]
fn tolerant_of_what_real_exporters_send() {
    // Nulls for empty fields.
    let body = format!(
        r#"{{"resourceSpans":[{{"resource":{{"attributes":[{}]}},"scopeSpans":[{{"scope":null,"spans":[
            {{"traceId":"{TRACE}","spanId":"{AGENT}","parentSpanId":null,"name":"invoke_agent bot","startTimeUnixNano":"{}","endTimeUnixNano":"{}","attributes":null,"status":null,"events":null}},
            {{"traceId":"{TRACE}","spanId":"{CHAT}","parentSpanId":"{AGENT}","name":"chat","startTimeUnixNano":"{}","endTimeUnixNano":"{}","attributes":[{{"key":"gen_ai.usage.input_tokens","value":{{"intValue":"3"}}}},{{"key":"x","value":null}},{{"key":"y","value":{{"intValue":null}}}}],"status":{{"code":null}}}}
        ]}}]}},{{"resource":null,"scopeSpans":null}}]}}"#,
        s("service.name", "svc"),
        T0,
        T0 + 10 * MS,
        T0 + MS,
        T0 + 2 * MS
    );
    let m = map_checked(body.as_bytes());
    assert_eq!((m.spans, m.rejected_spans), (2, 0), "{:?}", m.errors);
    assert_eq!(m.envelopes[0].agent, "bot");
    assert_eq!(
        run(&m.envelopes[0]).tokens,
        Some(Tokens {
            input: 3,
            output: 0
        })
    );

    // Base64 ids, as generic protobuf JSON converters write bytes.
    let spans = vec![
        Sp::new("APBnqgupArc=", "", "invoke_agent bot", T0, T0 + 10 * MS),
        Sp::new(
            "ik0Mbi8bOVc=",
            "APBnqgupArc=",
            "execute_tool t",
            T0,
            T0 + MS,
        ),
    ]
    .into_iter()
    .map(|s| s.trace("S/kvNXezTaajzpKdDg5HNg=="))
    .collect::<Vec<_>>();
    let m = map_checked(request("svc", &spans).as_bytes());
    let r = run(&m.envelopes[0]);
    assert_eq!(r.run_id, AGENT, "base64 id read as its hex");
    assert_eq!(r.tool_calls.len(), 1, "joined through base64 parent ids");
    assert_eq!(r.tool_calls[0].tool, "t");

    // OpenInference agent and tool spans; the tool named by its span.
    let spans = vec![
        Sp::new(AGENT, "", "Agent run", T0, T0 + 10 * MS)
            .attr(s("openinference.span.kind", "AGENT"))
            .attr(s("agent.name", "Support Bot")),
        Sp::new(TOOL1, AGENT, "lookup_order", T0 + MS, T0 + 3 * MS)
            .attr(s("openinference.span.kind", "TOOL")),
        Sp::new(CHAT, AGENT, "ChatCompletion", T0 + 4 * MS, T0 + 9 * MS)
            .attr(s("openinference.span.kind", "LLM"))
            .attr(s("llm.model_name", "gpt-4o-mini"))
            .attr(i("llm.token_count.prompt", 20))
            .attr(i("llm.token_count.completion", 2)),
    ];
    let m = map_checked(request("svc", &spans).as_bytes());
    assert_eq!(m.envelopes[0].agent, "Support-Bot");
    let r = run(&m.envelopes[0]);
    assert_eq!(
        r.tool_calls,
        vec![tool("lookup_order", ToolStatus::Ok, 2, None)]
    );
    assert_eq!(
        r.tokens,
        Some(Tokens {
            input: 20,
            output: 2
        })
    );
    assert_eq!(r.versions.model.as_deref(), Some("gpt-4o-mini"));

    // Usage and model on the agent span only, as the conventions allow.
    let spans = vec![
        Sp::new(AGENT, "", "invoke_agent bot", T0, T0 + 10 * MS)
            .attr(i("gen_ai.usage.input_tokens", 70))
            .attr(i("gen_ai.usage.output_tokens", 8))
            .attr(s("gen_ai.request.model", "claude-sonnet-4")),
    ];
    let m = map_checked(request("svc", &spans).as_bytes());
    let r = run(&m.envelopes[0]);
    assert_eq!(
        r.tokens,
        Some(Tokens {
            input: 70,
            output: 8
        })
    );
    assert_eq!(r.versions.model.as_deref(), Some("claude-sonnet-4"));

    // A model call seen by two instrumentations (framework and client
    // library) is counted once; a sibling call is counted.
    let spans = vec![
        Sp::new(AGENT, "", "invoke_agent bot", T0, T0 + 10 * MS),
        Sp::new(
            "0000000000000011",
            AGENT,
            "ChatOpenAI",
            T0 + MS,
            T0 + 5 * MS,
        )
        .attr(s("openinference.span.kind", "LLM"))
        .attr(i("llm.token_count.prompt", 100))
        .attr(i("llm.token_count.completion", 10)),
        Sp::new(
            "0000000000000012",
            "0000000000000011",
            "chat gpt-4o",
            T0 + 2 * MS,
            T0 + 4 * MS,
        )
        .attr(s("gen_ai.operation.name", "chat"))
        .attr(i("gen_ai.usage.input_tokens", 100))
        .attr(i("gen_ai.usage.output_tokens", 10)),
        Sp::new(
            "0000000000000013",
            AGENT,
            "chat gpt-4o",
            T0 + 6 * MS,
            T0 + 9 * MS,
        )
        .attr(s("gen_ai.operation.name", "chat"))
        .attr(i("gen_ai.usage.input_tokens", 1))
        .attr(i("gen_ai.usage.output_tokens", 1)),
    ];
    let m = map_checked(request("svc", &spans).as_bytes());
    assert_eq!(
        run(&m.envelopes[0]).tokens,
        Some(Tokens {
            input: 101,
            output: 11
        })
    );

    // `instrumentationLibrarySpans`, the pre-1.0 name of `scopeSpans`.
    let old = request("refund-svc", &agent_trace(T0))
        .replace("scopeSpans", "instrumentationLibrarySpans");
    assert_eq!(
        map_checked(old.as_bytes()).envelopes,
        vec![expected_run(T0)]
    );
}

/// Tool spans under no agent span become `tool.called` events of the
/// service; the plain spans around them are ignored.
#[test]
fn tool_span_outside_any_run_is_a_tool_called_event() {
    let spans = vec![
        Sp::new("0000000000000021", "", "POST /jobs", T0, T0 + 100 * MS),
        Sp::new(
            TOOL1,
            "0000000000000021",
            "execute_tool send_email",
            T0 + 10 * MS,
            T0 + 60 * MS,
        )
        .attr(s("gen_ai.operation.name", "execute_tool"))
        .status(r#"{"code":2,"message":"smtp 550"}"#),
    ];
    let m = map_checked(request("mailer", &spans).as_bytes());
    assert_eq!((m.spans, m.ignored_spans, m.rejected_spans), (2, 1, 0));
    let mut expected = Envelope::new(
        at(T0 + 60 * MS),
        "mailer",
        Event::ToolCalled(ToolCallEvent {
            run_id: None,
            workflow: DEFAULT_WORKFLOW.into(),
            tool: "send_email".into(),
            status: ToolStatus::Error,
            latency_ms: Some(50),
            error: Some("smtp 550".into()),
        }),
    );
    expected.id = Some(format!("otlp:{TOOL1}"));
    assert_eq!(m.envelopes, vec![expected]);
}

/// Input meant to break the reader: it answers, without panicking.
#[test]
fn hostile_input_is_answered_not_panicked_on() {
    // Not JSON, not an object, wrong types: refused, naming the problem.
    let refused: [(&[u8], &str); 6] = [
        (b"{\"resourceSpans\": [", "EOF"),
        (b"", "EOF"),
        (b"\"hello\"", "invalid type"),
        (b"\xff\xfe", "not valid UTF-8"),
        (br#"{"resourceSpans": 5}"#, "invalid type"),
        (
            br#"{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": 7}]}]}]}"#,
            "invalid type",
        ),
    ];
    for (body, problem) in refused {
        let e = map_export(body).unwrap_err();
        assert!(
            e.starts_with("not an OTLP/JSON ExportTraceServiceRequest") && e.contains(problem),
            "{e}"
        );
    }
    assert_eq!(map("{}").spans, 0);

    // Spans without ids cannot be joined: rejected, not merged into one.
    let mut a = agent_trace(T0);
    for s in &mut a {
        s.id = String::new();
    }
    let m = map_checked(request("svc", &a).as_bytes());
    assert_eq!((m.spans, m.rejected_spans, m.duplicate_spans), (4, 4, 0));
    assert!(
        m.errors[0].contains("no traceId or spanId"),
        "{:?}",
        m.errors
    );

    // Non-ASCII ids: made ids, no slicing inside a character.
    let spans = vec![
        Sp::new("€€€€€€€€€€€€", "", "chat", T0, T0 + MS)
            .trace("€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€")
            .attr(s("gen_ai.operation.name", "chat")),
    ];
    let m = map_checked(request("svc", &spans).as_bytes());
    assert_eq!(m.envelopes.len(), 1);

    // Token counts past u64: saturated, not overflowed.
    let mut spans = agent_trace(T0);
    replace_attr(&mut spans, CHAT, "\"412\"", "\"99999999999999999999999\"");
    let mut more = spans[1].clone();
    more.id = "00000000000000ff".into();
    spans.push(more);
    let m = map_checked(request("svc", &spans).as_bytes());
    assert_eq!(run(&m.envelopes[0]).tokens.unwrap().input, u64::MAX);

    // A long agent name and a name of control characters.
    let mut spans = agent_trace(T0);
    replace_attr(&mut spans, AGENT, "refund-bot", &"x".repeat(500));
    spans[0].attrs = vec![s("gen_ai.tool.name", "\u{7}\u{8}")];
    let m = map_checked(request("svc", &spans).as_bytes());
    assert_eq!(m.envelopes[0].agent.len(), 128);
    assert_eq!(run(&m.envelopes[0]).tool_calls[1].tool, "issue_refund");

    // A parent cycle ends.
    let spans = vec![
        Sp::new("0000000000000031", "0000000000000032", "chat", T0, T0 + MS)
            .attr(s("gen_ai.operation.name", "chat")),
        Sp::new("0000000000000032", "0000000000000031", "x", T0, T0 + MS),
    ];
    assert_eq!(
        map_checked(request("svc", &spans).as_bytes())
            .envelopes
            .len(),
        1
    );
}

/// A deep chain of spans costs linear time, not depth × spans.
#[test]
fn deep_trace_is_linear() {
    let depth = 20_000;
    let mut spans = vec![Sp::new("0", "", "invoke_agent deep", T0, T0 + 1000 * MS)];
    for k in 1..depth {
        spans.push(
            Sp::new(&k.to_string(), &(k - 1).to_string(), "step", T0, T0 + MS)
                .attr(i("gen_ai.usage.input_tokens", 1)),
        );
    }
    let started = std::time::Instant::now();
    let m = map_checked(request("svc", &spans).as_bytes());
    assert!(
        started.elapsed() < std::time::Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    // Each step is nested in the one above: one model call, counted once.
    assert_eq!(run(&m.envelopes[0]).tokens.unwrap().input, 1);
}

// -------------------------------------------------------------- over HTTP

async fn post_traces(hub: &support::TestHub, token: &str, body: String) -> (u16, Value) {
    let r = hub
        .http
        .post(hub.url("/v1/traces"))
        .bearer_auth(hub.token(token))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traces_over_http() {
    let hub = support::start().await;
    let now = Utc::now();
    let t0 = u64::try_from(
        (now - chrono::Duration::seconds(10))
            .timestamp_nanos_opt()
            .unwrap(),
    )
    .unwrap();

    // Fully accepted: an empty ExportTraceServiceResponse.
    let (status, body) = post_traces(&hub, "agent", request("refund-svc", &agent_trace(t0))).await;
    assert_eq!((status, &body), (200, &json!({})));

    // A request with a trace of plain spans: accepted, the ignored spans
    // said in partialSuccess, none rejected.
    let other = "33333333333333333333333333333333";
    let mut second = agent_trace(t0 + 2000 * MS);
    for (k, s) in second.iter_mut().enumerate() {
        s.trace = "44444444444444444444444444444444".into();
        s.id = format!("000000000000010{k}");
        s.parent = if s.parent == "\"\"" {
            s.parent.clone()
        } else {
            "\"0000000000000103\"".into()
        };
    }
    let body = requests(&[
        resource("refund-svc", &second),
        resource(
            "cart",
            &[Sp::new("2000000000000001", "", "GET /cart", t0, t0 + MS).trace(other)],
        ),
    ]);
    let (status, body) = post_traces(&hub, "agent", body).await;
    assert_eq!(status, 200, "{body}");
    let partial = &body["partialSuccess"];
    assert_eq!(partial["rejectedSpans"], "0", "{body}");
    assert!(
        partial["errorMessage"]
            .as_str()
            .unwrap()
            .contains("ignored"),
        "{body}"
    );

    // Not JSON: 400 naming the problem.
    let (status, body) = post_traces(&hub, "agent", "{\"resourceSpans\": [".into()).await;
    assert_eq!(status, 400);
    let e = body["error"].as_str().unwrap();
    assert!(
        e.contains("not an OTLP/JSON ExportTraceServiceRequest") && e.contains("EOF"),
        "{e}"
    );

    // A token for refund-bot only may not send another agent's run.
    let mut spans = agent_trace(t0);
    replace_attr(&mut spans, AGENT, "refund-bot", "other-bot");
    for s in &mut spans {
        s.trace = "55555555555555555555555555555555".into();
    }
    let (status, body) = post_traces(&hub, "bot", request("x", &spans)).await;
    assert_eq!(status, 200, "{body}");
    let rejected: u64 = body["partialSuccess"]["rejectedSpans"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(rejected > 0, "{body}");
    assert!(
        body["partialSuccess"]["errorMessage"]
            .as_str()
            .unwrap()
            .contains("other-bot"),
        "{body}"
    );

    // The canonical example over HTTP: read, its one span ignored.
    let (status, body) = post_traces(
        &hub,
        "agent",
        String::from_utf8(fixture("opentelemetry-proto_examples_trace.json")).unwrap(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["partialSuccess"]["rejectedSpans"], "0", "{body}");

    // The agent is known, with what the runs said.
    let state = hub
        .wait_state("refund-bot from traces", |s| {
            s["agents"]
                .as_array()
                .is_some_and(|a| a.iter().any(|a| a["id"] == "refund-bot"))
        })
        .await;
    let agent = state["agents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == "refund-bot")
        .unwrap();
    assert_eq!(agent["versions"]["model"], "gpt-4o-2024-08-06");
    assert_eq!(agent["tools"], json!(["issue_refund", "lookup_order"]));
    assert_eq!(agent["workflows"], json!(["default"]));
    assert!(
        state["agents"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["id"] != "other-bot" && a["id"] != "cart"),
        "{state}"
    );
}
