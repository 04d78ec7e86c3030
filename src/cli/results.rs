//! The verbs that read a results folder: `status`, `best`, `export`, `report` and `verify`
//! (which trains again, but only to check what the folder recorded).

use std::path::Path;
use std::process::ExitCode;

use sweep::sweep::{self as engine, verify::Check};

use super::{Command, Failure, Outcome};

/// `sweep status DIR`: finished, claimed and pending runs, and the recorded Slurm jobs.
pub(super) fn status(dir: &Path) -> Outcome {
    let s = engine::status::read(dir).map_err(Failure::Sweep)?;
    print!("{}", engine::status::render(&s, dir));
    Ok(ExitCode::SUCCESS)
}

/// `sweep best DIR`: the search's best trial as an experiment file on stdout.
pub(super) fn best(dir: &Path, cell: Option<usize>) -> Outcome {
    let text = engine::best::best(dir, cell)
        .and_then(|(plan, b)| engine::best::experiment_file(&plan, &b))
        .map_err(Failure::Sweep)?;
    print!("{text}");
    Ok(ExitCode::SUCCESS)
}

/// `sweep export DIR --run ID`: a run's weights as safetensors and its JSON description.
pub(super) fn export(dir: &Path, run: &str, out: Option<&Path>) -> Outcome {
    let e = engine::export::export(dir, run, out).map_err(Failure::Sweep)?;
    println!(
        "exported run {}: {} and {}",
        e.run_id,
        e.weights.display(),
        e.info.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// `sweep report DIR`: renders the report from the CSVs and prints its summary.
pub(super) fn report(dir: &Path, x: String, y: String) -> Outcome {
    let r = sweep::report::render(dir, &sweep::report::Options { x, y }).map_err(Failure::Sweep)?;
    print!("{}", r.summary);
    println!("report: {}", r.dir.join("index.html").display());
    Ok(ExitCode::SUCCESS)
}

/// `sweep verify DIR`: trains runs again, prints a table of what matched; exit 1 on a mismatch.
pub(super) fn verify(cmd: Command) -> Outcome {
    let Command::Verify {
        dir,
        runs,
        all,
        seed,
        device,
    } = cmd
    else {
        unreachable!("the dispatch hands `verify` only its own verb")
    };
    let count = (!all).then_some(runs);
    let checks = engine::verify::verify(&dir, count, device, seed, &|l| eprintln!("{l}"))
        .map_err(Failure::Sweep)?;
    print!("{}", render_checks(&checks));
    let bad = checks.iter().filter(|c| !c.ok()).count();
    Ok(if bad > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// One line per re-trained run (recorded and new metric, what matched, the verdict), then the
/// count of runs that reproduced.
fn render_checks(checks: &[Check]) -> String {
    let mut s = format!(
        "{:<12} {:>10} {:>10}  {:<8} {:<8} result\n",
        "run", "recorded", "now", "metrics", "weights"
    );
    let word = |b: bool| if b { "same" } else { "DIFFER" };
    for c in checks {
        s.push_str(&format!(
            "{:<12} {:>10.6} {:>10.6}  {:<8} {:<8} {}\n",
            c.id,
            c.accuracy.0,
            c.accuracy.1,
            word(c.metrics_match),
            word(c.weights_match),
            c.verdict()
        ));
    }
    let bad = checks.iter().filter(|c| !c.ok()).count();
    let exact = checks.iter().filter(|c| c.exact()).count();
    s.push_str(&format!(
        "{} of {} runs reproduced: {exact} bit for bit, {} within float tolerance\n",
        checks.len() - bad,
        checks.len(),
        checks.len() - bad - exact
    ));
    s
}
