//! The [`Storage`] impl for a folder of the local file system.
//!
//! Every file-system call goes through a [`cap_std::fs::Dir`] opened on the root: each one resolves its
//! path beneath that directory (`openat2` with `RESOLVE_BENEATH` where the kernel has it, a checked walk
//! otherwise), so a `..`, an absolute symlink or a symlink swapped in between two calls cannot lead out of
//! the root. Names on disk are passed through [`cloudmux_core::name`], so a file called `a\b` lists as
//! `a＼b` and writing `a＼b` creates `a\b`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use cap_std::fs::Dir;
use chrono::{DateTime, Utc};
use cloudmux_core::name::{decode_path, encode};
use cloudmux_core::path::{normalize, parent};
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
    dir: Arc<Dir>,
}

/// Runs blocking file-system work off the async threads.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::new(ErrorKind::Other, format!("file-system task: {e}")))?
}

/// The relative path on disk of a storage path (`.` for the root), its names decoded.
fn disk_path(norm: &str) -> Result<PathBuf> {
    let raw = decode_path(norm)?;
    Ok(if raw.is_empty() {
        PathBuf::from(".")
    } else {
        PathBuf::from(raw)
    })
}

/// An I/O error on `shown`, with the escape attempts cap-std refuses said plainly.
fn io_err(shown: &str, e: std::io::Error) -> Error {
    if e.kind() == std::io::ErrorKind::PermissionDenied
        && e.to_string().contains("outside of the filesystem")
    {
        return Error::new(
            ErrorKind::PermissionDenied,
            format!("{shown}: resolves outside the root"),
        )
        .with_hint("a symlink points out of the local remote's root; cloudmux does not follow it");
    }
    Error::from(e).context(shown)
}

fn entry_of(path: &str, md: &cap_std::fs::Metadata) -> Entry {
    let modified = md
        .modified()
        .ok()
        .map(|t| DateTime::<Utc>::from(t.into_std()));
    let mut e = if md.is_dir() {
        Entry::dir(path)
    } else {
        Entry::file(path, md.len())
    };
    e.modified = modified;
    e
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
        let dir = Dir::open_ambient_dir(&canon, cap_std::ambient_authority())
            .map_err(|e| Error::from(e).context(format!("local root {}", root.display())))?;
        Ok(LocalStorage {
            root: canon,
            dir: Arc::new(dir),
        })
    }

    /// The canonical root folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The root and the decoded on-disk path of `path`, normalised.
    fn at(&self, path: &str) -> Result<(Arc<Dir>, String, PathBuf)> {
        let norm = normalize(path)?;
        let disk = disk_path(&norm)?;
        Ok((self.dir.clone(), norm, disk))
    }
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
        pages(self, path)
    }

    async fn stat(&self, path: &str) -> Result<Entry> {
        let (dir, norm, disk) = self.at(path)?;
        blocking(move || {
            let md = dir.metadata(&disk).map_err(|e| io_err(&norm, e))?;
            Ok(entry_of(&norm, &md))
        })
        .await
    }

    async fn read(&self, path: &str, range: ByteRange) -> Result<ByteStream> {
        let (dir, norm, disk) = self.at(path)?;
        let (f, len) = blocking(move || {
            let f = dir.open(&disk).map_err(|e| io_err(&norm, e))?;
            let md = f.metadata().map_err(|e| io_err(&norm, e))?;
            if md.is_dir() {
                return Err(Error::new(
                    ErrorKind::Conflict,
                    format!("{norm}: is a folder"),
                ));
            }
            Ok((f.into_std(), md.len()))
        })
        .await?;
        let mut f = tokio::fs::File::from_std(f);
        let (start, end) = range.clamp(len);
        f.seek(std::io::SeekFrom::Start(start)).await?;
        let reader = f.take(end - start);
        let s = tokio_util::io::ReaderStream::with_capacity(reader, 256 * 1024)
            .map(|r| r.map_err(Error::from));
        Ok(Box::pin(s))
    }

    async fn write(&self, path: &str, mut data: ByteStream, opts: WriteOptions) -> Result<Entry> {
        let (dir, norm, disk) = self.at(path)?;
        if norm.is_empty() {
            return Err(Error::invalid("cannot write to the root folder itself"));
        }
        let parent_disk = disk.parent().map(Path::to_path_buf).unwrap_or_default();
        let parent_disk = if parent_disk.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            parent_disk
        };
        let tmp = parent_disk.join(format!(
            ".{}{PART_MARK}{:08x}",
            disk.file_name().and_then(|n| n.to_str()).unwrap_or("part"),
            rand::random::<u32>()
        ));
        let f = {
            let (dir, norm, disk, tmp) = (dir.clone(), norm.clone(), disk.clone(), tmp.clone());
            blocking(move || {
                match dir.metadata(&parent_disk) {
                    Ok(m) if m.is_dir() => {}
                    Ok(_) => {
                        return Err(Error::new(
                            ErrorKind::Conflict,
                            format!("{}: parent is not a folder", parent(&norm)),
                        ));
                    }
                    Err(e) => {
                        return Err(
                            io_err(parent(&norm), e).with_hint("create the folder first (mkdir)")
                        );
                    }
                }
                if let Ok(m) = dir.metadata(&disk)
                    && m.is_dir()
                {
                    return Err(Error::new(
                        ErrorKind::AlreadyExists,
                        format!("{norm}: a folder exists with that name"),
                    ));
                }
                let mut o = cap_std::fs::OpenOptions::new();
                o.write(true).create_new(true);
                let f = dir.open_with(&tmp, &o).map_err(|e| io_err(&norm, e))?;
                Ok(f.into_std())
            })
            .await?
        };
        // Removes the partial file however the write ends, a dropped future (a cancelled transfer) included.
        let mut guard = PartGuard(Some((dir.clone(), tmp.clone())));
        let result = async {
            let mut f = tokio::fs::File::from_std(f);
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
            let (dir, tmp, disk, shown) = (dir.clone(), tmp.clone(), disk.clone(), norm.clone());
            blocking(move || {
                if let Some(m) = opts.modified {
                    f.set_modified(m.into())?;
                }
                f.sync_all()?;
                drop(f);
                dir.rename(&tmp, &dir, &disk).map_err(|e| io_err(&shown, e))
            })
            .await
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
        let (dir, norm, disk) = self.at(path)?;
        blocking(move || {
            if let Ok(m) = dir.metadata(&disk) {
                if m.is_dir() {
                    return Ok(entry_of(&norm, &m));
                }
                return Err(Error::new(
                    ErrorKind::AlreadyExists,
                    format!("{norm}: a file exists with that name"),
                ));
            }
            dir.create_dir_all(&disk).map_err(|e| io_err(&norm, e))?;
            let md = dir.metadata(&disk).map_err(|e| io_err(&norm, e))?;
            Ok(entry_of(&norm, &md))
        })
        .await
    }

    async fn copy(&self, from: &str, to: &str) -> Result<Entry> {
        let src = self.stat(from).await?;
        if src.is_dir {
            return Err(Error::invalid(format!(
                "{from}: server-side copy takes files; copy folders with cp -r"
            )));
        }
        let to_norm = normalize(to)?;
        let data = self.read(from, ByteRange::all()).await?;
        let opts = WriteOptions {
            size: src.size,
            modified: src.modified,
            mime: None,
            ..Default::default()
        };
        self.write(&to_norm, data, opts).await
    }

    async fn rename(&self, from: &str, to: &str) -> Result<Entry> {
        let (dir, from_norm, src) = self.at(from)?;
        let (_, to_norm, dst) = self.at(to)?;
        if from_norm.is_empty() || to_norm.is_empty() {
            return Err(Error::invalid("the root of a local remote cannot be moved"));
        }
        let shown = to_norm.clone();
        blocking(move || {
            dir.symlink_metadata(&src)
                .map_err(|e| io_err(&from_norm, e))?;
            if dir.symlink_metadata(&dst).is_ok() {
                return Err(Error::new(
                    ErrorKind::AlreadyExists,
                    format!("{to_norm}: already exists"),
                )
                .with_hint("remove it first or choose another name"));
            }
            let dst_parent = match dst.parent() {
                Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
                _ => PathBuf::from("."),
            };
            match dir.metadata(&dst_parent) {
                Ok(m) if m.is_dir() => {}
                _ => {
                    return Err(Error::not_found(parent(&to_norm))
                        .with_hint("create the destination folder first"));
                }
            }
            if dst.starts_with(&src) {
                return Err(Error::invalid(format!(
                    "cannot move {from_norm} into itself"
                )));
            }
            dir.rename(&src, &dir, &dst)
                .map_err(|e| io_err(&from_norm, e))
        })
        .await?;
        self.stat(&shown).await
    }

    async fn delete(&self, path: &str, mode: DeleteMode) -> Result<()> {
        let (dir, norm, disk) = self.at(path)?;
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
        blocking(move || {
            let md = dir.symlink_metadata(&disk).map_err(|e| io_err(&norm, e))?;
            if md.is_dir() {
                dir.remove_dir_all(&disk)
            } else {
                dir.remove_file(&disk)
            }
            .map_err(|e| io_err(&norm, e))
        })
        .await
    }

    async fn about(&self) -> Result<About> {
        let root = self.root.clone();
        blocking(move || statvfs(&root)).await
    }
}

/// One page of a folder: up to [`PAGE`] entries from `rd`, its names encoded; symlinks resolving outside
/// the root, names no path can hold and our own partial files are left out.
fn read_page(
    dir: &Dir,
    norm: &str,
    disk: &Path,
    rd: &mut cap_std::fs::ReadDir,
) -> Result<Vec<Entry>> {
    let mut page = Vec::new();
    for de in rd.by_ref() {
        let de = de?;
        let os = de.file_name();
        let Some(raw) = os.to_str() else {
            tracing::warn!("{norm}: skipping a name that is not UTF-8: {os:?}");
            continue;
        };
        if raw.contains(PART_MARK) {
            continue;
        }
        let Some(name) = encode(raw) else { continue };
        let child = cloudmux_core::path::join(norm, &name);
        let Ok(md) = dir.metadata(disk.join(raw)) else {
            continue;
        };
        page.push(entry_of(&child, &md));
        if page.len() >= PAGE {
            break;
        }
    }
    Ok(page)
}

/// Reads a folder page by page.
fn pages<'a>(s: &'a LocalStorage, path: &'a str) -> cloudmux_core::Pages<'a, Entry> {
    struct Open {
        dir: Arc<Dir>,
        norm: String,
        disk: PathBuf,
        rd: cap_std::fs::ReadDir,
    }
    let start = async move {
        let (dir, norm, disk) = s.at(path)?;
        blocking(move || {
            let md = dir.metadata(&disk).map_err(|e| io_err(&norm, e))?;
            if !md.is_dir() {
                return Err(Error::new(
                    ErrorKind::Conflict,
                    format!("{norm}: not a folder"),
                ));
            }
            let rd = dir.read_dir(&disk).map_err(|e| io_err(&norm, e))?;
            Ok(Box::new(Open {
                dir,
                norm,
                disk,
                rd,
            }))
        })
        .await
    };
    cloudmux_core::paged(start, |mut o: Box<Open>| {
        blocking(move || {
            let page = read_page(&o.dir, &o.norm, &o.disk, &mut o.rd)?;
            let more = page.len() >= PAGE;
            Ok((page, more.then_some(o)))
        })
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
struct PartGuard(Option<(Arc<Dir>, PathBuf)>);

impl Drop for PartGuard {
    fn drop(&mut self) {
        if let Some((dir, p)) = self.0.take() {
            let _ = dir.remove_file(p);
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
