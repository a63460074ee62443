//! Administration under `/api/admin` (admins only): users, mounts, and the remotes mounts can use.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, patch};
use axum::{Json, Router};
use cloudmux_core::{Error, ErrorKind};
use cloudmux_remote::NewRemote;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::doors::common::authed::Authed;
use crate::doors::common::error::ApiError;
use crate::house::db::MountRow;
use crate::house::tree::clean;

type ApiResult<T> = std::result::Result<T, ApiError>;

/// The routes.
pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/api/admin/users", get(users).post(add_user))
        .route(
            "/api/admin/users/{name}",
            patch(edit_user).delete(remove_user),
        )
        .route(
            "/api/admin/mounts",
            get(mounts).post(add_mount).delete(remove_mount),
        )
        .route("/api/admin/remotes", get(remotes).post(add_remote))
        .route("/api/admin/backends", get(backends))
        .route("/api/admin/locks", get(locks))
        .route(
            "/api/admin/locks/{token}",
            axum::routing::delete(break_lock),
        )
}

/// Refuses users who are not administrators.
pub(crate) fn require_admin(a: &Authed) -> ApiResult<()> {
    if a.0.is_admin {
        Ok(())
    } else {
        Err(Error::new(
            ErrorKind::PermissionDenied,
            format!("{} is not an administrator", a.0.name),
        )
        .into())
    }
}

async fn users(State(st): State<Arc<AppState>>, a: Authed) -> ApiResult<Json<Value>> {
    require_admin(&a)?;
    Ok(Json(json!({"users": st.users.db().users().await?})))
}

#[derive(Deserialize)]
struct NewUser {
    name: String,
    password: String,
    #[serde(default = "root")]
    base_path: String,
    #[serde(default)]
    can_write: bool,
    #[serde(default)]
    is_admin: bool,
}

fn root() -> String {
    "/".into()
}

async fn add_user(
    State(st): State<Arc<AppState>>,
    a: Authed,
    Json(b): Json<NewUser>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    require_admin(&a)?;
    let u = st
        .users
        .create(&b.name, &b.password, &b.base_path, b.can_write, b.is_admin)
        .await?;
    Ok((StatusCode::CREATED, Json(json!({"user": u}))))
}

#[derive(Deserialize)]
struct EditUser {
    password: Option<String>,
    /// With a new password, keep the user's API tokens (they are revoked otherwise).
    #[serde(default)]
    keep_tokens: bool,
    base_path: Option<String>,
    can_write: Option<bool>,
    is_admin: Option<bool>,
}

async fn edit_user(
    State(st): State<Arc<AppState>>,
    a: Authed,
    Path(name): Path<String>,
    Json(b): Json<EditUser>,
) -> ApiResult<Json<Value>> {
    require_admin(&a)?;
    if name == a.0.name && b.is_admin == Some(false) {
        return Err(Error::invalid("you cannot take away your own admin right")
            .with_hint("let another administrator do it")
            .into());
    }
    let u = st
        .users
        .edit(
            &name,
            b.password.as_deref(),
            b.base_path.as_deref(),
            b.can_write,
            b.is_admin,
            b.keep_tokens,
        )
        .await?;
    Ok(Json(json!({"user": u})))
}

async fn remove_user(
    State(st): State<Arc<AppState>>,
    a: Authed,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    require_admin(&a)?;
    if name == a.0.name {
        return Err(Error::invalid("you cannot remove yourself").into());
    }
    if st.users.remove(&name).await? {
        st.dav.locks.drop_user(&name).await;
        st.tickets.drop_user(&name).await;
        st.tasks.cancel_user(&name).await?;
        st.users.db().drop_shares_of(&name).await?;
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(Error::not_found(format!("user {name}")).into())
    }
}

async fn mounts(State(st): State<Arc<AppState>>, a: Authed) -> ApiResult<Json<Value>> {
    require_admin(&a)?;
    let active: Vec<String> = st.tree.mounts().iter().map(|m| m.path.clone()).collect();
    let rows = st.users.db().mounts().await?;
    Ok(Json(json!({"mounts": rows.iter().map(|m| json!({
        "path": m.path, "remote": m.remote, "root": m.root, "read_only": m.read_only,
        "direct_links": m.direct_links, "guest": m.guest,
        "active": active.contains(&m.path),
    })).collect::<Vec<_>>()})))
}

async fn add_mount(
    State(st): State<Arc<AppState>>,
    a: Authed,
    Json(m): Json<MountRow>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    require_admin(&a)?;
    st.mount_row(m.clone()).await?;
    Ok((StatusCode::CREATED, Json(json!({"mount": m}))))
}

#[derive(Deserialize)]
struct PathQ {
    path: String,
}

async fn remove_mount(
    State(st): State<Arc<AppState>>,
    a: Authed,
    Query(q): Query<PathQ>,
) -> ApiResult<StatusCode> {
    require_admin(&a)?;
    let p = clean(&q.path)?;
    let in_db = st.users.db().remove_mount(&p).await?;
    let active = st.tree.unmount(&p);
    st.active.lock().unwrap().remove(&p);
    if in_db || active {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(Error::not_found(format!("mount {p}")).into())
    }
}

async fn locks(State(st): State<Arc<AppState>>, a: Authed) -> ApiResult<Json<Value>> {
    require_admin(&a)?;
    Ok(Json(json!({"locks": st.dav.locks.list().await})))
}

async fn break_lock(
    State(st): State<Arc<AppState>>,
    a: Authed,
    Path(token): Path<String>,
) -> ApiResult<StatusCode> {
    require_admin(&a)?;
    if st.dav.locks.remove(&token).await {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(Error::not_found(format!("lock {token}")).into())
    }
}

async fn remotes(State(st): State<Arc<AppState>>, a: Authed) -> ApiResult<Json<Value>> {
    require_admin(&a)?;
    let list = st.remotes.as_ref().map(|r| r.list()).unwrap_or_default();
    Ok(Json(json!({"remotes": list})))
}

/// The kinds of remote, their options and sign-in style (the admin page's form is made from them).
async fn backends(a: Authed) -> ApiResult<Json<Value>> {
    require_admin(&a)?;
    let list: Vec<Value> = cloudmux_remote::BACKENDS
        .iter()
        .map(|b| {
            let sign_in = b
                .sign_in(&cloudmux_remote::RemoteConfig::new(b.kind()))
                .map(|s| s.style())
                .unwrap_or("none");
            json!({"kind": b.kind(), "about": b.about(), "sign_in": sign_in, "options": b.options()})
        })
        .collect();
    Ok(Json(json!({"backends": list})))
}

async fn add_remote(
    State(st): State<Arc<AppState>>,
    a: Authed,
    Json(r): Json<NewRemote>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    require_admin(&a)?;
    let remotes = st
        .remotes
        .as_ref()
        .ok_or_else(|| Error::new(ErrorKind::Unsupported, "this server has no remotes"))?;
    st.policy.check(&r)?;
    remotes.add(&r)?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"remote": {"name": r.name, "kind": r.kind}})),
    ))
}
