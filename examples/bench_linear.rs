//! GFLOP/s of a classifier's linear layers (batch 32: AlexNet's and VGG's shapes), forward and
//! forward + backward, as sweep's models run them (`model::kernels::linear`), plus a 1024³
//! matmul as the ceiling the core reaches; for `scripts/bench/linear.sh`, which runs PyTorch's
//! twin (scripts/bench/linear.py) beside it. Not a test.
//!
//! Prints one line per shape: `name in out fwd_gflops train_gflops`; threads from
//! RAYON_NUM_THREADS.

use std::time::Instant;

use burn::nn::LinearConfig;
use burn::tensor::{Distribution, Tensor};
use sweep::model::kernels;

const BATCH: usize = 32;
/// (name, in features, out features).
const SHAPES: [(&str, usize, usize); 3] = [
    ("alexnet.fc6", 9216, 4096),
    ("fc7", 4096, 4096),
    ("vgg.fc6", 25088, 4096),
];

/// Seconds per call of `f`, over enough calls for about a second after one warm-up call.
fn timed(mut f: impl FnMut()) -> f64 {
    f();
    let t = Instant::now();
    f();
    let n = ((1.0 / t.elapsed().as_secs_f64()).ceil() as usize).clamp(2, 50);
    let t = Instant::now();
    for _ in 0..n {
        f();
    }
    t.elapsed().as_secs_f64() / n as f64
}

fn main() {
    // Inside the compute pool, as `sweep run` trains.
    sweep::device::in_benchmark_pool(bench)
}

fn bench() {
    let device = sweep::device::for_benchmark("cpu");
    let plain = device.clone().without_autodiff();
    for (name, cin, cout) in SHAPES {
        let flops = 2.0 * (BATCH * cin * cout) as f64;
        let lin = LinearConfig::new(cin, cout).init(&plain);
        let x = Tensor::<2>::random([BATCH, cin], Distribution::Normal(0.0, 1.0), &plain);
        let fwd = timed(|| {
            let _ = kernels::linear(&lin, x.clone()).into_data();
        });
        let lin = LinearConfig::new(cin, cout).init(&device);
        let x = Tensor::<2>::from_data(x.into_data(), &device).require_grad();
        let train = timed(|| {
            // Flex computes eagerly: the gradients exist once backward returns (not copied out,
            // as PyTorch's twin leaves them in .grad).
            let grads = kernels::linear(&lin, x.clone()).sum().backward();
            assert!(lin.weight.val().grad(&grads).is_some() && x.grad(&grads).is_some());
        });
        println!(
            "{name} {cin} {cout} {:.1} {:.1}",
            flops / fwd / 1e9,
            3.0 * flops / train / 1e9
        );
    }
    let a = Tensor::<2>::random([1024, 1024], Distribution::Normal(0.0, 1.0), &plain);
    let s = timed(|| {
        let _ = a.clone().matmul(a.clone()).into_data();
    });
    println!(
        "matmul-1024 1024 1024 {:.1} n/a",
        2.0 * 1024f64.powi(3) / s / 1e9
    );
}
