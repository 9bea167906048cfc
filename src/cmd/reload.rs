//! `agentdeck reload`: asks a running hub to read its configuration files
//! again (`POST /v1/reload`), and says what is in force or why the
//! previous configuration stays.

use std::process::ExitCode;

use crate::cli::ReloadArgs;

use super::{EXIT_HUB, fail};

/// `agentdeck reload`.
pub fn run(args: ReloadArgs) -> ExitCode {
    let (hub, token) = match super::hub_target(
        args.hub,
        args.token,
        " of a lead",
        args.insecure,
        args.ca_cert.as_deref(),
    ) {
        Ok(target) => target,
        Err(e) => return fail(e),
    };
    let rt = match super::runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    match rt.block_on(post(&hub, &token)) {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("agentdeck reload: {e}");
            ExitCode::from(EXIT_HUB)
        }
    }
}

async fn post(hub: &str, token: &str) -> Result<String, String> {
    let url = format!(
        "{}{}",
        hub.trim_end_matches('/'),
        crate::model::api::RELOAD.path(&[])
    );
    let client = crate::client::builder()
        .timeout(std::time::Duration::from_secs(120))
        .build()
        .map_err(|e| format!("cannot make an HTTP client: {e}"))?;
    let response = client
        .post(url)
        .bearer_auth(token)
        .send()
        .await
        .map_err(|e| {
            format!(
                "cannot reach the hub at {hub}: {}",
                crate::client::feed::describe(&e)
            )
        })?;
    let status = response.status();
    let body: serde_json::Value = response
        .json()
        .await
        .map_err(|e| format!("the hub at {hub} answered {status} without JSON: {e}"))?;
    if !status.is_success() {
        let reason = body["error"].as_str().unwrap_or("no reason given");
        return Err(match status.as_u16() {
            401 => format!("the hub refused the token (401): {reason}"),
            403 => format!("only a lead may reload (403): {reason}"),
            code => format!("{reason} ({code})"),
        });
    }
    let n = |k: &str| body[k].as_u64().unwrap_or(0);
    let changed: Vec<&str> = body["changed"]
        .as_array()
        .map(|a| a.iter().filter_map(|v| v.as_str()).collect())
        .unwrap_or_default();
    if body["reloaded"].as_array().is_some_and(|a| a.is_empty()) {
        return Ok(format!(
            "nothing reloaded: {}",
            body["note"].as_str().unwrap_or("")
        ));
    }
    Ok(format!(
        "reloaded: {} tokens, {} SLOs, {} runbooks, {} receivers; changed: {}",
        n("tokens"),
        n("slos"),
        n("runbooks"),
        n("receivers"),
        if changed.is_empty() {
            "nothing else".to_string()
        } else {
            changed.join(", ")
        }
    ))
}
