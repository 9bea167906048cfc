//! The role × endpoint table of `docs/protocol.md` (§6.2), checked cell by
//! cell against a real hub over loopback HTTP.
//!
//! The table is read from the document itself, so the document and the hub
//! cannot drift apart: every row is probed with every caller (no token, an
//! unknown token, a malformed `Authorization` header, the `agent` token that
//! speaks for every agent, the `bot` token that speaks for refund-bot only,
//! and one token per operator role), and the status must be the one in the
//! table. Each request is otherwise valid: objects it acts on (approvals,
//! incidents, controls) are made fresh for every single check, so an allowed
//! role gets its 2xx rather than a 404 or 409, and a refused one is refused
//! for its role alone.
//!
//! The table, the router (`src/hub/http/mod.rs`) and the probes below are
//! cross-checked both ways: a route missing from the table, a row naming no
//! route, or a row this test cannot probe fails the test.
//!
//! Known disagreements between the document and the hub are listed in
//! [`KNOWN_MISMATCHES`], each with its reason; an entry that no longer
//! disagrees fails the test so that it gets removed.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::{Duration as Span, Utc};
use reqwest::header::{AUTHORIZATION, ETAG, IF_NONE_MATCH};
use reqwest::{Method, RequestBuilder};
use serde_json::{Value, json};
use support::{TestHub, approval_line, run_line};

const DOC: &str = include_str!("../docs/protocol.md");
const ROUTES_RS: &str = include_str!("../src/hub/http/mod.rs");
/// The path table the router takes its templates from.
const API_RS: &str = include_str!("../src/model/api.rs");

/// The heading the table sits under.
const TABLE_HEADING: &str = "Role × endpoint";

/// The columns of the table, as its header names them (backticks removed).
const COLUMNS: &[&str] = &[
    "no token",
    "agent",
    "viewer",
    "responder",
    "approver",
    "lead",
    "alerts",
];

/// The router's endpoints, as `router()` in `src/hub/http/mod.rs` declares
/// them. Checked against that source, and against the table both ways.
const ROUTER_ENDPOINTS: &[(&str, &str)] = &[
    ("GET", "/healthz"),
    ("GET", "/metrics"),
    ("POST", "/v1/reload"),
    ("POST", "/v1/events"),
    ("POST", "/v1/traces"),
    ("POST", "/v1/logs"),
    ("POST", "/v1/metrics"),
    ("GET", "/v1/stream"),
    ("GET", "/v1/state"),
    ("GET", "/v1/me"),
    ("GET", "/v1/audit"),
    ("GET", "/v1/audit/verify"),
    ("GET", "/v1/history/approvals"),
    ("GET", "/v1/history/incidents"),
    ("GET", "/v1/history/controls"),
    ("POST", "/v1/approvals/{id}/decision"),
    ("POST", "/v1/incidents"),
    ("POST", "/v1/incidents/{id}/{action}"),
    ("POST", "/v1/controls"),
    ("DELETE", "/v1/controls/{id}"),
    ("POST", "/v1/presence"),
    ("GET", "/v1/agents/{agent}/controls"),
    ("PUT", "/v1/agents/{agent}/callback"),
    ("GET", "/v1/agents"),
    ("GET", "/v1/agents/{agent}"),
    ("PUT", "/v1/agents/{agent}"),
    ("GET", "/v1/agents/{agent}/detail"),
    ("GET", "/v1/agents/{agent}/performance"),
    ("GET", "/v1/agents/{agent}/runs/{which}"),
    ("GET", "/v1/agents/{agent}/tools"),
    ("GET", "/v1/agents/{agent}/approvals"),
    ("GET", "/v1/agents/{agent}/changes"),
    ("GET", "/v1/agents/{agent}/approvals/{request_id}"),
    ("POST", "/v1/incidents/{id}/steps"),
    ("GET", "/v1/runbooks"),
    ("GET", "/v1/handoff"),
    ("POST", "/v1/handoff/notes"),
    ("POST", "/v1/alerts/alertmanager"),
];

/// How a request is made for each row of the table. The key is the row's
/// `Endpoint` cell with its backticks removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Probe {
    Healthz,
    Me,
    Events,
    Traces,
    /// An OTLP logs or metrics export (accepted, not used): the path.
    Otlp(&'static str),
    Stream,
    State,
    Audit,
    /// `GET /v1/audit/verify`; `true` asks for the whole walk (`full=1`).
    AuditVerify(bool),
    /// A history page: the path and query.
    History(&'static str),
    Presence,
    Decide,
    OpenIncident,
    IncidentAction(&'static str),
    ControlOneAgent,
    ControlFleet,
    LiftOwnControl,
    LiftOthersControl,
    AgentControlsOwn,
    AgentControlsOther,
    AgentApprovalOwn,
    CallbackOwn,
    RegisterOwn,
    RegisterOther,
    AgentRead(&'static str),
    RunStep,
    Runbooks,
    Handoff,
    HandoffNote,
    Alertmanager,
    Metrics,
    Reload,
}

const PROBES: &[(&str, Probe)] = &[
    ("GET /healthz", Probe::Healthz),
    ("GET /v1/me", Probe::Me),
    ("POST /v1/events", Probe::Events),
    ("POST /v1/traces", Probe::Traces),
    ("POST /v1/logs", Probe::Otlp("/v1/logs")),
    ("POST /v1/metrics", Probe::Otlp("/v1/metrics")),
    ("GET /v1/stream", Probe::Stream),
    ("GET /v1/state", Probe::State),
    ("GET /v1/audit", Probe::Audit),
    ("GET /v1/audit/verify", Probe::AuditVerify(false)),
    (
        "GET /v1/audit/verify, whole log (full=1)",
        Probe::AuditVerify(true),
    ),
    (
        "GET /v1/history/approvals",
        Probe::History("/v1/history/approvals?limit=5"),
    ),
    (
        "GET /v1/history/incidents",
        Probe::History("/v1/history/incidents?limit=5&q=role"),
    ),
    (
        "GET /v1/history/controls",
        Probe::History("/v1/history/controls"),
    ),
    ("POST /v1/incidents/{id}/steps", Probe::RunStep),
    ("GET /v1/runbooks", Probe::Runbooks),
    ("GET /v1/handoff", Probe::Handoff),
    ("POST /v1/handoff/notes", Probe::HandoffNote),
    ("POST /v1/alerts/alertmanager", Probe::Alertmanager),
    ("GET /metrics", Probe::Metrics),
    ("POST /v1/reload", Probe::Reload),
    ("POST /v1/presence", Probe::Presence),
    ("POST /v1/approvals/{id}/decision", Probe::Decide),
    ("POST /v1/incidents", Probe::OpenIncident),
    ("POST /v1/incidents/{id}/ack", Probe::IncidentAction("ack")),
    (
        "POST /v1/incidents/{id}/assign",
        Probe::IncidentAction("assign"),
    ),
    (
        "POST /v1/incidents/{id}/escalate",
        Probe::IncidentAction("escalate"),
    ),
    (
        "POST /v1/incidents/{id}/note",
        Probe::IncidentAction("note"),
    ),
    (
        "POST /v1/incidents/{id}/resolve",
        Probe::IncidentAction("resolve"),
    ),
    (
        "POST /v1/incidents/{id}/snooze",
        Probe::IncidentAction("snooze"),
    ),
    ("POST /v1/controls, one agent", Probe::ControlOneAgent),
    (r#"POST /v1/controls, "agent":"*""#, Probe::ControlFleet),
    (
        "DELETE /v1/controls/{id}, set by the caller",
        Probe::LiftOwnControl,
    ),
    (
        "DELETE /v1/controls/{id}, set by someone else",
        Probe::LiftOthersControl,
    ),
    (
        "GET /v1/agents/{agent}/controls, an agent the token speaks for",
        Probe::AgentControlsOwn,
    ),
    (
        "GET /v1/agents/{agent}/controls, another agent",
        Probe::AgentControlsOther,
    ),
    (
        "GET /v1/agents/{agent}/approvals/{request_id}, an agent the token speaks for",
        Probe::AgentApprovalOwn,
    ),
    (
        "PUT /v1/agents/{agent}/callback, an agent the token speaks for",
        Probe::CallbackOwn,
    ),
    (
        "PUT /v1/agents/{agent}, an agent the token speaks for",
        Probe::RegisterOwn,
    ),
    (
        "PUT /v1/agents/{agent}, another agent",
        Probe::RegisterOther,
    ),
    ("GET /v1/agents", Probe::AgentRead("")),
    ("GET /v1/agents/{agent}", Probe::AgentRead("/refund-bot")),
    (
        "GET /v1/agents/{agent}/detail",
        Probe::AgentRead("/refund-bot/detail"),
    ),
    (
        "GET /v1/agents/{agent}/performance",
        Probe::AgentRead("/refund-bot/performance"),
    ),
    (
        "GET /v1/agents/{agent}/runs/slowest",
        Probe::AgentRead("/refund-bot/runs/slowest"),
    ),
    (
        "GET /v1/agents/{agent}/runs/costliest",
        Probe::AgentRead("/refund-bot/runs/costliest"),
    ),
    (
        "GET /v1/agents/{agent}/runs/failed",
        Probe::AgentRead("/refund-bot/runs/failed"),
    ),
    (
        "GET /v1/agents/{agent}/tools",
        Probe::AgentRead("/refund-bot/tools"),
    ),
    (
        "GET /v1/agents/{agent}/approvals",
        Probe::AgentRead("/refund-bot/approvals"),
    ),
    (
        "GET /v1/agents/{agent}/changes",
        Probe::AgentRead("/refund-bot/changes"),
    ),
];

/// How a caller authenticates.
#[derive(Debug, Clone, Copy)]
enum Auth {
    /// No `Authorization` header.
    None,
    /// `Authorization: Bearer <token>` with one of the test hub's tokens.
    Token(&'static str),
    /// This `Authorization` header, verbatim.
    Header(&'static str),
}

/// One caller of the matrix and the table column that speaks for it.
#[derive(Debug, Clone, Copy)]
struct Caller {
    name: &'static str,
    column: &'static str,
    auth: Auth,
}

const CALLERS: &[Caller] = &[
    Caller {
        name: "no token",
        column: "no token",
        auth: Auth::None,
    },
    Caller {
        name: "wrong token",
        column: "no token",
        auth: Auth::Header("Bearer adk_00000000000000000000000000000000000000000000dead"),
    },
    Caller {
        // A known token under the wrong scheme: the table's note says the
        // "no token" column also covers a malformed header.
        name: "malformed",
        column: "no token",
        auth: Auth::Header("Token adk_test_lead"),
    },
    Caller {
        name: "agent",
        column: "agent",
        auth: Auth::Token("agent"),
    },
    Caller {
        name: "bot",
        column: "agent",
        auth: Auth::Token("bot"),
    },
    Caller {
        name: "viewer",
        column: "viewer",
        auth: Auth::Token("viewer"),
    },
    Caller {
        name: "responder",
        column: "responder",
        auth: Auth::Token("responder"),
    },
    Caller {
        name: "approver",
        column: "approver",
        auth: Auth::Token("approver"),
    },
    Caller {
        name: "lead",
        column: "lead",
        auth: Auth::Token("lead"),
    },
    Caller {
        name: "alerts",
        column: "alerts",
        auth: Auth::Token("alerts"),
    },
];

/// Cells of the table that cannot be probed for a caller: (row, caller, why).
const NOT_APPLICABLE: &[(&str, &str, &str)] = &[
    (
        "GET /v1/agents/{agent}/controls, another agent",
        "agent",
        "the `agent` token speaks for every agent (agents = [\"*\"]): there is no other agent; \
         the `bot` token covers this cell of the agent column",
    ),
    (
        "PUT /v1/agents/{agent}, another agent",
        "agent",
        "the `agent` token speaks for every agent (agents = [\"*\"]): there is no other agent; \
         the `bot` token covers this cell of the agent column",
    ),
];

/// ALLOW-LIST of known disagreements between docs/protocol.md §6.2 and the
/// hub: (row as in the doc without backticks, caller, status the hub
/// answers, why). The doc's status is what the test expects everywhere
/// else; here it accepts the hub's answer instead. Remove an entry once the
/// doc or the code is fixed: an entry whose cell agrees with the doc again
/// fails the test.
const KNOWN_MISMATCHES: &[(&str, &str, u16, &str)] = &[];

/// ALLOW-LIST of routes the router serves but the role table has no row
/// for: (method, path, why). They are probed with every caller and their
/// answers printed, but the doc gives nothing to check them against. Remove
/// an entry once the table has a row for the route (a stale entry fails).
const UNDOCUMENTED_ROUTES: &[(&str, &str, &str)] = &[];

/// One status cell: the status of an otherwise valid request, and the one
/// in parentheses (`200 (304)`: a conditional request with the `ETag` of the
/// first answer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Cell {
    status: u16,
    conditional: Option<u16>,
}

#[derive(Debug)]
struct Row {
    /// The `Endpoint` cell, backticks removed.
    endpoint: String,
    method: String,
    path: String,
    cells: BTreeMap<String, Cell>,
}

fn strip(cell: &str) -> String {
    cell.trim().replace('`', "")
}

fn split_cells(line: &str) -> Vec<String> {
    let line = line.trim();
    let inner = line
        .strip_prefix('|')
        .and_then(|l| l.strip_suffix('|'))
        .unwrap_or_else(|| panic!("docs/protocol.md: not a table row: {line:?}"));
    inner.split('|').map(strip).collect()
}

fn parse_cell(endpoint: &str, column: &str, text: &str) -> Cell {
    let fail = || {
        panic!(
            "docs/protocol.md §6.2: row {endpoint:?}, column {column:?}: cannot read {text:?} \
             as a status (expected `NNN` or `NNN (NNN)`)"
        )
    };
    let mut words = text.split_whitespace();
    let status = words
        .next()
        .and_then(|w| w.parse::<u16>().ok())
        .unwrap_or_else(fail);
    let conditional = words.next().map(|w| {
        w.strip_prefix('(')
            .and_then(|w| w.strip_suffix(')'))
            .and_then(|w| w.parse::<u16>().ok())
            .unwrap_or_else(fail)
    });
    if words.next().is_some() || !(100..600).contains(&status) {
        fail();
    }
    Cell {
        status,
        conditional,
    }
}

/// Reads the role × endpoint table out of the document. Panics, naming what
/// is wrong, when it cannot be found or read.
fn parse_table(doc: &str) -> Vec<Row> {
    let lines: Vec<&str> = doc.lines().collect();
    let heading = lines
        .iter()
        .position(|l| l.starts_with('#') && l.contains(TABLE_HEADING))
        .unwrap_or_else(|| {
            panic!(
                "docs/protocol.md: no heading containing {TABLE_HEADING:?}: the role table is gone"
            )
        });
    let header_at = (heading + 1..lines.len())
        .take_while(|&i| !lines[i].starts_with('#'))
        .find(|&i| lines[i].trim_start().starts_with('|'))
        .unwrap_or_else(|| {
            panic!(
                "docs/protocol.md: no table under {:?}",
                lines[heading].trim()
            )
        });
    let header = split_cells(lines[header_at]);
    assert_eq!(
        header.first().map(String::as_str),
        Some("Endpoint"),
        "docs/protocol.md §6.2: the first column of the role table must be `Endpoint`: {header:?}"
    );
    let columns: Vec<String> = header[1..].to_vec();
    let mut sorted_doc: Vec<&str> = columns.iter().map(String::as_str).collect();
    let mut sorted_test: Vec<&str> = COLUMNS.to_vec();
    sorted_doc.sort_unstable();
    sorted_test.sort_unstable();
    assert_eq!(
        sorted_doc, sorted_test,
        "docs/protocol.md §6.2: the role table's columns are not the roles this test knows"
    );
    let separator = split_cells(lines.get(header_at + 1).copied().unwrap_or(""));
    assert!(
        separator.len() == header.len()
            && separator
                .iter()
                .all(|c| !c.is_empty() && c.chars().all(|ch| ch == '-' || ch == ':')),
        "docs/protocol.md §6.2: the role table has no separator row under its header"
    );
    let mut rows = Vec::new();
    for line in lines[header_at + 2..]
        .iter()
        .take_while(|l| l.trim_start().starts_with('|'))
    {
        let cells = split_cells(line);
        assert_eq!(
            cells.len(),
            header.len(),
            "docs/protocol.md §6.2: row {line:?} has {} cells, the header {}",
            cells.len(),
            header.len()
        );
        let endpoint = cells[0].clone();
        let (target, _qualifier) = endpoint
            .split_once(", ")
            .map_or((endpoint.as_str(), None), |(t, q)| (t, Some(q)));
        let (method, path) = target.split_once(' ').unwrap_or_else(|| {
            panic!("docs/protocol.md §6.2: row {endpoint:?} does not start with `METHOD /path`")
        });
        assert!(
            path.starts_with('/') && !path.contains(' '),
            "docs/protocol.md §6.2: row {endpoint:?}: {path:?} is not a path"
        );
        let cells = columns
            .iter()
            .zip(&cells[1..])
            .map(|(c, text)| (c.clone(), parse_cell(&endpoint, c, text)))
            .collect();
        assert!(
            !rows.iter().any(|r: &Row| r.endpoint == endpoint),
            "docs/protocol.md §6.2: row {endpoint:?} appears twice"
        );
        let (method, path) = (method.to_string(), path.to_string());
        rows.push(Row {
            endpoint,
            method,
            path,
            cells,
        });
    }
    assert!(
        !rows.is_empty(),
        "docs/protocol.md §6.2: the role table has no rows"
    );
    rows
}

/// The (method, path) pairs `router()` in `src/hub/http/mod.rs` declares.
fn routes_in_source() -> BTreeSet<(String, String)> {
    let start = ROUTES_RS
        .find("pub fn router(")
        .expect("src/hub/http/mod.rs: no `pub fn router(`");
    let body = &ROUTES_RS[start..];
    let body = &body[..body.find("\n}\n").unwrap_or(body.len())];
    let mut out = BTreeSet::new();
    let mut rest = body;
    while let Some(i) = rest.find(".route(") {
        let after = &rest[i + ".route(".len()..];
        let mut depth = 1;
        let end = after
            .char_indices()
            .find(|&(_, c)| {
                match c {
                    '(' => depth += 1,
                    ')' => depth -= 1,
                    _ => {}
                }
                depth == 0
            })
            .map(|(k, _)| k)
            .expect("src/hub/http/mod.rs: unbalanced .route(");
        let call = &after[..end];
        // `api::NAME.template()`: the template is in the path table.
        let name = call
            .trim_start()
            .strip_prefix("api::")
            .and_then(|c| c.split('.').next())
            .expect("src/hub/http/mod.rs: a .route( whose path is not api::NAME.template()");
        let path = template_of(name);
        let handlers = &call[call.find(',').unwrap_or(0)..];
        let mut methods = 0;
        let mut ident = String::new();
        for c in handlers.chars() {
            if c.is_alphanumeric() || c == '_' || c == ':' {
                ident.push(c);
                continue;
            }
            if c == '(' && ["get", "post", "put", "delete", "patch"].contains(&ident.as_str()) {
                out.insert((ident.to_uppercase(), path.to_string()));
                methods += 1;
            }
            ident.clear();
        }
        assert!(
            methods > 0,
            "src/hub/http/mod.rs: cannot tell the methods of route {path:?}"
        );
        rest = &after[end..];
    }
    assert!(
        !out.is_empty(),
        "src/hub/http/mod.rs: found no .route( calls in router()"
    );
    out
}

/// The template of `pub const NAME: Route = Route("...")` in
/// `src/model/api.rs`.
fn template_of(name: &str) -> &'static str {
    let decl = format!("pub const {name}: Route = Route(\"");
    let at = API_RS
        .find(&decl)
        .unwrap_or_else(|| panic!("src/model/api.rs: no route {name}"));
    let rest = &API_RS[at + decl.len()..];
    &rest[..rest
        .find('"')
        .expect("src/model/api.rs: unterminated route")]
}

/// True when the router path `route` (with `{param}` segments) serves the
/// table path `path`.
fn route_serves(route: &str, path: &str) -> bool {
    let r: Vec<&str> = route.split('/').collect();
    let p: Vec<&str> = path.split('/').collect();
    r.len() == p.len()
        && r.iter()
            .zip(&p)
            .all(|(r, p)| r == p || (r.starts_with('{') && r.ends_with('}')))
}

fn probe_for(endpoint: &str) -> Option<Probe> {
    PROBES.iter().find(|(e, _)| *e == endpoint).map(|&(_, p)| p)
}

/// The table, the router and the probes of this test agree on the set of
/// endpoints. Returns every disagreement.
fn cross_check(rows: &[Row]) -> Vec<String> {
    let mut problems = Vec::new();
    let listed: BTreeSet<(String, String)> = ROUTER_ENDPOINTS
        .iter()
        .map(|&(m, p)| (m.to_string(), p.to_string()))
        .collect();
    let source = routes_in_source();
    for (m, p) in source.difference(&listed) {
        problems.push(format!(
            "src/hub/http/mod.rs routes {m} {p}, which ROUTER_ENDPOINTS in this test does not list"
        ));
    }
    for (m, p) in listed.difference(&source) {
        problems.push(format!(
            "ROUTER_ENDPOINTS lists {m} {p}, which src/hub/http/mod.rs does not route"
        ));
    }
    for (m, p) in &listed {
        let undocumented = UNDOCUMENTED_ROUTES
            .iter()
            .any(|(um, up, _)| um == m && up == p);
        if undocumented {
            continue;
        }
        if !rows
            .iter()
            .any(|r| &r.method == m && route_serves(p, &r.path))
        {
            problems.push(format!(
                "the router serves {m} {p}, but the role table of docs/protocol.md §6.2 has no row for it"
            ));
        }
    }
    for r in rows {
        if !listed
            .iter()
            .any(|(m, p)| m == &r.method && route_serves(p, &r.path))
        {
            problems.push(format!(
                "docs/protocol.md §6.2 has a row for {} {}, which the router does not serve",
                r.method, r.path
            ));
        }
        if probe_for(&r.endpoint).is_none() {
            problems.push(format!(
                "docs/protocol.md §6.2 row {:?} has no probe in tests/role_matrix.rs (PROBES)",
                r.endpoint
            ));
        }
    }
    for (e, _) in PROBES {
        if !rows.iter().any(|r| r.endpoint == *e) {
            problems.push(format!(
                "tests/role_matrix.rs probes {e:?}, which is not a row of docs/protocol.md §6.2"
            ));
        }
    }
    for (m, p, _) in UNDOCUMENTED_ROUTES {
        if !listed.contains(&(m.to_string(), p.to_string())) {
            problems.push(format!(
                "UNDOCUMENTED_ROUTES names {m} {p}, which ROUTER_ENDPOINTS does not list"
            ));
        }
        if rows
            .iter()
            .any(|r| r.method == *m && route_serves(p, &r.path))
        {
            problems.push(format!(
                "UNDOCUMENTED_ROUTES names {m} {p}, which now has a row in docs/protocol.md §6.2: \
                 remove the entry and give it a probe"
            ));
        }
    }
    for (e, caller, _) in NOT_APPLICABLE {
        if !rows.iter().any(|r| r.endpoint == *e) || !CALLERS.iter().any(|c| c.name == *caller) {
            problems.push(format!(
                "NOT_APPLICABLE names {e:?} / {caller:?}, which is not a cell of the matrix"
            ));
        }
    }
    for (e, caller, _, _) in KNOWN_MISMATCHES {
        if !rows.iter().any(|r| r.endpoint == *e) || !CALLERS.iter().any(|c| c.name == *caller) {
            problems.push(format!(
                "KNOWN_MISMATCHES names {e:?} / {caller:?}, which is not a cell of the matrix"
            ));
        }
    }
    problems
}

#[test]
fn the_role_table_covers_every_route_and_names_only_routes() {
    let rows = parse_table(DOC);
    let problems = cross_check(&rows);
    assert!(
        problems.is_empty(),
        "the role table, the router and this test disagree:\n  {}",
        problems.join("\n  ")
    );
}

/// What a probe saw.
#[derive(Debug)]
struct Outcome {
    status: u16,
    body: Value,
    /// The status of the conditional repeat (`If-None-Match` with the first
    /// answer's `ETag`), for endpoints that answer with one.
    conditional: Option<u16>,
}

struct Ctx {
    h: TestHub,
    seq: AtomicU64,
}

impl Ctx {
    fn unique(&self, prefix: &str) -> String {
        format!("{prefix}-{}", self.seq.fetch_add(1, Ordering::Relaxed))
    }

    fn request(&self, method: Method, path: &str, caller: &Caller) -> RequestBuilder {
        let rb = self.h.http.request(method, self.h.url(path));
        match caller.auth {
            Auth::None => rb,
            Auth::Token(name) => rb.bearer_auth(self.h.token(name)),
            Auth::Header(value) => rb.header(AUTHORIZATION, value),
        }
    }

    /// A request with an `Idempotency-Key`, as the doc asks of operator
    /// actions.
    fn action(&self, method: Method, path: &str, caller: &Caller) -> RequestBuilder {
        self.request(method, path, caller)
            .header("Idempotency-Key", self.unique("role-matrix"))
    }

    async fn send(&self, rb: RequestBuilder) -> Outcome {
        let r = rb.send().await.expect("request failed");
        let status = r.status().as_u16();
        let bytes = r.bytes().await.unwrap_or_default();
        Outcome {
            status,
            body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            conditional: None,
        }
    }

    /// Sends a fixture-making request as `token`; panics unless it gets
    /// `want`.
    async fn setup(
        &self,
        token: &str,
        method: Method,
        path: &str,
        body: Value,
        want: u16,
    ) -> Value {
        let r = self
            .h
            .http
            .request(method.clone(), self.h.url(path))
            .bearer_auth(self.h.token(token))
            .json(&body)
            .send()
            .await
            .expect("fixture request failed");
        let status = r.status().as_u16();
        let answer: Value = r.json().await.unwrap_or(Value::Null);
        assert_eq!(
            status, want,
            "fixture {method} {path} as {token} with {body}: {answer}"
        );
        answer
    }

    /// A fresh pending approval from refund-bot: (id, request_id).
    async fn new_approval(&self) -> (String, String) {
        let request_id = self.unique("rq-role-matrix");
        let now = Utc::now();
        let (status, answer) = self
            .h
            .post_events(
                "agent",
                approval_line("refund-bot", &request_id, now, now + Span::minutes(30)),
            )
            .await;
        assert!(
            status == 200 && answer["accepted"] == 1,
            "fixture approval {request_id}: {status} {answer}"
        );
        let find = |s: &Value| {
            s["approvals"].as_array().and_then(|list| {
                list.iter()
                    .find(|a| a["request_id"] == request_id.as_str())
                    .and_then(|a| a["id"].as_str())
                    .map(str::to_string)
            })
        };
        let state = self
            .h
            .wait_state(&format!("approval {request_id}"), |s| find(s).is_some())
            .await;
        (find(&state).unwrap(), request_id)
    }

    /// A fresh triggered SEV3 incident, opened by the lead.
    async fn new_incident(&self) -> String {
        let answer = self
            .setup(
                "lead",
                Method::POST,
                "/v1/incidents",
                json!({"title": self.unique("role matrix incident"), "severity": "SEV3", "category": "other"}),
                201,
            )
            .await;
        answer["id"].as_str().expect("incident id").to_string()
    }

    /// A fresh active control on refund-bot, set by `token`.
    async fn new_control(&self, token: &str) -> String {
        let answer = self
            .setup(token, Method::POST, "/v1/controls", control_body(), 201)
            .await;
        answer["id"].as_str().expect("control id").to_string()
    }

    async fn run(&self, probe: Probe, caller: &Caller) -> Outcome {
        match probe {
            Probe::Healthz => {
                self.send(self.request(Method::GET, "/healthz", caller))
                    .await
            }
            Probe::Events => {
                let body = run_line(
                    "refund-bot",
                    &self.unique("run-role-matrix"),
                    "success",
                    Utc::now(),
                );
                self.send(
                    self.request(Method::POST, "/v1/events", caller)
                        .header("Content-Type", "application/x-ndjson")
                        .body(body),
                )
                .await
            }
            Probe::Otlp(path) => {
                self.send(
                    self.request(Method::POST, path, caller)
                        .header("Content-Type", "application/json")
                        .body("{}"),
                )
                .await
            }
            Probe::Traces => {
                let body = trace_body(self.seq.fetch_add(1, Ordering::Relaxed));
                self.send(
                    self.request(Method::POST, "/v1/traces", caller)
                        .header("Content-Type", "application/json")
                        .body(body),
                )
                .await
            }
            Probe::Stream => {
                let r = self
                    .request(Method::GET, "/v1/stream", caller)
                    .send()
                    .await
                    .expect("stream request failed");
                let status = r.status().as_u16();
                if r.status().is_success() {
                    // The stream never ends: the headers are the answer.
                    drop(r);
                    Outcome {
                        status,
                        body: Value::Null,
                        conditional: None,
                    }
                } else {
                    let bytes = r.bytes().await.unwrap_or_default();
                    Outcome {
                        status,
                        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
                        conditional: None,
                    }
                }
            }
            Probe::State => {
                self.send(self.request(Method::GET, "/v1/state", caller))
                    .await
            }
            Probe::Me => self.send(self.request(Method::GET, "/v1/me", caller)).await,
            Probe::Audit => {
                self.send(self.request(Method::GET, "/v1/audit?after=0&limit=5", caller))
                    .await
            }
            Probe::AuditVerify(full) => {
                let path = if full {
                    "/v1/audit/verify?full=1"
                } else {
                    "/v1/audit/verify"
                };
                self.send(self.request(Method::GET, path, caller)).await
            }
            Probe::History(path) => self.send(self.request(Method::GET, path, caller)).await,
            Probe::Handoff => {
                self.send(self.request(Method::GET, "/v1/handoff", caller))
                    .await
            }
            Probe::HandoffNote => {
                self.send(
                    self.action(Method::POST, "/v1/handoff/notes", caller)
                        .json(&json!({"text": self.unique("role matrix note")})),
                )
                .await
            }
            Probe::Runbooks => {
                self.send(self.request(Method::GET, "/v1/runbooks", caller))
                    .await
            }
            Probe::Metrics => {
                self.send(self.request(Method::GET, "/metrics", caller))
                    .await
            }
            Probe::Reload => {
                self.send(self.action(Method::POST, "/v1/reload", caller))
                    .await
            }
            Probe::Alertmanager => {
                // A fresh fingerprint, so every allowed call opens one.
                let fingerprint = format!("{:016x}", self.seq.fetch_add(1, Ordering::Relaxed));
                self.send(self.action(Method::POST, "/v1/alerts/alertmanager", caller).json(&json!({
                    "version": "4",
                    "status": "firing",
                    "alerts": [{"status": "firing", "labels": {"alertname": "RoleMatrix"}, "fingerprint": fingerprint}],
                })))
                .await
            }
            Probe::RunStep => {
                // A fresh tool_failure incident: its runbook (the shipped
                // one) starts with a step ticked by hand.
                let answer = self
                    .setup(
                        "lead",
                        Method::POST,
                        "/v1/incidents",
                        json!({"title": self.unique("role matrix step"), "severity": "SEV3", "category": "tool_failure", "agent": "refund-bot"}),
                        201,
                    )
                    .await;
                let id = answer["id"].as_str().expect("incident id");
                self.send(
                    self.action(Method::POST, &format!("/v1/incidents/{id}/steps"), caller)
                        .json(&json!({"step": 1})),
                )
                .await
            }
            Probe::Presence => {
                // Presence is valid only with a stream open (§7.10): open one
                // with the same credentials (refused for callers that may
                // not, which is their business) and keep it open.
                let stream = self
                    .request(Method::GET, "/v1/stream", caller)
                    .send()
                    .await
                    .expect("stream request failed");
                let out = self
                    .send(
                        self.request(Method::POST, "/v1/presence", caller)
                            .json(&json!({"viewing": null})),
                    )
                    .await;
                drop(stream);
                out
            }
            Probe::Decide => {
                let (id, _) = self.new_approval().await;
                self.send(
                    self.action(
                        Method::POST,
                        &format!("/v1/approvals/{id}/decision"),
                        caller,
                    )
                    .json(&json!({"decision": "approve"})),
                )
                .await
            }
            Probe::OpenIncident => {
                self.send(
                    self.action(Method::POST, "/v1/incidents", caller)
                        .json(&json!({
                            "title": self.unique("role matrix incident"),
                            "severity": "SEV3",
                            "category": "other",
                            "agent": "refund-bot",
                        })),
                )
                .await
            }
            Probe::IncidentAction(name) => {
                let id = self.new_incident().await;
                let rb = self.action(Method::POST, &format!("/v1/incidents/{id}/{name}"), caller);
                let rb = match name {
                    "ack" => rb,
                    "assign" => rb.json(&json!({"owner": "lee"})),
                    "escalate" => rb.json(&json!({"severity": "SEV1"})),
                    "note" => rb.json(&json!({"text": "role matrix note"})),
                    "resolve" => rb.json(&json!({"summary": "role matrix: resolved"})),
                    "snooze" => rb.json(&json!({"for_s": 1800, "reason": "role matrix"})),
                    other => panic!("no body for incident action {other:?}"),
                };
                self.send(rb).await
            }
            Probe::ControlOneAgent => {
                self.send(
                    self.action(Method::POST, "/v1/controls", caller)
                        .json(&control_body()),
                )
                .await
            }
            Probe::ControlFleet => {
                self.send(
                    self.action(Method::POST, "/v1/controls", caller)
                        .json(&json!({
                            "agent": "*",
                            "kind": "pause_agent",
                            "reason": "role matrix: fleet stop",
                            "ttl_s": 600,
                        })),
                )
                .await
            }
            Probe::LiftOwnControl => {
                // Set by the caller when its role may set controls; callers
                // that cannot set one get a control set by the lead (their
                // role is what is refused).
                let setter = match caller.auth {
                    Auth::Token(t @ ("responder" | "lead")) => t,
                    _ => "lead",
                };
                let id = self.new_control(setter).await;
                self.send(self.action(Method::DELETE, &format!("/v1/controls/{id}"), caller))
                    .await
            }
            Probe::LiftOthersControl => {
                let setter = match caller.auth {
                    Auth::Token("lead") => "responder",
                    _ => "lead",
                };
                let id = self.new_control(setter).await;
                self.send(self.action(Method::DELETE, &format!("/v1/controls/{id}"), caller))
                    .await
            }
            Probe::AgentControlsOwn => self.agent_controls("refund-bot", caller).await,
            Probe::AgentControlsOther => self.agent_controls("triage-bot", caller).await,
            Probe::AgentApprovalOwn => {
                let (_, request_id) = self.new_approval().await;
                self.send(self.request(
                    Method::GET,
                    &format!("/v1/agents/refund-bot/approvals/{request_id}"),
                    caller,
                ))
                .await
            }
            Probe::RegisterOwn | Probe::RegisterOther => {
                let agent = if matches!(probe, Probe::RegisterOwn) {
                    "refund-bot"
                } else {
                    "triage-bot"
                };
                self.send(
                    self.action(Method::PUT, &format!("/v1/agents/{agent}"), caller)
                        .json(&json!({"criticality": "high"})),
                )
                .await
            }
            Probe::AgentRead(rest) => {
                // The agent must be known for its drill-down to answer.
                self.new_approval().await;
                self.send(self.request(Method::GET, &format!("/v1/agents{rest}"), caller))
                    .await
            }
            Probe::CallbackOwn => {
                // Port 9 (discard): nothing listens; deliveries fail quietly.
                self.send(
                    self.action(Method::PUT, "/v1/agents/refund-bot/callback", caller)
                        .json(&json!({"url": "http://127.0.0.1:9/agentdeck/callback"})),
                )
                .await
            }
        }
    }

    /// `GET /v1/agents/{agent}/controls`, then, after a `200` with an
    /// `ETag`, the conditional repeat.
    async fn agent_controls(&self, agent: &str, caller: &Caller) -> Outcome {
        let path = format!("/v1/agents/{agent}/controls");
        let r = self
            .request(Method::GET, &path, caller)
            .send()
            .await
            .expect("request failed");
        let status = r.status().as_u16();
        let etag = r
            .headers()
            .get(ETAG)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let bytes = r.bytes().await.unwrap_or_default();
        let mut out = Outcome {
            status,
            body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            conditional: None,
        };
        if status == 200 {
            out.conditional = Some(match etag {
                Some(etag) => {
                    self.send(
                        self.request(Method::GET, &path, caller)
                            .header(IF_NONE_MATCH, etag),
                    )
                    .await
                    .status
                }
                // No ETag to send back: report it as a 200 with no 304.
                None => 0,
            });
        }
        out
    }
}

fn control_body() -> Value {
    json!({
        "agent": "refund-bot",
        "kind": "force_fallback",
        "reason": "role matrix: containment",
        "ttl_s": 600,
    })
}

/// An OTLP/JSON export with one `invoke_agent` span of refund-bot.
fn trace_body(n: u64) -> String {
    let end = Utc::now().timestamp_nanos_opt().unwrap_or(0);
    let start = end - 1_500_000_000;
    json!({"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "refund-bot"}}]},
        "scopeSpans": [{"scope": {"name": "role-matrix"}, "spans": [{
            "traceId": format!("{n:032x}"),
            "spanId": format!("{:016x}", n + 1),
            "parentSpanId": "",
            "name": "invoke_agent refund-bot",
            "kind": 1,
            "startTimeUnixNano": start.to_string(),
            "endTimeUnixNano": end.to_string(),
            "attributes": [
                {"key": "gen_ai.operation.name", "value": {"stringValue": "invoke_agent"}},
                {"key": "gen_ai.agent.name", "value": {"stringValue": "refund-bot"}},
                {"key": "agentdeck.workflow", "value": {"stringValue": "refund"}}
            ],
            "status": {"code": 1}
        }]}]
    }]})
    .to_string()
}

/// A body, cut short for a failure message.
fn brief(body: &Value) -> String {
    let text = body.to_string();
    match text.char_indices().nth(300) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text,
    }
}

/// What is wrong with the body of a refusal, if anything.
fn refusal_body_problem(status: u16, body: &Value) -> Option<String> {
    match status {
        401 if !body["error"].is_string() => {
            Some(format!("401 body has no `error` string: {body}"))
        }
        403 if !body["error"].is_string() => {
            Some(format!("403 body has no `error` string: {body}"))
        }
        403 => match body["needs"].as_array() {
            None => Some(format!("403 body has no `needs` array: {body}")),
            Some(needs) if needs.is_empty() => {
                Some(format!("403 body has an empty `needs`: {body}"))
            }
            Some(needs)
                if !needs
                    .iter()
                    .all(|n| n.as_str().is_some_and(|n| COLUMNS[1..].contains(&n))) =>
            {
                Some(format!("403 `needs` is not a list of roles: {body}"))
            }
            Some(_) => None,
        },
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_endpoint_answers_every_role_as_the_protocol_table_says() {
    let began = Instant::now();
    let rows = parse_table(DOC);
    let cx = Ctx {
        h: support::start_with(support::Options {
            runbooks: agentdeck::runbook::shipped().expect("the shipped runbooks load"),
            ..support::Options::default()
        })
        .await,
        seq: AtomicU64::new(1),
    };
    // The table, the router and the probes must agree (also its own test).
    let mut failures: Vec<String> = cross_check(&rows);
    let mut matrix: Vec<(String, Vec<String>)> = Vec::new();
    for row in &rows {
        let Some(probe) = probe_for(&row.endpoint) else {
            failures.push(format!(
                "row {:?} of docs/protocol.md §6.2 has no probe in this test",
                row.endpoint
            ));
            continue;
        };
        let mut line = Vec::new();
        for caller in CALLERS {
            let doc = row.cells[caller.column];
            if NOT_APPLICABLE
                .iter()
                .any(|(e, c, _)| *e == row.endpoint && *c == caller.name)
            {
                line.push("n/a".to_string());
                continue;
            }
            let out = tokio::time::timeout(Duration::from_secs(20), cx.run(probe, caller))
                .await
                .unwrap_or_else(|_| panic!("{} as {}: timed out", row.endpoint, caller.name));
            let known = KNOWN_MISMATCHES
                .iter()
                .find(|(e, c, _, _)| *e == row.endpoint && *c == caller.name);
            let mut mark = "";
            match known {
                Some(&(_, _, code, why)) => {
                    mark = "*";
                    if out.status == doc.status {
                        failures.push(format!(
                            "{} as {}: now answers {} as the doc says; remove its KNOWN_MISMATCHES entry ({why})",
                            row.endpoint, caller.name, out.status
                        ));
                    } else if out.status != code {
                        failures.push(format!(
                            "{} as {}: doc says {}, KNOWN_MISMATCHES says the code answers {code}, \
                             code answers {}: {}",
                            row.endpoint,
                            caller.name,
                            doc.status,
                            out.status,
                            brief(&out.body)
                        ));
                    }
                }
                None => {
                    if out.status != doc.status {
                        mark = "!";
                        failures.push(format!(
                            "{} as {} (column {:?}): doc says {}, code answers {}: {}",
                            row.endpoint,
                            caller.name,
                            caller.column,
                            doc.status,
                            out.status,
                            brief(&out.body)
                        ));
                    }
                }
            }
            if let Some(problem) = refusal_body_problem(out.status, &out.body) {
                failures.push(format!("{} as {}: {problem}", row.endpoint, caller.name));
            }
            let mut shown = out.status.to_string();
            if let (Some(want), 200) = (doc.conditional, out.status) {
                let got = out.conditional.unwrap_or(0);
                shown = format!("{shown}({got})");
                if got != want {
                    failures.push(format!(
                        "{} as {}: doc says a conditional repeat answers {want}, code answers {}",
                        row.endpoint,
                        caller.name,
                        if got == 0 {
                            "200 with no ETag".to_string()
                        } else {
                            got.to_string()
                        }
                    ));
                }
            }
            line.push(format!("{shown}{mark}"));
        }
        matrix.push((row.endpoint.clone(), line));
    }

    for &(method, path, _) in UNDOCUMENTED_ROUTES {
        let method = Method::from_bytes(method.as_bytes()).expect("a method");
        let mut line = Vec::new();
        for caller in CALLERS {
            let out = cx.send(cx.request(method.clone(), path, caller)).await;
            if let Some(problem) = refusal_body_problem(out.status, &out.body) {
                failures.push(format!("{method} {path} as {}: {problem}", caller.name));
            }
            line.push(format!("{}?", out.status));
        }
        matrix.push((format!("{method} {path} (not in the doc)"), line));
    }

    let width = matrix.iter().map(|(e, _)| e.len()).max().unwrap_or(0);
    let mut printed = format!("{:width$}", "endpoint");
    for c in CALLERS {
        printed.push_str(&format!(" | {:>11}", c.name));
    }
    for (endpoint, line) in &matrix {
        printed.push_str(&format!("\n{endpoint:width$}"));
        for cell in line {
            printed.push_str(&format!(" | {cell:>11}"));
        }
    }
    println!(
        "role matrix as answered by the hub (* allow-listed mismatch, ! mismatch, ? undocumented, (NNN) conditional repeat), {:.1?}:\n{printed}",
        began.elapsed()
    );
    for (e, c, why) in NOT_APPLICABLE {
        println!("n/a: {e} as {c}: {why}");
    }
    for (m, p, why) in UNDOCUMENTED_ROUTES {
        println!("undocumented: {m} {p}: {why}");
    }

    cx.h.hub.stop().await;
    assert!(
        failures.is_empty(),
        "{} cell(s) of docs/protocol.md §6.2 disagree with the hub:\n  {}\n\n{printed}",
        failures.len(),
        failures.join("\n  ")
    );
}
