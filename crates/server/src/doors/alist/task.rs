//! OpenList's task pages (`/api/task/{copy,move,upload}/…`), mapped onto cloudmux's background tasks
//! ([`crate::house::tasks`]): a user sees and cancels their own. cloudmux keeps finished tasks in the
//! user's list and runs a failed one again only when asked anew, so the removal and retry routes answer
//! what to do instead.

use axum::extract::{Path, Query, State};

use super::*;

/// OpenList's task states (`tache`): running, succeeded, canceled, failed.
fn state_number(state: &str) -> u8 {
    match state {
        "running" => 1,
        "done" => 2,
        "cancelled" => 4,
        _ => 7,
    }
}

/// A cloudmux task (as [`crate::house::tasks::Tasks::list`] renders it) as OpenList's `TaskInfo`.
fn info(a: &Authed, t: &Value) -> Value {
    let p = &t["progress"];
    let planned = p["bytes_planned"].as_u64().unwrap_or(0);
    let done = p["bytes_done"].as_u64().unwrap_or(0);
    let state = t["state"].as_str().unwrap_or_default();
    let progress = match state {
        "done" => 100.0,
        _ if planned > 0 => (done as f64 * 100.0 / planned as f64).min(100.0),
        _ => 0.0,
    };
    let error = t["errors"]
        .as_array()
        .map(|e| {
            e.iter()
                .filter_map(|x| x["error"].as_str().or_else(|| x[1].as_str()))
                .take(3)
                .collect::<Vec<_>>()
                .join("; ")
        })
        .unwrap_or_default();
    json!({
        "id": t["id"],
        "name": format!("{} [{}] to [{}]", t["kind"].as_str().unwrap_or_default(),
            t["from"].as_str().unwrap_or_default(), t["to"].as_str().unwrap_or_default()),
        "creator": a.0.name,
        "creator_role": if a.0.is_admin { 2 } else { 0 },
        "state": state_number(state),
        "status": state,
        "progress": progress,
        "start_time": null,
        "end_time": null,
        "total_bytes": planned,
        "error": error,
    })
}

/// The caller's tasks of one kind (`copy`, `move`; `upload` has none: uploads run in the request).
async fn of_kind(st: &AppState, a: &Authed, kind: &str) -> std::result::Result<Vec<Value>, Fail> {
    if a.is_guest() {
        return Err(fail(401, "sign in to see tasks"));
    }
    let all = or_fail(st.tasks.list(&a.0.name).await)?;
    Ok(all
        .iter()
        .filter(|t| t["kind"] == kind)
        .map(|t| info(a, t))
        .collect())
}

#[derive(Deserialize, Default)]
pub(super) struct TidQ {
    #[serde(default)]
    tid: String,
}

/// `/api/task/KIND/ACTION`.
pub(super) async fn task(
    State(st): State<Arc<AppState>>,
    Caller(a): Caller,
    Path((kind, action)): Path<(String, String)>,
    Query(q): Query<TidQ>,
    body: axum::body::Bytes,
) -> Answer {
    if !matches!(kind.as_str(), "copy" | "move" | "upload") {
        return Err(fail(
            404,
            &format!("cloudmux has no {kind} tasks: only copies and moves run in the background"),
        ));
    }
    let all = of_kind(&st, &a, &kind).await?;
    let running = |t: &&Value| t["status"] == "running";
    match action.as_str() {
        "undone" => Ok(ok(json!(all.iter().filter(running).collect::<Vec<_>>()))),
        "done" => Ok(ok(json!(
            all.iter().filter(|t| !running(t)).collect::<Vec<_>>()
        ))),
        "info" => all
            .into_iter()
            .find(|t| t["id"] == q.tid.as_str())
            .map(ok)
            .ok_or_else(|| fail(404, "task not found")),
        "cancel" | "cancel_some" => {
            // One id in the query, or a list of them in the body.
            let ids: Vec<String> = if action == "cancel" {
                vec![q.tid]
            } else {
                serde_json::from_slice(&body)
                    .map_err(|e| fail(400, &format!("the request body: {e}")))?
            };
            for id in ids.iter().take(1000) {
                or_fail(st.tasks.cancel(&a.0.name, id).await)?;
            }
            Ok(ok(Value::Null))
        }
        "delete" | "delete_some" | "clear_done" | "clear_succeeded" => Err(fail(
            405,
            "cloudmux keeps finished tasks in the user's list: nothing to clear",
        )),
        "retry" | "retry_some" | "retry_failed" => Err(fail(
            405,
            "cloudmux does not rerun a finished task: copy or move again (what is already there is kept)",
        )),
        other => Err(fail(404, &format!("no task action {other:?}"))),
    }
}
