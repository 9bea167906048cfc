//! `serve --notify PATH`: receivers (PagerDuty, Slack, webhooks), the
//! routes that pick which events reach them, and the escalation levels for
//! incidents nobody acknowledges. Parsed and checked whole before use: a
//! file with an error is refused with its line, and the hub keeps what it
//! had.

use std::collections::HashSet;
use std::time::Duration;

use serde::Deserialize;

use crate::config::parse_duration;
use crate::model::incident::Severity;

/// PagerDuty's Events API v2 endpoint.
pub const PAGERDUTY_EVENTS_URL: &str = "https://events.pagerduty.com/v2/enqueue";
/// How long a route waits for more events before it sends, by default.
pub const DEFAULT_GROUP_WAIT: Duration = Duration::from_secs(30);
/// How often a still-unacknowledged incident is paged again, by default.
pub const DEFAULT_REPEAT_INTERVAL: Duration = Duration::from_secs(4 * 3600);
/// Longest accepted file.
const MAX_FILE_BYTES: usize = 1 << 20;

/// Every event a route may name.
pub const EVENTS: &[&str] = &[
    "incident.opened",
    "incident.acknowledged",
    "incident.escalated",
    "incident.resolved",
    "approval.waiting",
    "approval.escalated",
    "approval.expired",
    "control.applied",
    "control.lifted",
    "fleet.stopped",
];

/// Where a receiver delivers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// PagerDuty Events API v2.
    Pagerduty,
    /// A Slack incoming webhook.
    Slack,
    /// Any HTTP endpoint: the JSON events, signed.
    Webhook,
}

impl Kind {
    /// The config name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pagerduty => "pagerduty",
            Self::Slack => "slack",
            Self::Webhook => "webhook",
        }
    }
}

/// One receiver, its secrets resolved.
#[derive(Clone, PartialEq, Eq)]
pub struct Receiver {
    /// Its name in routes, the TUI and the audit log.
    pub name: String,
    /// What it speaks.
    pub kind: Kind,
    /// Where it is posted.
    pub url: String,
    /// PagerDuty's integration (routing) key.
    pub routing_key: Option<String>,
    /// The webhook's HMAC key.
    pub secret: Option<String>,
}

impl std::fmt::Debug for Receiver {
    /// Secrets never reach a log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // A Slack webhook's path is its secret: only the host is shown.
        let host = url::Url::parse(&self.url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_string))
            .unwrap_or_default();
        f.debug_struct("Receiver")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("host", &host)
            .finish_non_exhaustive()
    }
}

/// One route: which events, for which incidents, go to whom.
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    /// `route 1`, `route 2`…: the grouping key and the name in the audit log.
    pub name: String,
    /// Events it takes.
    pub events: Vec<String>,
    /// Severities it takes (empty: all; events without one always pass).
    pub severity: Vec<Severity>,
    /// Agent patterns (`refund-*`; empty: all).
    pub agents: Vec<String>,
    /// Receivers by name.
    pub receivers: Vec<String>,
    /// Also the incident owner's contact from the inventory
    /// (`incident_owner.contact = "pagerduty:payments"`).
    pub incident_owner: bool,
    /// How long the first event of a group waits for others.
    pub group_wait: Duration,
    /// How often an incident nobody acknowledged is paged again.
    pub repeat_interval: Duration,
    /// `approval.waiting` is sent once an approval has waited this long.
    pub min_wait: Duration,
}

/// One escalation level.
#[derive(Debug, Clone, PartialEq)]
pub struct Level {
    /// Unacknowledged this long after the previous level (or the opening)
    /// pages this level.
    pub ack_timeout: Duration,
    /// Who.
    pub receivers: Vec<String>,
    /// Severities it applies to (empty: all).
    pub severity: Vec<Severity>,
}

/// The whole file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NotifyConfig {
    /// Receivers by name.
    pub receivers: Vec<Receiver>,
    /// Routes in file order.
    pub routes: Vec<Route>,
    /// Escalation levels in order.
    pub escalation: Vec<Level>,
    /// The hub's address as responders reach it, for the links in pages
    /// (default: the address it listens on).
    pub hub_url: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileForm {
    hub_url: Option<String>,
    #[serde(default)]
    receiver: Vec<ReceiverForm>,
    #[serde(default)]
    route: Vec<RouteForm>,
    #[serde(default)]
    escalation: Vec<LevelForm>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReceiverForm {
    name: String,
    kind: Kind,
    url: Option<String>,
    routing_key: Option<String>,
    secret: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RouteForm {
    events: Vec<String>,
    #[serde(default)]
    severity: Vec<String>,
    #[serde(default)]
    agents: Vec<String>,
    #[serde(default)]
    receivers: Vec<String>,
    #[serde(default)]
    incident_owner: bool,
    group_wait: Option<String>,
    repeat_interval: Option<String>,
    min_wait: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LevelForm {
    ack_timeout: String,
    receivers: Vec<String>,
    #[serde(default)]
    severity: Vec<String>,
}

impl NotifyConfig {
    /// Reads and checks `path`; `env` resolves `env:NAME` values.
    pub fn load(path: &std::path::Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read notify file {}: {e}", path.display()))?;
        Self::parse(&path.display().to_string(), &text, &|name| {
            std::env::var(name).ok()
        })
    }

    /// Parses and checks a notify file named `file` (for messages).
    pub fn parse(
        file: &str,
        text: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, String> {
        if text.len() > MAX_FILE_BYTES {
            return Err(format!("{file}: larger than {MAX_FILE_BYTES} bytes"));
        }
        let form: FileForm = toml::from_str(text).map_err(|e| format!("{file}: {e}"))?;
        let at = |what: String| format!("{file}: {what}");
        let mut receivers = Vec::new();
        let mut names = HashSet::new();
        for (i, r) in form.receiver.into_iter().enumerate() {
            let receiver = receiver(r, env).map_err(|e| at(format!("receiver {}: {e}", i + 1)))?;
            if !names.insert(receiver.name.clone()) {
                return Err(at(format!(
                    "receiver {:?} is declared twice",
                    receiver.name
                )));
            }
            receivers.push(receiver);
        }
        let known = |list: &[String], what: &str| -> Result<(), String> {
            match list.iter().find(|n| !names.contains(*n)) {
                Some(n) => Err(format!(
                    "{what} names receiver {n:?}, which is not declared"
                )),
                None => Ok(()),
            }
        };
        let mut routes = Vec::new();
        for (i, r) in form.route.into_iter().enumerate() {
            let name = format!("route {}", i + 1);
            known(&r.receivers, &name).map_err(at)?;
            routes.push(route(name.clone(), r).map_err(|e| at(format!("{name}: {e}")))?);
        }
        let mut escalation = Vec::new();
        for (i, l) in form.escalation.into_iter().enumerate() {
            let name = format!("escalation level {}", i + 1);
            known(&l.receivers, &name).map_err(at)?;
            let ack_timeout =
                duration(&l.ack_timeout, "ack_timeout").map_err(|e| at(format!("{name}: {e}")))?;
            escalation.push(Level {
                ack_timeout,
                receivers: l.receivers,
                severity: severities(&l.severity).map_err(|e| at(format!("{name}: {e}")))?,
            });
        }
        Ok(Self {
            receivers,
            routes,
            escalation,
            hub_url: form.hub_url,
        })
    }

    /// The receiver named `name`.
    pub fn receiver(&self, name: &str) -> Option<&Receiver> {
        self.receivers.iter().find(|r| r.name == name)
    }

    /// The receiver an inventory contact like `pagerduty:payments` names:
    /// the receiver `payments` of kind pagerduty.
    pub fn contact(&self, contact: &str) -> Option<&Receiver> {
        let (kind, name) = contact.split_once(':')?;
        self.receiver(name.trim())
            .filter(|r| r.kind.as_str() == kind.trim())
    }
}

fn receiver(r: ReceiverForm, env: &dyn Fn(&str) -> Option<String>) -> Result<Receiver, String> {
    crate::model::validate::name("name", &r.name).map_err(|e| e.to_string())?;
    let secret = |field: &str, v: Option<String>| -> Result<Option<String>, String> {
        match v {
            None => Ok(None),
            Some(v) => match v.strip_prefix("env:") {
                Some(var) => env(var)
                    .filter(|s| !s.is_empty())
                    .map(Some)
                    .ok_or_else(|| format!("{field}: environment variable {var} is not set")),
                None => Ok(Some(v)),
            },
        }
    };
    let routing_key = secret("routing_key", r.routing_key)?;
    let secret_key = secret("secret", r.secret)?;
    let url = match (r.kind, secret("url", r.url)?) {
        (_, Some(url)) => url,
        (Kind::Pagerduty, None) => PAGERDUTY_EVENTS_URL.to_string(),
        (kind, None) => return Err(format!("a {} receiver needs url", kind.as_str())),
    };
    let parsed = url::Url::parse(&url).map_err(|e| format!("url: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(format!("url: scheme {:?} (http or https)", parsed.scheme()));
    }
    if r.kind == Kind::Pagerduty && routing_key.is_none() {
        return Err("a pagerduty receiver needs routing_key".into());
    }
    if r.kind == Kind::Webhook && secret_key.is_none() {
        return Err("a webhook receiver needs secret (its bodies are signed)".into());
    }
    Ok(Receiver {
        name: r.name,
        kind: r.kind,
        url,
        routing_key,
        secret: secret_key,
    })
}

fn route(name: String, r: RouteForm) -> Result<Route, String> {
    if r.events.is_empty() {
        return Err("events is empty".into());
    }
    if let Some(e) = r.events.iter().find(|e| !EVENTS.contains(&e.as_str())) {
        return Err(format!(
            "unknown event {e:?} (one of {})",
            EVENTS.join(", ")
        ));
    }
    if r.receivers.is_empty() && !r.incident_owner {
        return Err("no receivers (and incident_owner is not set)".into());
    }
    let or = |v: Option<String>, field: &str, default: Duration| -> Result<Duration, String> {
        v.map_or(Ok(default), |v| duration(&v, field))
    };
    Ok(Route {
        name,
        events: r.events,
        severity: severities(&r.severity)?,
        agents: r.agents,
        receivers: r.receivers,
        incident_owner: r.incident_owner,
        group_wait: or(r.group_wait, "group_wait", DEFAULT_GROUP_WAIT)?,
        repeat_interval: or(
            r.repeat_interval,
            "repeat_interval",
            DEFAULT_REPEAT_INTERVAL,
        )?,
        min_wait: or(r.min_wait, "min_wait", Duration::ZERO)?,
    })
}

fn duration(text: &str, field: &str) -> Result<Duration, String> {
    parse_duration(text).map_err(|e| format!("{field}: {e}"))
}

fn severities(list: &[String]) -> Result<Vec<Severity>, String> {
    list.iter()
        .map(|s| {
            Severity::parse(s).ok_or_else(|| format!("severity {s:?} (SEV1, SEV2, SEV3 or SEV4)"))
        })
        .collect()
}

/// Whether `agent` matches `pattern`, where `*` stands for any run of
/// characters.
pub fn glob(pattern: &str, agent: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == agent;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !agent.starts_with(first) || agent.len() < first.len() + last.len() {
        return false;
    }
    let mut rest = &agent[first.len()..agent.len() - last.len()];
    if !agent.ends_with(last) {
        return false;
    }
    for part in &parts[1..parts.len() - 1] {
        match rest.find(part) {
            Some(i) => rest = &rest[i + part.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = r#"
[[receiver]]
name = "payments-pd"
kind = "pagerduty"
routing_key = "env:PD_PAYMENTS_KEY"

[[receiver]]
name = "ops-slack"
kind = "slack"
url = "https://hooks.slack.com/services/T0/B0/x"

[[route]]
events = ["incident.opened", "incident.escalated", "approval.escalated"]
severity = ["SEV1", "SEV2"]
agents = ["refund-*"]
receivers = ["payments-pd"]
group_wait = "30s"
repeat_interval = "4h"

[[escalation]]
ack_timeout = "15m"
receivers = ["ops-slack"]
"#;

    fn env(name: &str) -> Option<String> {
        (name == "PD_PAYMENTS_KEY").then(|| "R0UT1NGKEY".to_string())
    }

    #[test]
    fn the_documented_example_parses_with_secrets_from_the_environment() {
        let c = NotifyConfig::parse("notify.toml", EXAMPLE, &env).unwrap();
        let pd = c.receiver("payments-pd").unwrap();
        assert_eq!(pd.routing_key.as_deref(), Some("R0UT1NGKEY"));
        assert_eq!(pd.url, PAGERDUTY_EVENTS_URL);
        assert!(
            !format!("{pd:?}").contains("R0UT1NGKEY"),
            "secrets stay out of logs"
        );
        assert_eq!(c.routes[0].severity, vec![Severity::Sev1, Severity::Sev2]);
        assert_eq!(c.routes[0].group_wait, Duration::from_secs(30));
        assert_eq!(c.escalation[0].ack_timeout, Duration::from_secs(900));
        assert_eq!(
            c.contact("pagerduty:payments-pd").map(|r| r.kind),
            Some(Kind::Pagerduty)
        );
        assert!(c.contact("slack:payments-pd").is_none());
    }

    #[test]
    fn errors_name_the_file_the_line_and_what_is_wrong() {
        let cases = [
            (
                EXAMPLE.replace("kind = \"slack\"", "kind = \"sms\""),
                "line 9",
            ),
            (
                EXAMPLE.replace("\"payments-pd\"]", "\"nobody\"]"),
                "\"nobody\", which is not declared",
            ),
            (
                EXAMPLE.replace("\"approval.escalated\"", "\"approval.lost\""),
                "unknown event \"approval.lost\"",
            ),
            (
                EXAMPLE.replace("\"4h\"", "\"4 fortnights\""),
                "repeat_interval",
            ),
            (EXAMPLE.replace("SEV2", "SEV9"), "severity \"SEV9\""),
        ];
        for (text, needle) in cases {
            let e = NotifyConfig::parse("notify.toml", &text, &env).unwrap_err();
            assert!(e.starts_with("notify.toml: "), "{e}");
            assert!(e.contains(needle), "{needle:?} not in {e}");
        }
        let e = NotifyConfig::parse("n", EXAMPLE, &|_| None).unwrap_err();
        assert!(e.contains("PD_PAYMENTS_KEY is not set"), "{e}");
    }

    #[test]
    fn the_example_in_operations_md_parses() {
        let doc = include_str!("../../../docs/operations.md");
        let paging = &doc[doc.find("## Paging").unwrap()..];
        let start = paging.find("```toml\n").unwrap() + "```toml\n".len();
        let text = &paging[start..start + paging[start..].find("```").unwrap()];
        let env = |name: &str| Some(format!("https://secrets.test/{name}"));
        let c = NotifyConfig::parse("operations.md", text, &env).unwrap();
        assert_eq!(c.receivers.len(), 4);
        assert_eq!(c.routes.len(), 2);
        assert_eq!(c.escalation.len(), 2);
        assert_eq!(c.routes[1].min_wait, Duration::from_secs(300));
        assert_eq!(
            c.receiver("ops-slack").unwrap().url,
            "https://secrets.test/SLACK_OPS_WEBHOOK"
        );
        assert!(c.contact("pagerduty:payments").is_some());
    }

    #[test]
    fn agent_patterns() {
        assert!(glob("refund-*", "refund-bot"));
        assert!(glob("*", "anything"));
        assert!(glob("*-bot", "refund-bot"));
        assert!(glob("a*b*c", "axxbyyc"));
        assert!(!glob("refund-*", "triage"));
        assert!(!glob("a*a", "a"));
        assert!(glob("exact", "exact"));
        assert!(!glob("exact", "exactly"));
    }
}
