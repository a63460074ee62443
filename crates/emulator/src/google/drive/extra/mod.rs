//! About, and the resources besides files, one module each: permissions, comments, changes and shared drives.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::Utc;
use serde_json::{Value, json};

use super::fields::Mask;
use super::files::{page_offset, page_token};
use super::{
    API, Comment, DriveState, FOLDER, File, Permission, READ_SCOPES, SharedDrive, WRITE_SCOPES,
    all_drives, export_formats, json_body, new_id, owner_permission, permission_json, qbool, ts,
    user_json,
};
use crate::State as Emu;
use crate::faults::lock;
use crate::google::error::{GError, GResult};
use crate::hosts::Base;

type Q = Query<HashMap<String, String>>;

mod changes;
mod comments;
mod drives;
mod permissions;

use crate::google::api::{Caller, Method};
use changes::{changes, start_token};
use comments::{comment_create, comment_delete, comment_get, comment_list, comment_update};
use drives::{drive_create, drive_delete, drive_get, drive_list, drive_update};
use permissions::{perm_create, perm_delete, perm_get, perm_list, perm_update};

/// The routes of about, permissions, comments, changes and shared drives.
pub(super) fn routes() -> Router<Arc<Emu>> {
    Router::new()
        .route(
            "/www.googleapis.com/drive/v3/about",
            get(Method::new(API, "google.apps.drive.v3.DriveAbout.Get", READ_SCOPES).on(about)),
        )
        .route(
            "/www.googleapis.com/drive/v3/files/{id}/permissions",
            get(Method::new(
                API,
                "google.apps.drive.v3.DrivePermissions.List",
                READ_SCOPES,
            )
            .on(perm_list))
            .post(
                Method::new(
                    API,
                    "google.apps.drive.v3.DrivePermissions.Create",
                    WRITE_SCOPES,
                )
                .on(perm_create),
            ),
        )
        .route(
            "/www.googleapis.com/drive/v3/files/{id}/permissions/{pid}",
            get(Method::new(
                API,
                "google.apps.drive.v3.DrivePermissions.Get",
                READ_SCOPES,
            )
            .on(perm_get))
            .patch(
                Method::new(
                    API,
                    "google.apps.drive.v3.DrivePermissions.Update",
                    WRITE_SCOPES,
                )
                .on(perm_update),
            )
            .delete(
                Method::new(
                    API,
                    "google.apps.drive.v3.DrivePermissions.Delete",
                    WRITE_SCOPES,
                )
                .on(perm_delete),
            ),
        )
        .route(
            "/www.googleapis.com/drive/v3/files/{id}/comments",
            get(
                Method::new(API, "google.apps.drive.v3.DriveComments.List", READ_SCOPES)
                    .on(comment_list),
            )
            .post(
                Method::new(
                    API,
                    "google.apps.drive.v3.DriveComments.Create",
                    WRITE_SCOPES,
                )
                .on(comment_create),
            ),
        )
        .route(
            "/www.googleapis.com/drive/v3/files/{id}/comments/{cid}",
            get(
                Method::new(API, "google.apps.drive.v3.DriveComments.Get", READ_SCOPES)
                    .on(comment_get),
            )
            .patch(
                Method::new(
                    API,
                    "google.apps.drive.v3.DriveComments.Update",
                    WRITE_SCOPES,
                )
                .on(comment_update),
            )
            .delete(
                Method::new(
                    API,
                    "google.apps.drive.v3.DriveComments.Delete",
                    WRITE_SCOPES,
                )
                .on(comment_delete),
            ),
        )
        .route(
            "/www.googleapis.com/drive/v3/changes/startPageToken",
            get(Method::new(
                API,
                "google.apps.drive.v3.DriveChanges.GetStartPageToken",
                READ_SCOPES,
            )
            .on(start_token)),
        )
        .route(
            "/www.googleapis.com/drive/v3/changes",
            get(
                Method::new(API, "google.apps.drive.v3.DriveChanges.List", READ_SCOPES).on(changes),
            ),
        )
        .route(
            "/www.googleapis.com/drive/v3/drives",
            get(
                Method::new(API, "google.apps.drive.v3.DriveDrives.List", READ_SCOPES)
                    .on(drive_list),
            )
            .post(
                Method::new(API, "google.apps.drive.v3.DriveDrives.Create", &["drive"])
                    .on(drive_create),
            ),
        )
        .route(
            "/www.googleapis.com/drive/v3/drives/{id}",
            get(
                Method::new(API, "google.apps.drive.v3.DriveDrives.Get", READ_SCOPES).on(drive_get),
            )
            .patch(
                Method::new(API, "google.apps.drive.v3.DriveDrives.Update", &["drive"])
                    .on(drive_update),
            )
            .delete(
                Method::new(API, "google.apps.drive.v3.DriveDrives.Delete", &["drive"])
                    .on(drive_delete),
            ),
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

async fn about(
    State(emu): State<Arc<Emu>>,
    _caller: Caller,
    Query(q): Q,
) -> GResult<axum::Json<Value>> {
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
    Ok(axum::Json(m.apply(&full)))
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
