//! The simulated fleet (`agentdeck simulate`, and inside `agentdeck demo`):
//! agents drawn from real operations, with realistic distributions, that
//! ask for approvals and obey the hub's controls.

pub mod agent;
pub mod profile;
pub mod registry;
pub mod rng;
pub mod runner;
pub mod scenario;
