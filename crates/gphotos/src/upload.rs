//! Uploads: raw for small files, resumable in chunks at the granularity the server asks (resumed from the
//! size the session reports after a failure); each answers an upload token for `mediaItems:batchCreate`.

use bytes::{Bytes, BytesMut};
use cloudmux_core::chunk::Chunker;
use cloudmux_core::{ByteStream, Error, ErrorKind, Result};
use cloudmux_http::Idempotency;
use futures_util::StreamExt;

use crate::client::PhotosClient;

/// The upload's file name as a header can carry it: control characters (legal in Photos names, never in
/// a header) become `_`. The header is informational; `batchCreate` sets the real name.
fn header_name(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_control() { '_' } else { c })
        .collect()
}

impl PhotosClient {
    /// Uploads bytes; returns the upload token (single-use, valid a day).
    pub async fn upload(
        &self,
        data: ByteStream,
        size: Option<u64>,
        filename: &str,
        mime: &str,
    ) -> Result<String> {
        let url = self.url("/uploads");
        match size {
            Some(s) if s as usize <= self.cfg.chunk_size => {
                let mut buf = BytesMut::with_capacity(s as usize);
                let mut data = data;
                while let Some(c) = data.next().await {
                    buf.extend_from_slice(&c?);
                }
                let body = buf.freeze();
                let resp = self
                    .api
                    .send(
                        |c| {
                            c.post(&url)
                                .header("Content-Type", "application/octet-stream")
                                .header("X-Goog-Upload-Content-Type", mime)
                                .header("X-Goog-Upload-Protocol", "raw")
                                .header("X-Goog-Upload-File-Name", header_name(filename))
                                .body(body.clone())
                        },
                        Idempotency::Safe,
                    )
                    .await?;
                resp.text().await.map_err(cloudmux_http::transport_error)
            }
            _ => self.upload_resumable(data, size, filename, mime).await,
        }
    }

    async fn upload_resumable(
        &self,
        data: ByteStream,
        size: Option<u64>,
        filename: &str,
        mime: &str,
    ) -> Result<String> {
        let url = self.url("/uploads");
        let resp = self
            .api
            .send(
                |c| {
                    let rb = c
                        .post(&url)
                        .header("Content-Length", 0)
                        .header("X-Goog-Upload-Command", "start")
                        .header("X-Goog-Upload-Content-Type", mime)
                        .header("X-Goog-Upload-Protocol", "resumable")
                        .header("X-Goog-Upload-File-Name", header_name(filename));
                    match size {
                        Some(s) => rb.header("X-Goog-Upload-Raw-Size", s),
                        None => rb,
                    }
                },
                Idempotency::Safe,
            )
            .await?;
        let h = |k: &str| {
            resp.headers()
                .get(k)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let session = h("x-goog-upload-url").ok_or_else(|| {
            Error::new(
                ErrorKind::Other,
                "Photos started an upload without a session URL",
            )
        })?;
        let granularity: usize = h("x-goog-upload-chunk-granularity")
            .and_then(|g| g.parse().ok())
            .unwrap_or(262_144)
            .max(1);
        let chunk = (self.cfg.chunk_size / granularity).max(1) * granularity;
        let mut chunks = Chunker::new(data, chunk);
        let mut offset = 0u64;
        while let Some((part, last)) = chunks.next_chunk().await? {
            if let Some(token) = self.send_part(&session, &part, offset, last).await? {
                return Ok(token);
            }
            offset += part.len() as u64;
        }
        Err(Error::new(
            ErrorKind::Other,
            "Google Photos did not finalize the upload",
        ))
    }

    /// Sends one chunk; after a failure asks the session how much it has and sends the rest of the chunk.
    async fn send_part(
        &self,
        session: &str,
        part: &Bytes,
        offset: u64,
        last: bool,
    ) -> Result<Option<String>> {
        let end = offset + part.len() as u64;
        let mut from = offset;
        let mut failures = 0;
        loop {
            let body = part.slice((from - offset) as usize..);
            let cmd = if last { "upload, finalize" } else { "upload" };
            let r = self
                .api
                .send(
                    |c| {
                        c.post(session)
                            .header("X-Goog-Upload-Command", cmd)
                            .header("X-Goog-Upload-Offset", from)
                            .body(body.clone())
                    },
                    Idempotency::Once,
                )
                .await;
            match r {
                Ok(resp) if last => {
                    return Ok(Some(
                        resp.text().await.map_err(cloudmux_http::transport_error)?,
                    ));
                }
                Ok(_) => return Ok(None),
                Err(e) if e.is_temporary() && failures < 8 => {
                    failures += 1;
                    let r = &self.cfg.http.retry;
                    tokio::time::sleep(e.retry_after().unwrap_or_else(|| {
                        cloudmux_http::full_jitter(failures - 1, r.min_delay, r.max_delay)
                    }))
                    .await;
                    let q = self
                        .api
                        .send(
                            |c| {
                                c.post(session)
                                    .header("X-Goog-Upload-Command", "query")
                                    .header("Content-Length", 0)
                            },
                            Idempotency::Safe,
                        )
                        .await?;
                    let received: u64 = q
                        .headers()
                        .get("x-goog-upload-size-received")
                        .and_then(|v| v.to_str().ok()?.parse().ok())
                        .unwrap_or(offset);
                    from = received.clamp(offset, end);
                    tracing::warn!("Photos upload chunk failed ({e}); resuming at byte {from}");
                }
                Err(e) => return Err(e),
            }
        }
    }
}
