//! One trace's spans, joined by their parent links and mapped to runs and
//! tool calls.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use crate::model::envelope::{
    DEFAULT_WORKFLOW, Envelope, Event, Outcome, RunFinished, Tokens, ToolCall, ToolCallEvent,
    ToolStatus, Versions,
};
use crate::model::limits::MAX_TOOL_CALLS;

use super::convention::*;
use super::prices::PriceTable;
use super::wire::*;
use super::{FlatSpan, Mapped};

/// The spans of one trace, with their parent links.
pub(super) struct Trace<'a> {
    pub(super) id: &'a str,
    /// Prices of model calls whose spans report tokens and no cost.
    pub(super) prices: &'a PriceTable,
    pub(super) spans: &'a [FlatSpan],
    pub(super) index: HashMap<&'a str, usize>,
    /// Per span: what it is, once wrappers are told from agents.
    pub(super) roles: Vec<Role>,
    /// Per span: whether it or an ancestor below the nearest agent span is
    /// a model span that reports tokens.
    pub(super) counted_above: Vec<Option<bool>>,
}

impl<'a> Trace<'a> {
    pub(super) fn new(id: &'a str, spans: &'a [FlatSpan], prices: &'a PriceTable) -> Self {
        let index = spans
            .iter()
            .enumerate()
            .map(|(i, s)| (s.span.span_id.as_str(), i))
            .collect();
        let mut trace = Self {
            id,
            prices,
            spans,
            index,
            roles: spans.iter().map(|s| s.role).collect(),
            counted_above: Vec::new(),
        };
        trace.demote_wrappers();
        let roles = trace.roles.clone();
        trace.counted_above = trace.nearest(|i| match roles[i] {
            Role::Agent => Some(false),
            Role::Model if has_tokens(&spans[i].span) => Some(true),
            _ => None,
        });
        trace
    }

    /// An agent span with no agent name of its own above another agent
    /// span is a wrapper (the OpenAI Agents SDK's `Agent workflow`), not a
    /// run: the named agent's span below it is.
    fn demote_wrappers(&mut self) {
        let agents: Vec<usize> = (0..self.spans.len())
            .filter(|&i| self.roles[i] == Role::Agent)
            .collect();
        if agents.len() < 2 {
            return;
        }
        for &a in &agents {
            let mut at = self.parent(a);
            let mut steps = 0;
            while let Some(p) = at.filter(|_| steps <= self.spans.len()) {
                if self.roles[p] == Role::Agent && !names_an_agent(&self.spans[p].span) {
                    self.roles[p] = Role::Other;
                }
                at = self.parent(p);
                steps += 1;
            }
        }
    }

    pub(super) fn parent(&self, i: usize) -> Option<usize> {
        self.index
            .get(self.spans[i].span.parent_span_id.as_str())
            .copied()
            .filter(|&p| p != i)
    }

    /// For every span, what `here` says of its nearest ancestor-or-self for
    /// which it says anything. Memoised, so a deep trace costs linear time
    /// rather than depth × spans; a parent cycle ends the walk.
    pub(super) fn nearest<T: Copy>(&self, here: impl Fn(usize) -> Option<T>) -> Vec<Option<T>> {
        let n = self.spans.len();
        let mut memo: Vec<Option<Option<T>>> = vec![None; n];
        for start in 0..n {
            let mut path = Vec::new();
            let mut i = start;
            let found = loop {
                if let Some(known) = memo[i] {
                    break known;
                }
                path.push(i);
                if let Some(v) = here(i) {
                    break Some(v);
                }
                match self.parent(i) {
                    Some(p) if path.len() <= n => i = p,
                    _ => break None,
                }
            };
            for j in path {
                memo[j] = Some(found);
            }
        }
        memo.into_iter().map(Option::flatten).collect()
    }

    /// Maps the whole trace. `had_runs` says agent runs of this trace
    /// were mapped from earlier exports: model spans left without an agent
    /// span are then late parts of those runs, not a run of their own.
    pub(super) fn map_into(&self, had_runs: bool, out: &mut Mapped) {
        let spans = self.spans;
        let agents: Vec<usize> = (0..spans.len())
            .filter(|&i| self.roles[i] == Role::Agent)
            .collect();
        if agents.is_empty() && had_runs {
            out.late_spans += spans.len() as u64;
            return;
        }
        if agents.is_empty() && self.roles.contains(&Role::Model) {
            let members: Vec<usize> = (0..spans.len()).collect();
            self.push_run(None, &members, out);
            return;
        }
        let nearest_agent = self.nearest(|i| (self.roles[i] == Role::Agent).then_some(i));
        let only_agent = (agents.len() == 1).then(|| agents[0]);
        let mut members: HashMap<usize, Vec<usize>> = HashMap::new();
        for (i, nearest) in nearest_agent.iter().enumerate() {
            if let Some(a) = nearest.or(only_agent) {
                members.entry(a).or_default().push(i);
                continue;
            }
            match self.roles[i] {
                Role::Tool => match self.tool_event(i) {
                    Ok(env) => {
                        out.envelopes.push(env);
                        out.envelope_spans.push(1);
                    }
                    Err(e) => out.reject(1, e),
                },
                Role::Model => out.ignored_spans += 1,
                // Plain spans around several agent spans (a workflow span
                // above them) are context, not data lost.
                Role::Agent | Role::Other if !agents.is_empty() => out.context_spans += 1,
                Role::Agent | Role::Other => out.ignored_spans += 1,
            }
        }
        for a in agents {
            let members = members.remove(&a).unwrap_or_default();
            self.push_run(Some(a), &members, out);
        }
    }

    /// Maps the runs of the agent spans present, each with the spans
    /// under it, and returns the spans under no agent span: the rest of a
    /// trace whose root has not arrived yet.
    pub(super) fn map_agents_into(&self, out: &mut Mapped) -> Vec<usize> {
        let nearest_agent = self.nearest(|i| (self.roles[i] == Role::Agent).then_some(i));
        let mut members: HashMap<usize, Vec<usize>> = HashMap::new();
        let mut rest = Vec::new();
        for (i, agent) in nearest_agent.iter().enumerate() {
            match agent {
                Some(a) => members.entry(*a).or_default().push(i),
                None => rest.push(i),
            }
        }
        let mut agents: Vec<usize> = members.keys().copied().collect();
        agents.sort_unstable();
        for a in agents {
            let m = members.remove(&a).unwrap_or_default();
            self.push_run(Some(a), &m, out);
        }
        rest
    }

    /// Whether the trace's part sent here is whole: it holds a span that
    /// starts it locally (no parent, a remote parent, or a SERVER or
    /// CONSUMER span, which begins a service's work on a request).
    pub(super) fn has_local_root(&self) -> bool {
        self.spans.iter().any(|s| is_local_root(&s.span))
    }

    pub(super) fn push_run(&self, root: Option<usize>, members: &[usize], out: &mut Mapped) {
        match self.build_run(root, members) {
            Ok(env) => {
                out.envelopes.push(env);
                out.envelope_spans.push((members.len() as u64).max(1));
            }
            Err(e) => out.reject(members.len() as u64, e),
        }
    }

    /// A tool span under no run, as a `tool.called` of its service.
    pub(super) fn tool_event(&self, i: usize) -> Result<Envelope, String> {
        let s = &self.spans[i];
        let end = s
            .span
            .end_time_unix_nano
            .0
            .or(s.span.start_time_unix_nano.0);
        let ts = end
            .and_then(time)
            .ok_or_else(|| format!("{}: no valid endTimeUnixNano", s.label()))?;
        let agent = s.service.as_deref().and_then(to_agent_id).ok_or_else(|| {
            format!(
                "{}: a tool span under no agent span needs the resource's service.name",
                s.label()
            )
        })?;
        let call = tool_call(s);
        let mut env = Envelope::new(
            ts,
            agent,
            Event::ToolCalled(ToolCallEvent {
                run_id: None,
                workflow: DEFAULT_WORKFLOW.to_string(),
                tool: call.tool,
                status: call.status,
                latency_ms: call.latency_ms,
                error: call.error,
            }),
        );
        env.id = to_id(&format!("otlp:{}", s.span.span_id));
        Ok(env)
    }

    /// One run: of the agent span `root` with its `members` (the root
    /// included), or of the whole trace when `root` is `None`.
    pub(super) fn build_run(
        &self,
        root: Option<usize>,
        members: &[usize],
    ) -> Result<Envelope, String> {
        let spans = self.spans;
        let root = root.map(|r| &spans[r]);
        let label = root
            .map(FlatSpan::label)
            .unwrap_or_else(|| format!("trace {}", self.id));
        let (ts, latency_ms) = self.run_times(root, members, &label)?;
        let root_attrs = root.map(|r| r.span.attributes.as_slice()).unwrap_or(&[]);
        let agent = self.agent_of(root, members, &label)?;
        let Calls {
            mut tokens,
            model,
            tool_calls,
            model_error,
            mut cost,
        } = self.calls(members);
        // The conventions also put usage and the model on the agent span.
        if tokens.is_none()
            && let Some(r) = root
            && let Some(t) = tokens_of(&r.span)
        {
            tokens = Some(t);
            cost = self.call_cost(&r.span, t).map_err(|m| (0.0, Some(m)));
        }
        let model = model
            .or_else(|| attr_str(root_attrs, MODEL_NAME))
            .and_then(to_name);

        let (failed, error) = match root {
            Some(r) => (is_error(&r.span), error_of(&r.span)),
            // A service run fails with its first failed model call.
            None => (model_error.is_some(), model_error.flatten()),
        };
        let outcome = attr_str(root_attrs, &["agentdeck.outcome"])
            .and_then(|o| Outcome::parse(o.trim()))
            .unwrap_or(if failed {
                Outcome::Failed
            } else {
                Outcome::Success
            });
        let run_id = attr_str(root_attrs, &["agentdeck.run_id"])
            .and_then(to_id)
            .or_else(|| to_id(root.map(|r| r.span.span_id.as_str()).unwrap_or(self.id)))
            .ok_or_else(|| format!("{label}: no usable run id"))?;
        let workflow = attr_str(root_attrs, &["agentdeck.workflow"])
            .and_then(to_id)
            .unwrap_or_else(|| DEFAULT_WORKFLOW.to_string());
        // A cost the instrumentation reports for the whole run wins over
        // the sum of its calls.
        let (cost_usd, unpriced_model) = match attr_num(root_attrs, COST_USD).filter(|c| *c >= 0.0)
        {
            Some(c) => (c, None),
            None => match cost {
                Ok(c) => (c, None),
                Err((c, model)) => (c, model.and_then(|m| to_name(&m))),
            },
        };
        let version = |key| attr_str(root_attrs, &[key]).and_then(to_name);
        let id = to_id(&format!("otlp:{run_id}"));
        let mut env = Envelope::new(
            ts,
            agent,
            Event::RunFinished(RunFinished {
                run_id,
                workflow,
                outcome,
                latency_ms,
                cost_usd,
                tokens,
                tool_calls,
                policy_violations: Vec::new(),
                versions: Versions {
                    model,
                    prompt: version("agentdeck.version.prompt"),
                    tool: version("agentdeck.version.tool"),
                    policy: version("agentdeck.version.policy"),
                },
                error: error.filter(|_| outcome == Outcome::Failed),
                unpriced_model,
            }),
        );
        env.id = id;
        Ok(env)
    }

    /// When the run ended and how long it took: the agent span's times, or
    /// without one, from the first start to the last end of the trace.
    fn run_times(
        &self,
        root: Option<&FlatSpan>,
        members: &[usize],
        label: &str,
    ) -> Result<(DateTime<Utc>, u64), String> {
        let spans = self.spans;
        let (start, end) = match root {
            Some(r) => (r.span.start_time_unix_nano.0, r.span.end_time_unix_nano.0),
            None => (
                members
                    .iter()
                    .filter_map(|&i| spans[i].span.start_time_unix_nano.0)
                    .min(),
                members
                    .iter()
                    .filter_map(|&i| spans[i].span.end_time_unix_nano.0)
                    .max(),
            ),
        };
        let (Some(start), Some(end)) = (start, end) else {
            return Err(format!(
                "{label}: no valid startTimeUnixNano and endTimeUnixNano (nanoseconds since the epoch)"
            ));
        };
        let ts = time(end).ok_or_else(|| format!("{label}: endTimeUnixNano is out of range"))?;
        // A run that ends before it starts has no latency to report, and a
        // made-up zero would flatter the latency SLO.
        let latency_ms = duration_ms(start, end)
            .ok_or_else(|| format!("{label}: endTimeUnixNano is before startTimeUnixNano"))?;
        Ok((ts, latency_ms))
    }

    /// The agent the run is of: `gen_ai.agent.name`, `gen_ai.agent.id`,
    /// `agent.name`, the span name after `invoke_agent`, or a service name.
    fn agent_of(
        &self,
        root: Option<&FlatSpan>,
        members: &[usize],
        label: &str,
    ) -> Result<String, String> {
        let spans = self.spans;
        let root_attrs = root.map(|r| r.span.attributes.as_slice()).unwrap_or(&[]);
        root.into_iter()
            .flat_map(|r| {
                [
                    attr_str(root_attrs, AGENT_NAME),
                    after_operation(&r.span.name, "invoke_agent"),
                    // OpenInference names an AGENT span after its agent.
                    Some(r.span.name.as_str())
                        .filter(|_| attr_str(root_attrs, &["openinference.span.kind"]).is_some()),
                    r.service.as_deref(),
                ]
            })
            .chain(members.iter().map(|&i| spans[i].service.as_deref()))
            .flatten()
            .find_map(to_agent_id)
            .ok_or_else(|| {
                format!("{label}: no agent name (gen_ai.agent.name, span name or service.name)")
            })
    }

    /// The model calls and tool calls among `members`, in start order.
    fn calls(&self, members: &[usize]) -> Calls<'a> {
        let spans = self.spans;
        // Tool calls are reported in the order they started.
        let mut ordered = members.to_vec();
        ordered.sort_by_key(|&i| (spans[i].span.start_time_unix_nano.0.unwrap_or(u64::MAX), i));

        let mut tokens: Option<Tokens> = None;
        let mut model = None;
        let mut tool_calls = Vec::new();
        let mut model_error = None;
        let mut cost: Result<f64, (f64, Option<String>)> = Ok(0.0);
        for &i in &ordered {
            let s = &spans[i];
            match self.roles[i] {
                Role::Model => {
                    // A model span under a model span that counted tokens is
                    // the same call seen by a second instrumentation.
                    let nested = self
                        .parent(i)
                        .is_some_and(|p| self.counted_above[p] == Some(true));
                    if let Some(t) = tokens_of(&s.span).filter(|_| !nested) {
                        let sum = tokens.get_or_insert_default();
                        sum.input = sum.input.saturating_add(t.input);
                        sum.output = sum.output.saturating_add(t.output);
                        cost = match (cost, self.call_cost(&s.span, t)) {
                            (Ok(a), Ok(b)) => Ok(a + b),
                            (Ok(a), Err(m)) => Err((a, Some(m))),
                            (Err((a, m)), Ok(b)) => Err((a + b, m)),
                            (Err(e), Err(_)) => Err(e),
                        };
                    }
                    if let Some(m) = attr_str(&s.span.attributes, MODEL_NAME) {
                        model = Some(m);
                    }
                    if model_error.is_none() && is_error(&s.span) {
                        model_error = Some(error_of(&s.span));
                    }
                }
                Role::Tool if tool_calls.len() < MAX_TOOL_CALLS => tool_calls.push(tool_call(s)),
                _ => {}
            }
        }
        Calls {
            tokens,
            model,
            tool_calls,
            model_error,
            cost,
        }
    }

    /// What one model call cost: the instrumentation's own figure, else
    /// its tokens at the table's price; `Err` names the model when neither
    /// is known.
    fn call_cost(&self, span: &Span, t: Tokens) -> Result<f64, String> {
        if let Some(c) = attr_num(&span.attributes, COST_USD).filter(|c| *c >= 0.0) {
            return Ok(c);
        }
        if t.input == 0 && t.output == 0 {
            return Ok(0.0);
        }
        let model = attr_str(&span.attributes, MODEL_NAME).unwrap_or("unknown");
        match self.prices.lookup(model) {
            Some(price) => Ok(price.cost(t.input, t.output, cached_of(span))),
            None => Err(model.to_string()),
        }
    }
}

/// What a run's model and tool spans add to it.
struct Calls<'a> {
    /// Tokens of the model calls, each counted once.
    tokens: Option<Tokens>,
    /// The last model named.
    model: Option<&'a str>,
    tool_calls: Vec<ToolCall>,
    /// The first failed model call's error, if one failed.
    model_error: Option<Option<String>>,
    /// What the model calls cost; `Err` with what is known and the first
    /// model without a price.
    cost: Result<f64, (f64, Option<String>)>,
}

/// A tool span as a tool call.
pub(super) fn tool_call(s: &FlatSpan) -> ToolCall {
    let name = s.span.name.as_str();
    let attrs = &s.span.attributes;
    // The first name that makes a valid tool name: a garbled attribute
    // falls through to the span name.
    let tool = [
        attr_str(attrs, TOOL_NAME),
        after_operation(name, "execute_tool"),
        // OpenInference names a tool span after the tool.
        (!name.starts_with("execute_tool")).then_some(name),
    ]
    .into_iter()
    .flatten()
    .find_map(to_name)
    .unwrap_or_else(|| "unknown".to_string());
    let error = is_error(&s.span);
    let latency_ms = match (s.span.start_time_unix_nano.0, s.span.end_time_unix_nano.0) {
        (Some(a), Some(b)) => duration_ms(a, b),
        _ => None,
    };
    ToolCall {
        tool,
        status: if error {
            ToolStatus::Error
        } else {
            ToolStatus::Ok
        },
        latency_ms,
        error: if error { error_of(&s.span) } else { None },
    }
}

/// Whether a span starts its service's part of the trace.
pub(super) fn is_local_root(span: &Span) -> bool {
    /// W3C flags: bit 8 says bit 9 is set, bit 9 says the parent is remote.
    const HAS_IS_REMOTE: u64 = 0x100;
    const IS_REMOTE: u64 = 0x200;
    let flags = span
        .flags
        .map(|f| f.0)
        .filter(|f| f.is_finite() && *f >= 0.0)
        .map_or(0, |f| f as u64);
    let remote_parent = flags & HAS_IS_REMOTE != 0 && flags & IS_REMOTE != 0;
    // SERVER (2) and CONSUMER (5), by number or name.
    let kind = &span.kind;
    let entry_kind = matches!(kind.number, Some(2 | 5))
        || kind.name.as_deref().is_some_and(|n| {
            let n = n.trim().trim_start_matches("SPAN_KIND_");
            n.eq_ignore_ascii_case("SERVER") || n.eq_ignore_ascii_case("CONSUMER")
        });
    span.parent_span_id.is_empty() || remote_parent || entry_kind
}
