//! Mask-aware augmentation: geometric ops that move an image and its mask together.
//!
//! Every op is one affine map of the output pixel centres back into the input (inverse
//! mapping), so image and mask see the same geometry: the image is sampled bilinearly with 0
//! outside, the mask by nearest neighbour with 255 (ignored) outside, so no class is blended
//! and no invented background is taught. The transform of image `i` in epoch `e` depends only
//! on (run seed, e, i), as for classification and detection.

use rand::Rng;

use super::formats::{IGNORE, Sample};
use crate::seed;

/// One mask-aware op, applied by [`apply`].
#[derive(Debug, Clone, PartialEq)]
pub enum MaskOp {
    /// Horizontal flip with probability 1/2.
    Flip,
    /// Zoom by a factor uniform in [min, max] about the centre, then a shift of up to
    /// `shift` of the side each way.
    ScaleTranslate {
        /// Smallest zoom.
        min: f64,
        /// Largest zoom.
        max: f64,
        /// Largest shift as a fraction of the side.
        shift: f64,
    },
    /// Rotation about the centre by an angle uniform in ±`degrees`.
    Rotate {
        /// Largest angle either way.
        degrees: f64,
    },
}

/// A map from output pixel coordinates to input ones: `src = m · (dst - c) + c + t`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Affine {
    /// The 2×2 matrix (row-major) applied about the image centre.
    pub m: [f64; 4],
    /// Shift in input pixels.
    pub t: [f64; 2],
}

impl Affine {
    /// The map that changes nothing.
    pub const IDENTITY: Affine = Affine {
        m: [1.0, 0.0, 0.0, 1.0],
        t: [0.0, 0.0],
    };

    /// The map of this op followed by `next`: an output pixel goes through `next`'s map
    /// first (to `next`'s input, this op's output), then through this one.
    pub fn then(self, next: Affine) -> Affine {
        let [a, b, c, d] = self.m;
        let [e, f, g, h] = next.m;
        Affine {
            m: [a * e + b * g, a * f + b * h, c * e + d * g, c * f + d * h],
            t: [
                a * next.t[0] + b * next.t[1] + self.t[0],
                c * next.t[0] + d * next.t[1] + self.t[1],
            ],
        }
    }
}

/// Applies `ops` in order to image `index` of epoch `epoch`, every random value drawn from
/// `seed`; the output has the input's size.
pub fn apply(s: &Sample, ops: &[MaskOp], seed: u64, epoch: usize, index: usize) -> Sample {
    let mut rng = seed::rng(seed, "seg-augment", ((epoch as u64) << 32) | index as u64);
    // The ops compose into one map, so the image is resampled once, not once per op.
    let mut map = Affine::IDENTITY;
    for op in ops {
        // Every op draws the same number of values whatever it decides, so one op's outcome
        // never shifts the draws of the ops after it.
        let (a, b, c): (f64, f64, f64) = (rng.random(), rng.random(), rng.random());
        let step = match *op {
            MaskOp::Flip if a < 0.5 => Affine {
                m: [-1.0, 0.0, 0.0, 1.0],
                t: [0.0, 0.0],
            },
            MaskOp::Flip => Affine::IDENTITY,
            MaskOp::ScaleTranslate { min, max, shift } => {
                let (lo, hi) = (min.clamp(1e-2, 1e2), max.clamp(1e-2, 1e2));
                let z = lo.min(hi) + (hi - lo).abs() * a;
                let shift = shift.clamp(0.0, 1.0);
                let dx = (2.0 * b - 1.0) * shift * s.width as f64;
                let dy = (2.0 * c - 1.0) * shift * s.height as f64;
                // Zooming in by z samples the input at 1/z the spacing.
                Affine {
                    m: [1.0 / z, 0.0, 0.0, 1.0 / z],
                    t: [-dx, -dy],
                }
            }
            MaskOp::Rotate { degrees } => {
                let r = ((2.0 * a - 1.0) * degrees.clamp(0.0, 180.0)).to_radians();
                let (sin, cos) = r.sin_cos();
                Affine {
                    m: [cos, sin, -sin, cos],
                    t: [0.0, 0.0],
                }
            }
        };
        map = map.then(step);
    }
    warp(s, map)
}

/// The sample mirrored left to right, with its mask (exact: no resampling).
pub fn hflip(s: &Sample) -> Sample {
    let w = s.width;
    let mut out = s.clone();
    if w == 0 {
        return out;
    }
    for row in out.pixels.chunks_exact_mut(w) {
        row.reverse();
    }
    for row in out.mask.chunks_exact_mut(w) {
        row.reverse();
    }
    out
}

/// The sample resampled through `a` (output pixel centre → input coordinates): image bilinear
/// with 0 outside, mask nearest with [`IGNORE`] outside.
pub fn warp(s: &Sample, a: Affine) -> Sample {
    if a == Affine::IDENTITY {
        return s.clone();
    }
    let (w, h) = (s.width, s.height);
    let plane = w * h;
    let (cx, cy) = (w as f64 / 2.0, h as f64 / 2.0);
    let mut pixels = vec![0.0f32; s.pixels.len()];
    let mut mask = vec![IGNORE; plane];
    let channels = s.pixels.len() / plane.max(1);
    for y in 0..h {
        for x in 0..w {
            let (px, py) = (x as f64 + 0.5 - cx, y as f64 + 0.5 - cy);
            // Input coordinates in pixel units, where pixel (i, j)'s centre is (i + .5, j + .5).
            let sx = a.m[0] * px + a.m[1] * py + cx + a.t[0];
            let sy = a.m[2] * px + a.m[3] * py + cy + a.t[1];
            let o = y * w + x;
            let (nx, ny) = (sx.floor(), sy.floor());
            if nx >= 0.0 && ny >= 0.0 && (nx as usize) < w && (ny as usize) < h {
                mask[o] = s.mask[ny as usize * w + nx as usize];
            }
            // Bilinear between the four centres around (sx, sy); outside pixels count as 0.
            let (fx, fy) = (sx - 0.5, sy - 0.5);
            let (x0, y0) = (fx.floor(), fy.floor());
            let (tx, ty) = ((fx - x0) as f32, (fy - y0) as f32);
            let at = |c: usize, xi: f64, yi: f64| -> f32 {
                if xi < 0.0 || yi < 0.0 || xi >= w as f64 || yi >= h as f64 {
                    0.0
                } else {
                    s.pixels[c * plane + yi as usize * w + xi as usize]
                }
            };
            for c in 0..channels {
                let top = at(c, x0, y0) * (1.0 - tx) + at(c, x0 + 1.0, y0) * tx;
                let bottom = at(c, x0, y0 + 1.0) * (1.0 - tx) + at(c, x0 + 1.0, y0 + 1.0) * tx;
                pixels[c * plane + o] = top * (1.0 - ty) + bottom * ty;
            }
        }
    }
    Sample {
        pixels,
        mask,
        ..s.clone()
    }
}
