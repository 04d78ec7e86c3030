//! How many runs train at once and on how many threads each, when `sweep run` is not told.

use burn::module::Module;
use burn::tensor::Device;

use crate::spec::Plan;

/// Runs at once and threads per run for `runs` runs on `cores` cores, each run needing about
/// `run_bytes` of the machine's `memory` bytes.
///
/// One single-threaded run per core while there are at least as many runs as cores: parallel
/// runs beat threads (on 2 cores the quickstart finishes 1.36× sooner with two single-threaded
/// runs than with one two-threaded run at a time), because small convolutions split badly over
/// threads. Runs at once are capped so their memory fits in half the RAM; cores left over (fewer
/// runs than cores, or a large model) go to threads, `cores / jobs` per run.
pub fn choose(runs: usize, cores: usize, run_bytes: u64, memory: u64) -> (usize, usize) {
    let cores = cores.max(1);
    let fit = match run_bytes {
        0 => cores,
        b => ((memory / 2) / b).max(1) as usize,
    };
    let jobs = cores.min(runs.max(1)).min(fit);
    (jobs, (cores / jobs).max(1))
}

/// Estimated peak memory of one run of a model with `params` parameters: weights, gradients
/// and Adam's two moments (16 bytes a parameter) and 256 MiB for activations and batches.
pub fn run_bytes(params: usize) -> u64 {
    params as u64 * 16 + (256 << 20)
}

/// Total RAM in bytes, from `/proc/meminfo`; `None` where unknown.
pub fn total_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Parameter count of the largest model in the plan (each distinct model built once).
pub fn largest_model(plan: &Plan) -> usize {
    let mut seen = Vec::new();
    let mut largest = 0;
    for r in &plan.runs {
        let m = &r.config.model;
        if !seen.contains(m) {
            let params = crate::model::build(m, 3, 10, 0, &Device::flex()).num_params();
            largest = largest.max(params);
            seen.push(m.clone());
        }
    }
    largest
}

/// [`choose`] for a plan on this machine: its cores, its RAM and the plan's largest model.
pub fn auto(plan: &Plan) -> (usize, usize) {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    match total_memory() {
        Some(memory) => choose(
            plan.runs.len(),
            cores,
            run_bytes(largest_model(plan)),
            memory,
        ),
        None => choose(plan.runs.len(), cores, 0, 0),
    }
}
