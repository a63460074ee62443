//! Google Photos (the Library API's app-created items as a tree; the Picker for a user's library).

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use cloudmux_core::{Error, Result, Storage};
use cloudmux_gphotos::{GPhotosStorage, PhotosClient, PhotosConfig};
use serde::Deserialize;

use crate::backend::{Backend, OpenCtx, OptionKind, OptionSpec, SignIn};
use crate::config::RemoteConfig;

/// The Photos backend.
pub struct Gphotos;

/// A Photos remote's options.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Options {
    /// OAuth client id.
    pub client_id: Option<String>,
    /// OAuth client secret.
    pub client_secret: Option<String>,
    /// Google services to sign in for besides Photos.
    #[serde(default)]
    pub services: Vec<String>,
    /// The part of the tree to serve (`root`, `album`, `media/by-month`…).
    pub root: Option<String>,
    /// Emulator base URL.
    pub endpoint: Option<String>,
    /// Extra CA.
    pub ca_cert: Option<PathBuf>,
}

const OPTIONS: &[OptionSpec] = &[
    OptionSpec::text(
        "client_id",
        "OAuth client id (a project with the Photos Library and Photos Picker APIs enabled)",
    )
    .required(),
    OptionSpec::text("client_secret", "OAuth client secret")
        .of(OptionKind::Secret)
        .required(),
    OptionSpec::text(
        "services",
        "Google services to sign in for: photos (default), drive, calendar, sheets",
    )
    .of(OptionKind::List),
    OptionSpec::text(
        "root",
        "The part of the tree to serve: root (default), album, media, upload",
    ),
    crate::backend::HTTP_OPTIONS[0],
    crate::backend::HTTP_OPTIONS[1],
];

#[async_trait]
impl Backend for Gphotos {
    fn kind(&self) -> &'static str {
        "gphotos"
    }

    fn about(&self) -> &'static str {
        "Google Photos (albums and media the app made; a user's library through the Picker)"
    }

    fn options(&self) -> &'static [OptionSpec] {
        OPTIONS
    }

    fn check(&self, config: &mut RemoteConfig) -> Result<()> {
        let o: Options = config.typed()?;
        crate::open::google_scopes(&o.services, "photos")?;
        if let Some(r) = &o.root {
            cloudmux_core::path::normalize(r).map_err(|e| {
                Error::invalid(format!("bad root {r:?}: {e}")).with_hint("use root, album or media")
            })?;
        }
        Ok(())
    }

    fn sign_in(&self, config: &RemoteConfig) -> Result<SignIn> {
        let o: Options = config.typed()?;
        Ok(SignIn::Google {
            scopes: crate::open::google_scopes(&o.services, "photos")?,
        })
    }

    async fn open(&self, ctx: OpenCtx<'_>) -> Result<Arc<dyn Storage>> {
        let o: Options = ctx.options()?;
        Ok(Arc::new(GPhotosStorage::new(
            client(&ctx)?,
            o.root.as_deref().unwrap_or("root"),
        )?))
    }
}

/// A Photos Library client for a remote being opened.
pub fn client(ctx: &OpenCtx<'_>) -> Result<PhotosClient> {
    let o: Options = ctx.options()?;
    PhotosClient::new(
        PhotosConfig {
            endpoint: o.endpoint,
            http: ctx.http.clone(),
            ..Default::default()
        },
        ctx.token()?,
    )
}

/// A Photos Picker client for a remote being opened.
pub fn picker(ctx: &OpenCtx<'_>) -> Result<cloudmux_gphotos::PickerClient> {
    let o: Options = ctx.options()?;
    cloudmux_gphotos::PickerClient::new(o.endpoint.as_deref(), ctx.http.clone(), ctx.token()?)
}
