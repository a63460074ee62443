//! Token sources for service clients: renew with the refresh token (or a service-account JWT) and write the
//! new access token back to the store, so the next run reuses it.

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use async_trait::async_trait;
use cloudmux_core::Result;
use cloudmux_http::{AccessToken, Api, Idempotency, Refresher, Secret, TokenCache, TokenSource};

use crate::google::ServiceAccount;
use crate::oauth::TokenClient;
use crate::store::{StoredToken, TokenStore};

/// Renews tokens with a refresh token at an OAuth token endpoint (Google's or Yandex's) and writes the new
/// access token back to the store. Where the service rotates refresh tokens (Yandex), the one in the answer
/// replaces the old in memory and in the store, and a refresh is only repeated after a refusal that says the
/// service did not act.
#[derive(Debug)]
pub struct OAuthRefresher {
    /// OAuth API.
    pub api: Api,
    /// The token endpoint.
    pub token_url: String,
    /// Client id.
    pub client_id: String,
    /// Client secret.
    pub client_secret: Secret,
    /// Where to write renewed tokens (store, remote name).
    pub store: Option<(TokenStore, String)>,
    /// The current refresh token.
    pub refresh_token: std::sync::Mutex<Secret>,
    /// Whether the service rotates refresh tokens (each use may make the old one stop working).
    pub rotates: bool,
}

impl OAuthRefresher {
    /// Google's: the refresh token stays valid, so a failed refresh may be repeated.
    pub fn google(
        api: Api,
        ep: &crate::google::Endpoints,
        client_id: String,
        client_secret: Secret,
        refresh_token: Secret,
        store: Option<(TokenStore, String)>,
    ) -> Self {
        OAuthRefresher {
            api,
            token_url: ep.token.clone(),
            client_id,
            client_secret,
            store,
            refresh_token: std::sync::Mutex::new(refresh_token),
            rotates: false,
        }
    }

    /// Yandex's: each refresh rotates the refresh token.
    pub fn yandex(
        api: Api,
        ep: &crate::yandex::Endpoints,
        client_id: String,
        client_secret: Secret,
        refresh_token: Secret,
        store: Option<(TokenStore, String)>,
    ) -> Self {
        OAuthRefresher {
            api,
            token_url: format!("{}/token", ep.base),
            client_id,
            client_secret,
            store,
            refresh_token: std::sync::Mutex::new(refresh_token),
            rotates: true,
        }
    }
}

#[async_trait]
impl Refresher for OAuthRefresher {
    async fn refresh(&self) -> Result<AccessToken> {
        let rt = self.refresh_token.lock().unwrap().clone();
        let client = TokenClient {
            url: &self.token_url,
            client_id: &self.client_id,
            client_secret: &self.client_secret,
        };
        let idem = if self.rotates {
            Idempotency::Unsafe
        } else {
            Idempotency::Safe
        };
        let t = crate::oauth::refresh_token(&self.api, client, &rt, idem)
            .await
            .map_err(|e| match &self.store {
                Some((_, remote)) if e.kind() == cloudmux_core::ErrorKind::ReauthRequired => e
                    .with_hint(format!(
                        "the refresh token was revoked or expired: run `cloudmux auth login {remote}`"
                    )),
                _ => e,
            })?;
        let access = AccessToken::expiring_in(t.access_token.expose(), t.expires_in);
        if let Some(new) = &t.refresh_token {
            *self.refresh_token.lock().unwrap() = new.clone();
        }
        if let Some((store, remote)) = &self.store {
            let stored = t.into_stored(Some(rt));
            if let Err(e) = store.save(remote, &stored) {
                tracing::warn!("could not save the renewed token of {remote}: {e}");
            }
        }
        Ok(access)
    }
}

/// Gets tokens with a service-account key.
#[derive(Debug)]
pub struct ServiceAccountRefresher {
    /// OAuth API.
    pub api: Api,
    /// Token URL override (emulators).
    pub token_url: Option<String>,
    /// The key.
    pub account: ServiceAccount,
    /// Scopes to ask for.
    pub scopes: Vec<String>,
}

#[async_trait]
impl Refresher for ServiceAccountRefresher {
    async fn refresh(&self) -> Result<AccessToken> {
        let t = self
            .account
            .fetch(&self.api, self.token_url.as_deref(), &self.scopes)
            .await?;
        Ok(AccessToken::expiring_in(
            t.access_token.expose(),
            t.expires_in,
        ))
    }
}

/// The cached access token of a stored token, if any.
pub fn initial_token(t: &StoredToken) -> Option<AccessToken> {
    if t.access_token.is_empty() {
        return None;
    }
    Some(AccessToken {
        secret: t.access_token.clone(),
        expires_at: t.expires_at.map(|s| UNIX_EPOCH + Duration::from_secs(s)),
        lifetime: None,
    })
}

/// How long before expiry tokens are renewed.
pub const REFRESH_MARGIN: Duration = Duration::from_secs(60);

/// A token source over a refresher, starting from `initial`.
pub fn cached<R: Refresher + 'static>(r: R, initial: Option<AccessToken>) -> Arc<dyn TokenSource> {
    Arc::new(TokenCache::new(r, initial, REFRESH_MARGIN))
}
