//! The hub's store on PostgreSQL, for several hub replicas over one
//! database: where to connect (`--db postgres://…`), the schema and its
//! migrations.
//!
//! The driver is `tokio-postgres`: asynchronous, maintained with the
//! synchronous `postgres` crate by the same people, speaks `LISTEN/NOTIFY`
//! (how replicas hear of each other's writes) and adds no query macros or
//! build-time database, which `sqlx` would.

pub mod active;
pub mod follow;
mod journal;
pub mod lease;
pub mod log;
pub mod pgpass;
mod reads;
pub mod schema;
mod store;
pub mod tls;
mod write;

pub use store::PgStore;

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio_postgres::config::Host;
use tokio_postgres::{Client, Config, Socket};

use crate::hub::store::StoreError;
use tls::{PgTlsStream, SslMode};

/// A connection's I/O half, as [`PgTarget::connect_raw`] returns it.
pub type Connection = tokio_postgres::Connection<Socket, PgTlsStream>;

/// How long a connection attempt may take before it counts as failed.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The server ends a session of ours that sits inside a transaction this
/// long without a word: a hub cut off mid-transaction must not keep the
/// lease row locked (see `active`) until the server's TCP timeout.
const IDLE_IN_TRANSACTION_MS: u32 = 5_000;

/// Whether a `--db` value names a PostgreSQL database rather than a
/// SQLite file: a `postgres://` or `postgresql://` URL.
pub fn is_url(db: &Path) -> bool {
    db.to_str()
        .is_some_and(|s| s.starts_with("postgres://") || s.starts_with("postgresql://"))
}

/// A PostgreSQL database to connect to, from a `--db` URL, with libpq's
/// defaults filled in: the user from `PGUSER` or the login name, the
/// database named after the user, the password from the URL, `PGPASSWORD`
/// or the password file (see [`pgpass`]); TLS as `sslmode` asks (see
/// [`tls`]).
#[derive(Clone)]
pub struct PgTarget {
    config: Config,
    ssl_mode: SslMode,
    ssl_root: Option<PathBuf>,
    /// `user@host:port/database`, for messages: never the password.
    shown: String,
}

impl std::fmt::Debug for PgTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PgTarget({})", self.shown)
    }
}

/// `host:port` of every server `config` names, comma-separated (one port
/// given applies to every host, as in libpq).
fn servers(config: &Config) -> String {
    let ports = config.get_ports();
    config
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(i, host)| {
            let port = ports.get(i).or(ports.first()).copied().unwrap_or(5432);
            match host {
                Host::Tcp(name) => format!("{name}:{port}"),
                Host::Unix(dir) => format!("{}:{port}", dir.display()),
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

impl PgTarget {
    /// Parses a `postgres://` URL; the error names what is wrong without
    /// repeating the URL (it may hold a password).
    pub fn parse(url: &str) -> Result<Self, StoreError> {
        let (url, ssl_mode, ssl_root) = tls::split_url(url)?;
        let mut config: Config = url
            .parse()
            .map_err(|e| StoreError(format!("the --db PostgreSQL URL: {e}")))?;
        if config.get_hosts().is_empty() {
            config.host("localhost");
        }
        if config.get_user().is_none() {
            let user = ["PGUSER", "USER", "LOGNAME"]
                .iter()
                .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
                .ok_or_else(|| {
                    StoreError(
                        "the --db PostgreSQL URL names no user, and neither PGUSER nor USER is set"
                            .into(),
                    )
                })?;
            config.user(user);
        }
        let user = config.get_user().unwrap_or_default().to_string();
        if config.get_dbname().is_none() {
            config.dbname(user.clone());
        }
        let host = match &config.get_hosts()[0] {
            Host::Tcp(name) => name.clone(),
            Host::Unix(dir) => dir.display().to_string(),
        };
        let port = config.get_ports().first().copied().unwrap_or(5432);
        let database = config.get_dbname().unwrap_or_default().to_string();
        if config.get_password().is_none() {
            let from_env = std::env::var("PGPASSWORD").ok().filter(|p| !p.is_empty());
            let from_file = || {
                // libpq matches a socket directory as "localhost".
                let pgpass_host = match &config.get_hosts()[0] {
                    Host::Tcp(_) => host.as_str(),
                    Host::Unix(_) => "localhost",
                };
                let lookup = pgpass::Lookup {
                    host: pgpass_host,
                    port,
                    database: &database,
                    user: &user,
                };
                pgpass::path().and_then(|path| pgpass::read(&path, lookup))
            };
            if let Some(password) = from_env.or_else(from_file) {
                config.password(password);
            }
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        // A peer gone without a word (a split, a dead machine) is noticed
        // in seconds rather than the system's two hours.
        config
            .keepalives_idle(Duration::from_secs(5))
            .keepalives_interval(Duration::from_secs(2))
            .keepalives_retries(3);
        let session = format!("-c idle_in_transaction_session_timeout={IDLE_IN_TRANSACTION_MS}");
        let options = match config.get_options() {
            Some(given) => format!("{given} {session}"),
            None => session,
        };
        config.options(options);
        config.application_name("agentdeck");
        config.ssl_mode(ssl_mode.driver_mode());
        let shown = format!("{user}@{}/{database}", servers(&config));
        Ok(Self {
            config,
            ssl_mode,
            ssl_root,
            shown,
        })
    }

    /// `user@host:port/database` (every `host:port`, comma-separated, when
    /// the URL names several servers).
    pub fn shown(&self) -> &str {
        &self.shown
    }

    /// Opens one connection; its I/O runs on a task of the current
    /// runtime until the client is dropped.
    pub async fn connect(&self) -> Result<Client, StoreError> {
        let (client, connection) = self.connect_raw().await?;
        let shown = self.shown.clone();
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::warn!("PostgreSQL connection to {shown} ended: {e}");
            }
        });
        Ok(client)
    }

    /// Opens one connection and leaves driving it to the caller (a
    /// listener reads its notifications).
    pub async fn connect_raw(&self) -> Result<(Client, Connection), StoreError> {
        let tls = tls::connector(self.ssl_mode, self.ssl_root.as_deref())
            .map_err(|e| StoreError(format!("{}: {}", self.shown, e.0)))?;
        // The driver's connect_timeout bounds reaching the server, not the
        // handshake after it; a server that accepted and then went silent
        // (a split behind a proxy) must fail the attempt too.
        match tokio::time::timeout(CONNECT_TIMEOUT, self.config.connect(tls)).await {
            Ok(connected) => connected
                .map_err(|e| StoreError(format!("{}: {}", self.shown, schema::pg_error(e).0))),
            Err(_) => Err(StoreError(format!(
                "{}: PostgreSQL did not complete the connection within {CONNECT_TIMEOUT:?}",
                self.shown
            ))),
        }
    }

    /// Connects and brings the schema to this binary's version; returns
    /// the version the database was at.
    pub async fn open(&self) -> Result<(Client, usize), StoreError> {
        let mut client = self.connect().await?;
        let was = schema::migrate(&mut client)
            .await
            .map_err(|e| StoreError(format!("{}: {}", self.shown, e.0)))?;
        Ok((client, was))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_target_names_its_servers_and_never_the_password() {
        let one = PgTarget::parse("postgres://ann:secret@db1:5433/deck").unwrap();
        assert_eq!(one.shown(), "ann@db1:5433/deck");
        let two = PgTarget::parse(
            "postgres://ann:secret@db1:5433,db2:5434/deck?target_session_attrs=read-write",
        )
        .unwrap();
        assert_eq!(two.shown(), "ann@db1:5433,db2:5434/deck");
        let shared_port = PgTarget::parse("postgres://ann:secret@db1,db2:6000/deck").unwrap();
        assert!(!shared_port.shown().contains("secret"));
        assert_eq!(shared_port.config.get_hosts().len(), 2);
    }
}
