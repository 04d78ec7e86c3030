//! The `sweep` command line: its arguments (clap), the dispatch to one file per verb group, and
//! the one place a failed verb is printed and turned into the exit code.

mod datasets;
mod plan;
mod predict;
mod results;
mod run;
mod tools;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use sweep::spec::{Plan, SpecError};
use sweep::sweep as engine;

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

/// Parses the arguments and runs the verb, on a thread with a large stack.
pub fn main() -> ExitCode {
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

/// Runs the verb; a failure is printed here, by [`Failure::exit`], and nowhere else.
fn command(cli: Cli) -> ExitCode {
    // Verbs with more than three arguments get their `Command` whole, so that each field is
    // named once, where it is used, instead of in a long pattern here and a long call there.
    let done = match cli.command {
        Command::Plan { file } => plan::plan(&file),
        cmd @ Command::Run { .. } => run::run(cmd),
        cmd @ Command::Submit { .. } => run::submit(cmd),
        Command::Status { dir } => results::status(&dir),
        Command::Best { dir, cell } => results::best(&dir, cell),
        Command::Export { dir, run, out } => results::export(&dir, &run, out.as_deref()),
        Command::Report { dir, x, y } => results::report(&dir, x, y),
        cmd @ Command::Verify { .. } => results::verify(cmd),
        cmd @ Command::LrFind { .. } => tools::lr_find(cmd),
        cmd @ Command::AugmentPreview { .. } => tools::augment_preview(cmd),
        cmd @ Command::Predict { .. } => predict::predict(cmd),
        Command::CocoEval {
            truth,
            detections,
            json,
        } => predict::coco_eval(&truth, &detections, json),
        Command::Datasets {
            action: Some(action),
        } => datasets::export(action),
        Command::Datasets { action: None } => datasets::list(),
        Command::Models => datasets::models(),
    };
    done.unwrap_or_else(Failure::exit)
}

/// Why a verb failed; it decides what is printed on stderr and the exit code.
enum Failure {
    /// The experiment file could not be read, parsed or preflighted: `error: ...`, exit 2.
    Spec(SpecError),
    /// The verb's work failed: `sweep: error: ...`, exit 1.
    Sweep(anyhow::Error),
    /// A file handed to a standalone tool (COCO files, a dataset, a backbone's weights) is
    /// wrong: `error: ...`, exit 2, as for a bad experiment file.
    Input(anyhow::Error),
    /// `sweep predict` could not classify an image: `error: ...`, exit 1.
    Image(anyhow::Error),
}

impl Failure {
    /// An error of the training engine: a spec error it carries still exits 2 (as `sweep run`
    /// always did; the other verbs report every anyhow error as [`Failure::Sweep`]).
    fn engine(e: anyhow::Error) -> Self {
        match e.downcast::<SpecError>() {
            Ok(spec) => Failure::Spec(spec),
            Err(e) => Failure::Sweep(e),
        }
    }

    /// Prints the failure on stderr and gives the exit code.
    fn exit(self) -> ExitCode {
        // A spec error carries its own file, position and help; anyhow errors are printed with
        // `:#` so that their whole chain of context shows.
        let (message, code) = match self {
            Failure::Spec(e) => (format!("error: {e}"), 2),
            Failure::Sweep(e) => (format!("sweep: error: {e:#}"), 1),
            Failure::Input(e) => (format!("error: {e:#}"), 2),
            Failure::Image(e) => (format!("error: {e:#}"), 1),
        };
        eprintln!("{message}");
        ExitCode::from(code)
    }
}

/// What a verb returns: its exit code (a verdict may fail without an error), or why it failed.
type Outcome = Result<ExitCode, Failure>;

/// A plan's results folder when no `--out` names one: `results/<experiment name>`.
fn results_dir(plan: &Plan) -> PathBuf {
    PathBuf::from("results").join(&plan.name)
}
