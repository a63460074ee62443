//! The copy/sync matrix: every ordered pair of local, Drive and Yandex Disk (same-backend pairs copy on the
//! server), plus Google Photos as a source (its albums and by-month tree) and as a destination (an album).
//! After each sync `check` is clean, every file's bytes match the source's (MD5 of both sides), and a
//! second sync transfers nothing.
use std::sync::Arc;

use cloudmux_core::{ByteRange, Storage, collect_bytes, list_all};
use cloudmux_emulator::{Config, Emulator};
use cloudmux_vfs::{Mode, Options};

mod common;
use common::{TREE_FILES, backends, go, photos, tree};

fn md5(b: &[u8]) -> String {
    use md5::Digest;
    hex::encode(md5::Md5::digest(b))
}

async fn md5_at(s: &Arc<dyn Storage>, p: &str) -> String {
    let b = s.read(p, ByteRange::all()).await.unwrap();
    md5(&collect_bytes(b).await.unwrap())
}

/// Syncs (copies, for `copy_only` destinations) `from` to `to`, then asserts: no error, `copied` files
/// copied, `check` clean, the bytes of each of `files` equal, a second run copies nothing.
async fn pair(
    label: &str,
    from: (&Arc<dyn Storage>, &str),
    to: (&Arc<dyn Storage>, &str),
    files: &[String],
    copy_only: bool,
    copied: usize,
) {
    let mode = if copy_only { Mode::Copy } else { Mode::Sync };
    let s = go(mode, from, to, &Options::default()).await;
    assert!(s.errors.is_empty(), "{label}: {:?}", s.errors);
    assert_eq!(s.copied, copied, "{label}: {s:?}");
    let c = go(Mode::Check, from, to, &Options::default()).await;
    assert!(
        c.missing.is_empty() && c.extra.is_empty() && c.differ.is_empty(),
        "{label}: check {c:?}"
    );
    assert_eq!(c.unchanged, files.len(), "{label}");
    for f in files {
        let (a, b) = (
            md5_at(from.0, &cloudmux_core::path::join(from.1, f)).await,
            md5_at(to.0, &cloudmux_core::path::join(to.1, f)).await,
        );
        assert_eq!(a, b, "{label}: {f}");
    }
    let again = go(mode, from, to, &Options::default()).await;
    assert_eq!(again.copied, 0, "{label}: the second run transfers nothing");
    assert!(again.errors.is_empty(), "{label}: {:?}", again.errors);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_pair_of_backends() {
    let e = Emulator::start(Config::default()).await.unwrap();
    let (drive, yandex) = backends(&e, cloudmux_http::HttpConfig::default(), None).await;
    let gphotos = photos(&e);
    let seed = tempfile::tempdir().unwrap();
    tree(&seed.path().join("tree"));
    let pics = ["a.jpg", "b b.png", "ç.gif"];
    for (i, p) in pics.iter().enumerate() {
        let d = seed.path().join("pics").join(p);
        std::fs::create_dir_all(d.parent().unwrap()).unwrap();
        std::fs::write(
            d,
            cloudmux_core::conformance::pattern(3000 + i * 999, i as u64),
        )
        .unwrap();
    }
    let work = tempfile::tempdir().unwrap();
    let local: Arc<dyn Storage> = Arc::new(cloudmux_local::LocalStorage::new(work.path()).unwrap());
    let seeded: Arc<dyn Storage> =
        Arc::new(cloudmux_local::LocalStorage::new(seed.path()).unwrap());
    let all = [("local", &local), ("gdrive", &drive), ("yadisk", &yandex)];
    let files: Vec<String> = TREE_FILES.iter().map(|s| s.to_string()).collect();
    let pic_files: Vec<String> = pics.iter().map(|s| s.to_string()).collect();

    // Each backend gets the tree, from the local seed.
    for (name, s) in all {
        pair(
            &format!("seed -> {name}"),
            (&seeded, "tree"),
            (s, "src"),
            &files,
            false,
            files.len(),
        )
        .await;
        pair(
            &format!("seed pics -> {name}"),
            (&seeded, "pics"),
            (s, "pics"),
            &pic_files,
            false,
            pics.len(),
        )
        .await;
    }
    // The destination root was created once although three uploads into it started together.
    let top = list_all(&*drive, "").await.unwrap();
    assert_eq!(
        top.iter().filter(|e| e.name == "pics").count(),
        1,
        "one pics folder on Drive"
    );
    // Every ordered pair, the same backend included (a server-side copy there).
    for (a, from) in all {
        for (b, to) in all {
            let dst = format!("from-{a}");
            pair(
                &format!("{a} -> {b}"),
                (from, "src"),
                (to, &dst),
                &files,
                false,
                files.len(),
            )
            .await;
            let ds = list_all(&**to, &format!("{dst}/empty")).await.unwrap();
            assert!(
                ds.iter().any(|e| e.is_dir && e.name == "inner"),
                "{a} -> {b}: empty folders come along"
            );
        }
    }
    // Photos as a destination (an album: flat, no deletes, so a copy) from every backend, then as a
    // source to every backend, both as the album and as the by-month tree.
    for (i, (a, from)) in all.into_iter().enumerate() {
        // The first copy uploads; the others find the album's items already there.
        let copied = if i == 0 { pics.len() } else { 0 };
        pair(
            &format!("{a} -> gphotos"),
            (from, "pics"),
            (&gphotos, "album/Matrix"),
            &pic_files,
            true,
            copied,
        )
        .await;
    }
    let in_album: Vec<String> = list_all(&*gphotos, "album/Matrix")
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.name)
        .collect();
    assert_eq!(
        in_album.len(),
        pics.len(),
        "the second and third copies found the first one's items: {in_album:?}"
    );
    let mut by_month = Vec::new();
    for y in list_all(&*gphotos, "media/by-month").await.unwrap() {
        for m in list_all(&*gphotos, &format!("media/by-month/{}", y.name))
            .await
            .unwrap()
        {
            for f in list_all(&*gphotos, &format!("media/by-month/{}/{}", y.name, m.name))
                .await
                .unwrap()
            {
                by_month.push(format!("{}/{}/{}", y.name, m.name, f.name));
            }
        }
    }
    assert!(by_month.len() >= pics.len(), "{by_month:?}");
    for (b, to) in all {
        pair(
            &format!("gphotos album -> {b}"),
            (&gphotos, "album/Matrix"),
            (to, "photos-album"),
            &in_album,
            false,
            in_album.len(),
        )
        .await;
        pair(
            &format!("gphotos by-month -> {b}"),
            (&gphotos, "media/by-month"),
            (to, "photos-months"),
            &by_month,
            false,
            by_month.len(),
        )
        .await;
    }
}
