//! A local HTTP server standing in for PagerDuty, Slack and webhook
//! endpoints: it records every request and can be told to fail.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};

/// One request received.
#[derive(Debug, Clone)]
pub struct Captured {
    /// The path, e.g. `/pd`.
    pub path: String,
    /// The `Agentdeck-Signature` header, if any.
    pub signature: Option<String>,
    /// The raw body.
    pub raw: String,
    /// The body as JSON.
    pub body: serde_json::Value,
}

#[derive(Default)]
struct Shared {
    got: Mutex<Vec<Captured>>,
    /// Requests still to answer 503.
    failures: AtomicU32,
}

/// A running receiver.
pub struct Receiver {
    pub url: String,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

async fn take(
    State(s): State<Arc<Shared>>,
    uri: Uri,
    headers: HeaderMap,
    raw: String,
) -> StatusCode {
    if s.failures
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
    {
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    let body = serde_json::from_str(&raw).unwrap_or(serde_json::Value::Null);
    s.got.lock().unwrap().push(Captured {
        path: uri.path().to_string(),
        signature: headers
            .get("agentdeck-signature")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
        raw,
        body,
    });
    // PagerDuty answers 202 Accepted; 2xx is all anyone checks.
    StatusCode::ACCEPTED
}

impl Receiver {
    /// Listens on a free loopback port.
    pub async fn start() -> Self {
        Self::start_on("127.0.0.1:0").await
    }

    /// Listens on `addr`.
    pub async fn start_on(addr: &str) -> Self {
        let shared = Arc::new(Shared::default());
        let app = axum::Router::new()
            .fallback(axum::routing::post(take))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self { url, shared, task }
    }

    /// The next `n` requests get `503 Service Unavailable`.
    pub fn fail_next(&self, n: u32) {
        self.shared.failures.store(n, Ordering::SeqCst);
    }

    /// Everything received at `path`, in order.
    pub fn at(&self, path: &str) -> Vec<Captured> {
        let got = self.shared.got.lock().unwrap();
        got.iter().filter(|c| c.path == path).cloned().collect()
    }

    /// Waits until `f` holds for what `path` received.
    pub async fn until(
        &self,
        path: &str,
        what: &str,
        f: impl Fn(&[Captured]) -> bool,
    ) -> Vec<Captured> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let got = self.at(path);
            if f(&got) {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "{path}: never got {what}; got {got:#?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Stops listening.
    pub fn stop(self) {
        self.task.abort();
    }
}
