//! The segmenter: a backbone's stages under an FCN head or a feature-pyramid decoder, its class
//! logits upsampled (bilinear) to the input size.
//!
//! Why a feature pyramid (Kirillov et al.'s semantic FPN) rather than a U-Net decoder: it is the
//! detection neck's top-down pass, one width at every level, so it costs the same on any
//! backbone whatever its stage channels (a U-Net concatenates them, which makes a DenseNet's or
//! a VGG's decoder many times the backbone's cost), and it needs only [`Network::stages`], which
//! every family gives. The FCN head (Long et al. 2015, FCN-32s) is the baseline: the last stage
//! alone, which shows what the earlier stages' resolution adds.

use burn::module::Module;
use burn::nn::conv::Conv2d;
use burn::tensor::module::interpolate;
use burn::tensor::ops::{InterpolateMode, InterpolateOptions};
use burn::tensor::{Device, Tensor};
use rand::rngs::StdRng;

use crate::model::kernels::{conv2d, relu};
use crate::model::layers::conv;
use crate::model::{Network, pyramid};

pub use crate::spec::schema::SegHead as Head;

/// The segmenter's shape.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SegmenterConfig {
    /// Classes (background included).
    pub classes: usize,
    /// Decoder.
    pub head: Head,
    /// Finest stride the pyramid starts at, in input pixels per cell.
    pub stride: usize,
    /// Channels of the pyramid and of the classifier's hidden layer.
    pub width: usize,
    /// Input side (square), which the logits are upsampled to.
    pub input_size: usize,
}

/// A backbone under a decoder and a per-pixel classifier.
#[derive(Module, Debug)]
pub struct Segmenter {
    /// The backbone (its classification layer is unused).
    pub backbone: Network,
    lateral: Vec<Conv2d>,
    smooth: Option<Conv2d>,
    hidden: Conv2d,
    classifier: Conv2d,
    /// Indices of the stages used, in [`Network::stages`]' order.
    #[module(skip)]
    levels: Vec<usize>,
    /// Input pixels per decoder cell.
    #[module(skip)]
    pub stride: usize,
    /// Classes.
    #[module(skip)]
    pub classes: usize,
}

impl Segmenter {
    /// A segmenter on `backbone`, its new layers initialised from `rng`.
    pub fn new(
        backbone: Network,
        c: &SegmenterConfig,
        rng: &mut StdRng,
        device: &Device,
    ) -> Segmenter {
        let fpn = (c.head == Head::Fpn).then_some((c.stride, c.width));
        let neck = pyramid::neck(&backbone, c.input_size, fpn, rng, device);
        let hidden = conv((neck.channels, c.width), 3, 1, 1, true, rng, device);
        let classifier = conv((c.width, c.classes), 1, 1, 0, true, rng, device);
        Segmenter {
            backbone,
            lateral: neck.lateral,
            smooth: neck.smooth,
            hidden,
            classifier,
            stride: neck.stride,
            levels: neck.levels,
            classes: c.classes,
        }
    }

    /// Class logits `[n, classes, h, w]` at the input's size.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let [_, _, h, w] = x.dims();
        let mut stages = self.backbone.stages(x);
        let features = match &self.smooth {
            None => stages.pop().expect("a backbone has parts"),
            Some(smooth) => {
                let used = pyramid::pick(stages, &self.levels);
                relu(conv2d(smooth, pyramid::top_down(used, &self.lateral)))
            }
        };
        let logits = conv2d(&self.classifier, relu(conv2d(&self.hidden, features)));
        // PyTorch's default (and mmsegmentation's): pixel centres, not corners, aligned.
        let up = InterpolateOptions::new(InterpolateMode::Bilinear)
            .with_align_corners(false)
            .with_output_size([h, w]);
        interpolate(logits, up)
    }

    /// The most likely class of every pixel, per image, row-major.
    pub fn predict(&self, x: Tensor<4>) -> Vec<Vec<u8>> {
        let logits = self.forward(x);
        let [n, k, h, w] = logits.dims();
        let v = logits
            .into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .expect("float data");
        let plane = h * w;
        (0..n)
            .map(|i| {
                let img = &v[i * k * plane..(i + 1) * k * plane];
                (0..plane)
                    .map(|p| {
                        // The first of equal maxima, as argmax is.
                        let mut best = 0;
                        for c in 1..k {
                            if img[c * plane + p] > img[best * plane + p] {
                                best = c;
                            }
                        }
                        best as u8
                    })
                    .collect()
            })
            .collect()
    }
}

impl crate::train::dense::Dense for Segmenter {
    fn backbone(&self) -> &Network {
        &self.backbone
    }

    fn map_backbone(mut self, f: impl FnOnce(Network) -> Network) -> Self {
        self.backbone = f(self.backbone);
        self
    }
}
