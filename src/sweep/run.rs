//! One target run, whatever its task: train and test it (through [`crate::task`]), catch what
//! goes wrong, and record the outcome with how it was made.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use burn::tensor::Device;

use super::source::SourceInfo;
use crate::model;
use crate::spec::Run;
use crate::spec::schema::Save;
use crate::train::{self, EpochLog};

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
#[serde(from = "Stored")]
pub struct Outcome {
    /// How it ended.
    pub status: Status,
    /// Test scores of the best-validation epoch by name (`test_accuracy`, `test_ap50`,
    /// `test_miou`, ...), when it ended well.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub scores: BTreeMap<String, f64>,
    /// The key of the task's headline score among `scores`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headline: Option<String>,
    /// The task's full test record: a classifier's metrics and confusion matrix, a detector's
    /// COCO metrics, a segmenter's per-class IoU and Dice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<serde_json::Value>,
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
    /// A detection or segmentation run's input normalisation (per-channel mean and std of its
    /// training images), for `sweep export`; a classifier's is its dataset's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_normalisation: Option<(Vec<f32>, Vec<f32>)>,
    /// The task's files for the run's folder (`confusion.csv`, `detections.json`, ...),
    /// dropped once written.
    #[serde(skip)]
    pub files: Vec<(&'static str, Vec<u8>)>,
    /// The weights to write into the run's folder (`[experiment] save`), dropped once written.
    #[serde(skip)]
    pub model: Option<std::sync::Arc<model::weights::SavedModel>>,
}

impl Outcome {
    /// The task's headline test score: accuracy, a detector's AP50 or a segmenter's mIoU.
    pub fn headline(&self) -> Option<f64> {
        self.scores.get(self.headline.as_deref()?).copied()
    }
}

/// `outcome.json` as read: today's generic record, or the shape written before it (one field
/// per task: `test`, `detection`, `segmentation`; a dense task's validation score under
/// `val_accuracy`), turned into today's by the task that wrote it.
#[derive(serde::Deserialize)]
struct Stored {
    status: Status,
    #[serde(default)]
    scores: BTreeMap<String, f64>,
    #[serde(default)]
    headline: Option<String>,
    #[serde(default)]
    details: Option<serde_json::Value>,
    best_epoch: usize,
    epochs: Vec<EpochLog>,
    train_images: usize,
    seconds: f64,
    #[serde(default)]
    manifest: Option<Manifest>,
    #[serde(default)]
    input_normalisation: Option<(Vec<f32>, Vec<f32>)>,
    /// The old shape's task records (`test`, `detection`, `segmentation`).
    #[serde(flatten)]
    old: serde_json::Map<String, serde_json::Value>,
}

impl From<Stored> for Outcome {
    fn from(s: Stored) -> Outcome {
        let mut o = Outcome {
            status: s.status,
            scores: s.scores,
            headline: s.headline,
            details: s.details,
            best_epoch: s.best_epoch,
            epochs: s.epochs,
            train_images: s.train_images,
            seconds: s.seconds,
            manifest: s.manifest,
            input_normalisation: s.input_normalisation,
            files: Vec::new(),
            model: None,
        };
        let legacy = || {
            crate::task::registry::all()
                .into_iter()
                .find_map(|t| t.legacy(&s.old).map(|l| (t, l)))
        };
        if o.details.is_none()
            && let Some((task, old)) = legacy()
        {
            o.headline = old.scores.first().map(|(k, _)| k.to_string());
            o.scores = old.scores.into_iter().map(|(k, v)| (k.into(), v)).collect();
            o.details = Some(old.details);
            for e in &mut o.epochs {
                task.legacy_epoch(&mut e.scores);
            }
        }
        o
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
        crate::task::of(run.config.experiment.task).train_and_test(
            run,
            source,
            cache,
            device,
            &mut record,
        )
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
                headline: t.scores.first().map(|(k, _)| k.to_string()),
                scores: t.scores.iter().map(|&(k, v)| (k.to_string(), v)).collect(),
                details: Some(t.details),
                best_epoch: t.best_epoch,
                epochs,
                train_images: t.train_images,
                seconds,
                files: t.files,
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
                scores: BTreeMap::new(),
                headline: None,
                details: None,
                best_epoch: 0,
                epochs,
                train_images: 0,
                seconds,
                manifest: None,
                input_normalisation: None,
                files: Vec::new(),
                model: None,
            }
        }
    }
}
