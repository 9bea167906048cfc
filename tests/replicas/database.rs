//! The database side: a replica cut off from it, its failover to a
//! standby server, and an outage longer than the lease.

use super::*;

/// A network split between the serving replica and the database (a proxy
/// between them stops forwarding, sockets left open): its writes fail with
/// 503 instead of hanging the hub; a standby that still reaches the
/// database takes over once the lease lapses; the cut-off hub stops
/// serving and, once the split heals, stands by and forwards to the new
/// one; nothing it acknowledged is lost and nothing is written twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_cut_off_from_the_database_yields_to_a_standby() {
    let Some(pg) = PgServer::start() else { return };
    let direct = pg.create_database("split");
    let proxy =
        support::proxy::Proxy::start(format!("127.0.0.1:{}", pg.port()).parse().unwrap()).await;
    let through_proxy = direct.replace(
        &format!("127.0.0.1:{}/", pg.port()),
        &format!("{}/", proxy.addr),
    );
    let dir = tempfile::tempdir().unwrap();
    tokens(dir.path());
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();

    let cut_off = Standby::start_at(dir.path(), "127.0.0.1:0", &OsString::from(&through_proxy));
    let until = Instant::now() + Duration::from_secs(30);
    while !cut_off.is_serving() {
        assert!(Instant::now() < until, "the first replica serves");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut first = cut_off.join();
    let other = Standby::start_at(dir.path(), "127.0.0.1:0", &OsString::from(&direct));
    let now = Utc::now();
    let approval = approval_line("refund-bot", "q-1", now, now + Span::minutes(30));
    post_events(&http, &first.url, approval).await;

    proxy.blackhole();
    let split = Instant::now();
    // A decision on the cut-off hub: refused (503), never taken.
    let (s, body) = decide(&http, &first, "APR-1", "k-split").await;
    eprintln!(
        "decision on the cut-off hub: {s} after {:?}",
        split.elapsed()
    );
    assert_eq!(s, 503, "{body}");
    let until = Instant::now() + Duration::from_secs(40);
    while !other.is_serving() {
        assert!(Instant::now() < until, "the standby took over");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!("split to the standby serving: {:?}", split.elapsed());
    let second = other.join();
    // The cut-off hub, its renewal failing for a whole lease, stops
    // serving; once it reaches the database again it stands by, forwarding
    // to the new hub.
    first
        .printed("stopped serving", Duration::from_secs(40))
        .expect("the cut-off hub stops serving");
    eprintln!("split to the cut-off hub stopping: {:?}", split.elapsed());
    proxy.heal();
    let line = first
        .printed("standing by on", Duration::from_secs(40))
        .expect("the cut-off hub stands by");
    eprintln!(
        "split to the cut-off hub standing by: {:?}",
        split.elapsed()
    );
    let new_hub = second.url.trim_start_matches("http://");
    assert!(line.contains(new_hub), "forwarding to the new hub: {line}");
    assert!(first.child.try_wait().unwrap().is_none(), "still running");

    // The decision refused on the cut-off hub is taken by the new one with
    // the same key, once, through the replica that was cut off.
    let (s, body) = decide(&http, &first, "APR-1", "k-split").await;
    assert_eq!(s, 200, "{body}");
    let (_, audit) = call(
        &http,
        reqwest::Method::GET,
        format!("{}/v1/audit?limit=100", second.url),
        LEAD,
        None,
    )
    .await;
    let actions: Vec<&str> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["approval.requested", "approval.decided"]);
}

/// PostgreSQL fails over to its standby: synchronous replication, the
/// primary stopped at once as in a crash, the standby promoted. The hub,
/// given both servers with `target_session_attrs=read-write`, reconnects
/// to the new primary within its lease and goes on serving: requests in
/// between are refused (503) and retried, nothing it acknowledged is
/// lost, its stream goes on, and the audit chain verifies on the new
/// primary.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_failover_keeps_the_hub_serving() {
    let Some(primary) = PgServer::start() else {
        return;
    };
    primary.create_database("failover");
    let standby = primary.synchronous_standby();
    let db = OsString::from(format!(
        "postgres://agentdeck:{}@127.0.0.1:{},127.0.0.1:{}/failover?target_session_attrs=read-write",
        support::postgres::PASSWORD,
        primary.port(),
        standby.port()
    ));
    let dir = tempfile::tempdir().unwrap();
    tokens(dir.path());
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(15))
        .build()
        .unwrap();
    let mut hub = replica(dir.path(), &db);
    let now = Utc::now();
    let lines: Vec<String> = (1..=3)
        .map(|i| {
            approval_line(
                "refund-bot",
                &format!("q-{i}"),
                now,
                now + Span::minutes(30),
            )
        })
        .collect();
    post_events(&http, &hub.url, lines.join("\n")).await;
    let decided = decide(&http, &hub, "APR-1", "d-1").await;
    assert_eq!(decided.0, 200, "{}", decided.1);
    let mut watching = StreamClient::open_url(&hub.url, LEAD, None).await.unwrap();
    assert_eq!(
        watching.next(Duration::from_secs(10)).await.unwrap().event,
        "snapshot"
    );

    let failed_over = Instant::now();
    primary.crash();
    standby.promote();
    eprintln!(
        "primary stopped and standby promoted in {:?}",
        failed_over.elapsed()
    );
    // A decision while the hub finds the new primary: refused with 503
    // until then, retried with its key, taken once.
    let mut refused = 0;
    let next = loop {
        let answer = decide(&http, &hub, "APR-2", "d-2").await;
        if answer.0 != 503 {
            break answer;
        }
        refused += 1;
        assert!(
            failed_over.elapsed() < Duration::from_secs(30),
            "still refused: {}",
            answer.1
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    eprintln!(
        "decision taken {:?} after the failover, {refused} refused before",
        failed_over.elapsed()
    );
    assert_eq!(next.0, 200, "{}", next.1);
    assert!(
        hub.child.try_wait().unwrap().is_none(),
        "the hub kept its lease and serves on"
    );
    let repeat = decide(&http, &hub, "APR-1", "d-1").await;
    assert_eq!(repeat, decided, "the idempotency key was replicated");
    let s = state(&http, &hub).await;
    let pending: Vec<&str> = s["approvals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap())
        .collect();
    assert_eq!(pending, ["APR-3"], "{s}");
    let approved = watching
        .until("approval", |a| {
            a["id"] == "APR-2" && a["state"] == "approved"
        })
        .await;
    eprintln!("the stream went on to id {}", approved.id);

    drop(hub);
    chain_verifies(std::ffi::OsStr::new(&standby.url_for("failover")));
}

/// The database is away longer than the lease (a restart or failover that
/// takes its time): the only replica cannot renew, stops serving, and,
/// without a supervisor, stands by again in the same process; once the
/// database is back it takes the lease, loads what was stored and serves
/// on the same address, and a stream resumes there with `Last-Event-ID`
/// from the shared log, with no gap and no duplicate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_away_longer_than_the_lease_needs_no_supervisor() {
    let Some(pg) = PgServer::start() else { return };
    let db = OsString::from(pg.create_database("away"));
    let dir = tempfile::tempdir().unwrap();
    tokens(dir.path());
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(15))
        .build()
        .unwrap();
    let hub = replica(dir.path(), &db);
    let now = Utc::now();
    let lines: Vec<String> = (1..=2)
        .map(|i| {
            approval_line(
                "refund-bot",
                &format!("q-{i}"),
                now,
                now + Span::minutes(30),
            )
        })
        .collect();
    post_events(&http, &hub.url, lines.join("\n")).await;
    let mut watching = StreamClient::open_url(&hub.url, LEAD, None).await.unwrap();
    let snapshot = watching.next(Duration::from_secs(10)).await.unwrap();
    assert_eq!(snapshot.event, "snapshot");
    let decided = decide(&http, &hub, "APR-1", "d-1").await;
    assert_eq!(decided.0, 200, "{}", decided.1);
    let seen = watching
        .until("approval", |a| {
            a["id"] == "APR-1" && a["state"] == "approved"
        })
        .await
        .id;
    // The test server commits asynchronously: let its WAL writer write
    // before the crash, as a durable server would at commit.
    tokio::time::sleep(Duration::from_secs(1)).await;

    let away = Instant::now();
    pg.crash();
    hub.printed("stopped serving", Duration::from_secs(20))
        .expect("the hub stops serving once its lease could not be renewed");
    let stopped = away.elapsed();
    // The lease runs 8 s from its last renewal, about 2 s at most before
    // the crash: not before 6 s, less a margin for the renewal's own time.
    assert!(
        stopped >= Duration::from_millis(5_500),
        "not before the lease ran out: {stopped:?}"
    );
    // Standing by again while the database is away, its address answers
    // why (a balancer marks it down, a client moves on), never "connection
    // refused" between attempts.
    hub.printed("waiting for the database", Duration::from_secs(10))
        .expect("the hub stands by again and waits for the database");
    let quick = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    for _ in 0..10 {
        let answer = quick
            .get(format!("{}/healthz", hub.url))
            .send()
            .await
            .expect("the address answers while the database is away");
        assert_eq!(answer.status(), 503);
        let why = answer.text().await.unwrap();
        assert!(why.contains("cannot reach the database"), "{why}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    pg.start_again();
    let back = away.elapsed();
    hub.printed("listening on", Duration::from_secs(40))
        .expect("the hub serves again once the database is back");
    eprintln!(
        "database away {back:?}: the hub stopped serving after {stopped:?} and served again after {:?}",
        away.elapsed()
    );
    let mut hub = hub;
    assert!(
        hub.child.try_wait().unwrap().is_none(),
        "one process throughout"
    );

    let repeat = decide(&http, &hub, "APR-1", "d-1").await;
    assert_eq!(repeat, decided, "the decision and its key were kept");
    let mut resumed = StreamClient::open_url(&hub.url, LEAD, Some(seen))
        .await
        .unwrap();
    let (s, body) = decide(&http, &hub, "APR-2", "d-2").await;
    assert_eq!(s, 200, "{body}");
    let mut last = seen;
    loop {
        let e = resumed
            .next(Duration::from_secs(10))
            .await
            .expect("the resumed stream goes on");
        assert_eq!((e.id, e.event.as_str() == "snapshot"), (last + 1, false));
        last = e.id;
        if e.event == "approval" && e.data["id"] == "APR-2" {
            assert_eq!(e.data["state"], "approved");
            break;
        }
    }
    chain_verifies(&db);
}
