//! OTLP over HTTP (`/v1/traces`, `/v1/logs`, `/v1/metrics`) as the
//! specification asks: the body as the exporter sent it (protobuf or JSON,
//! gzip or not), and every answer in the request's own encoding, so that
//! exporters can read partial successes and errors.

use std::marker::PhantomData;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use prost::Message;

use super::super::auth::Principal;
use super::super::error::ApiError;
use super::super::intake::PartialSuccess;
use super::AppState;
use super::extract::{Allowed, Needs};

/// The body types `/v1/traces` and friends read, as a 415 names them.
pub const ACCEPTED_TYPES: &str = "application/x-protobuf or application/json";

/// How an OTLP body is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// `application/json` (also assumed when no type is given).
    Json,
    /// `application/x-protobuf`.
    Protobuf,
}

impl Encoding {
    /// The encoding named by the request's `Content-Type`.
    pub fn of(headers: &HeaderMap) -> Result<Self, ApiError> {
        let Some(value) = headers.get(header::CONTENT_TYPE) else {
            return Ok(Self::Json);
        };
        let essence = value
            .to_str()
            .unwrap_or("")
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        match essence.as_str() {
            "application/json" => Ok(Self::Json),
            "application/x-protobuf" | "application/protobuf" => Ok(Self::Protobuf),
            other => Err(ApiError::UnsupportedMediaType(format!(
                "Content-Type {:?} is not read here; send {ACCEPTED_TYPES}",
                short(other)
            ))),
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            Self::Json => "application/json",
            Self::Protobuf => "application/x-protobuf",
        }
    }
}

/// A header value quoted in an error, cut short. (`to_str` already kept
/// it to visible ASCII.)
fn short(value: &str) -> &str {
    value.get(..64).unwrap_or(value)
}

/// An OTLP request body, inflated if it came gzip-compressed.
pub struct OtlpBody {
    /// How the body is encoded.
    pub encoding: Encoding,
    /// The body, inflated.
    pub bytes: Bytes,
}

impl FromRequest<AppState> for OtlpBody {
    type Rejection = OtlpError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, OtlpError> {
        let encoding = Encoding::of(request.headers()).map_err(OtlpError::json)?;
        let fail = |error| OtlpError { encoding, error };
        let gzip = match request
            .headers()
            .get(header::CONTENT_ENCODING)
            .map(|v| v.to_str().unwrap_or("").trim().to_ascii_lowercase())
        {
            None => false,
            Some(e) if e.is_empty() || e == "identity" => false,
            Some(e) if e == "gzip" || e == "x-gzip" => true,
            Some(e) => {
                return Err(fail(ApiError::UnsupportedMediaType(format!(
                    "Content-Encoding {:?} is not read here; send gzip or no encoding",
                    short(&e)
                ))));
            }
        };
        let raw = Bytes::from_request(request, state).await.map_err(|e| {
            fail(ApiError::BadRequest(format!(
                "could not read the body: {e}"
            )))
        })?;
        if !gzip {
            return Ok(Self {
                encoding,
                bytes: raw,
            });
        }
        let limit = state.max_body_bytes;
        // Inflating is CPU work proportional to the output: off the runtime.
        let inflated =
            tokio::task::spawn_blocking(move || crate::ingest::gzip::inflate(&raw, limit))
                .await
                .map_err(|e| fail(ApiError::Internal(format!("gzip decoder failed: {e}"))))?;
        match inflated {
            Ok(bytes) => Ok(Self {
                encoding,
                bytes: bytes.into(),
            }),
            Err(e @ crate::ingest::gzip::InflateError::TooLarge { .. }) => {
                Err(fail(ApiError::TooLarge(e.to_string())))
            }
            Err(e) => Err(fail(ApiError::BadRequest(e.to_string()))),
        }
    }
}

/// A refusal, answered in the request's encoding: the hub's JSON error
/// body, or for protobuf a `google.rpc.Status` as OTLP/HTTP asks.
#[derive(Debug)]
pub struct OtlpError {
    /// The request's encoding.
    pub encoding: Encoding,
    /// What went wrong.
    pub error: ApiError,
}

impl OtlpError {
    /// A refusal answered in JSON (the type itself could not be read).
    pub fn json(error: ApiError) -> Self {
        Self {
            encoding: Encoding::Json,
            error,
        }
    }

    /// A refusal answered in the encoding the request's headers name
    /// (JSON when they name none the hub reads).
    pub fn for_request(headers: &HeaderMap, error: ApiError) -> Self {
        Self {
            encoding: Encoding::of(headers).unwrap_or(Encoding::Json),
            error,
        }
    }
}

/// A caller allowed to send OTLP exports ([`Allowed`]), refused (401, 403)
/// in the request's encoding, as OTLP/HTTP asks.
pub struct OtlpCaller<N>(pub Principal, pub PhantomData<N>);

impl<N: Needs> FromRequestParts<AppState> for OtlpCaller<N> {
    type Rejection = OtlpError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, OtlpError> {
        match Allowed::<N>::from_request_parts(parts, state).await {
            Ok(Allowed(who, _)) => Ok(Self(who, PhantomData)),
            Err(e) => Err(OtlpError::for_request(&parts.headers, e)),
        }
    }
}

/// `google.rpc.Status`, the error body of OTLP/HTTP protobuf answers.
#[derive(Clone, PartialEq, prost::Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

/// The gRPC status code for an HTTP status, one table for the protobuf
/// error bodies and the gRPC service.
pub fn grpc_code(status: StatusCode) -> tonic::Code {
    match status.as_u16() {
        400 | 413 | 415 | 422 => tonic::Code::InvalidArgument,
        401 => tonic::Code::Unauthenticated,
        403 => tonic::Code::PermissionDenied,
        404 => tonic::Code::NotFound,
        409 => tonic::Code::FailedPrecondition,
        429 => tonic::Code::ResourceExhausted,
        503 => tonic::Code::Unavailable,
        _ => tonic::Code::Internal,
    }
}

impl IntoResponse for OtlpError {
    fn into_response(self) -> Response {
        if self.encoding == Encoding::Json {
            return self.error.into_response();
        }
        let status = self.error.status();
        let body = RpcStatus {
            code: grpc_code(status) as i32,
            message: self.error.body().error,
        }
        .encode_to_vec();
        let mut response = (
            status,
            [(header::CONTENT_TYPE, Encoding::Protobuf.content_type())],
            body,
        )
            .into_response();
        if let Some(s) = self.error.retry_after() {
            response.headers_mut().insert(header::RETRY_AFTER, s.into());
        }
        response
    }
}

/// Which OTLP signal an answer is for: the JSON names of the partial
/// success counts differ, their protobuf fields do not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// `ExportTraceServiceResponse`.
    Traces,
    /// `ExportLogsServiceResponse`.
    Logs,
    /// `ExportMetricsServiceResponse`.
    Metrics,
}

impl Signal {
    fn rejected_key(self) -> &'static str {
        match self {
            Self::Traces => "rejectedSpans",
            Self::Logs => "rejectedLogRecords",
            Self::Metrics => "rejectedDataPoints",
        }
    }
}

/// `ExportTraceServiceResponse` (and its logs and metrics twins): one
/// optional `partial_success` of a count and a message, fields 1 and 2 of
/// field 1 in all three.
#[derive(Clone, PartialEq, prost::Message)]
struct ExportResponse {
    #[prost(message, optional, tag = "1")]
    partial_success: Option<PartialSuccessMessage>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct PartialSuccessMessage {
    #[prost(int64, tag = "1")]
    rejected: i64,
    #[prost(string, tag = "2")]
    error_message: String,
}

/// A `200` answer to an export, in the request's encoding.
pub struct OtlpAnswer {
    /// The request's encoding.
    pub encoding: Encoding,
    /// The signal exported.
    pub signal: Signal,
    /// What was refused or ignored, if anything.
    pub partial: PartialSuccess,
}

impl IntoResponse for OtlpAnswer {
    fn into_response(self) -> Response {
        let PartialSuccess { rejected, message } = self.partial;
        let whole = rejected == 0 && message.is_empty();
        let body: Vec<u8> = match self.encoding {
            Encoding::Protobuf => ExportResponse {
                partial_success: (!whole).then(|| PartialSuccessMessage {
                    rejected: i64::try_from(rejected).unwrap_or(i64::MAX),
                    error_message: message,
                }),
            }
            .encode_to_vec(),
            // 64-bit integers are strings in protobuf's JSON mapping.
            Encoding::Json if whole => b"{}".to_vec(),
            Encoding::Json => serde_json::json!({"partialSuccess": {
                self.signal.rejected_key(): rejected.to_string(),
                "errorMessage": message,
            }})
            .to_string()
            .into_bytes(),
        };
        (
            StatusCode::OK,
            [(header::CONTENT_TYPE, self.encoding.content_type())],
            body,
        )
            .into_response()
    }
}
