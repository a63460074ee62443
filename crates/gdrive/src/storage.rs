//! [`GDriveStorage`]: Drive as a [`Storage`], addressed by path.
//!
//! Paths are resolved to ids one component at a time with `'PARENT' in parents and name = 'X'` queries; folder
//! ids are cached and the cache is dropped below any path that is moved or deleted. Drive allows several files
//! of one name in a folder: the oldest (then smallest id) is used, always the same one, and a warning says so.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use cloudmux_core::name::{decode, encode};
use cloudmux_core::path::{file_name, join, normalize, parent};
use cloudmux_core::{
    About, ByteRange, ByteStream, Capabilities, DeleteMode, Entry, Error, ErrorKind, Hashes,
    PageStream, Result, Resume, Storage, WriteOptions,
};

use crate::client::{DriveClient, ListQuery};
use crate::model::File;
use crate::query;
use crate::upload::{Target, UploadOptions};

/// Which folder a remote's root is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RootSpec {
    /// My Drive.
    MyDrive,
    /// A folder by id.
    Folder(String),
    /// A shared drive by id.
    SharedDrive(String),
}

/// Google Drive as a [`Storage`].
#[derive(Debug)]
pub struct GDriveStorage {
    client: DriveClient,
    root_id: String,
    drive_id: Option<String>,
    dirs: Mutex<HashMap<String, String>>,
    /// Files read lately, by path: the ranged reads of one transfer (several streams, resumed reads, a
    /// player seeking through the server) then cost one `files.list` lookup, not one each. Writes, moves,
    /// copies and deletes through this storage drop what they change; a failed download drops its file.
    files: std::sync::Arc<Mutex<HashMap<String, (File, std::time::Instant)>>>,
    /// Other folders listed at a path already in `dirs`: Drive lets a folder hold two folders of one name
    /// (a client that repeated a create whose answer was lost makes them), and a walk merges their
    /// contents under that path, as rclone does, instead of losing one.
    twins: Mutex<HashMap<String, Vec<String>>>,
}

/// Folders asked for in one `files.list` of a recursive walk (`'a' in parents or 'b' in parents …`), as
/// rclone's `--fast-list` does.
pub const LIST_BATCH: usize = 50;
/// The longest `q` a batched listing sends: Google documents no limit, but its front ends refuse URLs of
/// more than a few kilobytes, and 50 parents take about 2,500 characters.
const MAX_QUERY: usize = 4000;

/// How long a looked-up file is reused for reads.
const FILE_TTL: std::time::Duration = std::time::Duration::from_secs(60);
/// Files kept at most.
const FILES_MAX: usize = 256;

/// The safe form of a Drive name (Drive takes `/`, `..` and NUL in names; see [`cloudmux_core::name`]).
fn safe_name(f: &File) -> Option<String> {
    encode(&f.name).map(|n| n.into_owned())
}

fn to_entry(path: String, f: &File) -> Entry {
    Entry {
        id: Some(f.id.clone()),
        name: safe_name(f).unwrap_or_default(),
        path,
        size: if f.is_folder() {
            None
        } else {
            f.size.or(if f.is_google_doc() { None } else { Some(0) })
        },
        modified: f.modified_time,
        is_dir: f.is_folder(),
        mime: Some(f.mime_type.clone()),
        hashes: Hashes {
            md5: f.md5_checksum.clone(),
            sha1: f.sha1_checksum.clone(),
            sha256: f.sha256_checksum.clone(),
        },
    }
}

impl GDriveStorage {
    /// A storage rooted at `root` (My Drive when `None`). The root's id is looked up once.
    pub async fn new(client: DriveClient, root: Option<RootSpec>) -> Result<Self> {
        let (root_id, drive_id) = match root.unwrap_or(RootSpec::MyDrive) {
            RootSpec::MyDrive => (client.get("root").await?.id, None),
            RootSpec::Folder(id) => {
                let f = client.get(&id).await?;
                if !f.is_folder() {
                    return Err(Error::invalid(format!("root {id} is not a folder")));
                }
                (f.id, f.drive_id)
            }
            RootSpec::SharedDrive(id) => (id.clone(), Some(id)),
        };
        Ok(GDriveStorage {
            client,
            root_id,
            drive_id,
            dirs: Mutex::new(HashMap::new()),
            files: Default::default(),
            twins: Default::default(),
        })
    }

    /// The client.
    pub fn client(&self) -> &DriveClient {
        &self.client
    }

    /// The root folder's id.
    pub fn root_id(&self) -> &str {
        &self.root_id
    }

    fn list_query(&self, q: String) -> ListQuery {
        ListQuery {
            q: Some(q),
            drive_id: self.drive_id.clone(),
            ..Default::default()
        }
    }

    /// The child of folder `parent` named `name` (a safe name, decoded here), if any (oldest when there
    /// are several).
    pub async fn child(&self, parent_id: &str, name: &str) -> Result<Option<File>> {
        let name = &*decode(name);
        let mut q = self.list_query(query::child_named(parent_id, name));
        q.order_by = Some("createdTime".into());
        q.page_size = Some(10);
        let page = self.client.list_page(&q, None).await?;
        let mut hits: Vec<File> = page.files.into_iter().filter(|f| f.name == name).collect();
        if hits.len() > 1 {
            hits.sort_by(|a, b| a.created_time.cmp(&b.created_time).then(a.id.cmp(&b.id)));
            tracing::warn!(
                "{} entries named {name:?} in one folder; using the oldest ({}); address others as REMOTE:id:ID",
                hits.len(),
                hits[0].id
            );
        }
        Ok(hits.into_iter().next())
    }

    /// The entry of `f`, listed in folder `dir` under its safe `name`; a folder's id is remembered, so
    /// that listing it next needs no lookup.
    fn listed(&self, dir: &str, name: &str, f: &File) -> Entry {
        let p = join(dir, name);
        if f.is_folder() {
            let first = self
                .dirs
                .lock()
                .unwrap()
                .entry(p.clone())
                .or_insert_with(|| f.id.clone())
                .clone();
            if first != f.id {
                let mut twins = self.twins.lock().unwrap();
                let t = twins.entry(p.clone()).or_default();
                if !t.contains(&f.id) {
                    t.push(f.id.clone());
                }
            }
        }
        to_entry(p, f)
    }

    /// The id of the folder at `path`, walking down from the deepest cached ancestor.
    async fn dir_id(&self, path: &str) -> Result<String> {
        if path.is_empty() {
            return Ok(self.root_id.clone());
        }
        let comps: Vec<&str> = path.split('/').collect();
        let (mut depth, mut id) = (0, self.root_id.clone());
        {
            let cache = self.dirs.lock().unwrap();
            for i in (1..=comps.len()).rev() {
                if let Some(x) = cache.get(&comps[..i].join("/")) {
                    (depth, id) = (i, x.clone());
                    break;
                }
            }
        }
        for i in depth..comps.len() {
            let here = comps[..=i].join("/");
            let f = self
                .child(&id, comps[i])
                .await?
                .ok_or_else(|| Error::not_found(&here))?;
            if !f.is_folder() {
                return Err(Error::new(
                    ErrorKind::Conflict,
                    format!("{here}: not a folder"),
                ));
            }
            self.dirs.lock().unwrap().insert(here, f.id.clone());
            id = f.id;
        }
        Ok(id)
    }

    /// The file or folder at `path`.
    pub async fn resolve(&self, path: &str) -> Result<File> {
        let path = normalize(path)?;
        if path.is_empty() {
            return self.client.get(&self.root_id).await;
        }
        let parent_id = match self.dir_id(parent(&path)).await {
            Ok(id) => id,
            Err(e) if e.kind() == ErrorKind::Conflict => return Err(Error::not_found(&path)),
            Err(e) => return Err(e),
        };
        let f = self
            .child(&parent_id, file_name(&path))
            .await?
            .ok_or_else(|| Error::not_found(&path))?;
        if f.is_folder() {
            self.dirs.lock().unwrap().insert(path.clone(), f.id.clone());
        }
        Ok(f)
    }

    fn forget(&self, path: &str) {
        let prefix = format!("{path}/");
        self.dirs
            .lock()
            .unwrap()
            .retain(|k, _| k != path && !k.starts_with(&prefix));
        self.twins
            .lock()
            .unwrap()
            .retain(|k, _| k != path && !k.starts_with(&prefix));
        self.files
            .lock()
            .unwrap()
            .retain(|k, _| k != path && !k.starts_with(&prefix));
    }

    /// Forgets the looked-up file at `path` (it is about to change).
    fn forget_file(&self, path: &str) {
        self.files.lock().unwrap().remove(path);
    }

    /// The file at `path` for a read: a recent lookup, or one made now.
    async fn file_for_read(&self, path: &str) -> Result<File> {
        let norm = normalize(path)?;
        if let Some((f, at)) = self.files.lock().unwrap().get(&norm)
            && at.elapsed() < FILE_TTL
        {
            return Ok(f.clone());
        }
        let f = self.resolve(&norm).await?;
        if !f.is_folder() {
            let mut files = self.files.lock().unwrap();
            files.retain(|_, (_, at)| at.elapsed() < FILE_TTL);
            if files.len() >= FILES_MAX {
                files.clear();
            }
            files.insert(norm, (f.clone(), std::time::Instant::now()));
        }
        Ok(f)
    }

    fn read_file(&self, f: &File, range: ByteRange) -> Result<ByteStream> {
        self.read_file_at(f, range, None)
    }

    /// Reads `f`; a failed download forgets `path` from the read cache, so the next read looks it up again.
    fn read_file_at(&self, f: &File, range: ByteRange, path: Option<String>) -> Result<ByteStream> {
        if f.is_folder() {
            return Err(Error::new(
                ErrorKind::Conflict,
                format!("{}: is a folder", f.name),
            ));
        }
        if f.is_google_doc() {
            return Err(Error::unsupported(
                format!("{} is a Google Docs file with no stored bytes", f.name),
                format!(
                    "export it: cloudmux gdrive export <remote>:id:{} --mime application/pdf",
                    f.id
                ),
            ));
        }
        let size = f.size.unwrap_or(0);
        let (start, end) = range.clamp(size);
        if start >= end {
            return Ok(Box::pin(futures_util::stream::empty()));
        }
        let client = self.client.clone();
        let id = f.id.clone();
        let files = self.files.clone();
        Ok(cloudmux_http::resuming_stream(
            move |off| {
                let (client, id, files, path) =
                    (client.clone(), id.clone(), files.clone(), path.clone());
                async move {
                    let r = client
                        .download(&id, ByteRange::new(off, Some(end - off)))
                        .await;
                    if let (Err(_), Some(p)) = (&r, path) {
                        files.lock().unwrap().remove(&p);
                    }
                    r
                }
            },
            start,
            Some(end),
            10,
        ))
    }
}

#[async_trait]
impl Storage for GDriveStorage {
    fn kind(&self) -> &'static str {
        "gdrive"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            trash: true,
            public_link: true,
            hashes: true,
            duplicate_names: true,
            ids: true,
            ..Capabilities::default()
        }
    }

    fn list<'a>(&'a self, path: &'a str) -> PageStream<'a> {
        let start = async move {
            let norm = normalize(path)?;
            let id = self.dir_id(&norm).await?;
            Ok((norm, id, None::<String>))
        };
        cloudmux_core::paged(start, move |(norm, id, token)| async move {
            let q = ListQuery {
                fields: Some(crate::client::LIST_FIELDS.to_string()),
                ..self.list_query(query::children_of(&id))
            };
            let page = self.client.list_page(&q, token.as_deref()).await?;
            let entries: Vec<Entry> = page
                .files
                .iter()
                .filter_map(|f| {
                    let Some(name) = safe_name(f) else {
                        tracing::warn!(
                            "{norm}: skipping {}, whose name is empty (address it as REMOTE:id:{})",
                            f.id,
                            f.id
                        );
                        return None;
                    };
                    Some(self.listed(&norm, &name, f))
                })
                .collect();
            let next = page.next_page_token.map(|t| (norm, id, Some(t)));
            Ok((entries, next))
        })
    }

    fn list_batch(&self) -> usize {
        LIST_BATCH
    }

    async fn list_many(&self, paths: &[String]) -> Result<Vec<Vec<Entry>>> {
        // Each folder asked for, with its index among the paths: a path's twins are folders of their own
        // whose children go to the same path.
        let mut norms: Vec<(usize, String, String)> = Vec::with_capacity(paths.len());
        for (i, p) in paths.iter().enumerate() {
            let norm = normalize(p)?;
            let id = self.dir_id(&norm).await?;
            let twins = self.twins.lock().unwrap().get(&norm).cloned();
            for id in std::iter::once(id).chain(twins.into_iter().flatten()) {
                norms.push((i, norm.clone(), id));
            }
        }
        let mut out: Vec<Vec<Entry>> = vec![Vec::new(); paths.len()];
        let mut start = 0;
        while start < norms.len() {
            // Up to LIST_BATCH parents per query, and no longer than MAX_QUERY characters.
            let mut q = String::from("(");
            let mut end = start;
            while end < norms.len() && end - start < LIST_BATCH {
                let term = format!("{} in parents", query::quote(&norms[end].2));
                if end > start && q.len() + term.len() + 40 > MAX_QUERY {
                    break;
                }
                if end > start {
                    q.push_str(" or ");
                }
                q.push_str(&term);
                end += 1;
            }
            q.push_str(") and trashed = false");
            let group = &norms[start..end];
            let mut token: Option<String> = None;
            loop {
                let lq = ListQuery {
                    fields: Some(format!("{},parents", crate::client::LIST_FIELDS)),
                    ..self.list_query(q.clone())
                };
                let page = self.client.list_page(&lq, token.as_deref()).await?;
                for f in &page.files {
                    let Some(name) = safe_name(f) else {
                        tracing::warn!(
                            "skipping {}, whose name is empty (address it as REMOTE:id:{})",
                            f.id,
                            f.id
                        );
                        continue;
                    };
                    // A file in two of the folders (Drive once allowed several parents) is in both.
                    for (i, norm, id) in group {
                        if !f.parents.iter().any(|p| p == id) {
                            continue;
                        }
                        out[*i].push(self.listed(norm, &name, f));
                    }
                }
                match page.next_page_token {
                    Some(t) => token = Some(t),
                    None => break,
                }
            }
            start = end;
        }
        Ok(out)
    }

    async fn stat(&self, path: &str) -> Result<Entry> {
        let norm = normalize(path)?;
        let f = self.resolve(&norm).await?;
        let mut e = to_entry(norm.clone(), &f);
        if norm.is_empty() {
            e.name = String::new();
        }
        Ok(e)
    }

    async fn read(&self, path: &str, range: ByteRange) -> Result<ByteStream> {
        let f = self.file_for_read(path).await?;
        self.read_file_at(&f, range, Some(normalize(path)?))
    }

    async fn write(&self, path: &str, data: ByteStream, opts: WriteOptions) -> Result<Entry> {
        let norm = normalize(path)?;
        if norm.is_empty() {
            return Err(Error::invalid("cannot write to the root folder itself"));
        }
        // Past the daily upload limit, not even the lookups go out.
        self.client.upload_gate()?;
        self.forget_file(&norm);
        let uo = UploadOptions {
            modified: opts.modified,
            mime: opts.mime.clone(),
        };
        if let (Some(r), Some(size)) = (&opts.resume, opts.size)
            && size > self.client.config().multipart_max
        {
            return self
                .write_resumable(&norm, data, size, &uo, r, opts.new_file)
                .await;
        }
        let target = self.target_for(&norm, opts.new_file).await?;
        let f = self
            .client
            .upload(target, data, opts.size, &uo)
            .await
            .map_err(|e| e.context(&norm))?;
        Ok(to_entry(norm, &f))
    }

    async fn mkdir(&self, path: &str) -> Result<Entry> {
        let norm = normalize(path)?;
        let mut cur = String::new();
        let mut cur_id = self.root_id.clone();
        let mut last: Option<File> = None;
        for comp in norm.split('/').filter(|c| !c.is_empty()) {
            let next = join(&cur, comp);
            let cached = self.dirs.lock().unwrap().get(&next).cloned();
            let f = match cached {
                Some(id) => {
                    cur = next;
                    cur_id = id;
                    last = None;
                    continue;
                }
                None => match self.child(&cur_id, comp).await? {
                    Some(f) if f.is_folder() => f,
                    Some(_) => {
                        return Err(Error::new(
                            ErrorKind::AlreadyExists,
                            format!("{next}: a file exists with that name"),
                        ));
                    }
                    None => self.client.create_folder(&cur_id, &decode(comp)).await?,
                },
            };
            self.dirs.lock().unwrap().insert(next.clone(), f.id.clone());
            cur = next;
            cur_id = f.id.clone();
            last = Some(f);
        }
        match last {
            Some(f) => Ok(to_entry(norm, &f)),
            None => self.stat(&norm).await,
        }
    }

    async fn copy(&self, from: &str, to: &str) -> Result<Entry> {
        self.client.upload_gate()?;
        let src = self.resolve(from).await?;
        if src.is_folder() {
            return Err(Error::invalid(format!(
                "{from}: server-side copy takes files; copy folders with cp -r"
            )));
        }
        let to = normalize(to)?;
        let parent_id = self.dir_id(parent(&to)).await?;
        let name = file_name(&to);
        let old = self.child(&parent_id, name).await?;
        if old.as_ref().is_some_and(|o| o.is_folder()) {
            return Err(Error::new(
                ErrorKind::AlreadyExists,
                format!("{to}: a folder exists with that name"),
            ));
        }
        self.forget_file(&to);
        let f = self.client.copy(&src.id, &parent_id, &decode(name)).await?;
        if let Some(o) = old.filter(|o| o.id != src.id) {
            self.client.delete(&o.id).await?;
        }
        Ok(to_entry(to, &f))
    }

    async fn rename(&self, from: &str, to: &str) -> Result<Entry> {
        let from = normalize(from)?;
        let to = normalize(to)?;
        let src = self.resolve(&from).await?;
        if src.id == self.root_id {
            return Err(Error::invalid("cannot move the root folder"));
        }
        let parent_id = self
            .dir_id(parent(&to))
            .await
            .map_err(|e| e.with_hint("create the destination folder first"))?;
        if self.child(&parent_id, file_name(&to)).await?.is_some() {
            return Err(
                Error::new(ErrorKind::AlreadyExists, format!("{to}: already exists"))
                    .with_hint("remove it first or choose another name"),
            );
        }
        let to_name = decode(file_name(&to));
        let new_name = (*to_name != src.name).then_some(&*to_name);
        let f = if src.parents.contains(&parent_id) {
            match new_name {
                Some(n) => self.client.rename(&src.id, n).await?,
                None => src.clone(),
            }
        } else {
            self.client.move_to(&src.id, &parent_id, new_name).await?
        };
        self.forget(&from);
        self.forget(&to);
        Ok(to_entry(to, &f))
    }

    async fn delete(&self, path: &str, mode: DeleteMode) -> Result<()> {
        let norm = normalize(path)?;
        if norm.is_empty() {
            return Err(Error::invalid(
                "refusing to delete the remote's root folder",
            ));
        }
        let f = self.resolve(&norm).await?;
        match mode {
            DeleteMode::Trash => {
                self.client.trash(&f.id).await?;
            }
            DeleteMode::Permanent => self.client.delete(&f.id).await?,
        }
        self.forget(&norm);
        Ok(())
    }

    async fn public_link(&self, path: &str) -> Result<String> {
        let f = self.resolve(path).await?;
        self.client.share_link(&f.id).await
    }

    async fn stat_id(&self, id: &str) -> Result<Entry> {
        let f = self.client.get(id).await?;
        Ok(to_entry(safe_name(&f).unwrap_or_default(), &f))
    }

    async fn export(&self, path: &str, mime: &str) -> Result<ByteStream> {
        let f = self.resolve(path).await?;
        if !f.is_google_doc() {
            return Err(Error::invalid(format!(
                "{path}: not a Google Docs file, it has its own bytes"
            ))
            .with_hint("read it as it is"));
        }
        self.client.export(&f.id, mime).await
    }

    async fn read_id(&self, id: &str, range: ByteRange) -> Result<ByteStream> {
        let f = self.client.get(id).await?;
        self.read_file(&f, range)
    }

    async fn delete_id(&self, id: &str, mode: DeleteMode) -> Result<()> {
        match mode {
            DeleteMode::Trash => self.client.trash(id).await.map(|_| ()),
            DeleteMode::Permanent => self.client.delete(id).await,
        }
    }

    async fn public_link_id(&self, id: &str) -> Result<String> {
        self.client.share_link(id).await
    }

    async fn about(&self) -> Result<About> {
        let a = self.client.about().await?;
        let q = a.storage_quota;
        Ok(About {
            user: a.user.email_address,
            total: q.limit,
            used: q.usage,
            trashed: q.usage_in_drive_trash,
            free: q.limit.zip(q.usage).map(|(l, u)| l.saturating_sub(u)),
        })
    }

    async fn change_cursor(&self) -> Result<Option<String>> {
        self.client.changes_start().await.map(Some)
    }

    /// One `changes.list` page; what it names is dropped from this storage's own lookups too (a folder
    /// renamed elsewhere must not be found at its old path).
    async fn changes_since(&self, cursor: &str) -> Result<cloudmux_core::Changes> {
        let page = self.client.changes(cursor).await?;
        let mut out = Vec::with_capacity(page.changes.len());
        for c in page.changes {
            let Some(id) = c.file_id.or_else(|| c.file.as_ref().map(|f| f.id.clone())) else {
                continue;
            };
            let stale: Vec<String> = self
                .dirs
                .lock()
                .unwrap()
                .iter()
                .filter(|(_, v)| **v == id)
                .map(|(k, _)| k.clone())
                .collect();
            for p in stale {
                self.forget(&p);
            }
            self.files.lock().unwrap().retain(|_, (f, _)| f.id != id);
            let (removed, parents) = match c.file {
                Some(f) => (c.removed || f.trashed, f.parents),
                None => (true, Vec::new()),
            };
            out.push(cloudmux_core::Change {
                id,
                parents,
                removed,
            });
        }
        let more = page.next_page_token.is_some();
        let cursor = page
            .next_page_token
            .or(page.new_start_page_token)
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::Other,
                    "Drive answered a changes page without a next or new start page token",
                )
            })?;
        Ok(cloudmux_core::Changes {
            changes: out,
            cursor,
            more,
        })
    }
}

/// A saved resumable session.
#[derive(serde::Serialize, serde::Deserialize)]
struct SavedSession {
    uri: String,
    size: u64,
    path: String,
}

/// Feeds the first `n` bytes of `data` to `md5` and returns the rest of the stream.
async fn hash_prefix(mut data: ByteStream, n: u64, md5: &mut md5::Md5) -> Result<ByteStream> {
    use futures_util::StreamExt;
    use md5::Digest;
    let mut seen = 0u64;
    let mut rest = None;
    while seen < n {
        let Some(c) = data.next().await else {
            return Err(Error::new(
                ErrorKind::Corrupt,
                format!("the source ended at byte {seen}, before the {n} bytes already uploaded"),
            )
            .with_hint("the source changed since the interrupted upload; upload it again"));
        };
        let c = c?;
        let take = (n - seen).min(c.len() as u64) as usize;
        md5.update(&c[..take]);
        seen += take as u64;
        if take < c.len() {
            rest = Some(c.slice(take..));
        }
    }
    Ok(Box::pin(
        futures_util::stream::iter(rest.map(Ok)).chain(data),
    ))
}

impl GDriveStorage {
    /// Where `norm` goes: the existing file of that name (updated in place) or a new one. With `new_file`
    /// the caller knows there is none: no request is spent looking (the folder's id is cached by the
    /// listing or the mkdir that came before).
    async fn target_for(&self, norm: &str, new_file: bool) -> Result<Target> {
        let parent_id = self.dir_id(parent(norm)).await.map_err(|e| {
            if e.kind() == ErrorKind::NotFound {
                e.with_hint("create the folder first (mkdir)")
            } else {
                e
            }
        })?;
        let name = file_name(norm);
        if new_file {
            return Ok(Target::New {
                parent: parent_id,
                name: decode(name).into_owned(),
            });
        }
        match self.child(&parent_id, name).await? {
            Some(f) if f.is_folder() => Err(Error::new(
                ErrorKind::AlreadyExists,
                format!("{norm}: a folder exists with that name"),
            )),
            Some(f) => Ok(Target::Existing(f.id)),
            None => Ok(Target::New {
                parent: parent_id,
                name: decode(name).into_owned(),
            }),
        }
    }

    /// A resumable upload whose session is kept in `r.store` until it completes, so a write of the same
    /// source after an interruption (another process, even) continues where Drive says it stands. The
    /// bytes already stored are read again from `data` only to be hashed: the MD5 Drive reports is
    /// checked against the whole source either way.
    async fn write_resumable(
        &self,
        norm: &str,
        data: ByteStream,
        size: u64,
        uo: &UploadOptions,
        r: &Resume,
        new_file: bool,
    ) -> Result<Entry> {
        use crate::upload::{ResumableUpload, SessionStatus};
        use md5::Digest;
        let key = hex::encode(sha2::Sha256::digest(format!(
            "gdrive|{}|{norm}|{size}|{}",
            self.root_id, r.key
        )));
        let mut md5 = md5::Md5::new();
        let saved = r
            .store
            .load(&key)
            .and_then(|raw| serde_json::from_str::<SavedSession>(&raw).ok())
            .filter(|s| s.size == size);
        if let Some(saved) = saved {
            let up = ResumableUpload::resume(&self.client, saved.uri, Some(size));
            match up.status().await {
                Ok(SessionStatus::Done(f)) => {
                    let rest = hash_prefix(data, size, &mut md5).await?;
                    drop(rest);
                    r.store.remove(&key);
                    crate::upload::check_md5(&f, &hex::encode(md5.finalize()))?;
                    return Ok(to_entry(norm.to_string(), &f));
                }
                Ok(SessionStatus::Committed(n)) => {
                    tracing::info!("{norm}: resuming the interrupted upload at byte {n} of {size}");
                    let rest = hash_prefix(data, n, &mut md5).await?;
                    let f = up
                        .send(rest, n, Some(&mut md5))
                        .await
                        .map_err(|e| e.context(norm))?;
                    r.store.remove(&key);
                    crate::upload::check_md5(&f, &hex::encode(md5.finalize()))
                        .map_err(|e| e.with_hint("delete the remote file and upload it again"))?;
                    return Ok(to_entry(norm.to_string(), &f));
                }
                Err(e) => {
                    tracing::warn!(
                        "{norm}: the saved upload session is unusable ({e}); starting over"
                    );
                    r.store.remove(&key);
                }
            }
        }
        let target = self.target_for(norm, new_file).await?;
        self.client.upload_gate()?;
        let up = ResumableUpload::start(&self.client, &target, Some(size), uo)
            .await
            .map_err(|e| self.client.upload_failed(e))?;
        let saved = SavedSession {
            uri: up.uri.clone(),
            size,
            path: norm.to_string(),
        };
        r.store.save(
            &key,
            &serde_json::to_string(&saved).map_err(|e| Error::invalid(e.to_string()))?,
        )?;
        let f = up
            .send(data, 0, Some(&mut md5))
            .await
            .map_err(|e| e.context(norm))?;
        r.store.remove(&key);
        crate::upload::check_md5(&f, &hex::encode(md5.finalize()))?;
        Ok(to_entry(norm.to_string(), &f))
    }
}
