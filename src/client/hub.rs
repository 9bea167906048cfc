//! The typed client of one hub: one method per endpoint the TUI reads,
//! and [`Call`], the operator actions as typed requests. Paths come from
//! [`crate::model::api`]; refusals come back as the hub's [`ErrorBody`].

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::model::action::{
    AssignRequest, ControlRequest, DecisionRequest, ErrorBody, EscalateRequest, Me, NoteRequest,
    OpenIncidentRequest, PresenceRequest, ResolveRequest,
};
use crate::model::api::{self, IncidentVerb};
use crate::model::audit::{AuditChain, AuditPage, AuditQuery};
use crate::model::drill::AgentDetail;
use crate::model::history::{
    ApprovalRecord, ControlRecord, HistoryPage, HistoryQuery, IncidentRecord,
};
use crate::runbook::{RunbookList, StepRequest};

use super::actions::{Method, Request};
use super::hubs::HubList;

/// Time allowed for a read.
pub const READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Time allowed for a check of the whole audit log (the hub walks about
/// half a million entries a second; see docs/performance.md).
pub const FULL_CHECK_TIMEOUT: Duration = Duration::from_secs(120);

/// Why a request to the hub did not give the answer asked for.
#[derive(Debug, Clone, PartialEq)]
pub enum HubError {
    /// The hub answered with an error status and its reason.
    Refused {
        /// The HTTP status.
        status: u16,
        /// The hub's explanation.
        body: ErrorBody,
    },
    /// No answer: connection refused, reset, timed out, TLS refused.
    Unreachable(String),
    /// An answer that does not parse as what the endpoint promises.
    BadAnswer(String),
}

impl std::fmt::Display for HubError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Refused { status, body } if body.error.is_empty() => {
                write!(f, "the hub answered {status}")
            }
            Self::Refused { status, body } => {
                write!(f, "the hub answered {status}: {}", body.error)
            }
            Self::Unreachable(why) => f.write_str(why),
            Self::BadAnswer(why) => write!(f, "the hub's answer does not parse: {why}"),
        }
    }
}

impl std::error::Error for HubError {}

/// Reads the hub's reason from an error answer's body; a body that is not
/// an [`ErrorBody`] gives an empty reason rather than none at all.
pub fn error_body(bytes: &[u8]) -> ErrorBody {
    serde_json::from_slice(bytes).unwrap_or(ErrorBody {
        error: String::new(),
        needs: None,
        current: None,
    })
}

/// One hub, reached with one token, at one address or several (a request
/// that cannot reach the current address moves the process on to the
/// next; the caller's retry goes there).
#[derive(Debug, Clone)]
pub struct Hub {
    http: reqwest::Client,
    hubs: Arc<HubList>,
    token: String,
}

impl Hub {
    /// A client of the hub at `base` (e.g. `http://127.0.0.1:7070`).
    pub fn new(http: reqwest::Client, base: &str, token: &str) -> Self {
        Self::over(http, Arc::new(HubList::one(base)), token)
    }

    /// A client of the hub at any of `hubs`, sharing which one is current
    /// with everything else that holds them.
    pub fn over(http: reqwest::Client, hubs: Arc<HubList>, token: &str) -> Self {
        Self {
            http,
            hubs,
            token: token.to_string(),
        }
    }

    /// The base URL in use, without a trailing slash.
    pub fn base(&self) -> &str {
        self.hubs.current().1
    }

    /// How many addresses the hub was given.
    pub fn addresses(&self) -> usize {
        self.hubs.len()
    }

    /// The full URL of `path` at the address in use.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base())
    }

    /// A request that got no answer: the next one goes to the next
    /// address.
    fn unreachable(&self, at: usize, e: &reqwest::Error) -> HubError {
        self.hubs.failed(at);
        HubError::Unreachable(super::feed::describe(e))
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, HubError> {
        self.get_within(path, READ_TIMEOUT).await
    }

    async fn get_within<T: DeserializeOwned>(
        &self,
        path: &str,
        timeout: Duration,
    ) -> Result<T, HubError> {
        let bytes = self.get_bytes(path, timeout).await?;
        serde_json::from_slice(&bytes).map_err(|e| HubError::BadAnswer(e.to_string()))
    }

    async fn get_bytes(&self, path: &str, timeout: Duration) -> Result<Vec<u8>, HubError> {
        let (at, url) = self.hubs.at(path);
        let r = self
            .http
            .get(url)
            .bearer_auth(&self.token)
            .timeout(timeout)
            .send()
            .await
            .map_err(|e| self.unreachable(at, &e))?;
        answer(r).await
    }

    /// `GET /v1/me`: who the token belongs to.
    pub async fn me(&self) -> Result<Me, HubError> {
        self.get(&api::ME.path(&[])).await
    }

    /// `GET /v1/runbooks`.
    pub async fn runbooks(&self) -> Result<RunbookList, HubError> {
        self.get(&api::RUNBOOKS.path(&[])).await
    }

    /// `GET /v1/agents/{agent}/detail`: one agent's drill-down.
    pub async fn agent_detail(&self, agent: &str) -> Result<AgentDetail, HubError> {
        self.get(&api::AGENT_DETAIL.path(&[agent])).await
    }

    /// `GET /v1/handoff?format=markdown`: the shift summary as Markdown.
    pub async fn handoff_markdown(&self) -> Result<String, HubError> {
        let path = format!("{}?format=markdown", api::HANDOFF.path(&[]));
        let bytes = self.get_bytes(&path, READ_TIMEOUT).await?;
        String::from_utf8(bytes).map_err(|e| HubError::BadAnswer(e.to_string()))
    }

    /// `GET /v1/history/approvals`: a page of decided approvals, newest
    /// first; pass the page's `next` as the next query's `before`.
    pub async fn approval_history(
        &self,
        q: &HistoryQuery,
    ) -> Result<HistoryPage<ApprovalRecord>, HubError> {
        self.get(&with_query(api::HISTORY_APPROVALS, &q.pairs()))
            .await
    }

    /// `GET /v1/history/incidents`: a page of resolved incidents, newest
    /// first.
    pub async fn incident_history(
        &self,
        q: &HistoryQuery,
    ) -> Result<HistoryPage<IncidentRecord>, HubError> {
        self.get(&with_query(api::HISTORY_INCIDENTS, &q.pairs()))
            .await
    }

    /// `GET /v1/history/controls`: a page of lifted and expired controls,
    /// newest first.
    pub async fn control_history(
        &self,
        q: &HistoryQuery,
    ) -> Result<HistoryPage<ControlRecord>, HubError> {
        self.get(&with_query(api::HISTORY_CONTROLS, &q.pairs()))
            .await
    }

    /// `GET /v1/audit`: a page of the audit log, filtered; newest first
    /// with `before` or `order: Newest` (then pass `next_before` on).
    pub async fn audit(&self, q: &AuditQuery) -> Result<AuditPage, HubError> {
        self.get(&with_query(api::AUDIT, &q.pairs())).await
    }

    /// `GET /v1/audit/verify`: the chain's state, checked over what was
    /// written since the hub's last check; `full` walks the whole log
    /// again (a lead only), which takes longer on a long log.
    pub async fn audit_verify(&self, full: bool) -> Result<AuditChain, HubError> {
        if full {
            let path = with_query(api::AUDIT_VERIFY, &[("full", "1".into())]);
            self.get_within(&path, FULL_CHECK_TIMEOUT).await
        } else {
            self.get(&api::AUDIT_VERIFY.path(&[])).await
        }
    }

    /// `POST /v1/presence`: what the operator is looking at.
    pub async fn presence(&self, body: &PresenceRequest) -> Result<(), HubError> {
        let (at, url) = self.hubs.at(&api::PRESENCE.path(&[]));
        let r = self
            .http
            .post(url)
            .bearer_auth(&self.token)
            .json(body)
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .map_err(|e| self.unreachable(at, &e))?;
        answer(r).await.map(drop)
    }

    /// Sends one attempt of an operator action with its idempotency key,
    /// within `timeout`; the hub's answer on success.
    pub async fn send(
        &self,
        request: &Request,
        timeout: Duration,
    ) -> Result<serde_json::Value, HubError> {
        let (at, url) = self.hubs.at(&request.path);
        let mut builder = match request.method {
            Method::Post => self.http.post(&url),
            Method::Delete => self.http.delete(&url),
        }
        .bearer_auth(&self.token)
        .header("Idempotency-Key", &request.key)
        .timeout(timeout);
        if let Some(body) = &request.body {
            builder = builder.json(body);
        }
        let r = builder.send().await.map_err(|e| self.unreachable(at, &e))?;
        let bytes = answer(r).await?;
        Ok(serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null))
    }
}

/// The path of `route` (no parameters) with a query string.
fn with_query(route: api::Route, pairs: &[(&'static str, String)]) -> String {
    let path = route.path(&[]);
    if pairs.is_empty() {
        return path;
    }
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        query.append_pair(k, v);
    }
    format!("{path}?{}", query.finish())
}

/// The body of a successful answer, or the hub's refusal.
async fn answer(r: reqwest::Response) -> Result<Vec<u8>, HubError> {
    let status = r.status();
    let bytes = r
        .bytes()
        .await
        .map_err(|e| HubError::Unreachable(super::feed::describe(&e)))?;
    if status.is_success() {
        Ok(bytes.to_vec())
    } else {
        Err(HubError::Refused {
            status: status.as_u16(),
            body: error_body(&bytes),
        })
    }
}

/// An operator action as a typed request: what the TUI sends.
#[derive(Debug, Clone, PartialEq)]
pub enum Call {
    /// `POST /v1/approvals/{id}/decision`.
    Decide(String, DecisionRequest),
    /// `POST /v1/incidents/{id}/ack`.
    Ack(String),
    /// `POST /v1/incidents/{id}/assign`.
    Assign(String, AssignRequest),
    /// `POST /v1/incidents/{id}/escalate`.
    Escalate(String, EscalateRequest),
    /// `POST /v1/incidents/{id}/note`.
    Note(String, NoteRequest),
    /// `POST /v1/incidents/{id}/resolve`.
    Resolve(String, ResolveRequest),
    /// `POST /v1/incidents/{id}/snooze`.
    Snooze(String, crate::model::action::SnoozeRequest),
    /// `POST /v1/incidents`.
    OpenIncident(OpenIncidentRequest),
    /// `POST /v1/incidents/{id}/steps`.
    RunStep(String, StepRequest),
    /// `POST /v1/controls`.
    Control(ControlRequest),
    /// `DELETE /v1/controls/{id}`.
    Lift(String),
    /// `POST /v1/handoff/notes`.
    HandoffNote(crate::handoff::NoteRequest),
}

/// The empty JSON object some actions send (`ack`).
#[derive(Serialize)]
struct Empty {}

impl Call {
    /// The HTTP method.
    pub fn method(&self) -> Method {
        match self {
            Self::Lift(_) => Method::Delete,
            _ => Method::Post,
        }
    }

    /// The path, parameters percent-encoded.
    pub fn path(&self) -> String {
        match self {
            Self::Decide(id, _) => api::APPROVAL_DECISION.path(&[id]),
            Self::Ack(id) => IncidentVerb::Ack.path(id),
            Self::Assign(id, _) => IncidentVerb::Assign.path(id),
            Self::Escalate(id, _) => IncidentVerb::Escalate.path(id),
            Self::Note(id, _) => IncidentVerb::Note.path(id),
            Self::Resolve(id, _) => IncidentVerb::Resolve.path(id),
            Self::Snooze(id, _) => IncidentVerb::Snooze.path(id),
            Self::OpenIncident(_) => api::INCIDENTS.path(&[]),
            Self::RunStep(id, _) => api::INCIDENT_STEPS.path(&[id]),
            Self::Control(_) => api::CONTROLS.path(&[]),
            Self::Lift(id) => api::CONTROL.path(&[id]),
            Self::HandoffNote(_) => api::HANDOFF_NOTES.path(&[]),
        }
    }

    /// The JSON body, if the action has one.
    pub fn body(&self) -> Option<serde_json::Value> {
        let value = match self {
            Self::Decide(_, b) => serde_json::to_value(b),
            Self::Ack(_) => serde_json::to_value(Empty {}),
            Self::Assign(_, b) => serde_json::to_value(b),
            Self::Escalate(_, b) => serde_json::to_value(b),
            Self::Note(_, b) => serde_json::to_value(b),
            Self::Resolve(_, b) => serde_json::to_value(b),
            Self::Snooze(_, b) => serde_json::to_value(b),
            Self::OpenIncident(b) => serde_json::to_value(b),
            Self::RunStep(_, b) => serde_json::to_value(b),
            Self::Control(b) => serde_json::to_value(b),
            Self::Lift(_) => return None,
            Self::HandoffNote(b) => serde_json::to_value(b),
        };
        // Plain structs of strings and numbers always serialize.
        value.ok()
    }

    /// The request for the action loop, with local id `id` and a fresh
    /// idempotency key.
    pub fn request(&self, id: u64) -> Request {
        Request {
            id,
            method: self.method(),
            path: self.path(),
            body: self.body(),
            key: super::actions::new_key(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::approval::Verdict;

    #[test]
    fn queries_are_encoded_in_the_path() {
        let q = HistoryQuery {
            limit: Some(20),
            before: Some("YXBw".into()),
            q: Some("rôle & co".into()),
        };
        assert_eq!(
            with_query(api::HISTORY_APPROVALS, &q.pairs()),
            "/v1/history/approvals?limit=20&before=YXBw&q=r%C3%B4le+%26+co"
        );
        assert_eq!(
            with_query(api::HISTORY_CONTROLS, &HistoryQuery::default().pairs()),
            "/v1/history/controls"
        );
        let audit = AuditQuery {
            before: Some(90),
            kind: Some("approval.".into()),
            agent: Some("team/bot".into()),
            ..AuditQuery::default()
        };
        assert_eq!(
            with_query(api::AUDIT, &audit.pairs()),
            "/v1/audit?before=90&kind=approval.&agent=team%2Fbot"
        );
    }

    #[test]
    fn calls_carry_their_typed_bodies_and_encoded_paths() {
        let r = Call::Decide(
            "APR-3".into(),
            DecisionRequest {
                decision: Verdict::Reject,
                reason: Some("no".into()),
                modified_args: None,
            },
        )
        .request(7);
        assert_eq!(r.path, "/v1/approvals/APR-3/decision");
        assert_eq!(
            r.body,
            Some(serde_json::json!({"decision": "reject", "reason": "no"}))
        );
        assert_eq!(r.id, 7);
        assert!(r.key.starts_with("k-"));
        assert_eq!(
            Call::Ack("INC-1".into()).body(),
            Some(serde_json::json!({}))
        );
        let lift = Call::Lift("CTL 1/2".into());
        assert_eq!(lift.method(), Method::Delete);
        assert_eq!(lift.path(), "/v1/controls/CTL%201%2F2");
        assert_eq!(lift.body(), None);
    }
}
