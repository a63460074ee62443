//! Yandex OAuth: the seed's device flow (GetConfirmationCode → the person enters the code →
//! ConvertCodeToToken, polled), the authorization-code flow with PKCE, and refresh — which returns a new
//! refresh token that must replace the old one. See `shared/specs/README.md` §4.2.

use std::path::Path;
use std::time::{Duration, Instant};

use cloudmux_core::{Error, ErrorKind, Result};
use cloudmux_http::{Api, Idempotency, Secret};
use serde::Deserialize;

use crate::oauth::{self, TokenClient, TokenResponse, token_request};

/// The Yandex OAuth base, real or emulated.
#[derive(Debug, Clone)]
pub struct Endpoints {
    /// `https://oauth.yandex.ru` or `{emulator}/oauth.yandex.ru`.
    pub base: String,
}

impl Endpoints {
    /// The real endpoints, or an emulator's at `base`.
    pub fn for_base(base: Option<&str>) -> Self {
        Endpoints {
            base: cloudmux_http::at_host(base, "oauth.yandex.ru", ""),
        }
    }
}

/// The answer of `/device/code` (the seed's GetConfirmationCode).
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
pub struct DeviceCode {
    /// The code the app polls with (secret).
    pub device_code: String,
    /// The code the person types.
    pub user_code: String,
    /// Where the person types it.
    pub verification_url: String,
    /// Seconds between polls.
    pub interval: u64,
    /// Seconds the codes live.
    pub expires_in: u64,
}

/// A stable `device_id` (kept in `dir/device-id`, made once) and a `device_name` for this machine, so repeated
/// sign-ins from it replace its token instead of piling up new ones (Yandex keeps at most 30 per app and user).
pub fn device_identity(dir: &Path) -> (String, String) {
    let p = dir.join("device-id");
    let id = match std::fs::read_to_string(&p) {
        Ok(s) if (6..=50).contains(&s.trim().len()) => s.trim().to_string(),
        _ => {
            let id: String = (0..16).map(|_| format!("{:02x}", rand_byte())).collect();
            let _ = std::fs::create_dir_all(dir);
            let _ = std::fs::write(&p, &id);
            id
        }
    };
    let host = std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default();
    let name = if host.is_empty() {
        "cloudmux".to_string()
    } else {
        format!("cloudmux on {host}")
    };
    (id, name.chars().take(100).collect())
}

fn rand_byte() -> u8 {
    let mut b = [0u8; 1];
    let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut b);
    b[0]
}

/// Asks for a device code (GetConfirmationCode).
pub async fn device_code(
    api: &Api,
    ep: &Endpoints,
    client_id: &str,
    device: Option<(&str, &str)>,
    scope: Option<&str>,
) -> Result<DeviceCode> {
    let mut form = vec![("client_id", client_id.to_string())];
    if let Some((id, name)) = device {
        form.push(("device_id", id.to_string()));
        form.push(("device_name", name.to_string()));
    }
    if let Some(s) = scope {
        form.push(("scope", s.to_string()));
    }
    let url = format!("{}/device/code", ep.base);
    let resp = api
        .send(|c| c.post(&url).form(&form), Idempotency::Safe)
        .await?;
    let body = resp.bytes().await.map_err(cloudmux_http::transport_error)?;
    serde_json::from_slice(&body).map_err(|e| {
        Error::new(
            ErrorKind::Other,
            format!("/device/code answered unreadable JSON: {e}"),
        )
    })
}

/// One exchange of a device code for tokens (ConvertCodeToToken): `authorization_pending` until the person
/// approves.
pub async fn token_from_device_code(
    api: &Api,
    ep: &Endpoints,
    client_id: &str,
    client_secret: &Secret,
    device_code: &str,
) -> Result<TokenResponse> {
    let form = vec![
        ("grant_type", "device_code".to_string()),
        ("code", device_code.to_string()),
        ("client_id", client_id.to_string()),
        ("client_secret", client_secret.expose().to_string()),
    ];
    // Not repeated once Yandex may have acted (a code is single-use, a refresh token rotates), but
    // repeated after a refusal that says it did not (429, a connection never made).
    token_request(
        api,
        &format!("{}/token", ep.base),
        form,
        Idempotency::Unsafe,
    )
    .await
}

/// Polls until the person approves: every `interval` seconds, backing off by 5 s on `slow_down`, stopping on
/// approval, `expired_token`, `access_denied`, `bad_verification_code` or when `expires_in` has passed.
/// `on_pending` is told about each pending answer.
pub async fn wait_for_token(
    api: &Api,
    ep: &Endpoints,
    client_id: &str,
    client_secret: &Secret,
    code: &DeviceCode,
    mut on_pending: impl FnMut(u32),
) -> Result<TokenResponse> {
    let deadline = Instant::now() + Duration::from_secs(code.expires_in.max(1));
    let mut interval = Duration::from_secs(code.interval.max(1));
    let mut polls = 0u32;
    loop {
        match token_from_device_code(api, ep, client_id, client_secret, &code.device_code).await {
            Ok(t) => return Ok(t),
            Err(e) if e.reason() == Some("authorization_pending") => {
                polls += 1;
                on_pending(polls);
            }
            Err(e) if e.reason() == Some("slow_down") => interval += Duration::from_secs(5),
            Err(e) if e.reason() == Some("expired_token") => {
                return Err(
                    e.with_hint("the code expired before it was entered: start the sign-in again")
                );
            }
            Err(e) => return Err(e),
        }
        if Instant::now() + interval > deadline {
            return Err(Error::new(
                ErrorKind::ReauthRequired,
                "the device code expired before it was entered",
            )
            .with_reason("expired_token")
            .with_hint("start the sign-in again and enter the code within its lifetime"));
        }
        tokio::time::sleep(interval).await;
    }
}

/// The authorization-code flow's link with PKCE S256; returns the URL and the verifier. Without a registered
/// `redirect_uri`, Yandex shows the code on its own page for the person to copy.
pub fn authorize_url(
    ep: &Endpoints,
    client_id: &str,
    redirect_uri: Option<&str>,
    device: Option<(&str, &str)>,
) -> (String, Secret, String) {
    let pkce = crate::oauth::Pkce::new();
    let state = crate::oauth::random_token(16);
    let mut u = url::Url::parse(&format!("{}/authorize", ep.base)).expect("valid base");
    u.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", client_id)
        .append_pair("code_challenge", &pkce.challenge)
        .append_pair("code_challenge_method", "S256")
        .append_pair("state", &state)
        .append_pair("force_confirm", "yes");
    if let Some(r) = redirect_uri {
        u.query_pairs_mut().append_pair("redirect_uri", r);
    }
    if let Some((id, name)) = device {
        u.query_pairs_mut()
            .append_pair("device_id", id)
            .append_pair("device_name", name);
    }
    (u.to_string(), pkce.verifier, state)
}

/// Exchanges an authorization code (with its PKCE verifier).
pub async fn exchange_code(
    api: &Api,
    ep: &Endpoints,
    client_id: &str,
    client_secret: &Secret,
    code: &str,
    verifier: Option<&Secret>,
) -> Result<TokenResponse> {
    let url = format!("{}/token", ep.base);
    let client = TokenClient {
        url: &url,
        client_id,
        client_secret,
    };
    oauth::exchange_code(api, client, code, None, verifier).await
}

/// Renews tokens (RefreshToken). Yandex answers with a new refresh token: store it, the old one may stop working.
/// Not repeated once Yandex may have acted (the refresh token rotates), but repeated after a refusal that
/// says it did not (429, a connection never made).
pub async fn refresh(
    api: &Api,
    ep: &Endpoints,
    client_id: &str,
    client_secret: &Secret,
    refresh_token: &Secret,
) -> Result<TokenResponse> {
    let url = format!("{}/token", ep.base);
    let client = TokenClient {
        url: &url,
        client_id,
        client_secret,
    };
    oauth::refresh_token(api, client, refresh_token, Idempotency::Unsafe).await
}
