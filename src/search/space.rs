//! Search spaces, sampled values and the random sampler (Optuna's `RandomSampler`).

use rand::Rng;
use rand::rngs::StdRng;

/// One searched parameter's distribution.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Distribution {
    /// A float drawn uniformly from `[low, high]`.
    Uniform {
        /// Lower bound.
        low: f64,
        /// Upper bound.
        high: f64,
    },
    /// A float drawn uniformly in log space from `[low, high]`, `low > 0`.
    LogUniform {
        /// Lower bound (> 0).
        low: f64,
        /// Upper bound.
        high: f64,
    },
    /// An integer in `[low, high]` (both inclusive), in log space when `log` (then `low >= 1`).
    Int {
        /// Lower bound, inclusive.
        low: i64,
        /// Upper bound, inclusive.
        high: i64,
        /// Whether the integer is searched in log space.
        log: bool,
    },
    /// An index into the file's list of `n` choices.
    Choice {
        /// How many choices there are (>= 1).
        n: usize,
    },
}

/// A sampled value.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Value {
    /// The value of a `Uniform` or `LogUniform` parameter.
    Float(f64),
    /// The value of an `Int` parameter.
    Int(i64),
    /// The index of a `Choice` parameter's choice.
    Choice(usize),
}

impl Distribution {
    /// Checks the bounds (finite, ordered, `low > 0` in log space, at least one choice).
    pub fn validate(&self) -> Result<(), String> {
        match *self {
            Distribution::Uniform { low, high } => {
                if !(low.is_finite() && high.is_finite() && low <= high) {
                    return Err(format!(
                        "uniform needs finite low <= high, got [{low}, {high}]"
                    ));
                }
            }
            Distribution::LogUniform { low, high } => {
                if !(low.is_finite() && high.is_finite() && 0.0 < low && low <= high) {
                    return Err(format!(
                        "log-uniform needs finite 0 < low <= high, got [{low}, {high}]"
                    ));
                }
            }
            Distribution::Int { low, high, log } => {
                if low > high {
                    return Err(format!("int needs low <= high, got [{low}, {high}]"));
                }
                if log && low < 1 {
                    return Err(format!("log int needs low >= 1, got {low}"));
                }
            }
            Distribution::Choice { n } => {
                if n == 0 {
                    return Err("a choice needs at least one option".into());
                }
            }
        }
        Ok(())
    }

    /// Whether the distribution holds a value `v` of its own kind, within its bounds.
    pub fn contains(&self, v: &Value) -> bool {
        self.internal(v).is_some()
    }

    /// The only value a single-point distribution can take, if it is one.
    pub(crate) fn single(&self) -> Option<Value> {
        match *self {
            Distribution::Uniform { low, high } | Distribution::LogUniform { low, high }
                if low == high =>
            {
                Some(Value::Float(low))
            }
            Distribution::Int { low, high, .. } if low == high => Some(Value::Int(low)),
            Distribution::Choice { n: 1 } => Some(Value::Choice(0)),
            _ => None,
        }
    }

    /// Optuna's internal representation (the value as a float, not log-transformed), or `None`
    /// for a value of another kind or out of bounds: such a value can't be placed in the space.
    pub(crate) fn internal(&self, v: &Value) -> Option<f64> {
        match (self, *v) {
            (&Distribution::Uniform { low, high }, Value::Float(x))
            | (&Distribution::LogUniform { low, high }, Value::Float(x))
                if low <= x && x <= high =>
            {
                Some(x)
            }
            (&Distribution::Int { low, high, .. }, Value::Int(x)) if low <= x && x <= high => {
                Some(x as f64)
            }
            (&Distribution::Choice { n }, Value::Choice(i)) if i < n => Some(i as f64),
            _ => None,
        }
    }

    /// The value for an internal representation that this distribution produced.
    pub(crate) fn external(&self, x: f64) -> Value {
        match *self {
            Distribution::Uniform { low, high } | Distribution::LogUniform { low, high } => {
                Value::Float(x.clamp(low, high))
            }
            Distribution::Int { low, high, .. } => Value::Int((x as i64).clamp(low, high)),
            Distribution::Choice { n } => Value::Choice((x as usize).min(n - 1)),
        }
    }
}

/// Panics with the offending parameter when a space is invalid: the spec layer validates first.
pub(crate) fn check(space: &[Distribution]) {
    for (i, d) in space.iter().enumerate() {
        if let Err(e) = d.validate() {
            panic!("search parameter {i}: {e}");
        }
    }
}

/// One uniform draw from `[0, 1)`, the only primitive both samplers consume.
pub(crate) fn uniform01(rng: &mut StdRng) -> f64 {
    rng.random::<f64>()
}

/// Draws one value for each parameter, uniformly in its space, the way Optuna's `RandomSampler`
/// does (log space for log distributions; log ints from `[ln(low - 0.5), ln(high + 0.5)]`).
///
/// # Panics
/// On an invalid distribution (see [`Distribution::validate`]).
pub fn random(space: &[Distribution], rng: &mut StdRng) -> Vec<Value> {
    check(space);
    space.iter().map(|d| random_one(d, rng)).collect()
}

/// One parameter's random draw; single-point distributions take no draw.
pub(crate) fn random_one(d: &Distribution, rng: &mut StdRng) -> Value {
    if let Some(v) = d.single() {
        return v;
    }
    match *d {
        Distribution::Uniform { low, high } => {
            // Optuna draws from [low, high) and keeps the value below `high`.
            let x = low + (high - low) * uniform01(rng);
            Value::Float(x.clamp(low, high.next_down()))
        }
        Distribution::LogUniform { low, high } => {
            let (l, h) = (low.ln(), high.ln());
            let x = (l + (h - l) * uniform01(rng)).exp();
            Value::Float(x.clamp(low, high.next_down()))
        }
        Distribution::Int {
            low,
            high,
            log: false,
        } => Value::Int(rng.random_range(low..=high)),
        Distribution::Int {
            low,
            high,
            log: true,
        } => {
            // Each integer owns [k - 0.5, k + 0.5] in log space, as Optuna's transform widens it,
            // so larger integers are drawn less often than smaller ones, in proportion to log.
            let (l, h) = ((low as f64 - 0.5).ln(), (high as f64 + 0.5).ln());
            let x = (l + (h - l) * uniform01(rng)).exp();
            // Python's round() rounds half to even.
            Value::Int((x.round_ties_even() as i64).clamp(low, high))
        }
        Distribution::Choice { n } => Value::Choice(rng.random_range(0..n)),
    }
}
