//! The TUI's run loop: one task owns the app and selects over terminal
//! input, feed messages, action outcomes and a one-second tick. It never
//! waits on the network or the disk, and draws only when something
//! changed, at most twenty times a second.

use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use base64::Engine as _;
use chrono::Utc;
use crossterm::event::{Event, EventStream, KeyEventKind};
use futures_util::StreamExt;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::client::actions::{self, Cancelled};
use crate::client::feed::{self, FeedMsg};
use crate::client::hub::Hub;
use crate::client::hubs::HubList;
use crate::model::action::PresenceRequest;

use super::app::{App, Effect, Level, Operator};
use super::keymap::Keymap;
use super::theme::Theme;

/// Frames at most this often.
pub const FRAME: Duration = Duration::from_millis(50);

/// Everything the loop talks to besides the terminal: the feed, action
/// outcomes, who the operator is, one-off fetches, and where to send.
pub struct Wiring {
    /// Feed messages.
    pub feed_rx: mpsc::Receiver<FeedMsg>,
    /// Action outcomes.
    pub out_rx: mpsc::Receiver<(u64, actions::Outcome)>,
    /// Who the operator is, once known.
    pub who_rx: mpsc::Receiver<Operator>,
    /// Answers of one-off fetches.
    pub fetch_rx: mpsc::Receiver<Fetched>,
    /// Where fetches answer.
    pub fetch_tx: mpsc::Sender<Fetched>,
    /// Actions to send.
    pub req_tx: mpsc::Sender<actions::Request>,
    /// Actions the operator cancelled.
    pub cancelled: Cancelled,
    /// The hub, for presence and fetches, when there is one.
    pub hub: Option<Hub>,
}

impl Wiring {
    /// Wiring to nothing but the given feed: no hub, actions go nowhere
    /// (for benchmarks and tests of the loop).
    pub fn detached(feed_rx: mpsc::Receiver<FeedMsg>) -> Self {
        let (_out_tx, out_rx) = mpsc::channel(1);
        let (_who_tx, who_rx) = mpsc::channel(1);
        let (fetch_tx, fetch_rx) = mpsc::channel(1);
        let (req_tx, _req_rx) = mpsc::channel(256);
        Self {
            feed_rx,
            out_rx,
            who_rx,
            fetch_rx,
            fetch_tx,
            req_tx,
            cancelled: Default::default(),
            hub: None,
        }
    }
}

/// Answers of one-off fetches.
pub enum Fetched {
    /// The hub's runbooks.
    Runbooks(Vec<crate::model::runbook::Runbook>),
    /// The handoff summary, or why not.
    Handoff(Result<String, String>),
    /// One agent's drill-down, or why not.
    Agent(
        String,
        Result<Box<crate::model::drill::AgentDetail>, String>,
    ),
    /// A page of history for fetch `u64`: the records and the next
    /// cursor, or why not.
    History(u64, HistoryAnswer),
    /// A page of the audit log for fetch `u64`, or why not.
    Audit(u64, Result<crate::model::audit::AuditPage, String>),
    /// The audit chain's state, or why it could not be had.
    Chain(Result<crate::model::audit::AuditChain, String>),
}

/// A page of history as the History screen takes it.
pub type HistoryAnswer = Result<(Vec<crate::tui::panes::history::Record>, Option<String>), String>;

/// Where the TUI's data comes from.
pub enum Source {
    /// A hub.
    Hub {
        /// Its address, or several (`--hub URL1,URL2`).
        hubs: Arc<HubList>,
        /// Token (never shown).
        token: String,
    },
    /// Feed messages from a local producer (replay).
    Local(mpsc::Receiver<FeedMsg>),
}

/// How the TUI runs.
pub struct Options {
    /// Data source.
    pub source: Source,
    /// No actions.
    pub read_only: bool,
    /// Colours.
    pub theme: Theme,
    /// Keys.
    pub keymap: Keymap,
    /// Ring the bell for new SEV1s and approvals near their deadline.
    pub bell: bool,
}

/// Runs the TUI until the operator quits or the process is told to stop.
/// The terminal is restored on every way out, panics included.
pub async fn run(options: Options) -> anyhow::Result<()> {
    let (feed_tx, mut feed_rx) = mpsc::channel::<FeedMsg>(1024);
    let (req_tx, req_rx) = mpsc::channel::<actions::Request>(256);
    let (out_tx, out_rx) = mpsc::channel(256);
    let (who_tx, who_rx) = mpsc::channel::<Operator>(1);
    let (fetch_tx, fetch_rx) = mpsc::channel::<Fetched>(8);
    let cancelled: Cancelled = Arc::new(Mutex::new(Default::default()));
    let http = crate::client::http_client()?;
    let mut hub: Option<Hub> = None;
    let replay = matches!(options.source, Source::Local(_));
    let hub_url = match &options.source {
        Source::Hub { hubs, .. } => Some(hubs.urls().join(", ")),
        Source::Local(_) => None,
    };
    match options.source {
        Source::Hub { hubs, token } => {
            tokio::spawn(feed::run_hubs(
                hubs.clone(),
                token.clone(),
                feed_tx,
                feed::FeedConfig::default(),
            ));
            tokio::spawn(actions::run_hubs(
                hubs.clone(),
                token.clone(),
                req_rx,
                out_tx,
                cancelled.clone(),
                actions::ActionConfig::default(),
            ));
            let client = Hub::over(http, hubs, &token);
            ask_once(&client, fetch_tx.clone(), who_tx);
            hub = Some(client);
        }
        Source::Local(rx) => {
            feed_rx = rx;
            drop(feed_tx);
            drop(req_rx);
            drop(who_tx);
            drop(out_tx);
        }
    }
    let mut app = App::new(options.keymap, None, options.read_only || replay);
    app.history = crate::tui::history::CommandHistory::load(crate::config::history_file());
    app.bell = options.bell;
    app.hub_url = hub_url;
    if replay {
        app.connection = super::app::Connection::Replay {
            clock: None,
            done: false,
        };
    }
    let theme = options.theme;

    let mut wiring = Wiring {
        feed_rx,
        out_rx,
        who_rx,
        fetch_rx,
        fetch_tx,
        req_tx,
        cancelled,
        hub,
    };
    let mut terminal = ratatui::try_init()?;
    let result = event_loop(
        &mut terminal,
        EventStream::new(),
        crate::shutdown::shutdown_signal(),
        &mut app,
        &theme,
        &mut wiring,
    )
    .await;
    ratatui::restore();
    // Quitting from the refusal screen is a failure: scripts and shells
    // see it in the exit status.
    if let (Ok(()), super::app::Connection::Refused(why)) = (&result, &app.connection) {
        anyhow::bail!("{why}");
    }
    result
}

/// Asks the hub once, in the background, for what does not change while
/// it runs: its runbooks and who the operator is.
fn ask_once(client: &Hub, fetch_tx: mpsc::Sender<Fetched>, who_tx: mpsc::Sender<Operator>) {
    let (c, runbooks_tx) = (client.clone(), fetch_tx);
    tokio::spawn(async move {
        // Runbooks change only when the hub restarts: fetch once,
        // retrying until the hub answers.
        loop {
            if let Ok(list) = c.runbooks().await {
                let _ = runbooks_tx.send(Fetched::Runbooks(list.runbooks)).await;
                return;
            }
            tokio::time::sleep(Duration::from_secs(5)).await;
        }
    });
    let c = client.clone();
    tokio::spawn(async move {
        // Who we are decides which actions are available; keep
        // asking until the hub answers.
        loop {
            match c.me().await {
                Ok(me) => {
                    let _ = who_tx
                        .send(Operator {
                            name: me.name,
                            role: me.role,
                        })
                        .await;
                    return;
                }
                Err(e) => tracing::info!(error = %e, "who am I: retrying"),
            }
            tokio::time::sleep(Duration::from_secs(3)).await;
        }
    });
}

/// The loop itself, over any backend and input stream (a benchmark drives
/// it with a counting writer and no input). Returns when the operator
/// quits, input ends, `stop` resolves or the terminal hangs up.
#[allow(clippy::too_many_arguments)]
pub async fn event_loop<B, S>(
    terminal: &mut ratatui::Terminal<B>,
    mut events: S,
    stop: impl std::future::Future<Output = ()>,
    app: &mut App,
    theme: &Theme,
    wiring: &mut Wiring,
) -> anyhow::Result<()>
where
    B: ratatui::backend::Backend,
    B::Error: Send + Sync + 'static,
    S: futures_util::Stream<Item = std::io::Result<Event>> + Unpin,
{
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut last_draw = Instant::now() - FRAME;
    let Wiring {
        feed_rx,
        out_rx,
        who_rx,
        fetch_rx,
        fetch_tx,
        req_tx,
        cancelled,
        hub,
    } = wiring;
    let hub = hub.as_ref();
    tokio::pin!(stop);
    #[cfg(unix)]
    let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
    let mut feed_open = true;
    loop {
        if app.dirty && last_draw.elapsed() >= FRAME {
            terminal.draw(|f| super::view::render(app, theme, f))?;
            app.dirty = false;
            last_draw = Instant::now();
        }
        let redraw_at = if app.dirty {
            last_draw + FRAME
        } else {
            Instant::now() + Duration::from_secs(3600)
        };
        #[cfg(unix)]
        let hup = hangup.recv();
        #[cfg(not(unix))]
        let hup = std::future::pending::<Option<()>>();
        let effects = tokio::select! {
            () = &mut stop => break,
            _ = hup => break,
            () = tokio::time::sleep_until(redraw_at) => Vec::new(),
            ev = events.next() => match ev {
                Some(Ok(Event::Key(k))) if k.kind != KeyEventKind::Release => app.handle_key(k),
                Some(Ok(Event::Resize(_, _))) => { app.dirty = true; Vec::new() }
                Some(Ok(_)) => Vec::new(),
                Some(Err(e)) => return Err(e.into()),
                None => break,
            },
            msg = feed_rx.recv(), if feed_open => match msg {
                Some(m) => {
                    if matches!(m, FeedMsg::Connected) {
                        app.hub_in_use = hub
                            .filter(|h| h.addresses() > 1)
                            .map(|h| h.base().to_string());
                    }
                    app.apply_feed(m)
                }
                None => {
                    feed_open = false;
                    if let super::app::Connection::Replay { clock, .. } = app.connection {
                        app.connection = super::app::Connection::Replay { clock, done: true };
                        app.dirty = true;
                    }
                    Vec::new()
                }
            },
            Some((id, outcome)) = out_rx.recv() => app.apply_outcome(id, outcome),
            Some(op) = who_rx.recv() => { app.operator = Some(op); app.dirty = true; Vec::new() }
            Some(f) = fetch_rx.recv() => { fetched(app, f); Vec::new() }
            _ = tick.tick() => app.tick(Utc::now()),
        };
        for effect in effects {
            if carry_out(effect, app, hub, fetch_tx, req_tx, cancelled) {
                return Ok(());
            }
        }
    }
    Ok(())
}

/// What the hub sent back for a fetch: the runbooks, the handoff summary,
/// an agent's drill-down.
fn fetched(app: &mut App, f: Fetched) {
    match f {
        Fetched::Runbooks(list) => {
            app.panes.runbook.runbooks = list.into_iter().map(|r| (r.name.clone(), r)).collect()
        }
        Fetched::Handoff(h) => app.panes.handoff.summary = Some(h),
        Fetched::Agent(agent, got) => {
            // An answer for an agent no longer shown is dropped.
            if let Some(d) = app.panes.agent.open.as_mut().filter(|d| d.agent == agent) {
                d.detail = Some(got);
            }
        }
        Fetched::History(generation, got) => app.panes.history.answer(generation, got),
        Fetched::Audit(generation, got) => {
            let page = got.map(|p| (p.entries, p.next_before.map(|s| s.to_string())));
            app.panes.audit.entries.answer(generation, page);
        }
        Fetched::Chain(got) => app.panes.audit.chain = Some(got),
    }
    app.dirty = true;
}

/// Carries out one effect; true when it is to quit.
fn carry_out(
    effect: Effect,
    app: &mut App,
    hub: Option<&Hub>,
    fetch_tx: &mpsc::Sender<Fetched>,
    req_tx: &mpsc::Sender<actions::Request>,
    cancelled: &Cancelled,
) -> bool {
    match effect {
        Effect::Quit => return true,
        Effect::Send(req) => {
            let id = req.id;
            if req_tx.try_send(req).is_err() {
                // A refusal has no follow-up effects.
                let _ = app.apply_outcome(
                    id,
                    actions::Outcome::Refused(0, "too many actions queued; try again".into()),
                );
            }
        }
        Effect::Cancel(id) => {
            cancelled
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(id);
            app.say(Level::Info, "cancelling…");
        }
        Effect::Copy(text) => {
            let encoded = base64::engine::general_purpose::STANDARD.encode(text.as_bytes());
            let mut out = std::io::stdout();
            let _ = write!(out, "\u{1b}]52;c;{encoded}\u{7}");
            let _ = out.flush();
        }
        Effect::SaveHistory => {
            if let Some(path) = app.history.path().map(std::path::Path::to_path_buf) {
                let entries = app.history.entries().to_vec();
                // Off the loop: drawing never waits on the disk.
                tokio::task::spawn_blocking(move || {
                    if let Err(e) = crate::tui::history::save(&path, &entries) {
                        tracing::debug!(error = %e, path = %path.display(), "command history not saved");
                    }
                });
            }
        }
        Effect::Bell => {
            let mut out = std::io::stdout();
            let _ = out.write_all(b"\x07");
            let _ = out.flush();
        }
        Effect::FetchHandoff
        | Effect::FetchAgent(_)
        | Effect::FetchHistory(_)
        | Effect::FetchAudit(_)
        | Effect::VerifyAudit => fetch(effect, app, hub, fetch_tx),
        Effect::Presence(viewing) => {
            if let Some(hub) = hub {
                let hub = hub.clone();
                tokio::spawn(async move {
                    // Presence is a courtesy to other operators: a
                    // lost update is replaced by the next one.
                    let _ = hub.presence(&PresenceRequest { viewing }).await;
                });
            }
        }
    }
    false
}

/// Asks the hub for what a screen reads on its own (the handoff summary,
/// a drill-down, a page of history or of the audit log, the chain's
/// state) on a task of its own; the answer comes back as [`Fetched`].
/// Without a hub (a replay), says there is none.
fn fetch(effect: Effect, app: &mut App, hub: Option<&Hub>, fetch_tx: &mpsc::Sender<Fetched>) {
    match effect {
        Effect::FetchHandoff => {
            if let Some(hub) = hub {
                let (hub, tx) = (hub.clone(), fetch_tx.clone());
                tokio::spawn(async move {
                    let got = hub.handoff_markdown().await.map_err(|e| e.to_string());
                    let _ = tx.send(Fetched::Handoff(got)).await;
                });
            } else {
                app.panes.handoff.summary = Some(Err("replays have no handoff summary".into()));
            }
        }
        Effect::FetchAgent(agent) => {
            if let Some(hub) = hub {
                let (hub, tx) = (hub.clone(), fetch_tx.clone());
                tokio::spawn(async move {
                    let got = hub
                        .agent_detail(&agent)
                        .await
                        .map(Box::new)
                        .map_err(|e| e.to_string());
                    let _ = tx.send(Fetched::Agent(agent, got)).await;
                });
            } else if let Some(d) = app.panes.agent.open.as_mut() {
                d.detail = Some(Err("replays have no drill-down: connect to a hub".into()));
            }
        }
        Effect::FetchHistory(fetch) => match hub {
            Some(hub) => {
                let (hub, tx) = (hub.clone(), fetch_tx.clone());
                tokio::spawn(async move {
                    let generation = fetch.generation;
                    let _ = tx
                        .send(Fetched::History(
                            generation,
                            history_page(&hub, fetch).await,
                        ))
                        .await;
                });
            }
            None => app.panes.history.answer(
                fetch.generation,
                Err("replays have no history: connect to a hub".into()),
            ),
        },
        Effect::FetchAudit(fetch) => match hub {
            Some(hub) => {
                let (hub, tx) = (hub.clone(), fetch_tx.clone());
                tokio::spawn(async move {
                    let got = hub.audit(&fetch.query).await.map_err(|e| e.to_string());
                    let _ = tx.send(Fetched::Audit(fetch.generation, got)).await;
                });
            }
            None => app.panes.audit.entries.answer(
                fetch.generation,
                Err("replays have no audit log: connect to a hub".into()),
            ),
        },
        Effect::VerifyAudit => {
            if let Some(hub) = hub {
                let (hub, tx) = (hub.clone(), fetch_tx.clone());
                tokio::spawn(async move {
                    let got = hub.audit_verify(false).await.map_err(|e| e.to_string());
                    let _ = tx.send(Fetched::Chain(got)).await;
                });
            }
        }
        _ => {}
    }
}

/// A page of the history `fetch` names, as the History screen lists it.
async fn history_page(hub: &Hub, fetch: crate::tui::panes::history::HistoryFetch) -> HistoryAnswer {
    use crate::model::history::{HistoryKind, HistoryQuery};
    use crate::tui::panes::history::Record;
    let q = HistoryQuery {
        limit: Some(crate::tui::panes::paged::PAGE_ROWS),
        before: fetch.before,
        q: (!fetch.q.is_empty()).then_some(fetch.q),
    };
    let fail = |e: crate::client::hub::HubError| e.to_string();
    match fetch.kind {
        HistoryKind::Approvals => hub.approval_history(&q).await.map_err(fail).map(|p| {
            (
                p.items
                    .into_iter()
                    .map(|r| Record::Approval(Box::new(r)))
                    .collect(),
                p.next,
            )
        }),
        HistoryKind::Incidents => hub.incident_history(&q).await.map_err(fail).map(|p| {
            (
                p.items
                    .into_iter()
                    .map(|r| Record::Incident(Box::new(r)))
                    .collect(),
                p.next,
            )
        }),
        HistoryKind::Controls => hub.control_history(&q).await.map_err(fail).map(|p| {
            (
                p.items
                    .into_iter()
                    .map(|r| Record::Control(Box::new(r)))
                    .collect(),
                p.next,
            )
        }),
    }
}
