//! Handing due notifications to the delivery loop, grouped, and recording
//! what the receivers answered.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Utc};
use serde_json::json;

use crate::hub::notify::payload::{self, PdAction};
use crate::hub::notify::{self, Kind, Notice};
use crate::model::incident::{Page, PageState};

use super::super::super::store::{NoticeRow, NoticeState, StoreError};
use super::super::Core;
use super::{FOLLOW_UP, GIVE_UP_MS, Outgoing, backoff_ms};

impl Core {
    /// The groups due at `now`, marked in flight: every row of a route's
    /// window in one request per receiver; PagerDuty acknowledge and
    /// resolve one by one, each once the page it follows is out.
    pub fn due_notices(&mut self, now: DateTime<Utc>) -> Vec<Outgoing> {
        let now_ms = now.timestamp_millis();
        let Some(n) = &self.notifier else {
            return Vec::new();
        };
        let mut groups: BTreeMap<(String, String, i64), Vec<u64>> = BTreeMap::new();
        let mut follow_ups = Vec::new();
        for row in n.pending.values() {
            if n.in_flight.contains(&row.id) || row.due_ms > now_ms || row.next_ms > now_ms {
                continue;
            }
            if row.grp == FOLLOW_UP {
                let page_out = !n.pending.values().any(|r| {
                    r.grp != FOLLOW_UP && r.receiver == row.receiver && r.subject == row.subject
                });
                if page_out {
                    follow_ups.push(row.id);
                }
                continue;
            }
            groups
                .entry((row.receiver.clone(), row.grp.clone(), row.due_ms))
                .or_default()
                .push(row.id);
        }
        let mut out = Vec::new();
        for ((receiver, grp, _), ids) in groups {
            out.push(self.group_request(&receiver, &grp, ids));
        }
        // Pages resolved by this pass: several resolves of one page due
        // together send it one resolve.
        let mut resolved: HashSet<(String, String)> = HashSet::new();
        for id in follow_ups {
            if let Some(o) = self.follow_up_request(id, &mut resolved) {
                out.push(o);
            }
        }
        if let Some(n) = &mut self.notifier {
            for o in &out {
                n.in_flight.extend(o.ids.iter().copied());
            }
        }
        out
    }

    fn rows_notices(&self, ids: &[u64]) -> Vec<Notice> {
        let Some(n) = &self.notifier else {
            return Vec::new();
        };
        ids.iter()
            .filter_map(|id| n.pending.get(id))
            .filter_map(|r| serde_json::from_str(&r.body).ok())
            .collect()
    }

    fn group_request(&self, receiver: &str, grp: &str, ids: Vec<u64>) -> Outgoing {
        let notices = self.rows_notices(&ids);
        let Some(n) = &self.notifier else {
            unreachable!("called with a notifier")
        };
        let hub_url = n
            .config
            .hub_url
            .clone()
            .unwrap_or_else(|| n.hub_url.clone());
        let mut o = Outgoing {
            ids,
            receiver: receiver.to_string(),
            url: String::new(),
            body: None,
            secret: None,
            page_key: None,
            pd_action: None,
        };
        let Some(r) = n.config.receiver(receiver) else {
            // Removed by a reload: the send fails visibly, with the reason.
            return o;
        };
        o.url = r.url.clone();
        let body = match r.kind {
            Kind::Pagerduty => {
                let key = notices
                    .first()
                    .map(|x| x.subject.clone())
                    .unwrap_or_default();
                let action = PdAction::Trigger;
                let body = payload::pagerduty(
                    r.routing_key.as_deref().unwrap_or_default(),
                    action,
                    &key,
                    &notices,
                    &hub_url,
                );
                o.page_key = Some(key);
                o.pd_action = Some(action);
                body
            }
            Kind::Slack => payload::slack(&notices),
            Kind::Webhook => {
                o.secret = r.secret.clone();
                payload::webhook(receiver, grp, &notices)
            }
        };
        o.body = Some(body.to_string());
        o
    }

    /// An acknowledge or resolve for the page a subject went out under;
    /// nothing to send when the page is already acknowledged, still
    /// covers other open subjects, or was resolved by this pass
    /// (`resolved`). A subject whose own resolve is queued or on its way is
    /// not open: resolves that come due together, or while another is in
    /// flight, must not each wait for the others and never resolve the page.
    fn follow_up_request(
        &self,
        id: u64,
        resolved: &mut HashSet<(String, String)>,
    ) -> Option<Outgoing> {
        let n = self.notifier.as_ref()?;
        let row = n.pending.get(&id)?;
        let sent = n.sent.get(&(row.receiver.clone(), row.subject.clone()));
        let mut o = Outgoing {
            ids: vec![id],
            receiver: row.receiver.clone(),
            url: String::new(),
            body: None,
            secret: None,
            page_key: sent.and_then(|s| s.page_key.clone()),
            pd_action: None,
        };
        let (Some(r), Some(key)) = (n.config.receiver(&row.receiver), o.page_key.clone()) else {
            return Some(o); // never paged there: nothing to follow
        };
        let same_page = |s: &&super::Sent| s.page_key.as_deref() == Some(key.as_str());
        let action = if row.event == notify::ACKNOWLEDGING {
            if n.sent.values().filter(same_page).any(|s| s.acked) {
                return Some(o);
            }
            PdAction::Acknowledge
        } else {
            let closing: HashSet<&str> = n
                .pending
                .values()
                .filter(|r| {
                    r.grp == FOLLOW_UP
                        && r.event != notify::ACKNOWLEDGING
                        && r.receiver == row.receiver
                })
                .map(|r| r.subject.as_str())
                .collect();
            let others_open = n.sent.iter().any(|((recv, subj), s)| {
                *recv == row.receiver
                    && *subj != row.subject
                    && same_page(&s)
                    && !closing.contains(subj.as_str())
            });
            if others_open || !resolved.insert((row.receiver.clone(), key.clone())) {
                return Some(o);
            }
            PdAction::Resolve
        };
        o.url = r.url.clone();
        o.pd_action = Some(action);
        o.body = Some(
            payload::pagerduty(
                r.routing_key.as_deref().unwrap_or_default(),
                action,
                &key,
                &[],
                "",
            )
            .to_string(),
        );
        Some(o)
    }

    /// Records what the receivers answered: rows delivered, merged or
    /// retried later (given up after a day), the incidents' page lists, and
    /// one audit entry per request.
    pub fn notice_results(
        &mut self,
        done: Vec<(Outgoing, Result<(), String>)>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut change = self.change();
        for (o, result) in done {
            let Some(n) = &self.notifier else {
                return Ok(());
            };
            let rows: Vec<NoticeRow> = o
                .ids
                .iter()
                .filter_map(|id| n.pending.get(id))
                .cloned()
                .collect();
            let Some(first) = rows.first() else {
                continue;
            };
            let updated = settle(&rows, &o, &result, now.timestamp_millis());
            if o.body.is_some() {
                let outcome = match (&result, updated[0].state) {
                    (Ok(()), _) => "delivered",
                    (Err(_), NoticeState::Failed) => "given_up",
                    (Err(_), _) => "failed",
                };
                self.metrics.delivery(&o.receiver, outcome);
            }
            if let Some((action, details)) = audit_of(&rows, &updated, &o, &result, now) {
                change.audit(now, "hub", None, action, first.subject.as_str(), details);
            }
            for row in &updated {
                if row.subject.starts_with("INC-") && o.body.is_some() {
                    self.page_incident(&mut change, &row.subject, page_of(row, now));
                }
            }
            change.batch.notices.extend(updated);
        }
        let rows = change.batch.notices.clone();
        let stored = self.commit(change);
        if stored.is_err()
            && let Some(n) = &mut self.notifier
        {
            // Sent again later: at least once, under the same dedup key.
            for row in &rows {
                n.in_flight.remove(&row.id);
            }
        }
        stored
    }
}

/// The rows of one request after its answer: delivered (or merged, when
/// nothing was sent), or due again after a backoff, or given up after a
/// day.
fn settle(
    rows: &[NoticeRow],
    o: &Outgoing,
    result: &Result<(), String>,
    now_ms: i64,
) -> Vec<NoticeRow> {
    rows.iter()
        .cloned()
        .map(|mut row| {
            match result {
                Ok(()) => {
                    row.state = if o.body.is_some() {
                        NoticeState::Delivered
                    } else {
                        NoticeState::Merged
                    };
                    row.done_ms = Some(now_ms);
                    row.page_key = o.page_key.clone();
                }
                Err(e) => {
                    row.attempts += 1;
                    row.last_error = Some(e.clone());
                    row.next_ms = now_ms + backoff_ms(row.attempts);
                    if now_ms - row.created_ms > GIVE_UP_MS {
                        row.state = NoticeState::Failed;
                        row.done_ms = Some(now_ms);
                    }
                }
            }
            row
        })
        .collect()
}

/// The audit entry one request's answer is worth: every delivery, the
/// first failure of a run of them (not each retry), and giving up.
fn audit_of(
    rows: &[NoticeRow],
    updated: &[NoticeRow],
    o: &Outgoing,
    result: &Result<(), String>,
    now: DateTime<Utc>,
) -> Option<(&'static str, serde_json::Value)> {
    let (first, after) = (rows.first()?, updated.first()?);
    let (action, mut details) = match (result, after.state) {
        (Ok(()), _) if o.body.is_none() => return None,
        (Ok(()), _) => ("notify.delivered", json!({"attempts": first.attempts + 1})),
        (Err(_), NoticeState::Failed) => (
            "notify.failed",
            json!({"gave_up_after_attempts": after.attempts}),
        ),
        (Err(_), _) if first.attempts == 0 => (
            "notify.failing",
            json!({"retry_in_ms": after.next_ms - now.timestamp_millis()}),
        ),
        (Err(_), _) => return None,
    };
    let subjects: Vec<&str> = rows.iter().map(|r| r.subject.as_str()).collect();
    let events: Vec<&str> = rows.iter().map(|r| r.event.as_str()).collect();
    details["receiver"] = json!(o.receiver);
    details["events"] = json!(events);
    details["subjects"] = json!(subjects);
    if let Some(a) = o.pd_action {
        details["pagerduty"] = json!(a.as_str());
        details["dedup_key"] = json!(o.page_key);
    }
    if let Err(e) = result {
        details["error"] = json!(e);
    }
    Some((action, details))
}

/// How a row shows on its incident.
fn page_of(row: &NoticeRow, now: DateTime<Utc>) -> Page {
    let state = match row.state {
        NoticeState::Delivered | NoticeState::Merged => PageState::Delivered,
        NoticeState::Failed => PageState::Failed,
        NoticeState::Pending => PageState::Failing,
    };
    Page {
        receiver: row.receiver.clone(),
        event: row.event.clone(),
        queued_at: DateTime::from_timestamp_millis(row.created_ms).unwrap_or(now),
        state,
        at: now,
        error: row
            .last_error
            .clone()
            .filter(|_| state != PageState::Delivered),
    }
}
