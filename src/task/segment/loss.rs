//! Segmentation losses: pixel cross-entropy with an ignore index, soft Dice, and their sum.
//!
//! Targets are built on the CPU as a one-hot map and a validity map (0 at ignored pixels), so
//! both losses are plain tensor expressions that every backend and autodiff run as they are.

use burn::tensor::activation::{log_softmax, softmax};
use burn::tensor::{Device, Tensor, TensorData};

use super::formats::IGNORE;

pub use crate::spec::schema::Loss;

/// Added to the soft Dice's numerator and denominator, so a class absent from a batch and not
/// predicted scores 1 rather than 0/0.
pub const SMOOTH: f64 = 1.0;

/// One batch's targets: `[n, classes, h, w]` one-hot and `[n, 1, h, w]` validity.
pub struct Targets {
    onehot: Vec<f32>,
    valid: Vec<f32>,
    shape: [usize; 4],
}

impl Targets {
    /// From `n` masks of `h`×`w` (row-major class indices, [`IGNORE`] not counted). A class
    /// index of `classes` or more panics: masks are checked when loaded.
    pub fn new(masks: &[&[u8]], classes: usize, h: usize, w: usize) -> Targets {
        let (n, plane) = (masks.len(), h * w);
        let mut onehot = vec![0.0; n * classes * plane];
        let mut valid = vec![0.0; n * plane];
        for (i, m) in masks.iter().enumerate() {
            assert_eq!(m.len(), plane, "a mask of another size");
            for (p, &c) in m.iter().enumerate() {
                if c == IGNORE {
                    continue;
                }
                assert!((c as usize) < classes, "class {c} of {classes}");
                onehot[(i * classes + c as usize) * plane + p] = 1.0;
                valid[i * plane + p] = 1.0;
            }
        }
        Targets {
            onehot,
            valid,
            shape: [n, classes, h, w],
        }
    }

    /// The loss of `logits` (`[n, classes, h, w]`, before softmax).
    pub fn loss(&self, logits: Tensor<4>, loss: Loss, device: &Device) -> Tensor<1> {
        let [n, k, h, w] = self.shape;
        let onehot =
            Tensor::<4>::from_data(TensorData::new(self.onehot.clone(), [n, k, h, w]), device);
        let valid =
            Tensor::<4>::from_data(TensorData::new(self.valid.clone(), [n, 1, h, w]), device);
        let counted = self.valid.iter().sum::<f32>().max(1.0) as f64;
        let ce = || {
            (log_softmax(logits.clone(), 1) * onehot.clone() * valid.clone())
                .sum()
                .neg()
                / counted
        };
        let dice = || {
            let p = softmax(logits.clone(), 1) * valid.clone();
            // Per class, summed over the batch's pixels.
            let per_class = |t: Tensor<4>| t.sum_dim(0).sum_dim(2).sum_dim(3).reshape([k]);
            let inter = per_class(p.clone() * onehot.clone());
            let total = per_class(p) + per_class(onehot.clone());
            let score = (inter * 2.0 + SMOOTH) / (total + SMOOTH);
            score.mean().neg() + 1.0
        };
        match loss {
            Loss::Ce => ce(),
            Loss::Dice => dice(),
            Loss::CeDice => ce() + dice(),
        }
    }
}
