//! The mount tree: remotes mounted at paths (`/gdrive`, `/photos`, …), resolved by the longest prefix, with
//! virtual folders above the mount points and a listing cache.
//!
//! Every path from outside goes through [`clean`] first: percent-decoded by the caller, then refused when a
//! segment is `..`, holds a backslash or a NUL, so nothing can climb out of a mount or a user's base path.
//! Listings are cached per folder for a TTL, within a budget of bytes (least recently used listings go
//! first); concurrent identical listings share one fetch; every write through the tree drops the listings
//! it changed. Several server processes on one database ([`Peers`]) tell each other what they changed:
//! each write is published before it is answered, and a cached answer is given only after the changes
//! published since were heard, so that a client sent to another process right after its write (a load
//! balancer's round robin) never reads the folder or file as it was before.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use cloudmux_core::{
    ByteRange, ByteStream, DeleteMode, Entry, Error, ErrorKind, Result, Storage, WriteOptions,
    list_all,
};

/// One mounted remote.
#[derive(Clone)]
pub struct Mount {
    /// Where it appears, `/name` or `/a/b` (clean, absolute, no trailing slash).
    pub path: String,
    /// The storage.
    pub storage: Arc<dyn Storage>,
    /// Writes refused.
    pub read_only: bool,
    /// Downloads of this mount's files are answered with a redirect (302) to the service's own
    /// short-lived link where it hands one out ([`Storage::download_link`]), sparing the server the bytes.
    /// Off by default: the client then talks to the service directly, and the link works for whoever
    /// holds it until it expires (it carries nothing of the account's token).
    pub direct_links: bool,
    /// Readable without signing in, through the page and the JSON API (off by default): what is
    /// inside is public.
    pub guest: bool,
}

impl std::fmt::Debug for Mount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mount")
            .field("path", &self.path)
            .field("kind", &self.storage.kind())
            .field("read_only", &self.read_only)
            .field("direct_links", &self.direct_links)
            .field("guest", &self.guest)
            .finish()
    }
}

/// Normalises a path from outside to `/a/b` form: empty segments and `.` dropped; `..`, backslashes, NUL
/// and control characters refused (InvalidInput), whatever their position.
pub fn clean(path: &str) -> Result<String> {
    let mut out = String::new();
    for seg in path.split('/') {
        if seg.is_empty() || seg == "." {
            continue;
        }
        if seg == ".." {
            return Err(
                Error::invalid(format!("{path:?}: `..` is not allowed in paths"))
                    .with_hint("give the path from the root of the tree"),
            );
        }
        if seg.contains('\\') || seg.chars().any(char::is_control) {
            return Err(Error::invalid(format!(
                "{path:?}: backslashes and control characters are not allowed in paths"
            )));
        }
        out.push('/');
        out.push_str(seg);
    }
    if out.is_empty() {
        out.push('/');
    }
    Ok(out)
}

/// Joins a clean base (`/` or `/a`) and a clean path.
pub fn under(base: &str, path: &str) -> String {
    match (base, path) {
        ("/", p) => p.to_string(),
        (b, "/") => b.to_string(),
        (b, p) => format!("{b}{p}"),
    }
}

/// The parent of a clean path (`/` for top-level entries and for `/`).
pub fn parent_of(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) | None => "/",
        Some(i) => &path[..i],
    }
}

/// Where a path leads.
pub enum Resolved {
    /// Inside a mount, at this storage path (empty for the mount's root).
    Inside(Arc<Mount>, String),
    /// A folder above mount points (`/` or the `/a` of a mount at `/a/b`): these names under it.
    Virtual(BTreeSet<String>),
}

/// A listing, or the kind and text of the error it gave (errors are not cached past their fetch).
type Listed = std::result::Result<Arc<Vec<Entry>>, (ErrorKind, String)>;

struct Slot {
    at: Instant,
    cell: tokio::sync::OnceCell<Listed>,
    /// What the listing costs in memory, once fetched.
    bytes: AtomicUsize,
    /// When it was last used, in ticks of [`Cache::tick`].
    used: AtomicU64,
}

/// The listing cache: slots by tree path, and the bytes their listings hold.
#[derive(Default)]
struct Cache {
    slots: HashMap<String, Arc<Slot>>,
    bytes: usize,
    tick: u64,
}

impl Cache {
    fn remove(&mut self, path: &str) {
        if let Some(s) = self.slots.remove(path) {
            self.bytes = self.bytes.saturating_sub(s.bytes.load(Ordering::Relaxed));
        }
    }

    fn retain(&mut self, mut keep: impl FnMut(&str, &Slot) -> bool) {
        let gone: Vec<String> = self
            .slots
            .iter()
            .filter(|(k, s)| !keep(k, s))
            .map(|(k, _)| k.clone())
            .collect();
        for k in gone {
            self.remove(&k);
        }
    }

    fn clear(&mut self) {
        self.slots.clear();
        self.bytes = 0;
    }
}

/// Roughly what an entry holds in memory.
fn entry_bytes(e: &Entry) -> usize {
    const FIXED: usize = std::mem::size_of::<Entry>() + 32;
    FIXED
        + e.name.len()
        + e.path.len()
        + e.id.as_ref().map_or(0, String::len)
        + e.mime.as_ref().map_or(0, String::len)
        + [&e.hashes.md5, &e.hashes.sha1, &e.hashes.sha256]
            .iter()
            .map(|h| h.as_ref().map_or(0, String::len))
            .sum::<usize>()
}

/// The default budget of the listing cache.
pub const CACHE_BYTES: usize = 64 * 1024 * 1024;

/// The mounted remotes and the listing cache.
pub struct Tree {
    mounts: RwLock<Vec<Arc<Mount>>>,
    ttl: Duration,
    budget: usize,
    cache: Mutex<Cache>,
    /// Entries stat'ed lately (for [`Tree::stat`] within the listing TTL), at most [`STATS_MAX`].
    stats: Mutex<HashMap<String, (Entry, Instant)>>,
    fetches: std::sync::atomic::AtomicU64,
    /// The other processes on this database, once set.
    peers: std::sync::OnceLock<Arc<dyn Peers>>,
    /// The number of the last change heard from them (below zero: none asked yet).
    heard: AtomicI64,
    /// When the changes were last heard.
    heard_at: Mutex<Option<Instant>>,
}

/// Where the trees of several server processes sharing one database hear of each other's changes.
#[async_trait::async_trait]
pub trait Peers: Send + Sync {
    /// Tells the others that `paths` (tree paths, and everything below them) changed.
    async fn publish(&self, paths: &[String]) -> Result<()>;
    /// The changes published after `seen` (a number from an earlier answer; below zero: none yet, so
    /// only the latest number): the latest number, the paths, and whether more were published than
    /// are given (then every cached answer is to be dropped).
    async fn since(&self, seen: i64) -> Result<(i64, Vec<String>, bool)>;
}

/// How long the changes of [`Peers`] are kept for the other processes. One that has not heard them
/// for half of that drops its whole cache rather than trust what is left.
pub const CHANGES_KEPT: Duration = Duration::from_secs(3600);

/// Stat results kept at most.
const STATS_MAX: usize = 4096;

impl std::fmt::Debug for Tree {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tree")
            .field("mounts", &*self.mounts.read().unwrap())
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl Tree {
    /// An empty tree whose listings stay cached for `ttl` (zero: no cache, concurrent fetches still shared),
    /// within [`CACHE_BYTES`].
    pub fn new(ttl: Duration) -> Self {
        Self::with_budget(ttl, CACHE_BYTES)
    }

    /// Like [`Tree::new`], the cache holding at most `budget` bytes of listings.
    pub fn with_budget(ttl: Duration, budget: usize) -> Self {
        Tree {
            mounts: RwLock::new(Vec::new()),
            ttl,
            budget,
            cache: Mutex::new(Cache::default()),
            stats: Default::default(),
            fetches: Default::default(),
            peers: Default::default(),
            heard: AtomicI64::new(-1),
            heard_at: Mutex::new(None),
        }
    }

    /// Shares this tree's changes with the other processes on the same database, and hears theirs
    /// (once; later calls are ignored).
    pub fn set_peers(&self, peers: Arc<dyn Peers>) {
        let _ = self.peers.set(peers);
    }

    /// Drops what `paths` changed from the cache (each path and everything below it) and tells the
    /// other processes, before the change is answered.
    pub async fn changed(&self, paths: &[&str]) {
        for p in paths {
            self.invalidate(p);
        }
        if let Some(peers) = self.peers.get() {
            let owned: Vec<String> = paths.iter().map(|p| p.to_string()).collect();
            if let Err(e) = peers.publish(&owned).await {
                tracing::warn!("cannot tell the other server processes of a change: {e}");
            }
        }
    }

    /// Hears the changes other processes published since last asked, dropping what they changed from
    /// the cache. Without peers (or without a cache) it asks nothing.
    async fn catch_up(&self) {
        let Some(peers) = self.peers.get() else {
            return;
        };
        if self.ttl.is_zero() {
            return;
        }
        let seen = self.heard.load(Ordering::Acquire);
        let asked = Instant::now();
        let stale = self
            .heard_at
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_none_or(|t| asked.duration_since(t) > CHANGES_KEPT / 2);
        match peers.since(if stale { -1 } else { seen }).await {
            Ok((last, paths, more)) => {
                let mut at = self.heard_at.lock().unwrap_or_else(|p| p.into_inner());
                if at.is_none_or(|t| t < asked) {
                    *at = Some(asked);
                }
                drop(at);
                if more || stale {
                    self.cache().clear();
                    self.stats.lock().unwrap_or_else(|p| p.into_inner()).clear();
                } else {
                    for p in &paths {
                        self.invalidate(p);
                    }
                }
                self.heard.fetch_max(last, Ordering::AcqRel);
            }
            Err(e) => {
                // Cached answers are then at most a TTL old, as with one process.
                tracing::warn!("cannot hear the other server processes' changes: {e}");
            }
        }
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, Cache> {
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The bytes of listings cached now.
    pub fn cached_bytes(&self) -> usize {
        self.cache().bytes
    }

    /// Accounts a fetched listing of `path` and drops expired and least recently used listings until
    /// the cache is within its budget.
    fn account(&self, path: &str, slot: &Arc<Slot>, listing: &[Entry]) {
        let size =
            std::mem::size_of::<Vec<Entry>>() + listing.iter().map(entry_bytes).sum::<usize>();
        let mut c = self.cache();
        if !c.slots.get(path).is_some_and(|s| Arc::ptr_eq(s, slot)) {
            return;
        }
        slot.bytes.store(size, Ordering::Relaxed);
        c.bytes += size;
        if c.bytes <= self.budget {
            return;
        }
        let ttl = self.ttl;
        c.retain(|_, s| s.at.elapsed() < ttl || !s.cell.initialized());
        while c.bytes > self.budget {
            let victim = c
                .slots
                .iter()
                .filter(|(_, s)| s.cell.initialized())
                .min_by_key(|(_, s)| s.used.load(Ordering::Relaxed))
                .map(|(k, _)| k.clone());
            match victim {
                Some(k) => c.remove(&k),
                None => break,
            }
        }
    }

    /// Mounts `m` (replacing a mount at the same path).
    pub fn mount(&self, mut m: Mount) -> Result<()> {
        m.path = clean(&m.path)?;
        if m.path == "/" {
            return Err(Error::invalid("a remote cannot be mounted at / itself")
                .with_hint("mount it at a name such as /gdrive"));
        }
        let mut ms = self.mounts.write().unwrap();
        ms.retain(|x| x.path != m.path);
        ms.push(Arc::new(m));
        // Longest prefix first.
        ms.sort_by(|a, b| b.path.len().cmp(&a.path.len()).then(a.path.cmp(&b.path)));
        drop(ms);
        self.cache().clear();
        self.stats.lock().unwrap_or_else(|p| p.into_inner()).clear();
        Ok(())
    }

    /// Removes the mount at `path`; whether there was one.
    pub fn unmount(&self, path: &str) -> bool {
        let Ok(p) = clean(path) else { return false };
        let mut ms = self.mounts.write().unwrap();
        let before = ms.len();
        ms.retain(|x| x.path != p);
        let gone = ms.len() != before;
        drop(ms);
        self.cache().clear();
        self.stats.lock().unwrap_or_else(|p| p.into_inner()).clear();
        gone
    }

    /// The mounts, longest path first.
    pub fn mounts(&self) -> Vec<Arc<Mount>> {
        self.mounts.read().unwrap().clone()
    }

    /// How many listings were fetched from the storages (for tests of the cache).
    pub fn fetches(&self) -> u64 {
        self.fetches.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Resolves a clean path.
    pub fn resolve(&self, path: &str) -> Result<Resolved> {
        let ms = self.mounts.read().unwrap();
        for m in ms.iter() {
            if path == m.path {
                return Ok(Resolved::Inside(m.clone(), String::new()));
            }
            if let Some(rest) = path.strip_prefix(&m.path)
                && let Some(rest) = rest.strip_prefix('/')
            {
                return Ok(Resolved::Inside(m.clone(), rest.to_string()));
            }
        }
        let prefix = if path == "/" {
            "/".to_string()
        } else {
            format!("{path}/")
        };
        let names: BTreeSet<String> = ms
            .iter()
            .filter_map(|m| m.path.strip_prefix(&prefix))
            .map(|rest| rest.split('/').next().unwrap_or(rest).to_string())
            .collect();
        if names.is_empty() && path != "/" {
            return Err(Error::not_found(path).with_hint("no remote is mounted there"));
        }
        Ok(Resolved::Virtual(names))
    }

    fn inside(&self, path: &str) -> Result<(Arc<Mount>, String)> {
        match self.resolve(path)? {
            Resolved::Inside(m, p) => Ok((m, p)),
            Resolved::Virtual(_) => Err(Error::new(
                ErrorKind::PermissionDenied,
                format!("{path}: a folder of mount points, not of a remote"),
            )
            .with_hint("work inside a mounted remote")),
        }
    }

    fn writable(&self, path: &str) -> Result<(Arc<Mount>, String)> {
        let (m, p) = self.inside(path)?;
        if m.read_only {
            return Err(Error::new(
                ErrorKind::PermissionDenied,
                format!("{}: mounted read-only", m.path),
            ));
        }
        Ok((m, p))
    }

    /// The entries of a folder (cached). Entry paths are tree paths.
    pub async fn list(&self, path: &str) -> Result<Arc<Vec<Entry>>> {
        let (m, inner) = match self.resolve(path)? {
            Resolved::Virtual(names) => {
                return Ok(Arc::new(
                    names
                        .into_iter()
                        .map(|n| Entry::dir(under(path, &format!("/{n}"))))
                        .collect(),
                ));
            }
            Resolved::Inside(m, p) => (m, p),
        };
        self.catch_up().await;
        let slot = {
            let mut c = self.cache();
            c.tick += 1;
            let tick = c.tick;
            let s = match c.slots.get(path) {
                Some(s) if s.at.elapsed() < self.ttl || !s.cell.initialized() => s.clone(),
                _ => {
                    c.remove(path);
                    let s = Arc::new(Slot {
                        at: Instant::now(),
                        cell: tokio::sync::OnceCell::new(),
                        bytes: AtomicUsize::new(0),
                        used: AtomicU64::new(tick),
                    });
                    c.slots.insert(path.to_string(), s.clone());
                    s
                }
            };
            s.used.store(tick, Ordering::Relaxed);
            s
        };
        let mut fetched = false;
        let got = slot
            .cell
            .get_or_init(|| async {
                fetched = true;
                self.fetches
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                match list_all(&*m.storage, &inner).await {
                    Ok(es) => Ok(Arc::new(
                        es.into_iter()
                            .filter_map(|mut e| {
                                // Backends encode what a remote returns; a name that still cannot
                                // be joined into a path is never joined.
                                if !cloudmux_core::name::is_valid(&e.name) {
                                    tracing::warn!("{path}: skipping the entry named {:?}", e.name);
                                    return None;
                                }
                                e.path = under(path, &format!("/{}", e.name));
                                Some(e)
                            })
                            .collect(),
                    )),
                    Err(e) => Err((e.kind(), e.to_string())),
                }
            })
            .await
            .clone();
        if got.is_err() || self.ttl.is_zero() {
            let mut c = self.cache();
            if c.slots.get(path).is_some_and(|s| Arc::ptr_eq(s, &slot)) {
                c.remove(path);
            }
        } else if let (true, Ok(listing)) = (fetched, &got) {
            self.account(path, &slot, listing);
        }
        got.map_err(|(k, msg)| Error::new(k, msg))
    }

    /// Like [`Tree::stat`], for reading the file: a stat made within the listing TTL or a fresh cached
    /// listing of its folder answers without asking the remote (a player's ranged GETs each begin with a
    /// stat). Checks before a change (does the destination exist?) use [`Tree::stat`], which always asks:
    /// another server process on the same database may have changed it.
    pub async fn stat_for_read(&self, path: &str) -> Result<Entry> {
        self.catch_up().await;
        if let Some(e) = self.cached_entry(path) {
            return Ok(e);
        }
        self.stat(path).await
    }

    /// The entry at `path` from a fresh stat or a fresh cached listing of its folder, if either has it.
    fn cached_entry(&self, path: &str) -> Option<Entry> {
        if let Some((e, at)) = self
            .stats
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(path)
            && at.elapsed() < self.ttl
        {
            return Some(e.clone());
        }
        let slot = {
            let c = self.cache();
            c.slots
                .get(parent_of(path))
                .filter(|s| s.at.elapsed() < self.ttl)
                .cloned()?
        };
        let listing = slot.cell.get()?.as_ref().ok()?.clone();
        listing.iter().find(|e| e.path == path).cloned()
    }

    /// Drops cached listings of `path` and everything below it.
    pub fn invalidate(&self, path: &str) {
        let below = format!("{}/", path.trim_end_matches('/'));
        self.cache()
            .retain(|k, _| k != path && !k.starts_with(&below));
        // What was stat'ed in it, or below it, too.
        self.stats
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|k, _| k != path && !k.starts_with(&below));
    }

    /// One entry (a virtual folder for mount points and the folders above them).
    pub async fn stat(&self, path: &str) -> Result<Entry> {
        match self.resolve(path)? {
            Resolved::Virtual(_) => Ok(Entry::dir(path.to_string())),
            Resolved::Inside(m, inner) => {
                let mut e = m.storage.stat(&inner).await?;
                e.path = path.to_string();
                if inner.is_empty() {
                    e.name = path.rsplit('/').next().unwrap_or_default().to_string();
                } else if !self.ttl.is_zero() {
                    let mut st = self.stats.lock().unwrap_or_else(|p| p.into_inner());
                    if st.len() >= STATS_MAX {
                        st.clear();
                    }
                    st.insert(path.to_string(), (e.clone(), Instant::now()));
                }
                Ok(e)
            }
        }
    }

    /// A file's bytes.
    pub async fn read(&self, path: &str, range: ByteRange) -> Result<ByteStream> {
        let (m, inner) = self.inside(path)?;
        m.storage.read(&inner, range).await
    }

    /// Writes a file from a stream.
    pub async fn write(&self, path: &str, data: ByteStream, opts: WriteOptions) -> Result<Entry> {
        let (m, inner) = self.writable(path)?;
        if inner.is_empty() {
            return Err(Error::invalid("cannot write over a mount point"));
        }
        let r = m.storage.write(&inner, data, opts).await;
        self.changed(&[parent_of(path)]).await;
        let mut e = r?;
        e.path = path.to_string();
        Ok(e)
    }

    /// Creates a folder (and missing parents).
    pub async fn mkdir(&self, path: &str) -> Result<Entry> {
        let (m, inner) = self.writable(path)?;
        let r = m.storage.mkdir(&inner).await;
        self.changed(&[parent_of(path)]).await;
        let mut e = r?;
        e.path = path.to_string();
        Ok(e)
    }

    /// Renames or moves within one mount.
    pub async fn rename(&self, from: &str, to: &str) -> Result<Entry> {
        let (ma, a) = self.writable(from)?;
        let (mb, b) = self.writable(to)?;
        if !Arc::ptr_eq(&ma, &mb) {
            return Err(Error::new(
                ErrorKind::Unsupported,
                "a move between two remotes is a copy then a delete",
            )
            .with_hint("start it as a background task (POST /api/fs/move)"));
        }
        if a.is_empty() || b.is_empty() {
            return Err(Error::invalid("mount points cannot be renamed here")
                .with_hint("change the mount instead"));
        }
        let r = ma.storage.rename(&a, &b).await;
        self.changed(&[parent_of(from), from, parent_of(to)]).await;
        let mut e = r?;
        e.path = to.to_string();
        Ok(e)
    }

    /// Deletes a file or folder.
    pub async fn delete(&self, path: &str, mode: DeleteMode) -> Result<()> {
        let (m, inner) = self.writable(path)?;
        if inner.is_empty() {
            return Err(Error::invalid("a mount point cannot be deleted")
                .with_hint("remove the mount instead"));
        }
        let mode = if mode == DeleteMode::Trash && !m.storage.capabilities().trash {
            DeleteMode::Permanent
        } else {
            mode
        };
        let r = m.storage.delete(&inner, mode).await;
        self.changed(&[parent_of(path), path]).await;
        r
    }

    /// A public link.
    pub async fn public_link(&self, path: &str) -> Result<String> {
        let (m, inner) = self.inside(path)?;
        m.storage.public_link(&inner).await
    }

    /// The mount and inner path of a tree path (for transfers between mounts).
    pub fn locate(&self, path: &str) -> Result<(Arc<Mount>, String)> {
        self.inside(path)
    }

    /// Where to send a client for the bytes of the file at `path` instead of relaying them: the service's
    /// own link, when the mount has [`Mount::direct_links`] on and the service hands one out for this file.
    /// Only `http(s)` addresses without credentials are given out; anything else (and any error) means
    /// "relay the bytes".
    pub async fn direct_link(&self, path: &str) -> Option<String> {
        let (m, inner) = self.locate(path).ok()?;
        if !m.direct_links {
            return None;
        }
        let link = match m.storage.download_link(&inner).await {
            Ok(l) => l?,
            Err(e) => {
                tracing::debug!("{path}: no direct link ({e}); relaying the bytes");
                return None;
            }
        };
        let u = url::Url::parse(&link).ok()?;
        let fine = matches!(u.scheme(), "https" | "http")
            && u.host_str().is_some()
            && u.username().is_empty()
            && u.password().is_none()
            // What a `Location` header may carry: visible ASCII.
            && u.as_str().bytes().all(|b| (0x20..0x7f).contains(&b));
        fine.then(|| u.to_string())
    }

    /// Like [`Tree::locate`], refusing read-only mounts.
    pub fn locate_writable(&self, path: &str) -> Result<(Arc<Mount>, String)> {
        self.writable(path)
    }
}

#[cfg(test)]
mod fuzz {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn clean_paths_stay_under_any_base(
            p in "[a./\\\\%\\x00\\x7f ]{0,24}|\\PC{0,40}",
            base in prop_oneof![Just("/"), Just("/m/alice")],
        ) {
            if let Ok(c) = clean(&p) {
                prop_assert!(c.starts_with('/'));
                prop_assert!(!c.split('/').any(|s| s == ".." || s == "."));
                prop_assert!(!c.contains('\\') && !c.chars().any(char::is_control));
                let full = under(base, &c);
                let below = format!("{}/", base);
                prop_assert!(full == base || base == "/" || full.starts_with(&below));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_refuses_climbing() {
        assert_eq!(clean("").unwrap(), "/");
        assert_eq!(clean("/a//b/./c/").unwrap(), "/a/b/c");
        for bad in [
            "..",
            "/a/../../etc",
            "a/..",
            "/a\\..\\b",
            "/a/\0b",
            "/x/\u{7f}",
        ] {
            assert!(clean(bad).is_err(), "{bad:?}");
        }
        assert_eq!(under("/", "/a"), "/a");
        assert_eq!(under("/u", "/"), "/u");
        assert_eq!(under("/u", "/a"), "/u/a");
        assert_eq!(parent_of("/a/b"), "/a");
        assert_eq!(parent_of("/a"), "/");
    }

    /// A stat for reading within the TTL is answered from what was stat'ed or listed (a player's ranged
    /// GETs each begin with one); a write through the tree drops it, so the new size shows at once; a
    /// plain stat always asks.
    #[tokio::test]
    async fn stats_are_cached_until_a_write() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("f.txt"), "one").unwrap();
        let t = folder_at_m(d.path(), 60);
        assert_eq!(t.stat_for_read("/m/f.txt").await.unwrap().size, Some(3));
        std::fs::write(d.path().join("f.txt"), "changed outside").unwrap();
        assert_eq!(
            t.stat_for_read("/m/f.txt").await.unwrap().size,
            Some(3),
            "within the TTL, as a listing would be"
        );
        assert_eq!(
            t.stat("/m/f.txt").await.unwrap().size,
            Some(15),
            "a plain stat asks"
        );
        t.write(
            "/m/f.txt",
            cloudmux_core::bytes_stream(b"written".to_vec(), 4),
            WriteOptions::default(),
        )
        .await
        .unwrap();
        assert_eq!(t.stat_for_read("/m/f.txt").await.unwrap().size, Some(7));
        std::fs::write(d.path().join("g.txt"), "gg").unwrap();
        t.list("/m").await.unwrap();
        std::fs::remove_file(d.path().join("g.txt")).unwrap();
        assert_eq!(
            t.stat_for_read("/m/g.txt").await.unwrap().size,
            Some(2),
            "from the cached listing"
        );
        t.invalidate("/m");
        assert!(t.stat_for_read("/m/g.txt").await.is_err());
        assert!(
            t.stat_for_read("/m/nothing").await.is_err(),
            "a miss is asked for"
        );
    }

    /// A tree with the local folder `dir` mounted at `/m`, listings kept `ttl` seconds.
    fn folder_at_m(dir: &std::path::Path, ttl: u64) -> Tree {
        let t = Tree::new(Duration::from_secs(ttl));
        mount_local(&t, "/m", dir);
        t
    }

    /// Mounts the local folder `dir` at `at`, writable.
    fn mount_local(t: &Tree, at: &str, dir: &std::path::Path) {
        t.mount(Mount {
            path: at.into(),
            storage: Arc::new(cloudmux_local::LocalStorage::new(dir).unwrap()),
            read_only: false,
            direct_links: false,
            guest: false,
        })
        .unwrap();
    }

    /// Changes published in one place, as the database holds them for several processes.
    #[derive(Default)]
    struct Board(Mutex<Vec<String>>);

    #[async_trait::async_trait]
    impl Peers for Board {
        async fn publish(&self, paths: &[String]) -> Result<()> {
            self.0.lock().unwrap().extend(paths.iter().cloned());
            Ok(())
        }
        async fn since(&self, seen: i64) -> Result<(i64, Vec<String>, bool)> {
            let all = self.0.lock().unwrap();
            let from = seen.max(0) as usize;
            let paths = if seen < 0 {
                Vec::new()
            } else {
                all[from..].to_vec()
            };
            Ok((all.len() as i64, paths, false))
        }
    }

    /// Two processes over one folder: what one writes, the other shows at once although it had the
    /// folder and the file cached (a load balancer sends a client's next request to either).
    #[tokio::test]
    async fn a_change_made_through_another_process_is_heard_before_a_cached_answer() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("f.txt"), "one").unwrap();
        let board: Arc<Board> = Arc::default();
        let process = || {
            let t = folder_at_m(d.path(), 600);
            t.set_peers(board.clone());
            t
        };
        let (a, b) = (process(), process());
        assert_eq!(a.list("/m").await.unwrap().len(), 1);
        assert_eq!(a.stat_for_read("/m/f.txt").await.unwrap().size, Some(3));
        b.write(
            "/m/f.txt",
            cloudmux_core::bytes_stream(b"written".to_vec(), 4),
            WriteOptions::default(),
        )
        .await
        .unwrap();
        b.mkdir("/m/new").await.unwrap();
        assert_eq!(a.stat_for_read("/m/f.txt").await.unwrap().size, Some(7));
        assert_eq!(a.list("/m").await.unwrap().len(), 2, "the new folder shows");
        // Without peers the cached answers stay for the TTL (what the test above relies on).
        let c = folder_at_m(d.path(), 600);
        assert_eq!(c.list("/m").await.unwrap().len(), 2);
        b.delete("/m/new", DeleteMode::Permanent).await.unwrap();
        assert_eq!(c.list("/m").await.unwrap().len(), 2, "cached, no peers");
        assert_eq!(a.list("/m").await.unwrap().len(), 1, "heard");
    }

    #[tokio::test]
    async fn longest_prefix_and_virtual_folders() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("one/x")).unwrap();
        std::fs::create_dir_all(d.path().join("two")).unwrap();
        let t = Tree::new(Duration::from_secs(60));
        let local = |p: &str| -> Arc<dyn Storage> {
            Arc::new(cloudmux_local::LocalStorage::new(d.path().join(p)).unwrap())
        };
        t.mount(Mount {
            path: "/a".into(),
            storage: local("one"),
            read_only: false,
            direct_links: false,
            guest: false,
        })
        .unwrap();
        t.mount(Mount {
            path: "/a/x/deep".into(),
            storage: local("two"),
            read_only: true,
            direct_links: false,
            guest: false,
        })
        .unwrap();
        t.mount(Mount {
            path: "/v/w".into(),
            storage: local("two"),
            read_only: false,
            direct_links: false,
            guest: false,
        })
        .unwrap();
        match t.resolve("/a/x/deep/f").unwrap() {
            Resolved::Inside(m, p) => assert_eq!((m.path.as_str(), p.as_str()), ("/a/x/deep", "f")),
            Resolved::Virtual(_) => panic!(),
        }
        match t.resolve("/a/x").unwrap() {
            Resolved::Inside(m, p) => assert_eq!((m.path.as_str(), p.as_str()), ("/a", "x")),
            Resolved::Virtual(_) => panic!(),
        }
        let root: Vec<String> = t
            .list("/")
            .await
            .unwrap()
            .iter()
            .map(|e| e.name.clone())
            .collect();
        assert_eq!(root, vec!["a", "v"]);
        let v: Vec<String> = t
            .list("/v")
            .await
            .unwrap()
            .iter()
            .map(|e| e.path.clone())
            .collect();
        assert_eq!(v, vec!["/v/w"]);
        assert!(t.resolve("/nothing").is_err());
        let e = t
            .write(
                "/a/x/deep/f",
                cloudmux_core::bytes_stream(b"x".to_vec(), 1),
                WriteOptions::default(),
            )
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::PermissionDenied);
        assert!(
            t.mkdir("/v/new").await.is_err(),
            "virtual folders take no writes"
        );
    }

    #[tokio::test]
    async fn listings_are_cached_shared_and_invalidated_by_writes() {
        let d = tempfile::tempdir().unwrap();
        let t = Arc::new(Tree::new(Duration::from_secs(60)));
        mount_local(&t, "/l", d.path());
        let many: Vec<_> = (0..8)
            .map(|_| {
                let t = t.clone();
                tokio::spawn(async move { t.list("/l").await.unwrap().len() })
            })
            .collect();
        for h in many {
            assert_eq!(h.await.unwrap(), 0);
        }
        assert_eq!(t.fetches(), 1, "eight concurrent listings, one fetch");
        t.list("/l").await.unwrap();
        assert_eq!(t.fetches(), 1, "served from the cache");
        t.write(
            "/l/new.txt",
            cloudmux_core::bytes_stream(b"hello".to_vec(), 2),
            WriteOptions::default(),
        )
        .await
        .unwrap();
        let after = t.list("/l").await.unwrap();
        assert_eq!(after.len(), 1, "the write dropped the cached listing");
        assert_eq!(after[0].path, "/l/new.txt");
        assert_eq!(t.fetches(), 2);
    }

    #[tokio::test]
    async fn the_cache_keeps_to_its_budget_dropping_the_least_recently_used() {
        let d = tempfile::tempdir().unwrap();
        for i in 0..6 {
            let f = d.path().join(format!("d{i}"));
            std::fs::create_dir_all(&f).unwrap();
            for j in 0..200 {
                std::fs::write(f.join(format!("file-{j:04}.txt")), b"x").unwrap();
            }
        }
        let t = Tree::with_budget(Duration::from_secs(60), 200 * 1024);
        mount_local(&t, "/l", d.path());
        let one = t.list("/l/d0").await.unwrap();
        let per = std::mem::size_of::<Vec<Entry>>() + one.iter().map(entry_bytes).sum::<usize>();
        assert!(
            per * 6 > 200 * 1024 && per < 100 * 1024,
            "a listing costs {per} bytes"
        );
        for i in 1..6 {
            t.list("/l/d0").await.unwrap(); // d0 stays the most recently used
            t.list(&format!("/l/d{i}")).await.unwrap();
            assert!(
                t.cached_bytes() <= 200 * 1024,
                "{} bytes cached",
                t.cached_bytes()
            );
        }
        let before = t.fetches();
        t.list("/l/d0").await.unwrap();
        assert_eq!(
            t.fetches(),
            before,
            "the most recently used listing was kept"
        );
        t.list("/l/d1").await.unwrap();
        assert_eq!(t.fetches(), before + 1, "an old one was dropped");
    }
}
