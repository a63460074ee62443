//! Background transfers: the user's own tasks listed, read and cancelled.

use super::*;

/// The routes.
pub(super) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/api/tasks", get(tasks))
        .route("/api/tasks/{id}", get(task).delete(cancel_task))
}

/// Starts a background transfer between tree paths (already checked against the user's rights).
pub(super) async fn start_task(
    st: &AppState,
    a: &Authed,
    from: String,
    to: String,
    mode: cloudmux_vfs::Mode,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let shown = (a.shown(&from), a.shown(&to));
    let id = st.tasks.start(&a.0.name, mode, shown, from, to).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(st.tasks.get(&a.0.name, &id).await?.unwrap_or(Value::Null)),
    ))
}

async fn tasks(State(st): State<Arc<AppState>>, a: Authed) -> ApiResult<Json<Value>> {
    Ok(Json(json!({"tasks": st.tasks.list(&a.0.name).await?})))
}

async fn task(
    State(st): State<Arc<AppState>>,
    a: Authed,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    st.tasks
        .get(&a.0.name, &id)
        .await?
        .map(Json)
        .ok_or_else(|| Error::not_found(format!("task {id}")).into())
}

async fn cancel_task(
    State(st): State<Arc<AppState>>,
    a: Authed,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    if st.tasks.cancel(&a.0.name, &id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(Error::not_found(format!("task {id}")).into())
    }
}
