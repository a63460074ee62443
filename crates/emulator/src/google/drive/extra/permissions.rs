//! Permissions of a file: list, create (the public link is one), get, update, delete.

use super::*;

pub(super) async fn perm_list(
    State(emu): State<Arc<Emu>>,
    _caller: Caller,
    Path(id): Path<String>,
    Query(q): Q,
) -> GResult<axum::Json<Value>> {
    let m = mask(
        &q,
        false,
        "kind,nextPageToken,permissions(id,type,kind,role)",
    )?;
    let st = lock(&emu.drive);
    let f = st.get(&id, qbool(&q, "supportsAllDrives"))?;
    let perms: Vec<Value> = f.permissions.iter().map(permission_json).collect();
    Ok(axum::Json(m.apply(
        &json!({"kind": "drive#permissionList", "permissions": perms}),
    )))
}

pub(super) async fn perm_create(
    State(emu): State<Arc<Emu>>,
    _caller: Caller,
    Path(id): Path<String>,
    Query(q): Q,
    body: Bytes,
) -> GResult<axum::Json<Value>> {
    let b = json_body(&body)?;
    let m = mask(&q, false, "kind,id,type,role")?;
    let kind = b["type"]
        .as_str()
        .ok_or_else(|| GError::required("permission.type"))?
        .to_string();
    let role = b["role"]
        .as_str()
        .ok_or_else(|| GError::required("permission.role"))?
        .to_string();
    if !["user", "group", "domain", "anyone"].contains(&kind.as_str()) {
        return Err(GError::invalid_param(
            "permission.type",
            format!("Invalid permission type: {kind}"),
        ));
    }
    if ![
        "owner",
        "organizer",
        "fileOrganizer",
        "writer",
        "commenter",
        "reader",
    ]
    .contains(&role.as_str())
    {
        return Err(GError::invalid_param(
            "permission.role",
            format!("Invalid permission role: {role}"),
        ));
    }
    let email = b["emailAddress"].as_str().map(str::to_string);
    if matches!(kind.as_str(), "user" | "group") && email.is_none() {
        return Err(GError::required("permission.emailAddress"));
    }
    let domain = b["domain"].as_str().map(str::to_string);
    if kind == "domain" && domain.is_none() {
        return Err(GError::required("permission.domain"));
    }
    let mut st = lock(&emu.drive);
    let f = file_for_write(&mut st, &id, &q)?;
    let pid = match kind.as_str() {
        "anyone" => {
            if b["allowFileDiscovery"].as_bool() == Some(true) {
                "anyone".to_string()
            } else {
                "anyoneWithLink".to_string()
            }
        }
        _ => format!("{:020}", rand::random::<u64>()),
    };
    f.permissions.retain(|p| p.id != pid);
    let p = Permission {
        id: pid,
        kind,
        role,
        email,
        domain,
        allow_discovery: b["allowFileDiscovery"].as_bool(),
    };
    let out = permission_json(&p);
    f.permissions.push(p);
    let fid = f.id.clone();
    let f = st.files[&fid].clone();
    st.insert(f);
    Ok(axum::Json(m.apply(&out)))
}

pub(super) async fn perm_get(
    State(emu): State<Arc<Emu>>,
    _caller: Caller,
    Path((id, pid)): Path<(String, String)>,
    Query(q): Q,
) -> GResult<axum::Json<Value>> {
    let m = mask(&q, false, "kind,id,type,role")?;
    let st = lock(&emu.drive);
    let f = st.get(&id, qbool(&q, "supportsAllDrives"))?;
    let p = f
        .permissions
        .iter()
        .find(|p| p.id == pid)
        .ok_or_else(|| GError::not_found("Permission", &pid))?;
    Ok(axum::Json(m.apply(&permission_json(p))))
}

pub(super) async fn perm_update(
    State(emu): State<Arc<Emu>>,
    _caller: Caller,
    Path((id, pid)): Path<(String, String)>,
    Query(q): Q,
    body: Bytes,
) -> GResult<axum::Json<Value>> {
    let b = json_body(&body)?;
    let m = mask(&q, false, "kind,id,type,role")?;
    let mut st = lock(&emu.drive);
    let f = file_for_write(&mut st, &id, &q)?;
    let p = f
        .permissions
        .iter_mut()
        .find(|p| p.id == pid)
        .ok_or_else(|| GError::not_found("Permission", &pid))?;
    if let Some(r) = b["role"].as_str() {
        p.role = r.to_string();
    }
    Ok(axum::Json(m.apply(&permission_json(p))))
}

pub(super) async fn perm_delete(
    State(emu): State<Arc<Emu>>,
    _caller: Caller,
    Path((id, pid)): Path<(String, String)>,
    Query(q): Q,
) -> GResult<Response> {
    let mut st = lock(&emu.drive);
    let f = file_for_write(&mut st, &id, &q)?;
    let i = f
        .permissions
        .iter()
        .position(|p| p.id == pid)
        .ok_or_else(|| GError::not_found("Permission", &pid))?;
    if f.permissions[i].role == "owner" {
        return Err(GError::forbidden(
            "global",
            "cannotRemoveOwner",
            "The owner of a file cannot be removed.",
        ));
    }
    f.permissions.remove(i);
    let f = f.clone();
    st.insert(f);
    Ok(StatusCode::NO_CONTENT.into_response())
}
