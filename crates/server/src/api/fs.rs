//! The tree: list, stat, streamed download (Range, HEAD) and upload, mkdir, rename, delete, public links,
//! copy and move (a move within one mount is a rename; anything else is a background task).

use super::*;

/// The routes.
pub(super) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/api/fs/list", get(list))
        .route("/api/fs/stat", get(stat))
        .route("/api/fs/download", get(download))
        .route("/api/fs/thumb", get(thumb))
        .route("/api/fs/markdown", get(markdown))
        .route("/api/fs/zip", get(zip))
        .route("/api/fs/upload", put(upload))
        .route("/api/fs/mkdir", post(mkdir))
        .route("/api/fs/rename", post(rename))
        .route("/api/fs/delete", post(remove))
        .route("/api/fs/link", post(link))
        .route("/api/fs/copy", post(copy))
        .route("/api/fs/move", post(move_))
}

#[derive(Deserialize)]
struct ListQ {
    #[serde(default)]
    path: String,
    #[serde(default = "one")]
    page: usize,
    #[serde(default = "hundred")]
    per_page: usize,
    #[serde(default)]
    sort: Option<String>,
    #[serde(default)]
    order: Option<String>,
}

async fn list(
    State(st): State<Arc<AppState>>,
    Reader(a): Reader,
    Query(q): Query<ListQ>,
) -> ApiResult<Response> {
    let full = a.path(&q.path)?;
    let mut all = st.tree.list(&full).await?;
    if a.is_guest() {
        all = Arc::new(all.iter().filter(|e| a.visible(&e.path)).cloned().collect());
    }
    let mounts: Vec<String> = st.tree.mounts().iter().map(|m| m.path.clone()).collect();
    // The mount the folder is in (none: a folder of mount points): its kind, and whether the page may
    // offer to change things here.
    let located = st.tree.locate(&full).ok();
    let writable = a.0.can_write && located.as_ref().is_some_and(|(m, _)| !m.read_only);
    let kind = located.map(|(m, _)| m.storage.kind());
    let mut idx: Vec<usize> = (0..all.len()).collect();
    let desc = q.order.as_deref() == Some("desc");
    let e = |i: &usize| &all[*i];
    match q.sort.as_deref().unwrap_or("name") {
        "name" => idx.sort_by(|x, y| (!e(x).is_dir, &e(x).name).cmp(&(!e(y).is_dir, &e(y).name))),
        "size" => idx.sort_by_key(|x| (!e(x).is_dir, e(x).size)),
        "modified" => idx.sort_by_key(|x| (!e(x).is_dir, e(x).modified)),
        other => {
            return Err(Error::invalid(format!("cannot sort by {other:?}"))
                .with_hint("sort by name, size or modified")
                .into());
        }
    }
    if desc {
        idx.reverse();
    }
    if q.per_page == 0 {
        return Ok(list_whole(a, full, all, idx, mounts, writable, kind));
    }
    let per_page = q.per_page.clamp(1, 1000);
    let page = q.page.max(1);
    let items: Vec<Value> = idx
        .iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .map(|i| a.listed(&all[*i], &mounts))
        .collect();
    Ok(Json(json!({
        "path": a.shown(&full),
        "writable": writable,
        "kind": kind,
        "total": all.len(),
        "page": page,
        "per_page": per_page,
        "entries": items,
    }))
    .into_response())
}

/// A whole listing (`per_page=0`), streamed in slices of entries as it is written: one request for a
/// folder of any size, with memory of a slice beyond the cached listing itself.
fn list_whole(
    a: Authed,
    full: String,
    all: Arc<Vec<Entry>>,
    idx: Vec<usize>,
    mounts: Vec<String>,
    writable: bool,
    kind: Option<&str>,
) -> Response {
    use futures_util::StreamExt;
    const SLICE: usize = 512;
    let head = format!(
        "{{\"path\":{},\"writable\":{writable},\"kind\":{},\"total\":{},\"page\":1,\"per_page\":0,\"entries\":[",
        json!(a.shown(&full)),
        json!(kind),
        all.len()
    );
    let n = idx.len();
    let a = Arc::new(a);
    let body = futures_util::stream::iter((0..n.div_ceil(SLICE)).map(move |k| {
        let mut out = Vec::with_capacity(SLICE * 200);
        for (j, i) in idx[k * SLICE..((k + 1) * SLICE).min(n)].iter().enumerate() {
            if k * SLICE + j > 0 {
                out.push(b',');
            }
            // A Value of plain data always serialises.
            let _ = serde_json::to_writer(&mut out, &a.listed(&all[*i], &mounts));
        }
        Ok::<_, std::convert::Infallible>(bytes::Bytes::from(out))
    }));
    let body =
        futures_util::stream::iter([Ok::<_, std::convert::Infallible>(bytes::Bytes::from(head))])
            .chain(body)
            .chain(futures_util::stream::iter([Ok(bytes::Bytes::from_static(
                b"]}",
            ))]));
    Response::builder()
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from_stream(body))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

async fn stat(
    State(st): State<Arc<AppState>>,
    Reader(a): Reader,
    Query(q): Query<PathQ>,
) -> ApiResult<Json<Value>> {
    let full = a.path(&q.path)?;
    let e = st.tree.stat(&full).await?;
    Ok(Json(a.entry(&e)))
}

/// `bytes=A-B`, `bytes=A-`, `bytes=-N` against a size; `Err` for an unsatisfiable range.
fn parse_range(h: &str, size: u64) -> Option<std::result::Result<(u64, u64), ()>> {
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

#[derive(Deserialize)]
struct DownloadQ {
    #[serde(default)]
    path: String,
    /// Shown in the browser where the type is inert ([`crate::body`]), not saved.
    #[serde(default)]
    inline: bool,
}

async fn download(
    State(st): State<Arc<AppState>>,
    Reader(a): Reader,
    method: Method,
    headers: HeaderMap,
    Query(q): Query<DownloadQ>,
) -> ApiResult<Response> {
    let full = a.read_path(&q.path)?;
    send_file(&st, &full, &a.shown(&full), &method, &headers, q.inline).await
}

#[derive(Deserialize)]
pub(super) struct ThumbQ {
    #[serde(default)]
    pub(super) path: String,
    /// The largest edge wanted, in pixels (rounded up to one of [`crate::thumbs::EDGES`]).
    #[serde(default = "thumb_edge")]
    pub(super) edge: u32,
    /// A share's key ([`crate::shares`]), on a share's route.
    #[serde(default)]
    pub(super) key: Option<String>,
}

fn thumb_edge() -> u32 {
    256
}

/// A small JPEG of an image, made by the server and cached.
async fn thumb(
    State(st): State<Arc<AppState>>,
    Reader(a): Reader,
    Query(q): Query<ThumbQ>,
) -> ApiResult<Response> {
    let full = a.read_path(&q.path)?;
    thumb_of(&st, &full, q.edge).await
}

/// The thumbnail answer for the tree path `full`.
pub(crate) async fn thumb_of(st: &AppState, full: &str, edge: u32) -> ApiResult<Response> {
    let e = st.tree.stat_for_read(full).await?;
    let jpeg = st.thumbs.get(&st.tree, full, &e, edge).await?;
    let mut r = ([(header::CACHE_CONTROL, "private, max-age=300")], jpeg).into_response();
    crate::body::set_headers(r.headers_mut(), &e.name, "image/jpeg", true);
    Ok(r)
}

/// A Markdown file rendered to safe HTML ([`crate::markdown`]).
async fn markdown(
    State(st): State<Arc<AppState>>,
    Reader(a): Reader,
    Query(q): Query<PathQ>,
) -> ApiResult<Json<Value>> {
    let full = a.read_path(&q.path)?;
    Ok(Json(markdown_of(&st, &full).await?))
}

/// `{"html": …}` of the Markdown file at tree path `full` (at most [`crate::markdown::MAX_BYTES`]).
pub(crate) async fn markdown_of(st: &AppState, full: &str) -> ApiResult<Value> {
    let e = st.tree.stat_for_read(full).await?;
    if e.is_dir {
        return Err(Error::invalid("a folder is not Markdown").into());
    }
    let max = crate::markdown::MAX_BYTES;
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
        "html": crate::markdown::render(&text),
        "truncated": e.size.is_some_and(|s| s > max as u64),
    }))
}

/// A folder as a ZIP archive, streamed.
async fn zip(
    State(st): State<Arc<AppState>>,
    Reader(a): Reader,
    Query(q): Query<PathQ>,
) -> ApiResult<Response> {
    let full = a.read_path(&q.path)?;
    let (top, items) = super::shares::zip_plan(&st, &full).await?;
    Ok(super::shares::zip_body(&st, &top, items))
}

/// Streams a file (Range, HEAD), as an attachment unless `inline` is asked and the type is inert
/// ([`crate::body`]); a download from a mount with direct links is a redirect to the service's link.
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
        return Ok(crate::body::redirect(&link));
    }
    let mime = e
        .mime
        .clone()
        .unwrap_or_else(|| cloudmux_core::mime::guess(&e.name).to_string());
    let mut resp = Response::builder().header(header::ACCEPT_RANGES, "bytes");
    if let Some(h) = resp.headers_mut() {
        crate::body::set_headers(h, &e.name, &mime, inline);
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

#[derive(Deserialize)]
struct UploadQ {
    path: String,
    #[serde(default = "yes")]
    overwrite: bool,
    #[serde(default)]
    modified: Option<chrono::DateTime<chrono::Utc>>,
}

fn yes() -> bool {
    true
}

async fn upload(
    State(st): State<Arc<AppState>>,
    a: Authed,
    headers: HeaderMap,
    Query(q): Query<UploadQ>,
    body: Body,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let full = a.write_path(&q.path)?;
    if !q.overwrite && st.tree.stat(&full).await.is_ok() {
        return Err(Error::new(
            ErrorKind::AlreadyExists,
            format!("{} exists", a.shown(&full)),
        )
        .with_hint("pass overwrite=true to replace it")
        .into());
    }
    let (size, mime) = length_and_type(&headers);
    let e = write_stream(&st, &full, body_stream(body), size, mime, q.modified).await?;
    Ok((StatusCode::CREATED, Json(a.entry(&e))))
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

async fn mkdir(
    State(st): State<Arc<AppState>>,
    a: Authed,
    Json(b): Json<PathQ>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let full = a.write_path(&b.path)?;
    let e = st.tree.mkdir(&full).await?;
    Ok((StatusCode::CREATED, Json(a.entry(&e))))
}

#[derive(Deserialize)]
struct FromTo {
    from: String,
    to: String,
}

async fn rename(
    State(st): State<Arc<AppState>>,
    a: Authed,
    Json(b): Json<FromTo>,
) -> ApiResult<Json<Value>> {
    let (from, to) = (a.write_path(&b.from)?, a.write_path(&b.to)?);
    let e = st.tree.rename(&from, &to).await?;
    Ok(Json(a.entry(&e)))
}

#[derive(Deserialize)]
struct DeleteBody {
    path: String,
    #[serde(default)]
    permanent: bool,
}

async fn remove(
    State(st): State<Arc<AppState>>,
    a: Authed,
    Json(b): Json<DeleteBody>,
) -> ApiResult<StatusCode> {
    let full = a.write_path(&b.path)?;
    let mode = if b.permanent {
        DeleteMode::Permanent
    } else {
        DeleteMode::Trash
    };
    st.tree.delete(&full, mode).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn link(
    State(st): State<Arc<AppState>>,
    a: Authed,
    Json(b): Json<PathQ>,
) -> ApiResult<Json<Value>> {
    let full = a.write_path(&b.path)?;
    let url = st.tree.public_link(&full).await?;
    Ok(Json(json!({"path": a.shown(&full), "url": url})))
}

async fn copy(
    State(st): State<Arc<AppState>>,
    a: Authed,
    Json(b): Json<FromTo>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let (from, to) = (a.path(&b.from)?, a.write_path(&b.to)?);
    let (to, src) = super::tasks::target(&st, &from, &to).await?;
    super::tasks::start_task(&st, &a, from, &src, to, cloudmux_vfs::Mode::Copy).await
}

async fn move_(
    State(st): State<Arc<AppState>>,
    a: Authed,
    Json(b): Json<FromTo>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let (from, to) = (a.write_path(&b.from)?, a.write_path(&b.to)?);
    let (to, src) = super::tasks::target(&st, &from, &to).await?;
    match move_to(&st, &a, from, Some(src), to).await? {
        Moved::Renamed(e) => Ok((StatusCode::OK, Json(a.entry(&e)))),
        Moved::Started(task) => Ok(task),
    }
}

/// What a move did.
pub(crate) enum Moved {
    /// Within one mount: renamed at once, to this entry.
    Renamed(Entry),
    /// Between mounts: a background copy-then-delete ([`super::tasks::start_task`]'s answer).
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
    let task = super::tasks::start_task(st, a, from, &src, to, cloudmux_vfs::Mode::Move).await?;
    Ok(Moved::Started(task))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-9", 100), Some(Ok((0, 9))));
        assert_eq!(parse_range("bytes=90-", 100), Some(Ok((90, 99))));
        assert_eq!(parse_range("bytes=-10", 100), Some(Ok((90, 99))));
        assert_eq!(parse_range("bytes=95-200", 100), Some(Ok((95, 99))));
        assert_eq!(parse_range("bytes=100-", 100), Some(Err(())));
        assert_eq!(parse_range("bytes=0-1,5-6", 100), None);
        assert_eq!(parse_range("items=0-1", 100), None);
        assert_eq!(parse_range("bytes=5-1", 100), None);
    }
}

#[cfg(test)]
mod fuzz {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]

        #[test]
        fn ranges_are_within_the_file_or_refused(
            h in "(bytes|items)=[-0-9, ]{0,12}|\\PC{0,24}",
            size in prop_oneof![Just(0u64), Just(1), Just(100), any::<u64>()],
        ) {
            if let Some(Ok((a, b))) = parse_range(&h, size) {
                prop_assert!(a <= b && b < size, "{} of {}: {}-{}", h, size, a, b);
            }
        }
    }
}
