//! agentdeck: a terminal control room for on-call operators of AI agents in
//! production, and the hub it talks to.
//!
//! The crate is one binary with layers that point one way:
//! `tui → client → model`, `hub → engine → model`, `ingest → model`.
//! [`model`] and [`engine`] know nothing of HTTP, SQLite or terminals.

pub mod cli;
pub mod client;
pub mod cmd;
pub mod config;
pub mod engine;
pub mod handoff;
pub mod hub;
pub mod ingest;
pub mod model;
pub mod replay;
pub mod runbook;
pub mod shutdown;
pub mod sim;
pub mod tui;
