//! Mounts as the server keeps them: which remotes may be added and where they may point
//! ([`RemotePolicy`], the operator's choice), and mounting a saved row into the tree.

use cloudmux_core::{Error, ErrorKind, Result};
use cloudmux_remote::{NewRemote, OptionKind};

use std::sync::Arc;

use cloudmux_remote::Remotes;

use crate::house::db::MountRow;
use crate::house::tree::{Mount, Tree, clean};

/// What remotes added through the admin API may point at, decided by the server's operator (`cloudmux
/// serve --allow-endpoint URL --local-root DIR`). By default nothing: an administrator of the web page is
/// not the operator of the machine, and an endpoint is where the server sends its users' OAuth tokens and
/// from where it relays answers, and a local folder is read and written with the server's own rights.
#[derive(Debug, Clone, Default)]
pub struct RemotePolicy {
    /// Base URLs an `endpoint` may be (or lie below).
    pub endpoints: Vec<String>,
    /// Folders under which a local remote may be rooted.
    pub local_roots: Vec<std::path::PathBuf>,
    /// Folders a local remote may never reach, nor contain: the server's data and configuration.
    pub private: Vec<std::path::PathBuf>,
}

impl RemotePolicy {
    /// Refuses `r` unless every URL option of its kind (an endpoint) and every path option (a local
    /// folder, a CA file) is one the operator allowed. Which options those are comes from the registry, so
    /// a new kind of remote is covered without a change here.
    pub fn check(&self, r: &NewRemote) -> Result<()> {
        let backend = cloudmux_remote::backend(&r.kind)?;
        for spec in backend.options() {
            let Some(value) = r.get(spec.name) else {
                continue;
            };
            match spec.kind {
                OptionKind::Url => self.check_url(spec.name, value)?,
                OptionKind::Path => self.check_path(spec.name, value)?,
                OptionKind::Text | OptionKind::Secret | OptionKind::List => {}
            }
        }
        Ok(())
    }

    fn check_url(&self, option: &str, url: &str) -> Result<()> {
        let url = url.trim_end_matches('/');
        let ok = self.endpoints.iter().any(|a| {
            let a = a.trim_end_matches('/');
            url == a
                || url
                    .strip_prefix(a)
                    .is_some_and(|rest| rest.starts_with('/'))
        });
        if ok {
            return Ok(());
        }
        Err(Error::new(
            ErrorKind::PermissionDenied,
            format!("this server does not allow that {option}"),
        )
        .with_hint(format!(
            "leave {option} empty for the real service, or ask the server's operator to start it with \
             --allow-endpoint URL"
        )))
    }

    fn check_path(&self, option: &str, path: &str) -> Result<()> {
        let refuse = |why: &str| {
            Error::new(
                ErrorKind::PermissionDenied,
                format!("{option} refused: {why}"),
            )
            .with_hint(
                "paths of remotes added from the web must lie in a folder the operator allowed with \
                 --local-root DIR, away from the server's own data",
            )
        };
        let canon = std::fs::canonicalize(path)
            .map_err(|_| refuse("it does not exist or cannot be read"))?;
        let under =
            |dir: &std::path::Path| std::fs::canonicalize(dir).is_ok_and(|d| canon.starts_with(d));
        if !self.local_roots.iter().any(|d| under(d)) {
            return Err(refuse("it is not in a folder the operator allowed"));
        }
        for p in &self.private {
            let p = std::fs::canonicalize(p).unwrap_or_else(|_| p.clone());
            if canon.starts_with(&p) || p.starts_with(&canon) {
                return Err(refuse("it holds or lies in the server's own data"));
            }
        }
        Ok(())
    }
}

/// Which saved mounts this process has mounted, by path (to follow changes made by other processes).
pub type Active = std::sync::Mutex<std::collections::HashMap<String, MountRow>>;

/// Mounts `m` in `tree` now (opening its remote from `remotes`), without saving it; records it in
/// `active`.
pub async fn mount_now(
    tree: &Tree,
    remotes: Option<&Arc<dyn Remotes>>,
    active: &Active,
    m: MountRow,
) -> Result<()> {
    let remotes = remotes.ok_or_else(|| {
        Error::new(
            ErrorKind::Unsupported,
            "this server has no remotes to mount",
        )
    })?;
    let m = MountRow {
        path: clean(&m.path)?,
        ..m
    };
    let storage = remotes.open(&m.remote, &m.root).await?;
    tree.mount(Mount {
        path: m.path.clone(),
        storage,
        read_only: m.read_only,
        direct_links: m.direct_links,
        guest: m.guest,
    })?;
    active
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(m.path.clone(), m);
    Ok(())
}
