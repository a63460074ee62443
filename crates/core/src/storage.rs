//! The [`Storage`] trait every backend implements, and the stream types it speaks.
//!
//! Bytes always move as streams ([`ByteStream`]) so memory is bounded by chunk size, never by file size.
//! Listings are streams of pages ([`PageStream`]) so a 50,000-entry folder is never held whole by the backend.

use std::fmt;
use std::pin::Pin;

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures_util::{Stream, StreamExt, TryStreamExt};

use crate::entry::{About, Entry};
use crate::error::{Error, ErrorKind, Result};

/// A stream of byte chunks (a file's content in flight).
pub type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes>> + Send + 'static>>;

/// A stream of listing pages.
pub type PageStream<'a> = Pin<Box<dyn Stream<Item = Result<Vec<Entry>>> + Send + 'a>>;

/// A byte range of a read: `offset` and an optional length (`None` reads to the end).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ByteRange {
    /// First byte.
    pub offset: u64,
    /// How many bytes; `None` means up to the end of the file.
    pub len: Option<u64>,
}

impl ByteRange {
    /// The whole file.
    pub fn all() -> Self {
        ByteRange::default()
    }

    /// `len` bytes from `offset`.
    pub fn new(offset: u64, len: Option<u64>) -> Self {
        ByteRange { offset, len }
    }

    /// Whether this covers the whole file.
    pub fn is_all(&self) -> bool {
        self.offset == 0 && self.len.is_none()
    }

    /// The HTTP `Range` header value for this range (`bytes=10-19`, `bytes=10-`), or `None` for the whole file.
    pub fn to_header(&self) -> Option<String> {
        match (self.offset, self.len) {
            (0, None) => None,
            (o, None) => Some(format!("bytes={o}-")),
            (o, Some(l)) => Some(format!("bytes={o}-{}", (o + l).saturating_sub(1))),
        }
    }

    /// Clamps the range to a file of `size` bytes: `(start, end_exclusive)`. A start past the end gives an empty
    /// range at the end, like reading past EOF.
    pub fn clamp(&self, size: u64) -> (u64, u64) {
        let start = self.offset.min(size);
        let end = match self.len {
            Some(l) => start.saturating_add(l).min(size),
            None => size,
        };
        (start, end)
    }
}

/// How [`Storage::delete`] removes things.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeleteMode {
    /// Move to the service's trash (where it has one; otherwise the backend says so with Unsupported).
    Trash,
    /// Remove for good.
    Permanent,
}

/// Options of a write.
#[derive(Debug, Clone, Default)]
pub struct WriteOptions {
    /// The total size, when known in advance (lets backends pick simple uploads and check quotas early).
    pub size: Option<u64>,
    /// The modification time to record, where the service can store it.
    pub modified: Option<DateTime<Utc>>,
    /// The MIME type; backends guess from the name when absent.
    pub mime: Option<String>,
    /// Keep the upload's session so a later write of the same source can resume it (backends without
    /// resumable sessions ignore this).
    pub resume: Option<crate::resume::Resume>,
    /// The caller knows nothing is at the path (it has just listed the folder), so the backend need not
    /// look before creating (Drive then spends one request on a small file instead of two).
    pub new_file: bool,
}

/// What a backend can do, so generic code (and the conformance kit) can choose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Capabilities {
    /// Server-side copy inside the remote.
    pub copy: bool,
    /// Server-side move/rename inside the remote.
    pub rename: bool,
    /// Delete to trash.
    pub trash: bool,
    /// Public links.
    pub public_link: bool,
    /// Modification times can be set on write.
    pub set_modified: bool,
    /// Writes of unknown size (streams without a length).
    pub unknown_size_write: bool,
    /// Two entries in one folder may share a name (Drive).
    pub duplicate_names: bool,
    /// Empty folders exist on their own.
    pub empty_dirs: bool,
    /// Ranged reads.
    pub range_read: bool,
    /// Writes replace existing files.
    pub overwrite: bool,
    /// Entries have ids and `name:id:ID` addresses work.
    pub ids: bool,
    /// Writes answer with a hash of what was stored (MD5 or SHA-256), so a copy is checked against the
    /// remote's own view of it; otherwise the transfer engine hashes the bytes on their way.
    pub hashes: bool,
}

impl Default for Capabilities {
    fn default() -> Self {
        Capabilities {
            copy: true,
            rename: true,
            trash: false,
            public_link: false,
            set_modified: true,
            unknown_size_write: true,
            duplicate_names: false,
            empty_dirs: true,
            range_read: true,
            overwrite: true,
            ids: false,
            hashes: false,
        }
    }
}

/// One entry the service's change feed reports as changed (made, edited, moved, renamed, trashed or
/// deleted), as it is now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The service's id of what changed.
    pub id: String,
    /// The ids of the folders it is in now (none once it is deleted).
    pub parents: Vec<String>,
    /// It is gone (deleted or in the trash).
    pub removed: bool,
}

/// A page of a change feed: what changed since a cursor, and the cursor to ask from next.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    /// What changed, oldest first.
    pub changes: Vec<Change>,
    /// Where to ask next: the next page while `more`, else the point to poll from later.
    pub cursor: String,
    /// More pages follow at once.
    pub more: bool,
}

/// A cloud drive (or the local disk), seen through one interface.
///
/// Paths are relative to the remote's root, normalised by [`crate::path::normalize`]; `""` is the root.
#[async_trait]
pub trait Storage: Send + Sync + fmt::Debug {
    /// The backend type (`gdrive`, `local`, …).
    fn kind(&self) -> &'static str;

    /// What this backend can do.
    fn capabilities(&self) -> Capabilities;

    /// Lists a folder as a stream of pages. A missing folder yields a NotFound error as its first item; a path
    /// that is a file yields Conflict (`not a folder`).
    fn list<'a>(&'a self, path: &'a str) -> PageStream<'a>;

    /// How many folders [`Storage::list_many`] takes in one request (1: it gains nothing over
    /// [`Storage::list`]).
    fn list_batch(&self) -> usize {
        1
    }

    /// Lists several folders whole: for each path, in order, what [`Storage::list`] gives. A service that
    /// answers for the children of many folders at once (Drive's or-ed parents) does it in far fewer
    /// requests than folders; the default lists them one after the other.
    async fn list_many(&self, paths: &[String]) -> Result<Vec<Vec<Entry>>> {
        let mut out = Vec::with_capacity(paths.len());
        for p in paths {
            let mut all = Vec::new();
            let mut pages = self.list(p);
            while let Some(page) = pages.next().await {
                all.extend(page?);
            }
            out.push(all);
        }
        Ok(out)
    }

    /// Metadata of one file or folder.
    async fn stat(&self, path: &str) -> Result<Entry>;

    /// Reads bytes of a file. A range past the end yields an empty stream.
    async fn read(&self, path: &str, range: ByteRange) -> Result<ByteStream>;

    /// Writes a file from a stream, replacing an existing file of that name; the parent folder must exist.
    /// Nothing is visible at `path` until the whole stream has been stored.
    async fn write(&self, path: &str, data: ByteStream, opts: WriteOptions) -> Result<Entry>;

    /// Creates a folder and any missing parents; succeeds when it exists already.
    async fn mkdir(&self, path: &str) -> Result<Entry>;

    /// Copies a file on the server (Unsupported when [`Capabilities::copy`] is false).
    async fn copy(&self, from: &str, to: &str) -> Result<Entry>;

    /// Moves or renames a file or folder on the server; the destination's parent must exist, and the
    /// destination must not (AlreadyExists).
    async fn rename(&self, from: &str, to: &str) -> Result<Entry>;

    /// Deletes a file or a folder with everything in it.
    async fn delete(&self, path: &str, mode: DeleteMode) -> Result<()>;

    /// Removes an empty folder; Conflict when it has entries, NotFound when missing. Where the service has
    /// a trash the folder goes there: an "empty" folder may still hold trashed files (Drive keeps them
    /// under their folder), which deleting it for good would destroy with it.
    async fn rmdir(&self, path: &str) -> Result<()> {
        let e = self.stat(path).await?;
        if !e.is_dir {
            return Err(
                Error::new(ErrorKind::Conflict, format!("{path}: not a folder"))
                    .with_hint("use rm to delete files"),
            );
        }
        let mut pages = self.list(path);
        while let Some(page) = pages.next().await {
            if !page?.is_empty() {
                return Err(
                    Error::new(ErrorKind::Conflict, format!("{path}: folder not empty")).with_hint(
                        "delete its contents first, or use rm to delete it with everything inside",
                    ),
                );
            }
        }
        drop(pages);
        let mode = if self.capabilities().trash {
            DeleteMode::Trash
        } else {
            DeleteMode::Permanent
        };
        self.delete(path, mode).await
    }

    /// A link anyone can use to read the file (Unsupported when [`Capabilities::public_link`] is false).
    async fn public_link(&self, path: &str) -> Result<String> {
        Err(Error::unsupported(
            format!("{}: public links are not supported by this backend", path),
            "share the file from a remote that supports links (gdrive, yadisk)",
        ))
    }

    /// A short-lived address that serves the file's bytes to anyone holding it, without credentials, where
    /// the service hands one out (Yandex Disk's download links, Google Photos' `baseUrl=d`): a server may
    /// send clients there instead of relaying the bytes. `None` where there is no such address.
    async fn download_link(&self, _path: &str) -> Result<Option<String>> {
        Ok(None)
    }

    /// Account and quota information.
    async fn about(&self) -> Result<About>;

    /// Metadata of an entry by the service's id (`name:id:ID` addresses); its path is its name.
    /// Unsupported unless [`Capabilities::ids`].
    async fn stat_id(&self, id: &str) -> Result<Entry> {
        Err(Error::unsupported(
            format!("{}: this backend has no ids ({id})", self.kind()),
            "use a path: REMOTE:path/to/file",
        ))
    }

    /// Deletes an entry by the service's id. Unsupported unless [`Capabilities::ids`].
    async fn delete_id(&self, id: &str, _mode: DeleteMode) -> Result<()> {
        Err(Error::unsupported(
            format!("{}: this backend has no ids ({id})", self.kind()),
            "use a path: REMOTE:path/to/file",
        ))
    }

    /// A public link to an entry by the service's id. Unsupported unless [`Capabilities::ids`] and
    /// [`Capabilities::public_link`].
    async fn public_link_id(&self, id: &str) -> Result<String> {
        Err(Error::unsupported(
            format!("{}: no public links by id ({id})", self.kind()),
            "use a path: REMOTE:path/to/file",
        ))
    }

    /// Where the service's change feed stands now, for [`Storage::changes_since`]; `None` where the service
    /// has no feed (a cache then asks again after a while instead).
    async fn change_cursor(&self) -> Result<Option<String>> {
        Ok(None)
    }

    /// What changed since `cursor` (from [`Storage::change_cursor`] or a previous page). A cursor the
    /// service no longer knows is an error; the caller starts over from a fresh one and forgets what it
    /// cached.
    async fn changes_since(&self, cursor: &str) -> Result<Changes> {
        Err(Error::unsupported(
            format!("{}: no change feed ({cursor})", self.kind()),
            "list the folders again instead",
        ))
    }

    /// The file at `path` converted by the service to `mime`, for files it keeps no bytes of (Google
    /// Docs, whose [`Entry::mime`] names their kind and whose size is `None`). Unsupported elsewhere.
    async fn export(&self, path: &str, mime: &str) -> Result<ByteStream> {
        Err(Error::unsupported(
            format!("{}: nothing to export ({path} as {mime})", self.kind()),
            "read the file as it is",
        ))
    }

    /// Reads a file by the service's id. Unsupported unless [`Capabilities::ids`].
    async fn read_id(&self, id: &str, _range: ByteRange) -> Result<ByteStream> {
        Err(Error::unsupported(
            format!("{}: this backend has no ids ({id})", self.kind()),
            "use a path: REMOTE:path/to/file",
        ))
    }
}

/// Collects every page of a listing into one vector (for small folders and tests).
pub async fn list_all(s: &dyn Storage, path: &str) -> Result<Vec<Entry>> {
    let mut out = Vec::new();
    let mut pages = s.list(path);
    while let Some(page) = pages.next().await {
        out.extend(page?);
    }
    Ok(out)
}

/// Lists the folders `dirs`, `concurrency` requests at once: each folder's path with its entries, a group of
/// folders at a time, as the groups come. Where the service lists several folders in one request
/// ([`Storage::list_batch`]) the folders are shared out among the requests, up to a batch each, so a few
/// folders still go out in parallel and many cost one request per batch.
pub fn list_folders(
    s: &dyn Storage,
    dirs: Vec<String>,
    concurrency: usize,
) -> impl Stream<Item = Result<Vec<(String, Vec<Entry>)>>> + '_ {
    let concurrency = concurrency.max(1);
    let per = dirs
        .len()
        .div_ceil(concurrency)
        .clamp(1, s.list_batch().max(1));
    let mut groups = Vec::with_capacity(dirs.len().div_ceil(per));
    let mut dirs = dirs.into_iter().peekable();
    while dirs.peek().is_some() {
        groups.push(dirs.by_ref().take(per).collect::<Vec<_>>());
    }
    futures_util::stream::iter(groups)
        .map(move |group| async move {
            let lists = s.list_many(&group).await?;
            Ok(group.into_iter().zip(lists).collect())
        })
        .buffer_unordered(concurrency)
}

/// Reads a whole stream into memory (for small files and tests only).
pub async fn collect_bytes(s: ByteStream) -> Result<Vec<u8>> {
    s.try_fold(Vec::new(), |mut acc, b| async move {
        acc.extend_from_slice(&b);
        Ok(acc)
    })
    .await
}

/// A [`ByteStream`] over in-memory data, cut into chunks of `chunk` bytes.
pub fn bytes_stream(data: impl Into<Bytes>, chunk: usize) -> ByteStream {
    let data: Bytes = data.into();
    let chunk = chunk.max(1);
    let n = data.len().div_ceil(chunk);
    Box::pin(futures_util::stream::iter((0..n).map(move |i| {
        Ok(data.slice(i * chunk..((i + 1) * chunk).min(data.len())))
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_header_and_clamp() {
        assert_eq!(ByteRange::all().to_header(), None);
        assert_eq!(ByteRange::new(10, None).to_header().unwrap(), "bytes=10-");
        assert_eq!(
            ByteRange::new(10, Some(10)).to_header().unwrap(),
            "bytes=10-19"
        );
        assert_eq!(ByteRange::new(5, Some(10)).clamp(8), (5, 8));
        assert_eq!(ByteRange::new(50, None).clamp(8), (8, 8));
    }

    #[tokio::test]
    async fn bytes_stream_chunks() {
        let s = bytes_stream(vec![1u8; 10], 3);
        let v = collect_bytes(s).await.unwrap();
        assert_eq!(v.len(), 10);
        assert!(
            collect_bytes(bytes_stream(Vec::new(), 3))
                .await
                .unwrap()
                .is_empty()
        );
    }
}
