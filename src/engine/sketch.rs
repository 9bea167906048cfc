//! A latency sketch: percentiles within a stated relative error, in a few
//! hundred bytes.
//!
//! The mapping is DDSketch's (logarithmic buckets of ratio
//! γ = (1 + α) / (1 − α), each answered by the value within α of every
//! value in it), but the bins are stored sparse: sorted `(key, count)`
//! pairs for the buckets that hold a value, nothing for the rest. A
//! DDSketch store is dense and grows in chunks of 128 eight-byte bins, so
//! an hour of one agent's runs (a handful of buckets) cost at least 1 KiB;
//! the drill-down keeps 37 sketches an agent, the engine 7 per workflow.
//! Here a sketch costs 8 bytes per bucket in use. Keys are bounded (values
//! from [`MIN_VALUE`] to `u64::MAX` map to about 2,200 keys at 1 %), so a
//! sketch never exceeds about 18 KiB whatever it is fed.

/// Values at or below this (milliseconds) count as zero.
pub const MIN_VALUE: f64 = 1e-3;

/// A sketch of non-negative values (latencies in milliseconds).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Sketch {
    /// `(key, count)`, sorted by key, counts > 0.
    bins: Vec<(i16, u32)>,
    /// Values at or below [`MIN_VALUE`].
    zeros: u64,
    count: u64,
    min: f64,
    max: f64,
}

/// The bucket mapping for one relative error.
#[derive(Debug, Clone, Copy)]
struct Mapping {
    gamma_ln: f64,
    /// The value a bucket answers with, over γ^key: 2 / (1 + γ).
    mid: f64,
}

impl Mapping {
    const fn of(gamma_ln: f64, mid: f64) -> Self {
        Self { gamma_ln, mid }
    }

    fn key(&self, v: f64) -> i16 {
        // Bucket `k` holds (γ^(k−1), γ^k]; saturating casts bound hostile
        // values (infinity) to the last key.
        (v.ln() / self.gamma_ln).ceil() as i16
    }

    fn value(&self, key: i16) -> f64 {
        (f64::from(key) * self.gamma_ln).exp() * self.mid
    }
}

/// 1 % relative error: γ = 1.01 / 0.99.
const ONE_PERCENT: Mapping = Mapping::of(0.020_000_666_706_669_6, 0.990_000_000_000_000_1);

impl Default for Sketch {
    fn default() -> Self {
        Self::new()
    }
}

impl Sketch {
    /// An empty sketch at 1 % relative error.
    pub fn new() -> Self {
        Self {
            bins: Vec::new(),
            zeros: 0,
            count: 0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
        }
    }

    /// Values added.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Adds one value; NaN and negative values are ignored.
    pub fn add(&mut self, v: f64) {
        if v.is_nan() || v < 0.0 {
            return;
        }
        self.count += 1;
        self.min = self.min.min(v);
        self.max = self.max.max(v);
        if v <= MIN_VALUE {
            self.zeros += 1;
            return;
        }
        self.add_key(ONE_PERCENT.key(v), 1);
    }

    fn add_key(&mut self, key: i16, n: u32) {
        match self.bins.binary_search_by_key(&key, |(k, _)| *k) {
            Ok(i) => self.bins[i].1 = self.bins[i].1.saturating_add(n),
            Err(i) => self.bins.insert(i, (key, n)),
        }
    }

    /// Adds every value of `other`.
    pub fn merge(&mut self, other: &Sketch) {
        if other.count == 0 {
            return;
        }
        self.count += other.count;
        self.zeros += other.zeros;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        if self.bins.is_empty() {
            self.bins.clone_from(&other.bins);
            return;
        }
        let mut merged = Vec::with_capacity(self.bins.len() + other.bins.len());
        let (mine, theirs) = (&self.bins, &other.bins);
        let (mut i, mut j) = (0, 0);
        while i < mine.len() && j < theirs.len() {
            let (x, y) = (mine[i], theirs[j]);
            if x.0 == y.0 {
                merged.push((x.0, x.1.saturating_add(y.1)));
                i += 1;
                j += 1;
            } else if x.0 < y.0 {
                merged.push(x);
                i += 1;
            } else {
                merged.push(y);
                j += 1;
            }
        }
        merged.extend_from_slice(&mine[i..]);
        merged.extend_from_slice(&theirs[j..]);
        self.bins = merged;
    }

    /// The `q` quantile (0 to 1), within 1 % of a value at rank
    /// ⌊q × (count − 1)⌋; the exact minimum and maximum at 0 and 1. None
    /// when empty.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        if self.count == 0 || !(0.0..=1.0).contains(&q) {
            return None;
        }
        if q == 0.0 {
            return Some(self.min);
        }
        if q == 1.0 {
            return Some(self.max);
        }
        let rank = (q * (self.count - 1) as f64) as u64;
        if rank < self.zeros {
            return Some(0.0);
        }
        let mut seen = self.zeros;
        for &(key, n) in &self.bins {
            seen += u64::from(n);
            if seen > rank {
                // Within the sketch's error, but never outside what was seen.
                return Some(ONE_PERCENT.value(key).clamp(self.min, self.max));
            }
        }
        Some(self.max)
    }

    /// Gives back spare capacity (for a sketch that is complete).
    pub fn shrink(&mut self) {
        self.bins.shrink_to_fit();
    }

    /// Heap bytes held (for the memory benchmarks).
    pub fn heap_bytes(&self) -> usize {
        self.bins.capacity() * std::mem::size_of::<(i16, u32)>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_mapping_constants_are_those_of_one_percent() {
        let gamma: f64 = 1.01 / 0.99;
        assert!((ONE_PERCENT.gamma_ln - gamma.ln()).abs() < 1e-15);
        assert!((ONE_PERCENT.mid - 2.0 / (1.0 + gamma)).abs() < 1e-15);
    }

    #[test]
    fn an_empty_sketch_has_no_quantiles() {
        assert_eq!(Sketch::new().quantile(0.5), None);
    }

    #[test]
    fn zeros_and_extremes_are_kept() {
        let mut s = Sketch::new();
        for v in [0.0, 0.0, 5.0, f64::INFINITY, f64::NAN, -3.0] {
            s.add(v);
        }
        assert_eq!(s.count(), 4);
        assert_eq!(s.quantile(0.0), Some(0.0));
        assert_eq!(s.quantile(0.3), Some(0.0));
        assert_eq!(s.quantile(1.0), Some(f64::INFINITY));
    }

    proptest! {
        /// Every quantile is within 1 % of the value at its rank, merged
        /// or not, like DDSketch's.
        #[test]
        fn quantiles_are_within_one_percent(
            mut values in proptest::collection::vec(1u64..10_000_000, 1..400),
            split in 0usize..400,
            q in 0.0f64..=1.0,
        ) {
            let split = split.min(values.len());
            let (mut a, mut b) = (Sketch::new(), Sketch::new());
            for v in &values[..split] { a.add(*v as f64); }
            for v in &values[split..] { b.add(*v as f64); }
            a.merge(&b);
            let mut whole = Sketch::new();
            for v in &values { whole.add(*v as f64); }
            prop_assert_eq!(&a, &whole);
            values.sort_unstable();
            let rank = (q * (values.len() - 1) as f64) as usize;
            let want = values[rank] as f64;
            let got = whole.quantile(q).unwrap();
            prop_assert!((got - want).abs() <= want * 0.010_001 + 1e-9, "q {} got {} want {}", q, got, want);
        }
    }
}
