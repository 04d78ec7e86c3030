//! `sweep plan`: the runs an experiment file expands into, as a table, with what the search,
//! the frozen-feature cache, the freeze and transfer depths and the saved weights amount to.

use std::path::Path;
use std::process::ExitCode;

use sweep::spec::{Plan, Strategy};
use sweep::sweep as engine;

use super::{Failure, Outcome};

/// `sweep plan FILE`: prints the plan; trains nothing.
pub(super) fn plan(file: &Path) -> Outcome {
    let plan = checked_plan(file)?;
    print!("{}", render_plan(&plan));
    Ok(ExitCode::SUCCESS)
}

/// An experiment file loaded and preflighted (datasets, budgets and weights checked).
pub(super) fn checked_plan(file: &Path) -> Result<Plan, Failure> {
    let plan = Plan::load(file, sweep::task::rules).map_err(Failure::Spec)?;
    sweep::task::preflight::check(&plan).map_err(Failure::Spec)?;
    Ok(plan)
}

/// The plan as a table: run id and the value of every axis, then the count.
fn render_plan(plan: &Plan) -> String {
    let mut header = vec!["run".to_string()];
    header.extend(plan.axes.iter().map(|a| engine::short(a).to_string()));
    header.push("features".into());
    let mut rows = vec![header];
    // Runs sharing a frozen-feature cache entry get the same letter.
    let mut groups: Vec<String> = Vec::new();
    // A search's rows are its grid points: the searched columns are drawn per trial.
    let searched: Vec<bool> = plan
        .axes
        .iter()
        .map(|a| {
            plan.search
                .as_ref()
                .is_some_and(|s| s.samples() && s.names.contains(a))
        })
        .collect();
    for r in &plan.runs {
        let mut row = vec![r.id.clone()];
        row.extend(r.axis_values.iter().zip(&searched).map(|(v, s)| match s {
            true if v != "-" => "(searched)".to_string(),
            _ => v.clone(),
        }));
        row.push(
            match sweep::task::of(r.config.experiment.task).feature_group(r) {
                Some(g) => {
                    let k = groups.iter().position(|x| *x == g).unwrap_or_else(|| {
                        groups.push(g);
                        groups.len() - 1
                    });
                    format!("cache {}", group_name(k))
                }
                None => "-".into(),
            },
        );
        rows.push(row);
    }
    let widths: Vec<usize> = (0..rows[0].len())
        .map(|c| rows.iter().map(|r| r[c].len()).max().unwrap_or(0))
        .collect();
    let mut s = String::new();
    for row in &rows {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(v, w)| format!("{v:<w$}"))
            .collect();
        s.push_str(cells.join("  ").trim_end());
        s.push('\n');
    }
    let sampled = plan.search.as_ref().is_some_and(|s| s.samples());
    s.push_str(&format!(
        "{} {} ({} axes: {})\n",
        plan.runs.len(),
        if sampled { "grid points" } else { "runs" },
        plan.axes.len(),
        plan.axes.join(", ")
    ));
    if let Some(search) = &plan.search {
        s.push_str(&render_search(plan, search));
    }
    if !groups.is_empty() {
        s.push_str(&format!(
            "features: runs marked `cache X` compute their frozen layers once per image, shared by \
             the runs with the same X ({} entr{})\n",
            groups.len(),
            if groups.len() == 1 { "y" } else { "ies" }
        ));
    }
    // What each freeze (and transfer) depth of the plan does, per backbone.
    let (mut seen, mut depths) = (Vec::new(), Vec::new());
    for r in &plan.runs {
        let backbone = engine::source::backbone_spec(&r.config.model);
        let t = &r.config.transfer;
        if t.strategy == Strategy::Scratch {
            continue;
        }
        let key = (backbone, t.freeze_depth);
        if !seen.contains(&key) {
            let summary = sweep::model::freeze_summary(&key.0, key.1);
            s.push_str(&format!(
                "freeze_depth {} of {} freezes {summary}\n",
                key.1, key.0.backbone
            ));
            seen.push(key.clone());
        }
        if let Some(n) = t.transfer_depth
            && !depths.contains(&(key.clone(), n))
        {
            depths.push((key, n));
        }
    }
    for ((spec, freeze), n) in &depths {
        s.push_str(&transfer_line(spec, *n, *freeze));
    }
    s.push_str(&saved_line(plan));
    s
}

/// A search's space, size and budget, and its stopping rule, under the plan's table.
fn render_search(plan: &Plan, search: &sweep::spec::SearchPlan) -> String {
    use sweep::spec::search::StopMethod;
    let spec = &search.spec;
    let mut s = String::new();
    let metric = search.metric.name();
    if search.samples() {
        let seeds = search.cells.first().map_or(1, Vec::len);
        let runs = spec.trials * search.cells.len() * seeds;
        let per_run = plan.runs.first().map_or(0, |r| r.config.train.epochs);
        s.push_str(&format!(
            "search: {} over {} setting{}, {} trials in each of {} cell{} (the rows above) x {seeds} seed{} = up to {runs} runs, {} epochs at most; optimises {metric} (mean over seeds), proposals seeded by {} in batches of {}\n",
            spec.method.as_str(),
            search.names.len(),
            if search.names.len() == 1 { "" } else { "s" },
            spec.trials,
            search.cells.len(),
            if search.cells.len() == 1 { "" } else { "s" },
            if seeds == 1 { "" } else { "s" },
            runs * per_run,
            spec.seed,
            spec.effective_batch(),
        ));
        for (name, d) in search.names.iter().zip(&search.described) {
            s.push_str(&format!("  {name} ~ {d}\n"));
        }
    }
    if let Some(stop) = &spec.stop {
        s.push_str(&match stop.method {
            StopMethod::Asha => format!(
                "stop: asha, rungs at epochs {} x {}^k, the top 1/{} of a rung go on\n",
                stop.grace, stop.reduction, stop.reduction
            ),
            StopMethod::Median => format!(
                "stop: median, after {} warm-up epoch{} and {} finished runs, a run whose best {metric} is below the median of the finished runs at that epoch stops\n",
                stop.warmup,
                if stop.warmup == 1 { "" } else { "s" },
                stop.min_trials
            ),
        });
    }
    s
}

/// What `[experiment] save` keeps, and about how much disk that takes.
fn saved_line(plan: &Plan) -> String {
    use sweep::spec::schema::{Save, Task};
    let Some(first) = plan.runs.first() else {
        return String::new();
    };
    let c = &first.config;
    let copies = match c.experiment.save {
        Save::None => {
            return "save: none (no weights are written; the manifest keeps their hash)\n".into();
        }
        Save::Best => 1,
        Save::All => 2,
    };
    let what = if copies == 1 {
        "model.safetensors"
    } else {
        "model.safetensors and model-last.safetensors"
    };
    let classes = if c.target.classes.is_empty() {
        10
    } else {
        c.target.classes.len()
    };
    let per_run = copies * sweep::model::saved_bytes(&c.model, classes);
    let mb = |b: usize| b as f64 / 1e6;
    let dense = if c.experiment.task == Task::Classify {
        ""
    } else {
        " plus the task's head"
    };
    format!(
        "save: {what} per run in runs/<id>/, about {:.1} MB each{dense} ({:.0} MB for {} runs)\n",
        mb(per_run),
        mb(per_run * plan.runs.len()),
        plan.runs.len()
    )
}

/// `transfer_depth 2, freeze_depth 1 of resnet-mini: frozen stem; copied layer1; fresh ...`.
fn transfer_line(spec: &sweep::spec::schema::ModelSpec, n: usize, freeze: usize) -> String {
    use sweep::spec::depth::{PartRole, roles};
    let names = sweep::model::parts(spec);
    let roles = roles(names.len(), Some(n), freeze);
    let list = |role: PartRole| {
        let v: Vec<&str> = names
            .iter()
            .zip(&roles)
            .filter(|(_, r)| **r == role)
            .map(|(n, _)| n.as_str())
            .collect();
        if v.is_empty() {
            "none".to_string()
        } else {
            v.join(", ")
        }
    };
    format!(
        "transfer_depth {n}, freeze_depth {freeze} of {}: copied and frozen: {}; copied and fine-tuned: {}; fresh from the run's seed: {} and the head\n",
        spec.backbone,
        list(PartRole::Frozen),
        list(PartRole::Copied),
        list(PartRole::Fresh)
    )
}

/// A, B, ..., Z, AA, AB, ...
fn group_name(mut k: usize) -> String {
    let mut name = Vec::new();
    loop {
        name.push(b'A' + (k % 26) as u8);
        if k < 26 {
            break;
        }
        k = k / 26 - 1;
    }
    name.reverse();
    String::from_utf8(name).expect("ASCII")
}
