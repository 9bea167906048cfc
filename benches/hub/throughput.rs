//! (a) Ingest throughput: several clients posting 1,000-event bodies to a
//! fresh hub, the accepted count checked against the SLO engine's.

use super::*;

/// Samples, from a thread of its own, how often the hub's core lock is
/// held (every 250 µs, `try_lock`), to tell a lock-bound hub from a
/// CPU-bound one.
pub(super) struct LockSampler {
    pub(super) stop: Arc<std::sync::atomic::AtomicBool>,
    pub(super) thread: std::thread::JoinHandle<f64>,
}

impl LockSampler {
    fn start(core: Arc<std::sync::Mutex<agentdeck::hub::core::Core>>) -> Self {
        use std::sync::atomic::{AtomicBool, Ordering};
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let (mut busy, mut total) = (0u64, 0u64);
            while !flag.load(Ordering::Relaxed) {
                if matches!(core.try_lock(), Err(std::sync::TryLockError::WouldBlock)) {
                    busy += 1;
                }
                total += 1;
                std::thread::sleep(Duration::from_micros(250));
            }
            busy as f64 / total.max(1) as f64
        });
        Self { stop, thread }
    }

    /// The fraction of samples that found the lock held.
    fn stop(self) -> f64 {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.thread.join().unwrap_or(f64::NAN)
    }
}

pub(super) struct Throughput {
    pub(super) clients: usize,
    pub(super) events: u64,
    pub(super) elapsed: Duration,
    /// Own and other processes' CPU, % of one core.
    pub(super) cpu: f64,
    pub(super) others: f64,
    pub(super) counts: Counts,
    pub(super) request_ms: Vec<f64>,
    pub(super) lock_busy: f64,
    pub(super) db_bytes: u64,
    pub(super) wal_bytes: u64,
    pub(super) state_total: u64,
    pub(super) visible_after: Option<Duration>,
    /// serde_json's rate on the same bodies: every line parsed (and
    /// thrown away) on one thread, the anchor for events/s.
    pub(super) serde_eps: f64,
}

/// serde_json parsing every line of `bodies` on this thread: events/s.
pub(super) fn serde_rate(bodies: &[String]) -> f64 {
    let start = Instant::now();
    let mut n = 0u64;
    for body in bodies {
        for line in body.lines() {
            serde_json::from_str::<serde::de::IgnoredAny>(line).expect("bench lines are JSON");
            n += 1;
        }
    }
    n as f64 / start.elapsed().as_secs_f64()
}

pub(super) async fn throughput(clients: usize, events: u64) -> (Throughput, Hub) {
    throughput_on(Hub::start().await, clients, events).await
}

pub(super) async fn throughput_on(hub: Hub, clients: usize, events: u64) -> (Throughput, Hub) {
    let generated = Instant::now();
    let all = bodies(&format!("a{clients}"), events, BATCH, 42 + clients as u64);
    let generated = generated.elapsed();
    let serde_eps = serde_rate(&all);
    let mut shares: Vec<Vec<String>> = (0..clients).map(|_| Vec::new()).collect();
    for (i, b) in all.into_iter().enumerate() {
        shares[i % clients].push(b);
    }
    eprintln!(
        "  (a) {clients} clients: {events} events generated in {:.2} s; posting…",
        generated.as_secs_f64()
    );
    let url = hub.url("/v1/events");
    let sampler = LockSampler::start(hub.hub.core.clone());
    let watch = CpuWatch::start();
    let start = Instant::now();
    let mut tasks = Vec::new();
    for share in shares {
        let http = hub.http.clone();
        let url = url.clone();
        tasks.push(tokio::spawn(async move {
            let mut counts = Counts::default();
            let mut times = Vec::with_capacity(share.len());
            for body in share {
                let t = Instant::now();
                let c = post_events(&http, &url, body).await;
                times.push(ms(t.elapsed()));
                counts.add(&c);
            }
            (counts, times)
        }));
    }
    let mut counts = Counts::default();
    let mut request_ms = Vec::new();
    for t in tasks {
        let (c, times) = t.await.expect("client task");
        counts.add(&c);
        request_ms.extend(times);
    }
    let elapsed = start.elapsed();
    let (cpu, others) = watch.stop();
    let lock_busy = sampler.stop();
    let file_size =
        |name: &str| std::fs::metadata(hub._dir.path().join(name)).map_or(0, |m| m.len());
    let (db_bytes, wal_bytes) = (file_size("hub.db"), file_size("hub.db-wal"));
    request_ms.sort_by(f64::total_cmp);
    // The state's SLO totals are published by the tick (every 500 ms).
    let waiting = Instant::now();
    let mut visible_after = None;
    let mut state_total = 0;
    while waiting.elapsed() < Duration::from_secs(30) {
        state_total = hub.completion_total().await;
        if state_total >= counts.accepted {
            visible_after = Some(waiting.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    (
        Throughput {
            clients,
            events,
            elapsed,
            cpu,
            others,
            counts,
            request_ms,
            lock_busy,
            db_bytes,
            wal_bytes,
            state_total,
            visible_after,
            serde_eps,
        },
        hub,
    )
}
