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
