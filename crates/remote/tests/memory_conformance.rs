//! The conformance kit on the in-memory backend (`type = "memory"`).
use std::sync::Arc;

use cloudmux_core::Storage;
use cloudmux_core::conformance::KitConfig;
use cloudmux_core::memory::MemoryStorage;

async fn make() -> (Arc<dyn Storage>, KitConfig) {
    // Names are kept as they are written: the safe form of `..` is just a name here.
    let cfg = KitConfig {
        any_name: true,
        ..KitConfig::default()
    };
    (Arc::new(MemoryStorage::new()), cfg)
}

cloudmux_core::conformance_tests!(make);
