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
        "mp4" | "mov" | "mkv" | "avi" | "webm" => "video",
        "mp3" | "wav" | "flac" | "ogg" => "audio",
        "txt" | "md" | "csv" => "text",
        "doc" | "docx" | "odt" | "pdf" | "rtf" => "document",
        "xls" | "xlsx" | "ods" => "spreadsheet",
        "zip" | "gz" | "tar" | "7z" | "rar" => "compressed",
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

async fn disk_info(State(emu): State<Arc<Emu>>, headers: HeaderMap, Query(q): Q) -> Response {
    let r = (|| -> YResult<Value> {
        auth(&emu, &headers)?;
        let st = lock(&emu.disk);
        let (used, trash) = st.usage();
        let total = emu.settings().yandex_quota;
        Ok(json!({
            "total_space": total, "used_space": used, "trash_size": trash, "max_file_size": 53687091200u64,
            "paid_max_file_size": 1099511627776u64, "is_paid": false, "revision": st.revision, "reg_time": "2020-01-01T00:00:00+00:00",
            "unlimited_autoupload_enabled": false,
            "system_folders": {"applications": "disk:/Applications", "downloads": "disk:/Downloads/", "photostream": "disk:/Camera/", "screenshots": "disk:/Screenshots/"},
            "user": {"login": "demo.user", "display_name": "Demo User", "uid": "1130000000000001", "country": "ru", "reg_time": "2020-01-01T00:00:00+00:00"},
        }))
    })();
    match r {
        Ok(v) => reply(&q, v),
        Err(e) => e.into_response(),
    }
}

/// Metadata of a resource; folders carry `_embedded` with a page of children.
async fn meta(
    State(emu): State<Arc<Emu>>,
    base: Base,
    headers: HeaderMap,
    Query(q): Q,
) -> Response {
    let r = (|| -> YResult<Value> {
        let client = auth(&emu, &headers)?;
        let path = norm(param(&q, "path")?, &client)?;
        let (limit, offset) = limit_offset(&q)?;
        let sort = q.get("sort").cloned().unwrap_or_default();
        let st = lock(&emu.disk);
        let res = st.items.get(&path).ok_or_else(YError::not_found)?;
        let mut v = resource_json(&st, &base, &path, res, &path);
        if res.dir {
            let mut kids: Vec<(String, Res)> = st
                .children(&path)
                .into_iter()
                .map(|(k, r)| (k.clone(), r.clone()))
                .collect();
            sort_items(&mut kids, &sort)?;
            let total = kids.len();
            let page: Vec<Value> = kids
                .iter()
                .skip(offset)
                .take(limit)
                .map(|(k, r)| resource_json(&st, &base, k, r, k))
                .collect();
            v["_embedded"] = json!({"items": page, "limit": limit, "offset": offset, "total": total, "path": path, "sort": sort});
        }
        Ok(v)
    })();
    match r {
        Ok(v) => reply(&q, v),
        Err(e) => e.into_response(),
    }
}

async fn mkdir(
    State(emu): State<Arc<Emu>>,
    base: Base,
    headers: HeaderMap,
    Query(q): Q,
) -> Response {
    (|| -> YResult<Response> {
        let client = auth(&emu, &headers)?;
        let path = norm(param(&q, "path")?, &client)?;
        let mut st = lock(&emu.disk);
        if let Some(r) = st.items.get(&path) {
            return Err(if r.dir {
                YError::new(
                    409,
                    "DiskPathPointsToExistentDirectoryError",
                    format!("По указанному пути \"{path}\" уже существует папка с таким именем."),
                    format!("Specified path \"{path}\" points to existent directory."),
                )
            } else {
                YError::exists(&path)
            });
        }
        st.check_parent(&path)?;
        let rev = st.bump();
        st.items.insert(path.clone(), new_dir(rev));
        Ok((StatusCode::CREATED, axum::Json(resource_link(&base, &path))).into_response())
    })()
    .unwrap_or_else(IntoResponse::into_response)
}

fn trash_path(name: &str) -> String {
    format!("trash:/{name}_{}", token(20))
}

async fn remove(
    State(emu): State<Arc<Emu>>,
    base: Base,
    headers: HeaderMap,
    Query(q): Q,
) -> Response {
    (|| -> YResult<Response> {
        let client = auth(&emu, &headers)?;
        let path = norm(param(&q, "path")?, &client)?;
        if path == "disk:/" {
            return Err(YError::parent_missing(&path));
        }
        let mut st = lock(&emu.disk);
        let r = st.items.get(&path).ok_or_else(YError::not_found)?.clone();
        if let Some(md5) = q.get("md5")
            && r.hashes.as_ref().map(|h| &h.md5) != Some(md5)
        {
            return Err(YError::new(
                409,
                "MD5DifferError",
                "MD5 не совпадает.",
                "MD5 checksum of the resource differs.",
            ));
        }
        let is_async = r.dir && !st.children(&path).is_empty() || flag(&q, "force_async");
        let items = st.remove_tree(&path);
        if flag(&q, "permanently") {
            let blobs: Vec<String> = items.values().filter_map(|r| r.blob.clone()).collect();
            drop(st);
            let emu2 = emu.clone();
            tokio::spawn(async move {
                for b in blobs {
                    emu2.blobs.remove(&b).await;
                }
            });
            st = lock(&emu.disk);
        } else {
            st.trash.insert(
                trash_path(&name_of(&path)),
                Trashed {
                    origin: path.clone(),
                    deleted: now(),
                    items,
                },
            );
        }
        st.bump();
        if is_async {
            return Ok(op_link(&mut st, &base, true));
        }
        Ok(StatusCode::NO_CONTENT.into_response())
    })()
    .unwrap_or_else(IntoResponse::into_response)
}

async fn patch_props(
    State(emu): State<Arc<Emu>>,
    base: Base,
    headers: HeaderMap,
    Query(q): Q,
    body: Bytes,
) -> Response {
    let r = (|| -> YResult<Value> {
        let client = auth(&emu, &headers)?;
        let path = norm(param(&q, "path")?, &client)?;
        let b: Value =
            serde_json::from_slice(&body).map_err(|_| YError::field("body", "Invalid JSON."))?;
        let props = b
            .get("custom_properties")
            .and_then(Value::as_object)
            .ok_or_else(|| YError::field("custom_properties", "This field is required."))?;
        let mut st = lock(&emu.disk);
        let rev = st.bump();
        let r = st.items.get_mut(&path).ok_or_else(YError::not_found)?;
        for (k, v) in props {
            if v.is_null() {
                r.custom.remove(k);
            } else {
                r.custom.insert(k.clone(), v.clone());
            }
        }
        r.revision = rev;
        let r = r.clone();
        Ok(resource_json(&st, &base, &path, &r, &path))
    })();
    match r {
        Ok(v) => reply(&q, v),
        Err(e) => e.into_response(),
    }
}

async fn transfer(
    emu: Arc<Emu>,
    base: Base,
    headers: HeaderMap,
    q: HashMap<String, String>,
    keep_source: bool,
) -> Response {
    (|| -> YResult<Response> {
        let client = auth(&emu, &headers)?;
        let from = norm(param(&q, "from")?, &client)?;
        let to = norm(param(&q, "path")?, &client)?;
        let overwrite = flag(&q, "overwrite");
        let mut st = lock(&emu.disk);
        let src = st.items.get(&from).ok_or_else(YError::not_found)?.clone();
        if from == to || to.starts_with(&child_prefix(&from)) {
            return Err(YError::new(
                409,
                "DiskCannotMoveToItselfError",
                "Нельзя переместить ресурс в самого себя.",
                "Cannot move or copy a resource into itself.",
            ));
        }
        st.check_parent(&to)?;
        if st.items.contains_key(&to) {
            if !overwrite {
                return Err(YError::exists(&to));
            }
            st.remove_tree(&to);
        }
        let is_async = src.dir && !st.children(&from).is_empty() || flag(&q, "force_async");
        let items = if keep_source {
            let pre = child_prefix(&from);
            let mut m = BTreeMap::new();
            for k in st.subtree(&from) {
                let mut r = st.items[&k].clone();
                r.resource_id = rid();
                r.public_key = None;
                m.insert(
                    if k == from {
                        String::new()
                    } else {
                        k[pre.len()..].to_string()
                    },
                    r,
                );
            }
            m
        } else {
            st.remove_tree(&from)
        };
        let copied_blobs: Vec<(String, String)> = if keep_source {
            items
                .iter()
                .filter_map(|(rel, r)| r.blob.clone().map(|b| (rel.clone(), b)))
                .collect()
        } else {
            vec![]
        };
        st.put_tree(&to, items);
        // Copies get their own blobs (files are shared until then); written synchronously (small in tests).
        for (rel, b) in copied_blobs {
            let path = if rel.is_empty() {
                to.clone()
            } else {
                format!("{}{rel}", child_prefix(&to))
            };
            let new = emu.blobs.new_key();
            std::fs::copy(emu.blobs.path(&b), emu.blobs.path(&new)).map_err(|e| {
                YError::new(500, "InternalServerError", e.to_string(), e.to_string())
            })?;
            if let Some(r) = st.items.get_mut(&path) {
                r.blob = Some(new);
            }
        }
        if is_async {
            return Ok(op_link(&mut st, &base, true));
        }
        Ok((StatusCode::CREATED, axum::Json(resource_link(&base, &to))).into_response())
    })()
    .unwrap_or_else(IntoResponse::into_response)
}

async fn copy(
    State(emu): State<Arc<Emu>>,
    base: Base,
    headers: HeaderMap,
    Query(q): Q,
) -> Response {
    transfer(emu, base, headers, q, true).await
}

async fn move_(
    State(emu): State<Arc<Emu>>,
    base: Base,
    headers: HeaderMap,
    Query(q): Q,
) -> Response {
    transfer(emu, base, headers, q, false).await
}

async fn download_link(
    State(emu): State<Arc<Emu>>,
    base: Base,
    headers: HeaderMap,
    Query(q): Q,
) -> Response {
    (|| -> YResult<Response> {
        let client = auth(&emu, &headers)?;
        let path = norm(param(&q, "path")?, &client)?;
        let st = lock(&emu.disk);
        let r = st.items.get(&path).cloned().ok_or_else(YError::not_found)?;
        let Some(b) = r.blob.as_ref().filter(|_| !r.dir) else {
            return Err(YError::new(
                400,
                "DiskNotSupportedError",
                "Скачивание папок эмулятором не поддерживается.",
                "The emulator does not zip folders for download.",
            ));
        };
        let t = direct_link(
            &st,
            b,
            r.size,
            r.mime.as_deref().unwrap_or("application/octet-stream"),
        );
        let href = base.url(
            "downloader.disk.yandex.ru",
            &format!(
                "/disk/{t}?filename={}",
                url::form_urlencoded::byte_serialize(name_of(&path).as_bytes()).collect::<String>()
            ),
        );
        Ok(axum::Json(json!({"href": href, "method": "GET", "templated": false})).into_response())
    })()
    .unwrap_or_else(IntoResponse::into_response)
}

async fn download_get(
    State(emu): State<Arc<Emu>>,
    headers: HeaderMap,
    Path(t): Path<String>,
) -> Response {
    let found = {
        let st = lock(&emu.disk);
        lock(&st.downloads)
            .by_token
            .get(&t)
            .filter(|d| d.3 > Instant::now())
            .cloned()
    };
    match found {
        Some((blob, size, mime, _)) => {
            crate::serve::blob_response(&emu, &blob, size, &mime, None, &headers).await
        }
        None => (StatusCode::NOT_FOUND, "download link expired").into_response(),
    }
}

async fn upload_link(
    State(emu): State<Arc<Emu>>,
    base: Base,
    headers: HeaderMap,
    Query(q): Q,
) -> Response {
    (|| -> YResult<Response> {
        let client = auth(&emu, &headers)?;
        let path = norm(param(&q, "path")?, &client)?;
        let overwrite = flag(&q, "overwrite");
        let mut st = lock(&emu.disk);
        st.check_parent(&path)?;
        if let Some(r) = st.items.get(&path)
            && (r.dir || !overwrite)
        {
            return Err(YError::exists(&path));
        }
        if st.usage().0 >= emu.settings().yandex_quota {
            return Err(YError::no_space());
        }
        let t = token(16);
        let op = token(16);
        st.ops.insert(op.clone(), OpState::Fixed("in-progress"));
        st.uploads.insert(
            t.clone(),
            Arc::new(tokio::sync::Mutex::new(Upload {
                path,
                overwrite,
                expires: Instant::now() + Duration::from_secs(1800),
                blob: None,
                committed: 0,
                hasher: Hasher::default(),
                operation: op.clone(),
            })),
        );
        let href = base.url("uploader.disk.yandex.net", &format!("/upload-target/{t}"));
        Ok(axum::Json(
            json!({"operation_id": op, "href": href, "method": "PUT", "templated": false}),
        )
        .into_response())
    })()
    .unwrap_or_else(IntoResponse::into_response)
}

fn parse_content_range(h: &HeaderMap) -> Result<Option<(u64, u64, Option<u64>)>, ()> {
    let Some(v) = h.get(header::CONTENT_RANGE).and_then(|v| v.to_str().ok()) else {
        return Ok(None);
    };
    let spec = v.trim().strip_prefix("bytes ").ok_or(())?;
    let (r, t) = spec.split_once('/').ok_or(())?;
    let total = if t == "*" {
        None
    } else {
        Some(t.parse().map_err(|_| ())?)
    };
    let (a, b) = r.split_once('-').ok_or(())?;
    Ok(Some((
        a.parse().map_err(|_| ())?,
        b.parse().map_err(|_| ())?,
        total,
    )))
}

/// The upload host: the whole file in one PUT (201), or Content-Range chunks (202 until the last, then 201).
async fn upload_put(
    State(emu): State<Arc<Emu>>,
    headers: HeaderMap,
    Path(t): Path<String>,
    body: Body,
) -> Response {
    let Some(up) = lock(&emu.disk).uploads.get(&t).cloned() else {
        return (StatusCode::NOT_FOUND, "upload link not found or expired").into_response();
    };
    let mut up = up.lock().await;
    if up.expires <= Instant::now() {
        return (StatusCode::GONE, "upload link expired").into_response();
    }
    let range = match parse_content_range(&headers) {
        Ok(r) => r,
        Err(()) => return (StatusCode::PRECONDITION_FAILED, "bad Content-Range").into_response(),
    };
    let (start, total) = match range {
        None => {
            up.committed = 0;
            up.hasher = Hasher::default();
            (0, None)
        }
        Some((a, _b, total)) => (a, total),
    };
    if start > up.committed {
        return (
            StatusCode::PRECONDITION_FAILED,
            format!(
                "Content-Range starts at {start}, {} bytes received so far",
                up.committed
            ),
        )
            .into_response();
    }
    let key = match &up.blob {
        Some(k) => k.clone(),
        None => {
            let k = emu.blobs.new_key();
            up.blob = Some(k.clone());
            k
        }
    };
    let path = emu.blobs.path(&key);
    let drop_after = lock(&emu.faults).take_upload_drop();
    let mut skip = up.committed - start;
    let mut seen = 0u64;
    let mut broken = false;
    let r = async {
        let mut f = tokio::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(false)
            .open(&path)
            .await?;
        f.set_len(up.committed).await?;
        f.seek(std::io::SeekFrom::Start(up.committed)).await?;
        let mut f = tokio::io::BufWriter::with_capacity(1 << 20, f);
        let mut s = body.into_data_stream();
        while let Some(c) = s.next().await {
            let Ok(mut c) = c else {
                broken = true;
                break;
            };
            if let Some(l) = drop_after {
                if seen >= l {
                    broken = true;
                    break;
                }
                c = c.slice(..((l - seen) as usize).min(c.len()));
            }
            seen += c.len() as u64;
            lock(&emu.disk).upload_bytes += c.len() as u64;
            if skip > 0 {
                let n = skip.min(c.len() as u64) as usize;
                skip -= n as u64;
                c = c.slice(n..);
            }
            f.write_all(&c).await?;
            up.hasher.update(&c);
            up.committed += c.len() as u64;
        }
        if drop_after.is_some_and(|l| seen >= l) {
            broken = true;
        }
        f.flush().await?;
        Ok::<_, std::io::Error>(())
    }
    .await;
    if let Err(e) = r {
        return (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response();
    }
    if broken {
        return broken_response();
    }
    // A chunk of a file whose total is not known yet (`bytes a-b/*`), or short of the total: accepted, not done.
    if range.is_some() && total.is_none_or(|t| up.committed < t) {
        return StatusCode::ACCEPTED.into_response();
    }
    // Complete: store it.
    let size = up.committed;
    let hashes = std::mem::take(&mut up.hasher).finish();
    let stored = store_upload(&emu, &up, key, size, hashes, &t);
    match stored {
        Ok(old_blob) => {
            if let Some(b) = old_blob {
                emu.blobs.remove(&b).await;
            }
            StatusCode::CREATED.into_response()
        }
        Err(e) => e.into_response(),
    }
}

/// Puts a completed upload in place; returns the replaced file's blob.
fn store_upload(
    emu: &Emu,
    up: &Upload,
    key: String,
    size: u64,
    hashes: BlobHashes,
    token: &str,
) -> YResult<Option<String>> {
    let mut st = lock(&emu.disk);
    if st.usage().0 + size > emu.settings().yandex_quota {
        return Err(YError::no_space());
    }
    st.check_parent(&up.path)?;
    let old = st.items.get(&up.path).cloned();
    if old.as_ref().is_some_and(|o| o.dir || !up.overwrite) {
        return Err(YError::exists(&up.path));
    }
    let rev = st.bump();
    let t0 = now();
    let res = Res {
        dir: false,
        blob: Some(key),
        size,
        hashes: Some(hashes),
        mime: Some(cloudmux_mime(&up.path)),
        created: old.as_ref().map(|o| o.created).unwrap_or(t0),
        modified: t0,
        resource_id: old
            .as_ref()
            .map(|o| o.resource_id.clone())
            .unwrap_or_else(rid),
        revision: rev,
        custom: old.as_ref().map(|o| o.custom.clone()).unwrap_or_default(),
        public_key: old.as_ref().and_then(|o| o.public_key.clone()),
    };
    st.items.insert(up.path.clone(), res);
    st.ops
        .insert(up.operation.clone(), OpState::Fixed("success"));
    st.uploads.remove(token);
    Ok(old.and_then(|o| o.blob))
}

fn cloudmux_mime(path: &str) -> String {
    let n = name_of(path).to_ascii_lowercase();
    let ext = n.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
    match ext {
        "txt" => "text/plain",
        "jpg" | "jpeg" => "image/jpeg",
        "png" => "image/png",
        "pdf" => "application/pdf",
        "json" => "application/json",
        "mp4" => "video/mp4",
        "zip" => "application/zip",
        _ => "application/octet-stream",
    }
    .to_string()
}

async fn upload_url(
    State(emu): State<Arc<Emu>>,
    base: Base,
    headers: HeaderMap,
    Query(q): Q,
) -> Response {
    let prep = (|| -> YResult<(String, String)> {
        let client = auth(&emu, &headers)?;
        let path = norm(param(&q, "path")?, &client)?;
        let url = param(&q, "url")?.clone();
        let st = lock(&emu.disk);
        st.check_parent(&path)?;
        if st.items.contains_key(&path) {
            return Err(YError::exists(&path));
        }
        Ok((path, url))
    })();
    let (path, url) = match prep {
        Ok(x) => x,
        Err(e) => return e.into_response(),
    };
    let op = token(16);
    lock(&emu.disk)
        .ops
        .insert(op.clone(), OpState::Fixed("in-progress"));
    let emu2 = emu.clone();
    let op2 = op.clone();
    tokio::spawn(async move {
        let status = fetch_into(&emu2, &url, &path).await;
        lock(&emu2.disk).ops.insert(
            op2,
            OpState::Fixed(if status { "success" } else { "failed" }),
        );
    });
    (
        StatusCode::ACCEPTED,
        axum::Json(link(&base, &format!("/v1/disk/operations/{op}"))),
    )
        .into_response()
}

/// Downloads `url` into `path` (the emulator's own public links work; the machine may have no other network).
async fn fetch_into(emu: &Emu, url: &str, path: &str) -> bool {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let Ok(client) = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .build()
    else {
        return false;
    };
    let Ok(resp) = client.get(url).send().await else {
        return false;
    };
    if !resp.status().is_success() {
        return false;
    }
    let Ok((key, size, hashes)) = emu.blobs.store(resp.bytes_stream(), u64::MAX).await else {
        return false;
    };
    let mut st = lock(&emu.disk);
    let rev = st.bump();
    let t = now();
    st.items.insert(
        path.to_string(),
        Res {
            dir: false,
            blob: Some(key),
            size,
            hashes: Some(hashes),
            mime: Some(cloudmux_mime(path)),
            created: t,
            modified: t,
            resource_id: rid(),
            revision: rev,
            custom: BTreeMap::new(),
            public_key: None,
        },
    );
    true
}

async fn flat_files(
    State(emu): State<Arc<Emu>>,
    base: Base,
    headers: HeaderMap,
    Query(q): Q,
) -> Response {
    let r = (|| -> YResult<Value> {
        auth(&emu, &headers)?;
        let (limit, offset) = limit_offset(&q)?;
        let types: Option<Vec<String>> = q
            .get("media_type")
            .map(|m| m.split(',').map(|s| s.trim().to_string()).collect());
        let st = lock(&emu.disk);
        let mut files: Vec<(String, Res)> = st
            .items
            .iter()
            .filter(|(k, r)| {
                !r.dir
                    && types
                        .as_ref()
                        .is_none_or(|t| t.iter().any(|x| x == media_type(&name_of(k))))
            })
            .map(|(k, r)| (k.clone(), r.clone()))
            .collect();
        sort_items(
            &mut files,
            q.get("sort").map(String::as_str).unwrap_or("name"),
        )?;
        let items: Vec<Value> = files
            .iter()
            .skip(offset)
            .take(limit)
            .map(|(k, r)| resource_json(&st, &base, k, r, k))
            .collect();
        Ok(json!({"items": items, "limit": limit, "offset": offset}))
    })();
    match r {
        Ok(v) => reply(&q, v),
        Err(e) => e.into_response(),
    }
}

async fn last_uploaded(
    State(emu): State<Arc<Emu>>,
    base: Base,
    headers: HeaderMap,
    Query(q): Q,
) -> Response {
    let r = (|| -> YResult<Value> {
        auth(&emu, &headers)?;
        let (limit, _) = limit_offset(&q)?;
        let st = lock(&emu.disk);
        let mut files: Vec<(String, Res)> = st
            .items
            .iter()
            .filter(|(_, r)| !r.dir)
            .map(|(k, r)| (k.clone(), r.clone()))
            .collect();
        files.sort_by(|a, b| {
            b.1.created
                .cmp(&a.1.created)
                .then(b.1.revision.cmp(&a.1.revision))
        });
        let items: Vec<Value> = files
            .iter()
            .take(limit)
            .map(|(k, r)| resource_json(&st, &base, k, r, k))
            .collect();
        Ok(json!({"items": items, "limit": limit}))
    })();
    match r {
        Ok(v) => reply(&q, v),
        Err(e) => e.into_response(),
    }
}

async fn publish(
    State(emu): State<Arc<Emu>>,
    base: Base,
    headers: HeaderMap,
    Query(q): Q,
) -> Response {
    (|| -> YResult<Response> {
        let client = auth(&emu, &headers)?;
        let path = norm(param(&q, "path")?, &client)?;
        let mut st = lock(&emu.disk);
        let r = st.items.get_mut(&path).ok_or_else(YError::not_found)?;
        if r.public_key.is_none() {
            let key = base64::Engine::encode(
                &base64::engine::general_purpose::STANDARD,
                (0..33).map(|_| rand::random::<u8>()).collect::<Vec<_>>(),
            );
            r.public_key = Some(key.clone());
            st.public.insert(key, path.clone());
        }
        st.bump();
        Ok(axum::Json(resource_link(&base, &path)).into_response())
    })()
    .unwrap_or_else(IntoResponse::into_response)
}

async fn unpublish(
    State(emu): State<Arc<Emu>>,
    base: Base,
    headers: HeaderMap,
    Query(q): Q,
) -> Response {
    (|| -> YResult<Response> {
        let client = auth(&emu, &headers)?;
        let path = norm(param(&q, "path")?, &client)?;
        let mut st = lock(&emu.disk);
        let r = st.items.get_mut(&path).ok_or_else(YError::not_found)?;
        if let Some(k) = r.public_key.take() {
            st.public.remove(&k);
        }
        st.bump();
        Ok(axum::Json(resource_link(&base, &path)).into_response())
    })()
    .unwrap_or_else(IntoResponse::into_response)
}

async fn public_list(
    State(emu): State<Arc<Emu>>,
    base: Base,
    headers: HeaderMap,
    Query(q): Q,
) -> Response {
    let r = (|| -> YResult<Value> {
        auth(&emu, &headers)?;
        let (limit, offset) = limit_offset(&q)?;
        let st = lock(&emu.disk);
        let want = q.get("type").cloned();
        let mut items: Vec<(String, Res)> = st
            .public
            .values()
            .filter_map(|p| st.items.get(p).map(|r| (p.clone(), r.clone())))
            .filter(|(_, r)| want.as_deref().is_none_or(|t| (t == "dir") == r.dir))
            .collect();
        items.sort_by(|a, b| a.0.cmp(&b.0));
        let page: Vec<Value> = items
            .iter()
            .skip(offset)
            .take(limit)
            .map(|(k, r)| resource_json(&st, &base, k, r, k))
            .collect();
        Ok(json!({"items": page, "limit": limit, "offset": offset}))
    })();
    match r {
        Ok(v) => reply(&q, v),
        Err(e) => e.into_response(),
    }
}

/// Resolves a public key (or public URL) and sub-path to a disk path.
fn public_path(st: &DiskState, q: &HashMap<String, String>) -> YResult<(String, String)> {
    let key = param(q, "public_key")?;
    let root = st
        .public
        .get(key)
        .cloned()
        .or_else(|| {
            let short = key.rsplit('/').next().unwrap_or(key);
            st.public
                .iter()
                .find(|(k, _)| short_id(k) == short)
                .map(|(_, p)| p.clone())
        })
        .ok_or_else(YError::not_found)?;
    let sub = q
        .get("path")
        .map(|p| p.trim_matches('/').to_string())
        .unwrap_or_default();
    if sub.split('/').any(|c| c == "..") {
        return Err(YError::field("path", "path must not contain '..'"));
    }
    let full = if sub.is_empty() {
        root.clone()
    } else {
        format!("{}{sub}", child_prefix(&root))
    };
    Ok((
        full,
        if sub.is_empty() {
            "/".into()
        } else {
            format!("/{sub}")
        },
    ))
}

async fn public_meta(State(emu): State<Arc<Emu>>, base: Base, Query(q): Q) -> Response {
    let r = (|| -> YResult<Value> {
        let (limit, offset) = limit_offset(&q)?;
        let st = lock(&emu.disk);
        let (full, shown) = public_path(&st, &q)?;
        let res = st.items.get(&full).ok_or_else(YError::not_found)?;
        let mut v = resource_json(&st, &base, &full, res, &shown);
        if res.dir {
            let mut kids: Vec<(String, Res)> = st
                .children(&full)
                .into_iter()
                .map(|(k, r)| (k.clone(), r.clone()))
                .collect();
            sort_items(&mut kids, q.get("sort").map(String::as_str).unwrap_or(""))?;
            let total = kids.len();
            let pre = child_prefix(&full);
            let page: Vec<Value> = kids
                .iter()
                .skip(offset)
                .take(limit)
                .map(|(k, r)| {
                    resource_json(
                        &st,
                        &base,
                        k,
                        r,
                        &format!("{}{}", child_prefix(&shown), &k[pre.len()..]),
                    )
                })
                .collect();
            v["_embedded"] = json!({"items": page, "limit": limit, "offset": offset, "total": total, "path": shown, "public_key": q["public_key"]});
        }
        Ok(v)
    })();
    match r {
        Ok(v) => reply(&q, v),
        Err(e) => e.into_response(),
    }
}

async fn public_download(State(emu): State<Arc<Emu>>, base: Base, Query(q): Q) -> Response {
    (|| -> YResult<Response> {
        let st = lock(&emu.disk);
        let (full, _) = public_path(&st, &q)?;
        let r = st.items.get(&full).cloned().ok_or_else(YError::not_found)?;
        let b = r.blob.as_ref().ok_or_else(|| YError::new(400, "DiskNotSupportedError", "Скачивание папок эмулятором не поддерживается.", "The emulator does not zip folders for download."))?;
        let t = direct_link(&st, b, r.size, r.mime.as_deref().unwrap_or("application/octet-stream"));
        Ok(axum::Json(json!({"href": base.url("downloader.disk.yandex.ru", &format!("/disk/{t}")), "method": "GET", "templated": false})).into_response())
    })()
    .unwrap_or_else(IntoResponse::into_response)
}

async fn public_save(
    State(emu): State<Arc<Emu>>,
    base: Base,
    headers: HeaderMap,
    Query(q): Q,
) -> Response {
    let (full, name, dest) = match (|| -> YResult<(String, String, String)> {
        let client = auth(&emu, &headers)?;
        let st = lock(&emu.disk);
        let (full, _) = public_path(&st, &q)?;
        st.items.get(&full).ok_or_else(YError::not_found)?;
        let name = q.get("name").cloned().unwrap_or_else(|| name_of(&full));
        let dir = norm(
            q.get("save_path")
                .map(String::as_str)
                .unwrap_or("disk:/Downloads"),
            &client,
        )?;
        Ok((full, name, dir))
    })() {
        Ok(x) => x,
        Err(e) => return e.into_response(),
    };
    let mut st = lock(&emu.disk);
    if !st.items.contains_key(&dest) {
        let rev = st.bump();
        st.items.insert(dest.clone(), new_dir(rev));
    }
    let target = format!("{}{name}", child_prefix(&dest));
    if st.items.contains_key(&target) {
        return YError::exists(&target).into_response();
    }
    let pre = child_prefix(&full);
    let mut m = BTreeMap::new();
    for k in st.subtree(&full) {
        let mut r = st.items[&k].clone();
        r.public_key = None;
        r.resource_id = rid();
        if let Some(b) = &r.blob {
            let new = emu.blobs.new_key();
            if std::fs::copy(emu.blobs.path(b), emu.blobs.path(&new)).is_err() {
                return YError::new(500, "InternalServerError", "copy failed", "copy failed")
                    .into_response();
            }
            r.blob = Some(new);
        }
        m.insert(
            if k == full {
                String::new()
            } else {
                k[pre.len()..].to_string()
            },
            r,
        );
    }
    st.put_tree(&target, m);
    (
        StatusCode::CREATED,
        axum::Json(resource_link(&base, &target)),
    )
        .into_response()
}

async fn trash_meta(
    State(emu): State<Arc<Emu>>,
    base: Base,
    headers: HeaderMap,
    Query(q): Q,
) -> Response {
    let r = (|| -> YResult<Value> {
        auth(&emu, &headers)?;
        let (limit, offset) = limit_offset(&q)?;
        let path = q.get("path").cloned().unwrap_or_else(|| "trash:/".into());
        let path = if path.starts_with("trash:") {
            path
        } else {
            format!("trash:/{}", path.trim_start_matches('/'))
        };
        let st = lock(&emu.disk);
        let entry_json = |tp: &str, t: &Trashed| {
            let mut v = resource_json(&st, &base, &t.origin, &t.items[""], tp);
            v["name"] = json!(name_of(&t.origin));
            v["origin_path"] = json!(t.origin);
            v["deleted"] = json!(ts(&t.deleted));
            v
        };
        if path == "trash:/" || path == "trash:" {
            let all: Vec<(&String, &Trashed)> = st.trash.iter().collect();
            let items: Vec<Value> = all
                .iter()
                .skip(offset)
                .take(limit)
                .map(|(tp, t)| entry_json(tp, t))
                .collect();
            return Ok(
                json!({"name": "trash", "path": "trash:/", "type": "dir", "created": ts(&now()), "modified": ts(&now()),
                "_embedded": {"items": items, "limit": limit, "offset": offset, "total": all.len(), "path": "trash:/", "sort": ""}}),
            );
        }
        let t = st.trash.get(&path).ok_or_else(YError::not_found)?;
        Ok(entry_json(&path, t))
    })();
    match r {
        Ok(v) => reply(&q, v),
        Err(e) => e.into_response(),
    }
}

async fn trash_delete(
    State(emu): State<Arc<Emu>>,
    base: Base,
    headers: HeaderMap,
    Query(q): Q,
) -> Response {
    let r = (|| -> YResult<(Vec<String>, bool)> {
        auth(&emu, &headers)?;
        let mut st = lock(&emu.disk);
        let victims: Vec<String> = match q.get("path").filter(|p| !p.is_empty() && *p != "trash:/")
        {
            Some(p) => {
                let p = if p.starts_with("trash:") {
                    p.clone()
                } else {
                    format!("trash:/{}", p.trim_start_matches('/'))
                };
                if !st.trash.contains_key(&p) {
                    return Err(YError::not_found());
                }
                vec![p]
            }
            None => st.trash.keys().cloned().collect(),
        };
        let is_async = !q.contains_key("path")
            || victims.iter().any(|v| st.trash[v].items.len() > 1)
            || flag(&q, "force_async");
        let mut blobs = Vec::new();
        for v in victims {
            if let Some(t) = st.trash.remove(&v) {
                blobs.extend(t.items.into_values().filter_map(|r| r.blob));
            }
        }
        st.bump();
        Ok((blobs, is_async))
    })();
    match r {
        Ok((blobs, is_async)) => {
            for b in blobs {
                emu.blobs.remove(&b).await;
            }
            if is_async {
                op_link(&mut lock(&emu.disk), &base, true)
            } else {
                StatusCode::NO_CONTENT.into_response()
            }
        }
        Err(e) => e.into_response(),
    }
}

async fn trash_restore(
    State(emu): State<Arc<Emu>>,
    base: Base,
    headers: HeaderMap,
    Query(q): Q,
) -> Response {
    (|| -> YResult<Response> {
        let client = auth(&emu, &headers)?;
        let p = param(&q, "path")?;
        let p = if p.starts_with("trash:") {
            p.clone()
        } else {
            format!("trash:/{}", p.trim_start_matches('/'))
        };
        let mut st = lock(&emu.disk);
        let t = st.trash.get(&p).cloned().ok_or_else(YError::not_found)?;
        let dest = match q.get("name") {
            Some(n) => format!(
                "{}{n}",
                child_prefix(&parent(&t.origin).unwrap_or_else(|| "disk:/".into()))
            ),
            None => t.origin.clone(),
        };
        let dest = norm(&dest, &client)?;
        st.check_parent(&dest)?;
        if st.items.contains_key(&dest) {
            if !flag(&q, "overwrite") {
                return Err(YError::exists(&dest));
            }
            st.remove_tree(&dest);
        }
        st.trash.remove(&p);
        let is_async = t.items.len() > 1 || flag(&q, "force_async");
        st.put_tree(&dest, t.items);
        if is_async {
            return Ok(op_link(&mut st, &base, true));
        }
        Ok((StatusCode::CREATED, axum::Json(resource_link(&base, &dest))).into_response())
    })()
    .unwrap_or_else(IntoResponse::into_response)
}

async fn operation(
    State(emu): State<Arc<Emu>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Q,
) -> Response {
    let r = (|| -> YResult<Value> {
        auth(&emu, &headers)?;
        let st = lock(&emu.disk);
        let status = match st.ops.get(&id) {
            Some(OpState::Fixed(s)) => *s,
            Some(OpState::Timed(at, s)) => {
                if Instant::now() >= *at {
                    *s
                } else {
                    "in-progress"
                }
            }
            None => {
                return Err(YError::new(
                    404,
                    "DiskOperationNotFoundError",
                    "Операция не найдена.",
                    "Operation not found.",
                ));
            }
        };
        Ok(json!({"status": status}))
    })();
    match r {
        Ok(v) => reply(&q, v),
        Err(e) => e.into_response(),
    }
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

/// The public URL of a published file serves its bytes; of a folder, a JSON listing of its first page.
async fn public_page(
    State(emu): State<Arc<Emu>>,
    base: Base,
    headers: HeaderMap,
    Path(short): Path<String>,
) -> Response {
    let q: HashMap<String, String> = [("public_key".to_string(), short)].into();
    let found = {
        let st = lock(&emu.disk);
        public_path(&st, &q)
            .ok()
            .and_then(|(full, _)| st.items.get(&full).cloned().map(|r| (full, r)))
    };
    match found {
        Some((_, r)) if !r.dir => match &r.blob {
            Some(b) => {
                crate::serve::blob_response(
                    &emu,
                    b,
                    r.size,
                    r.mime.as_deref().unwrap_or("application/octet-stream"),
                    None,
                    &headers,
                )
                .await
            }
            None => YError::not_found().into_response(),
        },
        Some(_) => public_meta(State(emu), base, Query(q)).await,
        None => YError::not_found().into_response(),
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
