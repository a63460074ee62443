//! Yandex Disk REST API v1: resources addressed by path (`disk:/…`, `app:/…`), `_embedded` paging and sort,
//! upload and download links on their own hosts, the upload PUT answering 201 (Content-Range chunks answered
//! 202 until complete), async operations (202 + `/operations/{id}`) for folder copy/move/delete, trash and
//! restore, publishing, public resources, custom properties, quota (507 past it), Yandex's error bodies, the
//! `Authorization: OAuth <token>` header.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use chrono::{DateTime, SecondsFormat, Utc};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::io::{AsyncSeekExt, AsyncWriteExt};

use super::{YError, YResult};
use crate::State as Emu;
use crate::blob::{BlobHashes, Hasher};
use crate::faults::{broken_response, lock};
use crate::hosts::Base;

const API: &str = "cloud-api.yandex.net";

/// A file or folder.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Res {
    /// Folder?
    pub dir: bool,
    /// Blob key (files).
    pub blob: Option<String>,
    /// Size.
    pub size: u64,
    /// Hashes.
    pub hashes: Option<BlobHashes>,
    /// MIME type.
    pub mime: Option<String>,
    /// Created.
    pub created: DateTime<Utc>,
    /// Modified.
    pub modified: DateTime<Utc>,
    /// Stable id.
    pub resource_id: String,
    /// Revision.
    pub revision: u64,
    /// Custom properties.
    pub custom: BTreeMap<String, Value>,
    /// Public key when published.
    pub public_key: Option<String>,
}

/// A trashed subtree.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Trashed {
    /// Where it was.
    pub origin: String,
    /// When it was deleted.
    pub deleted: DateTime<Utc>,
    /// The items, by path relative to the trashed root (`""` is the root).
    pub items: BTreeMap<String, Res>,
}

#[derive(Debug)]
struct Upload {
    path: String,
    overwrite: bool,
    expires: Instant,
    blob: Option<String>,
    committed: u64,
    hasher: Hasher,
    operation: String,
    /// Bytes per second this upload gets, when its name is of a throttled media type.
    throttle: Option<u64>,
}

/// Whether Yandex throttles uploads of files of this name (media types `video`, `compressed`, `data`).
fn throttled(name: &str) -> bool {
    matches!(media_type(name), "video" | "compressed" | "data")
}

#[derive(Debug, Default)]
struct DownloadLinks {
    by_token: HashMap<String, (String, u64, String, Instant)>,
    by_blob: HashMap<String, String>,
}

#[derive(Debug, Clone)]
enum OpState {
    Timed(Instant, &'static str),
    Fixed(&'static str),
}

/// Disk state (one user).
#[derive(Debug, Default)]
pub struct DiskState {
    /// Resources by full path (`disk:/a/b`; the root is `disk:/`).
    pub items: BTreeMap<String, Res>,
    /// Trash by trash path (`trash:/name_hash`).
    pub trash: BTreeMap<String, Trashed>,
    /// Published resources: key → path.
    pub public: HashMap<String, String>,
    uploads: HashMap<String, Arc<tokio::sync::Mutex<Upload>>>,
    /// Download tokens; a lock of their own because they are minted while the disk is being read.
    downloads: std::sync::Mutex<DownloadLinks>,
    ops: HashMap<String, OpState>,
    revision: u64,
    /// Bytes received by upload PUTs (tests measure re-sent data with it).
    pub upload_bytes: u64,
    /// Where the blobs are (to find their SHA-256 when asked).
    pub blob_dir: Option<std::path::PathBuf>,
}

fn now() -> DateTime<Utc> {
    Utc::now()
}

fn ts(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, false)
}

fn new_dir(rev: u64) -> Res {
    let t = now();
    Res {
        dir: true,
        blob: None,
        size: 0,
        hashes: None,
        mime: None,
        created: t,
        modified: t,
        resource_id: rid(),
        revision: rev,
        custom: BTreeMap::new(),
        public_key: None,
    }
}

fn rid() -> String {
    format!(
        "1130000000000001:{}",
        hex::encode((0..32).map(|_| rand::random::<u8>()).collect::<Vec<_>>())
    )
}

fn token(n: usize) -> String {
    hex::encode((0..n).map(|_| rand::random::<u8>()).collect::<Vec<_>>())
}

/// Normalises a Yandex path parameter: `disk:/a/b`, `/a/b`, `a/b`, `app:/x` (→ `disk:/Applications/<app>/x`).
pub fn norm(p: &str, client: &str) -> YResult<String> {
    // Names keep their spaces: only the path syntax is normalised.
    let (ns, rest) = if let Some(r) = p.strip_prefix("disk:") {
        ("disk:", r)
    } else if let Some(r) = p.strip_prefix("app:") {
        return norm(
            &format!("disk:/Applications/{client}/{}", r.trim_start_matches('/')),
            client,
        );
    } else {
        ("disk:", p)
    };
    let mut parts = Vec::new();
    for c in rest.split('/') {
        match c {
            "" | "." => {}
            ".." => return Err(YError::field("path", "path must not contain '..'")),
            c => parts.push(c),
        }
    }
    Ok(format!("{ns}/{}", parts.join("/")))
}

fn parent(p: &str) -> Option<String> {
    let (ns, rest) = p.split_once(":/")?;
    if rest.is_empty() {
        return None;
    }
    Some(match rest.rsplit_once('/') {
        Some((d, _)) => format!("{ns}:/{d}"),
        None => format!("{ns}:/"),
    })
}

fn name_of(p: &str) -> String {
    let rest = p.split_once(":/").map(|(_, r)| r).unwrap_or(p);
    if rest.is_empty() {
        "disk".into()
    } else {
        rest.rsplit('/').next().unwrap_or(rest).to_string()
    }
}

fn child_prefix(p: &str) -> String {
    if p.ends_with('/') {
        p.to_string()
    } else {
        format!("{p}/")
    }
}

/// The media type Yandex reports for a name.
fn media_type(name: &str) -> &'static str {
    let ext = name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "jpg" | "jpeg" | "png" | "gif" | "webp" | "heic" | "bmp" | "tif" | "tiff" => "image",
        "mp4" | "mov" | "mkv" | "avi" | "webm" | "3gp" | "m4v" | "mpg" | "mpeg" | "wmv" | "flv"
        | "ts" => "video",
        "mp3" | "wav" | "flac" | "ogg" => "audio",
        "txt" | "md" | "csv" => "text",
        "doc" | "docx" | "odt" | "pdf" | "rtf" => "document",
        "xls" | "xlsx" | "ods" => "spreadsheet",
        "zip" | "gz" | "tgz" | "tar" | "7z" | "rar" | "bz2" | "xz" | "zst" => "compressed",
        "db" | "dat" | "sqlite" => "data",
        _ => "unknown",
    }
}

impl DiskState {
    /// An empty disk with its root.
    pub fn new() -> Self {
        let mut s = DiskState::default();
        s.items.insert("disk:/".into(), new_dir(0));
        s
    }

    fn bump(&mut self) -> u64 {
        self.revision += 1;
        self.revision
    }

    /// The revision counter, bumped on every change.
    pub fn revision(&self) -> u64 {
        self.revision
    }

    /// Bytes stored (trash included, as Yandex counts it) and bytes in the trash.
    pub fn usage(&self) -> (u64, u64) {
        let live: u64 = self.items.values().map(|r| r.size).sum();
        let trash: u64 = self
            .trash
            .values()
            .flat_map(|t| t.items.values())
            .map(|r| r.size)
            .sum();
        (live + trash, trash)
    }

    /// Paths of `p` and everything below it.
    fn subtree(&self, p: &str) -> Vec<String> {
        let pre = child_prefix(p);
        let mut out = vec![p.to_string()];
        out.extend(
            self.items
                .range(pre.clone()..)
                .take_while(|(k, _)| k.starts_with(&pre))
                .filter(|(k, _)| k.len() > pre.len())
                .map(|(k, _)| k.clone()),
        );
        out
    }

    /// Direct children of folder `p` (never `p` itself, which for the root shares the prefix).
    pub fn children(&self, p: &str) -> Vec<(&String, &Res)> {
        let pre = child_prefix(p);
        self.items
            .range(pre.clone()..)
            .take_while(|(k, _)| k.starts_with(&pre))
            .filter(|(k, _)| k.len() > pre.len() && !k[pre.len()..].contains('/'))
            .collect()
    }

    fn check_parent(&self, p: &str) -> YResult<()> {
        match parent(p) {
            Some(par) => match self.items.get(&par) {
                Some(r) if r.dir => Ok(()),
                _ => Err(YError::parent_missing(&par)),
            },
            None => Ok(()),
        }
    }

    fn remove_tree(&mut self, p: &str) -> BTreeMap<String, Res> {
        let mut out = BTreeMap::new();
        for k in self.subtree(p) {
            if let Some(r) = self.items.remove(&k) {
                if let Some(key) = &r.public_key {
                    self.public.remove(key);
                }
                out.insert(k[p.len()..].trim_start_matches('/').to_string(), r);
            }
        }
        out
    }

    fn put_tree(&mut self, dst: &str, items: BTreeMap<String, Res>) {
        let rev = self.bump();
        for (rel, mut r) in items {
            r.revision = rev;
            let path = if rel.is_empty() {
                dst.to_string()
            } else {
                format!("{}{rel}", child_prefix(dst))
            };
            self.items.insert(path, r);
        }
    }
}

mod operations;
mod public;
mod resources;
mod trash;
mod upload;

use operations::operation;
use public::{
    public_download, public_list, public_meta, public_page, public_save, publish, unpublish,
};
use resources::{
    copy, disk_info, flat_files, last_uploaded, meta, mkdir, move_, patch_props, remove,
};
use trash::{trash_delete, trash_meta, trash_restore};
use upload::{download_get, download_link, upload_link, upload_put, upload_url};

/// The routes of `cloud-api.yandex.net` (and `.com`), the uploader and the downloader.
pub fn routes() -> Router<Arc<Emu>> {
    let mut r = Router::new();
    for host in ["cloud-api.yandex.net", "cloud-api.yandex.com"] {
        let p = |s: &str| format!("/{host}/v1/disk{s}");
        r = r
            .route(&p(""), get(disk_info))
            .route(&p("/"), get(disk_info))
            .route(
                &p("/resources"),
                get(meta).put(mkdir).delete(remove).patch(patch_props),
            )
            .route(&p("/resources/copy"), post(copy))
            .route(&p("/resources/move"), post(move_))
            .route(&p("/resources/download"), get(download_link))
            .route(&p("/resources/upload"), get(upload_link).post(upload_url))
            .route(&p("/resources/files"), get(flat_files))
            .route(&p("/resources/last-uploaded"), get(last_uploaded))
            .route(&p("/resources/publish"), put(publish))
            .route(&p("/resources/unpublish"), put(unpublish))
            .route(&p("/resources/public"), get(public_list))
            .route(&p("/trash/resources"), get(trash_meta).delete(trash_delete))
            .route(&p("/trash/resources/restore"), put(trash_restore))
            .route(&p("/operations/{id}"), get(operation))
            .route(&p("/public/resources"), get(public_meta))
            .route(&p("/public/resources/download"), get(public_download))
            .route(&p("/public/resources/save-to-disk"), post(public_save));
    }
    r.route(
        "/uploader.disk.yandex.net/upload-target/{token}",
        put(upload_put),
    )
    .route("/downloader.disk.yandex.ru/disk/{token}", get(download_get))
    .route("/yadi.sk/d/{short}", get(public_page))
}

type Q = Query<HashMap<String, String>>;

/// The caller of a Disk method: the OAuth client its `Authorization: OAuth <token>` (Bearer accepted too)
/// was issued to. A handler that takes it answers 401 `UnauthorizedError` to a request without a valid token.
pub struct Caller(pub String);

impl axum::extract::FromRequestParts<Arc<Emu>> for Caller {
    type Rejection = YError;
    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        emu: &Arc<Emu>,
    ) -> Result<Self, Self::Rejection> {
        auth(emu, &parts.headers).map(Caller)
    }
}

/// The caller's client id, from `Authorization: OAuth <token>` (Bearer accepted too).
fn auth(emu: &Emu, headers: &HeaderMap) -> YResult<String> {
    let t = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("OAuth ")
                .or_else(|| v.strip_prefix("Bearer "))
        })
        .ok_or_else(YError::unauthorized)?;
    lock(&emu.yandex_auth)
        .check(t.trim())
        .map(|g| g.client_id)
        .ok_or_else(YError::unauthorized)
}

fn param<'a>(q: &'a HashMap<String, String>, k: &str) -> YResult<&'a String> {
    q.get(k)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| YError::field(k, "This field is required."))
}

fn flag(q: &HashMap<String, String>, k: &str) -> bool {
    q.get(k).is_some_and(|v| v == "true" || v == "1")
}

fn link(base: &Base, path_and_query: &str) -> Value {
    json!({"href": base.url(API, path_and_query), "method": "GET", "templated": false})
}

fn resource_link(base: &Base, path: &str) -> Value {
    let q: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("path", path)
        .finish();
    link(base, &format!("/v1/disk/resources?{q}"))
}

fn op_link(st: &mut DiskState, base: &Base, done: bool) -> Response {
    let id = token(16);
    st.ops.insert(
        id.clone(),
        if done {
            OpState::Timed(Instant::now() + Duration::from_millis(50), "success")
        } else {
            OpState::Fixed("in-progress")
        },
    );
    (
        StatusCode::ACCEPTED,
        axum::Json(link(base, &format!("/v1/disk/operations/{id}"))),
    )
        .into_response()
}

fn resource_json(st: &DiskState, base: &Base, path: &str, r: &Res, shown_path: &str) -> Value {
    let name = name_of(path);
    let mut v = json!({
        "name": name, "path": shown_path, "type": if r.dir { "dir" } else { "file" },
        "created": ts(&r.created), "modified": ts(&r.modified), "resource_id": r.resource_id, "revision": r.revision,
        "comment_ids": {"private_resource": r.resource_id, "public_resource": r.resource_id}, "exif": {},
    });
    if !r.dir {
        v["size"] = json!(r.size);
        v["mime_type"] = json!(
            r.mime
                .clone()
                .unwrap_or_else(|| "application/octet-stream".into())
        );
        v["media_type"] = json!(media_type(&name));
        v["antivirus_status"] = json!("clean");
        if let Some(h) = &r.hashes {
            v["md5"] = json!(h.md5);
            v["sha256"] = match (&r.blob, &st.blob_dir) {
                (Some(b), Some(d)) if h.sha256.is_empty() => {
                    json!({LAZY_SHA256: d.join(b).to_string_lossy()})
                }
                _ => json!(h.sha256),
            };
        }
        if let Some(b) = &r.blob {
            let t = direct_link(
                st,
                b,
                r.size,
                r.mime.as_deref().unwrap_or("application/octet-stream"),
            );
            v["file"] = json!(base.url(
                "downloader.disk.yandex.ru",
                &format!(
                    "/disk/{t}?filename={}",
                    url::form_urlencoded::byte_serialize(name.as_bytes()).collect::<String>()
                )
            ));
        }
    }
    if !r.custom.is_empty() {
        v["custom_properties"] = json!(r.custom);
    }
    if let Some(k) = &r.public_key {
        v["public_key"] = json!(k);
        v["public_url"] = json!(base.url("yadi.sk", &format!("/d/{}", short_id(k))));
    }
    v
}

/// The short id of a public URL (`/yadi.sk/d/<id>`): URL-safe, derived from the public key.
fn short_id(key: &str) -> String {
    use base64::Engine;
    let h = ring::digest::digest(&ring::digest::SHA256, key.as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&h.as_ref()[..9])
}

/// A download token for a blob (kept 12 hours).
fn direct_link(st: &DiskState, blob: &str, size: u64, mime: &str) -> String {
    let mut d = lock(&st.downloads);
    if let Some(t) = d.by_blob.get(blob).cloned()
        && d.by_token.get(&t).is_some_and(|e| e.3 > Instant::now())
    {
        return t;
    }
    let t = token(16);
    d.by_token.insert(
        t.clone(),
        (
            blob.to_string(),
            size,
            mime.to_string(),
            Instant::now() + Duration::from_secs(12 * 3600),
        ),
    );
    d.by_blob.insert(blob.to_string(), t.clone());
    t
}

/// Keeps only the dotted `fields` paths (`name,_embedded.items.path`).
pub fn select(v: &Value, fields: &str) -> Value {
    fn build(paths: &[Vec<&str>]) -> BTreeMap<String, Option<Vec<Vec<String>>>> {
        let mut m: BTreeMap<String, Option<Vec<Vec<String>>>> = BTreeMap::new();
        for p in paths {
            let (first, rest) = (
                p[0].to_string(),
                p[1..].iter().map(|s| s.to_string()).collect::<Vec<_>>(),
            );
            match (m.get_mut(&first), rest.is_empty()) {
                (Some(slot), true) => *slot = None,
                (Some(Some(list)), false) => list.push(rest),
                (Some(None), false) => {}
                (None, true) => {
                    m.insert(first, None);
                }
                (None, false) => {
                    m.insert(first, Some(vec![rest]));
                }
            }
        }
        m
    }
    fn apply(v: &Value, paths: &[Vec<&str>]) -> Value {
        match v {
            Value::Array(a) => Value::Array(a.iter().map(|x| apply(x, paths)).collect()),
            Value::Object(o) => {
                let mut out = serde_json::Map::new();
                for (k, sub) in build(paths) {
                    if let Some(x) = o.get(&k) {
                        out.insert(
                            k,
                            match sub {
                                None => x.clone(),
                                Some(list) => {
                                    let refs: Vec<Vec<&str>> = list
                                        .iter()
                                        .map(|p| p.iter().map(String::as_str).collect())
                                        .collect();
                                    apply(x, &refs)
                                }
                            },
                        );
                    }
                }
                Value::Object(out)
            }
            other => other.clone(),
        }
    }
    let paths: Vec<Vec<&str>> = fields
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|f| f.split('.').collect())
        .collect();
    if paths.is_empty() {
        v.clone()
    } else {
        apply(v, &paths)
    }
}

/// Marks a SHA-256 not computed yet: [`reply`] fills it in (or leaves it out) only when the answer keeps
/// it after `fields`, so a field nobody reads costs no hashing.
const LAZY_SHA256: &str = "$sha256-of";

/// Replaces the lazy SHA-256 markers left in `v` by the hash, when known (see [`crate::blob::extra_hashes`]).
fn resolve_lazy(v: &mut Value) {
    match v {
        Value::Object(m) => {
            if let Some(Value::Object(inner)) = m.get("sha256")
                && let Some(p) = inner.get(LAZY_SHA256).and_then(Value::as_str)
            {
                match crate::blob::extra_hashes(std::path::Path::new(p)) {
                    Some((_, sha256)) => m.insert("sha256".into(), json!(sha256)),
                    None => m.remove("sha256"),
                };
            }
            m.values_mut().for_each(resolve_lazy);
        }
        Value::Array(a) => a.iter_mut().for_each(resolve_lazy),
        _ => {}
    }
}

fn reply(q: &HashMap<String, String>, v: Value) -> Response {
    let mut v = match q.get("fields") {
        Some(f) => select(&v, f),
        None => v,
    };
    resolve_lazy(&mut v);
    axum::Json(v).into_response()
}

fn limit_offset(q: &HashMap<String, String>) -> YResult<(usize, usize)> {
    let limit = match q.get("limit") {
        Some(l) => l
            .parse::<usize>()
            .map_err(|_| YError::field("limit", "Must be a non-negative integer."))?,
        None => 20,
    };
    let offset = match q.get("offset") {
        Some(o) => o
            .parse::<usize>()
            .map_err(|_| YError::field("offset", "Must be a non-negative integer."))?,
        None => 0,
    };
    Ok((limit, offset))
}

fn sort_items(items: &mut [(String, Res)], sort: &str) -> YResult<()> {
    let (key, desc) = match sort.strip_prefix('-') {
        Some(k) => (k, true),
        None => (sort, false),
    };
    match key {
        "" | "name" => items.sort_by_key(|a| name_of(&a.0)),
        "path" => items.sort_by(|a, b| a.0.cmp(&b.0)),
        "created" => items.sort_by(|a, b| a.1.created.cmp(&b.1.created).then(a.0.cmp(&b.0))),
        "modified" => items.sort_by(|a, b| a.1.modified.cmp(&b.1.modified).then(a.0.cmp(&b.0))),
        "size" => items.sort_by(|a, b| a.1.size.cmp(&b.1.size).then(a.0.cmp(&b.0))),
        _ => return Err(YError::field("sort", "Unknown sort key.")),
    }
    if desc {
        items.reverse();
    }
    Ok(())
}

/// What `--state-dir` keeps of the disk.
#[derive(Debug, Serialize, Deserialize, Default)]
pub struct DiskSnapshot {
    items: BTreeMap<String, Res>,
    trash: BTreeMap<String, Trashed>,
    revision: u64,
}

impl DiskState {
    /// The persistent part.
    pub fn snapshot(&self) -> DiskSnapshot {
        DiskSnapshot {
            items: self.items.clone(),
            trash: self.trash.clone(),
            revision: self.revision,
        }
    }

    /// Rebuilds from a snapshot.
    pub fn from_snapshot(s: DiskSnapshot) -> Self {
        let mut d = DiskState::new();
        d.items.extend(s.items);
        d.trash = s.trash;
        d.revision = s.revision;
        d.public = d
            .items
            .iter()
            .filter_map(|(p, r)| r.public_key.clone().map(|k| (k, p.clone())))
            .collect();
        d
    }
}

/// Yandex Disk REST API v1 as an emulated service.
pub struct Disk;

impl crate::service::Service for Disk {
    fn key(&self) -> &'static str {
        "disk"
    }
    fn title(&self) -> &'static str {
        "Yandex Disk REST API v1"
    }
    fn hosts(&self) -> &'static [(&'static str, crate::service::Family)] {
        use crate::service::Family::{Plain, YandexDisk};
        &[
            ("cloud-api.yandex.net", YandexDisk),
            ("cloud-api.yandex.com", YandexDisk),
            ("uploader.disk.yandex.net", YandexDisk),
            ("downloader.disk.yandex.ru", YandexDisk),
            ("yadi.sk", Plain),
        ]
    }
    fn entry_points(&self) -> &'static [(&'static str, &'static str)] {
        &[("API", "cloud-api.yandex.net/v1/disk")]
    }
    fn routes(&self) -> Router<Arc<Emu>> {
        routes()
    }
    fn snapshot(&self, st: &Emu) -> Option<Value> {
        crate::service::to_value(&lock(&st.disk).snapshot())
    }
    fn restore(&self, st: &Emu, saved: Value) -> Result<(), String> {
        let snap: DiskSnapshot = crate::service::from_value(saved)?;
        let mut d = lock(&st.disk);
        let blob_dir = d.blob_dir.take();
        *d = DiskState::from_snapshot(snap);
        d.blob_dir = blob_dir;
        Ok(())
    }
    fn change_mark(&self, st: &Emu) -> u64 {
        lock(&st.disk).revision()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_normalise() {
        assert_eq!(norm("disk:/a//b/", "c").unwrap(), "disk:/a/b");
        assert_eq!(norm("/a", "c").unwrap(), "disk:/a");
        assert_eq!(norm("disk:/", "c").unwrap(), "disk:/");
        assert_eq!(norm("app:/x", "cid").unwrap(), "disk:/Applications/cid/x");
        assert!(norm("disk:/a/../b", "c").is_err());
        assert_eq!(parent("disk:/a/b").unwrap(), "disk:/a");
        assert_eq!(parent("disk:/a").unwrap(), "disk:/");
        assert!(parent("disk:/").is_none());
        assert_eq!(name_of("disk:/a/b c"), "b c");
    }

    #[test]
    fn root_is_not_its_own_child() {
        let mut d = DiskState::new();
        d.items.insert("disk:/a".into(), new_dir(1));
        d.items.insert("disk:/a/b".into(), new_dir(1));
        let kids: Vec<&String> = d.children("disk:/").into_iter().map(|(k, _)| k).collect();
        assert_eq!(kids, vec!["disk:/a"]);
        assert_eq!(
            d.subtree("disk:/a"),
            vec!["disk:/a".to_string(), "disk:/a/b".to_string()]
        );
    }

    #[test]
    fn fields_select_dotted_paths() {
        let v = json!({"type": "dir", "name": "x", "_embedded": {"total": 2, "items": [{"name": "a", "size": 1}, {"name": "b", "size": 2}]}});
        assert_eq!(
            select(&v, "type,_embedded.total,_embedded.items.name"),
            json!({"type": "dir", "_embedded": {"total": 2, "items": [{"name": "a"}, {"name": "b"}]}})
        );
        assert_eq!(
            select(&v, "_embedded"),
            json!({"_embedded": v["_embedded"]})
        );
    }
}
