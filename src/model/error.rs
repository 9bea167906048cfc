//! The error returned for input that does not decode.

use thiserror::Error;

/// Why an envelope (or another wire object) was refused. Each message names
/// the field or value at fault, written for whoever has to fix the sender.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DecodeError {
    /// Not JSON, or JSON of the wrong shape.
    #[error("invalid JSON: {0}")]
    Json(String),
    /// A field holds a value of the wrong type; the message names it.
    #[error("{0}")]
    Type(String),
    /// The `v` field names a protocol version this side does not speak.
    #[error("unsupported protocol version {0} (this side speaks v1)")]
    Version(u64),
    /// The `type` field names no known event type.
    #[error("unknown event type \"{got}\" (expected one of: {expected})")]
    UnknownType {
        /// The type that was sent.
        got: String,
        /// The known types, comma-separated.
        expected: &'static str,
    },
    /// A field that is not part of protocol v1 at all.
    #[error("unknown field \"{0}\"")]
    UnknownField(String),
    /// A field given twice in one object.
    #[error("duplicate field \"{0}\"")]
    DuplicateField(String),
    /// A required field is absent.
    #[error("missing field \"{field}\" (required in {})", required_in(kind))]
    MissingField {
        /// The event type.
        kind: &'static str,
        /// The missing field.
        field: String,
    },
    /// A field of protocol v1 that does not belong to this event type.
    #[error("field \"{field}\" is not part of a {kind} event")]
    ForeignField {
        /// The event type.
        kind: &'static str,
        /// The field that does not belong.
        field: &'static str,
    },
    /// A string longer than its limit.
    #[error("field \"{field}\" is too long: {len} bytes (limit {limit})")]
    TooLong {
        /// The field.
        field: String,
        /// Its length in bytes.
        len: usize,
        /// The limit in bytes.
        limit: usize,
    },
    /// An array with more items than its limit.
    #[error("field \"{field}\" has too many items: {len} (limit {limit})")]
    TooMany {
        /// The field.
        field: String,
        /// Its item count.
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// A value of the right type that is not allowed.
    #[error("field \"{field}\": {reason}")]
    Invalid {
        /// The field.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A line longer than the line limit.
    #[error("line is too long: {len} bytes (limit {limit})")]
    LineTooLong {
        /// Its length in bytes.
        len: usize,
        /// The limit in bytes.
        limit: usize,
    },
}

impl DecodeError {
    /// Shorthand for [`DecodeError::Invalid`].
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Invalid {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

fn required_in(kind: &str) -> String {
    if kind == "envelope" {
        "every envelope".to_string()
    } else {
        format!("{kind} events")
    }
}
