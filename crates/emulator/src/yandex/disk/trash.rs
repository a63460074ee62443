//! The trash: listing, emptying and restoring.

use super::*;

pub(super) async fn trash_meta(
    State(emu): State<Arc<Emu>>,
    base: Base,
    _caller: Caller,
    Query(q): Q,
) -> Response {
    let r = (|| -> YResult<Value> {
        let (limit, offset) = limit_offset(&q)?;
        let path = q.get("path").cloned().unwrap_or_else(|| "trash:/".into());
        let path = if path.starts_with("trash:") {
            path
        } else {
            format!("trash:/{}", path.trim_start_matches('/'))
        };
        let st = lock(&emu.disk);
        let entry_json = |tp: &str, t: &Trashed| {
            let mut v = resource_json(&st, &base, &t.origin, &t.items[""], tp);
            v["name"] = json!(name_of(&t.origin));
            v["origin_path"] = json!(t.origin);
            v["deleted"] = json!(ts(&t.deleted));
            v
        };
        if path == "trash:/" || path == "trash:" {
            let all: Vec<(&String, &Trashed)> = st.trash.iter().collect();
            let items: Vec<Value> = all
                .iter()
                .skip(offset)
                .take(limit)
                .map(|(tp, t)| entry_json(tp, t))
                .collect();
            return Ok(
                json!({"name": "trash", "path": "trash:/", "type": "dir", "created": ts(&now()), "modified": ts(&now()),
                "_embedded": {"items": items, "limit": limit, "offset": offset, "total": all.len(), "path": "trash:/", "sort": ""}}),
            );
        }
        let t = st.trash.get(&path).ok_or_else(YError::not_found)?;
        Ok(entry_json(&path, t))
    })();
    match r {
        Ok(v) => reply(&q, v),
        Err(e) => e.into_response(),
    }
}

pub(super) async fn trash_delete(
    State(emu): State<Arc<Emu>>,
    base: Base,
    _caller: Caller,
    Query(q): Q,
) -> Response {
    let r = (|| -> YResult<(Vec<String>, bool)> {
        let mut st = lock(&emu.disk);
        let victims: Vec<String> = match q.get("path").filter(|p| !p.is_empty() && *p != "trash:/")
        {
            Some(p) => {
                let p = if p.starts_with("trash:") {
                    p.clone()
                } else {
                    format!("trash:/{}", p.trim_start_matches('/'))
                };
                if !st.trash.contains_key(&p) {
                    return Err(YError::not_found());
                }
                vec![p]
            }
            None => st.trash.keys().cloned().collect(),
        };
        let is_async = !q.contains_key("path")
            || victims.iter().any(|v| st.trash[v].items.len() > 1)
            || flag(&q, "force_async");
        let mut blobs = Vec::new();
        for v in victims {
            if let Some(t) = st.trash.remove(&v) {
                blobs.extend(t.items.into_values().filter_map(|r| r.blob));
            }
        }
        st.bump();
        Ok((blobs, is_async))
    })();
    match r {
        Ok((blobs, is_async)) => {
            for b in blobs {
                emu.blobs.remove(&b).await;
            }
            if is_async {
                op_link(&mut lock(&emu.disk), &base, true)
            } else {
                StatusCode::NO_CONTENT.into_response()
            }
        }
        Err(e) => e.into_response(),
    }
}

pub(super) async fn trash_restore(
    State(emu): State<Arc<Emu>>,
    base: Base,
    Caller(client): Caller,
    Query(q): Q,
) -> YResult<Response> {
    let p = param(&q, "path")?;
    let p = if p.starts_with("trash:") {
        p.clone()
    } else {
        format!("trash:/{}", p.trim_start_matches('/'))
    };
    let mut st = lock(&emu.disk);
    let t = st.trash.get(&p).cloned().ok_or_else(YError::not_found)?;
    let dest = match q.get("name") {
        Some(n) => format!(
            "{}{n}",
            child_prefix(&parent(&t.origin).unwrap_or_else(|| "disk:/".into()))
        ),
        None => t.origin.clone(),
    };
    let dest = norm(&dest, &client)?;
    st.check_parent(&dest)?;
    if st.items.contains_key(&dest) {
        if !flag(&q, "overwrite") {
            return Err(YError::exists(&dest));
        }
        st.remove_tree(&dest);
    }
    st.trash.remove(&p);
    let is_async = t.items.len() > 1 || flag(&q, "force_async");
    st.put_tree(&dest, t.items);
    if is_async {
        return Ok(op_link(&mut st, &base, true));
    }
    Ok((StatusCode::CREATED, axum::Json(resource_link(&base, &dest))).into_response())
}
