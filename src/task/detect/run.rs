//! One detection run of a sweep: load the scenes, draw the label budget, build or transfer the
//! backbone under a CenterNet head, train, test, and write the test detections.

use std::collections::{BTreeMap, HashSet};
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
use crate::spec::{Monitor, Plan, SpecError};
use crate::task::source::SourceInfo;
use crate::task::{Budget, Inputs, Legacy, Metric, OnEpoch, Task, preflight};
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
            "{} training and {} validation scenes; lower val_fraction or add scenes",
            train.len(),
            val.len()
        );
    }
    let channels = ds.channels;
    let classes = ds.classes.len();
    let backbone =
        crate::task::backbone::backbone(run, source, cache, (channels, classes), device)?;
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
    let settings = crate::train::settings(c);
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
            on_epoch(&EpochLog::new(
                e.epoch,
                e.train_loss,
                [("val_ap50", e.val_ap50), ("val_ap", e.val_ap)],
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

/// Detection's [`Task`]: CenterNet on a backbone, scored by COCO AP.
pub struct Detect;

/// `runs.csv`'s test columns.
const TEST: [&str; 7] = [
    "test_ap50",
    "test_ap",
    "test_ap75",
    "test_ap_small",
    "test_ap_medium",
    "test_ap_large",
    "test_ar100",
];

/// The test scores of COCO metrics, in [`TEST`] order; a metric without ground truth (COCO's -1:
/// no test objects of that size) is left out, so that runs.csv leaves it blank and no summary
/// averages or ranks it (the full COCO record, -1 included, stays in outcome.json).
fn scores(d: &Stats) -> Vec<(&'static str, f64)> {
    TEST.into_iter()
        .zip([
            d.ap50,
            d.ap,
            d.ap75,
            d.ap_small,
            d.ap_medium,
            d.ap_large,
            d.ar100,
        ])
        .filter(|&(_, v)| v >= 0.0)
        .collect()
}

impl Task for Detect {
    fn name(&self) -> &'static str {
        "detect"
    }

    fn test_columns(&self) -> &'static [&'static str] {
        &TEST
    }

    fn epoch_columns(&self) -> &'static [&'static str] {
        &["val_ap50"]
    }

    fn budget(&self) -> Budget {
        Budget::LABELLED_IMAGES
    }

    fn headline_label(&self) -> &'static str {
        "test AP50"
    }

    fn progress(&self) -> (&'static str, &'static str) {
        ("val_ap50", "val AP50")
    }

    fn metric(&self, monitor: Monitor) -> Metric {
        match monitor {
            Monitor::ValAp => Metric::higher("val_ap"),
            // `val_accuracy` (the default) means AP50 here; validation refuses the others.
            _ => Metric::higher("val_ap50"),
        }
    }

    fn finished(&self, scores: &BTreeMap<String, f64>) -> String {
        let get = |k: &str| scores.get(k).copied().unwrap_or(f64::NAN);
        format!("test AP {:.4} AP50 {:.4}", get("test_ap"), get("test_ap50"))
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
    ) -> anyhow::Result<super::super::Tested> {
        let t = train_and_test(run, source, cache, device, on_epoch)?;
        Ok(super::super::Tested {
            scores: scores(&t.stats),
            details: serde_json::to_value(t.stats)?,
            files: vec![("detections.json", serde_json::to_vec(&t.detections)?)],
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
        _details: Option<&serde_json::Value>,
    ) -> anyhow::Result<Inputs> {
        Ok(Inputs {
            channels: normalisation.map(|n| n.0.len()),
            classes: None,
            normalisation: normalisation.cloned(),
            normalisation_name: "training images",
        })
    }

    fn legacy(&self, old: &serde_json::Map<String, serde_json::Value>) -> Option<Legacy> {
        let details = old.get("detection").filter(|v| !v.is_null())?.clone();
        let d: Stats = serde_json::from_value(details.clone()).ok()?;
        Some(Legacy {
            scores: scores(&d),
            details,
        })
    }

    fn legacy_epoch(&self, scores: &mut BTreeMap<String, f64>) {
        dense_legacy_epoch(scores, "val_ap50");
    }
}

/// An old dense epoch log: its `val_accuracy` was the task's score `key`, and its training
/// accuracy and validation loss were zeros standing in.
pub(crate) fn dense_legacy_epoch(scores: &mut BTreeMap<String, f64>, key: &str) {
    if let Some(v) = scores.remove("val_accuracy") {
        scores.insert(key.to_string(), v);
    }
    scores.remove("train_accuracy");
    scores.remove("val_loss");
}

/// The target checks of a detection run: the dataset loads, and the label budget and the
/// validation split leave scenes on both sides.
fn target(plan: &Plan, i: usize, seen: &mut HashSet<String>) -> Result<(usize, usize), SpecError> {
    let run = &plan.runs[i];
    let c = &run.config;
    let ds = dataset(run).map_err(|e| {
        plan.error_at(
            i,
            "target.dataset",
            format!("{e:#}"),
            preflight::DETECT_HELP,
        )
    })?;
    if seen.insert(format!("detect {:?} {:?}", c.target, c.detect)) {
        // A detector with nothing to find would train on background alone and report COCO's
        // "no ground truth" (-1) as its AP.
        let objects = |scenes: &[Scene]| {
            scenes
                .iter()
                .flat_map(|s| &s.objects)
                .filter(|o| !o.crowd && !o.ignore)
                .count()
        };
        for (scenes, what, to) in [
            (&ds.train, "training images", "learn from"),
            (
                &ds.test,
                "test images (its fixed held-out fifth)",
                "measure AP on",
            ),
        ] {
            if objects(scenes) == 0 {
                return Err(plan.error_at(
                    i,
                    "target.dataset",
                    format!(
                        "{}: its {} scenes of {what} hold no objects to {to} (no boxes, or every box a crowd, ignored or outside its image)",
                        ds.name,
                        scenes.len()
                    ),
                    "check the annotation file's boxes and category ids, or use a dataset with objects in both parts",
                ));
            }
        }
        let (pool, val) = super::formats::split_test(ds.train.clone(), c.target.val_fraction);
        preflight::budget_fits(plan, i, (pool.len(), val.len()), "scenes")?;
    }
    Ok((ds.channels, ds.classes.len()))
}
