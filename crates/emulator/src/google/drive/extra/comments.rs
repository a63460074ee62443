//! Comments of a file: list, create, get, update (resolve), delete.

use super::*;

pub(super) fn comment_json(c: &Comment) -> Value {
    let mut v = json!({
        "kind": "drive#comment", "id": c.id, "createdTime": ts(&c.created), "modifiedTime": ts(&c.modified),
        "author": {"kind": "drive#user", "displayName": "Demo User", "me": true, "emailAddress": crate::DEMO_USER},
        "deleted": c.deleted, "resolved": c.resolved, "replies": [],
    });
    if !c.deleted {
        v["content"] = json!(c.content);
        v["htmlContent"] = json!(crate::common::html_escape(&c.content));
    }
    if let Some(a) = &c.anchor {
        v["anchor"] = json!(a);
    }
    if let Some(qc) = &c.quoted {
        v["quotedFileContent"] = qc.clone();
    }
    v
}

pub(super) async fn comment_list(
    State(emu): State<Arc<Emu>>,
    _caller: Caller,
    Path(id): Path<String>,
    Query(q): Q,
) -> GResult<axum::Json<Value>> {
    let m = mask(&q, true, "")?;
    let size = q
        .get("pageSize")
        .and_then(|s| s.parse::<usize>().ok())
        .unwrap_or(20)
        .clamp(1, 100);
    let offset = page_offset(&q, &id)?;
    let st = lock(&emu.drive);
    let f = st.get(&id, true)?;
    let all: Vec<&Comment> = f
        .comments
        .iter()
        .filter(|c| !c.deleted || qbool(&q, "includeDeleted"))
        .collect();
    let end = (offset + size).min(all.len());
    let page: Vec<Value> = all
        .get(offset..end)
        .unwrap_or(&[])
        .iter()
        .map(|c| comment_json(c))
        .collect();
    let mut body = json!({"kind": "drive#commentList", "comments": page});
    if end < all.len() {
        body["nextPageToken"] = json!(page_token(end, &id));
    }
    Ok(axum::Json(m.apply(&body)))
}

pub(super) async fn comment_create(
    State(emu): State<Arc<Emu>>,
    _caller: Caller,
    Path(id): Path<String>,
    Query(q): Q,
    body: Bytes,
) -> GResult<axum::Json<Value>> {
    let m = mask(&q, true, "")?;
    let b = json_body(&body)?;
    let content = b["content"]
        .as_str()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| GError::required("content"))?
        .to_string();
    let now = Utc::now();
    let c = Comment {
        id: format!("AAAA{}", &new_id()[1..12]),
        content,
        anchor: b["anchor"].as_str().map(str::to_string),
        quoted: b.get("quotedFileContent").cloned(),
        created: now,
        modified: now,
        resolved: false,
        deleted: false,
    };
    let mut st = lock(&emu.drive);
    let f = file_for_write(&mut st, &id, &q)?;
    f.comments.push(c.clone());
    Ok(axum::Json(m.apply(&comment_json(&c))))
}

pub(super) async fn comment_get(
    State(emu): State<Arc<Emu>>,
    _caller: Caller,
    Path((id, cid)): Path<(String, String)>,
    Query(q): Q,
) -> GResult<axum::Json<Value>> {
    let m = mask(&q, true, "")?;
    let st = lock(&emu.drive);
    let f = st.get(&id, true)?;
    let c = f
        .comments
        .iter()
        .find(|c| c.id == cid && (!c.deleted || qbool(&q, "includeDeleted")))
        .ok_or_else(|| GError::not_found("Comment", &cid))?;
    Ok(axum::Json(m.apply(&comment_json(c))))
}

pub(super) async fn comment_update(
    State(emu): State<Arc<Emu>>,
    _caller: Caller,
    Path((id, cid)): Path<(String, String)>,
    Query(q): Q,
    body: Bytes,
) -> GResult<axum::Json<Value>> {
    let m = mask(&q, true, "")?;
    let b = json_body(&body)?;
    let mut st = lock(&emu.drive);
    let f = file_for_write(&mut st, &id, &q)?;
    let c = f
        .comments
        .iter_mut()
        .find(|c| c.id == cid && !c.deleted)
        .ok_or_else(|| GError::not_found("Comment", &cid))?;
    if let Some(t) = b["content"].as_str() {
        c.content = t.to_string();
    }
    if let Some(r) = b["resolved"].as_bool() {
        c.resolved = r;
    }
    c.modified = Utc::now();
    Ok(axum::Json(m.apply(&comment_json(c))))
}

pub(super) async fn comment_delete(
    State(emu): State<Arc<Emu>>,
    _caller: Caller,
    Path((id, cid)): Path<(String, String)>,
    Query(q): Q,
) -> GResult<Response> {
    let mut st = lock(&emu.drive);
    let f = file_for_write(&mut st, &id, &q)?;
    let c = f
        .comments
        .iter_mut()
        .find(|c| c.id == cid && !c.deleted)
        .ok_or_else(|| GError::not_found("Comment", &cid))?;
    c.deleted = true;
    c.modified = Utc::now();
    Ok(StatusCode::NO_CONTENT.into_response())
}
