//! ResNets with torchvision's parameter names (`layer1.0.conv1.weight`, `layer2.0.downsample.0`).
//!
//! `resnet18/34/50` are torchvision's (7x7 stem and max-pool, v1.5 bottlenecks with the stride on
//! the 3x3 conv). `resnet-mini` is the CIFAR-style variant sized for CPUs: a 3x3 stem without
//! max-pool, then 1 to 4 stages of basic blocks.

use burn::module::Module;
use burn::nn::BatchNorm;
use burn::nn::conv::Conv2d;
use burn::nn::pool::MaxPool2d;
use burn::tensor::{Device, Tensor};

use super::kernels::{batch_norm, bn_relu, conv2d, relu};
use rand::rngs::StdRng;

use super::head::{Classifier, Pool};
use super::layers::{Layer, bn, conv, linear, max_pool, sequential};

/// Basic residual block: two 3x3 convs (ResNet-18/34).
#[derive(Module, Debug)]
pub struct BasicBlock {
    conv1: Conv2d,
    bn1: BatchNorm,
    conv2: Conv2d,
    bn2: BatchNorm,
    downsample: Option<Vec<Layer>>,
}

/// Bottleneck block: 1x1, 3x3 (strided), 1x1 with 4x expansion (ResNet-50).
#[derive(Module, Debug)]
pub struct Bottleneck {
    conv1: Conv2d,
    bn1: BatchNorm,
    conv2: Conv2d,
    bn2: BatchNorm,
    conv3: Conv2d,
    bn3: BatchNorm,
    downsample: Option<Vec<Layer>>,
}

/// A residual block of either kind.
// Modules are held inline: burn's derive has no boxed variants, and blocks are few.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum Block {
    /// Two 3x3 convs.
    Basic(BasicBlock),
    /// 1x1 - 3x3 - 1x1.
    Bottleneck(Bottleneck),
}

/// ResNet: stem (`conv1`, `bn1`, optional max-pool), stages `layer1`..`layer4`, head `fc`.
#[derive(Module, Debug)]
pub struct ResNet {
    conv1: Conv2d,
    bn1: BatchNorm,
    maxpool: Option<MaxPool2d>,
    layer1: Vec<Block>,
    layer2: Vec<Block>,
    layer3: Vec<Block>,
    layer4: Vec<Block>,
    /// Classification head.
    pub fc: Classifier,
    /// The pool before a head that replaced torchvision's (`None`: torchvision's own).
    #[module(skip)]
    pub custom: Option<Pool>,
}

/// Shape of a ResNet.
#[derive(Debug, Clone, Copy)]
pub struct ResNetShape {
    /// Bottleneck blocks instead of basic ones.
    pub bottleneck: bool,
    /// Blocks in each of the four stages (0 = stage absent).
    pub blocks: [usize; 4],
    /// Width of the stem and of stage 1 (before expansion).
    pub width: usize,
    /// torchvision's 7x7/2 stem with 3x3/2 max-pool, instead of a 3x3/1 stem.
    pub imagenet_stem: bool,
}

fn downsample(
    cin: usize,
    cout: usize,
    stride: usize,
    rng: &mut StdRng,
    device: &Device,
) -> Option<Vec<Layer>> {
    (stride != 1 || cin != cout).then(|| {
        vec![
            Layer::Conv(conv((cin, cout), 1, stride, 0, false, rng, device)),
            Layer::Bn(bn(cout, device)),
        ]
    })
}

fn shortcut(downsample: &Option<Vec<Layer>>, x: Tensor<4>) -> Tensor<4> {
    match downsample {
        Some(layers) => sequential(layers, x),
        None => x,
    }
}

impl Block {
    fn new(
        bottleneck: bool,
        cin: usize,
        width: usize,
        stride: usize,
        rng: &mut StdRng,
        device: &Device,
    ) -> Block {
        if bottleneck {
            let cout = width * 4;
            Block::Bottleneck(Bottleneck {
                conv1: conv((cin, width), 1, 1, 0, false, rng, device),
                bn1: bn(width, device),
                conv2: conv((width, width), 3, stride, 1, false, rng, device),
                bn2: bn(width, device),
                conv3: conv((width, cout), 1, 1, 0, false, rng, device),
                bn3: bn(cout, device),
                downsample: downsample(cin, cout, stride, rng, device),
            })
        } else {
            Block::Basic(BasicBlock {
                conv1: conv((cin, width), 3, stride, 1, false, rng, device),
                bn1: bn(width, device),
                conv2: conv((width, width), 3, 1, 1, false, rng, device),
                bn2: bn(width, device),
                downsample: downsample(cin, width, stride, rng, device),
            })
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        match self {
            Block::Basic(b) => {
                let s = shortcut(&b.downsample, x.clone());
                let y = bn_relu(&b.bn1, conv2d(&b.conv1, x));
                relu(batch_norm(&b.bn2, conv2d(&b.conv2, y)) + s)
            }
            Block::Bottleneck(b) => {
                let s = shortcut(&b.downsample, x.clone());
                let y = bn_relu(&b.bn1, conv2d(&b.conv1, x));
                let y = bn_relu(&b.bn2, conv2d(&b.conv2, y));
                relu(batch_norm(&b.bn3, conv2d(&b.conv3, y)) + s)
            }
        }
    }
}

impl ResNet {
    /// Builds a ResNet of the given shape with `classes` outputs.
    pub fn new(
        shape: ResNetShape,
        in_channels: usize,
        classes: usize,
        rng: &mut StdRng,
        device: &Device,
    ) -> ResNet {
        let w = shape.width;
        let (conv1, maxpool) = match shape.imagenet_stem {
            true => (
                conv((in_channels, w), 7, 2, 3, false, rng, device),
                Some(max_pool(3, 2, 1)),
            ),
            false => (conv((in_channels, w), 3, 1, 1, false, rng, device), None),
        };
        let bn1 = bn(w, device);
        let expansion = if shape.bottleneck { 4 } else { 1 };
        let mut layers: [Vec<Block>; 4] = Default::default();
        let mut cin = w;
        for (s, layer) in layers.iter_mut().enumerate() {
            let width = w << s;
            for b in 0..shape.blocks[s] {
                let stride = if s > 0 && b == 0 { 2 } else { 1 };
                layer.push(Block::new(
                    shape.bottleneck,
                    cin,
                    width,
                    stride,
                    rng,
                    device,
                ));
                cin = width * expansion;
            }
        }
        let [layer1, layer2, layer3, layer4] = layers;
        let fc = Classifier::Linear(linear(cin, classes, rng, device));
        ResNet {
            conv1,
            bn1,
            maxpool,
            layer1,
            layer2,
            layer3,
            layer4,
            fc,
            custom: None,
        }
    }

    /// Output of the stem and of every stage, in order.
    pub fn stages(&self, x: Tensor<4>) -> Vec<Tensor<4>> {
        let mut x = bn_relu(&self.bn1, conv2d(&self.conv1, x));
        if let Some(p) = &self.maxpool {
            x = p.forward(x);
        }
        let mut out = vec![x.clone()];
        for layer in self.layers() {
            for b in layer {
                x = b.forward(x);
            }
            out.push(x.clone());
        }
        out
    }

    /// Pooled backbone features `[batch, channels]`.
    pub fn features(&self, x: Tensor<4>) -> Tensor<2> {
        self.features_from(self.prefix(x, 1), 1)
    }

    /// Output of the first `k` parts (`k` ≥ 1: the stem, then whole stages).
    pub fn prefix(&self, x: Tensor<4>, k: usize) -> Tensor<4> {
        let mut x = bn_relu(&self.bn1, conv2d(&self.conv1, x));
        if let Some(p) = &self.maxpool {
            x = p.forward(x);
        }
        for layer in self.layers().take(k.saturating_sub(1)) {
            for b in layer {
                x = b.forward(x);
            }
        }
        x
    }

    /// Pooled features from the output `x` of the first `k` parts (`k` ≥ 1).
    pub fn features_from(&self, mut x: Tensor<4>, k: usize) -> Tensor<2> {
        for layer in self.layers().skip(k.saturating_sub(1)) {
            for b in layer {
                x = b.forward(x);
            }
        }
        super::head::pool(x, self.custom.unwrap_or_default())
    }

    fn layers(&self) -> impl Iterator<Item = &Vec<Block>> {
        [&self.layer1, &self.layer2, &self.layer3, &self.layer4]
            .into_iter()
            .filter(|l| !l.is_empty())
    }

    /// Names of the freezable parts: `stem`, `layer1`, ...
    pub fn parts(&self) -> Vec<String> {
        let n = self.layers().count();
        std::iter::once("stem".to_string())
            .chain((1..=n).map(|i| format!("layer{i}")))
            .collect()
    }

    /// Parameter count of each part, in the order of [`parts`](Self::parts).
    pub fn part_params(&self) -> Vec<usize> {
        let stem = self.conv1.num_params() + self.bn1.num_params();
        std::iter::once(stem)
            .chain(self.layers().map(|l| l.num_params()))
            .collect()
    }

    /// Parameter ids of each part, in the order of [`parts`](Self::parts).
    pub fn part_ids(&self) -> Vec<Vec<burn::module::ParamId>> {
        let mut stem = super::param_ids(&self.conv1);
        stem.extend(super::param_ids(&self.bn1));
        std::iter::once(stem)
            .chain(self.layers().map(super::param_ids))
            .collect()
    }

    /// Freezes the first `k` parts: no gradients, batch norm in eval mode with fixed statistics.
    pub fn freeze_leading(mut self, k: usize, stop: super::Stop) -> ResNet {
        if k >= 1 {
            self.conv1 = stop.apply(self.conv1);
            self.bn1 = stop.apply(self.bn1);
        }
        let stages = [
            &mut self.layer1,
            &mut self.layer2,
            &mut self.layer3,
            &mut self.layer4,
        ];
        for (i, layer) in stages.into_iter().filter(|l| !l.is_empty()).enumerate() {
            if i + 2 <= k {
                *layer = stop.apply(std::mem::take(layer));
            }
        }
        self
    }

    /// Replaces the head with a fresh one of `classes` outputs.
    pub fn with_head(mut self, classes: usize, rng: &mut StdRng, device: &Device) -> ResNet {
        self.fc = self.fc.fresh(classes, rng, device);
        self
    }

    /// The first conv refitted to `to` input channels (see `layers::adapt_input_channels`).
    pub fn adapt_input_channels(mut self, to: usize) -> ResNet {
        super::layers::adapt_input_channels(&mut self.conv1, to);
        self
    }

    /// Input channels of the first conv.
    pub fn in_channels(&self) -> usize {
        self.conv1.weight.dims()[1]
    }
}
