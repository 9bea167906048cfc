//! OTLP/JSON trace ingest (`POST /v1/traces`): `map_export` on any bytes.
//! Properties: nothing panics; every span read is accounted for exactly
//! once (mapped into an envelope, ignored, rejected or a duplicate); every
//! envelope the mapper makes is one the protocol's own decoder accepts as
//! it is, since the hub stores it as a line and replays it on restart.
#![no_main]

use agentdeck::ingest::otlp::map_export;
use agentdeck::model::envelope::Envelope;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(mapped) = map_export(data) else {
        return;
    };
    assert_eq!(mapped.envelopes.len(), mapped.envelope_spans.len());
    let in_envelopes: u64 = mapped.envelope_spans.iter().sum();
    assert_eq!(
        in_envelopes
            + mapped.ignored_spans
            + mapped.rejected_spans
            + mapped.duplicate_spans
            + mapped.context_spans
            + mapped.late_spans,
        mapped.spans,
        "spans not accounted for: {} in envelopes, {} ignored, {} rejected, {} duplicates, {} context of {}",
        in_envelopes,
        mapped.ignored_spans,
        mapped.rejected_spans,
        mapped.duplicate_spans,
        mapped.context_spans,
        mapped.spans
    );
    for env in &mapped.envelopes {
        let line = env.to_line();
        let decoded = Envelope::decode(&line).unwrap_or_else(|e| {
            panic!("the mapper made an envelope the decoder refuses: {e}: {line}")
        });
        assert_eq!(
            &decoded, env,
            "the envelope changed through its line: {line}"
        );
    }
});
