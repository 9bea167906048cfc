//! The TUI's copy of the hub's shared state, kept current from the feed.

use std::collections::{BTreeMap, VecDeque};

use crate::model::action::Presence;
use crate::model::agent::Agent;
use crate::model::approval::Approval;
use crate::model::audit::AuditEntry;
use crate::model::control::{Control, ControlState};
use crate::model::incident::{Incident, IncidentState};
use crate::model::slo::{SloSpec, SloStatus};
use crate::model::stream::{Delta, Snapshot};

/// Audit entries kept for display.
pub const AUDIT_KEPT: usize = 200;

/// Everything the hub shares, as last heard.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FeedData {
    /// Id of the last snapshot or delta applied.
    pub seq: u64,
    /// True once a snapshot arrived.
    pub loaded: bool,
    /// Agents by id.
    pub agents: BTreeMap<String, Agent>,
    /// SLO specs.
    pub specs: Vec<SloSpec>,
    /// SLO status by series.
    pub slos: BTreeMap<String, SloStatus>,
    /// Open incidents by id.
    pub incidents: BTreeMap<String, Incident>,
    /// Open approvals by id.
    pub approvals: BTreeMap<String, Approval>,
    /// Controls in force by id.
    pub controls: BTreeMap<String, Control>,
    /// Latest audit entries, oldest first.
    pub audit: VecDeque<AuditEntry>,
    /// Connected operators.
    pub presence: Vec<Presence>,
}

/// What a delta changed, for notifications.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// Nothing worth a notice.
    Quiet,
    /// A new incident opened.
    NewIncident(String),
    /// An approval was closed (decided or expired) by the hub.
    ApprovalClosed(Box<Approval>),
    /// A new approval is waiting.
    NewApproval(String),
    /// A control in force ended (lifted or expired).
    ControlEnded(Box<Control>),
}

impl FeedData {
    /// Replaces everything with a snapshot.
    pub fn load(&mut self, s: Snapshot) {
        self.seq = s.seq;
        self.loaded = true;
        self.agents = s.agents.into_iter().map(|a| (a.id.clone(), a)).collect();
        self.specs = s.specs;
        self.slos = s.slos.into_iter().map(|x| (x.series.clone(), x)).collect();
        self.incidents = s.incidents.into_iter().map(|i| (i.id.clone(), i)).collect();
        self.approvals = s.approvals.into_iter().map(|a| (a.id.clone(), a)).collect();
        self.controls = s.controls.into_iter().map(|c| (c.id.clone(), c)).collect();
        self.audit = s.audit.into();
        self.presence = s.presence;
    }

    /// Applies one delta.
    pub fn apply(&mut self, id: u64, delta: Delta) -> Change {
        self.seq = self.seq.max(id);
        match delta {
            Delta::Slo(s) => {
                self.slos.insert(s.series.clone(), *s);
            }
            Delta::Agent(a) => {
                self.agents.insert(a.id.clone(), *a);
            }
            Delta::Incident(i) => {
                if i.state == IncidentState::Resolved {
                    self.incidents.remove(&i.id);
                } else {
                    let new = !self.incidents.contains_key(&i.id);
                    let id = i.id.clone();
                    self.incidents.insert(i.id.clone(), *i);
                    if new {
                        return Change::NewIncident(id);
                    }
                }
            }
            Delta::Approval(a) => {
                if a.state.is_open() {
                    let new = !self.approvals.contains_key(&a.id);
                    let id = a.id.clone();
                    self.approvals.insert(a.id.clone(), *a);
                    if new {
                        return Change::NewApproval(id);
                    }
                } else if self.approvals.remove(&a.id).is_some() {
                    return Change::ApprovalClosed(a);
                }
            }
            Delta::Control(c) => {
                if c.state == ControlState::Active {
                    self.controls.insert(c.id.clone(), *c);
                } else if self.controls.remove(&c.id).is_some() {
                    return Change::ControlEnded(c);
                }
            }
            Delta::Audit(e) => {
                if self.audit.len() >= AUDIT_KEPT {
                    self.audit.pop_front();
                }
                self.audit.push_back(*e);
            }
            Delta::Presence(p) => self.presence = p,
        }
        Change::Quiet
    }

    /// True while a fleet-wide pause is in force.
    pub fn fleet_paused(&self) -> bool {
        self.controls
            .values()
            .any(|c| c.agent == "*" && c.kind == crate::model::control::ControlKind::PauseAgent)
    }

    /// Operators looking at `id` (an incident or approval).
    pub fn viewers(&self, id: &str, except: &str) -> Vec<&str> {
        self.presence
            .iter()
            .filter(|p| p.viewing.as_deref() == Some(id) && p.operator != except)
            .map(|p| p.operator.as_str())
            .collect()
    }
}
