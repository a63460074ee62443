//! about, permissions, comments, changes and shared drives.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::Utc;
use serde_json::{Value, json};

use super::fields::Mask;
use super::files::{page_offset, page_token};
use super::{
    Comment, DriveState, FOLDER, File, Permission, READ_SCOPES, SharedDrive, WRITE_SCOPES,
    all_drives, auth, export_formats, json_body, new_id, owner_permission, permission_json, qbool,
    ts, user_json,
};
use crate::State as Emu;
use crate::faults::lock;
use crate::google::error::{GError, GResult};
use crate::hosts::Base;

type Q = Query<HashMap<String, String>>;

pub(super) fn routes() -> Router<Arc<Emu>> {
    Router::new()
        .route("/www.googleapis.com/drive/v3/about", get(about))
        .route(
            "/www.googleapis.com/drive/v3/files/{id}/permissions",
            get(perm_list).post(perm_create),
        )
        .route(
            "/www.googleapis.com/drive/v3/files/{id}/permissions/{pid}",
            get(perm_get).patch(perm_update).delete(perm_delete),
        )
        .route(
            "/www.googleapis.com/drive/v3/files/{id}/comments",
            get(comment_list).post(comment_create),
        )
        .route(
            "/www.googleapis.com/drive/v3/files/{id}/comments/{cid}",
            get(comment_get)
                .patch(comment_update)
                .delete(comment_delete),
        )
        .route(
            "/www.googleapis.com/drive/v3/changes/startPageToken",
            get(start_token),
        )
        .route("/www.googleapis.com/drive/v3/changes", get(changes))
        .route(
            "/www.googleapis.com/drive/v3/drives",
            get(drive_list).post(drive_create),
        )
        .route(
            "/www.googleapis.com/drive/v3/drives/{id}",
            get(drive_get).patch(drive_update).delete(drive_delete),
        )
}

fn mask(q: &HashMap<String, String>, required: bool, default: &str) -> GResult<Mask> {
    match q.get("fields") {
        Some(s) if !s.is_empty() => Mask::parse(s)
            .map_err(|t| GError::invalid_param("fields", format!("Invalid field selection {t}"))),
        _ if required => Err(GError::required("fields")
            .at("fields", "parameter")
            .with_message("The 'fields' parameter is required for this method.")),
        _ => Ok(Mask::parse(default).expect("static mask")),
    }
}

impl GError {
    fn with_message(mut self, m: &str) -> Self {
        self.message = m.to_string();
        self
    }
}

fn reply(r: GResult<Value>) -> Response {
    r.map(axum::Json).into_response()
}

async fn about(State(emu): State<Arc<Emu>>, headers: HeaderMap, Query(q): Q) -> Response {
    reply((|| {
        auth(
            &emu,
            &headers,
            &q,
            "google.apps.drive.v3.DriveAbout.Get",
            READ_SCOPES,
        )?;
        let m = mask(&q, true, "")?;
        let (used, trash) = lock(&emu.drive).usage();
        let limit = emu.settings().drive_quota;
        let exports: serde_json::Map<String, Value> = export_formats()
            .into_iter()
            .map(|(k, v)| (k.to_string(), json!(v)))
            .collect();
        let full = json!({
            "kind": "drive#about",
            "user": user_json(),
            "storageQuota": {"limit": limit.to_string(), "usage": used.to_string(), "usageInDrive": used.to_string(), "usageInDriveTrash": trash.to_string()},
            "importFormats": {"text/plain": ["application/vnd.google-apps.document"], "text/csv": ["application/vnd.google-apps.spreadsheet"],
                "text/html": ["application/vnd.google-apps.document"], "text/markdown": ["application/vnd.google-apps.document"]},
            "exportFormats": exports,
            "maxImportSizes": {"application/vnd.google-apps.document": "10485760", "application/vnd.google-apps.spreadsheet": "104857600"},
            "maxUploadSize": "5497558138880",
            "appInstalled": false,
            "canCreateDrives": true,
            "canCreateTeamDrives": true,
            "folderColorPalette": ["#ac725e", "#d06b64", "#f83a22", "#fa573c"],
            "driveThemes": [],
        });
        Ok(m.apply(&full))
    })())
}

fn file_for_write<'a>(
    st: &'a mut DriveState,
    id: &str,
    q: &HashMap<String, String>,
) -> GResult<&'a mut File> {
    let all = all_drives(q);
    let real = st.get(id, all)?.id.clone();
    Ok(st.files.get_mut(&real).expect("exists"))
}

async fn perm_list(
    State(emu): State<Arc<Emu>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Q,
) -> Response {
    reply((|| {
        auth(
            &emu,
            &headers,
            &q,
            "google.apps.drive.v3.DrivePermissions.List",
            READ_SCOPES,
        )?;
        let m = mask(
            &q,
            false,
            "kind,nextPageToken,permissions(id,type,kind,role)",
        )?;
        let st = lock(&emu.drive);
        let f = st.get(&id, qbool(&q, "supportsAllDrives"))?;
        let perms: Vec<Value> = f.permissions.iter().map(permission_json).collect();
        Ok(m.apply(&json!({"kind": "drive#permissionList", "permissions": perms})))
    })())
}

async fn perm_create(
    State(emu): State<Arc<Emu>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Q,
    body: Bytes,
) -> Response {
    reply((|| {
        auth(
            &emu,
            &headers,
            &q,
            "google.apps.drive.v3.DrivePermissions.Create",
            WRITE_SCOPES,
        )?;
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
        Ok(m.apply(&out))
    })())
}

async fn perm_get(
    State(emu): State<Arc<Emu>>,
    headers: HeaderMap,
    Path((id, pid)): Path<(String, String)>,
    Query(q): Q,
) -> Response {
    reply((|| {
        auth(
            &emu,
            &headers,
            &q,
            "google.apps.drive.v3.DrivePermissions.Get",
            READ_SCOPES,
        )?;
        let m = mask(&q, false, "kind,id,type,role")?;
        let st = lock(&emu.drive);
        let f = st.get(&id, qbool(&q, "supportsAllDrives"))?;
        let p = f
            .permissions
            .iter()
            .find(|p| p.id == pid)
            .ok_or_else(|| GError::not_found("Permission", &pid))?;
        Ok(m.apply(&permission_json(p)))
    })())
}

async fn perm_update(
    State(emu): State<Arc<Emu>>,
    headers: HeaderMap,
    Path((id, pid)): Path<(String, String)>,
    Query(q): Q,
    body: Bytes,
) -> Response {
    reply((|| {
        auth(
            &emu,
            &headers,
            &q,
            "google.apps.drive.v3.DrivePermissions.Update",
            WRITE_SCOPES,
        )?;
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
        Ok(m.apply(&permission_json(p)))
    })())
}

async fn perm_delete(
    State(emu): State<Arc<Emu>>,
    headers: HeaderMap,
    Path((id, pid)): Path<(String, String)>,
    Query(q): Q,
) -> Response {
    (|| -> GResult<Response> {
        auth(
            &emu,
            &headers,
            &q,
            "google.apps.drive.v3.DrivePermissions.Delete",
            WRITE_SCOPES,
        )?;
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
    })()
    .unwrap_or_else(IntoResponse::into_response)
}

fn comment_json(c: &Comment) -> Value {
    let mut v = json!({
        "kind": "drive#comment", "id": c.id, "createdTime": ts(&c.created), "modifiedTime": ts(&c.modified),
        "author": {"kind": "drive#user", "displayName": "Demo User", "me": true, "emailAddress": crate::DEMO_USER},
        "deleted": c.deleted, "resolved": c.resolved, "replies": [],
    });
    if !c.deleted {
        v["content"] = json!(c.content);
        v["htmlContent"] = json!(crate::google::oauth::html_escape(&c.content));
    }
    if let Some(a) = &c.anchor {
        v["anchor"] = json!(a);
    }
    if let Some(qc) = &c.quoted {
        v["quotedFileContent"] = qc.clone();
    }
    v
}

async fn comment_list(
    State(emu): State<Arc<Emu>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Q,
) -> Response {
    reply((|| {
        auth(
            &emu,
            &headers,
            &q,
            "google.apps.drive.v3.DriveComments.List",
            READ_SCOPES,
        )?;
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
        Ok(m.apply(&body))
    })())
}

async fn comment_create(
    State(emu): State<Arc<Emu>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Q,
    body: Bytes,
) -> Response {
    reply((|| {
        auth(
            &emu,
            &headers,
            &q,
            "google.apps.drive.v3.DriveComments.Create",
            WRITE_SCOPES,
        )?;
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
        Ok(m.apply(&comment_json(&c)))
    })())
}

async fn comment_get(
    State(emu): State<Arc<Emu>>,
    headers: HeaderMap,
    Path((id, cid)): Path<(String, String)>,
    Query(q): Q,
) -> Response {
    reply((|| {
        auth(
            &emu,
            &headers,
            &q,
            "google.apps.drive.v3.DriveComments.Get",
            READ_SCOPES,
        )?;
        let m = mask(&q, true, "")?;
        let st = lock(&emu.drive);
        let f = st.get(&id, true)?;
        let c = f
            .comments
            .iter()
            .find(|c| c.id == cid && (!c.deleted || qbool(&q, "includeDeleted")))
            .ok_or_else(|| GError::not_found("Comment", &cid))?;
        Ok(m.apply(&comment_json(c)))
    })())
}

async fn comment_update(
    State(emu): State<Arc<Emu>>,
    headers: HeaderMap,
    Path((id, cid)): Path<(String, String)>,
    Query(q): Q,
    body: Bytes,
) -> Response {
    reply((|| {
        auth(
            &emu,
            &headers,
            &q,
            "google.apps.drive.v3.DriveComments.Update",
            WRITE_SCOPES,
        )?;
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
        Ok(m.apply(&comment_json(c)))
    })())
}

async fn comment_delete(
    State(emu): State<Arc<Emu>>,
    headers: HeaderMap,
    Path((id, cid)): Path<(String, String)>,
    Query(q): Q,
) -> Response {
    (|| -> GResult<Response> {
        auth(
            &emu,
            &headers,
            &q,
            "google.apps.drive.v3.DriveComments.Delete",
            WRITE_SCOPES,
        )?;
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
    })()
    .unwrap_or_else(IntoResponse::into_response)
}

async fn start_token(State(emu): State<Arc<Emu>>, headers: HeaderMap, Query(q): Q) -> Response {
    reply((|| {
        auth(
            &emu,
            &headers,
            &q,
            "google.apps.drive.v3.DriveChanges.GetStartPageToken",
            READ_SCOPES,
        )?;
        let st = lock(&emu.drive);
        Ok(json!({"kind": "drive#startPageToken", "startPageToken": st.next_change.to_string()}))
    })())
}

async fn changes(
    State(emu): State<Arc<Emu>>,
    base: Base,
    headers: HeaderMap,
    Query(q): Q,
) -> Response {
    reply((|| {
        auth(
            &emu,
            &headers,
            &q,
            "google.apps.drive.v3.DriveChanges.List",
            READ_SCOPES,
        )?;
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
                c["file"] = super::file_json(&st, f, &base);
            }
            out.push(c);
        }
        let mut body = json!({"kind": "drive#changeList", "changes": out});
        match next {
            Some(n) => body["nextPageToken"] = json!(n.to_string()),
            None => body["newStartPageToken"] = json!(st.next_change.to_string()),
        }
        Ok(m.apply(&body))
    })())
}

fn drive_json(d: &SharedDrive) -> Value {
    json!({"kind": "drive#drive", "id": d.id, "name": d.name, "createdTime": ts(&d.created), "hidden": d.hidden,
        "capabilities": {"canAddChildren": true, "canDeleteDrive": true, "canEdit": true, "canListChildren": true, "canManageMembers": true, "canRename": true, "canShare": true, "canTrashChildren": true},
        "restrictions": {"adminManagedRestrictions": false, "copyRequiresWriterPermission": false, "domainUsersOnly": false, "driveMembersOnly": false}})
}

async fn drive_list(State(emu): State<Arc<Emu>>, headers: HeaderMap, Query(q): Q) -> Response {
    reply((|| {
        auth(
            &emu,
            &headers,
            &q,
            "google.apps.drive.v3.DriveDrives.List",
            READ_SCOPES,
        )?;
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
        Ok(m.apply(&body))
    })())
}

async fn drive_create(
    State(emu): State<Arc<Emu>>,
    headers: HeaderMap,
    Query(q): Q,
    body: Bytes,
) -> Response {
    reply((|| {
        auth(
            &emu,
            &headers,
            &q,
            "google.apps.drive.v3.DriveDrives.Create",
            &["drive"],
        )?;
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
        Ok(m.apply(&drive_json(&d)))
    })())
}

async fn drive_get(
    State(emu): State<Arc<Emu>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Q,
) -> Response {
    reply((|| {
        auth(
            &emu,
            &headers,
            &q,
            "google.apps.drive.v3.DriveDrives.Get",
            READ_SCOPES,
        )?;
        let m = mask(&q, false, "kind,id,name")?;
        let st = lock(&emu.drive);
        let d = st
            .drives
            .get(&id)
            .ok_or_else(|| GError::not_found("Shared drive", &id))?;
        Ok(m.apply(&drive_json(d)))
    })())
}

async fn drive_update(
    State(emu): State<Arc<Emu>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Q,
    body: Bytes,
) -> Response {
    reply((|| {
        auth(
            &emu,
            &headers,
            &q,
            "google.apps.drive.v3.DriveDrives.Update",
            &["drive"],
        )?;
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
        Ok(m.apply(&out))
    })())
}

async fn drive_delete(
    State(emu): State<Arc<Emu>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Q,
) -> Response {
    (|| -> GResult<Response> {
        auth(
            &emu,
            &headers,
            &q,
            "google.apps.drive.v3.DriveDrives.Delete",
            &["drive"],
        )?;
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
    })()
    .unwrap_or_else(IntoResponse::into_response)
}
