//! Depthwise convolution (one input channel per group, one output per group: MobileNet's and
//! EfficientNet's 3×3 and 5×5 layers) as direct loops over each plane, for the forward pass
//! and both gradients. A GEMM per channel would be 1×k by k×p: all overhead.
//!
//! Each output plane, input-gradient plane and weight-gradient channel is one task summed in a
//! fixed order, so a result does not depend on the number of threads.

use rayon::prelude::*;

use super::columns::inside;
use super::conv::Geometry;
use super::simd::{Level, versions};

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

/// The extent the kernel's taps cover, [rows, columns]: the input with its padding, cut to
/// what the output reaches. Input (iy, ix) sits at (iy + pt, ix + pl) in it.
fn padded(g: &Geometry) -> (usize, usize) {
    ((g.oh - 1) * g.sh + g.kh, (g.ow - 1) * g.sw + g.kw)
}

/// The output [n, c, oh, ow].
///
/// Each plane is copied into a zero-padded one first, so every tap is a whole-row multiply-add
/// with no border arithmetic, compiled for the CPU's widest vectors ([`Level`]). A tap on the
/// padding adds w·0 = ±0 to a sum that is never −0 (it starts at +0), so the floats are the
/// same as skipping it.
pub fn forward(g: &Geometry, x: &[f32], w: &[f32], bias: Option<&[f32]>) -> Vec<f32> {
    let (hw, p, taps_n) = (g.h * g.w, g.p(), g.kh * g.kw);
    let mut out = vec![0f32; g.n * g.c * p];
    let level = Level::detect();
    out.par_chunks_mut(p)
        .enumerate()
        .for_each_init(Vec::new, |xp, (plane, out)| {
            let ch = plane % g.c;
            let (x, w) = (&x[plane * hw..][..hw], &w[ch * taps_n..][..taps_n]);
            let b = bias.map(|b| b[ch]);
            forward_plane_at(level, g, x, w, b, out, xp);
        });
    out
}

versions! {
    /// [`forward_plane`] compiled for `level`.
    fn forward_plane_at(
        g: &Geometry,
        x: &[f32],
        w: &[f32],
        bias: Option<f32>,
        out: &mut [f32],
        xp: &mut Vec<f32>,
    ) => forward_plane
}

versions! {
    /// [`input_grad_plane`] compiled for `level`.
    fn input_grad_plane_at(
        g: &Geometry,
        dy: &[f32],
        w: &[f32],
        dx: &mut [f32],
        dxp: &mut Vec<f32>,
    ) => input_grad_plane
}

/// One output plane of [`forward`] from its input plane, its channel's taps and a scratch
/// buffer for the padded plane.
#[inline(always)]
fn forward_plane(
    g: &Geometry,
    x: &[f32],
    w: &[f32],
    bias: Option<f32>,
    out: &mut [f32],
    xp: &mut Vec<f32>,
) {
    let (hp, wp) = padded(g);
    xp.clear();
    // kw more zeros: the stride-1 path below reads that far past the last row.
    xp.resize(hp * wp + g.kw, 0.0);
    let cols = g.w.min(wp.saturating_sub(g.pl));
    for iy in 0..g.h.min(hp.saturating_sub(g.pt)) {
        xp[(iy + g.pt) * wp + g.pl..][..cols].copy_from_slice(&x[iy * g.w..][..cols]);
    }
    if g.sh == 1 && g.sw == 1 {
        // The output at the padded width (kw - 1 extra columns a row, dropped after), so that
        // each tap is one multiply-add along the whole plane.
        let n = g.oh * wp;
        let mut acc = vec![0f32; n];
        for ki in 0..g.kh {
            for kj in 0..g.kw {
                let wv = w[ki * g.kw + kj];
                for (d, s) in acc.iter_mut().zip(&xp[ki * wp + kj..][..n]) {
                    *d += wv * s;
                }
            }
        }
        for oy in 0..g.oh {
            out[oy * g.ow..][..g.ow].copy_from_slice(&acc[oy * wp..][..g.ow]);
        }
    } else {
        strided_forward(g, w, out, xp, wp);
    }
    if let Some(b) = bias {
        out.iter_mut().for_each(|v| *v += b);
    }
}

/// [`forward_plane`] for strides above 1: row by row from the padded plane `xp` (width `wp`).
#[inline(always)]
fn strided_forward(g: &Geometry, w: &[f32], out: &mut [f32], xp: &[f32], wp: usize) {
    for oy in 0..g.oh {
        let acc = &mut out[oy * g.ow..][..g.ow];
        for ki in 0..g.kh {
            let row = &xp[(oy * g.sh + ki) * wp..][..wp];
            for kj in 0..g.kw {
                let wv = w[ki * g.kw + kj];
                let src = &row[kj..];
                if g.sw == 1 {
                    for (d, s) in acc.iter_mut().zip(src) {
                        *d += wv * s;
                    }
                } else {
                    for (d, s) in acc.iter_mut().zip(src.iter().step_by(g.sw)) {
                        *d += wv * s;
                    }
                }
            }
        }
    }
}

/// The gradient for `x` from the output's gradient `dy`: each tap scattered into a zero-padded
/// plane (taps in the same order as before, one contribution per tap to each value), then the
/// image cut out of it.
pub fn input_grad(g: &Geometry, dy: &[f32], w: &[f32]) -> Vec<f32> {
    let (hw, p, taps_n) = (g.h * g.w, g.p(), g.kh * g.kw);
    let mut dx = vec![0f32; g.n * g.c * hw];
    let level = Level::detect();
    dx.par_chunks_mut(hw)
        .enumerate()
        .for_each_init(Vec::new, |dxp, (plane, dx)| {
            let ch = plane % g.c;
            let (dy, w) = (&dy[plane * p..][..p], &w[ch * taps_n..][..taps_n]);
            input_grad_plane_at(level, g, dy, w, dx, dxp);
        });
    dx
}

/// One input-gradient plane of [`input_grad`], with a scratch buffer for the padded plane.
#[inline(always)]
fn input_grad_plane(g: &Geometry, dy: &[f32], w: &[f32], dx: &mut [f32], dxp: &mut Vec<f32>) {
    let (hp, wp) = padded(g);
    dxp.clear();
    dxp.resize(hp * wp + g.kw, 0.0);
    if g.sh == 1 && g.sw == 1 {
        // dy at the padded width (zeros in the kw - 1 extra columns, which add ±0 to sums that
        // are never −0), so that each tap is one multiply-add along the whole plane.
        let n = g.oh * wp;
        let mut dyp = vec![0f32; n];
        for oy in 0..g.oh {
            dyp[oy * wp..][..g.ow].copy_from_slice(&dy[oy * g.ow..][..g.ow]);
        }
        for ki in 0..g.kh {
            for kj in 0..g.kw {
                let wv = w[ki * g.kw + kj];
                for (d, s) in dxp[ki * wp + kj..][..n].iter_mut().zip(&dyp) {
                    *d += wv * s;
                }
            }
        }
    } else {
        strided_input_grad(g, dy, w, dxp, wp);
    }
    let cols = g.w.min(wp.saturating_sub(g.pl));
    for iy in 0..g.h.min(hp.saturating_sub(g.pt)) {
        dx[iy * g.w..][..cols].copy_from_slice(&dxp[(iy + g.pt) * wp + g.pl..][..cols]);
    }
}

/// [`input_grad_plane`] for strides above 1: row by row into the padded plane `dxp`.
#[inline(always)]
fn strided_input_grad(g: &Geometry, dy: &[f32], w: &[f32], dxp: &mut [f32], wp: usize) {
    for ki in 0..g.kh {
        for kj in 0..g.kw {
            let wv = w[ki * g.kw + kj];
            for oy in 0..g.oh {
                let src = &dy[oy * g.ow..][..g.ow];
                let dst = &mut dxp[(oy * g.sh + ki) * wp + kj..];
                if g.sw == 1 {
                    for (d, s) in dst.iter_mut().zip(src) {
                        *d += wv * s;
                    }
                } else {
                    for (d, s) in dst.iter_mut().step_by(g.sw).zip(src) {
                        *d += wv * s;
                    }
                }
            }
        }
    }
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
