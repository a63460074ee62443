//! The file part of a `multipart/form-data` body, streamed (RFC 7578): the parts before it are skipped
//! within small bounds, the file's bytes flow on as they arrive — never the whole body in memory — and a
//! body that ends before the file's closing delimiter is an error, so a cut upload stores nothing.

use bytes::{Buf, Bytes, BytesMut};
use cloudmux_core::{ByteStream, Error, Result};
use futures_util::StreamExt;
use memchr::memmem;

/// The headers of one part, at most.
const MAX_PART_HEADERS: usize = 16 * 1024;
/// A part that is not a file (a form field), at most.
const MAX_FIELD: usize = 1024 * 1024;

/// The boundary of a `multipart/form-data` content type.
pub(super) fn boundary(content_type: &str) -> Option<String> {
    let (kind, params) = content_type.split_once(';')?;
    if !kind.trim().eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    params.split(';').find_map(|p| {
        let (k, v) = p.split_once('=')?;
        if !k.trim().eq_ignore_ascii_case("boundary") {
            return None;
        }
        let v = v.trim().trim_matches('"');
        (!v.is_empty() && v.len() <= 70).then(|| v.to_string())
    })
}

fn bad(why: &str) -> Error {
    Error::invalid(format!("the multipart form: {why}"))
        .with_hint("send one file part with a filename (multipart/form-data)")
}

struct Reader {
    inner: ByteStream,
    buf: BytesMut,
}

impl Reader {
    /// Reads more; false at the end of the body.
    async fn more(&mut self) -> Result<bool> {
        match self.inner.next().await {
            Some(chunk) => {
                self.buf.extend_from_slice(&chunk?);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Reads until `needle` is in the buffer (within `limit` bytes); its position.
    async fn find(&mut self, needle: &[u8], limit: usize, what: &str) -> Result<usize> {
        loop {
            if let Some(i) = memmem::find(&self.buf, needle) {
                return Ok(i);
            }
            if self.buf.len() > limit + needle.len() {
                return Err(bad(&format!("{what} is too long")));
            }
            if !self.more().await? {
                return Err(bad(&format!("the body ended inside {what}")));
            }
        }
    }
}

/// The content type and the bytes of the first part that carries a `filename`.
pub(super) async fn first_file(
    inner: ByteStream,
    boundary: &str,
) -> Result<(Option<String>, ByteStream)> {
    let mut r = Reader {
        inner,
        buf: BytesMut::new(),
    };
    let first = format!("--{boundary}");
    let i = r.find(first.as_bytes(), MAX_FIELD, "the preamble").await?;
    r.buf.advance(i + first.len());
    let delim = format!("\r\n--{boundary}").into_bytes();
    loop {
        // After a delimiter: `--` ends the body, CRLF starts a part.
        while r.buf.len() < 2 {
            if !r.more().await? {
                return Err(bad("the body ended after a delimiter"));
            }
        }
        if &r.buf[..2] == b"--" {
            return Err(bad("no part holds a file"));
        }
        let end = r
            .find(b"\r\n\r\n", MAX_PART_HEADERS, "a part's headers")
            .await?;
        let head = String::from_utf8_lossy(&r.buf[..end]).into_owned();
        r.buf.advance(end + 4);
        let mut is_file = false;
        let mut mime = None;
        for line in head.split("\r\n") {
            let Some((k, v)) = line.split_once(':') else {
                continue;
            };
            if k.trim().eq_ignore_ascii_case("content-disposition") {
                is_file = v.split(';').any(|p| {
                    p.trim()
                        .split_once('=')
                        .is_some_and(|(k, _)| k.trim().eq_ignore_ascii_case("filename"))
                });
            } else if k.trim().eq_ignore_ascii_case("content-type") {
                mime = Some(v.trim().to_string());
            }
        }
        if is_file {
            return Ok((mime, file_stream(r, delim)));
        }
        let i = r.find(&delim, MAX_FIELD, "a form field").await?;
        r.buf.advance(i + delim.len());
    }
}

/// The part's bytes up to the delimiter, sent on as they come (a delimiter's length held back).
fn file_stream(r: Reader, delim: Vec<u8>) -> ByteStream {
    let state = (r, delim, false);
    Box::pin(futures_util::stream::unfold(
        state,
        |(mut r, delim, done)| async move {
            if done {
                return None;
            }
            loop {
                if let Some(i) = memmem::find(&r.buf, &delim) {
                    let part: Bytes = r.buf.split_to(i).freeze();
                    return Some((Ok(part), (r, delim, true)));
                }
                if r.buf.len() > delim.len() + 64 * 1024 {
                    let keep = delim.len();
                    let part = r.buf.split_to(r.buf.len() - keep).freeze();
                    return Some((Ok(part), (r, delim, false)));
                }
                match r.more().await {
                    Ok(true) => {}
                    Ok(false) => {
                        return Some((
                            Err(bad("the body ended before the file did")),
                            (r, delim, true),
                        ));
                    }
                    Err(e) => return Some((Err(e), (r, delim, true))),
                }
            }
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunks(body: &[u8], size: usize) -> ByteStream {
        let parts: Vec<Result<Bytes>> = body
            .chunks(size.max(1))
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        Box::pin(futures_util::stream::iter(parts))
    }

    async fn collect(s: ByteStream) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        let mut s = s;
        while let Some(c) = s.next().await {
            out.extend_from_slice(&c?);
        }
        Ok(out)
    }

    fn form(file: &[u8]) -> Vec<u8> {
        let mut b = b"preamble\r\n--XyZ\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhello\r\n--XyZ\r\n\
Content-Disposition: form-data; name=\"upload-file\"; filename=\"a.bin\"\r\nContent-Type: image/png\r\n\r\n"
            .to_vec();
        b.extend_from_slice(file);
        b.extend_from_slice(b"\r\n--XyZ--\r\n");
        b
    }

    #[tokio::test]
    async fn the_file_part_streams_out_whatever_the_chunking() {
        // Bytes that look like a delimiter but are not one, and a CR LF right before the real one.
        let file: Vec<u8> = b"\r\n--XyX \r\n--Xy\r\n"
            .iter()
            .copied()
            .chain((0..100_000u32).map(|i| (i * 7 % 251) as u8))
            .chain(*b"\r\n")
            .collect();
        let body = form(&file);
        for size in [1, 2, 3, 7, 64, 1000, 65_536, body.len()] {
            let (mime, s) = first_file(chunks(&body, size), "XyZ").await.unwrap();
            assert_eq!(mime.as_deref(), Some("image/png"));
            assert_eq!(collect(s).await.unwrap(), file, "chunks of {size}");
        }
    }

    #[tokio::test]
    async fn cut_or_fileless_forms_are_errors() {
        let body = form(b"abcdef");
        let cut = &body[..body.len() - 12];
        let (_, s) = first_file(chunks(cut, 5), "XyZ").await.unwrap();
        assert!(
            collect(s).await.is_err(),
            "the closing delimiter never came"
        );
        let none = b"--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nx\r\n--XyZ--\r\n";
        assert!(first_file(chunks(none, 3), "XyZ").await.is_err());
        let endless_headers = [b"--XyZ\r\n".to_vec(), vec![b'a'; 100_000]].concat();
        assert!(
            first_file(chunks(&endless_headers, 999), "XyZ")
                .await
                .is_err()
        );
        assert!(first_file(chunks(b"", 1), "XyZ").await.is_err());
    }

    #[test]
    fn boundaries() {
        assert_eq!(
            boundary("multipart/form-data; boundary=abc").as_deref(),
            Some("abc")
        );
        assert_eq!(
            boundary("Multipart/Form-Data; charset=utf-8; boundary=\"a b\"").as_deref(),
            Some("a b")
        );
        assert_eq!(boundary("application/json; boundary=abc"), None);
        assert_eq!(boundary("multipart/form-data"), None);
        assert_eq!(boundary("multipart/form-data; boundary="), None);
    }
}
