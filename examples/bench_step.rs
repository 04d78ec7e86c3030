//! The reference micro-benchmark (`../shared/bench/SPEC.md`: ResNet8-w32 at 32×32) on sweep's
//! engine, for `scripts/bench/step.sh`, which runs PyTorch's twin beside it. Not a test.
//!
//! Usage: bench_step [DEVICE] (cpu, tch, vulkan, cuda, ...; default cpu). Prints `train infer
//! head-only head-cached` images/s; CPU threads from RAYON_NUM_THREADS (flex and LibTorch).
//! head-cached is a linear probe as `sweep run` trains it: the frozen backbone's outputs come
//! from the feature cache, so a step runs pooling and the head only.

use std::time::Instant;

use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::GradientsParams;
use burn::tensor::{Device, Distribution, Int, Tensor, TensorData};
use sweep::model::{self, Network};
use sweep::spec::Optimizer;
use sweep::spec::schema::ModelSpec;

fn timed(warm: usize, n: usize, images: usize, mut f: impl FnMut()) -> f64 {
    for _ in 0..warm {
        f();
    }
    let t = Instant::now();
    for _ in 0..n {
        f();
    }
    (images * n) as f64 / t.elapsed().as_secs_f64()
}

fn labels(n: usize, device: &Device) -> Tensor<1, Int> {
    let y: Vec<i64> = (0..n as i64).map(|i| (i * 7) % 10).collect();
    Tensor::<1, Int>::from_data(TensorData::new(y, [n]), device)
}

/// Images/s of Adam steps on `x` from part `from` of `net` (0 = the images).
fn train(mut net: Network, x: Tensor<4>, from: usize, device: &Device) -> f64 {
    let n = x.dims()[0];
    let y = labels(n, device);
    let loss_fn = CrossEntropyLossConfig::new().init(device);
    let mut optim = sweep::train::optim::build(Optimizer::Adam, 0.0, 0.0);
    timed(3, 20, n, || {
        let logits = net.forward_from(x.clone(), from, None, 0.0);
        let loss = loss_fn.forward(logits, y.clone());
        let _ = loss.clone().into_scalar::<f32>();
        let grads = GradientsParams::from_grads(loss.backward(), &net);
        net = optim.step(1e-3, net.clone(), grads);
    })
}

fn main() {
    // Inside the compute pool, as `sweep run` trains.
    sweep::device::in_benchmark_pool(bench)
}

fn bench() {
    let spec = ModelSpec {
        backbone: "resnet-mini".into(),
        width: 32,
        stages: 3,
        blocks: 1,
        input_size: 32,
        ..ModelSpec::default()
    };
    let name = std::env::args().nth(1).unwrap_or_else(|| "cpu".into());
    let device = sweep::device::for_benchmark(&name);
    let data =
        |n: usize| Tensor::<4>::random([n, 3, 32, 32], Distribution::Normal(0.0, 1.0), &device);
    let net = || model::build(&spec, 3, 10, 0, &device);

    let train_ips = train(net(), data(64), 0, &device);

    let eval = net().valid();
    let x = data(256);
    let infer_ips = timed(2, 10, 256, || {
        let _ = eval.forward(x.clone(), None).into_data();
    });

    let parts = net().parts().len();
    let frozen = net().freeze_leading(parts, false);
    let head_ips = train(frozen, data(64), 0, &device);

    let frozen = net().freeze_leading(parts, false);
    let features = frozen
        .prefix(data(64), parts)
        .expect("resnet splits")
        .detach();
    let cached_ips = train(frozen, features, parts, &device);

    println!("{train_ips:.1} {infer_ips:.1} {head_ips:.1} {cached_ips:.1}");
}
