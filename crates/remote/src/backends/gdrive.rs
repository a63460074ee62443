//! Google Drive.

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use cloudmux_core::{Error, Result, Storage};
use cloudmux_gdrive::{DriveClient, DriveConfig, GDriveStorage, RootSpec};
use serde::Deserialize;

use crate::backend::{Backend, OpenCtx, OptionKind, OptionSpec, SignIn};
use crate::config::RemoteConfig;

/// The Drive backend.
pub struct Gdrive;

/// A Drive remote's options.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Options {
    /// OAuth client id.
    pub client_id: Option<String>,
    /// OAuth client secret.
    pub client_secret: Option<String>,
    /// A service account's key file instead of a person's sign-in.
    pub service_account_file: Option<PathBuf>,
    /// A folder to use as the root.
    pub root_folder_id: Option<String>,
    /// A shared drive to use as the root.
    pub shared_drive_id: Option<String>,
    /// Google services to sign in for besides Drive.
    #[serde(default)]
    pub services: Vec<String>,
    /// Emulator base URL.
    pub endpoint: Option<String>,
    /// Extra CA.
    pub ca_cert: Option<PathBuf>,
}

const OPTIONS: &[OptionSpec] = &[
    OptionSpec::text(
        "client_id",
        "OAuth client id (a Desktop-app client of a Google Cloud project with the Drive API enabled)",
    ),
    OptionSpec::text("client_secret", "OAuth client secret").of(OptionKind::Secret),
    OptionSpec::text(
        "service_account_file",
        "Sign in with this service-account key file (JSON) instead of a person",
    )
    .of(OptionKind::Path),
    OptionSpec::text(
        "root_folder_id",
        "Use this folder (by id) as the remote's root",
    ),
    OptionSpec::text(
        "shared_drive_id",
        "Use this shared drive as the remote's root",
    ),
    OptionSpec::text(
        "services",
        "Google services to sign in for: drive (default), photos, calendar, sheets",
    )
    .of(OptionKind::List),
    crate::backend::HTTP_OPTIONS[0],
    crate::backend::HTTP_OPTIONS[1],
];

#[async_trait]
impl Backend for Gdrive {
    fn kind(&self) -> &'static str {
        "gdrive"
    }

    fn about(&self) -> &'static str {
        "Google Drive (My Drive, a folder or a shared drive)"
    }

    fn options(&self) -> &'static [OptionSpec] {
        OPTIONS
    }

    fn check(&self, config: &mut RemoteConfig) -> Result<()> {
        let o: Options = config.typed()?;
        if o.service_account_file.is_none() && (o.client_id.is_none() || o.client_secret.is_none())
        {
            return Err(Error::invalid(
                "a gdrive remote needs --client-id and --client-secret (or --service-account-file KEY.json)",
            )
            .with_hint(
                "create a Desktop-app OAuth client in the Google Cloud console (APIs & Services → Credentials)",
            ));
        }
        if let Some(sa) = &o.service_account_file {
            let v: serde_json::Value = serde_json::from_slice(&std::fs::read(sa)?)
                .map_err(|e| Error::invalid(format!("service-account key: {e}")))?;
            cloudmux_auth::google::ServiceAccount::from_json(&v)?;
        }
        crate::open::google_scopes(&o.services, "drive")?;
        Ok(())
    }

    fn sign_in(&self, config: &RemoteConfig) -> Result<SignIn> {
        let o: Options = config.typed()?;
        let scopes = crate::open::google_scopes(&o.services, "drive")?;
        Ok(match o.service_account_file {
            Some(key) => SignIn::GoogleServiceAccount { key, scopes },
            None => SignIn::Google { scopes },
        })
    }

    async fn open(&self, ctx: OpenCtx<'_>) -> Result<Arc<dyn Storage>> {
        Ok(storage(ctx).await?)
    }
}

/// A Drive client for a remote being opened.
pub fn client(ctx: &OpenCtx<'_>) -> Result<DriveClient> {
    let o: Options = ctx.options()?;
    DriveClient::new(
        DriveConfig {
            endpoint: o.endpoint,
            http: ctx.http.clone(),
            ..DriveConfig::default()
        },
        ctx.token()?,
    )
}

/// The Drive storage of a remote being opened (for Drive's own commands).
pub async fn storage(ctx: OpenCtx<'_>) -> Result<Arc<GDriveStorage>> {
    let o: Options = ctx.options()?;
    let root = match (o.shared_drive_id, o.root_folder_id) {
        (Some(d), _) => Some(RootSpec::SharedDrive(d)),
        (None, Some(f)) => Some(RootSpec::Folder(f)),
        _ => None,
    };
    let s = GDriveStorage::new(client(&ctx)?, root)
        .await
        .map_err(|e| crate::open::with_remote(e, ctx.name))?;
    Ok(Arc::new(s))
}
