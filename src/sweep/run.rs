//! One target run: sample the label budget, build or transfer the network, train, test.

use std::path::Path;
use std::time::Instant;

use anyhow::bail;
use burn::tensor::Device;

use super::source::{self, SourceInfo};
use crate::data;
use crate::model;
use crate::spec::schema::BnPolicy;
use crate::spec::schema::{Save, Task};
use crate::spec::{Run, Strategy};
use crate::train::{self, EpochLog, Metrics, Settings};

/// How a run ended.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "status", content = "message", rename_all = "lowercase")]
pub enum Status {
    /// Trained and tested.
    Ok,
    /// The loss became NaN or infinite.
    Diverged,
    /// Stopped early by the search's stopping rule (`[search.stop]`): not a failure.
    Pruned,
    /// Any other error, with its message.
    Failed(String),
}

impl Status {
    /// The word written in `runs.csv`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Diverged => "diverged",
            Status::Pruned => "pruned",
            Status::Failed(_) => "failed",
        }
    }
}

/// Everything a finished run reports (stored as `runs/<id>/outcome.json`).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Outcome {
    /// How it ended.
    pub status: Status,
    /// Test metrics of the best-validation epoch (when it ended well).
    pub test: Option<Metrics>,
    /// Epoch whose weights were tested.
    pub best_epoch: usize,
    /// Learning curve.
    pub epochs: Vec<EpochLog>,
    /// Labelled training images used.
    pub train_images: usize,
    /// Wall-clock seconds.
    pub seconds: f64,
    /// What it ran on and what it produced, for `sweep verify`.
    #[serde(default)]
    pub manifest: Option<Manifest>,
    /// Detection runs: COCO metrics on the test scenes (`test` is then absent, and in `epochs`
    /// `val_accuracy` holds the validation AP50).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detection: Option<crate::detect::eval::Stats>,
    /// Detection runs: the test detections as COCO results entries (the dataset's category
    /// ids), written to `runs/<id>/detections.json` rather than kept in outcome.json.
    #[serde(skip)]
    pub detections: Vec<serde_json::Value>,
    /// Segmentation runs: mIoU, IoU and Dice per class and pixel accuracy on the test images
    /// (`test` is then absent, and in `epochs` `val_accuracy` holds the validation mIoU).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segmentation: Option<crate::segment::metrics::Stats>,
    /// Segmentation runs: the first test masks predicted, written to `runs/<id>/masks.json`.
    #[serde(skip)]
    pub masks: Vec<crate::segment::run::SavedMask>,
    /// A detection or segmentation run's input normalisation (per-channel mean and std of its
    /// training images), for `sweep export`; a classifier's is its dataset's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_normalisation: Option<(Vec<f32>, Vec<f32>)>,
    /// The weights to write into the run's folder (`[experiment] save`), dropped once written.
    #[serde(skip)]
    pub model: Option<std::sync::Arc<model::weights::SavedModel>>,
}

impl Outcome {
    /// The task's headline test metric: accuracy, a detector's AP50 or a segmenter's mIoU.
    pub fn headline(&self) -> Option<f64> {
        self.test
            .as_ref()
            .map(|m| m.accuracy)
            .or(self.detection.map(|d| d.ap50))
            .or(self.segmentation.as_ref().map(|s| s.miou))
    }
}

/// What a run that ended well produced, whatever its task.
struct Tested {
    test: Option<Metrics>,
    detection: Option<crate::detect::eval::Stats>,
    detections: Vec<serde_json::Value>,
    segmentation: Option<crate::segment::metrics::Stats>,
    masks: Vec<crate::segment::run::SavedMask>,
    best_epoch: usize,
    train_images: usize,
    weights: model::weights::SavedModel,
    normalisation: Option<(Vec<f32>, Vec<f32>)>,
}

/// The task's run: classification here, detection in [`crate::detect::run`], segmentation in
/// [`crate::segment::run`].
fn train_and_test_task(
    run: &Run,
    source: Option<&SourceInfo>,
    cache: &Path,
    device: &Device,
    on_epoch: &mut dyn FnMut(&EpochLog) -> train::Control,
) -> anyhow::Result<Tested> {
    match run.config.experiment.task {
        Task::Classify => {
            let (test, best_epoch, train_images, weights) =
                train_and_test(run, source, cache, device, on_epoch)?;
            Ok(Tested {
                test: Some(test),
                detection: None,
                detections: Vec::new(),
                segmentation: None,
                masks: Vec::new(),
                best_epoch,
                train_images,
                weights,
                normalisation: None,
            })
        }
        Task::Detect => {
            let t = crate::detect::run::train_and_test(run, source, cache, device, on_epoch)?;
            Ok(Tested {
                test: None,
                detection: Some(t.stats),
                detections: t.detections,
                segmentation: None,
                masks: Vec::new(),
                best_epoch: t.best_epoch,
                train_images: t.train_images,
                weights: t.weights,
                normalisation: Some(t.normalisation),
            })
        }
        Task::Segment => {
            let t = crate::segment::run::train_and_test(run, source, cache, device, on_epoch)?;
            Ok(Tested {
                test: None,
                detection: None,
                detections: Vec::new(),
                segmentation: Some(t.stats),
                masks: t.masks,
                best_epoch: t.best_epoch,
                train_images: t.train_images,
                weights: t.weights,
                normalisation: Some(t.normalisation),
            })
        }
    }
}

/// How a run was made: enough to repeat it and to check the repetition.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Manifest {
    /// `sweep` version.
    pub version: String,
    /// Git commit of the source tree `sweep` was built from, when known.
    pub git_commit: Option<String>,
    /// What the floats depend on: CPU, SIMD level, threads, backend, burn version, OS.
    #[serde(flatten)]
    pub platform: super::platform::Platform,
    /// Start and end, seconds since 1970.
    pub started: u64,
    /// End, seconds since 1970.
    pub finished: u64,
    /// The run's seed.
    pub seed: u64,
    /// SHA-256 of the tested (best-epoch) weights' safetensors file (`runs/<id>/model.safetensors`).
    pub weights_sha256: Option<String>,
    /// SHA-256 of the files the run read (`target`, `source`, `weights`), as in its id.
    #[serde(default)]
    pub inputs: std::collections::BTreeMap<String, String>,
    /// The input normalisation: named weights' own (`(x - 127) / 128`) or, when absent, each
    /// dataset's per-channel mean and std.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub normalisation: Option<String>,
}

/// Whole seconds since the Unix epoch.
pub(crate) fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn git_commit() -> Option<String> {
    let out = std::process::Command::new("git")
        .args(["-C", env!("CARGO_MANIFEST_DIR"), "rev-parse", "HEAD"])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Trains and tests one run; errors become a `failed` or `diverged` outcome, not a panic, and
/// `on_epoch` giving `Break` a `pruned` one.
pub fn execute(
    run: &Run,
    source: Option<&SourceInfo>,
    cache: &Path,
    device: &Device,
    on_epoch: &mut dyn FnMut(&EpochLog) -> train::Control,
) -> Outcome {
    let start = Instant::now();
    let started = unix_now();
    let mut epochs = Vec::new();
    let mut record = |e: &EpochLog| {
        epochs.push(e.clone());
        on_epoch(e)
    };
    // A panic inside burn (a shape it cannot handle, say) fails this run, not the whole sweep.
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        train_and_test_task(run, source, cache, device, &mut record)
    }))
    .unwrap_or_else(|panic| {
        let msg = panic
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| panic.downcast_ref::<&str>().copied())
            .unwrap_or("unknown panic");
        Err(anyhow::anyhow!("internal error: {msg}"))
    });
    let seconds = start.elapsed().as_secs_f64();
    match result {
        Ok(t) => {
            let weights_sha256 = Some(t.weights.sha256());
            Outcome {
                status: Status::Ok,
                test: t.test,
                best_epoch: t.best_epoch,
                epochs,
                train_images: t.train_images,
                seconds,
                detection: t.detection,
                detections: t.detections,
                segmentation: t.segmentation,
                masks: t.masks,
                input_normalisation: t.normalisation,
                model: (run.config.experiment.save != Save::None)
                    .then(|| std::sync::Arc::new(t.weights)),
                manifest: Some(Manifest {
                    version: env!("CARGO_PKG_VERSION").into(),
                    git_commit: git_commit(),
                    platform: super::platform::Platform::current(
                        device,
                        rayon::current_num_threads(),
                    ),
                    started,
                    finished: unix_now(),
                    seed: run.config.experiment.seed,
                    weights_sha256,
                    inputs: run.inputs.clone(),
                    normalisation: model::normalisation(&run.config.model).map(|n| n.name.into()),
                }),
            }
        }
        Err(e) => {
            let status = if e.downcast_ref::<train::Diverged>().is_some() {
                Status::Diverged
            } else if e.downcast_ref::<train::Pruned>().is_some() {
                Status::Pruned
            } else {
                Status::Failed(format!("{e:#}"))
            };
            Outcome {
                status,
                test: None,
                best_epoch: 0,
                epochs,
                train_images: 0,
                seconds,
                manifest: None,
                detection: None,
                detections: Vec::new(),
                segmentation: None,
                masks: Vec::new(),
                input_normalisation: None,
                model: None,
            }
        }
    }
}

/// A run ready to train: its data, label budget, network and settings.
pub struct Ready {
    /// The target dataset, prepared.
    pub data: std::sync::Arc<data::Prepared>,
    /// The labelled training images.
    pub train: Vec<usize>,
    /// The validation images.
    pub val: Vec<usize>,
    /// The network, pretrained and frozen as the run asks.
    pub net: model::Network,
    /// Training settings.
    pub settings: Settings,
}

/// Loads the data and builds the network of a run (its source stage must be done).
pub fn ready(
    run: &Run,
    source: Option<&SourceInfo>,
    cache: &Path,
    device: &Device,
) -> anyhow::Result<Ready> {
    let c = &run.config;
    let seed = c.experiment.seed;
    let norm = model::normalisation(&c.model).map(|n| (n.mean, n.std));
    let data = data::target(&c.target, c.model.input_size, norm)?;
    let (candidates, val) = data.val_split(c.target.val_fraction);
    let train = data::sample_per_class(&candidates, &data.labels, c.target.labels_per_class, seed);

    let net = backbone(run, source, cache, (data.channels, data.classes), device)?;
    let net = match c.transfer.strategy {
        Strategy::Scratch => net,
        _ => net.freeze_leading(c.transfer.freeze_depth, c.transfer.bn == BnPolicy::Train),
    };
    let settings = settings(c);
    Ok(Ready {
        data,
        train,
        val,
        net,
        settings,
    })
}

/// A run's backbone before freezing, for `channels`-channel images and `classes` classes:
/// initialised from the run's seed (scratch), or pretrained by its source stage or weights file
/// up to its `transfer_depth` and fresh from the seed above it.
pub fn backbone(
    run: &Run,
    source: Option<&SourceInfo>,
    cache: &Path,
    (channels, classes): (usize, usize),
    device: &Device,
) -> anyhow::Result<model::Network> {
    let c = &run.config;
    let seed = c.experiment.seed;
    let net = match (c.transfer.strategy, source, &c.model.weights) {
        (Strategy::Scratch, _, _) => model::build(&c.model, channels, classes, seed, device),
        (_, Some(info), _) => {
            let (path, _) = source::paths(cache, &info.key);
            model::pretrained(&c.model, &path, channels, classes, seed, false, device)?
        }
        (_, None, Some(_)) => model::pretrained(
            &c.model,
            &model::weights_file(&c.model)?.expect("weights are set"),
            channels,
            classes,
            seed,
            c.model.allow_partial,
            device,
        )?,
        (_, None, None) => bail!(
            "a {} run needs its source stage",
            c.transfer.strategy.as_str()
        ),
    };
    // Parts above the transfer depth start as a scratch run of the same seed would.
    match c.transfer.transfer_depth {
        Some(n) if c.transfer.strategy != Strategy::Scratch => {
            let fresh = model::build(&c.model, channels, classes, seed, device);
            model::transplant::keep_leading(net, n, &fresh)
        }
        _ => Ok(net),
    }
}

/// A run's training settings (those of the classifier's augmentation, smoothing and dropout go
/// unused by a detector).
pub fn settings(c: &crate::spec::RunConfig) -> Settings {
    Settings {
        epochs: c.train.epochs,
        batch_size: c.train.batch_size,
        optimizer: c.train.optimizer,
        lr: c.train.lr,
        backbone_lr_mult: c.transfer.backbone_lr_mult,
        weight_decay: c.train.weight_decay,
        patience: c.train.patience,
        monitor: c.train.monitor,
        seed: c.experiment.seed,
        schedule: c.train.schedule,
        warmup_epochs: c.train.warmup_epochs,
        step_size: c.train.step_size,
        gamma: c.train.gamma,
        milestones: c.train.milestones.clone(),
        per_step: c.train.schedule_per == crate::spec::schema::SchedulePer::Step,
        label_smoothing: c.train.label_smoothing,
        grad_clip: c.train.grad_clip,
        augment: c
            .augment
            .sets
            .get(&c.train.augment)
            .map(|ops| ops.0.clone())
            .unwrap_or_default(),
        head_dropout: c.model.dropout,
        layer_decay: c.transfer.layer_decay,
        freeze_depth: c.transfer.freeze_depth,
        bn_train: c.transfer.bn == BnPolicy::Train,
        unfreeze_every: c.transfer.unfreeze_every,
        unfreeze_warmup: c.transfer.unfreeze_warmup,
        from_part: 0,
    }
}

fn train_and_test(
    run: &Run,
    source: Option<&SourceInfo>,
    cache: &Path,
    device: &Device,
    on_epoch: &mut dyn FnMut(&EpochLog) -> train::Control,
) -> anyhow::Result<(Metrics, usize, usize, model::weights::SavedModel)> {
    let mut r = ready(run, source, cache, device)?;
    // A frozen, deterministic prefix runs once per image (shared with other runs), not per epoch.
    let cached = match train::features::depth(&r.net, &r.settings) {
        Some(depth) if train::features::enabled() => {
            train::features::obtain(&r.net, depth, &r.data, &data_id(run), cache, device)?
        }
        _ => None,
    };
    let data = match &cached {
        Some(f) => {
            r.settings.from_part = f.depth;
            f.data.clone()
        }
        None => r.data.clone(),
    };
    let fitted = train::fit_controlled(
        r.net,
        &data,
        &r.train,
        &r.val,
        &r.settings,
        device,
        on_epoch,
        None,
    )?;
    let test = train::evaluate_from(
        &fitted.best,
        &data,
        &data.test,
        r.settings.from_part,
        device,
    );
    Ok((
        train::metrics(&test.truth, &test.predicted, r.data.classes),
        fitted.best_epoch,
        r.train.len(),
        model::weights::SavedModel::of(
            &fitted.best,
            (run.config.experiment.save == Save::All).then_some(&fitted.last),
        )?,
    ))
}

/// The identity of a run's prepared target data: dataset, file fingerprint, preparation.
pub fn data_id(run: &Run) -> String {
    let t = &run.config.target;
    format!(
        "{}|{}|{:?}|{:?}|{}|{:?}|{:?}{}",
        t.dataset,
        run.inputs.get("target").map_or("", String::as_str),
        t.classes,
        t.crop,
        run.config.model.input_size,
        t.limit,
        t.test_limit,
        // Named weights bring their own normalisation (absent otherwise: ids stay as they were).
        model::normalisation(&run.config.model).map_or(String::new(), |n| format!("|{}", n.name))
    )
}

/// The frozen-feature cache entry a run will share with others, known before training: its
/// pretrained weights (source stage or file), freeze depth and data; `None` when the run cannot
/// use the cache (scratch, nothing frozen, augmentation, training batch-norm statistics, gradual
/// unfreezing, or a family that cannot split).
pub fn feature_group(run: &Run) -> Option<String> {
    let c = &run.config;
    let t = &c.transfer;
    // The cache holds a classifier's frozen features of the target's images.
    if c.experiment.task != Task::Classify {
        return None;
    }
    let augmented = c
        .augment
        .sets
        .get(&c.train.augment)
        .is_some_and(|ops| !ops.0.is_empty());
    if t.strategy == Strategy::Scratch
        || t.freeze_depth == 0
        || augmented
        || t.bn == BnPolicy::Train
        || t.unfreeze_every > 0
        || !model::can_split(&c.model.backbone)
    {
        return None;
    }
    let weights = match &c.source {
        Some(s) => source::key(s, &c.model),
        None => run
            .inputs
            .get("weights")
            .cloned()
            .or_else(|| c.model.weights.clone())?,
    };
    Some(format!("{weights}|{}|{}", t.freeze_depth, data_id(run)))
}
