//! The hub's HTTP paths: one table for the router and for every client
//! (the TUI, the simulated fleet, the `handoff` command), so that a path is
//! spelled once. Clients build paths with [`Route::path`], which
//! percent-encodes each parameter as one path segment: an agent named
//! `team/bot` or `caisse é` reaches its own routes.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// One route: an axum path template such as `/v1/controls/{id}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route(&'static str);

/// Bytes left as they are in a path segment: RFC 3986's unreserved
/// characters. Everything else, `/` and `%` included, is encoded.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

impl Route {
    /// The template the hub's router registers.
    pub const fn template(self) -> &'static str {
        self.0
    }

    /// The path with each `{placeholder}` replaced, in order, by the
    /// percent-encoded parameter. Missing parameters leave the placeholder
    /// empty; extra ones are ignored (a programming error, caught by the
    /// route tests).
    pub fn path(self, params: &[&str]) -> String {
        let mut out = String::with_capacity(self.0.len() + 16);
        let mut params = params.iter();
        let mut rest = self.0;
        while let Some(open) = rest.find('{') {
            out.push_str(&rest[..open]);
            let close = rest[open..].find('}').map_or(rest.len(), |c| open + c + 1);
            if let Some(p) = params.next() {
                out.extend(utf8_percent_encode(p, SEGMENT));
            }
            rest = &rest[close..];
        }
        out.push_str(rest);
        out
    }

    /// The number of `{placeholder}`s.
    pub fn arity(self) -> usize {
        self.0.matches('{').count()
    }
}

/// Liveness and storage health.
pub const HEALTHZ: Route = Route("/healthz");
/// Ingest: NDJSON envelopes.
pub const EVENTS: Route = Route("/v1/events");
/// Ingest: OTLP traces.
pub const TRACES: Route = Route("/v1/traces");
/// OTLP logs: accepted and not used, so one exporter endpoint serves all
/// signals without errors.
pub const LOGS: Route = Route("/v1/logs");
/// OTLP metrics: accepted and not used, like logs.
pub const METRICS_OTLP: Route = Route("/v1/metrics");
/// The live state stream (SSE).
pub const STREAM: Route = Route("/v1/stream");
/// The shared state as one snapshot.
pub const STATE: Route = Route("/v1/state");
/// Who the caller is.
pub const ME: Route = Route("/v1/me");
/// The audit log, paged.
pub const AUDIT: Route = Route("/v1/audit");
/// The audit log's hash chain, checked.
pub const AUDIT_VERIFY: Route = Route("/v1/audit/verify");
/// Decided approvals, newest first, paged.
pub const HISTORY_APPROVALS: Route = Route("/v1/history/approvals");
/// Resolved incidents, newest first, paged.
pub const HISTORY_INCIDENTS: Route = Route("/v1/history/incidents");
/// Lifted and expired controls, newest first, paged.
pub const HISTORY_CONTROLS: Route = Route("/v1/history/controls");
/// Decide an approval: `{id}`.
pub const APPROVAL_DECISION: Route = Route("/v1/approvals/{id}/decision");
/// Open an incident by hand.
pub const INCIDENTS: Route = Route("/v1/incidents");
/// Run a runbook step on an incident: `{id}`.
pub const INCIDENT_STEPS: Route = Route("/v1/incidents/{id}/steps");
/// Work an incident: `{id}`, `{action}` (see [`IncidentVerb`]).
pub const INCIDENT_ACTION: Route = Route("/v1/incidents/{id}/{action}");
/// The runbooks the hub serves.
pub const RUNBOOKS: Route = Route("/v1/runbooks");
/// Apply a control.
pub const CONTROLS: Route = Route("/v1/controls");
/// Lift a control: `{id}`.
pub const CONTROL: Route = Route("/v1/controls/{id}");
/// What an operator is looking at.
pub const PRESENCE: Route = Route("/v1/presence");
/// Every agent.
pub const AGENTS: Route = Route("/v1/agents");
/// One agent; `PUT` registers it: `{agent}`.
pub const AGENT: Route = Route("/v1/agents/{agent}");
/// One agent's drill-down: `{agent}`.
pub const AGENT_DETAIL: Route = Route("/v1/agents/{agent}/detail");
/// Latency and cost percentiles: `{agent}`.
pub const AGENT_PERFORMANCE: Route = Route("/v1/agents/{agent}/performance");
/// Run lists: `{agent}`, `{which}` (slowest, costliest, failed).
pub const AGENT_RUNS: Route = Route("/v1/agents/{agent}/runs/{which}");
/// Tool error rates: `{agent}`.
pub const AGENT_TOOLS: Route = Route("/v1/agents/{agent}/tools");
/// Approval metrics: `{agent}`.
pub const AGENT_APPROVALS: Route = Route("/v1/agents/{agent}/approvals");
/// Version changes: `{agent}`.
pub const AGENT_CHANGES: Route = Route("/v1/agents/{agent}/changes");
/// Controls in force, polled by the agent: `{agent}`.
pub const AGENT_CONTROLS: Route = Route("/v1/agents/{agent}/controls");
/// Register a callback URL: `{agent}`.
pub const AGENT_CALLBACK: Route = Route("/v1/agents/{agent}/callback");
/// One approval as its agent asked for it: `{agent}`, `{request_id}`.
pub const AGENT_APPROVAL: Route = Route("/v1/agents/{agent}/approvals/{request_id}");
/// Reload the hub's configuration files (lead).
pub const RELOAD: Route = Route("/v1/reload");
/// Prometheus metrics of the hub.
pub const METRICS: Route = Route("/metrics");
/// Alerts from Prometheus Alertmanager (its webhook, version 4).
pub const ALERTMANAGER: Route = Route("/v1/alerts/alertmanager");
/// The shift-handoff summary.
pub const HANDOFF: Route = Route("/v1/handoff");
/// Leave a shift-handoff note.
pub const HANDOFF_NOTES: Route = Route("/v1/handoff/notes");

/// Every route, for tests and documentation.
pub const ALL: [Route; 34] = [
    HEALTHZ,
    EVENTS,
    TRACES,
    LOGS,
    METRICS_OTLP,
    STREAM,
    STATE,
    ME,
    AUDIT,
    AUDIT_VERIFY,
    HISTORY_APPROVALS,
    HISTORY_INCIDENTS,
    HISTORY_CONTROLS,
    APPROVAL_DECISION,
    INCIDENTS,
    INCIDENT_STEPS,
    INCIDENT_ACTION,
    RUNBOOKS,
    CONTROLS,
    CONTROL,
    PRESENCE,
    AGENTS,
    AGENT,
    AGENT_DETAIL,
    AGENT_PERFORMANCE,
    AGENT_RUNS,
    AGENT_TOOLS,
    AGENT_APPROVALS,
    AGENT_CHANGES,
    AGENT_CONTROLS,
    AGENT_CALLBACK,
    AGENT_APPROVAL,
    HANDOFF,
    HANDOFF_NOTES,
];

/// The ways an operator works an incident at [`INCIDENT_ACTION`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IncidentVerb {
    /// Acknowledge.
    Ack,
    /// Give it an owner.
    Assign,
    /// Raise its severity.
    Escalate,
    /// Add a note.
    Note,
    /// Resolve with a summary.
    Resolve,
    /// Page nobody about it for a while.
    Snooze,
}

impl IncidentVerb {
    /// Every verb.
    pub const ALL: [IncidentVerb; 6] = [
        Self::Ack,
        Self::Assign,
        Self::Escalate,
        Self::Note,
        Self::Resolve,
        Self::Snooze,
    ];

    /// The path segment.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ack => "ack",
            Self::Assign => "assign",
            Self::Escalate => "escalate",
            Self::Note => "note",
            Self::Resolve => "resolve",
            Self::Snooze => "snooze",
        }
    }

    /// Parses the path segment.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }

    /// The path of this verb on incident `id`.
    pub fn path(self, id: &str) -> String {
        INCIDENT_ACTION.path(&[id, self.as_str()])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_encoded_as_one_segment_each() {
        assert_eq!(
            APPROVAL_DECISION.path(&["APR-33"]),
            "/v1/approvals/APR-33/decision"
        );
        assert_eq!(
            AGENT_DETAIL.path(&["team/bot 100% é"]),
            "/v1/agents/team%2Fbot%20100%25%20%C3%A9/detail"
        );
        assert_eq!(
            AGENT_APPROVAL.path(&["a/b", "q?1#x"]),
            "/v1/agents/a%2Fb/approvals/q%3F1%23x"
        );
        assert_eq!(IncidentVerb::Ack.path("INC-1"), "/v1/incidents/INC-1/ack");
        assert_eq!(EVENTS.path(&[]), "/v1/events");
    }

    #[test]
    fn every_route_is_an_absolute_template_with_closed_placeholders() {
        for r in ALL {
            let t = r.template();
            assert!(t.starts_with('/'), "{t}");
            assert_eq!(t.matches('{').count(), t.matches('}').count(), "{t}");
            let params: Vec<String> = (0..r.arity()).map(|i| format!("p{i}")).collect();
            let refs: Vec<&str> = params.iter().map(String::as_str).collect();
            let path = r.path(&refs);
            assert!(!path.contains('{'), "{t} → {path}");
        }
        for v in IncidentVerb::ALL {
            assert_eq!(IncidentVerb::parse(v.as_str()), Some(v));
        }
    }
}
