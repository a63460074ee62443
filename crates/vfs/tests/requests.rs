//! What a small new file costs in requests, counted by the emulator: Drive one (the engine's listing tells
//! Drive nothing is there, so no lookup precedes the upload; ids come a hundred per `generateIds`),
//! Yandex Disk three (the upload link, the PUT, and the custom property that keeps the modification time,
//! whose answer also serves as the upload's check), Google Photos its upload and a share of one
//! `batchCreate`.
use std::sync::Arc;

use cloudmux_core::Storage;
use cloudmux_emulator::{Config, Emulator};
use cloudmux_vfs::{Mode, Options};

mod common;
use common::{backends, go, photos};

const FILES: usize = 40;

fn requests(e: &Emulator, hosts: &[&str]) -> u64 {
    let f = e.state().faults.lock().unwrap();
    hosts
        .iter()
        .map(|h| f.requests.get(*h).copied().unwrap_or(0))
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_new_file_costs_the_apis_minimum() {
    let e = Emulator::start(Config::default()).await.unwrap();
    let (drive, yandex) = backends(&e, cloudmux_http::HttpConfig::default(), None).await;
    let gphotos = photos(&e);
    let src_dir = tempfile::tempdir().unwrap();
    for i in 0..FILES {
        std::fs::write(
            src_dir.path().join(format!("f{i:02}.jpg")),
            format!("small {i}"),
        )
        .unwrap();
    }
    let src: Arc<dyn Storage> =
        Arc::new(cloudmux_local::LocalStorage::new(src_dir.path()).unwrap());
    for s in [&drive, &yandex] {
        s.mkdir("dst").await.unwrap();
    }
    gphotos.mkdir("album/dst").await.unwrap();
    let o = Options::default();
    // Destination, its folder, the hosts whose requests count, requests per file.
    type Case<'a> = (&'a Arc<dyn Storage>, &'a str, &'a [&'a str], f64);
    let cases: [Case; 3] = [
        (&drive, "dst", &["www.googleapis.com"], 1.0),
        (
            &yandex,
            "dst",
            &["cloud-api.yandex.net", "uploader.disk.yandex.net"],
            3.0,
        ),
        (
            &gphotos,
            "album/dst",
            &["photoslibrary.googleapis.com"],
            1.5,
        ),
    ];
    for (to, root, hosts, per_file) in cases {
        let before = requests(&e, hosts);
        let s = go(Mode::Copy, (&src, ""), (to, root), &o).await;
        assert!(s.errors.is_empty(), "{}: {:?}", to.kind(), s.errors);
        assert_eq!(s.copied, FILES);
        let spent = requests(&e, hosts) - before;
        // The walk of the destination and one generateIds / album lookup come on top.
        let budget = (FILES as f64 * per_file).ceil() as u64 + 4;
        assert!(
            spent <= budget,
            "{}: {spent} requests for {FILES} small files (at most {budget})",
            to.kind()
        );
        println!("{}: {spent} requests for {FILES} files", to.kind());
    }
}
