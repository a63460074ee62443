//! Photos' errors are Google's shared error body (`{"error": {code, message, status, details}}`); see
//! [`cloudmux_http::google`] for the kinds and hints it maps to (missing scope, disabled API, quota, rate
//! limits). Per-item failures of `mediaItems:batchCreate` come back in its answer and are reported per item by
//! [`crate::PhotosClient::batch_create`].

pub use cloudmux_http::google::parse_error;
