//! (b) Approval delay: an approval request's way from its POST to a
//! stream client, under background ingest, split where the hub publishes.

use super::*;

pub(super) struct Delay {
    pub(super) label: String,
    pub(super) delays_ms: Vec<f64>,
    pub(super) post_ms: Vec<f64>,
    pub(super) lost: usize,
    pub(super) background: Counts,
    pub(super) background_eps: f64,
    pub(super) frames: u64,
    pub(super) resyncs: u64,
    pub(super) approval_rejects: u64,
    /// Delays of approvals in flight while a tick's SLO deltas went out,
    /// and of the others, sorted.
    pub(super) near_tick: Vec<f64>,
    pub(super) clear: Vec<f64>,
    /// The delay split at the moment the hub published the delta: POST →
    /// published, and published → received by the stream client; sorted.
    pub(super) to_hub: Vec<f64>,
    pub(super) to_client: Vec<f64>,
    /// Ticks that published SLO deltas, their mean frame count and
    /// mean spread (first to last frame), ms.
    pub(super) ticks: usize,
    pub(super) burst_frames: f64,
    pub(super) burst_ms: f64,
    /// Own and other processes' CPU, % of one core.
    pub(super) cpu: f64,
    pub(super) others: f64,
}

/// One `approval` delta seen on the stream: its request id and when.
pub(super) type Seen = (String, Instant);

/// What the stream client counted.
#[derive(Default)]
pub(super) struct StreamStats {
    pub(super) frames: u64,
    /// Snapshots after the first (a lagging client is resynchronised).
    pub(super) resyncs: u64,
    /// Arrival of every `slo` delta (published by the tick in bursts).
    pub(super) slo_at: Vec<Instant>,
}

/// Opens the stream and forwards the arrival time of every `approval`
/// delta. Returns once the first snapshot has arrived.
pub(super) async fn watch(
    hub: &Hub,
) -> (
    mpsc::UnboundedReceiver<Seen>,
    Arc<std::sync::Mutex<StreamStats>>,
    tokio::task::JoinHandle<()>,
) {
    use eventsource_stream::Eventsource;
    let response = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("stream client")
        .get(hub.stream_url("/v1/stream"))
        .bearer_auth(VIEWER_TOKEN)
        .send()
        .await
        .expect("GET /v1/stream");
    assert_eq!(response.status().as_u16(), 200, "stream refused");
    let mut events = response.bytes_stream().eventsource();
    let first = tokio::time::timeout(Duration::from_secs(30), events.next())
        .await
        .expect("snapshot within 30 s")
        .expect("stream open")
        .expect("stream event");
    assert_eq!(first.event, "snapshot");
    let stats = Arc::new(std::sync::Mutex::new(StreamStats::default()));
    let (tx, rx) = mpsc::unbounded_channel();
    let shared = stats.clone();
    let task = tokio::spawn(async move {
        while let Some(Ok(e)) = events.next().await {
            let now = Instant::now();
            let mut stats = shared
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            stats.frames += 1;
            match e.event.as_str() {
                "approval" => {
                    // The first delta of a request id is its arrival;
                    // later ones (escalation) are ignored by the collector.
                    let v: serde_json::Value = serde_json::from_str(&e.data).unwrap_or_default();
                    if let Some(id) = v["request_id"].as_str() {
                        let _ = tx.send((id.to_string(), now));
                    }
                }
                "slo" => stats.slo_at.push(now),
                "snapshot" => {
                    stats.resyncs += 1;
                    // A resynchronised client gets the open approvals in
                    // the snapshot instead of as deltas.
                    let v: serde_json::Value = serde_json::from_str(&e.data).unwrap_or_default();
                    for a in v["approvals"].as_array().into_iter().flatten() {
                        if let Some(id) = a["request_id"].as_str() {
                            let _ = tx.send((id.to_string(), now));
                        }
                    }
                }
                _ => {}
            }
        }
    });
    (rx, stats, task)
}

/// Published approvals by request id: when an in-process subscriber to the
/// core's broadcast (the stream's own source) saw each `approval` delta.
pub(super) type Published = Arc<std::sync::Mutex<HashMap<String, Instant>>>;

/// Subscribes in-process to the deltas the stream sends, to split each
/// delay into "POST → published by the hub" and "published → received by
/// the stream client".
pub(super) fn tap_published(hub: &Hub) -> (Published, tokio::task::JoinHandle<()>) {
    use tokio::sync::broadcast::error::RecvError;
    let mut rx = agentdeck::hub::lock(&hub.hub.core).subscribe();
    let published: Published = Arc::default();
    let map = published.clone();
    let task = tokio::spawn(async move {
        loop {
            match rx.recv().await {
                Ok(frame) if frame.event == "approval" => {
                    let now = Instant::now();
                    let v: serde_json::Value =
                        serde_json::from_str(&frame.data).unwrap_or_default();
                    if let Some(id) = v["request_id"].as_str() {
                        map.lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner)
                            .entry(id.to_string())
                            .or_insert(now);
                    }
                }
                Ok(_) | Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => break,
            }
        }
    });
    (published, task)
}

/// Bursts of `slo` deltas (one per tick that changed something): start and
/// end of each, frames further apart than 100 ms starting a new one.
pub(super) fn bursts(times: &[Instant]) -> Vec<(Instant, Instant, usize)> {
    let mut out: Vec<(Instant, Instant, usize)> = Vec::new();
    for &t in times {
        match out.last_mut() {
            Some((_, end, n)) if t.saturating_duration_since(*end) < Duration::from_millis(100) => {
                *end = t;
                *n += 1;
            }
            _ => out.push((t, t, 1)),
        }
    }
    out
}

pub(super) async fn approval_delay(
    hub: &Hub,
    label: &str,
    tag: &str,
    bg_batch: usize,
    bg_eps: u64,
    approvals: usize,
) -> Delay {
    let (mut seen_rx, stream, watcher) = watch(hub).await;
    let (published, tap) = tap_published(hub);
    // Background bodies for the whole run (1 s warm-up, the approvals, 2 s
    // tail), generated before it starts.
    // No background at all when `bg_batch` is 0 (the floor).
    let period = Duration::from_secs_f64(bg_batch.max(1) as f64 / bg_eps.max(1) as f64);
    let run = Duration::from_secs(3) + APPROVAL_SPACING * approvals as u32;
    let n_bodies = (run.as_secs_f64() / period.as_secs_f64()).ceil() as u64 + 1;
    let mut bg_bodies = if bg_batch == 0 {
        Vec::new().into_iter()
    } else {
        bodies(tag, n_bodies * bg_batch as u64, bg_batch, 7).into_iter()
    };
    let url = hub.post_url("/v1/events");
    let (bg_tx, mut bg_rx) = mpsc::unbounded_channel::<Counts>();
    let bg_http = hub.http.clone();
    let bg_url = url.clone();
    let bg_start = Instant::now();
    let cpu = CpuWatch::start();
    let background = tokio::spawn(async move {
        let mut tick = tokio::time::interval(period);
        let mut sent = 0u64;
        for body in bg_bodies.by_ref() {
            tick.tick().await;
            let http = bg_http.clone();
            let url = bg_url.clone();
            let tx = bg_tx.clone();
            // One task per body: a slow answer does not slow the rate.
            tokio::spawn(async move {
                let _ = tx.send(post_events(&http, &url, body).await);
            });
            sent += 1;
        }
        sent
    });
    tokio::time::sleep(Duration::from_secs(1)).await;

    let mut sent_at: HashMap<String, Instant> = HashMap::with_capacity(approvals);
    let (post_tx, mut post_rx) = mpsc::unbounded_channel::<(f64, Counts)>();
    let mut tick = tokio::time::interval(APPROVAL_SPACING);
    let mut lines = Vec::with_capacity(approvals);
    let now = Utc::now();
    for i in 0..approvals {
        let id = format!("{tag}-apr-{i}");
        lines.push((approval_line(&id, now), id));
    }
    for (line, id) in lines {
        tick.tick().await;
        let http = hub.http.clone();
        let url = url.clone();
        let tx = post_tx.clone();
        let t0 = Instant::now();
        sent_at.insert(id, t0);
        tokio::spawn(async move {
            let c = post_events(&http, &url, line).await;
            let _ = tx.send((ms(t0.elapsed()), c));
        });
    }
    drop(post_tx);

    // Collect arrivals until all are in or 5 s after the last was sent.
    let mut delays_ms = Vec::with_capacity(approvals);
    let mut windows = Vec::with_capacity(approvals);
    let mut ids = Vec::with_capacity(approvals);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while delays_ms.len() < approvals {
        match tokio::time::timeout_at(deadline, seen_rx.recv()).await {
            Ok(Some((id, at))) => {
                if let Some(t0) = sent_at.remove(&id) {
                    delays_ms.push(ms(at.saturating_duration_since(t0)));
                    windows.push((t0, at));
                    ids.push(id);
                }
            }
            _ => break,
        }
    }
    let lost = sent_at.len();
    let mut post_ms = Vec::with_capacity(approvals);
    let mut approval_rejects = 0;
    while let Some((t, c)) = post_rx.recv().await {
        post_ms.push(t);
        if c.accepted != 1 {
            approval_rejects += 1;
        }
    }
    let sent = background.await.expect("background task");
    let mut bg = Counts::default();
    for _ in 0..sent {
        match bg_rx.recv().await {
            Some(c) => bg.add(&c),
            None => break,
        }
    }
    let bg_elapsed = bg_start.elapsed();
    let (cpu, others) = cpu.stop();
    watcher.abort();
    tap.abort();
    let (mut to_hub, mut to_client) = (Vec::new(), Vec::new());
    {
        let published = published
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for ((t0, at), id) in windows.iter().zip(&ids) {
            if let Some(p) = published.get(id) {
                to_hub.push(ms(p.saturating_duration_since(*t0)));
                to_client.push(ms(at.saturating_duration_since(*p)));
            }
        }
    }
    to_hub.sort_by(f64::total_cmp);
    to_client.sort_by(f64::total_cmp);
    let stream = std::mem::take(
        &mut *stream
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner),
    );
    // Which approvals were in flight while a tick's SLO deltas went out
    // (from 10 ms before the burst's first frame: the tick holds the lock
    // before it publishes).
    let ticks = bursts(&stream.slo_at);
    let (mut near_tick, mut clear): (Vec<f64>, Vec<f64>) = (Vec::new(), Vec::new());
    for (t0, at) in &windows {
        let d = ms(at.saturating_duration_since(*t0));
        let overlaps = ticks
            .iter()
            .any(|(start, end, _)| *start <= *at + Duration::from_millis(10) && *end >= *t0);
        if overlaps {
            near_tick.push(d);
        } else {
            clear.push(d);
        }
    }
    near_tick.sort_by(f64::total_cmp);
    clear.sort_by(f64::total_cmp);
    let burst_ms: Vec<f64> = ticks
        .iter()
        .map(|(s, e, _)| ms(e.saturating_duration_since(*s)))
        .collect();
    let burst_frames = ticks.iter().map(|b| b.2).sum::<usize>() as f64 / ticks.len().max(1) as f64;
    delays_ms.sort_by(f64::total_cmp);
    post_ms.sort_by(f64::total_cmp);
    Delay {
        label: label.to_string(),
        delays_ms,
        post_ms,
        lost,
        background_eps: bg.accepted as f64 / bg_elapsed.as_secs_f64(),
        background: bg,
        frames: stream.frames,
        resyncs: stream.resyncs,
        near_tick,
        clear,
        to_hub,
        to_client,
        ticks: ticks.len(),
        burst_frames,
        burst_ms: burst_ms.iter().sum::<f64>() / burst_ms.len().max(1) as f64,
        approval_rejects,
        cpu,
        others,
    }
}
