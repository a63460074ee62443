//! A streaming `multipart/related` reader, lenient as Google's upload servers are: parts may be separated by
//! CRLF or by bare LF (Python's email generator writes LF). The last part's body is streamed, never buffered.

use bytes::{Buf, Bytes, BytesMut};
use futures_util::{Stream, StreamExt};

/// Why a body is not valid multipart.
#[derive(Debug)]
pub struct MultipartError(pub String);

impl std::fmt::Display for MultipartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The boundary parameter of a `multipart/*` Content-Type (quoted or not).
pub fn boundary(content_type: &str) -> Option<String> {
    let (kind, params) = content_type.split_once(';')?;
    if !kind.trim().to_ascii_lowercase().starts_with("multipart/") {
        return None;
    }
    params.split(';').find_map(|p| {
        let (k, v) = p.split_once('=')?;
        (k.trim().eq_ignore_ascii_case("boundary")).then(|| v.trim().trim_matches('"').to_string())
    })
}

/// Reads parts one by one.
pub struct Related<S> {
    stream: S,
    buf: BytesMut,
    delim: Vec<u8>,
    eof: bool,
    started: bool,
}

impl<S, E> Related<S>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    /// A reader over `stream` with `boundary`.
    pub fn new(stream: S, boundary: &str) -> Self {
        Related {
            stream,
            buf: BytesMut::new(),
            delim: format!("\n--{boundary}").into_bytes(),
            eof: false,
            started: false,
        }
    }

    async fn fill(&mut self) -> Result<bool, MultipartError> {
        if self.eof {
            return Ok(false);
        }
        match self.stream.next().await {
            Some(Ok(b)) => {
                self.buf.extend_from_slice(&b);
                Ok(true)
            }
            Some(Err(e)) => Err(MultipartError(format!("body: {e}"))),
            None => {
                self.eof = true;
                Ok(false)
            }
        }
    }

    fn find(&self, from: usize) -> Option<usize> {
        self.buf[from..]
            .windows(self.delim.len())
            .position(|w| w == &self.delim[..])
            .map(|i| i + from)
    }

    /// Advances to the next part and returns its headers (lower-cased names); `None` after the closing
    /// delimiter.
    pub async fn next_part(&mut self) -> Result<Option<Vec<(String, String)>>, MultipartError> {
        // Skip to the delimiter; a body may start with "--B" without a preceding newline.
        while self.buf.len() < self.delim.len() && self.fill().await? {}
        let first = !std::mem::replace(&mut self.started, true);
        if first && self.buf.starts_with(&self.delim[1..]) {
            self.buf.advance(self.delim.len() - 1);
        } else {
            loop {
                if let Some(i) = self.find(0) {
                    self.buf.advance(i + self.delim.len());
                    break;
                }
                let keep = self.buf.len().saturating_sub(self.delim.len());
                self.buf.advance(keep);
                if !self.fill().await? {
                    return Err(MultipartError("no boundary found".into()));
                }
            }
        }
        while self.buf.len() < 2 && self.fill().await? {}
        if self.buf.starts_with(b"--") {
            return Ok(None);
        }
        // The rest of the delimiter line (transport padding, CR) up to its LF.
        loop {
            if let Some(i) = self.buf.iter().position(|&b| b == b'\n') {
                self.buf.advance(i + 1);
                break;
            }
            if self.buf.len() > 1024 || !self.fill().await? {
                return Err(MultipartError("boundary line not terminated".into()));
            }
        }
        let mut headers = Vec::new();
        loop {
            let nl = loop {
                if let Some(i) = self.buf.iter().position(|&b| b == b'\n') {
                    break i;
                }
                if self.buf.len() > 64 * 1024 || !self.fill().await? {
                    return Err(MultipartError("part headers too long or cut".into()));
                }
            };
            let line = String::from_utf8_lossy(&self.buf[..nl])
                .trim_end_matches('\r')
                .to_string();
            self.buf.advance(nl + 1);
            if line.is_empty() {
                return Ok(Some(headers));
            }
            if let Some((k, v)) = line.split_once(':') {
                headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
            }
        }
    }

    /// Reads the current part whole (at most `limit` bytes).
    pub async fn read_part(&mut self, limit: usize) -> Result<Bytes, MultipartError> {
        loop {
            if let Some(i) = self.find(0) {
                let mut part = self.buf.split_to(i).freeze();
                if part.ends_with(b"\r") {
                    part.truncate(part.len() - 1);
                }
                return Ok(part);
            }
            if self.buf.len() > limit || !self.fill().await? {
                return Err(MultipartError("part too large or not terminated".into()));
            }
        }
    }

    /// Streams the current part's body (the last part: what follows the closing delimiter is ignored).
    pub fn stream_part(self) -> impl Stream<Item = Result<Bytes, MultipartError>> {
        futures_util::stream::unfold(Some(self), |st| async move {
            let mut r = st?;
            loop {
                if let Some(i) = r.find(0) {
                    let mut part = r.buf.split_to(i).freeze();
                    if part.ends_with(b"\r") {
                        part.truncate(part.len() - 1);
                    }
                    return if part.is_empty() {
                        None
                    } else {
                        Some((Ok(part), None))
                    };
                }
                // Emit all but a tail that could hold the start of the delimiter (and a CR before it).
                let keep = r.delim.len() + 1;
                if r.buf.len() > keep + 64 * 1024 {
                    let out = r.buf.split_to(r.buf.len() - keep).freeze();
                    return Some((Ok(out), Some(r)));
                }
                match r.fill().await {
                    Ok(true) => continue,
                    Ok(false) => {
                        return Some((
                            Err(MultipartError(
                                "media part not terminated by the boundary".into(),
                            )),
                            None,
                        ));
                    }
                    Err(e) => return Some((Err(e), None)),
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn parse(
        body: &'static [u8],
        chunk: usize,
    ) -> (Vec<(String, String)>, Bytes, Vec<(String, String)>, Vec<u8>) {
        let chunks: Vec<Result<Bytes, std::convert::Infallible>> = body
            .chunks(chunk)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        let mut r = Related::new(futures_util::stream::iter(chunks), "BB");
        let h1 = r.next_part().await.unwrap().unwrap();
        let meta = r.read_part(1 << 20).await.unwrap();
        let h2 = r.next_part().await.unwrap().unwrap();
        let mut media = Vec::new();
        let mut s = std::pin::pin!(r.stream_part());
        while let Some(c) = s.next().await {
            media.extend_from_slice(&c.unwrap());
        }
        (h1, meta, h2, media)
    }

    #[tokio::test]
    async fn crlf_and_lf_bodies() {
        let crlf: &[u8] = b"--BB\r\nContent-Type: application/json\r\n\r\n{\"name\":\"a\"}\r\n--BB\r\nContent-Type: text/plain\r\n\r\nline1\r\nline2\r\n--BB--\r\n";
        let lf: &[u8] = b"--BB\nContent-Type: application/json\nMIME-Version: 1.0\n\n{\"name\":\"a\"}\n--BB\nContent-Type: text/plain\nContent-Transfer-Encoding: binary\n\nline1\r\nline2\n--BB--";
        for body in [crlf, lf] {
            for chunk in [1, 3, 7, 1000] {
                let (h1, meta, h2, media) = parse(body, chunk).await;
                assert_eq!(h1[0], ("content-type".into(), "application/json".into()));
                assert_eq!(&meta[..], b"{\"name\":\"a\"}");
                assert_eq!(h2[0].1, "text/plain");
                assert_eq!(media, b"line1\r\nline2", "chunk {chunk}");
            }
        }
    }

    #[test]
    fn boundary_param() {
        assert_eq!(
            boundary("multipart/related; boundary=\"===x==\"").unwrap(),
            "===x=="
        );
        assert_eq!(boundary("multipart/related;boundary=abc").unwrap(), "abc");
        assert!(boundary("application/json").is_none());
    }
}

#[cfg(test)]
mod fuzz {
    use super::*;
    use proptest::prelude::*;

    /// Reads everything a body holds, as the upload handler does, whatever the body is.
    async fn drain(body: Vec<u8>, chunk: usize, b: &str) {
        let chunks: Vec<Result<Bytes, std::convert::Infallible>> = body
            .chunks(chunk.max(1))
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        let mut r = Related::new(futures_util::stream::iter(chunks), b);
        for _ in 0..4 {
            match r.next_part().await {
                Ok(Some(_)) => {
                    if r.read_part(1 << 16).await.is_err() {
                        return;
                    }
                }
                _ => return,
            }
        }
        let mut s = std::pin::pin!(r.stream_part());
        while let Some(c) = s.next().await {
            if c.is_err() {
                break;
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1500))]

        #[test]
        fn any_body_is_read_without_panicking(
            parts in proptest::collection::vec(
                prop_oneof![
                    Just(b"--BB".to_vec()), Just(b"--BB--".to_vec()), Just(b"\r\n".to_vec()),
                    Just(b"\n".to_vec()), Just(b"Content-Type: a/b\r\n".to_vec()),
                    proptest::collection::vec(any::<u8>(), 0..40),
                ],
                0..16,
            ),
            chunk in 1usize..64,
        ) {
            let body: Vec<u8> = parts.concat();
            tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap()
                .block_on(drain(body, chunk, "BB"));
        }

        #[test]
        fn any_content_type_gives_a_boundary_or_none(ct in "\\PC{0,60}|multipart/[a-z]{0,8}; ?boundary=\"?[^\"]{0,10}\"?") {
            let _ = boundary(&ct);
        }
    }
}
