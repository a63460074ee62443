//! Walking, comparing and transferring.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::Utc;
use cloudmux_core::path::{join, parent};
use cloudmux_core::{
    ByteRange, ByteStream, DeleteMode, Entry, Error, ErrorKind, Result, Resume, SessionStore,
    Storage, WriteOptions,
};
use futures_util::{StreamExt, TryStreamExt, stream};

use crate::filter::Filter;

/// What to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Copy what is missing or different.
    Copy,
    /// Copy, then delete each source file whose copy was verified.
    Move,
    /// Make the destination equal to the source (extraneous files removed after every copy succeeded).
    Sync,
    /// Report missing, extra and differing files; change nothing.
    Check,
}

/// How.
#[derive(Debug, Clone)]
pub struct Options {
    /// Which files take part.
    pub filter: Filter,
    /// Plan only.
    pub dry_run: bool,
    /// Compare by hash (size alone when the two sides share none).
    pub checksum: bool,
    /// Compare by size only.
    pub size_only: bool,
    /// Files transferred at once.
    pub transfers: usize,
    /// Folders listed at once.
    pub checkers: usize,
    /// Files of at least this size are downloaded in several ranged streams at once.
    pub multi_stream_cutoff: u64,
    /// How many ranged streams (each holds one segment in memory).
    pub streams: usize,
    /// Segment size of multi-stream downloads.
    pub segment_size: u64,
    /// Keep the sessions of resumable uploads so an interrupted run's partial uploads are resumed by the
    /// next run (on backends with resumable sessions).
    pub resume: Option<ResumeScope>,
    /// The first pause before a file is tried again after a temporary failure (later ones grow, with
    /// jitter, up to 30 times this).
    pub retry_pause: std::time::Duration,
}

/// Where resumable-upload sessions are kept, and a name for the source tree (sessions are keyed by it,
/// the file's relative path, size, modification time and hash, so only the same bytes resume a session).
#[derive(Clone)]
pub struct ResumeScope {
    /// The session store.
    pub store: Arc<dyn SessionStore>,
    /// Names the source tree (an address such as `gd:Photos` or an absolute local path).
    pub source: String,
}

impl std::fmt::Debug for ResumeScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResumeScope")
            .field("source", &self.source)
            .finish()
    }
}

impl Default for Options {
    fn default() -> Self {
        Options {
            filter: Filter::default(),
            dry_run: false,
            checksum: false,
            size_only: false,
            transfers: 4,
            checkers: 8,
            multi_stream_cutoff: 64 * 1024 * 1024,
            streams: 4,
            segment_size: 4 * 1024 * 1024,
            resume: None,
            retry_pause: std::time::Duration::from_secs(1),
        }
    }
}

/// Reads `[0, size)` of `path` as `streams` concurrent ranged reads of `segment` bytes, yielded in order:
/// memory stays at `streams × segment` whatever the file size. A segment's chunks are passed on as they
/// came (no copy into one buffer).
pub fn multi_stream_read(
    s: Arc<dyn Storage>,
    path: String,
    size: u64,
    streams: usize,
    segment: u64,
) -> ByteStream {
    let segment = segment.max(1);
    let count = size.div_ceil(segment);
    let parts = stream::iter(0..count)
        .map(move |i| {
            let s = s.clone();
            let path = path.clone();
            async move {
                let start = i * segment;
                let len = segment.min(size - start);
                let body = s.read(&path, ByteRange::new(start, Some(len))).await?;
                let chunks: Vec<bytes::Bytes> = body.try_collect().await?;
                let got: u64 = chunks.iter().map(|c| c.len() as u64).sum();
                if got != len {
                    return Err(Error::new(
                        ErrorKind::Transient,
                        format!("{path}: segment at {start} came back short"),
                    ));
                }
                Ok(stream::iter(chunks.into_iter().map(Ok)))
            }
        })
        .buffered(streams.max(1))
        .try_flatten();
    Box::pin(parts)
}

/// A hash of a kind the source reports, computed on a blocking thread from the chunks of a stream as they
/// pass, so hashing runs beside the transfer instead of in its path: SHA-256 where the source reports it
/// and the CPU has SHA instructions (twice MD5's speed then: 0.64 s against 1.33 s for 512 MiB on this
/// project's machine, which bounds a verified download), MD5 otherwise.
enum Hashing {
    Md5(md5::Md5),
    Sha256(sha2::Sha256),
}

/// Whether this CPU computes SHA-256 in hardware (RustCrypto's `sha2` uses the instructions when present).
fn sha256_in_hardware() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("sha")
    }
    #[cfg(target_arch = "aarch64")]
    {
        std::arch::is_aarch64_feature_detected!("sha2")
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        false
    }
}

impl Hashing {
    fn for_source(src: &Entry) -> Option<Self> {
        Self::choose(
            src.hashes.md5.is_some(),
            src.hashes.sha256.is_some(),
            sha256_in_hardware(),
        )
    }

    fn choose(md5: bool, sha256: bool, sha256_fast: bool) -> Option<Self> {
        use md5::Digest;
        match (md5, sha256) {
            (_, true) if sha256_fast || !md5 => Some(Hashing::Sha256(sha2::Sha256::new())),
            (true, _) => Some(Hashing::Md5(md5::Md5::new())),
            _ => None,
        }
    }

    /// `data`, its chunks also fed to this hash, and what answers the hash once the destination has taken
    /// what it wanted of the stream. Chunks go to the hashing thread in batches of about [`HASH_BATCH`]
    /// bytes: a wake-up per TLS record (16 KiB) would cost more than the hashing.
    fn tap(mut self, data: ByteStream) -> (ByteStream, Hashed) {
        use md5::Digest;
        // A few batches of slack: the hasher never holds up the transfer for long, nor falls far behind.
        // An empty batch ends the hash (the stream may outlive the write that took from it).
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<bytes::Bytes>>(4);
        let task = tokio::task::spawn_blocking(move || {
            while let Some(batch) = rx.blocking_recv() {
                if batch.is_empty() {
                    break;
                }
                for b in batch {
                    match &mut self {
                        Hashing::Md5(h) => h.update(&b),
                        Hashing::Sha256(h) => h.update(&b),
                    }
                }
            }
            match self {
                Hashing::Md5(h) => cloudmux_core::Hashes {
                    md5: Some(hex::encode(h.finalize())),
                    ..Default::default()
                },
                Hashing::Sha256(h) => cloudmux_core::Hashes {
                    sha256: Some(hex::encode(h.finalize())),
                    ..Default::default()
                },
            }
        });
        let pending: Pending = Default::default();
        let (p, t) = (pending.clone(), tx.clone());
        let data = data.then(move |c| {
            let (p, t) = (p.clone(), t.clone());
            async move {
                if let Ok(b) = &c {
                    let full = {
                        let mut g = p.lock().unwrap();
                        g.1 += b.len();
                        g.0.push(b.clone());
                        (g.1 >= HASH_BATCH).then(|| std::mem::take(&mut *g).0)
                    };
                    if let Some(batch) = full {
                        let _ = t.send(batch).await;
                    }
                }
                c
            }
        });
        (Box::pin(data), Hashed { pending, tx, task })
    }
}

/// Chunks not yet handed to the hashing thread, and their bytes.
type Pending = Arc<std::sync::Mutex<(Vec<bytes::Bytes>, usize)>>;

/// The hash of what passed through [`Hashing::tap`], once the destination is done with the stream.
struct Hashed {
    pending: Pending,
    tx: tokio::sync::mpsc::Sender<Vec<bytes::Bytes>>,
    task: tokio::task::JoinHandle<cloudmux_core::Hashes>,
}

impl Hashed {
    /// Hands over the last batch, ends the hash and waits for it.
    async fn finish(self, label: &str) -> Result<cloudmux_core::Hashes> {
        let last = std::mem::take(&mut *self.pending.lock().unwrap()).0;
        if !last.is_empty() {
            let _ = self.tx.send(last).await;
        }
        let _ = self.tx.send(Vec::new()).await;
        self.task
            .await
            .map_err(|err| Error::new(ErrorKind::Other, format!("hashing {label}: {err}")))
    }
}

/// Bytes handed to the hashing thread at a time.
const HASH_BATCH: usize = 1 << 20;

/// Progress events.
#[derive(Debug, Clone)]
pub enum Event {
    /// The plan: files and bytes to transfer.
    Planned {
        /// Files.
        files: usize,
        /// Bytes (known sizes).
        bytes: u64,
    },
    /// A file's transfer began (again, when a damaged copy is retried).
    Started {
        /// Relative path.
        path: String,
        /// Its size, when known.
        size: Option<u64>,
    },
    /// Bytes of a file just moved (live, as they flow; a server-side copy reports its size when done).
    Bytes {
        /// Relative path.
        path: String,
        /// How many more bytes.
        n: u64,
    },
    /// A file was transferred.
    Copied(String),
    /// A file was deleted (sync, move).
    Deleted(String),
    /// A file failed.
    Failed(String, String),
}

/// What happened.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Stats {
    /// Files transferred.
    pub copied: usize,
    /// Bytes transferred.
    pub bytes: u64,
    /// Files already equal.
    pub unchanged: usize,
    /// Files deleted.
    pub deleted: usize,
    /// Folders created.
    pub dirs_created: usize,
    /// Check: in the source, not the destination.
    pub missing: Vec<String>,
    /// Check / sync: in the destination, not the source.
    pub extra: Vec<String>,
    /// Check: present on both sides, different.
    pub differ: Vec<String>,
    /// Dry run: what would be done.
    pub planned: Vec<String>,
    /// Failures, by path.
    pub errors: Vec<(String, String)>,
    /// The kind of every failure, while they all share one (`Some(None)` once they differ).
    #[serde(skip)]
    kinds: Option<Option<ErrorKind>>,
}

impl Stats {
    /// The kind every failure had, when they all had one (the CLI exits with its code).
    pub fn failure_kind(&self) -> Option<ErrorKind> {
        self.kinds.flatten()
    }

    fn failed(&mut self, rel: String, e: &Error) {
        self.errors.push((rel, e.to_string()));
        self.kinds = match self.kinds {
            None => Some(Some(e.kind())),
            Some(Some(k)) if k == e.kind() => Some(Some(k)),
            _ => Some(None),
        };
    }
}

type Tree = BTreeMap<String, Entry>;

/// Walks a tree: the root's own entry (`None` when it does not exist) and every entry under it, keyed by its
/// path relative to the root. A file as the root is a tree of that one name.
pub(crate) async fn walk(
    s: &Arc<dyn Storage>,
    root: &str,
    checkers: usize,
) -> Result<(Option<Entry>, Tree)> {
    let mut out = Tree::new();
    let top = match s.stat(root).await {
        Ok(e) => e,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok((None, out)),
        Err(e) => return Err(e),
    };
    if !top.is_dir {
        out.insert(
            top.name.clone(),
            Entry {
                path: top.name.clone(),
                ..top.clone()
            },
        );
        return Ok((Some(top), out));
    }
    let mut level = vec![String::new()];
    while !level.is_empty() {
        let rels: std::collections::HashMap<String, String> =
            level.drain(..).map(|rel| (join(root, &rel), rel)).collect();
        let fulls = rels.keys().cloned().collect();
        let mut groups = cloudmux_core::list_folders(&**s, fulls, checkers);
        while let Some(group) = groups.next().await {
            for (full, entries) in group? {
                let rel = &rels[&full];
                for e in entries {
                    if !cloudmux_core::name::is_valid(&e.name) {
                        tracing::warn!("{full}: skipping the entry named {:?}", e.name);
                        continue;
                    }
                    let child = join(rel, &e.name);
                    if e.is_dir {
                        level.push(child.clone());
                    }
                    out.insert(child, e);
                }
            }
        }
    }
    Ok((Some(top), out))
}

/// Whether source file `a` and destination file `b` are the same for the options. Modification times
/// count only when the destination can record them (`mtimes`); a size one side does not report (Photos
/// listings carry none) counts as equal, as with rclone.
fn same(a: &Entry, b: &Entry, o: &Options, mtimes: bool) -> bool {
    if let (Some(x), Some(y)) = (a.size, b.size)
        && x != y
    {
        return false;
    }
    if o.size_only {
        return true;
    }
    let hashes = [
        (&a.hashes.md5, &b.hashes.md5),
        (&a.hashes.sha256, &b.hashes.sha256),
    ];
    if let Some((x, y)) = hashes.iter().find_map(|(x, y)| x.as_ref().zip(y.as_ref())) {
        return x.eq_ignore_ascii_case(y);
    }
    match (a.modified, b.modified) {
        (Some(x), Some(y)) if mtimes && !o.checksum => (x - y).num_milliseconds().abs() <= 1000,
        _ => true,
    }
}

fn same_storage(a: &Arc<dyn Storage>, b: &Arc<dyn Storage>) -> bool {
    std::ptr::addr_eq(Arc::as_ptr(a), Arc::as_ptr(b))
}

struct Ctx {
    src: Arc<dyn Storage>,
    src_root: String,
    dst: Arc<dyn Storage>,
    dst_root: String,
    cutoff: u64,
    streams: usize,
    segment: u64,
    resume: Option<ResumeScope>,
    on: Arc<dyn Fn(Event) + Send + Sync>,
    retry_pause: std::time::Duration,
}

/// Creates the destination root (when missing) and the folders `dirs` (relative, parents listed before
/// their children), one depth at a time with `checkers` at once: never two creations of one folder, which
/// on Drive would make two folders of one name. Returns the folders that could not be made.
async fn make_dirs(
    dst: &Arc<dyn Storage>,
    root: &str,
    root_exists: bool,
    dirs: &[String],
    checkers: usize,
) -> Vec<(String, Error)> {
    if !root_exists && let Err(e) = dst.mkdir(root).await {
        return vec![(String::new(), e)];
    }
    let mut failed: Vec<(String, Error)> = Vec::new();
    let depth = |d: &String| d.split('/').count();
    let deepest = dirs.iter().map(depth).max().unwrap_or(0);
    for level in 1..=deepest {
        let todo: Vec<String> = dirs
            .iter()
            .filter(|d| depth(d) == level)
            .filter(|d| !failed.iter().any(|(f, _)| d.starts_with(&format!("{f}/"))))
            .cloned()
            .collect();
        let done: Vec<(String, Result<Entry>)> = stream::iter(todo)
            .map(|d| {
                let full = join(root, &d);
                let dst = dst.clone();
                async move { (d, dst.mkdir(&full).await) }
            })
            .buffer_unordered(checkers.max(1))
            .collect()
            .await;
        failed.extend(
            done.into_iter()
                .filter_map(|(d, r)| r.err().map(|e| (d, e))),
        );
    }
    failed
}

/// Attempts of one file when its failures are temporary (each attempt retries its own requests first).
const FILE_ATTEMPTS: u32 = 4;

/// What a copy reads: a path, or an id (`name:id:ID` addresses, on backends with ids).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A path in the source storage.
    Path(String),
    /// An id in the source storage.
    Id(String),
}

impl Ctx {
    /// [`Ctx::copy_one`], again after a temporary failure (rate limits, outages, broken connections), with a
    /// jittered pause. Only the first attempt may skip the backend's look for an existing file: a failed
    /// one may have created it. `label` names the file in events.
    async fn copy_retrying(
        &self,
        label: &str,
        from: &Source,
        to: &str,
        src: &Entry,
        new: bool,
    ) -> Result<Entry> {
        let mut attempt = 0;
        loop {
            match self
                .copy_one(label, from, to, src, new && attempt == 0)
                .await
            {
                Err(e) if e.is_temporary() && attempt + 1 < FILE_ATTEMPTS => {
                    let pause = cloudmux_http::full_jitter(
                        attempt,
                        self.retry_pause,
                        self.retry_pause * 30,
                    );
                    tracing::warn!("{label}: {e}; trying the file again in {pause:?}");
                    tokio::time::sleep(pause).await;
                    attempt += 1;
                }
                r => return r,
            }
        }
    }

    /// Copies one file and verifies it; returns what the destination stored. Its folder exists already.
    async fn copy_one(
        &self,
        label: &str,
        from: &Source,
        to: &str,
        src: &Entry,
        new: bool,
    ) -> Result<Entry> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            (self.on)(Event::Started {
                path: label.to_string(),
                size: src.size,
            });
            let written = match from {
                Source::Path(from)
                    if same_storage(&self.src, &self.dst) && self.src.capabilities().copy =>
                {
                    let e = self.dst.copy(from, to).await?;
                    (self.on)(Event::Bytes {
                        path: label.to_string(),
                        n: e.size.unwrap_or(0),
                    });
                    e
                }
                _ => {
                    let data = match (from, src.size) {
                        (Source::Path(from), Some(n))
                            if n >= self.cutoff && self.src.capabilities().range_read =>
                        {
                            multi_stream_read(
                                self.src.clone(),
                                from.clone(),
                                n,
                                self.streams,
                                self.segment,
                            )
                        }
                        (Source::Path(from), _) => self.src.read(from, ByteRange::all()).await?,
                        (Source::Id(id), _) => self.src.read_id(id, ByteRange::all()).await?,
                    };
                    let on = self.on.clone();
                    let path = label.to_string();
                    let data: ByteStream = Box::pin(data.inspect(move |c| {
                        if let Ok(b) = c {
                            on(Event::Bytes {
                                path: path.clone(),
                                n: b.len() as u64,
                            });
                        }
                    }));
                    // A destination that answers no hash of what it stored: hash the bytes on their way,
                    // so they are checked against the source's hash all the same.
                    let (data, sent) = match Hashing::for_source(src)
                        .filter(|_| !self.dst.capabilities().hashes)
                    {
                        Some(h) => {
                            let (d, t) = h.tap(data);
                            (d, Some(t))
                        }
                        None => (data, None),
                    };
                    let resume = self.resume.as_ref().map(|r| {
                        Resume::of(r.store.clone(), &format!("{}|{label}", r.source), src)
                    });
                    let opts = WriteOptions {
                        size: src.size,
                        modified: src.modified,
                        mime: src.mime.clone(),
                        resume,
                        new_file: new && attempt == 1,
                    };
                    let mut e = self.dst.write(to, data, opts).await?;
                    if let Some(t) = sent {
                        let h = t.finish(label).await?;
                        e.hashes.md5 = e.hashes.md5.or(h.md5);
                        e.hashes.sha256 = e.hashes.sha256.or(h.sha256);
                    }
                    e
                }
            };
            let size_ok = match (src.size, written.size) {
                (Some(a), Some(b)) => a == b,
                _ => true,
            };
            // The strongest hash both sides have.
            let hash_ok = [
                (&src.hashes.sha256, &written.hashes.sha256),
                (&src.hashes.md5, &written.hashes.md5),
            ]
            .iter()
            .find_map(|(x, y)| x.as_ref().zip(y.as_ref()))
            .is_none_or(|(x, y)| x.eq_ignore_ascii_case(y));
            if size_ok && hash_ok {
                return Ok(written);
            }
            if attempt >= 2 {
                return Err(Error::new(
                    ErrorKind::Corrupt,
                    format!("{label}: the copy does not match the source (size or hash)"),
                )
                .with_hint("the transfer was damaged twice; check the network and run again"));
            }
            tracing::warn!("{label}: copy differs from the source; copying again");
        }
    }
}

/// Runs `mode` from `src` to `dst` (storage and root path each).
pub async fn run(
    mode: Mode,
    src: (Arc<dyn Storage>, String),
    dst: (Arc<dyn Storage>, String),
    o: &Options,
    on: impl Fn(Event) + Send + Sync + 'static,
) -> Result<Stats> {
    let on: Arc<dyn Fn(Event) + Send + Sync> = Arc::new(on);
    let (sroot, droot) = (src.1.clone(), dst.1.clone());
    let ((sroot_entry, stree), (droot_entry, dtree)) = tokio::try_join!(
        walk(&src.0, &sroot, o.checkers),
        walk(&dst.0, &droot, o.checkers)
    )?;
    // A single file as the source: its tree is that one name, beside the destination folder.
    let sroot = match sroot_entry {
        None => return Err(Error::not_found(&sroot).with_hint("check the source path")),
        Some(e) if !e.is_dir => parent(&sroot).to_string(),
        Some(_) => sroot,
    };
    let now = Utc::now();
    let mut stats = Stats::default();
    let wanted = |rel: &String, e: &Entry| e.is_dir || o.filter.accepts(rel, e, now);
    let mtimes = dst.0.capabilities().set_modified;
    // Each file to copy, and whether the destination has nothing of that name.
    let mut todo: Vec<(String, Entry, bool)> = Vec::new();
    // Move: files the destination already holds as they are at the source.
    let mut arrived: Vec<String> = Vec::new();
    let mut dirs: Vec<String> = Vec::new();
    for (rel, e) in stree.iter().filter(|(r, e)| wanted(r, e)) {
        match (e.is_dir, dtree.get(rel)) {
            (true, Some(d)) if d.is_dir => {}
            (true, _) => dirs.push(rel.clone()),
            (false, Some(d)) if !d.is_dir && same(e, d, o, mtimes) => {
                stats.unchanged += 1;
                if mode == Mode::Move {
                    // Already there (an earlier, interrupted move copied it): only the source goes.
                    arrived.push(rel.clone());
                }
            }
            (false, Some(d)) if !d.is_dir => {
                stats.differ.push(rel.clone());
                todo.push((rel.clone(), e.clone(), false));
            }
            (false, other) => {
                stats.missing.push(rel.clone());
                todo.push((rel.clone(), e.clone(), other.is_none()));
            }
        }
    }
    let extra: Vec<String> = dtree
        .iter()
        .filter(|(r, e)| !stree.contains_key(*r) && wanted(r, e))
        .map(|(r, _)| r.clone())
        .collect();
    stats.extra = extra.clone();
    if mode == Mode::Check {
        return Ok(stats);
    }
    stats.missing.clear();
    stats.differ.clear();
    if o.dry_run {
        stats
            .planned
            .extend(dirs.iter().map(|d| format!("mkdir {d}")));
        stats.planned.extend(
            todo.iter().map(|(r, _, _)| {
                format!("{} {r}", if mode == Mode::Move { "move" } else { "copy" })
            }),
        );
        if mode == Mode::Sync {
            stats
                .planned
                .extend(extra.iter().rev().map(|r| format!("delete {r}")));
        }
        return Ok(stats);
    }
    on(Event::Planned {
        files: todo.len(),
        bytes: todo.iter().map(|(_, e, _)| e.size.unwrap_or(0)).sum(),
    });
    let cx = Ctx {
        src: src.0.clone(),
        src_root: sroot.clone(),
        dst: dst.0.clone(),
        dst_root: droot.clone(),
        cutoff: o.multi_stream_cutoff,
        streams: o.streams,
        segment: o.segment_size,
        resume: o.resume.clone(),
        on: on.clone(),
        retry_pause: o.retry_pause,
    };
    let failed = make_dirs(&dst.0, &droot, droot_entry.is_some(), &dirs, o.checkers).await;
    let root_failed = failed.iter().any(|(d, _)| d.is_empty());
    stats.dirs_created = if root_failed {
        0
    } else {
        dirs.len() - failed.len()
    };
    let blocked = |rel: &str| {
        failed
            .iter()
            .any(|(d, _)| d.is_empty() || rel.starts_with(&format!("{d}/")))
    };
    todo.retain(|(rel, _, _)| {
        if blocked(rel) {
            stats.failed(
                rel.clone(),
                &Error::new(ErrorKind::Conflict, "its folder could not be created"),
            );
            false
        } else {
            true
        }
    });
    for (d, e) in &failed {
        stats.failed(d.clone(), e);
    }
    let results: Vec<(String, Result<u64>)> = stream::iter(todo)
        .map(|(rel, e, new)| {
            let cx = &cx;
            async move {
                let from = Source::Path(join(&cx.src_root, &rel));
                let to = join(&cx.dst_root, &rel);
                let mut r = cx
                    .copy_retrying(&rel, &from, &to, &e, new)
                    .await
                    .map(|w| w.size.or(e.size).unwrap_or(0));
                if r.is_ok() && mode == Mode::Move {
                    let s = &cx.src;
                    let how = if s.capabilities().trash {
                        DeleteMode::Trash
                    } else {
                        DeleteMode::Permanent
                    };
                    if let Err(err) = s.delete(&join(&cx.src_root, &rel), how).await {
                        r = Err(err);
                    }
                }
                match &r {
                    Ok(_) => (cx.on)(Event::Copied(rel.clone())),
                    Err(err) => (cx.on)(Event::Failed(rel.clone(), err.to_string())),
                }
                (rel, r)
            }
        })
        .buffer_unordered(o.transfers.max(1))
        .collect()
        .await;
    for (rel, r) in results {
        match r {
            Ok(n) => {
                stats.copied += 1;
                stats.bytes += n;
            }
            Err(e) => stats.failed(rel, &e),
        }
    }
    if mode == Mode::Move && !arrived.is_empty() {
        let how = if src.0.capabilities().trash {
            DeleteMode::Trash
        } else {
            DeleteMode::Permanent
        };
        for rel in arrived {
            match src.0.delete(&join(&sroot, &rel), how).await {
                Ok(()) => on(Event::Copied(rel)),
                Err(e) => stats.failed(rel, &e),
            }
        }
    }
    if mode == Mode::Sync && stats.errors.is_empty() {
        let how = if dst.0.capabilities().trash {
            DeleteMode::Trash
        } else {
            DeleteMode::Permanent
        };
        // Deepest first, and nothing below a folder already deleted.
        let mut gone: Vec<String> = Vec::new();
        for rel in extra.iter().rev() {
            if gone.iter().any(|g| rel.starts_with(&format!("{g}/"))) {
                continue;
            }
            match dst.0.delete(&join(&droot, rel), how).await {
                Ok(()) => {
                    stats.deleted += 1;
                    gone.push(rel.clone());
                    on(Event::Deleted(rel.clone()));
                }
                Err(e) => stats.failed(rel.clone(), &e),
            }
        }
    } else if mode == Mode::Sync && !extra.is_empty() {
        tracing::warn!(
            "not deleting {} extraneous files because some copies failed",
            extra.len()
        );
    }
    Ok(stats)
}

/// Copies one file from `src` to `dst` at `to` (whose folder must exist) the way the tree engine copies
/// each file: server-side within one storage that can copy, otherwise streamed (several ranged streams past
/// [`Options::multi_stream_cutoff`]), resumable when [`Options::resume`] is set, retried after temporary
/// failures, and verified against what the destination reports (size, and a hash both sides know). Returns
/// the source's entry and the written one.
pub async fn copy_file(
    src: &Arc<dyn Storage>,
    from: &Source,
    dst: &Arc<dyn Storage>,
    to: &str,
    o: &Options,
    on: impl Fn(Event) + Send + Sync + 'static,
) -> Result<(Entry, Entry)> {
    let se = match from {
        Source::Path(p) => src.stat(p).await?,
        Source::Id(id) => src.stat_id(id).await?,
    };
    copy_listed(src, from, se, dst, to, o, on).await
}

/// [`copy_file`] of a file whose entry the caller has just listed (`se`, the entry of `from`), so it is
/// not asked for again: a two-way sync copies what its listing saw, by id where the source has them.
/// The copy is verified against `se`'s hash, so a file changed since it was listed fails (and is copied
/// as it is then by a later run) rather than being taken for what was listed.
pub(crate) async fn copy_listed(
    src: &Arc<dyn Storage>,
    from: &Source,
    se: Entry,
    dst: &Arc<dyn Storage>,
    to: &str,
    o: &Options,
    on: impl Fn(Event) + Send + Sync + 'static,
) -> Result<(Entry, Entry)> {
    if se.is_dir {
        return Err(Error::invalid(format!("{} is a folder", se.name))
            .with_hint("copy folders with cp (it copies the whole tree) or sync"));
    }
    let cx = Ctx {
        src: src.clone(),
        src_root: String::new(),
        dst: dst.clone(),
        dst_root: String::new(),
        cutoff: o.multi_stream_cutoff,
        streams: o.streams,
        segment: o.segment_size,
        resume: o.resume.clone(),
        on: Arc::new(on),
        retry_pause: o.retry_pause,
    };
    let label = cloudmux_core::path::file_name(to).to_string();
    let written = cx.copy_retrying(&label, from, to, &se, false).await?;
    Ok((se, written))
}

/// Moves one file: a rename within one storage that can rename, otherwise [`copy_file`] and, once the copy
/// is verified, the source deleted (to the trash where the source has one).
pub async fn move_file(
    src: &Arc<dyn Storage>,
    from: &str,
    dst: &Arc<dyn Storage>,
    to: &str,
    o: &Options,
    on: impl Fn(Event) + Send + Sync + 'static,
) -> Result<(Entry, Entry)> {
    if same_storage(src, dst) && src.capabilities().rename {
        let se = src.stat(from).await?;
        let e = src.rename(from, to).await?;
        return Ok((se, e));
    }
    let (se, e) = copy_file(src, &Source::Path(from.to_string()), dst, to, o, on).await?;
    let how = if src.capabilities().trash {
        DeleteMode::Trash
    } else {
        DeleteMode::Permanent
    };
    src.delete(from, how).await?;
    Ok((se, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(h: Option<Hashing>) -> &'static str {
        match h {
            Some(Hashing::Md5(_)) => "md5",
            Some(Hashing::Sha256(_)) => "sha256",
            None => "none",
        }
    }

    #[test]
    fn the_fastest_hash_both_sides_know() {
        assert_eq!(kind(Hashing::choose(true, true, true)), "sha256");
        assert_eq!(kind(Hashing::choose(true, true, false)), "md5");
        assert_eq!(kind(Hashing::choose(false, true, false)), "sha256");
        assert_eq!(kind(Hashing::choose(true, false, true)), "md5");
        assert_eq!(kind(Hashing::choose(false, false, true)), "none");
    }
}
