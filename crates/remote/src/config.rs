//! The config file (`$XDG_CONFIG_HOME/cloudmux/config.toml`, or `--config` / `CLOUDMUX_CONFIG`): one table per
//! remote, its `type` naming the backend and the rest its options (each backend reads them into its own
//! typed struct, refusing unknown ones). Tokens live beside it in `tokens/`, 0600; upload sessions in
//! `state/uploads/`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use cloudmux_core::{Error, ErrorKind, Result};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// One remote: its kind and its options.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RemoteConfig {
    /// The backend's kind (`gdrive`, `gphotos`, `yadisk`, `local`, …).
    #[serde(rename = "type")]
    pub kind: String,
    /// The options, as the backend's [`crate::OptionSpec`]s name them.
    #[serde(flatten)]
    pub options: toml::Table,
}

impl RemoteConfig {
    /// A remote of `kind` without options.
    pub fn new(kind: impl Into<String>) -> Self {
        RemoteConfig {
            kind: kind.into(),
            options: toml::Table::new(),
        }
    }

    /// A text option.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.options.get(name).and_then(|v| v.as_str())
    }

    /// A list option.
    pub fn list(&self, name: &str) -> Vec<String> {
        match self.options.get(name) {
            Some(toml::Value::Array(a)) => a
                .iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect(),
            Some(toml::Value::String(s)) => s
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect(),
            _ => Vec::new(),
        }
    }

    /// Sets a text option (`None` removes it).
    pub fn set(&mut self, name: &str, value: Option<String>) {
        match value {
            Some(v) => self
                .options
                .insert(name.to_string(), toml::Value::String(v)),
            None => self.options.remove(name),
        };
    }

    /// The options as a backend's typed struct (which refuses unknown options).
    pub fn typed<T: DeserializeOwned>(&self) -> Result<T> {
        toml::Value::Table(self.options.clone())
            .try_into()
            .map_err(|e| {
                Error::invalid(format!("remote of type {}: {e}", self.kind)).with_hint(
                    "fix the remote's table in the config file, or remove and add it again",
                )
            })
    }

    /// The endpoint option.
    pub fn endpoint(&self) -> Option<&str> {
        self.get("endpoint")
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
        cloudmux_core::fs::write_private(&self.path, s.as_bytes())
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
            Error::new(ErrorKind::NotFound, format!("no remote named {name:?}")).with_hint(
                if known.is_empty() {
                    "add one: cloudmux remote add NAME --type KIND … (cloudmux remote add --help)"
                        .to_string()
                } else {
                    format!("known remotes: {}", known.join(", "))
                },
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remotes_keep_their_type_and_options_in_one_table() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("config.toml");
        let mut c = Config::load(&p).unwrap();
        let mut rc = RemoteConfig::new("gdrive");
        rc.set("client_id", Some("id".into()));
        c.remotes.insert("gd".into(), rc.clone());
        c.save().unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(
            text.contains("[remotes.gd]") && text.contains("type = \"gdrive\""),
            "{text}"
        );
        let back = Config::load(&p).unwrap();
        assert_eq!(back.remote("gd").unwrap(), &rc);
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
}
