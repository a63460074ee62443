//! [`GPhotosStorage`]: the Photos library as a browsable tree.
//!
//! ```text
//! media/all/NAME                     every media item of the app, newest first
//! media/by-year/YYYY/NAME            by creation year
//! media/by-month/YYYY/YYYY-MM/NAME   by creation month
//! album/TITLE/NAME                   an album's items; mkdir creates an album, a write uploads and adds
//! upload/NAME                        write here to upload without an album
//! ```
//!
//! Names are the items' file names; when two share one, the later ones get ` {ID}` before the extension, in
//! the listing order, which is stable. Sizes are not part of listings (the API reports none); `stat` asks the
//! download host for them.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{Datelike, NaiveDate};
use cloudmux_core::name::{decode, encode};
use cloudmux_core::path::{join, normalize};
use cloudmux_core::{
    About, ByteRange, ByteStream, Capabilities, DeleteMode, Entry, Error, ErrorKind, PageStream,
    Result, Storage, WriteOptions,
};
use futures_util::StreamExt;

use crate::client::{PhotosClient, SearchFilter};
use crate::model::MediaItem;

/// Google Photos as a [`Storage`].
#[derive(Debug)]
pub struct GPhotosStorage {
    client: PhotosClient,
    prefix: String,
    batcher: crate::batch::Batcher,
    /// The albums by shown name, and when they were listed.
    albums: std::sync::Mutex<Option<AlbumList>>,
}

/// When the albums were listed, and their (shown name, id).
type AlbumList = (std::time::Instant, Vec<(String, String)>);

/// How long a listing of the albums is trusted.
const ALBUMS_TTL: std::time::Duration = std::time::Duration::from_secs(30);

#[derive(Debug, Clone, PartialEq)]
enum Node {
    Root,
    Media,
    All,
    ByYear,
    Year(i32),
    ByMonth,
    MonthYear(i32),
    Month(i32, u32),
    Albums,
    Album(String),
    Upload,
    File(Box<Node>, String),
}

fn year(s: &str) -> Option<i32> {
    (s.len() == 4).then(|| s.parse().ok()).flatten()
}

fn month(y: i32, s: &str) -> Option<u32> {
    let (a, b) = s.split_once('-')?;
    (year(a)? == y)
        .then(|| b.parse().ok().filter(|m| (1..=12).contains(m)))
        .flatten()
}

fn unsupported(what: &str, hint: &str) -> Error {
    Error::unsupported(format!("Google Photos cannot {what}"), hint)
}

/// The safe form ([`cloudmux_core::name`]) of a name Photos returned; `{ID}` for an empty one.
fn safe(raw: &str, id: &str) -> String {
    encode(raw)
        .map(|n| n.into_owned())
        .unwrap_or_else(|| format!("{{{id}}}"))
}

/// The shown name of an item: its safe file name, with ` {ID}` before the extension for the second and
/// later items of one name.
fn dedup_name(seen: &mut HashMap<String, usize>, it: &MediaItem) -> String {
    let n = seen.entry(it.filename.clone()).or_insert(0);
    *n += 1;
    let name = safe(&it.filename, &it.id);
    if *n == 1 {
        return name;
    }
    match name.rsplit_once('.') {
        Some((stem, ext)) => format!("{stem} {{{}}}.{ext}", it.id),
        None => format!("{name} {{{}}}", it.id),
    }
}

/// The shown name of an album: its safe title, with ` {ID}` for the second and later of one title.
fn album_name(seen: &mut HashMap<String, usize>, title: &str, id: &str) -> String {
    let n = seen.entry(title.to_string()).or_insert(0);
    *n += 1;
    let name = safe(title, id);
    if *n == 1 {
        name
    } else {
        format!("{name} {{{id}}}")
    }
}

impl GPhotosStorage {
    /// A tree rooted at `root`: `root` (or empty) for the whole tree, or a sub-path such as `album`.
    pub fn new(client: PhotosClient, root: &str) -> Result<Self> {
        let prefix = if root == "root" {
            String::new()
        } else {
            normalize(root)?
        };
        Ok(GPhotosStorage {
            client,
            prefix,
            batcher: Default::default(),
            albums: Default::default(),
        })
    }

    /// The client.
    pub fn client(&self) -> &PhotosClient {
        &self.client
    }

    fn node(&self, path: &str) -> Result<Node> {
        let full = join(&self.prefix, &normalize(path)?);
        let parts: Vec<&str> = if full.is_empty() {
            vec![]
        } else {
            full.split('/').collect()
        };
        let nf = || Error::not_found(&full);
        let file = |parent: Node, name: &str| Node::File(Box::new(parent), name.to_string());
        Ok(match parts.as_slice() {
            [] => Node::Root,
            ["media"] => Node::Media,
            ["media", "all"] => Node::All,
            ["media", "all", n] => file(Node::All, n),
            ["media", "by-year"] => Node::ByYear,
            ["media", "by-year", y] => Node::Year(year(y).ok_or_else(nf)?),
            ["media", "by-year", y, n] => file(Node::Year(year(y).ok_or_else(nf)?), n),
            ["media", "by-month"] => Node::ByMonth,
            ["media", "by-month", y] => Node::MonthYear(year(y).ok_or_else(nf)?),
            ["media", "by-month", y, m] => {
                let y = year(y).ok_or_else(nf)?;
                Node::Month(y, month(y, m).ok_or_else(nf)?)
            }
            ["media", "by-month", y, m, n] => {
                let y = year(y).ok_or_else(nf)?;
                file(Node::Month(y, month(y, m).ok_or_else(nf)?), n)
            }
            ["album"] => Node::Albums,
            ["album", t] => Node::Album(t.to_string()),
            ["album", t, n] => file(Node::Album(t.to_string()), n),
            ["upload"] => Node::Upload,
            ["upload", n] => file(Node::Upload, n),
            _ => return Err(nf()),
        })
    }

    /// The album shown under `album/TITLE` (duplicate titles carry ` {ID}`). The albums are listed once
    /// and remembered for [`ALBUMS_TTL`] (listed again when a title is not among them), so writing many
    /// files into one album does not list the albums for each.
    async fn album_id(&self, title: &str) -> Result<Option<String>> {
        let fresh = |c: &Option<AlbumList>| {
            c.as_ref()
                .filter(|(at, _)| at.elapsed() < ALBUMS_TTL)
                .and_then(|(_, all)| {
                    all.iter()
                        .find(|(n, _)| n == title)
                        .map(|(_, id)| id.clone())
                })
        };
        if let Some(id) = fresh(&self.albums.lock().unwrap_or_else(|p| p.into_inner())) {
            return Ok(Some(id));
        }
        let mut seen: HashMap<String, usize> = HashMap::new();
        let all: Vec<(String, String)> = self
            .client
            .all_albums()
            .await?
            .into_iter()
            .map(|a| (album_name(&mut seen, &a.title, &a.id), a.id))
            .collect();
        let mut c = self.albums.lock().unwrap_or_else(|p| p.into_inner());
        *c = Some((std::time::Instant::now(), all));
        Ok(fresh(&c))
    }

    /// Pages of (shown name, item) of a folder of items, deduplicating names across pages.
    fn items<'a>(&'a self, node: Node) -> ItemPages<'a> {
        struct St {
            filter: Option<SearchFilter>,
            token: Option<String>,
            seen: HashMap<String, usize>,
        }
        // `None`: a folder with nothing to list (one empty page).
        let first = async move {
            let filter = match &node {
                Node::All => None,
                Node::Year(y) => Some(SearchFilter {
                    date_ranges: vec![(ymd(*y, 1, 1)?, ymd(*y, 12, 31)?)],
                    ..Default::default()
                }),
                Node::Month(y, m) => {
                    let start = ymd(*y, *m, 1)?;
                    let end = if *m == 12 {
                        ymd(*y, 12, 31)?
                    } else {
                        ymd(*y, *m + 1, 1)?.pred_opt().unwrap_or(start)
                    };
                    Some(SearchFilter {
                        date_ranges: vec![(start, end)],
                        ..Default::default()
                    })
                }
                Node::Album(t) => match self.album_id(t).await? {
                    Some(id) => Some(SearchFilter {
                        album_id: Some(id),
                        ..Default::default()
                    }),
                    None => return Err(Error::not_found(format!("album/{t}"))),
                },
                Node::Upload => return Ok(None),
                _ => {
                    return Err(Error::new(
                        ErrorKind::Conflict,
                        "not a folder of media items",
                    ));
                }
            };
            Ok(Some(St {
                filter,
                token: None,
                seen: HashMap::new(),
            }))
        };
        cloudmux_core::paged(first, move |st: Option<St>| async move {
            let Some(mut st) = st else {
                return Ok((Vec::new(), None));
            };
            let (items, next) = match &st.filter {
                None => self.client.media(st.token.as_deref()).await?,
                Some(f) => self.client.search(f, st.token.as_deref()).await?,
            };
            let page: Vec<(String, MediaItem)> = items
                .into_iter()
                .map(|it| (dedup_name(&mut st.seen, &it), it))
                .collect();
            st.token = next;
            let more = st.token.is_some().then_some(Some(st));
            Ok((page, more))
        })
    }

    async fn resolve(&self, parent: &Node, name: &str) -> Result<MediaItem> {
        let mut s = self.items(parent.clone());
        while let Some(page) = s.next().await {
            if let Some((_, it)) = page?.into_iter().find(|(n, _)| n == name) {
                return Ok(it);
            }
        }
        Err(Error::not_found(name))
    }

    /// Years (and, for a year, months) that hold media: one pass over the library, page by page.
    async fn dates(&self, within: Option<i32>) -> Result<BTreeSet<String>> {
        let node = match within {
            Some(y) => Node::Year(y),
            None => Node::All,
        };
        let mut out = BTreeSet::new();
        let mut s = self.items(node);
        while let Some(page) = s.next().await {
            for (_, it) in page? {
                if let Some(t) = it.media_metadata.creation_time {
                    out.insert(match within {
                        Some(_) => format!("{}-{:02}", t.year(), t.month()),
                        None => t.year().to_string(),
                    });
                }
            }
        }
        Ok(out)
    }

    fn shown(&self, path: &str) -> String {
        normalize(path).unwrap_or_default()
    }

    fn entry(&self, dir: &str, name: &str, it: &MediaItem, size: Option<u64>) -> Entry {
        Entry {
            id: Some(it.id.clone()),
            path: join(dir, name),
            name: name.to_string(),
            size,
            modified: it.media_metadata.creation_time,
            is_dir: false,
            mime: Some(it.mime_type.clone()),
            hashes: Default::default(),
        }
    }
}

/// Pages of (shown name, media item).
type ItemPages<'a> = cloudmux_core::Pages<'a, (String, MediaItem)>;

fn ymd(y: i32, m: u32, d: u32) -> Result<NaiveDate> {
    NaiveDate::from_ymd_opt(y, m, d).ok_or_else(|| Error::invalid(format!("bad date {y}-{m}-{d}")))
}

fn dirs(dir: &str, names: impl IntoIterator<Item = String>) -> Vec<Entry> {
    names
        .into_iter()
        .map(|n| Entry::dir(join(dir, &n)))
        .collect()
}

#[async_trait]
impl Storage for GPhotosStorage {
    fn kind(&self) -> &'static str {
        "gphotos"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            copy: false,
            rename: false,
            trash: false,
            public_link: false,
            set_modified: false,
            overwrite: false,
            duplicate_names: true,
            ids: true,
            range_read: true,
            ..Capabilities::default()
        }
    }

    fn list<'a>(&'a self, path: &'a str) -> PageStream<'a> {
        let dir = self.shown(path);
        let node = match self.node(path) {
            Ok(n) => n,
            Err(e) => return Box::pin(futures_util::stream::iter(vec![Err(e)])),
        };
        let fixed = |names: &[&str]| -> PageStream<'a> {
            let d = dir.clone();
            Box::pin(futures_util::stream::iter(vec![Ok(dirs(
                &d,
                names.iter().map(|s| s.to_string()),
            ))]))
        };
        match node {
            Node::Root => fixed(&["album", "media", "upload"]),
            Node::Media => fixed(&["all", "by-month", "by-year"]),
            Node::ByYear | Node::ByMonth => Box::pin(futures_util::stream::once(async move {
                self.dates(None).await.map(|y| dirs(&dir, y))
            })),
            Node::MonthYear(y) => Box::pin(futures_util::stream::once(async move {
                self.dates(Some(y)).await.map(|m| dirs(&dir, m))
            })),
            Node::Albums => Box::pin(futures_util::stream::once(async move {
                let mut seen: HashMap<String, usize> = HashMap::new();
                let albums = self.client.all_albums().await?;
                Ok(dirs(
                    &dir,
                    albums
                        .into_iter()
                        .map(|a| album_name(&mut seen, &a.title, &a.id)),
                ))
            })),
            Node::File(..) => Box::pin(futures_util::stream::iter(vec![Err(Error::new(
                ErrorKind::Conflict,
                format!("{dir}: not a folder"),
            ))])),
            folder => Box::pin(self.items(folder).map(move |p| {
                p.map(|items| {
                    items
                        .iter()
                        .map(|(n, it)| self.entry(&dir, n, it, None))
                        .collect()
                })
            })),
        }
    }

    async fn stat(&self, path: &str) -> Result<Entry> {
        let shown = self.shown(path);
        match self.node(path)? {
            Node::File(parent, name) => {
                let it = self.resolve(&parent, &name).await?;
                let size = self.client.size_of(&it).await?;
                let dir = cloudmux_core::path::parent(&shown).to_string();
                Ok(self.entry(&dir, &name, &it, size))
            }
            Node::Album(t) => match self.album_id(&t).await? {
                Some(_) => Ok(Entry::dir(shown)),
                None => Err(Error::not_found(shown)),
            },
            _ => Ok(Entry::dir(shown)),
        }
    }

    async fn read(&self, path: &str, range: ByteRange) -> Result<ByteStream> {
        match self.node(path)? {
            Node::File(parent, name) => {
                let it = self.resolve(&parent, &name).await?;
                self.client.download(&it, range).await
            }
            _ => Err(Error::new(
                ErrorKind::Conflict,
                format!("{path}: is a folder"),
            )),
        }
    }

    async fn download_link(&self, path: &str) -> Result<Option<String>> {
        match self.node(path)? {
            // The item comes from a listing made now, so its baseUrl is fresh.
            Node::File(parent, name) => {
                let it = self.resolve(&parent, &name).await?;
                Ok(Some(crate::client::PhotosClient::download_url(&it)))
            }
            _ => Ok(None),
        }
    }

    async fn write(&self, path: &str, data: ByteStream, opts: WriteOptions) -> Result<Entry> {
        let shown = self.shown(path);
        let Node::File(parent, name) = self.node(path)? else {
            return Err(unsupported(
                "store a file there",
                "write into upload/ or album/TITLE/",
            ));
        };
        let album = match parent.as_ref() {
            Node::Upload | Node::All => None,
            Node::Album(t) => Some(self.album_id(t).await?.ok_or_else(|| {
                Error::not_found(format!("album/{t}"))
                    .with_hint("create the album first: mkdir REMOTE:album/TITLE")
            })?),
            _ => {
                return Err(unsupported(
                    "store a file there",
                    "write into upload/ or album/TITLE/",
                ));
            }
        };
        let sent = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let counter = sent.clone();
        let counted: ByteStream = Box::pin(data.inspect(move |c| {
            if let Ok(b) = c {
                counter.fetch_add(b.len() as u64, std::sync::atomic::Ordering::Relaxed);
            }
        }));
        let raw = decode(&name).into_owned();
        let mime = opts
            .mime
            .clone()
            .unwrap_or_else(|| cloudmux_core::mime::guess(&raw).to_string());
        let token = self.client.upload(counted, opts.size, &raw, &mime).await?;
        let it = self.batcher.create(&self.client, token, raw, album).await?;
        let dir = cloudmux_core::path::parent(&shown).to_string();
        Ok(self.entry(
            &dir,
            &name,
            &it,
            Some(sent.load(std::sync::atomic::Ordering::Relaxed)),
        ))
    }

    async fn mkdir(&self, path: &str) -> Result<Entry> {
        let shown = self.shown(path);
        match self.node(path)? {
            Node::Album(t) => {
                if self.album_id(&t).await?.is_none() {
                    self.client.create_album(&decode(&t)).await?;
                    *self.albums.lock().unwrap_or_else(|p| p.into_inner()) = None;
                }
                Ok(Entry::dir(shown))
            }
            Node::File(..) | Node::Year(_) | Node::MonthYear(_) | Node::Month(..) => {
                Err(unsupported(
                    "create folders there",
                    "folders under album/ are albums: mkdir REMOTE:album/TITLE",
                ))
            }
            _ => Ok(Entry::dir(shown)),
        }
    }

    async fn copy(&self, _: &str, _: &str) -> Result<Entry> {
        Err(unsupported(
            "copy media items",
            "download and upload again, or add the item to another album",
        ))
    }

    async fn rename(&self, _: &str, _: &str) -> Result<Entry> {
        Err(unsupported(
            "rename or move media items",
            "rename albums with `cloudmux gphotos album-rename`",
        ))
    }

    async fn delete(&self, _: &str, _: DeleteMode) -> Result<()> {
        Err(unsupported(
            "delete media items or albums through its API",
            "delete them in the Google Photos app",
        ))
    }

    async fn rmdir(&self, _: &str) -> Result<()> {
        Err(unsupported(
            "delete albums through its API",
            "delete them in the Google Photos app",
        ))
    }

    async fn about(&self) -> Result<About> {
        Ok(About::default())
    }

    async fn stat_id(&self, id: &str) -> Result<Entry> {
        let it = self.client.media_item(id).await?;
        let name = safe(&it.filename, &it.id);
        let size = self.client.size_of(&it).await?;
        Ok(self.entry("", &name, &it, size))
    }

    async fn read_id(&self, id: &str, range: ByteRange) -> Result<ByteStream> {
        let it = self.client.media_item(id).await?;
        self.client.download(&it, range).await
    }
}
