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

/// Sends every chunk of `chunks` with `send`, overlapping each send with reading the next chunk and with
/// `inspect` (hashing, say) of the chunk in flight, so the source, the hashing and the network work at once
/// (two chunks in memory at most). `send` gets the chunk and whether it is the last; it returns `Some` to
/// stop early (the upload completed), which is returned.
pub async fn pipeline<T, Fut>(
    mut chunks: Chunker,
    mut inspect: impl FnMut(&Bytes),
    mut send: impl FnMut(Bytes, bool) -> Fut,
) -> Result<Option<T>>
where
    Fut: std::future::Future<Output = Result<Option<T>>>,
{
    let mut next = chunks.next_chunk().await?;
    while let Some((buf, eof)) = next.take() {
        // The send is polled first, so the request is under way before the hashing takes the thread.
        let sending = send(buf.clone(), eof);
        let ahead = async {
            inspect(&buf);
            if eof {
                Ok(None)
            } else {
                chunks.next_chunk().await
            }
        };
        let (sent, upcoming) = futures_util::future::join(sending, ahead).await;
        if let Some(t) = sent? {
            return Ok(Some(t));
        }
        next = upcoming?;
    }
    Ok(None)
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

    #[tokio::test]
    async fn pipeline_sends_every_chunk_in_order_and_stops_early() {
        let data: Vec<u8> = (0..=255u8).cycle().take(10_000).collect();
        let mut seen = Vec::new();
        let mut sent = Vec::new();
        let out: Option<()> = pipeline(
            Chunker::new(bytes_stream(data.clone(), 333), 4096),
            |b| seen.extend_from_slice(b),
            |b, last| {
                sent.push((b.len(), last));
                async { Ok(None) }
            },
        )
        .await
        .unwrap();
        assert_eq!(out, None);
        assert_eq!(seen, data);
        assert_eq!(sent, vec![(4096, false), (4096, false), (1808, true)]);
        let mut n = 0;
        let stop = pipeline(
            Chunker::new(bytes_stream(data, 1000), 1000),
            |_| {},
            |_, _| {
                n += 1;
                let k = n;
                async move { Ok((k == 3).then_some(k)) }
            },
        )
        .await
        .unwrap();
        assert_eq!(stop, Some(3));
    }
}
