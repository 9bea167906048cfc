//! OTLP/JSON as real exporters write it: the `ExportTraceServiceRequest`
//! shapes, read leniently (enum names or numbers, hex or base64 ids, 64-bit
//! numbers as strings or numbers, `null` for empty fields), and attribute
//! look-ups.

use serde::de::IgnoredAny;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A 64-bit number sent as a JSON number or a decimal string. Anything else
/// (a string that is not a number, an object) reads as NaN, which every use
/// treats as absent.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Num(pub f64);

impl Serialize for Num {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // NaN (absent) is written as null, which reads back as NaN.
        s.serialize_f64(self.0)
    }
}

impl<'de> Deserialize<'de> for Num {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Either {
            N(f64),
            S(String),
            Other(IgnoredAny),
        }
        Ok(match Either::deserialize(d)? {
            Either::N(n) => Num(n),
            Either::S(s) => Num(s.trim().parse().unwrap_or(f64::NAN)),
            Either::Other(_) => Num(f64::NAN),
        })
    }
}

/// A time in nanoseconds since the Unix epoch, read exactly (an `f64` would
/// lose the last digits) from a decimal string or a JSON number. Zero,
/// negative, fractional-overflow and unreadable values read as absent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Nanos(pub(super) Option<u64>);

impl Serialize for Nanos {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Nanos {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Either {
            U(u64),
            F(f64),
            S(String),
            Other(IgnoredAny),
        }
        fn from_f64(f: f64) -> Option<u64> {
            // `u64::MAX as f64` rounds up to 2^64, so `<` keeps the cast exact.
            (f.is_finite() && f >= 1.0 && f < u64::MAX as f64).then_some(f as u64)
        }
        let n = match Either::deserialize(d)? {
            Either::U(n) => Some(n),
            Either::F(f) => from_f64(f),
            Either::S(s) => {
                let s = s.trim();
                s.parse::<u64>()
                    .ok()
                    .or_else(|| s.parse::<f64>().ok().and_then(from_f64))
            }
            Either::Other(_) => None,
        };
        Ok(Nanos(n.filter(|&n| n > 0)))
    }
}

/// An enum sent as its number or its name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EnumValue {
    pub(super) number: Option<i64>,
    pub(super) name: Option<String>,
}

impl EnumValue {
    /// An enum sent as its number.
    pub(super) fn number(n: i64) -> Self {
        Self {
            number: Some(n),
            name: None,
        }
    }
}

impl Serialize for EnumValue {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match (&self.number, &self.name) {
            (Some(n), _) => s.serialize_i64(*n),
            (None, Some(name)) => s.serialize_str(name),
            (None, None) => s.serialize_none(),
        }
    }
}

impl<'de> Deserialize<'de> for EnumValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Either {
            N(i64),
            S(String),
            Other(IgnoredAny),
        }
        Ok(match Either::deserialize(d)? {
            Either::N(n) => EnumValue {
                number: Some(n),
                name: None,
            },
            // Some writers quote the number ("2").
            Either::S(s) => EnumValue {
                number: s.trim().parse().ok(),
                name: Some(s),
            },
            Either::Other(_) => EnumValue::default(),
        })
    }
}

/// Reads `null` as the default: hand-written exporters send it for empty
/// fields (`"parentSpanId": null` on a root span).
pub(super) fn nullable<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ExportRequest {
    #[serde(default, deserialize_with = "nullable")]
    pub(super) resource_spans: Vec<ResourceSpans>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ResourceSpans {
    #[serde(default, deserialize_with = "nullable")]
    pub(super) resource: Resource,
    #[serde(
        default,
        deserialize_with = "nullable",
        alias = "instrumentationLibrarySpans"
    )]
    pub(super) scope_spans: Vec<ScopeSpans>,
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct Resource {
    #[serde(default, deserialize_with = "nullable")]
    pub(super) attributes: Vec<KeyValue>,
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct ScopeSpans {
    #[serde(default, deserialize_with = "nullable")]
    pub(super) spans: Vec<Span>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Span {
    #[serde(default, deserialize_with = "nullable")]
    pub(super) trace_id: String,
    #[serde(default, deserialize_with = "nullable")]
    pub(super) span_id: String,
    #[serde(default, deserialize_with = "nullable")]
    pub(super) parent_span_id: String,
    #[serde(default, deserialize_with = "nullable")]
    pub(super) name: String,
    /// SERVER (2) and CONSUMER (5) spans start a service's part of a
    /// trace: a local root even when they have a parent.
    #[serde(default)]
    pub(super) kind: EnumValue,
    /// W3C trace flags; bits 8 and 9 say whether the parent is remote.
    #[serde(default)]
    pub(super) flags: Option<Num>,
    #[serde(default)]
    pub(super) start_time_unix_nano: Nanos,
    #[serde(default)]
    pub(super) end_time_unix_nano: Nanos,
    #[serde(default, deserialize_with = "nullable")]
    pub(super) attributes: Vec<KeyValue>,
    #[serde(default)]
    pub(super) status: Option<Status>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub(super) struct Status {
    #[serde(default)]
    pub(super) code: Option<EnumValue>,
    #[serde(default)]
    pub(super) message: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub(super) struct KeyValue {
    #[serde(default, deserialize_with = "nullable")]
    pub(super) key: String,
    #[serde(default, deserialize_with = "nullable")]
    pub(super) value: AnyValue,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct AnyValue {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) string_value: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) int_value: Option<Num>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) double_value: Option<Num>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) array_value: Option<ArrayValue>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub(super) struct ArrayValue {
    #[serde(default, deserialize_with = "nullable")]
    pub(super) values: Vec<AnyValue>,
}

impl AnyValue {
    pub(super) fn as_str(&self) -> Option<&str> {
        self.string_value.as_deref().or_else(|| {
            self.array_value
                .as_ref()
                .and_then(|a| a.values.first())
                .and_then(|v| v.string_value.as_deref())
        })
    }

    pub(super) fn as_f64(&self) -> Option<f64> {
        self.int_value
            .or(self.double_value)
            .map(|n| n.0)
            .or_else(|| {
                self.string_value
                    .as_deref()
                    .and_then(|s| s.trim().parse().ok())
            })
            .filter(|n| n.is_finite())
    }
}

pub(super) fn attr<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a AnyValue> {
    attrs.iter().find(|kv| kv.key == key).map(|kv| &kv.value)
}

/// The first of `keys` with a non-blank string value: a blank one falls
/// through to the next key rather than hiding it.
pub(super) fn attr_str<'a>(attrs: &'a [KeyValue], keys: &[&str]) -> Option<&'a str> {
    keys.iter().find_map(|k| {
        attr(attrs, k)
            .and_then(AnyValue::as_str)
            .filter(|s| !s.trim().is_empty())
    })
}

pub(super) fn attr_num(attrs: &[KeyValue], keys: &[&str]) -> Option<f64> {
    keys.iter()
        .find_map(|k| attr(attrs, k).and_then(AnyValue::as_f64))
}
