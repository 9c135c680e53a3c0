//! The Light image pipeline on photo-like originals, one size per benchmark: the
//! original's JPEG bytes in, the Light image's JPEG out (sniffing, decoding within
//! limits, downscaling to 480 px, encoding), single-threaded. Prints each original's and
//! Light image's byte size once, for the README's figures.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use image::{DynamicImage, ImageFormat};
use lightmirror::image::{make, Recipe};

#[path = "../tests/support/pictures.rs"]
mod pictures;

const SIZES: [(u32, u32); 3] = [(800, 533), (1200, 800), (2048, 1365)];

fn pipeline(c: &mut Criterion) {
    let mut group = c.benchmark_group("light_image");
    for greyscale in [false, true] {
        let recipe = Recipe {
            max_width: 480,
            greyscale,
        };
        for (i, (w, h)) in SIZES.iter().enumerate() {
            let photo = DynamicImage::ImageRgb8(pictures::photo(*w, *h, i as u32 + 1));
            let original = pictures::encode(photo, ImageFormat::Jpeg);
            let made = make(&original, recipe, |_| Ok(())).expect("a Light image");
            let name = format!("{w}x{h}{}", if greyscale { " grey" } else { "" });
            println!(
                "{name}: original {} bytes, Light image {}x{} {} bytes",
                original.len(),
                made.width,
                made.height,
                made.jpeg.len()
            );
            group.bench_function(&name, |b| {
                b.iter(|| make(black_box(&original), recipe, |_| Ok(())).map(|m| m.jpeg.len()))
            });
        }
    }
    let chart = pictures::encode(
        DynamicImage::ImageRgba8(pictures::chart(1280, 800)),
        ImageFormat::Png,
    );
    let recipe = Recipe {
        max_width: 480,
        greyscale: false,
    };
    let made = make(&chart, recipe, |_| Ok(())).expect("a Light image");
    println!(
        "chart 1280x800 PNG: original {} bytes, Light image {} bytes",
        chart.len(),
        made.jpeg.len()
    );
    group.bench_function("chart 1280x800 png", |b| {
        b.iter(|| make(black_box(&chart), recipe, |_| Ok(())).map(|m| m.jpeg.len()))
    });
    group.finish();
}

criterion_group!(benches, pipeline);
criterion_main!(benches);
