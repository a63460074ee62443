//! Google Photos behaviour against the emulator: the seed's two errors, the tree, duplicates, expiring
//! baseUrls, per-app visibility, partial batchCreate, sharing refused.

use std::sync::Arc;

use chrono::Datelike;
use cloudmux_core::conformance::pattern;
use cloudmux_core::{
    ByteRange, DeleteMode, ErrorKind, Storage, WriteOptions, bytes_stream, collect_bytes, list_all,
};
use cloudmux_emulator::{Config, Emulator};
use cloudmux_gphotos::{GPhotosStorage, PhotosClient, PhotosConfig};
use cloudmux_http::{Secret, StaticToken};

const PHOTOS: &[&str] = &[
    "photoslibrary.appendonly",
    "photoslibrary.readonly.appcreateddata",
    "photoslibrary.edit.appcreateddata",
];

fn token(e: &Emulator, client: &str, scopes: &[&str]) -> String {
    e.state().google_token(client, scopes)
}

fn storage(e: &Emulator, t: String) -> GPhotosStorage {
    let cfg = PhotosConfig {
        endpoint: Some(e.base_url()),
        chunk_size: 256 * 1024,
        ..Default::default()
    };
    GPhotosStorage::new(
        PhotosClient::new(cfg, Arc::new(StaticToken(Secret::new(t)))).unwrap(),
        "root",
    )
    .unwrap()
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

async fn names(s: &dyn Storage, p: &str) -> Vec<String> {
    list_all(s, p)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.name)
        .collect()
}

#[tokio::test]
async fn the_seeds_two_errors() {
    let e = Emulator::start(Config::default()).await.unwrap();
    let s = storage(&e, token(&e, "app-a", &["drive"]));
    let err = list_all(&s, "album").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ScopeMissing);
    assert!(
        err.to_string()
            .contains("Request had insufficient authentication scopes"),
        "{err}"
    );
    let hint = err.hint().unwrap();
    assert!(
        hint.contains("photoslibrary")
            && hint.contains("cloudmux auth login")
            && hint.contains("Google Photos permission"),
        "{hint}"
    );
    let s = storage(&e, token(&e, "app-a", PHOTOS));
    e.state()
        .settings
        .lock()
        .unwrap()
        .disabled_apis
        .insert("photoslibrary".into());
    let err = list_all(&s, "album").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ApiDisabled);
    assert!(
        err.to_string()
            .contains("Photos Library API has not been used in project"),
        "{err}"
    );
    let hint = err.hint().unwrap();
    assert!(hint.contains("https://console.developers.google.com/apis/api/photoslibrary.googleapis.com/overview?project=") && hint.contains("few minutes"), "{hint}");
}

#[tokio::test]
async fn tree_round_trip_and_duplicates() {
    let e = Emulator::start(Config::default()).await.unwrap();
    let s = storage(&e, token(&e, "app-a", PHOTOS));
    assert_eq!(names(&s, "").await, ["album", "media", "upload"]);
    s.mkdir("album/Holiday").await.unwrap();
    let big = pattern(700 * 1024, 3);
    put(&s, "album/Holiday/beach.jpg", &big).await;
    put(&s, "upload/cat.jpg", b"cat").await;
    put(&s, "upload/cat.jpg", b"another cat").await;
    assert_eq!(names(&s, "album").await, ["Holiday"]);
    assert_eq!(names(&s, "album/Holiday").await, ["beach.jpg"]);
    let all = names(&s, "media/all").await;
    assert_eq!(all.len(), 3);
    let dup: Vec<&String> = all.iter().filter(|n| n.starts_with("cat")).collect();
    assert!(
        dup.contains(&&"cat.jpg".to_string())
            && dup
                .iter()
                .any(|n| n.starts_with("cat {") && n.ends_with("}.jpg")),
        "{all:?}"
    );
    assert_eq!(
        names(&s, "media/all").await,
        all,
        "the same names every time"
    );
    let now = chrono::Utc::now();
    let y = now.year().to_string();
    assert_eq!(names(&s, "media/by-year").await, std::slice::from_ref(&y));
    assert_eq!(names(&s, &format!("media/by-year/{y}")).await.len(), 3);
    let m = format!("{y}-{:02}", now.month());
    assert_eq!(
        names(&s, &format!("media/by-month/{y}")).await,
        std::slice::from_ref(&m)
    );
    assert_eq!(names(&s, &format!("media/by-month/{y}/{m}")).await.len(), 3);
    // The item's own download address serves its bytes to a client without credentials.
    let link = s
        .download_link("album/Holiday/beach.jpg")
        .await
        .unwrap()
        .expect("a photo has a download link");
    assert!(link.ends_with("=d"), "{link}");
    let direct = reqwest::get(&link).await.unwrap();
    assert_eq!(direct.status(), 200);
    assert!(direct.bytes().await.unwrap()[..] == big[..]);
    assert_eq!(s.download_link("album/Holiday").await.unwrap(), None);
    let back = collect_bytes(
        s.read("album/Holiday/beach.jpg", ByteRange::all())
            .await
            .unwrap(),
    )
    .await
    .unwrap();
    assert!(back == big, "round trip byte for byte");
    assert_eq!(
        s.stat("album/Holiday/beach.jpg").await.unwrap().size,
        Some(big.len() as u64)
    );
    // An expired baseUrl is fetched again.
    e.state().photos.lock().unwrap().base_url_lifetime = Some(std::time::Duration::from_millis(1));
    let again = collect_bytes(s.read("media/all/cat.jpg", ByteRange::all()).await.unwrap()).await;
    assert!(again.is_ok(), "{again:?}");
    // What the API cannot do is Unsupported with a hint.
    let del = s
        .delete("media/all/cat.jpg", DeleteMode::Trash)
        .await
        .unwrap_err();
    assert_eq!(del.kind(), ErrorKind::Unsupported);
    assert!(del.hint().is_some());
    assert_eq!(
        s.write(
            "media/by-year/x.jpg",
            bytes_stream(b"x".to_vec(), 1),
            WriteOptions::default()
        )
        .await
        .unwrap_err()
        .kind(),
        ErrorKind::NotFound
    );
    assert_eq!(
        s.write(
            "album/Nope/x.jpg",
            bytes_stream(b"x".to_vec(), 1),
            WriteOptions::default()
        )
        .await
        .unwrap_err()
        .kind(),
        ErrorKind::NotFound
    );
}

#[tokio::test]
async fn apps_see_only_their_own_media_and_sharing_is_refused() {
    let e = Emulator::start(Config::default()).await.unwrap();
    let a = storage(&e, token(&e, "app-a", PHOTOS));
    let b = storage(&e, token(&e, "app-b", PHOTOS));
    a.mkdir("album/Mine").await.unwrap();
    put(&a, "album/Mine/p.jpg", b"p").await;
    assert!(names(&b, "media/all").await.is_empty());
    assert!(names(&b, "album").await.is_empty());
    // Partial batchCreate: one good token, one made up.
    let c = a.client();
    let good = c
        .upload(
            bytes_stream(b"q".to_vec(), 1),
            Some(1),
            "q.jpg",
            "image/jpeg",
        )
        .await
        .unwrap();
    let results = c
        .batch_create(
            &[
                (good.clone(), "q.jpg".into()),
                ("made-up".into(), "bad.jpg".into()),
            ],
            None,
        )
        .await
        .unwrap();
    assert!(results[0].is_ok());
    assert!(
        results[1]
            .as_ref()
            .unwrap_err()
            .to_string()
            .contains("bad.jpg")
    );
    let reused = c
        .batch_create(&[(good, "again.jpg".into())], None)
        .await
        .unwrap();
    assert!(reused[0].is_err(), "upload tokens are single-use");
    // The sharing methods answer 403 since 2025-03-31.
    let albums = c.all_albums().await.unwrap();
    let t = token(&e, "app-a", PHOTOS);
    let r = reqwest::Client::new()
        .post(format!(
            "{}/photoslibrary.googleapis.com/v1/albums/{}:share",
            e.base_url(),
            albums[0].id
        ))
        .bearer_auth(t)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
}
