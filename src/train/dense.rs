//! The training loop of the dense tasks (detection, segmentation): a backbone under task layers,
//! with the classification loop's levers (per-part rates, layer decay, freezing and gradual
//! unfreezing, BN policy, schedules, early stopping), a task loss per batch and a task score on
//! the validation items choosing the best epoch.

use anyhow::bail;
use burn::module::Module;
use burn::tensor::{Device, Tensor, TensorData};
use rand::seq::SliceRandom;

use super::{Diverged, Settings, optim, step};
use crate::model::Network;
use crate::seed;

/// A model the dense loop trains: a [`Network`] backbone under the task's layers.
pub trait Dense: Module + Sized {
    /// The backbone.
    fn backbone(&self) -> &Network;
    /// The model with its backbone replaced by `f(backbone)` (freezing).
    fn map_backbone(self, f: impl FnOnce(Network) -> Network) -> Self;
}

/// One epoch of a dense learning curve, with the task's validation scores `S`.
#[derive(Debug, Clone, PartialEq)]
pub struct DenseEpoch<S> {
    /// 1-based epoch.
    pub epoch: usize,
    /// Mean training loss over the epoch's items.
    pub train_loss: f64,
    /// Validation scores.
    pub val: S,
    /// Head learning rate of the epoch's first step.
    pub lr: f64,
    /// Backbone parts frozen during the epoch.
    pub frozen_parts: usize,
}

/// The result of [`fit`].
pub struct DenseFitted<M, S> {
    /// The model of the best validation epoch, in inference mode.
    pub best: M,
    /// 1-based epoch of `best`.
    pub best_epoch: usize,
    /// The model after the last epoch run, in inference mode.
    pub last: M,
    /// Learning curve.
    pub epochs: Vec<DenseEpoch<S>>,
}

/// What the task brings to the loop: its batch loss, how it scores an inference-mode model on
/// the validation items, and which number of the scores is maximised.
pub struct TaskFns<'a, M, I, S> {
    /// The mean training loss of a batch (on the loop's device).
    pub loss: &'a dyn Fn(&M, &[&I]) -> Tensor<1>,
    /// The scores of a model on items.
    pub score: &'a dyn Fn(&M, &[I]) -> anyhow::Result<S>,
    /// The number the best epoch maximises.
    pub key: &'a dyn Fn(&S) -> f64,
}

/// Trains `model` (on an autodiff device) on `train`; `augment(item, epoch, index)` gives the
/// item an epoch sees.
pub fn fit<M: Dense, I, S>(
    mut model: M,
    (train, val): (&[I], &[I]),
    s: &Settings,
    augment: &dyn Fn(&I, usize, usize) -> I,
    task: TaskFns<'_, M, I, S>,
    on_epoch: &mut dyn FnMut(&DenseEpoch<S>) -> super::Control,
) -> anyhow::Result<DenseFitted<M, S>> {
    if train.is_empty() || val.is_empty() {
        bail!(
            "no items to train on ({} train, {} validation)",
            train.len(),
            val.len()
        );
    }
    let mut optim = optim::build(s.optimizer, s.weight_decay, s.grad_clip);
    let plan = s.lr_plan(train.len());
    let parts = model.backbone().parts().len();
    let mut thawed_in = vec![0usize; parts];
    let mut frozen_now = s.freeze_depth;
    let mut frozen = None;
    let part_ids = model.backbone().part_param_ids();
    let mut order: Vec<usize> = (0..train.len()).collect();
    let mut best: Option<(f64, usize, M)> = None;
    let mut last: Option<M> = None;
    let mut epochs = Vec::new();
    for epoch in 1..=s.epochs {
        if s.patience > 0 && best.as_ref().is_some_and(|b| epoch - 1 - b.1 >= s.patience) {
            break;
        }
        let depth = s.frozen_parts(parts, epoch);
        if epoch == 1 || depth != frozen_now {
            model = model.map_backbone(|b| b.set_frozen(depth, s.bn_train));
            thawed_in[depth.min(frozen_now)..frozen_now].fill(epoch);
            frozen_now = depth;
            frozen = Some(crate::model::frozen::values(model.backbone()));
        }
        order.sort_unstable();
        order.shuffle(&mut seed::rng(s.seed, "shuffle", epoch as u64));
        let mut loss_sum = 0.0f64;
        for (b, batch) in order.chunks(s.batch_size).enumerate() {
            let lr = plan.lr(epoch - 1, b);
            let rates = s.part_rates(lr, &thawed_in, epoch, (b, plan.steps_per_epoch));
            let items: Vec<I> = batch
                .iter()
                .map(|&i| augment(&train[i], epoch, i))
                .collect();
            let refs: Vec<&I> = items.iter().collect();
            let loss = (task.loss)(&model, &refs);
            let value = f64::from(loss.clone().into_scalar::<f32>());
            if !value.is_finite() {
                return Err(Diverged { epoch }.into());
            }
            loss_sum += value * batch.len() as f64;
            model = step(model, &mut optim, loss, lr, &rates, &part_ids);
            if let Some(before) = frozen.take()
                && let Err(what) = crate::model::frozen::check(&before, model.backbone())
            {
                bail!(
                    "{what} in the first optimizer step of epoch {epoch}; freezing failed (please report this)"
                );
            }
        }
        let valid = model.valid();
        let scores = (task.score)(&valid, val)?;
        let key = (task.key)(&scores);
        let log = DenseEpoch {
            epoch,
            train_loss: loss_sum / train.len() as f64,
            val: scores,
            lr: plan.lr(epoch - 1, 0),
            frozen_parts: frozen_now,
        };
        let control = on_epoch(&log);
        epochs.push(log);
        if best.as_ref().is_none_or(|(b, _, _)| key > *b) {
            best = Some((key, epoch, valid.clone()));
        }
        last = Some(valid);
        if control.is_break() {
            return Err(super::Pruned { epoch }.into());
        }
    }
    let (_, best_epoch, best) = best.expect("at least one epoch");
    Ok(DenseFitted {
        best,
        best_epoch,
        last: last.expect("at least one epoch"),
        epochs,
    })
}

/// Per-channel mean and standard deviation the pixels are normalised with.
#[derive(Debug, Clone, PartialEq)]
pub struct Normalisation {
    /// Mean per channel.
    pub mean: Vec<f32>,
    /// Standard deviation per channel.
    pub std: Vec<f32>,
}

impl Normalisation {
    /// The statistics of `images` (each `channels`×H×W, channel-major).
    pub fn of_images<'a>(
        images: impl IntoIterator<Item = &'a [f32]>,
        channels: usize,
    ) -> Normalisation {
        let (mut sum, mut sq, mut n) = (vec![0f64; channels], vec![0f64; channels], 0usize);
        for img in images {
            let plane = img.len() / channels.max(1);
            for c in 0..channels {
                for &v in &img[c * plane..(c + 1) * plane] {
                    sum[c] += f64::from(v);
                    sq[c] += f64::from(v) * f64::from(v);
                }
            }
            n += plane;
        }
        let n = n.max(1) as f64;
        let mean: Vec<f64> = sum.iter().map(|s| s / n).collect();
        let std = sq
            .iter()
            .zip(&mean)
            .map(|(q, m)| ((q / n - m * m).max(0.0).sqrt().max(1e-6)) as f32)
            .collect();
        Normalisation {
            mean: mean.into_iter().map(|m| m as f32).collect(),
            std,
        }
    }
}

/// Batch tensor `[n, channels, h, w]` of images of one size (channel-major), normalised.
pub fn batch(
    images: &[&[f32]],
    (h, w): (usize, usize),
    norm: &Normalisation,
    device: &Device,
) -> Tensor<4> {
    let c = norm.mean.len();
    let mut x = Vec::with_capacity(images.len() * c * h * w);
    for img in images {
        for ch in 0..c {
            let (m, d) = (norm.mean[ch], norm.std[ch]);
            x.extend(
                img[ch * h * w..(ch + 1) * h * w]
                    .iter()
                    .map(|&v| (v - m) / d),
            );
        }
    }
    Tensor::<4>::from_data(TensorData::new(x, [images.len(), c, h, w]), device)
}

/// A run's label budget: `budget` items of `pool` (all when 0) drawn with the run's seed, in
/// pool order.
pub fn draw_budget<T: Clone>(pool: &[T], budget: usize, seed: u64) -> Vec<T> {
    let mut order: Vec<usize> = (0..pool.len()).collect();
    order.shuffle(&mut seed::rng(seed, "budget", 0));
    if budget > 0 {
        order.truncate(budget);
    }
    order.sort_unstable();
    order.into_iter().map(|i| pool[i].clone()).collect()
}
