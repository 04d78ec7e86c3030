//! One classification run: sample the label budget per class, build or transfer the network,
//! train (through the frozen-feature cache where it can), test.

use std::path::Path;

use burn::tensor::Device;

use crate::data;
use crate::model;
use crate::spec::schema::{BnPolicy, Save};
use crate::spec::{Run, Strategy};
use crate::task::source::{self, SourceInfo};
use crate::train::{self, EpochLog, Metrics, Settings};

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

    let net = super::super::backbone::backbone(
        run,
        source,
        cache,
        (data.channels, data.classes),
        device,
    )?;
    let net = match c.transfer.strategy {
        Strategy::Scratch => net,
        _ => net.freeze_leading(c.transfer.freeze_depth, c.transfer.bn == BnPolicy::Train),
    };
    let settings = train::settings(c);
    Ok(Ready {
        data,
        train,
        val,
        net,
        settings,
    })
}

/// Trains and tests one classification run: (test metrics, best epoch, labelled images,
/// weights).
pub fn train_and_test(
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
