//! Searches beyond the grid: a setting written as a distribution (`lr = { log_uniform = [1e-5,
//! 1e-1] }`) is searched by `[search] method = "random" | "tpe"`, and `[search.stop]` stops
//! hopeless runs early (ASHA or the median rule), for searches and grids alike.

use std::ops::Range;

use serde::{Deserialize, Serialize};
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::schema::Monitor;
use crate::search::{Distribution, Value};

/// The distribution keys of a searched setting.
pub const KINDS: &[&str] = &["log_uniform", "uniform", "int", "choice"];

/// `[search] method`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// Every point of the grid (today's behaviour); distributions are refused.
    #[default]
    Grid,
    /// Independent draws from the distributions.
    Random,
    /// Tree-structured Parzen estimator, as Optuna's default sampler.
    Tpe,
}

impl Method {
    /// The TOML spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Grid => "grid",
            Method::Random => "random",
            Method::Tpe => "tpe",
        }
    }
}

/// `[search] direction`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Higher is better (accuracy, AP).
    Maximize,
    /// Lower is better (loss).
    Minimize,
}

/// `[search]`: how trials are chosen and judged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Search {
    /// `grid`, `random` or `tpe`.
    #[serde(default)]
    pub method: Method,
    /// Trials per grid cell (random and tpe).
    #[serde(default)]
    pub trials: usize,
    /// Seed of the proposals (the runs keep their own `seeds`).
    #[serde(default)]
    pub seed: u64,
    /// Validation metric the search optimises [default: the runs' `train.monitor`].
    #[serde(default)]
    pub metric: Option<Monitor>,
    /// Must agree with the metric when given (`val_loss` is minimised, the rest maximised).
    #[serde(default)]
    pub direction: Option<Direction>,
    /// Trials proposed together: each sees every trial of the earlier batches and none of its
    /// own, so the trials do not depend on `--jobs` or on timing.
    #[serde(default = "default_batch")]
    pub batch: usize,
    /// TPE: trials drawn at random before the model is used (Optuna's `n_startup_trials`).
    #[serde(default = "default_startup")]
    pub startup_trials: usize,
    /// `[search.stop]`: early stopping of hopeless runs.
    #[serde(default)]
    pub stop: Option<Stop>,
}

impl Default for Search {
    fn default() -> Self {
        Search {
            method: Method::Grid,
            trials: 0,
            seed: 0,
            metric: None,
            direction: None,
            batch: default_batch(),
            startup_trials: default_startup(),
            stop: None,
        }
    }
}

fn default_batch() -> usize {
    4
}

fn default_startup() -> usize {
    10
}

/// `[search.stop] method`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StopMethod {
    /// Asynchronous successive halving.
    Asha,
    /// Optuna's MedianPruner.
    Median,
}

/// `[search.stop]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stop {
    /// `asha` or `median`.
    pub method: StopMethod,
    /// ASHA: epochs before the first rung (rungs at grace·reduction^k).
    #[serde(default = "default_grace")]
    pub grace: usize,
    /// ASHA: the reduction factor η (the top 1/η of a rung go on).
    #[serde(default = "default_reduction")]
    pub reduction: usize,
    /// Median: epochs in which no run is stopped.
    #[serde(default)]
    pub warmup: usize,
    /// Median: finished runs needed before any run is stopped (Optuna's `n_startup_trials`).
    #[serde(default = "default_min_trials")]
    pub min_trials: usize,
}

fn default_grace() -> usize {
    1
}
fn default_reduction() -> usize {
    3
}
fn default_min_trials() -> usize {
    5
}

impl Search {
    /// The metric searched for, given the runs' monitor.
    pub fn metric_or(&self, monitor: Monitor) -> Monitor {
        self.metric.unwrap_or(monitor)
    }

    /// Trials proposed together: all of them for a random search without stopping (a random
    /// proposal sees no earlier trial), else `batch`.
    pub fn effective_batch(&self) -> usize {
        if self.method == Method::Random && self.stop.is_none() {
            self.trials.max(1)
        } else {
            self.batch.max(1)
        }
    }
}

/// The direction a metric is optimised in.
pub fn direction_of(metric: Monitor) -> Direction {
    match metric {
        Monitor::ValLoss => Direction::Minimize,
        _ => Direction::Maximize,
    }
}

/// One searched setting: its path, distribution and (for `choice`) the values listed.
#[derive(Debug, Clone)]
pub struct Dim<'i> {
    /// Dotted key path (`train.lr`).
    pub path: Vec<String>,
    /// What is drawn.
    pub dist: Distribution,
    /// A `choice`'s values in file order.
    pub choices: Vec<Spanned<DeValue<'i>>>,
    /// The value the grid is checked with before any trial: the low bound or first choice.
    pub first: Spanned<DeValue<'i>>,
    /// Byte span of the distribution in the file.
    pub span: Range<usize>,
}

impl<'i> Dim<'i> {
    /// The path joined with dots.
    pub fn name(&self) -> String {
        self.path.join(".")
    }

    /// The TOML text of a sampled number (`None` for a choice, whose value is the file's).
    pub fn text(&self, v: Value) -> Option<String> {
        match v {
            Value::Choice(_) => None,
            // `{:?}` keeps a decimal point or exponent, so TOML reads a float back.
            Value::Float(f) => Some(format!("{f:?}")),
            Value::Int(i) => Some(i.to_string()),
        }
    }

    /// The document value of a sampled value, `text` being [`Dim::text`]'s for it, spanned at
    /// the distribution (so a sampled value that fails a check is reported there).
    pub fn value<'a>(&self, v: Value, text: Option<&'a str>) -> Spanned<DeValue<'a>>
    where
        'i: 'a,
    {
        let value = match (v, text) {
            (Value::Choice(i), _) => self.choices[i].get_ref().clone(),
            (_, Some(t)) => DeValue::parse(t)
                .expect("a number formats as TOML")
                .into_inner(),
            (_, None) => panic!("a sampled number needs its text"),
        };
        Spanned::new(self.span.clone(), value)
    }

    /// The distribution as written, e.g. `log_uniform [1e-5, 0.1]`.
    pub fn describe(&self) -> String {
        match &self.dist {
            Distribution::Uniform { low, high } => format!("uniform [{low}, {high}]"),
            Distribution::LogUniform { low, high } => format!("log_uniform [{low}, {high}]"),
            Distribution::Int { low, high, log } => {
                format!("int [{low}, {high}]{}", if *log { " log" } else { "" })
            }
            Distribution::Choice { .. } => {
                let items: Vec<String> = self.choices.iter().map(|c| show(c.get_ref())).collect();
                format!("choice [{}]", items.join(", "))
            }
        }
    }
}

/// A document value as written in TOML.
fn show(v: &DeValue<'_>) -> String {
    match v {
        DeValue::String(s) => format!("\"{s}\""),
        DeValue::Integer(i) => i.to_string(),
        DeValue::Float(f) => f.to_string(),
        DeValue::Boolean(b) => b.to_string(),
        DeValue::Array(items) => {
            let items: Vec<String> = items.iter().map(|i| show(i.get_ref())).collect();
            format!("[{}]", items.join(", "))
        }
        other => other.type_str().to_string(),
    }
}

/// Whether a table is a distribution (`{ log_uniform = [...] }`) rather than a settings table.
pub fn is_distribution(table: &DeTable<'_>) -> bool {
    let keys: Vec<&str> = table.iter().map(|(k, _)| k.get_ref().as_ref()).collect();
    !keys.is_empty()
        && keys.iter().all(|k| KINDS.contains(k) || *k == "log")
        && keys.iter().any(|k| KINDS.contains(k))
}

/// A problem in a distribution: where, what, and what to do.
pub struct Bad {
    /// Byte span of the offending value.
    pub span: Range<usize>,
    /// What is wrong.
    pub message: String,
    /// What to do.
    pub help: String,
}

fn bad(span: Range<usize>, message: impl Into<String>, help: impl Into<String>) -> Bad {
    Bad {
        span,
        message: message.into(),
        help: help.into(),
    }
}

/// Reads the distribution table at `path` (spanned `span`).
pub fn dim<'i>(path: Vec<String>, table: &DeTable<'i>, span: Range<usize>) -> Result<Dim<'i>, Bad> {
    let kinds: Vec<_> = table
        .iter()
        .filter(|(k, _)| KINDS.contains(&k.get_ref().as_ref()))
        .collect();
    let [(key, value)] = kinds[..] else {
        return Err(bad(
            span,
            "a distribution has one kind",
            "write one of `log_uniform`, `uniform`, `int`, `choice`, e.g. `{ log_uniform = [1e-5, 1e-1] }`",
        ));
    };
    let log = match table.iter().find(|(k, _)| k.get_ref() == "log") {
        None => false,
        Some((k, v)) => match (key.get_ref().as_ref(), v.get_ref()) {
            ("int", DeValue::Boolean(b)) => *b,
            ("int", _) => return Err(bad(v.span(), "`log` is true or false", "e.g. `log = true`")),
            _ => {
                return Err(bad(
                    k.span(),
                    "`log` is for `int` distributions",
                    "use `log_uniform` for a float searched in log space",
                ));
            }
        },
    };
    let vspan = value.span();
    let DeValue::Array(items) = value.get_ref() else {
        return Err(bad(
            vspan,
            format!("`{}` takes a list", key.get_ref()),
            "e.g. `{ uniform = [0.0, 0.5] }` or `{ choice = [\"sgd\", \"adam\"] }`",
        ));
    };
    let items: Vec<Spanned<DeValue<'i>>> = items.iter().cloned().collect();
    let kind = key.get_ref().as_ref();
    if kind == "choice" {
        let Some(first) = items.first().cloned() else {
            return Err(bad(vspan, "empty choice", "list at least one value"));
        };
        return Ok(Dim {
            path,
            dist: Distribution::Choice { n: items.len() },
            choices: items,
            first,
            span,
        });
    }
    let bounds_help = format!("give `[low, high]` with low < high, e.g. `{{ {kind} = [1, 10] }}`");
    let [lo, hi] = &items[..] else {
        return Err(bad(vspan, "takes two bounds, [low, high]", bounds_help));
    };
    let dist = if kind == "int" {
        let int = |v: &Spanned<DeValue<'_>>| match v.get_ref() {
            DeValue::Integer(i) => i64::from_str_radix(i.as_str(), i.radix()).ok(),
            _ => None,
        };
        let (Some(low), Some(high)) = (int(lo), int(hi)) else {
            return Err(bad(vspan, "`int` bounds are integers", bounds_help));
        };
        if low >= high {
            return Err(bad(
                vspan,
                format!("low {low} is not below high {high}"),
                bounds_help,
            ));
        }
        if log && low < 1 {
            return Err(bad(
                lo.span(),
                format!("a log-scaled int needs low ≥ 1 (got {low})"),
                "raise the low bound to 1 or more, or drop `log = true`",
            ));
        }
        Distribution::Int { low, high, log }
    } else {
        let float = |v: &Spanned<DeValue<'_>>| {
            match v.get_ref() {
                DeValue::Integer(i) => i64::from_str_radix(i.as_str(), i.radix())
                    .ok()
                    .map(|i| i as f64),
                DeValue::Float(f) => f.as_str().replace('_', "").parse::<f64>().ok(),
                _ => None,
            }
            .filter(|f| f.is_finite())
        };
        let (Some(low), Some(high)) = (float(lo), float(hi)) else {
            return Err(bad(vspan, "bounds are finite numbers", bounds_help));
        };
        if low >= high {
            return Err(bad(
                vspan,
                format!("low {low} is not below high {high}"),
                bounds_help,
            ));
        }
        if kind == "log_uniform" {
            if low <= 0.0 {
                return Err(bad(
                    lo.span(),
                    format!("the log of a non-positive bound ({low}) does not exist"),
                    "give a positive low bound, e.g. 1e-6, or use `uniform`",
                ));
            }
            Distribution::LogUniform { low, high }
        } else {
            Distribution::Uniform { low, high }
        }
    };
    // The grid is checked with the low bound as written.
    Ok(Dim {
        path,
        dist,
        choices: Vec::new(),
        first: lo.clone(),
        span,
    })
}

/// A sampled value as shown in tables and CSVs.
pub fn label(dim: &Dim<'_>, v: Value) -> String {
    match v {
        Value::Choice(i) => show(dim.choices[i].get_ref()),
        Value::Float(f) => format!("{f}"),
        Value::Int(i) => i.to_string(),
    }
}
