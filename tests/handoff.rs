//! The shift handoff summary: a seeded scenario checked against
//! hand-computed figures, the engine's per-shift budget burn, and the hub's
//! `GET /v1/handoff` and `POST /v1/handoff/notes` end to end, with the real
//! `agentdeck handoff` binary.

mod support;

use std::process::Command;

use agentdeck::engine::Engine;
use agentdeck::engine::incident::NewIncident;
use agentdeck::engine::spec::parse_specs;
use agentdeck::handoff::{SloNow, Window, nearest_rank, summarize, to_markdown};
use agentdeck::model::approval::{Approval, ApprovalState, Decision, Verdict};
use agentdeck::model::control::{Control, ControlKind, ControlState};
use agentdeck::model::envelope::{Envelope, Risk};
use agentdeck::model::incident::{Category, Incident, IncidentSource, IncidentState, Severity};
use agentdeck::model::role::Role;
use agentdeck::model::runbook::{HandoffNote, StepRecord};
use agentdeck::model::slo::{AlertLevel, BurnRates, SliKind, SloStatus};
use chrono::{DateTime, Duration as Span, Utc};
use serde_json::{Value, json};
use support::{Options, TestHub, approval_line, start, start_with};

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// Times on 2026-11-21 (`HH:MM`), or a full RFC 3339 time.
fn at(hm: &str) -> DateTime<Utc> {
    if hm.len() == 5 {
        t(&format!("2026-11-21T{hm}:00Z"))
    } else {
        t(hm)
    }
}

fn incident(
    n: u32,
    opened: &str,
    ack: Option<&str>,
    resolved: Option<&str>,
    owner: Option<&str>,
) -> Incident {
    let mut i = Incident::open(
        NewIncident {
            id: format!("INC-{n}"),
            title: format!("incident {n}"),
            severity: Severity::Sev2,
            category: Category::ToolFailure,
            source: IncidentSource::Operator,
            agent: Some("refund-bot".into()),
            slo: None,
        },
        "ari",
        at(opened),
    );
    i.acknowledged_at = ack.map(at);
    i.resolved_at = resolved.map(at);
    i.owner = owner.map(str::to_string);
    i.state = match (ack, resolved) {
        (_, Some(_)) => IncidentState::Resolved,
        (Some(_), None) => IncidentState::Acknowledged,
        _ => IncidentState::Triggered,
    };
    i
}

fn approval(n: u32, state: ApprovalState, requested: &str, closed: Option<&str>) -> Approval {
    let verdict = match state {
        ApprovalState::Approved => Some(Verdict::Approve),
        ApprovalState::Rejected => Some(Verdict::Reject),
        _ => None,
    };
    Approval {
        id: format!("APR-{n}"),
        agent: "refund-bot".into(),
        request_id: format!("rq-{n}"),
        run_id: None,
        workflow: "refund".into(),
        action: "issue_refund".into(),
        tool: Some("issue_refund".into()),
        args: json!({"order": "A-1"}),
        risk: Risk::Medium,
        reason: None,
        context: None,
        reject_options: vec![],
        requested_at: at(requested),
        deadline: at(requested) + Span::hours(1),
        escalate_at: None,
        state,
        approvals_required: 1,
        decisions: verdict
            .into_iter()
            .map(|verdict| Decision {
                by: "cho".into(),
                role: Role::Approver,
                verdict,
                reason: Some("checked".into()),
                modified_args: None,
                at: at(closed.unwrap()),
            })
            .collect(),
        closed_at: closed.map(at),
    }
}

fn control(n: u32, state: ControlState, expires: Option<&str>) -> Control {
    Control {
        id: format!("CTL-{n}"),
        agent: "refund-bot".into(),
        kind: ControlKind::DisableTool,
        tool: Some("issue_refund".into()),
        version: None,
        reason: format!("control {n} reason"),
        set_by: "dana".into(),
        set_at: at("02:30"),
        expires_at: expires.map(at),
        incident: Some("INC-2".into()),
        state,
        lifted_by: None,
        ended_at: None,
    }
}

fn slo_status(series: &str, remaining: f64) -> SloStatus {
    SloStatus {
        series: series.into(),
        slo: "refund-completion".into(),
        agent: "refund-bot".into(),
        workflow: "refund".into(),
        sli: SliKind::Completion,
        objective: 0.99,
        window_days: 30,
        critical: false,
        total: 1000,
        good: 997,
        ratio: Some(0.997),
        ratio_1h: Some(1.0),
        budget_remaining: remaining,
        exhaustion_s: None,
        burn: BurnRates::default(),
        alert: AlertLevel::Ticket,
        latency_p50_ms: None,
        latency_p95_ms: None,
        latency_p99_ms: None,
        cost_per_success_usd: None,
        violation_rate: None,
        escalation_rate: None,
        escalation_baseline: None,
        runs_1h: 0,
        bad_per_min: vec![],
        total_per_min: vec![],
        markers: vec![],
    }
}

/// The shift 00:00–08:00 on 2026-11-21, seen at 09:30.
#[test]
fn seeded_shift_matches_hand_computed_figures() {
    let window = Window {
        from: at("00:00"),
        to: at("08:00"),
    };
    let now = at("09:30");
    let mut inc3 = incident(3, "03:00", Some("03:10"), None, Some("bo"));
    inc3.steps = vec![
        StepRecord {
            runbook: "tool_failure".into(),
            step: 2,
            by: "bo".into(),
            at: at("03:20"),
            result: "control CTL-1 applied".into(),
            control: Some("CTL-1".into()),
        },
        StepRecord {
            runbook: "tool_failure".into(),
            step: 1,
            by: "bo".into(),
            at: at("2026-11-20T23:00:00Z"),
            result: "done by hand, before the shift".into(),
            control: None,
        },
    ];
    let incidents = vec![
        // Opened and acknowledged before the shift, resolved in it: counts
        // for MTTR (3 h) only.
        incident(
            1,
            "2026-11-20T22:00:00Z",
            Some("2026-11-20T22:10:00Z"),
            Some("01:00"),
            Some("ari"),
        ),
        // Ack 4 min, resolve 1 h.
        incident(2, "01:00", Some("01:04"), Some("02:00"), Some("ari")),
        // Ack 10 min, still open.
        inc3,
        // Never acknowledged, still open.
        incident(4, "07:00", None, None, None),
        // After the shift: in no figure.
        incident(5, "09:00", None, None, None),
        // Ack 2 min; resolved after the shift ended, so open at its end.
        incident(6, "06:00", Some("06:02"), Some("09:00"), Some("cy")),
    ];
    let approvals = vec![
        approval(1, ApprovalState::Approved, "01:00", Some("01:01")), // 60 s
        approval(2, ApprovalState::Approved, "02:00", Some("02:03")), // 180 s
        approval(3, ApprovalState::Rejected, "03:00", Some("03:02")), // 120 s
        approval(4, ApprovalState::Approved, "04:00", Some("04:10")), // 600 s
        approval(5, ApprovalState::Rejected, "05:00", Some("05:05")), // 300 s
        approval(6, ApprovalState::Expired, "06:00", Some("06:30")),
        approval(7, ApprovalState::Pending, "07:30", None),
        approval(
            8,
            ApprovalState::Approved,
            "2026-11-20T23:00:00Z",
            Some("2026-11-20T23:30:00Z"),
        ),
    ];
    let mut lifted = control(2, ControlState::Lifted, None);
    lifted.lifted_by = Some("dana".into());
    let controls = vec![
        control(1, ControlState::Active, None),
        lifted,
        // Active in the store, but past its TTL now.
        control(3, ControlState::Active, Some("09:00")),
    ];
    let slos = vec![SloNow {
        status: slo_status("refund-completion/refund-bot/refund", 0.75),
        budget_burned: Some(0.125),
    }];
    let notes = vec![
        HandoffNote {
            by: "dana".into(),
            at: at("07:50"),
            text: "Watch refund-bot: issue_refund is disabled until the 422s stop.\nPage me if INC-4 grows."
                .into(),
        },
        HandoffNote {
            by: "eve".into(),
            at: at("2026-11-20T20:00:00Z"),
            text: "last shift's note".into(),
        },
    ];

    let h = summarize(
        window, &incidents, &approvals, &controls, &slos, &notes, now,
    );

    let ids = |lines: &[agentdeck::handoff::IncidentLine]| -> Vec<String> {
        lines.iter().map(|i| i.id.clone()).collect()
    };
    assert_eq!(
        ids(&h.incidents.opened),
        ["INC-2", "INC-3", "INC-4", "INC-6"]
    );
    assert_eq!(ids(&h.incidents.resolved), ["INC-1", "INC-2"]);
    assert_eq!(ids(&h.incidents.still_open), ["INC-3", "INC-4", "INC-6"]);
    assert_eq!(h.incidents.acknowledged, 3);
    // MTTA = (240 + 600 + 120) / 3 = 320 s; MTTR = (10,800 + 3,600) / 2 = 7,200 s.
    assert_eq!(h.incidents.mtta_s, Some(320.0));
    assert_eq!(h.incidents.mttr_s, Some(7200.0));

    assert_eq!(h.approvals.decided.len(), 5);
    assert_eq!((h.approvals.approved, h.approvals.rejected), (3, 2));
    assert_eq!(h.approvals.expired.len(), 1);
    assert_eq!(h.approvals.expired[0].id, "APR-6");
    assert_eq!(h.approvals.pending.len(), 1);
    assert_eq!(h.approvals.pending[0].id, "APR-7");
    // Sorted latencies 60, 120, 180, 300, 600: p50 at rank ⌈2.5⌉ = 3,
    // p95 at rank ⌈4.75⌉ = 5.
    assert_eq!(h.approvals.latency_p50_s, Some(180.0));
    assert_eq!(h.approvals.latency_p95_s, Some(600.0));

    assert_eq!(h.slos.len(), 1);
    assert_eq!(h.slos[0].budget_remaining, 0.75);
    assert_eq!(h.slos[0].budget_burned, Some(0.125));

    assert_eq!(h.controls.len(), 1);
    assert_eq!(h.controls[0].id, "CTL-1");
    assert_eq!(h.controls[0].set_by, "dana");

    assert_eq!(h.steps.len(), 1);
    assert_eq!(h.steps[0].incident, "INC-3");
    assert_eq!(h.steps[0].step, 2);

    assert_eq!(h.notes.len(), 1);
    assert_eq!(h.notes[0].by, "dana");

    let md = to_markdown(&h);
    for needle in [
        "# Shift handoff",
        "Shift: 2026-11-21T00:00:00Z → 2026-11-21T08:00:00Z (8h 00m)",
        "- Opened: 4\n",
        "- Resolved: 2\n",
        "- Still open: 3\n",
        "- MTTA: 5m 20s (over 3 acknowledged)",
        "- MTTR: 2h 00m (over 2 resolved)",
        "- Decided: 5 (3 approved, 2 rejected)",
        "- Expired: 1\n",
        "- Pending: 1\n",
        "p50: 3m 00s, p95: 10m 00s (nearest rank over 5 decided)",
        "| refund-completion/refund-bot/refund | 99.0% | 99.7% | 75.0% | 12.5% | ticket |",
        "| CTL-1 | refund-bot | disable_tool | issue_refund | dana |",
        "| INC-3 | tool_failure | 2 | bo | control CTL-1 applied |",
        "| INC-3 | SEV2 | acknowledged | bo | 11-21 03:00Z | 11-21 03:10Z | incident 3 |",
        "| INC-4 | SEV2 | triggered | unowned |",
        "**dana** at 2026-11-21T07:50:00Z",
        "> Watch refund-bot: issue_refund is disabled until the 422s stop.\n> Page me if INC-4 grows.",
    ] {
        assert!(md.contains(needle), "missing {needle:?} in:\n{md}");
    }
    for absent in [
        "CTL-2",
        "CTL-3",
        "INC-5",
        "APR-8",
        "last shift's note",
        "before the shift",
    ] {
        assert!(!md.contains(absent), "{absent:?} should not be in:\n{md}");
    }
    // The JSON round-trips.
    let back: agentdeck::handoff::Handoff =
        serde_json::from_value(serde_json::to_value(&h).unwrap()).unwrap();
    assert_eq!(back, h);
}

#[test]
fn an_empty_shift_has_no_means_and_says_so() {
    let window = Window {
        from: at("00:00"),
        to: at("08:00"),
    };
    let h = summarize(window, &[], &[], &[], &[], &[], at("08:00"));
    assert_eq!(h.incidents.mtta_s, None);
    assert_eq!(h.approvals.latency_p95_s, None);
    let md = to_markdown(&h);
    assert!(md.contains("- MTTA: — (over 0 acknowledged)"), "{md}");
    assert!(md.contains("No notes."), "{md}");
    assert!(md.contains("## Controls in force\n\nNone."), "{md}");
}

#[test]
fn nearest_rank_percentiles() {
    assert_eq!(nearest_rank(&[], 50.0), None);
    assert_eq!(nearest_rank(&[7.0], 95.0), Some(7.0));
    let xs: Vec<f64> = (1..=20).map(f64::from).collect();
    assert_eq!(nearest_rank(&xs, 50.0), Some(10.0));
    assert_eq!(nearest_rank(&xs, 95.0), Some(19.0));
    assert_eq!(nearest_rank(&xs, 100.0), Some(20.0));
}

fn run(agent: &str, n: u32, outcome: &str, when: DateTime<Utc>) -> Envelope {
    Envelope::decode(&format!(
        r#"{{"v":1,"type":"run.finished","ts":"{}","agent":"{agent}","run_id":"r{n}","workflow":"refund","outcome":"{outcome}","latency_ms":1000,"cost_usd":0.01}}"#,
        support::ts(when)
    ))
    .unwrap()
}

/// Bad events in the hour buckets overlapping the shift over the bad
/// events the objective allows over the SLO window.
#[test]
fn engine_budget_burned_during_a_shift() {
    let specs = parse_specs(
        "test",
        r#"
[[slo]]
name = "refund-completion"
agent = "refund-bot"
workflow = "refund"
sli = "completion"
objective = 0.9
window_days = 1
"#,
    )
    .unwrap();
    let mut engine = Engine::new(specs);
    let mut n = 0;
    // (time, runs, failed): 50 runs in the SLO window, 10 bad.
    for (when, runs, failed) in [
        ("2026-11-20T20:10:00Z", 20, 2),
        ("01:15", 10, 3),
        ("07:59", 10, 1),
        ("08:30", 10, 4),
    ] {
        for i in 0..runs {
            n += 1;
            let outcome = if i < failed { "failed" } else { "success" };
            engine
                .apply(&run("refund-bot", n, outcome, at(when)))
                .unwrap();
        }
    }
    let now = at("09:30");
    let series = "refund-completion/refund-bot/refund";
    // Allowed bad over the window: 0.1 × 50 = 5. The shift 00:00–08:00
    // holds 3 + 1 bad: 0.8 of the budget.
    let burned = engine
        .budget_burned(series, at("00:00"), at("08:00"), now)
        .unwrap();
    assert!((burned - 0.8).abs() < 1e-9, "{burned}");
    // Hour-granular: 00:30–01:30 counts the whole 01:00 hour (3 bad).
    let burned = engine
        .budget_burned(series, at("00:30"), at("01:30"), now)
        .unwrap();
    assert!((burned - 0.6).abs() < 1e-9, "{burned}");
    // An empty or reversed window burns nothing; unknown series: none.
    assert_eq!(
        engine.budget_burned(series, at("08:00"), at("08:00"), now),
        Some(0.0)
    );
    assert_eq!(
        engine.budget_burned("nope/x/y", at("00:00"), at("08:00"), now),
        None
    );
    // A window reaching back far beyond what the ring holds is bounded.
    let burned = engine
        .budget_burned(series, t("0001-01-01T00:00:00Z"), at("08:00"), now)
        .unwrap();
    assert!((burned - 1.2).abs() < 1e-9, "{burned}");
}

fn secs(later: &Value, earlier: &Value) -> f64 {
    let later = t(later.as_str().unwrap());
    let earlier = t(earlier.as_str().unwrap());
    (later - earlier).num_milliseconds() as f64 / 1000.0
}

async fn get_text(h: &TestHub, token: &str, path: &str) -> (u16, String) {
    let r = h
        .http
        .get(h.url(path))
        .bearer_auth(h.token(token))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

fn binary(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_agentdeck"))
        .args(args)
        .env_remove("AGENTDECK_HUB")
        .env_remove("AGENTDECK_TOKEN")
        .output()
        .expect("run agentdeck")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handoff_over_a_live_hub() {
    let h = start().await;
    let now = Utc::now();

    // Three incidents: INC-1 acknowledged and resolved, INC-2
    // acknowledged, INC-3 untouched.
    for n in 1..=3 {
        let (s, body) = h
            .post(
                "responder",
                "/v1/incidents",
                json!({"title": format!("refunds failing {n}"), "severity": "SEV2", "category": "tool_failure", "agent": "refund-bot"}),
                None,
            )
            .await;
        assert_eq!(s, 201, "{body}");
    }
    // The hub's own timestamps, read back from its answers.
    let mut objects: std::collections::HashMap<String, Value> = Default::default();
    for id in ["INC-1", "INC-2"] {
        let (s, body) = h
            .post(
                "responder",
                &format!("/v1/incidents/{id}/ack"),
                json!({}),
                None,
            )
            .await;
        assert_eq!(s, 200, "{body}");
        objects.insert(id.to_string(), body);
    }
    let (s, body) = h
        .post(
            "lead",
            "/v1/incidents/INC-1/resolve",
            json!({"summary": "tool back"}),
            None,
        )
        .await;
    assert_eq!(s, 200, "{body}");
    objects.insert("INC-1".into(), body);

    // Three approvals: one approved, one rejected, one left pending.
    let lines: Vec<String> = (1..=3)
        .map(|i| {
            approval_line(
                "refund-bot",
                &format!("q-{i}"),
                now,
                now + Span::minutes(30),
            )
        })
        .collect();
    let (s, body) = h.post_events("agent", lines.join("\n")).await;
    assert_eq!((s, body["accepted"].as_u64()), (200, Some(3)), "{body}");
    for approver in ["approver", "approver2"] {
        let (s, body) = h
            .post(
                approver,
                "/v1/approvals/APR-1/decision",
                json!({"decision": "approve"}),
                None,
            )
            .await;
        assert_eq!(s, 200, "{body}");
        objects.insert("APR-1".into(), body.clone());
        if body["state"] == "approved" {
            break;
        }
    }
    let (s, body) = h
        .post(
            "approver",
            "/v1/approvals/APR-2/decision",
            json!({"decision": "reject", "reason": "amount too high"}),
            None,
        )
        .await;
    assert_eq!(
        (s, body["state"].as_str()),
        (200, Some("rejected")),
        "{body}"
    );
    objects.insert("APR-2".into(), body);

    // Notes: the lead may write them; others may not; bad ones are refused.
    let note = "Refund tool flaky since 02:00; INC-2 is yours, check the 422s.";
    let (s, body) = h
        .post(
            "lead",
            "/v1/handoff/notes",
            json!({"text": note}),
            Some("note-1"),
        )
        .await;
    assert_eq!(s, 201, "{body}");
    assert_eq!(body["text"], note);
    assert_eq!(body["by"], "lead");
    // A retry with the same key is applied once.
    let (s, again) = h
        .post(
            "lead",
            "/v1/handoff/notes",
            json!({"text": note}),
            Some("note-1"),
        )
        .await;
    assert_eq!((s, &again), (201, &body));
    for who in ["viewer", "responder", "approver"] {
        let (s, body) = h
            .post(who, "/v1/handoff/notes", json!({"text": "mine"}), None)
            .await;
        assert_eq!(s, 403, "{who}: {body}");
        assert!(
            body["error"].as_str().unwrap().contains("handoff notes"),
            "{body}"
        );
    }
    let (s, body) = h
        .post("lead", "/v1/handoff/notes", json!({"text": "  \n"}), None)
        .await;
    assert_eq!(s, 400, "{body}");
    let (s, body) = h
        .post(
            "lead",
            "/v1/handoff/notes",
            json!({"text": "x".repeat(4097)}),
            None,
        )
        .await;
    assert_eq!(s, 400, "{body}");
    assert!(body["error"].as_str().unwrap().contains("4096"), "{body}");
    let (s, body) = h
        .post(
            "lead",
            "/v1/handoff/notes",
            json!({"text": "x", "pin": true}),
            None,
        )
        .await;
    assert_eq!(s, 400, "{body}");

    // The summary, as a viewer, in JSON.
    let (s, hand) = h.get("viewer", "/v1/handoff").await;
    assert_eq!(s, 200, "{hand}");
    let (i1, i2) = (&objects["INC-1"], &objects["INC-2"]);
    let mtta = (secs(&i1["acknowledged_at"], &i1["opened_at"])
        + secs(&i2["acknowledged_at"], &i2["opened_at"]))
        / 2.0;
    let mttr = secs(&i1["resolved_at"], &i1["opened_at"]);
    let incidents = &hand["incidents"];
    assert_eq!(incidents["opened"].as_array().unwrap().len(), 3, "{hand}");
    assert_eq!(incidents["resolved"].as_array().unwrap().len(), 1);
    assert_eq!(incidents["resolved"][0]["id"], "INC-1");
    assert_eq!(incidents["still_open"].as_array().unwrap().len(), 2);
    assert_eq!(incidents["acknowledged"], 2);
    assert!(
        (incidents["mtta_s"].as_f64().unwrap() - mtta).abs() < 0.0015,
        "{} vs {mtta}",
        incidents["mtta_s"]
    );
    assert!((incidents["mttr_s"].as_f64().unwrap() - mttr).abs() < 0.0015);
    let approvals = &hand["approvals"];
    assert_eq!(approvals["decided"].as_array().unwrap().len(), 2, "{hand}");
    assert_eq!(
        (
            approvals["approved"].as_u64(),
            approvals["rejected"].as_u64()
        ),
        (Some(1), Some(1))
    );
    assert_eq!(approvals["pending"].as_array().unwrap().len(), 1);
    assert_eq!(approvals["pending"][0]["id"], "APR-3");
    assert_eq!(approvals["expired"].as_array().unwrap().len(), 0);
    let apr = |id: &str| objects[id].clone();
    let mut latencies = [
        secs(&apr("APR-1")["closed_at"], &apr("APR-1")["requested_at"]),
        secs(&apr("APR-2")["closed_at"], &apr("APR-2")["requested_at"]),
    ];
    latencies.sort_by(f64::total_cmp);
    // Two values: p50 is rank 1, p95 rank 2.
    assert!((approvals["latency_p50_s"].as_f64().unwrap() - latencies[0]).abs() < 0.0015);
    assert!((approvals["latency_p95_s"].as_f64().unwrap() - latencies[1]).abs() < 0.0015);
    assert_eq!(hand["notes"].as_array().unwrap().len(), 1, "{hand}");
    assert_eq!(hand["notes"][0]["text"], note);
    assert_eq!(hand["notes"][0]["by"], "lead");
    assert!(hand["slos"].is_array());
    assert!(hand["controls"].is_array());

    // The note is in the audit log.
    let (_, audit) = h.get("lead", "/v1/audit?after=0&limit=1000").await;
    let noted: Vec<&Value> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "handoff.noted")
        .collect();
    assert_eq!(noted.len(), 1, "{audit}");
    assert_eq!(noted[0]["actor"], "lead");

    // Markdown by Accept header and by ?format=markdown.
    let r = h
        .http
        .get(h.url("/v1/handoff"))
        .bearer_auth(h.token("viewer"))
        .header("Accept", "text/markdown")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/markdown")
    );
    let md = r.text().await.unwrap();
    assert!(md.contains("- Opened: 3\n"), "{md}");
    let (s, md2) = get_text(&h, "viewer", "/v1/handoff?format=markdown").await;
    assert_eq!(s, 200);
    assert!(md2.contains("# Shift handoff"), "{md2}");

    // Bad parameters are named; agents may not read it.
    let (s, body) = h.get("viewer", "/v1/handoff?from=yesterday").await;
    assert_eq!(s, 400);
    assert!(
        body["error"].as_str().unwrap().contains("\"from\""),
        "{body}"
    );
    let (s, body) = h.get("viewer", "/v1/handoff?to=soon").await;
    assert_eq!(s, 400);
    assert!(body["error"].as_str().unwrap().contains("\"to\""), "{body}");
    let (s, body) = h
        .get(
            "viewer",
            "/v1/handoff?from=2026-11-21T08:00:00Z&to=2026-11-21T07:00:00Z",
        )
        .await;
    assert_eq!(s, 400, "{body}");
    let (s, _) = h.get("viewer", "/v1/handoff?format=pdf").await;
    assert_eq!(s, 400);
    let (s, _) = h.get("agent", "/v1/handoff").await;
    assert_eq!(s, 403);
    // A window before anything happened is empty.
    let (s, old) = h
        .get(
            "viewer",
            "/v1/handoff?from=2020-01-01T00:00:00Z&to=2020-01-01T08:00:00Z",
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(old["incidents"]["opened"].as_array().unwrap().len(), 0);
    assert_eq!(old["notes"].as_array().unwrap().len(), 0);

    // The real binary.
    let url = h.hub.url();
    let lead = h.token("lead").to_string();
    let viewer = h.token("viewer").to_string();
    let out_path = h.dir.path().join("handoff.md");
    let out_arg = out_path.to_str().unwrap().to_string();
    let (url2, lead2, out2) = (url.clone(), lead.clone(), out_arg.clone());
    let output = tokio::task::spawn_blocking(move || {
        binary(&[
            "handoff", "--hub", &url2, "--token", &lead2, "--since", "1h", "--out", &out2,
        ])
    })
    .await
    .unwrap();
    assert!(output.status.success(), "{output:?}");
    let md = std::fs::read_to_string(&out_path).unwrap();
    for needle in [
        "# Shift handoff",
        "- Opened: 3\n",
        "- Resolved: 1\n",
        "- Still open: 2\n",
        "(over 2 acknowledged)",
        "- Decided: 2 (1 approved, 1 rejected)",
        "- Pending: 1\n",
        "| INC-2 | SEV2 | acknowledged |",
        "> Refund tool flaky since 02:00; INC-2 is yours, check the 422s.",
        "**lead** at",
    ] {
        assert!(md.contains(needle), "missing {needle:?} in:\n{md}");
    }
    // To standard output, as a viewer.
    let (u, v) = (url.clone(), viewer.clone());
    let output =
        tokio::task::spawn_blocking(move || binary(&["handoff", "--hub", &u, "--token", &v]))
            .await
            .unwrap();
    assert!(output.status.success(), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stdout).contains("- Opened: 3\n"));

    // Clear errors.
    let u = url.clone();
    let errors = tokio::task::spawn_blocking(move || {
        [
            binary(&["handoff", "--hub", &u, "--token", "wrong"]),
            binary(&[
                "handoff",
                "--hub",
                &u,
                "--token",
                "t",
                "--since",
                "8h",
                "--from",
                "2026-11-21T00:00:00Z",
            ]),
            binary(&[
                "handoff",
                "--hub",
                &u,
                "--token",
                "t",
                "--from",
                "last tuesday",
            ]),
            binary(&["handoff", "--hub", "http://127.0.0.1:9", "--token", "t"]),
            binary(&["handoff", "--token", "t"]),
        ]
    })
    .await
    .unwrap();
    let stderr = |o: &std::process::Output| String::from_utf8_lossy(&o.stderr).to_string();
    assert_eq!(errors[0].status.code(), Some(1), "{:?}", errors[0]);
    assert!(stderr(&errors[0]).contains("401"), "{}", stderr(&errors[0]));
    assert_eq!(errors[1].status.code(), Some(2));
    assert!(
        stderr(&errors[1]).contains("not both"),
        "{}",
        stderr(&errors[1])
    );
    assert_eq!(errors[2].status.code(), Some(2));
    assert!(
        stderr(&errors[2]).contains("--from \"last tuesday\""),
        "{}",
        stderr(&errors[2])
    );
    assert_eq!(errors[3].status.code(), Some(1));
    assert!(
        stderr(&errors[3]).contains("cannot reach the hub"),
        "{}",
        stderr(&errors[3])
    );
    assert_eq!(errors[4].status.code(), Some(2));
    assert!(
        stderr(&errors[4]).contains("no hub"),
        "{}",
        stderr(&errors[4])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notes_survive_a_restart() {
    let h = start().await;
    let (s, body) = h
        .post("lead", "/v1/handoff/notes", json!({"text": "kept"}), None)
        .await;
    assert_eq!(s, 201, "{body}");
    let TestHub { hub, dir, .. } = h;
    hub.stop().await;
    let h = start_with(Options {
        db: Some(dir.path().join("hub.db")),
        ..Options::default()
    })
    .await;
    let (s, hand) = h.get("viewer", "/v1/handoff").await;
    assert_eq!(s, 200, "{hand}");
    assert_eq!(hand["notes"][0]["text"], "kept", "{hand}");
    drop(dir);
}
