//! A run's backbone: from scratch, from its source stage or from a weights file, adapted to its
//! input channels and classes, pretrained up to its transfer depth. Every task builds its network
//! on this.

use std::path::Path;

use anyhow::bail;
use burn::tensor::Device;

use super::source::{self, SourceInfo};
use crate::model;
use crate::spec::{Run, Strategy};

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
