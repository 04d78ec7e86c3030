//! 2-D convolution on f32 NCHW tensors as im2col + one GEMM per chunk of images (the `gemm`
//! crate burn-flex itself uses), for the forward pass and both gradients.
//!
//! Why not burn's ops: burn-flex transposes every input to NHWC and multiplies 512-column tiles,
//! and burn computes the weight gradient as a convolution with the batch as channels and the
//! input gradient as a transposed convolution. Here each pass is one column matrix and one GEMM
//! over a chunk of images wide enough for the micro-kernels (at least [`MIN_COLUMNS`] columns),
//! written straight into NCHW. Every sum runs in an order fixed by the shapes alone, so a result
//! does not depend on the number of threads.

use std::cell::Cell;

use gemm::Parallelism;
use rayon::prelude::*;

use super::columns::{col2im, im2col};

/// Columns a GEMM should get at least, so that small images (4×4 at the end of a ResNet) are
/// multiplied several at once.
const MIN_COLUMNS: usize = 256;
/// Bound on a column matrix (floats), so large images and batches stay within caches and memory.
const MAX_COLUMN_FLOATS: usize = 1 << 21;
/// Column values of one image's tile of output rows (see [`Geometry::tile_rows`]).
const TILE_FLOATS: usize = 1 << 16;
/// Partial weight gradients summed at the end: parallelism for the weight gradient, fixed by
/// the shapes (not the thread count) so the sum's order is.
const WEIGHT_SLICES: usize = 8;

/// A convolution's sizes; built by [`Geometry::new`] for the cases these kernels take.
#[derive(Clone, Copy, Debug)]
pub struct Geometry {
    /// Batch.
    pub n: usize,
    /// Input channels, height and width.
    pub c: usize,
    pub h: usize,
    pub w: usize,
    /// Output channels.
    pub co: usize,
    /// Kernel height and width.
    pub kh: usize,
    pub kw: usize,
    /// Strides.
    pub sh: usize,
    pub sw: usize,
    /// Padding at the top and the left (bottom and right only change the output size).
    pub pt: usize,
    pub pl: usize,
    /// Output height and width.
    pub oh: usize,
    pub ow: usize,
    /// Channel groups.
    pub groups: usize,
}

impl Geometry {
    /// The geometry of `x` [n, c, h, w] convolved with `weight` [co, c/groups, kh, kw], or
    /// `None` for what these kernels leave to burn (dilation, or sizes that do not fit).
    pub fn new(
        x: [usize; 4],
        weight: [usize; 4],
        stride: [usize; 2],
        padding: [(usize, usize); 2],
        dilation: [usize; 2],
        groups: usize,
    ) -> Option<Self> {
        let [n, c, h, w] = x;
        let [co, cg, kh, kw] = weight;
        let [(pt, pb), (pl, pr)] = padding;
        let [sh, sw] = stride;
        let fits = dilation == [1, 1]
            && groups > 0
            && cg * groups == c
            && co % groups == 0
            && sh > 0
            && sw > 0
            && h + pt + pb >= kh
            && w + pl + pr >= kw
            && n * c * h * w > 0
            && co * kh * kw > 0;
        fits.then(|| Geometry {
            n,
            c,
            h,
            w,
            co,
            kh,
            kw,
            sh,
            sw,
            pt,
            pl,
            oh: (h + pt + pb - kh) / sh + 1,
            ow: (w + pl + pr - kw) / sw + 1,
            groups,
        })
    }

    /// Input channels per group.
    pub fn cg(&self) -> usize {
        self.c / self.groups
    }

    /// Output channels per group.
    pub fn cog(&self) -> usize {
        self.co / self.groups
    }

    /// Rows of the column matrix: one per (input channel of a group, kernel row, kernel column).
    pub fn k(&self) -> usize {
        self.cg() * self.kh * self.kw
    }

    /// Output pixels per image.
    pub fn p(&self) -> usize {
        self.oh * self.ow
    }

    /// Whether every input group has one channel and one output (a depthwise convolution).
    pub fn depthwise(&self) -> bool {
        self.cg() == 1 && self.cog() == 1
    }

    /// A 1×1 convolution with stride 1 and no padding: the image is its own column matrix.
    fn pointwise(&self) -> bool {
        self.kh == 1 && self.kw == 1 && self.sh == 1 && self.sw == 1 && self.pt == 0 && self.pl == 0
    }

    /// Output rows per tile of one large image: im2col writes a tile of at most [`TILE_FLOATS`]
    /// values, which stays in a core's L2 cache until the GEMM packs it (a whole 64×64 map of 64
    /// channels would be 9 MB).
    fn tile_rows(&self) -> usize {
        (TILE_FLOATS / self.k())
            .max(MIN_COLUMNS)
            .div_ceil(self.ow)
            .max(1)
    }

    /// Whether one image is multiplied tile by tile (only ever with one image per chunk).
    fn tiled(&self) -> bool {
        !self.pointwise() && self.tile_rows() < self.oh
    }

    /// The output's row tiles `(first, end)`.
    fn tiles(&self) -> impl Iterator<Item = (usize, usize)> + use<> {
        let (rows, oh) = (self.tile_rows(), self.oh);
        (0..oh)
            .step_by(rows)
            .map(move |r0| (r0, (r0 + rows).min(oh)))
    }

    /// Values of the column matrix for `imgs` images.
    fn col_floats(&self, imgs: usize) -> usize {
        match self.tiled() {
            true => self.k() * self.tile_rows() * self.ow,
            false => self.k() * imgs * self.p(),
        }
    }

    /// Images per GEMM.
    fn chunk(&self) -> usize {
        let p = self.p();
        let wide = MIN_COLUMNS.div_ceil(p);
        let bounded = (MAX_COLUMN_FLOATS / (self.k().max(self.cog()) * p)).max(1);
        wide.min(bounded).clamp(1, self.n)
    }
}

thread_local! {
    /// Each thread's column and staging buffers, kept between calls: a training step needs the
    /// same sizes every step, and a fresh zeroed allocation each time costs a pass of memset.
    static SCRATCH: Cell<Vec<f32>> = const { Cell::new(Vec::new()) };
}

/// Runs `f` on this thread's scratch split into buffers of `a` and `b` values, whose contents
/// are left over from earlier calls (every caller writes before it reads).
fn with_scratch<R>(a: usize, b: usize, f: impl FnOnce(&mut [f32], &mut [f32]) -> R) -> R {
    // Taken out rather than borrowed: a GEMM's own threads may run another chunk on this thread.
    let mut buf = SCRATCH.with(Cell::take);
    if buf.len() < a + b {
        buf.resize(a + b, 0.0);
    }
    let (x, y) = buf.split_at_mut(a);
    let out = f(x, &mut y[..b]);
    SCRATCH.with(|s| s.set(buf));
    out
}

/// A matrix operand: its first element and its row and column strides.
#[derive(Clone, Copy)]
struct Mat(*const f32, usize, usize);

/// A matrix written to: its first element and its row and column strides.
#[derive(Clone, Copy)]
struct MatMut(*mut f32, usize, usize);

/// `dst` (m×n) = a·b, or `dst += a·b` when `accumulate`.
///
/// # Safety
/// Every operand covers the extent its sizes and strides describe, and `dst` is not aliased.
unsafe fn matmul(
    [m, n, k]: [usize; 3],
    dst: MatMut,
    accumulate: bool,
    a: Mat,
    b: Mat,
    parallelism: Parallelism,
) {
    // SAFETY: the caller's contract.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.0,
            dst.2 as isize,
            dst.1 as isize,
            accumulate,
            a.0,
            a.2 as isize,
            a.1 as isize,
            b.0,
            b.2 as isize,
            b.1 as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            parallelism,
        );
    }
}

/// The GEMM's own threads when the chunks alone cannot keep the pool busy.
fn inner_parallelism(chunks: usize) -> Parallelism {
    match rayon::current_num_threads() {
        t if t > 1 && chunks < t => Parallelism::Rayon(t),
        _ => Parallelism::None,
    }
}

/// Copies output channels `o0..o0 + rows` of `imgs` NCHW images `src` ([imgs, ch, p]) into a
/// [rows, imgs·p] matrix, image by image along the columns.
fn gather(src: &[f32], imgs: usize, ch: usize, p: usize, o0: usize, rows: usize, dst: &mut [f32]) {
    let ld = imgs * p;
    for i in 0..imgs {
        for o in 0..rows {
            dst[o * ld + i * p..][..p].copy_from_slice(&src[(i * ch + o0 + o) * p..][..p]);
        }
    }
}

/// Copies output channels `o0..o0 + rows` of `imgs` NCHW images `src` ([imgs, ch, p]) into a
/// pixel-major [imgs·p, rows] matrix: the transpose of what [`gather`] writes.
fn gather_pixels(
    src: &[f32],
    imgs: usize,
    ch: usize,
    p: usize,
    o0: usize,
    rows: usize,
    dst: &mut [f32],
) {
    for i in 0..imgs {
        let dst = &mut dst[i * p * rows..][..p * rows];
        for o in 0..rows {
            let plane = &src[(i * ch + o0 + o) * p..][..p];
            for (t, v) in plane.iter().enumerate() {
                dst[t * rows + o] = *v;
            }
        }
    }
}

/// The convolution's output [n, co, oh, ow] of `x` [n, c, h, w] and `w` [co, cg, kh, kw].
pub fn forward(g: &Geometry, x: &[f32], w: &[f32], bias: Option<&[f32]>) -> Vec<f32> {
    let (p, k, cg, cog) = (g.p(), g.k(), g.cg(), g.cog());
    let (chunk, in_img, out_img) = (g.chunk(), g.c * g.h * g.w, g.co * p);
    let mut out = vec![0f32; g.n * out_img];
    let par = inner_parallelism(g.n.div_ceil(chunk));
    out.par_chunks_mut(chunk * out_img)
        .enumerate()
        .for_each(|(index, out)| {
            let imgs = out.len() / out_img;
            let x = &x[index * chunk * in_img..][..imgs * in_img];
            let ld = imgs * p;
            let direct = g.pointwise() && imgs == 1;
            let cols = if direct { 0 } else { g.col_floats(imgs) };
            let tmps = if imgs > 1 { cog * ld } else { 0 };
            with_scratch(cols, tmps, |col, tmp| {
                for group in 0..g.groups {
                    let lhs = Mat(w[group * cog * k..].as_ptr(), k, 1);
                    if g.tiled() {
                        for (r0, r1) in g.tiles() {
                            let n = (r1 - r0) * g.ow;
                            im2col(g, x, group, (col, n, 0), (r0, r1));
                            let dst = out[group * cog * p + r0 * g.ow..].as_mut_ptr();
                            let rhs = Mat(col.as_ptr(), n, 1);
                            // SAFETY: lhs is cog×k of w, rhs k×n of col, dst cog×n of out
                            // with rows p apart.
                            unsafe { matmul([cog, n, k], MatMut(dst, p, 1), false, lhs, rhs, par) };
                        }
                        continue;
                    }
                    let rhs = if direct {
                        Mat(x[group * cg * p..].as_ptr(), p, 1)
                    } else {
                        for i in 0..imgs {
                            let x = &x[i * in_img..][..in_img];
                            im2col(g, x, group, (col, ld, i * p), (0, g.oh));
                        }
                        Mat(col.as_ptr(), ld, 1)
                    };
                    let dst = match imgs {
                        1 => out[group * cog * p..][..cog * p].as_mut_ptr(),
                        _ => tmp.as_mut_ptr(),
                    };
                    // SAFETY: lhs is cog×k of w, rhs k×ld of x or col, dst cog×ld of out or tmp.
                    unsafe { matmul([cog, ld, k], MatMut(dst, ld, 1), false, lhs, rhs, par) };
                    for i in (0..imgs).filter(|_| imgs > 1) {
                        for o in 0..cog {
                            let row = &tmp[o * ld + i * p..][..p];
                            out[(i * g.co + group * cog + o) * p..][..p].copy_from_slice(row);
                        }
                    }
                }
            });
            if let Some(bias) = bias {
                for (plane, b) in out.chunks_exact_mut(p).zip(bias.iter().cycle()) {
                    plane.iter_mut().for_each(|v| *v += b);
                }
            }
        });
    out
}

/// The gradient for `x` [n, c, h, w] from the output's gradient `dy` [n, co, oh, ow].
pub fn input_grad(g: &Geometry, dy: &[f32], w: &[f32]) -> Vec<f32> {
    let (p, k, cg, cog) = (g.p(), g.k(), g.cg(), g.cog());
    let (chunk, in_img, out_img) = (g.chunk(), g.c * g.h * g.w, g.co * p);
    let mut dx = vec![0f32; g.n * in_img];
    let par = inner_parallelism(g.n.div_ceil(chunk));
    dx.par_chunks_mut(chunk * in_img)
        .enumerate()
        .for_each(|(index, dx)| {
            let imgs = dx.len() / in_img;
            let dy = &dy[index * chunk * out_img..][..imgs * out_img];
            let ld = imgs * p;
            let direct = g.pointwise() && imgs == 1;
            let cols = if direct { 0 } else { g.col_floats(imgs) };
            let dycs = if imgs > 1 { cog * ld } else { 0 };
            with_scratch(cols, dycs, |col, dyc| {
                for group in 0..g.groups {
                    // wᵀ: row r, column o is w[o, r] of this group.
                    let lhs = Mat(w[group * cog * k..].as_ptr(), 1, k);
                    if g.tiled() {
                        for (r0, r1) in g.tiles() {
                            let n = (r1 - r0) * g.ow;
                            let rhs = Mat(dy[group * cog * p + r0 * g.ow..].as_ptr(), p, 1);
                            // SAFETY: lhs is k×cog of w, rhs cog×n of dy with rows p apart,
                            // dst k×n of col.
                            unsafe {
                                matmul(
                                    [k, n, cog],
                                    MatMut(col.as_mut_ptr(), n, 1),
                                    false,
                                    lhs,
                                    rhs,
                                    par,
                                )
                            };
                            col2im(g, (&mut *col, n, 0), group, dx, (r0, r1));
                        }
                        continue;
                    }
                    let rhs = match imgs {
                        1 => Mat(dy[group * cog * p..].as_ptr(), p, 1),
                        _ => {
                            gather(dy, imgs, g.co, p, group * cog, cog, dyc);
                            Mat(dyc.as_ptr(), ld, 1)
                        }
                    };
                    let dst = match direct {
                        true => dx[group * cg * p..][..cg * p].as_mut_ptr(),
                        false => col.as_mut_ptr(),
                    };
                    // SAFETY: lhs is k×cog of w, rhs cog×ld of dy or dyc, dst k×ld of dx or col.
                    unsafe { matmul([k, ld, cog], MatMut(dst, ld, 1), false, lhs, rhs, par) };
                    for i in (0..imgs).filter(|_| !direct) {
                        let dx = &mut dx[i * in_img..][..in_img];
                        col2im(g, (&mut *col, ld, i * p), group, dx, (0, g.oh));
                    }
                }
            });
        });
    dx
}

/// The gradient for `w` [co, cg, kh, kw] from `x` and the output's gradient `dy`.
///
/// Both operands have the output pixels (the sum) as their contiguous dimension, and gemm's
/// micro-kernels want one of them the other way round: with dW as the product (gemm views it
/// column-major, output channels across) it repacks the column matrix, a transpose nine times
/// the size of `dy`'s. So unless an image is multiplied tile by tile, `dy` is transposed
/// instead (pixel-major, [`gather_pixels`]) when it is the smaller (k > cog), and the product
/// written as dWᵀ [k, cog], turned round at the end: at 16 channels of 16×16 this ran in 0.56
/// ms instead of 1.43.
pub fn weight_grad(g: &Geometry, x: &[f32], dy: &[f32]) -> Vec<f32> {
    let (p, k, cg, cog) = (g.p(), g.k(), g.cg(), g.cog());
    let (chunk, in_img, out_img) = (g.chunk(), g.c * g.h * g.w, g.co * p);
    let chunks = g.n.div_ceil(chunk);
    let slices = chunks.min(WEIGHT_SLICES);
    let par = inner_parallelism(slices);
    // dy is the operand transposed when it is the smaller one (and not tile by tile).
    let pixel_major = !g.tiled() && k > cog;
    let partial = |slice: usize| {
        // [groups, k, cog] when `pixel_major`, else [groups, cog, k].
        let mut dw = vec![0f32; g.co * k];
        for (step, index) in (slice * chunks / slices..(slice + 1) * chunks / slices).enumerate() {
            let first = index * chunk;
            let imgs = chunk.min(g.n - first);
            let x = &x[first * in_img..][..imgs * in_img];
            let dy = &dy[first * out_img..][..imgs * out_img];
            let ld = imgs * p;
            let direct = g.pointwise() && imgs == 1;
            let cols = if direct { 0 } else { g.col_floats(imgs) };
            let dycs = if pixel_major || imgs > 1 { cog * ld } else { 0 };
            with_scratch(cols, dycs, |col, dyc| {
                for group in 0..g.groups {
                    let dst = dw[group * cog * k..][..cog * k].as_mut_ptr();
                    if g.tiled() {
                        for (tile, (r0, r1)) in g.tiles().enumerate() {
                            let n = (r1 - r0) * g.ow;
                            im2col(g, x, group, (col, n, 0), (r0, r1));
                            let lhs = Mat(dy[group * cog * p + r0 * g.ow..].as_ptr(), p, 1);
                            let rhs = Mat(col.as_ptr(), 1, n);
                            let accumulate = step > 0 || tile > 0;
                            // SAFETY: lhs is cog×n of dy with rows p apart, rhs n×k, dst cog×k.
                            unsafe {
                                matmul([cog, k, n], MatMut(dst, k, 1), accumulate, lhs, rhs, par)
                            };
                        }
                        continue;
                    }
                    // dy: row o, column j (an output pixel).
                    let lhs = match (pixel_major, imgs) {
                        (true, _) => {
                            gather_pixels(dy, imgs, g.co, p, group * cog, cog, dyc);
                            Mat(dyc.as_ptr(), 1, cog)
                        }
                        (false, 1) => Mat(dy[group * cog * p..].as_ptr(), p, 1),
                        (false, _) => {
                            gather(dy, imgs, g.co, p, group * cog, cog, dyc);
                            Mat(dyc.as_ptr(), ld, 1)
                        }
                    };
                    // colᵀ: row j, column r.
                    let rhs = if direct {
                        Mat(x[group * cg * p..].as_ptr(), 1, p)
                    } else {
                        for i in 0..imgs {
                            let x = &x[i * in_img..][..in_img];
                            im2col(g, x, group, (col, ld, i * p), (0, g.oh));
                        }
                        Mat(col.as_ptr(), 1, ld)
                    };
                    let dst = match pixel_major {
                        true => MatMut(dst, 1, cog),
                        false => MatMut(dst, k, 1),
                    };
                    // SAFETY: lhs is cog×ld, rhs ld×k, dst cog×k of this group's dW (or of its
                    // dWᵀ, k×cog, read column-major).
                    unsafe { matmul([cog, k, ld], dst, step > 0, lhs, rhs, par) };
                }
            });
        }
        dw
    };
    let partials: Vec<Vec<f32>> = (0..slices).into_par_iter().map(partial).collect();
    let mut partials = partials.into_iter();
    let mut dw = partials.next().unwrap_or_else(|| vec![0f32; g.co * k]);
    for more in partials {
        dw.iter_mut().zip(&more).for_each(|(a, b)| *a += b);
    }
    if !pixel_major {
        return dw;
    }
    let mut out = vec![0f32; g.co * k];
    for (out, dwt) in out.chunks_exact_mut(cog * k).zip(dw.chunks_exact(cog * k)) {
        for (r, row) in dwt.chunks_exact(cog).enumerate() {
            for (o, v) in row.iter().enumerate() {
                out[o * k + r] = *v;
            }
        }
    }
    out
}

/// The gradient for a bias [co]: the sum of `dy` over images and pixels, channel by channel.
pub fn bias_grad(g: &Geometry, dy: &[f32]) -> Vec<f32> {
    let p = g.p();
    (0..g.co)
        .into_par_iter()
        .map(|o| {
            (0..g.n)
                .map(|i| super::norm::sum(&dy[(i * g.co + o) * p..][..p]))
                .sum()
        })
        .collect()
}
