//! The feed's decoding of a stream body (`client::feed::decode_stream`),
//! fed bytes directly: regressions for what the `sse_feed` fuzz target
//! found, and the properties it checks, on fixed inputs.

use std::time::{Duration, Instant};

use agentdeck::client::feed::{FeedMsg, StreamItem, decode_stream};
use agentdeck::model::envelope::Envelope;
use agentdeck::model::stream::{Delta, Snapshot};
use futures_util::{FutureExt, StreamExt, stream};

fn presence(id: u64) -> String {
    format!("id: {id}\nevent: presence\ndata: []\n\n")
}

/// Decodes `chunks` as one body that then ends.
fn decode(chunks: Vec<Vec<u8>>) -> Vec<StreamItem> {
    stream::iter(chunks.into_iter().map(Ok::<_, std::convert::Infallible>))
        .pipe(decode_stream)
        .collect::<Vec<_>>()
        .now_or_never()
        .expect("a ready body decodes without waiting")
}

trait Pipe: Sized {
    fn pipe<T>(self, f: impl FnOnce(Self) -> T) -> T {
        f(self)
    }
}
impl<T> Pipe for T {}

fn is_presence(item: &StreamItem, id: u64) -> bool {
    matches!(item, StreamItem::Msg(FeedMsg::Delta(n, Delta::Presence(_))) if *n == id)
}

/// A stream may start with a byte order mark, which SSE skips. The parser
/// underneath sliced one byte off the three-byte mark and panicked, which
/// would end the feed task for good.
#[test]
fn a_byte_order_mark_at_the_start_is_skipped_not_a_panic() {
    let items = decode(vec![format!("\u{feff}{}", presence(1)).into_bytes()]);
    assert!(items.len() == 1 && is_presence(&items[0], 1), "{items:?}");
    assert_eq!(decode(vec!["\u{feff}".into()]), vec![]);
    // Only one mark is skipped: a second one is part of the first field's
    // name (`\u{feff}id`), so the event has no id and is skipped.
    let items = decode(vec![
        format!("\u{feff}\u{feff}{}", presence(1)).into_bytes(),
    ]);
    assert!(
        matches!(&items[..], [StreamItem::Skipped(why)] if why.contains("bad event id")),
        "{items:?}"
    );
    let items = decode(vec![
        b"\xef".to_vec(),
        b"\xbb\xbf".to_vec(),
        presence(2).into_bytes(),
    ]);
    assert!(items.len() == 1 && is_presence(&items[0], 2), "{items:?}");
}

/// Bytes that are not UTF-8 end the stream at once with the reason, so the
/// feed reconnects. The parser underneath kept them (and everything after
/// them) in a buffer that only grew, and said nothing while heartbeats kept
/// the connection looking alive: the TUI showed a live feed that never
/// changed again.
#[tokio::test]
async fn invalid_utf8_breaks_the_stream_at_once() {
    let chunks: Vec<Vec<u8>> = vec![
        presence(1).into_bytes(),
        b"data: \xff\xfe\n\n".to_vec(),
        b": heartbeat\n\n".to_vec(),
        presence(2).into_bytes(),
    ];
    // The connection stays open afterwards, as a hub's does.
    let body = stream::iter(chunks.into_iter().map(Ok::<_, std::convert::Infallible>))
        .chain(stream::pending());
    let mut items = Box::pin(decode_stream(body));
    let first = tokio::time::timeout(Duration::from_secs(5), items.next())
        .await
        .expect("the first event")
        .expect("an item");
    assert!(is_presence(&first, 1), "{first:?}");
    let second = tokio::time::timeout(Duration::from_secs(5), items.next())
        .await
        .expect("invalid UTF-8 must end the stream, not stall it")
        .expect("an item");
    match second {
        StreamItem::Broken(why) => assert!(why.contains("UTF-8"), "{why}"),
        other => panic!("expected the stream to break, got {other:?}"),
    }
}

/// The events before a bad byte are delivered however the bytes were cut,
/// and the stream ends at the line that holds it (found by the fuzz
/// target: in one piece, the events before it were lost).
#[test]
fn events_before_a_bad_byte_arrive_whatever_the_pieces() {
    let mut body = presence(1).into_bytes();
    body.extend_from_slice(b"id: 2\nevent: presence\ndata: [\xff]\n\n");
    body.extend_from_slice(presence(3).as_bytes());
    for size in [body.len(), 1, 2, 5, 16, 31] {
        let items = decode(body.chunks(size).map(<[u8]>::to_vec).collect());
        assert!(
            matches!(&items[..], [first, StreamItem::Broken(why)] if is_presence(first, 1) && why.contains("UTF-8")),
            "pieces of {size}: {items:?}"
        );
    }
}

/// A large event arriving in small pieces (a snapshot of a big fleet over a
/// slow link) is decoded in time proportional to its size. The parser
/// underneath scanned the whole unfinished line again for every piece:
/// quadratic, minutes for a few megabytes.
#[test]
fn a_large_event_in_small_pieces_decodes_in_linear_time() {
    // JSON may end in any amount of white space.
    let padding = " ".repeat(2 * 1024 * 1024);
    let body = format!("id: 7\nevent: presence\ndata: []{padding}\n\n");
    let chunks: Vec<Vec<u8>> = body.as_bytes().chunks(512).map(<[u8]>::to_vec).collect();
    let started = Instant::now();
    let items = decode(chunks);
    let took = started.elapsed();
    println!("2 MiB event in 512-byte pieces decoded in {took:?}");
    assert_eq!(items.len(), 1, "{items:?}");
    assert!(is_presence(&items[0], 7), "{:?}", items[0]);
    assert!(
        took < Duration::from_secs(5),
        "2 MiB in 512-byte pieces took {took:?}"
    );
}

/// Where a body is cut into pieces changes nothing, line endings of every
/// kind included (a `\r\n` split across two pieces is one line end).
#[test]
fn cutting_the_body_anywhere_changes_nothing() {
    let body = format!(
        "{}: heartbeat\r\n\r\nid: 2\revent: presence\rdata: []\r\r{}retry: 100\n\n{}",
        presence(1),
        presence(3).replace('\n', "\r\n"),
        presence(4)
    );
    let whole = decode(vec![body.clone().into_bytes()]);
    assert_eq!(whole.len(), 4, "{whole:?}");
    for (i, id) in [1, 2, 3, 4].into_iter().enumerate() {
        assert!(is_presence(&whole[i], id), "{whole:?}");
    }
    for size in 1..=17 {
        let chunks = body.as_bytes().chunks(size).map(<[u8]>::to_vec).collect();
        assert_eq!(decode(chunks), whole, "pieces of {size} bytes");
    }
}

/// An event that does not decode is skipped with the reason; the ones
/// around it still arrive.
#[test]
fn a_bad_event_is_skipped_and_its_neighbours_kept() {
    let body = format!(
        "{}id: x\nevent: presence\ndata: []\n\nid: 3\nevent: weather\ndata: {{}}\n\n{}",
        presence(1),
        presence(4)
    );
    let items = decode(vec![body.into_bytes()]);
    assert_eq!(items.len(), 4, "{items:?}");
    assert!(is_presence(&items[0], 1));
    assert!(matches!(&items[1], StreamItem::Skipped(why) if why.contains("bad event id")));
    assert!(matches!(&items[2], StreamItem::Skipped(why) if why.contains("weather")));
    assert!(is_presence(&items[3], 4));
}

/// A number the hub writes reaches the TUI bit for bit (found by the fuzz
/// target: serde_json's default parser read its own output
/// `1.1330002253520715` as 1.1330002253520717), and an envelope line
/// encoded and decoded again keeps its cost exactly.
#[test]
fn floats_survive_encoding_and_decoding_bit_for_bit() {
    let snapshot: Snapshot =
        serde_json::from_str(include_str!("fixtures/tui_state.json")).expect("the fixture");
    let mut slo = snapshot.slos[0].clone();
    for (i, x) in [1.1330002253520715, 0.1 + 0.2, 45.555555555555515, 1e-300]
        .into_iter()
        .enumerate()
    {
        slo.burn.d1 = x;
        let data = serde_json::to_string(&slo).unwrap();
        let body = format!("id: {i}\nevent: slo\ndata: {data}\n\n");
        let items = decode(vec![body.into_bytes()]);
        match &items[..] {
            [StreamItem::Msg(FeedMsg::Delta(_, Delta::Slo(got)))] => {
                assert_eq!(
                    got.burn.d1.to_bits(),
                    x.to_bits(),
                    "{x} came as {}",
                    got.burn.d1
                )
            }
            other => panic!("{other:?}"),
        }
    }
    let line = r#"{"v":1,"type":"run.finished","ts":"2026-11-21T03:12:00Z","agent":"a","run_id":"r","outcome":"success","latency_ms":1,"cost_usd":1.1330002253520715}"#;
    let env = Envelope::decode(line).unwrap();
    let again = Envelope::decode(&env.to_line()).unwrap();
    assert_eq!(env, again);
}
