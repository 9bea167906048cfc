//! NDJSON ingest: a whole body through `decode_body` (what
//! `POST /v1/events` does), and each line through `Envelope::decode_bytes`.
//! Properties: nothing panics; every line is either accepted or refused
//! with a reason; an accepted envelope encodes to a line that decodes to
//! the same envelope and encodes to the same line again.
#![no_main]

use agentdeck::ingest::ndjson::{decode_body, lines};
use agentdeck::model::envelope::Envelope;
use chrono::{TimeZone, Utc};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // A fixed clock keeps runs reproducible; the seeds are stamped near it.
    let now = Utc
        .with_ymd_and_hms(2026, 11, 21, 3, 15, 0)
        .single()
        .expect("a valid date");
    let (good, bad) = decode_body(data, now);
    assert_eq!(good.len() + bad.len(), lines(data).count());
    for (_, reason) in &bad {
        assert!(!reason.is_empty(), "a refused line without a reason");
    }
    for (_, line) in lines(data) {
        let Ok(env) = Envelope::decode_bytes(line) else {
            continue;
        };
        let encoded = env.to_line();
        let again = Envelope::decode(&encoded)
            .unwrap_or_else(|e| panic!("re-decoding {encoded} failed: {e}"));
        assert_eq!(env, again, "round trip changed the envelope: {encoded}");
        assert_eq!(encoded, again.to_line(), "encoding is not stable");
    }
});
