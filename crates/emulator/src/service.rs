//! What the emulator's shell needs of each emulated service, in one place: its hosts (and how an injected
//! failure reads on each), its routes, its part of `state.json`, its change mark and its lines on the index
//! page. Adding a service is its module, a field of [`State`] for its data, and one line in
//! [`crate::SERVICES`] (the registry lives at the crate's root, so that the services, which import this
//! module, never import the list of themselves).

use std::sync::Arc;

use axum::Router;
use serde_json::Value;

use crate::State;

/// Whose error bodies a host speaks, so an injected failure reads as that service's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// Google's JSON APIs (Drive, Photos Library, Picker).
    GoogleApi,
    /// Google's OAuth server.
    GoogleOAuth,
    /// Yandex Disk (API, upload and download hosts).
    YandexDisk,
    /// Yandex's OAuth server.
    YandexOAuth,
    /// Anything else (public links, media hosts): bare statuses.
    Plain,
}

/// One emulated service.
pub trait Service: Send + Sync + 'static {
    /// Its key in `state.json` (and its name in logs).
    fn key(&self) -> &'static str;

    /// What it is, for the index page.
    fn title(&self) -> &'static str;

    /// The real hosts it answers for, each with the family of its error bodies.
    fn hosts(&self) -> &'static [(&'static str, Family)];

    /// Where a client starts, for the index page: (what, `host/path`).
    fn entry_points(&self) -> &'static [(&'static str, &'static str)];

    /// Its routes, under `/HOST/...`.
    fn routes(&self) -> Router<Arc<State>>;

    /// Its persistent part, for `state.json` (`None`: nothing is kept).
    fn snapshot(&self, _state: &State) -> Option<Value> {
        None
    }

    /// Restores what [`Service::snapshot`] kept; an error says what is wrong with it.
    fn restore(&self, _state: &State, _saved: Value) -> Result<(), String> {
        Ok(())
    }

    /// A number that grows whenever its content changes (0 when it has none worth saving).
    fn change_mark(&self, _state: &State) -> u64 {
        0
    }
}

/// `serde_json::to_value` for snapshots (they are plain data; failing would be a bug, reported as `None`).
pub(crate) fn to_value<T: serde::Serialize>(v: &T) -> Option<Value> {
    serde_json::to_value(v)
        .inspect_err(|e| tracing::error!("emulator snapshot: {e}"))
        .ok()
}

/// `serde_json::from_value` with the error as text.
pub(crate) fn from_value<T: serde::de::DeserializeOwned>(v: Value) -> Result<T, String> {
    serde_json::from_value(v).map_err(|e| e.to_string())
}
