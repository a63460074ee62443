//! What the Google and Yandex OAuth flows share: the token answer, the error body → [`Error`] mapping with hints,
//! and the token request itself.

use cloudmux_core::{Error, ErrorKind, Result};
use cloudmux_http::{Api, HttpConfig, Idempotency, Secret, redact};
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde::Deserialize;
use serde_json::{Value, json};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// A token endpoint answer.
#[derive(Debug, Clone, Deserialize)]
pub struct TokenResponse {
    /// Access token.
    pub access_token: Secret,
    /// Seconds until it expires.
    #[serde(default)]
    pub expires_in: Option<u64>,
    /// Refresh token (code exchange with offline access; Yandex refreshes too).
    #[serde(default)]
    pub refresh_token: Option<Secret>,
    /// Granted scopes, space-separated.
    #[serde(default)]
    pub scope: String,
    /// `Bearer`.
    #[serde(default)]
    pub token_type: String,
}

impl TokenResponse {
    /// The JSON the seed shows (`token_type`, `refresh_token`, `scope`, `expires_in`, `access_token`), secrets
    /// included: for the one command whose purpose is to print them.
    pub fn to_seed_json(&self) -> Value {
        let mut v = json!({
            "access_token": self.access_token.expose(),
            "expires_in": self.expires_in,
            "scope": self.scope,
            "token_type": self.token_type,
        });
        if let Some(r) = &self.refresh_token {
            v["refresh_token"] = json!(r.expose());
        }
        v
    }

    /// As stored, keeping `old_refresh` when the answer carries none (Google does not rotate).
    pub fn into_stored(self, old_refresh: Option<Secret>) -> crate::StoredToken {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        crate::StoredToken {
            access_token: self.access_token,
            refresh_token: self.refresh_token.or(old_refresh),
            expires_at: self.expires_in.map(|e| now + e),
            scope: self.scope,
            token_type: self.token_type,
        }
    }
}

/// Parses an OAuth error body (`{"error","error_description"}`) into an error with a hint.
pub fn oauth_error(status: StatusCode, _h: &HeaderMap, body: &[u8]) -> Error {
    #[derive(Deserialize)]
    struct E {
        error: String,
        #[serde(default)]
        error_description: String,
    }
    let Ok(e) = serde_json::from_slice::<E>(body) else {
        // Google's front end answers rate limits and outages with its API error body
        // (`{"error": {"code", "errors": [{"reason"}]}}`) even on the token endpoint.
        if serde_json::from_slice::<serde_json::Value>(body).is_ok_and(|v| v["error"].is_object()) {
            return cloudmux_http::google::parse_error(status, _h, body);
        }
        return cloudmux_http::generic_error(status, _h, body);
    };
    let desc = redact(&e.error_description);
    let msg = if desc.is_empty() {
        e.error.clone()
    } else {
        format!("{}: {desc}", e.error)
    };
    let (kind, hint) = match e.error.as_str() {
        _ if status == StatusCode::TOO_MANY_REQUESTS => (
            ErrorKind::RateLimited,
            "the sign-in server asks to slow down; cloudmux retries",
        ),
        _ if status.is_server_error() => (
            ErrorKind::Transient,
            "the sign-in server failed for a moment; cloudmux retries",
        ),
        "bad_verification_code" => (
            ErrorKind::InvalidInput,
            "the code is wrong, expired or was already used: start the sign-in again",
        ),
        "invalid_grant" => (
            ErrorKind::ReauthRequired,
            "the authorization code expired or was already used, or the refresh token was revoked or expired \
             (apps in Testing get 7-day refresh tokens): sign in again with `cloudmux auth login REMOTE` \
             (it catches the short-lived code automatically)",
        ),
        "invalid_client" | "unauthorized_client" => (
            ErrorKind::InvalidInput,
            "check the client id and client secret (Google Cloud console → APIs & Services → Credentials; \
             the client must be of type Desktop app)",
        ),
        "redirect_uri_mismatch" => (
            ErrorKind::InvalidInput,
            "use the same loopback redirect URI as in the consent link",
        ),
        "invalid_scope" => (
            ErrorKind::InvalidInput,
            "a requested scope is unknown or not allowed for this client",
        ),
        "access_denied" => (
            ErrorKind::PermissionDenied,
            "the sign-in was cancelled or refused in the browser; run it again and allow access",
        ),
        "authorization_pending" => (ErrorKind::Transient, "the user has not approved yet"),
        "slow_down" => (ErrorKind::RateLimited, "polling too fast"),
        "expired_token" => (
            ErrorKind::ReauthRequired,
            "the device code expired; start the sign-in again",
        ),
        _ => (cloudmux_http::api_kind(status), ""),
    };
    let mut err = Error::new(kind, msg).with_reason(e.error);
    if !hint.is_empty() {
        err = err.with_hint(hint);
    }
    err
}

/// An [`Api`] for OAuth endpoints (no credentials, OAuth error parsing).
pub fn oauth_api(cfg: HttpConfig) -> Result<Api> {
    Api::new(cfg, None, oauth_error)
}

pub(crate) async fn token_request(
    api: &Api,
    url: &str,
    form: Vec<(&str, String)>,
    idem: Idempotency,
) -> Result<TokenResponse> {
    let resp = api.send(|c| c.post(url).form(&form), idem).await?;
    let body = resp.bytes().await.map_err(cloudmux_http::transport_error)?;
    serde_json::from_slice(&body).map_err(|e| {
        Error::new(
            ErrorKind::Other,
            format!("token endpoint answered unreadable JSON: {e}"),
        )
    })
}

/// The client of a token endpoint: where it is and how the app identifies itself.
#[derive(Debug, Clone, Copy)]
pub struct TokenClient<'a> {
    /// The token endpoint's URL.
    pub url: &'a str,
    /// OAuth client id.
    pub client_id: &'a str,
    /// OAuth client secret.
    pub client_secret: &'a Secret,
}

/// Exchanges an authorization code (RFC 6749 §4.1.3, with the PKCE verifier of RFC 7636 when given). A
/// code is single-use, so the request is only repeated after a refusal that says the server did not act.
pub async fn exchange_code(
    api: &Api,
    client: TokenClient<'_>,
    code: &str,
    redirect_uri: Option<&str>,
    verifier: Option<&Secret>,
) -> Result<TokenResponse> {
    let mut form = vec![
        ("grant_type", "authorization_code".to_string()),
        ("code", code.trim().to_string()),
    ];
    if let Some(r) = redirect_uri {
        form.push(("redirect_uri", r.to_string()));
    }
    form.push(("client_id", client.client_id.to_string()));
    form.push(("client_secret", client.client_secret.expose().to_string()));
    if let Some(v) = verifier {
        form.push(("code_verifier", v.expose().to_string()));
    }
    token_request(api, client.url, form, Idempotency::Unsafe).await
}

/// Renews an access token with a refresh token (RFC 6749 §6). `idem` says whether the request may be
/// repeated: yes where the refresh token stays valid (Google), only after a sure refusal where it rotates
/// (Yandex).
pub async fn refresh_token(
    api: &Api,
    client: TokenClient<'_>,
    refresh_token: &Secret,
    idem: Idempotency,
) -> Result<TokenResponse> {
    let form = vec![
        ("grant_type", "refresh_token".to_string()),
        ("refresh_token", refresh_token.expose().to_string()),
        ("client_id", client.client_id.to_string()),
        ("client_secret", client.client_secret.expose().to_string()),
    ];
    token_request(api, client.url, form, idem).await
}

/// A PKCE pair (RFC 7636): a random verifier and its S256 challenge.
#[derive(Debug, Clone)]
pub struct Pkce {
    /// The verifier, sent with the code.
    pub verifier: Secret,
    /// `BASE64URL(SHA256(verifier))`, sent in the link.
    pub challenge: String,
}

/// `n` random bytes, URL-safe base64 without padding.
pub fn random_token(n: usize) -> String {
    let mut b = vec![0u8; n];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut b)
        .expect("system randomness");
    URL_SAFE_NO_PAD.encode(b)
}

impl Pkce {
    /// A fresh pair: 32 random bytes give a 43-character verifier.
    pub fn new() -> Self {
        let verifier = random_token(32);
        let challenge = URL_SAFE_NO_PAD.encode(ring::digest::digest(
            &ring::digest::SHA256,
            verifier.as_bytes(),
        ));
        Pkce {
            verifier: Secret::new(verifier),
            challenge,
        }
    }
}

impl Default for Pkce {
    fn default() -> Self {
        Pkce::new()
    }
}
