//! The official OpenTelemetry Python SDK and its own exporters against a
//! hub started here: OTLP/HTTP protobuf, protobuf with gzip, JSON (the SDK's
//! encoder, written as JSON the way generic converters do, base64 ids and
//! all) and gRPC, each sending a real agent run (an agent span, two model
//! spans, a tool span). The hub's journal must then hold exactly the run
//! the SDK described: agent, outcome, latency, tokens, tool calls, model
//! and cost from the price table.
//!
//! The SDK lives in a virtual environment made by `tests/otel/setup_venv.sh`
//! with pinned versions (`tests/otel/requirements.txt`). When Python or
//! PyPI is out of reach the tests say so and pass, unless
//! `AGENTDECK_REQUIRE_OTEL_SDK` is set, as `.ci/run` sets it.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use agentdeck::model::envelope::{Outcome, RunFinished, ToolStatus};
use serde_json::Value;

/// The agent run the harness sends (see tests/otel/README.md).
const INPUT_TOKENS: u64 = 1200 + 800;
const OUTPUT_TOKENS: u64 = 300 + 200;
/// gpt-4.1-mini at 0.40 / 1.60 / 0.10 USD per million tokens: the first
/// call reads 400 of its 1,200 input tokens from the cache.
const COST_USD: f64 =
    (800.0 * 0.40 + 400.0 * 0.10 + 300.0 * 1.60 + 800.0 * 0.40 + 200.0 * 1.60) / 1e6;

/// The venv's python, made once per test binary; `None` (with the reason
/// printed) when it cannot be made here.
fn python() -> Option<&'static Path> {
    static PYTHON: OnceLock<Option<PathBuf>> = OnceLock::new();
    PYTHON
        .get_or_init(|| {
            let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join("otel-venv");
            let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/otel/setup_venv.sh");
            let out = Command::new("bash")
                .arg(&script)
                .arg(&venv)
                .stderr(Stdio::inherit())
                .output();
            let required = std::env::var_os("AGENTDECK_REQUIRE_OTEL_SDK").is_some();
            match out {
                Ok(o) if o.status.success() => {
                    let stdout = String::from_utf8_lossy(&o.stdout);
                    let path = stdout.lines().last().unwrap_or_default().trim().to_string();
                    Some(PathBuf::from(path))
                }
                other if required => panic!(
                    "AGENTDECK_REQUIRE_OTEL_SDK is set and the OpenTelemetry SDK venv could not be made: {other:?}"
                ),
                other => {
                    eprintln!(
                        "SKIPPED: the OpenTelemetry Python SDK could not be installed ({other:?}); run tests/otel/setup_venv.sh to see why"
                    );
                    None
                }
            }
        })
        .as_deref()
}

/// One run of the harness: its JSON line, after checking that every export
/// reported SUCCESS.
async fn send(python: &Path, endpoint: &str, token: &str, args: &[&str]) -> Value {
    let python = python.to_path_buf();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/otel/agent.py");
    let mut command = Command::new(python);
    command
        .arg(script)
        .args(["--endpoint", endpoint, "--token", token])
        .args(args)
        .stderr(Stdio::piped());
    let out = tokio::task::spawn_blocking(move || command.output())
        .await
        .unwrap()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "agent.py {args:?} failed ({}):\nstdout: {stdout}\nstderr: {stderr}",
        out.status
    );
    let line: Value = serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("agent.py printed no JSON line ({e}): {stdout}"));
    assert!(
        line["results"]
            .as_array()
            .is_some_and(|r| !r.is_empty() && r.iter().all(|x| x == "SUCCESS")),
        "{line}\n{stderr}"
    );
    line
}

/// The runs of `agent` in the hub's journal.
fn journaled_runs(hub: &support::TestHub, agent: &str) -> Vec<RunFinished> {
    hub.journaled_runs()
        .into_iter()
        .filter(|(a, _)| a == agent)
        .map(|(_, run)| run)
        .collect()
}

/// Waits for `count` runs of `agent` to be journaled, and that no more come.
async fn runs_of(hub: &support::TestHub, agent: &str, count: usize) -> Vec<RunFinished> {
    for _ in 0..100 {
        if journaled_runs(hub, agent).len() >= count {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let runs = journaled_runs(hub, agent);
    assert_eq!(runs.len(), count, "runs of {agent}: {runs:#?}");
    runs
}

/// Checks a run is the harness's run, whole.
fn assert_whole_run(run: &RunFinished, outcome: Outcome) {
    assert_eq!(run.outcome, outcome, "{run:#?}");
    assert_eq!(run.latency_ms, 80, "{run:#?}");
    let tokens = run.tokens.expect("tokens");
    assert_eq!((tokens.input, tokens.output), (INPUT_TOKENS, OUTPUT_TOKENS));
    assert_eq!(run.tool_calls.len(), 1, "{run:#?}");
    assert_eq!(run.tool_calls[0].tool, "lookup_order");
    assert_eq!(run.tool_calls[0].latency_ms, Some(10));
    assert_eq!(
        run.versions.model.as_deref(),
        Some("gpt-4.1-mini-2025-04-14"),
        "the response model of the last call"
    );
    assert!(
        (run.cost_usd - COST_USD).abs() < 1e-12,
        "cost {} (expected {COST_USD}): {run:#?}",
        run.cost_usd
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_protobuf_exporter_sends_a_whole_run() {
    let Some(python) = python() else { return };
    let hub = support::start().await;
    let token = hub.token("agent").to_string();
    let url = hub.hub.url();
    let args = [
        "--protocol",
        "http/protobuf",
        "--scenario",
        "ok",
        "--agent",
        "sdk-proto",
    ];
    send(python, &url, &token, &args).await;
    let runs = runs_of(&hub, "sdk-proto", 1).await;
    assert_whole_run(&runs[0], Outcome::Success);
    assert_eq!(runs[0].tool_calls[0].status, ToolStatus::Ok);

    // The same export again (an exporter's retry) is the same run.
    send(python, &url, &token, &args).await;
    runs_of(&hub, "sdk-proto", 2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_protobuf_gzip_exporter_sends_a_failed_run() {
    let Some(python) = python() else { return };
    let hub = support::start().await;
    let token = hub.token("agent").to_string();
    let args = [
        "--protocol",
        "http/protobuf",
        "--gzip",
        "--scenario",
        "failed",
        "--agent",
        "sdk-gzip",
    ];
    send(python, &hub.hub.url(), &token, &args).await;
    let runs = runs_of(&hub, "sdk-gzip", 1).await;
    assert_whole_run(&runs[0], Outcome::Failed);
    assert_eq!(runs[0].error.as_deref(), Some("upstream timeout"));
    assert_eq!(runs[0].tool_calls[0].status, ToolStatus::Error);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_json_exporter_with_base64_ids_sends_a_whole_run() {
    let Some(python) = python() else { return };
    let hub = support::start().await;
    let token = hub.token("agent").to_string();
    for (agent, gzip) in [("sdk-json", None), ("sdk-json-gz", Some("--gzip"))] {
        let mut args = vec![
            "--protocol",
            "http/json",
            "--scenario",
            "ok",
            "--agent",
            agent,
        ];
        args.extend(gzip);
        send(python, &hub.hub.url(), &token, &args).await;
        let runs = runs_of(&hub, agent, 1).await;
        assert_whole_run(&runs[0], Outcome::Success);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_exporter_reaches_the_hub_port_and_its_own_port() {
    let Some(python) = python() else { return };
    let hub = support::start_with(support::Options {
        otlp: agentdeck::hub::OtlpConfig {
            grpc_listen: Some("127.0.0.1:0".parse().unwrap()),
            ..Default::default()
        },
        ..Default::default()
    })
    .await;
    let token = hub.token("agent").to_string();
    // gRPC on the hub's own port, beside its HTTP routes.
    let args = [
        "--protocol",
        "grpc",
        "--scenario",
        "ok",
        "--agent",
        "sdk-grpc",
    ];
    send(python, &hub.hub.url(), &token, &args).await;
    assert_whole_run(&runs_of(&hub, "sdk-grpc", 1).await[0], Outcome::Success);
    // And on --otlp-grpc-listen, compressed, one span per export.
    let grpc = format!("http://{}", hub.hub.grpc_addr.expect("a gRPC port"));
    let args = [
        "--protocol",
        "grpc",
        "--gzip",
        "--scenario",
        "long",
        "--agent",
        "sdk-grpc-long",
    ];
    let line = send(python, &grpc, &token, &args).await;
    assert_eq!(line["exported"], 4, "{line}");
    assert_whole_run(
        &runs_of(&hub, "sdk-grpc-long", 1).await[0],
        Outcome::Success,
    );
}

/// With one span per export (the SDK's SimpleSpanProcessor), the model and
/// tool spans arrive before their agent span: they wait for it, and the
/// run is counted once with everything in it, not once per span.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_exported_before_their_agent_span_join_its_run() {
    let Some(python) = python() else { return };
    let hub = support::start().await;
    let token = hub.token("agent").to_string();
    let args = [
        "--protocol",
        "http/protobuf",
        "--scenario",
        "long",
        "--agent",
        "sdk-long",
    ];
    let line = send(python, &hub.hub.url(), &token, &args).await;
    assert_eq!(line["exported"], 4, "{line}");
    let runs = runs_of(&hub, "sdk-long", 1).await;
    assert_whole_run(&runs[0], Outcome::Success);
    // Nothing of that trace still waits, and no lone model span became a
    // run of the service.
    let core = agentdeck::hub::lock(&hub.hub.core);
    assert_eq!(core.trace_buffer().0, 0);
    drop(core);
    assert!(journaled_runs(&hub, "refund-svc").is_empty());
}
