//! One simulated agent: what its next run does, given the scenario's
//! trouble and the controls the hub has put on it.

use chrono::{DateTime, Duration, Utc};
use serde_json::json;

use crate::model::approval::ApprovalState;
use crate::model::control::{Control, ControlKind};
use crate::model::envelope::{
    ApprovalRequest, Change, Component, Envelope, Event, HealthStatus, Heartbeat, Outcome,
    PolicyViolation, RunFinished, Tokens, ToolCall, ToolStatus, Versions,
};

use super::profile::Profile;
use super::rng::Rng;
use super::scenario::Effects;

/// Escalation rate of a drifted prompt.
pub const DRIFT_ESCALATION_RATE: f64 = 0.30;
/// Token multiplier of a runaway loop.
pub const COST_SPIKE_TOKENS: f64 = 60.0;
/// Share of runs asking for approval during a storm.
pub const STORM_APPROVAL_SHARE: f64 = 0.6;
/// Runs slower than this time out.
pub const TIMEOUT_MS: f64 = 30_000.0;

/// The controls an agent obeys, read from the hub.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Obeyed {
    /// Tools never to call.
    pub disabled_tools: Vec<String>,
    /// Use the slower deterministic fallback path.
    pub fallback: bool,
    /// Escalate every run.
    pub route_to_humans: bool,
    /// Ask before every tool action.
    pub require_approval: bool,
    /// Pinned versions.
    pub pinned: Vec<(Component, String)>,
    /// Take no work.
    pub paused: bool,
}

impl Obeyed {
    /// What a set of controls in force asks of an agent.
    pub fn from_controls(controls: &[Control]) -> Self {
        let mut o = Self::default();
        for c in controls {
            match c.kind {
                ControlKind::DisableTool => {
                    if let Some(t) = &c.tool {
                        o.disabled_tools.push(t.clone());
                    }
                }
                ControlKind::ForceFallback => o.fallback = true,
                ControlKind::RouteToHumans => o.route_to_humans = true,
                ControlKind::RequireApproval => o.require_approval = true,
                ControlKind::PinVersion => {
                    if let Some((component, version)) =
                        c.version.as_deref().and_then(|v| v.split_once(':'))
                        && let Some(component) = Component::parse(component)
                    {
                        o.pinned.push((component, version.to_string()));
                    }
                }
                ControlKind::PauseAgent => o.paused = true,
            }
        }
        o
    }

    fn pinned(&self, component: Component) -> Option<&str> {
        self.pinned
            .iter()
            .find(|(c, _)| *c == component)
            .map(|(_, v)| v.as_str())
    }
}

/// A run waiting for a human decision.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingRun {
    /// The agent's request id.
    pub request_id: String,
    /// When the request expires.
    pub deadline: DateTime<Utc>,
    /// The tool the decision unlocks.
    pub tool: String,
    /// The run as it will be reported, before the decision is known.
    run: RunFinished,
}

/// What an agent does next.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Paused: no run.
    Idle,
    /// A finished run.
    Done(Envelope),
    /// An approval request; the run finishes when it is decided.
    Ask(Envelope, Box<PendingRun>),
}

/// One agent of the fleet.
#[derive(Debug, Clone)]
pub struct SimAgent {
    /// Who it is.
    pub profile: Profile,
    /// Its id (the profile's, numbered beyond the first five).
    pub id: String,
    rng: Rng,
    runs: u64,
    drift_deployed: Option<String>,
}

impl SimAgent {
    /// Agent number `index` of a fleet seeded with `seed`.
    pub fn new(profile: Profile, index: usize, seed: u64) -> Self {
        let id = if index < 5 {
            profile.id.to_string()
        } else {
            format!("{}-{}", profile.id, index / 5 + 1)
        };
        Self {
            profile,
            id,
            rng: Rng::new(seed, index as u64 + 1),
            runs: 0,
            drift_deployed: None,
        }
    }

    fn prompt(&self, obeyed: &Obeyed) -> String {
        obeyed
            .pinned(Component::Prompt)
            .map(str::to_string)
            .or_else(|| self.drift_deployed.clone())
            .unwrap_or_else(|| self.profile.prompt.to_string())
    }

    /// Deployments the scenario causes now (a `change` event when a drifted
    /// prompt rolls out).
    pub fn deployments(&mut self, now: DateTime<Utc>, effects: &Effects) -> Vec<Envelope> {
        match effects.drift {
            Some((agent, version)) if agent == self.profile.id && self.drift_deployed.is_none() => {
                self.drift_deployed = Some(version.to_string());
                vec![Envelope::new(
                    now,
                    self.id.clone(),
                    Event::Change(Change {
                        component: Component::Prompt,
                        version: version.to_string(),
                        previous: Some(self.profile.prompt.to_string()),
                        deployed_by: "ci-pipeline".into(),
                        approved_by: Some("release-bot".into()),
                        note: Some("prompt rollout: shorter system prompt".into()),
                    }),
                )]
            }
            _ => Vec::new(),
        }
    }

    /// A heartbeat.
    pub fn heartbeat(&self, now: DateTime<Utc>, obeyed: &Obeyed) -> Envelope {
        Envelope::new(
            now,
            self.id.clone(),
            Event::Heartbeat(Heartbeat {
                status: Some(if obeyed.paused {
                    HealthStatus::Degraded
                } else {
                    HealthStatus::Ok
                }),
                interval_s: Some(10),
            }),
        )
    }

    /// The next run at `now`.
    pub fn step(&mut self, now: DateTime<Utc>, effects: &Effects, obeyed: &Obeyed) -> Step {
        if obeyed.paused {
            return Step::Idle;
        }
        self.runs += 1;
        let run_id = format!("{}-{:06}", self.id, self.runs);
        let (run, asks_for) = self.run(run_id.clone(), effects, obeyed);
        match asks_for {
            None => Step::Done(Envelope::new(now, self.id.clone(), Event::RunFinished(run))),
            Some(tool) => self.ask(now, obeyed, tool, run_id, run),
        }
    }

    /// One run as the agent would report it, and the tool it must ask
    /// approval for first, if any. Every random draw is made here in the
    /// same order on every run, so a seed gives the same fleet.
    fn run(
        &mut self,
        run_id: String,
        effects: &Effects,
        obeyed: &Obeyed,
    ) -> (RunFinished, Option<&'static str>) {
        let p = &self.profile;
        let r = &mut self.rng;
        let prompt = obeyed
            .pinned(Component::Prompt)
            .map(str::to_string)
            .or_else(|| self.drift_deployed.clone())
            .unwrap_or_else(|| p.prompt.to_string());
        let drifted = self.drift_deployed.as_deref() == Some(prompt.as_str());
        let mine = |a: Option<&'static str>| a == Some(p.id);
        let mut model = obeyed
            .pinned(Component::Model)
            .map(str::to_string)
            .unwrap_or_else(|| p.model.to_string());
        let (mut median, mut sigma) = (p.latency_ms, p.latency_sigma);
        if mine(effects.latency_tail) {
            median *= 1.6;
            sigma = 1.3;
        }
        if obeyed.fallback {
            median *= 1.8;
            sigma = 0.2;
        }
        let latency_ms = r.log_normal(median, sigma);
        let mut token_factor = 1.0;
        let (mut price_in, mut price_out) = (p.price_in, p.price_out);
        if mine(effects.cost_spike) && !obeyed.fallback {
            token_factor = COST_SPIKE_TOKENS;
            model = "gpt-4o-2024-08-06".to_string();
            (price_in, price_out) = (0.0025, 0.01);
        }
        let tokens = if obeyed.fallback || obeyed.route_to_humans {
            Tokens {
                input: 0,
                output: 0,
            }
        } else {
            Tokens {
                input: (r.log_normal(p.tokens_in, 0.3) * token_factor) as u64,
                output: (r.log_normal(p.tokens_out, 0.3) * token_factor) as u64,
            }
        };
        let cost_usd =
            tokens.input as f64 * price_in / 1000.0 + tokens.output as f64 * price_out / 1000.0;
        let (outcome, error, tool_calls, asks_for) =
            self.outcome(effects, obeyed, drifted, latency_ms);
        let p = &self.profile;
        let r = &mut self.rng;
        let policy_violations =
            if !obeyed.fallback && !obeyed.route_to_humans && r.chance(p.violation_rate) {
                vec![PolicyViolation {
                    policy: p.policy.to_string(),
                    detail: Some("blocked by the output guard".into()),
                }]
            } else {
                Vec::new()
            };
        let run = RunFinished {
            run_id,
            workflow: p.workflow.to_string(),
            outcome,
            latency_ms: latency_ms.min(TIMEOUT_MS) as u64,
            cost_usd,
            tokens: Some(tokens),
            tool_calls,
            policy_violations,
            versions: Versions {
                model: Some(if obeyed.fallback {
                    "rules-engine-1".into()
                } else {
                    model
                }),
                prompt: Some(prompt),
                tool: None,
                policy: None,
            },
            error,
            unpriced_model: None,
        };
        (run, asks_for)
    }

    /// How a run ends: its tool calls in order (a disabled tool hands the
    /// run to a human, a failed one fails it), or the tool it must ask
    /// approval for, else timeout, failure or escalation by the profile.
    fn outcome(
        &mut self,
        effects: &Effects,
        obeyed: &Obeyed,
        drifted: bool,
        latency_ms: f64,
    ) -> (Outcome, Option<String>, Vec<ToolCall>, Option<&'static str>) {
        let p = &self.profile;
        let r = &mut self.rng;
        let mine = |a: Option<&'static str>| a == Some(p.id);
        let mut outcome = Outcome::Success;
        let mut error = None;
        let mut tool_calls = Vec::new();
        let mut asks_for: Option<&'static str> = None;
        if obeyed.route_to_humans {
            outcome = Outcome::Escalated;
        } else {
            for t in &p.tools {
                if !r.chance(t.used_by) {
                    continue;
                }
                if obeyed.disabled_tools.iter().any(|d| d == t.name) {
                    // Never call a disabled tool: hand the run to a human.
                    outcome = Outcome::Escalated;
                    error = Some(format!(
                        "{} is disabled by the hub; routed to a human",
                        t.name
                    ));
                    break;
                }
                let needs_approval = p.approval.as_ref().is_some_and(|a| a.tool == t.name)
                    && (r.chance(p.approval.as_ref().map_or(0.0, |a| a.share))
                        || mine(effects.approval_storm) && r.chance(STORM_APPROVAL_SHARE));
                if (needs_approval || obeyed.require_approval) && asks_for.is_none() {
                    asks_for = Some(t.name);
                    break;
                }
                let rate = match effects.outage {
                    Some((agent, tool, rate)) if agent == p.id && tool == t.name => rate,
                    _ => t.error_rate,
                };
                let failed = r.chance(rate);
                tool_calls.push(ToolCall {
                    tool: t.name.to_string(),
                    status: if failed {
                        ToolStatus::Error
                    } else {
                        ToolStatus::Ok
                    },
                    latency_ms: Some(r.log_normal(t.latency_ms, 0.4) as u64),
                    error: failed.then(|| "upstream returned 503".to_string()),
                });
                if failed {
                    outcome = Outcome::Failed;
                    error = Some(format!("{} failed: upstream returned 503", t.name));
                    break;
                }
            }
            if outcome == Outcome::Success && asks_for.is_none() {
                let escalation = if obeyed.fallback {
                    0.15
                } else if drifted {
                    DRIFT_ESCALATION_RATE
                } else {
                    p.escalation_rate
                };
                if latency_ms > TIMEOUT_MS {
                    outcome = Outcome::TimedOut;
                } else if r.chance(p.failure_rate) {
                    outcome = Outcome::Failed;
                    error = Some("model returned an unparseable plan".into());
                } else if r.chance(escalation) {
                    outcome = Outcome::Escalated;
                }
            }
        }
        (outcome, error, tool_calls, asks_for)
    }

    /// The approval request for a run that must ask before calling `tool`;
    /// the run waits in [`PendingRun`] for the decision.
    fn ask(
        &mut self,
        now: DateTime<Utc>,
        obeyed: &Obeyed,
        tool: &'static str,
        run_id: String,
        run: RunFinished,
    ) -> Step {
        let p = &self.profile;
        let r = &mut self.rng;
        let spec = p.approval.clone();
        let (action, risk, deadline_s, reason) = match &spec {
            Some(a) if a.tool == tool => (a.action, a.risk, a.deadline_s, a.reason),
            _ => (
                tool,
                crate::model::envelope::Risk::Medium,
                180,
                "every tool action needs approval while autonomy is reduced",
            ),
        };
        let amount = 200 + r.below(800);
        let args = match p.id {
            "refund-bot" => {
                json!({"order_id": format!("A-{}", 10_000 + r.below(90_000)), "amount_usd": amount, "currency": "USD"})
            }
            "remediation-bot" => {
                json!({"service": "checkout", "to_release": format!("2026.11.{}", 1 + r.below(20)), "environment": "production"})
            }
            "campaign-bot" => {
                json!({"segment": "lapsed-90d", "recipients": 10_000 + r.below(90_000), "template": "winback-q4"})
            }
            _ => json!({"run": run_id}),
        };
        let deadline = now + Duration::seconds(deadline_s);
        let request_id = format!("req-{run_id}");
        let ask = Envelope::new(
            now,
            self.id.clone(),
            Event::ApprovalRequested(ApprovalRequest {
                request_id: request_id.clone(),
                run_id: Some(run_id),
                workflow: p.workflow.to_string(),
                action: action.to_string(),
                tool: Some(tool.to_string()),
                args,
                risk,
                deadline,
                escalate_at: Some(now + Duration::seconds(deadline_s / 2)),
                reason: Some(reason.to_string()),
                context: Some(format!("{} run on {}", p.workflow, self.prompt(obeyed))),
                reject_options: vec![
                    "amount too high".into(),
                    "needs a second look".into(),
                    "not now".into(),
                ],
            }),
        );
        Step::Ask(
            ask,
            Box::new(PendingRun {
                request_id,
                deadline,
                tool: tool.to_string(),
                run,
            }),
        )
    }

    /// Finishes a run once its approval is decided: approved runs call the
    /// tool; rejected and expired ones go to a human instead.
    pub fn resolve(
        &mut self,
        pending: PendingRun,
        state: ApprovalState,
        now: DateTime<Utc>,
    ) -> Envelope {
        let mut run = pending.run;
        if state == ApprovalState::Approved {
            run.tool_calls.push(ToolCall {
                tool: pending.tool,
                status: ToolStatus::Ok,
                latency_ms: Some(self.rng.log_normal(300.0, 0.3) as u64),
                error: None,
            });
            run.outcome = Outcome::Success;
        } else {
            run.outcome = Outcome::Escalated;
            run.error = Some(format!("approval {}; routed to a human", state.as_str()));
        }
        Envelope::new(now, self.id.clone(), Event::RunFinished(run))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::profile::fleet;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 21, 3, 0, 0).unwrap()
    }

    fn runs(
        agent: &mut SimAgent,
        n: usize,
        effects: &Effects,
        obeyed: &Obeyed,
    ) -> Vec<RunFinished> {
        (0..n)
            .filter_map(|_| match agent.step(now(), effects, obeyed) {
                Step::Done(env) => match env.event {
                    Event::RunFinished(r) => Some(r),
                    _ => None,
                },
                _ => None,
            })
            .collect()
    }

    fn refund_bot() -> SimAgent {
        SimAgent::new(fleet()[0].clone(), 0, 42)
    }

    #[test]
    fn the_same_seed_gives_the_same_runs() {
        let a = runs(
            &mut refund_bot(),
            50,
            &Effects::default(),
            &Obeyed::default(),
        );
        let b = runs(
            &mut refund_bot(),
            50,
            &Effects::default(),
            &Obeyed::default(),
        );
        assert_eq!(a, b);
    }

    #[test]
    fn a_disabled_tool_is_never_called() {
        let outage = Effects {
            outage: Some(("refund-bot", "lookup_order", 0.9)),
            ..Effects::default()
        };
        let before = runs(&mut refund_bot(), 500, &outage, &Obeyed::default());
        let failed = before
            .iter()
            .filter(|r| r.outcome == Outcome::Failed)
            .count();
        assert!(failed > 350, "{failed}");
        let obeyed = Obeyed {
            disabled_tools: vec!["lookup_order".into()],
            ..Obeyed::default()
        };
        let after = runs(&mut refund_bot(), 500, &outage, &obeyed);
        assert!(
            after
                .iter()
                .all(|r| r.tool_calls.iter().all(|c| c.tool != "lookup_order"))
        );
        assert!(after.iter().all(|r| r.outcome == Outcome::Escalated));
    }

    #[test]
    fn each_control_changes_behaviour() {
        let base = runs(
            &mut refund_bot(),
            2000,
            &Effects::default(),
            &Obeyed::default(),
        );
        let mean = |rs: &[RunFinished]| {
            rs.iter().map(|r| r.latency_ms as f64).sum::<f64>() / rs.len() as f64
        };
        let share = |rs: &[RunFinished], o: Outcome| {
            rs.iter().filter(|r| r.outcome == o).count() as f64 / rs.len() as f64
        };

        let fallback = runs(
            &mut refund_bot(),
            2000,
            &Effects::default(),
            &Obeyed {
                fallback: true,
                ..Obeyed::default()
            },
        );
        assert!(mean(&fallback) > 1.5 * mean(&base));
        assert!(share(&fallback, Outcome::Success) < share(&base, Outcome::Success));
        assert!(fallback.iter().all(|r| r.policy_violations.is_empty()));

        let humans = runs(
            &mut refund_bot(),
            200,
            &Effects::default(),
            &Obeyed {
                route_to_humans: true,
                ..Obeyed::default()
            },
        );
        assert_eq!(share(&humans, Outcome::Escalated), 1.0);

        let mut a = refund_bot();
        let asks = (0..50)
            .filter(|_| {
                matches!(
                    a.step(
                        now(),
                        &Effects::default(),
                        &Obeyed {
                            require_approval: true,
                            ..Obeyed::default()
                        }
                    ),
                    Step::Ask(..)
                )
            })
            .count();
        assert_eq!(asks, 50, "every run with a tool action asks first");

        let mut a = refund_bot();
        assert_eq!(
            a.step(
                now(),
                &Effects::default(),
                &Obeyed {
                    paused: true,
                    ..Obeyed::default()
                }
            ),
            Step::Idle
        );
    }

    #[test]
    fn drift_raises_escalations_and_a_pin_undoes_it() {
        let mut triage = SimAgent::new(fleet()[1].clone(), 1, 7);
        let drift = Effects {
            drift: Some(("triage-bot", "triage-v13")),
            ..Effects::default()
        };
        assert_eq!(triage.deployments(now(), &drift).len(), 1);
        assert!(
            triage.deployments(now(), &drift).is_empty(),
            "deployed once"
        );
        let drifted = runs(&mut triage, 2000, &drift, &Obeyed::default());
        let esc = |rs: &[RunFinished]| {
            rs.iter()
                .filter(|r| r.outcome == Outcome::Escalated)
                .count() as f64
                / rs.len() as f64
        };
        assert!(esc(&drifted) > 0.2, "{}", esc(&drifted));
        assert_eq!(drifted[0].versions.prompt.as_deref(), Some("triage-v13"));
        let pinned = Obeyed {
            pinned: vec![(Component::Prompt, "triage-v12".into())],
            ..Obeyed::default()
        };
        let fixed = runs(&mut triage, 2000, &drift, &pinned);
        assert!(esc(&fixed) < 0.1, "{}", esc(&fixed));
        assert_eq!(fixed[0].versions.prompt.as_deref(), Some("triage-v12"));
    }

    #[test]
    fn approvals_resolve_into_runs() {
        let mut a = refund_bot();
        let storm = Effects::default();
        let obeyed = Obeyed {
            require_approval: true,
            ..Obeyed::default()
        };
        let Step::Ask(ask, pending) = a.step(now(), &storm, &obeyed) else {
            panic!("expected an approval request")
        };
        assert_eq!(ask.event.type_name(), "approval.requested");
        let done = a.resolve(*pending.clone(), ApprovalState::Approved, now());
        let Event::RunFinished(run) = done.event else {
            panic!()
        };
        assert_eq!(run.outcome, Outcome::Success);
        let done = a.resolve(*pending, ApprovalState::Expired, now());
        let Event::RunFinished(run) = done.event else {
            panic!()
        };
        assert_eq!(run.outcome, Outcome::Escalated);
    }
}
