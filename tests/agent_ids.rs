//! Agent ids that need percent-encoding in a path, over real HTTP: every
//! client builds paths from `model::api`, so an agent named `team/bot`
//! reaches its own routes (it got a 404 from its drill-down when paths were
//! spelled by hand), and characters the protocol refuses in ids (space,
//! `%`, non-ASCII: look-alikes must not name an agent) are refused by name
//! however they are encoded, never mistaken for another agent.

mod support;

use agentdeck::client::hub::{Call, Hub, HubError};
use agentdeck::model::action::ControlRequest;
use agentdeck::model::api;
use agentdeck::model::control::ControlKind;
use chrono::Utc;
use serde_json::json;

/// An agent id with every separator the id alphabet allows.
const AGENT: &str = "team/payments:refund@eu.west_2-bot";

fn profile() -> serde_json::Value {
    json!({
        "business_owner": {"name": "Payments", "contact": "#payments"},
        "incident_owner": {"name": "payments-oncall", "contact": "pagerduty:payments"},
        "criticality": "high",
        "autonomy": "act_autonomously",
        "environment": "production",
        "tools": [{"name": "issue_refund", "access": ["write", "money"]}],
        "data_sensitivity": "restricted",
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_named_with_slashes_registers_drills_down_and_is_contained() {
    let hub = support::start().await;
    // Registered by the agent token, at the encoded path.
    let path = api::AGENT.path(&[AGENT]);
    assert!(path.contains("%2F"), "{path}");
    let (status, answer) = hub.put_json("agent", &path, &profile()).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["id"], AGENT, "{answer}");
    // Seen through an event too.
    let (status, answer) = hub
        .post_events(
            "agent",
            support::run_line(AGENT, "r-1", "success", Utc::now()),
        )
        .await;
    assert_eq!((status, answer["accepted"].clone()), (200, json!(1)));

    // The drill-down, through the TUI's own client.
    let client = Hub::new(support::client(), &hub.hub.url(), hub.token("lead"));
    let detail = client.agent_detail(AGENT).await.expect("the drill-down");
    assert_eq!(detail.agent.id, AGENT);
    assert!(detail.agent.profile.is_some(), "registered: {detail:?}");

    // Containment, as the TUI sends it.
    let call = Call::Control(ControlRequest {
        agent: AGENT.into(),
        kind: ControlKind::ForceFallback,
        tool: None,
        version: None,
        reason: "refunds look wrong".into(),
        ttl_s: Some(600),
        incident: None,
    });
    let control = client
        .send(&call.request(1), std::time::Duration::from_secs(10))
        .await
        .expect("the control is applied");
    assert_eq!(control["agent"], AGENT, "{control}");
    // The agent reads it at its own encoded path.
    let (status, answer) = hub.get("agent", &api::AGENT_CONTROLS.path(&[AGENT])).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["agent"], AGENT);
    assert_eq!(answer["controls"][0]["kind"], "force_fallback", "{answer}");
    // And lifting it by id works the same way.
    let id = control["id"].as_str().expect("a control id").to_string();
    let lifted = client
        .send(
            &Call::Lift(id.clone()).request(2),
            std::time::Duration::from_secs(10),
        )
        .await
        .expect("lifted");
    assert_eq!(lifted["state"], "lifted", "{lifted}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ids_with_spaces_percent_or_non_ascii_are_refused_by_name_not_confused() {
    let hub = support::start().await;
    let client = Hub::new(support::client(), &hub.hub.url(), hub.token("lead"));
    for (agent, bad) in [
        ("team bot", ' '),
        ("team%2Fbot", '%'),
        ("caisse-é", 'é'),
        ("refund-bоt", 'о'), // a Cyrillic о: a look-alike of refund-bot
    ] {
        // Registration at the encoded path: 400 naming the character.
        let (status, answer) = hub
            .put_json("agent", &api::AGENT.path(&[agent]), &profile())
            .await;
        assert_eq!(status, 400, "{agent:?}: {answer}");
        let error = answer["error"].as_str().unwrap_or_default();
        assert!(
            error.contains("field \"agent\"") && error.contains(&format!("{bad:?}")),
            "{agent:?}: {error}"
        );
        // Events: refused on their line, naming the field.
        let (status, answer) = hub
            .post_events(
                "agent",
                support::run_line(agent, "r-1", "success", Utc::now()),
            )
            .await;
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["accepted"], 0, "{agent:?}: {answer}");
        assert!(
            answer["rejected"][0]["error"]
                .as_str()
                .is_some_and(|e| e.contains("\"agent\"")),
            "{agent:?}: {answer}"
        );
        // The drill-down: 404 naming exactly the agent asked for, not
        // another one the decoded path might have matched.
        match client.agent_detail(agent).await {
            Err(HubError::Refused { status: 404, body }) => {
                assert!(body.error.contains(&format!("{agent:?}")), "{body:?}")
            }
            other => panic!("{agent:?}: {other:?}"),
        }
        // Containment: 400 naming the field.
        let call = Call::Control(ControlRequest {
            agent: agent.into(),
            kind: ControlKind::PauseAgent,
            tool: None,
            version: None,
            reason: "test".into(),
            ttl_s: Some(60),
            incident: None,
        });
        match client
            .send(&call.request(1), std::time::Duration::from_secs(10))
            .await
        {
            Err(HubError::Refused { status: 400, body }) => {
                assert!(body.error.contains("agent"), "{body:?}")
            }
            other => panic!("{agent:?}: {other:?}"),
        }
    }
    let state = hub.state().await;
    assert!(
        state["agents"].as_array().is_some_and(|a| a.is_empty()),
        "{state}"
    );
    assert!(state["controls"].as_array().is_some_and(|c| c.is_empty()));
}
