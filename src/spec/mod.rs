//! Experiment files: parse, validate, expand into the plan of runs.

pub mod error;
pub mod expand;
pub mod preflight;
pub mod schema;
pub mod validate;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

pub use error::SpecError;
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
    /// Index of each run's first grid point, to point errors found later into the file.
    points: Vec<usize>,
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
}

impl Plan {
    /// Reads, expands and validates an experiment file.
    pub fn load(file: &Path) -> Result<Plan, SpecError> {
        let text = std::fs::read_to_string(file).map_err(|e| {
            SpecError::at(
                file,
                "",
                None,
                format!("cannot read the experiment file: {e}"),
            )
            .help("check the path; experiment files live under experiments/")
        })?;
        Plan::parse(file, &text)
    }

    /// Expands and validates the text of an experiment file (`file` is used in messages).
    pub fn parse(file: &Path, text: &str) -> Result<Plan, SpecError> {
        let (axes, points) = expand::expand(file, text)?;
        let mut runs: Vec<Run> = Vec::new();
        let mut first_points = Vec::new();
        let mut seen = std::collections::HashSet::new();
        let mut device = None;
        for (index, point) in points.into_iter().enumerate() {
            if let Err(p) = validate::validate(&point.config) {
                let path: Vec<String> = p.path.split('.').map(String::from).collect();
                let span = expand::value_span(&point.table, &path);
                return Err(SpecError::at(file, text, span, p.message)
                    .field(p.path)
                    .help(p.help));
            }
            if let Some(d) = &point.config.experiment.device {
                device = d.parse().ok();
            }
            let config = normalize(point.config);
            let inputs = inputs(&config);
            let id = run_id(&config, &inputs);
            // A set, not a scan of `runs`: a large grid would take quadratic time.
            if !seen.insert(id.clone()) {
                continue;
            }
            let axis_values = axes.iter().map(|a| axis_value(&config, &a.path)).collect();
            first_points.push(index);
            runs.push(Run {
                id,
                config,
                axis_values,
                inputs,
            });
        }
        let name = runs[0].config.experiment.name.clone();
        Ok(Plan {
            file: file.to_path_buf(),
            text: text.to_string(),
            name,
            device,
            axes: axes.iter().map(|a| a.name()).collect(),
            runs,
            points: first_points,
        })
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

/// Canonical form of a run: settings that cannot affect it are set to fixed values, so that
/// grid points differing only there are recognised as one run.
pub fn normalize(mut c: RunConfig) -> RunConfig {
    // Where a run trains is not what it is (GPU results are recorded in its manifest).
    c.experiment.device = None;
    // Each task's own settings do not make runs of the other differ.
    match c.experiment.task {
        schema::Task::Classify => {
            c.detect = schema::Detect::default();
            c.target.labelled_images = 0;
        }
        schema::Task::Detect => c.target.labels_per_class = 0,
    }
    let parts = model::parts(&c.model).len();
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

/// Hex SHA-256 of some strings, each followed by a separator.
pub fn hash_hex(parts: &[String]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0u8]);
    }
    format!("{:x}", h.finalize())
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
            !matches!(path, ["source", ..] | ["transfer", "freeze_depth" | "bn"])
                && !trains_backbone
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
    let json = serde_json::to_value(c).expect("config serializes");
    let value = p.iter().try_fold(&json, |v, k| v.get(k));
    match value {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(v) => v.to_string(),
        None => "-".into(),
    }
}
