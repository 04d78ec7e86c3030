//! What one training job needs besides the model and data, and a run's settings from its
//! config.

use super::schedule;
use crate::data::augment::Op;
use crate::schema::{Monitor, Optimizer};

/// What one training job needs besides the model and data.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Maximum epochs.
    pub epochs: usize,
    /// Mini-batch size.
    pub batch_size: usize,
    /// Optimizer.
    pub optimizer: Optimizer,
    /// Learning rate of the head.
    pub lr: f64,
    /// Backbone learning rate = `lr * backbone_lr_mult`.
    pub backbone_lr_mult: f64,
    /// Weight decay.
    pub weight_decay: f64,
    /// Epochs without improvement before stopping; 0 never stops early.
    pub patience: usize,
    /// Metric choosing the best epoch.
    pub monitor: Monitor,
    /// Seed of the batch order.
    pub seed: u64,
    /// Learning-rate schedule (its `base` is `lr`; epochs and steps are filled in by [`fit`]).
    pub schedule: schedule::Schedule,
    /// Warm-up epochs.
    pub warmup_epochs: usize,
    /// `step` schedule: epochs between decays.
    pub step_size: usize,
    /// `step` schedule: decay factor.
    pub gamma: f64,
    /// `multi-step` schedule: decay epochs.
    pub milestones: Vec<usize>,
    /// Change the rate every step rather than every epoch.
    pub per_step: bool,
    /// Label smoothing of the training loss.
    pub label_smoothing: f64,
    /// Per-tensor gradient norm clip (0 = none).
    pub grad_clip: f64,
    /// Augmentation ops applied to training batches.
    pub augment: Vec<Op>,
    /// Dropout before the classification layer (ResNet, DenseNet).
    pub head_dropout: f64,
    /// Layer-wise rate decay: part k of n learns at `lr * backbone_lr_mult * layer_decay^(n - k)`.
    pub layer_decay: f64,
    /// Parts frozen at the end (and throughout, without gradual unfreezing).
    pub freeze_depth: usize,
    /// Frozen parts' batch norms keep training their statistics.
    pub bn_train: bool,
    /// Gradual unfreezing: one more part every this many epochs (0 = off).
    pub unfreeze_every: usize,
    /// The data holds the outputs of the first this many parts, not images (the frozen-feature
    /// cache); 0 = images.
    pub from_part: usize,
    /// A newly unfrozen part's rate rises from 0 over its first epoch.
    pub unfreeze_warmup: bool,
}

impl Settings {
    /// Plain settings: constant rate, no smoothing, no clipping.
    pub fn new(
        epochs: usize,
        batch_size: usize,
        optimizer: Optimizer,
        lr: f64,
        seed: u64,
    ) -> Settings {
        Settings {
            epochs,
            batch_size,
            optimizer,
            lr,
            backbone_lr_mult: 1.0,
            weight_decay: 0.0,
            patience: 0,
            monitor: Monitor::ValAccuracy,
            seed,
            schedule: schedule::Schedule::Constant,
            warmup_epochs: 0,
            step_size: 10,
            gamma: 0.1,
            milestones: Vec::new(),
            per_step: false,
            label_smoothing: 0.0,
            grad_clip: 0.0,
            augment: Vec::new(),
            head_dropout: 0.0,
            layer_decay: 1.0,
            freeze_depth: 0,
            bn_train: false,
            unfreeze_every: 0,
            unfreeze_warmup: true,
            from_part: 0,
        }
    }

    /// The learning-rate plan of an epoch of `images` training images.
    pub fn lr_plan(&self, images: usize) -> schedule::LrPlan {
        schedule::LrPlan {
            schedule: self.schedule,
            base: self.lr,
            warmup_epochs: self.warmup_epochs,
            step_size: self.step_size,
            gamma: self.gamma,
            milestones: self.milestones.clone(),
            per_step: self.per_step,
            epochs: self.epochs,
            steps_per_epoch: images.div_ceil(self.batch_size),
        }
    }

    /// Learning rate of each backbone part in step `b` of `steps` of `epoch` (1-based), the
    /// head's being `lr`: the backbone multiplier, layer decay, and the warm-up of a part
    /// thawed in this epoch (`thawed_in`: the epoch each part last became trainable).
    pub fn part_rates(
        &self,
        lr: f64,
        thawed_in: &[usize],
        epoch: usize,
        (b, steps): (usize, usize),
    ) -> Vec<f64> {
        let parts = thawed_in.len();
        (0..parts)
            .map(|k| {
                let warm = if self.unfreeze_warmup
                    && self.unfreeze_every > 0
                    && thawed_in[k] == epoch
                    && epoch > 1
                {
                    (b + 1) as f64 / steps as f64
                } else {
                    1.0
                };
                lr * self.backbone_lr_mult * self.layer_decay.powi((parts - k) as i32) * warm
            })
            .collect()
    }

    /// Parts frozen during `epoch` (1-based) of a backbone of `parts` parts: `freeze_depth`, or
    /// with gradual unfreezing all of them at first and one fewer every `unfreeze_every` epochs.
    pub fn frozen_parts(&self, parts: usize, epoch: usize) -> usize {
        if self.unfreeze_every == 0 {
            return self.freeze_depth;
        }
        let thawed = (epoch - 1) / self.unfreeze_every;
        parts.saturating_sub(thawed).max(self.freeze_depth)
    }
}

/// A run's training settings (those of the classifier's augmentation, smoothing and dropout go
/// unused by a detector).
pub fn settings(c: &crate::schema::RunConfig) -> Settings {
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
        per_step: c.train.schedule_per == crate::schema::SchedulePer::Step,
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
        bn_train: c.transfer.bn == crate::schema::BnPolicy::Train,
        unfreeze_every: c.transfer.unfreeze_every,
        unfreeze_warmup: c.transfer.unfreeze_warmup,
        from_part: 0,
    }
}
