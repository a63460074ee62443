//! What a user does to files, checked against their rights and answered over HTTP: reading a file (with
//! ranges, `HEAD` and redirects to a service's own link), its thumbnail and rendered Markdown, writing a
//! streamed upload, moving, walking a folder for a search, starting a background copy and streaming a
//! ZIP of a selection. Every door that offers these calls them here.

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use cloudmux_core::{ByteRange, Entry, Error, ErrorKind, WriteOptions};
use futures_util::TryStreamExt;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::doors::common::authed::{ApiResult, Authed};

/// The thumbnail answer for the tree path `full`.
pub(crate) async fn thumb_of(st: &AppState, full: &str, edge: u32) -> ApiResult<Response> {
    let e = st.tree.stat_for_read(full).await?;
    let jpeg = st.thumbs.get(&st.tree, full, &e, edge).await?;
    let mut r = ([(header::CACHE_CONTROL, "private, max-age=300")], jpeg).into_response();
    crate::doors::common::body::set_headers(r.headers_mut(), &e.name, "image/jpeg", true);
    Ok(r)
}

/// `{"html": …}` of the Markdown file at tree path `full` (at most [`crate::house::markdown::MAX_BYTES`]).
pub(crate) async fn markdown_of(st: &AppState, full: &str) -> ApiResult<Value> {
    let e = st.tree.stat_for_read(full).await?;
    if e.is_dir {
        return Err(Error::invalid("a folder is not Markdown").into());
    }
    let max = crate::house::markdown::MAX_BYTES;
    let len = e.size.map_or(max as u64, |s| s.min(max as u64));
    let mut buf = Vec::new();
    if len == 0 {
        return Ok(json!({"html": "", "truncated": false}));
    }
    let mut data = st.tree.read(full, ByteRange::new(0, Some(len))).await?;
    while let Some(chunk) = data.try_next().await? {
        buf.extend_from_slice(&chunk);
        if buf.len() >= max {
            buf.truncate(max);
            break;
        }
    }
    let text = String::from_utf8_lossy(&buf);
    Ok(json!({
        "html": crate::house::markdown::render(&text),
        "truncated": e.size.is_some_and(|s| s > max as u64),
    }))
}

/// A subtitle file (`.srt` or `.vtt`) as WebVTT, for a `<track>` of the browser's player; bounded by
/// [`crate::house::subtitles::MAX_BYTES`].
pub(crate) async fn subtitles_of(st: &AppState, full: &str) -> ApiResult<Response> {
    use crate::house::subtitles;
    let e = st.tree.stat_for_read(full).await?;
    if e.is_dir || !subtitles::is_subtitles(&e.name) {
        return Err(Error::invalid("only .srt and .vtt files are subtitles").into());
    }
    let max = subtitles::MAX_BYTES;
    let too_large = || {
        Error::invalid(format!(
            "subtitles of more than {} MiB are not converted",
            max >> 20
        ))
        .with_hint("download the file instead")
    };
    if e.size.is_some_and(|s| s > max) {
        return Err(too_large().into());
    }
    let mut buf = Vec::new();
    // One byte past the bound, so that a file whose size was not known and is too large is seen to be.
    let mut data = st.tree.read(full, ByteRange::new(0, Some(max + 1))).await?;
    while let Some(chunk) = data.try_next().await? {
        buf.extend_from_slice(&chunk);
        if buf.len() as u64 > max {
            return Err(too_large().into());
        }
    }
    let vtt = subtitles::to_vtt(&String::from_utf8_lossy(&buf));
    Ok((
        [
            (header::CONTENT_TYPE, "text/vtt; charset=utf-8"),
            (header::CACHE_CONTROL, "private, max-age=300"),
        ],
        vtt,
    )
        .into_response())
}

/// Streams a file (Range, HEAD), as an attachment unless `inline` is asked and the type is inert
/// ([`crate::doors::common::body`]); a download from a mount with direct links is a redirect to the service's link.
pub(crate) async fn send_file(
    st: &AppState,
    full: &str,
    shown: &str,
    method: &Method,
    headers: &HeaderMap,
    inline: bool,
) -> ApiResult<Response> {
    send_file_as(st, full, shown, method, headers, inline, true).await
}

/// `bytes=A-B`, `bytes=A-`, `bytes=-N` against a size; `Err` for an unsatisfiable range.
pub(crate) fn parse_range(h: &str, size: u64) -> Option<std::result::Result<(u64, u64), ()>> {
    let spec = h.trim().strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None; // several ranges: answer with the whole file
    }
    let (a, b) = spec.split_once('-')?;
    let r = match (a.trim(), b.trim()) {
        ("", n) => {
            let n: u64 = n.parse().ok()?;
            if n == 0 || size == 0 {
                return Some(Err(()));
            }
            (size.saturating_sub(n), size - 1)
        }
        (s, "") => (s.parse().ok()?, size.checked_sub(1)?),
        (s, e) => {
            let (s, e): (u64, u64) = (s.parse().ok()?, e.parse().ok()?);
            if e < s {
                return None;
            }
            (s, e.min(size.saturating_sub(1)))
        }
    };
    if r.0 >= size {
        return Some(Err(()));
    }
    Some(Ok(r))
}

/// [`send_file`], choosing whether a direct link may be answered with a redirect (`redirect`) or the
/// bytes always go through this server.
pub(crate) async fn send_file_as(
    st: &AppState,
    full: &str,
    shown: &str,
    method: &Method,
    headers: &HeaderMap,
    inline: bool,
    redirect: bool,
) -> ApiResult<Response> {
    let e = st.tree.stat_for_read(full).await?;
    if e.is_dir {
        return Err(Error::invalid(format!("{shown} is a folder"))
            .with_hint("download files one by one, or list the folder")
            .into());
    }
    // The page's own previews stay on this origin (its CSP); downloads may go to the service.
    if !inline
        && redirect
        && *method == Method::GET
        && let Some(link) = st.tree.direct_link(full).await
    {
        return Ok(crate::doors::common::body::redirect(&link));
    }
    let mime = e
        .mime
        .clone()
        .unwrap_or_else(|| cloudmux_core::mime::guess(&e.name).to_string());
    let mut resp = Response::builder().header(header::ACCEPT_RANGES, "bytes");
    if let Some(h) = resp.headers_mut() {
        crate::doors::common::body::set_headers(h, &e.name, &mime, inline);
    }
    if let Some(m) = e.modified {
        resp = resp.header(
            header::LAST_MODIFIED,
            m.format("%a, %d %b %Y %H:%M:%S GMT").to_string(),
        );
    }
    if let Some(md5) = &e.hashes.md5 {
        resp = resp.header(header::ETAG, format!("\"{md5}\""));
    }
    let range = match (
        headers.get(header::RANGE).and_then(|v| v.to_str().ok()),
        e.size,
    ) {
        (Some(h), Some(size)) => parse_range(h, size),
        _ => None,
    };
    let (status, br, len) = match (range, e.size) {
        (Some(Err(())), Some(size)) => {
            return Ok(Response::builder()
                .status(StatusCode::RANGE_NOT_SATISFIABLE)
                .header(header::CONTENT_RANGE, format!("bytes */{size}"))
                .body(Body::empty())
                .unwrap());
        }
        (Some(Ok((s, end))), Some(size)) => {
            resp = resp.header(header::CONTENT_RANGE, format!("bytes {s}-{end}/{size}"));
            (
                StatusCode::PARTIAL_CONTENT,
                ByteRange::new(s, Some(end - s + 1)),
                Some(end - s + 1),
            )
        }
        _ => (StatusCode::OK, ByteRange::all(), e.size),
    };
    if let Some(n) = len {
        resp = resp.header(header::CONTENT_LENGTH, n);
    }
    if method == Method::HEAD {
        return Ok(resp.status(status).body(Body::empty()).unwrap());
    }
    let data = st.tree.read(full, br).await?;
    let body = Body::from_stream(data.map_err(std::io::Error::other));
    Ok(resp.status(status).body(body).unwrap())
}

/// An upload's announced length and type.
pub(crate) fn length_and_type(headers: &HeaderMap) -> (Option<u64>, Option<String>) {
    let size = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let mime = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    (size, mime)
}

/// A request body as the byte stream the tree writes.
pub(crate) fn body_stream(body: Body) -> cloudmux_core::ByteStream {
    Box::pin(
        body.into_data_stream()
            .map_err(|e| Error::new(ErrorKind::Transient, format!("upload body: {e}"))),
    )
}

/// Writes `data` to the tree path `full` (already checked for the write right), streamed; a body that
/// ends short of its announced `size` is an error, not a shorter file.
pub(crate) async fn write_stream(
    st: &AppState,
    full: &str,
    data: cloudmux_core::ByteStream,
    size: Option<u64>,
    mime: Option<String>,
    modified: Option<chrono::DateTime<chrono::Utc>>,
) -> ApiResult<Entry> {
    let mime = mime.filter(|m| m != "application/octet-stream");
    let e = st
        .tree
        .write(
            full,
            data,
            WriteOptions {
                size,
                modified,
                mime,
                ..Default::default()
            },
        )
        .await?;
    if let (Some(want), Some(got)) = (size, e.size)
        && want != got
    {
        return Err(Error::new(
            ErrorKind::Corrupt,
            format!("stored {got} bytes of the {want} sent"),
        )
        .into());
    }
    Ok(e)
}

/// What a move did.
pub(crate) enum Moved {
    /// Within one mount: renamed at once, to this entry.
    Renamed(Entry),
    /// Between mounts: a background copy-then-delete ([`start_task`]'s answer).
    Started((StatusCode, Json<Value>)),
}

/// Moves the tree path `from` (its entry `src`, when known) to `to`, both checked for the user's write
/// right: a rename within one mount, else a background task.
pub(crate) async fn move_to(
    st: &AppState,
    a: &Authed,
    from: String,
    src: Option<Entry>,
    to: String,
) -> ApiResult<Moved> {
    let (ma, _) = st.tree.locate(&from)?;
    let (mb, _) = st.tree.locate(&to)?;
    if Arc::ptr_eq(&ma, &mb) {
        return Ok(Moved::Renamed(st.tree.rename(&from, &to).await?));
    }
    let src = match src {
        Some(e) => e,
        None => st.tree.stat(&from).await?,
    };
    let task = start_task(st, a, from, &src, to, cloudmux_vfs::Mode::Move).await?;
    Ok(Moved::Started(task))
}

/// What a ZIP of the folder `full` holds, and its top folder's name.
pub(crate) async fn zip_plan(
    st: &AppState,
    full: &str,
) -> ApiResult<(String, Vec<crate::house::zip::Item>)> {
    let e = st.tree.stat(full).await?;
    if !e.is_dir {
        return Err(Error::invalid("only a folder is zipped")
            .with_hint("download the file itself")
            .into());
    }
    let top = match full.rsplit('/').next() {
        Some(n) if !n.is_empty() => n.to_string(),
        _ => "files".to_string(),
    };
    let items = crate::house::zip::plan(&st.tree, full, &top).await?;
    Ok((top, items))
}

/// The streamed archive of a [`zip_plan`].
pub(crate) fn zip_body(st: &AppState, top: &str, items: Vec<crate::house::zip::Item>) -> Response {
    let body = Body::from_stream(crate::house::zip::stream(st.tree.clone(), items));
    let mut r = Response::new(body);
    crate::doors::common::body::set_headers(
        r.headers_mut(),
        &format!("{top}.zip"),
        "application/zip",
        false,
    );
    r
}

/// Entries under the tree path `root` whose names contain `q` (case-insensitive), at most `limit`,
/// breadth first within the user's search budget; and whether the walk saw everything.
pub(crate) async fn walk(
    st: &AppState,
    a: &Authed,
    root: &str,
    q: &str,
    limit: usize,
) -> ApiResult<(Vec<Entry>, bool)> {
    let needle = q.to_lowercase();
    if needle.is_empty() {
        return Err(Error::invalid("empty search").into());
    }
    let budget = st.search_budget.take(&a.0.name, SEARCH_MAX_FOLDERS);
    if budget == 0 {
        let wait = st.search_budget.wait(&a.0.name);
        return Err(Error::new(ErrorKind::RateLimited, "too many searches")
            .with_hint(format!("wait {} seconds", wait.as_secs() + 1))
            .into());
    }
    let mut found = Vec::new();
    let mut queue = std::collections::VecDeque::from([root.to_string()]);
    let mut visited = 0;
    let mut complete = true;
    while let Some(dir) = queue.pop_front() {
        if visited >= budget || found.len() >= limit {
            complete = false;
            break;
        }
        visited += 1;
        let Ok(entries) = st.tree.list(&dir).await else {
            continue;
        };
        for e in entries.iter() {
            if e.name.to_lowercase().contains(&needle) && found.len() < limit {
                found.push(e.clone());
            }
            if e.is_dir {
                queue.push_back(e.path.clone());
            }
        }
    }
    // Unused budget goes back to the user.
    st.search_budget.give_back(&a.0.name, budget - visited);
    Ok((found, complete && queue.is_empty()))
}

/// Where a copy or move of `from` to `to` puts it: `to` itself, or for a file sent to an existing folder,
/// inside that folder (as `cp` and `mv` do).
/// Also the source's entry, for [`start_task`].
pub(crate) async fn target(st: &AppState, from: &str, to: &str) -> ApiResult<(String, Entry)> {
    let src = st.tree.stat(from).await?;
    if !src.is_dir
        && let Ok(d) = st.tree.stat(to).await
        && d.is_dir
    {
        return Ok((format!("{}/{}", to.trim_end_matches('/'), src.name), src));
    }
    Ok((to.to_string(), src))
}

/// Starts a background transfer between tree paths (already checked against the user's rights).
///
/// `src` is the entry at `from`; `to` is the path the file or folder will have ([`target`]); the engine,
/// which copies a file into a folder keeping its name, is given the file's new folder.
pub(crate) async fn start_task(
    st: &AppState,
    a: &Authed,
    from: String,
    src: &Entry,
    to: String,
    mode: cloudmux_vfs::Mode,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let dest = if src.is_dir {
        to.clone()
    } else {
        if to.rsplit('/').next() != Some(src.name.as_str()) {
            return Err(Error::invalid(format!(
                "{} keeps its name when it goes to another remote or as a copy",
                a.shown(&from)
            ))
            .with_hint(format!(
                "ask for {}/{}, then rename it",
                a.shown(crate::house::tree::parent_of(&to))
                    .trim_end_matches('/'),
                src.name
            ))
            .into());
        }
        crate::house::tree::parent_of(&to).to_string()
    };
    let shown = (a.shown(&from), a.shown(&to));
    let id = st.tasks.start(&a.0.name, mode, shown, from, dest).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(st.tasks.get(&a.0.name, &id).await?.unwrap_or(Value::Null)),
    ))
}

/// Folders visited by one search at most (a search is a walk; this bounds its cost).
pub(crate) const SEARCH_MAX_FOLDERS: u32 = 2000;
/// Folders a user's searches may list per [`SEARCH_WINDOW`] (each may cost a request at the remote).
pub const SEARCH_FOLDERS_PER_WINDOW: u32 = 4000;
/// The window of the search budget.
pub const SEARCH_WINDOW: std::time::Duration = std::time::Duration::from_secs(300);

#[derive(Deserialize)]
pub(crate) struct ThumbQ {
    #[serde(default)]
    pub(crate) path: String,
    /// The largest edge wanted, in pixels (rounded up to one of [`crate::house::thumbs::EDGES`]).
    #[serde(default = "thumb_edge")]
    pub(crate) edge: u32,
    /// A share's key ([`crate::house::shares`]), on a share's route.
    #[serde(default)]
    pub(crate) key: Option<String>,
}

pub(crate) fn thumb_edge() -> u32 {
    256
}
