//! A recording read as a stream: NDJSON envelopes or OpenTelemetry
//! Collector file-exporter lines, plain, gzip or zstd, one line in memory at
//! a time, however large the file.
//!
//! Envelope lines are decoded borrowed ([`EnvelopeRef`]), straight from the
//! reusable line buffer. A line is told apart by its first key (the
//! Collector writes `{"resourceSpans":…`, envelopes start `{"v":…`), so
//! nothing scans a whole line to find out what it is. A pretty-printed
//! export request (one JSON value over many lines, as
//! `opentelemetry-proto`'s examples are) is read whole, within
//! [`MAX_DOCUMENT_BYTES`].

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use crate::ingest::otlp::Mapped;
use crate::model::envelope_ref::EnvelopeRef;

/// Longest line read; a longer one is refused and skipped (the Collector
/// writes one export per line: 858 KB in the samples).
pub const MAX_LINE_BYTES: usize = 64 * 1024 * 1024;
/// Largest pretty-printed document read whole.
pub const MAX_DOCUMENT_BYTES: usize = 256 * 1024 * 1024;

/// One thing a recording holds. Lives for one call on the stack: boxing
/// the event would cost an allocation a line on the hot path.
#[allow(clippy::large_enum_variant)]
pub enum Item<'a> {
    /// An event envelope, borrowed from the line.
    Event(EnvelopeRef<'a>),
    /// A trace export, mapped on its own.
    Traces(Mapped),
}

/// What reading a recording counted.
#[derive(Debug, Default, Clone)]
pub struct Counts {
    /// Lines read.
    pub lines: u64,
    /// Spans read from trace lines.
    pub spans: u64,
    /// Metrics and logs lines skipped.
    pub skipped: u64,
    /// Lines or spans that could not be used.
    pub rejected: u64,
    /// The first few reasons.
    pub errors: Vec<String>,
}

impl Counts {
    fn reject(&mut self, line: u64, reason: impl std::fmt::Display) {
        self.rejected += 1;
        if self.errors.len() < 5 {
            self.errors.push(format!("line {line}: {reason}"));
        }
    }
}

/// Opens `path`, inflating gzip (`1f 8b`) or zstd (`28 b5 2f fd`) by their
/// magic bytes, whatever the file is called.
fn open(path: &Path) -> Result<Box<dyn BufRead>, String> {
    let cannot = |e: std::io::Error| format!("cannot read {}: {e}", path.display());
    let mut file = BufReader::with_capacity(256 * 1024, File::open(path).map_err(cannot)?);
    let head = file.fill_buf().map_err(cannot)?;
    Ok(if head.starts_with(&[0x1f, 0x8b]) {
        Box::new(BufReader::with_capacity(
            256 * 1024,
            flate2::read::MultiGzDecoder::new(file),
        ))
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        let zstd = zstd::stream::read::Decoder::with_buffer(file).map_err(cannot)?;
        Box::new(BufReader::with_capacity(256 * 1024, zstd))
    } else {
        Box::new(file)
    })
}

/// Reads one line (without its `\n`) into `buf`, at most `limit` bytes:
/// `Ok(None)` at the end, `Ok(Some(false))` for a line past the limit
/// (skipped to its end, `buf` left empty).
fn read_line(
    input: &mut dyn BufRead,
    buf: &mut Vec<u8>,
    limit: usize,
) -> std::io::Result<Option<bool>> {
    buf.clear();
    let mut over = false;
    let mut read_any = false;
    loop {
        let chunk = input.fill_buf()?;
        if chunk.is_empty() {
            return Ok(read_any.then_some(!over));
        }
        read_any = true;
        let (take, done) = match memchr::memchr(b'\n', chunk) {
            Some(i) => (i, true),
            None => (chunk.len(), false),
        };
        if !over && buf.len() + take <= limit {
            buf.extend_from_slice(&chunk[..take]);
        } else {
            over = true;
            buf.clear();
        }
        input.consume(take + usize::from(done));
        if done {
            return Ok(Some(!over));
        }
    }
}

/// What kind of line this is, by its first key.
#[derive(PartialEq)]
enum Kind {
    Traces,
    OtherSignal,
    Envelope,
}

fn kind(line: &[u8]) -> Kind {
    let start = line
        .iter()
        .position(|b| !b.is_ascii_whitespace() && *b != b'{')
        .unwrap_or(line.len());
    let first = &line[start..];
    if first.starts_with(b"\"resourceSpans\"") {
        return Kind::Traces;
    }
    if first.starts_with(b"\"resourceMetrics\"") || first.starts_with(b"\"resourceLogs\"") {
        return Kind::OtherSignal;
    }
    if first.starts_with(b"\"v\"") {
        return Kind::Envelope;
    }
    // Another key first: look for the signal's key near the start.
    let head = &line[..line.len().min(4096)];
    if memchr::memmem::find(head, b"\"resourceSpans\"").is_some() {
        Kind::Traces
    } else if memchr::memmem::find(head, b"\"resourceMetrics\"").is_some()
        || memchr::memmem::find(head, b"\"resourceLogs\"").is_some()
    {
        Kind::OtherSignal
    } else {
        Kind::Envelope
    }
}

/// The first bytes of every SQLite database file.
const SQLITE_MAGIC: &[u8; 16] = b"SQLite format 3\0";

/// Whether `path` is a SQLite database (a hub's, or its backup).
fn is_database(path: &Path) -> bool {
    let mut head = [0u8; 16];
    File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok_and(|()| &head == SQLITE_MAGIC)
}

/// Reads a recording, handing each event and each mapped export to `f` in
/// file order. A hub's database (or a backup of it) is read through its
/// event journal, in the order the hub accepted the events.
pub fn for_each(path: &Path, mut f: impl FnMut(Item<'_>)) -> Result<Counts, String> {
    if is_database(path) {
        return for_each_journalled(path, f);
    }
    let cannot = |e: std::io::Error| format!("cannot read {}: {e}", path.display());
    let mut input = open(path)?;
    let mut counts = Counts::default();
    let mut buf = Vec::with_capacity(64 * 1024);
    let mut first = true;
    while let Some(whole) = read_line(&mut *input, &mut buf, MAX_LINE_BYTES).map_err(cannot)? {
        counts.lines += 1;
        let n = counts.lines;
        if !whole {
            counts.reject(n, format!("line is longer than {MAX_LINE_BYTES} bytes"));
            continue;
        }
        if first && buf.trim_ascii() == b"{" {
            // A pretty-printed document: the rest of the file is its body.
            let mut rest = Vec::new();
            input
                .take(MAX_DOCUMENT_BYTES as u64)
                .read_to_end(&mut rest)
                .map_err(cannot)?;
            buf.push(b'\n');
            buf.extend_from_slice(&rest);
            line(&buf, n, &mut counts, &mut f);
            return Ok(counts);
        }
        first = false;
        if buf.trim_ascii().is_empty() {
            counts.lines -= 1;
            continue;
        }
        line(&buf, n, &mut counts, &mut f);
    }
    Ok(counts)
}

/// Every journalled event of a hub's database.
fn for_each_journalled(path: &Path, mut f: impl FnMut(Item<'_>)) -> Result<Counts, String> {
    let store = crate::hub::store::Store::open_read_only(path).map_err(|e| e.to_string())?;
    let mut counts = Counts::default();
    store
        .for_each_event(0, |text| {
            counts.lines += 1;
            let n = counts.lines;
            line(text.as_bytes(), n, &mut counts, &mut f);
        })
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(counts)
}

/// One line of a recording.
fn line(line: &[u8], n: u64, counts: &mut Counts, f: &mut impl FnMut(Item<'_>)) {
    match kind(line) {
        Kind::Traces => match crate::ingest::otlp::map_export(line) {
            Ok(m) => {
                counts.spans += m.spans;
                counts.rejected += m.rejected_spans;
                f(Item::Traces(m));
            }
            Err(e) => counts.reject(n, e),
        },
        Kind::OtherSignal => counts.skipped += 1,
        Kind::Envelope => match EnvelopeRef::decode_bytes(line) {
            Ok(env) => f(Item::Event(env)),
            Err(e) => counts.reject(n, e),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    #[test]
    fn lines_are_bounded_and_skipped_whole() {
        let mut input = Cursor::new(b"short\nthis one is too long\nok".to_vec());
        let mut buf = Vec::new();
        assert_eq!(read_line(&mut input, &mut buf, 8).unwrap(), Some(true));
        assert_eq!(buf, b"short");
        assert_eq!(read_line(&mut input, &mut buf, 8).unwrap(), Some(false));
        assert!(buf.is_empty());
        assert_eq!(read_line(&mut input, &mut buf, 8).unwrap(), Some(true));
        assert_eq!(buf, b"ok");
        assert_eq!(read_line(&mut input, &mut buf, 8).unwrap(), None);
    }

    #[test]
    fn a_line_is_known_by_its_first_key() {
        assert!(kind(br#"{"resourceSpans":[]}"#) == Kind::Traces);
        assert!(kind(br#" { "resourceLogs":[]}"#) == Kind::OtherSignal);
        assert!(kind(br#"{"v":1,"error":"resourceSpans"}"#) == Kind::Envelope);
        assert!(kind(br#"{"schemaUrl":"x","resourceSpans":[]}"#) == Kind::Traces);
    }
}
