//! Hostile input at the hub's boundary, against a real hub on loopback:
//! oversize bodies, deep nesting, invalid UTF-8, numbers out of range and
//! timestamps far from now, on `/v1/events`, `/v1/traces` and the action
//! endpoints. Each is answered with a clear refusal naming what was wrong
//! (a `4xx`, or for NDJSON ingest, which judges each line on its own, a
//! `200` listing the refused line and why: protocol §7.2), never a panic,
//! and the hub answers `/healthz` after every one.

mod support;

use std::time::Duration;

use chrono::Utc;
use serde_json::{Value, json};
use support::TestHub;

/// `depth` nested arrays, `[[[…]]]`.
fn nested(depth: usize) -> String {
    let mut s = String::with_capacity(depth * 2);
    s.push_str(&"[".repeat(depth));
    s.push_str(&"]".repeat(depth));
    s
}

const DEEP: usize = 100_000;

/// Sends `body` as is and returns the status and the JSON answer (or the
/// text, as a JSON string, when the answer is not JSON).
async fn send(
    hub: &TestHub,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: impl Into<reqwest::Body>,
) -> (u16, Value) {
    let r = hub
        .http
        .request(method, hub.url(path))
        .bearer_auth(hub.token(token))
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{path}: no answer (did the hub fall over?): {e}"));
    let status = r.status().as_u16();
    let bytes = r.bytes().await.unwrap_or_default();
    let value = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    (status, value)
}

async fn post(
    hub: &TestHub,
    path: &str,
    token: &str,
    body: impl Into<reqwest::Body>,
) -> (u16, Value) {
    send(hub, reqwest::Method::POST, path, token, body).await
}

/// The hub is up and answers its health check.
async fn assert_alive(hub: &TestHub, after: &str) {
    let r = hub
        .http
        .get(hub.url("/healthz"))
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .unwrap_or_else(|e| panic!("the hub is down after {after}: {e}"));
    assert_eq!(r.status().as_u16(), 200, "health after {after}");
}

/// `GET /v1/state` answers a snapshot the TUI's own decoder reads.
async fn assert_state_decodes(hub: &TestHub, after: &str) {
    let r = hub
        .http
        .get(hub.url("/v1/state"))
        .bearer_auth(hub.token("lead"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("no state after {after}: {e}"));
    assert_eq!(r.status().as_u16(), 200, "state after {after}");
    let bytes = r.bytes().await.unwrap();
    if let Err(e) = serde_json::from_slice::<agentdeck::model::stream::Snapshot>(&bytes) {
        panic!("the state no longer decodes after {after}: {e}");
    }
}

/// A 4xx whose `error` mentions every one of `words` (case-insensitive).
#[track_caller]
fn assert_refused(what: &str, (status, body): &(u16, Value), expected: u16, words: &[&str]) {
    assert_eq!(*status, expected, "{what}: {body}");
    let error = body["error"]
        .as_str()
        .unwrap_or_else(|| panic!("{what}: no error message in {body}"));
    for w in words {
        assert!(
            error.to_lowercase().contains(&w.to_lowercase()),
            "{what}: {error:?} does not mention {w:?}"
        );
    }
}

/// A `POST /v1/events` answer of 200 that accepted nothing and refused
/// line `line` with a reason mentioning every one of `words`.
#[track_caller]
fn assert_line_refused(what: &str, (status, body): &(u16, Value), line: u64, words: &[&str]) {
    assert_eq!(*status, 200, "{what}: {body}");
    assert_eq!(body["accepted"], 0, "{what}: {body}");
    let rejected = body["rejected"].as_array().expect("rejected lines");
    let entry = rejected
        .iter()
        .find(|r| r["line"] == line)
        .unwrap_or_else(|| panic!("{what}: line {line} not refused: {body}"));
    let error = entry["error"].as_str().unwrap_or_default().to_lowercase();
    for w in words {
        assert!(
            error.contains(&w.to_lowercase()),
            "{what}: {error:?} does not mention {w:?}"
        );
    }
}

fn ts_now() -> String {
    support::ts(Utc::now())
}

/// A valid `run.finished` line with `field` set to the raw JSON `value`.
fn run_with(field: &str, value: &str) -> String {
    let mut v = json!({
        "v": 1, "type": "run.finished", "ts": ts_now(), "agent": "refund-bot",
        "run_id": "r-1", "workflow": "refund", "outcome": "success",
        "latency_ms": 1200, "cost_usd": 0.02,
    });
    v.as_object_mut().unwrap().remove(field);
    let mut line = v.to_string();
    line.pop();
    format!("{line},\"{field}\":{value}}}")
}

/// A minimal OTLP export of one agent span with the given start and end.
fn otlp(start: &str, end: &str) -> String {
    format!(
        r#"{{"resourceSpans":[{{"resource":{{"attributes":[{{"key":"service.name","value":{{"stringValue":"refund-bot"}}}}]}},"scopeSpans":[{{"spans":[{{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","name":"invoke_agent refund-bot","startTimeUnixNano":{start},"endTimeUnixNano":{end},"attributes":[{{"key":"gen_ai.operation.name","value":{{"stringValue":"invoke_agent"}}}}]}}]}}]}}]}}"#
    )
}

fn now_nanos() -> i64 {
    Utc::now().timestamp_nanos_opt().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversize_bodies_get_413_naming_the_limit() {
    let hub = support::start_with(support::Options {
        max_body_bytes: 64 * 1024,
        ..Default::default()
    })
    .await;
    let big = "x".repeat(100 * 1024);
    for (path, token) in [
        ("/v1/events", "agent"),
        ("/v1/traces", "agent"),
        ("/v1/controls", "lead"),
        ("/v1/incidents", "lead"),
        ("/v1/approvals/APR-1/decision", "lead"),
    ] {
        let answer = post(&hub, path, token, big.clone()).await;
        assert_refused(path, &answer, 413, &["65536 bytes", "limit"]);
        assert_alive(&hub, path).await;
    }
    // A body far over the limit still gets its answer, not a reset: the
    // hub reads the rest before it answers (up to 16 MiB).
    let huge = "x".repeat(8 * 1024 * 1024);
    for _ in 0..5 {
        let answer = post(&hub, "/v1/events", "agent", huge.clone()).await;
        assert_refused("an 8 MiB body", &answer, 413, &["65536 bytes", "limit"]);
    }
    // Without a Content-Length the limit holds while the body streams in.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..100).map(|_| Ok(vec![b' '; 4096])).collect();
    let streamed = reqwest::Body::wrap_stream(futures_util::stream::iter(chunks));
    let answer = post(&hub, "/v1/events", "agent", streamed).await;
    assert_refused("streamed body", &answer, 413, &["limit"]);
    assert_alive(&hub, "a streamed oversize body").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_overlong_line_is_refused_and_its_neighbours_kept() {
    let hub = support::start().await;
    let long = run_with("error", &format!("\"{}\"", "e".repeat(1024 * 1024)));
    let body = format!(
        "{long}\n{}\n",
        support::run_line("refund-bot", "r-2", "success", Utc::now())
    );
    let (status, answer) = post(&hub, "/v1/events", "agent", body).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["accepted"], 1, "{answer}");
    assert_eq!(answer["rejected"][0]["line"], 1, "{answer}");
    let error = answer["rejected"][0]["error"].as_str().unwrap();
    assert!(
        error.contains("too long") && error.contains("limit"),
        "{error}"
    );
    assert_alive(&hub, "an overlong line").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deep_nesting_is_refused_not_recursed_into() {
    let hub = support::start().await;
    let deep = nested(DEEP);

    // NDJSON: as a whole line, and inside fields of an envelope: one that
    // takes any JSON (approval arguments), a string field, an unknown one.
    let approval = format!(
        r#"{{"v":1,"type":"approval.requested","ts":"{}","agent":"refund-bot","request_id":"rq-1","action":"issue_refund","tool":"issue_refund","risk":"high","deadline":"{}","args":{deep}}}"#,
        ts_now(),
        support::ts(Utc::now() + chrono::Duration::minutes(10)),
    );
    let unknown = format!(
        r#"{{"v":1,"type":"heartbeat","ts":"{}","agent":"refund-bot","extra":{deep}}}"#,
        ts_now()
    );
    for (what, line, words) in [
        (
            "nested line",
            deep.clone(),
            &["expected an event envelope object"][..],
        ),
        (
            "nested args",
            approval,
            &["field \"args\"", "recursion limit"][..],
        ),
        (
            "nested string field",
            run_with("error", &deep),
            &["field \"error\"", "sequence"][..],
        ),
        (
            "nested unknown field",
            unknown,
            &["unknown field \"extra\""][..],
        ),
    ] {
        let answer = post(&hub, "/v1/events", "agent", line).await;
        assert_line_refused(what, &answer, 1, words);
        assert_alive(&hub, what).await;
    }

    // OTLP: as the whole body, and as an attribute value.
    let answer = post(&hub, "/v1/traces", "agent", deep.clone()).await;
    assert_refused(
        "nested traces",
        &answer,
        400,
        &["ExportTraceServiceRequest"],
    );
    assert_alive(&hub, "nested traces").await;
    let in_attr = otlp(
        &format!("\"{}\"", now_nanos() - 1_000_000),
        &format!("\"{}\"", now_nanos()),
    )
    .replace(
        r#"{"stringValue":"invoke_agent"}"#,
        &format!(r#"{{"arrayValue":{{"values":{deep}}}}}"#),
    );
    let answer = post(&hub, "/v1/traces", "agent", in_attr).await;
    assert_refused(
        "nested attribute",
        &answer,
        400,
        &["resourceSpans[0].scopeSpans[0].spans[0].attributes[0]"],
    );
    assert_alive(&hub, "a nested OTLP attribute").await;
    // AnyValue inside AnyValue, as OTLP allows, 100,000 levels down.
    let mut value = String::from(r#"{"stringValue":"x"}"#);
    value = format!(
        "{}{value}{}",
        r#"{"arrayValue":{"values":["#.repeat(DEEP),
        "]}}".repeat(DEEP)
    );
    let in_any = otlp(
        &format!("\"{}\"", now_nanos() - 1_000_000),
        &format!("\"{}\"", now_nanos()),
    )
    .replace(r#"{"stringValue":"invoke_agent"}"#, &value);
    let answer = post(&hub, "/v1/traces", "agent", in_any).await;
    assert_refused(
        "nested AnyValue",
        &answer,
        400,
        &[
            "field \"resourceSpans[0].scopeSpans[0].spans[0].attributes[0].value.arrayValue",
            "recursion limit",
        ],
    );
    assert_alive(&hub, "nested OTLP AnyValues").await;

    // Action bodies: whole, and in a field.
    for (path, body, words) in [
        (
            "/v1/controls",
            deep.clone(),
            &["invalid body", "sequence"][..],
        ),
        (
            "/v1/controls",
            format!(r#"{{"agent":"refund-bot","kind":"pause_agent","reason":{deep}}}"#),
            &["field \"reason\"", "sequence"][..],
        ),
        ("/v1/incidents", deep.clone(), &["invalid body"][..]),
        (
            "/v1/approvals/APR-1/decision",
            deep.clone(),
            &["invalid body"][..],
        ),
        (
            "/v1/approvals/APR-1/decision",
            format!(r#"{{"decision":"approve","modified_args":{{"a":{deep}}}}}"#),
            &["field \"modified_args.a", "recursion limit"][..],
        ),
        (
            "/v1/incidents/INC-1/note",
            deep.clone(),
            &["invalid body"][..],
        ),
        ("/v1/presence", deep.clone(), &["invalid body"][..]),
        ("/v1/handoff/notes", deep.clone(), &["invalid body"][..]),
    ] {
        let answer = post(&hub, path, "lead", body).await;
        assert_refused(path, &answer, 400, words);
        assert_alive(&hub, path).await;
    }
    let answer = send(
        &hub,
        reqwest::Method::PUT,
        "/v1/agents/refund-bot/callback",
        "lead",
        deep.clone(),
    )
    .await;
    assert_refused("callback", &answer, 400, &["invalid body"]);
    assert_alive(&hub, "a nested callback registration").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_utf8_is_refused_with_where_it_is() {
    let hub = support::start().await;
    let mut line = support::run_line("refund-bot", "r-1", "success", Utc::now()).into_bytes();
    let at = line.len() - 10;
    line[at] = 0xff;
    let answer = post(&hub, "/v1/events", "agent", line.clone()).await;
    assert_line_refused("events", &answer, 1, &["UTF-8", &format!("offset {at}")]);
    assert_alive(&hub, "invalid UTF-8 in events").await;

    let mut traces = otlp("\"1\"", "\"2\"").into_bytes();
    let i = traces.iter().position(|&b| b == b'r').unwrap();
    traces[i] = 0xc3; // a lead byte with no continuation
    let answer = post(&hub, "/v1/traces", "agent", traces).await;
    assert_refused("traces", &answer, 400, &["UTF-8"]);
    assert_alive(&hub, "invalid UTF-8 in traces").await;

    let body =
        b"{\"agent\":\"refund-bot\",\"kind\":\"pause_agent\",\"reason\":\"\xff\xfe\"}".to_vec();
    let answer = post(&hub, "/v1/controls", "lead", body).await;
    assert_refused("controls", &answer, 400, &["UTF-8"]);
    assert_alive(&hub, "invalid UTF-8 in an action").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn numbers_out_of_range_are_refused_naming_the_field() {
    let hub = support::start().await;
    for (value, words) in [
        ("18446744073709551616", &["latency_ms"][..]),
        ("-5", &["latency_ms"][..]),
        ("1e400", &["latency_ms"][..]),
        ("\"NaN\"", &["latency_ms"][..]),
        ("1.5", &["latency_ms"][..]),
    ] {
        let answer = post(&hub, "/v1/events", "agent", run_with("latency_ms", value)).await;
        assert_line_refused(value, &answer, 1, words);
        assert_alive(&hub, value).await;
    }
    for value in ["1e400", "-1e400", "\"NaN\"", "\"Infinity\"", "-0.5"] {
        let answer = post(&hub, "/v1/events", "agent", run_with("cost_usd", value)).await;
        assert_line_refused(value, &answer, 1, &["cost_usd"]);
        assert_alive(&hub, value).await;
    }
    // Extremes that are in range are taken, and must not poison the
    // aggregates: sums saturate, and every client can still read the state
    // (an infinite or NaN number would be written as null and refused).
    for (field, value) in [
        ("latency_ms", "18446744073709551615"),
        ("cost_usd", "1e300"),
        ("cost_usd", "1.7976931348623157e308"),
    ] {
        let body = format!("{}\n{}\n", run_with(field, value), run_with(field, value));
        let (status, answer) = post(&hub, "/v1/events", "agent", body).await;
        assert_eq!(
            (status, &answer["accepted"]),
            (200, &json!(2)),
            "{field} {value}: {answer}"
        );
        assert_state_decodes(&hub, value).await;
    }
    // NaN itself is not JSON.
    let answer = post(&hub, "/v1/events", "agent", run_with("cost_usd", "NaN")).await;
    assert_line_refused("bare NaN", &answer, 1, &["invalid JSON"]);

    // Span times past what 64 bits hold, negative, NaN-like.
    for (start, end) in [
        ("\"18446744073709551616\"", "\"18446744073709551617\""),
        ("\"-1\"", "\"5\""),
        ("\"NaN\"", "\"NaN\""),
        ("\"1e400\"", "\"1e400\""),
    ] {
        let (status, answer) = post(&hub, "/v1/traces", "agent", otlp(start, end)).await;
        assert_eq!(status, 200, "{start}/{end}: {answer}");
        assert_eq!(
            answer["partialSuccess"]["rejectedSpans"], "1",
            "{start}/{end}: {answer}"
        );
        let message = answer["partialSuccess"]["errorMessage"].as_str().unwrap();
        assert!(message.contains("TimeUnixNano"), "{start}/{end}: {message}");
        assert_alive(&hub, start).await;
    }

    // A number JSON cannot hold refuses the whole export, naming the span.
    for (start, end) in [("1e400", "1e400"), ("-1e400", "1")] {
        let answer = post(&hub, "/v1/traces", "agent", otlp(start, end)).await;
        assert_refused(
            start,
            &answer,
            400,
            &["spans[0].startTimeUnixNano", "out of range"],
        );
        assert_alive(&hub, start).await;
    }

    // Action bodies.
    for (body, field) in [
        (
            r#"{"agent":"refund-bot","kind":"pause_agent","reason":"r","ttl_s":18446744073709551616}"#,
            "ttl_s",
        ),
        (
            r#"{"agent":"refund-bot","kind":"pause_agent","reason":"r","ttl_s":-1}"#,
            "ttl_s",
        ),
        (
            r#"{"agent":"refund-bot","kind":"pause_agent","reason":"r","ttl_s":1e400}"#,
            "ttl_s",
        ),
        (
            r#"{"agent":"refund-bot","kind":"pause_agent","reason":"r","ttl_s":"NaN"}"#,
            "ttl_s",
        ),
        (
            r#"{"agent":"refund-bot","kind":"pause_agent","reason":"r","ttl_s":18446744073709551615}"#,
            "ttl_s",
        ),
    ] {
        let answer = post(&hub, "/v1/controls", "lead", body.to_string()).await;
        assert_refused(body, &answer, 400, &[field]);
        assert_alive(&hub, body).await;
    }
    let answer = send(
        &hub,
        reqwest::Method::GET,
        "/v1/audit?after=18446744073709551616",
        "lead",
        "",
    )
    .await;
    assert_refused("audit after", &answer, 400, &["after"]);
    let answer = send(&hub, reqwest::Method::GET, "/v1/audit?limit=-1", "lead", "").await;
    assert_refused("audit limit", &answer, 400, &["limit"]);
    assert_alive(&hub, "audit queries").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timestamps_far_from_now_are_refused_naming_the_clock() {
    let hub = support::start().await;
    for (ts, words) in [
        ("0001-01-01T00:00:00Z", &["ts", "older than 90 days"][..]),
        ("1970-01-01T00:00:00Z", &["ts", "older than 90 days"][..]),
        (
            "9999-12-31T23:59:59Z",
            &["ts", "ahead of the hub's clock"][..],
        ),
        ("2026-02-30T00:00:00Z", &["ts"][..]),
        ("+275760-09-13T00:00:00Z", &["ts"][..]),
        ("not a time", &["ts"][..]),
    ] {
        let answer = post(
            &hub,
            "/v1/events",
            "agent",
            run_with("ts", &format!("\"{ts}\"")),
        )
        .await;
        assert_line_refused(ts, &answer, 1, words);
        assert_alive(&hub, ts).await;
    }
    // An approval whose deadline is far away either way.
    for deadline in ["9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z"] {
        let line = format!(
            r#"{{"v":1,"type":"approval.requested","ts":"{}","agent":"refund-bot","request_id":"rq-{}","action":"issue_refund","tool":"issue_refund","risk":"high","deadline":"{deadline}","args":{{}}}}"#,
            ts_now(),
            &deadline[..4]
        );
        let (status, answer) = post(&hub, "/v1/events", "agent", line).await;
        assert_eq!(status, 200, "{deadline}: {answer}");
        if answer["accepted"] == 0 {
            let error = answer["rejected"][0]["error"].as_str().unwrap_or_default();
            assert!(error.contains("deadline"), "{deadline}: {error}");
        }
        assert_alive(&hub, deadline).await;
    }
    // Spans at the epoch and far ahead.
    let ahead = (now_nanos() as u64 / 1_000_000_000 + 10 * 365 * 86_400) as u128 * 1_000_000_000;
    for (start, end, words) in [
        (
            "\"1000000000\"".to_string(),
            "\"2000000000\"".to_string(),
            "older than 90 days",
        ),
        (
            format!("\"{ahead}\""),
            format!("\"{}\"", ahead + 1),
            "ahead of the hub's clock",
        ),
    ] {
        let (status, answer) = post(&hub, "/v1/traces", "agent", otlp(&start, &end)).await;
        assert_eq!(status, 200, "{start}: {answer}");
        assert_eq!(
            answer["partialSuccess"]["rejectedSpans"], "1",
            "{start}: {answer}"
        );
        let message = answer["partialSuccess"]["errorMessage"].as_str().unwrap();
        assert!(message.contains(words), "{start}: {message}");
        assert_alive(&hub, &start).await;
    }
    assert_state_decodes(&hub, "far deadlines").await;
    // A shift window of eight thousand years is a valid (and cheap) question.
    let answer = send(
        &hub,
        reqwest::Method::GET,
        "/v1/handoff?from=0001-01-01T00:00:00Z&to=9999-12-31T23:59:59Z",
        "lead",
        "",
    )
    .await;
    assert_eq!(answer.0, 200, "{}", answer.1);
    // Windows backwards or not times at all are refused.
    for (query, words) in [
        (
            "from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z",
            &["before"][..],
        ),
        ("to=+275760-09-13T00:00:00Z", &["to", "RFC 3339"][..]),
        ("from=yesterday", &["from", "RFC 3339"][..]),
    ] {
        let answer = send(
            &hub,
            reqwest::Method::GET,
            &format!("/v1/handoff?{query}"),
            "lead",
            "",
        )
        .await;
        assert_refused(query, &answer, 400, words);
        assert_alive(&hub, query).await;
    }
}
