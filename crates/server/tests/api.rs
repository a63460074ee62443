//! The JSON API end to end over HTTP: sign-in, tokens, the tree, streamed transfers with Range, background
//! copies between mounts, rights, read-only mounts, and a corpus of traversal attempts that must reach
//! nothing outside the user's base path.
use std::sync::Arc;
use std::time::Duration;

use cloudmux_core::Storage;
use cloudmux_server::AppState;
use cloudmux_server::house::db::Db;
use cloudmux_server::house::tree::Mount;
use serde_json::{Value, json};

mod common;

const SECRET: &str = "TOP-SECRET-OUTSIDE";

struct Srv {
    base: String,
    http: reqwest::Client,
    state: Arc<AppState>,
    dirs: Vec<tempfile::TempDir>,
}

async fn server(db_url: &str) -> Srv {
    cloudmux_http::install_crypto_provider();
    let dirs: Vec<tempfile::TempDir> = (0..4).map(|_| tempfile::tempdir().unwrap()).collect();
    // dirs[3] is outside every mount and holds the secret; dirs[0] links to it.
    std::fs::write(dirs[3].path().join("secret.txt"), SECRET).unwrap();
    std::os::unix::fs::symlink(dirs[3].path(), dirs[0].path().join("escape")).unwrap();
    std::os::unix::fs::symlink(
        dirs[3].path().join("secret.txt"),
        dirs[0].path().join("secret-link.txt"),
    )
    .unwrap();
    std::fs::create_dir_all(dirs[0].path().join("team/sub")).unwrap();
    std::fs::write(dirs[0].path().join("team/sub/t.txt"), "team file").unwrap();
    std::fs::write(dirs[0].path().join("private.txt"), SECRET).unwrap();
    std::fs::write(dirs[2].path().join("ro.txt"), "read only").unwrap();
    let db = Db::open(db_url).await.unwrap();
    let state = AppState::new(db, Duration::from_secs(30));
    for (path, i, ro) in [("/one", 0, false), ("/two", 1, false), ("/ro", 2, true)] {
        let s: Arc<dyn Storage> =
            Arc::new(cloudmux_local::LocalStorage::new(dirs[i].path()).unwrap());
        state
            .tree
            .mount(Mount {
                path: path.into(),
                storage: s,
                read_only: ro,
                direct_links: false,
                guest: false,
            })
            .unwrap();
    }
    state
        .users
        .create("admin", "admin-password", "/", true, true)
        .await
        .unwrap();
    state
        .users
        .create("guest", "guest-password", "/one/team", false, false)
        .await
        .unwrap();
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", l.local_addr().unwrap());
    tokio::spawn(cloudmux_server::serve(l, state.clone()));
    Srv {
        base,
        http: reqwest::Client::new(),
        state,
        dirs,
    }
}

impl Srv {
    async fn login(&self, user: &str, pw: &str) -> String {
        let r = self
            .http
            .post(format!("{}/api/auth/login", self.base))
            .json(&json!({"username": user, "password": pw}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "login {user}");
        r.json::<Value>().await.unwrap()["token"]
            .as_str()
            .unwrap()
            .to_string()
    }

    async fn get(&self, t: &str, path: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{path}", self.base))
            .bearer_auth(t)
            .send()
            .await
            .unwrap()
    }

    async fn post(&self, t: &str, path: &str, body: Value) -> reqwest::Response {
        self.http
            .post(format!("{}{path}", self.base))
            .bearer_auth(t)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    async fn json(&self, t: &str, path: &str) -> Value {
        self.get(t, path).await.json().await.unwrap()
    }

    async fn delete(&self, t: &str, path: &str) -> reqwest::Response {
        self.http
            .delete(format!("{}{path}", self.base))
            .bearer_auth(t)
            .send()
            .await
            .unwrap()
    }

    async fn put(&self, t: &str, path: &str, body: Vec<u8>) -> reqwest::Response {
        self.http
            .put(format!("{}/api/fs/upload", self.base))
            .query(&[("path", path)])
            .bearer_auth(t)
            .body(body)
            .send()
            .await
            .unwrap()
    }
}

fn q(p: &str) -> String {
    percent_encoding::utf8_percent_encode(p, percent_encoding::NON_ALPHANUMERIC).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subtitles_are_served_as_webvtt() {
    let d = tempfile::tempdir().unwrap();
    let url = common::databases(d.path()).await.remove(0);
    let s = server(&url).await;
    let t = s.login("admin", "admin-password").await;
    let srt = "1\r\n00:00:01,000 --> 00:00:02,500\r\nHello, world\r\n";
    assert_eq!(
        s.put(&t, "/two/film.srt", srt.as_bytes().to_vec())
            .await
            .status(),
        201
    );
    assert_eq!(
        s.put(&t, "/two/notes.txt", b"00:00:01,000 --> x".to_vec())
            .await
            .status(),
        201
    );
    let r = s
        .get(&t, "/api/fs/download?path=/two/film.srt&vtt=true")
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/vtt; charset=utf-8");
    assert_eq!(
        r.text().await.unwrap(),
        "WEBVTT\n\n1\n00:00:01.000 --> 00:00:02.500\nHello, world\n"
    );
    let r = s
        .get(&t, "/api/fs/download?path=/two/notes.txt&vtt=true")
        .await;
    assert_eq!(r.status(), 400, "only subtitle files are converted");
    // Without vtt= it is the file as it is.
    let r = s.get(&t, "/api/fs/download?path=/two/film.srt").await;
    assert_eq!(r.bytes().await.unwrap(), srt.as_bytes());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_tokens_and_errors() {
    let d = tempfile::tempdir().unwrap();
    for url in common::databases(d.path()).await {
        sign_in_tokens_and_errors_on(&url).await;
    }
}

async fn sign_in_tokens_and_errors_on(url: &str) {
    let s = server(url).await;
    let r = s
        .http
        .get(format!("{}/api/fs/list", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["www-authenticate"], "Bearer");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["kind"], "unauthenticated");
    let bad = s
        .http
        .post(format!("{}/api/auth/login", s.base))
        .json(&json!({"username": "admin", "password": "wrong"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 403);
    let t = s.login("admin", "admin-password").await;
    let me: Value = s.get(&t, "/api/me").await.json().await.unwrap();
    assert_eq!(me["user"]["name"], "admin");
    // A long-lived API token works, is listed without its secret, and can be revoked.
    let made: Value = s
        .post(&t, "/api/auth/tokens", json!({"label": "backup script"}))
        .await
        .json()
        .await
        .unwrap();
    let api = made["token"].as_str().unwrap();
    assert_eq!(s.get(api, "/api/me").await.status(), 200);
    let listed = s.get(&t, "/api/auth/tokens").await.text().await.unwrap();
    assert!(listed.contains("backup script") && !listed.contains(api));
    let id = made["id"].as_str().unwrap();
    let gone = s
        .http
        .delete(format!("{}/api/auth/tokens/{id}", s.base))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), 204);
    assert_eq!(s.get(api, "/api/me").await.status(), 401);
    // Logout ends the session.
    assert_eq!(
        s.post(&t, "/api/auth/logout", json!({})).await.status(),
        204
    );
    assert_eq!(s.get(&t, "/api/me").await.status(), 401);
    let doc: Value = s
        .http
        .get(format!("{}/api/openapi.json", s.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    // Repeated failures from one client are throttled.
    for _ in 0..5 {
        s.http
            .post(format!("{}/api/auth/login", s.base))
            .json(&json!({"username": "guest", "password": "nope"}))
            .send()
            .await
            .unwrap();
    }
    let r = s
        .http
        .post(format!("{}/api/auth/login", s.base))
        .json(&json!({"username": "guest", "password": "guest-password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    assert!(r.headers().contains_key("retry-after"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_through_the_tree() {
    let d = tempfile::tempdir().unwrap();
    for url in common::databases(d.path()).await {
        files_through_the_tree_on(&url).await;
    }
}

async fn files_through_the_tree_on(url: &str) {
    let s = server(url).await;
    let t = s.login("admin", "admin-password").await;
    let root: Value = s.get(&t, "/api/fs/list?path=/").await.json().await.unwrap();
    let names: Vec<&str> = root["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["one", "ro", "two"]);
    // A streamed upload of 5 MiB and a ranged download.
    let data = cloudmux_core::conformance::pattern(5 * 1024 * 1024 + 3, 4);
    // (A small body: the server answers before reading it, and a client still sending megabytes may
    // see the connection close before it reads the answer.)
    let up = s.put(&t, "/two/dir/big.bin", b"small".to_vec()).await;
    assert_eq!(
        up.status(),
        404,
        "the folder must exist: {:?}",
        up.text().await
    );
    assert_eq!(
        s.post(&t, "/api/fs/mkdir", json!({"path": "/two/dir"}))
            .await
            .status(),
        201
    );
    let up = s.put(&t, "/two/dir/big.bin", data.clone()).await;
    assert_eq!(up.status(), 201);
    let e: Value = up.json().await.unwrap();
    assert_eq!(e["size"], data.len());
    let listed: Value = s
        .get(&t, "/api/fs/list?path=/two/dir")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        listed["total"], 1,
        "the cached listing was dropped by the upload"
    );
    let all = s
        .get(
            &t,
            &format!("/api/fs/download?path={}", q("/two/dir/big.bin")),
        )
        .await;
    assert_eq!(all.status(), 200);
    assert_eq!(
        all.headers()["content-length"],
        data.len().to_string().as_str()
    );
    assert_eq!(all.bytes().await.unwrap().as_ref(), &data[..]);
    let part = s
        .http
        .get(format!("{}/api/fs/download?path=/two/dir/big.bin", s.base))
        .bearer_auth(&t)
        .header("Range", "bytes=1000-1999")
        .send()
        .await
        .unwrap();
    assert_eq!(part.status(), 206);
    assert_eq!(
        part.headers()["content-range"],
        format!("bytes 1000-1999/{}", data.len()).as_str()
    );
    assert_eq!(part.bytes().await.unwrap().as_ref(), &data[1000..2000]);
    let head = s
        .http
        .head(format!("{}/api/fs/download?path=/two/dir/big.bin", s.base))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(
        head.headers()["content-length"],
        data.len().to_string().as_str()
    );
    // A download ticket: no header needed, one file, not the user's token.
    let tk: Value = s
        .post(&t, "/api/fs/ticket", json!({"path": "/two/dir/big.bin"}))
        .await
        .json()
        .await
        .unwrap();
    let url = tk["url"].as_str().unwrap();
    assert!(!url.contains(&t));
    let plain = s.http.get(format!("{}{url}", s.base)).send().await.unwrap();
    assert_eq!(plain.status(), 200);
    assert!(
        plain.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment")
    );
    assert_eq!(plain.bytes().await.unwrap().as_ref(), &data[..]);
    // A thumbnail of an uploaded image, through a ticket.
    let img = image::RgbImage::from_fn(400, 200, |x, y| image::Rgb([x as u8, y as u8, 90]));
    let mut png = std::io::Cursor::new(Vec::new());
    img.write_to(&mut png, image::ImageFormat::Png).unwrap();
    assert_eq!(
        s.put(&t, "/two/dir/picture.png", png.into_inner())
            .await
            .status(),
        201
    );
    let tk: Value = s
        .post(
            &t,
            "/api/fs/ticket",
            json!({"path": "/two/dir/picture.png"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let th = s
        .http
        .get(format!(
            "{}{}?thumb=64",
            s.base,
            tk["url"].as_str().unwrap()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(th.status(), 200);
    assert_eq!(th.headers()["content-type"], "image/jpeg");
    let small = image::load_from_memory(&th.bytes().await.unwrap()).unwrap();
    assert_eq!((small.width(), small.height()), (64, 32));
    let not_image = s
        .http
        .get(format!("{}{url}?thumb=64", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(not_image.status(), 400);
    let forged = s
        .http
        .get(format!("{}/api/fs/dl/forged/big.bin", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 404);
    // The page's thumbnail route (with the token), and a folder's ticket, which fetches a ZIP.
    let th = s
        .http
        .get(format!(
            "{}/api/fs/thumb?path=/two/dir/picture.png&edge=64",
            s.base
        ))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(th.headers()["content-type"], "image/jpeg");
    let small = image::load_from_memory(&th.bytes().await.unwrap()).unwrap();
    assert_eq!((small.width(), small.height()), (64, 32));
    let tk: Value = s
        .post(&t, "/api/fs/ticket", json!({"path": "/two/dir"}))
        .await
        .json()
        .await
        .unwrap();
    let zurl = tk["url"].as_str().unwrap();
    assert!(zurl.ends_with("/dir%2Ezip"), "{zurl}");
    let z = s
        .http
        .get(format!("{}{zurl}", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(z.headers()["content-type"], "application/zip");
    let z = z.bytes().await.unwrap();
    assert_eq!(&z[..4], b"PK\x03\x04");
    assert!(z.windows(11).any(|w| w == b"dir/big.bin"));
    let far = s
        .http
        .get(format!("{}/api/fs/download?path=/two/dir/big.bin", s.base))
        .bearer_auth(&t)
        .header("Range", "bytes=99999999-")
        .send()
        .await
        .unwrap();
    assert_eq!(far.status(), 416);
    // Rename inside a mount, then copy and move between mounts as background tasks.
    let r = s
        .post(
            &t,
            "/api/fs/rename",
            json!({"from": "/two/dir/big.bin", "to": "/two/dir/b2.bin"}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let task: Value = s
        .post(
            &t,
            "/api/fs/copy",
            json!({"from": "/two/dir", "to": "/one/copied"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let id = task["id"].as_str().unwrap().to_string();
    let mut state = Value::Null;
    for _ in 0..200 {
        state = s
            .get(&t, &format!("/api/tasks/{id}"))
            .await
            .json()
            .await
            .unwrap();
        if state["state"] != "running" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(state["state"], "done", "{state}");
    assert_eq!(state["progress"]["files_done"], 2, "b2.bin and picture.png");
    assert_eq!(
        std::fs::read(s.dirs[0].path().join("copied/b2.bin")).unwrap(),
        data
    );
    let listed: Value = s
        .get(&t, "/api/fs/list?path=/one/copied")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["total"], 2);
    // A move between mounts runs as a task; when it ends, the cached listing of the folder it left is
    // dropped too.
    let moved: Value = s
        .post(
            &t,
            "/api/fs/move",
            json!({"from": "/one/copied/picture.png", "to": "/two/dir/arrived/picture.png"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let mid = moved["id"].as_str().unwrap().to_string();
    for _ in 0..200 {
        let st: Value = s
            .get(&t, &format!("/api/tasks/{mid}"))
            .await
            .json()
            .await
            .unwrap();
        if st["state"] != "running" {
            assert_eq!(st["state"], "done", "{st}");
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let left: Value = s
        .get(&t, "/api/fs/list?path=/one/copied")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        left["total"], 1,
        "the source folder's listing is fresh: {left}"
    );
    // A file keeps its name between remotes: asked under another, the server says how to ask.
    let renamed = s
        .post(
            &t,
            "/api/fs/copy",
            json!({"from": "/two/dir/arrived/picture.png", "to": "/one/other-name.png"}),
        )
        .await;
    assert_eq!(renamed.status(), 400);
    let e: Value = renamed.json().await.unwrap();
    assert!(
        e["error"]["hint"]
            .as_str()
            .unwrap()
            .contains("/one/picture.png"),
        "{e}"
    );
    // Sent to a folder that exists, a file goes inside it.
    let into = s
        .post(
            &t,
            "/api/fs/copy",
            json!({"from": "/two/dir/arrived/picture.png", "to": "/one"}),
        )
        .await;
    assert_eq!(into.status(), 202);
    let mut landed = false;
    for _ in 0..200 {
        if s.get(&t, "/api/fs/stat?path=/one/picture.png")
            .await
            .status()
            == 200
        {
            landed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(landed, "the copy is /one/picture.png");
    let arrived: Value = s
        .get(&t, "/api/fs/stat?path=/two/dir/arrived/picture.png")
        .await
        .json()
        .await
        .unwrap();
    assert!(arrived["size"].as_u64().unwrap() > 0, "{arrived}");
    // Sorting and paging.
    for i in 0..5 {
        s.put(&t, &format!("/two/p{i}.txt"), vec![b'x'; 10 - i])
            .await;
    }
    let page: Value = s
        .get(&t, "/api/fs/list?path=/two&sort=size&per_page=2&page=2")
        .await
        .json()
        .await
        .unwrap();
    let names: Vec<&str> = page["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["p3.txt", "p2.txt"], "{page}");
    // per_page=0: the whole folder in one (streamed) answer, in the same order as the pages.
    for i in 0..1200 {
        std::fs::write(s.dirs[1].path().join(format!("many-{i:04}")), "m").unwrap();
    }
    s.state.tree.invalidate("/two");
    let whole: Value = s
        .get(&t, "/api/fs/list?path=/two&sort=size&per_page=0")
        .await
        .json()
        .await
        .unwrap();
    let entries = whole["entries"].as_array().unwrap();
    assert_eq!(entries.len() as u64, whole["total"].as_u64().unwrap());
    assert!(entries.len() > 1200, "{}", entries.len());
    let paged: Value = s
        .get(&t, "/api/fs/list?path=/two&sort=size&per_page=1000&page=1")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        &entries[..1000],
        paged["entries"].as_array().unwrap().as_slice()
    );
    for i in 0..1200 {
        std::fs::remove_file(s.dirs[1].path().join(format!("many-{i:04}"))).unwrap();
    }
    s.state.tree.invalidate("/two");
    let found: Value = s
        .get(&t, "/api/fs/search?path=/&q=B2")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(found["results"].as_array().unwrap().len(), 2, "{found}");
    // Delete, and the read-only mount refuses writes.
    let d = s
        .post(
            &t,
            "/api/fs/delete",
            json!({"path": "/two/dir", "permanent": true}),
        )
        .await;
    assert_eq!(d.status(), 204);
    assert!(!s.dirs[1].path().join("dir").exists());
    let ro = s.put(&t, "/ro/new.txt", b"x".to_vec()).await;
    assert_eq!(ro.status(), 403);
    let e: Value = ro.json().await.unwrap();
    assert_eq!(e["error"]["kind"], "permission_denied");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("read-only")
    );
    assert_eq!(
        s.post(&t, "/api/fs/mkdir", json!({"path": "/elsewhere"}))
            .await
            .status(),
        404
    );
    assert_eq!(s.state.tree.mounts().len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_outside_the_base_path() {
    let d = tempfile::tempdir().unwrap();
    for url in common::databases(d.path()).await {
        nothing_outside_the_base_path_on(&url).await;
    }
}

async fn nothing_outside_the_base_path_on(url: &str) {
    let s = server(url).await;
    let t = s.login("guest", "guest-password").await;
    let listed: Value = s.get(&t, "/api/fs/list?path=/").await.json().await.unwrap();
    assert_eq!(listed["path"], "/");
    assert_eq!(
        listed["entries"][0]["path"], "/sub",
        "paths are shown under the base"
    );
    let ok = s
        .get(&t, &format!("/api/fs/download?path={}", q("/sub/t.txt")))
        .await;
    assert_eq!(ok.text().await.unwrap(), "team file");
    let attempts = [
        "../private.txt",
        "/../private.txt",
        "sub/../../private.txt",
        "..%2fprivate.txt",
        "%2e%2e/private.txt",
        "%2e%2e%2fprivate.txt",
        "..\\private.txt",
        "sub\\..\\..\\private.txt",
        "/one/private.txt",
        "//one/private.txt",
        "/../../../../etc/passwd",
        "....//private.txt",
        "sub/%00/../../private.txt",
        "%252e%252e/private.txt",
    ];
    for a in attempts {
        for (endpoint, raw) in [
            ("list", false),
            ("stat", false),
            ("download", false),
            ("download", true),
        ] {
            // Both percent-encoded once by the client and sent as written.
            let arg = if raw { a.to_string() } else { q(a) };
            let r = s.get(&t, &format!("/api/fs/{endpoint}?path={arg}")).await;
            let status = r.status().as_u16();
            let body = r.text().await.unwrap();
            assert!(
                !body.contains(SECRET),
                "{endpoint} {a:?} ({status}) leaked: {body}"
            );
            assert!(
                matches!(status, 400 | 403 | 404),
                "{endpoint} {a:?} answered {status}: {body}"
            );
        }
    }
    // The guest may only read; writes are refused before reaching the remote.
    let w = s.put(&t, "/sub/new.txt", b"x".to_vec()).await;
    assert_eq!(w.status(), 403);
    // Symlinks out of a local root give nothing, even to the admin.
    let admin = s.login("admin", "admin-password").await;
    for p in [
        "/one/escape/secret.txt",
        "/one/secret-link.txt",
        "/one/escape",
    ] {
        for endpoint in ["download", "list", "stat"] {
            let r = s
                .get(&admin, &format!("/api/fs/{endpoint}?path={}", q(p)))
                .await;
            let status = r.status().as_u16();
            let body = r.text().await.unwrap();
            assert!(!body.contains(SECRET), "{endpoint} {p}: {body}");
            assert!(status >= 400, "{endpoint} {p} answered {status}: {body}");
        }
    }
}

/// Remotes for the admin API: local folders by name.
struct Folders(Vec<(String, std::path::PathBuf)>);

#[async_trait::async_trait]
impl cloudmux_remote::Remotes for Folders {
    fn list(&self) -> Vec<cloudmux_remote::RemoteInfo> {
        self.0
            .iter()
            .map(|(n, _)| cloudmux_remote::RemoteInfo {
                name: n.clone(),
                kind: "local".into(),
            })
            .collect()
    }

    async fn open(&self, name: &str, root: &str) -> cloudmux_core::Result<Arc<dyn Storage>> {
        let (_, p) = self
            .0
            .iter()
            .find(|(n, _)| n == name)
            .ok_or_else(|| cloudmux_core::Error::not_found(format!("remote {name}")))?;
        let s: Arc<dyn Storage> = Arc::new(cloudmux_local::LocalStorage::new(p)?);
        Ok(if root.is_empty() {
            s
        } else {
            Arc::new(cloudmux_core::SubTree::new(s, root.to_string()))
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn administration() {
    let d = tempfile::tempdir().unwrap();
    for url in common::databases(d.path()).await {
        administration_on(&url).await;
    }
}

async fn administration_on(db_url: &str) {
    cloudmux_http::install_crypto_provider();
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(d.path().join("files/inner")).unwrap();
    std::fs::write(d.path().join("files/inner/x.txt"), "x").unwrap();
    let db_url = db_url.to_string();
    let remotes: Arc<dyn cloudmux_remote::Remotes> =
        Arc::new(Folders(vec![("files".into(), d.path().join("files"))]));
    let state = AppState::with_remotes(
        Db::open(&db_url).await.unwrap(),
        Duration::from_secs(30),
        Some(remotes.clone()),
    );
    state
        .users
        .create("root", "root-password", "/", true, true)
        .await
        .unwrap();
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", l.local_addr().unwrap());
    tokio::spawn(cloudmux_server::serve(l, state.clone()));
    let s = Srv {
        base,
        http: reqwest::Client::new(),
        state: state.clone(),
        dirs: vec![],
    };
    let t = s.login("root", "root-password").await;
    let r: Value = s.get(&t, "/api/admin/remotes").await.json().await.unwrap();
    assert_eq!(r["remotes"][0]["name"], "files");
    // Mount a remote and a sub-folder of it, read-only.
    for body in [
        json!({"path": "/f", "remote": "files"}),
        json!({"path": "/in", "remote": "files", "root": "inner", "read_only": true}),
    ] {
        assert_eq!(s.post(&t, "/api/admin/mounts", body).await.status(), 201);
    }
    let bad = s
        .post(
            &t,
            "/api/admin/mounts",
            json!({"path": "/g", "remote": "nope"}),
        )
        .await;
    assert_eq!(bad.status(), 404);
    let listed: Value = s
        .get(&t, "/api/fs/list?path=/in")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["entries"][0]["path"], "/in/x.txt");
    assert_eq!(s.put(&t, "/in/y.txt", b"y".to_vec()).await.status(), 403);
    // Users: a reader confined to /f/inner; no admin pages for them.
    let made = s
        .post(
            &t,
            "/api/admin/users",
            json!({"name": "ann", "password": "ann-password", "base_path": "/f/inner"}),
        )
        .await;
    assert_eq!(made.status(), 201);
    let short = s
        .post(
            &t,
            "/api/admin/users",
            json!({"name": "bob", "password": "short"}),
        )
        .await;
    assert_eq!(short.status(), 400);
    let ann = s.login("ann", "ann-password").await;
    assert_eq!(s.get(&ann, "/api/admin/users").await.status(), 403);
    let mine: Value = s
        .get(&ann, "/api/fs/list?path=/")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(mine["entries"][0]["name"], "x.txt");
    // A new password ends ann's sessions.
    let edit = s
        .http
        .patch(format!("{}/api/admin/users/ann", s.base))
        .bearer_auth(&t)
        .json(&json!({"password": "new-ann-password", "can_write": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(edit.status(), 200);
    assert_eq!(s.get(&ann, "/api/me").await.status(), 401);
    let ann = s.login("ann", "new-ann-password").await;
    assert_eq!(s.put(&ann, "/new.txt", b"n".to_vec()).await.status(), 201);
    assert!(d.path().join("files/inner/new.txt").exists());
    // Mounts survive a restart of the state from the same database.
    let again = AppState::with_remotes(
        Db::open(&db_url).await.unwrap(),
        Duration::from_secs(30),
        Some(remotes),
    );
    assert!(again.sync_mounts().await.unwrap().is_empty());
    let paths: Vec<String> = again.tree.mounts().iter().map(|m| m.path.clone()).collect();
    assert_eq!(paths, vec!["/in", "/f"]);
    let gone = s
        .http
        .delete(format!("{}/api/admin/mounts?path=/in", s.base))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), 204);
    assert_eq!(s.get(&t, "/api/fs/list?path=/in").await.status(), 404);
    let del = s
        .http
        .delete(format!("{}/api/admin/users/root", s.base))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(del.status(), 400, "no removing yourself");
}

fn dav_method(m: &str) -> reqwest::Method {
    reqwest::Method::from_bytes(m.as_bytes()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webdav_over_the_tree() {
    let d = tempfile::tempdir().unwrap();
    for url in common::databases(d.path()).await {
        webdav_over_the_tree_on(&url).await;
    }
}

async fn webdav_over_the_tree_on(url: &str) {
    let s = server(url).await;
    let dav = |m: &str, p: &str| {
        s.http
            .request(dav_method(m), format!("{}/dav{p}", s.base))
            .basic_auth("admin", Some("admin-password"))
    };
    let anon = s
        .http
        .request(dav_method("PROPFIND"), format!("{}/dav/", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(anon.status(), 401);
    assert!(
        anon.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Basic")
    );
    let root = dav("PROPFIND", "/")
        .header("Depth", "1")
        .send()
        .await
        .unwrap();
    assert_eq!(root.status(), 207);
    let xml = root.text().await.unwrap();
    for m in ["/dav/one/", "/dav/two/", "/dav/ro/"] {
        assert!(xml.contains(m), "{m} in {xml}");
    }
    let inf = dav("PROPFIND", "/")
        .header("Depth", "infinity")
        .send()
        .await
        .unwrap();
    assert_eq!(inf.status(), 403);
    assert!(inf.text().await.unwrap().contains("propfind-finite-depth"));
    // Streamed PUT and ranged GET.
    let data = cloudmux_core::conformance::pattern(3 * 1024 * 1024 + 11, 7);
    let put = dav("PUT", "/two/big.bin")
        .body(data.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 201);
    assert_eq!(
        std::fs::read(s.dirs[1].path().join("big.bin")).unwrap(),
        data
    );
    let got = dav("GET", "/two/big.bin").send().await.unwrap();
    assert_eq!(got.bytes().await.unwrap().as_ref(), &data[..]);
    let part = dav("GET", "/two/big.bin")
        .header("Range", "bytes=2000000-2000099")
        .send()
        .await
        .unwrap();
    assert_eq!(part.status(), 206);
    assert_eq!(
        part.bytes().await.unwrap().as_ref(),
        &data[2_000_000..2_000_100]
    );
    // Dead properties show in a folder's listing (read there in one query per folder, on both databases),
    // for the child that has them only, and not for a grandchild's.
    assert_eq!(dav("MKCOL", "/two/pd").send().await.unwrap().status(), 201);
    for p in ["/two/pd/a.txt", "/two/pd/b_%25.txt"] {
        assert_eq!(dav("PUT", p).body("x").send().await.unwrap().status(), 201);
    }
    assert_eq!(
        dav("MKCOL", "/two/pd/sub").send().await.unwrap().status(),
        201
    );
    for (p, v) in [("/two/pd/b_%25.txt", "mine"), ("/two/pd/sub", "folder")] {
        let r = dav("PROPPATCH", p)
            .body(format!(
                r#"<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:z"><D:set><D:prop><Z:tag>{v}</Z:tag></D:prop></D:set></D:propertyupdate>"#
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 207, "{p}");
    }
    let listing = |body: &'static str| {
        dav("PROPFIND", "/two/pd")
            .header("Depth", "1")
            .body(body)
            .send()
    };
    let all =
        listing(r#"<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:allprop/></D:propfind>"#)
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
    let named = listing(
        r#"<?xml version="1.0"?><D:propfind xmlns:D="DAV:" xmlns:Z="urn:z"><D:prop><Z:tag/></D:prop></D:propfind>"#,
    )
    .await
    .unwrap()
    .text()
    .await
    .unwrap();
    for xml in [&all, &named] {
        assert_eq!(xml.matches(">mine</").count(), 1, "{xml}");
        assert_eq!(xml.matches(">folder</").count(), 1, "{xml}");
        let a = xml.find("/two/pd/a.txt").expect("a.txt listed");
        let b = xml.find("/two/pd/b_%25.txt").expect("b listed");
        let mine = xml.find(">mine<").unwrap();
        assert!(
            mine > b && (a > mine || a < b),
            "the value sits in b's response: {xml}"
        );
    }
    let names =
        listing(r#"<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:propname/></D:propfind>"#)
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
    assert_eq!(names.matches("urn:z").count(), 2, "{names}");
    assert!(
        !names.contains("mine") && !names.contains("folder"),
        "{names}"
    );
    // MKCOL, MOVE inside a mount, COPY across mounts, DELETE.
    assert_eq!(dav("MKCOL", "/two/d").send().await.unwrap().status(), 201);
    assert_eq!(dav("MKCOL", "/two/d").send().await.unwrap().status(), 405);
    assert_eq!(dav("MKCOL", "/two/x/y").send().await.unwrap().status(), 409);
    let mv = dav("MOVE", "/two/big.bin")
        .header("Destination", format!("{}/dav/two/d/moved.bin", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(mv.status(), 201);
    let cp = dav("COPY", "/two/d/moved.bin")
        .header("Destination", format!("{}/dav/one/copied.bin", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(cp.status(), 201);
    assert_eq!(
        std::fs::read(s.dirs[0].path().join("copied.bin")).unwrap(),
        data
    );
    let again = dav("COPY", "/two/d/moved.bin")
        .header("Destination", format!("{}/dav/one/copied.bin", s.base))
        .header("Overwrite", "F")
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 412, "Overwrite: F keeps the copy");
    std::fs::write(s.dirs[0].path().join("copied.bin"), b"stale").unwrap();
    let over = dav("COPY", "/two/d/moved.bin")
        .header("Destination", format!("{}/dav/one/copied.bin", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(over.status(), 204, "an existing copy is replaced");
    assert_eq!(
        std::fs::read(s.dirs[0].path().join("copied.bin")).unwrap(),
        data
    );
    assert_eq!(dav("DELETE", "/two/d").send().await.unwrap().status(), 204);
    assert!(!s.dirs[1].path().join("d").exists());
    assert_eq!(
        dav("PUT", "/ro/new.txt")
            .body("x")
            .send()
            .await
            .unwrap()
            .status(),
        403
    );
    // The JSON API sees what WebDAV wrote (the listing cache was dropped).
    let t = s.login("admin", "admin-password").await;
    let listed: Value = s
        .get(&t, "/api/fs/list?path=/one")
        .await
        .json()
        .await
        .unwrap();
    assert!(listed.to_string().contains("copied.bin"));
    // The guest: read-only, confined to /one/team.
    let guest = |m: &str, p: &str| {
        s.http
            .request(dav_method(m), format!("{}/dav{p}", s.base))
            .basic_auth("guest", Some("guest-password"))
    };
    let ok = guest("GET", "/sub/t.txt").send().await.unwrap();
    assert_eq!(ok.text().await.unwrap(), "team file");
    for p in [
        "/../private.txt",
        "/%2e%2e/private.txt",
        "/sub/..%2f..%2fprivate.txt",
        "/..%5cprivate.txt",
    ] {
        let r = guest("GET", p).send().await.unwrap();
        let status = r.status().as_u16();
        let body = r.text().await.unwrap();
        assert!(!body.contains(SECRET), "{p}: {body}");
        assert!(status >= 400, "{p}: {status}");
    }
    assert_eq!(
        guest("PUT", "/sub/w.txt")
            .body("w")
            .send()
            .await
            .unwrap()
            .status(),
        403
    );
    let wrong = s
        .http
        .get(format!("{}/dav/one/private.txt", s.base))
        .basic_auth("admin", Some("wrong"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
}

/// Two server processes on one database (PostgreSQL in CI, SQLite too) see each other's users, sessions
/// and mounts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_share_one_database() {
    let d = tempfile::tempdir().unwrap();
    for url in common::databases(d.path()).await {
        two_servers_on(&url).await;
    }
}

async fn two_servers_on(db_url: &str) {
    cloudmux_http::install_crypto_provider();
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(d.path().join("shared")).unwrap();
    std::fs::write(d.path().join("shared/hello.txt"), "hello").unwrap();
    let remotes: Arc<dyn cloudmux_remote::Remotes> =
        Arc::new(Folders(vec![("shared".into(), d.path().join("shared"))]));
    let mut servers = Vec::new();
    for _ in 0..2 {
        let st = AppState::with_remotes(
            Db::open(db_url).await.unwrap(),
            Duration::from_secs(30),
            Some(remotes.clone()),
        );
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", l.local_addr().unwrap());
        tokio::spawn(cloudmux_server::serve(l, st.clone()));
        servers.push(Srv {
            base,
            http: reqwest::Client::new(),
            state: st,
            dirs: vec![],
        });
    }
    let (a, b) = (&servers[0], &servers[1]);
    a.state
        .users
        .create("boss", "boss-password", "/", true, true)
        .await
        .unwrap();
    // A user made on one is known to the other, and a session opened on one works on the other.
    let t = b.login("boss", "boss-password").await;
    assert_eq!(a.get(&t, "/api/me").await.status(), 200);
    let made = a
        .post(
            &t,
            "/api/admin/users",
            json!({"name": "eve", "password": "eve-password"}),
        )
        .await;
    assert_eq!(made.status(), 201);
    b.login("eve", "eve-password").await;
    // A mount made on one is served by the other once it follows the saved mounts.
    let m = a
        .post(
            &t,
            "/api/admin/mounts",
            json!({"path": "/s", "remote": "shared"}),
        )
        .await;
    assert_eq!(m.status(), 201);
    assert_eq!(
        b.get(&t, "/api/fs/stat?path=/s/hello.txt").await.status(),
        404
    );
    assert!(b.state.sync_mounts().await.unwrap().is_empty());
    let st: Value = b
        .get(&t, "/api/fs/stat?path=/s/hello.txt")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(st["size"], 5);
    if db_url.starts_with("postgres") {
        shared_state_across_servers(a, b, &t).await;
    }
    let gone = a
        .http
        .delete(format!("{}/api/admin/mounts?path=/s", a.base))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), 204);
    b.state.sync_mounts().await.unwrap();
    assert_eq!(
        b.get(&t, "/api/fs/stat?path=/s/hello.txt").await.status(),
        404
    );
}

/// On PostgreSQL, what a client's requests build up on one server holds on the other: WebDAV locks,
/// download tickets, the login throttle (requests behind a load balancer land anywhere).
async fn shared_state_across_servers(a: &Srv, b: &Srv, t: &str) {
    let dav = |s: &Srv, m: &str, p: &str| {
        s.http
            .request(dav_method(m), format!("{}/dav{p}", s.base))
            .basic_auth("boss", Some("boss-password"))
    };
    let lock = dav(a, "LOCK", "/s/hello.txt")
        .header("Timeout", "Second-600")
        .body(r#"<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype><D:owner>boss</D:owner></D:lockinfo>"#)
        .send()
        .await
        .unwrap();
    assert_eq!(lock.status(), 200);
    let token = lock.headers()["lock-token"].to_str().unwrap().to_string();
    let put = |s: &Srv, with: Option<&str>| {
        let r = dav(s, "PUT", "/s/hello.txt").body("changed");
        match with {
            Some(tk) => r.header("If", format!("({tk})")),
            None => r,
        }
    };
    assert_eq!(
        put(b, None).send().await.unwrap().status(),
        423,
        "a lock taken on A holds on B"
    );
    assert!(
        put(b, Some(&token))
            .send()
            .await
            .unwrap()
            .status()
            .is_success()
    );
    let found = dav(b, "PROPFIND", "/s/hello.txt")
        .header("Depth", "0")
        .body(r#"<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><D:lockdiscovery/></D:prop></D:propfind>"#)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        found.contains(token.trim_matches(|c| c == '<' || c == '>')),
        "{found}"
    );
    let unlock = dav(b, "UNLOCK", "/s/hello.txt")
        .header("Lock-Token", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(unlock.status(), 204, "released through B");
    assert!(put(a, None).send().await.unwrap().status().is_success());
    // A download link made on A opens on B.
    let tk: Value = a
        .post(t, "/api/fs/ticket", json!({"path": "/s/hello.txt"}))
        .await
        .json()
        .await
        .unwrap();
    let url = format!("{}{}", b.base, tk["url"].as_str().unwrap());
    let got = b.http.get(&url).send().await.unwrap();
    assert_eq!(got.status(), 200);
    assert_eq!(got.text().await.unwrap(), "changed");
    // Wrong passwords spread over both servers are counted together.
    let mut statuses = Vec::new();
    for i in 0..8 {
        let s = if i % 2 == 0 { a } else { b };
        let r = s
            .http
            .post(format!("{}/api/auth/login", s.base))
            .json(&json!({"username": "eve", "password": "wrong"}))
            .send()
            .await
            .unwrap();
        statuses.push(r.status().as_u16());
    }
    assert_eq!(
        statuses.iter().filter(|s| **s != 429).count() as u32,
        cloudmux_server::house::users::THROTTLE_FAILURES,
        "{statuses:?}"
    );
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
}

/// A storage that reads slowly (one chunk every 50 ms), to catch a background copy in flight.
#[derive(Debug)]
struct Slow(Arc<dyn Storage>);

#[async_trait::async_trait]
impl Storage for Slow {
    fn kind(&self) -> &'static str {
        "slow"
    }
    fn capabilities(&self) -> cloudmux_core::Capabilities {
        self.0.capabilities()
    }
    fn list<'a>(&'a self, path: &'a str) -> cloudmux_core::PageStream<'a> {
        self.0.list(path)
    }
    async fn stat(&self, path: &str) -> cloudmux_core::Result<cloudmux_core::Entry> {
        self.0.stat(path).await
    }
    async fn read(
        &self,
        path: &str,
        range: cloudmux_core::ByteRange,
    ) -> cloudmux_core::Result<cloudmux_core::ByteStream> {
        use futures_util::StreamExt;
        let s = self.0.read(path, range).await?;
        Ok(Box::pin(s.then(|c| async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            c
        })))
    }
    async fn write(
        &self,
        path: &str,
        data: cloudmux_core::ByteStream,
        opts: cloudmux_core::WriteOptions,
    ) -> cloudmux_core::Result<cloudmux_core::Entry> {
        self.0.write(path, data, opts).await
    }
    async fn mkdir(&self, path: &str) -> cloudmux_core::Result<cloudmux_core::Entry> {
        self.0.mkdir(path).await
    }
    async fn copy(&self, from: &str, to: &str) -> cloudmux_core::Result<cloudmux_core::Entry> {
        self.0.copy(from, to).await
    }
    async fn rename(&self, from: &str, to: &str) -> cloudmux_core::Result<cloudmux_core::Entry> {
        self.0.rename(from, to).await
    }
    async fn delete(
        &self,
        path: &str,
        mode: cloudmux_core::DeleteMode,
    ) -> cloudmux_core::Result<()> {
        self.0.delete(path, mode).await
    }
    async fn about(&self) -> cloudmux_core::Result<cloudmux_core::About> {
        self.0.about().await
    }
}

/// A two-way sync task: refused for folders the user may not write, overlapping folders and values out of
/// range; otherwise its first pass (`resync`) brings each side the other's files, a later pass carries an
/// edit across, its progress counts passes, and cancelling ends it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_way_sync_tasks_keep_two_folders_equal() {
    let d = tempfile::tempdir().unwrap();
    let url = common::databases(d.path()).await.remove(0);
    let s = server(&url).await;
    let (a, b) = (
        s.dirs[0].path().join("syncA"),
        s.dirs[1].path().join("syncB"),
    );
    std::fs::create_dir_all(&a).unwrap();
    std::fs::create_dir_all(&b).unwrap();
    std::fs::write(a.join("a.txt"), "from one").unwrap();
    std::fs::write(b.join("b.txt"), "from two").unwrap();
    let t = s.login("admin", "admin-password").await;
    let guest = s.login("guest", "guest-password").await;
    let r = s
        .post(
            &guest,
            "/api/tasks/bisync",
            json!({"path1": "/sub", "path2": "/../../two/syncB"}),
        )
        .await;
    assert!(
        r.status().is_client_error(),
        "a folder outside the guest's base: {}",
        r.status()
    );
    for bad in [
        json!({"path1": "/one/syncA", "path2": "/one/syncA/in"}),
        json!({"path1": "/one/syncA", "path2": "/two/syncB", "conflict_winner": "mine"}),
        json!({"path1": "/one/syncA", "path2": "/two/syncB", "every": 1}),
        json!({"path1": "/one/syncA", "path2": "/ro"}),
        json!({"path1": "/one/syncA/a.txt", "path2": "/two/syncB"}),
    ] {
        let r = s.post(&t, "/api/tasks/bisync", bad.clone()).await;
        assert!(r.status().is_client_error(), "{bad}: {}", r.status());
    }
    let task: Value = s
        .post(
            &t,
            "/api/tasks/bisync",
            json!({"path1": "/one/syncA", "path2": "/two/syncB", "resync": true, "every": 10}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(task["kind"], "bisync", "{task}");
    let id = task["id"].as_str().unwrap().to_string();
    let passes = || async {
        let v = s.json(&t, &format!("/api/tasks/{id}")).await;
        assert_eq!(v["state"], "running", "{v}");
        assert!(v["progress"]["last_error"].is_null(), "{v}");
        v["progress"]["passes"].as_u64().unwrap_or(0)
    };
    let t0 = std::time::Instant::now();
    while passes().await < 1 {
        assert!(t0.elapsed() < Duration::from_secs(10), "no first pass");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        std::fs::read_to_string(b.join("a.txt")).unwrap(),
        "from one"
    );
    assert_eq!(
        std::fs::read_to_string(a.join("b.txt")).unwrap(),
        "from two"
    );
    std::fs::write(b.join("b.txt"), "edited on two").unwrap();
    while std::fs::read_to_string(a.join("b.txt")).unwrap() != "edited on two" {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "the edit never crossed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(passes().await >= 2);
    assert_eq!(
        s.get(&guest, &format!("/api/tasks/{id}")).await.status(),
        404,
        "a sync task is its owner's"
    );
    let task = format!("/api/tasks/{id}");
    assert_eq!(s.delete(&t, &task).await.status(), 204);
    assert_eq!(s.json(&t, &task).await["state"], "cancelled");

    // A sync runs until cancelled: rights taken from its user meanwhile end it at its next pass.
    s.state
        .users
        .create("syncer", "syncer-password", "/", true, false)
        .await
        .unwrap();
    std::fs::create_dir_all(s.dirs[0].path().join("syncC")).unwrap();
    std::fs::create_dir_all(s.dirs[1].path().join("syncD")).unwrap();
    let u = s.login("syncer", "syncer-password").await;
    let started: Value = s
        .post(
            &u,
            "/api/tasks/bisync",
            json!({"path1": "/one/syncC", "path2": "/two/syncD", "resync": true, "every": 10}),
        )
        .await
        .json()
        .await
        .unwrap();
    let task = format!("/api/tasks/{}", started["id"].as_str().unwrap());
    s.state
        .users
        .edit("syncer", None, Some("/one"), None, None, false)
        .await
        .unwrap();
    let t0 = std::time::Instant::now();
    let ended = loop {
        let v = s.json(&u, &task).await;
        if v["state"] != "running" {
            break v;
        }
        assert!(t0.elapsed() < Duration::from_secs(30), "still running: {v}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(ended["state"], "failed", "{ended}");
    assert!(
        ended.to_string().contains("no longer sees both folders"),
        "{ended}"
    );
}

/// A background copy between two mounts is listed with its progress while it runs, and cancelling it stops
/// it: the state says so and no further bytes arrive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn background_copies_are_listed_and_cancelled() {
    let d = tempfile::tempdir().unwrap();
    let url = common::databases(d.path()).await.remove(0);
    let s = server(&url).await;
    let slow_dir = tempfile::tempdir().unwrap();
    // 64 chunks of 256 KiB at 50 ms each: about three seconds to copy.
    std::fs::write(
        slow_dir.path().join("slow.bin"),
        cloudmux_core::conformance::pattern(16 * 1024 * 1024, 5),
    )
    .unwrap();
    s.state
        .tree
        .mount(Mount {
            path: "/slow".into(),
            storage: Arc::new(Slow(Arc::new(
                cloudmux_local::LocalStorage::new(slow_dir.path()).unwrap(),
            ))),
            read_only: true,
            direct_links: false,
            guest: false,
        })
        .unwrap();
    let t = s.login("admin", "admin-password").await;
    let task: Value = s
        .post(
            &t,
            "/api/fs/copy",
            json!({"from": "/slow/slow.bin", "to": "/two/copy/slow.bin"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let id = task["id"].as_str().unwrap().to_string();
    assert_eq!(task["state"], "running");
    // Wait until bytes flow, then look at the list.
    let mut seen = 0;
    for _ in 0..100 {
        let all: Value = s.get(&t, "/api/tasks").await.json().await.unwrap();
        let mine = all["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["id"] == id.as_str())
            .cloned()
            .unwrap();
        seen = mine["progress"]["bytes_done"].as_u64().unwrap();
        if seen > 0 {
            assert_eq!(mine["state"], "running");
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(seen > 0, "the copy never made progress");
    let other = s.login("guest", "guest-password").await;
    assert_eq!(
        s.get(&other, &format!("/api/tasks/{id}")).await.status(),
        404,
        "tasks are their owner's"
    );
    let task = format!("/api/tasks/{id}");
    assert_eq!(s.delete(&t, &task).await.status(), 204);
    let after = s.json(&t, &task).await;
    assert_eq!(after["state"], "cancelled");
    let frozen = after["progress"]["bytes_done"].as_u64().unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    let later: Value = s
        .get(&t, &format!("/api/tasks/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(later["state"], "cancelled");
    assert_eq!(
        later["progress"]["bytes_done"].as_u64().unwrap(),
        frozen,
        "nothing moves after the cancel"
    );
    assert!(frozen < 16 * 1024 * 1024);
    // Nothing half-written is left behind, not even a hidden partial file.
    let left: Vec<_> = std::fs::read_dir(s.dirs[1].path().join("copy"))
        .map(|rd| rd.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "left behind: {left:?}");
    // Removing a user stops their transfers.
    s.state
        .users
        .create("mover", "mover-password", "/", true, false)
        .await
        .unwrap();
    let tm = s.login("mover", "mover-password").await;
    let task: Value = s
        .post(
            &tm,
            "/api/fs/copy",
            json!({"from": "/slow/slow.bin", "to": "/two/copy2/slow.bin"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let id = task["id"].as_str().unwrap().to_string();
    let gone = s
        .http
        .delete(format!("{}/api/admin/users/mover", s.base))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), 204);
    let row = s.state.users.db().task(&id, None).await.unwrap().unwrap();
    assert_eq!(row.state, "cancelled", "a removed user's transfer stops");
}

/// `run` stops accepting when its shutdown future completes, lets the request in flight finish, and returns.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_stops_gracefully_when_told() {
    cloudmux_http::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(&format!("sqlite://{}/t.db", dir.path().display()))
        .await
        .unwrap();
    let state = AppState::new(db, Duration::from_secs(30));
    std::fs::write(dir.path().join("big.bin"), vec![7u8; 8 << 20]).unwrap();
    let s: Arc<dyn Storage> = Arc::new(cloudmux_local::LocalStorage::new(dir.path()).unwrap());
    state
        .tree
        .mount(Mount {
            path: "/d".into(),
            storage: s,
            read_only: false,
            direct_links: false,
            guest: false,
        })
        .unwrap();
    state
        .users
        .create("u", "a long password", "/", false, false)
        .await
        .unwrap();
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", l.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(cloudmux_server::run(l, state, async {
        let _ = stopped.await;
    }));
    let http = reqwest::Client::new();
    let t: serde_json::Value = http
        .post(format!("{base}/api/auth/login"))
        .json(&json!({"username": "u", "password": "a long password"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = t["token"].as_str().unwrap().to_string();
    let resp = http
        .get(format!("{base}/api/fs/download?path=/d/big.bin"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    stop.send(()).unwrap();
    let body = resp.bytes().await.unwrap();
    assert_eq!(body.len(), 8 << 20, "the download in flight finished");
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("run returned")
        .unwrap()
        .unwrap();
    assert!(
        http.get(format!("{base}/api/me")).send().await.is_err(),
        "nothing listens any more"
    );
}
