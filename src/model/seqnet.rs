//! VGG and AlexNet: `features` (an `nn.Sequential` of convs), adaptive average pool, `classifier`.

use burn::module::Module;
use burn::nn::Relu;
use burn::nn::pool::{AdaptiveAvgPool2d, AdaptiveAvgPool2dConfig};
use burn::tensor::{Device, Tensor};
use rand::rngs::StdRng;

use super::head::Pool;
use super::layers::{Dense, Dropout, Layer, bn, conv, dense, linear, max_pool, sequential};

/// A plain convolutional network with torchvision's `features` / `classifier` layout.
#[derive(Module, Debug)]
pub struct SeqNet {
    features: Vec<Layer>,
    /// torchvision's adaptive pool (absent under a head that replaced torchvision's).
    avgpool: Option<AdaptiveAvgPool2d>,
    /// The classifier (the head).
    pub classifier: Vec<Dense>,
    /// The pool before a head that replaced torchvision's (`None`: torchvision's own).
    #[module(skip)]
    pub custom: Option<Pool>,
}

/// torchvision's VGG configurations: channels, or 0 for a max-pool.
pub const VGG11: &[usize] = &[64, 0, 128, 0, 256, 256, 0, 512, 512, 0, 512, 512, 0];
/// VGG-16 (configuration D).
pub const VGG16: &[usize] = &[
    64, 64, 0, 128, 128, 0, 256, 256, 256, 0, 512, 512, 512, 0, 512, 512, 512, 0,
];

/// torchvision's classifier: VGG puts dropout after each hidden ReLU, AlexNet before each hidden
/// linear layer.
fn classifier(
    d_in: usize,
    classes: usize,
    dropout_first: bool,
    rng: &mut StdRng,
    device: &Device,
) -> Vec<Dense> {
    let drop = || Dense::Dropout(Dropout { p: 0.5 });
    let mut c = Vec::new();
    for (i, o) in [(d_in, 4096), (4096, 4096)] {
        let hidden = [
            Dense::Linear(linear(i, o, rng, device)),
            Dense::Relu(Relu::new()),
        ];
        if dropout_first {
            c.push(drop());
            c.extend(hidden);
        } else {
            c.extend(hidden);
            c.push(drop());
        }
    }
    c.push(Dense::Linear(linear(4096, classes, rng, device)));
    c
}

impl SeqNet {
    /// VGG with batch norm (`vgg11_bn`, `vgg16_bn`).
    pub fn vgg_bn(
        cfg: &[usize],
        in_channels: usize,
        classes: usize,
        rng: &mut StdRng,
        device: &Device,
    ) -> SeqNet {
        let mut features = Vec::new();
        let mut cin = in_channels;
        for &v in cfg {
            if v == 0 {
                features.push(Layer::MaxPool(max_pool(2, 2, 0)));
            } else {
                features.push(Layer::Conv(conv((cin, v), 3, 1, 1, true, rng, device)));
                features.push(Layer::Bn(bn(v, device)));
                features.push(Layer::Relu(Relu::new()));
                cin = v;
            }
        }
        SeqNet {
            features,
            avgpool: Some(AdaptiveAvgPool2dConfig::new([7, 7]).init()),
            classifier: classifier(512 * 49, classes, false, rng, device),
            custom: None,
        }
    }

    /// AlexNet as torchvision defines it.
    pub fn alexnet(
        in_channels: usize,
        classes: usize,
        rng: &mut StdRng,
        device: &Device,
    ) -> SeqNet {
        let r = || Layer::Relu(Relu::new());
        let features = vec![
            Layer::Conv(conv((in_channels, 64), 11, 4, 2, true, rng, device)),
            r(),
            Layer::MaxPool(max_pool(3, 2, 0)),
            Layer::Conv(conv((64, 192), 5, 1, 2, true, rng, device)),
            r(),
            Layer::MaxPool(max_pool(3, 2, 0)),
            Layer::Conv(conv((192, 384), 3, 1, 1, true, rng, device)),
            r(),
            Layer::Conv(conv((384, 256), 3, 1, 1, true, rng, device)),
            r(),
            Layer::Conv(conv((256, 256), 3, 1, 1, true, rng, device)),
            r(),
            Layer::MaxPool(max_pool(3, 2, 0)),
        ];
        SeqNet {
            features,
            avgpool: Some(AdaptiveAvgPool2dConfig::new([6, 6]).init()),
            classifier: classifier(256 * 36, classes, true, rng, device),
            custom: None,
        }
    }

    /// Index ranges of `features` forming each conv block (a block ends with a max-pool).
    fn blocks(&self) -> Vec<std::ops::Range<usize>> {
        let mut out = Vec::new();
        let mut start = 0;
        for (i, l) in self.features.iter().enumerate() {
            if matches!(l, Layer::MaxPool(_)) {
                out.push(start..i + 1);
                start = i + 1;
            }
        }
        if start < self.features.len() {
            out.push(start..self.features.len());
        }
        out
    }

    /// Output of every conv block, in order.
    pub fn stages(&self, mut x: Tensor<4>) -> Vec<Tensor<4>> {
        let mut out = Vec::new();
        for r in self.blocks() {
            x = sequential(&self.features[r], x);
            out.push(x.clone());
        }
        out
    }

    /// Logits; `rng` enables dropout (training).
    pub fn forward(&self, x: Tensor<4>, rng: Option<&mut StdRng>) -> Tensor<2> {
        self.forward_from(x, 0, rng)
    }

    /// Index of the first feature layer after the first `k` blocks.
    fn block_end(&self, k: usize) -> usize {
        match k {
            0 => 0,
            k => self.blocks()[k.min(self.blocks().len()) - 1].end,
        }
    }

    /// Output of the first `k` conv blocks.
    pub fn prefix(&self, x: Tensor<4>, k: usize) -> Tensor<4> {
        sequential(&self.features[..self.block_end(k)], x)
    }

    /// Logits from the output `x` of the first `k` conv blocks.
    pub fn forward_from(&self, x: Tensor<4>, k: usize, rng: Option<&mut StdRng>) -> Tensor<2> {
        let x = sequential(&self.features[self.block_end(k)..], x);
        let x = match (&self.avgpool, self.custom) {
            (_, Some(p)) => super::head::pool(x, p),
            (Some(a), None) => super::head::pool(a.forward(x), Pool::Flatten),
            (None, None) => super::head::pool(x, Pool::Flatten),
        };
        dense(&self.classifier, x, rng)
    }

    /// Names of the freezable parts: `block1`, `block2`, ...
    pub fn parts(&self) -> Vec<String> {
        (1..=self.blocks().len())
            .map(|i| format!("block{i}"))
            .collect()
    }

    /// Parameter count of each block.
    pub fn part_params(&self) -> Vec<usize> {
        self.blocks()
            .into_iter()
            .map(|r| self.features[r].iter().map(|l| l.num_params()).sum())
            .collect()
    }

    /// Parameter ids of each block.
    pub fn part_ids(&self) -> Vec<Vec<burn::module::ParamId>> {
        self.blocks()
            .into_iter()
            .map(|r| self.features[r].iter().flat_map(super::param_ids).collect())
            .collect()
    }

    /// Freezes the first `k` conv blocks.
    pub fn freeze_leading(mut self, k: usize, stop: super::Stop) -> SeqNet {
        let end = self.block_end(k);
        for l in &mut self.features[..end] {
            let layer = std::mem::replace(l, Layer::Relu(Relu::new()));
            *l = stop.apply(layer);
        }
        self
    }

    /// Replaces the last linear layer (every layer of a head that replaced torchvision's) with
    /// fresh ones, the last of `classes` outputs.
    pub fn with_head(mut self, classes: usize, rng: &mut StdRng, device: &Device) -> SeqNet {
        let whole = self.custom.is_some();
        self.classifier = super::head::fresh(self.classifier, classes, whole, rng, device);
        self
    }

    /// Puts `layers` after `pool` in place of torchvision's pool and classifier.
    pub fn set_head(&mut self, layers: Vec<Dense>, pool: Pool) {
        self.avgpool = None;
        self.classifier = layers;
        self.custom = Some(pool);
    }

    /// The first conv refitted to `to` input channels (see `layers::adapt_input_channels`).
    pub fn adapt_input_channels(mut self, to: usize) -> SeqNet {
        if let Some(Layer::Conv(c)) = self.features.first_mut() {
            super::layers::adapt_input_channels(c, to);
        }
        self
    }

    /// Input channels of the first conv.
    pub fn in_channels(&self) -> usize {
        match self.features.first() {
            Some(Layer::Conv(c)) => c.weight.dims()[1],
            _ => 0,
        }
    }
}
