//! Live reload: `SIGHUP`, or `POST /v1/reload` (`agentdeck reload`, lead
//! only), reads the files the hub started from again (tokens, policy,
//! SLOs, runbooks, notify) and puts them in force without a restart or a
//! dropped stream. All or nothing: a file with an error keeps the whole
//! previous configuration, and the error (file and line) goes to the log,
//! `/healthz` (`degraded: config`) and the audit log. Revoking a token ends
//! that token's open streams.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use chrono::Utc;
use serde_json::{Value, json};
use tokio::sync::watch;

use crate::model::runbook::Runbook;
use crate::model::slo::SloSpec;

use super::auth::{Principal, TokenStore};
use super::http::AppState;
use super::notify::NotifyConfig;
use super::policy::Policy;

/// The files a hub's configuration comes from.
#[derive(Debug, Clone, Default)]
pub struct ConfigSources {
    /// `--tokens`.
    pub tokens: PathBuf,
    /// `--policy`, if given.
    pub policy: Option<PathBuf>,
    /// `--slos`, if given (else the built-in SLOs).
    pub slos: Option<PathBuf>,
    /// The runbooks directory, if any.
    pub runbooks: Option<PathBuf>,
    /// `--notify`, if given.
    pub notify: Option<PathBuf>,
}

/// Everything the files say, checked.
#[derive(Debug)]
pub struct FileConfig {
    /// Who may call.
    pub tokens: TokenStore,
    /// Approval policy.
    pub policy: Policy,
    /// SLO specs.
    pub specs: Vec<SloSpec>,
    /// Runbooks.
    pub runbooks: Vec<Runbook>,
    /// Paging.
    pub notify: Option<NotifyConfig>,
}

impl ConfigSources {
    /// Reads and checks every file; the first error names its file and
    /// line.
    pub fn load(&self) -> Result<FileConfig, String> {
        let tokens = TokenStore::load(&self.tokens)?;
        if tokens.is_empty() {
            return Err(format!(
                "{} holds no [[token]] entries",
                self.tokens.display()
            ));
        }
        let policy = match &self.policy {
            Some(p) => Policy::load(p)?,
            None => Policy::default(),
        };
        let specs = match &self.slos {
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .map_err(|e| format!("cannot read SLO file {}: {e}", p.display()))?;
                crate::engine::spec::parse_specs(&p.display().to_string(), &text)
                    .map_err(|e| e.to_string())?
            }
            None => crate::engine::spec::default_specs(),
        };
        let runbooks = match &self.runbooks {
            Some(dir) => load_runbooks(dir)?,
            None => Vec::new(),
        };
        let notify = match &self.notify {
            Some(p) => Some(NotifyConfig::load(p)?),
            None => None,
        };
        Ok(FileConfig {
            tokens,
            policy,
            specs,
            runbooks,
            notify,
        })
    }
}

/// Loads a runbooks directory; any invalid runbook is an error naming
/// every `file:line: problem`.
pub fn load_runbooks(dir: &std::path::Path) -> Result<Vec<Runbook>, String> {
    if !dir.is_dir() {
        return Err(format!("{}: not a directory of runbooks", dir.display()));
    }
    crate::runbook::load_dir(dir).map_err(|errors| {
        let lines: Vec<String> = errors.iter().map(|e| format!("  {e}")).collect();
        format!(
            "{} problem(s) in the runbooks of {}:\n{}",
            errors.len(),
            dir.display(),
            lines.join("\n")
        )
    })
}

/// The tokens in force, replaceable while requests run. Every replacement
/// moves an epoch that open streams watch, to end those whose token is
/// gone.
pub struct LiveTokens {
    current: RwLock<Arc<TokenStore>>,
    epoch: watch::Sender<u64>,
}

impl LiveTokens {
    /// Tokens in force from the start.
    pub fn new(tokens: TokenStore) -> Self {
        Self {
            current: RwLock::new(Arc::new(tokens)),
            epoch: watch::channel(0).0,
        }
    }

    fn store(&self) -> Arc<TokenStore> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Who `token` is, if anyone.
    pub fn authenticate(&self, token: &str) -> Option<Principal> {
        self.store().authenticate(token)
    }

    /// Puts `tokens` in force.
    pub fn replace(&self, tokens: TokenStore) {
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(tokens);
        self.epoch.send_modify(|e| *e += 1);
    }

    /// Changes whenever the tokens are replaced.
    pub fn watch(&self) -> watch::Receiver<u64> {
        self.epoch.subscribe()
    }

    /// Resolves once `token` no longer authenticates as `who` (revoked,
    /// or given another name or role).
    pub async fn revoked(self: Arc<Self>, token: String, who: Principal) {
        let mut epoch = self.watch();
        loop {
            if epoch.changed().await.is_err() {
                return std::future::pending().await;
            }
            if self.authenticate(&token).as_ref() != Some(&who) {
                return;
            }
        }
    }
}

/// Reloads `state`'s files as `actor` (`SIGHUP` or a lead's name): the
/// answer names what is now in force, or the error that kept the previous
/// configuration.
pub async fn reload(state: &AppState, actor: &str) -> Result<Value, String> {
    let Some(sources) = state.config.clone() else {
        return Ok(
            json!({"reloaded": [], "note": "this hub was started without configuration files"}),
        );
    };
    let loaded = tokio::task::spawn_blocking(move || sources.load())
        .await
        .map_err(|e| format!("reload failed: {e}"))?;
    let actor = actor.to_string();
    let config = match loaded {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "configuration not reloaded; the previous one stays in force");
            let error = e.clone();
            let _ = state
                .with_core(move |core| core.config_refused(Utc::now(), &actor, &error))
                .await;
            return Err(e);
        }
    };
    let FileConfig {
        tokens,
        policy,
        specs,
        runbooks,
        notify,
    } = config;
    let token_count = tokens.len();
    state.tokens.replace(tokens);
    let answer = state
        .with_core(move |core| {
            core.reloaded(
                Utc::now(),
                &actor,
                policy,
                specs,
                runbooks,
                notify,
                token_count,
            )
        })
        .await
        .map_err(|e| format!("reload failed: {e:?}"))?
        .map_err(|e| format!("the reload could not be stored: {e}"))?;
    tracing::info!(%answer, "configuration reloaded");
    Ok(answer)
}

/// The files read again by a replica taking over after standing by, as a
/// restarted process would read them: a token revoked while it stood by
/// (and reloaded on the replica serving then) must not come back with it.
/// A file with an error keeps what the process read at start, as a reload
/// would, and the error is returned to be recorded once the hub is up.
pub async fn read_again(mut config: super::HubConfig) -> (super::HubConfig, Option<String>) {
    let Some(sources) = config.sources.clone() else {
        return (config, None);
    };
    let loaded = tokio::task::spawn_blocking(move || sources.load())
        .await
        .unwrap_or_else(|e| Err(format!("the files could not be read: {e}")));
    match loaded {
        Ok(files) => {
            config.tokens = files.tokens;
            config.policy = files.policy;
            config.specs = files.specs;
            config.runbooks = files.runbooks;
            config.notify = files.notify;
            (config, None)
        }
        Err(e) => {
            tracing::error!(error = %e, "taking over with the configuration read at start: the files now have an error");
            (config, Some(e))
        }
    }
}
