//! The History (`8`) and Audit (`9`) screens, driven by keys: pages asked
//! of the hub with a cursor as the selection nears the end, the kind
//! switched with `f`, the filter sent to the hub once typing pauses, an
//! item opened with `ret`, the audit chain's state over the log.

mod support_tui;

use agentdeck::model::approval::{ApprovalState, Decision, Verdict};
use agentdeck::model::audit::{AuditChain, AuditEntry, AuditOrder};
use agentdeck::model::history::{ApprovalRecord, HistoryKind};
use agentdeck::model::role::Role;
use agentdeck::tui::app::{App, Effect};
use agentdeck::tui::panes::history::{HistoryFetch, Record};
use agentdeck::tui::screen::Screen;
use agentdeck::tui::theme::Theme;
use crossterm::event::KeyCode;

use support_tui::*;

/// `n` decided approvals, newest first, numbered down from `from`.
fn decided(from: u32, n: u32) -> Vec<Record> {
    let template = snapshot().approvals[0].clone();
    (0..n)
        .map(|k| {
            let mut a = template.clone();
            let seq = from - k;
            let rejected = seq.is_multiple_of(3);
            a.id = format!("APR-{seq}");
            a.state = if rejected {
                ApprovalState::Rejected
            } else {
                ApprovalState::Approved
            };
            let at = now() - chrono::Duration::minutes(i64::from(k) * 7);
            a.closed_at = Some(at);
            a.decisions = vec![Decision {
                by: "dana".into(),
                role: Role::Lead,
                verdict: if rejected {
                    Verdict::Reject
                } else {
                    Verdict::Approve
                },
                reason: rejected.then(|| "amount over the customer's lifetime spend".into()),
                modified_args: None,
                at,
            }];
            a.requested_at = at - chrono::Duration::seconds(95);
            Record::Approval(Box::new(
                ApprovalRecord::of(&a).expect("a decided approval"),
            ))
        })
        .collect()
}

/// The history fetches among `effects`.
fn history_fetches(effects: &[Effect]) -> Vec<HistoryFetch> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::FetchHistory(f) => Some(f.clone()),
            _ => None,
        })
        .collect()
}

fn entry(seq: u64, actor: &str, action: &str, subject: &str) -> AuditEntry {
    AuditEntry {
        seq,
        ts: now() - chrono::Duration::seconds(seq as i64),
        actor: actor.into(),
        role: Some(Role::Lead),
        action: action.into(),
        subject: subject.into(),
        details: serde_json::json!({"reason": "refunds double-posting", "agent": "refund-bot"}),
        prev_hash: "0".repeat(64),
        hash: "a".repeat(64),
    }
}

fn snap(name: &str, app: &App) {
    for (w, h) in [(80, 24), (160, 48)] {
        let text = buffer_text(&render(app, &Theme::dark(), w, h));
        insta::assert_snapshot!(format!("{name}_{w}x{h}"), text);
    }
}

#[test]
fn history_pages_from_the_hub_as_the_selection_nears_the_end() {
    let mut app = app();
    let effects = press_ch(&mut app, '8');
    assert_eq!(app.screen, Screen::History);
    let first = history_fetches(&effects);
    assert_eq!(first.len(), 1, "{effects:?}");
    assert_eq!(
        (
            first[0].kind,
            first[0].before.as_deref(),
            first[0].q.as_str()
        ),
        (HistoryKind::Approvals, None, "")
    );
    app.panes.history.answer(
        first[0].generation,
        Ok((decided(500, 200), Some("cursor-1".into()))),
    );
    snap("history_approvals", &app);

    // Far from the end nothing more is asked; near it, the next page.
    assert!(history_fetches(&press_ch(&mut app, 'j')).is_empty());
    let effects = press_ch(&mut app, 'G');
    let more = history_fetches(&effects);
    assert_eq!(more.len(), 1);
    assert_eq!(more[0].before.as_deref(), Some("cursor-1"));
    assert!(
        history_fetches(&press_ch(&mut app, 'k')).is_empty(),
        "one at a time"
    );
    app.panes
        .history
        .answer(more[0].generation, Ok((decided(300, 50), None)));
    assert_eq!(app.panes.history.rows.len(), 250);
    assert!(
        history_fetches(&press_ch(&mut app, 'G')).is_empty(),
        "the end"
    );

    // ret opens the selected record in full.
    press(&mut app, key(KeyCode::Enter));
    let text = buffer_text(&render(&app, &Theme::dark(), 80, 24));
    assert!(
        text.contains("APR-251") && text.contains("decided"),
        "{text}"
    );
    snap("history_approval_open", &app);
    esc(&mut app);

    // f shows resolved incidents: the list starts again.
    let effects = press_ch(&mut app, 'f');
    let fetch = history_fetches(&effects);
    assert_eq!(fetch[0].kind, HistoryKind::Incidents);
    assert!(fetch[0].before.is_none() && app.panes.history.rows.is_empty());
    // An answer to the approvals fetch arriving late is dropped.
    app.panes
        .history
        .answer(more[0].generation, Ok((decided(9, 3), None)));
    assert!(app.panes.history.rows.is_empty());
}

#[test]
fn the_history_filter_is_sent_to_the_hub_once_typing_pauses() {
    let mut app = app();
    let effects = press_ch(&mut app, '8');
    let g = history_fetches(&effects)[0].generation;
    app.panes.history.answer(g, Ok((decided(50, 10), None)));
    press_ch(&mut app, '/');
    type_text(&mut app, "refund");
    enter(&mut app);
    assert!(
        history_fetches(&app.tick(now())).is_empty(),
        "typing may go on"
    );
    let fetch = history_fetches(&app.tick(now() + chrono::Duration::seconds(1)));
    assert_eq!(fetch.len(), 1);
    assert_eq!(
        (fetch[0].q.as_str(), fetch[0].before.as_deref()),
        ("refund", None)
    );
    assert!(
        history_fetches(&app.tick(now() + chrono::Duration::seconds(2))).is_empty(),
        "asked once"
    );
    // A refusal is shown where the rows were.
    app.panes.history.answer(
        fetch[0].generation,
        Err("the hub answered 403: viewers may not".into()),
    );
    let text = buffer_text(&render(&app, &Theme::dark(), 80, 24));
    assert!(text.contains("could not read the history"), "{text}");
}

#[test]
fn the_audit_view_reads_newest_first_under_the_chain_state() {
    let mut app = app();
    let effects = press_ch(&mut app, '9');
    assert_eq!(app.screen, Screen::Audit);
    let fetch = effects
        .iter()
        .find_map(|e| match e {
            Effect::FetchAudit(f) => Some(f.clone()),
            _ => None,
        })
        .expect("the newest page asked for");
    assert_eq!(fetch.query.order, Some(AuditOrder::Newest));
    assert!(effects.contains(&Effect::VerifyAudit), "{effects:?}");
    let entries: Vec<AuditEntry> = (0..60)
        .map(|k| {
            let seq = 1_000 - k;
            match k % 3 {
                0 => entry(seq, "dana", "approval.decided", &format!("APR-{seq}")),
                1 => entry(seq, "hub", "incident.opened", &format!("INC-{seq}")),
                _ => entry(seq, "lee", "control.applied", &format!("CTL-{seq}")),
            }
        })
        .collect();
    app.panes
        .audit
        .entries
        .answer(fetch.generation, Ok((entries, Some("941".into()))));
    app.panes.audit.chain = Some(Ok(AuditChain::Intact {
        entries: 1_000,
        head: "a".repeat(64),
        full_check_at: now(),
    }));
    snap("audit_intact", &app);
    let text = buffer_text(&render(&app, &Theme::dark(), 80, 24));
    assert!(
        text.contains("chain intact") && text.contains("1000 entries"),
        "{text}"
    );

    app.panes.audit.chain = Some(Ok(AuditChain::Broken {
        at: 17,
        reason: "hash does not match the entry's content".into(),
        full_check_at: now(),
    }));
    let text = buffer_text(&render(&app, &Theme::dark(), 80, 24));
    assert!(text.contains("CHAIN BROKEN at entry 17"), "{text}");
    snap("audit_broken", &app);

    // Near the end, the next page: below the oldest entry loaded.
    let effects = press_ch(&mut app, 'G');
    let more = effects
        .iter()
        .find_map(|e| match e {
            Effect::FetchAudit(f) => Some(f.clone()),
            _ => None,
        })
        .expect("the next page");
    assert_eq!(more.query.before, Some(941));
}

#[test]
fn audit_filters_are_actor_kind_and_agent() {
    use agentdeck::tui::panes::audit::query;
    let q = query("actor:dana kind:approval. agent:refund-bot").expect("a filter");
    assert_eq!(q.actor.as_deref(), Some("dana"));
    assert_eq!(q.kind.as_deref(), Some("approval"));
    assert_eq!(q.agent.as_deref(), Some("refund-bot"));
    assert_eq!(q.order, Some(AuditOrder::Newest));
    let e = query("dana").expect_err("a bare word");
    assert!(e.contains("actor:NAME"), "{e}");
    let e = query("who:dana").expect_err("an unknown key");
    assert!(e.contains("who:"), "{e}");

    // Typed on the screen: a filter the hub would not take is said, and
    // nothing is asked.
    let mut app = app();
    press_ch(&mut app, '9');
    press_ch(&mut app, '/');
    type_text(&mut app, "nonsense");
    enter(&mut app);
    app.tick(now());
    let effects = app.tick(now() + chrono::Duration::seconds(1));
    assert!(
        !effects.iter().any(|e| matches!(e, Effect::FetchAudit(_))),
        "{effects:?}"
    );
    let text = buffer_text(&render(&app, &Theme::dark(), 80, 24));
    assert!(text.contains("actor:NAME"), "{text}");
}
