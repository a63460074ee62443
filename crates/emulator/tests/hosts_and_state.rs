//! Host-header and TLS modes, and `--state-dir` persistence across a restart.

use cloudmux_emulator::{Config, DEMO_CLIENT_ID, DEMO_USER, Emulator};

fn token(e: &Emulator) -> String {
    e.google_token(&[
        "https://www.googleapis.com/auth/drive",
        "https://www.googleapis.com/auth/photoslibrary.appendonly",
        "https://www.googleapis.com/auth/photoslibrary.readonly.appcreateddata",
    ])
}

fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

#[tokio::test]
async fn host_header_mode_serves_real_paths_and_hands_out_host_urls() {
    let e = Emulator::start(Config::default()).await.unwrap();
    let t = token(&e);
    let c = client();
    let about = c
        .get(format!("{}/drive/v3/about?fields=user", e.base_url()))
        .header("host", "www.googleapis.com")
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(about.status(), 200);
    let v: serde_json::Value = about.json().await.unwrap();
    assert_eq!(v["user"]["emailAddress"], DEMO_USER);
    // A resumable session URI is built for the mode the request came in.
    let init = c
        .post(format!(
            "{}/upload/drive/v3/files?uploadType=resumable",
            e.base_url()
        ))
        .header("host", "www.googleapis.com")
        .bearer_auth(&t)
        .json(&serde_json::json!({"name": "x"}))
        .send()
        .await
        .unwrap();
    let loc = init.headers()["location"].to_str().unwrap();
    assert!(
        loc.starts_with(
            "http://www.googleapis.com/upload/drive/v3/files?uploadType=resumable&upload_id="
        ),
        "{loc}"
    );
    let init = c
        .post(format!(
            "{}/www.googleapis.com/upload/drive/v3/files?uploadType=resumable",
            e.base_url()
        ))
        .bearer_auth(&t)
        .json(&serde_json::json!({"name": "x"}))
        .send()
        .await
        .unwrap();
    let loc = init.headers()["location"].to_str().unwrap();
    assert!(
        loc.starts_with(&format!("{}/www.googleapis.com/upload/", e.base_url())),
        "{loc}"
    );
}

#[tokio::test]
async fn tls_by_host_name() {
    let ck = rcgen::generate_simple_self_signed(vec![
        "www.googleapis.com".to_string(),
        "oauth2.googleapis.com".to_string(),
    ])
    .unwrap();
    let (cert, key) = (ck.cert.pem(), ck.signing_key.serialize_pem());
    let state = cloudmux_emulator::State::new(&Config::default()).unwrap();
    let t = { state.google_token(DEMO_CLIENT_ID, &["https://www.googleapis.com/auth/drive"]) };
    let app = cloudmux_emulator::app(state);
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let (c2, k2) = (cert.clone(), key.clone());
    tokio::spawn(async move {
        cloudmux_emulator::serve_tls(l, app, c2.as_bytes(), k2.as_bytes()).await
    });
    let _ = client();
    let c = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(cert.as_bytes()).unwrap())
        .resolve("www.googleapis.com", addr)
        .build()
        .unwrap();
    let r = c
        .get(format!(
            "https://www.googleapis.com:{}/drive/v3/about?fields=user",
            addr.port()
        ))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let init = c
        .post(format!(
            "https://www.googleapis.com:{}/upload/drive/v3/files?uploadType=resumable",
            addr.port()
        ))
        .bearer_auth(&t)
        .json(&serde_json::json!({"name": "x"}))
        .send()
        .await
        .unwrap();
    assert!(
        init.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with("https://www.googleapis.com/upload/")
    );
}

#[tokio::test]
async fn state_dir_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = Config {
        state_dir: Some(dir.path().to_path_buf()),
        ..Config::default()
    };
    let c = client();
    let (id, t) = {
        let e = Emulator::start(cfg.clone()).await.unwrap();
        let t = token(&e);
        let body = "--b\r\nContent-Type: application/json\r\n\r\n{\"name\":\"kept.txt\"}\r\n--b\r\nContent-Type: text/plain\r\n\r\nstill here\r\n--b--\r\n";
        let f: serde_json::Value = c
            .post(format!(
                "{}/www.googleapis.com/upload/drive/v3/files?uploadType=multipart",
                e.base_url()
            ))
            .bearer_auth(&t)
            .header("content-type", "multipart/related; boundary=b")
            .body(body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let y = e.state().yandex_token();
        let mk = c
            .put(format!(
                "{}/cloud-api.yandex.net/v1/disk/resources?path=disk:/kept",
                e.base_url()
            ))
            .header("authorization", format!("OAuth {y}"))
            .send()
            .await
            .unwrap();
        assert_eq!(mk.status(), 201);
        let album = c
            .post(format!(
                "{}/photoslibrary.googleapis.com/v1/albums",
                e.base_url()
            ))
            .bearer_auth(&t)
            .json(&serde_json::json!({"album": {"title": "kept album"}}))
            .send()
            .await
            .unwrap();
        assert_eq!(album.status(), 200);
        e.state().save().unwrap();
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(dir.path().join("state.json"))
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o600
        );
        YANDEX.set(y).unwrap();
        (f["id"].as_str().unwrap().to_string(), t)
    };
    let yt = YANDEX.get().unwrap();
    let e = Emulator::start(cfg).await.unwrap();
    let got = c
        .get(format!(
            "{}/www.googleapis.com/drive/v3/files/{id}?alt=media",
            e.base_url()
        ))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(got.status(), 200, "the file and the token survived");
    assert_eq!(got.text().await.unwrap(), "still here");
    let list: serde_json::Value = c
        .get(format!(
            "{}/www.googleapis.com/drive/v3/files?q=name%3D%27kept.txt%27",
            e.base_url()
        ))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["files"].as_array().unwrap().len(), 1);
    let y = c
        .get(format!(
            "{}/cloud-api.yandex.net/v1/disk/resources?path=disk:/kept",
            e.base_url()
        ))
        .header("authorization", format!("OAuth {yt}"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        y.status(),
        200,
        "Yandex Disk content and tokens survived too"
    );
    let albums: serde_json::Value = c
        .get(format!(
            "{}/photoslibrary.googleapis.com/v1/albums",
            e.base_url()
        ))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        albums["albums"][0]["title"], "kept album",
        "Photos albums survived: {albums}"
    );
}

#[tokio::test]
async fn the_index_page_lists_every_service_and_escapes_the_host() {
    let e = Emulator::start(Config::default()).await.unwrap();
    let page = client()
        .get(format!("{}/", e.base_url()))
        .header("host", "<b>evil</b>:1")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for s in cloudmux_emulator::SERVICES {
        assert!(
            page.contains(s.title().split(' ').next().unwrap()),
            "{}",
            s.key()
        );
        for (_, at) in s.entry_points() {
            assert!(page.contains(at), "{at} missing");
        }
    }
    assert!(!page.contains("<b>evil"), "the Host header is escaped");
    assert!(page.contains("&lt;b&gt;evil"), "{page}");
}

static YANDEX: std::sync::OnceLock<String> = std::sync::OnceLock::new();
