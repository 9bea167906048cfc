//! OTLP/protobuf trace ingest (`POST /v1/traces` with
//! `application/x-protobuf`, and gRPC's payload): `map_protobuf` on any
//! bytes. Properties: nothing panics; the shape check bounds what prost
//! allocates; every span read is accounted for exactly once; every envelope
//! made is one the protocol's decoder accepts as it is.
#![no_main]

use agentdeck::ingest::otlp::map_protobuf;
use agentdeck::model::envelope::Envelope;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(mapped) = map_protobuf(data) else {
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
        "spans not accounted for: {mapped:?}"
    );
    for env in &mapped.envelopes {
        let line = env.to_line();
        let decoded = Envelope::decode(&line).unwrap_or_else(|e| {
            panic!("the mapper made an envelope the decoder refuses: {e}: {line}")
        });
        assert_eq!(&decoded, env, "the envelope changed through its line: {line}");
    }
});
