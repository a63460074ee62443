//! Yandex Disk behaviour beyond the conformance kit, against the emulator.

use std::sync::Arc;

use cloudmux_core::conformance::pattern;
use cloudmux_core::{
    ByteRange, ErrorKind, Storage, WriteOptions, bytes_stream, collect_bytes, list_all,
};
use cloudmux_emulator::{Config, DEMO_CLIENT_ID, Emulator, FaultConfig, FaultKind};
use cloudmux_http::{HttpConfig, RetryPolicy, Secret, StaticToken};
use cloudmux_yadisk::{YadiskClient, YadiskConfig, YadiskStorage};

async fn setup(root: &str, chunk: usize) -> (Emulator, YadiskStorage) {
    let e = Emulator::start(Config::default()).await.unwrap();
    let t = e.state().yandex_token();
    let http = HttpConfig {
        retry: RetryPolicy {
            max_attempts: 10,
            min_delay: std::time::Duration::from_millis(5),
            max_delay: std::time::Duration::from_millis(50),
        },
        ..HttpConfig::default()
    };
    let cfg = YadiskConfig {
        endpoint: Some(e.base_url()),
        page_limit: 50,
        chunk_size: chunk,
        http,
    };
    let c = YadiskClient::new(cfg, Arc::new(StaticToken(Secret::new(t)))).unwrap();
    (e, YadiskStorage::new(c, root).unwrap())
}

/// Requests the emulator has seen to Yandex Disk's API (not its upload and download hosts).
fn api_requests(e: &Emulator) -> u64 {
    e.state()
        .faults
        .lock()
        .unwrap()
        .requests
        .get("cloud-api.yandex.net")
        .copied()
        .unwrap_or(0)
}

async fn put(s: &dyn Storage, p: &str, data: &[u8]) -> cloudmux_core::Result<cloudmux_core::Entry> {
    s.write(
        p,
        bytes_stream(data.to_vec(), 64 * 1024),
        WriteOptions {
            size: Some(data.len() as u64),
            ..Default::default()
        },
    )
    .await
}

/// A chunk whose connection breaks is sent again; the upload server keeps what it had, so less than one
/// chunk travels twice, and the file arrives whole.
#[tokio::test]
async fn broken_chunk_is_resent() {
    let chunk = 1024 * 1024;
    let (e, s) = setup("disk:/", chunk).await;
    let data = pattern(3 * chunk + 999, 8);
    let before = e.state().disk.lock().unwrap().upload_bytes;
    e.state().faults.lock().unwrap().set(FaultConfig {
        drop_upload_after: Some(700 * 1024),
        ..FaultConfig::default()
    });
    put(&s, "big.bin", &data).await.unwrap();
    let sent = e.state().disk.lock().unwrap().upload_bytes - before;
    let extra = sent - data.len() as u64;
    assert!(
        extra < chunk as u64,
        "re-sent {extra} bytes, less than one chunk"
    );
    let back = collect_bytes(s.read("big.bin", ByteRange::all()).await.unwrap())
        .await
        .unwrap();
    assert!(back == data);
}

/// 10 % of requests fail (429, 503, resets): every file still arrives intact.
#[tokio::test]
async fn survives_random_faults() {
    let (e, s) = setup("disk:/", 256 * 1024).await;
    e.state().faults.lock().unwrap().set(FaultConfig {
        rate: 0.1,
        kinds: vec![FaultKind::TooMany, FaultKind::Unavailable, FaultKind::Reset],
        seed: 9,
        ..FaultConfig::default()
    });
    let files: Vec<(String, Vec<u8>)> = (0..10)
        .map(|i| {
            (
                format!("f{i}"),
                pattern(if i % 3 == 0 { 700 * 1024 } else { 1000 + i }, i as u64),
            )
        })
        .collect();
    for (n, d) in &files {
        put(&s, n, d).await.unwrap();
    }
    for (n, d) in &files {
        let back = collect_bytes(s.read(n, ByteRange::all()).await.unwrap())
            .await
            .unwrap();
        assert!(&back == d, "{n} intact");
    }
    assert!(e.state().faults.lock().unwrap().injected > 0);
}

/// Past the disk's size, uploads fail with QuotaExceeded and a hint.
#[tokio::test]
async fn disk_full_is_507() {
    let (e, s) = setup("disk:/", 256 * 1024).await;
    e.state().settings.lock().unwrap().yandex_quota = 1000;
    let err = put(&s, "x", &[0u8; 2000]).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::QuotaExceeded);
    assert_eq!(err.status(), Some(507));
    assert!(err.hint().unwrap().contains("trash"));
}

/// An `app:/` root lives in the application's folder; the root listing holds only what was written there.
#[tokio::test]
async fn app_folder_root() {
    let (_e, s) = setup("app:/", 256 * 1024).await;
    s.mkdir("").await.ok();
    s.client().mkdir("disk:/Applications").await.unwrap();
    s.client()
        .mkdir(&format!("disk:/Applications/{DEMO_CLIENT_ID}"))
        .await
        .unwrap();
    put(&s, "in-app.txt", b"app data").await.unwrap();
    let names: Vec<String> = list_all(&s, "")
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.name)
        .collect();
    assert_eq!(names, vec!["in-app.txt".to_string()]);
    let m = s
        .client()
        .meta(
            &format!("disk:/Applications/{DEMO_CLIENT_ID}/in-app.txt"),
            Some(0),
            0,
            None,
            None,
        )
        .await
        .unwrap();
    assert_eq!(m.size, Some(8));
}

/// Ranged reads of one file (several streams of a transfer, a player seeking) reuse its download link: the
/// API is asked once, not per range; a write through the storage drops the link, so the next read sees the
/// new bytes.
#[tokio::test]
async fn ranged_reads_reuse_the_download_link() {
    let (e, s) = setup("disk:/", 1024 * 1024).await;
    let data = pattern(300_000, 4);
    put(&s, "f.bin", &data).await.unwrap();
    let api = || api_requests(&e);
    let before = api();
    for i in 0..8u64 {
        let r = ByteRange::new(i * 30_000, Some(30_000));
        let got = collect_bytes(s.read("f.bin", r).await.unwrap())
            .await
            .unwrap();
        assert!(got == data[(i * 30_000) as usize..((i + 1) * 30_000) as usize]);
    }
    assert_eq!(api() - before, 2, "one meta and one link for eight ranges");
    let new = pattern(1000, 9);
    put(&s, "f.bin", &new).await.unwrap();
    let got = collect_bytes(s.read("f.bin", ByteRange::all()).await.unwrap())
        .await
        .unwrap();
    assert!(got == new, "the overwritten file is read afresh");
}

/// A video of 256 KiB or more goes up under a neutral name and is moved onto its own (Yandex throttles
/// uploads by the name's media type); a small one, or another kind, goes straight. Both end up whole,
/// under their names, with nothing left beside them.
#[tokio::test]
async fn throttled_kinds_go_up_under_a_neutral_name() {
    let (e, s) = setup("disk:/", 1024 * 1024).await;
    cloudmux_emulator::quota::quotas(e.state()).set(cloudmux_emulator::QuotaConfig {
        yandex_throttled_upload_bytes_per_second: 128 * 1024,
        ..cloudmux_emulator::QuotaConfig::off()
    });
    s.mkdir("v").await.unwrap();
    let api = || api_requests(&e);
    let big = pattern(600_000, 5);
    let small = pattern(10_000, 6);
    for (name, data, requests) in [
        // The link (for the neutral name) and the move.
        ("v/movie.mp4", &big, 2),
        // The link only: the PUT goes to the upload host.
        ("v/clip.mp4", &small, 1),
        ("v/notes.txt", &big, 1),
    ] {
        let before = api();
        put(&s, name, data).await.unwrap();
        assert_eq!(api() - before, requests, "{name}");
        let got = collect_bytes(s.read(name, ByteRange::all()).await.unwrap())
            .await
            .unwrap();
        assert!(got == *data, "{name}");
    }
    let mut names: Vec<String> = list_all(&s, "v")
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.name)
        .collect();
    names.sort();
    assert_eq!(names, ["clip.mp4", "movie.mp4", "notes.txt"]);
    // Replacing a video goes the same way.
    put(&s, "v/movie.mp4", &small.repeat(40)).await.unwrap();
    let got = collect_bytes(s.read("v/movie.mp4", ByteRange::all()).await.unwrap())
        .await
        .unwrap();
    assert!(got == small.repeat(40));
}
