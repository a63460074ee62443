//! Share links ([`crate::house::shares`]), the owner's side: make, list and revoke under `/api/shares`
//! (the recipient's side is a door of its own, [`crate::doors::share`]).

use super::*;
use crate::house::shares::{self, NewShare};

/// The routes.
pub(super) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/api/shares", post(create).get(list_shares))
        .route("/api/shares/{id}", delete(revoke))
}

async fn create(
    State(st): State<Arc<AppState>>,
    a: Authed,
    Json(b): Json<NewShare>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let full = a.path(&b.path)?;
    if full == "/" || st.tree.locate(&full).is_err() {
        return Err(
            Error::invalid(format!("{} cannot be shared", a.shown(&full)))
                .with_hint("share a file or a folder inside a mounted remote")
                .into(),
        );
    }
    st.tree.stat(&full).await?;
    let row = shares::create(st.users.db(), &a.0, &full, &b).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"share": shares::render(&row, &a.shown(&row.path))})),
    ))
}

#[derive(Deserialize)]
struct AllQ {
    #[serde(default)]
    all: bool,
}

async fn list_shares(
    State(st): State<Arc<AppState>>,
    a: Authed,
    Query(q): Query<AllQ>,
) -> ApiResult<Json<Value>> {
    if q.all && !a.0.is_admin {
        return Err(Error::new(
            ErrorKind::PermissionDenied,
            "only administrators see every share",
        )
        .into());
    }
    let rows = st
        .users
        .db()
        .shares((!q.all).then_some(a.0.name.as_str()))
        .await?;
    let shown = |r: &crate::house::db::ShareRow| {
        if r.owner == a.0.name {
            a.shown(&r.path)
        } else {
            r.path.clone()
        }
    };
    Ok(Json(json!({
        "shares": rows.iter().map(|r| shares::render(r, &shown(r))).collect::<Vec<_>>()
    })))
}

async fn revoke(
    State(st): State<Arc<AppState>>,
    a: Authed,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let db = st.users.db();
    match db.share(&id).await? {
        Some(r) if r.owner == a.0.name || a.0.is_admin => {
            db.revoke_share(&id, crate::now_secs()).await?;
            Ok(StatusCode::NO_CONTENT)
        }
        _ => Err(Error::not_found(format!("share {id}")).into()),
    }
}
