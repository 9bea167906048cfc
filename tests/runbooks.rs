//! Runbooks: the file format, the shipped runbooks, validation errors that
//! name file, line and problem, and running steps through a real hub.

mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use agentdeck::model::incident::{Category, Severity};
use agentdeck::model::role::Role;
use agentdeck::model::runbook::{Runbook, StepAction};
use agentdeck::runbook::{Library, load_dir, parse};
use serde_json::{Value, json};
use support::{Options, StreamClient};

fn repo_runbooks() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("runbooks")
}

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap();
}

const SAMPLE: &str = r#"+++
categories = ["tool_failure", "drift"]
agents = ["refund-bot"]
owner = "payments-oncall"
version = "7"
+++

# Refund tool down

Some words about the runbook; an action in prose outside a
list would be an error, so there is none here.

1. Not a task: an ordered list item is prose.

- [ ] Say who is on it
- [ ] Disable the refund tool `run: disable_tool issue_refund` now.
- [x] Pin the prompt back
  ```run
  pin_version prompt:v7
  ```
- [ ] Tell the lead
  - [ ] a nested step counts too `run: page lead`
- [ ] Raise it `run: escalate SEV1`
"#;

#[test]
fn a_runbook_parses_front_matter_title_and_steps_with_their_lines() {
    let r = parse("x/refund.md", "refund", SAMPLE).unwrap();
    assert_eq!(r.name, "refund");
    assert_eq!(r.title, "Refund tool down");
    assert_eq!(r.categories, ["tool_failure", "drift"]);
    assert_eq!(r.agents, ["refund-bot"]);
    assert_eq!(r.owner, "payments-oncall");
    assert_eq!(r.version, "7");
    assert!(r.body.starts_with("\n# Refund tool down"), "{:?}", r.body);
    let got: Vec<(u32, u32, &str, Option<&StepAction>)> = r
        .steps
        .iter()
        .map(|s| (s.index, s.line, s.text.as_str(), s.action.as_ref()))
        .collect();
    let tool = StepAction::DisableTool {
        tool: "issue_refund".into(),
    };
    let pin = StepAction::PinVersion {
        version: "prompt:v7".into(),
    };
    let page = StepAction::Page { role: Role::Lead };
    let esc = StepAction::Escalate {
        severity: Severity::Sev1,
    };
    assert_eq!(
        got,
        vec![
            (1, 15, "Say who is on it", None),
            (2, 16, "Disable the refund tool now.", Some(&tool)),
            (3, 17, "Pin the prompt back", Some(&pin)),
            (4, 21, "Tell the lead", None),
            (5, 22, "a nested step counts too", Some(&page)),
            (6, 23, "Raise it", Some(&esc)),
        ]
    );
}

#[test]
fn the_shipped_runbooks_load_and_cover_every_category_but_other() {
    let all = load_dir(&repo_runbooks()).unwrap_or_else(|errors| {
        panic!(
            "shipped runbooks are invalid:\n{}",
            errors
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        )
    });
    let covered: BTreeSet<&str> = all
        .iter()
        .flat_map(|r| r.categories.iter().map(String::as_str))
        .collect();
    for c in [
        "hallucination_low_impact",
        "hallucination_customer_impact",
        "unsafe_action",
        "tool_failure",
        "data_corruption",
        "drift",
        "slo_burn",
    ] {
        assert!(covered.contains(c), "no shipped runbook for {c}");
    }
    assert_eq!(all.len(), 7);
    for r in &all {
        assert!(!r.title.is_empty() && !r.owner.is_empty() && !r.version.is_empty());
        assert!(
            r.steps.len() >= 5,
            "{} has only {} steps",
            r.name,
            r.steps.len()
        );
        assert!(
            r.steps.iter().any(|s| s.action.is_some()),
            "{} has no pre-approved action",
            r.name
        );
        assert!(
            r.steps.iter().any(|s| s.action.is_none()),
            "{} has no hand step",
            r.name
        );
        for heading in ["## Triage", "## Verification", "## Exit criteria"] {
            assert!(r.body.contains(heading), "{} lacks {heading:?}", r.name);
        }
    }
    // The compiled-in copies are these files.
    let shipped = agentdeck::runbook::shipped().unwrap();
    assert_eq!(
        shipped.iter().map(|r| &r.name).collect::<Vec<_>>(),
        all.iter().map(|r| &r.name).collect::<Vec<_>>()
    );
    assert_eq!(
        shipped.iter().map(|r| &r.body).collect::<Vec<_>>(),
        all.iter().map(|r| &r.body).collect::<Vec<_>>()
    );
    // Each category links to the runbook of its own name.
    let lib = Library::new(all);
    for c in [Category::ToolFailure, Category::SloBurn, Category::Drift] {
        assert_eq!(lib.find(c, Some("refund-bot")).unwrap().name, c.as_str());
    }
    assert!(lib.find(Category::Other, None).is_none());
}

#[test]
fn invalid_runbooks_are_reported_with_file_line_and_problem() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "README.md", "not a runbook: skipped\n");
    write(d, "notes.txt", "not Markdown: skipped\n");
    write(d, "a_no_front.md", "# Title\n\n- [ ] step\n");
    write(
        d,
        "b_category.md",
        "+++\ncategories = [\"tool_failure\", \"halucination\"]\nowner = \"x\"\nversion = \"1\"\n+++\n# T\n- [ ] step\n",
    );
    write(
        d,
        "c_action.md",
        "+++\ncategories = [\"drift\"]\nowner = \"x\"\nversion = \"1\"\n+++\n# T\n\n- [ ] ok\n- [ ] bad `run: reboot_everything`\n- [ ] tool `run: disable_tool bad!tool`\n",
    );
    write(
        d,
        "d_missing.md",
        "+++\ncategories = [\"drift\"]\nversion = \"1\"\n+++\n# T\n- [ ] step\n",
    );
    write(
        d,
        "e_toml.md",
        "+++\ncategories = [\"drift\"]\nowner = \"x\nversion = \"1\"\n+++\n# T\n- [ ] step\n",
    );
    write(
        d,
        "f_unknown_key.md",
        "+++\ncategories = [\"drift\"]\nowner = \"x\"\nversion = \"1\"\nseverity = \"SEV1\"\n+++\n# T\n- [ ] step\n",
    );
    write(
        d,
        "g_fence.md",
        "+++\ncategories = [\"drift\"]\nowner = \"x\"\nversion = \"1\"\n+++\n# T\n\n```run\npause_agent\n```\n\n- [ ] two actions `run: pause_agent` `run: page lead`\n",
    );
    write(
        d,
        "h_unclosed.md",
        "+++\ncategories = [\"drift\"]\n# T\n- [ ] step\n",
    );
    write(
        d,
        "i_no_steps.md",
        "+++\ncategories = [\"drift\"]\nowner = \"x\"\nversion = \"1\"\n+++\n# T\n\nJust prose.\n",
    );
    let errors = load_dir(d).unwrap_err();
    let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
    let p = |f: &str| d.join(f).display().to_string();
    let expect = [
        format!("{}:1: no front matter", p("a_no_front.md")),
        format!(
            "{}:2: unknown category \"halucination\"",
            p("b_category.md")
        ),
        format!(
            "{}:9: unknown action \"reboot_everything\"",
            p("c_action.md")
        ),
        format!("{}:10: tool name \"bad!tool\" is invalid", p("c_action.md")),
        format!(
            "{}:4: missing front matter field `owner`",
            p("d_missing.md")
        ),
        format!("{}:3: front matter:", p("e_toml.md")),
        format!(
            "{}:5: front matter: unknown field `severity`",
            p("f_unknown_key.md")
        ),
        format!("{}:9: an action outside a checklist step", p("g_fence.md")),
        format!("{}:12: a step carries one action", p("g_fence.md")),
        format!(
            "{}:1: the front matter opened on line 1 is never closed",
            p("h_unclosed.md")
        ),
        format!("{}:6: no checklist steps", p("i_no_steps.md")),
    ];
    for want in &expect {
        assert!(
            text.iter().any(|t| t.starts_with(want.as_str())),
            "no error starting {want:?} in:\n{}",
            text.join("\n")
        );
    }
    assert_eq!(text.len(), expect.len(), "{}", text.join("\n"));
    assert!(
        !text
            .iter()
            .any(|t| t.contains("README") || t.contains("notes.txt"))
    );
}

#[test]
fn the_most_specific_runbook_wins_then_the_first_by_name() {
    let rb = |name: &str, agents: &[&str]| -> Runbook {
        let text = format!(
            "+++\ncategories = [\"tool_failure\"]\nagents = {agents:?}\nowner = \"o\"\nversion = \"1\"\n+++\n# {name}\n- [ ] step\n"
        );
        parse(name, name, &text).unwrap()
    };
    let lib = Library::new(vec![
        rb("zz_generic", &[]),
        rb("aa_generic", &[]),
        rb("refund_only", &["refund-bot"]),
    ]);
    let name = |agent| {
        lib.find(Category::ToolFailure, agent)
            .map(|r| r.name.as_str())
    };
    assert_eq!(name(Some("refund-bot")), Some("refund_only"));
    assert_eq!(name(Some("triage-bot")), Some("aa_generic"));
    assert_eq!(name(None), Some("aa_generic"));
    assert_eq!(lib.find(Category::Drift, None), None);
}

fn step_of(runbook: &Value, f: impl Fn(&Value) -> bool) -> u64 {
    runbook["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| f(s))
        .unwrap_or_else(|| panic!("no such step in {runbook}"))["index"]
        .as_u64()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn steps_run_through_the_hub_end_to_end() {
    let h = support::start_with(Options {
        runbooks: load_dir(&repo_runbooks()).unwrap(),
        ..Options::default()
    })
    .await;

    // Every operator reads the runbooks; agents do not.
    let (s, list) = h.get("viewer", "/v1/runbooks").await;
    assert_eq!(s, 200, "{list}");
    assert_eq!(list["runbooks"].as_array().unwrap().len(), 7);
    assert_eq!(h.get("agent", "/v1/runbooks").await.0, 403);
    let runbook = list["runbooks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "tool_failure")
        .unwrap()
        .clone();
    assert!(runbook["body"].as_str().unwrap().contains("## Triage"));
    let disable = step_of(&runbook, |s| s["action"]["kind"] == "disable_tool");
    let hand = step_of(&runbook, |s| s.get("action").is_none());
    let tool = runbook["steps"][(disable - 1) as usize]["action"]["tool"]
        .as_str()
        .unwrap()
        .to_string();

    let (s, inc) = h
        .post(
            "responder",
            "/v1/incidents",
            json!({"title": "lookup_order times out", "severity": "SEV2", "category": "tool_failure", "agent": "refund-bot"}),
            None,
        )
        .await;
    assert_eq!(s, 201, "{inc}");
    assert_eq!(inc["runbook"], "tool_failure");
    let id = inc["id"].as_str().unwrap().to_string();
    let steps = format!("/v1/incidents/{id}/steps");

    let mut stream = StreamClient::open(&h, "viewer", None).await;
    let _snapshot = stream.next(Duration::from_secs(10)).await.unwrap();

    // A viewer may not run steps, and is told which roles may.
    let (s, body) = h
        .post("viewer", &steps, json!({"step": disable}), None)
        .await;
    assert_eq!(s, 403, "{body}");
    assert_eq!(body["needs"], json!(["responder", "lead"]));
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("responder or lead")
    );

    // The action step applies the control for the incident's agent.
    let (s, after) = h
        .post("responder", &steps, json!({"step": disable}), Some("k-1"))
        .await;
    assert_eq!(s, 200, "{after}");
    let record = &after["steps"][0];
    assert_eq!(record["runbook"], "tool_failure");
    assert_eq!(record["step"], disable);
    assert_eq!(record["by"], "responder");
    let control = record["control"].as_str().unwrap().to_string();
    assert_eq!(record["result"], format!("control {control} applied"));
    assert_eq!(after["state"], "contained");
    assert_eq!(after["controls"], json!([control]));
    // The same Idempotency-Key gets the same answer, applied once.
    let (s, again) = h
        .post("responder", &steps, json!({"step": disable}), Some("k-1"))
        .await;
    assert_eq!((s, &again), (200, &after));

    let (s, controls) = h.get("lead", "/v1/agents/refund-bot/controls").await;
    assert_eq!(s, 200);
    let c = &controls["controls"][0];
    assert_eq!(
        controls["controls"].as_array().unwrap().len(),
        1,
        "{controls}"
    );
    assert_eq!(c["id"], control.as_str());
    assert_eq!(c["kind"], "disable_tool");
    assert_eq!(c["tool"], tool.as_str());
    assert_eq!(c["incident"], id.as_str());
    assert!(
        c["reason"]
            .as_str()
            .unwrap()
            .starts_with("runbook tool_failure step")
    );

    // Every operator sees the step on the incident delta.
    let delta = loop {
        let e = stream
            .next(Duration::from_secs(10))
            .await
            .expect("the incident delta with the step");
        let done = e.event == "incident"
            && e.data["id"] == id.as_str()
            && e.data["steps"].as_array().is_some_and(|s| !s.is_empty());
        if done {
            break e;
        }
    };
    // An open stream would hold the hub's graceful stop.
    drop(stream);
    assert_eq!(delta.data["steps"][0]["control"], control.as_str());

    // A hand step is ticked.
    let (s, after) = h.post("lead", &steps, json!({"step": hand}), None).await;
    assert_eq!(s, 200, "{after}");
    let ticked = &after["steps"][1];
    assert_eq!(ticked["step"], hand);
    assert_eq!(ticked["by"], "lead");
    assert_eq!(ticked["result"], "done by hand");
    assert!(ticked.get("control").is_none());

    // A step done once is refused, naming who did it and when.
    let (s, body) = h.post("lead", &steps, json!({"step": disable}), None).await;
    assert_eq!(s, 409, "{body}");
    let message = body["error"].as_str().unwrap();
    assert!(
        message.contains(&format!(
            "step {disable} of runbook tool_failure was already done on {id} by responder at "
        )),
        "{message}"
    );
    assert_eq!(body["current"]["steps"].as_array().unwrap().len(), 2);

    // Unknown step, unknown incident, bad body.
    let (s, body) = h.post("lead", &steps, json!({"step": 99}), None).await;
    assert_eq!(s, 404, "{body}");
    assert!(body["error"].as_str().unwrap().contains("no step 99"));
    let (s, _) = h
        .post(
            "lead",
            "/v1/incidents/INC-999/steps",
            json!({"step": 1}),
            None,
        )
        .await;
    assert_eq!(s, 404);
    let (s, _) = h
        .post("lead", &steps, json!({"step": 1, "x": 2}), None)
        .await;
    assert_eq!(s, 400);

    // The audit log has the step and the control.
    let (_, audit) = h.get("lead", "/v1/audit?after=0&limit=1000").await;
    let entries = audit["entries"].as_array().unwrap();
    let find = |action: &str| {
        entries
            .iter()
            .find(|e| {
                e["action"] == action
                    && (e["subject"] == id.as_str() || e["subject"] == control.as_str())
            })
            .unwrap_or_else(|| panic!("no {action} in the audit log"))
    };
    let step_entry = find("runbook.step");
    assert_eq!(step_entry["actor"], "responder");
    assert_eq!(step_entry["details"]["step"], disable);
    assert_eq!(step_entry["details"]["control"], control.as_str());
    assert_eq!(
        step_entry["details"]["action"],
        format!("disable_tool {tool}")
    );
    assert_eq!(find("control.applied")["details"]["incident"], id.as_str());
    assert_eq!(
        entries
            .iter()
            .filter(|e| e["action"] == "runbook.step")
            .count(),
        2
    );

    // A resolved incident takes no more steps.
    let (s, _) = h
        .post(
            "lead",
            &format!("/v1/incidents/{id}/resolve"),
            json!({"summary": "tool back"}),
            None,
        )
        .await;
    assert_eq!(s, 200);
    let (s, body) = h.post("lead", &steps, json!({"step": 1}), None).await;
    assert_eq!(s, 409, "{body}");
    assert!(body["error"].as_str().unwrap().contains("it is resolved"));

    h.hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn escalate_and_page_steps_act_like_the_operator_actions() {
    let h = support::start_with(Options {
        runbooks: load_dir(&repo_runbooks()).unwrap(),
        ..Options::default()
    })
    .await;
    let (_, list) = h.get("lead", "/v1/runbooks").await;
    let runbook = list["runbooks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "unsafe_action")
        .unwrap()
        .clone();
    let page = step_of(&runbook, |s| s["action"]["kind"] == "page");
    let escalate = step_of(&runbook, |s| s["action"]["kind"] == "escalate");
    let (_, inc) = h
        .post(
            "lead",
            "/v1/incidents",
            json!({"title": "refund over limit", "severity": "SEV3", "category": "unsafe_action", "agent": "refund-bot"}),
            None,
        )
        .await;
    let id = inc["id"].as_str().unwrap().to_string();
    let steps = format!("/v1/incidents/{id}/steps");

    let (s, after) = h
        .post("responder", &steps, json!({"step": escalate}), None)
        .await;
    assert_eq!(s, 200, "{after}");
    assert_eq!(after["severity"], "SEV1");
    assert_eq!(after["steps"][0]["result"], "escalated SEV3 → SEV1");

    let (s, after) = h
        .post("responder", &steps, json!({"step": page}), None)
        .await;
    assert_eq!(s, 200, "{after}");
    assert_eq!(after["steps"][1]["result"], "paged lead");
    let last = after["timeline"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last["kind"], "note");
    assert!(
        last["text"].as_str().unwrap().ends_with(": paged lead"),
        "{last}"
    );

    let (_, audit) = h.get("lead", "/v1/audit?after=0&limit=1000").await;
    let actions: Vec<&str> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["subject"] == id.as_str())
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "incident.opened",
            "incident.escalated",
            "runbook.step",
            "incident.paged",
            "runbook.step"
        ]
    );

    // An incident of a category with no runbook has no steps to run.
    let (_, other) = h
        .post(
            "lead",
            "/v1/incidents",
            json!({"title": "odd", "severity": "SEV4", "category": "other"}),
            None,
        )
        .await;
    assert_eq!(other["runbook"], "other");
    let (s, body) = h
        .post(
            "lead",
            &format!("/v1/incidents/{}/steps", other["id"].as_str().unwrap()),
            json!({"step": 1}),
            None,
        )
        .await;
    assert_eq!(s, 404, "{body}");
    assert!(body["error"].as_str().unwrap().contains("has no runbook"));
    h.hub.stop().await;
}

#[test]
fn serve_refuses_to_start_on_a_bad_runbook_naming_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let books = dir.path().join("books");
    std::fs::create_dir(&books).unwrap();
    write(
        &books,
        "tool_failure.md",
        "+++\ncategories = [\"tool_failure\"]\nowner = \"x\"\nversion = \"1\"\n+++\n# T\n\n- [ ] fine\n- [ ] broken `run: disable_tool`\n",
    );
    let tokens = dir.path().join("tokens.toml");
    std::fs::write(
        &tokens,
        agentdeck::hub::auth::token_entry_toml("lead", Role::Lead, "adk_test_serve_lead"),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_agentdeck"))
        .args(["serve", "--listen", "127.0.0.1:0", "--db"])
        .arg(dir.path().join("hub.db"))
        .arg("--tokens")
        .arg(&tokens)
        .arg("--runbooks")
        .arg(&books)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    let want = format!(
        "{}:9: action disable_tool needs the tool",
        books.join("tool_failure.md").display()
    );
    assert!(stderr.contains(&want), "{want:?} not in:\n{stderr}");
    assert!(!stderr.contains("listening"));
}
