//! The engine's folded state as bytes, so a restart can start from it and
//! fold only the events journalled since, instead of all of history.
//!
//! The bytes are postcard: compact and fast for rings of counters, but not
//! self-describing, so they are only read back by the build whose
//! [`STATE_FORMAT`] and specs wrote them (the caller checks both through
//! [`Engine::fingerprint`]). Whatever does not read back cleanly is refused
//! with the reason, and the caller folds the journal instead.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{AgentState, Engine, Map};
use crate::engine::series::SloSeries;

/// Changes whenever anything the snapshot holds changes shape: a snapshot
/// written under another value is not read.
pub const STATE_FORMAT: u32 = 1;

#[derive(Serialize)]
struct StateRef<'a> {
    agents: &'a Map<AgentState>,
    series: &'a [SloSeries],
    now_s: i64,
}

#[derive(Deserialize)]
struct State {
    agents: Map<AgentState>,
    series: Vec<SloSeries>,
    now_s: i64,
}

impl Engine {
    /// What the folded state depends on besides the events: the state
    /// format, the SLO specs and the limits. Two engines with the same
    /// fingerprint fold the same events into the same state.
    pub fn fingerprint(&self) -> String {
        let mut hash = Sha256::new();
        hash.update(STATE_FORMAT.to_le_bytes());
        hash.update(env!("CARGO_PKG_VERSION").as_bytes());
        // Specs serialize to JSON; this cannot fail for plain data, and a
        // failure only makes the fingerprint match nothing.
        hash.update(serde_json::to_vec(&self.specs).unwrap_or_default());
        hash.update(serde_json::to_vec(&self.limits).unwrap_or_default());
        hash.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Appends the folded state to `out`.
    pub fn write_state(&self, out: &mut Vec<u8>) -> Result<(), String> {
        let state = StateRef {
            agents: &self.agents,
            series: &self.series,
            now_s: self.now_s,
        };
        postcard::to_io(&state, out)
            .map(|_| ())
            .map_err(|e| format!("cannot write the engine state: {e}"))
    }

    /// Replaces the folded state with the one written by
    /// [`Engine::write_state`] at the start of `bytes`, returning the rest
    /// of them. The state must refer only to series and specs that exist;
    /// on any error the engine is left as it was.
    pub fn read_state<'b>(&mut self, bytes: &'b [u8]) -> Result<&'b [u8], String> {
        let (state, rest) = postcard::take_from_bytes::<State>(bytes)
            .map_err(|e| format!("the engine state does not read back: {e}"))?;
        if let Some(s) = state.series.iter().find(|s| s.spec >= self.specs.len()) {
            return Err(format!(
                "series {} names spec {} of {}",
                s.id,
                s.spec,
                self.specs.len()
            ));
        }
        let known = state.series.len();
        let dangling = state
            .agents
            .values()
            .flat_map(|a| a.workflows.values())
            .flat_map(|w| &w.series)
            .any(|&i| i >= known);
        if dangling {
            return Err(format!("a workflow names a series past the {known} stored"));
        }
        self.agents = state.agents;
        self.series = state.series;
        self.now_s = state.now_s;
        self.signals.clear();
        Ok(rest)
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;
    use crate::engine::Signal;
    use crate::model::envelope::Envelope;
    use crate::model::slo::SloSpec;

    fn specs() -> Vec<SloSpec> {
        crate::engine::spec::default_specs()
    }

    fn run(agent: &str, i: u64, ok: bool) -> Envelope {
        let ts = Utc.timestamp_opt(1_764_000_000 + i as i64 * 7, 0).unwrap();
        let outcome = if ok { "success" } else { "failed" };
        Envelope::decode(&format!(
            r#"{{"v":1,"type":"run.finished","ts":"{}","agent":"{agent}","run_id":"r{i}","workflow":"refund","outcome":"{outcome}","latency_ms":{},"cost_usd":0.01}}"#,
            ts.to_rfc3339(),
            100 + i % 900
        ))
        .unwrap()
    }

    /// An engine restored from a snapshot halfway, then fed the second
    /// half, answers exactly as one fed everything.
    #[test]
    fn a_restored_engine_folds_on_as_if_it_never_stopped() {
        let events: Vec<Envelope> = (0..4_000)
            .map(|i| {
                run(
                    ["a", "b", "c"][(i % 3) as usize],
                    i,
                    i % 11 != 0 && i < 3_000,
                )
            })
            .collect();
        let mut whole = Engine::new(specs());
        let mut first = Engine::new(specs());
        for e in &events[..2_000] {
            whole.apply(e).unwrap();
            first.apply(e).unwrap();
        }
        let mut bytes = Vec::new();
        first.write_state(&mut bytes).unwrap();
        bytes.extend_from_slice(b"rest");
        let mut restored = Engine::new(specs());
        assert_eq!(restored.fingerprint(), first.fingerprint());
        assert_eq!(restored.read_state(&bytes).unwrap(), b"rest");
        for e in &events[2_000..] {
            whole.apply(e).unwrap();
            restored.apply(e).unwrap();
        }
        let now = events.last().unwrap().ts;
        whole.tick(now);
        restored.tick(now);
        let alerts = |e: &mut Engine| {
            e.drain_signals()
                .into_iter()
                .filter(|s| matches!(s, Signal::Alert { .. }))
                .count()
        };
        assert_eq!(alerts(&mut whole), alerts(&mut restored));
        assert_eq!(whole.statuses(now), restored.statuses(now));
        assert_eq!(whole.agents(now), restored.agents(now));
        assert_eq!(whole.alerting(), restored.alerting());
    }

    #[test]
    fn other_specs_make_another_fingerprint_and_bad_bytes_are_refused() {
        let engine = Engine::new(specs());
        let mut fewer = specs();
        fewer.pop();
        assert_ne!(engine.fingerprint(), Engine::new(fewer).fingerprint());
        let mut restored = Engine::new(specs());
        assert!(restored.read_state(b"\xff\xff\xff").is_err());
        let mut bytes = Vec::new();
        let mut fed = Engine::new(specs());
        fed.apply(&run("a", 1, true)).unwrap();
        fed.write_state(&mut bytes).unwrap();
        // An engine with fewer specs refuses series that name the others.
        let mut one = Engine::new(specs()[..1].to_vec());
        let read = one.read_state(&bytes);
        assert!(read.is_err() || one.series_count() == fed.series_count());
    }
}
