//! Training and evaluating a [`Segmenter`]: the dense loop ([`crate::train::dense`]) with a
//! pixel loss, and validation mIoU choosing the best epoch.

use burn::tensor::{Device, Tensor};

use super::formats::{IGNORE, Sample};
use super::loss::{Loss, Targets};
use super::metrics::{Confusion, Stats};
use super::model::Segmenter;
use crate::train::Settings;
pub use crate::train::dense::Normalisation;
use crate::train::dense::{self, DenseEpoch, TaskFns};

/// One line of a segmentation learning curve.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SegEpochLog {
    /// 1-based epoch.
    pub epoch: usize,
    /// Mean training loss over the epoch's images.
    pub train_loss: f64,
    /// Validation mIoU.
    pub val_miou: f64,
    /// Validation pixel accuracy.
    pub val_pixel_accuracy: f64,
    /// Head learning rate of the epoch's first step.
    pub lr: f64,
    /// Backbone parts frozen during the epoch.
    pub frozen_parts: usize,
}

/// The result of [`fit`].
pub struct SegFitted {
    /// The segmenter of the best validation epoch, in inference mode.
    pub best: Segmenter,
    /// 1-based epoch of `best`.
    pub best_epoch: usize,
    /// The segmenter after the last epoch run, in inference mode.
    pub last: Segmenter,
    /// Learning curve.
    pub epochs: Vec<SegEpochLog>,
}

/// The normalisation of `samples`' own pixels.
pub fn normalisation(samples: &[Sample], channels: usize) -> Normalisation {
    Normalisation::of_images(samples.iter().map(|s| s.pixels.as_slice()), channels)
}

fn images(samples: &[&Sample], norm: &Normalisation, device: &Device) -> Tensor<4> {
    let pixels: Vec<&[f32]> = samples.iter().map(|s| s.pixels.as_slice()).collect();
    dense::batch(&pixels, (samples[0].height, samples[0].width), norm, device)
}

/// Trains `model` (on an autodiff device) on `train` (all at the model's input size) with
/// `loss`; `augment(sample, epoch, index)` gives the image an epoch sees.
#[allow(clippy::too_many_arguments)]
pub fn fit(
    model: Segmenter,
    (train, val): (&[Sample], &[Sample]),
    norm: &Normalisation,
    loss: Loss,
    s: &Settings,
    device: &Device,
    augment: &dyn Fn(&Sample, usize, usize) -> Sample,
    on_epoch: &mut dyn FnMut(&SegEpochLog) -> crate::train::Control,
) -> anyhow::Result<SegFitted> {
    let log = |e: &DenseEpoch<Stats>| SegEpochLog {
        epoch: e.epoch,
        train_loss: e.train_loss,
        val_miou: e.val.miou,
        val_pixel_accuracy: e.val.pixel_accuracy,
        lr: e.lr,
        frozen_parts: e.frozen_parts,
    };
    let fitted = dense::fit(
        model,
        (train, val),
        s,
        augment,
        TaskFns {
            loss: &|model: &Segmenter, batch: &[&Sample]| {
                let logits = model.forward(images(batch, norm, device));
                let masks: Vec<&[u8]> = batch.iter().map(|s| s.mask.as_slice()).collect();
                let (h, w) = (batch[0].height, batch[0].width);
                Targets::new(&masks, model.classes, h, w).loss(logits, loss, device)
            },
            score: &|model, val| score(model, val, norm, device),
            key: &|stats: &Stats| stats.miou,
        },
        &mut |e| on_epoch(&log(e)),
    )?;
    Ok(SegFitted {
        best: fitted.best,
        best_epoch: fitted.best_epoch,
        last: fitted.last,
        epochs: fitted.epochs.iter().map(log).collect(),
    })
}

/// The predicted mask of every sample (row-major class indices) by an inference-mode model.
pub fn predict(
    model: &Segmenter,
    samples: &[Sample],
    norm: &Normalisation,
    device: &Device,
) -> Vec<Vec<u8>> {
    samples
        .chunks(32)
        .flat_map(|chunk| {
            let refs: Vec<&Sample> = chunk.iter().collect();
            model.predict(images(&refs, norm, device))
        })
        .collect()
}

/// Metrics of `preds` against the samples' masks, over the whole split (one confusion matrix).
pub fn evaluate(samples: &[Sample], classes: usize, preds: &[Vec<u8>]) -> anyhow::Result<Stats> {
    let mut confusion = Confusion::new(classes, Some(u32::from(IGNORE)));
    for (s, p) in samples.iter().zip(preds) {
        let truth: Vec<u32> = s.mask.iter().map(|&v| u32::from(v)).collect();
        let pred: Vec<u32> = p.iter().map(|&v| u32::from(v)).collect();
        confusion
            .add(&truth, &pred)
            .map_err(|e| anyhow::anyhow!("{}: {e}", s.file))?;
    }
    Ok(confusion.stats())
}

/// Metrics of an inference-mode model on `samples`.
pub fn score(
    model: &Segmenter,
    samples: &[Sample],
    norm: &Normalisation,
    device: &Device,
) -> anyhow::Result<Stats> {
    let preds = predict(model, samples, norm, device);
    evaluate(samples, model.classes, &preds)
}
