//! Helpers the benchmarks share: a deterministic generator, the synthetic
//! fleet's names, environment knobs, CPU clocks and how a verdict prints.
//! Each bench uses a part of it.
#![allow(dead_code)]

use std::time::Duration;

/// The synthetic fleet's agents.
pub const AGENTS: [&str; 10] = [
    "refund-bot",
    "triage-bot",
    "billing-bot",
    "kyc-bot",
    "returns-bot",
    "support-bot",
    "fraud-bot",
    "scheduling-bot",
    "search-bot",
    "onboarding-bot",
];

/// Their workflows.
pub const WORKFLOWS: [&str; 5] = ["refund", "lookup", "classify", "summarize", "follow-up"];

/// The tools the hub and TUI benches' runs call.
pub const TOOLS: [&str; 8] = [
    "crm.lookup",
    "orders.get",
    "payments.refund",
    "kb.search",
    "email.send",
    "tickets.update",
    "identity.verify",
    "calendar.book",
];

/// The models their runs report.
pub const MODELS: [&str; 3] = ["gpt-4o-2024-08-06", "claude-sonnet-4-5", "gemini-2.5-pro"];

/// SplitMix64: small, fast, deterministic, so runs are repeatable.
pub struct Rng(pub u64);

impl Rng {
    /// The next 64 random bits.
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// In 0..n, by remainder (the hub and TUI benches' traffic).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    /// In 0..n, by multiply and shift, without the remainder's bias (the
    /// engine bench's traffic).
    pub fn below_fair(&mut self, n: u64) -> u64 {
        ((u128::from(self.next()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in [lo, hi).
    pub fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }

    /// Standard normal (Box–Muller, one value per call).
    pub fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.unit(); // (0, 1]
        let u2 = self.unit();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// Log-normal with the given median and shape.
    pub fn log_normal(&mut self, median: f64, sigma: f64) -> f64 {
        median * (sigma * self.normal()).exp()
    }
}

/// A whole number from the environment (`_` separators allowed), or
/// `default` when unset; a value that is not a number stops the bench
/// naming the variable.
pub fn env_u64(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) => v
            .trim()
            .replace('_', "")
            .parse()
            .unwrap_or_else(|_| panic!("{name} must be a whole number, got {v:?}")),
        Err(_) => default,
    }
}

/// "met" or "MISSED", for the verdict lines.
pub fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "MISSED" }
}

/// Milliseconds.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// CPU time of this process, user and system, from `/proc/self/stat`.
pub fn cpu_time() -> Duration {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return Duration::ZERO;
    };
    // Fields after the `(comm)`: state is field 3, utime 14, stime 15.
    let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
        return Duration::ZERO;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i).and_then(|f| f.parse::<u64>().ok()))
        .sum();
    // USER_HZ is 100 on every Linux this runs on.
    Duration::from_millis(ticks * 10)
}

/// CPU time the whole machine spent busy, from `/proc/stat`.
pub fn machine_cpu_time() -> Duration {
    let Ok(stat) = std::fs::read_to_string("/proc/stat") else {
        return Duration::ZERO;
    };
    let Some(line) = stat.lines().next() else {
        return Duration::ZERO;
    };
    let f: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    let busy: u64 = [0, 1, 2, 5, 6, 7].iter().filter_map(|&i| f.get(i)).sum();
    Duration::from_millis(busy * 10)
}
