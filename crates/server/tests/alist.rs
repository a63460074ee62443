//! AList's API (`/alist/…`) over HTTP: the envelope, sign-in (plain and pre-hashed), the file routes,
//! download links and their signs — and that it is no weaker a door than cloudmux's own API: the same
//! users, base folders, write right, guests and traversal corpus.
use std::sync::Arc;
use std::time::Duration;

use cloudmux_core::Storage;
use cloudmux_server::AppState;
use cloudmux_server::house::db::{Db, TokenRow};
use cloudmux_server::house::tree::Mount;
use cloudmux_server::house::users::token_hash;
use serde_json::{Value, json};

mod common;

const SECRET: &str = "TOP-SECRET-OUTSIDE";

struct Srv {
    base: String,
    http: reqwest::Client,
    state: Arc<AppState>,
    dirs: Vec<tempfile::TempDir>,
}

/// `/a` and `/b` (local folders), users `admin` (/), `carol` (/a/carol, read-write) and `rita`
/// (/a/pub, read-only); `/a/private.txt` is outside carol's and rita's base.
async fn server(db_url: &str) -> Srv {
    cloudmux_http::install_crypto_provider();
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    for d in ["carol/docs", "pub"] {
        std::fs::create_dir_all(dirs[0].path().join(d)).unwrap();
    }
    std::fs::write(dirs[0].path().join("private.txt"), SECRET).unwrap();
    std::fs::write(dirs[0].path().join("pub/film.mkv"), "0123456789abcdef").unwrap();
    std::fs::write(
        dirs[0].path().join("pub/film.srt"),
        "1\n00:00 --> 00:01\nhi",
    )
    .unwrap();
    std::fs::write(dirs[0].path().join("carol/docs/a.txt"), "carol's a").unwrap();
    std::fs::write(dirs[2].path().join("open.txt"), "for everyone").unwrap();
    let data = tempfile::tempdir().unwrap();
    let db = Db::open(db_url).await.unwrap();
    let state = AppState::new(db, Duration::from_secs(30));
    for (path, i) in [("/a", 0), ("/b", 1)] {
        let s: Arc<dyn Storage> =
            Arc::new(cloudmux_local::LocalStorage::new(dirs[i].path()).unwrap());
        state
            .tree
            .mount(Mount {
                path: path.into(),
                storage: s,
                read_only: false,
                direct_links: false,
                guest: false,
            })
            .unwrap();
    }
    for (name, base, write, admin) in [
        ("admin", "/", true, true),
        ("carol", "/a/carol", true, false),
        ("rita", "/a/pub", false, false),
    ] {
        state
            .users
            .create(name, &format!("{name}-password"), base, write, admin)
            .await
            .unwrap();
    }
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", l.local_addr().unwrap());
    tokio::spawn(cloudmux_server::serve(l, state.clone()));
    let mut dirs = dirs;
    dirs.push(data);
    Srv {
        base,
        http: reqwest::Client::new(),
        state,
        dirs,
    }
}

impl Srv {
    /// An AList call: HTTP 200 always; the envelope.
    async fn call(&self, token: &str, path: &str, body: Value) -> Value {
        let mut r = self
            .http
            .post(format!("{}/alist{path}", self.base))
            .json(&body);
        if !token.is_empty() {
            r = r.header("Authorization", token);
        }
        let r = r.send().await.unwrap();
        assert_eq!(
            r.status(),
            200,
            "{path}: AList answers 200 and puts the status in code"
        );
        r.json().await.unwrap()
    }

    async fn login(&self, user: &str) -> String {
        let v = self
            .call(
                "",
                "/api/auth/login",
                json!({"username": user, "password": format!("{user}-password"), "otp_code": ""}),
            )
            .await;
        assert_eq!(v["code"], 200, "{v}");
        v["data"]["token"].as_str().unwrap().to_string()
    }
}

fn names(v: &Value) -> Vec<String> {
    v["data"]["content"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_and_the_envelope() {
    let dir = tempfile::tempdir().unwrap();
    for url in common::databases(dir.path()).await {
        sign_in_and_the_envelope_on(&url).await;
    }
}

async fn sign_in_and_the_envelope_on(url: &str) {
    let s = server(url).await;
    // Wrong password, unknown user: code 400 "password is incorrect", as AList says it.
    for (u, p) in [("carol", "nope"), ("nobody", "x")] {
        let v = s
            .call("", "/api/auth/login", json!({"username": u, "password": p}))
            .await;
        assert_eq!(
            (v["code"].as_u64(), v["data"].is_null()),
            (Some(400), true),
            "{v}"
        );
        assert_eq!(v["message"], "password is incorrect");
    }
    let t = s.login("carol").await;
    assert!(t.starts_with("cmx_"));
    // The token raw in Authorization (AList's way), or with Bearer.
    let me = s
        .http
        .get(format!("{}/alist/api/me", s.base))
        .header("Authorization", &t)
        .send()
        .await
        .unwrap();
    let me: Value = me.json().await.unwrap();
    assert_eq!(
        (me["code"].as_u64(), me["data"]["username"].as_str()),
        (Some(200), Some("carol"))
    );
    assert_eq!(
        me["data"]["base_path"], "/",
        "paths are relative to the user's base, which stays hidden"
    );
    let me: Value = s
        .http
        .get(format!("{}/alist/api/me", s.base))
        .header("Authorization", format!("Bearer {t}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["data"]["username"], "carol");
    // No token and no guest mount; a wrong token.
    let v = s.call("", "/api/fs/list", json!({"path": "/"})).await;
    assert_eq!(v["code"], 401, "{v}");
    assert_eq!(v["message"], "Guest user is disabled, login please");
    let v = s
        .call("cmx_wrong", "/api/fs/list", json!({"path": "/"}))
        .await;
    assert_eq!(
        (v["code"].as_u64(), v["message"].as_str()),
        (Some(401), Some("token is invalidated"))
    );
    // A body that is not JSON.
    let r = s
        .http
        .post(format!("{}/alist/api/fs/list", s.base))
        .header("Authorization", &t)
        .body("{not json")
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["code"], 400, "{v}");
    // Pre-hashed sign-in: sha256(password + "-https://github.com/alist-org/alist").
    let hashed = cloudmux_server::house::users::alist_static_hash("carol-password");
    let v = s
        .call(
            "",
            "/api/auth/login/hash",
            json!({"username": "carol", "password": hashed}),
        )
        .await;
    assert_eq!(v["code"], 200, "{v}");
    let v = s
        .call(
            "",
            "/api/auth/login/hash",
            json!({"username": "carol", "password": "carol-password"}),
        )
        .await;
    assert_eq!(v["code"], 400, "the plain password is not the hash: {v}");
    // Settings clients read at start; a ping.
    let v: Value = s
        .http
        .get(format!("{}/alist/api/public/settings", s.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        v["data"]["version"].as_str().unwrap().starts_with("v3."),
        "{v}"
    );
    let pong = s
        .http
        .get(format!("{}/alist/ping", s.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(pong, "pong");
    // Logging out ends the token.
    let r: Value = s
        .http
        .get(format!("{}/alist/api/auth/logout", s.base))
        .header("Authorization", &t)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["code"], 200);
    let v = s.call(&t, "/api/fs/list", json!({"path": "/"})).await;
    assert_eq!(v["code"], 401);
    // The throttle is the same as cloudmux's: the sixth wrong guess in a row is refused unchecked.
    for _ in 0..5 {
        s.call(
            "",
            "/api/auth/login",
            json!({"username": "rita", "password": "guess"}),
        )
        .await;
    }
    let v = s
        .call(
            "",
            "/api/auth/login",
            json!({"username": "rita", "password": "rita-password"}),
        )
        .await;
    assert_eq!(v["code"], 429, "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_through_the_alist_door() {
    let dir = tempfile::tempdir().unwrap();
    for url in common::databases(dir.path()).await {
        files_through_the_alist_door_on(&url).await;
    }
}

async fn files_through_the_alist_door_on(url: &str) {
    let s = server(url).await;
    let t = s.login("carol").await;
    // list, with paging; per_page 0 is everything.
    for n in 0..5 {
        std::fs::write(
            s.dirs[0].path().join(format!("carol/f{n}.txt")),
            format!("file {n}"),
        )
        .unwrap();
    }
    s.state.tree.invalidate("/a/carol");
    let all = s
        .call(
            &t,
            "/api/fs/list",
            json!({"path": "/", "page": 1, "per_page": 0}),
        )
        .await;
    assert_eq!(all["data"]["total"], 6);
    assert_eq!(names(&all)[0], "docs", "folders first");
    assert_eq!(all["data"]["write"], true);
    assert_eq!(all["data"]["provider"], "Local");
    let p2 = s
        .call(
            &t,
            "/api/fs/list",
            json!({"path": "/", "page": 2, "per_page": 4}),
        )
        .await;
    assert_eq!(names(&p2), ["f3.txt", "f4.txt"]);
    let f = &all["data"]["content"][1];
    assert_eq!(
        (
            f["type"].as_u64(),
            f["size"].as_u64(),
            f["is_dir"].as_bool()
        ),
        (Some(4), Some(6), Some(false))
    );
    assert!(f["sign"].as_str().unwrap().contains(':'), "{f}");
    assert!(
        !f["sign"].as_str().unwrap().contains(&t),
        "the sign is not the token"
    );
    // get: raw_url serves ranges, without the token.
    let g = s.call(&t, "/api/fs/get", json!({"path": "/f1.txt"})).await;
    let raw = g["data"]["raw_url"].as_str().unwrap();
    assert!(
        raw.starts_with(&format!("{}/alist/d/f1.txt?sign=", s.base)),
        "{raw}"
    );
    let part = s
        .http
        .get(raw)
        .header("Range", "bytes=2-5")
        .send()
        .await
        .unwrap();
    assert_eq!(part.status(), 206);
    assert_eq!(part.text().await.unwrap(), "le 1");
    let proxied = raw.replacen("/alist/d/", "/alist/p/", 1);
    assert_eq!(
        s.http
            .get(&proxied)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "file 1"
    );
    // An image's `thumb` is a signed link to the server's thumbnail.
    let img = image::RgbImage::from_fn(300, 200, |x, y| image::Rgb([x as u8, y as u8, 40]));
    img.save(s.dirs[0].path().join("carol/photo.png")).unwrap();
    s.state.tree.invalidate("/a/carol");
    let v = s.call(&t, "/api/fs/list", json!({"path": "/"})).await;
    let photo = v["data"]["content"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "photo.png")
        .unwrap()
        .clone();
    assert_eq!(photo["type"], 5);
    let thumb = s
        .http
        .get(photo["thumb"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(thumb.headers()["content-type"], "image/jpeg");
    let small = image::load_from_memory(&thumb.bytes().await.unwrap()).unwrap();
    assert_eq!((small.width(), small.height()), (256, 171));
    // dirs, mkdir, put (raw), form (multipart), rename, move, copy, remove.
    let d = s.call(&t, "/api/fs/dirs", json!({"path": "/"})).await;
    assert_eq!(d["data"][0]["name"], "docs");
    assert_eq!(
        s.call(&t, "/api/fs/mkdir", json!({"path": "/new"})).await["code"],
        200
    );
    assert!(s.dirs[0].path().join("carol/new").is_dir());
    let r = s
        .http
        .put(format!("{}/alist/api/fs/put", s.base))
        .header("Authorization", &t)
        .header("File-Path", "%2Fnew%2F%D1%84%D0%B0%D0%B9%D0%BB.txt")
        .header("As-Task", "true")
        .header("Last-Modified", "1700000000000")
        .body("put body")
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        (v["code"].as_u64(), v["data"]["task"]["state"].as_u64()),
        (Some(200), Some(2)),
        "{v}"
    );
    let put = s.dirs[0].path().join("carol/new/файл.txt");
    assert_eq!(std::fs::read_to_string(&put).unwrap(), "put body");
    let mtime = std::fs::metadata(&put).unwrap().modified().unwrap();
    assert_eq!(
        mtime
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
        1_700_000_000
    );
    // A form with a field before the file, as browsers and alist-sdk send it.
    let mut form =
        b"--B0undary\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nignored\r\n\
--B0undary\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x.bin\"\r\n\
Content-Type: application/octet-stream\r\n\r\n"
            .to_vec();
    form.extend_from_slice(&[7u8; 300_000]);
    form.extend_from_slice(b"\r\n--B0undary--\r\n");
    let v: Value = s
        .http
        .put(format!("{}/alist/api/fs/form", s.base))
        .header("Authorization", &t)
        .header("File-Path", "/new/form.bin")
        .header("Content-Type", "multipart/form-data; boundary=B0undary")
        .body(form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["code"], 200, "{v}");
    assert_eq!(
        std::fs::read(s.dirs[0].path().join("carol/new/form.bin")).unwrap(),
        vec![7u8; 300_000]
    );
    let v = s
        .call(
            &t,
            "/api/fs/rename",
            json!({"path": "/new/form.bin", "name": "renamed.bin"}),
        )
        .await;
    assert_eq!(v["code"], 200, "{v}");
    let v = s
        .call(
            &t,
            "/api/fs/move",
            json!({"src_dir": "/new", "dst_dir": "/docs", "names": ["renamed.bin"]}),
        )
        .await;
    assert_eq!(v["code"], 200, "{v}");
    assert!(s.dirs[0].path().join("carol/docs/renamed.bin").exists());
    let v = s
        .call(
            &t,
            "/api/fs/copy",
            json!({"src_dir": "/docs", "dst_dir": "/new", "names": ["a.txt"]}),
        )
        .await;
    assert_eq!(
        (v["code"].as_u64(), v["data"].as_str()),
        (Some(200), Some("Added 1 tasks")),
        "{v}"
    );
    let copied = s.dirs[0].path().join("carol/new/a.txt");
    for _ in 0..100 {
        if copied.exists() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(std::fs::read_to_string(&copied).unwrap(), "carol's a");
    let v = s
        .call(
            &t,
            "/api/fs/remove",
            json!({"dir": "/new", "names": ["a.txt", "файл.txt"]}),
        )
        .await;
    assert_eq!(v["code"], 200, "{v}");
    assert!(!copied.exists() && !put.exists());
    // search.
    let v = s
        .call(
            &t,
            "/api/fs/search",
            json!({"parent": "/", "keywords": "renamed", "scope": 0, "page": 1, "per_page": 10}),
        )
        .await;
    assert_eq!(v["data"]["content"][0]["parent"], "/docs", "{v}");
    assert_eq!(v["data"]["total"], 1);
    // related: a film's subtitles, for a reader.
    let tr = s.login("rita").await;
    let g = s
        .call(&tr, "/api/fs/get", json!({"path": "/film.mkv"}))
        .await;
    assert_eq!(g["data"]["type"], 2);
    assert_eq!(g["data"]["related"][0]["name"], "film.srt");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_weaker_than_the_own_api() {
    let dir = tempfile::tempdir().unwrap();
    for url in common::databases(dir.path()).await {
        no_weaker_than_the_own_api_on(&url).await;
    }
}

async fn no_weaker_than_the_own_api_on(url: &str) {
    let s = server(url).await;
    let tc = s.login("carol").await;
    let tr = s.login("rita").await;
    // A reader writes nothing.
    for (path, body) in [
        ("/api/fs/mkdir", json!({"path": "/x"})),
        (
            "/api/fs/rename",
            json!({"path": "/film.mkv", "name": "y.mkv"}),
        ),
        ("/api/fs/remove", json!({"dir": "/", "names": ["film.mkv"]})),
        (
            "/api/fs/move",
            json!({"src_dir": "/", "dst_dir": "/", "names": ["film.mkv"]}),
        ),
        (
            "/api/fs/copy",
            json!({"src_dir": "/", "dst_dir": "/", "names": ["film.mkv"]}),
        ),
    ] {
        let v = s.call(&tr, path, body).await;
        assert_eq!(v["code"], 403, "{path}: {v}");
    }
    let r: Value = s
        .http
        .put(format!("{}/alist/api/fs/put", s.base))
        .header("Authorization", &tr)
        .header("File-Path", "/up.txt")
        .body("x")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["code"], 403);
    assert!(s.dirs[0].path().join("pub/film.mkv").exists());
    // The traversal corpus through every path field and names[].
    let corpus = [
        "../private.txt",
        "/../private.txt",
        "/docs/../../private.txt",
        "..\\private.txt",
        "/docs/\0/../x",
        "/../../b",
    ];
    for p in corpus {
        for (path, body) in [
            ("/api/fs/list", json!({"path": p})),
            ("/api/fs/get", json!({"path": p})),
            ("/api/fs/dirs", json!({"path": p})),
            ("/api/fs/mkdir", json!({"path": p})),
            ("/api/fs/rename", json!({"path": p, "name": "z"})),
            ("/api/fs/rename", json!({"path": "/docs/a.txt", "name": p})),
            (
                "/api/fs/search",
                json!({"parent": p, "keywords": "private"}),
            ),
            (
                "/api/fs/remove",
                json!({"dir": p, "names": ["private.txt"]}),
            ),
            ("/api/fs/remove", json!({"dir": "/", "names": [p]})),
            (
                "/api/fs/move",
                json!({"src_dir": "/docs", "dst_dir": p, "names": ["a.txt"]}),
            ),
            (
                "/api/fs/copy",
                json!({"src_dir": p, "dst_dir": "/docs", "names": ["private.txt"]}),
            ),
            (
                "/api/fs/copy",
                json!({"src_dir": "/", "dst_dir": "/docs", "names": [p]}),
            ),
        ] {
            let v = s.call(&tc, path, body.clone()).await;
            let code = v["code"].as_u64().unwrap();
            assert!(
                code == 400 || code == 403 || code == 404,
                "{path} {body}: {v}"
            );
            assert!(!v.to_string().contains(SECRET), "{path} {body}: {v}");
        }
    }
    for p in corpus
        .iter()
        .chain(&["%2e%2e/private.txt", "%2E%2E/%2e%2e/a/private.txt"])
    {
        let r = s
            .http
            .get(format!("{}/alist/d/{p}", s.base))
            .header("Authorization", &tc)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(!r.contains(SECRET), "/d/{p}: {r}");
    }
    // As AList answers a relative path: 403.
    let v = s
        .call(&tc, "/api/fs/get", json!({"path": "/../private.txt"}))
        .await;
    assert_eq!(v["code"], 403, "{v}");
    assert_eq!(
        std::fs::read_to_string(s.dirs[0].path().join("private.txt")).unwrap(),
        SECRET
    );
    assert!(
        s.dirs[0].path().join("carol/docs/a.txt").exists(),
        "nothing moved or deleted"
    );
    // Signs: bound to the path and the user; a tampered, foreign or missing one is refused (401 in code).
    let g = s
        .call(&tc, "/api/fs/get", json!({"path": "/docs/a.txt"}))
        .await;
    let raw = g["data"]["raw_url"].as_str().unwrap().to_string();
    let sign = raw.split("sign=").nth(1).unwrap().to_string();
    let fetch = |url: String| {
        let r = s.http.get(url).send();
        async move { r.await.unwrap().text().await.unwrap() }
    };
    assert_eq!(fetch(raw.clone()).await, "carol's a");
    for bad in [
        format!("{}/alist/d/docs/b.txt?sign={sign}", s.base),
        format!("{}/alist/d/docs/a.txt?sign=x{sign}", s.base),
        format!("{}/alist/d/docs/a.txt", s.base),
        format!("{}/alist/d/private.txt?sign={sign}", s.base),
    ] {
        let v: Value = serde_json::from_str(&fetch(bad.clone()).await).unwrap();
        assert_eq!(v["code"], 401, "{bad}: {v}");
    }
    // A user removed: their links die with them.
    s.state.users.db().remove_user("carol").await.unwrap();
    let v: Value = serde_json::from_str(&fetch(raw).await).unwrap();
    assert_eq!(v["code"], 401);
    // Guests: only what is open to them, by path and by sign.
    let open: Arc<dyn Storage> =
        Arc::new(cloudmux_local::LocalStorage::new(s.dirs[2].path()).unwrap());
    s.state
        .tree
        .mount(Mount {
            path: "/open".into(),
            storage: open,
            read_only: true,
            direct_links: false,
            guest: true,
        })
        .unwrap();
    let v = s.call("", "/api/fs/list", json!({"path": "/"})).await;
    assert_eq!(names(&v), ["open"]);
    let v = s
        .call("", "/api/fs/get", json!({"path": "/open/open.txt"}))
        .await;
    let raw = v["data"]["raw_url"].as_str().unwrap().to_string();
    assert_eq!(fetch(raw).await, "for everyone");
    let v = s.call("", "/api/fs/list", json!({"path": "/a"})).await;
    assert_eq!(v["code"], 403, "{v}");
    let v = s
        .call("", "/api/fs/mkdir", json!({"path": "/open/x"}))
        .await;
    assert_eq!(v["code"], 403, "{v}");
    let v: Value =
        serde_json::from_str(&fetch(format!("{}/alist/d/a/private.txt", s.base)).await).unwrap();
    assert_eq!(v["code"], 403, "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_the_root_of_its_own_address() {
    let dir = tempfile::tempdir().unwrap();
    for url in common::databases(dir.path()).await {
        at_the_root_of_its_own_address_on(&url).await;
    }
}

async fn at_the_root_of_its_own_address_on(url: &str) {
    let s = server(url).await;
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let own = format!("http://{}", l.local_addr().unwrap());
    tokio::spawn(cloudmux_server::serve_alist(l, s.state.clone(), None));
    let v: Value = s
        .http
        .post(format!("{own}/api/auth/login"))
        .json(&json!({"username": "carol", "password": "carol-password"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let t = v["data"]["token"].as_str().unwrap();
    let v: Value = s
        .http
        .post(format!("{own}/api/fs/get"))
        .header("Authorization", t)
        .json(&json!({"path": "/docs/a.txt"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let raw = v["data"]["raw_url"].as_str().unwrap();
    assert!(
        raw.starts_with(&format!("{own}/d/docs/a.txt?sign=")),
        "{raw}"
    );
    assert_eq!(
        s.http.get(raw).send().await.unwrap().text().await.unwrap(),
        "carol's a"
    );
}

/// OpenList's batch routes under the house rules: batch and regex renames (a bad or colliding plan
/// changes nothing), a recursive move that flattens a folder, removing the empty folders left; a
/// reader may do none of it, and no path leaves the user's base. The routes AList has and cloudmux does
/// not answer in the envelope with what to use instead.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_routes_and_what_is_not_served() {
    let d = tempfile::tempdir().unwrap();
    let url = common::databases(d.path()).await.remove(0);
    let s = server(&url).await;
    let tc = s.login("carol").await;
    let root = s.dirs[0].path().join("carol");
    for f in [
        "m/01-intro.mp3",
        "m/02-song.mp3",
        "m/cover.jpg",
        "m/cd2/03-end.mp3",
        "m/cd2/empty/.keep",
    ] {
        std::fs::create_dir_all(root.join(f).parent().unwrap()).unwrap();
        std::fs::write(root.join(f), f).unwrap();
    }
    std::fs::remove_file(root.join("m/cd2/empty/.keep")).unwrap();
    std::fs::create_dir_all(root.join("m/a/b/c")).unwrap();
    let list = |p: &std::path::Path| {
        let mut v: Vec<String> = std::fs::read_dir(p)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        v.sort();
        v
    };
    // Batch rename: two names, checked first (a bad one stops all).
    let bad = s
        .call(
            &tc,
            "/api/fs/batch_rename",
            json!({"src_dir": "/m", "rename_objects": [
            {"src_name": "cover.jpg", "new_name": "front.jpg"},
            {"src_name": "02-song.mp3", "new_name": "../escaped.mp3"}]}),
        )
        .await;
    assert_eq!(bad["code"], 400, "{bad}");
    assert!(root.join("m/cover.jpg").exists(), "nothing renamed");
    let v = s
        .call(&tc, "/api/fs/batch_rename", json!({"src_dir": "/m", "rename_objects": [
            {"src_name": "cover.jpg", "new_name": "front.jpg"}, {"src_name": "", "new_name": "x"}]}))
        .await;
    assert_eq!(v["code"], 200, "{v}");
    assert!(root.join("m/front.jpg").exists());
    // Regex rename: groups in the new name; a pattern making two names one changes nothing.
    let clash = s
        .call(&tc, "/api/fs/regex_rename", json!({"src_dir": "/m", "src_name_regex": "^\\d+-.*\\.mp3$", "new_name_regex": "same.mp3"}))
        .await;
    assert_eq!(clash["code"], 400, "{clash}");
    let broken = s
        .call(
            &tc,
            "/api/fs/regex_rename",
            json!({"src_dir": "/m", "src_name_regex": "(", "new_name_regex": "x"}),
        )
        .await;
    assert_eq!(broken["code"], 400, "{broken}");
    let v = s
        .call(&tc, "/api/fs/regex_rename", json!({"src_dir": "/m", "src_name_regex": "^(\\d+)-(.*)\\.mp3$", "new_name_regex": "$2 ($1).mp3"}))
        .await;
    assert_eq!(v["code"], 200, "{v}");
    assert_eq!(
        list(&root.join("m")),
        ["a", "cd2", "front.jpg", "intro (01).mp3", "song (02).mp3"]
    );
    // Recursive move into the same folder flattens it; into one inside it is refused.
    let inside = s
        .call(
            &tc,
            "/api/fs/recursive_move",
            json!({"src_dir": "/m", "dst_dir": "/m/cd2"}),
        )
        .await;
    assert_eq!(inside["code"], 403, "{inside}");
    let v = s
        .call(
            &tc,
            "/api/fs/recursive_move",
            json!({"src_dir": "/m", "dst_dir": "/m", "conflict_policy": "cancel"}),
        )
        .await;
    assert_eq!(v["code"], 200, "{v}");
    assert!(root.join("m/03-end.mp3").exists() && !root.join("m/cd2/03-end.mp3").exists());
    // The empty folders left go, the folder itself stays.
    let v = s
        .call(
            &tc,
            "/api/fs/remove_empty_directory",
            json!({"src_dir": "/m"}),
        )
        .await;
    assert_eq!(v["code"], 200, "{v}");
    assert_eq!(
        list(&root.join("m")),
        ["03-end.mp3", "front.jpg", "intro (01).mp3", "song (02).mp3"]
    );
    // A reader does none of it; no path leaves the base.
    let tr = s.login("rita").await;
    for (path, body) in [
        (
            "/api/fs/batch_rename",
            json!({"src_dir": "/", "rename_objects": [{"src_name": "film.mkv", "new_name": "x.mkv"}]}),
        ),
        (
            "/api/fs/regex_rename",
            json!({"src_dir": "/", "src_name_regex": "film", "new_name_regex": "x"}),
        ),
        (
            "/api/fs/recursive_move",
            json!({"src_dir": "/", "dst_dir": "/"}),
        ),
        ("/api/fs/remove_empty_directory", json!({"src_dir": "/"})),
    ] {
        assert_eq!(s.call(&tr, path, body).await["code"], 403, "{path}");
    }
    for p in ["../", "/../pub", "..\\x"] {
        for (path, body) in [
            (
                "/api/fs/batch_rename",
                json!({"src_dir": p, "rename_objects": [{"src_name": "private.txt", "new_name": "x"}]}),
            ),
            (
                "/api/fs/regex_rename",
                json!({"src_dir": p, "src_name_regex": ".*", "new_name_regex": "x"}),
            ),
            (
                "/api/fs/recursive_move",
                json!({"src_dir": p, "dst_dir": "/m"}),
            ),
            ("/api/fs/remove_empty_directory", json!({"src_dir": p})),
        ] {
            let v = s.call(&tc, path, body).await;
            assert!(v["code"] == 403 || v["code"] == 400, "{path} {p}: {v}");
        }
    }
    assert!(s.dirs[0].path().join("private.txt").exists());
    assert!(s.dirs[0].path().join("pub/film.mkv").exists());
    // What is not served says what to use.
    let v = s.call(&tc, "/api/admin/user/list", json!({})).await;
    assert_eq!(v["code"], 403);
    assert!(v["message"].as_str().unwrap().contains("/#admin"), "{v}");
    let v = s.call(&tc, "/api/fs/archive/meta", json!({})).await;
    assert_eq!(v["code"], 405);
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("download the archive"),
        "{v}"
    );
    assert_eq!(
        s.call(&tc, "/api/public/archive_extensions", json!({}))
            .await["data"],
        json!([])
    );
    // A new password through the profile route needs a recent sign-in: a session of an hour ago (a
    // stolen one, say) and a long-lived API token are refused and change nothing.
    let db = Db::open(&url).await.unwrap();
    let old = "cmx_signed-in-an-hour-ago";
    let now = chrono::Utc::now().timestamp();
    for (kind, created) in [("session", now - 3600), ("api", now)] {
        let t = format!("{old}-{kind}");
        db.add_token(&TokenRow {
            token_hash: token_hash(&t),
            user_name: "carol".into(),
            kind: kind.into(),
            label: "test".into(),
            created,
            expires: now + 86_400,
        })
        .await
        .unwrap();
        // The token is good for everything else.
        let v = s.call(&t, "/api/fs/list", json!({"path": "/"})).await;
        assert_eq!(v["code"], 200, "{v}");
        let v = s
            .call(
                &t,
                "/api/me/update",
                json!({"password": "stolen-session-pw"}),
            )
            .await;
        assert_eq!(v["code"], 403, "{kind}: {v}");
        assert!(
            v["message"].as_str().unwrap().contains("sign in again"),
            "{v}"
        );
    }
    let v = s
        .call(
            "",
            "/api/auth/login",
            json!({"username": "carol", "password": "stolen-session-pw"}),
        )
        .await;
    assert_ne!(v["code"], 200, "{v}");
    // A fresh session's new password reaches cloudmux's users.
    let v = s
        .call(
            &tc,
            "/api/me/update",
            json!({"username": "carol", "password": "carol-new-password"}),
        )
        .await;
    assert_eq!(v["code"], 200, "{v}");
    let v = s
        .call(
            "",
            "/api/auth/login",
            json!({"username": "carol", "password": "carol-new-password"}),
        )
        .await;
    assert_eq!(v["code"], 200, "{v}");
    let v = s
        .call(
            v["data"]["token"].as_str().unwrap(),
            "/api/me/update",
            json!({"username": "caroline"}),
        )
        .await;
    assert_eq!(v["code"], 400, "{v}");
}

/// OpenList's chunked upload: chunks out of order within the window, one too far ahead refused with
/// 429, a chunk sent twice taken once, a short chunk refused; the file appears whole on complete and
/// not before; another user cannot touch the upload; an aborted one leaves nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunked_uploads_in_any_order_within_bounds() {
    let d = tempfile::tempdir().unwrap();
    let url = common::databases(d.path()).await.remove(0);
    let s = server(&url).await;
    let tc = s.login("carol").await;
    let mib = 1024 * 1024;
    let data: Vec<u8> = (0..(5 * mib + 12345)).map(|i| (i % 251) as u8).collect();
    // One call of the chunked upload: (method, route, token, headers, body) → the envelope.
    let mp =
        |m: reqwest::Method, path: &str, t: &str, headers: &[(&str, String)], body: Vec<u8>| {
            let mut r = s
                .http
                .request(m, format!("{}/alist/api/fs/multipart/{path}", s.base))
                .header("Authorization", t)
                .body(body);
            for (k, v) in headers {
                r = r.header(*k, v);
            }
            async move { r.send().await.unwrap().json::<Value>().await.unwrap() }
        };
    let init = |t: &str, path: &str, size: usize| {
        let h = [
            ("File-Path", path.to_string()),
            ("X-File-Size", size.to_string()),
            ("X-Chunk-Size", mib.to_string()),
        ];
        mp(reqwest::Method::POST, "init", t, &h, Vec::new())
    };
    // A size past the drive's free space is refused at once (a petabyte on a local folder).
    let v = init(&tc, "/docs/huge.bin", 1 << 50).await;
    assert_eq!(v["code"], 413, "{v}");
    assert!(v["message"].as_str().unwrap().contains("free"), "{v}");
    let started = init(&tc, "/docs/big%20file.bin", data.len()).await;
    assert_eq!(started["code"], 200, "{started}");
    let id = started["data"]["upload_id"].as_str().unwrap().to_string();
    let chunk = started["data"]["chunk_size"].as_u64().unwrap() as usize;
    let total = started["data"]["total_chunks"].as_u64().unwrap() as usize;
    assert_eq!((chunk, total), (mib, 6));
    let send = |id: &str, i: usize, body: Vec<u8>, t: &str| {
        let h = [
            ("X-Upload-Id", id.to_string()),
            ("X-Chunk-Index", i.to_string()),
        ];
        mp(reqwest::Method::PUT, "chunk", t, &h, body)
    };
    let by_id = |m: reqwest::Method, path: &str, id: &str| {
        mp(m, path, &tc, &[("X-Upload-Id", id.to_string())], Vec::new())
    };
    let part = |i: usize| data[i * chunk..((i + 1) * chunk).min(data.len())].to_vec();
    // Too far ahead of chunk 0: 429, send later.
    assert_eq!(send(&id, 4, part(4), &tc).await["code"], 429);
    // Another user's request for it: not found.
    let tr = s.login("rita").await;
    assert_eq!(send(&id, 0, part(0), &tr).await["code"], 404);
    // Short: refused, nothing taken.
    assert_eq!(send(&id, 1, part(1)[..10].to_vec(), &tc).await["code"], 400);
    for i in [2, 1, 0, 0, 3, 5, 4] {
        let v = send(&id, i, part(i), &tc).await;
        assert_eq!(v["code"], 200, "chunk {i}: {v}");
    }
    let target = s.dirs[0].path().join("carol/docs/big file.bin");
    let done = by_id(reqwest::Method::POST, "complete", &id).await;
    assert_eq!(done["code"], 200, "{done}");
    assert!(std::fs::read(&target).unwrap() == data, "the file is whole");
    let status = by_id(reqwest::Method::GET, "status", &id).await;
    assert_eq!(status["code"], 404, "a finished upload is gone");
    // An aborted upload leaves nothing.
    let half = init(&tc, "/docs/half.bin", 9 * mib).await;
    let id2 = half["data"]["upload_id"].as_str().unwrap().to_string();
    let c2 = half["data"]["chunk_size"].as_u64().unwrap() as usize;
    assert_eq!(send(&id2, 0, vec![7u8; c2], &tc).await["code"], 200);
    let v = by_id(reqwest::Method::POST, "complete", &id2).await;
    assert_eq!(v["code"], 400, "not every chunk is in: {v}");
    assert_eq!(
        by_id(reqwest::Method::POST, "abort", &id2).await["code"],
        200
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!s.dirs[0].path().join("carol/docs/half.bin").exists());
    // A reader starts none; no path leaves the base.
    for (t, p) in [
        (&tr, "/x.bin"),
        (&tc, "/../private.txt"),
        (&tc, "/..%2Fprivate.txt"),
    ] {
        let v = init(t, p, 5).await;
        assert_eq!(v["code"], 403, "{p}: {v}");
    }
    assert_eq!(
        std::fs::read(s.dirs[0].path().join("private.txt")).unwrap(),
        SECRET.as_bytes()
    );
}

/// OpenList's share links are cloudmux's: made through this door, seen in cloudmux's list; a visitor
/// needs the password (a wrong one refused), lists and downloads only inside the shared folder, by
/// links carrying the share's key (never its password); another user neither sees nor revokes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shares_through_the_alist_door() {
    let d = tempfile::tempdir().unwrap();
    let url = common::databases(d.path()).await.remove(0);
    let s = server(&url).await;
    let tc = s.login("carol").await;
    // An expiry in OpenList's form (RFC 3339) becomes the link's; one past or unreadable is refused.
    let soon = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let timed = s
        .call(
            &tc,
            "/api/share/create",
            json!({"files": ["/docs/a.txt"], "expires": soon}),
        )
        .await;
    assert_eq!(timed["code"], 200, "{timed}");
    let row = s
        .state
        .users
        .db()
        .share(timed["data"]["id"].as_str().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(
        (row.expires - chrono::Utc::now().timestamp() - 3600).abs() < 60,
        "{}",
        row.expires
    );
    for bad in ["2001-01-01T00:00:00Z", "next week"] {
        let v = s
            .call(
                &tc,
                "/api/share/create",
                json!({"files": ["/docs/a.txt"], "expires": bad}),
            )
            .await;
        assert_eq!(v["code"], 400, "{bad}: {v}");
    }
    let two = s
        .call(
            &tc,
            "/api/share/create",
            json!({"files": ["/docs", "/docs/a.txt"], "pwd": "x"}),
        )
        .await;
    assert_eq!(two["code"], 400, "{two}");
    // What OpenList's form holds and a cloudmux link does not is refused by name (its empty fields,
    // as its form sends them, are fine: see below).
    let v = s
        .call(
            &tc,
            "/api/share/create",
            json!({"files": ["/docs"], "remark": "for Bob", "readme": "# hi", "header": ""}),
        )
        .await;
    assert_eq!(v["code"], 400, "{v}");
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("keeps no Remark, Description: leave them empty"),
        "{v}"
    );
    let made = s
        .call(
            &tc,
            "/api/share/create",
            json!({"files": ["/docs"], "pwd": "open sesame", "expires": null, "max_accessed": 0,
                   "order_by": "", "order_direction": "", "extract_folder": "", "remark": "",
                   "readme": "", "header": ""}),
        )
        .await;
    assert_eq!(made["code"], 200, "{made}");
    let id = made["data"]["id"].as_str().unwrap().to_string();
    assert_eq!(made["data"]["files"], json!(["/docs"]));
    // The same row as cloudmux's own share links.
    let own = s.state.users.db().share(&id).await.unwrap().unwrap();
    assert_eq!(
        (own.owner.as_str(), own.path.as_str()),
        ("carol", "/a/carol/docs")
    );
    assert!(!own.password_hash.contains("open sesame"));
    // A visitor: no password, a wrong one, the right one.
    let at = format!("/@s/{id}");
    assert_eq!(
        s.call("", "/api/fs/list", json!({"path": at})).await["code"],
        403
    );
    assert_eq!(
        s.call("", "/api/fs/list", json!({"path": at, "password": "nope"}))
            .await["code"],
        403
    );
    let listed = s
        .call(
            "",
            "/api/fs/list",
            json!({"path": at, "password": "open sesame"}),
        )
        .await;
    assert_eq!(names(&listed), ["a.txt"], "{listed}");
    for p in ["/../private.txt", "/../../private.txt", "/..\\private.txt"] {
        let v = s
            .call(
                "",
                "/api/fs/get",
                json!({"path": format!("{at}{p}"), "password": "open sesame"}),
            )
            .await;
        assert_ne!(v["code"], 200, "{p}: {v}");
    }
    let got = s
        .call(
            "",
            "/api/fs/get",
            json!({"path": format!("{at}/a.txt"), "password": "open sesame"}),
        )
        .await;
    let raw = got["data"]["raw_url"].as_str().unwrap().to_string();
    assert!(
        raw.contains(&format!("/sd/{id}/a.txt?key=")) && !raw.contains("sesame"),
        "{raw}"
    );
    let body = s.http.get(&raw).send().await.unwrap();
    assert_eq!(body.status(), 200);
    assert_eq!(body.text().await.unwrap(), "carol's a");
    let forged = raw.replace("key=", "key=1");
    assert_eq!(s.http.get(&forged).send().await.unwrap().status(), 403);
    let escape = format!("{}/alist/sd/{id}/../private.txt", s.base);
    assert!(
        s.http
            .get(&escape)
            .send()
            .await
            .unwrap()
            .status()
            .is_client_error()
    );
    // Lists: carol sees hers, rita none of it and cannot revoke it.
    let tr = s.login("rita").await;
    let mine = s
        .call(&tc, "/api/share/list", json!({"page": 1, "per_page": 20}))
        .await;
    assert_eq!(
        mine["data"]["total"], 2,
        "the timed link and this one: {mine}"
    );
    let theirs = s.call(&tr, "/api/share/list", json!({})).await;
    assert_eq!(theirs["data"]["total"], 0, "{theirs}");
    let r: Value = s
        .http
        .post(format!("{}/alist/api/share/delete?id={id}", s.base))
        .header("Authorization", &tr)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["code"], 404, "{r}");
    let r: Value = s
        .http
        .post(format!("{}/alist/api/share/delete?id={id}", s.base))
        .header("Authorization", &tc)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["code"], 200, "{r}");
    assert_eq!(
        s.call(
            "",
            "/api/fs/list",
            json!({"path": at, "password": "open sesame"})
        )
        .await["code"],
        410
    );
    assert_eq!(s.http.get(&raw).send().await.unwrap().status(), 410);
}
