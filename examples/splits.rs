//! Prints, as JSON, the images `sweep` tests, validates and trains on for a dataset, so that the
//! PyTorch reference learner (scripts/reference/quickstart_ref.py) uses the very same ones and a
//! comparison measures the learners, not two draws of the splits.
//!
//! `cargo run --release --example splits -- DATASET VAL_FRACTION SEEDS LABELS`, e.g.
//! `... uci-digits 0.2 0,1,2 5,20`: `{"test": [...], "val": [...], "candidates": [...],
//! "budgets": {"5": {"0": [...], ...}}}` (indices into the dataset's file order).

use std::collections::BTreeMap;

fn list(arg: &str) -> Vec<u64> {
    arg.split(',')
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().expect("a comma-separated list of numbers"))
        .collect()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [name, fraction, seeds, labels] = &args[..] else {
        eprintln!("usage: splits DATASET VAL_FRACTION SEEDS LABELS");
        std::process::exit(2);
    };
    // The size only decides the resize, not which images go where.
    let data = sweep::data::prepare(name, &[], None, 8).expect("the dataset loads");
    let (candidates, val) = data.val_split(fraction.parse().expect("a fraction"));
    let mut budgets: BTreeMap<String, BTreeMap<String, Vec<usize>>> = BTreeMap::new();
    for k in list(labels) {
        for seed in list(seeds) {
            let chosen = sweep::data::sample_per_class(&candidates, &data.labels, k as usize, seed);
            budgets
                .entry(k.to_string())
                .or_default()
                .insert(seed.to_string(), chosen);
        }
    }
    let out = serde_json::json!({
        "test": data.test,
        "val": val,
        "candidates": candidates,
        "budgets": budgets,
    });
    println!("{out}");
}
