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

/// A move interrupted after copying a file but before deleting its source is finished by running it
/// again: the identical copy stays, the source goes (as rclone's move does).
#[tokio::test]
async fn a_rerun_move_deletes_sources_already_copied() {
    let (a, b, sa, sb) = storages();
    std::fs::create_dir_all(b.path().join("moved")).unwrap();
    std::fs::copy(a.path().join("sub/b.txt"), b.path().join("moved/b.txt")).unwrap();
    let s = run(
        Mode::Move,
        (sa, "sub".into()),
        (sb, "moved".into()),
        &Options {
            size_only: true,
            ..Options::default()
        },
        |_| {},
    )
    .await
    .unwrap();
    assert!(s.errors.is_empty(), "{:?}", s.errors);
    assert_eq!((s.copied, s.unchanged), (1, 1));
    assert!(
        !a.path().join("sub/b.txt").exists(),
        "the source of the copy already there goes"
    );
    assert!(b.path().join("moved/b.txt").exists() && b.path().join("moved/deep/c.jpg").exists());
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

/// A source that reports the MD5 of its file but hands out damaged bytes for its first `bad` reads.
#[derive(Debug)]
struct Damaging {
    inner: LocalStorage,
    md5: String,
    bad: std::sync::atomic::AtomicUsize,
}

impl Damaging {
    fn with_hash(&self, mut e: cloudmux_core::Entry) -> cloudmux_core::Entry {
        if !e.is_dir {
            e.hashes.md5 = Some(self.md5.clone());
        }
        e
    }
}

#[async_trait::async_trait]
impl Storage for Damaging {
    fn kind(&self) -> &'static str {
        "damaging"
    }
    fn capabilities(&self) -> cloudmux_core::Capabilities {
        self.inner.capabilities()
    }
    fn list<'a>(&'a self, path: &'a str) -> cloudmux_core::PageStream<'a> {
        use futures_util::StreamExt;
        Box::pin(
            self.inner
                .list(path)
                .map(|p| p.map(|es| es.into_iter().map(|e| self.with_hash(e)).collect())),
        )
    }
    async fn stat(&self, path: &str) -> cloudmux_core::Result<cloudmux_core::Entry> {
        Ok(self.with_hash(self.inner.stat(path).await?))
    }
    async fn read(
        &self,
        path: &str,
        range: cloudmux_core::ByteRange,
    ) -> cloudmux_core::Result<cloudmux_core::ByteStream> {
        use futures_util::StreamExt;
        let s = self.inner.read(path, range).await?;
        let left = self.bad.load(std::sync::atomic::Ordering::SeqCst);
        if left == 0 {
            return Ok(s);
        }
        self.bad
            .store(left - 1, std::sync::atomic::Ordering::SeqCst);
        let mut first = true;
        Ok(Box::pin(s.map(move |c| {
            c.map(|b| {
                if !std::mem::take(&mut first) || b.is_empty() {
                    return b;
                }
                let mut v = b.to_vec();
                v[0] ^= 0x55;
                bytes::Bytes::from(v)
            })
        })))
    }
    async fn write(
        &self,
        path: &str,
        data: cloudmux_core::ByteStream,
        opts: cloudmux_core::WriteOptions,
    ) -> cloudmux_core::Result<cloudmux_core::Entry> {
        self.inner.write(path, data, opts).await
    }
    async fn mkdir(&self, path: &str) -> cloudmux_core::Result<cloudmux_core::Entry> {
        self.inner.mkdir(path).await
    }
    async fn copy(&self, from: &str, to: &str) -> cloudmux_core::Result<cloudmux_core::Entry> {
        self.inner.copy(from, to).await
    }
    async fn rename(&self, from: &str, to: &str) -> cloudmux_core::Result<cloudmux_core::Entry> {
        self.inner.rename(from, to).await
    }
    async fn delete(
        &self,
        path: &str,
        mode: cloudmux_core::DeleteMode,
    ) -> cloudmux_core::Result<()> {
        self.inner.delete(path, mode).await
    }
    async fn about(&self) -> cloudmux_core::Result<cloudmux_core::About> {
        self.inner.about().await
    }
}

/// A destination that reports no hash (the local disk) still gets every copy checked: the bytes are hashed on
/// their way and compared with the source's MD5, so damaged bytes are copied again, and a source that keeps
/// damaging them fails the file as corrupt.
#[tokio::test]
async fn copies_to_a_destination_without_hashes_are_checked_on_the_way() {
    use md5::Digest;
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let data = cloudmux_core::conformance::pattern(200_000, 3);
    std::fs::write(a.path().join("f.bin"), &data).unwrap();
    let md5 = hex::encode(md5::Md5::digest(&data));
    let src = |bad| -> Arc<dyn Storage> {
        Arc::new(Damaging {
            inner: LocalStorage::new(a.path()).unwrap(),
            md5: md5.clone(),
            bad: std::sync::atomic::AtomicUsize::new(bad),
        })
    };
    let dst: Arc<dyn Storage> = Arc::new(LocalStorage::new(b.path()).unwrap());
    let o = Options {
        retry_pause: std::time::Duration::from_millis(1),
        ..Options::default()
    };
    let from = cloudmux_vfs::Source::Path("f.bin".into());
    let (_, written) = cloudmux_vfs::copy_file(&src(1), &from, &dst, "f.bin", &o, |_| {})
        .await
        .unwrap();
    assert_eq!(written.hashes.md5.as_deref(), Some(md5.as_str()));
    assert!(
        std::fs::read(b.path().join("f.bin")).unwrap() == data,
        "copied again, right"
    );
    let e = cloudmux_vfs::copy_file(&src(100), &from, &dst, "g.bin", &o, |_| {})
        .await
        .unwrap_err();
    assert_eq!(e.kind(), cloudmux_core::ErrorKind::Corrupt, "{e}");
}
