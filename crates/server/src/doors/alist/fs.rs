//! `/api/fs/…` as AList has them, each mapped onto the tree through the caller's rights.

use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use cloudmux_core::DeleteMode;

use super::*;

/// Names one move, copy or remove may take.
const MAX_NAMES: usize = 1000;

/// Names in a folder listing that `related` may hold at most (files of the same stem: subtitles…).
const MAX_RELATED: usize = 50;

/// One name inside a folder (`names[]`, a new name): no `/`, not `.` or `..`, no control characters.
pub(super) fn one_name(n: &str) -> std::result::Result<&str, Fail> {
    let bad = n.is_empty()
        || n == "."
        || n == ".."
        || n.contains(['/', '\\'])
        || n.chars().any(char::is_control);
    if bad {
        return Err(fail(
            400,
            &format!("{n:?} is not a name: names hold no '/' and are not '.' or '..'"),
        ));
    }
    Ok(n)
}

pub(super) fn join(dir: &str, name: &str) -> String {
    format!("{}/{name}", dir.trim_end_matches('/'))
}

#[derive(Deserialize)]
pub(super) struct ListReq {
    #[serde(default)]
    path: String,
    /// A share's password, for `/@s/ID/…` paths (clients send `null` too).
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    page: i64,
    #[serde(default)]
    per_page: i64,
    #[serde(default)]
    refresh: bool,
}

pub(super) async fn list(
    State(st): State<Arc<AppState>>,
    caller: std::result::Result<Caller, Fail>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    Where(base): Where,
    AJson(q): AJson<ListReq>,
) -> Answer {
    // A share's visitor needs no account.
    if super::share::split(&q.path).is_some() {
        return super::share::list_in(
            &st,
            addr.ip(),
            &q.path,
            q.password.as_deref().unwrap_or_default(),
            q.page,
            q.per_page,
        )
        .await;
    }
    let Caller(a) = caller?;
    let full = at(a.path(&q.path))?;
    if q.refresh && a.0.can_write {
        st.tree.invalidate(&full);
    }
    let all = or_fail(st.tree.list(&full).await)?;
    let mut entries: Vec<&Entry> = all.iter().filter(|e| a.visible(&e.path)).collect();
    entries.sort_by(|x, y| (!x.is_dir, &x.name).cmp(&(!y.is_dir, &y.name)));
    let total = entries.len();
    // AList's paging: pages from 1; `per_page` below 1 is the whole folder.
    let page = q.page.max(1) as usize;
    let per_page = if q.per_page < 1 {
        total.max(1)
    } else {
        q.per_page as usize
    };
    let content: Vec<Value> = entries
        .into_iter()
        .skip((page - 1).saturating_mul(per_page))
        .take(per_page)
        .map(|e| obj(&st, &a, e, &base))
        .collect();
    let located = st.tree.locate(&full).ok();
    let write = a.0.can_write && located.as_ref().is_some_and(|(m, _)| !m.read_only);
    Ok(ok(json!({
        "content": content,
        "total": total,
        "readme": "",
        "header": "",
        "write": write,
        "provider": provider(located.as_ref().map(|(m, _)| m.storage.kind())),
    })))
}

#[derive(Deserialize)]
pub(super) struct PathReq {
    #[serde(default)]
    path: String,
    /// A share's password, for `/@s/ID/…` paths (clients send `null` too).
    #[serde(default)]
    password: Option<String>,
}

pub(super) async fn get(
    State(st): State<Arc<AppState>>,
    caller: std::result::Result<Caller, Fail>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    Where(base): Where,
    AJson(q): AJson<PathReq>,
) -> Answer {
    if super::share::split(&q.path).is_some() {
        return super::share::get_in(
            &st,
            addr.ip(),
            &base,
            &q.path,
            q.password.as_deref().unwrap_or_default(),
        )
        .await;
    }
    let Caller(a) = caller?;
    let full = at(a.path(&q.path))?;
    let e = or_fail(st.tree.stat(&full).await)?;
    let mut v = obj(&st, &a, &e, &base);
    let shown = a.shown(&full);
    let located = st.tree.locate(&full).ok();
    // The guest gets links only where it may read the bytes (not in a folder on the way to a mount).
    let raw_url = if e.is_dir || a.read_path(&q.path).is_err() {
        String::new()
    } else {
        let sign = v["sign"].as_str().unwrap_or_default().to_string();
        format!("{base}/d{}?sign={}", encode_path(&shown), encode(&sign))
    };
    // Files beside it with the same stem (a film's subtitles), as AList lists them.
    let mut related = Vec::new();
    if !e.is_dir && full != "/" {
        let parent = crate::house::tree::parent_of(&full).to_string();
        let stem = e.name.rsplit_once('.').map_or(e.name.as_str(), |(s, _)| s);
        if let Ok(siblings) = st.tree.list(&parent).await {
            related = siblings
                .iter()
                .filter(|s| s.name != e.name && s.name.starts_with(stem) && a.visible(&s.path))
                .take(MAX_RELATED)
                .map(|s| obj(&st, &a, s, &base))
                .collect();
        }
    }
    v["raw_url"] = json!(raw_url);
    v["readme"] = json!("");
    v["header"] = json!("");
    v["provider"] = json!(provider(located.as_ref().map(|(m, _)| m.storage.kind())));
    v["related"] = json!(related);
    Ok(ok(v))
}

pub(super) async fn dirs(
    State(st): State<Arc<AppState>>,
    Caller(a): Caller,
    AJson(q): AJson<PathReq>,
) -> Answer {
    let full = at(a.path(&q.path))?;
    let all = or_fail(st.tree.list(&full).await)?;
    let dirs: Vec<Value> = all
        .iter()
        .filter(|e| e.is_dir && a.visible(&e.path))
        .map(|e| json!({"name": e.name, "modified": e.modified.unwrap_or_default().to_rfc3339()}))
        .collect();
    Ok(ok(json!(dirs)))
}

#[derive(Deserialize)]
pub(super) struct SearchReq {
    #[serde(default)]
    parent: String,
    #[serde(default)]
    keywords: String,
    /// 0 everything, 1 folders, 2 files.
    #[serde(default)]
    scope: u8,
    #[serde(default)]
    page: Option<i64>,
    #[serde(default)]
    per_page: Option<i64>,
}

pub(super) async fn search(
    State(st): State<Arc<AppState>>,
    Caller(a): Caller,
    AJson(q): AJson<SearchReq>,
) -> Answer {
    let root = at(a.read_path(&q.parent))?;
    let page = q.page.unwrap_or(1).max(1) as usize;
    let per_page = q.per_page.filter(|p| *p > 0).unwrap_or(100).min(1000) as usize;
    // Enough to fill the page asked for, within the same bound as cloudmux's own search.
    let want = page.saturating_mul(per_page).min(1000);
    let (found, _) =
        or_fail(crate::doors::common::files::walk(&st, &a, &root, &q.keywords, want).await)?;
    let found: Vec<&Entry> = found
        .iter()
        .filter(|e| match q.scope {
            1 => e.is_dir,
            2 => !e.is_dir,
            _ => true,
        })
        .collect();
    let total = found.len();
    let content: Vec<Value> = found
        .into_iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .map(|e| {
            json!({
                "parent": a.shown(crate::house::tree::parent_of(&e.path)),
                "name": e.name,
                "is_dir": e.is_dir,
                "size": e.size.unwrap_or(0),
                "type": obj_type(&e.name, e.is_dir),
            })
        })
        .collect();
    Ok(ok(json!({"content": content, "total": total})))
}

pub(super) async fn mkdir(
    State(st): State<Arc<AppState>>,
    Caller(a): Caller,
    AJson(q): AJson<PathReq>,
) -> Answer {
    let full = at(a.write_path(&q.path))?;
    or_fail(st.tree.mkdir(&full).await)?;
    Ok(ok(Value::Null))
}

#[derive(Deserialize)]
pub(super) struct RenameReq {
    #[serde(default)]
    path: String,
    #[serde(default)]
    name: String,
}

pub(super) async fn rename(
    State(st): State<Arc<AppState>>,
    Caller(a): Caller,
    AJson(q): AJson<RenameReq>,
) -> Answer {
    let full = at(a.write_path(&q.path))?;
    let to = join(crate::house::tree::parent_of(&full), one_name(&q.name)?);
    or_fail(st.tree.rename(&full, &to).await)?;
    Ok(ok(Value::Null))
}

#[derive(Deserialize)]
pub(super) struct MoveCopyReq {
    #[serde(default)]
    src_dir: String,
    #[serde(default)]
    dst_dir: String,
    #[serde(default)]
    names: Vec<String>,
}

/// The (from, to) tree paths of a move or copy, every name checked before anything is done.
fn pairs(
    a: &Authed,
    q: &MoveCopyReq,
    moving: bool,
) -> std::result::Result<Vec<(String, String)>, Fail> {
    if q.names.is_empty() {
        return Err(fail(400, "Empty file names"));
    }
    if q.names.len() > MAX_NAMES {
        return Err(fail(400, "at most 1000 names at once"));
    }
    let src = if moving {
        at(a.write_path(&q.src_dir))?
    } else {
        at(a.read_path(&q.src_dir))?
    };
    let dst = at(a.path(&q.dst_dir))?;
    q.names
        .iter()
        .map(|n| {
            let n = one_name(n)?;
            let from = join(&src, n);
            let to = at(a.write_path(&a.shown(&join(&dst, n))))?;
            Ok((from, to))
        })
        .collect()
}

pub(super) async fn move_(
    State(st): State<Arc<AppState>>,
    Caller(a): Caller,
    AJson(q): AJson<MoveCopyReq>,
) -> Answer {
    let mut tasks = 0;
    for (from, to) in pairs(&a, &q, true)? {
        if let crate::doors::common::files::Moved::Started(_) =
            or_fail(crate::doors::common::files::move_to(&st, &a, from, None, to).await)?
        {
            tasks += 1;
        }
    }
    Ok(if tasks > 0 {
        ok(json!(format!("Added {tasks} tasks")))
    } else {
        ok(Value::Null)
    })
}

pub(super) async fn copy(
    State(st): State<Arc<AppState>>,
    Caller(a): Caller,
    AJson(q): AJson<MoveCopyReq>,
) -> Answer {
    let pairs = pairs(&a, &q, false)?;
    let n = pairs.len();
    for (from, to) in pairs {
        let src = or_fail(st.tree.stat(&from).await)?;
        let _started = or_fail(
            crate::doors::common::files::start_task(
                &st,
                &a,
                from,
                &src,
                to,
                cloudmux_vfs::Mode::Copy,
            )
            .await,
        )?;
    }
    Ok(ok(json!(format!("Added {n} tasks"))))
}

#[derive(Deserialize)]
pub(super) struct RemoveReq {
    #[serde(default)]
    dir: String,
    #[serde(default)]
    names: Vec<String>,
}

pub(super) async fn remove(
    State(st): State<Arc<AppState>>,
    Caller(a): Caller,
    AJson(q): AJson<RemoveReq>,
) -> Answer {
    if q.names.is_empty() {
        return Err(fail(400, "Empty file names"));
    }
    if q.names.len() > MAX_NAMES {
        return Err(fail(400, "at most 1000 names at once"));
    }
    let dir = at(a.path(&q.dir))?;
    let mut targets = Vec::new();
    for n in &q.names {
        targets.push(at(a.write_path(&a.shown(&join(&dir, one_name(n)?))))?);
    }
    for t in targets {
        or_fail(st.tree.delete(&t, DeleteMode::Trash).await)?;
    }
    Ok(ok(Value::Null))
}

/// The `File-Path` header: percent-decoded as AList decodes it (`+` stays `+`).
pub(super) fn file_path(headers: &HeaderMap) -> std::result::Result<String, Fail> {
    let raw = headers
        .get("file-path")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| fail(400, "the File-Path header is missing"))?;
    percent_encoding::percent_decode_str(raw)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| fail(400, "File-Path is not UTF-8 once decoded"))
}

/// `Last-Modified` as AList's clients send it: milliseconds since the epoch.
pub(super) fn last_modified(headers: &HeaderMap) -> Option<chrono::DateTime<chrono::Utc>> {
    let ms: i64 = headers
        .get("last-modified")?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    chrono::DateTime::from_timestamp_millis(ms)
}

/// The answer to an upload: with `As-Task: true` the finished task, as AList reports it.
fn uploaded(headers: &HeaderMap, shown: &str) -> Response {
    let as_task = headers.get("as-task").and_then(|v| v.to_str().ok()) == Some("true");
    if !as_task {
        return ok(Value::Null);
    }
    ok(json!({"task": {
        "id": cloudmux_auth::oauth::random_token(12),
        "name": format!("upload {shown}"),
        "state": 2,
        "status": "success",
        "progress": 100,
        "error": "",
    }}))
}

/// `PUT /api/fs/put`: the body is the file, streamed to the remote.
pub(super) async fn put(
    State(st): State<Arc<AppState>>,
    Caller(a): Caller,
    headers: HeaderMap,
    body: Body,
) -> Answer {
    let full = at(a.write_path(&file_path(&headers)?))?;
    let (size, mime) = crate::doors::common::files::length_and_type(&headers);
    let data = crate::doors::common::files::body_stream(body);
    or_fail(
        crate::doors::common::files::write_stream(
            &st,
            &full,
            data,
            size,
            mime,
            last_modified(&headers),
        )
        .await,
    )?;
    Ok(uploaded(&headers, &a.shown(&full)))
}

/// `PUT /api/fs/form`: a multipart form whose file part is the file, streamed to the remote.
pub(super) async fn form(
    State(st): State<Arc<AppState>>,
    Caller(a): Caller,
    headers: HeaderMap,
    body: Body,
) -> Answer {
    let full = at(a.write_path(&file_path(&headers)?))?;
    let boundary = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(super::form::boundary)
        .ok_or_else(|| {
            fail(
                400,
                "expected Content-Type: multipart/form-data with a boundary",
            )
        })?;
    let stream = crate::doors::common::files::body_stream(body);
    let (mime, data) = or_fail(super::form::first_file(stream, &boundary).await)?;
    or_fail(
        crate::doors::common::files::write_stream(
            &st,
            &full,
            data,
            None,
            mime,
            last_modified(&headers),
        )
        .await,
    )?;
    Ok(uploaded(&headers, &a.shown(&full)))
}
