//! What the dense heads (detection, segmentation) share on a backbone's stages: probing their
//! shapes and strides, and the feature pyramid's top-down merge (Lin et al. 2017).

use burn::module::Module;
use burn::nn::conv::Conv2d;
use burn::tensor::module::interpolate;
use burn::tensor::ops::{InterpolateMode, InterpolateOptions};
use burn::tensor::{Device, Tensor};
use rand::rngs::StdRng;

use super::Network;
use super::init;
use super::kernels::conv2d;
use super::layers::conv;

/// The output shapes of `backbone`'s stages for one `size`×`size` input, and each stage's
/// stride in input pixels. Probed in inference: a training probe would move BN statistics.
pub fn stages(backbone: &Network, size: usize, device: &Device) -> (Vec<[usize; 4]>, Vec<usize>) {
    let inner = device.clone().inner();
    let probe = Tensor::<4>::zeros([1, backbone.in_channels(), size, size], &inner);
    let shapes: Vec<[usize; 4]> = backbone
        .valid()
        .stages(probe)
        .iter()
        .map(|s| s.dims())
        .collect();
    let strides = shapes.iter().map(|s| size.div_ceil(s[2]).max(1)).collect();
    (shapes, strides)
}

/// The index of the first stage at least `stride` coarse (the last stage if none is).
pub fn level(strides: &[usize], stride: usize) -> usize {
    strides
        .iter()
        .position(|&s| s >= stride)
        .unwrap_or(strides.len() - 1)
}

/// The stages a pyramid merges: from the first at least `stride` coarse on, the last stage of
/// each stride (FPN's C2..C5 on a ResNet: `layer1`..`layer4`, not the stem beside `layer1`).
/// Mobile backbones end several stages at one stride (EfficientNet-Lite: `stage6`, `stage7` and
/// `conv_head` at 32); summing each of them would weigh the coarsest, blockiest level three
/// times, and measured on digit-scenes it started Lite0's detector at a loss of ~490 (against
/// resnet-mini's ~8), so that it never localised.
pub fn levels(strides: &[usize], stride: usize) -> Vec<usize> {
    let last_of_stride = |&i: &usize| i + 1 == strides.len() || strides[i + 1] != strides[i];
    (level(strides, stride)..strides.len())
        .filter(last_of_stride)
        .collect()
}

/// The stages of `levels` (ascending indices) out of all of a backbone's stage outputs.
pub fn pick(stages: Vec<Tensor<4>>, levels: &[usize]) -> Vec<Tensor<4>> {
    stages
        .into_iter()
        .enumerate()
        .filter(|(i, _)| levels.contains(i))
        .map(|(_, t)| t)
        .collect()
}

/// The pyramid's top-down pass: each stage of `used` (finest first) through its `lateral` 1×1
/// conv, the coarser sum upsampled (nearest) onto it and added; the finest level's sum.
pub fn top_down(used: Vec<Tensor<4>>, lateral: &[Conv2d]) -> Tensor<4> {
    let mut top: Option<Tensor<4>> = None;
    for (c, lateral) in used.into_iter().zip(lateral).rev() {
        let l = conv2d(lateral, c);
        let [_, _, h, w] = l.dims();
        top = Some(match top {
            None => l,
            Some(t) => {
                let up = InterpolateOptions::new(InterpolateMode::Nearest).with_output_size([h, w]);
                interpolate(t, up) + l
            }
        });
    }
    top.expect("the pyramid has a level")
}

/// What a dense head sits on: the stages it reads (`levels`), a pyramid's laterals and smooth
/// conv when it has one, its input channels and its stride in input pixels.
pub struct Neck {
    /// Indices of the stages used, finest first, in [`Network::stages`]' order.
    pub levels: Vec<usize>,
    /// The pyramid's 1×1 lateral convs, one per level (none without a pyramid).
    pub lateral: Vec<Conv2d>,
    /// The pyramid's 3×3 smooth conv (none without a pyramid).
    pub smooth: Option<Conv2d>,
    /// Channels the head receives.
    pub channels: usize,
    /// Input pixels per cell of the head's map.
    pub stride: usize,
}

/// The neck of a head on `backbone` at `size`×`size` inputs: with `fpn = Some((stride, width))`
/// a pyramid from the first stage at `stride` ([`levels`], [`layers`] drawn from `rng`), else
/// the last stage alone.
pub fn neck(
    backbone: &Network,
    size: usize,
    fpn: Option<(usize, usize)>,
    rng: &mut StdRng,
    device: &Device,
) -> Neck {
    let (shapes, strides) = stages(backbone, size, device);
    let last = shapes.len() - 1;
    let Some((stride, width)) = fpn else {
        return Neck {
            levels: vec![last],
            lateral: Vec::new(),
            smooth: None,
            channels: shapes[last][1],
            stride: strides[last],
        };
    };
    let levels = levels(&strides, stride);
    let (lateral, smooth) = layers(&shapes, &levels, width, rng, device);
    Neck {
        stride: strides[levels[0]],
        levels,
        lateral,
        smooth: Some(smooth),
        channels: width,
    }
}

/// A pyramid's new layers over the stages `levels` of `shapes`: a 1×1 lateral conv per stage to
/// `width` channels, then the 3×3 smooth conv, initialised from `rng` in that order, each by
/// [`init::xavier_fill`] as detectron2's FPN is.
pub fn layers(
    shapes: &[[usize; 4]],
    levels: &[usize],
    width: usize,
    rng: &mut StdRng,
    device: &Device,
) -> (Vec<Conv2d>, Conv2d) {
    let mut xavier = |cin: usize, k: usize| {
        let mut c = conv((cin, width), k, 1, k / 2, true, rng, device);
        c.weight = init::xavier_fill([width, cin, k, k], rng, device);
        c
    };
    let lateral = levels.iter().map(|&i| xavier(shapes[i][1], 1)).collect();
    (lateral, xavier(width, 3))
}
