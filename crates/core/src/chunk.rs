//! Cutting a byte stream into fixed-size chunks for chunked uploads, with one chunk of look-ahead so the
//! uploader knows which chunk is the last (and so the total size) even when the stream's length is unknown.

use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;

use crate::{ByteStream, Result};

/// Yields chunks of exactly `size` bytes (the last may be shorter, or empty for an empty stream).
pub struct Chunker {
    data: ByteStream,
    size: usize,
    carry: Option<Bytes>,
    done: bool,
}

impl Chunker {
    /// Chunks of `size` bytes from `data`.
    pub fn new(data: ByteStream, size: usize) -> Self {
        Chunker {
            data,
            size: size.max(1),
            carry: None,
            done: false,
        }
    }

    /// The next chunk and whether it is the last; `None` after the last.
    pub async fn next_chunk(&mut self) -> Result<Option<(Bytes, bool)>> {
        if self.done {
            return Ok(None);
        }
        let mut buf = BytesMut::with_capacity(self.size);
        if let Some(c) = self.carry.take() {
            buf.extend_from_slice(&c);
        }
        let mut eof = false;
        while buf.len() < self.size {
            match self.data.next().await {
                Some(c) => buf.extend_from_slice(&c?),
                None => {
                    eof = true;
                    break;
                }
            }
        }
        if buf.len() > self.size {
            self.carry = Some(buf.split_off(self.size).freeze());
        } else if !eof {
            // Exactly full: look one piece ahead to learn whether this was the last chunk.
            match self.data.next().await {
                Some(c) => self.carry = Some(c?),
                None => eof = true,
            }
        }
        self.done = eof;
        Ok(Some((buf.freeze(), eof)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bytes_stream;

    async fn sizes(len: usize, piece: usize, chunk: usize) -> Vec<(usize, bool)> {
        let mut c = Chunker::new(bytes_stream(vec![7u8; len], piece), chunk);
        let mut out = Vec::new();
        while let Some((b, last)) = c.next_chunk().await.unwrap() {
            out.push((b.len(), last));
        }
        out
    }

    #[tokio::test]
    async fn cuts_with_lookahead() {
        assert_eq!(
            sizes(10, 3, 4).await,
            vec![(4, false), (4, false), (2, true)]
        );
        assert_eq!(
            sizes(8, 3, 4).await,
            vec![(4, false), (4, true)],
            "an exact multiple ends on a full chunk marked last"
        );
        assert_eq!(sizes(8, 8, 4).await, vec![(4, false), (4, true)]);
        assert_eq!(
            sizes(0, 3, 4).await,
            vec![(0, true)],
            "an empty stream is one empty last chunk"
        );
        assert_eq!(sizes(3, 1, 4).await, vec![(3, true)]);
    }
}
