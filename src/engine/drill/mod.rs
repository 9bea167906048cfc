//! Per-agent samples for drill-down: latency and outcomes over the last
//! hour, day and week, cost against a week ago, the slowest and costliest
//! runs of the last day, the last failed runs and tool error rates.
//!
//! Everything is kept in fixed rings and fixed-size lists per agent, never
//! every run, so memory is bounded by the number of agents and tools.
//! Windows are bucket-aligned like the SLO windows: a window of `n`
//! buckets covers the current partial bucket and the `n − 1` before it.

mod samples;

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use crate::model::drill::{
    CallRate, CostComparison, Dominant, FailedRun, Performance, RatioWindow, RunSample, ToolRate,
    WindowStats,
};
use crate::model::envelope::{Envelope, Event, Outcome, RunFinished, ToolStatus};

use super::ring::Ring;
use super::stats::percentiles;

use samples::{
    Calls, Failure, Failures, Names, Sample, SketchRing, Tally, ToolSamples, TopBucket, keep_top,
};
pub use samples::{TOP_BUCKET_S, TOP_BUCKETS, TOP_RUNS};

/// Failed and escalated runs kept per agent.
pub const FAILED_RUNS: usize = 50;
/// Bytes of an error message kept.
pub const MAX_ERROR_BYTES: usize = 512;

const FIVE_MIN_S: i64 = 300;
const HOUR_S: i64 = 3_600;
const DAY_S: i64 = 86_400;
/// Five-minute buckets: 7 h, for the success ratio around a change of the
/// last 6 hours and the burn's start (older changes use hour buckets).
const FINE_BUCKETS: usize = 84;
/// Hour buckets: 8 days, for cost against a week ago and older changes.
const HOUR_BUCKETS: usize = 192;

#[derive(Clone, serde::Serialize, serde::Deserialize)]
struct AgentSamples {
    fine: Ring<Tally>,
    hours: Ring<Tally>,
    hour_sketches: SketchRing,
    day_sketches: SketchRing,
    week_sketches: SketchRing,
    top: Vec<TopBucket>,
    names: Names,
    failed: Failures,
    tools: HashMap<String, ToolSamples>,
}

impl AgentSamples {
    fn new() -> Self {
        Self {
            fine: Ring::new(FIVE_MIN_S, FINE_BUCKETS),
            hours: Ring::new(HOUR_S, HOUR_BUCKETS),
            hour_sketches: SketchRing::new(600, 6),
            day_sketches: SketchRing::new(HOUR_S, 24),
            week_sketches: SketchRing::new(DAY_S, 7),
            top: vec![TopBucket::default(); TOP_BUCKETS],
            names: Names::default(),
            failed: Failures::default(),
            tools: HashMap::new(),
        }
    }
}

/// Per-agent drill-down samples for the whole fleet.
#[derive(Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Drill {
    agents: HashMap<String, AgentSamples>,
    tools_per_agent: usize,
}

fn utc(t_s: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(t_s, 0).unwrap_or_default()
}

fn clip(text: &str) -> Box<str> {
    if text.len() <= MAX_ERROR_BYTES {
        return text.into();
    }
    let mut end = MAX_ERROR_BYTES;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].into()
}

fn ratio(num: u64, den: u64) -> Option<f64> {
    (den > 0).then(|| num as f64 / den as f64)
}

fn counts_of(run: &RunFinished) -> Tally {
    let mut c = Tally {
        runs: 1,
        cost_micros: super::stats::micros(run.cost_usd),
        ..Tally::default()
    };
    match run.outcome {
        Outcome::Success => c.success = 1,
        Outcome::Escalated => c.escalated = 1,
        Outcome::Failed | Outcome::TimedOut => c.bad = 1,
    }
    c
}

fn dominant(run: &RunFinished) -> Option<Dominant> {
    let call = run
        .tool_calls
        .iter()
        .filter(|c| c.latency_ms.is_some())
        .max_by_key(|c| c.latency_ms)?;
    let latency_ms = call.latency_ms?;
    Some(Dominant {
        tool: call.tool.clone(),
        latency_ms,
        share: share(latency_ms, run.latency_ms),
    })
}

/// A tool call's share of its run's latency, 0 to 1.
fn share(part_ms: u64, run_ms: u64) -> f64 {
    if run_ms == 0 {
        1.0
    } else {
        (part_ms as f64 / run_ms as f64).min(1.0)
    }
}

impl Drill {
    /// Samples for at most `tools_per_agent` tools of each agent.
    pub fn new(tools_per_agent: usize) -> Self {
        Self {
            agents: HashMap::new(),
            tools_per_agent,
        }
    }

    /// Number of agents sampled.
    pub fn agent_count(&self) -> usize {
        self.agents.len()
    }

    /// Forgets everything about an agent.
    pub fn forget(&mut self, agent: &str) {
        self.agents.remove(agent);
    }

    /// Folds one event in. Call it only for events the SLO engine
    /// accepted: the engine's limits bound the agents kept here.
    pub fn record(&mut self, env: &Envelope) {
        let t_s = env.ts.timestamp();
        match &env.event {
            Event::RunFinished(run) => {
                if let Some(samples) = self.samples_mut(&env.agent) {
                    record_run(samples, t_s, env.ts, run);
                }
                for call in &run.tool_calls {
                    self.record_call(
                        &env.agent,
                        t_s,
                        &call.tool,
                        call.status,
                        call.error.as_deref(),
                    );
                }
            }
            Event::ToolCalled(call) => {
                self.record_call(
                    &env.agent,
                    t_s,
                    &call.tool,
                    call.status,
                    call.error.as_deref(),
                );
            }
            _ => {}
        }
    }

    fn samples_mut(&mut self, agent: &str) -> Option<&mut AgentSamples> {
        // Looked up before inserting so that the common case allocates
        // no key.
        if !self.agents.contains_key(agent) {
            self.agents.insert(agent.to_string(), AgentSamples::new());
        }
        self.agents.get_mut(agent)
    }

    fn record_call(
        &mut self,
        agent: &str,
        t_s: i64,
        tool: &str,
        status: ToolStatus,
        error: Option<&str>,
    ) {
        let limit = self.tools_per_agent;
        let Some(samples) = self.samples_mut(agent) else {
            return;
        };
        if !samples.tools.contains_key(tool) {
            if samples.tools.len() >= limit {
                return;
            }
            samples.tools.insert(
                tool.to_string(),
                ToolSamples {
                    fine: Ring::new(FIVE_MIN_S, 12),
                    hours: Ring::new(HOUR_S, 24),
                    last_error: None,
                },
            );
        }
        let Some(t) = samples.tools.get_mut(tool) else {
            return;
        };
        let calls = Calls {
            calls: 1,
            errors: u32::from(status == ToolStatus::Error),
        };
        if let Some(c) = t.fine.at_mut(t_s) {
            *c += calls;
        }
        if let Some(c) = t.hours.at_mut(t_s) {
            *c += calls;
        }
        if status == ToolStatus::Error {
            t.last_error = Some(clip(error.unwrap_or("error")));
        }
    }

    /// Latency, outcomes and cost of `agent` as of `now` (all zero for an
    /// agent without samples).
    pub fn performance(&self, agent: &str, now: DateTime<Utc>) -> Performance {
        let empty;
        let a = match self.agents.get(agent) {
            Some(a) => a,
            None => {
                empty = AgentSamples::new();
                &empty
            }
        };
        let now_s = now.timestamp();
        let window = |name: &str, counts: Tally, sketches: &SketchRing| {
            let p = percentiles(&sketches.merged(now_s));
            let runs = u64::from(counts.runs);
            let success = u64::from(counts.success);
            WindowStats {
                window: name.to_string(),
                since: utc(sketches.first_bucket_start(now_s)),
                runs,
                success,
                escalated: u64::from(counts.escalated),
                failed: u64::from(counts.bad),
                success_ratio: ratio(success, runs),
                p50_ms: p.p50,
                p95_ms: p.p95,
                p99_ms: p.p99,
            }
        };
        // Counts use the same bucket edges as the sketches of each window.
        let hour_counts = sum_range(&a.fine, a.hour_sketches.first_bucket_start(now_s), now_s);
        let day_counts = sum_range(&a.hours, a.day_sketches.first_bucket_start(now_s), now_s);
        let week_counts = sum_range(&a.hours, a.week_sketches.first_bucket_start(now_s), now_s);
        let windows = vec![
            window("hour", hour_counts, &a.hour_sketches),
            window("day", day_counts, &a.day_sketches),
            window("week", week_counts, &a.week_sketches),
        ];
        let midnight = now_s.div_euclid(DAY_S) * DAY_S;
        let today = sum_range(&a.hours, midnight, now_s);
        let week_ago = sum_range(&a.hours, midnight - 7 * DAY_S, now_s - 7 * DAY_S);
        let usd = |c: Tally| c.cost_micros as f64 / 1e6;
        let today_per_run = (today.runs > 0).then(|| usd(today) / f64::from(today.runs));
        let week_per_run = (week_ago.runs > 0).then(|| usd(week_ago) / f64::from(week_ago.runs));
        let cost = CostComparison {
            today_runs: u64::from(today.runs),
            today_cost_usd: usd(today),
            today_per_run_usd: today_per_run,
            last_week_runs: u64::from(week_ago.runs),
            last_week_cost_usd: usd(week_ago),
            last_week_per_run_usd: week_per_run,
            ratio: match (today_per_run, week_per_run) {
                (Some(t), Some(w)) if w > 0.0 => Some(t / w),
                _ => None,
            },
        };
        Performance {
            agent: agent.to_string(),
            at: now,
            windows,
            cost,
        }
    }

    /// The slowest (`by_cost == false`) or costliest runs of the current
    /// 3-hour bucket and the 7 before it, largest first, at most
    /// [`TOP_RUNS`]; with the start of the oldest bucket.
    pub fn top_runs(
        &self,
        agent: &str,
        by_cost: bool,
        now: DateTime<Utc>,
    ) -> (DateTime<Utc>, Vec<RunSample>) {
        let last = now.timestamp().div_euclid(TOP_BUCKET_S);
        let first = last - TOP_BUCKETS as i64 + 1;
        let since = utc(first * TOP_BUCKET_S);
        let Some(a) = self.agents.get(agent) else {
            return (since, Vec::new());
        };
        let key = |s: &Sample| {
            if by_cost {
                s.cost_usd
            } else {
                s.latency_ms as f64
            }
        };
        let mut out: Vec<Sample> = Vec::new();
        for b in a.top.iter().filter(|b| (first..=last).contains(&b.bucket)) {
            let list = if by_cost { &b.costliest } else { &b.slowest };
            for s in list {
                keep_top(&mut out, s, key);
            }
        }
        let runs = out
            .into_iter()
            .map(|s| RunSample {
                run_id: s.run_id.into_string(),
                workflow: a.names.get(s.workflow),
                ts: utc(s.ts_s),
                outcome: s.outcome,
                latency_ms: s.latency_ms,
                cost_usd: s.cost_usd,
                dominant: s.dominant.map(|(tool, latency_ms)| Dominant {
                    tool: a.names.get(tool),
                    latency_ms: u64::from(latency_ms),
                    share: share(u64::from(latency_ms), s.latency_ms),
                }),
            })
            .collect();
        (since, runs)
    }

    /// The last failed, timed-out and escalated runs, newest first.
    pub fn failed_runs(&self, agent: &str) -> Vec<FailedRun> {
        let Some(a) = self.agents.get(agent) else {
            return Vec::new();
        };
        a.failed
            .list
            .iter()
            .rev()
            .map(|f| FailedRun {
                run_id: f.run_id.to_string(),
                workflow: a.names.get(f.workflow),
                ts: utc(f.ts_s),
                outcome: f.outcome,
                latency_ms: f.latency_ms,
                error: f.error.as_deref().map(str::to_string),
                tool: f.tool.map(|t| a.names.get(t)),
                versions: (*f.versions).clone(),
            })
            .collect()
    }

    /// Tool call error rates over the last hour (12 five-minute buckets)
    /// and day (24 hour buckets), worst daily error rate first.
    pub fn tool_rates(&self, agent: &str, now: DateTime<Utc>) -> Vec<ToolRate> {
        let Some(a) = self.agents.get(agent) else {
            return Vec::new();
        };
        let now_s = now.timestamp();
        let rate = |c: Calls| CallRate {
            calls: u64::from(c.calls),
            errors: u64::from(c.errors),
            error_rate: ratio(u64::from(c.errors), u64::from(c.calls)),
        };
        let mut out: Vec<ToolRate> = a
            .tools
            .iter()
            .map(|(name, t)| ToolRate {
                tool: name.clone(),
                hour: rate(t.fine.sum_last(now_s, 12)),
                day: rate(t.hours.sum_last(now_s, 24)),
                last_error: t.last_error.as_deref().map(str::to_string),
            })
            .collect();
        out.sort_by(|x, y| {
            let e = |r: &ToolRate| r.day.error_rate.unwrap_or(0.0);
            e(y).total_cmp(&e(x)).then_with(|| x.tool.cmp(&y.tool))
        });
        out
    }

    /// Runs and successes in the hour before and the hour after `at`
    /// (capped at `now`), the bucket holding `at` left out of both since it
    /// mixes the two. Five-minute buckets for changes of the last 6 h,
    /// hour buckets up to 8 days; none beyond.
    pub fn around(
        &self,
        agent: &str,
        at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Option<(RatioWindow, RatioWindow)> {
        let a = self.agents.get(agent)?;
        let (at_s, now_s) = (at.timestamp(), now.timestamp());
        let ring = if now_s - at_s < (FINE_BUCKETS as i64 - 12) * FIVE_MIN_S {
            &a.fine
        } else if now_s - at_s < (HOUR_BUCKETS as i64 - 1) * HOUR_S {
            &a.hours
        } else {
            return None;
        };
        let w = ring.width_s();
        let per_hour = (HOUR_S / w).max(1);
        let b = at_s.div_euclid(w);
        let last = now_s.div_euclid(w);
        let sum = |from: i64, to: i64| {
            let mut c = Tally::default();
            for bucket in from..=to.min(last) {
                c += ring.get(bucket);
            }
            RatioWindow {
                runs: u64::from(c.runs),
                success: u64::from(c.success),
                success_ratio: ratio(u64::from(c.success), u64::from(c.runs)),
            }
        };
        Some((sum(b - per_hour, b - 1), sum(b + 1, b + per_hour)))
    }
}

impl Drill {
    /// When the agent's current burn started: the start of the earliest
    /// 5-minute bucket, in an unbroken run of buckets (within 6 h) up to
    /// `now`, whose failed-or-timed-out ratio exceeds `allowed_bad`. Up to
    /// two buckets in a row without runs are passed over; a longer quiet
    /// spell ends the run. The bucket holding `now` is still filling: when
    /// it is not burning it is passed over like an empty one, so a good
    /// run in the first seconds of a new bucket does not hide a burn that
    /// is under way. None when the latest complete bucket with runs is not
    /// burning.
    pub fn burn_start(
        &self,
        agent: &str,
        now: DateTime<Utc>,
        allowed_bad: f64,
    ) -> Option<DateTime<Utc>> {
        let a = self.agents.get(agent)?;
        let last = now.timestamp().div_euclid(FIVE_MIN_S);
        let mut start = None;
        let mut empty = 0;
        for bucket in (last - 71..=last).rev() {
            let c = a.fine.get(bucket);
            if c.runs == 0 {
                // A quiet spell longer than 10 minutes ends the burn: what
                // came before it is another episode.
                empty += 1;
                if empty > 2 {
                    break;
                }
                continue;
            }
            empty = 0;
            let bad = f64::from(c.bad) / f64::from(c.runs);
            if bad > allowed_bad {
                start = Some(bucket);
            } else if bucket != last {
                break;
            }
        }
        start.map(|b| utc(b * FIVE_MIN_S))
    }
}

/// Sum of the buckets of `ring` from the one holding `from_s` to the one
/// holding `to_s`.
fn sum_range(ring: &Ring<Tally>, from_s: i64, to_s: i64) -> Tally {
    let w = ring.width_s();
    let (first, last) = (from_s.div_euclid(w), to_s.div_euclid(w));
    let mut c = Tally::default();
    if last < first {
        return c;
    }
    let first = first.max(last - ring.len() as i64 + 1);
    for b in first..=last {
        c += ring.get(b);
    }
    c
}

fn record_run(a: &mut AgentSamples, t_s: i64, ts: DateTime<Utc>, run: &RunFinished) {
    let counts = counts_of(run);
    if let Some(c) = a.fine.at_mut(t_s) {
        *c += counts;
    }
    if let Some(c) = a.hours.at_mut(t_s) {
        *c += counts;
    }
    let latency = run.latency_ms as f64;
    a.hour_sketches.record(t_s, latency);
    a.day_sketches.record(t_s, latency);
    a.week_sketches.record(t_s, latency);

    let bucket = t_s.div_euclid(TOP_BUCKET_S);
    let index = bucket.rem_euclid(TOP_BUCKETS as i64) as usize;
    let slot = &mut a.top[index];
    if slot.bucket != bucket {
        if slot.bucket > bucket {
            return record_failure(a, ts, run);
        }
        *slot = TopBucket {
            bucket,
            slowest: Vec::new(),
            costliest: Vec::new(),
        };
    }
    let slow_enough = slot.slowest.len() < TOP_RUNS
        || slot
            .slowest
            .last()
            .is_some_and(|s| s.latency_ms < run.latency_ms);
    let costly_enough = slot.costliest.len() < TOP_RUNS
        || slot
            .costliest
            .last()
            .is_some_and(|s| s.cost_usd < run.cost_usd);
    if slow_enough || costly_enough {
        let dominant = dominant(run).map(|d| {
            let latency = u32::try_from(d.latency_ms).unwrap_or(u32::MAX);
            (a.names.intern(&d.tool), latency)
        });
        let sample = Sample {
            run_id: run.run_id.as_str().into(),
            ts_s: t_s,
            latency_ms: run.latency_ms,
            cost_usd: run.cost_usd,
            workflow: a.names.intern(&run.workflow),
            outcome: run.outcome,
            dominant,
        };
        // The slot was borrowed for the checks above; take it again.
        let slot = &mut a.top[index];
        if slow_enough {
            keep_top(&mut slot.slowest, &sample, |s| s.latency_ms as f64);
        }
        if costly_enough {
            keep_top(&mut slot.costliest, &sample, |s| s.cost_usd);
        }
    }
    record_failure(a, ts, run);
}

fn record_failure(a: &mut AgentSamples, ts: DateTime<Utc>, run: &RunFinished) {
    if run.outcome == Outcome::Success {
        return;
    }
    let tool = run
        .tool_calls
        .iter()
        .find(|c| c.status == ToolStatus::Error)
        .map(|c| c.tool.clone())
        .or_else(|| dominant(run).map(|d| d.tool));
    let failure = Failure {
        run_id: run.run_id.as_str().into(),
        ts_s: ts.timestamp(),
        latency_ms: run.latency_ms,
        workflow: a.names.intern(&run.workflow),
        tool: tool.map(|t| a.names.intern(&t)),
        outcome: run.outcome,
        error: run.error.as_deref().map(|e| a.failed.share_error(&clip(e))),
        versions: a.failed.share_versions(&run.versions),
    };
    // Kept in arrival order; a late event is still one of the last seen.
    a.failed.push(failure, FAILED_RUNS);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::envelope::{ToolCall, Versions};

    fn at(s: i64) -> DateTime<Utc> {
        utc(1_790_000_000 - 1_790_000_000 % DAY_S + s)
    }

    fn run(id: &str, outcome: Outcome, latency_ms: u64, cost: f64) -> RunFinished {
        RunFinished {
            run_id: id.into(),
            workflow: "refund".into(),
            outcome,
            latency_ms,
            cost_usd: cost,
            tokens: None,
            tool_calls: vec![ToolCall {
                tool: "lookup".into(),
                status: ToolStatus::Ok,
                latency_ms: Some(latency_ms / 2),
                error: None,
            }],
            policy_violations: Vec::new(),
            versions: Versions::default(),
            error: None,
            unpriced_model: None,
        }
    }

    fn env(t: DateTime<Utc>, r: RunFinished) -> Envelope {
        Envelope::new(t, "bot", Event::RunFinished(r))
    }

    #[test]
    fn top_lists_keep_the_largest_ten_across_buckets() {
        let mut d = Drill::new(8);
        for i in 0..100u64 {
            // Spread over 5 hours, latencies 1..=100 s, costs reversed.
            let t = at((i as i64) * 180);
            d.record(&env(
                t,
                run(
                    &format!("r{i}"),
                    Outcome::Success,
                    (i + 1) * 1000,
                    (100 - i) as f64,
                ),
            ));
        }
        let (_, slow) = d.top_runs("bot", false, at(5 * 3600));
        assert_eq!(slow.len(), TOP_RUNS);
        assert_eq!(slow[0].run_id, "r99");
        assert_eq!(slow[9].run_id, "r90");
        let dom = slow[0].dominant.as_ref().unwrap();
        assert_eq!((dom.tool.as_str(), dom.share), ("lookup", 0.5));
        let (_, costly) = d.top_runs("bot", true, at(5 * 3600));
        assert_eq!(costly[0].run_id, "r0");
        assert_eq!(costly[9].run_id, "r9");
        // A day later the old buckets are out of the window.
        let (_, later) = d.top_runs("bot", false, at(30 * 3600));
        assert!(later.is_empty());
    }

    #[test]
    fn a_good_run_in_a_bucket_just_begun_does_not_hide_the_burn() {
        let mut d = Drill::new(8);
        // Three 5-minute buckets of mostly failed runs from 3600 s on.
        for i in 0..30 {
            let outcome = if i % 4 == 0 {
                Outcome::Success
            } else {
                Outcome::Failed
            };
            d.record(&env(
                at(3600 + i * 30),
                run(&format!("r{i}"), outcome, 100, 0.1),
            ));
        }
        // The next bucket has begun with one good run.
        let now = at(3600 + 900 + 10);
        d.record(&env(now, run("good", Outcome::Success, 100, 0.1)));
        assert_eq!(d.burn_start("bot", now, 0.05), Some(at(3600)));
        // A complete good bucket after the burn ends it.
        for i in 0..10 {
            d.record(&env(
                at(3600 + 900 + 20 + i),
                run(&format!("g{i}"), Outcome::Success, 100, 0.1),
            ));
        }
        assert_eq!(d.burn_start("bot", at(3600 + 1200 + 10), 0.05), None);
    }

    #[test]
    fn failed_runs_are_the_last_fifty_newest_first() {
        let mut d = Drill::new(8);
        for i in 0..70 {
            let outcome = if i % 2 == 0 {
                Outcome::Failed
            } else {
                Outcome::Success
            };
            let mut r = run(&format!("r{i}"), outcome, 100, 0.1);
            r.error = Some("x".repeat(2000));
            d.record(&env(at(i), r));
        }
        let failed = d.failed_runs("bot");
        assert_eq!(failed.len(), 35);
        assert_eq!(failed[0].run_id, "r68");
        assert_eq!(failed[0].error.as_ref().unwrap().len(), MAX_ERROR_BYTES);
        assert_eq!(failed[0].tool.as_deref(), Some("lookup"));
    }
}
