//! The conformance kit on the local disk.
use std::sync::{Arc, OnceLock};

use cloudmux_core::Storage;
use cloudmux_core::conformance::KitConfig;

static ROOT: OnceLock<tempfile::TempDir> = OnceLock::new();

async fn make() -> (Arc<dyn Storage>, KitConfig) {
    let root = ROOT.get_or_init(|| tempfile::tempdir().unwrap());
    let s = cloudmux_local::LocalStorage::new(root.path()).unwrap();
    (Arc::new(s), KitConfig::default())
}

cloudmux_core::conformance_tests!(make);
