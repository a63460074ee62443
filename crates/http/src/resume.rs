//! Downloads that survive a broken connection: when the body stream fails with a temporary error, the request
//! is made again from the byte reached (a Range request), so a reset at 900 MiB of 1 GiB costs one request,
//! not the whole file.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use cloudmux_core::{ByteStream, Error, ErrorKind, Result};
use futures_util::StreamExt;

/// A stream of bytes `[start, end)` (`end` `None`: to the end) that calls `fetch(offset)` to (re)open the body
/// at `offset`, up to `max_resumes` times after temporary failures or a premature end.
pub fn resuming_stream<F, Fut>(
    fetch: F,
    start: u64,
    end: Option<u64>,
    max_resumes: usize,
) -> ByteStream
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<ByteStream>> + Send + 'static,
{
    struct St<F> {
        fetch: Arc<F>,
        offset: u64,
        end: Option<u64>,
        cur: Option<ByteStream>,
        resumes: usize,
        max: usize,
        done: bool,
        /// Bytes the current opening has given.
        got: u64,
        /// The last opening ended early, cleanly, at `offset`.
        short_at: Option<u64>,
    }
    let st = St {
        fetch: Arc::new(fetch),
        offset: start,
        end,
        cur: None,
        resumes: 0,
        max: max_resumes,
        done: false,
        got: 0,
        short_at: None,
    };
    Box::pin(futures_util::stream::unfold(st, |mut st| async move {
        loop {
            if st.done {
                return None;
            }
            if st.end.is_some_and(|e| st.offset >= e) {
                // The body's end is seen before it is dropped, so that its connection goes back to
                // the pool instead of being closed (a new TLS handshake for every ranged read).
                if let Some(mut cur) = st.cur.take() {
                    let _ = cur.next().await;
                }
                return None;
            }
            if st.cur.is_none() {
                match (st.fetch)(st.offset).await {
                    Ok(s) => {
                        st.cur = Some(s);
                        st.got = 0;
                    }
                    Err(e) => {
                        st.done = true;
                        return Some((Err(e), st));
                    }
                }
            }
            let item = st.cur.as_mut().expect("opened").next().await;
            let failure = match item {
                Some(Ok(b)) => {
                    st.offset += b.len() as u64;
                    st.got += b.len() as u64;
                    return Some((Ok(b), st));
                }
                Some(Err(e)) => e,
                None => match st.end {
                    // Ended early twice at the same byte, the second time without a byte: the file
                    // is shorter than it was when the read began — it was replaced meanwhile.
                    Some(e) if st.offset < e && st.got == 0 && st.short_at == Some(st.offset) => {
                        st.done = true;
                        let err = Error::new(
                            ErrorKind::Conflict,
                            format!(
                                "the file changed while it was read: it now ends at byte {} of the {e} it had",
                                st.offset
                            ),
                        )
                        .with_hint("read it again");
                        return Some((Err(err), st));
                    }
                    Some(e) if st.offset < e => {
                        st.short_at = Some(st.offset);
                        Error::new(
                            ErrorKind::Transient,
                            format!("body ended at byte {} of {e}", st.offset),
                        )
                    }
                    _ => return None,
                },
            };
            st.cur = None;
            if !failure.is_temporary() || st.resumes >= st.max {
                st.done = true;
                return Some((Err(failure), st));
            }
            st.resumes += 1;
            tracing::warn!(
                "download broke at byte {} ({failure}); resuming ({}/{})",
                st.offset,
                st.resumes,
                st.max
            );
            tokio::time::sleep(Duration::from_millis(100 * (1 << st.resumes.min(6)))).await;
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn resumes_after_breaks() {
        let data: Arc<Vec<u8>> = Arc::new((0..1000u32).map(|i| i as u8).collect());
        let calls = Arc::new(AtomicUsize::new(0));
        let (d, c) = (data.clone(), calls.clone());
        let s = resuming_stream(
            move |off| {
                let d = d.clone();
                let n = c.fetch_add(1, Ordering::SeqCst);
                async move {
                    let off = off as usize;
                    // Every opening breaks after 300 bytes except the last.
                    let stop = if n < 3 {
                        (off + 300).min(d.len())
                    } else {
                        d.len()
                    };
                    let mut items: Vec<Result<Bytes>> =
                        vec![Ok(Bytes::copy_from_slice(&d[off..stop]))];
                    if stop < d.len() {
                        items.push(Err(Error::new(ErrorKind::Transient, "reset")));
                    }
                    Ok(Box::pin(futures_util::stream::iter(items)) as ByteStream)
                }
            },
            0,
            Some(1000),
            5,
        );
        let got = cloudmux_core::collect_bytes(s).await.unwrap();
        assert_eq!(got, *data);
        assert_eq!(calls.load(Ordering::SeqCst), 4);
    }

    #[tokio::test]
    async fn a_file_that_shrank_meanwhile_is_a_conflict_not_ten_retries() {
        let calls = Arc::new(AtomicUsize::new(0));
        let c = calls.clone();
        // Announced as 8 bytes; the service now holds 6 (and answers a range past them with nothing).
        let s = resuming_stream(
            move |off| {
                c.fetch_add(1, Ordering::SeqCst);
                async move {
                    let body = b"ONE\ntw";
                    let from = (off as usize).min(body.len());
                    Ok(Box::pin(futures_util::stream::iter(vec![Ok(
                        Bytes::copy_from_slice(&body[from..]),
                    )])) as ByteStream)
                }
            },
            0,
            Some(8),
            10,
        );
        let e = cloudmux_core::collect_bytes(s).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Conflict, "{e}");
        assert!(e.to_string().contains("changed"), "{e}");
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn gives_up_on_permanent_errors() {
        let s = resuming_stream(
            |_| async {
                Ok(Box::pin(futures_util::stream::iter(vec![Err(Error::new(
                    ErrorKind::PermissionDenied,
                    "no",
                ))])) as ByteStream)
            },
            0,
            None,
            5,
        );
        assert_eq!(
            cloudmux_core::collect_bytes(s).await.unwrap_err().kind(),
            ErrorKind::PermissionDenied
        );
    }
}
