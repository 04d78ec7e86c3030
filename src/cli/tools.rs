//! `sweep lr-find` and `sweep augment-preview`: tools to choose an experiment's settings, run
//! on one run or one augmentation set of a plan, writing their files beside its results.

use std::process::ExitCode;

use sweep::spec::Plan;
use sweep::sweep::tools;

use super::{Command, Failure, Outcome, results_dir};

/// `sweep lr-find FILE`: a learning-rate range test, its suggested rates and its curve.
pub(super) fn lr_find(cmd: Command) -> Outcome {
    let Command::LrFind {
        file,
        run,
        start,
        end,
        steps,
        out,
    } = cmd
    else {
        unreachable!("the dispatch hands `lr-find` only its own verb")
    };
    let plan = Plan::load(&file, sweep::task::rules).map_err(Failure::Spec)?;
    let out = out.unwrap_or_else(|| results_dir(&plan).join("lr-find"));
    let (found, csv) = tools::pick(&plan, &run)
        .and_then(|r| {
            eprintln!(
                "sweep: learning-rate range test of run {} ({steps} steps, {start:e} to {end:e})",
                r.id
            );
            tools::lr_find(r, &out, (start, end, steps), &|line| eprintln!("{line}"))
        })
        .map_err(Failure::Sweep)?;
    let show = |v: Option<f64>| v.map_or("none (too few points)".into(), |lr| format!("{lr:.2e}"));
    println!("valley (fastai's default):  lr {}", show(found.valley));
    println!("steepest fall of the loss:  lr {}", show(found.steepest));
    println!("minimum loss / 10:          lr {}", show(found.min_tenth));
    println!(
        "suggested lr: {} (set `lr` in [train])",
        show(found.valley.or(found.min_tenth))
    );
    println!("curve: {} (and .png, .svg)", csv.display());
    Ok(ExitCode::SUCCESS)
}

/// `sweep augment-preview FILE --set S`: a PNG grid of images under the set, epoch by epoch.
pub(super) fn augment_preview(cmd: Command) -> Outcome {
    let Command::AugmentPreview {
        file,
        set,
        out,
        images,
        columns,
    } = cmd
    else {
        unreachable!("the dispatch hands `augment-preview` only its own verb")
    };
    let plan = Plan::load(&file, sweep::task::rules).map_err(Failure::Spec)?;
    let out = out.unwrap_or_else(|| results_dir(&plan).join(format!("augment-{set}.png")));
    tools::augment_preview(&plan, &set, &out, images.max(1), columns.max(1))
        .map_err(Failure::Sweep)?;
    println!("{}", out.display());
    Ok(ExitCode::SUCCESS)
}
