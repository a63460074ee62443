//! Shared drives: list, create (with a request id), get, update, delete.

use super::*;

pub(super) fn drive_json(d: &SharedDrive) -> Value {
    json!({"kind": "drive#drive", "id": d.id, "name": d.name, "createdTime": ts(&d.created), "hidden": d.hidden,
        "capabilities": {"canAddChildren": true, "canDeleteDrive": true, "canEdit": true, "canListChildren": true, "canManageMembers": true, "canRename": true, "canShare": true, "canTrashChildren": true},
        "restrictions": {"adminManagedRestrictions": false, "copyRequiresWriterPermission": false, "domainUsersOnly": false, "driveMembersOnly": false}})
}

pub(super) async fn drive_list(
    State(emu): State<Arc<Emu>>,
    _caller: Caller,
    Query(q): Q,
) -> GResult<axum::Json<Value>> {
    let m = mask(&q, false, "kind,nextPageToken,drives(id,name,kind)")?;
    let size = q
        .get("pageSize")
        .and_then(|s| s.parse::<usize>().ok())
        .unwrap_or(10)
        .clamp(1, 100);
    let offset = page_offset(&q, "drives")?;
    let st = lock(&emu.drive);
    let all: Vec<&SharedDrive> = st.drives.values().collect();
    let end = (offset + size).min(all.len());
    let mut body = json!({"kind": "drive#driveList", "drives": all.get(offset..end).unwrap_or(&[]).iter().map(|d| drive_json(d)).collect::<Vec<_>>()});
    if end < all.len() {
        body["nextPageToken"] = json!(page_token(end, "drives"));
    }
    Ok(axum::Json(m.apply(&body)))
}

pub(super) async fn drive_create(
    State(emu): State<Arc<Emu>>,
    _caller: Caller,
    Query(q): Q,
    body: Bytes,
) -> GResult<axum::Json<Value>> {
    let Some(rid) = q.get("requestId").cloned() else {
        return Err(GError::required("requestId"));
    };
    let b = json_body(&body)?;
    let m = mask(&q, false, "kind,id,name")?;
    let name = b["name"]
        .as_str()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| GError::required("name"))?
        .to_string();
    let mut st = lock(&emu.drive);
    if let Some(d) = st.drives.values().find(|d| d.request_id == rid) {
        return Err(GError::new(
            StatusCode::CONFLICT,
            "global",
            "duplicate",
            format!(
                "A shared drive with request id {rid} already exists: {}.",
                d.id
            ),
        ));
    }
    let id = format!("0A{}", &new_id()[1..18]);
    let now = Utc::now();
    let d = SharedDrive {
        id: id.clone(),
        name: name.clone(),
        created: now,
        request_id: rid,
        hidden: false,
    };
    let root = File {
        id: id.clone(),
        name,
        mime: FOLDER.into(),
        parents: vec![],
        blob: None,
        size: None,
        hashes: None,
        created: now,
        modified: now,
        explicitly_trashed: false,
        starred: false,
        description: None,
        properties: Default::default(),
        app_properties: Default::default(),
        drive_id: Some(id.clone()),
        version: 1,
        permissions: vec![Permission {
            role: "organizer".into(),
            ..owner_permission()
        }],
        comments: vec![],
        original_filename: None,
        abusive: false,
        doc_text: None,
        seq: 0,
    };
    st.insert(root);
    st.drives.insert(id, d.clone());
    Ok(axum::Json(m.apply(&drive_json(&d))))
}

pub(super) async fn drive_get(
    State(emu): State<Arc<Emu>>,
    _caller: Caller,
    Path(id): Path<String>,
    Query(q): Q,
) -> GResult<axum::Json<Value>> {
    let m = mask(&q, false, "kind,id,name")?;
    let st = lock(&emu.drive);
    let d = st
        .drives
        .get(&id)
        .ok_or_else(|| GError::not_found("Shared drive", &id))?;
    Ok(axum::Json(m.apply(&drive_json(d))))
}

pub(super) async fn drive_update(
    State(emu): State<Arc<Emu>>,
    _caller: Caller,
    Path(id): Path<String>,
    Query(q): Q,
    body: Bytes,
) -> GResult<axum::Json<Value>> {
    let b = json_body(&body)?;
    let m = mask(&q, false, "kind,id,name")?;
    let mut st = lock(&emu.drive);
    let d = st
        .drives
        .get_mut(&id)
        .ok_or_else(|| GError::not_found("Shared drive", &id))?;
    if let Some(n) = b["name"].as_str() {
        d.name = n.to_string();
    }
    if let Some(h) = b["hidden"].as_bool() {
        d.hidden = h;
    }
    let out = drive_json(d);
    if let Some(n) = b["name"].as_str()
        && let Some(f) = st.files.get_mut(&id)
    {
        f.name = n.to_string();
    }
    Ok(axum::Json(m.apply(&out)))
}

pub(super) async fn drive_delete(
    State(emu): State<Arc<Emu>>,
    _caller: Caller,
    Path(id): Path<String>,
) -> GResult<Response> {
    let mut st = lock(&emu.drive);
    if !st.drives.contains_key(&id) {
        return Err(GError::not_found("Shared drive", &id));
    }
    if !st.children_of(&id).is_empty() {
        return Err(GError::forbidden(
            "global",
            "cannotDeleteDriveWithContents",
            "The shared drive cannot be deleted because it contains items.",
        ));
    }
    st.drives.remove(&id);
    st.remove(&id);
    Ok(StatusCode::NO_CONTENT.into_response())
}
