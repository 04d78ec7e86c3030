//! Yosinski et al. (2014)'s Figure 2 for a sweep over `transfer_depth`: test accuracy against
//! the number of copied parts, one line per treatment (AnB, AnB+, BnB, BnB+) with its 95% band,
//! and the scratch baseline as a horizontal band.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;

use super::charts::Chart;
use super::plot::{LineChart, Series, save};
use super::stats::Summary;
use super::table::Runs;

/// Treatments in the paper's legend order; others (partial freezes) after them by name.
const ORDER: &[&str] = &["BnB", "BnB+", "AnB", "AnB+"];

/// One point of the figure: a treatment at a depth (the baseline has no depth).
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    /// `AnB`, `BnB+`, ..., or `scratch`.
    pub treatment: String,
    /// Parts copied (`None` for the baseline).
    pub depth: Option<usize>,
    /// Test metric over the finished runs (seeds, other axes pooled).
    pub summary: Summary,
}

/// The figure's points for the runs at label budget `budget`.
pub fn points(runs: &Runs, budget: &str) -> Vec<Point> {
    let mut groups: BTreeMap<(String, Option<usize>), Vec<f64>> = BTreeMap::new();
    for r in 0..runs.rows.len() {
        if runs.get(r, runs.metric.budget_column) != budget {
            continue;
        }
        let Some(acc) = runs.accuracy(r) else {
            continue;
        };
        let treatment = runs.get(r, "treatment").to_string();
        let depth = match treatment.as_str() {
            "scratch" => None,
            _ => match runs.get(r, "transfer_depth").parse() {
                Ok(n) => Some(n),
                Err(_) => continue,
            },
        };
        groups.entry((treatment, depth)).or_default().push(acc);
    }
    groups
        .into_iter()
        .map(|((treatment, depth), accs)| Point {
            treatment,
            depth,
            summary: Summary::of(&accs),
        })
        .collect()
}

/// The figure (one per label budget) and `transfer-depth.csv` with its numbers, when the runs
/// copy at least two different numbers of parts; nothing otherwise.
pub fn figure(dir: &Path, runs: &Runs) -> anyhow::Result<Vec<Chart>> {
    if runs.col("transfer_depth").is_none() || runs.col("treatment").is_none() {
        return Ok(Vec::new());
    }
    let mut budgets: Vec<String> = (0..runs.rows.len())
        .map(|r| runs.get(r, runs.metric.budget_column).to_string())
        .collect();
    budgets.sort_by_key(|b| (b.parse::<f64>().unwrap_or(f64::MAX) as u64, b.clone()));
    budgets.dedup();
    let mut csv = csv::Writer::from_writer(Vec::new());
    csv.write_record([
        runs.metric.budget_column,
        "treatment",
        "transfer_depth",
        "runs",
        "mean",
        "ci95_low",
        "ci95_high",
    ])?;
    let mut charts = Vec::new();
    for budget in &budgets {
        let points = points(runs, budget);
        let mut depths: Vec<usize> = points.iter().filter_map(|p| p.depth).collect();
        depths.sort_unstable();
        depths.dedup();
        if depths.len() < 2 {
            continue;
        }
        for p in &points {
            let (lo, hi) = p.summary.interval();
            csv.write_record([
                budget.clone(),
                p.treatment.clone(),
                p.depth.map_or(String::new(), |d| d.to_string()),
                p.summary.n.to_string(),
                format!("{:.6}", p.summary.mean),
                format!("{lo:.6}"),
                format!("{hi:.6}"),
            ])?;
        }
        let stem = if budgets.len() == 1 {
            "transfer-depth".to_string()
        } else {
            format!("transfer-depth-{budget}")
        };
        save(&chart(runs, budget, &points, &depths), &dir.join(&stem))?;
        charts.push(Chart {
            stem,
            caption: format!(
                "Yosinski et al.'s Figure 2 at {budget} {}: mean {} with its 95% Student-t band over \
                 runs against the number of backbone parts copied from the source (the rest and the \
                 head fresh); AnB/BnB freeze the copied parts, AnB+/BnB+ fine-tune them; BnB's \
                 source stage is trained on the target's own classes; dashed: scratch, its band \
                 across the figure.",
                runs.metric.budget,
                runs.metric.name
            ),
        });
    }
    if !charts.is_empty() {
        let path = dir.join("transfer-depth.csv");
        crate::io::write_atomic(&path, &csv.into_inner()?)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(charts)
}

fn chart(runs: &Runs, budget: &str, points: &[Point], depths: &[usize]) -> LineChart {
    let (x0, x1) = (depths[0] as f64, depths[depths.len() - 1] as f64);
    let mut names: Vec<&str> = points
        .iter()
        .filter(|p| p.depth.is_some())
        .map(|p| p.treatment.as_str())
        .collect();
    names.sort_by_key(|n| (ORDER.iter().position(|o| o == n).unwrap_or(ORDER.len()), *n));
    names.dedup();
    let mut series: Vec<Series> = names
        .iter()
        .map(|name| {
            let mut s = Series {
                label: name.to_string(),
                ..Default::default()
            };
            for p in points.iter().filter(|p| p.treatment == *name) {
                s.points
                    .push((p.depth.expect("filtered") as f64, p.summary.mean));
                s.band.push(p.summary.interval());
            }
            s
        })
        .collect();
    if let Some(base) = points.iter().find(|p| p.depth.is_none()) {
        let band = base.summary.interval();
        series.push(Series {
            label: format!("scratch (n={})", base.summary.n),
            points: vec![(x0, base.summary.mean), (x1, base.summary.mean)],
            band: vec![band, band],
            reference: true,
        });
    }
    LineChart {
        title: format!(
            "{} vs parts copied ({budget} {})",
            runs.metric.name, runs.metric.budget
        ),
        x_label: "backbone parts copied from the source (transfer_depth)".into(),
        y_label: format!("{} ({})", runs.metric.name, runs.metric.unit),
        log_x: false,
        series,
        markers: vec![],
        x_ticks: depths.iter().map(|&d| d as f64).collect(),
    }
}
