//! Depthwise convolution (one input channel per group, one output per group: MobileNet's and
//! EfficientNet's 3×3 and 5×5 layers) as direct loops over each plane, for the forward pass
//! and both gradients. A GEMM per channel would be 1×k by k×p: all overhead.
//!
//! Each output plane, input-gradient plane and weight-gradient channel is one task summed in a
//! fixed order, so a result does not depend on the number of threads.

use rayon::prelude::*;

use super::conv::{Geometry, inside};

/// Calls `f(ki, kj, oy, iy, xlo..xhi, first input column)` for every kernel tap and output row
/// whose input row lies inside the image.
fn taps(g: &Geometry, mut f: impl FnMut(usize, usize, usize, usize, (usize, usize), usize)) {
    for ki in 0..g.kh {
        let (ylo, yhi) = inside(g.h, g.oh, g.sh, ki, g.pt);
        for kj in 0..g.kw {
            let (xlo, xhi) = inside(g.w, g.ow, g.sw, kj, g.pl);
            if xlo == xhi {
                continue;
            }
            for oy in ylo..yhi {
                f(
                    ki,
                    kj,
                    oy,
                    oy * g.sh + ki - g.pt,
                    (xlo, xhi),
                    xlo * g.sw + kj - g.pl,
                );
            }
        }
    }
}

/// The output [n, c, oh, ow].
pub fn forward(g: &Geometry, x: &[f32], w: &[f32], bias: Option<&[f32]>) -> Vec<f32> {
    let (hw, p, taps_n) = (g.h * g.w, g.p(), g.kh * g.kw);
    let mut out = vec![0f32; g.n * g.c * p];
    out.par_chunks_mut(p).enumerate().for_each(|(plane, out)| {
        let ch = plane % g.c;
        let (x, w) = (&x[plane * hw..][..hw], &w[ch * taps_n..][..taps_n]);
        taps(g, |ki, kj, oy, iy, (lo, hi), x0| {
            let wv = w[ki * g.kw + kj];
            let dst = &mut out[oy * g.ow + lo..oy * g.ow + hi];
            let src = &x[iy * g.w + x0..];
            if g.sw == 1 {
                for (d, s) in dst.iter_mut().zip(src) {
                    *d += wv * s;
                }
            } else {
                for (d, s) in dst.iter_mut().zip(src.iter().step_by(g.sw)) {
                    *d += wv * s;
                }
            }
        });
        if let Some(bias) = bias {
            out.iter_mut().for_each(|v| *v += bias[ch]);
        }
    });
    out
}

/// The gradient for `x` from the output's gradient `dy`.
pub fn input_grad(g: &Geometry, dy: &[f32], w: &[f32]) -> Vec<f32> {
    let (hw, p, taps_n) = (g.h * g.w, g.p(), g.kh * g.kw);
    let mut dx = vec![0f32; g.n * g.c * hw];
    dx.par_chunks_mut(hw).enumerate().for_each(|(plane, dx)| {
        let ch = plane % g.c;
        let (dy, w) = (&dy[plane * p..][..p], &w[ch * taps_n..][..taps_n]);
        taps(g, |ki, kj, oy, iy, (lo, hi), x0| {
            let wv = w[ki * g.kw + kj];
            let src = &dy[oy * g.ow + lo..oy * g.ow + hi];
            let dst = &mut dx[iy * g.w + x0..];
            if g.sw == 1 {
                for (d, s) in dst.iter_mut().zip(src) {
                    *d += wv * s;
                }
            } else {
                for (d, s) in dst.iter_mut().step_by(g.sw).zip(src) {
                    *d += wv * s;
                }
            }
        });
    });
    dx
}

/// The gradient for `w` [c, 1, kh, kw] from `x` and the output's gradient `dy`.
pub fn weight_grad(g: &Geometry, x: &[f32], dy: &[f32]) -> Vec<f32> {
    let (hw, p, taps_n) = (g.h * g.w, g.p(), g.kh * g.kw);
    let per_channel: Vec<Vec<f32>> = (0..g.c)
        .into_par_iter()
        .map(|ch| {
            let mut dw = vec![0f32; taps_n];
            for i in 0..g.n {
                let plane = i * g.c + ch;
                let (x, dy) = (&x[plane * hw..][..hw], &dy[plane * p..][..p]);
                taps(g, |ki, kj, oy, iy, (lo, hi), x0| {
                    let src = &x[iy * g.w + x0..];
                    let grad = &dy[oy * g.ow + lo..oy * g.ow + hi];
                    let dot: f32 = if g.sw == 1 {
                        grad.iter().zip(src).map(|(a, b)| a * b).sum()
                    } else {
                        grad.iter()
                            .zip(src.iter().step_by(g.sw))
                            .map(|(a, b)| a * b)
                            .sum()
                    };
                    dw[ki * g.kw + kj] += dot;
                });
            }
            dw
        })
        .collect();
    per_channel.concat()
}
