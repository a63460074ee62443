//! Uploads: multipart for small files of known size; resumable for the rest, in chunks that are multiples of
//! 256 KiB, each chunk kept in memory until the session confirms it, so a failure mid-chunk resumes from the
//! committed offset the session reports and re-sends less than one chunk. Memory stays at one chunk whatever
//! the file size.

use bytes::{Bytes, BytesMut};
use chrono::{DateTime, Utc};
use cloudmux_core::{ByteStream, Error, ErrorKind, Result};
use cloudmux_http::Idempotency;
use futures_util::StreamExt;
use md5::Digest;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::client::{DriveClient, UPLOAD_FIELDS, enc};
use crate::model::File;

/// What to upload to.
#[derive(Debug, Clone)]
pub enum Target {
    /// A new file `name` in folder `parent`.
    New {
        /// Parent folder id.
        parent: String,
        /// Name.
        name: String,
    },
    /// New content for an existing file.
    Existing(String),
}

/// Options of an upload.
#[derive(Debug, Clone, Default)]
pub struct UploadOptions {
    /// Modification time to record.
    pub modified: Option<DateTime<Utc>>,
    /// MIME type (guessed from the name when absent).
    pub mime: Option<String>,
}

/// Where a resumable session stands.
#[derive(Debug, Clone)]
pub enum SessionStatus {
    /// This many bytes are stored; continue from there.
    Committed(u64),
    /// The upload is complete.
    Done(Box<File>),
}

/// A resumable upload session (its URI can be saved and resumed by another process).
#[derive(Debug, Clone)]
pub struct ResumableUpload {
    client: DriveClient,
    /// The session URI.
    pub uri: String,
    /// Total size, when known.
    pub total: Option<u64>,
}

fn metadata(client_id: Option<String>, target: &Target, opts: &UploadOptions) -> Value {
    let mut m = json!({});
    if let Target::New { parent, name } = target {
        m["name"] = json!(name);
        m["parents"] = json!([parent]);
        if let Some(id) = client_id {
            m["id"] = json!(id);
        }
    }
    if let Some(t) = opts.modified {
        m["modifiedTime"] = json!(t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
    }
    if let Some(mime) = &opts.mime {
        m["mimeType"] = json!(mime);
    }
    m
}

fn mime_for(target: &Target, opts: &UploadOptions) -> String {
    opts.mime.clone().unwrap_or_else(|| match target {
        Target::New { name, .. } => cloudmux_core::mime::guess(name).to_string(),
        Target::Existing(_) => "application/octet-stream".into(),
    })
}

impl DriveClient {
    /// Uploads `data` to `target`: multipart when `size` is known and small, resumable otherwise. The MD5 of
    /// what was sent is checked against the one Drive reports.
    pub async fn upload(
        &self,
        target: Target,
        data: ByteStream,
        size: Option<u64>,
        opts: &UploadOptions,
    ) -> Result<File> {
        self.upload_gate()?;
        let file = match size {
            Some(s) if s <= self.cfg.multipart_max => {
                self.upload_multipart(&target, data, s, opts).await
            }
            _ => {
                async {
                    let up = ResumableUpload::start(self, &target, size, opts).await?;
                    let mut md5 = md5::Md5::new();
                    let f = up.send(data, 0, Some(&mut md5)).await?;
                    check_md5(&f, &hex::encode(md5.finalize()))?;
                    Ok(f)
                }
                .await
            }
        };
        file.map_err(|e| self.upload_failed(e))
    }

    async fn upload_multipart(
        &self,
        target: &Target,
        mut data: ByteStream,
        size: u64,
        opts: &UploadOptions,
    ) -> Result<File> {
        let mut buf = BytesMut::with_capacity(size as usize);
        while let Some(c) = data.next().await {
            let c = c?;
            if buf.len() as u64 + c.len() as u64 > size {
                return Err(Error::new(
                    ErrorKind::Corrupt,
                    format!("the source gave more than the announced {size} bytes"),
                ));
            }
            buf.extend_from_slice(&c);
        }
        if buf.len() as u64 != size {
            return Err(Error::new(
                ErrorKind::Corrupt,
                format!(
                    "the source gave {} bytes, not the announced {size}",
                    buf.len()
                ),
            ));
        }
        let md5 = hex::encode(md5::Md5::digest(&buf));
        let id = match target {
            Target::New { .. } => Some(self.generated_id().await?),
            Target::Existing(_) => None,
        };
        let meta = metadata(id.clone(), target, opts);
        let boundary = format!("cloudmux{:016x}{:016x}", rand_u64(), rand_u64());
        let mut body = BytesMut::with_capacity(buf.len() + 512);
        body.extend_from_slice(format!("--{boundary}\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n{meta}\r\n--{boundary}\r\nContent-Type: {}\r\n\r\n", mime_for(target, opts)).as_bytes());
        body.extend_from_slice(&buf);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let body = body.freeze();
        let (url, method) = match target {
            Target::New { .. } => (format!("{}/files", self.upload_base), reqwest::Method::POST),
            Target::Existing(fid) => (
                format!("{}/files/{}", self.upload_base, enc(fid)),
                reqwest::Method::PATCH,
            ),
        };
        let f = match self.send_multipart(&url, method, body, &boundary).await {
            Err(e) if e.kind() == ErrorKind::AlreadyExists && id.is_some() => {
                self.get(id.as_deref().unwrap()).await?
            }
            r => r?,
        };
        check_md5(&f, &md5)?;
        Ok(f)
    }
}

fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos(),
    );
    h.finish()
}

pub(crate) fn check_md5(f: &File, sent: &str) -> Result<()> {
    match &f.md5_checksum {
        Some(m) if m != sent => Err(Error::new(
            ErrorKind::Corrupt,
            format!("{}: Drive stored md5 {m} but cloudmux sent {sent}", f.name),
        )
        .with_hint("the upload was damaged in transit; run the command again")),
        _ => Ok(()),
    }
}

impl ResumableUpload {
    /// Starts a session for `target` (a new file gets a generated id, so the session cannot create a
    /// duplicate).
    pub async fn start(
        client: &DriveClient,
        target: &Target,
        total: Option<u64>,
        opts: &UploadOptions,
    ) -> Result<Self> {
        let id = match target {
            Target::New { .. } => Some(client.generated_id().await?),
            Target::Existing(_) => None,
        };
        let meta = metadata(id, target, opts);
        let (url, method) = match target {
            Target::New { .. } => (
                format!("{}/files", client.upload_base),
                reqwest::Method::POST,
            ),
            Target::Existing(fid) => (
                format!("{}/files/{}", client.upload_base, enc(fid)),
                reqwest::Method::PATCH,
            ),
        };
        let mime = mime_for(target, opts);
        let resp = client
            .api
            .send(
                |c| {
                    let mut rb = c
                        .request(method.clone(), &url)
                        .query(&[
                            ("uploadType", "resumable"),
                            ("fields", UPLOAD_FIELDS),
                            ("supportsAllDrives", "true"),
                        ])
                        .header("X-Upload-Content-Type", &mime)
                        .json(&meta);
                    if let Some(t) = total {
                        rb = rb.header("X-Upload-Content-Length", t);
                    }
                    rb
                },
                Idempotency::Safe,
            )
            .await?;
        let uri = resp
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::Other,
                    "Drive started a resumable upload without a session URI",
                )
            })?
            .to_string();
        Ok(ResumableUpload {
            client: client.clone(),
            uri,
            total,
        })
    }

    /// A handle on an existing session (saved by an earlier run).
    pub fn resume(client: &DriveClient, uri: String, total: Option<u64>) -> Self {
        ResumableUpload {
            client: client.clone(),
            uri,
            total,
        }
    }

    /// Asks the session how much it has (`Content-Range: bytes */N`).
    pub async fn status(&self) -> Result<SessionStatus> {
        let range = format!(
            "bytes */{}",
            self.total
                .map(|t| t.to_string())
                .unwrap_or_else(|| "*".into())
        );
        let resp = self
            .client
            .api
            .send_accepting(
                |c| {
                    c.put(&self.uri)
                        .header(reqwest::header::CONTENT_RANGE, &range)
                        .header(reqwest::header::CONTENT_LENGTH, 0)
                },
                Idempotency::Safe,
                |s| s.is_success() || s == StatusCode::PERMANENT_REDIRECT,
            )
            .await
            .map_err(|e| {
                if e.kind() == ErrorKind::NotFound {
                    e.with_hint("the upload session expired; the upload starts over")
                } else {
                    e
                }
            })?;
        self.interpret(resp).await
    }

    async fn interpret(&self, resp: reqwest::Response) -> Result<SessionStatus> {
        if resp.status() == StatusCode::PERMANENT_REDIRECT {
            let committed = resp
                .headers()
                .get(reqwest::header::RANGE)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.rsplit('-').next()?.parse::<u64>().ok())
                .map(|last| last + 1)
                .unwrap_or(0);
            return Ok(SessionStatus::Committed(committed));
        }
        Ok(SessionStatus::Done(Box::new(
            self.client.api.json::<File>(resp).await?,
        )))
    }

    /// Sends `data` (which starts at byte `offset` of the file) chunk by chunk until the upload completes,
    /// feeding `md5` with every byte sent. Failures are resumed from the committed offset.
    pub async fn send(
        &self,
        data: ByteStream,
        offset: u64,
        mut md5: Option<&mut md5::Md5>,
    ) -> Result<File> {
        let chunk = self.client.cfg.chunk_size.max(256 * 1024) / (256 * 1024) * (256 * 1024);
        let mut offset = offset;
        let chunks = cloudmux_core::chunk::Chunker::new(data, chunk);
        let declared = self.total;
        let done = cloudmux_core::chunk::pipeline(
            chunks,
            |buf| {
                if let Some(m) = md5.as_deref_mut() {
                    m.update(buf);
                }
            },
            |buf, eof| {
                let start = offset;
                offset += buf.len() as u64;
                let total = if eof { Some(offset) } else { declared };
                async move {
                    if let (Some(t), Some(d)) = (total, declared)
                        && t != d
                    {
                        return Err(Error::new(
                            ErrorKind::Corrupt,
                            format!("the source gave {t} bytes, not the announced {d}"),
                        ));
                    }
                    self.send_chunk(&buf, start, total, eof).await
                }
            },
        )
        .await?;
        done.ok_or_else(|| {
            Error::new(
                ErrorKind::Other,
                "Drive did not complete the upload after its last chunk",
            )
        })
    }

    /// Sends one chunk, resuming within it after failures. Returns the file when the upload completed.
    async fn send_chunk(
        &self,
        buf: &Bytes,
        offset: u64,
        total: Option<u64>,
        last: bool,
    ) -> Result<Option<File>> {
        let end = offset + buf.len() as u64;
        let total_s = total.map(|t| t.to_string()).unwrap_or_else(|| "*".into());
        let mut from = offset;
        let mut failures = 0u32;
        loop {
            let body = buf.slice((from - offset) as usize..);
            let range = if body.is_empty() {
                format!("bytes */{total_s}")
            } else {
                format!("bytes {from}-{}/{total_s}", end - 1)
            };
            let r = self
                .client
                .api
                .send_accepting(
                    |c| {
                        c.put(&self.uri)
                            .header(reqwest::header::CONTENT_RANGE, &range)
                            .body(body.clone())
                    },
                    Idempotency::Once,
                    |s| s.is_success() || s == StatusCode::PERMANENT_REDIRECT,
                )
                .await;
            let status = match r {
                Ok(resp) => self.interpret(resp).await,
                Err(e) => Err(e),
            };
            match status {
                Ok(SessionStatus::Done(f)) => return Ok(Some(*f)),
                Ok(SessionStatus::Committed(c)) if c >= end && !last => return Ok(None),
                Ok(SessionStatus::Committed(c)) => {
                    if c < offset {
                        return Err(Error::new(
                            ErrorKind::Other,
                            format!(
                                "the upload session lost bytes: it has {c}, {offset} were confirmed"
                            ),
                        ));
                    }
                    from = c.min(end);
                    failures += 1;
                }
                Err(e) if e.is_temporary() => {
                    failures += 1;
                    if failures > 8 {
                        return Err(e);
                    }
                    tracing::warn!(
                        "upload chunk at {from} failed ({e}); asking the session where it stands"
                    );
                    let r = &self.client.cfg.http.retry;
                    tokio::time::sleep(e.retry_after().unwrap_or_else(|| {
                        cloudmux_http::full_jitter(failures - 1, r.min_delay, r.max_delay)
                    }))
                    .await;
                    match self.status().await {
                        Ok(SessionStatus::Done(f)) => return Ok(Some(*f)),
                        Ok(SessionStatus::Committed(c)) => from = c.clamp(offset, end),
                        Err(e2) if e2.is_temporary() => {}
                        Err(e2) => return Err(e2),
                    }
                    continue;
                }
                Err(e) => return Err(e),
            }
            if failures > 16 {
                return Err(Error::new(
                    ErrorKind::Transient,
                    "the upload session keeps refusing the chunk",
                ));
            }
        }
    }
}
