//! [`YadiskStorage`]: Yandex Disk as a [`Storage`]. Paths map onto the remote's root (`disk:/`, `app:/` or a
//! sub-path); modification times given on write are kept in the `cloudmux_mtime` custom property, since Yandex
//! sets `modified` itself.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use cloudmux_core::name::{decode_path, encode};
use cloudmux_core::path::{join, normalize};
use cloudmux_core::{
    About, ByteRange, ByteStream, Capabilities, DeleteMode, Entry, Error, ErrorKind, Hashes,
    PageStream, Result, Storage, WriteOptions,
};

use crate::client::YadiskClient;
use crate::model::Resource;

const MTIME: &str = "cloudmux_mtime";

/// Yandex Disk as a [`Storage`].
#[derive(Debug)]
pub struct YadiskStorage {
    client: YadiskClient,
    root: String,
    links: Links,
}

/// Download links handed out lately, by full path: (link, size, when). The ranged reads of one transfer
/// (several streams, resumed reads, a player seeking) then cost no API request each; writes through this
/// storage drop the link of what they change, and a link the download host no longer honours is dropped.
type Links = std::sync::Arc<
    std::sync::Mutex<std::collections::HashMap<String, (String, u64, std::time::Instant)>>,
>;

/// How long a download link is reused (Yandex's links live for hours).
const LINK_TTL: std::time::Duration = std::time::Duration::from_secs(60);
/// Links kept at most.
const LINKS_MAX: usize = 256;

impl YadiskStorage {
    /// A storage rooted at `root` (`disk:/`, `app:/`, `disk:/Some/Folder`).
    pub fn new(client: YadiskClient, root: &str) -> Result<Self> {
        let root = root.trim();
        let (ns, rest) = root.split_once(":/").ok_or_else(|| {
            Error::invalid(format!("bad Yandex Disk root {root:?}"))
                .with_hint("use disk:/, app:/ or disk:/some/folder")
        })?;
        if ns != "disk" && ns != "app" {
            return Err(Error::invalid(format!("bad Yandex Disk root {root:?}"))
                .with_hint("use disk:/ or app:/"));
        }
        let rest = normalize(rest)?;
        Ok(YadiskStorage {
            client,
            root: format!("{ns}:/{rest}"),
            links: Default::default(),
        })
    }

    /// The client.
    pub fn client(&self) -> &YadiskClient {
        &self.client
    }

    /// The full Yandex path of a storage path, its names decoded ([`cloudmux_core::name`]): a name that
    /// would be `.`, `..` or hold `/` on Yandex Disk is refused, never sent.
    pub fn full(&self, path: &str) -> Result<String> {
        let p = decode_path(&normalize(path)?)?;
        Ok(if p.is_empty() {
            self.root.clone()
        } else if self.root.ends_with('/') {
            format!("{}{p}", self.root)
        } else {
            format!("{}/{p}", self.root)
        })
    }

    fn entry(&self, path: String, r: &Resource) -> Entry {
        let custom = r
            .custom_properties
            .as_ref()
            .and_then(|c| c.get(MTIME))
            .and_then(|v| v.as_str())
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok());
        let modified: Option<DateTime<Utc>> = custom.or(r.modified).map(|t| t.to_utc());
        Entry {
            id: r.resource_id.clone(),
            name: if path.is_empty() {
                String::new()
            } else {
                encode(&r.name).unwrap_or_default().into_owned()
            },
            path,
            size: if r.is_dir() {
                None
            } else {
                Some(r.size.unwrap_or(0))
            },
            modified,
            is_dir: r.is_dir(),
            mime: r.mime_type.clone(),
            hashes: Hashes {
                md5: r.md5.clone(),
                sha1: None,
                sha256: r.sha256.clone(),
            },
        }
    }

    /// Forgets the download links of `full` and of everything under it.
    fn forget_links(&self, full: &str) {
        let under = format!("{}/", full.trim_end_matches('/'));
        self.links
            .lock()
            .unwrap()
            .retain(|p, _| p != full && !p.starts_with(&under));
    }

    /// A download link of the file at `full` and its size: a recent one, or one asked for now.
    async fn link(&self, path: &str, full: &str) -> Result<(String, u64)> {
        if let Some((href, size, at)) = self.links.lock().unwrap().get(full)
            && at.elapsed() < LINK_TTL
        {
            return Ok((href.clone(), *size));
        }
        // Only what a read needs (a folder's link would be a zip of it): asking for less spares the
        // service hashing or listing anything.
        let r = self
            .client
            .meta(full, Some(0), 0, None, Some("name,path,type,size"))
            .await?;
        if r.kind == "dir" {
            return Err(Error::new(
                ErrorKind::Conflict,
                format!("{path}: is a folder"),
            ));
        }
        let size = r.size.unwrap_or(0);
        let href = self.client.download_link(full).await?;
        let mut links = self.links.lock().unwrap();
        links.retain(|_, (_, _, at)| at.elapsed() < LINK_TTL);
        if links.len() >= LINKS_MAX {
            links.clear();
        }
        links.insert(
            full.to_string(),
            (href.clone(), size, std::time::Instant::now()),
        );
        Ok((href, size))
    }

    async fn mkdir_one(&self, full: &str) -> Result<()> {
        match self.client.mkdir(full).await {
            Ok(()) => Ok(()),
            Err(e) if e.reason() == Some("DiskPathPointsToExistentDirectoryError") => Ok(()),
            Err(e) => Err(e),
        }
    }
}

#[async_trait]
impl Storage for YadiskStorage {
    fn kind(&self) -> &'static str {
        "yadisk"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            trash: true,
            public_link: true,
            hashes: true,
            ..Capabilities::default()
        }
    }

    fn list<'a>(&'a self, path: &'a str) -> PageStream<'a> {
        let start = async move {
            let norm = normalize(path)?;
            let full = self.full(&norm)?;
            Ok((norm, full, 0u64))
        };
        cloudmux_core::paged(start, move |(norm, full, offset)| async move {
            let (items, total) = self.client.list_page(&full, offset, Some("name")).await?;
            let got = items.len() as u64;
            let entries: Vec<Entry> = items
                .iter()
                .filter_map(|r| {
                    let Some(name) = encode(&r.name) else {
                        tracing::warn!("{norm}: skipping an entry with an empty name");
                        return None;
                    };
                    Some(self.entry(join(&norm, &name), r))
                })
                .collect();
            let next = (got > 0 && offset + got < total).then(|| (norm, full, offset + got));
            Ok((entries, next))
        })
    }

    async fn stat(&self, path: &str) -> Result<Entry> {
        let norm = normalize(path)?;
        let r = self
            .client
            .meta(
                &self.full(&norm)?,
                Some(0),
                0,
                None,
                Some(crate::client::RESOURCE_FIELDS),
            )
            .await?;
        Ok(self.entry(norm, &r))
    }

    async fn read(&self, path: &str, range: ByteRange) -> Result<ByteStream> {
        let full = self.full(&normalize(path)?)?;
        let (href, size) = self.link(path, &full).await?;
        let (start, end) = range.clamp(size);
        if start >= end {
            return Ok(Box::pin(futures_util::stream::empty()));
        }
        let client = self.client.clone();
        let links = self.links.clone();
        Ok(cloudmux_http::resuming_stream(
            move |off| {
                let (client, href, links, full) =
                    (client.clone(), href.clone(), links.clone(), full.clone());
                async move {
                    let r = client
                        .fetch_link(&href, ByteRange::new(off, Some(end - off)))
                        .await;
                    if r.is_err() {
                        // The next read asks for a fresh link.
                        links.lock().unwrap().remove(&full);
                    }
                    r
                }
            },
            start,
            Some(end),
            10,
        ))
    }

    async fn download_link(&self, path: &str) -> Result<Option<String>> {
        let full = self.full(&normalize(path)?)?;
        Ok(Some(self.link(path, &full).await?.0))
    }

    async fn write(&self, path: &str, data: ByteStream, opts: WriteOptions) -> Result<Entry> {
        let norm = normalize(path)?;
        if norm.is_empty() {
            return Err(Error::invalid("cannot write to the root folder itself"));
        }
        let full = self.full(&norm)?;
        self.forget_links(&full);
        let props = opts
            .modified
            .map(|t| serde_json::json!({MTIME: t.to_rfc3339()}));
        let r = self
            .client
            .upload(&full, data, opts.size, true, props.as_ref())
            .await
            .map_err(|e| {
                if e.reason() == Some("DiskResourceAlreadyExistsError") {
                    Error::new(
                        ErrorKind::AlreadyExists,
                        format!("{norm}: a folder exists with that name"),
                    )
                } else {
                    e
                }
            })?;
        Ok(self.entry(norm, &r))
    }

    async fn mkdir(&self, path: &str) -> Result<Entry> {
        let norm = normalize(path)?;
        if !norm.is_empty() {
            let full = self.full(&norm)?;
            match self.mkdir_one(&full).await {
                Ok(()) => {}
                Err(e) if e.reason() == Some("DiskPathDoesntExistsError") => {
                    let mut cur = String::new();
                    for comp in norm.split('/') {
                        cur = join(&cur, comp);
                        self.mkdir_one(&self.full(&cur)?).await?;
                    }
                }
                Err(e) if e.reason() == Some("DiskResourceAlreadyExistsError") => {
                    return Err(Error::new(
                        ErrorKind::AlreadyExists,
                        format!("{norm}: a file exists with that name"),
                    ));
                }
                Err(e) => return Err(e),
            }
        }
        let e = self.stat(&norm).await?;
        if !e.is_dir {
            return Err(Error::new(
                ErrorKind::AlreadyExists,
                format!("{norm}: a file exists with that name"),
            ));
        }
        Ok(e)
    }

    async fn copy(&self, from: &str, to: &str) -> Result<Entry> {
        let src = self.stat(from).await?;
        if src.is_dir {
            return Err(Error::invalid(format!(
                "{from}: server-side copy takes files; copy folders with cp -r"
            )));
        }
        let to = normalize(to)?;
        let dst = self.full(&to)?;
        self.forget_links(&dst);
        self.client.copy(&self.full(from)?, &dst, true).await?;
        self.stat(&to).await
    }

    async fn rename(&self, from: &str, to: &str) -> Result<Entry> {
        let to = normalize(to)?;
        if normalize(from)?.is_empty() {
            return Err(Error::invalid("cannot move the root folder"));
        }
        let (src, dst) = (self.full(from)?, self.full(&to)?);
        self.forget_links(&src);
        self.forget_links(&dst);
        self.client.move_to(&src, &dst, false).await.map_err(|e| {
            if e.kind() == ErrorKind::AlreadyExists {
                e.with_hint("remove it first or choose another name")
            } else {
                e
            }
        })?;
        self.stat(&to).await
    }

    async fn delete(&self, path: &str, mode: DeleteMode) -> Result<()> {
        let norm = normalize(path)?;
        if norm.is_empty() {
            return Err(Error::invalid(
                "refusing to delete the remote's root folder",
            ));
        }
        let full = self.full(&norm)?;
        self.forget_links(&full);
        self.client
            .delete(&full, mode == DeleteMode::Permanent)
            .await
    }

    async fn public_link(&self, path: &str) -> Result<String> {
        let r = self.client.publish(&self.full(path)?).await?;
        r.public_url.ok_or_else(|| {
            Error::new(
                ErrorKind::Other,
                "Yandex Disk published the resource without a public URL",
            )
        })
    }

    async fn about(&self) -> Result<About> {
        let d = self.client.disk_info().await?;
        Ok(About {
            user: Some(d.user.login).filter(|l| !l.is_empty()),
            total: Some(d.total_space),
            used: Some(d.used_space),
            trashed: Some(d.trash_size),
            free: Some(d.total_space.saturating_sub(d.used_space)),
        })
    }
}
