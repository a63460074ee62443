//! Set-up shared by the cross-backend tests: a test tree and storages on the emulator.
#![allow(dead_code)]

use std::sync::Arc;

use cloudmux_core::Storage;
use cloudmux_core::conformance::pattern;
use cloudmux_emulator::Emulator;
use cloudmux_http::{Secret, StaticToken};

/// Files of [`tree`], relative to its root.
pub const TREE_FILES: &[&str] = &[
    "1/2/3/4/5/deep.txt",
    "zero.bin",
    "big.bin",
    "naïve café/it's \"q\" & more.txt",
    "ünï/日本語 #1%.txt",
];

/// The content of [`TREE_FILES`]` [i]`.
pub fn content(rel: &str) -> Vec<u8> {
    match rel {
        "zero.bin" => vec![],
        "big.bin" => pattern(10 * 1024 * 1024 + 1, 2),
        other => format!("content of {other}").into_bytes(),
    }
}

/// Writes the test tree under `dir`: five levels of nesting, unicode and awkward names, a zero-byte and a
/// 10 MiB file, and empty folders.
pub fn tree(dir: &std::path::Path) {
    for p in TREE_FILES {
        let f = dir.join(p);
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
        std::fs::write(f, content(p)).unwrap();
    }
    std::fs::create_dir_all(dir.join("empty/inner")).unwrap();
}

/// Drive and Yandex Disk storages on the emulator (small chunks when `chunk` is given).
pub async fn backends(
    e: &Emulator,
    http: cloudmux_http::HttpConfig,
    chunk: Option<usize>,
) -> (Arc<dyn Storage>, Arc<dyn Storage>) {
    let gt = e.google_token(&["drive"]);
    let yt = e.yandex_token();
    let mut gcfg = cloudmux_gdrive::DriveConfig {
        endpoint: Some(e.base_url()),
        http: http.clone(),
        ..Default::default()
    };
    let mut ycfg = cloudmux_yadisk::YadiskConfig {
        endpoint: Some(e.base_url()),
        http,
        ..Default::default()
    };
    if let Some(c) = chunk {
        (gcfg.chunk_size, gcfg.multipart_max, ycfg.chunk_size) = (c, c as u64, c);
    }
    let gc =
        cloudmux_gdrive::DriveClient::new(gcfg, Arc::new(StaticToken(Secret::new(gt)))).unwrap();
    let yc =
        cloudmux_yadisk::YadiskClient::new(ycfg, Arc::new(StaticToken(Secret::new(yt)))).unwrap();
    let drive: Arc<dyn Storage> =
        Arc::new(cloudmux_gdrive::GDriveStorage::new(gc, None).await.unwrap());
    let yandex: Arc<dyn Storage> =
        Arc::new(cloudmux_yadisk::YadiskStorage::new(yc, "disk:/").unwrap());
    (drive, yandex)
}

/// Google Photos on the emulator, with the scopes of an app that uploads and reads its own items.
pub fn photos(e: &Emulator) -> Arc<dyn Storage> {
    let t = e.google_token(&[
        "photoslibrary.appendonly",
        "photoslibrary.readonly.appcreateddata",
        "photoslibrary.edit.appcreateddata",
    ]);
    let cfg = cloudmux_gphotos::PhotosConfig {
        endpoint: Some(e.base_url()),
        ..Default::default()
    };
    let c =
        cloudmux_gphotos::PhotosClient::new(cfg, Arc::new(StaticToken(Secret::new(t)))).unwrap();
    Arc::new(cloudmux_gphotos::GPhotosStorage::new(c, "root").unwrap())
}

/// Runs `mode` from `from` to `to` (storage and root each) with `o`, no progress, and unwraps the stats.
pub async fn go(
    mode: cloudmux_vfs::Mode,
    from: (&Arc<dyn Storage>, &str),
    to: (&Arc<dyn Storage>, &str),
    o: &cloudmux_vfs::Options,
) -> cloudmux_vfs::Stats {
    cloudmux_vfs::run(
        mode,
        (from.0.clone(), from.1.into()),
        (to.0.clone(), to.1.into()),
        o,
        |_| {},
    )
    .await
    .unwrap()
}

/// Makes the emulator fail a share `rate` of requests with every kind of fault it knows (429, 403 rate
/// limits, 503, 500 after acting, resets), drawn from `seed`; 0 turns them off.
pub fn faults(e: &Emulator, rate: f64, seed: u64) {
    use cloudmux_emulator::{FaultConfig, FaultKind};
    e.state().faults.lock().unwrap().set(FaultConfig {
        rate,
        kinds: vec![
            FaultKind::TooMany,
            FaultKind::RateLimit403,
            FaultKind::Unavailable,
            FaultKind::FailAfter,
            FaultKind::Reset,
        ],
        seed,
        ..FaultConfig::default()
    });
}
