//! Never lose a page: the real `agentdeck serve` with `--notify` is killed
//! with SIGKILL while its PagerDuty receiver is down and pages are waiting
//! in the outbox; started again on the same database with the receiver
//! back, it delivers each of them exactly once per dedup key, and does not
//! send again what was delivered before the outage.

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use chrono::Utc;
use support::receiver::Receiver;
use support::serve::ServeProcess;

const LEAD: &str = "adk_notify_restart_lead";
const AGENT: &str = "adk_notify_restart_agent";

fn write_files(dir: &Path, receiver: &str) {
    let tokens = format!(
        "[[token]]\nname = \"lead\"\nrole = \"lead\"\nsha256 = \"{}\"\n\n[[token]]\nname = \"agent\"\nrole = \"agent\"\nsha256 = \"{}\"\nagents = [\"*\"]\n",
        agentdeck::hub::auth::hash_token(LEAD),
        agentdeck::hub::auth::hash_token(AGENT),
    );
    std::fs::write(dir.join("tokens.toml"), tokens).unwrap();
    let notify = format!(
        r#"
[[receiver]]
name = "payments-pd"
kind = "pagerduty"
routing_key = "env:TEST_PD_KEY"
url = "{receiver}/pd"

[[route]]
events = ["incident.opened"]
receivers = ["payments-pd"]
group_wait = "0s"
"#
    );
    std::fs::write(dir.join("notify.toml"), notify).unwrap();
}

/// The hub with the test's tokens and paging, restartable.
fn start_hub(dir: &Path) -> ServeProcess {
    ServeProcess::start(
        dir,
        &["--tokens", "tokens.toml", "--notify", "notify.toml"],
        &[("TEST_PD_KEY", "R0UT1NGKEY")],
    )
}

async fn report(http: &reqwest::Client, hub: &ServeProcess, n: u32) {
    let line = format!(
        r#"{{"v":1,"type":"incident.reported","ts":"{}","agent":"refund-bot","title":"incident {n}","severity":"SEV1","category":"unsafe_action"}}"#,
        support::ts(Utc::now())
    );
    let r = http
        .post(format!("{}/v1/events", hub.url))
        .bearer_auth(AGENT)
        .body(line)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

async fn audit_actions(http: &reqwest::Client, hub: &ServeProcess) -> Vec<String> {
    let r = http
        .get(format!("{}/v1/audit?limit=500", hub.url))
        .bearer_auth(LEAD)
        .send()
        .await
        .unwrap();
    let body: serde_json::Value = r.json().await.unwrap();
    body["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            format!(
                "{} {}",
                e["action"].as_str().unwrap(),
                e["subject"].as_str().unwrap()
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_waiting_when_the_hub_is_killed_are_delivered_once_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let http = support::client();
    let receiver = Receiver::start().await;
    let addr = receiver.url.trim_start_matches("http://").to_string();
    write_files(dir.path(), &receiver.url);

    let mut hub = start_hub(dir.path());
    report(&http, &hub, 1).await;
    receiver
        .until("/pd", "INC-1's page", |g| g.len() == 1)
        .await;
    // The receiver goes down; two more incidents are paged into nowhere.
    receiver.stop();
    report(&http, &hub, 2).await;
    report(&http, &hub, 3).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let actions = audit_actions(&http, &hub).await;
        let failing = actions
            .iter()
            .filter(|a| a.starts_with("notify.failing"))
            .count();
        if failing == 2 {
            break;
        }
        assert!(Instant::now() < deadline, "{actions:#?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    hub.kill();

    let receiver = Receiver::start_on(&addr).await;
    let hub = start_hub(dir.path());
    let got = receiver
        .until("/pd", "INC-2 and INC-3", |g| g.len() >= 2)
        .await;
    // Long enough for a second attempt of anything not marked delivered.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut keys: Vec<String> = receiver
        .at("/pd")
        .iter()
        .map(|c| c.body["dedup_key"].as_str().unwrap().to_string())
        .collect();
    keys.sort();
    assert_eq!(keys, ["INC-2", "INC-3"], "{got:#?}");
    assert!(
        receiver
            .at("/pd")
            .iter()
            .all(|c| c.body["routing_key"] == "R0UT1NGKEY")
    );
    let actions = audit_actions(&http, &hub).await;
    for id in ["INC-2", "INC-3"] {
        assert!(
            actions.contains(&format!("notify.delivered {id}")),
            "{actions:#?}"
        );
    }
}
