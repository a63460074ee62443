//! Uploads: the bytes to an upload link, in one PUT or in Content-Range chunks, each resent after a failure;
//! the MD5 Yandex reports checked; a link used up by a PUT whose answer was lost told apart from a failure.

use bytes::{Bytes, BytesMut};
use cloudmux_core::{ByteStream, Error, ErrorKind, Result};
use cloudmux_http::Idempotency;
use futures_util::StreamExt;
use md5::Digest;
use reqwest::StatusCode;
use serde_json::Value;

use crate::client::{RESOURCE_FIELDS, YadiskClient};
use crate::model::Resource;

/// Files at least this big whose names Yandex throttles go up under a neutral name (see
/// [`YadiskClient::upload`]): below it the move costs more than the slow speed would.
pub const THROTTLE_DETOUR_MIN: u64 = 256 * 1024;

/// What the neutral name of such an upload ends with (after a leading dot and the file's name).
pub const DETOUR_SUFFIX: &str = ".cloudmux-upload";

/// Whether Yandex throttles uploads to `path` by its extension: its media types `video`, `compressed`
/// and `data` (yadisk's "known issues" page, measured by its users: 128 KiB/s).
pub fn throttled(path: &str) -> bool {
    let ext = cloudmux_core::path::file_name(path)
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    matches!(
        ext.as_str(),
        "3gp"
            | "avi"
            | "flv"
            | "m2ts"
            | "m4v"
            | "mkv"
            | "mov"
            | "mp4"
            | "mpeg"
            | "mpg"
            | "mts"
            | "ts"
            | "vob"
            | "webm"
            | "wmv"
            | "7z"
            | "bz2"
            | "gz"
            | "rar"
            | "tar"
            | "tgz"
            | "xz"
            | "zip"
            | "zst"
            | "dat"
            | "db"
            | "sqlite"
    )
}

impl YadiskClient {
    /// Uploads `data` to `path` and checks the MD5 Yandex reports. Known sizes up to one chunk go in one PUT
    /// (kept in memory so it can be retried); larger or unknown-size files go in Content-Range chunks, each
    /// kept until acknowledged and sent again after a failure.
    ///
    /// `props` are custom properties to set once the bytes are stored (the modification time cloudmux
    /// keeps): the answer to setting them describes the stored file and serves as its check. Without them,
    /// a file sent in one PUT is not looked up again — Yandex's 201 acknowledged every byte of a body whose
    /// length HTTP checked — so a small file costs the API's minimum, two requests.
    ///
    /// Yandex slows uploads of video, archive and database files (by the name's extension, decided when
    /// the link is asked for) to 128 KiB/s through this API; such a file of [`THROTTLE_DETOUR_MIN`] bytes or
    /// more (or of unknown size) goes up under a neutral name beside its own and is then moved onto it:
    /// one request more, at full speed.
    pub async fn upload(
        &self,
        path: &str,
        data: ByteStream,
        size: Option<u64>,
        overwrite: bool,
        props: Option<&Value>,
    ) -> Result<Resource> {
        if !throttled(path) || size.is_some_and(|s| s < THROTTLE_DETOUR_MIN) {
            return self.upload_as(path, data, size, overwrite, props).await;
        }
        let (dir, name) = path.rsplit_once('/').unwrap_or(("", path));
        let temp = format!("{dir}/.{name}{DETOUR_SUFFIX}");
        // A leftover of an interrupted run under that name is replaced.
        let r = self.upload_as(&temp, data, size, true, None).await?;
        if let Err(e) = self.move_to(&temp, path, overwrite).await {
            let _ = self.delete(&temp, true).await;
            return Err(e);
        }
        match props {
            Some(p) => self.set_properties(path, p).await,
            None => Ok(Resource {
                name: name.to_string(),
                path: path.to_string(),
                ..r
            }),
        }
    }

    async fn upload_as(
        &self,
        path: &str,
        mut data: ByteStream,
        size: Option<u64>,
        overwrite: bool,
        props: Option<&Value>,
    ) -> Result<Resource> {
        let link = self.upload_link(path, overwrite).await?;
        let href = link.href;
        let chunk = self.cfg.chunk_size.max(64 * 1024);
        let mut md5 = md5::Md5::new();
        let mut sent = 0u64;
        match size {
            Some(s) if s as usize <= chunk => {
                let mut buf = BytesMut::with_capacity(s as usize);
                while let Some(c) = data.next().await {
                    buf.extend_from_slice(&c?);
                }
                if buf.len() as u64 != s {
                    return Err(Error::new(
                        ErrorKind::Corrupt,
                        format!("the source gave {} bytes, not the announced {s}", buf.len()),
                    ));
                }
                md5.update(&buf);
                sent = s;
                let body = buf.freeze();
                if let Err(e) = self.put_part(&href, body, None).await {
                    return self
                        .after_lost_link(path, e, &hex::encode(md5.finalize()), s, props)
                        .await;
                }
            }
            _ => {
                let chunks = cloudmux_core::chunk::Chunker::new(data, chunk);
                let href = &href;
                cloudmux_core::chunk::pipeline::<(), _>(
                    chunks,
                    |part| md5.update(part),
                    |part, eof| {
                        let start = sent;
                        sent += part.len() as u64;
                        let end_total = (sent, if eof { Some(sent) } else { size });
                        async move {
                            let (sent, total) = end_total;
                            if let (Some(s), true) = (size, eof)
                                && s != sent
                            {
                                return Err(Error::new(
                                    ErrorKind::Corrupt,
                                    format!("the source gave {sent} bytes, not the announced {s}"),
                                ));
                            }
                            if part.is_empty() && start == 0 {
                                self.put_part(href, part, None).await?;
                            } else {
                                let end = if part.is_empty() { start } else { sent - 1 };
                                let range = format!(
                                    "bytes {start}-{end}/{}",
                                    total.map(|t| t.to_string()).unwrap_or_else(|| "*".into())
                                );
                                self.put_part(href, part, Some(range)).await.map_err(|e| {
                                    if e.kind() == ErrorKind::NotFound {
                                        Error::new(
                                            ErrorKind::Transient,
                                            "the upload link expired mid-upload",
                                        )
                                        .with_hint(
                                            "a new link is needed; cloudmux tries the file again",
                                        )
                                    } else {
                                        e
                                    }
                                })?;
                            }
                            Ok(None)
                        }
                    },
                )
                .await?;
            }
        }
        let want = hex::encode(md5.finalize());
        let single = size.is_some_and(|s| s as usize <= chunk);
        let r = match props {
            Some(p) => self.set_properties(path, p).await?,
            None if single => {
                return Ok(Resource {
                    name: cloudmux_core::path::file_name(path).to_string(),
                    path: path.to_string(),
                    kind: "file".into(),
                    size: Some(sent),
                    md5: Some(want),
                    modified: Some(chrono::Utc::now().fixed_offset()),
                    ..Resource::default()
                });
            }
            None => {
                self.meta(path, Some(0), 0, None, Some(RESOURCE_FIELDS))
                    .await?
            }
        };
        if r.md5.as_ref().is_some_and(|m| *m != want) || r.size.is_some_and(|s| s != sent) {
            return Err(Error::new(
                ErrorKind::Corrupt,
                format!("{path}: Yandex Disk stored a different file than was sent"),
            )
            .with_hint("the upload was damaged in transit; run the command again"));
        }
        Ok(r)
    }

    /// An upload link is single-use: a PUT that reached Yandex but whose answer was lost (or a retry of
    /// one) finds the link gone (404). The file is then looked at: if it holds what was sent, the upload
    /// succeeded; otherwise the failure is temporary — a new link is needed, and the caller tries again.
    async fn after_lost_link(
        &self,
        path: &str,
        e: Error,
        md5: &str,
        size: u64,
        props: Option<&Value>,
    ) -> Result<Resource> {
        if e.kind() != ErrorKind::NotFound {
            return Err(e);
        }
        match self
            .meta(path, Some(0), 0, None, Some(RESOURCE_FIELDS))
            .await
        {
            Ok(r) if r.md5.as_deref() == Some(md5) && r.size == Some(size) => match props {
                Some(p) => self.set_properties(path, p).await,
                None => Ok(r),
            },
            _ => Err(Error::new(
                ErrorKind::Transient,
                format!("{path}: the upload link was used up before the upload finished"),
            )
            .with_hint("a new link is needed; cloudmux tries the file again")),
        }
    }

    async fn put_part(&self, href: &str, body: Bytes, range: Option<String>) -> Result<()> {
        let resp = self
            .links
            .send_accepting(
                |c| {
                    let rb = c
                        .put(href)
                        .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
                        .body(body.clone());
                    match &range {
                        Some(r) => rb.header(reqwest::header::CONTENT_RANGE, r),
                        None => rb,
                    }
                },
                Idempotency::Safe,
                |s| s == StatusCode::CREATED || s == StatusCode::ACCEPTED || s == StatusCode::OK,
            )
            .await?;
        drop(resp);
        Ok(())
    }
}
