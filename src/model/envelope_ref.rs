//! A decoded envelope that borrows its strings from the line it came from.
//!
//! [`EnvelopeRef::decode`] runs exactly the checks of [`Envelope::decode`]
//! (the owned decoder is built on it) but keeps identifiers, names and
//! texts as slices of the input where they carry no JSON escapes, so
//! folding a line into the engine ([`crate::engine::Engine::apply_ref`])
//! allocates only for what the engine keeps. The rare event types that the
//! hub keeps whole (approval requests, incident reports, changes,
//! heartbeats) are decoded into their owned types.

use std::borrow::Cow;

use chrono::{DateTime, Utc};

use super::envelope::{
    ApprovalRequest, Change, Component, Envelope, Escalation, Event, Heartbeat, IncidentReport,
    Outcome, PolicyViolation, RunFinished, Tokens, ToolCall, ToolCallEvent, ToolStatus, Versions,
};

/// One event from one agent, validated, with its strings borrowed from the
/// decoded line where possible.
#[derive(Debug, Clone, PartialEq)]
pub struct EnvelopeRef<'a> {
    /// Protocol version; always [`super::envelope::PROTOCOL_VERSION`].
    pub v: u64,
    /// When the event happened, as the agent saw it.
    pub ts: DateTime<Utc>,
    /// The agent that sent it.
    pub agent: Cow<'a, str>,
    /// Optional sender-chosen event id.
    pub id: Option<Cow<'a, str>>,
    /// What happened.
    pub event: EventRef<'a>,
}

impl<'a> EnvelopeRef<'a> {
    /// The owned envelope, copying the borrowed strings.
    pub fn into_owned(self) -> Envelope {
        Envelope {
            v: self.v,
            ts: self.ts,
            agent: self.agent.into_owned(),
            id: self.id.map(Cow::into_owned),
            event: self.event.into_owned(),
        }
    }
}

/// The event types of protocol v1, as [`super::envelope::Event`], with the
/// frequent ones borrowing their strings.
#[derive(Debug, Clone, PartialEq)]
pub enum EventRef<'a> {
    /// `run.finished`: one agent run ended.
    RunFinished(RunFinishedRef<'a>),
    /// `tool.called`: one tool call, reported on its own.
    ToolCalled(ToolCallEventRef<'a>),
    /// `escalation`: a run handed over to a human.
    Escalation(EscalationRef<'a>),
    /// `approval.requested`: the agent waits for a human decision.
    ApprovalRequested(ApprovalRequest),
    /// `incident.reported`: the agent reports an incident itself.
    IncidentReported(IncidentReport),
    /// `change`: a model, prompt, tool or policy version was deployed.
    Change(Change),
    /// `heartbeat`: the agent is alive.
    Heartbeat(Heartbeat),
}

impl EventRef<'_> {
    /// The wire name of the event type.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::RunFinished(_) => "run.finished",
            Self::ToolCalled(_) => "tool.called",
            Self::Escalation(_) => "escalation",
            Self::ApprovalRequested(_) => "approval.requested",
            Self::IncidentReported(_) => "incident.reported",
            Self::Change(_) => "change",
            Self::Heartbeat(_) => "heartbeat",
        }
    }

    /// The owned event, copying the borrowed strings.
    pub fn into_owned(self) -> Event {
        match self {
            Self::RunFinished(r) => Event::RunFinished(r.into_owned()),
            Self::ToolCalled(t) => Event::ToolCalled(t.into_owned()),
            Self::Escalation(e) => Event::Escalation(e.into_owned()),
            Self::ApprovalRequested(a) => Event::ApprovalRequested(a),
            Self::IncidentReported(i) => Event::IncidentReported(i),
            Self::Change(c) => Event::Change(c),
            Self::Heartbeat(h) => Event::Heartbeat(h),
        }
    }
}

fn owned(text: Option<Cow<'_, str>>) -> Option<String> {
    text.map(Cow::into_owned)
}

/// A finished run, as [`RunFinished`], with borrowed strings.
#[derive(Debug, Clone, PartialEq)]
pub struct RunFinishedRef<'a> {
    /// The run's id, unique per agent.
    pub run_id: Cow<'a, str>,
    /// The workflow the run belongs to.
    pub workflow: Cow<'a, str>,
    /// How it ended.
    pub outcome: Outcome,
    /// Wall time from start to end, in milliseconds.
    pub latency_ms: u64,
    /// What the run cost, in US dollars.
    pub cost_usd: f64,
    /// Tokens used, when known.
    pub tokens: Option<Tokens>,
    /// Tool calls made during the run, in order.
    pub tool_calls: Vec<ToolCallRef<'a>>,
    /// Policy violations detected during the run.
    pub policy_violations: Vec<PolicyViolationRef<'a>>,
    /// Versions the run used.
    pub versions: VersionsRef<'a>,
    /// Error message of a failed run.
    pub error: Option<Cow<'a, str>>,
    /// A model the run called whose price is not known.
    pub unpriced_model: Option<Cow<'a, str>>,
}

impl RunFinishedRef<'_> {
    /// The owned run, copying the borrowed strings.
    pub fn into_owned(self) -> RunFinished {
        RunFinished {
            run_id: self.run_id.into_owned(),
            workflow: self.workflow.into_owned(),
            outcome: self.outcome,
            latency_ms: self.latency_ms,
            cost_usd: self.cost_usd,
            tokens: self.tokens,
            tool_calls: self
                .tool_calls
                .into_iter()
                .map(ToolCallRef::into_owned)
                .collect(),
            policy_violations: self
                .policy_violations
                .into_iter()
                .map(|v| PolicyViolation {
                    policy: v.policy.into_owned(),
                    detail: owned(v.detail),
                })
                .collect(),
            versions: self.versions.into_owned(),
            error: owned(self.error),
            unpriced_model: owned(self.unpriced_model),
        }
    }
}

/// One tool call within a run, as [`ToolCall`], with borrowed strings.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolCallRef<'a> {
    /// The tool's name.
    pub tool: Cow<'a, str>,
    /// Whether it worked.
    pub status: ToolStatus,
    /// How long it took, in milliseconds.
    pub latency_ms: Option<u64>,
    /// The error, when it failed.
    pub error: Option<Cow<'a, str>>,
}

impl ToolCallRef<'_> {
    /// The owned tool call.
    pub fn into_owned(self) -> ToolCall {
        ToolCall {
            tool: self.tool.into_owned(),
            status: self.status,
            latency_ms: self.latency_ms,
            error: owned(self.error),
        }
    }
}

/// One policy violation within a run, as [`PolicyViolation`], borrowed.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyViolationRef<'a> {
    /// The policy that was violated.
    pub policy: Cow<'a, str>,
    /// What happened.
    pub detail: Option<Cow<'a, str>>,
}

/// Versions of what a run used, as [`Versions`], borrowed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VersionsRef<'a> {
    /// Model.
    pub model: Option<Cow<'a, str>>,
    /// Prompt version.
    pub prompt: Option<Cow<'a, str>>,
    /// Tool-set version.
    pub tool: Option<Cow<'a, str>>,
    /// Policy version.
    pub policy: Option<Cow<'a, str>>,
}

impl VersionsRef<'_> {
    /// The version of one component.
    pub fn get(&self, component: Component) -> Option<&str> {
        match component {
            Component::Model => self.model.as_deref(),
            Component::Prompt => self.prompt.as_deref(),
            Component::Tool => self.tool.as_deref(),
            Component::Policy => self.policy.as_deref(),
        }
    }

    /// The owned versions.
    pub fn into_owned(self) -> Versions {
        Versions {
            model: owned(self.model),
            prompt: owned(self.prompt),
            tool: owned(self.tool),
            policy: owned(self.policy),
        }
    }
}

/// A tool call reported as its own event, as [`ToolCallEvent`], borrowed.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolCallEventRef<'a> {
    /// The run it belongs to, if any.
    pub run_id: Option<Cow<'a, str>>,
    /// The workflow.
    pub workflow: Cow<'a, str>,
    /// The tool's name.
    pub tool: Cow<'a, str>,
    /// Whether it worked.
    pub status: ToolStatus,
    /// How long it took, in milliseconds.
    pub latency_ms: Option<u64>,
    /// The error, when it failed.
    pub error: Option<Cow<'a, str>>,
}

impl ToolCallEventRef<'_> {
    /// The owned event.
    pub fn into_owned(self) -> ToolCallEvent {
        ToolCallEvent {
            run_id: owned(self.run_id),
            workflow: self.workflow.into_owned(),
            tool: self.tool.into_owned(),
            status: self.status,
            latency_ms: self.latency_ms,
            error: owned(self.error),
        }
    }
}

/// A run handed over to a human, as [`Escalation`], borrowed.
#[derive(Debug, Clone, PartialEq)]
pub struct EscalationRef<'a> {
    /// The run, if any.
    pub run_id: Option<Cow<'a, str>>,
    /// The workflow.
    pub workflow: Cow<'a, str>,
    /// Why the agent escalated.
    pub reason: Cow<'a, str>,
    /// The queue or team it went to.
    pub to: Option<Cow<'a, str>>,
}

impl EscalationRef<'_> {
    /// The owned event.
    pub fn into_owned(self) -> Escalation {
        Escalation {
            run_id: owned(self.run_id),
            workflow: self.workflow.into_owned(),
            reason: self.reason.into_owned(),
            to: owned(self.to),
        }
    }
}

/// What the engine reads from a finished run, owned ([`RunFinished`]) or
/// borrowed ([`RunFinishedRef`]), so that one fold serves both.
pub trait RunView {
    /// The workflow the run belongs to.
    fn workflow(&self) -> &str;
    /// How it ended.
    fn outcome(&self) -> Outcome;
    /// Wall time from start to end, in milliseconds.
    fn latency_ms(&self) -> u64;
    /// What the run cost, in US dollars.
    fn cost_usd(&self) -> f64;
    /// A model the run called whose price is not known: `cost_usd`
    /// leaves its calls out.
    fn unpriced_model(&self) -> Option<&str>;
    /// Whether any policy was violated.
    fn has_violations(&self) -> bool;
    /// Each tool call's tool name and status, in order.
    fn tool_statuses(&self) -> impl Iterator<Item = (&str, ToolStatus)>;
    /// The version of one component the run used.
    fn version(&self, component: Component) -> Option<&str>;
}

impl RunView for RunFinished {
    fn workflow(&self) -> &str {
        &self.workflow
    }
    fn outcome(&self) -> Outcome {
        self.outcome
    }
    fn latency_ms(&self) -> u64 {
        self.latency_ms
    }
    fn cost_usd(&self) -> f64 {
        self.cost_usd
    }
    fn unpriced_model(&self) -> Option<&str> {
        self.unpriced_model.as_deref()
    }
    fn has_violations(&self) -> bool {
        !self.policy_violations.is_empty()
    }
    fn tool_statuses(&self) -> impl Iterator<Item = (&str, ToolStatus)> {
        self.tool_calls.iter().map(|c| (c.tool.as_str(), c.status))
    }
    fn version(&self, component: Component) -> Option<&str> {
        self.versions.get(component)
    }
}

impl RunView for RunFinishedRef<'_> {
    fn workflow(&self) -> &str {
        &self.workflow
    }
    fn outcome(&self) -> Outcome {
        self.outcome
    }
    fn latency_ms(&self) -> u64 {
        self.latency_ms
    }
    fn cost_usd(&self) -> f64 {
        self.cost_usd
    }
    fn unpriced_model(&self) -> Option<&str> {
        self.unpriced_model.as_deref()
    }
    fn has_violations(&self) -> bool {
        !self.policy_violations.is_empty()
    }
    fn tool_statuses(&self) -> impl Iterator<Item = (&str, ToolStatus)> {
        self.tool_calls.iter().map(|c| (c.tool.as_ref(), c.status))
    }
    fn version(&self, component: Component) -> Option<&str> {
        self.versions.get(component)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn borrows_plain_strings_and_owns_escaped_ones() {
        let line = r#"{"v":1,"type":"run.finished","ts":"2026-11-21T14:00:00Z","agent":"refund-bot","run_id":"r-1","outcome":"success","latency_ms":12,"tool_calls":[{"tool":"crm\u002elookup","status":"ok"}],"versions":{"prompt":"v7"}}"#;
        let env = EnvelopeRef::decode(line).expect("decodes");
        assert!(matches!(env.agent, Cow::Borrowed("refund-bot")));
        let EventRef::RunFinished(run) = &env.event else {
            panic!("a run: {env:?}");
        };
        assert!(matches!(run.workflow, Cow::Borrowed("default")));
        assert!(matches!(run.tool_calls[0].tool, Cow::Owned(_)));
        assert_eq!(run.tool_calls[0].tool, "crm.lookup");
        assert_eq!(run.version(Component::Prompt), Some("v7"));
        assert_eq!(
            env.clone().into_owned(),
            Envelope::decode(line).expect("decodes")
        );
    }

    #[test]
    fn refuses_what_the_owned_decoder_refuses_with_the_same_message() {
        for line in [
            r#"{"v":1,"type":"heartbeat","ts":"2026-11-21T14:00:00Z"}"#,
            r#"{"v":1,"type":"run.finished","ts":"2026-11-21T14:00:00Z","agent":"a","run_id":"r","outcome":"success","latency_ms":1,"tool_calls":[{"tool":"t","status":"maybe"}]}"#,
            r#"{"v":1,"type":"heartbeat","ts":"2026-11-21T14:00:00Z","agent":"a","tool":"t"}"#,
            "\u{0}",
        ] {
            let owned = Envelope::decode(line).expect_err("refused");
            let borrowed = EnvelopeRef::decode(line).expect_err("refused");
            assert_eq!(owned.to_string(), borrowed.to_string(), "{line}");
        }
    }
}
