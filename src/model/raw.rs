//! Field-by-field decoding of an envelope line.
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

use super::envelope::{
    ApprovalRequest, Change, Component, DEFAULT_WORKFLOW, Envelope, HealthStatus, Heartbeat,
    IncidentReport, Outcome, PROTOCOL_VERSION, Risk, Tokens, ToolStatus,
};
use super::envelope_ref::{
    EnvelopeRef, EscalationRef, EventRef, PolicyViolationRef, RunFinishedRef, ToolCallEventRef,
    ToolCallRef, VersionsRef,
};
use super::error::DecodeError;
use super::incident::{Category, Severity};
use super::limits::{
    MAX_ARGS_BYTES, MAX_ID_BYTES, MAX_NAME_BYTES, MAX_REJECT_OPTIONS, MAX_TOOL_CALLS,
    MAX_VIOLATIONS,
};
use super::validate;

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

impl<'a> RawEnvelope<'a> {
    /// Checks every field and builds the typed envelope.
    pub fn into_envelope(self) -> Result<Envelope, DecodeError> {
        self.into_envelope_ref().map(EnvelopeRef::into_owned)
    }

    /// Checks every field and builds the typed envelope, borrowing the
    /// strings that the line holds without escapes.
    pub fn into_envelope_ref(mut self) -> Result<EnvelopeRef<'a>, DecodeError> {
        self.check()
    }

    /// [`RawEnvelope::into_envelope_ref`] in place: takes the fields out.
    fn check(&mut self) -> Result<EnvelopeRef<'a>, DecodeError> {
        if let Some(problem) = self.problem.take() {
            return Err(problem);
        }
        let v = required(self.v.take(), "envelope", "v")?;
        if v != PROTOCOL_VERSION {
            return Err(DecodeError::Version(v));
        }
        let kind = required(self.kind.take(), "envelope", "type")?;
        let kind: &'static str = match kind.0.as_ref() {
            "run.finished" => "run.finished",
            "tool.called" => "tool.called",
            "escalation" => "escalation",
            "approval.requested" => "approval.requested",
            "incident.reported" => "incident.reported",
            "change" => "change",
            "heartbeat" => "heartbeat",
            other => return Err(unknown_type(other)),
        };
        let ts = required(self.ts.take(), kind, "ts")?;
        let ts = timestamp("ts", &ts.0)?;
        let agent = id_field("agent", required(self.agent.take(), kind, "agent")?)?;
        let id = opt(self.id.take(), "id", id_field)?;
        let event = match kind {
            "run.finished" => EventRef::RunFinished(self.run_finished(kind)?),
            "tool.called" => EventRef::ToolCalled(self.tool_called(kind)?),
            "escalation" => EventRef::Escalation(self.escalation(kind)?),
            "approval.requested" => EventRef::ApprovalRequested(self.approval(kind, ts)?),
            "incident.reported" => EventRef::IncidentReported(self.incident(kind)?),
            "change" => EventRef::Change(self.change(kind)?),
            _ => EventRef::Heartbeat(self.heartbeat()?),
        };
        if let Some(field) = self.leftover() {
            return Err(DecodeError::ForeignField { kind, field });
        }
        Ok(EnvelopeRef {
            v,
            ts,
            agent,
            id,
            event,
        })
    }

    fn workflow(&mut self) -> Result<Cow<'a, str>, DecodeError> {
        Ok(opt(self.workflow.take(), "workflow", id_field)?
            .unwrap_or(Cow::Borrowed(DEFAULT_WORKFLOW)))
    }

    fn run_finished(&mut self, kind: &'static str) -> Result<RunFinishedRef<'a>, DecodeError> {
        let run_id = id_field("run_id", required(self.run_id.take(), kind, "run_id")?)?;
        let workflow = self.workflow()?;
        let outcome = enum_field(
            "outcome",
            required(self.outcome.take(), kind, "outcome")?,
            Outcome::parse,
            "success, escalated, failed, timed_out",
        )?;
        let latency_ms = required(self.latency_ms.take(), kind, "latency_ms")?;
        let cost_usd = self.cost_usd.take().unwrap_or(0.0);
        if !cost_usd.is_finite() || cost_usd < 0.0 {
            return Err(invalid("cost_usd", "must be a finite number ≥ 0"));
        }
        let tokens = self.tokens.take();
        let calls = self.tool_calls.take().unwrap_or_default();
        validate::count("tool_calls", calls.len, MAX_TOOL_CALLS)?;
        if let Some(problem) = calls.problem {
            return Err(problem);
        }
        let tool_calls = calls.calls;
        let policy_violations = match self.policy_violations.take() {
            Some(raw) => violations(kind, raw)?,
            None => Vec::new(),
        };
        let versions = match self.versions.take() {
            Some(v) => VersionsRef {
                model: opt(v.model, "versions.model", name_field)?,
                prompt: opt(v.prompt, "versions.prompt", name_field)?,
                tool: opt(v.tool, "versions.tool", name_field)?,
                policy: opt(v.policy, "versions.policy", name_field)?,
            },
            None => VersionsRef::default(),
        };
        let error = opt(self.error.take(), "error", text_field)?;
        Ok(RunFinishedRef {
            run_id,
            workflow,
            outcome,
            latency_ms,
            cost_usd,
            tokens,
            tool_calls,
            policy_violations,
            versions,
            error,
        })
    }

    fn tool_called(&mut self, kind: &'static str) -> Result<ToolCallEventRef<'a>, DecodeError> {
        Ok(ToolCallEventRef {
            run_id: opt(self.run_id.take(), "run_id", id_field)?,
            workflow: self.workflow()?,
            tool: name_field("tool", required(self.tool.take(), kind, "tool")?)?,
            status: enum_field(
                "status",
                required(self.status.take(), kind, "status")?,
                tool_status,
                "ok, error",
            )?,
            latency_ms: self.latency_ms.take(),
            error: opt(self.error.take(), "error", text_field)?,
        })
    }

    fn escalation(&mut self, kind: &'static str) -> Result<EscalationRef<'a>, DecodeError> {
        Ok(EscalationRef {
            run_id: opt(self.run_id.take(), "run_id", id_field)?,
            workflow: self.workflow()?,
            reason: {
                let reason = required(self.reason.take(), kind, "reason")?;
                if reason.0.trim().is_empty() {
                    return Err(DecodeError::invalid("reason", "must not be empty"));
                }
                text_field("reason", reason)?
            },
            to: opt(self.to.take(), "to", name_field)?,
        })
    }

    fn approval(
        &mut self,
        kind: &'static str,
        ts: DateTime<Utc>,
    ) -> Result<ApprovalRequest, DecodeError> {
        let request_id = id_field(
            "request_id",
            required(self.request_id.take(), kind, "request_id")?,
        )?
        .into_owned();
        let args = self
            .args
            .take()
            .unwrap_or_else(|| serde_json::Value::Object(Default::default()));
        if !args.is_object() {
            return Err(DecodeError::invalid("args", "must be a JSON object"));
        }
        let args_len = serde_json::to_string(&args).map(|s| s.len()).unwrap_or(0);
        if args_len > MAX_ARGS_BYTES {
            return Err(DecodeError::TooLong {
                field: "args".into(),
                len: args_len,
                limit: MAX_ARGS_BYTES,
            });
        }
        let deadline = required(self.deadline.take(), kind, "deadline")?;
        let deadline = timestamp("deadline", &deadline.0)?;
        if deadline <= ts {
            return Err(DecodeError::invalid(
                "deadline",
                "must be after ts: an approval needs time to be decided",
            ));
        }
        let escalate_at = match self.escalate_at.take() {
            Some(t) => {
                let at = timestamp("escalate_at", &t.0)?;
                if at <= ts || at >= deadline {
                    return Err(DecodeError::invalid(
                        "escalate_at",
                        "must be after ts and before deadline",
                    ));
                }
                Some(at)
            }
            None => None,
        };
        let raw_options = self.reject_options.take().unwrap_or_default();
        validate::count("reject_options", raw_options.len(), MAX_REJECT_OPTIONS)?;
        let reject_options = raw_options
            .into_iter()
            .enumerate()
            .map(|(i, o)| {
                validate::title(&format!("reject_options[{i}]"), &o.0)?;
                Ok(o.into_string())
            })
            .collect::<Result<Vec<_>, DecodeError>>()?;
        Ok(ApprovalRequest {
            request_id,
            run_id: opt_owned(self.run_id.take(), "run_id", id_field)?,
            workflow: self.workflow()?.into_owned(),
            action: name_field("action", required(self.action.take(), kind, "action")?)?
                .into_owned(),
            tool: opt_owned(self.tool.take(), "tool", name_field)?,
            args,
            risk: enum_field(
                "risk",
                required(self.risk.take(), kind, "risk")?,
                Risk::parse,
                "low, medium, high, critical",
            )?,
            deadline,
            escalate_at,
            reason: opt_owned(self.reason.take(), "reason", text_field)?,
            context: opt_owned(self.context.take(), "context", text_field)?,
            reject_options,
        })
    }

    fn incident(&mut self, kind: &'static str) -> Result<IncidentReport, DecodeError> {
        let title = required(self.title.take(), kind, "title")?;
        validate::title("title", &title.0)?;
        Ok(IncidentReport {
            title: title.into_string(),
            severity: enum_field(
                "severity",
                required(self.severity.take(), kind, "severity")?,
                Severity::parse,
                "SEV1, SEV2, SEV3, SEV4",
            )?,
            category: enum_field(
                "category",
                required(self.category.take(), kind, "category")?,
                Category::parse,
                Category::NAMES,
            )?,
            detail: opt_owned(self.detail.take(), "detail", text_field)?,
            run_id: opt_owned(self.run_id.take(), "run_id", id_field)?,
        })
    }

    fn change(&mut self, kind: &'static str) -> Result<Change, DecodeError> {
        Ok(Change {
            component: enum_field(
                "component",
                required(self.component.take(), kind, "component")?,
                Component::parse,
                "model, prompt, tool, policy",
            )?,
            version: name_field("version", required(self.version.take(), kind, "version")?)?
                .into_owned(),
            previous: opt_owned(self.previous.take(), "previous", name_field)?,
            deployed_by: name_field(
                "deployed_by",
                required(self.deployed_by.take(), kind, "deployed_by")?,
            )?
            .into_owned(),
            approved_by: opt_owned(self.approved_by.take(), "approved_by", name_field)?,
            note: opt_owned(self.note.take(), "note", text_field)?,
        })
    }

    fn heartbeat(&mut self) -> Result<Heartbeat, DecodeError> {
        Ok(Heartbeat {
            status: match self.status.take() {
                Some(s) => Some(enum_field("status", s, health_status, "ok, degraded")?),
                None => None,
            },
            interval_s: self.interval_s.take(),
        })
    }
}

fn tool_call<'a>(i: usize, call: RawToolCall<'a>) -> Result<ToolCallRef<'a>, DecodeError> {
    // Field names carry the index; they are only built when something is
    // wrong, since this runs for every call of every run.
    let Some(tool) = call.tool else {
        return Err(missing("run.finished", &call_field(i, "tool")));
    };
    let Some(status) = call.status else {
        return Err(missing("run.finished", &call_field(i, "status")));
    };
    let rename = |e: DecodeError, name: &str| rename_call_error(e, i, name);
    Ok(ToolCallRef {
        tool: name_field("tool", tool).map_err(|e| rename(e, "tool"))?,
        status: enum_field("status", status, tool_status, "ok, error")
            .map_err(|e| rename(e, "status"))?,
        latency_ms: call.latency_ms,
        error: opt(call.error, "error", text_field).map_err(|e| rename(e, "error"))?,
    })
}

/// The policy violations of a run: few runs have any.
#[cold]
#[inline(never)]
fn violations<'a>(
    kind: &'static str,
    raw: Vec<RawViolation<'a>>,
) -> Result<Vec<PolicyViolationRef<'a>>, DecodeError> {
    validate::count("policy_violations", raw.len(), MAX_VIOLATIONS)?;
    let mut violations = Vec::with_capacity(raw.len());
    for (i, v) in raw.into_iter().enumerate() {
        let policy = v.policy.ok_or_else(|| DecodeError::MissingField {
            kind,
            field: format!("policy_violations[{i}].policy"),
        })?;
        violations.push(PolicyViolationRef {
            policy: name_field(&format!("policy_violations[{i}].policy"), policy)?,
            detail: opt(
                v.detail,
                &format!("policy_violations[{i}].detail"),
                text_field,
            )?,
        });
    }
    Ok(violations)
}

#[cold]
#[inline(never)]
fn unknown_type(got: &str) -> DecodeError {
    DecodeError::UnknownType {
        got: truncate(got).to_string(),
        expected: EVENT_TYPES,
    }
}

#[cold]
#[inline(never)]
fn call_field(i: usize, name: &str) -> String {
    format!("tool_calls[{i}].{name}")
}

/// Names the call in a field's error: `tool_calls[2].status`.
#[cold]
#[inline(never)]
fn rename_call_error(e: DecodeError, i: usize, name: &str) -> DecodeError {
    match e {
        DecodeError::TooLong { len, limit, .. } => DecodeError::TooLong {
            field: call_field(i, name),
            len,
            limit,
        },
        DecodeError::Invalid { reason, .. } => DecodeError::Invalid {
            field: call_field(i, name),
            reason,
        },
        other => other,
    }
}

fn tool_status(s: &str) -> Option<ToolStatus> {
    match s {
        "ok" => Some(ToolStatus::Ok),
        "error" => Some(ToolStatus::Error),
        _ => None,
    }
}

fn health_status(s: &str) -> Option<HealthStatus> {
    match s {
        "ok" => Some(HealthStatus::Ok),
        "degraded" => Some(HealthStatus::Degraded),
        _ => None,
    }
}

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
