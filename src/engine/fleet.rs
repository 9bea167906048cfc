//! The engine's fold over every agent's events.

use std::collections::{HashMap, VecDeque};

use chrono::{DateTime, TimeZone, Utc};

use crate::model::agent::Agent;
use crate::model::envelope::{
    ApprovalRequest, Component, Envelope, Event, IncidentReport, RunFinished, Versions,
};
use crate::model::slo::{AlertLevel, BurnRates, SloSpec, SloStatus, VersionMarker};

use super::burn::{self, Counts};
use super::drift;
use super::series::{self, SloSeries};
use super::spec;
use super::stats::{ToolStats, WorkflowStats};

/// Bounds on what the engine keeps, so a hostile or buggy sender cannot
/// grow its memory without limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

struct WorkflowState {
    stats: WorkflowStats,
    series: Vec<usize>,
    escalation_drift: bool,
}

struct ToolState {
    stats: ToolStats,
    spiking: bool,
}

struct AgentState {
    first_seen_s: i64,
    last_seen_s: i64,
    last_heartbeat_s: Option<i64>,
    health: Option<crate::model::envelope::HealthStatus>,
    versions: Versions,
    workflows: HashMap<String, WorkflowState>,
    tools: HashMap<String, ToolState>,
    markers: VecDeque<VersionMarker>,
}

/// The fold: SLO series, run statistics, drift and version markers for
/// every agent, fed by [`Engine::apply`] and evaluated by [`Engine::tick`].
pub struct Engine {
    specs: Vec<SloSpec>,
    limits: Limits,
    agents: HashMap<String, AgentState>,
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
            agents: HashMap::new(),
            series: Vec::new(),
            signals: Vec::new(),
            now_s: i64::MIN,
        }
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
        let t_s = env.ts.timestamp();
        // An event far ahead of the clock would take over ring slots that
        // still hold the present.
        if self.now_s != i64::MIN && t_s > self.now_s.saturating_add(MAX_AHEAD_S) {
            return Err(Rejected::TooFarAhead(t_s - self.now_s));
        }
        if !self.agents.contains_key(env.agent.as_str()) {
            if self.agents.len() >= self.limits.agents {
                return Err(Rejected::TooManyAgents(self.limits.agents));
            }
            self.agents.insert(
                env.agent.clone(),
                AgentState {
                    first_seen_s: t_s,
                    last_seen_s: t_s,
                    last_heartbeat_s: None,
                    health: None,
                    versions: Versions::default(),
                    workflows: HashMap::new(),
                    tools: HashMap::new(),
                    markers: VecDeque::new(),
                },
            );
            self.signals.push(Signal::AgentSeen {
                agent: env.agent.clone(),
            });
        }
        match &env.event {
            Event::RunFinished(run) => self.apply_run(&env.agent, t_s, run)?,
            Event::ToolCalled(call) => {
                let limit = self.limits.tools_per_agent;
                if let Some(agent) = self.agents.get_mut(env.agent.as_str()) {
                    record_tool(agent, t_s, &call.tool, call.status, limit);
                }
            }
            Event::Escalation(e) => {
                let specs = &self.specs;
                let limits = self.limits;
                let series = &mut self.series;
                if let Some(agent) = self.agents.get_mut(env.agent.as_str()) {
                    let wf = workflow_mut(agent, &env.agent, &e.workflow, specs, series, limits)?;
                    wf.stats.record_escalation(t_s);
                }
            }
            Event::ApprovalRequested(request) => self.signals.push(Signal::ApprovalRequested {
                agent: env.agent.clone(),
                at: env.ts,
                request: request.clone(),
            }),
            Event::IncidentReported(report) => self.signals.push(Signal::IncidentReported {
                agent: env.agent.clone(),
                at: env.ts,
                report: report.clone(),
            }),
            Event::Change(change) => {
                let limit = self.limits.markers_per_agent;
                if let Some(agent) = self.agents.get_mut(env.agent.as_str()) {
                    let marker = VersionMarker {
                        at: env.ts,
                        component: change.component,
                        from: change
                            .previous
                            .clone()
                            .or_else(|| agent.versions.get(change.component).map(str::to_string)),
                        to: change.version.clone(),
                        deployed_by: Some(change.deployed_by.clone()),
                        approved_by: change.approved_by.clone(),
                    };
                    set_version(&mut agent.versions, change.component, &change.version);
                    push_marker(agent, marker.clone(), limit);
                    self.signals.push(Signal::VersionChanged {
                        agent: env.agent.clone(),
                        marker,
                    });
                }
            }
            Event::Heartbeat(hb) => {
                if let Some(agent) = self.agents.get_mut(env.agent.as_str()) {
                    agent.last_heartbeat_s = Some(agent.last_heartbeat_s.unwrap_or(t_s).max(t_s));
                    agent.health = hb.status.or(agent.health);
                }
            }
        }
        if let Some(agent) = self.agents.get_mut(env.agent.as_str()) {
            agent.last_seen_s = agent.last_seen_s.max(t_s);
            agent.first_seen_s = agent.first_seen_s.min(t_s);
        }
        Ok(())
    }

    fn apply_run(&mut self, agent_id: &str, t_s: i64, run: &RunFinished) -> Result<(), Rejected> {
        let limits = self.limits;
        let specs = &self.specs;
        let series = &mut self.series;
        let Some(agent) = self.agents.get_mut(agent_id) else {
            return Ok(());
        };
        let wf = workflow_mut(agent, agent_id, &run.workflow, specs, series, limits)?;
        wf.stats.record_run(t_s, run);
        for &i in &wf.series {
            let s = &mut series[i];
            let good = series::is_good(&specs[s.spec], run);
            s.record(t_s, good);
        }
        for call in &run.tool_calls {
            record_tool(agent, t_s, &call.tool, call.status, limits.tools_per_agent);
        }
        // Version markers: a run with a version other than the last one seen.
        for component in Component::ALL {
            let Some(new) = run.versions.get(component) else {
                continue;
            };
            let old = agent.versions.get(component);
            if old == Some(new) {
                continue;
            }
            let from = old.map(str::to_string);
            set_version(&mut agent.versions, component, new);
            if from.is_some() {
                let marker = VersionMarker {
                    at: utc(t_s),
                    component,
                    from,
                    to: new.to_string(),
                    deployed_by: None,
                    approved_by: None,
                };
                push_marker(agent, marker.clone(), limits.markers_per_agent);
                self.signals.push(Signal::VersionChanged {
                    agent: agent_id.to_string(),
                    marker,
                });
            }
        }
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
        let mut ids: Vec<&String> = self.agents.keys().collect();
        ids.sort();
        let ids: Vec<String> = ids.into_iter().cloned().collect();
        for id in ids {
            let Some(agent) = self.agents.get_mut(&id) else {
                continue;
            };
            let mut names: Vec<&String> = agent.workflows.keys().collect();
            names.sort();
            let names: Vec<String> = names.into_iter().cloned().collect();
            for name in names {
                let Some(wf) = agent.workflows.get_mut(&name) else {
                    continue;
                };
                let recent = wf.stats.last_minutes(now_s, 60);
                let baseline = wf.stats.baseline_day(now_s);
                let active = drift::escalation_drift(&recent, &baseline, wf.escalation_drift);
                if active != wf.escalation_drift {
                    wf.escalation_drift = active;
                    self.signals.push(Signal::Drift {
                        agent: id.clone(),
                        subject: DriftSubject::Escalation { workflow: name },
                        active,
                        rate: recent.escalation_rate().unwrap_or(0.0),
                        baseline: baseline.escalation_rate().unwrap_or(0.0),
                        at: utc(now_s),
                    });
                }
            }
            let mut tools: Vec<&String> = agent.tools.keys().collect();
            tools.sort();
            let tools: Vec<String> = tools.into_iter().cloned().collect();
            for tool in tools {
                let Some(ts) = agent.tools.get_mut(&tool) else {
                    continue;
                };
                let recent = ts.stats.last_minutes(now_s, drift::TOOL_WINDOW_MIN);
                let baseline = ts.stats.baseline_day(now_s);
                let active = drift::tool_spike(&recent, &baseline, ts.spiking);
                if active != ts.spiking {
                    ts.spiking = active;
                    self.signals.push(Signal::Drift {
                        agent: id.clone(),
                        subject: DriftSubject::ToolErrors { tool },
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

fn agent_view(id: &str, a: &AgentState, now_s: i64) -> Agent {
    let mut workflows: Vec<String> = a.workflows.keys().cloned().collect();
    workflows.sort();
    let mut tools: Vec<String> = a.tools.keys().cloned().collect();
    tools.sort();
    let mut agent = Agent {
        id: id.to_string(),
        registered: false,
        first_seen: Some(utc(a.first_seen_s)),
        last_seen: Some(utc(a.last_seen_s)),
        last_heartbeat: a.last_heartbeat_s.map(utc),
        health: a.health,
        versions: a.versions.clone(),
        workflows,
        tools,
        // The last whole minute: the current one is still filling.
        runs_last_minute: a
            .workflows
            .values()
            .map(|w| w.stats.last_minutes(now_s - 60, 1).runs)
            .sum(),
        profile: None,
        findings: Vec::new(),
    };
    agent.set_profile(None);
    agent
}

fn workflow_mut<'a>(
    agent: &'a mut AgentState,
    agent_id: &str,
    workflow: &str,
    specs: &[SloSpec],
    series: &mut Vec<SloSeries>,
    limits: Limits,
) -> Result<&'a mut WorkflowState, Rejected> {
    if !agent.workflows.contains_key(workflow) {
        if agent.workflows.len() >= limits.workflows_per_agent {
            return Err(Rejected::TooManyWorkflows {
                agent: agent_id.to_string(),
                limit: limits.workflows_per_agent,
            });
        }
        let mut indices = Vec::new();
        for (i, spec) in specs.iter().enumerate() {
            if spec::selects(&spec.agent, agent_id) && spec::selects(&spec.workflow, workflow) {
                indices.push(series.len());
                series.push(SloSeries::new(i, spec, agent_id, workflow));
            }
        }
        agent.workflows.insert(
            workflow.to_string(),
            WorkflowState {
                stats: WorkflowStats::new(),
                series: indices,
                escalation_drift: false,
            },
        );
    }
    // Inserted just above when absent.
    agent
        .workflows
        .get_mut(workflow)
        .ok_or(Rejected::TooManyWorkflows {
            agent: agent_id.to_string(),
            limit: limits.workflows_per_agent,
        })
}

fn record_tool(
    agent: &mut AgentState,
    t_s: i64,
    tool: &str,
    status: crate::model::envelope::ToolStatus,
    limit: usize,
) {
    if let Some(t) = agent.tools.get_mut(tool) {
        t.stats.record(t_s, status);
        return;
    }
    if agent.tools.len() >= limit {
        return;
    }
    let mut state = ToolState {
        stats: ToolStats::new(),
        spiking: false,
    };
    state.stats.record(t_s, status);
    agent.tools.insert(tool.to_string(), state);
}

fn set_version(versions: &mut Versions, component: Component, value: &str) {
    let slot = match component {
        Component::Model => &mut versions.model,
        Component::Prompt => &mut versions.prompt,
        Component::Tool => &mut versions.tool,
        Component::Policy => &mut versions.policy,
    };
    *slot = Some(value.to_string());
}

fn push_marker(agent: &mut AgentState, marker: VersionMarker, limit: usize) {
    if agent.markers.len() >= limit {
        agent.markers.pop_front();
    }
    agent.markers.push_back(marker);
}
