//! Paged listings as streams: a backend says how to start and how to fetch one page, [`paged`] does the
//! rest (stop after the last page, stop after an error, nothing fetched before the consumer asks).

use std::future::Future;
use std::pin::Pin;

use futures_util::Stream;

use crate::Result;

/// A stream of pages of `T`, each page or an error; it ends after the last page or the first error.
pub type Pages<'a, T> = Pin<Box<dyn Stream<Item = Result<Vec<T>>> + Send + 'a>>;

/// Pages fetched one at a time, as the consumer asks: `start` resolves where the listing begins (the folder's
/// id, a first cursor), then `fetch(state)` answers one page and the state of the next page (`None` after the
/// last). An error from either is the stream's last item.
///
/// ```
/// # use futures_util::StreamExt;
/// # async fn demo() {
/// // Three pages of two numbers, the state being the offset.
/// let pages = cloudmux_core::paged(async { Ok(0u32) }, |at| async move {
///     let next = (at + 2 < 6).then_some(at + 2);
///     Ok((vec![at, at + 1], next))
/// });
/// let all: Vec<u32> = pages.map(|p| p.unwrap()).concat().await;
/// assert_eq!(all, [0, 1, 2, 3, 4, 5]);
/// # }
/// ```
pub fn paged<'a, S, T, Fut>(
    start: impl Future<Output = Result<S>> + Send + 'a,
    fetch: impl Fn(S) -> Fut + Send + 'a,
) -> Pages<'a, T>
where
    S: Send + 'a,
    T: Send + 'a,
    Fut: Future<Output = Result<(Vec<T>, Option<S>)>> + Send + 'a,
{
    enum Step<'a, S> {
        Start(Pin<Box<dyn Future<Output = Result<S>> + Send + 'a>>),
        Next(S),
        Done,
    }
    let first: Step<'a, S> = Step::Start(Box::pin(start));
    Box::pin(futures_util::stream::unfold(
        (first, fetch),
        |(step, fetch)| async move {
            let state = match step {
                Step::Done => return None,
                Step::Start(f) => match f.await {
                    Ok(s) => s,
                    Err(e) => return Some((Err(e), (Step::Done, fetch))),
                },
                Step::Next(s) => s,
            };
            match fetch(state).await {
                Err(e) => Some((Err(e), (Step::Done, fetch))),
                Ok((items, next)) => {
                    let step = next.map_or(Step::Done, Step::Next);
                    Some((Ok(items), (step, fetch)))
                }
            }
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Error;
    use futures_util::StreamExt;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn fetches_lazily_and_stops_after_an_error() {
        let calls = Arc::new(AtomicUsize::new(0));
        let c = calls.clone();
        let mut pages = paged(async { Ok(0u32) }, move |at| {
            let c = c.clone();
            async move {
                c.fetch_add(1, Ordering::SeqCst);
                if at == 2 {
                    return Err(Error::not_found("page 2"));
                }
                Ok((vec![at], Some(at + 1)))
            }
        });
        assert_eq!(
            calls.load(Ordering::SeqCst),
            0,
            "nothing before the first ask"
        );
        assert_eq!(pages.next().await.unwrap().unwrap(), [0]);
        assert_eq!(pages.next().await.unwrap().unwrap(), [1]);
        assert!(pages.next().await.unwrap().is_err());
        assert!(pages.next().await.is_none(), "the error ends the stream");
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn a_failed_start_is_the_only_item() {
        let mut pages = paged(
            async { Err::<u32, _>(Error::not_found("folder")) },
            |_| async { Ok((vec![1u8], None)) },
        );
        assert!(pages.next().await.unwrap().is_err());
        assert!(pages.next().await.is_none());
    }
}
