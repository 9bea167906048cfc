//! The properties every OTLP mapping must keep, shared by the targets:
//! every span read is accounted for exactly once, and every envelope the
//! mapper makes is one the protocol's own decoder accepts as it is, since
//! the hub stores it as a line and replays it on restart.

use agentdeck::ingest::otlp::Mapped;
use agentdeck::model::envelope::Envelope;

// otlp_assembly counts across steps and checks the envelopes only.
#[allow(dead_code)]
pub fn check(mapped: &Mapped) {
    assert_eq!(mapped.envelopes.len(), mapped.envelope_spans.len());
    assert_eq!(
        mapped.accounted(),
        mapped.spans,
        "spans not accounted for: {mapped:?}"
    );
    check_envelopes(mapped);
}

pub fn check_envelopes(mapped: &Mapped) {
    for env in &mapped.envelopes {
        let line = env.to_line();
        let decoded = Envelope::decode(&line).unwrap_or_else(|e| {
            panic!("the mapper made an envelope the decoder refuses: {e}: {line}")
        });
        assert_eq!(&decoded, env, "the envelope changed through its line: {line}");
    }
}
