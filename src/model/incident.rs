//! Incidents: the shared queue operators work from.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Severity, SEV1 (worst) to SEV4.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Severity {
    /// Critical: customer or money impact now; all hands.
    #[serde(rename = "SEV1")]
    Sev1,
    /// Major: an SLO is burning fast.
    #[serde(rename = "SEV2")]
    Sev2,
    /// Minor: slow burn, a ticket.
    #[serde(rename = "SEV3")]
    Sev3,
    /// Low: worth a look.
    #[serde(rename = "SEV4")]
    Sev4,
}

impl Severity {
    /// Parses `SEV1`…`SEV4`.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "SEV1" => Self::Sev1,
            "SEV2" => Self::Sev2,
            "SEV3" => Self::Sev3,
            "SEV4" => Self::Sev4,
            _ => return None,
        })
    }

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sev1 => "SEV1",
            Self::Sev2 => "SEV2",
            Self::Sev3 => "SEV3",
            Self::Sev4 => "SEV4",
        }
    }

    /// The next more severe level, if any.
    pub fn raised(self) -> Option<Self> {
        match self {
            Self::Sev1 => None,
            Self::Sev2 => Some(Self::Sev1),
            Self::Sev3 => Some(Self::Sev2),
            Self::Sev4 => Some(Self::Sev3),
        }
    }
}

/// What kind of trouble an incident is; runbooks are linked by category.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// Made-up output that reached no customer.
    HallucinationLowImpact,
    /// Made-up output that reached a customer.
    HallucinationCustomerImpact,
    /// An action that should not have been taken.
    UnsafeAction,
    /// A tool the agent depends on is failing.
    ToolFailure,
    /// Data written wrongly.
    DataCorruption,
    /// Behaviour drifted from its baseline.
    Drift,
    /// An SLO is burning its error budget.
    SloBurn,
    /// Anything else.
    Other,
}

impl Category {
    /// Every category name, for error messages.
    pub const NAMES: &'static str = "hallucination_low_impact, hallucination_customer_impact, unsafe_action, tool_failure, data_corruption, drift, slo_burn, other";

    /// Parses the wire name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "hallucination_low_impact" => Self::HallucinationLowImpact,
            "hallucination_customer_impact" => Self::HallucinationCustomerImpact,
            "unsafe_action" => Self::UnsafeAction,
            "tool_failure" => Self::ToolFailure,
            "data_corruption" => Self::DataCorruption,
            "drift" => Self::Drift,
            "slo_burn" => Self::SloBurn,
            "other" => Self::Other,
            _ => return None,
        })
    }

    /// The wire name, also the name runbooks are linked by.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::HallucinationLowImpact => "hallucination_low_impact",
            Self::HallucinationCustomerImpact => "hallucination_customer_impact",
            Self::UnsafeAction => "unsafe_action",
            Self::ToolFailure => "tool_failure",
            Self::DataCorruption => "data_corruption",
            Self::Drift => "drift",
            Self::SloBurn => "slo_burn",
            Self::Other => "other",
        }
    }
}

/// Where an incident's life is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IncidentState {
    /// Opened; nobody has said they are on it.
    Triggered,
    /// Someone is on it.
    Acknowledged,
    /// The damage is stopped; the cause may remain.
    Contained,
    /// Over.
    Resolved,
}

impl IncidentState {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Triggered => "triggered",
            Self::Acknowledged => "acknowledged",
            Self::Contained => "contained",
            Self::Resolved => "resolved",
        }
    }
}

/// Who opened an incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IncidentSource {
    /// A burn-rate alert.
    Alert,
    /// The agent reported it.
    Agent,
    /// An operator opened it by hand.
    Operator,
    /// A Prometheus Alertmanager alert (`POST /v1/alerts/alertmanager`).
    Alertmanager,
}

/// The outside alert an incident stands for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExternalAlert {
    /// Alertmanager's fingerprint: repeats update this incident.
    pub fingerprint: String,
    /// The alert's labels.
    #[serde(default)]
    pub labels: std::collections::BTreeMap<String, String>,
    /// Its annotations (`summary`, `description`, `runbook_url`, …).
    #[serde(default)]
    pub annotations: std::collections::BTreeMap<String, String>,
    /// The link back to Prometheus.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generator_url: Option<String>,
}

/// One line of an incident's history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimelineEntry {
    /// When.
    pub at: DateTime<Utc>,
    /// Who: an operator's name, an agent id, or `hub`.
    pub actor: String,
    /// What happened, e.g. `acknowledged`, `note`, `severity`.
    pub kind: String,
    /// Human-readable text.
    pub text: String,
}

/// An incident, as every operator sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Incident {
    /// `INC-<n>`.
    pub id: String,
    /// One-line title.
    pub title: String,
    /// Current severity.
    pub severity: Severity,
    /// Category; links the runbook.
    pub category: Category,
    /// Current state.
    pub state: IncidentState,
    /// Who opened it.
    pub source: IncidentSource,
    /// The agent involved, if one.
    #[serde(default)]
    pub agent: Option<String>,
    /// The SLO series whose alert opened it, if one.
    #[serde(default)]
    pub slo: Option<String>,
    /// Who owns it now.
    #[serde(default)]
    pub owner: Option<String>,
    /// When it opened.
    pub opened_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// When it was first acknowledged.
    #[serde(default)]
    pub acknowledged_at: Option<DateTime<Utc>>,
    /// When it was contained.
    #[serde(default)]
    pub contained_at: Option<DateTime<Utc>>,
    /// When it was resolved.
    #[serde(default)]
    pub resolved_at: Option<DateTime<Utc>>,
    /// Resolution summary.
    #[serde(default)]
    pub summary: Option<String>,
    /// The linked runbook: its name when the hub serves one for this
    /// category (and agent), else the category.
    #[serde(default)]
    pub runbook: Option<String>,
    /// Ids of controls applied for it.
    #[serde(default)]
    pub controls: Vec<String>,
    /// History, oldest first.
    #[serde(default)]
    pub timeline: Vec<TimelineEntry>,
    /// Runbook steps completed, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<super::runbook::StepRecord>,
    /// Until when its SLO's burn opens no new incident (resolved while
    /// the SLO still burned, with the reopen suppressed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reopen_suppressed_until: Option<DateTime<Utc>>,
    /// The escalation levels paged because nobody acknowledged it (0:
    /// none).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub escalation_level: u32,
    /// Who was notified about it and whether it reached them, newest
    /// last (at most [`MAX_PAGES`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pages: Vec<Page>,
    /// Until when nobody is paged about it (escalation levels and
    /// reminders wait).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snoozed_until: Option<DateTime<Utc>>,
    /// The Alertmanager alert it stands for, if it came from one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external: Option<ExternalAlert>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// Notifications kept on an incident.
pub const MAX_PAGES: usize = 8;

/// Where a notification about an incident is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PageState {
    /// Waiting for its group window.
    Queued,
    /// Accepted by the receiver.
    Delivered,
    /// The receiver refuses or cannot be reached; retried.
    Failing,
    /// Given up.
    Failed,
}

/// One notification about an incident: `paged payments-pd 03:12,
/// delivered` or `failing: 503 since 03:12`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Page {
    /// The receiver's name.
    pub receiver: String,
    /// The event, e.g. `incident.opened`.
    pub event: String,
    /// When it was queued.
    pub queued_at: DateTime<Utc>,
    /// Where it is.
    pub state: PageState,
    /// When it got there (delivered at, failing since).
    pub at: DateTime<Utc>,
    /// Why it fails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Incident {
    /// Whether it is snoozed at `now`.
    pub fn snoozed(&self, now: DateTime<Utc>) -> bool {
        self.snoozed_until.is_some_and(|until| until > now)
    }

    /// Records a notification's new state, replacing the entry of the
    /// same receiver and event; keeps the newest [`MAX_PAGES`].
    pub fn set_page(&mut self, page: Page) {
        match self
            .pages
            .iter_mut()
            .find(|p| p.receiver == page.receiver && p.event == page.event)
        {
            // A failing page keeps the time it started failing.
            Some(p) if p.state == PageState::Failing && page.state == PageState::Failing => {
                p.error = page.error;
            }
            Some(p) => *p = page,
            None => {
                if self.pages.len() >= MAX_PAGES {
                    self.pages.remove(0);
                }
                self.pages.push(page);
            }
        }
    }
}
