//! File commands on any remote: ls, lsjson, tree, stat, cat, get, put, mkdir, rm, rmdir, mv, cp, link, about.

use std::sync::Arc;

use clap::Args;
use cloudmux_core::path::{file_name, join};
use cloudmux_core::{ByteRange, DeleteMode, Entry, Error, ErrorKind, Result, Storage, list_all};
use futures_util::StreamExt;
use serde_json::json;
use tokio::io::AsyncWriteExt;

use crate::config::Config;
use crate::open::{Loc, locate, with_remote};
use crate::out::{JsonArray, Out, ls_line};

/// One address.
#[derive(Args, Debug)]
pub struct PathArg {
    /// REMOTE:path, REMOTE:id:ID or a local path.
    pub path: String,
}

/// A remote name.
#[derive(Args, Debug)]
pub struct RemoteArg {
    /// Remote name (with or without the trailing colon).
    pub remote: String,
}

/// `lsjson`.
#[derive(Args, Debug)]
pub struct LsJson {
    /// Folder to list.
    pub path: String,
    /// Recurse into subfolders.
    #[arg(short = 'R', long)]
    pub recursive: bool,
}

/// `cat`.
#[derive(Args, Debug)]
pub struct Cat {
    /// File to print.
    pub path: String,
    /// First byte.
    #[arg(long, default_value_t = 0)]
    pub offset: u64,
    /// How many bytes (default: to the end).
    #[arg(long)]
    pub count: Option<u64>,
}

/// Two addresses.
#[derive(Args, Debug)]
pub struct Transfer {
    /// Source.
    pub src: String,
    /// Destination (a folder, ending in `/` or existing, receives the file under its own name).
    pub dst: String,
    #[command(flatten)]
    pub tree: TreeOpts,
}

/// Options of folder transfers (`cp`/`mv` of a folder, `sync`, `check`).
#[derive(Args, Debug, Clone)]
pub struct TreeOpts {
    /// Only files matching this glob (repeatable; `*` stops at `/`, `**` does not).
    #[arg(long)]
    pub include: Vec<String>,
    /// Never files matching this glob (repeatable).
    #[arg(long)]
    pub exclude: Vec<String>,
    /// Only files of at least this many bytes.
    #[arg(long)]
    pub min_size: Option<u64>,
    /// Only files of at most this many bytes.
    #[arg(long)]
    pub max_size: Option<u64>,
    /// Only files modified within this age (30m, 12h, 7d, 2w).
    #[arg(long)]
    pub max_age: Option<String>,
    /// Print the plan, change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Compare files by hash (size alone when the two sides share no hash).
    #[arg(long)]
    pub checksum: bool,
    /// Compare files by size only.
    #[arg(long)]
    pub size_only: bool,
    /// Files transferred at once.
    #[arg(long, default_value_t = 4)]
    pub transfers: usize,
    /// Folders listed at once.
    #[arg(long, default_value_t = 8)]
    pub checkers: usize,
}

impl TreeOpts {
    fn options(&self) -> Result<cloudmux_vfs::Options> {
        Ok(cloudmux_vfs::Options {
            filter: cloudmux_vfs::Filter {
                include: self.include.clone(),
                exclude: self.exclude.clone(),
                min_size: self.min_size,
                max_size: self.max_size,
                max_age: self
                    .max_age
                    .as_deref()
                    .map(cloudmux_vfs::parse_age)
                    .transpose()?,
            },
            dry_run: self.dry_run,
            checksum: self.checksum,
            size_only: self.size_only,
            transfers: self.transfers,
            checkers: self.checkers,
            ..cloudmux_vfs::Options::default()
        })
    }
}

/// Locates SRC and DST and runs a folder transfer between them (`sync`, `check`); non-zero exit when
/// anything failed or (check) the trees differ.
pub async fn tree_transfer_addrs(
    cfg: &Config,
    out: Out,
    mode: cloudmux_vfs::Mode,
    t: &Transfer,
) -> anyhow::Result<()> {
    let s = locate(cfg, &t.src).await?;
    let d = locate(cfg, &t.dst).await?;
    tree_transfer(out, mode, &s, &d, &t.tree, &cfg.upload_state_dir()).await
}

/// Runs a folder transfer between located addresses and reports it.
async fn tree_transfer(
    out: Out,
    mode: cloudmux_vfs::Mode,
    s: &Loc,
    d: &Loc,
    t: &TreeOpts,
    state_dir: &std::path::Path,
) -> anyhow::Result<()> {
    let mut opts = t.options()?;
    opts.resume = Some(cloudmux_vfs::ResumeScope {
        store: Arc::new(cloudmux_core::DirSessions::new(state_dir)),
        source: source_identity(s),
    });
    let bars = crate::out::TransferBars::new(
        &out,
        match mode {
            cloudmux_vfs::Mode::Check => "checking",
            _ => "transferring",
        },
    );
    let b2 = bars.clone();
    let stats = cloudmux_vfs::run(
        mode,
        (s.storage.clone(), s.path.clone()),
        (d.storage.clone(), d.path.clone()),
        &opts,
        move |ev| b2.event(ev),
    )
    .await
    .map_err(|e| ctx(e, s))?;
    bars.finish();
    if out.json {
        out.json(&serde_json::to_value(&stats)?);
    } else if mode == cloudmux_vfs::Mode::Check {
        for (label, list) in [
            ("missing", &stats.missing),
            ("extra", &stats.extra),
            ("differs", &stats.differ),
        ] {
            for p in list {
                out.line(format!("{label}: {p}"));
            }
        }
        out.line(format!(
            "{} unchanged, {} missing, {} extra, {} differ",
            stats.unchanged,
            stats.missing.len(),
            stats.extra.len(),
            stats.differ.len()
        ));
    } else if opts.dry_run {
        for p in &stats.planned {
            out.line(format!("would {p}"));
        }
    } else {
        out.line(format!(
            "{} copied ({} bytes), {} unchanged, {} deleted, {} folders created, {} failed",
            stats.copied,
            stats.bytes,
            stats.unchanged,
            stats.deleted,
            stats.dirs_created,
            stats.errors.len()
        ));
    }
    for (p, e) in &stats.errors {
        eprintln!("failed: {p}: {e}");
    }
    if !stats.errors.is_empty() {
        // Failures of one kind (every upload stopped by Drive's daily limit, say) exit with its code.
        let kind = stats.failure_kind().unwrap_or(ErrorKind::Other);
        let mut e = Error::new(
            kind,
            format!("{} of the transfers failed", stats.errors.len()),
        );
        if kind == ErrorKind::UploadLimit {
            e = e.with_hint(cloudmux_http::google::UPLOAD_LIMIT_HINT);
        }
        return Err(e.into());
    }
    if mode == cloudmux_vfs::Mode::Check
        && (stats.missing.len() + stats.extra.len() + stats.differ.len()) > 0
    {
        return Err(Error::new(ErrorKind::Conflict, "the two trees differ").into());
    }
    Ok(())
}

async fn is_dir(loc: &Loc) -> bool {
    loc.id.is_none() && loc.storage.stat(&loc.path).await.is_ok_and(|e| e.is_dir)
}

/// `rm`.
#[derive(Args, Debug)]
pub struct Rm {
    /// What to delete (folders with everything in them).
    pub path: String,
    /// Delete for good instead of moving to the trash.
    #[arg(long)]
    pub permanent: bool,
}

fn ctx(e: Error, loc: &Loc) -> Error {
    let e = e.context(&loc.shown);
    match &loc.remote {
        Some(r) => with_remote(e, r),
        None => e,
    }
}

async fn stat_loc(loc: &Loc) -> Result<Entry> {
    match &loc.id {
        Some(id) => loc.storage.stat_id(id).await,
        None => loc.storage.stat(&loc.path).await,
    }
    .map_err(|e| ctx(e, loc))
}

fn entry_json(e: &Entry) -> serde_json::Value {
    serde_json::to_value(e).unwrap_or_default()
}

/// `ls`.
pub async fn ls(cfg: &Config, out: Out, addr: &str) -> anyhow::Result<()> {
    let loc = locate(cfg, addr).await?;
    let s = loc.storage.clone();
    let mut pages = s.list(&loc.path);
    let mut arr = if out.json {
        Some(JsonArray::start()?)
    } else {
        None
    };
    while let Some(p) = pages.next().await {
        for e in &p.map_err(|e| ctx(e, &loc))? {
            match &mut arr {
                Some(a) => a.push(e)?,
                None => out.line(ls_line(e)),
            }
        }
    }
    if let Some(a) = arr {
        a.finish()?;
    }
    Ok(())
}

/// `lsjson`: a folder streamed page by page; with `-R` its tree a level at a time, many folders at once
/// (and, on Drive, up to 50 in one request), each group printed as it comes.
pub async fn lsjson(cfg: &Config, _out: Out, a: LsJson) -> anyhow::Result<()> {
    let loc = locate(cfg, &a.path).await?;
    let s = loc.storage.clone();
    let mut arr = JsonArray::start()?;
    if !a.recursive {
        let mut pages = s.list(&loc.path);
        while let Some(p) = pages.next().await {
            for e in p.map_err(|e| ctx(e, &loc))? {
                arr.push(&e)?;
            }
        }
        arr.finish()?;
        return Ok(());
    }
    let mut level = vec![loc.path.clone()];
    while !level.is_empty() {
        // Two folders of one name (Drive allows them) are listed once, their contents merged.
        level.sort_unstable();
        level.dedup();
        let mut groups = cloudmux_core::list_folders(&*s, std::mem::take(&mut level), LIST_AT_ONCE);
        while let Some(group) = groups.next().await {
            for (_, entries) in group.map_err(|e| ctx(e, &loc))? {
                for e in entries {
                    if e.is_dir {
                        level.push(e.path.clone());
                    }
                    arr.push(&e)?;
                }
            }
        }
    }
    arr.finish()?;
    Ok(())
}

/// Folders `lsjson -R` lists at once (rclone's `--checkers` default).
const LIST_AT_ONCE: usize = 8;

/// `tree`.
pub async fn tree(cfg: &Config, out: Out, addr: &str) -> anyhow::Result<()> {
    let loc = locate(cfg, addr).await?;
    let s = loc.storage.clone();
    let (mut dirs, mut files) = (0, 0);
    out.line(if loc.path.is_empty() {
        addr.to_string()
    } else {
        loc.path.clone()
    });
    let sorted = |mut v: Vec<Entry>| {
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    };
    // Depth first: a frame per open folder (its entries, the next index, the line prefix).
    let mut stack = vec![(
        sorted(list_all(&*s, &loc.path).await.map_err(|e| ctx(e, &loc))?),
        0usize,
        String::new(),
    )];
    while let Some((entries, i, prefix)) = stack.last_mut() {
        if *i >= entries.len() {
            stack.pop();
            continue;
        }
        let e = entries[*i].clone();
        *i += 1;
        let last = *i == entries.len();
        out.line(format!(
            "{prefix}{}{}{}",
            if last { "└── " } else { "├── " },
            e.name,
            if e.is_dir { "/" } else { "" }
        ));
        if e.is_dir {
            dirs += 1;
            let child_prefix = format!("{prefix}{}", if last { "    " } else { "│   " });
            let children = sorted(list_all(&*s, &e.path).await.map_err(|err| ctx(err, &loc))?);
            stack.push((children, 0, child_prefix));
        } else {
            files += 1;
        }
    }
    out.line(format!("\n{dirs} folders, {files} files"));
    Ok(())
}

/// `stat`.
pub async fn stat(cfg: &Config, out: Out, addr: &str) -> anyhow::Result<()> {
    let loc = locate(cfg, addr).await?;
    let e = stat_loc(&loc).await?;
    if out.json {
        out.json(&entry_json(&e));
    } else {
        out.line(format!("name:     {}", e.name));
        out.line(format!("path:     {}", e.path));
        out.line(format!(
            "type:     {}",
            if e.is_dir { "folder" } else { "file" }
        ));
        if let Some(s) = e.size {
            out.line(format!("size:     {s}"));
        }
        if let Some(m) = e.modified {
            out.line(format!("modified: {}", m.to_rfc3339()));
        }
        if let Some(m) = &e.mime {
            out.line(format!("mime:     {m}"));
        }
        if let Some(i) = &e.id {
            out.line(format!("id:       {i}"));
        }
        for (k, v) in [
            ("md5", &e.hashes.md5),
            ("sha1", &e.hashes.sha1),
            ("sha256", &e.hashes.sha256),
        ] {
            if let Some(v) = v {
                out.line(format!("{k}:{}{v}", " ".repeat(10 - k.len() - 1)));
            }
        }
    }
    Ok(())
}

async fn open_read(loc: &Loc, range: ByteRange) -> Result<cloudmux_core::ByteStream> {
    match &loc.id {
        Some(id) => loc.storage.read_id(id, range).await,
        None => loc.storage.read(&loc.path, range).await,
    }
    .map_err(|e| ctx(e, loc))
}

/// `cat`.
pub async fn cat(cfg: &Config, c: Cat) -> anyhow::Result<()> {
    let loc = locate(cfg, &c.path).await?;
    let mut s = open_read(&loc, ByteRange::new(c.offset, c.count)).await?;
    let mut o = tokio::io::stdout();
    while let Some(b) = s.next().await {
        o.write_all(&b.map_err(|e| ctx(e, &loc))?).await?;
    }
    o.flush().await?;
    Ok(())
}

/// Where a copy of `name` lands given destination `dst`: inside it when it is a folder (existing, the root,
/// or written with a trailing `/`).
async fn dest_path(s: &dyn Storage, dst: &Loc, name: &str) -> Result<String> {
    if dst.path.is_empty() || dst.shown.ends_with('/') {
        return Ok(join(&dst.path, name));
    }
    match s.stat(&dst.path).await {
        Ok(e) if e.is_dir => Ok(join(&dst.path, name)),
        _ => Ok(dst.path.clone()),
    }
}

/// Names a source for resumable-upload sessions: the remote and path (or id), or the absolute local path.
pub(crate) fn source_identity(l: &Loc) -> String {
    match (&l.remote, &l.id, &l.local_root) {
        (Some(r), Some(id), _) => format!("{r}:id:{id}"),
        (Some(r), None, _) => format!("{r}:{}", l.path),
        (None, _, Some(root)) => {
            let p = root.join(&l.path);
            std::fs::canonicalize(&p).unwrap_or(p).display().to_string()
        }
        (None, _, None) => l.shown.clone(),
    }
}

fn same_remote(a: &Loc, b: &Loc) -> bool {
    a.remote.is_some() && a.remote == b.remote
}

/// Copies one file from `src` to `dst` through the transfer engine ([`cloudmux_vfs::copy_file`]:
/// server-side within one remote, otherwise streamed, resumable, retried and verified), with a progress bar.
async fn copy_file(
    out: Out,
    src: &Loc,
    dst: &Loc,
    state_dir: &std::path::Path,
) -> Result<(Entry, Entry)> {
    let se = stat_loc(src).await?;
    if se.is_dir {
        return Err(Error::invalid(format!("{} is a folder", src.shown))
            .with_hint("cp and mv copy folders whole; put and get take files"));
    }
    let to = dest_path(&*dst.storage, dst, &se.name).await?;
    let from = match &src.id {
        Some(id) => cloudmux_vfs::Source::Id(id.clone()),
        None => cloudmux_vfs::Source::Path(src.path.clone()),
    };
    let opts = cloudmux_vfs::Options {
        resume: Some(cloudmux_vfs::ResumeScope {
            store: Arc::new(cloudmux_core::DirSessions::new(state_dir)),
            source: source_identity(src),
        }),
        ..cloudmux_vfs::Options::default()
    };
    let pb = out.bar(se.size, file_name(&to));
    let bar = pb.clone();
    let (se, e) =
        cloudmux_vfs::copy_file(&src.storage, &from, &dst.storage, &to, &opts, move |ev| {
            if let cloudmux_vfs::Event::Bytes { n, .. } = ev {
                bar.inc(n);
            }
        })
        .await
        .map_err(|e| ctx(e, dst))?;
    pb.finish_and_clear();
    Ok((se, e))
}

fn report_transfer(out: Out, verb: &str, src: &Loc, dst: &Loc, e: &Entry) {
    if out.json {
        out.json(
            &json!({"action": verb, "from": src.shown, "to": dst.shown, "entry": entry_json(e)}),
        );
    } else {
        out.line(format!(
            "{verb} {} -> {} ({} bytes)",
            src.shown,
            e.path,
            e.size.unwrap_or(0)
        ));
    }
}

/// `get`.
pub async fn get(cfg: &Config, out: Out, t: Transfer) -> anyhow::Result<()> {
    let src = locate(cfg, &t.src).await?;
    let dst = locate(cfg, &t.dst).await?;
    if dst.remote.is_some() {
        return Err(
            Error::invalid("get downloads to the local disk; use cp between remotes").into(),
        );
    }
    let (_, e) = copy_file(out, &src, &dst, &cfg.upload_state_dir()).await?;
    report_transfer(out, "downloaded", &src, &dst, &e);
    Ok(())
}

/// `put`.
pub async fn put(cfg: &Config, out: Out, t: Transfer) -> anyhow::Result<()> {
    let src = locate(cfg, &t.src).await?;
    if src.remote.is_some() {
        return Err(
            Error::invalid("put uploads from the local disk; use cp between remotes").into(),
        );
    }
    let dst = locate(cfg, &t.dst).await?;
    let (_, e) = copy_file(out, &src, &dst, &cfg.upload_state_dir()).await?;
    report_transfer(out, "uploaded", &src, &dst, &e);
    Ok(())
}

/// `cp`.
pub async fn cp(cfg: &Config, out: Out, t: Transfer) -> anyhow::Result<()> {
    let src = locate(cfg, &t.src).await?;
    let dst = locate(cfg, &t.dst).await?;
    if is_dir(&src).await {
        return tree_transfer(
            out,
            cloudmux_vfs::Mode::Copy,
            &src,
            &dst,
            &t.tree,
            &cfg.upload_state_dir(),
        )
        .await;
    }
    let (_, e) = copy_file(out, &src, &dst, &cfg.upload_state_dir()).await?;
    report_transfer(out, "copied", &src, &dst, &e);
    Ok(())
}

/// `mv`.
pub async fn mv(cfg: &Config, out: Out, t: Transfer) -> anyhow::Result<()> {
    let src = locate(cfg, &t.src).await?;
    let dst = locate(cfg, &t.dst).await?;
    if is_dir(&src).await && !same_remote(&src, &dst) {
        return tree_transfer(
            out,
            cloudmux_vfs::Mode::Move,
            &src,
            &dst,
            &t.tree,
            &cfg.upload_state_dir(),
        )
        .await;
    }
    if src.id.is_some() {
        return Err(Error::invalid("mv takes a path, not an id")
            .with_hint("copy by id (cp REMOTE:id:ID DEST), then delete with rm REMOTE:id:ID")
            .into());
    }
    let name = file_name(&src.path).to_string();
    let to = dest_path(&*dst.storage, &dst, &name).await?;
    let pb = out.bar(None, &name);
    let bar = pb.clone();
    let (_, e) = cloudmux_vfs::move_file(
        &src.storage,
        &src.path,
        &dst.storage,
        &to,
        &cloudmux_vfs::Options::default(),
        move |ev| {
            if let cloudmux_vfs::Event::Bytes { n, .. } = ev {
                bar.inc(n);
            }
        },
    )
    .await
    .map_err(|e| ctx(e, &dst))?;
    pb.finish_and_clear();
    report_transfer(out, "moved", &src, &dst, &e);
    Ok(())
}

/// `mkdir`.
pub async fn mkdir(cfg: &Config, out: Out, addr: &str) -> anyhow::Result<()> {
    let loc = locate(cfg, addr).await?;
    let path = if loc.remote.is_none() && loc.path.is_empty() {
        return Ok(());
    } else {
        loc.path.clone()
    };
    let e = loc.storage.mkdir(&path).await.map_err(|e| ctx(e, &loc))?;
    if out.json {
        out.json(&entry_json(&e));
    }
    Ok(())
}

/// `rm`.
pub async fn rm(cfg: &Config, out: Out, r: Rm) -> anyhow::Result<()> {
    let loc = locate(cfg, &r.path).await?;
    let mode = if r.permanent {
        DeleteMode::Permanent
    } else {
        DeleteMode::Trash
    };
    match &loc.id {
        Some(id) => loc.storage.delete_id(id, mode).await,
        None => loc.storage.delete(&loc.path, mode).await,
    }
    .map_err(|e| ctx(e, &loc))?;
    if out.json {
        out.json(&json!({"deleted": r.path, "permanent": r.permanent}));
    } else {
        out.note(format!(
            "{} {}",
            if r.permanent {
                "deleted"
            } else {
                "moved to the trash:"
            },
            r.path
        ));
    }
    Ok(())
}

/// `rmdir`.
pub async fn rmdir(cfg: &Config, _out: Out, addr: &str) -> anyhow::Result<()> {
    let loc = locate(cfg, addr).await?;
    loc.storage
        .rmdir(&loc.path)
        .await
        .map_err(|e| ctx(e, &loc))?;
    Ok(())
}

/// `link`.
pub async fn link(cfg: &Config, out: Out, addr: &str) -> anyhow::Result<()> {
    let loc = locate(cfg, addr).await?;
    let url = match &loc.id {
        Some(id) => loc.storage.public_link_id(id).await,
        None => loc.storage.public_link(&loc.path).await,
    }
    .map_err(|e| ctx(e, &loc))?;
    if out.json {
        out.json(&json!({"path": addr, "link": url}));
    } else {
        out.line(url);
    }
    Ok(())
}

/// `about`.
pub async fn about(cfg: &Config, out: Out, remote: &str) -> anyhow::Result<()> {
    let name = remote.trim_end_matches(':');
    let loc = locate(cfg, &format!("{name}:")).await?;
    let a = loc.storage.about().await.map_err(|e| ctx(e, &loc))?;
    if out.json {
        out.json(&serde_json::to_value(&a)?);
    } else {
        let gib = |b: Option<u64>| {
            b.map(|b| format!("{:.2} GiB", b as f64 / (1u64 << 30) as f64))
                .unwrap_or_else(|| "unlimited".into())
        };
        if let Some(u) = &a.user {
            out.line(format!("user:    {u}"));
        }
        out.line(format!("total:   {}", gib(a.total)));
        out.line(format!("used:    {}", gib(a.used)));
        if a.trashed.is_some() {
            out.line(format!("trashed: {}", gib(a.trashed)));
        }
        out.line(format!("free:    {}", gib(a.free)));
    }
    Ok(())
}
