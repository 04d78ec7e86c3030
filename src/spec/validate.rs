//! Range and name checks on a deserialized run, each naming the setting it is about.

use super::depth;
use super::error::suggest;
use super::schema::{RunConfig, Strategy};
use crate::{data, model};

/// A failed check: the dotted path of the setting, what is wrong, and what to do.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    /// Key path as written in the file (`transfer.freeze_depth`).
    pub path: String,
    /// What is wrong.
    pub message: String,
    /// What to do.
    pub help: String,
}

/// A [`Problem`] with the setting's dotted path, what is wrong and what to do.
pub fn problem(
    path: impl Into<String>,
    message: impl Into<String>,
    help: impl Into<String>,
) -> Problem {
    Problem {
        path: path.into(),
        message: message.into(),
        help: help.into(),
    }
}

/// Checks one grid point; returns the first problem found.
pub fn validate(c: &RunConfig, rules: super::RulesOf) -> Result<(), Problem> {
    let name = &c.experiment.name;
    if name.is_empty()
        || !name
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || "-_.".contains(ch))
    {
        return Err(problem(
            "experiment.name",
            format!("`{name}` is not a usable folder name"),
            "use letters, digits, `-`, `_` and `.` only, e.g. `name = \"digits-transfer\"`",
        ));
    }
    if let Some(d) = &c.experiment.device
        && let Err(e) = d.parse::<crate::device::Choice>()
    {
        return Err(problem(
            "experiment.device",
            e,
            "e.g. `device = \"cuda\"`; or leave it out to train on the CPU",
        ));
    }
    rules(c.experiment.task).validate(c)?;
    if c.target.labels_per_class > 100_000 {
        return Err(problem(
            "target.labels_per_class",
            "must be at most 100000",
            "write `labels_per_class = \"all\"` to train on every labelled image",
        ));
    }
    fraction("target.val_fraction", c.target.val_fraction, 0.0, 0.9)?;
    crop("target.crop", c.target.crop)?;

    let backbone = &c.model.backbone;
    let Some(info) = model::find(backbone) else {
        let names = model::BACKBONES.iter().map(|b| b.name);
        return Err(unknown("model.backbone", "backbone", backbone, names));
    };
    if let Some(w) = &c.model.weights {
        if model::hub::is_tag(w) {
            model::hub::find(backbone, w).map_err(|m| {
                problem(
                    "model.weights",
                    m,
                    "use a named weight a backbone has, a weights file, or an https:// URL",
                )
            })?;
        } else if model::download::is_url(w) {
            model::download::check_url(w)
                .map_err(|m| problem("model.weights", m, "use https://"))?;
            let sha = c.model.sha256.as_deref().unwrap_or("");
            if sha.len() != 64 || !sha.chars().all(|ch| ch.is_ascii_hexdigit()) {
                return Err(problem(
                    "model.sha256",
                    "a weights URL needs the file's SHA-256 (64 hex digits)",
                    "add `sha256 = \"...\"` to [model]; `sha256sum FILE` prints it",
                ));
            }
        } else if !std::path::Path::new(w).is_file() {
            let what = match std::path::Path::new(w).is_dir() {
                true => "is a folder, not a weights file",
                false => "does not exist",
            };
            return Err(problem(
                "model.weights",
                format!("weights file `{w}` {what}"),
                "give a .safetensors or PyTorch .pt/.pth file (relative to the folder `sweep` runs in) or an https:// URL",
            ));
        }
    }
    range("model.width", c.model.width, 1, 512)?;
    range("model.stages", c.model.stages, 1, 4)?;
    range("model.blocks", c.model.blocks, 1, 16)?;
    range("model.input_size", c.model.input_size, info.min_input, 1024).map_err(|p| Problem {
        help: format!(
            "{} takes inputs of {} to 1024 pixels",
            backbone, info.min_input
        ),
        ..p
    })?;

    range("train.epochs", c.train.epochs, 1, 100_000)?;
    range("train.batch_size", c.train.batch_size, 1, 65_536)?;
    positive("train.lr", c.train.lr)?;
    non_negative("train.weight_decay", c.train.weight_decay)?;
    range(
        "train.warmup_epochs",
        c.train.warmup_epochs,
        0,
        c.train.epochs,
    )?;
    range("train.step_size", c.train.step_size, 1, 100_000)?;
    if c.train.schedule == super::schema::Schedule::MultiStep && c.train.milestones.is_empty() {
        return Err(problem(
            "train.schedule",
            "`multi-step` needs the epochs at which to decay",
            "add e.g. `milestones = [10, 20]` to [train]",
        ));
    }
    positive("train.gamma", c.train.gamma)?;
    non_negative("train.grad_clip", c.train.grad_clip)?;
    if !(0.0..1.0).contains(&c.train.label_smoothing) {
        return Err(problem(
            "train.label_smoothing",
            format!("{} is out of range", c.train.label_smoothing),
            "use a value from 0 (none) to below 1, e.g. 0.1",
        ));
    }

    if let Some(s) = &c.source {
        known_dataset("source.dataset", &s.dataset)?;
        range("source.epochs", s.epochs, 1, 100_000)?;
        range("source.batch_size", s.batch_size, 1, 65_536)?;
        positive("source.lr", s.lr)?;
        non_negative("source.weight_decay", s.weight_decay)?;
        crop("source.crop", s.crop)?;
        at_least_one("source.limit", s.limit)?;
        at_least_one("source.eval_limit", s.eval_limit)?;
    }
    at_least_one("target.limit", c.target.limit)?;
    at_least_one("target.test_limit", c.target.test_limit)?;

    let t = &c.transfer;
    if t.strategy != Strategy::Scratch && c.source.is_none() && c.model.weights.is_none() {
        return Err(problem(
            "transfer.strategy",
            format!(
                "`{}` needs a pretrained backbone, but the file has no [source] table and no [model] weights",
                t.strategy.as_str()
            ),
            "add a [source] table (e.g. `dataset = \"mnist-10k\"`), set `weights = \"file.safetensors\"` in [model], \
             or use `strategy = \"scratch\"`",
        ));
    }
    let parts = model::parts(&c.model).len();
    transfer_depth(c, parts)?;
    if t.freeze_depth > parts && t.freeze_depth != depth::FREEZE_COPIED {
        return Err(problem(
            "transfer.freeze_depth",
            format!(
                "{} is more than the {parts} backbone parts ({})",
                t.freeze_depth,
                model::parts(&c.model).join(", ")
            ),
            format!("use 0 to {parts}; {parts} freezes the whole backbone (same as linear-probe)"),
        ));
    }
    non_negative("transfer.backbone_lr_mult", t.backbone_lr_mult)?;
    positive("transfer.layer_decay", t.layer_decay)?;
    if t.unfreeze_every > 0 && t.unfreeze_every > c.train.epochs {
        return Err(problem(
            "transfer.unfreeze_every",
            format!(
                "{} is more than the {} training epochs, so nothing would ever unfreeze",
                t.unfreeze_every, c.train.epochs
            ),
            "use a number of epochs below `[train] epochs`, or 0 to train all unfrozen parts from the start",
        ));
    }
    if !(0.0..1.0).contains(&c.model.dropout) {
        return Err(problem(
            "model.dropout",
            format!("{} is out of range", c.model.dropout),
            "use a probability from 0 (none) to below 1, e.g. 0.2",
        ));
    }
    if c.model.dropout > 0.0
        && !(backbone.starts_with("resnet") || backbone.starts_with("densenet"))
    {
        return Err(problem(
            "model.dropout",
            format!("`{backbone}` has torchvision's own dropout in its classifier"),
            "remove `dropout`; it applies to the ResNet and DenseNet backbones",
        ));
    }
    head(c)?;
    augment(c)?;
    Ok(())
}

/// An image count that, when given, is at least 1.
pub(super) fn at_least_one(path: &str, n: Option<usize>) -> Result<(), Problem> {
    match n {
        Some(0) => Err(problem(
            path,
            "must be at least 1",
            "leave it out to use every image",
        )),
        _ => Ok(()),
    }
}

/// The head's settings are in range, and `pool` comes with a head where torchvision's
/// classifier has its own pooling.
fn head(c: &RunConfig) -> Result<(), Problem> {
    if let Some(h) = &c.model.head {
        h.check().map_err(|m| {
            problem(
                "model.head",
                m,
                "e.g. `head = \"linear\"` or `head = { kind = \"mlp\", hidden = [256], dropout = 0.5 }`",
            )
        })?;
    }
    if c.model.pool.is_some() && c.model.head.is_none() && !model::linear_head(&c.model.backbone) {
        return Err(problem(
            "model.pool",
            format!(
                "`{}` keeps torchvision's classifier (and its pooling) unless `head` is set",
                c.model.backbone
            ),
            "add `head = \"linear\"` (or an MLP table) to replace the classifier",
        ));
    }
    Ok(())
}

/// The chosen augmentation set exists and its ops are in range.
fn augment(c: &RunConfig) -> Result<(), Problem> {
    for (name, ops) in &c.augment.sets {
        if name == "none" {
            return Err(problem(
                format!("augment.sets.{name}"),
                "`none` is the name of no augmentation",
                "give the set another name",
            ));
        }
        for op in &ops.0 {
            op.check().map_err(|m| {
                problem(
                    format!("augment.sets.{name}"),
                    m,
                    "probabilities are from 0 to 1, ranges are [low, high] with low <= high; see the README's augmentation table",
                )
            })?;
        }
    }
    let chosen = &c.train.augment;
    if chosen != "none" && !c.augment.sets.contains_key(chosen) {
        let names = std::iter::once("none").chain(c.augment.sets.keys().map(String::as_str));
        return Err(unknown("train.augment", "augmentation set", chosen, names).with_help_suffix(
            "define sets under [augment.sets], e.g. `light = [\"flip\", { op = \"crop\", padding = 4 }]`",
        ));
    }
    Ok(())
}

pub(super) fn unknown<'a>(
    path: &'static str,
    what: &str,
    name: &str,
    names: impl Iterator<Item = &'a str> + Clone,
) -> Problem {
    let help = match suggest(name, names.clone()) {
        Some(best) => format!("did you mean `{best}`?"),
        None => format!("known {what}s: {}", names.collect::<Vec<_>>().join(", ")),
    };
    problem(path, format!("unknown {what} `{name}`"), help)
}

impl Problem {
    fn with_help_suffix(mut self, more: &str) -> Problem {
        self.help = format!("{}; {more}", self.help);
        self
    }
}

/// Checks that `name` is a classification dataset (registered, or a file in a known format).
pub fn known_dataset(path: &'static str, name: &str) -> Result<(), Problem> {
    if data::registry::find(name).is_some() {
        return Ok(());
    }
    if let Some((format, file)) = data::formats::parse(name) {
        if data::formats::exists(format, std::path::Path::new(file)) {
            return Ok(());
        }
        return Err(problem(
            path,
            format!("{file} does not exist"),
            format!(
                "`{}:` takes a path relative to the folder `sweep` runs in ({})",
                format.prefix, format.description
            ),
        ));
    }
    let prefixes = data::formats::FORMATS
        .iter()
        .map(|f| format!("{}:PATH", f.prefix))
        .collect::<Vec<_>>();
    Err(unknown(
        path,
        "dataset",
        name,
        data::registry::DATASETS.iter().map(|d| d.name),
    )
    .with_help_suffix(&format!(
        "or a dataset file given as {}",
        prefixes.join(", ")
    )))
}

/// Checks that `v` is from `lo` to `hi`.
pub fn range(path: &'static str, v: usize, lo: usize, hi: usize) -> Result<(), Problem> {
    if (lo..=hi).contains(&v) {
        return Ok(());
    }
    Err(problem(
        path,
        format!("{v} is out of range"),
        format!("use a value from {lo} to {hi}"),
    ))
}

pub(super) fn positive(path: &'static str, v: f64) -> Result<(), Problem> {
    if v.is_finite() && v > 0.0 {
        return Ok(());
    }
    Err(problem(
        path,
        format!("{v} must be a positive number"),
        "e.g. 0.001",
    ))
}

pub(super) fn non_negative(path: &'static str, v: f64) -> Result<(), Problem> {
    if v.is_finite() && v >= 0.0 {
        return Ok(());
    }
    Err(problem(
        path,
        format!("{v} must be zero or positive"),
        "e.g. 0.0",
    ))
}

pub(super) fn fraction(path: &'static str, v: f64, lo: f64, hi: f64) -> Result<(), Problem> {
    if v.is_finite() && v > lo && v <= hi {
        return Ok(());
    }
    Err(problem(
        path,
        format!("{v} is out of range"),
        format!("use a fraction above {lo} and at most {hi}, e.g. 0.2"),
    ))
}

pub(super) fn crop(path: &'static str, v: Option<usize>) -> Result<(), Problem> {
    match v {
        Some(0) => Err(problem(
            path,
            "0 is not a crop size",
            "leave it out to keep the whole image",
        )),
        _ => Ok(()),
    }
}

/// `transfer_depth` within the backbone, and only copied parts frozen: a fresh part is random,
/// so freezing it would train the layers above on noise.
fn transfer_depth(c: &RunConfig, parts: usize) -> Result<(), Problem> {
    let t = &c.transfer;
    let Some(n) = t.transfer_depth else {
        return Ok(());
    };
    let names = model::parts(&c.model);
    if n > parts {
        return Err(problem(
            "transfer.transfer_depth",
            format!(
                "{n} is more than the {parts} backbone parts ({})",
                names.join(", ")
            ),
            format!("use 0 to {parts}; {parts} (or leaving it out) copies the whole backbone"),
        ));
    }
    if n == parts {
        return Ok(());
    }
    match t.strategy {
        Strategy::Scratch => Ok(()),
        Strategy::LinearProbe => Err(problem(
            "transfer.transfer_depth",
            format!(
                "a linear probe freezes the whole backbone, but only {n} of its {parts} parts are copied"
            ),
            "use `strategy = \"finetune\"` with `freeze_depth = \"copied\"` to freeze just the copied parts",
        )),
        Strategy::Finetune if t.freeze_depth != depth::FREEZE_COPIED && t.freeze_depth > n => {
            Err(problem(
                "transfer.freeze_depth",
                format!(
                    "{} is more than `transfer_depth` {n}: {} would be frozen at random initialisation",
                    t.freeze_depth,
                    names[n..t.freeze_depth.min(parts)].join(", ")
                ),
                format!(
                    "freeze at most the {n} copied parts (0 to {n}), or write `freeze_depth = \"copied\"`"
                ),
            ))
        }
        Strategy::Finetune if t.unfreeze_every > 0 => Err(problem(
            "transfer.unfreeze_every",
            format!(
                "gradual unfreezing starts from a frozen backbone, but {} start fresh",
                names[n..].join(", ")
            ),
            "set `unfreeze_every = 0`, or leave `transfer_depth` out to copy every part",
        )),
        Strategy::Finetune => Ok(()),
    }
}
