//! Bulk actions: several operations sent under one confirmation. Each is
//! its own request, decided by the hub on its own (the two-person rule,
//! deadlines, an approval decided meanwhile), and the answers are reported
//! together: a summary in the status bar and, when no other dialog is in
//! the way, each item's result in a report.

use std::collections::BTreeMap;

use super::super::dialogs::{Dialog, Op};
use super::{App, Effect, Level};

/// Bulk actions waiting for answers, by batch number.
#[derive(Debug, Default)]
pub struct Batches {
    next: u64,
    open: BTreeMap<u64, Batch>,
}

/// One bulk action: what it is, how many items, the answers so far.
#[derive(Debug)]
struct Batch {
    label: String,
    total: usize,
    /// Each item's label and its result (why it failed).
    results: Vec<(String, Result<(), String>)>,
}

/// What a bulk action of `ops` is called: `reject 5 approvals`.
pub fn bulk_label(ops: &[Op]) -> String {
    let n = ops.len();
    match ops.first() {
        Some(Op::Reject(..)) => format!("reject {n} approvals"),
        Some(Op::Ack(_)) => format!("acknowledge {n} incidents"),
        _ => format!("{n} actions"),
    }
}

impl App {
    /// Sends each of `ops` as its own request, as one bulk action.
    pub fn send_all(&mut self, ops: Vec<Op>) -> Vec<Effect> {
        let batch = self.batches.next;
        self.batches.next += 1;
        self.batches.open.insert(
            batch,
            Batch {
                label: bulk_label(&ops),
                total: ops.len(),
                results: Vec::new(),
            },
        );
        let mut effects = Vec::new();
        for op in ops {
            effects.extend(self.send_in(op, Some(batch)));
        }
        effects
    }

    /// Records the answer to one item of `batch`; once every item is
    /// answered, reports them.
    pub(super) fn answered(&mut self, batch: u64, item: String, result: Result<(), String>) {
        let Some(b) = self.batches.open.get_mut(&batch) else {
            return;
        };
        b.results.push((item, result));
        if b.results.len() < b.total {
            return;
        }
        let Some(b) = self.batches.open.remove(&batch) else {
            return;
        };
        let failed: Vec<&(String, Result<(), String>)> =
            b.results.iter().filter(|(_, r)| r.is_err()).collect();
        let done = b.total - failed.len();
        let summary = match failed.first() {
            None => format!("✓ {}: all {done} done", b.label),
            Some((item, Err(why))) => format!(
                "✗ {}: {done} done, {} failed — {item}: {why}",
                b.label,
                failed.len()
            ),
            Some(_) => String::new(),
        };
        let level = if failed.is_empty() {
            Level::Info
        } else {
            Level::Error
        };
        self.say(level, summary);
        if self.dialog.is_none() {
            self.dialog = Some(report(&b));
        }
    }
}

/// Each item's result, failures first.
fn report(b: &Batch) -> Dialog {
    let mut lines: Vec<String> = b
        .results
        .iter()
        .filter_map(|(item, r)| r.as_ref().err().map(|why| format!("✗ {item}: {why}")))
        .collect();
    lines.extend(
        b.results
            .iter()
            .filter(|(_, r)| r.is_ok())
            .map(|(item, _)| format!("✓ {item}")),
    );
    Dialog::Report {
        title: format!("{}: results", b.label),
        lines,
        scroll: Default::default(),
    }
}
