//! Box-aware augmentation: geometric ops that move a scene's pixels and its boxes together.
//!
//! A scene is first [`resize`]d to the model's square input; the ops then keep that size. The
//! transform of scene `i` in epoch `e` depends only on (run seed, e, i), as for
//! classification ([`crate::data::augment`]).

use image::imageops::FilterType;
use image::{ImageBuffer, Luma};
use rand::Rng;

use super::{BBox, Object, Scene};
use crate::seed;

/// A moved box is dropped when less than this fraction of it stays inside the image.
pub const MIN_VISIBLE: f32 = 0.5;

/// A moved box is dropped when its visible width or height is below this many pixels.
pub const MIN_SIDE: f32 = 2.0;

/// One box-aware op, applied by [`apply`].
#[derive(Debug, Clone, PartialEq)]
pub enum BoxOp {
    /// Horizontal flip with probability 1/2.
    Flip,
    /// Zoom by a factor uniform in [min, max], then a shift uniform over the positions where
    /// the zoomed image covers the view (zoom > 1) or lies inside it (zoom < 1).
    ScaleTranslate {
        /// Smallest zoom.
        min: f64,
        /// Largest zoom.
        max: f64,
    },
    /// A window whose width and height are each a fraction uniform in [min, max] of the
    /// image's, at a uniform position, stretched back to the image's size.
    Crop {
        /// Smallest fraction of a side.
        min: f64,
        /// Largest fraction of a side.
        max: f64,
    },
}

impl BoxOp {
    /// The range problem of this op's settings, if any.
    pub fn check(&self) -> Result<(), String> {
        match *self {
            BoxOp::Flip => Ok(()),
            BoxOp::ScaleTranslate { min, max } => {
                if !(min > 0.0 && min <= max && max.is_finite()) {
                    return Err(format!(
                        "scale-translate zoom [{min}, {max}]: need 0 < min <= max"
                    ));
                }
                Ok(())
            }
            BoxOp::Crop { min, max } => {
                if !(min > 0.0 && min <= max && max <= 1.0) {
                    return Err(format!(
                        "crop fraction [{min}, {max}]: need 0 < min <= max <= 1"
                    ));
                }
                Ok(())
            }
        }
    }
}

/// Applies `ops` in order to scene `index` of epoch `epoch`, every random value drawn from
/// `seed`; the output has the input's size. Settings that fail [`BoxOp::check`] are clamped
/// into range rather than trusted.
pub fn apply(scene: &Scene, ops: &[BoxOp], seed: u64, epoch: usize, index: usize) -> Scene {
    let mut rng = seed::rng(seed, "det-augment", ((epoch as u64) << 32) | index as u64);
    let mut out = scene.clone();
    let (w, h) = (scene.width as f64, scene.height as f64);
    for op in ops {
        // Every op draws the same number of values whatever it decides, so one op's outcome
        // never shifts the draws of the ops after it.
        out = match *op {
            BoxOp::Flip => {
                if rng.random::<f64>() < 0.5 {
                    hflip(&out)
                } else {
                    out
                }
            }
            BoxOp::ScaleTranslate { min, max } => {
                let (min, max) = ordered(min, max, 1e-3, 1e3);
                let s = lerp(min, max, rng.random());
                let dx = lerp(0.0, w - s * w, rng.random());
                let dy = lerp(0.0, h - s * h, rng.random());
                scale_translate(&out, s as f32, dx as f32, dy as f32)
            }
            BoxOp::Crop { min, max } => {
                let (min, max) = ordered(min, max, 1e-3, 1.0);
                let cw = lerp(min, max, rng.random()) * w;
                let ch = lerp(min, max, rng.random()) * h;
                let x = lerp(0.0, w - cw, rng.random());
                let y = lerp(0.0, h - ch, rng.random());
                crop(&out, x as f32, y as f32, cw as f32, ch as f32)
            }
        };
    }
    out
}

fn lerp(a: f64, b: f64, t: f64) -> f64 {
    a + (b - a) * t
}

/// (min, max) clamped into [lo, hi] and put in order; NaN becomes 1 (no change).
fn ordered(a: f64, b: f64, lo: f64, hi: f64) -> (f64, f64) {
    let fix = |v: f64| if v.is_nan() { 1.0 } else { v.clamp(lo, hi) };
    let (a, b) = (fix(a), fix(b));
    (a.min(b), a.max(b))
}

/// The scene stretched to `size` x `size` (triangle filter, antialiased when shrinking), its
/// boxes scaled with it; no box is dropped.
pub fn resize(scene: &Scene, size: usize) -> Scene {
    let (w, h) = (scene.width, scene.height);
    if (w, h) == (size, size) || w == 0 || h == 0 {
        return scene.clone();
    }
    let plane = w * h;
    let mut pixels = Vec::with_capacity(channels(scene) * size * size);
    for ch in scene.pixels.chunks_exact(plane) {
        let img: ImageBuffer<Luma<f32>, Vec<f32>> =
            ImageBuffer::from_raw(w as u32, h as u32, ch.to_vec()).expect("plane of w*h values");
        let r = image::imageops::resize(&img, size as u32, size as u32, FilterType::Triangle);
        pixels.extend(r.into_raw());
    }
    let (sx, sy) = (size as f32 / w as f32, size as f32 / h as f32);
    let objects = scene
        .objects
        .iter()
        .map(|o| Object {
            bbox: BBox {
                x: o.bbox.x * sx,
                y: o.bbox.y * sy,
                w: o.bbox.w * sx,
                h: o.bbox.h * sy,
            },
            area: o.area * sx * sy,
            ..o.clone()
        })
        .collect();
    Scene {
        width: size,
        height: size,
        pixels,
        objects,
        ..scene.clone()
    }
}

/// The scene mirrored left to right, with its boxes.
pub fn hflip(scene: &Scene) -> Scene {
    let w = scene.width;
    let mut pixels = scene.pixels.clone();
    if w > 0 {
        for row in pixels.chunks_exact_mut(w) {
            row.reverse();
        }
    }
    let objects = scene
        .objects
        .iter()
        .map(|o| Object {
            bbox: BBox {
                x: w as f32 - o.bbox.right(),
                ..o.bbox
            },
            ..o.clone()
        })
        .collect();
    Scene {
        pixels,
        objects,
        ..scene.clone()
    }
}

/// The scene zoomed by `scale` about its top-left corner and shifted by (`dx`, `dy`) pixels:
/// image point p lands at p * scale + d. Uncovered pixels are black; boxes are clipped to the
/// image and dropped when mostly outside it (see [`MIN_VISIBLE`], [`MIN_SIDE`]).
pub fn scale_translate(scene: &Scene, scale: f32, dx: f32, dy: f32) -> Scene {
    warp(scene, scale, scale, dx, dy)
}

/// The window (`x`, `y`, `w`, `h`) of the scene, in pixels, stretched back to the scene's
/// size; boxes are clipped to the window and dropped when mostly outside it.
pub fn crop(scene: &Scene, x: f32, y: f32, w: f32, h: f32) -> Scene {
    if !(w > 0.0 && h > 0.0) {
        return scene.clone();
    }
    let (sx, sy) = (scene.width as f32 / w, scene.height as f32 / h);
    warp(scene, sx, sy, -x * sx, -y * sy)
}

/// The affine map p -> (p.x * sx + dx, p.y * sy + dy) applied to pixels (bilinear) and boxes.
fn warp(scene: &Scene, sx: f32, sy: f32, dx: f32, dy: f32) -> Scene {
    let (w, h) = (scene.width, scene.height);
    if w == 0 || h == 0 || !(sx > 0.0 && sy > 0.0 && dx.is_finite() && dy.is_finite()) {
        return scene.clone();
    }
    let xs = taps(w, sx, dx);
    let ys = taps(h, sy, dy);
    let plane = w * h;
    let mut pixels = vec![0.0f32; scene.pixels.len()];
    for (src, dst) in scene
        .pixels
        .chunks_exact(plane)
        .zip(pixels.chunks_exact_mut(plane))
    {
        for (oy, ty) in ys.iter().enumerate() {
            let Some((y0, y1, fy)) = *ty else { continue };
            for (ox, tx) in xs.iter().enumerate() {
                let Some((x0, x1, fx)) = *tx else { continue };
                let top = src[y0 * w + x0] * (1.0 - fx) + src[y0 * w + x1] * fx;
                let bottom = src[y1 * w + x0] * (1.0 - fx) + src[y1 * w + x1] * fx;
                dst[oy * w + ox] = top * (1.0 - fy) + bottom * fy;
            }
        }
    }
    let objects = scene
        .objects
        .iter()
        .filter_map(|o| moved(o, sx, sy, dx, dy, w as f32, h as f32))
        .collect();
    Scene {
        pixels,
        objects,
        ..scene.clone()
    }
}

/// Per output coordinate along one axis of `n` pixels: the two source pixels and the weight
/// of the second, or `None` where the output pixel's centre falls outside the source image.
fn taps(n: usize, scale: f32, shift: f32) -> Vec<Option<(usize, usize, f32)>> {
    (0..n)
        .map(|o| {
            let u = (o as f32 + 0.5 - shift) / scale;
            if !(0.0..=n as f32).contains(&u) {
                return None;
            }
            // Within half a pixel of the border the edge pixel is replicated, so the image
            // covers exactly [0, n) as its boxes assume.
            let c = (u - 0.5).clamp(0.0, (n - 1) as f32);
            let i = c.floor() as usize;
            Some((i, (i + 1).min(n - 1), c - i as f32))
        })
        .collect()
}

/// An object's box under the map, clipped to the `w` x `h` image; `None` when too little of
/// it stays visible. Its area scales with the map and the visible fraction.
fn moved(o: &Object, sx: f32, sy: f32, dx: f32, dy: f32, w: f32, h: f32) -> Option<Object> {
    let b = BBox {
        x: o.bbox.x * sx + dx,
        y: o.bbox.y * sy + dy,
        w: o.bbox.w * sx,
        h: o.bbox.h * sy,
    };
    let (x0, y0) = (b.x.max(0.0), b.y.max(0.0));
    let (x1, y1) = (b.right().min(w), b.bottom().min(h));
    let visible = BBox {
        x: x0,
        y: y0,
        w: x1 - x0,
        h: y1 - y0,
    };
    if visible.w < MIN_SIDE || visible.h < MIN_SIDE || visible.area() < MIN_VISIBLE * b.area() {
        return None;
    }
    let fraction = visible.area() / b.area();
    Some(Object {
        bbox: visible,
        area: o.area * sx * sy * fraction,
        ..o.clone()
    })
}

/// Channels of a scene's pixel buffer.
fn channels(scene: &Scene) -> usize {
    scene.pixels.len() / (scene.width * scene.height).max(1)
}
