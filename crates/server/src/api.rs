//! The JSON API under `/api` (described by `/api/openapi.json`).
//!
//! Every path a client sends is relative to the user's base path: it is cleaned ([`crate::mount::clean`]:
//! `..`, backslashes and control characters refused), then put under the base, so no request reaches
//! anything outside it. Downloads and uploads stream; nothing holds a whole file.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{ConnectInfo, FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use cloudmux_core::{ByteRange, DeleteMode, Entry, Error, ErrorKind, WriteOptions};
use futures_util::TryStreamExt;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::error::{ApiError, unauthorized};
use crate::mount::{clean, under};
use crate::users::User;

type ApiResult<T> = std::result::Result<T, ApiError>;

/// The signed-in user of a request (from `Authorization: Bearer TOKEN`).
pub struct Authed(pub User, pub String);

impl FromRequestParts<Arc<AppState>> for Authed {
    type Rejection = Response;
    async fn from_request_parts(
        parts: &mut Parts,
        st: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let Some(token) = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(|t| t.trim().to_string())
        else {
            return Err(unauthorized("no bearer token"));
        };
        let ip = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip())
            .unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
        match st.users.authenticate(ip, &token).await {
            Ok(Some(u)) => Ok(Authed(u, token)),
            Ok(None) => Err(unauthorized("the token is unknown or expired")),
            Err(e) => Err(ApiError(e).into_response()),
        }
    }
}

impl Authed {
    /// The tree path of a client path.
    fn path(&self, p: &str) -> ApiResult<String> {
        Ok(under(&self.0.base_path, &clean(p)?))
    }

    /// Like [`Authed::path`], for a change (needs the write right).
    fn write_path(&self, p: &str) -> ApiResult<String> {
        if !self.0.can_write {
            return Err(Error::new(
                ErrorKind::PermissionDenied,
                format!("{} may only read", self.0.name),
            )
            .into());
        }
        let full = self.path(p)?;
        if full == self.0.base_path {
            return Err(Error::invalid("the top folder itself cannot be changed").into());
        }
        Ok(full)
    }

    /// A tree path as the client sees it.
    fn shown(&self, full: &str) -> String {
        match self.0.base_path.as_str() {
            "/" => full.to_string(),
            b => match full.strip_prefix(b) {
                Some("") => "/".to_string(),
                Some(rest) => rest.to_string(),
                None => full.to_string(),
            },
        }
    }

    fn entry(&self, e: &Entry) -> Value {
        json!({
            "name": e.name,
            "path": self.shown(&e.path),
            "is_dir": e.is_dir,
            "size": e.size,
            "modified": e.modified,
            "mime": e.mime,
            "hashes": e.hashes,
        })
    }
}

/// The routes.
pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/api/openapi.json", get(openapi))
        .route("/api/auth/login", post(login))
        .route("/api/auth/logout", post(logout))
        .route("/api/auth/tokens", get(list_tokens).post(new_token))
        .route("/api/auth/tokens/{id}", delete(revoke_token))
        .route("/api/me", get(me))
        .route("/api/fs/list", get(list))
        .route("/api/fs/stat", get(stat))
        .route("/api/fs/download", get(download))
        .route("/api/fs/ticket", post(ticket))
        .route("/api/fs/dl/{ticket}/{name}", get(ticket_download))
        .route("/api/fs/upload", put(upload))
        .route("/api/fs/mkdir", post(mkdir))
        .route("/api/fs/rename", post(rename))
        .route("/api/fs/delete", post(remove))
        .route("/api/fs/link", post(link))
        .route("/api/fs/search", get(search))
        .route("/api/fs/copy", post(copy))
        .route("/api/fs/move", post(move_))
        .route("/api/tasks", get(tasks))
        .route("/api/tasks/{id}", get(task).delete(cancel_task))
}

async fn openapi() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        crate::openapi::DOCUMENT,
    )
        .into_response()
}

#[derive(Deserialize)]
struct LoginBody {
    username: String,
    password: String,
}

async fn login(
    State(st): State<Arc<AppState>>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    Json(b): Json<LoginBody>,
) -> ApiResult<Json<Value>> {
    let (token, expires, user) = st.users.login(addr.ip(), &b.username, &b.password).await?;
    Ok(Json(
        json!({"token": token, "expires_at": expires, "user": user}),
    ))
}

async fn logout(State(st): State<Arc<AppState>>, a: Authed) -> ApiResult<StatusCode> {
    st.users.logout(&a.0.name, &a.1).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn me(a: Authed) -> Json<Value> {
    Json(json!({"user": a.0}))
}

/// API tokens one user may hold.
pub const MAX_API_TOKENS: usize = 50;

#[derive(Deserialize)]
struct NewToken {
    #[serde(default)]
    label: String,
}

async fn new_token(
    State(st): State<Arc<AppState>>,
    a: Authed,
    Json(b): Json<NewToken>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let label: String = if b.label.is_empty() { "api" } else { &b.label }
        .chars()
        .take(100)
        .collect();
    let label = label.as_str();
    if st.users.db().tokens_of(&a.0.name, "api").await?.len() >= MAX_API_TOKENS {
        return Err(Error::new(
            ErrorKind::RateLimited,
            format!("{} has {MAX_API_TOKENS} API tokens already", a.0.name),
        )
        .with_hint("revoke one you no longer use (DELETE /api/auth/tokens/ID)")
        .into());
    }
    let token = st.users.issue(&a.0.name, "api", label, 0).await?;
    let id = crate::users::token_hash(&token);
    Ok((
        StatusCode::CREATED,
        Json(json!({"token": token, "id": id, "label": label})),
    ))
}

async fn list_tokens(State(st): State<Arc<AppState>>, a: Authed) -> ApiResult<Json<Value>> {
    let ts = st.users.db().tokens_of(&a.0.name, "api").await?;
    Ok(Json(json!({"tokens": ts.iter().map(|t| json!({
        "id": t.token_hash, "label": t.label, "created": t.created,
    })).collect::<Vec<_>>()})))
}

async fn revoke_token(
    State(st): State<Arc<AppState>>,
    a: Authed,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    if st.users.db().remove_token(&a.0.name, &id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(Error::not_found(format!("token {id}")).into())
    }
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

fn one() -> usize {
    1
}
fn hundred() -> usize {
    100
}

async fn list(
    State(st): State<Arc<AppState>>,
    a: Authed,
    Query(q): Query<ListQ>,
) -> ApiResult<Json<Value>> {
    let full = a.path(&q.path)?;
    let all = st.tree.list(&full).await?;
    let mut idx: Vec<&Entry> = all.iter().collect();
    let desc = q.order.as_deref() == Some("desc");
    match q.sort.as_deref().unwrap_or("name") {
        "name" => idx.sort_by(|x, y| (!x.is_dir, &x.name).cmp(&(!y.is_dir, &y.name))),
        "size" => idx.sort_by_key(|e| (!e.is_dir, e.size)),
        "modified" => idx.sort_by_key(|e| (!e.is_dir, e.modified)),
        other => {
            return Err(Error::invalid(format!("cannot sort by {other:?}"))
                .with_hint("sort by name, size or modified")
                .into());
        }
    }
    if desc {
        idx.reverse();
    }
    let per_page = q.per_page.clamp(1, 1000);
    let page = q.page.max(1);
    let items: Vec<Value> = idx
        .iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .map(|e| a.entry(e))
        .collect();
    Ok(Json(json!({
        "path": a.shown(&full),
        "total": all.len(),
        "page": page,
        "per_page": per_page,
        "entries": items,
    })))
}

#[derive(Deserialize)]
struct PathQ {
    #[serde(default)]
    path: String,
}

async fn stat(
    State(st): State<Arc<AppState>>,
    a: Authed,
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

async fn download(
    State(st): State<Arc<AppState>>,
    a: Authed,
    method: Method,
    headers: HeaderMap,
    Query(q): Query<PathQ>,
) -> ApiResult<Response> {
    let full = a.path(&q.path)?;
    send_file(&st, &full, &a.shown(&full), &method, &headers, false).await
}

/// A download link that needs no header (for the browser's own downloads and `<img>`, `<video>` and
/// `<audio>` elements): the ticket names one file, is bound to this session and is not the user's token
/// ([`crate::tickets`]).
async fn ticket(
    State(st): State<Arc<AppState>>,
    a: Authed,
    Json(b): Json<PathQ>,
) -> ApiResult<Json<Value>> {
    let full = a.path(&b.path)?;
    let e = st.tree.stat(&full).await?;
    if e.is_dir {
        return Err(Error::invalid(format!("{} is a folder", a.shown(&full))).into());
    }
    let t = st
        .tickets
        .issue(&a.0, &crate::users::token_hash(&a.1), &full)?;
    let name: String =
        percent_encoding::utf8_percent_encode(&e.name, percent_encoding::NON_ALPHANUMERIC)
            .to_string();
    Ok(Json(json!({
        "url": format!("/api/fs/dl/{t}/{name}"),
        "expires_in": crate::tickets::IDLE.as_secs(),
    })))
}

#[derive(Deserialize)]
struct DlQ {
    #[serde(default)]
    inline: bool,
    /// A thumbnail no wider or higher than this many pixels (images only; rounded up to one of
    /// [`crate::thumbs::EDGES`]).
    #[serde(default)]
    thumb: Option<u32>,
}

async fn ticket_download(
    State(st): State<Arc<AppState>>,
    method: Method,
    headers: HeaderMap,
    Path((t, _name)): Path<(String, String)>,
    Query(q): Query<DlQ>,
) -> ApiResult<Response> {
    let full = st.tickets.redeem(&st.users, &t).await?;
    let shown = full.rsplit('/').next().unwrap_or_default().to_string();
    if let Some(edge) = q.thumb {
        let e = st.tree.stat(&full).await?;
        let jpeg = st.thumbs.get(&st.tree, &full, &e, edge).await?;
        let mut r = ([(header::CACHE_CONTROL, "private, max-age=300")], jpeg).into_response();
        crate::body::set_headers(r.headers_mut(), &shown, "image/jpeg", true);
        return Ok(r);
    }
    send_file(&st, &full, &shown, &method, &headers, q.inline).await
}

/// Streams a file (Range, HEAD), as an attachment unless `inline` is asked and the type is inert
/// ([`crate::body`]).
async fn send_file(
    st: &AppState,
    full: &str,
    shown: &str,
    method: &Method,
    headers: &HeaderMap,
    inline: bool,
) -> ApiResult<Response> {
    let e = st.tree.stat(full).await?;
    if e.is_dir {
        return Err(Error::invalid(format!("{shown} is a folder"))
            .with_hint("download files one by one, or list the folder")
            .into());
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
    let size = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let mime = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .filter(|m| *m != "application/octet-stream")
        .map(str::to_string);
    let data: cloudmux_core::ByteStream = Box::pin(
        body.into_data_stream()
            .map_err(|e| Error::new(ErrorKind::Transient, format!("upload body: {e}"))),
    );
    let e = st
        .tree
        .write(
            &full,
            data,
            WriteOptions {
                size,
                modified: q.modified,
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

#[derive(Deserialize)]
struct SearchQ {
    #[serde(default)]
    path: String,
    q: String,
    #[serde(default = "hundred")]
    limit: usize,
}

/// Folders visited by one search at most (a search is a walk; this bounds its cost).
const SEARCH_MAX_FOLDERS: u32 = 2000;
/// Folders a user's searches may list per [`SEARCH_WINDOW`] (each may cost a request at the remote).
pub const SEARCH_FOLDERS_PER_WINDOW: u32 = 4000;
/// The window of the search budget.
pub const SEARCH_WINDOW: std::time::Duration = std::time::Duration::from_secs(300);

async fn search(
    State(st): State<Arc<AppState>>,
    a: Authed,
    Query(q): Query<SearchQ>,
) -> ApiResult<Json<Value>> {
    let root = a.path(&q.path)?;
    let needle = q.q.to_lowercase();
    if needle.is_empty() {
        return Err(Error::invalid("empty search").into());
    }
    let limit = q.limit.clamp(1, 1000);
    let budget = st.search_budget.take(&a.0.name, SEARCH_MAX_FOLDERS);
    if budget == 0 {
        let wait = st.search_budget.wait(&a.0.name);
        return Err(Error::new(ErrorKind::RateLimited, "too many searches")
            .with_hint(format!("wait {} seconds", wait.as_secs() + 1))
            .into());
    }
    let mut found = Vec::new();
    let mut queue = std::collections::VecDeque::from([root.clone()]);
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
                found.push(a.entry(e));
            }
            if e.is_dir {
                queue.push_back(e.path.clone());
            }
        }
    }
    // Unused budget goes back to the user.
    st.search_budget.give_back(&a.0.name, budget - visited);
    Ok(Json(json!({
        "path": a.shown(&root), "q": q.q, "results": found,
        "complete": complete && queue.is_empty(),
    })))
}

async fn copy(
    State(st): State<Arc<AppState>>,
    a: Authed,
    Json(b): Json<FromTo>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let (from, to) = (a.path(&b.from)?, a.write_path(&b.to)?);
    start_task(&st, &a, from, to, cloudmux_vfs::Mode::Copy)
}

async fn move_(
    State(st): State<Arc<AppState>>,
    a: Authed,
    Json(b): Json<FromTo>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    // Within one mount a move is a rename, done at once.
    let (from, to) = (a.write_path(&b.from)?, a.write_path(&b.to)?);
    let (ma, _) = st.tree.locate(&from)?;
    let (mb, _) = st.tree.locate(&to)?;
    if Arc::ptr_eq(&ma, &mb) {
        let e = st.tree.rename(&from, &to).await?;
        return Ok((StatusCode::OK, Json(a.entry(&e))));
    }
    start_task(&st, &a, from, to, cloudmux_vfs::Mode::Move)
}

/// Starts a background transfer between tree paths (already checked against the user's rights).
fn start_task(
    st: &AppState,
    a: &Authed,
    from: String,
    to: String,
    mode: cloudmux_vfs::Mode,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let shown = (a.shown(&from), a.shown(&to));
    let id = st
        .tasks
        .start(&a.0.name, mode, shown, st.tree.clone(), from, to)?;
    Ok((
        StatusCode::ACCEPTED,
        Json(st.tasks.get(&a.0.name, &id).unwrap_or(Value::Null)),
    ))
}

async fn tasks(State(st): State<Arc<AppState>>, a: Authed) -> Json<Value> {
    Json(json!({"tasks": st.tasks.list(&a.0.name)}))
}

async fn task(
    State(st): State<Arc<AppState>>,
    a: Authed,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    st.tasks
        .get(&a.0.name, &id)
        .map(Json)
        .ok_or_else(|| Error::not_found(format!("task {id}")).into())
}

async fn cancel_task(
    State(st): State<Arc<AppState>>,
    a: Authed,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    if st.tasks.cancel(&a.0.name, &id) {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(Error::not_found(format!("task {id}")).into())
    }
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
