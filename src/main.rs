//! Command-line entry point: parses arguments and hands off to a subcommand.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // Every user of the machine can read another's command line (`ps`):
    // a token given there is as good as published.
    if std::env::args().any(|a| a == "--token" || a.starts_with("--token=")) {
        eprintln!(
            "agentdeck: warning: --token on the command line is visible to every user of this machine (ps, /proc); use AGENTDECK_TOKEN or --token-file"
        );
    }
    let cli = agentdeck::cli::Cli::parse();
    agentdeck::cli::run(cli)
}
