//! The quickstart model's 3×3 convolutions (resnet-mini, width 16, 16×16 inputs, batch 32) on
//! sweep's engine, split into the three parts of a training step: forward, input gradient and
//! weight gradient, for `scripts/bench/conv.sh`, which runs PyTorch's twin beside it. Not a test.
//!
//! Prints one line per layer shape: `name forward_ms input_grad_ms weight_grad_ms gemm_ms`, where
//! the last is the weight gradient computed as one im2col and one GEMM (below, single-threaded),
//! to show what a direct kernel would cost; CPU threads from RAYON_NUM_THREADS.

use std::time::Instant;

use burn::tensor::module::{conv_transpose2d, conv2d, conv2d_weight_backward};
use burn::tensor::ops::{ConvOptions, ConvTransposeOptions};
use burn::tensor::{Device, Distribution, Tensor};

/// (batch, in channels, out channels, input side, stride) of every 3×3 convolution of the
/// quickstart's resnet-mini (the stem's single input channel aside).
pub const SHAPES: [(usize, usize, usize, usize, usize); 5] = [
    (32, 16, 16, 16, 1),
    (32, 16, 32, 16, 2),
    (32, 32, 32, 8, 1),
    (32, 32, 64, 8, 2),
    (32, 64, 64, 4, 1),
];

/// Milliseconds per call, after one warm-up call.
fn ms(f: impl Fn()) -> f64 {
    f();
    let t = Instant::now();
    for _ in 0..50 {
        f();
    }
    t.elapsed().as_secs_f64() * 1e3 / 50.0
}

/// Weight gradient of a 3×3, padding-1 convolution as one GEMM: `dW[co, (ci, kh, kw)] =
/// Σ_j G[co, j] · cols[(ci, kh, kw), j]` over `j = (n, oh, ow)`, with `cols` the im2col of `x`.
fn weight_grad_gemm(x: &[f32], g: &[f32], [n, c, co, s, stride]: [usize; 5]) -> Vec<f32> {
    let o = s / stride;
    let (p, k) = (o * o, c * 9);
    let j = n * p;
    let mut cols = vec![0f32; k * j];
    for ci in 0..c {
        for kh in 0..3 {
            for kw in 0..3 {
                let row = &mut cols[((ci * 3 + kh) * 3 + kw) * j..][..j];
                // Output columns whose input column lies inside the image.
                let lo = (1usize.saturating_sub(kw)).div_ceil(stride);
                let hi = ((s + 1 - kw).div_ceil(stride)).min(o);
                for b in 0..n {
                    for oh in 0..o {
                        let ih = (oh * stride + kh) as isize - 1;
                        if ih < 0 || ih >= s as isize {
                            continue;
                        }
                        let src = &x[((b * c + ci) * s + ih as usize) * s..][..s];
                        let dst = &mut row[b * p + oh * o..][..o];
                        for ow in lo..hi {
                            dst[ow] = src[ow * stride + kw - 1];
                        }
                    }
                }
            }
        }
    }
    let mut gt = vec![0f32; co * j];
    for b in 0..n {
        for c2 in 0..co {
            gt[c2 * j + b * p..][..p].copy_from_slice(&g[(b * co + c2) * p..][..p]);
        }
    }
    let mut dw = vec![0f32; co * k];
    // SAFETY: every pointer covers the extent its dimensions and strides describe.
    unsafe {
        gemm::gemm(
            co,
            k,
            j,
            dw.as_mut_ptr(),
            1,
            k as isize,
            false,
            gt.as_ptr(),
            1,
            j as isize,
            cols.as_ptr(),
            j as isize,
            1,
            0.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
    dw
}

fn values(t: &Tensor<4>) -> Vec<f32> {
    t.clone().into_data().try_to_vec::<f32>().expect("f32")
}

fn main() {
    let device = Device::flex();
    for (n, c, co, s, stride) in SHAPES {
        let x = Tensor::<4>::random([n, c, s, s], Distribution::Default, &device);
        let w = Tensor::<4>::random([co, c, 3, 3], Distribution::Default, &device);
        let o = s / stride;
        let g = Tensor::<4>::random([n, co, o, o], Distribution::Default, &device);
        let opt = ConvOptions::new([stride, stride], [1, 1], [1, 1], 1);
        let forward = ms(|| {
            let _ = conv2d(x.clone(), w.clone(), None, opt.clone()).into_data();
        });
        // What burn-autodiff runs for the two gradients of a conv2d.
        let pad_out = stride - 1;
        let transpose = ConvTransposeOptions::new([stride; 2], [1, 1], [pad_out; 2], [1, 1], 1);
        let input_grad = ms(|| {
            let _ = conv_transpose2d(g.clone(), w.clone(), None, transpose.clone()).into_data();
        });
        let weight_grad = ms(|| {
            let _ =
                conv2d_weight_backward(x.clone(), w.clone(), g.clone(), opt.clone()).into_data();
        });
        let (xv, gv) = (values(&x), values(&g));
        let shape = [n, c, co, s, stride];
        let burn = values(&conv2d_weight_backward(
            x.clone(),
            w.clone(),
            g.clone(),
            opt.clone(),
        ));
        let ours = weight_grad_gemm(&xv, &gv, shape);
        let worst = burn
            .iter()
            .zip(&ours)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        let scale = burn.iter().map(|a| a.abs()).fold(0f32, f32::max);
        assert!(
            worst <= 1e-4 * scale,
            "the GEMM weight gradient disagrees: {worst} of {scale}"
        );
        let gemm = ms(|| {
            std::hint::black_box(weight_grad_gemm(&xv, &gv, shape));
        });
        println!(
            "{c}->{co}@{s}x{s}/s{stride} {forward:.3} {input_grad:.3} {weight_grad:.3} {gemm:.3}"
        );
    }
}
