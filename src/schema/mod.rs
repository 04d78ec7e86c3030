//! The settings of one run: what every grid point of an experiment file deserializes into.
//!
//! In the experiment file any of these scalar settings may be written as a list; the list is a
//! grid axis (see `expand`). Field names here are the TOML keys.

pub mod augment;
pub mod dense;
pub mod depth;
pub mod head;

use serde::{Deserialize, Serialize};

/// One fully expanded run: every axis replaced by one of its values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    /// `[experiment]`: name, description and the run's seed.
    pub experiment: Experiment,
    /// `[source]`: the optional pretraining stage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<Source>,
    /// `[target]`: the dataset the runs are judged on.
    pub target: Target,
    /// `[model]`: backbone and input handling.
    pub model: ModelSpec,
    /// `[train]`: optimisation of the target runs.
    #[serde(default)]
    pub train: Train,
    /// `[transfer]`: how the source backbone is used.
    #[serde(default)]
    pub transfer: Transfer,
    /// `[augment]`: named augmentation sets (a run keeps only the one it uses).
    #[serde(default, skip_serializing_if = "Augment::is_empty")]
    pub augment: Augment,
    /// `[detect]`: the detector and its data (`task = "detect"` only).
    #[serde(default, skip_serializing_if = "Detect::is_default")]
    pub detect: Detect,
    /// `[segment]`: the segmenter and its data (`task = "segment"` only).
    #[serde(default, skip_serializing_if = "Segment::is_default")]
    pub segment: Segment,
}

/// `[experiment] task`: what the runs learn, which picks the head, loss, metrics, data format
/// and report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Task {
    /// Image classification (accuracy).
    #[default]
    Classify,
    /// Object detection (COCO AP): a CenterNet head on the backbone.
    Detect,
    /// Semantic segmentation (mIoU): an FCN or feature-pyramid head on the backbone.
    Segment,
}

impl Task {
    /// True for the default task (not written in a run's config, so ids stay as they were).
    pub fn is_classify(&self) -> bool {
        *self == Task::Classify
    }
}

pub use augment::{Augment, Op, OpList};

/// `[experiment]` table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Experiment {
    /// Name of the experiment; also the default results folder.
    pub name: String,
    /// Free text shown in reports.
    #[serde(default)]
    pub description: String,
    /// The run's seed (the file lists several: `seeds = [0, 1, 2]`).
    #[serde(rename = "seeds", default)]
    pub seed: u64,
    /// `classify` (default), `detect` or `segment`.
    #[serde(default, skip_serializing_if = "Task::is_classify")]
    pub task: Task,
    /// Where the runs train (`cpu`, `cuda`, `cuda:N`, `vulkan`, `vulkan:N`); `--device` wins.
    /// Not part of a run's identity: [`normalize`](crate::spec::normalize) clears it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    /// Which weights each run keeps in `runs/<id>/`; not part of a run's identity.
    #[serde(default, skip_serializing_if = "Save::is_best")]
    pub save: Save,
    /// Write TensorBoard event files per run (`runs/<id>/tb/`); not part of a run's identity.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub tensorboard: bool,
}

/// `[experiment] save`: the weights a run writes beside its results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Save {
    /// The tested (best-epoch) weights: `model.safetensors`.
    #[default]
    Best,
    /// Those and the last epoch's: `model-last.safetensors`.
    All,
    /// No weights (their hash is still in the manifest).
    None,
}

impl Save {
    fn is_best(&self) -> bool {
        *self == Save::Best
    }
}

/// `[source]` table: the pretraining stage whose backbone the transfer runs start from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Source {
    /// Registered dataset name (see `sweep datasets`).
    pub dataset: String,
    /// Use at most this many training images (all when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
    /// Validate and test on about this many images each, fixed stratified subsets (all when
    /// absent): evaluation, not training, dominates a short source stage of a large network.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eval_limit: Option<usize>,
    /// Keep only these classes, relabelled 0, 1, ... in this order (all when absent).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub classes: Vec<u8>,
    /// Center-crop the images to this many pixels before resizing (none when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crop: Option<usize>,
    /// Passes over the training images.
    #[serde(default = "default_source_epochs")]
    pub epochs: usize,
    /// Optimizer name.
    #[serde(default)]
    pub optimizer: Optimizer,
    /// Learning rate.
    #[serde(default = "default_lr")]
    pub lr: f64,
    /// Weight decay (L2 for sgd/momentum/nesterov/rmsprop/adam, decoupled for adamw).
    #[serde(default)]
    pub weight_decay: f64,
    /// Mini-batch size.
    #[serde(default = "default_source_batch")]
    pub batch_size: usize,
    /// Seed of the source stage (its own; not the runs' seeds, so every run shares one backbone).
    #[serde(default)]
    pub seed: u64,
}

/// `[target]` table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    /// Registered dataset name.
    pub dataset: String,
    /// Labelled training images per class (the few-label budget); 0 stands for `"all"`.
    #[serde(default, with = "budget")]
    pub labels_per_class: usize,
    /// Keep only these classes, relabelled 0, 1, ... in this order (all when absent).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub classes: Vec<u8>,
    /// Detection and segmentation: labelled training images (the label budget); 0 = all.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub labelled_images: usize,
    /// Fraction of the non-test images held out for validation (early stopping, model choice).
    #[serde(default = "default_val_fraction")]
    pub val_fraction: f64,
    /// Center-crop the images to this many pixels before resizing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crop: Option<usize>,
    /// Keep about this many of the non-test images, a fixed stratified subset (all when absent):
    /// a large dataset made small enough for a quick experiment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
    /// Test on about this many of the test images, a fixed stratified subset (all when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_limit: Option<usize>,
}

/// `[model]` table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    /// Registered backbone name (see `sweep models`).
    pub backbone: String,
    /// Channels of the stem; stage k has `width * 2^k`.
    #[serde(default = "default_width")]
    pub width: usize,
    /// Residual stages after the stem (1 to 4).
    #[serde(default = "default_stages")]
    pub stages: usize,
    /// Basic blocks per stage.
    #[serde(default = "default_blocks")]
    pub blocks: usize,
    /// Side of the square input every image is resized to.
    #[serde(default = "default_input_size")]
    pub input_size: usize,
    /// Pretrained weights (`.safetensors`, `.pt`, `.pth`) with torchvision's key names: the start
    /// of the source stage, or of the transfer runs when there is no source stage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weights: Option<String>,
    /// SHA-256 of the weights file; required when `weights` is a URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// Train even when the weights file lacks keys or has wrongly shaped ones.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_partial: bool,
    /// Dropout probability before the classification layer (ResNet and DenseNet; the other
    /// families have torchvision's own dropout in their classifier).
    #[serde(default)]
    pub dropout: f64,
    /// Classifier head replacing torchvision's: `"linear"` or an MLP table (torchvision's own
    /// when absent).
    #[serde(
        default,
        deserialize_with = "head::deserialize_head",
        skip_serializing_if = "Option::is_none"
    )]
    pub head: Option<Head>,
    /// Pooling before the head: `avg` (global average) or `flatten` (avg when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool: Option<Pool>,
}

pub use head::{Activation, Head, Pool};

impl ModelSpec {
    /// The head that replaces torchvision's, with its pool; `None` keeps torchvision's own.
    pub fn custom_head(&self) -> Option<(Head, Pool)> {
        match (&self.head, self.pool) {
            (None, None) => None,
            (head, pool) => Some((
                head.clone().unwrap_or(Head::Linear),
                pool.unwrap_or_default(),
            )),
        }
    }
}

impl Default for ModelSpec {
    fn default() -> ModelSpec {
        ModelSpec {
            backbone: "resnet-mini".into(),
            width: default_width(),
            stages: default_stages(),
            blocks: default_blocks(),
            input_size: default_input_size(),
            weights: None,
            sha256: None,
            allow_partial: false,
            dropout: 0.0,
            head: None,
            pool: None,
        }
    }
}

/// `[train]` table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Train {
    /// Maximum passes over the labelled images.
    #[serde(default = "default_epochs")]
    pub epochs: usize,
    /// Mini-batch size.
    #[serde(default = "default_batch")]
    pub batch_size: usize,
    /// Optimizer name.
    #[serde(default)]
    pub optimizer: Optimizer,
    /// Learning rate of the head (and of the backbone, times `backbone_lr_mult`).
    #[serde(default = "default_lr")]
    pub lr: f64,
    /// Weight decay (L2 for sgd/momentum/nesterov/rmsprop/adam, decoupled for adamw).
    #[serde(default)]
    pub weight_decay: f64,
    /// Stop after this many epochs without improvement of `monitor`; 0 disables early stopping.
    #[serde(default = "default_patience")]
    pub patience: usize,
    /// Validation metric that picks the best epoch and drives early stopping.
    #[serde(default)]
    pub monitor: Monitor,
    /// Learning-rate schedule: `constant`, `step`, `cosine` or `one-cycle`.
    #[serde(default)]
    pub schedule: Schedule,
    /// Epochs of linear warm-up before the schedule.
    #[serde(default)]
    pub warmup_epochs: usize,
    /// `step` schedule: epochs between decays.
    #[serde(default = "default_step_size")]
    pub step_size: usize,
    /// `step` and `multi-step` schedules: decay factor.
    #[serde(default = "default_gamma")]
    pub gamma: f64,
    /// `multi-step` schedule: epochs at which the rate is multiplied by `gamma`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub milestones: Vec<usize>,
    /// Update the rate every `epoch` or every optimizer `step`.
    #[serde(default)]
    pub schedule_per: SchedulePer,
    /// Label smoothing of the training loss (0 = none).
    #[serde(default)]
    pub label_smoothing: f64,
    /// Clip each parameter tensor's gradient to this L2 norm (0 = no clipping).
    #[serde(default)]
    pub grad_clip: f64,
    /// Augmentation set from `[augment.sets]`, or `none`.
    #[serde(default = "none")]
    pub augment: String,
}

/// How often the learning rate changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum SchedulePer {
    /// Once per epoch.
    #[default]
    Epoch,
    /// At every optimizer step.
    Step,
}

/// `[transfer]` table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Transfer {
    /// How the source backbone is used.
    #[serde(default)]
    pub strategy: Strategy,
    /// Leading backbone parts (stem, layer1, ... or block1, ...) kept frozen; finetune only.
    /// `"copied"` freezes exactly the parts `transfer_depth` copies (resolved by `normalize`).
    #[serde(default, with = "depth::freeze")]
    pub freeze_depth: usize,
    /// Leading backbone parts copied from the source stage or weights file; the rest start
    /// fresh from the run's seed, as the head does (Yosinski et al. 2014). Absent: all parts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transfer_depth: Option<usize>,
    /// Backbone learning rate = `lr * backbone_lr_mult` (discriminative learning rate).
    #[serde(default = "one")]
    pub backbone_lr_mult: f64,
    /// Batch norm in frozen parts: `frozen` (eval mode, statistics fixed) or `train`.
    #[serde(default)]
    pub bn: BnPolicy,
    /// Layer-wise rate decay (timm's `layer_decay`): part k of n learns at
    /// `lr * backbone_lr_mult * layer_decay^(n - k)`; 1 = off.
    #[serde(default = "one")]
    pub layer_decay: f64,
    /// Gradual unfreezing: start with the whole backbone frozen and unfreeze one more part,
    /// from the top, every this many epochs until `freeze_depth` parts remain; 0 = off.
    #[serde(default)]
    pub unfreeze_every: usize,
    /// A newly unfrozen part's rate rises linearly from 0 over its first epoch.
    #[serde(default = "yes")]
    pub unfreeze_warmup: bool,
}

/// What frozen parts' batch norms do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum BnPolicy {
    /// Eval mode: running statistics stay as pretrained.
    #[default]
    Frozen,
    /// Training mode: running statistics follow the target data (weights stay frozen).
    Train,
}

/// Transfer strategy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    /// Random initialisation, no source stage.
    #[default]
    Scratch,
    /// Source backbone frozen whole; only a new head is trained.
    LinearProbe,
    /// Source backbone trained with the head, `freeze_depth` leading parts frozen.
    Finetune,
}

/// Optimizer choice; hyper-parameters follow PyTorch's defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Optimizer {
    /// Plain SGD.
    Sgd,
    /// SGD with momentum 0.9.
    Momentum,
    /// SGD with Nesterov momentum 0.9.
    Nesterov,
    /// RMSprop (alpha 0.99, eps 1e-8, no momentum).
    Rmsprop,
    /// Adam (0.9, 0.999, eps 1e-8).
    #[default]
    Adam,
    /// AdamW (0.9, 0.999, eps 1e-8), decoupled weight decay.
    Adamw,
}

/// Validation metric to monitor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Monitor {
    /// Higher is better; a detector's default, where it means validation AP50.
    #[default]
    ValAccuracy,
    /// Lower is better (classification).
    ValLoss,
    /// A detector's validation AP at IoU 0.5.
    ValAp50,
    /// A detector's validation AP@[.5:.95].
    ValAp,
    /// A segmenter's validation mIoU (its default: `val_accuracy` means it there).
    ValMiou,
}

impl Monitor {
    /// The metric's name as written in the file.
    pub fn name(self) -> &'static str {
        match self {
            Monitor::ValAccuracy => "val_accuracy",
            Monitor::ValLoss => "val_loss",
            Monitor::ValAp50 => "val_ap50",
            Monitor::ValAp => "val_ap",
            Monitor::ValMiou => "val_miou",
        }
    }
}

impl Strategy {
    /// The TOML spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::Scratch => "scratch",
            Strategy::LinearProbe => "linear-probe",
            Strategy::Finetune => "finetune",
        }
    }
}

impl Default for Train {
    fn default() -> Self {
        Train {
            epochs: default_epochs(),
            batch_size: default_batch(),
            optimizer: Optimizer::default(),
            lr: default_lr(),
            weight_decay: 0.0,
            patience: default_patience(),
            monitor: Monitor::default(),
            schedule: Default::default(),
            warmup_epochs: 0,
            step_size: default_step_size(),
            gamma: default_gamma(),
            milestones: Vec::new(),
            schedule_per: SchedulePer::default(),
            label_smoothing: 0.0,
            grad_clip: 0.0,
            augment: none(),
        }
    }
}

impl Default for Transfer {
    fn default() -> Self {
        Transfer {
            strategy: Strategy::default(),
            freeze_depth: 0,
            transfer_depth: None,
            backbone_lr_mult: 1.0,
            bn: BnPolicy::default(),
            layer_decay: 1.0,
            unfreeze_every: 0,
            unfreeze_warmup: true,
        }
    }
}

fn default_source_epochs() -> usize {
    2
}
fn default_lr() -> f64 {
    1e-3
}
fn default_source_batch() -> usize {
    64
}
fn default_val_fraction() -> f64 {
    0.2
}
fn is_zero(n: &usize) -> bool {
    *n == 0
}
fn default_width() -> usize {
    16
}
fn default_stages() -> usize {
    3
}
fn default_blocks() -> usize {
    1
}
fn default_input_size() -> usize {
    16
}
fn default_epochs() -> usize {
    30
}
fn default_batch() -> usize {
    32
}
fn default_patience() -> usize {
    10
}
fn default_step_size() -> usize {
    10
}
fn default_gamma() -> f64 {
    0.1
}
fn one() -> f64 {
    1.0
}
fn yes() -> bool {
    true
}
fn none() -> String {
    "none".into()
}

/// `labels_per_class`: a count, or `"all"` (held as 0) for every image of every class.
mod budget {
    use serde::Serializer;
    use serde::de::{self, Deserializer, Visitor};

    pub fn serialize<S: Serializer>(n: &usize, s: S) -> Result<S::Ok, S::Error> {
        match n {
            0 => s.serialize_str("all"),
            n => s.serialize_u64(*n as u64),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = usize;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a number of images per class (at least 1), or \"all\"")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<usize, E> {
                match u64::try_from(v) {
                    Ok(v) => self.visit_u64(v),
                    Err(_) => Err(E::invalid_value(de::Unexpected::Signed(v), &self)),
                }
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<usize, E> {
                // 0 once meant "all"; a budget of nothing is a mistake, so it must be said.
                match usize::try_from(v) {
                    Ok(n) if n > 0 => Ok(n),
                    _ => Err(E::invalid_value(de::Unexpected::Unsigned(v), &self)),
                }
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<usize, E> {
                match v {
                    "all" => Ok(0),
                    _ => Err(E::invalid_value(de::Unexpected::Str(v), &self)),
                }
            }
        }
        d.deserialize_any(V)
    }
}

pub use dense::{DetAugment, Detect, Loss, Neck, SegAugment, SegHead, Segment};

/// Shape of the schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Schedule {
    /// The base rate throughout.
    #[default]
    Constant,
    /// Multiplied by `gamma` every `step_size` epochs (StepLR).
    Step,
    /// Multiplied by `gamma` at each milestone epoch (MultiStepLR).
    MultiStep,
    /// Cosine from the base rate to 0 (CosineAnnealingLR, no restarts).
    Cosine,
    /// OneCycleLR's defaults: from base/25 up to base over 30% of the run, then down to base/25e4.
    OneCycle,
}
