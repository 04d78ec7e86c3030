//! MobileNetV2 and EfficientNet-B0 as torchvision defines them (inverted residuals, depthwise
//! convs; EfficientNet adds squeeze-and-excitation and stochastic depth).

use burn::module::Module;
use burn::nn::activation::{Relu6, SiLU as Silu};
use burn::nn::conv::Conv2d;
use burn::tensor::activation::sigmoid;
use burn::tensor::{Device, Tensor, TensorData};
use rand::rngs::StdRng;

use super::layers::{Dense, Dropout, Layer, conv, conv_bn_act, dense, linear, sequential};

/// One entry of an inverted residual's `conv` / `block` sequence.
// Held inline: burn's derive has no boxed variants.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum Part {
    /// A `Conv2dNormActivation`.
    Cna(Vec<Layer>),
    /// A bare conv (MobileNetV2's projection).
    Conv(Conv2d),
    /// A bare batch norm.
    Bn(burn::nn::BatchNorm),
    /// EfficientNet's squeeze-and-excitation.
    Se(SqueezeExcitation),
}

/// `SqueezeExcitation(fc1, fc2)`: channel weights from the pooled input.
#[derive(Module, Debug)]
pub struct SqueezeExcitation {
    fc1: Conv2d,
    fc2: Conv2d,
}

/// MobileNetV2's `InvertedResidual` (`conv`) or EfficientNet's `MBConv` (`block`).
#[derive(Module, Debug)]
pub struct InvertedResidual {
    conv: Vec<Part>,
    block: Vec<Part>,
    residual: bool,
    drop_prob: f64,
}

/// One entry of `features`.
#[derive(Module, Debug)]
pub enum Feature {
    /// The stem or the last 1x1 conv.
    Cna(Vec<Layer>),
    /// A MobileNetV2 block.
    Block(InvertedResidual),
    /// An EfficientNet stage.
    Stage(Vec<InvertedResidual>),
}

/// MobileNetV2 / EfficientNet: `features`, global average pool, `classifier`.
#[derive(Module, Debug)]
pub struct MobileNet {
    features: Vec<Feature>,
    /// Dropout and the last linear layer (the head).
    pub classifier: Vec<Dense>,
    /// The pool before a head that replaced torchvision's (`None`: torchvision's own).
    #[module(skip)]
    pub custom: Option<super::head::Pool>,
    /// Index in `features` after which each freezable part ends.
    #[module(skip)]
    part_ends: Vec<usize>,
}

fn part_forward(p: &Part, x: Tensor<4>) -> Tensor<4> {
    match p {
        Part::Cna(l) => sequential(l, x),
        Part::Conv(c) => super::kernels::conv2d(c, x),
        Part::Bn(b) => super::kernels::batch_norm(b, x),
        Part::Se(se) => {
            let s = x.clone().mean_dim(3).mean_dim(2);
            let s = sigmoid(se.fc2.forward(super::kernels::silu(se.fc1.forward(s))));
            x * s
        }
    }
}

impl InvertedResidual {
    fn forward(&self, x: Tensor<4>, rng: Option<&mut StdRng>) -> Tensor<4> {
        let mut y = x.clone();
        for p in self.conv.iter().chain(&self.block) {
            y = part_forward(p, y);
        }
        if !self.residual {
            return y;
        }
        // Stochastic depth ("row" mode): drop the branch per sample while training.
        if let Some(rng) = rng.filter(|_| self.drop_prob > 0.0) {
            let [n, _, _, _] = y.dims();
            let mask = super::layers::keep_mask(rng, n, self.drop_prob);
            y = y * Tensor::<4>::from_data(TensorData::new(mask, [n, 1, 1, 1]), &x.device());
        }
        y + x
    }
}

fn divisible(v: f64) -> usize {
    // torchvision's _make_divisible(v, 8).
    let new = ((v + 4.0) as usize / 8 * 8).max(8);
    if (new as f64) < 0.9 * v { new + 8 } else { new }
}

impl MobileNet {
    /// torchvision's `mobilenet_v2()`.
    pub fn v2(in_channels: usize, classes: usize, rng: &mut StdRng, device: &Device) -> MobileNet {
        let relu6 = || Some(Layer::Relu6(Relu6::new()));
        let mut features = vec![Feature::Cna(conv_bn_act(
            (in_channels, 32),
            3,
            2,
            1,
            relu6(),
            rng,
            device,
        ))];
        let mut part_ends = vec![0];
        let mut cin = 32;
        for (t, c, n, s) in [
            (1, 16, 1, 1),
            (6, 24, 2, 2),
            (6, 32, 3, 2),
            (6, 64, 4, 2),
            (6, 96, 3, 1),
            (6, 160, 3, 2),
            (6, 320, 1, 1),
        ] {
            for i in 0..n {
                let stride = if i == 0 { s } else { 1 };
                let hidden = cin * t;
                let mut conv_parts = Vec::new();
                if t != 1 {
                    conv_parts.push(Part::Cna(conv_bn_act(
                        (cin, hidden),
                        1,
                        1,
                        1,
                        relu6(),
                        rng,
                        device,
                    )));
                }
                conv_parts.push(Part::Cna(conv_bn_act(
                    (hidden, hidden),
                    3,
                    stride,
                    hidden,
                    relu6(),
                    rng,
                    device,
                )));
                conv_parts.push(Part::Conv(conv((hidden, c), 1, 1, 0, false, rng, device)));
                conv_parts.push(Part::Bn(super::layers::bn(c, device)));
                features.push(Feature::Block(InvertedResidual {
                    conv: conv_parts,
                    block: vec![],
                    residual: stride == 1 && cin == c,
                    drop_prob: 0.0,
                }));
                cin = c;
            }
            part_ends.push(features.len() - 1);
        }
        features.push(Feature::Cna(conv_bn_act(
            (cin, 1280),
            1,
            1,
            1,
            relu6(),
            rng,
            device,
        )));
        part_ends.push(features.len() - 1);
        let classifier = vec![
            Dense::Dropout(Dropout { p: 0.2 }),
            Dense::Linear(linear(1280, classes, rng, device)),
        ];
        MobileNet {
            features,
            classifier,
            custom: None,
            part_ends,
        }
    }

    /// torchvision's `efficientnet_b0()`.
    pub fn efficientnet_b0(
        in_channels: usize,
        classes: usize,
        rng: &mut StdRng,
        device: &Device,
    ) -> MobileNet {
        let act = || Some(Layer::Silu(Silu::new()));
        let mut features = vec![Feature::Cna(conv_bn_act(
            (in_channels, 32),
            3,
            2,
            1,
            act(),
            rng,
            device,
        ))];
        let setting = [
            (1, 3, 1, 32, 16, 1),
            (6, 3, 2, 16, 24, 2),
            (6, 5, 2, 24, 40, 2),
            (6, 3, 2, 40, 80, 3),
            (6, 5, 1, 80, 112, 3),
            (6, 5, 2, 112, 192, 4),
            (6, 3, 1, 192, 320, 1),
        ];
        let total: usize = setting.iter().map(|s| s.5).sum();
        let mut block_id = 0;
        for (expand, k, stride, cin, cout, n) in setting {
            let mut stage = Vec::new();
            for i in 0..n {
                let (cin, stride) = if i == 0 { (cin, stride) } else { (cout, 1) };
                let expanded = divisible((cin * expand) as f64);
                let mut block = Vec::new();
                if expanded != cin {
                    block.push(Part::Cna(conv_bn_act(
                        (cin, expanded),
                        1,
                        1,
                        1,
                        act(),
                        rng,
                        device,
                    )));
                }
                block.push(Part::Cna(conv_bn_act(
                    (expanded, expanded),
                    k,
                    stride,
                    expanded,
                    act(),
                    rng,
                    device,
                )));
                let squeeze = (cin / 4).max(1);
                block.push(Part::Se(SqueezeExcitation {
                    fc1: conv((expanded, squeeze), 1, 1, 0, true, rng, device),
                    fc2: conv((squeeze, expanded), 1, 1, 0, true, rng, device),
                }));
                block.push(Part::Cna(conv_bn_act(
                    (expanded, cout),
                    1,
                    1,
                    1,
                    None,
                    rng,
                    device,
                )));
                stage.push(InvertedResidual {
                    conv: vec![],
                    block,
                    residual: stride == 1 && cin == cout,
                    drop_prob: 0.2 * block_id as f64 / total as f64,
                });
                block_id += 1;
            }
            features.push(Feature::Stage(stage));
        }
        features.push(Feature::Cna(conv_bn_act(
            (320, 1280),
            1,
            1,
            1,
            act(),
            rng,
            device,
        )));
        let part_ends = (0..features.len()).collect();
        let classifier = vec![
            Dense::Dropout(Dropout { p: 0.2 }),
            Dense::Linear(linear(1280, classes, rng, device)),
        ];
        MobileNet {
            features,
            classifier,
            custom: None,
            part_ends,
        }
    }

    fn feature_forward(f: &Feature, x: Tensor<4>, mut rng: Option<&mut StdRng>) -> Tensor<4> {
        match f {
            Feature::Cna(l) => sequential(l, x),
            Feature::Block(b) => b.forward(x, rng),
            Feature::Stage(blocks) => blocks
                .iter()
                .fold(x, |x, b| b.forward(x, rng.as_deref_mut())),
        }
    }

    /// Output of every freezable part; `rng` enables stochastic depth.
    pub fn stages_with(&self, mut x: Tensor<4>, mut rng: Option<&mut StdRng>) -> Vec<Tensor<4>> {
        let mut out = Vec::new();
        for (i, f) in self.features.iter().enumerate() {
            x = Self::feature_forward(f, x, rng.as_deref_mut());
            if self.part_ends.contains(&i) {
                out.push(x.clone());
            }
        }
        out
    }

    /// Output of every freezable part (inference).
    pub fn stages(&self, x: Tensor<4>) -> Vec<Tensor<4>> {
        self.stages_with(x, None)
    }

    /// Logits; `rng` enables dropout and stochastic depth (training).
    pub fn forward(&self, x: Tensor<4>, mut rng: Option<&mut StdRng>) -> Tensor<2> {
        let x = self
            .stages_with(x, rng.as_deref_mut())
            .pop()
            .expect("features");
        let x = super::head::pool(x, self.custom.unwrap_or_default());
        dense(&self.classifier, x, rng)
    }

    /// `stem`, `stage1`, ..., `last`.
    pub fn parts(&self) -> Vec<String> {
        let n = self.part_ends.len();
        (0..n)
            .map(|i| match i {
                0 => "stem".to_string(),
                i if i == n - 1 => "last".to_string(),
                i => format!("stage{i}"),
            })
            .collect()
    }

    fn ranges(&self) -> Vec<std::ops::Range<usize>> {
        let mut start = 0;
        self.part_ends
            .iter()
            .map(|&e| {
                let r = start..e + 1;
                start = e + 1;
                r
            })
            .collect()
    }

    /// Parameter ids of each part.
    pub fn part_ids(&self) -> Vec<Vec<burn::module::ParamId>> {
        self.ranges()
            .into_iter()
            .map(|r| self.features[r].iter().flat_map(super::param_ids).collect())
            .collect()
    }

    /// Parameter count of each part.
    pub fn part_params(&self) -> Vec<usize> {
        self.ranges()
            .into_iter()
            .map(|r| self.features[r].iter().map(|f| f.num_params()).sum())
            .collect()
    }

    /// Freezes the first `k` parts.
    pub fn freeze_leading(mut self, k: usize, stop: super::Stop) -> MobileNet {
        let end = if k == 0 {
            0
        } else {
            self.ranges()[k.min(self.part_ends.len()) - 1].end
        };
        let frozen: Vec<Feature> = self.features.drain(..end).map(|f| stop.apply(f)).collect();
        self.features.splice(0..0, frozen);
        self
    }

    /// Replaces the last linear layer (every layer of a head that replaced torchvision's).
    pub fn with_head(mut self, classes: usize, rng: &mut StdRng, device: &Device) -> MobileNet {
        let whole = self.custom.is_some();
        self.classifier = super::head::fresh(self.classifier, classes, whole, rng, device);
        self
    }

    fn first_conv(&self) -> Option<&Conv2d> {
        match self.features.first() {
            Some(Feature::Cna(l)) => match l.first() {
                Some(Layer::Conv(c)) => Some(c),
                _ => None,
            },
            _ => None,
        }
    }

    /// The first conv refitted to `to` input channels (see `layers::adapt_input_channels`).
    pub fn adapt_input_channels(mut self, to: usize) -> MobileNet {
        if let Some(Feature::Cna(l)) = self.features.first_mut()
            && let Some(Layer::Conv(c)) = l.first_mut()
        {
            super::layers::adapt_input_channels(c, to);
        }
        self
    }

    /// Input channels of the first conv.
    pub fn in_channels(&self) -> usize {
        self.first_conv().map_or(0, |c| c.weight.dims()[1])
    }
}
