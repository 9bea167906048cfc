//! Where agentdeck keeps its files on this machine, and the user's files
//! that are merged over the shipped defaults.

mod duration;

pub use duration::{format_duration, parse_duration};

use std::path::PathBuf;

/// The platform directories (XDG on Linux).
pub fn dirs() -> Option<directories::ProjectDirs> {
    directories::ProjectDirs::from("dev", "agentdeck", "agentdeck")
}

/// The config directory (`config.toml`, `tokens.toml`, `keymap.toml`,
/// `themes/`, `keymaps/`).
pub fn config_dir() -> Option<PathBuf> {
    dirs().map(|d| d.config_dir().to_path_buf())
}

/// The user's config file.
pub fn config_file() -> Option<PathBuf> {
    config_dir().map(|d| d.join("config.toml"))
}

/// Where user themes live: `NAME.toml`.
pub fn themes_dir() -> Option<PathBuf> {
    config_dir().map(|d| d.join("themes"))
}

/// Where user keymaps live: `NAME.toml`.
pub fn keymaps_dir() -> Option<PathBuf> {
    config_dir().map(|d| d.join("keymaps"))
}

/// The user's keymap overrides, merged over the chosen keymap.
pub fn keymap_overrides() -> Option<PathBuf> {
    config_dir().map(|d| d.join("keymap.toml"))
}

/// The TUI's log file.
pub fn log_file() -> Option<PathBuf> {
    dirs().map(|d| {
        d.state_dir()
            .unwrap_or_else(|| d.data_local_dir())
            .join("tui.log")
    })
}

/// The `:` command line's history.
pub fn history_file() -> Option<PathBuf> {
    dirs().map(|d| {
        d.state_dir()
            .unwrap_or_else(|| d.data_local_dir())
            .join("command_history")
    })
}

/// The hub's default database.
pub fn data_file() -> Option<PathBuf> {
    dirs().map(|d| d.data_dir().join("hub.db"))
}

/// The hub's default tokens file.
pub fn tokens_file() -> Option<PathBuf> {
    config_dir().map(|d| d.join("tokens.toml"))
}

/// Reads a user file that may not exist.
pub fn read_optional(path: &std::path::Path) -> Result<Option<String>, String> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}
