//! One detection run of a sweep: load the scenes, draw the label budget, build or transfer the
//! backbone under a CenterNet head, train, test, and write the test detections.

use std::path::Path;

use anyhow::bail;
use burn::tensor::Device;

use super::augment::{self, BoxOp};
use super::centernet::{Detector, DetectorConfig};
use super::eval::Stats;
use super::scenes::ScenesConfig;
use super::train::{self as det, Normalisation};
use super::{DetDataset, Scene};
use crate::model;
use crate::seed;
use crate::spec::Run;
use crate::spec::schema::DetAugment;
use crate::spec::schema::Save;
use crate::sweep::run as sweep_run;
use crate::sweep::source::SourceInfo;
use crate::train::EpochLog;

/// What a finished detection run reports.
pub struct Tested {
    /// The per-channel mean and std the images were normalised with (of the training images).
    pub normalisation: (Vec<f32>, Vec<f32>),
    /// COCO metrics on the test scenes.
    pub stats: Stats,
    /// Epoch whose weights were tested.
    pub best_epoch: usize,
    /// Labelled training scenes used.
    pub train_images: usize,
    /// The tested and the last weights, serialized.
    pub weights: model::weights::SavedModel,
    /// The test detections as COCO results entries with the dataset's category ids (for
    /// `runs/<id>/detections.json`).
    pub detections: Vec<serde_json::Value>,
}

/// The dataset a run names, its scenes at the model's input size.
pub fn dataset(run: &Run) -> anyhow::Result<DetDataset> {
    let c = &run.config;
    let d = &c.detect;
    let cfg = ScenesConfig {
        canvas: d.canvas,
        train_scenes: d.train_scenes,
        test_scenes: d.test_scenes,
        ..ScenesConfig::default()
    };
    let mut ds = super::load(&c.target.dataset, &cfg)?;
    let size = c.model.input_size;
    let at_size = |s: &Scene| match (s.width, s.height) == (size, size) {
        true => s.clone(),
        false => augment::resize(s, size),
    };
    ds.train = ds.train.iter().map(at_size).collect();
    ds.test = ds.test.iter().map(at_size).collect();
    Ok(ds)
}

/// The fixed (train pool, validation) split of the non-test scenes, and the run's budget of
/// labelled scenes drawn from the pool with its seed.
pub fn split(
    ds: &DetDataset,
    val_fraction: f64,
    budget: usize,
    seed: u64,
) -> (Vec<Scene>, Vec<Scene>) {
    let (pool, val) = super::formats::split_test(ds.train.clone(), val_fraction);
    (crate::train::dense::draw_budget(&pool, budget, seed), val)
}

fn ops(a: DetAugment) -> Vec<BoxOp> {
    let scale = BoxOp::ScaleTranslate {
        min: 0.75,
        max: 1.25,
    };
    match a {
        DetAugment::None => vec![],
        DetAugment::Flip => vec![BoxOp::Flip],
        DetAugment::Scale => vec![scale],
        DetAugment::FlipScale => vec![BoxOp::Flip, scale],
    }
}

/// Trains and tests one detection run (its source stage must be done).
pub fn train_and_test(
    run: &Run,
    source: Option<&SourceInfo>,
    cache: &Path,
    device: &Device,
    on_epoch: &mut dyn FnMut(&EpochLog) -> crate::train::Control,
) -> anyhow::Result<Tested> {
    let c = &run.config;
    let seed = c.experiment.seed;
    let ds = dataset(run)?;
    let (train, val) = split(&ds, c.target.val_fraction, c.target.labelled_images, seed);
    if train.is_empty() || val.is_empty() {
        bail!(
            "{} training and {} validation scenes; lower val_fraction or add scenes",
            train.len(),
            val.len()
        );
    }
    let channels = ds.channels;
    let classes = ds.classes.len();
    let backbone = sweep_run::backbone(run, source, cache, (channels, classes), device)?;
    let config = DetectorConfig {
        classes,
        neck: c.detect.neck,
        stride: c.detect.stride,
        width: c.detect.width,
        input_size: c.model.input_size,
    };
    let detector = Detector::new(
        backbone,
        &config,
        &mut seed::rng(seed, "detect-head", 0),
        device,
    );
    let settings = sweep_run::settings(c);
    let norm = Normalisation::of_images(train.iter().map(|s| s.pixels.as_slice()), channels);
    let box_ops = ops(c.detect.augment);
    let augment = |s: &Scene, epoch: usize, i: usize| match box_ops.is_empty() {
        true => s.clone(),
        false => augment::apply(s, &box_ops, seed, epoch, i),
    };
    let fitted = det::fit(
        detector,
        &train,
        &val,
        &norm,
        &settings,
        device,
        &augment,
        &mut |e| {
            on_epoch(&EpochLog::dense(
                e.epoch,
                e.train_loss,
                e.val_ap50,
                e.lr,
                e.frozen_parts,
            ))
        },
    )?;
    let detections = det::predict(&fitted.best, &ds.test, &norm, device);
    let stats = det::evaluate(&ds.test, classes, &detections)?;
    Ok(Tested {
        normalisation: (norm.mean.clone(), norm.std.clone()),
        stats,
        best_epoch: fitted.best_epoch,
        train_images: train.len(),
        weights: model::weights::SavedModel::of(
            &fitted.best,
            (run.config.experiment.save == Save::All).then_some(&fitted.last),
        )?,
        detections: detections
            .iter()
            .map(|d| d.to_coco(&ds.category_ids))
            .collect(),
    })
}
