//! The remotes a server mounts from, adds and signs in: the [`Remotes`] a server is given, and
//! [`ConfigRemotes`], the ones of a config file (what `cloudmux serve` uses).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use cloudmux_core::{Error, ErrorKind, Result, Storage};
use cloudmux_http::Secret;

use crate::backend::SignIn;
use crate::config::Config;

/// A remote the server can mount.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RemoteInfo {
    /// Its name.
    pub name: String,
    /// Its kind.
    pub kind: String,
}

/// A remote to add: its name, kind and options as text (the form of the admin page, or JSON).
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
pub struct NewRemote {
    /// Its name.
    pub name: String,
    /// Its kind.
    pub kind: String,
    /// Its options by name.
    #[serde(flatten)]
    pub options: BTreeMap<String, String>,
}

impl NewRemote {
    /// An option's value, when given and not empty.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.options
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }
}

/// What signing a remote in needs.
#[derive(Debug, Clone)]
pub struct RemoteOAuth {
    /// Its flow.
    pub sign_in: SignIn,
    /// OAuth client id.
    pub client_id: String,
    /// OAuth client secret.
    pub client_secret: Secret,
    /// Alternative base URL of the OAuth server (the emulator), if any.
    pub endpoint: Option<String>,
    /// Yandex `device_id` and `device_name`.
    pub device: Option<(String, String)>,
}

/// Where a server finds remotes to mount.
#[async_trait]
pub trait Remotes: Send + Sync {
    /// The remotes there are.
    fn list(&self) -> Vec<RemoteInfo>;
    /// Opens one, rooted at `root` (empty: its root).
    async fn open(&self, name: &str, root: &str) -> Result<Arc<dyn Storage>>;
    /// Adds a remote (AlreadyExists when the name is taken).
    fn add(&self, _r: &NewRemote) -> Result<()> {
        Err(Error::new(
            ErrorKind::Unsupported,
            "remotes cannot be added to this server",
        ))
    }
    /// What signing `name` in needs.
    fn oauth(&self, name: &str) -> Result<RemoteOAuth> {
        Err(Error::new(
            ErrorKind::Unsupported,
            format!("{name} cannot be signed in from this server"),
        ))
    }
    /// Keeps the tokens of `name` (0600).
    fn save_token(&self, name: &str, _t: cloudmux_auth::StoredToken) -> Result<()> {
        Err(Error::new(
            ErrorKind::Unsupported,
            format!("tokens of {name} cannot be kept by this server"),
        ))
    }
}

impl std::fmt::Debug for dyn Remotes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.list()).finish()
    }
}

/// The remotes of a config file (added ones are saved to it, tokens beside it).
pub struct ConfigRemotes(Mutex<Config>);

impl ConfigRemotes {
    /// Over a copy of `cfg`.
    pub fn new(cfg: &Config) -> Self {
        ConfigRemotes(Mutex::new(cfg.clone()))
    }

    fn config(&self) -> Config {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

#[async_trait]
impl Remotes for ConfigRemotes {
    fn list(&self) -> Vec<RemoteInfo> {
        self.config()
            .remotes
            .iter()
            .map(|(name, r)| RemoteInfo {
                name: name.clone(),
                kind: r.kind.clone(),
            })
            .collect()
    }

    async fn open(&self, name: &str, root: &str) -> Result<Arc<dyn Storage>> {
        crate::open_at(&self.config(), name, root).await
    }

    fn add(&self, r: &NewRemote) -> Result<()> {
        // The same checks as `cloudmux remote add`.
        let rc = crate::build(&r.name, &r.kind, &r.options)?;
        let mut cfg = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if cfg.remotes.contains_key(&r.name) {
            return Err(Error::new(
                ErrorKind::AlreadyExists,
                format!("a remote named {} exists", r.name),
            ));
        }
        cfg.remotes.insert(r.name.clone(), rc);
        cfg.save()
    }

    fn oauth(&self, name: &str) -> Result<RemoteOAuth> {
        let cfg = self.config();
        let rc = cfg.remote(name)?;
        let sign_in = crate::backend(&rc.kind)?.sign_in(rc)?;
        let (client_id, client_secret) = crate::open::client_credentials(name, rc)?;
        Ok(RemoteOAuth {
            sign_in,
            client_id,
            client_secret,
            endpoint: rc.endpoint().map(str::to_string),
            device: Some(cloudmux_auth::yandex::device_identity(&cfg.dir())),
        })
    }

    fn save_token(&self, name: &str, t: cloudmux_auth::StoredToken) -> Result<()> {
        self.config().tokens().save(name, &t).map(|_| ())
    }
}
