//! Per agent-and-workflow run statistics: latency percentiles, cost,
//! escalations and violations, and per-tool error rates. Bounded rings and
//! sketches only.

use std::ops::AddAssign;

use crate::model::envelope::{Outcome, ToolStatus};
use crate::model::envelope_ref::RunView;

use super::ring::Ring;
use super::series::{HOUR_S, MINUTE_S};
use super::sketch::Sketch;

/// Relative error of latency percentiles: a reported p99 is within ±1 % of
/// a true sample value at that rank.
pub const LATENCY_RELATIVE_ERROR: f64 = 0.01;
/// Width of one latency sketch slot, seconds.
pub const SKETCH_SLOT_S: i64 = 600;
/// Sketch slots merged for "the last hour".
pub const SKETCH_SLOTS_PER_HOUR: usize = 6;

/// Run counters of one bucket.
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct RunCounts {
    /// Finished runs.
    pub runs: u32,
    /// Successful runs.
    pub success: u32,
    /// Escalated runs.
    pub escalated: u32,
    /// Failed runs.
    pub failed: u32,
    /// Timed-out runs.
    pub timed_out: u32,
    /// Runs with at least one policy violation.
    pub violating: u32,
    /// Escalation events reported on their own.
    pub escalation_events: u32,
    /// Cost of all runs, in micro-dollars.
    pub cost_micros: u64,
}

impl AddAssign for RunCounts {
    fn add_assign(&mut self, r: Self) {
        self.runs = self.runs.saturating_add(r.runs);
        self.success = self.success.saturating_add(r.success);
        self.escalated = self.escalated.saturating_add(r.escalated);
        self.failed = self.failed.saturating_add(r.failed);
        self.timed_out = self.timed_out.saturating_add(r.timed_out);
        self.violating = self.violating.saturating_add(r.violating);
        self.escalation_events = self.escalation_events.saturating_add(r.escalation_events);
        self.cost_micros = self.cost_micros.saturating_add(r.cost_micros);
    }
}

/// Sums of run counters over a window, 64-bit.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct RunTotals {
    /// Finished runs.
    pub runs: u64,
    /// Successful runs.
    pub success: u64,
    /// Escalated runs.
    pub escalated: u64,
    /// Runs with a policy violation.
    pub violating: u64,
    /// Cost of all runs, micro-dollars.
    pub cost_micros: u64,
}

impl AddAssign<RunCounts> for RunTotals {
    fn add_assign(&mut self, r: RunCounts) {
        self.runs += u64::from(r.runs);
        self.success += u64::from(r.success);
        self.escalated += u64::from(r.escalated);
        self.violating += u64::from(r.violating);
        self.cost_micros = self.cost_micros.saturating_add(r.cost_micros);
    }
}

impl RunTotals {
    fn rate(&self, part: u64) -> Option<f64> {
        (self.runs > 0).then(|| part as f64 / self.runs as f64)
    }

    /// Share of runs escalated.
    pub fn escalation_rate(&self) -> Option<f64> {
        self.rate(self.escalated)
    }

    /// Share of runs with a policy violation.
    pub fn violation_rate(&self) -> Option<f64> {
        self.rate(self.violating)
    }

    /// Cost of all runs divided by successful runs, in dollars.
    pub fn cost_per_success_usd(&self) -> Option<f64> {
        (self.success > 0).then(|| self.cost_micros as f64 / 1e6 / self.success as f64)
    }
}

/// Converts dollars to whole micro-dollars, saturating.
pub fn micros(usd: f64) -> u64 {
    let m = (usd * 1e6).round();
    if m.is_nan() || m <= 0.0 {
        0
    } else if m >= u64::MAX as f64 {
        u64::MAX
    } else {
        m as u64
    }
}

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Percentiles {
    /// Median.
    pub p50: Option<f64>,
    /// 95th percentile.
    pub p95: Option<f64>,
    /// 99th percentile.
    pub p99: Option<f64>,
}

/// A new latency sketch with the engine's stated error
/// ([`LATENCY_RELATIVE_ERROR`]).
pub fn latency_sketch() -> Sketch {
    Sketch::new()
}

/// Percentiles of a sketch.
pub fn percentiles(sketch: &Sketch) -> Percentiles {
    let q = |q: f64| sketch.quantile(q);
    Percentiles {
        p50: q(0.50),
        p95: q(0.95),
        p99: q(0.99),
    }
}

/// Statistics of one agent's workflow.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub struct WorkflowStats {
    minutes: Ring<RunCounts>,
    hours: Ring<RunCounts>,
    sketches: Vec<(i64, Sketch)>,
}

impl Default for WorkflowStats {
    fn default() -> Self {
        Self::new()
    }
}

impl WorkflowStats {
    /// Minute buckets: the last hour, with slack.
    pub const MINUTES: usize = 65;
    /// Hour buckets: a week, with slack.
    pub const HOURS: usize = 7 * 24 + 2;

    /// Empty statistics.
    pub fn new() -> Self {
        Self {
            minutes: Ring::new(MINUTE_S, Self::MINUTES),
            hours: Ring::new(HOUR_S, Self::HOURS),
            sketches: Vec::new(),
        }
    }

    /// Counts a finished run at `t_s`.
    pub fn record_run<R: RunView + ?Sized>(&mut self, t_s: i64, run: &R) {
        let outcome = run.outcome();
        let counts = RunCounts {
            runs: 1,
            success: u32::from(outcome == Outcome::Success),
            escalated: u32::from(outcome == Outcome::Escalated),
            failed: u32::from(outcome == Outcome::Failed),
            timed_out: u32::from(outcome == Outcome::TimedOut),
            violating: u32::from(run.has_violations()),
            escalation_events: 0,
            cost_micros: micros(run.cost_usd()),
        };
        self.add(t_s, counts);
        self.record_latency(t_s, run.latency_ms() as f64);
    }

    /// Counts an escalation event at `t_s`.
    pub fn record_escalation(&mut self, t_s: i64) {
        self.add(
            t_s,
            RunCounts {
                escalation_events: 1,
                ..RunCounts::default()
            },
        );
    }

    fn add(&mut self, t_s: i64, counts: RunCounts) {
        if let Some(b) = self.minutes.at_mut(t_s) {
            *b += counts;
        }
        if let Some(b) = self.hours.at_mut(t_s) {
            *b += counts;
        }
    }

    fn record_latency(&mut self, t_s: i64, latency_ms: f64) {
        let slot = t_s.div_euclid(SKETCH_SLOT_S);
        // Newest last: the current slot is nearly always found first.
        if let Some((_, sketch)) = self.sketches.iter_mut().rev().find(|(s, _)| *s == slot) {
            sketch.add(latency_ms);
            return;
        }
        // Keep the slots of the last hour (plus the current one); an event
        // older than all of them is counted in the rings but not sketched.
        if self.sketches.len() > SKETCH_SLOTS_PER_HOUR {
            let (oldest, _) = self
                .sketches
                .iter()
                .enumerate()
                .min_by_key(|(_, (s, _))| *s)
                .map(|(i, (s, _))| (i, *s))
                .unwrap_or((0, i64::MIN));
            if self.sketches[oldest].0 > slot {
                return;
            }
            self.sketches.swap_remove(oldest);
        }
        let mut sketch = latency_sketch();
        sketch.add(latency_ms);
        self.sketches.push((slot, sketch));
    }

    /// Latency percentiles over the sketch slots of the last hour.
    pub fn latency(&self, now_s: i64) -> Percentiles {
        let current = now_s.div_euclid(SKETCH_SLOT_S);
        let first = current - SKETCH_SLOTS_PER_HOUR as i64 + 1;
        let mut merged = latency_sketch();
        for (slot, sketch) in &self.sketches {
            if (first..=current).contains(slot) {
                merged.merge(sketch);
            }
        }
        percentiles(&merged)
    }

    /// Run totals over the last `n` minutes.
    pub fn last_minutes(&self, now_s: i64, n: usize) -> RunTotals {
        let [t] = self.minutes.sums_last(now_s, [n]);
        t
    }

    /// Run totals over the 24 hour buckets before the current hour: the
    /// trailing baseline for drift.
    pub fn baseline_day(&self, now_s: i64) -> RunTotals {
        let [t] = self.hours.sums_last(now_s - HOUR_S, [24]);
        t
    }
}

/// Calls and errors of one bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct CallCounts {
    /// Calls.
    pub calls: u32,
    /// Failed calls.
    pub errors: u32,
}

impl AddAssign for CallCounts {
    fn add_assign(&mut self, r: Self) {
        self.calls = self.calls.saturating_add(r.calls);
        self.errors = self.errors.saturating_add(r.errors);
    }
}

/// Calls and errors over a window, 64-bit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CallTotals {
    /// Calls.
    pub calls: u64,
    /// Failed calls.
    pub errors: u64,
}

impl CallTotals {
    /// Error rate, none without calls.
    pub fn error_rate(&self) -> Option<f64> {
        (self.calls > 0).then(|| self.errors as f64 / self.calls as f64)
    }
}

impl AddAssign<CallCounts> for CallTotals {
    fn add_assign(&mut self, r: CallCounts) {
        self.calls += u64::from(r.calls);
        self.errors += u64::from(r.errors);
    }
}

/// Call statistics of one agent's tool.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ToolStats {
    minutes: Ring<CallCounts>,
    hours: Ring<CallCounts>,
}

impl Default for ToolStats {
    fn default() -> Self {
        Self::new()
    }
}

impl ToolStats {
    /// Empty statistics: an hour of minutes, a day of hours, with slack.
    pub fn new() -> Self {
        Self {
            minutes: Ring::new(MINUTE_S, 65),
            hours: Ring::new(HOUR_S, 26),
        }
    }

    /// Counts one call at `t_s`.
    pub fn record(&mut self, t_s: i64, status: ToolStatus) {
        let c = CallCounts {
            calls: 1,
            errors: u32::from(status == ToolStatus::Error),
        };
        if let Some(b) = self.minutes.at_mut(t_s) {
            *b += c;
        }
        if let Some(b) = self.hours.at_mut(t_s) {
            *b += c;
        }
    }

    /// Totals over the last `n` minutes.
    pub fn last_minutes(&self, now_s: i64, n: usize) -> CallTotals {
        let [t] = self.minutes.sums_last(now_s, [n]);
        t
    }

    /// Totals over the 24 hour buckets before the current hour.
    pub fn baseline_day(&self, now_s: i64) -> CallTotals {
        let [t] = self.hours.sums_last(now_s - HOUR_S, [24]);
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn micros_round_and_saturate() {
        assert_eq!(micros(0.0123456), 12_346);
        assert_eq!(micros(-1.0), 0);
        assert_eq!(micros(f64::NAN), 0);
        assert_eq!(micros(1e30), u64::MAX);
    }

    #[test]
    fn rates_by_hand() {
        let t = RunTotals {
            runs: 8,
            success: 4,
            escalated: 2,
            violating: 1,
            cost_micros: 2_000_000,
        };
        assert_eq!(t.escalation_rate(), Some(0.25));
        assert_eq!(t.violation_rate(), Some(0.125));
        // $2 over 4 successes.
        assert_eq!(t.cost_per_success_usd(), Some(0.5));
        assert_eq!(RunTotals::default().cost_per_success_usd(), None);
    }

    #[test]
    fn latency_sketch_keeps_only_the_last_hour() {
        let mut s = WorkflowStats::new();
        s.record_latency(0, 10_000.0);
        for i in 0..100 {
            s.record_latency(3_600 + i, 100.0);
        }
        // At t = 3,700 the slot of t = 0 is older than six slots back.
        let p = s.latency(3_700);
        let p50 = p.p50.unwrap();
        assert!((p50 - 100.0).abs() <= 1.0, "{p50}");
        assert!((p.p99.unwrap() - 100.0).abs() <= 1.0);
        assert!(s.sketches.len() <= SKETCH_SLOTS_PER_HOUR + 1);
    }
}
