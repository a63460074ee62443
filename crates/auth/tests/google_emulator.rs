//! Google sign-in against the emulator: loopback login with PKCE, refresh, error hints, service accounts.

use cloudmux_auth::google::{self, Endpoints, LoginOptions, Service, ServiceAccount};
use cloudmux_core::ErrorKind;
use cloudmux_emulator::{Config, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, Emulator, Settings};
use cloudmux_http::{HttpConfig, Secret};

async fn emu() -> Emulator {
    let settings = Settings {
        auto_approve: true,
        ..Settings::default()
    };
    let sa: serde_json::Value =
        serde_json::from_str(include_str!("fixtures/service-account.json")).unwrap();
    Emulator::start(Config {
        settings,
        service_accounts: vec![sa],
        ..Config::default()
    })
    .await
    .unwrap()
}

/// Follows the consent URL like a browser would, which lands on the loopback listener.
fn browser(url: &str) {
    let url = url.to_string();
    tokio::spawn(async move {
        let _ = reqwest::Client::new().get(url).send().await;
    });
}

#[tokio::test]
async fn loopback_login_refresh_and_errors() {
    let e = emu().await;
    let ep = Endpoints::for_base(Some(&e.base_url()));
    let api = google::oauth_api(HttpConfig::default()).unwrap();
    let secret = Secret::new(DEMO_CLIENT_SECRET);
    let scopes = google::scopes_for(&[Service::Drive]);
    let opts = LoginOptions {
        accept_paste: false,
        ..Default::default()
    };
    let t = google::loopback_login(&api, &ep, DEMO_CLIENT_ID, &secret, &scopes, &opts, browser)
        .await
        .unwrap();
    assert!(
        t.refresh_token.is_some(),
        "offline access gives a refresh token"
    );
    assert_eq!(t.scope, "https://www.googleapis.com/auth/drive");
    assert_eq!(t.token_type, "Bearer");
    let r = google::refresh(
        &api,
        &ep,
        DEMO_CLIENT_ID,
        &secret,
        t.refresh_token.as_ref().unwrap(),
    )
    .await
    .unwrap();
    assert_ne!(r.access_token.expose(), t.access_token.expose());
    assert!(
        r.refresh_token.is_none(),
        "Google does not rotate refresh tokens"
    );

    let err = google::refresh(
        &api,
        &ep,
        DEMO_CLIENT_ID,
        &Secret::new("wrong"),
        t.refresh_token.as_ref().unwrap(),
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert_eq!(err.reason(), Some("invalid_client"));

    let err = google::exchange_code(
        &api,
        &ep,
        DEMO_CLIENT_ID,
        &secret,
        "4/expired-or-made-up",
        "http://127.0.0.1:1/",
        None,
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ReauthRequired);
    assert!(
        err.hint().unwrap().contains("cloudmux auth login"),
        "{:?}",
        err.hint()
    );

    e.state().google_auth.lock().unwrap().revoke_all();
    let err = google::refresh(
        &api,
        &ep,
        DEMO_CLIENT_ID,
        &secret,
        t.refresh_token.as_ref().unwrap(),
    )
    .await
    .unwrap_err();
    assert_eq!(err.reason(), Some("invalid_grant"));
    assert!(err.to_string().contains("expired or revoked"), "{err}");
}

#[tokio::test]
async fn a_code_is_single_use_and_needs_its_verifier() {
    let e = emu().await;
    let ep = Endpoints::for_base(Some(&e.base_url()));
    let api = google::oauth_api(HttpConfig::default()).unwrap();
    let secret = Secret::new(DEMO_CLIENT_SECRET);
    let link = google::consent_url(
        &ep,
        DEMO_CLIENT_ID,
        &[Service::Drive],
        "http://127.0.0.1:1/",
    );
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let resp = no_redirects.get(&link.url).send().await.unwrap();
    assert_eq!(resp.status(), 303);
    let loc = url::Url::parse(resp.headers()["location"].to_str().unwrap()).unwrap();
    let code = loc
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .to_string();
    let bad = google::exchange_code(
        &api,
        &ep,
        DEMO_CLIENT_ID,
        &secret,
        &code,
        &link.redirect_uri,
        Some(&Secret::new("not-the-verifier")),
    )
    .await
    .unwrap_err();
    assert_eq!(bad.reason(), Some("invalid_grant"));
    // A failed exchange burns the code like a used one: sign in again.
    let link = google::consent_url(
        &ep,
        DEMO_CLIENT_ID,
        &[Service::Drive],
        "http://127.0.0.1:1/",
    );
    let resp = no_redirects.get(&link.url).send().await.unwrap();
    let loc = url::Url::parse(resp.headers()["location"].to_str().unwrap()).unwrap();
    let code = loc
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .to_string();
    google::exchange_code(
        &api,
        &ep,
        DEMO_CLIENT_ID,
        &secret,
        &code,
        &link.redirect_uri,
        Some(&link.verifier),
    )
    .await
    .unwrap();
    let again = google::exchange_code(
        &api,
        &ep,
        DEMO_CLIENT_ID,
        &secret,
        &code,
        &link.redirect_uri,
        Some(&link.verifier),
    )
    .await
    .unwrap_err();
    assert_eq!(again.reason(), Some("invalid_grant"), "a code works once");
}

#[tokio::test]
async fn oob_redirect_is_refused() {
    let e = emu().await;
    let ep = Endpoints::for_base(Some(&e.base_url()));
    let link = google::consent_url(
        &ep,
        DEMO_CLIENT_ID,
        &[Service::Drive],
        "urn:ietf:wg:oauth:2.0:oob",
    );
    let resp = reqwest::get(&link.url).await.unwrap();
    assert_eq!(resp.status(), 400);
    assert!(resp.text().await.unwrap().contains("out-of-band"));
}

#[tokio::test]
async fn service_account_jwt_grant() {
    let e = emu().await;
    let ep = Endpoints::for_base(Some(&e.base_url()));
    let api = google::oauth_api(HttpConfig::default()).unwrap();
    let key: serde_json::Value =
        serde_json::from_str(include_str!("fixtures/service-account.json")).unwrap();
    let sa = ServiceAccount::from_json(&key).unwrap();
    let t = sa
        .fetch(
            &api,
            Some(&ep.token),
            &google::scopes_for(&[Service::Drive]),
        )
        .await
        .unwrap();
    assert!(!t.access_token.expose().is_empty());
    assert!(t.refresh_token.is_none());
    assert!(
        !format!("{sa:?}").contains("PRIVATE"),
        "Debug never prints the key"
    );
}

/// The consent page a person sees: unticking a permission gives a token without it, and Drive calls then
/// fail with ScopeMissing naming the scope.
#[tokio::test]
async fn consent_page_with_a_permission_unticked() {
    let e = Emulator::start(Config::default()).await.unwrap();
    let ep = Endpoints::for_base(Some(&e.base_url()));
    let api = google::oauth_api(HttpConfig::default()).unwrap();
    let link = google::consent_url(
        &ep,
        DEMO_CLIENT_ID,
        &[Service::Drive, Service::Sheets],
        "http://127.0.0.1:1/",
    );
    let page = reqwest::get(&link.url).await.unwrap().text().await.unwrap();
    assert!(
        page.contains("type=checkbox")
            && page.contains("auth/drive")
            && page.contains("auth/spreadsheets")
    );
    let pending = page
        .split("name=pending value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string();
    let action = page
        .split("action=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string();
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let resp = no_redirects
        .post(&action)
        .form(&[
            ("pending", pending.as_str()),
            ("scope", "https://www.googleapis.com/auth/spreadsheets"),
            ("decision", "allow"),
        ])
        .send()
        .await
        .unwrap();
    let loc = url::Url::parse(resp.headers()["location"].to_str().unwrap()).unwrap();
    let q: std::collections::HashMap<String, String> = loc.query_pairs().into_owned().collect();
    assert_eq!(q["state"], link.state);
    assert_eq!(q["scope"], "https://www.googleapis.com/auth/spreadsheets");
    let t = google::exchange_code(
        &api,
        &ep,
        DEMO_CLIENT_ID,
        &Secret::new(DEMO_CLIENT_SECRET),
        &q["code"],
        &link.redirect_uri,
        Some(&link.verifier),
    )
    .await
    .unwrap();
    assert_eq!(t.scope, "https://www.googleapis.com/auth/spreadsheets");
    let drive = reqwest::Client::new()
        .get(format!(
            "{}/www.googleapis.com/drive/v3/about?fields=user",
            e.base_url()
        ))
        .bearer_auth(t.access_token.expose())
        .send()
        .await
        .unwrap();
    assert_eq!(drive.status(), 403);
    let err = cloudmux_http::read_error_body(drive, |s, h, b| {
        // The Drive client's parser is in cloudmux-gdrive; here the raw body is enough.
        cloudmux_core::Error::new(
            cloudmux_http::api_kind(s),
            String::from_utf8_lossy(b).into_owned(),
        )
        .with_hint(
            h.get("www-authenticate")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string(),
        )
    })
    .await;
    assert!(
        err.to_string().contains("ACCESS_TOKEN_SCOPE_INSUFFICIENT"),
        "{err}"
    );
    assert!(
        err.hint()
            .unwrap()
            .contains("scope=\"https://www.googleapis.com/auth/drive"),
        "{:?}",
        err.hint()
    );
    // Cancelling sends the user back with access_denied.
    let link = google::consent_url(
        &ep,
        DEMO_CLIENT_ID,
        &[Service::Drive],
        "http://127.0.0.1:1/",
    );
    let page = reqwest::get(&link.url).await.unwrap().text().await.unwrap();
    let pending = page
        .split("name=pending value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string();
    let resp = no_redirects
        .post(&action)
        .form(&[("pending", pending.as_str()), ("decision", "deny")])
        .send()
        .await
        .unwrap();
    assert!(
        resp.headers()["location"]
            .to_str()
            .unwrap()
            .contains("error=access_denied")
    );
}
