//! Building blocks shared by the backbones: seeded layer constructors and `Sequential`-style
//! layer lists whose indices give torchvision's key names (`features.0.weight`).

use burn::module::Module;
use burn::nn::activation::{Gelu, Relu6, SiLU as Silu, Tanh};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{
    BatchNorm, BatchNormConfig, Initializer, Linear, LinearConfig, PaddingConfig2d, Relu,
};
use burn::tensor::{Device, Tensor, TensorData};
use rand::Rng;
use rand::rngs::StdRng;

use super::init;

/// A conv layer, weights from N(0, 2/fan_out) as torchvision initialises its CNNs.
pub fn conv(
    (cin, cout): (usize, usize),
    k: usize,
    stride: usize,
    pad: usize,
    bias: bool,
    rng: &mut StdRng,
    device: &Device,
) -> Conv2d {
    grouped_conv((cin, cout), k, stride, pad, 1, bias, rng, device)
}

/// A conv layer with `groups` groups (depthwise when `groups` = channels).
#[allow(clippy::too_many_arguments)]
pub fn grouped_conv(
    (cin, cout): (usize, usize),
    k: usize,
    stride: usize,
    pad: usize,
    groups: usize,
    bias: bool,
    rng: &mut StdRng,
    device: &Device,
) -> Conv2d {
    let mut c = Conv2dConfig::new([cin, cout], [k, k])
        .with_groups(groups)
        .with_stride([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
        .with_bias(bias)
        .with_initializer(Initializer::Zeros)
        .init(device);
    c.weight = init::kaiming_normal_fan_out([cout, cin / groups, k, k], rng, device);
    if bias {
        c.bias = Some(burn::module::Param::from_data(
            TensorData::new(vec![0.0f32; cout], [cout]),
            device,
        ));
    }
    c
}

/// Batch norm with PyTorch's epsilon and momentum.
pub fn bn(features: usize, device: &Device) -> BatchNorm {
    BatchNormConfig::new(features).init(device)
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

/// Max pooling like `nn.MaxPool2d(k, stride, padding)`.
pub fn max_pool(k: usize, stride: usize, pad: usize) -> MaxPool2d {
    MaxPool2dConfig::new([k, k])
        .with_strides([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
        .init()
}

/// One entry of a convolutional `nn.Sequential`.
#[derive(Module, Debug)]
pub enum Layer {
    /// `nn.Conv2d`.
    Conv(Conv2d),
    /// `nn.BatchNorm2d`.
    Bn(BatchNorm),
    /// `nn.ReLU`.
    Relu(Relu),
    /// `nn.MaxPool2d`.
    MaxPool(MaxPool2d),
    /// `nn.ReLU6`.
    Relu6(Relu6),
    /// `nn.SiLU`.
    Silu(Silu),
}

impl Layer {
    /// Applies the layer.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        match self {
            Layer::Conv(c) => super::kernels::conv2d(c, x),
            Layer::Bn(b) => super::kernels::batch_norm(b, x),
            Layer::Relu(_) => super::kernels::relu(x),
            Layer::MaxPool(p) => p.forward(x),
            Layer::Relu6(r) => r.forward(x),
            Layer::Silu(_) => crate::model::kernels::silu(x),
        }
    }
}

/// torchvision's `Conv2dNormActivation`: conv (no bias, "same" padding), batch norm, activation.
#[allow(clippy::too_many_arguments)]
pub fn conv_bn_act(
    (cin, cout): (usize, usize),
    k: usize,
    stride: usize,
    groups: usize,
    act: Option<Layer>,
    rng: &mut StdRng,
    device: &Device,
) -> Vec<Layer> {
    let mut v = vec![
        Layer::Conv(grouped_conv(
            (cin, cout),
            k,
            stride,
            (k - 1) / 2,
            groups,
            false,
            rng,
            device,
        )),
        Layer::Bn(bn(cout, device)),
    ];
    v.extend(act);
    v
}

/// Runs a list of layers in order.
pub fn sequential(layers: &[Layer], mut x: Tensor<4>) -> Tensor<4> {
    let mut rest = layers;
    while let Some((l, tail)) = rest.split_first() {
        // Batch norm and the ReLU or ReLU6 after it run as one fused kernel.
        (x, rest) = match (l, tail.first()) {
            (Layer::Bn(b), Some(Layer::Relu(_))) => (super::kernels::bn_relu(b, x), &tail[1..]),
            (Layer::Bn(b), Some(Layer::Relu6(_))) => (super::kernels::bn_relu6(b, x), &tail[1..]),
            _ => (l.forward(x), tail),
        };
    }
    x
}

/// Dropout probability holder: the mask comes from the run's generator, not a global one.
#[derive(Module, Debug)]
pub struct Dropout {
    /// Probability of zeroing an activation.
    pub p: f64,
}

/// One entry of a classifier `nn.Sequential`.
#[derive(Module, Debug)]
pub enum Dense {
    /// `nn.Linear`.
    Linear(Linear),
    /// `nn.ReLU`.
    Relu(Relu),
    /// `nn.Dropout` (active only when a generator is passed).
    Dropout(Dropout),
    /// `nn.GELU`.
    Gelu(Gelu),
    /// `nn.Tanh`.
    Tanh(Tanh),
}

/// Inverted-dropout multipliers: 0 with probability `drop`, else 1/(1 - drop).
pub fn keep_mask(rng: &mut StdRng, len: usize, drop: f64) -> Vec<f32> {
    let keep = 1.0 - drop;
    (0..len)
        .map(|_| {
            if rng.random::<f64>() < keep {
                (1.0 / keep) as f32
            } else {
                0.0
            }
        })
        .collect()
}

/// Inverted dropout of a feature matrix with seeded masks; identity when `rng` is `None`.
pub fn dropout(x: Tensor<2>, rng: Option<&mut StdRng>, p: f64) -> Tensor<2> {
    match rng {
        Some(rng) if p > 0.0 => {
            let dims = x.dims();
            let mask = keep_mask(rng, dims[0] * dims[1], p);
            let device = x.device();
            x * Tensor::<2>::from_data(TensorData::new(mask, dims), &device)
        }
        _ => x,
    }
}

/// Runs a classifier; `rng` is `Some` while training, so dropout draws its masks from it.
pub fn dense(layers: &[Dense], mut x: Tensor<2>, mut rng: Option<&mut StdRng>) -> Tensor<2> {
    for l in layers {
        x = match (l, rng.as_deref_mut()) {
            (Dense::Linear(lin), _) => crate::model::kernels::linear(lin, x),
            (Dense::Relu(r), _) => r.forward(x),
            (Dense::Gelu(g), _) => g.forward(x),
            (Dense::Tanh(t), _) => t.forward(x),
            (Dense::Dropout(d), rng) => dropout(x, rng, d.p),
        };
    }
    x
}

/// A first conv refitted to `to` input channels: the kernel summed over its inputs, then spread
/// evenly over `to` channels (3 → 1 sums; 1 → 3 repeats a third of it).
///
/// A grey image gives the same output before and after, whatever its channel count, so weights
/// learnt on RGB keep their meaning on grey images and weights learnt on grey ones on RGB.
pub fn adapt_input_channels(c: &mut Conv2d, to: usize) {
    if c.weight.dims()[1] == to {
        return;
    }
    let summed = c.weight.val().sum_dim(1);
    let spread = if to == 1 {
        summed
    } else {
        summed.repeat_dim(1, to).div_scalar(to as f32)
    };
    c.weight = burn::module::Param::from_tensor(spread.detach());
}
