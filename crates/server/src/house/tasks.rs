//! Background transfers (copies and moves between remotes) run by the transfer engine, with progress, listed
//! per user and cancellable — and durable: every task lives in the database ([`crate::house::db::TaskRow`]).
//!
//! A task is run by one server process at a time, the one holding its *lease*: the process that takes the
//! request starts it at once, and renews the lease every third of [`Tasks::lease`] while saving its
//! progress and the sessions of the resumable uploads in flight. When a process dies (or restarts), its
//! leases run out and any process on the same database claims the task ([`crate::house::db::Db::claim_task`]:
//! `FOR UPDATE SKIP LOCKED` on PostgreSQL) and runs it again: the engine copies only what is missing or
//! different, so it continues with the files not done, and a large upload resumes from its saved session.
//! A process that finds its lease gone (cancelled, or taken over) stops its run.
//!
//! A user runs at most [`MAX_RUNNING`] at once; finished ones are kept [`KEEP_FINISHED`] for the user to
//! read, at most [`MAX_FINISHED`] of them.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cloudmux_core::{Error, ErrorKind, Result, SessionStore};
use cloudmux_vfs::{Event, Mode, Options, ResumeScope};
use serde_json::{Value, json};

use crate::house::db::{Db, TaskRow};
use crate::house::tree::Tree;
use crate::now_ms;

/// Progress of a task, as stored and shown. A two-way sync counts its steps as files (every pass's), and
/// adds its passes, conflicts and the last pass's time and failure.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
#[serde(default)]
struct Progress {
    files_planned: usize,
    files_done: usize,
    files_failed: usize,
    bytes_planned: u64,
    bytes_done: u64,
    #[serde(skip_serializing_if = "is_zero")]
    passes: u64,
    #[serde(skip_serializing_if = "is_zero")]
    conflicts: u64,
    /// When the last pass ended, milliseconds since the epoch.
    #[serde(skip_serializing_if = "is_zero")]
    last_pass: u64,
    /// Why the last pass could not run, if it could not.
    #[serde(skip_serializing_if = "String::is_empty")]
    last_error: String,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// A two-way sync task's settings, as the user asked ([`Tasks::start_bisync`]).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct BisyncSpec {
    /// The first pass starts over from the two sides as they are.
    pub resync: bool,
    /// Who keeps the name in a conflict: `newer`, `larger`, `path1` or `path2`.
    pub winner: String,
    /// Refuse a pass that would delete more than this percentage of either side's files.
    pub max_delete: u32,
    /// Seconds between passes.
    pub every: u64,
}

/// The shortest time between two passes of a sync task.
pub const MIN_EVERY: u64 = 10;

/// Why task `t` may no longer run, if it may not: its user is gone, may no longer write, or no longer sees
/// both ends. Asked when a process takes a task over, and by a two-way sync before each of its passes (it
/// runs until cancelled: rights taken away meanwhile end it).
async fn refused(db: &Db, t: &TaskRow) -> Option<String> {
    let u = match db.get_user(&t.user_name).await {
        Ok(Some(u)) => u,
        Ok(None) => return Some(format!("the user {} no longer exists", t.user_name)),
        Err(e) => return Some(e.to_string()),
    };
    let inside = |p: &str| {
        u.base_path == "/" || p == u.base_path || p.starts_with(&format!("{}/", u.base_path))
    };
    if !u.can_write {
        return Some(format!("{} may no longer change files", t.user_name));
    }
    if !inside(&t.src) || !inside(&t.dst) {
        return Some(format!("{} no longer sees both folders", t.user_name));
    }
    None
}

/// What a sync task keeps in its row: its settings, and its pair's state once a pass agreed.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct Pair {
    spec: Option<BisyncSpec>,
    state: Option<cloudmux_vfs::bisync::State>,
}

/// Tasks one user may run at once.
pub const MAX_RUNNING: usize = 8;
/// Tasks one server process runs at once (more wait for a process with room).
pub const MAX_PER_PROCESS: usize = 32;
/// How long a finished task stays listed.
pub const KEEP_FINISHED: Duration = Duration::from_secs(3600);
/// Finished tasks kept per user.
pub const MAX_FINISHED: usize = 50;
/// The default lease: how long a task whose process died waits before another takes it.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(30);
/// Failures a task keeps (the first ones).
const MAX_ERRORS: usize = 100;
/// Upload sessions a task keeps (one per file in flight is what the engine needs).
const MAX_SESSIONS: usize = 64;

/// A run of a task in this process.
struct Local {
    progress: Arc<Mutex<Progress>>,
    sessions: Arc<TaskSessions>,
    abort: tokio::task::AbortHandle,
    /// When the lease was last renewed (or taken).
    renewed: std::time::Instant,
}

/// The background tasks: stored in the database, run by this process where it holds their lease.
pub struct Tasks {
    db: Db,
    tree: Arc<Tree>,
    /// This process, as the owner of leases.
    me: String,
    lease_ms: std::sync::atomic::AtomicU64,
    running: Arc<Mutex<HashMap<String, Local>>>,
}

impl std::fmt::Debug for Tasks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tasks")
            .field("me", &self.me)
            .finish_non_exhaustive()
    }
}

/// The sessions of one task's resumable uploads: kept in memory, saved with the task's lease (and at once
/// when one is added), so the process that takes the task over resumes them.
#[derive(Default)]
pub struct TaskSessions {
    map: Mutex<BTreeMap<String, String>>,
    /// Called with the whole map after a change.
    on_change: Mutex<Option<OnChange>>,
}

/// What a change of the sessions calls, with the whole map as JSON.
type OnChange = Box<dyn Fn(String) + Send + Sync>;

impl TaskSessions {
    fn from_json(s: &str) -> Self {
        TaskSessions {
            map: Mutex::new(serde_json::from_str(s).unwrap_or_default()),
            on_change: Default::default(),
        }
    }

    fn to_json(&self) -> String {
        serde_json::to_string(&*self.map.lock().unwrap()).unwrap_or_else(|_| "{}".into())
    }

    fn changed(&self) {
        let json = self.to_json();
        if let Some(f) = self.on_change.lock().unwrap().as_ref() {
            f(json);
        }
    }
}

impl SessionStore for TaskSessions {
    fn load(&self, key: &str) -> Option<String> {
        self.map.lock().unwrap().get(key).cloned()
    }

    fn save(&self, key: &str, value: &str) -> Result<()> {
        {
            let mut m = self.map.lock().unwrap();
            if m.len() >= MAX_SESSIONS && !m.contains_key(key) {
                return Err(Error::new(
                    ErrorKind::Other,
                    "too many unfinished uploads in one task",
                ));
            }
            m.insert(key.to_string(), value.to_string());
        }
        self.changed();
        Ok(())
    }

    fn remove(&self, key: &str) {
        let was = self.map.lock().unwrap().remove(key).is_some();
        if was {
            self.changed();
        }
    }
}

impl Tasks {
    /// Tasks stored in `db`, run over `tree`.
    pub fn new(db: Db, tree: Arc<Tree>) -> Self {
        Tasks {
            db,
            tree,
            me: cloudmux_auth::oauth::random_token(12),
            lease_ms: (DEFAULT_LEASE.as_millis() as u64).into(),
            running: Default::default(),
        }
    }

    /// How long a lease lasts.
    pub fn lease(&self) -> Duration {
        Duration::from_millis(self.lease_ms.load(std::sync::atomic::Ordering::Relaxed))
    }

    /// Sets how long a lease lasts (at least a second): a dead process's tasks are taken over after it.
    pub fn set_lease(&self, d: Duration) {
        let ms = d.max(Duration::from_secs(1)).as_millis() as u64;
        self.lease_ms
            .store(ms, std::sync::atomic::Ordering::Relaxed);
    }

    /// Starts `mode` from tree path `from` to tree path `to` for `user`; returns the task id. `shown` are
    /// the paths as the user gave them. The listings the task changes are dropped from the tree's cache
    /// when it ends.
    pub async fn start(
        &self,
        user: &str,
        mode: Mode,
        shown: (String, String),
        from: String,
        to: String,
    ) -> Result<String> {
        // Both ends must be there now (a mistake is told at once, not in the task).
        self.tree.locate(&from)?;
        self.tree.locate_writable(&to)?;
        let kind = if mode == Mode::Move { "move" } else { "copy" };
        self.open(user, kind, shown, from, to, String::new()).await
    }

    /// Records a new task of `user` and runs it here; its id. Refused while the user runs
    /// [`MAX_RUNNING`] already.
    async fn open(
        &self,
        user: &str,
        kind: &str,
        shown: (String, String),
        src: String,
        dst: String,
        pair: String,
    ) -> Result<String> {
        let now = now_ms();
        let running = self
            .db
            .prune_tasks(
                user,
                now - KEEP_FINISHED.as_millis() as i64,
                MAX_FINISHED - 1,
            )
            .await?;
        if running >= MAX_RUNNING {
            return Err(Error::new(
                ErrorKind::RateLimited,
                format!("{user} runs {running} tasks already"),
            )
            .with_hint("wait for one to finish, or cancel one (DELETE /api/tasks/ID)"));
        }
        let row = TaskRow {
            id: cloudmux_auth::oauth::random_token(12),
            user_name: user.to_string(),
            kind: kind.into(),
            src,
            dst,
            shown_from: shown.0,
            shown_to: shown.1,
            state: "running".into(),
            progress: json!(Progress::default()).to_string(),
            errors: "[]".into(),
            sessions: "{}".into(),
            owner: self.me.clone(),
            lease_until: now + self.lease().as_millis() as i64,
            runs: 1,
            created: now,
            ended: 0,
            pair,
        };
        self.db.insert_task(&row).await?;
        let id = row.id.clone();
        self.launch(row);
        Ok(id)
    }

    /// Starts a two-way sync of tree paths `one` and `two` for `user` (both must be folders the user may
    /// write): a pass every [`BisyncSpec::every`] seconds until cancelled, its state kept in the task's row
    /// so that the process that takes the task over goes on from the last agreed listing. Returns the id.
    pub async fn start_bisync(
        &self,
        user: &str,
        shown: (String, String),
        one: String,
        two: String,
        spec: BisyncSpec,
    ) -> Result<String> {
        for p in [&one, &two] {
            self.tree.locate_writable(p)?;
            if !self.tree.stat(p).await?.is_dir {
                return Err(Error::invalid(format!("{p}: not a folder"))
                    .with_hint("a two-way sync keeps two folders equal"));
            }
        }
        if one == two
            || one.starts_with(&format!("{}/", two.trim_end_matches('/')))
            || two.starts_with(&format!("{}/", one.trim_end_matches('/')))
        {
            return Err(Error::invalid("the two folders overlap")
                .with_hint("pick two folders neither of which holds the other"));
        }
        let pair = Pair {
            spec: Some(BisyncSpec {
                every: spec.every.max(MIN_EVERY),
                ..spec
            }),
            state: None,
        };
        let pair = serde_json::to_string(&pair).unwrap_or_default();
        self.open(user, "bisync", shown, one, two, pair).await
    }

    /// Runs a task this process holds the lease of.
    fn launch(&self, t: TaskRow) {
        if t.kind == "bisync" {
            return self.launch_bisync(t);
        }
        let mode = if t.kind == "move" {
            Mode::Move
        } else {
            Mode::Copy
        };
        let before: Progress = serde_json::from_str(&t.progress).unwrap_or_default();
        let progress = Arc::new(Mutex::new(before.clone()));
        let p2 = progress.clone();
        let on = move |ev: Event| {
            let mut p = p2.lock().unwrap();
            match ev {
                // A resumed run plans what is left; what the earlier runs did counts too.
                Event::Planned { files, bytes } => {
                    p.files_planned = before.files_done + files;
                    p.bytes_planned = before.bytes_done + bytes;
                }
                Event::Bytes { n, .. } => p.bytes_done += n,
                Event::Copied(_) => p.files_done += 1,
                Event::Failed(..) => p.files_failed += 1,
                Event::Started { .. } | Event::Deleted(_) => {}
            }
        };
        let sessions = Arc::new(TaskSessions::from_json(&t.sessions));
        {
            // A session is saved at once, so a takeover finds even an upload begun a moment ago.
            let (db, id, me, lease, p) = (
                self.db.clone(),
                t.id.clone(),
                self.me.clone(),
                self.lease(),
                progress.clone(),
            );
            *sessions.on_change.lock().unwrap() = Some(Box::new(move |json| {
                let (db, id, me, p) = (db.clone(), id.clone(), me.clone(), p.clone());
                if let Ok(h) = tokio::runtime::Handle::try_current() {
                    h.spawn(async move {
                        let progress = json!(*p.lock().unwrap()).to_string();
                        let until = now_ms() + lease.as_millis() as i64;
                        let _ = db.renew_task(&id, &me, until, &progress, &json).await;
                    });
                }
            }));
        }
        let options = Options {
            resume: Some(ResumeScope {
                store: sessions.clone(),
                source: format!("cloudmux-task:{}", t.src),
            }),
            ..Options::default()
        };
        let (tree, db, me, running) = (
            self.tree.clone(),
            self.db.clone(),
            self.me.clone(),
            self.running.clone(),
        );
        let (id, p3) = (t.id.clone(), progress.clone());
        // Held until the task is registered below, so a fast task cannot end before it is known.
        let gate = Arc::new(tokio::sync::Mutex::new(()));
        let held = gate.clone().try_lock_owned().ok();
        let handle = tokio::spawn(async move {
            let _ = gate.lock().await;
            let r = match (tree.locate(&t.src), tree.locate_writable(&t.dst)) {
                (Ok((s, sp)), Ok((d, dp))) => {
                    cloudmux_vfs::run(
                        mode,
                        (s.storage.clone(), sp),
                        (d.storage.clone(), dp),
                        &options,
                        on,
                    )
                    .await
                }
                (Err(e), _) | (_, Err(e)) => Err(e),
            };
            tree.changed(&[&t.dst, crate::house::tree::parent_of(&t.dst)])
                .await;
            if mode == Mode::Move {
                tree.changed(&[&t.src, crate::house::tree::parent_of(&t.src)])
                    .await;
            }
            let (state, errors) = match r {
                Ok(stats) if stats.errors.is_empty() => ("done", Vec::new()),
                Ok(mut stats) => {
                    stats.errors.truncate(MAX_ERRORS);
                    ("failed", stats.errors)
                }
                Err(e) => ("failed", vec![(String::new(), e.to_string())]),
            };
            let errors = json!(
                errors
                    .iter()
                    .map(|(p, e)| json!({"path": p, "error": e}))
                    .collect::<Vec<_>>()
            )
            .to_string();
            let progress = json!(*p3.lock().unwrap()).to_string();
            if let Err(e) = db
                .finish_task(&id, &me, state, &progress, &errors, now_ms())
                .await
            {
                tracing::warn!("task {id}: cannot record its end: {e}");
            }
            running.lock().unwrap().remove(&id);
        });
        self.register(&t.id, progress, sessions, &handle);
        drop(held);
    }

    /// Lists a run of task `id` that this process started, for [`Tasks::tend`] and cancels.
    fn register(
        &self,
        id: &str,
        progress: Arc<Mutex<Progress>>,
        sessions: Arc<TaskSessions>,
        handle: &tokio::task::JoinHandle<()>,
    ) {
        self.running.lock().unwrap().insert(
            id.to_string(),
            Local {
                progress,
                sessions,
                abort: handle.abort_handle(),
                renewed: std::time::Instant::now(),
            },
        );
    }

    /// Runs a two-way sync task this process holds the lease of: passes until it is cancelled or its lease
    /// is lost (then this run is aborted by [`Tasks::tend`]).
    fn launch_bisync(&self, t: TaskRow) {
        use cloudmux_vfs::bisync::{RunOptions, StateAt, Winner, bisync};
        let pair: Pair = serde_json::from_str(&t.pair).unwrap_or_default();
        let spec = pair.spec.unwrap_or(BisyncSpec {
            resync: false,
            winner: "newer".into(),
            max_delete: 50,
            every: 60,
        });
        let held = Arc::new(Mutex::new(pair.state));
        let before: Progress = serde_json::from_str(&t.progress).unwrap_or_default();
        let progress = Arc::new(Mutex::new(before));
        let sessions = Arc::new(TaskSessions::from_json(&t.sessions));
        let winner = match spec.winner.as_str() {
            "larger" => Winner::Larger,
            "path1" => Winner::Path1,
            "path2" => Winner::Path2,
            _ => Winner::Newer,
        };
        let (tree, db, me, running) = (
            self.tree.clone(),
            self.db.clone(),
            self.me.clone(),
            self.running.clone(),
        );
        let (id, p, store) = (t.id.clone(), progress.clone(), sessions.clone());
        let row = t.clone();
        let gate = Arc::new(tokio::sync::Mutex::new(()));
        let gated = gate.clone().try_lock_owned().ok();
        let handle = tokio::spawn(async move {
            let _ = gate.lock().await;
            let mut o = RunOptions {
                state: StateAt::Held(held.clone()),
                // Until a pass agreed: a pair with a state goes on from it.
                resync: spec.resync && held.lock().unwrap().is_none(),
                winner,
                max_delete: spec.max_delete,
                check_access: false,
                dry_run: false,
                backup_dir: cloudmux_vfs::bisync::BACKUP_DIR.into(),
                engine: Options {
                    resume: Some(ResumeScope {
                        store,
                        source: format!("cloudmux-bisync:{}:{}", t.src, t.dst),
                    }),
                    ..Options::default()
                },
            };
            loop {
                if let Some(why) = refused(&db, &row).await {
                    let errors = json!([{"path": "", "error": why}]).to_string();
                    let progress = json!(*p.lock().unwrap()).to_string();
                    if let Err(e) = db
                        .finish_task(&id, &me, "failed", &progress, &errors, now_ms())
                        .await
                    {
                        tracing::warn!("task {id}: cannot record its end: {e}");
                    }
                    break;
                }
                let r = match (tree.locate_writable(&t.src), tree.locate_writable(&t.dst)) {
                    (Ok((a, ap)), Ok((b, bp))) => {
                        bisync((a.storage.clone(), ap), (b.storage.clone(), bp), &o).await
                    }
                    (Err(e), _) | (_, Err(e)) => Err(e),
                };
                {
                    let mut p = p.lock().unwrap();
                    p.passes += 1;
                    p.last_pass = now_ms() as u64;
                    match &r {
                        Ok(report) => {
                            p.files_done += report.plan.actions.len() - report.errors.len();
                            p.files_failed = report.errors.len();
                            p.conflicts += report.plan.conflicts.len() as u64;
                            p.last_error = report
                                .errors
                                .first()
                                .map(|(a, e)| format!("{a}: {e}"))
                                .unwrap_or_default();
                        }
                        Err(e) => p.last_error = e.to_string(),
                    }
                }
                if let Ok(report) = &r {
                    o.resync = false;
                    if !report.plan.actions.is_empty() {
                        tree.changed(&[&t.src, &t.dst]).await;
                    }
                    let pair = Pair {
                        spec: Some(spec.clone()),
                        state: held.lock().unwrap().clone(),
                    };
                    let json = serde_json::to_string(&pair).unwrap_or_default();
                    match db.save_pair(&id, &me, &json).await {
                        Ok(true) => {}
                        // Cancelled or taken over: this run stops.
                        Ok(false) => break,
                        Err(e) => tracing::warn!("task {id}: cannot save its pair's state: {e}"),
                    }
                }
                tokio::time::sleep(Duration::from_secs(spec.every.max(MIN_EVERY))).await;
            }
            running.lock().unwrap().remove(&id);
        });
        self.register(&t.id, progress, sessions, &handle);
        drop(gated);
    }

    /// One round of upkeep: renews the leases of this process's runs (saving their progress and
    /// sessions) and stops those it lost, then claims tasks whose process is gone while there is room.
    pub async fn tend(&self) {
        let until = now_ms() + self.lease().as_millis() as i64;
        let mine: Vec<(String, String, String)> = self
            .running
            .lock()
            .unwrap()
            .iter()
            .map(|(id, l)| {
                (
                    id.clone(),
                    json!(*l.progress.lock().unwrap()).to_string(),
                    l.sessions.to_json(),
                )
            })
            .collect();
        for (id, progress, sessions) in mine {
            match self
                .db
                .renew_task(&id, &self.me, until, &progress, &sessions)
                .await
            {
                Ok(true) => {
                    if let Some(l) = self.running.lock().unwrap().get_mut(&id) {
                        l.renewed = std::time::Instant::now();
                    }
                }
                Ok(false) => {
                    // Cancelled, or taken over: this run must not go on writing.
                    if let Some(l) = self.running.lock().unwrap().remove(&id) {
                        l.abort.abort();
                    }
                }
                Err(e) => {
                    tracing::warn!("task {id}: cannot renew its lease: {e}");
                    // Unrenewed, the lease runs out and another process may take the task: two runs
                    // must never write at once, so this one stops before that (past half the lease;
                    // the task resumes wherever it is claimed next).
                    let mut running = self.running.lock().unwrap();
                    if running
                        .get(&id)
                        .is_some_and(|l| l.renewed.elapsed() > self.lease() / 2)
                        && let Some(l) = running.remove(&id)
                    {
                        l.abort.abort();
                    }
                }
            }
        }
        while self.running.lock().unwrap().len() < MAX_PER_PROCESS {
            match self.db.claim_task(&self.me, now_ms(), until).await {
                Ok(Some(t)) => {
                    tracing::info!(
                        "task {}: taken over (run {}) from a process that stopped",
                        t.id,
                        t.runs
                    );
                    if let Some(why) = self.refused(&t).await {
                        let errors = json!([{"path": "", "error": why}]).to_string();
                        let _ = self
                            .db
                            .finish_task(&t.id, &self.me, "failed", &t.progress, &errors, now_ms())
                            .await;
                        continue;
                    }
                    self.launch(t);
                }
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!("cannot claim tasks: {e}");
                    break;
                }
            }
        }
    }

    /// Why a claimed task may no longer run, if it may not (see [`refused`]).
    async fn refused(&self, t: &TaskRow) -> Option<String> {
        refused(&self.db, t).await
    }

    fn render(&self, t: &TaskRow) -> Value {
        let live = self
            .running
            .lock()
            .unwrap()
            .get(&t.id)
            .map(|l| json!(*l.progress.lock().unwrap()));
        let progress = live.unwrap_or_else(|| {
            serde_json::from_str::<Progress>(&t.progress)
                .map(|p| json!(p))
                .unwrap_or(Value::Null)
        });
        json!({
            "id": t.id,
            "kind": t.kind,
            "from": t.shown_from,
            "to": t.shown_to,
            "state": t.state,
            "progress": progress,
            "errors": serde_json::from_str::<Value>(&t.errors).unwrap_or(json!([])),
            "runs": t.runs,
        })
    }

    /// A task of `user`.
    pub async fn get(&self, user: &str, id: &str) -> Result<Option<Value>> {
        Ok(self.db.task(id, Some(user)).await?.map(|t| self.render(&t)))
    }

    /// Every task of `user`, newest first.
    pub async fn list(&self, user: &str) -> Result<Vec<Value>> {
        Ok(self
            .db
            .tasks_of(user)
            .await?
            .iter()
            .map(|t| self.render(t))
            .collect())
    }

    /// Cancels a running task of `user` (files already copied stay), wherever it runs: here at once,
    /// in another process when it next renews its lease. Whether there was such a task.
    pub async fn cancel(&self, user: &str, id: &str) -> Result<bool> {
        let known = self.db.cancel_task(id, user, now_ms()).await?;
        if known && let Some(l) = self.running.lock().unwrap().remove(id) {
            l.abort.abort();
        }
        Ok(known)
    }

    /// Cancels every running task of `user` (a removed user's transfers stop, here at once and in other
    /// processes when they next renew).
    pub async fn cancel_user(&self, user: &str) -> Result<()> {
        for id in self.db.cancel_tasks_of(user, now_ms()).await? {
            if let Some(l) = self.running.lock().unwrap().remove(&id) {
                l.abort.abort();
            }
        }
        Ok(())
    }

    /// Stops every run of this process without touching the database (its leases run out and another
    /// process takes the tasks over): what a process going away does.
    pub fn abandon(&self) {
        for (_, l) in self.running.lock().unwrap().drain() {
            l.abort.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A run whose lease cannot be renewed (the database is gone) stops before the lease runs out, so it
    /// never writes alongside the process that takes the task over.
    #[tokio::test]
    async fn a_run_that_cannot_renew_its_lease_stops() {
        let d = tempfile::tempdir().unwrap();
        let db = Db::open(&format!("sqlite://{}", d.path().join("t.db").display()))
            .await
            .unwrap();
        let tasks = Tasks::new(db.clone(), Arc::new(Tree::new(Duration::from_secs(1))));
        tasks.set_lease(Duration::from_secs(3));
        let run = tokio::spawn(std::future::pending::<()>());
        tasks.running.lock().unwrap().insert(
            "t1".into(),
            Local {
                progress: Default::default(),
                sessions: Default::default(),
                abort: run.abort_handle(),
                renewed: std::time::Instant::now(),
            },
        );
        db.close().await;
        tasks.tend().await;
        assert!(
            tasks.running.lock().unwrap().contains_key("t1"),
            "one failed renewal, early in the lease: it goes on"
        );
        tasks.running.lock().unwrap().get_mut("t1").unwrap().renewed =
            std::time::Instant::now() - Duration::from_secs(2);
        tasks.tend().await;
        assert!(
            tasks.running.lock().unwrap().is_empty(),
            "past half the lease: stopped"
        );
        assert!(run.await.unwrap_err().is_cancelled());
    }

    #[test]
    fn sessions_are_bounded_and_reported() {
        let s = TaskSessions::default();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s2 = seen.clone();
        *s.on_change.lock().unwrap() = Some(Box::new(move |j| s2.lock().unwrap().push(j)));
        s.save("a", "1").unwrap();
        assert_eq!(s.load("a").as_deref(), Some("1"));
        s.remove("a");
        s.remove("a");
        assert_eq!(
            *seen.lock().unwrap(),
            vec![r#"{"a":"1"}"#.to_string(), "{}".to_string()]
        );
        for i in 0..MAX_SESSIONS {
            s.save(&i.to_string(), "x").unwrap();
        }
        assert!(s.save("one more", "x").is_err());
        assert!(s.save("0", "y").is_ok(), "replacing is fine");
        let back = TaskSessions::from_json(&s.to_json());
        assert_eq!(back.load("0").as_deref(), Some("y"));
    }
}
