//! `agentdeck db migrate` and `agentdeck db status`: the hub's schema,
//! brought up to this binary's version ahead of starting hubs (the way to
//! upgrade replicas that share one PostgreSQL database), or only reported.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::hub::default_db_path;
use crate::hub::pg::{self, PgTarget};
use crate::hub::store::{MIGRATIONS, Store, StoreError};

use super::{fail, runtime};

/// Where a `--db` value points, said once for every message.
enum Target {
    Sqlite(PathBuf),
    Postgres(Box<PgTarget>),
}

impl Target {
    fn from_flag(db: Option<PathBuf>) -> Result<Self, String> {
        let db = db
            .or_else(default_db_path)
            .ok_or("no data directory on this machine; give --db PATH or --db postgres://…")?;
        if pg::is_url(&db) {
            let url = db.to_str().unwrap_or_default();
            return PgTarget::parse(url)
                .map(|t| Self::Postgres(Box::new(t)))
                .map_err(|e| e.0);
        }
        Ok(Self::Sqlite(db))
    }

    fn shown(&self) -> String {
        match self {
            Self::Sqlite(path) => path.display().to_string(),
            Self::Postgres(target) => format!("postgres://{}", target.shown()),
        }
    }
}

/// `agentdeck db migrate [--db …]`.
pub fn migrate(db: Option<PathBuf>) -> ExitCode {
    let target = match Target::from_flag(db) {
        Ok(t) => t,
        Err(e) => return fail(e),
    };
    let was = match &target {
        Target::Sqlite(path) => migrate_sqlite(path),
        Target::Postgres(pg) => match runtime() {
            Ok(rt) => rt.block_on(async { pg.open().await.map(|(_, was)| was) }),
            Err(code) => return code,
        },
    };
    match was {
        Ok(was) if was == latest_version(&target) => {
            println!("{}: schema at version {was}, nothing to do", target.shown());
            ExitCode::SUCCESS
        }
        Ok(was) => {
            let now = latest_version(&target);
            println!(
                "{}: schema migrated from version {was} to {now}",
                target.shown()
            );
            ExitCode::SUCCESS
        }
        Err(e) => fail(e),
    }
}

/// `agentdeck db status [--db …]`: exits 0 when the schema is this
/// binary's, 1 when it is older (migrate) or newer (upgrade agentdeck).
pub fn status(db: Option<PathBuf>) -> ExitCode {
    let target = match Target::from_flag(db) {
        Ok(t) => t,
        Err(e) => return fail(e),
    };
    let found = match &target {
        Target::Sqlite(path) => Store::schema_version(path),
        Target::Postgres(pg) => match runtime() {
            Ok(rt) => rt.block_on(async {
                let client = pg.connect().await?;
                pg::schema::version(&client).await
            }),
            Err(code) => return code,
        },
    };
    let found = match found {
        Ok(v) => v,
        Err(e) => return fail(e),
    };
    let latest = latest_version(&target);
    let verdict = match found.cmp(&latest) {
        std::cmp::Ordering::Equal => "current",
        std::cmp::Ordering::Less => "older than this agentdeck: run `agentdeck db migrate`",
        std::cmp::Ordering::Greater => "newer than this agentdeck: upgrade agentdeck",
    };
    println!(
        "{}: schema version {found}, this agentdeck writes {latest}: {verdict}",
        target.shown()
    );
    if found == latest {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn migrate_sqlite(path: &Path) -> Result<usize, StoreError> {
    let was = if path.exists() {
        Store::schema_version(path)?
    } else {
        0
    };
    Store::open(path)?;
    Ok(was)
}

fn latest_version(target: &Target) -> usize {
    match target {
        Target::Sqlite(_) => MIGRATIONS.len(),
        Target::Postgres(_) => pg::schema::MIGRATIONS.len(),
    }
}
