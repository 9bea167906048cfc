//! The hub (`agentdeck serve`): ingest, live stream, actions, storage,
//! audit and signed callbacks, on axum and SQLite.

pub mod alerts;
pub mod archive;
pub mod arenas;
pub mod audit;
pub mod auth;
pub mod body;
pub mod callbacks;
pub mod core;
pub mod error;
pub mod forward;
pub mod http;
pub mod intake;
pub mod inventory;
pub mod metrics;
pub mod notify;
pub mod ops;
pub mod pg;
pub mod policy;
pub mod reload;
pub mod steps;
pub mod store;
pub mod tls;

pub use self::http::stream;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::Utc;
use tokio::sync::{mpsc, oneshot};

use crate::engine::Engine;
use crate::model::slo::SloSpec;

use self::auth::TokenStore;
use self::core::{Core, StreamLimits};
use self::http::AppState;
use self::pg::active::DatabaseAway;
use self::policy::Policy;
use self::store::Store;

/// Default request body limit: 16 MiB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 16 * 1024 * 1024;
/// How often time advances: alerts, expiries, SLO deltas (at most twice a
/// second).
pub const TICK: Duration = Duration::from_millis(500);

/// Everything the hub needs to start.
pub struct HubConfig {
    /// Address to listen on (port 0 picks a free one).
    pub listen: SocketAddr,
    /// The SQLite file.
    pub db: PathBuf,
    /// Who may call.
    pub tokens: TokenStore,
    /// SLO specs.
    pub specs: Vec<SloSpec>,
    /// Approval policy.
    pub policy: Policy,
    /// Request body limit.
    pub max_body_bytes: usize,
    /// Stream buffer sizes.
    pub stream: StreamLimits,
    /// Runbooks incidents are linked to (validated before the hub starts;
    /// see [`crate::runbook::load_dir`]).
    pub runbooks: Vec<crate::model::runbook::Runbook>,
    /// OpenTelemetry ingest settings.
    pub otlp: OtlpConfig,
    /// Journalled events older than this are dropped (incidents,
    /// approvals, controls, notes and the audit log are kept).
    pub retain_events: std::time::Duration,
    /// Who is paged about what (`serve --notify`); `None` pages no one.
    pub notify: Option<notify::NotifyConfig>,
    /// The files `SIGHUP` and `POST /v1/reload` read again (`None`: the
    /// configuration was built in code and is not reloaded).
    pub sources: Option<reload::ConfigSources>,
    /// Where other replicas reach this one (`serve --advertise`); default:
    /// the address it listens on.
    pub advertise: Option<String>,
}

/// How long journalled events are kept by default.
pub const DEFAULT_RETAIN_EVENTS: std::time::Duration = std::time::Duration::from_secs(30 * 86_400);

/// How the hub takes OpenTelemetry exports.
#[derive(Debug, Clone)]
pub struct OtlpConfig {
    /// A second address serving only OTLP/gRPC (exporters assume port
    /// 4317); gRPC is always served on the main address too.
    pub grpc_listen: Option<SocketAddr>,
    /// Whether failing to bind `grpc_listen` only warns (the default
    /// address, which another collector may hold) rather than refusing to
    /// start (an address the operator asked for).
    pub grpc_listen_optional: bool,
    /// How long and how much spans wait for the rest of their trace.
    pub trace_limits: crate::ingest::otlp::TraceLimits,
    /// Prices of model calls, for runs whose spans report tokens only.
    pub prices: Arc<crate::ingest::otlp::PriceTable>,
}

impl Default for OtlpConfig {
    /// No gRPC port of its own, the default trace limits, built-in prices.
    fn default() -> Self {
        Self {
            grpc_listen: None,
            grpc_listen_optional: false,
            trace_limits: Default::default(),
            prices: crate::ingest::otlp::builtin_prices(),
        }
    }
}

/// The address OTLP/gRPC exporters send to by default.
pub const DEFAULT_OTLP_GRPC_LISTEN: &str = "127.0.0.1:4317";

/// A running hub.
pub struct RunningHub {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Where it also serves OTLP/gRPC alone, if anywhere.
    pub grpc_addr: Option<SocketAddr>,
    /// The shared state (for in-process inspection).
    pub core: Arc<Mutex<Core>>,
    /// Whether it serves HTTPS.
    tls: bool,
    /// What requests see (for reloads).
    state: AppState,
    shutdown: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
    /// The PostgreSQL lease it serves under, if it serves from PostgreSQL.
    lease: Option<pg::active::Active>,
}

impl RunningHub {
    /// The base URL, e.g. `http://127.0.0.1:7400`, or `https://…` when it
    /// serves TLS.
    pub fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// Reads the configuration files again and puts them in force (see
    /// [`reload::reload`]); `actor` is audited.
    pub async fn reload(&self, actor: &str) -> Result<serde_json::Value, String> {
        reload::reload(&self.state, actor).await
    }

    /// Reloads on every `SIGHUP` until the hub stops (Unix).
    pub fn reload_on_sighup(&self) {
        #[cfg(unix)]
        {
            let state = self.state.clone();
            tokio::spawn(async move {
                use tokio::signal::unix::{SignalKind, signal};
                let mut hup = match signal(SignalKind::hangup()) {
                    Ok(s) => s,
                    Err(e) => {
                        tracing::warn!(error = %e, "SIGHUP does not reload: cannot listen for it");
                        return;
                    }
                };
                // Ends with this hub: a replica that stands by again
                // starts a new one, and this must not keep the old alive.
                let mut stopping = state.stopping.clone();
                let stopped = async move {
                    let _ = stopping.wait_for(|stopping| *stopping).await;
                };
                tokio::pin!(stopped);
                loop {
                    tokio::select! {
                        hup = hup.recv() => {
                            if hup.is_none() {
                                return;
                            }
                            // Success and failure are logged and audited by reload.
                            let _ = reload::reload(&state, "SIGHUP").await;
                        }
                        () = &mut stopped => return,
                    }
                }
            });
        }
    }

    /// Stops accepting, lets in-flight requests finish, and waits; then
    /// releases the PostgreSQL lease, if any, so a standby takes over.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let _ = self.task.await;
        if let Some(lease) = self.lease.take() {
            lease.release().await;
        }
    }

    /// Resolves, with the reason, when this hub loses its PostgreSQL lease
    /// (another replica serves now); never for a SQLite hub.
    pub async fn lease_lost(&self) -> String {
        match &self.lease {
            Some(lease) => lease.lost().await,
            None => std::future::pending().await,
        }
    }
}

/// Prints one line on standard output for whoever started the hub (its
/// address, that it stands by), ignoring a closed pipe: a starter may read
/// the first line only.
pub fn say(line: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}").and_then(|()| out.flush());
}

/// The platform's default database path.
pub fn default_db_path() -> Option<PathBuf> {
    directories::ProjectDirs::from("dev", "agentdeck", "agentdeck")
        .map(|d| d.data_dir().join("hub.db"))
}

/// Opens the database `--db` names, a SQLite file or a `postgres://` URL,
/// migrating it, and the archive's reading connections beside it.
fn open_store(
    db: &std::path::Path,
    retain: std::time::Duration,
    lease: Option<pg::lease::Held>,
) -> Result<(store::Backend, archive::Archive), store::StoreError> {
    if let Some(url) = db.to_str().filter(|_| pg::is_url(db)) {
        let target = pg::PgTarget::parse(url)?;
        let mut store = pg::PgStore::open(&target)?;
        if let Some(held) = lease {
            store.set_fence(held);
        }
        store.set_retention(Some(i64::try_from(retain.as_secs()).unwrap_or(i64::MAX)));
        let archive = archive::Archive::postgres(&target)?;
        tracing::info!(db = %target.shown(), "serving from PostgreSQL");
        return Ok((store.into(), archive));
    }
    let mut store = Store::open(db)?;
    store.start_maintenance(store::Upkeep { retain })?;
    let archive = archive::Archive::open(db)?;
    Ok((store.into(), archive))
}

/// Opens the store, replays the journal, binds and starts serving plain
/// HTTP.
pub async fn start(config: HubConfig) -> anyhow::Result<RunningHub> {
    start_serving(config, None, DatabaseAway::Fail).await
}

/// Like [`start`], but serves HTTPS with `tls` (see [`tls::load`]).
pub async fn start_tls(
    config: HubConfig,
    tls: Arc<tokio_rustls::rustls::ServerConfig>,
) -> anyhow::Result<RunningHub> {
    start_serving(config, Some(tls), DatabaseAway::Fail).await
}

/// Like [`start`] or [`start_tls`], for a replica that served and stopped
/// (its lease lost): on PostgreSQL it waits for the database instead of
/// failing when that is away, its address answering `503` meanwhile, so
/// clients and balancers hear why rather than find no listener.
pub async fn stand_by_again(
    config: HubConfig,
    tls: Option<Arc<tokio_rustls::rustls::ServerConfig>>,
) -> anyhow::Result<RunningHub> {
    start_serving(config, tls, DatabaseAway::Wait).await
}

async fn start_serving(
    config: HubConfig,
    tls: Option<Arc<tokio_rustls::rustls::ServerConfig>>,
    away: DatabaseAway,
) -> anyhow::Result<RunningHub> {
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.listen))?;
    let addr = listener.local_addr()?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    let (shutdown_tx, shutdown_rx) = oneshot::channel::<()>();
    let (stopping_tx, stopping_rx) = tokio::sync::watch::channel(false);
    let stop: Stop = Box::pin(async move {
        let _ = shutdown_rx.await;
        // Streams never finish by themselves: end them, or the graceful
        // shutdown waits for every operator to disconnect.
        let _ = stopping_tx.send(true);
    });
    let (door, lease) = match config.db.to_str().filter(|_| pg::is_url(&config.db)) {
        Some(url) => {
            let advertise = config.advertise.as_deref();
            let opened = Opened {
                listener,
                tls: tls.clone(),
                stop,
                stopping: stopping_rx.clone(),
                scheme,
            };
            let (door, lease) =
                stand_by(url, advertise, config.max_body_bytes, opened, away).await?;
            (door, Some(lease))
        }
        None => (Door::Direct(listener, stop), None),
    };
    let (config, files_refused) = match lease {
        // As they are when the lease is taken: standing by may have lasted
        // hours since they were read.
        Some(_) => reload::read_again(config).await,
        None => (config, None),
    };
    let db = config.db.clone();
    let specs = config.specs.clone();
    let policy = config.policy.clone();
    let limits = config.stream;
    let runbooks = crate::runbook::Library::new(config.runbooks);
    let (trace_limits, prices) = (config.otlp.trace_limits, config.otlp.prices.clone());
    let retain = config.retain_events;
    let held = lease.as_ref().map(|l| l.held.clone());
    let (core, archive) = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
        warn_short_retention(&specs, retain);
        let (store, archive) = open_store(&db, retain, held)?;
        let mut core = Core::open(store, Engine::new(specs), policy, limits, Utc::now())?;
        core.set_runbooks(runbooks);
        core.set_otlp(trace_limits, prices);
        if let Some(error) = files_refused {
            core.config_refused(Utc::now(), "takeover", &error)?;
        }
        Ok((core, Arc::new(archive)))
    })
    .await??;
    let core = Arc::new(Mutex::new(core));
    // In the background: checks asked for meanwhile wait for this one.
    let first_check = archive.clone();
    tokio::task::spawn_blocking(move || first_check.check_at_start());
    let (cb_tx, cb_rx) = mpsc::channel(10_000);
    let state = AppState {
        core: core.clone(),
        archive,
        tokens: Arc::new(reload::LiveTokens::new(config.tokens)),
        config: config.sources.map(Arc::new),
        callbacks: cb_tx,
        stopping: stopping_rx,
        max_body_bytes: config.max_body_bytes,
        ingest_slots: Arc::new(tokio::sync::Semaphore::new(http::INGEST_SLOTS)),
    };
    let app = http::router(state.clone(), config.max_body_bytes);
    let grpc_listener = bind_grpc(&config.otlp).await?;
    let grpc_addr = match &grpc_listener {
        Some(l) => Some(l.local_addr()?),
        None => None,
    };
    let pager = match config.notify {
        Some(notify) => {
            let wake = lock(&core).set_notify(
                Arc::new(notify),
                format!("{scheme}://{addr}"),
                Utc::now(),
            )?;
            Some(tokio::spawn(notify::dispatch::run(core.clone(), wake)))
        }
        None => None,
    };
    let ticker = tokio::spawn(tick_loop(state.clone()));
    let deliveries = tokio::spawn(callbacks::run(cb_rx, core.clone()));
    let serves_tls = tls.is_some();
    let grpc_task = grpc_listener.map(|listener| {
        let (tls, app) = (tls.clone(), http::grpc::router(state.clone()));
        let mut stopping = state.stopping.clone();
        tokio::spawn(async move {
            let stop = async move {
                let _ = stopping.wait_for(|s| *s).await;
            };
            if let Err(e) = serve(listener, tls, app, stop).await {
                tracing::error!(error = %e, "OTLP/gRPC server stopped with an error");
            }
        })
    });
    let server = match door {
        Door::Direct(listener, stop) => tokio::spawn(serve(listener, tls, app, stop)),
        Door::Front(front, server) => {
            front.serve(app);
            server
        }
    };
    let task = tokio::spawn(async move {
        match server.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "hub server stopped with an error"),
            Err(e) => tracing::error!(error = %e, "hub server failed"),
        }
        if let Some(t) = grpc_task {
            let _ = t.await;
        }
        ticker.abort();
        deliveries.abort();
        if let Some(p) = pager {
            p.abort();
        }
    });
    Ok(RunningHub {
        addr,
        grpc_addr,
        core,
        tls: serves_tls,
        state: state.clone(),
        shutdown: Some(shutdown_tx),
        task,
        lease,
    })
}

/// What ends the listener's server: the hub stopping.
type Stop = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

/// How the listener is served: by the hub's router once it is built (a
/// SQLite hub), or by a front door already serving while the replica
/// stood by (PostgreSQL), which takes the router once it is built.
enum Door {
    Direct(tokio::net::TcpListener, Stop),
    Front(forward::Front, tokio::task::JoinHandle<std::io::Result<()>>),
}

/// The hub's listener, bound, with what ends its server.
struct Opened {
    listener: tokio::net::TcpListener,
    tls: Option<Arc<tokio_rustls::rustls::ServerConfig>>,
    stop: Stop,
    /// Turns true as the hub stops, ending its streams.
    stopping: tokio::sync::watch::Receiver<bool>,
    scheme: &'static str,
}

/// On PostgreSQL: serves the listener with a front door that forwards to
/// the replica serving, and waits for the `hub` lease (see `pg::active`).
async fn stand_by(
    url: &str,
    advertise: Option<&str>,
    max_body_bytes: usize,
    opened: Opened,
    away: DatabaseAway,
) -> anyhow::Result<(Door, pg::active::Active)> {
    let Opened {
        listener,
        tls,
        stop,
        stopping,
        scheme,
    } = opened;
    let target = pg::PgTarget::parse(url)?;
    let addr = listener.local_addr()?;
    let advertise = advertise.map_or_else(|| format!("{scheme}://{addr}"), str::to_string);
    let front = forward::Front::new(target.clone(), advertise.clone(), max_body_bytes, stopping)?;
    let server = tokio::spawn(serve(listener, tls, front.clone().router(), stop));
    let holder = pg::active::holder_name(addr);
    let lease = pg::active::take_lease(&target, &holder, &advertise, away).await?;
    Ok((Door::Front(front, server), lease))
}

/// Warns when an SLO window is longer than the journal keeps events: after
/// a restart that SLO is computed over the events kept, not its window.
fn warn_short_retention(specs: &[SloSpec], retain: std::time::Duration) {
    let days = retain.as_secs() / 86_400;
    for spec in specs.iter().filter(|s| u64::from(s.window_days) > days) {
        tracing::warn!(
            slo = %spec.name,
            window_days = spec.window_days,
            retained_days = days,
            "this SLO's window is longer than --retain-events; after a restart it covers only the events kept"
        );
    }
}

/// Binds the OTLP/gRPC address, if one is set; a busy default address
/// only warns, since gRPC is also served on the main port.
async fn bind_grpc(otlp: &OtlpConfig) -> anyhow::Result<Option<tokio::net::TcpListener>> {
    let Some(addr) = otlp.grpc_listen else {
        return Ok(None);
    };
    match tokio::net::TcpListener::bind(addr).await {
        Ok(l) => Ok(Some(l)),
        Err(e) if otlp.grpc_listen_optional => {
            tracing::warn!(%addr, error = %e, "OTLP/gRPC is not served on its own port (exporters still reach it on the hub's port); set --otlp-grpc-listen ADDR or off");
            Ok(None)
        }
        Err(e) => Err(anyhow::anyhow!(
            "cannot listen on {addr} (--otlp-grpc-listen): {e}"
        )),
    }
}

/// Serves `app` on `listener` (with TLS when given) until `stop`.
async fn serve(
    listener: tokio::net::TcpListener,
    tls: Option<Arc<tokio_rustls::rustls::ServerConfig>>,
    app: axum::Router,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    match tls {
        None => {
            // Stream writes are small and latency matters: no Nagle delay.
            let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
                let _ = tcp.set_nodelay(true);
            });
            axum::serve(listener, app)
                .with_graceful_shutdown(stop)
                .await
        }
        Some(tls) => {
            axum::serve(tls::TlsListener::new(listener, tls), app)
                .with_graceful_shutdown(stop)
                .await
        }
    }
}

async fn tick_loop(state: AppState) {
    let mut interval = tokio::time::interval(TICK);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut last_prune = Utc::now();
    let mut refused = Refusals::default();
    loop {
        interval.tick().await;
        let prune = (Utc::now() - last_prune).num_seconds() >= 3600;
        if prune {
            last_prune = Utc::now();
        }
        let result = state
            .with_core(move |core| {
                let now = Utc::now();
                if prune {
                    core.prune(now);
                }
                core.expire_traces(now)?;
                core.tick(now)
            })
            .await;
        match result {
            Ok(Ok(())) => refused.ended(),
            Ok(Err(e)) => refused.note(&e),
            Err(e) => tracing::error!(error = ?e, "tick failed"),
        }
    }
}

/// Ticks the store refused in a row. The first is logged at once, then
/// one line every [`Refusals::EVERY`] with the count: a database away for
/// minutes must not bury the rest of the log under two lines a second.
#[derive(Default)]
struct Refusals {
    since: Option<std::time::Instant>,
    count: u64,
    told: Option<std::time::Instant>,
}

impl Refusals {
    const EVERY: Duration = Duration::from_secs(30);

    fn note(&mut self, e: &store::StoreError) {
        let now = std::time::Instant::now();
        self.count += 1;
        let since = *self.since.get_or_insert(now);
        if self.told.is_none_or(|t| now - t >= Self::EVERY) {
            self.told = Some(now);
            tracing::warn!(
                error = %e,
                refused = self.count,
                for_s = (now - since).as_secs(),
                "tick could not be stored; retrying every tick"
            );
        }
    }

    fn ended(&mut self) {
        if let Some(since) = self.since.take() {
            tracing::info!(
                refused = self.count,
                for_s = since.elapsed().as_secs(),
                "ticks are stored again"
            );
        }
        *self = Self::default();
    }
}

/// Locks a core for inspection (tests, the demo).
pub fn lock(core: &Arc<Mutex<Core>>) -> std::sync::MutexGuard<'_, Core> {
    core.lock().unwrap_or_else(PoisonError::into_inner)
}
