//! Folder listings kept in memory and in the cache folder, so that a remount answers from them at once.
//!
//! Each listed folder is `meta/KEY.json` (KEY: the SHA-256 of its path under the mount): the mounted
//! root, the path, when it was listed and its entries. Every listing asked of the service is written
//! there; every change made through the mount removes the listings it makes stale. A mount loads them
//! all when it starts, as *unverified*: they are shown at once and asked again in the background (the
//! crate docs say when a change feed makes that unnecessary). `meta/feed` holds the change feed's
//! cursor where the service has a feed: what changed while nothing was mounted is then found by asking
//! from it.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use cloudmux_core::Entry;
use sha2::Digest;

use crate::{join, lock, parent_of};

/// A folder's entries, when they were asked for, and whether a service has confirmed them since the
/// mount started.
#[derive(Clone)]
pub(crate) struct Listing {
    pub at: Instant,
    pub entries: Arc<Vec<Entry>>,
    /// Loaded from the cache folder and not asked again yet.
    pub unverified: bool,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Stored {
    root: String,
    path: String,
    /// Seconds since 1970 when it was listed.
    listed: u64,
    entries: Vec<Entry>,
}

/// The listings of one mount.
pub(crate) struct Listings {
    dir: PathBuf,
    root: String,
    map: Mutex<HashMap<String, Listing>>,
    /// Where each id seen in a listing is (the mounted root's id is `""`).
    ids: Mutex<HashMap<String, String>>,
    /// Counts removals and edits, so that a listing asked for before one is not kept after it.
    epoch: AtomicU64,
    /// Listings changed in memory since they were written (their files are removed meanwhile, so that a
    /// crash leaves nothing stale; [`Listings::flush`] writes them).
    dirty: Mutex<HashSet<String>>,
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Listings {
    /// The listings kept under `cache_dir` for the mount of `root`, loaded (as unverified).
    pub fn open(cache_dir: &Path, root: &str) -> std::io::Result<Self> {
        let dir = cache_dir.join("meta");
        std::fs::create_dir_all(&dir)?;
        let me = Listings {
            dir,
            root: root.to_string(),
            map: Mutex::default(),
            ids: Mutex::default(),
            epoch: AtomicU64::new(0),
            dirty: Mutex::default(),
        };
        let now = Instant::now();
        let mut loaded = 0usize;
        for f in std::fs::read_dir(&me.dir)? {
            let f = f?.path();
            if f.extension().is_none_or(|x| x != "json") {
                continue;
            }
            let stored = std::fs::read(&f)
                .ok()
                .and_then(|b| serde_json::from_slice::<Stored>(&b).ok())
                .filter(|s| s.root == me.root && f == me.file(&s.path));
            let Some(s) = stored else {
                // Unreadable, or of another mount root: not ours to trust.
                let _ = std::fs::remove_file(&f);
                continue;
            };
            let age = Duration::from_secs(now_secs().saturating_sub(s.listed));
            let at = now.checked_sub(age).unwrap_or(now);
            me.index(&s.path, &s.entries);
            lock(&me.map).insert(
                s.path,
                Listing {
                    at,
                    entries: Arc::new(s.entries),
                    unverified: true,
                },
            );
            loaded += 1;
        }
        if loaded > 0 {
            tracing::info!("{loaded} folder listings from the cache folder");
        }
        Ok(me)
    }

    fn file(&self, path: &str) -> PathBuf {
        let key = hex::encode(&sha2::Sha256::digest(path.as_bytes())[..16]);
        self.dir.join(format!("{key}.json"))
    }

    fn index(&self, path: &str, entries: &[Entry]) {
        let mut ids = lock(&self.ids);
        for e in entries {
            if let Some(id) = &e.id {
                ids.insert(id.clone(), join(path, &e.name));
            }
        }
    }

    /// The listing of `path`, if one is kept.
    pub fn get(&self, path: &str) -> Option<Listing> {
        lock(&self.map).get(path).cloned()
    }

    /// Where the count of removals stands (give it to [`Listings::put`]).
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::SeqCst)
    }

    /// Keeps `entries` as the listing of `path`, asked for when the count of removals was `epoch`;
    /// dropped if something was removed since (it may be older than that removal).
    pub fn put(&self, path: &str, entries: Arc<Vec<Entry>>, epoch: u64) {
        {
            let mut map = lock(&self.map);
            if self.epoch() != epoch {
                return;
            }
            map.insert(
                path.to_string(),
                Listing {
                    at: Instant::now(),
                    entries: entries.clone(),
                    unverified: false,
                },
            );
        }
        self.index(path, &entries);
        lock(&self.dirty).remove(path);
        self.write(path, &entries);
    }

    fn write(&self, path: &str, entries: &[Entry]) {
        let stored = Stored {
            root: self.root.clone(),
            path: path.to_string(),
            listed: now_secs(),
            entries: entries.to_vec(),
        };
        let file = self.file(path);
        let tmp = file.with_extension("tmp");
        let written = serde_json::to_vec(&stored)
            .map_err(std::io::Error::other)
            .and_then(|b| std::fs::write(&tmp, b))
            .and_then(|()| std::fs::rename(&tmp, &file));
        if let Err(e) = written {
            tracing::warn!("keeping the listing of /{path} in the cache folder: {e}");
        }
    }

    /// Edits the kept listing of folder `dir` (if there is one) with `edit`, as a change made through
    /// the mount does: no need to ask the service for the whole folder again.
    fn edit(&self, dir: &str, edit: impl FnOnce(&mut Vec<Entry>)) {
        let mut map = lock(&self.map);
        self.epoch.fetch_add(1, Ordering::SeqCst);
        let Some(l) = map.get_mut(dir) else {
            return;
        };
        edit(Arc::make_mut(&mut l.entries));
        if lock(&self.dirty).insert(dir.to_string()) {
            let _ = std::fs::remove_file(self.file(dir));
        }
    }

    /// `e` (named `e.name`) is now in folder `dir`, replacing what had its name.
    pub fn upsert(&self, dir: &str, e: Entry) {
        let (name, id) = (e.name.clone(), e.id.clone());
        self.edit(dir, |entries| {
            match entries.iter_mut().find(|x| x.name == name) {
                Some(x) => *x = e,
                None => entries.push(e),
            }
        });
        if let Some(id) = id {
            lock(&self.ids).insert(id, join(dir, &name));
        }
    }

    /// Nothing is named `name` in folder `dir` any more.
    pub fn remove_entry(&self, dir: &str, name: &str) {
        self.edit(dir, |entries| entries.retain(|x| x.name != name));
    }

    /// Writes the listings edited in memory since they were last written.
    pub fn flush(&self) {
        let dirty: Vec<String> = lock(&self.dirty).drain().collect();
        for path in dirty {
            if let Some(l) = self.get(&path) {
                self.write(&path, &l.entries);
            }
        }
    }

    /// Drops the listing of `path`.
    pub fn remove(&self, path: &str) {
        let mut map = lock(&self.map);
        self.epoch.fetch_add(1, Ordering::SeqCst);
        lock(&self.dirty).remove(path);
        if map.remove(path).is_some() {
            let _ = std::fs::remove_file(self.file(path));
        }
    }

    /// Drops the listings of `path` and of every folder below it.
    pub fn remove_tree(&self, path: &str) {
        let below = format!("{path}/");
        let mut map = lock(&self.map);
        self.epoch.fetch_add(1, Ordering::SeqCst);
        let gone: Vec<String> = map
            .keys()
            .filter(|k| *k == path || k.starts_with(&below) || path.is_empty())
            .cloned()
            .collect();
        for k in gone {
            lock(&self.dirty).remove(&k);
            map.remove(&k);
            let _ = std::fs::remove_file(self.file(&k));
        }
    }

    /// Marks every listing as confirmed (the change feed accounted for all that changed since).
    pub fn verify_all(&self) {
        for l in lock(&self.map).values_mut() {
            if l.unverified {
                l.unverified = false;
                l.at = Instant::now();
            }
        }
    }

    /// Takes in what a change feed reported: the folder each changed entry was in (as far as this mount
    /// knows), the folders it is in now, and its own listings if it is a folder, are dropped.
    pub fn apply(&self, changes: &[cloudmux_core::Change]) -> usize {
        let (mut folders, mut trees) = (HashSet::new(), HashSet::new());
        {
            let ids = lock(&self.ids);
            for c in changes {
                if let Some(p) = ids.get(&c.id) {
                    folders.insert(parent_of(p).to_string());
                    if !p.is_empty() {
                        trees.insert(p.clone());
                    }
                }
                for parent in &c.parents {
                    if let Some(p) = ids.get(parent) {
                        folders.insert(p.clone());
                    }
                }
            }
        }
        let n = folders.len() + trees.len();
        for p in folders {
            self.remove(&p);
        }
        for p in trees {
            self.remove_tree(&p);
        }
        n
    }

    /// Records the mounted root's id, so that changes in it are seen.
    pub fn set_root_id(&self, id: &str) {
        lock(&self.ids).insert(id.to_string(), String::new());
    }

    /// The saved change-feed cursor, if any.
    pub fn cursor(&self) -> Option<String> {
        std::fs::read_to_string(self.dir.join("feed"))
            .ok()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty() && s.len() < 4096)
    }

    /// Saves the change-feed cursor (`None`: forgets it).
    pub fn save_cursor(&self, cursor: Option<&str>) {
        let file = self.dir.join("feed");
        let r = match cursor {
            Some(c) => std::fs::write(file.with_extension("tmp"), c)
                .and_then(|()| std::fs::rename(file.with_extension("tmp"), &file)),
            None => std::fs::remove_file(&file).or_else(|e| {
                if e.kind() == std::io::ErrorKind::NotFound {
                    Ok(())
                } else {
                    Err(e)
                }
            }),
        };
        if let Err(e) = r {
            tracing::warn!("keeping the change feed's cursor in the cache folder: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(dir: &str, name: &str, id: &str, is_dir: bool) -> Entry {
        let mut e = Entry::dir(join(dir, name));
        e.is_dir = is_dir;
        e.id = Some(id.into());
        e
    }

    #[test]
    fn listings_survive_a_reopen_unverified_and_only_for_their_root() {
        let dir = tempfile::tempdir().unwrap();
        let l = Listings::open(dir.path(), "photos").unwrap();
        l.put("", Arc::new(vec![entry("", "a", "A", true)]), l.epoch());
        l.put(
            "a",
            Arc::new(vec![entry("a", "b.txt", "B", false)]),
            l.epoch(),
        );
        drop(l);
        let l = Listings::open(dir.path(), "photos").unwrap();
        let a = l.get("a").unwrap();
        assert!(a.unverified);
        assert_eq!(a.entries[0].name, "b.txt");
        l.verify_all();
        assert!(!l.get("a").unwrap().unverified);
        // Another root over the same folder trusts none of it.
        let other = Listings::open(dir.path(), "music").unwrap();
        assert!(other.get("a").is_none());
    }

    #[test]
    fn a_listing_asked_before_a_removal_is_not_kept() {
        let dir = tempfile::tempdir().unwrap();
        let l = Listings::open(dir.path(), "").unwrap();
        let before = l.epoch();
        l.remove("x");
        l.put("x", Arc::default(), before);
        assert!(l.get("x").is_none());
        l.put("x", Arc::default(), l.epoch());
        assert!(l.get("x").is_some());
    }

    #[test]
    fn changes_drop_the_old_and_new_folders_and_all_below_a_moved_one() {
        let dir = tempfile::tempdir().unwrap();
        let l = Listings::open(dir.path(), "").unwrap();
        l.set_root_id("ROOT");
        let e = l.epoch();
        l.put(
            "",
            Arc::new(vec![entry("", "a", "A", true), entry("", "c", "C", true)]),
            e,
        );
        l.put("a", Arc::new(vec![entry("a", "sub", "S", true)]), e);
        l.put("a/sub", Arc::new(vec![entry("a/sub", "f", "F", false)]), e);
        l.put("c", Arc::default(), e);
        // `a/sub` moved into `c`: `a`, `a/sub` (and below) and `c` are stale, the root is not.
        let n = l.apply(&[cloudmux_core::Change {
            id: "S".into(),
            parents: vec!["C".into()],
            removed: false,
        }]);
        assert_eq!(n, 3, "a, c, and a/sub with all below it");
        assert!(l.get("a").is_none() && l.get("a/sub").is_none() && l.get("c").is_none());
        assert!(l.get("").is_some());
        // Something new in the root.
        l.put("c", Arc::default(), l.epoch());
        l.apply(&[cloudmux_core::Change {
            id: "NEW".into(),
            parents: vec!["ROOT".into()],
            removed: false,
        }]);
        assert!(l.get("").is_none());
        assert!(l.get("c").is_some(), "only the folder that changed");
        // Unknown ids change nothing kept.
        assert_eq!(
            l.apply(&[cloudmux_core::Change {
                id: "ELSEWHERE".into(),
                parents: vec!["P".into()],
                removed: true,
            }]),
            0
        );
        assert!(l.get("c").is_some());
    }

    #[test]
    fn edits_through_the_mount_keep_the_listing_and_reach_the_disk_at_the_flush() {
        let dir = tempfile::tempdir().unwrap();
        let l = Listings::open(dir.path(), "").unwrap();
        l.put("d", Arc::new(vec![entry("d", "a", "A", false)]), l.epoch());
        let before = l.epoch();
        l.upsert("d", entry("d", "b", "B", false));
        l.remove_entry("d", "a");
        let names = |l: &Listings| -> Vec<String> {
            l.get("d")
                .unwrap()
                .entries
                .iter()
                .map(|e| e.name.clone())
                .collect()
        };
        assert_eq!(names(&l), ["b"]);
        // A listing asked for before the edit is older than it.
        l.put("d", Arc::new(vec![entry("d", "a", "A", false)]), before);
        assert_eq!(names(&l), ["b"]);
        // Until the flush the file is gone (a crash would leave nothing stale), then it holds the edit.
        assert!(Listings::open(dir.path(), "").unwrap().get("d").is_none());
        l.flush();
        assert_eq!(names(&Listings::open(dir.path(), "").unwrap()), ["b"]);
        // A folder not kept is not made up.
        l.upsert("other", entry("other", "x", "X", false));
        assert!(l.get("other").is_none());
    }

    #[test]
    fn the_cursor_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let l = Listings::open(dir.path(), "").unwrap();
        assert_eq!(l.cursor(), None);
        l.save_cursor(Some("42"));
        assert_eq!(
            Listings::open(dir.path(), "").unwrap().cursor().as_deref(),
            Some("42")
        );
        l.save_cursor(None);
        assert_eq!(l.cursor(), None);
    }
}
