//! A detection training step on sweep's engine, for `scripts/bench/detect.sh`, which runs
//! PyTorch's twin (`scripts/bench/detect.py`) beside it. Not a test.
//!
//! The detector is `tests/detect.rs`'s: CenterNet with an FPN neck (stride 4, width 32) on
//! resnet-mini (width 16, 3 stages, 1 block, 1 input channel), 10 classes, 64×64 inputs. One
//! fixed batch of 32 digit-scenes; a step is what `sweep::task::detect::train::fit` runs per batch:
//! forward, `Targets::new`, `Targets::loss`, reading the loss, backward and an Adam step
//! (`sweep::train::step`, all rates equal). Prints training images/s on stdout; the parameter
//! count and objects in the batch go to stderr. CPU threads from RAYON_NUM_THREADS.
//!
//! Usage: bench_detect [DEVICE] (cpu, tch, ...; default cpu).

use std::time::Instant;

use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::tensor::{Tensor, TensorData};
use sweep::model;
use sweep::spec::Optimizer;
use sweep::spec::schema::ModelSpec;
use sweep::task::detect::Scene;
use sweep::task::detect::centernet::{Detector, DetectorConfig, Neck};
use sweep::task::detect::loss::Targets;
use sweep::task::detect::scenes::{ScenesConfig, digit_scenes};
use sweep::task::detect::train::Normalisation;

const BATCH: usize = 32;
const WARM: usize = 3;
const STEPS: usize = 10;
const LR: f64 = 2e-3;

/// Sums the elements of the parameters that have a gradient in `grads`.
struct Trained<'a> {
    grads: &'a GradientsParams,
    count: usize,
}

impl ModuleVisitor for Trained<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if self.grads.get::<D>(param.id).is_some() {
            self.count += param.lazy_shape().num_elements();
        }
    }
}

fn main() {
    // Inside the compute pool, as `sweep run` trains.
    sweep::device::in_benchmark_pool(bench)
}

fn bench() {
    let name = std::env::args().nth(1).unwrap_or_else(|| "cpu".into());
    // flex on autodiff (Device::flex().autodiff()) with RAYON_NUM_THREADS threads, as bench_step.
    let device = sweep::device::for_benchmark(&name);
    let cfg = ScenesConfig {
        train_scenes: 64,
        test_scenes: 8,
        ..ScenesConfig::default()
    };
    let ds = digit_scenes(&cfg).expect("digit-scenes from the bundled MNIST-10k");
    let batch: Vec<&Scene> = ds.train.iter().take(BATCH).collect();
    let objects: usize = batch.iter().map(|s| s.objects.len()).sum();

    let spec = ModelSpec {
        backbone: "resnet-mini".into(),
        width: 16,
        stages: 3,
        blocks: 1,
        input_size: 64,
        ..ModelSpec::default()
    };
    let backbone = model::build(&spec, 1, 10, 0, &device);
    let c = DetectorConfig {
        classes: 10,
        neck: Neck::Fpn,
        stride: 4,
        width: 32,
        input_size: cfg.canvas,
    };
    let mut det = Detector::new(backbone, &c, &mut sweep::seed::rng(0, "neck", 0), &device);

    // The batch, normalised as fit normalises it (the scenes' own statistics), made once.
    let owned: Vec<Scene> = batch.iter().map(|&s| s.clone()).collect();
    let norm = Normalisation::of_images(owned.iter().map(|s| s.pixels.as_slice()), 1);
    let (m, d) = (norm.mean[0], norm.std[0]);
    let side = cfg.canvas;
    let pixels: Vec<f32> = batch
        .iter()
        .flat_map(|s| s.pixels.iter().map(move |&v| (v - m) / d))
        .collect();
    let x = Tensor::<4>::from_data(TensorData::new(pixels, [BATCH, 1, side, side]), &device);

    // Parameters: burn's count (with BN's running statistics, which burn holds as parameters)
    // and those a step trains (with a gradient: not the backbone's unused classifier).
    let (heat, boxes) = det.forward(x.clone());
    let [_, _, h, w] = heat.dims();
    let loss = Targets::new(&batch, det.classes, h, w, det.stride).loss(heat, boxes, &device);
    let grads = GradientsParams::from_grads(loss.backward(), &det);
    let mut trained = Trained {
        grads: &grads,
        count: 0,
    };
    det.visit(&mut trained);
    eprintln!(
        "sweep: {} parameters with BN running statistics, {} trained; output {h}x{w} at stride {}; \
         {objects} objects in {BATCH} images",
        det.num_params(),
        trained.count,
        det.stride
    );
    drop(grads);

    let mut optim = sweep::train::optim::build(Optimizer::Adam, 0.0, 0.0);
    let part_ids = det.backbone.part_param_ids();
    let rates = vec![LR; part_ids.len()];
    let mut step = |det: Detector| {
        let (heat, boxes) = det.forward(x.clone());
        let [_, _, h, w] = heat.dims();
        let targets = Targets::new(&batch, det.classes, h, w, det.stride);
        let loss = targets.loss(heat, boxes, &device);
        let value = loss.clone().into_scalar::<f32>();
        assert!(value.is_finite(), "loss {value}");
        sweep::train::step(det, &mut optim, loss, LR, &rates, &part_ids)
    };
    for _ in 0..WARM {
        det = step(det);
    }
    let t = Instant::now();
    for _ in 0..STEPS {
        det = step(det);
    }
    let ips = (BATCH * STEPS) as f64 / t.elapsed().as_secs_f64();
    println!("{ips:.1}");
}
