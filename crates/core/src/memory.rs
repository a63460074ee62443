//! [`MemoryStorage`]: files held in memory. A backend like any other (it passes the conformance kit), for fast
//! tests of the transfer engine and the server without an emulator, and for scratch remotes.

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures_util::StreamExt;

use crate::entry::{About, Entry};
use crate::error::{Error, ErrorKind, Result};
use crate::path::{file_name, join, normalize, parent};
use crate::storage::{
    ByteRange, ByteStream, Capabilities, DeleteMode, PageStream, Storage, WriteOptions,
};

#[derive(Debug, Clone)]
enum Node {
    Dir(DateTime<Utc>),
    File(Bytes, DateTime<Utc>),
}

/// Files and folders in memory, by normalised path (the root always exists).
#[derive(Debug, Default)]
pub struct MemoryStorage {
    nodes: Mutex<BTreeMap<String, Node>>,
}

const PAGE: usize = 100;

impl MemoryStorage {
    fn nodes(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Node>> {
        self.nodes.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn entry(path: &str, n: &Node) -> Entry {
        match n {
            Node::Dir(t) => Entry {
                modified: Some(*t),
                ..Entry::dir(path)
            },
            Node::File(b, t) => Entry {
                modified: Some(*t),
                mime: Some(crate::mime::guess(file_name(path)).to_string()),
                ..Entry::file(path, b.len() as u64)
            },
        }
    }

    /// The node at `p`, the root being a folder.
    fn get(nodes: &BTreeMap<String, Node>, p: &str) -> Option<Node> {
        if p.is_empty() {
            return Some(Node::Dir(DateTime::<Utc>::UNIX_EPOCH));
        }
        nodes.get(p).cloned()
    }

    fn parent_is_dir(nodes: &BTreeMap<String, Node>, p: &str) -> Result<()> {
        match Self::get(nodes, parent(p)) {
            Some(Node::Dir(_)) => Ok(()),
            Some(Node::File(..)) => Err(Error::new(
                ErrorKind::Conflict,
                format!("{}: not a folder", parent(p)),
            )),
            None => Err(Error::not_found(parent(p)).with_hint("create the folder first (mkdir)")),
        }
    }

    /// Paths strictly below `p`.
    fn below(nodes: &BTreeMap<String, Node>, p: &str) -> Vec<String> {
        let prefix = if p.is_empty() {
            String::new()
        } else {
            format!("{p}/")
        };
        nodes
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .map(|(k, _)| k.clone())
            .collect()
    }
}

#[async_trait]
impl Storage for MemoryStorage {
    fn kind(&self) -> &'static str {
        "memory"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::default()
    }

    fn list<'a>(&'a self, path: &'a str) -> PageStream<'a> {
        let listed = (|| {
            let p = normalize(path)?;
            let nodes = self.nodes();
            match Self::get(&nodes, &p) {
                None => return Err(Error::not_found(&p)),
                Some(Node::File(..)) => {
                    return Err(Error::new(
                        ErrorKind::Conflict,
                        format!("{p}: not a folder"),
                    ));
                }
                Some(Node::Dir(_)) => {}
            }
            Ok(Self::below(&nodes, &p)
                .into_iter()
                .filter(|k| parent(k) == p)
                .map(|k| Self::entry(&k, &nodes[&k]))
                .collect::<Vec<_>>())
        })();
        let pages: Vec<Result<Vec<Entry>>> = match listed {
            Err(e) => vec![Err(e)],
            Ok(all) => all.chunks(PAGE).map(|c| Ok(c.to_vec())).collect(),
        };
        Box::pin(futures_util::stream::iter(pages))
    }

    async fn stat(&self, path: &str) -> Result<Entry> {
        let p = normalize(path)?;
        let nodes = self.nodes();
        Self::get(&nodes, &p)
            .map(|n| Self::entry(&p, &n))
            .ok_or_else(|| Error::not_found(&p))
    }

    async fn read(&self, path: &str, range: ByteRange) -> Result<ByteStream> {
        let p = normalize(path)?;
        let data = match Self::get(&self.nodes(), &p) {
            Some(Node::File(b, _)) => b,
            Some(Node::Dir(_)) => {
                return Err(Error::new(ErrorKind::Conflict, format!("{p}: is a folder")));
            }
            None => return Err(Error::not_found(&p)),
        };
        let (a, b) = range.clamp(data.len() as u64);
        Ok(crate::bytes_stream(
            data.slice(a as usize..b as usize),
            64 * 1024,
        ))
    }

    async fn write(&self, path: &str, mut data: ByteStream, opts: WriteOptions) -> Result<Entry> {
        let p = normalize(path)?;
        if p.is_empty() {
            return Err(Error::invalid("cannot write to the root folder itself"));
        }
        Self::parent_is_dir(&self.nodes(), &p)?;
        let mut buf = Vec::new();
        while let Some(c) = data.next().await {
            buf.extend_from_slice(&c?);
        }
        if let Some(want) = opts.size
            && want != buf.len() as u64
        {
            return Err(Error::new(
                ErrorKind::Corrupt,
                format!("{p}: expected {want} bytes, got {}", buf.len()),
            ));
        }
        let mut nodes = self.nodes();
        Self::parent_is_dir(&nodes, &p)?;
        if let Some(Node::Dir(_)) = nodes.get(&p) {
            return Err(Error::new(
                ErrorKind::AlreadyExists,
                format!("{p}: a folder exists with that name"),
            ));
        }
        let n = Node::File(Bytes::from(buf), opts.modified.unwrap_or_else(Utc::now));
        let e = Self::entry(&p, &n);
        nodes.insert(p, n);
        Ok(e)
    }

    async fn mkdir(&self, path: &str) -> Result<Entry> {
        let p = normalize(path)?;
        let mut nodes = self.nodes();
        let mut at = String::new();
        for comp in p.split('/').filter(|c| !c.is_empty()) {
            at = join(&at, comp);
            match nodes.get(&at) {
                Some(Node::Dir(_)) => {}
                Some(Node::File(..)) => {
                    return Err(Error::new(
                        ErrorKind::AlreadyExists,
                        format!("{at}: a file exists with that name"),
                    ));
                }
                None => {
                    nodes.insert(at.clone(), Node::Dir(Utc::now()));
                }
            }
        }
        Ok(Self::entry(&p, &Self::get(&nodes, &p).expect("made above")))
    }

    async fn copy(&self, from: &str, to: &str) -> Result<Entry> {
        let (a, b) = (normalize(from)?, normalize(to)?);
        let mut nodes = self.nodes();
        let n = match Self::get(&nodes, &a) {
            Some(n @ Node::File(..)) => n,
            Some(Node::Dir(_)) => {
                return Err(Error::invalid(format!(
                    "{a}: server-side copy takes files; copy folders with cp -r"
                )));
            }
            None => return Err(Error::not_found(&a)),
        };
        Self::parent_is_dir(&nodes, &b)?;
        if let Some(Node::Dir(_)) = nodes.get(&b) {
            return Err(Error::new(
                ErrorKind::AlreadyExists,
                format!("{b}: a folder exists with that name"),
            ));
        }
        let e = Self::entry(&b, &n);
        nodes.insert(b, n);
        Ok(e)
    }

    async fn rename(&self, from: &str, to: &str) -> Result<Entry> {
        let (a, b) = (normalize(from)?, normalize(to)?);
        if a.is_empty() || b.is_empty() {
            return Err(Error::invalid("the root cannot be moved"));
        }
        let mut nodes = self.nodes();
        let n = nodes.get(&a).cloned().ok_or_else(|| Error::not_found(&a))?;
        if nodes.contains_key(&b) {
            return Err(
                Error::new(ErrorKind::AlreadyExists, format!("{b}: already exists"))
                    .with_hint("remove it first or choose another name"),
            );
        }
        Self::parent_is_dir(&nodes, &b)
            .map_err(|e| e.with_hint("create the destination folder first"))?;
        if b.starts_with(&format!("{a}/")) {
            return Err(Error::invalid(format!("cannot move {a} into itself")));
        }
        for k in Self::below(&nodes, &a) {
            let moved = format!("{b}{}", &k[a.len()..]);
            if let Some(v) = nodes.remove(&k) {
                nodes.insert(moved, v);
            }
        }
        nodes.remove(&a);
        let e = Self::entry(&b, &n);
        nodes.insert(b, n);
        Ok(e)
    }

    async fn delete(&self, path: &str, mode: DeleteMode) -> Result<()> {
        let p = normalize(path)?;
        if mode == DeleteMode::Trash {
            return Err(Error::unsupported(
                format!("{p}: memory has no trash"),
                "delete permanently (--permanent)",
            ));
        }
        if p.is_empty() {
            return Err(Error::invalid("refusing to delete the root"));
        }
        let mut nodes = self.nodes();
        if nodes.remove(&p).is_none() {
            return Err(Error::not_found(&p));
        }
        for k in Self::below(&nodes, &p) {
            nodes.remove(&k);
        }
        Ok(())
    }

    async fn about(&self) -> Result<About> {
        let used = self
            .nodes()
            .values()
            .map(|n| match n {
                Node::File(b, _) => b.len() as u64,
                Node::Dir(_) => 0,
            })
            .sum();
        Ok(About {
            used: Some(used),
            ..About::default()
        })
    }
}

impl MemoryStorage {
    /// An empty one.
    pub fn new() -> Self {
        Self::default()
    }
}
