//! `/d/PATH?sign=…` (download: a redirect to the service's own link where the mount allows it, else the
//! bytes) and `/p/PATH?sign=…` (always the bytes through this server), with `Range` for seeking.
//!
//! The path is the one the user sees (as listed); the `sign` names the user, whose rights are checked
//! again at each use. Without a sign, a token in `Authorization` or else the guest may be the caller.

use axum::extract::{Path, Query};
use axum::http::Method;

use super::*;

#[derive(Deserialize)]
pub(super) struct DownQ {
    #[serde(default)]
    sign: String,
    /// A thumbnail no larger than this, for images (what `thumb` in listings points at).
    #[serde(default)]
    thumb: Option<u32>,
}

pub(super) async fn direct(
    st: State<Arc<AppState>>,
    path: Path<String>,
    q: Query<DownQ>,
    method: Method,
    headers: HeaderMap,
    parts: axum::extract::Request,
) -> Response {
    serve(st, path, q, method, headers, parts, true).await
}

pub(super) async fn proxy(
    st: State<Arc<AppState>>,
    path: Path<String>,
    q: Query<DownQ>,
    method: Method,
    headers: HeaderMap,
    parts: axum::extract::Request,
) -> Response {
    serve(st, path, q, method, headers, parts, false).await
}

/// Who fetches: the sign's user, else the token's, else the guest.
async fn caller(
    st: &Arc<AppState>,
    sign: &str,
    shown: &str,
    req: axum::extract::Request,
) -> std::result::Result<Authed, Fail> {
    if !sign.is_empty() {
        let user = st
            .alist
            .verify(sign, shown)
            .map_err(|e| fail(401, e.message()))?;
        if user == crate::doors::common::authed::GUEST {
            return Authed::guest(st).ok_or_else(|| fail(401, "sign invalid"));
        }
        return match st.users.db().get_user(&user).await {
            Ok(Some(row)) => Ok(Authed(
                crate::house::users::User::from(&row),
                String::new(),
                None,
            )),
            Ok(None) => Err(fail(401, "sign invalid")),
            Err(e) => Err(fail_with(&e)),
        };
    }
    let (mut parts, _) = req.into_parts();
    Caller::from_request_parts(&mut parts, st)
        .await
        .map(|c| c.0)
        .map_err(|_| fail(401, "sign missing"))
}

async fn serve(
    State(st): State<Arc<AppState>>,
    Path(path): Path<String>,
    Query(q): Query<DownQ>,
    method: Method,
    headers: HeaderMap,
    req: axum::extract::Request,
    redirect: bool,
) -> Response {
    if let Err(r) = ready(&st).await {
        return r.into_response();
    }
    let shown =
        match at(crate::house::tree::clean(&path).map_err(crate::doors::common::error::ApiError)) {
            Ok(p) => p,
            Err(f) => return f.into_response(),
        };
    let a = match caller(&st, &q.sign, &shown, req).await {
        Ok(a) => a,
        Err(r) => return r.into_response(),
    };
    let full = match at(a.read_path(&shown)) {
        Ok(f) => f,
        Err(f) => return f.into_response(),
    };
    let r = match q.thumb {
        Some(edge) => crate::doors::common::files::thumb_of(&st, &full, edge).await,
        None => {
            crate::doors::common::files::send_file_as(
                &st, &full, &shown, &method, &headers, false, redirect,
            )
            .await
        }
    };
    r.unwrap_or_else(|e| fail_with(&e.0).into_response())
}
