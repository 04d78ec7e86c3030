//! `sweep best`: a search's best trial as a runnable experiment file, the original file with
//! each searched setting set to the trial's value, the grid fixed to the trial's cell, and
//! `[search]` removed (comments and layout kept, by toml_edit). It is named `<name>-best`, and
//! its runs have the trial's run ids.

use std::path::Path;

use anyhow::{Context, bail};

use super::search::{TRIALS, state};
use super::{Outcome, ledger};
use crate::search::{State, Value};
use crate::spec::{Plan, expand};

/// The best trial of a search: its cell, index in the cell, values and mean validation value.
#[derive(Debug, Clone, PartialEq)]
pub struct Best {
    /// Its grid cell (index into the plan's cells).
    pub cell: usize,
    /// Its index in the cell.
    pub trial: usize,
    /// The searched settings' values, in the file's order.
    pub values: Vec<Value>,
    /// The searched metric, mean over the trial's runs, as the metric reads.
    pub value: f64,
    /// Its runs (one per seed).
    pub runs: usize,
}

/// The best finished trial of the search in `dir` (stopped and failed trials never win);
/// `cell` restricts the choice to one grid cell.
pub fn best(dir: &Path, cell: Option<usize>) -> anyhow::Result<(Plan, Best)> {
    let plan = ledger::plan(dir, "best")?;
    let Some(s) = plan.search.clone().filter(|s| s.samples()) else {
        bail!(
            "{} holds a grid, not a search: every run is in runs.csv",
            dir.display()
        );
    };
    if let Some(c) = cell
        && c >= s.cells.len()
    {
        bail!(
            "the search has {} grid cell(s), numbered from 0; cell {c} is not one",
            s.cells.len()
        );
    }
    let path = dir.join(TRIALS);
    let trials: Vec<(usize, Vec<Value>)> = serde_json::from_slice(
        &std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?,
    )
    .with_context(|| format!("{} is not a list of trials", path.display()))?;
    let (trial_plan, runs_of) = plan
        .with_trials(&trials)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let metric = super::results::task(&plan).metric(s.metric);
    let mut index = vec![0usize; s.cells.len()];
    let mut best: Option<Best> = None;
    for ((c, values), runs) in trials.iter().zip(&runs_of) {
        let t = index[*c];
        index[*c] += 1;
        if cell.is_some_and(|want| want != *c) {
            continue;
        }
        let outcomes: Option<Vec<Outcome>> = runs
            .iter()
            .map(|&i| ledger::load(dir, &trial_plan.runs[i].id))
            .collect();
        let Some(outcomes) = outcomes else { continue };
        let refs: Vec<&Outcome> = outcomes.iter().collect();
        if let State::Complete(v) = state(&refs, metric)
            && best.as_ref().is_none_or(|b| v > b.value)
        {
            best = Some(Best {
                cell: *c,
                trial: t,
                values: values.clone(),
                value: v,
                runs: runs.len(),
            });
        }
    }
    let Some(mut best) = best else {
        bail!(
            "{} holds no finished trial yet; run the search first",
            dir.display()
        );
    };
    if s.metric == crate::spec::Monitor::ValLoss {
        best.value = -best.value;
    }
    Ok((plan, best))
}

/// The experiment file of `plan` with the trial `best` written in: searched settings set, grid
/// axes but the seeds fixed to the trial's cell, `[search]` removed.
pub fn experiment_file(plan: &Plan, best: &Best) -> anyhow::Result<String> {
    let s = plan.search.as_ref().expect("a search");
    let e = expand::parse(&plan.file, &plan.text).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut doc: toml_edit::DocumentMut = plan
        .text
        .parse()
        .with_context(|| format!("{} is not TOML", plan.file.display()))?;
    let slice = |span: std::ops::Range<usize>| -> anyhow::Result<toml_edit::Value> {
        plan.text[span]
            .parse::<toml_edit::Value>()
            .context("a value of the experiment file does not parse on its own")
    };
    let point = s.cells[best.cell][0];
    for (axis, value) in e.point_values(point) {
        if axis.path != ["experiment", "seeds"] {
            set(&mut doc, &axis.path, slice(value.span())?)?;
        }
    }
    for (dim, v) in e.dims.iter().zip(&best.values) {
        let value = match (v, dim.text(*v)) {
            (Value::Choice(i), _) => slice(dim.choices[*i].span())?,
            (_, Some(t)) => t.parse::<toml_edit::Value>().context("a sampled number")?,
            (_, None) => unreachable!("numbers have text"),
        };
        set(&mut doc, &dim.path, value)?;
    }
    doc.remove("search");
    // Its own results folder: the search's folder keeps the search's experiment file.
    let name = format!("{}-best", plan.name);
    set(&mut doc, &["experiment".into(), "name".into()], name.into())?;
    let metric = s.metric.name();
    let header = format!(
        "# The best trial of `{}`: cell {}, trial {}, validation {metric} {:.4} (mean over {} run(s)).\n# Written by `sweep best`; `sweep run` trains it once per seed.\n",
        plan.name, best.cell, best.trial, best.value, best.runs
    );
    let out = format!("{header}{doc}");
    // What it writes must be a plain experiment again.
    Plan::parse(&plan.file, &out, crate::task::rules)
        .map_err(|e| anyhow::anyhow!("the best trial's file does not parse: {e}"))?;
    Ok(out)
}

fn set(
    doc: &mut toml_edit::DocumentMut,
    path: &[String],
    value: toml_edit::Value,
) -> anyhow::Result<()> {
    let (last, tables) = path.split_last().expect("a path");
    let mut table: &mut dyn toml_edit::TableLike = doc.as_table_mut();
    for k in tables {
        table = table
            .get_mut(k)
            .and_then(|i| i.as_table_like_mut())
            .with_context(|| format!("no table `{k}` on the way to `{}`", path.join(".")))?;
    }
    table.insert(last, toml_edit::Item::Value(value.decorated(" ", "")));
    Ok(())
}
