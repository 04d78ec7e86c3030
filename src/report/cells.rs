//! Cells (runs that differ only in seed), their statistics, and the comparison with scratch.

use std::collections::BTreeMap;

use super::stats::{Summary, paired};
use super::table::Runs;

/// Below this many paired seeds a cell is not judged.
pub const MIN_SEEDS: usize = 3;

/// What the comparison with scratch says about a cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The cell is a scratch baseline.
    Scratch,
    /// Fewer than [`MIN_SEEDS`] seeds with a scratch twin.
    NotEnoughSeeds,
    /// No scratch run with the same settings and seed.
    NoScratch,
    /// The whole 95% interval of (transfer - scratch) is below 0.
    NegativeTransfer,
    /// The whole interval is above 0.
    PositiveTransfer,
    /// The interval contains 0.
    NoClearDifference,
}

impl Verdict {
    /// Words for tables.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Scratch => "baseline",
            Verdict::NotEnoughSeeds => "not enough seeds",
            Verdict::NoScratch => "no scratch twin",
            Verdict::NegativeTransfer => "NEGATIVE TRANSFER",
            Verdict::PositiveTransfer => "transfer helps",
            Verdict::NoClearDifference => "no clear difference",
        }
    }
}

/// Runs that differ only in their seed.
#[derive(Debug, Clone)]
pub struct Cell {
    /// The configuration columns (name, value) other than the seed.
    pub key: Vec<(String, String)>,
    /// How the backbone is used: strategy and the transfer settings that vary in the file.
    pub setting: String,
    /// The other settings that vary (`train.augment=heavy`), empty when none.
    pub others: String,
    /// Label budget as written (`0` = all).
    pub labels_per_class: String,
    /// Mean labelled training images per class of the finished runs (for log axes).
    pub images_per_class: f64,
    /// Rows of the finished runs, and the number that failed or diverged.
    pub rows: Vec<usize>,
    /// Runs that did not finish well.
    pub failed: usize,
    /// Test accuracy over seeds.
    pub accuracy: Option<Summary>,
    /// Paired (transfer - scratch) over the seeds that have a scratch twin.
    pub vs_scratch: Option<Summary>,
    /// The judgement.
    pub verdict: Verdict,
}

/// Whether a configuration column describes the transfer (absent from scratch runs).
pub fn is_transfer_column(name: &str) -> bool {
    matches!(
        name,
        "strategy" | "freeze_depth" | "backbone_lr_mult" | "transfer_depth" | "treatment"
    ) || name.starts_with("transfer.")
        || name.starts_with("source.")
        || matches!(
            name,
            "model.weights" | "model.sha256" | "model.allow_partial"
        )
}

/// Groups the rows into cells and compares every transfer cell with its scratch twins.
pub fn cells(runs: &Runs, classes: usize) -> Vec<Cell> {
    let names: Vec<&str> = runs
        .config
        .iter()
        .map(|&c| runs.columns[c].as_str())
        .collect();
    // A setting varies when it takes two different values where it applies.
    let varies = |c: usize| {
        let mut set: Vec<&str> = runs
            .rows
            .iter()
            .map(|r| r[c].as_str())
            .filter(|v| !v.is_empty())
            .collect();
        set.sort_unstable();
        set.dedup();
        set.len() > 1
    };
    let mut groups: BTreeMap<Vec<(String, String)>, Vec<usize>> = BTreeMap::new();
    for (r, row) in runs.rows.iter().enumerate() {
        let key = runs
            .config
            .iter()
            .zip(&names)
            .filter(|(_, n)| **n != "seed")
            .map(|(&c, n)| (n.to_string(), row[c].clone()))
            .collect();
        groups.entry(key).or_default().push(r);
    }
    // Scratch accuracy by (shared settings, seed).
    let shared = |r: usize| -> Vec<String> {
        runs.config
            .iter()
            .zip(&names)
            .filter(|(_, n)| !is_transfer_column(n))
            .map(|(&c, _)| runs.rows[r][c].clone())
            .collect()
    };
    let mut scratch: BTreeMap<Vec<String>, f64> = BTreeMap::new();
    for r in 0..runs.rows.len() {
        if runs.get(r, "strategy") == "scratch"
            && let Some(a) = runs.accuracy(r)
        {
            scratch.insert(shared(r), a);
        }
    }
    groups
        .into_iter()
        .map(|(key, rows)| {
            let value = |n: &str| {
                key.iter()
                    .find(|(k, _)| k == n)
                    .map_or("", |(_, v)| v.as_str())
            };
            let strategy = value("strategy").to_string();
            let mut setting = strategy.clone();
            let mut others = Vec::new();
            for (&c, n) in runs.config.iter().zip(&names) {
                if *n == "seed" || *n == "strategy" || *n == runs.metric.budget_column || !varies(c)
                {
                    continue;
                }
                let v = value(n);
                if is_transfer_column(n) {
                    // A linear probe freezes everything: its depth says nothing more.
                    if !v.is_empty() && strategy != "linear-probe" {
                        setting.push_str(&format!(" {}={v}", short(n)));
                    }
                } else {
                    others.push(format!("{}={v}", short(n)));
                }
            }
            let ok: Vec<usize> = rows
                .iter()
                .copied()
                .filter(|&r| runs.accuracy(r).is_some())
                .collect();
            let accs: Vec<f64> = ok.iter().filter_map(|&r| runs.accuracy(r)).collect();
            let accuracy = (!accs.is_empty()).then(|| Summary::of(&accs));
            let per_class = ok
                .iter()
                .filter_map(|&r| runs.get(r, "train_images").parse::<f64>().ok())
                .sum::<f64>()
                / ok.len().max(1) as f64
                / classes.max(1) as f64;
            let (mut t, mut s) = (Vec::new(), Vec::new());
            for &r in &ok {
                if let Some(b) = scratch.get(&shared(r)) {
                    t.push(runs.accuracy(r).expect("ok"));
                    s.push(*b);
                }
            }
            let vs_scratch = (strategy != "scratch" && !t.is_empty()).then(|| paired(&t, &s));
            let verdict = match (&vs_scratch, strategy.as_str()) {
                (_, "scratch") => Verdict::Scratch,
                (None, _) => Verdict::NoScratch,
                (Some(d), _) if d.n < MIN_SEEDS => Verdict::NotEnoughSeeds,
                (Some(d), _) => {
                    let (lo, hi) = d.interval();
                    if hi < 0.0 {
                        Verdict::NegativeTransfer
                    } else if lo > 0.0 {
                        Verdict::PositiveTransfer
                    } else {
                        Verdict::NoClearDifference
                    }
                }
            };
            Cell {
                labels_per_class: value(runs.metric.budget_column).to_string(),
                setting,
                others: others.join(" "),
                images_per_class: per_class,
                failed: rows.len() - ok.len(),
                rows: ok,
                accuracy,
                vs_scratch,
                verdict,
                key,
            }
        })
        .collect()
}

/// A column's name without its table (`train.augment` -> `augment`).
pub fn short(name: &str) -> &str {
    name.rsplit('.').next().unwrap_or(name)
}
