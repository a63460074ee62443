//! The config file (`$XDG_CONFIG_HOME/cloudmux/config.toml`, or `--config` / `CLOUDMUX_CONFIG`): one table per
//! remote. Tokens live beside it in `tokens/`, 0600; upload sessions in `state/uploads/`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use cloudmux_core::{Error, ErrorKind, Result};
use serde::{Deserialize, Serialize};

/// One remote.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct RemoteConfig {
    /// `gdrive`, `yadisk` or `local`.
    #[serde(rename = "type")]
    pub kind: String,
    /// OAuth client id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// OAuth client secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    /// Emulator/alternative base URL for every API and OAuth host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// Drive: folder id to use as root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root_folder_id: Option<String>,
    /// Drive: shared drive id to use as root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shared_drive_id: Option<String>,
    /// Drive: service-account key file instead of user sign-in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account_file: Option<PathBuf>,
    /// Extra CA certificate (PEM) to trust.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_cert: Option<PathBuf>,
    /// Yandex Disk: the root (`disk:/`, `app:/` or `disk:/some/folder`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root: Option<String>,
    /// Local: the folder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    /// Google services this remote signs in for (`drive`, `photos`, …); default `drive`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub services: Vec<String>,
}

/// What `remote add` (and the server's admin API) give to make a remote.
#[derive(clap::Args, Debug, Default)]
pub struct RemoteAdd {
    /// Name (letters, digits, `_`, `-`, `.`).
    pub name: String,
    /// Type: gdrive, gphotos, yadisk or local.
    #[arg(long = "type", value_name = "TYPE")]
    pub kind: String,
    /// OAuth client id (gdrive; a Desktop-app client from the Google Cloud console).
    #[arg(long)]
    pub client_id: Option<String>,
    /// OAuth client secret.
    #[arg(long)]
    pub client_secret: Option<String>,
    /// Base URL replacing every Google host (an emulator: http://127.0.0.1:4444).
    #[arg(long)]
    pub endpoint: Option<String>,
    /// Use this Drive folder id as the root.
    #[arg(long)]
    pub root_folder_id: Option<String>,
    /// Use this shared drive as the root.
    #[arg(long)]
    pub shared_drive_id: Option<String>,
    /// Sign in with a service-account key file instead of a user.
    #[arg(long)]
    pub service_account: Option<PathBuf>,
    /// Trust this extra CA certificate (PEM).
    #[arg(long)]
    pub ca_cert: Option<PathBuf>,
    /// Yandex Disk root: disk:/ (default), app:/ or disk:/some/folder (type yadisk).
    #[arg(long)]
    pub root: Option<String>,
    /// Local folder (type local).
    #[arg(long)]
    pub path: Option<PathBuf>,
    /// Google services to sign in for (drive, photos, calendar, sheets); default drive.
    #[arg(long, value_delimiter = ',')]
    pub services: Vec<String>,
}

impl RemoteAdd {
    /// Checks the settings and makes the remote's configuration (paths made absolute, the service-account
    /// key and the scopes checked).
    pub fn build(self) -> Result<RemoteConfig> {
        if !cloudmux_core::path::is_valid_remote_name(&self.name) {
            return Err(Error::invalid(format!("bad remote name {:?}", self.name))
                .with_hint("use 2-64 letters, digits, '_', '-' or '.'"));
        }
        let mut rc = RemoteConfig {
            kind: self.kind.clone(),
            ..Default::default()
        };
        match self.kind.as_str() {
            "gdrive" => {
                if self.service_account.is_none()
                    && (self.client_id.is_none() || self.client_secret.is_none())
                {
                    return Err(Error::invalid("a gdrive remote needs --client-id and --client-secret (or --service-account KEY.json)")
                        .with_hint("create a Desktop-app OAuth client in the Google Cloud console (APIs & Services → Credentials)"));
                }
                if let Some(sa) = &self.service_account {
                    let abs = std::fs::canonicalize(sa)
                        .map_err(|e| Error::from(e).context(sa.display()))?;
                    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&abs)?)
                        .map_err(|e| Error::invalid(format!("service-account key: {e}")))?;
                    cloudmux_auth::google::ServiceAccount::from_json(&v)?;
                    rc.service_account_file = Some(abs);
                }
                rc.client_id = self.client_id;
                rc.client_secret = self.client_secret;
                rc.root_folder_id = self.root_folder_id;
                rc.shared_drive_id = self.shared_drive_id;
                rc.services = self.services;
                crate::open::google_scopes(&rc)?;
            }
            "gphotos" => {
                if self.client_id.is_none() || self.client_secret.is_none() {
                    return Err(Error::invalid("a gphotos remote needs --client-id and --client-secret")
                        .with_hint("a Desktop-app OAuth client of a project with the Photos Library and Photos Picker APIs enabled"));
                }
                rc.client_id = self.client_id;
                rc.client_secret = self.client_secret;
                rc.services = if self.services.is_empty() {
                    vec!["photos".into()]
                } else {
                    self.services
                };
                rc.root = self.root.clone();
                crate::open::google_scopes(&rc)?;
            }
            "yadisk" => {
                if self.client_id.is_none() || self.client_secret.is_none() {
                    return Err(Error::invalid("a yadisk remote needs --client-id and --client-secret")
                        .with_hint("register an app at https://oauth.yandex.ru/client/new with Yandex Disk REST API permissions"));
                }
                rc.client_id = self.client_id;
                rc.client_secret = self.client_secret;
                if let Some(r) = &self.root {
                    if !(r.starts_with("disk:/") || r.starts_with("app:/")) {
                        return Err(Error::invalid(format!("bad --root {r:?}"))
                            .with_hint("use disk:/, app:/ or disk:/some/folder"));
                    }
                    rc.root = Some(r.clone());
                }
            }
            "local" => {
                let p = self
                    .path
                    .ok_or_else(|| Error::invalid("a local remote needs --path DIR"))?;
                let abs =
                    std::fs::canonicalize(&p).map_err(|e| Error::from(e).context(p.display()))?;
                if !abs.is_dir() {
                    return Err(Error::invalid(format!("{} is not a folder", abs.display())));
                }
                rc.path = Some(abs);
            }
            other => {
                return Err(Error::invalid(format!("unknown remote type {other:?}"))
                    .with_hint("types: gdrive, gphotos, yadisk, local"));
            }
        }
        if let Some(e) = &self.endpoint {
            url::Url::parse(e)
                .map_err(|err| Error::invalid(format!("bad --endpoint {e:?}: {err}")))?;
            rc.endpoint = Some(e.trim_end_matches('/').to_string());
        }
        if let Some(c) = &self.ca_cert {
            rc.ca_cert =
                Some(std::fs::canonicalize(c).map_err(|e| Error::from(e).context(c.display()))?);
        }
        Ok(rc)
    }
}

/// The whole config file.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct Config {
    /// Remotes by name.
    #[serde(default)]
    pub remotes: BTreeMap<String, RemoteConfig>,
    #[serde(skip)]
    path: PathBuf,
}

/// The config file to use.
pub fn config_path(flag: Option<&Path>) -> PathBuf {
    if let Some(p) = flag {
        return p.to_path_buf();
    }
    if let Some(p) = std::env::var_os("CLOUDMUX_CONFIG") {
        return PathBuf::from(p);
    }
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| ".".into())).join(".config")
        });
    base.join("cloudmux").join("config.toml")
}

impl Config {
    /// Loads the config (an absent file is an empty config).
    pub fn load(path: &Path) -> Result<Config> {
        let mut c: Config = match std::fs::read_to_string(path) {
            Ok(s) => toml::from_str(&s).map_err(|e| {
                Error::invalid(format!("config {}: {e}", path.display()))
                    .with_hint("fix the file or remove it and add the remotes again")
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Config::default(),
            Err(e) => return Err(Error::from(e).context(path.display())),
        };
        c.path = path.to_path_buf();
        Ok(c)
    }

    /// Saves it (0600: it holds client secrets).
    pub fn save(&self) -> Result<()> {
        let s = toml::to_string_pretty(self).map_err(|e| Error::invalid(e.to_string()))?;
        cloudmux_auth::store::write_private(&self.path, s.as_bytes())
    }

    /// The folder holding the config.
    pub fn dir(&self) -> PathBuf {
        self.path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| ".".into())
    }

    /// The token store.
    pub fn tokens(&self) -> cloudmux_auth::TokenStore {
        cloudmux_auth::TokenStore::new(self.dir().join("tokens"))
    }

    /// Where interrupted uploads keep their sessions.
    pub fn upload_state_dir(&self) -> PathBuf {
        self.dir().join("state").join("uploads")
    }

    /// A remote by name, with a hint listing the known ones.
    pub fn remote(&self, name: &str) -> Result<&RemoteConfig> {
        self.remotes.get(name).ok_or_else(|| {
            let known: Vec<&str> = self.remotes.keys().map(String::as_str).collect();
            Error::new(ErrorKind::NotFound, format!("no remote named {name:?}")).with_hint(if known.is_empty() {
                "add one: cloudmux remote add NAME --type gdrive --client-id … --client-secret …".to_string()
            } else {
                format!("known remotes: {}", known.join(", "))
            })
        })
    }
}
