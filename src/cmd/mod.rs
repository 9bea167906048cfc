//! The subcommands: each turns parsed flags into running work and an exit
//! code.

pub mod db;
pub mod demo;
pub mod handoff;
pub mod keys;
pub mod reload;
pub mod replay;
pub mod serve;
pub mod simulate;
pub mod tui;

use std::process::ExitCode;

pub use crate::config::parse_duration;

/// Exit code for bad configuration or input.
pub const EXIT_CONFIG: u8 = 2;

/// Prints an error for the operator and returns the configuration exit code.
pub fn fail(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("agentdeck: {message}");
    ExitCode::from(EXIT_CONFIG)
}

/// Exit code when the hub cannot be reached or refuses.
pub const EXIT_HUB: u8 = 1;

/// The hub and token a one-shot command (`handoff`, `reload`) talks to,
/// checked the same way for each: both given (`whose` says whose token),
/// plain HTTP only to loopback unless `insecure`, a private CA trusted.
pub fn hub_target(
    hub: Option<String>,
    token: Option<String>,
    whose: &str,
    insecure: bool,
    ca_cert: Option<&std::path::Path>,
) -> Result<(String, String), String> {
    let hub = hub.ok_or("no hub: give --hub URL (or AGENTDECK_HUB)")?;
    let token =
        token.ok_or_else(|| format!("no token: give --token (or AGENTDECK_TOKEN){whose}"))?;
    tui::check_transport(&hub, insecure)?;
    if let Some(path) = ca_cert {
        crate::client::trust_ca_file(path)?;
    }
    Ok((hub, token))
}

/// Starts logging to standard error at `AGENTDECK_LOG` (default `info`).
pub fn init_logging(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("AGENTDECK_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    // Colour codes only for a terminal: in a journal or a log file they
    // are noise around every field.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr)
        .try_init();
}

/// A multi-threaded runtime, or an operator-readable failure.
pub fn runtime() -> Result<tokio::runtime::Runtime, ExitCode> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| fail(format!("cannot start the async runtime: {e}")))
}
