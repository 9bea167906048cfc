//! The history operators look back on: decided approvals, resolved
//! incidents and ended controls, each as one record, paged newest first by
//! `GET /v1/history/{approvals,incidents,controls}`.
//!
//! A page is ordered by when the object closed (decided, resolved, ended),
//! then by id, and the next page starts after the last item of this one (a
//! keyset cursor). Objects that close while an operator pages appear at the
//! top, never in a page further down, so paging back neither repeats nor
//! skips an item.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::approval::{Approval, ApprovalState, Decision, Verdict};
use super::control::{Control, ControlKind, ControlState};
use super::envelope::Risk;
use super::incident::{Category, Incident, IncidentSource, IncidentState, Severity};

/// Items in a page when the query gives no `limit`.
pub const DEFAULT_LIMIT: usize = 50;
/// Most items in one page.
pub const MAX_LIMIT: usize = 500;
/// Longest search text (`q`), in bytes.
pub const MAX_SEARCH_BYTES: usize = 128;

/// Which history a page or cursor belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HistoryKind {
    /// Decided approvals.
    Approvals,
    /// Resolved incidents.
    Incidents,
    /// Lifted and expired controls.
    Controls,
}

impl HistoryKind {
    /// The name in paths and cursors.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Approvals => "approvals",
            Self::Incidents => "incidents",
            Self::Controls => "controls",
        }
    }
}

/// A page of history, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistoryPage<T> {
    /// The items, newest first.
    pub items: Vec<T>,
    /// The cursor of the next, older page (pass it as `before`), or `null`
    /// when no older item matches.
    pub next: Option<String>,
}

/// What a page asks for: the query of `GET /v1/history/…`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistoryQuery {
    /// Items wanted, 1 to [`MAX_LIMIT`] (default [`DEFAULT_LIMIT`]).
    #[serde(default)]
    pub limit: Option<usize>,
    /// The `next` of the previous page; none for the newest page.
    #[serde(default)]
    pub before: Option<String>,
    /// Only items whose text holds this, ignoring case.
    #[serde(default)]
    pub q: Option<String>,
}

impl HistoryQuery {
    /// The query string's pairs, for a client to encode.
    pub fn pairs(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if let Some(n) = self.limit {
            out.push(("limit", n.to_string()));
        }
        if let Some(c) = &self.before {
            out.push(("before", c.clone()));
        }
        if let Some(q) = self.q.as_deref().filter(|q| !q.is_empty()) {
            out.push(("q", q.to_string()));
        }
        out
    }
}

/// The page size a query asks for, or why it is refused.
pub fn page_limit(limit: Option<usize>) -> Result<usize, String> {
    match limit {
        None => Ok(DEFAULT_LIMIT),
        Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        Some(n) => Err(format!("must be 1 to {MAX_LIMIT}, got {n}")),
    }
}

/// The search text of a query, lowercased as records' texts are, or why
/// it is refused. An empty text searches for nothing (a cleared filter).
pub fn search_key(q: Option<&str>) -> Result<Option<String>, String> {
    let Some(q) = q.filter(|q| !q.is_empty()) else {
        return Ok(None);
    };
    if q.len() > MAX_SEARCH_BYTES {
        return Err(format!(
            "is {} bytes long (limit {MAX_SEARCH_BYTES})",
            q.len()
        ));
    }
    if q.chars().any(char::is_control) {
        return Err("must not contain control characters".into());
    }
    Ok(Some(q.to_lowercase()))
}

/// Where a page ends: the close time (in microseconds) and id of its last
/// item. Sent as an opaque string; only the hub reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    /// The history it pages.
    pub kind: HistoryKind,
    /// When the last item closed, Unix microseconds.
    pub closed_us: i64,
    /// The last item's id.
    pub id: String,
}

impl Cursor {
    /// The cursor after an item that closed at `closed` with `id`.
    pub fn after(kind: HistoryKind, closed: DateTime<Utc>, id: &str) -> Self {
        Self {
            kind,
            closed_us: closed.timestamp_micros(),
            id: id.to_string(),
        }
    }

    /// The string a page's `next` carries.
    pub fn encode(&self) -> String {
        let raw = format!("{}/{}/{}", self.kind.as_str(), self.closed_us, self.id);
        URL_SAFE_NO_PAD.encode(raw)
    }

    /// Reads a `before` of the `kind` history, or says why it is not one.
    pub fn parse(kind: HistoryKind, text: &str) -> Result<Self, String> {
        let bad = || "is not a cursor (pass back the \"next\" of the previous page)".to_string();
        let bytes = URL_SAFE_NO_PAD.decode(text).map_err(|_| bad())?;
        let raw = String::from_utf8(bytes).map_err(|_| bad())?;
        let mut parts = raw.splitn(3, '/');
        let (Some(list), Some(us), Some(id)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(bad());
        };
        if list != kind.as_str() {
            return Err(format!(
                "is a cursor of the {list} history, not of {}",
                kind.as_str()
            ));
        }
        let closed_us = us.parse::<i64>().map_err(|_| bad())?;
        super::validate::id("before", id).map_err(|_| bad())?;
        Ok(Self {
            kind,
            closed_us,
            id: id.to_string(),
        })
    }
}

/// Whole seconds from `from` to `to`, never negative.
fn seconds(from: DateTime<Utc>, to: DateTime<Utc>) -> u64 {
    u64::try_from((to - from).num_seconds()).unwrap_or(0)
}

/// The text a search matches: the fields joined by line breaks (which a
/// search cannot hold, so it never matches across two), lowercased.
fn search_text<'a>(fields: impl IntoIterator<Item = &'a str>) -> String {
    fields
        .into_iter()
        .filter(|f| !f.is_empty())
        .collect::<Vec<_>>()
        .join("\n")
        .to_lowercase()
}

/// A decided approval: who decided, when, what and why, and how long the
/// agent waited.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovalRecord {
    /// `APR-<n>`.
    pub id: String,
    /// The agent that asked.
    pub agent: String,
    /// Its workflow.
    pub workflow: String,
    /// What it wanted to do.
    pub action: String,
    /// The tool it would call.
    pub tool: Option<String>,
    /// How risky.
    pub risk: Risk,
    /// The arguments it asked with.
    pub args: serde_json::Value,
    /// The agent's stated reason for asking.
    pub request_reason: Option<String>,
    /// `approved`, `rejected` or `expired` (undecided by the deadline,
    /// treated as rejected).
    pub decision: ApprovalState,
    /// The approver whose decision closed it; `null` when it expired.
    pub decided_by: Option<String>,
    /// That decision's reason.
    pub reason: Option<String>,
    /// When the agent asked.
    pub requested_at: DateTime<Utc>,
    /// When it closed (the deadline, when it expired).
    pub decided_at: DateTime<Utc>,
    /// Seconds from the request to the close.
    pub waited_s: u64,
    /// Every decision, oldest first (both approvers of a two-person
    /// approval).
    pub decisions: Vec<Decision>,
}

impl ApprovalRecord {
    /// The record of a closed approval; `None` while it is open.
    pub fn of(a: &Approval) -> Option<Self> {
        let decided_at = a.closed_at.filter(|_| !a.state.is_open())?;
        let closing = a
            .decisions
            .last()
            .filter(|_| a.state != ApprovalState::Expired);
        Some(Self {
            id: a.id.clone(),
            agent: a.agent.clone(),
            workflow: a.workflow.clone(),
            action: a.action.clone(),
            tool: a.tool.clone(),
            risk: a.risk,
            args: a.args.clone(),
            request_reason: a.reason.clone(),
            decision: a.state,
            decided_by: closing.map(|d| d.by.clone()),
            reason: closing.and_then(|d| d.reason.clone()),
            requested_at: a.requested_at,
            decided_at,
            waited_s: seconds(a.requested_at, decided_at),
            decisions: a.decisions.clone(),
        })
    }

    /// What `q` is matched against: id, agent, workflow, action, tool, the
    /// decision, every decider and reason, the agent's reason.
    pub fn search_text(&self) -> String {
        let mut fields = vec![
            self.id.as_str(),
            &self.agent,
            &self.workflow,
            &self.action,
            self.tool.as_deref().unwrap_or(""),
            self.decision.as_str(),
            self.request_reason.as_deref().unwrap_or(""),
        ];
        for d in &self.decisions {
            fields.push(&d.by);
            fields.push(d.reason.as_deref().unwrap_or(""));
            fields.push(match d.verdict {
                Verdict::Approve => "approve",
                Verdict::Reject => "reject",
            });
        }
        search_text(fields)
    }
}

/// A resolved incident with its response times.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IncidentRecord {
    /// `INC-<n>`.
    pub id: String,
    /// Its title.
    pub title: String,
    /// Its severity when resolved.
    pub severity: Severity,
    /// Its category.
    pub category: Category,
    /// Who opened it.
    pub source: IncidentSource,
    /// The agent involved, if one.
    pub agent: Option<String>,
    /// Who owned it when it was resolved.
    pub owner: Option<String>,
    /// Who resolved it.
    pub resolved_by: Option<String>,
    /// The resolution summary.
    pub summary: Option<String>,
    /// When it opened.
    pub opened_at: DateTime<Utc>,
    /// When it was first acknowledged; `null` if never.
    pub acknowledged_at: Option<DateTime<Utc>>,
    /// When it was contained; `null` if never.
    pub contained_at: Option<DateTime<Utc>>,
    /// When it was resolved.
    pub resolved_at: DateTime<Utc>,
    /// Seconds from opening to the first acknowledgement (time to
    /// acknowledge); `null` when resolved unacknowledged.
    pub mtta_s: Option<u64>,
    /// Seconds from opening to resolution (time to resolve).
    pub mttr_s: u64,
    /// Controls applied for it.
    pub controls: Vec<String>,
}

impl IncidentRecord {
    /// The record of a resolved incident; `None` while it is open.
    pub fn of(i: &Incident) -> Option<Self> {
        let resolved_at = i
            .resolved_at
            .filter(|_| i.state == IncidentState::Resolved)?;
        let resolved_by = i
            .timeline
            .iter()
            .rev()
            .find(|t| t.kind == "resolved")
            .map(|t| t.actor.clone());
        Some(Self {
            id: i.id.clone(),
            title: i.title.clone(),
            severity: i.severity,
            category: i.category,
            source: i.source,
            agent: i.agent.clone(),
            owner: i.owner.clone(),
            resolved_by,
            summary: i.summary.clone(),
            opened_at: i.opened_at,
            acknowledged_at: i.acknowledged_at,
            contained_at: i.contained_at,
            resolved_at,
            mtta_s: i.acknowledged_at.map(|t| seconds(i.opened_at, t)),
            mttr_s: seconds(i.opened_at, resolved_at),
            controls: i.controls.clone(),
        })
    }

    /// What `q` is matched against: id, title, agent, owner, who resolved
    /// it, severity, category, summary.
    pub fn search_text(&self) -> String {
        search_text([
            self.id.as_str(),
            &self.title,
            self.agent.as_deref().unwrap_or(""),
            self.owner.as_deref().unwrap_or(""),
            self.resolved_by.as_deref().unwrap_or(""),
            self.severity.as_str(),
            self.category.as_str(),
            self.summary.as_deref().unwrap_or(""),
        ])
    }
}

/// A control no longer in force: lifted by an operator or run out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ControlRecord {
    /// `CTL-<n>`.
    pub id: String,
    /// The agent it bound, or `*` for the fleet.
    pub agent: String,
    /// What it made the agent do.
    pub kind: ControlKind,
    /// The tool, for `disable_tool`.
    pub tool: Option<String>,
    /// The version, for `pin_version`.
    pub version: Option<String>,
    /// Why it was set.
    pub reason: String,
    /// The incident it was set for.
    pub incident: Option<String>,
    /// `lifted` or `expired`.
    pub state: ControlState,
    /// Who set it.
    pub set_by: String,
    /// When.
    pub set_at: DateTime<Utc>,
    /// When it was due to expire, if it had a TTL.
    pub expires_at: Option<DateTime<Utc>>,
    /// Who lifted it; `null` when it expired.
    pub lifted_by: Option<String>,
    /// When it stopped being in force.
    pub ended_at: DateTime<Utc>,
    /// Seconds it was in force.
    pub active_s: u64,
}

impl ControlRecord {
    /// The record of an ended control; `None` while it is in force.
    pub fn of(c: &Control) -> Option<Self> {
        let ended_at = c.ended_at.filter(|_| c.state != ControlState::Active)?;
        Some(Self {
            id: c.id.clone(),
            agent: c.agent.clone(),
            kind: c.kind,
            tool: c.tool.clone(),
            version: c.version.clone(),
            reason: c.reason.clone(),
            incident: c.incident.clone(),
            state: c.state,
            set_by: c.set_by.clone(),
            set_at: c.set_at,
            expires_at: c.expires_at,
            lifted_by: c.lifted_by.clone(),
            ended_at,
            active_s: seconds(c.set_at, ended_at),
        })
    }

    /// What `q` is matched against: id, agent, kind, tool, version,
    /// reason, incident, who set and lifted it, its state.
    pub fn search_text(&self) -> String {
        search_text([
            self.id.as_str(),
            &self.agent,
            self.kind.as_str(),
            self.tool.as_deref().unwrap_or(""),
            self.version.as_deref().unwrap_or(""),
            &self.reason,
            self.incident.as_deref().unwrap_or(""),
            &self.set_by,
            self.lifted_by.as_deref().unwrap_or(""),
            match self.state {
                ControlState::Active => "active",
                ControlState::Lifted => "lifted",
                ControlState::Expired => "expired",
            },
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_name_their_list() {
        let t = DateTime::from_timestamp_micros(1_800_000_000_123_456).unwrap();
        let c = Cursor::after(HistoryKind::Incidents, t, "INC-12");
        let text = c.encode();
        assert!(
            text.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        assert_eq!(Cursor::parse(HistoryKind::Incidents, &text), Ok(c));
        let wrong = Cursor::parse(HistoryKind::Approvals, &text).unwrap_err();
        assert!(wrong.contains("incidents history"), "{wrong}");
        for junk in [
            "",
            "!!",
            "aGVsbG8",
            &URL_SAFE_NO_PAD.encode("incidents/x/INC-1"),
        ] {
            assert!(
                Cursor::parse(HistoryKind::Incidents, junk).is_err(),
                "{junk}"
            );
        }
    }

    #[test]
    fn limits_and_searches_are_checked() {
        assert_eq!(page_limit(None), Ok(DEFAULT_LIMIT));
        assert_eq!(page_limit(Some(500)), Ok(500));
        assert!(page_limit(Some(0)).is_err());
        assert!(page_limit(Some(501)).unwrap_err().contains("1 to 500"));
        assert_eq!(search_key(Some("")), Ok(None));
        assert_eq!(search_key(Some("Refund É")), Ok(Some("refund é".into())));
        assert!(search_key(Some("a\nb")).is_err());
        assert!(search_key(Some(&"x".repeat(MAX_SEARCH_BYTES + 1))).is_err());
    }
}
