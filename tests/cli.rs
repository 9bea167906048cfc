//! The command-line surface of the real binary.

use std::process::Command;

fn agentdeck(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_agentdeck"))
        .args(args)
        .env_remove("AGENTDECK_HUB")
        .env_remove("AGENTDECK_TOKEN")
        .output()
        .expect("run agentdeck")
}

#[test]
fn help_lists_every_subcommand() {
    let out = agentdeck(&["--help"]);
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for sub in [
        "tui", "serve", "simulate", "demo", "replay", "handoff", "audit",
    ] {
        assert!(
            help.lines().any(|l| l.trim_start().starts_with(sub)),
            "--help does not list {sub}:\n{help}"
        );
    }
    let audit = agentdeck(&["audit", "--help"]);
    assert!(String::from_utf8_lossy(&audit.stdout).contains("verify"));
}

#[test]
fn unknown_flags_are_refused_by_name() {
    let out = agentdeck(&["serve", "--colour"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--colour"));
}
