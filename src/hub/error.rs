//! Errors the hub answers with, each mapped to its HTTP status and a JSON
//! body that names what was wrong.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::model::action::ErrorBody;
use crate::model::role::Role;

/// An answer other than success.
#[derive(Debug, Clone, PartialEq)]
pub enum ApiError {
    /// 401: no token, or an unknown one.
    Unauthorized(String),
    /// 403: the token's role may not do this.
    Forbidden {
        /// What was refused and why.
        message: String,
        /// Roles that may.
        needs: Vec<Role>,
    },
    /// 404: no such object.
    NotFound(String),
    /// 400: malformed request.
    BadRequest(String),
    /// 409: not allowed in the object's current state.
    Conflict {
        /// What was refused, naming the current state.
        message: String,
        /// The object as it is now.
        current: serde_json::Value,
    },
    /// 413: body over the limit.
    TooLarge(String),
    /// 415: a body type the route does not read.
    UnsupportedMediaType(String),
    /// 422: an `Idempotency-Key` reused for a different request.
    Unprocessable(String),
    /// 429: too many requests at once; retry after [`RETRY_AFTER_S`].
    TooManyRequests(String),
    /// 503: storage cannot take writes now; nothing was applied.
    Unavailable(String),
    /// 500: a bug.
    Internal(String),
}

impl ApiError {
    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden { .. } => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Conflict { .. } => StatusCode::CONFLICT,
            Self::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The JSON body.
    pub fn body(&self) -> ErrorBody {
        let (error, needs, current) = match self {
            Self::Forbidden { message, needs } => (message.clone(), Some(needs.clone()), None),
            Self::Conflict { message, current } => (message.clone(), None, Some(current.clone())),
            Self::Unauthorized(m)
            | Self::NotFound(m)
            | Self::BadRequest(m)
            | Self::TooLarge(m)
            | Self::UnsupportedMediaType(m)
            | Self::Unprocessable(m)
            | Self::TooManyRequests(m)
            | Self::Unavailable(m)
            | Self::Internal(m) => (m.clone(), None, None),
        };
        ErrorBody {
            error,
            needs,
            current,
        }
    }

    /// Seconds a sender should wait before retrying, for the answers that
    /// say "not now" (429, 503) rather than "not this".
    pub fn retry_after(&self) -> Option<u64> {
        matches!(self, Self::TooManyRequests(_) | Self::Unavailable(_)).then_some(RETRY_AFTER_S)
    }

    /// 403 naming the roles that may.
    pub fn forbidden(what: &str, needs: &[Role]) -> Self {
        let names: Vec<&str> = needs.iter().map(|r| r.as_str()).collect();
        Self::Forbidden {
            message: format!("{what} needs the role {}", names.join(" or ")),
            needs: needs.to_vec(),
        }
    }
}

impl From<super::store::StoreError> for ApiError {
    fn from(e: super::store::StoreError) -> Self {
        Self::Unavailable(format!("{e}; nothing was applied, retry later"))
    }
}

/// What `Retry-After` says on 429 and 503: long enough for a burst or a
/// storage hiccup to pass, short enough that exporters (which honour it)
/// do not drop what they hold.
pub const RETRY_AFTER_S: u64 = 5;

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let retry = self.retry_after();
        let mut response = (status, axum::Json(self.body())).into_response();
        if let Some(s) = retry {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, s.into());
        }
        response
    }
}
