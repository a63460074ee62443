//! Thumbnails of images (PNG, JPEG, GIF, WebP): the image is read from its remote (up to
//! [`MAX_SOURCE`] bytes), scaled to fit a square of the asked size in a blocking thread, sent as JPEG, and
//! kept in a small in-memory cache keyed by path, size and the file's hash or modification time.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use bytes::Bytes;
use cloudmux_core::{ByteRange, Entry, Error, ErrorKind, Result};
use futures_util::StreamExt;

use crate::mount::Tree;

/// Images larger than this are not thumbnailed (the page shows an icon instead).
pub const MAX_SOURCE: u64 = 40 * 1024 * 1024;
/// The largest thumbnail edge.
pub const MAX_EDGE: u32 = 512;
const CACHE_ENTRIES: usize = 512;

/// Whether a name looks like an image this module can read.
pub fn is_image(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    [".png", ".jpg", ".jpeg", ".gif", ".webp"]
        .iter()
        .any(|e| n.ends_with(e))
}

/// Scales `data` (an encoded image) to fit `edge`×`edge` and encodes it as JPEG.
pub fn scale(data: &[u8], edge: u32) -> Result<Vec<u8>> {
    let img = image::load_from_memory(data)
        .map_err(|e| Error::invalid(format!("not an image this server can read: {e}")))?;
    let small = img.thumbnail(edge, edge).to_rgb8();
    let mut out = std::io::Cursor::new(Vec::new());
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 80)
        .encode_image(&small)
        .map_err(|e| Error::new(ErrorKind::Other, format!("encoding the thumbnail: {e}")))?;
    Ok(out.into_inner())
}

/// Recently made thumbnails.
#[derive(Default)]
pub struct Thumbs {
    cache: Mutex<(HashMap<String, Bytes>, VecDeque<String>)>,
}

impl std::fmt::Debug for Thumbs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Thumbs").finish_non_exhaustive()
    }
}

impl Thumbs {
    /// The thumbnail of the file `e` at tree path `path`, at most `edge` pixels wide and high.
    pub async fn get(&self, tree: &Tree, path: &str, e: &Entry, edge: u32) -> Result<Bytes> {
        let edge = edge.clamp(16, MAX_EDGE);
        if !is_image(&e.name) {
            return Err(Error::invalid(format!("{}: not an image", e.name)));
        }
        let size = e.size.unwrap_or(0);
        if size > MAX_SOURCE {
            return Err(Error::new(
                ErrorKind::Unsupported,
                format!("{}: too large for a thumbnail ({size} bytes)", e.name),
            ));
        }
        let version = e
            .hashes
            .md5
            .clone()
            .or_else(|| e.modified.map(|m| m.to_rfc3339()))
            .unwrap_or_default();
        let key = format!("{path}|{edge}|{size}|{version}");
        if let Some(b) = self.cache.lock().unwrap().0.get(&key) {
            return Ok(b.clone());
        }
        let mut data = Vec::with_capacity(size as usize);
        let mut s = tree.read(path, ByteRange::all()).await?;
        while let Some(c) = s.next().await {
            let c = c?;
            if data.len() as u64 + c.len() as u64 > MAX_SOURCE {
                return Err(Error::new(
                    ErrorKind::Unsupported,
                    format!("{}: too large for a thumbnail", e.name),
                ));
            }
            data.extend_from_slice(&c);
        }
        let jpeg = tokio::task::spawn_blocking(move || scale(&data, edge))
            .await
            .map_err(|e| Error::new(ErrorKind::Other, e.to_string()))??;
        let jpeg = Bytes::from(jpeg);
        let mut c = self.cache.lock().unwrap();
        if c.1.len() >= CACHE_ENTRIES
            && let Some(old) = c.1.pop_front()
        {
            c.0.remove(&old);
        }
        c.0.insert(key.clone(), jpeg.clone());
        c.1.push_back(key);
        Ok(jpeg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scales_to_fit_and_keeps_the_shape() {
        let img = image::RgbImage::from_fn(300, 120, |x, _| image::Rgb([(x % 256) as u8, 10, 200]));
        let mut png = std::io::Cursor::new(Vec::new());
        img.write_to(&mut png, image::ImageFormat::Png).unwrap();
        let t = scale(png.get_ref(), 100).unwrap();
        let back = image::load_from_memory(&t).unwrap();
        assert_eq!((back.width(), back.height()), (100, 40));
        assert!(scale(b"not an image", 64).is_err());
        assert!(is_image("A.JPG") && !is_image("a.txt"));
    }
}
