//! The store's conformance suite: the same operations against both
//! backends, SQLite (a file in a temporary directory) and PostgreSQL (a
//! throwaway server on loopback, see `support::postgres`), through the
//! real binary where an operator would use it.
//!
//! Here: the schema, the log, leases and connections; every other store
//! operation is compared across backends in `store_backends.rs`. A new
//! database is migrated to this binary's version
//! once, a second migration does nothing, a database newer than the binary
//! is refused before anything is read, `db status` tells which, and the
//! PostgreSQL password comes from the URL, `PGPASSWORD` or a private
//! password file, as libpq's users expect.

mod support;

use std::path::Path;
use std::process::{Command, Output};

use agentdeck::hub::pg::{PgTarget, lease, log};
use agentdeck::hub::store::LogFrame;
use support::postgres::{PASSWORD, PgServer};

/// Runs `f` to completion on a runtime of four workers (the log's
/// writers run on them at once).
fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

fn agentdeck(args: &[&str], envs: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_agentdeck"))
        .args(args)
        .env_remove("PGPASSWORD")
        .env_remove("PGPASSFILE")
        .envs(envs.iter().copied())
        .env("AGENTDECK_LOG", "warn")
        .output()
        .expect("agentdeck runs")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `db status`, `db migrate` twice, `db status` again, against `db`; then
/// `make_newer` sets the schema version past this binary's and both
/// commands must refuse it, naming the versions.
fn migrate_once_and_refuse_newer(db: &str, envs: &[(&str, &str)], make_newer: impl FnOnce()) {
    let status = agentdeck(&["db", "status", "--db", db], envs);
    assert_eq!(status.status.code(), Some(1), "{}", text(&status));
    assert!(
        text(&status).contains("schema version 0")
            && text(&status).contains("run `agentdeck db migrate`"),
        "{}",
        text(&status)
    );

    let first = agentdeck(&["db", "migrate", "--db", db], envs);
    assert!(first.status.success(), "{}", text(&first));
    assert!(
        text(&first).contains("schema migrated from version 0 to"),
        "{}",
        text(&first)
    );
    let again = agentdeck(&["db", "migrate", "--db", db], envs);
    assert!(again.status.success(), "{}", text(&again));
    assert!(text(&again).contains("nothing to do"), "{}", text(&again));

    let status = agentdeck(&["db", "status", "--db", db], envs);
    assert!(status.status.success(), "{}", text(&status));
    assert!(text(&status).contains(": current"), "{}", text(&status));

    make_newer();
    let status = agentdeck(&["db", "status", "--db", db], envs);
    assert_eq!(status.status.code(), Some(1), "{}", text(&status));
    assert!(
        text(&status).contains("schema version 999") && text(&status).contains("upgrade agentdeck"),
        "{}",
        text(&status)
    );
    let refused = agentdeck(&["db", "migrate", "--db", db], envs);
    assert_eq!(refused.status.code(), Some(2), "{}", text(&refused));
    assert!(
        text(&refused).contains("schema version 999, newer than this agentdeck knows"),
        "{}",
        text(&refused)
    );
}

#[test]
fn sqlite_migrates_once_and_refuses_a_newer_schema() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hub.db");
    // An empty file is an empty SQLite database, at version 0.
    std::fs::write(&path, b"").unwrap();
    let db = path.to_str().unwrap().to_string();
    migrate_once_and_refuse_newer(&db, &[], || set_sqlite_version(&path, 999));
}

fn set_sqlite_version(path: &Path, version: i64) {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.pragma_update(None, "user_version", version).unwrap();
}

#[test]
fn postgres_migrates_once_and_refuses_a_newer_schema() {
    let Some(server) = PgServer::start() else {
        return;
    };
    let db = server.create_database("conformance_schema");
    migrate_once_and_refuse_newer(&db, &[], || {
        run_sql(&db, "UPDATE schema_version SET version = 999");
    });
}

/// Runs `sql` on `url` with the driver the hub uses.
fn run_sql(url: &str, sql: &str) {
    block_on(async {
        let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(connection);
        client.batch_execute(sql).await.unwrap();
    });
}

#[test]
fn postgres_replicas_starting_together_migrate_once() {
    let Some(server) = PgServer::start() else {
        return;
    };
    let db = server.create_database("conformance_together");
    let runs: Vec<_> = (0..4)
        .map(|_| {
            let db = db.clone();
            std::thread::spawn(move || agentdeck(&["db", "migrate", "--db", &db], &[]))
        })
        .collect();
    let outputs: Vec<Output> = runs.into_iter().map(|r| r.join().unwrap()).collect();
    for out in &outputs {
        assert!(out.status.success(), "{}", text(out));
    }
    let migrated = outputs
        .iter()
        .filter(|out| text(out).contains("schema migrated from version 0"))
        .count();
    assert_eq!(
        migrated, 1,
        "one of four migrates, the others wait and find it done"
    );
}

#[test]
fn postgres_password_from_pgpassword_or_a_private_password_file() {
    let Some(server) = PgServer::start() else {
        return;
    };
    server.create_database("conformance_auth");
    let bare = server.url_without_password("conformance_auth");
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-file");
    let missing = missing.to_str().unwrap();

    let without = agentdeck(
        &["db", "migrate", "--db", &bare],
        &[("PGPASSFILE", missing)],
    );
    assert_eq!(without.status.code(), Some(2), "{}", text(&without));
    assert!(text(&without).contains("password"), "{}", text(&without));
    assert!(
        text(&without).contains(&format!(
            "agentdeck@127.0.0.1:{}/conformance_auth",
            server.port()
        )),
        "the failure names the database, not the URL: {}",
        text(&without)
    );

    let wrong = agentdeck(
        &["db", "migrate", "--db", &bare],
        &[("PGPASSWORD", "not-it"), ("PGPASSFILE", missing)],
    );
    assert_eq!(wrong.status.code(), Some(2), "{}", text(&wrong));
    assert!(
        text(&wrong).contains("password authentication failed"),
        "{}",
        text(&wrong)
    );
    assert!(
        !text(&wrong).contains("not-it"),
        "never the password: {}",
        text(&wrong)
    );

    let from_env = agentdeck(
        &["db", "status", "--db", &bare],
        &[("PGPASSWORD", PASSWORD), ("PGPASSFILE", missing)],
    );
    assert_eq!(
        from_env.status.code(),
        Some(1),
        "connected: {}",
        text(&from_env)
    );

    let pgpass = dir.path().join("pgpass");
    std::fs::write(
        &pgpass,
        format!(
            "# for the test\n127.0.0.1:{}:conformance_auth:agentdeck:{PASSWORD}\n",
            server.port()
        ),
    )
    .unwrap();
    let pgpass_str = pgpass.to_str().unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&pgpass, std::fs::Permissions::from_mode(0o644)).unwrap();
    let shared = agentdeck(
        &["db", "status", "--db", &bare],
        &[("PGPASSFILE", pgpass_str)],
    );
    assert_eq!(
        shared.status.code(),
        Some(2),
        "a password file others may read is ignored: {}",
        text(&shared)
    );
    std::fs::set_permissions(&pgpass, std::fs::Permissions::from_mode(0o600)).unwrap();
    let from_file = agentdeck(
        &["db", "migrate", "--db", &bare],
        &[("PGPASSFILE", pgpass_str)],
    );
    assert!(from_file.status.success(), "{}", text(&from_file));
}

#[test]
fn serve_names_an_unreachable_postgres_without_its_password() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens.toml");
    std::fs::write(
        &tokens,
        "[[token]]\nname = \"lee\"\nrole = \"lead\"\nsha256 = \"0d91df9820fad41642ac5f5c8800ed1a06e17fa40a257923de2de3ef1326ee2e\"\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_agentdeck"))
        .args(["serve", "--listen", "127.0.0.1:0", "--tokens"])
        .arg(&tokens)
        .args(["--db", "postgres://agentdeck:s3cret@127.0.0.1:1/agentdeck"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("agentdeck@127.0.0.1:1/agentdeck"),
        "{}",
        text(&out)
    );
    assert!(!text(&out).contains("s3cret"), "{}", text(&out));
    assert!(
        !dir.path().join("postgres:").exists(),
        "no file made of the URL"
    );
}

/// The one ordered log on PostgreSQL: eight writers append at once, one in
/// five of their transactions rolled back, while a reader follows the
/// head. Every read is a contiguous run from the reader's last id (commit
/// order is id order), ids end contiguous from 1 with nothing rolled back
/// in them, a listener hears of the appends, and trimming keeps the
/// newest.
#[test]
fn postgres_log_ids_are_contiguous_and_in_commit_order() {
    let Some(server) = PgServer::start() else {
        return;
    };
    let url = server.create_database("conformance_log");
    block_on(async move {
        let target = PgTarget::parse(&url).unwrap();
        target.open().await.unwrap();
        let (_listening, mut heads) = log::listen(&target).await.unwrap();

        let writers: Vec<_> = (0..8)
            .map(|w| {
                let target = target.clone();
                tokio::spawn(async move {
                    let mut client = target.connect().await.unwrap();
                    let mut kept = Vec::new();
                    for t in 0..40 {
                        let bodies: Vec<String> = (0..1 + (w + t) % 4)
                            .map(|i| format!("w{w}-t{t}-{i}"))
                            .collect();
                        let frames: Vec<LogFrame> = bodies
                            .iter()
                            .map(|b| LogFrame {
                                event: "audit",
                                data: b.as_str().into(),
                            })
                            .collect();
                        let tx = client.transaction().await.unwrap();
                        let ids = log::append(&tx, 1, &frames).await.unwrap().unwrap();
                        assert_eq!(ids.1 - ids.0 + 1, bodies.len() as i64);
                        if t % 5 == 4 {
                            tx.rollback().await.unwrap();
                        } else {
                            tx.commit().await.unwrap();
                            kept.extend(bodies);
                        }
                    }
                    kept
                })
            })
            .collect();

        // The reader follows until it reaches the head the writers leave.
        let (final_head, mut final_rx) = tokio::sync::watch::channel(None::<i64>);
        let reader = {
            let target = target.clone();
            tokio::spawn(async move {
                let client = target.connect().await.unwrap();
                let mut seen = Vec::new();
                let mut last = 0;
                loop {
                    let entries = log::read_after(&client, last, 37).await.unwrap();
                    for e in &entries {
                        assert_eq!(e.id, last + 1, "a reader never skips an id");
                        assert_eq!(e.event, "audit");
                        last = e.id;
                        seen.push(e.body.clone());
                    }
                    let done = *final_rx.borrow_and_update();
                    if done == Some(last) {
                        return seen;
                    }
                    if entries.is_empty() {
                        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                    }
                }
            })
        };

        let mut kept = Vec::new();
        for w in writers {
            kept.extend(w.await.unwrap());
        }
        final_head.send(Some(kept.len() as i64)).unwrap();
        let seen = reader.await.unwrap();
        let client = target.connect().await.unwrap();
        assert_eq!(log::head(&client).await.unwrap(), kept.len() as i64);
        let all = log::read_after(&client, 0, 1_000_000).await.unwrap();
        assert_eq!(seen.len(), all.len(), "the reader followed to the head");
        let ids: Vec<i64> = all.iter().map(|e| e.id).collect();
        assert_eq!(ids, (1..=kept.len() as i64).collect::<Vec<_>>());
        let mut bodies: Vec<String> = all.into_iter().map(|e| e.body).collect();
        bodies.sort();
        kept.sort();
        assert_eq!(
            bodies, kept,
            "every committed delta once, no rolled-back one"
        );
        // Trimming keeps the newest entries and the head.
        let total = kept.len() as i64;
        assert_eq!(log::trim(&client, 10).await.unwrap(), (total - 10) as u64);
        let tail: Vec<i64> = log::tail(&client, 1_000)
            .await
            .unwrap()
            .iter()
            .map(|e| e.id)
            .collect();
        assert_eq!(tail, (total - 9..=total).collect::<Vec<_>>());
        assert_eq!(log::head(&client).await.unwrap(), total);
        let heard = heads.recv().await.expect("the listener heard an append");
        assert!(heard >= 1 && heard <= kept.len() as i64);
    });
}

/// Leases on PostgreSQL: one holder at a time, taken over only after it
/// expires (on the database's clock), with a new epoch that fences the old
/// holder out; a released lease is free at once.
#[test]
fn postgres_lease_has_one_holder_and_fences_the_last() {
    let Some(server) = PgServer::start() else {
        return;
    };
    let url = server.create_database("conformance_lease");
    block_on(async move {
        let target = PgTarget::parse(&url).unwrap();
        let (client, _) = target.open().await.unwrap();
        let short = std::time::Duration::from_millis(300);
        let long = std::time::Duration::from_secs(60);

        let a = lease::acquire(&client, "derived", "replica-a", short)
            .await
            .unwrap();
        let a = a.expect("a free lease is taken");
        assert_eq!(a.epoch, 1);
        assert_eq!(
            lease::acquire(&client, "derived", "replica-b", long)
                .await
                .unwrap(),
            None
        );
        assert!(
            lease::renew(&client, &a, short).await.unwrap(),
            "the holder renews"
        );
        assert_eq!(
            lease::acquire(&client, "timers", "replica-b", long)
                .await
                .unwrap()
                .map(|h| h.epoch),
            Some(1),
            "leases are per role"
        );

        // Past the expiry (database clock), b takes it with a new epoch,
        // and a's renewal finds it lost.
        let mut tries = 0;
        let b = loop {
            tries += 1;
            assert!(tries < 200, "the lease never expired");
            let taken = lease::acquire(&client, "derived", "replica-b", long)
                .await
                .unwrap();
            if let Some(b) = taken {
                break b;
            }
            // Still a's until its 300 ms run out.
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        };
        assert_eq!(b.epoch, 2);
        assert!(
            !lease::renew(&client, &a, long).await.unwrap(),
            "the old holder is fenced out"
        );

        lease::release(&client, &b).await.unwrap();
        let c = lease::acquire(&client, "derived", "replica-c", long)
            .await
            .unwrap();
        assert_eq!(
            c.map(|h| h.epoch),
            Some(3),
            "a released lease is free at once"
        );
    });
}

/// Whether the connection to `url` is encrypted, as the server sees it.
async fn encrypted(url: &str) -> Result<bool, String> {
    let target = PgTarget::parse(url).map_err(|e| e.0)?;
    let client = target.connect().await.map_err(|e| e.0)?;
    let row = client
        .query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .await
        .map_err(|e| e.to_string())?;
    Ok(row.get(0))
}

/// TLS as libpq's `sslmode` means it: `require` encrypts without checking
/// the certificate, `verify-ca` checks who issued it, `verify-full` also
/// the name; `disable` stays plain; `require` to a server without TLS
/// fails rather than going plain.
#[test]
fn postgres_tls_as_sslmode_asks() {
    let issued = support::pki::issue(&["db.example"], "agentdeck test database");
    let Some(server) = PgServer::start_tls(&issued.cert, &issued.key) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, issued.ca).unwrap();
    let other = support::pki::issue(&["db.example"], "agentdeck test database");
    let other_ca_file = dir.path().join("other-ca.pem");
    std::fs::write(&other_ca_file, other.ca).unwrap();
    let url = server.url();
    let with = |query: String| format!("{url}?{query}");
    let ca_path = ca_file.to_str().unwrap();
    let other_path = other_ca_file.to_str().unwrap();

    block_on(async {
        assert_eq!(encrypted(&with("sslmode=disable".into())).await, Ok(false));
        assert_eq!(
            encrypted(&url).await,
            Ok(true),
            "prefer takes TLS when offered"
        );
        assert_eq!(encrypted(&with("sslmode=require".into())).await, Ok(true));
        assert_eq!(
            encrypted(&with(format!("sslmode=verify-ca&sslrootcert={ca_path}"))).await,
            Ok(true),
            "verify-ca: issued by the CA, whatever the name"
        );
        let wrong_name = encrypted(&with(format!("sslmode=verify-full&sslrootcert={ca_path}")))
            .await
            .unwrap_err();
        assert!(wrong_name.contains("not valid for name"), "{wrong_name}");
        let wrong_ca = encrypted(&with(format!("sslmode=verify-ca&sslrootcert={other_path}")))
            .await
            .unwrap_err();
        assert!(wrong_ca.contains("invalid peer certificate"), "{wrong_ca}");
        let no_ca = encrypted(&with(
            "sslmode=verify-full&sslrootcert=/nonexistent/ca.pem".into(),
        ))
        .await
        .unwrap_err();
        assert!(
            no_ca.contains("cannot read the CA file /nonexistent/ca.pem"),
            "{no_ca}"
        );
    });

    let Some(plain) = PgServer::start() else {
        return;
    };
    let refused = block_on(encrypted(&format!("{}?sslmode=require", plain.url()))).unwrap_err();
    assert!(refused.to_lowercase().contains("tls"), "{refused}");
}

/// A `--db` URL naming a Unix socket directory (percent-encoded, as libpq
/// takes it) connects there, without TCP.
#[test]
fn postgres_over_a_unix_socket() {
    let Some(server) = PgServer::start() else {
        return;
    };
    server.create_database("conformance_socket");
    let url = server.socket_url("conformance_socket");
    let migrated = agentdeck(&["db", "migrate", "--db", &url], &[]);
    assert!(migrated.status.success(), "{}", text(&migrated));
    assert!(
        text(&migrated).contains("schema migrated from version 0"),
        "{}",
        text(&migrated)
    );
}
