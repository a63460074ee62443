//! Adding remotes and signing them in from the web page (admins only).
//!
//! Google: the server builds the consent link (PKCE S256, a random single-use `state`) with its own
//! callback `ORIGIN/api/oauth/google/callback` as the redirect URI — register that URI for the OAuth client
//! (a Web application client) — and exchanges the code when the browser comes back. Yandex: the server asks
//! for a device code, the page shows it with the verification URL, and the server polls in the background
//! until the person has entered it. Tokens go to the remotes' token store (0600); nothing is sent to a third
//! party but the service's own OAuth server.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use cloudmux_auth::StoredToken;
use cloudmux_core::{Error, ErrorKind, Result};
use cloudmux_http::Secret;
use cloudmux_remote::SignIn;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::doors::common::authed::Authed;
use crate::doors::common::error::ApiError;

type ApiResult<T> = std::result::Result<T, ApiError>;

/// A sign-in in progress.
enum Pending {
    Google {
        remote: String,
        verifier: Secret,
        redirect_uri: String,
        at: Instant,
    },
    Yandex {
        status: Value,
        at: Instant,
    },
}

/// Sign-ins in progress: Google ones by `state`, Yandex ones by `yandex:REMOTE`.
#[derive(Default)]
pub struct SignIns(Arc<Mutex<HashMap<String, Pending>>>);

impl std::fmt::Debug for SignIns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignIns").finish_non_exhaustive()
    }
}

/// How long a started sign-in waits for the person.
const PENDING_TTL: Duration = Duration::from_secs(600);

/// The routes.
pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/api/admin/remotes/{name}/signin", post(start).get(status))
        .route("/api/oauth/google/callback", get(callback))
}

fn remotes(st: &AppState) -> Result<&Arc<dyn cloudmux_remote::Remotes>> {
    st.remotes
        .as_ref()
        .ok_or_else(|| Error::new(ErrorKind::Unsupported, "this server has no remotes"))
}

async fn start(
    State(st): State<Arc<AppState>>,
    a: Authed,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    crate::doors::api::admin::require_admin(&a)?;
    let o = remotes(&st)?.oauth(&name)?;
    st.signins.0.lock().unwrap().retain(|_, p| match p {
        Pending::Google { at, .. } | Pending::Yandex { at, .. } => at.elapsed() < PENDING_TTL,
    });
    match &o.sign_in {
        SignIn::Google { scopes } => {
            use cloudmux_auth::google;
            let ep = google::Endpoints::for_base(o.endpoint.as_deref());
            let redirect = format!(
                "{}/api/oauth/google/callback",
                crate::doors::common::proxy::origin(&headers)?
            );
            let link = google::consent_url_for_scopes(&ep, &o.client_id, scopes, &redirect);
            st.signins.0.lock().unwrap().insert(
                link.state.clone(),
                Pending::Google {
                    remote: name.clone(),
                    verifier: link.verifier.clone(),
                    redirect_uri: link.redirect_uri.clone(),
                    at: Instant::now(),
                },
            );
            Ok(Json(json!({
                "flow": "consent", "url": link.url, "redirect_uri": link.redirect_uri,
            })))
        }
        SignIn::Yandex => {
            use cloudmux_auth::yandex;
            let api = cloudmux_auth::oauth::oauth_api(cloudmux_http::HttpConfig::default())?;
            let ep = yandex::Endpoints::for_base(o.endpoint.as_deref());
            let device = o.device.as_ref().map(|(i, n)| (i.as_str(), n.as_str()));
            let dc = yandex::device_code(&api, &ep, &o.client_id, device, None).await?;
            let key = format!("yandex:{name}");
            let shown = json!({
                "flow": "device", "state": "pending", "verification_url": dc.verification_url,
                "user_code": dc.user_code, "expires_in": dc.expires_in,
            });
            st.signins.0.lock().unwrap().insert(
                key.clone(),
                Pending::Yandex {
                    status: shown.clone(),
                    at: Instant::now(),
                },
            );
            let st2 = st.clone();
            tokio::spawn(async move {
                let r =
                    yandex::wait_for_token(&api, &ep, &o.client_id, &o.client_secret, &dc, |_| {})
                        .await;
                let outcome = match r {
                    Ok(t) => match remotes(&st2)
                        .and_then(|rs| rs.save_token(&name, t.into_stored(None)))
                    {
                        Ok(()) => json!({"flow": "device", "state": "done"}),
                        Err(e) => {
                            json!({"flow": "device", "state": "failed", "error": e.to_string()})
                        }
                    },
                    Err(e) => json!({"flow": "device", "state": "failed", "error": e.to_string()}),
                };
                st2.signins.0.lock().unwrap().insert(
                    key,
                    Pending::Yandex {
                        status: outcome,
                        at: Instant::now(),
                    },
                );
            });
            Ok(Json(shown))
        }
        SignIn::None | SignIn::GoogleServiceAccount { .. } => {
            Err(Error::invalid(format!("{name} needs no sign-in")).into())
        }
    }
}

async fn status(
    State(st): State<Arc<AppState>>,
    a: Authed,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    crate::doors::api::admin::require_admin(&a)?;
    let pending = st.signins.0.lock().unwrap();
    match pending.get(&format!("yandex:{name}")) {
        Some(Pending::Yandex { status, .. }) => Ok(Json(status.clone())),
        _ => Err(Error::not_found(format!("a sign-in of {name}"))
            .with_hint("start one: POST /api/admin/remotes/NAME/signin")
            .into()),
    }
}

#[derive(Deserialize)]
struct CallbackQ {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

fn page(status: StatusCode, text: &str) -> Response {
    // The text is ours (names are checked to be plain), and escaped all the same.
    let esc = text
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    (
        status,
        [(
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'unsafe-inline'",
        )],
        Html(format!(
            "<!doctype html><meta charset=utf-8><title>cloudmux</title>\
             <p style=\"font-family:sans-serif\">{esc}</p><p><a href=\"/#admin\">Back to cloudmux</a></p>"
        )),
    )
        .into_response()
}

async fn callback(State(st): State<Arc<AppState>>, Query(q): Query<CallbackQ>) -> Response {
    let Some(state) = q.state else {
        return page(StatusCode::BAD_REQUEST, "The sign-in answer has no state.");
    };
    let pending = st.signins.0.lock().unwrap().remove(&state);
    let Some(Pending::Google {
        remote,
        verifier,
        redirect_uri,
        at,
    }) = pending
    else {
        return page(
            StatusCode::BAD_REQUEST,
            "This sign-in is unknown or was already used. Start it again from the admin page.",
        );
    };
    if at.elapsed() >= PENDING_TTL {
        return page(
            StatusCode::BAD_REQUEST,
            "This sign-in took too long. Start it again from the admin page.",
        );
    }
    if let Some(e) = q.error {
        let e: String = e
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        return page(
            StatusCode::FORBIDDEN,
            &format!("Google answered {e}: access was not given."),
        );
    }
    let Some(code) = q.code else {
        return page(StatusCode::BAD_REQUEST, "The sign-in answer has no code.");
    };
    let done = async {
        let rs = remotes(&st)?;
        let o = rs.oauth(&remote)?;
        let api = cloudmux_auth::google::oauth_api(cloudmux_http::HttpConfig::default())?;
        let ep = cloudmux_auth::google::Endpoints::for_base(o.endpoint.as_deref());
        let t = cloudmux_auth::google::exchange_code(
            &api,
            &ep,
            &o.client_id,
            &o.client_secret,
            &code,
            &redirect_uri,
            Some(&verifier),
        )
        .await?;
        let stored: StoredToken = t.into_stored(None);
        rs.save_token(&remote, stored)
    }
    .await;
    match done {
        Ok(()) => page(
            StatusCode::OK,
            &format!("{remote} is signed in. You can mount it now."),
        ),
        Err(e) => {
            tracing::warn!("google sign-in of {remote}: {e}");
            page(
                StatusCode::BAD_GATEWAY,
                &format!("Signing {remote} in failed: {}", e.message()),
            )
        }
    }
}
