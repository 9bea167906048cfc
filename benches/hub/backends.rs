//! (e) The hub on each store backend, side by side in one run: SQLite (a
//! file), PostgreSQL with one replica, and PostgreSQL with three (one
//! serving, two standing by on the `hub` lease). Each gets the same ingest
//! run ((a) with 4 clients) and the same approval-delay run ((b) with
//! 1,000-event bodies of background ingest at 10,000 events/s). With three
//! replicas the delay run is repeated across them: approvals and the
//! background ingest posted to one standby, which forwards them to the one
//! serving, and the stream read from another standby, which serves it from
//! the shared log (an approval asked on one replica and seen by operators
//! streaming from another).
//!
//! PostgreSQL is a throwaway server on loopback (`tests/support/
//! postgres.rs`, the tests' own), with `fsync` off; SQLite runs with
//! `synchronous = NORMAL` in WAL mode. Neither flushes to the disk at each
//! commit, so the comparison is of the two engines and their drivers, not
//! of the disk. Without PostgreSQL installed the PostgreSQL rows are
//! skipped with a message (`tests/postgres/setup.sh` installs it).
//!
//! `AGENTDECK_BENCH_HUB_ONLY=backends cargo bench --bench hub` runs only
//! this; `AGENTDECK_BENCH_BACKEND_EVENTS` (default 200000) and
//! `AGENTDECK_BENCH_APPROVALS` size it.

#[path = "../../tests/support/postgres.rs"]
#[allow(dead_code)]
mod postgres;

use std::path::PathBuf;

use super::{
    DEFAULT_APPROVALS, Delay, Hub, Throughput, Via, approval_delay, env_u64, percentile,
    throughput_on,
};

/// Events of each backend's ingest run.
const DEFAULT_EVENTS: u64 = 200_000;
/// Clients of each ingest run.
const CLIENTS: usize = 4;
/// Background ingest during the approval-delay run.
const BACKGROUND_EPS: u64 = 10_000;

struct Row {
    backend: &'static str,
    ingest: Throughput,
    delay: Delay,
    /// With standbys: approvals and background ingest posted to one
    /// standby, the stream read from another (both forward to the one
    /// serving).
    across: Option<Delay>,
}

/// Runs (e) and prints its table.
pub fn run() {
    let events = env_u64("AGENTDECK_BENCH_BACKEND_EVENTS", DEFAULT_EVENTS);
    let approvals = env_u64("AGENTDECK_BENCH_APPROVALS", DEFAULT_APPROVALS as u64) as usize;
    let server = postgres::PgServer::start();
    if server.is_none() {
        eprintln!(
            "  (e) PostgreSQL is not installed here (tests/postgres/setup.sh installs it): SQLite only"
        );
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let rows = runtime.block_on(async {
        let mut rows = Vec::new();
        let mut backends: Vec<(&'static str, Option<PathBuf>, usize)> = vec![("SQLite", None, 0)];
        if let Some(pg) = &server {
            backends.push((
                "PostgreSQL ×1",
                Some(PathBuf::from(pg.create_database("bench_one"))),
                0,
            ));
            backends.push((
                "PostgreSQL ×3",
                Some(PathBuf::from(pg.create_database("bench_three"))),
                2,
            ));
        }
        for (backend, db, standbys) in backends {
            eprintln!("  (e) {backend}: {events} events, {CLIENTS} clients…");
            let hub = Hub::start_on(db.clone()).await;
            // The standbys wait on the lease for the whole run, as they
            // would beside a serving hub, listening and forwarding.
            let addresses: Vec<String> = (0..standbys).map(|_| free_address()).collect();
            let waiting: Vec<_> = addresses
                .iter()
                .map(|listen| {
                    let (db, listen) = (db.clone(), listen.clone());
                    tokio::spawn(async move { Hub::start_at(db, &listen).await })
                })
                .collect();
            let (ingest, mut hub) = throughput_on(hub, CLIENTS, events).await;
            eprintln!("  (e) {backend}: approval delay at {BACKGROUND_EPS} events/s…");
            let label = format!("{BACKGROUND_EPS} ev/s, 1,000-event bodies");
            let delay = approval_delay(&hub, &label, "e", 1_000, BACKGROUND_EPS, approvals).await;
            let across = match addresses.as_slice() {
                [a, b, ..] => {
                    eprintln!("  (e) {backend}: asked on one standby, watched on another…");
                    hub.via = Some(Via {
                        posts: format!("http://{a}"),
                        streams: format!("http://{b}"),
                    });
                    let label = format!("{label}, across replicas");
                    let tag = "e-across";
                    Some(approval_delay(&hub, &label, tag, 1_000, BACKGROUND_EPS, approvals).await)
                }
                _ => None,
            };
            hub.hub.stop().await;
            for w in waiting {
                w.abort();
            }
            rows.push(Row {
                backend,
                ingest,
                delay,
                across,
            });
        }
        rows
    });
    report(&rows);
}

fn report(rows: &[Row]) {
    println!();
    println!(
        "(e) the hub on each store backend (4 clients of 1,000-event bodies; approvals under {BACKGROUND_EPS} events/s)"
    );
    println!(
        "  {:<15} {:>12} {:>13} {:>13} {:>14} {:>14} {:>6}",
        "backend",
        "ingest ev/s",
        "POST p50 ms",
        "POST p99 ms",
        "approval p50",
        "approval p99",
        "lost"
    );
    let base = rows.first().map(|r| eps(&r.ingest)).unwrap_or(1.0);
    for r in rows {
        let t = &r.ingest;
        println!(
            "  {:<15} {:>12.0} {:>13.2} {:>13.2} {:>11.2} ms {:>11.2} ms {:>6}   ({:.0} % of SQLite's ingest; {} accepted, {} failed requests)",
            r.backend,
            eps(t),
            percentile(&t.request_ms, 50.0),
            percentile(&t.request_ms, 99.0),
            percentile(&r.delay.delays_ms, 50.0),
            percentile(&r.delay.delays_ms, 99.0),
            r.delay.lost,
            100.0 * eps(t) / base,
            t.counts.accepted,
            t.counts.failed_requests,
        );
    }
    for r in rows {
        if let Some(d) = &r.across {
            println!(
                "  {:<15} approvals asked on one standby (forwarded) and watched on another (from the log): p50 {:.2} ms, p99 {:.2} ms, {} lost; POST p99 {:.2} ms",
                r.backend,
                percentile(&d.delays_ms, 50.0),
                percentile(&d.delays_ms, 99.0),
                d.lost,
                percentile(&d.post_ms, 99.0),
            );
        }
    }
    println!(
        "  where the ingest run's time went (CPU in % of one core; the lock: share of samples that found the core's lock held):"
    );
    for r in rows {
        let t = &r.ingest;
        println!(
            "  {:<15} hub process {:>4.0} %, other processes (the database server) {:>4.0} %, core lock held {:>4.0} %",
            r.backend,
            t.cpu,
            t.others,
            100.0 * t.lock_busy
        );
    }
}

/// A loopback address free when asked.
fn free_address() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("its address").to_string()
}

fn eps(t: &Throughput) -> f64 {
    t.events as f64 / t.elapsed.as_secs_f64()
}
