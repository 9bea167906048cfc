//! Wire types shared by the hub, the TUI and agents: the event envelope, the
//! shared state objects (incidents, approvals, controls, audit entries, SLO
//! specs and status, agents) and roles.
//!
//! Everything that crosses a trust boundary is decoded here with strict
//! validation: unknown types and fields, missing fields and oversize values
//! are errors that name what was wrong. Decoding never panics.

pub mod action;
pub mod agent;
pub mod api;
pub mod approval;
pub mod audit;
pub mod control;
pub mod drill;
pub mod envelope;
pub mod envelope_ref;
pub mod error;
pub mod history;
pub mod incident;
pub mod limits;
pub mod profile;
pub mod role;
pub mod runbook;
pub mod slo;
pub mod stream;
pub mod validate;

pub use agent::Agent;
pub use approval::{Approval, ApprovalState, Decision, Verdict};
pub use audit::AuditEntry;
pub use control::{Control, ControlKind, ControlState};
pub use envelope::{
    ApprovalRequest, Change, Component, Envelope, Escalation, Event, HealthStatus, Heartbeat,
    IncidentReport, Outcome, PolicyViolation, Risk, RunFinished, Tokens, ToolCall, ToolCallEvent,
    ToolStatus, Versions,
};
pub use error::DecodeError;
pub use incident::{Category, Incident, IncidentSource, IncidentState, Severity, TimelineEntry};
pub use role::Role;
pub use slo::{AlertLevel, BurnRates, SliKind, SloSpec, SloStatus, VersionMarker};
