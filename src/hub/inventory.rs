//! The agent inventory and drill-down: registrations
//! (`PUT /v1/agents/{agent}`), approval metrics per action, changes with
//! the success ratio around them, and the one-request agent detail.

use axum::http::StatusCode;
use chrono::{DateTime, Duration, Utc};
use serde_json::json;

use crate::model::approval::ApprovalState;
use crate::model::drill::{
    AgentDetail, ApprovalClass, ApprovalMetrics, ChangeImpact, Changes, FailedRuns, Performance,
    ToolRates, TopRuns,
};
use crate::model::profile::AgentProfile;

use super::auth::Principal;
use super::core::Core;
use super::error::ApiError;
use super::ops::Outcome;
use super::store::CallbackRow;

/// Days of approvals the approval metrics cover.
pub const APPROVAL_METRICS_DAYS: i64 = 7;
/// Changes listed in an agent's detail and in an incident's note.
pub const CHANGES_LISTED: usize = 10;

/// `PUT /v1/agents/{agent}`: records (or replaces) an agent's
/// registration. A `callback_url` also moves the agent's signed callbacks
/// there when a signing secret is already registered.
pub fn register(
    core: &mut Core,
    who: &Principal,
    agent: &str,
    profile: AgentProfile,
    now: DateTime<Utc>,
) -> Outcome {
    profile
        .validate()
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let mut change = core.change();
    if let Some(url) = &profile.callback_url
        && let Some(row) = core.callback_of(agent)
        && &row.url != url
    {
        change.batch.callbacks.push(CallbackRow {
            agent: agent.to_string(),
            url: url.clone(),
            secret: row.secret.clone(),
        });
    }
    let owner = |c: &Option<crate::model::profile::Contact>| c.as_ref().map(|c| c.name.clone());
    change.audit(
        now,
        &who.name,
        Some(who.role),
        "agent.registered",
        agent,
        json!({
            "business_owner": owner(&profile.business_owner),
            "technical_owner": owner(&profile.technical_owner),
            "incident_owner": owner(&profile.incident_owner),
            "criticality": profile.criticality,
            "autonomy": profile.autonomy,
            "tools": profile.tools.len(),
            "callback_url": profile.callback_url,
        }),
    );
    change
        .batch
        .profiles
        .push((agent.to_string(), profile.clone()));
    let mut view = core
        .agent(agent, now)
        .unwrap_or_else(|| crate::model::agent::Agent::registered_only(agent, profile.clone()));
    view.set_profile(Some(profile));
    Ok((StatusCode::OK, json!(view), change))
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.clamp(1, sorted.len()) - 1).copied()
}

fn ratio(num: u64, den: u64) -> Option<f64> {
    (den > 0).then(|| num as f64 / den as f64)
}

/// Approval figures per action for `agent` over the last
/// [`APPROVAL_METRICS_DAYS`] days (by request time).
pub fn approval_metrics(core: &Core, agent: &str, now: DateTime<Utc>) -> ApprovalMetrics {
    let since = now - Duration::days(APPROVAL_METRICS_DAYS);
    let mut classes: Vec<(ApprovalClass, Vec<f64>)> = Vec::new();
    for a in core
        .desk
        .approvals
        .values()
        .filter(|a| a.agent == agent && a.requested_at >= since)
    {
        let at = match classes.iter().position(|(c, _)| c.action == a.action) {
            Some(i) => i,
            None => {
                classes.push((
                    ApprovalClass {
                        action: a.action.clone(),
                        risk: a.risk,
                        requests: 0,
                        open: 0,
                        approved: 0,
                        rejected: 0,
                        expired: 0,
                        latency_p50_s: None,
                        latency_p95_s: None,
                        timeout_rate: None,
                        rejection_rate: None,
                        callbacks_delivered: 0,
                        callbacks_failed: 0,
                        callback_success_rate: None,
                    },
                    Vec::new(),
                ));
                classes.len() - 1
            }
        };
        let (class, latencies) = &mut classes[at];
        class.risk = class.risk.max(a.risk);
        class.requests += 1;
        match a.state {
            ApprovalState::Pending | ApprovalState::Escalated => class.open += 1,
            ApprovalState::Approved => class.approved += 1,
            ApprovalState::Rejected => class.rejected += 1,
            ApprovalState::Expired => class.expired += 1,
        }
        if matches!(a.state, ApprovalState::Approved | ApprovalState::Rejected)
            && let Some(last) = a.decisions.last()
        {
            latencies.push((last.at - a.requested_at).num_milliseconds().max(0) as f64 / 1000.0);
        }
    }
    let mut out: Vec<ApprovalClass> = classes
        .into_iter()
        .map(|(mut c, mut latencies)| {
            latencies.sort_by(f64::total_cmp);
            c.latency_p50_s = percentile(&latencies, 0.50);
            c.latency_p95_s = percentile(&latencies, 0.95);
            c.timeout_rate = ratio(c.expired, c.approved + c.rejected + c.expired);
            c.rejection_rate = ratio(c.rejected, c.approved + c.rejected);
            let (delivered, failed) = core
                .callback_tally
                .get(&(agent.to_string(), c.action.clone()))
                .copied()
                .unwrap_or_default();
            c.callbacks_delivered = delivered;
            c.callbacks_failed = failed;
            c.callback_success_rate = ratio(delivered, delivered + failed);
            c
        })
        .collect();
    out.sort_by(|x, y| {
        y.requests
            .cmp(&x.requests)
            .then_with(|| x.action.cmp(&y.action))
    });
    ApprovalMetrics {
        agent: agent.to_string(),
        since,
        classes: out,
    }
}

/// The agent's last [`CHANGES_LISTED`] version changes, newest first, with
/// the success ratio in the hour before and after each.
pub fn changes(core: &Core, agent: &str, now: DateTime<Utc>) -> Changes {
    let changes = core
        .engine
        .markers(agent)
        .into_iter()
        .rev()
        .take(CHANGES_LISTED)
        .map(|m| {
            let around = core.drill.around(agent, m.at, now);
            ChangeImpact {
                at: m.at,
                component: m.component,
                from: m.from,
                to: m.to,
                deployed_by: m.deployed_by,
                approved_by: m.approved_by,
                before: around.map(|(b, _)| b),
                after: around.map(|(_, a)| a),
            }
        })
        .collect();
    Changes {
        agent: agent.to_string(),
        changes,
    }
}

/// Latency, outcomes and cost.
pub fn performance(core: &Core, agent: &str, now: DateTime<Utc>) -> Performance {
    core.drill.performance(agent, now)
}

/// The slowest or costliest runs of the last 24 h.
pub fn top_runs(core: &Core, agent: &str, by_cost: bool, now: DateTime<Utc>) -> TopRuns {
    let (since, runs) = core.drill.top_runs(agent, by_cost, now);
    TopRuns {
        agent: agent.to_string(),
        by: if by_cost { "cost" } else { "latency" }.to_string(),
        since,
        runs,
    }
}

/// The last failed and escalated runs.
pub fn failed_runs(core: &Core, agent: &str) -> FailedRuns {
    FailedRuns {
        agent: agent.to_string(),
        runs: core.drill.failed_runs(agent),
    }
}

/// Tool error rates.
pub fn tool_rates(core: &Core, agent: &str, now: DateTime<Utc>) -> ToolRates {
    ToolRates {
        agent: agent.to_string(),
        tools: core.drill.tool_rates(agent, now),
    }
}

/// Everything about one agent; none when the hub has never heard of it.
pub fn detail(core: &Core, agent: &str, now: DateTime<Utc>) -> Option<AgentDetail> {
    Some(AgentDetail {
        agent: core.agent(agent, now)?,
        performance: performance(core, agent, now),
        slowest: top_runs(core, agent, false, now),
        costliest: top_runs(core, agent, true, now),
        failed: failed_runs(core, agent),
        tools: tool_rates(core, agent, now),
        approvals: approval_metrics(core, agent, now),
        changes: changes(core, agent, now),
    })
}

/// Timeline text naming the agent's changes in the 24 h before
/// `burn_start`, newest first, e.g. "prompt v8 (was v7) deployed by dana,
/// approved by lee, 12 min before the burn started". None without changes.
pub fn change_note(core: &Core, agent: &str, burn_start: DateTime<Utc>) -> Option<String> {
    let lines: Vec<String> = core
        .engine
        .markers(agent)
        .into_iter()
        .rev()
        .filter(|m| m.at <= burn_start && burn_start - m.at <= Duration::hours(24))
        .take(3)
        .map(|m| {
            let mut text = format!("{} {}", m.component.as_str(), m.to);
            if let Some(from) = &m.from {
                text.push_str(&format!(" (was {from})"));
            }
            text.push_str(" deployed");
            if let Some(by) = &m.deployed_by {
                text.push_str(&format!(" by {by}"));
            }
            if let Some(by) = &m.approved_by {
                text.push_str(&format!(", approved by {by}"));
            }
            let minutes = (burn_start - m.at).num_minutes();
            text.push_str(&format!(
                ", {} before the burn started ({})",
                span(minutes),
                m.at.format("%H:%M UTC")
            ));
            text
        })
        .collect();
    (!lines.is_empty()).then(|| format!("Changes before the burn: {}", lines.join("; ")))
}

fn span(minutes: i64) -> String {
    if minutes < 120 {
        format!("{minutes} min")
    } else {
        format!("{} h {} min", minutes / 60, minutes % 60)
    }
}
