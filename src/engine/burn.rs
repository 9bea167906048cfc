//! Burn rates and the multi-window, multi-burn-rate alert rules of the SRE
//! Workbook (as Sloth generates them).

use crate::model::slo::{AlertLevel, BurnRates};

/// Good and total event counts over a window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct Counts {
    /// Good events.
    pub good: u64,
    /// All events.
    pub total: u64,
}

impl Counts {
    /// Bad events.
    pub fn bad(&self) -> u64 {
        self.total.saturating_sub(self.good)
    }

    /// Good ratio, none without events.
    pub fn ratio(&self) -> Option<f64> {
        (self.total > 0).then(|| self.good as f64 / self.total as f64)
    }
}

/// Burn rate: the bad ratio divided by the error budget `1 − objective`.
/// Zero without events.
pub fn burn_rate(counts: Counts, objective: f64) -> f64 {
    if counts.total == 0 {
        return 0.0;
    }
    let budget = 1.0 - objective;
    (counts.bad() as f64 / counts.total as f64) / budget
}

/// Counts over each standard window, as the alert rules need them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WindowCounts {
    /// 5 minutes.
    pub m5: Counts,
    /// 30 minutes.
    pub m30: Counts,
    /// 1 hour.
    pub h1: Counts,
    /// 2 hours.
    pub h2: Counts,
    /// 6 hours.
    pub h6: Counts,
    /// 1 day.
    pub d1: Counts,
    /// 3 days.
    pub d3: Counts,
}

impl WindowCounts {
    /// The burn rate over each window.
    pub fn burn_rates(&self, objective: f64) -> BurnRates {
        BurnRates {
            m5: burn_rate(self.m5, objective),
            m30: burn_rate(self.m30, objective),
            h1: burn_rate(self.h1, objective),
            h2: burn_rate(self.h2, objective),
            h6: burn_rate(self.h6, objective),
            d1: burn_rate(self.d1, objective),
            d3: burn_rate(self.d3, objective),
        }
    }
}

/// Page threshold for the 1 h / 5 m pair (2 % of a 30-day budget in 1 h).
pub const PAGE_FAST: f64 = 14.4;
/// Page threshold for the 6 h / 30 m pair (5 % of the budget in 6 h).
pub const PAGE_SLOW: f64 = 6.0;
/// Ticket threshold for the 1 d / 2 h pair (10 % of the budget in 1 d).
pub const TICKET_FAST: f64 = 3.0;
/// Ticket threshold for the 3 d / 6 h pair (10 % of the budget in 3 d).
pub const TICKET_SLOW: f64 = 1.0;

/// The alert level the rules give. A rule fires when both its long and its
/// short window burn faster than its threshold and the long window holds at
/// least `min_events` events; it clears as soon as either drops back, which
/// the short window makes quick.
pub fn alert_level(windows: &WindowCounts, objective: f64, min_events: u64) -> AlertLevel {
    let b = windows.burn_rates(objective);
    let rule = |long: f64, long_counts: Counts, short: f64, threshold: f64| {
        long > threshold && short > threshold && long_counts.total >= min_events
    };
    if rule(b.h1, windows.h1, b.m5, PAGE_FAST) || rule(b.h6, windows.h6, b.m30, PAGE_SLOW) {
        AlertLevel::Page
    } else if rule(b.d1, windows.d1, b.h2, TICKET_FAST) || rule(b.d3, windows.d3, b.h6, TICKET_SLOW)
    {
        AlertLevel::Ticket
    } else {
        AlertLevel::None
    }
}

/// Error budget left over the window: `1 − bad / ((1 − objective) × total)`.
/// 1.0 without events; negative when overspent.
pub fn budget_remaining(window: Counts, objective: f64) -> f64 {
    if window.total == 0 {
        return 1.0;
    }
    let allowed = (1.0 - objective) * window.total as f64;
    1.0 - window.bad() as f64 / allowed
}

/// Seconds until the budget is spent if the 1 h burn rate holds. A burn rate
/// of 1 spends the whole budget over the whole window, so the remaining
/// fraction lasts `remaining × window / burn`. None when nothing burns; zero
/// when the budget is already spent.
pub fn exhaustion_s(remaining: f64, burn_1h: f64, window_s: u64) -> Option<u64> {
    if remaining <= 0.0 {
        return Some(0);
    }
    if burn_1h <= 0.0 {
        return None;
    }
    Some((remaining * window_s as f64 / burn_1h).round() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(good: u64, total: u64) -> Counts {
        Counts { good, total }
    }

    #[test]
    fn burn_rate_by_hand() {
        // 10 bad of 100 against a 0.95 objective: 0.10 / 0.05 = 2.
        assert!((burn_rate(c(90, 100), 0.95) - 2.0).abs() < 1e-12);
        // Exactly on budget burns at 1.
        assert!((burn_rate(c(999, 1000), 0.999) - 1.0).abs() < 1e-9);
        assert_eq!(burn_rate(c(0, 0), 0.95), 0.0);
        // All bad at 0.99: 1 / 0.01 = 100.
        assert!((burn_rate(c(0, 7), 0.99) - 100.0).abs() < 1e-9);
    }

    #[test]
    fn budget_and_exhaustion_by_hand() {
        // 1000 events at 0.99 allow 10 bad; 4 bad leave 60 %.
        assert!((budget_remaining(c(996, 1000), 0.99) - 0.6).abs() < 1e-12);
        // 20 bad overspend by 100 %.
        assert!((budget_remaining(c(980, 1000), 0.99) + 1.0).abs() < 1e-12);
        assert_eq!(budget_remaining(c(0, 0), 0.99), 1.0);
        // 60 % left of a 30-day window at burn 14.4: 0.6 × 2,592,000 / 14.4 = 108,000 s.
        assert_eq!(exhaustion_s(0.6, 14.4, 30 * 86_400), Some(108_000));
        assert_eq!(exhaustion_s(0.6, 0.0, 30 * 86_400), None);
        assert_eq!(exhaustion_s(-0.1, 3.0, 30 * 86_400), Some(0));
    }

    fn windows(all: Counts) -> WindowCounts {
        WindowCounts {
            m5: all,
            m30: all,
            h1: all,
            h2: all,
            h6: all,
            d1: all,
            d3: all,
        }
    }

    #[test]
    fn fast_burn_pages() {
        // 20 % bad at 0.99 is burn 20 everywhere: page.
        let w = windows(c(800, 1000));
        assert_eq!(alert_level(&w, 0.99, 20), AlertLevel::Page);
    }

    #[test]
    fn page_needs_both_windows() {
        // 1 h burns at 20 but the last 5 minutes are clean: the page clears.
        let mut w = windows(c(800, 1000));
        w.m5 = c(100, 100);
        w.m30 = c(100, 100);
        assert_ne!(alert_level(&w, 0.99, 20), AlertLevel::Page);
    }

    #[test]
    fn slow_pair_pages_at_six() {
        // Burn 7 on 6 h and 30 m, 1 h pair below 14.4: page by the slow rule.
        let mut w = windows(c(930, 1000));
        w.h1 = c(930, 1000);
        assert_eq!(alert_level(&w, 0.99, 20), AlertLevel::Page);
        // Burn 5: no page; 1 d and 2 h above 3: ticket.
        let w = windows(c(950, 1000));
        assert_eq!(alert_level(&w, 0.99, 20), AlertLevel::Ticket);
    }

    #[test]
    fn slow_leak_tickets() {
        // Burn 1.5 on 3 d and 6 h, under 3 on 1 d: ticket by the 3 d rule.
        let w = windows(c(985, 1000));
        assert_eq!(alert_level(&w, 0.99, 20), AlertLevel::Ticket);
        // Burn 0.5: nothing.
        let w = windows(c(995, 1000));
        assert_eq!(alert_level(&w, 0.99, 20), AlertLevel::None);
    }

    #[test]
    fn the_traffic_floor_keeps_quiet_nights_quiet() {
        // Two failures out of three runs: burn 13.3 at 0.95, 66.7 at 0.99.
        let w = windows(c(1, 3));
        assert_eq!(alert_level(&w, 0.99, 20), AlertLevel::None);
        assert_eq!(alert_level(&w, 0.99, 3), AlertLevel::Page);
    }
}
