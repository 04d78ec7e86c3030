//! One segmentation run of a sweep: load the images and masks, draw the label budget, build or
//! transfer the backbone under the segmentation head, train, test, and keep the first test
//! masks for the report's picture.

use std::path::Path;

use anyhow::bail;
use burn::tensor::Device;

use super::augment::{self, MaskOp};
use super::data::{self, SegDataset};
use super::formats::Sample;
use super::metrics::Stats;
use super::model::{Segmenter, SegmenterConfig};
use super::train as seg;
use crate::detect::scenes::ScenesConfig;
use crate::model;
use crate::seed;
use crate::spec::Run;
use crate::spec::schema::Save;
use crate::spec::schema::SegAugment;
use crate::sweep::run as sweep_run;
use crate::sweep::source::SourceInfo;
use crate::train::EpochLog;

/// Test masks kept per run for the report's picture.
pub const SHOWN: usize = 12;

/// A predicted mask, run-length coded row-major (counts of equal values: `[value, count, ...]`),
/// as `runs/<id>/masks.json` stores it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SavedMask {
    /// The test image's file name.
    pub file: String,
    /// Columns.
    pub width: usize,
    /// Rows.
    pub height: usize,
    /// Pairs of (class, run length), row-major.
    pub runs: Vec<u32>,
}

impl SavedMask {
    /// The mask of `pred` for `sample`.
    pub fn new(sample: &Sample, pred: &[u8]) -> SavedMask {
        let mut runs: Vec<u32> = Vec::new();
        for &v in pred {
            match runs.len() >= 2 && runs[runs.len() - 2] == u32::from(v) {
                true => *runs.last_mut().expect("a run") += 1,
                false => runs.extend([u32::from(v), 1]),
            }
        }
        SavedMask {
            file: sample.file.clone(),
            width: sample.width,
            height: sample.height,
            runs,
        }
    }

    /// The class of every pixel, row-major; `None` when the runs do not fill the image.
    pub fn decode(&self) -> Option<Vec<u8>> {
        let mut out = Vec::with_capacity(self.width * self.height);
        for pair in self.runs.chunks(2) {
            let [v, n] = pair else { return None };
            out.extend(std::iter::repeat_n(u8::try_from(*v).ok()?, *n as usize));
        }
        (out.len() == self.width * self.height).then_some(out)
    }
}

/// What a finished segmentation run reports.
pub struct Tested {
    /// The per-channel mean and std the images were normalised with (of the training images).
    pub normalisation: (Vec<f32>, Vec<f32>),
    /// Metrics on the test images.
    pub stats: Stats,
    /// Epoch whose weights were tested.
    pub best_epoch: usize,
    /// Labelled training images used.
    pub train_images: usize,
    /// The tested and the last weights, serialized.
    pub weights: model::weights::SavedModel,
    /// The first [`SHOWN`] test masks predicted.
    pub masks: Vec<SavedMask>,
}

/// The dataset a run names, its images and masks at the model's input size.
pub fn dataset(run: &Run) -> anyhow::Result<SegDataset> {
    let c = &run.config;
    let s = &c.segment;
    let cfg = ScenesConfig {
        canvas: s.canvas,
        train_scenes: s.train_scenes,
        test_scenes: s.test_scenes,
        ..ScenesConfig::default()
    };
    let mut ds = data::load(&c.target.dataset, &cfg)?;
    let size = c.model.input_size;
    ds.train = ds.train.iter().map(|x| data::resize(x, size)).collect();
    ds.test = ds.test.iter().map(|x| data::resize(x, size)).collect();
    Ok(ds)
}

/// The fixed (train pool, validation) split of the non-test images, and the run's budget of
/// labelled images drawn from the pool with its seed.
pub fn split(
    ds: &SegDataset,
    val_fraction: f64,
    budget: usize,
    seed: u64,
) -> (Vec<Sample>, Vec<Sample>) {
    let (pool, val) = data::split_test(ds.train.clone(), val_fraction);
    (crate::train::dense::draw_budget(&pool, budget, seed), val)
}

/// The ops of an augmentation set.
pub fn ops(a: SegAugment) -> Vec<MaskOp> {
    let scale = MaskOp::ScaleTranslate {
        min: 0.75,
        max: 1.25,
        shift: 0.125,
    };
    let rotate = MaskOp::Rotate { degrees: 15.0 };
    match a {
        SegAugment::None => vec![],
        SegAugment::Flip => vec![MaskOp::Flip],
        SegAugment::Scale => vec![scale],
        SegAugment::Rotate => vec![rotate],
        SegAugment::All => vec![MaskOp::Flip, scale, rotate],
    }
}

/// Trains and tests one segmentation run (its source stage must be done).
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
            "{} training and {} validation images; lower val_fraction or add images",
            train.len(),
            val.len()
        );
    }
    let (channels, classes) = (ds.channels, ds.classes.len());
    let backbone = sweep_run::backbone(run, source, cache, (channels, classes), device)?;
    let config = SegmenterConfig {
        classes,
        head: c.segment.head,
        stride: c.segment.stride,
        width: c.segment.width,
        input_size: c.model.input_size,
    };
    let segmenter = Segmenter::new(
        backbone,
        &config,
        &mut seed::rng(seed, "segment-head", 0),
        device,
    );
    let settings = sweep_run::settings(c);
    let norm = seg::normalisation(&train, channels);
    let mask_ops = ops(c.segment.augment);
    let augment = |s: &Sample, epoch: usize, i: usize| match mask_ops.is_empty() {
        true => s.clone(),
        false => augment::apply(s, &mask_ops, seed, epoch, i),
    };
    let fitted = seg::fit(
        segmenter,
        (&train, &val),
        &norm,
        c.segment.loss,
        &settings,
        device,
        &augment,
        &mut |e| {
            on_epoch(&EpochLog::dense(
                e.epoch,
                e.train_loss,
                e.val_miou,
                e.lr,
                e.frozen_parts,
            ))
        },
    )?;
    let preds = seg::predict(&fitted.best, &ds.test, &norm, device);
    let stats = seg::evaluate(&ds.test, classes, &preds)?;
    Ok(Tested {
        normalisation: (norm.mean.clone(), norm.std.clone()),
        stats,
        best_epoch: fitted.best_epoch,
        train_images: train.len(),
        weights: model::weights::SavedModel::of(
            &fitted.best,
            (run.config.experiment.save == Save::All).then_some(&fitted.last),
        )?,
        masks: ds
            .test
            .iter()
            .zip(&preds)
            .take(SHOWN)
            .map(|(s, p)| SavedMask::new(s, p))
            .collect(),
    })
}
