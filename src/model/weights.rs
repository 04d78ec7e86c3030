//! Weight files in PyTorch's naming: safetensors written and read, `.pt`/`.pth` state dicts read.
//!
//! Parameter paths are torchvision's state-dict keys. burn names BatchNorm's affine parameters
//! `gamma`/`beta`, stores Linear weights transposed, and names enum variants in paths; burn-store's
//! PyTorch adapters and `skip_enum_variants` translate all three, so no per-model table exists.

use std::path::Path;

use anyhow::{Context, bail};
use burn::module::Module;
use burn::store::{
    ApplyError, ApplyResult, BurnToPyTorchAdapter, ModuleSnapshot, PyTorchToBurnAdapter,
    PytorchStore, SafetensorsStore,
};

/// What a load did not match, by key.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct LoadReport {
    /// Keys of the model the file does not have.
    pub missing: Vec<String>,
    /// Keys of the file the model does not have (BatchNorm's `num_batches_tracked` excepted).
    pub unexpected: Vec<String>,
    /// Keys present in both with different shapes: (key, model shape, file shape).
    pub wrong_shape: Vec<(String, Vec<usize>, Vec<usize>)>,
    /// Keys loaded.
    pub loaded: usize,
}

impl LoadReport {
    /// True when every model key was loaded from a tensor of the right shape.
    pub fn is_complete(&self) -> bool {
        self.missing.is_empty() && self.wrong_shape.is_empty()
    }

    fn from_apply(r: ApplyResult) -> anyhow::Result<LoadReport> {
        let mut report = LoadReport {
            missing: r
                .missing
                .into_iter()
                .map(|(path, stack)| torch_name(&path, &stack))
                .collect(),
            unexpected: r
                .unused
                .into_iter()
                .filter(|k| !k.ends_with("num_batches_tracked"))
                .collect(),
            loaded: r.applied.len(),
            ..Default::default()
        };
        for e in r.errors {
            match e {
                ApplyError::ShapeMismatch {
                    path,
                    expected,
                    found,
                } => report
                    .wrong_shape
                    .push((path, expected.to_vec(), found.to_vec())),
                other => bail!("{other:?}"),
            }
        }
        Ok(report)
    }

    /// A readable account of the mismatches, a few keys of each kind.
    pub fn describe(&self) -> String {
        let list = |keys: &[String]| {
            let shown: Vec<&str> = keys.iter().take(6).map(String::as_str).collect();
            let more = keys.len().saturating_sub(shown.len());
            format!(
                "{}{}",
                shown.join(", "),
                if more > 0 {
                    format!(" and {more} more")
                } else {
                    String::new()
                }
            )
        };
        let mut parts = Vec::new();
        if !self.missing.is_empty() {
            parts.push(format!(
                "{} missing keys: {}",
                self.missing.len(),
                list(&self.missing)
            ));
        }
        if !self.wrong_shape.is_empty() {
            let shapes: Vec<String> = self
                .wrong_shape
                .iter()
                .take(6)
                .map(|(k, want, got)| format!("{k} (model {want:?}, file {got:?})"))
                .collect();
            parts.push(format!(
                "{} keys of the wrong shape: {}",
                self.wrong_shape.len(),
                shapes.join(", ")
            ));
        }
        if !self.unexpected.is_empty() {
            parts.push(format!(
                "{} unexpected keys: {}",
                self.unexpected.len(),
                list(&self.unexpected)
            ));
        }
        parts.join("; ")
    }
}

/// burn's name of a missing tensor in PyTorch's terms (BatchNorm `gamma`/`beta` are `weight`/`bias`).
fn torch_name(path: &str, container_stack: &str) -> String {
    if container_stack.ends_with("BatchNorm") {
        if let Some(p) = path.strip_suffix(".gamma") {
            return format!("{p}.weight");
        }
        if let Some(p) = path.strip_suffix(".beta") {
            return format!("{p}.bias");
        }
    }
    path.to_string()
}

/// Saves a module's tensors as safetensors under PyTorch's key names (loadable by `torch`).
pub fn save_safetensors<M: Module>(model: &M, path: &Path) -> anyhow::Result<()> {
    // burn's default metadata is a HashMap of three entries, written in a random order: one
    // entry keeps equal weights byte-identical files (PyTorch's own `save_file` writes it too).
    let mut store = SafetensorsStore::from_file(path)
        .clear_metadata()
        .metadata("format", "pt")
        .with_to_adapter(BurnToPyTorchAdapter)
        .skip_enum_variants(true)
        .overwrite(true);
    model
        .save_into(&mut store)
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))
}

/// A module's tensors as the bytes of a safetensors file under PyTorch's key names (what
/// [`save_safetensors`] writes).
pub fn safetensors_bytes<M: Module>(model: &M) -> anyhow::Result<Vec<u8>> {
    let mut store = SafetensorsStore::from_bytes(None)
        .clear_metadata()
        .metadata("format", "pt")
        .with_to_adapter(BurnToPyTorchAdapter)
        .skip_enum_variants(true);
    model
        .save_into(&mut store)
        .map_err(|e| anyhow::anyhow!("cannot serialize the weights: {e}"))?;
    store
        .get_bytes()
        .map_err(|e| anyhow::anyhow!("cannot serialize the weights: {e}"))
}

/// A run's weights as safetensors bytes: the tested (best-epoch) model's and, when kept, the
/// last epoch's.
#[derive(Debug, Clone, PartialEq)]
pub struct SavedModel {
    /// The tested weights: `runs/<id>/model.safetensors`.
    pub best: Vec<u8>,
    /// The weights after the last epoch: `runs/<id>/model-last.safetensors` with `save = "all"`.
    pub last: Option<Vec<u8>>,
}

impl SavedModel {
    /// Serializes `best` (always: its file's hash is the manifest's) and `last` when given.
    pub fn of<M: Module>(best: &M, last: Option<&M>) -> anyhow::Result<SavedModel> {
        Ok(SavedModel {
            best: safetensors_bytes(best)?,
            last: last.map(safetensors_bytes).transpose()?,
        })
    }

    /// Hex SHA-256 of the tested weights' file: the manifest's `weights_sha256`.
    pub fn sha256(&self) -> String {
        use sha2::{Digest, Sha256};
        format!("{:x}", Sha256::digest(&self.best))
    }
}

/// Loads PyTorch-named weights (`.safetensors`, `.pt`, `.pth`, `.bin`) into a module.
///
/// Shape mismatches and missing keys are reported, not applied; the caller decides whether a
/// partial load is acceptable.
pub fn load<M: Module>(model: M, path: &Path) -> anyhow::Result<(M, LoadReport)> {
    if !path.is_file() {
        bail!("weights file {} does not exist", path.display());
    }
    let mut model = model;
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    let result = match ext.as_str() {
        "safetensors" => {
            let mut store = SafetensorsStore::from_file(path)
                .with_from_adapter(PyTorchToBurnAdapter)
                .skip_enum_variants(true)
                .allow_partial(true)
                .validate(false);
            model.load_from(&mut store).map_err(|e| anyhow::anyhow!("{e}"))
        }
        "pt" | "pth" | "bin" | "ckpt" => {
            // PytorchStore always applies the PyTorch-to-burn adapter. Its default renumbering
            // of `Sequential` indices is off: sweep's modules keep torchvision's indices, gaps
            // included (`classifier.1` after a Dropout), so renumbered keys would not match.
            let mut store = PytorchStore::from_file(path)
                .map_indices_contiguous(false)
                .skip_enum_variants(true)
                .allow_partial(true)
                .validate(false);
            model.load_from(&mut store).map_err(|e| anyhow::anyhow!("{e}"))
        }
        _ => bail!(
            "{}: unknown weights format `.{ext}`; use a .safetensors file or a PyTorch state dict (.pt, .pth)",
            path.display()
        ),
    }
    .with_context(|| format!("cannot read weights from {}", path.display()))?;
    let report = LoadReport::from_apply(result)
        .with_context(|| format!("cannot apply weights from {}", path.display()))?;
    Ok((model, report))
}
