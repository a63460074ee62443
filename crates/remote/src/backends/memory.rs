//! Files in memory, gone when the process ends: fast tests of the engine and the server without an
//! emulator, and a scratch remote.

use std::sync::Arc;

use async_trait::async_trait;
use cloudmux_core::{Result, Storage};
use serde::Deserialize;

use crate::backend::{Backend, OpenCtx, OptionSpec, SignIn};
use crate::config::RemoteConfig;

/// The in-memory backend.
pub struct Memory;

/// A memory remote has no options.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Options {}

#[async_trait]
impl Backend for Memory {
    fn kind(&self) -> &'static str {
        "memory"
    }

    fn about(&self) -> &'static str {
        "Files held in memory while the process runs (tests, scratch space)"
    }

    fn options(&self) -> &'static [OptionSpec] {
        &[]
    }

    fn check(&self, config: &mut RemoteConfig) -> Result<()> {
        config.typed::<Options>().map(|_| ())
    }

    fn sign_in(&self, _: &RemoteConfig) -> Result<SignIn> {
        Ok(SignIn::None)
    }

    async fn open(&self, _: OpenCtx<'_>) -> Result<Arc<dyn Storage>> {
        Ok(Arc::new(cloudmux_core::memory::MemoryStorage::default()))
    }
}
