//! Addresses (`REMOTE:path`, `REMOTE:id:ID`, local paths) resolved into a storage and a path; opening the
//! remotes themselves is the registry's ([`cloudmux_remote::open()`]).

use std::path::PathBuf;
use std::sync::Arc;

use cloudmux_core::{RemotePath, Result, Storage};
use cloudmux_local::LocalStorage;

pub use cloudmux_remote::open;
pub use cloudmux_remote::open::{context, http_config, set_tuning, with_remote};

use crate::config::Config;

/// Where an address points: a storage and a path inside it (or an id, for `name:id:ID`).
pub struct Loc {
    /// The storage (for plain local paths, a [`LocalStorage`] on their folder).
    pub storage: Arc<dyn Storage>,
    /// The path inside the storage.
    pub path: String,
    /// The id, for `name:id:ID` addresses.
    pub id: Option<String>,
    /// The remote's name (`None` for plain local paths).
    pub remote: Option<String>,
    /// The folder of a plain local path.
    pub local_root: Option<PathBuf>,
    /// How the user wrote it.
    pub shown: String,
}

/// A Drive client for remote `name` (Drive's own commands).
pub fn drive_client(cfg: &Config, name: &str) -> Result<cloudmux_gdrive::DriveClient> {
    let rc = cfg.remote(name)?;
    cloudmux_remote::backends::gdrive::client(&context(cfg, name, rc, Some("gdrive"))?)
}

/// The Drive storage of remote `name` (Drive's own commands).
pub async fn drive_storage(
    cfg: &Config,
    name: &str,
) -> Result<Arc<cloudmux_gdrive::GDriveStorage>> {
    let rc = cfg.remote(name)?;
    cloudmux_remote::backends::gdrive::storage(context(cfg, name, rc, Some("gdrive"))?).await
}

/// A Photos Library client for remote `name` (Photos' own commands).
pub fn photos_client(cfg: &Config, name: &str) -> Result<cloudmux_gphotos::PhotosClient> {
    let rc = cfg.remote(name)?;
    cloudmux_remote::backends::gphotos::client(&context(cfg, name, rc, Some("gphotos"))?)
}

/// A Photos Picker client for remote `name`.
pub fn picker_client(cfg: &Config, name: &str) -> Result<cloudmux_gphotos::PickerClient> {
    let rc = cfg.remote(name)?;
    cloudmux_remote::backends::gphotos::picker(&context(cfg, name, rc, Some("gphotos"))?)
}

/// A Yandex Disk client for remote `name` (Yandex's own commands).
pub fn yadisk_client(cfg: &Config, name: &str) -> Result<cloudmux_yadisk::YadiskClient> {
    let rc = cfg.remote(name)?;
    cloudmux_remote::backends::yadisk::client(&context(cfg, name, rc, Some("yadisk"))?)
}

/// The Yandex Disk storage of remote `name` (Yandex's own commands).
pub fn yadisk_storage(cfg: &Config, name: &str) -> Result<Arc<cloudmux_yadisk::YadiskStorage>> {
    let rc = cfg.remote(name)?;
    cloudmux_remote::backends::yadisk::storage(&context(cfg, name, rc, Some("yadisk"))?)
}

/// Resolves an address. Plain local paths are served by a [`LocalStorage`] on their parent folder (or on the
/// folder itself when it is one).
pub async fn locate(cfg: &Config, addr: &str) -> Result<Loc> {
    match RemotePath::parse(addr)? {
        RemotePath::Remote { remote, path } => Ok(Loc {
            storage: open(cfg, &remote).await?,
            path,
            id: None,
            remote: Some(remote),
            local_root: None,
            shown: addr.to_string(),
        }),
        RemotePath::Id { remote, id } => {
            let storage = open(cfg, &remote).await?;
            if !storage.capabilities().ids {
                return Err(cloudmux_core::Error::unsupported(
                    format!("{remote} ({}) has no ids", storage.kind()),
                    "use a path: REMOTE:path/to/file",
                ));
            }
            Ok(Loc {
                storage,
                path: String::new(),
                id: Some(id),
                remote: Some(remote),
                local_root: None,
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
                local_root: Some(l.root().to_path_buf()),
                storage: Arc::new(l),
                path: name,
                id: None,
                remote: None,
                shown: addr.to_string(),
            })
        }
    }
}
