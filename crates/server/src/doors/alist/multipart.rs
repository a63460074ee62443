//! OpenList's chunked upload (`/api/fs/multipart/{init,chunk,complete,status,abort}`), which its
//! frontend uses for large files: the file comes as numbered chunks, up to three at a time and out of
//! order, and the server writes it to the remote as one stream.
//!
//! Memory is bounded: a chunk is at most [`CHUNK_MAX`] bytes and is read whole before it is taken
//! (a chunk cut off half-way is simply sent again); chunks ahead of the next one the stream needs are
//! kept only within a window of [`WINDOW`] chunks (a chunk past it is answered 429, which the client
//! retries later); at most [`MAX_SESSIONS`] uploads run at once ([`MAX_PER_USER`] per user), and one
//! idle for [`IDLE`] is abandoned. So a session holds at most `WINDOW + 2` chunks in memory. Nothing is
//! spooled to disk, and the remote sees one upload whose end is checked against the announced size:
//! an abandoned or short upload fails there and leaves no file. A size past the drive's free space
//! (where the drive says it) is refused at the start.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use bytes::Bytes;
use futures_util::StreamExt;
use tokio::sync::mpsc;

use super::*;

/// The largest chunk the server asks for.
pub const CHUNK_MAX: u64 = 4 * 1024 * 1024;
/// The smallest chunk the server takes (OpenList's floor).
pub const CHUNK_MIN: u64 = 1024 * 1024;
/// Chunks taken ahead of the one the stream needs next.
pub const WINDOW: u64 = 3;
/// Uploads in flight at once, and per user.
pub const MAX_SESSIONS: usize = 8;
/// Uploads in flight per user.
pub const MAX_PER_USER: usize = 2;
/// An upload with no chunk for this long is abandoned.
pub const IDLE: Duration = Duration::from_secs(600);

type Written = std::result::Result<(), String>;

/// The uploads in flight.
#[derive(Default)]
pub struct Uploads {
    all: Mutex<HashMap<String, Arc<Session>>>,
}

impl std::fmt::Debug for Uploads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.all.lock().map(|a| a.len()).unwrap_or(0);
        f.debug_struct("Uploads").field("sessions", &n).finish()
    }
}

struct Session {
    id: String,
    user: String,
    full: String,
    size: u64,
    chunk: u64,
    total: u64,
    state: Mutex<Progress>,
    /// The stream's end: whoever holds it feeds the chunks in order (`None` once complete).
    feed: tokio::sync::Mutex<Option<mpsc::Sender<cloudmux_core::Result<Bytes>>>>,
    /// The write to the remote (taken by `complete`).
    write: tokio::sync::Mutex<Option<tokio::task::JoinHandle<Written>>>,
}

#[derive(Default)]
struct Progress {
    next: u64,
    ahead: BTreeMap<u64, Bytes>,
    last: Option<Instant>,
    failed: Option<String>,
    done: bool,
}

impl Session {
    fn len_of(&self, idx: u64) -> u64 {
        if idx + 1 == self.total {
            self.size - idx * self.chunk
        } else {
            self.chunk
        }
    }

    fn snapshot(&self) -> Value {
        let p = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let mut received: Vec<[u64; 2]> = Vec::new();
        if p.next > 0 {
            received.push([0, p.next - 1]);
        }
        for i in p.ahead.keys() {
            received.push([*i, *i]);
        }
        // Every chunk before the next is whole (only the last may be short, and it is the last).
        let bytes = p.next.saturating_mul(self.chunk).min(self.size)
            + p.ahead.values().map(|b| b.len() as u64).sum::<u64>();
        let state = if let Some(e) = &p.failed {
            json!({"state": "failed", "error": e})
        } else if p.done {
            json!({"state": "completed"})
        } else if p.next == self.total {
            json!({"state": "uploading"})
        } else {
            json!({"state": "receiving"})
        };
        let mut v = json!({
            "upload_id": self.id,
            "chunk_size": self.chunk,
            "total_chunks": self.total,
            "size": self.size,
            "received": received,
            "received_bytes": bytes,
            "storage_progress": (u128::from(bytes) * 100)
                .checked_div(u128::from(self.size))
                .unwrap_or(100),
        });
        v.as_object_mut()
            .unwrap()
            .extend(state.as_object().unwrap().clone());
        v
    }

    /// Feeds the chunks that are next in order into the stream (one feeder at a time).
    async fn drain(&self) {
        let mut feed = self.feed.lock().await;
        loop {
            let next = {
                let mut p = self.state.lock().unwrap_or_else(|p| p.into_inner());
                let n = p.next;
                match p.ahead.remove(&n) {
                    Some(b) => {
                        p.next += 1;
                        b
                    }
                    None => break,
                }
            };
            let sent = match feed.as_ref() {
                Some(tx) => tx.send(Ok(next)).await.is_ok(),
                None => false,
            };
            if !sent {
                // The write ended early (the remote refused it): the upload has failed.
                *feed = None;
                let mut p = self.state.lock().unwrap_or_else(|p| p.into_inner());
                p.failed
                    .get_or_insert_with(|| "the remote stopped taking the file".to_string());
                break;
            }
        }
    }

    /// Ends the upload, failing the remote's write (what an abandoned upload does).
    async fn abort(&self, why: &str) {
        if let Some(tx) = self.feed.lock().await.take() {
            let _ = tx
                .send(Err(Error::new(ErrorKind::Transient, why.to_string())))
                .await;
        }
        if let Some(w) = self.write.lock().await.take() {
            w.abort();
        }
        let mut p = self.state.lock().unwrap_or_else(|p| p.into_inner());
        p.failed.get_or_insert_with(|| why.to_string());
    }
}

impl Uploads {
    fn get(&self, user: &str, id: &str) -> std::result::Result<Arc<Session>, Fail> {
        self.all
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
            .filter(|s| s.user == user)
            .cloned()
            .ok_or_else(|| fail(404, "no such upload: start it again"))
    }

    fn remove(&self, id: &str) {
        self.all
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id);
    }

    /// Abandons the uploads idle for [`IDLE`].
    async fn sweep(&self) {
        let idle: Vec<Arc<Session>> = {
            let mut all = self.all.lock().unwrap_or_else(|p| p.into_inner());
            let gone: Vec<String> = all
                .values()
                .filter(|s| {
                    let p = s.state.lock().unwrap_or_else(|p| p.into_inner());
                    p.last.is_some_and(|t| t.elapsed() > IDLE)
                })
                .map(|s| s.id.clone())
                .collect();
            gone.iter().filter_map(|id| all.remove(id)).collect()
        };
        for s in idle {
            s.abort("the upload was idle too long").await;
        }
    }
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

fn number(headers: &HeaderMap, name: &str) -> std::result::Result<Option<u64>, Fail> {
    header_str(headers, name)
        .filter(|v| !v.is_empty())
        .map(|v| {
            v.parse::<u64>()
                .map_err(|_| fail(400, &format!("{name} must be a number, not {v:?}")))
        })
        .transpose()
}

/// `POST /api/fs/multipart/init`: starts (or picks up again) an upload of `File-Path` of
/// `X-File-Size` bytes; the answer says the chunk size the server takes and what it has.
pub(super) async fn init(
    State(st): State<Arc<AppState>>,
    Caller(a): Caller,
    headers: HeaderMap,
) -> Answer {
    let full = at(a.write_path(&super::fs::file_path(&headers)?))?;
    let size = number(&headers, "x-file-size")?
        .filter(|s| *s > 0)
        .ok_or_else(|| {
            fail(
                400,
                "multipart upload requires a positive X-File-Size; upload empty files via /fs/put",
            )
        })?;
    let chunk = number(&headers, "x-chunk-size")?
        .unwrap_or(CHUNK_MAX)
        .clamp(CHUNK_MIN, CHUNK_MAX);
    let overwrite = header_str(&headers, "overwrite") != Some("false");
    let uploads = &st.alist_uploads;
    uploads.sweep().await;
    // The same file of the same size by the same user: its upload goes on.
    let same = uploads
        .all
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .values()
        .find(|s| s.user == a.0.name && s.full == full && s.size == size)
        .cloned();
    if let Some(s) = same {
        let mut v = s.snapshot();
        v["resumed"] = json!(true);
        return Ok(ok(v));
    }
    // The bounds first (again when the session is added): a refused caller costs the remote nothing.
    room_for_one(
        &uploads.all.lock().unwrap_or_else(|p| p.into_inner()),
        &a.0.name,
    )?;
    let existing = st.tree.stat(&full).await.ok();
    if !overwrite && existing.is_some() {
        return Err(fail(403, "file exists"));
    }
    // A file larger than the drive's free space (where it says) fails now, not after what fits was
    // sent — and an upload session cannot be held open for a size that can never arrive.
    if let Some(free) = free_space(&st, &full).await {
        let room = free.saturating_add(existing.and_then(|e| e.size).unwrap_or(0));
        if size > room {
            return Err(fail(
                413,
                &format!(
                    "the file ({size} bytes) is larger than the {room} bytes free on that drive: \
                     free some space there or upload it to another mount"
                ),
            ));
        }
    }
    let (mime, modified) = (
        header_str(&headers, "content-type")
            .filter(|m| !m.is_empty())
            .map(str::to_string),
        super::fs::last_modified(&headers),
    );
    let (tx, rx) = mpsc::channel::<cloudmux_core::Result<Bytes>>(1);
    let session = Arc::new(Session {
        id: cloudmux_auth::oauth::random_token(16),
        user: a.0.name.clone(),
        full: full.clone(),
        size,
        chunk,
        total: size.div_ceil(chunk),
        state: Mutex::new(Progress {
            last: Some(Instant::now()),
            ..Default::default()
        }),
        feed: tokio::sync::Mutex::new(Some(tx)),
        write: tokio::sync::Mutex::new(None),
    });
    {
        let mut all = uploads.all.lock().unwrap_or_else(|p| p.into_inner());
        room_for_one(&all, &a.0.name)?;
        all.insert(session.id.clone(), session.clone());
    }
    let data: cloudmux_core::ByteStream =
        Box::pin(futures_util::stream::unfold(rx, |mut rx| async {
            rx.recv().await.map(|x| (x, rx))
        }));
    let writer = {
        let st = st.clone();
        tokio::spawn(async move {
            crate::doors::common::files::write_stream(&st, &full, data, Some(size), mime, modified)
                .await
                .map(|_| ())
                .map_err(|e| e.0.to_string())
        })
    };
    *session.write.lock().await = Some(writer);
    let mut v = session.snapshot();
    v["resumed"] = json!(false);
    Ok(ok(v))
}

/// Refuses a new upload past [`MAX_SESSIONS`] in all or [`MAX_PER_USER`] for `user`.
fn room_for_one(all: &HashMap<String, Arc<Session>>, user: &str) -> std::result::Result<(), Fail> {
    if all.len() >= MAX_SESSIONS {
        return Err(fail(
            429,
            "too many uploads in flight on this server: try again soon",
        ));
    }
    if all.values().filter(|s| s.user == user).count() >= MAX_PER_USER {
        return Err(fail(
            429,
            &format!("at most {MAX_PER_USER} chunked uploads at once per user"),
        ));
    }
    Ok(())
}

/// The bytes free on the drive that holds tree path `full`, when it says within a few seconds.
async fn free_space(st: &AppState, full: &str) -> Option<u64> {
    let (m, _) = st.tree.locate(full).ok()?;
    let about = tokio::time::timeout(Duration::from_secs(5), m.storage.about())
        .await
        .ok()?
        .ok()?;
    about.free
}

/// `PUT /api/fs/multipart/chunk`: chunk `X-Chunk-Index` of upload `X-Upload-Id`. A chunk already
/// taken is answered as taken; one too far ahead gets 429 (send it again soon).
pub(super) async fn chunk(
    State(st): State<Arc<AppState>>,
    caller: std::result::Result<Caller, Fail>,
    headers: HeaderMap,
    body: Body,
) -> Answer {
    let mut stream = body.into_data_stream();
    // Every answer waits for the body (bounded): a browser still sending when the answer comes
    // takes it for a network error.
    let refused = |f: Fail, mut stream: axum::body::BodyDataStream| async move {
        let mut seen = 0u64;
        while let Some(Ok(part)) = stream.next().await {
            seen += part.len() as u64;
            if seen > CHUNK_MAX + 64 * 1024 {
                break;
            }
        }
        Err(f)
    };
    let a = match caller {
        Ok(Caller(a)) => a,
        Err(f) => return refused(f, stream).await,
    };
    st.alist_uploads.sweep().await;
    let id = header_str(&headers, "x-upload-id")
        .unwrap_or_default()
        .to_string();
    let s = match st.alist_uploads.get(&a.0.name, &id) {
        Ok(s) => s,
        Err(f) => return refused(f, stream).await,
    };
    let idx = match number(&headers, "x-chunk-index") {
        Ok(Some(i)) if i < s.total => i,
        Ok(Some(i)) => {
            let f = fail(
                400,
                &format!("chunk {i} of an upload of {} chunks", s.total),
            );
            return refused(f, stream).await;
        }
        Ok(None) => return refused(fail(400, "invalid X-Chunk-Index header"), stream).await,
        Err(f) => return refused(f, stream).await,
    };
    let want = s.len_of(idx);
    // The whole chunk, bounded by its length; a longer body is refused, a shorter one sent again.
    let mut buf = bytes::BytesMut::with_capacity(want as usize);
    while let Some(part) = stream.next().await {
        let part = part.map_err(|e| fail(400, &format!("chunk {idx} was cut off: {e}")))?;
        if buf.len() as u64 + part.len() as u64 > want {
            let f = fail(400, &format!("chunk {idx} is longer than {want} bytes"));
            return refused(f, stream).await;
        }
        buf.extend_from_slice(&part);
    }
    if buf.len() as u64 != want {
        return Err(fail(
            400,
            &format!(
                "chunk {idx} has {} of its {want} bytes: send it again",
                buf.len()
            ),
        ));
    }
    {
        let mut p = s.state.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(e) = &p.failed {
            return Err(fail(500, e));
        }
        p.last = Some(Instant::now());
        if idx < p.next || p.ahead.contains_key(&idx) {
            drop(p);
            return Ok(ok(s.snapshot()));
        }
        if idx >= p.next + WINDOW {
            return Err(fail(429, "too far ahead: send it again soon"));
        }
        p.ahead.insert(idx, buf.freeze());
    }
    s.drain().await;
    let v = s.snapshot();
    if v["state"] == "failed" {
        return Err(fail(
            500,
            v["error"].as_str().unwrap_or("the upload failed"),
        ));
    }
    Ok(ok(v))
}

#[derive(Deserialize, Default)]
pub(super) struct IdQ {
    #[serde(default)]
    upload_id: String,
}

fn id_of(headers: &HeaderMap, q: &IdQ) -> String {
    header_str(headers, "x-upload-id")
        .filter(|v| !v.is_empty())
        .map(str::to_string)
        .unwrap_or_else(|| q.upload_id.clone())
}

/// The caller's upload named by `X-Upload-Id` (or `?upload_id=`), with its id.
pub(super) struct Upload(String, Arc<Session>);

impl axum::extract::FromRequestParts<Arc<AppState>> for Upload {
    type Rejection = Fail;
    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        st: &Arc<AppState>,
    ) -> Result<Self, Fail> {
        let Caller(a) = Caller::from_request_parts(parts, st).await?;
        let AQuery(q) = AQuery::<IdQ>::from_request_parts(parts, st).await?;
        let id = id_of(&parts.headers, &q);
        let s = st.alist_uploads.get(&a.0.name, &id)?;
        Ok(Upload(id, s))
    }
}

/// `POST /api/fs/multipart/complete`: every chunk in, the stream ends and the remote's write is
/// awaited; the file is there when this answers 200.
pub(super) async fn complete(State(st): State<Arc<AppState>>, Upload(id, s): Upload) -> Answer {
    {
        let p = s.state.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(e) = &p.failed {
            return Err(fail(500, e));
        }
        if p.next < s.total {
            return Err(fail(
                400,
                &format!(
                    "{} of {} chunks are in: send the rest first",
                    p.next, s.total
                ),
            ));
        }
    }
    // The stream ends; the write finishes (or fails on its size check).
    s.feed.lock().await.take();
    let write = s.write.lock().await.take();
    let result = match write {
        Some(w) => w
            .await
            .unwrap_or_else(|e| Err(format!("the upload stopped: {e}"))),
        None => Err("the upload is being completed already".to_string()),
    };
    match result {
        Ok(()) => {
            s.state.lock().unwrap_or_else(|p| p.into_inner()).done = true;
            st.alist_uploads.remove(&id);
            Ok(ok(s.snapshot()))
        }
        Err(e) => {
            s.state.lock().unwrap_or_else(|p| p.into_inner()).failed = Some(e.clone());
            st.alist_uploads.remove(&id);
            Err(fail(500, &e))
        }
    }
}

/// `GET /api/fs/multipart/status?upload_id=…`.
pub(super) async fn status(Upload(_, s): Upload) -> Answer {
    Ok(ok(s.snapshot()))
}

/// `POST /api/fs/multipart/abort`: the upload ends and nothing is written.
pub(super) async fn abort(State(st): State<Arc<AppState>>, Upload(id, s): Upload) -> Answer {
    st.alist_uploads.remove(&id);
    s.abort("the upload was aborted").await;
    Ok(ok(Value::Null))
}
