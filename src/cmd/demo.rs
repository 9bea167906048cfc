//! `agentdeck demo`: a hub on a free loopback port with a temporary
//! database, the mixed fleet, and (until the TUI lands) a live one-line
//! summary each second. Everything stops and is removed on exit.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::sync::oneshot;

use crate::cli::DemoArgs;
use crate::engine::spec::default_specs;
use crate::hub::auth::{TokenStore, new_token};
use crate::hub::core::StreamLimits;
use crate::hub::policy::Policy;
use crate::hub::{DEFAULT_MAX_BODY_BYTES, HubConfig, RunningHub};
use crate::model::incident::IncidentState;
use crate::model::role::Role;
use crate::sim::runner::{SimConfig, SimStats};
use crate::sim::scenario::Scenario;

use super::{fail, init_logging};

/// Operator name of the demo's lead.
pub const DEMO_LEAD: &str = "oncall";

/// A directory removed when dropped, unless it was given by the user.
struct Workdir {
    path: PathBuf,
    temporary: bool,
}

impl Drop for Workdir {
    fn drop(&mut self) {
        if self.temporary {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// `agentdeck demo`.
pub fn run(args: DemoArgs) -> ExitCode {
    init_logging("warn");
    let runtime = match super::runtime() {
        Ok(r) => r,
        Err(code) => return code,
    };
    let code = runtime.block_on(demo(args));
    // Background tasks (stdin reader aside) end with the runtime.
    runtime.shutdown_timeout(Duration::from_secs(2));
    code
}

async fn demo(args: DemoArgs) -> ExitCode {
    let (db, workdir) = match workdir(&args) {
        Ok(w) => w,
        Err(e) => return fail(e),
    };
    let (hub, lead_token, agent_token) = match start_hub(db).await {
        Ok(h) => h,
        Err(e) => return fail(e),
    };
    let stats = Arc::new(SimStats::default());
    let (stop_fleet, fleet_stopped) = oneshot::channel::<()>();
    let fleet = tokio::spawn(crate::sim::runner::run(
        SimConfig {
            hub: hub.url(),
            token: agent_token,
            scenario: Scenario::Mixed,
            ..SimConfig::default()
        },
        stats.clone(),
        async {
            let _ = fleet_stopped.await;
        },
    ));
    front_end(&args, &hub, &lead_token, &stats).await;
    let _ = stop_fleet.send(());
    let _ = tokio::time::timeout(Duration::from_secs(5), fleet).await;
    hub.stop().await;
    drop(workdir);
    ExitCode::SUCCESS
}

/// The database to use: `--db`, or one in a temporary directory removed
/// when the demo ends.
fn workdir(args: &DemoArgs) -> Result<(PathBuf, Option<Workdir>), String> {
    match &args.db {
        Some(path) => Ok((path.clone(), None)),
        None => {
            let dir = std::env::temp_dir().join(format!(
                "agentdeck-demo-{}-{}",
                std::process::id(),
                Utc::now().timestamp_nanos_opt().unwrap_or_default()
            ));
            std::fs::create_dir_all(&dir)
                .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
            Ok((
                dir.join("hub.db"),
                Some(Workdir {
                    path: dir,
                    temporary: true,
                }),
            ))
        }
    }
}

/// A hub on a free loopback port with fresh lead and agent tokens: the
/// hub, the lead's token and the fleet's.
async fn start_hub(db: PathBuf) -> Result<(RunningHub, String, String), String> {
    let (Ok(lead_token), Ok(agent_token)) = (new_token(), new_token()) else {
        return Err("no randomness for tokens".into());
    };
    let mut tokens = TokenStore::default();
    tokens
        .add_token(&lead_token, DEMO_LEAD, Role::Lead)
        .and_then(|()| tokens.add_token(&agent_token, "fleet", Role::Agent))
        .map_err(|e| e.to_string())?;
    // The repository's runbooks when run from its root, else the copies
    // compiled in.
    let runbooks = match super::serve::load_runbooks(None) {
        Ok(list) if !list.is_empty() => list,
        Ok(_) => crate::runbook::shipped().unwrap_or_default(),
        Err(e) => return Err(e.to_string()),
    };
    let hub = crate::hub::start(HubConfig {
        listen: ([127, 0, 0, 1], 0).into(),
        db,
        tokens,
        specs: default_specs(),
        policy: Policy::default(),
        max_body_bytes: DEFAULT_MAX_BODY_BYTES,
        stream: StreamLimits::default(),
        runbooks,
        otlp: Default::default(),
        retain_events: crate::hub::DEFAULT_RETAIN_EVENTS,
        notify: None,
        sources: None,
        advertise: None,
    })
    .await
    .map_err(|e| e.to_string())?;
    Ok((hub, lead_token, agent_token))
}

/// What the operator sees until they quit: the hub's address
/// (`--hub-only`), the TUI (a terminal), or a summary line a second.
async fn front_end(args: &DemoArgs, hub: &RunningHub, lead_token: &str, stats: &SimStats) {
    if args.hub_only {
        if args.json {
            println!(
                "{}",
                serde_json::json!({"hub": hub.url(), "token": lead_token, "operator": DEMO_LEAD})
            );
        } else {
            println!("hub:   {}", hub.url());
            println!("token: {lead_token}   (lead operator {DEMO_LEAD:?})");
            println!(
                "connect from another terminal: agentdeck --hub {} --token {lead_token}",
                hub.url()
            );
            println!("stop with Ctrl-C");
        }
        crate::shutdown::shutdown_signal().await;
    } else if std::io::stdout().is_terminal() && std::io::stdin().is_terminal() {
        super::tui::init_file_logging();
        let look = super::tui::theme(args.no_color, None)
            .and_then(|t| super::tui::keymap(None).map(|k| (t, k)));
        match look {
            Ok((theme, keymap)) => {
                let options = crate::tui::run::Options {
                    source: crate::tui::run::Source::Hub {
                        hubs: std::sync::Arc::new(crate::client::hubs::HubList::one(&hub.url())),
                        token: lead_token.to_string(),
                    },
                    read_only: false,
                    theme,
                    keymap,
                    bell: true,
                };
                if let Err(e) = crate::tui::run::run(options).await {
                    eprintln!("agentdeck demo: the TUI stopped: {e}");
                }
            }
            Err(e) => eprintln!("agentdeck demo: {e}"),
        }
    } else {
        println!(
            "agentdeck demo: hub {} with the mixed fleet; no terminal, so a line a second below. Stop with Ctrl-C or q + Enter.",
            hub.url()
        );
        summary_until_quit(hub, stats).await;
    }
}

async fn summary_until_quit(hub: &RunningHub, stats: &SimStats) {
    let (quit_tx, mut quit_rx) = tokio::sync::mpsc::channel::<()>(1);
    // Reading stdin blocks, so it gets its own thread; end of input (no
    // terminal, as under CI) does not quit.
    std::thread::spawn(move || {
        let mut line = String::new();
        while std::io::stdin().read_line(&mut line).is_ok_and(|n| n > 0) {
            if line.trim() == "q" {
                let _ = quit_tx.blocking_send(());
                return;
            }
            line.clear();
        }
    });
    let mut every = tokio::time::interval(Duration::from_secs(1));
    let signal = crate::shutdown::shutdown_signal();
    tokio::pin!(signal);
    loop {
        tokio::select! {
            () = &mut signal => return,
            Some(()) = quit_rx.recv() => return,
            _ = every.tick() => println!("{}", summary(hub, stats)),
        }
    }
}

/// One line about the fleet and the hub's state.
fn summary(hub: &RunningHub, stats: &SimStats) -> String {
    use std::sync::atomic::Ordering;
    let now = Utc::now();
    let snapshot = crate::hub::lock(&hub.core).snapshot(now);
    let open: Vec<_> = snapshot
        .incidents
        .iter()
        .filter(|i| i.state != IncidentState::Resolved)
        .collect();
    let worst = snapshot
        .slos
        .iter()
        .filter(|s| s.total > 0)
        .min_by(|a, b| a.budget_remaining.total_cmp(&b.budget_remaining));
    let mut line = format!(
        "{}  runs {}  incidents {} open",
        now.format("%H:%M:%S"),
        stats.runs.load(Ordering::Relaxed),
        open.len()
    );
    if let Some(i) = open.iter().min_by_key(|i| i.severity) {
        line.push_str(&format!(
            " (worst {} {} {})",
            i.severity.as_str(),
            i.id,
            i.state.as_str()
        ));
    }
    line.push_str(&format!(
        "  approvals {} pending  controls {}",
        snapshot.approvals.len(),
        snapshot.controls.len()
    ));
    if let Some(s) = worst {
        line.push_str(&format!(
            "  worst SLO {} {:.1}% (budget {:.0}%, {})",
            s.series,
            s.ratio.unwrap_or(1.0) * 100.0,
            s.budget_remaining * 100.0,
            s.alert.as_str()
        ));
    }
    line
}
