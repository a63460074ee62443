//! What every Google API handler of the emulator uses: the method a route declares ([`Method`]: its API,
//! full name and scopes), the checked caller a handler takes ([`Caller`], [`authorize`]: the bearer
//! token's grant, its expiry, the API enabled, a scope of the method granted), and what a token grants
//! ([`TokenGrant`]). The OAuth server that issues the tokens is [`super::oauth`]; the services import this
//! module, never that one.

use std::sync::Arc;
use std::time::SystemTime;

use axum::http::{HeaderMap, StatusCode};

use crate::State as Emu;
use crate::faults::lock;
use crate::google::error::{GError, GResult};

/// Scope prefix of Google APIs.
pub const SCOPE_PREFIX: &str = "https://www.googleapis.com/auth/";

/// What an access token grants.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct TokenGrant {
    /// The client it was issued to.
    pub client_id: String,
    /// Granted scopes (full URLs).
    pub scopes: Vec<String>,
    /// Expiry.
    pub expires: SystemTime,
    /// The user (or service account e-mail).
    pub user: String,
}

/// What a Google API method asks of its caller: the API (service name and title, for `SERVICE_DISABLED`),
/// the method's full name (for error details) and the scopes any one of which suffices. A route declares it
/// with [`Method::on`], and the handler takes a [`Caller`].
#[derive(Debug, Clone, Copy)]
pub struct Method {
    /// Service name and title.
    pub api: (&'static str, &'static str),
    /// The method's full name (`google.apps.drive.v3.DriveFiles.Get`).
    pub name: &'static str,
    /// Scope suffixes (after `https://www.googleapis.com/auth/`).
    pub scopes: &'static [&'static str],
}

impl Method {
    /// A method of `api`.
    pub const fn new(
        api: (&'static str, &'static str),
        name: &'static str,
        scopes: &'static [&'static str],
    ) -> Self {
        Method { api, name, scopes }
    }

    /// `handler`, its caller checked against this method.
    pub fn on<H, T>(
        self,
        handler: H,
    ) -> axum::handler::Layered<axum::Extension<Method>, H, T, Arc<Emu>>
    where
        H: axum::handler::Handler<T, Arc<Emu>>,
        T: 'static,
    {
        axum::handler::Handler::layer(handler, axum::Extension(self))
    }
}

/// The caller of a Google API method: the grant of its bearer token (or `access_token` parameter), checked
/// against the [`Method`] its route declares — expiry, the API enabled, a scope of the method granted.
pub struct Caller(pub TokenGrant);

impl axum::extract::FromRequestParts<Arc<Emu>> for Caller {
    type Rejection = GError;
    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        emu: &Arc<Emu>,
    ) -> Result<Self, Self::Rejection> {
        let m = parts.extensions.get::<Method>().copied().ok_or_else(|| {
            GError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "global",
                "internalError",
                "the route declares no method",
            )
        })?;
        let token: Option<String> = parts.uri.query().and_then(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .find(|(k, _)| k == "access_token")
                .map(|(_, v)| v.into_owned())
        });
        authorize(
            emu,
            &parts.headers,
            token.as_deref(),
            m.api,
            m.name,
            m.scopes,
        )
        .map(Caller)
    }
}

/// The token grant behind a request's `Authorization: Bearer` header (or `access_token` parameter), checked for
/// expiry, the API being enabled, and one of `scopes` being granted.
pub fn authorize(
    emu: &Emu,
    headers: &HeaderMap,
    query_token: Option<&str>,
    api: (&str, &str),
    method: &str,
    scopes: &[&str],
) -> GResult<TokenGrant> {
    let (service, title) = api;
    let token = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::to_string)
        .or_else(|| query_token.map(str::to_string));
    let Some(token) = token else {
        return Err(GError::login_required(service));
    };
    let grant = lock(&emu.google_auth).grant(&token);
    let Some(grant) = grant else {
        return Err(GError::auth_error());
    };
    if grant.expires <= SystemTime::now() {
        return Err(GError::auth_error());
    }
    let api_key = service.split('.').next().unwrap_or(service);
    if lock(&emu.settings).disabled_apis.contains(api_key) {
        return Err(GError::service_disabled(service, title, "123456789012"));
    }
    let full: Vec<String> = scopes
        .iter()
        .map(|s| format!("{SCOPE_PREFIX}{s}"))
        .collect();
    if !grant.scopes.iter().any(|g| full.contains(g)) {
        let refs: Vec<&str> = full.iter().map(String::as_str).collect();
        return Err(GError::insufficient_scope(service, method, &refs));
    }
    Ok(grant)
}
