//! Checks that need the files (each task checks its own target data) an experiment reads: every dataset, label budget and weights file,
//! before a results folder is touched, so one bad file is one error instead of a failed sweep.

use std::collections::HashSet;

use burn::tensor::Device;

use crate::data::{self, Prepared};
use crate::model;
use crate::spec::{Plan, SpecError};

/// Loads every dataset and weights file the plan's runs read and checks them against the runs:
/// labels in range with no empty class, label budgets that every class can fill, validation
/// images to choose a model on, weights whose keys and shapes fit the backbone. The first
/// problem is returned, naming the file, the line of the setting and the setting.
pub fn check(plan: &Plan) -> Result<(), SpecError> {
    let mut seen = HashSet::new();
    for (i, run) in plan.runs.iter().enumerate() {
        let c = &run.config;
        let size = c.model.input_size;
        let mut fed = super::of(c.experiment.task).preflight(plan, i, &mut seen)?;
        if let Some(s) = &c.source {
            let source = data::prepare(&s.dataset, &s.classes, s.crop, size)
                .map_err(|e| plan.error_at(i, "source.dataset", format!("{e:#}"), DATASET_HELP))?;
            if seen.insert(format!("source {s:?} {size}")) {
                no_empty_class(&source, &source.pool).map_err(|m| {
                    plan.error_at(
                        i,
                        "source.dataset",
                        m,
                        "keep the classes you have with `classes = [...]` in [source]",
                    )
                })?;
            }
            fed = (source.channels, source.classes);
        }
        if c.model.weights.is_some() && seen.insert(format!("weights {:?} {fed:?}", c.model)) {
            weights_fit(c, fed).map_err(|m| {
                plan.error_at(
                    i,
                    "model.weights",
                    m,
                    "give a .safetensors or PyTorch state dict saved from the same backbone (torchvision's key names), or set `allow_partial = true` in [model]",
                )
            })?;
        }
    }
    Ok(())
}

/// A dense run's validation split leaves `images` on both sides, and its label budget fits the
/// training pool.
pub(crate) fn budget_fits(
    plan: &Plan,
    i: usize,
    (pool, val): (usize, usize),
    images: &str,
) -> Result<(), SpecError> {
    let c = &plan.runs[i].config;
    if pool == 0 || val == 0 {
        return Err(plan.error_at(
            i,
            "target.val_fraction",
            format!("leaves {pool} {images} to train on and {val} to validate on"),
            format!("choose a fraction that leaves {images} on both sides, e.g. 0.2"),
        ));
    }
    if c.target.labelled_images > pool {
        return Err(plan.error_at(
            i,
            "target.labelled_images",
            format!(
                "{} labelled {images} asked for, but `{}` has {pool} to draw them from (after the test split and `val_fraction`)",
                c.target.labelled_images, c.target.dataset,
            ),
            format!("ask for at most {pool}, or leave `labelled_images` out to use every one"),
        ));
    }
    Ok(())
}

pub(crate) const SEGMENT_HELP: &str = "use `digit-scenes` or masks in files (`masks:IMAGES_DIR:MASKS_DIR`, `voc-seg:DIR`, `coco-seg:annotations.json`; `sweep datasets` lists them)";

pub(crate) const DETECT_HELP: &str = "use `digit-scenes` or a detection dataset in files (`coco:annotations.json`, `yolo:DIR`, `voc:DIR`; `sweep datasets` lists them)";

pub(crate) const DATASET_HELP: &str = "use a registered dataset (`sweep datasets` lists them) or `format:path` (cifar10:, folder:, idx:, csv:) pointing at readable files";

/// Images per class among `indices`.
pub(crate) fn counts(d: &Prepared, indices: &[usize]) -> Vec<usize> {
    let mut n = vec![0; d.classes];
    for &i in indices {
        n[d.labels[i] as usize] += 1;
    }
    n
}

pub(crate) fn no_empty_class(d: &Prepared, pool: &[usize]) -> Result<(), String> {
    let n = counts(d, pool);
    let empty: Vec<usize> = (0..n.len()).filter(|&k| n[k] == 0).collect();
    match empty.as_slice() {
        [] => Ok(()),
        _ => {
            let shown: Vec<String> = empty.iter().take(8).map(|k| k.to_string()).collect();
            Err(format!(
                "`{}`'s labels run from 0 to {}, but {} of those {} classes have no training images (class {}{})",
                d.name,
                n.len() - 1,
                empty.len(),
                n.len(),
                shown.join(", "),
                if empty.len() > shown.len() {
                    ", ..."
                } else {
                    ""
                }
            ))
        }
    }
}

/// Builds the run's backbone and loads its weights file into it, as its first training step will.
fn weights_fit(
    c: &crate::spec::RunConfig,
    (channels, classes): (usize, usize),
) -> Result<(), String> {
    let path = model::weights_file(&c.model).map_err(|e| format!("{e:#}"))?;
    // A folder where the file belongs is already refused when the file is parsed (validate).
    let Some(path) = path else { return Ok(()) };
    let load = || {
        model::pretrained(
            &c.model,
            &path,
            channels,
            classes,
            0,
            c.model.allow_partial,
            &Device::flex(),
        )
        .map(drop)
    };
    // A reader handed garbage may panic deep inside; that is a bad file, not a crash.
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(load)) {
        Ok(result) => result.map_err(|e| format!("{e:#}")),
        Err(_) => Err(format!(
            "{} is not a readable weights file (the reader failed on its contents)",
            path.display()
        )),
    }
}
