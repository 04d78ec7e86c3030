//! Image transforms applied once per dataset: center crop, resize, normalisation.

use anyhow::bail;

use super::{Dataset, Prepared};

/// Crops, resizes to `size`x`size` and normalises every image of `ds`.
pub fn prepare(ds: &Dataset, crop: Option<usize>, size: usize) -> anyhow::Result<Prepared> {
    let (c, h, w) = (ds.channels, ds.height, ds.width);
    let side = crop.unwrap_or(h.min(w));
    if side > h.min(w) {
        bail!(
            "crop {side} is larger than the {h}x{w} images of `{}`",
            ds.name
        );
    }
    let (top, left) = ((h - side) / 2, (w - side) / 2);
    let rows = axis_weights(side, size);
    let mut pixels = Vec::with_capacity(ds.len() * c * size * size);
    let mut plane = vec![0.0f32; side * side];
    for image in ds.pixels.chunks_exact(c * h * w) {
        for ch in image.chunks_exact(h * w) {
            for y in 0..side {
                plane[y * side..(y + 1) * side]
                    .copy_from_slice(&ch[(top + y) * w + left..][..side]);
            }
            pixels.extend(resize_square(&plane, side, &rows));
        }
    }
    let (pool, test) = ds.split();
    let (mean, std) = normalise(&mut pixels, &pool, c, size * size);
    Ok(Prepared {
        name: ds.name.clone(),
        channels: c,
        size,
        classes: ds.classes,
        pixels: pixels.into(),
        labels: ds.labels.clone(),
        pool,
        test,
        mean,
        std,
    })
}

/// For each output position, the input positions and weights that make it.
///
/// Shrinking averages the covered area (a box filter, so no aliasing); enlarging interpolates
/// linearly between pixel centres (PyTorch's bilinear with `align_corners=False`).
pub fn axis_weights(input: usize, output: usize) -> Vec<Vec<(usize, f32)>> {
    let scale = input as f64 / output as f64;
    (0..output)
        .map(|o| {
            if scale >= 1.0 {
                let (start, end) = (o as f64 * scale, (o + 1) as f64 * scale);
                (start.floor() as usize..(end.ceil() as usize).min(input))
                    .map(|i| {
                        let overlap = (end.min(i as f64 + 1.0) - start.max(i as f64)).max(0.0);
                        (i, (overlap / scale) as f32)
                    })
                    .filter(|&(_, wgt)| wgt > 0.0)
                    .collect()
            } else {
                let x = ((o as f64 + 0.5) * scale - 0.5).clamp(0.0, (input - 1) as f64);
                let i0 = x.floor() as usize;
                let i1 = (i0 + 1).min(input - 1);
                let f = (x - i0 as f64) as f32;
                if i1 == i0 || f == 0.0 {
                    vec![(i0, 1.0)]
                } else {
                    vec![(i0, 1.0 - f), (i1, f)]
                }
            }
        })
        .collect()
}

/// Resizes a square plane separably with the same weights for rows and columns.
fn resize_square(src: &[f32], side: usize, weights: &[Vec<(usize, f32)>]) -> Vec<f32> {
    let out = weights.len();
    let mut tmp = vec![0.0f32; side * out];
    for y in 0..side {
        for (x, ws) in weights.iter().enumerate() {
            tmp[y * out + x] = ws.iter().map(|&(i, wgt)| src[y * side + i] * wgt).sum();
        }
    }
    let mut dst = vec![0.0f32; out * out];
    for (y, ws) in weights.iter().enumerate() {
        for x in 0..out {
            dst[y * out + x] = ws.iter().map(|&(i, wgt)| tmp[i * out + x] * wgt).sum();
        }
    }
    dst
}

/// Standardises every channel with its mean and std over the images in `pool`; returns them.
fn normalise(
    pixels: &mut [f32],
    pool: &[usize],
    channels: usize,
    plane: usize,
) -> (Vec<f32>, Vec<f32>) {
    let (mut means, mut stds) = (Vec::new(), Vec::new());
    for ch in 0..channels {
        let (mut sum, mut sq, mut n) = (0.0f64, 0.0f64, 0.0f64);
        for &i in pool {
            for &v in &pixels[(i * channels + ch) * plane..][..plane] {
                sum += f64::from(v);
                sq += f64::from(v) * f64::from(v);
                n += 1.0;
            }
        }
        let mean = sum / n.max(1.0);
        let std = (sq / n.max(1.0) - mean * mean).max(1e-12).sqrt();
        for image in pixels.chunks_exact_mut(channels * plane) {
            for v in &mut image[ch * plane..(ch + 1) * plane] {
                *v = ((f64::from(*v) - mean) / std) as f32;
            }
        }
        means.push(mean as f32);
        stds.push(std as f32);
    }
    (means, stds)
}
