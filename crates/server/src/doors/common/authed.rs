//! Who is asking: the signed-in user of a request (or the guest), with the paths they may reach —
//! what every door checks before it calls the house.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::header;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use cloudmux_core::{Entry, Error, ErrorKind};
use serde_json::{Value, json};
use std::sync::Arc;

use crate::AppState;
use crate::doors::common::error::{ApiError, unauthorized};
use crate::house::tree::{clean, under};
use crate::house::users::User;

/// What the API's steps return.
pub(crate) type ApiResult<T> = std::result::Result<T, ApiError>;

/// The signed-in user of a request (from `Authorization: Bearer TOKEN`), or, for the routes that read
/// ([`Reader`]), the guest: then the token is empty and the third field holds every mount point with
/// whether it is open to guests ([`crate::house::tree::Mount::guest`]): a guest reaches only what a guest
/// mount governs (not a closed mount nested inside it) and the folders on the way to one.
pub struct Authed(pub User, pub String, pub Option<Vec<(String, bool)>>);

/// The name the guest goes by (never a user's: names are letters, digits and `._-@`).
pub const GUEST: &str = "(guest)";

/// A request to a route that only reads: a signed-in user, or with no `Authorization` header at all the
/// guest, when some mount is open to guests.
pub struct Reader(pub Authed);

impl std::ops::Deref for Reader {
    type Target = Authed;
    fn deref(&self) -> &Authed {
        &self.0
    }
}

impl FromRequestParts<Arc<AppState>> for Reader {
    type Rejection = Response;
    async fn from_request_parts(
        parts: &mut Parts,
        st: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        if parts.headers.get(header::AUTHORIZATION).is_none()
            && let Some(g) = Authed::guest(st)
        {
            return Ok(Reader(g));
        }
        Authed::from_request_parts(parts, st).await.map(Reader)
    }
}

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
        match Authed::from_token(st, client_ip(parts), token).await {
            Ok(Some(a)) => Ok(a),
            Ok(None) => Err(unauthorized("the token is unknown or expired")),
            Err(e) => Err(ApiError(e).into_response()),
        }
    }
}

/// The client's address (after [`crate::doors::common::proxy`]).
pub(crate) fn client_ip(parts: &Parts) -> std::net::IpAddr {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
        .unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED))
}

/// Whether the mount that serves the tree path `full` (the longest mount point it is in) is open to
/// guests; None in a folder of mount points.
fn governing(mounts: &[(String, bool)], full: &str) -> Option<bool> {
    mounts
        .iter()
        .filter(|(m, _)| crate::house::tickets::within(full, m))
        .max_by_key(|(m, _)| m.len())
        .map(|(_, open)| *open)
}

/// The guest's answer for a path outside the mounts open to guests.
fn not_open(full: &str) -> ApiError {
    Error::new(
        ErrorKind::PermissionDenied,
        format!("{full} is not open to guests"),
    )
    .with_hint("sign in to see it")
    .into()
}

impl Authed {
    /// The user of a session or API token (None: unknown or expired; unknown tokens count against
    /// `ip` in the throttle).
    pub(crate) async fn from_token(
        st: &AppState,
        ip: std::net::IpAddr,
        token: String,
    ) -> cloudmux_core::Result<Option<Authed>> {
        Ok(st
            .users
            .authenticate(ip, &token)
            .await?
            .map(|u| Authed(u, token, None)))
    }

    /// The guest, when some mount is open to guests.
    pub(crate) fn guest(st: &AppState) -> Option<Authed> {
        let mounts: Vec<(String, bool)> = st
            .tree
            .mounts()
            .iter()
            .map(|m| (m.path.clone(), m.guest))
            .collect();
        if !mounts.iter().any(|(_, open)| *open) {
            return None;
        }
        let guest = User {
            name: GUEST.to_string(),
            base_path: "/".to_string(),
            can_write: false,
            is_admin: false,
        };
        Some(Authed(guest, String::new(), Some(mounts)))
    }

    /// The tree path of a client path (for the guest, only inside a mount open to guests or on the way
    /// to one).
    pub(crate) fn path(&self, p: &str) -> ApiResult<String> {
        let full = under(&self.0.base_path, &clean(p)?);
        if !self.visible(&full) {
            return Err(not_open(&full));
        }
        Ok(full)
    }

    /// Whether this is the guest.
    pub fn is_guest(&self) -> bool {
        self.2.is_some()
    }

    /// Whether the tree path `full` may be seen: always for a user (their base is applied by
    /// [`Authed::path`]); for the guest, what a guest mount governs or a folder on the way to one.
    pub(crate) fn visible(&self, full: &str) -> bool {
        match &self.2 {
            None => true,
            Some(mounts) => match governing(mounts, full) {
                Some(open) => open,
                None => mounts
                    .iter()
                    .any(|(m, open)| *open && crate::house::tickets::within(m, full)),
            },
        }
    }

    /// Like [`Authed::path`], for reading a file's bytes: for the guest, only what a guest mount governs.
    pub(crate) fn read_path(&self, p: &str) -> ApiResult<String> {
        let full = self.path(p)?;
        if let Some(mounts) = &self.2
            && governing(mounts, &full) != Some(true)
        {
            return Err(not_open(&full));
        }
        Ok(full)
    }

    /// Like [`Authed::path`], for a change (needs the write right).
    pub(crate) fn write_path(&self, p: &str) -> ApiResult<String> {
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
    pub(crate) fn shown(&self, full: &str) -> String {
        match self.0.base_path.as_str() {
            "/" => full.to_string(),
            b => match full.strip_prefix(b) {
                Some("") => "/".to_string(),
                Some(rest) => rest.to_string(),
                None => full.to_string(),
            },
        }
    }

    /// An entry of a listing: with `"mount": true` where it is a mount point (which cannot be renamed,
    /// moved or deleted), and `"remote"`: the kind of remote mounted there (`gdrive`, `local`, …).
    pub(crate) fn listed(&self, e: &Entry, mounts: &[(String, &'static str)]) -> Value {
        let mut v = self.entry(e);
        if let Some((_, kind)) = mounts.iter().find(|(m, _)| *m == e.path) {
            v["mount"] = json!(true);
            v["remote"] = json!(kind);
        }
        v
    }

    pub(crate) fn entry(&self, e: &Entry) -> Value {
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
