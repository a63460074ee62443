//! The conformance kit: one suite every backend passes, modelled on rclone's `fstests`.
//!
//! A backend's test file calls [`conformance_tests!`](crate::conformance_tests) with an async factory that
//! returns a fresh storage and a [`KitConfig`]. The macro expands to one `#[tokio::test]` per case, so a
//! failure names the case. Each case works inside its own folder (`kit-<case>-<nonce>`), removed afterwards.
//! Cases that need a capability (copy, trash, public links, unknown-size writes, modification times) check
//! [`Capabilities`](crate::Capabilities) and assert the Unsupported error instead when it is off.

use std::collections::BTreeSet;

use futures_util::{StreamExt, stream};

use crate::{
    ByteRange, DeleteMode, Entry, ErrorKind, Storage, WriteOptions, bytes_stream, collect_bytes,
    list_all,
};

/// Knobs a backend gives the kit.
#[derive(Debug, Clone)]
pub struct KitConfig {
    /// How many entries the `list_many` case creates; pick more than one page of the backend's listing.
    pub many_entries: usize,
    /// Size of the large put, in bytes.
    pub large_size: usize,
    /// The service holds any name, `..`, `a/b` and NUL included (Drive, Photos); otherwise such names are
    /// refused with InvalidInput (a file system, Yandex Disk).
    pub any_name: bool,
}

impl Default for KitConfig {
    fn default() -> Self {
        KitConfig {
            many_entries: 250,
            large_size: 5 * 1024 * 1024 + 123,
            any_name: false,
        }
    }
}

/// Deterministic pseudo-random bytes (xorshift), so failures replay.
pub fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

fn md5_hex(data: &[u8]) -> String {
    use md5::Digest;
    let mut h = md5::Md5::new();
    h.update(data);
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Writes `data` to `path` in 64 KiB chunks with a known size.
pub async fn put(s: &dyn Storage, path: &str, data: &[u8]) -> Entry {
    let opts = WriteOptions {
        size: Some(data.len() as u64),
        ..Default::default()
    };
    s.write(path, bytes_stream(data.to_vec(), 64 * 1024), opts)
        .await
        .unwrap_or_else(|e| panic!("write {path}: {e} ({:?})", e.kind()))
}

/// Reads a whole file.
pub async fn get(s: &dyn Storage, path: &str) -> Vec<u8> {
    let st = s
        .read(path, ByteRange::all())
        .await
        .unwrap_or_else(|e| panic!("read {path}: {e}"));
    collect_bytes(st)
        .await
        .unwrap_or_else(|e| panic!("read body {path}: {e}"))
}

async fn names(s: &dyn Storage, path: &str) -> BTreeSet<String> {
    let entries = list_all(s, path)
        .await
        .unwrap_or_else(|e| panic!("list {path}: {e}"));
    let set: BTreeSet<String> = entries.iter().map(|e| e.name.clone()).collect();
    assert_eq!(
        set.len(),
        entries.len(),
        "duplicate entries listed in {path}: {entries:?}"
    );
    for e in &entries {
        assert_eq!(
            e.path,
            crate::path::join(path, &e.name),
            "entry path should be folder + name"
        );
    }
    set
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn expect_kind<T: std::fmt::Debug>(r: crate::Result<T>, kind: ErrorKind, what: &str) {
    match r {
        Ok(v) => panic!("{what}: expected {kind:?}, got Ok({v:?})"),
        Err(e) => assert_eq!(
            e.kind(),
            kind,
            "{what}: expected {kind:?}, got {e} ({:?})",
            e.kind()
        ),
    }
}

/// Creates the case's folder; the macro calls it.
pub async fn setup(s: &dyn Storage, case: &str) -> String {
    let nonce = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
        % 1_000_000_007;
    let base = format!("kit-{case}-{nonce}");
    s.mkdir(&base)
        .await
        .unwrap_or_else(|e| panic!("mkdir {base}: {e}"));
    base
}

/// Removes the case's folder; the macro calls it.
pub async fn teardown(s: &dyn Storage, base: &str) {
    let _ = s.delete(base, DeleteMode::Permanent).await;
}

/// The cases. Each takes the storage, the case's folder and the config.
pub mod cases {
    use super::*;

    /// mkdir (idempotent, with parents), rmdir of empty, full and missing folders.
    pub async fn mkdir_rmdir(s: &dyn Storage, base: &str, _: &KitConfig) {
        let d = format!("{base}/dir");
        let e = s.mkdir(&d).await.unwrap();
        assert!(e.is_dir);
        assert_eq!(e.name, "dir");
        assert!(s.stat(&d).await.unwrap().is_dir);
        s.mkdir(&d)
            .await
            .expect("mkdir of an existing folder succeeds");
        s.mkdir(&format!("{base}/p/q/r"))
            .await
            .expect("mkdir creates parents");
        assert!(s.stat(&format!("{base}/p/q")).await.unwrap().is_dir);
        s.rmdir(&d).await.expect("rmdir of an empty folder");
        expect_kind(s.stat(&d).await, ErrorKind::NotFound, "stat after rmdir");
        expect_kind(
            s.rmdir(&format!("{base}/p")).await,
            ErrorKind::Conflict,
            "rmdir of a full folder",
        );
        assert!(
            s.stat(&format!("{base}/p/q/r")).await.is_ok(),
            "a refused rmdir removes nothing"
        );
        expect_kind(
            s.rmdir(&format!("{base}/nope")).await,
            ErrorKind::NotFound,
            "rmdir of a missing folder",
        );
        put(s, &format!("{base}/f"), b"x").await;
        expect_kind(
            s.mkdir(&format!("{base}/f")).await,
            ErrorKind::AlreadyExists,
            "mkdir over a file",
        );
    }

    /// An empty folder lists as empty.
    pub async fn list_empty(s: &dyn Storage, base: &str, _: &KitConfig) {
        assert!(names(s, base).await.is_empty());
    }

    /// Nested folders list level by level, with folders marked as such.
    pub async fn list_nested(s: &dyn Storage, base: &str, _: &KitConfig) {
        s.mkdir(&format!("{base}/a/b")).await.unwrap();
        put(s, &format!("{base}/a/b/f.txt"), b"nested").await;
        put(s, &format!("{base}/top.txt"), b"top").await;
        let top = list_all(s, base).await.unwrap();
        assert_eq!(names(s, base).await, set(&["a", "top.txt"]));
        let a = top.iter().find(|e| e.name == "a").unwrap();
        assert!(a.is_dir);
        let t = top.iter().find(|e| e.name == "top.txt").unwrap();
        assert!(!t.is_dir);
        assert_eq!(t.size, Some(3));
        assert_eq!(names(s, &format!("{base}/a")).await, set(&["b"]));
        assert_eq!(names(s, &format!("{base}/a/b")).await, set(&["f.txt"]));
    }

    /// Listing a missing folder fails with NotFound; listing a file fails.
    pub async fn list_not_found(s: &dyn Storage, base: &str, _: &KitConfig) {
        expect_kind(
            list_all(s, &format!("{base}/missing")).await,
            ErrorKind::NotFound,
            "list of a missing folder",
        );
        put(s, &format!("{base}/file"), b"f").await;
        assert!(
            list_all(s, &format!("{base}/file")).await.is_err(),
            "listing a file is an error"
        );
    }

    /// A folder with more entries than one page lists completely, each entry once.
    pub async fn list_many(s: &dyn Storage, base: &str, cfg: &KitConfig) {
        let want: BTreeSet<String> = (0..cfg.many_entries).map(|i| format!("f{i:05}")).collect();
        let results: Vec<_> = stream::iter(want.iter().cloned())
            .map(|n| async move { put(s, &format!("{base}/{n}"), n.as_bytes()).await })
            .buffer_unordered(8)
            .collect()
            .await;
        assert_eq!(results.len(), cfg.many_entries);
        let mut pages = 0;
        let mut got = BTreeSet::new();
        let mut st = s.list(base);
        while let Some(p) = st.next().await {
            pages += 1;
            for e in p.unwrap() {
                assert!(got.insert(e.name.clone()), "{} listed twice", e.name);
            }
        }
        assert_eq!(got, want);
        assert!(pages >= 1);
    }

    /// A zero-byte file.
    pub async fn put_zero(s: &dyn Storage, base: &str, _: &KitConfig) {
        let p = format!("{base}/empty");
        let e = put(s, &p, b"").await;
        assert_eq!(e.size, Some(0));
        assert_eq!(s.stat(&p).await.unwrap().size, Some(0));
        assert!(get(s, &p).await.is_empty());
    }

    /// A small file, with the reported md5 checked where the backend has one; a backend that says its
    /// writes answer with a hash ([`crate::Capabilities::hashes`]) does.
    pub async fn put_small(s: &dyn Storage, base: &str, _: &KitConfig) {
        let p = format!("{base}/small.txt");
        let e = put(s, &p, b"hello, world").await;
        assert_eq!(e.size, Some(12));
        if s.capabilities().hashes {
            assert!(
                e.hashes.md5.is_some() || e.hashes.sha256.is_some(),
                "the write answered no hash: {e:?}"
            );
        }
        assert!(!e.is_dir);
        assert_eq!(e.name, "small.txt");
        assert_eq!(get(s, &p).await, b"hello, world");
        let st = s.stat(&p).await.unwrap();
        if let Some(m) = &st.hashes.md5 {
            assert_eq!(m, &md5_hex(b"hello, world"));
        }
    }

    /// A file of several MiB.
    pub async fn put_large(s: &dyn Storage, base: &str, cfg: &KitConfig) {
        let p = format!("{base}/large.bin");
        let data = pattern(cfg.large_size, 7);
        let e = put(s, &p, &data).await;
        assert_eq!(e.size, Some(data.len() as u64));
        if s.capabilities().hashes {
            assert_eq!(e.hashes.md5.as_deref(), Some(md5_hex(&data).as_str()));
        }
        let back = get(s, &p).await;
        assert_eq!(back.len(), data.len());
        assert!(back == data, "large file content differs");
        if let Some(m) = &s.stat(&p).await.unwrap().hashes.md5 {
            assert_eq!(m, &md5_hex(&data));
        }
    }

    /// A write whose size is not known in advance.
    pub async fn put_unknown_size(s: &dyn Storage, base: &str, _: &KitConfig) {
        let p = format!("{base}/unknown.bin");
        let data = pattern(1024 * 1024 + 7, 11);
        let r = s
            .write(
                &p,
                bytes_stream(data.clone(), 100_000),
                WriteOptions::default(),
            )
            .await;
        if !s.capabilities().unknown_size_write {
            expect_kind(r, ErrorKind::Unsupported, "unknown-size write");
            return;
        }
        assert_eq!(r.unwrap().size, Some(data.len() as u64));
        assert!(get(s, &p).await == data);
    }

    /// Whole, ranged, tail and past-the-end reads.
    pub async fn read_range(s: &dyn Storage, base: &str, _: &KitConfig) {
        let p = format!("{base}/r.bin");
        let data = pattern(1000, 3);
        put(s, &p, &data).await;
        let p = p.as_str();
        let rd = |o, l| async move {
            collect_bytes(s.read(p, ByteRange::new(o, l)).await.unwrap())
                .await
                .unwrap()
        };
        assert_eq!(rd(0, None).await, data);
        assert_eq!(rd(100, Some(50)).await, &data[100..150]);
        assert_eq!(rd(990, None).await, &data[990..]);
        assert_eq!(rd(995, Some(100)).await, &data[995..]);
        assert!(rd(1000, None).await.is_empty(), "read at the end is empty");
        assert!(
            rd(5000, Some(10)).await.is_empty(),
            "read past the end is empty"
        );
        let missing = s
            .read(&format!("{base}/nope"), ByteRange::all())
            .await
            .map(|_| ());
        expect_kind(missing, ErrorKind::NotFound, "read missing");
    }

    /// stat of files, folders, the root and missing paths.
    pub async fn stat(s: &dyn Storage, base: &str, _: &KitConfig) {
        let p = format!("{base}/s.txt");
        put(s, &p, b"12345").await;
        let e = s.stat(&p).await.unwrap();
        assert_eq!(e.name, "s.txt");
        assert_eq!(e.path, p);
        assert_eq!(e.size, Some(5));
        assert!(!e.is_dir);
        assert!(e.modified.is_some(), "files report a modification time");
        assert!(s.stat(base).await.unwrap().is_dir);
        assert!(s.stat("").await.unwrap().is_dir, "the root is a folder");
        expect_kind(
            s.stat(&format!("{base}/missing")).await,
            ErrorKind::NotFound,
            "stat missing",
        );
        expect_kind(
            s.stat(&format!("{base}/missing/deeper")).await,
            ErrorKind::NotFound,
            "stat under missing",
        );
    }

    /// Writing over a file replaces it and leaves one entry.
    pub async fn overwrite(s: &dyn Storage, base: &str, _: &KitConfig) {
        let p = format!("{base}/o.txt");
        put(s, &p, b"first version").await;
        put(s, &p, b"second").await;
        assert_eq!(get(s, &p).await, b"second");
        assert_eq!(s.stat(&p).await.unwrap().size, Some(6));
        assert_eq!(names(s, base).await, set(&["o.txt"]));
        expect_kind(
            s.write(
                &format!("{base}/no/such/dir/x"),
                bytes_stream(b"x".to_vec(), 1),
                WriteOptions::default(),
            )
            .await,
            ErrorKind::NotFound,
            "write into a missing folder",
        );
    }

    /// Server-side copy of a file.
    pub async fn copy(s: &dyn Storage, base: &str, _: &KitConfig) {
        let a = format!("{base}/a.txt");
        let b = format!("{base}/sub/b.txt");
        put(s, &a, b"copy me").await;
        s.mkdir(&format!("{base}/sub")).await.unwrap();
        let r = s.copy(&a, &b).await;
        if !s.capabilities().copy {
            expect_kind(r, ErrorKind::Unsupported, "copy");
            return;
        }
        let e = r.unwrap();
        assert_eq!(e.name, "b.txt");
        assert_eq!(get(s, &b).await, b"copy me");
        assert_eq!(get(s, &a).await, b"copy me");
        expect_kind(
            s.copy(&format!("{base}/nope"), &b).await,
            ErrorKind::NotFound,
            "copy of a missing file",
        );
    }

    /// Move and rename of a file.
    pub async fn move_file(s: &dyn Storage, base: &str, _: &KitConfig) {
        let a = format!("{base}/a.txt");
        put(s, &a, b"move me").await;
        s.mkdir(&format!("{base}/dst")).await.unwrap();
        let b = format!("{base}/dst/renamed.txt");
        let e = s.rename(&a, &b).await.unwrap();
        assert_eq!(e.name, "renamed.txt");
        expect_kind(s.stat(&a).await, ErrorKind::NotFound, "source after move");
        assert_eq!(get(s, &b).await, b"move me");
        let c = format!("{base}/dst/same-dir-rename.txt");
        s.rename(&b, &c).await.unwrap();
        assert_eq!(
            names(s, &format!("{base}/dst")).await,
            set(&["same-dir-rename.txt"])
        );
        put(s, &a, b"other").await;
        expect_kind(
            s.rename(&a, &c).await,
            ErrorKind::AlreadyExists,
            "move onto an existing file",
        );
        expect_kind(
            s.rename(&format!("{base}/nope"), &b).await,
            ErrorKind::NotFound,
            "move of a missing file",
        );
    }

    /// Moving a folder moves everything in it.
    pub async fn move_dir(s: &dyn Storage, base: &str, _: &KitConfig) {
        s.mkdir(&format!("{base}/d1/inner")).await.unwrap();
        put(s, &format!("{base}/d1/x"), b"x").await;
        put(s, &format!("{base}/d1/inner/y"), b"yy").await;
        s.mkdir(&format!("{base}/target")).await.unwrap();
        let e = s
            .rename(&format!("{base}/d1"), &format!("{base}/target/d2"))
            .await
            .unwrap();
        assert!(e.is_dir);
        expect_kind(
            s.stat(&format!("{base}/d1")).await,
            ErrorKind::NotFound,
            "old folder after move",
        );
        assert_eq!(get(s, &format!("{base}/target/d2/inner/y")).await, b"yy");
        assert_eq!(
            names(s, &format!("{base}/target/d2")).await,
            set(&["inner", "x"])
        );
    }

    /// Delete of files and whole folders, permanently and to the trash.
    pub async fn remove(s: &dyn Storage, base: &str, _: &KitConfig) {
        let f = format!("{base}/f");
        put(s, &f, b"bye").await;
        s.delete(&f, DeleteMode::Permanent).await.unwrap();
        expect_kind(s.stat(&f).await, ErrorKind::NotFound, "stat after delete");
        s.mkdir(&format!("{base}/tree/a")).await.unwrap();
        put(s, &format!("{base}/tree/a/g"), b"g").await;
        s.delete(&format!("{base}/tree"), DeleteMode::Permanent)
            .await
            .unwrap();
        expect_kind(
            s.stat(&format!("{base}/tree/a/g")).await,
            ErrorKind::NotFound,
            "child of deleted folder",
        );
        expect_kind(
            s.delete(&format!("{base}/nope"), DeleteMode::Permanent)
                .await,
            ErrorKind::NotFound,
            "delete missing",
        );
        let t = format!("{base}/t");
        put(s, &t, b"trash me").await;
        let r = s.delete(&t, DeleteMode::Trash).await;
        if s.capabilities().trash {
            r.unwrap();
            expect_kind(s.stat(&t).await, ErrorKind::NotFound, "stat after trash");
            assert!(names(s, base).await.is_empty());
        } else {
            expect_kind(r, ErrorKind::Unsupported, "trash");
        }
    }

    /// Names with spaces, quotes, unicode and characters that need escaping in URLs and queries.
    pub async fn awkward_names(s: &dyn Storage, base: &str, _: &KitConfig) {
        let list = [
            "with space.txt",
            "it's \"quoted\".txt",
            "日本語 ñ é.txt",
            "a+b&c=d%20#?.txt",
            "back\\slash",
            " leading and trailing ",
            "emoji 😀",
            "semi;colon,comma",
        ];
        for n in list {
            put(s, &format!("{base}/{n}"), n.as_bytes()).await;
        }
        s.mkdir(&format!("{base}/dir 'q' ü")).await.unwrap();
        put(s, &format!("{base}/dir 'q' ü/in'side"), b"in").await;
        let mut want = set(&list);
        want.insert("dir 'q' ü".into());
        assert_eq!(names(s, base).await, want);
        for n in list {
            let p = format!("{base}/{n}");
            assert_eq!(s.stat(&p).await.unwrap().name, n);
            assert_eq!(get(s, &p).await, n.as_bytes(), "content of {n:?}");
        }
        assert_eq!(get(s, &format!("{base}/dir 'q' ü/in'side")).await, b"in");
    }

    /// Names no path can hold (`..`, `.`, `a/b`, `../x`, `x\0y`), written in their safe form
    /// ([`crate::name::encode`]): held and listed in that form where the service takes any name, refused
    /// with InvalidInput elsewhere; names that merely look like the safe forms (`．．`, `a／b`) and a name of
    /// 300 bytes are held everywhere or refused as too long. Every name a listing returns is a valid one.
    pub async fn hostile_names(s: &dyn Storage, base: &str, cfg: &KitConfig) {
        use crate::name::{encode, is_valid};
        let hostile = ["..", ".", "a/b", "../x", "x\0y"];
        let lookalike = ["．．", "a／b", "‛quoted"];
        let long = format!("{}.txt", "n".repeat(296));
        let mut want = BTreeSet::new();
        for (i, raw) in hostile.iter().chain(&lookalike).enumerate() {
            let safe = encode(raw).unwrap().into_owned();
            assert!(is_valid(&safe), "{raw:?} encodes to {safe:?}");
            let p = format!("{base}/{safe}");
            let data = format!("content {i}").into_bytes();
            let opts = WriteOptions {
                size: Some(data.len() as u64),
                ..Default::default()
            };
            let r = s.write(&p, bytes_stream(data.clone(), 4), opts).await;
            if hostile.contains(raw) && !cfg.any_name {
                expect_kind(
                    r,
                    ErrorKind::InvalidInput,
                    &format!("write of {raw:?} as {safe:?}"),
                );
                continue;
            }
            let e = r.unwrap_or_else(|e| panic!("write of {raw:?} as {safe:?}: {e}"));
            assert_eq!(
                e.name, safe,
                "the entry of {raw:?} is named by its safe form"
            );
            assert_eq!(s.stat(&p).await.unwrap().name, safe);
            assert_eq!(get(s, &p).await, data, "content of {raw:?}");
            want.insert(safe);
        }
        let p = format!("{base}/{long}");
        match s
            .write(
                &p,
                bytes_stream(b"long".to_vec(), 4),
                WriteOptions::default(),
            )
            .await
        {
            Ok(e) => {
                assert_eq!(e.name, long, "a long name is kept whole");
                want.insert(long.clone());
            }
            Err(e) => assert_eq!(e.kind(), ErrorKind::InvalidInput, "a 300-byte name: {e}"),
        }
        let listed = names(s, base).await;
        for n in &listed {
            assert!(is_valid(n), "listed name {n:?}");
        }
        assert_eq!(listed, want);
    }

    /// Modification times given on write are kept (where the backend can set them).
    pub async fn modified_time(s: &dyn Storage, base: &str, _: &KitConfig) {
        if !s.capabilities().set_modified {
            return;
        }
        let when = chrono::DateTime::parse_from_rfc3339("2021-03-04T05:06:07Z")
            .unwrap()
            .to_utc();
        let p = format!("{base}/m.txt");
        let opts = WriteOptions {
            size: Some(1),
            modified: Some(when),
            ..Default::default()
        };
        s.write(&p, bytes_stream(b"m".to_vec(), 1), opts)
            .await
            .unwrap();
        let got = s.stat(&p).await.unwrap().modified.expect("modified time");
        assert!(
            (got - when).num_seconds().abs() <= 1,
            "modified time kept: got {got}, want {when}"
        );
    }

    /// About answers, with consistent numbers.
    pub async fn about(s: &dyn Storage, _: &str, _: &KitConfig) {
        let a = s.about().await.unwrap();
        if let (Some(t), Some(u)) = (a.total, a.used) {
            assert!(u <= t, "used {u} > total {t}");
        }
    }

    /// Public link, where supported.
    pub async fn public_link(s: &dyn Storage, base: &str, _: &KitConfig) {
        let p = format!("{base}/shared.txt");
        put(s, &p, b"public").await;
        let r = s.public_link(&p).await;
        if s.capabilities().public_link {
            let url = r.unwrap();
            assert!(url.starts_with("http"), "link {url}");
        } else {
            expect_kind(r, ErrorKind::Unsupported, "public link");
        }
    }
}

/// Expands to one `#[tokio::test]` per conformance case. `$make` is an async fn returning
/// `(Arc<dyn Storage>, KitConfig)` (or anything that derefs to a `Storage`).
#[macro_export]
macro_rules! conformance_tests {
    ($make:ident) => {
        $crate::conformance_tests!(@cases $make;
            mkdir_rmdir, list_empty, list_nested, list_not_found, list_many, put_zero, put_small, put_large,
            put_unknown_size, read_range, stat, overwrite, copy, move_file, move_dir, remove, awkward_names,
            hostile_names, modified_time, about, public_link);
    };
    (@cases $make:ident; $($case:ident),* $(,)?) => {
        mod conformance {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let (storage, cfg) = super::$make().await;
                    let s: &dyn $crate::Storage = &*storage;
                    let base = $crate::conformance::setup(s, stringify!($case)).await;
                    $crate::conformance::cases::$case(s, &base, &cfg).await;
                    $crate::conformance::teardown(s, &base).await;
                }
            )*
        }
    };
}
