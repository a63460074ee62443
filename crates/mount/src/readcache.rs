//! The read cache of `--cache-mode full`: what was read of a file is kept in a sparse file of the cache
//! folder, with a record of which byte ranges it holds, across restarts.
//!
//! Each cached file is `read/KEY.data` (sparse: only what was read takes space) and `read/KEY.meta`: the
//! path under the mount, the version it holds (size, modification time, hash — a different version on
//! the service empties it) and its ranges, one `START END` a line. A read fetches only the ranges it
//! lacks — growing them ahead on sequential reads, never past a range already held — so a seek costs
//! what is read there. The records are written when a file is closed. Past `max_bytes` held in all,
//! the files least recently used and not open are dropped.

use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use cloudmux_core::Entry;

use crate::lock;

/// The version of a file a cache holds: size, modification time and the hash the service reports.
pub(crate) fn version_of(e: &Entry) -> String {
    format!(
        "{} {} {}",
        e.size.unwrap_or(0),
        e.modified.map(|m| m.timestamp_millis()).unwrap_or(0),
        e.hashes
            .md5
            .as_deref()
            .or(e.hashes.sha256.as_deref())
            .unwrap_or("-")
    )
}

/// Byte ranges held, sorted and apart.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct Ranges(Vec<(u64, u64)>);

impl Ranges {
    /// Adds `[a, b)`, merging what touches it.
    pub fn add(&mut self, a: u64, b: u64) {
        if a >= b {
            return;
        }
        let (mut a, mut b) = (a, b);
        let mut out = Vec::with_capacity(self.0.len() + 1);
        for &(x, y) in &self.0 {
            if y < a || x > b {
                out.push((x, y));
            } else {
                a = a.min(x);
                b = b.max(y);
            }
        }
        out.push((a, b));
        out.sort_unstable();
        self.0 = out;
    }

    /// The parts of `[a, b)` not held.
    pub fn missing(&self, a: u64, b: u64) -> Vec<(u64, u64)> {
        let mut out = Vec::new();
        let mut at = a;
        for &(x, y) in &self.0 {
            if y <= at {
                continue;
            }
            if x >= b {
                break;
            }
            if x > at {
                out.push((at, x.min(b)));
            }
            at = at.max(y);
            if at >= b {
                break;
            }
        }
        if at < b {
            out.push((at, b));
        }
        out
    }

    /// Where the next held range after `at` starts, if any.
    pub fn next_start(&self, at: u64) -> Option<u64> {
        self.0.iter().map(|r| r.0).find(|&x| x > at)
    }

    /// Bytes held.
    pub fn bytes(&self) -> u64 {
        self.0.iter().map(|(a, b)| b - a).sum()
    }
}

/// One cached file.
pub(crate) struct Cached {
    key: String,
    path: Mutex<String>,
    state: Mutex<State>,
    /// Whether a fill of the whole file runs.
    filling: AtomicBool,
}

/// What fetches `len` bytes at `start` of a cached file from the service (fewer at its end).
pub(crate) type Fetch = Arc<dyn Fn(u64, u64) -> std::io::Result<Vec<u8>> + Send + Sync>;

/// The bytes a request of a whole-file fill asks for.
const FILL_CHUNK: u64 = 8 << 20;
/// The requests of a whole-file fill at once.
const FILL_PARALLEL: u64 = 4;
/// Whole-file fills at once, across files (each holds its file's size in the cache while it is open).
const FILLS_MAX: usize = 2;

struct State {
    file: Option<File>,
    version: String,
    ranges: Ranges,
    used: Instant,
    open: usize,
}

/// The read cache of a mount.
pub(crate) struct ReadCache {
    dir: PathBuf,
    max_bytes: u64,
    min_free: u64,
    files: Mutex<HashMap<String, Arc<Cached>>>,
    held: AtomicU64,
    next: AtomicU64,
    /// Whole-file fills running.
    fills: std::sync::atomic::AtomicUsize,
}

impl ReadCache {
    /// The cache under `cache/read`, holding at most `max_bytes` and leaving at least `min_free` bytes
    /// free on its disk; the records an earlier mount left are read back.
    pub fn open(
        cache: &std::path::Path,
        max_bytes: u64,
        min_free: u64,
    ) -> std::io::Result<Arc<Self>> {
        let dir = cache.join("read");
        std::fs::create_dir_all(&dir)?;
        let mut files = HashMap::new();
        let mut held = 0;
        let mut next = 1;
        for e in std::fs::read_dir(&dir)? {
            let e = e?;
            let name = e.file_name().to_string_lossy().into_owned();
            let Some(key) = name.strip_suffix(".meta") else {
                continue;
            };
            if let Ok(n) = key.parse::<u64>() {
                next = next.max(n + 1);
            }
            let text = std::fs::read_to_string(e.path())?;
            let mut lines = text.lines();
            let (Some(path), Some(version)) = (lines.next(), lines.next()) else {
                remove(&dir, key);
                continue;
            };
            let mut ranges = Ranges::default();
            for l in lines {
                if let Some((a, b)) = l.split_once(' ')
                    && let (Ok(a), Ok(b)) = (a.parse(), b.parse())
                {
                    ranges.add(a, b);
                }
            }
            held += ranges.bytes();
            files.insert(
                path.to_string(),
                Arc::new(Cached {
                    key: key.to_string(),
                    path: Mutex::new(path.to_string()),
                    state: Mutex::new(State {
                        file: None,
                        version: version.to_string(),
                        ranges,
                        used: Instant::now(),
                        open: 0,
                    }),
                    filling: AtomicBool::new(false),
                }),
            );
        }
        // Data files without a record: a crash before the first close.
        for e in std::fs::read_dir(&dir)? {
            let e = e?;
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(key) = name.strip_suffix(".data")
                && !files.values().any(|c| c.key == key)
            {
                let _ = std::fs::remove_file(e.path());
            }
        }
        Ok(Arc::new(ReadCache {
            dir,
            max_bytes,
            min_free,
            files: Mutex::new(files),
            held: AtomicU64::new(held),
            next: AtomicU64::new(next),
            fills: Default::default(),
        }))
    }

    /// The cache of `path` at version `e`, opened for a reader (emptied if it held another version).
    pub fn open_file(&self, path: &str, e: &Entry) -> std::io::Result<Arc<Cached>> {
        let version = version_of(e);
        let c = {
            let mut files = lock(&self.files);
            files
                .entry(path.to_string())
                .or_insert_with(|| {
                    let key = self.next.fetch_add(1, Ordering::Relaxed).to_string();
                    Arc::new(Cached {
                        key,
                        path: Mutex::new(path.to_string()),
                        state: Mutex::new(State {
                            file: None,
                            version: version.clone(),
                            ranges: Ranges::default(),
                            used: Instant::now(),
                            open: 0,
                        }),
                        filling: AtomicBool::new(false),
                    })
                })
                .clone()
        };
        {
            let mut st = lock(&c.state);
            if st.version != version {
                self.held.fetch_sub(st.ranges.bytes(), Ordering::Relaxed);
                st.ranges = Ranges::default();
                st.version = version;
                st.file = None;
                let _ = std::fs::remove_file(self.dir.join(format!("{}.data", c.key)));
            }
            if st.file.is_none() {
                st.file = Some(
                    std::fs::OpenOptions::new()
                        .read(true)
                        .write(true)
                        .create(true)
                        .truncate(false)
                        .open(self.dir.join(format!("{}.data", c.key)))?,
                );
            }
            st.open += 1;
            st.used = Instant::now();
        }
        Ok(c)
    }

    /// Reads `[offset, end)` of `c`, fetching what it lacks with `fetch(start, len)`; `ahead` is how far
    /// past `end` a missing range may be fetched (never past a range held nor past `size`).
    pub fn read(
        &self,
        c: &Cached,
        offset: u64,
        end: u64,
        ahead: u64,
        size: u64,
        mut fetch: impl FnMut(u64, u64) -> std::io::Result<Vec<u8>>,
    ) -> std::io::Result<Vec<u8>> {
        let missing = lock(&c.state).ranges.missing(offset, end);
        for (a, b) in missing {
            // The version is taken before the fetch: if another opener finds a newer version on the
            // service meanwhile (and empties the cache for it), these bytes are of the old one and are
            // not kept.
            let (stop, version) = {
                let st = lock(&c.state);
                let limit = st.ranges.next_start(a).unwrap_or(u64::MAX).min(size);
                ((b + ahead).min(limit).max(b), st.version.clone())
            };
            let bytes = fetch(a, stop - a)?;
            let got = bytes.len() as u64;
            if !self.store(c, &version, a, &bytes)? {
                return Err(std::io::Error::other(
                    "the file changed on the service while it was read; open it again",
                ));
            }
            if got < b - a {
                // The file is shorter than it was said to be: what is there is all there is.
                break;
            }
        }
        let st = lock(&c.state);
        let file = st
            .file
            .as_ref()
            .ok_or_else(|| std::io::Error::other("closed"))?;
        let mut buf = vec![0u8; (end - offset) as usize];
        let mut got = 0;
        while got < buf.len() {
            match file.read_at(&mut buf[got..], offset + got as u64)? {
                0 => break,
                n => got += n,
            }
        }
        buf.truncate(got);
        Ok(buf)
    }

    /// Keeps `bytes` fetched at `a` of version `version` of `c`; false (nothing kept) if it now holds
    /// another.
    fn store(&self, c: &Cached, version: &str, a: u64, bytes: &[u8]) -> std::io::Result<bool> {
        let mut st = lock(&c.state);
        if st.version != version {
            return Ok(false);
        }
        let file = st
            .file
            .as_ref()
            .ok_or_else(|| std::io::Error::other("closed"))?;
        file.write_all_at(bytes, a)?;
        let before = st.ranges.bytes();
        st.ranges.add(a, a + bytes.len() as u64);
        let added = st.ranges.bytes() - before;
        drop(st);
        self.held.fetch_add(added, Ordering::Relaxed);
        Ok(true)
    }

    /// Whether the whole of a file of `size` bytes may be brought into the cache: it takes at most half
    /// of the cache's size and leaves the disk's free space.
    pub fn may_fill(&self, size: u64) -> bool {
        size <= self.max_bytes / 2
            && free_space(&self.dir).is_none_or(|f| f >= self.min_free.saturating_add(size))
    }

    /// Brings every range `c` (of `size` bytes) lacks into the cache behind its readers: `FILL_CHUNK`
    /// bytes a request, `FILL_PARALLEL` at once, while a reader has it open and it holds the version it
    /// held at the start. One such fill a file at a time, and `FILLS_MAX` in all (others are not
    /// started: their readers fetch what they read); `fetch` as in [`ReadCache::read`].
    pub fn fill_all(self: &Arc<Self>, c: Arc<Cached>, size: u64, fetch: Fetch) {
        if c.filling.swap(true, Ordering::AcqRel) {
            return;
        }
        if self.fills.fetch_add(1, Ordering::AcqRel) >= FILLS_MAX {
            self.fills.fetch_sub(1, Ordering::AcqRel);
            c.filling.store(false, Ordering::Release);
            return;
        }
        let version = lock(&c.state).version.clone();
        let mut chunks = std::collections::VecDeque::new();
        for (a, b) in lock(&c.state).ranges.missing(0, size) {
            let mut at = a;
            while at < b {
                let end = (at + FILL_CHUNK).min(b);
                chunks.push_back((at, end));
                at = end;
            }
        }
        let work = Arc::new(Mutex::new(chunks));
        let left = Arc::new(AtomicU64::new(FILL_PARALLEL));
        for _ in 0..FILL_PARALLEL {
            let (cache, c, version, work, fetch, left) = (
                self.clone(),
                c.clone(),
                version.clone(),
                work.clone(),
                fetch.clone(),
                left.clone(),
            );
            std::thread::spawn(move || {
                loop {
                    let next = lock(&work).pop_front();
                    let Some((a, b)) = next else { break };
                    let missing = {
                        let st = lock(&c.state);
                        if st.open == 0 || st.version != version || st.file.is_none() {
                            break;
                        }
                        st.ranges.missing(a, b)
                    };
                    let ok = missing.into_iter().all(|(a, b)| {
                        fetch(a, b - a)
                            .and_then(|bytes| cache.store(&c, &version, a, &bytes).map(drop))
                            .is_ok()
                    });
                    if !ok {
                        // A failure leaves the rest to the readers' own fetches.
                        lock(&work).clear();
                        break;
                    }
                }
                if left.fetch_sub(1, Ordering::AcqRel) == 1 {
                    c.filling.store(false, Ordering::Release);
                    cache.fills.fetch_sub(1, Ordering::AcqRel);
                }
            });
        }
    }

    /// A reader of `c` is done: its record is written and the cache kept under its size.
    pub fn close(&self, c: &Cached) {
        {
            let mut st = lock(&c.state);
            st.open = st.open.saturating_sub(1);
            st.used = Instant::now();
            let path = lock(&c.path).clone();
            let mut text = format!("{path}\n{}\n", st.version);
            for (a, b) in &st.ranges.0 {
                text.push_str(&format!("{a} {b}\n"));
            }
            let tmp = self.dir.join(format!("{}.meta.tmp", c.key));
            if std::fs::write(&tmp, text).is_ok() {
                let _ = std::fs::rename(&tmp, self.dir.join(format!("{}.meta", c.key)));
            }
        }
        self.evict();
    }

    /// Drops the cache of `path` and below (written, renamed or deleted through the mount).
    pub fn forget(&self, path: &str) {
        let below = format!("{path}/");
        let gone: Vec<Arc<Cached>> = {
            let mut files = lock(&self.files);
            let keys: Vec<String> = files
                .keys()
                .filter(|p| *p == path || p.starts_with(&below))
                .cloned()
                .collect();
            keys.iter().filter_map(|k| files.remove(k)).collect()
        };
        for c in gone {
            let mut st = lock(&c.state);
            self.held.fetch_sub(st.ranges.bytes(), Ordering::Relaxed);
            st.ranges = Ranges::default();
            st.file = None;
            remove(&self.dir, &c.key);
        }
    }

    /// Bytes held now.
    pub fn held(&self) -> u64 {
        self.held.load(Ordering::Relaxed)
    }

    /// Whether the cache must shrink: it holds more than its size, or its disk has less free space than
    /// it must leave (and it still holds something).
    fn too_big(&self) -> bool {
        let held = self.held();
        held > self.max_bytes
            || (held > 0
                && self.min_free > 0
                && free_space(&self.dir).is_some_and(|f| f < self.min_free))
    }

    /// Drops least recently used files that are not open until the cache holds at most its size and
    /// leaves its disk's free space.
    fn evict(&self) {
        while self.too_big() {
            let victim = {
                let files = lock(&self.files);
                files
                    .iter()
                    .filter_map(|(p, c)| {
                        let st = lock(&c.state);
                        (st.open == 0 && st.ranges.bytes() > 0).then(|| (st.used, p.clone()))
                    })
                    .min()
                    .map(|(_, p)| p)
            };
            match victim {
                Some(p) => self.forget(&p),
                None => break,
            }
        }
    }
}

/// Bytes free for an unprivileged user on the disk holding `dir`.
fn free_space(dir: &std::path::Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    let mut st = std::mem::MaybeUninit::<libc::statvfs>::zeroed();
    // SAFETY: `c` is a NUL-terminated path and `st` a buffer of the size statvfs writes.
    let rc = unsafe { libc::statvfs(c.as_ptr(), st.as_mut_ptr()) };
    if rc != 0 {
        return None;
    }
    // SAFETY: statvfs succeeded, so it filled `st`.
    let st = unsafe { st.assume_init() };
    Some(st.f_bavail.saturating_mul(st.f_frsize))
}

fn remove(dir: &std::path::Path, key: &str) {
    let _ = std::fs::remove_file(dir.join(format!("{key}.data")));
    let _ = std::fs::remove_file(dir.join(format!("{key}.meta")));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_merge_and_say_what_is_missing() {
        let mut r = Ranges::default();
        r.add(10, 20);
        r.add(30, 40);
        assert_eq!(r.missing(0, 50), vec![(0, 10), (20, 30), (40, 50)]);
        assert_eq!(r.missing(12, 18), vec![]);
        assert_eq!(r.missing(15, 35), vec![(20, 30)]);
        r.add(20, 30);
        assert_eq!(r.0, vec![(10, 40)], "touching ranges merge");
        r.add(5, 12);
        assert_eq!(r.0, vec![(5, 40)]);
        assert_eq!(r.bytes(), 35);
        assert_eq!(r.next_start(0), Some(5));
        assert_eq!(r.next_start(5), None);
    }

    #[test]
    fn whole_file_fills_run_two_at_a_time_at_most() {
        use std::sync::atomic::AtomicBool;
        let d = tempfile::tempdir().unwrap();
        let rc = ReadCache::open(d.path(), 1 << 30, 0).unwrap();
        let started = Arc::new(AtomicU64::new(0));
        let go = Arc::new(AtomicBool::new(false));
        let fetch: Fetch = {
            let (started, go) = (started.clone(), go.clone());
            Arc::new(move |_a, len| {
                started.fetch_add(1, Ordering::SeqCst);
                while !go.load(Ordering::SeqCst) {
                    std::thread::sleep(std::time::Duration::from_millis(5));
                }
                Ok(vec![7; len as usize])
            })
        };
        let mut files = Vec::new();
        for name in ["a", "b", "c"] {
            let mut e = Entry::dir(name.to_string());
            e.is_dir = false;
            e.size = Some(1000);
            let c = rc.open_file(name, &e).unwrap();
            rc.fill_all(c.clone(), 1000, fetch.clone());
            files.push(c);
        }
        let t0 = Instant::now();
        while started.load(Ordering::SeqCst) < 2 {
            assert!(t0.elapsed().as_secs() < 10, "the fills never started");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
        assert_eq!(
            started.load(Ordering::SeqCst),
            2,
            "the third file's fill was not started"
        );
        go.store(true, Ordering::SeqCst);
        while rc.held() < 2000 {
            assert!(t0.elapsed().as_secs() < 10, "the fills never ended");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        for c in &files {
            rc.close(c);
        }
    }

    #[test]
    fn a_read_fetches_only_what_is_missing_and_survives_a_reopen() {
        let d = tempfile::tempdir().unwrap();
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let mut e = Entry::dir("f".to_string());
        e.is_dir = false;
        e.size = Some(data.len() as u64);
        let fetched = std::cell::RefCell::new(Vec::new());
        let fetch = |a: u64, len: u64| {
            fetched.borrow_mut().push((a, len));
            Ok(data[a as usize..(a + len) as usize].to_vec())
        };
        let rc = ReadCache::open(d.path(), 1 << 30, 0).unwrap();
        let c = rc.open_file("f", &e).unwrap();
        let size = data.len() as u64;
        assert_eq!(
            rc.read(&c, 50_000, 51_000, 0, size, fetch).unwrap(),
            &data[50_000..51_000]
        );
        assert_eq!(
            rc.read(&c, 50_500, 50_900, 0, size, fetch).unwrap(),
            &data[50_500..50_900]
        );
        assert_eq!(fetched.borrow().len(), 1, "the second read was held");
        assert_eq!(
            rc.read(&c, 49_000, 52_000, 0, size, fetch).unwrap(),
            &data[49_000..52_000]
        );
        assert_eq!(fetched.borrow()[1..], [(49_000, 1000), (51_000, 1000)]);
        rc.close(&c);
        drop(rc);
        let rc = ReadCache::open(d.path(), 1 << 30, 0).unwrap();
        assert_eq!(rc.held(), 3000, "kept across a restart");
        let c = rc.open_file("f", &e).unwrap();
        fetched.borrow_mut().clear();
        assert_eq!(
            rc.read(&c, 49_500, 51_500, 0, size, fetch).unwrap(),
            &data[49_500..51_500]
        );
        assert!(fetched.borrow().is_empty());
        rc.close(&c);
        // Another version on the service empties it.
        e.size = Some(99_999);
        let c = rc.open_file("f", &e).unwrap();
        assert_eq!(rc.held(), 0);
        rc.close(&c);
        // Past its size, what is not open goes.
        let rc = ReadCache::open(d.path(), 10_000, 0).unwrap();
        e.size = Some(size);
        let c = rc.open_file("f", &e).unwrap();
        rc.read(&c, 0, 20_000, 0, size, fetch).unwrap();
        assert_eq!(rc.held(), 20_000, "open: kept");
        rc.close(&c);
        assert_eq!(rc.held(), 0, "closed and over the size: dropped");
        // A disk with less free space than the cache must leave: what is not open goes too.
        assert!(free_space(d.path()).is_some());
        let rc = ReadCache::open(d.path(), 1 << 30, u64::MAX).unwrap();
        let c = rc.open_file("f", &e).unwrap();
        rc.read(&c, 0, 20_000, 0, size, fetch).unwrap();
        rc.close(&c);
        assert_eq!(rc.held(), 0, "no disk has u64::MAX bytes free: dropped");
    }
}
