//! Bulk actions and hand-opened incidents, driven by keys: `space` marks
//! rows, `r` rejects every marked approval with one reason, `a`
//! acknowledges every marked incident after one confirmation naming the
//! count, each item is decided by the hub on its own and its result is
//! reported; `N` opens an incident by hand.

mod support_tui;

use agentdeck::client::actions::{Method, Outcome, Request};
use agentdeck::tui::app::{App, Effect, Level};
use agentdeck::tui::dialog::{Dialog, TextPurpose, text_of};
use agentdeck::tui::screen::Screen;
use agentdeck::tui::theme::Theme;
use crossterm::event::{KeyCode, KeyEvent};
use serde_json::json;

use support_tui::*;

/// Every request among `effects`.
fn sends(effects: &[Effect]) -> Vec<&Request> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Send(r) => Some(r),
            _ => None,
        })
        .collect()
}

fn message(app: &App) -> (Level, String) {
    let (l, t) = app.message().expect("a message in the status bar");
    (l, t.to_string())
}

fn space(app: &mut App) -> Vec<Effect> {
    press(app, key(KeyCode::Char(' ')))
}

/// The approvals, marked with `space` from the first row: APR-33 and
/// APR-34 (nearest deadlines first in the fixture) and the next.
fn marked_approvals(n: usize) -> (App, Vec<String>) {
    let mut app = app();
    press_ch(&mut app, '3');
    let ids = app.row_ids(Screen::Approvals);
    for _ in 0..n {
        space(&mut app);
    }
    (app, ids.into_iter().take(n).collect())
}

#[test]
fn space_marks_rows_counts_them_in_the_title_and_esc_clears_them() {
    let (mut app, ids) = marked_approvals(2);
    assert_eq!(
        app.panes
            .approvals
            .list
            .marked
            .iter()
            .cloned()
            .collect::<Vec<_>>(),
        {
            let mut sorted = ids.clone();
            sorted.sort();
            sorted
        }
    );
    // Marking moved down a row each time.
    assert_eq!(
        app.selected(Screen::Approvals),
        app.row_ids(Screen::Approvals).get(2).cloned()
    );
    let text = buffer_text(&render(&app, &Theme::dark(), 80, 24));
    assert!(text.contains("· 2 marked"), "{text}");
    assert_eq!(text.matches('✓').count(), 3, "header and two rows:\n{text}");
    // Space on a marked row unmarks it.
    press_ch(&mut app, 'k');
    space(&mut app);
    assert_eq!(app.panes.approvals.list.marked.len(), 1);
    esc(&mut app);
    assert!(
        app.panes.approvals.list.marked.is_empty(),
        "esc clears the marks"
    );
    let text = buffer_text(&render(&app, &Theme::dark(), 80, 24));
    assert!(!text.contains("marked") && !text.contains('✓'), "{text}");
}

#[test]
fn r_rejects_every_marked_approval_with_one_reason_and_reports_each_result() {
    let (mut app, ids) = marked_approvals(3);
    press_ch(&mut app, 'r');
    let Some(Dialog::Text {
        title,
        hint,
        purpose,
        ..
    }) = &app.dialog
    else {
        panic!("{:?}", app.dialog);
    };
    assert_eq!(title, "Reject 3 approvals");
    assert_eq!(purpose, &TextPurpose::RejectAll(ids.clone()));
    assert!(hint[0].contains("Each is decided on its own"), "{hint:?}");
    assert!(
        app.panes.approvals.list.marked.is_empty(),
        "the marks are used up"
    );
    // An empty reason is refused, as for one approval.
    let effects = enter(&mut app);
    assert!(sends(&effects).is_empty());
    type_text(&mut app, "duplicate of an approved refund");
    let effects = enter(&mut app);
    let requests = sends(&effects);
    assert_eq!(requests.len(), 3, "one request each: {effects:?}");
    for (r, id) in requests.iter().zip(&ids) {
        assert_eq!(r.method, Method::Post);
        assert_eq!(r.path, format!("/v1/approvals/{id}/decision"));
        assert_eq!(
            r.body,
            Some(json!({"decision": "reject", "reason": "duplicate of an approved refund"}))
        );
    }
    let keys: std::collections::HashSet<&str> = requests.iter().map(|r| r.key.as_str()).collect();
    assert_eq!(keys.len(), 3, "each has its own idempotency key");
    assert_eq!(app.pending.len(), 3);

    // The hub decides each on its own: two done, one decided meanwhile.
    let answers: Vec<(u64, Outcome)> = vec![
        (requests[0].id, Outcome::Done(json!({}))),
        (
            requests[1].id,
            Outcome::Refused(409, "APR-34 was already approved by kim".into()),
        ),
        (requests[2].id, Outcome::Done(json!({}))),
    ];
    for (n, (id, outcome)) in answers.into_iter().enumerate() {
        app.apply_outcome(id, outcome);
        if n < 2 {
            assert!(
                app.dialog.is_none(),
                "no report until every item is answered"
            );
        }
    }
    let (level, text) = message(&app);
    assert_eq!(level, Level::Error);
    assert!(
        text.contains("reject 3 approvals: 2 done, 1 failed")
            && text.contains("already approved by kim"),
        "{text}"
    );
    let Some(Dialog::Report { title, lines, .. }) = &app.dialog else {
        panic!("a report of each item: {:?}", app.dialog);
    };
    assert_eq!(title, "reject 3 approvals: results");
    assert_eq!(lines.len(), 3);
    assert!(
        lines[0].starts_with('✗') && lines[0].contains(&ids[1]),
        "{lines:?}"
    );
    assert!(lines[1..].iter().all(|l| l.starts_with('✓')), "{lines:?}");
    let text = buffer_text(&render(&app, &Theme::dark(), 80, 24));
    assert!(text.contains("refused (409)"), "{text}");
    // Any key closes the report.
    press_ch(&mut app, 'x');
    assert!(app.dialog.is_none());
}

#[test]
fn a_number_picks_a_reason_every_marked_approval_offers() {
    let mut app = app();
    press_ch(&mut app, '3');
    // Only APR-31 offers reasons in the fixture: marked with another, no
    // reason is common, so a digit is typed as text.
    let ids = app.row_ids(Screen::Approvals);
    let with = ids
        .iter()
        .position(|id| id == "APR-31")
        .expect("APR-31 listed");
    for _ in 0..with {
        press_ch(&mut app, 'j');
    }
    space(&mut app);
    press_ch(&mut app, 'r');
    let Some(Dialog::Text { hint, .. }) = &app.dialog else {
        panic!("{:?}", app.dialog);
    };
    assert!(
        hint.iter().any(|h| h.contains("1 amount exceeds policy")),
        "{hint:?}"
    );
    press_ch(&mut app, '1');
    let Some(Dialog::Text { input, .. }) = &app.dialog else {
        panic!("{:?}", app.dialog);
    };
    assert_eq!(text_of(input), "amount exceeds policy");
    esc(&mut app);

    press_ch(&mut app, 'g');
    press_ch(&mut app, 'g');
    space(&mut app);
    for _ in 1..with {
        press_ch(&mut app, 'j');
    }
    space(&mut app);
    assert_eq!(app.panes.approvals.list.marked.len(), 2);
    press_ch(&mut app, 'r');
    let Some(Dialog::Text { hint, .. }) = &app.dialog else {
        panic!("{:?}", app.dialog);
    };
    assert!(
        !hint.iter().any(|h| h.contains("a number picks")),
        "{hint:?}"
    );
    press_ch(&mut app, '1');
    let Some(Dialog::Text { input, .. }) = &app.dialog else {
        panic!("{:?}", app.dialog);
    };
    assert_eq!(text_of(input), "1", "typed, not picked");
}

#[test]
fn approving_marked_rows_is_refused_with_the_way_out() {
    let (mut app, _) = marked_approvals(2);
    let effects = press_ch(&mut app, 'a');
    assert!(sends(&effects).is_empty());
    assert!(app.dialog.is_none());
    let (level, text) = message(&app);
    assert_eq!(level, Level::Error);
    assert!(
        text.contains("one at a time") && text.contains("esc"),
        "{text}"
    );
}

#[test]
fn a_acknowledges_every_marked_incident_after_one_confirmation() {
    let mut app = app();
    press_ch(&mut app, '2');
    let ids = app.row_ids(Screen::Incidents);
    space(&mut app);
    space(&mut app);
    let effects = press_ch(&mut app, 'a');
    assert!(
        sends(&effects).is_empty(),
        "nothing before the confirmation"
    );
    let Some(Dialog::Confirm { title, lines, .. }) = &app.dialog else {
        panic!("{:?}", app.dialog);
    };
    assert_eq!(title, "Acknowledge 2 incidents?");
    assert!(
        lines[0].contains(&ids[0]) && lines[0].contains(&ids[1]),
        "{lines:?}"
    );
    let effects = enter(&mut app);
    let requests = sends(&effects);
    assert_eq!(
        requests.iter().map(|r| r.path.as_str()).collect::<Vec<_>>(),
        vec![
            format!("/v1/incidents/{}/ack", ids[0]),
            format!("/v1/incidents/{}/ack", ids[1])
        ]
    );
    let (a, b) = (requests[0].id, requests[1].id);
    app.apply_outcome(a, Outcome::Done(json!({})));
    app.apply_outcome(b, Outcome::Done(json!({})));
    let (level, text) = message(&app);
    assert_eq!(level, Level::Info);
    assert_eq!(text, "✓ acknowledge 2 incidents: all 2 done");

    // Esc in the confirmation sends nothing; the marks are gone anyway.
    space(&mut app);
    press_ch(&mut app, 'a');
    let effects = esc(&mut app);
    assert!(sends(&effects).is_empty());
}

#[test]
fn n_opens_an_incident_by_hand_severity_then_agent_and_title() {
    let mut app = app();
    press_ch(&mut app, '2');
    let agent = app
        .data
        .incidents
        .get(
            &app.selected(Screen::Incidents)
                .expect("a selected incident"),
        )
        .and_then(|i| i.agent.clone())
        .expect("the fixture's incidents name agents");
    press_ch(&mut app, 'N');
    let Some(Dialog::Menu { title, items, .. }) = &app.dialog else {
        panic!("{:?}", app.dialog);
    };
    assert_eq!(title, "New incident: how severe?");
    assert_eq!(items.len(), 4);
    // A number picks at once.
    press_ch(&mut app, '2');
    let Some(Dialog::Text { title, hint, .. }) = &app.dialog else {
        panic!("{:?}", app.dialog);
    };
    assert_eq!(title, "New SEV2 incident");
    assert!(hint[1].contains(&agent), "{hint:?}");
    type_text(
        &mut app,
        "refund-bot: refunds posted twice: customers see two credits",
    );
    let effects = enter(&mut app);
    let requests = sends(&effects);
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].path, "/v1/incidents");
    assert_eq!(
        requests[0].body,
        Some(json!({
            "title": "refunds posted twice: customers see two credits",
            "severity": "SEV2",
            "category": "other",
            "agent": "refund-bot"
        }))
    );

    // Without a known agent before a colon, the whole text is the title,
    // about the selected incident's agent.
    press_ch(&mut app, 'N');
    press_ch(&mut app, '3');
    type_text(&mut app, "ledger: balances drift");
    let effects = enter(&mut app);
    let body = sends(&effects)[0].body.clone().expect("a body");
    assert_eq!(body["title"], "ledger: balances drift");
    assert_eq!(body["agent"], json!(agent));

    // A responder may; a viewer is told why not.
    let mut viewer = app_as(
        Some(operator("vic", agentdeck::model::role::Role::Viewer)),
        false,
    );
    press_ch(&mut viewer, '2');
    press_ch(&mut viewer, 'N');
    assert!(viewer.dialog.is_none());
    assert_eq!(message(&viewer).0, Level::Error);
}

#[test]
fn bulk_marks_and_the_report_at_both_sizes() {
    let (mut app, _) = marked_approvals(2);
    for (w, h) in [(80, 24), (160, 48)] {
        let buffer = render(&app, &Theme::dark(), w, h);
        insta::assert_snapshot!(format!("approvals_marked_{w}x{h}"), buffer_text(&buffer));
    }
    press_ch(&mut app, 'r');
    type_text(&mut app, "duplicate");
    let effects = enter(&mut app);
    let ids: Vec<u64> = sends(&effects).iter().map(|r| r.id).collect();
    app.apply_outcome(ids[0], Outcome::Refused(409, "already decided".into()));
    app.apply_outcome(ids[1], Outcome::Done(json!({})));
    for (w, h) in [(80, 24), (160, 48)] {
        let buffer = render(&app, &Theme::dark(), w, h);
        insta::assert_snapshot!(format!("bulk_report_{w}x{h}"), buffer_text(&buffer));
    }
}

#[test]
fn s_cycles_the_order_of_every_list_and_the_title_says_it() {
    use agentdeck::tui::screen::Sort;
    let mut app = app();
    for (key, screen) in [
        ('1', Screen::Overview),
        ('2', Screen::Incidents),
        ('3', Screen::Approvals),
        ('4', Screen::Controls),
        ('5', Screen::Agents),
    ] {
        press_ch(&mut app, key);
        let mut seen = Vec::new();
        for _ in 0..4 {
            seen.push(app.list(screen).sort);
            press_ch(&mut app, 's');
        }
        assert_eq!(
            seen,
            [Sort::Urgency, Sort::Severity, Sort::Age, Sort::Agent],
            "{screen:?}"
        );
        assert_eq!(app.list(screen).sort, Sort::Urgency, "back to the start");
    }

    // Approvals by age: the oldest request first, the selection kept.
    press_ch(&mut app, '3');
    press_ch(&mut app, 'j');
    let selected = app.selected(Screen::Approvals);
    press_ch(&mut app, 's');
    press_ch(&mut app, 's');
    let mut by_age: Vec<_> = app.data.approvals.values().collect();
    by_age.sort_by_key(|a| (a.requested_at, a.id.clone()));
    assert_eq!(
        app.row_ids(Screen::Approvals),
        by_age.iter().map(|a| a.id.clone()).collect::<Vec<_>>()
    );
    assert_eq!(app.selected(Screen::Approvals), selected, "the same row");
    let text = buffer_text(&render(&app, &Theme::dark(), 80, 24));
    assert!(text.contains("Pending approvals, oldest first"), "{text}");
    press_ch(&mut app, 's');
    let text = buffer_text(&render(&app, &Theme::dark(), 80, 24));
    assert!(text.contains("Pending approvals, by agent"), "{text}");
    let agents: Vec<String> = app
        .row_ids(Screen::Approvals)
        .iter()
        .map(|id| app.data.approvals[id].agent.clone())
        .collect();
    let mut sorted = agents.clone();
    sorted.sort();
    assert_eq!(agents, sorted);

    // Incidents by severity: most severe first, newest first within one.
    press_ch(&mut app, '2');
    press_ch(&mut app, 's');
    let rows: Vec<_> = app
        .row_ids(Screen::Incidents)
        .iter()
        .map(|id| {
            let i = &app.data.incidents[id];
            (i.severity, std::cmp::Reverse(i.opened_at))
        })
        .collect();
    let mut sorted = rows.clone();
    sorted.sort();
    assert_eq!(rows, sorted);
    let text = buffer_text(&render(&app, &Theme::dark(), 80, 24));
    assert!(text.contains("Incidents, most severe first"), "{text}");
}

/// Presses `keys` in order and returns the requests they sent and how
/// many keys it took.
fn run_keys(app: &mut App, keys: &[KeyEvent]) -> (Vec<Request>, usize) {
    let mut sent = Vec::new();
    for k in keys {
        let effects = press(app, *k);
        sent.extend(sends(&effects).into_iter().cloned());
    }
    (sent, keys.len())
}

/// The key budgets of the issue: the most urgent approval approved from
/// any screen in 3 keys; rejected with a picked reason in 4; any
/// containment in 4 keys plus the confirmation.
#[test]
fn the_key_budgets_hold() {
    let enter_key = key(KeyCode::Enter);
    for screen in ['1', '2', '3', '4', '5', '6', '7'] {
        let mut app = app();
        press_ch(&mut app, screen);
        let urgent = app.row_ids(Screen::Approvals)[0].clone();
        let (sent, n) = run_keys(&mut app, &[ch('3'), ch('a'), enter_key]);
        assert!(n <= 3);
        assert_eq!(sent.len(), 1, "from {screen}");
        assert_eq!(sent[0].path, format!("/v1/approvals/{urgent}/decision"));
        assert_eq!(
            sent[0].body.as_ref().map(|b| b["decision"].clone()),
            Some(json!("approve"))
        );
    }

    // The most urgent approval offers reasons: 3, r, a number, enter.
    let mut offering = app();
    let urgent = offering.row_ids(Screen::Approvals)[0].clone();
    let mut a = offering.data.approvals[&urgent].clone();
    a.reject_options = vec!["not this customer".into(), "wrong amount".into()];
    offering.apply_feed(agentdeck::client::feed::FeedMsg::Delta(
        offering.data.seq + 1,
        agentdeck::model::stream::Delta::Approval(Box::new(a)),
    ));
    let (sent, n) = run_keys(&mut offering, &[ch('3'), ch('r'), ch('2'), enter_key]);
    assert!(n <= 4);
    assert_eq!(sent.len(), 1);
    assert_eq!(
        sent[0].body,
        Some(json!({"decision": "reject", "reason": "wrong amount"}))
    );

    // Every containment of the selected incident's agent: 2, c, the kind
    // (and the tool or version where one is asked), then the form's
    // enter, which is the confirmation.
    for (kind, keys) in [
        ("disable_tool", vec![ch('c'), ch('1'), ch('1')]),
        ("force_fallback", vec![ch('c'), ch('2')]),
        ("route_to_humans", vec![ch('c'), ch('3')]),
        ("require_approval", vec![ch('c'), ch('4')]),
        ("pin_version", vec![ch('c'), ch('5'), ch('1')]),
        ("pause_agent", vec![ch('c'), ch('6')]),
    ] {
        let mut app = app();
        let mut all = vec![ch('2')];
        all.extend(keys);
        let before_confirm = all.len();
        all.push(enter_key);
        let (sent, _) = run_keys(&mut app, &all);
        assert!(before_confirm <= 4, "{kind}: {before_confirm} keys");
        assert_eq!(sent.len(), 1, "{kind}: {:?}", app.dialog);
        assert_eq!(sent[0].path, "/v1/controls");
        assert_eq!(
            sent[0].body.as_ref().map(|b| b["kind"].clone()),
            Some(json!(kind))
        );
    }
}
