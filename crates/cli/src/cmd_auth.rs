//! `auth`: sign in (`login`), `status`, `logout`, and the seed's raw Google steps (`google url|token|refresh`).

use std::path::PathBuf;

use clap::{Args, Subcommand};
use cloudmux_auth::google::{self, Endpoints, LoginOptions, Service, TokenResponse};
use cloudmux_auth::store::write_private;
use cloudmux_core::{Error, ErrorKind, Result};
use cloudmux_http::Secret;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::config::Config;
use crate::open::http_config;
use crate::out::Out;
use cloudmux_remote::SignIn;

/// `auth …`.
#[derive(Subcommand, Debug)]
pub enum AuthCmd {
    /// Sign a remote in: opens the consent page, catches the code on a loopback address, stores the tokens
    /// (0600). With --no-browser the link is printed on a line of its own; pasting the code (or the whole
    /// redirected URL) on stdin works too.
    Login {
        /// Remote name.
        remote: String,
        /// Print the link instead of opening a browser.
        #[arg(long)]
        no_browser: bool,
        /// Loopback port to listen on (default: any free port).
        #[arg(long, default_value_t = 0)]
        port: u16,
        /// Yandex: use the authorization-code flow with PKCE (paste the code shown) instead of the device flow.
        #[arg(long)]
        code_flow: bool,
    },
    /// Show whether a remote is signed in, with which scopes and until when (no secrets).
    Status {
        /// Remote name.
        remote: String,
    },
    /// Revoke and forget a remote's tokens.
    Logout {
        /// Remote name.
        remote: String,
    },
    /// The Google OAuth steps one by one, printing JSON (the seed's functions).
    #[command(subcommand)]
    Google(GoogleCmd),
    /// The Yandex OAuth device-flow steps one by one, printing JSON (the seed's functions).
    #[command(subcommand)]
    Yandex(YandexCmd),
}

/// `auth yandex …`.
#[derive(Subcommand, Debug)]
pub enum YandexCmd {
    /// Ask for a device code (GetConfirmationCode): prints verification_url, user_code, interval, expires_in,
    /// device_code. Sends this machine's stable device_id and device_name.
    DeviceCode {
        /// OAuth client id.
        #[arg(long)]
        client_id: String,
        #[command(flatten)]
        ep: EndpointArg,
    },
    /// Exchange a device code for tokens (ConvertCodeToToken); with --wait, poll until the person approves.
    Token {
        /// OAuth client id.
        #[arg(long)]
        client_id: String,
        /// OAuth client secret.
        #[arg(long)]
        client_secret: String,
        /// The device_code from `auth yandex device-code`.
        #[arg(long)]
        device_code: String,
        /// Poll at the code's interval (5 s unless --interval) until approved, denied or expired.
        #[arg(long)]
        wait: bool,
        /// Seconds between polls with --wait.
        #[arg(long, default_value_t = 5)]
        interval: u64,
        /// Give up after this many seconds with --wait.
        #[arg(long, default_value_t = 600)]
        timeout: u64,
        #[command(flatten)]
        ep: EndpointArg,
    },
    /// Renew tokens (RefreshToken); Yandex returns a new refresh token, printed too.
    Refresh {
        /// OAuth client id.
        #[arg(long)]
        client_id: String,
        /// OAuth client secret.
        #[arg(long)]
        client_secret: String,
        /// The refresh token.
        #[arg(long)]
        refresh_token: String,
        #[command(flatten)]
        ep: EndpointArg,
    },
}

/// Where the Google endpoints are.
#[derive(Args, Debug, Clone)]
pub struct EndpointArg {
    /// Base URL replacing Google's hosts (an emulator: http://127.0.0.1:4444).
    #[arg(long)]
    pub endpoint: Option<String>,
    /// Extra CA certificate (PEM) to trust.
    #[arg(long)]
    pub ca_cert: Option<PathBuf>,
}

/// `auth google …`.
#[derive(Subcommand, Debug)]
pub enum GoogleCmd {
    /// Print the consent link (FormCodeRetrievalLink) for the chosen services. The PKCE verifier is kept for
    /// `auth google token`. Open the link, allow access, then copy the `code` parameter from the address the
    /// browser is sent to (or use `cloudmux auth login`, which catches it for you).
    Url {
        /// OAuth client id.
        #[arg(long)]
        client_id: String,
        /// Ask for Google Drive.
        #[arg(long)]
        drive: bool,
        /// Ask for Google Photos (app-created media and the Picker).
        #[arg(long)]
        photos: bool,
        /// Ask for Google Calendar.
        #[arg(long)]
        calendar: bool,
        /// Ask for Google Sheets.
        #[arg(long)]
        sheets: bool,
        /// Loopback redirect URI.
        #[arg(long, default_value = "http://127.0.0.1:8085/")]
        redirect_uri: String,
        #[command(flatten)]
        ep: EndpointArg,
    },
    /// Exchange a code for tokens (GetTokenByCode). The code lives only minutes and works once.
    Token {
        /// OAuth client id.
        #[arg(long)]
        client_id: String,
        /// OAuth client secret.
        #[arg(long)]
        client_secret: String,
        /// The code (or the whole redirected URL).
        #[arg(long)]
        code: String,
        /// PKCE verifier (default: the one `auth google url` kept).
        #[arg(long)]
        code_verifier: Option<String>,
        /// Redirect URI used in the link (default: the one `auth google url` kept).
        #[arg(long)]
        redirect_uri: Option<String>,
        #[command(flatten)]
        ep: EndpointArg,
    },
    /// Get a new access token with a refresh token (RefreshToken); the refresh token stays the same.
    Refresh {
        /// OAuth client id.
        #[arg(long)]
        client_id: String,
        /// OAuth client secret.
        #[arg(long)]
        client_secret: String,
        /// The refresh token.
        #[arg(long)]
        refresh_token: String,
        #[command(flatten)]
        ep: EndpointArg,
    },
}

/// What `auth google url` keeps for `auth google token`.
#[derive(Serialize, Deserialize)]
struct Pending {
    client_id: String,
    redirect_uri: String,
    verifier: Secret,
    state: String,
}

fn pending_path(cfg: &Config) -> PathBuf {
    cfg.dir().join("state").join("pending-google.json")
}

fn api(ep: &EndpointArg) -> Result<cloudmux_http::Api> {
    google::oauth_api(http_config("auth", None, ep.ca_cert.as_deref())?)
}

fn print_token(out: Out, t: &TokenResponse) {
    // This command's purpose is to print the tokens; everything else redacts them.
    out.json(&t.to_seed_json());
}

fn open_browser(url: &str) -> bool {
    for cmd in ["xdg-open", "open", "sensible-browser"] {
        if std::process::Command::new(cmd)
            .arg(url)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .is_ok()
        {
            return true;
        }
    }
    false
}

/// Runs an `auth` command.
pub async fn run(cfg: &Config, out: Out, cmd: AuthCmd) -> anyhow::Result<()> {
    match cmd {
        AuthCmd::Login {
            remote,
            no_browser,
            port,
            code_flow,
        } => {
            let rc = cfg.remote(&remote)?;
            match cloudmux_remote::backend(&rc.kind)?.sign_in(rc)? {
                SignIn::Yandex => yandex_login(cfg, out, &remote, code_flow).await?,
                SignIn::Google { scopes } => {
                    login(cfg, out, &remote, &scopes, no_browser, port).await?
                }
                SignIn::GoogleServiceAccount { .. } => {
                    let src = cloudmux_remote::open::token_source(cfg, &remote, rc)?;
                    if let Some(src) = src {
                        src.token().await?;
                    }
                    out.line(format!("{remote}: the service-account key works"));
                }
                SignIn::None => {
                    return Err(Error::invalid(format!(
                        "remote {remote} ({}) needs no sign-in",
                        rc.kind
                    ))
                    .into());
                }
            }
        }
        AuthCmd::Status { remote } => {
            let rc = cfg.remote(&remote)?;
            if let SignIn::GoogleServiceAccount { key, .. } =
                cloudmux_remote::backend(&rc.kind)?.sign_in(rc)?
            {
                out.json(&json!({"remote": remote, "signed_in": true, "service_account": key}));
                return Ok(());
            }
            match cfg.tokens().load(&remote) {
                Ok(t) => {
                    let now = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)?
                        .as_secs();
                    out.json(&json!({"remote": remote, "signed_in": true, "has_refresh_token": t.refresh_token.is_some(),
                        "scopes": t.scope.split_whitespace().collect::<Vec<_>>(), "access_token_expires_in": t.expires_at.map(|e| e as i64 - now as i64),
                        "token_file": cfg.tokens().path(&remote)}));
                }
                Err(e) if e.kind() == ErrorKind::ReauthRequired => {
                    out.json(&json!({"remote": remote, "signed_in": false, "hint": format!("cloudmux auth login {remote}")}));
                }
                Err(e) => return Err(e.into()),
            }
        }
        AuthCmd::Logout { remote } => {
            let rc = cfg.remote(&remote)?;
            if let Ok(t) = cfg.tokens().load(&remote)
                && let Some(r) = &t.refresh_token
                && let SignIn::Google { .. } = cloudmux_remote::backend(&rc.kind)?.sign_in(rc)?
            {
                let ep = Endpoints::for_base(rc.endpoint());
                if let Err(e) = google::revoke(
                    &google::oauth_api(http_config(&remote, Some(rc), None)?)?,
                    &ep,
                    r,
                )
                .await
                {
                    out.note(format!(
                        "note: could not revoke the token at Google ({e}); forgetting it anyway"
                    ));
                }
            }
            let had = cfg.tokens().remove(&remote)?;
            out.line(if had {
                format!("signed out of {remote}")
            } else {
                format!("{remote} was not signed in")
            });
        }
        AuthCmd::Google(g) => google_cmd(cfg, out, g).await?,
        AuthCmd::Yandex(y) => yandex_cmd(cfg, out, y).await?,
    }
    Ok(())
}

async fn login(
    cfg: &Config,
    out: Out,
    remote: &str,
    scopes: &[String],
    no_browser: bool,
    port: u16,
) -> Result<()> {
    let rc = cfg.remote(remote)?;
    let api = google::oauth_api(http_config(remote, Some(rc), None)?)?;
    let ep = Endpoints::for_base(rc.endpoint());
    let (id, secret) = cloudmux_remote::open::client_credentials(remote, rc)?;
    let (id, secret) = (&id, secret.expose().to_string());
    let opts = LoginOptions {
        port,
        accept_paste: true,
        ..Default::default()
    };
    let json = out.json;
    let t = google::loopback_login(&api, &ep, id, &Secret::new(secret.clone()), scopes, &opts, |url| {
        if no_browser || !open_browser(url) {
            if !json {
                eprintln!("Open this link in a browser, sign in and allow access (or paste the code here):");
            }
            println!("{url}");
        } else if !json {
            eprintln!("A browser window was opened for the sign-in. If none appears, open:\n{url}");
        }
    })
    .await
    .map_err(|e| match e.hint() {
        Some(h) => {
            let h = h.replace("REMOTE", remote);
            e.with_hint(h)
        }
        None => e,
    })?;
    let granted = t.scope.clone();
    let missing: Vec<&String> = scopes
        .iter()
        .filter(|s| !granted.split_whitespace().any(|g| g == s.as_str()))
        .collect();
    let path = cfg.tokens().save(remote, &t.into_stored(None))?;
    if out.json {
        out.json(&json!({"remote": remote, "signed_in": true, "token_file": path, "scopes": granted.split_whitespace().collect::<Vec<_>>(), "missing_scopes": missing}));
    } else {
        out.line(format!(
            "{remote}: signed in; tokens saved to {} (mode 0600)",
            path.display()
        ));
        if !missing.is_empty() {
            eprintln!(
                "warning: these permissions were not granted: {}",
                missing
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            eprintln!(
                "  hint: run `cloudmux auth login {remote}` again and tick every box on the consent screen"
            );
        }
    }
    Ok(())
}

async fn google_cmd(cfg: &Config, out: Out, cmd: GoogleCmd) -> Result<()> {
    match cmd {
        GoogleCmd::Url {
            client_id,
            drive,
            photos,
            calendar,
            sheets,
            redirect_uri,
            ep,
        } => {
            let mut services = Vec::new();
            for (on, s) in [
                (drive, Service::Drive),
                (photos, Service::Photos),
                (calendar, Service::Calendar),
                (sheets, Service::Sheets),
            ] {
                if on {
                    services.push(s);
                }
            }
            if services.is_empty() {
                return Err(Error::invalid("choose at least one service")
                    .with_hint("add --drive, --photos, --calendar and/or --sheets"));
            }
            let u = url::Url::parse(&redirect_uri)
                .map_err(|e| Error::invalid(format!("bad --redirect-uri: {e}")))?;
            if redirect_uri.contains("oob")
                || !matches!(u.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"))
            {
                return Err(Error::invalid(
                    "the redirect URI must be a loopback address such as http://127.0.0.1:8085/",
                )
                .with_hint("Google blocked the out-of-band (oob) flow in 2022"));
            }
            let endpoints = Endpoints::for_base(ep.endpoint.as_deref());
            let link = google::consent_url(&endpoints, &client_id, &services, &redirect_uri);
            let p = Pending {
                client_id,
                redirect_uri: link.redirect_uri.clone(),
                verifier: link.verifier.clone(),
                state: link.state.clone(),
            };
            write_private(
                &pending_path(cfg),
                &serde_json::to_vec(&p).map_err(|e| Error::invalid(e.to_string()))?,
            )?;
            if out.json {
                out.json(&json!({"url": link.url, "state": link.state, "redirect_uri": link.redirect_uri}));
            } else {
                out.line(&link.url);
                eprintln!(
                    "Open the link, allow access, then copy the `code` parameter from the address your browser is sent to"
                );
                eprintln!(
                    "(the page itself will not load) and run: cloudmux auth google token --client-id … --client-secret … --code CODE"
                );
                eprintln!(
                    "The code lives only a few minutes. `cloudmux auth login REMOTE` does all of this in one step."
                );
            }
        }
        GoogleCmd::Token {
            client_id,
            client_secret,
            code,
            code_verifier,
            redirect_uri,
            ep,
        } => {
            let pending: Option<Pending> = std::fs::read(pending_path(cfg))
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok())
                .filter(|p: &Pending| p.client_id == client_id);
            let code = if code.contains("code=") {
                let q = code.split_once('?').map(|(_, q)| q).unwrap_or(&code);
                url::form_urlencoded::parse(q.as_bytes())
                    .find(|(k, _)| k == "code")
                    .map(|(_, v)| v.into_owned())
                    .unwrap_or(code.clone())
            } else {
                code
            };
            let verifier = code_verifier
                .map(Secret::new)
                .or(pending.as_ref().map(|p| p.verifier.clone()));
            let redirect = redirect_uri
                .or(pending.as_ref().map(|p| p.redirect_uri.clone()))
                .unwrap_or_else(|| "http://127.0.0.1:8085/".into());
            let endpoints = Endpoints::for_base(ep.endpoint.as_deref());
            let t = google::exchange_code(&api(&ep)?, &endpoints, &client_id, &Secret::new(client_secret), &code, &redirect, verifier.as_ref())
                .await
                .map_err(|e| if e.reason() == Some("invalid_grant") {
                    e.with_hint("the code expired (they live minutes), was already used, or came from another link: run `cloudmux auth google url` again, or use `cloudmux auth login REMOTE`, which catches the code at once")
                } else { e })?;
            let _ = std::fs::remove_file(pending_path(cfg));
            print_token(out, &t);
        }
        GoogleCmd::Refresh {
            client_id,
            client_secret,
            refresh_token,
            ep,
        } => {
            let endpoints = Endpoints::for_base(ep.endpoint.as_deref());
            let mut t = google::refresh(
                &api(&ep)?,
                &endpoints,
                &client_id,
                &Secret::new(client_secret),
                &Secret::new(refresh_token.clone()),
            )
            .await?;
            if t.refresh_token.is_none() {
                t.refresh_token = Some(Secret::new(refresh_token));
            }
            print_token(out, &t);
        }
    }
    Ok(())
}

async fn yandex_login(cfg: &Config, out: Out, remote: &str, code_flow: bool) -> Result<()> {
    use cloudmux_auth::yandex;
    let rc = cfg.remote(remote)?;
    let (id, secret) = cloudmux_remote::open::client_credentials(remote, rc)?;
    let id = &id;
    let api = cloudmux_auth::oauth::oauth_api(http_config(remote, Some(rc), None)?)?;
    let ep = yandex::Endpoints::for_base(rc.endpoint());
    let (device_id, device_name) = yandex::device_identity(&cfg.dir());
    let t = if code_flow {
        let (url, verifier, _state) =
            yandex::authorize_url(&ep, id, None, Some((&device_id, &device_name)));
        if !out.json {
            eprintln!(
                "Open this link, allow access, and paste the confirmation code Yandex shows:"
            );
        }
        println!("{url}");
        let mut line = String::new();
        let mut rd = tokio::io::BufReader::new(tokio::io::stdin());
        tokio::io::AsyncBufReadExt::read_line(&mut rd, &mut line).await?;
        if line.trim().is_empty() {
            return Err(Error::invalid("no code was entered")
                .with_hint("paste the confirmation code and press Enter"));
        }
        yandex::exchange_code(&api, &ep, id, &secret, line.trim(), Some(&verifier)).await?
    } else {
        let dc = yandex::device_code(&api, &ep, id, Some((&device_id, &device_name)), None).await?;
        if out.json {
            out.json(&json!({"verification_url": dc.verification_url, "user_code": dc.user_code, "expires_in": dc.expires_in}));
        } else {
            eprintln!(
                "On any device, open {} and enter the code:",
                dc.verification_url
            );
            println!("{}", dc.user_code);
            eprintln!(
                "Waiting for the approval (the code lives {} minutes)…",
                dc.expires_in / 60
            );
        }
        yandex::wait_for_token(&api, &ep, id, &secret, &dc, |_| {}).await.map_err(|e| match e.reason() {
            Some("access_denied") => e.with_hint(format!("access was refused on the Yandex page; run `cloudmux auth login {remote}` again to retry")),
            Some("expired_token") => e.with_hint(format!("the code was not entered in time; run `cloudmux auth login {remote}` again")),
            _ => e,
        })?
    };
    let path = cfg.tokens().save(remote, &t.into_stored(None))?;
    if out.json {
        out.json(&json!({"remote": remote, "signed_in": true, "token_file": path}));
    } else {
        out.line(format!(
            "{remote}: signed in; tokens saved to {} (mode 0600)",
            path.display()
        ));
    }
    Ok(())
}

async fn yandex_cmd(cfg: &Config, out: Out, cmd: YandexCmd) -> Result<()> {
    use cloudmux_auth::yandex;
    match cmd {
        YandexCmd::DeviceCode { client_id, ep } => {
            let (device_id, device_name) = yandex::device_identity(&cfg.dir());
            let endpoints = yandex::Endpoints::for_base(ep.endpoint.as_deref());
            let dc = yandex::device_code(
                &api(&ep)?,
                &endpoints,
                &client_id,
                Some((&device_id, &device_name)),
                None,
            )
            .await?;
            out.json(&serde_json::to_value(&dc).map_err(|e| Error::invalid(e.to_string()))?);
        }
        YandexCmd::Token {
            client_id,
            client_secret,
            device_code,
            wait,
            interval,
            timeout,
            ep,
        } => {
            let endpoints = yandex::Endpoints::for_base(ep.endpoint.as_deref());
            let secret = Secret::new(client_secret);
            let api = api(&ep)?;
            let t = if wait {
                let dc = yandex::DeviceCode {
                    device_code,
                    user_code: String::new(),
                    verification_url: String::new(),
                    interval,
                    expires_in: timeout,
                };
                let json = out.json;
                yandex::wait_for_token(&api, &endpoints, &client_id, &secret, &dc, |n| {
                    if !json {
                        eprintln!("authorization_pending ({n}): waiting for the approval…");
                    }
                })
                .await?
            } else {
                yandex::token_from_device_code(&api, &endpoints, &client_id, &secret, &device_code)
                    .await?
            };
            print_token(out, &t);
        }
        YandexCmd::Refresh {
            client_id,
            client_secret,
            refresh_token,
            ep,
        } => {
            let endpoints = yandex::Endpoints::for_base(ep.endpoint.as_deref());
            let t = yandex::refresh(
                &api(&ep)?,
                &endpoints,
                &client_id,
                &Secret::new(client_secret),
                &Secret::new(refresh_token),
            )
            .await?;
            print_token(out, &t);
        }
    }
    Ok(())
}
