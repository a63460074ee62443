//! What a photo's EXIF says (camera, lens, date taken, exposure, place) for the page's viewer, read with
//! `kamadak-exif` from the first [`MAX_BYTES`] of the file (where JPEG, PNG and most WebP cameras write
//! it; a file whose EXIF starts later has none as far as this module is concerned).
//!
//! The place a photo was taken says where someone lives: [`Photo::location`] is filled only when the
//! caller says the reader may see it (the file's owner or an admin — never a share link's holder), and
//! thumbnails never carry it (they are re-encoded pixels, with no metadata at all).

use std::io::Cursor;

use bytes::Bytes;
use cloudmux_core::{ByteRange, Error, Result};
use exif::{In, Tag, Value};
use futures_util::TryStreamExt;
use serde::Serialize;

use crate::house::tree::Tree;

/// The most of a file read to find its EXIF.
pub const MAX_BYTES: u64 = 256 * 1024;

/// A photo's EXIF as the viewer shows it; every field is optional (cameras write what they write).
#[derive(Debug, Default, Clone, PartialEq, Serialize)]
pub struct Photo {
    /// Maker and model, e.g. "Canon EOS 5D".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub camera: Option<String>,
    /// The lens model.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lens: Option<String>,
    /// When it was taken, as the camera wrote it (`YYYY-MM-DDTHH:MM:SS`, the camera's own clock).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub taken: Option<String>,
    /// Exposure time, e.g. "1/250 s".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exposure: Option<String>,
    /// Aperture, e.g. "f/2.8".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aperture: Option<String>,
    /// ISO speed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iso: Option<u32>,
    /// Focal length, e.g. "35 mm".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub focal_length: Option<String>,
    /// Whether the file says where it was taken (told even when the place is withheld).
    pub has_location: bool,
    /// Latitude and longitude in degrees (north and east positive): only for readers allowed to see it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<[f64; 2]>,
}

/// Reads the EXIF of the file at `full` (bounded to [`MAX_BYTES`]); `location` says whether the place
/// may be given. A file without EXIF (or not an image) gives an empty [`Photo`].
pub async fn of(tree: &Tree, full: &str, location: bool) -> Result<Photo> {
    let e = tree.stat_for_read(full).await?;
    if e.is_dir {
        return Err(Error::invalid("a folder has no EXIF"));
    }
    let len = e.size.map_or(MAX_BYTES, |s| s.min(MAX_BYTES));
    if len == 0 {
        return Ok(Photo::default());
    }
    let mut buf = Vec::with_capacity(len as usize);
    let mut data = tree.read(full, ByteRange::new(0, Some(len))).await?;
    while let Some(chunk) = data.try_next().await? {
        let room = MAX_BYTES as usize - buf.len();
        buf.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if buf.len() as u64 >= MAX_BYTES {
            break;
        }
    }
    Ok(parse(Bytes::from(buf), location))
}

/// The EXIF in the start of a file (`location`: whether to give the place).
pub fn parse(head: Bytes, location: bool) -> Photo {
    let Ok(exif) = exif::Reader::new().read_from_container(&mut Cursor::new(head.as_ref())) else {
        return Photo::default();
    };
    let field = |tag| exif.get_field(tag, In::PRIMARY).map(|f| &f.value);
    let text = |tag| match field(tag) {
        Some(Value::Ascii(parts)) => parts
            .first()
            .map(|p| {
                String::from_utf8_lossy(p)
                    .trim()
                    .trim_end_matches('\0')
                    .to_string()
            })
            .filter(|s| !s.is_empty() && s.len() <= 200),
        _ => None,
    };
    let ratio = |tag| match field(tag) {
        Some(Value::Rational(v)) => v.first().filter(|r| r.denom != 0).map(|r| r.to_f64()),
        _ => None,
    };
    let camera = match (text(Tag::Make), text(Tag::Model)) {
        // Many cameras repeat the maker in the model ("Canon" + "Canon EOS 5D").
        (Some(make), Some(model)) if model.to_lowercase().starts_with(&make.to_lowercase()) => {
            Some(model)
        }
        (Some(make), Some(model)) => Some(format!("{make} {model}")),
        (a, b) => a.or(b),
    };
    let taken = text(Tag::DateTimeOriginal)
        .or_else(|| text(Tag::DateTime))
        .and_then(|t| iso_time(&t));
    let exposure = ratio(Tag::ExposureTime).filter(|s| *s > 0.0).map(|s| {
        if s < 1.0 {
            format!("1/{} s", (1.0 / s).round())
        } else {
            format!("{} s", (s * 10.0).round() / 10.0)
        }
    });
    let aperture = ratio(Tag::FNumber)
        .filter(|f| *f > 0.0)
        .map(|f| format!("f/{}", (f * 10.0).round() / 10.0));
    let focal_length = ratio(Tag::FocalLength)
        .filter(|f| *f > 0.0)
        .map(|f| format!("{} mm", (f * 10.0).round() / 10.0));
    let iso = field(Tag::PhotographicSensitivity).and_then(|v| v.get_uint(0));
    let place = gps(&exif);
    Photo {
        camera,
        lens: text(Tag::LensModel),
        taken,
        exposure,
        aperture,
        iso,
        focal_length,
        has_location: place.is_some(),
        location: place.filter(|_| location),
    }
}

/// EXIF's `YYYY:MM:DD HH:MM:SS` as `YYYY-MM-DDTHH:MM:SS` (None when it is not that shape).
fn iso_time(t: &str) -> Option<String> {
    let b = t.as_bytes();
    let shape = b.len() >= 19
        && b[..19].iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b':',
            10 => *c == b' ',
            13 | 16 => *c == b':',
            _ => c.is_ascii_digit(),
        });
    shape.then(|| format!("{}-{}-{}T{}", &t[..4], &t[5..7], &t[8..10], &t[11..19]))
}

/// Latitude and longitude from the GPS fields (degrees, minutes, seconds and a hemisphere letter).
fn gps(exif: &exif::Exif) -> Option<[f64; 2]> {
    let degrees = |tag, reference, negative: u8| {
        let Value::Rational(v) = &exif.get_field(tag, In::PRIMARY)?.value else {
            return None;
        };
        if v.len() < 3 || v.iter().any(|r| r.denom == 0) {
            return None;
        }
        let d = v[0].to_f64() + v[1].to_f64() / 60.0 + v[2].to_f64() / 3600.0;
        let sign = match &exif.get_field(reference, In::PRIMARY)?.value {
            Value::Ascii(parts) if parts.first().and_then(|p| p.first()) == Some(&negative) => -1.0,
            _ => 1.0,
        };
        Some(sign * d)
    };
    let lat = degrees(Tag::GPSLatitude, Tag::GPSLatitudeRef, b'S')?;
    let lon = degrees(Tag::GPSLongitude, Tag::GPSLongitudeRef, b'W')?;
    ((-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lon)).then_some([lat, lon])
}

/// The sample photo the tests share with the server's integration tests.
#[cfg(test)]
#[path = "../../tests/common/photo.rs"]
pub(crate) mod photo;

#[cfg(test)]
mod tests {
    use super::photo::jpeg_with_exif;
    use super::*;

    #[test]
    fn a_photos_exif_is_read_and_its_place_given_only_when_allowed() {
        let file = Bytes::from(jpeg_with_exif());
        let p = parse(file.clone(), true);
        assert_eq!(p.camera.as_deref(), Some("Canon EOS 5D"));
        assert_eq!(p.taken.as_deref(), Some("2024-07-14T18:30:05"));
        assert_eq!(p.exposure.as_deref(), Some("1/250 s"));
        assert_eq!(p.aperture.as_deref(), Some("f/2.8"));
        assert_eq!(p.focal_length.as_deref(), Some("35 mm"));
        assert_eq!(p.iso, Some(400));
        assert!(p.has_location);
        let [lat, lon] = p.location.unwrap();
        assert!(
            (lat + 33.8599).abs() < 1e-3 && (lon - 151.2008).abs() < 1e-3,
            "{lat} {lon}"
        );
        let hidden = parse(file, false);
        assert!(hidden.has_location && hidden.location.is_none());
        assert_eq!(hidden.camera, p.camera);
        let json = serde_json::to_string(&hidden).unwrap();
        assert!(!json.contains("location\":["), "{json}");
    }

    #[test]
    fn no_exif_and_not_an_image_give_nothing() {
        assert_eq!(parse(Bytes::from_static(b"hello"), true), Photo::default());
        let mut plain = Vec::new();
        image::RgbImage::new(4, 4)
            .write_to(&mut Cursor::new(&mut plain), image::ImageFormat::Png)
            .unwrap();
        assert_eq!(parse(Bytes::from(plain), true), Photo::default());
        assert_eq!(iso_time("2024:07:14"), None);
        assert_eq!(iso_time("2024-07-14 18:30:05"), None);
    }
}
