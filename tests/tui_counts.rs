//! Every screen at 80×24 with 3-digit and 5-digit counts and ids: a number
//! is never cut. Lower-priority columns drop whole instead, in the order
//! the README gives ("Narrow terminals").

mod support_tui;

use agentdeck::tui::app::App;
use agentdeck::tui::theme::Theme;

use support_tui::*;

/// The app with `n` open incidents, pending approvals and controls in
/// force (ids `INC-10000` up), most on the fixture's first agent, and `n`
/// runs a minute each.
fn app_with(n: usize) -> App {
    let mut app = app();
    let mut s = snapshot();
    let agents: Vec<String> = s.agents.iter().map(|a| a.id.clone()).collect();
    let (i0, a0, c0) = (
        s.incidents[0].clone(),
        s.approvals[0].clone(),
        s.controls[0].clone(),
    );
    s.incidents.clear();
    s.approvals.clear();
    s.controls.clear();
    for k in 0..n {
        // A few rows each, the rest on the first agent: its counts reach
        // five digits.
        let agent = agents[if k < 4 * agents.len() {
            k % agents.len()
        } else {
            0
        }]
        .clone();
        let mut i = i0.clone();
        i.id = format!("INC-{}", 10_000 + k);
        i.agent = Some(agent.clone());
        // No other ids: every id on screen is one of these.
        i.controls.clear();
        i.timeline.clear();
        s.incidents.push(i);
        let mut a = a0.clone();
        a.id = format!("APR-{}", 10_000 + k);
        a.agent = agent.clone();
        s.approvals.push(a);
        let mut c = c0.clone();
        c.id = format!("CTL-{}", 10_000 + k);
        c.agent = agent;
        s.controls.push(c);
    }
    for a in &mut s.agents {
        a.runs_last_minute = n as u64;
    }
    app.apply_feed(agentdeck::client::feed::FeedMsg::Snapshot(Box::new(s)));
    app
}

/// Every id on screen, as the digits after its prefix.
fn ids_on(screen: &str) -> Vec<String> {
    let mut found = Vec::new();
    for prefix in ["INC-", "APR-", "CTL-"] {
        for (at, _) in screen.match_indices(prefix) {
            let digits: String = screen[at + prefix.len()..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            found.push(digits);
        }
    }
    found
}

#[test]
fn no_screen_cuts_a_count_or_an_id_at_80_by_24() {
    for n in [123usize, 12_345] {
        let mut app = app_with(n);
        for key in ['1', '2', '3', '4', '5', '6', '7'] {
            press_ch(&mut app, key);
            let screen = buffer_text(&render(&app, &Theme::dark(), 80, 24));
            let tabs = screen.lines().next().expect("a tab bar");
            for count in [format!("Inc·{n}"), format!("Appr·{n}"), format!("Ctrl·{n}")] {
                assert!(tabs.contains(&count), "{n} on {key}: {tabs}");
            }
            // The status bar names what other operators look at (the
            // fixture's INC-12, APR-31): only the board is checked.
            let board: Vec<&str> = screen.lines().collect();
            let board = board[..board.len() - 1].join("\n");
            let ids = ids_on(&board);
            assert!(
                ids.iter().all(|d| d.len() == 5),
                "{n} on {key}: an id cut to {ids:?}\n{screen}"
            );
            let cut_number = screen
                .char_indices()
                .any(|(i, c)| c == '…' && screen[..i].ends_with(|p: char| p.is_ascii_digit()));
            assert!(!cut_number, "{n} on {key}: a number cut\n{screen}");
            if n > 9_999 && matches!(key, '1' | '2' | '5') {
                insta::assert_snapshot!(format!("counts_{n}_screen_{key}_80x24"), screen);
            }
            match key {
                '1' => {
                    let fleet = screen.lines().nth(1).expect("a fleet line");
                    assert!(
                        fleet.contains(&format!("inc {n}")) && fleet.contains(&format!("appr {n}")),
                        "{n}: {fleet}"
                    );
                }
                '2' | '3' | '4' => assert!(ids.len() > 3, "{n} on {key}: ids listed\n{screen}"),
                '5' => {
                    let loads = app.agent_loads();
                    let words = |l: &str| -> Vec<String> {
                        l.split(|c: char| c.is_whitespace() || "┃▶".contains(c))
                            .filter(|w| !w.is_empty())
                            .map(str::to_string)
                            .collect()
                    };
                    let runs_shown = screen.contains("runs/min");
                    for a in app.data.agents.keys() {
                        let row = screen
                            .lines()
                            .find(|l| words(l).contains(a))
                            .unwrap_or_else(|| panic!("{a} listed\n{screen}"));
                        let incidents = loads.of(a).incidents.to_string();
                        assert!(
                            words(row).contains(&incidents),
                            "{n}: {a} has {incidents} incidents: {row}"
                        );
                        assert!(
                            !runs_shown || words(row).contains(&n.to_string()),
                            "{n}: {a} runs {n} a minute: {row}"
                        );
                    }
                }
                _ => {}
            }
        }
    }
}
