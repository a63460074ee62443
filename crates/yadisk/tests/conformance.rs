//! The conformance kit on Yandex Disk, against the in-process emulator.
use std::sync::{Arc, OnceLock};

use cloudmux_core::Storage;
use cloudmux_core::conformance::KitConfig;
use cloudmux_emulator::{Config, Emulator};
use cloudmux_http::{Secret, StaticToken};
use cloudmux_yadisk::{YadiskClient, YadiskConfig, YadiskStorage};

static EMU: OnceLock<(String, String)> = OnceLock::new();

async fn make() -> (Arc<dyn Storage>, KitConfig) {
    let (base, token) = EMU.get_or_init(|| {
        let (base, state) = Emulator::start_detached(Config::default()).unwrap();
        let t = state.yandex_token();
        (base, t)
    });
    // Small pages and chunks so paging and chunked uploads are exercised.
    let cfg = YadiskConfig {
        endpoint: Some(base.clone()),
        page_limit: 100,
        chunk_size: 1024 * 1024,
        ..Default::default()
    };
    let client = YadiskClient::new(cfg, Arc::new(StaticToken(Secret::new(token.clone())))).unwrap();
    (
        Arc::new(YadiskStorage::new(client, "disk:/").unwrap()),
        KitConfig::default(),
    )
}

cloudmux_core::conformance_tests!(make);
