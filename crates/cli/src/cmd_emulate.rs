//! `emulate`: the local emulators of Google Drive, Google Photos (Library and Picker), Yandex Disk and the
//! Google and Yandex OAuth servers, on one listener, with fault injection and the services' quotas.

use std::path::PathBuf;

use clap::Args;
use cloudmux_core::Error;
use cloudmux_emulator::{
    Config, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, FaultConfig, FaultKind, Settings,
};

use crate::out::Out;

/// `emulate`.
#[derive(Args, Debug)]
pub struct Emulate {
    /// Address to listen on (plain HTTP; hosts are served under /HOST/ and by Host header).
    #[arg(long, default_value = "127.0.0.1:4444")]
    listen: String,
    /// Approve consent pages at once (for tests and scripts).
    #[arg(long)]
    auto_approve: bool,
    /// Register an OAuth client (repeatable), as ID:SECRET.
    #[arg(long = "client", value_name = "ID:SECRET")]
    clients: Vec<String>,
    /// Keep file contents under this folder instead of a temp folder.
    #[arg(long)]
    state_dir: Option<PathBuf>,
    /// Google access-token lifetime in seconds (short values test refresh).
    #[arg(long, default_value_t = 3599)]
    token_lifetime: u64,
    /// Lifetime of Yandex access tokens in seconds.
    #[arg(long, default_value_t = 31_536_000)]
    yandex_token_lifetime: u64,
    /// Seconds Yandex device codes ask clients to wait between polls.
    #[arg(long, default_value_t = 5)]
    yandex_poll_interval: u64,
    /// Yandex Disk size in bytes.
    #[arg(long)]
    yandex_quota: Option<u64>,
    /// Drive storage quota in bytes.
    #[arg(long)]
    drive_quota: Option<u64>,
    /// Register a service-account key file (repeatable).
    #[arg(long = "service-account")]
    service_accounts: Vec<PathBuf>,
    /// Share of API requests that fail (0.0–1.0).
    #[arg(long, default_value_t = 0.0)]
    fault_rate: f64,
    /// Failures to draw from: too_many, rate_limit403, unavailable, fail_after, reset.
    #[arg(long, value_delimiter = ',')]
    fault_kinds: Vec<String>,
    /// Seed of the fault RNG (replay a failing run with the same seed).
    #[arg(long, default_value_t = 1)]
    fault_seed: u64,
    /// Latency added to every API request, milliseconds.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// The services' request limits: `off`, or `realistic` (the published figures; see the README).
    #[arg(long, default_value = "off")]
    quota: String,
    /// Drive requests per minute per user (overrides --quota).
    #[arg(long)]
    quota_drive_per_minute: Option<u32>,
    /// Drive write requests per second per user, sustained (overrides --quota).
    #[arg(long)]
    quota_drive_writes_per_second: Option<f64>,
    /// Bytes a Drive user may upload and copy in a day (overrides --quota; realistic: 750 GB).
    #[arg(long)]
    quota_drive_upload_per_day: Option<u64>,
    /// Photos Library requests per day per project (overrides --quota).
    #[arg(long)]
    quota_photos_per_day: Option<u32>,
    /// Yandex Disk requests per second per user (overrides --quota).
    #[arg(long)]
    quota_yandex_per_second: Option<f64>,
    /// Also serve over TLS on this address (needs --tls-cert and --tls-key).
    #[arg(long)]
    tls_listen: Option<String>,
    /// TLS certificate chain (PEM).
    #[arg(long)]
    tls_cert: Option<PathBuf>,
    /// TLS private key (PEM).
    #[arg(long)]
    tls_key: Option<PathBuf>,
    /// Print the real host names the emulator answers for, one per line, and exit (for a hosts file or a
    /// TLS certificate's names).
    #[arg(long)]
    print_hosts: bool,
}

/// Runs the emulator until Ctrl-C.
pub async fn run(e: Emulate, out: Out) -> anyhow::Result<()> {
    if e.print_hosts {
        for h in cloudmux_emulator::known_hosts() {
            out.line(h);
        }
        return Ok(());
    }
    let mut clients = Vec::new();
    for c in &e.clients {
        let (id, secret) = c
            .split_once(':')
            .ok_or_else(|| Error::invalid(format!("--client {c:?}: write it as ID:SECRET")))?;
        clients.push((id.to_string(), secret.to_string()));
    }
    let mut kinds = Vec::new();
    for k in &e.fault_kinds {
        kinds.push(
            serde_json::from_value::<FaultKind>(serde_json::json!(k)).map_err(|_| {
                Error::invalid(format!("unknown fault kind {k:?}"))
                    .with_hint("use too_many, rate_limit403, unavailable, fail_after or reset")
            })?,
        );
    }
    let mut faults = FaultConfig {
        rate: e.fault_rate,
        seed: e.fault_seed,
        latency_ms: e.latency_ms,
        ..FaultConfig::default()
    };
    if !kinds.is_empty() {
        faults.kinds = kinds;
    }
    let mut quota = cloudmux_emulator::QuotaConfig::named(&e.quota)
        .map_err(|m| Error::invalid(m).with_hint("--quota off or --quota realistic"))?;
    if let Some(n) = e.quota_drive_per_minute {
        quota.drive_per_user_minute = n;
        quota.drive_per_project_minute = quota.drive_per_project_minute.max(n);
    }
    if let Some(n) = e.quota_drive_upload_per_day {
        quota.drive_upload_bytes_per_day = n;
    }
    if let Some(n) = e.quota_drive_writes_per_second {
        quota.drive_writes_per_second = n;
        quota.drive_write_burst = quota.drive_write_burst.max(1);
    }
    if let Some(n) = e.quota_photos_per_day {
        quota.photos_per_day = n;
    }
    if let Some(n) = e.quota_yandex_per_second {
        quota.yandex_per_second = n;
        quota.yandex_burst = quota.yandex_burst.max(1);
    }
    let mut service_accounts = Vec::new();
    for p in &e.service_accounts {
        service_accounts.push(
            serde_json::from_slice(&std::fs::read(p)?)
                .map_err(|err| Error::invalid(format!("{}: {err}", p.display())))?,
        );
    }
    let mut settings = Settings {
        auto_approve: e.auto_approve,
        token_lifetime: e.token_lifetime,
        ..Settings::default()
    };
    settings.yandex_poll_interval = e.yandex_poll_interval.max(1);
    settings.yandex_token_lifetime = e.yandex_token_lifetime.max(1);
    if let Some(q) = e.yandex_quota {
        settings.yandex_quota = q;
    }
    if let Some(q) = e.drive_quota {
        settings.drive_quota = q;
    }
    let cfg = Config {
        settings,
        clients,
        state_dir: e.state_dir.clone(),
        faults,
        quota,
        service_accounts,
    };
    let listener = tokio::net::TcpListener::bind(&e.listen)
        .await
        .map_err(|err| Error::from(err).context(format!("cannot listen on {}", e.listen)))?;
    let addr = listener.local_addr()?;
    let state = cloudmux_emulator::State::new(&cfg)?;
    let autosave = e
        .state_dir
        .as_ref()
        .map(|_| state.spawn_autosave(std::time::Duration::from_secs(2)));
    let app = cloudmux_emulator::app(state.clone());
    println!("listening on http://{addr}");
    println!("demo OAuth client: {DEMO_CLIENT_ID} {DEMO_CLIENT_SECRET}");
    if let Some(tl) = &e.tls_listen {
        let (Some(c), Some(k)) = (&e.tls_cert, &e.tls_key) else {
            return Err(Error::invalid("--tls-listen needs --tls-cert and --tls-key").into());
        };
        let (cert, key) = (std::fs::read(c)?, std::fs::read(k)?);
        let tls = tokio::net::TcpListener::bind(tl).await?;
        println!("listening on https://{}", tls.local_addr()?);
        let app2 = app.clone();
        tokio::spawn(async move {
            if let Err(err) = cloudmux_emulator::serve_tls(tls, app2, &cert, &key).await {
                eprintln!("TLS listener stopped: {err}");
            }
        });
    }
    for svc in cloudmux_emulator::SERVICES {
        let at: Vec<String> = svc
            .entry_points()
            .iter()
            .map(|(what, at)| format!("{what} http://{addr}/{at}"))
            .collect();
        out.note(format!("{}: {}", svc.title(), at.join(", ")));
    }
    out.note(format!("Point a remote at it: cloudmux remote add gd --type gdrive --client-id {DEMO_CLIENT_ID} --client-secret {DEMO_CLIENT_SECRET} --endpoint http://{addr}"));
    use std::io::Write;
    let _ = std::io::stdout().flush();
    axum::serve(listener, app)
        .with_graceful_shutdown(crate::stop_signal())
        .await?;
    if let Some(t) = autosave {
        t.abort();
        state.save()?;
        out.note(format!(
            "state saved to {}",
            e.state_dir
                .as_ref()
                .map(|d| d.display().to_string())
                .unwrap_or_default()
        ));
    }
    Ok(())
}
