//! `agentdeck handoff`: fetches the shift handoff summary from a hub as
//! Markdown, aligned plain text or JSON (`--format`), and prints it or
//! writes it to a file. The hub writes every format from the same summary,
//! so what is pasted elsewhere says what the Handoff screen shows.

use std::process::ExitCode;

use chrono::{DateTime, SecondsFormat, Utc};

use crate::cli::HandoffArgs;
use crate::handoff::Format;

use super::{EXIT_HUB, fail};

/// The shift asked for: `[from, to)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shift {
    /// Start.
    pub from: DateTime<Utc>,
    /// End.
    pub to: DateTime<Utc>,
}

fn parse_time(flag: &str, text: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(text.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| {
            format!("{flag} {text:?} is not an RFC 3339 time ({e}); e.g. 2026-11-21T08:00:00Z")
        })
}

/// Works out the shift from `--since` or `--from`/`--to` at `now`. With
/// neither, the last 8 hours.
pub fn shift(
    since: Option<&str>,
    from: Option<&str>,
    to: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Shift, String> {
    if since.is_some() && (from.is_some() || to.is_some()) {
        return Err(
            "give either --since (a shift ending now) or --from/--to, not both".to_string(),
        );
    }
    let default = chrono::Duration::seconds(crate::handoff::DEFAULT_SHIFT_S);
    let shift = match since {
        Some(s) => {
            let d = super::parse_duration(s).map_err(|e| format!("--since {e}"))?;
            let d = chrono::Duration::from_std(d)
                .map_err(|_| format!("--since {s:?} is out of range"))?;
            Shift {
                from: now - d,
                to: now,
            }
        }
        None => {
            let to = to
                .map(|t| parse_time("--to", t))
                .transpose()?
                .unwrap_or(now);
            let from = from
                .map(|t| parse_time("--from", t))
                .transpose()?
                .unwrap_or(to - default);
            Shift { from, to }
        }
    };
    if shift.from >= shift.to {
        return Err(format!(
            "the shift must start before it ends (from {} to {})",
            shift.from.to_rfc3339_opts(SecondsFormat::Secs, true),
            shift.to.to_rfc3339_opts(SecondsFormat::Secs, true)
        ));
    }
    Ok(shift)
}

/// Runs `agentdeck handoff`.
pub fn run(args: HandoffArgs) -> ExitCode {
    let (hub, token) = match super::hub_target(
        args.hub,
        args.token,
        "",
        args.insecure,
        args.ca_cert.as_deref(),
    ) {
        Ok(target) => target,
        Err(e) => return fail(e),
    };
    let shift = match shift(
        args.since.as_deref(),
        args.from.as_deref(),
        args.to.as_deref(),
        Utc::now(),
    ) {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    let rt = match super::runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    let summary = match rt.block_on(fetch(&hub, &token, shift, args.format)) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("agentdeck handoff: {e}");
            return ExitCode::from(EXIT_HUB);
        }
    };
    match args.out {
        Some(path) => {
            if let Err(e) = std::fs::write(&path, &summary) {
                return fail(format!("cannot write {}: {e}", path.display()));
            }
            ExitCode::SUCCESS
        }
        None => {
            print!("{summary}");
            ExitCode::SUCCESS
        }
    }
}

/// Fetches the summary of `shift` from `hub`, written in `format`.
pub async fn fetch(hub: &str, token: &str, shift: Shift, format: Format) -> Result<String, String> {
    let base = hub.trim_end_matches('/');
    let mut url = reqwest::Url::parse(&format!("{base}{}", crate::model::api::HANDOFF.path(&[])))
        .map_err(|e| format!("--hub {hub:?}: {e}"))?;
    url.query_pairs_mut()
        .append_pair(
            "from",
            &shift.from.to_rfc3339_opts(SecondsFormat::AutoSi, true),
        )
        .append_pair("to", &shift.to.to_rfc3339_opts(SecondsFormat::AutoSi, true))
        .append_pair("format", format.as_str());
    let client = crate::client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .map_err(|e| format!("cannot make an HTTP client: {e}"))?;
    let response = client
        .get(url)
        .bearer_auth(token)
        .header(reqwest::header::ACCEPT, accept(format))
        .send()
        .await
        .map_err(|e| {
            format!(
                "cannot reach the hub at {hub}: {}",
                crate::client::feed::describe(&e)
            )
        })?;
    let status = response.status();
    let body = response
        .text()
        .await
        .map_err(|e| format!("the hub at {hub} broke off its answer: {e}"))?;
    if status.is_success() {
        return Ok(match format {
            Format::Json => pretty(body),
            _ => body,
        });
    }
    let reason = serde_json::from_str::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_string))
        .unwrap_or_else(|| body.trim().to_string());
    Err(match status.as_u16() {
        401 => format!("the hub refused the token (401): {reason}; check --token"),
        403 => format!("this token's role may not read the handoff summary (403): {reason}"),
        code => format!("the hub answered {code}: {reason}"),
    })
}

fn accept(format: Format) -> &'static str {
    match format {
        Format::Markdown => "text/markdown",
        Format::Text => "text/plain",
        Format::Json => "application/json",
    }
}

/// The hub's JSON indented for reading, its fields in their documented
/// order. A summary this build cannot read (a hub of another version) is
/// printed as it came rather than refused.
fn pretty(body: String) -> String {
    serde_json::from_str::<crate::handoff::Handoff>(&body)
        .and_then(|h| serde_json::to_string_pretty(&h))
        .map(|s| s + "\n")
        .unwrap_or(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn shifts() {
        let now = t("2026-11-21T08:00:00Z");
        let s = shift(Some("8h"), None, None, now).unwrap();
        assert_eq!(s.from, t("2026-11-21T00:00:00Z"));
        assert_eq!(s.to, now);
        let s = shift(None, Some("2026-11-20T22:00:00Z"), None, now).unwrap();
        assert_eq!((s.from, s.to), (t("2026-11-20T22:00:00Z"), now));
        let s = shift(None, None, None, now).unwrap();
        assert_eq!(s.from, t("2026-11-21T00:00:00Z"));
        assert!(
            shift(Some("8h"), Some("2026-11-20T22:00:00Z"), None, now)
                .unwrap_err()
                .contains("not both")
        );
        assert!(
            shift(None, Some("yesterday"), None, now)
                .unwrap_err()
                .contains("--from \"yesterday\"")
        );
        assert!(
            shift(Some("8 parsecs"), None, None, now)
                .unwrap_err()
                .contains("--since")
        );
        assert!(
            shift(None, Some("2026-11-21T09:00:00Z"), None, now)
                .unwrap_err()
                .contains("start before it ends")
        );
    }
}
