//! Turning a remote's config into a client and a [`Storage`], and addresses into (storage, path) pairs.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use cloudmux_auth::google::{self, Endpoints, ServiceAccount};
use cloudmux_auth::source::{GoogleRefresher, ServiceAccountRefresher, cached, initial_token};
use cloudmux_core::{Error, ErrorKind, RemotePath, Result, Storage};
use cloudmux_gdrive::{DriveClient, DriveConfig, GDriveStorage, RootSpec};
use cloudmux_http::{HttpConfig, Secret, TokenSource};
use cloudmux_local::LocalStorage;

use crate::config::{Config, RemoteConfig};

static TUNING: std::sync::OnceLock<(usize, u64)> = std::sync::OnceLock::new();

/// Sets the global `--retries` and `--timeout`.
pub fn set_tuning(retries: usize, timeout_secs: u64) {
    let _ = TUNING.set((retries, timeout_secs));
}

/// HTTP settings of a remote (extra CA, `--retries`, `--timeout`).
pub fn http_config(rc: Option<&RemoteConfig>, ca: Option<&Path>) -> Result<HttpConfig> {
    let mut h = HttpConfig::default();
    if let Some(&(retries, timeout)) = TUNING.get() {
        h.retry.max_attempts = retries;
        h.read_timeout = std::time::Duration::from_secs(timeout);
    }
    if let Some(p) = ca.or(rc.and_then(|r| r.ca_cert.as_deref())) {
        h.extra_root_pem = Some(
            std::fs::read(p)
                .map_err(|e| Error::from(e).context(format!("CA certificate {}", p.display())))?,
        );
    }
    Ok(h)
}

/// `h` with a pacer named after the remote, which every request to it goes through.
fn paced(mut h: HttpConfig, name: &str) -> HttpConfig {
    h.pacer = Some(Arc::new(cloudmux_http::Pacer::new(name)));
    h
}

/// The Google scopes a remote signs in for.
pub fn google_scopes(rc: &RemoteConfig) -> Result<Vec<String>> {
    let mut services = Vec::new();
    let names: Vec<&str> = if rc.services.is_empty() {
        vec!["drive"]
    } else {
        rc.services.iter().map(String::as_str).collect()
    };
    for s in names {
        services.push(match s {
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
    Ok(google::scopes_for(&services))
}

fn client_credentials(name: &str, rc: &RemoteConfig) -> Result<(String, Secret)> {
    match (&rc.client_id, &rc.client_secret) {
        (Some(id), Some(s)) => Ok((id.clone(), Secret::new(s.clone()))),
        _ => Err(
            Error::invalid(format!("remote {name} has no OAuth client id/secret")).with_hint(
                format!("cloudmux remote add {name} --type gdrive --client-id … --client-secret …"),
            ),
        ),
    }
}

/// The token source of a Google remote: a service account, or the stored user tokens renewed with the
/// refresh token.
pub fn google_token_source(
    cfg: &Config,
    name: &str,
    rc: &RemoteConfig,
) -> Result<Arc<dyn TokenSource>> {
    let http = http_config(Some(rc), None)?;
    let api = google::oauth_api(http)?;
    let ep = Endpoints::for_base(rc.endpoint.as_deref());
    if let Some(f) = &rc.service_account_file {
        let raw = std::fs::read(f)
            .map_err(|e| Error::from(e).context(format!("service-account key {}", f.display())))?;
        let v: serde_json::Value = serde_json::from_slice(&raw)
            .map_err(|e| Error::invalid(format!("service-account key: {e}")))?;
        let account = ServiceAccount::from_json(&v)?;
        let token_url = rc.endpoint.as_ref().map(|_| ep.token.clone());
        return Ok(cached(
            ServiceAccountRefresher {
                api,
                token_url,
                account,
                scopes: google_scopes(rc)?,
            },
            None,
        ));
    }
    let stored = cfg.tokens().load(name)?;
    let (client_id, client_secret) = client_credentials(name, rc)?;
    let refresh_token = stored.refresh_token.clone().ok_or_else(|| {
        Error::new(
            ErrorKind::ReauthRequired,
            format!("remote {name} has no refresh token"),
        )
        .with_hint(format!("run: cloudmux auth login {name}"))
    })?;
    let r = GoogleRefresher {
        api,
        endpoints: ep,
        client_id,
        client_secret,
        store: Some((cfg.tokens(), name.to_string())),
        refresh_token,
    };
    Ok(cached(r, initial_token(&stored)))
}

/// A Drive client for a gdrive remote.
pub fn drive_client(cfg: &Config, name: &str) -> Result<DriveClient> {
    let rc = cfg.remote(name)?;
    if rc.kind != "gdrive" {
        return Err(Error::invalid(format!(
            "remote {name} is of type {}, not gdrive",
            rc.kind
        )));
    }
    let token = google_token_source(cfg, name, rc)?;
    let dc = DriveConfig {
        endpoint: rc.endpoint.clone(),
        http: paced(http_config(Some(rc), None)?, name),
        ..DriveConfig::default()
    };
    DriveClient::new(dc, token)
}

/// A Photos client for a gphotos remote.
pub fn photos_client(cfg: &Config, name: &str) -> Result<cloudmux_gphotos::PhotosClient> {
    let rc = cfg.remote(name)?;
    if rc.kind != "gphotos" {
        return Err(Error::invalid(format!(
            "remote {name} is of type {}, not gphotos",
            rc.kind
        )));
    }
    let token = google_token_source(cfg, name, rc)?;
    let pc = cloudmux_gphotos::PhotosConfig {
        endpoint: rc.endpoint.clone(),
        http: paced(http_config(Some(rc), None)?, name),
        ..Default::default()
    };
    cloudmux_gphotos::PhotosClient::new(pc, token)
}

/// The token source of a Yandex remote: stored tokens renewed with the (rotating) refresh token.
pub fn yandex_token_source(
    cfg: &Config,
    name: &str,
    rc: &RemoteConfig,
) -> Result<Arc<dyn TokenSource>> {
    let api = cloudmux_auth::oauth::oauth_api(http_config(Some(rc), None)?)?;
    let stored = cfg.tokens().load(name)?;
    let (client_id, client_secret) = client_credentials(name, rc)?;
    let r = cloudmux_auth::source::YandexRefresher {
        api,
        endpoints: cloudmux_auth::yandex::Endpoints::for_base(rc.endpoint.as_deref()),
        client_id,
        client_secret,
        store: Some((cfg.tokens(), name.to_string())),
        refresh_token: std::sync::Mutex::new(stored.refresh_token.clone().unwrap_or_default()),
    };
    Ok(cached(r, initial_token(&stored)))
}

/// A Yandex Disk client for a yadisk remote.
pub fn yadisk_client(cfg: &Config, name: &str) -> Result<cloudmux_yadisk::YadiskClient> {
    let rc = cfg.remote(name)?;
    if rc.kind != "yadisk" {
        return Err(Error::invalid(format!(
            "remote {name} is of type {}, not yadisk",
            rc.kind
        )));
    }
    let token = yandex_token_source(cfg, name, rc)?;
    let yc = cloudmux_yadisk::YadiskConfig {
        endpoint: rc.endpoint.clone(),
        http: paced(http_config(Some(rc), None)?, name),
        ..Default::default()
    };
    cloudmux_yadisk::YadiskClient::new(yc, token)
}

/// An opened remote.
#[derive(Clone)]
pub enum Opened {
    /// Google Drive.
    Drive(Arc<GDriveStorage>),
    /// Yandex Disk.
    Yadisk(Arc<cloudmux_yadisk::YadiskStorage>),
    /// Google Photos.
    Photos(Arc<cloudmux_gphotos::GPhotosStorage>),
    /// A local folder.
    Local(Arc<LocalStorage>),
}

impl Opened {
    /// As a generic storage.
    pub fn storage(&self) -> Arc<dyn Storage> {
        match self {
            Opened::Drive(d) => d.clone(),
            Opened::Yadisk(y) => y.clone(),
            Opened::Photos(p) => p.clone(),
            Opened::Local(l) => l.clone(),
        }
    }
}

/// Opens a remote by name.
pub async fn open(cfg: &Config, name: &str) -> Result<Opened> {
    let rc = cfg.remote(name)?;
    match rc.kind.as_str() {
        "gdrive" => {
            let client = drive_client(cfg, name)?;
            let root = match (&rc.shared_drive_id, &rc.root_folder_id) {
                (Some(d), _) => Some(RootSpec::SharedDrive(d.clone())),
                (None, Some(f)) => Some(RootSpec::Folder(f.clone())),
                _ => None,
            };
            Ok(Opened::Drive(Arc::new(
                GDriveStorage::new(client, root)
                    .await
                    .map_err(|e| with_remote(e, name))?,
            )))
        }
        "gphotos" => {
            let client = photos_client(cfg, name)?;
            let root = rc.root.as_deref().unwrap_or("root");
            Ok(Opened::Photos(Arc::new(
                cloudmux_gphotos::GPhotosStorage::new(client, root)?,
            )))
        }
        "yadisk" => {
            let client = yadisk_client(cfg, name)?;
            let root = rc.root.as_deref().unwrap_or("disk:/");
            Ok(Opened::Yadisk(Arc::new(
                cloudmux_yadisk::YadiskStorage::new(client, root)?,
            )))
        }
        "local" => {
            let p = rc
                .path
                .as_ref()
                .ok_or_else(|| Error::invalid(format!("local remote {name} has no path")))?;
            Ok(Opened::Local(Arc::new(LocalStorage::new(p)?)))
        }
        other => Err(
            Error::invalid(format!("remote {name} has unknown type {other:?}"))
                .with_hint("types: gdrive, gphotos, yadisk, local"),
        ),
    }
}

/// Puts the remote's name into hints that mention `<remote>`.
pub fn with_remote(e: Error, name: &str) -> Error {
    match e.hint().map(|h| h.replace("<remote>", name)) {
        Some(h) => e.with_hint(h),
        None => e,
    }
}

/// Where an address points: a storage and a path inside it (or an id, for `name:id:ID`).
pub struct Loc {
    /// The opened remote (`None` for plain local paths, which get a [`LocalStorage`] on their folder).
    pub opened: Opened,
    /// The path inside the storage.
    pub path: String,
    /// The id, for `name:id:ID` addresses.
    pub id: Option<String>,
    /// The remote's name (`None` for plain local paths).
    pub remote: Option<String>,
    /// How the user wrote it.
    pub shown: String,
}

/// Resolves an address. Plain local paths are served by a [`LocalStorage`] on their parent folder (or on the
/// folder itself when `want_dir`).
pub async fn locate(cfg: &Config, addr: &str) -> Result<Loc> {
    match RemotePath::parse(addr)? {
        RemotePath::Remote { remote, path } => {
            let opened = open(cfg, &remote).await?;
            Ok(Loc {
                opened,
                path,
                id: None,
                remote: Some(remote),
                shown: addr.to_string(),
            })
        }
        RemotePath::Id { remote, id } => {
            let opened = open(cfg, &remote).await?;
            if !matches!(opened, Opened::Drive(_)) {
                return Err(Error::unsupported(
                    format!("{remote} has no ids"),
                    "use a path: REMOTE:path/to/file",
                ));
            }
            Ok(Loc {
                opened,
                path: String::new(),
                id: Some(id),
                remote: Some(remote),
                shown: addr.to_string(),
            })
        }
        RemotePath::Local(p) => {
            let abs = if p.is_absolute() {
                p.clone()
            } else {
                std::env::current_dir()?.join(&p)
            };
            let (dir, name) = if abs.is_dir() {
                (abs.clone(), String::new())
            } else {
                let name = abs
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                (
                    abs.parent()
                        .map(PathBuf::from)
                        .unwrap_or_else(|| "/".into()),
                    name,
                )
            };
            let l = LocalStorage::new(&dir)?;
            Ok(Loc {
                opened: Opened::Local(Arc::new(l)),
                path: name,
                id: None,
                remote: None,
                shown: addr.to_string(),
            })
        }
    }
}
