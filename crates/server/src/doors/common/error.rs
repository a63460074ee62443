//! Errors as HTTP answers: a status from the kind, and a JSON body `{"error": {"kind", "message", "hint"}}`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use cloudmux_core::{Error, ErrorKind};

/// An error on its way to the client.
#[derive(Debug)]
pub struct ApiError(pub Error);

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        ApiError(e)
    }
}

/// The HTTP status of an error kind.
pub fn status_of(kind: ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::AlreadyExists | ErrorKind::Conflict => StatusCode::CONFLICT,
        ErrorKind::PermissionDenied => StatusCode::FORBIDDEN,
        ErrorKind::InvalidInput => StatusCode::BAD_REQUEST,
        ErrorKind::RateLimited => StatusCode::TOO_MANY_REQUESTS,
        ErrorKind::QuotaExceeded | ErrorKind::UploadLimit => StatusCode::INSUFFICIENT_STORAGE,
        ErrorKind::Unsupported => StatusCode::NOT_IMPLEMENTED,
        ErrorKind::Transient => StatusCode::SERVICE_UNAVAILABLE,
        ErrorKind::ScopeMissing
        | ErrorKind::ApiDisabled
        | ErrorKind::ReauthRequired
        | ErrorKind::Corrupt => StatusCode::BAD_GATEWAY,
        ErrorKind::Io | ErrorKind::Other => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let e = self.0;
        let status = status_of(e.kind());
        let body = serde_json::json!({"error": {
            "kind": e.kind().as_str(),
            "message": e.message(),
            "hint": e.hint(),
        }});
        let mut r = (status, axum::Json(body)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            r.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if e.kind() == ErrorKind::RateLimited {
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("60"));
        }
        r
    }
}

/// 401 with a JSON body and `WWW-Authenticate: Bearer`.
pub fn unauthorized(message: &str) -> Response {
    let body = serde_json::json!({"error": {
        "kind": "unauthenticated",
        "message": message,
        "hint": "log in (POST /api/auth/login) and send the token as Authorization: Bearer TOKEN",
    }});
    let mut r = (StatusCode::UNAUTHORIZED, axum::Json(body)).into_response();
    r.headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    r
}
