//! The JSON API under `/api` (described by `/api/openapi.json`), one router per resource: [`auth`]
//! (sign-in, sessions, API tokens), [`fs`] (the tree: list, stat, download, upload, mkdir, rename, delete,
//! links, copy, move), [`tickets`] (header-less download links), [`search`] and [`tasks`] (background
//! transfers).
//!
//! Every path a client sends is relative to the user's base path: it is cleaned ([`crate::house::tree::clean`]:
//! `..`, backslashes and control characters refused), then put under the base, so no request reaches
//! anything outside it. Downloads and uploads stream; nothing holds a whole file.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use cloudmux_core::{DeleteMode, Entry, Error, ErrorKind};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::doors::common::authed::ApiResult;
pub use crate::doors::common::authed::{Authed, GUEST, Reader};
use crate::doors::common::files;

pub mod admin;
pub mod auth;
pub mod fs;
pub mod openapi;
pub mod search;
pub mod shares;
pub mod signin;
pub mod tasks;
pub mod tickets;

pub use crate::doors::common::files::{SEARCH_FOLDERS_PER_WINDOW, SEARCH_WINDOW};
pub use auth::MAX_API_TOKENS;

/// A request that names one path (relative to the user's base).
#[derive(Deserialize)]
struct PathQ {
    #[serde(default)]
    path: String,
}

fn one() -> usize {
    1
}

fn hundred() -> usize {
    100
}

/// The routes.
pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/api/openapi.json", get(openapi))
        .merge(auth::routes())
        .merge(fs::routes())
        .merge(tickets::routes())
        .merge(search::routes())
        .merge(tasks::routes())
        .merge(shares::routes())
}

async fn openapi() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        crate::doors::api::openapi::DOCUMENT,
    )
        .into_response()
}
