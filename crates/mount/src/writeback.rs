//! Write-back: files closed but not yet uploaded, kept in the cache folder so that they survive a crash.
//!
//! Each closed version of a file is two files of `DIR/pending`: `ID.data` (the bytes) and `ID.path` (the
//! path under the mount, written after the data, by rename, so that a crash leaves either both or an
//! orphan data file, never a path without its bytes). A newer version of the same path supersedes an
//! older one (the older is removed; an upload of it under way finishes harmlessly and is not recorded).
//! Uploads wait `delay` after the close, go through the transfer engine with resumable sessions kept in
//! `DIR/sessions` (so a large upload cut by a crash resumes where it stopped), and are retried with a
//! growing pause when they fail. A new mount over the same cache folder finds what is pending and
//! uploads it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use cloudmux_core::{Entry, Result, Storage};

use crate::lock;

/// Told of each upload done: the path under the mount and what the service now holds there.
pub(crate) type Uploaded = Arc<dyn Fn(&str, Entry) + Send + Sync>;

/// A closed version of a file, waiting for its upload.
#[derive(Debug, Clone)]
pub(crate) struct Item {
    /// Names its files in the pending folder; a newer version has a larger id.
    pub id: u64,
    /// Its size in bytes.
    pub size: u64,
    /// When it was closed.
    pub modified: SystemTime,
}

/// The pending uploads of one mount.
pub(crate) struct WriteBack {
    dir: PathBuf,
    sessions: PathBuf,
    items: Mutex<HashMap<String, Item>>,
    next: AtomicU64,
    storage: Arc<dyn Storage>,
    root: String,
    delay: Duration,
    rt: tokio::runtime::Handle,
    uploaded: Uploaded,
    /// One upload at a time per path, so that an older version never lands after a newer one.
    busy: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

/// The longest pause between two tries of a failing upload.
const MAX_PAUSE: Duration = Duration::from_secs(300);

impl WriteBack {
    /// The pending uploads kept under `cache`, uploading to `root` of `storage` `delay` after a close;
    /// what an earlier mount left pending is scheduled at once.
    pub fn open(
        cache: &Path,
        storage: Arc<dyn Storage>,
        root: String,
        delay: Duration,
        rt: tokio::runtime::Handle,
        uploaded: Uploaded,
    ) -> std::io::Result<Arc<Self>> {
        let dir = cache.join("pending");
        std::fs::create_dir_all(&dir)?;
        let mut items: HashMap<String, Item> = HashMap::new();
        let mut next = 1;
        for e in std::fs::read_dir(&dir)? {
            let e = e?;
            let name = e.file_name().to_string_lossy().into_owned();
            let Some(id) = name
                .strip_suffix(".path")
                .or_else(|| name.strip_suffix(".data"))
                .and_then(|s| s.parse::<u64>().ok())
            else {
                // A half-written journal (`.tmp`) or anything else: not ours to keep.
                let _ = std::fs::remove_file(e.path());
                continue;
            };
            next = next.max(id + 1);
            if !name.ends_with(".path") {
                continue;
            }
            let path = std::fs::read_to_string(e.path())?;
            // Our own file, but a path that could climb out of the mounted folder is never used.
            if path.is_empty() || !path.split('/').all(cloudmux_core::name::is_valid) {
                tracing::warn!(
                    "{}: not a path under the mount; left alone",
                    e.path().display()
                );
                continue;
            }
            let data = dir.join(format!("{id}.data"));
            let Ok(meta) = std::fs::metadata(&data) else {
                let _ = std::fs::remove_file(e.path());
                continue;
            };
            let item = Item {
                id,
                size: meta.len(),
                modified: meta.modified().unwrap_or_else(|_| SystemTime::now()),
            };
            match items.get(&path) {
                Some(old) if old.id > id => remove_files(&dir, id),
                Some(old) => {
                    remove_files(&dir, old.id);
                    items.insert(path, item);
                }
                None => {
                    items.insert(path, item);
                }
            }
        }
        // Data files no journal names: a crash between the two writes.
        let named: std::collections::HashSet<u64> = items.values().map(|i| i.id).collect();
        for e in std::fs::read_dir(&dir)? {
            let e = e?;
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(id) = name
                .strip_suffix(".data")
                .and_then(|s| s.parse::<u64>().ok())
                && !named.contains(&id)
            {
                let _ = std::fs::remove_file(e.path());
            }
        }
        let wb = Arc::new(WriteBack {
            sessions: cache.join("sessions"),
            dir,
            items: Mutex::new(items),
            next: AtomicU64::new(next),
            storage,
            root,
            delay,
            rt,
            uploaded,
            busy: Default::default(),
        });
        let found: Vec<u64> = lock(&wb.items).values().map(|i| i.id).collect();
        if !found.is_empty() {
            tracing::info!(
                "{} file(s) left pending by an earlier mount: uploading",
                found.len()
            );
        }
        for id in found {
            wb.schedule(id, Duration::ZERO);
        }
        Ok(wb)
    }

    /// The pending version of `path`, and its data file.
    pub fn get(&self, path: &str) -> Option<(Item, PathBuf)> {
        let item = lock(&self.items).get(path)?.clone();
        let data = self.dir.join(format!("{}.data", item.id));
        Some((item, data))
    }

    /// Sets the modification time the pending version of `path` will be uploaded with (`cp -p` and
    /// `rsync -t` set it after the close); false when none is pending.
    pub fn set_modified(&self, path: &str, t: SystemTime) -> std::io::Result<bool> {
        let mut items = lock(&self.items);
        let Some(item) = items.get_mut(path) else {
            return Ok(false);
        };
        let data = self.dir.join(format!("{}.data", item.id));
        std::fs::OpenOptions::new()
            .write(true)
            .open(data)?
            .set_modified(t)?;
        item.modified = t;
        Ok(true)
    }

    /// The pending paths directly in folder `dir`, with their versions.
    pub fn in_folder(&self, dir: &str) -> Vec<(String, Item)> {
        lock(&self.items)
            .iter()
            .filter(|(p, _)| crate::parent_of(p) == dir)
            .map(|(p, i)| (p.clone(), i.clone()))
            .collect()
    }

    /// Keeps the bytes of `file` as the newest version of `path` and schedules its upload.
    pub fn add(self: &Arc<Self>, path: &str, file: &std::fs::File) -> std::io::Result<()> {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let data = self.dir.join(format!("{id}.data"));
        {
            let mut src = file.try_clone()?;
            std::io::Seek::seek(&mut src, std::io::SeekFrom::Start(0))?;
            let mut dst = std::fs::File::create(&data)?;
            std::io::copy(&mut src, &mut dst)?;
            // The time of the last change (or the one set on the open file) is what goes up.
            dst.set_modified(file.metadata()?.modified()?)?;
            dst.sync_all()?;
        }
        self.write_journal(id, path)?;
        let meta = std::fs::metadata(&data)?;
        let old = lock(&self.items).insert(
            path.to_string(),
            Item {
                id,
                size: meta.len(),
                modified: meta.modified()?,
            },
        );
        if let Some(old) = old {
            remove_files(&self.dir, old.id);
        }
        self.schedule(id, self.delay);
        Ok(())
    }

    fn write_journal(&self, id: u64, path: &str) -> std::io::Result<()> {
        let tmp = self.dir.join(format!("{id}.path.tmp"));
        std::fs::write(&tmp, path)?;
        std::fs::File::open(&tmp)?.sync_all()?;
        std::fs::rename(&tmp, self.dir.join(format!("{id}.path")))
    }

    /// Forgets what is pending at `path` and below (the file was deleted through the mount).
    pub fn remove(&self, path: &str) -> bool {
        let below = format!("{path}/");
        let mut items = lock(&self.items);
        let gone: Vec<String> = items
            .keys()
            .filter(|p| *p == path || p.starts_with(&below))
            .cloned()
            .collect();
        for p in &gone {
            if let Some(i) = items.remove(p) {
                remove_files(&self.dir, i.id);
            }
        }
        !gone.is_empty()
    }

    /// Moves what is pending at `from` and below to `to`; whether there was any.
    pub fn rename(&self, from: &str, to: &str) -> std::io::Result<bool> {
        let below = format!("{from}/");
        let mut items = lock(&self.items);
        let moved: Vec<String> = items
            .keys()
            .filter(|p| *p == from || p.starts_with(&below))
            .cloned()
            .collect();
        for old in &moved {
            let Some(item) = items.remove(old) else {
                continue;
            };
            let new = format!("{to}{}", &old[from.len()..]);
            self.write_journal(item.id, &new)?;
            if let Some(replaced) = items.insert(new, item) {
                remove_files(&self.dir, replaced.id);
            }
        }
        Ok(!moved.is_empty())
    }

    /// Uploads version `id` after `delay` (to wherever renames have taken it), and again after a pause
    /// while it fails — unless a newer version or a delete took its place.
    fn schedule(self: &Arc<Self>, id: u64, delay: Duration) {
        let wb = self.clone();
        self.rt.spawn(async move {
            tokio::time::sleep(delay).await;
            let mut pause = Duration::from_secs(5);
            loop {
                // The path may have moved by a rename: follow the id.
                let current = lock(&wb.items)
                    .iter()
                    .find(|(_, i)| i.id == id)
                    .map(|(p, _)| p.clone());
                let Some(path) = current else { return };
                let turn = lock(&wb.busy).entry(path.clone()).or_default().clone();
                let guard = turn.lock().await;
                // A newer version, a delete or a rename may have come while waiting for the turn.
                let result = if lock(&wb.items).get(&path).is_some_and(|i| i.id == id) {
                    Some(wb.upload(&path, id).await)
                } else {
                    None
                };
                drop(guard);
                {
                    // The turn is forgotten once nobody else waits for it.
                    let mut busy = lock(&wb.busy);
                    if Arc::strong_count(&turn) <= 2 {
                        busy.remove(&path);
                    }
                }
                let Some(result) = result else { continue };
                match result {
                    Ok(entry) => {
                        let mut items = lock(&wb.items);
                        if items.get(&path).is_some_and(|i| i.id == id) {
                            items.remove(&path);
                            remove_files(&wb.dir, id);
                        }
                        drop(items);
                        (wb.uploaded)(&path, entry);
                        return;
                    }
                    Err(e) => {
                        tracing::warn!("{path}: upload failed, trying again in {pause:?}: {e}");
                        tokio::time::sleep(pause).await;
                        pause = (pause * 2).min(MAX_PAUSE);
                    }
                }
            }
        });
    }

    async fn upload(&self, path: &str, id: u64) -> Result<Entry> {
        let resume = cloudmux_vfs::ResumeScope {
            store: Arc::new(cloudmux_core::resume::DirSessions::new(&self.sessions)),
            source: format!("cloudmux-mount:{}", self.dir.display()),
        };
        crate::upload_file(
            &self.dir,
            &format!("{id}.data"),
            &self.storage,
            &crate::on_remote(&self.root, path),
            Some(resume),
        )
        .await
    }
}

fn remove_files(dir: &Path, id: u64) {
    let _ = std::fs::remove_file(dir.join(format!("{id}.path")));
    let _ = std::fs::remove_file(dir.join(format!("{id}.data")));
}
