//! Yandex: OAuth (device flow, authorization code with PKCE, refresh with rotation) and Disk REST API v1.
//! See `shared/specs/README.md` §3 and §4.2.

pub mod disk;
pub mod oauth;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// A Yandex error answer: `{"message": localized, "description": English, "error": Code}`.
#[derive(Debug, Clone)]
pub struct YError {
    /// HTTP status.
    pub status: StatusCode,
    /// The `error` code (`DiskNotFoundError`, …).
    pub error: &'static str,
    /// English description.
    pub description: String,
    /// Localized message.
    pub message: String,
}

impl YError {
    /// An error with both texts.
    pub fn new(
        status: u16,
        error: &'static str,
        message: impl Into<String>,
        description: impl Into<String>,
    ) -> Self {
        YError {
            status: StatusCode::from_u16(status).expect("valid status"),
            error,
            message: message.into(),
            description: description.into(),
        }
    }

    /// 404 DiskNotFoundError.
    pub fn not_found() -> Self {
        YError::new(
            404,
            "DiskNotFoundError",
            "Не удалось найти запрошенный ресурс.",
            "Resource not found.",
        )
    }

    /// 409 DiskPathDoesntExistsError (parent missing).
    pub fn parent_missing(path: &str) -> Self {
        YError::new(
            409,
            "DiskPathDoesntExistsError",
            format!("Указанного пути \"{path}\" не существует."),
            format!("Specified path \"{path}\" doesn't exists."),
        )
    }

    /// 409 DiskResourceAlreadyExistsError.
    pub fn exists(path: &str) -> Self {
        YError::new(
            409,
            "DiskResourceAlreadyExistsError",
            format!("Ресурс \"{path}\" уже существует."),
            format!("Resource \"{path}\" already exists."),
        )
    }

    /// 400 FieldValidationError for a missing or bad parameter.
    pub fn field(name: &str, what: &str) -> Self {
        YError::new(
            400,
            "FieldValidationError",
            format!("Ошибка проверки поля \"{name}\": {what}"),
            format!("Error validating field \"{name}\": {what}"),
        )
    }

    /// 401 UnauthorizedError.
    pub fn unauthorized() -> Self {
        YError::new(401, "UnauthorizedError", "Не авторизован.", "Unauthorized")
    }

    /// 507 InsufficientStorageError.
    pub fn no_space() -> Self {
        YError::new(
            507,
            "InsufficientStorageError",
            "Недостаточно свободного места.",
            "Insufficient storage.",
        )
    }
}

impl IntoResponse for YError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(json!({"message": self.message, "description": self.description, "error": self.error}))).into_response()
    }
}

/// A result whose error is a Yandex error body.
pub type YResult<T> = Result<T, YError>;
