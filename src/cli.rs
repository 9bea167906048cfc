//! The command-line interface: every subcommand and its flags.
//!
//! Parsing lives here; each subcommand's work lives in its own module.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

/// Exit code for a subcommand that exists in the interface but is not built yet.
pub const EXIT_NOT_AVAILABLE: u8 = 2;

/// agentdeck: the terminal control room for AI agents in production.
#[derive(Debug, Parser)]
#[command(name = "agentdeck", version, about, long_about = None, args_conflicts_with_subcommands = true)]
pub struct Cli {
    /// What to run; without one, the operator TUI starts.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Flags of the TUI when no subcommand is given.
    #[command(flatten)]
    pub tui: TuiArgs,
}

/// The subcommands of `agentdeck`.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// The operator TUI, connected to a hub (the default).
    Tui(TuiArgs),
    /// The hub: ingest, SLOs, incidents, approvals, controls, audit, live stream.
    Serve(ServeArgs),
    /// A simulated fleet of agents posting to a hub and obeying its controls.
    Simulate(SimulateArgs),
    /// Hub, simulated fleet and TUI in one process, on loopback.
    Demo(DemoArgs),
    /// The TUI over a recorded file, with no hub.
    Replay(ReplayArgs),
    /// Print a shift handoff summary: Markdown, aligned plain text or JSON.
    Handoff(HandoffArgs),
    /// Make a running hub read its configuration files again (lead only;
    /// `kill -HUP` on the hub's machine does the same).
    Reload(ReloadArgs),
    /// Inspect the tamper-evident audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Copy the hub's database to a new file while the hub runs, and check
    /// the copy.
    Backup(BackupArgs),
    /// The hub database's schema: migrate it to this version, or report it.
    #[command(subcommand)]
    Db(DbCommand),
    /// Manage hub tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// List the actions keys can be bound to, or check a keymap file.
    Keys(KeysArgs),
    /// Where agentdeck keeps its files on this machine.
    #[command(subcommand)]
    Config(ConfigCommand),
}

/// Flags of `agentdeck keys`.
#[derive(Debug, Args)]
pub struct KeysArgs {
    /// `check FILE`: validate a keymap file without starting the TUI.
    #[command(subcommand)]
    pub command: Option<KeysCommand>,
}

/// Subcommands of `agentdeck keys`.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Validate a keymap file (merged over the default keymap, as the TUI
    /// would) and say what is wrong.
    Check {
        /// The file.
        file: PathBuf,
    },
}

/// Subcommands of `agentdeck config`.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print where config, themes, keymaps, logs and data live.
    Path,
}

/// Subcommands of `agentdeck token`.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Print a fresh token and the line to add to the hub's tokens file.
    New {
        /// Operator name, or agent id for agent tokens.
        #[arg(long)]
        name: String,
        /// agent, viewer, responder, approver or lead.
        #[arg(long)]
        role: String,
        /// Print one JSON object with both, for scripts.
        #[arg(long)]
        json: bool,
    },
}

/// Flags of the operator TUI.
#[derive(Debug, Args, Default)]
pub struct TuiArgs {
    /// Hub URL, e.g. http://127.0.0.1:7400; several separated by commas
    /// (replicas of one hub): on failure the next is used, resuming from
    /// the last event seen.
    #[arg(long, env = "AGENTDECK_HUB")]
    pub hub: Option<String>,
    /// Operator token (never shown on screen or in logs). Prefer
    /// AGENTDECK_TOKEN or --token-file: a command line is visible in `ps`.
    #[arg(long, env = "AGENTDECK_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Read the operator token from this file (its first line).
    #[arg(long, conflicts_with = "token")]
    pub token_file: Option<PathBuf>,
    /// Make every action unavailable.
    #[arg(long)]
    pub read_only: bool,
    /// Monochrome: state shown by symbols and words only (also NO_COLOR).
    #[arg(long)]
    pub no_color: bool,
    /// Never ring the terminal bell.
    #[arg(long)]
    pub no_bell: bool,
    /// Allow sending the token over plain HTTP to a host that is not
    /// loopback.
    #[arg(long)]
    pub insecure: bool,
    /// Trust this PEM file of CA certificates for the hub's HTTPS, beside
    /// the system's (a hub with a certificate from a private CA).
    #[arg(long, env = "AGENTDECK_CA_CERT")]
    pub ca_cert: Option<PathBuf>,
    /// Theme: dark (default), light, high-contrast, colorblind, or a file
    /// NAME.toml in the config directory's themes/.
    #[arg(long)]
    pub theme: Option<String>,
    /// Keymap: default, vim, emacs, or a file NAME.toml in the config
    /// directory's keymaps/; keymap.toml there is merged over it.
    #[arg(long)]
    pub keymap: Option<String>,
}

/// Flags of the hub.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:7400")]
    pub listen: String,
    /// Where the other replicas on the same PostgreSQL database reach this
    /// one, e.g. `https://hub-a.internal:7400`: standbys forward requests
    /// there while it serves [default: the --listen address].
    #[arg(long)]
    pub advertise: Option<String>,
    /// SQLite database file, or `postgres://user@host:5432/agentdeck`:
    /// several hubs on one PostgreSQL database form one, one serving and
    /// the others standing by (password from the URL, `PGPASSWORD` or
    /// `~/.pgpass`; TLS as `sslmode` asks).
    #[arg(long)]
    pub db: Option<PathBuf>,
    /// Tokens file (TOML).
    #[arg(long)]
    pub tokens: Option<PathBuf>,
    /// SLO specs file (TOML).
    #[arg(long)]
    pub slos: Option<PathBuf>,
    /// Directory of runbooks (Markdown).
    #[arg(long)]
    pub runbooks: Option<PathBuf>,
    /// Approval policy file (TOML).
    #[arg(long)]
    pub policy: Option<PathBuf>,
    /// Largest request body accepted, in bytes (413 beyond).
    #[arg(long, default_value_t = crate::hub::DEFAULT_MAX_BODY_BYTES)]
    pub max_body_bytes: usize,
    /// Serve HTTPS with this PEM certificate chain (server certificate
    /// first); needs --tls-key.
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Allow plain HTTP on an address that is not loopback (e.g. behind a
    /// TLS-terminating proxy on a trusted network).
    #[arg(long)]
    pub insecure: bool,
    /// Also serve OTLP/gRPC alone on this address, or `off` [default:
    /// 127.0.0.1:4317, the port exporters assume; skipped with a warning
    /// when taken]. gRPC is served on --listen's port too.
    #[arg(long, value_name = "ADDR|off")]
    pub otlp_grpc_listen: Option<String>,
    /// Longest an OTLP span waits for the rest of its trace (its agent
    /// span or its root) before it is mapped as it stands, e.g. 5m.
    #[arg(long, default_value = "5m")]
    pub trace_wait: String,
    /// Most memory (estimated, in bytes) spans waiting for their trace may
    /// hold; past it the oldest traces are mapped as they stand.
    #[arg(long, default_value_t = 64 * 1024 * 1024)]
    pub trace_buffer_bytes: usize,
    /// Model prices (TOML, USD per million tokens) for runs whose spans
    /// report tokens but no cost; the built-in table otherwise.
    #[arg(long)]
    pub prices: Option<PathBuf>,
    /// Keep journalled events this long, e.g. 30d or 12h (at least 1h);
    /// older ones are dropped in the background. Incidents, approvals,
    /// controls, notes and the audit log are kept whatever the window.
    #[arg(long, default_value = "30d")]
    pub retain_events: String,
    /// Who is paged about what: receivers (PagerDuty, Slack, webhooks),
    /// routes and escalation levels, in TOML (see docs/operations.md,
    /// "Paging").
    #[arg(long, env = "AGENTDECK_NOTIFY")]
    pub notify: Option<PathBuf>,
}

/// Flags of the simulated fleet.
#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// Hub URL; several separated by commas (replicas of one hub): on
    /// failure the fleet posts to the next.
    #[arg(long)]
    pub hub: Option<String>,
    /// Agent token.
    #[arg(long, env = "AGENTDECK_AGENT_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// steady, tool-outage, drift, cost-spike, latency-tail, approval-storm or mixed.
    #[arg(long, default_value = "mixed")]
    pub scenario: String,
    /// Number of agents.
    #[arg(long)]
    pub agents: Option<u32>,
    /// Runs per second across the fleet.
    #[arg(long)]
    pub rate: Option<f64>,
    /// Random seed.
    #[arg(long)]
    pub seed: Option<u64>,
    /// How long to run, e.g. 60s or 10m.
    #[arg(long)]
    pub duration: Option<String>,
    /// Trust this PEM file of CA certificates for the hub's HTTPS, beside
    /// the system's (a hub with a certificate from a private CA).
    #[arg(long, env = "AGENTDECK_CA_CERT")]
    pub ca_cert: Option<PathBuf>,
}

/// Flags of the all-in-one demo.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Keep the database at this path instead of a temporary file.
    #[arg(long)]
    pub db: Option<PathBuf>,
    /// Run hub and fleet headless and print the URL and a lead token.
    #[arg(long)]
    pub hub_only: bool,
    /// With --hub-only, print one JSON line for scripts.
    #[arg(long)]
    pub json: bool,
    /// Monochrome TUI (also NO_COLOR).
    #[arg(long)]
    pub no_color: bool,
}

/// Flags of replay.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// Recorded file: NDJSON envelopes, OpenTelemetry Collector file-exporter lines, or a hub database or its backup (its event journal is replayed).
    pub file: PathBuf,
    /// Playback speed, e.g. 10x.
    #[arg(long)]
    pub speed: Option<String>,
    /// Replay as fast as possible.
    #[arg(long)]
    pub as_fast_as_possible: bool,
    /// SLO specs file (TOML).
    #[arg(long)]
    pub slos: Option<PathBuf>,
    /// Print the final SLO table without a screen.
    #[arg(long)]
    pub summary: bool,
    /// With --summary, print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Flags of the handoff summary.
#[derive(Debug, Args)]
pub struct HandoffArgs {
    /// Hub URL.
    #[arg(long, env = "AGENTDECK_HUB")]
    pub hub: Option<String>,
    /// Operator token.
    #[arg(long, env = "AGENTDECK_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Length of the shift ending now, e.g. 8h.
    #[arg(long)]
    pub since: Option<String>,
    /// Start of the shift (RFC 3339).
    #[arg(long)]
    pub from: Option<String>,
    /// End of the shift (RFC 3339).
    #[arg(long)]
    pub to: Option<String>,
    /// How to write the summary: markdown (the default) for where Markdown
    /// is rendered, text for aligned plain columns to paste into a chat,
    /// json for programs.
    #[arg(long, value_enum, default_value_t = crate::handoff::Format::Markdown)]
    pub format: crate::handoff::Format,
    /// Write the summary to this file instead of standard output.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Allow sending the token over plain HTTP to a host that is not
    /// loopback.
    #[arg(long)]
    pub insecure: bool,
    /// Trust this PEM file of CA certificates for the hub's HTTPS, beside
    /// the system's (a hub with a certificate from a private CA).
    #[arg(long, env = "AGENTDECK_CA_CERT")]
    pub ca_cert: Option<PathBuf>,
}

/// Flags of `agentdeck reload`.
#[derive(Debug, Args)]
pub struct ReloadArgs {
    /// Hub URL.
    #[arg(long, env = "AGENTDECK_HUB")]
    pub hub: Option<String>,
    /// A lead's token.
    #[arg(long, env = "AGENTDECK_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Allow sending the token over plain HTTP to a host that is not
    /// loopback.
    #[arg(long)]
    pub insecure: bool,
    /// Trust this PEM file of CA certificates for the hub's HTTPS.
    #[arg(long, env = "AGENTDECK_CA_CERT")]
    pub ca_cert: Option<PathBuf>,
}

/// Flags of `agentdeck backup`.
#[derive(Debug, Args)]
pub struct BackupArgs {
    /// SQLite database file of the hub [default: the platform's data
    /// directory, as `serve`].
    #[arg(long)]
    pub db: Option<PathBuf>,
    /// The new file to write (never overwritten; created readable by its
    /// owner only). `replay` and `audit verify --db` read it.
    pub out: PathBuf,
}

/// Subcommands of `agentdeck audit`.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check the audit log's hash chain and name the first broken entry.
    Verify {
        /// SQLite database file of the hub, or its `postgres://` URL.
        #[arg(long)]
        db: Option<PathBuf>,
    },
}

/// Subcommands of `agentdeck db`.
#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Bring the schema to this agentdeck's version (hubs also do at
    /// start); run it once before upgrading replicas that share a
    /// PostgreSQL database.
    Migrate {
        /// SQLite database file, or `postgres://user@host:5432/agentdeck`
        /// (password from the URL, `PGPASSWORD` or `~/.pgpass`).
        #[arg(long)]
        db: Option<PathBuf>,
    },
    /// Print the schema version and whether it is this agentdeck's (exit
    /// 0), older or newer (exit 1).
    Status {
        /// SQLite database file, or a `postgres://` URL.
        #[arg(long)]
        db: Option<PathBuf>,
    },
}

/// Runs the parsed command line and returns the process exit code.
pub fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Some(Command::Serve(args)) => crate::cmd::serve::run(args),
        Some(Command::Token(TokenCommand::New { name, role, json })) => {
            crate::cmd::serve::token_new(&name, &role, json)
        }
        Some(Command::Audit(AuditCommand::Verify { db })) => crate::cmd::serve::audit_verify(db),
        Some(Command::Backup(args)) => crate::cmd::serve::backup(args),
        Some(Command::Db(DbCommand::Migrate { db })) => crate::cmd::db::migrate(db),
        Some(Command::Db(DbCommand::Status { db })) => crate::cmd::db::status(db),
        Some(Command::Keys(args)) => crate::cmd::keys::run(args),
        Some(Command::Config(ConfigCommand::Path)) => crate::cmd::keys::config_path(),
        None => crate::cmd::tui::run(cli.tui),
        Some(Command::Tui(args)) => crate::cmd::tui::run(args),
        Some(Command::Simulate(args)) => crate::cmd::simulate::run(args),
        Some(Command::Demo(args)) => crate::cmd::demo::run(args),
        Some(Command::Replay(args)) => crate::cmd::replay::run(args),
        Some(Command::Handoff(args)) => crate::cmd::handoff::run(args),
        Some(Command::Reload(args)) => crate::cmd::reload::run(args),
    }
}
