//! Parity with PyTorch: torchvision's random weights load by their own key names and give
//! torchvision's logits and stage outputs. Needs the files `scripts/parity.sh` writes, so it is
//! ignored by a plain `cargo test`; `scripts/parity.sh` (run by `.ci/run`) runs it.

use std::path::PathBuf;

use burn::tensor::{Device, Tensor, TensorData};
use safetensors::SafeTensors;
use sweep::model::{self, weights};
use sweep::spec::schema::ModelSpec;

const BACKBONES: &[&str] = &[
    "resnet-mini",
    "resnet18",
    "resnet34",
    "resnet50",
    "vgg11_bn",
    "vgg16_bn",
    "alexnet",
    "densenet121",
    "efficientnet_b0",
    "mobilenet_v2",
];

fn dir() -> PathBuf {
    PathBuf::from(
        std::env::var("SWEEP_PARITY_DIR").expect("SWEEP_PARITY_DIR: run scripts/parity.sh"),
    )
}

fn spec(name: &str) -> ModelSpec {
    ModelSpec {
        backbone: name.into(),
        width: 16,
        stages: 3,
        blocks: 1,
        input_size: 64,
        ..ModelSpec::default()
    }
}

/// A tensor of the reference file, with its shape.
fn read(st: &SafeTensors, key: &str) -> (Vec<f32>, Vec<usize>) {
    let t = st.tensor(key).unwrap_or_else(|e| panic!("{key}: {e}"));
    let values = t
        .data()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect();
    (values, t.shape().to_vec())
}

/// Largest absolute difference, and the largest reference magnitude.
fn compare(got: &[f32], want: &[f32]) -> (f32, f32) {
    assert_eq!(got.len(), want.len(), "sizes differ");
    let err = got
        .iter()
        .zip(want)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max);
    (err, want.iter().map(|v| v.abs()).fold(0.0, f32::max))
}

fn to_vec<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().convert::<f32>().try_to_vec::<f32>().unwrap()
}

#[test]
#[ignore = "needs scripts/parity.sh"]
fn every_backbone_matches_torchvision() {
    let device = Device::flex();
    let mut failures = Vec::new();
    for &name in BACKBONES {
        let bytes = std::fs::read(dir().join(format!("{name}.io.safetensors"))).unwrap();
        let io = SafeTensors::deserialize(&bytes).unwrap();
        let (input, shape) = read(&io, "input");
        let (logits, lshape) = read(&io, "logits");
        let x = Tensor::<4>::from_data(
            TensorData::new(input, [shape[0], shape[1], shape[2], shape[3]]),
            &device,
        );
        let net = model::build(&spec(name), 3, lshape[1], 0, &device);
        let (net, report) = weights::load(net, &dir().join(format!("{name}.safetensors"))).unwrap();
        assert!(
            report.is_complete() && report.unexpected.is_empty(),
            "{name}: {}",
            report.describe()
        );

        let mut worst = 0.0f32;
        for (i, stage) in net.stages(x.clone()).into_iter().enumerate() {
            let (want, _) = read(&io, &format!("stage{i}"));
            let (err, scale) = compare(&to_vec(stage), &want);
            worst = worst.max(err / scale.max(1e-3));
        }
        let (err, scale) = compare(&to_vec(net.forward(x, None)), &logits);
        let rel = err / scale.max(1e-3);
        println!(
            "parity {name:<12} {} keys  max |logit error| {err:.2e} (logits up to {scale:.1})  worst stage error {worst:.2e}",
            report.loaded
        );
        if rel > 1e-4 || worst > 1e-4 {
            failures.push(name);
        }
    }
    assert!(failures.is_empty(), "outside 1e-4: {failures:?}");
}

/// `torch.save(model.state_dict())` files of every family, in the zip and the legacy format,
/// load completely and give the safetensors file's logits. torchvision's gaps in `Sequential`
/// indices (a classifier that starts with a Dropout: `classifier.1`) are kept, not renumbered.
#[test]
#[ignore = "needs scripts/parity.sh"]
fn pytorch_pth_state_dicts_load_like_safetensors() {
    let device = Device::flex();
    let mut failures = Vec::new();
    for &name in BACKBONES {
        let classes = if name == "resnet-mini" { 10 } else { 1000 };
        let net = || model::build(&spec(name), 3, classes, 5, &device);
        let (a, _) = weights::load(net(), &dir().join(format!("{name}.safetensors"))).unwrap();
        let x = Tensor::<4>::ones([1, 3, 64, 64], &device);
        let want = to_vec(a.forward(x.clone(), None));
        for file in [format!("{name}.pth"), format!("{name}.legacy.pth")] {
            let (b, report) = weights::load(net(), &dir().join(&file)).unwrap();
            let complete = report.is_complete() && report.unexpected.is_empty();
            let same = complete && to_vec(b.forward(x.clone(), None)) == want;
            println!(
                "pth {file:<28} {} keys  {}",
                report.loaded,
                match (complete, same) {
                    (true, true) => "loads, same logits".to_string(),
                    (true, false) => "loads, other logits".to_string(),
                    _ => report.describe(),
                }
            );
            if !same {
                failures.push(file);
            }
        }
    }
    assert!(
        failures.is_empty(),
        "did not load like the safetensors: {failures:?}"
    );
}

/// Writes weights and logits for `parity_gen.py --check`, which loads them into PyTorch strictly.
#[test]
#[ignore = "needs scripts/parity.sh"]
fn exports_weights_pytorch_loads() {
    let device = Device::flex();
    for (name, classes) in [("resnet-mini", 10), ("resnet18", 7)] {
        let net = model::build(&spec(name), 3, classes, 3, &device);
        let x = Tensor::<4>::random(
            [2, 3, 32, 32],
            burn::tensor::Distribution::Normal(0.0, 1.0),
            &device,
        );
        let logits = net.forward(x.clone(), None);
        weights::save_safetensors(&net, &dir().join(format!("{name}.exported.safetensors")))
            .unwrap();
        let io = [
            ("input", x.clone().into_data()),
            ("logits", logits.clone().into_data()),
        ];
        let views: Vec<(&str, safetensors::tensor::TensorView)> = io
            .iter()
            .map(|(k, d)| {
                (
                    *k,
                    safetensors::tensor::TensorView::new(
                        safetensors::Dtype::F32,
                        d.shape().to_vec(),
                        d.as_bytes(),
                    )
                    .unwrap(),
                )
            })
            .collect();
        safetensors::serialize_to_file(
            views,
            None,
            &dir().join(format!("{name}.exported.io.safetensors")),
        )
        .unwrap();
        // And it reads back into sweep unchanged.
        let (back, report) = weights::load(
            model::build(&spec(name), 3, classes, 9, &device),
            &dir().join(format!("{name}.exported.safetensors")),
        )
        .unwrap();
        assert!(report.is_complete(), "{}", report.describe());
        assert_eq!(to_vec(back.forward(x, None)), to_vec(logits));
    }
}

/// One SGD step (lr 0.1, training mode) of resnet18 from torchvision's weights on the same batch:
/// same loss and same updated weights as PyTorch.
#[test]
#[ignore = "needs scripts/parity.sh"]
fn one_sgd_step_of_resnet18_matches_pytorch() {
    use burn::module::Module;
    use burn::nn::loss::CrossEntropyLossConfig;
    use burn::optim::GradientsParams;
    use burn::tensor::Int;

    let device = Device::flex().autodiff();
    let net = model::build(&spec("resnet18"), 3, 10, 0, &device);
    let (mut net, report) = weights::load(net, &dir().join("step.before.safetensors")).unwrap();
    assert!(report.is_complete(), "{}", report.describe());
    let bytes = std::fs::read(dir().join("step.io.safetensors")).unwrap();
    let io = SafeTensors::deserialize(&bytes).unwrap();
    let (x, shape) = read(&io, "input");
    let (labels, _) = read(&io, "labels");
    let (want_loss, _) = read(&io, "loss");
    let x = Tensor::<4>::from_data(
        TensorData::new(x, [shape[0], shape[1], shape[2], shape[3]]),
        &device,
    );
    let y: Vec<i64> = labels.iter().map(|&v| v as i64).collect();
    let y = Tensor::<1, Int>::from_data(TensorData::new(y, [labels.len()]), &device);

    let loss = CrossEntropyLossConfig::new()
        .init(&device)
        .forward(net.forward(x, None), y);
    let got_loss = loss.clone().into_scalar::<f32>();
    let mut optim = sweep::train::optim::build(sweep::spec::Optimizer::Sgd, 0.0, 0.0);
    let grads = GradientsParams::from_grads(loss.backward(), &net);
    net = optim.step(0.1, net, grads);

    let path = dir().join("step.sweep.safetensors");
    weights::save_safetensors(&net.valid(), &path).unwrap();
    let ours = std::fs::read(&path).unwrap();
    let ours = SafeTensors::deserialize(&ours).unwrap();
    let theirs = std::fs::read(dir().join("step.after.safetensors")).unwrap();
    let theirs = SafeTensors::deserialize(&theirs).unwrap();
    let mut worst = (0.0f32, String::new());
    let mut compared = 0;
    for key in theirs.names() {
        // burn updates the running variance with the biased batch variance, PyTorch with the
        // unbiased one: a documented difference, left out here.
        if key.ends_with("num_batches_tracked") || key.ends_with("running_var") {
            continue;
        }
        let (a, _) = read(&ours, key);
        let (b, _) = read(&theirs, key);
        let (err, scale) = compare(&a, &b);
        let rel = err / scale.max(1e-3);
        if rel > worst.0 {
            worst = (rel, key.to_string());
        }
        compared += 1;
    }
    println!(
        "sgd step resnet18: loss {got_loss:.6} vs PyTorch {:.6}; {compared} tensors, worst relative error {:.2e} ({})",
        want_loss[0], worst.0, worst.1
    );
    assert!((got_loss - want_loss[0]).abs() < 1e-4 * want_loss[0].abs().max(1.0));
    assert!(worst.0 < 1e-4, "{worst:?}");
}
