//! The `serve`, `token new` and `audit verify` commands.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use tokio_rustls::rustls::ServerConfig;

use crate::cli::ServeArgs;
use crate::hub::auth::{hash_token, new_token, token_entry_toml};
use crate::hub::core::StreamLimits;
use crate::hub::reload::ConfigSources;
use crate::hub::{DEFAULT_OTLP_GRPC_LISTEN, HubConfig, OtlpConfig, default_db_path};
use crate::model::role::Role;

use super::{fail, init_logging};

fn default_tokens_path() -> Option<PathBuf> {
    directories::ProjectDirs::from("dev", "agentdeck", "agentdeck")
        .map(|d| d.config_dir().join("tokens.toml"))
}

fn build_config(args: &ServeArgs) -> Result<HubConfig, String> {
    let listen: SocketAddr = args.listen.parse().map_err(|e| {
        format!(
            "--listen {:?}: {e} (expected e.g. 127.0.0.1:7400)",
            args.listen
        )
    })?;
    let db = match &args.db {
        Some(p) => p.clone(),
        None => default_db_path().ok_or("no data directory on this machine; give --db PATH")?,
    };
    if crate::hub::pg::is_url(&db) {
        // Checked now, so a bad URL is named before anything starts.
        crate::hub::pg::PgTarget::parse(&db.to_string_lossy()).map_err(|e| e.0)?;
    }
    if db.as_os_str() == ":memory:" {
        return Err("--db :memory: is refused: an in-memory database loses every incident, approval and audit entry when the hub stops; give a file path".into());
    }
    let tokens_path = match &args.tokens {
        Some(p) => p.clone(),
        None => default_tokens_path()
            .ok_or("no config directory on this machine; give --tokens PATH")?,
    };
    if !tokens_path.exists() {
        return Err(format!(
            "no tokens file at {}: create one with `agentdeck token new --name NAME --role lead` and put the printed [[token]] lines in it (or give --tokens PATH)",
            tokens_path.display()
        ));
    }
    let sources = ConfigSources {
        tokens: tokens_path,
        policy: args.policy.clone(),
        slos: args.slos.clone(),
        runbooks: runbooks_dir(args.runbooks.as_deref())?,
        notify: args.notify.clone(),
    };
    // The same reading a reload does, so start and reload agree.
    let files = sources
        .load()
        .map_err(|e| format!("{e}\nthe hub does not start until this is fixed"))?;
    tracing::info!(
        runbooks = files.runbooks.len(),
        slos = files.specs.len(),
        "configuration loaded"
    );
    let otlp = otlp_config(args)?;
    let retain_events = retention(&args.retain_events)?;
    Ok(HubConfig {
        listen,
        db,
        tokens: files.tokens,
        specs: files.specs,
        policy: files.policy,
        max_body_bytes: args.max_body_bytes,
        stream: StreamLimits::default(),
        runbooks: files.runbooks,
        otlp,
        retain_events,
        notify: files.notify,
        sources: Some(sources),
        advertise: args.advertise.clone(),
    })
}

/// `--retain-events`: at least an hour, the shortest burn-rate window the
/// hub needs again after a restart.
fn retention(text: &str) -> Result<std::time::Duration, String> {
    let retain = crate::config::parse_duration(text)
        .map_err(|e| format!("--retain-events {text:?}: {e}"))?;
    if retain < std::time::Duration::from_secs(3600) {
        return Err(format!(
            "--retain-events {text:?} is shorter than 1h, the shortest window the SLOs need after a restart"
        ));
    }
    Ok(retain)
}

/// The OpenTelemetry settings of `serve`.
fn otlp_config(args: &ServeArgs) -> Result<OtlpConfig, String> {
    let (grpc_listen, grpc_listen_optional) = match args.otlp_grpc_listen.as_deref() {
        None => (DEFAULT_OTLP_GRPC_LISTEN.parse().ok(), true),
        Some("off") => (None, false),
        Some(addr) => (
            Some(addr.parse().map_err(|e| {
                format!("--otlp-grpc-listen {addr:?}: {e} (expected e.g. 127.0.0.1:4317, or off)")
            })?),
            false,
        ),
    };
    let wait = crate::config::parse_duration(&args.trace_wait)
        .map_err(|e| format!("--trace-wait {:?}: {e}", args.trace_wait))?;
    let prices = match &args.prices {
        Some(path) => std::sync::Arc::new(crate::ingest::otlp::PriceTable::load(path)?),
        None => crate::ingest::otlp::builtin_prices(),
    };
    tracing::info!(
        models = prices.len(),
        as_of = prices.as_of().unwrap_or("undated"),
        file = %args.prices.as_deref().map_or("built in".into(), |p| p.display().to_string()),
        "model prices loaded"
    );
    Ok(OtlpConfig {
        prices,
        grpc_listen,
        grpc_listen_optional,
        trace_limits: crate::ingest::otlp::TraceLimits {
            wait: chrono::Duration::from_std(wait)
                .map_err(|e| format!("--trace-wait {:?}: {e}", args.trace_wait))?,
            max_bytes: args.trace_buffer_bytes,
        },
    })
}

/// The runbooks directory: `--runbooks DIR`, or `runbooks/` in the
/// working directory when it exists, or none.
fn runbooks_dir(dir: Option<&std::path::Path>) -> Result<Option<PathBuf>, String> {
    match dir {
        Some(d) if !d.is_dir() => Err(format!(
            "--runbooks {}: not a directory of runbooks",
            d.display()
        )),
        Some(d) => Ok(Some(d.to_path_buf())),
        None => {
            let d = PathBuf::from("runbooks");
            if d.is_dir() {
                return Ok(Some(d));
            }
            tracing::info!(
                "no runbooks directory here and no --runbooks: incidents have no runbooks"
            );
            Ok(None)
        }
    }
}

/// Loads `--runbooks DIR` (or `runbooks/` here, when it exists); any
/// invalid runbook is an error naming every `file:line: problem`.
pub fn load_runbooks(
    dir: Option<&std::path::Path>,
) -> Result<Vec<crate::model::runbook::Runbook>, String> {
    match runbooks_dir(dir)? {
        Some(d) => crate::hub::reload::load_runbooks(&d),
        None => Ok(Vec::new()),
    }
}

/// Decides how the hub is reached: HTTPS with the given PEM files, or
/// plain HTTP, which is refused on an address other machines can reach
/// unless `insecure` says the network is trusted: every request carries a
/// bearer token.
pub fn transport(
    listen: SocketAddr,
    tls_cert: Option<&std::path::Path>,
    tls_key: Option<&std::path::Path>,
    insecure: bool,
) -> Result<Option<Arc<ServerConfig>>, String> {
    match (tls_cert, tls_key) {
        (Some(cert), Some(key)) => crate::hub::tls::load(cert, key).map(Some),
        (Some(_), None) => {
            Err("--tls-cert needs --tls-key (the certificate's PEM private key)".into())
        }
        (None, Some(_)) => Err("--tls-key needs --tls-cert (the PEM certificate chain)".into()),
        (None, None) if listen.ip().is_loopback() || insecure => Ok(None),
        (None, None) => Err(format!(
            "refusing to serve plain HTTP on {listen}, an address other machines can reach: tokens would cross the network in clear. Give --tls-cert PATH --tls-key PATH (PEM), listen on loopback (127.0.0.1), or add --insecure if a TLS-terminating proxy or a trusted network protects it"
        )),
    }
}

/// `agentdeck serve`.
pub fn run(args: ServeArgs) -> ExitCode {
    crate::hub::arenas::limit_malloc_arenas();
    init_logging("info");
    let config = match build_config(&args) {
        Ok(c) => c,
        Err(e) => return fail(e),
    };
    let tls = match transport(
        config.listen,
        args.tls_cert.as_deref(),
        args.tls_key.as_deref(),
        args.insecure,
    ) {
        Ok(t) => t,
        Err(e) => return fail(e),
    };
    if tls.is_none() && !config.listen.ip().is_loopback() {
        tracing::warn!(
            listen = %config.listen,
            "serving plain HTTP beyond loopback (--insecure): tokens travel in clear unless a proxy adds TLS"
        );
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => return fail(format!("cannot start the async runtime: {e}")),
    };
    runtime.block_on(serve_until_stopped(args, config, tls))
}

/// How long a replica that stopped serving waits before standing by
/// again when that fails (its configuration files unreadable, its address
/// taken); a database still away is waited for while standing by.
const STAND_BY_AGAIN_EVERY: std::time::Duration = std::time::Duration::from_secs(2);

/// Serves until Ctrl-C or `SIGTERM`. On PostgreSQL a replica that loses
/// the `hub` lease (another replica took it, or the database was away for
/// the lease's length) stops serving at once, since writing on would be
/// two hubs at once, and stands by again in the same process on the same
/// address, taking over when the lease is free: a database failover longer
/// than the lease, or a healed network split, needs no supervisor to
/// bring the replica back.
async fn serve_until_stopped(
    args: ServeArgs,
    first: HubConfig,
    tls: Option<Arc<ServerConfig>>,
) -> ExitCode {
    let mut hangups = Hangups::listen();
    let mut next = Some(first);
    let mut bound: Option<(SocketAddr, Option<SocketAddr>)> = None;
    loop {
        let config = match next.take() {
            Some(c) => c,
            // Read again, as a restarted process would.
            None => match build_config(&args) {
                Ok(mut c) => {
                    if let Some((listen, grpc)) = bound {
                        c.listen = listen;
                        c.otlp.grpc_listen = grpc.or(c.otlp.grpc_listen);
                    }
                    c
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot stand by again; retrying");
                    if stopped_within(STAND_BY_AGAIN_EVERY).await {
                        return ExitCode::SUCCESS;
                    }
                    continue;
                }
            },
        };
        let db = shown_db(&config.db);
        let served_before = bound.is_some();
        let Some(started) = start_hub(config, tls.clone(), served_before, &mut hangups).await
        else {
            eprintln!("agentdeck: stopping");
            return ExitCode::SUCCESS;
        };
        let hub = match started {
            Ok(h) => h,
            Err(e) if bound.is_none() => return fail(e),
            Err(e) => {
                tracing::warn!(error = %e, "cannot stand by again; retrying");
                if stopped_within(STAND_BY_AGAIN_EVERY).await {
                    return ExitCode::SUCCESS;
                }
                continue;
            }
        };
        bound = Some((hub.addr, hub.grpc_addr));
        hub.reload_on_sighup();
        if std::mem::take(&mut hangups.before_serving) {
            // Before the line saying it serves, which supervisors and
            // tests wait for. Success and failure are logged and audited
            // by reload.
            let _ = hub.reload("SIGHUP").await;
        }
        // One line, written without failing: whoever started the hub may
        // read only the first and close the pipe.
        let grpc = hub
            .grpc_addr
            .map(|a| format!("; OTLP/gRPC also on {a}"))
            .unwrap_or_default();
        crate::hub::say(&format!(
            "agentdeck hub listening on {} (database {}{grpc})",
            hub.url(),
            db
        ));
        tokio::select! {
            () = crate::shutdown::shutdown_signal() => {
                eprintln!("agentdeck: stopping");
                hub.stop().await;
                return ExitCode::SUCCESS;
            }
            why = hub.lease_lost() => {
                tracing::error!(%why, "lost the hub lease: this replica stops serving and stands by again");
                crate::hub::say(&format!(
                    "agentdeck hub stopped serving: {why}; standing by again"
                ));
                hub.stop().await;
            }
        }
    }
}

/// `SIGHUP`s, listened for from the start: until a hub serves there is
/// nothing to reload, and the signal's default action would end the
/// process (`systemctl reload` sent to every replica would stop the
/// standbys). A serving hub reloads on them itself
/// (`RunningHub::reload_on_sighup`).
struct Hangups {
    #[cfg(unix)]
    signal: Option<tokio::signal::unix::Signal>,
    /// One came before the hub served: it reloads once it does.
    before_serving: bool,
}

impl Hangups {
    fn listen() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let signal = signal(SignalKind::hangup())
                .inspect_err(|e| tracing::warn!(error = %e, "cannot listen for SIGHUP"))
                .ok();
            Self {
                signal,
                before_serving: false,
            }
        }
        #[cfg(not(unix))]
        Self {
            before_serving: false,
        }
    }

    /// The next one; never, where there are none.
    async fn next(&mut self) {
        #[cfg(unix)]
        if let Some(signal) = self.signal.as_mut()
            && signal.recv().await.is_some()
        {
            return;
        }
        std::future::pending::<()>().await;
    }
}

/// Starts the hub (stands by again when it `served_before`), listening
/// for signals meanwhile: `None` when Ctrl-C or `SIGTERM` came first.
async fn start_hub(
    config: HubConfig,
    tls: Option<Arc<ServerConfig>>,
    served_before: bool,
    hangups: &mut Hangups,
) -> Option<anyhow::Result<crate::hub::RunningHub>> {
    let starting = async move {
        match (served_before, tls) {
            (true, tls) => crate::hub::stand_by_again(config, tls).await,
            (false, Some(tls)) => crate::hub::start_tls(config, tls).await,
            (false, None) => crate::hub::start(config).await,
        }
    };
    let mut starting = std::pin::pin!(starting);
    let mut stopping = std::pin::pin!(crate::shutdown::shutdown_signal());
    loop {
        tokio::select! {
            started = &mut starting => return Some(started),
            () = &mut stopping => return None,
            () = hangups.next() => {
                tracing::info!("SIGHUP before serving: the configuration files are read again once this hub serves");
                hangups.before_serving = true;
            }
        }
    }
}

/// Waits `pause`; true when Ctrl-C or `SIGTERM` came first.
async fn stopped_within(pause: std::time::Duration) -> bool {
    tokio::select! {
        () = crate::shutdown::shutdown_signal() => true,
        () = tokio::time::sleep(pause) => false,
    }
}

/// The database as a log line may show it: a PostgreSQL URL without its
/// password.
fn shown_db(db: &std::path::Path) -> String {
    match crate::hub::pg::PgTarget::parse(&db.to_string_lossy()) {
        Ok(target) if crate::hub::pg::is_url(db) => format!("postgres://{}", target.shown()),
        _ => db.display().to_string(),
    }
}

/// `agentdeck token new`.
pub fn token_new(name: &str, role: &str, json: bool) -> ExitCode {
    let Some(role) = Role::parse(role) else {
        return fail(format!(
            "--role {role:?} is not one of agent, viewer, responder, approver, lead, alerts"
        ));
    };
    if let Err(e) = crate::model::validate::id("name", name) {
        return fail(format!("--name: {e}"));
    }
    let token = match new_token() {
        Ok(t) => t,
        Err(e) => return fail(format!("no randomness for a token: {e}")),
    };
    if json {
        println!(
            "{}",
            serde_json::json!({
                "name": name,
                "role": role,
                "token": token,
                "sha256": hash_token(&token),
                "toml": token_entry_toml(name, role, &token),
            })
        );
    } else {
        println!("token (give it to {name}; it is not stored anywhere):\n  {token}\n");
        println!(
            "add to the hub's tokens file:\n{}",
            token_entry_toml(name, role, &token)
        );
    }
    ExitCode::SUCCESS
}

/// `agentdeck backup`.
pub fn backup(args: crate::cli::BackupArgs) -> ExitCode {
    let Some(path) = args.db.or_else(default_db_path) else {
        return fail("no data directory on this machine; give --db PATH");
    };
    if crate::hub::pg::is_url(&path) {
        return fail(
            "`agentdeck backup` copies a SQLite file; back a PostgreSQL database up with pg_dump or the server's own backups (docs/operations.md, High availability)",
        );
    }
    match crate::hub::store::backup(&path, &args.out) {
        Ok(done) => {
            println!(
                "backed up {} to {}: {} events, {} incidents/approvals/controls, {} audit entries, {:.1} MiB; integrity checked",
                path.display(),
                args.out.display(),
                done.events,
                done.objects,
                done.audit_entries,
                done.bytes as f64 / 1_048_576.0
            );
            ExitCode::SUCCESS
        }
        Err(e) => fail(e),
    }
}

/// `agentdeck audit verify`: walks the whole chain in the database, a
/// SQLite file or the PostgreSQL database every replica writes.
pub fn audit_verify(db: Option<PathBuf>) -> ExitCode {
    let Some(path) = db.or_else(default_db_path) else {
        return fail("no data directory on this machine; give --db PATH");
    };
    let store = match crate::hub::store::Backend::open_read_only(&path) {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    let mut head = (0u64, crate::hub::audit::GENESIS_HASH.to_string());
    let mut broken = None;
    let walked =
        store.for_each_audit(
            |entry| match crate::hub::audit::verify_chain_from(&head, &entry) {
                Ok(()) => {
                    head = (entry.seq, entry.hash.clone());
                    true
                }
                Err(e) => {
                    broken = Some(e);
                    false
                }
            },
        );
    if let Err(e) = walked {
        return fail(e);
    }
    match broken {
        None => {
            println!("audit log intact: {} entries, head {}", head.0, head.1);
            ExitCode::SUCCESS
        }
        Some(e) => {
            println!("audit log BROKEN: {e}");
            println!("entries 1 to {} verify", head.0);
            ExitCode::from(1)
        }
    }
}
