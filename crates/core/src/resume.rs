//! Keeping the sessions of interrupted resumable uploads between runs, so a re-run continues an upload
//! where the service says it stands instead of sending the whole file again.
//!
//! A caller that wants this passes a [`Resume`] in [`crate::WriteOptions`]: a key naming *this* source
//! (its path, size and modification time, say) and a [`SessionStore`]. A backend with resumable sessions
//! derives its own key from that one and its destination, saves the session before sending, looks it up
//! first on the next write, and removes it when the upload completes.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::fs::write_private;

/// Where the sessions of unfinished uploads are kept (keys are lowercase hex, values small JSON texts).
pub trait SessionStore: Send + Sync {
    /// The value saved under `key`, if any.
    fn load(&self, key: &str) -> Option<String>;
    /// Saves `value` under `key`, replacing what was there.
    fn save(&self, key: &str, value: &str) -> Result<()>;
    /// Forgets `key` (nothing happens when it is absent).
    fn remove(&self, key: &str);
}

/// What a write needs to be resumable across runs.
#[derive(Clone)]
pub struct Resume {
    /// Names the source and its version (the same bytes must give the same key, other bytes another).
    pub key: String,
    /// Where sessions are kept.
    pub store: Arc<dyn SessionStore>,
}

impl Resume {
    /// Sessions in `store` for the file `e` of the source named `source` (an address or absolute path): the
    /// key carries its size, modification time and hashes, so other bytes never resume this session.
    pub fn of(store: Arc<dyn SessionStore>, source: &str, e: &crate::Entry) -> Self {
        Resume {
            key: format!(
                "{source}|{:?}|{:?}|{:?}|{:?}",
                e.size, e.modified, e.hashes.md5, e.hashes.sha256
            ),
            store,
        }
    }
}

impl fmt::Debug for Resume {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Resume").field("key", &self.key).finish()
    }
}

/// Sessions as files `KEY.json` in a folder, created 0700 and written 0600 (session URIs are bearer
/// capabilities: whoever has one can upload into the file).
#[derive(Debug, Clone)]
pub struct DirSessions {
    dir: PathBuf,
}

impl DirSessions {
    /// Sessions under `dir` (created on the first save).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        DirSessions { dir: dir.into() }
    }

    fn file(&self, key: &str) -> Option<PathBuf> {
        let ok = !key.is_empty()
            && key.len() <= 128
            && key
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        ok.then(|| self.dir.join(format!("{key}.json")))
    }
}

impl SessionStore for DirSessions {
    fn load(&self, key: &str) -> Option<String> {
        std::fs::read_to_string(self.file(key)?).ok()
    }

    fn save(&self, key: &str, value: &str) -> Result<()> {
        let path = self
            .file(key)
            .ok_or_else(|| Error::invalid(format!("session key {key:?} is not lowercase hex")))?;
        write_private(&path, value.as_bytes())
    }

    fn remove(&self, key: &str) {
        if let Some(p) = self.file(key) {
            let _ = std::fs::remove_file(p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saves_private_files_and_refuses_odd_keys() {
        let dir = std::env::temp_dir().join(format!("cloudmux-sessions-{}", std::process::id()));
        let s = DirSessions::new(&dir);
        assert_eq!(s.load("ab12"), None);
        s.save("ab12", "{\"uri\":\"x\"}").unwrap();
        assert_eq!(s.load("ab12").as_deref(), Some("{\"uri\":\"x\"}"));
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.join("ab12.json"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(s.save("../etc/passwd", "x").is_err());
        assert!(s.save("AB", "x").is_err());
        assert_eq!(s.load("../ab12"), None);
        s.remove("ab12");
        assert_eq!(s.load("ab12"), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
