//! litmus (the WebDAV conformance suite, from Debian's `litmus` package) against `/dav` over a local mount:
//! all five suites (`basic`, `copymove`, `props`, `locks`, `http`: 104 tests) must pass with no failure. `./scripts/test.sh` installs it.
use std::sync::Arc;
use std::time::Duration;

use cloudmux_core::Storage;
use cloudmux_server::AppState;
use cloudmux_server::house::db::Db;
use cloudmux_server::house::tree::Mount;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn litmus_all_suites() {
    let litmus = std::process::Command::new("litmus")
        .arg("--version")
        .output();
    assert!(
        litmus.is_ok(),
        "litmus is not installed: run ./scripts/test.sh (it installs it) or apt-get install litmus"
    );
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(d.path().join("files")).unwrap();
    let db = Db::open(&format!("sqlite://{}", d.path().join("s.db").display()))
        .await
        .unwrap();
    let state = AppState::new(db, Duration::from_secs(10));
    let s: Arc<dyn Storage> =
        Arc::new(cloudmux_local::LocalStorage::new(d.path().join("files")).unwrap());
    state
        .tree
        .mount(Mount {
            path: "/l".into(),
            storage: s,
            read_only: false,
            direct_links: false,
            guest: false,
        })
        .unwrap();
    state
        .users
        .create("litmus", "litmus-password", "/", true, false)
        .await
        .unwrap();
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/dav/l/", l.local_addr().unwrap());
    tokio::spawn(cloudmux_server::serve(l, state));
    let out = tokio::process::Command::new("litmus")
        .args([&url, "litmus", "litmus-password"])
        .env("TESTS", "basic copymove props locks http")
        .current_dir(d.path())
        .output()
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    println!("{text}");
    let summaries: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("<- summary for"))
        .collect();
    assert_eq!(summaries.len(), 5, "five suites ran:\n{text}");
    for s in &summaries {
        assert!(s.contains(" passed, 0 failed."), "{s}\n{text}");
    }
    assert!(out.status.success(), "litmus exit {:?}\n{text}", out.status);
}
