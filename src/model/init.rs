//! Weight initialisation from the run's own generator, so that parallel runs stay reproducible
//! (burn's initialisers share one process-wide generator).

use burn::module::Param;
use burn::tensor::{Device, Tensor, TensorData};
use rand::Rng;
use rand::rngs::StdRng;
use rand_distr::{Distribution, Normal};

/// Conv weights `[out, in, kh, kw]` from N(0, 2/fan_out), torchvision's ResNet initialisation.
pub fn kaiming_normal_fan_out(
    shape: [usize; 4],
    rng: &mut StdRng,
    device: &Device,
) -> Param<Tensor<4>> {
    let fan_out = (shape[0] * shape[2] * shape[3]) as f32;
    let normal = Normal::new(0.0, (2.0 / fan_out).sqrt()).expect("valid std");
    let values: Vec<f32> = (0..shape.iter().product())
        .map(|_| normal.sample(rng))
        .collect();
    Param::from_data(TensorData::new(values, shape), device)
}

/// Conv weights `[out, in, kh, kw]` uniform in ±sqrt(3 / fan_in) (Caffe2's XavierFill, which
/// detectron2's FPN uses): variance-preserving for a layer without a ReLU after it. He's fan-out
/// rule on a 1×1 conv from 1280 channels to 32 multiplies the signal's scale by sqrt(2·1280/32)
/// ≈ 9; this keeps it.
pub fn xavier_fill(shape: [usize; 4], rng: &mut StdRng, device: &Device) -> Param<Tensor<4>> {
    let fan_in = (shape[1] * shape[2] * shape[3]) as f32;
    uniform(shape, (3.0 / fan_in).sqrt(), rng, device)
}

/// Values uniform in [-bound, bound].
pub fn uniform<const D: usize>(
    shape: [usize; D],
    bound: f32,
    rng: &mut StdRng,
    device: &Device,
) -> Param<Tensor<D>> {
    let values: Vec<f32> = (0..shape.iter().product())
        .map(|_| rng.random_range(-bound..=bound))
        .collect();
    Param::from_data(TensorData::new(values, shape), device)
}
