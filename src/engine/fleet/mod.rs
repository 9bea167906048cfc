//! The engine's fold over every agent's events.

mod record;
mod snapshot;

use std::collections::{HashMap, VecDeque};

use chrono::{DateTime, TimeZone, Utc};

use crate::model::agent::Agent;
use crate::model::envelope::{
    ApprovalRequest, Change, Envelope, Event, HealthStatus, IncidentReport, ToolStatus, Versions,
};
use crate::model::envelope_ref::{EnvelopeRef, EventRef, RunView};
use crate::model::slo::{AlertLevel, BurnRates, SloSpec, SloStatus, VersionMarker};

use super::burn::{self, Counts};
use super::drift;
use super::series::{self, SloSeries};
use super::stats::{ToolStats, WorkflowStats};

/// Bounds on what the engine keeps, so a hostile or buggy sender cannot
/// grow its memory without limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Limits {
    /// Distinct agents.
    pub agents: usize,
    /// Distinct workflows per agent.
    pub workflows_per_agent: usize,
    /// Distinct tools per agent.
    pub tools_per_agent: usize,
    /// Version markers kept per agent.
    pub markers_per_agent: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            agents: 10_000,
            workflows_per_agent: 64,
            tools_per_agent: 256,
            markers_per_agent: 32,
        }
    }
}

/// How far past the engine's clock an event may be stamped, seconds.
pub const MAX_AHEAD_S: i64 = 300;

/// An event the engine would not count, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejected {
    /// Stamped too far past the engine's clock.
    #[error("event is {0} s ahead of the engine's clock (at most 300 s)")]
    TooFarAhead(i64),
    /// The agent limit is reached.
    #[error("too many agents (limit {0}); agent not registered")]
    TooManyAgents(usize),
    /// The workflow limit of an agent is reached.
    #[error("agent {agent} has too many workflows (limit {limit})")]
    TooManyWorkflows {
        /// The agent.
        agent: String,
        /// The limit.
        limit: usize,
    },
}

/// What drifted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DriftSubject {
    /// A workflow's escalation rate against its 24 h baseline.
    Escalation {
        /// The workflow.
        workflow: String,
    },
    /// A tool's error rate against its 24 h baseline.
    ToolErrors {
        /// The tool.
        tool: String,
    },
}

/// Something the engine noticed that the hub acts on.
#[derive(Debug, Clone, PartialEq)]
pub enum Signal {
    /// A series' alert level changed.
    Alert {
        /// `slo/agent/workflow`.
        series: String,
        /// The SLO's name.
        slo: String,
        /// The agent.
        agent: String,
        /// The workflow.
        workflow: String,
        /// The new level.
        level: AlertLevel,
        /// The level before.
        previous: AlertLevel,
        /// The SLO is marked critical.
        critical: bool,
        /// Burn rates when it changed.
        burn: BurnRates,
        /// When.
        at: DateTime<Utc>,
    },
    /// A drift detector started or stopped firing.
    Drift {
        /// The agent.
        agent: String,
        /// What drifted.
        subject: DriftSubject,
        /// True when it starts, false when it clears.
        active: bool,
        /// The recent rate.
        rate: f64,
        /// The baseline rate.
        baseline: f64,
        /// When.
        at: DateTime<Utc>,
    },
    /// A new version of a component was seen.
    VersionChanged {
        /// The agent.
        agent: String,
        /// The marker.
        marker: VersionMarker,
    },
    /// An agent asked for approval.
    ApprovalRequested {
        /// The agent.
        agent: String,
        /// When it asked.
        at: DateTime<Utc>,
        /// The request.
        request: ApprovalRequest,
    },
    /// An agent reported an incident.
    IncidentReported {
        /// The agent.
        agent: String,
        /// When.
        at: DateTime<Utc>,
        /// The report.
        report: IncidentReport,
    },
    /// An agent was seen for the first time.
    AgentSeen {
        /// The agent.
        agent: String,
    },
}

/// An SLO series that is alerting now.
#[derive(Debug, Clone, PartialEq)]
pub struct Alerting {
    /// `slo/agent/workflow`.
    pub series: String,
    /// The SLO's name.
    pub slo: String,
    /// Its SLI.
    pub sli: crate::model::slo::SliKind,
    /// The agent.
    pub agent: String,
    /// The workflow.
    pub workflow: String,
    /// Ticket or page.
    pub level: AlertLevel,
    /// The SLO is critical.
    pub critical: bool,
    /// Burn rates now.
    pub burn: BurnRates,
}

/// The engine's maps keyed by names that senders choose (agents, their
/// workflows and tools), looked up several times per event: foldhash, much
/// faster than SipHash on short keys, with a random seed per map so that
/// colliding names cannot be worked out in advance.
type Map<V> = HashMap<String, V, foldhash::fast::RandomState>;

#[derive(serde::Serialize, serde::Deserialize)]
struct WorkflowState {
    stats: WorkflowStats,
    series: Vec<usize>,
    escalation_drift: bool,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct ToolState {
    stats: ToolStats,
    spiking: bool,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct AgentState {
    first_seen_s: i64,
    last_seen_s: i64,
    last_heartbeat_s: Option<i64>,
    health: Option<HealthStatus>,
    #[serde(with = "crate::engine::as_json")]
    versions: Versions,
    workflows: Map<WorkflowState>,
    tools: Map<ToolState>,
    markers: VecDeque<VersionMarker>,
    /// The last model seen without a price, and how many runs had one.
    unpriced: Option<(String, u64)>,
}

impl AgentState {
    fn new(t_s: i64) -> Self {
        Self {
            first_seen_s: t_s,
            last_seen_s: t_s,
            last_heartbeat_s: None,
            health: None,
            versions: Versions::default(),
            workflows: Map::default(),
            tools: Map::default(),
            markers: VecDeque::new(),
            unpriced: None,
        }
    }
}

/// One event as the fold reads it, from an owned or a borrowed envelope.
enum Fold<'e, R> {
    Run(&'e R),
    Tool(&'e str, ToolStatus),
    Escalation(&'e str),
    Approval(&'e ApprovalRequest),
    Incident(&'e IncidentReport),
    Change(&'e Change),
    Heartbeat(Option<HealthStatus>),
}

/// The fold: SLO series, run statistics, drift and version markers for
/// every agent, fed by [`Engine::apply`] and evaluated by [`Engine::tick`].
pub struct Engine {
    specs: Vec<SloSpec>,
    limits: Limits,
    agents: Map<AgentState>,
    series: Vec<SloSeries>,
    signals: Vec<Signal>,
    now_s: i64,
}

fn utc(t_s: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(t_s, 0).single().unwrap_or_default()
}

impl Engine {
    /// An engine evaluating `specs`.
    pub fn new(specs: Vec<SloSpec>) -> Self {
        Self::with_limits(specs, Limits::default())
    }

    /// An engine evaluating `specs` within `limits`.
    pub fn with_limits(specs: Vec<SloSpec>, limits: Limits) -> Self {
        Self {
            specs,
            limits,
            agents: Map::default(),
            series: Vec::new(),
            signals: Vec::new(),
            now_s: i64::MIN,
        }
    }

    /// The limits it keeps within.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// The SLO specs.
    pub fn specs(&self) -> &[SloSpec] {
        &self.specs
    }

    /// Number of SLO series.
    pub fn series_count(&self) -> usize {
        self.series.len()
    }

    /// Number of agents.
    pub fn agent_count(&self) -> usize {
        self.agents.len()
    }

    /// Takes the signals produced since the last call.
    pub fn drain_signals(&mut self) -> Vec<Signal> {
        std::mem::take(&mut self.signals)
    }

    /// Whether [`Engine::apply`] would accept the event, without changing
    /// anything.
    pub fn check(&self, env: &Envelope) -> Result<(), Rejected> {
        let t_s = env.ts.timestamp();
        if self.now_s != i64::MIN && t_s > self.now_s.saturating_add(MAX_AHEAD_S) {
            return Err(Rejected::TooFarAhead(t_s - self.now_s));
        }
        let Some(agent) = self.agents.get(env.agent.as_str()) else {
            if self.agents.len() >= self.limits.agents {
                return Err(Rejected::TooManyAgents(self.limits.agents));
            }
            return Ok(());
        };
        let workflow = match &env.event {
            Event::RunFinished(r) => &r.workflow,
            Event::Escalation(e) => &e.workflow,
            _ => return Ok(()),
        };
        if !agent.workflows.contains_key(workflow.as_str())
            && agent.workflows.len() >= self.limits.workflows_per_agent
        {
            return Err(Rejected::TooManyWorkflows {
                agent: env.agent.clone(),
                limit: self.limits.workflows_per_agent,
            });
        }
        Ok(())
    }

    /// Series alerting at their last evaluation, sorted by series id.
    pub fn alerting(&self) -> Vec<Alerting> {
        let mut out: Vec<Alerting> = self
            .series
            .iter()
            .filter(|s| s.alert != AlertLevel::None)
            .filter_map(|s| {
                let spec = self.specs.get(s.spec)?;
                Some(Alerting {
                    series: s.id.clone(),
                    slo: spec.name.clone(),
                    sli: spec.sli,
                    agent: s.agent.clone(),
                    workflow: s.workflow.clone(),
                    level: s.alert,
                    critical: spec.critical,
                    burn: s.windows(self.now_s).burn_rates(spec.objective),
                })
            })
            .collect();
        out.sort_by(|a, b| a.series.cmp(&b.series));
        out
    }

    /// Folds one event in.
    pub fn apply(&mut self, env: &Envelope) -> Result<(), Rejected> {
        let event = match &env.event {
            Event::RunFinished(run) => Fold::Run(run),
            Event::ToolCalled(call) => Fold::Tool(&call.tool, call.status),
            Event::Escalation(e) => Fold::Escalation(&e.workflow),
            Event::ApprovalRequested(request) => Fold::Approval(request),
            Event::IncidentReported(report) => Fold::Incident(report),
            Event::Change(change) => Fold::Change(change),
            Event::Heartbeat(hb) => Fold::Heartbeat(hb.status),
        };
        self.fold(&env.agent, env.ts, event)
    }

    /// Folds one event in from its borrowed form (see
    /// [`EnvelopeRef::decode`]), exactly as [`Engine::apply`] folds the
    /// owned one. Allocates only for an agent, workflow or tool seen for
    /// the first time and for the signals the event raises.
    pub fn apply_ref(&mut self, env: &EnvelopeRef<'_>) -> Result<(), Rejected> {
        let event = match &env.event {
            EventRef::RunFinished(run) => Fold::Run(run),
            EventRef::ToolCalled(call) => Fold::Tool(&call.tool, call.status),
            EventRef::Escalation(e) => Fold::Escalation(&e.workflow),
            EventRef::ApprovalRequested(request) => Fold::Approval(request),
            EventRef::IncidentReported(report) => Fold::Incident(report),
            EventRef::Change(change) => Fold::Change(change),
            EventRef::Heartbeat(hb) => Fold::Heartbeat(hb.status),
        };
        self.fold(&env.agent, env.ts, event)
    }

    fn fold<R: RunView>(
        &mut self,
        agent_id: &str,
        ts: DateTime<Utc>,
        event: Fold<'_, R>,
    ) -> Result<(), Rejected> {
        let t_s = ts.timestamp();
        // An event far ahead of the clock would take over ring slots that
        // still hold the present.
        if self.now_s != i64::MIN && t_s > self.now_s.saturating_add(MAX_AHEAD_S) {
            return Err(Rejected::TooFarAhead(t_s - self.now_s));
        }
        let limits = self.limits;
        let Self {
            specs,
            agents,
            series,
            signals,
            ..
        } = self;
        // One lookup for a known agent; a new one is registered (and
        // announced) before its first event is counted.
        let agent = match agents.get_mut(agent_id) {
            Some(agent) => agent,
            None => register(agents, signals, agent_id, t_s, limits)?,
        };
        match event {
            Fold::Run(run) => {
                with_workflow(
                    agent,
                    agent_id,
                    run.workflow(),
                    specs,
                    series,
                    limits,
                    |wf, series| {
                        wf.stats.record_run(t_s, run);
                        for &i in &wf.series {
                            let s = &mut series[i];
                            if let Some(good) = series::judge(&specs[s.spec], run) {
                                s.record(t_s, good);
                            }
                        }
                    },
                )?;
                for (tool, status) in run.tool_statuses() {
                    record_tool(agent, t_s, tool, status, limits.tools_per_agent);
                }
                record_versions(agent, agent_id, t_s, run, limits.markers_per_agent, signals);
                if let Some(model) = run.unpriced_model() {
                    record_unpriced(agent, model);
                }
            }
            Fold::Tool(tool, status) => {
                record_tool(agent, t_s, tool, status, limits.tools_per_agent);
            }
            Fold::Escalation(workflow) => {
                with_workflow(agent, agent_id, workflow, specs, series, limits, |wf, _| {
                    wf.stats.record_escalation(t_s);
                })?;
            }
            Fold::Approval(request) => signals.push(approval_signal(agent_id, ts, request)),
            Fold::Incident(report) => signals.push(incident_signal(agent_id, ts, report)),
            Fold::Change(change) => {
                record_change(
                    agent,
                    agent_id,
                    ts,
                    change,
                    limits.markers_per_agent,
                    signals,
                );
            }
            Fold::Heartbeat(status) => {
                agent.last_heartbeat_s = Some(agent.last_heartbeat_s.unwrap_or(t_s).max(t_s));
                agent.health = status.or(agent.health);
            }
        }
        agent.last_seen_s = agent.last_seen_s.max(t_s);
        agent.first_seen_s = agent.first_seen_s.min(t_s);
        Ok(())
    }

    /// Advances the engine's clock to `now` and evaluates alerts and drift,
    /// producing signals for every change.
    pub fn tick(&mut self, now: DateTime<Utc>) {
        let now_s = now.timestamp();
        self.now_s = self.now_s.max(now_s);
        let now_s = self.now_s;
        for s in &mut self.series {
            let spec = &self.specs[s.spec];
            let windows = s.windows(now_s);
            let level = burn::alert_level(&windows, spec.objective, spec.min_events);
            if level != s.alert {
                self.signals.push(Signal::Alert {
                    series: s.id.clone(),
                    slo: spec.name.clone(),
                    agent: s.agent.clone(),
                    workflow: s.workflow.clone(),
                    level,
                    previous: s.alert,
                    critical: spec.critical,
                    burn: windows.burn_rates(spec.objective),
                    at: utc(now_s),
                });
                s.alert = level;
            }
        }
        // In id and name order, so that signals come out the same way on
        // every run; sorted references, no copies of the names.
        let signals = &mut self.signals;
        let mut agents: Vec<(&String, &mut AgentState)> = self.agents.iter_mut().collect();
        agents.sort_unstable_by(|a, b| a.0.cmp(b.0));
        for (id, agent) in agents {
            let mut workflows: Vec<(&String, &mut WorkflowState)> =
                agent.workflows.iter_mut().collect();
            workflows.sort_unstable_by(|a, b| a.0.cmp(b.0));
            for (name, wf) in workflows {
                let recent = wf.stats.last_minutes(now_s, 60);
                let baseline = wf.stats.baseline_day(now_s);
                let active = drift::escalation_drift(&recent, &baseline, wf.escalation_drift);
                if active != wf.escalation_drift {
                    wf.escalation_drift = active;
                    signals.push(Signal::Drift {
                        agent: id.clone(),
                        subject: DriftSubject::Escalation {
                            workflow: name.clone(),
                        },
                        active,
                        rate: recent.escalation_rate().unwrap_or(0.0),
                        baseline: baseline.escalation_rate().unwrap_or(0.0),
                        at: utc(now_s),
                    });
                }
            }
            let mut tools: Vec<(&String, &mut ToolState)> = agent.tools.iter_mut().collect();
            tools.sort_unstable_by(|a, b| a.0.cmp(b.0));
            for (tool, ts) in tools {
                let recent = ts.stats.last_minutes(now_s, drift::TOOL_WINDOW_MIN);
                let baseline = ts.stats.baseline_day(now_s);
                let active = drift::tool_spike(&recent, &baseline, ts.spiking);
                if active != ts.spiking {
                    ts.spiking = active;
                    signals.push(Signal::Drift {
                        agent: id.clone(),
                        subject: DriftSubject::ToolErrors { tool: tool.clone() },
                        active,
                        rate: recent.error_rate().unwrap_or(0.0),
                        baseline: baseline.error_rate().unwrap_or(0.0),
                        at: utc(now_s),
                    });
                }
            }
        }
    }

    /// The status of every series at `now`, sorted by series id.
    pub fn statuses(&self, now: DateTime<Utc>) -> Vec<SloStatus> {
        let mut out: Vec<SloStatus> = (0..self.series.len())
            .filter_map(|i| self.status(i, now))
            .collect();
        out.sort_by(|a, b| a.series.cmp(&b.series));
        out
    }

    /// The status of the series with id `slo/agent/workflow`.
    pub fn status_of(&self, series_id: &str, now: DateTime<Utc>) -> Option<SloStatus> {
        let i = self.series.iter().position(|s| s.id == series_id)?;
        self.status(i, now)
    }

    fn status(&self, index: usize, now: DateTime<Utc>) -> Option<SloStatus> {
        let now_s = now.timestamp();
        let s = self.series.get(index)?;
        let spec = self.specs.get(s.spec)?;
        let agent = self.agents.get(&s.agent)?;
        let wf = agent.workflows.get(&s.workflow)?;
        let windows = s.windows(now_s);
        let burn = windows.burn_rates(spec.objective);
        let window: Counts = s.window_total(now_s, spec.window_days);
        let remaining = burn::budget_remaining(window, spec.objective);
        let recent = wf.stats.last_minutes(now_s, 60);
        let baseline = wf.stats.baseline_day(now_s);
        let latency = wf.stats.latency(now_s);
        let (bad_per_min, total_per_min) = s
            .per_minute(now_s, 60)
            .map(|b| (b.total - b.good.min(b.total), b.total))
            .unzip();
        let since = now - chrono::Duration::days(1);
        Some(SloStatus {
            series: s.id.clone(),
            slo: spec.name.clone(),
            agent: s.agent.clone(),
            workflow: s.workflow.clone(),
            sli: spec.sli,
            objective: spec.objective,
            window_days: spec.window_days,
            critical: spec.critical,
            total: window.total,
            good: window.good,
            ratio: window.ratio(),
            ratio_1h: windows.h1.ratio(),
            budget_remaining: remaining,
            exhaustion_s: burn::exhaustion_s(
                remaining,
                burn.h1,
                u64::from(spec.window_days) * 86_400,
            ),
            burn,
            alert: s.alert,
            latency_p50_ms: latency.p50,
            latency_p95_ms: latency.p95,
            latency_p99_ms: latency.p99,
            cost_per_success_usd: recent.cost_per_success_usd(),
            violation_rate: recent.violation_rate(),
            escalation_rate: recent.escalation_rate(),
            escalation_baseline: baseline.escalation_rate(),
            runs_1h: recent.runs,
            bad_per_min,
            total_per_min,
            markers: agent
                .markers
                .iter()
                .filter(|m| m.at >= since && m.at <= now)
                .cloned()
                .collect(),
        })
    }

    /// The share of the error budget of series `series_id` that its bad
    /// events in the hour buckets overlapping `[from, to)` used up: those
    /// bad events divided by the bad events the objective allows over the
    /// SLO window as of `now` (`(1 − objective) × total`), the same
    /// denominator as `budget_remaining`. `0.0` when the SLO window has no
    /// events; none for an unknown series or an objective of 1.
    pub fn budget_burned(
        &self,
        series_id: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Option<f64> {
        let s = self.series.iter().find(|s| s.id == series_id)?;
        let spec = self.specs.get(s.spec)?;
        let window = s.window_total(now.timestamp(), spec.window_days);
        if window.total == 0 {
            return Some(0.0);
        }
        let allowed = (1.0 - spec.objective) * window.total as f64;
        if allowed <= 0.0 {
            return None;
        }
        let shift = s.hours_between(from.timestamp(), to.timestamp());
        Some(shift.bad() as f64 / allowed)
    }

    /// One agent as of `now`.
    pub fn agent(&self, id: &str, now: DateTime<Utc>) -> Option<Agent> {
        self.agents
            .get_key_value(id)
            .map(|(id, a)| agent_view(id, a, now.timestamp()))
    }

    /// Every agent, sorted by id, as of `now`.
    pub fn agents(&self, now: DateTime<Utc>) -> Vec<Agent> {
        let now_s = now.timestamp();
        let mut out: Vec<Agent> = self
            .agents
            .iter()
            .map(|(id, a)| agent_view(id, a, now_s))
            .collect();
        out.sort_by(|a, b| a.id.cmp(&b.id));
        out
    }

    /// Version markers of one agent, oldest first.
    pub fn markers(&self, agent: &str) -> Vec<VersionMarker> {
        self.agents
            .get(agent)
            .map(|a| a.markers.iter().cloned().collect())
            .unwrap_or_default()
    }
}

use record::*;

#[cfg(test)]
mod tests {
    use super::*;

    /// Every event type, with runs over two hours so that series, drift
    /// and markers have something to show.
    fn lines() -> Vec<String> {
        let mut lines = Vec::new();
        for i in 0..2_000u32 {
            let (h, m, s) = (i / 1_000, i % 1_000 / 17, i % 60);
            let ts = format!("2026-11-21T{:02}:{m:02}:{s:02}Z", 10 + h);
            let agent = ["refund-bot", "triage-bot", "kyc-bot"][i as usize % 3];
            let workflow = ["refund", "lookup"][i as usize % 2];
            let outcome = ["success", "success", "escalated", "failed"][i as usize % 4];
            let status = if i % 5 == 0 { "error" } else { "ok" };
            let prompt = if i < 1_200 { "v7" } else { "v8" };
            lines.push(format!(
                r#"{{"v":1,"type":"run.finished","ts":"{ts}","agent":"{agent}","run_id":"r-{i}","workflow":"{workflow}","outcome":"{outcome}","latency_ms":{},"cost_usd":0.01,"tool_calls":[{{"tool":"crm.lookup","status":"{status}"}},{{"tool":"pay\u002erefund","status":"ok"}}],"versions":{{"model":"m1","prompt":"{prompt}"}}}}"#,
                100 + i * 7 % 900
            ));
            let other = match i % 100 {
                0 => format!(
                    r#"{{"v":1,"type":"tool.called","ts":"{ts}","agent":"{agent}","tool":"kb.search","status":"{status}"}}"#
                ),
                10 => format!(
                    r#"{{"v":1,"type":"escalation","ts":"{ts}","agent":"{agent}","workflow":"{workflow}","reason":"unsure"}}"#
                ),
                20 => format!(
                    r#"{{"v":1,"type":"heartbeat","ts":"{ts}","agent":"{agent}","status":"degraded"}}"#
                ),
                30 => format!(
                    r#"{{"v":1,"type":"change","ts":"{ts}","agent":"{agent}","component":"tool","version":"t{i}","deployed_by":"ci"}}"#
                ),
                40 => format!(
                    r#"{{"v":1,"type":"incident.reported","ts":"{ts}","agent":"{agent}","title":"t","severity":"SEV2","category":"drift"}}"#
                ),
                50 => format!(
                    r#"{{"v":1,"type":"approval.requested","ts":"{ts}","agent":"{agent}","request_id":"q{i}","action":"x","risk":"low","deadline":"2026-11-22T00:00:00Z"}}"#
                ),
                _ => continue,
            };
            lines.push(other);
        }
        lines
    }

    #[test]
    fn the_borrowed_fold_is_the_owned_fold() {
        let specs = crate::engine::spec::default_specs();
        let limits = Limits {
            workflows_per_agent: 1,
            ..Limits::default()
        };
        let mut owned = Engine::with_limits(specs.clone(), limits);
        let mut borrowed = Engine::with_limits(specs, limits);
        let mut refused = 0;
        for (n, line) in lines().iter().enumerate() {
            let env = Envelope::decode(line).expect("decodes");
            let env_ref = EnvelopeRef::decode(line).expect("decodes borrowed");
            let result = owned.apply(&env);
            assert_eq!(result, borrowed.apply_ref(&env_ref), "{line}");
            refused += usize::from(result.is_err());
            if n % 50 == 0 {
                owned.tick(env.ts);
                borrowed.tick(env.ts);
                assert_eq!(owned.drain_signals(), borrowed.drain_signals());
            }
        }
        // The second workflow of every agent is over the limit.
        assert!(refused > 0);
        let now = chrono::Utc
            .with_ymd_and_hms(2026, 11, 21, 12, 0, 0)
            .unwrap();
        owned.tick(now);
        borrowed.tick(now);
        assert_eq!(owned.drain_signals(), borrowed.drain_signals());
        assert_eq!(owned.agents(now), borrowed.agents(now));
        assert_eq!(owned.statuses(now), borrowed.statuses(now));
        assert_eq!(owned.markers("refund-bot"), borrowed.markers("refund-bot"));
        assert!(!owned.markers("refund-bot").is_empty());
        assert_eq!(owned.series_count(), borrowed.series_count());
    }

    #[test]
    fn a_dated_snapshot_is_the_same_model() {
        use super::record::same_model;
        assert!(same_model("gpt-4.1-mini", "gpt-4.1-mini-2025-04-14"));
        assert!(same_model("gpt-4.1-mini-2025-04-14", "gpt-4.1-mini"));
        assert!(same_model("claude-sonnet-4", "claude-sonnet-4-20250514"));
        assert!(same_model("gemini-2.0-flash", "gemini-2.0-flash-001"));
        assert!(!same_model("gpt-4.1", "gpt-4.1-mini"));
        assert!(!same_model(
            "gpt-4.1-mini-2025-04-14",
            "gpt-4.1-mini-2025-06-01"
        ));
        assert!(!same_model("gpt-4o", "gpt-4o-2024-1-01"));
    }

    #[test]
    fn request_and_response_model_names_make_no_marker() {
        let mut e = Engine::new(Vec::new());
        let run = |model: &str, ts: &str| {
            Envelope::decode(&format!(
                r#"{{"v":1,"type":"run.finished","ts":"{ts}","agent":"a","run_id":"r-{ts}","outcome":"success","latency_ms":5,"versions":{{"model":"{model}"}}}}"#
            ))
            .unwrap()
        };
        e.apply(&run("gpt-4.1-mini", "2026-12-04T10:00:00Z"))
            .unwrap();
        e.apply(&run("gpt-4.1-mini-2025-04-14", "2026-12-04T10:00:01Z"))
            .unwrap();
        e.apply(&run("gpt-4.1-mini", "2026-12-04T10:00:02Z"))
            .unwrap();
        let changes: Vec<_> = e
            .drain_signals()
            .into_iter()
            .filter(|s| matches!(s, crate::engine::Signal::VersionChanged { .. }))
            .collect();
        assert!(changes.is_empty(), "{changes:?}");
        e.apply(&run("gpt-4.1", "2026-12-04T10:00:03Z")).unwrap();
        assert!(
            e.drain_signals()
                .iter()
                .any(|s| matches!(s, crate::engine::Signal::VersionChanged { .. }))
        );
    }
}
