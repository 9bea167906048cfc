//! OTLP/protobuf trace ingest (`POST /v1/traces` with
//! `application/x-protobuf`, and gRPC's payload): `map_protobuf` on any
//! bytes. Properties (`mapped.rs`): nothing panics; the shape check bounds
//! what prost allocates; every span read is accounted for exactly once;
//! every envelope made decodes, through its line, to itself.
#![no_main]

mod mapped;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = agentdeck::ingest::otlp::map_protobuf(data) {
        mapped::check(&m);
    }
});
