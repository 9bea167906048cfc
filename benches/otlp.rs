//! OTLP ingest benchmark (`cargo bench --bench otlp`): the same agent
//! traces as OTLP/protobuf and as OTLP/JSON, side by side in one run.
//!
//! The traces are what the Python SDK's batch exporter sends for agent
//! runs: exports of 128 traces (512 spans, the SDK's default batch), each
//! trace an `invoke_agent` span, two `chat` spans with token usage and an
//! `execute_tool` span, with the attributes real instrumentations write
//! (about 20 per span). Bodies are made before any clock starts.
//!
//! (a) in-process, one thread: bytes to mapped runs (`Export::from_*` then
//!     `map_alone`), next to the bare parse of the same bytes as the anchor
//!     of each format (prost's decode of the generated types;
//!     `serde_json::Value`);
//! (b) over loopback HTTP against a real hub: `POST /v1/traces` with each
//!     encoding from 2 concurrent clients, plain and gzip; the runs
//!     journaled are checked against the runs sent.
//!
//! Environment: `AGENTDECK_BENCH_TRACES` (default 100000) sets the traces
//! of each run.

mod common;

use std::time::{Duration, Instant};

use agentdeck::hub::HubConfig;
use agentdeck::ingest::otlp::{Export, builtin_prices};
use common::{Rng, env_u64};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status, span};
use prost::Message;
use serde_json::{Value, json};

/// Traces per export: 512 spans, the SDK's default batch.
const TRACES_PER_EXPORT: usize = 128;

fn kv(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

fn s(key: &str, v: &str) -> KeyValue {
    kv(key, any_value::Value::StringValue(v.into()))
}

fn i(key: &str, v: i64) -> KeyValue {
    kv(key, any_value::Value::IntValue(v))
}

/// One agent run's four spans, ending `end_ns`.
fn trace(rng: &mut Rng, n: u64, end_ns: u64) -> Vec<Span> {
    let agent = common::AGENTS[(n % 10) as usize];
    let trace_id: Vec<u8> = (0..16).map(|_| rng.next() as u8).collect();
    let id = |k: u64| (n * 4 + k + 1).to_be_bytes().to_vec();
    let start = end_ns - 2_000_000_000;
    let failed = rng.below(100) < 3;
    let mut agent_span = Span {
        trace_id: trace_id.clone(),
        span_id: id(0),
        name: format!("invoke_agent {agent}"),
        kind: span::SpanKind::Internal as i32,
        start_time_unix_nano: start,
        end_time_unix_nano: end_ns,
        attributes: vec![
            s("gen_ai.operation.name", "invoke_agent"),
            s("gen_ai.agent.name", agent),
            s("gen_ai.provider.name", "openai"),
            s("gen_ai.conversation.id", &format!("conv-{n:08}")),
            s("agentdeck.workflow", common::WORKFLOWS[(n % 5) as usize]),
        ],
        ..Default::default()
    };
    if failed {
        agent_span.status = Some(Status {
            message: "upstream timeout".into(),
            code: 2,
        });
        agent_span.attributes.push(s("error.type", "timeout"));
    }
    let chat = |k: u64, from: u64, to: u64, input: i64, output: i64| Span {
        trace_id: trace_id.clone(),
        span_id: id(k),
        parent_span_id: id(0),
        name: "chat gpt-4.1-mini".into(),
        kind: span::SpanKind::Client as i32,
        start_time_unix_nano: start + from,
        end_time_unix_nano: start + to,
        attributes: vec![
            s("gen_ai.operation.name", "chat"),
            s("gen_ai.provider.name", "openai"),
            s("gen_ai.request.model", "gpt-4.1-mini"),
            s("gen_ai.response.model", "gpt-4.1-mini-2025-04-14"),
            s("gen_ai.response.id", &format!("chatcmpl-{n:012}{k}")),
            s("gen_ai.response.finish_reasons", "stop"),
            i("gen_ai.usage.input_tokens", input),
            i("gen_ai.usage.output_tokens", output),
            i("gen_ai.usage.cache_read.input_tokens", input / 3),
            s("server.address", "api.openai.com"),
            i("server.port", 443),
        ],
        ..Default::default()
    };
    let tool = Span {
        trace_id: trace_id.clone(),
        span_id: id(3),
        parent_span_id: id(0),
        name: "execute_tool lookup_order".into(),
        kind: span::SpanKind::Internal as i32,
        start_time_unix_nano: start + 700_000_000,
        end_time_unix_nano: start + 900_000_000,
        attributes: vec![
            s("gen_ai.operation.name", "execute_tool"),
            s("gen_ai.tool.name", common::TOOLS[(n % 8) as usize]),
            s("gen_ai.tool.call.id", &format!("call_{n:010}")),
            s("gen_ai.tool.type", "function"),
        ],
        ..Default::default()
    };
    let input = 800 + rng.below(1200) as i64;
    vec![
        chat(
            1,
            10_000_000,
            690_000_000,
            input,
            120 + rng.below(300) as i64,
        ),
        tool,
        chat(2, 910_000_000, 1_990_000_000, input + 400, 200),
        agent_span,
    ]
}

/// Exports of `traces` traces, as protobuf and as canonical OTLP/JSON.
fn exports(traces: u64) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    let mut rng = Rng(0x07_1a_b5);
    let now = chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0) as u64;
    let (mut proto, mut json) = (Vec::new(), Vec::new());
    let mut n = 0;
    while n < traces {
        let spans: Vec<Span> = (n..(n + TRACES_PER_EXPORT as u64).min(traces))
            .flat_map(|k| trace(&mut rng, k, now - 60_000_000_000 + k * 1_000))
            .collect();
        n += TRACES_PER_EXPORT as u64;
        let request = ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource: Some(Resource {
                    attributes: vec![
                        s("service.name", "refund-svc"),
                        s("telemetry.sdk.name", "opentelemetry"),
                        s("telemetry.sdk.language", "python"),
                        s("telemetry.sdk.version", "1.45.2"),
                    ],
                    ..Default::default()
                }),
                scope_spans: vec![ScopeSpans {
                    scope: Some(InstrumentationScope {
                        name: "opentelemetry.instrumentation.openai_v2".into(),
                        version: "2.3b0".into(),
                        ..Default::default()
                    }),
                    spans,
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        json.push(to_json(&request).to_string().into_bytes());
        proto.push(request.encode_to_vec());
    }
    (proto, json)
}

/// The request as OTLP/JSON: camelCase, hex ids, 64-bit values as strings.
fn to_json(r: &ExportTraceServiceRequest) -> Value {
    let attrs = |kvs: &[KeyValue]| -> Vec<Value> {
        kvs.iter()
            .map(|kv| {
                let value = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                    Some(any_value::Value::StringValue(s)) => json!({"stringValue": s}),
                    Some(any_value::Value::IntValue(i)) => json!({"intValue": i.to_string()}),
                    _ => json!({}),
                };
                json!({"key": kv.key, "value": value})
            })
            .collect()
    };
    let rs = &r.resource_spans[0];
    let ss = &rs.scope_spans[0];
    let spans: Vec<Value> = ss
        .spans
        .iter()
        .map(|sp| {
            let mut v = json!({
                "traceId": hex::encode(&sp.trace_id),
                "spanId": hex::encode(&sp.span_id),
                "parentSpanId": hex::encode(&sp.parent_span_id),
                "name": sp.name,
                "kind": sp.kind,
                "startTimeUnixNano": sp.start_time_unix_nano.to_string(),
                "endTimeUnixNano": sp.end_time_unix_nano.to_string(),
                "attributes": attrs(&sp.attributes),
            });
            if let Some(st) = &sp.status {
                v["status"] = json!({"code": st.code, "message": st.message});
            }
            v
        })
        .collect();
    let scope = ss
        .scope
        .as_ref()
        .map(|s| json!({"name": s.name, "version": s.version}));
    json!({"resourceSpans": [{
        "resource": {"attributes": attrs(&rs.resource.as_ref().map(|r| r.attributes.clone()).unwrap_or_default())},
        "scopeSpans": [{"scope": scope, "spans": spans}],
    }]})
}

fn mb(bodies: &[Vec<u8>]) -> f64 {
    bodies.iter().map(Vec::len).sum::<usize>() as f64 / 1e6
}

/// Best of three: runs per second of `f` over every body.
fn best_rate(bodies: &[Vec<u8>], runs: u64, f: impl Fn(&[u8]) -> u64) -> (f64, Duration) {
    let mut best = Duration::MAX;
    for _ in 0..3 {
        let t = Instant::now();
        let mapped: u64 = bodies.iter().map(|b| f(b)).sum();
        let took = t.elapsed();
        assert!(mapped == runs || mapped == 0, "{mapped} of {runs}");
        best = best.min(took);
    }
    (runs as f64 / best.as_secs_f64(), best)
}

fn in_process(proto: &[Vec<u8>], json_bodies: &[Vec<u8>], traces: u64) {
    let prices = builtin_prices();
    println!(
        "(a) in-process, one thread, {traces} traces ({} spans), best of 3",
        traces * 4
    );
    println!(
        "    bodies: protobuf {:.1} MB, JSON {:.1} MB ({:.1}x)",
        mb(proto),
        mb(json_bodies),
        mb(json_bodies) / mb(proto)
    );
    let rows = [
        (
            "prost decode only (anchor)",
            best_rate(proto, traces, |b| {
                let r = ExportTraceServiceRequest::decode(b).expect("decodes");
                std::hint::black_box(r);
                0
            }),
        ),
        (
            "protobuf -> runs (agentdeck)",
            best_rate(proto, traces, |b| {
                let m = Export::from_protobuf(b).expect("reads").map_alone(&prices);
                m.envelopes.len() as u64
            }),
        ),
        (
            "serde_json::Value only (anchor)",
            best_rate(json_bodies, traces, |b| {
                let v: Value = serde_json::from_slice(b).expect("parses");
                std::hint::black_box(v);
                0
            }),
        ),
        (
            "JSON -> runs (agentdeck)",
            best_rate(json_bodies, traces, |b| {
                let m = Export::from_json(b).expect("reads").map_alone(&prices);
                m.envelopes.len() as u64
            }),
        ),
    ];
    for (name, (rate, took)) in rows {
        println!(
            "    {name:<34} {:>10.0} traces/s {:>10.0} spans/s  ({} ms)",
            rate,
            rate * 4.0,
            took.as_millis()
        );
    }
}

fn gzip(body: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(body).expect("gzip");
    e.finish().expect("gzip")
}

async fn over_http(proto: &[Vec<u8>], json_bodies: &[Vec<u8>], traces: u64) {
    println!("(b) POST /v1/traces over loopback, 2 concurrent clients, a fresh hub each");
    let cases: [(&str, &[Vec<u8>], &str, bool); 4] = [
        ("protobuf", proto, "application/x-protobuf", false),
        ("protobuf + gzip", proto, "application/x-protobuf", true),
        ("JSON", json_bodies, "application/json", false),
        ("JSON + gzip", json_bodies, "application/json", true),
    ];
    for (name, bodies, content_type, gz) in cases {
        let bodies: Vec<Vec<u8>> = if gz {
            bodies.iter().map(|b| gzip(b)).collect()
        } else {
            bodies.to_vec()
        };
        let (rate, journaled) = post_all(&bodies, content_type, gz).await;
        assert_eq!(journaled, traces, "{name}: runs journaled");
        println!(
            "    {name:<18} {:>8.0} traces/s {:>8.0} spans/s  ({:.1} MB sent)",
            rate,
            rate * 4.0,
            mb(&bodies)
        );
    }
}

async fn post_all(bodies: &[Vec<u8>], content_type: &str, gz: bool) -> (f64, u64) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut tokens = agentdeck::hub::auth::TokenStore::default();
    tokens
        .add_token(
            "adk_bench_agent",
            "gateway",
            agentdeck::model::role::Role::Agent,
        )
        .expect("token");
    let hub = agentdeck::hub::start(HubConfig {
        listen: "127.0.0.1:0".parse().expect("addr"),
        db: dir.path().join("hub.db"),
        tokens,
        specs: agentdeck::engine::spec::default_specs(),
        policy: Default::default(),
        max_body_bytes: agentdeck::hub::DEFAULT_MAX_BODY_BYTES,
        stream: Default::default(),
        runbooks: Vec::new(),
        otlp: Default::default(),
        retain_events: agentdeck::hub::DEFAULT_RETAIN_EVENTS,
        notify: None,
        sources: None,
        advertise: None,
    })
    .await
    .expect("hub");
    let url = format!("{}/v1/traces", hub.url());
    let clients = 2;
    let t = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..clients {
        let mine: Vec<Vec<u8>> = bodies.iter().skip(c).step_by(clients).cloned().collect();
        let (url, content_type) = (url.clone(), content_type.to_string());
        tasks.push(tokio::spawn(async move {
            let http = reqwest::Client::builder()
                .no_proxy()
                .build()
                .expect("client");
            for body in mine {
                let mut req = http
                    .post(&url)
                    .bearer_auth("adk_bench_agent")
                    .header("Content-Type", &content_type);
                if gz {
                    req = req.header("Content-Encoding", "gzip");
                }
                let r = req.body(body).send().await.expect("post");
                assert_eq!(r.status(), 200, "{:?}", r.text().await);
            }
        }));
    }
    for task in tasks {
        task.await.expect("client");
    }
    let took = t.elapsed();
    let journaled = {
        let core = agentdeck::hub::lock(&hub.core);
        let mut n = 0u64;
        core.store().for_each_event(0, |_| n += 1).expect("journal");
        n
    };
    hub.stop().await;
    let runs = journaled as f64;
    (runs / took.as_secs_f64(), journaled)
}

fn main() {
    let traces = env_u64("AGENTDECK_BENCH_TRACES", 100_000);
    let (proto, json_bodies) = exports(traces);
    println!(
        "OTLP ingest, {} exports of {TRACES_PER_EXPORT} agent traces (4 spans each)",
        proto.len()
    );
    in_process(&proto, &json_bodies, traces);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(over_http(&proto, &json_bodies, traces));
}
