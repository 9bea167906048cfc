//! Checks of the History and audit-view examples of `docs/protocol.md`
//! (§7.6, §7.19): what each record derives from its own fields, the order
//! of a page and the cursor it hands on.

use agentdeck::model::approval::ApprovalState;
use agentdeck::model::audit::{AuditChain, AuditEntry, AuditPage};
use agentdeck::model::control::ControlState;
use agentdeck::model::history::{
    ApprovalRecord, ControlRecord, Cursor, HistoryKind, HistoryPage, IncidentRecord,
};
use chrono::{DateTime, Utc};

fn ensure(ok: bool, what: impl FnOnce() -> String) -> Result<(), String> {
    if ok { Ok(()) } else { Err(what()) }
}

fn seconds(from: DateTime<Utc>, to: DateTime<Utc>) -> u64 {
    u64::try_from((to - from).num_seconds()).unwrap_or(0)
}

/// Newest first, and `next` is the cursor after the last item.
fn page<T>(
    page: &HistoryPage<T>,
    kind: HistoryKind,
    key: impl Fn(&T) -> (DateTime<Utc>, &str),
) -> Result<(), String> {
    ensure(!page.items.is_empty(), || "no items".into())?;
    for pair in page.items.windows(2) {
        let (a, b) = (key(&pair[0]), key(&pair[1]));
        ensure(a > b, || {
            format!("{} is listed before {}, which closed later", a.1, b.1)
        })?;
    }
    if let Some(next) = &page.next {
        let last = page.items.last().map(&key).ok_or("no items")?;
        let cursor = Cursor::parse(kind, next)?;
        ensure(cursor == Cursor::after(kind, last.0, last.1), || {
            format!(
                "next is not the cursor after {}: it is {}",
                last.1,
                Cursor::after(kind, last.0, last.1).encode()
            )
        })?;
    }
    Ok(())
}

pub fn approvals(body: &str) -> Result<(), String> {
    let p: HistoryPage<ApprovalRecord> = super::parse(body)?;
    for r in &p.items {
        ensure(!r.decision.is_open(), || format!("{} is not decided", r.id))?;
        ensure(r.waited_s == seconds(r.requested_at, r.decided_at), || {
            format!("{}: waited_s is not decided_at − requested_at", r.id)
        })?;
        let closing = r
            .decisions
            .last()
            .filter(|_| r.decision != ApprovalState::Expired);
        ensure(r.decided_by == closing.map(|d| d.by.clone()), || {
            format!(
                "{}: decided_by is not the closing decision's approver",
                r.id
            )
        })?;
        ensure(r.reason == closing.and_then(|d| d.reason.clone()), || {
            format!("{}: reason is not the closing decision's", r.id)
        })?;
        if let Some(d) = closing {
            ensure(d.at == r.decided_at, || {
                format!("{}: decided_at is not the closing decision's time", r.id)
            })?;
        }
    }
    page(&p, HistoryKind::Approvals, |r| {
        (r.decided_at, r.id.as_str())
    })
}

pub fn incidents(body: &str) -> Result<(), String> {
    let p: HistoryPage<IncidentRecord> = super::parse(body)?;
    for r in &p.items {
        ensure(r.mttr_s == seconds(r.opened_at, r.resolved_at), || {
            format!("{}: mttr_s is not resolved_at − opened_at", r.id)
        })?;
        ensure(
            r.mtta_s == r.acknowledged_at.map(|t| seconds(r.opened_at, t)),
            || format!("{}: mtta_s is not acknowledged_at − opened_at", r.id),
        )?;
    }
    page(&p, HistoryKind::Incidents, |r| {
        (r.resolved_at, r.id.as_str())
    })
}

pub fn controls(body: &str) -> Result<(), String> {
    let p: HistoryPage<ControlRecord> = super::parse(body)?;
    for r in &p.items {
        ensure(r.state != ControlState::Active, || {
            format!("{} is still active", r.id)
        })?;
        ensure(
            r.lifted_by.is_some() == (r.state == ControlState::Lifted),
            || format!("{}: lifted_by is set exactly when it was lifted", r.id),
        )?;
        ensure(r.active_s == seconds(r.set_at, r.ended_at), || {
            format!("{}: active_s is not ended_at − set_at", r.id)
        })?;
    }
    page(&p, HistoryKind::Controls, |r| (r.ended_at, r.id.as_str()))
}

/// A newest-first page of the audit log: its entries, oldest first, for
/// the chain checks.
pub fn audit_newest(body: &str) -> Result<Vec<AuditEntry>, String> {
    let p: AuditPage = super::parse(body)?;
    let first = p.entries.first().ok_or("no entries")?;
    let last = p.entries.last().ok_or("no entries")?;
    ensure(p.next_after == first.seq, || {
        "next_after is the newest seq".into()
    })?;
    ensure(p.next_before.is_none_or(|b| b == last.seq), || {
        "next_before is the oldest seq returned".into()
    })?;
    Ok(p.entries.into_iter().rev().collect())
}

pub fn chain(body: &str) -> Result<(), String> {
    match super::parse::<AuditChain>(body)? {
        AuditChain::Intact { head, entries, .. } => ensure(
            head.len() == 64
                && hex::decode(&head).is_ok()
                && (entries > 0 || head == "0".repeat(64)),
            || "head is the 64-hex-digit hash of the last entry".into(),
        ),
        AuditChain::Broken { at, reason, .. } => ensure(at >= 1 && !reason.is_empty(), || {
            "a break names an entry from 1 and a reason".into()
        }),
    }
}
