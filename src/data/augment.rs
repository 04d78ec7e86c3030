//! Data augmentation: the ops of `[augment.sets]`, applied to training batches.
//!
//! Every op works on pixels in [0, 1] (a prepared image is de-normalised first and normalised
//! again after), so fills, clamps and colour jitter mean what they mean in torchvision. The
//! transform of sample `i` in epoch `e` depends only on (run seed, e, i); mixup and cutmix,
//! which mix samples, draw from (run seed, e, batch number).

use rand::Rng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand_distr::{Beta, Distribution, Normal};

use super::Prepared;
use super::transform::axis_weights;
use crate::seed;

pub use crate::schema::augment::{OP_NAMES, Op, deserialize_ops};

impl Op {
    /// Mixup and cutmix act on a whole batch; the rest on one image at a time.
    pub fn is_batch_op(&self) -> bool {
        matches!(self, Op::Mixup { .. } | Op::Cutmix { .. })
    }

    /// The range problem of this op's settings, if any.
    pub fn check(&self) -> Result<(), String> {
        let prob = |p: f64| (0.0..=1.0).contains(&p);
        let range = |r: [f64; 2], lo: f64, hi: f64| r[0] > lo && r[0] <= r[1] && r[1] <= hi;
        let ok = match *self {
            Op::Crop { padding } => padding <= 512,
            Op::ResizedCrop { scale, ratio } => {
                range(scale, 0.0, 1.0) && range(ratio, 0.0, f64::MAX)
            }
            Op::Flip { p } | Op::Vflip { p } => prob(p),
            Op::Rotate { degrees } => (0.0..=180.0).contains(&degrees),
            Op::Translate { fraction } => (0.0..=1.0).contains(&fraction),
            Op::Jitter {
                brightness,
                contrast,
                saturation,
            } => [brightness, contrast, saturation]
                .iter()
                .all(|v| (0.0..=1.0).contains(v)),
            Op::Noise { std } => (0.0..=1.0).contains(&std),
            Op::Erase { p, scale, ratio } => {
                prob(p) && range(scale, 0.0, 1.0) && range(ratio, 0.0, f64::MAX)
            }
            Op::Cutout { size } => size >= 1,
            Op::Mixup { alpha } | Op::Cutmix { alpha } => alpha > 0.0 && alpha.is_finite(),
        };
        if ok {
            Ok(())
        } else {
            Err(format!("out of range: {self:?}"))
        }
    }
}

/// A training batch after augmentation.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    /// Normalised pixels, NCHW.
    pub pixels: Vec<f32>,
    /// Labels.
    pub labels: Vec<i64>,
    /// Mixup/cutmix: the labels mixed in and the weight `lam` of `labels` (1 - lam of these).
    pub mix: Option<(Vec<i64>, f32)>,
}

/// Gathers the images `indices` and applies `ops`, seeded by (seed, epoch, sample / batch).
pub fn batch(
    data: &Prepared,
    indices: &[usize],
    ops: &[Op],
    seed: u64,
    epoch: usize,
    batch_number: usize,
) -> Batch {
    let (mut pixels, labels) = data.gather(indices);
    let mut mix = None;
    let (c, s) = (data.channels, data.size);
    if ops.iter().any(|o| !o.is_batch_op()) {
        let per = c * s * s;
        for (img, &i) in pixels.chunks_exact_mut(per).zip(indices) {
            let mut rng = seed::rng(seed, "augment", ((epoch as u64) << 32) | i as u64);
            denormalise(img, data, s * s);
            for op in ops.iter().filter(|o| !o.is_batch_op()) {
                apply(op, img, c, s, &data.mean, &mut rng);
            }
            renormalise(img, data, s * s);
        }
    }
    {
        let batch_ops: Vec<&Op> = ops.iter().filter(|o| o.is_batch_op()).collect();
        if !batch_ops.is_empty() && indices.len() > 1 {
            let index = ((epoch as u64) << 32) | batch_number as u64;
            let mut rng = seed::rng(seed, "mix", index);
            let op = batch_ops[rng.random_range(0..batch_ops.len())];
            mix = Some(mix_batch(op, &mut pixels, &labels, c, s, &mut rng));
        }
    }
    Batch {
        pixels,
        labels,
        mix,
    }
}

fn denormalise(img: &mut [f32], data: &Prepared, plane: usize) {
    for (ch, p) in img.chunks_exact_mut(plane).enumerate() {
        p.iter_mut()
            .for_each(|v| *v = *v * data.std[ch] + data.mean[ch]);
    }
}

fn renormalise(img: &mut [f32], data: &Prepared, plane: usize) {
    for (ch, p) in img.chunks_exact_mut(plane).enumerate() {
        p.iter_mut()
            .for_each(|v| *v = (*v - data.mean[ch]) / data.std[ch]);
    }
}

/// Applies one per-image op to a CHW image of side `s` with pixels in [0, 1].
pub fn apply(op: &Op, img: &mut [f32], c: usize, s: usize, mean: &[f32], rng: &mut StdRng) {
    let plane = s * s;
    match *op {
        Op::Crop { padding } => {
            let p = padding as i64;
            let dy = rng.random_range(0..=2 * p) - p;
            let dx = rng.random_range(0..=2 * p) - p;
            shift(img, s, dy as isize, dx as isize);
        }
        Op::ResizedCrop { scale, ratio } => {
            let (top, left, h, w) = resized_crop_box(s, scale, ratio, rng);
            let rows = axis_weights(h, s);
            let cols = axis_weights(w, s);
            for p in img.chunks_exact_mut(plane) {
                let src = p.to_vec();
                for (y, ry) in rows.iter().enumerate() {
                    for (x, cx) in cols.iter().enumerate() {
                        let mut v = 0.0;
                        for &(i, wy) in ry {
                            for &(j, wx) in cx {
                                v += wy * wx * src[(top + i) * s + left + j];
                            }
                        }
                        p[y * s + x] = v;
                    }
                }
            }
        }
        Op::Flip { p } => {
            if rng.random::<f64>() < p {
                for row in img.chunks_exact_mut(s) {
                    row.reverse();
                }
            }
        }
        Op::Vflip { p } => {
            if rng.random::<f64>() < p {
                for pl in img.chunks_exact_mut(plane) {
                    for y in 0..s / 2 {
                        let (a, b) = pl.split_at_mut((s - 1 - y) * s);
                        a[y * s..(y + 1) * s].swap_with_slice(&mut b[..s]);
                    }
                }
            }
        }
        Op::Rotate { degrees } => {
            let angle = rng.random_range(-degrees..=degrees).to_radians();
            rotate(img, s, angle);
        }
        Op::Translate { fraction } => {
            let m = (fraction * s as f64).round() as i64;
            let dy = rng.random_range(-m..=m);
            let dx = rng.random_range(-m..=m);
            shift(img, s, dy as isize, dx as isize);
        }
        Op::Jitter {
            brightness,
            contrast,
            saturation,
        } => {
            let mut factor = |x: f64| rng.random_range((1.0 - x).max(0.0)..=1.0 + x) as f32;
            let (fb, fc, fs) = (factor(brightness), factor(contrast), factor(saturation));
            img.iter_mut().for_each(|v| *v = (*v * fb).clamp(0.0, 1.0));
            let gray = grayscale(img, c, plane);
            let m = gray.iter().sum::<f32>() / plane as f32;
            img.iter_mut()
                .for_each(|v| *v = ((*v - m) * fc + m).clamp(0.0, 1.0));
            if c == 3 {
                let gray = grayscale(img, c, plane);
                for p in img.chunks_exact_mut(plane) {
                    for (v, g) in p.iter_mut().zip(&gray) {
                        *v = ((*v - g) * fs + g).clamp(0.0, 1.0);
                    }
                }
            }
        }
        Op::Noise { std } => {
            let normal = Normal::new(0.0, std).expect("std is checked");
            img.iter_mut()
                .for_each(|v| *v = (*v + normal.sample(rng) as f32).clamp(0.0, 1.0));
        }
        Op::Erase { p, scale, ratio } => {
            if rng.random::<f64>() < p
                && let Some((top, left, h, w)) = erase_box(s, scale, ratio, rng)
            {
                fill(img, s, mean, top, left, h, w);
            }
        }
        Op::Cutout { size } => {
            let (cy, cx) = (rng.random_range(0..s), rng.random_range(0..s));
            let (top, left) = (cy.saturating_sub(size / 2), cx.saturating_sub(size / 2));
            let (bottom, right) = (
                (cy + size.div_ceil(2)).min(s),
                (cx + size.div_ceil(2)).min(s),
            );
            fill(img, s, mean, top, left, bottom - top, right - left);
        }
        Op::Mixup { .. } | Op::Cutmix { .. } => {}
    }
}

/// Moves the image by (dy, dx) pixels, filling with black.
fn shift(img: &mut [f32], s: usize, dy: isize, dx: isize) {
    for p in img.chunks_exact_mut(s * s) {
        let src = p.to_vec();
        for y in 0..s {
            for x in 0..s {
                let (sy, sx) = (y as isize - dy, x as isize - dx);
                let inside = (0..s as isize).contains(&sy) && (0..s as isize).contains(&sx);
                p[y * s + x] = if inside {
                    src[sy as usize * s + sx as usize]
                } else {
                    0.0
                };
            }
        }
    }
}

/// Rotates every plane about the image centre (bilinear, black outside).
fn rotate(img: &mut [f32], s: usize, angle: f64) {
    let (sin, cos) = angle.sin_cos();
    let centre = (s as f64 - 1.0) / 2.0;
    for p in img.chunks_exact_mut(s * s) {
        let src = p.to_vec();
        let at = |y: isize, x: isize| {
            if (0..s as isize).contains(&y) && (0..s as isize).contains(&x) {
                src[y as usize * s + x as usize]
            } else {
                0.0
            }
        };
        for y in 0..s {
            for x in 0..s {
                let (dy, dx) = (y as f64 - centre, x as f64 - centre);
                // Inverse map: where in the source this output pixel comes from.
                let sx = cos * dx + sin * dy + centre;
                let sy = -sin * dx + cos * dy + centre;
                let (y0, x0) = (sy.floor(), sx.floor());
                let (fy, fx) = ((sy - y0) as f32, (sx - x0) as f32);
                let (y0, x0) = (y0 as isize, x0 as isize);
                p[y * s + x] = at(y0, x0) * (1.0 - fy) * (1.0 - fx)
                    + at(y0, x0 + 1) * (1.0 - fy) * fx
                    + at(y0 + 1, x0) * fy * (1.0 - fx)
                    + at(y0 + 1, x0 + 1) * fy * fx;
            }
        }
    }
}

fn grayscale(img: &[f32], c: usize, plane: usize) -> Vec<f32> {
    if c == 3 {
        (0..plane)
            .map(|i| 0.299 * img[i] + 0.587 * img[plane + i] + 0.114 * img[2 * plane + i])
            .collect()
    } else {
        img[..plane].to_vec()
    }
}

/// Sets a rectangle of every channel to that channel's dataset mean (0 after normalisation).
fn fill(img: &mut [f32], s: usize, mean: &[f32], top: usize, left: usize, h: usize, w: usize) {
    for (p, &m) in img.chunks_exact_mut(s * s).zip(mean) {
        for y in top..top + h {
            p[y * s + left..y * s + left + w].fill(m);
        }
    }
}

/// torchvision's RandomResizedCrop parameters: (top, left, height, width).
fn resized_crop_box(
    s: usize,
    scale: [f64; 2],
    ratio: [f64; 2],
    rng: &mut StdRng,
) -> (usize, usize, usize, usize) {
    let area = (s * s) as f64;
    let (lo, hi) = (ratio[0].ln(), ratio[1].ln());
    for _ in 0..10 {
        let target = area * rng.random_range(scale[0]..=scale[1]);
        let r = rng.random_range(lo..=hi).exp();
        let w = (target * r).sqrt().round() as usize;
        let h = (target / r).sqrt().round() as usize;
        if (1..=s).contains(&w) && (1..=s).contains(&h) {
            return (
                rng.random_range(0..=s - h),
                rng.random_range(0..=s - w),
                h,
                w,
            );
        }
    }
    (0, 0, s, s)
}

/// torchvision's RandomErasing box: (top, left, height, width), if one fits in 10 tries.
fn erase_box(
    s: usize,
    scale: [f64; 2],
    ratio: [f64; 2],
    rng: &mut StdRng,
) -> Option<(usize, usize, usize, usize)> {
    let area = (s * s) as f64;
    let (lo, hi) = (ratio[0].ln(), ratio[1].ln());
    for _ in 0..10 {
        let target = area * rng.random_range(scale[0]..=scale[1]);
        let r = rng.random_range(lo..=hi).exp();
        let h = (target * r).sqrt().round() as usize;
        let w = (target / r).sqrt().round() as usize;
        if (1..s).contains(&h) && (1..s).contains(&w) {
            return Some((
                rng.random_range(0..=s - h),
                rng.random_range(0..=s - w),
                h,
                w,
            ));
        }
    }
    None
}

/// Mixes a normalised batch with a permutation of itself; returns (partner labels, lam).
fn mix_batch(
    op: &Op,
    pixels: &mut [f32],
    labels: &[i64],
    c: usize,
    s: usize,
    rng: &mut StdRng,
) -> (Vec<i64>, f32) {
    let n = labels.len();
    let per = c * s * s;
    let alpha = match *op {
        Op::Mixup { alpha } | Op::Cutmix { alpha } => alpha,
        _ => unreachable!("only batch ops are mixed"),
    };
    let mut lam = Beta::new(alpha, alpha)
        .expect("alpha is checked")
        .sample(rng);
    let mut perm: Vec<usize> = (0..n).collect();
    perm.shuffle(rng);
    let src = pixels.to_vec();
    match op {
        Op::Mixup { .. } => {
            for (i, &j) in perm.iter().enumerate() {
                let (a, b) = (
                    &mut pixels[i * per..(i + 1) * per],
                    &src[j * per..(j + 1) * per],
                );
                for (x, y) in a.iter_mut().zip(b) {
                    *x = lam as f32 * *x + (1.0 - lam as f32) * y;
                }
            }
        }
        _ => {
            let cut = (1.0 - lam).sqrt();
            let side = (s as f64 * cut).round() as usize;
            let (cy, cx) = (rng.random_range(0..s), rng.random_range(0..s));
            let (top, left) = (cy.saturating_sub(side / 2), cx.saturating_sub(side / 2));
            let bottom = (cy + side.div_ceil(2)).min(s);
            let right = (cx + side.div_ceil(2)).min(s);
            for (i, &j) in perm.iter().enumerate() {
                for ch in 0..c {
                    let base = ch * s * s;
                    for y in top..bottom {
                        let row = base + y * s;
                        pixels[i * per + row + left..i * per + row + right]
                            .copy_from_slice(&src[j * per + row + left..j * per + row + right]);
                    }
                }
            }
            lam = 1.0 - ((bottom - top) * (right - left)) as f64 / (s * s) as f64;
        }
    }
    (perm.iter().map(|&j| labels[j]).collect(), lam as f32)
}
