//! `sweep augment-preview`: a PNG grid of augmented training images, so users see what a set does.

use std::path::Path;

use anyhow::Context;

use super::Prepared;
use super::augment::{self, Op};

/// Renders `images` training images (one per class in turn): the original in the first column,
/// then the augmented version of epochs 1 to `columns`, each tile scaled up `scale` times.
pub fn grid(
    data: &Prepared,
    ops: &[Op],
    seed: u64,
    images: usize,
    columns: usize,
    scale: usize,
) -> image::RgbImage {
    let picked = pick(data, images);
    let (s, gap) = (data.size * scale, 2);
    let width = (columns + 1) * (s + gap) + gap;
    let height = picked.len() * (s + gap) + gap;
    let mut out = image::RgbImage::from_pixel(width as u32, height as u32, image::Rgb([255; 3]));
    for col in 0..=columns {
        let pixels = if col == 0 {
            data.gather(&picked).0
        } else {
            augment::batch(data, &picked, ops, seed, col, 0).pixels
        };
        let per = data.channels * data.size * data.size;
        for (row, img) in pixels.chunks_exact(per).enumerate() {
            let (x0, y0) = (gap + col * (s + gap), gap + row * (s + gap));
            draw(&mut out, data, img, x0, y0, scale);
        }
    }
    out
}

/// Writes [`grid`] to a PNG file (whole or not at all).
pub fn write_png(img: &image::RgbImage, path: &Path) -> anyhow::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let tmp = path.with_extension("png.tmp");
    img.save_with_format(&tmp, image::ImageFormat::Png)
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))
}

/// The first training image of each class in turn, until `n` are picked.
fn pick(data: &Prepared, n: usize) -> Vec<usize> {
    let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); data.classes];
    for &i in &data.pool {
        by_class[data.labels[i] as usize].push(i);
    }
    let mut out = Vec::new();
    for round in 0.. {
        let before = out.len();
        for members in &by_class {
            if out.len() < n
                && let Some(&i) = members.get(round)
            {
                out.push(i);
            }
        }
        if out.len() == n || out.len() == before {
            break;
        }
    }
    out
}

/// Draws one normalised CHW image de-normalised to bytes, each pixel a `scale` x `scale` block.
fn draw(
    out: &mut image::RgbImage,
    data: &Prepared,
    img: &[f32],
    x0: usize,
    y0: usize,
    scale: usize,
) {
    let (c, n) = (data.channels, data.size);
    let byte = |ch: usize, y: usize, x: usize| {
        let v = img[ch * n * n + y * n + x] * data.std[ch] + data.mean[ch];
        (v.clamp(0.0, 1.0) * 255.0).round() as u8
    };
    for y in 0..n * scale {
        for x in 0..n * scale {
            let (sy, sx) = (y / scale, x / scale);
            let rgb = if c == 3 {
                [byte(0, sy, sx), byte(1, sy, sx), byte(2, sy, sx)]
            } else {
                [byte(0, sy, sx); 3]
            };
            out.put_pixel((x0 + x) as u32, (y0 + y) as u32, image::Rgb(rgb));
        }
    }
}
