//! `agentdeck backup`: a consistent copy of a hub's database, taken while
//! the hub runs, with SQLite's online backup (pages copied in steps, so
//! the hub's writes wait at most one step), then checked.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use super::{Store, StoreError, create_private};

/// Pages copied per step of the backup.
const PAGES_PER_STEP: i32 = 1024;
/// Pause between steps, so the hub's writes get the lock in between.
const STEP_PAUSE: Duration = Duration::from_millis(5);

/// What a finished backup holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackedUp {
    /// Journalled events.
    pub events: u64,
    /// Audit entries.
    pub audit_entries: u64,
    /// Incidents, approvals and controls.
    pub objects: u64,
    /// Size of the copy, bytes.
    pub bytes: u64,
}

/// Copies the database at `from` to a new file `to` (refused if it exists:
/// a backup never overwrites), created readable by its owner only, and
/// checks the copy: SQLite's integrity check and every journal block read.
pub fn backup(from: &Path, to: &Path) -> Result<BackedUp, StoreError> {
    if !from.exists() {
        return Err(StoreError(format!("no database at {}", from.display())));
    }
    if to.exists() {
        return Err(StoreError(format!(
            "{} exists; a backup never overwrites a file: choose a new name",
            to.display()
        )));
    }
    let source = Connection::open_with_flags(from, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|e| StoreError(format!("cannot open {}: {e}", from.display())))?;
    source.busy_timeout(Duration::from_secs(5))?;
    create_private(to).map_err(|e| StoreError(format!("cannot create {}: {e}", to.display())))?;
    let copied = copy(&source, to);
    if let Err(e) = copied {
        let _ = std::fs::remove_file(to);
        return Err(e);
    }
    check(to)
}

fn copy(source: &Connection, to: &Path) -> Result<(), StoreError> {
    let mut target = Connection::open(to)
        .map_err(|e| StoreError(format!("cannot open {}: {e}", to.display())))?;
    let backup = rusqlite::backup::Backup::new(source, &mut target)?;
    backup.run_to_completion(PAGES_PER_STEP, STEP_PAUSE, None)?;
    drop(backup);
    // A single file to carry away: no WAL beside it.
    target.pragma_update(None, "journal_mode", "DELETE")?;
    Ok(())
}

/// Reads the copy back: integrity, the journal, the counts.
fn check(path: &Path) -> Result<BackedUp, StoreError> {
    let store = Store::open_read_only(path)?;
    let integrity: String = store
        .conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
    if integrity != "ok" {
        return Err(StoreError(format!(
            "the copy at {} fails SQLite's integrity check: {integrity}",
            path.display()
        )));
    }
    let events = store.for_each_event(0, |_| {})?;
    let count = |table: &str| -> Result<u64, StoreError> {
        let n: i64 = store
            .conn
            .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))?;
        Ok(u64::try_from(n).unwrap_or(0))
    };
    Ok(BackedUp {
        events,
        audit_entries: count("audit")?,
        objects: count("incidents")? + count("approvals")? + count("controls")?,
        bytes: std::fs::metadata(path).map(|m| m.len()).unwrap_or(0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::store::{Batch, Block};

    #[test]
    fn a_backup_holds_the_journal_and_never_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        let (db, copy) = (dir.path().join("hub.db"), dir.path().join("copy.db"));
        let mut store = Store::open(&db).unwrap();
        let lines: Vec<String> = (0..300)
            .map(|i| format!(r#"{{"v":1,"type":"heartbeat","agent":"a","ts":"2026-12-04T09:00:00Z","id":"{i}"}}"#))
            .collect();
        let journal = Block::pack(lines.iter().map(|l| (1, l.as_str()))).unwrap();
        store
            .write(&Batch {
                journal,
                ..Batch::default()
            })
            .unwrap();
        let done = backup(&db, &copy).unwrap();
        assert_eq!((done.events, done.audit_entries, done.objects), (300, 0, 0));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&copy).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let mut read = Vec::new();
        Store::open_read_only(&copy)
            .unwrap()
            .for_each_event(0, |l| read.push(l.to_string()))
            .unwrap();
        assert_eq!(read, lines);
        let again = backup(&db, &copy).unwrap_err();
        assert!(again.0.contains("never overwrites"), "{again}");
        let missing = backup(&dir.path().join("none.db"), &dir.path().join("x.db")).unwrap_err();
        assert!(missing.0.contains("no database at"), "{missing}");
    }
}
