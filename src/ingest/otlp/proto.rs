//! OTLP protobuf (`application/x-protobuf`, and gRPC's payload) decoded
//! with the generated types of `opentelemetry-proto`, then moved into the
//! span model the mapping reads ([`super::wire`]), so that protobuf, gRPC
//! and JSON share one mapping.
//!
//! prost allocates a few hundred bytes for a span that takes two bytes on
//! the wire, so a body within the size limit could still decode into
//! gigabytes. [`check_shape`] walks the wire format first, without
//! allocating, and refuses a body holding more spans or values than
//! [`MAX_SPANS`] and [`MAX_VALUES`].

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1 as common;
use opentelemetry_proto::tonic::trace::v1 as trace;
use prost::Message;

use super::wire::{
    AnyValue, ArrayValue, EnumValue, ExportRequest, KeyValue, Nanos, Num, Resource, ResourceSpans,
    ScopeSpans, Span, Status,
};

/// Most spans one export may carry (the SDKs' batches hold 512 by default).
pub const MAX_SPANS: usize = 100_000;
/// Most nested messages (attributes, array items, events, links) one
/// export may carry.
pub const MAX_VALUES: usize = 2_000_000;
/// Deepest nesting of attribute values read.
const MAX_DEPTH: usize = 32;

/// Decodes an `ExportTraceServiceRequest`, or says why not.
pub fn decode(body: &[u8]) -> Result<ExportTraceServiceRequest, String> {
    check_shape(body)?;
    ExportTraceServiceRequest::decode(body)
        .map_err(|e| format!("not an OTLP/protobuf ExportTraceServiceRequest: {e}"))
}

/// The generated request as the span model the mapping reads.
pub(super) fn to_wire(request: ExportTraceServiceRequest) -> ExportRequest {
    ExportRequest {
        resource_spans: request
            .resource_spans
            .into_iter()
            .map(|rs| ResourceSpans {
                resource: Resource {
                    attributes: rs
                        .resource
                        .map(|r| key_values(r.attributes))
                        .unwrap_or_default(),
                },
                scope_spans: rs
                    .scope_spans
                    .into_iter()
                    .map(|ss| ScopeSpans {
                        spans: ss.spans.into_iter().map(span).collect(),
                    })
                    .collect(),
            })
            .collect(),
    }
}

fn span(s: trace::Span) -> Span {
    let nanos = |n: u64| Nanos((n > 0).then_some(n));
    Span {
        trace_id: hex::encode(s.trace_id),
        span_id: hex::encode(s.span_id),
        parent_span_id: hex::encode(s.parent_span_id),
        name: s.name,
        kind: EnumValue::number(i64::from(s.kind)),
        flags: Some(Num(f64::from(s.flags))),
        start_time_unix_nano: nanos(s.start_time_unix_nano),
        end_time_unix_nano: nanos(s.end_time_unix_nano),
        attributes: key_values(s.attributes),
        status: s.status.map(|st| Status {
            code: Some(EnumValue::number(i64::from(st.code))),
            message: Some(st.message).filter(|m| !m.is_empty()),
        }),
    }
}

fn key_values(kvs: Vec<common::KeyValue>) -> Vec<KeyValue> {
    kvs.into_iter()
        .map(|kv| KeyValue {
            key: kv.key,
            value: kv.value.map(any_value).unwrap_or_default(),
        })
        .collect()
}

fn any_value(v: common::AnyValue) -> AnyValue {
    use common::any_value::Value;
    let mut out = AnyValue::default();
    match v.value {
        Some(Value::StringValue(s)) => out.string_value = Some(s),
        // Token counts and costs are read as f64; 2^53 tokens is far past
        // any real count.
        Some(Value::IntValue(i)) => out.int_value = Some(Num(i as f64)),
        Some(Value::DoubleValue(d)) => out.double_value = Some(Num(d)),
        Some(Value::ArrayValue(a)) => {
            out.array_value = Some(ArrayValue {
                values: a.values.into_iter().map(any_value).collect(),
            })
        }
        // Booleans, maps and bytes carry nothing the mapping reads, and
        // string-table references belong to profiles, not traces.
        Some(
            Value::BoolValue(_)
            | Value::KvlistValue(_)
            | Value::BytesValue(_)
            | Value::StringValueStrindex(_),
        )
        | None => {}
    }
    out
}

/// The messages of the trace schema that hold other messages, by the
/// field numbers that hold them.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Shape {
    Request,
    ResourceSpans,
    Resource,
    ScopeSpans,
    Scope,
    Span,
    Event,
    Link,
    KeyValue,
    AnyValue,
    ArrayValue,
    KeyValueList,
}

impl Shape {
    fn child(self, field: u64) -> Option<Shape> {
        use Shape::*;
        Some(match (self, field) {
            (Request, 1) => ResourceSpans,
            (ResourceSpans, 1) => Resource,
            (ResourceSpans, 2) => ScopeSpans,
            (Resource, 1) | (Scope, 3) | (Span, 9) | (Event, 3) | (Link, 5) => KeyValue,
            (KeyValueList, 1) => KeyValue,
            (ScopeSpans, 1) => Scope,
            (ScopeSpans, 2) => Span,
            (Span, 11) => Event,
            (Span, 13) => Link,
            (KeyValue, 2) | (ArrayValue, 1) => AnyValue,
            (AnyValue, 5) => ArrayValue,
            (AnyValue, 6) => KeyValueList,
            _ => return None,
        })
    }
}

#[derive(Default)]
struct Counts {
    spans: usize,
    values: usize,
}

/// Counts spans and nested values on the wire and refuses a body past the
/// caps. A malformed body is left for the decoder to name.
pub fn check_shape(body: &[u8]) -> Result<(), String> {
    let mut counts = Counts::default();
    walk(body, Shape::Request, 0, &mut counts)
}

fn walk(mut buf: &[u8], shape: Shape, depth: usize, counts: &mut Counts) -> Result<(), String> {
    if depth > MAX_DEPTH {
        return Err(format!(
            "attribute values nest deeper than {MAX_DEPTH} levels"
        ));
    }
    while !buf.is_empty() {
        let Some(tag) = varint(&mut buf) else {
            return Ok(());
        };
        let (field, wire_type) = (tag >> 3, tag & 7);
        let skip = match wire_type {
            0 => {
                if varint(&mut buf).is_none() {
                    return Ok(());
                }
                0
            }
            1 => 8,
            5 => 4,
            2 => {
                let Some(len) = varint(&mut buf).and_then(|l| usize::try_from(l).ok()) else {
                    return Ok(());
                };
                if len > buf.len() {
                    return Ok(());
                }
                let (inner, rest) = buf.split_at(len);
                buf = rest;
                if let Some(child) = shape.child(field) {
                    count(child, counts)?;
                    walk(inner, child, depth + 1, counts)?;
                }
                0
            }
            _ => return Ok(()),
        };
        if skip > buf.len() {
            return Ok(());
        }
        buf = &buf[skip..];
    }
    Ok(())
}

fn count(child: Shape, counts: &mut Counts) -> Result<(), String> {
    if child == Shape::Span {
        counts.spans += 1;
        if counts.spans > MAX_SPANS {
            return Err(format!(
                "the export holds more than {MAX_SPANS} spans; send smaller batches"
            ));
        }
    }
    counts.values += 1;
    if counts.values > MAX_VALUES {
        return Err(format!(
            "the export holds more than {MAX_VALUES} attributes, events and links; send smaller batches"
        ));
    }
    Ok(())
}

/// Reads a base-128 varint; `None` when the buffer ends inside it or it
/// runs past ten bytes.
fn varint(buf: &mut &[u8]) -> Option<u64> {
    let mut value = 0u64;
    for i in 0..10 {
        let (&b, rest) = buf.split_first()?;
        *buf = rest;
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn too_many_empty_spans_are_refused_before_decoding() {
        let mut body = Vec::new();
        // One ResourceSpans holding one ScopeSpans of MAX_SPANS + 1 empty
        // spans (two bytes each on the wire).
        let spans: Vec<u8> = std::iter::repeat_n([0x12u8, 0x00], MAX_SPANS + 1)
            .flatten()
            .collect();
        let mut scope = Vec::new();
        prost::encoding::encode_varint(spans.len() as u64, &mut scope);
        scope.extend(&spans);
        let mut rs = vec![0x12];
        rs.extend(scope);
        body.push(0x0a);
        prost::encoding::encode_varint(rs.len() as u64, &mut body);
        body.extend(rs);
        let e = decode(&body).unwrap_err();
        assert!(e.contains("more than 100000 spans"), "{e}");
    }

    #[test]
    fn a_real_request_round_trips() {
        let request = ExportTraceServiceRequest {
            resource_spans: vec![trace::ResourceSpans {
                scope_spans: vec![trace::ScopeSpans {
                    spans: vec![trace::Span {
                        trace_id: vec![0xab; 16],
                        span_id: vec![0x01; 8],
                        name: "chat gpt-4.1-mini".into(),
                        start_time_unix_nano: 5,
                        end_time_unix_nano: 0,
                        attributes: vec![common::KeyValue {
                            key: "gen_ai.usage.input_tokens".into(),
                            value: Some(common::AnyValue {
                                value: Some(common::any_value::Value::IntValue(42)),
                            }),
                            ..Default::default()
                        }],
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        let decoded = decode(&request.encode_to_vec()).unwrap();
        let wire = to_wire(decoded);
        let span = &wire.resource_spans[0].scope_spans[0].spans[0];
        assert_eq!(span.trace_id, "ab".repeat(16));
        assert_eq!(span.parent_span_id, "");
        assert_eq!(span.start_time_unix_nano, Nanos(Some(5)));
        assert_eq!(span.end_time_unix_nano, Nanos(None));
        assert_eq!(span.attributes[0].value.as_f64(), Some(42.0));
        assert!(
            decode(b"\x0a\x05abc")
                .unwrap_err()
                .starts_with("not an OTLP/protobuf")
        );
    }
}
