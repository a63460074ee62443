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
        .route("/api/fs/exif", get(exif))
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
    let mounts: Vec<(String, &'static str)> = st
        .tree
        .mounts()
        .iter()
        .map(|m| (m.path.clone(), m.storage.kind()))
        .collect();
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
    mounts: Vec<(String, &'static str)>,
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

#[derive(Deserialize)]
struct DownloadQ {
    #[serde(default)]
    path: String,
    /// Shown in the browser where the type is inert ([`crate::doors::common::body`]), not saved.
    #[serde(default)]
    inline: bool,
    /// Subtitles (`.srt`, `.vtt`) as WebVTT, for the player's `<track>`.
    #[serde(default)]
    vtt: bool,
}

async fn download(
    State(st): State<Arc<AppState>>,
    Reader(a): Reader,
    method: Method,
    headers: HeaderMap,
    Query(q): Query<DownloadQ>,
) -> ApiResult<Response> {
    let full = a.read_path(&q.path)?;
    if q.vtt {
        return files::subtitles_of(&st, &full).await;
    }
    files::send_file(&st, &full, &a.shown(&full), &method, &headers, q.inline).await
}

/// A small JPEG of an image, made by the server and cached.
async fn thumb(
    State(st): State<Arc<AppState>>,
    Reader(a): Reader,
    Query(q): Query<files::ThumbQ>,
) -> ApiResult<Response> {
    let full = a.read_path(&q.path)?;
    files::thumb_of(&st, &full, q.edge).await
}

/// What a photo's EXIF says ([`crate::house::exif`]); where it was taken only to a reader who may change
/// it (the owner of the space it is in) or an admin — a read-only user or the guest gets the rest.
async fn exif(
    State(st): State<Arc<AppState>>,
    Reader(a): Reader,
    Query(q): Query<PathQ>,
) -> ApiResult<Json<crate::house::exif::Photo>> {
    let full = a.read_path(&q.path)?;
    let owner = a.0.is_admin || (a.0.can_write && !a.is_guest());
    Ok(Json(crate::house::exif::of(&st.tree, &full, owner).await?))
}

/// A Markdown file rendered to safe HTML ([`crate::house::markdown`]).
async fn markdown(
    State(st): State<Arc<AppState>>,
    Reader(a): Reader,
    Query(q): Query<PathQ>,
) -> ApiResult<Json<Value>> {
    let full = a.read_path(&q.path)?;
    Ok(Json(files::markdown_of(&st, &full).await?))
}

/// A folder as a ZIP archive, streamed.
async fn zip(
    State(st): State<Arc<AppState>>,
    Reader(a): Reader,
    Query(q): Query<PathQ>,
) -> ApiResult<Response> {
    let full = a.read_path(&q.path)?;
    let (top, items) = files::zip_plan(&st, &full).await?;
    Ok(files::zip_body(&st, &top, items))
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
    let (size, mime) = files::length_and_type(&headers);
    let e =
        files::write_stream(&st, &full, files::body_stream(body), size, mime, q.modified).await?;
    Ok((StatusCode::CREATED, Json(a.entry(&e))))
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
    let (to, src) = files::target(&st, &from, &to).await?;
    files::start_task(&st, &a, from, &src, to, cloudmux_vfs::Mode::Copy).await
}

async fn move_(
    State(st): State<Arc<AppState>>,
    a: Authed,
    Json(b): Json<FromTo>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let (from, to) = (a.write_path(&b.from)?, a.write_path(&b.to)?);
    let (to, src) = files::target(&st, &from, &to).await?;
    match files::move_to(&st, &a, from, Some(src), to).await? {
        files::Moved::Renamed(e) => Ok((StatusCode::OK, Json(a.entry(&e)))),
        files::Moved::Started(task) => Ok(task),
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
            if let Some(Ok((a, b))) = files::parse_range(&h, size) {
                prop_assert!(a <= b && b < size, "{} of {}: {}-{}", h, size, a, b);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(files::parse_range("bytes=0-9", 100), Some(Ok((0, 9))));
        assert_eq!(files::parse_range("bytes=90-", 100), Some(Ok((90, 99))));
        assert_eq!(files::parse_range("bytes=-10", 100), Some(Ok((90, 99))));
        assert_eq!(files::parse_range("bytes=95-200", 100), Some(Ok((95, 99))));
        assert_eq!(files::parse_range("bytes=100-", 100), Some(Err(())));
        assert_eq!(files::parse_range("bytes=0-1,5-6", 100), None);
        assert_eq!(files::parse_range("items=0-1", 100), None);
        assert_eq!(files::parse_range("bytes=5-1", 100), None);
    }
}
