//! The one mapping from what went wrong to an HTTP status. Internal details are logged, never
//! sent to clients.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// Why a request as a whole failed (per-item problems are results, not errors).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// 400: the body cannot be read as the declared format at all.
    #[error("{0}")]
    BadRequest(String),
    /// 401: no key, or a key that is unknown or revoked.
    #[error("{0}")]
    Unauthorized(String),
    /// 403: the key's role does not allow this.
    #[error("{0}")]
    Forbidden(String),
    /// 404.
    #[error("{0}")]
    NotFound(String),
    /// 405.
    #[error("{0}")]
    MethodNotAllowed(String),
    /// 408: the body did not arrive in time.
    #[error("{0}")]
    Timeout(String),
    /// 413: over a size or count limit.
    #[error("{0}")]
    TooLarge(String),
    /// 415: a content type or encoding this endpoint does not take.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// 429: this key's rate limit.
    #[error("{0}")]
    RateLimited(String),
    /// 503 with Retry-After: the write queue is full, or the writer is shutting down.
    #[error("{0}")]
    Unavailable(String),
    /// 500: logged in full, answered in general terms.
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Timeout(_) => StatusCode::REQUEST_TIMEOUT,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest(_) => "bad_request",
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::NotFound(_) => "not_found",
            ApiError::MethodNotAllowed(_) => "method_not_allowed",
            ApiError::Timeout(_) => "timeout",
            ApiError::TooLarge(_) => "too_large",
            ApiError::UnsupportedMediaType(_) => "unsupported_media_type",
            ApiError::RateLimited(_) => "rate_limited",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::Internal(_) => "internal",
        }
    }
}

impl From<agentrail_store::LedgerError> for ApiError {
    fn from(e: agentrail_store::LedgerError) -> Self {
        use agentrail_store::LedgerError as L;
        match e {
            L::QueueFull => ApiError::Unavailable("the write queue is full; retry later".into()),
            L::WriterStopped => ApiError::Unavailable("the server is shutting down; retry".into()),
            L::Busy(t) => ApiError::Unavailable(format!(
                "the writer did not sign a checkpoint within {} s; retry later",
                t.as_secs()
            )),
            L::NotFound(m) => ApiError::NotFound(m),
            L::Invalid(m) => ApiError::BadRequest(m),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl From<agentrail_index::IndexError> for ApiError {
    fn from(e: agentrail_index::IndexError) -> Self {
        use agentrail_index::IndexError as I;
        match e {
            I::Invalid { field, reason } => ApiError::BadRequest(format!("{field}: {reason}")),
            I::NotFound(m) => ApiError::NotFound(m),
            I::Ledger(e) => ApiError::from(e),
            I::Corrupt(m) => ApiError::Internal(format!("session index: {m}")),
            other => ApiError::Internal(format!("session index: {other}")),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let message = match &self {
            ApiError::Internal(detail) => {
                tracing::error!(detail = %detail, "internal error");
                "internal error; see the server log".to_string()
            }
            other => other.to_string(),
        };
        let body = json!({"error": {"code": self.code(), "message": message}});
        let mut resp = (status, axum::Json(body)).into_response();
        if matches!(self, ApiError::Unavailable(_) | ApiError::RateLimited(_)) {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        if matches!(self, ApiError::Unauthorized(_)) {
            resp.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        resp
    }
}
