//! Thumbnails of images (PNG, JPEG, GIF, WebP): the image is read from its remote (up to [`MAX_SOURCE`]
//! bytes), scaled in a blocking thread to fit a square of one of a few fixed sizes ([`EDGES`]: a request's
//! size is rounded up, so `thumb=N` cannot defeat the cache), sent as JPEG, and kept in a cache bounded in
//! bytes, keyed by path, size and the file's hash or modification time.
//!
//! A thumbnail is pixels only: the encoder writes no metadata, so a photo's EXIF (the place it was taken
//! among it) never reaches a thumbnail, the share pages' included.
//!
//! Decoding is bounded, because a small file can describe a huge image (a 500 KB PNG of 8000×8000 16-bit
//! RGBA decodes to 512 MiB): the dimensions are read before anything is decoded and images past
//! [`MAX_PIXELS`] are refused, every decoder runs under an allocation cap of [`MAX_DECODE_BYTES`], JPEGs are
//! decoded already scaled down (1/2 to 1/8, in the inverse DCT), and at most [`DECODES_AT_ONCE`] images
//! are read and decoded at a time.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use bytes::Bytes;
use cloudmux_core::{ByteRange, Entry, Error, ErrorKind, Result};
use futures_util::StreamExt;

use crate::house::tree::Tree;

/// Images larger than this are not thumbnailed (the page shows an icon instead).
pub const MAX_SOURCE: u64 = 40 * 1024 * 1024;
/// The thumbnail sizes made; a request is rounded up to the next one.
pub const EDGES: [u32; 4] = [64, 128, 256, 512];
/// The largest thumbnail edge.
pub const MAX_EDGE: u32 = 512;
/// Images with more pixels than this are not decoded.
pub const MAX_PIXELS: u64 = 100_000_000;
/// What one decode may allocate.
pub const MAX_DECODE_BYTES: u64 = 64 * 1024 * 1024;
/// Images read and decoded at once (each may hold [`MAX_SOURCE`] + [`MAX_DECODE_BYTES`]).
pub const DECODES_AT_ONCE: usize = 2;
/// The cache's budget, in bytes of JPEG.
pub const CACHE_BYTES: usize = 32 * 1024 * 1024;

/// Whether a name looks like an image this module can read.
pub fn is_image(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    [".png", ".jpg", ".jpeg", ".gif", ".webp"]
        .iter()
        .any(|e| n.ends_with(e))
}

/// The size made for a request of `edge` pixels.
pub fn round_edge(edge: u32) -> u32 {
    EDGES
        .iter()
        .copied()
        .find(|e| *e >= edge)
        .unwrap_or(MAX_EDGE)
}

fn unreadable(e: impl std::fmt::Display) -> Error {
    Error::invalid(format!("not an image this server can read: {e}"))
}

fn too_big(w: u64, h: u64) -> Error {
    Error::new(
        ErrorKind::Unsupported,
        format!("{w}×{h} pixels is too large for a thumbnail"),
    )
}

/// Decodes a JPEG already scaled to about `edge` pixels, under the allocation cap.
fn decode_jpeg(data: &[u8], edge: u32) -> Result<image::DynamicImage> {
    use jpeg_decoder::PixelFormat;
    let mut d = jpeg_decoder::Decoder::new(std::io::Cursor::new(data));
    d.set_max_decoding_buffer_size(MAX_DECODE_BYTES as usize);
    d.read_info().map_err(unreadable)?;
    let info = d.info().ok_or_else(|| unreadable("no header"))?;
    let (w, h) = (info.width as u64, info.height as u64);
    if w * h > MAX_PIXELS {
        return Err(too_big(w, h));
    }
    let (sw, sh) = d.scale(edge as u16, edge as u16).map_err(unreadable)?;
    let px = d.decode().map_err(unreadable)?;
    let (sw, sh) = (sw as u32, sh as u32);
    let img = match info.pixel_format {
        PixelFormat::L8 => image::GrayImage::from_raw(sw, sh, px).map(image::DynamicImage::from),
        PixelFormat::RGB24 => image::RgbImage::from_raw(sw, sh, px).map(image::DynamicImage::from),
        PixelFormat::L16 => {
            let v: Vec<u16> = px
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect();
            image::ImageBuffer::<image::Luma<u16>, _>::from_raw(sw, sh, v)
                .map(image::DynamicImage::from)
        }
        PixelFormat::CMYK32 => {
            // Adobe's CMYK JPEGs store the channels inverted: C' = 255 - C, and so on.
            let rgb: Vec<u8> = px
                .chunks_exact(4)
                .flat_map(|c| {
                    let k = c[3] as u32;
                    [c[0], c[1], c[2]].map(|x| (x as u32 * k / 255) as u8)
                })
                .collect();
            image::RgbImage::from_raw(sw, sh, rgb).map(image::DynamicImage::from)
        }
    };
    img.ok_or_else(|| unreadable("decoded size does not match"))
}

/// Decodes a PNG, GIF or WebP after checking its dimensions, under the allocation cap.
fn decode_limited(data: &[u8]) -> Result<image::DynamicImage> {
    let limits = || {
        let mut l = image::Limits::default();
        l.max_alloc = Some(MAX_DECODE_BYTES);
        l
    };
    let reader = |l| {
        let mut r = image::ImageReader::new(std::io::Cursor::new(data))
            .with_guessed_format()
            .map_err(unreadable)?;
        r.limits(l);
        Ok::<_, Error>(r)
    };
    let (w, h) = reader(limits())?.into_dimensions().map_err(unreadable)?;
    if w as u64 * h as u64 > MAX_PIXELS {
        return Err(too_big(w as u64, h as u64));
    }
    reader(limits())?.decode().map_err(|e| match e {
        image::ImageError::Limits(_) => too_big(w as u64, h as u64),
        e => unreadable(e),
    })
}

/// Scales `data` (an encoded image) to fit `edge`×`edge` and encodes it as JPEG.
pub fn scale(data: &[u8], edge: u32) -> Result<Vec<u8>> {
    let img = if data.starts_with(&[0xff, 0xd8, 0xff]) {
        decode_jpeg(data, edge)?
    } else {
        decode_limited(data)?
    };
    let small = img.thumbnail(edge, edge).to_rgb8();
    let mut out = std::io::Cursor::new(Vec::new());
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 80)
        .encode_image(&small)
        .map_err(|e| Error::new(ErrorKind::Other, format!("encoding the thumbnail: {e}")))?;
    Ok(out.into_inner())
}

/// Recently made thumbnails (least recently made first out, within [`CACHE_BYTES`]).
#[derive(Default)]
struct Cache {
    map: HashMap<String, Bytes>,
    order: VecDeque<String>,
    bytes: usize,
}

impl Cache {
    fn put(&mut self, key: String, jpeg: Bytes) {
        if jpeg.len() > CACHE_BYTES || self.map.contains_key(&key) {
            return;
        }
        while self.bytes + jpeg.len() > CACHE_BYTES {
            let Some(old) = self.order.pop_front() else {
                break;
            };
            if let Some(b) = self.map.remove(&old) {
                self.bytes -= b.len();
            }
        }
        self.bytes += jpeg.len();
        self.map.insert(key.clone(), jpeg);
        self.order.push_back(key);
    }
}

/// Recently made thumbnails and the decoding budget.
pub struct Thumbs {
    cache: Mutex<Cache>,
    decodes: tokio::sync::Semaphore,
}

impl Default for Thumbs {
    fn default() -> Self {
        Thumbs {
            cache: Mutex::default(),
            decodes: tokio::sync::Semaphore::new(DECODES_AT_ONCE),
        }
    }
}

impl std::fmt::Debug for Thumbs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Thumbs").finish_non_exhaustive()
    }
}

impl Thumbs {
    /// The thumbnail of the file `e` at tree path `path`, fitting one of [`EDGES`] at least `edge` wide.
    pub async fn get(&self, tree: &Tree, path: &str, e: &Entry, edge: u32) -> Result<Bytes> {
        let edge = round_edge(edge);
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
        let cached = |c: &Mutex<Cache>| {
            c.lock()
                .unwrap_or_else(|p| p.into_inner())
                .map
                .get(&key)
                .cloned()
        };
        if let Some(b) = cached(&self.cache) {
            return Ok(b);
        }
        let _permit = self
            .decodes
            .acquire()
            .await
            .map_err(|_| Error::new(ErrorKind::Other, "thumbnails are shut down"))?;
        // Another request may have made it while this one waited.
        if let Some(b) = cached(&self.cache) {
            return Ok(b);
        }
        let mut data = Vec::with_capacity(size.min(MAX_SOURCE) as usize);
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
        self.cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .put(key, jpeg.clone());
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

    #[test]
    fn jpegs_are_decoded_scaled_down() {
        let img = image::RgbImage::from_fn(2000, 1000, |x, y| {
            image::Rgb([(x % 256) as u8, (y % 256) as u8, 90])
        });
        let mut jpg = std::io::Cursor::new(Vec::new());
        img.write_to(&mut jpg, image::ImageFormat::Jpeg).unwrap();
        let t = scale(jpg.get_ref(), 256).unwrap();
        let back = image::load_from_memory(&t).unwrap();
        assert_eq!((back.width(), back.height()), (256, 128));
    }

    #[test]
    fn a_thumbnail_carries_no_exif_and_so_no_place() {
        let photo = crate::house::exif::photo::jpeg_with_exif();
        assert!(crate::house::exif::parse(photo.clone().into(), true).has_location);
        let t = scale(&photo, 64).unwrap();
        assert!(
            !t.windows(6).any(|w| w == b"Exif\0\0"),
            "a thumbnail kept the EXIF segment"
        );
        assert_eq!(
            crate::house::exif::parse(t.into(), true),
            Default::default()
        );
    }

    #[test]
    fn sizes_are_rounded_to_a_few() {
        assert_eq!(round_edge(1), 64);
        assert_eq!(round_edge(65), 128);
        assert_eq!(round_edge(512), 512);
        assert_eq!(round_edge(100_000), 512);
    }

    #[test]
    fn a_decompression_bomb_is_refused_before_decoding() {
        // 4200×4200 16-bit RGBA: 135 MiB decoded, under a megabyte as PNG.
        let img: image::ImageBuffer<image::Rgba<u16>, Vec<u16>> =
            image::ImageBuffer::new(4200, 4200);
        let mut png = std::io::Cursor::new(Vec::new());
        img.write_to(&mut png, image::ImageFormat::Png).unwrap();
        assert!(png.get_ref().len() < 1024 * 1024, "{}", png.get_ref().len());
        let e = scale(png.get_ref(), 64).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
        // Past the pixel count, nothing is even tried.
        let header = {
            let img = image::GrayImage::new(1, 1);
            let mut png = std::io::Cursor::new(Vec::new());
            img.write_to(&mut png, image::ImageFormat::Png).unwrap();
            let mut b = png.into_inner();
            // Width and height live at bytes 16..24 of the IHDR chunk.
            b[16..20].copy_from_slice(&20_000u32.to_be_bytes());
            b[20..24].copy_from_slice(&20_000u32.to_be_bytes());
            // The chunk's CRC-32 covers its type and data (bytes 12..29).
            let crc = !b[12..29].iter().fold(!0u32, |mut c, &x| {
                c ^= x as u32;
                for _ in 0..8 {
                    c = if c & 1 != 0 {
                        (c >> 1) ^ 0xEDB8_8320
                    } else {
                        c >> 1
                    };
                }
                c
            });
            b[29..33].copy_from_slice(&crc.to_be_bytes());
            b
        };
        let e = scale(&header, 64).unwrap_err();
        assert!(e.to_string().contains("20000×20000"), "{e}");
    }

    #[test]
    fn the_cache_keeps_to_its_budget() {
        let mut c = Cache::default();
        for i in 0..100 {
            c.put(format!("k{i}"), Bytes::from(vec![0u8; CACHE_BYTES / 10]));
        }
        assert!(c.bytes <= CACHE_BYTES);
        assert_eq!(c.map.len(), 10);
        assert!(c.map.contains_key("k99") && !c.map.contains_key("k0"));
    }
}
