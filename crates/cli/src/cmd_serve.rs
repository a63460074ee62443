//! `cloudmux serve`: the server over the configured remotes, and `serve --demo`, which also runs the
//! emulators in this process, signs in to each through its real OAuth flow, and mounts them with a local
//! folder.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use cloudmux_core::{Error, ErrorKind, Result, Storage, WriteOptions, bytes_stream};
use cloudmux_server::AppState;
use cloudmux_server::house::db::{Db, MountRow};

use crate::config::Config;
use crate::out::Out;

/// `serve`.
#[derive(Args, Debug)]
pub struct Serve {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:5244")]
    pub listen: String,
    /// Where the database lives (default: `server/` beside the config; `./.cloudmux-demo` with --demo).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Database URL: `sqlite:///path/cloudmux.db` (default, in the data directory) or `postgres://…`.
    #[arg(long)]
    pub db: Option<String>,
    /// Mount a remote: `PATH=REMOTE[:FOLDER]`, then `,ro` for read-only and `,direct` to answer downloads
    /// with a redirect to the service's own link where it has one (repeatable; saved).
    #[arg(
        long = "mount",
        value_name = "PATH=REMOTE[:FOLDER][,ro][,direct][,guest]"
    )]
    pub mounts: Vec<String>,
    /// Seconds a folder listing stays cached.
    #[arg(long, default_value_t = 10)]
    pub cache_ttl: u64,
    /// Run the emulated Google Drive, Google Photos and Yandex Disk in this process with sample data, sign
    /// in to each, and mount them with ./demo-data.
    #[arg(long)]
    pub demo: bool,
    /// A base URL that remotes added from the web may use as their endpoint (repeatable; by default
    /// none: such remotes talk to the real services).
    #[arg(long = "allow-endpoint", value_name = "URL")]
    pub allow_endpoints: Vec<String>,
    /// A folder under which remotes added from the web may serve the local disk (repeatable; by default
    /// none). The server's data and configuration folders are refused whatever this says.
    #[arg(long = "local-root", value_name = "DIR")]
    pub local_roots: Vec<PathBuf>,
    /// Seconds a server process holds a background task without renewing it: when a process dies, its
    /// tasks are resumed by another process on the same database (or by this one restarted) after this.
    #[arg(long, default_value_t = 30, value_name = "SECONDS")]
    pub task_lease: u64,
    /// A reverse proxy or load balancer in front of this server, by address or network (repeatable): for
    /// its requests the client's address (counted by the login throttle) is read from X-Forwarded-For.
    #[arg(long = "trusted-proxy", value_name = "ADDRESS[/PREFIX]")]
    pub trusted_proxies: Vec<String>,
    /// Also serve AList's API at the root of this address, for apps that take only a host and a port
    /// (it is always served under /alist on --listen).
    #[arg(long, value_name = "ADDRESS")]
    pub alist_listen: Option<String>,
    /// Serve this AList/OpenList frontend build (its `dist` folder: npm's
    /// @openlist-frontend/openlist-frontend) at the root of --alist-listen, beside AList's API.
    #[arg(long, value_name = "DIR", requires = "alist_listen")]
    pub alist_ui: Option<PathBuf>,
    /// Seconds the download links AList's API hands out (their `sign`) stay valid.
    #[arg(long, default_value_t = cloudmux_server::doors::alist::sign::DEFAULT_TTL_SECS, value_name = "SECONDS")]
    pub alist_sign_ttl: u64,
}

impl Serve {
    /// Applies the settings every server takes: the task lease, the trusted proxies, how long AList
    /// download links last.
    fn tune(&self, state: &AppState) -> Result<()> {
        state.tasks.set_lease(Duration::from_secs(self.task_lease));
        state.alist.set_ttl(self.alist_sign_ttl);
        state.set_trusted_proxies(
            self.trusted_proxies
                .iter()
                .map(|p| cloudmux_server::doors::common::proxy::Net::parse(p))
                .collect::<Result<Vec<_>>>()?,
        );
        Ok(())
    }

    /// What remotes added through the admin API may point at: what the operator allowed, never the
    /// server's own folders.
    fn policy(&self, cfg: &Config, data: &Path) -> cloudmux_server::house::mounts::RemotePolicy {
        cloudmux_server::house::mounts::RemotePolicy {
            endpoints: self.allow_endpoints.clone(),
            local_roots: self.local_roots.clone(),
            private: vec![data.to_path_buf(), cfg.dir()],
        }
    }
}

/// The demo's sign-in.
pub const DEMO_USER: &str = "admin";
/// The demo's password (the server listens on 127.0.0.1 only unless told otherwise).
pub const DEMO_PASSWORD: &str = "cloudmux-demo";

fn parse_mount(s: &str) -> Result<MountRow> {
    let (path, rest) = s.split_once('=').ok_or_else(|| {
        Error::invalid(format!(
            "--mount {s:?}: expected PATH=REMOTE[:FOLDER][,ro][,direct][,guest]"
        ))
        .with_hint("for example --mount /gdrive=gd or --mount /docs=gd:Documents,ro")
    })?;
    let mut opts = rest.split(',');
    let rest = opts.next().unwrap_or_default();
    let (mut read_only, mut direct_links, mut guest) = (false, false, false);
    for o in opts {
        match o {
            "ro" => read_only = true,
            "direct" => direct_links = true,
            "guest" => guest = true,
            _ => {
                return Err(Error::invalid(format!("--mount {s:?}: unknown option {o:?}"))
                    .with_hint("the options are ro (read-only), direct (downloads redirected to the service's own links) and guest (readable without signing in)"));
            }
        }
    }
    let (remote, root) = rest.split_once(':').unwrap_or((rest, ""));
    Ok(MountRow {
        path: cloudmux_server::house::tree::clean(path)?,
        remote: remote.to_string(),
        root: root.to_string(),
        read_only,
        direct_links,
        guest,
    })
}

/// `serve`.
pub async fn run(cfg: &Config, out: Out, s: Serve) -> anyhow::Result<()> {
    if s.demo {
        return demo(out, s).await;
    }
    let data = s
        .data_dir
        .clone()
        .unwrap_or_else(|| cfg.dir().join("server"));
    private_dir(&data)?;
    let db = Db::open(&db_url(&s, &data)).await?;
    for m in &s.mounts {
        let row = parse_mount(m)?;
        cfg.remote(&row.remote)?;
        db.put_mount(&row).await?;
    }
    let state = AppState::with_policy(
        db.clone(),
        Duration::from_secs(s.cache_ttl),
        Some(Arc::new(cloudmux_remote::ConfigRemotes::new(cfg))),
        s.policy(cfg, &data),
    );
    s.tune(&state)?;
    for (path, e) in state.sync_mounts().await? {
        eprintln!("warning: {path} is not mounted: {e}");
    }
    if db.users().await?.is_empty() {
        let password = cloudmux_auth::oauth::random_token(12);
        state
            .users
            .create("admin", &password, "/", true, true)
            .await?;
        eprintln!("created the first user: admin, password {password} (shown once; change it)");
    }
    let listener = listen(&s.listen).await?;
    let addr = listener.local_addr()?;
    out.line(format!(
        "cloudmux server on http://{addr}/ (API: /api/openapi.json, WebDAV: /dav/, AList's API: /alist)"
    ));
    alist_door(&s, &state, &out).await?;
    cloudmux_server::run(listener, state, crate::stop_signal()).await?;
    Ok(())
}

/// With `--alist-listen`, AList's API at the root of an address of its own.
async fn alist_door(s: &Serve, state: &Arc<AppState>, out: &Out) -> Result<()> {
    if let Some(a) = &s.alist_listen {
        // The frontend is checked before the address is taken: a wrong folder fails the start.
        let ui = match &s.alist_ui {
            Some(dir) => Some(cloudmux_server::doors::alist::ui::Ui::load(dir)?),
            None => None,
        };
        let l = listen(a).await?;
        let addr = l.local_addr()?;
        match &ui {
            Some(_) => out.line(format!(
                "  AList API and the AList frontend: http://{addr}/ (for apps and browsers)"
            )),
            None => out.line(format!("  AList API: http://{addr}/ (for apps)")),
        }
        tokio::spawn(cloudmux_server::serve_alist(l, state.clone(), ui));
    }
    Ok(())
}

/// Creates `dir` (and parents) with the new folder readable by the owner only.
fn private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

/// Binds the server's address, with a hint when it is taken.
async fn listen(addr: &str) -> Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr).await.map_err(|e| {
        Error::from(e)
            .context(format!("cannot listen on {addr}"))
            .with_hint("pick another address with --listen")
    })
}

fn db_url(s: &Serve, data: &Path) -> String {
    s.db.clone()
        .unwrap_or_else(|| format!("sqlite://{}", data.join("cloudmux.db").display()))
}

/// Signs in to an emulated Google service through the consent page (approved at once by the emulator's
/// test switch) and the loopback redirect, exactly as `auth login` does.
async fn google_sign_in(cfg: &Config, name: &str, scopes: &[String]) -> Result<()> {
    use cloudmux_auth::google;
    let rc = cfg.remote(name)?;
    let api = google::oauth_api(cloudmux_http::HttpConfig::default())?;
    let ep = google::Endpoints::for_base(rc.endpoint());
    let (id, secret) = cloudmux_remote::open::client_credentials(name, rc)?;
    let opts = google::LoginOptions {
        accept_paste: false,
        timeout: Duration::from_secs(30),
        ..Default::default()
    };
    let t = google::loopback_login(&api, &ep, &id, &secret, scopes, &opts, |url| {
        let url = url.to_string();
        tokio::spawn(async move {
            // The browser's part: open the consent page and follow its redirect to the loopback.
            if let Ok(c) = cloudmux_http::build_client(&cloudmux_http::HttpConfig::default()) {
                let _ = c.get(url).send().await;
            }
        });
    })
    .await?;
    cfg.tokens().save(name, &t.into_stored(None))?;
    Ok(())
}

/// Signs in to the emulated Yandex through the device flow.
async fn yandex_sign_in(cfg: &Config, name: &str) -> Result<()> {
    use cloudmux_auth::yandex;
    let rc = cfg.remote(name)?;
    let api = cloudmux_auth::oauth::oauth_api(cloudmux_http::HttpConfig::default())?;
    let ep = yandex::Endpoints::for_base(rc.endpoint());
    let (id, secret) = cloudmux_remote::open::client_credentials(name, rc)?;
    let (device_id, device_name) = yandex::device_identity(&cfg.dir());
    let dc = yandex::device_code(&api, &ep, &id, Some((&device_id, &device_name)), None).await?;
    let t = yandex::wait_for_token(&api, &ep, &id, &secret, &dc, |_| {}).await?;
    cfg.tokens().save(name, &t.into_stored(None))?;
    Ok(())
}

async fn put_if_missing(s: &dyn Storage, path: &str, data: Vec<u8>) -> Result<()> {
    if s.stat(path).await.is_ok() {
        return Ok(());
    }
    if let Some(dir) = path.rsplit_once('/').map(|(d, _)| d) {
        s.mkdir(dir).await?;
    }
    let size = data.len() as u64;
    s.write(
        path,
        bytes_stream(data, 64 * 1024),
        WriteOptions {
            size: Some(size),
            ..Default::default()
        },
    )
    .await?;
    Ok(())
}

/// A small valid PNG of one colour (for the Photos sample).
fn png(w: u32, h: u32, rgb: [u8; 3]) -> Vec<u8> {
    fn crc(data: &[u8]) -> u32 {
        let mut c = 0xffff_ffffu32;
        for &b in data {
            c ^= b as u32;
            for _ in 0..8 {
                c = if c & 1 != 0 {
                    0xedb8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                };
            }
        }
        !c
    }
    fn adler(data: &[u8]) -> u32 {
        let (mut a, mut b) = (1u32, 0u32);
        for &d in data {
            a = (a + d as u32) % 65521;
            b = (b + a) % 65521;
        }
        (b << 16) | a
    }
    fn chunk(out: &mut Vec<u8>, kind: &[u8], data: &[u8]) {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let mut c = kind.to_vec();
        c.extend_from_slice(data);
        out.extend_from_slice(&c);
        out.extend_from_slice(&crc(&c).to_be_bytes());
    }
    // Each row: filter type 0, then the pixels.
    let row: Vec<u8> = std::iter::once(0u8)
        .chain((0..w).flat_map(|_| rgb))
        .collect();
    let raw: Vec<u8> = (0..h).flat_map(|_| row.iter().copied()).collect();
    // zlib with stored (uncompressed) blocks.
    let mut z = vec![0x78, 0x01];
    let blocks: Vec<&[u8]> = raw.chunks(65535).collect();
    for (i, b) in blocks.iter().enumerate() {
        z.push((i + 1 == blocks.len()) as u8);
        z.extend_from_slice(&(b.len() as u16).to_le_bytes());
        z.extend_from_slice(&(!(b.len() as u16)).to_le_bytes());
        z.extend_from_slice(b);
    }
    z.extend_from_slice(&adler(&raw).to_be_bytes());
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&w.to_be_bytes());
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    chunk(&mut out, b"IHDR", &ihdr);
    chunk(&mut out, b"IDAT", &z);
    chunk(&mut out, b"IEND", &[]);
    out
}

async fn demo(out: Out, s: Serve) -> anyhow::Result<()> {
    let data = s
        .data_dir
        .clone()
        .unwrap_or_else(|| PathBuf::from(".cloudmux-demo"));
    private_dir(&data)?;
    let data = std::fs::canonicalize(&data)?;
    let local = PathBuf::from("demo-data");
    if !local.exists() {
        std::fs::create_dir_all(local.join("notes"))?;
        std::fs::write(
            local.join("README.txt"),
            "This folder is mounted at /local by `cloudmux serve --demo`.\n",
        )?;
        std::fs::write(
            local.join("notes/todo.md"),
            "# To do\n\n- try the web page\n",
        )?;
        std::fs::write(
            local.join("README.md"),
            "# The demo folder\n\nThis folder of your disk is mounted at **/local**; beside it are the \
             emulated *Google Drive*, *Google Photos* and *Yandex Disk*.\n\n\
             - open a file to preview it\n- share a file or a folder from its ⋯ menu\n",
        )?;
    }
    let local = std::fs::canonicalize(&local)?;
    out.note("starting the emulated Google Drive, Google Photos and Yandex Disk…");
    let emu = cloudmux_emulator::Emulator::start(cloudmux_emulator::Config {
        settings: cloudmux_emulator::Settings {
            auto_approve: true,
            yandex_poll_interval: 1,
            ..Default::default()
        },
        state_dir: Some(data.join("emulator")),
        ..Default::default()
    })
    .await?;
    let base = emu.base_url();
    let mut cfg = Config::load(&data.join("config.toml"))?;
    let client = |extra: &[(&str, String)]| {
        let mut o: std::collections::BTreeMap<String, String> = [
            ("client_id", cloudmux_emulator::DEMO_CLIENT_ID.to_string()),
            (
                "client_secret",
                cloudmux_emulator::DEMO_CLIENT_SECRET.to_string(),
            ),
            ("endpoint", base.clone()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        o.extend(extra.iter().map(|(k, v)| (k.to_string(), v.clone())));
        o
    };
    for (name, options) in [
        ("gdrive", client(&[])),
        ("gphotos", client(&[])),
        ("yadisk", client(&[])),
        (
            "local",
            [("path".to_string(), local.to_string_lossy().into_owned())].into(),
        ),
    ] {
        let kind = if name == "local" { "local" } else { name };
        cfg.remotes
            .insert(name.into(), cloudmux_remote::build(name, kind, &options)?);
    }
    cfg.save()?;
    out.note(
        "signing in to each service (Google consent + loopback redirect, Yandex device flow)…",
    );
    for name in ["gdrive", "gphotos"] {
        let rc = cfg.remote(name)?;
        if let cloudmux_remote::SignIn::Google { scopes } =
            cloudmux_remote::backend(&rc.kind)?.sign_in(rc)?
        {
            google_sign_in(&cfg, name, &scopes).await?;
        }
    }
    yandex_sign_in(&cfg, "yadisk").await?;

    let drive = crate::open::open(&cfg, "gdrive").await?;
    put_if_missing(
        &*drive,
        "Welcome to cloudmux.txt",
        b"This file lives in the emulated Google Drive.\n".to_vec(),
    )
    .await?;
    put_if_missing(
        &*drive,
        "Documents/plan.md",
        b"# Plan\n\n1. mount\n2. serve\n".to_vec(),
    )
    .await?;
    let yandex = crate::open::open(&cfg, "yadisk").await?;
    put_if_missing(
        &*yandex,
        "Hello from Yandex Disk.txt",
        b"This file lives in the emulated Yandex Disk.\n".to_vec(),
    )
    .await?;
    let photos = crate::open::open(&cfg, "gphotos").await?;
    if cloudmux_core::list_all(&*photos, "media/all")
        .await?
        .is_empty()
    {
        for (name, rgb) in [("sunrise.png", [250, 170, 60]), ("sea.png", [40, 110, 200])] {
            put_if_missing(&*photos, &format!("upload/{name}"), png(64, 48, rgb)).await?;
        }
    }

    let db = Db::open(&db_url(&s, &data)).await?;
    // The demo's own emulator and folder are what its admin page may add remotes on.
    let mut policy = s.policy(&cfg, &data);
    policy.endpoints.push(base.clone());
    policy.local_roots.push(local.clone());
    let state = AppState::with_policy(
        db.clone(),
        Duration::from_secs(s.cache_ttl),
        Some(Arc::new(cloudmux_remote::ConfigRemotes::new(&cfg))),
        policy,
    );
    s.tune(&state)?;
    for (path, name) in [
        ("/gdrive", "gdrive"),
        ("/photos", "gphotos"),
        ("/yadisk", "yadisk"),
        ("/local", "local"),
    ] {
        let row = MountRow {
            path: path.into(),
            remote: name.into(),
            root: String::new(),
            read_only: false,
            direct_links: false,
            guest: false,
        };
        state.mount_row(row).await?;
    }
    match state
        .users
        .create(DEMO_USER, DEMO_PASSWORD, "/", true, true)
        .await
    {
        Ok(_) => {}
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e.into()),
    }
    let listener = listen(&s.listen).await?;
    let addr = listener.local_addr()?;
    out.line(format!("cloudmux demo on http://{addr}/"));
    out.line(format!(
        "  JSON API:  http://{addr}/api/  (OpenAPI: /api/openapi.json)"
    ));
    out.line(format!("  WebDAV:    http://{addr}/dav/  (same login)"));
    out.line(format!("  login:     {DEMO_USER} / {DEMO_PASSWORD}"));
    out.line(format!(
        "  mounted:   /gdrive /photos /yadisk (emulated, on {base}) and /local ({})",
        local.display()
    ));
    out.line(format!("  data:      {}", data.display()));
    out.line(format!(
        "  AList API: http://{addr}/alist  (for AList/OpenList apps; same login)"
    ));
    alist_door(&s, &state, &out).await?;
    cloudmux_server::run(listener, state, crate::stop_signal()).await?;
    drop(emu);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mounts_parse() {
        assert_eq!(
            parse_mount("/docs=gd:Documents,ro").unwrap(),
            MountRow {
                path: "/docs".into(),
                remote: "gd".into(),
                root: "Documents".into(),
                read_only: true,
                direct_links: false,
                guest: false,
            }
        );
        let both = parse_mount("/y=yd:Films,direct,ro").unwrap();
        assert!(both.read_only && both.direct_links && both.root == "Films");
        assert!(parse_mount("/y=yd,fast").is_err());
        assert_eq!(parse_mount("gdrive=gd").unwrap().path, "/gdrive");
        assert!(parse_mount("/x").is_err());
        assert!(parse_mount("/../x=gd").is_err());
    }

    #[test]
    fn png_is_well_formed() {
        let p = png(3, 2, [1, 2, 3]);
        assert!(p.starts_with(b"\x89PNG\r\n\x1a\n"));
        assert_eq!(&p[12..16], b"IHDR");
        assert!(p.ends_with(&[0xae, 0x42, 0x60, 0x82]), "IEND's CRC");
    }
}
