//! Command-line entry point: parses arguments and hands off to a subcommand.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = agentdeck::cli::Cli::parse();
    agentdeck::cli::run(cli)
}
