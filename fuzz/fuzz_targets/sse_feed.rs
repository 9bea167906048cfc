//! The TUI's live feed: bytes as a hub (or anything in between) sends them,
//! cut into chunks at fuzzer-chosen places, through
//! `agentdeck::client::feed::decode_stream` (eventsource-stream's SSE
//! parser, then our snapshot and delta decoding), exactly as `feed::run`
//! reads a response.
//!
//! Properties: nothing panics; where the chunks are cut does not change
//! what is decoded; every snapshot and delta decoded, sent again the way
//! the hub sends it, decodes to itself.
#![no_main]

use agentdeck::client::feed::{FeedMsg, StreamItem, decode_stream};
use futures_util::{FutureExt, StreamExt, stream};
use libfuzzer_sys::fuzz_target;

/// Decodes `chunks` as one response body. The source is always ready, so
/// the stream completes without a runtime.
fn decode(chunks: Vec<Vec<u8>>) -> Vec<StreamItem> {
    let source = stream::iter(chunks.into_iter().map(Ok::<_, std::convert::Infallible>));
    decode_stream(source)
        .collect::<Vec<_>>()
        .now_or_never()
        .expect("a ready source decodes without waiting")
}

/// What the feed acts on: everything up to the first broken item, with
/// the broken item's wording left out (it may quote the bytes at hand).
fn acted_on(items: &[StreamItem]) -> Vec<StreamItem> {
    let mut out = Vec::new();
    for item in items {
        if let StreamItem::Broken(_) = item {
            out.push(StreamItem::Broken(String::new()));
            break;
        }
        out.push(item.clone());
    }
    out
}

/// The frame the hub would send for `msg` (see `hub::stream`).
fn frame(msg: &FeedMsg) -> Option<String> {
    let (id, event, data) = match msg {
        FeedMsg::Snapshot(s) => (s.seq, "snapshot", serde_json::to_string(s).ok()?),
        FeedMsg::Delta(id, d) => {
            let value = serde_json::to_value(d).ok()?;
            (*id, d.event_name(), value.get("data")?.to_string())
        }
        _ => return None,
    };
    Some(format!("id: {id}\nevent: {event}\ndata: {data}\n\n"))
}

fuzz_target!(|data: &[u8]| {
    let Some((&cut_seed, body)) = data.split_first() else {
        return;
    };
    let whole = decode(vec![body.to_vec()]);
    // Chunks of 1 to 16 bytes, sizes drawn from the seed byte.
    let mut chunks = Vec::new();
    let mut rest = body;
    let mut state = u32::from(cut_seed) | 0x100;
    while !rest.is_empty() {
        state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        let n = ((state >> 16) as usize % 16 + 1).min(rest.len());
        let (head, tail) = rest.split_at(n);
        chunks.push(head.to_vec());
        rest = tail;
    }
    let cut = decode(chunks);
    assert_eq!(
        acted_on(&whole),
        acted_on(&cut),
        "chunking changed the decoding"
    );
    for item in &whole {
        let StreamItem::Msg(msg) = item else { continue };
        let Some(text) = frame(msg) else { continue };
        let again = decode(vec![text.clone().into_bytes()]);
        assert_eq!(
            again,
            vec![StreamItem::Msg(msg.clone())],
            "re-sent as {text:?}"
        );
    }
});
