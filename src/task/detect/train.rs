//! Training and evaluating a [`Detector`]: the classification loop's levers (per-part rates,
//! layer decay, freezing and gradual unfreezing, BN policy, schedules, early stopping) with
//! CenterNet's loss, and COCO AP50 (or AP, `monitor = "val_ap"`) on the validation scenes choosing the best epoch.

use burn::tensor::{Device, Tensor};

use super::Scene;
use super::centernet::Detector;
use super::eval::{self, Detection, Stats, Truth};
use super::loss::Targets;
use crate::spec::Monitor;
use crate::train::Settings;
pub use crate::train::dense::Normalisation;
use crate::train::dense::{self, Dense, DenseEpoch, TaskFns};

/// One line of a detection learning curve.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DetEpochLog {
    /// 1-based epoch.
    pub epoch: usize,
    /// Mean training loss over the epoch's batches.
    pub train_loss: f64,
    /// Validation AP@[.5:.95].
    pub val_ap: f64,
    /// Validation AP at IoU 0.5.
    pub val_ap50: f64,
    /// Head learning rate of the epoch's first step.
    pub lr: f64,
    /// Backbone parts frozen during the epoch.
    pub frozen_parts: usize,
}

/// The result of [`fit`].
pub struct DetFitted {
    /// The detector of the best validation epoch, in inference mode.
    pub best: Detector,
    /// 1-based epoch of `best`.
    pub best_epoch: usize,
    /// The detector after the last epoch run, in inference mode.
    pub last: Detector,
    /// Learning curve.
    pub epochs: Vec<DetEpochLog>,
}

/// Batch tensor of scenes, all of one size, normalised.
fn images(scenes: &[&Scene], norm: &Normalisation, device: &Device) -> Tensor<4> {
    let pixels: Vec<&[f32]> = scenes.iter().map(|s| s.pixels.as_slice()).collect();
    dense::batch(&pixels, (scenes[0].height, scenes[0].width), norm, device)
}

/// Trains `model` (on an autodiff device) on `train` scenes, all at the detector's input size;
/// `augment(scene, epoch, index)` gives the scene an epoch sees (box-aware augmentation).
#[allow(clippy::too_many_arguments)]
pub fn fit(
    model: Detector,
    train: &[Scene],
    val: &[Scene],
    norm: &Normalisation,
    s: &Settings,
    device: &Device,
    augment: &dyn Fn(&Scene, usize, usize) -> Scene,
    on_epoch: &mut dyn FnMut(&DetEpochLog) -> crate::train::Control,
) -> anyhow::Result<DetFitted> {
    let log = |e: &DenseEpoch<Stats>| DetEpochLog {
        epoch: e.epoch,
        train_loss: e.train_loss,
        val_ap: e.val.ap,
        val_ap50: e.val.ap50,
        lr: e.lr,
        frozen_parts: e.frozen_parts,
    };
    let monitor = s.monitor;
    let fitted = dense::fit(
        model,
        (train, val),
        s,
        augment,
        TaskFns {
            loss: &|model: &Detector, batch: &[&Scene]| {
                let (heat, boxes) = model.forward(images(batch, norm, device));
                let [_, _, h, w] = heat.dims();
                let targets = Targets::new(batch, model.classes, h, w, model.stride);
                targets.loss(heat, boxes, device)
            },
            score: &|model, val| score(model, val, norm, device),
            key: &|stats: &Stats| match monitor {
                Monitor::ValAp => stats.ap,
                _ => stats.ap50,
            },
        },
        &mut |e| on_epoch(&log(e)),
    )?;
    Ok(DetFitted {
        best: fitted.best,
        best_epoch: fitted.best_epoch,
        last: fitted.last,
        epochs: fitted.epochs.iter().map(log).collect(),
    })
}

impl Dense for Detector {
    fn backbone(&self) -> &crate::model::Network {
        &self.backbone
    }

    fn map_backbone(
        mut self,
        f: impl FnOnce(crate::model::Network) -> crate::model::Network,
    ) -> Self {
        self.backbone = f(self.backbone);
        self
    }
}

/// Detections of an inference-mode detector on `scenes` (up to 100 per scene with a score of
/// at least [`MIN_SCORE`], in the scenes' pixels, image ids the scenes' ids), rounded to 1/100
/// pixel and 1e-5 in score as they are written to detections.json, so that a file and the
/// in-memory numbers evaluate alike.
pub fn predict(
    model: &Detector,
    scenes: &[Scene],
    norm: &Normalisation,
    device: &Device,
) -> Vec<Detection> {
    let mut out = Vec::new();
    for chunk in scenes.chunks(64) {
        let refs: Vec<&Scene> = chunk.iter().collect();
        let (heat, boxes) = model.forward(images(&refs, norm, device));
        for (scene, dets) in chunk.iter().zip(model.decode(heat, boxes, 100)) {
            out.extend(
                dets.into_iter()
                    .filter(|d| d.score >= MIN_SCORE)
                    .map(|mut d| {
                        d.image = scene.id;
                        d.bbox = d.bbox.map(|v| (v * 100.0).round() / 100.0);
                        d.score = (d.score * 1e5).round() / 1e5;
                        d
                    }),
            );
        }
    }
    out
}

/// Detections below this score are dropped (as detectors' test settings do): they hardly move
/// AP, and 100 per image would make detections.json megabytes per run.
pub const MIN_SCORE: f64 = 0.01;

/// COCO metrics of an inference-mode detector on `scenes`.
pub fn score(
    model: &Detector,
    scenes: &[Scene],
    norm: &Normalisation,
    device: &Device,
) -> anyhow::Result<Stats> {
    let dets = predict(model, scenes, norm, device);
    evaluate(scenes, model.classes, &dets)
}

/// COCO metrics of `detections` on `scenes` (ids and objects).
pub fn evaluate(
    scenes: &[Scene],
    classes: usize,
    detections: &[Detection],
) -> anyhow::Result<Stats> {
    let ids: Vec<u64> = scenes.iter().map(|s| s.id).collect();
    let truth: Vec<Truth> = scenes
        .iter()
        .flat_map(|s| s.objects.iter().map(|o| Truth::of(s.id, o)))
        .collect();
    eval::evaluate(&ids, classes, &truth, detections)
}
