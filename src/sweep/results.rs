//! Result files: `runs.csv`, `epochs.csv` and one folder per run, always written atomically.

use std::path::Path;

use anyhow::Context;

use super::run::{Outcome, Status};
use crate::io::write_atomic;
use crate::spec::schema::Task;
use crate::spec::{Plan, Run};

/// Columns every `runs.csv` has for the transfer settings, whether or not they are axes; the
/// label budget's is the task's. A plan that copies only some parts anywhere also gets
/// `transfer_depth` and Yosinski's name of each run's `treatment`.
fn fixed(plan: &Plan) -> Vec<(&'static str, &'static str)> {
    let budget = match task(plan) {
        Task::Classify => ("labels_per_class", "target.labels_per_class"),
        Task::Detect | Task::Segment => ("labelled_images", "target.labelled_images"),
    };
    let mut columns = vec![
        ("strategy", "transfer.strategy"),
        ("freeze_depth", "transfer.freeze_depth"),
    ];
    let depth = "transfer.transfer_depth";
    let partial = plan
        .runs
        .iter()
        .any(|r| r.config.transfer.transfer_depth.is_some());
    if partial || plan.axes.iter().any(|a| a == depth) {
        columns.extend([("transfer_depth", depth), ("treatment", TREATMENT)]);
    }
    columns.extend([
        ("backbone_lr_mult", "transfer.backbone_lr_mult"),
        budget,
        ("seed", "experiment.seeds"),
    ]);
    columns
}

/// The `treatment` column's stand-in path.
const TREATMENT: &str = "treatment";

/// The task of a plan's runs (one per experiment file).
fn task(plan: &Plan) -> Task {
    plan.runs
        .first()
        .map_or(Task::Classify, |r| r.config.experiment.task)
}

/// The test-metric columns of `runs.csv`, by task.
fn metric_columns(task: Task) -> &'static [&'static str] {
    match task {
        Task::Classify => &["test_accuracy", "test_precision", "test_recall", "test_f1"],
        Task::Detect => &[
            "test_ap50",
            "test_ap",
            "test_ap75",
            "test_ap_small",
            "test_ap_medium",
            "test_ap_large",
            "test_ar100",
        ],
        Task::Segment => &["test_miou", "test_pixel_accuracy", "test_mean_dice"],
    }
}

/// The values of [`metric_columns`] for an outcome (blank when it did not end well).
fn metric_values(o: &Outcome) -> Option<Vec<f64>> {
    if let Some(m) = &o.test {
        return Some(vec![m.accuracy, m.precision, m.recall, m.f1]);
    }
    if let Some(s) = &o.segmentation {
        return Some(vec![s.miou, s.pixel_accuracy, s.mean_dice]);
    }
    o.detection.map(|d| {
        vec![
            d.ap50,
            d.ap,
            d.ap75,
            d.ap_small,
            d.ap_medium,
            d.ap_large,
            d.ar100,
        ]
    })
}

/// Rebuilds `runs.csv` from the runs finished so far (`None` = not finished yet, left out).
pub fn write_runs_csv(
    path: &Path,
    plan: &Plan,
    outcomes: &[Option<Outcome>],
) -> anyhow::Result<()> {
    let task = task(plan);
    let fixed = fixed(plan);
    let columns = metric_columns(task);
    let extra: Vec<usize> = (0..plan.axes.len())
        .filter(|&i| fixed.iter().all(|(_, p)| *p != plan.axes[i]))
        .collect();
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut header = vec!["run_id".to_string()];
    header.extend(fixed.iter().map(|(n, _)| n.to_string()));
    header.extend(extra.iter().map(|&i| plan.axes[i].clone()));
    // A search's runs: their trial (index in the grid cell) and the searched metric's best.
    let search = plan.search.as_ref().filter(|s| s.samples());
    if search.is_some() {
        header.push("trial".into());
    }
    header.push("status".into());
    if let Some(s) = search {
        header.push(format!("search_{}", super::search::metric_name(s.metric)));
    }
    header.extend(columns.iter().map(|c| c.to_string()));
    header.extend(
        [
            "best_epoch",
            "epochs_run",
            "train_images",
            "seconds",
            "error",
        ]
        .map(String::from),
    );
    w.write_record(&header)?;
    for (run, outcome) in plan.runs.iter().zip(outcomes) {
        let Some(o) = outcome else { continue };
        let mut row = vec![run.id.clone()];
        row.extend(fixed.iter().map(|(_, p)| fixed_value(run, p)));
        row.extend(extra.iter().map(|&i| blank_na(&run.axis_values[i])));
        if search.is_some() {
            row.push(run.trial.map_or(String::new(), |t| t.to_string()));
        }
        let values = metric_values(o);
        row.push(o.status.as_str().into());
        if let Some(s) = search {
            row.push(
                super::search::best_value(o, s.metric).map_or(String::new(), |v| format!("{v:.6}")),
            );
        }
        match &values {
            Some(v) => row.extend(v.iter().map(|x| format!("{x:.6}"))),
            None => row.extend(columns.iter().map(|_| String::new())),
        }
        row.push(if values.is_some() {
            o.best_epoch.to_string()
        } else {
            String::new()
        });
        row.push(o.epochs.len().to_string());
        row.push(o.train_images.to_string());
        row.push(format!("{:.2}", o.seconds));
        row.push(match &o.status {
            Status::Failed(msg) => msg.clone(),
            Status::Diverged => format!("loss not finite in epoch {}", o.epochs.len() + 1),
            Status::Pruned => format!("stopped early after epoch {}", o.epochs.len()),
            Status::Ok => String::new(),
        });
        w.write_record(&row)?;
    }
    write_atomic(path, &w.into_inner()?)
}

/// Rebuilds `epochs.csv`: one row per run and epoch.
pub fn write_epochs_csv(
    path: &Path,
    plan: &Plan,
    outcomes: &[Option<Outcome>],
) -> anyhow::Result<()> {
    let mut w = csv::Writer::from_writer(Vec::new());
    // A detector is validated by AP50 alone, a segmenter by mIoU (no accuracy, no validation
    // loss).
    let task = task(plan);
    let dense = task != Task::Classify;
    let header: &[&str] = match task {
        Task::Classify => &[
            "run_id",
            "epoch",
            "train_loss",
            "train_accuracy",
            "val_loss",
            "val_accuracy",
            "lr",
            "frozen_parts",
        ],
        Task::Detect => &[
            "run_id",
            "epoch",
            "train_loss",
            "val_ap50",
            "lr",
            "frozen_parts",
        ],
        Task::Segment => &[
            "run_id",
            "epoch",
            "train_loss",
            "val_miou",
            "lr",
            "frozen_parts",
        ],
    };
    w.write_record(header)?;
    for (run, outcome) in plan.runs.iter().zip(outcomes) {
        for e in outcome.iter().flat_map(|o| &o.epochs) {
            let mut row = vec![
                run.id.clone(),
                e.epoch.to_string(),
                format!("{:.6}", e.train_loss),
            ];
            if !dense {
                row.push(format!("{:.6}", e.train_accuracy));
                row.push(format!("{:.6}", e.val_loss));
            }
            row.push(format!("{:.6}", e.val_accuracy));
            row.push(format!("{}", e.lr));
            row.push(e.frozen_parts.to_string());
            w.write_record(&row)?;
        }
    }
    write_atomic(path, &w.into_inner()?)
}

/// Writes `runs/<id>/` atomically: the run's expanded config, its test confusion matrix and
/// `outcome.json` (everything it reported, with its manifest), which marks it finished.
pub fn write_run_dir(out: &Path, run: &Run, outcome: &Outcome) -> anyhow::Result<()> {
    let config = toml::to_string(&run.config).context("cannot serialize the run's config")?;
    let mut files = vec![
        (
            "config.toml",
            format!("# run {}\n{config}", run.id).into_bytes(),
        ),
        (
            "outcome.json",
            serde_json::to_vec_pretty(outcome).context("cannot serialize the outcome")?,
        ),
    ];
    if let Some(m) = &outcome.test {
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
        files.push(("confusion.csv", w.into_inner()?));
    }
    if outcome.detection.is_some() {
        files.push(("detections.json", serde_json::to_vec(&outcome.detections)?));
    }
    if let Some(s) = &outcome.segmentation {
        files.push(("masks.json", serde_json::to_vec(&outcome.masks)?));
        // Per-class IoU and Dice, as the confusion matrix is for a classifier.
        let mut w = csv::Writer::from_writer(Vec::new());
        w.write_record(["class", "iou", "dice"])?;
        for (c, (iou, dice)) in s.iou.iter().zip(&s.dice).enumerate() {
            let f = |v: &Option<f64>| v.map_or(String::new(), |v| format!("{v:.6}"));
            w.write_record([c.to_string(), f(iou), f(dice)])?;
        }
        files.push(("classes.csv", w.into_inner()?));
    }
    let tb_name;
    if run.config.experiment.tensorboard && !outcome.epochs.is_empty() {
        let when = outcome.manifest.as_ref().map_or(0, |m| m.finished);
        tb_name = format!("tb/events.out.tfevents.{when}.sweep");
        let settings = super::tensorboard::settings(&run.config);
        files.push((
            tb_name.as_str(),
            super::tensorboard::events(&outcome.epochs, &settings, when as f64),
        ));
    }
    if let Some(m) = &outcome.model {
        files.push(("model.safetensors", m.best.clone()));
        if let Some(last) = &m.last {
            files.push(("model-last.safetensors", last.clone()));
        }
    }
    super::ledger::commit(out, &run.id, &files)
}

fn fixed_value(run: &Run, path: &str) -> String {
    let c = &run.config;
    let parts: Vec<&str> = path.split('.').collect();
    if !crate::spec::applies(c, &parts) {
        return String::new();
    }
    match path {
        "transfer.strategy" => c.transfer.strategy.as_str().into(),
        "transfer.freeze_depth" => c.transfer.freeze_depth.to_string(),
        "transfer.transfer_depth" => crate::spec::depth::copied_parts(c).to_string(),
        TREATMENT => crate::spec::depth::treatment(c),
        "transfer.backbone_lr_mult" => c.transfer.backbone_lr_mult.to_string(),
        "target.labels_per_class" => c.target.labels_per_class.to_string(),
        "target.labelled_images" => c.target.labelled_images.to_string(),
        "experiment.seeds" => c.experiment.seed.to_string(),
        _ => String::new(),
    }
}

fn blank_na(v: &str) -> String {
    if v == "-" {
        String::new()
    } else {
        v.to_string()
    }
}
