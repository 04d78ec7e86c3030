//! `sweep verify`: train finished runs again from their records and check that they reproduce:
//! metrics and final-weight hashes bit for bit on the machine that made them, or, where the
//! platform differs (CPU, SIMD level, threads, backend, burn, OS), the test accuracy within a
//! tolerance taken from the run's own seed-to-seed spread.

use std::path::Path;

use anyhow::{Context, bail};
use rand::seq::SliceRandom;

use super::{ledger, run, source};
use crate::device::Choice;
use crate::spec::Plan;
use crate::train::EpochLog;

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
    /// What differs between the platform recorded and this one (empty: the same).
    pub platform: Vec<String>,
    /// Largest accuracy difference accepted when the platform differs: 2√2 standard deviations
    /// of the recorded accuracies of the other seeds of the run's cell (about 95% of the
    /// differences between two seeds), `None` with fewer than two other seeds.
    pub tolerance: Option<f64>,
}

impl Check {
    /// Reproduced bit for bit.
    pub fn exact(&self) -> bool {
        self.metrics_match && self.weights_match
    }

    /// Whether the run reproduced: bit for bit, or within the tolerance where the platform
    /// differs.
    pub fn ok(&self) -> bool {
        self.exact() || (!self.platform.is_empty() && self.within_tolerance())
    }

    fn within_tolerance(&self) -> bool {
        let diff = (self.accuracy.0 - self.accuracy.1).abs();
        self.tolerance.is_some_and(|t| diff <= t)
    }

    /// The result in words, with what differs.
    pub fn verdict(&self) -> String {
        let differs = self.platform.join(", ");
        match (self.exact(), self.platform.is_empty(), self.tolerance) {
            (true, _, _) => "reproduced".into(),
            (false, true, _) => "MISMATCH".into(),
            (false, false, None) => format!(
                "MISMATCH? platform differs ({differs}) and the cell has under 3 seeds, too few to judge float noise by"
            ),
            (false, false, Some(t)) if self.within_tolerance() => {
                format!("reproduced within float tolerance ±{t:.4} (platform differs: {differs})")
            }
            (false, false, Some(t)) => {
                format!("MISMATCH beyond float tolerance ±{t:.4} (platform differs: {differs})")
            }
        }
    }
}

/// Tolerance for run `i` (see [`Check::tolerance`]) from the recorded accuracies of the runs of
/// `plan` that differ from it only in their seed.
fn tolerance(plan: &Plan, dir: &Path, i: usize) -> Option<f64> {
    let cell = |c: &crate::spec::RunConfig| {
        let mut c = c.clone();
        c.experiment.seed = 0;
        serde_json::to_string(&c).expect("config serializes")
    };
    let me = cell(&plan.runs[i].config);
    // The run itself is left out: an outlier would widen its own tolerance.
    let accs: Vec<f64> = plan
        .runs
        .iter()
        .enumerate()
        .filter(|&(k, r)| k != i && cell(&r.config) == me)
        .map(|(_, r)| r)
        .filter_map(|r| ledger::load(dir, &r.id).and_then(|o| headline(&o)))
        .collect();
    (accs.len() >= 2).then(|| {
        let n = accs.len() as f64;
        let mean = accs.iter().sum::<f64>() / n;
        let var = accs.iter().map(|a| (a - mean).powi(2)).sum::<f64>() / (n - 1.0);
        2.0 * std::f64::consts::SQRT_2 * var.sqrt()
    })
}

/// Re-runs `count` finished runs (all when `None`), chosen at random with `seed`, each on the
/// device it trained on (or on `device`, when given).
pub fn verify(
    dir: &Path,
    count: Option<usize>,
    device: Option<Choice>,
    seed: u64,
    log: &(dyn Fn(String) + Sync),
) -> anyhow::Result<Vec<Check>> {
    let plan = ledger::plan(dir, "verify")?;
    let plan = super::search::results_plan(dir, &plan)?;
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
        let threads = recorded.manifest.as_ref().map_or(1, |m| m.platform.threads);
        let used = recorded
            .manifest
            .as_ref()
            .map(|m| m.platform.device.as_str());
        let choice = match (device, used) {
            (Some(d), _) => d,
            (None, None | Some("")) => Choice::Cpu,
            (None, Some(d)) => d
                .parse()
                .map_err(|e| anyhow::anyhow!("run {}'s manifest names device `{d}`: {e}", r.id))?,
        };
        let device = choice
            .open()
            .with_context(|| {
                format!(
                    "run {} trained on `{choice}`; verify it elsewhere with --device (the weights will then differ, the accuracy is checked within the seeds' spread)",
                    r.id
                )
            })?
            .remove(0);
        let pool = crate::device::compute_pool(threads)?;
        log(format!(
            "verify: run {} ({threads} thread(s), {choice})",
            r.id
        ));
        let again = pool.install(|| -> anyhow::Result<run::Outcome> {
            let info = match &r.config.source {
                Some(s) => Some(source::obtain(s, &r.config.model, &cache, &device, log)?),
                None => None,
            };
            Ok(run::execute(r, info.as_ref(), &cache, &device, &mut |_| {
                crate::train::Control::Continue(())
            }))
        })?;
        let acc = |o: &run::Outcome| headline(o).unwrap_or(f64::NAN);
        let hash = |o: &run::Outcome| o.manifest.as_ref().and_then(|m| m.weights_sha256.clone());
        checks.push(Check {
            id: r.id.clone(),
            accuracy: (acc(&recorded), acc(&again)),
            metrics_match: recorded.status == again.status
                && recorded.scores == again.scores
                && recorded.details == again.details
                && same_epochs(&recorded.epochs, &again.epochs)
                && recorded.best_epoch == again.best_epoch,
            weights_match: hash(&recorded).is_some() && hash(&recorded) == hash(&again),
            platform: match (&recorded.manifest, &again.manifest) {
                (Some(a), Some(b)) => a.platform.differences(&b.platform),
                _ => Vec::new(),
            },
            tolerance: tolerance(&plan, dir, i),
        });
    }
    Ok(checks)
}

/// A run's headline test metric.
fn headline(o: &run::Outcome) -> Option<f64> {
    o.headline()
}

/// The recorded learning curve repeated: every epoch's loss, rate and frozen parts, and every
/// score the record holds (a folder written before a score was recorded lacks it).
fn same_epochs(recorded: &[EpochLog], again: &[EpochLog]) -> bool {
    recorded.len() == again.len()
        && recorded.iter().zip(again).all(|(r, a)| {
            (r.epoch, r.train_loss, r.lr, r.frozen_parts)
                == (a.epoch, a.train_loss, a.lr, a.frozen_parts)
                && r.scores.iter().all(|(k, v)| a.scores.get(k) == Some(v))
        })
}
