//! The report's charts, built from the cells: accuracy vs labels, learning curves, gain heatmap,
//! per-axis effects, confusion matrix of the best run.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use super::cells::{Cell, is_transfer_column, short};
use super::plot::{Effects, Heatmap, LineChart, Series, save};
use super::stats::Summary;
use super::table::Runs;

/// A chart written to disk: file stem (no extension) and caption.
#[derive(Debug, Clone)]
pub struct Chart {
    /// File name without extension (`accuracy-vs-labels`).
    pub stem: String,
    /// One sentence under the chart.
    pub caption: String,
}

/// `text` with a capital first letter.
fn cap(text: &str) -> String {
    let mut c = text.chars();
    c.next()
        .map_or(String::new(), |f| f.to_uppercase().chain(c).collect())
}

/// The validation metric in words (`accuracy (fraction correct)`).
fn val_name(runs: &Runs) -> String {
    let m = &runs.metric;
    format!("{} ({})", m.name.trim_start_matches("test "), m.unit)
}

fn band(s: &Summary) -> (f64, f64) {
    s.interval()
}

/// Settings (lines) in a fixed order: scratch first, then by name.
fn settings(cells: &[Cell]) -> Vec<String> {
    let mut names: Vec<String> = cells.iter().map(|c| c.setting.clone()).collect();
    names.sort_by_key(|n| (n != "scratch", n.clone()));
    names.dedup();
    names
}

/// Chart 1: test accuracy vs labels per class, one line per setting, 95% band over runs.
pub fn accuracy_vs_labels(dir: &Path, runs: &Runs, cells: &[Cell]) -> anyhow::Result<Chart> {
    let m = &runs.metric;
    let mut series = Vec::new();
    for name in settings(cells) {
        let mut by_budget: BTreeMap<i64, (Vec<f64>, Vec<f64>)> = BTreeMap::new();
        for c in cells.iter().filter(|c| c.setting == name) {
            let e = by_budget
                .entry((c.images_per_class * 1000.0) as i64)
                .or_default();
            e.0.push(c.images_per_class);
            e.1.extend(c.rows.iter().filter_map(|&r| runs.accuracy(r)));
        }
        let mut s = Series {
            label: name.clone(),
            reference: name == "scratch",
            ..Default::default()
        };
        for (x, accs) in by_budget.values() {
            if accs.is_empty() || x[0] <= 0.0 {
                continue;
            }
            let sum = Summary::of(accs);
            s.points.push((x[0], sum.mean));
            s.band.push(band(&sum));
        }
        if !s.points.is_empty() {
            series.push(s);
        }
    }
    let others = cells.iter().any(|c| !c.others.is_empty());
    let mut x_ticks: Vec<f64> = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.0))
        .collect();
    x_ticks.sort_by(f64::total_cmp);
    x_ticks.dedup_by(|a, b| (*a - *b).abs() < 1e-9);
    // At a single budget every setting's interval would sit on one vertical line, hiding the
    // others: set them side by side around it (log axis, so by a factor).
    let dodged = x_ticks.len() == 1 && series.len() > 1;
    if dodged {
        let n = series.len() as f64;
        for (i, s) in series.iter_mut().enumerate() {
            s.points[0].0 *= 1.15f64.powf(i as f64 / (n - 1.0) - 0.5);
        }
    }
    save(
        &LineChart {
            title: format!("{} vs {}", cap(m.name), m.budget_long),
            x_label: format!("{} (log scale)", m.budget_long),
            y_label: format!("{} ({})", m.name, m.unit),
            log_x: true,
            series,
            markers: vec![],
            x_ticks,
        },
        &dir.join("accuracy-vs-labels"),
    )?;
    Ok(Chart {
        stem: "accuracy-vs-labels".into(),
        caption: format!(
            "Mean {} with its 95% Student-t interval over runs{}; scratch dashed{}.",
            m.name,
            if others {
                " (other axes pooled)"
            } else {
                " (over seeds)"
            },
            if dodged {
                "; the settings stand side by side around their one budget"
            } else {
                ""
            }
        ),
    })
}

/// Chart 2: validation accuracy per epoch, one line per setting, mean and 95% band over runs.
pub fn learning_curves(
    dir: &Path,
    runs: &Runs,
    cells: &[Cell],
    epochs: &HashMap<String, Vec<(usize, f64)>>,
) -> anyhow::Result<Option<Chart>> {
    let mut series = Vec::new();
    for name in settings(cells) {
        let mut per_epoch: BTreeMap<usize, Vec<f64>> = BTreeMap::new();
        for c in cells.iter().filter(|c| c.setting == name) {
            for &r in &c.rows {
                for &(e, v) in epochs.get(runs.get(r, "run_id")).into_iter().flatten() {
                    per_epoch.entry(e).or_default().push(v);
                }
            }
        }
        let mut s = Series {
            label: name.clone(),
            reference: name == "scratch",
            ..Default::default()
        };
        for (e, v) in per_epoch {
            let sum = Summary::of(&v);
            s.points.push((e as f64, sum.mean));
            s.band.push(band(&sum));
        }
        if !s.points.is_empty() {
            series.push(s);
        }
    }
    if series.is_empty() {
        return Ok(None);
    }
    save(
        &LineChart {
            title: "Learning curves".into(),
            x_label: "epoch".into(),
            y_label: format!("validation {}", val_name(runs)),
            log_x: false,
            series,
            x_ticks: vec![],
            markers: vec![],
        },
        &dir.join("learning-curves"),
    )?;
    Ok(Some(Chart {
        stem: "learning-curves".into(),
        caption: format!(
            "Validation {} per epoch, mean and 95% band over the runs of each setting (all budgets pooled); runs stopped early count until their last epoch.",
            val_name(runs)
        ),
    }))
}

/// Chart 3: mean paired gain over scratch by two axes (`x`, `y` are column names).
pub fn gain_heatmap(
    dir: &Path,
    runs: &Runs,
    cells: &[Cell],
    x: &str,
    y: &str,
) -> anyhow::Result<Option<Chart>> {
    let (Some(_), Some(_)) = (runs.col(x), runs.col(y)) else {
        return Ok(None);
    };
    let mut grid: BTreeMap<(String, String), Vec<f64>> = BTreeMap::new();
    for c in cells {
        let Some(d) = &c.vs_scratch else { continue };
        // An empty value is a setting that does not apply (a linear probe's rate multiplier).
        let v = |n: &str| match c.key.iter().find(|(k, _)| k == n) {
            Some((_, v)) if !v.is_empty() => v.clone(),
            _ => "n/a".to_string(),
        };
        // Every seed's difference enters the mean once.
        grid.entry((v(y), v(x)))
            .or_default()
            .extend(std::iter::repeat_n(d.mean, d.n));
    }
    if grid.is_empty() {
        return Ok(None);
    }
    let sorted = |vals: Vec<String>| {
        let mut v = vals;
        v.sort_by(|a, b| match (a.parse::<f64>(), b.parse::<f64>()) {
            (Ok(p), Ok(q)) => p.total_cmp(&q),
            _ => a.cmp(b),
        });
        v.dedup();
        v
    };
    let rows = sorted(grid.keys().map(|k| k.0.clone()).collect());
    let columns = sorted(grid.keys().map(|k| k.1.clone()).collect());
    let cells_out = rows
        .iter()
        .map(|r| {
            columns
                .iter()
                .map(|c| {
                    grid.get(&(r.clone(), c.clone())).map(|d| {
                        let m = d.iter().sum::<f64>() / d.len() as f64;
                        (m, format!("{:+.1} (n={})", m * 100.0, d.len()))
                    })
                })
                .collect()
        })
        .collect();
    let stem = format!("gain-{}-by-{}", short(y), short(x));
    save(
        &Heatmap {
            title: format!("{} gain over scratch (points)", cap(runs.metric.name)),
            x_label: x.into(),
            y_label: y.into(),
            columns,
            rows,
            cells: cells_out,
            diverging: true,
        },
        &dir.join(&stem),
    )?;
    Ok(Some(Chart {
        stem,
        caption: format!(
            "Mean paired difference (transfer - scratch at the same budget, seed and other settings) in {} points, by `{y}` and `{x}`; blue: transfer better, orange: worse; n = paired runs.",
            runs.metric.name.trim_start_matches("test ")
        ),
    }))
}

/// Chart 4: the mean and 95% interval of test accuracy per value of every varying axis,
/// one group per strategy.
pub fn effects(dir: &Path, runs: &Runs) -> anyhow::Result<Vec<Chart>> {
    let mut out = Vec::new();
    let strategies: Vec<String> = {
        let mut s: Vec<String> = (0..runs.rows.len())
            .map(|r| runs.get(r, "strategy").to_string())
            .collect();
        s.sort_by_key(|n| (n != "scratch", n.clone()));
        s.dedup();
        s
    };
    for &c in &runs.config {
        let name = runs.columns[c].clone();
        if matches!(name.as_str(), "seed" | "strategy") {
            continue;
        }
        let mut values: Vec<String> = runs
            .rows
            .iter()
            .map(|r| r[c].clone())
            .filter(|v| !v.is_empty())
            .collect();
        values.sort_by(|a, b| match (a.parse::<f64>(), b.parse::<f64>()) {
            (Ok(p), Ok(q)) => p.total_cmp(&q),
            _ => a.cmp(b),
        });
        values.dedup();
        if values.len() < 2 {
            continue;
        }
        let groups = strategies
            .iter()
            .filter(|s| !(is_transfer_column(&name) && *s == "scratch"))
            .map(|s| {
                let points = values
                    .iter()
                    .map(|v| {
                        let accs: Vec<f64> = (0..runs.rows.len())
                            .filter(|&r| runs.get(r, "strategy") == s && runs.rows[r][c] == *v)
                            .filter_map(|r| runs.accuracy(r))
                            .collect();
                        (!accs.is_empty()).then(|| {
                            let sum = Summary::of(&accs);
                            let (lo, hi) = sum.interval();
                            (sum.mean, lo, hi)
                        })
                    })
                    .collect();
                (s.clone(), points)
            })
            .collect();
        let stem = format!("effect-{}", name.replace('.', "-"));
        save(
            &Effects {
                title: format!("{} by {name}", cap(runs.metric.name)),
                x_label: name.clone(),
                y_label: format!("{} ({})", runs.metric.name, runs.metric.unit),
                categories: values,
                groups,
            },
            &dir.join(&stem),
        )?;
        out.push(Chart {
            stem,
            caption: format!(
                "Mean {} and 95% interval per value of `{name}`, other axes pooled, per strategy.",
                runs.metric.name
            ),
        });
    }
    Ok(out)
}

/// Chart 5: the confusion matrix of one run, coloured by row share.
pub fn confusion(dir: &Path, run_id: &str, m: &[Vec<u64>], accuracy: f64) -> anyhow::Result<Chart> {
    let names: Vec<String> = (0..m.len()).map(|i| i.to_string()).collect();
    let cells = m
        .iter()
        .map(|row| {
            let total = row.iter().sum::<u64>().max(1) as f64;
            row.iter()
                .map(|&v| Some((v as f64 / total, v.to_string())))
                .collect()
        })
        .collect();
    save(
        &Heatmap {
            title: format!("Confusion matrix of run {run_id} (test accuracy {accuracy:.4})"),
            x_label: "predicted class".into(),
            y_label: "true class".into(),
            columns: names.clone(),
            rows: names,
            cells,
            diverging: false,
        },
        &dir.join("confusion"),
    )?;
    Ok(Chart {
        stem: "confusion".into(),
        caption: format!(
            "Test-set counts of the best run, {run_id}; colour is the share of its true class."
        ),
    })
}
