//! The size an image placeholder announces. Once a Light image has been made, the cache
//! knows its exact size and the placeholder says it; before that the size is estimated
//! from the image's `width` and `height` attributes: the dimensions it will have once
//! scaled to the site's `image_width`, times what a pixel of a news photo costs at
//! [`JPEG_QUALITY`](super::JPEG_QUALITY). The original's own byte size says little about
//! the Light image's (a 2 MB original and a 90 KB one both become about 20 KB), so it
//! is not used.

use std::sync::Arc;

use url::Url;

/// The exact sizes of the Light images already made for a site, by source URL.
pub(crate) type ImageSizes = Arc<dyn Fn(&Url) -> Option<u64> + Send + Sync>;

/// Bytes per thousand pixels of a Light image of a photo, colour and greyscale: a little
/// above what real news photos at [`JPEG_QUALITY`](super::JPEG_QUALITY) take, so the
/// estimate errs high. The smoother photo-like test images of `cargo bench --bench image`
/// take 70 to 85 (colour) and 36 to 50 (greyscale).
const COLOUR_BYTES_PER_KILOPIXEL: u64 = 120;
const GREY_BYTES_PER_KILOPIXEL: u64 = 100;

/// What every JPEG carries besides its pixels: markers, quantisation and Huffman tables.
const HEADER_BYTES: u64 = 620;

/// The estimated byte size of the Light image of an image declared `width` × `height`
/// (either may be unknown), made at most `max_width` wide.
pub(crate) fn estimate_bytes(
    width: Option<u32>,
    height: Option<u32>,
    max_width: u32,
    greyscale: bool,
) -> u64 {
    let (w, h) = light_dimensions(width, height, max_width);
    let per_kilopixel = if greyscale {
        GREY_BYTES_PER_KILOPIXEL
    } else {
        COLOUR_BYTES_PER_KILOPIXEL
    };
    HEADER_BYTES + w * h * per_kilopixel / 1000
}

/// Width and height once scaled to `max_width`; an unknown side is taken as a 3:2
/// landscape photo's, the commonest shape in news pages.
fn light_dimensions(width: Option<u32>, height: Option<u32>, max_width: u32) -> (u64, u64) {
    let max = u64::from(max_width);
    let (w, h) = match (width.map(u64::from), height.map(u64::from)) {
        (Some(w), Some(h)) => (w, h),
        (Some(w), None) => (w, w * 2 / 3),
        (None, Some(h)) => (h * 3 / 2, h),
        (None, None) => (max, max * 2 / 3),
    };
    if w > max && w > 0 {
        (max, h * max / w)
    } else {
        (w, h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn estimates_follow_the_scaled_dimensions() {
        let full = estimate_bytes(Some(1600), Some(1000), 480, false);
        assert_eq!(full, estimate_bytes(Some(480), Some(300), 480, false));
        assert!(estimate_bytes(Some(240), Some(150), 480, false) < full / 3);
        assert!(estimate_bytes(Some(1600), Some(1000), 480, true) < full);
        assert_eq!(
            estimate_bytes(None, None, 480, false),
            estimate_bytes(Some(480), Some(320), 480, false)
        );
        assert_eq!(estimate_bytes(Some(0), Some(0), 480, false), HEADER_BYTES);
    }
}
