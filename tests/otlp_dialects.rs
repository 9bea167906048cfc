//! The attribute dialects real GenAI instrumentations write, one fixture
//! each in `tests/fixtures/otlp/dialects` (written from each project's
//! source; see its README): the same agent run must come out of every one.
//! Run: agent `refund-bot`, 80 ms, two calls to gpt-4.1-mini (1,200 + 800
//! input tokens, 400 of them cached; 300 + 200 output), one `lookup_order`
//! tool call that succeeds.

use agentdeck::ingest::otlp::{Mapped, map_export};
use agentdeck::model::envelope::{Event, Outcome, RunFinished, ToolStatus};

fn fixture(name: &str) -> Mapped {
    let path = format!(
        "{}/tests/fixtures/otlp/dialects/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let body = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mapped = map_export(&body).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert!(mapped.errors.is_empty(), "{name}: {:?}", mapped.errors);
    assert_eq!(mapped.rejected_spans, 0, "{name}");
    // Every span is accounted for once.
    assert_eq!(mapped.accounted(), mapped.spans, "{name}: {mapped:#?}");
    mapped
}

/// The one run a fixture maps to, with its agent.
fn the_run(name: &str) -> (String, RunFinished) {
    let mapped = fixture(name);
    let runs: Vec<_> = mapped
        .envelopes
        .iter()
        .filter_map(|e| match &e.event {
            Event::RunFinished(r) => Some((e.agent.clone(), r.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(runs.len(), 1, "{name}: {runs:#?}");
    assert_eq!(
        mapped.envelopes.len(),
        1,
        "{name}: nothing else than the run: {:#?}",
        mapped.envelopes
    );
    runs.into_iter().next().unwrap()
}

/// gpt-4.1-mini at 0.40 / 1.60 USD per million input / output tokens and
/// 0.10 for cached input.
fn cost(cached: u64) -> f64 {
    let input = 2000 - cached;
    (input as f64 * 0.40 + cached as f64 * 0.10 + 500.0 * 1.60) / 1e6
}

fn assert_story(name: &str, agent: &str, run: &RunFinished, cached: u64) {
    assert_eq!(agent, "refund-bot", "{name}");
    assert_eq!(run.outcome, Outcome::Success, "{name}");
    assert_eq!(run.latency_ms, 80, "{name}");
    let tokens = run.tokens.unwrap_or_else(|| panic!("{name}: no tokens"));
    assert_eq!((tokens.input, tokens.output), (2000, 500), "{name}");
    let tools: Vec<_> = run
        .tool_calls
        .iter()
        .map(|c| (c.tool.as_str(), c.status))
        .collect();
    assert_eq!(tools, [("lookup_order", ToolStatus::Ok)], "{name}");
    assert_eq!(run.unpriced_model, None, "{name}");
    assert!(
        (run.cost_usd - cost(cached)).abs() < 1e-12,
        "{name}: cost {} (expected {})",
        run.cost_usd,
        cost(cached)
    );
    assert_eq!(
        run.versions.model.as_deref(),
        Some("gpt-4.1-mini-2025-04-14"),
        "{name}"
    );
}

#[test]
fn genai_semantic_conventions_current() {
    let (agent, run) = the_run("genai_current.json");
    // The agent span also carries the run's usage totals: counted once.
    assert_story("genai_current", &agent, &run, 400);
}

#[test]
fn openllmetry_traceloop_spans() {
    for name in ["openllmetry.json", "openllmetry_current.json"] {
        let (agent, run) = the_run(name);
        assert_story(name, &agent, &run, 400);
    }
}

#[test]
fn openinference_spans() {
    let (agent, run) = the_run("openinference.json");
    assert_story("openinference", &agent, &run, 400);
}

/// The OpenAI Agents SDK through its OpenInference bridge: a nameless
/// `Agent workflow` AGENT span wraps the named agent's span; the run is
/// the named agent's.
#[test]
fn openai_agents_sdk_spans() {
    let (agent, run) = the_run("openai_agents.json");
    assert_story("openai_agents", &agent, &run, 400);
}

/// The bridge leaves the workflow span OK when the agent fails: the
/// agent's own span says so.
#[test]
fn openai_agents_sdk_failed_run() {
    let (agent, run) = the_run("openai_agents_failed.json");
    assert_eq!(agent, "refund-bot");
    assert_eq!(run.outcome, Outcome::Failed, "{run:#?}");
    assert!(run.error.is_some(), "{run:#?}");
    assert_eq!(run.tool_calls.len(), 1);
    assert_eq!(run.tool_calls[0].status, ToolStatus::Error);
}

/// Pydantic AI reports each call's cost itself (`operation.cost`), which
/// wins over the price table; both versions of its span shapes.
#[test]
fn pydantic_ai_spans() {
    for name in ["pydantic_ai.json", "pydantic_ai_v1.json"] {
        let (agent, run) = the_run(name);
        assert_story(name, &agent, &run, 400);
    }
}

/// The older conventions (`gen_ai.system`, `prompt_tokens`) have no agent
/// or tool span: the trace is one run of its service, as documented.
#[test]
fn genai_semantic_conventions_legacy() {
    let (agent, run) = the_run("genai_legacy.json");
    assert_eq!(agent, "refund-svc");
    assert_eq!(run.outcome, Outcome::Success);
    let tokens = run.tokens.unwrap();
    assert_eq!((tokens.input, tokens.output), (2000, 500));
    assert!((run.cost_usd - cost(0)).abs() < 1e-12, "{}", run.cost_usd);
}

/// A model the table does not know leaves the run's cost unknown, named,
/// rather than a silent zero.
#[test]
fn an_unknown_model_is_named_not_priced_at_zero() {
    let path = format!(
        "{}/tests/fixtures/otlp/dialects/genai_current.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let body = std::fs::read_to_string(path)
        .unwrap()
        .replace("gpt-4.1-mini", "acme-llm-7");
    let mapped = map_export(body.as_bytes()).unwrap();
    let Event::RunFinished(run) = &mapped.envelopes[0].event else {
        panic!("{mapped:#?}");
    };
    assert_eq!(run.unpriced_model.as_deref(), Some("acme-llm-7-2025-04-14"));
    assert_eq!(run.cost_usd, 0.0);
}
