//! `agentdeck [tui]`: the operator TUI connected to a hub.

use std::path::PathBuf;
use std::process::ExitCode;

use serde::Deserialize;

use crate::cli::TuiArgs;
use crate::tui::keymap::Keymap;
use crate::tui::run::{Options, Source};
use crate::tui::theme::Theme;

use super::fail;

/// The optional config file in the platform config directory.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// Hub URL.
    pub hub: Option<String>,
    /// Operator token.
    pub token: Option<String>,
    /// Ring the bell (default true).
    pub bell: Option<bool>,
    /// Theme name.
    pub theme: Option<String>,
    /// Keymap name.
    pub keymap: Option<String>,
}

/// Where the config file lives.
pub fn config_path() -> Option<PathBuf> {
    directories::ProjectDirs::from("dev", "agentdeck", "agentdeck")
        .map(|d| d.config_dir().join("config.toml"))
}

/// Where the TUI writes its log.
pub fn log_path() -> Option<PathBuf> {
    directories::ProjectDirs::from("dev", "agentdeck", "agentdeck").map(|d| {
        d.state_dir()
            .unwrap_or_else(|| d.data_local_dir())
            .join("tui.log")
    })
}

fn load_config() -> Result<ConfigFile, String> {
    let Some(path) = config_path() else {
        return Ok(ConfigFile::default());
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(ConfigFile::default()),
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}

/// Refuses to send a token in clear over the network unless told to.
pub fn check_transport(hub: &str, insecure: bool) -> Result<(), String> {
    let url = reqwest::Url::parse(hub).map_err(|e| format!("--hub {hub:?}: {e}"))?;
    match url.scheme() {
        "https" => Ok(()),
        "http" => {
            let loopback = match url.host() {
                Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
                Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
                Some(url::Host::Domain(d)) => d == "localhost",
                None => false,
            };
            if loopback || insecure {
                Ok(())
            } else {
                Err(format!(
                    "refusing to send the token over plain HTTP to {}: use https, or --insecure if this network is trusted",
                    url.host_str().unwrap_or("?")
                ))
            }
        }
        other => Err(format!(
            "--hub {hub:?}: scheme {other:?} is not http or https"
        )),
    }
}

/// Logs to a file: the screen belongs to the TUI.
pub fn init_file_logging() {
    let Some(path) = log_path() else { return };
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let Ok(file) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
    else {
        return;
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("AGENTDECK_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(std::sync::Mutex::new(file))
        .try_init();
}

/// Theme from flags, config and environment: `NO_COLOR` or `--no-color`
/// win; a 16-colour terminal gets the nearest ANSI colours.
pub fn theme(no_color: bool, name: Option<&str>) -> Result<Theme, String> {
    if no_color || std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()) {
        return Ok(Theme::monochrome());
    }
    let t = Theme::named(
        name.unwrap_or("dark"),
        crate::config::themes_dir().as_deref(),
    )?;
    Ok(if crate::tui::theme::terminal_has_many_colours() {
        t
    } else {
        t.downgraded_to_16()
    })
}

/// The keymap chosen by name, with the user's keymap.toml merged over it.
/// A broken file stops the TUI with the file, line and what to fix.
pub fn keymap(name: Option<&str>) -> Result<Keymap, String> {
    let base = Keymap::named(
        name.unwrap_or("default"),
        crate::config::keymaps_dir().as_deref(),
    )
    .map_err(|e| format!("{e}\n(check a file with `agentdeck keys check FILE`)"))?;
    let Some(path) = crate::config::keymap_overrides() else {
        return Ok(base);
    };
    match crate::config::read_optional(&path)? {
        None => Ok(base),
        Some(text) => base.merge(&path.display().to_string(), &text).map_err(|e| {
            format!(
                "{e}\n(fix the file, or check it with `agentdeck keys check {}`)",
                path.display()
            )
        }),
    }
}

/// The token in `path`: its first line, trimmed.
fn read_token_file(path: &std::path::Path) -> Result<String, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("--token-file {}: {e}", path.display()))?;
    let token = text.lines().next().unwrap_or("").trim();
    if token.is_empty() {
        return Err(format!(
            "--token-file {}: the file is empty",
            path.display()
        ));
    }
    Ok(token.to_string())
}

/// `agentdeck [tui]`.
pub fn run(args: TuiArgs) -> ExitCode {
    let config = match load_config() {
        Ok(c) => c,
        Err(e) => return fail(e),
    };
    let Some(hub) = args.hub.or(config.hub) else {
        return fail(
            "no hub: give --hub URL (or AGENTDECK_HUB, or hub = \"…\" in the config file); try `agentdeck demo` to see it work",
        );
    };
    let from_file = match args.token_file.as_deref().map(read_token_file).transpose() {
        Ok(t) => t,
        Err(e) => return fail(e),
    };
    let Some(token) = from_file.or(args.token).or(config.token) else {
        return fail(
            "no token: set AGENTDECK_TOKEN, give --token-file PATH (or --token), or token = \"…\" in the config file",
        );
    };
    let hubs = match crate::client::hubs::HubList::parse(&hub) {
        Ok(h) => h,
        Err(e) => return fail(e),
    };
    for url in hubs.urls() {
        if let Err(e) = check_transport(url, args.insecure) {
            return fail(e);
        }
    }
    if let Some(path) = &args.ca_cert
        && let Err(e) = crate::client::trust_ca_file(path)
    {
        return fail(e);
    }
    init_file_logging();
    let runtime = match super::runtime() {
        Ok(r) => r,
        Err(code) => return code,
    };
    let theme = match theme(
        args.no_color,
        args.theme.as_deref().or(config.theme.as_deref()),
    ) {
        Ok(t) => t,
        Err(e) => return fail(e),
    };
    let keymap = match keymap(args.keymap.as_deref().or(config.keymap.as_deref())) {
        Ok(k) => k,
        Err(e) => return fail(e),
    };
    let options = Options {
        source: Source::Hub {
            hubs: std::sync::Arc::new(hubs),
            token,
        },
        read_only: args.read_only,
        theme,
        keymap,
        bell: !args.no_bell && config.bell.unwrap_or(true),
    };
    match runtime.block_on(crate::tui::run::run(options)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(format!("the TUI stopped: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_stay_off_plain_http_beyond_loopback() {
        assert!(check_transport("http://127.0.0.1:7400", false).is_ok());
        assert!(check_transport("http://localhost:7400", false).is_ok());
        assert!(check_transport("http://[::1]:7400", false).is_ok());
        assert!(check_transport("https://hub.example.com", false).is_ok());
        let e = check_transport("http://hub.example.com", false).unwrap_err();
        assert!(e.contains("--insecure"), "{e}");
        assert!(check_transport("http://hub.example.com", true).is_ok());
        assert!(check_transport("ftp://x", true).is_err());
        assert!(check_transport("not a url", true).is_err());
    }
}
