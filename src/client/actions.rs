//! Operator actions sent to the hub. Each carries an `Idempotency-Key`;
//! network failures and 5xx answers are retried with the same key until
//! the hub answers or the operator cancels, so an action is applied once
//! and never lost silently.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::mpsc;

/// An HTTP method the actions use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// POST.
    Post,
    /// DELETE.
    Delete,
}

/// One action to send.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// Local id, to match the answer.
    pub id: u64,
    /// Method.
    pub method: Method,
    /// Path, e.g. `/v1/approvals/APR-3/decision`.
    pub path: String,
    /// JSON body.
    pub body: Option<serde_json::Value>,
    /// Idempotency key, the same on every retry.
    pub key: String,
}

/// What happened to an action.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The hub applied it; its answer.
    Done(serde_json::Value),
    /// The hub refused it; status and reason.
    Refused(u16, String),
    /// Not answered yet; retrying.
    Retrying {
        /// Attempts so far.
        attempt: u32,
        /// Why the last one failed.
        error: String,
    },
    /// The operator cancelled it before the hub answered.
    Cancelled,
}

/// Ids of actions the operator cancelled.
pub type Cancelled = Arc<Mutex<HashSet<u64>>>;

/// Time allowed for one attempt, answer included, before it is retried.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(15);

/// How actions are sent; the defaults are the production values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ActionConfig {
    /// Time allowed for one attempt. A connection that hangs is given up
    /// after this and the action retried with the same key, so it is still
    /// applied once.
    pub attempt_timeout: Duration,
}

impl Default for ActionConfig {
    fn default() -> Self {
        Self {
            attempt_timeout: ATTEMPT_TIMEOUT,
        }
    }
}

/// Sends requests from `rx` until it closes, reporting outcomes on `tx`.
pub async fn run(
    hub: String,
    token: String,
    rx: mpsc::Receiver<Request>,
    tx: mpsc::Sender<(u64, Outcome)>,
    cancelled: Cancelled,
) {
    run_with(hub, token, rx, tx, cancelled, ActionConfig::default()).await;
}

/// [`run`] with a chosen configuration (tests shorten the attempt timeout).
pub async fn run_with(
    hub: String,
    token: String,
    mut rx: mpsc::Receiver<Request>,
    tx: mpsc::Sender<(u64, Outcome)>,
    cancelled: Cancelled,
    config: ActionConfig,
) {
    let client = match super::http_client() {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "no HTTP client for actions");
            return;
        }
    };
    let hub = hub.trim_end_matches('/').to_string();
    while let Some(req) = rx.recv().await {
        let client = client.clone();
        let hub = hub.clone();
        let token = token.clone();
        let tx = tx.clone();
        let cancelled = cancelled.clone();
        tokio::spawn(async move {
            let outcome = send(&client, &hub, &token, &req, &tx, &cancelled, config).await;
            let _ = tx.send((req.id, outcome)).await;
        });
    }
}

async fn send(
    client: &reqwest::Client,
    hub: &str,
    token: &str,
    req: &Request,
    tx: &mpsc::Sender<(u64, Outcome)>,
    cancelled: &Cancelled,
    config: ActionConfig,
) -> Outcome {
    let url = format!("{hub}{}", req.path);
    let mut attempt = 0u32;
    loop {
        if cancelled
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&req.id)
        {
            return Outcome::Cancelled;
        }
        attempt += 1;
        let mut builder = match req.method {
            Method::Post => client.post(&url),
            Method::Delete => client.delete(&url),
        }
        .bearer_auth(token)
        .header("Idempotency-Key", &req.key)
        .timeout(config.attempt_timeout);
        if let Some(body) = &req.body {
            builder = builder.json(body);
        }
        let error = match builder.send().await {
            Ok(r) if r.status().is_success() => {
                return Outcome::Done(r.json().await.unwrap_or(serde_json::Value::Null));
            }
            Ok(r) if r.status().is_client_error() => {
                let status = r.status().as_u16();
                let body: serde_json::Value = r.json().await.unwrap_or_default();
                let why = body["error"].as_str().unwrap_or("refused").to_string();
                return Outcome::Refused(status, why);
            }
            Ok(r) => {
                let status = r.status().as_u16();
                let body: serde_json::Value = r.json().await.unwrap_or_default();
                format!(
                    "hub answered {status}: {}",
                    body["error"].as_str().unwrap_or("")
                )
            }
            Err(e) => super::feed::describe(&e),
        };
        let _ = tx
            .send((
                req.id,
                Outcome::Retrying {
                    attempt,
                    error: error.clone(),
                },
            ))
            .await;
        let wait = Duration::from_millis(500u64 << attempt.min(6)).min(Duration::from_secs(30));
        tokio::time::sleep(wait).await;
    }
}

/// A fresh idempotency key.
pub fn new_key() -> String {
    let mut bytes = [0u8; 16];
    if getrandom::fill(&mut bytes).is_err() {
        // Fall back to time and process: unique enough for one operator.
        let nanos = chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default();
        return format!("k-{}-{nanos}", std::process::id());
    }
    format!("k-{}", hex::encode(bytes))
}
