//! `sweep report`: charts, an HTML page and a Markdown summary rendered from a results folder's
//! CSVs alone (nothing is retrained), with the transfer-vs-scratch verdict of every cell.

pub mod cells;
pub mod charts;
pub mod depth;
pub mod html;
pub mod masks;
pub mod plot;
pub mod scenes;
pub mod search;
pub mod stats;
pub mod table;

use std::fmt::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use cells::{Cell, Verdict};
use charts::Chart;
use table::Runs;

/// What `sweep report` made.
#[derive(Debug, Clone)]
pub struct Report {
    /// The report folder (`DIR/report`).
    pub dir: PathBuf,
    /// The charts written, in page order.
    pub charts: Vec<Chart>,
    /// Every cell, with its statistics.
    pub cells: Vec<Cell>,
    /// The terminal summary.
    pub summary: String,
}

/// Axes of the gain heatmap.
#[derive(Debug, Clone)]
pub struct Options {
    /// Column across (default `backbone_lr_mult`).
    pub x: String,
    /// Column down (default `freeze_depth`).
    pub y: String,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            x: "backbone_lr_mult".into(),
            y: "freeze_depth".into(),
        }
    }
}

/// Renders `DIR/report/` from `DIR/runs.csv`, `DIR/epochs.csv` and `DIR/runs/*/confusion.csv`.
pub fn render(results: &Path, opts: &Options) -> anyhow::Result<Report> {
    let runs = Runs::read(results)?;
    for axis in [&opts.x, &opts.y] {
        if runs.col(axis).is_none() || !runs.config.contains(&runs.col(axis).unwrap_or(0)) {
            let names: Vec<&str> = runs
                .config
                .iter()
                .map(|&c| runs.columns[c].as_str())
                .collect();
            bail!(
                "`{axis}` is not a column of {}; choose --x/--y among: {}",
                runs.path.display(),
                names.join(", ")
            );
        }
    }
    let best = (0..runs.rows.len())
        .filter_map(|r| runs.accuracy(r).map(|a| (r, a)))
        .max_by(|a, b| a.1.total_cmp(&b.1));
    let confusion = match best {
        Some((r, _)) => table::read_confusion(results, runs.get(r, "run_id"))?,
        None => None,
    };
    let classes = confusion.as_ref().map_or(1, Vec::len);
    let cells = cells::cells(&runs, classes);
    let epochs = table::read_epochs(results)?;

    let dir = results.join("report");
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut charts = Vec::new();
    // A search's trials are each a cell of their own: its charts are the search's (below).
    let is_search = runs.col("trial").is_some();
    if best.is_some() && !is_search {
        charts.push(charts::accuracy_vs_labels(&dir, &runs, &cells)?);
        charts.extend(depth::figure(&dir, &runs)?);
        charts.extend(charts::learning_curves(&dir, &runs, &cells, &epochs)?);
        charts.extend(charts::gain_heatmap(&dir, &runs, &cells, &opts.x, &opts.y)?);
        charts.extend(charts::effects(&dir, &runs)?);
    }
    if best.is_some() {
        if let (Some((r, acc)), Some(m)) = (best, &confusion) {
            charts.push(charts::confusion(&dir, runs.get(r, "run_id"), m, acc)?);
        }
        // A detection report shows the best run's boxes on test scenes.
        if let Some((r, _)) = best
            && runs.metric == table::AP50
        {
            charts.extend(scenes::grid(results, &dir, runs.get(r, "run_id"))?);
        }
        // A segmentation report shows the best run's masks on test images.
        if let Some((r, _)) = best
            && runs.metric == table::MIOU
        {
            charts.extend(masks::grid(results, &dir, runs.get(r, "run_id"))?);
        }
    }
    let mut summary = terminal_summary(&runs, &cells);
    let searched = search::section(results, &dir, &runs)?;
    let (mut extra_html, mut extra_md) = (String::new(), String::new());
    if let Some(sec) = searched {
        // A search's summary is per cell its best trial by validation: the grid's lines would
        // pick among trials by their test metric.
        summary = sec.summary;
        let failed = runs.failed().len();
        if failed > 0 {
            summary.push_str(&format!(
                "{failed} run(s) failed or diverged; see the report's table of failures\n"
            ));
        }
        charts.splice(0..0, sec.charts);
        (extra_html, extra_md) = (sec.html, sec.markdown);
    }
    let description = experiment_description(results);
    html::write_index(
        &dir,
        &description,
        &summary,
        &charts,
        &cells,
        &runs,
        &extra_html,
    )?;
    html::write_markdown(&dir, &description, &summary, &cells, &runs, &extra_md)?;
    Ok(Report {
        dir,
        charts,
        cells,
        summary,
    })
}

/// Name and description from the copy of the experiment file, if there is one.
fn experiment_description(results: &Path) -> (String, String) {
    #[derive(serde::Deserialize, Default)]
    struct Exp {
        #[serde(default)]
        name: String,
        #[serde(default)]
        description: String,
    }
    #[derive(serde::Deserialize, Default)]
    struct File {
        #[serde(default)]
        experiment: Exp,
    }
    let file: File = std::fs::read_to_string(results.join("experiment.toml"))
        .ok()
        .and_then(|t| toml::from_str(&t).ok())
        .unwrap_or_default();
    let name = if file.experiment.name.is_empty() {
        results.display().to_string()
    } else {
        file.experiment.name
    };
    (name, file.experiment.description)
}

/// Budget as shown: `all` for 0.
pub fn budget(b: &str) -> String {
    if b == "0" { "all".into() } else { b.into() }
}

/// A cell's full name: setting, other settings, budget.
pub fn cell_name(c: &Cell) -> String {
    let mut s = c.setting.clone();
    if !c.others.is_empty() {
        s.push_str(&format!(" [{}]", c.others));
    }
    s
}

/// The best cell, the gain over scratch per label budget, negative transfer and failures.
pub fn terminal_summary(runs: &Runs, cells: &[Cell]) -> String {
    let mut s = String::new();
    let judged = |c: &&Cell| c.accuracy.is_some();
    if let Some(best) = cells.iter().filter(judged).max_by(|a, b| {
        a.accuracy
            .unwrap()
            .mean
            .total_cmp(&b.accuracy.unwrap().mean)
    }) {
        let a = best.accuracy.expect("judged");
        let _ = writeln!(
            s,
            "best: {} at {} {}: {} {:.4}{} over {} seed(s)",
            cell_name(best),
            budget(&best.labels_per_class),
            runs.metric.budget,
            runs.metric.name,
            a.mean,
            a.ci95.map_or(String::new(), |h| format!(" ± {h:.4}")),
            a.n
        );
    }
    let mut budgets: Vec<&str> = cells.iter().map(|c| c.labels_per_class.as_str()).collect();
    budgets.sort_by_key(|b| {
        b.parse::<usize>()
            .map_or(usize::MAX, |v| if v == 0 { usize::MAX } else { v })
    });
    budgets.dedup();
    for b in budgets {
        let top = cells
            .iter()
            .filter(|c| c.labels_per_class == b && c.vs_scratch.is_some())
            .max_by(|x, y| {
                x.vs_scratch
                    .unwrap()
                    .mean
                    .total_cmp(&y.vs_scratch.unwrap().mean)
            });
        if let Some(c) = top {
            let d = c.vs_scratch.expect("filtered");
            let _ = writeln!(
                s,
                "{} {}: best gain over scratch {:+.2} points{} ({}; {})",
                budget(b),
                runs.metric.budget,
                d.mean * 100.0,
                d.ci95
                    .map_or(String::new(), |h| format!(" ± {:.2}", h * 100.0)),
                cell_name(c),
                c.verdict.as_str()
            );
        }
    }
    let negative: Vec<&Cell> = cells
        .iter()
        .filter(|c| c.verdict == Verdict::NegativeTransfer)
        .collect();
    if negative.is_empty() {
        let _ = writeln!(s, "negative transfer: none flagged");
    }
    for c in &negative {
        let d = c.vs_scratch.expect("judged");
        let (_, hi) = d.interval();
        let _ = writeln!(
            s,
            "NEGATIVE TRANSFER: {} at {} {}: {:+.2} points vs scratch (95% CI upper end {:+.2})",
            cell_name(c),
            budget(&c.labels_per_class),
            runs.metric.budget,
            d.mean * 100.0,
            hi * 100.0
        );
    }
    let few = cells
        .iter()
        .filter(|c| c.verdict == Verdict::NotEnoughSeeds)
        .count();
    if few > 0 {
        let _ = writeln!(
            s,
            "{few} cell(s) have fewer than {} seeds and are not judged",
            cells::MIN_SEEDS
        );
    }
    let failed = runs.failed().len();
    if failed > 0 {
        let _ = writeln!(
            s,
            "{failed} run(s) failed or diverged; see the report's table of failures"
        );
    }
    s
}
