//! The Picker flow end to end against the emulator's picker page.

use std::sync::Arc;

use cloudmux_core::{ByteRange, ErrorKind, collect_bytes};
use cloudmux_emulator::{Config, Emulator};
use cloudmux_gphotos::PickerClient;
use cloudmux_http::{HttpConfig, RetryPolicy, Secret, StaticToken};

fn picker(e: &Emulator) -> PickerClient {
    let t = e.google_token(&["https://www.googleapis.com/auth/photospicker.mediaitems.readonly"]);
    let http = HttpConfig {
        retry: RetryPolicy {
            max_attempts: 2,
            min_delay: std::time::Duration::from_millis(5),
            max_delay: std::time::Duration::from_millis(10),
        },
        ..Default::default()
    };
    PickerClient::new(
        Some(&e.base_url()),
        http,
        Arc::new(StaticToken(Secret::new(t))),
    )
    .unwrap()
}

#[tokio::test]
async fn pick_two_photos_end_to_end() {
    let e = Emulator::start(Config::default()).await.unwrap();
    let p = picker(&e);
    let s = p.create(Some(5)).await.unwrap();
    assert!(!s.media_items_set);
    assert_eq!(
        s.polling_config.as_ref().unwrap().poll_interval.as_deref(),
        Some("1s")
    );
    let early = p.items(&s.id).await.unwrap_err();
    assert_eq!(early.reason(), Some("failedPrecondition"), "{early}");
    // The person opens the picker page and picks two photos.
    let page = reqwest::get(&s.picker_uri)
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let ids: Vec<String> = page
        .split("name=item value=\"")
        .skip(1)
        .map(|x| x.split('"').next().unwrap().to_string())
        .collect();
    assert!(ids.len() >= 2, "the seeded library is offered: {page}");
    let form = format!("item={}&item={}", ids[0], ids[1]);
    let done = reqwest::Client::new()
        .post(&s.picker_uri)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .unwrap();
    assert!(done.status().is_success());
    let mut polls = 0;
    let s2 = p.wait(&s, || polls += 1).await.unwrap();
    assert!(s2.media_items_set && s2.polling_config.is_none());
    let items = p.items(&s.id).await.unwrap();
    assert_eq!(items.len(), 2);
    assert!(
        items
            .iter()
            .all(|i| i.media_file.filename.starts_with("IMG_") && i.kind == "PHOTO")
    );
    let bytes = collect_bytes(p.download(&items[0], ByteRange::all()).await.unwrap())
        .await
        .unwrap();
    assert_eq!(&bytes[..2], &[0xFF, 0xD8], "the original JPEG bytes");
    assert_eq!(
        reqwest::get(&s.picker_uri).await.unwrap().status(),
        410,
        "the picker page closes after Done"
    );
    p.delete(&s.id).await.unwrap();
    assert_eq!(
        p.session(&s.id).await.unwrap_err().kind(),
        ErrorKind::NotFound
    );
}

#[tokio::test]
async fn too_many_open_sessions() {
    let e = Emulator::start(Config::default()).await.unwrap();
    let p = picker(&e);
    for _ in 0..10 {
        p.create(None).await.unwrap();
    }
    let err = p.create(None).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::RateLimited);
    assert_eq!(err.status(), Some(429));
}
