//! SLO specs and the status the hub computes for each SLO series.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::envelope::Component;

/// What an SLO counts as a good run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SliKind {
    /// Success or a safe escalation to a human.
    Completion,
    /// Finished (not timed out) within `threshold_ms`.
    Latency,
    /// Cost at most `threshold_usd`.
    Cost,
    /// No policy violation.
    Policy,
}

impl SliKind {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Completion => "completion",
            Self::Latency => "latency",
            Self::Cost => "cost",
            Self::Policy => "policy",
        }
    }
}

/// Default SLO window, in days.
pub const DEFAULT_WINDOW_DAYS: u32 = 30;
/// Default minimum number of events in an alert's long window before it may fire.
pub const DEFAULT_MIN_EVENTS: u64 = 20;

/// A service level objective over the runs of the agents and workflows its
/// selector matches. `*` matches every agent or workflow; each match is its
/// own series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SloSpec {
    /// Unique name, e.g. `refund-completion`.
    pub name: String,
    /// Agent id, or `*`.
    #[serde(default = "any")]
    pub agent: String,
    /// Workflow, or `*`.
    #[serde(default = "any")]
    pub workflow: String,
    /// What counts as good.
    pub sli: SliKind,
    /// Latency threshold, for `latency`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold_ms: Option<u64>,
    /// Cost threshold, for `cost`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold_usd: Option<f64>,
    /// Target good ratio, e.g. 0.95.
    pub objective: f64,
    /// Window the objective holds over, in days.
    #[serde(default = "default_window_days")]
    pub window_days: u32,
    /// A page on this SLO opens a SEV1 instead of a SEV2.
    #[serde(default)]
    pub critical: bool,
    /// Events needed in an alert's long window before it may fire, so that
    /// two failures out of three runs at night page nobody.
    #[serde(default = "default_min_events")]
    pub min_events: u64,
}

fn any() -> String {
    "*".to_string()
}

fn default_window_days() -> u32 {
    DEFAULT_WINDOW_DAYS
}

fn default_min_events() -> u64 {
    DEFAULT_MIN_EVENTS
}

/// Burn rates over the standard windows: how fast the error budget is being
/// spent, where 1.0 spends exactly the budget over the SLO window.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BurnRates {
    /// Over 5 minutes.
    pub m5: f64,
    /// Over 30 minutes.
    pub m30: f64,
    /// Over 1 hour.
    pub h1: f64,
    /// Over 2 hours.
    pub h2: f64,
    /// Over 6 hours.
    pub h6: f64,
    /// Over 1 day.
    pub d1: f64,
    /// Over 3 days.
    pub d3: f64,
}

/// The alert an SLO series is in.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum AlertLevel {
    /// Inside budget, or burning slowly.
    #[default]
    None,
    /// Slow burn: open a ticket.
    Ticket,
    /// Fast burn: wake someone.
    Page,
}

impl AlertLevel {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Ticket => "ticket",
            Self::Page => "page",
        }
    }
}

/// A version change seen on an agent, shown as a marker on its gauges.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VersionMarker {
    /// When the new version was first seen.
    pub at: DateTime<Utc>,
    /// What changed.
    pub component: Component,
    /// The version before, if known.
    #[serde(default)]
    pub from: Option<String>,
    /// The version after.
    pub to: String,
    /// Who deployed it, from a `change` event.
    #[serde(default)]
    pub deployed_by: Option<String>,
    /// Who approved it, from a `change` event.
    #[serde(default)]
    pub approved_by: Option<String>,
}

/// The computed state of one SLO series (an SLO × agent × workflow).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SloStatus {
    /// `slo/agent/workflow`.
    pub series: String,
    /// The SLO's name.
    pub slo: String,
    /// The agent.
    pub agent: String,
    /// The workflow.
    pub workflow: String,
    /// What counts as good.
    pub sli: SliKind,
    /// Target good ratio.
    pub objective: f64,
    /// Window in days.
    pub window_days: u32,
    /// A page opens a SEV1.
    pub critical: bool,
    /// Events in the window.
    pub total: u64,
    /// Good events in the window.
    pub good: u64,
    /// Good ratio over the window; none without events.
    pub ratio: Option<f64>,
    /// Good ratio over the last hour; none without events.
    pub ratio_1h: Option<f64>,
    /// Error budget left over the window: 1.0 untouched, 0.0 spent, below
    /// zero overspent.
    pub budget_remaining: f64,
    /// Seconds until the budget is spent at the current 1 h burn rate; none
    /// when the 1 h burn rate is zero.
    pub exhaustion_s: Option<u64>,
    /// Burn rates.
    pub burn: BurnRates,
    /// Current alert.
    pub alert: AlertLevel,
    /// Median latency over the last hour, ms.
    pub latency_p50_ms: Option<f64>,
    /// 95th percentile latency over the last hour, ms.
    pub latency_p95_ms: Option<f64>,
    /// 99th percentile latency over the last hour, ms.
    pub latency_p99_ms: Option<f64>,
    /// Cost of all runs in the last hour divided by its successful runs, USD.
    pub cost_per_success_usd: Option<f64>,
    /// Share of runs with a policy violation in the last hour.
    pub violation_rate: Option<f64>,
    /// Share of runs escalated in the last hour.
    pub escalation_rate: Option<f64>,
    /// Escalation rate over the 24 hours before the last hour.
    pub escalation_baseline: Option<f64>,
    /// Runs in the last hour.
    pub runs_1h: u64,
    /// Bad events per minute over the last hour, oldest first (60 values).
    pub bad_per_min: Vec<u32>,
    /// Events per minute over the last hour, oldest first (60 values).
    pub total_per_min: Vec<u32>,
    /// Version changes of this agent in the last day, oldest first.
    pub markers: Vec<VersionMarker>,
}
