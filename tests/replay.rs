//! `agentdeck replay`: the engine over recorded files, with no hub.

use std::process::Command;

use agentdeck::sim::agent::{Obeyed, SimAgent, Step};
use agentdeck::sim::profile::fleet;
use agentdeck::sim::scenario::Effects;
use chrono::{Duration, TimeZone, Utc};

/// Two hours of the refund bot, the second with its lookup tool failing.
fn recording(dir: &std::path::Path) -> std::path::PathBuf {
    let mut bot = SimAgent::new(fleet()[0].clone(), 0, 9);
    let start = Utc.with_ymd_and_hms(2026, 11, 20, 1, 0, 0).unwrap();
    let outage = Effects {
        outage: Some(("refund-bot", "lookup_order", 0.9)),
        ..Effects::default()
    };
    let mut lines = Vec::new();
    for i in 0..7200 {
        let t = start + Duration::seconds(i);
        let effects = if i < 3600 {
            Effects::default()
        } else {
            outage.clone()
        };
        if let Step::Done(env) = bot.step(t, &effects, &Obeyed::default()) {
            lines.push(env.to_line());
        }
    }
    lines.push("not json at all".into());
    let path = dir.join("night.ndjson");
    std::fs::write(&path, lines.join("\n")).unwrap();
    path
}

#[test]
fn summary_shows_the_burn_and_the_rate() {
    let dir = tempfile::tempdir().unwrap();
    let file = recording(dir.path());
    let out = Command::new(env!("CARGO_BIN_EXE_agentdeck"))
        .args(["replay", "--summary", "--json"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["rejected"], 1);
    let error = v["errors"][0].as_str().unwrap();
    assert!(
        error.starts_with("line ") && error.contains("invalid JSON"),
        "{error}"
    );
    let s = &v["summary"];
    assert!(s["events"].as_u64().unwrap() > 7000);
    assert!(s["events_per_s"].as_f64().unwrap() > 0.0);
    assert_eq!(s["clock"], "2026-11-20T02:59:59Z");
    let worst = &s["slos"][0];
    assert_eq!(worst["series"], "completion/refund-bot/refund");
    assert_eq!(worst["alert"], "page");

    let text = Command::new(env!("CARGO_BIN_EXE_agentdeck"))
        .args(["replay", "--summary"])
        .arg(&file)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("events/s"), "{text}");
    assert!(text.contains("completion/refund-bot/refund"), "{text}");
    assert!(text.contains("page"), "{text}");
}

#[test]
fn collector_file_exporter_output_is_read_line_by_line() {
    let out = Command::new(env!("CARGO_BIN_EXE_agentdeck"))
        .args([
            "replay",
            "--summary",
            "--json",
            "tests/fixtures/otlp/otel-tui_test_data.jsonl",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["lines"], 97);
    assert_eq!(v["spans"], 547);
    assert_eq!(v["skipped_lines"], 56);
    assert_eq!(v["rejected"], 0);
}

#[test]
fn a_missing_file_is_named() {
    let out = Command::new(env!("CARGO_BIN_EXE_agentdeck"))
        .args(["replay", "--summary", "/no/such/file.ndjson"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/no/such/file.ndjson"));
}

/// The `--summary --json` output for `file`, without the timings.
fn summary_of(file: &std::path::Path) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_agentdeck"))
        .args(["replay", "--summary", "--json"])
        .arg(file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let s = v["summary"].as_object_mut().unwrap();
    for timing in ["seconds", "events_per_s", "peak_rss_kib"] {
        s.remove(timing);
    }
    v.as_object_mut().unwrap().remove("file");
    v
}

/// gzip and zstd recordings are read as streams, known by their magic
/// bytes whatever their name, and fold to the same summary as the plain
/// file.
#[test]
fn gzip_and_zstd_recordings_fold_the_same() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let plain = recording(dir.path());
    let bytes = std::fs::read(&plain).unwrap();
    let gz = dir.path().join("night.ndjson.gz");
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(&bytes).unwrap();
    std::fs::write(&gz, e.finish().unwrap()).unwrap();
    let zst = dir.path().join("night.bin");
    std::fs::write(&zst, zstd::encode_all(bytes.as_slice(), 3).unwrap()).unwrap();

    let expected = summary_of(&plain);
    assert!(expected["summary"]["events"].as_u64().unwrap() > 7000);
    assert_eq!(summary_of(&gz), expected);
    assert_eq!(summary_of(&zst), expected);
}

/// A hub's database, copied with `agentdeck backup` (as an operator would
/// while the hub runs), replays to the same summary as the events its
/// journal holds, read from NDJSON.
#[test]
fn a_backup_of_a_hub_database_replays_like_its_events() {
    use agentdeck::hub::store::{Batch, Block, Store};
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(recording(dir.path())).unwrap();
    let lines: Vec<&str> = text.lines().filter(|l| l.starts_with('{')).collect();
    let plain = dir.path().join("journal.ndjson");
    std::fs::write(&plain, lines.join("\n")).unwrap();

    let db = dir.path().join("hub.db");
    let mut store = Store::open(&db).unwrap();
    // Requests of varying size, as agents send them.
    for (i, chunk) in lines.chunks(250).enumerate() {
        for part in chunk.chunks(if i % 2 == 0 { 250 } else { 7 }) {
            let journal = Block::pack(part.iter().map(|l| (0, *l))).unwrap();
            store
                .write(&Batch {
                    journal,
                    ..Batch::default()
                })
                .unwrap();
        }
    }
    let copy = dir.path().join("hub-backup.db");
    let backup = |out: &std::path::Path| {
        Command::new(env!("CARGO_BIN_EXE_agentdeck"))
            .args(["backup", "--db"])
            .arg(&db)
            .arg(out)
            .output()
            .unwrap()
    };
    let out = backup(&copy);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(said.contains(&format!("{} events", lines.len())), "{said}");
    drop(store);

    let expected = summary_of(&plain);
    assert!(expected["summary"]["events"].as_u64().unwrap() > 7000);
    assert_eq!(summary_of(&copy), expected);
    assert_eq!(summary_of(&db), expected);

    let again = backup(&copy);
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("never overwrites"));
}

/// Replay streams its input: a recording larger than 256 MB is folded in
/// well under 64 MiB of memory. Slow in a debug build, so run on demand:
/// `cargo test --release --test replay -- --ignored`.
#[test]
#[ignore = "writes and folds a 300 MB file; run with --release -- --ignored"]
fn a_large_recording_is_folded_in_bounded_memory() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let one_hour = std::fs::read(recording(dir.path())).unwrap();
    let path = dir.path().join("large.ndjson");
    let mut file = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    let mut written = 0usize;
    while written < 300_000_000 {
        file.write_all(&one_hour).unwrap();
        file.write_all(b"\n").unwrap();
        written += one_hour.len() + 1;
    }
    file.flush().unwrap();
    drop(file);
    let out = Command::new(env!("CARGO_BIN_EXE_agentdeck"))
        .args(["replay", "--summary", "--json"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rss_kib = v["summary"]["peak_rss_kib"]
        .as_u64()
        .expect("peak RSS on Linux");
    assert!(
        rss_kib < 64 * 1024,
        "peak RSS {rss_kib} KiB folding {written} bytes"
    );
    assert!(v["summary"]["events"].as_u64().unwrap() > 100_000);
}
