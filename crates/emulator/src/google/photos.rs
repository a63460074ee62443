//! Google Photos Library API v1 as it is since 2025-03-31: each OAuth client sees only the media items and
//! albums it created; scopes per method (`photoslibrary.appendonly`, `.readonly.appcreateddata`,
//! `.edit.appcreateddata`; the removed scopes are refused); raw and resumable uploads giving single-use upload
//! tokens that expire after a day; `mediaItems:batchCreate` (at most 50) with a status per item; baseUrls
//! that serve the bytes with `=d` / `=dv` (sizing suffixes such as `=w100-h100` return the original bytes) and
//! expire after an hour; albums; the sharing methods answering 403. See `shared/specs/README.md` §2.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, SecondsFormat, Utc};
use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;

use crate::State as Emu;
use crate::faults::lock;
use crate::google::api::{Caller, Method, authorize};
use crate::google::error::{GError, GResult};
use crate::hosts::Base;

const API: (&str, &str) = ("photoslibrary.googleapis.com", "Photos Library API");
const APPEND: &str = "photoslibrary.appendonly";
const READ: &str = "photoslibrary.readonly.appcreateddata";
const EDIT: &str = "photoslibrary.edit.appcreateddata";
const HOST: &str = "photoslibrary.googleapis.com";

/// A media item.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Item {
    /// Id.
    pub id: String,
    /// The OAuth client that created it (`None`: the user's own library, reachable only through the Picker).
    pub owner: Option<String>,
    /// File name.
    pub filename: String,
    /// MIME type.
    pub mime: String,
    /// Description.
    pub description: Option<String>,
    /// Bytes.
    pub blob: String,
    /// Size.
    pub size: u64,
    /// Creation time.
    pub created: DateTime<Utc>,
    /// Order of creation.
    pub seq: u64,
}

impl Item {
    fn is_video(&self) -> bool {
        self.mime.starts_with("video/")
    }
}

/// An album.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Album {
    /// Id.
    pub id: String,
    /// Creator.
    pub owner: String,
    /// Title.
    pub title: String,
    /// Item ids in order.
    pub items: Vec<String>,
    /// Cover item.
    pub cover: Option<String>,
}

#[derive(Debug)]
struct UploadToken {
    client: String,
    blob: String,
    size: u64,
    mime: Option<String>,
    filename: Option<String>,
    expires: Instant,
}

#[derive(Debug)]
struct Session {
    client: String,
    blob: String,
    received: u64,
    total: Option<u64>,
    mime: Option<String>,
    filename: Option<String>,
    token: Option<String>,
}

/// Photos state (one user).
#[derive(Debug, Default)]
pub struct PhotosState {
    /// Media items by id.
    pub items: BTreeMap<String, Item>,
    /// Albums by id.
    pub albums: BTreeMap<String, Album>,
    tokens: HashMap<String, UploadToken>,
    sessions: HashMap<String, Arc<tokio::sync::Mutex<Session>>>,
    base_urls: HashMap<String, (String, Instant)>,
    seq: u64,
    /// Lifetime of baseUrls (tests shorten it).
    pub base_url_lifetime: Option<Duration>,
}

fn rid(prefix: &str) -> String {
    format!(
        "{prefix}{}",
        hex::encode((0..20).map(|_| rand::random::<u8>()).collect::<Vec<_>>())
    )
}

/// The routes.
pub fn routes() -> Router<Arc<Emu>> {
    let p = |s: &str| format!("/{HOST}/v1{s}");
    Router::new()
        .route(&p("/uploads"), post(upload))
        .route(
            &p("/mediaItems:batchCreate"),
            post(
                Method::new(
                    API,
                    "google.photos.library.v1.PhotosLibrary.BatchCreateMediaItems",
                    &[APPEND],
                )
                .on(batch_create),
            ),
        )
        .route(
            &p("/mediaItems"),
            get(Method::new(
                API,
                "google.photos.library.v1.PhotosLibrary.ListMediaItems",
                &[READ, EDIT],
            )
            .on(media_list)),
        )
        .route(
            &p("/mediaItems:search"),
            post(
                Method::new(
                    API,
                    "google.photos.library.v1.PhotosLibrary.SearchMediaItems",
                    &[READ, EDIT],
                )
                .on(media_search),
            ),
        )
        .route(
            &p("/mediaItems:batchGet"),
            get(Method::new(
                API,
                "google.photos.library.v1.PhotosLibrary.BatchGetMediaItems",
                &[READ, EDIT],
            )
            .on(media_batch_get)),
        )
        .route(
            &p("/mediaItems/{id}"),
            get(Method::new(
                API,
                "google.photos.library.v1.PhotosLibrary.GetMediaItem",
                &[READ, EDIT],
            )
            .on(media_get))
            .patch(
                Method::new(
                    API,
                    "google.photos.library.v1.PhotosLibrary.UpdateMediaItem",
                    &[EDIT],
                )
                .on(media_patch),
            ),
        )
        .route(
            &p("/albums"),
            get(Method::new(
                API,
                "google.photos.library.v1.PhotosLibrary.ListAlbums",
                &[READ, EDIT],
            )
            .on(album_list))
            .post(
                Method::new(
                    API,
                    "google.photos.library.v1.PhotosLibrary.CreateAlbum",
                    &[APPEND, EDIT],
                )
                .on(album_create),
            ),
        )
        .route(
            &p("/albums/{id}"),
            get(Method::new(
                API,
                "google.photos.library.v1.PhotosLibrary.GetAlbum",
                &[READ, EDIT],
            )
            .on(album_get))
            .patch(
                Method::new(
                    API,
                    "google.photos.library.v1.PhotosLibrary.UpdateAlbum",
                    &[EDIT],
                )
                .on(album_patch),
            )
            .post(album_action),
        )
        .route(&p("/sharedAlbums"), get(sharing_gone))
        .route(
            &p("/sharedAlbums/{id}"),
            get(sharing_gone).post(sharing_gone),
        )
        .route(&p("/sharedAlbums:join"), post(sharing_gone))
        .route(&p("/sharedAlbums:leave"), post(sharing_gone))
        .route(&format!("/{HOST}/$discovery/rest"), get(discovery))
        .route("/lh3.googleusercontent.com/lr/{rest}", get(base_url_get))
}

type Q = Query<HashMap<String, String>>;

/// The discovery document of the methods served here, written from Google's API reference (the service's
/// own document is no longer published in client libraries' caches).
pub const DISCOVERY: &str = include_str!("photoslibrary.v1.json");

/// `GET /$discovery/rest?version=v1`: [`DISCOVERY`] with its root URL pointing back at this emulator, so a
/// client built from it calls the emulator.
async fn discovery(base: Base) -> Response {
    let mut doc: Value =
        serde_json::from_str(DISCOVERY).expect("the embedded discovery document is JSON");
    let root = base.url(HOST, "/");
    doc["rootUrl"] = json!(root);
    doc["baseUrl"] = json!(root);
    axum::Json(doc).into_response()
}

fn auth(emu: &Emu, h: &HeaderMap, method: &str, scopes: &[&str]) -> GResult<String> {
    Ok(authorize(emu, h, None, API, method, scopes)?.client_id)
}

fn bad(msg: impl Into<String>) -> GError {
    GError::new(StatusCode::BAD_REQUEST, "global", "badRequest", msg)
}

fn not_found(what: &str) -> GError {
    GError::new(
        StatusCode::NOT_FOUND,
        "global",
        "notFound",
        format!("Requested entity was not found: {what}"),
    )
}

/// What `--state-dir` keeps of Photos: media items and albums (not upload tokens, sessions or baseUrls).
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct PhotosSnapshot {
    items: BTreeMap<String, Item>,
    albums: BTreeMap<String, Album>,
    seq: u64,
}

impl PhotosState {
    /// The persistent part.
    pub fn snapshot(&self) -> PhotosSnapshot {
        PhotosSnapshot {
            items: self.items.clone(),
            albums: self.albums.clone(),
            seq: self.seq,
        }
    }

    /// Restores the persistent part.
    pub fn restore(&mut self, s: PhotosSnapshot) {
        self.items = s.items;
        self.albums = s.albums;
        self.seq = s.seq;
    }

    /// A fresh baseUrl for an item (also for items handed out by the Picker).
    pub fn issue_base_url(&mut self, base: &Base, id: &str) -> String {
        base_url(self, base, id)
    }

    /// Puts `count` photos into the user's own library (not created by any app: reachable only through the
    /// Picker), spread over the last years; returns their ids.
    pub fn seed_library(&mut self, blobs: Vec<(String, u64)>) -> Vec<String> {
        let mut ids = Vec::new();
        for (i, (blob, size)) in blobs.into_iter().enumerate() {
            self.seq += 1;
            let it = Item {
                id: rid("AL"),
                owner: None,
                filename: format!("IMG_{:04}.jpg", i + 1),
                mime: "image/jpeg".into(),
                description: None,
                blob,
                size,
                created: Utc::now() - chrono::Duration::days(200 * i as i64),
                seq: self.seq,
            };
            ids.push(it.id.clone());
            self.items.insert(it.id.clone(), it);
        }
        ids
    }
}

/// A fresh baseUrl for an item.
fn base_url(st: &mut PhotosState, base: &Base, id: &str) -> String {
    let t = rid("AF1Qip");
    let life = st.base_url_lifetime.unwrap_or(Duration::from_secs(3600));
    st.base_urls
        .insert(t.clone(), (id.to_string(), Instant::now() + life));
    base.url("lh3.googleusercontent.com", &format!("/lr/{t}"))
}

fn item_json(st: &mut PhotosState, base: &Base, it: &Item) -> Value {
    let url = base_url(st, base, &it.id);
    let mut meta = json!({"creationTime": it.created.to_rfc3339_opts(SecondsFormat::Secs, true), "width": "1024", "height": "768"});
    if it.is_video() {
        meta["video"] = json!({"fps": 30.0, "status": "READY"});
    } else {
        meta["photo"] = json!({});
    }
    let mut v = json!({"id": it.id, "productUrl": format!("https://photos.google.com/lr/photo/{}", it.id), "baseUrl": url,
        "mimeType": it.mime, "filename": it.filename, "mediaMetadata": meta});
    if let Some(d) = &it.description {
        v["description"] = json!(d);
    }
    v
}

fn album_json(st: &mut PhotosState, base: &Base, a: &Album) -> Value {
    let mut v = json!({"id": a.id, "title": a.title, "productUrl": format!("https://photos.google.com/lr/album/{}", a.id),
        "isWriteable": true, "mediaItemsCount": a.items.len().to_string()});
    if let Some(c) = a.cover.clone().or_else(|| a.items.first().cloned()) {
        v["coverPhotoMediaItemId"] = json!(c);
        v["coverPhotoBaseUrl"] = json!(base_url(st, base, &c));
    }
    v
}

fn page<T: Clone>(
    all: &[T],
    q_size: Option<&Value>,
    q_token: Option<&Value>,
    default: usize,
    max: usize,
) -> GResult<(Vec<T>, Option<String>)> {
    let size = match q_size.and_then(|v| {
        v.as_i64()
            .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
    }) {
        None | Some(0) => default,
        Some(n) if n < 0 => return Err(bad("pageSize must not be negative")),
        Some(n) => (n as usize).min(max),
    };
    let offset = match q_token.and_then(Value::as_str).filter(|s| !s.is_empty()) {
        Some(t) => t
            .strip_prefix("p")
            .and_then(|n| n.parse::<usize>().ok())
            .ok_or_else(|| bad("Invalid page token"))?,
        None => 0,
    };
    let end = (offset + size).min(all.len());
    let items = all.get(offset..end).unwrap_or(&[]).to_vec();
    Ok((items, (end < all.len()).then(|| format!("p{end}"))))
}

fn query_json(q: &HashMap<String, String>) -> Value {
    json!({"pageSize": q.get("pageSize"), "pageToken": q.get("pageToken")})
}

async fn upload(
    State(emu): State<Arc<Emu>>,
    base: Base,
    headers: HeaderMap,
    Query(q): Q,
    body: Body,
) -> Response {
    let client = match auth(
        &emu,
        &headers,
        "google.photos.library.v1.PhotosLibrary.Upload",
        &[APPEND],
    ) {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    let hv = |k: &str| {
        headers
            .get(k)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let mime = hv("x-goog-upload-content-type");
    let filename = hv("x-goog-upload-file-name");
    // A session URL carries upload_id.
    if let Some(id) = q.get("upload_id") {
        let Some(s) = lock(&emu.photos).sessions.get(id).cloned() else {
            return not_found("upload session").into_response();
        };
        let mut s = s.lock().await;
        let cmd = hv("x-goog-upload-command").unwrap_or_default();
        let status_resp = |s: &Session, final_: bool| {
            let mut r = StatusCode::OK.into_response();
            r.headers_mut().insert(
                "x-goog-upload-status",
                if final_ { "final" } else { "active" }.parse().unwrap(),
            );
            r.headers_mut()
                .insert("x-goog-upload-size-received", s.received.into());
            r
        };
        if cmd.contains("query") {
            return status_resp(&s, s.token.is_some());
        }
        let offset: u64 = hv("x-goog-upload-offset")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        if offset != s.received {
            return bad(format!(
                "X-Goog-Upload-Offset {offset} does not match the {} bytes received",
                s.received
            ))
            .into_response();
        }
        let path = emu.blobs.path(&s.blob);
        let r = async {
            let mut f = tokio::fs::OpenOptions::new()
                .append(true)
                .open(&path)
                .await?;
            let mut st = body.into_data_stream();
            while let Some(c) = st.next().await {
                let c = c.map_err(std::io::Error::other)?;
                f.write_all(&c).await?;
                s.received += c.len() as u64;
            }
            f.flush().await
        }
        .await;
        if r.is_err() {
            return status_resp(&s, false);
        }
        if cmd.contains("finalize") {
            if s.total.is_some_and(|t| t != s.received) {
                return bad("the upload ended short of X-Goog-Upload-Raw-Size").into_response();
            }
            let token = rid("CAIS");
            lock(&emu.photos).tokens.insert(
                token.clone(),
                UploadToken {
                    client: s.client.clone(),
                    blob: s.blob.clone(),
                    size: s.received,
                    mime: s.mime.clone(),
                    filename: s.filename.clone(),
                    expires: Instant::now() + Duration::from_secs(86400),
                },
            );
            s.token = Some(token.clone());
            let mut resp = status_resp(&s, true);
            *resp.body_mut() = Body::from(token);
            return resp;
        }
        return status_resp(&s, false);
    }
    match hv("x-goog-upload-protocol").as_deref() {
        Some("resumable") if hv("x-goog-upload-command").as_deref() == Some("start") => {
            let key = emu.blobs.new_key();
            if tokio::fs::File::create(emu.blobs.path(&key)).await.is_err() {
                return GError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "global",
                    "internalError",
                    "blob",
                )
                .into_response();
            }
            let id = rid("");
            let total = hv("x-goog-upload-raw-size").and_then(|v| v.parse().ok());
            lock(&emu.photos).sessions.insert(
                id.clone(),
                Arc::new(tokio::sync::Mutex::new(Session {
                    client,
                    blob: key,
                    received: 0,
                    total,
                    mime,
                    filename,
                    token: None,
                })),
            );
            let mut r = StatusCode::OK.into_response();
            r.headers_mut().insert(
                "x-goog-upload-url",
                base.url(HOST, &format!("/v1/uploads?upload_id={id}"))
                    .parse()
                    .unwrap(),
            );
            r.headers_mut()
                .insert("x-goog-upload-chunk-granularity", 262_144.into());
            r.headers_mut()
                .insert("x-goog-upload-status", "active".parse().unwrap());
            r
        }
        _ => match emu
            .blobs
            .store(body.into_data_stream(), 20 * 1024 * 1024 * 1024)
            .await
        {
            Ok((blob, size, _)) => {
                let token = rid("CAIS");
                lock(&emu.photos).tokens.insert(
                    token.clone(),
                    UploadToken {
                        client,
                        blob,
                        size,
                        mime,
                        filename,
                        expires: Instant::now() + Duration::from_secs(86400),
                    },
                );
                ([(header::CONTENT_TYPE, "text/plain")], token).into_response()
            }
            Err(_) => bad("upload failed").into_response(),
        },
    }
}

async fn batch_create(
    State(emu): State<Arc<Emu>>,
    base: Base,
    Caller(grant): Caller,
    body: axum::body::Bytes,
) -> Response {
    let r = (|| -> GResult<(StatusCode, Value)> {
        let client = grant.client_id;
        let b: Value = serde_json::from_slice(&body)
            .map_err(|e| bad(format!("Invalid JSON payload received. {e}")))?;
        let new = b["newMediaItems"].as_array().cloned().unwrap_or_default();
        if new.is_empty() || new.len() > 50 {
            return Err(GError::new(
                StatusCode::BAD_REQUEST,
                "global",
                "badRequest",
                "Request must contain between 1 and 50 newMediaItems.",
            ));
        }
        let mut st = lock(&emu.photos);
        let album = match b["albumId"].as_str() {
            Some(a) => match st.albums.get(a) {
                Some(al) if al.owner == client => Some(a.to_string()),
                _ => {
                    return Err(GError::new(
                        StatusCode::BAD_REQUEST,
                        "global",
                        "badRequest",
                        "Invalid album ID: the album was not created by this app.",
                    ));
                }
            },
            None => None,
        };
        let mut results = Vec::new();
        let mut failed = 0;
        for n in new {
            let tok = n["simpleMediaItem"]["uploadToken"]
                .as_str()
                .unwrap_or("")
                .to_string();
            let ok = st
                .tokens
                .get(&tok)
                .is_some_and(|t| t.client == client && t.expires > Instant::now());
            if !ok {
                failed += 1;
                results.push(json!({"uploadToken": tok, "status": {"code": 3, "message": "Failed: There was an error while trying to create this media item."}}));
                continue;
            }
            let t = st.tokens.remove(&tok).expect("checked");
            let filename = n["simpleMediaItem"]["fileName"]
                .as_str()
                .map(str::to_string)
                .or(t.filename)
                .unwrap_or_else(|| "upload".into());
            let mime = t.mime.unwrap_or_else(|| guess_mime(&filename));
            st.seq += 1;
            let it = Item {
                id: rid("AH"),
                owner: Some(client.clone()),
                filename,
                mime,
                description: n["description"].as_str().map(str::to_string),
                blob: t.blob,
                size: t.size,
                created: Utc::now(),
                seq: st.seq,
            };
            if let Some(a) = &album {
                st.albums
                    .get_mut(a)
                    .expect("checked")
                    .items
                    .push(it.id.clone());
            }
            st.items.insert(it.id.clone(), it.clone());
            let j = item_json(&mut st, &base, &it);
            results.push(
                json!({"uploadToken": tok, "status": {"message": "Success"}, "mediaItem": j}),
            );
        }
        let status = if failed == 0 {
            StatusCode::OK
        } else {
            StatusCode::MULTI_STATUS
        };
        Ok((status, json!({"newMediaItemResults": results})))
    })();
    match r {
        Ok((s, v)) => (s, axum::Json(v)).into_response(),
        Err(e) => e.into_response(),
    }
}

fn guess_mime(name: &str) -> String {
    let ext = name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "jpg" | "jpeg" => "image/jpeg",
        "png" => "image/png",
        "gif" => "image/gif",
        "heic" => "image/heic",
        "webp" => "image/webp",
        "mp4" => "video/mp4",
        "mov" => "video/quicktime",
        _ => "image/jpeg",
    }
    .to_string()
}

fn visible(st: &PhotosState, client: &str) -> Vec<Item> {
    let mut v: Vec<Item> = st
        .items
        .values()
        .filter(|i| i.owner.as_deref() == Some(client))
        .cloned()
        .collect();
    v.sort_by_key(|i| std::cmp::Reverse(i.seq));
    v
}

async fn media_list(
    State(emu): State<Arc<Emu>>,
    base: Base,
    Caller(grant): Caller,
    Query(q): Q,
) -> GResult<axum::Json<Value>> {
    let client = grant.client_id;
    let mut st = lock(&emu.photos);
    let all = visible(&st, &client);
    let qj = query_json(&q);
    let (items, next) = page(&all, qj.get("pageSize"), qj.get("pageToken"), 25, 100)?;
    let items: Vec<Value> = items.iter().map(|i| item_json(&mut st, &base, i)).collect();
    let mut v = json!({"mediaItems": items});
    if let Some(n) = next {
        v["nextPageToken"] = json!(n);
    }
    Ok(axum::Json(v))
}

fn in_date(it: &Item, f: &Value) -> bool {
    let d = it.created.date_naive();
    let date = |v: &Value| {
        chrono::NaiveDate::from_ymd_opt(
            v["year"].as_i64().unwrap_or(0) as i32,
            v["month"].as_u64().unwrap_or(1).max(1) as u32,
            v["day"].as_u64().unwrap_or(1).max(1) as u32,
        )
    };
    let matches_date = |v: &Value| {
        let y = v["year"].as_i64().unwrap_or(0);
        let m = v["month"].as_u64().unwrap_or(0);
        let dd = v["day"].as_u64().unwrap_or(0);
        (y == 0 || y == d.format("%Y").to_string().parse::<i64>().unwrap_or(0))
            && (m == 0 || m == d.format("%m").to_string().parse::<u64>().unwrap_or(0))
            && (dd == 0 || dd == d.format("%d").to_string().parse::<u64>().unwrap_or(0))
    };
    let dates = f["dates"]
        .as_array()
        .map(|a| a.iter().any(matches_date))
        .unwrap_or(false);
    let ranges = f["ranges"].as_array().map(|a| {
        a.iter().any(|r| matches!((date(&r["startDate"]), date(&r["endDate"])), (Some(s), Some(e)) if s <= d && d <= e))
    });
    dates || ranges.unwrap_or(false)
}

async fn media_search(
    State(emu): State<Arc<Emu>>,
    base: Base,
    Caller(grant): Caller,
    body: axum::body::Bytes,
) -> GResult<axum::Json<Value>> {
    let client = grant.client_id;
    let b: Value = if body.is_empty() {
        json!({})
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| bad(format!("Invalid JSON payload received. {e}")))?
    };
    if b.get("albumId").is_some() && b.get("filters").is_some() {
        return Err(bad("albumId and filters cannot both be set."));
    }
    if b.get("orderBy").is_some() && b["filters"].get("dateFilter").is_none() {
        return Err(bad("orderBy can only be used with a dateFilter."));
    }
    let mut st = lock(&emu.photos);
    let mut all = match b["albumId"].as_str() {
        Some(a) => {
            let al = st
                .albums
                .get(a)
                .filter(|al| al.owner == client)
                .ok_or_else(|| not_found("album"))?;
            al.items
                .iter()
                .filter_map(|i| st.items.get(i).cloned())
                .collect()
        }
        None => visible(&st, &client),
    };
    let f = &b["filters"];
    if let Some(df) = f.get("dateFilter") {
        all.retain(|i| in_date(i, df));
    }
    if let Some(types) = f["mediaTypeFilter"]["mediaTypes"].as_array() {
        let t: Vec<&str> = types.iter().filter_map(Value::as_str).collect();
        if !t.contains(&"ALL_MEDIA") {
            all.retain(|i| {
                if i.is_video() {
                    t.contains(&"VIDEO")
                } else {
                    t.contains(&"PHOTO")
                }
            });
        }
    }
    if b["orderBy"].as_str() == Some("MediaMetadata.creation_time") {
        all.sort_by_key(|i| (i.created, i.seq));
    }
    let (items, next) = page(&all, b.get("pageSize"), b.get("pageToken"), 25, 100)?;
    let items: Vec<Value> = items.iter().map(|i| item_json(&mut st, &base, i)).collect();
    let mut v = json!({"mediaItems": items});
    if let Some(n) = next {
        v["nextPageToken"] = json!(n);
    }
    Ok(axum::Json(v))
}

async fn media_get(
    State(emu): State<Arc<Emu>>,
    base: Base,
    Caller(grant): Caller,
    Path(id): Path<String>,
) -> GResult<axum::Json<Value>> {
    let client = grant.client_id;
    let mut st = lock(&emu.photos);
    let it = st
        .items
        .get(&id)
        .filter(|i| i.owner.as_deref() == Some(client.as_str()))
        .cloned()
        .ok_or_else(|| not_found("media item"))?;
    Ok(axum::Json(item_json(&mut st, &base, &it)))
}

async fn media_batch_get(
    State(emu): State<Arc<Emu>>,
    base: Base,
    Caller(grant): Caller,
    uri: axum::http::Uri,
) -> GResult<axum::Json<Value>> {
    let client = grant.client_id;
    let ids: Vec<String> = url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
        .filter(|(k, _)| k == "mediaItemIds")
        .map(|(_, v)| v.into_owned())
        .collect();
    if ids.is_empty() || ids.len() > 50 {
        return Err(bad("Request must contain between 1 and 50 mediaItemIds."));
    }
    let mut st = lock(&emu.photos);
    let mut out = Vec::new();
    for id in ids {
        match st
            .items
            .get(&id)
            .filter(|i| i.owner.as_deref() == Some(client.as_str()))
            .cloned()
        {
            Some(it) => out.push(json!({"mediaItem": item_json(&mut st, &base, &it)})),
            None => out.push(json!({"status": {"code": 5, "message": "NOT_FOUND"}})),
        }
    }
    Ok(axum::Json(json!({"mediaItemResults": out})))
}

async fn media_patch(
    State(emu): State<Arc<Emu>>,
    base: Base,
    Caller(grant): Caller,
    Path(id): Path<String>,
    Query(q): Q,
    body: axum::body::Bytes,
) -> GResult<axum::Json<Value>> {
    let client = grant.client_id;
    if q.get("updateMask").map(String::as_str) != Some("description") {
        return Err(bad("updateMask must be description."));
    }
    let b: Value = serde_json::from_slice(&body)
        .map_err(|e| bad(format!("Invalid JSON payload received. {e}")))?;
    let mut st = lock(&emu.photos);
    let it = st
        .items
        .get_mut(&id)
        .filter(|i| i.owner.as_deref() == Some(client.as_str()))
        .ok_or_else(|| not_found("media item"))?;
    it.description = b["description"].as_str().map(str::to_string);
    let it = it.clone();
    Ok(axum::Json(item_json(&mut st, &base, &it)))
}

async fn album_list(
    State(emu): State<Arc<Emu>>,
    base: Base,
    Caller(grant): Caller,
    Query(q): Q,
) -> GResult<axum::Json<Value>> {
    let client = grant.client_id;
    let mut st = lock(&emu.photos);
    let all: Vec<Album> = st
        .albums
        .values()
        .filter(|a| a.owner == client)
        .cloned()
        .collect();
    let qj = query_json(&q);
    let (albums, next) = page(&all, qj.get("pageSize"), qj.get("pageToken"), 20, 50)?;
    let albums: Vec<Value> = albums
        .iter()
        .map(|a| album_json(&mut st, &base, a))
        .collect();
    let mut v = json!({"albums": albums});
    if let Some(n) = next {
        v["nextPageToken"] = json!(n);
    }
    Ok(axum::Json(v))
}

async fn album_create(
    State(emu): State<Arc<Emu>>,
    base: Base,
    Caller(grant): Caller,
    body: axum::body::Bytes,
) -> GResult<axum::Json<Value>> {
    let client = grant.client_id;
    let b: Value = serde_json::from_slice(&body)
        .map_err(|e| bad(format!("Invalid JSON payload received. {e}")))?;
    let title = b["album"]["title"].as_str().unwrap_or("").to_string();
    if title.is_empty() || title.chars().count() > 500 {
        return Err(bad("The album title must be 1 to 500 characters long."));
    }
    let mut st = lock(&emu.photos);
    let a = Album {
        id: rid("AA"),
        owner: client,
        title,
        items: vec![],
        cover: None,
    };
    st.albums.insert(a.id.clone(), a.clone());
    Ok(axum::Json(album_json(&mut st, &base, &a)))
}

async fn album_get(
    State(emu): State<Arc<Emu>>,
    base: Base,
    Caller(grant): Caller,
    Path(id): Path<String>,
) -> GResult<axum::Json<Value>> {
    let client = grant.client_id;
    let mut st = lock(&emu.photos);
    let a = st
        .albums
        .get(&id)
        .filter(|a| a.owner == client)
        .cloned()
        .ok_or_else(|| not_found("album"))?;
    Ok(axum::Json(album_json(&mut st, &base, &a)))
}

async fn album_patch(
    State(emu): State<Arc<Emu>>,
    base: Base,
    Caller(grant): Caller,
    Path(id): Path<String>,
    Query(q): Q,
    body: axum::body::Bytes,
) -> GResult<axum::Json<Value>> {
    let client = grant.client_id;
    let b: Value = serde_json::from_slice(&body)
        .map_err(|e| bad(format!("Invalid JSON payload received. {e}")))?;
    let mask = q.get("updateMask").cloned().unwrap_or_default();
    let mut st = lock(&emu.photos);
    let a = st
        .albums
        .get_mut(&id)
        .filter(|a| a.owner == client)
        .ok_or_else(|| not_found("album"))?;
    for f in mask.split(',') {
        match f.trim() {
            "title" => a.title = b["title"].as_str().unwrap_or(&a.title).to_string(),
            "coverPhotoMediaItemId" => {
                a.cover = b["coverPhotoMediaItemId"].as_str().map(str::to_string)
            }
            "" => {}
            other => return Err(bad(format!("Invalid updateMask field: {other}"))),
        }
    }
    let a = a.clone();
    Ok(axum::Json(album_json(&mut st, &base, &a)))
}

/// `albums/{id}:batchAddMediaItems`, `:batchRemoveMediaItems`, `:share`, `:unshare`, `:addEnrichment`.
async fn album_action(
    State(emu): State<Arc<Emu>>,
    headers: HeaderMap,
    Path(id_action): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let Some((id, action)) = id_action.split_once(':') else {
        return bad("unknown album method").into_response();
    };
    let r = (|| -> GResult<Value> {
        match action {
            "share" | "unshare" => {
                return Err(GError::forbidden(
                    "global",
                    "forbidden",
                    "The caller does not have permission",
                ));
            }
            "batchAddMediaItems" | "batchRemoveMediaItems" | "addEnrichment" => {}
            other => return Err(bad(format!("unknown album method {other}"))),
        }
        let scopes: &[&str] = if action == "batchRemoveMediaItems" {
            &[EDIT]
        } else {
            &[APPEND, EDIT]
        };
        let client = auth(
            &emu,
            &headers,
            &format!("google.photos.library.v1.PhotosLibrary.{action}"),
            scopes,
        )?;
        let b: Value = serde_json::from_slice(&body)
            .map_err(|e| bad(format!("Invalid JSON payload received. {e}")))?;
        let mut st = lock(&emu.photos);
        if st.albums.get(id).is_none_or(|a| a.owner != client) {
            return Err(not_found("album"));
        }
        if action == "addEnrichment" {
            return Ok(json!({"enrichmentItem": {"id": rid("E")}}));
        }
        let ids: Vec<String> = b["mediaItemIds"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        if ids.is_empty() || ids.len() > 50 {
            return Err(bad("Request must contain between 1 and 50 mediaItemIds."));
        }
        // All or nothing: every id must be an item this app created.
        if ids.iter().any(|i| {
            st.items
                .get(i)
                .is_none_or(|it| it.owner.as_deref() != Some(client.as_str()))
        }) {
            return Err(bad("Request contains an invalid media item id."));
        }
        let a = st.albums.get_mut(id).expect("checked");
        if action == "batchAddMediaItems" {
            for i in ids {
                if !a.items.contains(&i) {
                    a.items.push(i);
                }
            }
        } else {
            a.items.retain(|i| !ids.contains(i));
        }
        Ok(json!({}))
    })();
    r.map(axum::Json).into_response()
}

async fn sharing_gone() -> Response {
    GError::forbidden("global", "forbidden", "The caller does not have permission").into_response()
}

/// `baseUrl=d`, `=dv`, `=wW-hH…`: the original bytes (sizing is not emulated), 403 once the URL expired.
async fn base_url_get(
    State(emu): State<Arc<Emu>>,
    headers: HeaderMap,
    Path(rest): Path<String>,
) -> Response {
    let (token, _params) = rest.split_once('=').unwrap_or((&rest, ""));
    let found = {
        let st = lock(&emu.photos);
        st.base_urls
            .get(token)
            .cloned()
            .and_then(|(id, exp)| st.items.get(&id).cloned().map(|it| (it, exp)))
    };
    match found {
        Some((it, exp)) if exp > Instant::now() => {
            crate::serve::blob_response(&emu, &it.blob, it.size, &it.mime, None, &headers).await
        }
        Some(_) => (
            StatusCode::FORBIDDEN,
            "This base URL has expired; fetch the media item again for a new one.",
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "unknown base URL").into_response(),
    }
}

/// The Google Photos Library API as an emulated service.
pub struct Photos;

impl crate::service::Service for Photos {
    fn key(&self) -> &'static str {
        "photos"
    }
    fn title(&self) -> &'static str {
        "Google Photos Library API (app-created items and albums, uploads, batchCreate)"
    }
    fn hosts(&self) -> &'static [(&'static str, crate::service::Family)] {
        use crate::service::Family::{GoogleApi, Plain};
        &[
            ("photoslibrary.googleapis.com", GoogleApi),
            ("lh3.googleusercontent.com", Plain),
        ]
    }
    fn entry_points(&self) -> &'static [(&'static str, &'static str)] {
        &[
            ("API", "photoslibrary.googleapis.com/v1/"),
            (
                "discovery document",
                "photoslibrary.googleapis.com/$discovery/rest",
            ),
        ]
    }
    fn routes(&self) -> Router<Arc<Emu>> {
        routes()
    }
    fn snapshot(&self, st: &Emu) -> Option<Value> {
        crate::service::to_value(&lock(&st.photos).snapshot())
    }
    fn restore(&self, st: &Emu, saved: Value) -> Result<(), String> {
        lock(&st.photos).restore(crate::service::from_value(saved)?);
        Ok(())
    }
    fn change_mark(&self, st: &Emu) -> u64 {
        let p = lock(&st.photos);
        (p.items.len() + p.albums.len()) as u64
    }
}
