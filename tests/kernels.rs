//! The backend-extension ops of `model::kernels` against burn's stock layers, through the layer
//! wrappers and autodiff: forward outputs, gradients and BatchNorm's running statistics within
//! 1e-5 on flex (sweep's Rust kernels; tests/flex_kernels.rs checks each op on every backbone's
//! shapes) and on LibTorch (its native kernels, with `--features tch`).

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, PaddingConfig2d};
use burn::tensor::{Device, Tensor};
use sweep::model::kernels;

/// Deterministic, non-trivial input values.
fn values(n: usize, salt: usize) -> Vec<f32> {
    (0..n)
        .map(|i| (((i * 7919 + salt * 104729) % 2003) as f32 / 1001.0) - 1.0)
        .collect()
}

fn input(shape: [usize; 4], salt: usize, device: &Device) -> Tensor<4> {
    let n = shape.iter().product();
    Tensor::<1>::from_floats(values(n, salt).as_slice(), device)
        .reshape(shape)
        .require_grad()
}

fn flat<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().convert::<f32>().try_to_vec::<f32>().unwrap()
}

/// The activation after batch norm, and how `kernels` runs it.
#[derive(Clone, Copy, Debug)]
enum Act {
    /// `kernels::relu` after `kernels::batch_norm`.
    Relu,
    /// `kernels::bn_relu`, fused.
    FusedRelu,
    /// `kernels::bn_relu6`, fused.
    FusedRelu6,
}

/// (forward, input gradient, parameter gradients, running statistics) of a conv → BN → ReLU
/// block, stock or through `kernels`.
fn block(
    conv: &Conv2d,
    bn: &BatchNorm,
    x: Tensor<4>,
    through_kernels: bool,
    act: Act,
) -> Vec<Vec<f32>> {
    use burn::tensor::activation::{relu, relu6};
    // A bias right before batch norm would cancel out, so a biased convolution is tested bare.
    let with_bn = conv.bias.is_none();
    let y = match (through_kernels, with_bn, act) {
        (true, true, Act::Relu) => {
            kernels::relu(kernels::batch_norm(bn, kernels::conv2d(conv, x.clone())))
        }
        (true, true, Act::FusedRelu) => kernels::bn_relu(bn, kernels::conv2d(conv, x.clone())),
        (true, true, Act::FusedRelu6) => kernels::bn_relu6(bn, kernels::conv2d(conv, x.clone())),
        (false, true, Act::FusedRelu6) => relu6(bn.forward(conv.forward(x.clone()))),
        (false, true, _) => relu(bn.forward(conv.forward(x.clone()))),
        (true, false, _) => kernels::relu(kernels::conv2d(conv, x.clone())),
        (false, false, _) => relu(conv.forward(x.clone())),
    };
    // A loss with a different weight per element, so every gradient path is exercised.
    let w = Tensor::<1>::from_floats(values(y.shape().num_elements(), 3).as_slice(), &y.device())
        .reshape(y.shape());
    let grads = (y.clone() * w).sum().backward();
    let bias = conv
        .bias
        .as_ref()
        .map(|b| flat(b.val().grad(&grads).expect("bias gradient")));
    vec![
        flat(y),
        flat(x.grad(&grads).expect("input gradient")),
        flat(conv.weight.val().grad(&grads).expect("weight gradient")),
        bn.gamma.val().grad(&grads).map(flat).unwrap_or_default(),
        bn.beta.val().grad(&grads).map(flat).unwrap_or_default(),
        flat(bn.running_mean.value()),
        flat(bn.running_var.value()),
        bias.unwrap_or_default(),
    ]
}

fn compare(device: &Device, exact: bool) {
    let names = [
        "output",
        "x grad",
        "weight grad",
        "gamma grad",
        "beta grad",
        "running mean",
        "running var",
        "bias grad",
    ];
    // 3x3 stride 1 and 2, a 1x1, a depthwise, a grouped and a biased convolution.
    for (cin, cout, k, stride, pad, groups, bias) in [
        (3, 8, 3, 1, 1, 1, false),
        (8, 16, 3, 2, 1, 1, false),
        (8, 4, 1, 1, 0, 1, false),
        (8, 8, 3, 1, 1, 8, false),
        (8, 12, 3, 2, 1, 2, false),
        (3, 8, 3, 1, 1, 1, true),
    ] {
        let make = || {
            let conv = Conv2dConfig::new([cin, cout], [k, k])
                .with_stride([stride, stride])
                .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
                .with_groups(groups)
                .with_bias(bias)
                .init(device);
            let weights = Tensor::<1>::from_floats(
                values(conv.weight.val().shape().num_elements(), 5).as_slice(),
                device,
            )
            .reshape(conv.weight.val().shape());
            // The bias too: init draws it at random.
            let bias = Tensor::<1>::from_floats(values(cout, 6).as_slice(), device);
            let conv = Conv2d {
                weight: burn::module::Param::from_tensor(weights),
                bias: conv.bias.map(|_| burn::module::Param::from_tensor(bias)),
                ..conv
            };
            // A scale of up to ±4, so that ReLU6's ceiling is reached as well as its floor.
            let gamma = Tensor::<1>::from_floats(values(cout, 7).as_slice(), device) * 4.0;
            let bn = BatchNormConfig::new(cout).init(device);
            let gamma = burn::module::Param::from_tensor(gamma);
            (conv, BatchNorm { gamma, ..bn })
        };
        for act in [Act::Relu, Act::FusedRelu, Act::FusedRelu6] {
            let (c1, b1) = make();
            let (c2, b2) = make();
            let x = || input([4, cin, 9, 9], 1, device);
            let stock = block(&c1, &b1, x(), false, act);
            let ours = block(&c2, &b2, x(), true, act);
            for ((a, b), name) in stock.iter().zip(&ours).zip(names) {
                let what = format!(
                    "{name} of {cin}->{cout} k{k} s{stride} g{groups} bias {bias} {act:?} on {device:?}"
                );
                assert_eq!(a.len(), b.len(), "{what}");
                if exact {
                    assert_eq!(a, b, "{what}");
                } else {
                    let worst = a
                        .iter()
                        .zip(b)
                        .map(|(x, y)| (x - y).abs() / x.abs().max(1.0))
                        .fold(0.0f32, f32::max);
                    assert!(worst <= 1e-5, "{what}: differs by {worst:e}");
                }
            }
        }
        // A frozen convolution (no weight gradient) still passes the input gradient on.
        let (c3, b3) = make();
        let frozen = c3.no_grad();
        let x3 = input([4, cin, 9, 9], 1, device);
        let y = kernels::batch_norm(&b3, kernels::conv2d(&frozen, x3.clone()));
        let grads = y.sum().backward();
        assert!(x3.grad(&grads).is_some() && frozen.weight.val().grad(&grads).is_none());
    }
}

/// Batch norm on its running statistics: a frozen layer with a gradient through it, a frozen
/// layer without (a frozen prefix), and inference.
fn compare_eval(device: &Device, exact: bool) {
    let bn = || {
        let b = BatchNormConfig::new(6).init(device);
        // Non-trivial running statistics and affine parameters.
        let t = |salt| Tensor::<1>::from_floats(values(6, salt).as_slice(), device);
        BatchNorm {
            gamma: burn::module::Param::from_tensor(t(7)),
            beta: burn::module::Param::from_tensor(t(8)),
            running_mean: burn::module::RunningState::new(t(9)),
            running_var: burn::module::RunningState::new(t(10).abs() + 0.5),
            ..b
        }
        .freeze()
    };
    let close = |a: &[f32], b: &[f32], what: &str| match exact {
        true => assert_eq!(a, b, "{what}"),
        false => {
            let worst = a
                .iter()
                .zip(b)
                .map(|(x, y)| (x - y).abs())
                .fold(0.0f32, f32::max);
            assert!(worst <= 1e-5, "{what}: differs by {worst:e}");
        }
    };
    let (stock_bn, our_bn) = (bn(), bn());
    // Gradient through the frozen layer.
    let x = input([3, 6, 5, 5], 2, device);
    let stock = stock_bn.forward(x.clone());
    let ours = kernels::batch_norm(&our_bn, x.clone());
    let (gs, go) = (
        stock.clone().sum().backward(),
        ours.clone().sum().backward(),
    );
    close(&flat(stock), &flat(ours), "eval output, tracked");
    close(
        &flat(x.grad(&gs).unwrap()),
        &flat(x.grad(&go).unwrap()),
        "eval x grad",
    );
    // No gradient anywhere (a frozen prefix), and inference without autodiff.
    let x = input([3, 6, 5, 5], 4, device).detach();
    let (stock, ours) = (
        bn().forward(x.clone()),
        kernels::batch_norm(&bn(), x.clone()),
    );
    close(&flat(stock), &flat(ours), "eval output, untracked");
    let x = x.inner();
    let (stock, ours) = (
        bn().valid().forward(x.clone()),
        kernels::batch_norm(&bn().valid(), x),
    );
    close(&flat(stock), &flat(ours), "inference output");
    // The fused activations on the running statistics (a frozen prefix, inference).
    let x = input([3, 6, 5, 5], 6, device).detach() * 4.0;
    let (stock, ours) = (
        burn::tensor::activation::relu(bn().forward(x.clone())),
        kernels::bn_relu(&bn(), x.clone()),
    );
    close(&flat(stock), &flat(ours), "eval output with ReLU");
    let x = x.inner();
    let (stock, ours) = (
        burn::tensor::activation::relu6(bn().valid().forward(x.clone())),
        kernels::bn_relu6(&bn().valid(), x),
    );
    close(&flat(stock), &flat(ours), "inference output with ReLU6");
}

/// A linear layer (a classifier's: batch 32 and a narrow one) through `kernels::linear` against
/// burn's: output, input, weight and bias gradients; then frozen weights, and an untracked input.
fn compare_linear(device: &Device) {
    let close = |a: Vec<f32>, b: Vec<f32>, what: &str| assert_close(&a, &b, what);
    // 1024 x 1024 takes flex's path for large weights, 37 x 23 burn's product.
    for (batch, cin, cout) in [(32, 1024, 1024), (5, 37, 23)] {
        let lin = burn::nn::LinearConfig::new(cin, cout).init(device);
        let x = Tensor::<1>::from_floats(values(batch * cin, 3).as_slice(), device)
            .reshape([batch, cin])
            .require_grad();
        let (stock, ours) = (lin.forward(x.clone()), kernels::linear(&lin, x.clone()));
        // A weighted sum, so each output's gradient differs.
        let weights = Tensor::<1>::from_floats(values(batch * cout, 5).as_slice(), device)
            .reshape([batch, cout]);
        let gs = (stock.clone() * weights.clone()).sum().backward();
        let go = (ours.clone() * weights.clone()).sum().backward();
        close(flat(stock), flat(ours), "linear output");
        close(
            flat(x.grad(&gs).unwrap()),
            flat(x.grad(&go).unwrap()),
            "linear x grad",
        );
        let (w, b) = (lin.weight.val(), lin.bias.as_ref().unwrap().val());
        close(
            flat(w.grad(&gs).unwrap()),
            flat(w.grad(&go).unwrap()),
            "linear weight grad",
        );
        close(
            flat(b.grad(&gs).unwrap()),
            flat(b.grad(&go).unwrap()),
            "linear bias grad",
        );
        // Frozen weights: the input gradient alone; an untracked input: the weight's alone.
        let frozen = lin.clone().no_grad();
        let go = (kernels::linear(&frozen, x.clone()) * weights.clone())
            .sum()
            .backward();
        close(
            flat(x.grad(&gs).unwrap()),
            flat(x.grad(&go).unwrap()),
            "frozen linear x grad",
        );
        assert!(frozen.weight.val().grad(&go).is_none());
        let go = (kernels::linear(&lin, x.clone().detach()) * weights)
            .sum()
            .backward();
        close(
            flat(w.grad(&gs).unwrap()),
            flat(w.grad(&go).unwrap()),
            "weight grad, input untracked",
        );
    }
}

/// SiLU through `kernels::silu` against burn's: output and input gradient, on values from −30 to
/// 30 (both tails of σ) and a tensor past one parallel task.
fn compare_silu(device: &Device) {
    let n = 40_000;
    let v: Vec<f32> = (0..n)
        .map(|i| (i as f32 / n as f32 - 0.5) * 60.0 + values(1, i)[0] * 0.3)
        .collect();
    let x = Tensor::<1>::from_floats(v.as_slice(), device)
        .reshape([4, 10, 1000])
        .require_grad();
    let weights = Tensor::<1>::from_floats(values(n, 9).as_slice(), device).reshape([4, 10, 1000]);
    let stock = burn::tensor::activation::silu(x.clone());
    let ours = kernels::silu(x.clone());
    let gs = (stock.clone() * weights.clone()).sum().backward();
    let go = (ours.clone() * weights).sum().backward();
    for (a, b, what) in [
        (flat(stock), flat(ours), "silu output"),
        (
            flat(x.grad(&gs).unwrap()),
            flat(x.grad(&go).unwrap()),
            "silu x grad",
        ),
    ] {
        assert_close(&a, &b, what);
    }
}

/// `a` and `b` agree within 1e-5, relative to magnitudes above 1.
fn assert_close(a: &[f32], b: &[f32], what: &str) {
    assert_eq!(a.len(), b.len(), "{what}");
    let worst = a
        .iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs() / x.abs().max(1.0))
        .fold(0.0f32, f32::max);
    assert!(worst <= 1e-5, "{what}: differs by {worst:e}");
}

#[test]
fn on_flex_the_kernels_agree_with_the_stock_layers() {
    compare(&Device::flex().autodiff(), false);
    compare_eval(&Device::flex().autodiff(), false);
    compare_linear(&Device::flex().autodiff());
    compare_silu(&Device::flex().autodiff());
}

#[cfg(feature = "tch")]
#[test]
#[allow(deprecated)]
fn on_libtorch_the_native_kernels_agree_with_the_stock_layers() {
    compare(&Device::libtorch().autodiff(), false);
    compare_eval(&Device::libtorch().autodiff(), false);
    compare_linear(&Device::libtorch().autodiff());
    compare_silu(&Device::libtorch().autodiff());
}
