//! `files.*`: list, get (metadata and `alt=media` with Range), create (metadata only), update, copy, delete,
//! emptyTrash, generateIds, export; and the public `drive.google.com/uc` download of shared files.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use base64::Engine;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::fields::{Mask, validate_file_mask};
use super::query::{self, Expr};
use super::{
    API, CONTENT_SCOPES, DriveState, FOLDER, File, GOOGLE_APPS, READ_SCOPES, WRITE_SCOPES,
    all_drives, auth, export_formats, json_body, new_id, owner_permission, qbool,
};
use crate::State as Emu;
use crate::blob::BlobHashes;
use crate::faults::lock;
use crate::google::api::{Caller, Method};
use crate::google::error::{GError, GResult};
use crate::hosts::Base;

pub(super) fn routes() -> Router<Arc<Emu>> {
    Router::new()
        .route(
            "/www.googleapis.com/drive/v3/files",
            get(Method::new(API, "google.apps.drive.v3.DriveFiles.List", READ_SCOPES).on(list))
                .post(
                    Method::new(API, "google.apps.drive.v3.DriveFiles.Create", WRITE_SCOPES)
                        .on(create),
                ),
        )
        .route(
            "/www.googleapis.com/drive/v3/files/generateIds",
            get(Method::new(
                API,
                "google.apps.drive.v3.DriveFiles.GenerateIds",
                WRITE_SCOPES,
            )
            .on(generate_ids)),
        )
        .route(
            "/www.googleapis.com/drive/v3/files/trash",
            delete(
                Method::new(
                    API,
                    "google.apps.drive.v3.DriveFiles.EmptyTrash",
                    &["drive"],
                )
                .on(empty_trash),
            ),
        )
        .route(
            "/www.googleapis.com/drive/v3/files/{id}",
            get(get_file)
                .patch(
                    Method::new(API, "google.apps.drive.v3.DriveFiles.Update", WRITE_SCOPES)
                        .on(update),
                )
                .delete(
                    Method::new(API, "google.apps.drive.v3.DriveFiles.Delete", WRITE_SCOPES)
                        .on(delete_file),
                ),
        )
        .route(
            "/www.googleapis.com/drive/v3/files/{id}/copy",
            post(Method::new(API, "google.apps.drive.v3.DriveFiles.Copy", WRITE_SCOPES).on(copy)),
        )
        .route(
            "/www.googleapis.com/drive/v3/files/{id}/export",
            get(Method::new(
                API,
                "google.apps.drive.v3.DriveFiles.Export",
                CONTENT_SCOPES,
            )
            .on(export)),
        )
        .route("/drive.google.com/uc", get(public_download))
        .route("/__admin/drive/abusive/{id}", post(mark_abusive))
        .route("/__admin/drive/seed", post(seed))
}

type Q = Query<HashMap<String, String>>;

/// Renders a file with the request's `fields` (default `kind,id,name,mimeType`).
pub(super) fn render(
    st: &DriveState,
    f: &File,
    base: &Base,
    fields: Option<&String>,
) -> GResult<Value> {
    let mask = match fields {
        Some(s) if !s.is_empty() => {
            let m = Mask::parse(s).map_err(|t| {
                GError::invalid_param("fields", format!("Invalid field selection {t}"))
            })?;
            validate_file_mask(&m, "").map_err(|t| {
                GError::invalid_param("fields", format!("Invalid field selection {t}"))
            })?;
            m
        }
        _ => Mask::parse("kind,id,name,mimeType").expect("static mask"),
    };
    let all = mask.0.contains_key("*");
    let mut full = super::file_json_with(st, f, base, &|k| all || mask.0.contains_key(k));
    if mask.0.contains_key("permissions") {
        full["permissions"] = json!(
            f.permissions
                .iter()
                .map(super::permission_json)
                .collect::<Vec<_>>()
        );
    }
    Ok(mask.apply(&full))
}

/// What a new file is made of.
#[derive(Debug, Default)]
pub(super) struct NewFile {
    pub blob: Option<(String, u64, BlobHashes)>,
    pub content_type: Option<String>,
    pub doc_text: Option<String>,
}

fn parse_time(v: &Value, field: &str) -> GResult<Option<DateTime<Utc>>> {
    match v.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => DateTime::parse_from_rfc3339(s)
            .map(|t| Some(t.to_utc()))
            .map_err(|_| GError::invalid_param(field, format!("Invalid value for: {field}"))),
        Some(_) => Err(GError::invalid_param(
            field,
            format!("Invalid value for: {field}"),
        )),
    }
}

fn string_map(v: &Value, field: &str) -> GResult<BTreeMap<String, String>> {
    match v.get(field) {
        None | Some(Value::Null) => Ok(BTreeMap::new()),
        Some(Value::Object(o)) => Ok(o
            .iter()
            .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string())))
            .collect()),
        Some(_) => Err(GError::bad_request(format!("Invalid value for: {field}"))),
    }
}

/// Creates a file from metadata (and content), checking parents, ids and quota. Returns its id.
pub(super) fn create_file(
    st: &mut DriveState,
    emu: &Emu,
    meta: &Value,
    new: NewFile,
    all_drives: bool,
) -> GResult<String> {
    if !meta.is_object() && !meta.is_null() {
        return Err(GError::bad_request(
            "Invalid JSON payload: the body must be a File object.",
        ));
    }
    let parents: Vec<String> = match meta.get("parents") {
        None | Some(Value::Null) => vec![st.root_id.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|p| p.as_str().map(|s| st.real_id(s).to_string()))
            .collect(),
        Some(_) => return Err(GError::bad_request("Invalid value for: parents")),
    };
    if parents.len() > 1 {
        return Err(GError::forbidden(
            "global",
            "cannotAddParent",
            "Increasing the number of parents is not allowed.",
        ));
    }
    let parent = parents
        .first()
        .cloned()
        .unwrap_or_else(|| st.root_id.clone());
    let p = st
        .get(&parent, all_drives)
        .map_err(|_| GError::file_not_found(&parent).at("parents", "parameter"))?;
    if !p.is_folder() {
        return Err(GError::forbidden(
            "global",
            "invalidParent",
            "The specified parent is not a folder.",
        ));
    }
    let drive_id = p.drive_id.clone();
    let id = match meta.get("id").and_then(Value::as_str) {
        Some(id) => {
            if st.files.contains_key(id) {
                return Err(GError::new(
                    StatusCode::CONFLICT,
                    "global",
                    "duplicate",
                    "A file already exists with the provided ID.",
                ));
            }
            if !st.generated.remove(id) {
                return Err(GError::bad_request("The provided file ID is not usable.")
                    .at("file.id", "parameter"));
            }
            id.to_string()
        }
        None => new_id(),
    };
    let size = new.blob.as_ref().map(|b| b.1);
    if drive_id.is_none()
        && let Some(size) = size
    {
        let used = st.used();
        if used + size > emu.settings().drive_quota {
            return Err(GError::forbidden(
                "usageLimits",
                "storageQuotaExceeded",
                "The user's Drive storage quota has been exceeded.",
            ));
        }
    }
    let mime = meta
        .get("mimeType")
        .and_then(Value::as_str)
        .map(str::to_string)
        .or(new.content_type.clone())
        .unwrap_or_else(|| "application/octet-stream".into());
    let now = Utc::now();
    let name = meta
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or("Untitled")
        .to_string();
    let converted = mime.starts_with(GOOGLE_APPS) && mime != FOLDER;
    let (blob, size, hashes) = match (&new.blob, converted) {
        (Some((k, s, h)), false) => (Some(k.clone()), Some(*s), Some(h.clone())),
        _ => (None, None, None),
    };
    let f = File {
        id: id.clone(),
        name: name.clone(),
        mime,
        parents: vec![parent],
        blob,
        size,
        hashes,
        created: parse_time(meta, "createdTime")?.unwrap_or(now),
        modified: parse_time(meta, "modifiedTime")?.unwrap_or(now),
        explicitly_trashed: meta
            .get("trashed")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        starred: meta
            .get("starred")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        description: meta
            .get("description")
            .and_then(Value::as_str)
            .map(str::to_string),
        properties: string_map(meta, "properties")?,
        app_properties: string_map(meta, "appProperties")?,
        drive_id,
        version: 1,
        permissions: vec![owner_permission()],
        comments: vec![],
        original_filename: meta
            .get("originalFilename")
            .and_then(Value::as_str)
            .map(str::to_string)
            .or(Some(name)),
        abusive: false,
        doc_text: if converted {
            new.doc_text.or(Some(String::new()))
        } else {
            None
        },
        seq: 0,
    };
    st.insert(f);
    Ok(id)
}

/// Applies a metadata patch (and parent changes) to a file.
pub(super) fn update_file(
    st: &mut DriveState,
    id: &str,
    meta: &Value,
    q: &HashMap<String, String>,
    all_drives: bool,
) -> GResult<()> {
    let mut f = st.get(id, all_drives)?.clone();
    if f.id == st.root_id {
        return Err(GError::forbidden(
            "global",
            "cannotModifyRoot",
            "The root folder cannot be modified.",
        ));
    }
    if let Some(n) = meta.get("name") {
        f.name = n
            .as_str()
            .ok_or_else(|| GError::bad_request("Invalid value for: name"))?
            .to_string();
    }
    if let Some(m) = meta.get("mimeType").and_then(Value::as_str)
        && m != f.mime
    {
        if m == FOLDER || f.is_folder() {
            return Err(GError::forbidden(
                "global",
                "fileWriterTeamDriveMoveInDriveDisabled",
                "The MIME type of a folder cannot be changed.",
            ));
        }
        f.mime = m.to_string();
    }
    if let Some(d) = meta.get("description") {
        f.description = d.as_str().map(str::to_string);
    }
    if let Some(s) = meta.get("starred").and_then(Value::as_bool) {
        f.starred = s;
    }
    if let Some(t) = meta.get("trashed").and_then(Value::as_bool) {
        f.explicitly_trashed = t;
    }
    if let Some(t) = parse_time(meta, "modifiedTime")? {
        f.modified = t;
    }
    for (field, map) in [
        ("properties", &mut f.properties),
        ("appProperties", &mut f.app_properties),
    ] {
        if let Some(Value::Object(o)) = meta.get(field) {
            for (k, v) in o {
                match v.as_str() {
                    Some(s) => {
                        map.insert(k.clone(), s.to_string());
                    }
                    None => {
                        map.remove(k);
                    }
                }
            }
        }
    }
    if meta.get("parents").is_some() {
        return Err(GError::forbidden(
            "global",
            "fieldNotWritable",
            "The resource body includes fields which are not directly writable.",
        ));
    }
    let split = |k: &str| -> Vec<String> {
        q.get(k)
            .map(|s| {
                s.split(',')
                    .filter(|x| !x.is_empty())
                    .map(|x| st.real_id(x).to_string())
                    .collect()
            })
            .unwrap_or_default()
    };
    let (add, remove) = (split("addParents"), split("removeParents"));
    if !add.is_empty() || !remove.is_empty() {
        let mut parents: Vec<String> = f
            .parents
            .iter()
            .filter(|p| !remove.contains(p))
            .cloned()
            .collect();
        for a in &add {
            let p = st
                .get(a, all_drives)
                .map_err(|_| GError::file_not_found(a))?;
            if !p.is_folder() {
                return Err(GError::forbidden(
                    "global",
                    "invalidParent",
                    "The specified parent is not a folder.",
                ));
            }
            if st.is_ancestor(&f.id, &p.id) {
                return Err(GError::bad_request("The parent would create a cycle."));
            }
            if (p.drive_id.is_some() || f.drive_id.is_some())
                && p.drive_id != f.drive_id
                && !f.is_folder()
            {
                f.drive_id = p.drive_id.clone();
            }
            if !parents.contains(&p.id) {
                parents.push(p.id.clone());
            }
        }
        if parents.len() > 1 {
            return Err(GError::forbidden(
                "global",
                "cannotAddParent",
                "Increasing the number of parents is not allowed.",
            ));
        }
        if parents.is_empty() {
            return Err(GError::forbidden(
                "global",
                "cannotRemoveParent",
                "A file must have a parent; add one with addParents.",
            ));
        }
        f.parents = parents;
    }
    f.version += 1;
    st.insert(f);
    Ok(())
}

fn order_key(order: &str) -> GResult<Vec<(String, bool)>> {
    let mut keys = Vec::new();
    for part in order.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let mut it = part.split_whitespace();
        let k = it.next().unwrap_or("");
        let desc = matches!(it.next(), Some("desc"));
        if !matches!(
            k,
            "createdTime"
                | "folder"
                | "modifiedByMeTime"
                | "modifiedTime"
                | "name"
                | "name_natural"
                | "quotaBytesUsed"
                | "recency"
                | "sharedWithMeTime"
                | "starred"
                | "viewedByMeTime"
        ) {
            return Err(GError::invalid_param(
                "orderBy",
                format!("Invalid Value for orderBy: {k}"),
            ));
        }
        keys.push((k.to_string(), desc));
    }
    Ok(keys)
}

fn compare(a: &File, b: &File, keys: &[(String, bool)]) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    for (k, desc) in keys {
        let o = match k.as_str() {
            "folder" => b.is_folder().cmp(&a.is_folder()),
            "name" | "name_natural" => a
                .name
                .to_lowercase()
                .cmp(&b.name.to_lowercase())
                .then(a.name.cmp(&b.name)),
            "createdTime" => a.created.cmp(&b.created),
            "modifiedTime" | "modifiedByMeTime" | "recency" | "viewedByMeTime" => {
                a.modified.cmp(&b.modified)
            }
            "quotaBytesUsed" => a.size.unwrap_or(0).cmp(&b.size.unwrap_or(0)),
            "starred" => b.starred.cmp(&a.starred),
            _ => Ordering::Equal,
        };
        let o = if *desc { o.reverse() } else { o };
        if o != Ordering::Equal {
            return o;
        }
    }
    a.seq.cmp(&b.seq)
}

fn page_size(q: &HashMap<String, String>, default: usize, max: usize) -> GResult<usize> {
    match q.get("pageSize") {
        None => Ok(default),
        Some(s) => match s.parse::<i64>() {
            Ok(n) if n >= 1 => Ok((n as usize).min(max)),
            Ok(0) => Ok(default),
            _ => Err(GError::invalid_param(
                "pageSize",
                format!("Invalid value '{s}'. Values must be within the range: [1, {max}]"),
            )),
        },
    }
}

/// Paging tokens: offset plus a fingerprint of the query, so a token is refused with other parameters.
pub(super) fn page_offset(q: &HashMap<String, String>, fingerprint: &str) -> GResult<usize> {
    let Some(t) = q.get("pageToken") else {
        return Ok(0);
    };
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(t)
        .ok()
        .and_then(|b| String::from_utf8(b).ok());
    raw.and_then(|s| {
        let (off, fp) = s.split_once('|')?;
        (fp == fingerprint).then(|| off.parse().ok())?
    })
    .ok_or_else(|| GError::invalid_param("pageToken", "Invalid Value"))
}

/// The token for the page at `offset`.
pub(super) fn page_token(offset: usize, fingerprint: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{offset}|{fingerprint}"))
}

fn fingerprint(parts: &[Option<&String>]) -> String {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    parts.hash(&mut h);
    format!("{:x}", h.finish())
}

/// The longest `q` files.list takes (a figure of ours: see the list handler).
const MAX_QUERY: usize = 8000;

async fn list(
    State(emu): State<Arc<Emu>>,
    base: Base,
    _caller: Caller,
    Query(q): Q,
) -> GResult<axum::Json<Value>> {
    if q.get("q").is_some_and(|s| s.len() > MAX_QUERY) {
        // Google documents no limit; its front ends refuse URLs of more than a few kilobytes.
        return Err(GError::invalid_param(
            "q",
            format!("The query is too long (more than {MAX_QUERY} characters)."),
        ));
    }
    let expr: Option<Expr> = match q.get("q") {
        Some(s) if !s.trim().is_empty() => Some(query::parse(s).map_err(|_| {
            GError::new(
                StatusCode::BAD_REQUEST,
                "global",
                "invalid",
                "Invalid Value",
            )
            .at("q", "parameter")
        })?),
        _ => None,
    };
    let size = page_size(&q, 100, 1000)?;
    let keys = order_key(q.get("orderBy").map(String::as_str).unwrap_or(""))?;
    let fp = fingerprint(&[
        q.get("q"),
        q.get("orderBy"),
        q.get("corpora"),
        q.get("driveId"),
        q.get("includeItemsFromAllDrives"),
    ]);
    let offset = page_offset(&q, &fp)?;
    let mask = match q.get("fields") {
        Some(s) if !s.is_empty() => {
            let m = Mask::parse(s).map_err(|t| {
                GError::invalid_param("fields", format!("Invalid field selection {t}"))
            })?;
            validate_file_mask(&m, "files").map_err(|t| {
                GError::invalid_param("fields", format!("Invalid field selection {t}"))
            })?;
            m
        }
        _ => Mask::parse("kind,nextPageToken,incompleteSearch,files(kind,id,name,mimeType)")
            .expect("static"),
    };
    let all_drives = all_drives(&q);
    let include_all = qbool(&q, "includeItemsFromAllDrives") || qbool(&q, "includeTeamDriveItems");
    let corpora = q.get("corpora").map(String::as_str).unwrap_or("user");
    let drive_filter = match (corpora, q.get("driveId")) {
        ("drive", Some(d)) => {
            if !include_all || !all_drives {
                return Err(GError::invalid_param(
                    "includeItemsFromAllDrives",
                    "The includeItemsFromAllDrives parameter must be set to true when driveId is specified.",
                ));
            }
            Some(d.clone())
        }
        ("drive", None) => return Err(GError::required("driveId")),
        (_, Some(_)) => {
            return Err(GError::invalid_param(
                "corpora",
                "The corpora parameter must be set to 'drive' when driveId is specified.",
            ));
        }
        ("user" | "allDrives" | "domain", None) => None,
        (c, _) => {
            return Err(GError::invalid_param(
                "corpora",
                format!("Invalid Value: {c}"),
            ));
        }
    };
    let mut st = lock(&emu.drive);
    if let Some(d) = &drive_filter
        && !st.drives.contains_key(d)
    {
        return Err(GError::not_found("Shared drive", d));
    }
    let cache_key = format!("{fp}|{corpora}|{include_all}|{all_drives}");
    let ids = match &st.list_cache {
        Some((k, g, ids)) if *k == cache_key && *g == st.generation => ids.clone(),
        _ => {
            // A query inside some folders looks only at their children (each once, in the folders' order).
            let parents: Option<Vec<String>> =
                expr.as_ref().and_then(query::required_parents).map(|ps| {
                    let mut seen = std::collections::HashSet::new();
                    ps.into_iter()
                        .map(|p| st.real_id(p).to_string())
                        .filter(|p| seen.insert(p.clone()))
                        .collect()
                });
            let candidates: Box<dyn Iterator<Item = &File>> = match &parents {
                Some(ps) => Box::new(
                    ps.iter()
                        .filter_map(|p| st.children.get(p))
                        .flatten()
                        .filter_map(|id| st.files.get(id)),
                ),
                None => Box::new(st.files.values()),
            };
            let mut hits: Vec<&File> = candidates
                .filter(|f| f.id != st.root_id && !st.drives.contains_key(&f.id))
                .filter(|f| match (&drive_filter, &f.drive_id) {
                    (Some(d), Some(fd)) => d == fd,
                    (Some(_), None) => false,
                    (None, Some(_)) => include_all && corpora == "allDrives",
                    (None, None) => true,
                })
                .filter(|f| expr.as_ref().is_none_or(|e| query::matches(e, f, &st)))
                .collect();
            // A file in two of the folders asked for is one match.
            let mut once = std::collections::HashSet::new();
            hits.retain(|f| once.insert(f.id.as_str()));
            hits.sort_by(|a, b| compare(a, b, &keys));
            let ids = Arc::new(hits.into_iter().map(|f| f.id.clone()).collect::<Vec<_>>());
            st.list_cache = Some((cache_key, st.generation, ids.clone()));
            ids
        }
    };
    let end = (offset + size).min(ids.len());
    let page = if offset < ids.len() {
        &ids[offset..end]
    } else {
        &[][..]
    };
    let file_mask = mask.0.get("files").cloned().flatten();
    let want = |k: &str| {
        file_mask
            .as_ref()
            .is_none_or(|m| m.0.contains_key(k) || m.0.contains_key("*"))
    };
    let files: Vec<Value> = page
        .iter()
        .filter_map(|id| st.files.get(id))
        .map(|f| {
            let mut v = super::file_json_with(&st, f, &base, &want);
            if file_mask
                .as_ref()
                .is_some_and(|m| m.0.contains_key("permissions"))
            {
                v["permissions"] = json!(
                    f.permissions
                        .iter()
                        .map(super::permission_json)
                        .collect::<Vec<_>>()
                );
            }
            v
        })
        .collect();
    let mut body = json!({"kind": "drive#fileList", "incompleteSearch": false, "files": files});
    if end < ids.len() {
        body["nextPageToken"] = json!(page_token(end, &fp));
    }
    Ok(axum::Json(mask.apply(&body)))
}

/// Streams a blob with Range support (and Drive's `x-goog-hash`).
pub(super) async fn serve_blob(
    emu: &Emu,
    key: &str,
    size: u64,
    mime: &str,
    md5: &str,
    headers: &HeaderMap,
) -> Response {
    crate::serve::blob_response(emu, key, size, mime, Some(md5), headers).await
}

async fn get_file(
    State(emu): State<Arc<Emu>>,
    base: Base,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Q,
) -> Response {
    let media = q.get("alt").map(String::as_str) == Some("media");
    let scopes = if media { CONTENT_SCOPES } else { READ_SCOPES };
    if let Err(e) = auth(
        &emu,
        &headers,
        &q,
        "google.apps.drive.v3.DriveFiles.Get",
        scopes,
    ) {
        return e.into_response();
    }
    let all = all_drives(&q);
    let found = {
        let st = lock(&emu.drive);
        match st.get(&id, all) {
            Err(e) => Err(e),
            Ok(f) if !media => render(&st, f, &base, q.get("fields")).map(|v| (Some(v), None)),
            Ok(f) => {
                if f.is_folder() || f.blob.is_none() {
                    Err(GError::forbidden(
                        "global",
                        "fileNotDownloadable",
                        "Only files with binary content can be downloaded. Use Export with Docs Editors files.",
                    ))
                } else if f.abusive && !qbool(&q, "acknowledgeAbuse") {
                    Err(GError::forbidden(
                        "global",
                        "cannotDownloadAbusiveFile",
                        "This file has been identified as malware or spam and cannot be downloaded.",
                    ))
                } else {
                    let h = f.hashes.clone().unwrap_or_default();
                    Ok((
                        None,
                        Some((
                            f.blob.clone().unwrap(),
                            f.size.unwrap_or(0),
                            f.mime.clone(),
                            h.md5,
                        )),
                    ))
                }
            }
        }
    };
    match found {
        Err(e) => e.into_response(),
        Ok((Some(v), _)) => axum::Json(v).into_response(),
        Ok((None, Some((key, size, mime, md5)))) => {
            serve_blob(&emu, &key, size, &mime, &md5, &headers).await
        }
        Ok(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

async fn create(
    State(emu): State<Arc<Emu>>,
    base: Base,
    _caller: Caller,
    Query(q): Q,
    body: Bytes,
) -> Response {
    (|| -> GResult<Value> {
        let meta = json_body(&body)?;
        let all = all_drives(&q);
        let mut st = lock(&emu.drive);
        let id = create_file(&mut st, &emu, &meta, NewFile::default(), all)?;
        render(&st, &st.files[&id], &base, q.get("fields"))
    })()
    .map(axum::Json)
    .into_response()
}

async fn update(
    State(emu): State<Arc<Emu>>,
    base: Base,
    _caller: Caller,
    Path(id): Path<String>,
    Query(q): Q,
    body: Bytes,
) -> Response {
    (|| -> GResult<Value> {
        let meta = json_body(&body)?;
        let all = all_drives(&q);
        let mut st = lock(&emu.drive);
        update_file(&mut st, &id, &meta, &q, all)?;
        let real = st.real_id(&id).to_string();
        render(&st, &st.files[&real], &base, q.get("fields"))
    })()
    .map(axum::Json)
    .into_response()
}

async fn copy(
    State(emu): State<Arc<Emu>>,
    base: Base,
    caller: Caller,
    Path(id): Path<String>,
    Query(q): Q,
    body: Bytes,
) -> Response {
    // Copies count against the daily upload limit as uploads do.
    let user = caller.0.user.clone();
    if let Err(e) = crate::quota::quotas(&emu).drive_upload_allowed(&user) {
        return e.into_response();
    }
    let prep = (|| -> GResult<(Value, Option<String>, File)> {
        let meta = json_body(&body)?;
        let all = qbool(&q, "supportsAllDrives");
        let st = lock(&emu.drive);
        let f = st.get(&id, all)?.clone();
        if f.is_folder() {
            return Err(GError::forbidden(
                "global",
                "fileNotCopyable",
                "Folders cannot be copied.",
            ));
        }
        Ok((meta, f.blob.clone(), f))
    })();
    let (meta, blob, src) = match prep {
        Ok(x) => x,
        Err(e) => return e.into_response(),
    };
    let new_blob = match &blob {
        Some(k) => match emu.blobs.duplicate(k).await {
            Ok(n) => Some((
                n,
                src.size.unwrap_or(0),
                src.hashes.clone().unwrap_or_default(),
            )),
            Err(e) => {
                return GError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "global",
                    "internalError",
                    e.to_string(),
                )
                .into_response();
            }
        },
        None => None,
    };
    let mut m = json!({"name": src.name, "mimeType": src.mime, "parents": src.parents, "description": src.description,
        "properties": src.properties, "appProperties": src.app_properties, "modifiedTime": super::ts(&src.modified)});
    if let Value::Object(o) = &meta {
        for (k, v) in o {
            m[k] = v.clone();
        }
    }
    let all = qbool(&q, "supportsAllDrives");
    let res = {
        let mut st = lock(&emu.drive);
        let nf = NewFile {
            blob: new_blob.clone(),
            content_type: Some(src.mime.clone()),
            doc_text: src.doc_text.clone(),
        };
        create_file(&mut st, &emu, &m, nf, all)
            .and_then(|nid| render(&st, &st.files[&nid], &base, q.get("fields")))
    };
    if res.is_err()
        && let Some((k, ..)) = new_blob
    {
        emu.blobs.remove(&k).await;
    } else if res.is_ok() {
        crate::quota::quotas(&emu).drive_uploaded(&user, src.size.unwrap_or(0));
    }
    res.map(axum::Json).into_response()
}

/// Removes files and their descendants; returns the blobs to delete.
fn purge(st: &mut DriveState, ids: Vec<String>) -> Vec<String> {
    let mut blobs = Vec::new();
    for id in ids {
        let mut all = st.descendants(&id);
        all.push(id);
        for x in all {
            if let Some(f) = st.remove(&x)
                && let Some(b) = f.blob
            {
                blobs.push(b);
            }
        }
    }
    blobs
}

async fn delete_file(
    State(emu): State<Arc<Emu>>,
    _caller: Caller,
    Path(id): Path<String>,
    Query(q): Q,
) -> Response {
    let r = (|| -> GResult<Vec<String>> {
        let all = qbool(&q, "supportsAllDrives");
        let mut st = lock(&emu.drive);
        let f = st.get(&id, all)?;
        if f.id == st.root_id || st.drives.contains_key(&f.id) {
            return Err(GError::forbidden(
                "global",
                "cannotDeleteRoot",
                "The root folder cannot be deleted.",
            ));
        }
        let fid = f.id.clone();
        Ok(purge(&mut st, vec![fid]))
    })();
    match r {
        Ok(blobs) => {
            for b in blobs {
                emu.blobs.remove(&b).await;
            }
            StatusCode::NO_CONTENT.into_response()
        }
        Err(e) => e.into_response(),
    }
}

async fn empty_trash(State(emu): State<Arc<Emu>>, _caller: Caller, Query(q): Q) -> Response {
    let blobs = {
        let mut st = lock(&emu.drive);
        let drive = q.get("driveId").cloned();
        let ids: Vec<String> = st
            .files
            .values()
            .filter(|f| f.explicitly_trashed && f.drive_id == drive)
            .map(|f| f.id.clone())
            .collect();
        purge(&mut st, ids)
    };
    for b in blobs {
        emu.blobs.remove(&b).await;
    }
    StatusCode::NO_CONTENT.into_response()
}

async fn generate_ids(
    State(emu): State<Arc<Emu>>,
    _caller: Caller,
    Query(q): Q,
) -> GResult<axum::Json<Value>> {
    let count: usize = match q.get("count") {
        None => 10,
        Some(c) => match c.parse::<usize>() {
            Ok(n) if (1..=1000).contains(&n) => n,
            _ => {
                return Err(GError::invalid_param(
                    "count",
                    format!("Invalid value '{c}'. Values must be within the range: [1, 1000]"),
                ));
            }
        },
    };
    let space = q.get("space").cloned().unwrap_or_else(|| "drive".into());
    let mut st = lock(&emu.drive);
    let ids: Vec<String> = (0..count).map(|_| new_id()).collect();
    st.generated.extend(ids.iter().cloned());
    Ok(axum::Json(
        json!({"kind": "drive#generatedIds", "space": space, "ids": ids}),
    ))
}

fn render_export(f: &File, mime: &str) -> Option<Vec<u8>> {
    let text = f.doc_text.clone().unwrap_or_default();
    let esc = crate::common::html_escape;
    Some(match mime {
        "text/plain" | "text/markdown" => text.into_bytes(),
        "text/csv" => text
            .lines()
            .map(|l| {
                l.split('\t')
                    .map(|c| {
                        if c.contains([',', '"']) {
                            format!("\"{}\"", c.replace('"', "\"\""))
                        } else {
                            c.to_string()
                        }
                    })
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .collect::<Vec<_>>()
            .join("\r\n")
            .into_bytes(),
        "text/tab-separated-values" => text.into_bytes(),
        "text/html" => format!(
            "<html><head><meta charset=\"utf-8\"><title>{}</title></head><body>{}</body></html>",
            esc(&f.name),
            text.lines()
                .map(|l| format!("<p>{}</p>", esc(l)))
                .collect::<String>()
        )
        .into_bytes(),
        "application/rtf" => format!(
            "{{\\rtf1\\ansi\\deff0 {}}}",
            text.replace('\\', "\\\\")
                .replace('{', "\\{")
                .replace('}', "\\}")
                .replace('\n', "\\par\n")
        )
        .into_bytes(),
        "application/vnd.google-apps.script+json" => serde_json::to_vec(
            &json!({"files": [{"name": f.name, "type": "server_js", "source": text}]}),
        )
        .ok()?,
        "application/pdf" => minimal_pdf(&text),
        _ => return None,
    })
}

/// A small valid one-page PDF showing the text's first lines.
fn minimal_pdf(text: &str) -> Vec<u8> {
    let mut content = String::from("BT /F1 12 Tf 72 720 Td 14 TL\n");
    for line in text.lines().take(40) {
        let l: String = line
            .chars()
            .filter(|c| c.is_ascii() && !c.is_control())
            .collect();
        content.push_str(&format!(
            "({}) '\n",
            l.replace('\\', "\\\\")
                .replace('(', "\\(")
                .replace(')', "\\)")
        ));
    }
    content.push_str("ET");
    let objs = [
        "<< /Type /Catalog /Pages 2 0 R >>".to_string(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_string(),
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>".to_string(),
        format!("<< /Length {} >>\nstream\n{content}\nendstream", content.len()),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_string(),
    ];
    let mut out = String::from("%PDF-1.4\n");
    let mut offsets = Vec::new();
    for (i, o) in objs.iter().enumerate() {
        offsets.push(out.len());
        out.push_str(&format!("{} 0 obj\n{o}\nendobj\n", i + 1));
    }
    let xref = out.len();
    out.push_str(&format!(
        "xref\n0 {}\n0000000000 65535 f \n",
        objs.len() + 1
    ));
    for off in offsets {
        out.push_str(&format!("{off:010} 00000 n \n"));
    }
    out.push_str(&format!(
        "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
        objs.len() + 1
    ));
    out.into_bytes()
}

async fn export(
    State(emu): State<Arc<Emu>>,
    _caller: Caller,
    Path(id): Path<String>,
    Query(q): Q,
) -> GResult<Response> {
    let Some(mime) = q.get("mimeType") else {
        return Err(GError::required("mimeType"));
    };
    let st = lock(&emu.drive);
    let f = st.get(&id, true)?;
    let formats = export_formats();
    let Some((_, allowed)) = formats.iter().find(|(k, _)| *k == f.mime) else {
        return Err(GError::forbidden(
            "global",
            "fileNotExportable",
            "Export only supports Docs Editors files.",
        ));
    };
    if !allowed.contains(&mime.as_str()) {
        return Err(GError::invalid_param(
            "mimeType",
            "The requested conversion is not supported.",
        ));
    }
    let Some(bytes) = render_export(f, mime) else {
        return Err(GError::new(
            StatusCode::NOT_IMPLEMENTED,
            "global",
            "notImplemented",
            format!(
                "The emulator renders text, markdown, html, csv, tsv, rtf, pdf and script exports; {mime} is not emulated."
            ),
        ));
    };
    if bytes.len() > 10 * 1024 * 1024 {
        return Err(GError::forbidden(
            "global",
            "exportSizeLimitExceeded",
            "This file is too large to be exported.",
        ));
    }
    Ok(([(header::CONTENT_TYPE, mime.clone())], bytes).into_response())
}

async fn public_download(State(emu): State<Arc<Emu>>, headers: HeaderMap, Query(q): Q) -> Response {
    let id = q.get("id").cloned().unwrap_or_default();
    let found = {
        let st = lock(&emu.drive);
        st.files
            .get(&id)
            .filter(|f| f.permissions.iter().any(|p| p.kind == "anyone"))
            .and_then(|f| {
                Some((
                    f.blob.clone()?,
                    f.size.unwrap_or(0),
                    f.mime.clone(),
                    f.hashes.clone().unwrap_or_default().md5,
                ))
            })
    };
    match found {
        Some((k, size, mime, md5)) => serve_blob(&emu, &k, size, &mime, &md5, &headers).await,
        None => (
            StatusCode::FORBIDDEN,
            "You need access: this file is not shared publicly.",
        )
            .into_response(),
    }
}

async fn mark_abusive(State(emu): State<Arc<Emu>>, Path(id): Path<String>) -> Response {
    let mut st = lock(&emu.drive);
    let real = st.real_id(&id).to_string();
    match st.files.get_mut(&real) {
        Some(f) => {
            f.abusive = true;
            StatusCode::NO_CONTENT.into_response()
        }
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// `POST /__admin/drive/seed {"folder": NAME, "count": N}`: makes folder NAME in My Drive's root holding N
/// small files (`f000000`, … each containing its own name), for listing benchmarks and paging tests. With
/// `"folders": F`, a tree instead: F folders `d000000`… in groups of 50 (`g0000`…) under NAME, N files in
/// each (for the benchmark of recursive walks).
async fn seed(State(emu): State<Arc<Emu>>, axum::Json(v): axum::Json<Value>) -> Response {
    let Some(folder) = v["folder"].as_str().map(str::to_string) else {
        return (StatusCode::BAD_REQUEST, "folder required").into_response();
    };
    let count = v["count"].as_u64().unwrap_or(0) as usize;
    // With `folders`, a tree: that many folders (in groups of 50 under the top one), `count` files each.
    let folders = v["folders"].as_u64().unwrap_or(0) as usize;
    let files = count.saturating_mul(folders.max(1));
    if files > 1_000_000 || folders > 100_000 {
        return (
            StatusCode::BAD_REQUEST,
            "at most 1000000 files and 100000 folders",
        )
            .into_response();
    }
    let mut blobs = Vec::with_capacity(files);
    for i in 0..files {
        match emu
            .blobs
            .store_bytes(Bytes::from(format!("f{i:06}\n")))
            .await
        {
            Ok(b) => blobs.push(b),
            Err(e) => return (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
        }
    }
    let mut st = lock(&emu.drive);
    let root = st.root_id.clone();
    let folder_id = match create_file(
        &mut st,
        &emu,
        &json!({"name": folder, "mimeType": FOLDER, "parents": [root]}),
        NewFile::default(),
        false,
    ) {
        Ok(id) => id,
        Err(e) => return e.into_response(),
    };
    // The folder each file goes in: the top one, or the leaves of the tree.
    let mut homes = Vec::with_capacity(folders.max(1));
    if folders == 0 {
        homes.push(folder_id.clone());
    }
    let mut group = String::new();
    for d in 0..folders {
        let made = (|| {
            if d % 50 == 0 {
                group = create_file(
                    &mut st,
                    &emu,
                    &json!({"name": format!("g{:04}", d / 50), "mimeType": FOLDER, "parents": [folder_id]}),
                    NewFile::default(),
                    false,
                )?;
            }
            create_file(
                &mut st,
                &emu,
                &json!({"name": format!("d{d:06}"), "mimeType": FOLDER, "parents": [group]}),
                NewFile::default(),
                false,
            )
        })();
        match made {
            Ok(id) => homes.push(id),
            Err(e) => return e.into_response(),
        }
    }
    for (i, b) in blobs.into_iter().enumerate() {
        let home = &homes[i / count.max(1) % homes.len()];
        let meta = json!({"name": format!("f{i:06}"), "parents": [home]});
        if let Err(e) = create_file(
            &mut st,
            &emu,
            &meta,
            NewFile {
                blob: Some(b),
                content_type: Some("text/plain".into()),
                doc_text: None,
            },
            false,
        ) {
            return e.into_response();
        }
    }
    axum::Json(json!({"id": folder_id, "count": files, "folders": folders})).into_response()
}
