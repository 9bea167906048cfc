//! The TUI's connection to a hub: the live feed with resume, and action
//! requests that are retried with their idempotency key until answered.

pub mod actions;
pub mod feed;

/// An HTTP client for talking to a hub: no proxy (hubs are usually on
/// loopback or a private network), bounded connect time.
pub fn http_client() -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .no_proxy()
        .connect_timeout(std::time::Duration::from_secs(10))
        .build()
}
