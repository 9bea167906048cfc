//! One scrape: the kept counters, then gauges read from the core's state,
//! encoded in the Prometheus text format (version 0.0.4).
//!
//! SLO names follow Sloth's recording rules with the colons (reserved for
//! recording rules, and refused by `promtool check metrics`) turned into
//! underscores and the window as a label: Sloth's
//! `slo:sli_error:ratio_rate5m` is `agentdeck_slo_sli_error_ratio{sloth_window="5m"}`,
//! with Sloth's `sloth_id`, `sloth_service` and `sloth_slo` labels.

use std::sync::atomic::AtomicU64;

use chrono::{DateTime, Utc};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::hub::core::Core;
use crate::model::incident::{IncidentState, Severity};
use crate::model::slo::{AlertLevel, SloStatus};

use super::MAX_SLO_SERIES;

/// The text format's content type.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

type Ratio = Gauge<f64, AtomicU64>;

/// Sloth's labels of one SLO series.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SloLabels {
    sloth_id: String,
    sloth_service: String,
    sloth_slo: String,
    workflow: String,
}

/// Sloth's labels and a window.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SloWindowLabels {
    sloth_id: String,
    sloth_service: String,
    sloth_slo: String,
    workflow: String,
    sloth_window: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SeverityLabel {
    severity: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReceiverLabel {
    receiver: String,
}

fn level(a: AlertLevel) -> i64 {
    match a {
        AlertLevel::None => 0,
        AlertLevel::Ticket => 1,
        AlertLevel::Page => 2,
    }
}

/// What every hub process says of itself, serving or standing by, so
/// that each replica scraped as its own target says which one serves and
/// how far it has read, and only the serving one carries the hub's
/// figures (summing over replicas counts them once).
fn register_replica(r: &mut Registry, serving: bool, stream_last_id: u64) {
    let up = Gauge::<i64>::default();
    up.set(i64::from(serving));
    r.register(
        "hub_serving",
        "1 while this process serves, 0 while it stands by (PostgreSQL replicas)",
        up,
    );
    let last = Gauge::<i64>::default();
    last.set(i64::try_from(stream_last_id).unwrap_or(i64::MAX));
    r.register(
        "stream_last_id",
        "Newest live-stream id this process has: published, or read from the shared log",
        last,
    );
}

fn encode(r: &Registry) -> String {
    let mut out = String::new();
    if let Err(e) = prometheus_client::encoding::prometheus_text::encode(&mut out, r) {
        tracing::warn!(error = %e, "could not encode the metrics");
    }
    out
}

/// A standby's exposition: only what it says of itself (see
/// [`register_replica`]), the newest id it has read from the log.
pub fn standby_text(stream_last_id: u64) -> String {
    let mut r = Registry::with_prefix("agentdeck");
    register_replica(&mut r, false, stream_last_id);
    encode(&r)
}

impl Core {
    /// The whole exposition at `now`.
    pub fn prometheus_text(&self, now: DateTime<Utc>) -> String {
        let mut r = Registry::with_prefix("agentdeck");
        self.metrics.register(&mut r);
        self.register_slos(&mut r);
        self.register_desk(&mut r, now);
        register_replica(&mut r, true, self.seq());
        encode(&r)
    }

    fn register_slos(&self, r: &mut Registry) {
        let mut statuses: Vec<&SloStatus> = self.published_slos().collect();
        // The most burning first, so a cap never hides what pages.
        statuses.sort_by(|a, b| {
            level(b.alert)
                .cmp(&level(a.alert))
                .then(b.burn.h1.total_cmp(&a.burn.h1))
                .then(a.series.cmp(&b.series))
        });
        statuses.truncate(MAX_SLO_SERIES);
        let objective = Family::<SloLabels, Ratio>::default();
        let remaining = Family::<SloLabels, Ratio>::default();
        let alert = Family::<SloLabels, Gauge>::default();
        let error_ratio = Family::<SloWindowLabels, Ratio>::default();
        let burn = Family::<SloWindowLabels, Ratio>::default();
        for s in statuses {
            let labels = SloLabels {
                sloth_id: s.series.clone(),
                sloth_service: s.agent.clone(),
                sloth_slo: s.slo.clone(),
                workflow: s.workflow.clone(),
            };
            objective.get_or_create(&labels).set(s.objective);
            remaining.get_or_create(&labels).set(s.budget_remaining);
            alert.get_or_create(&labels).set(level(s.alert));
            let allowed = (1.0 - s.objective).max(f64::EPSILON);
            let b = &s.burn;
            let mut windows = vec![
                ("5m", b.m5),
                ("30m", b.m30),
                ("1h", b.h1),
                ("2h", b.h2),
                ("6h", b.h6),
                ("1d", b.d1),
                ("3d", b.d3),
            ];
            if let Some(good) = s.ratio {
                windows.push((period(s.window_days), (1.0 - good) / allowed));
            }
            for (window, rate) in windows {
                let l = SloWindowLabels {
                    sloth_id: labels.sloth_id.clone(),
                    sloth_service: labels.sloth_service.clone(),
                    sloth_slo: labels.sloth_slo.clone(),
                    workflow: labels.workflow.clone(),
                    sloth_window: window.to_string(),
                };
                burn.get_or_create(&l).set(rate);
                error_ratio.get_or_create(&l).set(rate * allowed);
            }
        }
        r.register(
            "slo_objective_ratio",
            "The SLO's objective (Sloth: slo:objective:ratio)",
            objective,
        );
        r.register(
            "slo_sli_error_ratio",
            "Share of bad events over sloth_window (Sloth: slo:sli_error:ratio_rate<window>)",
            error_ratio,
        );
        r.register(
            "slo_burn_rate_ratio",
            "Error budget burn rate over sloth_window; the SLO's period is slo:period_burn_rate (Sloth: slo:current_burn_rate:ratio)",
            burn,
        );
        r.register(
            "slo_error_budget_remaining_ratio",
            "Error budget left over the SLO's period: 1 untouched, 0 spent (Sloth: slo:period_error_budget_remaining:ratio)",
            remaining,
        );
        r.register(
            "slo_alert_level",
            "Burn-rate alert: 0 none, 1 ticket, 2 page",
            alert,
        );
    }

    fn register_desk(&self, r: &mut Registry, now: DateTime<Utc>) {
        let incidents = Family::<SeverityLabel, Gauge>::default();
        // Every severity, at 0 when none is open: alert rules need the series.
        for sev in [
            Severity::Sev1,
            Severity::Sev2,
            Severity::Sev3,
            Severity::Sev4,
        ] {
            incidents
                .get_or_create(&SeverityLabel {
                    severity: sev.as_str().to_string(),
                })
                .set(0);
        }
        for i in self
            .desk
            .incidents
            .values()
            .filter(|i| i.state != IncidentState::Resolved)
        {
            let l = SeverityLabel {
                severity: i.severity.as_str().to_string(),
            };
            incidents.get_or_create(&l).inc();
        }
        r.register(
            "incidents_open",
            "Incidents not resolved, by severity",
            incidents,
        );
        let pending = Gauge::<i64>::default();
        pending.set(self.desk.open_approvals().len() as i64);
        r.register(
            "approvals_pending",
            "Approvals waiting for a decision",
            pending,
        );
        let active = Gauge::<i64>::default();
        active.set(self.snapshot_controls(now) as i64);
        r.register("controls_active", "Controls in force", active);
        let clients = Gauge::<i64>::default();
        clients.set(self.stream_clients() as i64);
        r.register(
            "stream_clients",
            "Live streams attached (operators' TUIs)",
            clients,
        );
        let writable = Gauge::<i64>::default();
        writable.set(i64::from(self.store().write_failure().is_none()));
        r.register(
            "store_writable",
            "1 while the database takes writes, 0 while it refuses them (disk full, read-only)",
            writable,
        );
        let bytes = Gauge::<i64>::default();
        bytes.set(self.store().database_bytes().unwrap_or(0) as i64);
        r.register("store_database_bytes", "Size of the database file", bytes);
        let queued = Family::<ReceiverLabel, Gauge>::default();
        for (receiver, n) in self.notices_pending() {
            queued
                .get_or_create(&ReceiverLabel { receiver })
                .set(n as i64);
        }
        r.register(
            "notifications_pending",
            "Notifications not yet delivered, by receiver",
            queued,
        );
    }
}

/// A period in Sloth's window notation: `30d`.
fn period(days: u32) -> &'static str {
    match days {
        1 => "1d",
        7 => "7d",
        14 => "14d",
        28 => "28d",
        30 => "30d",
        90 => "90d",
        _ => "period",
    }
}
