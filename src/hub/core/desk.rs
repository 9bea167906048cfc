//! The desk: incidents, approvals and controls in memory, keyed by id, and
//! the id counters that name new ones.

use std::collections::HashMap;

use crate::model::approval::Approval;
use crate::model::control::Control;
use crate::model::incident::Incident;

use super::change::Change;

/// Incidents, approvals and controls, keyed by id.
#[derive(Debug, Default)]
pub struct Desk {
    /// Every incident in memory.
    pub incidents: HashMap<String, Incident>,
    /// Every approval in memory.
    pub approvals: HashMap<String, Approval>,
    /// `(agent, request_id)` → approval id, to make re-sent requests idempotent.
    pub approval_keys: HashMap<(String, String), String>,
    /// Every control in memory.
    pub controls: HashMap<String, Control>,
    /// Every handoff note, oldest first. Like incidents, all are kept in
    /// memory, so a handoff over any past window can be computed.
    pub handoff_notes: Vec<crate::model::runbook::HandoffNote>,
    pub(super) next_incident: u64,
    pub(super) next_approval: u64,
    pub(super) next_control: u64,
}

pub(super) fn id_number(id: &str) -> u64 {
    id.rsplit('-')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

impl Desk {
    /// Approvals still waiting for a decision, by id.
    pub fn open_approvals(&self) -> Vec<Approval> {
        let mut approvals: Vec<Approval> = self
            .approvals
            .values()
            .filter(|a| a.state.is_open())
            .cloned()
            .collect();
        by_id_number(&mut approvals, |a| &a.id);
        approvals
    }
}

/// Sorts objects by the number in their id (INC-2 before INC-10).
pub fn by_id_number<T>(items: &mut [T], id: impl Fn(&T) -> &str) {
    items.sort_by_key(|x| id_number(id(x)));
}

/// Names the next `PREFIX-n` after `counter` and any number already taken
/// by `change`, and records it in the change. The counter itself moves
/// only once the change is stored ([`Desk::advance_counters`]), so a
/// refused write consumes no id.
pub(super) fn allocate(
    counter: u64,
    key: &'static str,
    prefix: &str,
    change: &mut Change,
) -> String {
    let taken = change
        .batch
        .meta
        .iter()
        .rev()
        .find(|(k, _)| *k == key)
        .and_then(|(_, v)| v.parse::<u64>().ok())
        .unwrap_or(0);
    let n = taken.max(counter) + 1;
    change.batch.meta.push((key, n.to_string()));
    format!("{prefix}-{n}")
}

impl Desk {
    /// Moves the id counters to the numbers a stored change took.
    pub(super) fn advance_counters(&mut self, meta: &[(&'static str, String)]) {
        for (key, value) in meta {
            let counter = match *key {
                "next_incident" => &mut self.next_incident,
                "next_approval" => &mut self.next_approval,
                "next_control" => &mut self.next_control,
                _ => continue,
            };
            if let Ok(n) = value.parse::<u64>() {
                *counter = (*counter).max(n);
            }
        }
    }
}
