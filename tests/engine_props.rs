//! Properties of the engine checked against slow, obviously-correct twins.

use agentdeck::engine::burn::{self, Counts};
use agentdeck::engine::series::{HOUR_S, MINUTE_S, SloSeries};
use agentdeck::engine::spec::parse_specs;
use agentdeck::engine::stats::{LATENCY_RELATIVE_ERROR, latency_sketch};
use proptest::prelude::*;

/// The naive twin of a bucketed window: count the raw events whose bucket
/// is one of the last `n` buckets up to the one holding `now_s`.
fn naive(events: &[(i64, bool)], now_s: i64, width_s: i64, n: i64) -> Counts {
    let last = now_s.div_euclid(width_s);
    let mut c = Counts::default();
    for &(t, good) in events {
        let b = t.div_euclid(width_s);
        if b > last - n && b <= last {
            c.total += 1;
            c.good += u64::from(good);
        }
    }
    c
}

fn series() -> SloSeries {
    let specs = parse_specs(
        "t",
        "[[slo]]\nname = \"c\"\nsli = \"completion\"\nobjective = 0.99\nwindow_days = 7\n",
    )
    .unwrap();
    SloSeries::new(0, &specs[0], "a", "w")
}

const BASE: i64 = 1_800_000_000;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Every window of the bucketed series equals a recount over the raw
    /// events, in any arrival order, including events older than the ring.
    #[test]
    fn bucketed_windows_match_a_naive_recount(
        offsets in proptest::collection::vec((0i64..9 * 86_400, any::<bool>()), 0..400),
        slack in 0i64..600,
    ) {
        let events: Vec<(i64, bool)> = offsets.iter().map(|&(o, g)| (BASE + o, g)).collect();
        let now = events.iter().map(|e| e.0).max().unwrap_or(BASE) + slack;
        let mut s = series();
        for &(t, good) in &events {
            s.record(t, good);
        }
        let w = s.windows(now);
        prop_assert_eq!(w.m5, naive(&events, now, MINUTE_S, 5));
        prop_assert_eq!(w.m30, naive(&events, now, MINUTE_S, 30));
        prop_assert_eq!(w.h1, naive(&events, now, MINUTE_S, 60));
        prop_assert_eq!(w.h2, naive(&events, now, MINUTE_S, 120));
        prop_assert_eq!(w.h6, naive(&events, now, MINUTE_S, 360));
        prop_assert_eq!(w.d1, naive(&events, now, HOUR_S, 24));
        prop_assert_eq!(w.d3, naive(&events, now, HOUR_S, 72));
        prop_assert_eq!(s.window_total(now, 7), naive(&events, now, HOUR_S, 7 * 24));
    }

    /// Dense traffic in a short span (many events per bucket) also matches.
    #[test]
    fn dense_windows_match_a_naive_recount(
        offsets in proptest::collection::vec((0i64..7_200, any::<bool>()), 0..2_000),
    ) {
        let events: Vec<(i64, bool)> = offsets.iter().map(|&(o, g)| (BASE + o, g)).collect();
        let now = BASE + 7_200;
        let mut s = series();
        for &(t, good) in &events {
            s.record(t, good);
        }
        let w = s.windows(now);
        prop_assert_eq!(w.m5, naive(&events, now, MINUTE_S, 5));
        prop_assert_eq!(w.h1, naive(&events, now, MINUTE_S, 60));
        prop_assert_eq!(w.h2, naive(&events, now, MINUTE_S, 120));
    }

    /// Sketch percentiles are within the stated relative error of the
    /// sample at the same rank in an exact sort.
    #[test]
    fn sketch_percentiles_within_stated_error(
        samples in proptest::collection::vec(1.0f64..1_000_000.0, 1..3_000),
        q in prop::sample::select(vec![0.5, 0.9, 0.95, 0.99, 0.999]),
    ) {
        let mut sketch = latency_sketch();
        for &v in &samples {
            sketch.add(v);
        }
        let mut sorted = samples.clone();
        sorted.sort_by(f64::total_cmp);
        let exact = sorted[(q * (sorted.len() as f64 - 1.0)) as usize];
        let got = sketch.quantile(q).unwrap();
        let error = (got - exact).abs() / exact;
        prop_assert!(
            error <= LATENCY_RELATIVE_ERROR + 1e-9,
            "q={} exact={} got={} error={}", q, exact, got, error
        );
    }

    /// A constant error rate burns at rate / (1 − objective) on every window.
    #[test]
    fn constant_error_rate_burns_at_rate_over_budget(
        per_minute in 1u32..50,
        bad_share in 0u32..=100,
        objective_milli in 500u32..999,
    ) {
        let bad = per_minute * bad_share / 100;
        let objective = f64::from(objective_milli) / 1000.0;
        let mut s = series();
        // Four days of identical minutes, so even the 3-day window is full.
        let minutes = 4 * 24 * 60;
        let start = BASE - BASE.rem_euclid(60);
        for m in 0..minutes {
            for i in 0..per_minute {
                s.record(start + m * 60 + i64::from(i % 60), i >= bad);
            }
        }
        let now = start + minutes * 60 - 1;
        let expected = (f64::from(bad) / f64::from(per_minute)) / (1.0 - objective);
        let b = s.windows(now).burn_rates(objective);
        for (name, got) in [("5m", b.m5), ("30m", b.m30), ("1h", b.h1), ("2h", b.h2), ("6h", b.h6), ("1d", b.d1), ("3d", b.d3)] {
            prop_assert!((got - expected).abs() <= 1e-9 * expected.max(1.0), "{}: {} vs {}", name, got, expected);
        }
    }

    /// Budget remaining and burn rate agree: spending at burn 1 over the
    /// whole window leaves exactly nothing.
    #[test]
    fn budget_and_burn_agree(total in 1u64..1_000_000, objective_milli in 500u32..999) {
        let objective = f64::from(objective_milli) / 1000.0;
        let bad = ((1.0 - objective) * total as f64).floor() as u64;
        let c = Counts { good: total - bad, total };
        let burn = burn::burn_rate(c, objective);
        let remaining = burn::budget_remaining(c, objective);
        prop_assert!((remaining - (1.0 - burn)).abs() < 1e-9, "{} vs {}", remaining, burn);
    }
}
