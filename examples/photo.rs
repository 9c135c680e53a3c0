//! Writes a photo-like JPEG (as news sites serve them, quality 90) to standard output, for
//! `bench/images.sh`: `cargo run --release --example photo -- 1200 800 > photo.jpg`.

#[path = "../tests/support/pictures.rs"]
mod pictures;

use std::io::Write;

fn main() -> std::io::Result<()> {
    let mut args = std::env::args()
        .skip(1)
        .map(|a| a.parse::<u32>().unwrap_or(0));
    let width = args.next().filter(|&w| w > 0).unwrap_or(1200);
    let height = args.next().filter(|&h| h > 0).unwrap_or(800);
    let photo = image::DynamicImage::ImageRgb8(pictures::photo(width, height, 1));
    let jpeg = pictures::encode(photo, image::ImageFormat::Jpeg);
    std::io::stdout().write_all(&jpeg)
}
