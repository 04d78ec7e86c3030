//! Training: the loop, optimizers, early stopping and evaluation.

pub mod checkpoint;
pub mod dense;
pub mod features;
pub mod lr_find;
pub mod metrics;
pub mod optim;
pub mod schedule;
pub mod settings;

use anyhow::bail;
use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::GradientsParams;
use burn::tensor::{Device, Int, Tensor, TensorData};
use rand::seq::SliceRandom;

use crate::data::Prepared;
use crate::data::augment;
use crate::model::Network;
use crate::schema::Monitor;
use crate::seed;

pub use metrics::{Metrics, metrics};
pub use settings::{Settings, settings};

/// One line of the learning curve.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EpochLog {
    /// 1-based epoch.
    pub epoch: usize,
    /// Mean training loss over the epoch's batches (training mode).
    pub train_loss: f64,
    /// The task's named scores of the epoch: a classifier's `train_accuracy`, `val_loss` and
    /// `val_accuracy`, a detector's `val_ap50` and `val_ap`, a segmenter's `val_miou`.
    #[serde(flatten)]
    pub scores: std::collections::BTreeMap<String, f64>,
    /// Head learning rate used.
    pub lr: f64,
    /// Backbone parts frozen during the epoch.
    pub frozen_parts: usize,
}

/// The result of [`fit`].
pub struct Fitted {
    /// The model of the best validation epoch, in inference mode.
    pub best: Network,
    /// 1-based epoch of `best`.
    pub best_epoch: usize,
    /// The model after the last epoch run, in inference mode.
    pub last: Network,
    /// Learning curve, one entry per epoch run.
    pub epochs: Vec<EpochLog>,
}

/// Training stopped because the loss stopped being a finite number.
#[derive(Debug, Clone, PartialEq)]
pub struct Diverged {
    /// Epoch in which it happened.
    pub epoch: usize,
}

impl std::fmt::Display for Diverged {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the training loss became NaN or infinite in epoch {}; try a smaller lr",
            self.epoch
        )
    }
}

impl std::error::Error for Diverged {}

/// Training stopped early by its caller (a search's early-stopping rule) after an epoch.
#[derive(Debug, Clone, PartialEq)]
pub struct Pruned {
    /// The last epoch trained.
    pub epoch: usize,
}

impl std::fmt::Display for Pruned {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "stopped early after epoch {}", self.epoch)
    }
}

impl std::error::Error for Pruned {}

/// Whether training goes on after an epoch: `Break` stops it with a [`Pruned`] error.
pub type Control = std::ops::ControlFlow<()>;

/// Predictions of a model on some images, with the mean loss.
pub struct Evaluation {
    /// Mean cross-entropy.
    pub loss: f64,
    /// Predicted class per image.
    pub predicted: Vec<usize>,
    /// True class per image.
    pub truth: Vec<usize>,
}

/// Trains `model` (on an autodiff device) on `train`, choosing the best epoch on `val`.
pub fn fit(
    model: Network,
    data: &Prepared,
    train: &[usize],
    val: &[usize],
    s: &Settings,
    device: &Device,
    on_epoch: &mut dyn FnMut(&EpochLog),
) -> anyhow::Result<Fitted> {
    fit_resumable(model, data, train, val, s, device, on_epoch, None)
}

/// [`fit`] that, given a checkpoint, resumes after its last epoch and saves one after each epoch.
#[allow(clippy::too_many_arguments)]
pub fn fit_resumable(
    model: Network,
    data: &Prepared,
    train: &[usize],
    val: &[usize],
    s: &Settings,
    device: &Device,
    on_epoch: &mut dyn FnMut(&EpochLog),
    checkpoint: Option<&checkpoint::Checkpoint>,
) -> anyhow::Result<Fitted> {
    let mut go_on = |e: &EpochLog| {
        on_epoch(e);
        Control::Continue(())
    };
    fit_controlled(model, data, train, val, s, device, &mut go_on, checkpoint)
}

/// [`fit_resumable`] whose caller may stop training after any epoch (`on_epoch` gives
/// `Control::Break`): it then ends with a [`Pruned`] error.
#[allow(clippy::too_many_arguments)]
pub fn fit_controlled(
    mut model: Network,
    data: &Prepared,
    train: &[usize],
    val: &[usize],
    s: &Settings,
    device: &Device,
    on_epoch: &mut dyn FnMut(&EpochLog) -> Control,
    checkpoint: Option<&checkpoint::Checkpoint>,
) -> anyhow::Result<Fitted> {
    if train.is_empty() || val.is_empty() {
        bail!(
            "no images to train on ({} train, {} validation)",
            train.len(),
            val.len()
        );
    }
    let smoothing = (s.label_smoothing > 0.0).then_some(s.label_smoothing as f32);
    let loss_fn = CrossEntropyLossConfig::new()
        .with_smoothing(smoothing)
        .init(device);
    let new_optim = || optim::build(s.optimizer, s.weight_decay, s.grad_clip);
    let mut optim = new_optim();
    let plan = s.lr_plan(train.len());
    let parts = model.parts().len();
    // Epoch in which each part last became trainable (for the unfreezing warm-up).
    let mut thawed_in = vec![0usize; parts];
    let mut frozen_now = s.freeze_depth;
    // Frozen values, to prove after the first step that freezing held (the Keras BatchNorm pitfall).
    let mut frozen = None;
    let mut order = train.to_vec();
    let mut best: Option<(f64, usize, Network)> = None;
    let mut epochs = Vec::new();
    let job = checkpoint.map(|c| c.job(s, train, val));
    if let Some(r) = job.as_ref().and_then(|j| j.resume(&model, new_optim())) {
        (model, optim, epochs) = (r.model, r.optim, r.state.epochs);
        (thawed_in, frozen_now) = (r.state.thawed_in, r.state.frozen_now);
        let b = r.state.best_epoch;
        best = Some((score(s.monitor, &epochs[b - 1]), b, r.best));
        if s.unfreeze_every > 0 {
            model = model.set_frozen(frozen_now, s.bn_train);
        }
    }
    // After resuming: the optimizer state refers to the checkpoint's ids.
    let part_ids = model.part_param_ids();
    let steps = plan.steps_per_epoch;
    for epoch in epochs.len() + 1..=s.epochs {
        // Checked before an epoch rather than after one, so that a job resumed after the
        // epoch it stopped in stops too.
        if s.patience > 0 && best.as_ref().is_some_and(|b| epoch - 1 - b.1 >= s.patience) {
            break;
        }
        let depth = s.frozen_parts(parts, epoch);
        if epoch == 1 || depth != frozen_now {
            if depth != frozen_now || s.unfreeze_every > 0 {
                model = model.set_frozen(depth, s.bn_train);
            }
            thawed_in[depth.min(frozen_now)..frozen_now].fill(epoch);
            frozen_now = depth;
            frozen = Some(crate::model::frozen::values(&model));
        }
        order.copy_from_slice(train);
        order.shuffle(&mut seed::rng(s.seed, "shuffle", epoch as u64));
        let mut dropout = seed::rng(s.seed, "dropout", epoch as u64);
        let (mut loss_sum, mut correct) = (0.0f64, 0usize);
        let first_lr = plan.lr(epoch - 1, 0);
        for (b, batch) in order.chunks(s.batch_size).enumerate() {
            let lr = plan.lr(epoch - 1, b);
            let rates = s.part_rates(lr, &thawed_in, epoch, (b, steps));
            let aug = augment::batch(data, batch, &s.augment, s.seed, epoch, b);
            let (x, y) = tensors_from(aug.pixels, aug.labels, data, device);
            let logits = model.forward_from(x, s.from_part, Some(&mut dropout), s.head_dropout);
            let loss = match aug.mix {
                None => loss_fn.forward(logits.clone(), y.clone()),
                Some((partner, lam)) => {
                    let y2 = Tensor::<1, Int>::from_data(
                        TensorData::new(partner, [batch.len()]),
                        device,
                    );
                    loss_fn.forward(logits.clone(), y.clone()) * lam
                        + loss_fn.forward(logits.clone(), y2) * (1.0 - lam)
                }
            };
            let loss_value = f64::from(loss.clone().into_scalar::<f32>());
            if !loss_value.is_finite() {
                return Err(Diverged { epoch }.into());
            }
            loss_sum += loss_value * batch.len() as f64;
            correct += count_correct(logits.detach(), y);
            model = step(model, &mut optim, loss, lr, &rates, &part_ids);
            if let Some(before) = frozen.take()
                && let Err(what) = crate::model::frozen::check(&before, &model)
            {
                bail!(
                    "{what} in the first optimizer step of epoch {epoch}; freezing failed (please report this)"
                );
            }
        }
        let eval = evaluate_from(&model.valid(), data, val, s.from_part, device);
        let val_accuracy = accuracy(&eval);
        let log = EpochLog::new(
            epoch,
            loss_sum / train.len() as f64,
            [
                ("train_accuracy", correct as f64 / train.len() as f64),
                ("val_loss", eval.loss),
                ("val_accuracy", val_accuracy),
            ],
            first_lr,
            frozen_now,
        );
        let control = on_epoch(&log);
        let score = score(s.monitor, &log);
        epochs.push(log);
        if best.as_ref().is_none_or(|(b, _, _)| score > *b) {
            best = Some((score, epoch, model.valid()));
        }
        if let (Some(job), Some((_, best_epoch, best))) = (&job, &best) {
            let state = checkpoint::State {
                epochs: epochs.clone(),
                best_epoch: *best_epoch,
                thawed_in: thawed_in.clone(),
                frozen_now,
            };
            job.save(&model, &optim, best, &state);
        }
        if control.is_break() {
            return Err(Pruned { epoch }.into());
        }
    }
    let (_, best_epoch, best) = best.expect("at least one epoch");
    Ok(Fitted {
        best,
        best_epoch,
        last: model.valid(),
        epochs,
    })
}

/// The score a classifier's `monitor` names.
pub fn classify_metric(monitor: Monitor) -> Metric {
    match monitor {
        Monitor::ValLoss => Metric {
            key: "val_loss",
            lower_better: true,
        },
        // Validation refuses a detector's or segmenter's metrics for a classifier.
        _ => Metric::higher("val_accuracy"),
    }
}

/// The number [`fit`] keeps the epoch that maximises: an epoch's value of a classifier's
/// `monitor`, higher better (the loss negated).
pub fn score(monitor: Monitor, log: &EpochLog) -> f64 {
    classify_metric(monitor).of(log).unwrap_or(f64::NAN)
}

/// A validation score as a monitor or a search names it: a key into [`EpochLog::scores`]
/// (each task says which key a monitor means: `crate::task::Task::metric`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Metric {
    /// The score's key (`val_accuracy`, `val_ap`, `val_miou`).
    pub key: &'static str,
    /// Lower is better (a loss): its value is negated so that higher is always better.
    pub lower_better: bool,
}

impl Metric {
    /// A score where higher is better.
    pub const fn higher(key: &'static str) -> Metric {
        Metric {
            key,
            lower_better: false,
        }
    }

    /// An epoch's value of the score, higher better (a loss negated); `None` when the epoch
    /// did not record it (a folder written before the score existed).
    pub fn of(self, e: &EpochLog) -> Option<f64> {
        e.scores
            .get(self.key)
            .map(|&v| if self.lower_better { -v } else { v })
    }

    /// A higher-better value as the score reads (a loss back to positive).
    pub fn shown(self, v: f64) -> f64 {
        if self.lower_better { -v } else { v }
    }
}

impl EpochLog {
    /// The log of an epoch with the task's named `scores`.
    pub fn new<'a>(
        epoch: usize,
        train_loss: f64,
        scores: impl IntoIterator<Item = (&'a str, f64)>,
        lr: f64,
        frozen_parts: usize,
    ) -> EpochLog {
        EpochLog {
            epoch,
            train_loss,
            scores: scores
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
            lr,
            frozen_parts,
        }
    }

    /// The score named `key` (NaN when the epoch did not record it).
    pub fn score(&self, key: &str) -> f64 {
        self.scores.get(key).copied().unwrap_or(f64::NAN)
    }
}

/// One optimizer step: the head (every parameter not in `part_ids`) moves at `lr`, backbone
/// part k at `rates[k]`.
pub fn step<M: Module>(
    model: M,
    optim: &mut burn::optim::ModuleOptimizer,
    loss: Tensor<1>,
    lr: f64,
    rates: &[f64],
    part_ids: &[Vec<burn::module::ParamId>],
) -> M {
    let mut grads = loss.backward();
    if rates.iter().all(|&r| r == lr) {
        let all = GradientsParams::from_grads(grads, &model);
        return optim.step(lr, model, all);
    }
    let parts: Vec<GradientsParams> = part_ids
        .iter()
        .map(|ids| GradientsParams::from_params(&mut grads, &model, ids))
        .collect();
    let head = GradientsParams::from_grads(grads, &model);
    let mut model = optim.step(lr, model, head);
    for (g, &rate) in parts.into_iter().zip(rates) {
        if rate > 0.0 && !g.is_empty() {
            model = optim.step(rate, model, g);
        }
    }
    model
}

/// Runs an inference-mode model over some images in batches.
pub fn evaluate(
    model: &Network,
    data: &Prepared,
    indices: &[usize],
    device: &Device,
) -> Evaluation {
    evaluate_from(model, data, indices, 0, device)
}

/// [`evaluate`] on data holding the outputs of the model's first `from_part` parts.
pub fn evaluate_from(
    model: &Network,
    data: &Prepared,
    indices: &[usize],
    from_part: usize,
    device: &Device,
) -> Evaluation {
    let loss_fn = CrossEntropyLossConfig::new().init(device);
    let (mut loss_sum, mut predicted, mut truth) = (0.0f64, Vec::new(), Vec::new());
    for batch in indices.chunks(256) {
        let (x, y) = tensors(data, batch, device);
        let logits = model.forward_from(x, from_part, None, 0.0);
        let loss = loss_fn.forward(logits.clone(), y);
        loss_sum += f64::from(loss.into_scalar::<f32>()) * batch.len() as f64;
        let argmax = logits
            .argmax(1)
            .into_data()
            .convert::<i64>()
            .try_into_vec::<i64>()
            .expect("int data");
        predicted.extend(argmax.iter().map(|&p| p as usize));
        truth.extend(batch.iter().map(|&i| data.labels[i] as usize));
    }
    Evaluation {
        loss: loss_sum / indices.len().max(1) as f64,
        predicted,
        truth,
    }
}

/// Fraction of correct predictions.
pub fn accuracy(e: &Evaluation) -> f64 {
    let correct = e
        .predicted
        .iter()
        .zip(&e.truth)
        .filter(|(p, t)| p == t)
        .count();
    correct as f64 / e.truth.len().max(1) as f64
}

fn count_correct(logits: Tensor<2>, y: Tensor<1, Int>) -> usize {
    let [n, _] = logits.dims();
    let hits = logits.argmax(1).reshape([n]).equal(y).int().sum();
    hits.into_scalar::<i64>() as usize
}

fn tensors(data: &Prepared, batch: &[usize], device: &Device) -> (Tensor<4>, Tensor<1, Int>) {
    let (x, y) = data.gather(batch);
    tensors_from(x, y, data, device)
}

fn tensors_from(
    x: Vec<f32>,
    y: Vec<i64>,
    data: &Prepared,
    device: &Device,
) -> (Tensor<4>, Tensor<1, Int>) {
    let n = y.len();
    let shape = [n, data.channels, data.size, data.size];
    let x = Tensor::<4>::from_data(TensorData::new(x, shape), device);
    let y = Tensor::<1, Int>::from_data(TensorData::new(y, [n]), device);
    (x, y)
}
