//! A convolution's column matrix (im2col), through a zero-padded copy of one input plane at a
//! time, and its adjoint (col2im), straight into the image.
//!
//! Why the copy: straight from the image, each kernel tap's row of the column matrix is a few
//! copies cut short at the image's edges and zero fills around them, and on the quickstart's
//! 16×16 to 4×4 maps that bookkeeping cost more than the copying. In the padded plane every
//! output row of every tap is one run of `ow` values, copied with a fixed length when `ow` is
//! small (no call to memcpy). For stride s the plane is split by column phase (columns q, q+s,
//! q+2s, ... side by side), so the runs stay contiguous. The same values land in the same
//! places, so the floats do not change. col2im the same way (into a padded plane loaded from
//! dx and written back, the same sums in the same order) measured slower: 16→16@16×16 input
//! gradient 0.60 → 0.83 ms, as loading and storing the plane costs what the edges saved.

use std::cell::Cell;

use super::conv::Geometry;

/// Output positions `lo..hi` (of `out`) whose input position `o * s + k - pad` lies in `0..len`.
pub(super) fn inside(len: usize, out: usize, s: usize, k: usize, pad: usize) -> (usize, usize) {
    let lo = if pad > k { (pad - k).div_ceil(s) } else { 0 };
    let hi = if len + pad > k {
        (len + pad - k).div_ceil(s).min(out)
    } else {
        0
    };
    (lo.min(hi), hi)
}

/// The padded, phase-split plane of one input channel for output rows `r0..r1`.
///
/// Phase q, row r, column j holds input (y0 + r − pt, j·sw + q − pl), 0 outside the image,
/// where y0 = r0·sh is the first padded row the tile's taps reach.
struct Padded {
    /// Columns per phase.
    cols: usize,
    /// Values per phase.
    phase: usize,
    /// The first padded row (y0 above).
    y0: usize,
    /// Per phase, the columns `lo..hi` inside the image.
    inner: Vec<(usize, usize)>,
    /// The rows `lo..hi` inside the image.
    lines: (usize, usize),
}

impl Padded {
    fn new(g: &Geometry, (r0, r1): (usize, usize)) -> Self {
        let y0 = r0 * g.sh;
        let rows = (r1 - 1) * g.sh + g.kh - y0;
        // A tap kj reads phase kj % sw from column kj / sw on.
        let cols = g.ow + (g.kw - 1) / g.sw;
        let inner = (0..g.sw)
            .map(|q| inside(g.w, cols, g.sw, q, g.pl))
            .collect();
        // Padded row y0 + r is input row y0 + r − pt.
        let lines = inside(g.h, rows, 1, y0, g.pt);
        Padded {
            cols,
            phase: rows * cols,
            y0,
            inner,
            lines,
        }
    }

    /// Values of the whole plane.
    fn len(&self) -> usize {
        self.inner.len() * self.phase
    }

    /// Input row of padded row `r` (inside the image).
    fn input_row(&self, g: &Geometry, r: usize) -> usize {
        self.y0 + r - g.pt
    }

    /// Input column of phase `q`'s column `j` (inside the image).
    fn input_col(&self, g: &Geometry, q: usize, j: usize) -> usize {
        j * g.sw + q - g.pl
    }

    /// Where each tap (ki, kj), in order, reads for the tile's first output row: the run's first
    /// value in the plane, padded row ki (each next output row is [`Padded::step`] further on).
    fn runs(&self, g: &Geometry) -> Vec<usize> {
        let mut out = Vec::with_capacity(g.kh * g.kw);
        for ki in 0..g.kh {
            for kj in 0..g.kw {
                let q = kj % g.sw;
                out.push(q * self.phase + ki * self.cols + kj / g.sw);
            }
        }
        out
    }

    /// From one output row's run to the next's.
    fn step(&self, g: &Geometry) -> usize {
        g.sh * self.cols
    }

    /// Copies `plane` (one input channel, [h, w]) into `buf`'s inside-the-image values; the
    /// rest of `buf` is left as it is (zero, from [`with_plane`]).
    fn load(&self, g: &Geometry, plane: &[f32], buf: &mut [f32]) {
        for r in self.lines.0..self.lines.1 {
            let src = &plane[self.input_row(g, r) * g.w..][..g.w];
            for (q, &(lo, hi)) in self.inner.iter().enumerate() {
                let dst = &mut buf[q * self.phase + r * self.cols..][lo..hi];
                let from = self.input_col(g, q, lo);
                match g.sw {
                    1 => dst.copy_from_slice(&src[from..from + dst.len()]),
                    s => dst
                        .iter_mut()
                        .enumerate()
                        .for_each(|(t, d)| *d = src[from + t * s]),
                }
            }
        }
    }
}

thread_local! {
    /// Each thread's padded plane, kept between calls.
    static PLANE: Cell<Vec<f32>> = const { Cell::new(Vec::new()) };
}

/// Runs `f` on this thread's plane buffer of `len` values, zeroed.
fn with_plane<R>(len: usize, f: impl FnOnce(&mut [f32]) -> R) -> R {
    let mut buf = PLANE.with(Cell::take);
    buf.clear();
    buf.resize(len, 0.0);
    let out = f(&mut buf);
    PLANE.with(|p| p.set(buf));
    out
}

/// `f::<N>()` with N = `len` when it is one of the common small widths (the compiler then
/// copies each row with fixed-size moves instead of a call to memcpy), else `f::<0>()`.
macro_rules! by_width {
    ($len:expr, $f:ident($($arg:expr),*)) => {
        match $len {
            4 => $f::<4>($($arg),*),
            8 => $f::<8>($($arg),*),
            16 => $f::<16>($($arg),*),
            32 => $f::<32>($($arg),*),
            _ => $f::<0>($($arg),*),
        }
    };
}

/// Writes output rows `r0..r1` of group `group` of one image `x` [c, h, w] as columns from `c0`
/// of `col`, a [k, ld] matrix: row (ci, ki, kj), column (oy − r0, ox) holds
/// x[ci, oy·sh + ki − pt, ox·sw + kj − pl] (0 outside the image).
pub(super) fn im2col(
    g: &Geometry,
    x: &[f32],
    group: usize,
    col: (&mut [f32], usize, usize),
    rows: (usize, usize),
) {
    by_width!(g.ow, im2col_n(g, x, group, col, rows))
}

/// [`im2col`] for output rows `N` wide (any width when N = 0).
fn im2col_n<const N: usize>(
    g: &Geometry,
    x: &[f32],
    group: usize,
    (col, ld, c0): (&mut [f32], usize, usize),
    (r0, r1): (usize, usize),
) {
    let ow = if N > 0 { N } else { g.ow };
    let (hw, pad) = (g.h * g.w, Padded::new(g, (r0, r1)));
    let (runs, step) = (pad.runs(g), pad.step(g));
    with_plane(pad.len(), |buf| {
        for ci in 0..g.cg() {
            pad.load(g, &x[(group * g.cg() + ci) * hw..][..hw], buf);
            for (tap, &run) in runs.iter().enumerate() {
                let row = &mut col[(ci * runs.len() + tap) * ld + c0..][..(r1 - r0) * ow];
                for (t, dst) in row.chunks_exact_mut(ow).enumerate() {
                    dst.copy_from_slice(&buf[run + t * step..][..ow]);
                }
            }
        }
    });
}

/// The adjoint of [`im2col`]: adds the columns of output rows `r0..r1` from `c0` of `col` into
/// group `group` of `dx` (zeroing the entries of `col` that fall outside the image on the way).
pub(super) fn col2im(
    g: &Geometry,
    (col, ld, c0): (&mut [f32], usize, usize),
    group: usize,
    dx: &mut [f32],
    (r0, r1): (usize, usize),
) {
    let (p, hw, base) = ((r1 - r0) * g.ow, g.h * g.w, r0 * g.ow);
    let taps = taps(g, (r0, r1));
    for ci in 0..g.cg() {
        let plane = &mut dx[(group * g.cg() + ci) * hw..][..hw];
        for t in &taps {
            let ((ylo, yhi), (xlo, xhi)) = (t.ys, t.xs);
            let row = &mut col[((ci * g.kh + t.ki) * g.kw + t.kj) * ld + c0..][..p];
            if let Some((lo, hi, shift)) = t.flat {
                if xlo > 0 || xhi < g.ow {
                    for oy in ylo..yhi {
                        let r = &mut row[(oy - r0) * g.ow..][..g.ow];
                        zero(&mut r[..xlo]);
                        zero(&mut r[xhi..]);
                    }
                }
                if hi > lo {
                    let to = (lo as isize + shift) as usize;
                    let src = &row[lo - base..hi - base];
                    for (d, s) in plane[to..to + hi - lo].iter_mut().zip(src) {
                        *d += *s;
                    }
                }
                continue;
            }
            if xhi == xlo {
                continue;
            }
            for oy in ylo..yhi {
                let dst = &mut plane[(oy * g.sh + t.ki - g.pt) * g.w..][..g.w];
                let src = &row[(oy - r0) * g.ow..][xlo..xhi];
                let to = &mut dst[xlo * g.sw + t.kj - g.pl..];
                match g.sw {
                    1 => {
                        for (d, s) in to.iter_mut().zip(src) {
                            *d += *s;
                        }
                    }
                    s => strided_add(to, src, s),
                }
            }
        }
    }
}

/// For stride 1 with an output as wide as the input (3×3 padding 1, 1×1, 5×5 padding 2), the
/// valid rows of a kernel tap are one contiguous run of the plane: output index t reads input
/// index t + shift. Returns the run `lo..hi` of output indices inside the plane, and the shift.
fn flat_run(
    g: &Geometry,
    ki: usize,
    kj: usize,
    (ylo, yhi): (usize, usize),
) -> Option<(usize, usize, isize)> {
    if !(g.sh == 1 && g.sw == 1 && g.ow == g.w) {
        return None;
    }
    let shift = (ki as isize - g.pt as isize) * g.w as isize + kj as isize - g.pl as isize;
    let (first, last) = ((ylo * g.w) as isize, (yhi * g.w) as isize);
    let lo = (-shift).clamp(first, last);
    let hi = ((g.h * g.w) as isize - shift).clamp(lo, last);
    let (lo, hi) = (lo as usize, hi as usize);
    Some((lo, hi, shift))
}

/// Zeroes `s`, usually 0 or 1 values (a padded edge): without a call to memset for those.
#[inline]
fn zero(s: &mut [f32]) {
    match s {
        [] => {}
        [v] => *v = 0.0,
        _ => s.fill(0.0),
    }
}

/// Where one kernel tap reads, for output rows `r0..r1`: the output rows and columns whose input
/// lies inside the image, and for stride 1 the one flat run of [`flat_run`].
#[derive(Clone, Copy)]
struct Tap {
    /// Kernel row and column.
    ki: usize,
    kj: usize,
    /// Output rows (within `r0..r1`) and columns inside the image.
    ys: (usize, usize),
    xs: (usize, usize),
    /// `flat_run`'s `(lo, hi, shift)`.
    flat: Option<(usize, usize, isize)>,
}

/// Every tap of `g` for output rows `r0..r1`, worked out once per call rather than once per
/// channel (the bounds take divisions, which on 4×4 maps cost as much as the copies).
fn taps(g: &Geometry, (r0, r1): (usize, usize)) -> Vec<Tap> {
    let mut out = Vec::with_capacity(g.kh * g.kw);
    for ki in 0..g.kh {
        let (ylo, yhi) = inside(g.h, g.oh, g.sh, ki, g.pt);
        let ys = (ylo.clamp(r0, r1), yhi.clamp(r0, r1));
        for kj in 0..g.kw {
            out.push(Tap {
                ki,
                kj,
                ys,
                xs: inside(g.w, g.ow, g.sw, kj, g.pl),
                flat: flat_run(g, ki, kj, ys),
            });
        }
    }
    out
}

/// `dst[t·s] += src[t]` for every t of `src`.
#[inline(always)]
fn strided_add(dst: &mut [f32], src: &[f32], s: usize) {
    if src.is_empty() {
        return;
    }
    let dst = &mut dst[..(src.len() - 1) * s + 1];
    for (t, v) in src.iter().enumerate() {
        dst[t * s] += *v;
    }
}
