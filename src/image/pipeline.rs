//! Making a Light image from the original's bytes: the format sniffed from the bytes
//! (never from the upstream's label), the declared dimensions checked before any pixel is
//! decoded, decoding within `image`'s [`Limits`], the EXIF orientation applied,
//! transparency flattened on white, a downscale to the site's width, and a baseline JPEG
//! at [`JPEG_QUALITY`]. CPU work of milliseconds: callers run it on a blocking thread.
//!
//! JPEG, because every browser back to the oldest phones shows it and a pure-Rust encoder
//! ships with `image`; WebP would save about a quarter, but no pure-Rust lossy WebP encoder
//! is maintained, and a lossless one makes photos larger than the originals.

use std::io::Cursor;

use image::codecs::jpeg::JpegEncoder;
use image::{DynamicImage, ImageDecoder, ImageReader, Limits, RgbImage};

use super::ImageError;

/// Most pixels an original may declare: a 16-megapixel photo (4900 × 3265) still passes, a
/// decompression bomb does not. News sites serve photos far smaller than their cameras'.
pub const MAX_PIXELS: u64 = 16_000_000;

/// Widest decoded pixel: 16-bit RGBA.
const MAX_BYTES_PER_PIXEL: u64 = 8;

/// Longest side an original may declare, whatever its area: panoramas and strips pass,
/// a 100000-pixel-wide bomb of one row does not.
pub const MAX_SIDE: u32 = 16_384;

/// JPEG quality of Light images: a 480-pixel news photo comes out at 15 to 25 KB, and
/// text in charts stays legible.
pub const JPEG_QUALITY: u8 = 50;

/// How a site's Light images are made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recipe {
    /// Widest Light image, in pixels.
    pub max_width: u32,
    /// Whether it is greyscale.
    pub greyscale: bool,
}

/// A Light image.
#[derive(Debug, Clone)]
pub struct Made {
    /// The JPEG.
    pub jpeg: Vec<u8>,
    /// Its width and height.
    pub width: u32,
    /// Its height.
    pub height: u32,
}

/// Bytes making an image may hold at once, from what its decoded pixels take: those, and
/// a quarter more for the decoder's own buffers and the scaled copy.
fn making_bytes(decoded: u64) -> u64 {
    decoded.saturating_add(decoded / 4)
}

/// Makes the Light image of `original`. `reserve` is called with the bytes decoding will
/// hold, once the dimensions are read and before any pixel is decoded: the caller charges
/// them to its memory budget, or refuses.
pub fn make(
    original: &[u8],
    recipe: Recipe,
    reserve: impl FnOnce(u64) -> Result<(), ImageError>,
) -> Result<Made, ImageError> {
    let mut reader = ImageReader::new(Cursor::new(original))
        .with_guessed_format()
        .map_err(|e| ImageError::Undecodable(e.to_string()))?;
    let Some(format) = reader.format() else {
        return Err(ImageError::NotAnImage("unknown format".into()));
    };
    reader.limits(limits());
    let mut decoder = reader.into_decoder().map_err(|e| refusal(e, original))?;
    let (width, height) = decoder.dimensions();
    check_dimensions(width, height)?;
    reserve(making_bytes(decoder.total_bytes()))?;
    let orientation = decoder.orientation().ok();
    let mut image = DynamicImage::from_decoder(decoder).map_err(|e| refusal(e, original))?;
    if let Some(orientation) = orientation {
        image.apply_orientation(orientation);
    }
    tracing::debug!(?format, width, height, "making a Light image");
    let scaled = if image.width() > recipe.max_width {
        image.thumbnail(recipe.max_width, u32::MAX)
    } else {
        image
    };
    encode(scaled, recipe.greyscale)
}

/// The decoder's own limits, which hold even where a format's header lies about its size.
fn limits() -> Limits {
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(making_bytes(MAX_PIXELS * MAX_BYTES_PER_PIXEL));
    limits
}

fn check_dimensions(width: u32, height: u32) -> Result<(), ImageError> {
    let pixels = u64::from(width) * u64::from(height);
    if width > MAX_SIDE || height > MAX_SIDE || pixels > MAX_PIXELS {
        return Err(ImageError::TooLarge { width, height });
    }
    if pixels == 0 {
        return Err(ImageError::Undecodable("the image has no pixels".into()));
    }
    Ok(())
}

/// A decoder's error as the reader is told it: a limit hit is the image being too large
/// (its declared dimensions, when the header can be read at all).
fn refusal(error: image::ImageError, original: &[u8]) -> ImageError {
    match error {
        image::ImageError::Limits(_) => {
            let declared = ImageReader::new(Cursor::new(original))
                .with_guessed_format()
                .ok()
                .and_then(|mut r| {
                    r.no_limits();
                    r.into_dimensions().ok()
                });
            let (width, height) = declared.unwrap_or((0, 0));
            ImageError::TooLarge { width, height }
        }
        image::ImageError::Unsupported(e) => ImageError::NotAnImage(e.to_string()),
        other => ImageError::Undecodable(other.to_string()),
    }
}

fn encode(image: DynamicImage, greyscale: bool) -> Result<Made, ImageError> {
    let (width, height) = (image.width(), image.height());
    let flat = flatten_on_white(image);
    let mut jpeg = Vec::with_capacity(32 << 10);
    let mut encoder = JpegEncoder::new_with_quality(&mut jpeg, JPEG_QUALITY);
    let encoded = if greyscale {
        encoder.encode_image(&DynamicImage::ImageRgb8(flat).into_luma8())
    } else {
        encoder.encode_image(&flat)
    };
    encoded.map_err(|e| ImageError::Undecodable(format!("encoding: {e}")))?;
    Ok(Made {
        jpeg,
        width,
        height,
    })
}

/// RGB with transparent pixels laid on white, as a page would show them: dropping the
/// alpha channel instead turns the transparent background of most charts black.
fn flatten_on_white(image: DynamicImage) -> RgbImage {
    if !image.color().has_alpha() {
        return image.into_rgb8();
    }
    let rgba = image.into_rgba8();
    let mut rgb = RgbImage::new(rgba.width(), rgba.height());
    for (out, pixel) in rgb.pixels_mut().zip(rgba.pixels()) {
        let [r, g, b, a] = pixel.0;
        let over = |c: u8| {
            let (c, a) = (u32::from(c), u32::from(a));
            // c·a + 255·(255 − a), over 255, rounded; never above 255.
            ((c * a + 255 * (255 - a) + 127) / 255) as u8
        };
        out.0 = [over(r), over(g), over(b)];
    }
    rgb
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{ImageFormat, Rgba, RgbaImage};

    fn png(image: &DynamicImage) -> Vec<u8> {
        let mut out = Cursor::new(Vec::new());
        image.write_to(&mut out, ImageFormat::Png).unwrap();
        out.into_inner()
    }

    const RECIPE: Recipe = Recipe {
        max_width: 480,
        greyscale: false,
    };

    #[test]
    fn a_wide_image_is_scaled_to_the_width_and_keeps_its_shape() {
        let original = png(&DynamicImage::new_rgb8(1600, 1000));
        let mut reserved = 0;
        let made = make(&original, RECIPE, |bytes| {
            reserved = bytes;
            Ok(())
        })
        .unwrap();
        assert_eq!((made.width, made.height), (480, 300));
        assert_eq!(reserved, 1600 * 1000 * 3 * 5 / 4);
        let back = image::load_from_memory(&made.jpeg).unwrap();
        assert_eq!((back.width(), back.height()), (480, 300));
    }

    #[test]
    fn transparency_becomes_white_and_greyscale_has_one_channel() {
        let clear = DynamicImage::ImageRgba8(RgbaImage::from_pixel(40, 20, Rgba([0, 0, 0, 0])));
        let made = make(&png(&clear), RECIPE, |_| Ok(())).unwrap();
        let back = image::load_from_memory(&made.jpeg).unwrap().into_rgb8();
        assert!(
            back.pixels().all(|p| p.0.iter().all(|&c| c > 245)),
            "not white"
        );
        let grey = Recipe {
            greyscale: true,
            ..RECIPE
        };
        let made = make(&png(&clear), grey, |_| Ok(())).unwrap();
        let back = image::load_from_memory(&made.jpeg).unwrap();
        assert_eq!(back.color(), image::ColorType::L8);
    }

    #[test]
    fn declared_sizes_past_the_limits_are_refused() {
        for (w, h) in [(100_000, 100_000), (20_000, 1), (5000, 5000)] {
            let err = check_dimensions(w, h).unwrap_err();
            assert!(
                matches!(err, ImageError::TooLarge { width, height } if (width, height) == (w, h)),
                "{w}x{h}: {err:?}"
            );
        }
        assert!(check_dimensions(4000, 4000).is_ok());
        assert!(check_dimensions(0, 10).is_err());
    }

    #[test]
    fn what_is_not_an_image_is_refused() {
        let err = make(b"<html>not an image</html>", RECIPE, |_| Ok(())).unwrap_err();
        assert!(matches!(err, ImageError::NotAnImage(_)), "{err:?}");
        let mut cut = png(&DynamicImage::new_rgb8(64, 64));
        cut.truncate(cut.len() / 2);
        assert!(make(&cut, RECIPE, |_| Ok(())).is_err());
        let refused = make(&png(&DynamicImage::new_rgb8(8, 8)), RECIPE, |_| {
            Err(ImageError::Busy)
        });
        assert!(matches!(refused, Err(ImageError::Busy)));
    }
}
