//! Uploads: `uploadType=media`, `multipart` (multipart/related: JSON metadata then the media) and
//! `resumable` (initiate → session URI in `Location`; PUT chunks with `Content-Range`; 308 with `Range` for what
//! is committed; `bytes */N` asks for the status). Chunks commit in 256 KiB units, so a connection broken
//! mid-chunk keeps every whole 256 KiB block received and the client resumes from there.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{patch, post};
use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio::io::{AsyncSeekExt, AsyncWriteExt};

use super::files::{NewFile, create_file, render, update_file};
use super::{GOOGLE_APPS, Session, WRITE_SCOPES, all_drives, auth};
use crate::State as Emu;
use crate::blob::{BlobHashes, Hasher, StoreError};
use crate::faults::{broken_response, lock};
use crate::google::error::{GError, GResult};
use crate::hosts::Base;

const UNIT: u64 = 256 * 1024;
const MAX_UPLOAD: u64 = 5_497_558_138_880;

pub(super) fn routes() -> Router<Arc<Emu>> {
    Router::new()
        .route(
            "/www.googleapis.com/upload/drive/v3/files",
            post(upload_create).put(session_put),
        )
        .route(
            "/www.googleapis.com/upload/drive/v3/files/{id}",
            patch(upload_update).put(session_put_id),
        )
        .route(
            "/www.googleapis.com/resumable/upload/drive/v3/files",
            post(upload_create).put(session_put),
        )
}

type Q = Query<HashMap<String, String>>;

fn store_error(e: StoreError) -> Response {
    match e {
        StoreError::TooLarge => GError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "global",
            "uploadTooLarge",
            "The file is too large.",
        )
        .into_response(),
        StoreError::Body(_) => broken_response(),
        StoreError::Io(e) => GError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "global",
            "internalError",
            e.to_string(),
        )
        .into_response(),
    }
}

fn content_type(h: &HeaderMap) -> Option<String> {
    h.get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.split(';').next().unwrap_or(s).trim().to_string())
}

async fn upload_create(
    State(emu): State<Arc<Emu>>,
    base: Base,
    headers: HeaderMap,
    Query(q): Q,
    body: Body,
) -> Response {
    // The session URI takes chunks by POST as well as PUT: rclone sends them by POST and Google accepts it.
    if q.contains_key("upload_id") {
        return session_put(State(emu), base, headers, Query(q), body).await;
    }
    upload(emu, base, headers, q, body, None).await
}

async fn upload_update(
    State(emu): State<Arc<Emu>>,
    base: Base,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Q,
    body: Body,
) -> Response {
    if q.contains_key("upload_id") {
        return session_put(State(emu), base, headers, Query(q), body).await;
    }
    upload(emu, base, headers, q, body, Some(id)).await
}

async fn upload(
    emu: Arc<Emu>,
    base: Base,
    headers: HeaderMap,
    q: HashMap<String, String>,
    body: Body,
    target: Option<String>,
) -> Response {
    let method = if target.is_some() {
        "google.apps.drive.v3.DriveFiles.Update"
    } else {
        "google.apps.drive.v3.DriveFiles.Create"
    };
    let user = match auth(&emu, &headers, &q, method, WRITE_SCOPES) {
        Ok(g) => g.user,
        Err(e) => return e.into_response(),
    };
    if let Err(e) = crate::quota::quotas(&emu).drive_upload_allowed(&user) {
        return e.into_response();
    }
    let all = all_drives(&q);
    if let Some(t) = &target
        && let Err(e) = lock(&emu.drive).get(t, all)
    {
        return e.into_response();
    }
    match q.get("uploadType").map(String::as_str) {
        Some("media") => {
            let ct = content_type(&headers);
            match emu.blobs.store(body.into_data_stream(), MAX_UPLOAD).await {
                Ok(b) => {
                    finish(
                        &emu,
                        &base,
                        &user,
                        json!({}),
                        target,
                        b,
                        ct,
                        all,
                        q.get("fields").cloned(),
                    )
                    .await
                }
                Err(e) => store_error(e),
            }
        }
        Some("multipart") | Some("related") => {
            multipart(emu, base, headers, q, body, target, all, &user).await
        }
        Some("resumable") => initiate(emu, base, headers, q, body, target, all, user).await,
        Some(other) => GError::invalid_param("uploadType", format!("Invalid upload type: {other}"))
            .into_response(),
        None => GError::bad_request(
            "Media upload requires the uploadType parameter (media, multipart or resumable).",
        )
        .into_response(),
    }
}

#[allow(clippy::too_many_arguments)]
async fn multipart(
    emu: Arc<Emu>,
    base: Base,
    headers: HeaderMap,
    q: HashMap<String, String>,
    body: Body,
    target: Option<String>,
    all: bool,
    user: &str,
) -> Response {
    use crate::multipart::{Related, boundary};
    let raw_ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let Some(b) = boundary(raw_ct) else {
        return GError::bad_request("Content-Type must be multipart/related with a boundary.")
            .into_response();
    };
    let mut r = Related::new(body.into_data_stream(), &b);
    let bad = |m: String| GError::bad_request(m).into_response();
    let meta: Value = match r.next_part().await {
        Ok(Some(_)) => match r.read_part(1 << 20).await {
            Ok(bytes) if bytes.iter().all(u8::is_ascii_whitespace) => json!({}),
            Ok(bytes) => match serde_json::from_slice(&bytes) {
                Ok(v) => v,
                Err(e) => return bad(format!("Invalid JSON payload received. {e}")),
            },
            Err(e) => return bad(format!("Malformed multipart body: {e}")),
        },
        Ok(None) => return bad("Multipart body has no metadata part.".into()),
        Err(e) => return bad(format!("Malformed multipart body: {e}")),
    };
    let ct = match r.next_part().await {
        Ok(Some(h)) => h
            .iter()
            .find(|(k, _)| k == "content-type")
            .map(|(_, v)| v.split(';').next().unwrap_or(v).trim().to_string()),
        Ok(None) => return bad("Multipart body has no media part.".into()),
        Err(e) => return bad(format!("Malformed multipart body: {e}")),
    };
    match emu.blobs.store(r.stream_part(), MAX_UPLOAD).await {
        Ok(b) => {
            finish(
                &emu,
                &base,
                user,
                meta,
                target,
                b,
                ct,
                all,
                q.get("fields").cloned(),
            )
            .await
        }
        Err(StoreError::Body(m)) => bad(format!("Malformed multipart body: {m}")),
        Err(e) => store_error(e),
    }
}

/// Creates the file (or replaces the target's content) from a stored blob and renders it.
#[allow(clippy::too_many_arguments)]
async fn finish(
    emu: &Emu,
    base: &Base,
    user: &str,
    meta: Value,
    target: Option<String>,
    blob: (String, u64, BlobHashes),
    ct: Option<String>,
    all: bool,
    fields: Option<String>,
) -> Response {
    let key = blob.0.clone();
    let converting = meta
        .get("mimeType")
        .and_then(Value::as_str)
        .is_some_and(|m| m.starts_with(GOOGLE_APPS));
    let doc_text = if converting && blob.1 <= 10 * 1024 * 1024 {
        tokio::fs::read(emu.blobs.path(&key))
            .await
            .ok()
            .map(|b| String::from_utf8_lossy(&b).into_owned())
    } else {
        None
    };
    let res: GResult<(Value, Option<String>)> = (|| {
        let mut st = lock(&emu.drive);
        match &target {
            None => {
                let id = create_file(
                    &mut st,
                    emu,
                    &meta,
                    NewFile {
                        blob: Some(blob.clone()),
                        content_type: ct,
                        doc_text,
                    },
                    all,
                )?;
                let keep = st.files[&id].blob.is_some();
                Ok((
                    render(&st, &st.files[&id], base, fields.as_ref())?,
                    if keep { None } else { Some(key.clone()) },
                ))
            }
            Some(t) => {
                let mut f = st.get(t, all)?.clone();
                if f.is_folder() {
                    return Err(GError::forbidden(
                        "global",
                        "fileNotModifiable",
                        "A folder has no content.",
                    ));
                }
                if f.drive_id.is_none() {
                    let used = st.used();
                    if used - f.size.unwrap_or(0) + blob.1 > emu.settings().drive_quota {
                        return Err(GError::forbidden(
                            "usageLimits",
                            "storageQuotaExceeded",
                            "The user's Drive storage quota has been exceeded.",
                        ));
                    }
                }
                let old = f.blob.replace(key.clone());
                f.size = Some(blob.1);
                f.hashes = Some(blob.2.clone());
                f.modified = chrono::Utc::now();
                if let Some(c) = ct.filter(|_| meta.get("mimeType").is_none()) {
                    f.mime = c;
                }
                let id = f.id.clone();
                st.insert(f);
                update_file(&mut st, &id, &meta, &HashMap::new(), all)?;
                Ok((render(&st, &st.files[&id], base, fields.as_ref())?, old))
            }
        }
    })();
    match res {
        Ok((v, drop_blob)) => {
            crate::quota::quotas(emu).drive_uploaded(user, blob.1);
            if let Some(k) = drop_blob {
                emu.blobs.remove(&k).await;
            }
            axum::Json(v).into_response()
        }
        Err(e) => {
            emu.blobs.remove(&key).await;
            e.into_response()
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn initiate(
    emu: Arc<Emu>,
    base: Base,
    headers: HeaderMap,
    q: HashMap<String, String>,
    body: Body,
    target: Option<String>,
    all: bool,
    user: String,
) -> Response {
    let bytes = match axum::body::to_bytes(body, 1 << 20).await {
        Ok(b) => b,
        Err(_) => return GError::bad_request("Metadata too large.").into_response(),
    };
    let meta: Value = if bytes.is_empty() {
        json!({})
    } else {
        match serde_json::from_slice(&bytes) {
            Ok(v) => v,
            Err(e) => {
                return GError::bad_request(format!("Invalid JSON payload received. {e}"))
                    .into_response();
            }
        }
    };
    let total = headers
        .get("x-upload-content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    {
        let st = lock(&emu.drive);
        if target.is_none() {
            for p in meta
                .get("parents")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let id = p.as_str().unwrap_or("");
                match st.get(id, all) {
                    Ok(f) if f.is_folder() => {}
                    _ => {
                        return GError::file_not_found(id)
                            .at("parents", "parameter")
                            .into_response();
                    }
                }
            }
        }
        if let Some(t) = total {
            let used = st.used();
            if used + t > emu.settings().drive_quota {
                return GError::forbidden(
                    "usageLimits",
                    "storageQuotaExceeded",
                    "The user's Drive storage quota has been exceeded.",
                )
                .into_response();
            }
        }
    }
    let key = emu.blobs.new_key();
    if let Err(e) = tokio::fs::File::create(emu.blobs.path(&key)).await {
        return GError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "global",
            "internalError",
            e.to_string(),
        )
        .into_response();
    }
    let upload_id = format!("ADPyc{}", super::new_id());
    let path = match &target {
        Some(t) => format!("/upload/drive/v3/files/{t}?uploadType=resumable&upload_id={upload_id}"),
        None => format!("/upload/drive/v3/files?uploadType=resumable&upload_id={upload_id}"),
    };
    let session = Session {
        metadata: meta,
        target,
        total,
        content_type: headers
            .get("x-upload-content-type")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
        blob: key,
        committed: 0,
        hasher: Hasher::default(),
        done: None,
        fields: q.get("fields").cloned(),
        all_drives: all,
        user,
    };
    lock(&emu.drive).sessions.insert(
        upload_id.clone(),
        Arc::new(tokio::sync::Mutex::new(session)),
    );
    let mut r = StatusCode::OK.into_response();
    r.headers_mut().insert(
        header::LOCATION,
        base.url("www.googleapis.com", &path).parse().unwrap(),
    );
    r.headers_mut()
        .insert("x-guploader-uploadid", upload_id.parse().unwrap());
    r
}

enum Range {
    /// No Content-Range: the whole content in this request.
    Whole,
    /// `bytes */T`: status query.
    Query(Option<u64>),
    /// `bytes a-b/T`.
    Chunk(u64, u64, Option<u64>),
}

fn parse_content_range(h: &HeaderMap) -> Result<Range, ()> {
    let Some(v) = h.get(header::CONTENT_RANGE).and_then(|v| v.to_str().ok()) else {
        return Ok(Range::Whole);
    };
    let spec = v.trim().strip_prefix("bytes ").ok_or(())?.trim();
    let (r, t) = spec.split_once('/').ok_or(())?;
    let total = if t == "*" {
        None
    } else {
        Some(t.parse().map_err(|_| ())?)
    };
    if r == "*" {
        return Ok(Range::Query(total));
    }
    let (a, b) = r.split_once('-').ok_or(())?;
    let (a, b): (u64, u64) = (a.parse().map_err(|_| ())?, b.parse().map_err(|_| ())?);
    if b < a {
        return Err(());
    }
    Ok(Range::Chunk(a, b, total))
}

fn incomplete(committed: u64) -> Response {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = StatusCode::PERMANENT_REDIRECT;
    if committed > 0 {
        r.headers_mut().insert(
            header::RANGE,
            format!("bytes=0-{}", committed - 1).parse().unwrap(),
        );
    }
    r.headers_mut().insert(header::CONTENT_LENGTH, 0.into());
    r
}

async fn session_put_id(
    State(emu): State<Arc<Emu>>,
    base: Base,
    headers: HeaderMap,
    Path(_id): Path<String>,
    Query(q): Q,
    body: Body,
) -> Response {
    session_put(State(emu), base, headers, Query(q), body).await
}

async fn session_put(
    State(emu): State<Arc<Emu>>,
    base: Base,
    headers: HeaderMap,
    Query(q): Q,
    body: Body,
) -> Response {
    let Some(upload_id) = q.get("upload_id").cloned() else {
        return GError::bad_request("Missing upload_id.").into_response();
    };
    let range = match parse_content_range(&headers) {
        Ok(r) => r,
        Err(()) => {
            return GError::bad_request("Failed to parse Content-Range header.").into_response();
        }
    };
    let Some(session) = lock(&emu.drive).sessions.get(&upload_id).cloned() else {
        return GError::new(
            StatusCode::NOT_FOUND,
            "global",
            "notFound",
            "Upload session not found or expired. Start a new upload.",
        )
        .into_response();
    };
    // One request at a time per session: a status query waits for an in-flight chunk (for example one whose
    // client just died) to end. The session stays in the map, so a dropped request loses nothing.
    let mut s = session.lock().await;
    chunk(&emu, &base, &headers, &mut s, range, body).await
}

async fn chunk(
    emu: &Emu,
    base: &Base,
    headers: &HeaderMap,
    s: &mut Session,
    range: Range,
    body: Body,
) -> Response {
    if let Some(id) = &s.done {
        let st = lock(&emu.drive);
        return match st.files.get(id) {
            Some(f) => render(&st, f, base, s.fields.as_ref())
                .map(axum::Json)
                .into_response(),
            None => GError::file_not_found(id).into_response(),
        };
    }
    let content_len = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let (start, declared) = match range {
        Range::Query(t) => {
            if t.is_some() {
                s.total = t;
            }
            return incomplete(s.committed);
        }
        Range::Whole => (0, content_len.or(s.total)),
        Range::Chunk(a, b, t) => {
            if let (Some(t), true) = (t, b >= t.unwrap_or(u64::MAX)) {
                return GError::bad_request(format!(
                    "Invalid Content-Range: last byte {b} is past the total size {t}."
                ))
                .into_response();
            }
            (a, t.or(s.total))
        }
    };
    if declared.is_some() {
        s.total = declared;
    }
    if start > s.committed {
        return GError::bad_request(format!(
            "Invalid request. According to the Content-Range header, the upload offset is {start} byte(s), which exceeds already uploaded size of {} byte(s).",
            s.committed
        ))
        .into_response();
    }
    let drop_after = lock(&emu.faults).take_upload_drop();
    let path = emu.blobs.path(&s.blob);
    let mut skip = s.committed - start;
    let mut tail: Vec<u8> = Vec::with_capacity(UNIT as usize);
    let mut received = s.committed;
    let mut seen = 0u64;
    let mut dropped = false;
    let mut body_ok = true;
    let io = async {
        let mut f = tokio::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .await?;
        f.set_len(s.committed).await?;
        f.seek(std::io::SeekFrom::Start(s.committed)).await?;
        let mut f = tokio::io::BufWriter::with_capacity(1 << 20, f);
        let mut stream = body.into_data_stream();
        while let Some(c) = stream.next().await {
            let Ok(mut c) = c else {
                body_ok = false;
                break;
            };
            if let Some(limit) = drop_after {
                if seen >= limit {
                    dropped = true;
                    break;
                }
                if seen + c.len() as u64 > limit {
                    c = c.slice(..(limit - seen) as usize);
                }
            }
            seen += c.len() as u64;
            lock(&emu.drive).resumable_bytes += c.len() as u64;
            let mut c: Bytes = c;
            if skip > 0 {
                let n = skip.min(c.len() as u64) as usize;
                skip -= n as u64;
                c = c.slice(n..);
            }
            if c.is_empty() {
                continue;
            }
            if let Some(t) = s.total
                && received + c.len() as u64 > t
            {
                return Err(std::io::Error::other("more bytes than the declared total"));
            }
            f.write_all(&c).await?;
            received += c.len() as u64;
            let mut rest = &c[..];
            while !rest.is_empty() {
                let take = ((UNIT as usize) - tail.len()).min(rest.len());
                tail.extend_from_slice(&rest[..take]);
                rest = &rest[take..];
                if tail.len() == UNIT as usize {
                    // A unit counts as committed only once it is on disk, so a dropped request never leaves
                    // the session claiming bytes the blob lacks.
                    f.flush().await?;
                    s.hasher.update(&tail);
                    s.committed += UNIT;
                    tail.clear();
                }
            }
        }
        if drop_after.is_some_and(|l| seen >= l) {
            dropped = true;
        }
        f.flush().await?;
        Ok::<_, std::io::Error>(())
    }
    .await;
    if let Err(e) = io {
        return GError::bad_request(format!("Invalid request: {e}.")).into_response();
    }
    let complete = body_ok
        && !dropped
        && match s.total {
            Some(t) => received == t,
            None => matches!(range, Range::Whole),
        };
    if complete {
        s.hasher.update(&tail);
        s.committed = received;
        let hashes = std::mem::take(&mut s.hasher).finish();
        let blob = (s.blob.clone(), received, hashes);
        let resp = finish(
            emu,
            base,
            &s.user,
            s.metadata.clone(),
            s.target.clone(),
            blob,
            s.content_type.clone(),
            s.all_drives,
            s.fields.clone(),
        )
        .await;
        if resp.status().is_success() {
            let st = lock(&emu.drive);
            s.done = st
                .files
                .values()
                .find(|f| f.blob.as_deref() == Some(s.blob.as_str()))
                .map(|f| f.id.clone())
                .or_else(|| s.target.clone());
        }
        return resp;
    }
    let committed = s.committed;
    if let Ok(f) = std::fs::OpenOptions::new().write(true).open(&path) {
        let _ = f.set_len(committed);
    }
    if dropped || !body_ok {
        tracing::info!("resumable chunk broken after {seen} bytes; committed {committed}");
        return broken_response();
    }
    incomplete(committed)
}
