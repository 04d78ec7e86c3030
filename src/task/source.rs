//! A source (pretraining) stage's identity: its cache key, the files it is kept in, what the
//! cache keeps beside its weights, and the model it trains. Training it is the orchestrator's
//! ([`crate::sweep::source::obtain`]); the tasks only read it.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::data;
use crate::model;
use crate::spec::hash_hex;
use crate::spec::schema::{ModelSpec, Source};

/// What the cache keeps beside a source backbone's weights.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SourceInfo {
    /// Cache key (content hash of the source and model settings).
    pub key: String,
    /// Source dataset.
    pub dataset: String,
    /// Input channels.
    pub channels: usize,
    /// Classes of the source head.
    pub classes: usize,
    /// Accuracy on the source dataset's test split.
    pub test_accuracy: f64,
    /// Epoch whose weights were kept.
    pub best_epoch: usize,
    /// Seconds spent training.
    pub seconds: f64,
}

/// Cache key of a source stage: everything that changes the backbone it produces.
pub fn key(source: &Source, model: &ModelSpec) -> String {
    let model = &backbone_spec(model);
    // The files it reads: a changed dataset or weights file is a different source stage.
    let weights = match &model.weights {
        Some(w) if !model::download::is_url(w) => data::fingerprint::file(Path::new(w)),
        _ => None,
    };
    let parts = [
        serde_json::to_string(source).expect("serializes"),
        serde_json::to_string(model).expect("serializes"),
        data::fingerprint::dataset(&source.dataset),
        weights.unwrap_or_default(),
        env!("CARGO_PKG_VERSION").to_string(),
    ];
    hash_hex(&parts)[..16].to_string()
}

/// The model a source stage trains: the target's backbone with torchvision's head, or, when
/// the target replaces that head, a linear layer on the average pool (VGG's own classifier
/// would be 120M parameters that the target throws away). The head, its pool and its dropout
/// belong to the target runs, whose head starts fresh, so runs that differ only there share
/// one source stage.
pub fn backbone_spec(model: &ModelSpec) -> ModelSpec {
    let replaced = model.custom_head().is_some() && !crate::model::linear_head(&model.backbone);
    ModelSpec {
        dropout: 0.0,
        head: replaced.then_some(crate::model::head::Head::Linear),
        pool: None,
        ..model.clone()
    }
}

/// Paths of a cached source stage: (weights, info).
pub fn paths(cache: &Path, key: &str) -> (PathBuf, PathBuf) {
    (
        cache.join(format!("source-{key}.safetensors")),
        cache.join(format!("source-{key}.json")),
    )
}
