//! Tokens and roles: who is calling, and whether they may.
//!
//! Tokens are stored only as SHA-256 hashes in a TOML file; a presented
//! token is hashed and compared in constant time against every entry.

use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::model::role::Role;

/// Prefix of every token this hub issues, so a leaked one is recognisable.
pub const TOKEN_PREFIX: &str = "adk_";

/// One entry of the tokens file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenEntry {
    /// Operator name, or agent id for agent tokens.
    pub name: String,
    /// What the token may do.
    pub role: Role,
    /// Hex SHA-256 of the token.
    pub sha256: String,
    /// For agent tokens: the agents it may send events for and read
    /// controls of. Defaults to its own name; `*` for a gateway that speaks
    /// for many agents.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub agents: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenFile {
    #[serde(default)]
    token: Vec<TokenEntry>,
}

/// Who made a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Principal {
    /// Operator name or agent id.
    pub name: String,
    /// Their role.
    pub role: Role,
    /// For agents: the agents they speak for.
    pub agents: Vec<String>,
}

impl Principal {
    /// True when this principal may act as `agent` (send its events, read
    /// its controls). Leads may read any agent's controls.
    pub fn speaks_for(&self, agent: &str) -> bool {
        match self.role {
            Role::Agent => self.agents.iter().any(|a| a == "*" || a == agent),
            // Any other role that may act for agents (a lead) acts for all.
            role => crate::model::role::Permission::ActForAgent.allows(role),
        }
    }
}

/// The loaded tokens.
#[derive(Debug, Clone, Default)]
pub struct TokenStore {
    entries: Vec<([u8; 32], Principal)>,
}

/// Hex SHA-256 of a token.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A fresh random token.
pub fn new_token() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 24];
    getrandom::fill(&mut bytes)?;
    Ok(format!("{TOKEN_PREFIX}{}", hex::encode(bytes)))
}

/// Compares two byte strings in time independent of where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl TokenStore {
    /// Parses a tokens file; `file` names it in errors.
    pub fn parse(file: &str, text: &str) -> Result<Self, String> {
        let parsed: TokenFile = toml::from_str(text).map_err(|e| format!("{file}: {e}"))?;
        let mut store = Self::default();
        for (i, entry) in parsed.token.into_iter().enumerate() {
            store
                .add(entry)
                .map_err(|e| format!("{file}: token {}: {e}", i + 1))?;
        }
        Ok(store)
    }

    /// Reads and parses a tokens file.
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read tokens file {}: {e}", path.display()))?;
        Self::parse(&path.display().to_string(), &text)
    }

    /// Adds one entry after checking it.
    pub fn add(&mut self, entry: TokenEntry) -> Result<(), String> {
        crate::model::validate::id("name", &entry.name).map_err(|e| e.to_string())?;
        let raw = hex::decode(&entry.sha256)
            .ok()
            .and_then(|b| <[u8; 32]>::try_from(b).ok())
            .ok_or_else(|| {
                format!(
                    "sha256 of {:?} must be 64 hex digits (agentdeck token new prints it)",
                    entry.name
                )
            })?;
        if entry.role != Role::Agent && !entry.agents.is_empty() {
            return Err(format!(
                "\"agents\" applies only to agent tokens, not {} {:?}",
                entry.role.as_str(),
                entry.name
            ));
        }
        let agents = if entry.role == Role::Agent && entry.agents.is_empty() {
            vec![entry.name.clone()]
        } else {
            entry.agents
        };
        self.entries.push((
            raw,
            Principal {
                name: entry.name,
                role: entry.role,
                agents,
            },
        ));
        Ok(())
    }

    /// Adds a token given in clear (for the demo and tests).
    pub fn add_token(&mut self, token: &str, name: &str, role: Role) -> Result<(), String> {
        self.add(TokenEntry {
            name: name.to_string(),
            role,
            sha256: hash_token(token),
            agents: if role == Role::Agent {
                vec!["*".to_string()]
            } else {
                vec![]
            },
        })
    }

    /// Number of tokens.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True without tokens.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The principal a presented token belongs to. Every entry is compared,
    /// in constant time, so timing does not tell which hash was close.
    pub fn authenticate(&self, token: &str) -> Option<Principal> {
        let presented = Sha256::digest(token.as_bytes());
        let mut found = None;
        for (hash, principal) in &self.entries {
            if constant_time_eq(hash, &presented) && found.is_none() {
                found = Some(principal.clone());
            }
        }
        found
    }
}

/// The TOML lines to add to a tokens file for a new token.
pub fn token_entry_toml(name: &str, role: Role, token: &str) -> String {
    format!(
        "[[token]]\nname = {name:?}\nrole = {:?}\nsha256 = {:?}\n",
        role.as_str(),
        hash_token(token)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_authenticate_by_hash_only() {
        let token = new_token().unwrap();
        assert!(token.starts_with(TOKEN_PREFIX));
        let text = token_entry_toml("dana", Role::Approver, &token);
        assert!(!text.contains(&token), "the file never holds the token");
        let store = TokenStore::parse("tokens.toml", &text).unwrap();
        let p = store.authenticate(&token).unwrap();
        assert_eq!((p.name.as_str(), p.role), ("dana", Role::Approver));
        assert!(store.authenticate("adk_wrong").is_none());
        assert!(store.authenticate("").is_none());
    }

    #[test]
    fn agent_tokens_speak_for_their_own_agent_by_default() {
        let text = format!(
            "{}[[token]]\nname = \"gateway\"\nrole = \"agent\"\nsha256 = \"{}\"\nagents = [\"*\"]\n",
            token_entry_toml("refund-bot", Role::Agent, "t1"),
            hash_token("t2")
        );
        let store = TokenStore::parse("tokens.toml", &text).unwrap();
        let bot = store.authenticate("t1").unwrap();
        assert!(bot.speaks_for("refund-bot"));
        assert!(!bot.speaks_for("triage-bot"));
        assert!(store.authenticate("t2").unwrap().speaks_for("triage-bot"));
    }

    #[test]
    fn bad_files_name_the_problem() {
        let e = TokenStore::parse(
            "t.toml",
            "[[token]]\nname = \"x\"\nrole = \"god\"\nsha256 = \"00\"\n",
        )
        .unwrap_err();
        assert!(e.starts_with("t.toml:") && e.contains("god"), "{e}");
        let e = TokenStore::parse(
            "t.toml",
            "[[token]]\nname = \"x\"\nrole = \"lead\"\nsha256 = \"00\"\n",
        )
        .unwrap_err();
        assert!(e.contains("64 hex digits"), "{e}");
        let e = TokenStore::parse(
            "t.toml",
            &format!(
                "[[token]]\nname = \"x\"\nrole = \"lead\"\nsha256 = \"{}\"\nagents = [\"a\"]\n",
                hash_token("t")
            ),
        )
        .unwrap_err();
        assert!(e.contains("only to agent tokens"), "{e}");
    }

    #[test]
    fn constant_time_eq_is_eq() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
