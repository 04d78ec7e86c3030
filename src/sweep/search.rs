//! A search: trials proposed in batches (random or TPE) in each grid cell, or the grid's own
//! runs, trained as ordinary runs of the results folder and stopped early by `[search.stop]`.
//!
//! What a proposal may depend on: the search's seed, the trial's cell and index, and the
//! results of the trials of earlier batches (every one of them finished). So the trials are the
//! same whatever `--jobs` is and however the runs' timings fall, and a killed search, run
//! again, proposes the same trials (the finished ones are read back from the folder).

use std::sync::Arc;

use crate::search::prune::{Curve, Pruner, Rule};
use crate::search::{self, Direction, Observation, State, Value};
use crate::spec::search::{Method, StopMethod};
use crate::spec::{Plan, SearchPlan};
use crate::task::Metric;

use super::{Options, Outcome, Status, Sweep};

/// The file of a results folder listing a search's trials, `[[cell, [values]], ...]`, in
/// proposal order (rewritten before each batch trains).
pub const TRIALS: &str = "trials.json";

/// The plan of the runs a results folder holds: `plan` itself, or for a search the plan of the
/// trials listed in its `trials.json`.
pub fn results_plan(dir: &std::path::Path, plan: &Plan) -> anyhow::Result<Plan> {
    if !plan.search.as_ref().is_some_and(|s| s.samples()) {
        return Ok(plan.clone());
    }
    let path = dir.join(TRIALS);
    let text = std::fs::read(&path).map_err(|e| {
        anyhow::anyhow!(
            "{}: {e}; a search's results folder lists its trials there",
            path.display()
        )
    })?;
    let trials: Vec<(usize, Vec<Value>)> = serde_json::from_slice(&text)
        .map_err(|e| anyhow::anyhow!("{} is not a list of trials: {e}", path.display()))?;
    Ok(plan
        .with_trials(&trials)
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .0)
}

/// Whether `plan` runs batch by batch (a search with trials, or a grid with `[search.stop]`):
/// its later runs depend on earlier ones, so it cannot be split into independent runs.
pub fn batched(plan: &Plan) -> bool {
    plan.search
        .as_ref()
        .is_some_and(|s| s.samples() || s.spec.stop.is_some())
}

/// Runs `plan`: a plain grid as [`super::run`] does; a search or a grid with `[search.stop]`
/// batch by batch. Gives the plan of the runs it trained (a search's trials) and their outcomes.
pub fn run(plan: &Plan, opts: &Options) -> anyhow::Result<(Plan, Sweep)> {
    if !opts.select.is_all() && batched(plan) {
        anyhow::bail!(
            "--shard, --only and --sources-only pick runs of a plain grid; `{}` is a search (or \
             stops runs early), whose runs depend on earlier batches. To share it between \
             processes, start the same `sweep run` (no --shard) in each: they claim the runs of \
             each batch between them and all propose the same trials",
            plan.name
        );
    }
    match &plan.search {
        None => Ok((plan.clone(), super::run(plan, opts)?)),
        Some(s) if s.samples() => sampled(plan, s, opts),
        Some(s) if s.spec.stop.is_some() => grid(plan, s, opts),
        Some(_) => Ok((plan.clone(), super::run(plan, opts)?)),
    }
}

/// The trials of a search proposed so far: cell, index in the cell and values.
struct Trial {
    cell: usize,
    values: Vec<Value>,
}

fn sampled(plan: &Plan, s: &SearchPlan, opts: &Options) -> anyhow::Result<(Plan, Sweep)> {
    let batch = s.spec.effective_batch();
    let tpe = search::TpeConfig {
        startup_trials: s.spec.startup_trials,
        ..Default::default()
    };
    let metric = super::results::task(plan).metric(s.metric);
    let mut trials: Vec<Trial> = Vec::new();
    // Per cell, the observations the sampler sees and the curves the stopping rule sees.
    let mut seen: Vec<Vec<Observation>> = vec![Vec::new(); s.cells.len()];
    let mut curves: Vec<Vec<Curve>> = vec![Vec::new(); s.cells.len()];
    let mut trained = 0;
    let mut start = 0;
    loop {
        let end = (start + batch).min(s.spec.trials);
        let first_new = trials.len();
        for (cell, history) in seen.iter().enumerate() {
            for t in start..end {
                let mut rng = crate::seed::rng(s.spec.seed, &format!("trial-{cell}"), t as u64);
                let values = match s.spec.method {
                    Method::Tpe => {
                        search::tpe(&s.dists, history, Direction::Maximize, &tpe, &mut rng)
                    }
                    _ => search::random(&s.dists, &mut rng),
                };
                trials.push(Trial { cell, values });
            }
        }
        let assignments: Vec<(usize, Vec<Value>)> =
            trials.iter().map(|t| (t.cell, t.values.clone())).collect();
        let (mut batch_plan, runs_of) = plan.with_trials(&assignments)?;
        std::fs::create_dir_all(&opts.out)?;
        crate::io::write_atomic(
            &opts.out.join(TRIALS),
            &serde_json::to_vec_pretty(&assignments)?,
        )?;
        if let Some(rule) = rule(s) {
            let others: Vec<Arc<Vec<Curve>>> = curves.iter().cloned().map(Arc::new).collect();
            for (trial, runs) in trials.iter().zip(&runs_of).skip(first_new) {
                for &i in runs {
                    let r = &mut batch_plan.runs[i];
                    r.stop.get_or_insert_with(|| Pruner {
                        rule,
                        others: others[trial.cell].clone(),
                        epochs: r.config.train.epochs,
                    });
                }
            }
        }
        let sweep = super::run(&batch_plan, opts)?;
        trained += sweep.trained;
        for (trial, runs) in trials.iter().zip(&runs_of).skip(first_new) {
            let outcomes: Vec<&Outcome> = runs.iter().map(|&i| &sweep.outcomes[i]).collect();
            seen[trial.cell].push(Observation {
                params: trial.values.clone(),
                state: state(&outcomes, metric),
            });
            curves[trial.cell].extend(outcomes.iter().map(|o| curve(o, metric)));
        }
        if !opts.quiet {
            eprintln!("{}", progress_line(s, metric, &seen, end));
        }
        start = end;
        if start >= s.spec.trials {
            return Ok((
                batch_plan,
                Sweep {
                    outcomes: sweep.outcomes,
                    trained,
                },
            ));
        }
    }
}

/// A grid with `[search.stop]`: its runs in plan order, `batch` at a time, each judged against
/// the earlier batches' runs of its study (same strategy and label budget).
fn grid(plan: &Plan, s: &SearchPlan, opts: &Options) -> anyhow::Result<(Plan, Sweep)> {
    let rule = rule(s).expect("a stopping rule");
    let metric = super::results::task(plan).metric(s.metric);
    let batch = s.spec.batch.max(1);
    let study = |i: usize| {
        let c = &plan.runs[i].config;
        (
            c.transfer.strategy,
            c.target.labels_per_class,
            c.target.labelled_images,
        )
    };
    let mut all = plan.clone();
    let mut outcomes: Vec<Outcome> = Vec::new();
    let mut trained = 0;
    let n = plan.runs.len();
    let mut start = 0;
    while start < n {
        let end = (start + batch).min(n);
        let mut part = plan.truncated(end);
        for i in start..end {
            let others: Vec<Curve> = (0..start)
                .filter(|&j| study(j) == study(i))
                .map(|j| curve(&outcomes[j], metric))
                .collect();
            part.runs[i].stop = Some(Pruner {
                rule,
                others: Arc::new(others),
                epochs: part.runs[i].config.train.epochs,
            });
        }
        let sweep = super::run(&part, opts)?;
        trained += sweep.trained;
        outcomes = sweep.outcomes;
        all.runs[..end].clone_from_slice(&part.runs);
        start = end;
    }
    Ok((all, Sweep { outcomes, trained }))
}

fn rule(s: &SearchPlan) -> Option<Rule> {
    let stop = s.spec.stop.as_ref()?;
    Some(match stop.method {
        StopMethod::Asha => Rule::Asha {
            grace: stop.grace,
            reduction: stop.reduction,
        },
        StopMethod::Median => Rule::Median {
            warmup: stop.warmup,
            min_trials: stop.min_trials,
        },
    })
}

/// A run's curve of the searched metric, higher better.
fn curve(o: &Outcome, metric: Metric) -> Curve {
    Curve {
        values: o
            .epochs
            .iter()
            .map(|e| metric.of(e).unwrap_or(f64::NAN))
            .collect(),
        complete: o.status == Status::Ok,
    }
}

/// A run's best value of the searched metric (higher better), if it has any epoch.
fn best(o: &Outcome, metric: Metric) -> Option<f64> {
    o.epochs
        .iter()
        .filter_map(|e| metric.of(e))
        .reduce(f64::max)
}

/// A run's best value of the searched metric as the metric reads (a loss is not negated).
pub fn best_value(o: &Outcome, metric: Metric) -> Option<f64> {
    best(o, metric).map(|v| metric.shown(v))
}

/// What the sampler sees of a trial (higher better): the mean over its seeds' runs of their
/// best value; stopped early if any run was, with the mean of their last values (what Optuna
/// ranks a pruned trial by); failed if any run failed or diverged.
pub(crate) fn state(outcomes: &[&Outcome], metric: Metric) -> State {
    let mean = |f: &dyn Fn(&Outcome) -> Option<f64>| {
        let v: Option<Vec<f64>> = outcomes.iter().map(|o| f(o)).collect();
        v.map(|v| v.iter().sum::<f64>() / v.len() as f64)
    };
    let failed = outcomes
        .iter()
        .any(|o| matches!(o.status, Status::Failed(_) | Status::Diverged));
    let last = |o: &Outcome| o.epochs.last().and_then(|e| metric.of(e));
    if failed {
        State::Failed
    } else if outcomes.iter().any(|o| o.status == Status::Pruned) {
        match mean(&last) {
            Some(value) => State::Pruned {
                step: outcomes.iter().map(|o| o.epochs.len()).min().unwrap_or(0),
                value,
            },
            None => State::Failed,
        }
    } else {
        mean(&|o| best(o, metric)).map_or(State::Failed, State::Complete)
    }
}

/// `search: 8/40 trials in each of 2 cells; best val_accuracy 0.8125 (cell 1, trial 6)`.
fn progress_line(
    s: &SearchPlan,
    searched: Metric,
    seen: &[Vec<Observation>],
    done: usize,
) -> String {
    let mut best: Option<(f64, usize, usize)> = None;
    for (cell, obs) in seen.iter().enumerate() {
        for (t, o) in obs.iter().enumerate() {
            if let State::Complete(v) = o.state
                && best.is_none_or(|b| v > b.0)
            {
                best = Some((v, cell, t));
            }
        }
    }
    let metric = s.metric.name();
    let shown = |v: f64| searched.shown(v);
    let best = match best {
        Some((v, cell, t)) => format!("best {metric} {:.4} (cell {cell}, trial {t})", shown(v)),
        None => "no trial finished yet".into(),
    };
    format!(
        "search: {done}/{} trials in each of {} cell{}; {best}",
        s.spec.trials,
        s.cells.len(),
        if s.cells.len() == 1 { "" } else { "s" }
    )
}
