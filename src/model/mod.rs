//! Models: a registry of backbones, one name to one constructor.

pub mod init;
pub mod resnet;

use burn::tensor::Device;

pub use resnet::ResNet;

use crate::seed;
use crate::spec::schema::ModelSpec;

/// A registered backbone family.
pub struct BackboneInfo {
    /// The name used in experiment files.
    pub name: &'static str,
    /// One line for `sweep models`.
    pub description: &'static str,
}

/// Every backbone, by name.
pub const BACKBONES: &[BackboneInfo] = &[BackboneInfo {
    name: "resnet-mini",
    description: "CIFAR-style ResNet: 3x3 stem, `stages` stages of `blocks` basic blocks, width `width` doubling per stage",
}];

/// Freezable parts of the backbone a spec describes, in forward order (`stem`, `layer1`, ...).
pub fn parts(spec: &ModelSpec) -> Vec<String> {
    std::iter::once("stem".to_string())
        .chain((1..=spec.stages).map(|i| format!("layer{i}")))
        .collect()
}

/// Builds the network a spec describes, initialised from `seed`.
pub fn build(
    spec: &ModelSpec,
    in_channels: usize,
    classes: usize,
    seed: u64,
    device: &Device,
) -> ResNet {
    let mut rng = seed::rng(seed, "init", 0);
    ResNet::new(
        in_channels,
        spec.width,
        spec.stages,
        spec.blocks,
        classes,
        &mut rng,
        device,
    )
}
