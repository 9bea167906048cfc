//! The summary written out: Markdown where it is rendered (a ticket, a
//! wiki, the TUI's Handoff screen), plain text with aligned columns where it
//! is not (a chat, a terminal), and the [`Handoff`] itself as JSON for
//! programs.
//!
//! Both texts are written from one list of [`Block`]s, so they carry the
//! same facts in the same order. Outside text (titles, actions, reasons and
//! notes from agents and operators) is made inert on the way out: control
//! and invisible format characters never reach a terminal, and in Markdown
//! a cell can neither end its row nor start emphasis, a link, code or HTML.

use chrono::{DateTime, SecondsFormat, Utc};
use unicode_width::UnicodeWidthStr;

use super::{
    ApprovalLine, ApprovalSummary, ControlLine, Handoff, IncidentLine, IncidentSummary, SloLine,
    StepLine, seconds,
};
use crate::model::runbook::HandoffNote;

/// How the summary is written: `agentdeck handoff --format`, and the
/// `format` parameter of `GET /v1/handoff`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Markdown, lists as pipe tables.
    Markdown,
    /// Plain text, lists as columns padded with spaces.
    Text,
    /// The JSON document (`docs/protocol.md` §7.14).
    Json,
}

impl Format {
    /// The name on the command line and in the query.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Markdown => "markdown",
            Self::Text => "text",
            Self::Json => "json",
        }
    }

    /// Reads a `format` query value; `md` is taken for `markdown`.
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "markdown" | "md" => Some(Self::Markdown),
            "text" => Some(Self::Text),
            "json" => Some(Self::Json),
            _ => None,
        }
    }
}

/// A table: its header, and rows of cells as they came (made inert by the
/// writer of each format).
struct Table {
    head: &'static [&'static str],
    rows: Vec<Vec<String>>,
}

/// One part of the summary, in the order both texts write them.
enum Block {
    Title(&'static str),
    Section(&'static str),
    /// Always followed by the table it names.
    Subsection(&'static str),
    /// A sentence of ours: figures and times, no outside text.
    Sentence(String),
    /// Figures of ours, one per item.
    Figures(Vec<String>),
    /// A handoff note; its text is Markdown, kept as written in Markdown.
    Note(HandoffNote),
    Table(Table),
}

/// A duration for people: `45s`, `4m 05s`, `2h 07m`, `3d 04h`.
pub fn human_duration(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as u64;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m {:02}s", s / 60, s % 60),
        3600..86_400 => format!("{}h {:02}m", s / 3600, (s % 3600) / 60),
        _ => format!("{}d {:02}h", s / 86_400, (s % 86_400) / 3600),
    }
}

fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// A time in a table cell: month, day and minute (`11-21 03:05Z`), short
/// enough that a table fits 80 columns without cutting it; the summary's
/// heading gives the year and the window in full.
fn stamp(t: DateTime<Utc>) -> String {
    t.format("%m-%d %H:%MZ").to_string()
}

fn opt_stamp(t: Option<DateTime<Utc>>) -> String {
    t.map(stamp).unwrap_or_else(|| "—".into())
}

fn opt_duration(s: Option<f64>) -> String {
    s.map(human_duration).unwrap_or_else(|| "—".into())
}

fn percent(x: f64) -> String {
    format!("{:.1}%", x * 100.0)
}

/// Outside text as one inert line, cleaned as the TUI cleans what it
/// draws: escape sequences whole (an OSC 52 clipboard write leaves no
/// payload behind), other control characters, bidi overrides and
/// zero-width marks go; line breaks and tabs become a space. Printing the
/// summary to a terminal then cannot drive it or disguise a value, and the
/// printed summary drops exactly what the Handoff screen drops.
fn plain(text: &str) -> String {
    crate::tui::sanitize::clean(text)
}

/// Outside text made safe in one Markdown table cell: one inert line, with
/// a backslash before every character that could end the cell (`|`),
/// escape the next one (`\`), or start code, emphasis, strikethrough, a
/// link, HTML or an entity. `_` inside a word starts nothing and is left
/// alone, so `issue_refund` stays readable in the raw text.
fn cell(text: &str) -> String {
    let text = plain(text);
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    for (i, &c) in chars.iter().enumerate() {
        let escape = match c {
            '\\' | '|' | '`' | '*' | '~' | '[' | ']' | '<' | '>' | '&' => true,
            '_' => {
                let word = |n: Option<&char>| n.is_some_and(|c| c.is_alphanumeric());
                !(word(i.checked_sub(1).and_then(|p| chars.get(p))) && word(chars.get(i + 1)))
            }
            _ => false,
        };
        if escape {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The summary as blocks, the one description both texts are written
/// from.
fn document(h: &Handoff) -> Vec<Block> {
    let mut doc = vec![
        Block::Title("Shift handoff"),
        Block::Sentence(format!(
            "Shift: {} → {} ({}). Generated {}.",
            time(h.from),
            time(h.to),
            human_duration(seconds(h.to - h.from)),
            time(h.generated_at)
        )),
        Block::Section("Notes from the outgoing lead"),
    ];
    if h.notes.is_empty() {
        doc.push(Block::Sentence("No notes.".into()));
    }
    doc.extend(h.notes.iter().cloned().map(Block::Note));
    incidents(&mut doc, &h.incidents);
    approvals(&mut doc, &h.approvals);
    slos(&mut doc, &h.slos);
    controls(&mut doc, &h.controls);
    steps(&mut doc, &h.steps);
    doc
}

/// A titled table, left out when it has no rows.
fn titled(
    doc: &mut Vec<Block>,
    title: &'static str,
    head: &'static [&'static str],
    rows: Vec<Vec<String>>,
) {
    if !rows.is_empty() {
        doc.push(Block::Subsection(title));
        doc.push(Block::Table(Table { head, rows }));
    }
}

/// A table, or `empty` when it has no rows.
fn table_or(
    doc: &mut Vec<Block>,
    empty: &str,
    head: &'static [&'static str],
    rows: Vec<Vec<String>>,
) {
    doc.push(if rows.is_empty() {
        Block::Sentence(empty.into())
    } else {
        Block::Table(Table { head, rows })
    });
}

fn incident_row(i: &IncidentLine, last: Option<DateTime<Utc>>) -> Vec<String> {
    vec![
        i.id.clone(),
        i.severity.as_str().into(),
        i.state.as_str().into(),
        i.owner.clone().unwrap_or_else(|| "unowned".into()),
        stamp(i.opened_at),
        opt_stamp(last),
        i.title.clone(),
    ]
}

fn incidents(doc: &mut Vec<Block>, inc: &IncidentSummary) {
    doc.push(Block::Section("Incidents"));
    doc.push(Block::Figures(vec![
        format!("Opened: {}", inc.opened.len()),
        format!("Resolved: {}", inc.resolved.len()),
        format!("Still open: {}", inc.still_open.len()),
        format!(
            "MTTA: {} (over {} acknowledged)",
            opt_duration(inc.mtta_s),
            inc.acknowledged
        ),
        format!(
            "MTTR: {} (over {} resolved)",
            opt_duration(inc.mttr_s),
            inc.resolved.len()
        ),
    ]));
    // An incident opened during the shift is either still open at its end
    // or resolved within it: a table of the opened ones would list each of
    // them a second time, so the two tables below are all there is.
    titled(
        doc,
        "Still open",
        &[
            "Incident",
            "Severity",
            "State",
            "Owner",
            "Opened",
            "Acknowledged",
            "Title",
        ],
        inc.still_open
            .iter()
            .map(|i| incident_row(i, i.acknowledged_at))
            .collect(),
    );
    titled(
        doc,
        "Resolved during the shift",
        &[
            "Incident", "Severity", "State", "Owner", "Opened", "Resolved", "Title",
        ],
        inc.resolved
            .iter()
            .map(|i| incident_row(i, i.resolved_at))
            .collect(),
    );
    titled(
        doc,
        "Notes on incidents",
        &["At", "Incident", "By", "Note"],
        inc.notes
            .iter()
            .map(|n| {
                vec![
                    stamp(n.at),
                    n.incident.clone(),
                    n.by.clone(),
                    n.text.clone(),
                ]
            })
            .collect(),
    );
}

fn approval_rows(lines: &[ApprovalLine]) -> Vec<Vec<String>> {
    lines
        .iter()
        .map(|a| {
            let risk = serde_json::to_value(a.risk)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            let by = if a.decided_by.is_empty() {
                "—".to_string()
            } else {
                a.decided_by.join(", ")
            };
            vec![
                a.id.clone(),
                a.agent.clone(),
                a.action.clone(),
                risk,
                a.state.as_str().into(),
                stamp(a.requested_at),
                opt_stamp(a.closed_at),
                by,
                opt_duration(a.latency_s),
            ]
        })
        .collect()
}

const APPROVAL_HEAD: &[&str] = &[
    "Approval",
    "Agent",
    "Action",
    "Risk",
    "State",
    "Requested",
    "Closed",
    "By",
    "Latency",
];

fn approvals(doc: &mut Vec<Block>, apr: &ApprovalSummary) {
    doc.push(Block::Section("Approvals"));
    doc.push(Block::Figures(vec![
        format!(
            "Decided: {} ({} approved, {} rejected)",
            apr.decided.len(),
            apr.approved,
            apr.rejected
        ),
        format!("Expired: {}", apr.expired.len()),
        format!("Pending: {}", apr.pending.len()),
        format!(
            "Decision latency p50: {}, p95: {} (nearest rank over {} decided)",
            opt_duration(apr.latency_p50_s),
            opt_duration(apr.latency_p95_s),
            apr.decided.len()
        ),
    ]));
    titled(doc, "Pending", APPROVAL_HEAD, approval_rows(&apr.pending));
    titled(
        doc,
        "Decided during the shift",
        APPROVAL_HEAD,
        approval_rows(&apr.decided),
    );
    titled(
        doc,
        "Rejections",
        &["Approval", "Agent", "Action", "Rejected by", "At", "Reason"],
        apr.rejections
            .iter()
            .map(|r| {
                vec![
                    r.approval.clone(),
                    r.agent.clone(),
                    r.action.clone(),
                    r.by.clone(),
                    stamp(r.at),
                    r.reason.clone().unwrap_or_else(|| "—".into()),
                ]
            })
            .collect(),
    );
    titled(
        doc,
        "Expired during the shift",
        APPROVAL_HEAD,
        approval_rows(&apr.expired),
    );
}

fn slos(doc: &mut Vec<Block>, slos: &[SloLine]) {
    doc.push(Block::Section("SLOs"));
    let opt_percent = |x: Option<f64>| x.map(percent).unwrap_or_else(|| "—".into());
    table_or(
        doc,
        "No SLO series yet.",
        &[
            "Series",
            "Objective",
            "Ratio now",
            "Budget left",
            "Burned this shift",
            "Alert",
        ],
        slos.iter()
            .map(|s| {
                vec![
                    s.series.clone(),
                    percent(s.objective),
                    opt_percent(s.ratio),
                    percent(s.budget_remaining),
                    opt_percent(s.budget_burned),
                    s.alert.as_str().into(),
                ]
            })
            .collect(),
    );
}

fn controls(doc: &mut Vec<Block>, controls: &[ControlLine]) {
    doc.push(Block::Section("Controls in force"));
    table_or(
        doc,
        "None.",
        &[
            "Control", "Agent", "Kind", "Target", "Set by", "Set at", "Expires", "Incident",
            "Reason",
        ],
        controls
            .iter()
            .map(|c| {
                let target = c.tool.as_deref().or(c.version.as_deref()).unwrap_or("—");
                vec![
                    c.id.clone(),
                    c.agent.clone(),
                    c.kind.as_str().into(),
                    target.into(),
                    c.set_by.clone(),
                    stamp(c.set_at),
                    opt_stamp(c.expires_at),
                    c.incident.clone().unwrap_or_else(|| "—".into()),
                    c.reason.clone(),
                ]
            })
            .collect(),
    );
}

fn steps(doc: &mut Vec<Block>, steps: &[StepLine]) {
    doc.push(Block::Section("Runbook steps executed"));
    table_or(
        doc,
        "None.",
        &["At", "Incident", "Runbook", "Step", "By", "Result"],
        steps
            .iter()
            .map(|s| {
                vec![
                    stamp(s.at),
                    s.incident.clone(),
                    s.runbook.clone(),
                    s.step.to_string(),
                    s.by.clone(),
                    s.result.clone(),
                ]
            })
            .collect(),
    );
}

/// The summary as Markdown: a heading per part, pipe tables for lists.
pub fn to_markdown(h: &Handoff) -> String {
    let mut out = String::new();
    for block in document(h) {
        match block {
            Block::Title(t) => out.push_str(&format!("# {t}\n\n")),
            Block::Section(t) => out.push_str(&format!("## {t}\n\n")),
            Block::Subsection(t) => out.push_str(&format!("### {t}\n\n")),
            Block::Sentence(s) => out.push_str(&format!("{s}\n\n")),
            Block::Figures(items) => {
                for item in items {
                    out.push_str(&format!("- {item}\n"));
                }
                out.push('\n');
            }
            Block::Note(n) => {
                out.push_str(&format!("**{}** at {}:\n\n", cell(&n.by), time(n.at)));
                for line in n.text.lines().map(plain) {
                    let line = line.trim_end();
                    out.push_str(if line.is_empty() { ">" } else { "> " });
                    out.push_str(line);
                    out.push('\n');
                }
                out.push('\n');
            }
            Block::Table(t) => {
                out.push_str(&format!(
                    "| {} |\n|{}\n",
                    t.head.join(" | "),
                    "---|".repeat(t.head.len())
                ));
                for row in &t.rows {
                    let cells: Vec<String> = row.iter().map(|c| cell(c)).collect();
                    out.push_str(&format!("| {} |\n", cells.join(" | ")));
                }
                out.push('\n');
            }
        }
    }
    finish(out)
}

/// The summary as plain text for pasting where Markdown is not rendered:
/// underlined headings, and tables as columns padded with spaces.
pub fn to_text(h: &Handoff) -> String {
    let mut out = String::new();
    for block in document(h) {
        match block {
            Block::Title(t) => underlined(&mut out, t, '='),
            Block::Section(t) => underlined(&mut out, t, '-'),
            Block::Subsection(t) => out.push_str(&format!("{t}:\n")),
            Block::Sentence(s) => out.push_str(&format!("{s}\n\n")),
            Block::Figures(items) => {
                for item in items {
                    out.push_str(&format!("- {item}\n"));
                }
                out.push('\n');
            }
            Block::Note(n) => {
                out.push_str(&format!("{} at {}:\n", plain(&n.by), time(n.at)));
                for line in n.text.lines().map(plain) {
                    out.push_str(format!("  {line}").trim_end());
                    out.push('\n');
                }
                out.push('\n');
            }
            Block::Table(t) => {
                columns(&mut out, &t);
                out.push('\n');
            }
        }
    }
    finish(out)
}

/// Ends a text with exactly one line break.
fn finish(mut out: String) -> String {
    out.truncate(out.trim_end().len());
    out.push('\n');
    out
}

fn underlined(out: &mut String, title: &str, under: char) {
    let rule: String = std::iter::repeat_n(under, title.width()).collect();
    out.push_str(&format!("{title}\n{rule}\n\n"));
}

/// A table as columns: each as wide as its widest cell (in terminal
/// columns, so wide characters line up), two spaces apart, a rule of
/// dashes under the header. The last column is not padded, so a long
/// reason or note makes its own line long and no other.
fn columns(out: &mut String, t: &Table) {
    let rows: Vec<Vec<String>> = t
        .rows
        .iter()
        .map(|r| r.iter().map(|c| plain(c)).collect())
        .collect();
    let mut widths: Vec<usize> = t.head.iter().map(|h| h.width()).collect();
    for row in &rows {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.width());
        }
    }
    let rule: Vec<String> = widths
        .iter()
        .enumerate()
        .map(|(i, w)| {
            let w = if i + 1 == widths.len() {
                t.head[i].width()
            } else {
                *w
            };
            "-".repeat(w)
        })
        .collect();
    padded(out, t.head.iter().copied(), &widths);
    padded(out, rule.iter().map(String::as_str), &widths);
    for row in &rows {
        padded(out, row.iter().map(String::as_str), &widths);
    }
}

/// One line of a text table.
fn padded<'a>(out: &mut String, cells: impl Iterator<Item = &'a str>, widths: &[usize]) {
    let mut line = String::new();
    for (i, (c, w)) in cells.zip(widths).enumerate() {
        if i > 0 {
            line.push_str("  ");
        }
        line.push_str(c);
        if i + 1 < widths.len() {
            line.push_str(&" ".repeat(w.saturating_sub(c.width())));
        }
    }
    out.push_str(line.trim_end());
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_cannot_break_the_table_or_format() {
        assert_eq!(cell("a | b"), "a \\| b");
        assert_eq!(
            cell("**bold** `x` [l](u) <b>"),
            "\\*\\*bold\\*\\* \\`x\\` \\[l\\](u) \\<b\\>"
        );
        assert_eq!(cell("~~s~~ &amp; \\"), "\\~\\~s\\~\\~ \\&amp; \\\\");
        assert_eq!(cell("issue_refund _x_"), "issue_refund \\_x\\_");
        assert_eq!(cell("two\nlines\r"), "two lines ");
        assert_eq!(cell("a\u{1b}[2Jb\u{202e}c\u{1b}]52;c;eA==\u{7}"), "abc");
    }

    #[test]
    fn text_tables_pad_every_column_but_the_last() {
        let mut out = String::new();
        let t = Table {
            head: &["Id", "Who", "Why"],
            rows: vec![
                vec!["APR-1".into(), "dana".into(), "too | *much*".into()],
                vec!["APR-12".into(), "李雷".into(), String::new()],
            ],
        };
        columns(&mut out, &t);
        assert_eq!(
            out,
            "Id      Who   Why\n\
             ------  ----  ---\n\
             APR-1   dana  too | *much*\n\
             APR-12  李雷\n"
        );
    }

    #[test]
    fn formats_by_name() {
        for f in [Format::Markdown, Format::Text, Format::Json] {
            assert_eq!(Format::parse(f.as_str()), Some(f));
        }
        assert_eq!(Format::parse("md"), Some(Format::Markdown));
        assert_eq!(Format::parse("pdf"), None);
    }
}
