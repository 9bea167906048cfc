//! The shift handoff summary: what happened during a shift, computed from
//! the hub's incidents, approvals, controls, SLO statuses, runbook steps and
//! the operators' notes, as one serializable [`Handoff`]; `render` writes
//! it as Markdown ([`to_markdown`]) or aligned plain text ([`to_text`]).
//!
//! Pure: no clock, no I/O. The hub gathers the inputs under its lock and
//! calls [`summarize`]; `agentdeck handoff` and the TUI show what the hub
//! answers, so every operator sees the same figures.
//!
//! Definitions (also in `docs/protocol.md`, §7.14). The shift is the
//! half-open window `[from, to)`.
//!
//! - **opened**: incidents with `opened_at` in the window.
//! - **resolved**: incidents with `resolved_at` in the window.
//! - **still open**: incidents opened before `to` and not resolved before
//!   `to`; their `state` and `owner` are the current ones.
//! - **MTTA**: mean of `acknowledged_at − opened_at` over incidents
//!   acknowledged in the window; **MTTR**: mean of `resolved_at − opened_at`
//!   over incidents resolved in the window. Seconds; none without any.
//! - **approvals decided**: `approved` or `rejected` with `closed_at` in the
//!   window; **expired**: `expired` with `closed_at` in the window;
//!   **pending**: requested before `to` and not closed before `to`.
//! - **rejections**: reject decisions with `at` in the window, with who
//!   rejected and why.
//! - **approval latency**: `closed_at − requested_at` over the decided
//!   ones; p50 and p95 by nearest rank (the value at rank `⌈p/100 × n⌉` of
//!   the sorted latencies).
//! - **SLOs**: the status now, with the share of the error budget burned
//!   during the shift (computed by the hub's engine, hour-granular).
//! - **controls in force**: active now.
//! - **runbook steps**: step records on any incident with `at` in the window.
//! - **notes**: handoff notes with `at` in the window; **incident notes**:
//!   `note` entries of any incident's timeline with `at` in the window.

mod render;

pub use render::{Format, human_duration, to_markdown, to_text};

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::model::approval::{Approval, ApprovalState, Verdict};
use crate::model::control::{Control, ControlKind, ControlState};
use crate::model::envelope::Risk;
use crate::model::incident::{Incident, IncidentState, Severity};
use crate::model::runbook::HandoffNote;
use crate::model::slo::{AlertLevel, SloStatus};

/// Largest handoff note, in bytes.
pub const MAX_NOTE_BYTES: usize = 4096;
/// Shift length when the request names no `from`.
pub const DEFAULT_SHIFT_S: i64 = 8 * 3600;

/// The shift: `[from, to)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    /// Start, inclusive.
    pub from: DateTime<Utc>,
    /// End, exclusive.
    pub to: DateTime<Utc>,
}

impl Window {
    /// True when `t` lies in `[from, to)`.
    pub fn contains(&self, t: DateTime<Utc>) -> bool {
        self.from <= t && t < self.to
    }
}

/// Body of `POST /v1/handoff/notes`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoteRequest {
    /// The note (Markdown).
    pub text: String,
}

impl NoteRequest {
    /// Non-empty (after trimming) and at most [`MAX_NOTE_BYTES`] bytes.
    pub fn validate(&self) -> Result<(), String> {
        if self.text.trim().is_empty() {
            return Err("field \"text\": must not be empty".into());
        }
        if self.text.len() > MAX_NOTE_BYTES {
            return Err(format!(
                "field \"text\": {} bytes, more than the limit of {MAX_NOTE_BYTES}",
                self.text.len()
            ));
        }
        Ok(())
    }
}

/// One SLO series now, with what the shift burned.
#[derive(Debug, Clone, PartialEq)]
pub struct SloNow {
    /// The status now.
    pub status: SloStatus,
    /// Share of the error budget burned during the shift, if known.
    pub budget_burned: Option<f64>,
}

/// An incident as the summary lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IncidentLine {
    /// `INC-<n>`.
    pub id: String,
    /// Title.
    pub title: String,
    /// Severity now.
    pub severity: Severity,
    /// State now.
    pub state: IncidentState,
    /// Owner now.
    pub owner: Option<String>,
    /// When it opened.
    pub opened_at: DateTime<Utc>,
    /// When it was first acknowledged.
    pub acknowledged_at: Option<DateTime<Utc>>,
    /// When it was resolved.
    pub resolved_at: Option<DateTime<Utc>>,
}

/// Incident figures of the shift.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IncidentSummary {
    /// Opened during the shift.
    pub opened: Vec<IncidentLine>,
    /// Resolved during the shift.
    pub resolved: Vec<IncidentLine>,
    /// Open at the end of the shift.
    pub still_open: Vec<IncidentLine>,
    /// Incidents acknowledged during the shift (the MTTA sample).
    pub acknowledged: usize,
    /// Mean time to acknowledge, seconds.
    pub mtta_s: Option<f64>,
    /// Mean time to resolve, seconds.
    pub mttr_s: Option<f64>,
    /// Notes written on any incident during the shift, oldest first.
    #[serde(default)]
    pub notes: Vec<IncidentNoteLine>,
}

/// A note an operator wrote on an incident during the shift.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IncidentNoteLine {
    /// The incident.
    pub incident: String,
    /// Who wrote it.
    pub by: String,
    /// When.
    pub at: DateTime<Utc>,
    /// The note.
    pub text: String,
}

/// An approval as the summary lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovalLine {
    /// `APR-<n>`.
    pub id: String,
    /// The agent.
    pub agent: String,
    /// What it asked to do.
    pub action: String,
    /// How risky.
    pub risk: Risk,
    /// State now.
    pub state: ApprovalState,
    /// When it was asked.
    pub requested_at: DateTime<Utc>,
    /// When it closed.
    pub closed_at: Option<DateTime<Utc>>,
    /// Who decided, in order.
    pub decided_by: Vec<String>,
    /// `closed_at − requested_at`, seconds, for closed ones.
    pub latency_s: Option<f64>,
}

/// Approval figures of the shift.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovalSummary {
    /// Approved or rejected during the shift.
    pub decided: Vec<ApprovalLine>,
    /// Of those, approved.
    pub approved: usize,
    /// Of those, rejected.
    pub rejected: usize,
    /// Expired during the shift.
    pub expired: Vec<ApprovalLine>,
    /// Open at the end of the shift.
    pub pending: Vec<ApprovalLine>,
    /// Median decision latency (nearest rank), seconds.
    pub latency_p50_s: Option<f64>,
    /// 95th percentile decision latency (nearest rank), seconds.
    pub latency_p95_s: Option<f64>,
    /// Reject decisions made during the shift, oldest first.
    #[serde(default)]
    pub rejections: Vec<RejectionLine>,
}

/// One approver's rejection, made during the shift.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RejectionLine {
    /// `APR-<n>`.
    pub approval: String,
    /// The agent that asked.
    pub agent: String,
    /// What it asked to do.
    pub action: String,
    /// Who rejected.
    pub by: String,
    /// When.
    pub at: DateTime<Utc>,
    /// Why (required to reject; absent only in records older than that
    /// rule).
    pub reason: Option<String>,
}

/// One SLO series in the summary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SloLine {
    /// `slo/agent/workflow`.
    pub series: String,
    /// Target good ratio.
    pub objective: f64,
    /// Good ratio over the SLO window now.
    pub ratio: Option<f64>,
    /// Error budget left now (1.0 untouched).
    pub budget_remaining: f64,
    /// Share of the budget the shift's bad events used.
    pub budget_burned: Option<f64>,
    /// Alert now.
    pub alert: AlertLevel,
}

/// A control in force.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ControlLine {
    /// `CTL-<n>`.
    pub id: String,
    /// The agent, or `*`.
    pub agent: String,
    /// What it does.
    pub kind: ControlKind,
    /// The tool, for `disable_tool`.
    pub tool: Option<String>,
    /// The version, for `pin_version`.
    pub version: Option<String>,
    /// Why.
    pub reason: String,
    /// Who set it.
    pub set_by: String,
    /// When.
    pub set_at: DateTime<Utc>,
    /// When it expires on its own.
    pub expires_at: Option<DateTime<Utc>>,
    /// The incident it was set for.
    pub incident: Option<String>,
}

/// A runbook step executed during the shift.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepLine {
    /// The incident.
    pub incident: String,
    /// The runbook.
    pub runbook: String,
    /// The step's index.
    pub step: u32,
    /// Who.
    pub by: String,
    /// When.
    pub at: DateTime<Utc>,
    /// What happened.
    pub result: String,
    /// The control it applied.
    pub control: Option<String>,
}

/// The handoff summary of one shift.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Handoff {
    /// Start of the shift, inclusive.
    pub from: DateTime<Utc>,
    /// End of the shift, exclusive.
    pub to: DateTime<Utc>,
    /// When the summary was made.
    pub generated_at: DateTime<Utc>,
    /// Incidents.
    pub incidents: IncidentSummary,
    /// Approvals.
    pub approvals: ApprovalSummary,
    /// SLO series, by id.
    pub slos: Vec<SloLine>,
    /// Controls in force now, by id number.
    pub controls: Vec<ControlLine>,
    /// Runbook steps executed, oldest first.
    pub steps: Vec<StepLine>,
    /// The outgoing lead's notes, oldest first (notes on incidents are
    /// in `incidents.notes`).
    pub notes: Vec<HandoffNote>,
}

fn seconds(d: Duration) -> f64 {
    d.num_milliseconds() as f64 / 1000.0
}

fn mean(xs: &[f64]) -> Option<f64> {
    (!xs.is_empty()).then(|| xs.iter().sum::<f64>() / xs.len() as f64)
}

/// The nearest-rank percentile `p` (0 < p ≤ 100) of `sorted` (ascending):
/// the value at rank `⌈p/100 × n⌉`, 1-based. None when empty.
pub fn nearest_rank(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let n = sorted.len();
    let rank = ((p / 100.0) * n as f64).ceil() as usize;
    sorted.get(rank.clamp(1, n) - 1).copied()
}

fn id_number(id: &str) -> u64 {
    id.rsplit('-')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

fn incident_line(i: &Incident) -> IncidentLine {
    IncidentLine {
        id: i.id.clone(),
        title: i.title.clone(),
        severity: i.severity,
        state: i.state,
        owner: i.owner.clone(),
        opened_at: i.opened_at,
        acknowledged_at: i.acknowledged_at,
        resolved_at: i.resolved_at,
    }
}

fn approval_line(a: &Approval) -> ApprovalLine {
    ApprovalLine {
        id: a.id.clone(),
        agent: a.agent.clone(),
        action: a.action.clone(),
        risk: a.risk,
        state: a.state,
        requested_at: a.requested_at,
        closed_at: a.closed_at,
        decided_by: a.decisions.iter().map(|d| d.by.clone()).collect(),
        latency_s: a.closed_at.map(|c| seconds(c - a.requested_at)),
    }
}

/// Computes the summary of the shift `window` as of `now`.
pub fn summarize(
    window: Window,
    incidents: &[Incident],
    approvals: &[Approval],
    controls: &[Control],
    slos: &[SloNow],
    notes: &[HandoffNote],
    now: DateTime<Utc>,
) -> Handoff {
    let mut incidents: Vec<&Incident> = incidents.iter().collect();
    incidents.sort_by_key(|i| id_number(&i.id));
    let mut slos: Vec<SloLine> = slos.iter().map(slo_line).collect();
    slos.sort_by(|a, b| a.series.cmp(&b.series));
    let mut notes: Vec<HandoffNote> = notes
        .iter()
        .filter(|n| window.contains(n.at))
        .cloned()
        .collect();
    notes.sort_by_key(|n| n.at);
    Handoff {
        from: window.from,
        to: window.to,
        generated_at: now,
        incidents: incident_summary(window, &incidents),
        approvals: approval_summary(window, approvals),
        slos,
        controls: controls_in_force(controls, now),
        steps: steps_in(window, &incidents),
        notes,
    }
}

/// Incidents opened, resolved and still open over the shift, with the
/// mean times to acknowledge and to resolve.
fn incident_summary(window: Window, incidents: &[&Incident]) -> IncidentSummary {
    let in_window = |t: Option<DateTime<Utc>>| t.is_some_and(|t| window.contains(t));
    let opened: Vec<IncidentLine> = incidents
        .iter()
        .filter(|i| window.contains(i.opened_at))
        .map(|i| incident_line(i))
        .collect();
    let resolved: Vec<&&Incident> = incidents
        .iter()
        .filter(|i| in_window(i.resolved_at))
        .collect();
    let still_open: Vec<IncidentLine> = incidents
        .iter()
        .filter(|i| i.opened_at < window.to && i.resolved_at.is_none_or(|r| r >= window.to))
        .map(|i| incident_line(i))
        .collect();
    let ack_times: Vec<f64> = incidents
        .iter()
        .filter_map(|i| {
            i.acknowledged_at
                .filter(|t| window.contains(*t))
                .map(|t| seconds(t - i.opened_at))
        })
        .collect();
    let resolve_times: Vec<f64> = resolved
        .iter()
        .filter_map(|i| i.resolved_at.map(|t| seconds(t - i.opened_at)))
        .collect();
    IncidentSummary {
        opened,
        resolved: resolved.iter().map(|i| incident_line(i)).collect(),
        still_open,
        acknowledged: ack_times.len(),
        mtta_s: mean(&ack_times),
        mttr_s: mean(&resolve_times),
        notes: incident_notes_in(window, incidents),
    }
}

/// Notes written on incidents during the shift, in time order (by
/// incident for the same instant).
fn incident_notes_in(window: Window, incidents: &[&Incident]) -> Vec<IncidentNoteLine> {
    let mut notes: Vec<IncidentNoteLine> = incidents
        .iter()
        .flat_map(|i| {
            i.timeline
                .iter()
                .filter(|e| e.kind == "note" && window.contains(e.at))
                .map(|e| IncidentNoteLine {
                    incident: i.id.clone(),
                    by: e.actor.clone(),
                    at: e.at,
                    text: e.text.clone(),
                })
        })
        .collect();
    notes.sort_by_key(|n| n.at);
    notes
}

/// Approvals decided, expired and pending over the shift, with decision
/// latencies.
fn approval_summary(window: Window, approvals: &[Approval]) -> ApprovalSummary {
    let in_window = |t: Option<DateTime<Utc>>| t.is_some_and(|t| window.contains(t));
    let mut approvals: Vec<&Approval> = approvals.iter().collect();
    approvals.sort_by_key(|a| id_number(&a.id));
    let decided: Vec<ApprovalLine> = approvals
        .iter()
        .filter(|a| {
            matches!(a.state, ApprovalState::Approved | ApprovalState::Rejected)
                && in_window(a.closed_at)
        })
        .map(|a| approval_line(a))
        .collect();
    let expired: Vec<ApprovalLine> = approvals
        .iter()
        .filter(|a| a.state == ApprovalState::Expired && in_window(a.closed_at))
        .map(|a| approval_line(a))
        .collect();
    let pending: Vec<ApprovalLine> = approvals
        .iter()
        .filter(|a| a.requested_at < window.to && a.closed_at.is_none_or(|c| c >= window.to))
        .map(|a| approval_line(a))
        .collect();
    let mut latencies: Vec<f64> = decided.iter().filter_map(|a| a.latency_s).collect();
    latencies.sort_by(f64::total_cmp);
    let approved = decided
        .iter()
        .filter(|a| a.state == ApprovalState::Approved)
        .count();
    ApprovalSummary {
        approved,
        rejected: decided.len() - approved,
        decided,
        expired,
        pending,
        latency_p50_s: nearest_rank(&latencies, 50.0),
        latency_p95_s: nearest_rank(&latencies, 95.0),
        rejections: rejections_in(window, &approvals),
    }
}

/// Reject decisions made during the shift, in time order (by approval for
/// the same instant). A reject closes its approval at once, so these are
/// the rejected ones of `decided`, read from the decision that carries who
/// rejected and why.
fn rejections_in(window: Window, approvals: &[&Approval]) -> Vec<RejectionLine> {
    let mut out: Vec<RejectionLine> = approvals
        .iter()
        .flat_map(|a| {
            a.decisions
                .iter()
                .filter(|d| d.verdict == Verdict::Reject && window.contains(d.at))
                .map(|d| RejectionLine {
                    approval: a.id.clone(),
                    agent: a.agent.clone(),
                    action: a.action.clone(),
                    by: d.by.clone(),
                    at: d.at,
                    reason: d.reason.clone(),
                })
        })
        .collect();
    out.sort_by_key(|r| r.at);
    out
}

fn slo_line(s: &SloNow) -> SloLine {
    SloLine {
        series: s.status.series.clone(),
        objective: s.status.objective,
        ratio: s.status.ratio,
        budget_remaining: s.status.budget_remaining,
        budget_burned: s.budget_burned,
        alert: s.status.alert,
    }
}

/// Controls still in force at `now`, by id.
fn controls_in_force(controls: &[Control], now: DateTime<Utc>) -> Vec<ControlLine> {
    let mut in_force: Vec<&Control> = controls
        .iter()
        .filter(|c| c.state == ControlState::Active && c.expires_at.is_none_or(|e| e > now))
        .collect();
    in_force.sort_by_key(|c| id_number(&c.id));
    in_force
        .into_iter()
        .map(|c| ControlLine {
            id: c.id.clone(),
            agent: c.agent.clone(),
            kind: c.kind,
            tool: c.tool.clone(),
            version: c.version.clone(),
            reason: c.reason.clone(),
            set_by: c.set_by.clone(),
            set_at: c.set_at,
            expires_at: c.expires_at,
            incident: c.incident.clone(),
        })
        .collect()
}

/// Runbook steps run during the shift, in time order.
fn steps_in(window: Window, incidents: &[&Incident]) -> Vec<StepLine> {
    let mut steps: Vec<StepLine> = incidents
        .iter()
        .flat_map(|i| {
            i.steps
                .iter()
                .filter(|s| window.contains(s.at))
                .map(|s| StepLine {
                    incident: i.id.clone(),
                    runbook: s.runbook.clone(),
                    step: s.step,
                    by: s.by.clone(),
                    at: s.at,
                    result: s.result.clone(),
                    control: s.control.clone(),
                })
        })
        .collect();
    steps.sort_by_key(|s| s.at);
    steps
}
