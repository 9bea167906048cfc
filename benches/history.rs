//! History and audit-view benchmark (`cargo bench --bench history`): the
//! reads behind `GET /v1/history/…`, `GET /v1/audit` and
//! `GET /v1/audit/verify`, on a store holding `AGENTDECK_BENCH_ROWS`
//! (default 100,000) decided approvals, resolved incidents, ended controls
//! and audit entries each, on a reading connection as the hub's archive
//! uses. Each timed read runs `AGENTDECK_BENCH_REPS` times (default 5);
//! the best and the median are printed, with the query plans.

use std::time::{Duration, Instant};

use agentdeck::hub::audit::{ChainCheck, GENESIS_HASH, next_entry};
use agentdeck::hub::store::{Batch, Store};
use agentdeck::model::approval::{Approval, ApprovalState, Decision, Verdict};
use agentdeck::model::audit::{AuditOrder, AuditQuery};
use agentdeck::model::control::{Control, ControlKind, ControlState};
use agentdeck::model::envelope::Risk;
use agentdeck::model::history::{Cursor, HistoryKind};
use agentdeck::model::incident::{Category, Incident, IncidentSource, IncidentState, Severity};
use agentdeck::model::role::Role;
use chrono::{DateTime, Duration as Span, TimeZone, Utc};
use serde_json::json;

const AGENTS: [&str; 10] = [
    "refund-bot",
    "triage-bot",
    "invoice-matcher",
    "remediation-bot",
    "campaign-bot",
    "billing-bot",
    "search-bot",
    "kyc-bot",
    "pricing-bot",
    "ops-bot",
];
const PEOPLE: [&str; 5] = ["dana", "lee", "sam", "kim", "ari"];

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn t(s: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_800_000_000 + s, 0).unwrap()
}

fn approval(n: u64) -> Approval {
    let requested = t(n as i64 * 30);
    Approval {
        id: format!("APR-{n}"),
        agent: AGENTS[n as usize % AGENTS.len()].into(),
        request_id: format!("rq-{n}"),
        run_id: Some(format!("run-{n}")),
        workflow: "refund".into(),
        action: "issue_refund".into(),
        tool: Some("payments.refund".into()),
        args: json!({"order": format!("A-{n}"), "amount_usd": n % 900}),
        risk: Risk::High,
        reason: Some("customer eligible under policy R-12".into()),
        context: None,
        reject_options: vec![],
        requested_at: requested,
        deadline: requested + Span::minutes(30),
        escalate_at: None,
        state: ApprovalState::Approved,
        approvals_required: 1,
        decisions: vec![Decision {
            by: PEOPLE[n as usize % PEOPLE.len()].into(),
            role: Role::Approver,
            verdict: Verdict::Approve,
            reason: Some(format!("order A-{n} checked")),
            modified_args: None,
            at: requested + Span::seconds(40),
        }],
        closed_at: Some(requested + Span::seconds(40)),
    }
}

fn incident(n: u64) -> Incident {
    let opened = t(n as i64 * 30);
    let agent = AGENTS[n as usize % AGENTS.len()];
    let mut i = Incident::open(
        agentdeck::engine::incident::NewIncident {
            id: format!("INC-{n}"),
            title: format!("completion SLO burning on {agent}/refund"),
            severity: Severity::Sev2,
            category: Category::SloBurn,
            source: IncidentSource::Alert,
            agent: Some(agent.into()),
            slo: None,
        },
        "hub",
        opened,
    );
    let who = PEOPLE[n as usize % PEOPLE.len()];
    i.acknowledge(who, opened + Span::seconds(120)).unwrap();
    i.note(
        who,
        "tool answers 422 since prompt v8",
        opened + Span::seconds(300),
    );
    i.resolve(who, "prompt rolled back", opened + Span::seconds(1800))
        .unwrap();
    assert_eq!(i.state, IncidentState::Resolved);
    i
}

fn control(n: u64) -> Control {
    let set = t(n as i64 * 30);
    Control {
        id: format!("CTL-{n}"),
        agent: AGENTS[n as usize % AGENTS.len()].into(),
        kind: ControlKind::DisableTool,
        tool: Some("payments.refund".into()),
        version: None,
        reason: "refunds double-posting; humans take them".into(),
        set_by: PEOPLE[n as usize % PEOPLE.len()].into(),
        set_at: set,
        expires_at: Some(set + Span::hours(1)),
        incident: Some(format!("INC-{n}")),
        state: ControlState::Lifted,
        lifted_by: Some("dana".into()),
        ended_at: Some(set + Span::minutes(20)),
    }
}

/// Fills a fresh store: `rows` of each object and `rows` audit entries
/// (about them, by turns), in batches of 1,000.
fn fill(store: &mut Store, rows: u64) {
    let mut head = (0u64, GENESIS_HASH.to_string());
    for start in (1..=rows).step_by(1000) {
        let mut batch = Batch::default();
        for n in start..(start + 1000).min(rows + 1) {
            batch.approvals.push(approval(n));
            batch.incidents.push(incident(n));
            batch.controls.push(control(n));
            let (action, subject, details) = match n % 4 {
                0 => (
                    "approval.decided",
                    format!("APR-{n}"),
                    json!({"state": "approved"}),
                ),
                1 => ("incident.acknowledged", format!("INC-{n}"), json!({})),
                2 => (
                    "control.applied",
                    format!("CTL-{n}"),
                    json!({"agent": AGENTS[n as usize % AGENTS.len()]}),
                ),
                _ => (
                    "callback.delivered",
                    format!("APR-{n}"),
                    json!({"attempts": 1}),
                ),
            };
            // One actor in a thousand is rare, for a sparse filter.
            let actor = if n % 1000 == 7 {
                "auditor"
            } else {
                PEOPLE[n as usize % 5]
            };
            let e = next_entry(
                &head,
                t(n as i64 * 30),
                actor,
                Some(Role::Lead),
                action,
                &subject,
                details,
            );
            head = (e.seq, e.hash.clone());
            batch.audit.push(e);
        }
        store.write(&batch).expect("write a batch");
    }
}

/// Best and median of `reps` runs of `f`, which returns a count to show.
fn time<T: std::fmt::Debug>(name: &str, reps: u64, mut f: impl FnMut() -> T) {
    let mut took: Vec<Duration> = Vec::new();
    let mut last = None;
    for _ in 0..reps {
        let start = Instant::now();
        last = Some(f());
        took.push(start.elapsed());
    }
    took.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "{name:<58} best {:>9.3} ms  median {:>9.3} ms  ({:?})",
        ms(took[0]),
        ms(took[took.len() / 2]),
        last.expect("at least one run")
    );
}

fn main() {
    let rows = env_u64("AGENTDECK_BENCH_ROWS", 100_000);
    let reps = env_u64("AGENTDECK_BENCH_REPS", 5).max(1);
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = dir.path().join("history.db");
    let mut store = Store::open(&path).expect("open the store");
    let began = Instant::now();
    fill(&mut store, rows);
    println!(
        "{rows} approvals, incidents, controls and audit entries written in {:.1?}; database {:.1} MiB",
        began.elapsed(),
        store.database_bytes().unwrap_or(0) as f64 / 1_048_576.0
    );
    let reader = Store::open_reader(&path).expect("open a reader");
    let mid = Cursor::after(
        HistoryKind::Approvals,
        t(rows as i64 / 2 * 30 + 40),
        "APR-0",
    );
    let mid_inc = Cursor::after(
        HistoryKind::Incidents,
        t(rows as i64 / 2 * 30 + 1800),
        "INC-0",
    );
    time("approvals: newest page (50)", reps, || {
        reader.approval_history(None, None, 50).unwrap().items.len()
    });
    time("approvals: page from the middle (50)", reps, || {
        reader
            .approval_history(Some(&mid), None, 50)
            .unwrap()
            .items
            .len()
    });
    time("approvals: q=kim (1 in 5 match)", reps, || {
        reader
            .approval_history(None, Some("kim"), 50)
            .unwrap()
            .items
            .len()
    });
    time(
        "approvals: q=a-77777 (1 match, whole index read)",
        reps,
        || {
            reader
                .approval_history(None, Some("a-77777 "), 50)
                .unwrap()
                .items
                .len()
        },
    );
    time("approvals: page of 500", reps, || {
        reader
            .approval_history(None, None, 500)
            .unwrap()
            .items
            .len()
    });
    time("incidents: page from the middle (50)", reps, || {
        reader
            .incident_history(Some(&mid_inc), None, 50)
            .unwrap()
            .items
            .len()
    });
    time("controls: newest page (50)", reps, || {
        reader.control_history(None, None, 50).unwrap().items.len()
    });
    let reader = &reader;
    let audit = |q: AuditQuery| move || reader.audit_page(&q, 51).unwrap().len();
    let newest = AuditQuery {
        order: Some(AuditOrder::Newest),
        ..AuditQuery::default()
    };
    time("audit: newest page (50)", reps, audit(newest.clone()));
    time(
        "audit: actor=auditor (1 in 1,000)",
        reps,
        audit(AuditQuery {
            actor: Some("auditor".into()),
            ..newest.clone()
        }),
    );
    time(
        "audit: kind=approval (1 in 4)",
        reps,
        audit(AuditQuery {
            kind: Some("approval".into()),
            ..newest.clone()
        }),
    );
    time(
        "audit: kind=config (no match, whole log read)",
        reps,
        audit(AuditQuery {
            kind: Some("config".into()),
            ..newest.clone()
        }),
    );
    time(
        "audit: agent=refund-bot (1 in 10)",
        reps,
        audit(AuditQuery {
            agent: Some("refund-bot".into()),
            ..newest.clone()
        }),
    );
    time(
        "audit: agent=nobody (no match)",
        reps,
        audit(AuditQuery {
            agent: Some("nobody".into()),
            ..newest.clone()
        }),
    );
    let mut check = ChainCheck::new(Store::open_reader(&path).expect("open a reader"));
    time("chain: whole walk", reps.min(3), || {
        check.check(true, Utc::now()).unwrap()
    });
    time("chain: check with nothing new", reps, || {
        check.check(false, Utc::now()).unwrap()
    });
}
