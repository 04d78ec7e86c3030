//! The source (pretraining) stage: trained once per distinct config, cached on disk by hash.

use std::path::Path;
use std::time::Instant;

use anyhow::Context;
use burn::tensor::Device;
use rand::seq::SliceRandom;

use crate::data;
use crate::model;
use crate::spec::schema::{ModelSpec, Source};
use crate::train::{self, Settings};

pub use crate::task::source::{SourceInfo, backbone_spec, key, paths};

/// Seed of the fixed evaluation subsets (`eval_limit`).
const EVAL_SEED: u64 = 0xE7A1;

/// Returns the cached source stage, training and caching it first when absent.
pub fn obtain(
    source: &Source,
    spec: &ModelSpec,
    cache: &Path,
    device: &Device,
    log: &dyn Fn(String),
) -> anyhow::Result<SourceInfo> {
    let key = key(source, spec);
    let spec = &backbone_spec(spec);
    let (weights, info_path) = paths(cache, &key);
    let ckpt_log = |line: String| log(format!("source {key}: {line}"));
    let checkpoint = train::checkpoint::Checkpoint::new(
        cache.join(format!("source-{key}.ckpt")),
        &key,
        &ckpt_log,
    );
    let cached = || {
        let text = std::fs::read_to_string(&info_path).ok()?;
        let info = serde_json::from_str::<SourceInfo>(&text).ok()?;
        weights.exists().then_some(info)
    };
    // Other processes sharing the cache (array tasks, `--shard`s) may want this stage too: one
    // trains it while the others wait, and whoever outlives a dead trainer resumes its
    // checkpoint.
    let claim_path = cache.join(format!("source-{key}.claim"));
    let mut told = false;
    let _claim = loop {
        if let Some(info) = cached() {
            log(format!(
                "source {key}: reusing {} (test accuracy {:.4})",
                weights.display(),
                info.test_accuracy
            ));
            // Left behind by a kill between storing the stage and removing its checkpoint.
            checkpoint.remove();
            return Ok(info);
        }
        let taken = crate::sweep::claim::Claim::take(&claim_path)
            .with_context(|| format!("cannot claim {}", claim_path.display()))?;
        match taken {
            Ok((claim, _)) if cached().is_none() => break claim,
            Ok(_) => continue,
            Err(owner) => {
                if !told {
                    log(format!(
                        "source {key}: being trained by {owner}; waiting for it"
                    ));
                    told = true;
                }
                std::thread::sleep(crate::sweep::POLL);
            }
        }
    };
    let start = Instant::now();
    let data = data::prepare(
        &source.dataset,
        &source.classes,
        source.crop,
        spec.input_size,
    )?;
    let (candidates, val) = data.val_split(0.1);
    let cap =
        |idx: &[usize]| data::stratified_subset(idx, &data.labels, source.eval_limit, EVAL_SEED);
    let (val, test) = (cap(&val), cap(&data.test));
    let mut train_idx = candidates;
    if let Some(limit) = source.limit {
        train_idx.shuffle(&mut crate::seed::rng(source.seed, "source-limit", 0));
        train_idx.truncate(limit);
        train_idx.sort_unstable();
    }
    // Two source stages of one file often differ only in their classes (A and B halves).
    let classes = match source.classes.as_slice() {
        [] => String::new(),
        c => format!(
            " (classes {})",
            c.iter().map(u8::to_string).collect::<Vec<_>>().join(", ")
        ),
    };
    log(format!(
        "source {key}: training on {} images of {}{classes} for {} epochs",
        train_idx.len(),
        source.dataset,
        source.epochs
    ));
    let net = match model::weights_file(spec)? {
        Some(w) => model::pretrained(
            spec,
            &w,
            data.channels,
            data.classes,
            source.seed,
            spec.allow_partial,
            device,
        )?,
        None => model::build(spec, data.channels, data.classes, source.seed, device),
    };
    let settings = Settings {
        weight_decay: source.weight_decay,
        ..Settings::new(
            source.epochs,
            source.batch_size,
            source.optimizer,
            source.lr,
            source.seed,
        )
    };
    let mut on_epoch = |e: &train::EpochLog| {
        log(format!(
            "source {key}: epoch {} train loss {:.4} val accuracy {:.4}",
            e.epoch,
            e.train_loss,
            e.score("val_accuracy")
        ));
    };
    let fitted = train::fit_resumable(
        net,
        &data,
        &train_idx,
        &val,
        &settings,
        device,
        &mut on_epoch,
        Some(&checkpoint),
    )?;
    let test = train::evaluate(&fitted.best, &data, &test, device);
    let info = SourceInfo {
        key: key.clone(),
        dataset: source.dataset.clone(),
        channels: data.channels,
        classes: data.classes,
        test_accuracy: train::accuracy(&test),
        best_epoch: fitted.best_epoch,
        seconds: start.elapsed().as_secs_f64(),
    };
    std::fs::create_dir_all(cache).with_context(|| format!("cannot create {}", cache.display()))?;
    // Written under temporary names and renamed, so a crash never leaves a half-written entry.
    let tmp = weights.with_extension(format!("safetensors.{}.tmp", std::process::id()));
    model::weights::save_safetensors(&fitted.best, &tmp)?;
    crate::io::write_atomic(&info_path, serde_json::to_string_pretty(&info)?.as_bytes())?;
    std::fs::rename(&tmp, &weights)?;
    checkpoint.remove();
    log(format!(
        "source {key}: test accuracy {:.4} after {:.1}s",
        info.test_accuracy, info.seconds
    ));
    Ok(info)
}
