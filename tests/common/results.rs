//! Helpers for tests that compare results folders and read `sweep run` logs.
#![allow(dead_code)] // each test file uses its own subset

use std::path::Path;

/// A CSV without its `seconds` column (wall time is the one thing allowed to differ).
pub fn without_seconds(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    let header: Vec<&str> = text.lines().next().unwrap().split(',').collect();
    let drop = header.iter().position(|h| *h == "seconds");
    let mut r = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(text.as_bytes());
    r.records()
        .map(|rec| {
            let rec = rec.unwrap();
            let cells: Vec<&str> = rec
                .iter()
                .enumerate()
                .filter(|(i, _)| Some(*i) != drop)
                .map(|(_, c)| c)
                .collect();
            cells.join(",")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Ids of the runs a `sweep run` log says it trained and tested (not those it read back).
pub fn trained(log: &str) -> Vec<String> {
    log.lines()
        .filter(|l| l.contains(" test acc ") && !l.contains("trained by another process"))
        .filter_map(|l| {
            l.split("] run ")
                .nth(1)?
                .split(' ')
                .next()
                .map(String::from)
        })
        .collect()
}

/// Six runs named `name`: scratch and fine-tuned from a one-epoch MNIST source stage, three
/// seeds, `labels` labels per class of the UCI digits, `epochs` epochs.
pub fn grid_toml(name: &str, labels: usize, epochs: usize) -> String {
    format!(
        r#"
[experiment]
name = "{name}"
seeds = [0, 1, 2]

[source]
dataset = "mnist-10k"
limit = 300
epochs = 1

[target]
dataset = "uci-digits"
labels_per_class = {labels}

[model]
backbone = "resnet-mini"
width = 8
stages = 2

[train]
epochs = {epochs}
patience = 0

[transfer]
strategy = ["scratch", "finetune"]
freeze_depth = 1
"#
    )
}

/// A TPE search named `name`: 6 trials over lr in batches of 2, one seed, runs of about a second
/// (long enough for two processes to meet in every batch).
pub fn search_toml(name: &str) -> String {
    format!(
        r#"
[experiment]
name = "{name}"
seeds = [0]

[target]
dataset = "uci-digits"
labels_per_class = 30

[model]
backbone = "resnet-mini"
width = 8
stages = 2

[train]
epochs = 10
patience = 0
lr = {{ log_uniform = [1e-3, 0.5] }}

[transfer]
strategy = "scratch"

[search]
method = "tpe"
trials = 6
batch = 2
seed = 3
startup_trials = 2
"#
    )
}
