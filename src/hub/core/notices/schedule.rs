//! Notifications time makes: approvals waiting too long, incidents nobody
//! acknowledged (the escalation levels), and reminders of pages still
//! unanswered after a route's `repeat_interval`.

use chrono::{DateTime, Utc};

use crate::hub::notify::{self, Notice};
use crate::model::approval::ApprovalState;
use crate::model::incident::IncidentState;

use super::super::{Change, Core, by_id_number};
use super::FOLLOW_UP;

impl Core {
    /// Adds the notifications due at `now` to the tick's change.
    pub(in crate::hub::core) fn notify_tick(&mut self, now: DateTime<Utc>, change: &mut Change) {
        if self.notifier.is_none() {
            return;
        }
        self.approvals_waiting(now, change);
        self.escalate_unacknowledged(now, change);
        self.remind(now, change);
        self.forget_closed(now);
    }

    /// Forgets what was sent about subjects closed for an hour with
    /// nothing left to send about them, so memory follows what is open,
    /// not everything ever paged.
    fn forget_closed(&mut self, now: DateTime<Utc>) {
        let open = |desk: &crate::hub::core::Desk, subject: &str| {
            desk.incidents
                .get(subject)
                .map(|i| i.state != IncidentState::Resolved)
                .or_else(|| {
                    desk.approvals
                        .get(subject)
                        .map(|a| a.state == ApprovalState::Pending)
                })
                .or_else(|| {
                    desk.controls
                        .get(subject)
                        .map(|c| c.state == crate::model::control::ControlState::Active)
                })
                .unwrap_or(false)
        };
        let Some(n) = &mut self.notifier else {
            return;
        };
        let hour_ago = now.timestamp_millis() - 3_600_000;
        let busy: std::collections::HashSet<(String, String)> = n
            .pending
            .values()
            .map(|r| (r.receiver.clone(), r.subject.clone()))
            .collect();
        let desk = &self.desk;
        n.sent.retain(|key, sent| {
            sent.last_ms > hour_ago || busy.contains(key) || open(desk, &key.1)
        });
        n.waiting_sent.retain(|(_, approval)| {
            desk.approvals
                .get(approval)
                .is_some_and(|a| a.state == ApprovalState::Pending)
        });
    }

    fn approvals_waiting(&mut self, now: DateTime<Utc>, change: &mut Change) {
        let Some(n) = &self.notifier else {
            return;
        };
        let routes: Vec<_> = n
            .config
            .routes
            .iter()
            .filter(|r| r.events.iter().any(|e| e == "approval.waiting"))
            .cloned()
            .collect();
        if routes.is_empty() {
            return;
        }
        let mut queued = Vec::new();
        for a in self.desk.approvals.values() {
            if a.state != ApprovalState::Pending {
                continue;
            }
            let waited = (now - a.requested_at).to_std().unwrap_or_default();
            for route in &routes {
                let key = (route.name.clone(), a.id.clone());
                if waited < route.min_wait || n.waiting_sent.contains(&key) {
                    continue;
                }
                let notice = Notice::of_approval("approval.waiting", now, "hub", a);
                if notify::route_takes(route, &notice) {
                    let wait = route.group_wait.as_millis() as i64;
                    let targets = route
                        .receivers
                        .iter()
                        .map(|r| (r.clone(), route.name.clone(), wait))
                        .collect();
                    queued.push((notice, targets));
                }
            }
        }
        queued.sort_by(|a, b| a.0.subject.cmp(&b.0.subject));
        for (notice, targets) in queued {
            self.queue(change, &notice, targets, now);
        }
    }

    fn escalate_unacknowledged(&mut self, now: DateTime<Utc>, change: &mut Change) {
        let Some(n) = &self.notifier else {
            return;
        };
        let levels = n.config.escalation.clone();
        if levels.is_empty() {
            return;
        }
        let mut open: Vec<_> = self
            .desk
            .incidents
            .values()
            .filter(|i| i.state == IncidentState::Triggered)
            .filter(|i| (i.escalation_level as usize) < levels.len())
            // A snoozed incident escalates once its snooze ends.
            .filter(|i| !i.snoozed(now))
            .filter(|i| {
                !change
                    .batch
                    .incidents
                    .iter()
                    .any(|c| c.id == i.id && c.state != IncidentState::Triggered)
            })
            .cloned()
            .collect();
        by_id_number(&mut open, |i| &i.id);
        for mut incident in open {
            let reached = incident.escalation_level as usize;
            let after: std::time::Duration = levels[..=reached].iter().map(|l| l.ack_timeout).sum();
            let due = incident.opened_at + chrono::Duration::from_std(after).unwrap_or_default();
            if now < due {
                continue;
            }
            let level = &levels[reached];
            incident.escalation_level = reached as u32 + 1;
            let pages = level.severity.is_empty() || level.severity.contains(&incident.severity);
            if pages {
                incident
                    .timeline
                    .push(crate::model::incident::TimelineEntry {
                        at: now,
                        actor: "hub".into(),
                        kind: "escalated".into(),
                        text: format!(
                            "not acknowledged within {}: paging escalation level {} ({})",
                            crate::config::format_duration(after),
                            reached + 1,
                            level.receivers.join(", ")
                        ),
                    });
                change.audit(
                    now,
                    "hub",
                    None,
                    "incident.escalated",
                    &incident.id,
                    serde_json::json!({
                        "level": reached + 1,
                        "receivers": level.receivers,
                        "unacknowledged_for_s": after.as_secs(),
                    }),
                );
            }
            change.incident(incident);
        }
    }

    /// Pages again what is still unacknowledged after its route's
    /// `repeat_interval`, under the same dedup key.
    fn remind(&mut self, now: DateTime<Utc>, change: &mut Change) {
        let Some(n) = &self.notifier else {
            return;
        };
        let now_ms = now.timestamp_millis();
        let mut due = Vec::new();
        for ((receiver, subject), sent) in &n.sent {
            let Some(route) = n.config.routes.iter().find(|r| r.name == sent.grp) else {
                continue;
            };
            if sent.acked || now_ms - sent.last_ms < route.repeat_interval.as_millis() as i64 {
                continue;
            }
            let Some(i) = self.desk.incidents.get(subject) else {
                continue;
            };
            if i.state != IncidentState::Triggered || i.snoozed(now) {
                continue;
            }
            let queued = n
                .pending
                .values()
                .any(|r| r.receiver == *receiver && r.subject == *subject && r.grp != FOLLOW_UP);
            if !queued {
                due.push((receiver.clone(), route.name.clone(), i.clone()));
            }
        }
        due.sort_by(|a, b| (&a.2.id, &a.0).cmp(&(&b.2.id, &b.0)));
        for (receiver, grp, incident) in due {
            let mut notice = Notice::reminder(&incident, now);
            notice.details = serde_json::json!({"reminder": true});
            self.queue(change, &notice, vec![(receiver, grp, 0)], now);
        }
    }
}
