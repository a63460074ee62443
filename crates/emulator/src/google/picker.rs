//! Google Photos Picker API v1: sessions (`pickerUri`, `pollingConfig`, `mediaItemsSet`), a picker page on the
//! emulator where a person — or a test — picks items out of the user's seeded library, the picked items with
//! baseUrls, FAILED_PRECONDITION before picking, RESOURCE_EXHAUSTED past ten open sessions per app, deletion.
//! See `shared/specs/README.md` §2.8.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use chrono::{Duration as CDuration, SecondsFormat, Utc};
use serde_json::{Value, json};

use super::photos::Item;
use crate::State as Emu;
use crate::common::html_escape;
use crate::faults::lock;
use crate::google::api::{Caller, Method};
use crate::google::error::{GError, GResult};
use crate::hosts::Base;

const API: (&str, &str) = ("photospicker.googleapis.com", "Google Photos Picker API");
const SCOPE: &str = "photospicker.mediaitems.readonly";
const MAX_SESSIONS: usize = 10;

/// A picking session.
#[derive(Debug, Clone)]
pub struct PickSession {
    id: String,
    client: String,
    created: chrono::DateTime<Utc>,
    max_items: Option<u64>,
    picked: Option<Vec<String>>,
}

/// Picker state.
#[derive(Debug, Default)]
pub struct PickerState {
    sessions: HashMap<String, PickSession>,
}

/// Routes of the Picker API and its page.
pub fn routes() -> Router<Arc<Emu>> {
    Router::new()
        .route(
            "/photospicker.googleapis.com/v1/sessions",
            axum::routing::post(
                Method::new(
                    API,
                    "google.photos.picker.v1.PickingService.CreateSession",
                    &[SCOPE],
                )
                .on(create),
            ),
        )
        .route(
            "/photospicker.googleapis.com/v1/sessions/{id}",
            get(Method::new(
                API,
                "google.photos.picker.v1.PickingService.GetSession",
                &[SCOPE],
            )
            .on(get_session))
            .delete(
                Method::new(
                    API,
                    "google.photos.picker.v1.PickingService.DeleteSession",
                    &[SCOPE],
                )
                .on(delete_session),
            ),
        )
        .route(
            "/photospicker.googleapis.com/v1/mediaItems",
            get(Method::new(
                API,
                "google.photos.picker.v1.MediaItemsService.ListMediaItems",
                &[SCOPE],
            )
            .on(list_items)),
        )
        .route("/photos.google.com/picker/{id}", get(page).post(pick))
        .route(
            "/photos.google.com/picker/{id}/autoclose",
            get(page).post(pick),
        )
}

fn session_json(base: &Base, s: &PickSession) -> Value {
    let mut v = json!({
        "id": s.id,
        "pickerUri": base.url("photos.google.com", &format!("/picker/{}", s.id)),
        "expireTime": (s.created + CDuration::hours(1)).to_rfc3339_opts(SecondsFormat::Secs, true),
        "mediaItemsSet": s.picked.is_some(),
    });
    if let Some(m) = s.max_items {
        v["pickingConfig"] = json!({"maxItemCount": m.to_string()});
    }
    if s.picked.is_none() {
        v["pollingConfig"] = json!({"pollInterval": "1s", "timeoutIn": "1800s"});
    }
    v
}

async fn create(
    State(emu): State<Arc<Emu>>,
    base: Base,
    Caller(grant): Caller,
    body: axum::body::Bytes,
) -> GResult<axum::Json<Value>> {
    let client = grant.client_id;
    let b: Value = if body.is_empty() {
        json!({})
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| GError::bad_request(format!("Invalid JSON payload received. {e}")))?
    };
    let mut st = lock(&emu.picker);
    if st.sessions.values().filter(|s| s.client == client).count() >= MAX_SESSIONS {
        return Err(GError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "global",
            "rateLimitExceeded",
            "Too many open picking sessions; delete finished sessions first.",
        ));
    }
    let max_items = b["pickingConfig"]["maxItemCount"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .or(b["pickingConfig"]["maxItemCount"].as_u64());
    let id = uuidish();
    let s = PickSession {
        id: id.clone(),
        client,
        created: Utc::now(),
        max_items,
        picked: None,
    };
    let v = session_json(&base, &s);
    st.sessions.insert(id, s);
    Ok(axum::Json(v))
}

fn uuidish() -> String {
    let b: Vec<u8> = (0..16).map(|_| rand::random::<u8>()).collect();
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

fn own<'a>(st: &'a PickerState, id: &str, client: &str) -> GResult<&'a PickSession> {
    st.sessions
        .get(id)
        .filter(|s| s.client == client)
        .ok_or_else(|| {
            GError::new(
                StatusCode::NOT_FOUND,
                "global",
                "notFound",
                "Requested entity was not found.",
            )
        })
}

async fn get_session(
    State(emu): State<Arc<Emu>>,
    base: Base,
    Caller(grant): Caller,
    Path(id): Path<String>,
) -> GResult<axum::Json<Value>> {
    let client = grant.client_id;
    let st = lock(&emu.picker);
    Ok(axum::Json(session_json(&base, own(&st, &id, &client)?)))
}

async fn delete_session(
    State(emu): State<Arc<Emu>>,
    Caller(grant): Caller,
    Path(id): Path<String>,
) -> GResult<axum::Json<Value>> {
    let client = grant.client_id;
    let mut st = lock(&emu.picker);
    own(&st, &id, &client)?;
    st.sessions.remove(&id);
    Ok(axum::Json(json!({})))
}

async fn list_items(
    State(emu): State<Arc<Emu>>,
    base: Base,
    Caller(grant): Caller,
    Query(q): Query<HashMap<String, String>>,
) -> GResult<axum::Json<Value>> {
    let client = grant.client_id;
    let Some(sid) = q.get("sessionId") else {
        return Err(GError::required("sessionId"));
    };
    let picked = {
        let st = lock(&emu.picker);
        own(&st, sid, &client)?.picked.clone()
    };
    let Some(picked) = picked else {
        return Err(GError::new(
            StatusCode::BAD_REQUEST,
            "global",
            "failedPrecondition",
            "The user has not finished picking media items in this session yet.",
        )
        .with_status_text("FAILED_PRECONDITION"));
    };
    let size = match q.get("pageSize").map(|s| s.parse::<i64>()) {
        None | Some(Ok(0)) => 50,
        Some(Ok(n)) if n > 0 => (n as usize).min(100),
        _ => {
            return Err(GError::invalid_param(
                "pageSize",
                "pageSize must not be negative",
            ));
        }
    };
    let offset: usize = q
        .get("pageToken")
        .and_then(|t| t.strip_prefix('p')?.parse().ok())
        .unwrap_or(0);
    let mut photos = lock(&emu.photos);
    let items: Vec<Item> = picked
        .iter()
        .filter_map(|i| photos.items.get(i).cloned())
        .collect();
    let end = (offset + size).min(items.len());
    let page: Vec<Value> = items
        .get(offset..end)
        .unwrap_or(&[])
        .iter()
        .map(|it| {
            let url = photos.issue_base_url(&base, &it.id);
            json!({"id": it.id, "createTime": it.created.to_rfc3339_opts(SecondsFormat::Secs, true),
                "type": if it.mime.starts_with("video/") { "VIDEO" } else { "PHOTO" },
                "mediaFile": {"baseUrl": url, "mimeType": it.mime, "filename": it.filename,
                    "mediaFileMetadata": {"width": 1024, "height": 768}}})
        })
        .collect();
    let mut v = json!({"mediaItems": page});
    if end < items.len() {
        v["nextPageToken"] = json!(format!("p{end}"));
    }
    Ok(axum::Json(v))
}

async fn page(State(emu): State<Arc<Emu>>, base: Base, Path(id): Path<String>) -> Response {
    let open = lock(&emu.picker)
        .sessions
        .get(&id)
        .is_some_and(|s| s.picked.is_none());
    if !open {
        return (
            StatusCode::GONE,
            Html("<!doctype html><h1>This picking session is closed</h1>"),
        )
            .into_response();
    }
    let library: Vec<Item> = lock(&emu.photos)
        .items
        .values()
        .filter(|i| i.owner.is_none())
        .cloned()
        .collect();
    let mut boxes = String::new();
    for it in &library {
        boxes.push_str(&format!(
            "<li><label><input type=checkbox name=item value=\"{}\"> {} ({})</label></li>",
            html_escape(&it.id),
            html_escape(&it.filename),
            it.created.format("%Y-%m-%d")
        ));
    }
    let action = base.url("photos.google.com", &format!("/picker/{id}"));
    Html(format!(
        "<!doctype html><title>Google Photos — select (emulated)</title><h1>Select photos to share with the app</h1>\
         <form method=post action=\"{action}\"><ul>{boxes}</ul><button id=done>Done</button></form>"
    ))
    .into_response()
}

async fn pick(State(emu): State<Arc<Emu>>, Path(id): Path<String>, body: String) -> Response {
    let ids: Vec<String> = url::form_urlencoded::parse(body.as_bytes())
        .filter(|(k, _)| k == "item")
        .map(|(_, v)| v.into_owned())
        .collect();
    let library: Vec<String> = lock(&emu.photos)
        .items
        .values()
        .filter(|i| i.owner.is_none())
        .map(|i| i.id.clone())
        .collect();
    if ids.is_empty() || ids.iter().any(|i| !library.contains(i)) {
        return (
            StatusCode::BAD_REQUEST,
            Html("<!doctype html><h1>Select at least one item from your library</h1>"),
        )
            .into_response();
    }
    let mut st = lock(&emu.picker);
    let Some(s) = st.sessions.get_mut(&id).filter(|s| s.picked.is_none()) else {
        return (
            StatusCode::GONE,
            Html("<!doctype html><h1>This picking session is closed</h1>"),
        )
            .into_response();
    };
    if s.max_items.is_some_and(|m| ids.len() as u64 > m) {
        return (
            StatusCode::BAD_REQUEST,
            Html("<!doctype html><h1>Too many items selected</h1>"),
        )
            .into_response();
    }
    s.picked = Some(ids);
    Html("<!doctype html><h1>Done</h1><p>You can close this tab and return to the app.</p>")
        .into_response()
}

/// The Google Photos Picker API as an emulated service (sessions live in memory only).
pub struct Picker;

impl crate::service::Service for Picker {
    fn key(&self) -> &'static str {
        "picker"
    }
    fn title(&self) -> &'static str {
        "Google Photos Picker API (sessions, the picking page, picked items)"
    }
    fn hosts(&self) -> &'static [(&'static str, crate::service::Family)] {
        use crate::service::Family::{GoogleApi, Plain};
        &[
            ("photospicker.googleapis.com", GoogleApi),
            ("photos.google.com", Plain),
        ]
    }
    fn entry_points(&self) -> &'static [(&'static str, &'static str)] {
        &[("API", "photospicker.googleapis.com/v1/sessions")]
    }
    fn routes(&self) -> Router<Arc<Emu>> {
        routes()
    }
}
