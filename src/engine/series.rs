//! One SLO series: an SLO spec applied to one agent and workflow.

use std::ops::AddAssign;

use crate::model::envelope::Outcome;
use crate::model::envelope_ref::RunView;
use crate::model::slo::{AlertLevel, SliKind, SloSpec};

use super::burn::{Counts, WindowCounts};
use super::ring::Ring;

/// Seconds in a minute bucket.
pub const MINUTE_S: i64 = 60;
/// Seconds in an hour bucket.
pub const HOUR_S: i64 = 3600;
/// Minute buckets kept: six hours for the short windows, plus slack for
/// events that arrive a little late or early.
pub const MINUTE_BUCKETS: usize = 6 * 60 + 15;
/// Hour buckets kept beyond the SLO window, for the same slack.
pub const HOUR_SLACK: usize = 2;

/// Good and total counts of one bucket, 32-bit to keep rings small.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct BucketCounts {
    /// Good events.
    pub good: u32,
    /// All events.
    pub total: u32,
}

impl AddAssign for BucketCounts {
    fn add_assign(&mut self, rhs: Self) {
        self.good = self.good.saturating_add(rhs.good);
        self.total = self.total.saturating_add(rhs.total);
    }
}

impl AddAssign<BucketCounts> for Counts {
    fn add_assign(&mut self, rhs: BucketCounts) {
        self.good += u64::from(rhs.good);
        self.total += u64::from(rhs.total);
    }
}

/// Whether a run (owned or borrowed) is good under an SLO's SLI; `None`
/// when the SLI cannot judge it (a cost with a model's price unknown is
/// not a cost to count as good or bad).
pub fn judge<R: RunView + ?Sized>(spec: &SloSpec, run: &R) -> Option<bool> {
    Some(match spec.sli {
        SliKind::Completion => matches!(run.outcome(), Outcome::Success | Outcome::Escalated),
        SliKind::Latency => {
            run.outcome() != Outcome::TimedOut
                && run.latency_ms() <= spec.threshold_ms.unwrap_or(u64::MAX)
        }
        SliKind::Cost if run.unpriced_model().is_some() => return None,
        SliKind::Cost => run.cost_usd() <= spec.threshold_usd.unwrap_or(f64::INFINITY),
        SliKind::Policy => !run.has_violations(),
    })
}

/// The aggregates of one SLO series.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct SloSeries {
    /// Index of the spec in the engine's spec list.
    pub spec: usize,
    /// The agent.
    pub agent: String,
    /// The workflow.
    pub workflow: String,
    /// `slo/agent/workflow`.
    pub id: String,
    minutes: Ring<BucketCounts>,
    hours: Ring<BucketCounts>,
    /// The alert level at the last evaluation.
    pub alert: AlertLevel,
}

impl SloSeries {
    /// An empty series.
    pub fn new(spec_index: usize, spec: &SloSpec, agent: &str, workflow: &str) -> Self {
        // At least three days, so the 3 d alert window is whole even for
        // SLOs with shorter windows.
        let hours = (spec.window_days as usize * 24).max(72) + HOUR_SLACK;
        Self {
            spec: spec_index,
            agent: agent.to_string(),
            workflow: workflow.to_string(),
            id: format!("{}/{agent}/{workflow}", spec.name),
            minutes: Ring::new(MINUTE_S, MINUTE_BUCKETS),
            hours: Ring::new(HOUR_S, hours),
            alert: AlertLevel::None,
        }
    }

    /// Counts one event at `t_s`.
    pub fn record(&mut self, t_s: i64, good: bool) {
        let add = BucketCounts {
            good: u32::from(good),
            total: 1,
        };
        if let Some(b) = self.minutes.at_mut(t_s) {
            *b += add;
        }
        if let Some(b) = self.hours.at_mut(t_s) {
            *b += add;
        }
    }

    fn hours(&self, now_s: i64, n: usize) -> Counts {
        let [c] = self.hours.sums_last(now_s, [n]);
        c
    }

    /// Counts over the standard alert windows at `now_s`: minute buckets up
    /// to six hours, hour buckets for one and three days.
    pub fn windows(&self, now_s: i64) -> WindowCounts {
        // One backward pass per ring, snapshotting each window on the way.
        let [m5, m30, h1, h2, h6] = self.minutes.sums_last(now_s, [5, 30, 60, 120, 360]);
        let [d1, d3] = self.hours.sums_last(now_s, [24, 72]);
        WindowCounts {
            m5,
            m30,
            h1,
            h2,
            h6,
            d1,
            d3,
        }
    }

    /// Counts over the SLO window (hour buckets).
    pub fn window_total(&self, now_s: i64, window_days: u32) -> Counts {
        self.hours(now_s, window_days as usize * 24)
    }

    /// Counts of the hour buckets that overlap `[from_s, to_s)`: hour
    /// granularity, so a window that starts or ends mid-hour counts its
    /// whole first and last hours. Buckets older than the ring holds count
    /// as empty.
    pub fn hours_between(&self, from_s: i64, to_s: i64) -> Counts {
        let mut c = Counts::default();
        if to_s <= from_s {
            return c;
        }
        let last = self.hours.bucket_of(to_s - 1);
        let oldest_held = last - (self.hours.len() as i64 - 1);
        let first = self.hours.bucket_of(from_s).max(oldest_held);
        for bucket in first..=last {
            c += self.hours.get(bucket);
        }
        c
    }

    /// Per-minute counts over the last `n` minutes, oldest first.
    pub fn per_minute(&self, now_s: i64, n: usize) -> impl Iterator<Item = BucketCounts> + '_ {
        self.minutes.last(now_s, n)
    }
}
