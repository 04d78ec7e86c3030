//! Result files: `runs.csv`, `epochs.csv` and one folder per run, always written atomically.

use std::path::Path;

use anyhow::Context;

use super::run::{Outcome, Status};
use crate::io::write_atomic;
use crate::spec::{Plan, Run};

/// Columns every `runs.csv` has for the transfer settings, whether or not they are axes; the
/// label budget's is the task's. A plan that copies only some parts anywhere also gets
/// `transfer_depth` and Yosinski's name of each run's `treatment`.
fn fixed(plan: &Plan) -> Vec<(&'static str, &'static str)> {
    let budget = task(plan).budget();
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
        (budget.column, budget.path),
        ("seed", "experiment.seeds"),
    ]);
    columns
}

/// The `treatment` column's stand-in path.
const TREATMENT: &str = "treatment";

/// The task of a plan's runs (one per experiment file).
pub fn task(plan: &Plan) -> &'static dyn crate::task::Task {
    crate::task::of(
        plan.runs
            .first()
            .map_or(crate::spec::schema::Task::Classify, |r| {
                r.config.experiment.task
            }),
    )
}

/// The values of the task's test columns for an outcome (blank when it did not end well).
fn metric_values(o: &Outcome, columns: &[&str]) -> Option<Vec<f64>> {
    if o.scores.is_empty() {
        return None;
    }
    Some(
        crate::task::ordered(&o.scores, columns)
            .into_iter()
            .map(|v| v.unwrap_or(f64::NAN))
            .collect(),
    )
}

/// Rebuilds `runs.csv` from the runs finished so far (`None` = not finished yet, left out).
pub fn write_runs_csv(
    path: &Path,
    plan: &Plan,
    outcomes: &[Option<Outcome>],
) -> anyhow::Result<()> {
    let task = task(plan);
    let fixed = fixed(plan);
    let columns = task.test_columns();
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
        header.push(format!("search_{}", s.metric.name()));
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
        let values = metric_values(o, columns);
        row.push(o.status.as_str().into());
        if let Some(s) = search {
            row.push(
                super::search::best_value(o, task.metric(s.metric))
                    .map_or(String::new(), |v| format!("{v:.6}")),
            );
        }
        match &values {
            // A score the task did not record (a COCO metric without ground truth) is blank.
            Some(v) => row.extend(v.iter().map(|x| match x.is_nan() {
                true => String::new(),
                false => format!("{x:.6}"),
            })),
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
    // The task's validation scores: a detector is validated by AP50 alone, a segmenter by mIoU.
    let scores = task(plan).epoch_columns();
    let mut header = vec!["run_id", "epoch", "train_loss"];
    header.extend(scores);
    header.extend(["lr", "frozen_parts"]);
    w.write_record(&header)?;
    for (run, outcome) in plan.runs.iter().zip(outcomes) {
        for e in outcome.iter().flat_map(|o| &o.epochs) {
            let mut row = vec![
                run.id.clone(),
                e.epoch.to_string(),
                format!("{:.6}", e.train_loss),
            ];
            row.extend(scores.iter().map(|k| format!("{:.6}", e.score(k))));
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
    files.extend(outcome.files.iter().map(|(n, b)| (*n, b.clone())));
    let tb_name;
    if run.config.experiment.tensorboard && !outcome.epochs.is_empty() {
        let when = outcome.manifest.as_ref().map_or(0, |m| m.finished);
        tb_name = format!("tb/events.out.tfevents.{when}.sweep");
        let settings = super::tensorboard::settings(&run.config);
        files.push((
            tb_name.as_str(),
            super::tensorboard::events(
                &outcome.epochs,
                crate::task::of(run.config.experiment.task).epoch_columns(),
                &settings,
                when as f64,
            ),
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
