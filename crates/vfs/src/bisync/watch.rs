//! `bisync --watch`: two-way sync that keeps running, a pass each time something changed.
//!
//! A pass is always a whole [`bisync`] run (both sides listed, compared with the state, the plan
//! applied): what starts one only decides *when*, so nothing a trigger misses is lost, only delayed to the
//! next. The triggers, cheapest first:
//!
//! - **the OS**, for a side on this machine: inotify (through `notify`) on the folder and all below it;
//!   a pass starts once the events stop for [`WatchOptions::settle`] (or [`WatchOptions::settle_max`]
//!   after the first), so a burst of a thousand new files is one pass, or a few, not a thousand;
//! - **a change feed** (Drive's `changes.list`), asked every [`WatchOptions::poll_every`] from a kept
//!   cursor: one request a poll while nothing changed (240 an hour at 15 s); a change counts only if it
//!   is about the synced folder (the id of something in it, or of a folder it is in);
//! - **a full pass** every [`WatchOptions::rescan_every`] for a side with neither (Yandex Disk, Photos, a
//!   local folder reached through a remote): it costs that side's listing, about one request per folder
//!   and page, each time (30 an hour per folder at two minutes);
//! - **a full pass** every [`WatchOptions::check_every`] whatever the triggers said, as a safety net.
//!
//! A pass's own writes show up as changes too (the OS's events, the feed's news), so a pass that changed
//! something is followed by one that finds nothing to do; a change someone makes while a pass runs is
//! never lost that way. A pass that fails is tried again at the next poll. A stop (SIGTERM, Ctrl-C)
//! between passes ends cleanly; during one it abandons the pass as a crash would, which the next run
//! finishes (the state is written only after a pass, and transfers resume).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use cloudmux_core::{Error, ErrorKind, Result};
use tokio::sync::Notify;

use super::run::{Report, Root, RunOptions, bisync};

/// How a watch goes, besides each pass's [`RunOptions`].
#[derive(Debug, Clone)]
pub struct WatchOptions {
    /// The folders on this machine of the sides that are local (`None` for a remote), watched through
    /// the OS.
    pub local: [Option<PathBuf>; 2],
    /// How often a side's change feed is asked for news.
    pub poll_every: Duration,
    /// How often a side with neither OS events nor a change feed is compared in full.
    pub rescan_every: Duration,
    /// How often a full pass runs whatever the triggers said.
    pub check_every: Duration,
    /// The quiet time after a local change before a pass starts.
    pub settle: Duration,
    /// The longest a stream of local changes holds a pass back.
    pub settle_max: Duration,
}

impl Default for WatchOptions {
    fn default() -> Self {
        WatchOptions {
            local: [None, None],
            poll_every: Duration::from_secs(15),
            rescan_every: Duration::from_secs(120),
            check_every: Duration::from_secs(3600),
            settle: Duration::from_secs(2),
            settle_max: Duration::from_secs(20),
        }
    }
}

/// What started a pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Why {
    /// The first pass.
    Start,
    /// Files changed on a side on this machine.
    Local,
    /// A side's change feed reported news about the synced folder.
    Feed,
    /// The periodic comparison of a side without events or a feed.
    Rescan,
    /// The periodic full pass.
    Check,
    /// The pass before failed.
    Retry,
}

impl Why {
    /// A word for status lines and events.
    pub fn as_str(self) -> &'static str {
        match self {
            Why::Start => "start",
            Why::Local => "local change",
            Why::Feed => "remote change",
            Why::Rescan => "rescan",
            Why::Check => "check",
            Why::Retry => "retry",
        }
    }
}

/// What a watch reports.
#[derive(Debug)]
pub enum Event<'a> {
    /// A pass ran (its report may still list steps that failed).
    Pass {
        /// What started it.
        why: Why,
        /// What it did.
        report: &'a Report,
        /// How long it took.
        took: Duration,
    },
    /// A pass could not run (a side unreachable, a safety check refused it); tried again later.
    Failed {
        /// What started it.
        why: Why,
        /// Why not.
        error: &'a Error,
    },
}

/// Local change events counted, and a wake-up for the loop.
#[derive(Default)]
struct Local {
    events: AtomicU64,
    wake: Notify,
}

/// A side's change feed: where it stands.
struct Feed {
    side: usize,
    cursor: String,
}

/// Watches the folder at `dir` and all below it, counting events outside its backup folder (`backup`,
/// relative) into `into`.
fn watch_folder(dir: &Path, backup: &str, into: Arc<Local>) -> Result<notify::RecommendedWatcher> {
    use notify::Watcher;
    let backup = dir.join(backup);
    let mut w = notify::recommended_watcher(move |r: notify::Result<notify::Event>| match r {
        Ok(e) if e.paths.iter().all(|p| p.starts_with(&backup)) && !e.paths.is_empty() => {}
        Ok(e) if matches!(e.kind, notify::EventKind::Access(_)) => {}
        // An error (the kernel's queue overflowed, a watch lost) counts as a change: a pass finds out.
        _ => {
            into.events.fetch_add(1, Ordering::SeqCst);
            into.wake.notify_one();
        }
    })
    .map_err(|e| watch_error(dir, e))?;
    w.watch(dir, notify::RecursiveMode::Recursive)
        .map_err(|e| watch_error(dir, e))?;
    Ok(w)
}

fn watch_error(dir: &Path, e: notify::Error) -> Error {
    Error::new(
        ErrorKind::Io,
        format!("cannot watch {} for changes: {e}", dir.display()),
    )
    .with_hint(
        "on Linux, raise fs.inotify.max_user_watches (sysctl) for a folder with many subfolders",
    )
}

/// Runs passes of `one` and `two` as they change (see the module docs) until `stop` completes, telling
/// `on` about each. The first pass's failure is returned (a pair that needs `--resync`, a lock held, a
/// side missing); later ones are reported and tried again.
pub async fn watch(
    one: Root,
    two: Root,
    run: &RunOptions,
    w: &WatchOptions,
    mut on: impl FnMut(&Event<'_>),
    stop: impl std::future::Future<Output = ()>,
) -> Result<()> {
    tokio::pin!(stop);
    let sides = [&one, &two];
    let local = Arc::new(Local::default());
    let mut watchers = Vec::new();
    for dir in w.local.iter().flatten() {
        watchers.push(watch_folder(dir, &run.backup_dir, local.clone())?);
    }
    // Where the feeds stand before the first pass, so that nothing changed during it is missed.
    let mut feeds = Vec::new();
    let mut rescan = false;
    for (i, s) in sides.iter().enumerate() {
        if w.local[i].is_some() {
            continue;
        }
        match s.0.change_cursor().await? {
            Some(cursor) => feeds.push(Feed { side: i, cursor }),
            None => rescan = true,
        }
    }
    let mut opts = run.clone();
    let mut handled = local.events.load(Ordering::SeqCst);
    let started = Instant::now();
    let mut last = tokio::select! {
        r = bisync(one.clone(), two.clone(), &opts) => r?,
        _ = &mut stop => return Ok(()),
    };
    on(&Event::Pass {
        why: Why::Start,
        report: &last,
        took: started.elapsed(),
    });
    opts.resync = false;
    let now = tokio::time::Instant::now();
    let mut next_poll = now + w.poll_every;
    let mut next_rescan = now + w.rescan_every;
    let mut next_check = now + w.check_every;
    let mut failed = false;
    loop {
        let why = tokio::select! {
            _ = &mut stop => return Ok(()),
            _ = local.wake.notified() => {
                if local.events.load(Ordering::SeqCst) == handled {
                    continue;
                }
                // Settle: wait for the events to stop (or for settle_max).
                let first = Instant::now();
                loop {
                    let seen = local.events.load(Ordering::SeqCst);
                    tokio::select! {
                        _ = &mut stop => return Ok(()),
                        _ = tokio::time::sleep(w.settle) => {}
                    }
                    if local.events.load(Ordering::SeqCst) == seen || first.elapsed() >= w.settle_max {
                        break;
                    }
                }
                Why::Local
            }
            _ = tokio::time::sleep_until(next_poll) => {
                next_poll = tokio::time::Instant::now() + w.poll_every;
                let mut news = false;
                for f in &mut feeds {
                    news |= poll(sides[f.side], f, &last.known[f.side]).await;
                }
                if news {
                    Why::Feed
                } else if failed {
                    Why::Retry
                } else {
                    continue;
                }
            }
            _ = tokio::time::sleep_until(next_rescan), if rescan => {
                next_rescan = tokio::time::Instant::now() + w.rescan_every;
                Why::Rescan
            }
            _ = tokio::time::sleep_until(next_check) => {
                next_check = tokio::time::Instant::now() + w.check_every;
                Why::Check
            }
        };
        handled = local.events.load(Ordering::SeqCst);
        let started = Instant::now();
        let r = tokio::select! {
            r = bisync(one.clone(), two.clone(), &opts) => r,
            _ = &mut stop => return Ok(()),
        };
        match r {
            Ok(report) => {
                failed = !report.errors.is_empty();
                last = report;
                on(&Event::Pass {
                    why,
                    report: &last,
                    took: started.elapsed(),
                });
            }
            Err(error) => {
                failed = true;
                on(&Event::Failed { why, error: &error });
            }
        }
    }
}

/// Takes in a side's change feed; whether any news is about the synced folder (`known`: the ids of it
/// and of all in it, empty when the side has none, then any news counts). A cursor the service forgot
/// is started over, and counts as news (what changed meanwhile is unknown).
async fn poll(side: &Root, f: &mut Feed, known: &std::collections::HashSet<String>) -> bool {
    let mut news = false;
    loop {
        match side.0.changes_since(&f.cursor).await {
            Ok(page) => {
                news |= page.changes.iter().any(|c| {
                    known.is_empty()
                        || known.contains(&c.id)
                        || c.parents.iter().any(|p| known.contains(p))
                });
                f.cursor = page.cursor;
                if !page.more {
                    return news;
                }
            }
            Err(e) if matches!(e.kind(), ErrorKind::InvalidInput | ErrorKind::NotFound) => {
                tracing::warn!("the change feed forgot where it was ({e}); comparing in full");
                if let Ok(Some(c)) = side.0.change_cursor().await {
                    f.cursor = c;
                }
                return true;
            }
            Err(e) => {
                tracing::warn!("asking the change feed: {e}");
                return news;
            }
        }
    }
}
