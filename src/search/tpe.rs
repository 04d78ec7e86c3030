//! Optuna's TPE (`optuna/samplers/_tpe/`): the below/above split of `sampler.py`, the Parzen
//! estimators of `parzen_estimator.py` and `probability_distributions.py`, and the truncated
//! normals of `_truncnorm.py`.

use std::f64::consts::{FRAC_1_SQRT_2, PI, SQRT_2};

use rand::rngs::StdRng;
use statrs::function::erf::{erf, erfc};

use super::space::{Distribution, Value, check, random, uniform01};
use super::{Direction, Observation, State};

/// Optuna's TPESampler defaults (n_startup_trials 10, n_ei_candidates 24, gamma = min(ceil(0.1 n), 25), prior_weight 1, consider_magic_clip, consider_prior, default ramp weights, univariate).
#[derive(Debug, Clone, PartialEq)]
pub struct TpeConfig {
    /// Below this many complete or pruned trials, TPE samples at random.
    pub startup_trials: usize,
    /// How many candidates are drawn from l(x) to pick the best of (at least 1 is used).
    pub ei_candidates: usize,
    /// The weight of the prior kernel, relative to each observation's (>= 0).
    pub prior_weight: f64,
    /// One joint mixture over all parameters (Optuna 5.0's default) instead of one per parameter.
    pub multivariate: bool,
}

impl Default for TpeConfig {
    fn default() -> Self {
        TpeConfig {
            startup_trials: 10,
            ei_candidates: 24,
            prior_weight: 1.0,
            multivariate: false,
        }
    }
}

/// Proposes the next trial's values by Optuna's TPE from the finished trials in `history`
/// (oldest first: the ramp weights favour recent trials), or at random while fewer than
/// `cfg.startup_trials` of them completed or were pruned.
///
/// # Panics
/// On an invalid distribution (see [`Distribution::validate`]) or a negative `prior_weight`.
pub fn tpe(
    space: &[Distribution],
    history: &[Observation],
    direction: Direction,
    cfg: &TpeConfig,
    rng: &mut StdRng,
) -> Vec<Value> {
    check(space);
    assert!(
        cfg.prior_weight >= 0.0,
        "TPE's prior_weight must be >= 0, got {}",
        cfg.prior_weight
    );
    let finished: Vec<&Observation> = history.iter().filter(|o| counts(&o.state)).collect();
    if finished.len() < cfg.startup_trials {
        return random(space, rng);
    }
    let (below, above) = split(&finished, direction, gamma(finished.len()));

    // Single-point parameters are fixed; Optuna leaves them out of the searched space too.
    let mut out: Vec<_> = space.iter().map(Distribution::single).collect();
    let free: Vec<usize> = (0..space.len()).filter(|&i| out[i].is_none()).collect();
    let groups: Vec<Vec<usize>> = if cfg.multivariate {
        if free.is_empty() { vec![] } else { vec![free] }
    } else {
        free.into_iter().map(|i| vec![i]).collect()
    };
    for dims in groups {
        let l = Estimator::new(space, &dims, &below, cfg.prior_weight);
        let g = Estimator::new(space, &dims, &above, cfg.prior_weight);
        let candidates = l.sample(cfg.ei_candidates.max(1), rng);
        // np.argmax: the first of the best log l(x) - log g(x).
        let mut best = (0, f64::NEG_INFINITY);
        for (j, c) in candidates.iter().enumerate() {
            let acq = l.log_pdf(c) - g.log_pdf(c);
            if j == 0 || acq > best.1 {
                best = (j, acq);
            }
        }
        for (k, &i) in dims.iter().enumerate() {
            out[i] = Some(space[i].external(candidates[best.0][k]));
        }
    }
    out.into_iter()
        .map(|v| v.expect("every parameter sampled"))
        .collect()
}

/// Whether a trial takes part: complete (with a number) or pruned, as Optuna's COMPLETE/PRUNED.
fn counts(state: &State) -> bool {
    match state {
        State::Complete(v) => !v.is_nan(),
        State::Pruned { .. } => true,
        State::Failed => false,
    }
}

/// Optuna's `default_gamma`: how many trials make up the good group.
fn gamma(n: usize) -> usize {
    n.div_ceil(10).min(25)
}

/// Optuna's `default_weights`: flat for the newest 25, a ramp from 1/n up for older ones.
fn default_weights(n: usize) -> Vec<f64> {
    if n < 25 {
        return vec![1.0; n];
    }
    let ramp = n - 25;
    let start = 1.0 / n as f64;
    (0..ramp)
        .map(|i| match ramp {
            1 => start,
            // np.linspace(1/n, 1, n - 25)
            _ => start + i as f64 * (1.0 - start) / (ramp - 1) as f64,
        })
        .chain(std::iter::repeat_n(1.0, 25))
        .collect()
}

/// Optuna's `_split_trials` for one objective: the `n_below` best complete trials, then (if
/// fewer complete ones exist) the pruned ones that got furthest and, at equal step, did best.
/// Both groups keep the history's order, which the ramp weights rely on.
fn split<'a>(
    trials: &[&'a Observation],
    direction: Direction,
    n_below: usize,
) -> (Vec<&'a Observation>, Vec<&'a Observation>) {
    let sign = match direction {
        Direction::Minimize => 1.0,
        Direction::Maximize => -1.0,
    };
    let mut complete = Vec::new();
    let mut pruned = Vec::new();
    for (i, t) in trials.iter().enumerate() {
        match t.state {
            State::Complete(v) => complete.push((i, sign * v)),
            State::Pruned { step, value } => {
                // A NaN report ranks last at its step, as Optuna scores it +inf.
                let score = if value.is_nan() {
                    f64::INFINITY
                } else {
                    sign * value
                };
                pruned.push((i, step, score));
            }
            State::Failed => {}
        }
    }
    // Stable sorts: ties keep trial order, as Python's sorted() does (also with reverse=True).
    complete.sort_by(|a, b| a.1.total_cmp(&b.1));
    pruned.sort_by(|a, b| b.1.cmp(&a.1).then(a.2.total_cmp(&b.2)));
    let n_complete = n_below.min(complete.len());
    let n_pruned = (n_below - n_complete).min(pruned.len());
    let mut below: Vec<usize> = complete[..n_complete].iter().map(|c| c.0).collect();
    below.extend(pruned[..n_pruned].iter().map(|p| p.0));
    below.sort_unstable();
    let mut is_below = vec![false; trials.len()];
    for &i in &below {
        is_below[i] = true;
    }
    let (b, a): (Vec<_>, Vec<_>) = (0..trials.len()).partition(|&i| is_below[i]);
    (
        b.into_iter().map(|i| trials[i]).collect(),
        a.into_iter().map(|i| trials[i]).collect(),
    )
}

/// One parameter's kernels in a Parzen mixture (one per observation, then the prior).
enum Kernels {
    /// Truncated normals on the (log-)space of a float or integer parameter.
    Numeric(Numeric),
    /// Optuna's categorical Parzen: per kernel, a probability for each choice.
    Choice(Vec<Vec<f64>>),
}

/// Truncated normal kernels; `low`/`high` are the bounds in the space the kernels live in
/// (log for log parameters, widened by half a step for integers).
struct Numeric {
    mu: Vec<f64>,
    sigma: Vec<f64>,
    /// log of each kernel's mass within [low, high], its truncation normaliser.
    log_mass: Vec<f64>,
    low: f64,
    high: f64,
    log: bool,
    /// The integer bounds for an integer parameter, `None` for a float one.
    int: Option<(i64, i64)>,
}

/// Optuna's `_ParzenEstimator`: a mixture of products of per-parameter kernels.
struct Estimator {
    /// Cumulative mixture weights, to draw a kernel.
    cum: Vec<f64>,
    log_w: Vec<f64>,
    dims: Vec<Kernels>,
}

impl Estimator {
    /// The estimator of the parameters `dims` over `trials` (Optuna's `_build_parzen_estimator`).
    fn new(space: &[Distribution], dims: &[usize], trials: &[&Observation], prior: f64) -> Self {
        // A trial enters only if it has a usable value for every parameter of the mixture.
        let rows: Vec<Vec<f64>> = trials
            .iter()
            .filter_map(|t| {
                dims.iter()
                    .map(|&i| t.params.get(i).and_then(|v| space[i].internal(v)))
                    .collect::<Option<Vec<f64>>>()
            })
            .collect();
        let n = rows.len();
        let mut w = if n == 0 {
            vec![1.0]
        } else {
            default_weights(n)
        };
        if n > 0 {
            w.push(prior);
        }
        let total: f64 = w.iter().sum();
        let mut acc = 0.0;
        let cum = w
            .iter()
            .map(|x| {
                acc += x / total;
                acc
            })
            .collect();
        let log_w = w.iter().map(|x| (x / total).ln()).collect();
        let dims = dims
            .iter()
            .enumerate()
            .map(|(k, &i)| {
                let column: Vec<f64> = rows.iter().map(|r| r[k]).collect();
                kernels(&space[i], &column, prior)
            })
            .collect();
        Estimator { cum, log_w, dims }
    }

    /// Draws `size` points: a kernel each, then each parameter from that kernel.
    fn sample(&self, size: usize, rng: &mut StdRng) -> Vec<Vec<f64>> {
        let last = self.cum.len() - 1;
        // np.random.choice(p=w): the first kernel whose cumulative weight exceeds u.
        let active: Vec<usize> = (0..size)
            .map(|_| {
                let u = uniform01(rng);
                self.cum.partition_point(|&c| c <= u).min(last)
            })
            .collect();
        let mut out = vec![Vec::with_capacity(self.dims.len()); size];
        for dim in &self.dims {
            for (j, &k) in active.iter().enumerate() {
                let u = uniform01(rng);
                out[j].push(match dim {
                    Kernels::Choice(p) => draw_choice(&p[k], u),
                    Kernels::Numeric(num) => num.draw(k, u),
                });
            }
        }
        out
    }

    /// log of the mixture density at `x` (Optuna's `_MixtureOfProductDistribution.log_pdf`).
    fn log_pdf(&self, x: &[f64]) -> f64 {
        let per_kernel: Vec<f64> = (0..self.log_w.len())
            .map(|k| {
                let mut s = self.log_w[k];
                for (dim, &xd) in self.dims.iter().zip(x) {
                    s += match dim {
                        Kernels::Choice(p) => p[k][xd as usize].ln(),
                        Kernels::Numeric(num) => num.log_pdf(k, xd),
                    };
                }
                s
            })
            .collect();
        log_sum_exp(&per_kernel)
    }
}

/// The index whose cumulative probability first reaches `u` (Optuna's cumsum count).
fn draw_choice(p: &[f64], u: f64) -> f64 {
    let mut acc = 0.0;
    for (c, &pc) in p.iter().enumerate().take(p.len() - 1) {
        acc += pc;
        if acc >= u {
            return c as f64;
        }
    }
    // The last cumulative probability counts as exactly 1, against rounding.
    (p.len() - 1) as f64
}

/// log Σ exp(v), finite-safe when every term is -inf.
fn log_sum_exp(v: &[f64]) -> f64 {
    let max = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if max == f64::NEG_INFINITY {
        return max;
    }
    max + v.iter().map(|x| (x - max).exp()).sum::<f64>().ln()
}

/// One parameter's kernels from its observed internal values (Optuna's
/// `_calculate_categorical_distributions` and `_calculate_numerical_distributions`).
fn kernels(d: &Distribution, obs: &[f64], prior: f64) -> Kernels {
    let (low, high, log, int) = match *d {
        Distribution::Choice { n } => {
            if obs.is_empty() {
                return Kernels::Choice(vec![vec![1.0 / n as f64; n]]);
            }
            let n_kernels = obs.len() + 1;
            let mut rows = vec![vec![prior / n_kernels as f64; n]; n_kernels];
            for (row, &o) in rows.iter_mut().zip(obs) {
                row[o as usize] += 1.0;
            }
            for row in &mut rows {
                let s: f64 = row.iter().sum();
                if s != 0.0 {
                    row.iter_mut().for_each(|p| *p /= s);
                }
            }
            return Kernels::Choice(rows);
        }
        Distribution::Uniform { low, high } => (low, high, false, None),
        Distribution::LogUniform { low, high } => (low, high, true, None),
        Distribution::Int { low, high, log } => {
            (low as f64 - 0.5, high as f64 + 0.5, log, Some((low, high)))
        }
    };
    let t = |x: f64| if log { x.ln() } else { x };
    let (low, high) = (t(low), t(high));
    let mut mu: Vec<f64> = obs.iter().map(|&x| t(x)).collect();
    let mut sigma = bandwidths(&mu, low, high);
    // The prior: centred, as wide as the whole range.
    mu.push(0.5 * (low + high));
    sigma.push(high - low);
    let log_mass = mu
        .iter()
        .zip(&sigma)
        .map(|(&m, &s)| log_gauss_mass((low - m) / s, (high - m) / s))
        .collect();
    Kernels::Numeric(Numeric {
        mu,
        sigma,
        log_mass,
        low,
        high,
        log,
        int,
    })
}

/// Optuna's univariate bandwidths: the larger gap to a sorted neighbour (the bounds as outer
/// neighbours), the outermost two taking their inner gap (consider_endpoints off), clipped to
/// [range / min(100, 1 + kernels), range] (consider_magic_clip).
fn bandwidths(mu: &[f64], low: f64, high: f64) -> Vec<f64> {
    let n = mu.len();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| mu[a].total_cmp(&mu[b]));
    let mut s = Vec::with_capacity(n + 2);
    s.push(low);
    s.extend(order.iter().map(|&i| mu[i]));
    s.push(high);
    let mut sorted: Vec<f64> = (1..=n)
        .map(|i| (s[i] - s[i - 1]).max(s[i + 1] - s[i]))
        .collect();
    if n >= 2 {
        sorted[0] = s[2] - s[1];
        sorted[n - 1] = s[n] - s[n - 1];
    }
    let n_kernels = n + 1;
    let max_sigma = high - low;
    let min_sigma = (high - low) / (100f64).min(1.0 + n_kernels as f64);
    let mut sigma = vec![0.0; n];
    for (rank, &i) in order.iter().enumerate() {
        sigma[i] = sorted[rank].clamp(min_sigma, max_sigma);
    }
    sigma
}

impl Numeric {
    /// A draw from kernel `k` at quantile `u`, in the parameter's own units.
    fn draw(&self, k: usize, u: f64) -> f64 {
        let (m, s) = (self.mu[k], self.sigma[k]);
        let z = ppf(u, (self.low - m) / s, (self.high - m) / s);
        let mut x = (z * s + m).clamp(self.low, self.high);
        if self.log {
            x = x.exp();
        }
        match self.int {
            // Optuna rounds half to even (np.round) and clips into the bounds.
            Some((lo, hi)) => {
                (lo as f64 + (x - lo as f64).round_ties_even()).clamp(lo as f64, hi as f64)
            }
            None => x,
        }
    }

    /// log density (float) or log mass (integer) of kernel `k` at `x`.
    fn log_pdf(&self, k: usize, x: f64) -> f64 {
        let (m, s) = (self.mu[k], self.sigma[k]);
        let t = |v: f64| if self.log { v.ln() } else { v };
        if self.int.is_some() {
            let (l, r) = (t(x - 0.5), t(x + 0.5));
            return log_gauss_mass((l - m) / s, (r - m) / s) - self.log_mass[k];
        }
        let xt = t(x);
        if xt < self.low || xt > self.high {
            return f64::NEG_INFINITY;
        }
        let z = (xt - m) / s;
        -0.5 * z * z - LN_SQRT_2PI - s.ln() - self.log_mass[k]
    }
}

/// ln √(2π).
const LN_SQRT_2PI: f64 = 0.918_938_533_204_672_8;

/// The standard normal CDF, through erfc in the tails where 1 - erf loses digits.
fn ndtr(a: f64) -> f64 {
    let x = a / SQRT_2;
    if x < -FRAC_1_SQRT_2 {
        0.5 * erfc(-x)
    } else if x < FRAC_1_SQRT_2 {
        0.5 + 0.5 * erf(x)
    } else {
        1.0 - 0.5 * erfc(x)
    }
}

/// log Φ(a), with Optuna's asymptotic series below -20 where Φ underflows.
fn log_ndtr(a: f64) -> f64 {
    if a > 6.0 {
        return -ndtr(-a);
    }
    if a > -20.0 {
        return ndtr(a).ln();
    }
    let log_lhs = -0.5 * a * a - (-a).ln() - 0.5 * (2.0 * PI).ln();
    let (mut last, mut rhs, mut numerator, mut denom) = (0.0f64, 1.0f64, 1.0, 1.0);
    let denom_cons = 1.0 / (a * a);
    let mut sign = 1.0;
    let mut i = 0.0;
    while (last - rhs).abs() > f64::EPSILON {
        i += 1.0;
        last = rhs;
        sign = -sign;
        denom *= denom_cons;
        numerator *= 2.0 * i - 1.0;
        rhs += sign * numerator * denom;
    }
    log_lhs + rhs.ln()
}

/// log(p - q) from log p and log q.
fn log_diff(log_p: f64, log_q: f64) -> f64 {
    log_p + (-(log_q - log_p).exp()).ln_1p()
}

/// log(e^x + e^y).
fn log_add_exp(x: f64, y: f64) -> f64 {
    let m = x.max(y);
    if m == f64::NEG_INFINITY {
        return m;
    }
    m + (-(x - y).abs()).exp().ln_1p()
}

/// log of the standard normal's mass in [a, b], working in the left tail for accuracy.
fn log_gauss_mass(a: f64, b: f64) -> f64 {
    if b <= 0.0 {
        log_diff(log_ndtr(b), log_ndtr(a))
    } else if a > 0.0 {
        log_diff(log_ndtr(-a), log_ndtr(-b))
    } else {
        (-ndtr(a) - ndtr(-b)).ln_1p()
    }
}

/// x with log Φ(x) = y, by Optuna's Newton iteration from a tail or logistic first guess.
fn ndtri_exp(y: f64) -> f64 {
    // Near y = 0, solve for -x through log(1 - Φ(x)) instead, where log Φ is flat.
    let flipped = y > -1e-2;
    let z = if flipped { (-y.exp_m1()).ln() } else { y };
    let mut x = if z < -5.0 {
        -(-2.0 * (z + LN_SQRT_2PI)).sqrt()
    } else {
        -(3f64.sqrt() / PI) * (-z).exp_m1().ln()
    };
    for _ in 0..100 {
        let log_ndtr_x = log_ndtr(x);
        let log_pdf_x = -0.5 * x * x - LN_SQRT_2PI;
        let dx = (log_ndtr_x - z) * (log_ndtr_x - log_pdf_x).exp();
        x -= dx;
        if dx.abs() < 1e-8 * x.abs() {
            break;
        }
    }
    if flipped { -x } else { x }
}

/// The quantile `q` of the standard normal truncated to [a, b] (Optuna's `_truncnorm.ppf`).
fn ppf(q: f64, a: f64, b: f64) -> f64 {
    if a == b {
        return a;
    }
    if q <= 0.0 {
        return a;
    }
    if q >= 1.0 {
        return b;
    }
    let log_mass = log_gauss_mass(a, b);
    if a < 0.0 {
        ndtri_exp(log_add_exp(log_ndtr(a), q.ln() + log_mass))
    } else {
        -ndtri_exp(log_add_exp(log_ndtr(-b), (-q).ln_1p() + log_mass))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn special_functions_match_scipy() {
        // scipy.special.log_ndtr and scipy.stats.truncnorm.ppf values.
        assert!((log_ndtr(-30.0) - -454.321_243_956_343_27).abs() < 1e-9);
        assert!((log_ndtr(0.0) - 0.5f64.ln()).abs() < 1e-15);
        assert!((ppf(0.5, -1.0, 1.0)).abs() < 1e-12);
        assert!((ppf(0.975, -50.0, 50.0) - 1.959_963_984_540_054).abs() < 1e-7);
        assert!((ppf(0.3, 1.0, 3.0) - 1.218_781_080_246_165_2).abs() < 1e-7);
        let m = log_gauss_mass(-1.0, 1.0);
        // statrs's erf (Boost's rational fits) is off by ~4e-11 here; scipy's by ~1e-16.
        assert!((m - 0.682_689_492_137_085_9f64.ln()).abs() < 1e-9, "{m}");
    }

    #[test]
    fn split_ranks_pruned_after_complete() {
        let obs = |state| Observation {
            params: vec![],
            state,
        };
        let h = [
            obs(State::Pruned {
                step: 3,
                value: 0.0,
            }),
            obs(State::Complete(5.0)),
            obs(State::Pruned {
                step: 7,
                value: 9.0,
            }),
            obs(State::Complete(1.0)),
        ];
        let refs: Vec<&Observation> = h.iter().collect();
        let (below, above) = split(&refs, Direction::Minimize, 3);
        assert_eq!(below, vec![&h[1], &h[2], &h[3]]);
        assert_eq!(above, vec![&h[0]]);
        let (below, _) = split(&refs, Direction::Maximize, 1);
        assert_eq!(below, vec![&h[1]]);
    }

    #[test]
    fn weights_ramp_like_optuna() {
        let w = default_weights(30);
        assert_eq!(w.len(), 30);
        assert!((w[0] - 1.0 / 30.0).abs() < 1e-15 && (w[4] - 1.0).abs() < 1e-15);
        assert_eq!(gamma(1), 1);
        assert_eq!(gamma(100), 10);
        assert_eq!(gamma(1000), 25);
    }
}
