//! A folder as a ZIP archive, written as it streams: no temporary file, memory of one chunk of the file
//! being sent plus a central-directory record per entry.
//!
//! Entries are stored (no compression: most of what people keep in cloud drives is compressed already,
//! and a stored entry costs no CPU), each followed by a data descriptor since its CRC-32 is known only
//! after its bytes went out, with ZIP64 sizes and offsets throughout so any size works; names are UTF-8
//! (flag 11). Any unzip tool, Windows' and macOS' included, reads the result.

use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};
use cloudmux_core::{ByteRange, Error, ErrorKind, Result};
use futures_util::StreamExt;

use crate::house::tree::Tree;

/// Files one archive may hold.
pub const MAX_FILES: usize = 10_000;
/// Folders walked for one archive.
pub const MAX_FOLDERS: usize = 2_000;

/// One entry of an archive: its path inside it and, for a file, its tree path.
#[derive(Debug, Clone)]
pub struct Item {
    /// Path in the archive (`a/b.txt`, folders end in `/`).
    pub name: String,
    /// The file's tree path (`None` for a folder).
    pub file: Option<String>,
    /// Modified, for the entry's DOS time.
    pub modified: Option<chrono::DateTime<chrono::Utc>>,
}

/// Everything below the tree path `root`, folders first in each folder, named relative to `top`
/// (the archive's top folder name).
pub async fn plan(tree: &Tree, root: &str, top: &str) -> Result<Vec<Item>> {
    let mut out = vec![Item {
        name: format!("{top}/"),
        file: None,
        modified: None,
    }];
    let mut folders = vec![(root.to_string(), format!("{top}/"))];
    let mut walked = 0;
    while let Some((dir, prefix)) = folders.pop() {
        walked += 1;
        if walked > MAX_FOLDERS {
            return Err(too_big());
        }
        for e in tree.list(&dir).await?.iter() {
            let name = format!("{prefix}{}", e.name);
            // A ZIP keeps a name's length in 16 bits; deeper than that is refused, never cut.
            if name.len() + 1 > u16::MAX as usize {
                return Err(Error::invalid(format!(
                    "{name:.80}…: a path too long for a ZIP archive"
                ))
                .with_hint("download that folder's subfolders one by one"));
            }
            if e.is_dir {
                out.push(Item {
                    name: format!("{name}/"),
                    file: None,
                    modified: e.modified,
                });
                folders.push((e.path.clone(), format!("{name}/")));
            } else {
                out.push(Item {
                    name,
                    file: Some(e.path.clone()),
                    modified: e.modified,
                });
            }
            if out.len() > MAX_FILES {
                return Err(too_big());
            }
        }
    }
    Ok(out)
}

fn too_big() -> Error {
    Error::new(
        ErrorKind::InvalidInput,
        format!("a folder of more than {MAX_FILES} entries or {MAX_FOLDERS} folders is not zipped"),
    )
    .with_hint("download its subfolders one by one, or use WebDAV or the CLI")
}

/// DOS date and time of `t` (1980 at the earliest).
fn dos_time(t: Option<chrono::DateTime<chrono::Utc>>) -> (u16, u16) {
    use chrono::{Datelike, Timelike};
    let t = t.unwrap_or_else(chrono::Utc::now);
    if t.year() < 1980 {
        return (0, (1 << 5) | 1);
    }
    let time = ((t.hour() as u16) << 11) | ((t.minute() as u16) << 5) | (t.second() as u16 / 2);
    let date =
        (((t.year() - 1980).min(127) as u16) << 9) | ((t.month() as u16) << 5) | t.day() as u16;
    (time, date)
}

/// What the central directory needs of a written entry.
struct Written {
    name: String,
    time: (u16, u16),
    crc: u32,
    size: u64,
    offset: u64,
    dir: bool,
}

const FLAGS: u16 = 0x0808; // data descriptor follows, UTF-8 name
const VERSION: u16 = 45; // ZIP64

fn local_header(name: &str, time: (u16, u16)) -> Bytes {
    let mut b = BytesMut::with_capacity(30 + name.len() + 20);
    b.put_u32_le(0x0403_4b50);
    b.put_u16_le(VERSION);
    b.put_u16_le(FLAGS);
    b.put_u16_le(0); // stored
    b.put_u16_le(time.0);
    b.put_u16_le(time.1);
    b.put_u32_le(0); // CRC-32: in the descriptor
    b.put_u32_le(0xFFFF_FFFF);
    b.put_u32_le(0xFFFF_FFFF);
    b.put_u16_le(name.len() as u16);
    b.put_u16_le(20);
    b.put_slice(name.as_bytes());
    b.put_u16_le(0x0001); // ZIP64 extra: sizes in the descriptor
    b.put_u16_le(16);
    b.put_u64_le(0);
    b.put_u64_le(0);
    b.freeze()
}

fn descriptor(crc: u32, size: u64) -> Bytes {
    let mut b = BytesMut::with_capacity(24);
    b.put_u32_le(0x0807_4b50);
    b.put_u32_le(crc);
    b.put_u64_le(size);
    b.put_u64_le(size);
    b.freeze()
}

fn central(entries: &[Written], cd_offset: u64) -> Bytes {
    let mut b = BytesMut::new();
    for w in entries {
        b.put_u32_le(0x0201_4b50);
        b.put_u16_le(VERSION | (3 << 8)); // made by: Unix
        b.put_u16_le(VERSION);
        b.put_u16_le(FLAGS);
        b.put_u16_le(0);
        b.put_u16_le(w.time.0);
        b.put_u16_le(w.time.1);
        b.put_u32_le(w.crc);
        b.put_u32_le(0xFFFF_FFFF);
        b.put_u32_le(0xFFFF_FFFF);
        b.put_u16_le(w.name.len() as u16);
        b.put_u16_le(28);
        b.put_u16_le(0); // comment
        b.put_u16_le(0); // disk
        b.put_u16_le(0); // internal attributes
        let mode: u32 = if w.dir { 0o040755 } else { 0o100644 };
        b.put_u32_le((mode << 16) | if w.dir { 0x10 } else { 0 });
        b.put_u32_le(0xFFFF_FFFF);
        b.put_slice(w.name.as_bytes());
        b.put_u16_le(0x0001);
        b.put_u16_le(24);
        b.put_u64_le(w.size);
        b.put_u64_le(w.size);
        b.put_u64_le(w.offset);
    }
    let cd_size = b.len() as u64;
    let eocd64 = cd_offset + cd_size;
    b.put_u32_le(0x0606_4b50);
    b.put_u64_le(44);
    b.put_u16_le(VERSION | (3 << 8));
    b.put_u16_le(VERSION);
    b.put_u32_le(0);
    b.put_u32_le(0);
    b.put_u64_le(entries.len() as u64);
    b.put_u64_le(entries.len() as u64);
    b.put_u64_le(cd_size);
    b.put_u64_le(cd_offset);
    b.put_u32_le(0x0706_4b50);
    b.put_u32_le(0);
    b.put_u64_le(eocd64);
    b.put_u32_le(1);
    b.put_u32_le(0x0605_4b50);
    b.put_u16_le(0);
    b.put_u16_le(0);
    b.put_u16_le(0xFFFF);
    b.put_u16_le(0xFFFF);
    b.put_u32_le(0xFFFF_FFFF);
    b.put_u32_le(0xFFFF_FFFF);
    b.put_u16_le(0);
    b.freeze()
}

/// The archive of `items` as a stream of bytes. A file that fails to read ends the stream with an error
/// (the client sees a cut download, never a silently short archive).
pub fn stream(
    tree: Arc<Tree>,
    items: Vec<Item>,
) -> impl futures_util::Stream<Item = std::result::Result<Bytes, std::io::Error>> + Send {
    let (tx, rx) = tokio::sync::mpsc::channel::<std::result::Result<Bytes, std::io::Error>>(4);
    tokio::spawn(async move {
        let mut offset = 0u64;
        let mut written = Vec::with_capacity(items.len());
        let send = |b: Bytes| {
            let tx = tx.clone();
            async move { tx.send(Ok(b)).await.is_ok() }
        };
        for it in items {
            let time = dos_time(it.modified);
            let head = local_header(&it.name, time);
            let start = offset;
            offset += head.len() as u64;
            if !send(head).await {
                return;
            }
            let mut crc = crc32fast::Hasher::new();
            let mut size = 0u64;
            if let Some(file) = &it.file {
                let mut body = match tree.read(file, ByteRange::all()).await {
                    Ok(s) => s,
                    Err(e) => {
                        let _ = tx.send(Err(std::io::Error::other(e.to_string()))).await;
                        return;
                    }
                };
                while let Some(chunk) = body.next().await {
                    match chunk {
                        Ok(c) => {
                            crc.update(&c);
                            size += c.len() as u64;
                            if !send(c).await {
                                return;
                            }
                        }
                        Err(e) => {
                            let _ = tx.send(Err(std::io::Error::other(e.to_string()))).await;
                            return;
                        }
                    }
                }
            }
            let crc = crc.finalize();
            let d = descriptor(crc, size);
            offset += size + d.len() as u64;
            if !send(d).await {
                return;
            }
            written.push(Written {
                name: it.name,
                time,
                crc,
                size,
                offset: start,
                dir: it.file.is_none(),
            });
        }
        let _ = send(central(&written, offset)).await;
    });
    tokio_stream_from(rx)
}

fn tokio_stream_from<T: Send + 'static>(
    mut rx: tokio::sync::mpsc::Receiver<T>,
) -> impl futures_util::Stream<Item = T> + Send {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dos_times() {
        let t = chrono::DateTime::parse_from_rfc3339("2024-03-05T10:20:31Z")
            .unwrap()
            .to_utc();
        let (time, date) = dos_time(Some(t));
        assert_eq!(time >> 11, 10);
        assert_eq!((time >> 5) & 63, 20);
        assert_eq!(time & 31, 15);
        assert_eq!(date >> 9, 44);
        assert_eq!((date >> 5) & 15, 3);
        assert_eq!(date & 31, 5);
        let old = chrono::DateTime::parse_from_rfc3339("1970-01-01T00:00:00Z")
            .unwrap()
            .to_utc();
        assert_eq!(dos_time(Some(old)), (0, 33));
    }
}
