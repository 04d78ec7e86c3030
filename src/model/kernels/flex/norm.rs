//! Batch norm on f32 NCHW tensors, fused: training statistics in two passes over the input
//! (mean, then the centred sum of squares), the normalisation in one, and the backward pass's
//! two per-channel sums in one pass before the one that writes the input gradient. A ReLU or
//! ReLU6 that follows is fused into the output pass, and its gradient into the backward passes.
//!
//! Why not burn's ops: burn composes batch norm from about ten element-wise passes with a
//! tensor for each. Sums here run in a fixed order (16 lanes, then the lanes in order), so a
//! result does not depend on the number of threads.

use rayon::prelude::*;

use super::simd::{Level, versions};

/// Lanes of a sum: enough independent accumulators for the compiler to vectorise.
const LANES: usize = 16;

/// Σ v, in a fixed order.
#[inline(always)]
pub fn sum(v: &[f32]) -> f32 {
    let mut acc = [0f32; LANES];
    let chunks = v.chunks_exact(LANES);
    let rest: f32 = chunks.remainder().iter().sum();
    for c in chunks {
        for (a, x) in acc.iter_mut().zip(c) {
            *a += x;
        }
    }
    acc.iter().sum::<f32>() + rest
}

/// Σ (v − m)², in a fixed order.
#[inline(always)]
fn centred_squares(v: &[f32], m: f32) -> f32 {
    let mut acc = [0f32; LANES];
    let chunks = v.chunks_exact(LANES);
    let rest: f32 = chunks.remainder().iter().map(|x| (x - m) * (x - m)).sum();
    for c in chunks {
        for (a, x) in acc.iter_mut().zip(c) {
            *a += (x - m) * (x - m);
        }
    }
    acc.iter().sum::<f32>() + rest
}

/// One plane's part of (Σ g, Σ g·(v − m)): the lanes' sums over whole chunks of [`LANES`], and
/// the sums of the values after the last whole chunk. [`channel_grad_sums`] adds the lanes up.
struct Partial {
    g: [f32; LANES],
    gv: [f32; LANES],
    rest: (f32, f32),
}

/// A plane's [`Partial`] of `through(g, v)`: `g` itself, or `g` through the fused activation.
#[inline(always)]
fn grad_lanes(g: &[f32], v: &[f32], m: f32, through: impl Fn(f32, f32) -> f32) -> Partial {
    let (mut sg, mut sgv) = ([0f32; LANES], [0f32; LANES]);
    let (gc, vc) = (g.chunks_exact(LANES), v.chunks_exact(LANES));
    let (mut rg, mut rgv) = (0f32, 0f32);
    for (g, v) in gc.remainder().iter().zip(vc.remainder()) {
        let g = through(*g, *v);
        rg += g;
        rgv += g * (v - m);
    }
    for (g, v) in gc.zip(vc) {
        let (g, v) = (lanes(g), lanes(v));
        for l in 0..LANES {
            let g = through(g[l], v[l]);
            sg[l] += g;
            sgv[l] += g * (v[l] - m);
        }
    }
    Partial {
        g: sg,
        gv: sgv,
        rest: (rg, rgv),
    }
}

/// A chunk of [`LANES`] values as an array, so that the loops over it have no bounds checks
/// and vectorise.
#[inline(always)]
fn lanes(c: &[f32]) -> [f32; LANES] {
    c.try_into().expect("a chunk of LANES")
}

/// Planes whose lanes are added up side by side in [`grouped_grad_sums`].
const GROUP: usize = 8;

/// Each column's sum, row after row from −0.0: for every plane (a column) the same additions in
/// the same order as `lanes.iter().sum::<f32>()`, but eight planes at a time in one vector,
/// instead of one chain of dependent additions per plane, which on small maps cost more than
/// the arithmetic of the pass.
#[inline(always)]
fn column_sums(rows: &[[f32; GROUP]; LANES]) -> [f32; GROUP] {
    let mut out = [-0.0f32; GROUP];
    for row in rows {
        for (o, v) in out.iter_mut().zip(row) {
            *o += v;
        }
    }
    out
}

/// clamp(v, 0, hi), keeping a NaN a NaN (a diverged run must still show as one).
#[inline(always)]
fn clamp(v: f32, hi: f32) -> f32 {
    if v < 0.0 {
        0.0
    } else if v > hi {
        hi
    } else {
        v
    }
}

/// The gradient `g` through [`clamp`], from its output `y`: zero where the clamp held it.
#[inline(always)]
fn passed(g: f32, y: f32, hi: f32) -> f32 {
    // Both comparisons without a branch, so that the loops vectorise. (ReLU's infinite ceiling
    // stops only an infinite output, whose gradient is lost to NaNs anyway.)
    if (y > 0.0) & (y < hi) { g } else { 0.0 }
}

/// A batch's layout: images, channels, pixels per channel.
#[derive(Clone, Copy, Debug)]
pub struct Layout {
    /// Images.
    pub n: usize,
    /// Channels.
    pub c: usize,
    /// Values per channel and image.
    pub p: usize,
}

impl Layout {
    /// The planes of channel `ch`, image by image.
    fn planes<'a>(&self, v: &'a [f32], ch: usize) -> impl Iterator<Item = &'a [f32]> {
        (0..self.n).map(move |i| &v[(i * self.c + ch) * self.p..][..self.p])
    }
}

/// `y = (x − mean)·scale + shift`, channel by channel, then clamp(y, 0, ceiling) if there is one.
fn affine(
    l: Layout,
    x: &[f32],
    [mean, scale, shift]: [&[f32]; 3],
    ceiling: Option<f32>,
) -> Vec<f32> {
    let mut y = vec![0f32; x.len()];
    let level = Level::detect();
    y.par_chunks_mut(l.p)
        .zip(x.par_chunks(l.p))
        .enumerate()
        .for_each(|(plane, (y, x))| {
            let ch = plane % l.c;
            let mab = (mean[ch], scale[ch], shift[ch]);
            affine_plane_at(level, y, x, mab, ceiling);
        });
    y
}

versions! {
    /// [`affine_plane`] compiled for `level`: batch norm's loops run at the CPU's vector width.
    fn affine_plane_at(y: &mut [f32], x: &[f32], mab: (f32, f32, f32), ceiling: Option<f32>) => affine_plane
}

/// One plane of [`affine`], with the channel's (mean, scale, shift).
#[inline(always)]
fn affine_plane(y: &mut [f32], x: &[f32], (m, a, b): (f32, f32, f32), ceiling: Option<f32>) {
    match ceiling {
        None => {
            for (y, x) in y.iter_mut().zip(x) {
                *y = (x - m) * a + b;
            }
        }
        Some(hi) => {
            for (y, x) in y.iter_mut().zip(x) {
                *y = clamp((x - m) * a + b, hi);
            }
        }
    }
}

versions! {
    /// [`channel_stats`] compiled for `level`.
    fn channel_stats_at(l: Layout, x: &[f32], ch: usize, out: &mut (f32, f32)) => channel_stats
}

/// Channel `ch`'s batch mean and biased variance.
#[inline(always)]
fn channel_stats(l: Layout, x: &[f32], ch: usize, out: &mut (f32, f32)) {
    let count = (l.n * l.p) as f32;
    let mean = l.planes(x, ch).map(sum).sum::<f32>() / count;
    let var = l
        .planes(x, ch)
        .map(|v| centred_squares(v, mean))
        .sum::<f32>()
        / count;
    *out = (mean, var);
}

/// Batch norm over a training batch, then clamp(·, 0, ceiling) if there is one: (output, batch
/// mean, biased batch variance, 1/√(var + ε)).
pub fn train(
    l: Layout,
    x: &[f32],
    [gamma, beta]: [&[f32]; 2],
    epsilon: f64,
    ceiling: Option<f32>,
) -> (Vec<f32>, Vec<f32>, Vec<f32>, Vec<f32>) {
    let level = Level::detect();
    let stats: Vec<(f32, f32)> = (0..l.c)
        .into_par_iter()
        .map(|ch| {
            let mut out = (0.0, 0.0);
            channel_stats_at(level, l, x, ch, &mut out);
            out
        })
        .collect();
    let (mean, var): (Vec<f32>, Vec<f32>) = stats.into_iter().unzip();
    let inv_std: Vec<f32> = var
        .iter()
        .map(|v| 1.0 / (v + epsilon as f32).sqrt())
        .collect();
    let scale: Vec<f32> = gamma.iter().zip(&inv_std).map(|(g, s)| g * s).collect();
    let y = affine(l, x, [&mean, &scale, beta], ceiling);
    (y, mean, var, inv_std)
}

/// What [`train_grads`] needs of the forward pass: its input, gamma, the batch mean and
/// 1/√(var + ε), and beta with the ceiling when an activation was fused.
pub struct Saved<'a> {
    /// The input.
    pub x: &'a [f32],
    /// The scale parameter.
    pub gamma: &'a [f32],
    /// The batch mean.
    pub mean: &'a [f32],
    /// 1/√(var + ε).
    pub inv_std: &'a [f32],
    /// Beta and the clamp's ceiling, when the activation was fused.
    pub act: Option<(&'a [f32], f32)>,
}

/// Gradients of [`train`] for x, gamma and beta, from the output's gradient `dy`.
pub fn train_grads(l: Layout, s: Saved, dy: &[f32]) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let count = (l.n * l.p) as f32;
    let (x, mean, inv_std) = (s.x, s.mean, s.inv_std);
    // The forward's (scale, shift, ceiling) per channel, to recompute its output.
    let affine = |ch: usize| {
        s.act
            .map(|(beta, hi)| (s.gamma[ch] * inv_std[ch], beta[ch], hi))
    };
    let level = Level::detect();
    let sums: Vec<(f32, f32)> = (0..l.c)
        .into_par_iter()
        .map(|ch| {
            let mut out = (0.0, 0.0);
            channel_grad_sums_at(level, l, [dy, x], ch, (mean[ch], affine(ch)), &mut out);
            out
        })
        .collect();
    let dbeta: Vec<f32> = sums.iter().map(|s| s.0).collect();
    let dgamma: Vec<f32> = sums.iter().zip(inv_std).map(|(s, i)| s.1 * i).collect();
    // dx = γ/σ · (dy − Σdy/M − x̂·Σ(dy·x̂)/M), with x̂ = (x − μ)/σ.
    let coef: Vec<(f32, f32, f32)> = (0..l.c)
        .map(|ch| {
            let a = s.gamma[ch] * inv_std[ch];
            let shift = dbeta[ch] / count;
            let slope = dgamma[ch] * inv_std[ch] / count;
            (a, shift, slope)
        })
        .collect();
    let mut dx = vec![0f32; x.len()];
    dx.par_chunks_mut(l.p)
        .zip(dy.par_chunks(l.p).zip(x.par_chunks(l.p)))
        .enumerate()
        .for_each(|(plane, (dx, (dy, x)))| {
            let ch = plane % l.c;
            dx_plane_at(level, dx, [dy, x], (coef[ch], mean[ch]), affine(ch));
        });
    (dx, dgamma, dbeta)
}

/// The forward's (scale, shift, ceiling) of a channel when an activation was fused.
type Act = Option<(f32, f32, f32)>;

versions! {
    /// [`channel_grad_sums`] compiled for `level`.
    fn channel_grad_sums_at(
        l: Layout,
        dy_x: [&[f32]; 2],
        ch: usize,
        mean_act: (f32, Act),
        out: &mut (f32, f32),
    ) => channel_grad_sums
}

/// Channel `ch`'s (Σ dy, Σ dy·(x − mean)), the gradient taken through the activation if any.
#[inline(always)]
fn channel_grad_sums(
    l: Layout,
    dy_x: [&[f32]; 2],
    ch: usize,
    (mean, act): (f32, Act),
    out: &mut (f32, f32),
) {
    // One loop for each case, so that neither tests for the activation inside it.
    *out = match act {
        None => grouped_grad_sums(l, dy_x, ch, mean),
        // Where 0 < (v − m)·a + b < hi (the forward's output, recomputed bit for bit), else 0.
        Some((a, b, hi)) => {
            let [dy, x] = dy_x;
            let (mut sg, mut sgx) = (0f32, 0f32);
            for (dy, x) in l.planes(dy, ch).zip(l.planes(x, ch)) {
                let p = grad_lanes(dy, x, mean, |g, v| passed(g, (v - mean) * a + b, hi));
                sg += p.g.iter().sum::<f32>() + p.rest.0;
                sgx += p.gv.iter().sum::<f32>() + p.rest.1;
            }
            (sg, sgx)
        }
    };
}

/// [`channel_grad_sums`] without an activation, [`GROUP`] planes' lanes added up side by side:
/// the same additions in the same order as one plane after the other. (With an activation the
/// pass measured slower grouped, 0.54–0.69 → 0.70–0.80 ms on the quickstart's shapes, and
/// faster without, 0.66–1.00 → 0.54–0.60: the masking's arithmetic already overlaps each
/// plane's chain of additions.)
#[inline(always)]
fn grouped_grad_sums(l: Layout, [dy, x]: [&[f32]; 2], ch: usize, mean: f32) -> (f32, f32) {
    let (mut sg, mut sgx) = (0f32, 0f32);
    let mut planes = l.planes(dy, ch).zip(l.planes(x, ch)).peekable();
    while planes.peek().is_some() {
        let (mut g, mut gv) = ([[0f32; GROUP]; LANES], [[0f32; GROUP]; LANES]);
        let mut rest = [(0f32, 0f32); GROUP];
        let mut k = 0;
        for (dy, x) in planes.by_ref().take(GROUP) {
            let p = grad_lanes(dy, x, mean, |g, _| g);
            for l in 0..LANES {
                g[l][k] = p.g[l];
                gv[l][k] = p.gv[l];
            }
            rest[k] = p.rest;
            k += 1;
        }
        let (g, gv) = (column_sums(&g), column_sums(&gv));
        for j in 0..k {
            sg += g[j] + rest[j].0;
            sgx += gv[j] + rest[j].1;
        }
    }
    (sg, sgx)
}

versions! {
    /// [`dx_plane`] compiled for `level`.
    fn dx_plane_at(
        dx: &mut [f32],
        dy_x: [&[f32]; 2],
        coef_mean: ((f32, f32, f32), f32),
        act: Act,
    ) => dx_plane
}

/// One plane of the input gradient, from the channel's (γ/σ, Σdy/M, Σ(dy·x̂)/(σM)) and mean.
#[inline(always)]
fn dx_plane(
    dx: &mut [f32],
    [dy, x]: [&[f32]; 2],
    ((a, shift, slope), m): ((f32, f32, f32), f32),
    act: Act,
) {
    match act {
        None => {
            for ((d, g), v) in dx.iter_mut().zip(dy).zip(x) {
                *d = a * (g - shift - (v - m) * slope);
            }
        }
        Some((scale, b, hi)) => {
            for ((d, g), v) in dx.iter_mut().zip(dy).zip(x) {
                let g = passed(*g, (v - m) * scale + b, hi);
                *d = a * (g - shift - (v - m) * slope);
            }
        }
    }
}

/// Batch norm with given statistics (inference, or a layer in eval mode), then clamp(·, 0,
/// ceiling) if there is one.
pub fn eval(
    l: Layout,
    x: &[f32],
    [gamma, beta, mean, var]: [&[f32]; 4],
    epsilon: f64,
    ceiling: Option<f32>,
) -> Vec<f32> {
    let scale: Vec<f32> = gamma
        .iter()
        .zip(var)
        .map(|(g, v)| g / (v + epsilon as f32).sqrt())
        .collect();
    affine(l, x, [mean, &scale, beta], ceiling)
}
