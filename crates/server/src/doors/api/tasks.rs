//! Background transfers: the user's own tasks listed, read and cancelled, and two-way syncs started.

use super::*;

/// The routes.
pub(super) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/api/tasks", get(tasks))
        .route("/api/tasks/bisync", post(start_bisync))
        .route("/api/tasks/{id}", get(task).delete(cancel_task))
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

/// `POST /api/tasks/bisync`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BisyncReq {
    path1: String,
    path2: String,
    #[serde(default)]
    resync: bool,
    #[serde(default = "newer")]
    conflict_winner: String,
    #[serde(default = "fifty")]
    max_delete: u32,
    #[serde(default = "sixty")]
    every: u64,
}

fn newer() -> String {
    "newer".into()
}
fn fifty() -> u32 {
    50
}
fn sixty() -> u64 {
    60
}

/// Starts a two-way sync of two folders the user may write: a pass every `every` seconds until the
/// task is cancelled.
async fn start_bisync(
    State(st): State<Arc<AppState>>,
    a: Authed,
    Json(b): Json<BisyncReq>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let (one, two) = (a.write_path(&b.path1)?, a.write_path(&b.path2)?);
    if !["newer", "larger", "path1", "path2"].contains(&b.conflict_winner.as_str()) {
        return Err(
            Error::invalid(format!("unknown conflict_winner {:?}", b.conflict_winner))
                .with_hint("use newer, larger, path1 or path2")
                .into(),
        );
    }
    if b.max_delete > 100 || !(crate::house::tasks::MIN_EVERY..=86_400).contains(&b.every) {
        return Err(Error::invalid("max_delete or every out of range")
            .with_hint(format!(
                "max_delete is a percentage (0–100); every is seconds between passes ({}–86400)",
                crate::house::tasks::MIN_EVERY
            ))
            .into());
    }
    let shown = (a.shown(&one), a.shown(&two));
    let spec = crate::house::tasks::BisyncSpec {
        resync: b.resync,
        winner: b.conflict_winner,
        max_delete: b.max_delete,
        every: b.every,
    };
    let id = st
        .tasks
        .start_bisync(&a.0.name, shown, one, two, spec)
        .await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(st.tasks.get(&a.0.name, &id).await?.unwrap_or(Value::Null)),
    ))
}
