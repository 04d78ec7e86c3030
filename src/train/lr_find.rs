//! fastai's learning-rate range test: train a few hundred steps with an exponentially growing
//! rate and watch the loss; the rate where it falls fastest is a good starting point.

use burn::nn::loss::CrossEntropyLossConfig;
use burn::tensor::{Device, Int, Tensor, TensorData};
use rand::seq::SliceRandom;

use super::{Settings, optim, step, tensors_from};
use crate::data::{Prepared, augment};
use crate::model::Network;
use crate::seed;

/// One step of the range test.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    /// Head learning rate of the step.
    pub lr: f64,
    /// Loss of the step's batch.
    pub loss: f64,
    /// Exponentially smoothed loss (beta 0.98, bias-corrected), what the suggestion reads.
    pub smoothed: f64,
}

/// The test's result: the curve and two readings of it.
#[derive(Debug, Clone)]
pub struct LrFind {
    /// One point per step run.
    pub points: Vec<Point>,
    /// Rate of the steepest fall of the smoothed loss (fastai's "steep").
    pub steepest: Option<f64>,
    /// A tenth of the rate of the lowest smoothed loss (fastai's "minimum").
    pub min_tenth: Option<f64>,
    /// fastai's default "valley": the rate part-way down the longest descending stretch.
    pub valley: Option<f64>,
}

/// Runs `steps` steps with the rate growing from `start` to `end` (the run's per-part rate
/// multipliers kept), stopping early once the smoothed loss exceeds 4x its minimum.
pub fn lr_find(
    mut model: Network,
    data: &Prepared,
    train: &[usize],
    s: &Settings,
    (start, end, steps): (f64, f64, usize),
    device: &Device,
) -> LrFind {
    let loss_fn = CrossEntropyLossConfig::new().init(device);
    let mut optim = optim::build(s.optimizer, s.weight_decay, s.grad_clip);
    let parts = model.parts().len();
    let part_ids = model.part_param_ids();
    let mut dropout = seed::rng(s.seed, "lr-find-dropout", 0);
    let (mut avg, mut best, mut points) = (0.0f64, f64::INFINITY, Vec::new());
    let mut epoch = 0;
    let mut batches: Vec<Vec<usize>> = Vec::new();
    for i in 0..steps {
        if batches.is_empty() {
            epoch += 1;
            let mut order = train.to_vec();
            order.shuffle(&mut seed::rng(s.seed, "shuffle", epoch as u64));
            batches = order
                .chunks(s.batch_size)
                .rev()
                .map(<[usize]>::to_vec)
                .collect();
        }
        let batch = batches.pop().expect("refilled above");
        let lr = start * (end / start).powf(i as f64 / (steps - 1).max(1) as f64);
        let rates: Vec<f64> = (0..parts)
            .map(|k| lr * s.backbone_lr_mult * s.layer_decay.powi((parts - k) as i32))
            .collect();
        let aug = augment::batch(data, &batch, &s.augment, s.seed, epoch, i);
        let (x, y) = tensors_from(aug.pixels, aug.labels, data, device);
        let logits = model.forward_dropout(x, Some(&mut dropout), s.head_dropout);
        let loss = match aug.mix {
            None => loss_fn.forward(logits, y),
            Some((partner, lam)) => {
                let n = partner.len();
                let y2 = Tensor::<1, Int>::from_data(TensorData::new(partner, [n]), device);
                loss_fn.forward(logits.clone(), y) * lam + loss_fn.forward(logits, y2) * (1.0 - lam)
            }
        };
        let value = f64::from(loss.clone().into_scalar::<f32>());
        if !value.is_finite() {
            break;
        }
        avg = 0.98 * avg + 0.02 * value;
        let smoothed = avg / (1.0 - 0.98f64.powi(i as i32 + 1));
        points.push(Point {
            lr,
            loss: value,
            smoothed,
        });
        best = best.min(smoothed);
        if smoothed > 4.0 * best && i > 10 {
            break;
        }
        model = step(model, &mut optim, loss, lr, &rates, &part_ids);
    }
    let (steepest, min_tenth) = suggest(&points);
    let valley = valley(&points);
    LrFind {
        points,
        steepest,
        min_tenth,
        valley,
    }
}

/// Reads the curve: (steepest fall, a tenth of the minimum), skipping the first 10 and the
/// last 5 points as fastai does (the smoothed loss is still settling at the start).
pub fn suggest(points: &[Point]) -> (Option<f64>, Option<f64>) {
    if points.len() < 20 {
        return (None, None);
    }
    let inner = &points[10..points.len() - 5];
    let min = inner
        .iter()
        .min_by(|a, b| a.smoothed.total_cmp(&b.smoothed))
        .map(|p| p.lr / 10.0);
    let steepest = inner
        .windows(2)
        .map(|w| {
            let slope = (w[1].smoothed - w[0].smoothed) / (w[1].lr.ln() - w[0].lr.ln());
            (slope, w[0].lr)
        })
        .min_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, lr)| lr);
    (steepest, min)
}

/// fastai's `valley`: the longest run of points with falling smoothed loss (not necessarily
/// adjacent), and the rate half-way through its middle third.
pub fn valley(points: &[Point]) -> Option<f64> {
    let n = points.len();
    if n < 20 {
        return None;
    }
    let loss: Vec<f64> = points.iter().map(|p| p.smoothed).collect();
    let mut lds = vec![1usize; n];
    // fastai's rule, where `start` is -1 when the whole prefix decreases.
    let (mut start, mut end) = (0isize, 0usize);
    for i in 1..n {
        for j in 0..i {
            if loss[i] < loss[j] && lds[i] < lds[j] + 1 {
                lds[i] = lds[j] + 1;
            }
            if lds[end] < lds[i] {
                end = i;
                start = end as isize - lds[end] as isize;
            }
        }
    }
    let sections = (end as isize - start) as f64 / 3.0;
    let idx = start + sections as isize + (sections / 2.0) as isize;
    points.get(idx.max(0) as usize).map(|p| p.lr)
}
