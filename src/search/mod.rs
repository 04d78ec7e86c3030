//! TEMPORARY: the sampler types, until the sampler branch lands (random only).

use rand::Rng;
use rand::rngs::StdRng;

/// One searched parameter's distribution.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Distribution {
    /// Uniform on [low, high].
    Uniform { low: f64, high: f64 },
    /// Uniform in log space.
    LogUniform { low: f64, high: f64 },
    /// Integers, inclusive bounds.
    Int { low: i64, high: i64, log: bool },
    /// An index into the file's choices.
    Choice { n: usize },
}
/// A sampled value.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Value {
    /// A float.
    Float(f64),
    /// An integer.
    Int(i64),
    /// A choice's index.
    Choice(usize),
}
/// Whether lower or higher objective values are better.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Lower is better.
    Minimize,
    /// Higher is better.
    Maximize,
}
/// What became of a finished trial.
#[derive(Debug, Clone, PartialEq)]
pub enum State {
    /// Finished, with its value.
    Complete(f64),
    /// Stopped early.
    Pruned { step: usize, value: f64 },
    /// Failed.
    Failed,
}
/// One finished trial.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    /// Its parameters.
    pub params: Vec<Value>,
    /// Its end.
    pub state: State,
}
/// TPE settings.
#[derive(Debug, Clone, Default)]
pub struct TpeConfig {
    /// Random trials first.
    pub startup_trials: usize,
    /// Candidates.
    pub ei_candidates: usize,
    /// Prior weight.
    pub prior_weight: f64,
}
/// Random sample.
pub fn random(space: &[Distribution], rng: &mut StdRng) -> Vec<Value> {
    space
        .iter()
        .map(|d| match *d {
            Distribution::Uniform { low, high } => Value::Float(rng.random_range(low..=high)),
            Distribution::LogUniform { low, high } => {
                Value::Float(rng.random_range(low.ln()..=high.ln()).exp())
            }
            Distribution::Int { low, high, .. } => Value::Int(rng.random_range(low..=high)),
            Distribution::Choice { n } => Value::Choice(rng.random_range(0..n)),
        })
        .collect()
}
/// TPE (temporary: random).
pub fn tpe(
    space: &[Distribution],
    _history: &[Observation],
    _direction: Direction,
    _cfg: &TpeConfig,
    rng: &mut StdRng,
) -> Vec<Value> {
    random(space, rng)
}

pub mod prune;
