//! The desk: incidents, approvals and controls in memory, keyed by id, and
//! the id counters that name new ones.

use std::collections::{HashMap, VecDeque};

use chrono::{DateTime, Utc};

use crate::model::approval::Approval;
use crate::model::control::Control;
use crate::model::incident::Incident;

use super::change::Change;

/// Decided approvals kept in memory at most: the newest, which callbacks
/// and notices still ask about; older ones are read from the store. The
/// desk would otherwise grow by every approval ever decided.
pub const DECIDED_KEPT: usize = 1_000;
/// How long a decided approval stays in memory at most.
pub const DECIDED_KEPT_FOR: chrono::TimeDelta = chrono::TimeDelta::minutes(10);

/// Incidents, approvals and controls, keyed by id.
#[derive(Debug, Default)]
pub struct Desk {
    /// Every incident in memory.
    pub incidents: HashMap<String, Incident>,
    /// The open approvals and the newest decided ones.
    pub approvals: HashMap<String, Approval>,
    /// `(agent, request_id)` → approval id of those in memory, to make
    /// re-sent requests idempotent (older ones are looked up in the store).
    pub approval_keys: HashMap<(String, String), String>,
    /// Ids of the decided approvals in memory, in the order they closed.
    pub(super) decided: VecDeque<String>,
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
    /// Holds `approval`, noting when it closes; returns whether it was
    /// open before (or new).
    pub(super) fn hold_approval(&mut self, approval: Approval) -> bool {
        let was_open = self
            .approvals
            .get(&approval.id)
            .is_none_or(|old| old.state.is_open());
        if was_open && !approval.state.is_open() {
            self.decided.push_back(approval.id.clone());
        }
        self.approval_keys.insert(
            (approval.agent.clone(), approval.request_id.clone()),
            approval.id.clone(),
        );
        self.approvals.insert(approval.id.clone(), approval);
        was_open
    }

    /// Lets go of decided approvals past [`DECIDED_KEPT`] or older than
    /// [`DECIDED_KEPT_FOR`], oldest first; returns how many.
    pub(super) fn retire_decided(&mut self, now: DateTime<Utc>) -> usize {
        let mut retired = 0;
        while let Some(id) = self.decided.front() {
            let stale = self.approvals.get(id).is_none_or(|a| {
                a.state.is_open() || a.closed_at.is_none_or(|t| now - t > DECIDED_KEPT_FOR)
            });
            if self.decided.len() <= DECIDED_KEPT && !stale {
                break;
            }
            let Some(id) = self.decided.pop_front() else {
                break;
            };
            if let Some(a) = self.approvals.get(&id).filter(|a| !a.state.is_open()) {
                self.approval_keys
                    .remove(&(a.agent.clone(), a.request_id.clone()));
                self.approvals.remove(&id);
                retired += 1;
            }
        }
        retired
    }

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

#[cfg(test)]
mod tests {
    use chrono::{DateTime, TimeDelta, Utc};

    use super::{DECIDED_KEPT, DECIDED_KEPT_FOR};
    use crate::engine::Engine;
    use crate::engine::spec::default_specs;
    use crate::hub::auth::Principal;
    use crate::hub::core::{Core, StreamLimits};
    use crate::hub::ops;
    use crate::hub::policy::Policy;
    use crate::hub::store::Store;
    use crate::model::action::DecisionRequest;
    use crate::model::approval::Verdict;
    use crate::model::envelope::Envelope;
    use crate::model::role::Role;

    fn at(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_764_000_000 + s, 0).unwrap()
    }

    fn request(n: u64, t: i64) -> (Envelope, String) {
        let line = format!(
            r#"{{"v":1,"type":"approval.requested","ts":"{}","agent":"refund-bot","request_id":"q{n}","action":"refund","risk":"low","deadline":"{}"}}"#,
            at(t).to_rfc3339(),
            at(t + 86_400).to_rfc3339()
        );
        (Envelope::decode(&line).unwrap(), line)
    }

    fn approve(core: &mut Core, id: &str, now: DateTime<Utc>) -> Result<(), String> {
        let who = Principal {
            name: "dana".into(),
            role: Role::Approver,
            agents: Vec::new(),
        };
        let req = DecisionRequest {
            decision: Verdict::Approve,
            reason: None,
            modified_args: None,
        };
        let (_, _, change) = ops::decide(core, &who, id, req, now).map_err(|e| format!("{e:?}"))?;
        core.commit(change).map_err(|e| e.to_string())
    }

    /// Decided approvals leave memory after a while and past a count; what
    /// is asked of them later is answered from the store, the same.
    #[test]
    fn decided_approvals_leave_memory_and_are_still_answered() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("hub.db")).unwrap();
        let mut core = Core::open(
            store,
            Engine::new(default_specs()),
            Policy::default(),
            StreamLimits::default(),
            at(0),
        )
        .unwrap();
        let total = DECIDED_KEPT as u64 + 50;
        let requests = (1..=total).map(|n| request(n, 1)).collect();
        core.ingest(requests, at(1)).unwrap();
        for n in 1..=total {
            approve(&mut core, &format!("APR-{n}"), at(2)).unwrap();
        }
        core.tick(at(3)).unwrap();
        assert_eq!(core.desk.approvals.len(), DECIDED_KEPT, "the newest kept");
        assert!(!core.desk.approvals.contains_key("APR-1"));
        let late = at(3) + DECIDED_KEPT_FOR + TimeDelta::seconds(1);
        core.tick(late).unwrap();
        assert!(core.desk.approvals.is_empty(), "and none past the time");
        assert!(core.desk.approval_keys.is_empty());

        // Re-sent, a request is not asked again; its agent reads it.
        core.ingest(vec![request(1, 4)], late).unwrap();
        assert!(core.desk.approvals.is_empty());
        let key = ("refund-bot".to_string(), "q1".to_string());
        let read = core.approval_by_request(&key).unwrap().unwrap();
        assert_eq!(read.id, "APR-1");
        assert_eq!(read.decisions[0].by, "dana");
        // A late second decision hears who decided.
        let again = approve(&mut core, "APR-1", late).unwrap_err();
        assert!(again.contains("dana"), "{again}");
        // The shift's summary still counts every decision.
        let window = crate::handoff::Window {
            from: at(0),
            to: late,
        };
        let handoff = core.handoff(window, late).unwrap();
        let json = serde_json::to_value(&handoff).unwrap();
        assert_eq!(json["approvals"]["approved"], total);
        assert_eq!(
            json["approvals"]["decided"].as_array().map(Vec::len),
            Some(total as usize)
        );
    }
}
