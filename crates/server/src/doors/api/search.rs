//! Search by name: a bounded walk of the user's part of the tree, with a per-user budget of folders.

use super::*;

/// The routes.
pub(super) fn routes() -> Router<Arc<AppState>> {
    Router::new().route("/api/fs/search", get(search))
}

#[derive(Deserialize)]
struct SearchQ {
    #[serde(default)]
    path: String,
    q: String,
    #[serde(default = "hundred")]
    limit: usize,
}

async fn search(
    State(st): State<Arc<AppState>>,
    Reader(a): Reader,
    Query(q): Query<SearchQ>,
) -> ApiResult<Json<Value>> {
    // The guest searches only inside a mount open to guests.
    let root = a.read_path(&q.path)?;
    let (found, complete) = files::walk(&st, &a, &root, &q.q, q.limit.clamp(1, 1000)).await?;
    let found: Vec<Value> = found.iter().map(|e| a.entry(e)).collect();
    Ok(Json(json!({
        "path": a.shown(&root), "q": q.q, "results": found, "complete": complete,
    })))
}
