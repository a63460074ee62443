//! The applicable part of the conformance kit on Google Photos (rooted at `album/`, where folders are albums),
//! against the emulator. Photos cannot delete, rename, copy or overwrite, so those cases do not apply.
use std::sync::{Arc, OnceLock};

use cloudmux_core::Storage;
use cloudmux_core::conformance::KitConfig;
use cloudmux_emulator::{Config, DEMO_CLIENT_ID, Emulator};
use cloudmux_gphotos::{GPhotosStorage, PhotosClient, PhotosConfig};
use cloudmux_http::{Secret, StaticToken};

static EMU: OnceLock<(String, String)> = OnceLock::new();

async fn make() -> (Arc<dyn Storage>, KitConfig) {
    let (base, token) = EMU.get_or_init(|| {
        let (base, state) = Emulator::start_detached(Config::default()).unwrap();
        let t = state.google_token(
            DEMO_CLIENT_ID,
            &[
                "photoslibrary.appendonly",
                "photoslibrary.readonly.appcreateddata",
                "photoslibrary.edit.appcreateddata",
            ],
        );
        (base, t)
    });
    let cfg = PhotosConfig {
        endpoint: Some(base.clone()),
        chunk_size: 1024 * 1024,
        ..Default::default()
    };
    let client = PhotosClient::new(cfg, Arc::new(StaticToken(Secret::new(token.clone())))).unwrap();
    (
        Arc::new(GPhotosStorage::new(client, "album").unwrap()),
        KitConfig {
            many_entries: 130,
            any_name: true,
            ..KitConfig::default()
        },
    )
}

cloudmux_core::conformance_tests!(@cases make; list_empty, list_many, put_zero, put_small, put_large, put_unknown_size, read_range, stat, hostile_names, about);
