//! The tasks: classification, detection and segmentation, each an implementation of [`Task`]
//! (what it records, how it checks its data, how it trains and tests one run). The orchestrator
//! ([`crate::sweep`]) asks [`registry::of`] for a run's task and names none of them.
//!
//! To add a task: a folder beside `classify/` with a [`Task`] implementation and its file rules
//! ([`crate::spec::Rules`]: its checks and its run's canonical form), its variant in
//! [`crate::spec::schema::Task`] (and its `[section]` in the schema), and one arm in
//! [`registry::of`].

pub mod backbone;
pub mod classify;
pub mod detect;
pub mod preflight;
pub mod registry;
pub mod segment;
pub mod source;

use std::collections::BTreeMap;
use std::path::Path;

use burn::tensor::Device;

use crate::model::weights::SavedModel;
use crate::spec::{Monitor, Plan, Run};
pub use crate::train::Metric;
use crate::train::{Control, EpochLog};
use source::SourceInfo;

pub use registry::{of, rules};

/// A run's label budget as `runs.csv` and the summary name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// The `runs.csv` column (`labels_per_class`).
    pub column: &'static str,
    /// The config path it comes from (`target.labels_per_class`).
    pub path: &'static str,
    /// The summary's column heading (`labels/class`).
    pub label: &'static str,
}

impl Budget {
    /// The dense tasks' budget: labelled images (scenes), whatever their objects or pixels.
    pub const LABELLED_IMAGES: Budget = Budget {
        column: "labelled_images",
        path: "target.labelled_images",
        label: "labelled images",
    };
}

/// What a run that ended well produced, whatever its task.
pub struct Tested {
    /// Test scores in [`Task::test_columns`] order (the headline first).
    pub scores: Vec<(&'static str, f64)>,
    /// The task's full test record (a classifier's confusion matrix, a detector's COCO
    /// metrics, a segmenter's per-class IoU and Dice), kept in `outcome.json`.
    pub details: serde_json::Value,
    /// Extra files for the run's folder (`confusion.csv`, `detections.json`, `masks.json`, ...).
    pub files: Vec<(&'static str, Vec<u8>)>,
    /// Epoch whose weights were tested.
    pub best_epoch: usize,
    /// Labelled training images used.
    pub train_images: usize,
    /// The tested (and maybe the last) weights, serialized.
    pub weights: SavedModel,
    /// A dense task's input normalisation (per-channel mean and std of its training images);
    /// a classifier's is its dataset's.
    pub normalisation: Option<(Vec<f32>, Vec<f32>)>,
}

/// What an exported model takes and gives, for `sweep export`'s description.
pub struct Inputs {
    /// Input channels, when known.
    pub channels: Option<usize>,
    /// Output classes, when known.
    pub classes: Option<usize>,
    /// Per-channel mean and standard deviation of the input normalisation.
    pub normalisation: Option<(Vec<f32>, Vec<f32>)>,
    /// Where the normalisation comes from (`dataset`, `training images`, a weights' name).
    pub normalisation_name: &'static str,
}

/// An old `outcome.json`'s task record turned into the generic one.
pub struct Legacy {
    /// Test scores by name.
    pub scores: Vec<(&'static str, f64)>,
    /// The full test record, as [`Tested::details`].
    pub details: serde_json::Value,
}

/// Called after each epoch with its log; `Break` stops training (the run is then pruned).
pub type OnEpoch<'a> = dyn FnMut(&EpochLog) -> Control + 'a;

/// What differs between tasks; the orchestrator calls only this. Its file rules (checks and
/// canonical form of a run, [`crate::spec::Rules`]) come with it.
pub trait Task: crate::spec::Rules + Sync {
    /// The task's name in an experiment file (`classify`).
    fn name(&self) -> &'static str;

    /// `runs.csv`'s test-score columns, the headline first.
    fn test_columns(&self) -> &'static [&'static str];

    /// The epoch scores `epochs.csv` writes between `train_loss` and `lr`.
    fn epoch_columns(&self) -> &'static [&'static str];

    /// The label budget's column, config path and summary heading.
    fn budget(&self) -> Budget;

    /// The headline's heading in the summary table (`test acc`).
    fn headline_label(&self) -> &'static str;

    /// The epoch score the progress line shows, and its label there (`val acc`).
    fn progress(&self) -> (&'static str, &'static str);

    /// The score a `monitor` or `search.metric` names for this task (`val_accuracy` is a
    /// detector's AP50 and a segmenter's mIoU).
    fn metric(&self, monitor: Monitor) -> Metric;

    /// The test scores in a run's finished line (`test acc 0.9120`).
    fn finished(&self, scores: &BTreeMap<String, f64>) -> String;

    /// Loads run `run`'s target data and checks it against the run (budget, validation split),
    /// with `seen` the datasets already checked, so that a bad file fails before anything is
    /// written; gives the (channels, classes) its network is fed.
    fn preflight(
        &self,
        plan: &Plan,
        run: usize,
        seen: &mut std::collections::HashSet<String>,
    ) -> Result<(usize, usize), crate::spec::SpecError>;

    /// Trains and tests one run (its source stage, if any, done).
    fn train_and_test(
        &self,
        run: &Run,
        source: Option<&SourceInfo>,
        cache: &Path,
        device: &Device,
        on_epoch: &mut OnEpoch<'_>,
    ) -> anyhow::Result<Tested>;

    /// The frozen-feature cache entry the run shares with others, when it can use one.
    fn feature_group(&self, _run: &Run) -> Option<String> {
        None
    }

    /// What an exported model of the run takes: channels, classes and normalisation.
    fn inputs(
        &self,
        run: &Run,
        normalisation: Option<&(Vec<f32>, Vec<f32>)>,
        details: Option<&serde_json::Value>,
    ) -> anyhow::Result<Inputs>;

    /// Whether `sweep predict` can use the run's model (it classifies images).
    fn predicts_images(&self) -> bool {
        false
    }

    /// The task's record in an `outcome.json` written before the generic record (its field
    /// name there and how to read it), turning its epochs' scores into this task's names.
    fn legacy(&self, old: &serde_json::Map<String, serde_json::Value>) -> Option<Legacy>;

    /// Renames an old epoch log's scores to this task's (a dense task's `val_accuracy` held
    /// its AP50 or mIoU).
    fn legacy_epoch(&self, _scores: &mut BTreeMap<String, f64>) {}
}

/// The scores of `scores` named by `columns`, in that order, as `runs.csv` and the reports want
/// them; `None` for a missing one.
pub fn ordered(scores: &BTreeMap<String, f64>, columns: &[&str]) -> Vec<Option<f64>> {
    columns.iter().map(|c| scores.get(*c).copied()).collect()
}
