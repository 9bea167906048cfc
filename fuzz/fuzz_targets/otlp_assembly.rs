//! Whole traces across exports: the input is several OTLP/JSON exports, one
//! per line, fed in turn to the hub's [`Assembler`] (half a minute apart),
//! then everything still waiting is expired. Properties: nothing panics;
//! every span read is accounted for exactly once over the whole sequence
//! (in a run, ignored, rejected, a duplicate, context), with nothing left
//! waiting; every envelope made decodes as it is.
#![no_main]

mod mapped;

use agentdeck::ingest::otlp::{Assembler, Export, Mapped};
use chrono::{Duration, TimeZone, Utc};
use libfuzzer_sys::fuzz_target;

fn account(m: &Mapped, total: &mut [u64; 2]) {
    assert_eq!(m.envelopes.len(), m.envelope_spans.len());
    total[0] += m.spans;
    total[1] += m.accounted();
    mapped::check_envelopes(m);
}

fuzz_target!(|data: &[u8]| {
    let mut assembler = Assembler::default();
    let Some(mut now) = Utc.timestamp_opt(1_790_000_000, 0).single() else {
        return;
    };
    // [spans read, spans accounted for]
    let mut total = [0u64; 2];
    for line in data.split(|b| *b == b'\n').take(16) {
        let Ok(export) = Export::from_json(line) else {
            continue;
        };
        let mut step = assembler.assemble("fuzz", export, now);
        account(&step.mapped, &mut total);
        for (_, m) in &step.expired {
            // Expired spans were counted as read when they arrived.
            let mut again = [0u64; 2];
            account(m, &mut again);
            total[1] += again[1];
        }
        assembler.settle(&mut step);
        now += Duration::seconds(30);
    }
    let mut last = assembler.expire(now + Duration::days(1));
    for (_, m) in &last.expired {
        let mut again = [0u64; 2];
        account(m, &mut again);
        total[1] += again[1];
    }
    assembler.settle(&mut last);
    assert_eq!(assembler.waiting(), (0, 0), "spans still waiting after expiry");
    assert_eq!(total[0], total[1], "spans read vs accounted for");
});
