//! Decoding untrusted input into model events: NDJSON envelope bodies and
//! OpenTelemetry traces as OTLP/JSON.

pub mod envelope;
pub mod json;
pub mod ndjson;
pub mod otlp;
