//! Result files: `runs.csv`, `epochs.csv` and one folder per run, always written atomically.

use std::io::Write;
use std::path::Path;

use anyhow::Context;

use super::run::{Outcome, Status};
use crate::spec::{Plan, Run};

/// Writes a file under a temporary name and renames it, so readers never see half a file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let tmp = path.with_extension(format!(
        "{}.tmp",
        path.extension().and_then(|e| e.to_str()).unwrap_or("")
    ));
    let written = std::fs::File::create(&tmp).and_then(|mut f| {
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    });
    written.map_err(|e| {
        // A partial file would only hold on to the space a full disk lacks.
        let _ = std::fs::remove_file(&tmp);
        write_error(path, e)
    })
}

/// The error of a failed write of `path`, saying so plainly when the disk is full.
pub fn write_error(path: &Path, e: std::io::Error) -> anyhow::Error {
    let what = if disk_full(&e) {
        format!("cannot write {} (the disk is full)", path.display())
    } else {
        format!("cannot write {}", path.display())
    };
    anyhow::Error::new(e).context(what)
}

fn disk_full(e: &std::io::Error) -> bool {
    use std::io::ErrorKind;
    matches!(e.kind(), ErrorKind::StorageFull | ErrorKind::QuotaExceeded)
}

/// Whether an error is the disk (or a quota) running out of space: a fault of the machine,
/// not of the run.
pub fn is_disk_full(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>().is_some_and(disk_full)
            || is_disk_full_message(&c.to_string())
    })
}

/// [`is_disk_full`] for an error already turned into text (a failed run's message), by the
/// OS's wording as `io::Error` prints it (Linux, macOS, Windows).
pub fn is_disk_full_message(message: &str) -> bool {
    [
        "No space left on device",
        "Disk quota exceeded",
        "not enough space on the disk",
    ]
    .iter()
    .any(|m| message.contains(m))
}

/// Columns every `runs.csv` has for the transfer settings, whether or not they are axes.
const FIXED: [(&str, &str); 5] = [
    ("strategy", "transfer.strategy"),
    ("freeze_depth", "transfer.freeze_depth"),
    ("backbone_lr_mult", "transfer.backbone_lr_mult"),
    ("labels_per_class", "target.labels_per_class"),
    ("seed", "experiment.seeds"),
];

/// Rebuilds `runs.csv` from the runs finished so far (`None` = not finished yet, left out).
pub fn write_runs_csv(
    path: &Path,
    plan: &Plan,
    outcomes: &[Option<Outcome>],
) -> anyhow::Result<()> {
    let extra: Vec<usize> = (0..plan.axes.len())
        .filter(|&i| FIXED.iter().all(|(_, p)| *p != plan.axes[i]))
        .collect();
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut header = vec!["run_id".to_string()];
    header.extend(FIXED.iter().map(|(n, _)| n.to_string()));
    header.extend(extra.iter().map(|&i| plan.axes[i].clone()));
    header.extend(
        [
            "status",
            "test_accuracy",
            "test_precision",
            "test_recall",
            "test_f1",
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
        row.extend(FIXED.iter().map(|(_, p)| fixed_value(run, p)));
        row.extend(extra.iter().map(|&i| blank_na(&run.axis_values[i])));
        let m = o.test.as_ref();
        let num = |f: &dyn Fn(&crate::train::Metrics) -> f64| {
            m.map_or(String::new(), |m| format!("{:.6}", f(m)))
        };
        row.push(o.status.as_str().into());
        row.push(num(&|m| m.accuracy));
        row.push(num(&|m| m.precision));
        row.push(num(&|m| m.recall));
        row.push(num(&|m| m.f1));
        row.push(if m.is_some() {
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
    w.write_record([
        "run_id",
        "epoch",
        "train_loss",
        "train_accuracy",
        "val_loss",
        "val_accuracy",
        "lr",
        "frozen_parts",
    ])?;
    for (run, outcome) in plan.runs.iter().zip(outcomes) {
        for e in outcome.iter().flat_map(|o| &o.epochs) {
            w.write_record([
                run.id.clone(),
                e.epoch.to_string(),
                format!("{:.6}", e.train_loss),
                format!("{:.6}", e.train_accuracy),
                format!("{:.6}", e.val_loss),
                format!("{:.6}", e.val_accuracy),
                format!("{}", e.lr),
                e.frozen_parts.to_string(),
            ])?;
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
        "transfer.backbone_lr_mult" => c.transfer.backbone_lr_mult.to_string(),
        "target.labels_per_class" => c.target.labels_per_class.to_string(),
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
