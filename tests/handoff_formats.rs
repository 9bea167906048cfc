//! What the handoff summary says and how it is written: rejection reasons
//! and operator notes are in it, each open incident is listed once, outside
//! text stays inert in every format, and `agentdeck handoff --format
//! markdown|text|json` against a hub on loopback.

mod support;

use std::process::Command;

use agentdeck::engine::incident::NewIncident;
use agentdeck::handoff::{Handoff, Window, summarize, to_markdown, to_text};
use agentdeck::model::approval::{Approval, ApprovalState, Decision, Verdict};
use agentdeck::model::envelope::Risk;
use agentdeck::model::incident::{Category, Incident, IncidentSource, IncidentState, Severity};
use agentdeck::model::role::Role;
use agentdeck::model::runbook::HandoffNote;
use agentdeck::tui::markdown::lines_fit;
use agentdeck::tui::theme::Theme;
use chrono::{DateTime, Duration as Span, SecondsFormat, Utc};
use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};
use serde_json::json;
use support::{TestHub, approval_line, start};

/// Times on 2026-11-21 (`HH:MM`).
fn at(hm: &str) -> DateTime<Utc> {
    format!("2026-11-21T{hm}:00Z").parse().unwrap()
}

/// A reason written to break out of its table cell, format itself and
/// drive the terminal it is printed to.
const HOSTILE: &str =
    "amount | *too* high <b>x</b> [site](http://x) \u{1b}[2J\u{202e}\u{1b}]52;c;eA==\u{7}";

fn incident(n: u32, opened: &str, resolved: Option<&str>) -> Incident {
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
    if let Some(r) = resolved {
        i.resolved_at = Some(at(r));
        i.state = IncidentState::Resolved;
    }
    i
}

fn approval(n: u32, verdict: Verdict, reason: &str, closed: &str) -> Approval {
    Approval {
        id: format!("APR-{n}"),
        agent: "refund-bot".into(),
        request_id: format!("rq-{n}"),
        run_id: None,
        workflow: "refund".into(),
        action: "issue_refund".into(),
        tool: Some("issue_refund".into()),
        args: json!({}),
        risk: Risk::Medium,
        reason: None,
        context: None,
        reject_options: vec![],
        requested_at: at("01:00"),
        deadline: at("09:00"),
        escalate_at: None,
        state: match verdict {
            Verdict::Approve => ApprovalState::Approved,
            Verdict::Reject => ApprovalState::Rejected,
        },
        approvals_required: 1,
        decisions: vec![Decision {
            by: "cho".into(),
            role: Role::Approver,
            verdict,
            reason: Some(reason.into()),
            modified_args: None,
            at: at(closed),
        }],
        closed_at: Some(at(closed)),
    }
}

/// The shift 00:00–08:00: INC-1 opened in it and still open, INC-2 opened
/// before it and resolved in it, INC-3 opened and resolved in it; APR-1
/// rejected (hostile reason) and APR-2 approved in it, APR-3 rejected
/// before it; notes on INC-1 in and before the shift.
fn shift() -> Handoff {
    let mut inc1 = incident(1, "01:00", None);
    inc1.note(
        "bo",
        "restarted the worker; 422s down to 1/min",
        at("02:00"),
    );
    let mut inc2 = incident(2, "00:00", Some("03:00"));
    inc2.opened_at = at("00:00") - Span::hours(2);
    inc2.note("bo", "from the last shift", at("00:00") - Span::hours(1));
    let incidents = vec![inc1, inc2, incident(3, "04:00", Some("05:00"))];
    let mut early = approval(3, Verdict::Reject, "last shift's reason", "00:00");
    early.decisions[0].at -= Span::minutes(5);
    early.closed_at = Some(early.decisions[0].at);
    let approvals = vec![
        approval(1, Verdict::Reject, HOSTILE, "02:30"),
        approval(2, Verdict::Approve, "checked", "02:40"),
        early,
    ];
    let notes = vec![HandoffNote {
        by: "dana".into(),
        at: at("07:50"),
        text: "INC-1 is bo's.\n\nWatch the 422s.".into(),
    }];
    let window = Window {
        from: at("00:00"),
        to: at("08:00"),
    };
    summarize(
        window,
        &incidents,
        &approvals,
        &[],
        &[],
        &notes,
        at("08:00"),
    )
}

#[test]
fn rejections_and_incident_notes_are_in_the_summary() {
    let h = shift();
    let r = &h.approvals.rejections;
    assert_eq!(r.len(), 1, "{r:?}");
    assert_eq!(
        (r[0].approval.as_str(), r[0].by.as_str(), r[0].at),
        ("APR-1", "cho", at("02:30"))
    );
    assert_eq!(r[0].reason.as_deref(), Some(HOSTILE));
    let n = &h.incidents.notes;
    assert_eq!(n.len(), 1, "{n:?}");
    assert_eq!((n[0].incident.as_str(), n[0].by.as_str()), ("INC-1", "bo"));
    assert_eq!(n[0].text, "restarted the worker; 422s down to 1/min");
    // The JSON carries them and reads back.
    let v = serde_json::to_value(&h).unwrap();
    assert_eq!(v["approvals"]["rejections"][0]["reason"], HOSTILE);
    assert_eq!(v["incidents"]["notes"][0]["incident"], "INC-1");
    assert_eq!(serde_json::from_value::<Handoff>(v).unwrap(), h);
}

#[test]
fn each_incident_is_listed_once() {
    let h = shift();
    assert_eq!(h.incidents.opened.len(), 2, "INC-1 and INC-3");
    for text in [to_markdown(&h), to_text(&h)] {
        for id in ["INC-1 ", "INC-2 ", "INC-3 "] {
            let rows = text
                .lines()
                .filter(|l| l.trim_start_matches("| ").starts_with(id))
                .count();
            assert_eq!(rows, 1, "{id} in:\n{text}");
        }
        assert!(!text.contains("Opened during the shift"), "{text}");
    }
}

/// Every table of `md` as rows of its cells' text (the header first), and
/// whether anything but text appeared inside a cell (emphasis, a link,
/// HTML, code).
fn tables(md: &str) -> (Vec<Vec<Vec<String>>>, bool) {
    let (mut tables, mut rows, mut row) = (Vec::new(), Vec::new(), Vec::new());
    let (mut cell, mut formatted) = (None::<String>, false);
    for event in Parser::new_ext(md, Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH) {
        match event {
            Event::Start(Tag::TableCell) => cell = Some(String::new()),
            Event::End(TagEnd::TableCell) => row.extend(cell.take()),
            Event::End(TagEnd::TableRow | TagEnd::TableHead) => rows.push(std::mem::take(&mut row)),
            Event::End(TagEnd::Table) => tables.push(std::mem::take(&mut rows)),
            Event::Text(t) => {
                if let Some(c) = &mut cell {
                    c.push_str(&t);
                }
            }
            Event::Start(_) | Event::Html(_) | Event::InlineHtml(_) | Event::Code(_)
                if cell.is_some() =>
            {
                formatted = true
            }
            _ => {}
        }
    }
    (tables, formatted)
}

#[test]
fn markdown_keeps_outside_text_inside_its_cell() {
    let md = to_markdown(&shift());
    for payload in ['\u{1b}', '\u{202e}', '\u{7}'] {
        assert!(!md.contains(payload), "{md}");
    }
    assert!(!md.contains("52;c;eA=="), "{md}");
    assert!(
        md.contains("### Rejections\n\n| Approval | Agent | Action | Rejected by | At | Reason |")
    );
    assert!(md.contains("### Notes on incidents\n\n| At | Incident | By | Note |"));
    assert!(
        md.contains("> INC-1 is bo's.\n>\n> Watch the 422s."),
        "{md}"
    );
    let (tables, formatted) = tables(&md);
    assert!(!formatted, "formatting inside a cell:\n{md}");
    for rows in &tables {
        assert!(rows.iter().all(|r| r.len() == rows[0].len()), "{rows:?}");
    }
    let rejection = tables
        .iter()
        .find(|t| t[0][3] == "Rejected by")
        .map(|t| t[1].clone())
        .expect("the rejections table");
    assert_eq!(
        rejection,
        [
            "APR-1",
            "refund-bot",
            "issue_refund",
            "cho",
            "11-21 02:30Z",
            "amount | *too* high <b>x</b> [site](http://x)"
        ]
    );
}

/// The column each header word starts at, and the text of `row` there.
fn column_text<'a>(header: &str, row: &'a str, column: &str) -> &'a str {
    let start = header.find(column).expect("column in header");
    let rest = row.get(start..).expect("row reaches the column");
    rest.split("  ").next().unwrap_or_default()
}

#[test]
fn text_tables_are_aligned_columns() {
    let text = to_text(&shift());
    assert!(
        text.starts_with("Shift handoff\n=============\n\nShift: "),
        "{text}"
    );
    assert!(!text.lines().any(|l| l.starts_with('|')), "{text}");
    for payload in ['\u{1b}', '\u{202e}', '\u{7}'] {
        assert!(!text.contains(payload), "{text}");
    }
    assert!(!text.contains("52;c;eA=="), "{text}");
    let lines: Vec<&str> = text.lines().collect();
    let head = lines
        .iter()
        .position(|l| *l == "Rejections:")
        .expect("rejections")
        + 1;
    let (header, rule, row) = (lines[head], lines[head + 1], lines[head + 2]);
    assert!(
        rule.starts_with("--------  ----------  ------------  -----------"),
        "{rule}"
    );
    assert_eq!(column_text(header, row, "Rejected by"), "cho");
    assert_eq!(column_text(header, row, "At"), "11-21 02:30Z");
    // Text as written, the escape and the bidi override gone.
    assert_eq!(
        column_text(header, row, "Reason"),
        "amount | *too* high <b>x</b> [site](http://x)"
    );
    assert!(row.ends_with("[site](http://x)"), "{row}");
    assert!(
        text.contains("dana at 2026-11-21T07:50:00Z:\n  INC-1 is bo's.\n\n  Watch the 422s.\n")
    );
}

/// The TUI draws the same Markdown as columns, unescaped, fitted to the
/// screen.
#[test]
fn the_screen_shows_the_reason_as_written() {
    let md = to_markdown(&shift());
    let theme = Theme::monochrome();
    let text = |width: u16| -> Vec<String> {
        lines_fit(&md, &theme, width)
            .iter()
            .map(|l| l.spans.iter().map(|s| s.content.as_ref()).collect())
            .collect()
    };
    let wide = text(200);
    let row = wide
        .iter()
        .find(|l| l.starts_with("APR-1 ") && l.contains("amount"))
        .expect("the rejection row");
    assert!(
        row.contains("amount | *too* high <b>x</b> [site](http://x)"),
        "{row}"
    );
    let narrow = text(78);
    let rows: Vec<&String> = narrow
        .iter()
        .filter(|l| ["APR-", "INC-", "2026-"].iter().any(|p| l.starts_with(p)))
        .collect();
    assert!(rows.len() >= 6, "{narrow:#?}");
    for row in &rows {
        assert!(row.chars().count() <= 78, "{row}");
    }
    assert!(
        rows.iter()
            .any(|l| l.starts_with("APR-1 ") && l.contains("amount") && l.ends_with('…')),
        "{rows:#?}"
    );
}

fn binary(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_agentdeck"))
        .args(args)
        .env_remove("AGENTDECK_HUB")
        .env_remove("AGENTDECK_TOKEN")
        .output()
        .expect("run agentdeck")
}

fn stdout(o: &std::process::Output) -> String {
    assert!(o.status.success(), "{o:?}");
    String::from_utf8(o.stdout.clone()).unwrap()
}

/// A summary without its `Generated …` time, which moves between calls.
fn settled(text: &str) -> String {
    text.lines()
        .filter(|l| !l.starts_with("Shift: "))
        .collect::<Vec<_>>()
        .join("\n")
}

/// What the shift on the hub holds: two incidents (a note on INC-1), two
/// approvals (APR-1 rejected with a reason written to break a table), a
/// note for the next shift.
async fn seed(h: &TestHub, now: DateTime<Utc>) {
    for n in 1..=2 {
        let (s, body) = h
            .post(
                "responder",
                "/v1/incidents",
                json!({"title": format!("refunds failing {n}"), "severity": "SEV2", "category": "tool_failure"}),
                None,
            )
            .await;
        assert_eq!(s, 201, "{body}");
    }
    let (s, body) = h
        .post(
            "responder",
            "/v1/incidents/INC-1/note",
            json!({"text": "worker restarted; watching the 422s"}),
            None,
        )
        .await;
    assert_eq!(s, 200, "{body}");
    let lines: Vec<String> = (1..=2)
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
    assert_eq!((s, body["accepted"].as_u64()), (200, Some(2)), "{body}");
    let (s, body) = h
        .post(
            "approver",
            "/v1/approvals/APR-1/decision",
            json!({"decision": "reject", "reason": REASON}),
            None,
        )
        .await;
    assert_eq!(
        (s, body["state"].as_str()),
        (200, Some("rejected")),
        "{body}"
    );
    let (s, body) = h
        .post(
            "lead",
            "/v1/handoff/notes",
            json!({"text": "INC-2 is unowned."}),
            None,
        )
        .await;
    assert_eq!(s, 201, "{body}");
}

/// The rejection reason given on the live hub.
const REASON: &str = "amount | *too high* for <b>one</b> order";

/// `agentdeck handoff` over the hour around `now`: with no `--format`,
/// with each format, with an unknown one, and `--help`.
async fn run_cli(h: &TestHub, now: DateTime<Utc>) -> [std::process::Output; 6] {
    let time = |t: DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Secs, true);
    let (from, to) = (time(now - Span::hours(1)), time(now + Span::hours(1)));
    let (url, token) = (h.hub.url(), h.token("viewer").to_string());
    tokio::task::spawn_blocking(move || {
        let run = |extra: &[&str]| {
            let mut args = vec![
                "handoff", "--hub", &url, "--token", &token, "--from", &from, "--to", &to,
            ];
            args.extend_from_slice(extra);
            binary(&args)
        };
        [
            run(&[]),
            run(&["--format", "markdown"]),
            run(&["--format", "text"]),
            run(&["--format", "json"]),
            run(&["--format", "pdf"]),
            binary(&["handoff", "--help"]),
        ]
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_writes_markdown_text_or_json() {
    let h = start().await;
    let now = Utc::now();
    seed(&h, now).await;

    // The hub writes every format; plain text says so.
    let r = h
        .http
        .get(h.url("/v1/handoff?format=text"))
        .bearer_auth(h.token("viewer"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.headers()["content-type"], "text/plain; charset=utf-8");
    let (s, body) = h.get("viewer", "/v1/handoff?format=pdf").await;
    assert_eq!(s, 400);
    let error = body["error"].as_str().unwrap_or_default();
    assert!(error.contains("markdown, text or json"), "{body}");

    let [default, md, text, json, bad, help] = run_cli(&h, now).await;
    let md = stdout(&md);
    assert_eq!(
        settled(&stdout(&default)),
        settled(&md),
        "markdown is the default"
    );
    check_markdown(&md);
    let text = stdout(&text);
    check_text(&text);

    let json = stdout(&json);
    assert!(json.starts_with("{\n  \"from\": "), "indented:\n{json}");
    let doc: Handoff = serde_json::from_str(&json).unwrap();
    assert_eq!(doc.approvals.rejections[0].by, "approver");
    assert_eq!(doc.approvals.rejections[0].reason.as_deref(), Some(REASON));
    assert_eq!(doc.incidents.notes[0].incident, "INC-1");
    assert_eq!(doc.incidents.still_open.len(), 2);
    // The same facts: the JSON written as text is what --format text printed.
    assert_eq!(settled(&to_text(&doc)), settled(&text));

    assert_eq!(bad.status.code(), Some(2), "{bad:?}");
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        err.contains("'pdf'") && err.contains("[possible values: markdown, text, json]"),
        "{err}"
    );
    let help = stdout(&help);
    assert!(
        help.contains("--format <FORMAT>") && help.contains("markdown (the default)"),
        "{help}"
    );
}

/// `--format markdown` of the seeded shift.
fn check_markdown(md: &str) {
    for needle in [
        "| APR-1 | refund-bot | issue_refund | approver | ",
        " | amount \\| \\*too high\\* for \\<b\\>one\\</b\\> order |",
        "| INC-1 | responder | worker restarted; watching the 422s |",
        "> INC-2 is unowned.",
    ] {
        assert!(md.contains(needle), "missing {needle:?} in:\n{md}");
    }
    assert_eq!(md.matches("| INC-2 |").count(), 1, "{md}");
}

/// `--format text` of the seeded shift.
fn check_text(text: &str) {
    assert!(!text.contains("|---"), "{text}");
    let rows: Vec<&str> = text.lines().collect();
    let head = rows
        .iter()
        .position(|l| *l == "Rejections:")
        .expect("rejections")
        + 1;
    assert_eq!(column_text(rows[head], rows[head + 2], "Reason"), REASON);
    assert_eq!(
        column_text(rows[head], rows[head + 2], "Rejected by"),
        "approver"
    );
    assert!(text.contains("Notes on incidents:\nAt "), "{text}");
}
