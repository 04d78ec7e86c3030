//! DenseNet-121 as torchvision defines it: `features.denseblock1.denselayer1.conv1.weight`, ...

use super::kernels::{batch_norm, bn_relu, conv2d, relu};
use burn::module::Module;
use burn::nn::BatchNorm;
use burn::nn::conv::Conv2d;
use burn::nn::pool::{AvgPool2d, AvgPool2dConfig, MaxPool2d};
use burn::tensor::{Device, Tensor};
use rand::rngs::StdRng;

use super::head::{Classifier, Pool};
use super::layers::{bn, conv, linear, max_pool};

/// `_DenseLayer`: BN-ReLU-1x1 conv (bottleneck), BN-ReLU-3x3 conv producing `growth` channels.
#[derive(Module, Debug)]
pub struct DenseLayer {
    norm1: BatchNorm,
    conv1: Conv2d,
    norm2: BatchNorm,
    conv2: Conv2d,
}

/// Declares `_DenseBlock` with fields `denselayer1`..`denselayer24`: torchvision numbers the
/// layers from 1, which a `Vec` (numbered from 0) cannot give.
macro_rules! dense_block {
    ($($f:ident),*) => {
        /// `_DenseBlock`: each layer sees the concatenation of the block input and all earlier outputs.
        #[derive(Module, Debug)]
        pub struct DenseBlock {
            $($f: Option<DenseLayer>,)*
        }

        impl DenseBlock {
            fn from_layers(layers: Vec<DenseLayer>) -> DenseBlock {
                let mut it = layers.into_iter();
                DenseBlock { $($f: it.next(),)* }
            }

            fn layers(&self) -> Vec<&DenseLayer> {
                [$(&self.$f,)*].into_iter().flatten().collect()
            }
        }
    };
}

dense_block!(
    denselayer1,
    denselayer2,
    denselayer3,
    denselayer4,
    denselayer5,
    denselayer6,
    denselayer7,
    denselayer8,
    denselayer9,
    denselayer10,
    denselayer11,
    denselayer12,
    denselayer13,
    denselayer14,
    denselayer15,
    denselayer16,
    denselayer17,
    denselayer18,
    denselayer19,
    denselayer20,
    denselayer21,
    denselayer22,
    denselayer23,
    denselayer24
);

/// `_Transition`: BN-ReLU-1x1 conv halving the channels, then 2x2 average pooling.
#[derive(Module, Debug)]
pub struct Transition {
    norm: BatchNorm,
    conv: Conv2d,
    pool: AvgPool2d,
}

/// The `features` module.
#[derive(Module, Debug)]
pub struct Features {
    conv0: Conv2d,
    norm0: BatchNorm,
    pool0: MaxPool2d,
    denseblock1: DenseBlock,
    transition1: Transition,
    denseblock2: DenseBlock,
    transition2: Transition,
    denseblock3: DenseBlock,
    transition3: Transition,
    denseblock4: DenseBlock,
    norm5: BatchNorm,
}

/// DenseNet: `features`, ReLU, global average pool, `classifier`.
#[derive(Module, Debug)]
pub struct DenseNet {
    features: Features,
    /// The head.
    pub classifier: Classifier,
    /// The pool before a head that replaced torchvision's (`None`: torchvision's own).
    #[module(skip)]
    pub custom: Option<Pool>,
}

const GROWTH: usize = 32;
const BN_SIZE: usize = 4;

fn block(n: usize, cin: usize, rng: &mut StdRng, device: &Device) -> DenseBlock {
    let layers = (0..n)
        .map(|i| {
            let c = cin + i * GROWTH;
            DenseLayer {
                norm1: bn(c, device),
                conv1: conv((c, BN_SIZE * GROWTH), 1, 1, 0, false, rng, device),
                norm2: bn(BN_SIZE * GROWTH, device),
                conv2: conv((BN_SIZE * GROWTH, GROWTH), 3, 1, 1, false, rng, device),
            }
        })
        .collect();
    DenseBlock::from_layers(layers)
}

fn transition(cin: usize, rng: &mut StdRng, device: &Device) -> Transition {
    Transition {
        norm: bn(cin, device),
        conv: conv((cin, cin / 2), 1, 1, 0, false, rng, device),
        pool: AvgPool2dConfig::new([2, 2]).with_strides([2, 2]).init(),
    }
}

impl DenseBlock {
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let mut feats = vec![x];
        for l in self.layers() {
            let cat = Tensor::cat(feats.clone(), 1);
            let y = conv2d(&l.conv1, bn_relu(&l.norm1, cat));
            feats.push(conv2d(&l.conv2, bn_relu(&l.norm2, y)));
        }
        Tensor::cat(feats, 1)
    }
}

impl Transition {
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        self.pool
            .forward(conv2d(&self.conv, bn_relu(&self.norm, x)))
    }
}

impl DenseNet {
    /// torchvision's `densenet121()`.
    pub fn densenet121(
        in_channels: usize,
        classes: usize,
        rng: &mut StdRng,
        device: &Device,
    ) -> DenseNet {
        let conv0 = conv((in_channels, 64), 7, 2, 3, false, rng, device);
        let mut c = 64;
        let next_block = |n: usize, c: &mut usize, rng: &mut StdRng| {
            let b = block(n, *c, rng, device);
            *c += n * GROWTH;
            b
        };
        let denseblock1 = next_block(6, &mut c, rng);
        let transition1 = transition(c, rng, device);
        c /= 2;
        let denseblock2 = next_block(12, &mut c, rng);
        let transition2 = transition(c, rng, device);
        c /= 2;
        let denseblock3 = next_block(24, &mut c, rng);
        let transition3 = transition(c, rng, device);
        c /= 2;
        let denseblock4 = next_block(16, &mut c, rng);
        let features = Features {
            conv0,
            norm0: bn(64, device),
            pool0: max_pool(3, 2, 1),
            denseblock1,
            transition1,
            denseblock2,
            transition2,
            denseblock3,
            transition3,
            denseblock4,
            norm5: bn(c, device),
        };
        DenseNet {
            features,
            classifier: Classifier::Linear(linear(c, classes, rng, device)),
            custom: None,
        }
    }

    /// Outputs of the stem, of each dense block with its transition, and of the final norm.
    pub fn stages(&self, x: Tensor<4>) -> Vec<Tensor<4>> {
        let f = &self.features;
        let x = f.pool0.forward(bn_relu(&f.norm0, conv2d(&f.conv0, x)));
        let a = f.transition1.forward(f.denseblock1.forward(x.clone()));
        let b = f.transition2.forward(f.denseblock2.forward(a.clone()));
        let c = f.transition3.forward(f.denseblock3.forward(b.clone()));
        let d = batch_norm(&f.norm5, f.denseblock4.forward(c.clone()));
        vec![x, a, b, c, d]
    }

    /// Logits.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        self.classifier.forward(self.pooled(x), None)
    }

    /// Pooled features `[batch, channels]` (after the final ReLU).
    pub fn pooled(&self, x: Tensor<4>) -> Tensor<2> {
        let x = relu(self.stages(x).pop().expect("features"));
        super::head::pool(x, self.custom.unwrap_or_default())
    }

    /// `stem`, `block1`..`block4` (each dense block with the transition after it).
    pub fn parts(&self) -> Vec<String> {
        std::iter::once("stem".to_string())
            .chain((1..=4).map(|i| format!("block{i}")))
            .collect()
    }

    /// Parameter ids of each part.
    pub fn part_ids(&self) -> Vec<Vec<burn::module::ParamId>> {
        use super::param_ids as ids;
        let f = &self.features;
        vec![
            [ids(&f.conv0), ids(&f.norm0)].concat(),
            [ids(&f.denseblock1), ids(&f.transition1)].concat(),
            [ids(&f.denseblock2), ids(&f.transition2)].concat(),
            [ids(&f.denseblock3), ids(&f.transition3)].concat(),
            [ids(&f.denseblock4), ids(&f.norm5)].concat(),
        ]
    }

    /// Parameter count of each part.
    pub fn part_params(&self) -> Vec<usize> {
        let f = &self.features;
        vec![
            f.conv0.num_params() + f.norm0.num_params(),
            f.denseblock1.num_params() + f.transition1.num_params(),
            f.denseblock2.num_params() + f.transition2.num_params(),
            f.denseblock3.num_params() + f.transition3.num_params(),
            f.denseblock4.num_params() + f.norm5.num_params(),
        ]
    }

    /// Freezes the first `k` parts.
    pub fn freeze_leading(mut self, k: usize, stop: super::Stop) -> DenseNet {
        let f = &mut self.features;
        if k >= 1 {
            f.conv0 = stop.apply(f.conv0.clone());
            f.norm0 = stop.apply(f.norm0.clone());
        }
        if k >= 2 {
            f.denseblock1 = stop.apply(f.denseblock1.clone());
            f.transition1 = stop.apply(f.transition1.clone());
        }
        if k >= 3 {
            f.denseblock2 = stop.apply(f.denseblock2.clone());
            f.transition2 = stop.apply(f.transition2.clone());
        }
        if k >= 4 {
            f.denseblock3 = stop.apply(f.denseblock3.clone());
            f.transition3 = stop.apply(f.transition3.clone());
        }
        if k >= 5 {
            f.denseblock4 = stop.apply(f.denseblock4.clone());
            f.norm5 = stop.apply(f.norm5.clone());
        }
        self
    }

    /// Replaces the classifier.
    pub fn with_head(mut self, classes: usize, rng: &mut StdRng, device: &Device) -> DenseNet {
        self.classifier = self.classifier.fresh(classes, rng, device);
        self
    }

    /// The first conv refitted to `to` input channels (see `layers::adapt_input_channels`).
    pub fn adapt_input_channels(mut self, to: usize) -> DenseNet {
        super::layers::adapt_input_channels(&mut self.features.conv0, to);
        self
    }

    /// Input channels of the first conv.
    pub fn in_channels(&self) -> usize {
        self.features.conv0.weight.dims()[1]
    }
}
