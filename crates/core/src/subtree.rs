//! [`SubTree`]: one folder of a storage seen as a whole storage (for mounting a remote's sub-folder).

use std::sync::Arc;

use async_trait::async_trait;
use futures_util::StreamExt;

use crate::entry::{About, Entry};
use crate::error::Result;
use crate::path::{join, normalize};
use crate::storage::{
    ByteRange, ByteStream, Capabilities, DeleteMode, PageStream, Storage, WriteOptions,
};

/// A folder of another storage as a storage of its own: paths are normalised (no `..` above its root)
/// and put under the folder; entries come back relative to it.
pub struct SubTree {
    inner: Arc<dyn Storage>,
    root: String,
}

impl std::fmt::Debug for SubTree {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SubTree")
            .field("inner", &self.inner)
            .field("root", &self.root)
            .finish()
    }
}

impl SubTree {
    /// The folder `root` (a normalised path) of `inner`.
    pub fn new(inner: Arc<dyn Storage>, root: String) -> Self {
        SubTree { inner, root }
    }

    fn full(&self, path: &str) -> Result<String> {
        Ok(join(&self.root, &normalize(path)?))
    }

    fn back(&self, mut e: Entry) -> Entry {
        let rel = e
            .path
            .strip_prefix(&self.root)
            .map(|r| r.trim_start_matches('/').to_string());
        if let Some(r) = rel {
            e.path = r;
        }
        e
    }
}

#[async_trait]
impl Storage for SubTree {
    fn kind(&self) -> &'static str {
        self.inner.kind()
    }

    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }

    fn list<'a>(&'a self, path: &'a str) -> PageStream<'a> {
        // The inner listing borrows the full path, which only this call owns: a pump future owns both and
        // hands pages over a one-page channel, so pages still stream and memory stays one page.
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<Entry>>>(1);
        let pump = async move {
            let full = match self.full(path) {
                Ok(f) => f,
                Err(e) => {
                    let _ = tx.send(Err(e)).await;
                    return;
                }
            };
            let mut pages = self.inner.list(&full);
            while let Some(p) = pages.next().await {
                let p = p.map(|es| es.into_iter().map(|e| self.back(e)).collect());
                if tx.send(p).await.is_err() {
                    return;
                }
            }
        };
        let pump = futures_util::stream::once(pump).filter_map(|()| async { None });
        let pages =
            futures_util::stream::unfold(
                rx,
                |mut rx| async move { rx.recv().await.map(|p| (p, rx)) },
            );
        Box::pin(futures_util::stream::select(pump, pages))
    }

    fn list_batch(&self) -> usize {
        self.inner.list_batch()
    }

    async fn list_many(&self, paths: &[String]) -> Result<Vec<Vec<Entry>>> {
        let full = paths
            .iter()
            .map(|p| self.full(p))
            .collect::<Result<Vec<_>>>()?;
        let lists = self.inner.list_many(&full).await?;
        Ok(lists
            .into_iter()
            .map(|es| es.into_iter().map(|e| self.back(e)).collect())
            .collect())
    }

    async fn stat(&self, path: &str) -> Result<Entry> {
        let mut e = self.back(self.inner.stat(&self.full(path)?).await?);
        if normalize(path)?.is_empty() {
            e.path = String::new();
        }
        Ok(e)
    }

    async fn read(&self, path: &str, range: ByteRange) -> Result<ByteStream> {
        self.inner.read(&self.full(path)?, range).await
    }

    async fn export(&self, path: &str, mime: &str) -> Result<ByteStream> {
        self.inner.export(&self.full(path)?, mime).await
    }

    async fn write(&self, path: &str, data: ByteStream, opts: WriteOptions) -> Result<Entry> {
        Ok(self.back(self.inner.write(&self.full(path)?, data, opts).await?))
    }

    async fn mkdir(&self, path: &str) -> Result<Entry> {
        Ok(self.back(self.inner.mkdir(&self.full(path)?).await?))
    }

    async fn copy(&self, from: &str, to: &str) -> Result<Entry> {
        Ok(self.back(self.inner.copy(&self.full(from)?, &self.full(to)?).await?))
    }

    async fn rename(&self, from: &str, to: &str) -> Result<Entry> {
        Ok(self.back(
            self.inner
                .rename(&self.full(from)?, &self.full(to)?)
                .await?,
        ))
    }

    async fn delete(&self, path: &str, mode: DeleteMode) -> Result<()> {
        let full = self.full(path)?;
        if full == self.root {
            return Err(crate::Error::invalid(
                "the mounted folder itself cannot be deleted",
            ));
        }
        self.inner.delete(&full, mode).await
    }

    async fn public_link(&self, path: &str) -> Result<String> {
        self.inner.public_link(&self.full(path)?).await
    }

    async fn about(&self) -> Result<About> {
        self.inner.about().await
    }

    async fn change_cursor(&self) -> Result<Option<String>> {
        self.inner.change_cursor().await
    }

    async fn changes_since(&self, cursor: &str) -> Result<crate::storage::Changes> {
        self.inner.changes_since(cursor).await
    }
}
