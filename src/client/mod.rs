//! The TUI's connection to a hub: the live feed with resume, and action
//! requests that are retried with their idempotency key until answered.

pub mod actions;
pub mod feed;
pub mod hub;
pub mod hubs;

use std::path::Path;
use std::sync::OnceLock;

/// Extra certificate authorities every client of this process trusts
/// (`--ca-cert` / `AGENTDECK_CA_CERT`), set once at start-up before any
/// client is built.
static EXTRA_ROOTS: OnceLock<Vec<reqwest::Certificate>> = OnceLock::new();

/// Reads a PEM file of one or more CA certificates and makes every client
/// built afterwards (by [`builder`] or [`http_client`]) trust them, besides
/// the system's roots: a hub with a certificate from a private CA.
pub fn trust_ca_file(path: &Path) -> Result<(), String> {
    let pem = std::fs::read(path)
        .map_err(|e| format!("cannot read --ca-cert {}: {e}", path.display()))?;
    let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
        format!(
            "--ca-cert {}: not a PEM certificate bundle ({e})",
            path.display()
        )
    })?;
    if certs.is_empty() {
        return Err(format!(
            "--ca-cert {}: no -----BEGIN CERTIFICATE----- block in it",
            path.display()
        ));
    }
    EXTRA_ROOTS
        .set(certs)
        .map_err(|_| "--ca-cert given twice".to_string())
}

/// A client builder for talking to a hub: trusts the CA of
/// [`trust_ca_file`] when one was given, no proxy (hubs are usually on
/// loopback or a private network), bounded connect time.
pub fn builder() -> reqwest::ClientBuilder {
    let builder = reqwest::Client::builder()
        .no_proxy()
        .connect_timeout(std::time::Duration::from_secs(10));
    match EXTRA_ROOTS.get() {
        Some(certs) => builder.tls_certs_merge(certs.iter().cloned()),
        None => builder,
    }
}

/// An HTTP client for talking to a hub, from [`builder`].
pub fn http_client() -> reqwest::Result<reqwest::Client> {
    builder().build()
}
