//! `cloudmux bisync PATH1 PATH2`: a two-way sync of two folders on any remotes (the rules are
//! `cloudmux_vfs::bisync`'s), its state kept beside the config, one file per pair.

use clap::Args;
use cloudmux_remote::config::Config;
use std::time::Duration;

use cloudmux_vfs::bisync::watch::Event;
use cloudmux_vfs::bisync::{Action, RunOptions, Side, Winner};
use sha2::Digest;

use crate::cmd_files::source_identity;
use crate::cmd_mount::seconds;
use crate::open::locate;
use crate::out::Out;

/// `bisync`.
#[derive(Args, Debug)]
pub struct Bisync {
    /// One side: REMOTE:path or a local folder.
    pub path1: String,
    /// The other side.
    pub path2: String,
    /// Start over from the two sides as they are (the first run needs it): nothing is deleted, files only
    /// one side holds are copied, and where the sides hold different versions both are kept.
    #[arg(long)]
    pub resync: bool,
    /// Who keeps the name when both sides changed a file: newer, larger, path1 or path2. The other
    /// version is kept beside it on both sides as STEM.conflict-pathN-TIME.EXT.
    #[arg(long, default_value = "newer", value_parser = ["newer", "larger", "path1", "path2"])]
    pub conflict_winner: String,
    /// Refuse, before any change, a run that would delete more than this percentage of either side's
    /// files (a side that is not there looks like a mass deletion).
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(0..=100))]
    pub max_delete: u32,
    /// Refuse a run unless `.cloudmux-bisync-check` is at the top of both sides.
    #[arg(long)]
    pub check_access: bool,
    /// Print the plan, change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Where a side without a trash (a local folder) keeps what a run deleted or replaced there: a folder
    /// under the top of that side, one subfolder per run; never synced.
    #[arg(long, default_value = cloudmux_vfs::bisync::BACKUP_DIR)]
    pub backup_dir: String,
    /// Files transferred at once.
    #[arg(long, default_value_t = 4)]
    pub transfers: usize,
    /// Folders listed at once.
    #[arg(long, default_value_t = 8)]
    pub checkers: usize,
    /// Keep running: a pass whenever a side changes (a local folder through the OS, Drive through its
    /// change feed, other remotes by comparing them every --rescan-every), until SIGTERM or Ctrl-C. A
    /// line per pass (a JSON object per line with --json).
    #[arg(long)]
    pub watch: bool,
    /// With --watch: seconds between questions to a change feed (one request each while nothing changed).
    #[arg(long, default_value_t = 15.0, value_parser = seconds, requires = "watch")]
    pub poll_every: f64,
    /// With --watch: seconds between full comparisons of a remote without a change feed (Yandex Disk,
    /// Photos): each costs a listing of it, about a request per folder.
    #[arg(long, default_value_t = 120.0, value_parser = seconds, requires = "watch")]
    pub rescan_every: f64,
    /// With --watch: seconds between full passes, whatever changed (a safety net).
    #[arg(long, default_value_t = 3600.0, value_parser = seconds, requires = "watch")]
    pub check_every: f64,
    /// With --watch: seconds without local changes before a pass starts (a burst is one pass).
    #[arg(long, default_value_t = 2.0, value_parser = seconds, requires = "watch")]
    pub settle: f64,
}

/// Runs `bisync`.
pub async fn run(cfg: &Config, out: Out, b: Bisync) -> anyhow::Result<()> {
    let one = locate(cfg, &b.path1).await?;
    let two = locate(cfg, &b.path2).await?;
    let (id1, id2) = (source_identity(&one), source_identity(&two));
    // One state per pair, named so a person can tell which.
    let digest = hex::encode(&sha2::Sha256::digest(format!("{id1}\n{id2}").as_bytes())[..8]);
    let readable: String = format!("{id1}--{id2}")
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .take(80)
        .collect();
    let state = cfg
        .dir()
        .join("state")
        .join("bisync")
        .join(format!("{readable}-{digest}.json"));
    let winner = match b.conflict_winner.as_str() {
        "larger" => Winner::Larger,
        "path1" => Winner::Path1,
        "path2" => Winner::Path2,
        _ => Winner::Newer,
    };
    // Large uploads keep their sessions, so a run cut short resumes them instead of starting over.
    let engine = cloudmux_vfs::Options {
        transfers: b.transfers.max(1),
        checkers: b.checkers.max(1),
        resume: Some(cloudmux_vfs::ResumeScope {
            store: std::sync::Arc::new(cloudmux_core::DirSessions::new(cfg.upload_state_dir())),
            source: format!("bisync {id1} {id2}"),
        }),
        ..Default::default()
    };
    let o = RunOptions {
        state: state.into(),
        resync: b.resync,
        winner,
        max_delete: b.max_delete,
        check_access: b.check_access,
        dry_run: b.dry_run,
        backup_dir: cloudmux_vfs::bisync::backup_dir(&b.backup_dir)?,
        engine,
    };
    if b.watch {
        if b.dry_run {
            anyhow::bail!(
                cloudmux_core::Error::invalid("--watch changes things; --dry-run does not")
                    .with_hint("run a --dry-run alone to see a plan")
            );
        }
        let local_dir = |l: &crate::open::Loc| l.local_root.as_ref().map(|r| r.join(&l.path));
        let w = cloudmux_vfs::bisync::WatchOptions {
            local: [local_dir(&one), local_dir(&two)],
            poll_every: Duration::from_secs_f64(b.poll_every.max(1.0)),
            rescan_every: Duration::from_secs_f64(b.rescan_every.max(1.0)),
            check_every: Duration::from_secs_f64(b.check_every.max(1.0)),
            settle: Duration::from_secs_f64(b.settle.max(0.1)),
            settle_max: Duration::from_secs_f64((b.settle * 10.0).clamp(1.0, 60.0)),
        };
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        let stop = async move {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        };
        out.note(format!(
            "watching {} and {} (Ctrl-C or SIGTERM stops)",
            b.path1, b.path2
        ));
        cloudmux_vfs::bisync::watch(
            (one.storage.clone(), one.path.clone()),
            (two.storage.clone(), two.path.clone()),
            &o,
            &w,
            |e| event(out, e),
            stop,
        )
        .await
        .map_err(|e| e.context(format!("bisync --watch {} {}", b.path1, b.path2)))?;
        out.note("stopped");
        return Ok(());
    }
    let report = cloudmux_vfs::bisync::bisync(
        (one.storage.clone(), one.path.clone()),
        (two.storage.clone(), two.path.clone()),
        &o,
    )
    .await
    .map_err(|e| e.context(format!("bisync {} {}", b.path1, b.path2)))?;
    let lines = steps(&report.plan.actions);
    if out.json {
        out.json(&serde_json::json!({
            "dry_run": b.dry_run,
            "actions": lines,
            "conflicts": report.plan.conflicts,
            "errors": report.errors.iter().map(|(a, e)| format!("{a}: {e}")).collect::<Vec<_>>(),
        }));
    } else {
        for l in &lines {
            out.line(if b.dry_run {
                format!("would {l}")
            } else {
                l.clone()
            });
        }
        if lines.is_empty() {
            out.note("nothing to do: both sides agree");
        }
        for (a, e) in &report.errors {
            out.note(format!("failed: {a}: {e}"));
        }
    }
    if !report.errors.is_empty() {
        anyhow::bail!(
            "{} of {} steps failed; the next run tries them again",
            report.errors.len(),
            lines.len()
        );
    }
    Ok(())
}

/// A plan's steps in words.
fn steps(actions: &[Action]) -> Vec<String> {
    let name = |s: Side| if s == Side::One { "path1" } else { "path2" };
    actions
        .iter()
        .map(|a| match a {
            Action::KeepAside { on, path, to } => {
                format!("conflict {path}: {}'s version kept as {to}", name(*on))
            }
            Action::Mkdir { on, path } => format!("mkdir {} {path}", name(*on)),
            Action::Move { on, from, to } => format!("move {} {from} -> {to}", name(*on)),
            Action::Copy { from, path } => {
                format!("copy {path} {} -> {}", name(*from), name(from.other()))
            }
            Action::Delete { on, path } => format!("delete {} {path}", name(*on)),
            Action::Rmdir { on, path } => format!("rmdir {} {path}", name(*on)),
        })
        .collect()
}

/// A watch's pass as a status line, or one JSON object on a line with --json.
fn event(out: Out, e: &Event<'_>) {
    let time = chrono::Local::now().format("%H:%M:%S");
    match e {
        Event::Pass { why, report, took } => {
            let count =
                |f: fn(&Action) -> bool| report.plan.actions.iter().filter(|a| f(a)).count();
            let copies = count(|a| matches!(a, Action::Copy { .. }));
            let deletes = count(|a| matches!(a, Action::Delete { .. } | Action::Rmdir { .. }));
            let moves = count(|a| matches!(a, Action::Move { .. }));
            if out.json {
                let v = serde_json::json!({
                    "event": "pass",
                    "why": why.as_str(),
                    "seconds": took.as_secs_f64(),
                    "actions": steps(&report.plan.actions),
                    "conflicts": report.plan.conflicts,
                    "errors": report.errors.iter().map(|(a, e)| format!("{a}: {e}")).collect::<Vec<_>>(),
                });
                out.line(v.to_string());
            } else {
                out.line(format!(
                    "{time} {}: {copies} copied, {moves} moved, {deletes} deleted, {} conflicts, {} failed ({:.1} s)",
                    why.as_str(),
                    report.plan.conflicts.len(),
                    report.errors.len(),
                    took.as_secs_f64()
                ));
                for (a, e) in &report.errors {
                    out.note(format!("failed: {a}: {e}"));
                }
            }
        }
        Event::Failed { why, error } => {
            if out.json {
                let v = serde_json::json!({
                    "event": "failed",
                    "why": why.as_str(),
                    "error": error.to_string(),
                });
                out.line(v.to_string());
            } else {
                out.line(format!(
                    "{time} {}: the pass failed: {error}; trying again later",
                    why.as_str()
                ));
            }
        }
    }
}
