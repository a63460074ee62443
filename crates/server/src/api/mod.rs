//! The JSON API under `/api` (described by `/api/openapi.json`), one router per resource: [`auth`]
//! (sign-in, sessions, API tokens), [`fs`] (the tree: list, stat, download, upload, mkdir, rename, delete,
//! links, copy, move), [`tickets`] (header-less download links), [`search`] and [`tasks`] (background
//! transfers).
//!
//! Every path a client sends is relative to the user's base path: it is cleaned ([`crate::mount::clean`]:
//! `..`, backslashes and control characters refused), then put under the base, so no request reaches
//! anything outside it. Downloads and uploads stream; nothing holds a whole file.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{ConnectInfo, FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use cloudmux_core::{ByteRange, DeleteMode, Entry, Error, ErrorKind, WriteOptions};
use futures_util::TryStreamExt;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::error::{ApiError, unauthorized};
use crate::mount::{clean, under};
use crate::users::User;

type ApiResult<T> = std::result::Result<T, ApiError>;

/// The signed-in user of a request (from `Authorization: Bearer TOKEN`).
pub struct Authed(pub User, pub String);

impl FromRequestParts<Arc<AppState>> for Authed {
    type Rejection = Response;
    async fn from_request_parts(
        parts: &mut Parts,
        st: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let Some(token) = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(|t| t.trim().to_string())
        else {
            return Err(unauthorized("no bearer token"));
        };
        let ip = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip())
            .unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
        match st.users.authenticate(ip, &token).await {
            Ok(Some(u)) => Ok(Authed(u, token)),
            Ok(None) => Err(unauthorized("the token is unknown or expired")),
            Err(e) => Err(ApiError(e).into_response()),
        }
    }
}

impl Authed {
    /// The tree path of a client path.
    fn path(&self, p: &str) -> ApiResult<String> {
        Ok(under(&self.0.base_path, &clean(p)?))
    }

    /// Like [`Authed::path`], for a change (needs the write right).
    fn write_path(&self, p: &str) -> ApiResult<String> {
        if !self.0.can_write {
            return Err(Error::new(
                ErrorKind::PermissionDenied,
                format!("{} may only read", self.0.name),
            )
            .into());
        }
        let full = self.path(p)?;
        if full == self.0.base_path {
            return Err(Error::invalid("the top folder itself cannot be changed").into());
        }
        Ok(full)
    }

    /// A tree path as the client sees it.
    fn shown(&self, full: &str) -> String {
        match self.0.base_path.as_str() {
            "/" => full.to_string(),
            b => match full.strip_prefix(b) {
                Some("") => "/".to_string(),
                Some(rest) => rest.to_string(),
                None => full.to_string(),
            },
        }
    }

    fn entry(&self, e: &Entry) -> Value {
        json!({
            "name": e.name,
            "path": self.shown(&e.path),
            "is_dir": e.is_dir,
            "size": e.size,
            "modified": e.modified,
            "mime": e.mime,
            "hashes": e.hashes,
        })
    }
}

pub mod auth;
pub mod fs;
pub mod search;
pub mod shares;
pub mod tasks;
pub mod tickets;

pub use auth::MAX_API_TOKENS;
pub use search::{SEARCH_FOLDERS_PER_WINDOW, SEARCH_WINDOW};

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
        crate::openapi::DOCUMENT,
    )
        .into_response()
}
