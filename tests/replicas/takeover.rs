//! Takeovers: a standby serving after the one serving dies or stops,
//! with everything acknowledged; a hub that lost its lease writing nothing,
//! standing by again, and letting go of its state.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standby_takes_over_with_everything_acknowledged() {
    let Some(pg) = PgServer::start() else { return };
    let db = OsString::from(pg.create_database("replicas"));
    let dir = tempfile::tempdir().unwrap();
    tokens(dir.path());
    let http = reqwest::Client::new();

    let mut first = replica(dir.path(), &db);
    let now = Utc::now();
    let mut lines: Vec<String> = (0..40)
        .map(|i| run_line("refund-bot", &format!("r-{i}"), "success", now))
        .collect();
    lines.extend((1..=3).map(|i| {
        approval_line(
            "refund-bot",
            &format!("q-{i}"),
            now,
            now + Span::minutes(30),
        )
    }));
    let body = post_events(&http, &first.url, lines.join("\n")).await;
    assert_eq!(body["accepted"], json!(43), "{body}");
    // An operator watches the decision, then leaves; the first publishes
    // more (a new approval) before it dies.
    let mut watching = StreamClient::open_url(&first.url, LEAD, None)
        .await
        .unwrap();
    let snapshot = watching.next(Duration::from_secs(10)).await.unwrap();
    assert_eq!(snapshot.event, "snapshot");
    let decided = decide(&http, &first, "APR-1", "d-1").await;
    assert_eq!(decided.0, 200, "{}", decided.1);
    let seen = watching
        .until("audit", |e| e["action"] == "approval.decided")
        .await
        .id;
    drop(watching);
    let later = approval_line("refund-bot", "q-4", now, now + Span::minutes(30));
    post_events(&http, &first.url, later).await;

    // A second replica stands by: it does not listen while the first
    // holds the lease.
    let second = standby(dir.path(), &db);
    assert!(
        waits(&second, Duration::from_secs(3)),
        "a standby serves only once the lease is free"
    );

    // kill -9: no clean release; the standby takes over once the lease
    // expires.
    let killed = Instant::now();
    first.kill();
    let mut second = second.join();
    let took = killed.elapsed();
    eprintln!("kill -9 to the standby serving: {took:?}");
    assert!(
        took < Duration::from_secs(20),
        "took over in {took:?}, beyond the lease's expiry and a start"
    );

    // Everything acknowledged by the first is there.
    let s = state(&http, &second).await;
    let approvals: Vec<(String, String)> = s["approvals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["id"].as_str().unwrap().into(),
                a["state"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert!(
        approvals.contains(&("APR-2".into(), "pending".into()))
            && approvals.contains(&("APR-3".into(), "pending".into())),
        "{approvals:?}"
    );
    // The decision made on the first: its idempotent repeat gets the same
    // answer, another decision 409 naming who decided.
    let repeat = decide(&http, &second, "APR-1", "d-1").await;
    assert_eq!(repeat, decided, "the idempotency key is in the database");
    let late = decide(&http, &second, "APR-1", "d-1b").await;
    assert_eq!(late.0, 409, "{}", late.1);
    assert!(
        late.1["error"].as_str().unwrap().contains("by ann"),
        "{}",
        late.1
    );
    let next = decide(&http, &second, "APR-2", "d-2").await;
    assert_eq!(next.0, 200, "{}", next.1);
    resumes_where_it_left(&second, seen).await;

    // A clean stop releases the lease: a standby serves within moments.
    let third = standby(dir.path(), &db);
    assert!(waits(&third, Duration::from_secs(2)));
    let stopped = Instant::now();
    assert!(second.stop().success());
    let third = third.join();
    eprintln!("clean stop to the standby serving: {:?}", stopped.elapsed());
    let s = state(&http, &third).await;
    let decided: Vec<&str> = s["audit"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "approval.decided")
        .map(|e| e["subject"].as_str().unwrap())
        .collect();
    assert_eq!(decided, ["APR-1", "APR-2"], "{s}");
    assert_eq!(s["approvals"].as_array().map(Vec::len), Some(2), "{s}");
    drop(third);

    // One chain across the three replicas.
    chain_verifies(&db);
}

/// A stream resumed on `hub` after `seen`, the last id the operator saw
/// from the replica that died, carries every delta after it in id order,
/// with no snapshot: the dead one's last (APR-4 requested) from the
/// shared log, then this one's (APR-2 approved).
async fn resumes_where_it_left(hub: &ServeProcess, seen: u64) {
    let mut resumed = StreamClient::open_url(&hub.url, LEAD, Some(seen))
        .await
        .unwrap();
    let (mut last, mut requested) = (seen, false);
    loop {
        let e = resumed
            .next(Duration::from_secs(10))
            .await
            .expect("the resumed stream goes on");
        assert_eq!(
            (e.id, e.event.as_str() == "snapshot"),
            (last + 1, false),
            "after {last}: {} {}",
            e.id,
            e.event
        );
        last = e.id;
        if e.event == "approval" {
            requested |= e.data["id"] == "APR-4" && e.data["state"] == "pending";
            if e.data["id"] == "APR-2" && e.data["state"] == "approved" {
                break;
            }
        }
    }
    assert!(
        requested,
        "the dead replica's last deltas came from the log"
    );
    eprintln!("resumed after id {seen} on the replica that took over, up to {last}");
}

/// A hub whose lease was taken over writes nothing: its transaction finds
/// its epoch gone and rolls back, naming why.
#[test]
fn a_hub_that_lost_its_lease_writes_nothing() {
    let Some(pg) = PgServer::start() else { return };
    let url = pg.create_database("fenced");
    let target = PgTarget::parse(&url).unwrap();
    let mut store = PgStore::open(&target).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let client = rt.block_on(target.connect()).unwrap();
    let ttl = Duration::from_millis(300);
    let held = rt
        .block_on(lease::acquire(&client, "hub", "old", ttl))
        .unwrap()
        .unwrap();
    store.set_fence(held);
    let batch = |key: &'static str| agentdeck::hub::store::Batch {
        meta: vec![(key, "1".to_string())],
        ..Default::default()
    };
    store.write(&batch("while_held")).unwrap();
    // The lease lapses and another replica takes it.
    let taken = loop {
        std::thread::sleep(Duration::from_millis(100));
        if let Some(h) = rt
            .block_on(lease::acquire(
                &client,
                "hub",
                "new",
                Duration::from_secs(30),
            ))
            .unwrap()
        {
            break h;
        }
    };
    assert_eq!(taken.epoch, 2);
    let refused = store.write(&batch("after_losing")).unwrap_err();
    assert!(refused.0.contains("no longer holds"), "{refused}");
    assert!(store.write_failure().is_some(), "the failure is reported");
    let loaded = store.load(10, Utc::now()).unwrap();
    assert!(loaded.meta.contains_key("while_held"));
    assert!(!loaded.meta.contains_key("after_losing"), "nothing written");
}

/// A serving hub whose lease is taken from it (a pause past its expiry, a
/// network split healed after another replica took over) stops serving at
/// once and stands by again in the same process, on the same address; once
/// the lease is free it takes it with a new epoch and serves again, with
/// what was stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hub_whose_lease_is_taken_stands_by_again() {
    let Some(pg) = PgServer::start() else { return };
    let url = pg.create_database("taken");
    let dir = tempfile::tempdir().unwrap();
    tokens(dir.path());
    let mut hub = replica(dir.path(), &OsString::from(&url));
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let now = Utc::now();
    let approval = approval_line("refund-bot", "q-1", now, now + Span::minutes(30));
    post_events(&http, &hub.url, approval).await;
    let target = PgTarget::parse(&url).unwrap();
    let client = target.connect().await.unwrap();
    client
        .execute(
            "UPDATE leases SET holder = 'elsewhere', epoch = epoch + 1 WHERE name = 'hub'",
            &[],
        )
        .await
        .unwrap();
    let taken = Instant::now();
    let line = hub
        .printed("standing by on", Duration::from_secs(15))
        .expect("the hub stands by again");
    eprintln!("lease taken to standing by: {:?}: {line}", taken.elapsed());
    assert!(
        hub.child.try_wait().unwrap().is_none(),
        "the process lives on"
    );
    // Its address answers meanwhile, with a 503 to retry: the lease names
    // this replica's address and no one serves.
    let (s, body) = call(
        &http,
        reqwest::Method::GET,
        format!("{}/v1/state", hub.url),
        LEAD,
        None,
    )
    .await;
    assert_eq!(s, 503, "{body}");
    hub.printed("listening on", Duration::from_secs(20))
        .expect("the hub serves again once the lease lapsed");
    eprintln!("lease taken to serving again: {:?}", taken.elapsed());
    let epoch: i64 = client
        .query_one("SELECT epoch FROM leases WHERE name = 'hub'", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(epoch, 3, "taken back with a new epoch");
    let (s, body) = decide(&http, &hub, "APR-1", "k-after").await;
    assert_eq!(s, 200, "what was stored is served: {body}");
    assert!(hub.child.try_wait().unwrap().is_none());
}

/// A hub that lost its lease and stopped leaves nothing of itself behind
/// (its state, its store, its streams' readers, its `SIGHUP` listener), so
/// a replica that stands by again after every loss stays the same size.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hub_that_stopped_serving_lets_go_of_its_state() {
    let Some(pg) = PgServer::start() else { return };
    let url = pg.create_database("lets_go");
    let test = support::start_with(support::Options {
        db: Some(url.clone().into()),
        ..Default::default()
    })
    .await;
    test.hub.reload_on_sighup();
    let lead = test.token("lead").to_string();
    let mut watching = StreamClient::open_url(&test.hub.url(), &lead, None)
        .await
        .unwrap();
    assert_eq!(
        watching.next(Duration::from_secs(10)).await.unwrap().event,
        "snapshot"
    );
    let core = std::sync::Arc::downgrade(&test.hub.core);
    let client = PgTarget::parse(&url).unwrap().connect().await.unwrap();
    client
        .execute(
            "UPDATE leases SET holder = 'elsewhere', epoch = epoch + 1 WHERE name = 'hub'",
            &[],
        )
        .await
        .unwrap();
    let why = tokio::time::timeout(Duration::from_secs(10), test.hub.lease_lost())
        .await
        .expect("the loss is noticed within a renewal");
    assert!(why.contains("another replica"), "{why}");
    let support::TestHub { hub, .. } = test;
    hub.stop().await;
    let until = Instant::now() + Duration::from_secs(10);
    while core.upgrade().is_some() {
        assert!(
            Instant::now() < until,
            "the stopped hub's state is still held"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(watching);
}

/// A standby takes over with the configuration files as they are then,
/// not as they were when it started: a token revoked while it stood by
/// (`agentdeck reload`, which reaches the serving replica only) does not
/// come back with the takeover. And `SIGHUP` sent to every replica
/// (`systemctl reload`) leaves a standby standing by, and reloads once
/// it serves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standby_takes_over_with_the_files_as_they_are_then() {
    const NEWCOMER: &str = "adk_replica_newcomer";
    let Some(pg) = PgServer::start() else { return };
    let db = OsString::from(pg.create_database("files_again"));
    let dir = tempfile::tempdir().unwrap();
    tokens(dir.path());
    let http = reqwest::Client::new();
    let me = |url: &str, token: &'static str| {
        let (http, url) = (http.clone(), format!("{url}/v1/me"));
        async move { call(&http, reqwest::Method::GET, url, token, None).await.0 }
    };
    let mut first = replica(dir.path(), &db);
    let second = standby(dir.path(), &db);
    assert!(waits(&second, Duration::from_secs(2)));

    // Bo leaves the rota, Cy joins; the serving replica is told.
    let text = std::fs::read_to_string(dir.path().join("tokens.toml")).unwrap();
    let kept: Vec<&str> = text
        .split("\n\n")
        .filter(|block| !block.contains("name = \"bo\""))
        .collect();
    let newcomer = format!(
        "[[token]]\nname = \"cy\"\nrole = \"approver\"\nsha256 = \"{}\"\n",
        agentdeck::hub::auth::hash_token(NEWCOMER)
    );
    std::fs::write(
        dir.path().join("tokens.toml"),
        format!("{}\n\n{newcomer}", kept.join("\n\n")),
    )
    .unwrap();
    let url = format!("{}/v1/reload", first.url);
    let (s, body) = call(&http, reqwest::Method::POST, url, LEAD, None).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(me(&first.url, APPROVER2).await, 401);
    assert_eq!(me(&first.url, NEWCOMER).await, 200);

    first.kill();
    let second = second.join();
    assert_eq!(
        me(&second.url, APPROVER2).await,
        401,
        "the token revoked while it stood by stays revoked"
    );
    assert_eq!(me(&second.url, NEWCOMER).await, 200);
    assert_eq!(me(&second.url, APPROVER).await, 200);

    let third = standby(dir.path(), &db);
    assert!(waits(&third, Duration::from_secs(2)));
    let hup = Command::new("kill")
        .args(["-HUP", &third.pid.to_string()])
        .status()
        .unwrap();
    assert!(hup.success());
    assert!(
        waits(&third, Duration::from_secs(1)),
        "SIGHUP leaves the standby standing by"
    );
    let alive = Command::new("kill")
        .args(["-0", &third.pid.to_string()])
        .status()
        .unwrap();
    assert!(alive.success(), "the standby lived through SIGHUP");

    // The SIGHUP it noted is a reload once it serves.
    let mut second = second;
    second.kill();
    let third = third.join();
    let url = format!("{}/v1/audit?order=newest&limit=50", third.url);
    let (s, page) = call(&http, reqwest::Method::GET, url, LEAD, None).await;
    assert_eq!(s, 200, "{page}");
    let reloaded = page["entries"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["action"] == "config.reloaded" && e["actor"] == "SIGHUP");
    assert!(
        reloaded,
        "the SIGHUP noted while standing by reloads: {page}"
    );
}
