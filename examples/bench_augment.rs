//! Augmentation cost against a training step, for `scripts/bench/augment.sh` (which runs the
//! torchvision twin beside it). Not a test.
//!
//! Prints: size, augmented images/s (heavy set), training images/s (resnet-mini, no augmentation),
//! and augmentation time as a share of one training step.

use std::time::Instant;

use burn::tensor::Device;
use sweep::data::augment::{self, Op};
use sweep::data::{Prepared, sample_per_class};
use sweep::model;
use sweep::spec::Optimizer;
use sweep::spec::schema::ModelSpec;
use sweep::train::{self, Settings};

const BATCH: usize = 64;

fn heavy() -> Vec<Op> {
    #[derive(serde::Deserialize)]
    struct F {
        #[serde(deserialize_with = "augment::deserialize_ops")]
        ops: Vec<Op>,
    }
    let text = r#"ops = ["flip", { op = "crop", padding = 2 }, { op = "rotate", degrees = 10 }, { op = "erase", p = 0.5 }, { op = "mixup", alpha = 0.2 }]"#;
    toml::from_str::<F>(text).expect("valid ops").ops
}

fn main() {
    let ops = heavy();
    for size in [16usize, 32] {
        let data: std::sync::Arc<Prepared> =
            sweep::data::prepare("mnist-10k", &[], None, size).expect("bundled data");
        let batch: Vec<usize> = data.pool[..BATCH].to_vec();
        let reps = 200;
        let start = Instant::now();
        for e in 0..reps {
            std::hint::black_box(augment::batch(&data, &batch, &ops, 0, e, 0));
        }
        let aug = (reps * BATCH) as f64 / start.elapsed().as_secs_f64();

        let device = Device::flex().autodiff();
        let spec = ModelSpec {
            backbone: "resnet-mini".into(),
            width: 16,
            stages: 3,
            blocks: 1,
            input_size: size,
            ..ModelSpec::default()
        };
        let train_idx = sample_per_class(&data.pool, &data.labels, 64, 0);
        let s = Settings {
            patience: 0,
            ..Settings::new(1, BATCH, Optimizer::Adam, 1e-3, 0)
        };
        let net = model::build(&spec, 1, 10, 0, &device);
        let start = Instant::now();
        train::fit(net, &data, &train_idx, &batch, &s, &device, &mut |_| {}).expect("trains");
        let step = train_idx.len() as f64 / start.elapsed().as_secs_f64();
        println!("{size} {aug:.0} {step:.1} {:.4}", step / aug);
    }
}
