//! `cloudmux mount` (a remote as a local folder, through FUSE) and `cloudmux unmount`.

use std::path::PathBuf;
use std::time::Duration;

use cloudmux_core::{Error, Result};

use crate::config::Config;

/// `cloudmux mount REMOTE:[PATH] MOUNTPOINT`.
#[derive(clap::Args, Debug)]
pub struct Mount {
    /// What to mount: `REMOTE:` or `REMOTE:folder` (or a local folder).
    pub remote: String,
    /// An empty folder to show it in.
    pub mountpoint: PathBuf,
    /// Refuse every change (the mount is read-only for everyone).
    #[arg(long)]
    pub read_only: bool,
    /// Let other users than the one mounting see the files (needs `user_allow_other` in
    /// /etc/fuse.conf unless run as root).
    #[arg(long)]
    pub allow_other: bool,
    /// Mount over a folder that is not empty (what is in it is hidden while mounted).
    #[arg(long)]
    pub allow_non_empty: bool,
    /// The owner shown for every file (default: the user mounting).
    #[arg(long)]
    pub uid: Option<u32>,
    /// The group shown for every file (default: the user's group).
    #[arg(long)]
    pub gid: Option<u32>,
    /// Permission bits taken away, in octal (`022`: folders 755, files 644).
    #[arg(long, default_value = "022", value_parser = octal)]
    pub umask: u32,
    /// Seconds a folder listing is kept before the remote is asked again (changes made through the
    /// mount show at once).
    #[arg(long, default_value_t = 10)]
    pub dir_cache_time: u64,
    /// Seconds between two askings of the service's change feed (Google Drive's `changes.list`: one
    /// request when nothing changed). While it answers, listings are kept until it says they changed,
    /// across remounts too; 0 turns it off. Services without a feed (Yandex Disk, Photos, local) list a
    /// folder again after --dir-cache-time instead.
    #[arg(long, default_value_t = 60.0, value_parser = seconds)]
    pub poll_interval: f64,
    /// Where files being written wait for their upload (default: ~/.cache/cloudmux/mount/REMOTE). What
    /// waits there survives a crash: the next mount over the same folder uploads it.
    #[arg(long)]
    pub cache_dir: Option<PathBuf>,
    /// Seconds after its close a file is uploaded (a file written again meanwhile goes up once); 0
    /// uploads at the close, which then waits for the upload and reports its failure [default: 5; 0
    /// with --cache-mode off].
    #[arg(long, value_parser = seconds)]
    pub write_back: Option<f64>,
    /// `writes` (the default): files being written are kept in the cache folder and uploaded
    /// --write-back after their close, surviving a crash; reads stream from the service (one download
    /// per open file, restarted where a seek lands). `full`: what is read is kept there too, in sparse
    /// files kept across restarts, so a file read again (or a part of it) costs nothing. `off`: nothing
    /// waits in the cache folder — a file being written is spooled there only while it is open and
    /// uploaded at its close, which waits for the upload and reports its failure (--write-back is 0).
    #[arg(long, default_value = "writes", value_parser = ["off", "writes", "full"])]
    pub cache_mode: String,
    /// The most the read cache of `--cache-mode full` holds (bytes, or with K, M, G or T); least
    /// recently used files that are not open go first.
    #[arg(long, default_value = "10G", value_parser = size)]
    pub cache_max_size: u64,
    /// The free space the read cache of `--cache-mode full` leaves on its disk (bytes, or with K, M, G
    /// or T): below it, files that are not open are dropped, least recently used first.
    #[arg(long, default_value = "1G", value_parser = size)]
    pub cache_min_free: u64,
    /// The formats Google Docs files are shown as on a Drive mount, by extension: each file takes the
    /// first its kind exports to (documents docx, odt, rtf, pdf, txt, md, html, epub; spreadsheets xlsx,
    /// ods, csv, tsv, pdf; presentations pptx, odp, pdf, txt; drawings svg, png, jpg, pdf). They are
    /// read-only; a kind none fits is left out.
    #[arg(long, default_value = cloudmux_mount::docs::DEFAULT_FORMATS, value_parser = export_formats)]
    pub export_formats: ExportFormats,
    /// Run in the background once mounted (its log goes to mount.log in the cache folder); stop it with
    /// `cloudmux unmount MOUNTPOINT`.
    #[arg(long)]
    pub daemon: bool,
}

/// The extensions of `--export-formats`, checked.
#[derive(Debug, Clone)]
pub struct ExportFormats(Vec<String>);

fn export_formats(s: &str) -> std::result::Result<ExportFormats, String> {
    cloudmux_mount::docs::parse_formats(s).map(ExportFormats)
}

fn size(s: &str) -> std::result::Result<u64, String> {
    let t = s.trim();
    let (num, mult) = match t.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let m = match c.to_ascii_uppercase() {
                'K' => 1u64 << 10,
                'M' => 1 << 20,
                'G' => 1 << 30,
                'T' => 1 << 40,
                _ => 0,
            };
            (&t[..i], m)
        }
        _ => (t, 1),
    };
    num.parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(mult))
        .filter(|_| mult > 0)
        .ok_or_else(|| format!("{s:?} is not a size: bytes, or a number with K, M, G or T"))
}

/// A number of seconds from 0 to a day (a clap value parser).
pub(crate) fn seconds(s: &str) -> std::result::Result<f64, String> {
    s.parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && (0.0..=86_400.0).contains(v))
        .ok_or_else(|| format!("{s:?} is not a number of seconds from 0 to 86400"))
}

/// `cloudmux unmount MOUNTPOINT`.
#[derive(clap::Args, Debug)]
pub struct Unmount {
    /// Where a `cloudmux mount` shows its remote.
    pub mountpoint: PathBuf,
}

fn octal(s: &str) -> std::result::Result<u32, String> {
    u32::from_str_radix(s, 8)
        .ok()
        .filter(|m| *m <= 0o777)
        .ok_or_else(|| format!("{s:?} is not a umask: give octal digits, e.g. 022 or 077"))
}

fn default_cache_dir(remote: &str) -> PathBuf {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| ".".into())).join(".cache")
        });
    let safe: String = remote
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    base.join("cloudmux").join("mount").join(safe)
}

/// Starts this same command without `--daemon` in a process group of its own, its output going to
/// `log`, and returns once it has mounted (or says why it could not).
async fn detach(m: &Mount, log: PathBuf) -> Result<()> {
    use std::os::unix::process::CommandExt;
    if let Some(dir) = log.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)?;
    let args: Vec<std::ffi::OsString> = std::env::args_os()
        .skip(1)
        .filter(|a| a != "--daemon")
        .collect();
    let mut child = std::process::Command::new(std::env::current_exe()?)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out)
        .process_group(0)
        .spawn()?;
    let t0 = std::time::Instant::now();
    loop {
        if is_mounted(&m.mountpoint) {
            eprintln!(
                "{} mounted at {} in the background (pid {}; log {}); stop it with `cloudmux unmount {}`",
                m.remote,
                m.mountpoint.display(),
                child.id(),
                log.display(),
                m.mountpoint.display()
            );
            return Ok(());
        }
        if let Some(status) = child.try_wait()? {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            let last: Vec<&str> = text.lines().rev().take(5).collect();
            let last: Vec<&str> = last.into_iter().rev().collect();
            return Err(Error::invalid(format!(
                "the background mount ended ({status}): {}",
                last.join(" / ")
            ))
            .with_hint(format!("see {}", log.display())));
        }
        if t0.elapsed() > Duration::from_secs(60) {
            return Err(Error::new(
                cloudmux_core::ErrorKind::Transient,
                format!("{} did not mount within a minute", m.remote),
            )
            .with_hint(format!("see {}", log.display())));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Whether something is mounted at `at` (by /proc/self/mounts).
fn is_mounted(at: &std::path::Path) -> bool {
    let Ok(at) = std::fs::canonicalize(at) else {
        return false;
    };
    let Ok(mounts) = std::fs::read_to_string("/proc/self/mounts") else {
        return false;
    };
    // Spaces and the like are written as octal escapes there.
    let want = at
        .to_string_lossy()
        .replace('\\', "\\134")
        .replace(' ', "\\040")
        .replace('\t', "\\011")
        .replace('\n', "\\012");
    mounts
        .lines()
        .any(|l| l.split(' ').nth(1) == Some(want.as_str()))
}

/// Mounts and serves until SIGINT, SIGTERM or an unmount.
pub async fn mount(cfg: &Config, m: Mount) -> Result<()> {
    let loc = crate::open::locate(cfg, &m.remote).await?;
    if loc.id.is_some() {
        return Err(
            Error::invalid("an id cannot be mounted").with_hint("mount a path: REMOTE:folder")
        );
    }
    let top = loc.storage.stat(&loc.path).await?;
    if !top.is_dir {
        return Err(
            Error::invalid(format!("{} is a file, not a folder", m.remote))
                .with_hint("mount the folder it is in"),
        );
    }
    let write_back = match (m.cache_mode.as_str(), m.write_back) {
        ("off", Some(s)) if s > 0.0 => {
            return Err(Error::invalid(
                "--cache-mode off uploads a file at its close: it has no --write-back",
            )
            .with_hint("use --cache-mode writes (the default) to upload later"));
        }
        ("off", _) => Duration::ZERO,
        (_, s) => Duration::from_secs_f64(s.unwrap_or(5.0)),
    };
    let name = loc.remote.clone().unwrap_or_else(|| "local".into());
    let cache_dir = m
        .cache_dir
        .clone()
        .unwrap_or_else(|| default_cache_dir(&name));
    if m.daemon {
        return detach(&m, cache_dir.join("mount.log")).await;
    }
    // The process's own directory belongs to its user and group.
    let (uid, gid) = {
        use std::os::unix::fs::MetadataExt;
        let me = std::fs::metadata("/proc/self")?;
        (me.uid(), me.gid())
    };
    let opts = cloudmux_mount::Options {
        read_only: m.read_only,
        uid: m.uid.unwrap_or(uid),
        gid: m.gid.unwrap_or(gid),
        umask: m.umask,
        dir_ttl: Duration::from_secs(m.dir_cache_time),
        cache_dir,
        write_back,
        read_cache: (m.cache_mode == "full").then_some(m.cache_max_size),
        cache_min_free: m.cache_min_free,
        poll_interval: Duration::from_secs_f64(m.poll_interval),
        export_formats: m.export_formats.0.clone(),
    };
    let fs = cloudmux_mount::CloudFs::new(
        loc.storage.clone(),
        &loc.path,
        tokio::runtime::Handle::current(),
        opts,
    )
    .map_err(|e| Error::from(e).context("the mount's cache folder"))?;
    fs.follow_changes().await;
    let fsname = format!("cloudmux:{}", m.remote);
    let session =
        cloudmux_mount::mount(fs, &m.mountpoint, m.allow_other, m.allow_non_empty, &fsname)
            .map_err(|e| {
                let hint = if e.kind() == std::io::ErrorKind::AlreadyExists {
                    "use an empty folder, or --allow-non-empty"
                } else {
                    "FUSE needs /dev/fuse and fusermount3 (Debian: apt-get install fuse3)"
                };
                Error::invalid(format!("cannot mount {}: {e}", m.remote)).with_hint(hint)
            })?;
    eprintln!(
        "{} mounted at {} (stop with Ctrl-C or `cloudmux unmount {}`)",
        m.remote,
        m.mountpoint.display(),
        m.mountpoint.display()
    );
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            _ = term.recv() => break,
            _ = tokio::time::sleep(Duration::from_millis(300)) => {
                if session.guard.is_finished() {
                    // Unmounted from outside (`cloudmux unmount`, `fusermount3 -u`).
                    return Ok(());
                }
            }
        }
    }
    let mountpoint = m.mountpoint.clone();
    tokio::task::spawn_blocking(move || session.umount_and_join())
        .await
        .map_err(|e| Error::new(cloudmux_core::ErrorKind::Other, e.to_string()))?
        .map_err(|e| Error::from(e).context(format!("unmounting {}", mountpoint.display())))?;
    eprintln!("{} unmounted", m.mountpoint.display());
    Ok(())
}

/// Unmounts a `cloudmux mount`.
pub fn unmount(u: Unmount) -> Result<()> {
    cloudmux_mount::unmount(&u.mountpoint).map_err(|e| {
        Error::invalid(e.to_string()).with_hint("is it mounted? see `mount | grep cloudmux`")
    })
}
