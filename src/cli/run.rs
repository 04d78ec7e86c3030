//! `sweep run` and `sweep submit`: train a plan here, or hand it to Slurm; with the summaries
//! and verdicts they print when the runs are done or the jobs are submitted.

use std::path::Path;
use std::process::ExitCode;

use sweep::spec::Plan;
use sweep::sweep::{self as engine, Options, Status, summary};

use super::plan::checked_plan;
use super::{Command, Failure, Outcome, results_dir};

/// `sweep run FILE`: trains the runs still missing from the results folder.
pub(super) fn run(cmd: Command) -> Outcome {
    let Command::Run {
        file,
        out,
        jobs,
        threads,
        quiet,
        rerun,
        cache,
        no_feature_cache,
        device,
        shard,
        only,
        sources_only,
    } = cmd
    else {
        unreachable!("the dispatch hands `run` only its own verb")
    };
    // Preflight before the banner; `engine::run` checks again (datasets are loaded once per
    // process, so the second pass costs little).
    let plan = checked_plan(&file)?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    // Chosen for the whole plan even for a --shard or --only: a share's runs then get the
    // threads, and so the floats, of the same sweep run unsplit on this machine.
    let (jobs, threads) = match (jobs, threads) {
        (None, None) => engine::workers::auto(&plan),
        (j, t) => (j.unwrap_or(cores), t.unwrap_or(1)),
    };
    let out = out.unwrap_or_else(|| results_dir(&plan));
    let opts = Options {
        out: out.clone(),
        jobs,
        threads,
        quiet,
        rerun,
        cache,
        device: device.or(plan.device).unwrap_or_default(),
        select: engine::select::Selection {
            shard,
            only,
            sources_only,
        },
    };
    sweep::train::features::set_enabled(!no_feature_cache);
    if !quiet {
        eprintln!("{}", banner(&plan, &out, jobs, threads));
    }
    match engine::search::run(&plan, &opts).map_err(Failure::engine)? {
        (_, done) if !opts.select.is_all() => Ok(selection_done(&opts, &done)),
        (plan, done) => Ok(sweep_done(&plan, &done.outcomes, &out)),
    }
}

/// The line on stderr before training: how many runs, where to, how many at once.
fn banner(plan: &Plan, out: &Path, jobs: usize, threads: usize) -> String {
    let runs = match &plan.search {
        Some(s) if s.samples() => {
            let n = s.spec.trials * s.cells.iter().map(Vec::len).sum::<usize>();
            format!("up to {n} runs ({} trials per cell)", s.spec.trials)
        }
        _ => format!(
            "{} run{}",
            plan.runs.len(),
            if plan.runs.len() == 1 { "" } else { "s" }
        ),
    };
    format!(
        "sweep: {runs} of `{}` into {} ({jobs} at a time, {threads} thread{} each)",
        plan.name,
        out.display(),
        if threads == 1 { "" } else { "s" }
    )
}

/// A run that ended badly; a pruned run ended as its search decided: not a failure.
fn is_bad(o: &engine::Outcome) -> bool {
    !matches!(o.status, Status::Ok | Status::Pruned)
}

/// The end of a `--shard`, `--only` or `--sources-only` share: a line, no table or report
/// (the other shares' runs may be missing).
fn selection_done(opts: &Options, done: &engine::Sweep) -> ExitCode {
    let bad = done.outcomes.iter().filter(|o| is_bad(o)).count();
    if opts.select.sources_only {
        println!("sweep: source stages ready in the cache");
    } else {
        println!(
            "sweep: {} selected runs finished ({} trained now); results: {}",
            done.outcomes.len(),
            done.trained,
            opts.out.join("runs.csv").display()
        );
    }
    if bad > 0 {
        eprintln!("sweep: {bad} of them did not finish well; see runs.csv");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

/// The end of a whole sweep: the summary table, the report, and a failure if a run failed.
fn sweep_done(plan: &Plan, outcomes: &[engine::Outcome], out: &Path) -> ExitCode {
    let task = plan
        .runs
        .first()
        .map(|r| r.config.experiment.task)
        .unwrap_or_default();
    // A search's cells pool every trial: its report says what each cell's best trial got
    // instead.
    if !plan.search.as_ref().is_some_and(|s| s.samples()) {
        print!("{}", summary::render(&summary::cells(plan, outcomes), task));
    }
    let bad = outcomes.iter().filter(|o| is_bad(o)).count();
    println!("results: {}", out.join("runs.csv").display());
    // The runs are saved whatever happens to the report: a warning, not a failure.
    match sweep::report::render(out, &Default::default()) {
        Ok(r) => {
            print!("{}", r.summary);
            println!("report: {}", r.dir.join("index.html").display());
        }
        Err(e) => eprintln!("sweep: the report could not be rendered: {e:#}"),
    }
    if bad > 0 {
        eprintln!(
            "sweep: {bad} of {} runs did not finish well; see the status and error columns of runs.csv",
            outcomes.len()
        );
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

/// `sweep submit FILE`: writes the Slurm jobs of the runs still missing and submits them.
pub(super) fn submit(cmd: Command) -> Outcome {
    let Command::Submit {
        file,
        out,
        partition,
        time,
        cpus_per_task,
        gpus_per_task,
        mem,
        max_parallel,
        sbatch_arg,
        dry_run,
    } = cmd
    else {
        unreachable!("the dispatch hands `submit` only its own verb")
    };
    let plan = checked_plan(&file)?;
    let opts = engine::slurm::Submit {
        out: out.unwrap_or_else(|| results_dir(&plan)),
        partition,
        time,
        cpus_per_task,
        gpus_per_task,
        mem,
        max_parallel,
        sbatch_args: sbatch_arg,
    };
    submit_plan(&plan, &opts, dry_run).map_err(Failure::Sweep)?;
    Ok(ExitCode::SUCCESS)
}

/// `sweep submit`: prints the submission (`--dry-run`) or writes and submits it.
fn submit_plan(plan: &Plan, opts: &engine::slurm::Submit, dry_run: bool) -> anyhow::Result<()> {
    if opts.out.exists() {
        engine::ledger::check_experiment(&opts.out, plan)?;
    }
    let s = engine::slurm::prepare(plan, opts)?;
    if s.jobs.is_empty() {
        println!(
            "sweep: all {} runs of `{}` are finished in {}; nothing to submit (`sweep report {}` \
             renders the report)",
            plan.runs.len(),
            plan.name,
            opts.out.display(),
            opts.out.display()
        );
        return Ok(());
    }
    let missing: usize = s.jobs.iter().map(|j| j.runs.len()).sum();
    if dry_run {
        for j in &s.jobs {
            println!("# ---- {}", j.script.display());
            print!("{}", j.text);
            if !j.runs.is_empty() {
                println!(
                    "# ---- {} ({} runs)",
                    j.script.with_extension("txt").display(),
                    j.runs.len()
                );
                println!("{}", j.runs.join("\n"));
            }
        }
        println!("# ---- sbatch lines");
        print!("{}", engine::slurm::script(&s));
        return Ok(());
    }
    engine::ledger::adopt(&opts.out, plan)?;
    let ids = engine::slurm::submit(&s, &opts.out, &|line| eprintln!("sweep: {line}"))?;
    if missing > 0 {
        println!(
            "sweep: submitted {missing} runs of `{}` ({} already finished) as {} jobs: {}",
            plan.name,
            s.finished,
            ids.len(),
            ids.join(" ")
        );
    } else {
        println!(
            "sweep: submitted the search `{}` as {} jobs: {}",
            plan.name,
            ids.len(),
            ids.join(" ")
        );
    }
    println!(
        "sweep: scripts in {}; `sweep status {}` shows progress",
        s.dir.display(),
        opts.out.display()
    );
    Ok(())
}
