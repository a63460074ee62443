//! A folder of the local disk.

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use cloudmux_core::{Error, Result, Storage};
use cloudmux_local::LocalStorage;
use serde::Deserialize;

use crate::backend::{Backend, OpenCtx, OptionKind, OptionSpec, SignIn};
use crate::config::RemoteConfig;

/// The local-disk backend.
pub struct Local;

/// A local remote's options.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Options {
    /// The folder.
    pub path: PathBuf,
}

const OPTIONS: &[OptionSpec] = &[OptionSpec::text("path", "The folder (made absolute)")
    .of(OptionKind::Path)
    .required()];

#[async_trait]
impl Backend for Local {
    fn kind(&self) -> &'static str {
        "local"
    }

    fn about(&self) -> &'static str {
        "A folder of the local disk"
    }

    fn options(&self) -> &'static [OptionSpec] {
        OPTIONS
    }

    fn check(&self, config: &mut RemoteConfig) -> Result<()> {
        let o: Options = config.typed()?;
        if !o.path.is_dir() {
            return Err(Error::invalid(format!(
                "{} is not a folder",
                o.path.display()
            )));
        }
        Ok(())
    }

    fn sign_in(&self, _: &RemoteConfig) -> Result<SignIn> {
        Ok(SignIn::None)
    }

    async fn open(&self, ctx: OpenCtx<'_>) -> Result<Arc<dyn Storage>> {
        let o: Options = ctx.options()?;
        Ok(Arc::new(LocalStorage::new(o.path)?))
    }
}
