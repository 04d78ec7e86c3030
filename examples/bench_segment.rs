//! A segmentation training step on sweep's engine, for `scripts/bench/segment.sh`, which runs
//! PyTorch's twin (`scripts/bench/segment.py`) beside it. Not a test.
//!
//! The segmenter is `experiments/segment-digits.toml`'s at 64×64: a feature pyramid (stride 4,
//! width 32) on resnet-mini (width 16, 3 stages, 1 block, 1 input channel), 11 classes, logits
//! upsampled bilinearly to the input. One fixed batch of 32 digit-scenes with masks; a step is
//! what `sweep::task::segment::train::fit` runs per batch: forward, `Targets::new`, cross-entropy +
//! Dice, reading the loss, backward and an Adam step. Prints training images/s on stdout; the
//! parameter count goes to stderr. CPU threads from RAYON_NUM_THREADS.
//!
//! Usage: bench_segment [DEVICE] (cpu, tch, ...; default cpu).

use std::time::Instant;

use burn::module::Module;
use sweep::model;
use sweep::spec::Optimizer;
use sweep::spec::schema::ModelSpec;
use sweep::task::detect::scenes::ScenesConfig;
use sweep::task::segment::data;
use sweep::task::segment::formats::Sample;
use sweep::task::segment::loss::{Loss, Targets};
use sweep::task::segment::model::{Head, Segmenter, SegmenterConfig};
use sweep::train::dense;

const BATCH: usize = 32;
const WARM: usize = 3;
const STEPS: usize = 10;
const LR: f64 = 3e-3;

fn main() {
    // Inside the compute pool, as `sweep run` trains.
    sweep::device::in_benchmark_pool(bench)
}

fn bench() {
    let name = std::env::args().nth(1).unwrap_or_else(|| "cpu".into());
    let device = sweep::device::for_benchmark(&name);
    let cfg = ScenesConfig {
        train_scenes: 64,
        test_scenes: 8,
        ..ScenesConfig::default()
    };
    let ds = data::digit_scenes(&cfg).expect("digit-scenes from the bundled MNIST-10k");
    let batch: Vec<&Sample> = ds.train.iter().take(BATCH).collect();
    let spec = ModelSpec {
        backbone: "resnet-mini".into(),
        width: 16,
        stages: 3,
        blocks: 1,
        input_size: cfg.canvas,
        ..ModelSpec::default()
    };
    let backbone = model::build(&spec, 1, 11, 0, &device);
    let c = SegmenterConfig {
        classes: 11,
        head: Head::Fpn,
        stride: 4,
        width: 32,
        input_size: cfg.canvas,
    };
    let mut seg = Segmenter::new(backbone, &c, &mut sweep::seed::rng(0, "seg", 0), &device);
    eprintln!(
        "sweep: {} parameters with BN running statistics (the backbone's unused classifier included); decoder at stride {}",
        seg.num_params(),
        seg.stride
    );
    let pixels: Vec<&[f32]> = batch.iter().map(|s| s.pixels.as_slice()).collect();
    let norm = dense::Normalisation::of_images(pixels.iter().copied(), 1);
    let x = dense::batch(&pixels, (cfg.canvas, cfg.canvas), &norm, &device);
    let masks: Vec<&[u8]> = batch.iter().map(|s| s.mask.as_slice()).collect();

    let mut optim = sweep::train::optim::build(Optimizer::Adam, 0.0, 0.0);
    let part_ids = seg.backbone.part_param_ids();
    let rates = vec![LR; part_ids.len()];
    let mut step = |seg: Segmenter| {
        let logits = seg.forward(x.clone());
        let targets = Targets::new(&masks, seg.classes, cfg.canvas, cfg.canvas);
        let loss = targets.loss(logits, Loss::CeDice, &device);
        let value = loss.clone().into_scalar::<f32>();
        assert!(value.is_finite(), "loss {value}");
        sweep::train::step(seg, &mut optim, loss, LR, &rates, &part_ids)
    };
    for _ in 0..WARM {
        seg = step(seg);
    }
    let t = Instant::now();
    for _ in 0..STEPS {
        seg = step(seg);
    }
    let ips = (BATCH * STEPS) as f64 / t.elapsed().as_secs_f64();
    println!("{ips:.1}");
}
