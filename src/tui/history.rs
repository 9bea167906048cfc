//! The `:` command line's history: recalled with `up` and `down`, kept
//! across runs in the state directory. Loaded before the loop starts and
//! written off the loop (the render loop never waits on the disk).

use std::path::{Path, PathBuf};

/// Commands kept.
pub const MAX_COMMANDS: usize = 200;

/// Commands run, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommandHistory {
    entries: Vec<String>,
    /// Where it is kept, if anywhere.
    path: Option<PathBuf>,
}

impl CommandHistory {
    /// The history kept at `path` (empty when the file is missing or
    /// unreadable: a history is a convenience, never a reason to fail).
    pub fn load(path: Option<PathBuf>) -> Self {
        let entries = path
            .as_deref()
            .and_then(|p| std::fs::read_to_string(p).ok())
            .map(|text| {
                text.lines()
                    .filter(|l| !l.trim().is_empty())
                    .map(str::to_string)
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default();
        let skip = entries.len().saturating_sub(MAX_COMMANDS);
        Self {
            entries: entries.into_iter().skip(skip).collect(),
            path,
        }
    }

    /// The commands, oldest first.
    pub fn entries(&self) -> &[String] {
        &self.entries
    }

    /// Where it is kept.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Remembers a command run; a repeat of the last one is kept once.
    pub fn push(&mut self, command: &str) {
        let command = command.trim();
        if command.is_empty() || command.contains('\n') {
            return;
        }
        if self.entries.last().map(String::as_str) != Some(command) {
            self.entries.push(command.to_string());
        }
        if self.entries.len() > MAX_COMMANDS {
            self.entries.remove(0);
        }
    }

    /// The command before `current` (the newest when `current` is not one
    /// of them); none when there is nothing older.
    pub fn older(&self, current: &str) -> Option<&str> {
        match self.entries.iter().rposition(|e| e == current) {
            Some(0) => None,
            Some(i) => Some(&self.entries[i - 1]),
            None => self.entries.last().map(String::as_str),
        }
    }

    /// The command after `current`; none past the newest (the entry is
    /// then cleared).
    pub fn newer(&self, current: &str) -> Option<&str> {
        let i = self.entries.iter().rposition(|e| e == current)?;
        self.entries.get(i + 1).map(String::as_str)
    }
}

/// Writes `entries` to `path` (0600, through a temporary file renamed over
/// it, so a crash never leaves half a history).
pub fn save(path: &Path, entries: &[String]) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&tmp)?;
    std::io::Write::write_all(&mut file, (entries.join("\n") + "\n").as_bytes())?;
    drop(file);
    std::fs::rename(tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recall_walks_back_and_forth_and_repeats_are_kept_once() {
        let mut h = CommandHistory::default();
        for c in [
            "incidents",
            "agent refund-bot",
            "agent refund-bot",
            "  ",
            "handoff",
        ] {
            h.push(c);
        }
        assert_eq!(h.entries(), ["incidents", "agent refund-bot", "handoff"]);
        assert_eq!(h.older(""), Some("handoff"));
        assert_eq!(h.older("handoff"), Some("agent refund-bot"));
        assert_eq!(h.older("incidents"), None);
        assert_eq!(h.newer("agent refund-bot"), Some("handoff"));
        assert_eq!(h.newer("handoff"), None);
        assert_eq!(h.newer("typed"), None);
    }

    #[test]
    fn it_survives_a_restart_and_stays_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state").join("command_history");
        let mut h = CommandHistory::load(Some(path.clone()));
        for i in 0..(MAX_COMMANDS + 10) {
            h.push(&format!("agent a{i}"));
        }
        save(&path, h.entries()).unwrap();
        let again = CommandHistory::load(Some(path.clone()));
        assert_eq!(again.entries().len(), MAX_COMMANDS);
        assert_eq!(
            again.entries().last().map(String::as_str),
            Some("agent a209")
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
    }
}
