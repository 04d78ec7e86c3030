//! Running a plan: source stages once, then every run, in parallel workers, with progress.

pub mod best;
pub mod claim;
pub mod export;
pub mod ledger;
pub mod platform;
pub mod progress;
pub mod results;
pub mod run;
pub mod search;
pub mod select;
pub mod slurm;
pub mod source;
pub mod status;
pub mod summary;
pub mod tensorboard;
pub mod tools;
pub mod verify;
pub mod workers;

use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

use burn::tensor::Device;

use crate::spec::Plan;
pub use run::{Outcome, Status};
use source::SourceInfo;

/// How to run a plan.
#[derive(Debug, Clone)]
pub struct Options {
    /// Results folder.
    pub out: PathBuf,
    /// Runs trained at the same time.
    pub jobs: usize,
    /// Compute threads of each run (results are reproducible for a fixed value).
    pub threads: usize,
    /// No progress bar or log lines.
    pub quiet: bool,
    /// Which finished runs to train again.
    pub rerun: ledger::Rerun,
    /// Cache folder (source stages, frozen features) [default: `out/cache`].
    pub cache: Option<PathBuf>,
    /// Where runs train.
    pub device: crate::device::Choice,
    /// Which runs this process trains (default: all).
    pub select: select::Selection,
}

enum Task {
    Source(String),
    Run(usize),
}

/// The outcome of every selected run of a plan, and how many were trained by this call.
pub struct Sweep {
    /// One outcome per selected run, in plan order (every run of the plan unless
    /// [`Options::select`] chose some).
    pub outcomes: Vec<Outcome>,
    /// Runs trained now (the rest were finished before, or by another process, and read from the
    /// ledger).
    pub trained: usize,
}

/// How long a process waits between looks at a run or source stage another process holds.
pub(crate) const POLL: std::time::Duration = std::time::Duration::from_millis(500);

/// Trains every selected run of `plan` that `opts.out` has no result for, writing each run's
/// folder atomically as it finishes and rebuilding the CSVs from every finished run.
///
/// Many processes may do this on one folder at once (on one machine or several sharing the
/// filesystem): each run is claimed before it trains ([`claim`]), a run another live process
/// holds is waited for and read back when it finishes, and a run whose claim went stale (its
/// process died, or fell silent) is taken over.
pub fn run(plan: &Plan, opts: &Options) -> anyhow::Result<Sweep> {
    let out = &opts.out;
    // Every dataset, budget and weights file is checked (and URLs downloaded) before the results
    // folder is touched; a problem is a SpecError naming the file and setting.
    crate::task::preflight::check(plan)?;
    let selected = opts.select.indices(plan)?;
    let devices = opts.device.open()?;
    let began = std::time::SystemTime::now();
    ledger::adopt(out, plan)?;
    let cache = opts.cache.clone().unwrap_or_else(|| out.join("cache"));
    let done = ledger::finished(out, plan, opts.rerun);
    let mut in_scope = vec![false; plan.runs.len()];
    for &i in &selected {
        in_scope[i] = true;
    }
    let todo = |i: usize| in_scope[i] && done[i].is_none();
    // Runs asked to train again: their old result does not count, one written since we began
    // (by another process of the same rerun) does.
    let redo: Vec<bool> = (0..plan.runs.len())
        .map(|i| {
            todo(i)
                && ledger::run_dir(out, &plan.runs[i].id)
                    .join("outcome.json")
                    .exists()
        })
        .collect();
    let on_disk = |i: usize| -> Option<Outcome> {
        let id = &plan.runs[i].id;
        if redo[i] && !ledger::finished_since(out, id, began) {
            return None;
        }
        ledger::load(out, id)
    };
    if !opts.quiet {
        let n = selected.iter().filter(|&&i| done[i].is_some()).count();
        if n > 0 {
            eprintln!(
                "sweep: {n} of {} runs already finished in {}; training the other {}",
                selected.len(),
                out.display(),
                selected.len() - n
            );
        }
    }

    // One source stage per distinct source config, shared by all the runs that use it.
    let mut sources = BTreeMap::new();
    let mut run_source = vec![None; plan.runs.len()];
    for (i, r) in plan.runs.iter().enumerate().filter(|(i, _)| todo(*i)) {
        // Normalised configs: only runs that use a source stage keep their [source].
        if let Some(s) = &r.config.source {
            let key = source::key(s, &r.config.model);
            sources
                .entry(key.clone())
                .or_insert_with(|| (s.clone(), r.config.model.clone()));
            run_source[i] = Some(key);
        }
    }
    let cells: BTreeMap<String, OnceLock<Result<SourceInfo, String>>> = sources
        .keys()
        .map(|k| (k.clone(), OnceLock::new()))
        .collect();

    // Source stages first, then runs that need none, so no worker waits while another pretrains.
    let mut tasks: VecDeque<Task> = sources.keys().cloned().map(Task::Source).collect();
    if !opts.select.sources_only {
        tasks.extend(
            (0..plan.runs.len())
                .filter(|&i| todo(i) && run_source[i].is_none())
                .map(Task::Run),
        );
        tasks.extend(
            (0..plan.runs.len())
                .filter(|&i| todo(i) && run_source[i].is_some())
                .map(Task::Run),
        );
    }
    let total = tasks.iter().filter(|t| matches!(t, Task::Run(_))).count();
    let tasks = Mutex::new(tasks);
    // Runs another process holds: looked at again once the queue is empty.
    let waiting: Mutex<VecDeque<usize>> = Mutex::new(VecDeque::new());
    let trained = AtomicUsize::new(0);

    let progress = progress::Progress::new(total, progress::Mode::detect(opts.quiet));
    let log = |line: String| progress.log(line);
    let obtain = |key: &str, device: &Device| -> Result<SourceInfo, String> {
        cells[key]
            .get_or_init(|| {
                let (s, m) = &sources[key];
                source::obtain(s, m, &cache, device, &log)
                    .map_err(|e| format!("source stage failed: {e:#}"))
            })
            .clone()
    };

    let outcomes: Mutex<Vec<Option<Outcome>>> = Mutex::new(done.clone());
    let write_error: Mutex<Option<anyhow::Error>> = Mutex::new(None);
    let fail = |e: anyhow::Error| {
        write_error.lock().expect("lock").get_or_insert(e);
    };
    // Records the outcome of a run trained here and rewrites the CSVs.
    let record = |i: usize, outcome: Outcome| -> anyhow::Result<()> {
        let mut all = outcomes.lock().expect("results lock");
        all[i] = Some(outcome);
        if let Err(e) = save(out, plan, i, &all, &on_disk) {
            // runs.csv lists a run only once its folder is written, and a later save must not
            // list this one.
            all[i] = ledger::load(out, &plan.runs[i].id);
            return Err(e);
        }
        // Written: a sweep of many runs must not hold every run's weights in memory.
        if let Some(o) = all[i].as_mut() {
            o.model = None;
        }
        Ok(())
    };
    let worker = |device: Device| {
        loop {
            // After a failed write (a full disk, most likely) nothing more could be saved.
            if write_error.lock().expect("lock").is_some() {
                break;
            }
            let next = tasks.lock().expect("lock").pop_front();
            let (i, retry) = match next {
                Some(Task::Source(key)) => {
                    let _ = obtain(&key, &device);
                    continue;
                }
                Some(Task::Run(i)) => (i, false),
                None => match waiting.lock().expect("lock").pop_front() {
                    Some(i) => (i, true),
                    None => break,
                },
            };
            let r = &plan.runs[i];
            let label = format!("run {} [{}]", r.id, axis_cells(plan, i));
            let path = claim::path(out, &r.id);
            let claim = match claim::Claim::take(&path) {
                Ok(Ok((c, why))) => {
                    if let Some(why) = why {
                        log(format!("{label}: taking over its claim ({why})"));
                    }
                    c
                }
                Ok(Err(owner)) => {
                    if !retry {
                        log(format!(
                            "{label} is being trained by {owner}; waiting for it"
                        ));
                    } else {
                        std::thread::sleep(POLL);
                    }
                    waiting.lock().expect("lock").push_back(i);
                    continue;
                }
                Err(e) => {
                    fail(crate::io::write_error(&path, e));
                    break;
                }
            };
            // Finished by another process between our look at the ledger and the claim.
            if let Some(o) = on_disk(i) {
                drop(claim);
                let line = progress.start(label.clone());
                let summary = format!(
                    "{} (trained by another process)",
                    finished_line(plan, i, &o)
                );
                outcomes.lock().expect("results lock")[i] = Some(o);
                progress.finish(line, summary);
                continue;
            }
            let line = progress.start(format!("{label} starting"));
            let lost = std::cell::Cell::new(false);
            let outcome = match run_source[i].as_deref().map(|k| obtain(k, &device)) {
                Some(Err(msg)) => failed(msg),
                src => {
                    let info = src.and_then(Result::ok);
                    let epochs = r.config.train.epochs;
                    let task = crate::task::of(r.config.experiment.task);
                    let metric = task.metric(
                        plan.search
                            .as_ref()
                            .map_or(r.config.train.monitor, |s| s.metric),
                    );
                    let (shown, shown_label) = task.progress();
                    let mut curve = Vec::new();
                    let mut on_epoch = |e: &crate::train::EpochLog| {
                        line.set(format!(
                            "{label} epoch {}/{epochs} train loss {:.4} {shown_label} {:.4}",
                            e.epoch,
                            e.train_loss,
                            e.score(shown)
                        ));
                        curve.push(metric.of(e).unwrap_or(f64::NAN));
                        if !claim.still_mine() {
                            lost.set(true);
                            return crate::train::Control::Break(());
                        }
                        match &r.stop {
                            Some(p) if p.should_stop(&curve) => crate::train::Control::Break(()),
                            _ => crate::train::Control::Continue(()),
                        }
                    };
                    run::execute(r, info.as_ref(), &cache, &device, &mut on_epoch)
                }
            };
            // Taken over while we were silent (a stalled filesystem, a suspended process):
            // the taker's result is the one kept.
            if lost.get() || !claim.still_mine() {
                drop(claim);
                progress.abandon(
                    line,
                    format!("{label}: its claim was taken over; leaving the run to its new owner"),
                );
                waiting.lock().expect("lock").push_back(i);
                continue;
            }
            let summary = finished_line(plan, i, &outcome);
            match &outcome.status {
                // Out of space for a cache entry: the machine's fault, not the run's, so it is
                // not recorded as failed and the next `sweep run` trains it again.
                Status::Failed(msg) if crate::io::is_disk_full_message(msg) => {
                    fail(anyhow::anyhow!("run {} could not be trained: {msg}", r.id));
                }
                _ => match record(i, outcome) {
                    Ok(()) => {
                        trained.fetch_add(1, Ordering::SeqCst);
                    }
                    Err(e) => fail(e),
                },
            }
            drop(claim);
            progress.finish(line, summary);
        }
    };
    let worker = &worker;
    std::thread::scope(|scope| {
        for k in 0..opts.jobs.max(1) {
            // Workers take the devices in turn: several runs per GPU when jobs outnumber them.
            let device = devices[k % devices.len()].clone();
            scope.spawn(move || match crate::device::compute_pool(opts.threads) {
                Ok(pool) => pool.install(|| worker(device)),
                Err(_) => worker(device),
            });
        }
    });
    progress.clear();
    let outcomes = outcomes.into_inner().expect("lock");
    if let Some(e) = write_error.into_inner().expect("lock") {
        if !crate::io::is_disk_full(&e) {
            return Err(e);
        }
        let saved = selected.iter().filter(|&&i| outcomes[i].is_some()).count();
        return Err(e.context(format!(
            "no space left on the disk: {saved} of {} runs are saved in {}; free some space and \
             run the same `sweep run` again, which trains only the other {}",
            selected.len(),
            out.display(),
            selected.len() - saved
        )));
    }
    if opts.select.sources_only {
        if let Some(Err(msg)) = cells
            .values()
            .filter_map(OnceLock::get)
            .find(|c| c.is_err())
        {
            anyhow::bail!("{msg}");
        }
    } else {
        // Runs finished by other processes since our last save are in the CSVs too.
        let _lock = ledger::lock(out)?;
        save_csvs(out, plan, &outcomes, &on_disk)?;
    }
    // One source stage: also publish its backbone under a stable name, for other experiments'
    // `[model] weights`.
    if let [key] = sources.keys().collect::<Vec<_>>()[..]
        && let Some(Ok(_)) = cells[key].get()
    {
        let (weights, _) = source::paths(&cache, key);
        let stable = out.join("source.safetensors");
        crate::io::write_atomic(&stable, &std::fs::read(&weights)?)?;
    }
    let mut outcomes = outcomes;
    Ok(Sweep {
        outcomes: if opts.select.sources_only {
            Vec::new()
        } else {
            selected
                .iter()
                .map(|&i| outcomes[i].take().expect("every selected run finished"))
                .collect()
        },
        trained: trained.into_inner(),
    })
}

fn failed(message: String) -> Outcome {
    Outcome {
        status: Status::Failed(message),
        scores: BTreeMap::new(),
        headline: None,
        details: None,
        best_epoch: 0,
        epochs: vec![],
        train_images: 0,
        seconds: 0.0,
        manifest: None,
        input_normalisation: None,
        files: Vec::new(),
        model: None,
    }
}

fn save(
    out: &Path,
    plan: &Plan,
    i: usize,
    all: &[Option<Outcome>],
    on_disk: &dyn Fn(usize) -> Option<Outcome>,
) -> anyhow::Result<()> {
    let outcome = all[i].as_ref().expect("just finished");
    results::write_run_dir(out, &plan.runs[i], outcome)?;
    // Other processes rewrite the CSVs too: one at a time, each from every run on disk.
    let _lock = ledger::lock(out)?;
    save_csvs(out, plan, all, on_disk)
}

/// Rewrites the CSVs from the outcomes this process knows and, for the rest, the ledger.
fn save_csvs(
    out: &Path,
    plan: &Plan,
    known: &[Option<Outcome>],
    on_disk: &dyn Fn(usize) -> Option<Outcome>,
) -> anyhow::Result<()> {
    let all: Vec<Option<Outcome>> = known
        .iter()
        .enumerate()
        .map(|(i, o)| o.clone().or_else(|| on_disk(i)))
        .collect();
    results::write_runs_csv(&out.join("runs.csv"), plan, &all)?;
    results::write_epochs_csv(&out.join("epochs.csv"), plan, &all)
}

/// A run's axis values as `name=value` pairs.
fn axis_cells(plan: &Plan, i: usize) -> String {
    let cells: Vec<String> = plan
        .axes
        .iter()
        .zip(&plan.runs[i].axis_values)
        .map(|(a, v)| format!("{}={v}", short(a)))
        .collect();
    cells.join(" ")
}

fn finished_line(plan: &Plan, i: usize, o: &Outcome) -> String {
    let r = &plan.runs[i];
    let task = crate::task::of(r.config.experiment.task);
    let result = match &o.status {
        Status::Ok => format!(
            "{} (best epoch {}/{})",
            task.finished(&o.scores),
            o.best_epoch,
            o.epochs.len()
        ),
        Status::Failed(msg) => format!("FAILED: {msg}"),
        Status::Pruned => format!("stopped early after epoch {}", o.epochs.len()),
        Status::Diverged => format!("DIVERGED in epoch {}", o.epochs.len() + 1),
    };
    format!(
        "run {} [{}] {result} in {:.1}s",
        r.id,
        axis_cells(plan, i),
        o.seconds
    )
}

/// Column name of an axis: the last segment of its path (`seed` for `experiment.seeds`).
pub fn short(path: &str) -> &str {
    match path {
        "experiment.seeds" => "seed",
        _ => path.rsplit('.').next().unwrap_or(path),
    }
}
