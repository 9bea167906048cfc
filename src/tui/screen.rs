//! The screens, and which rows each shows in which order.

use chrono::{DateTime, Utc};

use crate::model::agent::Agent;
use crate::model::approval::Approval;
use crate::model::control::Control;
use crate::model::incident::Incident;
use crate::model::slo::{AlertLevel, SloStatus};

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
}

impl Screen {
    /// Every screen, in tab order (keys 1–7).
    pub const ALL: [Screen; 7] = [
        Self::Overview,
        Self::Incidents,
        Self::Approvals,
        Self::Controls,
        Self::Agents,
        Self::Runbook,
        Self::Handoff,
    ];

    /// Tab title.
    pub fn title(self) -> &'static str {
        match self {
            Self::Overview => "Overview",
            Self::Incidents => "Incidents",
            Self::Approvals => "Approvals",
            Self::Controls => "Controls",
            Self::Agents => "Agents",
            Self::Runbook => "Runbook",
            Self::Handoff => "Handoff",
        }
    }

    /// Command-line name.
    pub fn command(self) -> &'static str {
        match self {
            Self::Overview => "overview",
            Self::Incidents => "incidents",
            Self::Approvals => "approvals",
            Self::Controls => "controls",
            Self::Agents => "agents",
            Self::Runbook => "runbook",
            Self::Handoff => "handoff",
        }
    }

    /// The keymap context.
    pub fn context(self) -> Context {
        match self {
            Self::Overview => Context::Overview,
            Self::Incidents => Context::Incidents,
            Self::Approvals => Context::Approvals,
            Self::Controls => Context::Controls,
            Self::Agents => Context::Agents,
            Self::Runbook => Context::Runbook,
            Self::Handoff => Context::Handoff,
        }
    }

    /// The action that shows it.
    pub fn action(self) -> Action {
        match self {
            Self::Overview => Action::ShowOverview,
            Self::Incidents => Action::ShowIncidents,
            Self::Approvals => Action::ShowApprovals,
            Self::Controls => Action::ShowControls,
            Self::Agents => Action::ShowAgents,
            Self::Runbook => Action::ShowRunbook,
            Self::Handoff => Action::ShowHandoff,
        }
    }

    /// Index in tab order.
    pub fn index(self) -> usize {
        Self::ALL.iter().position(|s| *s == self).unwrap_or(0)
    }
}

fn matches(filter: &str, fields: &[&str]) -> bool {
    if filter.is_empty() {
        return true;
    }
    let f = filter.to_lowercase();
    fields.iter().any(|x| x.to_lowercase().contains(&f))
}

/// SLO series, worst first: paging, then ticketing, then by budget left.
pub fn slo_rows<'a>(data: &'a FeedData, filter: &str) -> Vec<&'a SloStatus> {
    let mut rows: Vec<&SloStatus> = data
        .slos
        .values()
        .filter(|s| matches(filter, &[&s.series, s.alert.as_str()]))
        .collect();
    rows.sort_by(|a, b| {
        let level = |s: &SloStatus| match s.alert {
            AlertLevel::Page => 0,
            AlertLevel::Ticket => 1,
            AlertLevel::None => 2,
        };
        level(a)
            .cmp(&level(b))
            .then(a.budget_remaining.total_cmp(&b.budget_remaining))
            .then(a.series.cmp(&b.series))
    });
    rows
}

/// Open incidents by severity, then oldest first.
pub fn incident_rows<'a>(data: &'a FeedData, filter: &str) -> Vec<&'a Incident> {
    let mut rows: Vec<&Incident> = data
        .incidents
        .values()
        .filter(|i| {
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
        })
        .collect();
    rows.sort_by(|a, b| {
        a.severity
            .cmp(&b.severity)
            .then(a.opened_at.cmp(&b.opened_at))
    });
    rows
}

/// Pending approvals, nearest deadline first.
pub fn approval_rows<'a>(data: &'a FeedData, filter: &str) -> Vec<&'a Approval> {
    let mut rows: Vec<&Approval> = data
        .approvals
        .values()
        .filter(|a| {
            matches(
                filter,
                &[&a.id, &a.agent, &a.action, a.tool.as_deref().unwrap_or("")],
            )
        })
        .collect();
    rows.sort_by(|a, b| a.deadline.cmp(&b.deadline).then(a.id.cmp(&b.id)));
    rows
}

/// Controls in force, fleet-wide first, then newest first.
pub fn control_rows<'a>(data: &'a FeedData, filter: &str) -> Vec<&'a Control> {
    let mut rows: Vec<&Control> = data
        .controls
        .values()
        .filter(|c| {
            matches(
                filter,
                &[&c.id, &c.agent, c.kind.as_str(), &c.set_by, &c.reason],
            )
        })
        .collect();
    rows.sort_by(|a, b| {
        (b.agent == "*")
            .cmp(&(a.agent == "*"))
            .then(b.set_at.cmp(&a.set_at))
    });
    rows
}

/// Agents by id.
pub fn agent_rows<'a>(data: &'a FeedData, filter: &str) -> Vec<&'a Agent> {
    data.agents
        .values()
        .filter(|a| matches(filter, &[&a.id, a.versions.model.as_deref().unwrap_or("")]))
        .collect()
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
    fn durations_are_compact() {
        assert_eq!(short_duration(-5), "0s");
        assert_eq!(short_duration(45), "45s");
        assert_eq!(short_duration(192), "3m12s");
        assert_eq!(short_duration(7500), "2h05m");
        assert_eq!(short_duration(273_600), "3d4h");
    }
}
