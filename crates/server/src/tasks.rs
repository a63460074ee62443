//! Background transfers (copies and moves between remotes) run by the transfer engine, with progress, listed
//! per user and cancellable. A user runs at most [`MAX_RUNNING`] at once; finished ones are kept
//! [`KEEP_FINISHED`] for the user to read, at most [`MAX_FINISHED`] of them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use cloudmux_vfs::{Event, Mode, Options};
use serde_json::{Value, json};

use crate::mount::Tree;

#[derive(Debug, Clone, Default, serde::Serialize)]
struct Progress {
    files_planned: usize,
    files_done: usize,
    files_failed: usize,
    bytes_planned: u64,
    bytes_done: u64,
}

/// Tasks one user may run at once.
pub const MAX_RUNNING: usize = 8;
/// How long a finished task stays listed.
pub const KEEP_FINISHED: std::time::Duration = std::time::Duration::from_secs(3600);
/// Finished tasks kept per user.
pub const MAX_FINISHED: usize = 50;
/// Failures a task keeps (the first ones).
const MAX_ERRORS: usize = 100;

struct Task {
    user: String,
    info: Value,
    state: &'static str,
    /// When it ended (running: none).
    ended: Option<std::time::Instant>,
    progress: Arc<Mutex<Progress>>,
    errors: Vec<(String, String)>,
    abort: Option<tokio::task::AbortHandle>,
}

/// The tasks of every user.
#[derive(Default)]
pub struct Tasks {
    all: Arc<Mutex<HashMap<String, Task>>>,
}

impl std::fmt::Debug for Tasks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tasks").finish_non_exhaustive()
    }
}

impl Tasks {
    /// Starts `mode` from tree path `from` to tree path `to` for `user`; returns the task id. `shown` are
    /// the paths as the user gave them. The listings the task changes are dropped from the tree's cache
    /// when it ends.
    pub fn start(
        &self,
        user: &str,
        mode: Mode,
        shown: (String, String),
        tree: Arc<Tree>,
        from: String,
        to: String,
    ) -> cloudmux_core::Result<String> {
        self.prune(user)?;
        let (src, src_path) = tree.locate(&from)?;
        let (dst, dst_path) = tree.locate_writable(&to)?;
        let src = (src.storage.clone(), src_path);
        let dst = (dst.storage.clone(), dst_path);
        let id = cloudmux_auth::oauth::random_token(12);
        let progress = Arc::new(Mutex::new(Progress::default()));
        let p2 = progress.clone();
        let on = move |ev: Event| {
            let mut p = p2.lock().unwrap();
            match ev {
                Event::Planned { files, bytes } => {
                    p.files_planned = files;
                    p.bytes_planned = bytes;
                }
                Event::Bytes { n, .. } => p.bytes_done += n,
                Event::Copied(_) => p.files_done += 1,
                Event::Failed(..) => p.files_failed += 1,
                Event::Started { .. } | Event::Deleted(_) => {}
            }
        };
        let all = self.all.clone();
        let id2 = id.clone();
        self.all.lock().unwrap().insert(
            id.clone(),
            Task {
                user: user.to_string(),
                info: json!({
                    "id": id,
                    "kind": if mode == Mode::Move { "move" } else { "copy" },
                    "from": shown.0,
                    "to": shown.1,
                }),
                state: "running",
                ended: None,
                progress,
                errors: Vec::new(),
                abort: None,
            },
        );
        let handle = tokio::spawn(async move {
            let r = cloudmux_vfs::run(mode, src, dst, &Options::default(), on).await;
            tree.invalidate(&to);
            tree.invalidate(crate::mount::parent_of(&to));
            if mode == Mode::Move {
                tree.invalidate(&from);
                tree.invalidate(crate::mount::parent_of(&from));
            }
            let mut all = all.lock().unwrap();
            if let Some(t) = all.get_mut(&id2) {
                t.ended = Some(std::time::Instant::now());
                match r {
                    Ok(stats) if stats.errors.is_empty() => t.state = "done",
                    Ok(mut stats) => {
                        t.state = "failed";
                        stats.errors.truncate(MAX_ERRORS);
                        t.errors = stats.errors;
                    }
                    Err(e) => {
                        t.state = "failed";
                        t.errors = vec![(String::new(), e.to_string())];
                    }
                }
            }
        });
        if let Some(t) = self.all.lock().unwrap().get_mut(&id) {
            t.abort = Some(handle.abort_handle());
        }
        Ok(id)
    }

    /// Forgets finished tasks past their time or number, and refuses a new one for `user` when they run
    /// [`MAX_RUNNING`] already.
    fn prune(&self, user: &str) -> cloudmux_core::Result<()> {
        let mut all = self.all.lock().unwrap();
        all.retain(|_, t| t.ended.is_none_or(|e| e.elapsed() < KEEP_FINISHED));
        let mut finished: Vec<(std::time::Instant, String)> = all
            .iter()
            .filter(|(_, t)| t.user == user)
            .filter_map(|(id, t)| t.ended.map(|e| (e, id.clone())))
            .collect();
        if finished.len() >= MAX_FINISHED {
            finished.sort();
            for (_, id) in &finished[..=finished.len() - MAX_FINISHED] {
                all.remove(id);
            }
        }
        let running = all
            .values()
            .filter(|t| t.user == user && t.state == "running")
            .count();
        if running >= MAX_RUNNING {
            return Err(cloudmux_core::Error::new(
                cloudmux_core::ErrorKind::RateLimited,
                format!("{user} runs {running} transfers already"),
            )
            .with_hint("wait for one to finish, or cancel one (DELETE /api/tasks/ID)"));
        }
        Ok(())
    }

    fn render(t: &Task) -> Value {
        let mut v = t.info.clone();
        v["state"] = json!(t.state);
        v["progress"] = json!(*t.progress.lock().unwrap());
        v["errors"] = json!(
            t.errors
                .iter()
                .map(|(p, e)| json!({"path": p, "error": e}))
                .collect::<Vec<_>>()
        );
        v
    }

    /// A task of `user`.
    pub fn get(&self, user: &str, id: &str) -> Option<Value> {
        let all = self.all.lock().unwrap();
        all.get(id).filter(|t| t.user == user).map(Self::render)
    }

    /// Every task of `user`.
    pub fn list(&self, user: &str) -> Vec<Value> {
        let all = self.all.lock().unwrap();
        all.values()
            .filter(|t| t.user == user)
            .map(Self::render)
            .collect()
    }

    /// Cancels a running task of `user` (files already copied stay); whether there was one.
    pub fn cancel(&self, user: &str, id: &str) -> bool {
        let mut all = self.all.lock().unwrap();
        match all.get_mut(id).filter(|t| t.user == user) {
            Some(t) => {
                if t.state == "running" {
                    if let Some(a) = &t.abort {
                        a.abort();
                    }
                    t.state = "cancelled";
                    t.ended = Some(std::time::Instant::now());
                }
                true
            }
            None => false,
        }
    }
}
