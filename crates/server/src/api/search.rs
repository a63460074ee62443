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

/// Folders visited by one search at most (a search is a walk; this bounds its cost).
const SEARCH_MAX_FOLDERS: u32 = 2000;
/// Folders a user's searches may list per [`SEARCH_WINDOW`] (each may cost a request at the remote).
pub const SEARCH_FOLDERS_PER_WINDOW: u32 = 4000;
/// The window of the search budget.
pub const SEARCH_WINDOW: std::time::Duration = std::time::Duration::from_secs(300);

async fn search(
    State(st): State<Arc<AppState>>,
    Reader(a): Reader,
    Query(q): Query<SearchQ>,
) -> ApiResult<Json<Value>> {
    // The guest searches only inside a mount open to guests.
    let root = a.read_path(&q.path)?;
    let (found, complete) = walk(&st, &a, &root, &q.q, q.limit.clamp(1, 1000)).await?;
    let found: Vec<Value> = found.iter().map(|e| a.entry(e)).collect();
    Ok(Json(json!({
        "path": a.shown(&root), "q": q.q, "results": found, "complete": complete,
    })))
}

/// Entries under the tree path `root` whose names contain `q` (case-insensitive), at most `limit`,
/// breadth first within the user's search budget; and whether the walk saw everything.
pub(crate) async fn walk(
    st: &AppState,
    a: &Authed,
    root: &str,
    q: &str,
    limit: usize,
) -> ApiResult<(Vec<Entry>, bool)> {
    let needle = q.to_lowercase();
    if needle.is_empty() {
        return Err(Error::invalid("empty search").into());
    }
    let budget = st.search_budget.take(&a.0.name, SEARCH_MAX_FOLDERS);
    if budget == 0 {
        let wait = st.search_budget.wait(&a.0.name);
        return Err(Error::new(ErrorKind::RateLimited, "too many searches")
            .with_hint(format!("wait {} seconds", wait.as_secs() + 1))
            .into());
    }
    let mut found = Vec::new();
    let mut queue = std::collections::VecDeque::from([root.to_string()]);
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
                found.push(e.clone());
            }
            if e.is_dir {
                queue.push_back(e.path.clone());
            }
        }
    }
    // Unused budget goes back to the user.
    st.search_budget.give_back(&a.0.name, budget - visited);
    Ok((found, complete && queue.is_empty()))
}
