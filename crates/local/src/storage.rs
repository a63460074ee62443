//! The [`Storage`] impl for a folder of the local file system.

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use cloudmux_core::path::{file_name, normalize, parent};
use cloudmux_core::{
    About, ByteRange, ByteStream, Capabilities, DeleteMode, Entry, Error, ErrorKind, PageStream,
    Result, Storage, WriteOptions,
};
use futures_util::StreamExt;
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

const PAGE: usize = 1000;
const PART_MARK: &str = ".cloudmux-part-";

/// A folder of the local disk, seen as a remote.
#[derive(Debug, Clone)]
pub struct LocalStorage {
    root: PathBuf,
}

impl LocalStorage {
    /// Serves `root`, which must be an existing folder.
    pub fn new(root: impl AsRef<Path>) -> Result<Self> {
        let root = root.as_ref();
        let canon = std::fs::canonicalize(root)
            .map_err(|e| Error::from(e).context(format!("local root {}", root.display())))?;
        if !canon.is_dir() {
            return Err(Error::invalid(format!(
                "local root {} is not a folder",
                root.display()
            )));
        }
        Ok(LocalStorage { root: canon })
    }

    /// The canonical root folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Maps a remote path to a file-system path inside the root, refusing anything that resolves outside it.
    fn resolve(&self, path: &str) -> Result<PathBuf> {
        let norm = normalize(path)?;
        let mut full = self.root.clone();
        for comp in norm.split('/').filter(|c| !c.is_empty()) {
            full.push(comp);
        }
        self.confine(&full, path)?;
        Ok(full)
    }

    /// Checks that the deepest existing ancestor of `full` (the path itself when it exists) is inside the root.
    fn confine(&self, full: &Path, shown: &str) -> Result<()> {
        let mut probe = full;
        loop {
            match std::fs::canonicalize(probe) {
                Ok(c) => {
                    if c.starts_with(&self.root) {
                        return Ok(());
                    }
                    return Err(Error::new(ErrorKind::PermissionDenied, format!("{shown}: resolves outside the root"))
                        .with_hint("a symlink points out of the local remote's root; cloudmux does not follow it"));
                }
                Err(_) => match probe.parent() {
                    Some(p) if p.starts_with(&self.root) || p == self.root => probe = p,
                    _ => return Ok(()),
                },
            }
        }
    }

    fn entry(&self, path: &str, md: &std::fs::Metadata) -> Entry {
        let modified = md.modified().ok().map(DateTime::<Utc>::from);
        let mut e = if md.is_dir() {
            Entry::dir(path)
        } else {
            Entry::file(path, md.len())
        };
        e.modified = modified;
        e
    }
}

fn not_found(path: &str, e: std::io::Error) -> Error {
    Error::from(e).context(path)
}

#[async_trait]
impl Storage for LocalStorage {
    fn kind(&self) -> &'static str {
        "local"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            trash: false,
            public_link: false,
            ..Capabilities::default()
        }
    }

    fn list<'a>(&'a self, path: &'a str) -> PageStream<'a> {
        Box::pin(async_stream(self, path))
    }

    async fn stat(&self, path: &str) -> Result<Entry> {
        let norm = normalize(path)?;
        let full = self.resolve(&norm)?;
        let md = tokio::fs::metadata(&full)
            .await
            .map_err(|e| not_found(path, e))?;
        Ok(self.entry(&norm, &md))
    }

    async fn read(&self, path: &str, range: ByteRange) -> Result<ByteStream> {
        let full = self.resolve(path)?;
        let mut f = tokio::fs::File::open(&full)
            .await
            .map_err(|e| not_found(path, e))?;
        let md = f.metadata().await?;
        if md.is_dir() {
            return Err(Error::new(
                ErrorKind::Conflict,
                format!("{path}: is a folder"),
            ));
        }
        let (start, end) = range.clamp(md.len());
        f.seek(std::io::SeekFrom::Start(start)).await?;
        let reader = f.take(end - start);
        let s = tokio_util::io::ReaderStream::with_capacity(reader, 256 * 1024)
            .map(|r| r.map_err(Error::from));
        Ok(Box::pin(s))
    }

    async fn write(&self, path: &str, mut data: ByteStream, opts: WriteOptions) -> Result<Entry> {
        let norm = normalize(path)?;
        if norm.is_empty() {
            return Err(Error::invalid("cannot write to the root folder itself"));
        }
        let full = self.resolve(&norm)?;
        let dir = full
            .parent()
            .expect("non-root path has a parent")
            .to_path_buf();
        match tokio::fs::metadata(&dir).await {
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                return Err(Error::new(
                    ErrorKind::Conflict,
                    format!("{}: parent is not a folder", parent(&norm)),
                ));
            }
            Err(e) => {
                return Err(
                    not_found(parent(&norm), e).with_hint("create the folder first (mkdir)")
                );
            }
        }
        if let Ok(m) = tokio::fs::metadata(&full).await
            && m.is_dir()
        {
            return Err(Error::new(
                ErrorKind::AlreadyExists,
                format!("{norm}: a folder exists with that name"),
            ));
        }
        let tmp = dir.join(format!(
            ".{}{PART_MARK}{:08x}",
            file_name(&norm),
            rand::random::<u32>()
        ));
        // Removes the partial file however the write ends, a dropped future (a cancelled transfer) included.
        let mut guard = PartGuard(Some(tmp.clone()));
        let result = async {
            let mut f = tokio::fs::File::create(&tmp).await?;
            let mut written = 0u64;
            while let Some(chunk) = data.next().await {
                let chunk = chunk?;
                written += chunk.len() as u64;
                f.write_all(&chunk).await?;
            }
            if let Some(want) = opts.size
                && want != written
            {
                return Err(Error::new(
                    ErrorKind::Corrupt,
                    format!("{norm}: expected {want} bytes, got {written}"),
                ));
            }
            f.flush().await?;
            let f = f.into_std().await;
            if let Some(m) = opts.modified {
                f.set_modified(m.into())?;
            }
            f.sync_all()?;
            drop(f);
            tokio::fs::rename(&tmp, &full).await?;
            Ok(())
        }
        .await;
        if result.is_ok() {
            guard.0 = None;
        }
        drop(guard);
        result?;
        self.stat(&norm).await
    }

    async fn mkdir(&self, path: &str) -> Result<Entry> {
        let norm = normalize(path)?;
        let full = self.resolve(&norm)?;
        if let Ok(m) = tokio::fs::metadata(&full).await {
            if m.is_dir() {
                return Ok(self.entry(&norm, &m));
            }
            return Err(Error::new(
                ErrorKind::AlreadyExists,
                format!("{norm}: a file exists with that name"),
            ));
        }
        tokio::fs::create_dir_all(&full)
            .await
            .map_err(|e| Error::from(e).context(&norm))?;
        self.stat(&norm).await
    }

    async fn copy(&self, from: &str, to: &str) -> Result<Entry> {
        let src = self.resolve(from)?;
        let md = tokio::fs::metadata(&src)
            .await
            .map_err(|e| not_found(from, e))?;
        if md.is_dir() {
            return Err(Error::invalid(format!(
                "{from}: server-side copy takes files; copy folders with cp -r"
            )));
        }
        let to_norm = normalize(to)?;
        let data = self.read(from, ByteRange::all()).await?;
        let opts = WriteOptions {
            size: Some(md.len()),
            modified: md.modified().ok().map(Into::into),
            mime: None,
            ..Default::default()
        };
        self.write(&to_norm, data, opts).await
    }

    async fn rename(&self, from: &str, to: &str) -> Result<Entry> {
        let src = self.resolve(from)?;
        let to_norm = normalize(to)?;
        let dst = self.resolve(&to_norm)?;
        tokio::fs::symlink_metadata(&src)
            .await
            .map_err(|e| not_found(from, e))?;
        if tokio::fs::symlink_metadata(&dst).await.is_ok() {
            return Err(Error::new(
                ErrorKind::AlreadyExists,
                format!("{to_norm}: already exists"),
            )
            .with_hint("remove it first or choose another name"));
        }
        match tokio::fs::metadata(dst.parent().unwrap()).await {
            Ok(m) if m.is_dir() => {}
            _ => {
                return Err(Error::not_found(parent(&to_norm))
                    .with_hint("create the destination folder first"));
            }
        }
        if dst.starts_with(&src) {
            return Err(Error::invalid(format!("cannot move {from} into itself")));
        }
        tokio::fs::rename(&src, &dst).await?;
        self.stat(&to_norm).await
    }

    async fn delete(&self, path: &str, mode: DeleteMode) -> Result<()> {
        let norm = normalize(path)?;
        if mode == DeleteMode::Trash {
            return Err(Error::unsupported(
                format!("{norm}: the local disk has no trash"),
                "delete permanently (cloudmux rm --permanent) or move it elsewhere",
            ));
        }
        if norm.is_empty() {
            return Err(Error::invalid(
                "refusing to delete the root of a local remote",
            ));
        }
        let full = self.resolve(&norm)?;
        let md = tokio::fs::symlink_metadata(&full)
            .await
            .map_err(|e| not_found(&norm, e))?;
        if md.is_dir() {
            tokio::fs::remove_dir_all(&full).await?;
        } else {
            tokio::fs::remove_file(&full).await?;
        }
        Ok(())
    }

    async fn about(&self) -> Result<About> {
        let root = self.root.clone();
        tokio::task::spawn_blocking(move || statvfs(&root))
            .await
            .map_err(|e| Error::new(ErrorKind::Other, e.to_string()))?
    }
}

/// Reads a folder page by page; symlinks resolving outside the root and our own partial files are left out.
fn async_stream<'a>(
    s: &'a LocalStorage,
    path: &'a str,
) -> impl futures_util::Stream<Item = Result<Vec<Entry>>> + 'a {
    enum St {
        Start,
        Reading(String, tokio::fs::ReadDir),
        Done,
    }
    futures_util::stream::unfold(St::Start, move |st| async move {
        let (norm, mut rd) = match st {
            St::Done => return None,
            St::Start => {
                let opened = async {
                    let norm = normalize(path)?;
                    let full = s.resolve(&norm)?;
                    let md = tokio::fs::metadata(&full)
                        .await
                        .map_err(|e| not_found(path, e))?;
                    if !md.is_dir() {
                        return Err(Error::new(
                            ErrorKind::Conflict,
                            format!("{path}: not a folder"),
                        ));
                    }
                    let rd = tokio::fs::read_dir(&full).await?;
                    Ok((norm, rd))
                }
                .await;
                match opened {
                    Ok(x) => x,
                    Err(e) => return Some((Err(e), St::Done)),
                }
            }
            St::Reading(n, rd) => (n, rd),
        };
        let mut page = Vec::new();
        loop {
            match rd.next_entry().await {
                Ok(Some(de)) => {
                    let name = de.file_name().to_string_lossy().into_owned();
                    if name.contains(PART_MARK) {
                        continue;
                    }
                    let child = cloudmux_core::path::join(&norm, &name);
                    if s.confine(&de.path(), &child).is_err() {
                        continue;
                    }
                    let Ok(md) = tokio::fs::metadata(de.path()).await else {
                        continue;
                    };
                    page.push(s.entry(&child, &md));
                    if page.len() >= PAGE {
                        return Some((Ok(page), St::Reading(norm, rd)));
                    }
                }
                Ok(None) => {
                    return if page.is_empty() {
                        None
                    } else {
                        Some((Ok(page), St::Done))
                    };
                }
                Err(e) => return Some((Err(e.into()), St::Done)),
            }
        }
    })
}

#[allow(unsafe_code)]
fn statvfs(root: &Path) -> Result<About> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(root.as_os_str().as_bytes())
        .map_err(|e| Error::invalid(e.to_string()))?;
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a valid NUL-terminated path and `st` a properly sized out-parameter.
    let rc = unsafe { libc::statvfs(c.as_ptr(), &mut st) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error().into());
    }
    let frsize = st.f_frsize as u64;
    let total = st.f_blocks as u64 * frsize;
    let free = st.f_bavail as u64 * frsize;
    let used = total.saturating_sub(st.f_bfree as u64 * frsize);
    Ok(About {
        user: None,
        total: Some(total),
        used: Some(used),
        trashed: None,
        free: Some(free),
    })
}

/// Deletes a partial file when dropped, unless disarmed.
struct PartGuard(Option<std::path::PathBuf>);

impl Drop for PartGuard {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = std::fs::remove_file(p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn symlink_out_of_root_is_refused() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), b"s").unwrap();
        let root = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path(), root.path().join("escape")).unwrap();
        std::os::unix::fs::symlink(
            outside.path().join("secret"),
            root.path().join("secret-link"),
        )
        .unwrap();
        std::fs::write(root.path().join("ok"), b"ok").unwrap();
        let s = LocalStorage::new(root.path()).unwrap();
        assert_eq!(
            s.stat("escape/secret").await.unwrap_err().kind(),
            ErrorKind::PermissionDenied
        );
        assert_eq!(
            s.read("secret-link", ByteRange::all())
                .await
                .err()
                .unwrap()
                .kind(),
            ErrorKind::PermissionDenied
        );
        let w = s
            .write(
                "escape/new",
                cloudmux_core::bytes_stream(b"x".to_vec(), 1),
                WriteOptions::default(),
            )
            .await;
        assert_eq!(w.unwrap_err().kind(), ErrorKind::PermissionDenied);
        assert!(!outside.path().join("new").exists());
        let names: Vec<_> = cloudmux_core::list_all(&s, "")
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.name)
            .collect();
        assert_eq!(names, vec!["ok".to_string()]);
        assert_eq!(
            s.stat("../x").await.unwrap_err().kind(),
            ErrorKind::InvalidInput
        );
    }

    #[tokio::test]
    async fn failed_write_leaves_nothing() {
        let root = tempfile::tempdir().unwrap();
        let s = LocalStorage::new(root.path()).unwrap();
        let body: ByteStream = Box::pin(futures_util::stream::iter(vec![
            Ok(bytes::Bytes::from_static(b"partial")),
            Err(Error::new(ErrorKind::Transient, "connection reset")),
        ]));
        assert!(s.write("f", body, WriteOptions::default()).await.is_err());
        assert_eq!(
            std::fs::read_dir(root.path()).unwrap().count(),
            0,
            "no temp or partial file left"
        );
    }
}
