//! Decoding untrusted input into model events: NDJSON envelope bodies and
//! OpenTelemetry traces (OTLP as JSON or protobuf), gzip-compressed or not.

pub mod alertmanager;
pub mod envelope;
pub mod gzip;
pub mod json;
pub mod ndjson;
pub mod otlp;
