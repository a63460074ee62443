//! The conformance kit on Drive, against the in-process emulator.
use std::sync::{Arc, OnceLock};

use cloudmux_core::Storage;
use cloudmux_core::conformance::KitConfig;
use cloudmux_emulator::{Config, DEMO_CLIENT_ID, Emulator};
use cloudmux_gdrive::{DriveClient, DriveConfig, GDriveStorage};
use cloudmux_http::{Secret, StaticToken};

static EMU: OnceLock<(String, String)> = OnceLock::new();

async fn make() -> (Arc<dyn Storage>, KitConfig) {
    let (base, token) = EMU.get_or_init(|| {
        let (base, state) = Emulator::start_detached(Config::default()).unwrap();
        let t = state.google_token(DEMO_CLIENT_ID, &["https://www.googleapis.com/auth/drive"]);
        (base, t)
    });
    // Small pages and chunks so paging and chunked uploads are exercised.
    let cfg = DriveConfig {
        endpoint: Some(base.clone()),
        page_size: 100,
        chunk_size: 1024 * 1024,
        multipart_max: 1024 * 1024,
        ..Default::default()
    };
    let client = DriveClient::new(cfg, Arc::new(StaticToken(Secret::new(token.clone())))).unwrap();
    let s = GDriveStorage::new(client, None).await.unwrap();
    (
        Arc::new(s),
        KitConfig {
            any_name: true,
            ..KitConfig::default()
        },
    )
}

cloudmux_core::conformance_tests!(make);
