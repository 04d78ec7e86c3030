//! Early stopping of hopeless runs: the promotion rule of asynchronous successive halving
//! (ASHA) and Optuna's median rule, as pure functions of learning curves.
//!
//! A run is judged against curves fixed when it was proposed (the runs of earlier batches), not
//! against whatever else happens to be training, so a decision never depends on timing or on
//! `--jobs`. Curves hold the searched metric per epoch, higher better (a loss is negated).

/// Which rule, with its settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Rule {
    /// ASHA: rungs at `grace`·`reduction`^k epochs; at a rung a run goes on only if it is in the
    /// top 1/`reduction` of the runs that reached the rung (itself included).
    Asha {
        /// Epochs before the first rung.
        grace: usize,
        /// The reduction factor η.
        reduction: usize,
    },
    /// Optuna's MedianPruner: after `warmup` epochs, stop at epoch e if the run's best value so
    /// far is worse than the median of the finished runs' values at e (once `min_trials` runs
    /// have finished).
    Median {
        /// Epochs in which no run is stopped.
        warmup: usize,
        /// Finished runs needed before any run is stopped.
        min_trials: usize,
    },
}

/// Another run's learning curve.
#[derive(Debug, Clone, PartialEq)]
pub struct Curve {
    /// The metric per epoch, higher better.
    pub values: Vec<f64>,
    /// It trained to its end (not stopped by the rule, failed or diverged).
    pub complete: bool,
}

/// A run's stopping rule and the curves it is judged against.
#[derive(Debug, Clone, PartialEq)]
pub struct Pruner {
    /// The rule.
    pub rule: Rule,
    /// The curves of the runs it competes with (shared by the runs of a batch).
    pub others: std::sync::Arc<Vec<Curve>>,
    /// The run's epochs: it is never stopped after its last one.
    pub epochs: usize,
}

impl Pruner {
    /// Whether a run whose curve so far is `curve` stops now.
    pub fn should_stop(&self, curve: &[f64]) -> bool {
        let e = curve.len();
        if e == 0 || e >= self.epochs {
            return false;
        }
        match self.rule {
            Rule::Asha { grace, reduction } => {
                if !is_rung(e, grace, reduction) {
                    return false;
                }
                let mut competing: Vec<f64> = self
                    .others
                    .iter()
                    .filter(|c| c.values.len() >= e)
                    .map(|c| c.values[e - 1])
                    .collect();
                competing.push(curve[e - 1]);
                !promotable(curve[e - 1], competing, reduction)
            }
            Rule::Median { warmup, min_trials } => {
                if e <= warmup {
                    return false;
                }
                let finished: Vec<&Curve> = self.others.iter().filter(|c| c.complete).collect();
                if finished.len() < min_trials {
                    return false;
                }
                let at: Vec<f64> = finished
                    .iter()
                    .filter(|c| c.values.len() >= e)
                    .map(|c| c.values[e - 1])
                    .collect();
                let Some(median) = median(at) else {
                    return false;
                };
                let best = curve.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                best < median
            }
        }
    }
}

/// Whether epoch `e` is a rung: `grace`·`reduction`^k for some k ≥ 0.
pub fn is_rung(e: usize, grace: usize, reduction: usize) -> bool {
    let mut rung = grace.max(1);
    while rung < e {
        rung = rung.saturating_mul(reduction.max(2));
    }
    rung == e
}

/// Optuna's promotion test: `value` (higher better) is at least the k-th best of `competing`
/// (which holds it), k = ⌊n/η⌋, or the best when that is 0 (a run alone at a rung goes on).
pub fn promotable(value: f64, mut competing: Vec<f64>, reduction: usize) -> bool {
    let k = (competing.len() / reduction.max(1)).max(1);
    competing.sort_by(|a, b| b.total_cmp(a));
    value >= competing[k - 1]
}

/// Median with linear interpolation (numpy's default), `None` for no values.
pub fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}
