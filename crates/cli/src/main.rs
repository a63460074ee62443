//! `cloudmux`: the command line of cloudmux. It parses, calls the libraries and renders; the work lives in the
//! library crates. Every failure exits with the code of its error kind (see `cloudmux --help`).

mod cmd_auth;
mod cmd_bisync;
mod cmd_emulate;
mod cmd_files;
mod cmd_gdrive;
mod cmd_gphotos;
mod cmd_mount;
mod cmd_serve;
mod cmd_yadisk;
mod config;
mod open;
mod out;

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use cloudmux_core::{Error, ErrorKind};

use crate::config::Config;
use crate::out::Out;

const EXIT_CODES: &str = "EXIT CODES:
  0 ok · 1 other · 2 invalid input · 3 not found · 4 already exists · 5 permission denied
  6 scope missing · 7 API disabled · 8 sign-in needed · 9 rate limited · 10 quota exceeded
  11 conflict · 12 unsupported · 13 transient (network) · 14 local I/O · 15 corrupt data

ADDRESSES:
  REMOTE:path/to/file   a file or folder in a configured remote
  REMOTE:id:FILEID      a file by id, on remotes with ids (Drive, Photos): works even when names repeat
  ./file, /abs/path     the local disk";

/// cloudmux: Google Drive, Google Photos, Yandex Disk and the local disk from the command line — files,
/// copies and syncs between any two, each service's own commands — plus `serve` (every remote in one tree:
/// JSON API, WebDAV, a web page) and `emulate` (local emulators of the services and their OAuth servers).
#[derive(Parser, Debug)]
#[command(name = "cloudmux", version, after_help = EXIT_CODES, arg_required_else_help = true)]
struct Cli {
    /// Config file (default: $XDG_CONFIG_HOME/cloudmux/config.toml; env CLOUDMUX_CONFIG).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Print machine-readable JSON instead of text.
    #[arg(long, global = true)]
    json: bool,
    /// Never show progress bars.
    #[arg(long, global = true)]
    no_progress: bool,
    /// Attempts per request (the first included) for temporary failures: 5xx, 429, rate limits, resets.
    #[arg(long, global = true, default_value_t = 9, value_name = "N")]
    retries: usize,
    /// Seconds a connection may stay silent before the request counts as failed (and is retried).
    #[arg(long, global = true, default_value_t = 120, value_name = "SECS")]
    timeout: u64,
    /// More logging (-v info, -vv debug). Secrets are always redacted.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Add, list, show and remove remotes.
    #[command(subcommand)]
    Remote(RemoteCmd),
    /// Sign in, check sign-in state, sign out; and the raw OAuth steps (`auth google …`).
    #[command(subcommand)]
    Auth(cmd_auth::AuthCmd),
    /// List a folder (`ls REMOTE:path`).
    Ls(cmd_files::PathArg),
    /// List a folder as JSON (recursively with -R).
    Lsjson(cmd_files::LsJson),
    /// Show a folder tree.
    Tree(cmd_files::PathArg),
    /// Show one file's or folder's metadata.
    Stat(cmd_files::PathArg),
    /// Print a file to stdout (optionally a byte range).
    Cat(cmd_files::Cat),
    /// Download a file.
    Get(cmd_files::Transfer),
    /// Upload a file (large uploads resume if interrupted and run again).
    Put(cmd_files::Transfer),
    /// Create a folder (and its parents).
    Mkdir(cmd_files::PathArg),
    /// Delete a file or folder: to the trash by default.
    Rm(cmd_files::Rm),
    /// Remove an empty folder.
    Rmdir(cmd_files::PathArg),
    /// Move or rename a file or folder (server-side within one remote; between remotes: copy, verify, delete).
    Mv(cmd_files::Transfer),
    /// Copy a file or a folder tree (server-side within one remote, streamed between remotes).
    Cp(cmd_files::Transfer),
    /// Make DST equal to SRC (copies what differs, then deletes what DST has beyond SRC — only when every copy
    /// succeeded). Between any two remotes.
    Sync(cmd_files::Transfer),
    /// Keep two folders equal both ways (`bisync PATH1 PATH2`; the first run needs --resync): changes on
    /// either side cross, deletions go to the trash, conflicts keep both versions.
    Bisync(cmd_bisync::Bisync),
    /// Compare two trees: missing, extra and differing files (exit 11 when they differ).
    Check(cmd_files::Transfer),
    /// Make a public "anyone with the link" link.
    Link(cmd_files::PathArg),
    /// Account and quota of a remote.
    About(cmd_files::RemoteArg),
    /// Google Drive commands: export, share, comments, trash, shared drives, changes.
    #[command(subcommand)]
    Gdrive(cmd_gdrive::GdriveCmd),
    /// Google Photos commands: albums, album-create, album-rename, upload.
    #[command(subcommand)]
    Gphotos(cmd_gphotos::GphotosCmd),
    /// Yandex Disk commands: info, publish, public resources, upload by URL, trash, operations.
    #[command(subcommand)]
    Yadisk(cmd_yadisk::YadiskCmd),
    /// Run the local emulators of Google Drive, Google Photos (Library and Picker), Yandex Disk and the
    /// Google and Yandex OAuth servers, with fault injection and the services' quotas.
    Emulate(cmd_emulate::Emulate),
    /// Show a remote as a local folder, through FUSE (`mount REMOTE:[PATH] MOUNTPOINT`), until Ctrl-C,
    /// SIGTERM or `cloudmux unmount`.
    Mount(cmd_mount::Mount),
    /// Unmount a `cloudmux mount`.
    Unmount(cmd_mount::Unmount),
    /// Serve every mounted remote as one tree to signed-in users: a JSON API, WebDAV and a web page
    /// (`--demo`: emulated drives and a local folder, signed in and mounted).
    Serve(cmd_serve::Serve),
}

#[derive(Subcommand, Debug)]
enum RemoteCmd {
    /// Add a remote, e.g. `remote add gd --type gdrive --client-id ID --client-secret S` (the options of
    /// every kind are listed below, each with the kinds that take it).
    Add(Box<config::RemoteAdd>),
    /// List remotes.
    List,
    /// Show a remote's settings (secrets hidden).
    Show {
        /// Remote name.
        name: String,
    },
    /// Remove a remote and its tokens.
    Remove {
        /// Remote name.
        name: String,
    },
}

fn remote_cmd(cfg: &mut Config, out: Out, cmd: RemoteCmd) -> cloudmux_core::Result<()> {
    match cmd {
        RemoteCmd::Add(a) => {
            let name = a.name.clone();
            let rc = a.build()?;
            let needs_login = matches!(
                cloudmux_remote::backend(&rc.kind)?.sign_in(&rc)?,
                cloudmux_remote::SignIn::Google { .. } | cloudmux_remote::SignIn::Yandex
            );
            let existed = cfg.remotes.insert(name.clone(), rc).is_some();
            cfg.save()?;
            if out.json {
                out.json(&serde_json::json!({"added": name, "replaced": existed}));
            } else {
                out.line(format!(
                    "remote {name} {}",
                    if existed { "updated" } else { "added" }
                ));
                if needs_login {
                    out.note(format!("next: cloudmux auth login {name}"));
                }
            }
        }
        RemoteCmd::List => {
            if out.json {
                let v: Vec<_> = cfg
                    .remotes
                    .iter()
                    .map(|(n, r)| serde_json::json!({"name": n, "type": r.kind}))
                    .collect();
                out.json(&serde_json::json!(v));
            } else {
                for (n, r) in &cfg.remotes {
                    out.line(format!("{n}: {}", r.kind));
                }
            }
        }
        RemoteCmd::Show { name } => {
            let rc = cfg.remote(&name)?;
            let b = cloudmux_remote::backend(&rc.kind)?;
            let mut v = serde_json::to_value(rc).map_err(|e| Error::invalid(e.to_string()))?;
            for o in b.options() {
                if o.kind == cloudmux_remote::OptionKind::Secret && v.get(o.name).is_some() {
                    v[o.name] = serde_json::json!("***");
                }
            }
            let sign_in = b.sign_in(rc)?;
            v["signed_in"] = serde_json::json!(match sign_in {
                cloudmux_remote::SignIn::None
                | cloudmux_remote::SignIn::GoogleServiceAccount { .. } => true,
                _ => cfg.tokens().load(&name).is_ok(),
            });
            v["name"] = serde_json::json!(name);
            out.json(&v);
        }
        RemoteCmd::Remove { name } => {
            cfg.remote(&name)?;
            cfg.remotes.remove(&name);
            cfg.save()?;
            cfg.tokens().remove(&name)?;
            out.line(format!("remote {name} removed"));
        }
    }
    Ok(())
}

/// Completes on Ctrl-C or SIGTERM: when `serve` and `emulate` stop accepting and finish what is in flight.
async fn stop_signal() {
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

fn init_logging(verbose: u8) {
    let level = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    // Only cloudmux's own crates log above warnings: they redact secrets; third-party internals are kept quiet.
    let ours = [
        "cloudmux",
        "cloudmux_core",
        "cloudmux_http",
        "cloudmux_auth",
        "cloudmux_gdrive",
        "cloudmux_yadisk",
        "cloudmux_gphotos",
        "cloudmux_vfs",
        "cloudmux_local",
        "cloudmux_emulator",
        "cloudmux_remote",
        "cloudmux_server",
    ];
    let directives = std::iter::once("warn".to_string())
        .chain(ours.iter().map(|c| format!("{c}={level}")))
        .collect::<Vec<_>>()
        .join(",");
    let filter = tracing_subscriber::EnvFilter::try_from_env("CLOUDMUX_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(directives));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let out = Out {
        json: cli.json,
        progress: !cli.no_progress,
    };
    open::set_tuning(cli.retries.max(1), cli.timeout.max(1));
    let path = config::config_path(cli.config.as_deref());
    match cli.cmd {
        Cmd::Emulate(e) => cmd_emulate::run(e, out).await?,
        Cmd::Remote(r) => {
            let mut cfg = Config::load(&path)?;
            remote_cmd(&mut cfg, out, r)?
        }
        Cmd::Auth(a) => cmd_auth::run(&Config::load(&path)?, out, a).await?,
        Cmd::Gdrive(g) => cmd_gdrive::run(&Config::load(&path)?, out, g).await?,
        Cmd::Yadisk(y) => cmd_yadisk::run(&Config::load(&path)?, out, y).await?,
        Cmd::Gphotos(g) => cmd_gphotos::run(&Config::load(&path)?, out, g).await?,
        Cmd::Serve(s) => cmd_serve::run(&Config::load(&path)?, out, s).await?,
        Cmd::Mount(m) => cmd_mount::mount(&Config::load(&path)?, m).await?,
        Cmd::Unmount(u) => cmd_mount::unmount(u)?,
        cmd => {
            let cfg = Config::load(&path)?;
            match cmd {
                Cmd::Ls(p) => cmd_files::ls(&cfg, out, &p.path).await?,
                Cmd::Lsjson(p) => cmd_files::lsjson(&cfg, out, p).await?,
                Cmd::Tree(p) => cmd_files::tree(&cfg, out, &p.path).await?,
                Cmd::Stat(p) => cmd_files::stat(&cfg, out, &p.path).await?,
                Cmd::Cat(c) => cmd_files::cat(&cfg, c).await?,
                Cmd::Get(t) => cmd_files::get(&cfg, out, t).await?,
                Cmd::Put(t) => cmd_files::put(&cfg, out, t).await?,
                Cmd::Mkdir(p) => cmd_files::mkdir(&cfg, out, &p.path).await?,
                Cmd::Rm(r) => cmd_files::rm(&cfg, out, r).await?,
                Cmd::Rmdir(p) => cmd_files::rmdir(&cfg, out, &p.path).await?,
                Cmd::Mv(t) => cmd_files::mv(&cfg, out, t).await?,
                Cmd::Cp(t) => cmd_files::cp(&cfg, out, t).await?,
                Cmd::Link(p) => cmd_files::link(&cfg, out, &p.path).await?,
                Cmd::Sync(t) => {
                    cmd_files::tree_transfer_addrs(&cfg, out, cloudmux_vfs::Mode::Sync, &t).await?
                }
                Cmd::Bisync(b) => cmd_bisync::run(&cfg, out, b).await?,
                Cmd::Check(t) => {
                    cmd_files::tree_transfer_addrs(&cfg, out, cloudmux_vfs::Mode::Check, &t).await?
                }
                Cmd::About(r) => cmd_files::about(&cfg, out, &r.remote).await?,
                Cmd::Emulate(_)
                | Cmd::Remote(_)
                | Cmd::Auth(_)
                | Cmd::Gdrive(_)
                | Cmd::Yadisk(_)
                | Cmd::Gphotos(_)
                | Cmd::Mount(_)
                | Cmd::Unmount(_)
                | Cmd::Serve(_) => unreachable!(),
            }
        }
    }
    Ok(())
}

fn report(e: &anyhow::Error, json: bool) -> i32 {
    if let Some(io) = e.downcast_ref::<std::io::Error>()
        && io.kind() == std::io::ErrorKind::BrokenPipe
    {
        return 0;
    }
    let (kind, ce) = match e.downcast_ref::<Error>() {
        Some(ce) => (ce.kind(), Some(ce)),
        None => (ErrorKind::Other, None),
    };
    if let Some(ce) = ce
        && ce.kind() == ErrorKind::Io
        && ce.message().contains("Broken pipe")
    {
        return 0;
    }
    if json {
        let v = match ce {
            Some(ce) => ce.to_json(),
            None => serde_json::json!({"kind": "other", "message": e.to_string()}),
        };
        eprintln!("{}", serde_json::json!({"error": v}));
    } else {
        eprintln!("error: {e}");
        if let Some(h) = ce.and_then(|c| c.hint()) {
            eprintln!("  hint: {h}");
        }
    }
    kind.exit_code()
}

/// The command line, with the kinds of remote the registry knows listed in its help.
fn command() -> clap::Command {
    use clap::CommandFactory;
    let kinds: Vec<String> = cloudmux_remote::BACKENDS
        .iter()
        .map(|b| format!("  {:<9} {}", b.kind(), b.about()))
        .collect();
    Cli::command().after_help(format!(
        "{EXIT_CODES}\n\nKINDS OF REMOTE:\n{}",
        kinds.join("\n")
    ))
}

fn main() {
    use clap::FromArgMatches;
    let cli = match Cli::from_arg_matches(&command().get_matches()) {
        Ok(c) => c,
        Err(e) => e.exit(),
    };
    init_logging(cli.verbose);
    let json = cli.json;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let code = match rt.block_on(run(cli)) {
        Ok(()) => 0,
        Err(e) => report(&e, json),
    };
    rt.shutdown_timeout(std::time::Duration::from_millis(200));
    std::process::exit(code);
}
