//! Every replica scraped as its own target: the serving one carries the
//! hub's figures, a standby only what it says of itself, so a sum over
//! the replicas counts the hub's figures once.

use super::*;

async fn scrape(http: &reqwest::Client, url: &str, token: Option<&str>) -> (u16, String) {
    let mut req = http.get(format!("{url}/metrics"));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let answer = req.send().await.expect("the replica answers");
    (answer.status().as_u16(), answer.text().await.unwrap())
}

/// The value of the unlabelled series `name` in an exposition.
fn value(text: &str, name: &str) -> Option<i64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_replica_exposes_its_own_figures() {
    let Some(pg) = PgServer::start() else { return };
    let db = OsString::from(pg.create_database("scrapes"));
    let dir = tempfile::tempdir().unwrap();
    tokens(dir.path());
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(15))
        .build()
        .unwrap();
    let mut first = replica(dir.path(), &db);
    let other_url = format!("http://127.0.0.1:{}", free_port());
    let other = Standby::start_at(dir.path(), other_url.trim_start_matches("http://"), &db);
    let now = Utc::now();
    let lines: Vec<String> = (0..5)
        .map(|i| run_line("refund-bot", &format!("r-{i}"), "success", now))
        .chain([approval_line(
            "refund-bot",
            "q-1",
            now,
            now + Span::minutes(30),
        )])
        .collect();
    post_events(&http, &first.url, lines.join("\n")).await;

    let (s, serving) = scrape(&http, &first.url, Some(LEAD)).await;
    assert_eq!(s, 200, "{serving}");
    assert_eq!(value(&serving, "agentdeck_hub_serving"), Some(1));
    assert!(value(&serving, "agentdeck_ingest_events_total").is_some_and(|n| n >= 6));
    let published = value(&serving, "agentdeck_stream_last_id").unwrap();
    assert!(published > 0, "{serving}");

    // The standby: itself only, once it has read the log as far.
    let until = Instant::now() + Duration::from_secs(10);
    let standing_by = loop {
        let (s, text) = scrape(&http, &other_url, Some(LEAD)).await;
        assert_eq!(s, 200, "{text}");
        if value(&text, "agentdeck_stream_last_id") == Some(published) {
            break text;
        }
        assert!(Instant::now() < until, "the standby reads the log: {text}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(value(&standing_by, "agentdeck_hub_serving"), Some(0));
    assert!(
        !standing_by.contains("agentdeck_ingest_events_total")
            && !standing_by.contains("agentdeck_approvals_pending"),
        "a standby does not repeat the serving hub's figures: {standing_by}"
    );
    // Who may read is the serving hub's to say.
    assert_eq!(scrape(&http, &other_url, None).await.0, 401);
    assert_eq!(scrape(&http, &other_url, Some(AGENT)).await.0, 403);
    assert_eq!(scrape(&http, &other_url, Some("adk_nobody")).await.0, 401);

    // Once it serves, the standby carries the hub's figures.
    first.kill();
    let other = other.join();
    let (s, now_serving) = scrape(&http, &other.url, Some(LEAD)).await;
    assert_eq!(s, 200, "{now_serving}");
    assert_eq!(value(&now_serving, "agentdeck_hub_serving"), Some(1));
    assert_eq!(value(&now_serving, "agentdeck_approvals_pending"), Some(1));
}
