//! The convolutions of the SPEC model (ResNet8-w32, batch 64, `../shared/bench/SPEC.md`) plus a
//! MobileNet-style 1×1 and depthwise pair, each op timed on burn-flex's own implementation
//! ("burn") and on sweep's Flex kernels (`model::kernels`), for `scripts/bench/conv.sh`, which
//! runs PyTorch's twin (`conv.py`) beside it. Not a test.
//!
//! Prints `ceiling GFLOPS` (a 1024³ f32 GEMM on this core: what the micro-kernels reach), then
//! one line per shape and op: `shape op flops burn_ms sweep_ms`. Ops: forward, input gradient,
//! weight gradient, batch norm forward (training) and backward, and both with the ReLU after
//! batch norm (fused in sweep). Threads from RAYON_NUM_THREADS.

use std::time::Instant;

use burn::backend::Flex;
use burn::backend::ops::{ActivationOps, ConvOptions, FloatTensorOps, ModuleOps};
use burn::backend::tensor::FloatTensor;
use burn::tensor::TensorData;
use sweep::model::kernels::Kernels;

/// (batch, in channels, out channels, input side, kernel, stride, groups) of each convolution.
pub const SHAPES: [(usize, usize, usize, usize, usize, usize, usize); 10] = [
    (64, 3, 32, 32, 3, 1, 1),
    (64, 32, 32, 32, 3, 1, 1),
    (64, 32, 64, 32, 3, 2, 1),
    (64, 64, 64, 16, 3, 1, 1),
    (64, 32, 64, 32, 1, 2, 1),
    (64, 64, 128, 16, 3, 2, 1),
    (64, 128, 128, 8, 3, 1, 1),
    (64, 64, 128, 16, 1, 2, 1),
    (32, 32, 96, 16, 1, 1, 1),
    (32, 96, 96, 16, 3, 1, 96),
];

/// The quickstart's convolutions (resnet-mini, width 16, 3 stages, 16×16 inputs, batch 32):
/// chosen with `SHAPES=quickstart`.
pub const QUICKSTART: [(usize, usize, usize, usize, usize, usize, usize); 8] = [
    (32, 1, 16, 16, 3, 1, 1),
    (32, 16, 16, 16, 3, 1, 1),
    (32, 16, 32, 16, 3, 2, 1),
    (32, 32, 32, 8, 3, 1, 1),
    (32, 16, 32, 16, 1, 2, 1),
    (32, 32, 64, 8, 3, 2, 1),
    (32, 64, 64, 4, 3, 1, 1),
    (32, 32, 64, 8, 1, 2, 1),
];

type T = FloatTensor<Flex>;

/// Milliseconds per call: the median of 5 rounds, each long enough to time.
fn ms(f: impl Fn()) -> f64 {
    f();
    let t = Instant::now();
    f();
    let once = t.elapsed().as_secs_f64();
    let reps = ((0.05 / once).ceil() as usize).clamp(1, 200);
    let mut rounds: Vec<f64> = (0..5)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..reps {
                f();
            }
            t.elapsed().as_secs_f64() * 1e3 / reps as f64
        })
        .collect();
    rounds.sort_by(f64::total_cmp);
    rounds[2]
}

fn random(shape: &[usize], salt: u64) -> T {
    let n: usize = shape.iter().product();
    let mut s = salt
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let v: Vec<f32> = (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect();
    Flex::float_from_data(TensorData::new(v, shape), &Default::default())
}

/// GFLOP/s of a 1024³ GEMM on this core (through burn-flex's matmul, the `gemm` crate).
fn ceiling() -> f64 {
    let (a, b) = (random(&[1024, 1024], 1), random(&[1024, 1024], 2));
    let t = ms(|| {
        std::hint::black_box(Flex::float_matmul(a.clone(), b.clone()));
    });
    2.0 * 1024f64.powi(3) / (t * 1e6)
}

fn main() {
    // Inside the compute pool, as `sweep run` trains.
    sweep::device::in_benchmark_pool(bench)
}

fn bench() {
    println!("ceiling {:.1}", ceiling());
    let shapes = match std::env::var("SHAPES").as_deref() {
        Ok("quickstart") => &QUICKSTART[..],
        _ => &SHAPES[..],
    };
    for &(n, c, co, s, k, stride, groups) in shapes {
        let pad = k / 2;
        let o = ConvOptions::new([stride; 2], [pad; 2], [1, 1], groups);
        let (x, w) = (random(&[n, c, s, s], 3), random(&[co, c / groups, k, k], 4));
        let os = (s + 2 * pad - k) / stride + 1;
        let dy = random(&[n, co, os, os], 5);
        let name = format!("{c}->{co}@{s}x{s}/k{k}s{stride}g{groups}");
        let flops = 2.0 * (n * co * os * os * (c / groups) * k * k) as f64;
        let run = |op: &str, flops: f64, burn: &dyn Fn(), ours: &dyn Fn()| {
            println!("{name} {op} {flops} {:.4} {:.4}", ms(burn), ms(ours));
        };
        run(
            "forward",
            flops,
            &|| drop(Flex::conv2d(x.clone(), w.clone(), None, o.clone())),
            &|| drop(Flex::conv2d_nobias(x.clone(), w.clone(), o.clone())),
        );
        run(
            "input-grad",
            flops,
            &|| {
                drop(Flex::conv2d_x_backward(
                    x.clone(),
                    w.clone(),
                    dy.clone(),
                    o.clone(),
                ))
            },
            &|| {
                drop(Flex::conv2d_x_grad(
                    x.clone(),
                    w.clone(),
                    dy.clone(),
                    o.clone(),
                ))
            },
        );
        run(
            "weight-grad",
            flops,
            &|| {
                drop(Flex::conv2d_weight_backward(
                    x.clone(),
                    w.clone(),
                    dy.clone(),
                    o.clone(),
                ))
            },
            &|| {
                drop(Flex::conv2d_weight_grad(
                    x.clone(),
                    w.clone(),
                    dy.clone(),
                    o.clone(),
                ))
            },
        );
        // The batch norm after the convolution, on its output (memory-bound: no flops given).
        let (gamma, beta) = (random(&[co], 6), random(&[co], 7));
        let bn = Flex::batch_norm_train(dy.clone(), gamma.clone(), beta.clone(), 1e-5);
        let (_, mean, _, kept) = Flex::bn_train(dy.clone(), gamma.clone(), beta.clone(), 1e-5);
        run(
            "bn-forward",
            0.0,
            &|| {
                drop(Flex::batch_norm_train(
                    dy.clone(),
                    gamma.clone(),
                    beta.clone(),
                    1e-5,
                ))
            },
            &|| {
                drop(Flex::bn_train(
                    dy.clone(),
                    gamma.clone(),
                    beta.clone(),
                    1e-5,
                ))
            },
        );
        run(
            "bn-backward",
            0.0,
            &|| {
                drop(Flex::batch_norm_train_backward(
                    dy.clone(),
                    gamma.clone(),
                    bn.mean.clone(),
                    bn.variance.clone(),
                    1e-5,
                    dy.clone(),
                ))
            },
            &|| {
                drop(Flex::bn_train_grads(
                    dy.clone(),
                    gamma.clone(),
                    mean.clone(),
                    kept.clone(),
                    1e-5,
                    dy.clone(),
                ))
            },
        );
        // The same with the ReLU after it: burn's two ops each way, sweep's one fused kernel.
        let relu = f64::INFINITY;
        run(
            "bn-relu-forward",
            0.0,
            &|| {
                let y = Flex::batch_norm_train(dy.clone(), gamma.clone(), beta.clone(), 1e-5);
                drop(Flex::relu(y.output))
            },
            &|| {
                let (g, b) = (gamma.clone(), beta.clone());
                drop(Flex::bn_act_train(dy.clone(), g, b, 1e-5, relu))
            },
        );
        let out = Flex::relu(bn.output.clone());
        run(
            "bn-relu-backward",
            0.0,
            &|| {
                let g = Flex::relu_backward(out.clone(), dy.clone());
                drop(Flex::batch_norm_train_backward(
                    dy.clone(),
                    gamma.clone(),
                    bn.mean.clone(),
                    bn.variance.clone(),
                    1e-5,
                    g,
                ))
            },
            &|| {
                drop(Flex::bn_act_train_grads(
                    dy.clone(),
                    gamma.clone(),
                    beta.clone(),
                    mean.clone(),
                    kept.clone(),
                    1e-5,
                    out.clone(),
                    relu,
                    dy.clone(),
                ))
            },
        );
    }
}
