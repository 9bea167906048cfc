//! `agentdeck audit verify` against a real hub database that someone
//! edited by hand: an altered entry, a deleted one and two swapped ones are
//! each named, and an untouched copy verifies.

mod support;

use std::path::Path;
use std::process::Command;

use chrono::{Duration as Span, Utc};
use serde_json::json;

/// Runs `agentdeck audit verify --db PATH`: (exit code, stdout).
fn verify(db: &Path) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_agentdeck"))
        .args(["audit", "verify", "--db"])
        .arg(db)
        .output()
        .expect("run agentdeck");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// A copy of `db` changed by `sql`.
fn tampered(dir: &Path, db: &Path, name: &str, sql: &str) -> std::path::PathBuf {
    let copy = dir.join(format!("{name}.db"));
    std::fs::copy(db, &copy).expect("copy the database");
    let conn = rusqlite::Connection::open(&copy).expect("open the copy");
    conn.execute_batch(sql).expect("tamper");
    drop(conn);
    copy
}

#[tokio::test]
async fn edited_deleted_and_reordered_entries_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("hub.db");
    {
        let hub = support::start_with(support::Options {
            db: Some(db.clone()),
            ..support::Options::default()
        })
        .await;
        let now = Utc::now();
        let (status, _) = hub
            .post_events(
                "agent",
                support::approval_line("refund-bot", "q-1", now, now + Span::minutes(10)),
            )
            .await;
        assert_eq!(status, 200);
        for i in 0..4 {
            let (status, answer) = hub
                .post(
                    "responder",
                    "/v1/incidents",
                    json!({"title": format!("incident {i}"), "severity": "SEV3", "category": "other"}),
                    None,
                )
                .await;
            assert_eq!(status, 201, "{answer}");
        }
        hub.hub.stop().await;
    }
    // WAL contents are checkpointed into the file when the hub closes; the
    // copies below are whole.
    let (code, out) = verify(&db);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("audit log intact: 5 entries"), "{out}");

    let edited = tampered(
        dir.path(),
        &db,
        "edited",
        "UPDATE audit SET actor = 'mallory' WHERE seq = 3;",
    );
    let (code, out) = verify(&edited);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("BROKEN") && out.contains('3'), "{out}");
    assert!(out.contains("entries 1 to 2 verify"), "{out}");

    let deleted = tampered(
        dir.path(),
        &db,
        "deleted",
        "DELETE FROM audit WHERE seq = 2;",
    );
    let (code, out) = verify(&deleted);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("entries 1 to 1 verify"), "{out}");

    let reordered = tampered(
        dir.path(),
        &db,
        "reordered",
        "UPDATE audit SET seq = -4 WHERE seq = 4;
         UPDATE audit SET seq = 4 WHERE seq = 5;
         UPDATE audit SET seq = 5 WHERE seq = -4;",
    );
    let (code, out) = verify(&reordered);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("entries 1 to 3 verify"), "{out}");
}
