//! Operator actions sent to the hub. Each carries an `Idempotency-Key`;
//! network failures and 5xx answers are retried with the same key until
//! the hub answers or the operator cancels, so an action is applied once
//! and never lost silently.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::mpsc;

use super::hub::{Hub, HubError};
use super::hubs::HubList;

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
    rx: mpsc::Receiver<Request>,
    tx: mpsc::Sender<(u64, Outcome)>,
    cancelled: Cancelled,
    config: ActionConfig,
) {
    let hubs = Arc::new(HubList::one(&hub));
    run_hubs(hubs, token, rx, tx, cancelled, config).await;
}

/// [`run_with`] over several addresses of the hub: an attempt that gets
/// no answer moves to the next address, and the retry (same idempotency
/// key) goes there.
pub async fn run_hubs(
    hubs: Arc<HubList>,
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
    let hub = Hub::over(client, hubs, &token);
    while let Some(req) = rx.recv().await {
        let hub = hub.clone();
        let tx = tx.clone();
        let cancelled = cancelled.clone();
        tokio::spawn(async move {
            let outcome = send(&hub, &req, &tx, &cancelled, config).await;
            let _ = tx.send((req.id, outcome)).await;
        });
    }
}

async fn send(
    hub: &Hub,
    req: &Request,
    tx: &mpsc::Sender<(u64, Outcome)>,
    cancelled: &Cancelled,
    config: ActionConfig,
) -> Outcome {
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
        let error = match hub.send(req, config.attempt_timeout).await {
            Ok(answer) => return Outcome::Done(answer),
            // A refusal is final: the same request would be refused again.
            Err(HubError::Refused { status, body }) if (400..500).contains(&status) => {
                let why = if body.error.is_empty() {
                    "refused".to_string()
                } else {
                    body.error
                };
                return Outcome::Refused(status, why);
            }
            Err(HubError::Refused { status, body }) => {
                format!("hub answered {status}: {}", body.error)
            }
            Err(e) => e.to_string(),
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
