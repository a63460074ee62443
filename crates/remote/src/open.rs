//! Opening remotes: HTTP settings, credentials per sign-in flow, and the storage the backend makes.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use cloudmux_auth::google::{self, Endpoints, ServiceAccount};
use cloudmux_auth::source::{OAuthRefresher, ServiceAccountRefresher, cached, initial_token};
use cloudmux_core::{Error, ErrorKind, Result, Storage};
use cloudmux_http::{HttpConfig, Secret, TokenSource};

use crate::backend::{OpenCtx, SignIn};
use crate::config::{Config, RemoteConfig};

static TUNING: std::sync::OnceLock<(usize, u64)> = std::sync::OnceLock::new();

/// Sets the process-wide attempts per request and silence timeout (the CLI's `--retries`, `--timeout`).
pub fn set_tuning(retries: usize, timeout_secs: u64) {
    let _ = TUNING.set((retries, timeout_secs));
}

/// HTTP settings of a remote: tuning, its extra CA (or `ca`), a pacer named after it.
pub fn http_config(name: &str, rc: Option<&RemoteConfig>, ca: Option<&Path>) -> Result<HttpConfig> {
    let mut h = HttpConfig::default();
    if let Some(&(retries, timeout)) = TUNING.get() {
        h.retry.max_attempts = retries;
        h.read_timeout = std::time::Duration::from_secs(timeout);
    }
    let ca = ca
        .map(Path::to_path_buf)
        .or_else(|| rc.and_then(|r| r.get("ca_cert").map(PathBuf::from)));
    if let Some(p) = ca {
        h.extra_root_pem = Some(
            std::fs::read(&p)
                .map_err(|e| Error::from(e).context(format!("CA certificate {}", p.display())))?,
        );
    }
    h.pacer = Some(Arc::new(cloudmux_http::Pacer::new(name)));
    Ok(h)
}

/// The Google scopes for `services` (`default` when empty): drive, photos, calendar, sheets.
pub fn google_scopes(services: &[String], default: &str) -> Result<Vec<String>> {
    let names: Vec<&str> = if services.is_empty() {
        vec![default]
    } else {
        services.iter().map(String::as_str).collect()
    };
    let mut out = Vec::new();
    for s in names {
        out.push(match s {
            "drive" => google::Service::Drive,
            "photos" => google::Service::Photos,
            "calendar" => google::Service::Calendar,
            "sheets" => google::Service::Sheets,
            other => {
                return Err(Error::invalid(format!("unknown Google service {other:?}"))
                    .with_hint("use drive, photos, calendar or sheets"));
            }
        });
    }
    Ok(google::scopes_for(&out))
}

/// Puts the remote's name into hints that mention `<remote>`.
pub fn with_remote(e: Error, name: &str) -> Error {
    match e.hint().map(|h| h.replace("<remote>", name)) {
        Some(h) => e.with_hint(h),
        None => e,
    }
}

/// A remote's OAuth client id and secret.
pub fn client_credentials(name: &str, rc: &RemoteConfig) -> Result<(String, Secret)> {
    match (rc.get("client_id"), rc.get("client_secret")) {
        (Some(id), Some(s)) => Ok((id.to_string(), Secret::new(s.to_string()))),
        _ => Err(
            Error::invalid(format!("remote {name} has no OAuth client id/secret")).with_hint(
                format!(
                    "cloudmux remote add {name} --type {} --client-id … --client-secret …",
                    rc.kind
                ),
            ),
        ),
    }
}

/// The credentials of a remote, per its sign-in flow: stored user tokens renewed with the refresh token
/// (Google keeps it, Yandex rotates it), a service account, or none.
pub fn token_source(
    cfg: &Config,
    name: &str,
    rc: &RemoteConfig,
) -> Result<Option<Arc<dyn TokenSource>>> {
    let sign_in = crate::backend(&rc.kind)?.sign_in(rc)?;
    let http = http_config(name, Some(rc), None)?;
    Ok(match sign_in {
        SignIn::None => None,
        SignIn::GoogleServiceAccount { key, scopes } => {
            let raw = std::fs::read(&key).map_err(|e| {
                Error::from(e).context(format!("service-account key {}", key.display()))
            })?;
            let v: serde_json::Value = serde_json::from_slice(&raw)
                .map_err(|e| Error::invalid(format!("service-account key: {e}")))?;
            let ep = Endpoints::for_base(rc.endpoint());
            Some(cached(
                ServiceAccountRefresher {
                    api: google::oauth_api(http)?,
                    token_url: rc.endpoint().map(|_| ep.token.clone()),
                    account: ServiceAccount::from_json(&v)?,
                    scopes,
                },
                None,
            ))
        }
        SignIn::Google { .. } => {
            let stored = cfg.tokens().load(name)?;
            let (client_id, client_secret) = client_credentials(name, rc)?;
            let refresh_token = stored.refresh_token.clone().ok_or_else(|| {
                Error::new(
                    ErrorKind::ReauthRequired,
                    format!("remote {name} has no refresh token"),
                )
                .with_hint(format!("run: cloudmux auth login {name}"))
            })?;
            let r = OAuthRefresher::google(
                google::oauth_api(http)?,
                &Endpoints::for_base(rc.endpoint()),
                client_id,
                client_secret,
                refresh_token,
                Some((cfg.tokens(), name.to_string())),
            );
            Some(cached(r, initial_token(&stored)))
        }
        SignIn::Yandex => {
            let stored = cfg.tokens().load(name)?;
            let (client_id, client_secret) = client_credentials(name, rc)?;
            let r = OAuthRefresher::yandex(
                cloudmux_auth::oauth::oauth_api(http)?,
                &cloudmux_auth::yandex::Endpoints::for_base(rc.endpoint()),
                client_id,
                client_secret,
                stored.refresh_token.clone().unwrap_or_default(),
                Some((cfg.tokens(), name.to_string())),
            );
            Some(cached(r, initial_token(&stored)))
        }
    })
}

/// What opening remote `name` of `cfg` takes: its config, HTTP settings and credentials. Backend-specific
/// commands pass it to their backend's own functions (`gdrive::client`, `yadisk::storage`…); checks that
/// the remote is of `kind`, when given.
pub fn context<'a>(
    cfg: &Config,
    name: &'a str,
    rc: &'a RemoteConfig,
    kind: Option<&str>,
) -> Result<OpenCtx<'a>> {
    if let Some(k) = kind
        && rc.kind != k
    {
        return Err(Error::invalid(format!(
            "remote {name} is of type {}, not {k}",
            rc.kind
        )));
    }
    Ok(OpenCtx {
        name,
        config: rc,
        http: http_config(name, Some(rc), None)?,
        token: token_source(cfg, name, rc)?,
    })
}

/// Opens remote `name` as a storage.
pub async fn open(cfg: &Config, name: &str) -> Result<Arc<dyn Storage>> {
    let rc = cfg.remote(name)?;
    let b = crate::backend(&rc.kind).map_err(|e| e.context(format!("remote {name}")))?;
    b.open(context(cfg, name, rc, None)?)
        .await
        .map_err(|e| with_remote(e, name))
}

/// Opens remote `name`, or its folder `root` when not empty (a mount of a remote's sub-folder).
pub async fn open_at(cfg: &Config, name: &str, root: &str) -> Result<Arc<dyn Storage>> {
    let s = open(cfg, name).await?;
    if root.is_empty() {
        return Ok(s);
    }
    Ok(Arc::new(cloudmux_core::SubTree::new(
        s,
        cloudmux_core::path::normalize(root)?,
    )))
}
