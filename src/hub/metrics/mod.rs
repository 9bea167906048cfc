//! `GET /metrics`: the hub in Prometheus' text exposition format. Counters
//! and histograms that only events can tell (runs, latencies, cost,
//! ingest, decisions, deliveries) are kept here as they happen; gauges of
//! the current state (SLOs, incidents, approvals, clients, storage) are
//! read from the core at scrape time ([`scrape`]).
//!
//! Cardinality is bounded: at most [`MAX_AGENT_LABELS`] agents get their
//! own `agent` label, later ones are counted under `agent="_other"`; SLO
//! series are capped at [`MAX_SLO_SERIES`], the most burning first.

pub mod scrape;

use std::collections::HashSet;
use std::sync::Mutex;
use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::model::envelope::{Envelope, Event};

/// Agents with a label of their own.
pub const MAX_AGENT_LABELS: usize = 256;
/// SLO series exported.
pub const MAX_SLO_SERIES: usize = 1024;
/// The label of agents past [`MAX_AGENT_LABELS`].
pub const OTHER_AGENT: &str = "_other";
/// Run latency buckets, seconds.
const RUN_BUCKETS: [f64; 12] = [
    0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
];
/// Approval decision latency buckets, seconds (a minute to a day).
const DECISION_BUCKETS: [f64; 10] = [
    10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 14_400.0, 86_400.0,
];

/// `agent`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AgentLabel {
    /// The agent, or `_other`.
    pub agent: String,
}

/// `agent`, `outcome`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RunLabels {
    /// The agent, or `_other`.
    pub agent: String,
    /// `success`, `escalated`, `failed`, `timed_out`.
    pub outcome: String,
}

/// `reason`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    /// `invalid` (the line or span did not decode or check), `limit` (the
    /// engine's limits), `duplicate` (a repeat of a recent event id).
    pub reason: String,
}

/// `receiver`, `outcome`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DeliveryLabels {
    /// The receiver's name.
    pub receiver: String,
    /// `delivered`, `failed` (one failed attempt) or `given_up`.
    pub outcome: String,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// What events tell, counted as they happen.
pub struct HubMetrics {
    runs: Family<RunLabels, Counter>,
    run_seconds: HistogramFamily<AgentLabel>,
    cost: Family<AgentLabel, Counter<f64, AtomicU64>>,
    ingested: Counter,
    rejected: Family<ReasonLabel, Counter>,
    decision_seconds: Histogram,
    deliveries: Family<DeliveryLabels, Counter>,
    labelled: Mutex<HashSet<String>>,
}

impl Default for HubMetrics {
    fn default() -> Self {
        let m = Self {
            runs: Family::default(),
            run_seconds: Family::new_with_constructor(|| Histogram::new(RUN_BUCKETS)),
            cost: Family::default(),
            ingested: Counter::default(),
            rejected: Family::default(),
            decision_seconds: Histogram::new(DECISION_BUCKETS),
            deliveries: Family::default(),
            labelled: Mutex::new(HashSet::new()),
        };
        // Every reason from the start, at 0: rate() and alert rules need
        // the series before the first refusal.
        for reason in ["invalid", "limit", "duplicate"] {
            m.rejected(reason, 0);
        }
        m
    }
}

impl HubMetrics {
    /// The `agent` label for `agent`: its own while there is room.
    pub fn agent_label(&self, agent: &str) -> String {
        let mut labelled = self.labelled.lock().unwrap_or_else(|e| e.into_inner());
        if labelled.contains(agent) {
            return agent.to_string();
        }
        if labelled.len() < MAX_AGENT_LABELS {
            labelled.insert(agent.to_string());
            return agent.to_string();
        }
        OTHER_AGENT.to_string()
    }

    /// Counts the runs among accepted events, one label look-up per agent
    /// and outcome of the batch.
    pub fn record_events(&self, events: &[Envelope]) {
        self.ingested.inc_by(events.len() as u64);
        let mut by_agent: std::collections::HashMap<
            &str,
            Vec<&crate::model::envelope::RunFinished>,
        > = std::collections::HashMap::new();
        for env in events {
            if let Event::RunFinished(run) = &env.event {
                by_agent.entry(env.agent.as_str()).or_default().push(run);
            }
        }
        for (agent, runs) in by_agent {
            let agent = AgentLabel {
                agent: self.agent_label(agent),
            };
            let latency = self.run_seconds.get_or_create(&agent);
            let mut cost = 0.0;
            let mut outcomes: std::collections::HashMap<&str, u64> =
                std::collections::HashMap::new();
            for run in runs {
                latency.observe(run.latency_ms as f64 / 1000.0);
                if run.cost_usd.is_finite() && run.cost_usd > 0.0 {
                    cost += run.cost_usd;
                }
                *outcomes.entry(run.outcome.as_str()).or_default() += 1;
            }
            drop(latency);
            self.cost.get_or_create(&agent).inc_by(cost);
            for (outcome, n) in outcomes {
                let labels = RunLabels {
                    agent: agent.agent.clone(),
                    outcome: outcome.to_string(),
                };
                self.runs.get_or_create(&labels).inc_by(n);
            }
        }
    }

    /// Counts refused events or spans.
    pub fn rejected(&self, reason: &str, n: u64) {
        let labels = ReasonLabel {
            reason: reason.to_string(),
        };
        self.rejected.get_or_create(&labels).inc_by(n);
    }

    /// Declares a receiver's delivery series at 0 (at start and reload).
    pub fn receiver(&self, receiver: &str) {
        for outcome in ["delivered", "failed", "given_up"] {
            let labels = DeliveryLabels {
                receiver: receiver.to_string(),
                outcome: outcome.to_string(),
            };
            self.deliveries.get_or_create(&labels).inc_by(0);
        }
    }

    /// Records how long an approval waited for its decision (or expiry).
    pub fn decided_after(&self, seconds: f64) {
        self.decision_seconds.observe(seconds.max(0.0));
    }

    /// Counts one delivery attempt's outcome.
    pub fn delivery(&self, receiver: &str, outcome: &str) {
        let labels = DeliveryLabels {
            receiver: receiver.to_string(),
            outcome: outcome.to_string(),
        };
        self.deliveries.get_or_create(&labels).inc();
    }

    /// Registers the kept metrics (shared, not copied) in a scrape's
    /// registry.
    fn register(&self, r: &mut Registry) {
        r.register(
            "runs",
            "Runs finished, by agent and outcome",
            self.runs.clone(),
        );
        r.register(
            "run_duration_seconds",
            "Run latency, by agent",
            self.run_seconds.clone(),
        );
        r.register(
            "run_cost_usd",
            "Cost of runs in USD, by agent",
            self.cost.clone(),
        );
        r.register(
            "ingest_events",
            "Events accepted (events and runs from traces)",
            self.ingested.clone(),
        );
        r.register(
            "ingest_rejected",
            "Events or spans refused, by reason (invalid, limit, duplicate)",
            self.rejected.clone(),
        );
        r.register(
            "approval_decision_seconds",
            "Time from an approval's request to its decision or expiry",
            self.decision_seconds.clone(),
        );
        r.register(
            "notification_deliveries",
            "Notification requests, by receiver and outcome (delivered, failed, given_up)",
            self.deliveries.clone(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agents_past_the_cap_share_one_label() {
        let m = HubMetrics::default();
        for i in 0..MAX_AGENT_LABELS {
            assert_eq!(m.agent_label(&format!("a{i}")), format!("a{i}"));
        }
        assert_eq!(m.agent_label("one-too-many"), OTHER_AGENT);
        assert_eq!(
            m.agent_label("a0"),
            "a0",
            "a labelled agent keeps its label"
        );
    }
}
