//! Yandex sign-in against the emulator: the device flow polled to approval, rotating refresh tokens, errors.

use cloudmux_auth::yandex::{self, Endpoints};
use cloudmux_core::ErrorKind;
use cloudmux_emulator::{Config, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, Emulator, Settings};
use cloudmux_http::{HttpConfig, Secret};

async fn emu(auto_approve: bool, code_life: u64) -> Emulator {
    let settings = Settings {
        auto_approve,
        yandex_poll_interval: 1,
        yandex_device_code_lifetime: code_life,
        ..Settings::default()
    };
    Emulator::start(Config {
        settings,
        ..Config::default()
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn device_flow_pending_then_approved_and_refresh_rotates() {
    let e = emu(true, 600).await;
    let ep = Endpoints::for_base(Some(&e.base_url()));
    let api = cloudmux_auth::oauth::oauth_api(HttpConfig::default()).unwrap();
    let secret = Secret::new(DEMO_CLIENT_SECRET);
    let dc = yandex::device_code(
        &api,
        &ep,
        DEMO_CLIENT_ID,
        Some(("cloudmux-test-device", "test box")),
        None,
    )
    .await
    .unwrap();
    assert_eq!(dc.interval, 1);
    assert!(dc.verification_url.ends_with("/oauth.yandex.ru/device"));
    let mut pending = 0;
    let t = yandex::wait_for_token(&api, &ep, DEMO_CLIENT_ID, &secret, &dc, |n| pending = n)
        .await
        .unwrap();
    assert_eq!(pending, 1, "one authorization_pending before the approval");
    assert_eq!(t.token_type, "bearer");
    let r1 = t.refresh_token.clone().unwrap();
    let t2 = yandex::refresh(&api, &ep, DEMO_CLIENT_ID, &secret, &r1)
        .await
        .unwrap();
    let r2 = t2.refresh_token.clone().unwrap();
    assert_ne!(r1.expose(), r2.expose(), "Yandex rotates refresh tokens");
    let old = yandex::refresh(&api, &ep, DEMO_CLIENT_ID, &secret, &r1)
        .await
        .unwrap_err();
    assert_eq!(old.reason(), Some("invalid_grant"));
    yandex::refresh(&api, &ep, DEMO_CLIENT_ID, &secret, &r2)
        .await
        .unwrap();
}

#[tokio::test]
async fn device_flow_errors() {
    let e = emu(false, 1).await;
    let ep = Endpoints::for_base(Some(&e.base_url()));
    let api = cloudmux_auth::oauth::oauth_api(HttpConfig::default()).unwrap();
    let secret = Secret::new(DEMO_CLIENT_SECRET);
    let bad = yandex::token_from_device_code(&api, &ep, DEMO_CLIENT_ID, &secret, "no-such-code")
        .await
        .unwrap_err();
    assert_eq!(bad.reason(), Some("bad_verification_code"));
    assert_eq!(bad.kind(), ErrorKind::InvalidInput);
    let dc = yandex::device_code(&api, &ep, DEMO_CLIENT_ID, None, None)
        .await
        .unwrap();
    let err = yandex::wait_for_token(&api, &ep, DEMO_CLIENT_ID, &secret, &dc, |_| {})
        .await
        .unwrap_err();
    assert_eq!(err.reason(), Some("expired_token"));
    assert_eq!(err.kind(), ErrorKind::ReauthRequired);
    let wrong = yandex::device_code(&api, &ep, "nobody", None, None)
        .await
        .unwrap_err();
    assert_eq!(wrong.reason(), Some("invalid_client"));
    // A person approving on the verification page.
    let e = emu(false, 600).await;
    let ep = Endpoints::for_base(Some(&e.base_url()));
    let dc = yandex::device_code(&api, &ep, DEMO_CLIENT_ID, None, None)
        .await
        .unwrap();
    let page = reqwest::get(&dc.verification_url)
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("name=code"));
    let ok = reqwest::Client::new()
        .post(&dc.verification_url)
        .form(&[("code", dc.user_code.as_str()), ("decision", "allow")])
        .send()
        .await
        .unwrap();
    assert!(ok.status().is_success());
    yandex::wait_for_token(&api, &ep, DEMO_CLIENT_ID, &secret, &dc, |_| {})
        .await
        .unwrap();
}

#[tokio::test]
async fn code_flow_with_pkce() {
    let e = emu(true, 600).await;
    let ep = Endpoints::for_base(Some(&e.base_url()));
    let api = cloudmux_auth::oauth::oauth_api(HttpConfig::default()).unwrap();
    let (url, verifier, _state) = yandex::authorize_url(&ep, DEMO_CLIENT_ID, None, None);
    let page = reqwest::get(&url).await.unwrap().text().await.unwrap();
    let code = page
        .split("<p id=code>")
        .nth(1)
        .unwrap()
        .split('<')
        .next()
        .unwrap()
        .to_string();
    let secret = Secret::new(DEMO_CLIENT_SECRET);
    let bad = yandex::exchange_code(
        &api,
        &ep,
        DEMO_CLIENT_ID,
        &secret,
        &code,
        Some(&Secret::new("wrong")),
    )
    .await
    .unwrap_err();
    assert_eq!(bad.reason(), Some("invalid_grant"));
    let (url, verifier2, _) = yandex::authorize_url(&ep, DEMO_CLIENT_ID, None, None);
    let _ = verifier;
    let page = reqwest::get(&url).await.unwrap().text().await.unwrap();
    let code = page
        .split("<p id=code>")
        .nth(1)
        .unwrap()
        .split('<')
        .next()
        .unwrap()
        .to_string();
    let t = yandex::exchange_code(&api, &ep, DEMO_CLIENT_ID, &secret, &code, Some(&verifier2))
        .await
        .unwrap();
    assert!(t.refresh_token.is_some());
}
