//! The `cloudmux` binary end to end against the emulator.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant, UNIX_EPOCH};

use cloudmux_emulator::{Config, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, Emulator, Settings};

struct Env {
    base: String,
    dir: tempfile::TempDir,
}

impl Env {
    fn new(token_lifetime: u64) -> Env {
        Env::with(Settings {
            auto_approve: true,
            token_lifetime,
            ..Settings::default()
        })
    }

    fn with(settings: Settings) -> Env {
        cloudmux_http::install_crypto_provider();
        let (base, _state) = Emulator::start_detached(Config {
            settings,
            ..Config::default()
        })
        .unwrap();
        Env {
            base,
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn config(&self) -> PathBuf {
        self.dir.path().join("cfg").join("config.toml")
    }

    fn cmd(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_cloudmux"));
        c.env("CLOUDMUX_CONFIG", self.config())
            .env_remove("CLOUDMUX_LOG")
            .current_dir(self.dir.path());
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).stdin(Stdio::null()).output().unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert!(
            o.status.success(),
            "cloudmux {args:?} failed: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8(o.stdout).unwrap()
    }

    /// Adds remote `gd` and signs it in headlessly.
    fn login(&self) {
        self.login_as("gd", "gdrive");
    }

    /// Adds a Google remote and signs it in headlessly: the printed link is followed like a browser would.
    /// Returns the consent URL.
    fn login_as(&self, name: &str, kind: &str) -> String {
        self.ok(&[
            "remote",
            "add",
            name,
            "--type",
            kind,
            "--client-id",
            DEMO_CLIENT_ID,
            "--client-secret",
            DEMO_CLIENT_SECRET,
            "--endpoint",
            &self.base,
        ]);
        let mut child = self
            .cmd()
            .args(["auth", "login", name, "--no-browser"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line.trim().to_string();
        assert!(
            url.starts_with(&self.base) && url.contains("code_challenge="),
            "first stdout line is the consent URL: {url}"
        );
        let resp = reqwest::blocking::get(&url).unwrap();
        assert!(resp.status().is_success());
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "login failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        url
    }

    fn token_file(&self) -> PathBuf {
        self.dir
            .path()
            .join("cfg")
            .join("tokens")
            .join("gd.token.json")
    }

    /// Sets the emulator's injected faults (`{}`: none).
    fn set_faults(&self, cfg: serde_json::Value) {
        let r = reqwest::blocking::Client::new()
            .post(format!("{}/__admin/faults", self.base))
            .json(&cfg)
            .send()
            .unwrap();
        assert!(r.status().is_success());
    }

    fn stats(&self) -> serde_json::Value {
        reqwest::blocking::get(format!("{}/__admin/stats", self.base))
            .unwrap()
            .json()
            .unwrap()
    }
}

/// Polls `done` every 50 ms until it holds; fails saying `what` once `secs` seconds have gone by.
fn wait_until(secs: u64, what: &str, mut done: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !done() {
        assert!(
            t0.elapsed() < Duration::from_secs(secs),
            "{what} (waited {secs} s)"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// An emulator with Drive (`gd`) signed in (its access tokens lasting `token_secs`) and `folder` made.
fn drive_env_with(folder: &str, token_secs: u64) -> Env {
    let env = Env::new(token_secs);
    env.login();
    env.ok(&["mkdir", folder]);
    env
}

/// An emulator with both Drive (`gd`) and Yandex Disk (`yd`) signed in.
fn drive_and_yandex_env() -> Env {
    let env = yandex_env(true, 600);
    env.login();
    add_yandex(&env);
    env.ok(&["auth", "login", "yd"]);
    env
}

fn access_token(p: &Path) -> String {
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap();
    v["access_token"].as_str().unwrap().to_string()
}

#[test]
fn headless_sign_in_refresh_and_invalid_grant() {
    let env = Env::new(5);
    env.login();
    let tf = env.token_file();
    assert_eq!(
        std::fs::metadata(&tf).unwrap().permissions().mode() & 0o777,
        0o600,
        "token file is 0600"
    );
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&tf).unwrap()).unwrap();
    assert!(v["refresh_token"].as_str().is_some_and(|r| !r.is_empty()));
    std::fs::write(env.dir.path().join("hello.txt"), b"hello").unwrap();
    env.ok(&["put", "hello.txt", "gd:"]);
    let first = access_token(&tf);
    std::thread::sleep(Duration::from_secs(6));
    assert!(
        env.ok(&["ls", "gd:"]).contains("hello.txt"),
        "works after the 5-second token expired"
    );
    assert_ne!(
        access_token(&tf),
        first,
        "the refreshed access token was saved"
    );
    assert_eq!(
        std::fs::metadata(&tf).unwrap().permissions().mode() & 0o777,
        0o600,
        "still 0600 after refresh"
    );
    let verbose = env.run(&["-vv", "ls", "gd:"]);
    let logged = String::from_utf8_lossy(&verbose.stderr).to_string();
    assert!(logged.contains("GET "), "-vv logs requests: {logged}");
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&tf).unwrap()).unwrap();
    for secret in [
        v["access_token"].as_str().unwrap(),
        v["refresh_token"].as_str().unwrap(),
        DEMO_CLIENT_SECRET,
    ] {
        assert!(!logged.contains(secret), "a secret leaked into the -vv log");
    }
    let status = env.ok(&["auth", "status", "gd"]);
    assert!(
        status.contains("\"has_refresh_token\": true") && !status.contains(&access_token(&tf)),
        "status shows no secret"
    );
    reqwest::blocking::Client::new()
        .post(format!("{}/__admin/revoke-all", env.base))
        .send()
        .unwrap();
    let o = env.run(&["ls", "gd:"]);
    assert_eq!(o.status.code(), Some(8), "sign-in needed exits 8");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("invalid_grant") && err.contains("cloudmux auth login gd"),
        "{err}"
    );
    assert!(
        !err.contains(&access_token(&tf)),
        "no token in error output"
    );
}

#[test]
fn raw_google_steps_print_the_seed_json() {
    let env = Env::new(3599);
    let out = env.ok(&[
        "auth",
        "google",
        "url",
        "--client-id",
        DEMO_CLIENT_ID,
        "--drive",
        "--photos",
        "--endpoint",
        &env.base,
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let url = v["url"].as_str().unwrap();
    for p in [
        "access_type=offline",
        "prompt=consent",
        "code_challenge_method=S256",
        "state=",
        "photospicker.mediaitems.readonly",
        "auth%2Fdrive",
    ] {
        assert!(url.contains(p), "{p} in {url}");
    }
    let pending = env.dir.path().join("cfg/state/pending-google.json");
    assert_eq!(
        std::fs::metadata(&pending).unwrap().permissions().mode() & 0o777,
        0o600,
        "the kept verifier is private"
    );
    let no_redirect = reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let loc = no_redirect.get(url).send().unwrap().headers()["location"]
        .to_str()
        .unwrap()
        .to_string();
    let code: String = url::Url::parse(&loc)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    let tok = env.ok(&[
        "auth",
        "google",
        "token",
        "--client-id",
        DEMO_CLIENT_ID,
        "--client-secret",
        DEMO_CLIENT_SECRET,
        "--code",
        &code,
        "--endpoint",
        &env.base,
    ]);
    let t: serde_json::Value = serde_json::from_str(&tok).unwrap();
    for k in [
        "token_type",
        "refresh_token",
        "scope",
        "expires_in",
        "access_token",
    ] {
        assert!(!t[k].is_null(), "{k} in {t}");
    }
    assert_eq!(t["token_type"], "Bearer");
    let r = env.ok(&[
        "auth",
        "google",
        "refresh",
        "--client-id",
        DEMO_CLIENT_ID,
        "--client-secret",
        DEMO_CLIENT_SECRET,
        "--refresh-token",
        t["refresh_token"].as_str().unwrap(),
        "--endpoint",
        &env.base,
    ]);
    let r: serde_json::Value = serde_json::from_str(&r).unwrap();
    assert_eq!(
        r["refresh_token"], t["refresh_token"],
        "the refresh token is reused, not rotated"
    );
    assert_ne!(r["access_token"], t["access_token"]);
    let again = env.run(&[
        "auth",
        "google",
        "token",
        "--client-id",
        DEMO_CLIENT_ID,
        "--client-secret",
        DEMO_CLIENT_SECRET,
        "--code",
        &code,
        "--endpoint",
        &env.base,
    ]);
    assert_eq!(again.status.code(), Some(8));
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(
        err.contains("invalid_grant") && err.contains("expired"),
        "{err}"
    );
    let bad = env.run(&[
        "auth",
        "google",
        "token",
        "--client-id",
        DEMO_CLIENT_ID,
        "--client-secret",
        "wrong",
        "--code",
        "x",
        "--endpoint",
        &env.base,
    ]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("check the client id and client secret"));
    let oob = env.run(&[
        "auth",
        "google",
        "url",
        "--client-id",
        "x",
        "--drive",
        "--redirect-uri",
        "urn:ietf:wg:oauth:2.0:oob",
    ]);
    assert_eq!(oob.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&oob.stderr).contains("oob"));
}

fn md5_hex(data: &[u8]) -> String {
    use md5::Digest;
    hex::encode(md5::Md5::digest(data))
}

#[test]
fn file_commands_and_exit_codes() {
    let env = Env::new(3599);
    env.login();
    let d = env.dir.path();
    let data = cloudmux_core::conformance::pattern(6 * 1024 * 1024 + 17, 9);
    std::fs::write(d.join("big.bin"), &data).unwrap();
    env.ok(&["mkdir", "gd:docs/deep"]);
    env.ok(&["put", "big.bin", "gd:docs/"]);
    let st: serde_json::Value =
        serde_json::from_str(&env.ok(&["stat", "gd:docs/big.bin", "--json"])).unwrap();
    assert_eq!(st["size"], data.len());
    assert_eq!(st["hashes"]["md5"], md5_hex(&data));
    env.ok(&["get", "gd:docs/big.bin", "back.bin"]);
    assert!(
        std::fs::read(d.join("back.bin")).unwrap() == data,
        "byte for byte"
    );
    let part = env
        .cmd()
        .args(["cat", "gd:docs/big.bin", "--offset", "100", "--count", "50"])
        .output()
        .unwrap();
    assert_eq!(part.stdout, &data[100..150]);
    let id = st["id"].as_str().unwrap();
    let by_id = env
        .cmd()
        .args(["cat", &format!("gd:id:{id}"), "--count", "10"])
        .output()
        .unwrap();
    assert_eq!(by_id.stdout, &data[..10]);
    env.ok(&["cp", "gd:docs/big.bin", "gd:docs/deep/copy.bin"]);
    env.ok(&["mv", "gd:docs/deep/copy.bin", "gd:docs/renamed.bin"]);
    let list: serde_json::Value = serde_json::from_str(&env.ok(&["lsjson", "-R", "gd:"])).unwrap();
    let mut paths: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["path"].as_str().unwrap())
        .collect();
    paths.sort();
    assert_eq!(
        paths,
        ["docs", "docs/big.bin", "docs/deep", "docs/renamed.bin"]
    );
    // Regression: children used to print after their folder's later siblings.
    assert_eq!(
        env.ok(&["tree", "gd:"]),
        "gd:\n└── docs/\n    ├── big.bin\n    ├── deep/\n    └── renamed.bin\n\n2 folders, 2 files\n"
    );
    assert!(
        env.ok(&["link", "gd:docs/renamed.bin"])
            .contains("/file/d/")
    );
    let about: serde_json::Value =
        serde_json::from_str(&env.ok(&["about", "gd", "--json"])).unwrap();
    assert!(about["used"].as_u64().unwrap() >= 2 * data.len() as u64);
    let o = env.run(&["rmdir", "gd:docs"]);
    assert_eq!(o.status.code(), Some(11), "a full folder is a conflict");
    env.ok(&["rm", "gd:docs/renamed.bin"]);
    env.ok(&["rmdir", "gd:docs/deep"]);
    assert_eq!(env.run(&["stat", "gd:docs/deep"]).status.code(), Some(3));
    assert_eq!(env.run(&["cat", "gd:nope.txt"]).status.code(), Some(3));
    assert_eq!(env.run(&["ls", "nosuchremote:"]).status.code(), Some(3));
    let local_rm = env.run(&["rm", "back.bin"]);
    assert_eq!(
        local_rm.status.code(),
        Some(12),
        "the local disk has no trash"
    );
    assert!(String::from_utf8_lossy(&local_rm.stderr).contains("--permanent"));
    env.ok(&["rm", "--permanent", "back.bin"]);
    assert!(!d.join("back.bin").exists());
    let j = env.run(&["stat", "gd:missing", "--json"]);
    let e: serde_json::Value = serde_json::from_slice(&j.stderr).unwrap();
    assert_eq!(e["error"]["kind"], "not_found");
}

/// Starts `args` with 400 ms of latency per request, kills it once more than 9 MiB of a resumable upload
/// reached the emulator, and returns the resumable bytes counter before the run.
fn kill_mid_upload(env: &Env, args: &[&str]) -> u64 {
    env.set_faults(serde_json::json!({"latency_ms": 400}));
    let before = env.stats()["drive_resumable_bytes"].as_u64().unwrap();
    let mut child = env
        .cmd()
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_until(60, "upload did not progress", || {
        assert!(
            child.try_wait().unwrap().is_none(),
            "{args:?} finished before it could be interrupted"
        );
        env.stats()["drive_resumable_bytes"].as_u64().unwrap() - before > 9 * 1024 * 1024
    });
    child.kill().unwrap();
    child.wait().unwrap();
    let sessions = std::fs::read_dir(env.dir.path().join("cfg/state/uploads"))
        .unwrap()
        .count();
    assert_eq!(sessions, 1, "the session was kept for the re-run");
    env.set_faults(serde_json::json!({}));
    before
}

/// After a resumed re-run: fewer bytes sent than the file plus a chunk, no session file left.
fn assert_resumed(env: &Env, before: u64, size: usize) {
    let sent = env.stats()["drive_resumable_bytes"].as_u64().unwrap() - before;
    assert!(
        sent < (size + 8 * 1024 * 1024) as u64,
        "the re-run resumed instead of starting over: {sent} bytes sent for {size}"
    );
    assert_eq!(
        std::fs::read_dir(env.dir.path().join("cfg/state/uploads"))
            .unwrap()
            .count(),
        0,
        "session file removed when done"
    );
}

#[test]
fn interrupted_put_resumes_on_rerun() {
    let env = Env::new(3599);
    env.login();
    let d = env.dir.path();
    let size = 24 * 1024 * 1024 + 5;
    let data = cloudmux_core::conformance::pattern(size, 3);
    std::fs::write(d.join("huge.bin"), &data).unwrap();
    let before = kill_mid_upload(&env, &["put", "huge.bin", "gd:"]);
    env.ok(&["put", "huge.bin", "gd:"]);
    assert_resumed(&env, before, size);
    let ls = env.ok(&["lsjson", "gd:"]);
    let v: serde_json::Value = serde_json::from_str(&ls).unwrap();
    assert_eq!(
        v.as_array().unwrap().len(),
        1,
        "one file, no duplicate: {ls}"
    );
    assert_eq!(v[0]["hashes"]["md5"], md5_hex(&data));
}

#[test]
fn interrupted_tree_cp_resumes_on_rerun() {
    let env = Env::new(3599);
    env.login();
    let d = env.dir.path();
    let size = 24 * 1024 * 1024 + 77;
    let data = cloudmux_core::conformance::pattern(size, 9);
    std::fs::create_dir_all(d.join("tree/deep/er")).unwrap();
    std::fs::write(d.join("tree/deep/er/huge.bin"), &data).unwrap();
    for i in 0..5 {
        std::fs::write(d.join(format!("tree/small-{i}.txt")), format!("small {i}")).unwrap();
    }
    let before = kill_mid_upload(&env, &["cp", "--transfers", "1", "tree", "gd:tree"]);
    env.ok(&["cp", "tree", "gd:tree"]);
    assert_resumed(&env, before, size);
    env.ok(&["check", "--checksum", "tree", "gd:tree"]);
    let ls = env.ok(&["lsjson", "gd:tree/deep/er"]);
    let v: serde_json::Value = serde_json::from_str(&ls).unwrap();
    assert_eq!(
        v.as_array().unwrap().len(),
        1,
        "one file, no duplicate: {ls}"
    );
    assert_eq!(v[0]["hashes"]["md5"], md5_hex(&data));
    let again = env.ok(&["cp", "--json", "tree", "gd:tree"]);
    let st: serde_json::Value = serde_json::from_str(&again).unwrap();
    assert_eq!(st["copied"], 0, "a second run copies nothing: {again}");
}

fn yandex_env(auto_approve: bool, code_lifetime: u64) -> Env {
    Env::with(Settings {
        auto_approve,
        yandex_poll_interval: 1,
        yandex_device_code_lifetime: code_lifetime,
        ..Settings::default()
    })
}

fn add_yandex(env: &Env) {
    env.ok(&[
        "remote",
        "add",
        "yd",
        "--type",
        "yadisk",
        "--client-id",
        DEMO_CLIENT_ID,
        "--client-secret",
        DEMO_CLIENT_SECRET,
        "--endpoint",
        &env.base,
    ]);
}

#[test]
fn yandex_device_login_and_files() {
    let env = yandex_env(true, 600);
    add_yandex(&env);
    let out = env.ok(&["auth", "login", "yd"]);
    assert!(
        out.lines().next().is_some_and(|l| l.len() == 8),
        "the user code is printed on its own line: {out}"
    );
    let tf = env.dir.path().join("cfg/tokens/yd.token.json");
    assert_eq!(
        std::fs::metadata(&tf).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert!(
        env.dir.path().join("cfg/device-id").exists(),
        "a stable device_id is kept"
    );
    let data = cloudmux_core::conformance::pattern(10 * 1024 * 1024 + 3, 4);
    std::fs::write(env.dir.path().join("y.bin"), &data).unwrap();
    env.ok(&["mkdir", "yd:docs"]);
    env.ok(&["put", "y.bin", "yd:docs/"]);
    env.ok(&["get", "yd:docs/y.bin", "y.back"]);
    assert!(std::fs::read(env.dir.path().join("y.back")).unwrap() == data);
    let st: serde_json::Value =
        serde_json::from_str(&env.ok(&["stat", "yd:docs/y.bin", "--json"])).unwrap();
    assert_eq!(st["hashes"]["md5"], md5_hex(&data));
    let link = env.ok(&["link", "yd:docs/y.bin"]);
    let public = reqwest::blocking::get(link.trim())
        .unwrap()
        .bytes()
        .unwrap();
    assert!(
        public.as_ref() == data.as_slice(),
        "the public URL serves the file"
    );
    env.ok(&["rm", "yd:docs/y.bin"]);
    let trash: serde_json::Value =
        serde_json::from_str(&env.ok(&["yadisk", "trash", "ls", "yd", "--json"])).unwrap();
    let tp = trash[0]["path"].as_str().unwrap().to_string();
    assert_eq!(trash[0]["origin_path"], "disk:/docs/y.bin");
    env.ok(&["yadisk", "trash", "restore", "yd", &tp]);
    assert!(env.ok(&["ls", "yd:docs"]).contains("y.bin"), "restored");
    assert_eq!(env.run(&["stat", "yd:nope"]).status.code(), Some(3));
}

#[test]
fn yandex_raw_device_flow_steps() {
    let env = yandex_env(true, 600);
    let dc: serde_json::Value = serde_json::from_str(&env.ok(&[
        "auth",
        "yandex",
        "device-code",
        "--client-id",
        DEMO_CLIENT_ID,
        "--endpoint",
        &env.base,
    ]))
    .unwrap();
    for k in [
        "verification_url",
        "user_code",
        "interval",
        "expires_in",
        "device_code",
    ] {
        assert!(!dc[k].is_null(), "{k} in {dc}");
    }
    let code = dc["device_code"].as_str().unwrap();
    let o = env.run(&[
        "auth",
        "yandex",
        "token",
        "--client-id",
        DEMO_CLIENT_ID,
        "--client-secret",
        DEMO_CLIENT_SECRET,
        "--device-code",
        code,
        "--wait",
        "--interval",
        "1",
        "--endpoint",
        &env.base,
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("authorization_pending"),
        "saw pending before success"
    );
    let t: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(t["token_type"], "bearer");
    let r: serde_json::Value = serde_json::from_str(&env.ok(&[
        "auth",
        "yandex",
        "refresh",
        "--client-id",
        DEMO_CLIENT_ID,
        "--client-secret",
        DEMO_CLIENT_SECRET,
        "--refresh-token",
        t["refresh_token"].as_str().unwrap(),
        "--endpoint",
        &env.base,
    ]))
    .unwrap();
    assert_ne!(
        r["refresh_token"], t["refresh_token"],
        "a rotated refresh token is printed"
    );
}

#[test]
fn yandex_bad_and_expired_codes() {
    let env = yandex_env(false, 2);
    let bad = env.run(&[
        "auth",
        "yandex",
        "token",
        "--client-id",
        DEMO_CLIENT_ID,
        "--client-secret",
        DEMO_CLIENT_SECRET,
        "--device-code",
        "made-up",
        "--endpoint",
        &env.base,
    ]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("bad_verification_code"));
    let dc: serde_json::Value = serde_json::from_str(&env.ok(&[
        "auth",
        "yandex",
        "device-code",
        "--client-id",
        DEMO_CLIENT_ID,
        "--endpoint",
        &env.base,
    ]))
    .unwrap();
    let expired = env.run(&[
        "auth",
        "yandex",
        "token",
        "--client-id",
        DEMO_CLIENT_ID,
        "--client-secret",
        DEMO_CLIENT_SECRET,
        "--device-code",
        dc["device_code"].as_str().unwrap(),
        "--wait",
        "--interval",
        "1",
        "--endpoint",
        &env.base,
    ]);
    assert_eq!(
        expired.status.code(),
        Some(8),
        "{}",
        String::from_utf8_lossy(&expired.stderr)
    );
    assert!(String::from_utf8_lossy(&expired.stderr).contains("expired"));
    let wrong = env.run(&[
        "auth",
        "yandex",
        "device-code",
        "--client-id",
        "nobody",
        "--endpoint",
        &env.base,
    ]);
    assert_eq!(wrong.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("invalid_client"));
}

#[test]
fn gphotos_upload_tree_and_pick() {
    let env = Env::new(3599);
    let line = env.login_as("ph", "gphotos");
    assert!(
        line.contains("photoslibrary.appendonly")
            && line.contains("photospicker.mediaitems.readonly"),
        "{line}"
    );
    assert!(
        !line.contains("auth%2Fphotoslibrary&") && !line.contains("photoslibrary.readonly&"),
        "removed scopes are never asked"
    );
    let d = env.dir.path();
    let photo = cloudmux_core::conformance::pattern(900 * 1024, 6);
    std::fs::write(d.join("p1.jpg"), &photo).unwrap();
    std::fs::write(d.join("p2.jpg"), b"second").unwrap();
    let up: serde_json::Value = serde_json::from_str(&env.ok(&[
        "gphotos", "upload", "ph", "p1.jpg", "p2.jpg", "--album", "Trip", "--json",
    ]))
    .unwrap();
    assert!(
        up.as_array().unwrap().iter().all(|r| r["ok"] == true),
        "{up}"
    );
    assert!(
        env.ok(&["gphotos", "albums", "ph"])
            .contains("Trip  (2 items)")
    );
    assert_eq!(env.ok(&["ls", "ph:album/Trip"]).lines().count(), 2);
    env.ok(&["get", "ph:album/Trip/p1.jpg", "p1.back"]);
    assert!(
        std::fs::read(d.join("p1.back")).unwrap() == photo,
        "round trip byte for byte"
    );
    let rm = env.run(&["rm", "ph:album/Trip/p2.jpg"]);
    assert_eq!(
        rm.status.code(),
        Some(12),
        "deleting media is unsupported by the API"
    );
    // Pick from the user's own library through the Picker.
    std::fs::create_dir(d.join("picked")).unwrap();
    let mut pick = env
        .cmd()
        .args(["gphotos", "pick", "ph", "picked"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(pick.stdout.take().unwrap());
    let mut uri = String::new();
    out.read_line(&mut uri).unwrap();
    let uri = uri.trim().to_string();
    let page = reqwest::blocking::get(&uri).unwrap().text().unwrap();
    let ids: Vec<String> = page
        .split("name=item value=\"")
        .skip(1)
        .map(|x| x.split('"').next().unwrap().to_string())
        .collect();
    let form = format!("item={}&item={}&item={}", ids[0], ids[1], ids[2]);
    reqwest::blocking::Client::new()
        .post(&uri)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
    assert!(pick.wait().unwrap().success());
    assert_eq!(
        rest.lines().filter(|l| l.starts_with("picked ")).count(),
        3,
        "{rest}"
    );
    let files: Vec<_> = std::fs::read_dir(d.join("picked"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 3);
    assert!(
        files
            .iter()
            .all(|f| std::fs::read(f).unwrap().starts_with(&[0xFF, 0xD8]))
    );
}

#[test]
fn sync_check_and_folder_copy_between_remotes() {
    let env = drive_and_yandex_env();
    let d = env.dir.path();
    for (p, data) in [
        ("tree/a.txt", "a"),
        ("tree/sub/b.jpg", "bb"),
        ("tree/sub/deep/c.txt", "ccc"),
    ] {
        std::fs::create_dir_all(d.join(p).parent().unwrap()).unwrap();
        std::fs::write(d.join(p), data).unwrap();
    }
    let out = env.ok(&["sync", "tree", "gd:backup"]);
    assert!(out.contains("3 copied"), "{out}");
    assert!(
        env.ok(&["check", "tree", "gd:backup"])
            .contains("3 unchanged, 0 missing, 0 extra, 0 differ")
    );
    assert!(
        env.ok(&["sync", "tree", "gd:backup"]).contains("0 copied"),
        "a second sync transfers nothing"
    );
    std::fs::write(d.join("tree/a.txt"), "changed").unwrap();
    let c = env.run(&["check", "tree", "gd:backup"]);
    assert_eq!(c.status.code(), Some(11), "differing trees exit 11");
    assert!(String::from_utf8_lossy(&c.stdout).contains("differs: a.txt"));
    let plan = env.ok(&["sync", "tree", "gd:backup", "--dry-run"]);
    assert!(plan.contains("would copy a.txt"), "{plan}");
    assert!(
        env.run(&["check", "tree", "gd:backup"]).status.code() == Some(11),
        "the dry run changed nothing"
    );
    let cp = env.ok(&["cp", "gd:backup", "yd:copy", "--exclude", "*.jpg", "--json"]);
    let stats: serde_json::Value = serde_json::from_str(&cp).unwrap();
    assert_eq!(stats["copied"], 2, "{cp}");
    assert!(env.ok(&["tree", "yd:copy"]).contains("c.txt"));
    assert_eq!(
        env.run(&["stat", "yd:copy/sub/b.jpg"]).status.code(),
        Some(3),
        "excluded"
    );
}

/// `serve --demo` from an empty folder: the emulators start, each service is signed in to, the sample data
/// and ./demo-data are mounted, and the API serves them to the demo login; a restart reuses it all.
#[test]
fn serve_demo_mounts_every_service() {
    cloudmux_http::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    for round in 0..2 {
        let mut child = Command::new(env!("CARGO_BIN_EXE_cloudmux"))
            .args(["serve", "--demo", "--listen", "127.0.0.1:0"])
            .current_dir(dir.path())
            .env_remove("CLOUDMUX_CONFIG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = lines.next().unwrap().unwrap();
        let base = first
            .strip_prefix("cloudmux demo on ")
            .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
            .trim_end_matches('/')
            .to_string();
        let rest: Vec<String> = (0..5).map(|_| lines.next().unwrap().unwrap()).collect();
        assert!(rest.iter().any(|l| l.contains("/dav/")), "{rest:?}");
        assert!(
            rest.iter().any(|l| l.contains("admin / cloudmux-demo")),
            "{rest:?}"
        );
        let http = reqwest::blocking::Client::new();
        let login: serde_json::Value = http
            .post(format!("{base}/api/auth/login"))
            .json(&serde_json::json!({"username": "admin", "password": "cloudmux-demo"}))
            .send()
            .unwrap()
            .json()
            .unwrap();
        let token = login["token"].as_str().unwrap().to_string();
        let names = |p: &str| -> Vec<String> {
            let v: serde_json::Value = http
                .get(format!("{base}/api/fs/list"))
                .query(&[("path", p)])
                .bearer_auth(&token)
                .send()
                .unwrap()
                .json()
                .unwrap();
            v["entries"]
                .as_array()
                .unwrap_or_else(|| panic!("{p}: {v}"))
                .iter()
                .map(|e| e["name"].as_str().unwrap().to_string())
                .collect()
        };
        assert_eq!(names("/"), vec!["gdrive", "local", "photos", "yadisk"]);
        assert!(names("/gdrive").contains(&"Welcome to cloudmux.txt".to_string()));
        assert!(names("/yadisk").contains(&"Hello from Yandex Disk.txt".to_string()));
        assert_eq!(
            names("/photos/media/all").len(),
            2,
            "two sample photos, once"
        );
        assert!(names("/local").contains(&"README.txt".to_string()));
        for mount in ["/gdrive", "/yadisk", "/local"] {
            let body = format!("written through the API, round {round}");
            let path = format!("{mount}/api-{round}.txt");
            let up = http
                .put(format!("{base}/api/fs/upload"))
                .query(&[("path", &path)])
                .bearer_auth(&token)
                .body(body.clone())
                .send()
                .unwrap();
            assert_eq!(up.status(), 201, "{path}: {:?}", up.text());
            let back = http
                .get(format!("{base}/api/fs/download"))
                .query(&[("path", &path)])
                .bearer_auth(&token)
                .send()
                .unwrap()
                .text()
                .unwrap();
            assert_eq!(back, body, "{path}");
        }
        assert!(
            dir.path()
                .join(format!("demo-data/api-{round}.txt"))
                .exists()
        );
        // The same tree over WebDAV with the demo login.
        let propfind = http
            .request(
                reqwest::Method::from_bytes(b"PROPFIND").unwrap(),
                format!("{base}/dav/yadisk/"),
            )
            .basic_auth("admin", Some("cloudmux-demo"))
            .header("Depth", "1")
            .send()
            .unwrap();
        assert_eq!(propfind.status(), 207);
        assert!(propfind.text().unwrap().contains("api-"));
        child.kill().unwrap();
        child.wait().unwrap();
    }
    let db = dir.path().join(".cloudmux-demo/cloudmux.db");
    assert_eq!(
        std::fs::metadata(&db).unwrap().permissions().mode() & 0o777,
        0o600
    );
}

/// `cloudmux serve` with no remotes: an admin adds a Drive and a Yandex Disk remote through the API, signs
/// each in from "the web" (Google: consent page → the server's own callback; Yandex: device code, polled by
/// the server), mounts them, and lists them.
#[test]
fn serve_adds_and_signs_in_remotes_from_the_web() {
    let env = Env::new(3599);
    let (mut child, base, password) = spawn_server(&env, None, "server");
    let password = password.expect("the first start prints the admin password");
    let http = reqwest::blocking::Client::new();
    let login: serde_json::Value = http
        .post(format!("{base}/api/auth/login"))
        .json(&serde_json::json!({"username": "admin", "password": password}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let t = login["token"].as_str().unwrap().to_string();
    let post = |path: &str, body: serde_json::Value| {
        http.post(format!("{base}{path}"))
            .bearer_auth(&t)
            .json(&body)
            .send()
            .unwrap()
    };
    for (name, kind) in [("gd", "gdrive"), ("yd", "yadisk")] {
        let r = post(
            "/api/admin/remotes",
            serde_json::json!({"name": name, "kind": kind, "client_id": DEMO_CLIENT_ID,
                "client_secret": DEMO_CLIENT_SECRET, "endpoint": env.base}),
        );
        assert_eq!(r.status(), 201, "{:?}", r.text());
    }
    let dup = post(
        "/api/admin/remotes",
        serde_json::json!({"name": "gd", "kind": "gdrive", "client_id": "x", "client_secret": "y"}),
    );
    assert_eq!(dup.status(), 409);
    // Only the endpoints the operator allowed (--allow-endpoint), and no local folders unless allowed.
    for body in [
        serde_json::json!({"name": "evil", "kind": "gdrive", "client_id": "x", "client_secret": "y",
            "endpoint": "http://169.254.169.254"}),
        serde_json::json!({"name": "root", "kind": "local", "path": "/"}),
    ] {
        let r = post("/api/admin/remotes", body);
        assert_eq!(r.status(), 403, "{:?}", r.text());
    }
    // Google: the consent page (approved at once by the emulator) sends the browser to the server's callback.
    let g: serde_json::Value = post("/api/admin/remotes/gd/signin", serde_json::json!({}))
        .json()
        .unwrap();
    assert!(
        g["redirect_uri"]
            .as_str()
            .unwrap()
            .ends_with("/api/oauth/google/callback")
    );
    let page = http.get(g["url"].as_str().unwrap()).send().unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().unwrap().contains("gd is signed in"));
    let token_file = env.dir.path().join("cfg/tokens/gd.token.json");
    let mode = std::fs::metadata(&token_file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    // The state is single-use.
    let again = http.get(g["url"].as_str().unwrap()).send().unwrap();
    assert_eq!(again.status(), 400);
    // Yandex: a device code the page would show; the emulator approves it and the server polls.
    let y: serde_json::Value = post("/api/admin/remotes/yd/signin", serde_json::json!({}))
        .json()
        .unwrap();
    assert_eq!(y["state"], "pending");
    assert!(y["user_code"].as_str().is_some_and(|c| !c.is_empty()));
    let t0 = Instant::now();
    loop {
        let s: serde_json::Value = http
            .get(format!("{base}/api/admin/remotes/yd/signin"))
            .bearer_auth(&t)
            .send()
            .unwrap()
            .json()
            .unwrap();
        if s["state"] == "done" {
            break;
        }
        assert_eq!(s["state"], "pending", "{s}");
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "the Yandex sign-in did not finish"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    for (path, remote) in [("/g", "gd"), ("/y", "yd")] {
        let m = post(
            "/api/admin/mounts",
            serde_json::json!({"path": path, "remote": remote}),
        );
        assert_eq!(m.status(), 201, "{path}: {:?}", m.text());
        let up = http
            .put(format!("{base}/api/fs/upload"))
            .query(&[("path", format!("{path}/hello.txt"))])
            .bearer_auth(&t)
            .body("hello")
            .send()
            .unwrap();
        assert_eq!(up.status(), 201, "{path}: {:?}", up.text());
        let listed: serde_json::Value = http
            .get(format!("{base}/api/fs/list"))
            .query(&[("path", path)])
            .bearer_auth(&t)
            .send()
            .unwrap()
            .json()
            .unwrap();
        assert_eq!(listed["entries"][0]["name"], "hello.txt", "{listed}");
    }
    child.kill().unwrap();
    child.wait().unwrap();
}

/// Starts `cloudmux serve` on `db` (default: SQLite in the data folder `data`); returns the child, its base URL and the first admin password if this
/// process created the admin.
fn spawn_server(
    env: &Env,
    db: Option<&str>,
    data: &str,
) -> (std::process::Child, String, Option<String>) {
    spawn_server_with(env, db, data, &[])
}

/// [`spawn_server`] with more arguments to `serve`.
fn spawn_server_with(
    env: &Env,
    db: Option<&str>,
    data: &str,
    extra: &[&str],
) -> (std::process::Child, String, Option<String>) {
    let mut cmd = env.cmd();
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(env.dir.path().join(data))
        .args(["--allow-endpoint", &env.base])
        .args(extra);
    if let Some(db) = db {
        cmd.args(["--db", db]);
    }
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let first = BufReader::new(child.stdout.take().unwrap())
        .lines()
        .next()
        .unwrap()
        .unwrap();
    let base = first
        .strip_prefix("cloudmux server on ")
        .and_then(|r| r.split_whitespace().next())
        .unwrap_or_else(|| panic!("{first:?}"))
        .trim_end_matches('/')
        .to_string();
    // The first-admin line, if any, comes before the listening line.
    let mut err = child.stderr.take().unwrap();
    let mut buf = [0u8; 4096];
    let n = {
        use std::io::Read;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let n = err.read(&mut buf).unwrap_or(0);
            let _ = tx.send(String::from_utf8_lossy(&buf[..n]).to_string());
        });
        rx.recv_timeout(Duration::from_millis(500))
            .unwrap_or_default()
    };
    let password = n
        .split("password ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .map(str::to_string);
    (child, base, password)
}

/// The database two server processes share in a test: a fresh PostgreSQL database when the suite has
/// one (as in CI), else one SQLite file.
fn shared_database(env: &Env, tag: &str) -> String {
    match std::env::var("CLOUDMUX_TEST_POSTGRES") {
        Ok(base) if !base.is_empty() => {
            let name = format!("cmx_cli_{tag}_{}", std::process::id());
            let out = Command::new("psql")
                .args([
                    base.as_str(),
                    "-q",
                    "-c",
                    &format!("CREATE DATABASE {name}"),
                ])
                .output()
                .expect("psql (installed with PostgreSQL by scripts/postgres.sh)");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            format!("{}/{name}", base.rsplit_once('/').unwrap().0)
        }
        _ => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI must run this on PostgreSQL: ./scripts/test.sh starts one"
            );
            format!(
                "sqlite://{}",
                env.dir.path().join(format!("{tag}.db")).display()
            )
        }
    }
}

/// Two `cloudmux serve` processes on one database (PostgreSQL when the suite has one, as in CI) see each
/// other's users, sessions and mounts.
#[test]
fn two_server_processes_share_one_database() {
    let env = Env::new(3599);
    let db = shared_database(&env, "two");
    let shared = env.dir.path().join("shared");
    std::fs::create_dir_all(&shared).unwrap();
    std::fs::write(shared.join("hello.txt"), "hello").unwrap();
    env.ok(&[
        "remote",
        "add",
        "files",
        "--type",
        "local",
        "--path",
        shared.to_str().unwrap(),
    ]);
    let (mut a, base_a, password) = spawn_server(&env, Some(&db), "a");
    let password = password.expect("the first server made the admin");
    let (mut b, base_b, second) = spawn_server(&env, Some(&db), "b");
    assert_eq!(
        second, None,
        "the second server found the admin in the database"
    );
    let http = reqwest::blocking::Client::new();
    let login: serde_json::Value = http
        .post(format!("{base_b}/api/auth/login"))
        .json(&serde_json::json!({"username": "admin", "password": password}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let t = login["token"].as_str().unwrap().to_string();
    let m = http
        .post(format!("{base_a}/api/admin/mounts"))
        .bearer_auth(&t)
        .json(&serde_json::json!({"path": "/files", "remote": "files"}))
        .send()
        .unwrap();
    assert_eq!(
        m.status(),
        201,
        "a session opened on B works on A: {:?}",
        m.text()
    );
    let t0 = Instant::now();
    loop {
        let r = http
            .get(format!("{base_b}/api/fs/stat"))
            .query(&[("path", "/files/hello.txt")])
            .bearer_auth(&t)
            .send()
            .unwrap();
        if r.status() == 200 {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "B never mounted what A saved"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    for c in [&mut a, &mut b] {
        c.kill().unwrap();
        c.wait().unwrap();
    }
}

/// `cloudmux --help` lists every kind of remote the registry has, and `remote add --help` every option.
#[test]
fn help_names_every_kind_and_option() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_cloudmux"))
        .arg("--help")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    for b in cloudmux_remote::BACKENDS {
        assert!(
            text.contains(b.kind()) && text.contains(b.about()),
            "{} missing:\n{text}",
            b.kind()
        );
    }
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_cloudmux"))
        .args(["remote", "add", "--help"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    for b in cloudmux_remote::BACKENDS {
        for o in b.options() {
            assert!(
                text.contains(&format!("--{}", o.name.replace('_', "-"))),
                "--{} missing:\n{text}",
                o.name
            );
        }
    }
}

/// A background copy survives the death of the server process running it: two `cloudmux serve` on one
/// database (PostgreSQL in CI), a copy of 60 files to Drive started on A, A killed with SIGKILL mid-way;
/// B takes the task over when A's lease runs out and finishes it, and every file is on Drive once with
/// the right bytes.
#[test]
fn a_killed_servers_task_is_finished_by_another() {
    cloudmux_http::install_crypto_provider();
    let (base, _state) = Emulator::start_detached(Config {
        settings: Settings {
            auto_approve: true,
            ..Settings::default()
        },
        // Slow enough that the copy is still running when A dies.
        faults: cloudmux_emulator::FaultConfig {
            latency_ms: 60,
            ..Default::default()
        },
        ..Config::default()
    })
    .unwrap();
    let env = Env {
        base,
        dir: tempfile::tempdir().unwrap(),
    };
    env.login_as("gd", "gdrive");
    let src = env.dir.path().join("files/src");
    std::fs::create_dir_all(&src).unwrap();
    let mut want = std::collections::BTreeMap::new();
    for i in 0..60u8 {
        let data = vec![i; 100_000 + i as usize * 1000];
        std::fs::write(src.join(format!("f{i:02}.bin")), &data).unwrap();
        want.insert(format!("f{i:02}.bin"), data);
    }
    env.ok(&[
        "remote",
        "add",
        "files",
        "--type",
        "local",
        "--path",
        env.dir.path().join("files").to_str().unwrap(),
    ]);
    let db = shared_database(&env, "tasks");
    let lease = ["--task-lease", "2"];
    let (mut a, base_a, password) = spawn_server_with(&env, Some(&db), "a", &lease);
    let (mut b, base_b, _) = spawn_server_with(&env, Some(&db), "b", &lease);
    let http = reqwest::blocking::Client::new();
    let login: serde_json::Value = http
        .post(format!("{base_a}/api/auth/login"))
        .json(&serde_json::json!({"username": "admin", "password": password.unwrap()}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let t = login["token"].as_str().unwrap().to_string();
    for (path, remote) in [("/gd", "gd"), ("/files", "files")] {
        let m = http
            .post(format!("{base_a}/api/admin/mounts"))
            .bearer_auth(&t)
            .json(&serde_json::json!({"path": path, "remote": remote}))
            .send()
            .unwrap();
        assert_eq!(m.status(), 201, "{:?}", m.text());
    }
    let get = |base: &str, path: &str| -> serde_json::Value {
        let r = http
            .get(format!("{base}{path}"))
            .bearer_auth(&t)
            .send()
            .unwrap();
        if r.status() == 200 {
            r.json().unwrap()
        } else {
            serde_json::Value::Null
        }
    };
    let t0 = Instant::now();
    while get(&base_b, "/api/fs/stat?path=/gd").is_null() {
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "B never mounted /gd"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let started: serde_json::Value = http
        .post(format!("{base_a}/api/fs/copy"))
        .bearer_auth(&t)
        .json(&serde_json::json!({"from": "/files/src", "to": "/gd/dst"}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let id = started["id"].as_str().expect("a task id").to_string();
    let task = format!("/api/tasks/{id}");
    let t0 = Instant::now();
    loop {
        let v = get(&base_a, &task);
        let done = v["progress"]["files_done"].as_u64().unwrap_or(0);
        assert_eq!(v["state"], "running", "A is still at it: {v}");
        if done >= 5 {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "A copies nothing: {v}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    a.kill().unwrap(); // SIGKILL: no goodbye, the lease just stops being renewed.
    a.wait().unwrap();
    let t0 = Instant::now();
    let end = loop {
        let v = get(&base_b, &task);
        if v["state"] != "running" {
            break v;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(120),
            "B never finished it: {v}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(end["state"], "done", "{end}");
    assert!(end["runs"].as_i64().unwrap() >= 2, "B ran it again: {end}");
    assert_eq!(end["progress"]["files_failed"], 0, "{end}");
    let listed = get(&base_b, "/api/fs/list?path=/gd/dst");
    let mut names: Vec<String> = listed["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    assert_eq!(
        names,
        want.keys().cloned().collect::<Vec<_>>(),
        "every file once"
    );
    for (name, data) in &want {
        let got = http
            .get(format!("{base_b}/api/fs/download"))
            .query(&[("path", format!("/gd/dst/{name}"))])
            .bearer_auth(&t)
            .send()
            .unwrap()
            .bytes()
            .unwrap();
        assert!(got[..] == data[..], "{name} has the right bytes");
    }

    // B is killed in the middle of a large upload and started again: the task goes on, and the upload
    // resumes from the session saved with the task instead of starting over.
    let big = env.dir.path().join("files/big");
    std::fs::create_dir_all(&big).unwrap();
    let data: Vec<u8> = (0..40 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(big.join("big.bin"), &data).unwrap();
    env.set_faults(serde_json::json!({"latency_ms": 400}));
    let sent = || env.stats()["drive_resumable_bytes"].as_u64().unwrap();
    let before = sent();
    let started: serde_json::Value = http
        .post(format!("{base_b}/api/fs/copy"))
        .bearer_auth(&t)
        .json(&serde_json::json!({"from": "/files/big", "to": "/gd/bigdst"}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let task = format!("/api/tasks/{}", started["id"].as_str().unwrap());
    let t0 = Instant::now();
    while sent() - before < 9 * 1024 * 1024 {
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "the upload did not progress"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    b.kill().unwrap();
    b.wait().unwrap();
    env.set_faults(serde_json::json!({}));
    let (mut b2, base_b2, _) = spawn_server_with(&env, Some(&db), "b", &lease);
    let t0 = Instant::now();
    let end = loop {
        let v = get(&base_b2, &task);
        if !v.is_null() && v["state"] != "running" {
            break v;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(120),
            "the restarted B never finished it: {v}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(end["state"], "done", "{end}");
    let total = sent() - before;
    assert!(
        total < (data.len() + 8 * 1024 * 1024) as u64,
        "the upload resumed instead of starting over: {total} bytes sent for {}",
        data.len()
    );
    let got = http
        .get(format!("{base_b2}/api/fs/download?path=/gd/bigdst/big.bin"))
        .bearer_auth(&t)
        .send()
        .unwrap()
        .bytes()
        .unwrap();
    assert!(
        got[..] == data[..],
        "the resumed upload has the right bytes"
    );
    b2.kill().unwrap();
    b2.wait().unwrap();
}

/// Two `cloudmux serve` on one PostgreSQL behind nginx (Debian's, round-robin): a session opened through
/// the balancer works whichever server a request lands on, and litmus runs all five WebDAV suites through
/// it with every test passing — its LOCK, PUT and UNLOCK land on different servers, so this holds only
/// because locks, the login throttle and tickets live in the shared database. Requests reached both.
#[test]
fn litmus_through_nginx_over_two_servers() {
    let env = Env::new(3599);
    let db = shared_database(&env, "lb");
    if db.starts_with("sqlite") {
        // Two processes share WebDAV locks only on PostgreSQL (CI always has it: see shared_database).
        eprintln!("note: no PostgreSQL in this run; the load-balancer test needs it");
        return;
    }
    let nginx = ["/usr/sbin/nginx", "/usr/bin/nginx"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("nginx is not installed: ./scripts/test.sh installs it (Debian's nginx-light)");
    let files = env.dir.path().join("files");
    std::fs::create_dir_all(&files).unwrap();
    env.ok(&[
        "remote",
        "add",
        "files",
        "--type",
        "local",
        "--path",
        files.to_str().unwrap(),
    ]);
    let behind = ["--trusted-proxy", "127.0.0.1"];
    let (a, base_a, password) = spawn_server_with(&env, Some(&db), "a", &behind);
    let (b, base_b, _) = spawn_server_with(&env, Some(&db), "b", &behind);
    let mut stop = KillOnDrop(vec![a, b]);
    let http = reqwest::blocking::Client::new();
    let login = |base: &str, user: &str, pw: &str| -> String {
        let v: serde_json::Value = http
            .post(format!("{base}/api/auth/login"))
            .json(&serde_json::json!({"username": user, "password": pw}))
            .send()
            .unwrap()
            .json()
            .unwrap();
        v["token"]
            .as_str()
            .unwrap_or_else(|| panic!("{v}"))
            .to_string()
    };
    let t = login(&base_a, "admin", &password.unwrap());
    let post = |path: &str, body: serde_json::Value| {
        let r = http
            .post(format!("{base_a}{path}"))
            .bearer_auth(&t)
            .json(&body)
            .send()
            .unwrap();
        assert_eq!(r.status(), 201, "{path}: {:?}", r.text());
    };
    post(
        "/api/admin/mounts",
        serde_json::json!({"path": "/l", "remote": "files"}),
    );
    post(
        "/api/admin/users",
        serde_json::json!({"name": "litmus", "password": "litmus-password", "can_write": true}),
    );
    let t0 = Instant::now();
    while http
        .get(format!("{base_b}/api/fs/stat?path=/l"))
        .bearer_auth(&t)
        .send()
        .unwrap()
        .status()
        != 200
    {
        assert!(t0.elapsed() < Duration::from_secs(20), "B never mounted /l");
        std::thread::sleep(Duration::from_millis(200));
    }
    // nginx, round-robin over A and B, in a folder of its own.
    let dir = env.dir.path().join("nginx");
    std::fs::create_dir_all(&dir).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let up = |b: &str| b.trim_start_matches("http://").to_string();
    let d = dir.display();
    let conf = format!(
        "daemon off;\nmaster_process off;\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\n\
         events {{ worker_connections 512; }}\n\
         http {{\n  log_format lb '$upstream_addr $request_method $status';\n  access_log {d}/access.log lb;\n\
         client_body_temp_path {d}/body; proxy_temp_path {d}/proxy; fastcgi_temp_path {d}/fcgi;\n\
         uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;\n\
         upstream cloudmux {{ server {}; server {}; }}\n\
         server {{\n    listen 127.0.0.1:{port};\n    client_max_body_size 0;\n    location / {{\n\
         proxy_pass http://cloudmux;\n      proxy_http_version 1.1;\n      proxy_set_header Host $http_host;\n\
         proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n\
         proxy_request_buffering off;\n      proxy_buffering off;\n    }}\n  }}\n}}\n",
        up(&base_a),
        up(&base_b)
    );
    std::fs::write(dir.join("nginx.conf"), conf).unwrap();
    let lb = Command::new(nginx)
        .arg("-e")
        .arg(dir.join("error.log"))
        .arg("-p")
        .arg(&dir)
        .arg("-c")
        .arg(dir.join("nginx.conf"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    stop.0.push(lb);
    let base_lb = format!("http://127.0.0.1:{port}");
    let t0 = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "nginx did not start: {}",
            std::fs::read_to_string(dir.join("error.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // A session opened through the balancer works on every request, wherever it lands.
    let tl = login(&base_lb, "litmus", "litmus-password");
    for _ in 0..6 {
        let r = http
            .get(format!("{base_lb}/api/me"))
            .bearer_auth(&tl)
            .send()
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    let out = Command::new("litmus")
        .args([&format!("{base_lb}/dav/l/"), "litmus", "litmus-password"])
        .env("TESTS", "basic copymove props locks http")
        .current_dir(&dir)
        .output()
        .expect("litmus (./scripts/test.sh installs it)");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (mut run, mut passed) = (0, 0);
    let mut suites = 0;
    for l in text.lines().filter(|l| l.contains("<- summary for")) {
        suites += 1;
        let n = |after: &str| -> u32 {
            l.split(after)
                .nth(1)
                .and_then(|r| r.split_whitespace().next())
                .and_then(|x| x.trim_end_matches(['.', ',']).parse().ok())
                .unwrap_or(0)
        };
        run += n("of ");
        passed += n("run: ");
        assert!(l.contains(" passed, 0 failed."), "{l}\n{text}");
    }
    assert_eq!(suites, 5, "five suites ran:\n{text}");
    assert_eq!(passed, run, "{text}");
    println!("litmus through nginx: {passed}/{run}");
    assert!(out.status.success(), "litmus exit {:?}\n{text}", out.status);
    let log = std::fs::read_to_string(dir.join("access.log")).unwrap();
    for base in [&base_a, &base_b] {
        let n = log.lines().filter(|l| l.starts_with(&up(base))).count();
        assert!(n >= 20, "{n} requests reached {base}:\n{log}");
    }
}

/// Child processes killed when the test ends, passed or failed.
struct KillOnDrop(Vec<std::process::Child>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A folder copy that meets Drive's daily upload limit stops uploading, exits with the limit's own code
/// (16) and says when to run it again; what was uploaded before stays.
#[test]
fn the_daily_upload_limit_has_its_own_exit_code() {
    let env = Env::new(3599);
    env.login();
    let d = env.dir.path().join("many");
    std::fs::create_dir(&d).unwrap();
    for i in 0..6 {
        std::fs::write(d.join(format!("f{i}.bin")), vec![i as u8; 40_000]).unwrap();
    }
    reqwest::blocking::Client::new()
        .post(format!("{}/__admin/quota", env.base))
        .json(&serde_json::json!({"drive_upload_bytes_per_day": 100_000}))
        .send()
        .unwrap()
        .error_for_status()
        .unwrap();
    // Two attempts per request: the limit is believed once it outlasts them.
    let o = env.run(&[
        "--retries",
        "2",
        "cp",
        "many",
        "gd:many",
        "--transfers",
        "1",
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(16), "{err}");
    assert!(err.contains("daily upload limit"), "{err}");
    assert!(err.contains("run the same command again"), "{err}");
    let list: serde_json::Value = serde_json::from_str(&env.ok(&["lsjson", "gd:many"])).unwrap();
    // 40 kB each: the third starts under 100 kB and passes it; the fourth is refused.
    assert_eq!(list.as_array().unwrap().len(), 3, "{list}");
}

/// Whether FUSE can be used here; in CI it must (the test script installs fuse3, and CI runs as root).
fn fuse_available() -> bool {
    let ok = Path::new("/dev/fuse").exists()
        && Command::new("fusermount3")
            .arg("-V")
            .output()
            .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "FUSE is missing in CI: /dev/fuse and fusermount3 (./scripts/test.sh installs fuse3)"
        );
        eprintln!("note: no FUSE here (/dev/fuse, fusermount3); the mount test needs it");
    }
    ok
}

fn is_mounted(at: &Path) -> bool {
    std::fs::read_to_string("/proc/self/mounts")
        .unwrap()
        .lines()
        .any(|l| l.split_whitespace().nth(1) == Some(at.to_str().unwrap()))
}

/// A mount started by a test: unmounted (lazily) and its process killed however the test ends.
struct MountGuard {
    child: std::process::Child,
    at: PathBuf,
}

impl Drop for MountGuard {
    fn drop(&mut self) {
        if is_mounted(&self.at) {
            let _ = Command::new("fusermount3")
                .arg("-uz")
                .arg(&self.at)
                .status();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `cloudmux mount WHAT AT` and waits until the folder is mounted.
fn spawn_mount(env: &Env, what: &str, at: &Path, extra: &[&str]) -> MountGuard {
    std::fs::create_dir_all(at).unwrap();
    let cache = env
        .dir
        .path()
        .join("mount-cache")
        .join(what.replace(['/', ':'], "_"));
    let mut child = env
        .cmd()
        .args(["mount", what])
        .arg(at)
        .arg("--cache-dir")
        .arg(&cache)
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    while !is_mounted(at) {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
            panic!("cloudmux mount {what} ended ({status}): {err}");
        }
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "{what} never mounted"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    MountGuard {
        child,
        at: at.to_path_buf(),
    }
}

/// `cloudmux mount` of Drive, Yandex Disk and a local folder: files written through the mount (whole,
/// appended, written in the middle, truncated) reach the service with the right bytes; reads at any
/// offset; folders made, renamed, listed and removed; POSIX errors where POSIX has them; a read-only
/// mount refuses changes; `cloudmux unmount` and SIGTERM both end the process cleanly.
#[test]
fn mount_drive_yandex_and_a_local_folder() {
    if !fuse_available() {
        return;
    }
    use std::io::{Read, Seek, SeekFrom, Write};
    use std::os::unix::fs::FileExt;
    let env = drive_and_yandex_env();
    let home = env.dir.path().join("home-folder");
    std::fs::create_dir_all(&home).unwrap();
    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
    for (n, what) in ["gd:m", "yd:m", home.to_str().unwrap()]
        .into_iter()
        .enumerate()
    {
        if what.contains(':') {
            env.ok(&["mkdir", what]);
        }
        let at = env.dir.path().join(format!("mnt{n}"));
        // Drive uploads at the close; the others a moment after it.
        let write_back = if n == 0 { "0" } else { "0.3" };
        let mut m = spawn_mount(&env, what, &at, &["--write-back", write_back]);
        let remote = |rel: &str| format!("{what}/{rel}");
        // What the service holds at `rel`, once it holds what the mount shows (a few seconds at most).
        let on_service = |rel: &str| -> Vec<u8> {
            let want = std::fs::read(at.join(rel)).unwrap();
            let t0 = Instant::now();
            loop {
                let o = env.run(&["cat", &remote(rel)]);
                if o.status.success() && o.stdout == want {
                    return o.stdout;
                }
                assert!(
                    t0.elapsed() < Duration::from_secs(20),
                    "{what}: {rel} never reached the service: {}",
                    String::from_utf8_lossy(&o.stderr)
                );
                std::thread::sleep(Duration::from_millis(100));
            }
        };
        // A whole file, then read back through the mount and from the service.
        std::fs::write(at.join("big.bin"), &data).unwrap();
        assert!(on_service("big.bin") == data, "{what}: uploaded on close");
        assert!(
            std::fs::read(at.join("big.bin")).unwrap() == data,
            "{what}: read back"
        );
        let mut f = std::fs::File::open(at.join("big.bin")).unwrap();
        let mut buf = vec![0u8; 1000];
        f.seek(SeekFrom::Start(2_500_000)).unwrap();
        f.read_exact(&mut buf).unwrap();
        assert!(
            buf[..] == data[2_500_000..2_501_000],
            "{what}: a read after a seek"
        );
        f.seek(SeekFrom::Start(10)).unwrap();
        f.read_exact(&mut buf).unwrap();
        assert!(buf[..] == data[10..1010], "{what}: a seek back");
        drop(f);
        // Appended, written in the middle, truncated.
        std::fs::write(at.join("notes.txt"), b"one\n").unwrap();
        let mut a = std::fs::OpenOptions::new()
            .append(true)
            .open(at.join("notes.txt"))
            .unwrap();
        a.write_all(b"two\n").unwrap();
        drop(a);
        assert_eq!(on_service("notes.txt"), b"one\ntwo\n", "{what}: appended");
        let rw = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(at.join("notes.txt"))
            .unwrap();
        rw.write_all_at(b"ONE", 0).unwrap();
        rw.set_len(6).unwrap();
        drop(rw);
        assert_eq!(
            on_service("notes.txt"),
            b"ONE\ntw",
            "{what}: written in place and cut"
        );
        assert_eq!(std::fs::metadata(at.join("notes.txt")).unwrap().len(), 6);
        // Folders, renames, listings and POSIX errors.
        std::fs::create_dir(at.join("dir")).unwrap();
        std::fs::rename(at.join("notes.txt"), at.join("dir/moved.txt")).unwrap();
        on_service("dir/moved.txt");
        std::fs::rename(at.join("dir"), at.join("dir2")).unwrap();
        let mut names: Vec<String> = std::fs::read_dir(&at)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["big.bin", "dir2"], "{what}");
        assert_eq!(
            on_service("dir2/moved.txt"),
            b"ONE\ntw",
            "{what}: renamed on the service"
        );
        assert_ne!(
            env.run(&["stat", &remote("notes.txt")]).status.code(),
            Some(0),
            "{what}: not left under the old name"
        );
        let e = std::fs::remove_dir(at.join("dir2")).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(ENOTEMPTY), "{what}: {e}");
        assert_eq!(
            std::fs::read(at.join("nothing")).unwrap_err().kind(),
            std::io::ErrorKind::NotFound
        );
        std::fs::remove_file(at.join("dir2/moved.txt")).unwrap();
        std::fs::remove_dir(at.join("dir2")).unwrap();
        // Deleted while open for writing: the open file goes on as POSIX says, and never reaches the
        // service.
        let mut open = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(at.join("scratch.tmp"))
            .unwrap();
        open.write_all(b"before ").unwrap();
        std::fs::remove_file(at.join("scratch.tmp")).unwrap();
        assert!(!at.join("scratch.tmp").exists(), "{what}: unlinked");
        open.write_all(b"after").unwrap();
        assert_eq!(
            open.metadata().unwrap().len(),
            12,
            "{what}: fstat of an unlinked file"
        );
        let mut back = String::new();
        open.seek(SeekFrom::Start(0)).unwrap();
        open.read_to_string(&mut back).unwrap();
        assert_eq!(back, "before after", "{what}: read through the open file");
        drop(open);
        std::thread::sleep(Duration::from_millis(500));
        assert_ne!(
            env.run(&["stat", &remote("scratch.tmp")]).status.code(),
            Some(0),
            "{what}: never uploaded"
        );
        assert!(!at.join("dir2").exists());
        assert_ne!(env.run(&["stat", &remote("dir2")]).status.code(), Some(0));
        // The end: by `cloudmux unmount` for the first, SIGTERM for the others.
        if n == 0 {
            env.ok(&["unmount", at.to_str().unwrap()]);
        } else {
            Command::new("kill")
                .args(["-TERM", &m.child.id().to_string()])
                .status()
                .unwrap();
        }
        let t0 = Instant::now();
        let status = loop {
            if let Some(s) = m.child.try_wait().unwrap() {
                break s;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(30),
                "{what}: never ended"
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        assert!(status.success(), "{what}: {status}");
        assert!(!is_mounted(&at), "{what}: unmounted");
    }
    // Read-only, and a mount point that is not empty is refused.
    let at = env.dir.path().join("ro");
    let mut ro = spawn_mount(&env, "gd:m", &at, &["--read-only"]);
    assert!(std::fs::read(at.join("big.bin")).unwrap() == data);
    let e = std::fs::write(at.join("x"), b"x").unwrap_err();
    assert_eq!(e.raw_os_error(), Some(30), "EROFS: {e}");
    env.ok(&["unmount", at.to_str().unwrap()]);
    assert!(ro.child.wait().unwrap().success());
    // In the background: the command returns once mounted, and `cloudmux unmount` ends it.
    let bg = env.dir.path().join("bg");
    std::fs::create_dir_all(&bg).unwrap();
    let cache = env.dir.path().join("bg-cache");
    let out = env.run(&[
        "mount",
        "gd:m",
        bg.to_str().unwrap(),
        "--daemon",
        "--cache-dir",
        cache.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(is_mounted(&bg));
    assert!(std::fs::read(bg.join("big.bin")).unwrap() == data);
    env.ok(&["unmount", bg.to_str().unwrap()]);
    assert!(!is_mounted(&bg));
    assert!(
        std::fs::read_to_string(cache.join("mount.log"))
            .unwrap()
            .contains("mounted at")
    );
    let full = env.dir.path().join("full");
    std::fs::create_dir_all(full.join("inside")).unwrap();
    let o = env.run(&["mount", "gd:m", full.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "refused");
    assert!(String::from_utf8_lossy(&o.stderr).contains("not empty"));
}

/// Files closed in a mount but not yet uploaded survive `kill -9`: the next mount over the same cache
/// folder uploads them (under the name a rename gave them, and not a file deleted meanwhile), and until
/// then the mount shows and reads the new bytes.
#[test]
fn mount_write_back_survives_kill_9() {
    if !fuse_available() {
        return;
    }
    let env = drive_env_with("gd:wb", 3599);
    let at = env.dir.path().join("mnt");
    let mut m = spawn_mount(&env, "gd:wb", &at, &["--write-back", "3600"]);
    let data: Vec<u8> = (0..12_000_000u32).map(|i| (i * 13 % 253) as u8).collect();
    std::fs::write(at.join("big.bin"), &data).unwrap();
    std::fs::write(at.join("first.txt"), b"first").unwrap();
    std::fs::rename(at.join("first.txt"), at.join("renamed.txt")).unwrap();
    std::fs::write(at.join("gone.txt"), b"gone").unwrap();
    std::fs::remove_file(at.join("gone.txt")).unwrap();
    assert!(
        std::fs::read(at.join("big.bin")).unwrap() == data,
        "read before its upload"
    );
    assert_eq!(
        std::fs::metadata(at.join("big.bin")).unwrap().len(),
        data.len() as u64
    );
    let mut names: Vec<String> = std::fs::read_dir(&at)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["big.bin", "renamed.txt"]);
    assert!(
        env.ok(&["ls", "gd:wb"]).trim().is_empty(),
        "nothing uploaded yet"
    );
    m.child.kill().unwrap(); // SIGKILL
    m.child.wait().unwrap();
    drop(m);
    let m = spawn_mount(&env, "gd:wb", &at, &["--write-back", "1"]);
    wait_until(30, "never uploaded after the crash", || {
        let o = env.run(&["cat", "gd:wb/big.bin"]);
        o.status.success() && o.stdout == data
    });
    wait_until(30, "renamed.txt never uploaded", || {
        env.run(&["cat", "gd:wb/renamed.txt"]).stdout == b"first"
    });
    let listed = env.ok(&["ls", "gd:wb"]);
    assert!(
        !listed.contains("first.txt") && !listed.contains("gone.txt"),
        "{listed}"
    );
    let cache = env
        .dir
        .path()
        .join("mount-cache")
        .join("gd_wb")
        .join("pending");
    wait_until(10, "the pending folder never emptied", || {
        std::fs::read_dir(&cache).unwrap().next().is_none()
    });
    drop(m);
}

/// A large upload the mount had half sent when it was killed resumes from its session on the next
/// mount: the service receives the rest, not the whole file again, and holds the right bytes once.
#[test]
fn mount_resumes_a_half_sent_upload_after_kill_9() {
    if !fuse_available() {
        return;
    }
    let env = drive_env_with("gd:half", 3599);
    let at = env.dir.path().join("mnt");
    let size = 24 * 1024 * 1024 + 11;
    let data = cloudmux_core::conformance::pattern(size, 5);
    let mut m = spawn_mount(&env, "gd:half", &at, &["--write-back", "0.2"]);
    env.set_faults(serde_json::json!({"latency_ms": 400}));
    let before = env.stats()["drive_resumable_bytes"].as_u64().unwrap();
    std::fs::write(at.join("video.bin"), &data).unwrap();
    wait_until(60, "the upload did not progress", || {
        env.stats()["drive_resumable_bytes"].as_u64().unwrap() - before > 9 * 1024 * 1024
    });
    m.child.kill().unwrap(); // SIGKILL, in the middle of the upload
    m.child.wait().unwrap();
    drop(m);
    let sessions = env
        .dir
        .path()
        .join("mount-cache")
        .join("gd_half")
        .join("sessions");
    assert_eq!(
        std::fs::read_dir(&sessions).unwrap().count(),
        1,
        "the upload's session is kept for the next mount"
    );
    env.set_faults(serde_json::json!({}));
    let m = spawn_mount(&env, "gd:half", &at, &["--write-back", "0.2"]);
    let listed =
        || -> serde_json::Value { serde_json::from_str(&env.ok(&["lsjson", "gd:half"])).unwrap() };
    wait_until(60, "never uploaded after the crash", || {
        listed()[0]["hashes"]["md5"] == md5_hex(&data)
    });
    let v = listed();
    assert_eq!(
        v.as_array().unwrap().len(),
        1,
        "one file, no duplicate: {v}"
    );
    let sent = env.stats()["drive_resumable_bytes"].as_u64().unwrap() - before;
    assert!(
        sent < (size + 8 * 1024 * 1024) as u64,
        "the next mount resumed instead of starting over: {sent} bytes sent for {size}"
    );
    wait_until(10, "the session file was never removed", || {
        std::fs::read_dir(&sessions).unwrap().next().is_none()
    });
    drop(m);
}

/// `--cache-mode full`: a read in the middle of a file downloads about what it reads, a second read of
/// it nothing, and after a remount over the same cache folder still nothing; a file written through
/// the mount is read back new, not from the cache.
#[test]
fn mount_full_cache_reads_only_what_is_asked_and_keeps_it() {
    if !fuse_available() {
        return;
    }
    use std::io::{Read, Seek, SeekFrom};
    let env = Env::new(3599);
    env.login();
    let d = env.dir.path();
    let data: Vec<u8> = (0..20_000_000u32).map(|i| (i * 31 % 241) as u8).collect();
    std::fs::write(d.join("video.bin"), &data).unwrap();
    env.ok(&["mkdir", "gd:v"]);
    env.ok(&["put", d.join("video.bin").to_str().unwrap(), "gd:v/"]);
    let db: Vec<u8> = (0..20_000_000u32).map(|i| (i * 17 % 239) as u8).collect();
    std::fs::write(d.join("db.bin"), &db).unwrap();
    env.ok(&["put", d.join("db.bin").to_str().unwrap(), "gd:v/"]);
    let served = || env.stats()["served_bytes"].as_u64().unwrap();
    let at = d.join("mnt");
    let read_at = |off: u64, len: usize| -> Vec<u8> {
        let mut f = std::fs::File::open(at.join("video.bin")).unwrap();
        f.seek(SeekFrom::Start(off)).unwrap();
        let mut buf = vec![0u8; len];
        f.read_exact(&mut buf).unwrap();
        buf
    };
    let m = spawn_mount(&env, "gd:v", &at, &["--cache-mode", "full"]);
    let before = served();
    assert!(read_at(12_000_000, 1 << 20) == data[12_000_000..12_000_000 + (1 << 20)]);
    let cost = served() - before;
    eprintln!("a 1 MiB read in the middle of 20 MB downloaded {cost} bytes");
    assert!(
        cost < 4 << 20,
        "a 1 MiB read in the middle of 20 MB downloaded {cost} bytes"
    );
    let before = served();
    assert!(read_at(12_100_000, 500_000) == data[12_100_000..12_600_000]);
    assert_eq!(served(), before, "read again: from the cache");
    // Scattered small reads (a database's) bring the whole file in behind the reader, once.
    {
        use std::os::unix::fs::FileExt;
        let f = std::fs::File::open(at.join("db.bin")).unwrap();
        let before = served();
        let mut rng = 7u64;
        let mut scattered = |n: usize| {
            for _ in 0..n {
                rng = rng.wrapping_mul(6364136223846793005).wrapping_add(1);
                let off = (rng >> 33) % (db.len() as u64 - 4096);
                let mut buf = [0u8; 4096];
                f.read_exact_at(&mut buf, off).unwrap();
                assert!(buf[..] == db[off as usize..off as usize + 4096], "at {off}");
            }
        };
        // (A seek is a jump of more than 8 MiB: about a third of these.)
        scattered(120);
        // In once the service has served the file and then nothing for a while (readers and the fill
        // may have fetched a range both, so the count alone can reach the size early).
        wait_until(30, "scattered reads never brought the file in", || {
            let now = served();
            now - before >= db.len() as u64 && {
                std::thread::sleep(Duration::from_millis(500));
                served() == now
            }
        });
        let whole = served() - before;
        assert!(
            whole < db.len() as u64 + (16 << 20),
            "the fill downloaded {whole} bytes for a file of {}",
            db.len()
        );
        let after = served();
        scattered(200);
        assert_eq!(served(), after, "once in, from the cache");
    }
    drop(m);
    let m = spawn_mount(&env, "gd:v", &at, &["--cache-mode", "full"]);
    let before = served();
    assert!(read_at(12_000_000, 1 << 20) == data[12_000_000..12_000_000 + (1 << 20)]);
    assert_eq!(served(), before, "after a remount: still from the cache");
    assert!(
        std::fs::read(at.join("video.bin")).unwrap() == data,
        "the whole file"
    );
    std::fs::write(at.join("video.bin"), b"new").unwrap();
    assert_eq!(std::fs::read(at.join("video.bin")).unwrap(), b"new");
    drop(m);
    // `--cache-mode off`: nothing waits, a file is on the service once its close returns.
    let o = env.run(&[
        "mount",
        "gd:v",
        at.to_str().unwrap(),
        "--cache-mode",
        "off",
        "--write-back",
        "3",
    ]);
    assert_eq!(o.status.code(), Some(2), "off has no write-back");
    assert!(String::from_utf8_lossy(&o.stderr).contains("--write-back"));
    let m = spawn_mount(&env, "gd:v", &at, &["--cache-mode", "off"]);
    std::fs::write(at.join("now.txt"), b"at the close").unwrap();
    assert_eq!(env.ok(&["cat", "gd:v/now.txt"]), "at the close");
    drop(m);
}

/// `ENOTEMPTY` on Linux.
const ENOTEMPTY: i32 = 39;

/// Every name under `at`, with `/` after folders, sorted.
fn walk(at: &Path) -> Vec<String> {
    fn go(dir: &Path, rel: &str, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            let name = format!("{rel}{}", e.file_name().to_str().unwrap());
            if e.file_type().unwrap().is_dir() {
                out.push(format!("{name}/"));
                go(&e.path(), &format!("{name}/"), out);
            } else {
                out.push(name);
            }
        }
    }
    let mut out = Vec::new();
    go(at, "", &mut out);
    out.sort();
    out
}

/// Listings outlive the mount: a remount of Drive answers a whole walk from the cache folder, after
/// asking the change feed only what changed while nothing was mounted; a change made elsewhere while
/// mounted shows within the poll interval, long before the listing would expire. Without a feed (a
/// local folder), a remount shows the kept listings at once and lists them again behind.
#[test]
fn mount_keeps_listings_across_remounts_and_follows_drive_changes() {
    if !fuse_available() {
        return;
    }
    let env = Env::new(3600);
    env.login();
    let tree = env.dir.path().join("tree");
    for d in 0..12 {
        std::fs::create_dir_all(tree.join(format!("d{d}/sub"))).unwrap();
        for f in 0..3 {
            std::fs::write(tree.join(format!("d{d}/f{f}.txt")), format!("{d}.{f}")).unwrap();
        }
        std::fs::write(tree.join(format!("d{d}/sub/deep.txt")), "deep").unwrap();
    }
    env.ok(&["sync", "tree", "gd:tree"]);
    let at = env.dir.path().join("mnt-meta");
    let flags = ["--dir-cache-time", "3600", "--poll-interval", "0.5"];
    let requests = || -> u64 {
        let s = env.stats();
        let by_host = s["requests"].as_object().unwrap();
        by_host.values().map(|n| n.as_u64().unwrap()).sum()
    };
    let first = {
        let _m = spawn_mount(&env, "gd:tree", &at, &flags);
        let r0 = requests();
        let first = walk(&at);
        assert_eq!(first.len(), 12 * 6, "{first:?}");
        let cold = requests() - r0;
        eprintln!("cold walk: {cold} requests");
        assert!(
            cold >= 24,
            "a cold walk lists every folder: {cold} requests"
        );
        first
    };
    assert!(!is_mounted(&at));
    // Changed while nothing is mounted.
    std::fs::write(env.dir.path().join("new.txt"), "new").unwrap();
    env.ok(&["put", "new.txt", "gd:tree/d3/"]);
    env.ok(&["rm", "gd:tree/d5/f0.txt"]);
    let m = spawn_mount(&env, "gd:tree", &at, &flags);
    let r0 = requests();
    let second = walk(&at);
    let warm = requests() - r0;
    let mut want = first.clone();
    want.push("d3/new.txt".into());
    want.retain(|n| n != "d5/f0.txt");
    want.sort();
    assert_eq!(second, want, "what changed meanwhile shows");
    // Only the two folders the feed named are listed again (and their paths looked up).
    eprintln!("remount walk: {warm} requests");
    assert!(warm <= 8, "a remount walk asked {warm} requests");
    // Changed elsewhere while mounted: shows within the poll interval, not the hour of the listing.
    assert!(!at.join("d7/live.txt").exists());
    std::fs::write(env.dir.path().join("live.txt"), "live").unwrap();
    env.ok(&["put", "live.txt", "gd:tree/d7/"]);
    let t0 = Instant::now();
    while !std::fs::read_dir(at.join("d7"))
        .unwrap()
        .any(|e| e.unwrap().file_name() == "live.txt")
    {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "a change elsewhere never showed"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(std::fs::read(at.join("d7/live.txt")).unwrap(), b"live");
    drop(m);
    // A local folder: the kept listing at once, then what is there now.
    let local = env.dir.path().join("plain");
    std::fs::create_dir_all(local.join("inner")).unwrap();
    std::fs::write(local.join("inner/a.txt"), "a").unwrap();
    let lat = env.dir.path().join("mnt-local");
    let local_s = local.to_str().unwrap();
    {
        let _m = spawn_mount(&env, local_s, &lat, &flags);
        assert_eq!(walk(&lat), ["inner/", "inner/a.txt"]);
    }
    std::fs::write(local.join("inner/b.txt"), "b").unwrap();
    let _m = spawn_mount(&env, local_s, &lat, &flags);
    let t0 = Instant::now();
    while walk(&lat) != ["inner/", "inner/a.txt", "inner/b.txt"] {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "the kept listing was never listed again: {:?}",
            walk(&lat)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn run_in(dir: &Path, prog: &str, args: &[&str]) -> String {
    let o = Command::new(prog)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("{prog}: {e} (./scripts/test.sh installs it)"));
    assert!(
        o.status.success(),
        "{prog} {args:?} in {}: {}{}",
        dir.display(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Tools that know only files, on a mount of Drive: a git repository cloned into it is whole (`git
/// fsck`) and clean (`git status`) after a remount, and so is a commit made in it; fio's random writes
/// and reads check every block they read back (`--verify=crc32c`), before and after a remount (then
/// from what the service holds).
#[test]
fn mount_holds_a_git_repository_and_fio_checked_blocks() {
    if !fuse_available() {
        return;
    }
    let env = drive_env_with("gd:work", 3600);
    // A repository of a few commits to clone.
    let src = env.dir.path().join("src-repo");
    std::fs::create_dir_all(src.join("lib")).unwrap();
    let git = |dir: &Path, args: &[&str]| {
        let mut all = vec![
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.com",
            "-c",
            "init.defaultBranch=main",
        ];
        all.extend_from_slice(args);
        run_in(dir, "git", &all)
    };
    git(&src, &["init", "-q"]);
    for i in 0..5 {
        std::fs::write(
            src.join(format!("lib/m{i}.rs")),
            format!("// {i}\n").repeat(200),
        )
        .unwrap();
        std::fs::write(src.join("README"), format!("version {i}\n")).unwrap();
        git(&src, &["add", "-A"]);
        git(&src, &["commit", "-q", "-m", &format!("step {i}")]);
    }
    let at = env.dir.path().join("mnt-tools");
    // Uploads at the close, so that a remount sees everything on the service.
    let flags = ["--write-back", "0"];
    let fio = |args: &[&str]| {
        let file = at.join("fio.bin");
        let mut all = vec![
            "--name=check".to_string(),
            format!("--filename={}", file.display()),
            "--size=8m".into(),
            "--bs=4k".into(),
            "--ioengine=psync".into(),
            "--verify=crc32c".into(),
            "--randseed=7".into(),
        ];
        all.extend(args.iter().map(|s| s.to_string()));
        let all: Vec<&str> = all.iter().map(String::as_str).collect();
        run_in(env.dir.path(), "fio", &all)
    };
    {
        let _m = spawn_mount(&env, "gd:work", &at, &flags);
        git(&at, &["clone", "-q", src.to_str().unwrap(), "repo"]);
        let repo = at.join("repo");
        git(&repo, &["fsck", "--full", "--strict"]);
        assert_eq!(git(&repo, &["status", "--porcelain"]), "");
        std::fs::write(repo.join("lib/m9.rs"), "// nine\n").unwrap();
        git(&repo, &["add", "-A"]);
        git(&repo, &["commit", "-q", "-m", "made in the mount"]);
        // Random writes, read back and checked; then random reads of what was written.
        fio(&["--rw=randwrite", "--do_verify=1"]);
        fio(&["--rw=randread", "--verify_only"]);
    }
    let _m = spawn_mount(&env, "gd:work", &at, &flags);
    let repo = at.join("repo");
    git(&repo, &["fsck", "--full", "--strict"]);
    assert_eq!(
        git(&repo, &["status", "--porcelain"]),
        "",
        "clean after a remount"
    );
    let log = git(&repo, &["log", "--format=%s"]);
    assert_eq!(log.lines().count(), 6, "{log}");
    assert!(log.starts_with("made in the mount"), "{log}");
    fio(&["--rw=randread", "--verify_only"]);
}

/// The pjdfstest cases a cloud drive cannot hold, each with why. A case that fails and is not here fails
/// the test below; these are matched as a module (`link::`), a file kind used by the case (`::fifo`) or a
/// case's name.
const PJDFSTEST_INAPPLICABLE: &[(&str, &str)] = &[
    (
        "link::",
        "hard links: a file on the service is one item with one name",
    ),
    (
        "symlink::",
        "symbolic links: the services hold files and folders only",
    ),
    (
        "mknod::",
        "devices, FIFOs and sockets: the services hold files and folders only",
    ),
    (
        "mkfifo::",
        "FIFOs: the services hold files and folders only",
    ),
    (
        "::fifo",
        "the case makes a FIFO: the services hold files and folders only",
    ),
    (
        "::block",
        "the case makes a block device: the services hold files and folders only",
    ),
    (
        "::char",
        "the case makes a character device: the services hold files and folders only",
    ),
    (
        "::socket",
        "the case makes a socket: the services hold files and folders only",
    ),
    (
        "::symlink",
        "the case makes a symbolic link: the services hold files and folders only",
    ),
    ("::eloop_comp", "the case makes a loop of symbolic links"),
    ("open::socket_error", "the case makes a socket"),
    ("open::fifo_nonblock_wronly", "the case makes a FIFO"),
    (
        "chmod::",
        "modes: every file has the mount's (--umask); there is none per file to change",
    ),
    (
        "chown::",
        "owners: every file belongs to the mount's --uid/--gid",
    ),
    (
        "::uid_gid_eq_euid_egid",
        "owners: every file belongs to the mount's --uid/--gid, not its creator",
    ),
    (
        "::permission_bits_from_mode",
        "modes: every file has the mount's (--umask), not the one asked",
    ),
    (
        "::etxtbsy",
        "the case runs a file from the mount: files there have no execute bit",
    ),
    (
        "rename::write_access_required_subdir",
        "modes: no per-folder write permission to check",
    ),
    (
        "rename::unchanged_ctime_failed::",
        "the case needs per-folder modes to make rename fail",
    ),
    (
        "unlink::update_ctime_success::regular",
        "the case makes a hard link to see the ctime",
    ),
    (
        "unlink::unchanged_ctime_failed::regular",
        "the case makes a hard link to see the ctime",
    ),
    ("rename::to_multiply_linked::", "the case makes a hard link"),
    (
        "rename::preserve_metadata::regular",
        "the case makes a hard link to compare metadata",
    ),
    (
        "rename::preserve_metadata_symlink",
        "the case makes a symbolic link",
    ),
    ("open::open_nofollow", "the case makes a symbolic link"),
    (
        "ftruncate::affected_create_flags_only",
        "the case opens a folder to all with chmod: modes are the mount's (--umask)",
    ),
    (
        "rename::updates_link_parent",
        "a folder's link count would count its subfolders, which needs every folder listed; it is 2",
    ),
    (
        "mkdir::changed_time_fields_success",
        "a folder's times are the service's, which does not move them when its contents change",
    ),
    (
        "open::changed_time_fields_success",
        "a folder's times are the service's, which does not move them when its contents change",
    ),
    (
        "rmdir::changed_time_parent_success",
        "a folder's times are the service's, which does not move them when its contents change",
    ),
    (
        "unlink::update_mtime_ctime_success_folder::",
        "a folder's times are the service's, which does not move them when its contents change",
    ),
    (
        "open::open_trunc",
        "the new time of a file truncated at its opening shows after the kernel's 1 s attribute cache",
    ),
];

/// A file truncated by its path (`truncate(2)`, no open handle) right after the close that created it
/// shows the size asked for. The kernel sends the close's release after close has returned, so the
/// truncate can meet the writer while it is being let go; the mount once answered with the size of the
/// version before it (about 1 in 60 tries, and one failed pjdfstest run in CI).
#[test]
#[allow(unsafe_code)] // truncate(2) by path: std has only ftruncate
fn mount_truncate_by_path_right_after_close_keeps_its_size() {
    if !fuse_available() {
        return;
    }
    let env = drive_and_yandex_env();
    let home = env.dir.path().join("truncated");
    std::fs::create_dir_all(&home).unwrap();
    let at = env.dir.path().join("mnt-truncate");
    let _m = spawn_mount(&env, home.to_str().unwrap(), &at, &[]);
    let size_of = |p: &Path| std::fs::symlink_metadata(p).unwrap().len();
    let truncate = |p: &Path, len: i64| {
        let c = std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: `c` is a NUL-terminated path that outlives the call.
        let r = unsafe { libc::truncate(c.as_ptr(), len) };
        assert_eq!(
            r,
            0,
            "truncate {}: {}",
            p.display(),
            std::io::Error::last_os_error()
        );
    };
    let mut wrong = Vec::new();
    for i in 0..600 {
        let p = at.join(format!("f{i}"));
        drop(std::fs::File::create(&p).unwrap());
        truncate(&p, 1_234_567);
        let grown = size_of(&p);
        truncate(&p, 567);
        let shrunk = size_of(&p);
        if (grown, shrunk) != (1_234_567, 567) {
            wrong.push(format!("f{i}: {grown} then {shrunk}"));
        }
        std::fs::remove_file(&p).unwrap();
    }
    assert!(
        wrong.is_empty(),
        "sizes after truncate(2):\n{}",
        wrong.join("\n")
    );
}

/// pjdfstest (the POSIX file-system suite, crates.io) on mounts of Drive and Yandex Disk: every case that
/// a cloud drive can hold passes; the others are listed above with why.
#[test]
fn mount_passes_pjdfstest_where_it_applies() {
    if !fuse_available() {
        return;
    }
    let pjd = std::env::var_os("PJDFSTEST").unwrap_or_else(|| "pjdfstest".into());
    let root = Command::new("id").arg("-u").output().unwrap().stdout == b"0\n";
    if !root || Command::new(&pjd).arg("--version").output().is_err() {
        assert!(
            std::env::var_os("CI").is_none(),
            "pjdfstest needs root and the pjdfstest binary in CI (./scripts/test.sh installs it)"
        );
        eprintln!("note: pjdfstest needs root and its binary (cargo install pjdfstest)");
        return;
    }
    let env = drive_and_yandex_env();
    // Two users other than root for the cases that switch user; both are in Debian's base system.
    let config = env.dir.path().join("pjdfstest.toml");
    std::fs::write(
        &config,
        "[features]\n[settings]\nnaptime = 0.001\nallow_remount = false\n\
         [dummy_auth]\nentries = [[\"nobody\", \"nogroup\"], [\"daemon\", \"daemon\"]]\n",
    )
    .unwrap();
    for remote in ["gd:posix", "yd:posix"] {
        env.ok(&["mkdir", remote]);
        let at = env.dir.path().join(format!("mnt-{}", &remote[..2]));
        let _m = spawn_mount(&env, remote, &at, &[]);
        let out = Command::new(&pjd)
            .arg("-c")
            .arg(&config)
            .arg("-p")
            .arg(&at)
            .current_dir(&at)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        let mut passed = 0;
        let mut unexpected = Vec::new();
        let mut lines = text.lines().peekable();
        while let Some(line) = lines.next() {
            let mut words = line.split_whitespace();
            let (Some(name), Some(verdict), None) = (words.next(), words.next(), words.next())
            else {
                continue;
            };
            match verdict {
                "ok" => passed += 1,
                "FAILED" => {
                    let known = PJDFSTEST_INAPPLICABLE.iter().any(|(p, _)| {
                        name.starts_with(p) || name.ends_with(p) || name.contains(&format!("{p}::"))
                    });
                    if !known {
                        let why = lines.peek().map(|l| l.trim()).unwrap_or_default();
                        unexpected.push(format!("{name}: {why}"));
                    }
                }
                _ => {}
            }
        }
        eprintln!("pjdfstest on {remote}: {passed} passed");
        assert!(
            unexpected.is_empty(),
            "pjdfstest cases failed on {remote}:\n{}",
            unexpected.join("\n")
        );
        // The suite ran through: the cases that apply are well over a hundred.
        assert!(
            passed >= 110,
            "only {passed} pjdfstest cases passed on {remote}:\n{text}"
        );
    }
}

/// Google Docs on a Drive mount: each shown as its export in the first of `--export-formats` its kind
/// has, read whole (direct I/O: its size is unknown until then), read-only; a kind no format fits is
/// left out; an unknown format is refused before anything is mounted. Two files of one name in a
/// folder (Drive allows it): the second shows its id in its name, reads its own bytes, cannot be
/// written, and can be deleted.
#[test]
fn mount_shows_google_docs_and_duplicate_names() {
    if !fuse_available() {
        return;
    }
    let env = drive_env_with("gd:docs", 3600);
    let listed: serde_json::Value = serde_json::from_str(&env.ok(&["lsjson", "gd:"])).unwrap();
    let folder = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "docs")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let token = access_token(&env.token_file());
    let make = |name: &str, kind: &str, text: &str| {
        let mut meta = serde_json::json!({"name": name, "parents": [folder]});
        if !kind.is_empty() {
            meta["mimeType"] = format!("application/vnd.google-apps.{kind}").into();
        }
        let body = format!(
            "--b\r\nContent-Type: application/json\r\n\r\n{meta}\r\n--b\r\nContent-Type: text/plain\r\n\r\n{text}\r\n--b--\r\n"
        );
        let r = reqwest::blocking::Client::new()
            .post(format!(
                "{}/www.googleapis.com/upload/drive/v3/files?uploadType=multipart",
                env.base
            ))
            .bearer_auth(&token)
            .header("content-type", "multipart/related; boundary=b")
            .body(body)
            .send()
            .unwrap();
        assert!(r.status().is_success(), "{}", r.text().unwrap());
        let made: serde_json::Value = r.json().unwrap();
        made["id"].as_str().unwrap().to_string()
    };
    let first = make("same.txt", "", "one");
    let second = make("same.txt", "", "two");
    make("Notes", "document", "line one\nline two");
    make("Sums", "spreadsheet", "a\tb\n1\t2");
    make("Sketch", "drawing", "");
    let at = env.dir.path().join("mnt-docs");
    let o = env.run(&[
        "mount",
        "gd:docs",
        at.to_str().unwrap(),
        "--export-formats",
        "txt,exe",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("exe is not a format"));
    std::fs::create_dir_all(&at).unwrap();
    let _m = spawn_mount(&env, "gd:docs", &at, &["--export-formats", "txt,csv"]);
    let listed = walk(&at);
    assert_eq!(listed.len(), 4, "{listed:?}");
    assert_eq!(
        listed[..2],
        ["Notes.txt", "Sums.csv"],
        "the drawing has no format"
    );
    let twin = listed
        .iter()
        .find(|n| n.starts_with("same [") && n.ends_with("].txt"))
        .unwrap_or_else(|| panic!("{listed:?}"))
        .clone();
    assert!(listed.contains(&"same.txt".to_string()));
    let mut texts = [
        std::fs::read_to_string(at.join("same.txt")).unwrap(),
        std::fs::read_to_string(at.join(&twin)).unwrap(),
    ];
    texts.sort();
    assert_eq!(texts, ["one", "two"], "each its own bytes");
    assert!(twin.contains(&first) || twin.contains(&second));
    assert_eq!(
        std::fs::write(at.join(&twin), "x").unwrap_err().kind(),
        std::io::ErrorKind::PermissionDenied
    );
    std::fs::remove_file(at.join(&twin)).unwrap();
    let kept: serde_json::Value = serde_json::from_str(&env.ok(&["lsjson", "gd:docs"])).unwrap();
    let same: Vec<_> = kept
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["name"] == "same.txt")
        .collect();
    assert_eq!(same.len(), 1, "the twin went to the trash: {kept}");
    std::fs::remove_file(at.join("same.txt")).unwrap();
    assert_eq!(
        std::fs::read_to_string(at.join("Notes.txt")).unwrap(),
        "line one\nline two"
    );
    assert_eq!(
        std::fs::read_to_string(at.join("Sums.csv")).unwrap(),
        "a,b\r\n1,2"
    );
    assert_eq!(
        std::fs::metadata(at.join("Notes.txt")).unwrap().len(),
        17,
        "known once read"
    );
    let denied = |r: std::io::Result<()>| {
        assert_eq!(r.unwrap_err().kind(), std::io::ErrorKind::PermissionDenied)
    };
    denied(
        std::fs::OpenOptions::new()
            .append(true)
            .open(at.join("Notes.txt"))
            .map(drop),
    );
    denied(std::fs::remove_file(at.join("Notes.txt")));
    // `df`: the remote's space, asked of the service once for many askings.
    let drive_requests = || {
        env.stats()["requests"]["www.googleapis.com"]
            .as_u64()
            .unwrap()
    };
    let before = drive_requests();
    for _ in 0..5 {
        let df = run_in(
            env.dir.path(),
            "stat",
            &["-f", "-c", "%S %b %f", at.to_str().unwrap()],
        );
        let n: Vec<u64> = df.split_whitespace().map(|w| w.parse().unwrap()).collect();
        assert!(n[0] * n[1] >= 1 << 30 && n[2] <= n[1], "{df}");
    }
    assert!(drive_requests() - before <= 1, "about is kept a while");
    // A time set after the close (`cp -p`, `rsync -t`, `touch -d`) goes up with the file.
    std::fs::write(at.join("dated.txt"), "old news").unwrap();
    run_in(&at, "touch", &["-d", "@981173106", "dated.txt"]);
    let shown = std::fs::metadata(at.join("dated.txt"))
        .unwrap()
        .modified()
        .unwrap();
    assert_eq!(shown, UNIX_EPOCH + Duration::from_secs(981_173_106));
    wait_until(30, "the file never went up with its time", || {
        let v: serde_json::Value = serde_json::from_str(&env.ok(&["lsjson", "gd:docs"])).unwrap();
        v.as_array().unwrap().iter().any(|e| {
            e["name"] == "dated.txt"
                && e["modified"]
                    .as_str()
                    .is_some_and(|m| m.starts_with("2001-02-03T04:05:06"))
        })
    });
    let root_time = std::fs::metadata(&at).unwrap().modified().unwrap();
    assert!(
        root_time > UNIX_EPOCH + Duration::from_secs(1_600_000_000),
        "the root has a time of this era: {root_time:?}"
    );
    denied(std::fs::rename(at.join("Sums.csv"), at.join("Other.csv")));
    assert_eq!(walk(&at), ["Notes.txt", "Sums.csv", "dated.txt"]);
}

/// `cloudmux bisync` of a local folder and a Drive folder: the first run needs `--resync`; changes on
/// either side cross; both sides changing a file keeps both versions; a deletion on Drive's side goes to
/// its trash and one on the local side into the side's `.cloudmux-bisync-trash`; a run that would delete
/// most of a side, one without the `--check-access` marker and one while another holds the pair's lock
/// change nothing; a lock left by a dead process is taken over.
#[test]
fn bisync_local_and_drive_keeps_every_version() {
    let env = drive_env_with("gd:two", 3600);
    let d = env.dir.path();
    let local = d.join("one");
    std::fs::create_dir_all(local.join("sub")).unwrap();
    for i in 0..6 {
        std::fs::write(local.join(format!("f{i}.txt")), format!("file {i}")).unwrap();
    }
    std::fs::write(local.join("sub/deep.txt"), "deep").unwrap();
    std::fs::write(d.join("remote.txt"), "from drive").unwrap();
    env.ok(&["put", d.join("remote.txt").to_str().unwrap(), "gd:two/"]);
    let l = local.to_str().unwrap();
    let first = env.run(&["bisync", l, "gd:two"]);
    assert_eq!(first.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&first.stderr).contains("--resync"));
    env.ok(&["bisync", l, "gd:two", "--resync"]);
    assert_eq!(
        std::fs::read_to_string(local.join("remote.txt")).unwrap(),
        "from drive"
    );
    assert_eq!(env.ok(&["cat", "gd:two/sub/deep.txt"]), "deep");
    assert!(env.ok(&["bisync", l, "gd:two"]).is_empty(), "nothing to do");

    // Both sides change f0 (Drive's later), local edits f1, Drive deletes f2, local deletes f3.
    std::fs::write(local.join("f0.txt"), "local edit").unwrap();
    std::fs::write(local.join("f1.txt"), "only local").unwrap();
    std::fs::remove_file(local.join("f3.txt")).unwrap();
    std::thread::sleep(Duration::from_millis(1100));
    std::fs::write(d.join("f0.txt"), "drive edit!").unwrap();
    env.ok(&["put", d.join("f0.txt").to_str().unwrap(), "gd:two/"]);
    env.ok(&["rm", "gd:two/f2.txt"]);
    let out = env.ok(&["bisync", l, "gd:two"]);
    assert!(out.contains("conflict f0.txt"), "{out}");
    let names = |v: &str| -> Vec<String> {
        let v: serde_json::Value = serde_json::from_str(v).unwrap();
        let mut n: Vec<String> = v
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["name"].as_str().unwrap().to_string())
            .collect();
        n.sort();
        n
    };
    let on_drive = names(&env.ok(&["lsjson", "gd:two"]));
    let mut here: Vec<String> = std::fs::read_dir(&local)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != ".cloudmux-bisync-trash")
        .collect();
    here.sort();
    assert_eq!(here, on_drive);
    let aside = on_drive
        .iter()
        .find(|n| n.starts_with("f0.conflict-path1-") && n.ends_with(".txt"))
        .unwrap_or_else(|| panic!("{on_drive:?}"))
        .clone();
    assert_eq!(
        env.ok(&["cat", "gd:two/f0.txt"]),
        "drive edit!",
        "the newer wins"
    );
    assert_eq!(env.ok(&["cat", &format!("gd:two/{aside}")]), "local edit");
    assert_eq!(
        std::fs::read_to_string(local.join(&aside)).unwrap(),
        "local edit"
    );
    assert_eq!(env.ok(&["cat", "gd:two/f1.txt"]), "only local");
    assert!(!on_drive.contains(&"f2.txt".to_string()) && !on_drive.contains(&"f3.txt".to_string()));
    // Drive's f2 went to the trash there; the local side keeps it in its own.
    let trashed: Vec<_> = walk(&local.join(".cloudmux-bisync-trash"));
    assert!(
        trashed.iter().any(|p| p.ends_with("/f2.txt")),
        "{trashed:?}"
    );
    assert!(env.ok(&["bisync", l, "gd:two"]).is_empty(), "agreed again");

    // Most of the local side gone (a folder emptied by mistake): refused, nothing changed.
    for n in ["f1.txt", "f4.txt", "f5.txt", "remote.txt"] {
        std::fs::remove_file(local.join(n)).unwrap();
    }
    let refused = env.run(&["bisync", l, "gd:two"]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--max-delete"));
    assert_eq!(env.ok(&["cat", "gd:two/f4.txt"]), "file 4");
    let no_marker = env.run(&[
        "bisync",
        l,
        "gd:two",
        "--check-access",
        "--max-delete",
        "100",
    ]);
    assert_eq!(no_marker.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&no_marker.stderr).contains(".cloudmux-bisync-check"));
    assert_eq!(env.ok(&["cat", "gd:two/f4.txt"]), "file 4");

    // A live process's lock stops a run; a dead one's is taken over.
    let state_dir = d.join("cfg/state/bisync");
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&state_dir).unwrap().permissions().mode();
        assert_eq!(
            mode & 0o777,
            0o700,
            "the states' folder is the owner's alone"
        );
    }
    let state = std::fs::read_dir(&state_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "json"))
        .unwrap();
    let lock = state.with_extension("lock");
    std::fs::write(
        &lock,
        format!("{} 2026-12-03T00:00:00Z\n", std::process::id()),
    )
    .unwrap();
    let locked = env.run(&["bisync", l, "gd:two", "--max-delete", "100"]);
    assert_eq!(locked.status.code(), Some(11));
    assert!(String::from_utf8_lossy(&locked.stderr).contains("another bisync"));
    std::fs::write(&lock, "999999999 2026-12-03T00:00:00Z\n").unwrap();
    env.ok(&["bisync", l, "gd:two", "--max-delete", "100"]);
    assert!(!lock.exists(), "the lock goes with the run");
    let left = names(&env.ok(&["lsjson", "gd:two"]));
    assert!(!left.contains(&"f4.txt".to_string()), "{left:?}");

    // A backup folder of one's own for the side without a trash; one that climbs out is refused.
    let out = env.run(&["bisync", l, "gd:two", "--backup-dir", "../out"]);
    assert_eq!(out.status.code(), Some(2));
    env.ok(&["rm", "gd:two/f0.txt"]);
    env.ok(&[
        "bisync",
        l,
        "gd:two",
        "--backup-dir",
        "kept",
        "--max-delete",
        "100",
    ]);
    let kept = walk(&local.join("kept"));
    assert!(kept.iter().any(|p| p.ends_with("/f0.txt")), "{kept:?}");
    let left = names(&env.ok(&["lsjson", "gd:two"]));
    assert!(
        !left
            .iter()
            .any(|n| n == "kept" || n == ".cloudmux-bisync-trash"),
        "backup folders are never synced: {left:?}"
    );
}

/// `bisync --watch`: a local edit reaches Drive, a Drive edit reaches the folder (through the change
/// feed), a burst of 1,000 new local files is synced in a few passes rather than 1,000, and SIGTERM
/// stops it cleanly with the pair's lock released.
#[test]
fn bisync_watch_follows_both_sides_and_batches_a_burst() {
    let env = drive_env_with("gd:w", 3600);
    let d = env.dir.path();
    let local = d.join("here");
    std::fs::create_dir_all(&local).unwrap();
    std::fs::write(local.join("a.txt"), "first").unwrap();
    let mut child = env
        .cmd()
        .args([
            "--json",
            "bisync",
            local.to_str().unwrap(),
            "gd:w",
            "--resync",
            "--watch",
        ])
        .args(["--poll-every", "1", "--settle", "0.5"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<serde_json::Value>();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(l) = line else { break };
            let _ = tx.send(serde_json::from_str(&l).expect("one JSON object a line"));
        }
    });
    let mut passes: Vec<serde_json::Value> = Vec::new();
    let take = |passes: &mut Vec<serde_json::Value>| {
        while let Ok(v) = rx.try_recv() {
            assert_eq!(v["event"], "pass", "{v}");
            assert!(v["errors"].as_array().unwrap().is_empty(), "{v}");
            passes.push(v);
        }
    };
    wait_until(30, "the first pass", || {
        take(&mut passes);
        !passes.is_empty()
    });
    assert_eq!(passes[0]["why"], "start");
    assert_eq!(env.ok(&["cat", "gd:w/a.txt"]), "first");

    // A local edit shows up on Drive: within the settle time and a pass (bound: 10 s).
    std::fs::write(local.join("a.txt"), "edited here").unwrap();
    let t0 = Instant::now();
    wait_until(10, "the local edit on Drive", || {
        env.run(&["cat", "gd:w/a.txt"]).stdout == b"edited here"
    });
    eprintln!("local edit on Drive after {:?}", t0.elapsed());

    // An upload to Drive by someone else shows up here: within the poll interval and a pass.
    std::fs::write(d.join("b.txt"), "from drive").unwrap();
    env.ok(&["put", d.join("b.txt").to_str().unwrap(), "gd:w/"]);
    let t0 = Instant::now();
    wait_until(10, "the Drive upload in the folder", || {
        std::fs::read_to_string(local.join("b.txt")).is_ok_and(|s| s == "from drive")
    });
    eprintln!("Drive upload here after {:?}", t0.elapsed());

    // 1,000 new files at once: a few passes, not one per file. (The pass that brought b.txt is let in
    // first: its file lands before its line is printed.)
    wait_until(10, "the pass that brought b.txt", || {
        take(&mut passes);
        passes
            .iter()
            .any(|p| p["actions"].to_string().contains("copy b.txt"))
    });
    let before = passes.len();
    std::fs::create_dir_all(local.join("burst")).unwrap();
    for i in 0..1000 {
        std::fs::write(local.join(format!("burst/f{i:04}.txt")), format!("n{i}")).unwrap();
    }
    let count = || -> usize {
        let o = env.run(&["lsjson", "gd:w/burst"]);
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_default();
        v.as_array().map_or(0, |a| a.len())
    };
    wait_until(120, "1,000 files on Drive", || count() == 1000);
    std::thread::sleep(Duration::from_secs(3));
    take(&mut passes);
    let burst = passes.len() - before;
    let whys: Vec<_> = passes[before..]
        .iter()
        .map(|p| (p["why"].clone(), p["actions"].as_array().unwrap().len()))
        .collect();
    eprintln!("1,000 files in {burst} passes (why, steps): {whys:?}");
    assert!(burst <= 6, "{burst} passes for a burst of 1,000 files");
    let copied: usize = passes[before..]
        .iter()
        .map(|p| {
            p["actions"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|a| a.as_str().unwrap().starts_with("copy "))
                .count()
        })
        .sum();
    assert_eq!(copied, 1000, "each file copied once");

    // SIGTERM: a clean stop, exit 0, the lock gone.
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let t0 = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "still running after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(0));
    let locks: Vec<_> = walk(&d.join("cfg/state/bisync"))
        .into_iter()
        .filter(|p| p.ends_with(".lock"))
        .collect();
    assert!(locks.is_empty(), "{locks:?}");
    // And the pair agrees: a plain run has nothing to do.
    assert!(
        env.ok(&["bisync", local.to_str().unwrap(), "gd:w"])
            .is_empty()
    );
}

/// A bisync killed with SIGKILL in the middle of its copies is finished by the next run, without
/// `--resync`, with every file once on each side and no partial file anywhere.
#[test]
fn bisync_killed_mid_run_is_finished_by_the_next() {
    let env = drive_env_with("gd:pair", 3600);
    let d = env.dir.path();
    let local = d.join("pair");
    std::fs::create_dir_all(&local).unwrap();
    let l = local.to_str().unwrap();
    env.ok(&["bisync", l, "gd:pair", "--resync"]);
    for i in 0..20 {
        std::fs::write(local.join(format!("up{i:02}.txt")), format!("up {i}")).unwrap();
        std::fs::write(d.join(format!("down{i:02}.txt")), format!("down {i}")).unwrap();
    }
    for i in 0..20 {
        let f = d.join(format!("down{i:02}.txt"));
        env.ok(&["put", f.to_str().unwrap(), "gd:pair/"]);
    }
    let drive_names = || -> Vec<String> {
        let v: serde_json::Value = serde_json::from_str(&env.ok(&["lsjson", "gd:pair"])).unwrap();
        v.as_array()
            .unwrap()
            .iter()
            .map(|e| e["name"].as_str().unwrap().to_string())
            .collect()
    };
    env.set_faults(serde_json::json!({"latency_ms": 300}));
    let mut child = env
        .cmd()
        .args(["bisync", l, "gd:pair", "--transfers", "2"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_until(120, "the run never got going", || {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before the kill"
        );
        drive_names().iter().filter(|n| n.starts_with("up")).count() >= 3
    });
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    env.set_faults(serde_json::json!({}));
    env.ok(&["bisync", l, "gd:pair"]);
    let mut on_drive = drive_names();
    on_drive.sort();
    let mut unique = on_drive.clone();
    unique.dedup();
    assert_eq!(on_drive, unique, "no file twice on Drive");
    let mut here: Vec<String> = std::fs::read_dir(&local)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    here.sort();
    assert_eq!(
        here, on_drive,
        "both sides hold the same names, and nothing partial"
    );
    assert_eq!(here.len(), 40);
    for i in [0, 7, 19] {
        assert_eq!(
            env.ok(&["cat", &format!("gd:pair/up{i:02}.txt")]),
            format!("up {i}")
        );
        assert_eq!(
            std::fs::read_to_string(local.join(format!("down{i:02}.txt"))).unwrap(),
            format!("down {i}")
        );
    }
    assert!(env.ok(&["bisync", l, "gd:pair"]).is_empty(), "agreed");
}
