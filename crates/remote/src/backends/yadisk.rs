//! Yandex Disk.

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use cloudmux_core::{Error, Result, Storage};
use cloudmux_yadisk::{YadiskClient, YadiskConfig, YadiskStorage};
use serde::Deserialize;

use crate::backend::{Backend, OpenCtx, OptionKind, OptionSpec, SignIn};
use crate::config::RemoteConfig;

/// The Yandex Disk backend.
pub struct Yadisk;

/// A Yandex Disk remote's options.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Options {
    /// OAuth client id.
    pub client_id: String,
    /// OAuth client secret.
    pub client_secret: String,
    /// `disk:/` (default), `app:/` or `disk:/some/folder`.
    pub root: Option<String>,
    /// Emulator base URL.
    pub endpoint: Option<String>,
    /// Extra CA.
    pub ca_cert: Option<PathBuf>,
}

const OPTIONS: &[OptionSpec] = &[
    OptionSpec::text(
        "client_id",
        "OAuth ClientID (an app registered at oauth.yandex.ru with the Yandex Disk REST API permissions)",
    )
    .required(),
    OptionSpec::text("client_secret", "OAuth client secret")
        .of(OptionKind::Secret)
        .required(),
    OptionSpec::text("root", "The root: disk:/ (default), app:/ or disk:/some/folder"),
    crate::backend::HTTP_OPTIONS[0],
    crate::backend::HTTP_OPTIONS[1],
];

#[async_trait]
impl Backend for Yadisk {
    fn kind(&self) -> &'static str {
        "yadisk"
    }

    fn about(&self) -> &'static str {
        "Yandex Disk (the whole disk, the app folder or a folder)"
    }

    fn options(&self) -> &'static [OptionSpec] {
        OPTIONS
    }

    fn check(&self, config: &mut RemoteConfig) -> Result<()> {
        let o: Options = config.typed()?;
        if let Some(r) = &o.root
            && !(r.starts_with("disk:/") || r.starts_with("app:/"))
        {
            return Err(Error::invalid(format!("bad root {r:?}"))
                .with_hint("use disk:/, app:/ or disk:/some/folder"));
        }
        Ok(())
    }

    fn sign_in(&self, _: &RemoteConfig) -> Result<SignIn> {
        Ok(SignIn::Yandex)
    }

    async fn open(&self, ctx: OpenCtx<'_>) -> Result<Arc<dyn Storage>> {
        Ok(storage(&ctx)?)
    }
}

/// A Yandex Disk client for a remote being opened.
pub fn client(ctx: &OpenCtx<'_>) -> Result<YadiskClient> {
    let o: Options = ctx.options()?;
    YadiskClient::new(
        YadiskConfig {
            endpoint: o.endpoint,
            http: ctx.http.clone(),
            ..Default::default()
        },
        ctx.token()?,
    )
}

/// The Yandex Disk storage of a remote being opened (for Yandex's own commands).
pub fn storage(ctx: &OpenCtx<'_>) -> Result<Arc<YadiskStorage>> {
    let o: Options = ctx.options()?;
    Ok(Arc::new(YadiskStorage::new(
        client(ctx)?,
        o.root.as_deref().unwrap_or("disk:/"),
    )?))
}
