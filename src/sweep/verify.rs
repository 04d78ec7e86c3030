//! `sweep verify`: train finished runs again from their records and check that they reproduce,
//! metrics and final-weight hashes bit for bit.

use std::path::Path;

use anyhow::{Context, bail};
use burn::tensor::Device;
use rand::seq::SliceRandom;

use super::{ledger, run, source};
use crate::spec::Plan;

/// The check of one run.
#[derive(Debug, Clone)]
pub struct Check {
    /// Run id.
    pub id: String,
    /// Test accuracy recorded, and now.
    pub accuracy: (f64, f64),
    /// Metrics, learning curve and best epoch identical.
    pub metrics_match: bool,
    /// Hash of the tested weights identical.
    pub weights_match: bool,
}

impl Check {
    /// Whether the run reproduced.
    pub fn ok(&self) -> bool {
        self.metrics_match && self.weights_match
    }
}

/// Re-runs `count` finished runs (all when `None`), chosen at random with `seed`.
pub fn verify(
    dir: &Path,
    count: Option<usize>,
    seed: u64,
    log: &(dyn Fn(String) + Sync),
) -> anyhow::Result<Vec<Check>> {
    let file = dir.join("experiment.toml");
    let text = std::fs::read_to_string(&file).with_context(|| {
        format!(
            "{} has no experiment.toml; point `sweep verify` at a results folder",
            dir.display()
        )
    })?;
    let plan = Plan::parse(&file, &text).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut finished: Vec<(usize, run::Outcome)> = plan
        .runs
        .iter()
        .enumerate()
        .filter_map(|(i, r)| ledger::load(dir, &r.id).map(|o| (i, o)))
        .filter(|(_, o)| o.status == run::Status::Ok && o.manifest.is_some())
        .collect();
    if finished.is_empty() {
        bail!("{} holds no finished run to verify", dir.display());
    }
    finished.shuffle(&mut crate::seed::rng(seed, "verify", 0));
    finished.truncate(count.unwrap_or(usize::MAX));
    finished.sort_by_key(|(i, _)| *i);
    let cache = dir.join("cache");
    let mut checks = Vec::new();
    for (i, recorded) in finished {
        let r = &plan.runs[i];
        let threads = recorded.manifest.as_ref().map_or(1, |m| m.threads);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads.max(1))
            .stack_size(64 << 20)
            .build()?;
        log(format!("verify: run {} ({threads} thread(s))", r.id));
        let again = pool.install(|| -> anyhow::Result<run::Outcome> {
            let device = Device::flex().autodiff();
            let info = match &r.config.source {
                Some(s) => Some(source::obtain(s, &r.config.model, &cache, &device, log)?),
                None => None,
            };
            Ok(run::execute(r, info.as_ref(), &cache, &device, &mut |_| {}))
        })?;
        let acc = |o: &run::Outcome| o.test.as_ref().map_or(f64::NAN, |m| m.accuracy);
        let hash = |o: &run::Outcome| o.manifest.as_ref().and_then(|m| m.weights_sha256.clone());
        checks.push(Check {
            id: r.id.clone(),
            accuracy: (acc(&recorded), acc(&again)),
            metrics_match: recorded.status == again.status
                && recorded.test == again.test
                && recorded.epochs == again.epochs
                && recorded.best_epoch == again.best_epoch,
            weights_match: hash(&recorded).is_some() && hash(&recorded) == hash(&again),
        });
    }
    Ok(checks)
}
