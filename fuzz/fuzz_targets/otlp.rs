//! OTLP/JSON trace ingest (`POST /v1/traces`): `map_export` on any bytes.
//! Properties (`mapped.rs`): nothing panics; every span read is accounted
//! for exactly once (in an envelope, ignored, rejected, a duplicate,
//! context or late); every envelope made decodes, through its line, to
//! itself.
#![no_main]

mod mapped;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = agentdeck::ingest::otlp::map_export(data) {
        mapped::check(&m);
    }
});
