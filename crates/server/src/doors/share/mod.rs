//! The share pages' door: what someone holding a share link reaches, with no account, under
//! `/api/s/{id}` — about, unlock (a password), list, download, a ZIP of a folder, thumbnails and
//! rendered Markdown. The page itself is the web page's (`/s/ID`); the owner makes, lists and revokes
//! links through the JSON API ([`crate::doors::api`]). Everything here is bounded by the share: its
//! folder, its expiry, its download count and, for a password, the key a correct one unlocks.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use cloudmux_core::{Error, ErrorKind};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::doors::common::error::ApiError;
use crate::doors::common::files::{self, ThumbQ};
use crate::house::shares::{self, Closed};

/// The routes.
pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/api/s/{id}", get(about))
        .route("/api/s/{id}/unlock", post(unlock))
        .route("/api/s/{id}/list", get(list))
        .route("/api/s/{id}/dl", get(download))
        .route("/api/s/{id}/zip", get(zip))
        .route("/api/s/{id}/thumb", get(thumb))
        .route("/api/s/{id}/markdown", get(markdown))
        .route("/api/s/{id}/exif", get(exif))
}

/// What a photo in the share says of itself (camera, date, exposure), never where it was taken: a
/// share link reaches people the owner does not know. Not counted as a download.
async fn exif(
    State(st): State<Arc<AppState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Query(q): Query<ThumbQ>,
) -> Response {
    match entered_by(&st, &id, &q, &headers).await {
        Ok((_, full)) => match crate::house::exif::of(&st.tree, &full, false).await {
            Ok(photo) => Json(photo).into_response(),
            Err(e) => ApiError::from(e).into_response(),
        },
        Err(r) => r,
    }
}

/// [`entered`] for the routes that take a path and a key only (thumbnails, EXIF).
async fn entered_by(
    st: &AppState,
    id: &str,
    q: &ThumbQ,
    headers: &HeaderMap,
) -> std::result::Result<(crate::house::db::ShareRow, String), Response> {
    let inq = InQ {
        path: q.path.clone(),
        key: q.key.clone(),
        inline: true,
        vtt: false,
    };
    entered(st, id, &inq, headers).await
}

/// A thumbnail of an image in the share (not counted as a download: it is not the file).
async fn thumb(
    State(st): State<Arc<AppState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Query(q): Query<ThumbQ>,
) -> Response {
    match entered_by(&st, &id, &q, &headers).await {
        Ok((_, full)) => files::thumb_of(&st, &full, q.edge)
            .await
            .unwrap_or_else(IntoResponse::into_response),
        Err(r) => r,
    }
}

/// A Markdown file of the share rendered to safe HTML (the README under a shared folder); counted as a
/// download where the share's downloads are limited.
async fn markdown(
    State(st): State<Arc<AppState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Query(q): Query<InQ>,
) -> Answer {
    let (row, full) = entered(&st, &id, &q, &headers).await?;
    let v = files::markdown_of(&st, &full).await.map_err(answer)?;
    // The text is the file: where downloads are limited, a rendering counts as one.
    if row.max_downloads > 0 {
        count_download(&st, &row).await?;
    }
    Ok(Json(v).into_response())
}

async fn zip(
    State(st): State<Arc<AppState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Query(q): Query<InQ>,
) -> Answer {
    let (row, full) = entered(&st, &id, &q, &headers).await?;
    let (top, items) = files::zip_plan(&st, &full).await.map_err(answer)?;
    // An archive counts as one download.
    count_download(&st, &row).await?;
    Ok(files::zip_body(&st, &top, items))
}

/// What a handler here answers: the answer, or the one to send instead (a refusal, an error).
type Answer = std::result::Result<Response, Response>;

/// An error as its answer.
fn answer(e: impl IntoResponse) -> Response {
    e.into_response()
}

/// Counts one download of `row` (also without a limit: its owner sees the count); Err: the answer to
/// send instead when its limit is reached or the count cannot be made.
async fn count_download(
    st: &AppState,
    row: &crate::house::db::ShareRow,
) -> std::result::Result<(), Response> {
    match st.users.db().count_share_download(&row.id).await {
        Ok(true) => Ok(()),
        Ok(false) => Err(closed(Closed::Gone)),
        Err(e) => Err(ApiError(e).into_response()),
    }
}

/// 404 for an unknown share, 410 for one that is over.
fn closed(c: Closed) -> Response {
    let (status, kind, message, hint) = match c {
        Closed::Unknown => (
            StatusCode::NOT_FOUND,
            "not_found",
            "no such share link",
            "check the link you were given",
        ),
        Closed::Gone => (
            StatusCode::GONE,
            "gone",
            "this share link has expired, was revoked or has been used up",
            "ask its owner for a new one",
        ),
    };
    (
        status,
        Json(json!({"error": {"kind": kind, "message": message, "hint": hint}})),
    )
        .into_response()
}

async fn about(State(st): State<Arc<AppState>>, Path(id): Path<String>) -> Response {
    let row = match shares::open(st.users.db(), &id).await {
        Ok(r) => r,
        Err(c) => return closed(c),
    };
    let name = row.path.rsplit('/').next().unwrap_or_default();
    let e = match st.tree.stat_for_read(&row.path).await {
        Ok(e) => e,
        Err(e) => return ApiError(e).into_response(),
    };
    let locked = !row.password_hash.is_empty();
    let mut about = json!({
        "id": row.id,
        "name": name,
        "is_dir": e.is_dir,
        "password": locked,
        "expires": row.expires,
        "downloads_left": (row.max_downloads > 0).then(|| row.max_downloads - row.downloads),
    });
    // A shared file's size and date, for its page — not before its password is given.
    if !e.is_dir && !locked {
        about["size"] = json!(e.size);
        about["modified"] = json!(e.modified);
    }
    Json(about).into_response()
}

#[derive(Deserialize)]
struct Unlock {
    password: String,
}

async fn unlock(
    State(st): State<Arc<AppState>>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    Path(id): Path<String>,
    Json(b): Json<Unlock>,
) -> Response {
    let row = match shares::open(st.users.db(), &id).await {
        Ok(r) => r,
        Err(c) => return closed(c),
    };
    if row.password_hash.is_empty() {
        return Json(json!({"key": null})).into_response();
    }
    let pw: String = b.password.chars().take(shares::MAX_PASSWORD).collect();
    match st
        .users
        .check_subject_password(addr.ip(), &format!("share:{id}"), &pw, &row.password_hash)
        .await
    {
        Ok(true) => Json(json!({
            "key": shares::key_for(&row),
            "expires_in": shares::KEY_LIFETIME.as_secs(),
        }))
        .into_response(),
        Ok(false) => ApiError(
            Error::new(ErrorKind::PermissionDenied, "wrong password for this share")
                .with_hint("ask its owner for the password"),
        )
        .into_response(),
        Err(e) => ApiError(e).into_response(),
    }
}

#[derive(Deserialize)]
struct InQ {
    #[serde(default)]
    path: String,
    #[serde(default)]
    key: Option<String>,
    #[serde(default)]
    inline: bool,
    /// Subtitles (`.srt`, `.vtt`) as WebVTT for the player; not counted as a download.
    #[serde(default)]
    vtt: bool,
}

/// The live share, when the request may use it (its key, from `key=` or `X-Share-Key`, where it has a
/// password), and the tree path of `q.path` inside it.
async fn entered(
    st: &AppState,
    id: &str,
    q: &InQ,
    headers: &HeaderMap,
) -> std::result::Result<(crate::house::db::ShareRow, String), Response> {
    let row = shares::open(st.users.db(), id).await.map_err(closed)?;
    let key = q
        .key
        .as_deref()
        .or_else(|| headers.get("x-share-key").and_then(|v| v.to_str().ok()));
    if !shares::key_opens(&row, key) {
        return Err(ApiError(
            Error::new(ErrorKind::PermissionDenied, "this share needs its password")
                .with_hint("unlock it: POST /api/s/ID/unlock {\"password\": …}, then send the key"),
        )
        .into_response());
    }
    let full = shares::inside(&row, &q.path).map_err(|e| ApiError(e).into_response())?;
    Ok((row, full))
}

async fn list(
    State(st): State<Arc<AppState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Query(q): Query<InQ>,
) -> Answer {
    let (row, full) = entered(&st, &id, &q, &headers).await?;
    let all = st
        .tree
        .list(&full)
        .await
        .map_err(ApiError)
        .map_err(answer)?;
    let entries: Vec<Value> = all
        .iter()
        .map(|e| {
            json!({
                "name": e.name,
                "path": shares::shown(&row, &e.path),
                "is_dir": e.is_dir,
                "size": e.size,
                "modified": e.modified,
                "mime": e.mime,
            })
        })
        .collect();
    Ok(Json(json!({"path": shares::shown(&row, &full), "entries": entries})).into_response())
}

async fn download(
    State(st): State<Arc<AppState>>,
    Path(id): Path<String>,
    method: Method,
    headers: HeaderMap,
    Query(q): Query<InQ>,
) -> Answer {
    let (row, full) = entered(&st, &id, &q, &headers).await?;
    if q.vtt {
        return files::subtitles_of(&st, &full).await.map_err(answer);
    }
    // Only a file that is there is counted.
    let e = st
        .tree
        .stat_for_read(&full)
        .await
        .map_err(ApiError)
        .map_err(answer)?;
    if e.is_dir {
        return Err(answer(ApiError(
            Error::invalid("a folder is not downloaded whole")
                .with_hint("list it and download its files"),
        )));
    }
    // A download is counted when a file is fetched from its start (a player's later ranges are not).
    let from_start = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|r| r.trim().starts_with("bytes=0-"));
    if method == Method::GET && from_start {
        count_download(&st, &row).await?;
    }
    let name = shares::shown(&row, &full);
    files::send_file(&st, &full, &name, &method, &headers, q.inline)
        .await
        .map_err(answer)
}
