//! The changes feed: the start page token and pages of changes since it.

use super::*;

pub(super) async fn start_token(
    State(emu): State<Arc<Emu>>,
    _caller: Caller,
) -> GResult<axum::Json<Value>> {
    let st = lock(&emu.drive);
    Ok(axum::Json(
        json!({"kind": "drive#startPageToken", "startPageToken": st.next_change.to_string()}),
    ))
}

pub(super) async fn changes(
    State(emu): State<Arc<Emu>>,
    base: Base,
    _caller: Caller,
    Query(q): Q,
) -> GResult<axum::Json<Value>> {
    let Some(tok) = q.get("pageToken") else {
        return Err(GError::required("pageToken"));
    };
    let from: u64 = tok
        .parse()
        .map_err(|_| GError::invalid_param("pageToken", "Invalid Value"))?;
    let size = q
        .get("pageSize")
        .and_then(|s| s.parse::<usize>().ok())
        .unwrap_or(100)
        .clamp(1, 1000);
    let include_removed = q.get("includeRemoved").is_none_or(|v| v != "false");
    let m = mask(
        &q,
        false,
        "kind,nextPageToken,newStartPageToken,changes(kind,changeType,time,removed,fileId,file(kind,id,name,mimeType))",
    )?;
    let st = lock(&emu.drive);
    let all_drives = qbool(&q, "includeItemsFromAllDrives");
    let mut out = Vec::new();
    let mut next = None;
    for (&seq, id) in st.changes.range(from..) {
        if out.len() >= size {
            next = Some(seq);
            break;
        }
        let file = st.files.get(id);
        if file.is_some_and(|f| f.drive_id.is_some() && !all_drives)
            || file.is_some_and(|f| f.id == st.root_id)
        {
            continue;
        }
        let removed = file.is_none();
        if removed && !include_removed {
            continue;
        }
        let mut c = json!({"kind": "drive#change", "changeType": "file", "time": ts(&Utc::now()), "removed": removed, "fileId": id});
        if let Some(f) = file {
            c["file"] = crate::google::drive::file_json(&st, f, &base);
        }
        out.push(c);
    }
    let mut body = json!({"kind": "drive#changeList", "changes": out});
    match next {
        Some(n) => body["nextPageToken"] = json!(n.to_string()),
        None => body["newStartPageToken"] = json!(st.next_change.to_string()),
    }
    Ok(axum::Json(m.apply(&body)))
}
