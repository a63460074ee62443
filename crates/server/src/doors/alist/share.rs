//! OpenList's share links (`/api/share/…`, the `/@s/ID/…` paths of `/api/fs/list` and `/api/fs/get`,
//! and `/sd/ID/…` downloads), mapped onto cloudmux's own share links ([`crate::house::shares`]): the
//! same rows, limits, expiry, download counts and password throttle, whichever door made them.
//!
//! Where the two differ, cloudmux's rules hold and the answer says so: a link holds one file or folder
//! (OpenList's may hold several), its password is kept only as a hash (so lists show none), links do not
//! change once made (revoke and make another), and a revoked link stays revoked. The download links
//! handed to a share's visitors carry the share's key (it expires, and is void once the share changes),
//! never its password.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, Method, header};

use super::*;
use crate::doors::common::files;
use crate::house::db::ShareRow;
use crate::house::shares::{self, Closed, NewShare};

#[derive(Deserialize, Default)]
pub(super) struct ShareReq {
    #[serde(default)]
    files: Vec<String>,
    #[serde(default)]
    expires: Option<String>,
    #[serde(default)]
    pwd: String,
    #[serde(default)]
    max_accessed: i64,
    #[serde(default)]
    disabled: bool,
    #[serde(default)]
    id: String,
    #[serde(default)]
    new_id: String,
    #[serde(default)]
    remark: String,
    #[serde(default)]
    readme: String,
    #[serde(default)]
    header: String,
    #[serde(default)]
    order_by: String,
    #[serde(default)]
    order_direction: String,
    #[serde(default)]
    extract_folder: String,
}

impl ShareReq {
    /// What OpenList's share form can hold and a cloudmux link does not: refused by name, never
    /// dropped without a word.
    fn unkept(&self) -> std::result::Result<(), Fail> {
        let unkept: Vec<&str> = [
            ("Remark", &self.remark),
            ("Description", &self.readme),
            ("Header Description", &self.header),
            ("Order By", &self.order_by),
            ("Order Direction", &self.order_direction),
            ("Folder Order", &self.extract_folder),
        ]
        .into_iter()
        .filter_map(|(name, v)| (!v.trim().is_empty()).then_some(name))
        .collect();
        if unkept.is_empty() {
            return Ok(());
        }
        Err(fail(
            400,
            &format!(
                "a cloudmux share link keeps no {}: leave {} empty",
                unkept.join(", "),
                if unkept.len() == 1 { "it" } else { "them" }
            ),
        ))
    }
}

/// A share as OpenList lists it; `pwd` is the one just given (on create) or empty (cloudmux keeps only
/// its hash; `remark` says when there is one).
fn sharing(a: &Authed, row: &ShareRow, pwd: &str) -> Value {
    let shown = if row.owner == a.0.name {
        a.shown(&row.path)
    } else {
        row.path.clone()
    };
    let expires = (row.expires != 0)
        .then(|| chrono::DateTime::from_timestamp(row.expires, 0).map(|t| t.to_rfc3339()))
        .flatten();
    let live = shares::state(row, crate::now_secs()) == "live";
    json!({
        "id": row.id,
        "files": [shown],
        "expires": expires,
        "pwd": pwd,
        "accessed": row.downloads,
        "max_accessed": row.max_downloads,
        "disabled": !live,
        "remark": if row.password_hash.is_empty() { "" } else { "password set" },
        "readme": "",
        "header": "",
        "order_by": "",
        "order_direction": "",
        "extract_folder": "",
        "creator": row.owner,
        "creator_role": if row.owner == a.0.name && a.0.is_admin { 2 } else { 0 },
    })
}

/// The signed-in user (share links are not the guest's to make).
fn not_guest(a: &Authed) -> std::result::Result<(), Fail> {
    if a.is_guest() {
        return Err(fail(401, "sign in to share"));
    }
    Ok(())
}

pub(super) async fn create(
    State(st): State<Arc<AppState>>,
    Caller(a): Caller,
    AJson(q): AJson<ShareReq>,
) -> Answer {
    not_guest(&a)?;
    let files: Vec<&String> = q.files.iter().filter(|f| !f.is_empty()).collect();
    let path = match files.as_slice() {
        [one] => one.as_str(),
        [] => return Err(fail(400, "must add at least 1 object")),
        _ => {
            return Err(fail(
                400,
                "a cloudmux share link holds one file or folder: share the folder that holds them",
            ));
        }
    };
    q.unkept()?;
    if q.disabled {
        return Err(fail(
            400,
            "a cloudmux share link is live once made: make it when it should be used",
        ));
    }
    if !q.new_id.is_empty() || !q.id.is_empty() {
        return Err(fail(400, "cloudmux chooses a link's id itself"));
    }
    let full = at(a.path(path))?;
    if full == "/" || st.tree.locate(&full).is_err() {
        return Err(fail(
            400,
            &format!(
                "{} cannot be shared: share a file or a folder inside a mount",
                a.shown(&full)
            ),
        ));
    }
    or_fail(st.tree.stat(&full).await)?;
    let expires_in = match q.expires.as_deref().filter(|e| !e.is_empty()) {
        None => None,
        Some(t) => {
            let at = chrono::DateTime::parse_from_rfc3339(t)
                .map_err(|e| fail(400, &format!("expires {t:?}: {e}")))?;
            let secs = at.timestamp() - crate::now_secs();
            if secs <= 0 {
                return Err(fail(400, "expires is in the past"));
            }
            Some(secs as u64)
        }
    };
    let new = NewShare {
        path: path.to_string(),
        password: (!q.pwd.is_empty()).then(|| q.pwd.clone()),
        expires_in,
        max_downloads: (q.max_accessed > 0).then_some(q.max_accessed as u64),
    };
    let row = or_fail(shares::create(st.users.db(), &a.0, &full, &new).await)?;
    Ok(ok(sharing(&a, &row, &q.pwd)))
}

#[derive(Deserialize, Default)]
pub(super) struct PageQ {
    #[serde(default)]
    page: i64,
    #[serde(default)]
    per_page: i64,
    #[serde(default)]
    id: String,
}

/// The caller's links (an administrator's: everyone's), newest first, a page at a time.
pub(super) async fn list(
    State(st): State<Arc<AppState>>,
    Caller(a): Caller,
    Query(q): Query<PageQ>,
    body: axum::body::Bytes,
) -> Answer {
    not_guest(&a)?;
    // Its page comes in the query (GET) or the body (POST).
    let q: PageQ = if body.is_empty() {
        q
    } else {
        serde_json::from_slice(&body).map_err(|e| fail(400, &format!("the request body: {e}")))?
    };
    let rows = or_fail(
        st.users
            .db()
            .shares((!a.0.is_admin).then_some(a.0.name.as_str()))
            .await,
    )?;
    let per_page = if q.per_page < 1 {
        rows.len().max(1)
    } else {
        q.per_page as usize
    };
    let page = q.page.max(1) as usize;
    let content: Vec<Value> = rows
        .iter()
        .skip((page - 1).saturating_mul(per_page))
        .take(per_page)
        .map(|r| sharing(&a, r, ""))
        .collect();
    Ok(ok(json!({"content": content, "total": rows.len()})))
}

/// The link `id` if the caller owns it or is an administrator.
async fn mine(st: &AppState, a: &Authed, id: &str) -> std::result::Result<ShareRow, Fail> {
    match or_fail(st.users.db().share(id).await)? {
        Some(r) if r.owner == a.0.name || a.0.is_admin => Ok(r),
        _ => Err(fail(404, "sharing not found")),
    }
}

/// The link `?id=` of the caller's own (or, for an administrator, anyone's).
pub(super) struct Mine(Authed, ShareRow);

impl axum::extract::FromRequestParts<Arc<AppState>> for Mine {
    type Rejection = Fail;
    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        st: &Arc<AppState>,
    ) -> Result<Self, Fail> {
        let Caller(a) = Caller::from_request_parts(parts, st).await?;
        not_guest(&a)?;
        let AQuery(q) = AQuery::<PageQ>::from_request_parts(parts, st).await?;
        let row = mine(st, &a, &q.id).await?;
        Ok(Mine(a, row))
    }
}

pub(super) async fn get(Mine(a, row): Mine) -> Answer {
    Ok(ok(sharing(&a, &row, "")))
}

/// Delete and disable both revoke (a revoked link answers 410 and stays in the owner's list).
pub(super) async fn revoke(State(st): State<Arc<AppState>>, Mine(_, row): Mine) -> Answer {
    or_fail(st.users.db().revoke_share(&row.id, crate::now_secs()).await)?;
    Ok(ok(Value::Null))
}

pub(super) async fn enable(Caller(_): Caller) -> Answer {
    Err(fail(
        400,
        "a revoked cloudmux share link is not brought back: make a new one",
    ))
}

/// Only `disabled: true` (a revocation) is taken; other changes would change what the holders of the
/// link reach, so cloudmux asks for a new link instead.
pub(super) async fn update(
    State(st): State<Arc<AppState>>,
    Caller(a): Caller,
    AJson(q): AJson<ShareReq>,
) -> Answer {
    not_guest(&a)?;
    let row = mine(&st, &a, &q.id).await?;
    if q.disabled {
        or_fail(st.users.db().revoke_share(&row.id, crate::now_secs()).await)?;
        return Ok(ok(sharing(&a, &row, "")));
    }
    Err(fail(
        400,
        "cloudmux share links do not change once made: revoke this one and make another",
    ))
}

/// A share's visitor's path: `/@s/ID/REST` as (ID, REST).
pub(super) fn split(path: &str) -> Option<(&str, &str)> {
    let rest = path.strip_prefix("/@s")?;
    if !rest.is_empty() && !rest.starts_with('/') {
        return None;
    }
    let rest = rest.trim_start_matches('/');
    let (id, inner) = rest.split_once('/').unwrap_or((rest, ""));
    Some((id, inner))
}

/// The share `id`, opened with `password` (none needed without one): the row and its key for
/// download links.
async fn entered(
    st: &AppState,
    ip: std::net::IpAddr,
    id: &str,
    password: &str,
) -> std::result::Result<(ShareRow, String), Fail> {
    let row = shares::open(st.users.db(), id).await.map_err(|c| match c {
        Closed::Unknown => fail(404, "the share does not exist"),
        Closed::Gone => fail(410, "the share has expired or is no longer valid"),
    })?;
    if !row.password_hash.is_empty() {
        let pw: String = password.chars().take(shares::MAX_PASSWORD).collect();
        let right = or_fail(
            st.users
                .check_subject_password(ip, &format!("share:{id}"), &pw, &row.password_hash)
                .await,
        )?;
        if !right {
            return Err(fail(403, "wrong share code"));
        }
    }
    let key = shares::key_for(&row);
    Ok((row, key))
}

/// An entry of a share as OpenList's `content` items (no `sign`: its links carry the share's key).
fn share_obj(row: &ShareRow, e: &Entry) -> Value {
    json!({
        "name": e.name,
        "size": e.size.unwrap_or(0),
        "is_dir": e.is_dir,
        "modified": e.modified.unwrap_or_default().to_rfc3339(),
        "created": e.modified.unwrap_or_default().to_rfc3339(),
        "sign": "",
        "thumb": "",
        "type": obj_type(&e.name, e.is_dir),
        "hashinfo": "null",
        "hash_info": null,
        "path": shares::shown(row, &e.path),
    })
}

/// `/api/fs/list` of `/@s/ID/…`.
pub(super) async fn list_in(
    st: &AppState,
    ip: std::net::IpAddr,
    path: &str,
    password: &str,
    page: i64,
    per_page: i64,
) -> Answer {
    let (id, rel) = split(path).ok_or_else(|| fail(400, "invalid share id"))?;
    let (row, _) = entered(st, ip, id, password).await?;
    let full = or_fail(shares::inside(&row, rel))?;
    let all = or_fail(st.tree.list(&full).await)?;
    let mut entries: Vec<&Entry> = all.iter().collect();
    entries.sort_by(|x, y| (!x.is_dir, &x.name).cmp(&(!y.is_dir, &y.name)));
    let total = entries.len();
    let per_page = if per_page < 1 {
        total.max(1)
    } else {
        per_page as usize
    };
    let page = page.max(1) as usize;
    let content: Vec<Value> = entries
        .into_iter()
        .skip((page - 1).saturating_mul(per_page))
        .take(per_page)
        .map(|e| share_obj(&row, e))
        .collect();
    Ok(ok(json!({
        "content": content,
        "total": total,
        "readme": "",
        "header": "",
        "write": false,
        "provider": "unknown",
    })))
}

/// `/api/fs/get` of `/@s/ID/…`: a file's `raw_url` is `/sd/ID/PATH?key=…`.
pub(super) async fn get_in(
    st: &AppState,
    ip: std::net::IpAddr,
    base: &str,
    path: &str,
    password: &str,
) -> Answer {
    let (id, rel) = split(path).ok_or_else(|| fail(400, "invalid share id"))?;
    let (row, key) = entered(st, ip, id, password).await?;
    let full = or_fail(shares::inside(&row, rel))?;
    let e = or_fail(st.tree.stat(&full).await)?;
    let mut v = share_obj(&row, &e);
    let raw_url = if e.is_dir {
        String::new()
    } else {
        let shown = shares::shown(&row, &full);
        let inner = if shown == "/" {
            format!("/{}", e.name)
        } else {
            shown
        };
        format!("{base}/sd/{id}{}?key={}", encode_path(&inner), encode(&key))
    };
    v["raw_url"] = json!(raw_url);
    v["readme"] = json!("");
    v["header"] = json!("");
    v["provider"] = json!("unknown");
    v["related"] = json!([]);
    Ok(ok(v))
}

#[derive(Deserialize, Default)]
pub(super) struct DownQ {
    #[serde(default)]
    key: Option<String>,
    #[serde(default)]
    pwd: Option<String>,
}

/// `/sd/ID/PATH`: a file of a share, by its key (or, as OpenList's links have it, its password);
/// counted as a download when fetched from its start.
pub(super) async fn download(
    State(st): State<Arc<AppState>>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    Path((id, path)): Path<(String, String)>,
    Query(q): Query<DownQ>,
    method: Method,
    headers: HeaderMap,
) -> Response {
    let row = match shares::open(st.users.db(), &id).await {
        Ok(r) => r,
        Err(Closed::Unknown) => {
            return (axum::http::StatusCode::NOT_FOUND, "no such share").into_response();
        }
        Err(Closed::Gone) => {
            return (axum::http::StatusCode::GONE, "this share link is over").into_response();
        }
    };
    let opened = match (&q.key, &q.pwd) {
        (Some(k), _) => shares::key_opens(&row, Some(k)),
        (None, Some(p)) => entered(&st, addr.ip(), &id, p).await.is_ok(),
        (None, None) => row.password_hash.is_empty(),
    };
    if !opened {
        return (axum::http::StatusCode::FORBIDDEN, "wrong share code").into_response();
    }
    // A link to a shared file itself names the file after the share's id.
    let rel = match st.tree.stat(&row.path).await {
        Ok(e) if !e.is_dir => String::new(),
        _ => path,
    };
    let full = match shares::inside(&row, &rel) {
        Ok(f) => f,
        Err(e) => return crate::doors::common::error::ApiError(e).into_response(),
    };
    let from_start = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|r| r.trim().starts_with("bytes=0-"));
    if method == Method::GET && from_start {
        match st.users.db().count_share_download(&row.id).await {
            Ok(true) => {}
            Ok(false) => {
                return (axum::http::StatusCode::GONE, "this share link is used up")
                    .into_response();
            }
            Err(e) => return crate::doors::common::error::ApiError(e).into_response(),
        }
    }
    let name = shares::shown(&row, &full);
    files::send_file(&st, &full, &name, &method, &headers, false)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

/// `/sd/ID`: a shared file itself.
pub(super) async fn download_root(
    st: State<Arc<AppState>>,
    addr: ConnectInfo<SocketAddr>,
    Path(id): Path<String>,
    q: Query<DownQ>,
    method: Method,
    headers: HeaderMap,
) -> Response {
    download(st, addr, Path((id, String::new())), q, method, headers).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn share_paths_split_into_id_and_rest() {
        assert_eq!(split("/@s/abc"), Some(("abc", "")));
        assert_eq!(split("/@s/abc/"), Some(("abc", "")));
        assert_eq!(split("/@s/abc/x/y.txt"), Some(("abc", "x/y.txt")));
        assert_eq!(split("/@s"), Some(("", "")));
        assert_eq!(split("/@sx/abc"), None);
        assert_eq!(split("/local"), None);
    }
}
