//! A stage-structured ResNet with torchvision's parameter names (`layer1.0.conv1.weight`).
//!
//! `resnet-mini` is the CIFAR-style variant sized for CPUs: a 3x3 stem without max-pool, then
//! 1 to 4 stages of basic blocks, widths doubling and resolution halving from stage 2 on.

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Initializer, Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::{Device, Tensor, activation::relu};
use rand::rngs::StdRng;

use super::init;

/// Shortcut of a block that changes width or resolution: 1x1 conv and batch norm.
#[derive(Module, Debug)]
pub struct Downsample {
    conv: Conv2d,
    bn: BatchNorm,
}

/// Basic residual block: two 3x3 convs with batch norm, and a shortcut.
#[derive(Module, Debug)]
pub struct BasicBlock {
    conv1: Conv2d,
    bn1: BatchNorm,
    conv2: Conv2d,
    bn2: BatchNorm,
    downsample: Option<Downsample>,
}

/// ResNet: stem (`conv1`, `bn1`), stages `layer1`..`layer4` (unused ones empty), head `fc`.
#[derive(Module, Debug)]
pub struct ResNet {
    conv1: Conv2d,
    bn1: BatchNorm,
    layer1: Vec<BasicBlock>,
    layer2: Vec<BasicBlock>,
    layer3: Vec<BasicBlock>,
    layer4: Vec<BasicBlock>,
    fc: Linear,
}

fn conv(
    cin: usize,
    cout: usize,
    k: usize,
    stride: usize,
    rng: &mut StdRng,
    device: &Device,
) -> Conv2d {
    let mut c = Conv2dConfig::new([cin, cout], [k, k])
        .with_stride([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(k / 2, k / 2, k / 2, k / 2))
        .with_bias(false)
        .with_initializer(Initializer::Zeros)
        .init(device);
    c.weight = init::kaiming_normal_fan_out([cout, cin, k, k], rng, device);
    c
}

fn bn(features: usize, device: &Device) -> BatchNorm {
    BatchNormConfig::new(features).init(device)
}

fn block(cin: usize, cout: usize, stride: usize, rng: &mut StdRng, device: &Device) -> BasicBlock {
    let downsample = (stride != 1 || cin != cout).then(|| Downsample {
        conv: conv(cin, cout, 1, stride, rng, device),
        bn: bn(cout, device),
    });
    BasicBlock {
        conv1: conv(cin, cout, 3, stride, rng, device),
        bn1: bn(cout, device),
        conv2: conv(cout, cout, 3, 1, rng, device),
        bn2: bn(cout, device),
        downsample,
    }
}

/// A linear layer initialised like PyTorch's `nn.Linear` (uniform in ±1/sqrt(fan_in)).
pub fn linear(d_in: usize, d_out: usize, rng: &mut StdRng, device: &Device) -> Linear {
    let mut l = LinearConfig::new(d_in, d_out)
        .with_initializer(Initializer::Zeros)
        .init(device);
    let bound = 1.0 / (d_in as f32).sqrt();
    l.weight = init::uniform([d_in, d_out], bound, rng, device);
    l.bias = Some(init::uniform([d_out], bound, rng, device));
    l
}

impl BasicBlock {
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let shortcut = match &self.downsample {
            Some(d) => d.bn.forward(d.conv.forward(x.clone())),
            None => x.clone(),
        };
        let y = relu(self.bn1.forward(self.conv1.forward(x)));
        let y = self.bn2.forward(self.conv2.forward(y));
        relu(y + shortcut)
    }
}

impl ResNet {
    /// Builds a ResNet: `stages` stages of `blocks` blocks, stem width `width`, `classes` outputs.
    pub fn new(
        in_channels: usize,
        width: usize,
        stages: usize,
        blocks: usize,
        classes: usize,
        rng: &mut StdRng,
        device: &Device,
    ) -> ResNet {
        let conv1 = conv(in_channels, width, 3, 1, rng, device);
        let bn1 = bn(width, device);
        let mut layers: [Vec<BasicBlock>; 4] = Default::default();
        let mut cin = width;
        for (s, layer) in layers.iter_mut().enumerate().take(stages) {
            let cout = width << s;
            for b in 0..blocks {
                let stride = if s > 0 && b == 0 { 2 } else { 1 };
                layer.push(block(cin, cout, stride, rng, device));
                cin = cout;
            }
        }
        let [layer1, layer2, layer3, layer4] = layers;
        let fc = linear(cin, classes, rng, device);
        ResNet {
            conv1,
            bn1,
            layer1,
            layer2,
            layer3,
            layer4,
            fc,
        }
    }

    /// Logits `[batch, classes]` for images `[batch, channels, h, w]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        self.fc.forward(self.features(x))
    }

    /// Pooled backbone features `[batch, width]`.
    pub fn features(&self, x: Tensor<4>) -> Tensor<2> {
        let mut x = relu(self.bn1.forward(self.conv1.forward(x)));
        for layer in [&self.layer1, &self.layer2, &self.layer3, &self.layer4] {
            for b in layer {
                x = b.forward(x);
            }
        }
        let [n, c, _, _] = x.dims();
        x.mean_dim(3).mean_dim(2).reshape([n, c])
    }

    /// Names of the freezable backbone parts, in forward order.
    pub fn parts(&self) -> Vec<String> {
        let stages = [&self.layer1, &self.layer2, &self.layer3, &self.layer4];
        let n = stages.iter().filter(|l| !l.is_empty()).count();
        std::iter::once("stem".to_string())
            .chain((1..=n).map(|i| format!("layer{i}")))
            .collect()
    }

    /// Freezes the first `k` parts: no gradients, batch norm in eval mode with fixed statistics.
    pub fn freeze_leading(mut self, k: usize) -> ResNet {
        if k >= 1 {
            self.conv1 = self.conv1.freeze();
            self.bn1 = self.bn1.freeze();
        }
        let stages = [
            &mut self.layer1,
            &mut self.layer2,
            &mut self.layer3,
            &mut self.layer4,
        ];
        for (i, layer) in stages.into_iter().enumerate() {
            if i + 2 <= k {
                *layer = std::mem::take(layer).freeze();
            }
        }
        self
    }

    /// The classification head.
    pub fn head(&self) -> &Linear {
        &self.fc
    }

    /// Replaces the head with a fresh one of `classes` outputs.
    pub fn with_head(mut self, classes: usize, rng: &mut StdRng, device: &Device) -> ResNet {
        let [d_in, _] = self.fc.weight.dims();
        self.fc = linear(d_in, classes, rng, device);
        self
    }

    /// Output classes of the head.
    pub fn classes(&self) -> usize {
        self.fc.weight.dims()[1]
    }
}
