//! Shared helpers for tests that run a real hub on loopback.
#![allow(dead_code)]

pub mod pki;
pub mod postgres;
pub mod proxy;
pub mod receiver;
pub mod serve;

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use agentdeck::engine::spec::{default_specs, parse_specs};
use agentdeck::hub::auth::TokenStore;
use agentdeck::hub::core::StreamLimits;
use agentdeck::hub::policy::Policy;
use agentdeck::hub::{HubConfig, RunningHub};
use agentdeck::model::role::Role;
use chrono::{DateTime, Utc};
use futures_util::StreamExt;

/// A hub on a free loopback port with one token per role.
pub struct TestHub {
    pub hub: RunningHub,
    pub dir: tempfile::TempDir,
    pub tokens: HashMap<&'static str, String>,
    pub http: reqwest::Client,
}

/// Tokens by name: `agent` (speaks for every agent), `bot` (speaks for
/// refund-bot only), `viewer`, `responder`, `approver`, `approver2`, `lead`,
/// `alerts` (Alertmanager).
pub fn token_store() -> (TokenStore, HashMap<&'static str, String>) {
    let mut store = TokenStore::default();
    let mut tokens = HashMap::new();
    for (name, role) in [
        ("agent", Role::Agent),
        ("viewer", Role::Viewer),
        ("responder", Role::Responder),
        ("approver", Role::Approver),
        ("approver2", Role::Approver),
        ("lead", Role::Lead),
        ("alerts", Role::Alerts),
    ] {
        let token = format!("adk_test_{name}");
        store.add_token(&token, name, role).unwrap();
        tokens.insert(name, token);
    }
    store
        .add(agentdeck::hub::auth::TokenEntry {
            name: "refund-bot".into(),
            role: Role::Agent,
            sha256: agentdeck::hub::auth::hash_token("adk_test_bot"),
            agents: vec![],
        })
        .unwrap();
    tokens.insert("bot", "adk_test_bot".to_string());
    (store, tokens)
}

pub struct Options {
    pub slos: Option<&'static str>,
    pub policy: Policy,
    pub stream: StreamLimits,
    pub max_body_bytes: usize,
    pub db: Option<PathBuf>,
    /// Runbooks the hub links incidents to (default: none).
    pub runbooks: Vec<agentdeck::model::runbook::Runbook>,
    /// OpenTelemetry settings (default: no gRPC port of its own).
    pub otlp: agentdeck::hub::OtlpConfig,
    /// How long journalled events are kept.
    pub retain_events: std::time::Duration,
    /// Who is paged (default: no one).
    pub notify: Option<agentdeck::hub::notify::NotifyConfig>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            slos: None,
            policy: Policy::default(),
            stream: StreamLimits::default(),
            max_body_bytes: agentdeck::hub::DEFAULT_MAX_BODY_BYTES,
            db: None,
            runbooks: Vec::new(),
            otlp: Default::default(),
            retain_events: agentdeck::hub::DEFAULT_RETAIN_EVENTS,
            notify: None,
        }
    }
}

pub async fn start() -> TestHub {
    start_with(Options::default()).await
}

pub async fn start_with(options: Options) -> TestHub {
    let dir = tempfile::tempdir().unwrap();
    let (store, tokens) = token_store();
    let specs = match options.slos {
        Some(text) => parse_specs("test", text).unwrap(),
        None => default_specs(),
    };
    let hub = agentdeck::hub::start(HubConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        db: options.db.unwrap_or_else(|| dir.path().join("hub.db")),
        tokens: store,
        specs,
        policy: options.policy,
        max_body_bytes: options.max_body_bytes,
        stream: options.stream,
        runbooks: options.runbooks,
        otlp: options.otlp,
        retain_events: options.retain_events,
        notify: options.notify,
        sources: None,
        advertise: None,
    })
    .await
    .unwrap();
    TestHub {
        hub,
        dir,
        tokens,
        http: client(),
    }
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

impl TestHub {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.hub.url())
    }

    pub fn token(&self, name: &str) -> &str {
        &self.tokens[name]
    }

    pub async fn post_events(&self, token: &str, body: String) -> (u16, serde_json::Value) {
        let r = self
            .http
            .post(self.url("/v1/events"))
            .bearer_auth(self.token(token))
            .body(body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(serde_json::Value::Null))
    }

    pub async fn post(
        &self,
        token: &str,
        path: &str,
        body: serde_json::Value,
        key: Option<&str>,
    ) -> (u16, serde_json::Value) {
        let mut req = self
            .http
            .post(self.url(path))
            .bearer_auth(self.token(token))
            .json(&body);
        if let Some(k) = key {
            req = req.header("Idempotency-Key", k);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(serde_json::Value::Null))
    }

    pub async fn put_json(
        &self,
        token: &str,
        path: &str,
        body: &serde_json::Value,
    ) -> (u16, serde_json::Value) {
        let r = self
            .http
            .put(self.url(path))
            .bearer_auth(self.token(token))
            .json(body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(serde_json::Value::Null))
    }

    pub async fn get(&self, token: &str, path: &str) -> (u16, serde_json::Value) {
        let r = self
            .http
            .get(self.url(path))
            .bearer_auth(self.token(token))
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(serde_json::Value::Null))
    }

    /// Every run in the hub's journal, with its agent, in journal order.
    #[allow(dead_code)]
    pub fn journaled_runs(&self) -> Vec<(String, agentdeck::model::envelope::RunFinished)> {
        use agentdeck::model::envelope::{Envelope, Event};
        let core = agentdeck::hub::lock(&self.hub.core);
        let mut runs = Vec::new();
        core.store()
            .for_each_event(0, |line| {
                let env = Envelope::decode(line).expect("the journal holds envelopes");
                if let Event::RunFinished(run) = env.event {
                    runs.push((env.agent, run));
                }
            })
            .expect("the journal reads");
        runs
    }

    pub async fn state(&self) -> serde_json::Value {
        self.get("lead", "/v1/state").await.1
    }

    /// Waits until `f(state)` holds, polling `/v1/state`.
    pub async fn wait_state(
        &self,
        what: &str,
        f: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        for _ in 0..200 {
            let s = self.state().await;
            if f(&s) {
                return s;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("timed out waiting for {what}");
    }
}

pub fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

pub fn run_line(agent: &str, run_id: &str, outcome: &str, t: DateTime<Utc>) -> String {
    format!(
        r#"{{"v":1,"type":"run.finished","ts":"{}","agent":"{agent}","run_id":"{run_id}","workflow":"refund","outcome":"{outcome}","latency_ms":1200,"cost_usd":0.02}}"#,
        ts(t)
    )
}

pub fn approval_line(
    agent: &str,
    request_id: &str,
    t: DateTime<Utc>,
    deadline: DateTime<Utc>,
) -> String {
    format!(
        r#"{{"v":1,"type":"approval.requested","ts":"{}","agent":"{agent}","request_id":"{request_id}","action":"issue_refund","tool":"issue_refund","risk":"high","deadline":"{}","args":{{"order":"A-1","amount_usd":420}}}}"#,
        ts(t),
        ts(deadline)
    )
}

/// One parsed server-sent event.
#[derive(Debug, Clone)]
pub struct Sse {
    pub id: u64,
    pub event: String,
    pub data: serde_json::Value,
}

/// What a stream gave within a wait.
#[derive(Debug)]
pub enum Next {
    /// An event.
    Event(Sse),
    /// Nothing yet.
    Quiet,
    /// The stream ended.
    Ended,
}

/// A live stream connection.
pub struct StreamClient {
    inner: std::pin::Pin<
        Box<dyn futures_util::Stream<Item = Result<eventsource_stream::Event, String>> + Send>,
    >,
}

impl StreamClient {
    pub async fn open(hub: &TestHub, token: &str, last_event_id: Option<u64>) -> Self {
        let r = Self::request(&hub.url(""), hub.token(token), last_event_id)
            .await
            .expect("the hub answers");
        assert_eq!(r.status().as_u16(), 200);
        Self::reading(r)
    }

    /// A stream from the hub at `base`, with the token itself; the answer
    /// when it is not 200 (status 0: no answer).
    pub async fn open_url(
        base: &str,
        token: &str,
        last_event_id: Option<u64>,
    ) -> Result<Self, (u16, String)> {
        Self::open_path(base, "/v1/stream", token, last_event_id).await
    }

    async fn request(
        base: &str,
        token: &str,
        last_event_id: Option<u64>,
    ) -> reqwest::Result<reqwest::Response> {
        Self::request_at(base, "/v1/stream", token, last_event_id).await
    }

    /// Like [`StreamClient::open_url`] at `path` (with a query).
    pub async fn open_path(
        base: &str,
        path: &str,
        token: &str,
        last_event_id: Option<u64>,
    ) -> Result<Self, (u16, String)> {
        let r = Self::request_at(base, path, token, last_event_id)
            .await
            .map_err(|e| (0, e.to_string()))?;
        match r.status().as_u16() {
            200 => Ok(Self::reading(r)),
            status => Err((status, r.text().await.unwrap_or_default())),
        }
    }

    async fn request_at(
        base: &str,
        path: &str,
        token: &str,
        last_event_id: Option<u64>,
    ) -> reqwest::Result<reqwest::Response> {
        let http = reqwest::Client::builder().no_proxy().build().unwrap();
        let mut req = http
            .get(format!("{}{path}", base.trim_end_matches('/')))
            .bearer_auth(token);
        if let Some(id) = last_event_id {
            req = req.header("Last-Event-ID", id.to_string());
        }
        req.send().await
    }

    fn reading(r: reqwest::Response) -> Self {
        use eventsource_stream::Eventsource;
        let inner = r
            .bytes_stream()
            .eventsource()
            .map(|e| e.map_err(|e| e.to_string()));
        Self {
            inner: Box::pin(inner),
        }
    }

    /// The next event, or None on end or after `timeout`.
    pub async fn next(&mut self, timeout: Duration) -> Option<Sse> {
        match self.wait(timeout).await {
            Next::Event(e) => Some(e),
            Next::Quiet | Next::Ended => None,
        }
    }

    /// The next event, telling a quiet stream from one that ended.
    pub async fn wait(&mut self, timeout: Duration) -> Next {
        let e = match tokio::time::timeout(timeout, self.inner.next()).await {
            Err(_) => return Next::Quiet,
            Ok(Some(Ok(e))) => e,
            Ok(Some(Err(_)) | None) => return Next::Ended,
        };
        Next::Event(Sse {
            id: e.id.parse().unwrap_or(0),
            event: e.event,
            data: serde_json::from_str(&e.data).unwrap_or(serde_json::Value::Null),
        })
    }

    /// Skips events until one named `event` satisfying `f`.
    pub async fn until(&mut self, event: &str, f: impl Fn(&serde_json::Value) -> bool) -> Sse {
        loop {
            let e = self
                .next(Duration::from_secs(10))
                .await
                .unwrap_or_else(|| panic!("stream ended waiting for {event}"));
            if e.event == event && f(&e.data) {
                return e;
            }
        }
    }
}
