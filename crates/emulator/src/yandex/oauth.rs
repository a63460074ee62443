//! Yandex OAuth: `/device/code`, the verification page where a person types the user code, `/authorize` (code
//! flow with PKCE), `/token` (`device_code`, `authorization_code`, `refresh_token` — which rotates the refresh
//! token), `/revoke_token`. Errors are `{"error","error_description"}` with status 400 (401 for bad clients).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::json;

use crate::common::html_escape;
use crate::faults::lock;
use crate::hosts::Base;
use crate::{DEMO_USER, State as Emu};

/// Scopes granted when a client asks for none.
pub const DEFAULT_SCOPES: &[&str] = &[
    "cloud_api:disk.read",
    "cloud_api:disk.write",
    "cloud_api:disk.info",
];

#[derive(Debug)]
struct DeviceGrant {
    client_id: String,
    device_id: Option<String>,
    user_code: String,
    scopes: Vec<String>,
    expires: Instant,
    approved: Option<bool>,
    last_poll: Option<Instant>,
    polls: u32,
}

#[derive(Debug)]
struct CodeGrant {
    client_id: String,
    challenge: Option<(String, String)>,
    scopes: Vec<String>,
    expires: Instant,
}

/// What a Yandex token grants.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct YToken {
    /// Client.
    pub client_id: String,
    /// Scopes.
    pub scopes: Vec<String>,
    /// Expiry.
    pub expires: SystemTime,
}

/// Yandex OAuth state.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct YandexAuth {
    clients: HashMap<String, String>,
    #[serde(skip)]
    devices: HashMap<String, DeviceGrant>,
    #[serde(skip)]
    codes: HashMap<String, CodeGrant>,
    access: HashMap<String, YToken>,
    refresh: HashMap<String, YToken>,
}

fn random(prefix: &str, n: usize) -> String {
    let b: Vec<u8> = (0..n).map(|_| rand::random::<u8>()).collect();
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(b))
}

impl YandexAuth {
    /// Registers a client.
    pub fn add_client(&mut self, id: &str, secret: &str) {
        self.clients.insert(id.to_string(), secret.to_string());
    }

    /// Issues an access token directly (tests).
    pub fn issue(&mut self, client_id: &str, lifetime: u64) -> String {
        let t = random("y0_emu", 24);
        let scopes = DEFAULT_SCOPES.iter().map(|s| s.to_string()).collect();
        self.access.insert(
            t.clone(),
            YToken {
                client_id: client_id.into(),
                scopes,
                expires: SystemTime::now() + Duration::from_secs(lifetime),
            },
        );
        t
    }

    /// The grant of a valid access token.
    pub fn check(&self, token: &str) -> Option<YToken> {
        self.access
            .get(token)
            .filter(|t| t.expires > SystemTime::now())
            .cloned()
    }

    /// Revokes everything (tests).
    pub fn revoke_all(&mut self) {
        self.access.clear();
        self.refresh.clear();
    }

    /// Approves a device code by its user code (the verification page, or tests).
    pub fn approve_user_code(&mut self, user_code: &str, allow: bool) -> bool {
        let code = user_code.trim().to_ascii_lowercase();
        match self
            .devices
            .values_mut()
            .find(|d| d.user_code == code && d.expires > Instant::now())
        {
            Some(d) => {
                d.approved = Some(allow);
                true
            }
            None => false,
        }
    }
}

/// The routes, on `oauth.yandex.ru` and `oauth.yandex.com`.
pub fn routes() -> Router<Arc<Emu>> {
    let mut r = Router::new();
    for host in ["oauth.yandex.ru", "oauth.yandex.com"] {
        r = r
            .route(&format!("/{host}/device/code"), post(device_code))
            .route(
                &format!("/{host}/device"),
                get(verification_page).post(verification_submit),
            )
            .route(&format!("/{host}/authorize"), get(authorize))
            .route(&format!("/{host}/verification_code"), get(show_code))
            .route(&format!("/{host}/token"), post(token))
            .route(&format!("/{host}/revoke_token"), post(revoke));
    }
    r
}

fn err(error: &str, description: &str) -> Response {
    let status = if error == "invalid_client" {
        StatusCode::UNAUTHORIZED
    } else {
        StatusCode::BAD_REQUEST
    };
    (
        status,
        axum::Json(json!({"error": error, "error_description": description})),
    )
        .into_response()
}

fn form(body: &str) -> HashMap<String, String> {
    url::form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect()
}

fn scopes_of(f: &HashMap<String, String>) -> Vec<String> {
    match f.get("scope").filter(|s| !s.trim().is_empty()) {
        Some(s) => s.split_whitespace().map(str::to_string).collect(),
        None => DEFAULT_SCOPES.iter().map(|s| s.to_string()).collect(),
    }
}

async fn device_code(State(emu): State<Arc<Emu>>, base: Base, body: String) -> Response {
    let f = form(&body);
    let Some(client_id) = f.get("client_id").cloned() else {
        return err("invalid_request", "client_id is required");
    };
    let settings = emu.settings();
    let mut a = lock(&emu.yandex_auth);
    if !a.clients.contains_key(&client_id) {
        return err("invalid_client", "Client not found");
    }
    let device_id = f.get("device_id").cloned();
    if let Some(d) = &device_id
        && !(6..=50).contains(&d.len())
    {
        return err(
            "invalid_request",
            "device_id must be 6 to 50 characters long",
        );
    }
    if f.get("device_name")
        .is_some_and(|n| n.chars().count() > 100)
    {
        return err(
            "invalid_request",
            "device_name must be at most 100 characters long",
        );
    }
    // A new request for the same device replaces its pending code.
    if let Some(d) = &device_id {
        a.devices.retain(|_, g| {
            !(g.client_id == client_id && g.device_id.as_deref() == Some(d.as_str()))
        });
    }
    let device_code = hex::encode((0..16).map(|_| rand::random::<u8>()).collect::<Vec<_>>());
    let user_code: String = (0..8)
        .map(|_| (b'a' + rand::random::<u8>() % 26) as char)
        .collect();
    a.devices.insert(
        device_code.clone(),
        DeviceGrant {
            client_id,
            device_id,
            user_code: user_code.clone(),
            scopes: scopes_of(&f),
            expires: Instant::now() + Duration::from_secs(settings.yandex_device_code_lifetime),
            approved: None,
            last_poll: None,
            polls: 0,
        },
    );
    axum::Json(json!({
        "device_code": device_code,
        "user_code": user_code,
        "verification_url": base.url("oauth.yandex.ru", "/device"),
        "interval": settings.yandex_poll_interval,
        "expires_in": settings.yandex_device_code_lifetime,
    }))
    .into_response()
}

async fn verification_page(base: Base) -> Html<String> {
    let action = base.url("oauth.yandex.ru", "/device");
    Html(format!(
        "<!doctype html><title>Yandex ID — confirm device (emulated)</title><h1>Enter the code shown on your device</h1>\
         <p>Signed in as {DEMO_USER}.</p><form method=post action=\"{action}\"><input name=code id=code autofocus>\
         <button name=decision value=allow id=allow>Allow</button> <button name=decision value=deny id=deny>Deny</button></form>"
    ))
}

async fn verification_submit(State(emu): State<Arc<Emu>>, body: String) -> Response {
    let f = form(&body);
    let allow = f.get("decision").map(String::as_str) != Some("deny");
    let ok = lock(&emu.yandex_auth)
        .approve_user_code(f.get("code").map(String::as_str).unwrap_or(""), allow);
    if ok {
        Html(format!(
            "<!doctype html><h1>{}</h1><p>You can return to your device.</p>",
            if allow {
                "Access granted"
            } else {
                "Access denied"
            }
        ))
        .into_response()
    } else {
        (
            StatusCode::BAD_REQUEST,
            Html(
                "<!doctype html><h1>Wrong or expired code</h1><p>Check the code and try again.</p>",
            ),
        )
            .into_response()
    }
}

async fn authorize(
    State(emu): State<Arc<Emu>>,
    base: Base,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let client_id = q.get("client_id").cloned().unwrap_or_default();
    if !lock(&emu.yandex_auth).clients.contains_key(&client_id) {
        return (
            StatusCode::BAD_REQUEST,
            Html("<!doctype html><h1>invalid_client</h1>"),
        )
            .into_response();
    }
    if q.get("response_type").map(String::as_str) != Some("code") {
        return (
            StatusCode::BAD_REQUEST,
            Html("<!doctype html><h1>unsupported_response_type</h1>"),
        )
            .into_response();
    }
    let challenge = q.get("code_challenge").map(|c| {
        (
            c.clone(),
            q.get("code_challenge_method")
                .cloned()
                .unwrap_or_else(|| "plain".into()),
        )
    });
    let code: String = (0..16)
        .map(|_| (b'0' + rand::random::<u8>() % 10) as char)
        .collect();
    lock(&emu.yandex_auth).codes.insert(
        code.clone(),
        CodeGrant {
            client_id,
            challenge,
            scopes: scopes_of(&q),
            expires: Instant::now() + Duration::from_secs(600),
        },
    );
    // The emulated user always allows; a registered redirect receives the code, otherwise it is shown.
    match q
        .get("redirect_uri")
        .filter(|r| !r.contains("/verification_code"))
    {
        Some(r) => match url::Url::parse(r) {
            Ok(mut u) => {
                u.query_pairs_mut().append_pair("code", &code);
                if let Some(s) = q.get("state") {
                    u.query_pairs_mut().append_pair("state", s);
                }
                Redirect::to(u.as_str()).into_response()
            }
            Err(_) => (
                StatusCode::BAD_REQUEST,
                Html("<!doctype html><h1>invalid redirect_uri</h1>"),
            )
                .into_response(),
        },
        None => Redirect::to(&base.url(
            "oauth.yandex.ru",
            &format!("/verification_code?code={code}"),
        ))
        .into_response(),
    }
}

async fn show_code(Query(q): Query<HashMap<String, String>>) -> Html<String> {
    let code = html_escape(q.get("code").map(String::as_str).unwrap_or(""));
    Html(format!(
        "<!doctype html><title>Confirmation code</title><h1>Your confirmation code</h1><p id=code>{code}</p>"
    ))
}

fn issue_pair(
    a: &mut YandexAuth,
    client_id: &str,
    scopes: Vec<String>,
    lifetime: u64,
) -> serde_json::Value {
    let access = random("y0_emu", 24);
    let refresh = random("1:emu:", 24);
    let exp = SystemTime::now() + Duration::from_secs(lifetime);
    a.access.insert(
        access.clone(),
        YToken {
            client_id: client_id.into(),
            scopes: scopes.clone(),
            expires: exp,
        },
    );
    a.refresh.insert(
        refresh.clone(),
        YToken {
            client_id: client_id.into(),
            scopes: scopes.clone(),
            expires: SystemTime::now() + Duration::from_secs(lifetime.max(3600) * 4),
        },
    );
    json!({"token_type": "bearer", "access_token": access, "expires_in": lifetime, "refresh_token": refresh, "scope": scopes.join(" ")})
}

async fn token(State(emu): State<Arc<Emu>>, headers: HeaderMap, body: String) -> Response {
    let f = form(&body);
    let (id, secret) = crate::common::client_credentials(&headers, &f);
    let settings = emu.settings();
    let mut a = lock(&emu.yandex_auth);
    let Some(id) = id else {
        return err("invalid_client", "Client not found");
    };
    match a.clients.get(&id) {
        None => return err("invalid_client", "Client not found"),
        Some(s) if Some(s) != secret.as_ref() => {
            return err("invalid_client", "Wrong client secret");
        }
        Some(_) => {}
    }
    let lifetime = settings.yandex_token_lifetime;
    match f.get("grant_type").map(String::as_str) {
        Some("device_code") => {
            let code = f.get("code").cloned().unwrap_or_default();
            let Some(g) = a.devices.get_mut(&code).filter(|g| g.client_id == id) else {
                return err("bad_verification_code", "Invalid device code");
            };
            if g.expires <= Instant::now() {
                a.devices.remove(&code);
                return err("expired_token", "Device code has expired");
            }
            let now = Instant::now();
            let too_soon = g.last_poll.is_some_and(|t| {
                now.duration_since(t)
                    < Duration::from_millis(settings.yandex_poll_interval * 1000 * 8 / 10)
            });
            g.last_poll = Some(now);
            g.polls += 1;
            if too_soon {
                return err("slow_down", "Polling too frequently; wait for the interval");
            }
            match g.approved {
                Some(true) => {
                    let scopes = g.scopes.clone();
                    a.devices.remove(&code);
                    axum::Json(issue_pair(&mut a, &id, scopes, lifetime)).into_response()
                }
                Some(false) => {
                    a.devices.remove(&code);
                    err("access_denied", "The user denied access")
                }
                None => {
                    // The auto-approve switch approves after the first poll, so a client sees one pending answer.
                    if settings.auto_approve {
                        g.approved = Some(true);
                    }
                    err(
                        "authorization_pending",
                        "User has not yet authorized your application",
                    )
                }
            }
        }
        Some("authorization_code") => {
            let code = f.get("code").cloned().unwrap_or_default();
            let Some(g) = a.codes.remove(&code) else {
                return err("bad_verification_code", "Invalid code");
            };
            if g.client_id != id || g.expires <= Instant::now() {
                return err("invalid_grant", "Code has expired");
            }
            if let Some((challenge, method)) = &g.challenge {
                let Some(v) = f.get("code_verifier") else {
                    return err("invalid_grant", "code_verifier is required");
                };
                let computed = if method == "S256" {
                    URL_SAFE_NO_PAD
                        .encode(ring::digest::digest(&ring::digest::SHA256, v.as_bytes()))
                } else {
                    v.clone()
                };
                if &computed != challenge {
                    return err("invalid_grant", "Code verifier is not valid");
                }
            }
            axum::Json(issue_pair(&mut a, &id, g.scopes, lifetime)).into_response()
        }
        Some("refresh_token") => {
            let rt = f.get("refresh_token").cloned().unwrap_or_default();
            match a.refresh.remove(&rt) {
                Some(g) if g.client_id == id && g.expires > SystemTime::now() => {
                    axum::Json(issue_pair(&mut a, &id, g.scopes, lifetime)).into_response()
                }
                _ => err("invalid_grant", "Refresh token expired or revoked"),
            }
        }
        Some(other) => err(
            "unsupported_grant_type",
            &format!("Unsupported grant_type: {other}"),
        ),
        None => err("invalid_request", "grant_type is required"),
    }
}

async fn revoke(State(emu): State<Arc<Emu>>, headers: HeaderMap, body: String) -> Response {
    let f = form(&body);
    let (id, secret) = crate::common::client_credentials(&headers, &f);
    let mut a = lock(&emu.yandex_auth);
    match id.as_ref().and_then(|i| a.clients.get(i)) {
        Some(s) if Some(s) == secret.as_ref() => {}
        _ => return err("invalid_client", "Client not found"),
    }
    let t = f.get("access_token").cloned().unwrap_or_default();
    if a.access.remove(&t).is_some() {
        axum::Json(json!({"status": "ok"})).into_response()
    } else {
        err("invalid_grant", "Token not found")
    }
}

/// Yandex OAuth as an emulated service.
pub struct YandexOAuth;

impl crate::service::Service for YandexOAuth {
    fn key(&self) -> &'static str {
        "yandex_auth"
    }
    fn title(&self) -> &'static str {
        "Yandex OAuth (device code, authorization code with PKCE, refresh with rotation)"
    }
    fn hosts(&self) -> &'static [(&'static str, crate::service::Family)] {
        use crate::service::Family::YandexOAuth as F;
        &[("oauth.yandex.ru", F), ("oauth.yandex.com", F)]
    }
    fn entry_points(&self) -> &'static [(&'static str, &'static str)] {
        &[
            ("device code", "oauth.yandex.ru/device/code"),
            ("authorize", "oauth.yandex.ru/authorize"),
            ("token endpoint", "oauth.yandex.ru/token"),
        ]
    }
    fn routes(&self) -> Router<Arc<Emu>> {
        routes()
    }
    fn snapshot(&self, st: &Emu) -> Option<serde_json::Value> {
        crate::service::to_value(&*lock(&st.yandex_auth))
    }
    fn restore(&self, st: &Emu, saved: serde_json::Value) -> Result<(), String> {
        *lock(&st.yandex_auth) = crate::service::from_value(saved)?;
        Ok(())
    }
}
