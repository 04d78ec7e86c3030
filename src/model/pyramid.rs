//! What the dense heads (detection, segmentation) share on a backbone's stages: probing their
//! shapes and strides, and the feature pyramid's top-down merge (Lin et al. 2017).

use burn::module::Module;
use burn::nn::conv::Conv2d;
use burn::tensor::module::interpolate;
use burn::tensor::ops::{InterpolateMode, InterpolateOptions};
use burn::tensor::{Device, Tensor};
use rand::rngs::StdRng;

use super::Network;
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

/// A pyramid's new layers over the stages of `shapes` from `level` on: a 1×1 lateral conv per
/// stage to `width` channels, then the 3×3 smooth conv, initialised from `rng` in that order.
pub fn layers(
    shapes: &[[usize; 4]],
    level: usize,
    width: usize,
    rng: &mut StdRng,
    device: &Device,
) -> (Vec<Conv2d>, Conv2d) {
    let lateral = shapes[level..]
        .iter()
        .map(|s| conv((s[1], width), 1, 1, 0, true, rng, device))
        .collect();
    (lateral, conv((width, width), 3, 1, 1, true, rng, device))
}
