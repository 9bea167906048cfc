//! Drift detectors: escalation rate against its trailing baseline, and
//! tool error-rate spikes. Each fires above one threshold and clears below a
//! lower one, so a rate hovering at the edge does not flap.

use super::stats::{CallTotals, RunTotals};

/// Runs needed in the last hour before escalation drift is judged.
pub const ESCALATION_MIN_RUNS: u64 = 30;
/// Escalation drift fires at this multiple of the baseline …
pub const ESCALATION_FIRE_RATIO: f64 = 2.0;
/// … and at least this many percentage points above it.
pub const ESCALATION_FIRE_DELTA: f64 = 0.05;
/// It clears below this multiple …
pub const ESCALATION_CLEAR_RATIO: f64 = 1.5;
/// … or this many points above the baseline.
pub const ESCALATION_CLEAR_DELTA: f64 = 0.025;

/// Calls needed in the spike window before a tool spike is judged.
pub const TOOL_MIN_CALLS: u64 = 20;
/// Minutes in the tool spike window.
pub const TOOL_WINDOW_MIN: usize = 15;
/// A tool spike fires this far above the baseline error rate …
pub const TOOL_FIRE_DELTA: f64 = 0.2;
/// … and at this multiple of it.
pub const TOOL_FIRE_RATIO: f64 = 3.0;
/// It clears below this distance above the baseline …
pub const TOOL_CLEAR_DELTA: f64 = 0.1;
/// … or below this multiple.
pub const TOOL_CLEAR_RATIO: f64 = 2.0;

/// Whether escalation drift is active, given whether it was. Without a
/// baseline (a new agent) the baseline is taken as zero.
pub fn escalation_drift(recent: &RunTotals, baseline: &RunTotals, was_active: bool) -> bool {
    let Some(rate) = recent.escalation_rate() else {
        return false;
    };
    let base = baseline.escalation_rate().unwrap_or(0.0);
    if was_active {
        rate >= base * ESCALATION_CLEAR_RATIO && rate - base >= ESCALATION_CLEAR_DELTA
    } else {
        recent.runs >= ESCALATION_MIN_RUNS
            && rate >= base * ESCALATION_FIRE_RATIO
            && rate - base >= ESCALATION_FIRE_DELTA
    }
}

/// Whether a tool error spike is active, given whether it was.
pub fn tool_spike(recent: &CallTotals, baseline: &CallTotals, was_active: bool) -> bool {
    let Some(rate) = recent.error_rate() else {
        return false;
    };
    let base = baseline.error_rate().unwrap_or(0.0);
    if was_active {
        rate - base >= TOOL_CLEAR_DELTA && rate >= base * TOOL_CLEAR_RATIO
    } else {
        recent.calls >= TOOL_MIN_CALLS
            && rate - base >= TOOL_FIRE_DELTA
            && rate >= base * TOOL_FIRE_RATIO
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runs(runs: u64, escalated: u64) -> RunTotals {
        RunTotals {
            runs,
            escalated,
            ..RunTotals::default()
        }
    }

    #[test]
    fn escalation_drift_fires_and_clears_with_hysteresis() {
        let baseline = runs(1000, 50); // 5 %
        assert!(!escalation_drift(&runs(100, 9), &baseline, false)); // 9 %: under 2×
        assert!(escalation_drift(&runs(100, 12), &baseline, false)); // 12 %: 2.4× and +7 pp
        assert!(escalation_drift(&runs(100, 8), &baseline, true)); // 8 %: stays (1.6×, +3 pp)
        assert!(!escalation_drift(&runs(100, 7), &baseline, true)); // 7 %: clears (1.4×)
        assert!(!escalation_drift(&runs(10, 10), &baseline, false)); // too few runs
    }

    #[test]
    fn tool_spike_needs_volume_and_distance() {
        let calls = |calls, errors| CallTotals { calls, errors };
        let baseline = calls(1000, 10); // 1 %
        assert!(tool_spike(&calls(100, 30), &baseline, false)); // 30 %
        assert!(!tool_spike(&calls(100, 15), &baseline, false)); // 15 %: < +20 pp
        assert!(!tool_spike(&calls(10, 10), &baseline, false)); // too few calls
        assert!(tool_spike(&calls(100, 12), &baseline, true)); // stays above +10 pp
        assert!(!tool_spike(&calls(100, 5), &baseline, true)); // clears
        // No baseline at all: judged against zero.
        assert!(tool_spike(&calls(40, 40), &CallTotals::default(), false));
    }
}
