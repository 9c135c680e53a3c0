//! Images for tests and benchmarks, made in memory: a photo-like picture (smooth light,
//! shapes with edges, fine grain, as a news photo has) and a chart with a transparent
//! background, encoded as JPEG or PNG.

#![allow(dead_code)]

use std::io::Cursor;

use image::{DynamicImage, ImageFormat, Rgb, RgbImage, Rgba, RgbaImage};

/// A deterministic photo-like picture of `width` × `height`; `seed` varies it.
pub fn photo(width: u32, height: u32, seed: u32) -> RgbImage {
    let mut state = seed.wrapping_mul(2_654_435_761).max(1);
    let mut grain = move || {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        (state % 23) as i32 - 11
    };
    let (w, h) = (width as f32, height as f32);
    let discs: Vec<(f32, f32, f32, [f32; 3])> = (0..9)
        .map(|i| {
            let f = (i as f32 + seed as f32 * 0.37) * 1.618;
            (
                (f * 0.31).fract() * w,
                (f * 0.53).fract() * h * 0.9 + h * 0.1,
                (0.05 + (f * 0.17).fract() * 0.12) * w,
                [(f * 97.0) % 255.0, (f * 53.0) % 255.0, (f * 29.0) % 255.0],
            )
        })
        .collect();
    RgbImage::from_fn(width, height, |x, y| {
        let (fx, fy) = (x as f32, y as f32);
        let horizon = h * 0.45 + (fx / w * 6.0).sin() * h * 0.03;
        let mut c = if fy < horizon {
            [
                90.0 + fy / h * 120.0,
                140.0 + fy / h * 80.0,
                220.0 - fy / h * 40.0,
            ]
        } else {
            [
                70.0 + (fx / w) * 40.0,
                90.0 + ((fx * 0.05).sin() * 10.0),
                60.0,
            ]
        };
        for (cx, cy, r, colour) in &discs {
            let d = ((fx - cx).powi(2) + (fy - cy).powi(2)).sqrt();
            if d < *r {
                let shade = 1.0 - d / r * 0.4;
                c = [colour[0] * shade, colour[1] * shade, colour[2] * shade];
            }
        }
        let g = grain() as f32;
        Rgb(c.map(|v| (v + g).clamp(0.0, 255.0) as u8))
    })
}

/// A bar chart with a transparent background and black axes.
pub fn chart(width: u32, height: u32) -> RgbaImage {
    RgbaImage::from_fn(width, height, |x, y| {
        let bar = (x / (width / 8)) as usize;
        let top = height - height * (bar as u32 + 2) / 10;
        if x < 4 || y > height - 5 {
            Rgba([0, 0, 0, 255])
        } else if x % (width / 8) > width / 32 && y > top {
            Rgba([30, 90, 200, 255])
        } else {
            Rgba([0, 0, 0, 0])
        }
    })
}

/// `image` encoded as `format` (JPEG at quality 90, as sites serve photos).
pub fn encode(image: DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    match format {
        ImageFormat::Jpeg => {
            let encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90);
            image.into_rgb8().write_with_encoder(encoder).unwrap();
        }
        other => image.write_to(&mut out, other).unwrap(),
    }
    out.into_inner()
}

/// A PNG that declares `width` × `height` and carries a few bytes of zlib: a
/// decompression bomb before it is inflated.
pub fn bomb_png(width: u32, height: u32) -> Vec<u8> {
    let mut header = width.to_be_bytes().to_vec();
    header.extend_from_slice(&height.to_be_bytes());
    header.extend_from_slice(&[8, 2, 0, 0, 0]);
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    for (kind, data) in [
        (b"IHDR", header.as_slice()),
        (b"IDAT", &[0x78, 0x9c, 0x63, 0, 0, 0, 1, 0, 1][..]),
        (b"IEND", &[][..]),
    ] {
        let mut chunk = kind.to_vec();
        chunk.extend_from_slice(data);
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        out.extend_from_slice(&chunk);
        out.extend_from_slice(&crc32(&chunk).to_be_bytes());
    }
    out
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}
