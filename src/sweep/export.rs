//! `sweep export`: a finished run's tested weights as a safetensors file under the checkpoint's
//! key names (torchvision's, or those the backbone was loaded with), and a JSON beside it with
//! what rebuilding and feeding the model takes.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde_json::json;

use super::{Status, ledger};
use crate::spec::{Plan, Run};

/// What `sweep export` wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct Exported {
    /// The run exported.
    pub run_id: String,
    /// The weights file.
    pub weights: PathBuf,
    /// The JSON describing the model.
    pub info: PathBuf,
}

/// Exports run `which` (an id, or `best`: the finished run with the highest test metric, as
/// the report's "best" line picks it) of the results folder `dir` to `out` (default
/// `DIR/export/<id>.safetensors`), with `<out>.json` beside it.
pub fn export(dir: &Path, which: &str, out: Option<&Path>) -> anyhow::Result<Exported> {
    let found = locate(dir, which, "export")?;
    let run = &found.plan.runs[found.run];
    let weights = match out {
        Some(p) => p.to_path_buf(),
        None => dir.join("export").join(format!("{}.safetensors", run.id)),
    };
    let info_path = weights.with_extension("json");
    let info = describe(run, &found.outcome, &found.sha)?;
    if let Some(parent) = weights.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    crate::io::write_atomic(&weights, &found.bytes)?;
    crate::io::write_atomic(&info_path, &serde_json::to_vec_pretty(&info)?)?;
    Ok(Exported {
        run_id: run.id.clone(),
        weights,
        info: info_path,
    })
}

/// A finished run's saved weights, checked against its manifest.
struct Found {
    plan: Plan,
    run: usize,
    outcome: super::Outcome,
    bytes: Vec<u8>,
    sha: String,
}

fn locate(dir: &Path, which: &str, verb: &str) -> anyhow::Result<Found> {
    let plan = ledger::plan(dir, verb)?;
    let file = dir.join("experiment.toml");
    let run = choose(dir, &plan, which)?;
    let id = plan.runs[run].id.clone();
    let outcome = ledger::load(dir, &id)
        .filter(|o| o.status == Status::Ok)
        .with_context(|| format!("run {id} has not finished well in {}", dir.display()))?;
    let source = ledger::run_dir(dir, &id).join("model.safetensors");
    let bytes = std::fs::read(&source).map_err(|_| {
        anyhow::anyhow!(
            "run {id} kept no weights ({} is missing: `save = \"none\"`, or an older sweep trained it); \
             train it again with `sweep run {} --only {id} --rerun all`",
            source.display(),
            file.display(),
        )
    })?;
    let sha = {
        use sha2::{Digest, Sha256};
        format!("{:x}", Sha256::digest(&bytes))
    };
    let recorded = outcome
        .manifest
        .as_ref()
        .and_then(|m| m.weights_sha256.clone());
    if recorded.as_deref() != Some(sha.as_str()) {
        bail!(
            "{} does not match the run's manifest (SHA-256 {sha}, recorded {}); the folder was changed after the run",
            source.display(),
            recorded.unwrap_or_else(|| "none".into())
        );
    }
    Ok(Found {
        plan,
        run,
        outcome,
        bytes,
        sha,
    })
}

fn choose(dir: &Path, plan: &Plan, which: &str) -> anyhow::Result<usize> {
    if which != "best" {
        return plan
            .runs
            .iter()
            .position(|r| r.id == which)
            .with_context(|| {
                format!(
                    "no run `{which}` in {}; its runs.csv lists the ids, or use `--run best`",
                    dir.display()
                )
            });
    }
    let mut best: Option<(usize, f64)> = None;
    for (i, r) in plan.runs.iter().enumerate() {
        let score = ledger::load(dir, &r.id)
            .filter(|o| o.status == Status::Ok)
            .and_then(|o| o.headline());
        if let Some(s) = score
            && best.is_none_or(|(_, b)| s > b)
        {
            best = Some((i, s));
        }
    }
    best.map(|(r, _)| r)
        .with_context(|| format!("{} holds no finished run yet", dir.display()))
}

/// The model's description: architecture, classes, input size and normalisation.
fn describe(run: &Run, outcome: &super::Outcome, sha: &str) -> anyhow::Result<serde_json::Value> {
    let c = &run.config;
    let task = crate::task::of(c.experiment.task);
    let inputs = task.inputs(
        run,
        outcome.input_normalisation.as_ref(),
        outcome.details.as_ref(),
    )?;
    let (channels, classes) = (inputs.channels, inputs.classes);
    let (mean, std) = inputs.normalisation.unzip();
    let class_ids: Vec<u64> = match (&c.target.classes, classes) {
        (ids, _) if !ids.is_empty() => ids.iter().map(|&i| u64::from(i)).collect(),
        (_, Some(k)) => (0..k as u64).collect(),
        _ => Vec::new(),
    };
    Ok(json!({
        "run_id": run.id,
        "task": format!("{:?}", c.experiment.task).to_lowercase(),
        "backbone": c.model.backbone,
        "model": c.model,
        "head": c.model.head.as_ref().map_or("torchvision".to_string(), |h| h.label()),
        "classes": classes,
        "class_ids": class_ids,
        "input_channels": channels,
        "input_size": c.model.input_size,
        "normalisation": {
            "name": inputs.normalisation_name,
            "mean": mean,
            "std": std,
            "applies_to": "pixels scaled to [0, 1], resized to input_size (area average down, bilinear up): (x - mean) / std per channel",
        },
        "test_metric": outcome.headline(),
        "weights_sha256": sha,
        "sweep_version": env!("CARGO_PKG_VERSION"),
    }))
}

/// A predictor for run `which` (an id or `best`) of the results folder `dir`, with the class ids
/// of the dataset its outputs stand for and the run's id.
pub fn predictor(
    dir: &Path,
    which: &str,
) -> anyhow::Result<(crate::model::predict::Predictor, Vec<u64>, String)> {
    let found = locate(dir, which, "predict --results")?;
    let run = &found.plan.runs[found.run];
    let c = &run.config;
    if !crate::task::of(c.experiment.task).predicts_images() {
        bail!(
            "run {} is a {} run; `sweep predict` classifies images",
            run.id,
            format!("{:?}", c.experiment.task).to_lowercase()
        );
    }
    let info = describe(run, &found.outcome, &found.sha)?;
    let floats = |key: &str| -> Vec<f32> {
        info["normalisation"][key]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_f64())
                    .map(|v| v as f32)
                    .collect()
            })
            .unwrap_or_default()
    };
    let channels = info["input_channels"].as_u64().unwrap_or(3) as usize;
    let classes = info["classes"].as_u64().unwrap_or(0) as usize;
    let path = ledger::run_dir(dir, &run.id).join("model.safetensors");
    let net = crate::model::build(
        &c.model,
        channels,
        classes,
        0,
        &burn::tensor::Device::flex(),
    );
    let (net, report) = crate::model::weights::load(net, &path)?;
    if !report.is_complete() {
        bail!(
            "{} does not fit run {}: {}",
            path.display(),
            run.id,
            report.describe()
        );
    }
    let ids = info["class_ids"]
        .as_array()
        .map(|a| a.iter().filter_map(|v| v.as_u64()).collect())
        .unwrap_or_default();
    let p = crate::model::predict::Predictor::with_network(
        net,
        c.model.input_size,
        channels,
        floats("mean"),
        floats("std"),
    );
    Ok((p, ids, run.id.clone()))
}
