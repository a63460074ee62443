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

/// A walk of a Drive tree asks for up to 50 folders' children in one `files.list` (`'a' in parents or
/// 'b' in parents …`), as rclone's `--fast-list` does; what it finds is what folder-by-folder listings find.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drive_tree_is_walked_in_batches_of_folders() {
    let e = Emulator::start(Config::default()).await.unwrap();
    let (drive, _) = backends(&e, cloudmux_http::HttpConfig::default(), None).await;
    let src_dir = tempfile::tempdir().unwrap();
    // 4 folders of 30 folders of 2 files: 125 folders with the root.
    for a in 0..4 {
        for b in 0..30 {
            let d = src_dir.path().join(format!("a{a}/b{b:02}"));
            std::fs::create_dir_all(&d).unwrap();
            for f in 0..2 {
                std::fs::write(d.join(format!("f{f}.txt")), format!("{a} {b} {f}")).unwrap();
            }
        }
    }
    let src: Arc<dyn Storage> =
        Arc::new(cloudmux_local::LocalStorage::new(src_dir.path()).unwrap());
    let o = Options::default();
    let s = go(Mode::Copy, (&src, ""), (&drive, "tree"), &o).await;
    assert!(s.errors.is_empty(), "{:?}", s.errors);
    assert_eq!(s.copied, 240);

    // A fresh storage, so that no folder id is known beforehand.
    let (drive, _) = backends(&e, cloudmux_http::HttpConfig::default(), None).await;
    let hosts = &["www.googleapis.com"];
    let before = requests(&e, hosts);
    let s = go(Mode::Check, (&src, ""), (&drive, "tree"), &o).await;
    let spent = requests(&e, hosts) - before;
    assert!(
        s.missing.is_empty() && s.extra.is_empty() && s.differ.is_empty() && s.errors.is_empty(),
        "{s:?}"
    );
    assert_eq!(s.unchanged, 240, "{s:?}");
    // The root's lookup and stat, one listing of the root, 4 of the first level (spread over the
    // checkers) and 8 of the second (30 folders in groups of up to 50, spread over 8 checkers)
    // against 125 folder by folder.
    println!("walking 125 Drive folders: {spent} requests");
    assert!(spent <= 20, "{spent} requests to walk 125 folders");

    // Each folder's batched listing is its own listing.
    let dirs: Vec<String> = (0..30).map(|b| format!("tree/a1/b{b:02}")).collect();
    let many = drive.list_many(&dirs).await.unwrap();
    for (d, got) in dirs.iter().zip(many) {
        let mut got: Vec<String> = got.into_iter().map(|e| e.path).collect();
        let mut want: Vec<String> = cloudmux_core::list_all(&*drive, d)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.path)
            .collect();
        got.sort();
        want.sort();
        assert_eq!(got, want, "{d}");
        assert_eq!(got.len(), 2, "{d}");
    }
}
