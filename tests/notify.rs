//! Paging over real HTTP: a hub with `--notify` receivers pointed at a
//! local server standing in for PagerDuty, Slack and a webhook. Payloads
//! are checked field by field against what the services document
//! (PagerDuty Events API v2, Slack incoming webhooks) and agentdeck's own
//! signed webhook; acknowledge and resolve follow the page; escalation
//! fires when nobody acknowledges; a burst is grouped; a failing receiver
//! is retried and shows as failing on the incident.

mod support;

use std::time::Duration;

use agentdeck::hub::notify::NotifyConfig;
use chrono::Utc;
use serde_json::{Value, json};
use support::receiver::Receiver;
use support::{Options, TestHub, start_with, ts};

fn config(text: &str) -> NotifyConfig {
    NotifyConfig::parse("notify.toml", text, &|_| None).unwrap()
}

async fn hub_paging(text: String) -> TestHub {
    start_with(Options {
        notify: Some(config(&text)),
        ..Options::default()
    })
    .await
}

fn report(agent: &str, severity: &str, title: &str) -> String {
    format!(
        r#"{{"v":1,"type":"incident.reported","ts":"{}","agent":"{agent}","title":"{title}","severity":"{severity}","category":"unsafe_action"}}"#,
        ts(Utc::now())
    )
}

fn receivers(url: &str) -> String {
    format!(
        r#"
[[receiver]]
name = "payments-pd"
kind = "pagerduty"
routing_key = "R0UT1NGKEY0123456789012345678901"
url = "{url}/pd"

[[receiver]]
name = "ops-slack"
kind = "slack"
url = "{url}/slack"

[[receiver]]
name = "audit-hook"
kind = "webhook"
url = "{url}/hook"
secret = "s3cret"
"#
    )
}

async fn incident(h: &TestHub, id: &str) -> Value {
    let state = h.state().await;
    state["incidents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == id)
        .cloned()
        .unwrap_or(Value::Null)
}

#[tokio::test]
async fn pagerduty_slack_and_a_webhook_follow_an_incident_from_page_to_resolve() {
    let r = Receiver::start().await;
    let h = hub_paging(format!(
        r#"{}
[[route]]
events = ["incident.opened", "incident.acknowledged", "incident.resolved"]
severity = ["SEV1", "SEV2"]
agents = ["refund-*"]
receivers = ["payments-pd", "ops-slack", "audit-hook"]
group_wait = "200ms"
"#,
        receivers(&r.url)
    ))
    .await;
    let (s, _) = h
        .post_events(
            "agent",
            report("refund-bot", "SEV1", "Refunds paid twice <b>"),
        )
        .await;
    assert_eq!(s, 200);
    // Filtered out: another agent, and a severity the route does not take.
    h.post_events("agent", report("triage-bot", "SEV1", "not routed"))
        .await;
    h.post_events("agent", report("refund-bot", "SEV4", "not routed either"))
        .await;

    // PagerDuty Events API v2: a trigger keyed by the incident id.
    let pd = r.until("/pd", "a trigger", |g| !g.is_empty()).await;
    let b = &pd[0].body;
    assert_eq!(b["routing_key"], "R0UT1NGKEY0123456789012345678901");
    assert_eq!(b["event_action"], "trigger");
    assert_eq!(b["dedup_key"], "INC-1");
    let p = &b["payload"];
    assert_eq!(p["severity"], "critical");
    assert_eq!(p["source"], "refund-bot");
    assert_eq!(p["component"], "refund-bot");
    assert_eq!(p["class"], "incident.opened");
    assert!(
        p["summary"]
            .as_str()
            .unwrap()
            .starts_with("[SEV1] INC-1 opened: Refunds paid twice")
    );
    assert!(chrono::DateTime::parse_from_rfc3339(p["timestamp"].as_str().unwrap()).is_ok());
    let d = &p["custom_details"];
    assert_eq!(d["agent"], "refund-bot");
    assert_eq!(d["state"], "triggered");
    assert!(
        d["open_in_agentdeck"]
            .as_str()
            .unwrap()
            .contains(":incident INC-1")
    );

    // Slack: a readable line, markup escaped.
    let slack = r.until("/slack", "a message", |g| !g.is_empty()).await;
    let text = slack[0].body["text"].as_str().unwrap();
    assert!(
        text.contains("*[SEV1] INC-1 opened*: Refunds paid twice &lt;b&gt;"),
        "{text}"
    );
    assert!(
        text.contains("agent `refund-bot`") && text.contains("owner nobody yet"),
        "{text}"
    );
    assert_eq!(slack[0].body["blocks"][0]["text"]["type"], "mrkdwn");

    // The webhook: signed like agent callbacks.
    let hook = r.until("/hook", "an event", |g| !g.is_empty()).await;
    let sig = hook[0].signature.as_deref().expect("signed");
    agentdeck::hub::callbacks::verify(sig, "s3cret", &hook[0].raw, Utc::now().timestamp()).unwrap();
    assert_eq!(hook[0].body["receiver"], "audit-hook");
    assert_eq!(hook[0].body["notifications"][0]["event"], "incident.opened");
    assert_eq!(hook[0].body["notifications"][0]["subject"], "INC-1");

    // The incident shows who was paged.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let i = incident(&h, "INC-1").await;
        let delivered = i["pages"].as_array().map_or(0, |p| {
            p.iter().filter(|p| p["state"] == "delivered").count()
        });
        if delivered == 3 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "pages: {}",
            i["pages"]
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Acknowledged in agentdeck: PagerDuty is told, under the same key.
    let (s, _) = h
        .post("responder", "/v1/incidents/INC-1/ack", json!({}), None)
        .await;
    assert_eq!(s, 200);
    let pd = r.until("/pd", "an acknowledge", |g| g.len() == 2).await;
    assert_eq!(
        pd[1].body,
        json!({"routing_key": "R0UT1NGKEY0123456789012345678901", "event_action": "acknowledge", "dedup_key": "INC-1"})
    );
    let (s, _) = h
        .post(
            "responder",
            "/v1/incidents/INC-1/resolve",
            json!({"summary": "refunds reversed"}),
            None,
        )
        .await;
    assert_eq!(s, 200);
    let pd = r.until("/pd", "a resolve", |g| g.len() == 3).await;
    assert_eq!(pd[2].body["event_action"], "resolve");
    assert_eq!(pd[2].body["dedup_key"], "INC-1");
    // Slack hears of both; what fires within one group window is one
    // message.
    let said = |g: &[support::receiver::Captured], what: &str| {
        g.iter()
            .any(|c| c.body["text"].as_str().unwrap().contains(what))
    };
    r.until("/slack", "the acknowledge and the resolve", |g| {
        said(g, "*[SEV1] INC-1 acknowledged*") && said(g, "*[SEV1] INC-1 resolved*")
    })
    .await;

    // Nothing was sent about the incidents the route filters out.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(r.at("/pd").iter().all(|c| c.body["dedup_key"] == "INC-1"));
    let (_, audit) = h.get("lead", "/v1/audit?limit=200").await;
    let pd_actions: Vec<&str> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "notify.delivered" && e["details"]["receiver"] == "payments-pd")
        .filter_map(|e| e["details"]["pagerduty"].as_str())
        .collect();
    assert_eq!(pd_actions, ["trigger", "acknowledge", "resolve"], "{audit}");
    h.hub.stop().await;
}

#[tokio::test]
async fn an_incident_nobody_acknowledges_pages_the_next_level() {
    let r = Receiver::start().await;
    let h = hub_paging(format!(
        r#"{}
[[escalation]]
ack_timeout = "1s"
receivers = ["audit-hook"]

[[escalation]]
ack_timeout = "1s"
receivers = ["payments-pd"]
severity = ["SEV1"]
"#,
        receivers(&r.url)
    ))
    .await;
    h.post_events("agent", report("refund-bot", "SEV2", "nobody looks"))
        .await;
    h.post_events("agent", report("refund-bot", "SEV2", "someone looks"))
        .await;
    let (s, _) = h
        .post("responder", "/v1/incidents/INC-2/ack", json!({}), None)
        .await;
    assert_eq!(s, 200);

    let hook = r.until("/hook", "level 1", |g| !g.is_empty()).await;
    let n = &hook[0].body["notifications"][0];
    assert_eq!(n["event"], "incident.escalated");
    assert_eq!(n["subject"], "INC-1");
    assert_eq!(n["level"], 1);
    assert_eq!(hook[0].body["group"], "escalation 1");
    // Level 2 takes SEV1 only: INC-1 (SEV2) goes no further, and INC-2
    // was acknowledged in time.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(r.at("/hook").len(), 1);
    assert!(r.at("/pd").is_empty());
    let i = incident(&h, "INC-1").await;
    assert_eq!(i["escalation_level"], 2, "{i}");
    assert!(
        i["timeline"].as_array().unwrap().iter().any(|t| t["text"]
            .as_str()
            .unwrap()
            .contains("paging escalation level 1")),
        "{i}"
    );
    assert!(
        incident(&h, "INC-2")
            .await
            .get("escalation_level")
            .is_none()
    );
    h.hub.stop().await;
}

#[tokio::test]
async fn a_burst_of_200_incidents_is_one_page_per_route_and_group_window() {
    let r = Receiver::start().await;
    let h = hub_paging(format!(
        r#"{}
[[route]]
events = ["incident.opened"]
receivers = ["payments-pd", "ops-slack"]
group_wait = "1s"
"#,
        receivers(&r.url)
    ))
    .await;
    let body: Vec<String> = (0..200)
        .map(|i| report(&format!("storm-{i}"), "SEV2", "storm"))
        .collect();
    let (s, _) = h.post_events("agent", body.join("\n")).await;
    assert_eq!(s, 200);
    let pd = r.until("/pd", "the grouped page", |g| !g.is_empty()).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(r.at("/pd").len(), 1, "one page for the burst");
    assert_eq!(r.at("/slack").len(), 1, "one message for the burst");
    let b = &pd[0].body;
    assert_eq!(b["dedup_key"], "INC-1");
    assert_eq!(b["payload"]["custom_details"]["grouped"], 200);
    assert!(
        b["payload"]["summary"]
            .as_str()
            .unwrap()
            .ends_with("(and 199 more)")
    );
    let text = r.at("/slack")[0].body["text"].as_str().unwrap().to_string();
    assert!(text.contains("… and 180 more"), "{text}");

    // The page stays open until the last incident it covers is resolved.
    for i in 1..=200 {
        let (s, _) = h
            .post(
                "responder",
                &format!("/v1/incidents/INC-{i}/resolve"),
                json!({"summary": "storm over"}),
                None,
            )
            .await;
        assert_eq!(s, 200);
        if i == 100 {
            tokio::time::sleep(Duration::from_millis(600)).await;
            assert_eq!(
                r.at("/pd").len(),
                1,
                "no resolve while 100 incidents are open"
            );
        }
    }
    let pd = r.until("/pd", "one resolve", |g| g.len() == 2).await;
    assert_eq!(pd[1].body["event_action"], "resolve");
    assert_eq!(pd[1].body["dedup_key"], "INC-1");
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(r.at("/pd").len(), 2);
    h.hub.stop().await;
}

#[tokio::test]
async fn a_failing_receiver_is_retried_and_shows_failing_on_the_incident() {
    let r = Receiver::start().await;
    r.fail_next(2);
    let h = hub_paging(format!(
        r#"{}
[[route]]
events = ["incident.opened"]
receivers = ["payments-pd"]
group_wait = "0s"
"#,
        receivers(&r.url)
    ))
    .await;
    h.post_events("agent", report("refund-bot", "SEV1", "down"))
        .await;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let failing = loop {
        let i = incident(&h, "INC-1").await;
        if let Some(p) = i["pages"].as_array().and_then(|p| p.first())
            && p["state"] == "failing"
        {
            break p.clone();
        }
        assert!(std::time::Instant::now() < deadline, "never failing: {i}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(failing["receiver"], "payments-pd");
    assert_eq!(failing["error"], "HTTP 503 Service Unavailable");
    let pd = r
        .until("/pd", "the page after retries", |g| !g.is_empty())
        .await;
    assert_eq!(pd.len(), 1);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let i = incident(&h, "INC-1").await;
        if i["pages"][0]["state"] == "delivered" {
            assert!(i["pages"][0].get("error").is_none());
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{i}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (_, audit) = h.get("lead", "/v1/audit?limit=200").await;
    let actions: Vec<&str> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["action"].as_str())
        .filter(|a| a.starts_with("notify."))
        .collect();
    assert_eq!(
        actions,
        ["notify.failing", "notify.delivered"],
        "one failing entry, not one per retry"
    );
    h.hub.stop().await;
}

#[tokio::test]
async fn approvals_controls_the_fleet_stop_and_the_incident_owner_are_paged() {
    let r = Receiver::start().await;
    let h = hub_paging(format!(
        r#"{}
[[receiver]]
name = "payments"
kind = "webhook"
url = "{}/owner"
secret = "owner-secret"

[[route]]
events = ["approval.waiting", "approval.expired", "control.applied", "control.lifted", "fleet.stopped"]
receivers = ["audit-hook"]
group_wait = "0s"
min_wait = "1s"

[[route]]
events = ["incident.opened"]
incident_owner = true
group_wait = "0s"
"#,
        receivers(&r.url),
        r.url
    ))
    .await;
    // The inventory names the incident owner's contact: webhook "payments".
    let (s, body) = h
        .put_json(
            "bot",
            "/v1/agents/refund-bot",
            &json!({"incident_owner": {"name": "payments-oncall", "contact": "webhook:payments"}}),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    h.post_events("agent", report("refund-bot", "SEV2", "owner hears"))
        .await;
    let owner = r
        .until("/owner", "the owner's page", |g| !g.is_empty())
        .await;
    assert_eq!(owner[0].body["notifications"][0]["subject"], "INC-1");
    agentdeck::hub::callbacks::verify(
        owner[0].signature.as_deref().unwrap(),
        "owner-secret",
        &owner[0].raw,
        Utc::now().timestamp(),
    )
    .unwrap();

    // An approval waiting past min_wait, then expiring.
    let now = Utc::now();
    let (s, _) = h
        .post_events(
            "agent",
            support::approval_line("refund-bot", "q1", now, now + chrono::Duration::seconds(3)),
        )
        .await;
    assert_eq!(s, 200);
    let events = |g: &[support::receiver::Captured]| -> Vec<String> {
        g.iter()
            .flat_map(|c| {
                c.body["notifications"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
            })
            .map(|n| {
                format!(
                    "{} {}",
                    n["event"].as_str().unwrap(),
                    n["subject"].as_str().unwrap()
                )
            })
            .collect()
    };
    r.until("/hook", "approval.waiting then expired", |g| {
        let e = events(g);
        e.contains(&"approval.waiting APR-1".to_string())
            && e.contains(&"approval.expired APR-1".to_string())
    })
    .await;
    let waiting = events(&r.at("/hook"))
        .iter()
        .filter(|e| e.starts_with("approval.waiting"))
        .count();
    assert_eq!(waiting, 1, "waiting is said once");

    // A control applied and lifted, and the emergency stop.
    let (s, body) = h
        .post(
            "responder",
            "/v1/controls",
            json!({"agent": "refund-bot", "kind": "disable_tool", "tool": "issue_refund", "reason": "double refunds"}),
            None,
        )
        .await;
    assert_eq!(s, 201, "{body}");
    let id = body["id"].as_str().unwrap().to_string();
    let r2 = h
        .http
        .delete(h.url(&format!("/v1/controls/{id}")))
        .bearer_auth(h.token("responder"))
        .send()
        .await
        .unwrap();
    assert_eq!(r2.status(), 200);
    let (s, _) = h
        .post(
            "lead",
            "/v1/controls",
            json!({"agent": "*", "kind": "pause_agent", "reason": "runaway"}),
            None,
        )
        .await;
    assert_eq!(s, 201);
    let got = r
        .until("/hook", "the control events", |g| {
            let e = events(g);
            e.contains(&format!("control.applied {id}"))
                && e.contains(&format!("control.lifted {id}"))
                && e.iter().any(|x| x.starts_with("fleet.stopped"))
        })
        .await;
    let stop = got
        .iter()
        .flat_map(|c| {
            c.body["notifications"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .find(|n| n["event"] == "fleet.stopped")
        .unwrap();
    assert_eq!(stop["agent"], "*");
    assert!(
        stop["title"].as_str().unwrap().contains("runaway"),
        "{stop}"
    );
    h.hub.stop().await;
}

#[tokio::test]
async fn an_unacknowledged_page_is_sent_again_after_repeat_interval_under_the_same_key() {
    let r = Receiver::start().await;
    let h = hub_paging(format!(
        r#"{}
[[route]]
events = ["incident.opened"]
receivers = ["payments-pd"]
group_wait = "0s"
repeat_interval = "1s"
"#,
        receivers(&r.url)
    ))
    .await;
    h.post_events("agent", report("refund-bot", "SEV1", "nobody answers"))
        .await;
    let pd = r.until("/pd", "a reminder", |g| g.len() >= 2).await;
    assert!(
        pd.iter()
            .all(|c| c.body["dedup_key"] == "INC-1" && c.body["event_action"] == "trigger")
    );
    assert_eq!(
        pd[1].body["payload"]["custom_details"]["state"],
        "triggered"
    );
    // Acknowledged: the reminders stop.
    let (s, _) = h
        .post("responder", "/v1/incidents/INC-1/ack", json!({}), None)
        .await;
    assert_eq!(s, 200);
    r.until("/pd", "the acknowledge", |g| {
        g.iter().any(|c| c.body["event_action"] == "acknowledge")
    })
    .await;
    let n = r.at("/pd").len();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(r.at("/pd").len(), n, "no reminder after the acknowledge");
    h.hub.stop().await;
}

#[tokio::test]
async fn a_snoozed_incident_escalates_only_when_its_snooze_ends() {
    let r = Receiver::start().await;
    let h = hub_paging(format!(
        r#"{}
[[escalation]]
ack_timeout = "1s"
receivers = ["audit-hook"]
"#,
        receivers(&r.url)
    ))
    .await;
    h.post_events("agent", report("refund-bot", "SEV2", "snoozed"))
        .await;
    let (s, body) = h
        .post(
            "responder",
            "/v1/incidents/INC-1/snooze",
            json!({"for_s": 60, "reason": "vendor fix at 03:45"}),
            None,
        )
        .await;
    assert_eq!(s, 200, "{body}");
    assert!(body["snoozed_until"].is_string(), "{body}");
    tokio::time::sleep(Duration::from_millis(2000)).await;
    assert!(r.at("/hook").is_empty(), "no escalation while snoozed");
    // Woken: the level pages at once (its ack_timeout passed long ago).
    let (s, _) = h
        .post(
            "responder",
            "/v1/incidents/INC-1/snooze",
            json!({"for_s": 0}),
            None,
        )
        .await;
    assert_eq!(s, 200);
    let hook = r
        .until("/hook", "level 1 after the snooze", |g| !g.is_empty())
        .await;
    assert_eq!(
        hook[0].body["notifications"][0]["event"],
        "incident.escalated"
    );
    // Out of range: refused, naming the field.
    let (s, body) = h
        .post(
            "responder",
            "/v1/incidents/INC-1/snooze",
            json!({"for_s": 5}),
            None,
        )
        .await;
    assert_eq!(s, 400);
    assert!(body["error"].as_str().unwrap().contains("for_s"), "{body}");
    h.hub.stop().await;
}
