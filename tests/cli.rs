//! The command-line surface of the real binary.

use std::process::Command;

fn agentdeck(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_agentdeck"))
        .args(args)
        .env_remove("AGENTDECK_HUB")
        .env_remove("AGENTDECK_TOKEN")
        .env_remove("NO_COLOR")
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

#[test]
fn keys_check_names_the_file_line_and_problem() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.toml");
    std::fs::write(&good, "[approvals]\napprove = \"A\"\n").unwrap();
    let out = agentdeck(&["keys", "check", good.to_str().unwrap()]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains(": ok ("));
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[global]\n\nhelp = \"q\"\n").unwrap();
    let out = agentdeck(&["keys", "check", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("bad.toml:3:"), "{text}");
    assert!(
        text.contains("\"help\"") && text.contains("\"quit\""),
        "{text}"
    );
}

#[test]
fn a_broken_user_keymap_stops_the_tui_with_how_to_fix_it() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("agentdeck");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::write(config.join("keymap.toml"), "[global]\nquit = \"ctrl+q\"\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_agentdeck"))
        .args(["--hub", "http://127.0.0.1:9", "--token", "x"])
        .env("XDG_CONFIG_HOME", dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("keymap.toml:2: bad key for \"quit\""), "{err}");
    assert!(err.contains("agentdeck keys check"), "{err}");
}

#[test]
fn an_unknown_theme_lists_the_shipped_ones() {
    let out = agentdeck(&[
        "--hub",
        "http://127.0.0.1:9",
        "--token",
        "x",
        "--theme",
        "neon",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("dark, light, high-contrast, colorblind"),
        "{err}"
    );
}

#[test]
fn config_path_names_every_location() {
    let out = agentdeck(&["config", "path"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for what in ["config", "themes", "keymaps", "log", "data"] {
        assert!(text.lines().any(|l| l.starts_with(what)), "{what}: {text}");
    }
}

#[test]
fn tokens_never_go_over_plain_http_beyond_loopback() {
    let out = agentdeck(&["--hub", "http://hub.example.com:7400", "--token", "x"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--insecure"));
}

/// A token on the command line is visible to every user (`ps`): the
/// binary says so, and takes it from a file instead when asked.
#[test]
fn a_token_on_the_command_line_warns_and_a_token_file_is_read() {
    let out = agentdeck(&["handoff", "--hub", "http://127.0.0.1:1", "--token", "adk_x"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--token on the command line is visible"),
        "{stderr}"
    );
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("token");
    std::fs::write(&empty, "\n").unwrap();
    let out = agentdeck(&[
        "--hub",
        "http://127.0.0.1:1",
        "--token-file",
        empty.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("the file is empty"), "{stderr}");
    assert!(!stderr.contains("visible to every user"), "{stderr}");
    let missing = dir.path().join("nope");
    let out = agentdeck(&[
        "--hub",
        "http://127.0.0.1:1",
        "--token-file",
        missing.to_str().unwrap(),
    ]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("--token-file"));
}

/// The hub's log carries no colour codes when standard error is not a
/// terminal, and the database it creates is readable by its owner only.
#[test]
fn serve_logs_plain_text_and_creates_a_private_database() {
    use std::io::{BufRead, BufReader, Read};
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens.toml");
    std::fs::write(
        &tokens,
        "[[token]]\nname = \"lee\"\nrole = \"lead\"\nsha256 = \"c3e3bb3af6d06d7b862dc5f699a311bf6db381d922b8ac7f7ab04b4180a563cf\"\n",
    )
    .unwrap();
    let db = dir.path().join("data/hub.db");
    let mut child = Command::new(env!("CARGO_BIN_EXE_agentdeck"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--otlp-grpc-listen",
            "off",
        ])
        .arg("--db")
        .arg(&db)
        .arg("--tokens")
        .arg(&tokens)
        .env("AGENTDECK_LOG", "info")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.contains("listening on"), "{line}");
    child.kill().unwrap();
    child.wait().unwrap();
    let mut log = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();
    assert!(log.contains("model prices loaded"), "{log}");
    assert!(
        !log.contains('\u{1b}'),
        "colour codes in a piped log: {log:?}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&db).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{mode:o}");
    }
}
