//! Convolution, batch norm and ReLU as backend-extension ops (burn's `#[backend_extension]`,
//! with a hand-written autodiff implementation), so a backend can run its own native kernels for
//! them, backward included: burn's generic backward decomposes each into many small tensor ops
//! (the weight gradient as a convolution with the batch as channels between two transposing
//! copies, batch norm into about ten element-wise passes).
//!
//! Flex (the default engine) runs the Rust kernels of `flex/`: im2col + GEMM convolutions,
//! direct depthwise loops and fused batch norm, each within 1e-5 of burn's own ops (a test).
//! LibTorch makes one `convolution_backward`, one `native_batch_norm_backward` and one
//! `threshold_backward` call per layer. GPU backends are not routed here and run the stock
//! layers.

// The generated dispatch names burn-tch's backend, deprecated upstream (the feature is optional).
#![cfg_attr(feature = "tch", allow(deprecated))]

mod autodiff;
mod flex;
#[cfg(feature = "tch")]
mod libtorch;

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, Ordering};

use burn::backend::ops::ConvOptions;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Dispatch, DispatchDevice, TensorMetadata, backend_extension};
use burn::nn::BatchNorm;
use burn::nn::Linear;
use burn::nn::PaddingConfig2d;
use burn::nn::conv::Conv2d;
use burn::tensor::Tensor;

/// The ops a backend may run natively. Every method has burn's own ops as its default body.
#[backend_extension(Autodiff, Flex, LibTorch: cfg(feature = "tch"))]
pub trait Kernels: Backend {
    /// 2-D convolution without bias.
    fn conv2d_nobias(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self> {
        Self::conv2d(x, weight, None, options)
    }

    /// 2-D convolution with a bias.
    fn conv2d_biased(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self> {
        Self::conv2d(x, weight, Some(bias), options)
    }

    /// Gradients of [`Kernels::conv2d_biased`] for its input (when `want_x`; an empty tensor
    /// otherwise), weight and bias.
    fn conv2d_biased_grads(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        options: ConvOptions<2>,
        want_x: bool,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let gx = match want_x {
            true => {
                Self::conv2d_x_backward(x.clone(), weight.clone(), grad.clone(), options.clone())
            }
            false => Self::float_zeros([0].into(), &x.device(), x.dtype().into()),
        };
        let gw = Self::conv2d_weight_backward(x.clone(), weight, grad.clone(), options);
        (gx, gw, Self::conv2d_bias_backward(x, bias, grad))
    }

    /// Gradients of [`Kernels::conv2d_nobias`] for its input and its weight.
    fn conv2d_grads(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        options: ConvOptions<2>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        let gx = Self::conv2d_x_backward(x.clone(), weight.clone(), grad.clone(), options.clone());
        (gx, Self::conv2d_weight_backward(x, weight, grad, options))
    }

    /// Gradient of [`Kernels::conv2d_nobias`] for its input only (a frozen convolution).
    fn conv2d_x_grad(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self> {
        Self::conv2d_x_backward(x, weight, grad, options)
    }

    /// Gradient of [`Kernels::conv2d_nobias`] for its weight only (the network's first layer).
    fn conv2d_weight_grad(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self> {
        Self::conv2d_weight_backward(x, weight, grad, options)
    }

    /// Batch norm over a training batch: the output, the batch mean, the biased batch variance,
    /// and what the backend's backward wants kept (burn's: the variance).
    fn bn_train(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
    ) -> (
        FloatTensor<Self>,
        FloatTensor<Self>,
        FloatTensor<Self>,
        FloatTensor<Self>,
    ) {
        let r = Self::batch_norm_train(x, gamma, beta, epsilon);
        (r.output, r.mean, r.variance.clone(), r.variance)
    }

    /// Gradients of [`Kernels::bn_train`] for x, gamma and beta.
    fn bn_train_grads(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        mean: FloatTensor<Self>,
        kept: FloatTensor<Self>,
        epsilon: f64,
        grad: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let r = Self::batch_norm_train_backward(x, gamma, mean, kept, epsilon, grad);
        (r.x_grad, r.gamma_grad, r.beta_grad)
    }

    /// Batch norm with given statistics (the running ones): inference, or a layer in eval mode.
    fn bn_eval(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        mean: FloatTensor<Self>,
        var: FloatTensor<Self>,
        epsilon: f64,
    ) -> FloatTensor<Self> {
        Self::batch_norm(x, gamma, beta, mean, var, epsilon)
    }

    /// [`Kernels::bn_train`] with clamp(·, 0, `ceiling`) fused after it: ReLU when `ceiling` is
    /// infinite, ReLU6 when it is 6.
    fn bn_act_train(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
        ceiling: f64,
    ) -> (
        FloatTensor<Self>,
        FloatTensor<Self>,
        FloatTensor<Self>,
        FloatTensor<Self>,
    ) {
        let (out, mean, var, kept) = Self::bn_train(x, gamma, beta, epsilon);
        (activate::<Self>(out, ceiling), mean, var, kept)
    }

    /// Gradients of [`Kernels::bn_act_train`] for x, gamma and beta, given its output `out`
    /// (which a backend may instead recompute from x, gamma and beta).
    #[allow(clippy::too_many_arguments)]
    fn bn_act_train_grads(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        mean: FloatTensor<Self>,
        kept: FloatTensor<Self>,
        epsilon: f64,
        out: FloatTensor<Self>,
        ceiling: f64,
        grad: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let _ = beta;
        let grad = activation_grad::<Self>(out, grad, ceiling);
        Self::bn_train_grads(x, gamma, mean, kept, epsilon, grad)
    }

    /// [`Kernels::bn_eval`] with clamp(·, 0, `ceiling`) fused after it.
    fn bn_act_eval(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        mean: FloatTensor<Self>,
        var: FloatTensor<Self>,
        epsilon: f64,
        ceiling: f64,
    ) -> FloatTensor<Self> {
        let out = Self::bn_eval(x, gamma, beta, mean, var, epsilon);
        activate::<Self>(out, ceiling)
    }

    /// x · w for a linear layer: x [batch, in], w [in, out] (burn's layout).
    fn linear_mm(x: FloatTensor<Self>, w: FloatTensor<Self>) -> FloatTensor<Self> {
        Self::float_matmul(x, w)
    }

    /// Gradients of [`Kernels::linear_mm`] for x (when `want_x`) and w (when `want_w`).
    fn linear_mm_grads(
        x: FloatTensor<Self>,
        w: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        want_x: bool,
        want_w: bool,
    ) -> (Option<FloatTensor<Self>>, Option<FloatTensor<Self>>) {
        let gx = want_x.then(|| linear_x_grad_by_ops::<Self>(w, grad.clone()));
        let gw = want_w.then(|| linear_w_grad_by_ops::<Self>(x, grad));
        (gx, gw)
    }

    /// SiLU, x·σ(x).
    fn silu_op(x: FloatTensor<Self>) -> FloatTensor<Self> {
        silu_by_ops::<Self>(x)
    }

    /// Gradient of [`Kernels::silu_op`], from its input.
    fn silu_grad(x: FloatTensor<Self>, grad: FloatTensor<Self>) -> FloatTensor<Self> {
        silu_grad_by_ops::<Self>(x, grad)
    }

    /// max(x, 0).
    fn relu_op(x: FloatTensor<Self>) -> FloatTensor<Self> {
        Self::relu(x)
    }

    /// Gradient of [`Kernels::relu_op`], from its output.
    fn relu_grad(output: FloatTensor<Self>, grad: FloatTensor<Self>) -> FloatTensor<Self> {
        Self::relu_backward(output, grad)
    }
}

/// dy · wᵀ by the backend's ops: a linear layer's input gradient.
fn linear_x_grad_by_ops<B: Backend>(w: FloatTensor<B>, grad: FloatTensor<B>) -> FloatTensor<B> {
    B::float_matmul(grad, B::float_transpose(w))
}

/// xᵀ · dy by the backend's ops: a linear layer's weight gradient.
fn linear_w_grad_by_ops<B: Backend>(x: FloatTensor<B>, grad: FloatTensor<B>) -> FloatTensor<B> {
    B::float_matmul(B::float_transpose(x), grad)
}

/// x·σ(x) by the backend's ops: SiLU.
fn silu_by_ops<B: Backend>(x: FloatTensor<B>) -> FloatTensor<B> {
    let s = B::sigmoid(x.clone());
    B::float_mul(x, s)
}

/// dy·σ(x)·(1 + x·(1 − σ(x))) by the backend's ops: SiLU's gradient.
fn silu_grad_by_ops<B: Backend>(x: FloatTensor<B>, grad: FloatTensor<B>) -> FloatTensor<B> {
    let s = B::sigmoid(x.clone());
    let one_minus = B::float_add_scalar(B::float_neg(s.clone()), 1f32.into());
    let inner = B::float_add_scalar(B::float_mul(x, one_minus), 1f32.into());
    B::float_mul(grad, B::float_mul(s, inner))
}

/// clamp(x, 0, `ceiling`) by the backend's ops: its ReLU, and a clamp for a finite ceiling.
fn activate<B: Kernels>(x: FloatTensor<B>, ceiling: f64) -> FloatTensor<B> {
    match ceiling.is_finite() {
        true => B::float_clamp(x, 0f32.into(), (ceiling as f32).into()),
        false => B::relu_op(x),
    }
}

/// The gradient through [`activate`], from its output: zero where the output is 0 or the ceiling.
fn activation_grad<B: Kernels>(
    out: FloatTensor<B>,
    grad: FloatTensor<B>,
    ceiling: f64,
) -> FloatTensor<B> {
    let grad = B::relu_grad(out.clone(), grad);
    match ceiling.is_finite() {
        // ceiling − out is ≤ 0 exactly where the clamp held the output at the ceiling.
        true => {
            let headroom = B::float_add_scalar(B::float_neg(out), (ceiling as f32).into());
            B::relu_grad(headroom, grad)
        }
        false => grad,
    }
}

/// Set by [`use_stock_layers`]: every layer takes burn's stock implementation.
static STOCK: AtomicBool = AtomicBool::new(false);

/// Revision of the arithmetic of the Flex kernels, named in manifests (`flex (CPU, kernels 2)`):
/// raised when a change alters the floats they compute, so that `sweep verify` of a run trained
/// before names the difference and judges it within tolerance instead of bit for bit.
/// 2 (2026-12-04): convolution weight gradients with `dy` transposed. gemm's blocking follows the
/// operands' shapes, so sums may run in another order (the quickstart's 24 runs came out bitwise
/// the same on AVX-512; not proven for every shape).
pub const FLEX_REVISION: u32 = 2;

/// Makes every layer take burn's stock implementation (`true`) or the backend's kernels, the
/// default: for benchmarks that measure both in one process.
pub fn use_stock_layers(stock: bool) {
    STOCK.store(stock, Ordering::Relaxed);
}

/// A convolution as [`conv2d`] made it: the input's and the weight's shapes, and the options.
#[derive(Clone, Debug, PartialEq)]
pub struct ConvCall {
    /// The input's shape [n, c, h, w].
    pub x: [usize; 4],
    /// The weight's shape [co, c / groups, kh, kw].
    pub weight: [usize; 4],
    /// Stride, padding, dilation and groups.
    pub options: ConvOptions<2>,
}

thread_local! {
    /// The calls [`record`] is collecting on this thread, when it is.
    static CALLS: RefCell<Option<Vec<ConvCall>>> = const { RefCell::new(None) };
}

/// Runs `f` and returns, beside its result, every convolution it made through [`conv2d`] on
/// this thread (the shapes a backbone's kernels see, for tests and benchmarks).
pub fn record<R>(f: impl FnOnce() -> R) -> (R, Vec<ConvCall>) {
    CALLS.with(|c| *c.borrow_mut() = Some(Vec::new()));
    let out = f();
    (
        out,
        CALLS.with(|c| c.borrow_mut().take()).unwrap_or_default(),
    )
}

/// Whether `device`'s backend implements [`Kernels`] (the others run the stock layers).
fn routed(device: &DispatchDevice) -> bool {
    if STOCK.load(Ordering::Relaxed) {
        return false;
    }
    match device {
        DispatchDevice::Flex(_) => true,
        #[cfg(feature = "tch")]
        DispatchDevice::LibTorch(_) => true,
        DispatchDevice::Autodiff(inner) => routed(inner),
        #[allow(unreachable_patterns)] // every backend but flex, without the GPU and tch features
        _ => false,
    }
}

/// `conv.forward(x)`, through [`Kernels`] where the backend has them.
pub fn conv2d(conv: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    // "Same" padding is left to the stock layer, which computes it per input size.
    let padding = match conv.padding {
        PaddingConfig2d::Valid => [(0, 0), (0, 0)],
        PaddingConfig2d::Explicit(top, left, bottom, right) => [(top, bottom), (left, right)],
        PaddingConfig2d::Same => return conv.forward(x),
    };
    if !routed(x.device().as_dispatch()) {
        return conv.forward(x);
    }
    padded(conv, x, padding)
}

/// TensorFlow's "SAME" padding of a `k`-wide convolution of stride `s` over `n` values:
/// (before, after), with the odd one after, so that the output has ⌈n / s⌉ values.
pub fn same_padding(n: usize, k: usize, s: usize) -> (usize, usize) {
    let total = ((n.div_ceil(s) - 1) * s + k).saturating_sub(n);
    (total / 2, total - total / 2)
}

/// `conv` over `x` with TensorFlow's "SAME" padding for x's size, in place of the conv's own
/// (EfficientNet-Lite's `Conv2dDynamicSamePadding`): asymmetric for a stride of 2 at even sizes.
pub fn conv2d_same(conv: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    let [_, _, h, w] = x.dims();
    let [_, _, kh, kw] = conv.weight.dims();
    let padding = [
        same_padding(h, kh, conv.stride[0]),
        same_padding(w, kw, conv.stride[1]),
    ];
    if !routed(x.device().as_dispatch()) {
        let options =
            ConvOptions::new_with_padding(conv.stride, padding, conv.dilation, conv.groups);
        let bias = conv.bias.as_ref().map(|b| b.val());
        return burn::tensor::module::conv2d(x, conv.weight.val(), bias, options);
    }
    padded(conv, x, padding)
}

/// `conv` over `x` with `padding` ([(top, bottom), (left, right)]) through [`Kernels`].
fn padded(conv: &Conv2d, x: Tensor<4>, padding: [(usize, usize); 2]) -> Tensor<4> {
    let options = ConvOptions::new_with_padding(conv.stride, padding, conv.dilation, conv.groups);
    CALLS.with(|c| {
        if let Some(calls) = c.borrow_mut().as_mut() {
            let dims = |s: burn::tensor::Shape| [s[0], s[1], s[2], s[3]];
            calls.push(ConvCall {
                x: dims(x.shape()),
                weight: dims(conv.weight.val().shape()),
                options: options.clone(),
            });
        }
    });
    let (x, w) = (x.into_dispatch(), conv.weight.val().into_dispatch());
    Tensor::from_dispatch(match &conv.bias {
        None => <Dispatch as Kernels>::conv2d_nobias(x, w, options),
        Some(b) => <Dispatch as Kernels>::conv2d_biased(x, w, b.val().into_dispatch(), options),
    })
}

/// `bn.forward(x)`, through [`Kernels`] where the backend has them: in training the batch
/// statistics come from [`Kernels::bn_train`] and update the running ones as burn's layer does.
pub fn batch_norm(bn: &BatchNorm, x: Tensor<4>) -> Tensor<4> {
    normalise(bn, x, None)
}

/// `relu(bn.forward(x))`, with the ReLU fused into the normalisation where the backend has
/// [`Kernels`]: one pass over the output fewer forward and backward, and no tensor between.
pub fn bn_relu(bn: &BatchNorm, x: Tensor<4>) -> Tensor<4> {
    if !routed(x.device().as_dispatch()) {
        return burn::tensor::activation::relu(bn.forward(x));
    }
    normalise(bn, x, Some(f64::INFINITY))
}

/// `relu6(bn.forward(x))`, fused like [`bn_relu`].
pub fn bn_relu6(bn: &BatchNorm, x: Tensor<4>) -> Tensor<4> {
    if !routed(x.device().as_dispatch()) {
        return burn::tensor::activation::relu6(bn.forward(x));
    }
    normalise(bn, x, Some(6.0))
}

/// Batch norm followed by clamp(·, 0, `ceiling`) when there is one.
fn normalise(bn: &BatchNorm, x: Tensor<4>, ceiling: Option<f64>) -> Tensor<4> {
    let device = x.device();
    if !routed(device.as_dispatch()) {
        return bn.forward(x);
    }
    let (gamma, beta) = (
        bn.gamma.val().into_dispatch(),
        bn.beta.val().into_dispatch(),
    );
    if !(device.is_autodiff() && bn.training.is_enabled()) {
        let stat = |s: &burn::module::RunningState<Tensor<1>>| {
            s.value().to_device(&device).into_dispatch()
        };
        let (mean, var) = (stat(&bn.running_mean), stat(&bn.running_var));
        let x = x.into_dispatch();
        return Tensor::from_dispatch(match ceiling {
            None => <Dispatch as Kernels>::bn_eval(x, gamma, beta, mean, var, bn.epsilon),
            Some(c) => <Dispatch as Kernels>::bn_act_eval(x, gamma, beta, mean, var, bn.epsilon, c),
        });
    }
    let x = x.into_dispatch();
    let (out, mean, var, _) = match ceiling {
        None => <Dispatch as Kernels>::bn_train(x, gamma, beta, bn.epsilon),
        Some(c) => <Dispatch as Kernels>::bn_act_train(x, gamma, beta, bn.epsilon, c),
    };
    let (mean, var) = (
        Tensor::<1>::from_dispatch(mean),
        Tensor::<1>::from_dispatch(var),
    );
    let momentum = bn.momentum;
    let running_mean = bn.running_mean.value_sync().to_device(&device);
    let running_var = bn.running_var.value_sync().to_device(&device);
    let running_mean = running_mean
        .mul_scalar(1.0 - momentum)
        .add(mean.detach().mul_scalar(momentum));
    let running_var = running_var
        .mul_scalar(1.0 - momentum)
        .add(var.detach().mul_scalar(momentum));
    bn.running_mean.update(running_mean.detach());
    bn.running_var.update(running_var.detach());
    Tensor::from_dispatch(out)
}

/// `linear.forward(x)` for a batch of feature rows, its product through [`Kernels`] where the
/// backend has them.
pub fn linear(linear: &Linear, x: Tensor<2>) -> Tensor<2> {
    if !routed(x.device().as_dispatch()) {
        return linear.forward(x);
    }
    let w = linear.weight.val().into_dispatch();
    let y = Tensor::<2>::from_dispatch(<Dispatch as Kernels>::linear_mm(x.into_dispatch(), w));
    match &linear.bias {
        Some(b) => y + b.val().unsqueeze(),
        None => y,
    }
}

/// SiLU (x·σ(x)), through [`Kernels`] where the backend has them.
pub fn silu<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    if !routed(x.device().as_dispatch()) {
        return burn::tensor::activation::silu(x);
    }
    Tensor::from_dispatch(<Dispatch as Kernels>::silu_op(x.into_dispatch()))
}

/// max(x, 0), through [`Kernels`] where the backend has them.
pub fn relu<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    if !routed(x.device().as_dispatch()) {
        return burn::tensor::activation::relu(x);
    }
    Tensor::from_dispatch(<Dispatch as Kernels>::relu_op(x.into_dispatch()))
}
