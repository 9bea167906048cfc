//! Request bodies read whole, within the body limit, before the handler.
//!
//! A body over the limit is refused with 413, but only after the rest of it
//! has been read and thrown away (up to [`DRAIN_BYTES`] more, for at most
//! [`DRAIN_TIME`]). Answering while the client is still sending and then
//! closing the connection makes the kernel reset it, and a reset can
//! destroy the 413 before the client reads it: the sender would see
//! "connection reset" instead of the limit it has to respect. Reading on is
//! what web servers call a lingering close.

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;

use super::error::ApiError;

/// How much of an oversize body is read and discarded so that its sender
/// gets the 413; beyond this the connection is closed.
pub const DRAIN_BYTES: usize = 16 * 1024 * 1024;

/// How long an oversize body is read and discarded at most.
pub const DRAIN_TIME: Duration = Duration::from_secs(5);

/// Reads the request body within `limit` bytes and hands the request on;
/// answers 413 naming the limit when the body is larger, and 400 when it
/// cannot be read.
pub async fn read_within_limit(request: Request, next: Next, limit: usize) -> Response {
    let (parts, body) = request.into_parts();
    let announced = parts
        .headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(0);
    let mut stream = body.into_data_stream();
    let mut read = Vec::with_capacity(announced.min(limit));
    let mut over = false;
    while let Some(chunk) = stream.next().await {
        let chunk = match chunk {
            Ok(chunk) => chunk,
            Err(e) => {
                return ApiError::BadRequest(format!("could not read the request body: {e}"))
                    .into_response();
            }
        };
        if read.len() + chunk.len() > limit {
            over = true;
            break;
        }
        read.extend_from_slice(&chunk);
    }
    if over {
        drop(read);
        drain(stream).await;
        // An OTLP exporter sending protobuf reads its errors as protobuf.
        return super::http::otlp::OtlpError::for_request(&parts.headers, too_large(limit))
            .into_response();
    }
    let body = Body::from(Bytes::from(read));
    next.run(Request::from_parts(parts, body)).await
}

/// The answer to a body over `limit` bytes.
pub fn too_large(limit: usize) -> ApiError {
    ApiError::TooLarge(format!(
        "request body is larger than the limit of {limit} bytes; send smaller batches"
    ))
}

/// Reads and discards what is left of a body, within [`DRAIN_BYTES`] and
/// [`DRAIN_TIME`].
async fn drain(mut stream: axum::body::BodyDataStream) {
    let discard = async {
        let mut drained = 0usize;
        while let Some(Ok(chunk)) = stream.next().await {
            drained += chunk.len();
            if drained > DRAIN_BYTES {
                return;
            }
        }
    };
    // Past the time or the size the connection is closed with the answer;
    // the sender may then see a reset instead of the 413.
    let _ = tokio::time::timeout(DRAIN_TIME, discard).await;
}
