//! Decoding of protocol v1 envelope lines, field by field: untrusted input
//! from agents and from recorded files.
//!
//! A hand-written visitor reads the flat JSON object once, borrowing strings
//! from the input where it can, and rejects unknown and duplicate fields by
//! name. [`RawEnvelope::into_envelope_ref`] then checks the fields the event
//! type requires and refuses fields that belong to other types.

use std::borrow::Cow;
use std::cell::Cell;
use std::fmt;

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use serde::Deserialize;
use serde::de::{self, MapAccess, Visitor};

use crate::model::envelope::{
    ApprovalRequest, Change, Component, DEFAULT_WORKFLOW, Envelope, HealthStatus, Heartbeat,
    IncidentReport, Outcome, PROTOCOL_VERSION, Risk, Tokens, ToolStatus,
};
use crate::model::envelope_ref::{
    EnvelopeRef, EscalationRef, EventRef, PolicyViolationRef, RunFinishedRef, ToolCallEventRef,
    ToolCallRef, VersionsRef,
};
use crate::model::error::DecodeError;
use crate::model::incident::{Category, Severity};
use crate::model::limits::{
    MAX_ARGS_BYTES, MAX_ID_BYTES, MAX_LINE_BYTES, MAX_NAME_BYTES, MAX_REJECT_OPTIONS,
    MAX_TOOL_CALLS, MAX_VIOLATIONS,
};
use crate::model::validate;

impl<'a> EnvelopeRef<'a> {
    /// Decodes one NDJSON line, with every check of protocol v1: the same
    /// checks, in the same order and with the same messages, as
    /// [`Envelope::decode`].
    pub fn decode(line: &'a str) -> Result<Self, DecodeError> {
        if line.len() > MAX_LINE_BYTES {
            return Err(DecodeError::LineTooLong {
                len: line.len(),
                limit: MAX_LINE_BYTES,
            });
        }
        decode_line(line)
    }

    /// Decodes one NDJSON line given as bytes, refusing invalid UTF-8 with
    /// the offset of the first bad byte.
    pub fn decode_bytes(line: &'a [u8]) -> Result<Self, DecodeError> {
        match std::str::from_utf8(line) {
            Ok(text) => Self::decode(text),
            Err(e) => Err(DecodeError::Json(format!(
                "line is not valid UTF-8 (first bad byte at offset {})",
                e.valid_up_to()
            ))),
        }
    }
}

impl Envelope {
    /// Decodes one NDJSON line, with every check of protocol v1.
    ///
    /// The checks are those of [`EnvelopeRef::decode`]; this copies the
    /// borrowed strings into an owned envelope.
    pub fn decode(line: &str) -> Result<Self, DecodeError> {
        EnvelopeRef::decode(line).map(EnvelopeRef::into_owned)
    }

    /// Decodes one NDJSON line given as bytes, refusing invalid UTF-8 with
    /// the offset of the first bad byte.
    pub fn decode_bytes(line: &[u8]) -> Result<Self, DecodeError> {
        EnvelopeRef::decode_bytes(line).map(EnvelopeRef::into_owned)
    }
}

impl<'de> Deserialize<'de> for Envelope {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = RawEnvelope::deserialize(deserializer)?;
        raw.into_envelope().map_err(serde::de::Error::custom)
    }
}

/// Every event type name, for error messages.
pub const EVENT_TYPES: &str = "run.finished, tool.called, escalation, approval.requested, incident.reported, change, heartbeat";

/// A string borrowed from the input when it has no escapes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Text<'a>(pub Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TextVisitor<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for TextVisitor<'a> {
            type Value = Text<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(TextVisitor(std::marker::PhantomData))
    }
}

impl Text<'_> {
    fn into_string(self) -> String {
        self.0.into_owned()
    }
}

/// One tool call as sent.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawToolCall<'a> {
    #[serde(borrow)]
    tool: Option<Text<'a>>,
    #[serde(borrow)]
    status: Option<Text<'a>>,
    latency_ms: Option<u64>,
    #[serde(borrow)]
    error: Option<Text<'a>>,
}

/// The `tool_calls` array, each call checked as soon as it is read so that
/// the checked calls need no second vector. The first problem is kept and
/// reported where [`RawEnvelope::into_envelope_ref`] checks the calls, so
/// errors come in the same order and with the same messages as when the
/// array was checked after the whole line was read.
#[derive(Debug, Default)]
struct ToolCalls<'a> {
    /// The calls checked so far, up to the first problem.
    calls: Vec<ToolCallRef<'a>>,
    /// Every call in the array.
    len: usize,
    /// The first call's problem.
    problem: Option<DecodeError>,
}

impl<'de: 'a, 'a> Deserialize<'de> for ToolCalls<'a> {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct CallsVisitor<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for CallsVisitor<'a> {
            type Value = ToolCalls<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                // As serde's `Vec`, which read this array before.
                f.write_str("a sequence")
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut out = ToolCalls::default();
                while let Some(call) = seq.next_element::<RawToolCall<'de>>()? {
                    let i = out.len;
                    out.len += 1;
                    if out.problem.is_none() {
                        match tool_call(i, call) {
                            Ok(call) => out.calls.push(call),
                            Err(e) => out.problem = Some(e),
                        }
                    }
                }
                Ok(out)
            }
        }
        deserializer.deserialize_seq(CallsVisitor(std::marker::PhantomData))
    }
}

/// One policy violation as sent.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawViolation<'a> {
    #[serde(borrow)]
    policy: Option<Text<'a>>,
    #[serde(borrow)]
    detail: Option<Text<'a>>,
}

/// Versions as sent.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVersions<'a> {
    #[serde(borrow)]
    model: Option<Text<'a>>,
    #[serde(borrow)]
    prompt: Option<Text<'a>>,
    #[serde(borrow)]
    tool: Option<Text<'a>>,
    #[serde(borrow)]
    policy: Option<Text<'a>>,
}

macro_rules! raw_envelope {
    ($( $field:ident : $ty:ty ),* $(,)?) => {
        /// Every field of protocol v1, each optional, as read from one line.
        #[derive(Debug, Default)]
        pub struct RawEnvelope<'a> {
            /// The first unknown or duplicate field, reported after the
            /// whole object is read so the error keeps its structure.
            problem: Option<DecodeError>,
            kind: Option<Text<'a>>,
            $( $field: Option<$ty>, )*
        }

        impl<'a> RawEnvelope<'a> {
            /// The first field still present, after a converter has taken
            /// the ones its type uses.
            fn leftover(&self) -> Option<&'static str> {
                $( if self.$field.is_some() { return Some(stringify!($field)); } )*
                None
            }
        }

        impl<'a> RawEnvelope<'a> {
            /// Reads the fields of one envelope object into `self`, noting
            /// in `field` which one is being read.
            fn fill<A: MapAccess<'a>>(
                &mut self,
                field: &Cell<Option<&'static str>>,
                mut map: A,
            ) -> Result<(), A::Error> {
                while let Some(key) = map.next_key::<Text<'a>>()? {
                    match key.0.as_ref() {
                        "type" => {
                            field.set(Some("type"));
                            match self.kind {
                                None => self.kind = Some(next_value(&mut map)?),
                                Some(_) => {
                                    duplicate(&mut self.problem, "type");
                                    next_value::<A, Text<'a>>(&mut map)?;
                                }
                            }
                        }
                        $( stringify!($field) => {
                            field.set(Some(stringify!($field)));
                            // A repeated field is read (a value of the wrong
                            // type is still reported as such) and refused.
                            match self.$field {
                                None => self.$field = Some(next_value(&mut map)?),
                                Some(_) => {
                                    duplicate(&mut self.problem, stringify!($field));
                                    next_value::<A, $ty>(&mut map)?;
                                }
                            }
                        } )*
                        other => {
                            unknown(&mut self.problem, other);
                            field.set(None);
                            map.next_value::<de::IgnoredAny>()?;
                        }
                    }
                    field.set(None);
                }
                Ok(())
            }
        }
    };
}

/// Reads one value. Kept out of line so that the fields of one type share
/// one copy of the parsing code: a line touches a dozen fields, and with a
/// copy per field the decoder's code no longer fits the instruction cache.
#[inline(never)]
fn next_value<'a, A: MapAccess<'a>, T: Deserialize<'a>>(map: &mut A) -> Result<T, A::Error> {
    map.next_value()
}

#[cold]
#[inline(never)]
fn duplicate(problem: &mut Option<DecodeError>, name: &str) {
    problem.get_or_insert_with(|| DecodeError::DuplicateField(name.to_string()));
}

#[cold]
#[inline(never)]
fn unknown(problem: &mut Option<DecodeError>, name: &str) {
    problem.get_or_insert_with(|| DecodeError::UnknownField(truncate(name).to_string()));
}

const EXPECTING: &str = "an event envelope object";

impl<'de> Visitor<'de> for RawEnvelopeVisitor<'_> {
    type Value = RawEnvelope<'de>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(EXPECTING)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        let mut raw = RawEnvelope::default();
        raw.fill(self.field, map)?;
        Ok(raw)
    }
}

/// Reads the envelope object into a [`RawEnvelope`] in place: the struct is
/// large, and moving it through serde's return values costs more than
/// reading some of the fields.
struct RawEnvelopeInPlace<'r, 'de, 'c> {
    raw: &'r mut RawEnvelope<'de>,
    field: &'c Cell<Option<&'static str>>,
}

impl<'de> Visitor<'de> for RawEnvelopeInPlace<'_, 'de, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(EXPECTING)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        self.raw.fill(self.field, map)
    }
}

/// Reads the envelope object, noting which field it is reading so that a
/// value of the wrong type can be reported by name.
pub struct RawEnvelopeVisitor<'c> {
    field: &'c Cell<Option<&'static str>>,
}

/// A seed that decodes a [`RawEnvelope`] and leaves the name of the field
/// being read in `field` if decoding fails inside a value.
pub struct RawEnvelopeSeed<'c> {
    /// The field being read.
    pub field: &'c Cell<Option<&'static str>>,
}

impl<'de> de::DeserializeSeed<'de> for RawEnvelopeSeed<'_> {
    type Value = RawEnvelope<'de>;

    fn deserialize<D: de::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(RawEnvelopeVisitor { field: self.field })
    }
}

raw_envelope! {
    v: u64,
    ts: Text<'a>,
    agent: Text<'a>,
    id: Text<'a>,
    workflow: Text<'a>,
    run_id: Text<'a>,
    outcome: Text<'a>,
    latency_ms: u64,
    cost_usd: f64,
    tokens: Tokens,
    tool_calls: ToolCalls<'a>,
    policy_violations: Vec<RawViolation<'a>>,
    versions: RawVersions<'a>,
    error: Text<'a>,
    unpriced_model: Text<'a>,
    tool: Text<'a>,
    status: Text<'a>,
    reason: Text<'a>,
    to: Text<'a>,
    request_id: Text<'a>,
    action: Text<'a>,
    args: serde_json::Value,
    risk: Text<'a>,
    deadline: Text<'a>,
    escalate_at: Text<'a>,
    context: Text<'a>,
    reject_options: Vec<Text<'a>>,
    title: Text<'a>,
    severity: Text<'a>,
    category: Text<'a>,
    detail: Text<'a>,
    component: Text<'a>,
    version: Text<'a>,
    previous: Text<'a>,
    deployed_by: Text<'a>,
    approved_by: Text<'a>,
    note: Text<'a>,
    interval_s: u32,
}

impl<'de> Deserialize<'de> for RawEnvelope<'de> {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let field = Cell::new(None);
        deserializer.deserialize_map(RawEnvelopeVisitor { field: &field })
    }
}

/// Decodes one line into a [`RawEnvelope`], naming the field whose value
/// has the wrong type.
pub fn parse_line(line: &str) -> Result<RawEnvelope<'_>, DecodeError> {
    let mut raw = RawEnvelope::default();
    parse_into(line, &mut raw)?;
    Ok(raw)
}

/// Decodes one line and checks it into a borrowed envelope:
/// [`parse_line`] then [`RawEnvelope::into_envelope_ref`], with the raw
/// fields read and taken in place.
pub fn decode_line(line: &str) -> Result<EnvelopeRef<'_>, DecodeError> {
    let mut raw = RawEnvelope::default();
    parse_into(line, &mut raw)?;
    let env = raw.check()?;
    // A successful check has taken every field (it refuses a line with
    // any left over), so there is nothing to drop: skipping the drop of
    // some forty empty fields keeps that code off the per-line path.
    debug_assert!(raw.leftover().is_none() && raw.kind.is_none() && raw.problem.is_none());
    std::mem::forget(raw);
    Ok(env)
}

fn parse_into<'a>(line: &'a str, raw: &mut RawEnvelope<'a>) -> Result<(), DecodeError> {
    let field = Cell::new(None);
    let mut de = serde_json::Deserializer::from_str(line);
    let result =
        de::Deserializer::deserialize_map(&mut de, RawEnvelopeInPlace { raw, field: &field })
            .and_then(|()| de.end());
    result.map_err(|e| match (e.classify(), field.get()) {
        (serde_json::error::Category::Data, Some(name)) => {
            DecodeError::Type(format!("field \"{name}\": {e}"))
        }
        (serde_json::error::Category::Data, None) => DecodeError::Type(e.to_string()),
        // A number out of range, nesting past the limit, a bad escape:
        // still say in which field, so the sender knows where to look.
        (_, Some(name)) => DecodeError::Json(format!("field \"{name}\": {e}")),
        _ => DecodeError::Json(e.to_string()),
    })
}

/// Takes a required field out of the raw envelope or names it as missing.
fn required<T>(value: Option<T>, kind: &'static str, field: &str) -> Result<T, DecodeError> {
    match value {
        Some(value) => Ok(value),
        None => Err(missing(kind, field)),
    }
}

// Errors are built out of line (and marked cold) so that the code of the
// path every valid line takes stays small: see `next_value`.

#[cold]
#[inline(never)]
fn missing(kind: &'static str, field: &str) -> DecodeError {
    DecodeError::MissingField {
        kind,
        field: field.to_string(),
    }
}

#[cold]
#[inline(never)]
fn invalid(field: &str, reason: &str) -> DecodeError {
    DecodeError::invalid(field, reason)
}

#[cold]
#[inline(never)]
fn not_one_of(field: &str, value: &str, allowed: &str) -> DecodeError {
    DecodeError::invalid(
        field,
        format!("{:?} is not one of {allowed}", truncate(value)),
    )
}

/// Parses an RFC 3339 timestamp, naming the field when it is not one.
pub fn timestamp(field: &str, value: &str) -> Result<DateTime<Utc>, DecodeError> {
    if let Some(t) = utc_seconds(value) {
        return Ok(t);
    }
    DateTime::parse_from_rfc3339(value)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            DecodeError::invalid(
                field,
                format!(
                    "{:?} is not an RFC 3339 timestamp (e.g. 2026-11-21T14:00:00Z)",
                    truncate(value)
                ),
            )
        })
}

/// The shape nearly every sender uses, `YYYY-MM-DDTHH:MM:SS[.fraction]Z`
/// with up to nine fraction digits, read without the general RFC 3339
/// parser. Anything else, including a leap second or a date that does not
/// exist, is left to [`timestamp`]'s parser (`None`), so what is accepted
/// and how it reads are unchanged.
fn utc_seconds(value: &str) -> Option<DateTime<Utc>> {
    let b = value.as_bytes();
    let (head, rest) = b.split_first_chunk::<19>()?;
    if head[4] != b'-' || head[7] != b'-' || head[10] != b'T' {
        return None;
    }
    if head[13] != b':' || head[16] != b':' {
        return None;
    }
    let number = |digits: &[u8]| {
        digits.iter().try_fold(0u32, |n, &d| {
            d.is_ascii_digit().then(|| n * 10 + u32::from(d - b'0'))
        })
    };
    let nanos = match rest {
        [b'Z'] => 0,
        [b'.', fraction @ .., b'Z'] if (1..=9).contains(&fraction.len()) => {
            number(fraction)? * 10u32.pow(9 - fraction.len() as u32)
        }
        _ => return None,
    };
    let year = i32::try_from(number(&head[0..4])?).ok()?;
    let date = NaiveDate::from_ymd_opt(year, number(&head[5..7])?, number(&head[8..10])?)?;
    let time = NaiveTime::from_hms_nano_opt(
        number(&head[11..13])?,
        number(&head[14..16])?,
        number(&head[17..19])?,
        nanos,
    )?;
    Some(date.and_time(time).and_utc())
}

fn truncate(value: &str) -> &str {
    let mut end = value.len().min(64);
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    &value[..end]
}

fn id_field<'a>(field: &str, value: Text<'a>) -> Result<Cow<'a, str>, DecodeError> {
    if !plain_id(&value.0) {
        validate::id(field, &value.0)?;
    }
    Ok(value.0)
}

fn name_field<'a>(field: &str, value: Text<'a>) -> Result<Cow<'a, str>, DecodeError> {
    if !plain_name(&value.0) {
        validate::name(field, &value.0)?;
    }
    Ok(value.0)
}

// Shortcuts for the values nearly every line carries: one pass over the
// bytes, a table lookup each. They accept only what `validate::id` and
// `validate::name` accept (the tests below hold them to it); anything else
// is judged, and its error written, by those functions.

/// Bytes allowed in an identifier: ASCII letters, digits and `. _ - : / @`.
const ID_BYTES: [bool; 256] = byte_table(b"._-:/@");
/// Bytes that need no further look in a name: ASCII letters, digits,
/// punctuation and space.
const NAME_BYTES: [bool; 256] = byte_table(b" !\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~");

/// ASCII letters and digits, and the bytes of `extra`.
const fn byte_table(extra: &[u8]) -> [bool; 256] {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = (b as u8).is_ascii_alphanumeric();
        b += 1;
    }
    let mut i = 0;
    while i < extra.len() {
        table[extra[i] as usize] = true;
        i += 1;
    }
    table
}

/// An identifier `validate::id` accepts, recognised on bytes.
fn plain_id(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= MAX_ID_BYTES
        && value.bytes().all(|b| ID_BYTES[usize::from(b)])
}

/// A name of printable ASCII, not only spaces: `validate::name` accepts it.
fn plain_name(value: &str) -> bool {
    value.len() <= MAX_NAME_BYTES
        && value.bytes().all(|b| NAME_BYTES[usize::from(b)])
        && value.bytes().any(|b| b != b' ')
}

fn text_field<'a>(field: &str, value: Text<'a>) -> Result<Cow<'a, str>, DecodeError> {
    validate::text(field, &value.0)?;
    Ok(value.0)
}

fn opt<'a, T>(
    value: Option<Text<'a>>,
    field: &str,
    check: fn(&str, Text<'a>) -> Result<T, DecodeError>,
) -> Result<Option<T>, DecodeError> {
    value.map(|v| check(field, v)).transpose()
}

/// [`opt`] for the event types decoded into owned strings.
fn opt_owned<'a>(
    value: Option<Text<'a>>,
    field: &str,
    check: fn(&str, Text<'a>) -> Result<Cow<'a, str>, DecodeError>,
) -> Result<Option<String>, DecodeError> {
    Ok(opt(value, field, check)?.map(Cow::into_owned))
}

fn enum_field<T>(
    field: &str,
    value: Text<'_>,
    parse: fn(&str) -> Option<T>,
    allowed: &str,
) -> Result<T, DecodeError> {
    match parse(&value.0) {
        Some(value) => Ok(value),
        None => Err(not_one_of(field, &value.0, allowed)),
    }
}

mod checks;

use checks::tool_call;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_name_and_id_shortcuts_accept_only_what_validate_accepts() {
        // Every single character, then strings made of a few of them.
        let mut samples: Vec<String> = (0..0x110000u32)
            .filter_map(char::from_u32)
            .map(String::from)
            .collect();
        let alphabet = [
            "a", "Z", "7", " ", ".", "-", "@", "/", "\t", "\u{7f}", "é", "\u{a0}", "ok",
        ];
        for a in alphabet {
            for b in alphabet {
                for c in alphabet {
                    samples.push(format!("{a}{b}{c}"));
                }
            }
        }
        samples.push(String::new());
        samples.push("x".repeat(MAX_ID_BYTES));
        samples.push("x".repeat(MAX_ID_BYTES + 1));
        samples.push("x".repeat(MAX_NAME_BYTES + 1));
        samples.push(" ".repeat(3));
        for s in &samples {
            if plain_id(s) {
                assert!(validate::id("f", s).is_ok(), "{s:?}");
            }
            if plain_name(s) {
                assert!(validate::name("f", s).is_ok(), "{s:?}");
            }
        }
        // And they do take the common case.
        for s in ["refund-bot", "run-050-00500000", "a:b/c@d.e_f"] {
            assert!(plain_id(s), "{s}");
        }
        for s in [
            "gpt-4o-2024-08-06",
            "payments.refund",
            "Dana O'Neil (on call)",
        ] {
            assert!(plain_name(s), "{s}");
        }
    }

    #[test]
    fn the_timestamp_shortcut_agrees_with_the_rfc_3339_parser() {
        let general = |v: &str| {
            DateTime::parse_from_rfc3339(v)
                .map(|t| t.with_timezone(&Utc))
                .ok()
        };
        for v in [
            "2026-11-21T14:00:00Z",
            "0000-01-01T00:00:00Z",
            "9999-12-31T23:59:59Z",
            "2024-02-29T12:30:45Z",
            "2023-02-29T12:30:45Z",
            "2026-13-01T00:00:00Z",
            "2026-00-10T00:00:00Z",
            "2026-11-31T00:00:00Z",
            "2026-11-21T24:00:00Z",
            "2026-11-21T23:60:00Z",
            "2016-12-31T23:59:60Z",
            "2026-11-21t14:00:00Z",
            "2026-11-21T14:00:00z",
            "2026-11-21 14:00:00Z",
            "2026-11-21T14:00:00+00:00",
            "2026-11-21T14:00:00.5Z",
            "2026-11-21T14:00:00.259Z",
            "2026-11-21T14:00:00.259200Z",
            "2026-11-21T14:00:00.123456789Z",
            "2026-11-21T14:00:00.1234567891Z",
            "2026-11-21T14:00:00.Z",
            "2026-11-21T14:00:00.12a4Z",
            "2026-11-21T14:00:00.999999999Z",
            "+026-11-21T14:00:00Z",
            "2026-1a-21T14:00:00Z",
            "2026-11-21T14:00:0",
        ] {
            let fast = utc_seconds(v);
            if fast.is_some() {
                assert_eq!(fast, general(v), "{v}");
            }
            assert_eq!(timestamp("ts", v).ok(), general(v), "{v}");
        }
    }
}
