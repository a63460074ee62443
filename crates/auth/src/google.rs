//! Google OAuth 2.0 for installed apps: consent link with PKCE and loopback redirect, code exchange, refresh,
//! loopback login, service-account JWT grant. See `shared/specs/README.md` §4.1.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use cloudmux_core::{Error, ErrorKind, Result};
use cloudmux_http::{Api, Idempotency, Secret};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};

use crate::oauth::{self, TokenClient, token_request};
pub use crate::oauth::{TokenResponse, oauth_api, oauth_error};

/// Google's scope prefix.
pub const SCOPE_PREFIX: &str = "https://www.googleapis.com/auth/";

/// The OAuth endpoints, real or emulated.
#[derive(Debug, Clone)]
pub struct Endpoints {
    /// Authorization (consent) endpoint.
    pub auth: String,
    /// Token endpoint.
    pub token: String,
    /// Revocation endpoint.
    pub revoke: String,
}

impl Default for Endpoints {
    fn default() -> Self {
        Endpoints::for_base(None)
    }
}

impl Endpoints {
    /// The real Google endpoints, or those of an emulator at `base` (`http://127.0.0.1:4444` serves host H
    /// under `/H/`).
    pub fn for_base(base: Option<&str>) -> Self {
        let at = |host: &str, path: &str| cloudmux_http::at_host(base, host, path);
        Endpoints {
            auth: at("accounts.google.com", "/o/oauth2/v2/auth"),
            token: at("oauth2.googleapis.com", "/token"),
            revoke: at("oauth2.googleapis.com", "/revoke"),
        }
    }
}

/// A Google service whose scopes a consent link asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    /// Google Drive, full access.
    Drive,
    /// Google Photos as it is since 2025-03-31: Library API on app-created data, plus the Picker.
    Photos,
    /// Google Calendar.
    Calendar,
    /// Google Sheets.
    Sheets,
}

impl Service {
    /// The scopes (short names) of this service.
    pub fn scopes(self) -> &'static [&'static str] {
        match self {
            Service::Drive => &["drive"],
            Service::Photos => &[
                "photoslibrary.appendonly",
                "photoslibrary.readonly.appcreateddata",
                "photoslibrary.edit.appcreateddata",
                "photospicker.mediaitems.readonly",
            ],
            Service::Calendar => &["calendar"],
            Service::Sheets => &["spreadsheets"],
        }
    }
}

/// The full scope URLs of `services`, in order, without duplicates.
pub fn scopes_for(services: &[Service]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for s in services {
        for sc in s.scopes() {
            let full = format!("{SCOPE_PREFIX}{sc}");
            if !out.contains(&full) {
                out.push(full);
            }
        }
    }
    out
}

/// A consent link and what the token step needs from it.
#[derive(Debug, Clone)]
pub struct ConsentLink {
    /// The URL to open.
    pub url: String,
    /// The `state` sent (checked on the redirect).
    pub state: String,
    /// The PKCE verifier (sent with the code).
    pub verifier: Secret,
    /// The redirect URI (sent again with the code).
    pub redirect_uri: String,
}

/// Builds the consent link (FormCodeRetrievalLink): one scope set per chosen service, `access_type=offline`,
/// `prompt=consent`, `state`, PKCE S256, the given loopback `redirect_uri`.
pub fn consent_url(
    ep: &Endpoints,
    client_id: &str,
    services: &[Service],
    redirect_uri: &str,
) -> ConsentLink {
    consent_url_for_scopes(ep, client_id, &scopes_for(services), redirect_uri)
}

/// Like [`consent_url`] with explicit scope URLs.
pub fn consent_url_for_scopes(
    ep: &Endpoints,
    client_id: &str,
    scopes: &[String],
    redirect_uri: &str,
) -> ConsentLink {
    let pkce = crate::oauth::Pkce::new();
    let state = crate::oauth::random_token(16);
    let mut u = url::Url::parse(&ep.auth).expect("valid auth endpoint");
    u.query_pairs_mut()
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("response_type", "code")
        .append_pair("scope", &scopes.join(" "))
        .append_pair("access_type", "offline")
        .append_pair("prompt", "consent")
        .append_pair("include_granted_scopes", "true")
        .append_pair("state", &state)
        .append_pair("code_challenge", &pkce.challenge)
        .append_pair("code_challenge_method", "S256");
    ConsentLink {
        url: u.to_string(),
        state,
        verifier: pkce.verifier,
        redirect_uri: redirect_uri.to_string(),
    }
}

/// Exchanges an authorization code (GetTokenByCode). The code is single-use, so this is never retried once
/// sent.
pub async fn exchange_code(
    api: &Api,
    ep: &Endpoints,
    client_id: &str,
    client_secret: &Secret,
    code: &str,
    redirect_uri: &str,
    verifier: Option<&Secret>,
) -> Result<TokenResponse> {
    let client = TokenClient {
        url: &ep.token,
        client_id,
        client_secret,
    };
    oauth::exchange_code(api, client, code, Some(redirect_uri), verifier).await
}

/// Renews an access token (RefreshToken). Google keeps the refresh token; the answer usually has none.
pub async fn refresh(
    api: &Api,
    ep: &Endpoints,
    client_id: &str,
    client_secret: &Secret,
    refresh_token: &Secret,
) -> Result<TokenResponse> {
    let client = TokenClient {
        url: &ep.token,
        client_id,
        client_secret,
    };
    oauth::refresh_token(api, client, refresh_token, Idempotency::Safe).await
}

/// Revokes a token.
pub async fn revoke(api: &Api, ep: &Endpoints, token: &Secret) -> Result<()> {
    let form = [("token", token.expose().to_string())];
    api.send(|c| c.post(&ep.revoke).form(&form), Idempotency::Safe)
        .await?;
    Ok(())
}

/// How [`loopback_login`] behaves.
#[derive(Debug, Clone)]
pub struct LoginOptions {
    /// Loopback port (0: any free port).
    pub port: u16,
    /// Also accept the code (or the whole redirected URL) pasted on stdin.
    pub accept_paste: bool,
    /// Give up after this long.
    pub timeout: Duration,
}

impl Default for LoginOptions {
    fn default() -> Self {
        LoginOptions {
            port: 0,
            accept_paste: true,
            timeout: Duration::from_secs(300),
        }
    }
}

/// The whole sign-in: listens on 127.0.0.1, calls `show` with the consent URL (to open a browser or print
/// it), catches the code from the redirect (or from stdin), checks `state`, and exchanges the code at once.
pub async fn loopback_login(
    api: &Api,
    ep: &Endpoints,
    client_id: &str,
    client_secret: &Secret,
    scopes: &[String],
    opts: &LoginOptions,
    show: impl FnOnce(&str),
) -> Result<TokenResponse> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", opts.port))
        .await
        .map_err(|e| {
            Error::from(e).context("cannot listen on 127.0.0.1 for the sign-in redirect")
        })?;
    let port = listener.local_addr()?.port();
    let redirect = format!("http://127.0.0.1:{port}/");
    let link = consent_url_for_scopes(ep, client_id, scopes, &redirect);
    show(&link.url);
    let from_browser = wait_for_redirect(listener, link.state.clone());
    let from_stdin = async {
        if !opts.accept_paste {
            return std::future::pending::<Result<String>>().await;
        }
        let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
        loop {
            match lines.next_line().await {
                Ok(Some(l)) if !l.trim().is_empty() => {
                    return code_from_paste(l.trim(), &link.state);
                }
                Ok(Some(_)) => continue,
                _ => return std::future::pending::<Result<String>>().await,
            }
        }
    };
    let code = tokio::select! {
        r = from_browser => r?,
        r = from_stdin => r?,
        _ = tokio::time::sleep(opts.timeout) => {
            return Err(Error::new(ErrorKind::Transient, "timed out waiting for the sign-in")
                .with_hint("open the printed link in a browser and allow access, or paste the code"));
        }
    };
    exchange_code(
        api,
        ep,
        client_id,
        client_secret,
        &code,
        &link.redirect_uri,
        Some(&link.verifier),
    )
    .await
}

/// A pasted code, or a pasted redirect URL (whose state must match).
fn code_from_paste(s: &str, state: &str) -> Result<String> {
    if s.contains("code=") || s.contains("error=") {
        let q = s.split_once('?').map(|(_, q)| q).unwrap_or(s);
        return code_from_query(q, state);
    }
    Ok(s.to_string())
}

fn code_from_query(q: &str, state: &str) -> Result<String> {
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(q.as_bytes())
        .into_owned()
        .collect();
    let get = |k: &str| pairs.iter().find(|(a, _)| a == k).map(|(_, v)| v.clone());
    if let Some(e) = get("error") {
        return Err(
            Error::new(ErrorKind::PermissionDenied, format!("sign-in refused: {e}"))
                .with_reason(e)
                .with_hint("run the sign-in again and allow access in the browser"),
        );
    }
    if get("state").as_deref() != Some(state) {
        return Err(
            Error::invalid("the redirect's state does not match this sign-in")
                .with_hint("use the link printed by this run of the command"),
        );
    }
    get("code").ok_or_else(|| Error::invalid("the redirect carries no code"))
}

async fn wait_for_redirect(listener: tokio::net::TcpListener, state: String) -> Result<String> {
    loop {
        let (mut sock, _) = listener.accept().await?;
        let mut buf = vec![0u8; 16 * 1024];
        let mut n = 0;
        while n < buf.len() {
            let r = sock.read(&mut buf[n..]).await.unwrap_or(0);
            if r == 0 {
                break;
            }
            n += r;
            if buf[..n].windows(4).any(|w| w == b"\r\n\r\n") {
                break;
            }
        }
        let head = String::from_utf8_lossy(&buf[..n]).to_string();
        let target = head.split_whitespace().nth(1).unwrap_or("/").to_string();
        let query = target
            .split_once('?')
            .map(|(_, q)| q.to_string())
            .unwrap_or_default();
        if !query.contains("code=") && !query.contains("error=") {
            let _ = sock
                .write_all(
                    b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                )
                .await;
            continue;
        }
        let result = code_from_query(&query, &state);
        let page = match &result {
            Ok(_) => {
                "<!doctype html><title>cloudmux</title><h1>Signed in</h1><p>cloudmux has the code. You can close this tab.</p>"
            }
            Err(_) => {
                "<!doctype html><title>cloudmux</title><h1>Sign-in failed</h1><p>Go back to the terminal for details.</p>"
            }
        };
        let resp = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{page}",
            page.len()
        );
        let _ = sock.write_all(resp.as_bytes()).await;
        let _ = sock.shutdown().await;
        return result;
    }
}

/// A service-account key (the JSON Google issues), for the JWT bearer grant.
#[derive(Clone)]
pub struct ServiceAccount {
    /// `client_email`.
    pub email: String,
    /// `token_uri` of the key.
    pub token_uri: String,
    key_der: Vec<u8>,
    /// `sub`: a user to impersonate (domain-wide delegation).
    pub subject: Option<String>,
}

impl std::fmt::Debug for ServiceAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceAccount")
            .field("email", &self.email)
            .finish_non_exhaustive()
    }
}

impl ServiceAccount {
    /// Reads a key from its JSON.
    pub fn from_json(v: &Value) -> Result<Self> {
        let bad = |m: &str| {
            Error::invalid(format!("service-account key: {m}")).with_hint(
                "download a JSON key from the Google Cloud console (IAM → Service accounts → Keys)",
            )
        };
        if v["type"].as_str().is_some_and(|t| t != "service_account") {
            return Err(bad("type is not service_account"));
        }
        let email = v["client_email"]
            .as_str()
            .ok_or_else(|| bad("client_email missing"))?
            .to_string();
        let pem = v["private_key"]
            .as_str()
            .ok_or_else(|| bad("private_key missing"))?;
        let body: String = pem
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .map(str::trim)
            .collect();
        let key_der = base64::engine::general_purpose::STANDARD
            .decode(body)
            .map_err(|_| bad("private_key is not PEM"))?;
        ring::signature::RsaKeyPair::from_pkcs8(&key_der)
            .map_err(|e| bad(&format!("private_key unusable: {e}")))?;
        Ok(ServiceAccount {
            email,
            token_uri: v["token_uri"]
                .as_str()
                .unwrap_or("https://oauth2.googleapis.com/token")
                .to_string(),
            key_der,
            subject: None,
        })
    }

    /// A signed JWT assertion for `scopes`, addressed to `aud`.
    pub fn assertion(&self, scopes: &[String], aud: &str) -> Result<String> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","typ":"JWT"}"#);
        let mut claims = json!({"iss": self.email, "scope": scopes.join(" "), "aud": aud, "iat": now, "exp": now + 3600});
        if let Some(s) = &self.subject {
            claims["sub"] = json!(s);
        }
        let claims = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).expect("json"));
        let msg = format!("{header}.{claims}");
        let kp = ring::signature::RsaKeyPair::from_pkcs8(&self.key_der)
            .map_err(|e| Error::invalid(e.to_string()))?;
        let mut sig = vec![0u8; kp.public().modulus_len()];
        kp.sign(
            &ring::signature::RSA_PKCS1_SHA256,
            &ring::rand::SystemRandom::new(),
            msg.as_bytes(),
            &mut sig,
        )
        .map_err(|_| Error::new(ErrorKind::Other, "signing the JWT failed"))?;
        Ok(format!("{msg}.{}", URL_SAFE_NO_PAD.encode(sig)))
    }

    /// Gets an access token with the JWT bearer grant. `token_url` overrides the key's `token_uri`
    /// (emulators).
    pub async fn fetch(
        &self,
        api: &Api,
        token_url: Option<&str>,
        scopes: &[String],
    ) -> Result<TokenResponse> {
        let url = token_url.unwrap_or(&self.token_uri);
        let form = vec![
            (
                "grant_type",
                "urn:ietf:params:oauth:grant-type:jwt-bearer".to_string(),
            ),
            ("assertion", self.assertion(scopes, &self.token_uri)?),
        ];
        token_request(api, url, form, Idempotency::Safe).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consent_link_has_everything() {
        let ep = Endpoints::for_base(Some("http://127.0.0.1:9/"));
        let l = consent_url(
            &ep,
            "cid",
            &[Service::Drive, Service::Photos],
            "http://127.0.0.1:5000/",
        );
        let u = url::Url::parse(&l.url).unwrap();
        assert_eq!(u.path(), "/accounts.google.com/o/oauth2/v2/auth");
        let q: std::collections::HashMap<String, String> = u.query_pairs().into_owned().collect();
        assert_eq!(q["access_type"], "offline");
        assert_eq!(q["prompt"], "consent");
        assert_eq!(q["code_challenge_method"], "S256");
        assert_eq!(q["state"], l.state);
        assert_eq!(q["redirect_uri"], "http://127.0.0.1:5000/");
        let scopes: Vec<&str> = q["scope"].split(' ').collect();
        assert!(scopes.contains(&"https://www.googleapis.com/auth/drive"));
        assert!(
            scopes.contains(&"https://www.googleapis.com/auth/photospicker.mediaitems.readonly")
        );
        assert!(
            !scopes
                .iter()
                .any(|s| s.ends_with("/photoslibrary") || s.ends_with("photoslibrary.readonly")),
            "removed scopes are never asked"
        );
        let challenge = URL_SAFE_NO_PAD.encode(ring::digest::digest(
            &ring::digest::SHA256,
            l.verifier.expose().as_bytes(),
        ));
        assert_eq!(q["code_challenge"], challenge);
    }

    #[test]
    fn pasted_codes_and_urls() {
        assert_eq!(code_from_paste("4/abc", "s").unwrap(), "4/abc");
        assert_eq!(
            code_from_paste("http://127.0.0.1:1/?code=4%2Fx&state=s", "s").unwrap(),
            "4/x"
        );
        assert!(code_from_paste("http://127.0.0.1:1/?code=4%2Fx&state=other", "s").is_err());
        assert_eq!(
            code_from_paste("http://127.0.0.1:1/?error=access_denied&state=s", "s")
                .unwrap_err()
                .kind(),
            ErrorKind::PermissionDenied
        );
    }

    #[test]
    fn oauth_errors_have_hints() {
        use reqwest::StatusCode;
        use reqwest::header::HeaderMap;
        let e = oauth_error(
            StatusCode::BAD_REQUEST,
            &HeaderMap::new(),
            br#"{"error":"invalid_grant","error_description":"Bad Request"}"#,
        );
        assert_eq!(e.kind(), ErrorKind::ReauthRequired);
        assert!(e.hint().unwrap().contains("cloudmux auth login"));
        let e = oauth_error(
            StatusCode::UNAUTHORIZED,
            &HeaderMap::new(),
            br#"{"error":"invalid_client","error_description":"Unauthorized"}"#,
        );
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        assert!(e.hint().unwrap().contains("client id"));
    }
}
