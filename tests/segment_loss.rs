//! Segmentation losses: what they must do (uniform logits, ignored pixels untaught, a confident
//! right answer near 0), and (`scripts/parity.sh`, ignored otherwise) values and gradients equal
//! to PyTorch's `cross_entropy(ignore_index=255)` and the same soft Dice written in PyTorch.

use burn::tensor::{Device, Tensor};
use sweep::task::segment::formats::IGNORE;
use sweep::task::segment::loss::{Loss, Targets};

fn flat<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().convert::<f32>().try_to_vec::<f32>().unwrap()
}

fn logits(values: &[f32], shape: [usize; 4], device: &Device) -> Tensor<4> {
    Tensor::<1>::from_floats(values, device)
        .reshape(shape)
        .require_grad()
}

#[test]
fn the_losses_teach_labelled_pixels_only() {
    let device = Device::flex().autodiff();
    let (k, h, w) = (3, 2, 2);
    let mask = [0u8, 1, 2, IGNORE];
    let t = Targets::new(&[&mask], k, h, w);
    // Uniform logits: cross-entropy is ln k.
    let x = logits(&[0.0; 12], [1, k, h, w], &device);
    let ce = flat(t.loss(x.clone(), Loss::Ce, &device))[0];
    assert!((ce - (k as f32).ln()).abs() < 1e-6, "{ce}");
    // The ignored pixel (the last of each class plane) gets no gradient from either loss.
    for loss in [Loss::Ce, Loss::Dice, Loss::CeDice] {
        let grads = t.loss(x.clone(), loss, &device).backward();
        let g = flat(x.grad(&grads).unwrap());
        for c in 0..k {
            assert_eq!(g[c * 4 + 3], 0.0, "{loss:?} taught an ignored pixel");
            assert!(g[c * 4..c * 4 + 3].iter().any(|v| *v != 0.0), "{loss:?}");
        }
    }
    // A confident right answer: both losses near 0.
    let mut right = [0.0f32; 12];
    for (p, &c) in mask.iter().enumerate().take(3) {
        right[c as usize * 4 + p] = 20.0;
    }
    let x = logits(&right, [1, k, h, w], &device);
    for loss in [Loss::Ce, Loss::Dice] {
        let v = flat(t.loss(x.clone(), loss, &device))[0];
        assert!(v < 1e-3, "{loss:?}: {v}");
    }
}

#[derive(serde::Deserialize)]
struct Expected {
    value: f64,
    grad: Vec<f64>,
}

#[derive(serde::Deserialize)]
struct Case {
    shape: [usize; 4],
    logits: Vec<f64>,
    target: Vec<u32>,
    ce: Expected,
    dice: Expected,
    cedice: Expected,
}

#[test]
#[ignore = "needs scripts/parity_segment_loss.py's cases (scripts/parity.sh)"]
fn losses_and_gradients_equal_pytorchs() {
    let dir = std::env::var("SWEEP_PARITY_DIR").unwrap_or_else(|_| "target/parity".into());
    let path = std::path::Path::new(&dir)
        .join("segment")
        .join("losses.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}; run scripts/parity.sh", path.display()));
    let cases: Vec<Case> = serde_json::from_str(&text).unwrap();
    let device = Device::flex().autodiff();
    let mut worst: f64 = 0.0;
    for (i, c) in cases.iter().enumerate() {
        let [n, k, h, w] = c.shape;
        let masks: Vec<Vec<u8>> = c
            .target
            .chunks(h * w)
            .map(|m| m.iter().map(|&v| v as u8).collect())
            .collect();
        let refs: Vec<&[u8]> = masks.iter().map(Vec::as_slice).collect();
        let t = Targets::new(&refs, k, h, w);
        let values: Vec<f32> = c.logits.iter().map(|&v| v as f32).collect();
        for (loss, e) in [
            (Loss::Ce, &c.ce),
            (Loss::Dice, &c.dice),
            (Loss::CeDice, &c.cedice),
        ] {
            let x = logits(&values, [n, k, h, w], &device);
            let v = t.loss(x.clone(), loss, &device);
            let value = flat(v.clone())[0] as f64;
            let grads = v.backward();
            let g = flat(x.grad(&grads).unwrap());
            let d = (value - e.value).abs();
            assert!(
                d <= 1e-5 * e.value.abs().max(1.0),
                "case {i} {loss:?}: {value} vs {}",
                e.value
            );
            worst = worst.max(d);
            for (j, (a, b)) in g.iter().zip(&e.grad).enumerate() {
                let d = (*a as f64 - b).abs();
                assert!(d <= 1e-6, "case {i} {loss:?} grad {j}: {a} vs {b}");
                worst = worst.max(d);
            }
        }
    }
    println!(
        "segment losses: {} cases equal PyTorch's values and gradients (largest difference {worst:.1e})",
        cases.len()
    );
}
