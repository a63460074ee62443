//! Any cloudmux remote as a local folder, through FUSE (`cloudmux mount REMOTE:PATH MOUNTPOINT`).
//!
//! [`CloudFs`] answers the kernel's file-system requests from a [`Storage`], whatever its kind (Drive,
//! Photos' tree, Yandex Disk, a local folder, memory):
//!
//! - **Names and inodes.** An inode stands for a path under the mounted folder; a rename moves the
//!   paths of everything below. Names a remote returns that cannot be a file name (empty, `.`, `..`,
//!   with `/` or NUL — the backends already encode what they can) are left out of listings; names from
//!   the kernel must be UTF-8 and at most 255 bytes.
//! - **Listings** are kept in memory and in the cache folder (`meta`), and dropped by every change made
//!   through the mount. Where the service has a change feed (Google Drive's `changes.list`), it is
//!   asked every `poll_interval` — one request when nothing changed — and a listing is kept until the
//!   feed names something in it; the feed's cursor is kept too, so a remount asks only what changed
//!   while nothing was mounted and answers everything else from the cache without a request. Without
//!   a feed (Yandex Disk, Photos, local folders), a listing is asked again after `dir_ttl`, and those
//!   of an earlier mount are shown at once and asked again in the background as they are used (one
//!   listing request per folder, a few at a time).
//! - **Reads** stream from the remote: each open file keeps one ranged download going while its reads
//!   follow each other (a short jump forward reads through; anything else opens a new range), so a
//!   seek in a video fetches from where it lands, never the whole file.
//! - **Writes** go to a file of the cache folder — random writes, truncation and appends as on any
//!   disk. When the file is closed its bytes are kept in the cache folder (`writeback`) and uploaded
//!   through the transfer engine (checked against the service's hash, retried, paced, resumable)
//!   `write_back` later; until then the mount shows and reads the new version. What is pending
//!   survives a crash: the next mount over the same cache folder uploads it. With a `write_back` of
//!   zero the upload happens at the close, which then reports a failure. A file opened for writing
//!   without `O_TRUNC` starts from its pending version, or is downloaded into the cache.
//! - **Deletes** go to the service's trash where it has one.
//! - `statfs` reports the remote's `about` (total and used space).
//!
//! - With `read_cache` (`--cache-mode full`), what is read is kept in sparse files of the cache folder
//!   (`readcache`), across restarts: a read fetches only the ranges it lacks, ahead of itself on
//!   sequential reads by as much as the run has read so far (from 128 KiB up to 16 MiB), so what is
//!   fetched stays within twice what is read. Files that are not open are dropped, least recently
//!   used first, past the cache's size or when its disk has less free space than it must leave.

pub mod docs;
mod meta;
mod readcache;
mod writeback;

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use cloudmux_core::{ByteRange, ByteStream, DeleteMode, Entry, Error, ErrorKind, Storage};
use fuser::{
    Errno, FileAttr, FileHandle, FileType, Filesystem, FopenFlags, Generation, INodeNo, LockOwner,
    OpenAccMode, OpenFlags, RenameFlags, ReplyAttr, ReplyCreate, ReplyData, ReplyDirectory,
    ReplyEmpty, ReplyEntry, ReplyOpen, ReplyStatfs, ReplyWrite, Request, TimeOrNow, WriteFlags,
};
use futures_util::StreamExt;

/// How a mount behaves.
#[derive(Debug, Clone)]
pub struct Options {
    /// Refuse every change (`EROFS`), and mount read-only.
    pub read_only: bool,
    /// The owner shown for every file.
    pub uid: u32,
    /// The group shown for every file.
    pub gid: u32,
    /// Permission bits taken away from `0777` (folders) and `0666` (files).
    pub umask: u32,
    /// How long a folder's listing is kept before it is asked again.
    pub dir_ttl: Duration,
    /// Where files being written are kept until they are uploaded (created if missing; the owner's alone).
    pub cache_dir: PathBuf,
    /// How long after its close a file is uploaded (zero: at the close, which waits for it).
    pub write_back: Duration,
    /// Keep what is read in the cache folder, up to this many bytes (`None`: reads are streamed).
    pub read_cache: Option<u64>,
    /// The free space the read cache leaves on its disk: it drops what is not open to keep it.
    pub cache_min_free: u64,
    /// How often the service's change feed is asked what changed (zero: never; listings then last
    /// `dir_ttl`). Only where the service has a feed.
    pub poll_interval: Duration,
    /// The extensions Google Docs are shown as, first that fits first (see [`docs`]).
    pub export_formats: Vec<String>,
}

/// The least read-ahead of a cached file (the read-ahead is what the sequential run has read so far).
const AHEAD_FIRST: u64 = 128 << 10;
/// The largest read-ahead.
const AHEAD_MAX: u64 = 16 << 20;

/// A jump farther than this from where the last read ended is a seek (nearer ones are the kernel's
/// read-ahead answered out of order, or a reader skipping a little).
const FAR: u64 = 8 << 20;
/// Fewer bytes than this read between two seeks make a scattered read.
const SCATTERED_RUN: u64 = 1 << 20;
/// After this many scattered reads of one open file, the whole of it is brought into the read cache
/// behind the reader (a video's seeks read megabytes after each jump and never get here).
const SCATTERED_AFTER: u32 = 16;
/// How long the kernel may keep what it was told of a name or an inode.
const KERNEL_TTL: Duration = Duration::from_secs(1);
/// A jump forward a read stream reads through instead of opening a new range.
const READ_THROUGH: u64 = 1 << 20;
/// The longest file name accepted.
const NAME_MAX: usize = 255;
/// How long the remote's `about` (its space) is shown before it is asked again.
const ABOUT_TTL: Duration = Duration::from_secs(30);
/// The largest Google Docs export taken.
const EXPORT_MAX: u64 = 64 << 20;
/// Block size reported.
const BLOCK: u64 = 4096;

/// A path under the mount and what the remote said of it.
#[derive(Debug, Clone)]
struct Node {
    path: String,
    entry: Entry,
    /// The kernel's references (lookups it has not forgotten): at zero, and with no name leading to it,
    /// the node goes.
    lookups: u64,
}

#[derive(Debug, Default)]
struct Inodes {
    nodes: HashMap<u64, Node>,
    by_path: HashMap<String, u64>,
    next: u64,
}

impl Inodes {
    /// A table holding the root alone, as inode 1.
    fn with_root() -> Self {
        let mut inodes = Inodes {
            next: 1,
            ..Default::default()
        };
        let root = Node {
            path: String::new(),
            entry: Entry::dir(String::new()),
            lookups: 1,
        };
        inodes.nodes.insert(1, root);
        inodes.by_path.insert(String::new(), 1);
        inodes
    }

    /// The inode of `path`, made (or updated) from `entry`.
    fn put(&mut self, path: &str, entry: Entry) -> u64 {
        if let Some(&ino) = self.by_path.get(path) {
            if let Some(n) = self.nodes.get_mut(&ino) {
                n.entry = entry;
            }
            return ino;
        }
        self.next += 1;
        let ino = self.next;
        self.nodes.insert(
            ino,
            Node {
                path: path.to_string(),
                entry,
                lookups: 0,
            },
        );
        self.by_path.insert(path.to_string(), ino);
        ino
    }

    /// The kernel was told of `ino` once more (a lookup, mkdir or create answered).
    fn looked_up(&mut self, ino: u64) {
        if let Some(n) = self.nodes.get_mut(&ino) {
            n.lookups += 1;
        }
    }

    /// The kernel let go of `n` references to `ino`: with none left and no name leading to it (deleted,
    /// or renamed over) it goes. A node a name still leads to stays (the table is then as big as the
    /// part of the tree that was seen), so the next lookup finds it as it was.
    fn forget(&mut self, ino: u64, n: u64) {
        let Some(node) = self.nodes.get_mut(&ino) else {
            return;
        };
        node.lookups = node.lookups.saturating_sub(n);
        if node.lookups == 0 && ino != 1 && self.by_path.get(&node.path) != Some(&ino) {
            self.nodes.remove(&ino);
        }
    }

    /// The path of `ino`, while a name leads to it.
    fn path(&self, ino: u64) -> Option<String> {
        let n = self.nodes.get(&ino)?;
        (self.by_path.get(&n.path) == Some(&ino)).then(|| n.path.clone())
    }

    /// Unlinks `path` and everything below it: no name leads to them any more, but an inode still open
    /// keeps what was known of it (`fstat` of a deleted file that is open works, as POSIX says).
    fn remove(&mut self, path: &str) {
        let below = format!("{path}/");
        let nodes = &mut self.nodes;
        self.by_path.retain(|p, ino| {
            let keep = p != path && !p.starts_with(&below);
            // Unlinked and unknown to the kernel (only listed): nothing will ask for it again.
            if !keep && nodes.get(ino).is_some_and(|n| n.lookups == 0) && *ino != 1 {
                nodes.remove(ino);
            }
            keep
        });
    }

    /// Moves `from` and everything below it to `to`.
    fn rename(&mut self, from: &str, to: &str) {
        self.remove(to);
        let below = format!("{from}/");
        let moved: Vec<(String, u64)> = self
            .by_path
            .iter()
            .filter(|(p, _)| *p == from || p.starts_with(&below))
            .map(|(p, i)| (p.clone(), *i))
            .collect();
        for (old, ino) in moved {
            let new = format!("{to}{}", &old[from.len()..]);
            self.by_path.remove(&old);
            self.by_path.insert(new.clone(), ino);
            if let Some(n) = self.nodes.get_mut(&ino) {
                n.entry.name = name_of(&new).to_string();
                n.entry.path = new.clone();
                n.path = new;
            }
        }
    }
}

/// An open file.
enum Handle {
    Read {
        path: String,
        /// The download under way: where it stands, the stream, and bytes received but not read yet.
        stream: Option<(u64, ByteStream, Bytes)>,
    },
    Write {
        ino: u64,
        path: String,
        file: File,
        local: PathBuf,
        dirty: bool,
        /// Deleted while open: written and read on as POSIX says, never uploaded.
        unlinked: bool,
    },
    /// A file read from its version waiting for upload.
    Local { file: File },
    /// A file read through the read cache.
    Cached {
        path: String,
        cached: Arc<readcache::Cached>,
        size: u64,
        /// Where the last read ended, and how much the sequential run up to it has read.
        next: u64,
        run: u64,
        /// How many seeks came after short reads: scattered small reads (a database, an index, a
        /// checksum over blocks) that will touch the whole file, which is then brought in behind.
        scattered: u32,
        /// Bytes read since the last seek.
        since_seek: u64,
    },
}

/// The file system a mount serves (see the crate docs).
pub struct CloudFs {
    storage: Arc<dyn Storage>,
    root: String,
    rt: tokio::runtime::Handle,
    opts: Options,
    inodes: Arc<Mutex<Inodes>>,
    listings: Arc<meta::Listings>,
    /// Whether the change feed is followed and answered at its last asking: listings are then kept
    /// until it says they changed.
    feed_ok: Arc<AtomicBool>,
    /// Folders being listed again in the background, and how many such listings run at once.
    refreshing: Arc<Mutex<std::collections::HashSet<String>>>,
    refresh_slots: Arc<tokio::sync::Semaphore>,
    handles: Mutex<HashMap<u64, Arc<Mutex<Handle>>>>,
    next_handle: AtomicU64,
    pending: Arc<writeback::WriteBack>,
    reads: Option<Arc<readcache::ReadCache>>,
    /// The remote's last `about` and when it was asked (`df` asks often; the service is asked at most
    /// every `ABOUT_TTL`).
    about: Mutex<Option<(Instant, cloudmux_core::About)>>,
    /// When the mount started: the time shown for what the service gives none (the root of most).
    started: SystemTime,
}

/// Where a file's bytes are read from: its path on the remote, or (for a file whose name it shares with
/// another in its folder) its id.
#[derive(Clone, Debug)]
enum Source {
    Path(String),
    Id(String),
}

impl Source {
    /// The bytes of `range`.
    async fn read(
        &self,
        storage: &dyn Storage,
        range: ByteRange,
    ) -> cloudmux_core::Result<ByteStream> {
        match self {
            Source::Path(p) => storage.read(p, range).await,
            Source::Id(id) => storage.read_id(id, range).await,
        }
    }
}

/// The id of a file shown under a name it shares with others in its folder: the name then holds it
/// (`report [ID].pdf`, see `fetch_listing`). A name that holds its own id any other way names the same
/// file, so reading it by id is right whatever made the name.
fn twin_id(e: &Entry) -> Option<&str> {
    e.id.as_deref()
        .filter(|id| !e.is_dir && e.name.contains(&format!("[{id}]")))
}

/// `len` bytes of the remote file at `from` from `at` (fewer at its end), from any thread but the
/// runtime's.
fn fetch_range(
    rt: &tokio::runtime::Handle,
    storage: &Arc<dyn Storage>,
    from: &Source,
    at: u64,
    len: u64,
) -> std::io::Result<Vec<u8>> {
    rt.block_on(async {
        let mut s = from
            .read(&**storage, ByteRange::new(at, Some(len)))
            .await
            .map_err(std::io::Error::other)?;
        // Never more than was asked for, whatever the service sends.
        let want = len as usize;
        let mut out = Vec::with_capacity(want);
        while out.len() < want
            && let Some(chunk) = s.next().await
        {
            let chunk = chunk.map_err(std::io::Error::other)?;
            let take = chunk.len().min(want - out.len());
            out.extend_from_slice(&chunk[..take]);
        }
        // Let the body end (its connection is then reused).
        if out.len() == want {
            let _ = s.next().await;
        }
        Ok(out)
    })
}

/// A mutex's guard, whether or not a thread panicked holding it.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Where `path` (under the mount) is on the remote whose mounted folder is `root`.
pub(crate) fn on_remote(root: &str, path: &str) -> String {
    match (root.is_empty(), path.is_empty()) {
        (true, _) => path.to_string(),
        (false, true) => root.to_string(),
        (false, false) => format!("{root}/{path}"),
    }
}

/// Uploads the file `name` of the folder `dir` to `remote` of `storage` through the transfer engine
/// (checked against the service's hash, retried, paced; resumable with `resume`): what the service
/// then holds.
pub(crate) async fn upload_file(
    dir: &Path,
    name: &str,
    storage: &Arc<dyn Storage>,
    remote: &str,
    resume: Option<cloudmux_vfs::ResumeScope>,
) -> cloudmux_core::Result<Entry> {
    let cache: Arc<dyn Storage> = Arc::new(cloudmux_local::LocalStorage::new(dir)?);
    let options = cloudmux_vfs::Options {
        resume,
        ..Default::default()
    };
    let from = cloudmux_vfs::Source::Path(name.to_string());
    cloudmux_vfs::copy_file(&cache, &from, storage, remote, &options, |_| {})
        .await
        .map(|(_, written)| written)
}

/// The entries of folder `remote` (`path` under the mount), without those whose names cannot be file
/// names.
async fn fetch_listing(
    storage: &dyn Storage,
    remote: &str,
    path: &str,
    formats: &[String],
) -> cloudmux_core::Result<Arc<Vec<Entry>>> {
    let got = cloudmux_core::list_all(storage, remote).await?;
    let mut seen = std::collections::HashSet::new();
    Ok(Arc::new(
        got.into_iter()
            .filter_map(|e| docs::present(e, formats))
            .filter_map(|mut e| {
                // Drive lets a folder hold one name many times; a file system cannot. The first keeps
                // it, the others show their id in it (`report [ID].pdf`), read-only but deletable —
                // as `cloudmux ls` lists them all and `gd:id:ID` reaches each.
                if seen.insert(e.name.clone()) {
                    return Some(e);
                }
                let id = e.id.clone().filter(|_| !e.is_dir)?;
                let name = match e.name.rfind('.').filter(|&i| i > 0) {
                    Some(i) => format!("{} [{id}]{}", &e.name[..i], &e.name[i..]),
                    None => format!("{} [{id}]", e.name),
                };
                e.path = join(parent_of(&e.path), &name);
                e.name = name;
                Some(e)
            })
            .filter(|e| {
                let ok = cloudmux_core::name::is_valid(&e.name) && e.name.len() <= NAME_MAX;
                if !ok {
                    tracing::warn!("/{path}: leaving out the entry named {:?}", e.name);
                }
                ok
            })
            .collect(),
    ))
}

/// Records that `path` now holds `e` on the service: its inode's entry, and its folder's listing
/// dropped.
fn record_upload(inodes: &Mutex<Inodes>, listings: &meta::Listings, path: &str, mut e: Entry) {
    e.path = path.to_string();
    e.name = name_of(path).to_string();
    listings.upsert(parent_of(path), e.clone());
    let mut inodes = lock(inodes);
    if let Some(&ino) = inodes.by_path.get(path)
        && let Some(n) = inodes.nodes.get_mut(&ino)
    {
        n.entry = e;
    }
}

fn name_of(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

fn parent_of(path: &str) -> &str {
    path.rfind('/').map_or("", |i| &path[..i])
}

fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_string()
    } else {
        format!("{dir}/{name}")
    }
}

/// The errno that says `e` to a program.
fn errno(e: &Error) -> Errno {
    match e.kind() {
        ErrorKind::NotFound => Errno::ENOENT,
        ErrorKind::AlreadyExists => Errno::EEXIST,
        ErrorKind::PermissionDenied | ErrorKind::ScopeMissing | ErrorKind::ReauthRequired => {
            Errno::EACCES
        }
        ErrorKind::QuotaExceeded | ErrorKind::UploadLimit => Errno::ENOSPC,
        ErrorKind::InvalidInput => Errno::EINVAL,
        ErrorKind::Conflict => Errno::ENOTEMPTY,
        ErrorKind::Unsupported | ErrorKind::ApiDisabled => Errno::ENOTSUP,
        ErrorKind::RateLimited | ErrorKind::Transient => Errno::EAGAIN,
        _ => Errno::EIO,
    }
}

/// A name from the kernel as a remote can hold it.
fn checked_name(name: &OsStr) -> Result<&str, Errno> {
    let n = name.to_str().ok_or(Errno::EINVAL)?;
    if n.len() > NAME_MAX {
        return Err(Errno::ENAMETOOLONG);
    }
    if !cloudmux_core::name::is_valid(n) {
        return Err(Errno::EINVAL);
    }
    Ok(n)
}

impl CloudFs {
    /// A file system over `root` (a folder path, `""` for the whole remote) of `storage`, running its
    /// requests on `rt`.
    pub fn new(
        storage: Arc<dyn Storage>,
        root: &str,
        rt: tokio::runtime::Handle,
        opts: Options,
    ) -> std::io::Result<Self> {
        std::fs::create_dir_all(&opts.cache_dir)?;
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&opts.cache_dir, std::fs::Permissions::from_mode(0o700))?;
        }
        let inodes = Inodes::with_root();
        let root = root.trim_matches('/').to_string();
        let inodes = Arc::new(Mutex::new(inodes));
        let listings = Arc::new(meta::Listings::open(&opts.cache_dir, &root)?);
        let uploaded: writeback::Uploaded = {
            let (inodes, listings) = (inodes.clone(), listings.clone());
            Arc::new(move |path: &str, e: Entry| record_upload(&inodes, &listings, path, e))
        };
        let pending = writeback::WriteBack::open(
            &opts.cache_dir,
            storage.clone(),
            root.clone(),
            opts.write_back,
            rt.clone(),
            uploaded,
        )?;
        let reads = match opts.read_cache {
            Some(max) => Some(readcache::ReadCache::open(
                &opts.cache_dir,
                max,
                opts.cache_min_free,
            )?),
            None => None,
        };
        Ok(CloudFs {
            storage,
            root,
            rt,
            pending,
            reads,
            opts,
            inodes,
            listings,
            feed_ok: Arc::default(),
            refreshing: Arc::default(),
            refresh_slots: Arc::new(tokio::sync::Semaphore::new(4)),
            handles: Default::default(),
            next_handle: AtomicU64::new(1),
            about: Mutex::new(None),
            started: SystemTime::now(),
        })
    }

    /// Where `path` (under the mount) is on the remote.
    fn remote(&self, path: &str) -> String {
        on_remote(&self.root, path)
    }

    /// Whether `h` is still in the table (not being released). Asked holding `h`'s lock, which a release
    /// takes only after taking `h` out of the table: a handle found here is uploaded after this change.
    fn is_open(&self, h: &Arc<Mutex<Handle>>) -> bool {
        lock(&self.handles).values().any(|x| Arc::ptr_eq(x, h))
    }

    /// Every open file's handle, taken out of the table (so that none is locked while the table is).
    fn open_handles(&self) -> Vec<Arc<Mutex<Handle>>> {
        lock(&self.handles).values().cloned().collect()
    }

    fn attr(&self, ino: u64, e: &Entry) -> FileAttr {
        let (kind, perm, nlink) = if e.is_dir {
            (FileType::Directory, 0o777 & !self.opts.umask, 2)
        } else {
            (FileType::RegularFile, 0o666 & !self.opts.umask, 1)
        };
        let size = e.size.unwrap_or(0);
        let t = e.modified.map_or(self.started, SystemTime::from);
        FileAttr {
            ino: INodeNo(ino),
            size,
            blocks: size.div_ceil(512),
            atime: t,
            mtime: t,
            ctime: t,
            crtime: t,
            kind,
            perm: perm as u16,
            nlink,
            uid: self.opts.uid,
            gid: self.opts.gid,
            rdev: 0,
            flags: 0,
            blksize: BLOCK as u32,
        }
    }

    /// The entries of folder `path`: from the cache while it is fresh (always, while the change feed is
    /// followed), at once but asked again in the background when it comes from an earlier mount.
    fn listing(&self, path: &str) -> Result<Arc<Vec<Entry>>, Errno> {
        if let Some(l) = self.listings.get(path) {
            if l.unverified {
                self.refresh_later(path);
                return Ok(l.entries);
            }
            if self.feed_ok.load(Ordering::SeqCst) || l.at.elapsed() < self.opts.dir_ttl {
                return Ok(l.entries);
            }
        }
        let epoch = self.listings.epoch();
        let l = self
            .rt
            .block_on(fetch_listing(
                &*self.storage,
                &self.remote(path),
                path,
                &self.opts.export_formats,
            ))
            .map_err(|e| errno(&e))?;
        self.listings.put(path, l.clone(), epoch);
        Ok(l)
    }

    /// Lists `path` again in the background (a few folders at a time), once.
    fn refresh_later(&self, path: &str) {
        if !lock(&self.refreshing).insert(path.to_string()) {
            return;
        }
        let (storage, listings, refreshing, slots) = (
            self.storage.clone(),
            self.listings.clone(),
            self.refreshing.clone(),
            self.refresh_slots.clone(),
        );
        let (path, remote) = (path.to_string(), self.remote(path));
        let formats = self.opts.export_formats.clone();
        self.rt.spawn(async move {
            let _slot = slots.acquire().await;
            let epoch = listings.epoch();
            match fetch_listing(&*storage, &remote, &path, &formats).await {
                Ok(l) => listings.put(&path, l, epoch),
                // Not there any more: its parent's listing is being asked again too.
                Err(e) if e.kind() == ErrorKind::NotFound => listings.remove(&path),
                Err(e) => tracing::warn!("listing /{path} again: {e}"),
            }
            lock(&refreshing).remove(&path);
        });
    }

    fn path_of(&self, ino: INodeNo) -> Result<String, Errno> {
        lock(&self.inodes).path(ino.0).ok_or(Errno::ENOENT)
    }

    /// The size of the writer open on `ino`, if any, and the time of its last change once it has one.
    fn writer_state(&self, ino: u64) -> Option<(u64, Option<SystemTime>)> {
        self.open_handles().iter().find_map(|h| match &*lock(h) {
            Handle::Write {
                ino: i,
                file,
                dirty,
                ..
            } if *i == ino => {
                let m = file.metadata().ok()?;
                Some((m.len(), m.modified().ok().filter(|_| *dirty)))
            }
            _ => None,
        })
    }

    /// What `ino` is now: a writer's size where one is open.
    fn entry_of(&self, ino: u64) -> Option<Entry> {
        let node = lock(&self.inodes).nodes.get(&ino)?.clone();
        let mut e = node.entry;
        if let Some((item, _)) = self.pending.get(&node.path) {
            e.size = Some(item.size);
            e.modified = Some(item.modified.into());
        }
        if let Some((size, changed)) = self.writer_state(ino) {
            e.size = Some(size);
            if let Some(t) = changed {
                e.modified = Some(t.into());
            }
        }
        Some(e)
    }

    /// The entries of folder `path` with the versions waiting for upload in it.
    fn listed(&self, path: &str) -> Result<Arc<Vec<Entry>>, Errno> {
        let listing = self.listing(path)?;
        let pending = self.pending.in_folder(path);
        if pending.is_empty() {
            return Ok(listing);
        }
        let mut all: Vec<Entry> = listing.as_ref().clone();
        for (p, item) in pending {
            let name = name_of(&p);
            let i = match all.iter().position(|e| e.name == name) {
                Some(i) => i,
                None => {
                    let mut e = Entry::dir(p.clone());
                    e.name = name.to_string();
                    e.is_dir = false;
                    all.push(e);
                    all.len() - 1
                }
            };
            all[i].size = Some(item.size);
            all[i].modified = Some(item.modified.into());
            all[i].hashes = Default::default();
        }
        Ok(Arc::new(all))
    }

    /// Fills `file` with the current bytes of `path`: its pending version, or the remote's.
    fn fill(&self, path: &str, file: &File) -> Result<(), Errno> {
        match self.pending.get(path) {
            Some((_, data)) => {
                let mut src = File::open(data).map_err(|_| Errno::EIO)?;
                let mut dst = file.try_clone().map_err(|_| Errno::EIO)?;
                std::io::copy(&mut src, &mut dst).map_err(|_| Errno::EIO)?;
                Ok(())
            }
            None => self.download_into(path, file),
        }
    }

    fn child(&self, parent: INodeNo, name: &OsStr) -> Result<(String, String), Errno> {
        let dir = self.path_of(parent)?;
        let name = checked_name(name)?;
        Ok((dir.clone(), join(&dir, name)))
    }

    fn writable(&self) -> Result<(), Errno> {
        if self.opts.read_only {
            Err(Errno::EROFS)
        } else {
            Ok(())
        }
    }

    fn add_handle(&self, h: Handle) -> u64 {
        let fh = self.next_handle.fetch_add(1, Ordering::Relaxed);
        lock(&self.handles).insert(fh, Arc::new(Mutex::new(h)));
        fh
    }

    fn handle(&self, fh: FileHandle) -> Result<Arc<Mutex<Handle>>, Errno> {
        lock(&self.handles).get(&fh.0).cloned().ok_or(Errno::EBADF)
    }

    /// A new file of the cache folder for a file being written.
    fn cache_file(&self) -> std::io::Result<(File, PathBuf)> {
        let n = self.next_handle.fetch_add(1, Ordering::Relaxed);
        let local = PathBuf::from(format!("write-{}-{n}", std::process::id()));
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(self.opts.cache_dir.join(&local))?;
        Ok((file, local))
    }

    /// `EACCES` when `path` is read-only on the mount: a Google Docs file shown as its export, or a file
    /// shown under its id because its name is another's too.
    fn read_only(&self, path: &str) -> Result<(), Errno> {
        let fixed = self.known(path).is_some_and(|e| {
            docs::source(&e, &self.opts.export_formats).is_some() || twin_id(&e).is_some()
        });
        if fixed { Err(Errno::EACCES) } else { Ok(()) }
    }

    /// What the inode table knows of `path`.
    fn known(&self, path: &str) -> Option<Entry> {
        let inodes = lock(&self.inodes);
        let ino = inodes.by_path.get(path)?;
        Some(inodes.nodes.get(ino)?.entry.clone())
    }

    /// A Google Docs file at `path` (named `name` on the service) exported as `mime` into a file of the
    /// cache folder that is already unlinked (nothing is left of it after a crash). At most
    /// `EXPORT_MAX` bytes: Drive's own cap is 10 MB.
    fn export(&self, path: &str, name: &str, mime: &str) -> Result<File, Errno> {
        let (mut file, local) = self.cache_file().map_err(|_| Errno::EIO)?;
        let _ = std::fs::remove_file(self.opts.cache_dir.join(&local));
        let remote = self.remote(&join(parent_of(path), name));
        self.rt.block_on(async {
            let mut s = self.storage.export(&remote, mime).await.map_err(|e| {
                tracing::warn!("/{path}: export as {mime}: {e}");
                errno(&e)
            })?;
            let mut n = 0u64;
            while let Some(chunk) = s.next().await {
                let chunk = chunk.map_err(|e| errno(&e))?;
                n += chunk.len() as u64;
                if n > EXPORT_MAX {
                    tracing::warn!("/{path}: the export is over {EXPORT_MAX} bytes");
                    return Err(Errno::EFBIG);
                }
                std::io::Write::write_all(&mut file, &chunk).map_err(|_| Errno::EIO)?;
            }
            Ok(())
        })?;
        Ok(file)
    }

    /// Copies the remote file `path` into `file`.
    fn download_into(&self, path: &str, file: &File) -> Result<(), Errno> {
        let remote = self.remote(path);
        self.rt.block_on(async {
            let mut s = self
                .storage
                .read(&remote, ByteRange::all())
                .await
                .map_err(|e| errno(&e))?;
            let mut at = 0u64;
            while let Some(chunk) = s.next().await {
                let chunk = chunk.map_err(|e| errno(&e))?;
                file.write_all_at(&chunk, at).map_err(|_| Errno::EIO)?;
                at += chunk.len() as u64;
            }
            Ok(())
        })
    }

    /// Uploads a file being written, through the transfer engine; `close` reports its failure.
    fn upload(&self, h: &mut Handle) -> Result<(), Errno> {
        let Handle::Write {
            ino: _,
            path,
            file,
            local,
            dirty,
            unlinked,
        } = h
        else {
            return Ok(());
        };
        if !*dirty || *unlinked {
            return Ok(());
        }
        if let Some(rc) = &self.reads {
            rc.forget(path);
        }
        if !self.opts.write_back.is_zero() {
            self.pending.add(path, file).map_err(|e| {
                tracing::warn!("{path}: cannot keep it for upload: {e}");
                Errno::EIO
            })?;
            *dirty = false;
            return Ok(());
        }
        file.sync_all().map_err(|_| Errno::EIO)?;
        let written = self
            .rt
            .block_on(upload_file(
                &self.opts.cache_dir,
                &local.to_string_lossy(),
                &self.storage,
                &self.remote(path),
                None,
            ))
            .map_err(|e| {
                tracing::warn!("{path}: the upload failed: {e}");
                errno(&e)
            })?;
        *dirty = false;
        // An older version an earlier mount left pending must not overwrite this one.
        self.pending.remove(path);
        record_upload(&self.inodes, &self.listings, path, written);
        Ok(())
    }

    /// A close (`flush`) or `fsync` of a file: what was written is kept for upload (or uploaded).
    fn close_or_sync(&self, fh: FileHandle, reply: ReplyEmpty) {
        match self.handle(fh).and_then(|h| self.upload(&mut lock(&h))) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    /// Deletes the file at `path`: its pending version, and the remote's (to the trash where there is one).
    fn delete(&self, path: &str) -> Result<(), Errno> {
        if let Some(rc) = &self.reads {
            rc.forget(path);
        }
        // Files open for writing go on as POSIX says (their bytes stay until closed), but never reach
        // the service under a name that was deleted.
        let handles = self.open_handles();
        let below = format!("{path}/");
        let mut had_writer = false;
        for h in handles {
            if let Handle::Write {
                path: p, unlinked, ..
            } = &mut *lock(&h)
                && (p == path || p.starts_with(&below))
            {
                *unlinked = true;
                had_writer = true;
            }
        }
        let had_pending = self.pending.remove(path);
        let mode = if self.storage.capabilities().trash {
            DeleteMode::Trash
        } else {
            DeleteMode::Permanent
        };
        match self
            .rt
            .block_on(self.storage.delete(&self.remote(path), mode))
        {
            Ok(()) => Ok(()),
            // Only a pending version or a file still being written existed.
            Err(e) if e.kind() == ErrorKind::NotFound && (had_pending || had_writer) => Ok(()),
            Err(e) => Err(errno(&e)),
        }
    }

    /// Resizes the file at `ino` that no handle is writing: downloaded, cut and uploaded again.
    fn truncate_closed(&self, ino: u64, size: u64) -> Result<(), Errno> {
        let path = lock(&self.inodes).path(ino).ok_or(Errno::ENOENT)?;
        self.read_only(&path)?;
        let (file, local) = self.cache_file().map_err(|_| Errno::EIO)?;
        if size > 0 {
            self.fill(&path, &file)?;
        }
        file.set_len(size).map_err(|_| Errno::EIO)?;
        let mut h = Handle::Write {
            ino,
            path,
            file,
            local: local.clone(),
            dirty: true,
            unlinked: false,
        };
        let r = self.upload(&mut h);
        let _ = std::fs::remove_file(self.opts.cache_dir.join(local));
        r
    }

    /// Sets the modification time of `ino` where it is still ours to set: an open writer's file that
    /// was written, or the version waiting for its upload.
    fn set_time(&self, ino: u64, t: SystemTime) -> Result<(), Errno> {
        for h in self.open_handles() {
            if let Handle::Write {
                ino: i,
                file,
                dirty: true,
                ..
            } = &*lock(&h)
                && *i == ino
                && self.is_open(&h)
            {
                return file.set_modified(t).map_err(|_| Errno::EIO);
            }
        }
        let path = lock(&self.inodes).path(ino).ok_or(Errno::ENOENT)?;
        self.pending
            .set_modified(&path, t)
            .map_err(|_| Errno::EIO)?;
        Ok(())
    }

    /// `len` bytes of the remote file `remote` from `at` (fewer at its end).
    fn fetch(&self, from: &Source, at: u64, len: u64) -> std::io::Result<Vec<u8>> {
        fetch_range(&self.rt, &self.storage, from, at, len)
    }

    /// Where the bytes of `path` are read from (see [`Source`]).
    fn source(&self, path: &str) -> Source {
        match self.known(path).as_ref().and_then(twin_id) {
            Some(id) => Source::Id(id.to_string()),
            None => Source::Path(self.remote(path)),
        }
    }

    /// Reads `size` bytes at `offset` of a file open for reading, continuing its download when it can.
    fn read_stream(
        &self,
        path: &str,
        stream: &mut Option<(u64, ByteStream, Bytes)>,
        offset: u64,
        size: usize,
    ) -> Result<Vec<u8>, Errno> {
        self.rt.block_on(async {
            let reuse = matches!(stream, Some((pos, _, _)) if offset >= *pos && offset - *pos <= READ_THROUGH);
            if !reuse {
                let s = self
                    .source(path)
                    .read(&*self.storage, ByteRange::new(offset, None))
                    .await
                    .map_err(|e| errno(&e))?;
                *stream = Some((offset, s, Bytes::new()));
            }
            let Some((pos, s, pending)) = stream.as_mut() else {
                return Err(Errno::EIO);
            };
            let mut out = Vec::with_capacity(size);
            while out.len() < size {
                if pending.is_empty() {
                    match s.next().await {
                        Some(Ok(b)) => *pending = b,
                        Some(Err(e)) => {
                            let err = errno(&e);
                            *stream = None;
                            return Err(err);
                        }
                        None => break,
                    }
                    continue;
                }
                // Bytes before `offset` (a short jump forward) are read through and dropped.
                if *pos < offset {
                    let skip = ((offset - *pos) as usize).min(pending.len());
                    *pending = pending.slice(skip..);
                    *pos += skip as u64;
                    continue;
                }
                let take = (size - out.len()).min(pending.len());
                out.extend_from_slice(&pending[..take]);
                *pending = pending.slice(take..);
                *pos += take as u64;
            }
            Ok(out)
        })
    }
}

impl CloudFs {
    /// Follows the service's change feed, where it has one and `poll_interval` is not zero: asks what
    /// changed since the cursor saved by the last mount (what changed while nothing was mounted), keeps
    /// the listings it does not name, then asks again every `poll_interval` in the background. Returns
    /// once the first asking is done, so that a remount answers from the cache without asking anything
    /// else. Without a feed, listings last `dir_ttl` and those of an earlier mount are asked again as
    /// they are used.
    pub async fn follow_changes(&self) {
        if self.opts.poll_interval.is_zero() {
            return;
        }
        let mut feed = Feed {
            storage: self.storage.clone(),
            listings: self.listings.clone(),
            ok: self.feed_ok.clone(),
            cursor: None,
        };
        let root_id = match self.storage.stat(&self.root).await {
            Ok(e) => e.id,
            Err(e) => {
                tracing::warn!("the mounted folder: {e}");
                None
            }
        };
        let Some(root_id) = root_id else {
            return;
        };
        self.listings.set_root_id(&root_id);
        if let Some(saved) = self.listings.cursor() {
            feed.cursor = Some(saved);
            if feed.poll().await {
                self.listings.verify_all();
            }
        }
        if feed.cursor.is_none() && !feed.begin().await {
            return;
        }
        let every = self.opts.poll_interval;
        self.rt.spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                if feed.cursor.is_none() {
                    feed.begin().await;
                } else {
                    feed.poll().await;
                }
            }
        });
    }
}

/// A mount's use of its service's change feed.
struct Feed {
    storage: Arc<dyn Storage>,
    listings: Arc<meta::Listings>,
    ok: Arc<AtomicBool>,
    cursor: Option<String>,
}

impl Feed {
    /// Starts from where the feed is now; false when the service has no feed (or did not answer).
    async fn begin(&mut self) -> bool {
        match self.storage.change_cursor().await {
            Ok(Some(c)) => {
                self.listings.save_cursor(Some(&c));
                self.cursor = Some(c);
                self.ok.store(true, Ordering::SeqCst);
                true
            }
            Ok(None) => false,
            Err(e) => {
                tracing::warn!("asking where the change feed stands: {e}");
                false
            }
        }
    }

    /// Takes in every page of changes since the cursor; false if the service did not answer (the
    /// listings then last their `dir_ttl` until it does).
    async fn poll(&mut self) -> bool {
        let Some(mut cursor) = self.cursor.clone() else {
            return false;
        };
        loop {
            match self.storage.changes_since(&cursor).await {
                Ok(page) => {
                    let n = self.listings.apply(&page.changes);
                    if n > 0 {
                        tracing::debug!("{} changes: {n} listings dropped", page.changes.len());
                    }
                    cursor = page.cursor;
                    self.listings.save_cursor(Some(&cursor));
                    if !page.more {
                        break;
                    }
                }
                Err(e) => {
                    self.ok.store(false, Ordering::SeqCst);
                    if matches!(e.kind(), ErrorKind::InvalidInput | ErrorKind::NotFound) {
                        // The service no longer knows the cursor: nothing kept can be trusted.
                        tracing::warn!("the change feed forgot where it was ({e}); listing again");
                        self.listings.remove_tree("");
                        self.listings.save_cursor(None);
                        self.cursor = None;
                    } else {
                        tracing::warn!("asking the change feed: {e}");
                        self.cursor = Some(cursor);
                    }
                    return false;
                }
            }
        }
        self.cursor = Some(cursor);
        self.ok.store(true, Ordering::SeqCst);
        true
    }
}

/// Mounts `fs` at `mountpoint` (which must be an empty folder unless `allow_non_empty`) and serves it
/// on background threads until the returned session is dropped or the folder is unmounted.
pub fn mount(
    fs: CloudFs,
    mountpoint: &Path,
    allow_other: bool,
    allow_non_empty: bool,
    fsname: &str,
) -> std::io::Result<fuser::BackgroundSession> {
    let meta = std::fs::metadata(mountpoint).map_err(|e| {
        std::io::Error::new(
            e.kind(),
            format!("mount point {}: {e}", mountpoint.display()),
        )
    })?;
    if !meta.is_dir() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("mount point {} is not a folder", mountpoint.display()),
        ));
    }
    if !allow_non_empty && std::fs::read_dir(mountpoint)?.next().is_some() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::AlreadyExists,
            format!(
                "mount point {} is not empty (what is in it would be hidden)",
                mountpoint.display()
            ),
        ));
    }
    let mut cfg = fuser::Config::default();
    cfg.mount_options = vec![
        fuser::MountOption::FSName(fsname.to_string()),
        fuser::MountOption::Subtype("cloudmux".into()),
        fuser::MountOption::NoDev,
        fuser::MountOption::NoSuid,
        if fs.opts.read_only {
            fuser::MountOption::RO
        } else {
            fuser::MountOption::RW
        },
    ];
    if allow_other {
        cfg.acl = fuser::SessionACL::All;
    }
    cfg.n_threads = Some(4);
    fuser::spawn_mount(fs, mountpoint, &cfg)
}

impl Filesystem for CloudFs {
    fn destroy(&mut self) {
        // Unmounted: the listings edited by changes made through the mount are written for the next.
        self.listings.flush();
    }

    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        let r = (|| {
            let (dir, path) = self.child(parent, name)?;
            // A file being written is there before its upload.
            // (The inode table is let go before the handles are looked at: a close holds its handle
            // while it records the upload in the table.)
            let known = lock(&self.inodes).by_path.get(&path).copied();
            if let Some(ino) = known
                && self.writer_state(ino).is_some()
            {
                return Ok(ino);
            }
            let listing = self.listed(&dir)?;
            let want = name_of(&path);
            let e = listing
                .iter()
                .find(|e| e.name == want)
                .ok_or(Errno::ENOENT)?;
            let mut e = e.clone();
            e.path = path.clone();
            Ok(lock(&self.inodes).put(&path, e))
        })();
        match r.and_then(|ino| self.entry_of(ino).map(|e| (ino, e)).ok_or(Errno::ENOENT)) {
            Ok((ino, e)) => {
                lock(&self.inodes).looked_up(ino);
                reply.entry(&KERNEL_TTL, &self.attr(ino, &e), Generation(0))
            }
            Err(e) => reply.error(e),
        }
    }

    fn forget(&self, _req: &Request, ino: INodeNo, nlookup: u64) {
        lock(&self.inodes).forget(ino.0, nlookup);
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        match self.entry_of(ino.0) {
            Some(e) => {
                let mut attr = self.attr(ino.0, &e);
                if ino.0 != 1 && lock(&self.inodes).path(ino.0).is_none() {
                    // Deleted, still open: no name leads to it.
                    attr.nlink = 0;
                }
                reply.attr(&KERNEL_TTL, &attr)
            }
            None => reply.error(Errno::ENOENT),
        }
    }

    fn setattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        _mode: Option<u32>,
        _uid: Option<u32>,
        _gid: Option<u32>,
        size: Option<u64>,
        _atime: Option<TimeOrNow>,
        mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<fuser::BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        // Owners and modes are the mount's. A time set on a file being written or waiting for its upload
        // goes up with it (where the service keeps times); one set on a file already on the service
        // stays the service's. The size changes here too.
        let r = (|| {
            if let Some(t) = mtime {
                self.writable()?;
                let t = match t {
                    TimeOrNow::SpecificTime(t) => t,
                    TimeOrNow::Now => SystemTime::now(),
                };
                self.set_time(ino.0, t)?;
            }
            let Some(size) = size else { return Ok(()) };
            self.writable()?;
            let writer = match fh {
                Some(fh) => Some(self.handle(fh)?),
                None => {
                    let handles = self.open_handles();
                    handles
                        .into_iter()
                        .find(|h| matches!(&*lock(h), Handle::Write { ino: i, .. } if *i == ino.0))
                }
            };
            if let Some(h) = writer {
                let mut g = lock(&h);
                // A writer being released (its close raced this) has been or is about to be uploaded
                // as it was: the file is then truncated as a closed one.
                if let Handle::Write { file, dirty, .. } = &mut *g
                    && self.is_open(&h)
                {
                    file.set_len(size).map_err(|_| Errno::EIO)?;
                    *dirty = true;
                    return Ok(());
                }
            }
            self.truncate_closed(ino.0, size)
        })();
        match r.and_then(|()| self.entry_of(ino.0).ok_or(Errno::ENOENT)) {
            Ok(mut e) => {
                // The size asked for is the file's now, whatever an upload of an earlier version does.
                if size.is_some() {
                    e.size = size;
                }
                reply.attr(&KERNEL_TTL, &self.attr(ino.0, &e))
            }
            Err(e) => reply.error(e),
        }
    }

    fn mkdir(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        _mode: u32,
        _umask: u32,
        reply: ReplyEntry,
    ) {
        let r = (|| {
            self.writable()?;
            let (dir, path) = self.child(parent, name)?;
            let mut e = self
                .rt
                .block_on(self.storage.mkdir(&self.remote(&path)))
                .map_err(|e| errno(&e))?;
            e.path = path.clone();
            e.name = name_of(&path).to_string();
            self.listings.upsert(&dir, e.clone());
            let ino = lock(&self.inodes).put(&path, e.clone());
            Ok((ino, e))
        })();
        match r {
            Ok((ino, e)) => {
                lock(&self.inodes).looked_up(ino);
                reply.entry(&KERNEL_TTL, &self.attr(ino, &e), Generation(0))
            }
            Err(e) => reply.error(e),
        }
    }

    fn unlink(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        let r = (|| {
            self.writable()?;
            let (dir, path) = self.child(parent, name)?;
            if let Source::Id(id) = self.source(&path) {
                self.rt
                    .block_on(self.storage.delete_id(&id, DeleteMode::Trash))
                    .map_err(|e| errno(&e))?;
            } else {
                self.read_only(&path)?;
                self.delete(&path)?;
            }
            self.listings.remove_entry(&dir, name_of(&path));
            lock(&self.inodes).remove(&path);
            Ok(())
        })();
        match r {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn rmdir(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        let r = (|| {
            self.writable()?;
            let (dir, path) = self.child(parent, name)?;
            if !self.listed(&path)?.is_empty() {
                return Err(Errno::ENOTEMPTY);
            }
            self.rt
                .block_on(self.storage.rmdir(&self.remote(&path)))
                .map_err(|e| errno(&e))?;
            self.listings.remove_entry(&dir, name_of(&path));
            self.listings.remove_tree(&path);
            lock(&self.inodes).remove(&path);
            Ok(())
        })();
        match r {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn rename(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        newparent: INodeNo,
        newname: &OsStr,
        flags: RenameFlags,
        reply: ReplyEmpty,
    ) {
        let r = (|| {
            self.writable()?;
            let (dir, from) = self.child(parent, name)?;
            let (newdir, to) = self.child(newparent, newname)?;
            if from == to {
                return Ok(());
            }
            self.read_only(&from)?;
            self.read_only(&to)?;
            if to.starts_with(&format!("{from}/")) {
                return Err(Errno::EINVAL);
            }
            let no_replace = flags.contains(RenameFlags::RENAME_NOREPLACE);
            if !(flags - RenameFlags::RENAME_NOREPLACE).is_empty() {
                return Err(Errno::EINVAL);
            }
            // POSIX: an existing file at the new name is replaced; an existing folder only when empty.
            let target = self
                .listed(&newdir)?
                .iter()
                .find(|e| e.name == name_of(&to))
                .cloned();
            if let Some(t) = target {
                if no_replace {
                    return Err(Errno::EEXIST);
                }
                let source_dir = self
                    .listed(&dir)?
                    .iter()
                    .find(|e| e.name == name_of(&from))
                    .map(|e| e.is_dir)
                    .ok_or(Errno::ENOENT)?;
                match (source_dir, t.is_dir) {
                    (false, true) => return Err(Errno::EISDIR),
                    (true, false) => return Err(Errno::ENOTDIR),
                    (true, true) if !self.listed(&to)?.is_empty() => {
                        return Err(Errno::ENOTEMPTY);
                    }
                    _ => {}
                }
                self.delete(&to)?;
            }
            if let Some(rc) = &self.reads {
                rc.forget(&from);
                rc.forget(&to);
            }
            let moved_pending = self.pending.rename(&from, &to).map_err(|_| Errno::EIO)?;
            match self
                .rt
                .block_on(self.storage.rename(&self.remote(&from), &self.remote(&to)))
            {
                Ok(mut e) => {
                    self.listings.remove_entry(&dir, name_of(&from));
                    e.path = to.clone();
                    e.name = name_of(&to).to_string();
                    self.listings.upsert(&newdir, e);
                }
                // Only its pending version exists yet: it is uploaded under the new name.
                Err(e) if e.kind() == ErrorKind::NotFound && moved_pending => {
                    self.listings.remove_entry(&dir, name_of(&from));
                    self.listings.remove_entry(&newdir, name_of(&to));
                }
                Err(e) => return Err(errno(&e)),
            }
            self.listings.remove_tree(&from);
            self.listings.remove_tree(&to);
            lock(&self.inodes).rename(&from, &to);
            // Open writers upload to where the file is now.
            let handles = self.open_handles();
            for h in handles {
                match &mut *lock(&h) {
                    Handle::Write { path, .. }
                    | Handle::Read { path, .. }
                    | Handle::Cached { path, .. }
                        if *path == from || path.starts_with(&format!("{from}/")) =>
                    {
                        *path = format!("{to}{}", &path[from.len()..]);
                    }
                    _ => {}
                }
            }
            Ok(())
        })();
        match r {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn open(&self, _req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        let r = (|| {
            let path = self.path_of(ino)?;
            let e = self.entry_of(ino.0).ok_or(Errno::ENOENT)?;
            if e.is_dir {
                return Err(Errno::EISDIR);
            }
            if let Some((name, mime)) = docs::source(&e, &self.opts.export_formats) {
                if flags.acc_mode() != OpenAccMode::O_RDONLY {
                    return Err(Errno::EACCES);
                }
                let file = self.export(&path, &name, mime)?;
                let size = file.metadata().map_err(|_| Errno::EIO)?.len();
                if let Some(n) = lock(&self.inodes).nodes.get_mut(&ino.0) {
                    n.entry.size = Some(size);
                }
                return Ok((
                    self.add_handle(Handle::Local { file }),
                    FopenFlags::FOPEN_DIRECT_IO,
                ));
            }
            if flags.acc_mode() == OpenAccMode::O_RDONLY {
                if let Some((_, data)) = self.pending.get(&path) {
                    let file = File::open(data).map_err(|_| Errno::EIO)?;
                    return Ok((self.add_handle(Handle::Local { file }), FopenFlags::empty()));
                }
                if let Some(rc) = &self.reads {
                    let cached = rc.open_file(&path, &e).map_err(|_| Errno::EIO)?;
                    let fh = self.add_handle(Handle::Cached {
                        path,
                        cached,
                        size: e.size.unwrap_or(0),
                        next: u64::MAX,
                        run: 0,
                        scattered: 0,
                        since_seek: 0,
                    });
                    return Ok((fh, FopenFlags::empty()));
                }
                return Ok((
                    self.add_handle(Handle::Read { path, stream: None }),
                    FopenFlags::empty(),
                ));
            }
            self.writable()?;
            self.read_only(&path)?;
            let (file, local) = self.cache_file().map_err(|_| Errno::EIO)?;
            let trunc = flags.0 & libc::O_TRUNC != 0;
            if !trunc && e.size.unwrap_or(0) > 0 {
                if let Err(err) = self.fill(&path, &file) {
                    let _ = std::fs::remove_file(self.opts.cache_dir.join(&local));
                    return Err(err);
                }
            }
            let fh = self.add_handle(Handle::Write {
                ino: ino.0,
                path,
                file,
                local,
                dirty: trunc,
                unlinked: false,
            });
            Ok((fh, FopenFlags::empty()))
        })();
        match r {
            Ok((fh, how)) => reply.opened(FileHandle(fh), how),
            Err(e) => reply.error(e),
        }
    }

    fn create(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        _mode: u32,
        _umask: u32,
        _flags: i32,
        reply: ReplyCreate,
    ) {
        let r = (|| {
            self.writable()?;
            let (_dir, path) = self.child(parent, name)?;
            let (file, local) = self.cache_file().map_err(|_| Errno::EIO)?;
            let mut e = Entry::dir(path.clone());
            e.is_dir = false;
            e.size = Some(0);
            e.modified = Some(SystemTime::now().into());
            let ino = lock(&self.inodes).put(&path, e.clone());
            let fh = self.add_handle(Handle::Write {
                ino,
                path,
                file,
                local,
                dirty: true,
                unlinked: false,
            });
            Ok((ino, e, fh))
        })();
        match r {
            Ok((ino, e, fh)) => {
                lock(&self.inodes).looked_up(ino);
                reply.created(
                    &KERNEL_TTL,
                    &self.attr(ino, &e),
                    Generation(0),
                    FileHandle(fh),
                    FopenFlags::empty(),
                )
            }
            Err(e) => reply.error(e),
        }
    }

    fn read(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        let r = (|| {
            let h = self.handle(fh)?;
            let mut h = lock(&h);
            match &mut *h {
                Handle::Read { path, stream } => {
                    let path = path.clone();
                    self.read_stream(&path, stream, offset, size as usize)
                }
                Handle::Cached {
                    path,
                    cached,
                    size: total,
                    next,
                    run,
                    scattered,
                    since_seek,
                } => {
                    let end = offset.saturating_add(size as u64).min(*total);
                    if offset >= end {
                        return Ok(Vec::new());
                    }
                    let rc = self.reads.as_ref().ok_or(Errno::EIO)?;
                    let seek = *next != u64::MAX && offset.abs_diff(*next) > FAR;
                    if seek && std::mem::take(since_seek) < SCATTERED_RUN {
                        *scattered += 1;
                        if *scattered == SCATTERED_AFTER && rc.may_fill(*total) {
                            tracing::debug!("{path}: scattered reads, brought in whole behind");
                            let (rt, storage, from) =
                                (self.rt.clone(), self.storage.clone(), self.source(path));
                            rc.fill_all(
                                cached.clone(),
                                *total,
                                Arc::new(move |a, len| fetch_range(&rt, &storage, &from, a, len)),
                            );
                        }
                    }
                    *since_seek += end - offset;
                    *run = if offset == *next { *run } else { 0 } + (end - offset);
                    *next = end;
                    let ahead = (*run).clamp(AHEAD_FIRST, AHEAD_MAX);
                    rc.read(cached, offset, end, ahead, *total, |a, len| {
                        self.fetch(&self.source(path), a, len)
                    })
                    .map_err(|e| {
                        tracing::warn!("{path}: read failed: {e}");
                        Errno::EIO
                    })
                }
                Handle::Write { file, .. } | Handle::Local { file } => {
                    let mut buf = vec![0u8; size as usize];
                    let mut got = 0;
                    while got < buf.len() {
                        match file.read_at(&mut buf[got..], offset + got as u64) {
                            Ok(0) => break,
                            Ok(n) => got += n,
                            Err(_) => return Err(Errno::EIO),
                        }
                    }
                    buf.truncate(got);
                    Ok(buf)
                }
            }
        })();
        match r {
            Ok(data) => reply.data(&data),
            Err(e) => reply.error(e),
        }
    }

    fn write(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        data: &[u8],
        _write_flags: WriteFlags,
        flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        let r = (|| {
            let h = self.handle(fh)?;
            let mut h = lock(&h);
            match &mut *h {
                Handle::Write { file, dirty, .. } => {
                    let at = if flags.0 & libc::O_APPEND != 0 {
                        file.metadata().map_err(|_| Errno::EIO)?.len()
                    } else {
                        offset
                    };
                    file.write_all_at(data, at).map_err(|_| Errno::EIO)?;
                    *dirty = true;
                    Ok(data.len() as u32)
                }
                Handle::Read { .. } | Handle::Local { .. } | Handle::Cached { .. } => {
                    Err(Errno::EBADF)
                }
            }
        })();
        match r {
            Ok(n) => reply.written(n),
            Err(e) => reply.error(e),
        }
    }

    fn flush(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _lock_owner: LockOwner,
        reply: ReplyEmpty,
    ) {
        self.close_or_sync(fh, reply);
    }

    fn fsync(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        self.close_or_sync(fh, reply);
    }

    fn release(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        let Some(handle) = lock(&self.handles).get(&fh.0).cloned() else {
            reply.error(Errno::EBADF);
            return;
        };
        let mut h = lock(&handle);
        if let (Handle::Cached { cached, .. }, Some(rc)) = (&*h, &self.reads) {
            rc.close(cached);
        }
        let r = self.upload(&mut h);
        // The handle leaves the table only once its version is kept (or uploaded), still locked: a stat
        // or a truncate by path meanwhile waits for it here instead of reading the version before it
        // (release comes after close returned, so the writer's process may already be asking).
        lock(&self.handles).remove(&fh.0);
        if let Handle::Write { local, path, .. } = &*h {
            if r.is_err() {
                tracing::warn!(
                    "{path}: not uploaded; what was written stays in {}",
                    self.opts.cache_dir.join(local).display()
                );
            } else {
                let _ = std::fs::remove_file(self.opts.cache_dir.join(local));
            }
        }
        match r {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn readdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        let r = (|| {
            let path = self.path_of(ino)?;
            let listing = self.listed(&path)?;
            let parent = if path.is_empty() {
                1
            } else {
                lock(&self.inodes)
                    .by_path
                    .get(parent_of(&path))
                    .copied()
                    .unwrap_or(1)
            };
            // A big folder is read in many calls, each from `offset` until the kernel's buffer is
            // full: only the entries sent are looked at (entry `i` has the offset `i + 1`).
            let dots = [(ino.0, "."), (parent, "..")];
            for (i, (n, name)) in dots.into_iter().enumerate().skip(offset as usize) {
                if reply.add(INodeNo(n), (i + 1) as u64, FileType::Directory, name) {
                    return Ok(());
                }
            }
            let mut inodes = lock(&self.inodes);
            let first = (offset as usize).saturating_sub(dots.len());
            for (j, e) in listing.iter().enumerate().skip(first) {
                let child = join(&path, &e.name);
                let kind = if e.is_dir {
                    FileType::Directory
                } else {
                    FileType::RegularFile
                };
                let mut entry = e.clone();
                entry.path = child.clone();
                let n = inodes.put(&child, entry);
                if reply.add(INodeNo(n), (j + dots.len() + 1) as u64, kind, &e.name) {
                    break;
                }
            }
            Ok(())
        })();
        match r {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn statfs(&self, _req: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        // Unknown or unlimited space is shown as a petabyte, free as what is not used of it.
        let kept = lock(&self.about)
            .clone()
            .filter(|(at, _)| at.elapsed() < ABOUT_TTL);
        let about = match kept {
            Some((_, a)) => Some(a),
            None => {
                let asked = self.rt.block_on(self.storage.about()).ok();
                if let Some(a) = &asked {
                    *lock(&self.about) = Some((Instant::now(), a.clone()));
                }
                asked
            }
        };
        let total = about.as_ref().and_then(|a| a.total).unwrap_or(1 << 50);
        let used = about.as_ref().and_then(|a| a.used).unwrap_or(0).min(total);
        let blocks = total / BLOCK;
        let free = (total - used) / BLOCK;
        reply.statfs(
            blocks,
            free,
            free,
            1 << 30,
            1 << 30,
            BLOCK as u32,
            NAME_MAX as u32,
            BLOCK as u32,
        );
    }
}

/// Unmounts the FUSE mount at `mountpoint` (as `fusermount3 -u` does).
pub fn unmount(mountpoint: &Path) -> std::io::Result<()> {
    let mut last = None;
    for tool in ["fusermount3", "fusermount"] {
        match std::process::Command::new(tool)
            .arg("-u")
            .arg(mountpoint)
            .status()
        {
            Ok(s) if s.success() => return Ok(()),
            Ok(s) => {
                return Err(std::io::Error::other(format!(
                    "{tool} -u {} failed ({s}): is it a cloudmux mount, and yours?",
                    mountpoint.display()
                )));
            }
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| std::io::Error::other("no fusermount")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(path: &str) -> Entry {
        let mut e = Entry::dir(path.to_string());
        e.name = name_of(path).to_string();
        e
    }

    #[test]
    fn a_rename_moves_everything_below() {
        let mut i = Inodes::with_root();
        let a = i.put("a", entry("a"));
        let b = i.put("a/b", entry("a/b"));
        let other = i.put("ab", entry("ab"));
        let gone = i.put("x", entry("x"));
        i.put("x/y", entry("x/y"));
        i.rename("a", "x");
        assert_eq!(i.path(a).as_deref(), Some("x"));
        assert_eq!(i.path(b).as_deref(), Some("x/b"));
        assert_eq!(
            i.path(other).as_deref(),
            Some("ab"),
            "a sibling sharing a prefix"
        );
        assert_eq!(i.path(gone), None, "the replaced target is forgotten");
        assert!(!i.by_path.contains_key("x/y"));
        assert_eq!(i.nodes[&b].entry.name, "b");
        i.remove("x");
        assert!(i.path(a).is_none() && i.path(b).is_none());
        assert_eq!(i.path(other).as_deref(), Some("ab"));
    }

    #[test]
    fn unlinked_nodes_go_when_the_kernel_forgets_them_or_only_a_listing_knew_them() {
        let mut i = Inodes::with_root();
        let a = i.put("a", entry("a"));
        i.looked_up(a);
        i.looked_up(a);
        i.forget(a, 1);
        i.forget(a, 1);
        assert_eq!(i.path(a).as_deref(), Some("a"), "a name still leads to it");
        // Unlinked while the kernel holds it: kept (fstat of an open deleted file) until forgotten.
        let b = i.put("b", entry("b"));
        i.looked_up(b);
        i.remove("b");
        assert!(i.nodes.contains_key(&b) && i.path(b).is_none());
        i.forget(b, 1);
        assert!(!i.nodes.contains_key(&b));
        // Known only from a listing: goes with its name.
        let c = i.put("c", entry("c"));
        i.remove("c");
        assert!(!i.nodes.contains_key(&c));
        // The root never goes.
        i.forget(1, 5);
        i.remove("");
        assert!(i.nodes.contains_key(&1));
    }

    #[test]
    fn names_from_the_kernel_are_checked() {
        assert_eq!(checked_name(OsStr::new("ok.txt")), Ok("ok.txt"));
        assert_eq!(
            checked_name(OsStr::new(&"x".repeat(256))),
            Err(Errno::ENAMETOOLONG)
        );
        use std::os::unix::ffi::OsStrExt;
        assert_eq!(
            checked_name(OsStr::from_bytes(b"\xff\xfe")),
            Err(Errno::EINVAL)
        );
        assert_eq!(join("", "a"), "a");
        assert_eq!(join("a", "b"), "a/b");
        assert_eq!(parent_of("a/b/c"), "a/b");
        assert_eq!(parent_of("a"), "");
    }
}
