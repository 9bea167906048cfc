//! Incoming alerts over real HTTP: Prometheus Alertmanager's webhook
//! payload (version 4, as Alertmanager 0.27 sends it) opens an incident,
//! its repeats update it, its resolution resolves it; the `alerts` role
//! may post alerts and nothing else.

mod support;

use serde_json::{Value, json};
use support::{TestHub, start};

const PATH: &str = "/v1/alerts/alertmanager";

fn payload(status: &str, alerts: Value) -> Value {
    json!({
        "version": "4",
        "groupKey": "{}/{agent=~\".+\"}:{alertname=\"ToolErrors\"}",
        "truncatedAlerts": 0,
        "status": status,
        "receiver": "agentdeck",
        "groupLabels": {"alertname": "ToolErrors"},
        "commonLabels": {"alertname": "ToolErrors", "severity": "critical"},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "alerts": alerts,
    })
}

fn alert(status: &str, fingerprint: &str, severity: &str) -> Value {
    json!({
        "status": status,
        "labels": {"alertname": "ToolErrors", "agent": "refund-bot", "severity": severity, "instance": "payments-api:8080", "job": "payments"},
        "annotations": {"summary": "payments API answers 5xx to refund-bot", "runbook_url": "https://wiki/payments-5xx"},
        "startsAt": "2026-12-04T03:12:00Z",
        "endsAt": if status == "resolved" { "2026-12-04T03:40:00Z" } else { "0001-01-01T00:00:00Z" },
        "generatorURL": "http://prometheus:9090/graph?g0.expr=rate%28errors%5B5m%5D%29",
        "fingerprint": fingerprint,
    })
}

async fn incidents(h: &TestHub) -> Vec<Value> {
    h.state().await["incidents"].as_array().unwrap().clone()
}

#[tokio::test]
async fn a_firing_alert_opens_an_incident_its_repeats_update_it_and_resolution_resolves_it() {
    let h = start().await;
    let (s, body) = h
        .post(
            "alerts",
            PATH,
            payload("firing", json!([alert("firing", "c0ffee01", "warning")])),
            None,
        )
        .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["opened"], json!(["INC-1"]));
    let i = &incidents(&h).await[0];
    assert_eq!(i["source"], "alertmanager");
    assert_eq!(i["severity"], "SEV3");
    assert_eq!(i["agent"], "refund-bot");
    assert_eq!(
        i["title"],
        "ToolErrors: payments API answers 5xx to refund-bot"
    );
    assert_eq!(i["external"]["fingerprint"], "c0ffee01");
    assert_eq!(i["external"]["labels"]["instance"], "payments-api:8080");
    let note = i["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["kind"] == "note")
        .unwrap();
    assert!(
        note["text"]
            .as_str()
            .unwrap()
            .contains("alertname=ToolErrors instance=payments-api:8080 job=payments"),
        "{note}"
    );
    assert!(
        note["text"]
            .as_str()
            .unwrap()
            .contains("runbook https://wiki/payments-5xx")
    );

    // Alertmanager repeats the group every repeat_interval: no duplicate.
    let (_, body) = h
        .post(
            "alerts",
            PATH,
            payload("firing", json!([alert("firing", "c0ffee01", "warning")])),
            None,
        )
        .await;
    assert_eq!(body["repeated"], 1, "{body}");
    assert_eq!(incidents(&h).await.len(), 1);
    // Worse now: the same incident is raised.
    let (_, body) = h
        .post(
            "alerts",
            PATH,
            payload("firing", json!([alert("firing", "c0ffee01", "critical")])),
            None,
        )
        .await;
    assert_eq!(body["updated"], json!(["INC-1"]), "{body}");
    assert_eq!(incidents(&h).await[0]["severity"], "SEV1");

    let (_, body) = h
        .post(
            "alerts",
            PATH,
            payload(
                "resolved",
                json!([alert("resolved", "c0ffee01", "critical")]),
            ),
            None,
        )
        .await;
    assert_eq!(body["resolved"], json!(["INC-1"]), "{body}");
    assert!(
        incidents(&h).await.is_empty(),
        "resolved incidents leave the state"
    );
    let (_, audit) = h.get("lead", "/v1/audit?limit=100").await;
    let resolved = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "incident.resolved")
        .unwrap()
        .clone();
    assert_eq!(resolved["subject"], "INC-1");
    assert_eq!(
        resolved["details"]["summary"],
        "resolved in Alertmanager at 2026-12-04 03:40:00Z"
    );

    // Firing again after resolution is a new incident; a second
    // fingerprint in the same payload is another.
    let (_, body) = h
        .post(
            "alerts",
            PATH,
            payload(
                "firing",
                json!([
                    alert("firing", "c0ffee01", "critical"),
                    alert("firing", "beef0002", "info")
                ]),
            ),
            None,
        )
        .await;
    assert_eq!(body["opened"], json!(["INC-2", "INC-3"]), "{body}");
    let (_, audit) = h.get("lead", "/v1/audit?limit=100").await;
    let opened_by: Vec<&str> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "incident.opened")
        .map(|e| e["actor"].as_str().unwrap())
        .collect();
    assert_eq!(opened_by, ["alerts", "alerts", "alerts"]);
    h.hub.stop().await;
}

#[tokio::test]
async fn bad_payloads_are_refused_naming_the_field_and_the_role_is_narrow() {
    let h = start().await;
    let cases = [
        (json!({"version": "3", "alerts": []}), "version \"3\""),
        (
            payload("firing", json!([{"status": "pending"}])),
            "alerts[0].status",
        ),
        (
            payload(
                "firing",
                json!([{"status": "firing", "labels": {"agent": "x\u{1b}[2J"}}]),
            ),
            "alerts[0].labels.agent",
        ),
        (json!({"version": "4"}), "alerts"),
    ];
    for (body, needle) in cases {
        let (s, answer) = h.post("alerts", PATH, body, None).await;
        assert_eq!(s, 400, "{answer}");
        assert!(
            answer["error"].as_str().unwrap().contains(needle),
            "{needle}: {answer}"
        );
    }
    assert!(incidents(&h).await.is_empty());
    // The alerts token posts alerts and nothing else.
    let (s, _) = h.get("alerts", "/v1/state").await;
    assert_eq!(s, 403);
    let (s, _) = h.post_events("alerts", String::new()).await;
    assert_eq!(s, 403);
    let (s, _) = h
        .post("viewer", PATH, payload("firing", json!([])), None)
        .await;
    assert_eq!(s, 403);
    h.hub.stop().await;
}
