//! Registrations of the simulated fleet: most agents register with owners
//! and tool access as a well-run fleet would; one stays unregistered and
//! one acts autonomously on money, so the Agents screen shows real
//! findings.

use crate::client::hubs::HubList;
use crate::model::profile::{
    Access, AgentProfile, Autonomy, Contact, Criticality, Sensitivity, ToolAccess,
};

use super::profile::Profile;

fn contact(name: &str, how: &str) -> Option<Contact> {
    Some(Contact {
        name: name.into(),
        contact: Some(how.into()),
    })
}

fn tools(p: &Profile, access: impl Fn(&str) -> Vec<Access>) -> Vec<ToolAccess> {
    p.tools
        .iter()
        .map(|t| ToolAccess {
            name: t.name.into(),
            access: access(t.name),
        })
        .collect()
}

/// The registration a built-in agent sends at start; none for the agent
/// left unregistered and for numbered copies.
pub fn registration(p: &Profile, id: &str) -> Option<AgentProfile> {
    if id != p.id {
        return None;
    }
    let base = AgentProfile {
        environment: Some("production".into()),
        framework: Some("langgraph".into()),
        ..AgentProfile::default()
    };
    Some(match p.id {
        "refund-bot" => AgentProfile {
            business_owner: contact("Payments", "#payments"),
            technical_owner: contact("Dana Reyes", "dana@example.com"),
            incident_owner: contact("payments-oncall", "pagerduty:payments"),
            criticality: Some(Criticality::High),
            autonomy: Some(Autonomy::ActWithApproval),
            tools: tools(p, |t| match t {
                "issue_refund" => vec![Access::Write, Access::Money],
                _ => vec![Access::Read, Access::CustomerData],
            }),
            data_sensitivity: Some(Sensitivity::Restricted),
            ..base
        },
        "invoice-matcher" => AgentProfile {
            business_owner: contact("Finance ops", "#finance-ops"),
            criticality: Some(Criticality::High),
            autonomy: Some(Autonomy::ActAutonomously),
            tools: tools(p, |t| match t {
                "post_ledger" => vec![Access::Write, Access::Money],
                _ => vec![Access::Read],
            }),
            data_sensitivity: Some(Sensitivity::Confidential),
            ..base
        },
        "remediation-bot" => AgentProfile {
            technical_owner: contact("SRE", "#sre"),
            incident_owner: contact("sre-oncall", "pagerduty:sre"),
            criticality: Some(Criticality::Critical),
            autonomy: Some(Autonomy::ActWithApproval),
            tools: tools(p, |t| match t {
                "query_metrics" => vec![Access::Read],
                _ => vec![Access::Production],
            }),
            data_sensitivity: Some(Sensitivity::Internal),
            ..base
        },
        "campaign-bot" => AgentProfile {
            criticality: Some(Criticality::Medium),
            autonomy: Some(Autonomy::ActAutonomously),
            tools: tools(p, |t| match t {
                "send_email" => vec![Access::Write, Access::CustomerData],
                _ => vec![Access::Read, Access::CustomerData],
            }),
            data_sensitivity: Some(Sensitivity::Restricted),
            ..base
        },
        // triage-bot is the fleet's unregistered agent.
        _ => return None,
    })
}

/// Registers every agent of the fleet that has a registration, logging
/// (not failing on) refusals: a fleet keeps running without its inventory.
/// An address that does not answer moves the fleet on to the next, where
/// the registration is sent again (once per address at most).
pub async fn register(
    http: &reqwest::Client,
    hubs: &HubList,
    token: &str,
    agents: &[(Profile, String)],
) {
    for (profile, id) in agents {
        let Some(reg) = registration(profile, id) else {
            continue;
        };
        for _ in 0..hubs.len() {
            let (at, hub) = hubs.current();
            let sent = http
                .put(format!("{hub}{}", crate::model::api::AGENT.path(&[id])))
                .bearer_auth(token)
                .json(&reg)
                .send()
                .await;
            match sent {
                Ok(r) if r.status().is_success() => {}
                Ok(r) => {
                    tracing::warn!(agent = %id, status = r.status().as_u16(), "hub refused a registration")
                }
                Err(e) => {
                    tracing::warn!(agent = %id, error = %e, "could not register an agent");
                    hubs.failed(at);
                    continue;
                }
            }
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::profile::{Finding, findings};

    #[test]
    fn the_fleet_shows_each_finding_the_agents_screen_filters_on() {
        let fleet = super::super::profile::fleet();
        let mut seen = Vec::new();
        for p in &fleet {
            let reg = registration(p, p.id);
            if let Some(r) = &reg {
                r.validate().expect("a valid registration");
            }
            let tools: Vec<String> = p.tools.iter().map(|t| t.name.to_string()).collect();
            seen.extend(findings(reg.as_ref(), &tools, true));
        }
        for f in [
            Finding::Unregistered,
            Finding::NoOwner,
            Finding::AutonomousOnMoney,
        ] {
            assert!(seen.contains(&f), "no agent shows {f:?}");
        }
        assert!(registration(&fleet[0], "refund-bot-6").is_none());
    }
}
