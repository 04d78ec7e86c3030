//! Forward and training images/s of every backbone (batch 32, random data), for
//! `scripts/bench/backbones.sh`, which runs PyTorch's twin beside it. Not a test.
//!
//! Usage: bench_backbones SIZE [NAME...]; threads from RAYON_NUM_THREADS, the device from
//! BENCH_DEVICE (cpu, the default, or tch, ...).

use std::time::Instant;

use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::GradientsParams;
use burn::tensor::{Distribution, Int, Tensor, TensorData};
use sweep::model;
use sweep::spec::schema::ModelSpec;

const BATCH: usize = 32;

/// Steps to time: enough for about BENCH_SECONDS (default 2) seconds, at least 2.
fn steps(first: f64) -> usize {
    let seconds: f64 = std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2.0);
    ((seconds / first).ceil() as usize).clamp(2, 200)
}

fn main() {
    // Inside the compute pool, as `sweep run` trains.
    sweep::device::in_benchmark_pool(bench)
}

fn bench() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let size: usize = args
        .first()
        .and_then(|s| s.parse().ok())
        .expect("usage: bench_backbones SIZE [NAME...]");
    let names: Vec<&str> = match args.len() {
        1 => model::BACKBONES.iter().map(|b| b.name).collect(),
        _ => args[1..].iter().map(String::as_str).collect(),
    };
    let name = std::env::var("BENCH_DEVICE").unwrap_or_else(|_| "cpu".into());
    let device = sweep::device::for_benchmark(&name);
    for name in names {
        if name == "alexnet" && size < 63 {
            println!("{name} {size} n/a n/a");
            continue;
        }
        let spec = ModelSpec {
            backbone: name.into(),
            width: 16,
            stages: 3,
            blocks: 1,
            input_size: size,
            ..ModelSpec::default()
        };
        let plain = device.clone().without_autodiff();
        let x = Tensor::<4>::random(
            [BATCH, 3, size, size],
            Distribution::Normal(0.0, 1.0),
            &plain,
        );
        let net = model::build(&spec, 3, 10, 0, &plain);
        let infer = |n: usize| {
            let t = Instant::now();
            for _ in 0..n {
                let _ = net.forward(x.clone(), None).into_data();
            }
            t.elapsed().as_secs_f64() / n as f64
        };
        let warm = infer(1);
        let fwd = BATCH as f64 / infer(steps(warm));

        let mut net = model::build(&spec, 3, 10, 0, &device);
        let x = Tensor::<4>::from_data(x.into_data(), &device);
        let y: Vec<i64> = (0..BATCH as i64).map(|i| i % 10).collect();
        let y = Tensor::<1, Int>::from_data(TensorData::new(y, [BATCH]), &device);
        let loss_fn = CrossEntropyLossConfig::new().init(&device);
        let mut optim = sweep::train::optim::build(sweep::spec::Optimizer::Sgd, 0.0, 0.0);
        let mut train = |n: usize| {
            let t = Instant::now();
            for _ in 0..n {
                let loss = loss_fn.forward(net.clone().forward(x.clone(), None), y.clone());
                let _ = loss.clone().into_scalar::<f32>();
                let grads = GradientsParams::from_grads(loss.backward(), &net);
                net = optim.step(0.01, net.clone(), grads);
            }
            t.elapsed().as_secs_f64() / n as f64
        };
        let warm = train(1);
        let tr = BATCH as f64 / train(steps(warm));
        println!("{name} {size} {fwd:.1} {tr:.1}");
        let _ = net.num_params();
    }
}
