//! Classification: a backbone and its head on labelled images, scored by accuracy (with macro
//! precision, recall and F1, and the confusion matrix).

mod rules;
pub mod run;

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use burn::tensor::Device;

use super::{Budget, Inputs, Legacy, Metric, OnEpoch, Task, Tested, preflight};
use crate::data;
use crate::spec::{Monitor, Plan, Run, SpecError};
use crate::train::Metrics;

/// Classification's [`Task`].
pub struct Classify;

/// `runs.csv`'s test columns.
const TEST: [&str; 4] = ["test_accuracy", "test_precision", "test_recall", "test_f1"];

/// The test scores of a classifier's metrics, in [`TEST`] order.
fn scores(m: &Metrics) -> Vec<(&'static str, f64)> {
    TEST.into_iter()
        .zip([m.accuracy, m.precision, m.recall, m.f1])
        .collect()
}

/// `confusion.csv`: `confusion[true][predicted]` with class headers.
fn confusion_csv(m: &Metrics) -> anyhow::Result<Vec<u8>> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let classes = m.confusion.len();
    let mut header = vec!["true\\predicted".to_string()];
    header.extend((0..classes).map(|c| c.to_string()));
    w.write_record(&header)?;
    for (t, row) in m.confusion.iter().enumerate() {
        let mut r = vec![t.to_string()];
        r.extend(row.iter().map(u64::to_string));
        w.write_record(&r)?;
    }
    Ok(w.into_inner()?)
}

impl Task for Classify {
    fn name(&self) -> &'static str {
        "classify"
    }

    fn test_columns(&self) -> &'static [&'static str] {
        &TEST
    }

    fn epoch_columns(&self) -> &'static [&'static str] {
        &["train_accuracy", "val_loss", "val_accuracy"]
    }

    fn budget(&self) -> Budget {
        Budget {
            column: "labels_per_class",
            path: "target.labels_per_class",
            label: "labels/class",
        }
    }

    fn headline_label(&self) -> &'static str {
        "test acc"
    }

    fn progress(&self) -> (&'static str, &'static str) {
        ("val_accuracy", "val acc")
    }

    fn metric(&self, monitor: Monitor) -> Metric {
        crate::train::classify_metric(monitor)
    }

    fn finished(&self, scores: &BTreeMap<String, f64>) -> String {
        format!(
            "test acc {:.4}",
            scores.get("test_accuracy").copied().unwrap_or(f64::NAN)
        )
    }

    fn preflight(
        &self,
        plan: &Plan,
        run: usize,
        seen: &mut HashSet<String>,
    ) -> Result<(usize, usize), SpecError> {
        target(plan, run, seen)
    }

    fn train_and_test(
        &self,
        run: &Run,
        source: Option<&super::SourceInfo>,
        cache: &Path,
        device: &Device,
        on_epoch: &mut OnEpoch<'_>,
    ) -> anyhow::Result<Tested> {
        let (test, best_epoch, train_images, weights) =
            run::train_and_test(run, source, cache, device, on_epoch)?;
        Ok(Tested {
            scores: scores(&test),
            files: vec![("confusion.csv", confusion_csv(&test)?)],
            details: serde_json::to_value(&test)?,
            best_epoch,
            train_images,
            weights,
            normalisation: None,
        })
    }

    fn feature_group(&self, run: &Run) -> Option<String> {
        run::feature_group(run)
    }

    fn inputs(
        &self,
        run: &Run,
        _normalisation: Option<&(Vec<f32>, Vec<f32>)>,
        _details: Option<&serde_json::Value>,
    ) -> anyhow::Result<Inputs> {
        let c = &run.config;
        let named = crate::model::normalisation(&c.model);
        let data = data::target(&c.target, c.model.input_size, None)?;
        let (mean, std) = match named {
            Some(n) => (
                n.mean[..data.channels].to_vec(),
                n.std[..data.channels].to_vec(),
            ),
            None => (data.mean.clone(), data.std.clone()),
        };
        Ok(Inputs {
            channels: Some(data.channels),
            classes: Some(data.classes),
            normalisation: Some((mean, std)),
            normalisation_name: named.map_or("dataset", |n| n.name),
        })
    }

    fn predicts_images(&self) -> bool {
        true
    }

    fn legacy(&self, old: &serde_json::Map<String, serde_json::Value>) -> Option<Legacy> {
        let details = old.get("test").filter(|v| !v.is_null())?.clone();
        let m: Metrics = serde_json::from_value(details.clone()).ok()?;
        Some(Legacy {
            scores: scores(&m),
            details,
        })
    }
}

/// The target checks of a classification run: labels, budget, validation images; gives the
/// (channels, classes) the network is fed.
fn target(plan: &Plan, i: usize, seen: &mut HashSet<String>) -> Result<(usize, usize), SpecError> {
    let c = &plan.runs[i].config;
    let size = c.model.input_size;
    let norm = crate::model::normalisation(&c.model).map(|n| (n.mean, n.std));
    let target = data::target(&c.target, size, norm).map_err(|e| {
        plan.error_at(
            i,
            "target.dataset",
            format!("{e:#}"),
            preflight::DATASET_HELP,
        )
    })?;
    if seen.insert(format!("target {:?} {size}", c.target)) {
        let field = match c.target.classes.is_empty() {
            true => "target.dataset",
            false => "target.classes",
        };
        preflight::no_empty_class(&target, &target.pool).map_err(|m| {
            plan.error_at(i, field, m, "labels must be 0 to N-1 with every class present; keep the classes you have with `classes = [...]`")
        })?;
    }
    let (candidates, val) = target.val_split(c.target.val_fraction);
    if val.is_empty() || candidates.is_empty() {
        return Err(plan.error_at(
            i,
            "target.val_fraction",
            format!(
                "leaves {} images to train on and {} to validate on",
                candidates.len(),
                val.len()
            ),
            "choose a fraction that leaves images on both sides, e.g. 0.2",
        ));
    }
    let budget = c.target.labels_per_class;
    if budget > 0
        && let Some((class, n)) = preflight::counts(&target, &candidates)
            .into_iter()
            .enumerate()
            .find(|&(_, n)| n < budget)
    {
        return Err(plan.error_at(
            i,
            "target.labels_per_class",
            format!(
                "{budget} labels per class asked for, but class {class} of `{}` has only {n} images to draw them from (after the test split and `val_fraction`)",
                c.target.dataset
            ),
            format!("ask for at most {n}, or write `labels_per_class = \"all\"` to use every image"),
        ));
    }
    Ok((target.channels, target.classes))
}
