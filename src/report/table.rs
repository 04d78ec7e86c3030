//! Reading a results folder: `runs.csv`, `epochs.csv`, `runs/<id>/confusion.csv`.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

/// The test metric a report compares runs by, and its label budget: the task's.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Metric {
    /// Its column in runs.csv.
    pub column: &'static str,
    /// The validation metric's column in epochs.csv.
    pub val_column: &'static str,
    /// Its name in titles and sentences (`test accuracy`).
    pub name: &'static str,
    /// What its values are, for axis labels.
    pub unit: &'static str,
    /// The label budget's column in runs.csv.
    pub budget_column: &'static str,
    /// The budget's short label (`labels/class`).
    pub budget: &'static str,
    /// The budget in words, for axis labels.
    pub budget_long: &'static str,
}

/// Classification's metric.
pub const ACCURACY: Metric = Metric {
    column: "test_accuracy",
    val_column: "val_accuracy",
    name: "test accuracy",
    unit: "fraction correct",
    budget_column: "labels_per_class",
    budget: "labels/class",
    budget_long: "labelled images per class",
};

/// Detection's metric: COCO AP at IoU 0.5.
pub const AP50: Metric = Metric {
    column: "test_ap50",
    val_column: "val_ap50",
    name: "test AP50",
    unit: "COCO AP at IoU 0.5",
    budget_column: "labelled_images",
    budget: "labelled images",
    budget_long: "labelled training images",
};

/// Segmentation's metric: mean IoU over the test split's pixels.
pub const MIOU: Metric = Metric {
    column: "test_miou",
    val_column: "val_miou",
    name: "test mIoU",
    unit: "mean IoU over classes",
    budget_column: "labelled_images",
    budget: "labelled images",
    budget_long: "labelled training images",
};

/// `runs.csv` as read: its columns and rows of text.
#[derive(Debug, Clone)]
pub struct Runs {
    /// The file.
    pub path: PathBuf,
    /// Header.
    pub columns: Vec<String>,
    /// One row per run.
    pub rows: Vec<Vec<String>>,
    /// Columns describing a run's configuration (between `run_id` and `status`).
    pub config: Vec<usize>,
    /// The metric the runs are compared by (from the columns: accuracy, AP50 or mIoU).
    pub metric: Metric,
}

impl Runs {
    /// Reads `DIR/runs.csv`, checking the columns a report needs.
    pub fn read(dir: &Path) -> anyhow::Result<Runs> {
        let path = dir.join("runs.csv");
        if !path.exists() {
            bail!(
                "{} has no runs.csv; point `sweep report` at a results folder written by `sweep run` (e.g. results/quickstart)",
                dir.display()
            );
        }
        let mut reader = csv::Reader::from_path(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let columns: Vec<String> = reader
            .headers()
            .with_context(|| format!("{}: no header line", path.display()))?
            .iter()
            .map(String::from)
            .collect();
        let has = |m: &Metric| columns.iter().any(|c| c == m.column);
        let metric = [AP50, MIOU]
            .into_iter()
            .find(|m| has(m))
            .unwrap_or(ACCURACY);
        // In the order of the columns `sweep run` writes.
        let required = [
            "run_id",
            "strategy",
            metric.budget_column,
            "seed",
            "status",
            metric.column,
            "train_images",
        ];
        for need in required {
            if !columns.iter().any(|c| c == need) {
                bail!(
                    "{}:1: no `{need}` column; this file was not written by `sweep run` (or by an older version): run the experiment again",
                    path.display()
                );
            }
        }
        let mut rows = Vec::new();
        for (i, r) in reader.records().enumerate() {
            let r = r.with_context(|| format!("{}:{}: unreadable row", path.display(), i + 2))?;
            rows.push(r.iter().map(String::from).collect());
        }
        if rows.is_empty() {
            bail!(
                "{} holds no finished runs yet; run `sweep run` to the end of at least one run",
                path.display()
            );
        }
        let status = columns.iter().position(|c| c == "status").expect("checked");
        let config = (1..status).collect();
        Ok(Runs {
            path,
            columns,
            rows,
            config,
            metric,
        })
    }

    /// Index of a column.
    pub fn col(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c == name)
    }

    /// Value of `name` in row `r` (empty when the column is absent).
    pub fn get(&self, r: usize, name: &str) -> &str {
        self.col(name).map_or("", |c| self.rows[r][c].as_str())
    }

    /// Rows of the runs that failed or diverged (a run a search stopped early did neither).
    pub fn failed(&self) -> Vec<usize> {
        (0..self.rows.len())
            .filter(|&r| !matches!(self.get(r, "status"), "ok" | "pruned"))
            .collect()
    }

    /// The test metric (accuracy, or AP50) of row `r` if the run finished well.
    pub fn accuracy(&self, r: usize) -> Option<f64> {
        if self.get(r, "status") != "ok" {
            return None;
        }
        self.get(r, self.metric.column).parse().ok()
    }
}

/// The validation metric per epoch of each run: `run_id -> [(epoch, val_accuracy, val_ap50
/// or val_miou)]`.
pub fn read_epochs(
    dir: &Path,
) -> anyhow::Result<std::collections::HashMap<String, Vec<(usize, f64)>>> {
    let path = dir.join("epochs.csv");
    let mut out: std::collections::HashMap<String, Vec<(usize, f64)>> = Default::default();
    if !path.exists() {
        return Ok(out);
    }
    let mut reader =
        csv::Reader::from_path(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let header: Vec<String> = reader.headers()?.iter().map(String::from).collect();
    let find = |n: &str| {
        header
            .iter()
            .position(|c| c == n)
            .with_context(|| format!("{}:1: no `{n}` column", path.display()))
    };
    // Classification validates by accuracy, detection by AP50, segmentation by mIoU.
    let val = find("val_accuracy")
        .or_else(|_| find("val_ap50"))
        .or_else(|_| find("val_miou"))?;
    let (id, epoch) = (find("run_id")?, find("epoch")?);
    for (i, r) in reader.records().enumerate() {
        let r = r.with_context(|| format!("{}:{}: unreadable row", path.display(), i + 2))?;
        let bad = || format!("{}:{}: not a number", path.display(), i + 2);
        let e: usize = r[epoch].parse().with_context(bad)?;
        let v: f64 = r[val].parse().with_context(bad)?;
        out.entry(r[id].to_string()).or_default().push((e, v));
    }
    Ok(out)
}

/// A run's confusion matrix (rows true class, columns predicted), if it was written.
pub fn read_confusion(dir: &Path, run_id: &str) -> anyhow::Result<Option<Vec<Vec<u64>>>> {
    let path = dir.join("runs").join(run_id).join("confusion.csv");
    if !path.exists() {
        return Ok(None);
    }
    let mut reader =
        csv::Reader::from_path(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut rows = Vec::new();
    for (i, r) in reader.records().enumerate() {
        let r = r.with_context(|| format!("{}:{}: unreadable row", path.display(), i + 2))?;
        let row: Result<Vec<u64>, _> = r.iter().skip(1).map(str::parse).collect();
        rows.push(row.with_context(|| format!("{}:{}: not a count", path.display(), i + 2))?);
    }
    Ok(Some(rows))
}
