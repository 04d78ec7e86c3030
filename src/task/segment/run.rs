//! One segmentation run of a sweep: load the images and masks, draw the label budget, build or
//! transfer the backbone under the segmentation head, train, test, and keep the first test
//! masks for the report's picture.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use anyhow::bail;
use burn::tensor::Device;

use super::augment::{self, MaskOp};
use super::data::{self, SegDataset};
use super::formats::Sample;
use super::metrics::Stats;
use super::model::{Segmenter, SegmenterConfig};
use super::train as seg;
use crate::model;
use crate::seed;
use crate::spec::Run;
use crate::spec::schema::Save;
use crate::spec::schema::SegAugment;
use crate::spec::{Monitor, Plan, SpecError};
use crate::task::detect::scenes::ScenesConfig;
use crate::task::source::SourceInfo;
use crate::task::{Budget, Inputs, Legacy, Metric, OnEpoch, Task, preflight};
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
fn train_and_test(
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
    let backbone =
        crate::task::backbone::backbone(run, source, cache, (channels, classes), device)?;
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
    let settings = crate::train::settings(c);
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
            on_epoch(&EpochLog::new(
                e.epoch,
                e.train_loss,
                [("val_miou", e.val_miou)],
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

/// Segmentation's [`Task`]: a per-pixel head on a backbone, scored by mIoU.
pub struct Segment;

/// `runs.csv`'s test columns.
const TEST: [&str; 3] = ["test_miou", "test_pixel_accuracy", "test_mean_dice"];

/// The test scores of a segmenter's metrics, in [`TEST`] order.
fn scores(s: &Stats) -> Vec<(&'static str, f64)> {
    TEST.into_iter()
        .zip([s.miou, s.pixel_accuracy, s.mean_dice])
        .collect()
}

/// `classes.csv`: IoU and Dice per class, as the confusion matrix is for a classifier.
fn classes_csv(s: &Stats) -> anyhow::Result<Vec<u8>> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(["class", "iou", "dice"])?;
    for (c, (iou, dice)) in s.iou.iter().zip(&s.dice).enumerate() {
        let f = |v: &Option<f64>| v.map_or(String::new(), |v| format!("{v:.6}"));
        w.write_record([c.to_string(), f(iou), f(dice)])?;
    }
    Ok(w.into_inner()?)
}

impl Task for Segment {
    fn name(&self) -> &'static str {
        "segment"
    }

    fn test_columns(&self) -> &'static [&'static str] {
        &TEST
    }

    fn epoch_columns(&self) -> &'static [&'static str] {
        &["val_miou"]
    }

    fn budget(&self) -> Budget {
        Budget::LABELLED_IMAGES
    }

    fn headline_label(&self) -> &'static str {
        "test mIoU"
    }

    fn progress(&self) -> (&'static str, &'static str) {
        ("val_miou", "val mIoU")
    }

    fn metric(&self, _monitor: Monitor) -> Metric {
        // `val_accuracy` (the default) means mIoU here; validation refuses the others.
        Metric::higher("val_miou")
    }

    fn finished(&self, scores: &BTreeMap<String, f64>) -> String {
        let get = |k: &str| scores.get(k).copied().unwrap_or(f64::NAN);
        format!(
            "test mIoU {:.4} pixel acc {:.4}",
            get("test_miou"),
            get("test_pixel_accuracy")
        )
    }

    fn preflight(
        &self,
        plan: &Plan,
        run: usize,
        seen: &mut HashSet<String>,
    ) -> Result<(usize, usize), SpecError> {
        target(plan, run, seen)
    }

    fn train_and_test(
        &self,
        run: &Run,
        source: Option<&SourceInfo>,
        cache: &Path,
        device: &Device,
        on_epoch: &mut OnEpoch<'_>,
    ) -> anyhow::Result<crate::task::Tested> {
        let t = train_and_test(run, source, cache, device, on_epoch)?;
        Ok(crate::task::Tested {
            scores: scores(&t.stats),
            files: vec![
                ("masks.json", serde_json::to_vec(&t.masks)?),
                ("classes.csv", classes_csv(&t.stats)?),
            ],
            details: serde_json::to_value(&t.stats)?,
            best_epoch: t.best_epoch,
            train_images: t.train_images,
            weights: t.weights,
            normalisation: Some(t.normalisation),
        })
    }

    fn inputs(
        &self,
        _run: &Run,
        normalisation: Option<&(Vec<f32>, Vec<f32>)>,
        details: Option<&serde_json::Value>,
    ) -> anyhow::Result<Inputs> {
        Ok(Inputs {
            channels: normalisation.map(|n| n.0.len()),
            classes: details
                .and_then(|d| d.get("iou"))
                .and_then(|v| v.as_array())
                .map(Vec::len),
            normalisation: normalisation.cloned(),
            normalisation_name: "training images",
        })
    }

    fn legacy(&self, old: &serde_json::Map<String, serde_json::Value>) -> Option<Legacy> {
        let details = old.get("segmentation").filter(|v| !v.is_null())?.clone();
        let s: Stats = serde_json::from_value(details.clone()).ok()?;
        Some(Legacy {
            scores: scores(&s),
            details,
        })
    }

    fn legacy_epoch(&self, scores: &mut BTreeMap<String, f64>) {
        crate::task::detect::run::dense_legacy_epoch(scores, "val_miou");
    }
}

/// The target checks of a segmentation run: the images and masks load, and the label budget
/// and the validation split leave images on both sides.
fn target(plan: &Plan, i: usize, seen: &mut HashSet<String>) -> Result<(usize, usize), SpecError> {
    let run = &plan.runs[i];
    let c = &run.config;
    let ds = dataset(run).map_err(|e| {
        plan.error_at(
            i,
            "target.dataset",
            format!("{e:#}"),
            preflight::SEGMENT_HELP,
        )
    })?;
    if seen.insert(format!("segment {:?} {:?}", c.target, c.segment)) {
        // Every mask pixel ignored leaves nothing to learn or to score (mIoU over no pixels).
        let labelled = |samples: &[super::formats::Sample]| {
            samples
                .iter()
                .flat_map(|s| &s.mask)
                .filter(|&&m| m != super::formats::IGNORE)
                .count()
        };
        for (samples, what, to) in [
            (&ds.train, "training images", "learn from"),
            (
                &ds.test,
                "test images (its fixed held-out fifth)",
                "measure mIoU on",
            ),
        ] {
            if labelled(samples) == 0 {
                return Err(plan.error_at(
                    i,
                    "target.dataset",
                    format!(
                        "{}: every mask pixel of its {} {what} is ignored (255): no labelled pixels to {to}",
                        ds.name,
                        samples.len()
                    ),
                    "check the mask files (class indices, 255 for unlabelled pixels), or use a dataset with labelled pixels in both parts",
                ));
            }
        }
        let (pool, val) = data::split_test(ds.train.clone(), c.target.val_fraction);
        preflight::budget_fits(plan, i, (pool.len(), val.len()), "images")?;
    }
    Ok((ds.channels, ds.classes.len()))
}
