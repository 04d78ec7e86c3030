//! A search's part of the report: best-so-far against trials, each searched setting against
//! the searched metric (log axes for log distributions, stopped trials hollow), the top trials,
//! and each cell's best configuration with its paired gain over the best scratch trial.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;

use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

use super::charts::Chart;
use super::html::esc;
use super::plot::{Figure, LineChart, PALETTE, Series, legend, save};
use super::stats::{Summary, paired};
use super::table::Runs;
use crate::search::Distribution;

/// One trial: a configuration of one grid cell, trained once per seed.
#[derive(Debug, Clone)]
pub struct Trial {
    /// The grid cell's label (`strategy=finetune`), `all` when the grid has one cell.
    pub cell: String,
    /// Index in the cell, in proposal order.
    pub index: usize,
    /// Its rows in runs.csv.
    pub rows: Vec<usize>,
    /// The searched settings as written in runs.csv.
    pub params: Vec<String>,
    /// Mean over its runs of their best searched metric.
    pub value: Option<f64>,
    /// A run of it was stopped early.
    pub pruned: bool,
    /// Test metric per seed of its runs that ended well.
    pub test: BTreeMap<String, f64>,
}

/// What a search adds to the report.
pub struct Section {
    /// Its charts.
    pub charts: Vec<Chart>,
    /// Lines for the terminal summary.
    pub summary: String,
    /// HTML for index.html.
    pub html: String,
    /// Markdown for summary.md.
    pub markdown: String,
}

/// The searched settings (name, distribution), the searched metric's name, and whether
/// trials are sampled (not a grid).
type Space = (Vec<(String, Distribution)>, String, bool);

/// Points of one colour: the group's label and (x, y, hollow) per point.
type Group = (String, Vec<(f64, f64, bool)>);

/// The search settings of the experiment file kept in a results folder.
fn space(results: &Path) -> Option<Space> {
    let file = results.join("experiment.toml");
    let text = std::fs::read_to_string(&file).ok()?;
    let e = crate::spec::expand::parse(&file, &text).ok()?;
    let s = e.search.as_ref()?;
    let dims = e.dims.iter().map(|d| (d.name(), d.dist.clone())).collect();
    let metric = s
        .metric
        .map_or("val_accuracy".to_string(), |m| m.name().to_string());
    Some((dims, metric, s.method != crate::spec::search::Method::Grid))
}

/// Column of a setting: written under its dotted path, or its last segment for the columns
/// every runs.csv has (`backbone_lr_mult`).
fn column(runs: &Runs, name: &str) -> Option<usize> {
    runs.col(name)
        .or_else(|| runs.col(name.rsplit('.').next().unwrap_or(name)))
}

/// The trials of a search's runs.csv, in cell and proposal order.
pub fn trials(runs: &Runs, dims: &[(String, Distribution)], metric: &str) -> Vec<Trial> {
    let Some(trial_col) = runs.col("trial") else {
        return Vec::new();
    };
    let value_col = runs.col(&format!("search_{metric}"));
    let dim_cols: Vec<Option<usize>> = dims.iter().map(|(n, _)| column(runs, n)).collect();
    let skip: Vec<usize> = dim_cols
        .iter()
        .flatten()
        .copied()
        .chain([trial_col])
        .chain(runs.col("seed"))
        .collect();
    let mut by: BTreeMap<(String, usize), Trial> = BTreeMap::new();
    for r in 0..runs.rows.len() {
        let Ok(index) = runs.rows[r][trial_col].parse::<usize>() else {
            continue;
        };
        let cell: Vec<String> = runs
            .config
            .iter()
            .filter(|c| !skip.contains(c))
            .filter(|&&c| !runs.rows[r][c].is_empty())
            .map(|&c| format!("{}={}", runs.columns[c], runs.rows[r][c]))
            .collect();
        let cell = if cell.is_empty() {
            "all".to_string()
        } else {
            cell.join(" ")
        };
        let t = by.entry((cell.clone(), index)).or_insert_with(|| Trial {
            cell,
            index,
            rows: Vec::new(),
            params: dim_cols
                .iter()
                .map(|c| c.map_or(String::new(), |c| runs.rows[r][c].clone()))
                .collect(),
            value: None,
            pruned: false,
            test: BTreeMap::new(),
        });
        t.rows.push(r);
        t.pruned |= runs.get(r, "status") == "pruned";
        if let Some(a) = runs.accuracy(r) {
            t.test.insert(runs.get(r, "seed").to_string(), a);
        }
    }
    let mut out: Vec<Trial> = by.into_values().collect();
    for t in &mut out {
        let values: Option<Vec<f64>> = t
            .rows
            .iter()
            .map(|&r| value_col.and_then(|c| runs.rows[r][c].parse().ok()))
            .collect();
        t.value = values.map(|v| v.iter().sum::<f64>() / v.len() as f64);
    }
    out
}

/// Whether higher values of the searched metric are better.
fn higher_better(metric: &str) -> bool {
    metric != "val_loss"
}

/// The search's section, if `results` holds a search (runs.csv with a `trial` column).
pub fn section(results: &Path, dir: &Path, runs: &Runs) -> anyhow::Result<Option<Section>> {
    let Some((dims, metric, sampled)) = space(results) else {
        return Ok(None);
    };
    if !sampled || runs.col("trial").is_none() {
        return Ok(None);
    }
    let trials = trials(runs, &dims, &metric);
    if trials.iter().all(|t| t.value.is_none()) {
        return Ok(None);
    }
    let up = higher_better(&metric);
    let better = |a: f64, b: f64| if up { a > b } else { a < b };
    let mut cells: Vec<String> = trials.iter().map(|t| t.cell.clone()).collect();
    cells.dedup();
    let mut charts = Vec::new();

    // Best so far against the trial number, one line per cell.
    let mut series = Vec::new();
    for cell in &cells {
        let mut best: Option<f64> = None;
        let mut points = Vec::new();
        for t in trials.iter().filter(|t| &t.cell == cell) {
            if let Some(v) = t.value.filter(|_| !t.pruned) {
                best = Some(best.map_or(v, |b| if better(v, b) { v } else { b }));
            }
            if let Some(b) = best {
                points.push(((t.index + 1) as f64, b));
            }
        }
        series.push(Series {
            label: cell.clone(),
            points,
            ..Default::default()
        });
    }
    LineChart {
        title: format!("Best {metric} so far (mean over seeds)"),
        x_label: "trial".into(),
        y_label: format!("best {metric} of the finished trials"),
        series,
        ..Default::default()
    }
    .write(&dir.join("search-best-so-far"))?;
    charts.push(Chart {
        stem: "search-best-so-far".into(),
        caption: format!(
            "The best validation {metric} among the trials finished so far in each cell (trials stopped early do not count), against the trial number."
        ),
    });

    // Each searched setting against the metric.
    for (k, (name, dist)) in dims.iter().enumerate() {
        let stem = format!("search-{}", name.replace('.', "-"));
        let choices: Vec<String> = {
            let mut c: Vec<String> = trials.iter().map(|t| t.params[k].clone()).collect();
            c.sort();
            c.dedup();
            c
        };
        let x = |t: &Trial| -> Option<f64> {
            match dist {
                Distribution::Choice { .. } => choices
                    .iter()
                    .position(|c| *c == t.params[k])
                    .map(|i| i as f64),
                _ => t.params[k].parse().ok(),
            }
        };
        let groups: Vec<Group> = cells
            .iter()
            .map(|cell| {
                let pts = trials
                    .iter()
                    .filter(|t| &t.cell == cell)
                    .filter_map(|t| Some((x(t)?, t.value?, t.pruned)))
                    .collect();
                (cell.clone(), pts)
            })
            .collect();
        let log = matches!(
            dist,
            Distribution::LogUniform { .. } | Distribution::Int { log: true, .. }
        );
        let fig = Scatter {
            title: format!("{metric} against {name}"),
            x_label: format!("{name}{}", if log { " (log scale)" } else { "" }),
            y_label: format!("{metric} (mean over seeds)"),
            log_x: log,
            categories: matches!(dist, Distribution::Choice { .. }).then(|| choices.clone()),
            groups,
        };
        if fig.groups.iter().all(|g| g.1.is_empty()) {
            continue;
        }
        save(&fig, &dir.join(&stem))?;
        charts.push(Chart {
            stem,
            caption: format!(
                "Each trial's {metric} against its {name}; hollow points are trials stopped early (their value is the best before they stopped)."
            ),
        });
    }

    // The top trials and each cell's best, with its gain over the best scratch trial.
    let mut ranked: Vec<&Trial> = trials.iter().filter(|t| t.value.is_some()).collect();
    ranked.sort_by(|a, b| {
        let (x, y) = (a.value.unwrap(), b.value.unwrap());
        if up { y.total_cmp(&x) } else { x.total_cmp(&y) }
    });
    let names: Vec<&str> = dims.iter().map(|(n, _)| n.as_str()).collect();
    let m = &runs.metric;
    let mut html = String::from("<h2>Search</h2>\n");
    let mut md = String::from("\n## Search\n\n");
    let pruned = trials.iter().filter(|t| t.pruned).count();
    let _ = writeln!(
        html,
        "<p>{} trials in {} cell{}, {pruned} stopped early; ranked by validation {metric} (mean over seeds). Test metrics are shown, never used by the search.</p>",
        trials.len(),
        cells.len(),
        if cells.len() == 1 { "" } else { "s" }
    );
    let head = format!(
        "| rank | cell | trial | {} | {metric} | {} (mean) | status |\n|---|---|---|{}---|---|---|\n",
        names.join(" | "),
        m.name,
        "---|".repeat(names.len())
    );
    md.push_str(&head);
    html.push_str("<table><tr><th>rank</th><th class=\"l\">cell</th><th>trial</th>");
    for n in &names {
        let _ = write!(html, "<th>{}</th>", esc(n));
    }
    let _ = writeln!(
        html,
        "<th>{metric}</th><th>{} (mean)</th><th>status</th></tr>",
        m.name
    );
    for (rank, t) in ranked.iter().take(10).enumerate() {
        let test = match t.test.len() {
            0 => "-".to_string(),
            _ => format!("{:.4}", t.test.values().sum::<f64>() / t.test.len() as f64),
        };
        let status = if t.pruned {
            "stopped early"
        } else {
            "finished"
        };
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {:.4} | {test} | {status} |",
            rank + 1,
            t.cell,
            t.index,
            t.params.join(" | "),
            t.value.unwrap_or(f64::NAN)
        );
        let _ = write!(
            html,
            "<tr><td>{}</td><td class=\"l\">{}</td><td>{}</td>",
            rank + 1,
            esc(&t.cell),
            t.index
        );
        for p in &t.params {
            let _ = write!(html, "<td>{}</td>", esc(p));
        }
        let _ = writeln!(
            html,
            "<td>{:.4}</td><td>{test}</td><td>{status}</td></tr>",
            t.value.unwrap_or(f64::NAN)
        );
    }
    html.push_str("</table>\n");

    let mut summary = String::new();
    let best_of = |cell: &str| {
        ranked
            .iter()
            .find(|t| t.cell == cell && !t.pruned && !t.test.is_empty())
            .copied()
    };
    let scratch = cells
        .iter()
        .find(|c| c.contains("strategy=scratch"))
        .and_then(|c| best_of(c));
    for cell in &cells {
        let Some(t) = best_of(cell) else { continue };
        let params: Vec<String> = names
            .iter()
            .zip(&t.params)
            .filter(|(_, v)| !v.is_empty())
            .map(|(n, v)| format!("{n}={v}"))
            .collect();
        let test: Vec<f64> = t.test.values().copied().collect();
        let s = Summary::of(&test);
        let mut line = format!(
            "search best of {cell}: trial {} ({}): {metric} {:.4}, {} {:.4}{} over {} seed(s)",
            t.index,
            params.join(" "),
            t.value.unwrap_or(f64::NAN),
            m.name,
            s.mean,
            s.ci95.map_or(String::new(), |h| format!(" ± {h:.4}")),
            s.n
        );
        if let Some(b) = scratch.filter(|b| b.cell != t.cell) {
            let seeds: Vec<&String> = t.test.keys().filter(|k| b.test.contains_key(*k)).collect();
            if !seeds.is_empty() {
                let a: Vec<f64> = seeds.iter().map(|k| t.test[*k]).collect();
                let z: Vec<f64> = seeds.iter().map(|k| b.test[*k]).collect();
                let d = paired(&a, &z);
                let _ = write!(
                    line,
                    "; vs the best scratch trial {:+.2} points{} ({} paired seeds)",
                    d.mean * 100.0,
                    d.ci95
                        .map_or(String::new(), |h| format!(" ± {:.2}", h * 100.0)),
                    d.n
                );
            }
        }
        summary.push_str(&line);
        summary.push('\n');
    }
    let _ = writeln!(html, "<pre>{}</pre>", esc(&summary));
    Ok(Some(Section {
        charts,
        summary,
        html,
        markdown: md,
    }))
}

/// Points per group (a colour each); stopped trials hollow; a log, linear or categorical x.
struct Scatter {
    title: String,
    x_label: String,
    y_label: String,
    log_x: bool,
    categories: Option<Vec<String>>,
    groups: Vec<Group>,
}

impl Scatter {
    fn points<'a, DB: DrawingBackend + 'a, X: Ranged<ValueType = f64>>(
        &self,
        chart: &mut ChartContext<'a, DB, Cartesian2d<X, RangedCoordf64>>,
    ) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
        for (k, (label, pts)) in self.groups.iter().enumerate() {
            let colour = PALETTE[k % 6];
            chart
                .draw_series(pts.iter().map(|&(x, y, hollow)| {
                    let style = if hollow {
                        colour.stroke_width(2)
                    } else {
                        colour.filled()
                    };
                    Circle::new((x, y), 5, style)
                }))?
                .label(label.clone())
                .legend(move |(x, y)| Circle::new((x + 12, y), 5, colour.filled()));
        }
        legend(chart)
    }
}

impl Figure for Scatter {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> anyhow::Result<()>
    where
        DB::ErrorType: 'static,
    {
        let e = |e: DrawingAreaErrorKind<DB::ErrorType>| anyhow::anyhow!("{e}");
        root.fill(&WHITE).map_err(e)?;
        let all: Vec<(f64, f64)> = self
            .groups
            .iter()
            .flat_map(|g| g.1.iter().map(|p| (p.0, p.1)))
            .collect();
        let (mut x0, mut x1) = all
            .iter()
            .fold((f64::MAX, f64::MIN), |a, p| (a.0.min(p.0), a.1.max(p.0)));
        let (mut y0, mut y1) = all
            .iter()
            .fold((f64::MAX, f64::MIN), |a, p| (a.0.min(p.1), a.1.max(p.1)));
        let ypad = ((y1 - y0) * 0.08).max(0.01);
        (y0, y1) = (y0 - ypad, y1 + ypad);
        if self.log_x {
            (x0, x1) = (x0 / 1.3, x1 * 1.3);
        } else {
            let pad = ((x1 - x0) * 0.05).max(0.5);
            (x0, x1) = (x0 - pad, x1 + pad);
        }
        let mut builder = ChartBuilder::on(root);
        builder
            .caption(&self.title, ("sans-serif", 24))
            .margin(16)
            .x_label_area_size(48)
            .y_label_area_size(72);
        let style = ("sans-serif", 16);
        if self.log_x {
            let mut chart = builder
                .build_cartesian_2d((x0..x1).log_scale(), y0..y1)
                .map_err(e)?;
            chart
                .configure_mesh()
                .x_desc(&self.x_label)
                .y_desc(&self.y_label)
                .label_style(style)
                .x_label_formatter(&|v| format!("{v:.0e}"))
                .draw()
                .map_err(e)?;
            self.points(&mut chart).map_err(e)
        } else {
            let mut chart = builder.build_cartesian_2d(x0..x1, y0..y1).map_err(e)?;
            let names = self.categories.clone();
            chart
                .configure_mesh()
                .x_desc(&self.x_label)
                .y_desc(&self.y_label)
                .label_style(style)
                .x_label_formatter(&|v| match &names {
                    Some(c) if (v - v.round()).abs() < 1e-9 && *v >= 0.0 => {
                        c.get(v.round() as usize).cloned().unwrap_or_default()
                    }
                    Some(_) => String::new(),
                    None => format!("{v}"),
                })
                .draw()
                .map_err(e)?;
            self.points(&mut chart).map_err(e)
        }
    }
}
