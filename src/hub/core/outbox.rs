//! Callbacks to agents: queued with the change that causes them, handed to
//! delivery once it is committed, and their outcomes recorded and tallied.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::model::control::Control;

use super::super::store::{CallbackRow, StoreError};
use super::{CallbackJob, Change, Core};

impl Core {
    /// Takes the callbacks of committed changes.
    pub fn take_outbox(&mut self) -> Vec<CallbackJob> {
        std::mem::take(&mut self.outbox)
    }

    /// The callback registration of an agent.
    pub fn callback_of(&self, agent: &str) -> Option<&CallbackRow> {
        self.callbacks.get(agent)
    }

    /// Queues the callback for an agent if it registered one.
    pub fn queue_callback<T: Serialize>(
        &self,
        change: &mut Change,
        agent: &str,
        kind: &'static str,
        subject: &str,
        body: &T,
    ) {
        if let Some(cb) = self.callbacks.get(agent) {
            change.callback(CallbackJob {
                agent: agent.to_string(),
                url: cb.url.clone(),
                secret: cb.secret.clone(),
                kind,
                subject: subject.to_string(),
                body: serde_json::to_string(body).unwrap_or_default(),
            });
        }
    }

    /// Queues control callbacks to every agent the control binds.
    pub fn queue_control_callbacks(&self, change: &mut Change, control: &Control) {
        let body = serde_json::json!({"type": "control.changed", "control": control});
        if control.agent == "*" {
            let mut agents: Vec<&String> = self.callbacks.keys().collect();
            agents.sort();
            for agent in agents {
                self.queue_callback(change, agent, "control.changed", &control.id, &body);
            }
        } else {
            self.queue_callback(
                change,
                &control.agent,
                "control.changed",
                &control.id,
                &body,
            );
        }
    }

    /// Records an event that changes no object (callback delivery, for
    /// instance) in the audit log.
    pub fn record(
        &mut self,
        now: DateTime<Utc>,
        actor: &str,
        action: &str,
        subject: &str,
        details: serde_json::Value,
    ) -> Result<(), StoreError> {
        if let Some(ok) = match action {
            "callback.delivered" => Some(true),
            "callback.failed" => Some(false),
            _ => None,
        } {
            self.tally_callback(subject, ok);
        }
        let mut change = self.change();
        change.audit(now, actor, None, action, subject, details);
        self.commit(change)
    }

    /// Counts one decision callback's outcome under its approval's agent
    /// and action.
    fn tally_callback(&mut self, approval_id: &str, delivered: bool) {
        // A control callback is not an approval metric.
        let Ok(Some(a)) = self.approval(approval_id) else {
            return;
        };
        let entry = self.callback_tally.entry((a.agent, a.action)).or_default();
        if delivered {
            entry.0 += 1;
        } else {
            entry.1 += 1;
        }
    }

    /// Rebuilds the callback tally from the audit log at start.
    pub(super) fn tally_callbacks_since(&mut self, since: DateTime<Utc>) -> Result<(), StoreError> {
        self.callback_tally = self
            .store
            .callback_tally_since(since)?
            .into_iter()
            .collect();
        Ok(())
    }
}
