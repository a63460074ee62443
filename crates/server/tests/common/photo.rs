//! A sample photo for the tests: a small JPEG whose EXIF says a camera, a time, an exposure and a place
//! (Sydney). Shared by the server's unit tests (`house::exif`, `house::thumbs`) and its integration tests.

use std::io::Cursor;

use exif::experimental::Writer;
use exif::{Field, In, Rational, Tag, Value};

/// A small JPEG carrying EXIF (camera, time, exposure and a place in the south-west).
pub fn jpeg_with_exif() -> Vec<u8> {
    let ascii = |tag, s: &str| Field {
        tag,
        ifd_num: In::PRIMARY,
        value: Value::Ascii(vec![s.as_bytes().to_vec()]),
    };
    let rational = |tag, v: &[(u32, u32)]| Field {
        tag,
        ifd_num: In::PRIMARY,
        value: Value::Rational(
            v.iter()
                .map(|&(num, denom)| Rational { num, denom })
                .collect(),
        ),
    };
    let fields = [
        ascii(Tag::Make, "Canon"),
        ascii(Tag::Model, "Canon EOS 5D"),
        ascii(Tag::DateTimeOriginal, "2024:07:14 18:30:05"),
        rational(Tag::ExposureTime, &[(1, 250)]),
        rational(Tag::FNumber, &[(28, 10)]),
        rational(Tag::FocalLength, &[(35, 1)]),
        Field {
            tag: Tag::PhotographicSensitivity,
            ifd_num: In::PRIMARY,
            value: Value::Short(vec![400]),
        },
        ascii(Tag::GPSLatitudeRef, "S"),
        rational(Tag::GPSLatitude, &[(33, 1), (51, 1), (3564, 100)]),
        ascii(Tag::GPSLongitudeRef, "E"),
        rational(Tag::GPSLongitude, &[(151, 1), (12, 1), (3, 1)]),
    ];
    let mut w = Writer::new();
    for f in &fields {
        w.push_field(f);
    }
    let mut tiff = Cursor::new(Vec::new());
    w.write(&mut tiff, false).unwrap();
    let tiff = tiff.into_inner();
    let mut pixels = Vec::new();
    image::RgbImage::from_pixel(32, 24, image::Rgb([200, 120, 40]))
        .write_to(&mut Cursor::new(&mut pixels), image::ImageFormat::Jpeg)
        .unwrap();
    // SOI, then an APP1 "Exif\0\0" segment with the TIFF structure, then the rest of the JPEG.
    let mut out = pixels[..2].to_vec();
    out.extend_from_slice(&[0xFF, 0xE1]);
    out.extend_from_slice(&((tiff.len() + 8) as u16).to_be_bytes());
    out.extend_from_slice(b"Exif\0\0");
    out.extend_from_slice(&tiff);
    out.extend_from_slice(&pixels[2..]);
    out
}
