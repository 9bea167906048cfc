//! OTLP over HTTP (protobuf and JSON, gzip or not) and gRPC against a real
//! hub: the answers in the request's own encoding, the refusals, and whole
//! traces assembled across exports (waiting, restart, expiry, memory cap,
//! one sender's spans kept apart from another's).
//!
//! Requests are built with the generated OTLP types and encoded with
//! prost; the JSON form is written from the same spans.

mod support;

use std::io::Write;
use std::time::{Duration, Instant};

use agentdeck::hub::OtlpConfig;
use agentdeck::ingest::otlp::TraceLimits;
use agentdeck::model::envelope::{Outcome, RunFinished, ToolStatus};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceResponse;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceResponse;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;
use serde_json::{Value, json};
use support::{Options, TestHub};

// ---------------------------------------------------------------- builders

const PROTOBUF: &str = "application/x-protobuf";
const JSON: &str = "application/json";

/// The model call of every run here: gpt-4.1-mini at 0.40 / 1.60 USD per
/// million input / output tokens.
const INPUT_TOKENS: u64 = 1200;
const OUTPUT_TOKENS: u64 = 300;
const COST_USD: f64 = (1200.0 * 0.40 + 300.0 * 1.60) / 1e6;

/// A span of trace `trace` (all 16 bytes `trace`), its id made of the
/// trace and `k`, so that every span and run id of a test is unique.
struct Sp(Span);

impl Sp {
    fn new(trace: u8, k: u8, name: &str) -> Self {
        Self(Span {
            trace_id: vec![trace; 16],
            span_id: span_id(trace, k),
            name: name.into(),
            kind: 1, // INTERNAL
            ..Default::default()
        })
    }

    fn under(mut self, parent: u8) -> Self {
        self.0.parent_span_id = span_id(self.0.trace_id[0], parent);
        self
    }

    /// From `start_ms` to `end_ms` after `base` (nanoseconds).
    fn during(mut self, base: u64, start_ms: u64, end_ms: u64) -> Self {
        self.0.start_time_unix_nano = base + start_ms * 1_000_000;
        self.0.end_time_unix_nano = base + end_ms * 1_000_000;
        self
    }

    fn s(mut self, key: &str, value: &str) -> Self {
        self.0
            .attributes
            .push(kv(key, any_value::Value::StringValue(value.into())));
        self
    }

    fn i(mut self, key: &str, value: i64) -> Self {
        self.0
            .attributes
            .push(kv(key, any_value::Value::IntValue(value)));
        self
    }
}

fn span_id(trace: u8, k: u8) -> Vec<u8> {
    vec![trace, k, 0xa, 0xb, 0xc, 0xd, 0xe, 0xf]
}

/// The run id (the agent span's id, in hex) of [`agent_run`]`(trace, ..)`.
fn run_id(trace: u8) -> String {
    hex::encode(span_id(trace, 1))
}

fn kv(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

/// One agent run of `agent`, ended 10 s ago: `[agent span (the trace's
/// root, 1500 ms), chat span (gpt-4.1-mini, tokens), tool span (250 ms)]`.
fn agent_run(trace: u8, agent: &str) -> [Span; 3] {
    let now = chrono::Utc::now() - chrono::Duration::seconds(10);
    let base = u64::try_from(now.timestamp_nanos_opt().unwrap()).unwrap();
    [
        Sp::new(trace, 1, &format!("invoke_agent {agent}"))
            .during(base, 0, 1500)
            .s("gen_ai.operation.name", "invoke_agent")
            .s("gen_ai.agent.name", agent),
        Sp::new(trace, 2, "chat gpt-4.1-mini")
            .under(1)
            .during(base, 100, 900)
            .s("gen_ai.operation.name", "chat")
            .s("gen_ai.request.model", "gpt-4.1-mini")
            .i("gen_ai.usage.input_tokens", INPUT_TOKENS as i64)
            .i("gen_ai.usage.output_tokens", OUTPUT_TOKENS as i64),
        Sp::new(trace, 3, "execute_tool lookup_order")
            .under(1)
            .during(base, 950, 1200)
            .s("gen_ai.operation.name", "execute_tool")
            .s("gen_ai.tool.name", "lookup_order"),
    ]
    .map(|s| s.0)
}

/// An export of `spans` from one resource of `service`.
fn request(service: &str, spans: impl IntoIterator<Item = Span>) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![kv(
                    "service.name",
                    any_value::Value::StringValue(service.into()),
                )],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans: spans.into_iter().collect(),
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

/// The same export in OTLP/JSON (hex ids, 64-bit numbers as strings).
fn json_body(request: &ExportTraceServiceRequest) -> Vec<u8> {
    fn attrs(kvs: &[KeyValue]) -> Value {
        kvs.iter()
            .map(|kv| {
                let value = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                    Some(any_value::Value::StringValue(s)) => json!({"stringValue": s}),
                    Some(any_value::Value::IntValue(i)) => json!({"intValue": i.to_string()}),
                    other => panic!("no JSON form here for {other:?}"),
                };
                json!({"key": kv.key, "value": value})
            })
            .collect()
    }
    let resource_spans: Vec<Value> = request
        .resource_spans
        .iter()
        .map(|rs| {
            let spans: Vec<Value> = rs.scope_spans[0]
                .spans
                .iter()
                .map(|s| {
                    json!({
                        "traceId": hex::encode(&s.trace_id),
                        "spanId": hex::encode(&s.span_id),
                        "parentSpanId": hex::encode(&s.parent_span_id),
                        "name": s.name,
                        "kind": s.kind,
                        "startTimeUnixNano": s.start_time_unix_nano.to_string(),
                        "endTimeUnixNano": s.end_time_unix_nano.to_string(),
                        "attributes": attrs(&s.attributes),
                    })
                })
                .collect();
            json!({
                "resource": {"attributes": attrs(&rs.resource.as_ref().unwrap().attributes)},
                "scopeSpans": [{"spans": spans}],
            })
        })
        .collect();
    json!({ "resourceSpans": resource_spans })
        .to_string()
        .into_bytes()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

// ------------------------------------------------------------ HTTP answers

/// `google.rpc.Status`, the error body of OTLP/HTTP protobuf answers.
#[derive(Clone, PartialEq, prost::Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

/// An HTTP answer, read whole.
#[derive(Debug)]
struct Reply {
    status: u16,
    content_type: String,
    body: Vec<u8>,
}

impl Reply {
    fn protobuf<M: Message + Default>(&self) -> M {
        assert_eq!(self.content_type, PROTOBUF, "{self:?}");
        M::decode(self.body.as_slice()).unwrap_or_else(|e| panic!("{e}: {self:?}"))
    }

    /// A protobuf refusal: its status and `google.rpc.Status`.
    fn rpc_status(&self) -> (u16, tonic::Code, String) {
        let s: RpcStatus = self.protobuf();
        (self.status, tonic::Code::from(s.code), s.message)
    }

    fn json(&self) -> Value {
        assert!(self.content_type.starts_with(JSON), "{self:?}");
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("{e}: {self:?}"))
    }

    /// A JSON refusal: its status and the hub's `error`.
    fn json_error(&self) -> (u16, String) {
        let error = self.json()["error"].as_str().unwrap().to_string();
        (self.status, error)
    }
}

/// POSTs `body` to `path` as token `token` with `headers`.
async fn post(
    hub: &TestHub,
    path: &str,
    token: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> Reply {
    let mut req = hub
        .http
        .post(hub.url(path))
        .bearer_auth(hub.token(token))
        .body(body);
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    let r = req.send().await.unwrap();
    let content_type = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    Reply {
        status: r.status().as_u16(),
        content_type,
        body: r.bytes().await.unwrap().to_vec(),
    }
}

/// Exports `request` to `/v1/traces` as protobuf.
async fn export(hub: &TestHub, token: &str, request: &ExportTraceServiceRequest) -> Reply {
    let headers = [("content-type", PROTOBUF)];
    post(hub, "/v1/traces", token, &headers, request.encode_to_vec()).await
}

/// Exports `request` as protobuf and checks it was taken whole.
async fn export_ok(hub: &TestHub, token: &str, request: &ExportTraceServiceRequest) {
    let reply = export(hub, token, request).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let answer: ExportTraceServiceResponse = reply.protobuf();
    assert_eq!(answer.partial_success, None, "{reply:?}");
}

// ------------------------------------------------------------- the journal

/// The only run of `agent` in the journal.
fn only_run(hub: &TestHub, agent: &str) -> RunFinished {
    let mut of: Vec<RunFinished> = hub
        .journaled_runs()
        .into_iter()
        .filter(|(a, _)| a == agent)
        .map(|(_, r)| r)
        .collect();
    assert_eq!(of.len(), 1, "runs of {agent}: {:#?}", hub.journaled_runs());
    of.remove(0)
}

/// (traces waiting, spans waiting, spans expired since start).
fn buffer(hub: &TestHub) -> (usize, usize, u64) {
    agentdeck::hub::lock(&hub.hub.core).trace_buffer()
}

/// Polls `done` every 50 ms for up to 5 s.
async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Checks `run` is [`agent_run`]'s run, whole.
fn assert_whole_run(run: &RunFinished) {
    assert_eq!(run.outcome, Outcome::Success, "{run:#?}");
    assert_eq!(run.latency_ms, 1500, "{run:#?}");
    let tokens = run.tokens.expect("tokens");
    assert_eq!((tokens.input, tokens.output), (INPUT_TOKENS, OUTPUT_TOKENS));
    assert_eq!(run.tool_calls.len(), 1, "{run:#?}");
    let call = &run.tool_calls[0];
    assert_eq!(
        (call.tool.as_str(), call.status, call.latency_ms),
        ("lookup_order", ToolStatus::Ok, Some(250))
    );
    assert_eq!(run.versions.model.as_deref(), Some("gpt-4.1-mini"));
    assert!(
        (run.cost_usd - COST_USD).abs() < 1e-12,
        "cost {} (expected {COST_USD})",
        run.cost_usd
    );
}

/// Options with these trace-buffer limits.
fn limits(wait: chrono::Duration, max_bytes: usize) -> Options {
    Options {
        otlp: OtlpConfig {
            trace_limits: TraceLimits { wait, max_bytes },
            ..Default::default()
        },
        ..Default::default()
    }
}

// ------------------------------------------------------------------ tests

/// A protobuf export of one run: 200, no partial success; journaled whole, priced from the table.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protobuf_export_of_an_agent_run() {
    let hub = support::start().await;
    export_ok(
        &hub,
        "agent",
        &request("refund-svc", agent_run(1, "refund-bot")),
    )
    .await;
    let run = only_run(&hub, "refund-bot");
    assert_eq!(run.run_id, run_id(1));
    assert_whole_run(&run);
    assert_eq!(buffer(&hub), (0, 0, 0));
}

/// Another agent's run from a token: 200, its 3 spans rejected naming the agent (protobuf, JSON).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_agents_run_is_a_partial_success() {
    let hub = support::start().await;
    // The `bot` token speaks for refund-bot only (tests/support/mod.rs).
    export_ok(&hub, "bot", &request("svc", agent_run(1, "refund-bot"))).await;
    assert_whole_run(&only_run(&hub, "refund-bot"));

    let reply = export(&hub, "bot", &request("svc", agent_run(2, "triage-bot"))).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let partial = reply
        .protobuf::<ExportTraceServiceResponse>()
        .partial_success
        .expect("partial success");
    assert_eq!(partial.rejected_spans, 3, "{partial:?}");
    assert!(
        partial.error_message.contains("\"triage-bot\""),
        "{partial:?}"
    );

    let body = json_body(&request("svc", agent_run(3, "triage-bot")));
    let reply = post(&hub, "/v1/traces", "bot", &[("content-type", JSON)], body).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let partial = &reply.json()["partialSuccess"];
    assert_eq!(partial["rejectedSpans"], "3", "{reply:?}");
    assert!(
        partial["errorMessage"]
            .as_str()
            .unwrap()
            .contains("\"triage-bot\""),
        "{reply:?}"
    );
    assert!(
        hub.journaled_runs()
            .iter()
            .all(|(agent, _)| agent != "triage-bot")
    );
}

/// Gzip'd JSON and protobuf are read; a gzip bomb gets 413 naming the limit; bad gzip gets 400.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gzip_bodies_within_the_limit() {
    const LIMIT: usize = 1024 * 1024;
    let hub = support::start_with(Options {
        max_body_bytes: LIMIT,
        ..Default::default()
    })
    .await;
    let json_gz = [("content-type", JSON), ("content-encoding", "gzip")];
    let proto_gz = [("content-type", PROTOBUF), ("content-encoding", "gzip")];

    let body = gzip(&json_body(&request("svc", agent_run(1, "json-bot"))));
    let reply = post(&hub, "/v1/traces", "agent", &json_gz, body).await;
    assert_eq!((reply.status, reply.json()), (200, json!({})), "{reply:?}");
    assert_whole_run(&only_run(&hub, "json-bot"));

    let body = gzip(&request("svc", agent_run(2, "proto-bot")).encode_to_vec());
    let reply = post(&hub, "/v1/traces", "agent", &proto_gz, body).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(
        reply
            .protobuf::<ExportTraceServiceResponse>()
            .partial_success,
        None
    );
    assert_whole_run(&only_run(&hub, "proto-bot"));

    // 20 MiB of zeros: a few kilobytes on the wire, far below the limit.
    let bomb = gzip(&vec![0u8; 20 * 1024 * 1024]);
    assert!(bomb.len() < LIMIT / 10, "{} bytes", bomb.len());
    let reply = post(&hub, "/v1/traces", "agent", &proto_gz, bomb.clone()).await;
    let (status, code, message) = reply.rpc_status();
    assert_eq!(
        (status, code),
        (413, tonic::Code::InvalidArgument),
        "{message}"
    );
    assert!(message.contains(&LIMIT.to_string()), "{message}");
    let (status, error) = post(&hub, "/v1/traces", "agent", &json_gz, bomb)
        .await
        .json_error();
    assert_eq!(status, 413, "{error}");
    assert!(error.contains(&LIMIT.to_string()), "{error}");

    // Gzip cut short, and a body that is not gzip at all.
    let mut cut = gzip(&request("svc", agent_run(3, "proto-bot")).encode_to_vec());
    cut.truncate(cut.len() - 10);
    let reply = post(&hub, "/v1/traces", "agent", &proto_gz, cut).await;
    let (status, code, message) = reply.rpc_status();
    assert_eq!(
        (status, code),
        (400, tonic::Code::InvalidArgument),
        "{message}"
    );
    assert!(message.contains("not valid gzip"), "{message}");
    let reply = post(&hub, "/v1/traces", "agent", &json_gz, b"{}".to_vec()).await;
    let (status, error) = reply.json_error();
    assert_eq!(status, 400, "{error}");
    assert!(error.contains("not valid gzip"), "{error}");
    assert_eq!(hub.journaled_runs().len(), 2);
}

/// Unknown type or encoding: 415 naming what is read; undecodable protobuf: 400, protobuf Status.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsupported_types_and_undecodable_bodies() {
    let hub = support::start().await;
    let body = request("svc", agent_run(1, "refund-bot")).encode_to_vec();

    // The type is unknown, so the answer is the hub's JSON error.
    let headers = [("content-type", "text/plain")];
    let reply = post(&hub, "/v1/traces", "agent", &headers, body.clone()).await;
    let (status, error) = reply.json_error();
    assert_eq!(status, 415, "{error}");
    assert!(
        error.contains("text/plain")
            && error.contains("application/x-protobuf")
            && error.contains("application/json"),
        "{error}"
    );

    // The type is known: the refusal comes in it.
    let headers = [("content-type", PROTOBUF), ("content-encoding", "br")];
    let (status, code, message) = post(&hub, "/v1/traces", "agent", &headers, body.clone())
        .await
        .rpc_status();
    assert_eq!(
        (status, code),
        (415, tonic::Code::InvalidArgument),
        "{message}"
    );
    assert!(
        message.contains("\"br\"") && message.contains("gzip"),
        "{message}"
    );
    let headers = [("content-type", JSON), ("content-encoding", "br")];
    let (status, error) = post(&hub, "/v1/traces", "agent", &headers, body)
        .await
        .json_error();
    assert_eq!(status, 415, "{error}");
    assert!(
        error.contains("\"br\"") && error.contains("gzip"),
        "{error}"
    );

    // Field 1 (resource_spans), 100 bytes long, with 2 bytes present.
    let truncated = vec![0x0a, 100, 1, 2];
    let headers = [("content-type", "application/protobuf")];
    let (status, code, message) = post(&hub, "/v1/traces", "agent", &headers, truncated)
        .await
        .rpc_status();
    assert_eq!(
        (status, code),
        (400, tonic::Code::InvalidArgument),
        "{message}"
    );
    assert!(message.contains("OTLP/protobuf"), "{message}");
    assert!(hub.journaled_runs().is_empty());
}

/// Logs and metrics: 200, none rejected, a message that they are not used; garbage gets 400.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_and_metrics_are_acknowledged_and_not_used() {
    let hub = support::start().await;
    for (path, key) in [
        ("/v1/logs", "rejectedLogRecords"),
        ("/v1/metrics", "rejectedDataPoints"),
    ] {
        let reply = post(
            &hub,
            path,
            "agent",
            &[("content-type", JSON)],
            b"{}".to_vec(),
        )
        .await;
        assert_eq!(reply.status, 200, "{reply:?}");
        let partial = &reply.json()["partialSuccess"];
        assert_eq!(partial[key], "0", "{reply:?}");
        let message = partial["errorMessage"].as_str().unwrap();
        assert!(message.contains("reads traces only"), "{message}");

        let headers = [("content-type", PROTOBUF)];
        let reply = post(&hub, path, "agent", &headers, Vec::new()).await;
        assert_eq!(reply.status, 200, "{reply:?}");
        let (rejected, message) = if path == "/v1/logs" {
            let p = reply
                .protobuf::<ExportLogsServiceResponse>()
                .partial_success
                .unwrap();
            (p.rejected_log_records, p.error_message)
        } else {
            let p = reply
                .protobuf::<ExportMetricsServiceResponse>()
                .partial_success
                .unwrap();
            (p.rejected_data_points, p.error_message)
        };
        assert_eq!(rejected, 0);
        assert!(message.contains("reads traces only"), "{message}");

        let reply = post(&hub, path, "agent", &headers, vec![0x0a, 100, 1, 2]).await;
        let (status, code, message) = reply.rpc_status();
        assert_eq!(
            (status, code),
            (400, tonic::Code::InvalidArgument),
            "{message}"
        );
    }
}

/// gRPC Export on the hub's port journals the run; bad token: Unauthenticated; viewer: denied.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_export_on_the_hub_port() {
    let hub = support::start().await;
    let mut client = TraceServiceClient::connect(hub.hub.url()).await.unwrap();
    let call = |token: String, trace: u8| {
        let mut req = tonic::Request::new(request("svc", agent_run(trace, "grpc-bot")));
        let value = format!("Bearer {token}").parse().unwrap();
        req.metadata_mut().insert("authorization", value);
        req
    };

    let answer = client
        .export(call(hub.token("agent").into(), 1))
        .await
        .unwrap();
    assert_eq!(answer.into_inner().partial_success, None);
    assert_whole_run(&only_run(&hub, "grpc-bot"));

    let e = client
        .export(call("adk_wrong".into(), 2))
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::Unauthenticated, "{e:?}");
    let e = client
        .export(call(hub.token("viewer").into(), 3))
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::PermissionDenied, "{e:?}");
    assert_eq!(hub.journaled_runs().len(), 1);

    // A message of empty spans (two bytes each on the wire, hundreds in
    // memory) is refused before it is decoded, as over HTTP.
    let empty = request("svc", (0..100_001).map(|_| Span::default()));
    let mut req = tonic::Request::new(empty);
    let value = format!("Bearer {}", hub.token("agent")).parse().unwrap();
    req.metadata_mut().insert("authorization", value);
    let e = client.export(req).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::InvalidArgument, "{e:?}");
    assert!(e.message().contains("more than 100000 spans"), "{e:?}");
}

/// Model and tool spans sent before their agent span wait for it, then make one run with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_wait_for_their_root() {
    let hub = support::start().await;
    let [agent, model, tool] = agent_run(1, "refund-bot");
    export_ok(&hub, "agent", &request("svc", [model, tool])).await;
    assert!(
        hub.journaled_runs().is_empty(),
        "{:#?}",
        hub.journaled_runs()
    );
    assert_eq!(buffer(&hub), (1, 2, 0));

    export_ok(&hub, "agent", &request("svc", [agent])).await;
    assert_whole_run(&only_run(&hub, "refund-bot"));
    assert_eq!(hub.journaled_runs().len(), 1);
    assert_eq!(buffer(&hub), (0, 0, 0));
}

/// Waiting spans survive a restart and join their agent span sent to the new hub.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_spans_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("hub.db");
    let on_db = || Options {
        db: Some(db.clone()),
        ..Default::default()
    };
    let [agent, model, tool] = agent_run(1, "refund-bot");

    let first = support::start_with(on_db()).await;
    export_ok(&first, "agent", &request("svc", [model, tool])).await;
    assert_eq!(buffer(&first), (1, 2, 0));
    first.hub.stop().await;

    let second = support::start_with(on_db()).await;
    assert_eq!(buffer(&second), (1, 2, 0));
    export_ok(&second, "agent", &request("svc", [agent])).await;
    assert_whole_run(&only_run(&second, "refund-bot"));
    assert_eq!(buffer(&second), (0, 0, 0));
}

/// A model span whose parent never comes is mapped after the wait as a service run, and counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lone_spans_expire_after_the_wait() {
    let hub = support::start_with(limits(chrono::Duration::seconds(1), 1 << 20)).await;
    let [_, model, _] = agent_run(1, "refund-bot");
    export_ok(&hub, "agent", &request("refund-svc", [model])).await;
    assert_eq!(buffer(&hub), (1, 1, 0));

    eventually("the lone span to expire", || {
        !hub.journaled_runs().is_empty()
    })
    .await;
    let run = only_run(&hub, "refund-svc");
    assert_eq!(
        run.run_id,
        hex::encode([1u8; 16]),
        "a service run is its trace"
    );
    assert_eq!(run.latency_ms, 800);
    let tokens = run.tokens.expect("tokens");
    assert_eq!((tokens.input, tokens.output), (INPUT_TOKENS, OUTPUT_TOKENS));
    assert!((run.cost_usd - COST_USD).abs() < 1e-12, "{run:#?}");
    assert_eq!(buffer(&hub), (0, 0, 1));
}

/// Past the memory cap the oldest waiting trace is mapped as it stands to make room.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_oldest_trace_is_mapped_past_the_memory_cap() {
    let hub = support::start_with(limits(chrono::Duration::minutes(5), 2_000)).await;
    let [_, model, tool] = agent_run(1, "refund-bot");
    export_ok(&hub, "agent", &request("first-svc", [model, tool])).await;
    assert_eq!(buffer(&hub), (1, 2, 0), "one trace fits");
    assert!(hub.journaled_runs().is_empty());

    let [_, model, tool] = agent_run(2, "refund-bot");
    export_ok(&hub, "agent", &request("second-svc", [model, tool])).await;
    assert_eq!(buffer(&hub), (1, 2, 2), "the first trace made room");
    let run = only_run(&hub, "first-svc");
    assert_eq!(
        run.tokens.map(|t| (t.input, t.output)),
        Some((INPUT_TOKENS, OUTPUT_TOKENS))
    );
    assert_eq!(run.tool_calls.len(), 1, "{run:#?}");
    assert_eq!(hub.journaled_runs().len(), 1, "{:#?}", hub.journaled_runs());
}

/// One token's waiting spans never join another token's trace of the same id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn senders_do_not_share_traces() {
    let hub = support::start().await;
    let [agent, model, tool] = agent_run(1, "refund-bot");
    export_ok(&hub, "agent", &request("svc", [model, tool])).await;
    assert_eq!(buffer(&hub), (1, 2, 0));

    // `bot` speaks for refund-bot and sends the root of the same trace id.
    export_ok(&hub, "bot", &request("svc", [agent])).await;
    let run = only_run(&hub, "refund-bot");
    assert_eq!(run.tokens, None, "{run:#?}");
    assert!(run.tool_calls.is_empty(), "{run:#?}");
    assert_eq!(run.cost_usd, 0.0);
    assert_eq!(buffer(&hub), (1, 2, 0), "`agent`'s spans still wait");
}

/// Spans of a trace already mapped (an exporter's retry of a batch whose
/// answer was lost, a child that ended after its root) are stragglers: a
/// retried run counts once, and a late model span does not become a run
/// of the service with the same tokens counted twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stragglers_of_a_mapped_trace_make_no_second_run() {
    let hub = support::start_with(limits(chrono::Duration::seconds(1), 64 << 20)).await;
    let [agent, model, tool] = agent_run(1, "refund-bot");
    export_ok(
        &hub,
        "agent",
        &request("svc", [model.clone(), tool.clone()]),
    )
    .await;
    export_ok(&hub, "agent", &request("svc", [agent.clone()])).await;
    // The children again, as a retry sends them: taken, not counted again.
    let late = export(&hub, "agent", &request("svc", [model, tool])).await;
    let answer: ExportTraceServiceResponse = late.protobuf();
    let partial = answer.partial_success.expect("a note");
    assert_eq!(partial.rejected_spans, 0);
    assert!(
        partial
            .error_message
            .contains("2 spans arrived after their trace was mapped"),
        "{partial:?}"
    );
    assert_eq!(buffer(&hub).0, 0, "stragglers do not wait");

    // A late child: the agent and tool spans first, the model span after.
    let [agent2, model2, tool2] = agent_run(2, "refund-bot");
    export_ok(&hub, "agent", &request("svc", [agent2, tool2])).await;
    assert_eq!(
        export(&hub, "agent", &request("svc", [model2]))
            .await
            .status,
        200
    );

    // Nothing waits, so nothing can expire into a run later: an expiry
    // pass a day ahead maps nothing.
    assert_eq!(buffer(&hub), (0, 0, 0));
    agentdeck::hub::lock(&hub.hub.core)
        .expire_traces(chrono::Utc::now() + chrono::Duration::days(1))
        .unwrap();
    let all = hub.journaled_runs();
    assert_eq!(all.len(), 2, "{all:#?}");
    assert!(
        all.iter().all(|(agent, _)| agent == "refund-bot"),
        "{all:#?}"
    );
    assert_eq!(buffer(&hub), (0, 0, 0));
}

/// Refusals that come before the body is read (token, role, size) answer
/// protobuf requests in protobuf too, as OTLP/HTTP asks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn early_refusals_answer_protobuf_in_protobuf() {
    let hub = support::start_with(Options {
        max_body_bytes: 4096,
        ..Options::default()
    })
    .await;
    let body = request("svc", agent_run(1, "refund-bot")).encode_to_vec();
    let headers = [("content-type", PROTOBUF)];
    let viewer = post(&hub, "/v1/traces", "viewer", &headers, body.clone()).await;
    let (status, code, message) = viewer.rpc_status();
    assert_eq!(
        (status, code),
        (403, tonic::Code::PermissionDenied),
        "{message}"
    );
    assert!(message.contains("role agent"), "{message}");

    let r = hub
        .http
        .post(hub.url("/v1/traces"))
        .bearer_auth("adk_not_a_token")
        .header("content-type", PROTOBUF)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let status: RpcStatus = Message::decode(r.bytes().await.unwrap()).unwrap();
    assert_eq!(tonic::Code::from(status.code), tonic::Code::Unauthenticated);

    let big = vec![0u8; 8192];
    let (status, code, message) = post(&hub, "/v1/traces", "agent", &headers, big)
        .await
        .rpc_status();
    assert_eq!(
        (status, code),
        (413, tonic::Code::InvalidArgument),
        "{message}"
    );
    assert!(message.contains("4096"), "{message}");
}

/// When storage refuses writes, an export gets `503` with `Retry-After`,
/// in its own encoding, so the exporter retries instead of dropping; once
/// storage recovers the retry lands.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storage_refusal_is_a_503_to_retry() {
    let hub = support::start().await;
    agentdeck::hub::lock(&hub.hub.core)
        .store()
        .sqlite()
        .expect("a SQLite hub")
        .set_read_only(true)
        .unwrap();
    let body = request("svc", agent_run(1, "refund-bot"));
    let r = hub
        .http
        .post(hub.url("/v1/traces"))
        .bearer_auth(hub.token("agent"))
        .header("content-type", PROTOBUF)
        .body(body.encode_to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers()["retry-after"], "5");
    let status: RpcStatus = Message::decode(r.bytes().await.unwrap()).unwrap();
    assert_eq!(tonic::Code::from(status.code), tonic::Code::Unavailable);
    assert!(hub.journaled_runs().is_empty());

    agentdeck::hub::lock(&hub.hub.core)
        .store()
        .sqlite()
        .expect("a SQLite hub")
        .set_read_only(false)
        .unwrap();
    export_ok(&hub, "agent", &body).await;
    assert_whole_run(&only_run(&hub, "refund-bot"));
}
