//! What the fold records per agent: workflows and their SLO series, tools,
//! versions and their change markers, and the signals some events raise;
//! and the agent as the inventory shows it.

use chrono::{DateTime, Utc};

use crate::model::agent::{Agent, Unpriced};
use crate::model::envelope::{
    ApprovalRequest, Change, Component, IncidentReport, ToolStatus, Versions,
};
use crate::model::envelope_ref::RunView;
use crate::model::slo::{SloSpec, VersionMarker};

use super::super::series::SloSeries;
use super::super::spec;
use super::super::stats::{ToolStats, WorkflowStats};
use super::{AgentState, Limits, Map, Rejected, Signal, ToolState, WorkflowState, utc};

pub(super) fn agent_view(id: &str, a: &AgentState, now_s: i64) -> Agent {
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
        unpriced: a.unpriced.as_ref().map(|(model, runs)| Unpriced {
            model: model.clone(),
            runs: *runs,
        }),
    };
    agent.set_profile(None);
    agent
}

/// Runs `f` on the state of `workflow`, creating it (and its SLO series)
/// on first sight within the agent's workflow limit. One map lookup for a
/// known workflow.
pub(super) fn with_workflow<T>(
    agent: &mut AgentState,
    agent_id: &str,
    workflow: &str,
    specs: &[SloSpec],
    series: &mut Vec<SloSeries>,
    limits: Limits,
    f: impl FnOnce(&mut WorkflowState, &mut [SloSeries]) -> T,
) -> Result<T, Rejected> {
    if let Some(wf) = agent.workflows.get_mut(workflow) {
        return Ok(f(wf, series));
    }
    let wf = new_workflow(agent, agent_id, workflow, specs, series, limits)?;
    Ok(f(wf, series))
}

// The functions marked cold below run once per new agent, workflow or tool,
// or for the rare event types: kept out of line, the per-event path stays
// small enough for the instruction cache alongside the decoder.

#[cold]
#[inline(never)]
pub(super) fn register<'m>(
    agents: &'m mut Map<AgentState>,
    signals: &mut Vec<Signal>,
    agent_id: &str,
    t_s: i64,
    limits: Limits,
) -> Result<&'m mut AgentState, Rejected> {
    if agents.len() >= limits.agents {
        return Err(Rejected::TooManyAgents(limits.agents));
    }
    signals.push(Signal::AgentSeen {
        agent: agent_id.to_string(),
    });
    Ok(agents
        .entry(agent_id.to_string())
        .or_insert_with(|| AgentState::new(t_s)))
}

#[cold]
#[inline(never)]
pub(super) fn new_workflow<'a>(
    agent: &'a mut AgentState,
    agent_id: &str,
    workflow: &str,
    specs: &[SloSpec],
    series: &mut Vec<SloSeries>,
    limits: Limits,
) -> Result<&'a mut WorkflowState, Rejected> {
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
    Ok(agent
        .workflows
        .entry(workflow.to_string())
        .or_insert(WorkflowState {
            stats: WorkflowStats::new(),
            series: indices,
            escalation_drift: false,
        }))
}

#[cold]
#[inline(never)]
pub(super) fn approval_signal(
    agent_id: &str,
    at: DateTime<Utc>,
    request: &ApprovalRequest,
) -> Signal {
    Signal::ApprovalRequested {
        agent: agent_id.to_string(),
        at,
        request: request.clone(),
    }
}

#[cold]
#[inline(never)]
pub(super) fn incident_signal(
    agent_id: &str,
    at: DateTime<Utc>,
    report: &IncidentReport,
) -> Signal {
    Signal::IncidentReported {
        agent: agent_id.to_string(),
        at,
        report: report.clone(),
    }
}

#[cold]
#[inline(never)]
pub(super) fn record_change(
    agent: &mut AgentState,
    agent_id: &str,
    at: DateTime<Utc>,
    change: &Change,
    limit: usize,
    signals: &mut Vec<Signal>,
) {
    let marker = VersionMarker {
        at,
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
    signals.push(Signal::VersionChanged {
        agent: agent_id.to_string(),
        marker,
    });
}

pub(super) fn record_tool(
    agent: &mut AgentState,
    t_s: i64,
    tool: &str,
    status: ToolStatus,
    limit: usize,
) {
    if let Some(t) = agent.tools.get_mut(tool) {
        t.stats.record(t_s, status);
        return;
    }
    new_tool(agent, t_s, tool, status, limit);
}

#[cold]
#[inline(never)]
pub(super) fn new_tool(
    agent: &mut AgentState,
    t_s: i64,
    tool: &str,
    status: ToolStatus,
    limit: usize,
) {
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

/// Version markers: a run with a version other than the last one seen.
pub(super) fn record_versions<R: RunView>(
    agent: &mut AgentState,
    agent_id: &str,
    t_s: i64,
    run: &R,
    limit: usize,
    signals: &mut Vec<Signal>,
) {
    for component in Component::ALL {
        let Some(new) = run.version(component) else {
            continue;
        };
        let old = agent.versions.get(component);
        if old == Some(new) {
            continue;
        }
        if component == Component::Model
            && let Some(old) = old
            && same_model(old, new)
        {
            // The request names the model, the response its dated
            // snapshot: one model. Keep the more precise name, no marker.
            if new.len() > old.len() {
                set_version(&mut agent.versions, component, new);
            }
            continue;
        }
        version_seen(agent, agent_id, t_s, component, new, limit, signals);
    }
}

/// A run whose cost leaves out a model's calls, for want of its price.
#[cold]
#[inline(never)]
pub(super) fn record_unpriced(agent: &mut AgentState, model: &str) {
    match &mut agent.unpriced {
        Some((last, runs)) => {
            *runs += 1;
            if last != model {
                *last = model.to_string();
            }
        }
        None => agent.unpriced = Some((model.to_string(), 1)),
    }
}

/// Whether two model names are one model: a name and a dated snapshot of
/// it (`gpt-4.1-mini` and `gpt-4.1-mini-2025-04-14`, `claude-sonnet-4` and
/// `claude-sonnet-4-20250514`, `gemini-2.0-flash` and `gemini-2.0-flash-001`),
/// as a request and its response name them. Two different snapshots are
/// two models.
pub(super) fn same_model(a: &str, b: &str) -> bool {
    a == b || snapshot_of(a, b) || snapshot_of(b, a)
}

fn snapshot_of(base: &str, dated: &str) -> bool {
    let Some(rest) = dated.strip_prefix(base) else {
        return false;
    };
    let Some(tail) = rest.strip_prefix('-').or_else(|| rest.strip_prefix('@')) else {
        return false;
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let dashed_date = tail.len() == 10
        && tail.as_bytes()[4] == b'-'
        && tail.as_bytes()[7] == b'-'
        && digits(&tail[..4])
        && digits(&tail[5..7])
        && digits(&tail[8..]);
    dashed_date || (digits(tail) && (tail.len() == 8 || tail.len() == 3))
}

#[cold]
#[inline(never)]
pub(super) fn version_seen(
    agent: &mut AgentState,
    agent_id: &str,
    t_s: i64,
    component: Component,
    new: &str,
    limit: usize,
    signals: &mut Vec<Signal>,
) {
    let from = agent.versions.get(component).map(str::to_string);
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
        push_marker(agent, marker.clone(), limit);
        signals.push(Signal::VersionChanged {
            agent: agent_id.to_string(),
            marker,
        });
    }
}

pub(super) fn set_version(versions: &mut Versions, component: Component, value: &str) {
    let slot = match component {
        Component::Model => &mut versions.model,
        Component::Prompt => &mut versions.prompt,
        Component::Tool => &mut versions.tool,
        Component::Policy => &mut versions.policy,
    };
    *slot = Some(value.to_string());
}

pub(super) fn push_marker(agent: &mut AgentState, marker: VersionMarker, limit: usize) {
    if agent.markers.len() >= limit {
        agent.markers.pop_front();
    }
    agent.markers.push_back(marker);
}
