//! What the drill-down keeps per agent, compactly: the memory of 1,000
//! agents is the sum of these, so each type says what it costs.

use std::collections::{HashMap, VecDeque};
use std::ops::AddAssign;
use std::sync::Arc;

use crate::engine::ring::Ring;
use crate::engine::sketch::Sketch;
use crate::model::envelope::{Outcome, Versions};

/// Runs kept in each "slowest" and "costliest" list, per bucket, and
/// answered for the window: the window's top runs are exactly these.
pub const TOP_RUNS: usize = 10;
/// Width of a top-list bucket: 3 hours.
pub const TOP_BUCKET_S: i64 = 3 * 3_600;
/// Top-list buckets: the current one and the 7 before it (21 to 24 hours).
pub const TOP_BUCKETS: usize = 8;
/// Names one agent may have in its table; later ones show as `…`.
const MAX_NAMES: usize = 1024;

/// Run counters of one bucket: 24 bytes (the engine's `RunCounts` carries
/// counters the drill-down never reads).
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Tally {
    pub runs: u32,
    pub success: u32,
    pub escalated: u32,
    /// Failed or timed out.
    pub bad: u32,
    /// Cost, micro-dollars.
    pub cost_micros: u64,
}

impl AddAssign for Tally {
    fn add_assign(&mut self, r: Self) {
        self.runs = self.runs.saturating_add(r.runs);
        self.success = self.success.saturating_add(r.success);
        self.escalated = self.escalated.saturating_add(r.escalated);
        self.bad = self.bad.saturating_add(r.bad);
        self.cost_micros = self.cost_micros.saturating_add(r.cost_micros);
    }
}

/// A ring of latency sketches, created only for buckets that get a run.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub struct SketchRing {
    width_s: i64,
    slots: Vec<Option<(i64, Sketch)>>,
}

impl SketchRing {
    pub fn new(width_s: i64, len: usize) -> Self {
        Self {
            width_s,
            slots: vec![None; len],
        }
    }

    pub fn record(&mut self, t_s: i64, latency_ms: f64) {
        let bucket = t_s.div_euclid(self.width_s);
        let index = bucket.rem_euclid(self.slots.len() as i64) as usize;
        match &mut self.slots[index] {
            Some((b, sketch)) if *b == bucket => sketch.add(latency_ms),
            Some((b, _)) if *b > bucket => {} // older than the ring remembers
            slot => {
                let mut sketch = Sketch::new();
                sketch.add(latency_ms);
                *slot = Some((bucket, sketch));
                // A new bucket: the others are complete, so their spare
                // capacity is given back.
                for (_, s) in self.slots.iter_mut().flatten() {
                    s.shrink();
                }
            }
        }
    }

    /// The merged sketch of the last `slots.len()` buckets up to `now_s`.
    pub fn merged(&self, now_s: i64) -> Sketch {
        let last = now_s.div_euclid(self.width_s);
        let first = last - self.slots.len() as i64 + 1;
        let mut out = Sketch::new();
        for (b, sketch) in self.slots.iter().flatten() {
            if (first..=last).contains(b) {
                out.merge(sketch);
            }
        }
        out
    }

    pub fn first_bucket_start(&self, now_s: i64) -> i64 {
        (now_s.div_euclid(self.width_s) - self.slots.len() as i64 + 1) * self.width_s
    }
}

/// Workflow and tool names of one agent, each stored once.
#[derive(Clone, Default, serde::Deserialize)]
#[serde(from = "Vec<Box<str>>")]
pub struct Names {
    list: Vec<Box<str>>,
    index: HashMap<Box<str>, u16>,
}

// A snapshot keeps the list; the index is rebuilt from it.
impl serde::Serialize for Names {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.list.serialize(serializer)
    }
}

impl From<Vec<Box<str>>> for Names {
    fn from(list: Vec<Box<str>>) -> Self {
        // Positions are what samples refer to, so they are kept as stored.
        let mut names = Self::default();
        for (i, name) in list.into_iter().take(MAX_NAMES).enumerate() {
            names.index.insert(name.clone(), i as u16);
            names.list.push(name);
        }
        names
    }
}

impl Names {
    pub fn intern(&mut self, name: &str) -> u16 {
        if let Some(i) = self.index.get(name) {
            return *i;
        }
        if self.list.len() >= MAX_NAMES {
            return u16::MAX;
        }
        let i = self.list.len() as u16;
        self.list.push(name.into());
        self.index.insert(name.into(), i);
        i
    }

    pub fn get(&self, i: u16) -> String {
        self.list
            .get(usize::from(i))
            .map_or_else(|| "…".to_string(), |n| n.to_string())
    }
}

/// A run kept in a top list: names are indices into the agent's [`Names`]
/// (56 bytes and the run id).
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub struct Sample {
    pub run_id: Box<str>,
    pub ts_s: i64,
    pub latency_ms: u64,
    pub cost_usd: f64,
    pub workflow: u16,
    pub outcome: Outcome,
    /// The slowest tool call: (tool name, latency, saturating).
    pub dominant: Option<(u16, u32)>,
}

/// The slowest and costliest runs of one bucket.
#[derive(Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct TopBucket {
    pub bucket: i64,
    pub slowest: Vec<Sample>,
    pub costliest: Vec<Sample>,
}

/// Inserts `sample` into `list`, kept sorted largest first by `key` and at
/// most [`TOP_RUNS`] long, without growing past that capacity.
pub fn keep_top<T: Clone>(list: &mut Vec<T>, sample: &T, key: impl Fn(&T) -> f64) {
    let k = key(sample);
    if list.len() == TOP_RUNS {
        if list.last().is_some_and(|last| key(last) >= k) {
            return;
        }
        list.pop();
    }
    if list.capacity() == 0 {
        list.reserve_exact(TOP_RUNS);
    }
    let at = list.partition_point(|s| key(s) >= k);
    list.insert(at, sample.clone());
}

/// A failed, timed-out or escalated run: names are indices, and the error
/// and versions are shared with the failure before when they are the same
/// (they usually are), so 50 of them cost about 5 KiB.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub struct Failure {
    pub run_id: Box<str>,
    pub ts_s: i64,
    pub latency_ms: u64,
    pub workflow: u16,
    pub tool: Option<u16>,
    pub outcome: Outcome,
    pub error: Option<Arc<str>>,
    #[serde(with = "crate::engine::as_json")]
    pub versions: Arc<Versions>,
}

/// The last failures of an agent, oldest first.
#[derive(Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Failures {
    pub list: VecDeque<Failure>,
}

impl Failures {
    /// `error` as the newest failure holds it, when it is the same text.
    pub fn share_error(&self, error: &str) -> Arc<str> {
        match self.list.back().and_then(|f| f.error.as_ref()) {
            Some(e) if &**e == error => e.clone(),
            _ => error.into(),
        }
    }

    /// `versions` as the newest failure holds them, when they are the same.
    pub fn share_versions(&self, versions: &Versions) -> Arc<Versions> {
        match self.list.back() {
            Some(f) if *f.versions == *versions => f.versions.clone(),
            _ => Arc::new(versions.clone()),
        }
    }

    /// Adds `failure`, dropping the oldest past `keep`.
    pub fn push(&mut self, failure: Failure, keep: usize) {
        if self.list.len() >= keep {
            self.list.pop_front();
        }
        self.list.push_back(failure);
    }
}

/// Tool calls and errors of one bucket.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Calls {
    pub calls: u32,
    pub errors: u32,
}

impl AddAssign for Calls {
    fn add_assign(&mut self, r: Self) {
        self.calls = self.calls.saturating_add(r.calls);
        self.errors = self.errors.saturating_add(r.errors);
    }
}

/// One tool's calls over the last hour and day.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub struct ToolSamples {
    pub fine: Ring<Calls>,
    pub hours: Ring<Calls>,
    pub last_error: Option<Box<str>>,
}
