//! Running a two-way sync: the lock, the listings, the safety checks, the plan applied through the
//! engine, and the state written back.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures_util::StreamExt;

use chrono::Utc;
use cloudmux_core::path::{join, parent};
use cloudmux_core::{DeleteMode, Error, ErrorKind, Result, Storage};

use super::{Action, Plan, Rec, Side, State, Tree, Winner, plan, same_content};
use crate::engine::{Options, Source, copy_listed, walk};

/// The folder, under a side's root, where a side without a trash keeps what a run deleted or replaced
/// there (one folder per run, named by its time) unless [`RunOptions::backup_dir`] names another; never
/// synced.
pub const BACKUP_DIR: &str = ".cloudmux-bisync-trash";
/// The marker file `--check-access` wants on both sides before it changes anything.
pub const CHECK_FILE: &str = ".cloudmux-bisync-check";

/// A side: its storage and the folder synced.
pub type Root = (Arc<dyn Storage>, String);

/// Where a pair's state (the last listing both sides agreed on) is kept.
#[derive(Debug, Clone)]
pub enum StateAt {
    /// A file, written whole or not at all, readable by its owner alone; a lock beside it keeps two runs
    /// of the pair (in any process) apart.
    File(PathBuf),
    /// Held by the caller (the server keeps it in its database), who keeps runs of the pair apart; a run
    /// replaces it when it ends, `None` until a first run.
    Held(Arc<std::sync::Mutex<Option<State>>>),
}

impl From<PathBuf> for StateAt {
    fn from(p: PathBuf) -> Self {
        StateAt::File(p)
    }
}

impl StateAt {
    fn read(&self) -> Result<Option<State>> {
        match self {
            StateAt::File(p) => read_state(p),
            StateAt::Held(h) => Ok(h.lock().unwrap_or_else(|p| p.into_inner()).clone()),
        }
    }

    fn write(&self, state: &State) -> Result<()> {
        match self {
            StateAt::File(p) => write_state(p, state),
            StateAt::Held(h) => {
                *h.lock().unwrap_or_else(|p| p.into_inner()) = Some(state.clone());
                Ok(())
            }
        }
    }

    fn shown(&self) -> String {
        match self {
            StateAt::File(p) => format!("{} has no state", p.display()),
            StateAt::Held(_) => "no state is kept for it".into(),
        }
    }
}

/// How a run goes.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Where the pair's state is kept.
    pub state: StateAt,
    /// Start over from the two sides as they are (needed the first time): nothing is deleted, files only
    /// one side holds are copied, different versions of one path are both kept.
    pub resync: bool,
    /// Who keeps the name in a conflict.
    pub winner: Winner,
    /// Refuse the run, before any change, when it would delete more than this share (percent) of the
    /// files of either side.
    pub max_delete: u32,
    /// Refuse the run unless [`CHECK_FILE`] is on both sides (a side that failed to mount or sign in
    /// looks empty, and an empty side looks like everything was deleted).
    pub check_access: bool,
    /// Plan only.
    pub dry_run: bool,
    /// The folder under each side's root where a side without a trash keeps what a run deleted or
    /// replaced ([`BACKUP_DIR`] by default; see [`backup_dir`] for the check of one from outside).
    pub backup_dir: String,
    /// How files are copied.
    pub engine: Options,
}

/// What a run did.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// The plan (carried out unless it was a dry run).
    pub plan: Plan,
    /// Steps that failed, with why; their paths are tried again by the next run.
    pub errors: Vec<(String, String)>,
    /// The service's ids of each side's folder and of everything in it as the run left them (empty for a
    /// side without ids): what a change feed's news is about ([`super::watch()`]).
    pub known: [HashSet<String>; 2],
}

/// The lock of a pair: a file holding the pid and start time of the run that holds it.
struct Lock(PathBuf);

impl Lock {
    fn take(state: &Path) -> Result<Lock> {
        let path = state.with_extension("lock");
        if let Some(dir) = path.parent() {
            // The owner's alone, as the state files in it (their names carry the pair's paths).
            use std::os::unix::fs::DirBuilderExt;
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)?;
        }
        let me = format!("{} {}\n", std::process::id(), Utc::now().to_rfc3339());
        for _ in 0..2 {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(mut f) => {
                    std::io::Write::write_all(&mut f, me.as_bytes())?;
                    return Ok(Lock(path));
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let held = std::fs::read_to_string(&path).unwrap_or_default();
                    let pid: Option<i32> =
                        held.split_whitespace().next().and_then(|p| p.parse().ok());
                    if pid.is_some_and(alive) {
                        return Err(Error::new(
                            ErrorKind::Conflict,
                            format!(
                                "another bisync of this pair is running (pid {}, since {})",
                                pid.unwrap_or_default(),
                                held.split_whitespace().nth(1).unwrap_or("?")
                            ),
                        )
                        .with_hint("wait for it to end; runs of one pair never overlap"));
                    }
                    // Its process is gone (a crash): the lock is stale.
                    tracing::warn!("taking over a stale lock ({})", held.trim());
                    let _ = std::fs::remove_file(&path);
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(Error::new(
            ErrorKind::Conflict,
            "the pair's lock keeps coming back",
        ))
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Whether process `pid` exists (where `/proc` tells; elsewhere a lock is taken as held).
fn alive(pid: i32) -> bool {
    if !Path::new("/proc/self").exists() {
        return true;
    }
    pid > 0 && Path::new(&format!("/proc/{pid}")).exists()
}

fn read_state(path: &Path) -> Result<Option<State>> {
    match std::fs::read(path) {
        Ok(b) => serde_json::from_slice(&b).map(Some).map_err(|e| {
            Error::new(ErrorKind::Corrupt, format!("{}: {e}", path.display()))
                .with_hint("run again with --resync to start over from the two sides as they are")
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Writes `state` to `path` whole or not at all (a temporary file renamed over it), readable by the
/// owner alone.
fn write_state(path: &Path, state: &State) -> Result<()> {
    let body = serde_json::to_vec(state).map_err(|e| Error::new(ErrorKind::Io, e.to_string()))?;
    cloudmux_core::fs::write_private(path, &body)
}

/// A relative folder path for [`RunOptions::backup_dir`], normalised; refused when empty or when it climbs
/// out of the side (`..`).
pub fn backup_dir(s: &str) -> Result<String> {
    let p = cloudmux_core::path::normalize(s)?;
    if p.is_empty() || p.split('/').any(|seg| seg == "..") {
        return Err(
            Error::invalid(format!("--backup-dir {s:?}: not a folder inside the side"))
                .with_hint("name a folder under the top of each side, e.g. .cloudmux-bisync-trash"),
        );
    }
    Ok(p)
}

/// A side's tree without the folders its deletions go to (`backup`, and [`BACKUP_DIR`]), and the ids of its
/// folder and all in it.
async fn listing(side: &Root, checkers: usize, backup: &str) -> Result<(Tree, HashSet<String>)> {
    let (top, mut tree) = walk(&side.0, &side.1, checkers).await?;
    let top_id = match top {
        Some(e) if e.is_dir => e.id,
        Some(_) => {
            return Err(
                Error::invalid(format!("{}: is a file", side.1)).with_hint("bisync two folders")
            );
        }
        None => {
            return Err(
                Error::not_found(&side.1).with_hint("make the folder first (cloudmux mkdir)")
            );
        }
    };
    // The default folder stays out too, should a pair change its backup folder.
    for dir in [backup, BACKUP_DIR] {
        let below = format!("{dir}/");
        tree.retain(|p, _| p != dir && !p.starts_with(&below));
    }
    let ids = top_id
        .into_iter()
        .chain(tree.values().filter_map(|e| e.id.clone()))
        .collect();
    Ok((tree, ids))
}

/// Gives the files of `tree` that came without a hash (a local folder's) their MD5, so that comparing
/// them with the other side, and with their own record, does not rest on size and time alone: taken from
/// `known` (an earlier record of the path) while the size and time are still the very same, otherwise
/// read and hashed (`checkers` at once).
async fn hash_missing(
    side: &Root,
    tree: &mut Tree,
    known: impl Fn(&str) -> Option<Rec>,
    checkers: usize,
) -> Result<()> {
    let mut todo = Vec::new();
    for (p, e) in tree.iter_mut() {
        if e.is_dir || e.size.is_none() || e.hashes.md5.is_some() || e.hashes.sha256.is_some() {
            continue;
        }
        match known(p) {
            Some(r) if r.md5.is_some() && r.size == e.size && r.modified == e.modified => {
                e.hashes.md5 = r.md5;
            }
            _ => todo.push(p.clone()),
        }
    }
    let mut todo = todo.into_iter();
    let mut inflight = futures_util::stream::FuturesUnordered::new();
    loop {
        while inflight.len() < checkers.max(1) {
            let Some(p) = todo.next() else { break };
            inflight.push(md5_of(side, p));
        }
        let Some(r) = inflight.next().await else {
            break;
        };
        match r {
            Ok((p, md5)) => {
                if let Some(e) = tree.get_mut(&p) {
                    e.hashes.md5 = Some(md5);
                }
            }
            // Gone or changed while listed: the next pass sees it as it is then.
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// The MD5 of the file at `p` under a side's folder, read through the storage.
async fn md5_of(side: &Root, p: String) -> Result<(String, String)> {
    let mut s = side.0.read(&join(&side.1, &p), Default::default()).await?;
    let mut h = <md5::Md5 as md5::Digest>::new();
    while let Some(chunk) = s.next().await {
        md5::Digest::update(&mut h, &chunk?);
    }
    Ok((p, hex::encode(md5::Digest::finalize(h))))
}

/// The state after a run: paths both sides now hold alike; a path they still disagree on (a step failed)
/// keeps its old record, so the next run sees the same change again.
fn next_state(old: &State, one: &Tree, two: &Tree) -> State {
    let mut next = State::default();
    for (p, a) in one {
        let Some(b) = two.get(p) else { continue };
        let (a, b) = (Rec::of(a), Rec::of(b));
        if same_content(&a, &b) {
            next.paths.insert(p.clone(), (a, b));
        } else if let Some(recs) = old.paths.get(p) {
            next.paths.insert(p.clone(), recs.clone());
        }
    }
    for (p, recs) in &old.paths {
        if !next.paths.contains_key(p) && (one.contains_key(p) != two.contains_key(p)) {
            next.paths.insert(p.clone(), recs.clone());
        }
    }
    next
}

/// One two-way sync of `one` and `two`.
pub async fn bisync(one: Root, two: Root, o: &RunOptions) -> Result<Report> {
    let _lock = match &o.state {
        StateAt::File(p) => Some(Lock::take(p)?),
        StateAt::Held(_) => None,
    };
    let state = match (o.state.read()?, o.resync) {
        (_, true) => State::default(),
        (Some(s), false) => s,
        (None, false) => {
            return Err(Error::invalid(format!(
                "no earlier run of this pair ({})",
                o.state.shown()
            ))
            .with_hint("the first run needs --resync: it copies what only one side holds and keeps both versions where they differ"));
        }
    };
    let ((mut t1, k1), (mut t2, k2)) = tokio::try_join!(
        listing(&one, o.engine.checkers, &o.backup_dir),
        listing(&two, o.engine.checkers, &o.backup_dir)
    )?;
    let recorded = |side: Side| {
        let state = &state;
        move |p: &str| {
            state.paths.get(p).map(|(a, b)| {
                if side == Side::One {
                    a.clone()
                } else {
                    b.clone()
                }
            })
        }
    };
    tokio::try_join!(
        hash_missing(&one, &mut t1, recorded(Side::One), o.engine.checkers),
        hash_missing(&two, &mut t2, recorded(Side::Two), o.engine.checkers)
    )?;
    if o.check_access {
        for (side, t) in [(&one, &t1), (&two, &t2)] {
            if !t.contains_key(CHECK_FILE) {
                return Err(Error::invalid(format!(
                    "{}: {CHECK_FILE} is missing, so nothing was changed",
                    side.1
                ))
                .with_hint(format!(
                    "put an empty {CHECK_FILE} at the top of both sides (--check-access wants it)"
                )));
            }
        }
    }
    let now = Utc::now();
    let p = plan(&state, &t1, &t2, o.winner, now);
    for (side, t, name) in [(Side::One, &t1, &one.1), (Side::Two, &t2, &two.1)] {
        let files = t.values().filter(|e| !e.is_dir).count().max(1);
        let gone = p.deletes_on(side);
        if gone > 0 && gone * 100 > files * o.max_delete as usize {
            return Err(Error::invalid(format!(
                "the run would delete {gone} of the {files} files of {name}, over --max-delete {}%; nothing was changed",
                o.max_delete
            ))
            .with_hint("check that side (a sign-in or mount gone wrong looks like a mass deletion); if it is meant, raise --max-delete"));
        }
    }
    let mut report = Report {
        plan: p.clone(),
        errors: Vec::new(),
        known: [k1, k2],
    };
    if o.dry_run {
        return Ok(report);
    }
    if p.actions.is_empty() {
        let next = next_state(&state, &t1, &t2);
        if o.resync || state != next {
            o.state.write(&next)?;
        }
        return Ok(report);
    }
    let sides = [&one, &two];
    let listed = [&t1, &t2];
    let stamp = now.format("%Y%m%dT%H%M%SZ").to_string();
    let stamp = stamp.as_str();
    // Moves and folders in the plan's order (a folder before what goes in it), then copies and deletions
    // (each of its own path) `transfers` at once, then emptied folders deepest first.
    let parallel = |a: &Action| matches!(a, Action::Copy { .. } | Action::Delete { .. });
    let first = p
        .actions
        .iter()
        .position(parallel)
        .unwrap_or(p.actions.len());
    let end = first
        + p.actions[first..]
            .iter()
            .take_while(|a| parallel(a))
            .count();
    let mut failed = Vec::new();
    for a in &p.actions[..first] {
        if let Err(e) = step(a, sides, listed, stamp, o).await {
            failed.push((a, e));
        }
    }
    // Fed by hand rather than through `buffer_unordered` and a closure: the compiler could not then see
    // the future as Send for every lifetime, and the server spawns it.
    let mut todo = p.actions[first..end].iter();
    let mut inflight = futures_util::stream::FuturesUnordered::new();
    loop {
        while inflight.len() < o.engine.transfers.max(1) {
            let Some(a) = todo.next() else { break };
            inflight.push(async move { (a, step(a, sides, listed, stamp, o).await) });
        }
        let Some((a, r)) = inflight.next().await else {
            break;
        };
        if let Err(e) = r {
            failed.push((a, e));
        }
    }
    for a in &p.actions[end..] {
        if let Err(e) = step(a, sides, listed, stamp, o).await {
            failed.push((a, e));
        }
    }
    for (a, e) in failed {
        tracing::warn!("{a:?}: {e}");
        report.errors.push((format!("{a:?}"), e.to_string()));
    }
    let ((mut n1, k1), (mut n2, k2)) = tokio::try_join!(
        listing(&one, o.engine.checkers, &o.backup_dir),
        listing(&two, o.engine.checkers, &o.backup_dir)
    )?;
    // Hashes from the listing the plan saw, while a file's size and time are unchanged (borrowed: a
    // copy of each tree would double a large pair's memory) — except where this run copied onto the
    // side: the copy takes the source's time, so a file of the same size copied over one with the same
    // time would keep the hash of what it replaced, and every later run would copy it again.
    let written = |side: Side| -> HashSet<&str> {
        p.actions
            .iter()
            .filter_map(|a| match a {
                Action::Copy { from, path } if from.other() == side => Some(path.as_str()),
                _ => None,
            })
            .collect()
    };
    let (w1, w2) = (written(Side::One), written(Side::Two));
    let (seen1, seen2) = (&t1, &t2);
    tokio::try_join!(
        hash_missing(
            &one,
            &mut n1,
            |p: &str| seen1.get(p).filter(|_| !w1.contains(p)).map(Rec::of),
            o.engine.checkers
        ),
        hash_missing(
            &two,
            &mut n2,
            |p: &str| seen2.get(p).filter(|_| !w2.contains(p)).map(Rec::of),
            o.engine.checkers
        )
    )?;
    o.state.write(&next_state(&state, &n1, &n2))?;
    report.known = [k1, k2];
    Ok(report)
}

/// The side's storage and folder.
fn at(sides: [&Root; 2], s: Side) -> &Root {
    if s == Side::One { sides[0] } else { sides[1] }
}

/// Carries out one step; `listed` are the sides as the plan saw them.
async fn step(
    a: &Action,
    sides: [&Root; 2],
    listed: [&Tree; 2],
    stamp: &str,
    o: &RunOptions,
) -> Result<()> {
    match a {
        Action::KeepAside { on, path, to } | Action::Move { on, from: path, to } => {
            let (s, root) = at(sides, *on);
            s.rename(&join(root, path), &join(root, to)).await.map(drop)
        }
        Action::Mkdir { on, path } => {
            let (s, root) = at(sides, *on);
            match s.mkdir(&join(root, path)).await {
                Err(e) if e.kind() != ErrorKind::AlreadyExists => Err(e),
                _ => Ok(()),
            }
        }
        Action::Copy { from, path } => {
            let (src, sroot) = at(sides, *from);
            let (dst, droot) = at(sides, from.other());
            let to = join(droot, path);
            // What the copy replaces goes where deletions go.
            if dst.stat(&to).await.is_ok_and(|e| !e.is_dir) {
                remove(dst, droot, path, stamp, &o.backup_dir).await?;
            }
            let full = join(sroot, path);
            // As listed (by id where the side has ids: no lookup of the path), else asked for now.
            let (from, se) = match listed[if *from == Side::One { 0 } else { 1 }].get(path) {
                Some(e) => {
                    let by = match &e.id {
                        Some(id) if src.capabilities().ids => Source::Id(id.clone()),
                        _ => Source::Path(full),
                    };
                    (by, e.clone())
                }
                None => {
                    let e = src.stat(&full).await?;
                    (Source::Path(full), e)
                }
            };
            copy_listed(src, &from, se, dst, &to, &o.engine, |_| {})
                .await
                .map(drop)
        }
        Action::Delete { on, path } => {
            let (s, root) = at(sides, *on);
            remove(s, root, path, stamp, &o.backup_dir).await
        }
        Action::Rmdir { on, path } => {
            let (s, root) = at(sides, *on);
            s.rmdir(&join(root, path)).await
        }
    }
}

/// Deletes `path` of a side: to its trash, or (without one) into `backup/STAMP/` on that side.
async fn remove(
    s: &Arc<dyn Storage>,
    root: &str,
    path: &str,
    stamp: &str,
    backup: &str,
) -> Result<()> {
    let full = join(root, path);
    if s.capabilities().trash {
        return s.delete(&full, DeleteMode::Trash).await;
    }
    let kept = join(root, &format!("{backup}/{stamp}/{path}"));
    let mut dir = parent(&kept).to_string();
    let mut missing = Vec::new();
    while !dir.is_empty() && dir != root && s.stat(&dir).await.is_err() {
        missing.push(dir.clone());
        dir = parent(&dir).to_string();
    }
    for d in missing.into_iter().rev() {
        match s.mkdir(&d).await {
            Err(e) if e.kind() != ErrorKind::AlreadyExists => return Err(e),
            _ => {}
        }
    }
    s.rename(&full, &kept).await.map(drop)
}
