//! Helpers around a plan that train nothing for the record: `lr-find` and `augment-preview`.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use burn::tensor::Device;

use super::source;
use crate::data::{self, preview};
use crate::report::plot::{LineChart, Series};
use crate::spec::{Plan, Run};
use crate::train::lr_find::{self, LrFind};

/// Picks a run of the plan by 1-based position or by id.
pub fn pick<'p>(plan: &'p Plan, which: &str) -> anyhow::Result<&'p Run> {
    if let Ok(n) = which.parse::<usize>() {
        return match n.checked_sub(1).and_then(|i| plan.runs.get(i)) {
            Some(r) => Ok(r),
            None => bail!(
                "run {n} does not exist: the plan has {} runs (`sweep plan` lists them)",
                plan.runs.len()
            ),
        };
    }
    plan.runs
        .iter()
        .find(|r| r.id == which)
        .with_context(|| format!("no run `{which}` in the plan; `sweep plan` lists the ids"))
}

/// Runs the learning-rate range test for one run and writes `lr-find-<id>.{csv,png,svg}`
/// into `out`; returns the result and the CSV path.
pub fn lr_find(
    run: &Run,
    out: &Path,
    range: (f64, f64, usize),
    log: &dyn Fn(String),
) -> anyhow::Result<(LrFind, PathBuf)> {
    if !(range.0 > 0.0 && range.1 > range.0 && range.2 >= 20) {
        bail!("the range must satisfy 0 < start < end with at least 20 steps");
    }
    let device = Device::flex().autodiff();
    let cache = out.join("cache");
    let info = match &run.config.source {
        Some(s) => Some(source::obtain(s, &run.config.model, &cache, &device, log)?),
        None => None,
    };
    let r = crate::task::classify::run::ready(run, info.as_ref(), &cache, &device)?;
    let found = lr_find::lr_find(r.net, &r.data, &r.train, &r.settings, range, &device);
    if found.points.is_empty() {
        bail!(
            "the loss was not finite even at the first rate {}; lower `--start`",
            range.0
        );
    }
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let stem = out.join(format!("lr-find-{}", run.id));
    let mut csv = String::from("step,lr,loss,smoothed_loss\n");
    for (i, p) in found.points.iter().enumerate() {
        csv.push_str(&format!("{},{:e},{},{}\n", i + 1, p.lr, p.loss, p.smoothed));
    }
    let csv_path = stem.with_extension("csv");
    crate::io::write_atomic(&csv_path, csv.as_bytes())?;
    let mut markers = Vec::new();
    if let Some(lr) = found.valley {
        markers.push((lr, format!("valley {lr:.1e} (suggested)")));
    }
    if let Some(lr) = found.steepest {
        markers.push((lr, format!("steepest fall {lr:.1e}")));
    }
    if let Some(lr) = found.min_tenth {
        markers.push((lr, format!("minimum / 10 {lr:.1e}")));
    }
    crate::report::plot::save(
        &LineChart {
            title: format!("Learning-rate range test, run {}", run.id),
            x_label: "head learning rate (log scale)".into(),
            y_label: "training loss (smoothed)".into(),
            log_x: true,
            series: vec![Series {
                label: "smoothed loss".into(),
                points: found.points.iter().map(|p| (p.lr, p.smoothed)).collect(),
                ..Default::default()
            }],
            markers,
            x_ticks: vec![],
        },
        &stem,
    )?;
    Ok((found, csv_path))
}

/// Writes a PNG grid of the first run's training images under augmentation set `set`.
pub fn augment_preview(
    plan: &Plan,
    set: &str,
    path: &Path,
    images: usize,
    columns: usize,
) -> anyhow::Result<()> {
    // The file's sets, not a run's: a run keeps only the set it uses.
    #[derive(serde::Deserialize)]
    struct File {
        #[serde(default)]
        augment: crate::spec::schema::Augment,
    }
    let file: File = toml::from_str(&plan.text).context("cannot read [augment.sets]")?;
    let ops = match file.augment.sets.get(set) {
        Some(ops) => ops.0.clone(),
        None if set == "none" => Vec::new(),
        None => {
            let names: Vec<&str> = file.augment.sets.keys().map(String::as_str).collect();
            bail!(
                "no augmentation set `{set}` in {}; it defines: none{}{}",
                plan.file.display(),
                if names.is_empty() { "" } else { ", " },
                names.join(", ")
            )
        }
    };
    let c = &plan.runs[0].config;
    let prepared = data::prepare(
        &c.target.dataset,
        &c.target.classes,
        c.target.crop,
        c.model.input_size,
    )?;
    let scale = (96 / prepared.size).max(1);
    let img = preview::grid(&prepared, &ops, c.experiment.seed, images, columns, scale);
    preview::write_png(&img, path)
}
