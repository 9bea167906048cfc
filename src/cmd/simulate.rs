//! `agentdeck simulate`: a simulated fleet posting to a hub.

use std::process::ExitCode;
use std::sync::Arc;

use crate::cli::SimulateArgs;
use crate::sim::runner::{SimConfig, SimStats, run as run_fleet};
use crate::sim::scenario::Scenario;

use super::{fail, init_logging, parse_duration};

/// Builds the fleet's configuration from the flags.
pub fn config(args: &SimulateArgs) -> Result<SimConfig, String> {
    let hub = args
        .hub
        .clone()
        .ok_or("--hub URL is required (e.g. http://127.0.0.1:7400)")?;
    let token = args
        .token
        .clone()
        .ok_or("--token is required: an agent token (agentdeck token new --role agent)")?;
    let scenario = Scenario::parse(&args.scenario).ok_or_else(|| {
        format!(
            "--scenario {:?} is not one of {}",
            args.scenario,
            Scenario::NAMES
        )
    })?;
    let rate = args.rate.unwrap_or(10.0);
    if !(rate.is_finite() && rate > 0.0 && rate <= 1_000_000.0) {
        return Err(format!(
            "--rate {rate} must be between 0 and 1,000,000 runs/s"
        ));
    }
    let agents = args.agents.unwrap_or(5) as usize;
    if agents == 0 || agents > 10_000 {
        return Err(format!("--agents {agents} must be 1 to 10,000"));
    }
    let duration = args.duration.as_deref().map(parse_duration).transpose()?;
    Ok(SimConfig {
        hub,
        token,
        scenario,
        agents,
        rate,
        seed: args.seed.unwrap_or(1),
        duration,
        ..SimConfig::default()
    })
}

/// `agentdeck simulate`.
pub fn run(args: SimulateArgs) -> ExitCode {
    init_logging("warn");
    let config = match config(&args) {
        Ok(c) => c,
        Err(e) => return fail(e),
    };
    if let Some(path) = &args.ca_cert
        && let Err(e) = crate::client::trust_ca_file(path)
    {
        return fail(e);
    }
    let runtime = match super::runtime() {
        Ok(r) => r,
        Err(code) => return code,
    };
    eprintln!(
        "agentdeck simulate: {} agents, {} runs/s, scenario {}, seed {} → {}",
        config.agents,
        config.rate,
        config.scenario.as_str(),
        config.seed,
        config.hub
    );
    let stats = Arc::new(SimStats::default());
    let result = runtime.block_on(run_fleet(config, stats, crate::shutdown::shutdown_signal()));
    match result {
        Ok(report) => {
            println!("{report}");
            ExitCode::SUCCESS
        }
        Err(e) => fail(e),
    }
}
