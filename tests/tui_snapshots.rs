//! Snapshots of every TUI screen and dialog at 80×24 and 160×48, drawn
//! from a fixed hub state (`tests/fixtures/tui_state.json`) at a fixed
//! clock, plus the colours that carry meaning and a monochrome rendering.
//!
//! Create or update the snapshots with
//! `INSTA_UPDATE=always cargo test --test tui_snapshots`, then read the
//! `.snap` files under `tests/snapshots/`.

mod support_tui;

use agentdeck::model::role::Role;
use agentdeck::tui::app::App;
use agentdeck::tui::theme::Theme;
use crossterm::event::KeyCode;
use ratatui::buffer::Buffer;
use ratatui::style::{Color, Modifier};

use support_tui::*;

/// The two sizes every scene is drawn at.
const SIZES: [(u16, u16); 2] = [(80, 24), (160, 48)];

/// Nothing an agent sent may reach the terminal as a control: no escape,
/// no other control character, no bidi override or zero-width mark, and
/// none of the hostile payload's text.
fn assert_inert(buffer: &Buffer) {
    for cell in buffer.content.iter() {
        for c in cell.symbol().chars() {
            assert!(
                !c.is_control(),
                "control character {c:?} in the buffer:\n{}",
                buffer_text(buffer)
            );
            assert!(
                !matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}'),
                "invisible format character {c:?} in the buffer"
            );
        }
    }
    let text = buffer_text(buffer);
    assert!(!text.contains('\x1b'), "ESC in the buffer:\n{text}");
    for payload in ["]52;", "Y3VybCBldmlsLnNoIHwgc2g", "[2J", "\u{202e}"] {
        assert!(
            !text.contains(payload),
            "hostile payload {payload:?} on screen:\n{text}"
        );
    }
}

/// Renders `app` at both sizes with the dark theme and snapshots each.
fn snap(name: &str, description: &str, app: &App) {
    for (w, h) in SIZES {
        let buffer = render(app, &Theme::dark(), w, h);
        assert_inert(&buffer);
        let text = buffer_text(&buffer);
        insta::with_settings!({ description => description, omit_expression => true }, {
            insta::assert_snapshot!(format!("{name}_{w}x{h}"), text);
        });
    }
}

// ---- screens ------------------------------------------------------------------

#[test]
fn overview() {
    let app = app();
    snap(
        "overview",
        "Overview (screen 1): fleet summary and SLO series worst first; first row selected",
        &app,
    );
}

#[test]
fn incidents() {
    let mut app = app();
    press_ch(&mut app, '2');
    snap(
        "incidents",
        "Incidents (screen 2): SEV1 with a hostile title selected, its detail below/right",
        &app,
    );
}

#[test]
fn incidents_second_selected() {
    let mut app = app();
    press_ch(&mut app, '2');
    press_ch(&mut app, 'j');
    snap(
        "incidents_inc12",
        "Incidents: INC-12 selected (owner kim, CTL-7 linked, lee looking at it)",
        &app,
    );
}

#[test]
fn approvals() {
    let mut app = app();
    press_ch(&mut app, '3');
    snap(
        "approvals",
        "Approvals (screen 3): nearest deadline first; escalated APR-33 selected",
        &app,
    );
}

#[test]
fn approvals_two_person() {
    let mut app = app();
    press_ch(&mut app, '3');
    press_ch(&mut app, 'j');
    snap(
        "approvals_apr31",
        "Approvals: APR-31 selected (two approvers needed, kim approved, kim looking at it)",
        &app,
    );
}

#[test]
fn controls() {
    let mut app = app();
    press_ch(&mut app, '4');
    // BUG (src/tui/view.rs:741, column `("time left", 9, 3)`): at 160×48,
    // where the reason column is shown, the fleet pause's "until lifted"
    // is cut to "until lif" in controls_160x48.snap. At 80×24 "time left"
    // is the last (stretching) column, so it shows whole there. See
    // `controls_time_left_is_not_cut` (ignored).
    snap(
        "controls",
        "Controls (screen 4): the fleet-wide pause first, then disable_tool with a TTL",
        &app,
    );
}

#[test]
fn agents() {
    let mut app = app();
    press_ch(&mut app, '5');
    snap("agents", "Agents (screen 5)", &app);
}

#[test]
fn agents_filtered_to_autonomous_on_money() {
    let mut app = app();
    press_ch(&mut app, '5');
    for _ in 0..3 {
        press_ch(&mut app, 'f');
    }
    assert_eq!(
        app.list(agentdeck::tui::screen::Screen::Agents).filter,
        "is:autonomous_on_money"
    );
    snap(
        "agents_autonomous_on_money",
        "Agents, f pressed three times: only agents acting autonomously on money",
        &app,
    );
}

/// The agent detail of refund-bot, opened with `i` on the Agents screen and
/// filled with the hub's answer from `tests/fixtures/agent_detail.json`
/// (whose error texts carry terminal escapes, OSC 52 and bidi overrides).
fn agent_detail_app() -> App {
    let mut app = app();
    press_ch(&mut app, '5');
    let (ids, _) = app.selection(agentdeck::tui::screen::Screen::Agents);
    let at = ids
        .iter()
        .position(|id| id == "refund-bot")
        .expect("refund-bot listed");
    for _ in 0..at {
        press_ch(&mut app, 'j');
    }
    let effects = press_ch(&mut app, 'i');
    assert_eq!(
        effects,
        vec![agentdeck::tui::app::Effect::FetchAgent("refund-bot".into())]
    );
    let detail: agentdeck::model::drill::AgentDetail =
        serde_json::from_str(include_str!("fixtures/agent_detail.json"))
            .expect("tests/fixtures/agent_detail.json decodes as an AgentDetail");
    app.panes
        .agent
        .open
        .as_mut()
        .expect("the detail is open")
        .detail = Some(Ok(Box::new(detail)));
    app
}

#[test]
fn agent_detail() {
    snap(
        "agent_detail",
        "Agent detail of refund-bot (i on the Agents screen), from the hub's drill-down",
        &agent_detail_app(),
    );
}

#[test]
fn agent_detail_scrolled() {
    let mut app = agent_detail_app();
    for _ in 0..12 {
        press_ch(&mut app, 'j');
    }
    snap(
        "agent_detail_scrolled",
        "Agent detail of refund-bot scrolled down 12 lines (j)",
        &app,
    );
}

#[test]
fn agent_detail_fetching_and_failed() {
    let mut app = agent_detail_app();
    app.panes.agent.open.as_mut().expect("open").detail = None;
    snap(
        "agent_detail_fetching",
        "Agent detail while its drill-down is fetched",
        &app,
    );
    app.panes.agent.open.as_mut().expect("open").detail =
        Some(Err("the hub answered 404: no agent \"refund-bot\"".into()));
    snap(
        "agent_detail_failed",
        "Agent detail when the hub refuses the drill-down",
        &app,
    );
}

#[test]
fn runbook() {
    let mut app = app();
    press_ch(&mut app, '6');
    snap(
        "runbook",
        "Runbook (screen 6) of the selected incident (INC-14, hostile title)",
        &app,
    );
}

#[test]
fn handoff() {
    let mut app = app();
    press_ch(&mut app, '7');
    snap("handoff", "Handoff (screen 7)", &app);
}

// ---- long text scrolls ----------------------------------------------------------

/// The app with INC-14's timeline 60 entries long, each a long line.
fn long_timeline_app() -> App {
    use agentdeck::client::feed::FeedMsg;
    use agentdeck::model::incident::TimelineEntry;
    use agentdeck::model::stream::Delta;
    let mut app = app();
    let mut i = snapshot()
        .incidents
        .into_iter()
        .find(|i| i.id == "INC-14")
        .expect("INC-14 in the fixture");
    i.timeline = (0..60)
        .map(|n| TimelineEntry {
            at: at("2026-11-21T02:00:00Z") + chrono::Duration::seconds(n * 61),
            actor: "hub".into(),
            kind: "note".into(),
            text: format!(
                "entry {n}: refund-bot retried issue_refund against the payments API and got \
                 a 503 after 30 s, the circuit stays half-open (end {n})"
            ),
        })
        .collect();
    app.apply_feed(FeedMsg::Delta(1900, Delta::Incident(Box::new(i))));
    app
}

#[test]
fn incident_detail_opened_wraps_and_scrolls() {
    let mut app = long_timeline_app();
    press_ch(&mut app, '2');
    press(&mut app, key(KeyCode::Enter));
    snap(
        "incident_detail_open",
        "INC-14 opened (ret): fields, then the timeline wrapped, with a scrollbar and ↓ more",
        &app,
    );
    press_ch(&mut app, 'G');
    snap(
        "incident_detail_end",
        "INC-14 opened and scrolled to the end (G): the last entry shown whole",
        &app,
    );
}

#[test]
fn handoff_long_summary_scrolls() {
    let mut app = app();
    press_ch(&mut app, '7');
    let mut md = String::from("# Shift handoff\n\n");
    for n in 0..80 {
        md.push_str(&format!(
            "- APR-{n} issue_refund for refund-bot rejected by dana: amount over the \
             customer's lifetime spend, ask finance before retrying\n"
        ));
    }
    app.panes.handoff.summary = Some(Ok(md));
    snap(
        "handoff_long",
        "Handoff with a summary longer than the screen: ↓ more and a scrollbar",
        &app,
    );
    for _ in 0..3 {
        press(&mut app, key(KeyCode::PageDown));
    }
    snap(
        "handoff_long_paged",
        "The long handoff summary after three page-downs",
        &app,
    );
}

#[test]
fn runbook_served_with_a_late_step_focused() {
    let mut app = app();
    let books = agentdeck::hub::reload::load_runbooks(std::path::Path::new("runbooks"))
        .expect("the runbooks of the repository load");
    app.panes.runbook.runbooks = books.into_iter().map(|b| (b.name.clone(), b)).collect();
    press_ch(&mut app, '6');
    for _ in 0..6 {
        press_ch(&mut app, 'j');
    }
    snap(
        "runbook_step_7",
        "Runbook unsafe_action served, step 7 focused: shown whole, the list scrolled to it",
        &app,
    );
}

#[test]
fn help_scrolled_to_the_end() {
    let mut app = app();
    press_ch(&mut app, '2');
    press_ch(&mut app, '?');
    render(&app, &Theme::dark(), 80, 24);
    press_ch(&mut app, 'G');
    snap(
        "help_end",
        "Help on the Incidents screen scrolled to its end (G): the last keys, nothing below",
        &app,
    );
}

// ---- dialogs ------------------------------------------------------------------

#[test]
fn help_dialog() {
    let mut app = app();
    press_ch(&mut app, '3');
    press_ch(&mut app, '?');
    // BUG: the [dialog] section of help_160x48.snap reads
    // "up, C-p, k, up  move up" and "down, C-n, j, downmove down":
    // Keymap::keys_for (src/tui/keymap.rs:398) adds the [global] keys to
    // the [dialog] context (j/k are typed into text entries, not moves),
    // and the key column (src/tui/view.rs:1129, `{keys:<16}`) has no
    // separator once the keys are 16 columns or wider. See
    // `help_lists_dialog_keys_correctly` (ignored).
    snap("help", "Help dialog on the Approvals screen", &app);
}

#[test]
fn status_message() {
    let mut app = app_as(Some(operator("sam", Role::Viewer)), false);
    press_ch(&mut app, '3');
    press_ch(&mut app, 'a');
    assert!(app.message().is_some());
    // BUG (src/tui/view.rs, fn status): the message is the last span of the
    // status line, after the connection, FLEET PAUSED, the operator and
    // "also here: …". With two other operators present that already fills
    // 76 of 80 columns, so status_message_80x24.snap shows NO message (nor
    // would it show "⧗ n pending"). See `status_messages_fit_at_80_columns`
    // (ignored).
    snap(
        "status_message",
        "A viewer presses `a` on Approvals: the refusal goes to the status line",
        &app,
    );
}

#[test]
fn confirm_dialog() {
    let mut app = app();
    press_ch(&mut app, '3');
    press_ch(&mut app, 'j');
    press_ch(&mut app, 'a');
    snap(
        "confirm_approve",
        "Confirmation dialog: approve APR-31 (two-person rule)",
        &app,
    );
}

#[test]
fn containment_menu() {
    let mut app = app();
    press_ch(&mut app, '2');
    press_ch(&mut app, 'j');
    press_ch(&mut app, 'c');
    snap(
        "contain_menu",
        "Containment menu for refund-bot, opened from INC-12",
        &app,
    );
}

#[test]
fn containment_form() {
    let mut app = app();
    press_ch(&mut app, '2');
    press_ch(&mut app, 'j');
    press_ch(&mut app, 'c');
    enter(&mut app); // disable a tool…
    enter(&mut app); // issue_refund
    press(&mut app, key(KeyCode::Tab));
    type_text(&mut app, "30m");
    snap(
        "contain_form",
        "Containment form: disable_tool issue_refund on refund-bot for INC-12, TTL 30m typed",
        &app,
    );
}

#[test]
fn reject_text_dialog() {
    let mut app = app();
    press_ch(&mut app, '3');
    press_ch(&mut app, 'j');
    press_ch(&mut app, 'r');
    type_text(&mut app, "needs photo evidence");
    snap(
        "reject_text",
        "Reject dialog for APR-31 with a reason typed",
        &app,
    );
}

#[test]
fn reject_text_dialog_error() {
    let mut app = app();
    press_ch(&mut app, '3');
    press_ch(&mut app, 'j');
    press_ch(&mut app, 'r');
    enter(&mut app);
    snap(
        "reject_text_error",
        "Reject dialog for APR-31 after enter with no reason: the error shows",
        &app,
    );
}

#[test]
fn emergency_stop_dialog() {
    let mut app = app();
    press(&mut app, ctrl('x'));
    press_ch(&mut app, '!');
    type_text(&mut app, "pause fleet");
    enter(&mut app);
    snap(
        "emergency_stop",
        "Emergency stop: typed confirmation after a wrong phrase",
        &app,
    );
}

// ---- monochrome ---------------------------------------------------------------

#[test]
fn monochrome_is_readable_without_colour() {
    let mut app = app();
    let mono = Theme::monochrome();
    for (screen, name) in [('1', "overview"), ('2', "incidents"), ('3', "approvals")] {
        press_ch(&mut app, screen);
        let buffer = render(&app, &mono, 80, 24);
        assert_inert(&buffer);
        let text = buffer_text(&buffer);
        // Not one colour anywhere.
        for cell in buffer.content.iter() {
            assert_eq!(cell.fg, Color::Reset, "{name}: fg at {:?}", cell.symbol());
            assert_eq!(cell.bg, Color::Reset, "{name}: bg at {:?}", cell.symbol());
        }
        // The same words as in colour.
        assert_eq!(
            text,
            buffer_text(&render(&app, &Theme::dark(), 80, 24)),
            "{name}: monochrome shows the same text as colour"
        );
        // State is still told by words and symbols…
        assert!(text.contains("FLEET PAUSED"), "{name}:\n{text}");
        assert!(text.contains('▶'), "{name}: selection marker:\n{text}");
        // …and the selected row by reverse video.
        let (x, y) = find(&buffer, "▶");
        assert!(
            buffer[(x, y)].modifier.contains(Modifier::REVERSED),
            "{name}: the selected row is reversed"
        );
        let (x, y) = find(&buffer, "FLEET PAUSED");
        assert!(buffer[(x, y)].modifier.contains(Modifier::REVERSED));
        match name {
            "overview" => {
                for word in [
                    "PAGE",
                    "TICKET",
                    "ok",
                    "✓",
                    "▕",
                    "1 PAGE",
                    "1 TICKET",
                    "(1 SEV1)",
                    "next in 9m00s",
                ] {
                    assert!(text.contains(word), "overview lacks {word:?}:\n{text}");
                }
            }
            "incidents" => {
                for word in [
                    "SEV1",
                    "SEV2",
                    "SEV3",
                    "triggered",
                    "acknowledged",
                    "contained",
                ] {
                    assert!(text.contains(word), "incidents lacks {word:?}:\n{text}");
                }
            }
            _ => {
                for word in ["40s", "escalated", "pending", "high", "medium"] {
                    assert!(text.contains(word), "approvals lacks {word:?}:\n{text}");
                }
            }
        }
        insta::with_settings!({ description => format!("{name} with Theme::monochrome() (NO_COLOR)"), omit_expression => true }, {
            insta::assert_snapshot!(format!("monochrome_{name}_80x24"), text);
        });
    }
}

// ---- colours that carry meaning -------------------------------------------------

/// The column of the header cell `title` of the table on screen.
fn column_x(buffer: &Buffer, title: &str) -> u16 {
    find(buffer, title).0
}

/// Rows (y) of the table body whose text at column `x` is `word`.
fn rows_with(buffer: &Buffer, x: u16, word: &str) -> Vec<u16> {
    (0..buffer.area.height)
        .filter(|&y| {
            let t = cells_text(buffer, x, y, word.chars().count() as u16 + 1);
            t.trim_end() == word
        })
        .collect()
}

/// The row of the selected line of a table (the one with `▶`).
fn selected_row(buffer: &Buffer) -> u16 {
    find(buffer, "▶").1
}

#[test]
fn overview_colours_by_meaning() {
    let t = Theme::dark();
    for (w, h) in SIZES {
        let mut app = app();
        // Move the selection off the PAGE and TICKET rows so that their
        // own colours show.
        press_ch(&mut app, 'j');
        press_ch(&mut app, 'j');
        let b = render(&app, &t, w, h);

        // The fleet summary line.
        let (x, y) = find(&b, "1 PAGE");
        assert_eq!(
            b[(x, y)].fg,
            t.critical,
            "{w}x{h}: summary PAGE is critical"
        );
        assert!(b[(x, y)].modifier.contains(Modifier::BOLD));
        let (x, y) = find(&b, "1 TICKET");
        assert_eq!(
            b[(x, y)].fg,
            t.warning,
            "{w}x{h}: summary TICKET is warning"
        );
        // The healthy count drops first at 80 columns; what needs the
        // operator (a SEV1 open, the nearest deadline) stays.
        if w >= 110 {
            let (x, y) = find(&b, "6 ok");
            assert_eq!(b[(x, y)].fg, t.ok, "{w}x{h}: summary ok is ok");
            find(&b, "(1 SEV1, 1 SEV2, 1 SEV3)");
        }
        let (x, y) = find(&b, "(1 SEV1");
        assert_eq!(b[(x, y)].fg, t.critical, "{w}x{h}: a SEV1 open is critical");
        find(&b, "next in 9m00s");

        // The alert column.
        let alert = column_x(&b, "alert");
        let page = rows_with(&b, alert, "PAGE");
        assert_eq!(page.len(), 1, "{w}x{h}: one paging series");
        assert_eq!(b[(alert, page[0])].fg, t.critical, "{w}x{h}: PAGE cell");
        let ticket = rows_with(&b, alert, "TICKET");
        assert_eq!(ticket.len(), 1, "{w}x{h}: one ticketing series");
        assert_eq!(b[(alert, ticket[0])].fg, t.warning, "{w}x{h}: TICKET cell");
        let ok = rows_with(&b, alert, "ok");
        assert_eq!(ok.len(), 6, "{w}x{h}: six healthy series");
        let sel = selected_row(&b);
        for y in ok.iter().filter(|y| **y != sel) {
            assert_eq!(b[(alert, *y)].fg, t.ok, "{w}x{h}: ok cell at row {y}");
        }

        // The budget gauge takes the alert's colour.
        let budget = column_x(&b, "budget");
        assert_eq!(b[(budget + 1, page[0])].fg, t.critical);
        assert_eq!(b[(budget + 1, ticket[0])].fg, t.warning);

        // The selected row: selection colours across the row.
        assert!(ok.contains(&sel), "the third row is a healthy one");
        for x in [alert, budget + 1, 5] {
            assert_eq!(b[(x, sel)].bg, t.selection_bg, "{w}x{h}: selected at x={x}");
            assert_eq!(b[(x, sel)].fg, t.selection_fg, "{w}x{h}: selected at x={x}");
        }
        assert_ne!(b[(alert, page[0])].bg, t.selection_bg);

        // The status bar: the fleet is paused, in critical reverse video.
        let (x, y) = find(&b, "FLEET PAUSED");
        assert_eq!(y, h - 1, "on the status line");
        let cell = &b[(x, y)];
        assert_eq!(cell.fg, t.critical, "FLEET PAUSED is critical");
        assert!(cell.modifier.contains(Modifier::REVERSED));
        assert!(cell.modifier.contains(Modifier::BOLD));
        let (x, y) = find(&b, "● connected");
        assert_eq!(b[(x, y)].fg, t.ok);

        // The current tab is drawn as selected; tabs needing attention in
        // the warning colour.
        let (x, y) = find(&b, if w < 110 { "1 Over" } else { "1 Overview" });
        assert_eq!(
            (b[(x, y)].fg, b[(x, y)].bg),
            (t.selection_fg, t.selection_bg)
        );
        let (x, y) = find(
            &b,
            if w < 110 {
                "2 Inc·3"
            } else {
                "2 Incidents·3"
            },
        );
        assert_eq!(b[(x, y)].fg, t.warning, "incidents tab: SEV1/SEV2 open");
        let (x, y) = find(
            &b,
            if w < 110 {
                "3 Appr·3"
            } else {
                "3 Approvals·3"
            },
        );
        assert_eq!(b[(x, y)].fg, t.warning, "approvals tab: some pending");
    }
}

#[test]
fn the_selected_row_is_highlighted_by_default() {
    let t = Theme::dark();
    let app = app();
    let b = render(&app, &t, 80, 24);
    let sel = selected_row(&b);
    assert!(
        row_text(&b, sel).contains("refund-bot/refund"),
        "worst series first"
    );
    for x in 1..20 {
        assert_eq!(b[(x, sel)].bg, t.selection_bg, "x={x}");
    }
    // The PAGE word stays on the selected row, in selection colours.
    let alert = column_x(&b, "alert");
    assert_eq!(cells_text(&b, alert, sel, 4), "PAGE");
    assert_eq!(b[(alert, sel)].fg, t.selection_fg);
}

#[test]
fn incident_colours_by_meaning() {
    let t = Theme::dark();
    for (w, h) in SIZES {
        let mut app = app();
        press_ch(&mut app, '2');
        press_ch(&mut app, 'j'); // INC-12 selected, INC-14 (SEV1) not
        let b = render(&app, &t, w, h);
        let sev = column_x(&b, "SEV");
        let sev1 = rows_with(&b, sev, "SEV1");
        assert_eq!(sev1.len(), 1);
        assert_eq!(
            b[(sev, sev1[0])].fg,
            t.critical,
            "{w}x{h}: SEV1 is critical"
        );
        let state = column_x(&b, "state");
        assert_eq!(cells_text(&b, state, sev1[0], 9), "triggered");
        assert_eq!(b[(state, sev1[0])].fg, t.critical, "triggered is critical");
        let sev3 = rows_with(&b, sev, "SEV3");
        assert_eq!(cells_text(&b, state, sev3[0], 9), "contained");
        assert_eq!(b[(state, sev3[0])].fg, t.ok, "contained is ok");
        assert_eq!(b[(sev, sev3[0])].fg, t.text, "SEV3 is plain text");
        // The selected INC-12 row.
        let sel = selected_row(&b);
        assert!(row_text(&b, sel).contains("INC-12"));
        assert_eq!(b[(sev, sel)].bg, t.selection_bg);
        // Someone else is looking at INC-12: said in the detail, in warning.
        let (x, y) = find(&b, "also looking: lee");
        assert_eq!(b[(x, y)].fg, t.warning);
    }
}

#[test]
fn approval_colours_by_meaning() {
    let t = Theme::dark();
    for (w, h) in SIZES {
        let mut app = app();
        press_ch(&mut app, '3');
        press_ch(&mut app, 'j'); // APR-31 selected
        let b = render(&app, &t, w, h);
        // APR-33 is due in 40 s: critical.
        let (x, y) = find(&b, "40s");
        assert_eq!(b[(x, y)].fg, t.critical, "{w}x{h}: due within a minute");
        let (x, y) = find(&b, "escalated");
        assert_eq!(b[(x, y)].fg, t.warning, "escalated is warning");
        // APR-34, due in 12m10s: plain.
        let (x, y) = find(&b, "12m10s");
        assert_eq!(b[(x, y)].fg, t.text);
        // APR-31 (selected, high risk, two approvers).
        let sel = selected_row(&b);
        assert!(row_text(&b, sel).contains("APR-31"));
        assert_eq!(b[(x, sel)].bg, t.selection_bg);
    }
}

#[test]
fn control_colours_by_meaning() {
    let t = Theme::dark();
    let mut app = app();
    press_ch(&mut app, '4');
    press_ch(&mut app, 'j'); // CTL-7 selected, the fleet row not
    let b = render(&app, &t, 80, 24);
    let (x, y) = find(&b, "* (fleet)");
    assert_eq!(b[(x, y)].fg, t.critical, "a fleet-wide control is critical");
    let (x, y) = find(&b, "pause_agent");
    assert_eq!(b[(x, y)].fg, t.warning);
    assert!(row_text(&b, y).contains("until lifted"));
    let (_, y) = find(&b, "disable_tool");
    assert!(row_text(&b, y).contains("54m10s"), "TTL countdown");
    assert_eq!(selected_row(&b), y);
}

#[test]
fn dialog_errors_are_critical() {
    let t = Theme::dark();
    let mut app = app();
    press_ch(&mut app, '3');
    press_ch(&mut app, 'r');
    enter(&mut app);
    let b = render(&app, &t, 80, 24);
    let (x, y) = find(&b, "a reason is required to reject");
    assert_eq!(b[(x, y)].fg, t.critical);
}

// ---- hostile text ---------------------------------------------------------------

#[test]
fn hostile_incident_title_stays_inert_everywhere() {
    // The fixture really does carry the hostile bytes.
    let raw = &snapshot().incidents[2].title;
    assert!(raw.contains("\x1b]52;c;") && raw.contains('\u{202e}') && raw.contains("\x1b[2J"));

    let mut app = app();
    for keys in [
        &['2'][..],      // the incident list and detail
        &['6'][..],      // its runbook
        &['2', 'n'][..], // the note dialog quotes the title
        &['2', 'y'][..], // copy: the status line names the id
    ] {
        let mut app2 = app_as(Some(dana()), false);
        for k in keys {
            press_ch(&mut app2, *k);
        }
        for (w, h) in SIZES {
            let b = render(&app2, &Theme::dark(), w, h);
            assert_inert(&b);
        }
    }

    // What is left is the readable text: whole in the incident detail at
    // both sizes (wrapped over lines), and on the runbook screen.
    press_ch(&mut app, '2');
    for (w, h) in SIZES {
        let b = render(&app, &Theme::dark(), w, h);
        find(
            &b,
            "SEV1 ops-runner restarted payments-db in prod twice (see",
        );
        find(&b, "txt.exe)");
    }
    press_ch(&mut app, '6');
    let b = render(&app, &Theme::dark(), 80, 24);
    find(&b, &format!("INC-14 {HOSTILE_CLEAN}"));
}

// ---- known rendering bugs (ignored until fixed) -------------------------------------

#[test]
fn status_messages_fit_at_80_columns() {
    let mut app = app_as(Some(operator("sam", Role::Viewer)), false);
    press_ch(&mut app, '3');
    press_ch(&mut app, 'a');
    let b = render(&app, &Theme::dark(), 80, 24);
    let status = row_text(&b, 23);
    assert!(status.contains("needs the role approver"), "{status}");
    // A pending action must show too.
    let mut dana = support_tui::app();
    press_ch(&mut dana, '2');
    press_ch(&mut dana, 'a');
    let b = render(&dana, &Theme::dark(), 80, 24);
    assert!(row_text(&b, 23).contains("pending"), "{}", row_text(&b, 23));
}

#[test]
fn controls_time_left_is_not_cut() {
    let mut app = app();
    press_ch(&mut app, '4');
    let b = render(&app, &Theme::dark(), 160, 48);
    find(&b, "until lifted");
}

#[test]
fn help_lists_dialog_keys_correctly() {
    let mut app = app();
    press_ch(&mut app, '?');
    let text = buffer_text(&render(&app, &Theme::dark(), 160, 48));
    assert!(!text.contains("downmove down"), "{text}");
    assert!(
        !text.contains("C-n, j"),
        "j is typed in dialogs, not a move"
    );
}

// ---- the handoff summary ------------------------------------------------------

/// The Handoff screen showing the summary the hub would write for the
/// fixture's last 8 hours, with a rejection and a note for the next shift.
fn handoff_summary_app() -> App {
    use agentdeck::handoff::{SloNow, Window, summarize, to_markdown};
    use agentdeck::model::approval::{ApprovalState, Decision, Verdict};
    use agentdeck::model::runbook::HandoffNote;

    let state = support_tui::snapshot();
    let mut approvals = state.approvals.clone();
    let mut rejected = approvals[1].clone();
    rejected.id = "APR-30".into();
    rejected.state = ApprovalState::Rejected;
    rejected.closed_at = Some(at("2026-11-21T03:05:00Z"));
    rejected.decisions = vec![Decision {
        by: "dana".into(),
        role: Role::Lead,
        verdict: Verdict::Reject,
        reason: Some("the customer | asked us *not* to email".into()),
        modified_args: None,
        at: at("2026-11-21T03:05:00Z"),
    }];
    approvals.push(rejected);
    let note = HandoffNote {
        by: "dana".into(),
        at: at("2026-11-21T03:10:00Z"),
        text: "CTL-9 stays until ops-runner's prompt is fixed.".into(),
    };
    let window = Window {
        from: now() - chrono::Duration::hours(8),
        to: now(),
    };
    let slos: Vec<SloNow> = state
        .slos
        .iter()
        .map(|status| SloNow {
            status: status.clone(),
            budget_burned: Some(1.0 - status.budget_remaining),
        })
        .collect();
    let h = summarize(
        window,
        &state.incidents,
        &approvals,
        &state.controls,
        &slos,
        &[note],
        now(),
    );
    let mut app = app();
    press_ch(&mut app, '7');
    app.panes.handoff.summary = Some(Ok(to_markdown(&h)));
    app
}

#[test]
fn handoff_summary() {
    let app = handoff_summary_app();
    // The pane fits tables to its inner width (`markdown::lines_fit`): no
    // row wraps at 80 columns; the summary scrolls.
    snap(
        "handoff_summary",
        "Handoff with a summary: tables as aligned columns, header styled, no Markdown pipes",
        &app,
    );
    for (w, h) in SIZES {
        let buffer = render(&app, &Theme::dark(), w, h);
        let text = buffer_text(&buffer);
        assert!(!text.contains("|---") && !text.contains("| INC-"), "{text}");
        let (x, y) = find(&buffer, "Incident  Severity");
        let header = buffer.cell((x, y)).expect("header cell");
        assert_eq!(header.style().fg, Theme::dark().title().fg, "header styled");
        if w == 160 {
            assert_eq!(cells_text(&buffer, x, y + 1, 6), "INC-11");
            let (x14, _) = find(&buffer, "INC-14    SEV1      triggered     unowned");
            assert_eq!(x14, x, "rows line up under the header");
            let (title_x, _) = find(&buffer, "Title");
            assert_eq!(find(&buffer, "ops-runner restarted").0, title_x);
        }
    }
}

/// The whole summary as the Handoff pane's lines, fitted to its inner
/// width at both sizes: every table row within the width, cut with `…`
/// only where the table cannot fit.
#[test]
fn handoff_summary_lines() {
    let app = handoff_summary_app();
    let Some(Ok(md)) = &app.panes.handoff.summary else {
        panic!("no summary");
    };
    for (w, _) in SIZES {
        let inner = w - 2;
        let lines = agentdeck::tui::markdown::lines_fit(md, &Theme::dark(), inner);
        let text: Vec<String> = lines
            .iter()
            .map(|l| l.spans.iter().map(|s| s.content.as_ref()).collect())
            .collect();
        for (line, t) in lines.iter().zip(&text) {
            let table_row = [
                "INC-", "APR-", "CTL-", "2026-", "Incident", "Approval", "Control",
            ]
            .iter()
            .any(|p| t.starts_with(p));
            assert!(!table_row || line.width() <= usize::from(inner), "{t}");
            assert!(!t.contains('|') || t.contains("customer | asked"), "{t}");
        }
        let cut = |prefix: &str| {
            text.iter()
                .filter(|t| t.starts_with(prefix))
                .any(|t| t.contains('…'))
        };
        assert_eq!(
            cut("APR-30"),
            w == 80,
            "cut only where the table cannot fit"
        );
        assert_eq!(
            cut("INC-12"),
            w == 80,
            "the longest title is cut at 80 columns only"
        );
        insta::with_settings!({ description => "markdown::lines_fit of the summary for a pane this wide", omit_expression => true }, {
            insta::assert_snapshot!(format!("handoff_summary_lines_{inner}"), text.join("\n"));
        });
    }
}

/// With several addresses of the hub (`--hub A,B`), the status line names
/// the one the stream is connected to, so an operator sees a failover;
/// with one address it says only "connected".
#[test]
fn the_status_line_names_the_address_in_use_when_there_are_several() {
    let t = Theme::dark();
    let mut app = app();
    let one = buffer_text(&render(&app, &t, 80, 24));
    assert!(one.contains("● connected "), "{one}");
    assert!(!one.contains("connected to"), "{one}");
    app.hub_in_use = Some("http://hub-b.internal:7400".to_string());
    let b = render(&app, &t, 80, 24);
    let (x, y) = find(&b, "● connected to hub-b.internal:7400");
    assert_eq!(y, 23, "on the status line");
    assert_eq!(b[(x, y)].fg, t.ok);
}
