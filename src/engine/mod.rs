//! Pure domain logic: SLO windows, burn rates, alerts, drift and the
//! incident, approval and control state machines.
//!
//! No I/O, no clocks, no async: time arrives with events (their `ts`) and
//! with [`Engine::tick`]. The same input always gives the same output, which
//! is what lets the hub, replay and the tests share one engine.

pub mod approval;
mod as_json;
pub mod burn;
pub mod control;
pub mod drift;
pub mod drill;
mod fleet;
pub mod incident;
pub mod ring;
pub mod series;
pub mod sketch;
pub mod spec;
pub mod stats;

pub use fleet::{Alerting, DriftSubject, Engine, Limits, Rejected, Signal};

/// A state-machine transition that is not allowed from the current state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot {action} {subject}: it is {state}")]
pub struct TransitionError {
    /// What was attempted, e.g. `acknowledge`.
    pub action: &'static str,
    /// The object, e.g. `INC-4`.
    pub subject: String,
    /// Its current state, with detail (e.g. `approved by dana at …`).
    pub state: String,
}
