//! The HTTP stack every cloudmux service client shares.
//!
//! - [`Api`]: sends requests built by a closure (so each attempt gets a fresh request), adds the credentials of
//!   a [`TokenSource`], retries temporary failures with exponential backoff and jitter (honouring
//!   `Retry-After`), refreshes the token and retries once on 401, and turns error answers into
//!   [`cloudmux_core::Error`] through the service's own [`ErrorParser`]. [`Api::json`] reads an answer,
//!   [`Api::get_range`] streams a byte range (past the end: nothing), [`at_host`] rebases a service's URL on
//!   an emulator.
//! - [`RetryPolicy`] and [`Idempotency`]: what is retried. A request that is not idempotent is only retried when
//!   it certainly never reached the service (connect errors, 429, rate-limit 403), so a create is never blindly
//!   repeated.
//! - [`token`]: a token source that refreshes shortly before expiry, once for all concurrent waiters.
//! - [`redact`]: scrubs access and refresh tokens, codes and client secrets from any text before it is logged or
//!   put into an error. [`Secret`] is a string whose `Debug` and `Display` never show it.
//! - [`Pacer`]: paces one remote's requests once it answers "too many requests" (additive increase,
//!   multiplicative decrease, `Retry-After` honoured); [`full_jitter`] spreads retries apart.
//!
//! ```no_run
//! # async fn demo() -> cloudmux_core::Result<()> {
//! use cloudmux_http::{Api, HttpConfig, generic_error};
//! let api = Api::new(HttpConfig::default(), None, generic_error)?;
//! let resp = api.send(|c| c.get("https://example.com/"), cloudmux_http::Idempotency::Safe).await?;
//! println!("{}", resp.status());
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

mod api;
pub mod google;
mod pacer;
mod redact;
pub mod token;

pub use api::{
    Api, ErrorParser, HttpConfig, Idempotency, RetryPolicy, api_kind, at_host, body_stream,
    build_client, generic_error, parse_retry_after, read_error_body, transport_error,
};
pub use pacer::{FullJitter, Pacer, full_jitter};
pub use redact::{Secret, redact};
pub use token::{AccessToken, Refresher, StaticToken, TokenCache, TokenSource};

/// Installs the process-wide rustls crypto provider (ring) once; every TLS client and server calls it.
pub fn install_crypto_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

mod resume;
pub use resume::resuming_stream;
