//! Experiment files: parse, validate, expand into the plan of runs.

pub mod dense;
pub mod depth;
pub mod error;
pub mod expand;
pub mod rules;
pub mod search;
pub mod validate;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use crate::schema;
pub use crate::seed::hash_hex;
pub use error::SpecError;
pub use rules::{Rules, RulesOf};
pub use schema::{Monitor, Optimizer, RunConfig, Strategy};

use crate::model;

/// The expanded, validated experiment: every run it asks for, duplicates removed.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The experiment file.
    pub file: PathBuf,
    /// Its text, copied into the results folder.
    pub text: String,
    /// Experiment name (`[experiment] name`).
    pub name: String,
    /// Dotted paths of the grid axes, in column order.
    pub axes: Vec<String>,
    /// The runs, in plan order.
    pub runs: Vec<Run>,
    /// `[experiment] device`, when set.
    pub device: Option<crate::device::Choice>,
    /// `[search]` and the searched settings; for a search, `runs` holds each grid point with
    /// its searched settings at their low bound or first choice (what preflight checks).
    pub search: Option<SearchPlan>,
    /// Index of each run's first grid point, to point errors found later into the file.
    points: Vec<usize>,
    /// The tasks' rules the plan was checked with (a search's trials are checked with them too).
    rules: RulesOf,
}

/// A search's part of a plan.
#[derive(Debug, Clone)]
pub struct SearchPlan {
    /// `[search]` as written (defaults filled in).
    pub spec: search::Search,
    /// Dotted paths of the searched settings, in file order.
    pub names: Vec<String>,
    /// Their distributions.
    pub dists: Vec<crate::search::Distribution>,
    /// Their distributions as written (`log_uniform [1e-05, 0.1]`).
    pub described: Vec<String>,
    /// The grid points of each cell (a grid point without its seed), in plan order; each cell
    /// is searched on its own.
    pub cells: Vec<Vec<usize>>,
    /// The validation metric searched for.
    pub metric: Monitor,
}

impl SearchPlan {
    /// Whether trials are proposed by a sampler (random, tpe) rather than read off the grid.
    pub fn samples(&self) -> bool {
        self.spec.method != search::Method::Grid
    }
}

/// One run of the plan.
#[derive(Debug, Clone)]
pub struct Run {
    /// Short content hash of the normalised config, the files it reads and the `sweep` version.
    pub id: String,
    /// The normalised settings.
    pub config: RunConfig,
    /// This run's value of each axis of the plan (`-` where the axis does not apply).
    pub axis_values: Vec<String>,
    /// Content fingerprint of each file set the run reads: `target`, `source`, `weights`.
    pub inputs: BTreeMap<String, String>,
    /// Its early-stopping rule, set by a search with `[search.stop]`.
    pub stop: Option<crate::search::prune::Pruner>,
    /// A search's trial this run belongs to: its index in its grid cell.
    pub trial: Option<usize>,
}

impl Plan {
    /// Reads, expands and validates an experiment file, each run with its task's `rules`
    /// (`crate::task::rules`).
    pub fn load(file: &Path, rules: RulesOf) -> Result<Plan, SpecError> {
        let text = std::fs::read_to_string(file).map_err(|e| {
            SpecError::at(
                file,
                "",
                None,
                format!("cannot read the experiment file: {e}"),
            )
            .help("check the path; experiment files live under experiments/")
        })?;
        Plan::parse(file, &text, rules)
    }

    /// Expands and validates the text of an experiment file (`file` is used in messages).
    pub fn parse(file: &Path, text: &str, rules: RulesOf) -> Result<Plan, SpecError> {
        let e = expand::parse(file, text)?;
        let mut points = Vec::with_capacity(e.total);
        for index in 0..e.total {
            points.push(e.point(file, text, index, None)?);
        }
        let mut runs: Vec<Run> = Vec::new();
        let mut first_points = Vec::new();
        let mut seen = std::collections::HashSet::new();
        let mut device = None;
        let names = plan_axes(&e);
        for (index, point) in points.iter().enumerate() {
            let run = checked_run(file, text, point, &names, rules)?;
            if let Some(d) = &point.config.experiment.device {
                device = d.parse().ok();
            }
            // A set, not a scan of `runs`: a large grid would take quadratic time.
            if seen.insert(run.id.clone()) {
                first_points.push(index);
                runs.push(run);
            }
        }
        let search = search_plan(file, text, &e, &points, rules)?;
        let name = runs[0].config.experiment.name.clone();
        Ok(Plan {
            file: file.to_path_buf(),
            text: text.to_string(),
            name,
            device,
            axes: names.iter().map(|a| a.join(".")).collect(),
            runs,
            search,
            points: first_points,
            rules,
        })
    }

    /// The plan of a search's trials so far: each `(cell, values)` gives the runs of that cell's
    /// grid points (one per seed) with the searched settings at `values`; also the indices in
    /// the returned plan of each assignment's runs (trials that normalise to one run share it).
    pub fn with_trials(
        &self,
        trials: &[(usize, Vec<crate::search::Value>)],
    ) -> Result<(Plan, Vec<Vec<usize>>), SpecError> {
        let s = self.search.as_ref().expect("a search plan");
        let e = expand::parse(&self.file, &self.text)?;
        let names = plan_axes(&e);
        let mut plan = Plan {
            runs: Vec::new(),
            points: Vec::new(),
            ..self.clone()
        };
        let mut index = std::collections::HashMap::new();
        let mut of_trial = Vec::with_capacity(trials.len());
        let mut per_cell = vec![0usize; s.cells.len()];
        for (cell, values) in trials {
            let trial = per_cell[*cell];
            per_cell[*cell] += 1;
            let mut ids = Vec::new();
            let texts = e.texts(values);
            let values = e.values(values, &texts);
            for &p in &s.cells[*cell] {
                let point = e.point(&self.file, &self.text, p, Some(&values))?;
                let run = Run {
                    trial: Some(trial),
                    ..checked_run(&self.file, &self.text, &point, &names, self.rules)?
                };
                let i = *index.entry(run.id.clone()).or_insert_with(|| {
                    plan.runs.push(run);
                    plan.points.push(p);
                    plan.runs.len() - 1
                });
                ids.push(i);
            }
            of_trial.push(ids);
        }
        Ok((plan, of_trial))
    }

    /// The plan of its first `n` runs.
    pub fn truncated(&self, n: usize) -> Plan {
        Plan {
            runs: self.runs[..n].to_vec(),
            points: self.points[..n].to_vec(),
            ..self.clone()
        }
    }

    /// An error about the setting at dotted `path` of run `run`, pointing at the value that run
    /// got from the file (the list element, for an axis).
    pub fn error_at(
        &self,
        run: usize,
        path: &str,
        message: impl Into<String>,
        help: impl Into<String>,
    ) -> SpecError {
        let keys: Vec<String> = path.split('.').map(String::from).collect();
        let span = expand::expand(&self.file, &self.text)
            .ok()
            .and_then(|(_, points)| {
                let point = points.get(*self.points.get(run)?)?;
                expand::value_span(&point.table, &keys)
            });
        SpecError::at(&self.file, &self.text, span, message)
            .field(path)
            .help(help)
    }
}

/// The plan's columns: the grid axes but the seeds, the searched settings, then the seeds.
fn plan_axes(e: &expand::Expansion<'_>) -> Vec<Vec<String>> {
    let seeds = |a: &&expand::Axis<'_>| a.path == ["experiment", "seeds"];
    let mut names: Vec<Vec<String>> = e
        .axes
        .iter()
        .filter(|a| !seeds(a))
        .map(|a| a.path.clone())
        .collect();
    names.extend(e.dims.iter().map(|d| d.path.clone()));
    names.extend(e.axes.iter().filter(seeds).map(|a| a.path.clone()));
    names
}

/// Validates, normalises and identifies one grid point.
fn checked_run(
    file: &Path,
    text: &str,
    point: &expand::Point<'_>,
    axes: &[Vec<String>],
    rules: RulesOf,
) -> Result<Run, SpecError> {
    if let Err(p) = validate::validate(&point.config, rules) {
        let path: Vec<String> = p.path.split('.').map(String::from).collect();
        let span = expand::value_span(&point.table, &path);
        return Err(SpecError::at(file, text, span, p.message)
            .field(p.path)
            .help(p.help));
    }
    let config = normalize(point.config.clone(), rules);
    let inputs = inputs(&config);
    let id = run_id(&config, &inputs);
    let axis_values = axes.iter().map(|a| axis_value(&config, a)).collect();
    Ok(Run {
        id,
        config,
        axis_values,
        inputs,
        stop: None,
        trial: None,
    })
}

/// Checks `[search]` and groups the grid points into the cells a search covers.
fn search_plan(
    file: &Path,
    text: &str,
    e: &expand::Expansion<'_>,
    points: &[expand::Point<'_>],
    rules: RulesOf,
) -> Result<Option<SearchPlan>, SpecError> {
    let Some(spec) = e.search.clone() else {
        return Ok(None);
    };
    let table = e.search_table.as_ref().expect("read with [search]");
    let at = |key: &str, message: String, help: &str| {
        let span = expand::value_span(table, &[key.to_string()]);
        SpecError::at(file, text, span, message)
            .field(format!("search.{key}"))
            .help(help)
    };
    let sampled = spec.method != search::Method::Grid;
    if sampled && e.dims.is_empty() {
        return Err(at(
            "method",
            format!(
                "a {} search needs a setting written as a distribution",
                spec.method.as_str()
            ),
            "e.g. `lr = { log_uniform = [1e-5, 1e-1] }` in [train]",
        ));
    }
    if sampled && !(1..=10_000).contains(&spec.trials) {
        return Err(at(
            "trials",
            format!("{} trials", spec.trials),
            "give `trials` from 1 to 10000 (trials per grid cell)",
        ));
    }
    if spec.batch == 0 {
        return Err(at(
            "batch",
            "0 trials per batch".into(),
            "give 1 or more (1 = fully sequential)",
        ));
    }
    let monitor = points[0].config.train.monitor;
    let metric = spec.metric_or(monitor);
    let task = points[0].config.experiment.task;
    if let Err(p) = rules(task).check_metric("search.metric", metric) {
        return Err(at("metric", p.message, &p.help));
    }
    if let Some(d) = spec.direction
        && d != search::direction_of(metric)
    {
        return Err(at(
            "direction",
            format!("disagrees with the metric {metric:?}"),
            "leave `direction` out: val_loss is minimised, accuracy and AP maximised",
        ));
    }
    if let Some(stop) = &spec.stop {
        let stop_at = |key: &str, message: String, help: &str| {
            let span = expand::value_span(table, &["stop".to_string(), key.to_string()]);
            SpecError::at(file, text, span, message)
                .field(format!("search.stop.{key}"))
                .help(help)
        };
        if stop.reduction < 2 {
            return Err(stop_at(
                "reduction",
                format!("reduction factor {}", stop.reduction),
                "give 2 or more (3 keeps the top third at each rung)",
            ));
        }
        if stop.grace == 0 {
            return Err(stop_at(
                "grace",
                "0 epochs".into(),
                "give 1 or more epochs before the first rung",
            ));
        }
    }
    let seeds = e
        .axes
        .iter()
        .find(|a| a.path == ["experiment", "seeds"])
        .map_or(1, |a| a.values.len());
    let cells = (0..e.total / seeds)
        .map(|c| (c * seeds..(c + 1) * seeds).collect())
        .collect();
    Ok(Some(SearchPlan {
        names: e.dims.iter().map(|d| d.name()).collect(),
        dists: e.dims.iter().map(|d| d.dist.clone()).collect(),
        described: e.dims.iter().map(|d| d.describe()).collect(),
        spec,
        cells,
        metric,
    }))
}

/// Canonical form of a run: settings that cannot affect it are set to fixed values, so that
/// grid points differing only there are recognised as one run.
pub fn normalize(mut c: RunConfig, rules: RulesOf) -> RunConfig {
    // Where a run trains is not what it is (GPU results are recorded in its manifest).
    c.experiment.device = None;
    // Each task's own settings do not make runs of the other differ.
    rules(c.experiment.task).normalize(&mut c);
    let parts = model::parts(&c.model).len();
    // Copying every part is what a run without `transfer_depth` does: one run, one id.
    if c.transfer.transfer_depth == Some(parts) {
        c.transfer.transfer_depth = None;
    }
    if c.transfer.freeze_depth == depth::FREEZE_COPIED {
        c.transfer.freeze_depth = c.transfer.transfer_depth.unwrap_or(parts);
    }
    if c.transfer.strategy == Strategy::Finetune && c.transfer.freeze_depth == parts {
        c.transfer.strategy = Strategy::LinearProbe;
    }
    // A head equal to torchvision's is torchvision's: one run, one id.
    if c.model.head.is_some() || model::linear_head(&c.model.backbone) {
        c.model.pool = c.model.pool.filter(|p| *p != schema::Pool::Avg);
    }
    if model::linear_head(&c.model.backbone)
        && c.model.head == Some(schema::Head::Linear)
        && c.model.pool.is_none()
    {
        c.model.head = None;
    }
    // A run's id depends on the one augmentation set it uses, not on the others in the file.
    let chosen = c.train.augment.clone();
    c.augment.sets.retain(|name, _| *name == chosen);
    let backbone_fixed = schema::Transfer {
        strategy: c.transfer.strategy,
        freeze_depth: c.transfer.freeze_depth,
        transfer_depth: c.transfer.transfer_depth,
        bn: c.transfer.bn,
        ..Default::default()
    };
    match c.transfer.strategy {
        Strategy::Scratch => {
            c.source = None;
            c.model.weights = None;
            c.model.sha256 = None;
            c.model.allow_partial = false;
            c.transfer = schema::Transfer {
                freeze_depth: 0,
                transfer_depth: None,
                bn: schema::BnPolicy::Frozen,
                ..backbone_fixed
            };
        }
        Strategy::LinearProbe => {
            c.transfer = schema::Transfer {
                freeze_depth: parts,
                ..backbone_fixed
            };
        }
        Strategy::Finetune => {
            if c.transfer.unfreeze_every == 0 {
                c.transfer.unfreeze_warmup = true;
            }
        }
    }
    c
}

/// Fingerprints of the files a normalised run reads (see [`Run::inputs`]).
pub fn inputs(c: &RunConfig) -> BTreeMap<String, String> {
    use crate::data::fingerprint;
    let mut inputs = BTreeMap::new();
    inputs.insert("target".into(), fingerprint::dataset(&c.target.dataset));
    if let Some(s) = &c.source {
        inputs.insert("source".into(), fingerprint::dataset(&s.dataset));
    }
    // A URL's file is pinned by its required SHA-256, which is in the config already.
    // So is a named checkpoint (`imagenet`), by the SHA-256 `model::hub` knows it by.
    if let Some(w) = &c.model.weights
        && !crate::model::download::is_url(w)
        && !crate::model::hub::is_tag(w)
    {
        let hex = fingerprint::file(Path::new(w));
        inputs.insert(
            "weights".into(),
            hex.unwrap_or_else(|| fingerprint::ABSENT.into()),
        );
    }
    inputs
}

/// Content hash of everything that affects a run's result: the normalised config, the
/// fingerprints of the files it reads and the `sweep` version.
///
/// Ten base-32 characters, the first a letter, so no id ever reads as a number in a CSV.
pub fn run_id(c: &RunConfig, inputs: &BTreeMap<String, String>) -> String {
    let mut c = c.clone();
    // Name and description label a run; they do not change what it computes.
    c.experiment.name.clear();
    c.experiment.description.clear();
    // Nor does which weights it keeps.
    c.experiment.save = schema::Save::Best;
    c.experiment.tensorboard = false;
    let hex = hash_hex(&[
        serde_json::to_string(&c).expect("config serializes"),
        serde_json::to_string(inputs).expect("fingerprints serialize"),
        env!("CARGO_PKG_VERSION").to_string(),
    ]);
    const LETTERS: &[u8] = b"abcdefghjkmnpqrstvwxyz";
    const BASE32: &[u8] = b"0123456789abcdefghjkmnpqrstvwxyz";
    let bytes: Vec<u8> = (0..10)
        .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).expect("hex"))
        .collect();
    let mut id = String::with_capacity(10);
    id.push(LETTERS[bytes[0] as usize % LETTERS.len()] as char);
    id.extend(bytes[1..].iter().map(|b| BASE32[*b as usize % 32] as char));
    id
}

/// Whether the setting at `path` (split on dots) affects a run: a scratch run has no source,
/// freeze depth, BN policy or backbone rates, a linear probe no backbone rates or unfreezing.
pub fn applies(c: &RunConfig, path: &[&str]) -> bool {
    let trains_backbone = matches!(
        path,
        [
            "transfer",
            "backbone_lr_mult" | "layer_decay" | "unfreeze_every" | "unfreeze_warmup"
        ]
    );
    match c.transfer.strategy {
        Strategy::Scratch => {
            !matches!(
                path,
                ["source", ..] | ["transfer", "freeze_depth" | "bn" | "transfer_depth"]
            ) && !trains_backbone
        }
        Strategy::LinearProbe => !trains_backbone,
        Strategy::Finetune => {
            path != ["transfer", "unfreeze_warmup"] || c.transfer.unfreeze_every > 0
        }
    }
}

/// The value of `path` in a run, as shown in tables; `-` where the setting does not apply.
fn axis_value(c: &RunConfig, path: &[String]) -> String {
    let p: Vec<&str> = path.iter().map(String::as_str).collect();
    if !applies(c, &p) {
        return "-".into();
    }
    // The head columns name what the run has, torchvision's own included.
    let torchvision_linear = model::linear_head(&c.model.backbone);
    match (p.as_slice(), &c.model.head) {
        (["model", "head"], Some(h)) => return h.label(),
        (["model", "head"], None) if torchvision_linear => return "linear".into(),
        (["model", "head"], None) => return "torchvision".into(),
        (["model", "pool"], h) if c.model.pool.is_none() => {
            let avg = h.is_some() || torchvision_linear;
            return if avg { "avg" } else { "torchvision" }.into();
        }
        _ => {}
    }
    // Absent means every part: the column shows how many that is.
    if p == ["transfer", "transfer_depth"] {
        return depth::copied_parts(c).to_string();
    }
    let json = serde_json::to_value(c).expect("config serializes");
    let value = p.iter().try_fold(&json, |v, k| v.get(k));
    match value {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(v) => v.to_string(),
        None => "-".into(),
    }
}
