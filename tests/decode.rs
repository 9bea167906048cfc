//! Decoding of hostile and malformed envelope lines: every class of bad
//! input is refused with an error naming what was wrong, and nothing panics.

use agentdeck::model::envelope::{Envelope, Event, Outcome, ToolStatus};
use agentdeck::model::error::DecodeError;
use proptest::prelude::*;

const RUN: &str = r#"{"v":1,"type":"run.finished","ts":"2026-11-21T03:12:00Z","agent":"refund-bot","run_id":"r-1","workflow":"refund","outcome":"success","latency_ms":1840,"cost_usd":0.031,"tokens":{"input":412,"output":27},"tool_calls":[{"tool":"lookup_order","status":"ok","latency_ms":120},{"tool":"issue_refund","status":"error","error":"gateway 502"}],"policy_violations":[{"policy":"pii-in-output"}],"versions":{"model":"gpt-4o-2024-08-06","prompt":"v7"}}"#;

fn err(line: &str) -> String {
    match Envelope::decode(line) {
        Ok(env) => panic!("expected an error for {line}, got {env:?}"),
        Err(e) => e.to_string(),
    }
}

/// `RUN` with one field replaced (or removed when `value` is None).
fn run_with(field: &str, value: Option<serde_json::Value>) -> String {
    let mut v: serde_json::Value = serde_json::from_str(RUN).unwrap();
    let obj = v.as_object_mut().unwrap();
    match value {
        Some(value) => {
            obj.insert(field.to_string(), value);
        }
        None => {
            obj.remove(field);
        }
    }
    v.to_string()
}

#[test]
fn a_full_run_decodes_with_every_field() {
    let env = Envelope::decode(RUN).unwrap();
    assert_eq!(env.agent, "refund-bot");
    let Event::RunFinished(run) = &env.event else {
        panic!("not a run: {env:?}")
    };
    assert_eq!(run.outcome, Outcome::Success);
    assert_eq!(run.latency_ms, 1840);
    assert_eq!(run.tokens.unwrap().input, 412);
    assert_eq!(run.tool_calls[1].status, ToolStatus::Error);
    assert_eq!(run.tool_calls[1].error.as_deref(), Some("gateway 502"));
    assert_eq!(run.versions.prompt.as_deref(), Some("v7"));
    // Encoding gives a line that decodes to the same envelope.
    assert_eq!(Envelope::decode(&env.to_line()).unwrap(), env);
}

#[test]
fn optional_fields_take_their_defaults() {
    let env = Envelope::decode(
        r#"{"v":1,"type":"run.finished","ts":"2026-11-21T03:12:00+01:00","agent":"a","run_id":"r","outcome":"failed","latency_ms":5}"#,
    )
    .unwrap();
    let Event::RunFinished(run) = env.event else {
        panic!()
    };
    assert_eq!(run.workflow, "default");
    assert_eq!(run.cost_usd, 0.0);
    assert!(run.tool_calls.is_empty());
    // Offsets are normalised to UTC.
    assert_eq!(env.ts.to_rfc3339(), "2026-11-21T02:12:00+00:00");
}

#[test]
fn not_json_or_not_an_object() {
    assert!(err("").starts_with("invalid JSON"));
    assert!(err("{").starts_with("invalid JSON"));
    for not_object in ["[1,2]", "\"run\"", "null", "7"] {
        let e = err(not_object);
        assert!(e.contains("expected an event envelope object"), "{e}");
    }
    assert!(err(&format!("{RUN} trailing")).starts_with("invalid JSON"));
}

#[test]
fn version_is_required_and_must_be_one() {
    assert_eq!(
        err(&run_with("v", None)),
        "missing field \"v\" (required in every envelope)"
    );
    assert_eq!(
        err(&run_with("v", Some(2.into()))),
        "unsupported protocol version 2 (this side speaks v1)"
    );
    let e = err(&run_with("v", Some("1".into())));
    assert!(
        e.starts_with("field \"v\": invalid type: string \"1\""),
        "{e}"
    );
}

#[test]
fn unknown_type_is_named_with_the_known_ones() {
    let e = err(&run_with("type", Some("run.exploded".into())));
    assert!(
        e.starts_with("unknown event type \"run.exploded\" (expected one of: run.finished,"),
        "{e}"
    );
    assert!(err(&run_with("type", None)).contains("missing field \"type\""));
}

#[test]
fn missing_required_fields_are_named_for_every_type() {
    let cases = [
        (RUN, "run_id"),
        (RUN, "outcome"),
        (RUN, "latency_ms"),
        (RUN, "ts"),
        (RUN, "agent"),
        (
            r#"{"v":1,"type":"tool.called","ts":"2026-11-21T03:12:00Z","agent":"a","tool":"t","status":"ok"}"#,
            "tool",
        ),
        (
            r#"{"v":1,"type":"tool.called","ts":"2026-11-21T03:12:00Z","agent":"a","tool":"t","status":"ok"}"#,
            "status",
        ),
        (
            r#"{"v":1,"type":"escalation","ts":"2026-11-21T03:12:00Z","agent":"a","reason":"r"}"#,
            "reason",
        ),
        (
            r#"{"v":1,"type":"approval.requested","ts":"2026-11-21T03:12:00Z","agent":"a","request_id":"q","action":"x","risk":"low","deadline":"2026-11-21T03:20:00Z"}"#,
            "deadline",
        ),
        (
            r#"{"v":1,"type":"approval.requested","ts":"2026-11-21T03:12:00Z","agent":"a","request_id":"q","action":"x","risk":"low","deadline":"2026-11-21T03:20:00Z"}"#,
            "risk",
        ),
        (
            r#"{"v":1,"type":"incident.reported","ts":"2026-11-21T03:12:00Z","agent":"a","title":"t","severity":"SEV2","category":"drift"}"#,
            "category",
        ),
        (
            r#"{"v":1,"type":"change","ts":"2026-11-21T03:12:00Z","agent":"a","component":"prompt","version":"v8","deployed_by":"ci"}"#,
            "deployed_by",
        ),
    ];
    for (line, field) in cases {
        let mut v: serde_json::Value = serde_json::from_str(line).unwrap();
        v.as_object_mut().unwrap().remove(field);
        let e = err(&v.to_string());
        assert!(
            e.starts_with(&format!("missing field \"{field}\" (required in ")),
            "{field}: {e}"
        );
    }
}

#[test]
fn unknown_foreign_and_duplicate_fields() {
    assert_eq!(
        err(&run_with("colour", Some("red".into()))),
        "unknown field \"colour\""
    );
    assert_eq!(
        err(r#"{"v":1,"type":"heartbeat","ts":"2026-11-21T03:12:00Z","agent":"a","tool":"x"}"#),
        "field \"tool\" is not part of a heartbeat event"
    );
    assert_eq!(
        err(r#"{"v":1,"type":"heartbeat","ts":"2026-11-21T03:12:00Z","agent":"a","agent":"b"}"#),
        "duplicate field \"agent\""
    );
    let e = err(&run_with(
        "tool_calls",
        Some(serde_json::json!([{"tool":"x","status":"ok","secret":1}])),
    ));
    assert!(e.contains("unknown field `secret`"), "{e}");
    let e = err(&run_with(
        "tool_calls",
        Some(serde_json::json!([{"tool":"x"}])),
    ));
    assert_eq!(
        e,
        "missing field \"tool_calls[0].status\" (required in run.finished events)"
    );
}

#[test]
fn wrong_types_and_values() {
    for bad in [
        serde_json::Value::from("fast"),
        serde_json::Value::from(-1),
        serde_json::Value::from(1.5),
        serde_json::Value::Null,
    ] {
        let e = err(&run_with("latency_ms", Some(bad)));
        assert!(e.starts_with("field \"latency_ms\": invalid"), "{e}");
    }
    let e = err(&run_with("tokens", Some(serde_json::json!({"input": 1}))));
    assert!(
        e.starts_with("field \"tokens\": missing field `output`"),
        "{e}"
    );
    assert_eq!(
        err(&run_with("outcome", Some("ok".into()))),
        "field \"outcome\": \"ok\" is not one of success, escalated, failed, timed_out"
    );
    assert_eq!(
        err(&run_with("cost_usd", Some((-0.5).into()))),
        "field \"cost_usd\": must be a finite number ≥ 0"
    );
    // Out of f64 range is not a number serde_json accepts.
    let line = RUN.replace("\"cost_usd\":0.031", "\"cost_usd\":1e400");
    assert!(err(&line).starts_with("invalid JSON"));
    let line = RUN.replace("\"latency_ms\":1840", "\"latency_ms\":18446744073709551616");
    let e = err(&line);
    assert!(e.starts_with("field \"latency_ms\": invalid type"), "{e}");
    let e = err(&run_with("ts", Some("yesterday".into())));
    assert!(
        e.starts_with("field \"ts\": \"yesterday\" is not an RFC 3339"),
        "{e}"
    );
    let e = err(&run_with("ts", Some("2026-13-45T99:00:00Z".into())));
    assert!(e.starts_with("field \"ts\""), "{e}");
}

#[test]
fn identifiers_refuse_controls_spaces_and_emptiness() {
    for bad in [
        "",
        "refund bot",
        "bot\u{1b}[2J",
        "bot\u{202e}",
        "bøt",
        "a\nb",
    ] {
        let e = err(&run_with("agent", Some(bad.into())));
        assert!(e.starts_with("field \"agent\""), "{bad:?}: {e}");
    }
    let e = err(&run_with(
        "tool_calls",
        Some(serde_json::json!([{"tool":"rm\u{7}","status":"ok"}])),
    ));
    assert!(e.contains("control characters"), "{e}");
}

#[test]
fn oversize_strings_and_arrays_name_their_limit() {
    let e = err(&run_with("agent", Some("a".repeat(129).into())));
    assert_eq!(e, "field \"agent\" is too long: 129 bytes (limit 128)");
    let e = err(&run_with("error", Some("x".repeat(5000).into())));
    assert_eq!(e, "field \"error\" is too long: 5000 bytes (limit 4096)");
    let calls: Vec<_> = (0..257)
        .map(|_| serde_json::json!({"tool":"t","status":"ok"}))
        .collect();
    let e = err(&run_with("tool_calls", Some(calls.into())));
    assert_eq!(
        e,
        "field \"tool_calls\" has too many items: 257 (limit 256)"
    );
    let title = "t".repeat(300);
    let e = err(&format!(
        r#"{{"v":1,"type":"incident.reported","ts":"2026-11-21T03:12:00Z","agent":"a","title":"{title}","severity":"SEV2","category":"drift"}}"#
    ));
    assert_eq!(e, "field \"title\" is too long: 300 bytes (limit 256)");
    let huge = format!("{{\"v\":1,\"pad\":\"{}\"}}", "x".repeat(1024 * 1024));
    assert!(matches!(
        Envelope::decode(&huge),
        Err(DecodeError::LineTooLong { .. })
    ));
}

#[test]
fn approval_args_must_be_a_bounded_object() {
    let base = r#"{"v":1,"type":"approval.requested","ts":"2026-11-21T03:12:00Z","agent":"refund-bot","request_id":"q-1","action":"issue_refund","risk":"high","deadline":"2026-11-21T03:20:00Z","args":ARGS}"#;
    assert!(Envelope::decode(&base.replace("ARGS", r#"{"amount_usd":420}"#)).is_ok());
    assert_eq!(
        err(&base.replace("ARGS", "[1]")),
        "field \"args\": must be a JSON object"
    );
    let big = format!("{{\"blob\":\"{}\"}}", "x".repeat(17 * 1024));
    assert!(err(&base.replace("ARGS", &big)).starts_with("field \"args\" is too long"));
    // Deep nesting hits serde_json's recursion limit: an error, not a stack overflow.
    let deep = format!("{}1{}", "{\"a\":".repeat(10_000), "}".repeat(10_000));
    assert!(err(&base.replace("ARGS", &deep)).starts_with("invalid JSON"));
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    assert!(err(&base.replace("ARGS", &deep)).starts_with("invalid JSON"));
}

#[test]
fn invalid_utf8_is_refused_with_its_offset() {
    let mut line = RUN.as_bytes().to_vec();
    line[30] = 0xff;
    let e = Envelope::decode_bytes(&line).unwrap_err().to_string();
    assert_eq!(
        e,
        "invalid JSON: line is not valid UTF-8 (first bad byte at offset 30)"
    );
    assert!(Envelope::decode_bytes(RUN.as_bytes()).is_ok());
}

#[test]
fn escaped_strings_decode_like_plain_ones() {
    let line = RUN.replace("\"refund\"", "\"ref\\u0075nd\"");
    let env = Envelope::decode(&line).unwrap();
    let Event::RunFinished(run) = env.event else {
        panic!()
    };
    assert_eq!(run.workflow, "refund");
}

#[test]
fn free_text_keeps_hostile_bytes_for_the_renderer_to_neutralise() {
    // Free text is bounded but kept verbatim: a postmortem may need it, and
    // the TUI makes it inert when drawing.
    let env = Envelope::decode(&run_with(
        "error",
        Some("\u{1b}]0;pwned\u{7}\u{1b}[2J".into()),
    ))
    .unwrap();
    let Event::RunFinished(run) = env.event else {
        panic!()
    };
    assert!(run.error.unwrap().contains('\u{1b}'));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_text_never_panics(line in ".{0,300}") {
        let _ = Envelope::decode(&line);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = Envelope::decode_bytes(&bytes);
    }

    #[test]
    fn mutated_valid_lines_never_panic(cut in 0usize..RUN.len(), byte in any::<u8>()) {
        let mut line = RUN.as_bytes().to_vec();
        line[cut] = byte;
        let _ = Envelope::decode_bytes(&line);
        let _ = Envelope::decode_bytes(&RUN.as_bytes()[..cut]);
    }

    #[test]
    fn any_field_value_is_decoded_or_refused(
        field in prop::sample::select(vec!["v","type","ts","agent","run_id","workflow","outcome","latency_ms","cost_usd","tokens","tool_calls","versions","error"]),
        value in prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::from),
            any::<i64>().prop_map(serde_json::Value::from),
            any::<f64>().prop_map(serde_json::Value::from),
            ".{0,40}".prop_map(serde_json::Value::from),
        ],
    ) {
        let _ = Envelope::decode(&run_with(field, Some(value)));
    }
}

#[test]
fn approval_times_must_leave_room_to_decide() {
    let line = |deadline: &str, escalate: &str| {
        format!(
            r#"{{"v":1,"type":"approval.requested","ts":"2026-11-21T03:12:00Z","agent":"a","request_id":"q","action":"x","risk":"low","deadline":"{deadline}"{escalate}}}"#
        )
    };
    assert!(Envelope::decode(&line("2026-11-21T03:20:00Z", "")).is_ok());
    let e = err(&line("2026-11-21T03:12:00Z", ""));
    assert!(e.starts_with("field \"deadline\": must be after ts"), "{e}");
    let e = err(&line(
        "2026-11-21T03:20:00Z",
        r#","escalate_at":"2026-11-21T03:25:00Z""#,
    ));
    assert!(e.starts_with("field \"escalate_at\""), "{e}");
    assert!(
        Envelope::decode(&line(
            "2026-11-21T03:20:00Z",
            r#","escalate_at":"2026-11-21T03:15:00Z""#
        ))
        .is_ok()
    );
}

#[test]
fn titles_are_one_line_and_reasons_are_not_blank() {
    let e = err(
        r#"{"v":1,"type":"incident.reported","ts":"2026-11-21T03:12:00Z","agent":"a","title":"two\nlines","severity":"SEV2","category":"drift"}"#,
    );
    assert_eq!(e, "field \"title\": must not contain control characters");
    let e =
        err(r#"{"v":1,"type":"escalation","ts":"2026-11-21T03:12:00Z","agent":"a","reason":"  "}"#);
    assert_eq!(e, "field \"reason\": must not be empty");
}
