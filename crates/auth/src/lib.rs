//! OAuth for cloudmux: getting, storing and renewing the tokens the service clients use.
//!
//! - [`google`]: the seed's Google flow brought up to date. [`google::consent_url`] builds the consent link
//!   (FormCodeRetrievalLink) for the chosen services with `access_type=offline`, `prompt=consent`, a `state`
//!   and a PKCE S256 challenge, for a loopback redirect (Google blocked `oob` in 2022).
//!   [`google::exchange_code`] (GetTokenByCode) and [`google::refresh`] (RefreshToken) call the token endpoint;
//!   [`google::loopback_login`] does it all at once: it listens on 127.0.0.1, catches the code from the
//!   redirect (or takes it pasted on stdin) and exchanges it before its short life runs out.
//!   [`google::ServiceAccount`] signs a JWT bearer grant with a service-account key.
//! - [`store::TokenStore`]: tokens on disk, one file per remote, mode 0600, written atomically.
//! - [`source`]: [`cloudmux_http::Refresher`]s that renew tokens and write them back to the store.
//!
//! Every OAuth error becomes a [`cloudmux_core::Error`] with a hint: `invalid_grant` (code expired or used,
//! refresh token revoked: sign in again), `invalid_client` (check the client id and secret), and so on.
//!
//! ```
//! use cloudmux_auth::google::{Endpoints, Service, consent_url};
//! let link = consent_url(&Endpoints::default(), "ID.apps.googleusercontent.com", &[Service::Drive], "http://127.0.0.1:8085/");
//! assert!(link.url.contains("code_challenge_method=S256"));
//! assert!(link.url.contains("access_type=offline"));
//! ```
#![deny(missing_docs)]

pub mod google;
pub mod oauth;
pub mod source;
pub mod store;
pub mod yandex;

pub use store::{StoredToken, TokenStore};
