//! Faithful local emulators of cloud-drive APIs and their OAuth servers, for tests and for other people's apps.
//!
//! One listener serves every emulated host. A real host H (`www.googleapis.com`, `oauth2.googleapis.com`,
//! `accounts.google.com`, …) is served under the path prefix `/H/` with its real paths below it, and also by
//! `Host:` header at `/` (optionally over TLS), so an unmodified client can be pointed at it either by changing
//! its base URL or by name resolution. URLs the emulator hands out (resumable session URIs, consent pages) are
//! built from the request's own base, so they work in both modes.
//!
//! What is emulated (see `shared/specs/README.md` for the behaviour followed):
//! - Google OAuth 2.0: consent page (auto-approve switch), token endpoint (authorization code with PKCE, refresh,
//!   JWT bearer for service accounts), revoke; scopes recorded per token and enforced per method.
//! - Google Drive v3: files (the `q` grammar, `fields`, paging, orderBy), multipart and resumable uploads, Range
//!   downloads, export, trash, copy, permissions, comments, changes, generateIds, shared drives, about and quota.
//!   Each route declares its method and scopes ([`google::api::Method`]); handlers take the checked
//!   [`google::api::Caller`].
//! - Google Photos: the Library API (albums, media items, search, uploads, batchCreate, shared albums; its
//!   discovery document at `/photoslibrary.googleapis.com/$discovery/rest`) and the Picker API (sessions,
//!   picked media items, the picking page).
//! - Yandex Disk REST v1 and Yandex OAuth: resources (meta, listing, flat list, last uploaded, PATCH of
//!   properties), upload and download links, copy/move/delete with async operations, trash, public resources,
//!   one module each under [`yandex`].
//! - Each service is a [`Service`] listed in [`SERVICES`] (here at the root: the services import
//!   [`service`] and [`google::api`], never this list): its hosts, routes, saved state, change mark and the
//!   lines of the index page at `/`; the shell (host routing, fault injection, `--state-dir`) reads that list.
//! - Fault injection ([`faults`]), the services' request quotas ([`quota`]: off, the published figures, or
//!   any), and an admin API under `/__admin`.
//!
//! State is in memory; file contents are spilled to a directory ([`blob`]), so a multi-GiB file costs no RAM.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! let emu = cloudmux_emulator::Emulator::start(cloudmux_emulator::Config::default()).await?;
//! println!("Drive at {}/www.googleapis.com/drive/v3/", emu.base_url());
//! # Ok(()) }
//! ```
#![deny(missing_docs)]
#![recursion_limit = "256"]
// Handlers build at most one error per request; boxing GError would only add noise.
#![allow(clippy::result_large_err)]

pub mod blob;
pub mod common;
pub mod faults;
pub mod google;
mod hosts;
pub mod multipart;
pub mod quota;
pub mod serve;
pub mod service;
mod tls;
pub mod yandex;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State as AxState;
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use serde::{Deserialize, Serialize};

pub use faults::{FaultConfig, FaultKind};
pub use hosts::Base;
pub use quota::QuotaConfig;
pub use service::{Family, Service};
pub use tls::serve_tls;

use crate::faults::lock;

/// The OAuth client that always exists, printed at start.
pub const DEMO_CLIENT_ID: &str = "cloudmux-demo.apps.googleusercontent.com";
/// Its secret (desktop-app secrets are not confidential; this one is public by design).
pub const DEMO_CLIENT_SECRET: &str = "cloudmux-demo-secret";
/// The emulated user's e-mail.
pub const DEMO_USER: &str = "demo.user@cloudmux.test";

/// Settings that can be changed while running (`POST /__admin/settings`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// Consent and verification pages approve at once.
    pub auto_approve: bool,
    /// Lifetime of access tokens, seconds.
    pub token_lifetime: u64,
    /// Lifetime of authorization codes, seconds.
    pub code_lifetime: u64,
    /// APIs answering SERVICE_DISABLED (`drive`, `photoslibrary`, …).
    pub disabled_apis: HashSet<String>,
    /// Drive storage limit, bytes.
    pub drive_quota: u64,
    /// Yandex Disk size, bytes.
    pub yandex_quota: u64,
    /// Lifetime of Yandex access tokens, seconds.
    pub yandex_token_lifetime: u64,
    /// Lifetime of Yandex device codes, seconds.
    pub yandex_device_code_lifetime: u64,
    /// The polling interval Yandex device codes ask for, seconds.
    pub yandex_poll_interval: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            auto_approve: false,
            token_lifetime: 3599,
            code_lifetime: 300,
            disabled_apis: HashSet::new(),
            drive_quota: 15 * 1024 * 1024 * 1024,
            yandex_quota: 10 * 1024 * 1024 * 1024,
            yandex_token_lifetime: 31_536_000,
            yandex_device_code_lifetime: 600,
            yandex_poll_interval: 5,
        }
    }
}

/// Start-up configuration.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// Initial settings.
    pub settings: Settings,
    /// Extra OAuth clients (id, secret) besides the demo client.
    pub clients: Vec<(String, String)>,
    /// Where blobs (and, later, state) are kept; a temp dir when `None`.
    pub state_dir: Option<PathBuf>,
    /// Initial fault injection.
    pub faults: FaultConfig,
    /// The services' request limits (none by default).
    pub quota: QuotaConfig,
    /// Service-account key files (Google JSON) whose JWT grants are accepted.
    pub service_accounts: Vec<serde_json::Value>,
}

/// The emulator's shared state.
#[derive(Debug)]
pub struct State {
    /// Runtime settings.
    pub settings: Mutex<Settings>,
    /// Google OAuth state.
    pub google_auth: Mutex<google::oauth::AuthState>,
    /// Drive state.
    pub drive: Mutex<google::drive::DriveState>,
    /// Google Photos state.
    pub photos: Mutex<google::photos::PhotosState>,
    /// Photos Picker sessions.
    pub picker: Mutex<google::picker::PickerState>,
    /// Yandex OAuth state.
    pub yandex_auth: Mutex<yandex::oauth::YandexAuth>,
    /// Yandex Disk state.
    pub disk: Mutex<yandex::disk::DiskState>,
    /// File contents.
    pub blobs: blob::BlobStore,
    /// Fault injection.
    pub faults: Mutex<faults::Faults>,
    /// Request limits and their counts.
    pub quotas: quota::QuotaState,
    /// Bytes of file contents served by downloads of every service (what a client's reads cost).
    pub served_bytes: std::sync::Arc<std::sync::atomic::AtomicU64>,
    state_dir: Option<PathBuf>,
}

impl State {
    /// A state from a config: restored from `state_dir/state.json` when there is one, else fresh.
    pub fn new(cfg: &Config) -> std::io::Result<Arc<State>> {
        let blobs =
            blob::BlobStore::new(cfg.state_dir.as_deref().map(|d| d.join("blobs")).as_deref())?;
        let saved: Option<serde_json::Map<String, serde_json::Value>> =
            match cfg.state_dir.as_ref().map(|d| d.join("state.json")) {
                Some(p) if p.exists() => {
                    Some(serde_json::from_slice(&std::fs::read(&p)?).map_err(|e| {
                        std::io::Error::other(format!(
                            "{}: unreadable emulator state ({e}); move it away to start afresh",
                            p.display()
                        ))
                    })?)
                }
                _ => None,
            };
        let mut drive = google::drive::DriveState::new();
        let mut disk = yandex::disk::DiskState::new();
        drive.blob_dir = Some(blobs.dir().to_path_buf());
        disk.blob_dir = Some(blobs.dir().to_path_buf());
        let mut photos = google::photos::PhotosState::default();
        let mut seeds = Vec::new();
        for i in 0..6u8 {
            // Small synthetic JPEG-like payloads (SOI marker, then a pattern): the user's existing library.
            let mut data = vec![0xFF, 0xD8, 0xFF, 0xE0];
            data.extend((0..4096u32).map(|j| (j as u8).wrapping_mul(i + 1)));
            let blob = std::fs::write(blobs.path(&format!("library-{i}")), &data)
                .map(|_| (format!("library-{i}"), data.len() as u64))?;
            seeds.push(blob);
        }
        photos.seed_library(seeds);
        let state = State {
            settings: Mutex::new(cfg.settings.clone()),
            google_auth: Mutex::new(google::oauth::AuthState::default()),
            drive: Mutex::new(drive),
            photos: Mutex::new(photos),
            picker: Mutex::new(google::picker::PickerState::default()),
            yandex_auth: Mutex::new(yandex::oauth::YandexAuth::default()),
            disk: Mutex::new(disk),
            blobs,
            faults: Mutex::new(faults::Faults::new(cfg.faults.clone())),
            quotas: Mutex::new(quota::Quotas::new(cfg.quota.clone())),
            served_bytes: Default::default(),
            state_dir: cfg.state_dir.clone(),
        };
        for (key, value) in saved.into_iter().flatten() {
            let Some(svc) = SERVICES.iter().find(|s| s.key() == key) else {
                tracing::warn!("emulator state: ignoring `{key}`, which no service keeps");
                continue;
            };
            if value.is_null() {
                continue;
            }
            svc.restore(&state, value).map_err(|e| {
                std::io::Error::other(format!(
                    "state.json: the saved state of {key} is unreadable ({e}); move it away to start afresh"
                ))
            })?;
        }
        {
            let mut auth = lock(&state.google_auth);
            let mut yauth = lock(&state.yandex_auth);
            for (id, secret) in std::iter::once((DEMO_CLIENT_ID, DEMO_CLIENT_SECRET))
                .chain(cfg.clients.iter().map(|(i, s)| (i.as_str(), s.as_str())))
            {
                auth.add_client(id, secret);
                yauth.add_client(id, secret);
            }
            for sa in &cfg.service_accounts {
                auth.add_service_account(sa)
                    .map_err(std::io::Error::other)?;
            }
        }
        Ok(Arc::new(state))
    }

    /// Writes `state.json` into the state dir (atomically): each service's persistent part under its key.
    /// Does nothing without a state dir. Returns the change mark it saved.
    pub fn save(&self) -> std::io::Result<u64> {
        let Some(dir) = &self.state_dir else {
            return Ok(0);
        };
        let generation = self.change_mark();
        let all: serde_json::Map<String, serde_json::Value> = SERVICES
            .iter()
            .filter_map(|s| Some((s.key().to_string(), s.snapshot(self)?)))
            .collect();
        let data = serde_json::to_vec(&all).map_err(std::io::Error::other)?;
        // It holds the emulated OAuth tokens: owner-only, like every token file.
        cloudmux_core::fs::write_private(&dir.join("state.json"), &data)
            .map_err(std::io::Error::other)?;
        Ok(generation)
    }

    /// A number that grows whenever any service's content changes.
    pub fn change_mark(&self) -> u64 {
        SERVICES.iter().map(|s| s.change_mark(self)).sum()
    }

    /// Saves every `every` when any service changed (and OAuth state with it), until the returned task is
    /// aborted.
    pub fn spawn_autosave(
        self: &Arc<Self>,
        every: std::time::Duration,
    ) -> tokio::task::JoinHandle<()> {
        let s = self.clone();
        tokio::spawn(async move {
            let mut saved = u64::MAX;
            loop {
                tokio::time::sleep(every).await;
                let g = s.change_mark();
                if g != saved {
                    match s.save() {
                        Ok(g) => saved = g,
                        Err(e) => tracing::error!("saving emulator state: {e}"),
                    }
                }
            }
        })
    }

    /// A Google access token of `client` for the demo user, valid an hour, granting `scopes` (full URLs, or
    /// their part after `https://www.googleapis.com/auth/`).
    pub fn google_token(&self, client: &str, scopes: &[&str]) -> String {
        let scopes = scopes
            .iter()
            .map(|s| {
                if s.starts_with("https://") {
                    s.to_string()
                } else {
                    format!("https://www.googleapis.com/auth/{s}")
                }
            })
            .collect();
        lock(&self.google_auth).issue_access(client, scopes, 3600, DEMO_USER)
    }

    /// A Yandex OAuth token for the demo client, valid an hour.
    pub fn yandex_token(&self) -> String {
        lock(&self.yandex_auth).issue(DEMO_CLIENT_ID, 3600)
    }

    /// A copy of the current settings.
    pub fn settings(&self) -> Settings {
        lock(&self.settings).clone()
    }
}

/// Every emulated service, in the order of the index page.
pub static SERVICES: &[&dyn Service] = &[
    &google::oauth::GoogleOAuth,
    &google::drive::Drive,
    &google::photos::Photos,
    &google::picker::Picker,
    &yandex::oauth::YandexOAuth,
    &yandex::disk::Disk,
];

/// The family of a real host, when some service answers for it.
pub fn family_of(host: &str) -> Option<Family> {
    SERVICES
        .iter()
        .flat_map(|s| s.hosts())
        .find(|(h, _)| *h == host)
        .map(|(_, f)| *f)
}

/// Whether some service answers for `host`.
pub fn is_known_host(host: &str) -> bool {
    family_of(host).is_some()
}

/// Every host the emulator answers for.
pub fn known_hosts() -> impl Iterator<Item = &'static str> {
    SERVICES.iter().flat_map(|s| s.hosts()).map(|(h, _)| *h)
}

/// The whole emulator as one router (host routing and fault injection included).
pub fn app(state: Arc<State>) -> Router {
    let inner = SERVICES
        .iter()
        .fold(
            Router::new()
                .route("/", get(index))
                .nest("/__admin", admin_routes()),
            |r, s| r.merge(s.routes()),
        )
        .with_state(state.clone());
    Router::new()
        .fallback_service(inner)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            quota::enforce,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            faults::inject,
        ))
        .layer(axum::middleware::from_fn(hosts::route_by_host))
}

async fn index(base: Base) -> Html<String> {
    use std::fmt::Write;
    let esc = common::html_escape;
    // The origin comes from the request's Host header: escaped like any outside value.
    let origin = esc(&base.origin());
    let mut page = String::from(
        "<!doctype html><meta charset=utf-8><title>cloudmux emulator</title><h1>cloudmux emulator</h1>\
         <p>Each real host H is served under <code>/H/</code> (or by <code>Host: H</code>).</p>",
    );
    for s in SERVICES {
        let _ = write!(page, "<h2>{}</h2><ul>", esc(s.title()));
        for (what, at) in s.entry_points() {
            let _ = write!(
                page,
                "<li>{}: <code>{origin}/{}</code></li>",
                esc(what),
                esc(at)
            );
        }
        page.push_str("</ul>");
    }
    let _ = write!(
        page,
        "<h2>Test switches</h2><p><code>{origin}/__admin/</code>: faults, quota, settings, clients, \
         service-accounts, revoke-all, stats.</p>\
         <p>Demo client: <code>{DEMO_CLIENT_ID}</code> / <code>{DEMO_CLIENT_SECRET}</code></p>"
    );
    Html(page)
}

fn admin_routes() -> Router<Arc<State>> {
    use axum::Json;
    Router::new()
        .route(
            "/faults",
            get(|AxState(s): AxState<Arc<State>>| async move {
                let f = lock(&s.faults);
                Json(serde_json::json!({"config": f.config(), "injected": f.injected}))
            })
            .post(|AxState(s): AxState<Arc<State>>, Json(cfg): Json<FaultConfig>| async move {
                lock(&s.faults).set(cfg);
                axum::http::StatusCode::NO_CONTENT
            }),
        )
        .route(
            "/quota",
            get(|AxState(s): AxState<Arc<State>>| async move {
                let q = quota::quotas(&s);
                Json(serde_json::json!({"config": q.config(), "counts": q.counts}))
            })
            .post(|AxState(s): AxState<Arc<State>>, Json(cfg): Json<QuotaConfig>| async move {
                quota::quotas(&s).set(cfg);
                axum::http::StatusCode::NO_CONTENT
            }),
        )
        .route(
            "/settings",
            get(|AxState(s): AxState<Arc<State>>| async move { Json(s.settings()) }).post(
                |AxState(s): AxState<Arc<State>>, Json(v): Json<Settings>| async move {
                    *lock(&s.settings) = v;
                    axum::http::StatusCode::NO_CONTENT
                },
            ),
        )
        .route(
            "/clients",
            axum::routing::post(|AxState(s): AxState<Arc<State>>, Json(v): Json<serde_json::Value>| async move {
                let (Some(id), Some(secret)) = (v["client_id"].as_str(), v["client_secret"].as_str()) else {
                    return (axum::http::StatusCode::BAD_REQUEST, "client_id and client_secret required").into_response();
                };
                lock(&s.google_auth).add_client(id, secret);
                axum::http::StatusCode::NO_CONTENT.into_response()
            }),
        )
        .route(
            "/service-accounts",
            axum::routing::post(|AxState(s): AxState<Arc<State>>, Json(v): Json<serde_json::Value>| async move {
                match lock(&s.google_auth).add_service_account(&v) {
                    Ok(()) => axum::http::StatusCode::NO_CONTENT.into_response(),
                    Err(e) => (axum::http::StatusCode::BAD_REQUEST, e).into_response(),
                }
            }),
        )
        .route(
            "/revoke-all",
            axum::routing::post(|AxState(s): AxState<Arc<State>>| async move {
                lock(&s.google_auth).revoke_all();
                lock(&s.yandex_auth).revoke_all();
                axum::http::StatusCode::NO_CONTENT
            }),
        )
        .route(
            "/stats",
            get(|AxState(s): AxState<Arc<State>>| async move {
                let d = lock(&s.drive);
                Json(serde_json::json!({"drive_files": d.file_count(), "drive_sessions": d.session_count(), "drive_resumable_bytes": d.resumable_bytes, "yandex_upload_bytes": lock(&s.disk).upload_bytes,
                    "served_bytes": s.served_bytes.load(std::sync::atomic::Ordering::Relaxed),
                    "faults_injected": lock(&s.faults).injected, "requests": lock(&s.faults).requests}))
            }),
        )
}

/// A running emulator (for tests and `cloudmux emulate`).
pub struct Emulator {
    addr: SocketAddr,
    state: Arc<State>,
    task: tokio::task::JoinHandle<()>,
}

impl Emulator {
    /// Binds 127.0.0.1 on a free port and serves in the background.
    pub async fn start(cfg: Config) -> std::io::Result<Emulator> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        Self::serve_on(listener, cfg).await
    }

    /// Serves on an existing listener in the background.
    pub async fn serve_on(
        listener: tokio::net::TcpListener,
        cfg: Config,
    ) -> std::io::Result<Emulator> {
        let addr = listener.local_addr()?;
        let state = State::new(&cfg)?;
        let router = app(state.clone());
        let task = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, router).await {
                tracing::error!("emulator stopped: {e}");
            }
        });
        Ok(Emulator { addr, state, task })
    }

    /// Starts an emulator on a thread of its own with its own runtime, living until the process ends; for test
    /// binaries whose tests each run on their own runtime but share one emulator. Returns its base URL and state.
    pub fn start_detached(cfg: Config) -> std::io::Result<(String, Arc<State>)> {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("cloudmux-emulator".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        return;
                    }
                };
                rt.block_on(async move {
                    match Emulator::start(cfg).await {
                        Ok(e) => {
                            let _ = tx.send(Ok((e.base_url(), e.state.clone())));
                            std::future::pending::<()>().await;
                        }
                        Err(err) => {
                            let _ = tx.send(Err(err));
                        }
                    }
                });
            })?;
        rx.recv().map_err(std::io::Error::other)?
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The shared state (to seed data or flip switches from a test).
    pub fn state(&self) -> &Arc<State> {
        &self.state
    }

    /// A Google access token for the demo client and user, valid an hour, granting `scopes` (full URLs,
    /// or their part after `https://www.googleapis.com/auth/`): what a client holds after signing in.
    pub fn google_token(&self, scopes: &[&str]) -> String {
        self.state.google_token(DEMO_CLIENT_ID, scopes)
    }

    /// A Yandex OAuth token for the demo client, valid an hour.
    pub fn yandex_token(&self) -> String {
        self.state.yandex_token()
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::Family;
    use std::collections::HashSet;

    #[test]
    fn hosts_and_keys_are_unique() {
        let mut hosts = HashSet::new();
        for h in known_hosts() {
            assert!(hosts.insert(h), "{h} claimed twice");
        }
        let mut keys = HashSet::new();
        for s in SERVICES {
            assert!(keys.insert(s.key()), "{} twice", s.key());
            for (_, at) in s.entry_points() {
                let host = at.split('/').next().unwrap();
                assert!(is_known_host(host), "{at}: its host is not served");
            }
        }
        assert_eq!(family_of("www.googleapis.com"), Some(Family::GoogleApi));
        assert_eq!(family_of("example.com"), None);
    }
}
