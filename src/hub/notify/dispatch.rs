//! The delivery loop: takes due groups from the core, posts them, and
//! hands the answers back to be recorded. It never waits on one receiver:
//! each request runs on its own task, and the loop keeps taking new groups
//! while a slow receiver is still being tried.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::Utc;
use tokio::sync::{Notify, Semaphore, mpsc};

use crate::hub::callbacks::{SIGNATURE_HEADER, sign};
use crate::hub::core::{Core, Outgoing};

/// Time allowed for one request.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// How often due groups are looked for when nothing rings.
pub const POLL: Duration = Duration::from_millis(250);
/// Requests in flight at once.
pub const MAX_IN_FLIGHT: usize = 16;

/// Delivers notifications until the task is dropped.
pub async fn run(core: Arc<Mutex<Core>>, wake: Arc<Notify>) {
    // System proxies are honoured (HTTPS_PROXY, NO_PROXY): PagerDuty and
    // Slack are often reached through one.
    let client = match reqwest::Client::builder().timeout(ATTEMPT_TIMEOUT).build() {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "cannot build the notification HTTP client; notifications stay queued");
            return;
        }
    };
    let slots = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<(Outgoing, Result<(), String>)>();
    let mut poll = tokio::time::interval(POLL);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            _ = wake.notified() => {}
            _ = poll.tick() => {}
            Some(first) = done_rx.recv() => {
                let mut done = vec![first];
                while let Ok(more) = done_rx.try_recv() {
                    done.push(more);
                }
                record(&core, done).await;
            }
        }
        let core_for_take = core.clone();
        let due = tokio::task::spawn_blocking(move || {
            let mut core = core_for_take.lock().unwrap_or_else(PoisonError::into_inner);
            core.due_notices(Utc::now())
        })
        .await
        .unwrap_or_default();
        for o in due {
            let (client, slots, done_tx) = (client.clone(), slots.clone(), done_tx.clone());
            tokio::spawn(async move {
                let Ok(_slot) = slots.acquire_owned().await else {
                    return;
                };
                let result = send(&client, &o).await;
                if let Err(e) = &result {
                    tracing::warn!(receiver = %o.receiver, error = %e, "notification not delivered; retried with backoff");
                }
                let _ = done_tx.send((o, result));
            });
        }
    }
}

async fn record(core: &Arc<Mutex<Core>>, done: Vec<(Outgoing, Result<(), String>)>) {
    let core = core.clone();
    let stored = tokio::task::spawn_blocking(move || {
        let mut core = core.lock().unwrap_or_else(PoisonError::into_inner);
        core.notice_results(done, Utc::now())
    })
    .await;
    if !matches!(stored, Ok(Ok(()))) {
        tracing::warn!("could not record notification deliveries; they will be sent again");
    }
}

/// One request. PagerDuty answers 202, Slack 200, webhooks any 2xx.
async fn send(client: &reqwest::Client, o: &Outgoing) -> Result<(), String> {
    let Some(body) = &o.body else {
        return Ok(()); // covered by another page: nothing to send
    };
    if o.url.is_empty() {
        return Err(format!(
            "receiver {:?} is no longer declared in the notify file",
            o.receiver
        ));
    }
    let mut request = client
        .post(&o.url)
        .header("content-type", "application/json")
        .header(
            "user-agent",
            concat!("agentdeck/", env!("CARGO_PKG_VERSION")),
        );
    if let Some(secret) = &o.secret {
        request = request.header(SIGNATURE_HEADER, sign(secret, Utc::now().timestamp(), body));
    }
    match request.body(body.clone()).send().await {
        Ok(r) if r.status().is_success() => Ok(()),
        Ok(r) => Err(format!("HTTP {}", r.status())),
        Err(e) => Err(explain(&e)),
    }
}

/// Why a request failed, in a few words (reqwest's own message repeats
/// the URL, which may hold a secret).
fn explain(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        return format!("no answer within {} s", ATTEMPT_TIMEOUT.as_secs());
    }
    if e.is_connect() {
        return "cannot connect".to_string();
    }
    let mut cause: &dyn std::error::Error = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    let text = cause.to_string();
    // A Slack webhook URL is a secret: never echo a URL back.
    if text.contains("://") {
        "request failed".to_string()
    } else {
        text
    }
}
