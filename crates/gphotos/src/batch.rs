//! Media items created in batches: concurrent writes that finish their upload within a few milliseconds of
//! each other share one `mediaItems:batchCreate` (up to 50 items a call, one call per album), so a small
//! file costs its upload and a share of one create instead of a create of its own.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use cloudmux_core::{Error, ErrorKind, Result};
use tokio::sync::oneshot;

use crate::client::PhotosClient;
use crate::model::MediaItem;

/// How long the first item of a batch waits for others.
const WINDOW: Duration = Duration::from_millis(25);
/// Items one `batchCreate` takes (the API's limit).
const MAX: usize = 50;

struct Waiting {
    token: String,
    name: String,
    album: Option<String>,
    done: oneshot::Sender<Result<MediaItem>>,
}

/// Items waiting to be created.
#[derive(Default)]
pub(crate) struct Batcher {
    waiting: Arc<Mutex<Vec<Waiting>>>,
}

impl std::fmt::Debug for Batcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batcher").finish_non_exhaustive()
    }
}

impl Batcher {
    /// Creates the media item of an uploaded `token` named `name` (in `album`), with whatever other items
    /// are waiting.
    pub(crate) async fn create(
        &self,
        client: &PhotosClient,
        token: String,
        name: String,
        album: Option<String>,
    ) -> Result<MediaItem> {
        let (tx, rx) = oneshot::channel();
        let lead = {
            let mut w = self.waiting.lock().unwrap_or_else(|p| p.into_inner());
            w.push(Waiting {
                token,
                name,
                album,
                done: tx,
            });
            w.len() == 1 || w.len() >= MAX
        };
        if lead {
            // The flush runs on its own, so a write that is cancelled meanwhile strands nobody.
            let (waiting, client) = (self.waiting.clone(), client.clone());
            tokio::spawn(async move {
                tokio::time::sleep(WINDOW).await;
                flush(&waiting, &client).await;
            });
        }
        rx.await
            .map_err(|_| Error::new(ErrorKind::Other, "the media item's batch was lost"))?
    }
}

async fn flush(waiting: &Mutex<Vec<Waiting>>, client: &PhotosClient) {
    let mut all = std::mem::take(&mut *waiting.lock().unwrap_or_else(|p| p.into_inner()));
    while !all.is_empty() {
        let album = all[0].album.clone();
        let (group, rest): (Vec<Waiting>, Vec<Waiting>) =
            all.into_iter().partition(|w| w.album == album);
        all = rest;
        let items: Vec<(String, String)> = group
            .iter()
            .map(|w| (w.token.clone(), w.name.clone()))
            .collect();
        match client.batch_create(&items, album.as_deref()).await {
            Ok(results) => {
                let mut results = results.into_iter();
                for w in group {
                    let r = results.next().unwrap_or_else(|| {
                        Err(Error::new(
                            ErrorKind::Other,
                            "batchCreate returned no result",
                        ))
                    });
                    let _ = w.done.send(r);
                }
            }
            Err(e) => {
                for w in group {
                    let copy = Error::new(e.kind(), e.to_string());
                    let copy = match e.hint() {
                        Some(h) => copy.with_hint(h),
                        None => copy,
                    };
                    let _ = w.done.send(Err(copy));
                }
            }
        }
    }
}
