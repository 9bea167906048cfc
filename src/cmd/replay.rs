//! `agentdeck replay`: the engine over a recorded file, with no hub.

use std::process::ExitCode;

use crate::cli::ReplayArgs;
use crate::engine::spec::{default_specs, parse_specs};
use crate::model::slo::SloSpec;
use crate::replay::{self, Pace};
use crate::tui::run::{Options, Source};

use super::fail;

fn pace(args: &ReplayArgs) -> Result<Pace, String> {
    if args.as_fast_as_possible {
        return Ok(Pace::AsFastAsPossible);
    }
    match &args.speed {
        None => Ok(Pace::Speed(1.0)),
        Some(s) => {
            let n = s.trim_end_matches(['x', 'X']);
            match n.parse::<f64>() {
                Ok(v) if v > 0.0 && v.is_finite() => Ok(Pace::Speed(v)),
                _ => Err(format!("--speed {s:?}: expected e.g. 10x")),
            }
        }
    }
}

/// `agentdeck replay`.
pub fn run(args: ReplayArgs) -> ExitCode {
    let specs = match specs(&args) {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    let pace = match pace(&args) {
        Ok(p) => p,
        Err(e) => return fail(e),
    };
    if args.summary {
        return match replay::summarize_file(&args.file, specs) {
            Ok((counts, summary)) => {
                print_summary(&args, &counts, &summary);
                ExitCode::SUCCESS
            }
            Err(e) => fail(e),
        };
    }
    let rec = match replay::read(&args.file) {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    super::tui::init_file_logging();
    let (theme, keymap) = match super::tui::theme(false, None)
        .and_then(|t| super::tui::keymap(None).map(|k| (t, k)))
    {
        Ok(x) => x,
        Err(e) => return fail(e),
    };
    let runtime = match super::runtime() {
        Ok(r) => r,
        Err(code) => return code,
    };
    runtime.block_on(async move {
        let (tx, rx) = tokio::sync::mpsc::channel(1024);
        let player = tokio::spawn(replay::play(rec.events, specs, pace, tx));
        let options = Options {
            source: Source::Local(rx),
            read_only: true,
            theme,
            keymap,
            bell: false,
        };
        let result = crate::tui::run::run(options).await;
        player.abort();
        match result {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail(format!("the TUI stopped: {e}")),
        }
    })
}

/// The SLO specs to fold with: `--slos FILE`, or the defaults.
fn specs(args: &ReplayArgs) -> Result<Vec<SloSpec>, String> {
    match &args.slos {
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .map_err(|e| format!("cannot read {}: {e}", p.display()))?;
            parse_specs(&p.display().to_string(), &text).map_err(|e| e.to_string())
        }
        None => Ok(default_specs()),
    }
}

/// `--summary`: what the file holds and what folding it gives, as text
/// or (`--json`) one JSON object.
fn print_summary(args: &ReplayArgs, rec: &replay::Counts, s: &replay::Summary) {
    if args.json {
        let v = serde_json::json!({
            "file": args.file.display().to_string(),
            "lines": rec.lines,
            "spans": rec.spans,
            "skipped_lines": rec.skipped,
            "rejected": rec.rejected,
            "errors": rec.errors,
            "summary": s,
        });
        println!("{v}");
    } else {
        println!(
            "{}: {} lines, {} spans, {} metrics/logs lines skipped, {} rejected",
            args.file.display(),
            rec.lines,
            rec.spans,
            rec.skipped,
            rec.rejected
        );
        for e in &rec.errors {
            println!("  {e}");
        }
        println!(
            "folded {} events in {:.3} s: {:.0} events/s; clock at the end {}; peak memory {}",
            s.events,
            s.seconds,
            s.events_per_s,
            s.clock
                .map(|c| c.to_rfc3339())
                .unwrap_or_else(|| "—".into()),
            s.peak_rss_kib
                .map(|k| format!("{:.1} MiB", k as f64 / 1024.0))
                .unwrap_or_else(|| "unknown".into())
        );
        if s.slos.is_empty() {
            println!(
                "no SLO series: the file holds no agent runs (GenAI agent or model spans, or run.finished events)"
            );
        } else {
            print!("{}", replay::table(s));
        }
    }
}
