//! Blob storage: file contents live in files under a directory (a temp dir by default), never in memory.
//!
//! Bytes are hashed with MD5 as they stream in (every upload's answer carries it), so a multi-GiB upload
//! costs a few buffers of RAM; SHA-1 and SHA-256 too for the first [`SYNC_HASH_LIMIT`] bytes, so that a
//! small file has them at once. A larger one gets them later and only when asked ([`extra_hashes`]), once
//! per blob, in a blocking thread (until they are ready the answers leave them out, as Drive's "if
//! available" allows).

use std::path::{Path, PathBuf};

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use md5::Digest;
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

/// Checksums of a stored blob, lower-case hex (SHA-1 and SHA-256 empty until [`extra_hashes`] made them).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BlobHashes {
    /// MD5.
    pub md5: String,
    /// SHA-1.
    #[serde(default)]
    pub sha1: String,
    /// SHA-256.
    #[serde(default)]
    pub sha256: String,
}

/// The running MD5 of a byte stream, and its SHA-1 and SHA-256 while it is no longer than
/// [`SYNC_HASH_LIMIT`] (a small file then has them from the start, as on the real services, without being
/// read again; a large one gets them later, on demand).
#[derive(Clone)]
pub struct Hasher {
    md5: md5::Md5,
    extra: Option<Box<(sha1::Sha1, sha2::Sha256)>>,
    /// Bytes hashed so far.
    pub len: u64,
}

impl Default for Hasher {
    fn default() -> Self {
        Hasher {
            md5: md5::Md5::new(),
            extra: Some(Box::new((sha1::Sha1::new(), sha2::Sha256::new()))),
            len: 0,
        }
    }
}

enum Extra {
    Computing,
    Done(String, String),
}

fn extras() -> &'static std::sync::Mutex<std::collections::HashMap<PathBuf, Extra>> {
    static M: std::sync::OnceLock<std::sync::Mutex<std::collections::HashMap<PathBuf, Extra>>> =
        std::sync::OnceLock::new();
    M.get_or_init(Default::default)
}

/// Blobs up to this size get their SHA-1 and SHA-256 computed in the asking request (a few tens of
/// milliseconds); larger ones in a blocking thread, the answers leaving them out until they are ready.
pub const SYNC_HASH_LIMIT: u64 = 16 << 20;

/// SHA-1 and SHA-256 of the blob file at `path`: computed on the spot for a blob of at most
/// [`SYNC_HASH_LIMIT`] bytes; for a larger one the first ask starts computing them in a blocking thread and
/// answers given meanwhile leave them out.
pub fn extra_hashes(path: &Path) -> Option<(String, String)> {
    {
        let m = extras().lock().unwrap_or_else(|p| p.into_inner());
        match m.get(path) {
            Some(Extra::Done(a, b)) => return Some((a.clone(), b.clone())),
            Some(Extra::Computing) => return None,
            None => {}
        }
    }
    let small = std::fs::metadata(path).is_ok_and(|m| m.len() <= SYNC_HASH_LIMIT);
    let rt = tokio::runtime::Handle::try_current().ok();
    if small || rt.is_none() {
        let done = sha1_sha256(path)?;
        let mut m = extras().lock().unwrap_or_else(|p| p.into_inner());
        m.insert(
            path.to_path_buf(),
            Extra::Done(done.0.clone(), done.1.clone()),
        );
        return Some(done);
    }
    let mut m = extras().lock().unwrap_or_else(|p| p.into_inner());
    if m.contains_key(path) {
        return None;
    }
    m.insert(path.to_path_buf(), Extra::Computing);
    let p = path.to_path_buf();
    rt?.spawn_blocking(move || {
        let done = sha1_sha256(&p);
        let mut m = extras().lock().unwrap_or_else(|p| p.into_inner());
        match done {
            Some((a, b)) => m.insert(p, Extra::Done(a, b)),
            None => m.remove(&p),
        };
    });
    None
}

/// Forgets the hashes of a removed blob.
pub fn forget_extra_hashes(path: &Path) {
    extras()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .remove(path);
}

/// SHA-1 and SHA-256 of the file at `path`, read in 1 MiB pieces.
fn sha1_sha256(path: &Path) -> Option<(String, String)> {
    use std::io::Read;
    let mut f = std::fs::File::open(path).ok()?;
    let (mut s1, mut s2) = (sha1::Sha1::new(), sha2::Sha256::new());
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).ok()?;
        if n == 0 {
            break;
        }
        s1.update(&buf[..n]);
        s2.update(&buf[..n]);
    }
    Some((hex::encode(s1.finalize()), hex::encode(s2.finalize())))
}

impl std::fmt::Debug for Hasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hasher").field("len", &self.len).finish()
    }
}

impl Hasher {
    /// Feeds bytes.
    pub fn update(&mut self, b: &[u8]) {
        self.md5.update(b);
        self.len += b.len() as u64;
        if self.len > SYNC_HASH_LIMIT {
            self.extra = None;
        } else if let Some(x) = self.extra.as_mut() {
            x.0.update(b);
            x.1.update(b);
        }
    }

    /// The hashes of everything fed: SHA-1 and SHA-256 empty past [`SYNC_HASH_LIMIT`] bytes (made later,
    /// on demand: see [`extra_hashes`]).
    pub fn finish(self) -> BlobHashes {
        let (sha1, sha256) = match self.extra {
            Some(x) => (hex::encode(x.0.finalize()), hex::encode(x.1.finalize())),
            None => Default::default(),
        };
        BlobHashes {
            md5: hex::encode(self.md5.finalize()),
            sha1,
            sha256,
        }
    }
}

/// The directory holding blobs.
#[derive(Debug)]
pub struct BlobStore {
    dir: PathBuf,
    _temp: Option<tempfile::TempDir>,
}

/// Why storing a stream failed.
#[derive(Debug)]
pub enum StoreError {
    /// The client's body broke (connection reset, limit exceeded).
    Body(String),
    /// The local disk failed.
    Io(std::io::Error),
    /// More bytes than allowed.
    TooLarge,
}

/// Removes the temporary blob folders of emulators that died without cleaning up (killed with SIGKILL,
/// say): their names carry the PID of the process that made them.
fn remove_orphans(tmp: &Path) {
    let Ok(rd) = std::fs::read_dir(tmp) else {
        return;
    };
    for e in rd.flatten() {
        let name = e.file_name();
        let Some(rest) = name
            .to_str()
            .and_then(|n| n.strip_prefix("cloudmux-emulator-"))
        else {
            continue;
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

impl BlobStore {
    /// Blobs under `dir` (created), or in a fresh temp dir when `None`.
    pub fn new(dir: Option<&Path>) -> std::io::Result<Self> {
        match dir {
            Some(d) => {
                std::fs::create_dir_all(d)?;
                Ok(BlobStore {
                    dir: d.to_path_buf(),
                    _temp: None,
                })
            }
            None => {
                remove_orphans(&std::env::temp_dir());
                let t = tempfile::Builder::new()
                    .prefix(&format!("cloudmux-emulator-{}-", std::process::id()))
                    .tempdir()?;
                Ok(BlobStore {
                    dir: t.path().to_path_buf(),
                    _temp: Some(t),
                })
            }
        }
    }

    /// The path of blob `key`.
    pub fn path(&self, key: &str) -> PathBuf {
        self.dir.join(key)
    }

    /// A fresh blob key.
    pub fn new_key(&self) -> String {
        format!(
            "b{:016x}{:016x}",
            rand::random::<u64>(),
            rand::random::<u64>()
        )
    }

    /// Streams `body` into a new blob, at most `limit` bytes; returns key, size and hashes.
    pub async fn store<S, E>(
        &self,
        body: S,
        limit: u64,
    ) -> Result<(String, u64, BlobHashes), StoreError>
    where
        S: Stream<Item = Result<Bytes, E>>,
        E: std::fmt::Display,
    {
        let key = self.new_key();
        let path = self.path(&key);
        let r = async {
            let f = tokio::fs::File::create(&path)
                .await
                .map_err(StoreError::Io)?;
            let mut f = tokio::io::BufWriter::with_capacity(1 << 20, f);
            let mut h = Hasher::default();
            let mut body = std::pin::pin!(body);
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(|e| StoreError::Body(e.to_string()))?;
                if h.len + chunk.len() as u64 > limit {
                    return Err(StoreError::TooLarge);
                }
                h.update(&chunk);
                f.write_all(&chunk).await.map_err(StoreError::Io)?;
            }
            f.flush().await.map_err(StoreError::Io)?;
            let len = h.len;
            Ok((len, h.finish()))
        }
        .await;
        match r {
            Ok((len, hashes)) => Ok((key, len, hashes)),
            Err(e) => {
                let _ = tokio::fs::remove_file(&path).await;
                Err(e)
            }
        }
    }

    /// Stores bytes held in memory (small seeds).
    pub async fn store_bytes(&self, data: Bytes) -> std::io::Result<(String, u64, BlobHashes)> {
        self.store(
            futures_util::stream::once(async move { Ok::<_, std::io::Error>(data) }),
            u64::MAX,
        )
        .await
        .map_err(|e| match e {
            StoreError::Io(e) => e,
            other => std::io::Error::other(format!("{other:?}")),
        })
    }

    /// Streams `len` bytes of blob `key` from `offset`, in 256 KiB chunks.
    pub async fn read_range(
        &self,
        key: &str,
        offset: u64,
        len: u64,
    ) -> std::io::Result<impl Stream<Item = std::io::Result<Bytes>> + Send + 'static> {
        let mut f = tokio::fs::File::open(self.path(key)).await?;
        f.seek(std::io::SeekFrom::Start(offset)).await?;
        Ok(tokio_util::io::ReaderStream::with_capacity(
            f.take(len),
            256 * 1024,
        ))
    }

    /// Copies a blob to a new key.
    pub async fn duplicate(&self, key: &str) -> std::io::Result<String> {
        let new = self.new_key();
        tokio::fs::copy(self.path(key), self.path(&new)).await?;
        Ok(new)
    }

    /// Deletes a blob (missing is fine).
    pub async fn remove(&self, key: &str) {
        let path = self.path(key);
        forget_extra_hashes(&path);
        let _ = tokio::fs::remove_file(path).await;
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}
