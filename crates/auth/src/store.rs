//! The token store: one JSON file per remote, mode 0600, replaced atomically.

use std::path::PathBuf;

use cloudmux_core::{Error, ErrorKind, Result};
use cloudmux_http::Secret;
use serde::{Deserialize, Serialize};

/// Tokens of one remote as kept on disk.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct StoredToken {
    /// Access token.
    pub access_token: Secret,
    /// Refresh token (absent for service accounts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<Secret>,
    /// Expiry, seconds since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<u64>,
    /// Granted scopes, space-separated.
    #[serde(default)]
    pub scope: String,
    /// `Bearer` (Google) or `bearer` (Yandex).
    #[serde(default)]
    pub token_type: String,
}

impl StoredToken {
    /// Whether a scope (full URL or short name) was granted.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scope
            .split_whitespace()
            .any(|s| s == scope || s.rsplit('/').next() == Some(scope))
    }
}

/// Where tokens live.
#[derive(Debug, Clone)]
pub struct TokenStore {
    dir: PathBuf,
}

impl TokenStore {
    /// A store in `dir` (created 0700 on first save).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        TokenStore { dir: dir.into() }
    }

    /// The file of `remote`.
    pub fn path(&self, remote: &str) -> PathBuf {
        self.dir.join(format!("{remote}.token.json"))
    }

    /// Loads a remote's tokens; NotFound with a hint when it never signed in.
    pub fn load(&self, remote: &str) -> Result<StoredToken> {
        let p = self.path(remote);
        let data = std::fs::read(&p).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                Error::new(
                    ErrorKind::ReauthRequired,
                    format!("remote {remote:?} is not signed in"),
                )
                .with_hint(format!("run: cloudmux auth login {remote}"))
            } else {
                Error::from(e).context(p.display())
            }
        })?;
        serde_json::from_slice(&data).map_err(|e| {
            Error::invalid(format!("token file {} is damaged: {e}", p.display()))
                .with_hint(format!("run: cloudmux auth login {remote}"))
        })
    }

    /// Saves a remote's tokens with mode 0600, atomically (temp file + rename).
    pub fn save(&self, remote: &str, t: &StoredToken) -> Result<PathBuf> {
        write_private(
            &self.path(remote),
            &serde_json::to_vec_pretty(t).map_err(|e| Error::invalid(e.to_string()))?,
        )?;
        Ok(self.path(remote))
    }

    /// Deletes a remote's tokens; true when there were any.
    pub fn remove(&self, remote: &str) -> Result<bool> {
        match std::fs::remove_file(self.path(remote)) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e.into()),
        }
    }
}

pub use cloudmux_core::fs::write_private;

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn saves_0600_and_loads() {
        let d = tempfile::tempdir().unwrap();
        let s = TokenStore::new(d.path().join("tokens"));
        let t = StoredToken {
            access_token: Secret::new("a"),
            refresh_token: Some(Secret::new("r")),
            scope: "https://www.googleapis.com/auth/drive".into(),
            ..Default::default()
        };
        let p = s.save("gd", &t).unwrap();
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let back = s.load("gd").unwrap();
        assert_eq!(back.refresh_token.as_ref().unwrap().expose(), "r");
        assert!(back.has_scope("drive"));
        assert!(!back.has_scope("drive.readonly"));
        assert_eq!(
            s.load("other").unwrap_err().kind(),
            ErrorKind::ReauthRequired
        );
        assert!(s.remove("gd").unwrap());
    }
}
