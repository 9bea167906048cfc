//! The hub's schema on PostgreSQL, in versioned migrations run at start.
//!
//! The tables hold what SQLite's hold (see `hub::store`), in PostgreSQL's
//! types, plus what several replicas share: `log`, the one ordered log of
//! stream deltas whose ids every replica serves, `log_head`, the row that
//! hands out its ids, and `leases`, who holds the derived state and the
//! timers.
//!
//! Migrations run in one transaction under an advisory lock, so replicas
//! started together migrate once; a database whose version is newer than
//! this binary's is refused before anything is read.

use tokio_postgres::Client;

use crate::hub::store::StoreError;

/// Key of the transaction-level advisory lock migrations hold ("agentdk"
/// then 1): replicas starting together wait for each other.
const MIGRATION_LOCK: i64 = 0x6167_656e_7464_6b01;

/// Migrations, applied in order; `schema_version.version` records how many
/// have run.
pub const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE journal (id BIGINT PRIMARY KEY, first_id BIGINT, oldest_ts BIGINT NOT NULL, newest_ts BIGINT NOT NULL, events BIGINT NOT NULL, bytes BIGINT NOT NULL, body BYTEA NOT NULL);
CREATE INDEX journal_newest_ts ON journal (newest_ts);
CREATE SEQUENCE journal_ids;
CREATE TABLE engine_snapshots (id BIGSERIAL PRIMARY KEY, journal_id BIGINT NOT NULL, taken_at BIGINT NOT NULL, bytes BIGINT NOT NULL, body BYTEA NOT NULL);
CREATE TABLE incidents (id TEXT PRIMARY KEY, state TEXT NOT NULL, updated_at TEXT NOT NULL, body TEXT NOT NULL, closed_us BIGINT, search TEXT, agent TEXT);
CREATE INDEX incidents_history ON incidents (closed_us, id) WHERE closed_us IS NOT NULL;
CREATE TABLE approvals (id TEXT PRIMARY KEY, agent TEXT NOT NULL, request_id TEXT NOT NULL, state TEXT NOT NULL, body TEXT NOT NULL, closed_us BIGINT, search TEXT, UNIQUE (agent, request_id));
CREATE INDEX approvals_history ON approvals (closed_us, id) WHERE closed_us IS NOT NULL;
CREATE TABLE controls (id TEXT PRIMARY KEY, agent TEXT NOT NULL, state TEXT NOT NULL, body TEXT NOT NULL, closed_us BIGINT, search TEXT);
CREATE INDEX controls_history ON controls (closed_us, id) WHERE closed_us IS NOT NULL;
CREATE TABLE audit (seq BIGINT PRIMARY KEY, ts TEXT NOT NULL, actor TEXT NOT NULL, role TEXT, action TEXT NOT NULL, subject TEXT NOT NULL, details TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL, agent TEXT);
CREATE INDEX audit_actor ON audit (actor, seq);
CREATE INDEX audit_agent ON audit (agent, seq) WHERE agent IS NOT NULL;
CREATE TABLE idempotency (principal TEXT NOT NULL, key TEXT NOT NULL, fingerprint TEXT NOT NULL, status INTEGER NOT NULL, body TEXT NOT NULL, created_at BIGINT NOT NULL, PRIMARY KEY (principal, key));
CREATE TABLE callbacks (agent TEXT PRIMARY KEY, url TEXT NOT NULL, secret TEXT NOT NULL, updated_at TEXT NOT NULL);
CREATE TABLE handoff_notes (id BIGSERIAL PRIMARY KEY, at TEXT NOT NULL, by TEXT NOT NULL, text TEXT NOT NULL);
CREATE TABLE agent_profiles (agent TEXT PRIMARY KEY, body TEXT NOT NULL, updated_at TEXT NOT NULL);
CREATE TABLE otlp_waiting (sender TEXT NOT NULL, trace_id TEXT NOT NULL, first_seen_ms BIGINT NOT NULL, principal TEXT NOT NULL, spans TEXT NOT NULL, PRIMARY KEY (sender, trace_id));
CREATE TABLE notices (id BIGSERIAL PRIMARY KEY, receiver TEXT NOT NULL, grp TEXT NOT NULL, event TEXT NOT NULL, subject TEXT NOT NULL, page_key TEXT, body TEXT NOT NULL, created_ms BIGINT NOT NULL, due_ms BIGINT NOT NULL, attempts INTEGER NOT NULL, next_ms BIGINT NOT NULL, state TEXT NOT NULL, last_error TEXT, done_ms BIGINT);
CREATE INDEX notices_state ON notices (state, created_ms);
CREATE TABLE log (id BIGINT PRIMARY KEY, at_us BIGINT NOT NULL, body TEXT NOT NULL);
CREATE TABLE log_head (one BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (one), next_id BIGINT NOT NULL);
INSERT INTO log_head (next_id) VALUES (1);
CREATE TABLE leases (name TEXT PRIMARY KEY, holder TEXT NOT NULL, epoch BIGINT NOT NULL, expires_us BIGINT NOT NULL);
"#,
    // Where the holder of a lease is reached: standbys forward to the
    // serving replica's address.
    r#"
ALTER TABLE leases ADD COLUMN address TEXT;
"#,
    // The stream log carries each delta's SSE event beside its data.
    r#"
ALTER TABLE log ADD COLUMN event TEXT NOT NULL DEFAULT '';
"#,
];

/// Brings the database at `client` to [`MIGRATIONS`]' version and returns
/// the version it was at, or refuses a database newer than this binary.
pub async fn migrate(client: &mut Client) -> Result<usize, StoreError> {
    let tx = client.transaction().await.map_err(pg_error)?;
    // `CREATE … IF NOT EXISTS` on a migrated database is not news.
    tx.batch_execute("SET LOCAL client_min_messages = warning")
        .await
        .map_err(pg_error)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(pg_error)?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_version (one BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (one), version INTEGER NOT NULL)",
    )
    .await
    .map_err(pg_error)?;
    let found: i32 = tx
        .query_opt("SELECT version FROM schema_version", &[])
        .await
        .map_err(pg_error)?
        .map_or(0, |row| row.get(0));
    let found = usize::try_from(found).unwrap_or(0);
    if found > MIGRATIONS.len() {
        return Err(StoreError(format!(
            "the PostgreSQL database has schema version {found}, newer than this agentdeck knows ({}); upgrade agentdeck",
            MIGRATIONS.len()
        )));
    }
    for sql in &MIGRATIONS[found..] {
        tx.batch_execute(sql).await.map_err(pg_error)?;
    }
    let version = i32::try_from(MIGRATIONS.len()).unwrap_or(i32::MAX);
    tx.execute(
        "INSERT INTO schema_version (version) VALUES ($1) ON CONFLICT (one) DO UPDATE SET version = excluded.version",
        &[&version],
    )
    .await
    .map_err(pg_error)?;
    tx.commit().await.map_err(pg_error)?;
    Ok(found)
}

/// The version recorded in the database (0 when never migrated).
pub async fn version(client: &Client) -> Result<usize, StoreError> {
    let exists: bool = client
        .query_one("SELECT to_regclass('schema_version') IS NOT NULL", &[])
        .await
        .map_err(pg_error)?
        .get(0);
    if !exists {
        return Ok(0);
    }
    let found: Option<i32> = client
        .query_opt("SELECT version FROM schema_version", &[])
        .await
        .map_err(pg_error)?
        .map(|row| row.get(0));
    Ok(found.map_or(0, |v| usize::try_from(v).unwrap_or(0)))
}

/// A driver error as a store error, with the server's message when there
/// is one (the driver's own text says only "db error").
pub fn pg_error(e: tokio_postgres::Error) -> StoreError {
    match e.as_db_error() {
        Some(db) => StoreError(format!("PostgreSQL: {}: {}", db.severity(), db.message())),
        // The driver's text names the kind ("invalid configuration"), its
        // source what is wrong ("password missing").
        None => {
            let mut text = format!("PostgreSQL: {e}");
            let mut source = std::error::Error::source(&e);
            while let Some(cause) = source {
                text.push_str(&format!(": {cause}"));
                source = cause.source();
            }
            StoreError(text)
        }
    }
}

impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> Self {
        pg_error(e)
    }
}
