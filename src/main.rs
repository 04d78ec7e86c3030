//! The `sweep` command line: parses arguments and hands the work to the library.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use sweep::spec::{Plan, Strategy};
use sweep::sweep::{self as engine, Options, Status, summary, tools};

/// Transfer-learning experiments in computer vision: declare a grid in TOML, train every run,
/// compare transfer with training from scratch.
#[derive(Parser)]
#[command(name = "sweep", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum DatasetsAction {
    /// Write a detection dataset as a COCO dataset (DIR/train.json, DIR/test.json and the
    /// images under DIR/train/ and DIR/test/), to check it in other tools, e.g.
    /// `sweep datasets export digit-scenes --format coco scenes/`.
    Export {
        /// `digit-scenes`, or a detection dataset in files (`coco:`, `yolo:`, `voc:`).
        name: String,
        /// Output format.
        #[arg(long, value_enum, default_value = "coco")]
        format: ExportFormat,
        /// Output folder (must not exist or be empty).
        dir: PathBuf,
        /// digit-scenes: side of the canvas in pixels.
        #[arg(long, default_value_t = 64)]
        canvas: usize,
        /// digit-scenes: training scenes.
        #[arg(long, default_value_t = 2000)]
        train_scenes: usize,
        /// digit-scenes: test scenes.
        #[arg(long, default_value_t = 500)]
        test_scenes: usize,
    },
}

/// Formats `sweep datasets export` writes.
#[derive(Clone, Copy, clap::ValueEnum)]
enum ExportFormat {
    /// COCO JSON with PNG images.
    Coco,
}

#[derive(Subcommand)]
enum Command {
    /// Show the runs an experiment file expands into (one line per run); trains nothing.
    Plan {
        /// Experiment file (TOML), e.g. experiments/quickstart.toml.
        file: PathBuf,
    },
    /// Train every run of an experiment and write runs.csv, epochs.csv and runs/<id>/.
    Run {
        /// Experiment file (TOML), e.g. experiments/quickstart.toml.
        file: PathBuf,
        /// Results folder [default: results/<experiment name>].
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Runs trained at the same time [default: one per CPU core, fewer when the grid is
        /// smaller or the model's memory does not fit].
        ///
        /// Given neither --jobs nor --threads, sweep picks both: one single-threaded run per
        /// core, as many at once as half the RAM holds, and the cores left idle shared out as
        /// threads. Given either, the other defaults to one per core (--jobs) or 1 (--threads).
        #[arg(long, short, value_name = "N")]
        jobs: Option<usize>,
        /// Compute threads per run; results are bitwise reproducible for a fixed value
        /// [default: see --jobs].
        #[arg(long, value_name = "N")]
        threads: Option<usize>,
        /// Print nothing but errors and the final summary.
        #[arg(long, short)]
        quiet: bool,
        /// Train finished runs again: `failed` (failed or diverged ones) or `all`. By default a
        /// run already finished in the results folder is read back, not retrained.
        #[arg(long, value_enum, default_value = "none")]
        rerun: engine::ledger::Rerun,
        /// Cache folder for source-stage weights and frozen features, addressed by content so
        /// several sweeps can share it [default: <results folder>/cache].
        #[arg(long, value_name = "DIR")]
        cache: Option<PathBuf>,
        /// Run frozen layers on every batch instead of computing their outputs once per image
        /// (the results are the same; this exists to check that, and to save disk).
        #[arg(long)]
        no_feature_cache: bool,
        /// Where runs train: cpu, cuda, cuda:N, vulkan, vulkan:N, or LibTorch's kernels with tch
        /// (CPU), tch:cuda or tch:cuda:N (GPUs and LibTorch need a binary built with `--features
        /// cuda`, `vulkan` or `tch`; without a number, runs are spread over every GPU found)
        /// [default: the experiment's `device`, else cpu].
        #[arg(long, value_name = "DEVICE")]
        device: Option<sweep::device::Choice>,
        /// Train only share K of N of the runs (the runs at plan positions K, K+N, K+2N, ...;
        /// `sweep plan` numbers them from 1), e.g. `--shard 2/4`; start N processes, on one
        /// machine or on several sharing the results folder, to split a grid between them.
        /// Processes without --shard also share a folder: each run is claimed before it
        /// trains, so none trains twice.
        #[arg(long, value_name = "K/N", value_parser = engine::select::parse_shard)]
        shard: Option<(usize, usize)>,
        /// Train only the run with this id (repeat, or separate ids by commas).
        #[arg(long, value_name = "ID", value_delimiter = ',')]
        only: Vec<String>,
        /// Train only the source stages the selected runs need (into the cache), no runs; the
        /// first job of a `sweep submit`.
        #[arg(long)]
        sources_only: bool,
    },
    /// Run a sweep on a Slurm cluster: write job scripts under DIR/slurm/<n>/ and submit them
    /// with sbatch: a job per source stage still to train, a job array of the runs that need
    /// it (afterok), an array of the runs that need none, and a job that renders the report
    /// (afterany). Only runs the results folder lacks are submitted, so submitting again after a
    /// cancelled or failed task trains just what is missing.
    Submit {
        /// Experiment file (TOML).
        file: PathBuf,
        /// Results folder, on a filesystem every node sees [default: results/<experiment
        /// name>].
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Slurm partition of every job [default: the cluster's].
        #[arg(long, value_name = "P")]
        partition: Option<String>,
        /// Time limit of every job, as sbatch takes it (`30`, `2:00:00`, `1-0`).
        #[arg(long, value_name = "T")]
        time: Option<String>,
        /// CPUs of every task; each run computes on this many threads.
        #[arg(long, value_name = "N", default_value_t = 1)]
        cpus_per_task: usize,
        /// GPUs of every task (the runs use the GPUs Slurm assigns; give the experiment a
        /// `device`, e.g. cuda, and build sweep with that feature).
        #[arg(long, value_name = "N")]
        gpus_per_task: Option<usize>,
        /// Memory of every job, as sbatch takes it (`4G`).
        #[arg(long, value_name = "M")]
        mem: Option<String>,
        /// Most array tasks running at once (`--array=0-99%K`); for a search, how many worker
        /// processes share it [default for a search: 4].
        #[arg(long, value_name = "K")]
        max_parallel: Option<usize>,
        /// An extra sbatch option for every job, written as an #SBATCH line (repeat), e.g.
        /// --sbatch-arg=--account=lab.
        #[arg(long, value_name = "ARG", allow_hyphen_values = true)]
        sbatch_arg: Vec<String>,
        /// Print the job scripts and the sbatch lines; write and submit nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Show a results folder's state: finished runs by status, runs being trained (host, pid,
    /// Slurm job), stale claims, pending runs, and the Slurm jobs `sweep submit` recorded.
    Status {
        /// Results folder.
        dir: PathBuf,
    },
    /// Learning-rate range test (fastai's lr_find) for one run: prints a suggested rate and
    /// writes the loss-vs-rate curve as CSV, PNG and SVG.
    LrFind {
        /// Experiment file (TOML).
        file: PathBuf,
        /// The run: its position in `sweep plan` (1 = first) or its id.
        #[arg(long, default_value = "1")]
        run: String,
        /// Smallest head learning rate tried.
        #[arg(long, default_value_t = 1e-7)]
        start: f64,
        /// Largest head learning rate tried.
        #[arg(long, default_value_t = 10.0)]
        end: f64,
        /// Optimizer steps (mini-batches) of the test.
        #[arg(long, default_value_t = 100)]
        steps: usize,
        /// Output folder [default: results/<experiment name>/lr-find].
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
    },
    /// Write a PNG grid of training images under an augmentation set: each row one image, the
    /// original first, then its augmented version in epochs 1, 2, ...
    AugmentPreview {
        /// Experiment file (TOML) defining `[augment.sets]`.
        file: PathBuf,
        /// Name of the set in `[augment.sets]`.
        #[arg(long)]
        set: String,
        /// Output PNG [default: results/<experiment name>/augment-<set>.png].
        #[arg(long, value_name = "PNG")]
        out: Option<PathBuf>,
        /// Images (rows), one class after another.
        #[arg(long, default_value_t = 8)]
        images: usize,
        /// Augmented versions per image (columns after the original).
        #[arg(long, default_value_t = 6)]
        columns: usize,
    },
    /// Print a search's best trial as a runnable experiment file (`sweep best DIR > best.toml`):
    /// the experiment with the trial's values and grid cell written in and `[search]` removed.
    Best {
        /// Results folder of a search.
        dir: PathBuf,
        /// Only this grid cell's trials (numbered from 0, in `sweep plan`'s order).
        #[arg(long, value_name = "N")]
        cell: Option<usize>,
    },
    /// Write a finished run's tested weights as safetensors (torchvision's key names, loadable
    /// by PyTorch's `load_state_dict`) and a JSON beside them with the backbone, head, classes,
    /// input size and normalisation, e.g. `sweep export results/quickstart --run best`.
    Export {
        /// Results folder written by `sweep run`.
        dir: PathBuf,
        /// Run id (runs.csv lists them), or `best`: the finished run with the highest test
        /// metric.
        #[arg(long, value_name = "ID|best")]
        run: String,
        /// Weights file to write [default: DIR/export/<id>.safetensors]; the JSON gets its
        /// name with `.json`.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Render the report of a results folder from its CSVs (nothing is retrained): charts as
    /// PNG and SVG, index.html and summary.md in DIR/report/, and a summary here.
    Report {
        /// Results folder written by `sweep run`, e.g. results/quickstart.
        dir: PathBuf,
        /// Column across the gain heatmap (any axis of runs.csv).
        #[arg(long, default_value = "backbone_lr_mult")]
        x: String,
        /// Column down the gain heatmap.
        #[arg(long, default_value = "freeze_depth")]
        y: String,
    },
    /// Train finished runs of a results folder again and check that they reproduce: metrics,
    /// learning curve and final-weight hash, bit for bit on the CPU. Exits 1 on any mismatch.
    Verify {
        /// Results folder written by `sweep run`.
        dir: PathBuf,
        /// How many runs, chosen at random (seeded by --seed).
        #[arg(long, default_value_t = 3, conflicts_with = "all")]
        runs: usize,
        /// Every finished run.
        #[arg(long)]
        all: bool,
        /// Seed of the choice of runs.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Train them again here instead of on the device each run used (its manifest says
        /// which): cpu, tch, cuda:N, ...
        #[arg(long, value_name = "DEVICE")]
        device: Option<sweep::device::Choice>,
    },
    /// Classify images with a pretrained backbone and print the top classes with their names:
    /// the check to run before trusting a checkpoint, e.g.
    /// `sweep predict --backbone efficientnet_lite0 --weights imagenet cat.jpg`; or with a
    /// trained run: `sweep predict --results results/quickstart --run best digit.png`.
    Predict {
        /// Backbone (`sweep models` lists them).
        #[arg(long, required_unless_present = "results", conflicts_with = "results")]
        backbone: Option<String>,
        /// Classify with a trained run of this results folder instead (see --run).
        #[arg(long, value_name = "DIR")]
        results: Option<PathBuf>,
        /// With --results: the run id, or `best` (the finished run with the highest test
        /// metric).
        #[arg(
            long,
            value_name = "ID|best",
            default_value = "best",
            requires = "results"
        )]
        run: String,
        /// With --results: write `image,class,probability` per image to this CSV.
        #[arg(long, value_name = "FILE", requires = "results")]
        out: Option<PathBuf>,
        /// Named weights (`imagenet`: `sweep models` says which backbones have them) or a
        /// weights file with a 1000-class ImageNet head.
        #[arg(long, default_value = "imagenet")]
        weights: String,
        /// Images (PNG or JPEG): the shorter side is resized to the input size, then the centre
        /// square is taken.
        #[arg(required = true)]
        images: Vec<PathBuf>,
        /// Classes printed per image.
        #[arg(long, default_value_t = 5)]
        top: usize,
        /// Input size [default: the weights' own resolution].
        #[arg(long)]
        size: Option<usize>,
        /// Print every raw logit (one line per image, space-separated) instead of the classes.
        #[arg(long)]
        logits: bool,
    },
    /// Score a COCO results file against COCO ground truth with sweep's evaluator (the numbers
    /// pycocotools' COCOeval gives for boxes): AP@[.5:.95], AP50, AP75, by size, and AR.
    CocoEval {
        /// Ground truth: a COCO annotation file (images, annotations, categories).
        truth: PathBuf,
        /// Detections: a COCO results file (a list of image_id, category_id, bbox, score).
        detections: PathBuf,
        /// Print the twelve numbers as one JSON object instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// List the datasets experiment files can name, or export one (`sweep datasets export`).
    Datasets {
        #[command(subcommand)]
        action: Option<DatasetsAction>,
    },
    /// List the backbones experiment files can name.
    Models,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    sweep::device::keep_freed_memory();
    // Networks are large values (DenseNet-121 about 110 KB) and training keeps several on the
    // stack: run on a thread with room for them.
    std::thread::Builder::new()
        .stack_size(64 << 20)
        .spawn(move || command(cli))
        .expect("a thread to run on")
        .join()
        .unwrap_or(ExitCode::FAILURE)
}

fn command(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Plan { file } => match Plan::load(&file).and_then(|plan| {
            sweep::task::preflight::check(&plan)?;
            Ok(plan)
        }) {
            Ok(plan) => {
                print!("{}", render_plan(&plan));
                ExitCode::SUCCESS
            }
            Err(e) => spec_error(&e),
        },
        Command::Run {
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
        } => {
            // Preflight before the banner; `engine::run` checks again (datasets are loaded once
            // per process, so the second pass costs little).
            let plan = match checked_plan(&file) {
                Ok(plan) => plan,
                Err(e) => return spec_error(&e),
            };
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
            // Chosen for the whole plan even for a --shard or --only: a share's runs then get
            // the threads, and so the floats, of the same sweep run unsplit on this machine.
            let (jobs, threads) = match (jobs, threads) {
                (None, None) => engine::workers::auto(&plan),
                (j, t) => (j.unwrap_or(cores), t.unwrap_or(1)),
            };
            let out = out.unwrap_or_else(|| PathBuf::from("results").join(&plan.name));
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
                eprintln!(
                    "sweep: {runs} of `{}` into {} ({jobs} at a time, {threads} thread{} each)",
                    plan.name,
                    out.display(),
                    if threads == 1 { "" } else { "s" }
                );
            }
            match engine::search::run(&plan, &opts) {
                Ok((_, done)) if !opts.select.is_all() => {
                    let bad = done
                        .outcomes
                        .iter()
                        .filter(|o| !matches!(o.status, Status::Ok | Status::Pruned))
                        .count();
                    if opts.select.sources_only {
                        println!("sweep: source stages ready in the cache");
                    } else {
                        println!(
                            "sweep: {} selected runs finished ({} trained now); results: {}",
                            done.outcomes.len(),
                            done.trained,
                            out.join("runs.csv").display()
                        );
                    }
                    if bad > 0 {
                        eprintln!("sweep: {bad} of them did not finish well; see runs.csv");
                        return ExitCode::FAILURE;
                    }
                    ExitCode::SUCCESS
                }
                Ok((plan, done)) => {
                    let outcomes = done.outcomes;
                    let task = plan
                        .runs
                        .first()
                        .map(|r| r.config.experiment.task)
                        .unwrap_or_default();
                    // A search's cells pool every trial: its report says what each cell's
                    // best trial got instead.
                    if !plan.search.as_ref().is_some_and(|s| s.samples()) {
                        print!(
                            "{}",
                            summary::render(&summary::cells(&plan, &outcomes), task)
                        );
                    }
                    // A pruned run ended as its search decided: not a failure.
                    let bad = outcomes
                        .iter()
                        .filter(|o| !matches!(o.status, Status::Ok | Status::Pruned))
                        .count();
                    println!("results: {}", out.join("runs.csv").display());
                    match sweep::report::render(&out, &Default::default()) {
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
                Err(e) => match e.downcast_ref::<sweep::spec::SpecError>() {
                    Some(spec) => spec_error(spec),
                    None => {
                        eprintln!("sweep: error: {e:#}");
                        ExitCode::FAILURE
                    }
                },
            }
        }
        Command::Submit {
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
        } => {
            let plan = match checked_plan(&file) {
                Ok(plan) => plan,
                Err(e) => return spec_error(&e),
            };
            let out = out.unwrap_or_else(|| PathBuf::from("results").join(&plan.name));
            let opts = engine::slurm::Submit {
                out: out.clone(),
                partition,
                time,
                cpus_per_task,
                gpus_per_task,
                mem,
                max_parallel,
                sbatch_args: sbatch_arg,
            };
            match submit(&plan, &opts, dry_run) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("sweep: error: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Status { dir } => match engine::status::read(&dir) {
            Ok(s) => {
                print!("{}", engine::status::render(&s, &dir));
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("sweep: error: {e:#}");
                ExitCode::FAILURE
            }
        },
        Command::LrFind {
            file,
            run,
            start,
            end,
            steps,
            out,
        } => {
            let plan = match Plan::load(&file) {
                Ok(plan) => plan,
                Err(e) => return spec_error(&e),
            };
            let out =
                out.unwrap_or_else(|| PathBuf::from("results").join(&plan.name).join("lr-find"));
            let result = tools::pick(&plan, &run).and_then(|r| {
                eprintln!("sweep: learning-rate range test of run {} ({steps} steps, {start:e} to {end:e})", r.id);
                tools::lr_find(r, &out, (start, end, steps), &|line| eprintln!("{line}"))
            });
            match result {
                Ok((found, csv)) => {
                    let show = |v: Option<f64>| {
                        v.map_or("none (too few points)".into(), |lr| format!("{lr:.2e}"))
                    };
                    println!("valley (fastai's default):  lr {}", show(found.valley));
                    println!("steepest fall of the loss:  lr {}", show(found.steepest));
                    println!("minimum loss / 10:          lr {}", show(found.min_tenth));
                    println!(
                        "suggested lr: {} (set `lr` in [train])",
                        show(found.valley.or(found.min_tenth))
                    );
                    println!("curve: {} (and .png, .svg)", csv.display());
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("sweep: error: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::AugmentPreview {
            file,
            set,
            out,
            images,
            columns,
        } => {
            let plan = match Plan::load(&file) {
                Ok(plan) => plan,
                Err(e) => return spec_error(&e),
            };
            let out = out.unwrap_or_else(|| {
                PathBuf::from("results")
                    .join(&plan.name)
                    .join(format!("augment-{set}.png"))
            });
            match tools::augment_preview(&plan, &set, &out, images.max(1), columns.max(1)) {
                Ok(()) => {
                    println!("{}", out.display());
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("sweep: error: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Export { dir, run, out } => {
            match engine::export::export(&dir, &run, out.as_deref()) {
                Ok(e) => {
                    println!(
                        "exported run {}: {} and {}",
                        e.run_id,
                        e.weights.display(),
                        e.info.display()
                    );
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("sweep: error: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Best { dir, cell } => {
            match engine::best::best(&dir, cell)
                .and_then(|(plan, b)| engine::best::experiment_file(&plan, &b))
            {
                Ok(text) => {
                    print!("{text}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("sweep: error: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Report { dir, x, y } => {
            match sweep::report::render(&dir, &sweep::report::Options { x, y }) {
                Ok(r) => {
                    print!("{}", r.summary);
                    println!("report: {}", r.dir.join("index.html").display());
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("sweep: error: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Verify {
            dir,
            runs,
            all,
            seed,
            device,
        } => {
            let count = (!all).then_some(runs);
            match engine::verify::verify(&dir, count, device, seed, &|l| eprintln!("{l}")) {
                Ok(checks) => {
                    println!(
                        "{:<12} {:>10} {:>10}  {:<8} {:<8} result",
                        "run", "recorded", "now", "metrics", "weights"
                    );
                    let word = |b: bool| if b { "same" } else { "DIFFER" };
                    for c in &checks {
                        println!(
                            "{:<12} {:>10.6} {:>10.6}  {:<8} {:<8} {}",
                            c.id,
                            c.accuracy.0,
                            c.accuracy.1,
                            word(c.metrics_match),
                            word(c.weights_match),
                            c.verdict()
                        );
                    }
                    let bad = checks.iter().filter(|c| !c.ok()).count();
                    let exact = checks.iter().filter(|c| c.exact()).count();
                    println!(
                        "{} of {} runs reproduced: {exact} bit for bit, {} within float tolerance",
                        checks.len() - bad,
                        checks.len(),
                        checks.len() - bad - exact
                    );
                    if bad > 0 {
                        ExitCode::FAILURE
                    } else {
                        ExitCode::SUCCESS
                    }
                }
                Err(e) => {
                    eprintln!("sweep: error: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::CocoEval {
            truth,
            detections,
            json,
        } => match coco_eval(&truth, &detections, json) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::from(2)
            }
        },
        Command::Datasets {
            action:
                Some(DatasetsAction::Export {
                    name,
                    format: ExportFormat::Coco,
                    dir,
                    canvas,
                    train_scenes,
                    test_scenes,
                }),
        } => {
            let scenes = sweep::task::detect::scenes::ScenesConfig {
                canvas,
                train_scenes,
                test_scenes,
                ..Default::default()
            };
            let done = sweep::task::detect::load(&name, &scenes)
                .and_then(|ds| sweep::task::detect::export::export_coco(&ds, &dir).map(|()| ds));
            match done {
                Ok(ds) => {
                    println!(
                        "wrote {} ({} train and {} test scenes, {} classes) as COCO into {}",
                        ds.name,
                        ds.train.len(),
                        ds.test.len(),
                        ds.classes.len(),
                        dir.display()
                    );
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: {e:#}");
                    ExitCode::from(2)
                }
            }
        }
        Command::Datasets { action: None } => {
            for d in sweep::data::registry::DATASETS {
                println!("{:<16} {}", d.name, d.description);
            }
            println!(
                "\nDatasets in files, named `format:path` (path relative to the current folder):"
            );
            for f in sweep::data::formats::FORMATS {
                println!("{:<16} {}", format!("{}:PATH", f.prefix), f.description);
            }
            println!("\nDetection datasets (`sweep datasets export NAME DIR` writes one as COCO):");
            println!(
                "{:<16} {}",
                "digit-scenes",
                sweep::task::detect::scenes::DESCRIPTION
            );
            for (prefix, description) in sweep::task::detect::formats::FORMATS {
                println!("{:<16} {description}", format!("{prefix}:PATH"));
            }
            println!("\nSegmentation datasets (`task = \"segment\"`):");
            println!(
                "{:<16} {}",
                "digit-scenes",
                sweep::task::segment::data::DESCRIPTION
            );
            for (prefix, description) in sweep::task::segment::data::FORMATS {
                println!("{:<16} {description}", format!("{prefix}:PATH"));
            }
            ExitCode::SUCCESS
        }
        Command::Models => {
            for b in sweep::model::BACKBONES {
                println!("{:<20} {}", b.name, b.description);
            }
            println!("\nNamed weights (`weights = \"NAME\"` in [model]):");
            for k in sweep::model::hub::KNOWN {
                println!("{:<20} {}: {}", k.backbone, k.tag, k.module);
            }
            ExitCode::SUCCESS
        }
        Command::Predict {
            backbone,
            results,
            run,
            out,
            weights,
            images,
            top,
            size,
            logits,
        } => match (backbone, results) {
            (Some(b), _) => predict(&b, &weights, &images, top, size, logits),
            (None, Some(dir)) => match predict_run(&dir, &run, &images, top, out.as_deref()) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("sweep: error: {e:#}");
                    ExitCode::FAILURE
                }
            },
            (None, None) => unreachable!("clap requires one"),
        },
    }
}

/// `sweep submit`: prints the submission (`--dry-run`) or writes and submits it.
fn submit(plan: &Plan, opts: &engine::slurm::Submit, dry_run: bool) -> anyhow::Result<()> {
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

fn predict(
    backbone: &str,
    weights: &str,
    images: &[PathBuf],
    top: usize,
    size: Option<usize>,
    logits: bool,
) -> ExitCode {
    use sweep::model::predict::{Predictor, imagenet_class};
    let predictor = match Predictor::new(backbone, weights, size) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::from(2);
        }
    };
    for image in images {
        match predictor.predict(image, top) {
            Ok(p) if logits => {
                let v: Vec<String> = p.logits.iter().map(|l| format!("{l:e}")).collect();
                println!("{}", v.join(" "));
            }
            Ok(p) => {
                println!("{}", image.display());
                for (i, prob) in p.top {
                    println!("  {:5.1}%  {:>3}  {}", 100.0 * prob, i, imagenet_class(i));
                }
            }
            Err(e) => {
                eprintln!("error: {e:#}");
                return ExitCode::FAILURE;
            }
        }
    }
    ExitCode::SUCCESS
}

/// `sweep predict --results DIR`: a trained run's classes for image files, printed and, with
/// `out`, written as CSV (every image is read before anything is written).
fn predict_run(
    dir: &std::path::Path,
    run: &str,
    images: &[PathBuf],
    top: usize,
    out: Option<&std::path::Path>,
) -> anyhow::Result<()> {
    let (predictor, ids, id) = engine::export::predictor(dir, run)?;
    let name = |i: usize| ids.get(i).map_or(i.to_string(), u64::to_string);
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(["image", "class", "probability"])?;
    println!("run {id}");
    for image in images {
        let p = predictor.predict(image, top.max(1))?;
        println!("{}", image.display());
        for &(i, prob) in p.top.iter().take(top) {
            println!("  {:5.1}%  class {}", 100.0 * prob, name(i));
        }
        let (i, prob) = p.top[0];
        w.write_record([image.display().to_string(), name(i), format!("{prob:.6}")])?;
    }
    if let Some(out) = out {
        sweep::io::write_atomic(out, &w.into_inner()?)?;
        println!("wrote {}", out.display());
    }
    Ok(())
}

/// `sweep coco-eval`: the twelve COCO numbers of a results file.
fn coco_eval(
    truth: &std::path::Path,
    detections: &std::path::Path,
    json: bool,
) -> anyhow::Result<()> {
    use sweep::task::detect::eval;
    let (images, cats, gt) = eval::read_truth(truth)?;
    let dets = eval::read_detections(detections, &cats)?;
    let stats = eval::evaluate(&images, cats.len(), &gt, &dets)
        .map_err(|e| anyhow::anyhow!("{}: {e}", detections.display()))?;
    if json {
        println!("{}", serde_json::to_string(&stats)?);
        return Ok(());
    }
    const NAMES: [&str; 12] = [
        "AP    @[IoU=0.50:0.95 | area=   all | maxDets=100]",
        "AP    @[IoU=0.50      | area=   all | maxDets=100]",
        "AP    @[IoU=0.75      | area=   all | maxDets=100]",
        "AP    @[IoU=0.50:0.95 | area= small | maxDets=100]",
        "AP    @[IoU=0.50:0.95 | area=medium | maxDets=100]",
        "AP    @[IoU=0.50:0.95 | area= large | maxDets=100]",
        "AR    @[IoU=0.50:0.95 | area=   all | maxDets=  1]",
        "AR    @[IoU=0.50:0.95 | area=   all | maxDets= 10]",
        "AR    @[IoU=0.50:0.95 | area=   all | maxDets=100]",
        "AR    @[IoU=0.50:0.95 | area= small | maxDets=100]",
        "AR    @[IoU=0.50:0.95 | area=medium | maxDets=100]",
        "AR    @[IoU=0.50:0.95 | area= large | maxDets=100]",
    ];
    for (name, v) in NAMES.iter().zip(stats.to_array()) {
        println!("{name} = {v:.3}");
    }
    Ok(())
}

/// A search's space, size and budget, and its stopping rule, under the plan's table.
fn render_search(plan: &Plan, search: &sweep::spec::SearchPlan) -> String {
    use sweep::spec::search::StopMethod;
    let spec = &search.spec;
    let mut s = String::new();
    let metric = engine::search::metric_name(search.metric);
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

/// An experiment file loaded and preflighted (datasets, budgets and weights checked).
fn checked_plan(file: &std::path::Path) -> Result<Plan, sweep::spec::SpecError> {
    let plan = Plan::load(file)?;
    sweep::task::preflight::check(&plan)?;
    Ok(plan)
}

fn spec_error(e: &sweep::spec::SpecError) -> ExitCode {
    eprintln!("error: {e}");
    ExitCode::from(2)
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
        row.push(match sweep::task::of(r.config.experiment.task).feature_group(r) {
            Some(g) => {
                let k = groups.iter().position(|x| *x == g).unwrap_or_else(|| {
                    groups.push(g);
                    groups.len() - 1
                });
                format!("cache {}", group_name(k))
            }
            None => "-".into(),
        });
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
        let backbone = sweep::sweep::source::backbone_spec(&r.config.model);
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
