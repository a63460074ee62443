//! WebDAV at `/dav`: the mount tree through `dav-server`, as the user signed in with HTTP Basic sees it.
//!
//! Every path goes through [`crate::house::tree::clean`] and is put under the user's base folder, exactly as in
//! the JSON API. Reads are ranged streams from the remote (a seek starts a new ranged read); a PUT streams
//! the request body into the remote through a small channel, so memory stays a few chunks whatever the
//! size. `PROPFIND` with `Depth: infinity` is refused (403 `propfind-finite-depth`), whoever asks.

pub mod locks;
mod paths;

pub use paths::PREFIX;
use paths::tree_path;

use std::io::SeekFrom;
use std::sync::Arc;
use std::time::SystemTime;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::{Buf, Bytes};
use cloudmux_core::{ByteRange, ByteStream, DeleteMode, Entry, Error, ErrorKind, WriteOptions};
use dav_server::davpath::DavPath;
use dav_server::fs::{
    DavDirEntry, DavFile, DavMetaData, DavProp, FsError, FsFuture, FsResult, FsStream,
    GuardedFileSystem, OpenOptions, ReadDirMeta,
};
use futures_util::{FutureExt, StreamExt};

use crate::AppState;
use crate::house::db::{Db, PropRow};
use crate::house::tree::{Tree, parent_of};
use crate::house::users::User;

/// The largest dead property kept, in bytes of XML (a larger one answers 507).
pub const MAX_PROP_XML: usize = 8 * 1024;
/// Dead properties kept per resource.
pub const MAX_PROPS: usize = 64;

fn fs_err(e: Error) -> FsError {
    match e.kind() {
        ErrorKind::NotFound => FsError::NotFound,
        ErrorKind::AlreadyExists => FsError::Exists,
        ErrorKind::PermissionDenied | ErrorKind::InvalidInput => FsError::Forbidden,
        ErrorKind::Unsupported => FsError::NotImplemented,
        ErrorKind::QuotaExceeded | ErrorKind::UploadLimit => FsError::InsufficientStorage,
        _ => {
            tracing::warn!("webdav: {e}");
            FsError::GeneralFailure
        }
    }
}

fn writable(path: &DavPath, user: &User) -> FsResult<String> {
    if !user.can_write {
        return Err(FsError::Forbidden);
    }
    let p = tree_path(path, user)?;
    if p == user.base_path {
        return Err(FsError::Forbidden);
    }
    Ok(p)
}

#[derive(Debug, Clone)]
struct Meta {
    len: u64,
    modified: Option<SystemTime>,
    dir: bool,
    etag: Option<String>,
}

impl Meta {
    fn of(e: &Entry) -> Self {
        Meta {
            len: e.size.unwrap_or(0),
            modified: e.modified.map(Into::into),
            dir: e.is_dir,
            etag: e
                .hashes
                .md5
                .clone()
                .or_else(|| e.hashes.sha256.clone())
                .filter(|_| !e.is_dir),
        }
    }
}

impl DavMetaData for Meta {
    fn len(&self) -> u64 {
        self.len
    }
    fn modified(&self) -> FsResult<SystemTime> {
        self.modified.ok_or(FsError::NotImplemented)
    }
    fn is_dir(&self) -> bool {
        self.dir
    }
    fn etag(&self) -> Option<String> {
        match (&self.etag, self.modified) {
            (Some(h), _) => Some(h.clone()),
            (None, Some(m)) => {
                let ms = m
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .map(|d| d.as_millis())
                    .unwrap_or(0);
                Some(format!("{:x}-{ms:x}", self.len))
            }
            (None, None) => None,
        }
    }
}

struct DirEntry(Entry);

impl DavDirEntry for DirEntry {
    fn name(&self) -> Vec<u8> {
        self.0.name.as_bytes().to_vec()
    }
    fn metadata(&self) -> FsFuture<'_, Box<dyn DavMetaData>> {
        let m: Box<dyn DavMetaData> = Box::new(Meta::of(&self.0));
        futures_util::future::ready(Ok(m)).boxed()
    }
}

/// An open file: reading (ranged streams, re-opened on seek) or writing (a channel into a running upload).
struct File {
    tree: Arc<Tree>,
    path: String,
    meta: Meta,
    pos: u64,
    reader: Option<(sync_wrapper::SyncWrapper<ByteStream>, Bytes)>,
    writer: Option<Writer>,
}

struct Writer {
    tx: tokio::sync::mpsc::Sender<cloudmux_core::Result<Bytes>>,
    done: tokio::task::JoinHandle<cloudmux_core::Result<Entry>>,
}

impl std::fmt::Debug for File {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("File")
            .field("path", &self.path)
            .field("pos", &self.pos)
            .finish()
    }
}

impl File {
    async fn send(&mut self, b: Bytes) -> FsResult<()> {
        let w = self.writer.as_ref().ok_or(FsError::Forbidden)?;
        let n = b.len() as u64;
        if w.tx.send(Ok(b)).await.is_err() {
            // The upload ended early: its error is the answer.
            return Err(self.finish().await.err().unwrap_or(FsError::GeneralFailure));
        }
        self.pos += n;
        Ok(())
    }

    async fn finish(&mut self) -> FsResult<()> {
        let Some(w) = self.writer.take() else {
            return Ok(());
        };
        drop(w.tx);
        match w.done.await {
            Ok(Ok(e)) => {
                self.meta = Meta::of(&e);
                Ok(())
            }
            Ok(Err(e)) => Err(fs_err(e)),
            Err(_) => Err(FsError::GeneralFailure),
        }
    }
}

impl Drop for File {
    fn drop(&mut self) {
        // A writer dropped without flush (the client went away): abort the upload rather than store a
        // truncated file.
        if let Some(w) = self.writer.take() {
            let _ = w.tx.try_send(Err(Error::new(
                ErrorKind::Transient,
                "the upload was interrupted",
            )));
            w.done.abort();
        }
    }
}

impl DavFile for File {
    fn metadata(&mut self) -> FsFuture<'_, Box<dyn DavMetaData>> {
        let m: Box<dyn DavMetaData> = Box::new(self.meta.clone());
        futures_util::future::ready(Ok(m)).boxed()
    }

    fn write_buf(&mut self, mut buf: Box<dyn Buf + Send>) -> FsFuture<'_, ()> {
        async move {
            let b = buf.copy_to_bytes(buf.remaining());
            self.send(b).await
        }
        .boxed()
    }

    fn write_bytes(&mut self, buf: Bytes) -> FsFuture<'_, ()> {
        self.send(buf).boxed()
    }

    fn read_bytes(&mut self, count: usize) -> FsFuture<'_, Bytes> {
        async move {
            if self.writer.is_some() {
                return Err(FsError::Forbidden);
            }
            loop {
                if self.reader.is_none() {
                    if self.pos >= self.meta.len {
                        return Ok(Bytes::new());
                    }
                    let s = self
                        .tree
                        .read(&self.path, ByteRange::new(self.pos, None))
                        .await
                        .map_err(fs_err)?;
                    self.reader = Some((sync_wrapper::SyncWrapper::new(s), Bytes::new()));
                }
                let (s, pending) = self.reader.as_mut().expect("opened above");
                if !pending.is_empty() {
                    let n = count.min(pending.len());
                    let out = pending.split_to(n);
                    self.pos += n as u64;
                    return Ok(out);
                }
                match s.get_mut().next().await {
                    Some(Ok(b)) => *pending = b,
                    Some(Err(e)) => return Err(fs_err(e)),
                    None => {
                        self.reader = None;
                        return Ok(Bytes::new());
                    }
                }
            }
        }
        .boxed()
    }

    fn seek(&mut self, pos: SeekFrom) -> FsFuture<'_, u64> {
        async move {
            if self.writer.is_some() {
                // Uploads are sent in order; only "stay where you are" is possible.
                return match pos {
                    SeekFrom::Current(0) => Ok(self.pos),
                    SeekFrom::Start(p) if p == self.pos => Ok(self.pos),
                    _ => Err(FsError::NotImplemented),
                };
            }
            let to = match pos {
                SeekFrom::Start(p) => p as i128,
                SeekFrom::End(d) => self.meta.len as i128 + d as i128,
                SeekFrom::Current(d) => self.pos as i128 + d as i128,
            };
            if to < 0 {
                return Err(FsError::GeneralFailure);
            }
            let to = to as u64;
            if to != self.pos {
                self.reader = None;
                self.pos = to;
            }
            Ok(to)
        }
        .boxed()
    }

    fn flush(&mut self) -> FsFuture<'_, ()> {
        self.finish().boxed()
    }
}

/// The mount tree as a WebDAV file system, per signed-in user; dead properties live in the database,
/// keyed by tree path, and follow moves, copies and deletes.
#[derive(Clone)]
pub struct CloudFs {
    tree: Arc<Tree>,
    db: Db,
    /// The dead properties of the children of the folder this request listed, read in one query so that a
    /// `PROPFIND` of a folder costs one database round trip rather than one per entry. Each request gets a
    /// fresh, empty one ([`CloudFs::for_request`]): nothing outlives the request, so another instance's
    /// changes are never hidden.
    listed: Arc<std::sync::Mutex<Option<ListedProps>>>,
    /// What this request's `PROPFIND` asked for.
    mode: PropMode,
    /// This request only reads a file (GET, HEAD).
    reading: bool,
    /// The dead properties already answered by name for a path in this request (dav-server reads each
    /// named one, then adds all of the resource's dead properties to the answer).
    served: Arc<std::sync::Mutex<Served>>,
}

/// A tree path and the (namespace, name) of the dead properties answered by name for it.
type Served = (String, Vec<(String, String)>);

/// The most dead-property XML a `PROPFIND` of a folder reads at once for its entries (beyond it, each
/// entry's are read as it is written).
pub const LISTED_PROPS_BYTES: usize = 4 * 1024 * 1024;

/// The size of the pieces a GET's body is sent in.
pub const READ_BUF: usize = 256 * 1024;

/// The largest `PROPFIND` body read, in bytes (a larger one answers 413).
pub const MAX_PROPFIND_BODY: usize = 64 * 1024;

/// Which properties a `PROPFIND` asks for. dav-server adds every dead property of a resource to its
/// answer whatever was asked; knowing the question, [`CloudFs`] hands it values for `allprop`, names only
/// for `propname`, and for a request naming properties those it named once (not twice, as dav-server
/// alone would). dav-server reports no 404 for a named property that is missing, and a response with no
/// property at all confuses clients (neon: "No responses returned"), so the resource's other dead
/// properties still come along then.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PropMode {
    /// `allprop` (or an empty body): every property with its value.
    All,
    /// `propname`: every property's name.
    Names,
    /// `prop`: the properties named in the request.
    Named,
}

impl PropMode {
    /// What the `PROPFIND` body `xml` asks for.
    pub fn of(xml: &[u8]) -> Self {
        let text = String::from_utf8_lossy(xml);
        let element = |local: &str| {
            text.match_indices(local).any(|(i, _)| {
                let before = text[..i].chars().next_back();
                let after = text[i + local.len()..].chars().next();
                matches!(before, Some('<' | ':'))
                    && matches!(after, Some('/' | '>' | ' ' | '\t' | '\r' | '\n'))
            })
        };
        if text.trim().is_empty() || element("allprop") {
            PropMode::All
        } else if element("propname") {
            PropMode::Names
        } else {
            PropMode::Named
        }
    }
}

/// The dead properties of a folder's children, by tree path.
struct ListedProps {
    folder: String,
    props: std::collections::HashMap<String, Vec<PropRow>>,
}

impl CloudFs {
    /// Over `tree`, properties in `db`.
    pub fn new(tree: Arc<Tree>, db: Db) -> Self {
        CloudFs {
            tree,
            db,
            listed: Default::default(),
            mode: PropMode::All,
            reading: false,
            served: Default::default(),
        }
    }

    /// A copy for one request asking for `mode` (and only reading, when `reading`), with its own (empty)
    /// memory of listed properties.
    fn for_request(&self, mode: PropMode, reading: bool) -> Self {
        CloudFs {
            mode,
            reading,
            ..CloudFs::new(self.tree.clone(), self.db.clone())
        }
    }

    /// The dead properties of `path`: from the listing's read when `path` is a child of the folder this
    /// request listed, else from the database.
    async fn props_of(&self, path: &str) -> FsResult<Vec<PropRow>> {
        {
            let listed = self.listed.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(l) = listed.as_ref().filter(|l| parent_of(path) == l.folder) {
                return Ok(l.props.get(path).cloned().unwrap_or_default());
            }
        }
        self.db.props(path).await.map_err(fs_err)
    }
}

fn prop_row(path: &str, p: &DavProp) -> PropRow {
    PropRow {
        path: path.to_string(),
        ns: p.namespace.clone().unwrap_or_default(),
        name: p.name.clone(),
        prefix: p.prefix.clone().unwrap_or_default(),
        xml: p
            .xml
            .as_ref()
            .map(|x| String::from_utf8_lossy(x).into_owned())
            .unwrap_or_default(),
    }
}

fn dav_prop(r: PropRow, content: bool) -> DavProp {
    DavProp {
        name: r.name,
        prefix: (!r.prefix.is_empty()).then_some(r.prefix),
        namespace: (!r.ns.is_empty()).then_some(r.ns),
        xml: content.then(|| r.xml.into_bytes()),
    }
}

impl GuardedFileSystem<User> for CloudFs {
    fn open<'a>(
        &'a self,
        path: &'a DavPath,
        options: OpenOptions,
        user: &'a User,
    ) -> FsFuture<'a, Box<dyn DavFile>> {
        async move {
            if options.write || options.append || options.create || options.create_new {
                if options.append {
                    return Err(FsError::NotImplemented);
                }
                let p = writable(path, user)?;
                let existing = self.tree.stat(&p).await;
                match &existing {
                    Ok(e) if e.is_dir => return Err(FsError::Forbidden),
                    Ok(_) if options.create_new => return Err(FsError::Exists),
                    Err(e) if e.kind() == ErrorKind::NotFound && !options.create => {
                        return Err(FsError::NotFound);
                    }
                    _ => {}
                }
                // The parent must exist (RFC 4918: 409 otherwise).
                match self.tree.stat(parent_of(&p)).await {
                    Ok(d) if d.is_dir => {}
                    _ => return Err(FsError::NotFound),
                }
                let (tx, rx) = tokio::sync::mpsc::channel::<cloudmux_core::Result<Bytes>>(4);
                let data: ByteStream = Box::pin(futures_util::stream::unfold(rx, |mut rx| async {
                    rx.recv().await.map(|item| (item, rx))
                }));
                let tree = self.tree.clone();
                let target = p.clone();
                let size = options.size;
                let done = tokio::spawn(async move {
                    tree.write(
                        &target,
                        data,
                        WriteOptions {
                            size,
                            ..Default::default()
                        },
                    )
                    .await
                });
                let f: Box<dyn DavFile> = Box::new(File {
                    tree: self.tree.clone(),
                    path: p,
                    meta: Meta {
                        len: 0,
                        modified: Some(SystemTime::now()),
                        dir: false,
                        etag: None,
                    },
                    pos: 0,
                    reader: None,
                    writer: Some(Writer { tx, done }),
                });
                return Ok(f);
            }
            let p = tree_path(path, user)?;
            let e = self.tree.stat_for_read(&p).await.map_err(fs_err)?;
            if e.is_dir {
                return Err(FsError::Forbidden);
            }
            let f: Box<dyn DavFile> = Box::new(File {
                tree: self.tree.clone(),
                path: p,
                meta: Meta::of(&e),
                pos: 0,
                reader: None,
                writer: None,
            });
            Ok(f)
        }
        .boxed()
    }

    fn read_dir<'a>(
        &'a self,
        path: &'a DavPath,
        _meta: ReadDirMeta,
        user: &'a User,
    ) -> FsFuture<'a, FsStream<Box<dyn DavDirEntry>>> {
        async move {
            let p = tree_path(path, user)?;
            let entries = self.tree.list(&p).await.map_err(fs_err)?;
            // Held for the request only, and only up to a budget: past it, each entry's properties are
            // read when it is written.
            if let Some(rows) = self
                .db
                .child_props(&p, LISTED_PROPS_BYTES)
                .await
                .map_err(fs_err)?
            {
                let mut props = std::collections::HashMap::<String, Vec<PropRow>>::new();
                for r in rows {
                    props.entry(r.path.clone()).or_default().push(r);
                }
                *self.listed.lock().unwrap_or_else(|e| e.into_inner()) = Some(ListedProps {
                    folder: p.clone(),
                    props,
                });
            }
            // One entry at a time from the shared cached listing, as the answer is written: 16 clients
            // listing a 100k folder hold one copy of it, not 16.
            let n = entries.len();
            let s: FsStream<Box<dyn DavDirEntry>> =
                Box::pin(futures_util::stream::iter((0..n).map(move |i| {
                    Ok(Box::new(DirEntry(entries[i].clone())) as Box<dyn DavDirEntry>)
                })));
            Ok(s)
        }
        .boxed()
    }

    fn metadata<'a>(
        &'a self,
        path: &'a DavPath,
        user: &'a User,
    ) -> FsFuture<'a, Box<dyn DavMetaData>> {
        async move {
            let p = tree_path(path, user)?;
            // A GET or HEAD may be answered from what was just listed or stat'ed; anything that
            // changes files checks against the remote.
            let e = if self.reading {
                self.tree.stat_for_read(&p).await
            } else {
                self.tree.stat(&p).await
            }
            .map_err(fs_err)?;
            let m: Box<dyn DavMetaData> = Box::new(Meta::of(&e));
            Ok(m)
        }
        .boxed()
    }

    fn create_dir<'a>(&'a self, path: &'a DavPath, user: &'a User) -> FsFuture<'a, ()> {
        async move {
            let p = writable(path, user)?;
            if self.tree.stat(&p).await.is_ok() {
                return Err(FsError::Exists);
            }
            match self.tree.stat(parent_of(&p)).await {
                Ok(d) if d.is_dir => {}
                _ => return Err(FsError::NotFound),
            }
            self.tree.mkdir(&p).await.map(|_| ()).map_err(fs_err)
        }
        .boxed()
    }

    fn remove_dir<'a>(&'a self, path: &'a DavPath, user: &'a User) -> FsFuture<'a, ()> {
        self.remove(path, user).boxed()
    }

    fn remove_file<'a>(&'a self, path: &'a DavPath, user: &'a User) -> FsFuture<'a, ()> {
        self.remove(path, user).boxed()
    }

    fn have_props<'a>(
        &'a self,
        _path: &'a DavPath,
        _user: &'a User,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = bool> + Send + 'a>> {
        Box::pin(futures_util::future::ready(true))
    }

    fn patch_props<'a>(
        &'a self,
        path: &'a DavPath,
        patch: Vec<(bool, DavProp)>,
        user: &'a User,
    ) -> FsFuture<'a, Vec<(StatusCode, DavProp)>> {
        async move {
            let p = writable(path, user)?;
            self.tree.stat(&p).await.map_err(fs_err)?;
            let mut out = Vec::new();
            let mut have = self.db.props(&p).await.map_err(fs_err)?;
            for (set, prop) in patch {
                let row = prop_row(&p, &prop);
                if set {
                    let known = have.iter().any(|r| r.ns == row.ns && r.name == row.name);
                    if row.xml.len() > MAX_PROP_XML || (!known && have.len() >= MAX_PROPS) {
                        out.push((
                            StatusCode::INSUFFICIENT_STORAGE,
                            DavProp { xml: None, ..prop },
                        ));
                        continue;
                    }
                    self.db.set_prop(&row).await.map_err(fs_err)?;
                    if !known {
                        have.push(row);
                    }
                } else {
                    self.db
                        .remove_prop(&p, &row.ns, &row.name)
                        .await
                        .map_err(fs_err)?;
                }
                out.push((StatusCode::OK, DavProp { xml: None, ..prop }));
            }
            Ok(out)
        }
        .boxed()
    }

    fn get_props<'a>(
        &'a self,
        path: &'a DavPath,
        do_content: bool,
        user: &'a User,
    ) -> FsFuture<'a, Vec<DavProp>> {
        async move {
            let p = tree_path(path, user)?;
            let mut rows = self.props_of(&p).await?;
            if self.mode == PropMode::Named {
                // Those dav-server read by name with `get_prop` are in its answer already.
                let served = self.served.lock().unwrap_or_else(|e| e.into_inner());
                if served.0 == p {
                    rows.retain(|r| !served.1.iter().any(|(ns, n)| *ns == r.ns && *n == r.name));
                }
            }
            let content = do_content && self.mode == PropMode::All;
            Ok(rows.into_iter().map(|r| dav_prop(r, content)).collect())
        }
        .boxed()
    }

    fn get_prop<'a>(
        &'a self,
        path: &'a DavPath,
        prop: DavProp,
        user: &'a User,
    ) -> FsFuture<'a, Vec<u8>> {
        async move {
            let p = tree_path(path, user)?;
            let ns = prop.namespace.unwrap_or_default();
            let rows = self.props_of(&p).await?;
            {
                let mut served = self.served.lock().unwrap_or_else(|e| e.into_inner());
                if served.0 != p {
                    *served = (p.clone(), Vec::new());
                }
                served.1.push((ns.clone(), prop.name.clone()));
            }
            rows.into_iter()
                .find(|r| r.ns == ns && r.name == prop.name)
                .map(|r| r.xml.into_bytes())
                .ok_or(FsError::NotFound)
        }
        .boxed()
    }

    fn rename<'a>(
        &'a self,
        from: &'a DavPath,
        to: &'a DavPath,
        user: &'a User,
    ) -> FsFuture<'a, ()> {
        async move {
            let (a, b) = (writable(from, user)?, writable(to, user)?);
            let (ma, _) = self.tree.locate(&a).map_err(fs_err)?;
            let (mb, _) = self.tree.locate(&b).map_err(fs_err)?;
            if !Arc::ptr_eq(&ma, &mb) {
                // dav-server then copies and deletes.
                return Err(FsError::IsRemote);
            }
            self.tree.rename(&a, &b).await.map_err(fs_err)?;
            self.db.move_props(&a, &b, false).await.map_err(fs_err)
        }
        .boxed()
    }

    fn copy<'a>(&'a self, from: &'a DavPath, to: &'a DavPath, user: &'a User) -> FsFuture<'a, ()> {
        async move {
            let a = tree_path(from, user)?;
            let b = writable(to, user)?;
            let (ma, pa) = self.tree.locate(&a).map_err(fs_err)?;
            let (mb, pb) = self.tree.locate_writable(&b).map_err(fs_err)?;
            if Arc::ptr_eq(&ma, &mb) && ma.storage.capabilities().copy {
                let r = ma.storage.copy(&pa, &pb).await;
                self.tree.changed(&[parent_of(&b)]).await;
                r.map_err(fs_err)?;
                return self.db.move_props(&a, &b, true).await.map_err(fs_err);
            }
            // Across mounts (or where the remote cannot copy): through the transfer engine, so the copy is
            // verified by hash, retried and read in several streams like every other copy.
            let r = cloudmux_vfs::copy_file(
                &ma.storage,
                &cloudmux_vfs::Source::Path(pa),
                &mb.storage,
                &pb,
                &cloudmux_vfs::Options::default(),
                |_| {},
            )
            .await;
            self.tree.changed(&[parent_of(&b)]).await;
            r.map_err(fs_err)?;
            self.db.move_props(&a, &b, true).await.map_err(fs_err)
        }
        .boxed()
    }
}

impl CloudFs {
    async fn remove(&self, path: &DavPath, user: &User) -> FsResult<()> {
        let p = writable(path, user)?;
        self.tree
            .delete(&p, DeleteMode::Permanent)
            .await
            .map_err(fs_err)?;
        self.db.drop_props(&p).await.map_err(fs_err)
    }
}

/// The Basic-auth realm.
const REALM: &str = "Basic realm=\"cloudmux\", charset=\"UTF-8\"";

fn challenge() -> Response {
    let mut r = (StatusCode::UNAUTHORIZED, "sign in with your cloudmux user").into_response();
    r.headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(REALM));
    r
}

/// The user of a request: HTTP Basic with a cloudmux user (or `Bearer` with a token of the JSON API).
async fn user_of(
    st: &AppState,
    auth: Option<&str>,
    ip: std::net::IpAddr,
) -> Result<User, Response> {
    let Some(h) = auth else {
        return Err(challenge());
    };
    if let Some(t) = h.strip_prefix("Bearer ") {
        return match st.users.authenticate(ip, t.trim()).await {
            Ok(Some(u)) => Ok(u),
            Err(e) if e.kind() == ErrorKind::RateLimited => {
                Err(crate::doors::common::error::ApiError(e).into_response())
            }
            _ => Err(challenge()),
        };
    }
    let Some(b64) = h.strip_prefix("Basic ") else {
        return Err(challenge());
    };
    use base64::Engine;
    let Ok(raw) = base64::engine::general_purpose::STANDARD.decode(b64.trim()) else {
        return Err(challenge());
    };
    let Ok(raw) = String::from_utf8(raw) else {
        return Err(challenge());
    };
    let Some((name, password)) = raw.split_once(':') else {
        return Err(challenge());
    };
    match st.users.check_password(ip, name, password).await {
        Ok(u) => Ok(u),
        Err(e) if e.kind() == ErrorKind::RateLimited => {
            Err(crate::doors::common::error::ApiError(e).into_response())
        }
        Err(_) => Err(challenge()),
    }
}

/// Whether `user` may lock the tree path `p`: writers only, inside a writable mount (not a mount point or a
/// folder of mount points), never their own top folder.
fn may_lock(st: &AppState, user: &User, p: &str) -> bool {
    user.can_write
        && p != user.base_path
        && st
            .tree
            .locate_writable(p)
            .is_ok_and(|(_, inner)| !inner.is_empty())
}

fn forbidden(why: &'static str) -> Response {
    (StatusCode::FORBIDDEN, why).into_response()
}

/// Whether dav-server can read this `If` header without panicking: its tokenizer indexes past the end of a
/// `<…` or `[…` token that is never closed (dav-server 0.11, `davheaders::scan_until`). This walks the
/// header the way that tokenizer does, with bounds checks; a header it would fail on, as opposed to
/// refuse, is answered 400 here instead.
pub fn if_header_is_readable(v: &[u8]) -> bool {
    let ws = |c: u8| b" \t\r\n".contains(&c);
    let mut i = 0;
    while i < v.len() {
        if ws(v[i]) {
            i += 1;
            continue;
        }
        match v[i] {
            b'(' | b')' => i += 1,
            b'N' if v[i..].starts_with(b"Not") => i += 3,
            open @ (b'<' | b'[') => {
                let close = if open == b'<' { b'>' } else { b']' };
                let mut j = i + 1;
                let mut quote = false;
                loop {
                    let Some(&c) = v.get(j) else {
                        return false;
                    };
                    if !quote && c == close {
                        break;
                    }
                    if ws(c) {
                        // dav-server refuses the header here: no harm.
                        return true;
                    }
                    if c == b'"' {
                        quote = !quote;
                    }
                    j += 1;
                }
                i = j + 1;
            }
            _ => {
                let start = i;
                while i < v.len() && !ws(v[i]) && !b"<>()[]".contains(&v[i]) && v[i] >= 32 {
                    i += 1;
                }
                if i == start {
                    return true;
                }
            }
        }
    }
    true
}

/// Handles a request under [`PREFIX`].
pub async fn handle(
    State(st): State<Arc<AppState>>,
    ConnectInfo(addr): ConnectInfo<std::net::SocketAddr>,
    req: Request,
) -> Response {
    let auth = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let user = match user_of(&st, auth.as_deref(), addr.ip()).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let method = req.method().clone();
    if method.as_str() == "PROPFIND"
        && req
            .headers()
            .get("depth")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|d| d.trim().eq_ignore_ascii_case("infinity"))
    {
        let body = "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<D:error xmlns:D=\"DAV:\"><D:propfind-finite-depth/></D:error>\n";
        return (
            StatusCode::FORBIDDEN,
            [(header::CONTENT_TYPE, "application/xml; charset=utf-8")],
            body,
        )
            .into_response();
    }
    // The path as dav-server will see it, for the checks and headers below.
    let rel = req
        .uri()
        .path()
        .strip_prefix(PREFIX)
        .unwrap_or_default()
        .to_string();
    let target = DavPath::new(if rel.is_empty() { "/" } else { &rel })
        .ok()
        .and_then(|p| tree_path(&p, &user).ok());
    if method.as_str() == "LOCK" && !target.as_deref().is_some_and(|p| may_lock(&st, &user, p)) {
        return forbidden(
            "locks are for users who may write, inside a mounted remote, below their top folder",
        );
    }
    if req
        .headers()
        .get_all("if")
        .iter()
        .any(|v| !if_header_is_readable(v.as_bytes()))
    {
        return (StatusCode::BAD_REQUEST, "malformed If header").into_response();
    }
    if method == http::Method::GET
        && let Some(p) = target.as_deref()
        && let Some(link) = st.tree.direct_link(p).await
    {
        return crate::doors::common::body::redirect(&link);
    }
    let (parts, body) = req.into_parts();
    let mut props = PropMode::All;
    let body = if method.as_str() == "PROPFIND" {
        // Small XML, read whole here (dav-server does the same) to learn which properties are asked for.
        let Ok(b) = axum::body::to_bytes(body, MAX_PROPFIND_BODY).await else {
            return (
                StatusCode::PAYLOAD_TOO_LARGE,
                "the PROPFIND body is too large",
            )
                .into_response();
        };
        props = PropMode::of(&b);
        Body::from(b)
    } else {
        body
    };
    let req = http::Request::from_parts(parts, body);
    // dav-server parses what clients send; should it still panic on some input, the request fails alone.
    let handled = std::panic::AssertUnwindSafe(
        st.dav
            .handler_for(
                &user,
                props,
                method == http::Method::GET || method == http::Method::HEAD,
            )
            .handle_guarded(req, user.name.clone(), user),
    )
    .catch_unwind()
    .await;
    let resp = match handled {
        Ok(r) => r,
        Err(_) => {
            tracing::error!("webdav: {method} {rel}: the handler panicked");
            return (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response();
        }
    };
    let (mut parts, body) = resp.into_parts();
    if (method == http::Method::GET || method == http::Method::HEAD) && parts.status.is_success() {
        let name = target
            .as_deref()
            .and_then(|p| p.rsplit('/').next())
            .unwrap_or_default()
            .to_string();
        let mime = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .unwrap_or_else(|| cloudmux_core::mime::guess(&name).to_string());
        crate::doors::common::body::set_headers(&mut parts.headers, &name, &mime, true);
    }
    Response::from_parts(parts, Body::new(body))
}

/// WebDAV over the tree: the file system and the locks, from which a handler is made for each signed-in
/// user (the locks it sees are that user's view, [`crate::doors::dav::locks::UserLocks`]).
pub struct Dav {
    fs: CloudFs,
    /// Every lock.
    pub locks: Arc<crate::doors::dav::locks::Locks>,
}

impl Dav {
    /// Over `tree`, dead properties in `db`.
    pub fn new(tree: Arc<Tree>, db: Db) -> Self {
        // Several processes share a PostgreSQL database, and a client's requests may reach any of them.
        let locks = if db.is_postgres() {
            crate::doors::dav::locks::Locks::shared(db.clone())
        } else {
            crate::doors::dav::locks::Locks::default()
        };
        Dav {
            fs: CloudFs::new(tree, db),
            locks: Arc::new(locks),
        }
    }

    /// The handler for one request of `user`: paths under [`PREFIX`], locks as `user` sees them (Windows
    /// and macOS clients need locks); `props` is what a `PROPFIND` asks for ([`PropMode::All`] otherwise),
    /// `reading` whether the request only reads a file (GET, HEAD: its stat may come from the cache).
    pub fn handler_for(
        &self,
        user: &User,
        props: PropMode,
        reading: bool,
    ) -> dav_server::DavHandler<User> {
        dav_server::DavHandler::builder()
            .filesystem(Box::new(self.fs.for_request(props, reading)))
            .locksystem(Box::new(crate::doors::dav::locks::UserLocks::new(
                self.locks.clone(),
                user.clone(),
            )))
            .strip_prefix(PREFIX)
            // Bodies go out in pieces of this size (dav-server's default, 16 KiB, costs a frame and a
            // wake-up per 16 KiB of a download).
            .read_buf_size(READ_BUF)
            .build_handler()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn propfind_bodies_are_told_apart() {
        for (xml, mode) in [
            ("", PropMode::All),
            ("  \n", PropMode::All),
            (
                r#"<D:propfind xmlns:D="DAV:"><D:allprop/></D:propfind>"#,
                PropMode::All,
            ),
            (
                r#"<propfind xmlns="DAV:"><allprop /><include><x/></include></propfind>"#,
                PropMode::All,
            ),
            (
                r#"<D:propfind xmlns:D="DAV:"><D:propname/></D:propfind>"#,
                PropMode::Names,
            ),
            (
                r#"<D:propfind xmlns:D="DAV:"><D:prop><D:getetag/></D:prop></D:propfind>"#,
                PropMode::Named,
            ),
            (
                r#"<a:propfind xmlns:a="DAV:"><a:prop><z:allprops xmlns:z="u"/></a:prop></a:propfind>"#,
                PropMode::Named,
            ),
        ] {
            assert_eq!(PropMode::of(xml.as_bytes()), mode, "{xml}");
        }
    }

    #[test]
    fn unclosed_if_tokens_are_caught() {
        for bad in [&b"<urn:x"[..], b"[etag", b"(<a> [\"q]", b"<"] {
            assert!(
                !if_header_is_readable(bad),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        for ok in [
            &b"(<urn:uuid:1>)"[..],
            b"</dav/a> (<x> [\"e\"])",
            b"(Not <x>)",
            b"",
            b"< x",
        ] {
            assert!(
                if_header_is_readable(ok),
                "{:?}",
                String::from_utf8_lossy(ok)
            );
        }
    }
}
