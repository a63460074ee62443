//! AList's HTTP API — a second door into the same house, for the apps and scripts written for AList and
//! OpenList (media players, phone clients, download helpers, the `alist-sdk` package).
//!
//! Served under `/alist` on the main address (`http://HOST/alist` is the server address to give an app)
//! and, with `serve --alist-listen ADDR`, at the root of an address of its own for apps that cannot take a
//! path. Every answer to `/api/…` is HTTP 200 with `{"code", "message", "data"}`, the real status being
//! `code`, as AList answers; the token goes in `Authorization` as it is (a `Bearer ` prefix is accepted
//! too), and no header at all is the guest, who reads only the mounts open to guests.
//!
//! Nothing here keeps files or rights of its own: users, their base folders and write right, the
//! sign-in throttle, the traversal checks ([`crate::doors::common::authed::Authed`]), the tree, the transfer engine
//! (background copies and moves) and file bodies (`api::fs::send_file_as`) are those of
//! cloudmux's own API. The `sign` of a download link is an HMAC of the user and the path with a secret
//! of the installation and an expiry ([`sign`]), never the token; each use checks the user's rights again.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts, OriginalUri, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use cloudmux_core::{Entry, Error, ErrorKind};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::doors::common::authed::Authed;
use crate::house::users::RECENT_SIGNIN;

mod batch;
mod down;
mod form;
mod fs;
pub mod multipart;
mod share;
pub mod sign;
mod task;
pub mod ui;

pub use sign::Signer;

/// Where the door is on the main address.
pub const PREFIX: &str = "/alist";

/// The AList version this door answers as (clients check it to know which fields to expect).
pub const AS_VERSION: &str = "v3.41.0";

/// The routes, at the root (nested under [`PREFIX`] by [`crate::app`]); with `ui`, an AList/OpenList
/// frontend build answers every page address that is not the API's ([`ui`]).
pub fn routes(ui: Option<Arc<ui::Ui>>) -> Router<Arc<AppState>> {
    Router::new()
        .route("/ping", get(|| async { "pong" }))
        .route("/api/public/settings", get(settings).post(settings))
        .route("/api/public/archive_extensions", get(none).post(none))
        .route("/api/public/offline_download_tools", get(none).post(none))
        .route("/api/auth/login", post(login))
        .route("/api/auth/login/hash", post(login_hash))
        .route("/api/auth/logout", get(logout).post(logout))
        .route("/api/me", get(me))
        .route("/api/me/update", post(me_update))
        .route("/api/fs/list", post(fs::list))
        .route("/api/fs/get", post(fs::get))
        .route("/api/fs/dirs", post(fs::dirs))
        .route("/api/fs/search", post(fs::search))
        .route("/api/fs/mkdir", post(fs::mkdir))
        .route("/api/fs/rename", post(fs::rename))
        .route("/api/fs/move", post(fs::move_))
        .route("/api/fs/copy", post(fs::copy))
        .route("/api/fs/remove", post(fs::remove))
        .route("/api/fs/put", put(fs::put))
        .route("/api/fs/form", put(fs::form))
        .route("/api/fs/multipart/init", post(multipart::init))
        .route("/api/fs/multipart/chunk", put(multipart::chunk))
        .route("/api/fs/multipart/complete", post(multipart::complete))
        .route("/api/fs/multipart/status", get(multipart::status))
        .route("/api/fs/multipart/abort", post(multipart::abort))
        .route("/api/fs/batch_rename", post(batch::batch_rename))
        .route("/api/fs/regex_rename", post(batch::regex_rename))
        .route("/api/fs/recursive_move", post(batch::recursive_move))
        .route(
            "/api/fs/remove_empty_directory",
            post(batch::remove_empty_directory),
        )
        .route("/api/fs/get_direct_upload_info", post(direct_upload_info))
        .route(
            "/api/task/{kind}/{action}",
            get(task::task).post(task::task),
        )
        .route("/api/share/list", get(share::list).post(share::list))
        .route("/api/share/get", get(share::get))
        .route("/api/share/create", post(share::create))
        .route("/api/share/update", post(share::update))
        .route("/api/share/delete", post(share::revoke))
        .route("/api/share/disable", post(share::revoke))
        .route("/api/share/enable", post(share::enable))
        .route(
            "/sd/{id}",
            get(share::download_root).head(share::download_root),
        )
        .route(
            "/sd/{id}/{*path}",
            get(share::download).head(share::download),
        )
        .route("/d/{*path}", get(down::direct).head(down::direct))
        .route("/p/{*path}", get(down::proxy).head(down::proxy))
        .fallback(move |method: axum::http::Method, uri: Uri| {
            let ui = ui.clone();
            async move {
                let page = method == axum::http::Method::GET || method == axum::http::Method::HEAD;
                match ui {
                    Some(ui) if page && !uri.path().starts_with("/api/") => ui.answer(&uri).await,
                    _ => not_served(uri.path()).into_response(),
                }
            }
        })
}

/// What AList's API has and cloudmux does not, with what to use instead: a clear answer (in AList's
/// envelope) for the pages of AList's and OpenList's frontends that ask for them, never a bare 404.
const NOT_HERE: &[(&str, u16, &str)] = &[
    (
        "/api/admin/",
        403,
        "users, storages and settings are managed by cloudmux's own admin page \
         (/#admin on cloudmux's main address) or its JSON API (/api/admin/...), not here",
    ),
    (
        "/api/fs/archive/",
        405,
        "cloudmux does not open archives on the server: download the archive",
    ),
    ("/api/fs/torrent/", 405, "cloudmux has no offline downloads"),
    (
        "/api/fs/add_offline_download",
        405,
        "cloudmux has no offline downloads",
    ),
    (
        "/api/fs/other",
        405,
        "cloudmux's remotes have no operations of their own: every one goes through the common routes",
    ),
    (
        "/api/fs/link",
        405,
        "use /api/fs/get's raw_url, or /d/PATH?sign=...",
    ),
    (
        "/api/me/sshkey/",
        405,
        "cloudmux keeps no SSH keys: use its WebDAV (/dav) or API tokens (/api/auth/tokens)",
    ),
    (
        "/api/auth/2fa/",
        405,
        "cloudmux signs in by password and API tokens: no two-factor codes",
    ),
    (
        "/api/authn/",
        405,
        "cloudmux signs in by password and API tokens: no passkeys",
    ),
    (
        "/api/auth/login/ldap",
        405,
        "cloudmux signs in by its own users' passwords: no LDAP",
    ),
    (
        "/api/auth/sso",
        405,
        "cloudmux signs in by its own users' passwords: no single sign-on",
    ),
];

/// The answer to a route this door does not serve.
fn not_served(path: &str) -> Fail {
    match NOT_HERE.iter().find(|(p, _, _)| path.starts_with(p)) {
        Some((_, code, message)) => fail(*code, message),
        None => fail(404, "not found: this is AList's API as cloudmux serves it"),
    }
}

/// An empty list (the archive formats the server opens, its offline download tools: none).
async fn none() -> Response {
    ok(json!([]))
}

/// No upload goes straight from the browser to a remote: the browser sends to this server.
async fn direct_upload_info(Caller(_): Caller) -> Response {
    ok(Value::Null)
}

/// `{"code": 200, "message": "success", "data": data}`.
pub(crate) fn ok(data: Value) -> Response {
    Json(json!({"code": 200, "message": "success", "data": data})).into_response()
}

/// An error as AList sends it: HTTP 200, the status in `code`.
#[derive(Debug)]
pub(crate) struct Fail(u16, String);

impl IntoResponse for Fail {
    fn into_response(self) -> Response {
        Json(json!({"code": self.0, "message": self.1, "data": null})).into_response()
    }
}

/// An error with AList's status `code`.
pub(crate) fn fail(code: u16, message: &str) -> Fail {
    Fail(code, message.to_string())
}

/// A cloudmux error as an AList answer (the message followed by the hint, if any).
pub(crate) fn fail_with(e: &Error) -> Fail {
    let code = crate::doors::common::error::status_of(e.kind()).as_u16();
    let message = match e.hint() {
        Some(h) => format!("{}: {h}", e.message()),
        None => e.message().to_string(),
    };
    fail(code, &message)
}

/// What a handler returns: an AList answer either way.
pub(crate) type Answer = std::result::Result<Response, Fail>;

/// Turns any cloudmux error into the AList answer (`?` in handlers).
pub(crate) fn or_fail<T>(
    r: std::result::Result<T, impl Into<crate::doors::common::error::ApiError>>,
) -> std::result::Result<T, Fail> {
    r.map_err(|e| fail_with(&e.into().0))
}

/// Loads the installation's signing secret on first use (made and stored if there is none yet).
pub(crate) async fn ready(st: &AppState) -> std::result::Result<(), Fail> {
    if st.alist.has_key() {
        return Ok(());
    }
    let fresh = cloudmux_auth::oauth::random_token(32);
    let key = st
        .users
        .db()
        .secret("alist-sign", &fresh)
        .await
        .map_err(|e| fail_with(&e))?;
    st.alist.set_key(key.into_bytes());
    Ok(())
}

/// A path resolved for the caller, or AList's answer for a path it may not use: code 403, as AList
/// answers a relative (`..`) path or one outside the user's base.
pub(crate) fn at(
    r: crate::doors::common::authed::ApiResult<String>,
) -> std::result::Result<String, Fail> {
    r.map_err(|e| {
        let mut f = fail_with(&e.0);
        if f.0 == 400 {
            f.0 = 403;
        }
        f
    })
}

/// The token of `Authorization` as AList's clients send it (raw, or after `Bearer `); empty: none.
fn token_of(headers: &HeaderMap) -> &str {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim())
        .map(|v| v.strip_prefix("Bearer ").unwrap_or(v).trim())
        .unwrap_or_default()
}

/// The caller: the user of the `Authorization` token, or with none the guest where a mount is open to
/// guests. An unknown token is refused, not taken for the guest.
pub(crate) struct Caller(pub Authed);

impl FromRequestParts<Arc<AppState>> for Caller {
    type Rejection = Fail;
    async fn from_request_parts(
        parts: &mut Parts,
        st: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        ready(st).await?;
        let token = token_of(&parts.headers).to_string();
        if token.is_empty() {
            return Authed::guest(st)
                .map(Caller)
                .ok_or_else(|| fail(401, "Guest user is disabled, login please"));
        }
        match Authed::from_token(st, crate::doors::common::authed::client_ip(parts), token).await {
            Ok(Some(a)) => Ok(Caller(a)),
            Ok(None) => Err(fail(401, "token is invalidated")),
            Err(e) => Err(fail_with(&e)),
        }
    }
}

/// A JSON request body, or AList's answer to a malformed one (code 400).
pub(crate) struct AJson<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> axum::extract::FromRequest<S> for AJson<T> {
    type Rejection = Fail;
    async fn from_request(req: axum::extract::Request, st: &S) -> Result<Self, Fail> {
        let b = axum::body::Bytes::from_request(req, st)
            .await
            .map_err(|e| fail(400, &format!("the request body: {e}")))?;
        serde_json::from_slice(&b)
            .map(AJson)
            .map_err(|e| fail(400, &format!("the request body: {e}")))
    }
}

/// A query string, or AList's answer to a malformed one (code 400).
pub(crate) struct AQuery<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> FromRequestParts<S> for AQuery<T> {
    type Rejection = Fail;
    async fn from_request_parts(parts: &mut Parts, st: &S) -> Result<Self, Fail> {
        axum::extract::Query::<T>::from_request_parts(parts, st)
            .await
            .map(|q| AQuery(q.0))
            .map_err(|e| fail(400, &e.to_string()))
    }
}

/// Where this door was reached: `http(s)://HOST` and the path it is served under (`/alist` or empty).
pub(crate) fn base_url(headers: &HeaderMap, original: &Uri, uri: &Uri) -> String {
    let origin = crate::doors::common::proxy::origin(headers).unwrap_or_default();
    let prefix = original.path().strip_suffix(uri.path()).unwrap_or_default();
    format!("{origin}{prefix}")
}

/// AList's numbers for kinds of file: 0 unknown, 1 folder, 2 video, 3 audio, 4 text, 5 image.
pub(crate) fn obj_type(name: &str, is_dir: bool) -> u8 {
    if is_dir {
        return 1;
    }
    let ext = name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "mp4" | "mkv" | "avi" | "mov" | "rmvb" | "webm" | "flv" | "m3u8" | "m4v" | "ts" | "wmv" => {
            2
        }
        "mp3" | "flac" | "ogg" | "oga" | "opus" | "m4a" | "wav" | "wma" | "aac" | "ape" => 3,
        "txt" | "htm" | "html" | "xml" | "java" | "properties" | "sql" | "js" | "md" | "json"
        | "conf" | "ini" | "vue" | "php" | "py" | "bat" | "gitignore" | "yml" | "yaml" | "go"
        | "sh" | "c" | "cpp" | "h" | "hpp" | "tsx" | "vtt" | "srt" | "ass" | "rs" | "lrc"
        | "toml" | "csv" | "log" => 4,
        "jpg" | "tiff" | "jpeg" | "png" | "gif" | "bmp" | "svg" | "ico" | "swf" | "webp"
        | "avif" | "heic" => 5,
        _ => 0,
    }
}

/// The name AList gives the driver of a kind of remote (`provider`).
pub(crate) fn provider(kind: Option<&str>) -> &'static str {
    match kind {
        Some("gdrive") => "GoogleDrive",
        Some("gphotos") => "GooglePhoto",
        Some("yadisk") => "YandexDisk",
        Some("local") => "Local",
        Some(_) => "cloudmux",
        None => "unknown",
    }
}

/// An entry as AList's `content` items: `sign` for files (a download link's signature), `thumb` for
/// images (a signed link to the server's thumbnail).
pub(crate) fn obj(st: &AppState, a: &Authed, e: &Entry, base: &str) -> Value {
    let shown = a.shown(&e.path);
    let modified = e.modified.unwrap_or_default().to_rfc3339();
    let (sign, thumb) = if e.is_dir {
        (String::new(), String::new())
    } else {
        let s = st.alist.sign(&a.0.name, &shown);
        let thumb = if crate::house::thumbs::is_image(&e.name) {
            format!(
                "{base}/d{}?sign={}&thumb=256",
                encode_path(&shown),
                encode(&s)
            )
        } else {
            String::new()
        };
        (s, thumb)
    };
    let hashes = serde_json::to_value(&e.hashes).unwrap_or(Value::Null);
    let hashes = match hashes {
        Value::Object(m) if !m.is_empty() => Value::Object(m),
        _ => Value::Null,
    };
    json!({
        "name": e.name,
        "size": e.size.unwrap_or(0),
        "is_dir": e.is_dir,
        "modified": modified,
        "created": modified,
        "sign": sign,
        "thumb": thumb,
        "type": obj_type(&e.name, e.is_dir),
        "hashinfo": if hashes.is_null() { "null".to_string() } else { hashes.to_string() },
        "hash_info": hashes,
    })
}

/// What is percent-encoded in a path segment of a link: controls, non-ASCII and what would end or
/// change the segment.
const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}')
    .add(b'\\')
    .add(b'^')
    .add(b'|')
    .add(b'[')
    .add(b']')
    .add(b'/')
    .add(b'&')
    .add(b'+')
    .add(b'=')
    .add(b';');

/// A path for a URL: each segment percent-encoded, the slashes kept.
pub(crate) fn encode_path(p: &str) -> String {
    p.split('/').map(encode).collect::<Vec<_>>().join("/")
}

/// A path segment or a query value, percent-encoded.
pub(crate) fn encode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, SEGMENT).to_string()
}

async fn settings() -> Response {
    ok(json!({
        "version": AS_VERSION,
        "cloudmux_version": env!("CARGO_PKG_VERSION"),
        "site_title": "cloudmux",
        "announcement": "",
        "logo": "/cloudmux-icon.svg",
        "favicon": "/cloudmux-icon.svg",
        "main_color": "#2559b8",
        "allow_indexed": "false",
        "allow_mounted": "true",
        "default_page_size": "200",
        "pagination_type": "pagination",
        // Previews: no outside viewers (OpenList's default sends Office files to Microsoft's), the
        // audio player's cover cloudmux's icon (not fetched from OpenList's site).
        "external_previews": "{}",
        "iframe_previews": "{}",
        "audio_cover": "/cloudmux-icon.svg",
        "readme_autorender": "true",
        "filter_readme_scripts": "true",
        "preview_download_by_default": "false",
        "preview_archives_by_default": "false",
        "share_preview": "true",
        "share_preview_download_by_default": "false",
        "settings_layout": "list",
        "share_icon": "🔗",
        "multipart_enabled": "true",
        // What OpenList's frontend shows (and copies) once a share link is made.
        "share_summary_content": "{{creator}} shared {{#each files}}\"{{filename this}}\"{{/each}} on {{site_title}}: \
            {{base_url}}/@s/{{id}}{{#if pwd}} (share code: {{pwd}}){{/if}}\
            {{#if expires}}, to be opened before {{dateLocaleString expires}}{{/if}}.",
        "multipart_chunk_size": (multipart::CHUNK_MAX >> 20).to_string(),
        "audio_autoplay": "true",
        "video_autoplay": "false",
        "package_download": "true",
        "search_index": "database",
        "sso_login_enabled": "false",
        "ldap_login_enabled": "false",
        "webauthn_login_enabled": "false",
        "hide_files": "",
        "home_container": "max_980px",
        "home_icon": "",
        "robots_txt": "User-agent: *\nDisallow: /",
    }))
}

#[derive(Deserialize)]
struct LoginReq {
    username: String,
    #[serde(default)]
    password: String,
}

async fn login(
    State(st): State<Arc<AppState>>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    AJson(b): AJson<LoginReq>,
) -> Response {
    signed_in(st.users.login(addr.ip(), &b.username, &b.password).await)
}

/// `password` is the hex SHA-256 of the password and AList's suffix ([`crate::house::users::alist_static_hash`]).
async fn login_hash(
    State(st): State<Arc<AppState>>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    AJson(b): AJson<LoginReq>,
) -> Response {
    signed_in(
        st.users
            .login_static_hash(addr.ip(), &b.username, &b.password)
            .await,
    )
}

fn signed_in(r: cloudmux_core::Result<(String, i64, crate::house::users::User)>) -> Response {
    match r {
        Ok((token, _, _)) => ok(json!({"token": token})),
        Err(e) if e.kind() == ErrorKind::PermissionDenied => {
            fail(400, "password is incorrect").into_response()
        }
        Err(e) => fail_with(&e).into_response(),
    }
}

async fn logout(State(st): State<Arc<AppState>>, Caller(a): Caller) -> Response {
    if a.is_guest() {
        return ok(Value::Null);
    }
    match st.users.logout(&a.0.name, &a.1).await {
        Ok(_) => ok(Value::Null),
        Err(e) => fail_with(&e).into_response(),
    }
}

/// OpenList's permission bits for the caller: WebDAV reading (8) and sharing (14) for every user,
/// writing, renaming, moving, copying and removing (3–7) and WebDAV changes (9) for users who may
/// write; nothing for the guest.
fn permission(a: &Authed) -> u32 {
    if a.is_guest() {
        return 0;
    }
    let base = (1 << 8) | (1 << 14);
    if a.0.can_write {
        base | 0b1111_1000 | (1 << 9)
    } else {
        base
    }
}

/// The caller; with no token and no mount open to guests, the guest as OpenList shows it then
/// (`disabled`: the frontend offers its sign-in page, a share's visitor goes on to the share).
async fn me(caller: std::result::Result<Caller, Fail>, headers: HeaderMap) -> Answer {
    let a = match caller {
        Ok(Caller(a)) => a,
        Err(_) if token_of(&headers).is_empty() => {
            return Ok(ok(json!({
                "id": 0, "username": "guest", "password": "", "base_path": "/", "role": 1,
                "disabled": true, "permission": 0, "sso_id": "", "otp": false,
            })));
        }
        Err(f) => return Err(f),
    };
    Ok(ok(json!({
        "id": 0,
        "username": if a.is_guest() { "guest" } else { a.0.name.as_str() },
        "password": "",
        "base_path": "/",
        "role": if a.is_guest() { 1 } else if a.0.is_admin { 2 } else { 0 },
        "disabled": false,
        "permission": permission(&a),
        "sso_id": "",
        "otp": false,
    })))
}

#[derive(Deserialize)]
struct MeUpdate {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
}

/// The user's own profile: a new password goes to cloudmux's users (it ends the user's sessions, this
/// one included, as a new password does everywhere); names are not changed here. OpenList's page sends
/// no old password, so the change needs a sign-in of the last minutes instead.
async fn me_update(
    State(st): State<Arc<AppState>>,
    Caller(a): Caller,
    headers: HeaderMap,
    AJson(q): AJson<MeUpdate>,
) -> Answer {
    if a.is_guest() {
        return Err(fail(403, "Guest user can not update profile"));
    }
    if !q.username.is_empty() && q.username != a.0.name {
        return Err(fail(
            400,
            "cloudmux does not rename users here: an administrator can make a user of the new name",
        ));
    }
    if !q.password.is_empty() {
        if !or_fail(st.users.recent_session(token_of(&headers)).await)? {
            return Err(fail(
                403,
                &format!(
                    "a new password needs a sign-in of the last {} minutes: sign out, sign in again \
                     and change it then (API tokens cannot change it)",
                    RECENT_SIGNIN.as_secs() / 60
                ),
            ));
        }
        or_fail(
            st.users
                .edit(&a.0.name, Some(&q.password), None, None, None, true)
                .await,
        )?;
    }
    Ok(ok(Value::Null))
}

/// The original and routed addresses of a request (for [`base_url`]).
pub(crate) struct Where(pub String);

impl<S: Send + Sync> FromRequestParts<S> for Where {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, st: &S) -> Result<Self, Self::Rejection> {
        let original = OriginalUri::from_request_parts(parts, st)
            .await
            .map(|o| o.0)
            .unwrap_or_else(|_| parts.uri.clone());
        Ok(Where(base_url(&parts.headers, &original, &parts.uri)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_by_name() {
        assert_eq!(obj_type("a", true), 1);
        assert_eq!(obj_type("Film.MKV", false), 2);
        assert_eq!(obj_type("song.flac", false), 3);
        assert_eq!(obj_type("notes.md", false), 4);
        assert_eq!(obj_type("p.JPG", false), 5);
        assert_eq!(obj_type("archive.zip", false), 0);
        assert_eq!(obj_type("noext", false), 0);
    }

    #[test]
    fn base_urls_keep_the_prefix() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, "example.org:5244".parse().unwrap());
        let orig: Uri = "/alist/api/fs/get".parse().unwrap();
        let routed: Uri = "/api/fs/get".parse().unwrap();
        assert_eq!(
            base_url(&h, &orig, &routed),
            "http://example.org:5244/alist"
        );
        assert_eq!(base_url(&h, &routed, &routed), "http://example.org:5244");
        assert_eq!(encode_path("/a b/c#d"), "/a%20b/c%23d");
        assert_eq!(
            encode_path("/ф/a.b-c_d:e?&+="),
            "/%D1%84/a.b-c_d:e%3F%26%2B%3D"
        );
    }
}
