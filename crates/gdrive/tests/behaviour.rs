//! Drive behaviour beyond the conformance kit, against the emulator: resume after a broken chunk, no duplicate
//! on retried creates, the seed's errors, duplicate names, shared drives, quota, faults, Drive-only calls.

use std::sync::Arc;

use cloudmux_core::conformance::pattern;
use cloudmux_core::{
    ByteRange, DeleteMode, ErrorKind, Storage, WriteOptions, bytes_stream, collect_bytes, list_all,
};
use cloudmux_emulator::{Config, DEMO_USER, Emulator, FaultConfig, FaultKind};
use cloudmux_gdrive::{DriveClient, DriveConfig, GDriveStorage, RootSpec};
use cloudmux_http::{HttpConfig, RetryPolicy, Secret, StaticToken};
use serde_json::json;

const DRIVE: &str = "https://www.googleapis.com/auth/drive";

async fn setup(scopes: &[&str], chunk: usize) -> (Emulator, DriveClient) {
    let e = Emulator::start(Config::default()).await.unwrap();
    let t = e.google_token(scopes);
    let http = HttpConfig {
        retry: RetryPolicy {
            max_attempts: 10,
            min_delay: std::time::Duration::from_millis(5),
            max_delay: std::time::Duration::from_millis(50),
        },
        ..HttpConfig::default()
    };
    let cfg = DriveConfig {
        endpoint: Some(e.base_url()),
        page_size: 50,
        chunk_size: chunk,
        multipart_max: 256 * 1024,
        http,
    };
    let c = DriveClient::new(cfg, Arc::new(StaticToken(Secret::new(t)))).unwrap();
    (e, c)
}

async fn put(s: &dyn Storage, p: &str, data: &[u8]) {
    s.write(
        p,
        bytes_stream(data.to_vec(), 64 * 1024),
        WriteOptions {
            size: Some(data.len() as u64),
            ..Default::default()
        },
    )
    .await
    .unwrap();
}

/// A resumable upload whose connection the emulator drops mid-chunk completes from the committed offset,
/// re-sending less than one chunk.
#[tokio::test]
async fn broken_chunk_resumes_from_committed_offset() {
    let chunk = 1024 * 1024;
    let (e, c) = setup(&[DRIVE], chunk).await;
    let s = GDriveStorage::new(c, None).await.unwrap();
    let data = pattern(3 * chunk + 12345, 5);
    // Break the first chunk 600 KiB in: 512 KiB of it are committed, 88 KiB must be sent again.
    let before = e.state().drive.lock().unwrap().resumable_bytes;
    e.state().faults.lock().unwrap().set(FaultConfig {
        drop_upload_after: Some(600 * 1024),
        ..FaultConfig::default()
    });
    put(&s, "big.bin", &data).await;
    let sent = e.state().drive.lock().unwrap().resumable_bytes - before;
    let extra = sent - data.len() as u64;
    assert!(extra > 0, "the broken chunk was partly re-sent");
    assert!(
        extra < chunk as u64,
        "re-sent {extra} bytes, less than one chunk ({chunk})"
    );
    assert_eq!(
        extra,
        600 * 1024 - 512 * 1024,
        "exactly the uncommitted part of the broken chunk is re-sent"
    );
    let back = collect_bytes(s.read("big.bin", ByteRange::all()).await.unwrap())
        .await
        .unwrap();
    assert!(back == data);
}

/// Creates retried after the service acted (500 after the file was made) never leave duplicates.
#[tokio::test]
async fn retried_creates_make_no_duplicates() {
    let (e, c) = setup(&[DRIVE], 256 * 1024).await;
    let s = GDriveStorage::new(c, None).await.unwrap();
    e.state().faults.lock().unwrap().set(FaultConfig {
        rate: 0.5,
        kinds: vec![FaultKind::FailAfter],
        seed: 7,
        paths: vec!["/drive/v3/files".into()],
        ..FaultConfig::default()
    });
    s.mkdir("d").await.unwrap();
    for i in 0..15 {
        put(&s, &format!("d/f{i}"), format!("content {i}").as_bytes()).await;
    }
    put(&s, "d/large", &pattern(700 * 1024, 1)).await;
    let injected = e.state().faults.lock().unwrap().injected;
    e.state().faults.lock().unwrap().set(FaultConfig::default());
    assert!(injected > 5, "faults were injected ({injected})");
    let names: Vec<String> = list_all(&s, "d")
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.name)
        .collect();
    assert_eq!(names.len(), 16, "one file per name: {names:?}");
    let roots: Vec<String> = list_all(&s, "")
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.name)
        .collect();
    assert_eq!(roots, vec!["d".to_string()], "one folder");
}

/// 10 % of requests fail with 429, 503 or a reset mid-body: everything still arrives intact.
#[tokio::test]
async fn survives_random_faults() {
    let (e, c) = setup(&[DRIVE], 256 * 1024).await;
    let s = GDriveStorage::new(c, None).await.unwrap();
    e.state().faults.lock().unwrap().set(FaultConfig {
        rate: 0.1,
        kinds: vec![
            FaultKind::TooMany,
            FaultKind::Unavailable,
            FaultKind::Reset,
            FaultKind::RateLimit403,
        ],
        seed: 42,
        ..FaultConfig::default()
    });
    let files: Vec<(String, Vec<u8>)> = (0..12)
        .map(|i| {
            (
                format!("f{i}"),
                pattern(if i % 3 == 0 { 900 * 1024 } else { 3000 + i }, i as u64),
            )
        })
        .collect();
    for (n, d) in &files {
        put(&s, n, d).await;
    }
    for (n, d) in &files {
        let back = collect_bytes(s.read(n, ByteRange::all()).await.unwrap())
            .await
            .unwrap();
        assert!(&back == d, "{n} intact");
    }
    assert!(e.state().faults.lock().unwrap().injected > 0);
}

/// The seed's errors: a missing scope is named with the way out; a disabled API gives its activation URL.
#[tokio::test]
async fn scope_missing_and_api_disabled() {
    let (e, c) = setup(
        &["https://www.googleapis.com/auth/drive.readonly"],
        256 * 1024,
    )
    .await;
    let s = GDriveStorage::new(c, None).await.unwrap();
    let err = s.mkdir("x").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ScopeMissing);
    assert!(
        err.to_string()
            .contains("insufficient authentication scopes"),
        "{err}"
    );
    let hint = err.hint().unwrap();
    assert!(
        hint.contains("https://www.googleapis.com/auth/drive")
            && hint.contains("cloudmux auth login"),
        "{hint}"
    );
    e.state()
        .settings
        .lock()
        .unwrap()
        .disabled_apis
        .insert("drive".into());
    let err = s.stat("").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ApiDisabled);
    assert!(
        err.to_string().contains("has not been used in project"),
        "{err}"
    );
    assert!(
        err.hint().unwrap().contains(
            "https://console.developers.google.com/apis/api/drive.googleapis.com/overview?project="
        ),
        "{:?}",
        err.hint()
    );
}

/// Drive allows two files of one name in a folder; the oldest is picked, every time.
#[tokio::test]
async fn duplicate_names_pick_the_oldest() {
    let (_e, c) = setup(&[DRIVE], 256 * 1024).await;
    let s = GDriveStorage::new(c.clone(), None).await.unwrap();
    let root = s.root_id().to_string();
    let first = c
        .create(&json!({"name": "same.txt", "parents": [root], "description": "first"}))
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let _second = c
        .create(&json!({"name": "same.txt", "parents": [root], "description": "second"}))
        .await
        .unwrap();
    for _ in 0..3 {
        assert_eq!(s.stat("same.txt").await.unwrap().id.unwrap(), first.id);
    }
    assert_eq!(
        list_all(&s, "").await.unwrap().len(),
        2,
        "listing shows both"
    );
}

/// A remote rooted in a shared drive: files get moved with their real parents.
#[tokio::test]
async fn shared_drive_root_and_move() {
    let (_e, c) = setup(&[DRIVE], 256 * 1024).await;
    let d = c.drive_create("Team", "req-1").await.unwrap();
    assert_eq!(c.drives().await.unwrap().len(), 1);
    let s = GDriveStorage::new(c.clone(), Some(RootSpec::SharedDrive(d.id.clone())))
        .await
        .unwrap();
    s.mkdir("a/b").await.unwrap();
    put(&s, "a/f.txt", b"team file").await;
    s.rename("a/f.txt", "a/b/g.txt").await.unwrap();
    let f = s.resolve("a/b/g.txt").await.unwrap();
    assert_eq!(f.parents.len(), 1);
    assert_eq!(f.drive_id.as_deref(), Some(d.id.as_str()));
    let mine = GDriveStorage::new(c, None).await.unwrap();
    assert!(
        list_all(&mine, "").await.unwrap().is_empty(),
        "shared-drive files are not in My Drive"
    );
}

/// Past the quota, uploads fail with QuotaExceeded and a hint.
#[tokio::test]
async fn quota_exceeded() {
    let (e, c) = setup(&[DRIVE], 256 * 1024).await;
    e.state().settings.lock().unwrap().drive_quota = 1000;
    let s = GDriveStorage::new(c, None).await.unwrap();
    let err = s
        .write(
            "x",
            bytes_stream(vec![0u8; 2000], 500),
            WriteOptions {
                size: Some(2000),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::QuotaExceeded);
    assert!(err.hint().unwrap().contains("empty-trash"));
    let big = s
        .write(
            "y",
            bytes_stream(vec![0u8; 600 * 1024], 4096),
            WriteOptions {
                size: Some(600 * 1024),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(
        big.kind(),
        ErrorKind::QuotaExceeded,
        "resumable uploads are refused up front"
    );
}

/// Comments, changes, export, trash and permissions through the client.
#[tokio::test]
async fn drive_only_calls() {
    let (e, c) = setup(&[DRIVE], 256 * 1024).await;
    let s = GDriveStorage::new(c.clone(), None).await.unwrap();
    let start = c.changes_start().await.unwrap();
    put(&s, "notes.txt", b"hello").await;
    let id = s.stat("notes.txt").await.unwrap().id.unwrap();
    let cm = c.comment_create(&id, "first!").await.unwrap();
    c.comment_update(&id, &cm.id, &json!({"resolved": true}))
        .await
        .unwrap();
    assert!(c.comment_get(&id, &cm.id).await.unwrap().resolved);
    assert_eq!(c.comments(&id).await.unwrap().len(), 1);
    c.comment_delete(&id, &cm.id).await.unwrap();
    assert!(c.comments(&id).await.unwrap().is_empty());
    let ch = c.changes(&start).await.unwrap();
    assert!(
        ch.changes
            .iter()
            .any(|x| x.file_id.as_deref() == Some(id.as_str()))
    );
    assert!(ch.new_start_page_token.is_some());
    // A Google Doc made by converting uploaded text, exported back.
    let doc = c
        .create(&json!({"name": "Doc", "mimeType": "application/vnd.google-apps.document"}))
        .await
        .unwrap();
    assert!(doc.is_google_doc());
    let pdf = collect_bytes(c.export(&doc.id, "application/pdf").await.unwrap())
        .await
        .unwrap();
    assert!(pdf.starts_with(b"%PDF-"));
    let err = s.read("Doc", ByteRange::all()).await.err().unwrap();
    assert_eq!(err.kind(), ErrorKind::Unsupported);
    // Trash, untrash, empty trash.
    s.delete("notes.txt", DeleteMode::Trash).await.unwrap();
    assert!(s.stat("notes.txt").await.is_err());
    c.untrash(&id).await.unwrap();
    assert!(s.stat("notes.txt").await.is_ok());
    c.trash(&id).await.unwrap();
    c.empty_trash(None).await.unwrap();
    assert_eq!(c.get(&id).await.unwrap_err().kind(), ErrorKind::NotFound);
    // Permissions and the public link, which the emulator serves.
    put(&s, "pub.txt", b"public bytes").await;
    let link = s.public_link("pub.txt").await.unwrap();
    assert!(link.contains("/file/d/"));
    let pid = s.stat("pub.txt").await.unwrap().id.unwrap();
    let perms = c.permission_list(&pid).await.unwrap();
    assert!(
        perms
            .iter()
            .any(|p| p.kind == "anyone" && p.role == "reader")
    );
    let direct = format!(
        "{}/drive.google.com/uc?id={pid}&export=download",
        e.base_url()
    );
    assert_eq!(
        reqwest::get(direct)
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap()
            .as_ref(),
        b"public bytes"
    );
    // Abusive files are downloaded with acknowledgeAbuse after a warning.
    reqwest::Client::new()
        .post(format!("{}/__admin/drive/abusive/{pid}", e.base_url()))
        .send()
        .await
        .unwrap();
    let back = collect_bytes(s.read("pub.txt", ByteRange::all()).await.unwrap())
        .await
        .unwrap();
    assert_eq!(back, b"public bytes");
    let about = c.about().await.unwrap();
    assert_eq!(about.user.email_address.as_deref(), Some(DEMO_USER));
    assert!(
        about
            .export_formats
            .contains_key("application/vnd.google-apps.document")
    );
}

/// Ranged reads of one file (the streams of a transfer, a player seeking through the server) look its path
/// up once, not once per range; a write through the storage drops the lookup, so the next read sees the
/// new file.
#[tokio::test]
async fn ranged_reads_look_the_path_up_once() {
    let (e, c) = setup(&[DRIVE], 256 * 1024).await;
    let s = GDriveStorage::new(c, None).await.unwrap();
    s.mkdir("d").await.unwrap();
    let data = pattern(300_000, 4);
    put(&s, "d/f.bin", &data).await;
    let api = || {
        e.state()
            .faults
            .lock()
            .unwrap()
            .requests
            .get("www.googleapis.com")
            .copied()
            .unwrap_or(0)
    };
    let before = api();
    for i in 0..8u64 {
        let r = ByteRange::new(i * 30_000, Some(30_000));
        let got = collect_bytes(s.read("d/f.bin", r).await.unwrap())
            .await
            .unwrap();
        assert!(got == data[(i * 30_000) as usize..((i + 1) * 30_000) as usize]);
    }
    assert_eq!(api() - before, 9, "one lookup and eight downloads");
    let new = pattern(1000, 9);
    put(&s, "d/f.bin", &new).await;
    let got = collect_bytes(s.read("d/f.bin", ByteRange::all()).await.unwrap())
        .await
        .unwrap();
    assert!(got == new, "the overwritten file is read afresh");
    s.rename("d/f.bin", "d/g.bin").await.unwrap();
    assert_eq!(
        s.read("d/f.bin", ByteRange::all())
            .await
            .err()
            .map(|e| e.kind()),
        Some(ErrorKind::NotFound),
        "a moved file is not read at its old path"
    );
}

/// Folders listed together (`'a' in parents or 'b' in parents …`, over several pages) each get their own
/// children; the emulator refuses a `q` longer than it takes, as Google's front ends refuse long URLs.
#[tokio::test]
async fn folders_listed_together_over_pages() {
    let (_e, c) = setup(&[DRIVE], 256 * 1024).await;
    let s = GDriveStorage::new(c.clone(), None).await.unwrap();
    let dirs: Vec<String> = (0..3).map(|i| format!("d{i}")).collect();
    for d in &dirs {
        s.mkdir(d).await.unwrap();
        for f in 0..30 {
            put(&s, &format!("{d}/f{f:02}"), d.as_bytes()).await;
        }
    }
    s.mkdir("d1/inner").await.unwrap();
    // 91 children at 50 a page: two pages, the folders' children mixed in them.
    let many = s.list_many(&dirs).await.unwrap();
    for (d, got) in dirs.iter().zip(&many) {
        let want = if d == "d1" { 31 } else { 30 };
        assert_eq!(got.len(), want, "{d}");
        assert!(
            got.iter().all(|e| e.path.starts_with(&format!("{d}/"))),
            "{d}"
        );
    }
    assert!(many[1].iter().any(|e| e.is_dir && e.path == "d1/inner"));
    // The inner folder's id came with the listing: it lists without a lookup.
    assert!(s.list_many(&["d1/inner".to_string()]).await.unwrap()[0].is_empty());

    let long = (0..400)
        .map(|i| format!("'folder-id-{i:08}' in parents"))
        .collect::<Vec<_>>()
        .join(" or ");
    let err = c
        .list_page(
            &cloudmux_gdrive::ListQuery {
                q: Some(long),
                ..Default::default()
            },
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
}

/// Past Drive's daily upload limit an upload is refused through its retries, and the remote's later
/// uploads and copies fail at once without a request (their own kind, hence their own exit code); reads
/// go on.
#[tokio::test]
async fn the_daily_upload_limit_stops_uploads() {
    let (e, c) = setup(&[DRIVE], 256 * 1024).await;
    cloudmux_emulator::quota::quotas(e.state()).set(cloudmux_emulator::QuotaConfig {
        drive_upload_bytes_per_day: 100_000,
        ..cloudmux_emulator::QuotaConfig::off()
    });
    let s = GDriveStorage::new(c, None).await.unwrap();
    let api = || {
        let f = e.state().faults.lock().unwrap();
        ["www.googleapis.com"]
            .iter()
            .map(|h| f.requests.get(*h).copied().unwrap_or(0))
            .sum::<u64>()
    };
    // Under the limit when they start, both go through (the second passes it).
    put(&s, "a.bin", &pattern(80_000, 1)).await;
    put(&s, "b.bin", &pattern(30_000, 2)).await;
    let before = api();
    let write = |name: &'static str, size: usize| {
        let s = &s;
        async move {
            s.write(
                name,
                bytes_stream(pattern(size, 3), 64 * 1024),
                WriteOptions {
                    size: Some(size as u64),
                    ..Default::default()
                },
            )
            .await
        }
    };
    let err = write("c.bin", 10_000).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::UploadLimit, "{err}");
    assert!(err.hint().unwrap().contains("24 hours"), "{:?}", err.hint());
    // The limit's answer is also a rate refusal's (same reason, same words): it is believed once it
    // outlasts the request's retries (10 attempts here), and then nothing asks again.
    assert_eq!(
        api() - before,
        1 + 10,
        "the lookup of the name, and the upload's attempts"
    );
    let before = api();
    let err = write("d.bin", 600 * 1024).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::UploadLimit, "{err}");
    let err = s.copy("a.bin", "a2.bin").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::UploadLimit, "{err}");
    assert_eq!(api() - before, 0, "later uploads and copies ask nothing");
    assert_ne!(
        ErrorKind::UploadLimit.exit_code(),
        ErrorKind::RateLimited.exit_code()
    );
    // Reads and listings go on.
    assert_eq!(list_all(&s, "").await.unwrap().len(), 2);
    let got = collect_bytes(s.read("b.bin", ByteRange::all()).await.unwrap())
        .await
        .unwrap();
    assert_eq!(got, pattern(30_000, 2));
}

/// Two folders of one name (a client that repeated a create whose answer was lost makes them): a walk
/// lists both, their contents merged under the one path, as rclone shows them, and loses neither.
#[tokio::test]
async fn a_walk_merges_folders_of_one_name() {
    let (_e, c) = setup(&[DRIVE], 256 * 1024).await;
    let s = GDriveStorage::new(c.clone(), None).await.unwrap();
    let root = s.root_id().to_string();
    let folder = "application/vnd.google-apps.folder";
    let a = c
        .create(&json!({"name": "twin", "mimeType": folder, "parents": [root]}))
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let b = c
        .create(&json!({"name": "twin", "mimeType": folder, "parents": [root]}))
        .await
        .unwrap();
    for (id, name) in [(&a.id, "one.txt"), (&b.id, "two.txt"), (&b.id, "three.txt")] {
        c.create(&json!({"name": name, "parents": [id]}))
            .await
            .unwrap();
    }
    // A fresh storage: the walk learns both folders from the root's listing.
    let s = GDriveStorage::new(c, None).await.unwrap();
    let top = s.list_many(&[String::new()]).await.unwrap();
    assert_eq!(top[0].len(), 2, "both folders are listed");
    let inside = s.list_many(&["twin".to_string()]).await.unwrap();
    let mut names: Vec<&str> = inside[0].iter().map(|e| e.path.as_str()).collect();
    names.sort();
    assert_eq!(names, ["twin/one.txt", "twin/three.txt", "twin/two.txt"]);
}
