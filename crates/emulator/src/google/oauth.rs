//! Google OAuth 2.0 as desktop apps meet it: `accounts.google.com/o/oauth2/v2/auth` (consent page, loopback
//! redirect, PKCE), `oauth2.googleapis.com/token` (authorization code, refresh token, JWT bearer),
//! `/revoke` and `/tokeninfo`. Error bodies are `{"error","error_description"}` as Google sends them.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use axum::Form;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::json;

use crate::common::{client_credentials, html_escape};
use crate::faults::lock;
use crate::google::api::{SCOPE_PREFIX, TokenGrant, authorize};
use crate::hosts::Base;
use crate::{DEMO_USER, State as Emu};

#[derive(Debug)]
struct CodeGrant {
    client_id: String,
    redirect_uri: String,
    scopes: Vec<String>,
    challenge: Option<(String, String)>,
    offline: bool,
    expires: Instant,
    used: bool,
}

#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct RefreshGrant {
    client_id: String,
    scopes: Vec<String>,
    revoked: bool,
}

#[derive(Debug)]
struct Pending {
    client_id: String,
    redirect_uri: String,
    scopes: Vec<String>,
    state: Option<String>,
    challenge: Option<(String, String)>,
    offline: bool,
}

#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct ServiceAccount {
    public_key: Vec<u8>,
}

/// Clients, codes and tokens. Codes and pending consents are short-lived and not persisted.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct AuthState {
    clients: HashMap<String, String>,
    #[serde(skip)]
    codes: HashMap<String, CodeGrant>,
    access: HashMap<String, TokenGrant>,
    refresh: HashMap<String, RefreshGrant>,
    #[serde(skip)]
    pending: HashMap<String, Pending>,
    service_accounts: HashMap<String, ServiceAccount>,
}

fn random_token(prefix: &str) -> String {
    let b: [u8; 24] = rand::random();
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(b))
}

/// Decodes the first PEM block of `pem`.
pub fn pem_decode(pem: &str) -> Option<Vec<u8>> {
    let body: String = pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .map(str::trim)
        .collect();
    STANDARD.decode(body).ok()
}

impl AuthState {
    /// The grant of a live access token.
    pub fn grant(&self, token: &str) -> Option<TokenGrant> {
        self.access
            .get(token)
            .filter(|g| g.expires > SystemTime::now())
            .cloned()
    }

    /// Registers an OAuth client.
    pub fn add_client(&mut self, id: &str, secret: &str) {
        self.clients.insert(id.to_string(), secret.to_string());
    }

    /// Registers a service account from its Google JSON key (the public key is derived from the private one).
    pub fn add_service_account(&mut self, key: &serde_json::Value) -> Result<(), String> {
        let email = key["client_email"].as_str().ok_or("client_email missing")?;
        let pem = key["private_key"].as_str().ok_or("private_key missing")?;
        let der = pem_decode(pem).ok_or("private_key is not PEM")?;
        let kp = ring::signature::RsaKeyPair::from_pkcs8(&der)
            .map_err(|e| format!("private_key: {e}"))?;
        use ring::signature::KeyPair;
        self.service_accounts.insert(
            email.to_string(),
            ServiceAccount {
                public_key: kp.public_key().as_ref().to_vec(),
            },
        );
        Ok(())
    }

    /// Issues an access token directly (tests).
    pub fn issue_access(
        &mut self,
        client_id: &str,
        scopes: Vec<String>,
        lifetime: u64,
        user: &str,
    ) -> String {
        let t = random_token("ya29.emu-");
        self.access.insert(
            t.clone(),
            TokenGrant {
                client_id: client_id.into(),
                scopes,
                expires: SystemTime::now() + Duration::from_secs(lifetime),
                user: user.into(),
            },
        );
        t
    }

    /// Revokes a refresh token (tests: simulate the user removing access).
    pub fn revoke_refresh(&mut self, token: &str) -> bool {
        match self.refresh.get_mut(token) {
            Some(r) => {
                r.revoked = true;
                true
            }
            None => false,
        }
    }

    /// Revokes every refresh token (tests).
    pub fn revoke_all(&mut self) {
        for r in self.refresh.values_mut() {
            r.revoked = true;
        }
        self.access.clear();
    }
}

/// The OAuth routes.
pub fn routes() -> Router<Arc<Emu>> {
    Router::new()
        .route("/accounts.google.com/o/oauth2/v2/auth", get(authorize_page))
        .route("/accounts.google.com/o/oauth2/auth", get(authorize_page))
        .route("/accounts.google.com/o/oauth2/v2/auth/decide", post(decide))
        .route("/oauth2.googleapis.com/token", post(token))
        .route("/www.googleapis.com/oauth2/v4/token", post(token))
        .route("/oauth2.googleapis.com/revoke", post(revoke))
        .route(
            "/oauth2.googleapis.com/tokeninfo",
            get(tokeninfo).post(tokeninfo),
        )
        .route("/www.googleapis.com/oauth2/v3/userinfo", get(userinfo))
}

fn error_page(status: StatusCode, error: &str, detail: &str) -> Response {
    let body = format!(
        "<!doctype html><title>Error {code}: {error}</title><h1>Access blocked: authorization error</h1>\
         <p>Error {code}: {error}</p><p>{}</p>",
        html_escape(detail),
        code = status.as_u16()
    );
    (status, Html(body)).into_response()
}

fn is_loopback_redirect(uri: &str) -> bool {
    let Ok(u) = url::Url::parse(uri) else {
        return false;
    };
    u.scheme() == "http" && matches!(u.host(), Some(url::Host::Ipv4(ip)) if ip.is_loopback())
        || matches!(u.host(), Some(url::Host::Ipv6(ip)) if ip.is_loopback())
        || (u.scheme() == "http" && u.host_str() == Some("localhost"))
}

async fn authorize_page(
    State(emu): State<Arc<Emu>>,
    base: Base,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let client_id = q.get("client_id").cloned().unwrap_or_default();
    if !lock(&emu.google_auth).clients.contains_key(&client_id) {
        return error_page(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "The OAuth client was not found.",
        );
    }
    let redirect_uri = q.get("redirect_uri").cloned().unwrap_or_default();
    if redirect_uri.starts_with("urn:ietf:wg:oauth:2.0:oob") || redirect_uri == "oob" {
        return error_page(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "The out-of-band (OOB) flow has been blocked in order to keep users secure. Use a loopback redirect (http://127.0.0.1:PORT) instead.",
        );
    }
    if !is_loopback_redirect(&redirect_uri) {
        return error_page(
            StatusCode::BAD_REQUEST,
            "redirect_uri_mismatch",
            "Desktop clients must use a loopback redirect URI.",
        );
    }
    if q.get("response_type").map(String::as_str) != Some("code") {
        return error_page(
            StatusCode::BAD_REQUEST,
            "unsupported_response_type",
            "response_type must be code",
        );
    }
    let scopes: Vec<String> = q
        .get("scope")
        .map(|s| s.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default();
    if scopes.is_empty() {
        return error_page(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Missing required parameter: scope",
        );
    }
    if let Some(bad) = scopes.iter().find(|s| {
        !(s.starts_with(SCOPE_PREFIX) || matches!(s.as_str(), "openid" | "email" | "profile"))
    }) {
        return error_page(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            &format!("Some requested scopes were invalid: {bad}"),
        );
    }
    let challenge = match (
        q.get("code_challenge"),
        q.get("code_challenge_method").map(String::as_str),
    ) {
        (Some(c), Some("S256") | None) => Some((
            c.clone(),
            if q.contains_key("code_challenge_method") {
                "S256"
            } else {
                "plain"
            }
            .to_string(),
        )),
        (Some(c), Some("plain")) => Some((c.clone(), "plain".to_string())),
        (Some(_), Some(m)) => {
            return error_page(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                &format!("Invalid code_challenge_method: {m}"),
            );
        }
        (None, _) => None,
    };
    let pending = Pending {
        client_id,
        redirect_uri,
        scopes,
        state: q.get("state").cloned(),
        challenge,
        offline: q.get("access_type").map(String::as_str) == Some("offline"),
    };
    if emu.settings().auto_approve {
        let granted = pending.scopes.clone();
        return grant_redirect(&emu, pending, granted);
    }
    let id = random_token("p-");
    let mut boxes = String::new();
    for s in &pending.scopes {
        let e = html_escape(s);
        boxes.push_str(&format!(
            "<li><label><input type=checkbox name=scope value=\"{e}\" checked> {e}</label></li>"
        ));
    }
    let action = base.url("accounts.google.com", "/o/oauth2/v2/auth/decide");
    let page = format!(
        "<!doctype html><title>Sign in - Google Accounts (emulated)</title><h1>cloudmux emulator wants to access your Google Account</h1>\
         <p>Signed in as {DEMO_USER}. Client: <code>{}</code></p>\
         <form method=post action=\"{action}\"><input type=hidden name=pending value=\"{id}\"><ul>{boxes}</ul>\
         <button name=decision value=allow id=allow>Allow</button> <button name=decision value=deny id=deny>Cancel</button></form>",
        html_escape(&pending.client_id)
    );
    lock(&emu.google_auth).pending.insert(id, pending);
    Html(page).into_response()
}

async fn decide(State(emu): State<Arc<Emu>>, body: String) -> Response {
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect();
    let get = |k: &str| pairs.iter().find(|(a, _)| a == k).map(|(_, v)| v.clone());
    let Some(p) = get("pending").and_then(|id| lock(&emu.google_auth).pending.remove(&id)) else {
        return error_page(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "This consent page has expired. Start the sign-in again.",
        );
    };
    if get("decision").as_deref() != Some("allow") {
        let mut u = url::Url::parse(&p.redirect_uri).expect("validated");
        u.query_pairs_mut().append_pair("error", "access_denied");
        if let Some(s) = &p.state {
            u.query_pairs_mut().append_pair("state", s);
        }
        return Redirect::to(u.as_str()).into_response();
    }
    let granted: Vec<String> = pairs
        .iter()
        .filter(|(k, _)| k == "scope")
        .map(|(_, v)| v.clone())
        .filter(|s| p.scopes.contains(s))
        .collect();
    grant_redirect(&emu, p, granted)
}

fn grant_redirect(emu: &Emu, p: Pending, granted: Vec<String>) -> Response {
    let code = random_token("4/emu-");
    let life = emu.settings().code_lifetime;
    let mut u = url::Url::parse(&p.redirect_uri).expect("validated");
    u.query_pairs_mut()
        .append_pair("code", &code)
        .append_pair("scope", &granted.join(" "));
    if let Some(s) = &p.state {
        u.query_pairs_mut().append_pair("state", s);
    }
    lock(&emu.google_auth).codes.insert(
        code,
        CodeGrant {
            client_id: p.client_id,
            redirect_uri: p.redirect_uri,
            scopes: granted,
            challenge: p.challenge,
            offline: p.offline,
            expires: Instant::now() + Duration::from_secs(life),
            used: false,
        },
    );
    Redirect::to(u.as_str()).into_response()
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        axum::Json(json!({"error": error, "error_description": description})),
    )
        .into_response()
}

async fn token(
    State(emu): State<Arc<Emu>>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let grant_type = form.get("grant_type").map(String::as_str).unwrap_or("");
    if grant_type == "urn:ietf:params:oauth:grant-type:jwt-bearer" {
        return jwt_grant(&emu, &form);
    }
    let (id, secret) = client_credentials(&headers, &form);
    let Some(id) = id else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Could not determine client ID from request.",
        );
    };
    let settings = emu.settings();
    let mut auth = lock(&emu.google_auth);
    match auth.clients.get(&id) {
        None => {
            return oauth_error(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                "The OAuth client was not found.",
            );
        }
        Some(s) if Some(s) != secret.as_ref() => {
            return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", "Unauthorized");
        }
        Some(_) => {}
    }
    match grant_type {
        "authorization_code" => {
            let code = form.get("code").cloned().unwrap_or_default();
            let Some(g) = auth.codes.get_mut(&code) else {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "Malformed auth code.",
                );
            };
            if g.used || g.expires <= Instant::now() || g.client_id != id {
                g.used = true;
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", "Bad Request");
            }
            if form.get("redirect_uri") != Some(&g.redirect_uri) {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "redirect_uri_mismatch",
                    "Bad Request",
                );
            }
            if let Some((challenge, method)) = &g.challenge {
                let Some(verifier) = form.get("code_verifier") else {
                    return oauth_error(
                        StatusCode::BAD_REQUEST,
                        "invalid_grant",
                        "Missing code verifier.",
                    );
                };
                let computed = if method == "S256" {
                    URL_SAFE_NO_PAD.encode(ring::digest::digest(
                        &ring::digest::SHA256,
                        verifier.as_bytes(),
                    ))
                } else {
                    verifier.clone()
                };
                if &computed != challenge {
                    return oauth_error(
                        StatusCode::BAD_REQUEST,
                        "invalid_grant",
                        "Invalid code verifier.",
                    );
                }
            }
            g.used = true;
            let scopes = g.scopes.clone();
            let offline = g.offline;
            let access = auth.issue_access(&id, scopes.clone(), settings.token_lifetime, DEMO_USER);
            let mut body = json!({"access_token": access, "expires_in": settings.token_lifetime, "scope": scopes.join(" "), "token_type": "Bearer"});
            if offline {
                let r = random_token("1//emu-");
                auth.refresh.insert(
                    r.clone(),
                    RefreshGrant {
                        client_id: id,
                        scopes,
                        revoked: false,
                    },
                );
                body["refresh_token"] = json!(r);
            }
            axum::Json(body).into_response()
        }
        "refresh_token" => {
            let rt = form.get("refresh_token").cloned().unwrap_or_default();
            let scopes = match auth.refresh.get(&rt) {
                Some(r) if !r.revoked && r.client_id == id => r.scopes.clone(),
                Some(r) if r.client_id != id => {
                    return oauth_error(
                        StatusCode::BAD_REQUEST,
                        "unauthorized_client",
                        "Unauthorized",
                    );
                }
                _ => {
                    return oauth_error(
                        StatusCode::BAD_REQUEST,
                        "invalid_grant",
                        "Token has been expired or revoked.",
                    );
                }
            };
            let access = auth.issue_access(&id, scopes.clone(), settings.token_lifetime, DEMO_USER);
            axum::Json(json!({"access_token": access, "expires_in": settings.token_lifetime, "scope": scopes.join(" "), "token_type": "Bearer"}))
                .into_response()
        }
        "" => oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Required parameter is missing: grant_type",
        ),
        other => oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            &format!("Invalid grant_type: {other}"),
        ),
    }
}

fn jwt_grant(emu: &Emu, form: &HashMap<String, String>) -> Response {
    let bad = |d: &str| oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", d);
    let Some(assertion) = form.get("assertion") else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Missing required parameter: assertion",
        );
    };
    let parts: Vec<&str> = assertion.split('.').collect();
    if parts.len() != 3 {
        return bad("Invalid JWT: malformed.");
    }
    let decode = |s: &str| {
        URL_SAFE_NO_PAD
            .decode(s)
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
    };
    let (Some(header), Some(claims)) = (decode(parts[0]), decode(parts[1])) else {
        return bad("Invalid JWT: malformed.");
    };
    if header["alg"] != "RS256" {
        return bad("Invalid JWT: algorithm must be RS256.");
    }
    let iss = claims["iss"].as_str().unwrap_or("");
    let mut auth = lock(&emu.google_auth);
    let Some(sa) = auth.service_accounts.get(iss) else {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "The OAuth client was not found.",
        );
    };
    let Ok(sig) = URL_SAFE_NO_PAD.decode(parts[2]) else {
        return bad("Invalid JWT Signature.");
    };
    let signed = format!("{}.{}", parts[0], parts[1]);
    let pk = ring::signature::UnparsedPublicKey::new(
        &ring::signature::RSA_PKCS1_2048_8192_SHA256,
        &sa.public_key,
    );
    if pk.verify(signed.as_bytes(), &sig).is_err() {
        return bad("Invalid JWT Signature.");
    }
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let (iat, exp) = (
        claims["iat"].as_i64().unwrap_or(0),
        claims["exp"].as_i64().unwrap_or(0),
    );
    if exp <= now || iat > now + 300 || exp - iat > 3600 {
        return bad(
            "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.",
        );
    }
    let scopes: Vec<String> = claims["scope"]
        .as_str()
        .unwrap_or("")
        .split_whitespace()
        .map(str::to_string)
        .collect();
    if scopes.is_empty() {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            "Invalid OAuth scope or ID token audience provided.",
        );
    }
    let life = emu.settings().token_lifetime;
    let user = claims["sub"].as_str().unwrap_or(iss).to_string();
    let access = auth.issue_access(iss, scopes, life, &user);
    axum::Json(json!({"access_token": access, "expires_in": life, "token_type": "Bearer"}))
        .into_response()
}

async fn revoke(
    State(emu): State<Arc<Emu>>,
    Query(q): Query<HashMap<String, String>>,
    body: String,
) -> Response {
    let form: HashMap<String, String> = url::form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect();
    let Some(t) = q.get("token").or(form.get("token")) else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Missing required parameter: token",
        );
    };
    let mut auth = lock(&emu.google_auth);
    let found = auth.access.remove(t).is_some() || auth.revoke_refresh(t);
    if found {
        axum::Json(json!({})).into_response()
    } else {
        oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_token",
            "Token expired or revoked",
        )
    }
}

async fn tokeninfo(
    State(emu): State<Arc<Emu>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let t = q.get("access_token").cloned().unwrap_or_default();
    let g = lock(&emu.google_auth).access.get(&t).cloned();
    match g {
        Some(g) if g.expires > SystemTime::now() => {
            let left = g
                .expires
                .duration_since(SystemTime::now())
                .unwrap_or_default()
                .as_secs();
            let exp = g
                .expires
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap()
                .as_secs();
            axum::Json(json!({"azp": g.client_id, "aud": g.client_id, "scope": g.scopes.join(" "), "exp": exp.to_string(),
                "expires_in": left.to_string(), "email": g.user, "email_verified": "true", "access_type": "offline"}))
                .into_response()
        }
        _ => oauth_error(StatusCode::BAD_REQUEST, "invalid_token", "Invalid Value"),
    }
}

async fn userinfo(State(emu): State<Arc<Emu>>, headers: HeaderMap) -> Response {
    match authorize(&emu, &headers, None, ("oauth2.googleapis.com", "Google OAuth2 API"), "userinfo", &["userinfo.email", "drive", "drive.file", "drive.readonly"]) {
        Ok(g) => axum::Json(json!({"sub": "100000000000000000001", "email": g.user, "email_verified": true, "name": "Demo User"})).into_response(),
        Err(e) => e.into_response(),
    }
}

/// Google's OAuth 2.0 server as an emulated service.
pub struct GoogleOAuth;

impl crate::service::Service for GoogleOAuth {
    fn key(&self) -> &'static str {
        "google_auth"
    }
    fn title(&self) -> &'static str {
        "Google OAuth 2.0 (authorization code with PKCE, refresh, service-account JWT, revoke)"
    }
    fn hosts(&self) -> &'static [(&'static str, crate::service::Family)] {
        use crate::service::Family::GoogleOAuth as F;
        &[("oauth2.googleapis.com", F), ("accounts.google.com", F)]
    }
    fn entry_points(&self) -> &'static [(&'static str, &'static str)] {
        &[
            ("consent page", "accounts.google.com/o/oauth2/v2/auth"),
            ("token endpoint", "oauth2.googleapis.com/token"),
        ]
    }
    fn routes(&self) -> Router<Arc<Emu>> {
        routes()
    }
    fn snapshot(&self, st: &Emu) -> Option<serde_json::Value> {
        crate::service::to_value(&*lock(&st.google_auth))
    }
    fn restore(&self, st: &Emu, saved: serde_json::Value) -> Result<(), String> {
        *lock(&st.google_auth) = crate::service::from_value(saved)?;
        Ok(())
    }
}
