//! Who is connected and what each operator looks at: published to every
//! stream, never stored.

use chrono::{DateTime, Utc};

use crate::model::action::Presence;
use crate::model::role::Role;
use crate::model::stream::Delta;

use super::Core;

impl Core {
    pub(super) fn presence_list(&self) -> Vec<Presence> {
        let mut list: Vec<Presence> = self.presence.values().map(|(p, _)| p.clone()).collect();
        list.sort_by(|a, b| a.operator.cmp(&b.operator));
        list
    }

    /// An operator's stream connected.
    pub fn connect(&mut self, operator: &str, role: Role, now: DateTime<Utc>) {
        let entry = self.presence.entry(operator.to_string()).or_insert((
            Presence {
                operator: operator.to_string(),
                role,
                viewing: None,
                since: now,
            },
            0,
        ));
        entry.1 += 1;
        let list = self.presence_list();
        let _ = self.publish_volatile(&[Delta::Presence(list)]);
    }

    /// An operator's stream went away.
    pub fn disconnect(&mut self, operator: &str) {
        if let Some(entry) = self.presence.get_mut(operator) {
            entry.1 = entry.1.saturating_sub(1);
            if entry.1 == 0 {
                self.presence.remove(operator);
            }
        }
        let list = self.presence_list();
        let _ = self.publish_volatile(&[Delta::Presence(list)]);
    }

    /// What a connected operator is looking at. False when not connected.
    pub fn set_viewing(&mut self, operator: &str, viewing: Option<String>) -> bool {
        let Some(entry) = self.presence.get_mut(operator) else {
            return false;
        };
        if entry.0.viewing == viewing {
            return true;
        }
        entry.0.viewing = viewing;
        let list = self.presence_list();
        let _ = self.publish_volatile(&[Delta::Presence(list)]);
        true
    }
}
