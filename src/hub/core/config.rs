//! A reloaded configuration put in force, or a refused one recorded
//! (see [`crate::hub::reload`]).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::engine::Engine;
use crate::hub::notify::NotifyConfig;
use crate::hub::policy::Policy;
use crate::model::envelope::Envelope;
use crate::model::runbook::Runbook;
use crate::model::slo::SloSpec;

use super::super::store::StoreError;
use super::Core;

impl Core {
    /// Why the last reload was refused, and since when, until one
    /// succeeds (`/healthz` says `degraded: config`).
    pub fn config_error(&self) -> Option<&(DateTime<Utc>, String)> {
        self.config_error.as_ref()
    }

    /// Records a reload refused for `error`: the previous configuration
    /// stays in force.
    pub fn config_refused(
        &mut self,
        now: DateTime<Utc>,
        actor: &str,
        error: &str,
    ) -> Result<(), StoreError> {
        let since = self.config_error.as_ref().map_or(now, |(t, _)| *t);
        self.config_error = Some((since, error.to_string()));
        let mut change = self.change();
        change.audit(
            now,
            actor,
            None,
            "config.refused",
            "config",
            json!({"error": error}),
        );
        self.commit(change)
    }

    /// Puts a reloaded configuration in force and audits it. Changed SLOs
    /// are computed again from the journal (the lock is held meanwhile:
    /// about 4 s per million events kept).
    #[allow(clippy::too_many_arguments)]
    pub fn reloaded(
        &mut self,
        now: DateTime<Utc>,
        actor: &str,
        policy: Policy,
        specs: Vec<SloSpec>,
        runbooks: Vec<Runbook>,
        notify: Option<NotifyConfig>,
        tokens: usize,
    ) -> Result<Value, StoreError> {
        let mut changed = Vec::new();
        if policy != self.policy {
            changed.push("policy");
        }
        self.policy = policy;
        let runbook_count = runbooks.len();
        self.set_runbooks(crate::runbook::Library::new(runbooks));
        let receivers = notify.as_ref().map_or(0, |n| n.receivers.len());
        if let Some(n) = notify {
            if self.notify_config().as_deref() != Some(&n) {
                changed.push("notify");
            }
            for r in &n.receivers {
                self.metrics.receiver(&r.name);
            }
            self.reload_notify(Arc::new(n));
        }
        if specs != self.engine.specs() {
            changed.push("slos");
            self.rebuild_engine(specs, now)?;
        }
        self.config_error = None;
        let answer = json!({
            "reloaded": ["tokens", "policy", "slos", "runbooks", "notify"],
            "changed": changed,
            "tokens": tokens,
            "slos": self.engine.specs().len(),
            "runbooks": runbook_count,
            "receivers": receivers,
        });
        let mut change = self.change();
        change.audit(
            now,
            actor,
            None,
            "config.reloaded",
            "config",
            answer.clone(),
        );
        self.commit(change)?;
        Ok(answer)
    }

    /// A fresh engine for `specs`, fed the journal kept.
    fn rebuild_engine(
        &mut self,
        specs: Vec<SloSpec>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut engine = Engine::with_limits(specs, self.engine.limits());
        let days = engine
            .specs()
            .iter()
            .map(|s| s.window_days)
            .max()
            .unwrap_or(30)
            .max(7);
        let since = now.timestamp() - i64::from(days) * 86_400;
        self.store.for_each_event(since, |line| {
            if let Ok(env) = Envelope::decode(line)
                && env.ts.timestamp() >= since
            {
                let _ = engine.apply(&env);
            }
        })?;
        // History's signals describe the past; the next tick judges now.
        engine.drain_signals();
        engine.tick(now);
        engine.drain_signals();
        self.engine = engine;
        self.sent_slo.clear();
        self.schedule.invalidate();
        Ok(())
    }
}
