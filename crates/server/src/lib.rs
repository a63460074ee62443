//! The cloudmux server: every remote mounted into one tree, kept for several users, and served through
//! several doors.
//!
//! The crate is in two rooms, and its folders say which is which:
//!
//! - [`house`] is what the server keeps and does, whoever asks: the [`house::tree`] of mounts (with the
//!   one gate every outside path goes through, [`house::tree::clean`]), [`house::users`] and their
//!   sessions, [`house::mounts`] and the operator's policy for remotes, [`house::shares`],
//!   [`house::tasks`] (background copies, moves and two-way syncs), [`house::tickets`] (header-less
//!   download links), [`house::thumbs`], [`house::zip`] (archives streamed), [`house::markdown`]
//!   (rendered safe), [`house::limits`] and the [`house::db`] (SQLite, or PostgreSQL for several
//!   processes; migrations as files). It knows nothing of HTTP routes and names no door.
//! - [`doors`] are the ways in, each in a place of its own that calls the house and
//!   [`doors::common`] (who is asking, files and errors as HTTP answers, the client's address behind
//!   proxies) and never another door: [`doors::api`] (the JSON API under `/api`, with its OpenAPI
//!   document, administration and remote sign-in), [`doors::alist`] (AList's API, for AList's clients),
//!   [`doors::dav`] (WebDAV at `/dav`, with its per-user locks), [`doors::share`] (what a share link's
//!   holder reaches, with no account) and [`doors::web`] (the web page at `/`, and at `/s/ID` for a
//!   share).
//!
//! One crate, not two: the doors and the house share [`AppState`] and are built and shipped together;
//! a test (`tests/layout.rs`) keeps the picture true — the house names no door and no HTTP, no door
//! reaches another, and no two modules import each other.
//!
//! [`run`] serves it all until a shutdown future completes, then finishes what is in flight.
//!
//! ```no_run
//! # async fn demo(s: std::sync::Arc<dyn cloudmux_core::Storage>) -> cloudmux_core::Result<()> {
//! use cloudmux_server::{AppState, house::db::Db, house::tree::Mount};
//! let db = Db::open("sqlite:///tmp/cloudmux.db").await?;
//! let state = AppState::new(db, std::time::Duration::from_secs(10));
//! state.tree.mount(Mount { path: "/gdrive".into(), storage: s, read_only: false, direct_links: false, guest: false })?;
//! state.users.create("admin", "a long password", "/", true, true).await?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:5244").await?;
//! let stop = async { let _ = tokio::signal::ctrl_c().await; };
//! cloudmux_server::run(listener, state, stop).await?;
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderValue, header};

pub mod doors;
pub mod house;

use doors::api::signin;
use doors::common::proxy;
use doors::{alist, api, dav, web};
use house::{db, limits, mounts, tasks, thumbs, tickets, tree, users};

/// Now, in milliseconds since the epoch: how the database keeps the times of leases, locks, tickets
/// and throttle counters.
pub(crate) fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Now, in seconds since the epoch: how the database keeps the times of users, tokens and shares.
pub(crate) fn now_secs() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Everything a request can reach.
pub struct AppState {
    /// The mount tree.
    pub tree: Arc<tree::Tree>,
    /// Users and tokens.
    pub users: users::Users,
    /// Background transfers.
    pub tasks: tasks::Tasks,
    /// The remotes admins can mount (none: mounts are fixed at start).
    pub remotes: Option<Arc<dyn cloudmux_remote::Remotes>>,
    /// What remotes added through the admin API may point at.
    pub policy: mounts::RemotePolicy,
    /// WebDAV over the tree, and its locks.
    pub dav: dav::Dav,
    /// The saved mounts this process has mounted, by path (to follow changes made by other processes).
    pub active: mounts::Active,
    /// Remote sign-ins in progress.
    pub signins: signin::SignIns,
    /// Thumbnails made recently.
    pub thumbs: thumbs::Thumbs,
    /// Download tickets.
    pub tickets: tickets::Tickets,
    /// Folders each user's searches may still list.
    pub search_budget: limits::Buckets,
    /// The signs of AList download links ([`alist::sign`]).
    pub alist: alist::Signer,
    /// OpenList's chunked uploads in flight ([`alist::multipart`]).
    pub alist_uploads: alist::multipart::Uploads,
    /// The reverse proxies whose `X-Forwarded-For` is believed ([`proxy`]).
    trusted: std::sync::RwLock<Vec<proxy::Net>>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("tree", &self.tree)
            .field("users", &self.users)
            .field("remotes", &self.remotes)
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// Mounts `m` now (opening its remote), without saving it.
    pub async fn mount_now(&self, m: db::MountRow) -> cloudmux_core::Result<()> {
        mounts::mount_now(&self.tree, self.remotes.as_ref(), &self.active, m).await
    }

    /// Mounts `m` now and saves it (other server processes on the same database pick it up).
    pub async fn mount_row(&self, m: db::MountRow) -> cloudmux_core::Result<()> {
        let m = db::MountRow {
            path: tree::clean(&m.path)?,
            ..m
        };
        self.mount_now(m.clone()).await?;
        self.users.db().put_mount(&m).await
    }

    /// A server over `db` whose listings stay cached for `cache_ttl`; sessions last a day.
    pub fn new(db: db::Db, cache_ttl: Duration) -> Arc<Self> {
        Self::with_remotes(db, cache_ttl, None)
    }

    /// Like [`AppState::new`], with remotes admins can mount through the API (and add none of their own
    /// endpoints or local folders: see [`AppState::with_policy`]).
    pub fn with_remotes(
        db: db::Db,
        cache_ttl: Duration,
        remotes: Option<Arc<dyn cloudmux_remote::Remotes>>,
    ) -> Arc<Self> {
        Self::with_policy(db, cache_ttl, remotes, mounts::RemotePolicy::default())
    }

    /// Like [`AppState::with_remotes`], with what remotes added through the admin API may point at.
    pub fn with_policy(
        db: db::Db,
        cache_ttl: Duration,
        remotes: Option<Arc<dyn cloudmux_remote::Remotes>>,
        policy: mounts::RemotePolicy,
    ) -> Arc<Self> {
        let tree = Arc::new(tree::Tree::new(cache_ttl));
        if db.is_postgres() {
            // Several processes may serve this database: each hears what the others changed.
            tree.set_peers(Arc::new(db.clone()));
        }
        Arc::new(AppState {
            dav: dav::Dav::new(tree.clone(), db.clone()),
            tasks: tasks::Tasks::new(db.clone(), tree.clone()),
            tree,
            users: users::Users::new(db.clone(), Duration::from_secs(24 * 3600)),
            remotes,
            policy,
            active: Default::default(),
            tickets: if db.is_postgres() {
                tickets::Tickets::shared(db.clone())
            } else {
                tickets::Tickets::default()
            },
            search_budget: limits::Buckets::new(api::SEARCH_FOLDERS_PER_WINDOW, api::SEARCH_WINDOW),
            signins: Default::default(),
            thumbs: Default::default(),
            alist: Default::default(),
            alist_uploads: Default::default(),
            trusted: Default::default(),
        })
    }

    /// The reverse proxies (load balancers) in front of this server: for their requests the client's
    /// address is read from `X-Forwarded-For` ([`proxy`]).
    pub fn set_trusted_proxies(&self, nets: Vec<proxy::Net>) {
        *self.trusted.write().unwrap_or_else(|p| p.into_inner()) = nets;
    }

    /// See [`AppState::set_trusted_proxies`].
    pub fn trusted_proxies(&self) -> Vec<proxy::Net> {
        self.trusted
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Makes the tree follow the saved mounts: mounts what was added or changed (by this process or
    /// another one on the same database), unmounts what was removed. Returns the mounts that failed.
    pub async fn sync_mounts(&self) -> cloudmux_core::Result<Vec<(String, cloudmux_core::Error)>> {
        let rows = self.users.db().mounts().await?;
        let gone: Vec<String> = self
            .active
            .lock()
            .unwrap()
            .keys()
            .filter(|p| !rows.iter().any(|r| &r.path == *p))
            .cloned()
            .collect();
        for p in gone {
            self.tree.unmount(&p);
            self.active.lock().unwrap().remove(&p);
        }
        let mut failed = Vec::new();
        for m in rows {
            if self.active.lock().unwrap().get(&m.path) == Some(&m) {
                continue;
            }
            let path = m.path.clone();
            if let Err(e) = self.mount_now(m).await {
                failed.push((path, e));
            }
        }
        Ok(failed)
    }
}

/// The application: the API (and AList's under [`alist::PREFIX`]) and the headers every answer carries.
pub fn app(state: Arc<AppState>) -> Router {
    let routes = api::routes()
        .merge(api::admin::routes())
        .merge(signin::routes())
        .merge(doors::share::routes())
        .merge(web::routes())
        .nest(alist::PREFIX, alist::routes(None))
        .route(dav::PREFIX, axum::routing::any(dav::handle))
        .route(
            &format!("{}/", dav::PREFIX),
            axum::routing::any(dav::handle),
        )
        .route(
            &format!("{}/{{*rest}}", dav::PREFIX),
            axum::routing::any(dav::handle),
        );
    layered(routes, state)
}

/// AList's API alone, at the root (for `serve --alist-listen`: apps that take only a host and port),
/// with an AList/OpenList frontend build beside it when `ui` is given (`serve --alist-ui`).
pub fn alist_app(state: Arc<AppState>, ui: Option<Arc<alist::ui::Ui>>) -> Router {
    layered(alist::routes(ui), state)
}

/// The state, the client address behind trusted proxies, and the headers every answer carries.
fn layered(routes: Router<Arc<AppState>>, state: Arc<AppState>) -> Router {
    routes
        .with_state(state.clone())
        .layer(axum::middleware::from_fn_with_state(
            state,
            proxy::middleware,
        ))
        .layer(axum::middleware::map_response(
            |mut r: axum::response::Response| async move {
                let h = r.headers_mut();
                h.entry(header::X_CONTENT_TYPE_OPTIONS)
                    .or_insert(HeaderValue::from_static("nosniff"));
                h.entry(header::X_FRAME_OPTIONS)
                    .or_insert(HeaderValue::from_static("DENY"));
                h.entry(header::REFERRER_POLICY)
                    .or_insert(HeaderValue::from_static("no-referrer"));
                h.entry(header::CACHE_CONTROL)
                    .or_insert(HeaderValue::from_static("no-store"));
                r
            },
        ))
}

/// Serves [`alist_app`] (AList's API at the root, and the frontend `ui` if given) on `listener` until
/// the process ends.
pub async fn serve_alist(
    listener: tokio::net::TcpListener,
    state: Arc<AppState>,
    ui: Option<Arc<alist::ui::Ui>>,
) -> cloudmux_core::Result<()> {
    axum::serve(
        listener,
        alist_app(state, ui).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await
    .map_err(|e| cloudmux_core::Error::new(cloudmux_core::ErrorKind::Io, format!("serving: {e}")))
}

/// Serves [`app`] on `listener` until the process ends; see [`run`].
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<AppState>,
) -> cloudmux_core::Result<()> {
    run(listener, state, std::future::pending()).await
}

/// Serves [`app`] on `listener` until `shutdown` completes, then stops accepting, lets requests in flight
/// finish and returns. With remotes to mount, the tree follows the saved mounts every few seconds
/// meanwhile (another process may change them).
pub async fn run(
    listener: tokio::net::TcpListener,
    state: Arc<AppState>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> cloudmux_core::Result<()> {
    let follow = state.remotes.is_some().then(|| {
        let weak = Arc::downgrade(&state);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(5)).await;
                let Some(st) = weak.upgrade() else { break };
                match st.sync_mounts().await {
                    Ok(failed) => {
                        for (p, e) in failed {
                            tracing::warn!("{p} is not mounted: {e}");
                        }
                    }
                    Err(e) => tracing::warn!("cannot read the saved mounts: {e}"),
                }
            }
        })
    });
    // Tasks are tended every third of a lease while the state lives.
    let upkeep = {
        let weak = Arc::downgrade(&state);
        tokio::spawn(async move {
            loop {
                let pause = match weak.upgrade() {
                    Some(st) => {
                        st.tasks.tend().await;
                        st.tasks.lease() / 3
                    }
                    None => break,
                };
                tokio::time::sleep(pause).await;
            }
        })
    };
    let st = state.clone();
    let served = axum::serve(
        listener,
        app(state).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await;
    if let Some(t) = follow {
        t.abort();
    }
    upkeep.abort();
    // Runs in flight stop here; their leases run out and this or another process resumes them.
    st.tasks.abandon();
    served?;
    Ok(())
}
