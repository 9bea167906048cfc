//! Gzip request bodies (`Content-Encoding: gzip` on OTLP exports): bounded
//! inflation of any bytes, then both OTLP decoders on what came out.
//! Properties: nothing panics; the output never exceeds the limit, however
//! far the input would inflate.
#![no_main]

use agentdeck::ingest::gzip::{InflateError, inflate};
use agentdeck::ingest::otlp::{map_export, map_protobuf};
use libfuzzer_sys::fuzz_target;

const LIMIT: usize = 1 << 20;

fuzz_target!(|data: &[u8]| {
    match inflate(data, LIMIT) {
        Ok(body) => {
            assert!(body.len() <= LIMIT, "{} bytes past the limit", body.len());
            let _ = map_export(&body);
            let _ = map_protobuf(&body);
        }
        Err(InflateError::TooLarge { limit }) => assert_eq!(limit, LIMIT),
        Err(InflateError::Corrupt(_)) => {}
    }
});
