//! The screens, and which rows each shows in which order.

use std::cmp::Ordering;
use std::collections::HashMap;

use chrono::{DateTime, Utc};

use crate::model::agent::Agent;
use crate::model::approval::Approval;
use crate::model::control::Control;
use crate::model::incident::Incident;
use crate::model::profile::Finding;
use crate::model::slo::{AlertLevel, SloStatus};
use crate::model::stream::Delta;

use super::action::{Action, Context};
use super::data::FeedData;

/// A screen (tab).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Screen {
    /// SLO gauges.
    Overview,
    /// The incident queue.
    Incidents,
    /// Pending approvals.
    Approvals,
    /// Controls in force.
    Controls,
    /// Agents.
    Agents,
    /// Runbook of the selected incident.
    Runbook,
    /// Shift handoff.
    Handoff,
    /// Decided approvals, resolved incidents, ended controls.
    History,
    /// The audit log.
    Audit,
}

impl Screen {
    /// Every screen, in tab order (keys 1–9).
    pub const ALL: [Screen; 9] = [
        Self::Overview,
        Self::Incidents,
        Self::Approvals,
        Self::Controls,
        Self::Agents,
        Self::Runbook,
        Self::Handoff,
        Self::History,
        Self::Audit,
    ];

    /// Tab title.
    pub fn title(self) -> &'static str {
        self.meta().title
    }

    /// Tab title on narrow terminals.
    pub fn short(self) -> &'static str {
        self.meta().short
    }

    /// Command-line name: the keymap context's name.
    pub fn command(self) -> &'static str {
        self.context().name()
    }

    /// The keymap context.
    pub fn context(self) -> Context {
        self.meta().context
    }

    /// The action that shows it.
    pub fn action(self) -> Action {
        self.meta().action
    }

    /// Index in tab order.
    pub fn index(self) -> usize {
        // Declared in tab order, as `ALL` lists them.
        self as usize
    }

    /// The screen of a keymap context, if the context is a screen's.
    pub fn of_context(c: Context) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.context() == c)
    }

    fn meta(self) -> &'static Meta {
        &META[self.index()]
    }
}

/// What the tab bar, the keymap and the command line call a screen.
struct Meta {
    title: &'static str,
    short: &'static str,
    context: Context,
    action: Action,
}

/// Every screen's names, in tab order: the one table that ties a screen to
/// its keymap context (whose name is also its command) and its action.
const META: [Meta; Screen::ALL.len()] = [
    Meta {
        title: "Overview",
        short: "Over",
        context: Context::Overview,
        action: Action::ShowOverview,
    },
    Meta {
        title: "Incidents",
        short: "Inc",
        context: Context::Incidents,
        action: Action::ShowIncidents,
    },
    Meta {
        title: "Approvals",
        short: "Appr",
        context: Context::Approvals,
        action: Action::ShowApprovals,
    },
    Meta {
        title: "Controls",
        short: "Ctrl",
        context: Context::Controls,
        action: Action::ShowControls,
    },
    Meta {
        title: "Agents",
        short: "Agnt",
        context: Context::Agents,
        action: Action::ShowAgents,
    },
    Meta {
        title: "Runbook",
        short: "Run",
        context: Context::Runbook,
        action: Action::ShowRunbook,
    },
    Meta {
        title: "Handoff",
        short: "Hand",
        context: Context::Handoff,
        action: Action::ShowHandoff,
    },
    Meta {
        title: "History",
        short: "Hist",
        context: Context::History,
        action: Action::ShowHistory,
    },
    Meta {
        title: "Audit",
        short: "Audit",
        context: Context::Audit,
        action: Action::ShowAudit,
    },
];

/// Case-insensitive substring test of a row's fields against a filter, as
/// `field.to_lowercase().contains(&filter.to_lowercase())` would say, without
/// allocating for ASCII text: typing a filter over 10,000 rows re-runs it for
/// every row on every key.
fn matches(filter: &str, fields: &[&str]) -> bool {
    if filter.is_empty() {
        return true;
    }
    fields.iter().any(|field| contains_ci(field, filter))
}

fn contains_ci(field: &str, filter: &str) -> bool {
    if field.is_ascii() && filter.is_ascii() {
        let (hay, needle) = (field.as_bytes(), filter.as_bytes());
        return needle.len() <= hay.len()
            && hay
                .windows(needle.len())
                .any(|w| w.eq_ignore_ascii_case(needle));
    }
    field.to_lowercase().contains(&filter.to_lowercase())
}

fn alert_rank(s: &SloStatus) -> u8 {
    match s.alert {
        AlertLevel::Page => 0,
        AlertLevel::Ticket => 1,
        AlertLevel::None => 2,
    }
}

/// How a list is ordered: each screen's own most-urgent-first order, or
/// by severity, age or agent; `s` cycles through them. Every order ends
/// on the row's id, so it is total and a row is found by binary search.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Sort {
    /// The screen's own order (worst SLO, most severe and oldest incident,
    /// nearest deadline, fleet-wide control).
    #[default]
    Urgency,
    /// Most severe first: incident severity, approval risk, agent
    /// criticality.
    Severity,
    /// Oldest first.
    Age,
    /// By agent, then the screen's own order.
    Agent,
}

impl Sort {
    /// The next order `s` gives.
    pub fn next(self) -> Self {
        match self {
            Self::Urgency => Self::Severity,
            Self::Severity => Self::Age,
            Self::Age => Self::Agent,
            Self::Agent => Self::Urgency,
        }
    }

    /// How a title says it.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Urgency => "most urgent first",
            Self::Severity => "most severe first",
            Self::Age => "oldest first",
            Self::Agent => "by agent",
        }
    }

    /// Its name in titles and messages.
    pub fn name(self) -> &'static str {
        match self {
            Self::Urgency => "urgency",
            Self::Severity => "severity",
            Self::Age => "age",
            Self::Agent => "agent",
        }
    }
}

/// A comparison of two rows of one kind.
pub type Order<T> = fn(&T, &T) -> Ordering;

/// The Overview's order for `sort`: by series for `agent` (series are
/// named after their agent), else worst first. Chosen once per sort, not
/// per comparison.
pub fn slo_order_for(sort: Sort) -> Order<SloStatus> {
    match sort {
        Sort::Agent => |a, b| a.series.cmp(&b.series),
        _ => slo_order,
    }
}

/// The Incidents order for `sort`.
pub fn incident_order_for(sort: Sort) -> Order<Incident> {
    match sort {
        Sort::Urgency => incident_order,
        Sort::Severity => |a, b| {
            a.severity
                .cmp(&b.severity)
                .then(b.opened_at.cmp(&a.opened_at))
                .then(a.id.cmp(&b.id))
        },
        Sort::Age => |a, b| a.opened_at.cmp(&b.opened_at).then(a.id.cmp(&b.id)),
        Sort::Agent => |a, b| a.agent.cmp(&b.agent).then(incident_order(a, b)),
    }
}

/// The Approvals order for `sort`.
pub fn approval_order_for(sort: Sort) -> Order<Approval> {
    match sort {
        Sort::Urgency => approval_order,
        Sort::Severity => |a, b| b.risk.cmp(&a.risk).then(approval_order(a, b)),
        Sort::Age => |a, b| a.requested_at.cmp(&b.requested_at).then(a.id.cmp(&b.id)),
        Sort::Agent => |a, b| a.agent.cmp(&b.agent).then(approval_order(a, b)),
    }
}

/// The Controls order for `sort` (severity keeps the screen's own).
pub fn control_order_for(sort: Sort) -> Order<Control> {
    match sort {
        Sort::Urgency | Sort::Severity => control_order,
        Sort::Age => |a, b| a.set_at.cmp(&b.set_at).then(a.id.cmp(&b.id)),
        Sort::Agent => |a, b| a.agent.cmp(&b.agent).then(control_order(a, b)),
    }
}

/// The Agents order for `sort`: most critical first, or longest unseen
/// first, else by id.
pub fn agent_order_for(sort: Sort) -> Order<Agent> {
    match sort {
        Sort::Severity => |a, b| {
            let criticality = |x: &Agent| x.profile.as_ref().and_then(|p| p.criticality);
            criticality(b).cmp(&criticality(a)).then(agent_order(a, b))
        },
        Sort::Age => |a, b| a.last_seen.cmp(&b.last_seen).then(agent_order(a, b)),
        Sort::Urgency | Sort::Agent => agent_order,
    }
}

/// The Overview's order: paging, then ticketing, then by budget left, then
/// by series (unique, so the order is total).
pub fn slo_order(a: &SloStatus, b: &SloStatus) -> Ordering {
    alert_rank(a)
        .cmp(&alert_rank(b))
        .then(a.budget_remaining.total_cmp(&b.budget_remaining))
        .then(a.series.cmp(&b.series))
}

/// The Incidents order: by severity, then oldest first, then by id (what a
/// stable sort of the id-ordered map gave; it makes the order total, so a
/// row can be found by binary search).
pub fn incident_order(a: &Incident, b: &Incident) -> Ordering {
    a.severity
        .cmp(&b.severity)
        .then(a.opened_at.cmp(&b.opened_at))
        .then(a.id.cmp(&b.id))
}

/// The Approvals order: nearest deadline first, then by id.
pub fn approval_order(a: &Approval, b: &Approval) -> Ordering {
    a.deadline.cmp(&b.deadline).then(a.id.cmp(&b.id))
}

/// The Controls order: fleet-wide first, then newest first, then by id.
pub fn control_order(a: &Control, b: &Control) -> Ordering {
    (b.agent == "*")
        .cmp(&(a.agent == "*"))
        .then(b.set_at.cmp(&a.set_at))
        .then(a.id.cmp(&b.id))
}

/// The Agents order: by id.
pub fn agent_order(a: &Agent, b: &Agent) -> Ordering {
    a.id.cmp(&b.id)
}

/// Whether an SLO series passes the Overview's filter.
pub fn slo_matches(s: &SloStatus, filter: &str) -> bool {
    matches(filter, &[&s.series, s.alert.as_str()])
}

/// Whether an incident passes the Incidents filter.
pub fn incident_matches(i: &Incident, filter: &str) -> bool {
    matches(
        filter,
        &[
            &i.id,
            &i.title,
            i.agent.as_deref().unwrap_or(""),
            i.owner.as_deref().unwrap_or(""),
            i.severity.as_str(),
            i.state.as_str(),
        ],
    )
}

/// Whether an approval passes the Approvals filter.
pub fn approval_matches(a: &Approval, filter: &str) -> bool {
    matches(
        filter,
        &[&a.id, &a.agent, &a.action, a.tool.as_deref().unwrap_or("")],
    )
}

/// Whether a control passes the Controls filter.
pub fn control_matches(c: &Control, filter: &str) -> bool {
    matches(
        filter,
        &[&c.id, &c.agent, c.kind.as_str(), &c.set_by, &c.reason],
    )
}

/// The Agents screen's finding filters, in the order `agent_filter` cycles
/// through them (after "all"): each is typed as `is:<finding>`.
pub const AGENT_FINDING_FILTERS: [Finding; 3] = [
    Finding::NoOwner,
    Finding::Unregistered,
    Finding::AutonomousOnMoney,
];

/// Whether an agent passes the Agents filter: `is:<finding>` (e.g.
/// `is:no_owner`) keeps agents with that finding; other text matches the
/// id, the model or an owner's name.
pub fn agent_matches(a: &Agent, filter: &str) -> bool {
    if let Some(finding) = filter.trim().strip_prefix("is:") {
        return a.findings.iter().any(|f| f.as_str() == finding.trim());
    }
    let owners = a.profile.as_ref().map(|p| {
        [&p.business_owner, &p.technical_owner, &p.incident_owner]
            .into_iter()
            .flatten()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    });
    matches(
        filter,
        &[
            &a.id,
            a.versions.model.as_deref().unwrap_or(""),
            owners.as_deref().unwrap_or(""),
        ],
    )
}

/// The rows of a map that pass `keep`, sorted by `order`.
fn sorted<'a, T>(
    rows: impl Iterator<Item = &'a T>,
    keep: impl Fn(&T) -> bool,
    order: impl Fn(&T, &T) -> Ordering,
) -> Vec<&'a T> {
    let mut rows: Vec<&T> = rows.filter(|x| keep(x)).collect();
    rows.sort_unstable_by(|a, b| order(a, b));
    rows
}

/// SLO series in `sort` order (worst first by default).
pub fn slo_rows<'a>(data: &'a FeedData, filter: &str, sort: Sort) -> Vec<&'a SloStatus> {
    sorted(
        data.slos.values(),
        |s| slo_matches(s, filter),
        slo_order_for(sort),
    )
}

/// Open incidents in `sort` order (by severity, then oldest first, by
/// default).
pub fn incident_rows<'a>(data: &'a FeedData, filter: &str, sort: Sort) -> Vec<&'a Incident> {
    sorted(
        data.incidents.values(),
        |i| incident_matches(i, filter),
        incident_order_for(sort),
    )
}

/// Pending approvals in `sort` order (nearest deadline first by default).
pub fn approval_rows<'a>(data: &'a FeedData, filter: &str, sort: Sort) -> Vec<&'a Approval> {
    sorted(
        data.approvals.values(),
        |a| approval_matches(a, filter),
        approval_order_for(sort),
    )
}

/// Controls in force in `sort` order (fleet-wide, then newest, first by
/// default).
pub fn control_rows<'a>(data: &'a FeedData, filter: &str, sort: Sort) -> Vec<&'a Control> {
    sorted(
        data.controls.values(),
        |c| control_matches(c, filter),
        control_order_for(sort),
    )
}

/// Agents in `sort` order (by id by default).
pub fn agent_rows<'a>(data: &'a FeedData, filter: &str, sort: Sort) -> Vec<&'a Agent> {
    let rows = data.agents.values().filter(|a| agent_matches(a, filter));
    match sort {
        // The map is ordered by id already.
        Sort::Urgency | Sort::Agent => rows.collect(),
        _ => sorted(rows, |_| true, agent_order_for(sort)),
    }
}

/// The ids of a screen's rows in display order, after its filter. The
/// Runbook screen lists incidents; Handoff has no rows.
pub fn row_ids(data: &FeedData, s: Screen, filter: &str, sort: Sort) -> Vec<String> {
    fn ids<T>(rows: Vec<&T>, id: impl Fn(&T) -> &String) -> Vec<String> {
        rows.into_iter().map(|x| id(x).clone()).collect()
    }
    match s {
        Screen::Overview => ids(slo_rows(data, filter, sort), |x| &x.series),
        Screen::Incidents | Screen::Runbook => ids(incident_rows(data, filter, sort), |x| &x.id),
        Screen::Approvals => ids(approval_rows(data, filter, sort), |x| &x.id),
        Screen::Controls => ids(control_rows(data, filter, sort), |x| &x.id),
        Screen::Agents => ids(agent_rows(data, filter, sort), |x| &x.id),
        Screen::Handoff | Screen::History | Screen::Audit => Vec::new(),
    }
}

/// Where `id` sits in `ids`, a screen's rows as [`row_ids`] ordered them
/// from the same `data`: a binary search on the screen's order (each order
/// is total), so finding the selection in 10,000 rows takes some 14 map
/// look-ups, not a scan.
pub fn position(data: &FeedData, s: Screen, sort: Sort, ids: &[String], id: &str) -> Option<usize> {
    fn search<'d, T: 'd>(
        ids: &[String],
        id: &str,
        get: impl Fn(&str) -> Option<&'d T>,
        order: impl Fn(&T, &T) -> Ordering,
    ) -> Option<usize> {
        let target = get(id)?;
        let found = ids
            .binary_search_by(|probe| match get(probe) {
                Some(row) => order(row, target),
                // Cannot happen while `ids` and `data` agree; the check
                // below then falls back to a scan.
                None => Ordering::Less,
            })
            .ok();
        match found {
            Some(at) if ids[at] == id => Some(at),
            _ => ids.iter().position(|x| x == id),
        }
    }
    match s {
        Screen::Overview => search(ids, id, |k| data.slos.get(k), slo_order_for(sort)),
        Screen::Incidents | Screen::Runbook => {
            search(ids, id, |k| data.incidents.get(k), incident_order_for(sort))
        }
        Screen::Approvals => search(ids, id, |k| data.approvals.get(k), approval_order_for(sort)),
        Screen::Controls => search(ids, id, |k| data.controls.get(k), control_order_for(sort)),
        Screen::Agents => search(ids, id, |k| data.agents.get(k), agent_order_for(sort)),
        Screen::Handoff | Screen::History | Screen::Audit => None,
    }
}

/// Where the row `id` (in `data`, not in `ids`) belongs among `ids`, a
/// screen's rows in its order: where a changed row goes back in without
/// sorting the list again.
pub fn insertion_point(data: &FeedData, s: Screen, sort: Sort, ids: &[String], id: &str) -> usize {
    fn search<'d, T: 'd>(
        ids: &[String],
        id: &str,
        get: impl Fn(&str) -> Option<&'d T>,
        order: impl Fn(&T, &T) -> Ordering,
    ) -> usize {
        let Some(target) = get(id) else {
            return ids.len();
        };
        match ids.binary_search_by(|probe| match get(probe) {
            Some(row) => order(row, target),
            None => Ordering::Less,
        }) {
            Ok(at) | Err(at) => at,
        }
    }
    match s {
        Screen::Overview => search(ids, id, |k| data.slos.get(k), slo_order_for(sort)),
        Screen::Incidents | Screen::Runbook => {
            search(ids, id, |k| data.incidents.get(k), incident_order_for(sort))
        }
        Screen::Approvals => search(ids, id, |k| data.approvals.get(k), approval_order_for(sort)),
        Screen::Controls => search(ids, id, |k| data.controls.get(k), control_order_for(sort)),
        Screen::Agents => search(ids, id, |k| data.agents.get(k), agent_order_for(sort)),
        Screen::Handoff | Screen::History | Screen::Audit => ids.len(),
    }
}

/// Whether the row `id` of a screen is in `data` and passes `filter`.
pub fn row_matches(data: &FeedData, s: Screen, id: &str, filter: &str) -> bool {
    match s {
        Screen::Overview => data.slos.get(id).is_some_and(|x| slo_matches(x, filter)),
        Screen::Incidents | Screen::Runbook => data
            .incidents
            .get(id)
            .is_some_and(|x| incident_matches(x, filter)),
        Screen::Approvals => data
            .approvals
            .get(id)
            .is_some_and(|x| approval_matches(x, filter)),
        Screen::Controls => data
            .controls
            .get(id)
            .is_some_and(|x| control_matches(x, filter)),
        Screen::Agents => data
            .agents
            .get(id)
            .is_some_and(|x| agent_matches(x, filter)),
        Screen::Handoff | Screen::History | Screen::Audit => false,
    }
}

/// The row a delta replaces or removes: the screens that list that kind of
/// row, and its id. Audit entries and presence are not listed.
pub fn delta_row(delta: &Delta) -> Option<(&'static [Screen], &str)> {
    Some(match delta {
        Delta::Slo(x) => (&[Screen::Overview], &x.series),
        Delta::Incident(x) => (&[Screen::Incidents, Screen::Runbook], &x.id),
        Delta::Approval(x) => (&[Screen::Approvals], &x.id),
        Delta::Control(x) => (&[Screen::Controls], &x.id),
        Delta::Agent(x) => (&[Screen::Agents], &x.id),
        Delta::Audit(_) | Delta::Presence(_) => return None,
    })
}

/// What one agent has open, as the Agents screen counts it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AgentLoad {
    /// Open incidents naming the agent.
    pub incidents: usize,
    /// Pending approvals it asked for.
    pub approvals: usize,
    /// Controls in force on it, fleet-wide ones included.
    pub controls: usize,
}

/// Open work per agent, counted in one pass over incidents, approvals and
/// controls (counting per row scanned them all once per agent).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AgentLoads {
    by_agent: HashMap<String, AgentLoad>,
    fleet_controls: usize,
}

impl AgentLoads {
    /// Counts everything open in `data`.
    pub fn count(data: &FeedData) -> Self {
        let mut loads = Self::default();
        for i in data.incidents.values() {
            if let Some(agent) = &i.agent {
                loads.add(agent, |l| l.incidents += 1);
            }
        }
        for a in data.approvals.values() {
            loads.add(&a.agent, |l| l.approvals += 1);
        }
        for c in data.controls.values() {
            if c.agent == "*" {
                loads.fleet_controls += 1;
            } else {
                loads.add(&c.agent, |l| l.controls += 1);
            }
        }
        loads
    }

    /// Takes a row's share out of the counts (`add` false: before a delta
    /// replaces or removes it) or puts it in (`add` true: after), for the
    /// incident, approval or control `id` as `data` holds it now. Other
    /// kinds of row count nothing.
    pub fn count_row(&mut self, data: &FeedData, kind: Screen, id: &str, add: bool) {
        let step = |n: &mut usize| {
            *n = if add {
                n.saturating_add(1)
            } else {
                n.saturating_sub(1)
            }
        };
        let agent = match kind {
            Screen::Incidents => {
                let Some(agent) = data.incidents.get(id).and_then(|i| i.agent.as_deref()) else {
                    return;
                };
                self.add(agent, |l| step(&mut l.incidents));
                agent
            }
            Screen::Approvals => {
                let Some(a) = data.approvals.get(id) else {
                    return;
                };
                self.add(&a.agent, |l| step(&mut l.approvals));
                &a.agent
            }
            Screen::Controls => match data.controls.get(id) {
                Some(c) if c.agent == "*" => {
                    step(&mut self.fleet_controls);
                    return;
                }
                Some(c) => {
                    self.add(&c.agent, |l| step(&mut l.controls));
                    &c.agent
                }
                None => return,
            },
            _ => return,
        };
        // An agent with nothing open has no entry, as after a fresh count.
        if self.by_agent.get(agent) == Some(&AgentLoad::default()) {
            self.by_agent.remove(agent);
        }
    }

    /// Counts into an agent's entry; its name is copied only the first time.
    fn add(&mut self, agent: &str, count: impl FnOnce(&mut AgentLoad)) {
        match self.by_agent.get_mut(agent) {
            Some(load) => count(load),
            None => {
                let mut load = AgentLoad::default();
                count(&mut load);
                self.by_agent.insert(agent.to_string(), load);
            }
        }
    }

    /// What `agent` has open.
    pub fn of(&self, agent: &str) -> AgentLoad {
        let own = self.by_agent.get(agent).copied().unwrap_or_default();
        AgentLoad {
            controls: own.controls + self.fleet_controls,
            ..own
        }
    }
}

/// "3m12s", "45s", "2h05m", "3d4h": compact ages and countdowns.
pub fn short_duration(seconds: i64) -> String {
    let s = seconds.max(0);
    if s < 60 {
        format!("{s}s")
    } else if s < 3600 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else if s < 86_400 {
        format!("{}h{:02}m", s / 3600, (s % 3600) / 60)
    } else {
        format!("{}d{}h", s / 86_400, (s % 86_400) / 3600)
    }
}

/// Seconds from `then` to `now`.
pub fn age(now: DateTime<Utc>, then: DateTime<Utc>) -> i64 {
    (now - then).num_seconds()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_screen_table_is_in_tab_order() {
        for (at, s) in Screen::ALL.into_iter().enumerate() {
            assert_eq!(s.index(), at);
            assert_eq!(Screen::of_context(s.context()), Some(s));
            assert_eq!(
                Action::parse(&format!("show_{}", s.command())),
                Some(s.action())
            );
        }
    }

    #[test]
    fn durations_are_compact() {
        assert_eq!(short_duration(-5), "0s");
        assert_eq!(short_duration(45), "45s");
        assert_eq!(short_duration(192), "3m12s");
        assert_eq!(short_duration(7500), "2h05m");
        assert_eq!(short_duration(273_600), "3d4h");
    }
}
