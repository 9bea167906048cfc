//! The password file libpq reads (`~/.pgpass`, or the file `PGPASSFILE`
//! names), so that a `--db postgres://…` URL needs no password in it, as
//! libpq's users expect.
//!
//! Each line is `hostname:port:database:username:password`; `*` in any of
//! the first four fields matches anything; `\:` and `\\` stand for `:` and
//! `\`; lines starting with `#` are comments. The first matching line wins.
//! As libpq does, a file that others than its owner may read is ignored
//! (with a warning): a password readable by everyone is not a secret.

use std::path::{Path, PathBuf};

/// What a connection asks a password for.
#[derive(Debug, Clone, Copy)]
pub struct Lookup<'a> {
    /// Host name or address, as given in the URL.
    pub host: &'a str,
    /// Port.
    pub port: u16,
    /// Database name.
    pub database: &'a str,
    /// User name.
    pub user: &'a str,
}

/// The password file's path: `PGPASSFILE`, else `~/.pgpass`.
pub fn path() -> Option<PathBuf> {
    if let Some(file) = std::env::var_os("PGPASSFILE") {
        return Some(PathBuf::from(file));
    }
    std::env::var_os("HOME").map(|home| Path::new(&home).join(".pgpass"))
}

/// The password for `lookup` from the file at `path`, if the file exists,
/// is private to its owner and has a matching line.
pub fn read(path: &Path, lookup: Lookup<'_>) -> Option<String> {
    let meta = std::fs::metadata(path).ok()?;
    if !meta.is_file() {
        return None;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if meta.permissions().mode() & 0o077 != 0 {
            tracing::warn!(
                "password file {} has group or world access; ignored (chmod 0600 it)",
                path.display()
            );
            return None;
        }
    }
    let text = std::fs::read_to_string(path).ok()?;
    find(&text, lookup)
}

/// The password of the first line of `text` matching `lookup`.
pub fn find(text: &str, lookup: Lookup<'_>) -> Option<String> {
    let port = lookup.port.to_string();
    let wanted = [lookup.host, port.as_str(), lookup.database, lookup.user];
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .filter_map(split)
        .find(|fields| {
            fields[..4]
                .iter()
                .zip(wanted)
                .all(|(field, want)| field == "*" || field == want)
        })
        .map(|mut fields| fields.swap_remove(4))
}

/// The five fields of a line, unescaped, or `None` when it has fewer. A
/// password may hold unescaped colons: everything after the fourth
/// separator is the password.
fn split(line: &str) -> Option<Vec<String>> {
    let mut fields = Vec::with_capacity(5);
    let mut field = String::new();
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => field.push(chars.next().unwrap_or('\\')),
            ':' if fields.len() < 4 => fields.push(std::mem::take(&mut field)),
            c => field.push(c),
        }
    }
    fields.push(field);
    (fields.len() == 5).then_some(fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(host: &str, database: &str, user: &str) -> Lookup<'static> {
        Lookup {
            host: host.to_string().leak(),
            port: 5432,
            database: database.to_string().leak(),
            user: user.to_string().leak(),
        }
    }

    #[test]
    fn the_first_matching_line_wins_with_wildcards_and_escapes() {
        let text = "# comment\n\
                    db1.internal:5432:agentdeck:hub:first\n\
                    *:5432:agentdeck:*:wild\\:card\n\
                    *:*:*:*:any:with:colons\n";
        assert_eq!(
            find(text, at("db1.internal", "agentdeck", "hub")).as_deref(),
            Some("first")
        );
        assert_eq!(
            find(text, at("db2.internal", "agentdeck", "ops")).as_deref(),
            Some("wild:card")
        );
        assert_eq!(
            find(text, at("db2.internal", "other", "ops")).as_deref(),
            Some("any:with:colons")
        );
        let other_port = Lookup {
            port: 6432,
            ..at("db1.internal", "agentdeck", "hub")
        };
        assert_eq!(find(text, other_port).as_deref(), Some("any:with:colons"));
        assert_eq!(find("short:line\n", at("h", "d", "u")), None);
    }

    #[test]
    fn a_file_others_may_read_is_ignored() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pgpass");
        std::fs::write(&file, "*:*:*:*:secret\n").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(read(&file, at("h", "d", "u")), None);
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(read(&file, at("h", "d", "u")).as_deref(), Some("secret"));
        assert_eq!(read(&dir.path().join("missing"), at("h", "d", "u")), None);
    }
}
