//! The engine between two local folders.
use std::sync::Arc;

use cloudmux_core::Storage;
use cloudmux_local::LocalStorage;
use cloudmux_vfs::{Filter, Mode, Options, run};

fn tree(dir: &std::path::Path) {
    for (p, d) in [
        ("a.txt", "a"),
        ("sub/b.txt", "bb"),
        ("sub/deep/c.jpg", "ccc"),
        ("日本 ü/d e.txt", "d"),
    ] {
        let f = dir.join(p);
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
        std::fs::write(f, d).unwrap();
    }
    std::fs::create_dir_all(dir.join("empty")).unwrap();
}

fn storages() -> (
    tempfile::TempDir,
    tempfile::TempDir,
    Arc<dyn Storage>,
    Arc<dyn Storage>,
) {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    tree(a.path());
    let (sa, sb): (Arc<dyn Storage>, Arc<dyn Storage>) = (
        Arc::new(LocalStorage::new(a.path()).unwrap()),
        Arc::new(LocalStorage::new(b.path()).unwrap()),
    );
    (a, b, sa, sb)
}

#[tokio::test]
async fn sync_then_nothing_then_check_clean() {
    let (_a, b, sa, sb) = storages();
    std::fs::write(b.path().join("stale.txt"), "old").unwrap();
    let s = run(
        Mode::Sync,
        (sa.clone(), String::new()),
        (sb.clone(), String::new()),
        &Options::default(),
        |_| {},
    )
    .await
    .unwrap();
    assert_eq!(s.copied, 4);
    assert_eq!(s.deleted, 1, "the extraneous file is removed");
    assert!(s.errors.is_empty());
    assert!(b.path().join("empty").is_dir(), "empty folders are copied");
    assert_eq!(
        std::fs::read_to_string(b.path().join("日本 ü/d e.txt")).unwrap(),
        "d"
    );
    let again = run(
        Mode::Sync,
        (sa.clone(), String::new()),
        (sb.clone(), String::new()),
        &Options::default(),
        |_| {},
    )
    .await
    .unwrap();
    assert_eq!(
        (again.copied, again.deleted, again.unchanged),
        (0, 0, 4),
        "a second sync transfers nothing"
    );
    let check = run(
        Mode::Check,
        (sa, String::new()),
        (sb, String::new()),
        &Options::default(),
        |_| {},
    )
    .await
    .unwrap();
    assert!(check.missing.is_empty() && check.extra.is_empty() && check.differ.is_empty());
}

#[tokio::test]
async fn filters_dry_run_and_check_report() {
    let (_a, b, sa, sb) = storages();
    let o = Options {
        filter: Filter {
            include: vec!["*.txt".into()],
            ..Default::default()
        },
        dry_run: true,
        ..Default::default()
    };
    let plan = run(
        Mode::Copy,
        (sa.clone(), String::new()),
        (sb.clone(), String::new()),
        &o,
        |_| {},
    )
    .await
    .unwrap();
    assert!(plan.planned.iter().any(|p| p == "copy sub/b.txt"));
    assert!(
        !plan.planned.iter().any(|p| p.contains("c.jpg")),
        "excluded by the filter"
    );
    assert_eq!(
        std::fs::read_dir(b.path()).unwrap().count(),
        0,
        "a dry run changes nothing"
    );
    let o = Options {
        filter: Filter {
            exclude: vec!["*.jpg".into()],
            ..Default::default()
        },
        ..Default::default()
    };
    run(
        Mode::Copy,
        (sa.clone(), String::new()),
        (sb.clone(), String::new()),
        &o,
        |_| {},
    )
    .await
    .unwrap();
    std::fs::write(b.path().join("a.txt"), "changed!").unwrap();
    std::fs::write(b.path().join("only-here"), "x").unwrap();
    let c = run(
        Mode::Check,
        (sa, String::new()),
        (sb, String::new()),
        &Options::default(),
        |_| {},
    )
    .await
    .unwrap();
    assert_eq!(c.missing, ["sub/deep/c.jpg"]);
    assert_eq!(c.differ, ["a.txt"]);
    assert_eq!(c.extra, ["only-here"]);
}

#[tokio::test]
async fn move_deletes_sources_after_copying() {
    let (a, b, sa, sb) = storages();
    let s = run(
        Mode::Move,
        (sa, "sub".into()),
        (sb, "moved".into()),
        &Options::default(),
        |_| {},
    )
    .await
    .unwrap();
    assert_eq!(s.copied, 2);
    assert!(b.path().join("moved/deep/c.jpg").exists());
    assert!(!a.path().join("sub/b.txt").exists() && !a.path().join("sub/deep/c.jpg").exists());
}

#[tokio::test]
async fn big_files_download_in_ranged_streams() {
    let (a, b, sa, sb) = storages();
    let data = cloudmux_core::conformance::pattern(3 * 1024 * 1024 + 17, 5);
    std::fs::write(a.path().join("big.bin"), &data).unwrap();
    let o = Options {
        multi_stream_cutoff: 1024 * 1024,
        streams: 3,
        segment_size: 256 * 1024,
        ..Options::default()
    };
    let s = run(
        Mode::Copy,
        (sa.clone(), String::new()),
        (sb, String::new()),
        &o,
        |_| {},
    )
    .await
    .unwrap();
    assert!(s.errors.is_empty(), "{:?}", s.errors);
    assert!(
        std::fs::read(b.path().join("big.bin")).unwrap() == data,
        "segments arrive in order"
    );
    let direct = cloudmux_core::collect_bytes(cloudmux_vfs::multi_stream_read(
        sa,
        "big.bin".into(),
        data.len() as u64,
        4,
        100_000,
    ))
    .await
    .unwrap();
    assert!(direct == data);
}
