//! Signed callbacks to agents: decisions and control changes are POSTed to
//! the agent's registered URL with an HMAC-SHA256 signature, retried with
//! backoff, and every delivery's outcome is audit-logged.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::Utc;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio::sync::{Semaphore, mpsc};

use super::core::{CallbackJob, Core};

/// Header carrying the signature.
pub const SIGNATURE_HEADER: &str = "Agentdeck-Signature";
/// Oldest signature an agent should accept, seconds.
pub const MAX_SIGNATURE_AGE_S: i64 = 300;
/// Delivery attempts before a callback is given up.
pub const MAX_ATTEMPTS: u32 = 5;
/// Time allowed for one attempt.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);
/// Deliveries in flight at once.
pub const MAX_IN_FLIGHT: usize = 32;
/// Deliveries in flight at once to one agent, so that an agent whose
/// endpoint hangs holds a few slots, never all of them: other agents'
/// callbacks still go out at once.
pub const MAX_IN_FLIGHT_PER_AGENT: usize = 4;

fn mac(secret: &str, t: i64, body: &str) -> Hmac<Sha256> {
    // HMAC takes keys of any length, so this cannot fail.
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    m.update(t.to_string().as_bytes());
    m.update(b".");
    m.update(body.as_bytes());
    m
}

/// The signature header value for `body` sent at unix time `t`:
/// `t=<t>,v1=<hex HMAC-SHA256 of "t.body">`, keyed with the secret string.
pub fn sign(secret: &str, t: i64, body: &str) -> String {
    let tag = mac(secret, t, body).finalize().into_bytes();
    format!("t={t},v1={}", hex::encode(tag))
}

/// Why a signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The header is not `t=…,v1=…`.
    #[error("malformed signature header")]
    Malformed,
    /// Too old (or too far ahead): a possible replay.
    #[error("signature is {0} s old (at most {MAX_SIGNATURE_AGE_S} s accepted)")]
    Stale(i64),
    /// The MAC does not match.
    #[error("signature does not match the body")]
    Mismatch,
}

/// Verifies a callback as an agent should: parse `t` and `v1`, refuse
/// timestamps more than five minutes from `now_s`, and compare the MAC in
/// constant time.
pub fn verify(header: &str, secret: &str, body: &str, now_s: i64) -> Result<(), VerifyError> {
    let mut t = None;
    let mut v1 = None;
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => t = v.parse::<i64>().ok(),
            Some(("v1", v)) => v1 = hex::decode(v).ok(),
            _ => {}
        }
    }
    let (Some(t), Some(v1)) = (t, v1) else {
        return Err(VerifyError::Malformed);
    };
    let age = now_s - t;
    if age.abs() > MAX_SIGNATURE_AGE_S {
        return Err(VerifyError::Stale(age));
    }
    mac(secret, t, body)
        .verify_slice(&v1)
        .map_err(|_| VerifyError::Mismatch)
}

/// Delay before attempt `n` (1-based; the first is immediate).
pub fn backoff(attempt: u32) -> Duration {
    match attempt {
        0 | 1 => Duration::ZERO,
        n => Duration::from_millis(500u64 << (n - 2).min(6)),
    }
}

/// Consecutive failed deliveries to one agent, for the audit log: an
/// operator reading `callback.failed` sees whether it is a blip or an
/// endpoint that has been down for a while.
#[derive(Debug, Default)]
struct Streaks(HashMap<String, u32>);

impl Streaks {
    /// Records a failure; the failures in a row so far.
    fn failed(&mut self, agent: &str) -> u32 {
        let n = self.0.entry(agent.to_string()).or_default();
        *n += 1;
        *n
    }

    /// Records a success; the failures in a row it ended.
    fn delivered(&mut self, agent: &str) -> u32 {
        self.0.remove(agent).unwrap_or(0)
    }
}

/// Delivers callbacks from `rx` until the channel closes. Never waits on a
/// delivery itself, so the hub's queue keeps draining whatever targets do.
pub async fn run(mut rx: mpsc::Receiver<CallbackJob>, core: Arc<Mutex<Core>>) {
    let client = match reqwest::Client::builder()
        .timeout(ATTEMPT_TIMEOUT)
        .no_proxy()
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "cannot build the callback HTTP client; callbacks disabled");
            return;
        }
    };
    let slots = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    // One lane per agent (agents with a callback: a handful to thousands).
    let mut lanes: HashMap<String, Arc<Semaphore>> = HashMap::new();
    let streaks = Arc::new(Mutex::new(Streaks::default()));
    while let Some(job) = rx.recv().await {
        let lane = lanes
            .entry(job.agent.clone())
            .or_insert_with(|| Arc::new(Semaphore::new(MAX_IN_FLIGHT_PER_AGENT)))
            .clone();
        let slots = slots.clone();
        let client = client.clone();
        let core = core.clone();
        let streaks = streaks.clone();
        tokio::spawn(async move {
            // The agent's lane first: a job waiting behind its own agent's
            // hanging deliveries holds no shared slot.
            let (Ok(lane), Ok(slot)) = (lane.acquire_owned().await, slots.acquire_owned().await)
            else {
                return;
            };
            let result = deliver(&client, &job).await;
            drop((slot, lane));
            let (action, details) = {
                let mut streaks = streaks.lock().unwrap_or_else(PoisonError::into_inner);
                match result {
                    Ok(attempts) => {
                        let mut details = serde_json::json!({"agent": job.agent, "kind": job.kind, "url": job.url, "attempts": attempts});
                        let ended = streaks.delivered(&job.agent);
                        if ended > 0 {
                            details["after_failures"] = ended.into();
                        }
                        ("callback.delivered", details)
                    }
                    Err((attempts, error)) => {
                        let in_a_row = streaks.failed(&job.agent);
                        tracing::warn!(agent = %job.agent, url = %job.url, %error, in_a_row, "callback not delivered");
                        (
                            "callback.failed",
                            serde_json::json!({"agent": job.agent, "kind": job.kind, "url": job.url, "attempts": attempts, "error": error, "failures_in_a_row": in_a_row}),
                        )
                    }
                }
            };
            let recorded = tokio::task::spawn_blocking(move || {
                let mut core = core.lock().unwrap_or_else(PoisonError::into_inner);
                core.record(Utc::now(), "hub", action, &job.subject, details)
            })
            .await;
            if !matches!(recorded, Ok(Ok(()))) {
                tracing::warn!("could not audit a callback delivery");
            }
        });
    }
}

/// Why an attempt failed, in words for the audit log: reqwest's own message
/// names only the URL (which the entry already has), the cause is deeper.
fn explain(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        return format!("no answer within {} s", ATTEMPT_TIMEOUT.as_secs());
    }
    let mut cause: &dyn std::error::Error = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    if e.is_connect() {
        format!("cannot connect: {cause}")
    } else {
        cause.to_string()
    }
}

async fn deliver(client: &reqwest::Client, job: &CallbackJob) -> Result<u32, (u32, String)> {
    let mut last_error = String::new();
    for attempt in 1..=MAX_ATTEMPTS {
        tokio::time::sleep(backoff(attempt)).await;
        let t = Utc::now().timestamp();
        let sent = client
            .post(&job.url)
            .header("content-type", "application/json")
            .header(SIGNATURE_HEADER, sign(&job.secret, t, &job.body))
            .body(job.body.clone())
            .send()
            .await;
        match sent {
            Ok(r) if r.status().is_success() => return Ok(attempt),
            Ok(r) => last_error = format!("HTTP {}", r.status().as_u16()),
            Err(e) => last_error = explain(&e),
        }
    }
    Err((MAX_ATTEMPTS, last_error))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_verify_and_replays_are_refused() {
        let body = r#"{"type":"control.changed"}"#;
        let header = sign("s3cret", 1_800_000_000, body);
        assert!(header.starts_with("t=1800000000,v1="));
        assert_eq!(verify(&header, "s3cret", body, 1_800_000_100), Ok(()));
        assert_eq!(
            verify(&header, "s3cret", body, 1_800_000_301),
            Err(VerifyError::Stale(301))
        );
        assert_eq!(
            verify(&header, "other", body, 1_800_000_000),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            verify(&header, "s3cret", "{}", 1_800_000_000),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            verify("v1=00", "s3cret", body, 0),
            Err(VerifyError::Malformed)
        );
    }

    #[test]
    fn backoff_doubles() {
        assert_eq!(backoff(1), Duration::ZERO);
        assert_eq!(backoff(2), Duration::from_millis(500));
        assert_eq!(backoff(3), Duration::from_secs(1));
        assert_eq!(backoff(5), Duration::from_secs(4));
    }
}
