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
